// Parsing and reference semantics of fused epilogues (see fused_epilogue.h).
#include "core/ops/fused_epilogue.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <variant>

namespace fluidml::ops {

bool isFusedNode(const ir::Node &node) {
  return node.domain == kFluidmlDomain && (node.opType == kFusedConv || node.opType == kFusedMatMul);
}

std::string_view baseOpOf(const ir::Node &node) { return node.opType == kFusedConv ? "Conv" : "MatMul"; }

size_t firstEpilogueOperand(const ir::Node &node) { return node.opType == kFusedConv ? 3 : 2; }

std::string_view epilogueName(EpilogueKind kind) {
  switch (kind) {
    case EpilogueKind::Add: return "Add";
    case EpilogueKind::Relu: return "Relu";
    case EpilogueKind::Clip: return "Clip";
    case EpilogueKind::Sigmoid: return "Sigmoid";
    case EpilogueKind::SiLU: return "SiLU";
    case EpilogueKind::Gelu: return "Gelu";
  }
  return "?";
}

namespace {

/// How an Add operand of `shape` lines up with an output of `out`, or nullopt when it is none of the forms.
std::optional<OperandBroadcast> broadcastOf(bool conv, const ir::Shape &shape, const ir::Shape &out) {
  if (shape == out) return OperandBroadcast::Full;
  if (shape.empty() || shape.size() > out.size()) return std::nullopt;
  // Leading 1s up to the output's rank do not change where elements sit.
  const size_t pad = out.size() - shape.size();
  auto dim = [&](size_t d) { return d < pad ? int64_t{1} : shape[d - pad]; };
  if (!conv) {
    for (size_t d = 0; d + 1 < out.size(); ++d)
      if (dim(d) != 1) return std::nullopt;
    if (dim(out.size() - 1) == out.back()) return OperandBroadcast::LastDim;
    return std::nullopt;
  }
  if (out.size() < 2) return std::nullopt;
  for (size_t d = 0; d < out.size(); ++d)
    if (dim(d) != (d == 1 ? out[1] : 1)) return std::nullopt;
  return OperandBroadcast::PerChannel;
}

}  // namespace

Expected<std::vector<EpilogueStep>> parseEpilogue(const ir::Node &node,
                                                  const std::vector<const ir::TensorType *> &inputTypes,
                                                  const ir::TensorType &outputType) {
  if (!isFusedNode(node)) return Status::error("not a fused node");
  if (outputType.dtype != ir::DType::Float32) return Status::error("fused epilogues are float32 only");
  const bool conv = node.opType == kFusedConv;
  const ir::Attribute *attribute = node.attribute("epilogue");
  const auto *names = attribute != nullptr ? std::get_if<std::vector<std::string>>(attribute) : nullptr;
  if (names == nullptr || names->empty()) return Status::error("attribute 'epilogue' (a list of step names) is missing");
  std::vector<EpilogueStep> steps;
  size_t nextOperand = firstEpilogueOperand(node);
  for (const std::string &name : *names) {
    EpilogueStep step;
    if (name == "Add") {
      step.kind = EpilogueKind::Add;
      if (nextOperand >= inputTypes.size() || inputTypes[nextOperand] == nullptr)
        return Status::error("epilogue step Add has no operand (input " + std::to_string(nextOperand) + ")");
      const ir::TensorType &type = *inputTypes[nextOperand];
      if (type.dtype != ir::DType::Float32) return Status::error("an epilogue Add operand must be float32");
      auto broadcast = broadcastOf(conv, type.shape, outputType.shape);
      if (!broadcast)
        return Status::error("epilogue Add operand " + ir::shapeToString(type.shape) + " does not line up with output " +
                             ir::shapeToString(outputType.shape));
      step.operand = static_cast<int>(nextOperand++);
      step.broadcast = *broadcast;
    } else if (name == "Relu") {
      step.kind = EpilogueKind::Relu;
    } else if (name == "Clip") {
      step.kind = EpilogueKind::Clip;
      step.clipMin = node.floatAttr("clip_min", -std::numeric_limits<float>::infinity());
      step.clipMax = node.floatAttr("clip_max", std::numeric_limits<float>::infinity());
    } else if (name == "Sigmoid") {
      step.kind = EpilogueKind::Sigmoid;
    } else if (name == "SiLU") {
      step.kind = EpilogueKind::SiLU;
    } else if (name == "Gelu") {
      step.kind = EpilogueKind::Gelu;
    } else {
      return Status::error("unknown epilogue step '" + name + "' (expected Add, Relu, Clip, Sigmoid, SiLU or Gelu)");
    }
    steps.push_back(step);
  }
  if (nextOperand != node.inputs.size())
    return Status::error("the node has " + std::to_string(node.inputs.size() - nextOperand) +
                         " inputs that no epilogue step uses");
  return steps;
}

Expected<std::vector<EpilogueStep>> parseEpilogue(const ir::Graph &graph, const ir::Node &node) {
  std::vector<const ir::TensorType *> types;
  for (ir::ValueId v : node.inputs) types.push_back(v == ir::kNoValue ? nullptr : &graph.value(v).type);
  if (node.outputs.empty() || node.outputs[0] == ir::kNoValue) return Status::error("a fused node needs its output");
  return parseEpilogue(node, types, graph.value(node.outputs[0]).type);
}

namespace {

float sigmoid(float x) {  // as the reference Sigmoid: no overflow of exp for large |x|
  if (x >= 0.0f) return 1.0f / (1.0f + std::exp(-x));
  const float e = std::exp(x);
  return e / (1.0f + e);
}

}  // namespace

float applyEpilogueStep(const EpilogueStep &step, float value, float operand) {
  switch (step.kind) {
    case EpilogueKind::Add: return value + operand;
    case EpilogueKind::Relu: return std::max(value, 0.0f);
    case EpilogueKind::Clip: return std::min(std::max(value, step.clipMin), step.clipMax);
    case EpilogueKind::Sigmoid: return sigmoid(value);
    case EpilogueKind::SiLU: return value * sigmoid(value);
    case EpilogueKind::Gelu: return value * (std::erf(value / kGeluDivisor) + 1.0f) * 0.5f;
  }
  return value;
}

}  // namespace fluidml::ops
