// The lowering table: how each op of the op table becomes LLVM IR. One emitter per op, grouped in one file
// per family (core/codegen/lower_<family>.cpp), registered explicitly in lowering.cpp. An emitter writes the
// body of the node's kernel function: operands arrive as pointers to element 0 of dense tensors with static
// types, stored in their layouts; constant operands' values are known at compile time. Every entry declares the
// layouts it reads and writes (row-major unless its family says more), and the module builder checks them
// before emitting, so a layout a kernel cannot read is an error, never a silent miscompile.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/codegen/compiler.h"
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

/// The layouts an emitter reads and writes; each level includes the ones before it. Constants are always
/// row-major (the verifier says so); the level covers the node's other operands and its outputs.
enum class LayoutSupport : uint8_t {
  RowMajor,  ///< dense row-major operands only
  Permuted,  ///< any permutation of the dims, through strides
  Blocked,   ///< permutations and blocked layouts (one block size per dim across the node's operands)
};
/// "row-major", "permuted", "blocked".
std::string_view layoutSupportName(LayoutSupport support);

/// A further condition on one node's layouts beyond its level (Identity: input and output alike); nullptr = none.
using LayoutCheckFn = Status (*)(const ir::Graph &, const ir::Node &);

struct LoweringEntry {
  std::string opType;
  EmitFn emit = nullptr;
  std::string domain;  // "" = ai.onnx
  LayoutSupport layouts = LayoutSupport::RowMajor;
  LayoutCheckFn layoutCheck = nullptr;
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
  /// Declares the layouts an already added entry reads and writes (each family declares its own).
  void declareLayouts(std::string_view domain, std::string_view opType, LayoutSupport layouts,
                      LayoutCheckFn check = nullptr);
  /// Declares the layouts of every entry added from index `first` on (a family whose emitters share one engine).
  void declareLayoutsSince(size_t first, LayoutSupport layouts) {
    for (size_t i = first; i < entries_.size(); ++i) entries_[i].layouts = layouts;
  }

 private:
  std::vector<LoweringEntry> entries_;
};

/// The default further check of a blocked-capable entry: operands aligned to output 0's dims (numpy broadcasting)
/// tile each dim by one block size.
Status checkOneBlockSizePerDim(const ir::Graph &graph, const ir::Node &node);

/// Family registration, one per core/codegen/lower_<family>.cpp.
void registerElementwiseLowerings(LoweringTable &table);
void registerDataMovementLowerings(LoweringTable &table);
void registerLinalgLowerings(LoweringTable &table);
void registerNormalizationLowerings(LoweringTable &table);
void registerIndexingLowerings(LoweringTable &table);
void registerFusedLowerings(LoweringTable &table);
/// fluidml.Relayout (lower_data_movement.cpp).
void registerRelayoutLowering(LoweringTable &table);

}  // namespace fluidml::codegen
