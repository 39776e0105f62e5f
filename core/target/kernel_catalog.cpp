// Candidate layouts and the enumeration of a node's variants. Trying every combination of every operand's
// candidates would grow as 4^operands; instead the variants are, in this order: all row-major; each layout
// family on every operand it applies to (all channels-last, all blocked, ...); each family written from row-major
// inputs (a producer that converts in its store, the first conv reading NCHW and writing NCHW[B]c) and read into
// row-major outputs (a consumer that converts in its load); then each operand alone in each of its candidates.
// That is O(operands x candidates) probes, each a one-node graph checked by the acceptance function.
#include "core/target/kernel_catalog.h"

#include <algorithm>

namespace fluidml::target {

namespace {

std::string layoutText(const ir::Layout &layout, size_t rank) {
  return layout.isRowMajor() ? std::string("row-major") : layout.toString(rank);
}

bool isMatMul(const ir::Node &node) {
  return (node.domain.empty() && node.opType == "MatMul") || (node.domain == "fluidml" && node.opType == "FusedMatMul");
}

bool isRelayoutNode(const ir::Node &node) { return node.domain == "fluidml" && node.opType == "Relayout"; }

/// Whether an operand takes part in layout choices: a present, non-constant float tensor of rank >= 2.
bool varies(const ir::Graph &graph, ir::ValueId value) {
  if (value == ir::kNoValue) return false;
  const ir::Value &v = graph.value(value);
  return !v.isConstant() && v.type.dtype == ir::DType::Float32 && v.type.rank() >= 2;
}

/// The layout of family `family` for `type`, if the family applies to it.
std::optional<ir::Layout> familyLayout(const std::string &family, const ir::TensorType &type, int64_t blockLanes,
                                       bool matmulOperand) {
  std::optional<ir::Layout> layout;
  if (family == "channels-last" && type.rank() == 4) layout = ir::Layout::permutation({0, 2, 3, 1});
  if (family == "blocked" && type.rank() == 4 && blockLanes >= 2) layout = ir::Layout::blocked(4, {{1, blockLanes}});
  if (family == "head-split" && type.rank() == 4 && matmulOperand) layout = ir::Layout::permutation({0, 2, 1, 3});
  if (family == "transposed" && type.rank() == 2) layout = ir::Layout::permutation({1, 0});
  if (!layout || !layout->validate(type.shape).isOk() || storesLikeRowMajor(*layout, type.shape)) return std::nullopt;
  return layout;
}

constexpr const char *kFamilies[] = {"channels-last", "blocked", "head-split", "transposed"};

bool acceptsVariant(const ir::Graph &graph, const ir::Node &node, const KernelVariant &variant,
                    const LayoutAcceptance &accepts) {
  const ir::Graph probe = probeGraph(graph, node, variant);
  return accepts(probe, probe.node(probe.order().front())).isOk();
}

}  // namespace

std::string KernelVariant::layoutsText(const ir::Graph &graph, const ir::Node &node) const {
  auto text = [&](const std::vector<ir::ValueId> &values, const std::vector<ir::Layout> &layouts) {
    std::string out;
    for (size_t i = 0; i < values.size() && i < layouts.size(); ++i) {
      if (values[i] == ir::kNoValue || graph.value(values[i]).isConstant()) continue;
      out += (out.empty() ? "" : ",") + layoutText(layouts[i], graph.value(values[i]).type.rank());
    }
    return out;
  };
  return text(node.inputs, inputs) + "->" + text(node.outputs, outputs);
}

bool storesLikeRowMajor(const ir::Layout &layout, const ir::Shape &shape) {
  if (layout.isBlocked()) return false;
  int last = -1;
  for (int dim : layout.outerOrder(shape.size())) {
    if (shape[static_cast<size_t>(dim)] == 1) continue;
    if (dim < last) return false;
    last = dim;
  }
  return true;
}

std::vector<ir::Layout> candidateLayouts(const ir::TensorType &type, int64_t blockLanes, bool matmulOperand) {
  std::vector<ir::Layout> layouts{ir::Layout::rowMajor()};
  for (const char *family : kFamilies)
    if (auto layout = familyLayout(family, type, blockLanes, matmulOperand)) layouts.push_back(*layout);
  return layouts;
}

std::vector<ir::Layout> valueCandidates(const ir::Graph &graph, ir::ValueId value, int64_t blockLanes) {
  if (!varies(graph, value)) return {ir::Layout::rowMajor()};
  const ir::Value &v = graph.value(value);
  bool matmul = v.producer != ir::kNoNode && isMatMul(graph.node(v.producer));
  for (const ir::Use &use : v.uses) matmul = matmul || isMatMul(graph.node(use.node));
  return candidateLayouts(v.type, blockLanes, matmul);
}

Expected<KernelCost> KernelCatalog::conversionCost(const ir::TensorType &type, const ir::Layout &from,
                                                   const ir::Layout &to, int threads) const {
  const ir::Graph graph = conversionGraph(type);
  return cost(graph, graph.node(graph.order().front()), conversionVariant(from, to), threads);
}

ir::Graph conversionGraph(const ir::TensorType &type) {
  ir::Graph graph;
  graph.name = "conversion";
  graph.opsetImports.emplace("fluidml", 1);
  const ir::ValueId x = graph.addInput("x", ir::TensorType(type.dtype, type.shape));
  const std::string identity = ir::Layout::identity(type.rank()).toString(type.rank());
  const ir::NodeId node = graph.addNode("Relayout", "convert", {x}, {"y"}, {{"layout", identity}}, "fluidml");
  const ir::ValueId y = graph.node(node).outputs[0];
  graph.value(y).type = ir::TensorType(type.dtype, type.shape);
  graph.addOutput(y);
  return graph;
}

KernelVariant conversionVariant(const ir::Layout &from, const ir::Layout &to) {
  return KernelVariant{{from}, {to}, "fluidml.Relayout/convert"};
}

ir::Graph probeGraph(const ir::Graph &graph, const ir::Node &node, const KernelVariant &variant) {
  ir::Graph probe;
  probe.name = "probe";
  probe.opsetImports = graph.opsetImports;
  std::vector<ir::ValueId> inputs;
  for (size_t i = 0; i < node.inputs.size(); ++i) {
    const ir::ValueId in = node.inputs[i];
    if (in == ir::kNoValue) {
      inputs.push_back(ir::kNoValue);
      continue;
    }
    const ir::Value &v = graph.value(in);
    if (v.isConstant()) {
      inputs.push_back(probe.addConstant(v.name, v.constant));
      continue;
    }
    ir::TensorType type = v.type;
    type.layout = i < variant.inputs.size() ? variant.inputs[i] : ir::Layout::rowMajor();
    inputs.push_back(probe.addInput(v.name, type));
  }
  std::vector<std::string> outputNames;
  for (ir::ValueId out : node.outputs) outputNames.push_back(out == ir::kNoValue ? "" : graph.value(out).name);
  const ir::NodeId copy = probe.addNode(node.opType, node.name, inputs, outputNames, node.attributes, node.domain);
  for (size_t k = 0; k < node.outputs.size(); ++k) {
    const ir::ValueId out = probe.node(copy).outputs[k];
    if (out == ir::kNoValue) continue;
    ir::TensorType type = graph.value(node.outputs[k]).type;
    type.layout = k < variant.outputs.size() ? variant.outputs[k] : ir::Layout::rowMajor();
    probe.value(out).type = type;
    probe.addOutput(out);
  }
  return probe;
}

std::vector<KernelVariant> enumerateVariants(const ir::Graph &graph, const ir::Node &node, int64_t blockLanes,
                                             const LayoutAcceptance &accepts, size_t maxVariants) {
  std::vector<KernelVariant> found;
  const std::string op = node.domain.empty() ? node.opType : node.domain + "." + node.opType;
  KernelVariant rowMajor;
  rowMajor.inputs.assign(node.inputs.size(), ir::Layout::rowMajor());
  rowMajor.outputs.assign(node.outputs.size(), ir::Layout::rowMajor());

  if (isRelayoutNode(node)) {  // a conversion: every ordered pair of different candidates of its value
    if (!varies(graph, node.input(0))) return {};
    // The candidates of the value on either side (a MatMul may read the converted one).
    std::vector<ir::Layout> layouts = valueCandidates(graph, node.inputs[0], blockLanes);
    if (node.output(0) != ir::kNoValue)
      for (const ir::Layout &layout : valueCandidates(graph, node.outputs[0], blockLanes))
        if (std::find(layouts.begin(), layouts.end(), layout) == layouts.end()) layouts.push_back(layout);
    for (const ir::Layout &from : layouts)
      for (const ir::Layout &to : layouts) {
        if (from == to || found.size() >= maxVariants) continue;
        KernelVariant variant = conversionVariant(from, to);
        if (acceptsVariant(graph, node, variant, accepts)) found.push_back(std::move(variant));
      }
    return found;
  }

  std::vector<KernelVariant> tries{rowMajor};
  tries.back().implementation = op + "/row-major";
  const bool matmul = isMatMul(node);
  auto withFamily = [&](const std::string &family, bool onInputs, bool onOutputs) {
    KernelVariant variant = rowMajor;
    bool any = false;
    auto apply = [&](const std::vector<ir::ValueId> &values, std::vector<ir::Layout> &layouts) {
      for (size_t i = 0; i < values.size(); ++i)
        if (varies(graph, values[i]))
          if (auto layout = familyLayout(family, graph.value(values[i]).type, blockLanes, matmul)) {
            layouts[i] = *layout;
            any = true;
          }
    };
    if (onInputs) apply(node.inputs, variant.inputs);
    if (onOutputs) apply(node.outputs, variant.outputs);
    variant.implementation = op + "/" + (onInputs && onOutputs ? family : onInputs ? "reads-" + family : "writes-" + family);
    if (any) tries.push_back(std::move(variant));
  };
  for (const char *family : kFamilies) withFamily(family, true, true);
  for (const char *family : kFamilies) {
    withFamily(family, false, true);
    withFamily(family, true, false);
  }
  auto single = [&](const std::vector<ir::ValueId> &values, bool outputs) {
    for (size_t i = 0; i < values.size(); ++i) {
      if (!varies(graph, values[i])) continue;
      for (const ir::Layout &layout : candidateLayouts(graph.value(values[i]).type, blockLanes, matmul)) {
        if (layout.isRowMajor()) continue;
        KernelVariant variant = rowMajor;
        (outputs ? variant.outputs : variant.inputs)[i] = layout;
        variant.implementation = op + "/mixed";
        tries.push_back(std::move(variant));
      }
    }
  };
  single(node.inputs, false);
  single(node.outputs, true);

  for (KernelVariant &variant : tries) {
    if (found.size() >= maxVariants) break;
    const bool seen = std::any_of(found.begin(), found.end(), [&](const KernelVariant &f) {
      return f.inputs == variant.inputs && f.outputs == variant.outputs;
    });
    if (seen) continue;
    if (acceptsVariant(graph, node, variant, accepts)) found.push_back(std::move(variant));
  }
  return found;
}

}  // namespace fluidml::target
