// fluidml.Relayout: type rule (the output's layout is the attribute), reference kernel (a copy: the interpreter
// holds logical row-major tensors) and the helper passes use to insert one.
#include "core/ops/relayout.h"

#include <algorithm>
#include <cstring>

#include "core/ops/fused_epilogue.h"
#include "core/ops/op_registry.h"

namespace fluidml::ops {

namespace {

Status inferRelayout(InferContext &c) {
  if (c.inputCount() != 1 || !c.hasInput(0) || c.outputCount() != 1)
    return Status::error("Relayout takes one input and makes one output");
  const ir::Attribute *attribute = c.node().attribute("layout");
  if (attribute == nullptr || !std::holds_alternative<std::string>(*attribute))
    return Status::error("Relayout needs a string attribute 'layout' (e.g. 'NCHW16c', '(0,2,3,1)')");
  ir::TensorType type = c.inputType(0);
  FLUIDML_ASSIGN_OR_RETURN(type.layout, ir::parseLayout(std::get<std::string>(*attribute), type.rank()));
  FLUIDML_RETURN_IF_ERROR(type.layout.validate(type.shape));
  c.setOutput(0, std::move(type));
  return Status::ok();
}

Status relayoutKernel(KernelContext &c) {
  if (c.hasOutput(0) && c.output(0).rawData() != c.input(0).rawData())
    std::memcpy(c.output(0).rawData(), c.input(0).rawData(), c.input(0).bytes());
  return Status::ok();
}

/// Adds `Relayout(value)` to `layout` (text form) at position `at` of the order; returns the node.
Expected<ir::NodeId> addRelayoutAt(ir::Graph &graph, ir::ValueId value, const std::string &layout, ptrdiff_t at) {
  const std::string name = graph.uniqueValueName(graph.value(value).name + "." + layout);
  const ir::NodeId relayout =
      graph.addNode(std::string(kRelayout), name, {value}, {name}, {{"layout", layout}}, std::string(kFluidmlDomain));
  graph.opsetImports.emplace(std::string(kFluidmlDomain), 1);
  FLUIDML_RETURN_IF_ERROR(inferNodeTypes(graph, relayout).withContext(describeNode(graph.node(relayout))));
  std::vector<ir::NodeId> order = graph.order();
  order.pop_back();  // addNode appended it
  order.insert(order.begin() + at, relayout);
  graph.setOrder(std::move(order));
  return relayout;
}

}  // namespace

bool isRelayout(const ir::Node &node) { return node.domain == kFluidmlDomain && node.opType == kRelayout; }

Expected<ir::ValueId> insertRelayout(ir::Graph &graph, ir::NodeId nodeId, int operand, const ir::Layout &layout) {
  const ir::ValueId source = graph.node(nodeId).input(static_cast<size_t>(operand));
  if (source == ir::kNoValue) return Status::error("insertRelayout: operand " + std::to_string(operand) + " is omitted");
  const ir::TensorType &sourceType = graph.value(source).type;
  if (sourceType.layout == layout) return source;
  const std::string text = layout.toString(sourceType.rank());
  for (const ir::Use &use : graph.value(source).uses) {
    const ir::Node &user = graph.node(use.node);
    if (isRelayout(user) && user.stringAttr("layout", "") == text) {
      // Reuse it when it already runs before the consumer.
      const std::vector<ir::NodeId> &order = graph.order();
      const auto at = [&](ir::NodeId n) { return std::find(order.begin(), order.end(), n) - order.begin(); };
      if (at(user.id) < at(nodeId)) {
        graph.setOperand(nodeId, operand, user.outputs[0]);
        return user.outputs[0];
      }
    }
  }
  // Right before its consumer.
  const auto before = std::find(graph.order().begin(), graph.order().end(), nodeId) - graph.order().begin();
  FLUIDML_ASSIGN_OR_RETURN(const ir::NodeId relayout, addRelayoutAt(graph, source, text, before));
  const ir::ValueId converted = graph.node(relayout).outputs[0];
  graph.setOperand(nodeId, operand, converted);
  return converted;
}

Expected<ir::NodeId> relayoutAfterProducer(ir::Graph &graph, ir::ValueId value, const ir::Layout &produced) {
  const ir::NodeId producer = graph.value(value).producer;
  if (producer == ir::kNoNode) return Status::error("relayoutAfterProducer: '" + graph.value(value).name + "' has no producer");
  const ir::Layout consumed = graph.value(value).type.layout;
  const std::vector<ir::Use> uses = graph.value(value).uses;
  graph.value(value).type.layout = produced;
  const std::string text = consumed.toString(graph.value(value).type.rank());
  // Right after its producer.
  const auto after = std::find(graph.order().begin(), graph.order().end(), producer) - graph.order().begin() + 1;
  FLUIDML_ASSIGN_OR_RETURN(const ir::NodeId relayout, addRelayoutAt(graph, value, text, after));
  const ir::ValueId converted = graph.node(relayout).outputs[0];
  for (const ir::Use &use : uses) graph.setOperand(use.node, use.operand, converted);
  std::vector<ir::ValueId> outputs = graph.outputs();
  std::replace(outputs.begin(), outputs.end(), value, converted);
  graph.setOutputs(std::move(outputs));
  return relayout;
}

void registerRelayoutOp(OpRegistry &registry) {
  OpSchema schema{std::string(kRelayout), std::string(kFluidmlDomain), 1, inferRelayout, relayoutKernel, {}, "layout"};
  schema.definesLayout = true;
  registry.add(std::move(schema));
}

}  // namespace fluidml::ops
