// The compiler's public face (no LLVM types): JIT-compile a planned graph into a runnable model, or emit an
// ahead-of-time shared library with a C API. One LLVM module per model: one kernel function per node, plus
// the entry `fluidml_model_run` that calls them in schedule order over the arena; LLVM's O3 pipeline for the
// target CPU (the host's by default, its features detected); ORC LLJIT once per model.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/analysis/memory_plan.h"
#include "core/ir/graph.h"
#include "core/target/target_description.h"

namespace fluidml::codegen {

struct CompileOptions {
  int threads = 1;               // the thread pool size the model runs with
  /// The machine the code is for (codegen::resolveTarget for --mcpu/--target); the host by default. Its
  /// `threads` is set from `threads` above.
  target::TargetDescription target = target::TargetDescription::host();
  std::string dumpIrPath;        // when set, the optimized LLVM IR is written there
  std::string dumpAsmPath;       // when set, the target's assembly is written there
  /// When true, the entry times every kernel call (and copy) and CompiledModel::profile() reports them; off, no
  /// profiling code is emitted at all. JIT only: compileAot ignores it.
  bool profile = false;
};

/// One node of a profiled model (CompileOptions::profile): its time summed over the runs since compilation or
/// the last CompiledModel::resetProfile().
struct NodeProfile {
  std::string name;      // the node's name
  std::string opType;    // "Conv", "fluidml.FusedConv", ...
  std::string strategy;  // CompiledModel::kernelStrategies()' entry, "copy" for byte copies, else ""
  std::string layouts;   // the layouts of its operands but constants, read -> written: "NCHW8c,(0,2,3,1)->NCHW8c"
  int64_t nanoseconds = 0;
  int64_t calls = 0;
};

/// A JIT-compiled model: owns the JIT, the weights blob, the arena and the thread pool. run() allocates nothing.
class CompiledModel {
 public:
  virtual ~CompiledModel() = default;
  /// Runs on caller buffers: inputs in graph-input order (dtype/shape checked), outputs preallocated by the
  /// caller with the graph outputs' types (see outputTypes()).
  virtual Status run(const std::vector<ir::Tensor> &inputs, std::vector<ir::Tensor> &outputs) = 0;
  virtual std::vector<ir::TensorType> outputTypes() const = 0;
  virtual double compileMilliseconds() const = 0;
  virtual size_t arenaBytes() const = 0;
  /// Kernel scratch allocated with the arena but outside the plan (gathered GEMM panels, conv patches).
  virtual size_t scratchBytes() const = 0;
  virtual size_t weightsBytes() const = 0;
  /// The planned tensors' bytes (arenaBytes() of them, at the memory plan's offsets), as the last run left
  /// them: for tests that inspect physical layouts (padding lanes) and for memory views.
  virtual uint8_t *arenaData() = 0;
  /// The strategy each multi-strategy kernel took, by node name ("conv_3" -> "im2col"); see KernelContext.
  virtual const std::map<std::string, std::string> &kernelStrategies() const = 0;
  /// Per node that runs code, in schedule order, its time so far; empty unless compiled with
  /// CompileOptions::profile. Views (Reshape and friends aliasing their input) run no code and are not listed.
  virtual std::vector<NodeProfile> profile() const = 0;
  /// Zeroes the profile counters (e.g. after warm-up runs).
  virtual void resetProfile() = 0;
};

/// Compiles `graph` (types inferred, order = schedule) with the memory plan into machine code in this process.
Expected<std::unique_ptr<CompiledModel>> compileJit(const ir::Graph &graph, const analysis::MemoryPlan &plan,
                                                    const CompileOptions &options);

/// compileJit that frees from `graph` the data of each constant the code reads only re-laid-out (packed
/// GEMM/conv panels) as soon as the last kernel reading it is built, so that the process never holds those
/// weights twice. The graph keeps its nodes and types, but those values stop being constants: only for callers
/// that neither interpret nor compile the graph again (fluidml bench).
Expected<std::unique_ptr<CompiledModel>> compileJitReleasingPackedConstants(ir::Graph &graph,
                                                                            const analysis::MemoryPlan &plan,
                                                                            const CompileOptions &options);

/// Writes DIR/libmodel.so (no LLVM or protobuf needed at run time), DIR/model.h (the C API) and
/// DIR/weights.bin (the weights blob, memory-mapped by the library), plus DIR/model.json (tensor metadata).
Status compileAot(const ir::Graph &graph, const analysis::MemoryPlan &plan, const std::string &outputDir,
                  const CompileOptions &options);

/// Checks that the lowering of `node` reads and writes the layouts its operands have (each lowering declares
/// them). A failure is an internal error (a layout pass must have inserted fluidml.Relayout) naming the node,
/// the operand and the layout. The module builder runs it on every node before emitting.
Status checkNodeLayouts(const ir::Graph &graph, const ir::Node &node);

/// Ops of the graph that the lowering table does not cover (empty when everything lowers).
std::vector<std::string> unloweredOps(const ir::Graph &graph);

}  // namespace fluidml::codegen
