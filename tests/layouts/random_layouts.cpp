#include "tests/layouts/random_layouts.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/codegen/compiler.h"
#include "core/ops/relayout.h"
#include "passes/legalize_layouts.h"

namespace fluidml::test {

namespace {

bool hasPermutableDims(const ir::Shape &shape) {
  return std::count_if(shape.begin(), shape.end(), [](int64_t d) { return d > 1; }) >= 2;
}

bool isGraphInput(const ir::Graph &graph, ir::ValueId v) {
  return std::find(graph.inputs().begin(), graph.inputs().end(), v) != graph.inputs().end();
}

}  // namespace

Expected<LayoutMix> parseLayoutMix(const std::string &text) {
  if (text == "permuted") return LayoutMix::Permuted;
  if (text == "blocked") return LayoutMix::Blocked;
  return Status::error("layout mix '" + text + "': expected permuted or blocked");
}

ir::Layout randomLayout(const ir::Shape &shape, std::mt19937 &rng, LayoutMix mix, int tileDim, int64_t tileSize) {
  const size_t rank = shape.size();
  if (rank < 2) return ir::Layout::rowMajor();
  ir::Layout layout;
  if (hasPermutableDims(shape) && (mix == LayoutMix::Permuted || rng() % 2 == 0)) {
    layout.order.resize(rank);
    std::iota(layout.order.begin(), layout.order.end(), 0);
    do std::shuffle(layout.order.begin(), layout.order.end(), rng);
    while (mix == LayoutMix::Permuted && ir::Layout::permutation(layout.order).isRowMajor());
  }
  if (mix == LayoutMix::Blocked) {
    std::vector<int> candidates;
    for (size_t d = 0; d < rank; ++d)
      if (shape[d] > 1) candidates.push_back(static_cast<int>(d));
    if (!candidates.empty()) {
      int dim = candidates[rng() % candidates.size()];
      if (tileDim >= 0 && shape[static_cast<size_t>(tileDim)] > 1 && rng() % 5 != 0) dim = tileDim;
      layout.tiles.push_back({dim, tileSize});
      // Now and then a second tile (weights-style OIHW16i16o), on another dim.
      if (candidates.size() >= 2 && rng() % 6 == 0) {
        int other = candidates[rng() % candidates.size()];
        if (other != dim) layout.tiles.push_back({other, tileSize});
      }
    }
  }
  return layout;
}

int assignRandomLayouts(ir::Graph &graph, std::mt19937 &rng, LayoutMix mix, double probability) {
  const int64_t sizes[] = {4, 8, 16};
  const int64_t tileSize = sizes[rng() % 3];
  std::uniform_real_distribution<double> coin(0.0, 1.0);
  int assigned = 0;
  for (ir::NodeId id : graph.order())
    for (ir::ValueId v : graph.node(id).outputs) {
      if (v == ir::kNoValue || graph.isGraphOutput(v) || coin(rng) >= probability) continue;
      ir::TensorType &type = graph.value(v).type;
      type.layout = randomLayout(type.shape, rng, mix, type.rank() >= 2 ? 1 : -1, tileSize);
      if (!type.layout.isRowMajor()) ++assigned;
    }
  return assigned;
}

Status exposeNodesToLayouts(ir::Graph &graph, std::mt19937 &rng, LayoutMix mix) {
  const int64_t sizes[] = {4, 8, 16};
  const std::vector<ir::NodeId> order = graph.order();
  for (ir::NodeId id : order) {
    // One tile plan per node: a dim counted from the right, so broadcast operands agree.
    const int64_t tileSize = sizes[rng() % 3];
    const int fromRight = static_cast<int>(rng() % 3) + 1;
    auto planFor = [&](const ir::Shape &shape) {
      return static_cast<int>(shape.size()) - fromRight >= 0 ? static_cast<int>(shape.size()) - fromRight : -1;
    };
    for (size_t i = 0; i < graph.node(id).inputs.size(); ++i) {
      const ir::ValueId in = graph.node(id).inputs[i];
      if (in == ir::kNoValue || !isGraphInput(graph, in)) continue;
      const ir::Shape shape = graph.value(in).type.shape;
      if (rng() % 5 == 0) continue;  // some operands stay row-major: kernels that take only some permuted
      const ir::Layout layout = randomLayout(shape, rng, mix, planFor(shape), tileSize);
      if (!layout.isRowMajor()) FLUIDML_RETURN_IF_ERROR(ops::insertRelayout(graph, id, static_cast<int>(i), layout).status());
    }
    for (ir::ValueId out : graph.node(id).outputs) {
      if (out == ir::kNoValue || !graph.isGraphOutput(out)) continue;
      const ir::Shape shape = graph.value(out).type.shape;
      if (rng() % 3 == 0) continue;
      const ir::Layout layout = randomLayout(shape, rng, mix, planFor(shape), tileSize);
      if (!layout.isRowMajor()) FLUIDML_RETURN_IF_ERROR(ops::relayoutAfterProducer(graph, out, layout).status());
    }
  }
  return Status::ok();
}

std::string compareWithReference(const ir::Tensor &actual, const ir::Tensor &expected) {
  if (actual.type() != expected.type()) return "got " + actual.type().toString() + ", expected " + expected.type().toString();
  double scale = 1;
  for (int64_t k = 0; k < expected.numel(); ++k)
    if (std::isfinite(expected.elementAsDouble(k))) scale = std::max(scale, std::abs(expected.elementAsDouble(k)));
  for (int64_t k = 0; k < expected.numel(); ++k) {
    const double e = expected.elementAsDouble(k), a = actual.elementAsDouble(k);
    if (e == a || (std::isnan(e) && std::isnan(a))) continue;
    if (!(std::abs(e - a) <= 1e-5 * scale + 1e-4 * std::abs(e)))
      return "element " + std::to_string(k) + ": " + std::to_string(a) + ", expected " + std::to_string(e);
  }
  return "";
}

Expected<int> legalizeForCodegen(ir::Graph &graph) { return passes::legalizeLayouts(graph, codegen::checkNodeLayouts); }

}  // namespace fluidml::test
