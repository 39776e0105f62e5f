// The trace: every snapshot of a compilation as one JSON document (schema in exporters/TRACE_SCHEMA.md).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/pass/snapshot.h"

namespace fluidml::exporters {

/// Bumped whenever the trace layout changes incompatibly.
inline constexpr int kTraceSchemaVersion = 1;

/// The memory plan as JSON (summary, buffers, per-value storage).
nlohmann::json memoryPlanToJson(const ir::Graph &graph, const analysis::MemoryPlan &plan);
/// One snapshot: pass, stats, graph (values, nodes in schedule order), analyses.
nlohmann::json snapshotToJson(const pass::Snapshot &snapshot);
/// The whole trace: {"schema": "fluidml-trace", "version": 1, "pipeline": ..., "model": ..., "snapshots": [...]}.
nlohmann::json traceToJson(const std::string &model, const std::string &pipeline,
                           const std::vector<std::shared_ptr<const pass::Snapshot>> &snapshots);
/// Writes the trace atomically (temporary file + rename).
Status writeTraceFile(const std::string &path, const nlohmann::json &trace);

}  // namespace fluidml::exporters
