#include "core/interp/random_inputs.h"

#include <algorithm>
#include <cctype>
#include <random>

namespace fluidml::interp {

namespace {

/// The largest exclusive upper bound that keeps every Gather/GatherElements reading this value in range.
int64_t indexBound(const ir::Graph &graph, ir::ValueId value) {
  int64_t bound = 2;
  bool found = false;
  for (const ir::Use &use : graph.value(value).uses) {
    const ir::Node &node = graph.node(use.node);
    if ((node.opType != "Gather" && node.opType != "GatherElements") || use.operand != 1) continue;
    const ir::TensorType &data = graph.value(node.inputs[0]).type;
    int64_t axis = node.intAttr("axis", 0);
    if (axis < 0) axis += static_cast<int64_t>(data.rank());
    if (axis < 0 || axis >= static_cast<int64_t>(data.rank())) continue;
    int64_t size = data.shape[static_cast<size_t>(axis)];
    bound = found ? std::min(bound, size) : size;
    found = true;
  }
  return std::max<int64_t>(bound, 1);
}

bool looksLikeMask(std::string name) {
  std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
  return name.find("mask") != std::string::npos;
}

}  // namespace

std::vector<ir::Tensor> makeRandomInputs(const ir::Graph &graph, uint32_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<ir::Tensor> inputs;
  for (ir::ValueId id : graph.inputs()) {
    const ir::Value &v = graph.value(id);
    ir::Tensor t = ir::Tensor::zeros(v.type.dtype, v.type.shape);
    const bool mask = looksLikeMask(v.name);
    const int64_t bound = indexBound(graph, id);
    ir::visitDType(v.type.dtype, [&](auto tag) {
      using T = decltype(tag);
      for (T &x : t.span<T>()) {
        if constexpr (std::is_floating_point_v<T>) {
          x = static_cast<T>(std::uniform_real_distribution<double>(-1.0, 1.0)(rng));
        } else if constexpr (std::is_same_v<T, bool>) {
          x = mask ? true : (rng() & 1) != 0;
        } else {
          x = mask ? T(1) : static_cast<T>(std::uniform_int_distribution<int64_t>(0, bound - 1)(rng));
        }
      }
    });
    inputs.push_back(std::move(t));
  }
  return inputs;
}

}  // namespace fluidml::interp
