#include "core/analysis/model_stats.h"

#include "core/ops/fused_epilogue.h"

namespace fluidml::analysis {

double nodeFlops(const ir::Graph &graph, const ir::Node &node) {
  auto type = [&](ir::ValueId id) -> const ir::TensorType & { return graph.value(id).type; };
  // A fused node counts as its base op (the epilogue's few operations per element are not counted).
  const std::string_view opType = ops::isFusedNode(node) ? ops::baseOpOf(node) : std::string_view(node.opType);
  if (opType == "MatMul" && node.outputs[0] != ir::kNoValue) {
    const ir::Shape &a = type(node.inputs[0]).shape;
    int64_t k = a.empty() ? 1 : a.back();
    return 2.0 * static_cast<double>(type(node.outputs[0]).numel()) * static_cast<double>(k);
  }
  if (opType == "Gemm" && node.outputs[0] != ir::kNoValue) {
    const ir::Shape &a = type(node.inputs[0]).shape;
    int64_t k = node.intAttr("transA", 0) ? a[0] : a[1];
    return 2.0 * static_cast<double>(type(node.outputs[0]).numel()) * static_cast<double>(k);
  }
  if ((opType == "Conv" || opType == "ConvTranspose") && node.outputs[0] != ir::kNoValue) {
    // Conv: each output element takes Cin/group * prod(kernel) multiply-adds (weight [Cout, Cin/g, k...]).
    // ConvTranspose: each input element feeds Cout/group * prod(kernel) outputs (weight [Cin, Cout/g, k...]).
    const ir::Shape &w = type(node.inputs[1]).shape;
    double perElement = 1;
    for (size_t i = 1; i < w.size(); ++i) perElement *= static_cast<double>(w[i]);
    const ir::ValueId counted = opType == "Conv" ? node.outputs[0] : node.inputs[0];
    return 2.0 * static_cast<double>(type(counted).numel()) * perElement;
  }
  return 0;
}

ModelStats computeModelStats(const ir::Graph &graph) {
  ModelStats stats;
  for (ir::NodeId id : graph.order()) {
    const ir::Node &node = graph.node(id);
    ++stats.opHistogram[node.opType];
    ++stats.nodeCount;
    double flops = nodeFlops(graph, node);
    if (flops > 0) {
      stats.flops += flops;
      stats.flopsByOp[node.opType] += flops;
    }
  }
  for (ir::ValueId c : graph.constants()) {
    stats.parameterCount += static_cast<size_t>(graph.value(c).type.numel());
    stats.parameterBytes += graph.value(c).type.bytes();
  }
  return stats;
}

}  // namespace fluidml::analysis
