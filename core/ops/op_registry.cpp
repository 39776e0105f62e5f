#include "core/ops/op_registry.h"

namespace fluidml::ops {

InferContext::InferContext(const ir::Graph &graph, const ir::Node &node)
    : graph_(graph), node_(node), opset_(graph.opsetVersion(node.domain)), outputs_(node.outputs.size()) {}

const ir::TensorType &InferContext::inputType(size_t i) const { return graph_.value(node_.inputs[i]).type; }

const ir::Tensor *InferContext::constantInput(size_t i) const {
  if (!hasInput(i)) return nullptr;
  const ir::Value &v = graph_.value(node_.inputs[i]);
  return v.isConstant() ? &v.constant : nullptr;
}

void InferContext::setOutput(size_t i, ir::TensorType type) {
  if (i < outputs_.size()) outputs_[i] = std::move(type);
}

const OpRegistry &OpRegistry::instance() {
  static const OpRegistry registry = [] {
    OpRegistry r;
    registerElementwiseOps(r);
    registerShapeOps(r);
    registerIndexingOps(r);
    registerLinalgOps(r);
    registerNormalizationOps(r);
    registerFusedOps(r);
    return r;
  }();
  return registry;
}

const OpSchema *OpRegistry::find(std::string_view domain, std::string_view opType) const {
  if (domain == "ai.onnx") domain = "";
  for (const OpSchema &s : schemas_)
    if (s.domain == domain && s.opType == opType) return &s;
  return nullptr;
}

void OpRegistry::add(OpSchema schema) { schemas_.push_back(std::move(schema)); }

std::string describeNode(const ir::Node &node) {
  return "node '" + node.name + "' (" + node.opType + ", #" + std::to_string(node.id) + ")";
}

Status inferNodeTypes(ir::Graph &graph, ir::NodeId nodeId) {
  const ir::Node &node = graph.node(nodeId);
  const OpSchema *schema = OpRegistry::instance().find(node.domain, node.opType);
  if (schema == nullptr)
    return Status::error("unsupported operator " + (node.domain.empty() ? "" : node.domain + ".") + node.opType +
                         " (opset " + std::to_string(graph.opsetVersion(node.domain)) +
                         "); `fluidml ops` lists the supported ones");
  int64_t opset = graph.opsetVersion(node.domain);
  if (opset < schema->minOpset)
    return Status::error(node.opType + " is supported from opset " + std::to_string(schema->minOpset) +
                         ", the model uses opset " + std::to_string(opset));
  for (size_t i = 0; i < node.inputs.size(); ++i)
    if (node.inputs[i] != ir::kNoValue && !graph.value(node.inputs[i]).alive)
      return Status::error("input " + std::to_string(i) + " refers to a removed value");
  InferContext context(graph, node);
  FLUIDML_RETURN_IF_ERROR(schema->infer(context));
  for (size_t i = 0; i < node.outputs.size(); ++i) {
    if (node.outputs[i] == ir::kNoValue) continue;
    for (int64_t d : context.outputTypes()[i].shape)
      if (d < 0) return Status::error("inferred a negative dimension for output " + std::to_string(i));
    graph.value(node.outputs[i]).type = context.outputTypes()[i];
  }
  return Status::ok();
}

}  // namespace fluidml::ops
