// fold-constants: runs the reference kernel of every node whose operands are all constants (and Shape/Size of
// statically typed values) and replaces its outputs with the results; then drops constants nothing reads.
// Reuses analysis::inferTypesAndFold: one walk of the order, linear plus the folded kernels' work. Each folded
// node is reported as a replacement by nothing; the schedule analysis is preserved.
#include "core/analysis/constant_folding.h"
#include "passes/analyses.h"
#include "passes/passes.h"

namespace fluidml::passes {

namespace {

struct FoldConstantsOptions {
  /// Folded results larger than this stay computed at run time (no weight-sized copies in the model).
  int64_t maxFoldedBytes = int64_t{64} << 20;

  static Expected<FoldConstantsOptions> fromJson(const nlohmann::json &j);
  nlohmann::json toJson() const { return {{"max-folded-bytes", maxFoldedBytes}}; }
};

Expected<FoldConstantsOptions> FoldConstantsOptions::fromJson(const nlohmann::json &j) {
  pass::OptionsReader reader("fold-constants", j);
  FLUIDML_RETURN_IF_ERROR(reader.validate({"max-folded-bytes"}));
  FoldConstantsOptions options;
  FLUIDML_RETURN_IF_ERROR(reader.get("max-folded-bytes", options.maxFoldedBytes));
  if (options.maxFoldedBytes < 0)
    return Status::error("pass 'fold-constants': option 'max-folded-bytes' must be >= 0, got " +
                         std::to_string(options.maxFoldedBytes));
  return options;
}

class FoldConstantsPass final : public pass::Pass {
 public:
  static constexpr std::string_view kName = "fold-constants";
  explicit FoldConstantsPass(FoldConstantsOptions options) : options_(options) {}

  std::string_view name() const override { return kName; }
  nlohmann::json options() const override { return options_.toJson(); }

  Expected<pass::PassResult> run(ir::Graph &graph, pass::PassContext &) override {
    analysis::FoldOptions fold;
    fold.maxFoldedBytes = static_cast<size_t>(options_.maxFoldedBytes);
    const std::vector<ir::NodeId> orderBefore = graph.order();
    FLUIDML_ASSIGN_OR_RETURN(analysis::FoldStats stats, analysis::inferTypesAndFold(graph, fold));
    pass::PassResult result;
    // Each folded node is gone, replaced by constants (values, not nodes).
    for (ir::NodeId id : orderBefore)
      if (!graph.node(id).alive) result.replacements.push_back(pass::Replacement{"folded_nodes", {id}, {}});
    // Folding only removes nodes: the order of the rest stands.
    result.preserved.insert(std::string(kScheduleAnalysis));
    result.changed = stats.foldedNodes > 0 || stats.removedConstants > 0;
    result.stats["folded_nodes"] = static_cast<double>(stats.foldedNodes);
    result.stats["removed_constants"] = static_cast<double>(stats.removedConstants);
    return result;
  }

 private:
  FoldConstantsOptions options_;
};

}  // namespace

PassFactoryResult createFoldConstantsPass(const nlohmann::json &options) {
  FLUIDML_ASSIGN_OR_RETURN(FoldConstantsOptions parsed, FoldConstantsOptions::fromJson(options));
  return std::unique_ptr<pass::Pass>(std::make_unique<FoldConstantsPass>(parsed));
}

}  // namespace fluidml::passes
