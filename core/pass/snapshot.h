// Immutable snapshots of the compilation: after every pass that changed something, the graph (deep clone),
// its schedule and the analyses. The explorer and the exporters read them; nothing mutates them.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/pass/instrumentation.h"

namespace fluidml::pass {

struct Snapshot {
  int index = 0;             // 0 = the imported graph, then one per recorded pass
  std::string passName;      // "import" for index 0
  nlohmann::json passOptions;
  PassResult result;
  ir::Graph graph;           // the order of the graph is the schedule
  std::string scheduleName;
  std::optional<analysis::MemoryPlan> memoryPlan;
};

/// Records the initial graph (call recordInitial before running) and a snapshot after every pass that
/// reported changed or left analyses that differ from the last snapshot's (schedule name, memory plan):
/// the memory-plan pass reports changed=false yet is recorded, as its plan is new.
class SnapshotRecorder final : public PassInstrumentation {
 public:
  void recordInitial(const ir::Graph &graph, const PassContext &context);
  Status afterPass(const Pass &pass, const ir::Graph &graph, const PassContext &context,
                   const PassResult &result) override;
  const std::vector<std::shared_ptr<const Snapshot>> &snapshots() const { return snapshots_; }

 private:
  std::vector<std::shared_ptr<const Snapshot>> snapshots_;
};

}  // namespace fluidml::pass
