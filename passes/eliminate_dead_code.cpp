// eliminate-dead-code: removes the nodes none of whose outputs reach a graph output, then the constants nothing
// reads any more. Reverse reachability from the graph outputs over producer links (mark and sweep, as in
// MLIR's and LLVM's aggressive dead code elimination): O(nodes + uses). Graph inputs stay (they are the
// model's interface). The removed nodes are reported as one replacement by nothing; the schedule analysis
// is preserved.
#include <algorithm>

#include "core/analysis/constant_folding.h"
#include "passes/analyses.h"
#include "passes/passes.h"

namespace fluidml::passes {

namespace {

struct EliminateDeadCodeOptions {
  static Expected<EliminateDeadCodeOptions> fromJson(const nlohmann::json &j);
};

Expected<EliminateDeadCodeOptions> EliminateDeadCodeOptions::fromJson(const nlohmann::json &j) {
  pass::OptionsReader reader("eliminate-dead-code", j);
  FLUIDML_RETURN_IF_ERROR(reader.validate({}));
  return EliminateDeadCodeOptions{};
}

class EliminateDeadCodePass final : public pass::Pass {
 public:
  static constexpr std::string_view kName = "eliminate-dead-code";
  explicit EliminateDeadCodePass(EliminateDeadCodeOptions) {}

  std::string_view name() const override { return kName; }

  Expected<pass::PassResult> run(ir::Graph &graph, pass::PassContext &) override {
    // Mark: every node that produces a value a graph output depends on.
    std::vector<bool> live(graph.nodeCapacity(), false);
    std::vector<ir::NodeId> work;
    auto markProducer = [&](ir::ValueId value) {
      if (value == ir::kNoValue) return;
      ir::NodeId producer = graph.value(value).producer;
      if (producer == ir::kNoNode || live[static_cast<size_t>(producer)]) return;
      live[static_cast<size_t>(producer)] = true;
      work.push_back(producer);
    };
    for (ir::ValueId out : graph.outputs()) markProducer(out);
    while (!work.empty()) {
      ir::NodeId id = work.back();
      work.pop_back();
      for (ir::ValueId in : graph.node(id).inputs) markProducer(in);
    }

    // Sweep in reverse order: a dead node's readers are dead too and come later, so they are gone first.
    std::vector<ir::NodeId> order = graph.order();
    pass::Replacement dead{"removed_nodes", {}, {}};
    for (auto it = order.rbegin(); it != order.rend(); ++it) {
      if (live[static_cast<size_t>(*it)]) continue;
      graph.eraseNode(*it);
      dead.removed.push_back(*it);
    }
    const size_t removedNodes = dead.removed.size();
    size_t removedConstants = analysis::removeUnusedConstants(graph);

    pass::PassResult result;
    result.changed = removedNodes > 0 || removedConstants > 0;
    result.stats["removed_nodes"] = static_cast<double>(removedNodes);
    result.stats["removed_constants"] = static_cast<double>(removedConstants);
    // Removing nodes keeps the order of the others.
    result.preserved.insert(std::string(kScheduleAnalysis));
    if (removedNodes > 0) {
      std::reverse(dead.removed.begin(), dead.removed.end());  // in schedule order
      result.replacements.push_back(std::move(dead));
    }
    return result;
  }
};

}  // namespace

PassFactoryResult createEliminateDeadCodePass(const nlohmann::json &options) {
  FLUIDML_ASSIGN_OR_RETURN(EliminateDeadCodeOptions parsed, EliminateDeadCodeOptions::fromJson(options));
  return std::unique_ptr<pass::Pass>(std::make_unique<EliminateDeadCodePass>(parsed));
}

}  // namespace fluidml::passes
