// The snapshot recorder: a deep clone of the graph and copies of the analyses after each pass that changed
// something, O(graph) per recorded pass (constant buffers are shared, not copied).
#include "core/pass/snapshot.h"

namespace fluidml::pass {

namespace {

std::shared_ptr<const Snapshot> makeSnapshot(int index, std::string passName, nlohmann::json passOptions,
                                             PassResult result, const ir::Graph &graph, const PassContext &context) {
  auto snapshot = std::make_shared<Snapshot>();
  snapshot->index = index;
  snapshot->passName = std::move(passName);
  snapshot->passOptions = std::move(passOptions);
  snapshot->result = std::move(result);
  snapshot->graph = graph.clone();
  snapshot->analyses = context.analyses;
  return snapshot;
}

}  // namespace

void SnapshotRecorder::recordInitial(const ir::Graph &graph, const PassContext &context) {
  snapshots_.clear();
  snapshots_.push_back(makeSnapshot(0, "import", nlohmann::json::object(), PassResult{}, graph, context));
}

bool SnapshotRecorder::sameAnalyses(const AnalysisStore &a, const AnalysisStore &b) const {
  static const AnalysisRegistry kNoKinds;  // compares entries only
  return (registry_ != nullptr ? *registry_ : kNoKinds).sameAnalyses(a, b);
}

Status SnapshotRecorder::afterPass(const Pass &pass, const ir::Graph &graph, const PassContext &context,
                                   const PassResult &result) {
  // Without recordInitial, the analyses are compared with an empty store and numbering still starts at 1.
  static const AnalysisStore kEmpty;
  const AnalysisStore &last = snapshots_.empty() ? kEmpty : snapshots_.back()->analyses;
  if (!result.changed && sameAnalyses(context.analyses, last)) return Status::ok();
  int index = snapshots_.empty() ? 1 : snapshots_.back()->index + 1;
  snapshots_.push_back(makeSnapshot(index, std::string(pass.name()), pass.options(), result, graph, context));
  return Status::ok();
}

}  // namespace fluidml::pass
