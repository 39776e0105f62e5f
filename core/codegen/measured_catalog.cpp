#include "core/codegen/measured_catalog.h"

#include <algorithm>
#include <cmath>
#include <iostream>
#include <set>

#include "core/analysis/model_stats.h"
#include "core/codegen/compiler.h"
#include "core/codegen/target_machine.h"

namespace fluidml::codegen {

target::TargetDescription resolvedForCache(const target::TargetDescription &target) {
  if (target.cpu != "native") return target;
  auto host = resolveTarget("native", target.triple);
  if (!host) return target;
  target::TargetDescription resolved = target;
  resolved.cpu = host->cpu;
  resolved.features = host->features;
  return resolved;
}

target::CostCache openDefaultCostCache(const target::TargetDescription &target) {
  target::CostCache cache(target::CostCache::defaultPath(), target::MachineIdentity::of(resolvedForCache(target)));
  cache.load(std::cerr);
  return cache;
}

MeasuredKernelCatalog::MeasuredKernelCatalog(MeasuredCatalogOptions options, target::CostCache &cache)
    : options_(std::move(options)), cache_(cache) {
  options_.target = resolvedForCache(options_.target);
  options_.timing.target = options_.target;
}

std::vector<target::KernelVariant> MeasuredKernelCatalog::variants(const ir::Graph &graph, const ir::Node &node) const {
  if (!unloweredOps(target::probeGraph(graph, node, {})).empty()) return {};
  return target::enumerateVariants(graph, node, options_.target.floatLanes(), checkNodeLayouts);
}

Expected<target::MachineRates> MeasuredKernelCatalog::machineRates(int threads) const {
  if (auto rates = cache_.rates(threads)) return *rates;
  FLUIDML_ASSIGN_OR_RETURN(target::MachineRates rates, measureMachineRates(options_.target, threads));
  cache_.setRates(threads, rates);
  return rates;
}

Expected<target::KernelCost> MeasuredKernelCatalog::analyticCost(const ir::Graph &graph, const ir::Node &node,
                                                                const target::KernelVariant &variant,
                                                                int threads) const {
  FLUIDML_ASSIGN_OR_RETURN(target::MachineRates rates, machineRates(threads));
  double bytes = 0;
  auto add = [&](const std::vector<ir::ValueId> &values, const std::vector<ir::Layout> &layouts) {
    for (size_t i = 0; i < values.size(); ++i) {
      if (values[i] == ir::kNoValue) continue;
      ir::TensorType type = graph.value(values[i]).type;
      type.layout = i < layouts.size() ? layouts[i] : ir::Layout::rowMajor();
      bytes += static_cast<double>(type.bytes());
    }
  };
  add(node.inputs, variant.inputs);
  add(node.outputs, variant.outputs);
  const double flops = analysis::nodeFlops(graph, node);
  target::KernelCost cost;
  cost.nanoseconds = std::max(bytes / rates.bytesPerSecond, flops / rates.flopsPerSecond) * 1e9;
  cost.source = "analytic";
  return cost;
}

Expected<target::KernelCost> MeasuredKernelCatalog::cost(const ir::Graph &graph, const ir::Node &node,
                                                         const target::KernelVariant &variant, int threads) const {
  const std::string key = target::costKey(graph, node, variant, threads);
  auto fromCache = [&](bool cached) {
    const target::CostEntry &entry = *cache_.find(key);
    return target::KernelCost{entry.nanoseconds, entry.source, cached, entry.strategy, entry.note};
  };
  if (cache_.find(key) != nullptr) return fromCache(true);
  if (options_.measure) {
    // measureMissing only adds to the cache: the catalog's view of costs stays logically const.
    FLUIDML_RETURN_IF_ERROR(measureMissing({TimingRequest{&graph, &node, variant}}, threads).status());
    if (cache_.find(key) != nullptr) return fromCache(false);
  }
  FLUIDML_ASSIGN_OR_RETURN(target::KernelCost cost, analyticCost(graph, node, variant, threads));
  cost.note = "measuring disabled";
  return cost;
}

Expected<MeasuredKernelCatalog::Counts> MeasuredKernelCatalog::measureMissing(
    const std::vector<TimingRequest> &requests, int threads,
    const std::function<void(size_t, size_t, const std::string &)> &progress) const {
  Counts counts;
  std::set<std::string> seen;
  std::vector<std::pair<std::string, const TimingRequest *>> pending;
  for (const TimingRequest &request : requests) {
    std::string key = target::costKey(*request.graph, *request.node, request.variant, threads);
    if (!seen.insert(key).second) continue;
    ++counts.unique;
    if (cache_.find(key) != nullptr) {
      ++counts.cached;
    } else {
      pending.emplace_back(std::move(key), &request);
    }
  }

  auto store = [&](const std::string &key, const TimingRequest &request, Expected<KernelTiming> timing) -> Status {
    if (timing) {
      cache_.put(key, {timing->nanoseconds, "measured", timing->strategy, timing->runs, ""});
      ++counts.measured;
      return Status::ok();
    }
    FLUIDML_ASSIGN_OR_RETURN(target::KernelCost estimate, analyticCost(*request.graph, *request.node, request.variant, threads));
    cache_.put(key, {estimate.nanoseconds, "analytic", "", 0, timing.status().message()});
    ++counts.analytic;
    counts.failures.push_back(request.node->opType + " (" + request.variant.implementation + "): " + timing.status().message());
    return Status::ok();
  };
  if (!options_.measure) {  // estimated on demand by cost(), never cached: a later run with measuring measures them
    counts.analytic = pending.size();
    return counts;
  }

  // Batches of bounded run time (by the roofline estimate) and memory (the operands' buffers all exist at once).
  std::vector<double> estimates;
  std::vector<size_t> bytes;
  for (const auto &[key, request] : pending) {
    FLUIDML_ASSIGN_OR_RETURN(target::KernelCost estimate, analyticCost(*request->graph, *request->node, request->variant, threads));
    estimates.push_back(estimate.nanoseconds);
    size_t operandBytes = 0;
    for (const std::vector<ir::ValueId> *values : {&request->node->inputs, &request->node->outputs})
      for (ir::ValueId v : *values)
        if (v != ir::kNoValue && !request->graph->value(v).isConstant()) operandBytes += request->graph->value(v).type.bytes();
    bytes.push_back(operandBytes);
  }
  size_t done = 0;
  while (done < pending.size()) {
    size_t end = done;
    double milliseconds = 0;
    size_t batchBytes = 0;
    while (end < pending.size() && end - done < options_.batchSize &&
           (end == done || (milliseconds + estimates[end] * 1e-6 <= options_.batchMilliseconds &&
                            batchBytes + bytes[end] <= options_.batchBytes))) {
      milliseconds += estimates[end] * 1e-6;
      batchBytes += bytes[end];
      ++end;
    }
    if (progress) {
      const TimingRequest &first = *pending[done].second;
      const ir::ValueId out = first.node->output(0);
      progress(done, pending.size(),
               first.node->opType + (out == ir::kNoValue ? "" : " " + first.graph->value(out).type.toString()));
    }
    std::vector<TimingRequest> batch;
    for (size_t i = done; i < end; ++i) batch.push_back(*pending[i].second);
    auto timings = timeKernels(batch, threads, options_.timing);
    for (size_t i = done; i < end; ++i) {
      const TimingRequest &request = *pending[i].second;
      if (timings) {
        FLUIDML_RETURN_IF_ERROR(store(pending[i].first, request, (*timings)[i - done]));
      } else if (batch.size() == 1) {
        FLUIDML_RETURN_IF_ERROR(store(pending[i].first, request, timings.status()));
      } else {  // find the kernel that broke the batch: one at a time
        auto alone = timeKernels({request}, threads, options_.timing);
        FLUIDML_RETURN_IF_ERROR(store(pending[i].first, request,
                                      alone ? Expected<KernelTiming>((*alone)[0]) : Expected<KernelTiming>(alone.status())));
      }
    }
    done = end;
  }
  if (progress) progress(pending.size(), pending.size(), "");
  return counts;
}

}  // namespace fluidml::codegen
