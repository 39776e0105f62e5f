// memory-plan: places every intermediate tensor of the current order in one arena (core/analysis/memory_plan:
// lifetimes, zero-copy views, in-place elementwise ops, then naive / greedy-by-size best fit / best of several
// orders). An analysis pass: it leaves the graph alone, stores the plan as the "memory-plan" analysis and
// proves it with checkMemoryPlan before publishing it.
#include "core/analysis/memory_plan.h"
#include "passes/analyses.h"
#include "passes/passes.h"

namespace fluidml::passes {

namespace {

Expected<analysis::MemoryPlanOptions> memoryPlanOptionsFromJson(const nlohmann::json &j) {
  pass::OptionsReader reader("memory-plan", j);
  FLUIDML_RETURN_IF_ERROR(reader.validate({"planner", "alignment", "in-place", "views"}));
  analysis::MemoryPlanOptions options;
  FLUIDML_RETURN_IF_ERROR(reader.getChoice("planner", {"naive", "greedy-size", "best-of"}, options.planner));
  FLUIDML_RETURN_IF_ERROR(reader.get("alignment", options.alignment));
  if (options.alignment == 0 || (options.alignment & (options.alignment - 1)) != 0)
    return Status::error("pass 'memory-plan': option 'alignment' must be a power of two, got " +
                         std::to_string(options.alignment));
  FLUIDML_RETURN_IF_ERROR(reader.get("in-place", options.inPlace));
  FLUIDML_RETURN_IF_ERROR(reader.get("views", options.views));
  return options;
}

class MemoryPlanPass final : public pass::Pass {
 public:
  static constexpr std::string_view kName = "memory-plan";
  explicit MemoryPlanPass(analysis::MemoryPlanOptions options) : options_(std::move(options)) {}

  std::string_view name() const override { return kName; }
  nlohmann::json options() const override {
    return {{"planner", options_.planner},
            {"alignment", options_.alignment},
            {"in-place", options_.inPlace},
            {"views", options_.views}};
  }

  Expected<pass::PassResult> run(ir::Graph &graph, pass::PassContext &context) override {
    FLUIDML_ASSIGN_OR_RETURN(analysis::MemoryPlan plan, analysis::planMemory(graph, options_));
    // The checker failing means the planner is wrong, not the model.
    Status checked = analysis::checkMemoryPlan(graph, plan);
    if (!checked.isOk()) return Status::internal("the memory plan fails its checker: " + checked.message());
    pass::PassResult result;
    result.stats["arena_bytes"] = static_cast<double>(plan.arenaBytes);
    result.stats["lower_bound_bytes"] = static_cast<double>(plan.lowerBoundBytes);
    result.stats["naive_bytes"] = static_cast<double>(plan.naiveBytes);
    result.stats["efficiency"] = plan.efficiency();
    result.stats["in_place_reuses"] = plan.inPlaceReuses;
    result.stats["view_reuses"] = plan.viewReuses;
    context.analyses.set(kMemoryPlanAnalysis, std::move(plan));
    return result;
  }

 private:
  analysis::MemoryPlanOptions options_;
};

}  // namespace

PassFactoryResult createMemoryPlanPass(const nlohmann::json &options) {
  FLUIDML_ASSIGN_OR_RETURN(analysis::MemoryPlanOptions parsed, memoryPlanOptionsFromJson(options));
  return std::unique_ptr<pass::Pass>(std::make_unique<MemoryPlanPass>(std::move(parsed)));
}

}  // namespace fluidml::passes
