// Immutable snapshots of the compilation: after every pass that changed something, the graph (deep clone),
// its schedule and the analyses. The explorer and the exporters read them; nothing mutates them.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/pass/analysis_registry.h"
#include "core/pass/instrumentation.h"

namespace fluidml::pass {

struct Snapshot {
  int index = 0;             // 0 = the imported graph, then one per recorded pass
  std::string passName;      // "import" for index 0
  nlohmann::json passOptions;
  PassResult result;
  ir::Graph graph;           // the order of the graph is the schedule
  AnalysisStore analyses;    // a copy of the store after the pass (values shared with the live store)
};

/// Records the initial graph (call recordInitial before running) and a snapshot after every pass that
/// reported changed or left analyses that differ from the last snapshot's: the memory-plan pass reports
/// changed=false yet is recorded, as its plan is new. Analyses are compared with the registry's equality
/// (without a registry, or for an unregistered analysis, any write counts as a change).
class SnapshotRecorder final : public PassInstrumentation {
 public:
  /// `registry` (may be null) must outlive the recorder.
  explicit SnapshotRecorder(const AnalysisRegistry *registry = nullptr) : registry_(registry) {}
  void recordInitial(const ir::Graph &graph, const PassContext &context);
  Status afterPass(const Pass &pass, const ir::Graph &graph, const PassContext &context,
                   const PassResult &result) override;
  const std::vector<std::shared_ptr<const Snapshot>> &snapshots() const { return snapshots_; }

 private:
  bool sameAnalyses(const AnalysisStore &a, const AnalysisStore &b) const;

  const AnalysisRegistry *registry_ = nullptr;
  std::vector<std::shared_ptr<const Snapshot>> snapshots_;
};

}  // namespace fluidml::pass
