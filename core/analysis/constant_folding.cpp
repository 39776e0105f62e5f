// One pass in topological order: infer, then fold when every operand is constant, by running the node's
// reference kernel. Linear in the graph size plus the cost of the folded kernels.
#include "core/analysis/constant_folding.h"

#include "core/ops/op_registry.h"

namespace fluidml::analysis {

namespace {

/// Shape and Size read only their operand's static type, so they fold even when the operand is computed.
bool readsOnlyOperandTypes(const ir::Node &node) {
  return node.domain.empty() && (node.opType == "Shape" || node.opType == "Size");
}

bool canFold(const ir::Graph &graph, const ir::Node &node) {
  if (readsOnlyOperandTypes(node)) return true;
  for (ir::ValueId in : node.inputs)
    if (in != ir::kNoValue && !graph.value(in).isConstant()) return false;
  return true;
}

Status foldNode(ir::Graph &graph, ir::NodeId nodeId, const ops::OpSchema &schema) {
  const ir::Node &node = graph.node(nodeId);
  ops::KernelContext context{node, graph.opsetVersion(node.domain), {}, {}};
  for (ir::ValueId in : node.inputs) context.inputs.push_back(in == ir::kNoValue ? nullptr : &graph.value(in).constant);
  // Operands that are not constants (only for readsOnlyOperandTypes ops) are passed as data-less views.
  std::vector<ir::Tensor> typeOnlyOperands;
  typeOnlyOperands.reserve(node.inputs.size());
  for (size_t i = 0; i < node.inputs.size(); ++i) {
    if (node.inputs[i] == ir::kNoValue || graph.value(node.inputs[i]).isConstant()) continue;
    const ir::Value &v = graph.value(node.inputs[i]);
    typeOnlyOperands.push_back(ir::Tensor::view(v.type.dtype, v.type.shape, nullptr));
    context.inputs[i] = &typeOnlyOperands.back();
  }
  std::vector<ir::Tensor> results;
  results.reserve(node.outputs.size());
  for (ir::ValueId out : node.outputs) {
    if (out == ir::kNoValue) {
      context.outputs.push_back(nullptr);
      continue;
    }
    const ir::TensorType &type = graph.value(out).type;
    results.push_back(ir::Tensor::zeros(type.dtype, type.shape));
    context.outputs.push_back(&results.back());
  }
  FLUIDML_RETURN_IF_ERROR(schema.kernel(context));
  std::vector<ir::ValueId> outputs = node.outputs;
  size_t next = 0;
  for (ir::ValueId out : outputs)
    if (out != ir::kNoValue) graph.makeConstant(out, std::move(results[next++]));
  graph.eraseNode(nodeId);
  return Status::ok();
}

}  // namespace

Expected<FoldStats> inferTypesAndFold(ir::Graph &graph, const FoldOptions &options) {
  FoldStats stats;
  const std::vector<ir::NodeId> order = graph.order();
  for (ir::NodeId id : order) {
    const ir::Node &node = graph.node(id);
    Status inferred = ops::inferNodeTypes(graph, id);
    if (!inferred.isOk()) return inferred.withContext(ops::describeNode(node));
    if (!options.fold || !canFold(graph, node)) continue;
    size_t bytes = 0;
    for (ir::ValueId out : node.outputs)
      if (out != ir::kNoValue) bytes += graph.value(out).type.bytes();
    if (bytes > options.maxFoldedBytes) continue;
    const ops::OpSchema *schema = ops::OpRegistry::instance().find(node.domain, node.opType);
    Status folded = foldNode(graph, id, *schema);
    if (!folded.isOk()) return folded.withContext(ops::describeNode(graph.node(id)));
    ++stats.foldedNodes;
  }
  stats.removedConstants = removeUnusedConstants(graph);
  return stats;
}

size_t removeUnusedConstants(ir::Graph &graph) {
  size_t removed = 0;
  for (ir::ValueId id : graph.constants())
    if (graph.value(id).uses.empty() && !graph.isGraphOutput(id)) {
      graph.eraseValue(id);
      ++removed;
    }
  return removed;
}

}  // namespace fluidml::analysis
