// `fluidml tune MODEL [--threads N[,M]] [--pipeline P] [--json]`: fills the kernel-cost cache for a model. Runs
// the pipeline's graph rewrites up to its first layout pass (fusion and the like: the nodes the layout choice
// will cost), enumerates every node's kernel variants and the conversions of every tensor between its candidate
// layouts (the kernel catalog), and times what the cost cache lacks, at each thread count, batches of kernels to
// a compiled module; then prints how many entries were measured, found cached, or estimated analytically.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <deque>
#include <iostream>
#include <map>

#include <nlohmann/json.hpp>

#include "core/codegen/measured_catalog.h"
#include "tools/commands.h"
#include "tools/compile_pipeline.h"

namespace fluidml::cli {

namespace {

/// Whether a pipeline step decides layouts or comes after that decision (tune stops before the first one).
bool atOrAfterLayouts(const std::string &pass) {
  return pass.find("layout") != std::string::npos || pass == "vote" || pass == "chains" || pass == "schedule" ||
         pass == "memory-plan";
}

/// A progress bar on a terminal, otherwise a plain line at every tenth of the work.
class Progress {
 public:
  explicit Progress(bool quiet) : terminal_(!quiet && isatty(STDERR_FILENO) != 0), quiet_(quiet) {}
  void update(int threads, size_t done, size_t total, const std::string &what) {
    if (quiet_ || total == 0) return;
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    if (terminal_) {
      constexpr int kWidth = 30;
      const int filled = static_cast<int>(kWidth * done / total);
      std::fprintf(stderr, "\r\033[K  tune %d thread%s [%s%s] %zu/%zu kernels %.1f s %s", threads, threads == 1 ? "" : "s",
                   std::string(static_cast<size_t>(filled), '#').c_str(),
                   std::string(static_cast<size_t>(kWidth - filled), '.').c_str(), done, total, seconds,
                   what.substr(0, 40).c_str());
      if (done == total) std::fprintf(stderr, "\n");
      std::fflush(stderr);
      return;
    }
    const size_t tenth = 10 * done / total;
    if (done != total && tenth == lastTenth_) return;
    lastTenth_ = tenth;
    std::fprintf(stderr, "tune: %d thread%s: %zu/%zu kernels measured (%.1f s)\n", threads, threads == 1 ? "" : "s",
                 done, total, seconds);
  }
  void reset() { lastTenth_ = static_cast<size_t>(-1); }

