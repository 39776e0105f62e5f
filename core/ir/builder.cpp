#include "core/ir/builder.h"

namespace fluidml::ir {

GraphBuilder::GraphBuilder(TypeInference infer, int64_t opset) : infer_(std::move(infer)) {
  graph_.opsetImports[""] = opset;
}

ValueId GraphBuilder::input(const std::string &name, DType dtype, Shape shape) {
  return graph_.addInput(name, TensorType(dtype, std::move(shape)));
}

ValueId GraphBuilder::constant(const std::string &name, Tensor tensor) {
  return graph_.addConstant(name, std::move(tensor));
}

ValueId GraphBuilder::op(const std::string &opType, const std::vector<ValueId> &inputs, AttributeMap attributes) {
  return opMulti(opType, inputs, 1, std::move(attributes)).front();
}

std::vector<ValueId> GraphBuilder::opMulti(const std::string &opType, const std::vector<ValueId> &inputs,
                                           size_t outputCount, AttributeMap attributes) {
  std::string base = opType + "_" + std::to_string(counter_++);
  std::vector<std::string> outputNames;
  for (size_t i = 0; i < outputCount; ++i) outputNames.push_back(graph_.uniqueValueName(base + ":" + std::to_string(i)));
  NodeId node = graph_.addNode(opType, base, inputs, outputNames, std::move(attributes));
  if (infer_ && firstError_.isOk()) {
    Status status = infer_(graph_, node);
    if (!status.isOk()) firstError_ = status.withContext("node '" + base + "' (" + opType + ")");
  }
  return graph_.node(node).outputs;
}

Expected<Graph> GraphBuilder::build() && {
  if (!firstError_.isOk()) return firstError_;
  return std::move(graph_);
}

}  // namespace fluidml::ir
