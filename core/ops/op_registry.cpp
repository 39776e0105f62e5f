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
    registerRelayoutOp(r);
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

namespace {
/// The largest tensor a model may declare (2^50 bytes): far beyond any machine, far below where sums of sizes wrap.
constexpr int64_t kMaxTensorBytes = int64_t{1} << 50;
}  // namespace

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
    ir::TensorType type = context.outputTypes()[i];
    for (int64_t d : type.shape)
      if (d < 0) return Status::error("inferred a negative dimension for output " + std::to_string(i));
    // The one guard against sizes that wrap: every later byte count (plan, buffers, kernels) trusts it.
    const std::optional<int64_t> bytes = type.checkedBytes();
    if (!bytes || *bytes > kMaxTensorBytes)
      return Status::error("output " + std::to_string(i) + " would be " + std::string(ir::dtypeName(type.dtype)) + "[" +
                           ir::shapeToString(type.shape) + "], more than " + std::to_string(kMaxTensorBytes >> 40) +
                           " TiB; check the model's shapes or the --shape values");
    // Layouts are chosen by passes, not by type rules (but for Relayout's, which is its attribute): a layout
    // survives re-inference as long as it still fits the shape.
    ir::Value &value = graph.value(node.outputs[i]);
    if (!schema->definesLayout)
      type.layout = value.type.layout.validate(type.shape).isOk() ? value.type.layout : ir::Layout::rowMajor();
    value.type = std::move(type);
  }
  return Status::ok();
}

}  // namespace fluidml::ops