 private:
  bool terminal_;
  bool quiet_;
  size_t lastTenth_ = static_cast<size_t>(-1);
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

}  // namespace

int tuneCommand(const CliOptions &options) {
  if (options.positional.empty()) return reportError(Status::error("tune: missing MODEL"));
  const std::string &model = options.positional[0];
  const auto start = std::chrono::steady_clock::now();
  auto graph = loadModel(options);
  if (!graph) return reportError(graph.status());
  const double importMs = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  auto spec = resolvePipeline(options.pipeline);
  if (!spec) return reportError(spec.status());
  std::string stoppedAt;
  for (size_t i = 0; i < spec->steps.size(); ++i)
    if (atOrAfterLayouts(spec->steps[i].pass)) {
      stoppedAt = spec->steps[i].pass;
      spec->steps.resize(i);
      break;
    }
  auto outcome = runPipeline(*graph, *spec, options);
  if (!outcome) return reportError(outcome.status().withContext(model));

  target::CostCache cache = codegen::openDefaultCostCache(options.target);
  codegen::MeasuredCatalogOptions catalogOptions;
  catalogOptions.target = options.target;
  codegen::MeasuredKernelCatalog catalog(catalogOptions, cache);

  // Every node's variants, then every tensor's conversions (one conversion graph per tensor type).
  std::vector<codegen::TimingRequest> requests;
  size_t nodes = 0, unsupported = 0, variants = 0, conversions = 0;
  for (ir::NodeId id : graph->order()) {
    const ir::Node &node = graph->node(id);
    ++nodes;
    const std::vector<target::KernelVariant> found = catalog.variants(*graph, node);
    if (found.empty()) ++unsupported;
    variants += found.size();
    for (const target::KernelVariant &variant : found) requests.push_back({&*graph, &node, variant});
  }
  std::deque<ir::Graph> conversionGraphs;
  std::map<std::string, const ir::Graph *> byType;
  for (size_t v = 0; v < graph->valueCapacity(); ++v) {
    const auto value = static_cast<ir::ValueId>(v);
    if (!graph->value(value).alive) continue;
    const std::vector<ir::Layout> layouts = target::valueCandidates(*graph, value, catalog.target().floatLanes());
    if (layouts.size() < 2) continue;
    const ir::TensorType &type = graph->value(value).type;
    const ir::Graph *&conversion = byType[type.toString()];
    if (conversion == nullptr) conversion = &conversionGraphs.emplace_back(target::conversionGraph(type));
    const ir::Node &relayout = conversion->node(conversion->order().front());
    for (const ir::Layout &from : layouts)
      for (const ir::Layout &to : layouts)
        if (!(from == to)) {
          requests.push_back({conversion, &relayout, target::conversionVariant(from, to)});
          ++conversions;
        }
  }

  Progress progress(options.json);
  codegen::MeasuredKernelCatalog::Counts total;
  for (int threads : options.threadCounts) {
    progress.reset();
    auto counts = catalog.measureMissing(requests, threads, [&](size_t done, size_t all, const std::string &what) {
      progress.update(threads, done, all, what);
      if (Status saved = cache.save(); !saved.isOk()) std::cerr << "fluidml: warning: " << saved.message() << '\n';
    });
    if (!counts) return reportError(counts.status().withContext(model));
    total.unique += counts->unique;
    total.cached += counts->cached;
    total.measured += counts->measured;
    total.analytic += counts->analytic;
    for (std::string &failure : counts->failures) total.failures.push_back(std::move(failure));
  }
  // Kernels that could not be timed have analytic costs; say why (a few), since it is a code generation problem.
  for (size_t i = 0; i < total.failures.size() && i < 5; ++i)
    std::cerr << "fluidml: warning: could not time " << total.failures[i] << '\n';
  if (total.failures.size() > 5) std::cerr << "fluidml: warning: ... and " << total.failures.size() - 5 << " more\n";
  // The model as it stands (every node in the layouts it has now) by the table: the sum of its nodes' costs, to
  // hold against `fluidml bench` (the layout passes' predictions are sums like it).
  std::map<int, double> predictedMs;
  for (int threads : options.threadCounts) {
    for (ir::NodeId id : graph->order()) {
      const ir::Node &node = graph->node(id);
      target::KernelVariant current;
      for (ir::ValueId v : node.inputs)
        current.inputs.push_back(v == ir::kNoValue ? ir::Layout::rowMajor() : graph->value(v).type.layout);
      for (ir::ValueId v : node.outputs)
        current.outputs.push_back(v == ir::kNoValue ? ir::Layout::rowMajor() : graph->value(v).type.layout);
      for (const target::KernelVariant &variant : catalog.variants(*graph, node)) {
        if (variant.inputs != current.inputs || variant.outputs != current.outputs) continue;
        auto cost = catalog.cost(*graph, node, variant, threads);
        if (!cost) return reportError(cost.status().withContext(model));
        predictedMs[threads] += cost->nanoseconds * 1e-6;
        break;
      }
    }
  }
  if (Status saved = cache.save(); !saved.isOk()) return reportError(saved);
  const double wallMs = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();

  std::string threadList;
  for (int threads : options.threadCounts) threadList += (threadList.empty() ? "" : ",") + std::to_string(threads);
  if (options.json) {
    nlohmann::json out{{"model", model},
                       {"pipeline", spec->name},
                       {"stopped_before", stoppedAt},
                       {"threads", options.threadCounts},
                       {"nodes", nodes},
                       {"unsupported_nodes", unsupported},
                       {"variants", variants},
                       {"conversions", conversions},
                       {"unique_entries", total.unique},
                       {"measured", total.measured},
                       {"cached", total.cached},
                       {"analytic", total.analytic},
                       {"cache", cache.path()},
                       {"cache_entries", cache.size()},
                       {"predicted_ms", [&] {
                          nlohmann::json byThreads = nlohmann::json::object();
                          for (const auto &[threads, ms] : predictedMs) byThreads[std::to_string(threads)] = ms;
                          return byThreads;
                        }()},
                       {"wall_ms", wallMs},
                       {"import_ms", importMs}};
    std::cout << out.dump() << '\n';
    return kExitOk;
  }
  std::printf("tuned %s (pipeline '%s'%s, threads %s, target %s, %s)\n", model.c_str(), spec->name.c_str(),
              stoppedAt.empty() ? "" : (" up to '" + stoppedAt + "'").c_str(), threadList.c_str(),
              catalog.target().cpu.c_str(), catalog.target().isa.c_str());
  std::printf("  nodes     %zu (%zu kernel variants%s), %zu tensor conversions\n", nodes, variants,
              unsupported == 0 ? "" : (", " + std::to_string(unsupported) + " nodes without code generation").c_str(),
              conversions);
  std::printf("  entries   %zu unique: %zu measured, %zu cached, %zu analytic\n", total.unique, total.measured,
              total.cached, total.analytic);
  std::string predicted;
  for (const auto &[threads, ms] : predictedMs)
    predicted += (predicted.empty() ? "" : ", ") + std::to_string(threads) + " thread" + (threads == 1 ? "" : "s") +
                 " " + std::to_string(ms).substr(0, std::to_string(ms).find('.') + 3) + " ms";
  std::printf("  predicted %s (sum of the node costs in the current layouts)\n", predicted.c_str());
  std::printf("  cache     %s (%zu entries)\n", cache.path().empty() ? "(in memory: FLUIDML_CACHE_DIR=off)" : cache.path().c_str(),
              cache.size());
  std::printf("  wall time %.1f s (model import %.1f s)\n", wallMs / 1000.0, importMs / 1000.0);
  return kExitOk;
}

}  // namespace fluidml::cli
