// The standard analyses as data: the schedule name and the memory plan, their typed access, their JSON (the
// trace's "analyses" object, exporters/TRACE_SCHEMA.md) and their equality. O(values + buffers) per plan.
#include "passes/analyses.h"

namespace fluidml::passes {

namespace {

using nlohmann::json;

/// The trace's own names for storage kinds (part of the versioned schema, not of the planner's API).
const char *storageKindJson(analysis::StorageKind kind) {
  switch (kind) {
    case analysis::StorageKind::None: return "none";
    case analysis::StorageKind::External: return "external";
    case analysis::StorageKind::Arena: return "arena";
    case analysis::StorageKind::InPlace: return "in-place";
    case analysis::StorageKind::View: return "view";
  }
  return "none";
}

json idOrNull(int32_t id) { return id < 0 ? json(nullptr) : json(id); }

}  // namespace

std::string scheduleName(const pass::AnalysisStore &store) {
  const std::string *name = store.get<std::string>(kScheduleAnalysis);
  return name != nullptr ? *name : "import";
}

const analysis::MemoryPlan *memoryPlan(const pass::AnalysisStore &store) {
  return store.get<analysis::MemoryPlan>(kMemoryPlanAnalysis);
}

json memoryPlanToJson(const ir::Graph &graph, const analysis::MemoryPlan &plan) {
  std::vector<json> bufferValues(plan.buffers.size(), json::array());
  json storage = json::array();
  for (size_t id = 0; id < plan.storage.size(); ++id) {
    const analysis::ValueStorage &s = plan.storage[id];
    if (s.kind == analysis::StorageKind::None) continue;
    const bool known = id < graph.valueCapacity();
    json entry = {{"value", static_cast<int64_t>(id)},
                  {"name", known ? graph.value(static_cast<ir::ValueId>(id)).name : std::string()},
                  {"kind", storageKindJson(s.kind)},
                  {"alias_of", idOrNull(s.aliasOf)},
                  {"buffer", s.buffer < 0 ? json(nullptr) : json(s.buffer)}};
    storage.push_back(std::move(entry));
    if (s.buffer >= 0 && static_cast<size_t>(s.buffer) < bufferValues.size())
      bufferValues[static_cast<size_t>(s.buffer)].push_back(static_cast<int64_t>(id));
  }
  json buffers = json::array();
  for (size_t b = 0; b < plan.buffers.size(); ++b) {
    const analysis::ArenaBuffer &buffer = plan.buffers[b];
    buffers.push_back({{"root", idOrNull(buffer.root)},
                       {"bytes", buffer.bytes},
                       {"offset", buffer.offset},
                       {"first_step", buffer.firstStep},
                       {"last_step", buffer.lastStep},
                       {"values", std::move(bufferValues[b])}});
  }
  return {{"planner", plan.planner},
          {"placement_order", plan.placementOrder},
          {"alignment", plan.alignment},
          {"arena_bytes", plan.arenaBytes},
          {"lower_bound_bytes", plan.lowerBoundBytes},
          {"naive_bytes", plan.naiveBytes},
          {"efficiency", plan.efficiency()},
          {"in_place_reuses", plan.inPlaceReuses},
          {"view_reuses", plan.viewReuses},
          {"buffers", std::move(buffers)},
          {"storage", std::move(storage)}};
}

bool sameMemoryPlan(const analysis::MemoryPlan &a, const analysis::MemoryPlan &b) {
  if (a.planner != b.planner || a.placementOrder != b.placementOrder || a.alignment != b.alignment ||
      a.arenaBytes != b.arenaBytes || a.lowerBoundBytes != b.lowerBoundBytes || a.naiveBytes != b.naiveBytes ||
      a.inPlaceReuses != b.inPlaceReuses || a.viewReuses != b.viewReuses || a.storage.size() != b.storage.size() ||
      a.buffers.size() != b.buffers.size())
    return false;
  for (size_t i = 0; i < a.storage.size(); ++i) {
    const analysis::ValueStorage &x = a.storage[i], &y = b.storage[i];
    if (x.kind != y.kind || x.aliasOf != y.aliasOf || x.buffer != y.buffer) return false;
  }
  for (size_t i = 0; i < a.buffers.size(); ++i) {
    const analysis::ArenaBuffer &x = a.buffers[i], &y = b.buffers[i];
    if (x.root != y.root || x.bytes != y.bytes || x.firstStep != y.firstStep || x.lastStep != y.lastStep ||
        x.offset != y.offset)
      return false;
  }
  return true;
}

const pass::AnalysisRegistry &standardAnalysisRegistry() {
  static const pass::AnalysisRegistry registry = [] {
    pass::AnalysisRegistry r;
    r.add<std::string>(
        std::string(kScheduleAnalysis), "how the operator order was chosen",
        [](const ir::Graph &, const std::string &name) { return json(name); },
        [](const std::string &a, const std::string &b) { return a == b; });
    r.add<analysis::MemoryPlan>(std::string(kMemoryPlanAnalysis), "arena offsets of every intermediate tensor",
                                memoryPlanToJson, sameMemoryPlan);
    return r;
  }();
  return registry;
}

}  // namespace fluidml::passes
