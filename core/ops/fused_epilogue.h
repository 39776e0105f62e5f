// Fused epilogues: a Conv or MatMul whose output feeds a chain of elementwise ops (bias or residual Add, Relu,
// Clip, Sigmoid, SiLU, GELU) becomes one node of the fluidml domain, `fluidml.FusedConv` / `fluidml.FusedMatMul`,
// that computes the product and applies the chain to each result before it is stored (the fuse-epilogues pass
// makes them; core/codegen applies the steps in the GEMM's registers). The reference semantics are exactly the
// unfused chain: the base op's result, then each step in order, in float32.
//
// Node form: the base op's inputs (FusedConv: X, W, B — B may be omitted; FusedMatMul: A, B) and attributes,
// then one input per Add step, in step order. Attribute `epilogue`: the step names, in order ("Add", "Relu",
// "Clip", "Sigmoid", "SiLU", "Gelu" = x * (erf(x / sqrt(2)) + 1) * 0.5 in that order, as PyTorch exports it); `clip_min` / `clip_max` (floats, defaults -inf / +inf) for a Clip step. An Add
// operand has either the output's shape, or (FusedMatMul) the shape [n] / [1, ..., 1, n] of a bias over the
// last dimension, or (FusedConv) [C, 1, 1] / [1, C, 1, 1] of a bias per output channel. float32 only.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/ir/graph.h"
#include "core/support/status.h"

namespace fluidml::ops {

/// The domain of fluidml's own ops (registered in a graph's opset imports at version 1 when first used).
inline constexpr std::string_view kFluidmlDomain = "fluidml";
inline constexpr std::string_view kFusedConv = "FusedConv";
inline constexpr std::string_view kFusedMatMul = "FusedMatMul";

enum class EpilogueKind { Add, Relu, Clip, Sigmoid, SiLU, Gelu };

/// The divisor of the GELU step, sqrt(2) rounded to float as PyTorch's export writes it.
inline constexpr float kGeluDivisor = 1.41421353816986083984375f;

/// How an Add operand lines up with the output.
enum class OperandBroadcast {
  Full,        // the output's shape: element i at offset i
  LastDim,     // [n] (FusedMatMul bias): element (..., j) at offset j
  PerChannel,  // [C, 1, 1] (FusedConv bias per channel): element (b, c, ...) at offset c
};

struct EpilogueStep {
  EpilogueKind kind = EpilogueKind::Relu;
  int operand = -1;  // Add: the node input index of its operand
  OperandBroadcast broadcast = OperandBroadcast::Full;
  float clipMin = 0, clipMax = 0;  // Clip
};

/// True for fluidml.FusedConv and fluidml.FusedMatMul nodes.
bool isFusedNode(const ir::Node &node);
/// The ONNX op a fused node extends ("Conv" or "MatMul").
std::string_view baseOpOf(const ir::Node &node);
/// Index of the first epilogue operand (3 for FusedConv, 2 for FusedMatMul).
size_t firstEpilogueOperand(const ir::Node &node);
/// The node's steps, checked against its inputs' types (by input index, nullptr for omitted ones) and its output
/// type: float32, one operand per Add, operand shapes as above.
Expected<std::vector<EpilogueStep>> parseEpilogue(const ir::Node &node,
                                                  const std::vector<const ir::TensorType *> &inputTypes,
                                                  const ir::TensorType &outputType);
/// parseEpilogue with the types of the node's values in `graph`.
Expected<std::vector<EpilogueStep>> parseEpilogue(const ir::Graph &graph, const ir::Node &node);
/// The name of a step kind as written in the `epilogue` attribute.
std::string_view epilogueName(EpilogueKind kind);

/// One step on one value (the reference semantics; `operand` is the Add operand's element, else unused).
float applyEpilogueStep(const EpilogueStep &step, float value, float operand);

}  // namespace fluidml::ops
