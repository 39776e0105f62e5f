// schedule: chooses the operator order. "import" keeps the order as it is (the baseline); "memory-aware" runs
// the greedy list schedulers of core/analysis/scheduling and keeps the order with the lowest peak of live
// intermediate bytes and memory-plan lower bound, never worse than the current order on either. Stats report
// both measures before and after, per candidate, and the floor no order can beat. Writes the "schedule"
// analysis (the strategy's name); a new order preserves no other analysis. Cost: see analysis/scheduling.cpp.
#include <algorithm>

#include "core/analysis/scheduling.h"
#include "passes/analyses.h"
#include "passes/passes.h"

namespace fluidml::passes {

namespace {

struct ScheduleOptions {
  std::string strategy = "memory-aware";  // "memory-aware" | "import"

  static Expected<ScheduleOptions> fromJson(const nlohmann::json &j);
  nlohmann::json toJson() const { return {{"strategy", strategy}}; }
};

Expected<ScheduleOptions> ScheduleOptions::fromJson(const nlohmann::json &j) {
  pass::OptionsReader reader("schedule", j);
  FLUIDML_RETURN_IF_ERROR(reader.validate({"strategy"}));
  ScheduleOptions options;
  FLUIDML_RETURN_IF_ERROR(reader.getChoice("strategy", {"memory-aware", "import"}, options.strategy));
  return options;
}

class SchedulePass final : public pass::Pass {
 public:
  static constexpr std::string_view kName = "schedule";
  explicit SchedulePass(ScheduleOptions options) : options_(std::move(options)) {}

  std::string_view name() const override { return kName; }
  nlohmann::json options() const override { return options_.toJson(); }

  Expected<pass::PassResult> run(ir::Graph &graph, pass::PassContext &context) override {
    pass::PassResult result;
    if (options_.strategy == "import") {
      const double peak = static_cast<double>(analysis::peakLiveBytes(graph, graph.order()));
      const double bound = static_cast<double>(analysis::planLowerBoundBytes(graph, graph.order()));
      result.stats["import_peak_bytes"] = result.stats["peak_bytes"] = peak;
      result.stats["import_lower_bound_bytes"] = result.stats["lower_bound_bytes"] = bound;
      context.analyses.set(kScheduleAnalysis, std::string("import"));
      return result;
    }
    analysis::MemoryAwareSchedule schedule = analysis::scheduleMemoryAware(graph);
    // The schedulers only reorder; anything else is a bug in them, not in the model.
    if (!analysis::isTopologicalOrder(graph, schedule.order))
      return Status::internal("the '" + schedule.winner + "' schedule is not a topological order");
    result.changed = schedule.order != graph.order();
    result.stats["import_peak_bytes"] = static_cast<double>(schedule.importPeakBytes);
    result.stats["peak_bytes"] = static_cast<double>(schedule.peakBytes);
    result.stats["import_lower_bound_bytes"] = static_cast<double>(schedule.importPlanLowerBoundBytes);
    result.stats["lower_bound_bytes"] = static_cast<double>(schedule.planLowerBoundBytes);
    result.stats["floor_bytes"] = static_cast<double>(schedule.floorBytes);
    for (const analysis::ScheduleCandidate &candidate : schedule.candidates) {
      std::string suffix = candidate.name;  // "peak_bytes_greedy_chain"
      std::replace(suffix.begin(), suffix.end(), '-', '_');
      result.stats["peak_bytes_" + suffix] = static_cast<double>(candidate.peakBytes);
      result.stats["lower_bound_bytes_" + suffix] = static_cast<double>(candidate.planLowerBoundBytes);
    }
    // A new order preserves no other analysis (the plan's lifetimes are steps of the old order).
    if (result.changed) graph.setOrder(std::move(schedule.order));
    context.analyses.set(kScheduleAnalysis, std::string("memory-aware"));
    return result;
  }

 private:
  ScheduleOptions options_;
};

}  // namespace

PassFactoryResult createSchedulePass(const nlohmann::json &options) {
  FLUIDML_ASSIGN_OR_RETURN(ScheduleOptions parsed, ScheduleOptions::fromJson(options));
  return std::unique_ptr<pass::Pass>(std::make_unique<SchedulePass>(std::move(parsed)));
}

}  // namespace fluidml::passes
