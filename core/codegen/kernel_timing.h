// Timing single kernels, for the kernel catalog. A node is rebuilt alone: its constants stay constants (so the
// weights are packed at compile time as in the model), its other inputs become row-major graph inputs converted
// into the variant's layouts by fluidml.Relayout, its outputs are converted back. Several such nodes share one
// module, so one compilation serves a batch (the memory planner overlaps their arenas). The module is compiled
// with profiling on (CompileOptions::profile) and run on random inputs of valid ranges (interp::makeRandomInputs:
// indices in range, masks set); each node's time is the median of its own profiled time over k runs after
// warm-up, k growing until the timed runs last long enough. No LLVM in this header.
#pragma once

#include <string>
#include <vector>

#include "core/ir/graph.h"
#include "core/support/status.h"
#include "core/target/cost_cache.h"
#include "core/target/kernel_catalog.h"
#include "core/target/target_description.h"

namespace fluidml::codegen {

/// One kernel to time: `variant` of `node` of `graph` (both must outlive the call).
struct TimingRequest {
  const ir::Graph *graph = nullptr;
  const ir::Node *node = nullptr;
  target::KernelVariant variant;
};

struct TimingOptions {
  target::TargetDescription target = target::TargetDescription::host();
  int warmupRuns = 1;
  int minRuns = 3;          // timed runs at least
  int maxRuns = 21;         // and at most
  double minTimedMs = 12;   // more runs (up to maxRuns) until the timed runs of a batch last this long
  uint32_t seed = 0;        // of the random inputs
};

struct KernelTiming {
  double nanoseconds = 0;  // the median over the timed runs (0 for a node that runs no code)
  int runs = 0;
  std::string strategy;    // CompiledModel::kernelStrategies() of the node, "" when it has one strategy
};

/// The graph timeKernels compiles for `requests`: each node alone between row-major graph inputs and outputs,
/// converted into and out of its variant's layouts, named "t<k>/<name>"; `timedNodes` gets the timed nodes' names.
Expected<ir::Graph> isolatedGraph(const std::vector<TimingRequest> &requests, std::vector<std::string> *timedNodes);

/// Times every request in one module at `threads` threads; one timing per request, in order. A batch that fails
/// to build or compile is an error (callers retry its requests one by one to find the culprit).
Expected<std::vector<KernelTiming>> timeKernels(const std::vector<TimingRequest> &requests, int threads,
                                                const TimingOptions &options);

/// The analytic fallback's rates at `threads` threads, from two micro-benchmarks in one JIT module: a ReLU over
/// 64 MiB (bytes read and written per second) and a 512^3 MatMul with packed constant weights (FLOPs per second).
Expected<target::MachineRates> measureMachineRates(const target::TargetDescription &target, int threads);

}  // namespace fluidml::codegen
