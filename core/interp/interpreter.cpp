#include "core/interp/interpreter.h"

#include "core/ops/op_registry.h"

namespace fluidml::interp {

Status checkInputs(const ir::Graph &graph, const std::vector<ir::Tensor> &inputs) {
  if (inputs.size() != graph.inputs().size())
    return Status::error("the model has " + std::to_string(graph.inputs().size()) + " inputs, got " +
                         std::to_string(inputs.size()));
  for (size_t i = 0; i < inputs.size(); ++i) {
    const ir::Value &v = graph.value(graph.inputs()[i]);
    if (inputs[i].dtype() != v.type.dtype)
      return Status::error("input '" + v.name + "' must be " + std::string(ir::dtypeName(v.type.dtype)) + ", got " +
                           std::string(ir::dtypeName(inputs[i].dtype())));
    if (inputs[i].shape() != v.type.shape)
      return Status::error("input '" + v.name + "' must have shape " + ir::shapeToString(v.type.shape) + ", got " +
                           ir::shapeToString(inputs[i].shape()));
  }
  return Status::ok();
}

Interpreter::Interpreter(const ir::Graph &graph) : graph_(graph), lastUse_(graph.valueCapacity(), 0) {
  const auto &order = graph.order();
  for (size_t step = 0; step < order.size(); ++step)
    for (ir::ValueId in : graph.node(order[step]).inputs)
      if (in != ir::kNoValue) lastUse_[static_cast<size_t>(in)] = step;
}

Expected<std::vector<ir::Tensor>> Interpreter::run(const std::vector<ir::Tensor> &inputs) const {
  FLUIDML_RETURN_IF_ERROR(checkInputs(graph_, inputs));
  std::vector<ir::Tensor> values(graph_.valueCapacity());
  for (size_t i = 0; i < inputs.size(); ++i) values[static_cast<size_t>(graph_.inputs()[i])] = inputs[i];
  for (ir::ValueId c : graph_.constants()) values[static_cast<size_t>(c)] = graph_.value(c).constant;

  const auto &order = graph_.order();
  const int64_t opset = graph_.opsetVersion("");
  for (size_t step = 0; step < order.size(); ++step) {
    const ir::Node &node = graph_.node(order[step]);
    const ops::OpSchema *schema = ops::OpRegistry::instance().find(node.domain, node.opType);
    if (schema == nullptr) return Status::error(ops::describeNode(node) + ": unsupported operator");
    ops::KernelContext context{node, node.domain.empty() ? opset : graph_.opsetVersion(node.domain), {}, {}};
    for (ir::ValueId in : node.inputs) {
      if (in != ir::kNoValue && values[static_cast<size_t>(in)].isNull())
        return Status::error(ops::describeNode(node) + ": input '" + graph_.value(in).name + "' has no value");
      context.inputs.push_back(in == ir::kNoValue ? nullptr : &values[static_cast<size_t>(in)]);
    }
    for (ir::ValueId out : node.outputs) {
      if (out == ir::kNoValue) {
        context.outputs.push_back(nullptr);
        continue;
      }
      const ir::TensorType &type = graph_.value(out).type;
      values[static_cast<size_t>(out)] = ir::Tensor::zeros(type.dtype, type.shape);
      context.outputs.push_back(&values[static_cast<size_t>(out)]);
    }
    Status status = schema->kernel(context);
    if (!status.isOk()) return status.withContext(ops::describeNode(node));
    // Free what no later node reads (graph outputs are kept).
    for (ir::ValueId in : node.inputs)
      if (in != ir::kNoValue && lastUse_[static_cast<size_t>(in)] == step && !graph_.isGraphOutput(in) &&
          graph_.value(in).producer != ir::kNoNode)
        values[static_cast<size_t>(in)] = ir::Tensor();
  }

  std::vector<ir::Tensor> outputs;
  for (ir::ValueId out : graph_.outputs()) outputs.push_back(values[static_cast<size_t>(out)]);
  return outputs;
}

}  // namespace fluidml::interp
