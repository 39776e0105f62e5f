// fluidml.FusedConv and fluidml.FusedMatMul: a Conv or MatMul followed by an elementwise epilogue (node form and
// step semantics in fused_epilogue.h). Both rules delegate to the base op's table entry instead of repeating it:
// the type rule infers the base op's output on a temporary node that carries the base inputs and attributes
// only, then checks the epilogue against that type; the kernel runs the base op's reference kernel into the
// output and then applies the steps to every element in order, so the result is bit for bit the unfused chain's.
#include <algorithm>
#include <cassert>
#include <string>
#include <vector>

#include "core/ops/fused_epilogue.h"
#include "core/ops/op_registry.h"

namespace fluidml::ops {

namespace {

/// The ai.onnx opset the base kernel is run at: Conv and MatMul have kept their semantics since opsets 11 / 13,
/// and a fused node carries no ai.onnx opset of its own (its domain is fluidml), so any recent one does.
constexpr int64_t kBaseKernelOpset = 17;

/// A copy of `node` as its base op: domain ai.onnx, the base inputs only (an omitted Conv bias stays omitted,
/// trailing omissions are dropped), the attributes without the epilogue ones. Not part of any graph.
ir::Node baseNodeOf(const ir::Node &node) {
  ir::Node base;
  base.id = node.id;
  base.name = node.name;
  base.opType = std::string(baseOpOf(node));
  base.domain.clear();
  const size_t count = std::min(node.inputs.size(), firstEpilogueOperand(node));
  base.inputs.assign(node.inputs.begin(), node.inputs.begin() + static_cast<std::ptrdiff_t>(count));
  while (!base.inputs.empty() && base.inputs.back() == ir::kNoValue) base.inputs.pop_back();
  base.outputs = node.outputs;
  base.attributes = node.attributes;
  for (const char *key : {"epilogue", "clip_min", "clip_max"}) base.attributes.erase(key);
  return base;
}

const OpSchema &baseSchemaOf(const ir::Node &node) {
  const OpSchema *schema = OpRegistry::instance().find("", baseOpOf(node));
  assert(schema != nullptr && "Conv and MatMul are in the op table");
  return *schema;
}

Status inferFused(InferContext &c) {
  const ir::Node &node = c.node();
  if (node.outputs.size() != 1) return Status::error(node.opType + " has exactly one output");
  const ir::Node base = baseNodeOf(node);
  // The base rule sees the model's ai.onnx opset through the graph (the node's own domain is fluidml).
  InferContext baseContext(c.graph(), base);
  FLUIDML_RETURN_IF_ERROR(baseSchemaOf(node).infer(baseContext));
  const ir::TensorType &outputType = baseContext.outputTypes()[0];
  std::vector<const ir::TensorType *> inputTypes;
  for (size_t i = 0; i < c.inputCount(); ++i) inputTypes.push_back(c.hasInput(i) ? &c.inputType(i) : nullptr);
  FLUIDML_ASSIGN_OR_RETURN(std::vector<EpilogueStep> steps, parseEpilogue(node, inputTypes, outputType));
  (void)steps;
  c.setOutput(0, outputType);
  return Status::ok();
}

/// Where element `i` of the output reads the operand of an Add step.
struct OperandIndexer {
  OperandBroadcast broadcast;
  int64_t lastDim = 1;   // LastDim: the output's last dimension
  int64_t channels = 1;  // PerChannel: the output's dimension 1
  int64_t plane = 1;     // PerChannel: elements per channel (the product of the dimensions after 1)

  OperandIndexer(OperandBroadcast kind, const ir::Shape &out) : broadcast(kind) {
    if (!out.empty()) lastDim = out.back();
    if (out.size() >= 2) {
      channels = out[1];
      for (size_t d = 2; d < out.size(); ++d) plane *= out[d];
    }
  }
  int64_t operator()(int64_t i) const {
    switch (broadcast) {
      case OperandBroadcast::Full: return i;
      case OperandBroadcast::LastDim: return i % lastDim;
      case OperandBroadcast::PerChannel: return (i / plane) % channels;
    }
    return i;
  }
};

Status fusedKernel(KernelContext &c) {
  if (!c.hasOutput(0)) return Status::ok();
  const ir::Node base = baseNodeOf(c.node);
  KernelContext baseContext{base, kBaseKernelOpset, {}, {c.outputs[0]}};
  for (size_t i = 0; i < base.inputs.size(); ++i) baseContext.inputs.push_back(c.hasInput(i) ? c.inputs[i] : nullptr);
  FLUIDML_RETURN_IF_ERROR(baseSchemaOf(c.node).kernel(baseContext));

  ir::Tensor &out = c.output(0);
  std::vector<ir::TensorType> types(c.inputs.size());
  std::vector<const ir::TensorType *> typePointers(c.inputs.size(), nullptr);
  for (size_t i = 0; i < c.inputs.size(); ++i)
    if (c.hasInput(i)) {
      types[i] = c.input(i).type();
      typePointers[i] = &types[i];
    }
  FLUIDML_ASSIGN_OR_RETURN(std::vector<EpilogueStep> steps, parseEpilogue(c.node, typePointers, out.type()));

  // Per step: its operand (Add) and how an output element finds its operand element.
  std::vector<const float *> operands(steps.size(), nullptr);
  std::vector<OperandIndexer> indexers;
  for (size_t s = 0; s < steps.size(); ++s) {
    indexers.emplace_back(steps[s].broadcast, out.shape());
    if (steps[s].kind == EpilogueKind::Add) operands[s] = c.input(static_cast<size_t>(steps[s].operand)).data<float>();
  }
  float *y = out.data<float>();
  const int64_t n = out.numel();
  for (int64_t i = 0; i < n; ++i) {
    float v = y[i];
    for (size_t s = 0; s < steps.size(); ++s)
      v = applyEpilogueStep(steps[s], v, operands[s] != nullptr ? operands[s][indexers[s](i)] : 0.0f);
    y[i] = v;
  }
  return Status::ok();
}

}  // namespace

void registerFusedOps(OpRegistry &registry) {
  const std::string domain(kFluidmlDomain);
  registry.add(OpSchema{std::string(kFusedConv), domain, 1, inferFused, fusedKernel, {}, "fused"});
  registry.add(OpSchema{std::string(kFusedMatMul), domain, 1, inferFused, fusedKernel, {}, "fused"});
}

}  // namespace fluidml::ops
