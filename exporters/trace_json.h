// The trace: every snapshot of a compilation as one JSON document (schema in exporters/TRACE_SCHEMA.md).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/pass/snapshot.h"

namespace fluidml::exporters {

/// Bumped whenever the trace layout changes incompatibly (2: analyses by name, preserved sets, replacements).
inline constexpr int kTraceSchemaVersion = 2;

/// One snapshot: pass, stats, preserved analyses, replacements, graph (values, nodes in schedule order) and
/// every analysis through its serializer in `analyses`.
nlohmann::json snapshotToJson(const pass::Snapshot &snapshot, const pass::AnalysisRegistry &analyses);
/// The whole trace: {"schema": "fluidml-trace", "version": 2, "pipeline": ..., "model": ..., "snapshots": [...]}.
nlohmann::json traceToJson(const std::string &model, const std::string &pipeline,
                           const std::vector<std::shared_ptr<const pass::Snapshot>> &snapshots,
                           const pass::AnalysisRegistry &analyses);
/// Writes the trace atomically (temporary file + rename).
Status writeTraceFile(const std::string &path, const nlohmann::json &trace);

}  // namespace fluidml::exporters
