// What code generation needs to know about the machine it generates code for, without LLVM: the vector ISA
// (vector width, register count), the caches, the serial/parallel thresholds, the thread count, and the LLVM
// CPU name and feature string that codegen hands to its TargetMachine. Every lowering reads these facts from
// here (KernelBuilder::target()) instead of literals. The host's description comes from cpuid and sysfs;
// named CPUs (--mcpu) are resolved by codegen (codegen/target_machine.h), where LLVM knows them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace fluidml::target {

/// Sizes of the data caches of one core (L1d, L2) and of the shared last level (L3), in bytes.
struct CacheSizes {
  size_t l1d = 32 * 1024;
  size_t l2 = 1024 * 1024;
  size_t l3 = 32 * 1024 * 1024;
};

struct TargetDescription {
  /// The LLVM target triple; only x86_64 triples are supported.
  std::string triple = "x86_64-unknown-linux-gnu";
  /// The LLVM CPU name ("skylake-avx512", "x86-64-v3", ...); "native" stands for the host's, resolved by codegen.
  std::string cpu = "native";
  /// The LLVM feature string ("+avx2,+fma,..."); empty means the CPU's own features (the host's for "native").
  std::string features;
  /// The widest vector ISA the code may use: "avx512", "avx2" or "sse4.2".
  std::string isa = "avx512";
  /// Bytes of one vector register (64 with AVX-512, 32 with AVX2, 16 with SSE).
  int vectorBytes = 64;
  /// Vector registers the register allocator has (32 zmm with AVX-512, 16 ymm/xmm otherwise).
  int vectorRegisters = 32;
  CacheSizes cache;
  /// A kernel that touches fewer bytes and does fewer FLOPs than this runs on the calling thread: a few
  /// microseconds of work, about what waking the thread pool costs.
  size_t serialBytes = 48 * 1024;
  double serialFlops = 1 << 20;
  /// Thread-pool thresholds of the loop kernels. Strided elementwise and copy nests go parallel from this many
  /// elements, in tasks of about `elementsPerTask` (at most `maxTasks` of them); slice kernels (reductions, norms,
  /// indexing), which do more work per element, from `parallelSliceElements`.
  int64_t parallelNestElements = int64_t{1} << 16;
  int64_t elementsPerTask = 8192;
  int64_t maxTasks = 64;
  int64_t parallelSliceElements = int64_t{1} << 15;
  /// GEMM blocking: the k-block (a kBlock x NR panel of B stays in L1: 32 KiB with AVX-512) and the rows of an M
  /// chunk (its A block stays in L2).
  int64_t gemmKBlock = 256;
  int64_t gemmMBlock = 256;
  /// Threads the compiled model runs with (its thread pool size).
  int threads = 1;

  /// Lanes of one vector of elements of `elementBytes` bytes (16 floats with AVX-512, 8 with AVX2).
  int lanes(size_t elementBytes) const { return vectorBytes / static_cast<int>(elementBytes); }
  int floatLanes() const { return lanes(4); }
  /// Everything that shapes generated code, as one line (cache keys, diagnostics); not the thread count,
  /// which the code reads at run time.
  std::string summary() const;

  /// This machine: the ISA from cpuid, caches from sysfs (defaults where unreadable), cpu "native".
  static TargetDescription host();
  /// The vector facts of an ISA level ("avx512", "avx2", "sse4.2"): width and register count; the rest default.
  static TargetDescription forIsa(const std::string &isa);
};

}  // namespace fluidml::target
