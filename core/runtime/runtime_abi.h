/* The C ABI between generated code and the fluidml runtime. Generated kernels call these functions; the JIT
 * resolves them in the host process, and AOT libraries link the runtime statically. Plain C: no LLVM, no C++
 * types. */
#ifndef FLUIDML_RUNTIME_ABI_H
#define FLUIDML_RUNTIME_ABI_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Opaque runtime state handed to every generated entry function (owns the thread pool). */
typedef struct fluidml_runtime fluidml_runtime;

/** A chunk of a parallel loop: runs iterations [begin, end) with the captured context. */
typedef void (*fluidml_parallel_body)(void *context, int64_t begin, int64_t end);

/** Runs body over [0, count) split into contiguous chunks across the runtime's threads and waits for all of them.
 * With one thread (or a null runtime) it calls body(context, 0, count) directly. */
void fluidml_parallel_for(fluidml_runtime *runtime, fluidml_parallel_body body, void *context, int64_t count);

/** The signature of a generated model entry: every intermediate tensor lives in `arena` at its planned offset,
 * constants in `weights` (64-byte aligned blob), graph inputs and outputs are caller-owned buffers. */
typedef void (*fluidml_entry_fn)(uint8_t *arena, const uint8_t *weights, void *const *inputs, void *const *outputs,
                                 fluidml_runtime *runtime);

/** One node's counters in a profiled model (codegen::CompileOptions::profile): nanoseconds spent in its kernel
 * and the number of calls, summed over runs. */
typedef struct fluidml_profile_slot {
  int64_t nanoseconds;
  int64_t calls;
} fluidml_profile_slot;

/** The profiling clock: CLOCK_MONOTONIC in nanoseconds. A profiled entry reads it before each kernel call. */
int64_t fluidml_profile_clock(void);

/** After a kernel call of a profiled entry: adds fluidml_profile_clock() - start to the runtime's profile slot
 * `slot` and counts one call. Does nothing when the runtime has no profile buffer. */
void fluidml_profile_record(fluidml_runtime *runtime, int64_t slot, int64_t start);

#ifdef __cplusplus
}
#endif

#endif /* FLUIDML_RUNTIME_ABI_H */
