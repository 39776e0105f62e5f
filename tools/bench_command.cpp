// `fluidml bench MODEL [--pipeline P] [--threads N] [--iters K] [--warmup W] [--json] [--profile]`: compiles the
// model once with the JIT, runs W untimed warm-up iterations, then K timed ones on deterministic random inputs;
// reports the median, min and max latency, peak RSS (VmHWM, getrusage as fallback), arena/weights/lower-bound
// bytes and compile time. With --profile the code also times each node (CompileOptions::profile, two clock reads
// per kernel) over the K timed runs, reported per node, per op type and per kernel strategy.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>

#include <nlohmann/json.hpp>

#include "core/codegen/jit_cache.h"
#include "core/interp/random_inputs.h"
#include "tools/commands.h"
#include "tools/profile_report.h"

namespace fluidml::cli {

namespace {

/// The process's peak resident set. VmHWM first: Linux's getrusage ru_maxrss survives execve, so a child
/// started by a big parent (a Python benchmark driver) would report the parent's peak.
size_t peakRssBytes() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("VmHWM:", 0) == 0) return static_cast<size_t>(std::stoull(line.substr(6))) * 1024;  // kB
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<size_t>(usage.ru_maxrss) * 1024;  // Linux reports KiB
}

}  // namespace

int benchCommand(const CliOptions &options) {
  if (options.positional.empty()) return reportError(Status::error("bench: missing MODEL"));
  auto prepared = prepareModel(options);
  if (!prepared) return reportError(prepared.status());
  const std::string &model = options.positional[0];
  codegen::setJitCacheEnabled(false);  // compile_ms times a real compilation
  // bench only runs the compiled code: the weights it reads packed are freed from the graph as they are packed.
  codegen::CompileOptions compileOptions = compileOptionsFrom(options);
  compileOptions.profile = options.profile;
  auto compiled = codegen::compileJitReleasingPackedConstants(prepared->graph, prepared->plan, compileOptions);
  if (!compiled) return reportError(compiled.status().withContext(model));
  codegen::CompiledModel &runner = **compiled;

  const std::vector<ir::Tensor> inputs = interp::makeRandomInputs(prepared->graph, options.seed);
  std::vector<ir::Tensor> outputs;
  for (const ir::TensorType &type : runner.outputTypes()) outputs.push_back(ir::Tensor::zeros(type.dtype, type.shape));
  for (int i = 0; i < options.warmup; ++i) {
    Status status = runner.run(inputs, outputs);
    if (!status.isOk()) return reportError(status.withContext(model));
  }
  runner.resetProfile();  // the profile covers the timed runs
  std::vector<double> times;
  times.reserve(static_cast<size_t>(options.iters));
  for (int i = 0; i < options.iters; ++i) {
    const auto start = std::chrono::steady_clock::now();
    Status status = runner.run(inputs, outputs);
    times.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
    if (!status.isOk()) return reportError(status.withContext(model));
  }
  std::vector<double> sorted = times;
  std::sort(sorted.begin(), sorted.end());
  const size_t n = sorted.size();
  const double median = n % 2 == 1 ? sorted[n / 2] : 0.5 * (sorted[n / 2 - 1] + sorted[n / 2]);

  if (options.json) {
    nlohmann::json out{{"model", model},
                       {"latency_ms", median},
                       {"latency_min_ms", sorted.front()},
                       {"latency_max_ms", sorted.back()},
                       {"peak_rss_bytes", peakRssBytes()},
                       {"arena_bytes", runner.arenaBytes()},
                       {"scratch_bytes", runner.scratchBytes()},
                       {"weights_bytes", runner.weightsBytes()},
                       {"lower_bound_bytes", prepared->plan.lowerBoundBytes},
                       {"compile_ms", runner.compileMilliseconds()},
                       {"pipeline_ms", prepared->pipelineMilliseconds},
                       {"threads", options.threads},
                       {"cpu", options.target.cpu},
                       {"isa", options.target.isa},
                       {"pipeline", prepared->pipelineName},
                       {"iters", options.iters},
                       {"warmup", options.warmup},
                       {"planner", prepared->plan.planner},
                       {"latencies_ms", times}};
    if (options.profile) out["profile"] = profileJson(runner.profile(), options.iters);
    std::cout << out.dump() << '\n';
    return kExitOk;
  }
  auto mib = [](size_t bytes) { return static_cast<double>(bytes) / (1024.0 * 1024.0); };
  std::printf("%s (pipeline '%s', %d thread%s, target %s, %s)\n", model.c_str(), prepared->pipelineName.c_str(),
              options.threads, options.threads == 1 ? "" : "s", options.target.cpu.c_str(), options.target.isa.c_str());
  std::printf("  latency   median %.3f ms  min %.3f ms  max %.3f ms  (%d runs after %d warm-up)\n", median,
              sorted.front(), sorted.back(), options.iters, options.warmup);
  std::printf("  compile   %.1f ms (pipeline %.1f ms)\n", runner.compileMilliseconds(), prepared->pipelineMilliseconds);
  std::printf("  memory    arena %.2f MiB (lower bound %.2f MiB), kernel scratch %.2f MiB, weights %.2f MiB, "
              "peak RSS %.1f MiB\n",
              mib(runner.arenaBytes()), mib(prepared->plan.lowerBoundBytes), mib(runner.scratchBytes()),
              mib(runner.weightsBytes()), mib(peakRssBytes()));
  if (options.profile) {
    double sum = 0;
    for (double t : times) sum += t;
    printProfile(stdout, runner.profile(), options.iters, sum / static_cast<double>(n));
  }
  return kExitOk;
}

}  // namespace fluidml::cli
