// The kernel catalog of this code generator: variants are the enumeration of target/kernel_catalog.h filtered by
// codegen::checkNodeLayouts (what each lowering declares it reads and writes); costs come from the cost cache,
// else from timing the variant's kernel alone (kernel_timing.h), else from a roofline estimate (bytes moved at
// the measured bandwidth against FLOPs at the measured GEMM rate) marked "analytic". Measured costs and the
// machine rates go into the cache; an analytic cost is cached only when measuring it failed (with the reason),
// so the next run does not try again.
#pragma once

#include <functional>

#include "core/codegen/kernel_timing.h"
#include "core/target/cost_cache.h"
#include "core/target/kernel_catalog.h"

namespace fluidml::codegen {

struct MeasuredCatalogOptions {
  /// The target; a "native" cpu is resolved to the host's CPU name (the cache records it).
  target::TargetDescription target = target::TargetDescription::host();
  /// False: costs missing from the cache are analytic (and not cached).
  bool measure = true;
  TimingOptions timing;            // its target is set from `target`
  size_t batchSize = 24;           // kernels per compiled module at most
  double batchMilliseconds = 40;   // and about this much estimated run time per batch
  size_t batchBytes = size_t{256} << 20;  // and at most this many bytes of non-constant operands (a big one alone)
};

class MeasuredKernelCatalog final : public target::KernelCatalog {
 public:
  /// `cache` must outlive the catalog (it may be memory-only: an empty path).
  MeasuredKernelCatalog(MeasuredCatalogOptions options, target::CostCache &cache);

  std::vector<target::KernelVariant> variants(const ir::Graph &graph, const ir::Node &node) const override;
  Expected<target::KernelCost> cost(const ir::Graph &graph, const ir::Node &node, const target::KernelVariant &variant,
                                    int threads) const override;

  /// How the costs of measureMissing's requests were found.
  struct Counts {
    size_t unique = 0;    // distinct cache keys among the requests
    size_t cached = 0;    // already in the cache
    size_t measured = 0;  // timed now
    size_t analytic = 0;  // measuring failed (or is disabled): roofline estimates
    std::vector<std::string> failures;  // why each kernel that failed to be timed failed
  };
  /// Times, `batchSize` to a module, every request whose key the cache lacks (each key once), at `threads`
  /// threads, and stores the results in the cache (const like cost(): the catalog's costs only get known). `progress(done, total, what)` is called before each batch
  /// and once at the end (done == total). A batch that fails is retried one kernel at a time; a kernel that
  /// still fails gets an analytic entry noting why.
  Expected<Counts> measureMissing(const std::vector<TimingRequest> &requests, int threads,
                                  const std::function<void(size_t, size_t, const std::string &)> &progress = {}) const;

  /// The machine's rates at `threads` threads: from the cache, else measured once and cached.
  Expected<target::MachineRates> machineRates(int threads) const;
  /// The roofline estimate of a variant: max(bytes moved / bandwidth, FLOPs / FLOP rate).
  Expected<target::KernelCost> analyticCost(const ir::Graph &graph, const ir::Node &node,
                                            const target::KernelVariant &variant, int threads) const;

  const target::TargetDescription &target() const { return options_.target; }

 private:
  MeasuredCatalogOptions options_;
  target::CostCache &cache_;
};

/// The cost cache for `target` (cpu resolved) at CostCache::defaultPath(), loaded (problems reported on stderr).
target::CostCache openDefaultCostCache(const target::TargetDescription &target);

/// `target` with a "native" cpu replaced by the host's CPU name (codegen::resolveTarget), as the cache keys it.
target::TargetDescription resolvedForCache(const target::TargetDescription &target);

}  // namespace fluidml::codegen
