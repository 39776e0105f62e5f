// The per-node profiling hooks that a profiled entry calls around each kernel (codegen::CompileOptions::profile).
// The clock is clock_gettime(CLOCK_MONOTONIC), not rdtsc: through the vDSO it costs about 40 ns (kvm-clock), counts
// nanoseconds (no TSC frequency to calibrate, no trust in an invariant TSC inside a VM), and kernels last
// microseconds, so two calls per kernel stay far below the times they measure. A model compiled without
// profiling emits no call at all.
#include <time.h>

#include "core/runtime/runtime_abi.h"
#include "core/runtime/thread_pool.h"

extern "C" __attribute__((visibility("default"))) int64_t fluidml_profile_clock(void) {
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<int64_t>(now.tv_sec) * 1000000000 + now.tv_nsec;
}

extern "C" __attribute__((visibility("default"))) void fluidml_profile_record(fluidml_runtime *runtime, int64_t slot,
                                                                              int64_t start) {
  const int64_t elapsed = fluidml_profile_clock() - start;
  if (runtime == nullptr || runtime->profile == nullptr) return;
  runtime->profile[slot].nanoseconds += elapsed;
  runtime->profile[slot].calls += 1;
}
