// Builds the LLVM module of a planned graph and optimizes it for the target CPU; shared by the JIT and AOT drivers.
// The module holds one internal kernel function per node, `void k<id>(ptr in..., ptr out..., ptr runtime)`,
// and one external entry, `void ENTRY(ptr arena, ptr weights, ptr inputs, ptr outputs, ptr runtime)`, that
// computes every operand's address from the memory plan and calls the kernels in schedule order.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>
#include <llvm/Target/TargetMachine.h>

#include "core/analysis/memory_plan.h"
#include "core/ir/graph.h"
#include "core/support/status.h"
#include "core/target/target_description.h"

namespace fluidml::codegen {

/// The weights the code reads, each 64-byte aligned in one blob: the graph's constants that some kernel (or
/// the entry) reads as they are, in value-id order, then the derived weights (KernelBuilder::derivedWeight:
/// constants re-laid-out at compile time, e.g. GEMM panels), by name. A constant that every kernel reads only
/// in a derived form is not in it. In pointer-table mode the entries are the table's slots, in this order.
struct WeightsLayout {
  struct Entry {
    ir::ValueId constant = ir::kNoValue;  // the graph constant, or kNoValue for a derived weight
    std::string name;                     // the constant's value name, or the derived weight's name
    ir::Tensor data;                      // its bytes (a graph constant's buffer is shared, not copied)
    size_t offset = 0;                    // in the blob
  };
  std::vector<Entry> entries;
  size_t bytes = 0;
};
/// Copies every entry to its offset in `blob` (at least layout.bytes; the padding is zeroed).
void writeWeights(const WeightsLayout &layout, uint8_t *blob);

/// A TargetMachine for `target` (its triple, CPU name and features; cpu "native" is the host's CPU and detected
/// features), CodeGenOptLevel::Aggressive. `pic` selects Reloc::PIC_ (objects linked into shared libraries).
Expected<std::unique_ptr<llvm::TargetMachine>> createTargetMachine(const target::TargetDescription &target, bool pic);

/// True for a node whose output 0 is the bytes of operand 0 unchanged (Reshape, Flatten, Squeeze, Unsqueeze,
/// Identity, inference Dropout with its mask unused, row-major): the module builder copies or aliases it
/// itself, so it needs no lowering.
bool isByteCopyNode(const ir::Graph &graph, const ir::Node &node);

struct ModuleBuildOptions {
  std::string entryName = "fluidml_model_run";
  /// When true, the entry's `weights` argument is a table of pointers, one per WeightsLayout entry (the JIT
  /// points at the graph's own buffers and the derived weights instead of copying them into a blob), and
  /// `constantAlignment` (by value id) says how aligned each graph constant is. Otherwise `weights` is the
  /// blob laid out by BuiltModule::weights (AOT).
  bool constantPointerTable = false;
  std::vector<uint64_t> constantAlignment;
  /// When set, called for each graph constant as soon as every kernel that reads it has been built and none
  /// reads it as it is (they read derived weights made from it): the caller may free its data then.
  std::function<void(ir::ValueId)> constantConsumed;
  /// When true, the entry reads fluidml_profile_clock() before each kernel call (or copy) and passes the start
  /// to fluidml_profile_record(runtime, slot, start) after it: slot k counts BuiltModule::profiledNodes[k].
  bool profile = false;
};

/// The module, its weights, and the state block: mutable zero-initialized globals of the kernels (shared
/// scratch buffers) are placed per model instance in the arena allocation after the planned tensors, at
/// [stateOffset, stateOffset + stateBytes); the runtime allocates stateOffset + stateBytes bytes and zeroes the
/// state once, so instances of one AOT library never share them.
struct BuiltModule {
  std::unique_ptr<llvm::Module> module;
  WeightsLayout weights;
  size_t stateOffset = 0;
  size_t stateBytes = 0;
  size_t allocationBytes() const { return stateOffset + stateBytes; }
  /// The strategy each multi-strategy kernel took (KernelContext::strategy), by node name.
  std::map<std::string, std::string> strategies;
  /// With ModuleBuildOptions::profile: the node each profile slot times, in schedule order (nodes that are
  /// views run no code and have no slot).
  std::vector<ir::NodeId> profiledNodes;
};

/// Builds the module for `graph` (order = schedule) and `plan`, targeting `targetMachine` (data layout,
/// triple and the target-cpu/features attributes of every function) made from `target` (what the kernels read:
/// vector width, registers, thresholds). Errors name the node that failed.
Expected<BuiltModule> buildModule(llvm::LLVMContext &context, const ir::Graph &graph, const analysis::MemoryPlan &plan,
                                  llvm::TargetMachine &targetMachine, const target::TargetDescription &target,
                                  const ModuleBuildOptions &options);

/// Runs LLVM's O3 module pipeline with the target's cost model.
void optimizeModule(llvm::Module &module, llvm::TargetMachine &targetMachine);

/// Writes the module's LLVM IR as text.
Status writeIr(const llvm::Module &module, const std::string &path);
/// Emits assembly or an object file for the module (the module is not modified; a clone is code-generated).
Status emitMachineCode(const llvm::Module &module, llvm::TargetMachine &targetMachine, const std::string &path,
                       bool assembly);

}  // namespace fluidml::codegen
