// `fluidml plan MODEL [--pipeline P] [--json]`: the memory plan of the pipeline, and the same pipeline with each
// planner, plus the lower bound with and without the pipeline's schedule.
#include <cstdio>
#include <iostream>

#include <nlohmann/json.hpp>

#include "core/analysis/model_stats.h"
#include "tools/commands.h"
#include "tools/compile_pipeline.h"

namespace fluidml::cli {

namespace {

constexpr const char *kPlanners[] = {"naive", "greedy-size", "best-of"};

/// The spec with every memory-plan step's planner replaced (a memory-plan step is appended when missing).
pass::PipelineSpec withPlanner(pass::PipelineSpec spec, const std::string &planner) {
  bool found = false;
  for (auto &step : spec.steps)
    if (step.pass == "memory-plan") {
      step.options["planner"] = planner;
      found = true;
    }
  if (!found) spec.steps.push_back({"memory-plan", {{"planner", planner}}});
  return spec;
}

/// The spec with the schedule steps set to keep the import order.
pass::PipelineSpec withImportOrder(pass::PipelineSpec spec) {
  for (auto &step : spec.steps)
    if (step.pass == "schedule") step.options["strategy"] = "import";
  return spec;
}

struct PlanRun {
  analysis::MemoryPlan plan;
  std::string schedule;
  double compileMs = 0;
};

Expected<PlanRun> planWith(const ir::Graph &imported, const pass::PipelineSpec &spec, const CliOptions &options) {
  ir::Graph graph = imported.clone();
  FLUIDML_ASSIGN_OR_RETURN(CompileOutcome outcome, runPipeline(graph, spec, options));
  const analysis::MemoryPlan *plan = passes::memoryPlan(outcome.context.analyses);
  if (plan == nullptr) return Status::error("pipeline '" + spec.name + "' made no memory plan");
  return PlanRun{*plan, passes::scheduleName(outcome.context.analyses), outcome.totalMilliseconds};
}

nlohmann::json planJson(const PlanRun &run) {
  const analysis::MemoryPlan &p = run.plan;
  return {{"planner", p.planner},           {"placement_order", p.placementOrder},
          {"schedule", run.schedule},       {"lower_bound_bytes", p.lowerBoundBytes},
          {"arena_bytes", p.arenaBytes},    {"naive_bytes", p.naiveBytes},
          {"efficiency", p.efficiency()},   {"in_place_reuses", p.inPlaceReuses},
          {"view_reuses", p.viewReuses},    {"alignment", p.alignment},
          {"compile_ms", run.compileMs}};
}

}  // namespace

int planCommand(const CliOptions &options) {
  auto imported = loadModel(options);
  if (!imported) return reportError(imported.status());
  auto spec = resolvePipeline(options.pipeline);
  if (!spec) return reportError(spec.status());

  // The pipeline as written (this run alone writes --trace).
  auto main = planWith(*imported, *spec, options);
  if (!main) return reportError(main.status());
  CliOptions quiet = options;
  quiet.trace.reset();
  auto importOrder = planWith(*imported, withImportOrder(*spec), quiet);
  if (!importOrder) return reportError(importOrder.status());
  std::vector<PlanRun> perPlanner;
  for (const char *planner : kPlanners) {
    auto run = planWith(*imported, withPlanner(*spec, planner), quiet);
    if (!run) return reportError(run.status());
    perPlanner.push_back(std::move(run).value());
  }
  const size_t weightsBytes = analysis::computeModelStats(*imported).parameterBytes;

  if (options.json) {
    nlohmann::json out = planJson(*main);
    out["model"] = options.positional[0];
    out["pipeline"] = spec->name;
    out["weights_bytes"] = weightsBytes;
    out["lower_bound_import_order_bytes"] = importOrder->plan.lowerBoundBytes;
    for (size_t i = 0; i < perPlanner.size(); ++i) out["planners"][kPlanners[i]] = planJson(perPlanner[i]);
    std::cout << out.dump(2) << '\n';
    return kExitOk;
  }
  auto mib = [](size_t bytes) { return static_cast<double>(bytes) / (1024.0 * 1024.0); };
  std::printf("model %s, pipeline '%s' (schedule: %s, planned in %.1f ms)\n", options.positional[0].c_str(),
              spec->name.c_str(), main->schedule.c_str(), main->compileMs);
  std::printf("lower bound: %.3f MiB with the pipeline's schedule, %.3f MiB in import order\n",
              mib(main->plan.lowerBoundBytes), mib(importOrder->plan.lowerBoundBytes));
  std::printf("weights: %.3f MiB (outside the arena; so are model inputs and outputs)\n\n", mib(weightsBytes));
  std::printf("%-12s %14s %14s %10s %14s %9s %6s\n", "planner", "arena bytes", "lower bound", "efficiency",
              "naive bytes", "in-place", "views");
  for (const PlanRun &run : perPlanner) {
    const analysis::MemoryPlan &p = run.plan;
    std::printf("%-12s %14zu %14zu %9.2f%% %14zu %9d %6d\n", p.planner.c_str(), p.arenaBytes, p.lowerBoundBytes,
                100.0 * p.efficiency(), p.naiveBytes, p.inPlaceReuses, p.viewReuses);
  }
  std::printf("\nthe pipeline's own plan: %s, arena %zu bytes, efficiency %.2f%%\n", main->plan.planner.c_str(),
              main->plan.arenaBytes, 100.0 * main->plan.efficiency());
  return kExitOk;
}

}  // namespace fluidml::cli
