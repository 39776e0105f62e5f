// Reading a trace back (schema versions 1 and 2, exporters/TRACE_SCHEMA.md) into plain structs: snapshots with
// their graph and analyses kept as JSON, so a reader needs no IR and no analysis registry.
#pragma once

#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/support/status.h"

namespace fluidml::exporters {

/// Which nodes replaced which in one rewrite of a traced pass.
struct TraceReplacement {
  std::string kind;
  std::vector<int64_t> removed;
  std::vector<int64_t> added;
};

struct TraceSnapshot {
  int index = 0;
  std::string pass;
  nlohmann::json options = nlohmann::json::object();
  bool changed = false;
  std::map<std::string, double> stats;
  std::vector<std::string> preserved;             // empty in version 1
  std::vector<TraceReplacement> replacements;     // empty in version 1
  nlohmann::json graph;                           // as written (TRACE_SCHEMA.md, "Graph")
  std::map<std::string, nlohmann::json> analyses; // name -> JSON; version 1's fields become "schedule", "memory-plan"
};

struct Trace {
  int version = 0;  // the version of the document read
  std::string model;
  std::string pipeline;
  std::vector<TraceSnapshot> snapshots;
};

/// Reads a trace document of schema version 1 or 2. Errors name the field ("snapshots[2].pass: expected a
/// string") or the unsupported version.
Expected<Trace> traceFromJson(const nlohmann::json &document);
/// Reads and parses a trace file (errors start with the path).
Expected<Trace> readTraceFile(const std::string &path);

}  // namespace fluidml::exporters
