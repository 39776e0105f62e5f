// The lowering table: how each op of the op table becomes LLVM IR. One emitter per op, grouped in one file
// per family (core/codegen/lower_<family>.cpp), registered explicitly in lowering.cpp. An emitter writes the
// body of the node's kernel function: operands arrive as pointers to element 0 of dense row-major tensors
// with static types; constant operands' values are known at compile time.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/codegen/kernel_builder.h"
#include "core/ir/graph.h"
#include "core/ops/fused_epilogue.h"
#include "core/support/status.h"

namespace fluidml::codegen {

/// The epilogue of a fused node (fluidml.FusedConv / FusedMatMul): the steps, and each Add step's operand
/// (the kernel's pointer argument; nullptr for other steps).
struct FusedEpilogue {
  std::vector<ops::EpilogueStep> steps;
  std::vector<llvm::Value *> operands;  // by step
};

struct KernelContext {
  const ir::Graph &graph;
  const ir::Node &node;
  int64_t opset;
  KernelBuilder &b;
  std::vector<llvm::Value *> inputs;   // nullptr for omitted operands
  std::vector<llvm::Value *> outputs;  // nullptr for omitted outputs
  /// True when an output shares memory with an input (in-place plan): read element i before writing it.
  bool inPlace = false;
  /// Set while a fused node's base op is emitted: an emitter that applies these steps to the values it stores
  /// sets `epilogueApplied`; otherwise the steps run over the finished output afterwards.
  const FusedEpilogue *epilogue = nullptr;
  bool epilogueApplied = false;
  /// Set by an emitter with several strategies to the one it took ("im2col", "depthwise", ...): tests assert it.
  std::string strategy = {};

  bool hasInput(size_t i) const { return i < inputs.size() && inputs[i] != nullptr; }
  bool hasOutput(size_t i) const { return i < outputs.size() && outputs[i] != nullptr; }
  const ir::TensorType &inputType(size_t i) const { return graph.value(node.inputs[i]).type; }
  const ir::TensorType &outputType(size_t i) const { return graph.value(node.outputs[i]).type; }
  /// The value of operand i when it is a constant, else nullptr.
  const ir::Tensor *constantInput(size_t i) const;
};

using EmitFn = Status (*)(KernelContext &);

struct LoweringEntry {
  std::string opType;
  EmitFn emit = nullptr;
  std::string domain;  // "" = ai.onnx
};

class LoweringTable {
 public:
  /// Every lowered op; built once from the explicit list in lowering.cpp.
  static const LoweringTable &instance();
  const LoweringEntry *find(std::string_view opType) const { return find("", opType); }
  const LoweringEntry *find(std::string_view domain, std::string_view opType) const;
  const std::vector<LoweringEntry> &all() const { return entries_; }
  void add(std::string opType, EmitFn emit, std::string domain = "") {
    entries_.push_back({std::move(opType), emit, std::move(domain)});
  }

 private:
  std::vector<LoweringEntry> entries_;
};

/// Family registration, one per core/codegen/lower_<family>.cpp.
void registerElementwiseLowerings(LoweringTable &table);
void registerDataMovementLowerings(LoweringTable &table);
void registerLinalgLowerings(LoweringTable &table);
void registerNormalizationLowerings(LoweringTable &table);
void registerIndexingLowerings(LoweringTable &table);
void registerFusedLowerings(LoweringTable &table);

}  // namespace fluidml::codegen
