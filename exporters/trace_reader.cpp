// Trace reading: version 2 as written by trace_json.cpp; version 1 (schedule and memory plan as two fixed
// snapshot fields) mapped onto the same structs. O(size of the document).
#include "exporters/trace_reader.h"

#include <fstream>
#include <sstream>

#include "core/ir/layout.h"

namespace fluidml::exporters {

namespace {

using nlohmann::json;

Status fieldError(const std::string &at, const char *expected) {
  return Status::error(at + ": expected " + expected);
}

/// `object[key]`, which must exist and satisfy `isType` (named `expected` in the error).
Expected<const json *> field(const json &object, const std::string &at, const char *key,
                             bool (json::*isType)() const noexcept, const char *expected) {
  const std::string path = at.empty() ? key : at + "." + key;
  if (!object.contains(key)) return Status::error(path + ": missing");
  const json &value = object.at(key);
  if (!(value.*isType)()) return fieldError(path, expected);
  return &value;
}

Expected<std::vector<int64_t>> readIds(const json &list, const std::string &at) {
  std::vector<int64_t> ids;
  for (size_t i = 0; i < list.size(); ++i) {
    if (!list[i].is_number_integer()) return fieldError(at + "[" + std::to_string(i) + "]", "an integer id");
    ids.push_back(list[i].get<int64_t>());
  }
  return ids;
}

Expected<TraceSnapshot> readSnapshot(const json &entry, const std::string &at, int version) {
  if (!entry.is_object()) return fieldError(at, "an object");
  TraceSnapshot snapshot;
  FLUIDML_ASSIGN_OR_RETURN(const json *index, field(entry, at, "index", &json::is_number_integer, "an integer"));
  snapshot.index = index->get<int>();
  FLUIDML_ASSIGN_OR_RETURN(const json *pass, field(entry, at, "pass", &json::is_string, "a string"));
  snapshot.pass = pass->get<std::string>();
  FLUIDML_ASSIGN_OR_RETURN(const json *options, field(entry, at, "options", &json::is_object, "an object"));
  snapshot.options = *options;
  FLUIDML_ASSIGN_OR_RETURN(const json *changed, field(entry, at, "changed", &json::is_boolean, "true or false"));
  snapshot.changed = changed->get<bool>();
  FLUIDML_ASSIGN_OR_RETURN(const json *stats, field(entry, at, "stats", &json::is_object, "an object"));
  for (const auto &item : stats->items()) {
    if (!item.value().is_number()) return fieldError(at + ".stats." + item.key(), "a number");
    snapshot.stats[item.key()] = item.value().get<double>();
  }
  FLUIDML_ASSIGN_OR_RETURN(const json *graph, field(entry, at, "graph", &json::is_object, "an object"));
  snapshot.graph = *graph;

  if (version == 1) {
    // Version 1 wrote a layout as its permutation array; version 2 as the layout's text form ("(0,1)").
    if (snapshot.graph.contains("values") && snapshot.graph["values"].is_array())
      for (json &value : snapshot.graph["values"])
        if (value.is_object() && value.contains("layout") && value["layout"].is_array()) {
          std::vector<int> order;
          for (const json &d : value["layout"])
            if (d.is_number_integer()) order.push_back(d.get<int>());
          value["layout"] = ir::Layout::permutation(order).toString(order.size());
        }
    // Version 1 had exactly two analyses, as fixed fields; null meant no memory plan.
    FLUIDML_ASSIGN_OR_RETURN(const json *schedule, field(entry, at, "schedule", &json::is_string, "a string"));
    snapshot.analyses["schedule"] = *schedule;
    if (entry.contains("memory_plan") && !entry["memory_plan"].is_null()) {
      if (!entry["memory_plan"].is_object()) return fieldError(at + ".memory_plan", "an object or null");
      snapshot.analyses["memory-plan"] = entry["memory_plan"];
    }
    return snapshot;
  }

  FLUIDML_ASSIGN_OR_RETURN(const json *preserved, field(entry, at, "preserved", &json::is_array, "an array"));
  for (size_t i = 0; i < preserved->size(); ++i) {
    if (!(*preserved)[i].is_string()) return fieldError(at + ".preserved[" + std::to_string(i) + "]", "a string");
    snapshot.preserved.push_back((*preserved)[i].get<std::string>());
  }
  FLUIDML_ASSIGN_OR_RETURN(const json *replacements,
                           field(entry, at, "replacements", &json::is_array, "an array"));
  for (size_t i = 0; i < replacements->size(); ++i) {
    const std::string where = at + ".replacements[" + std::to_string(i) + "]";
    const json &r = (*replacements)[i];
    if (!r.is_object()) return fieldError(where, "an object");
    TraceReplacement replacement;
    FLUIDML_ASSIGN_OR_RETURN(const json *kind, field(r, where, "kind", &json::is_string, "a string"));
    replacement.kind = kind->get<std::string>();
    FLUIDML_ASSIGN_OR_RETURN(const json *removed, field(r, where, "removed", &json::is_array, "an array"));
    FLUIDML_ASSIGN_OR_RETURN(replacement.removed, readIds(*removed, where + ".removed"));
    FLUIDML_ASSIGN_OR_RETURN(const json *added, field(r, where, "added", &json::is_array, "an array"));
    FLUIDML_ASSIGN_OR_RETURN(replacement.added, readIds(*added, where + ".added"));
    snapshot.replacements.push_back(std::move(replacement));
  }
  FLUIDML_ASSIGN_OR_RETURN(const json *analyses, field(entry, at, "analyses", &json::is_object, "an object"));
  for (const auto &item : analyses->items()) snapshot.analyses[item.key()] = item.value();
  return snapshot;
}

}  // namespace

Expected<Trace> traceFromJson(const json &document) {
  if (!document.is_object()) return Status::error("a trace is a JSON object, got " + std::string(document.type_name()));
  if (!document.contains("schema") || document["schema"] != "fluidml-trace")
    return Status::error("not a fluidml trace: 'schema' must be \"fluidml-trace\"");
  FLUIDML_ASSIGN_OR_RETURN(const json *version, field(document, "", "version", &json::is_number_integer, "an integer"));
  Trace trace;
  trace.version = version->get<int>();
  if (trace.version != 1 && trace.version != 2)
    return Status::error("unsupported trace version " + std::to_string(trace.version) + " (this reader reads 1 and 2)");
  FLUIDML_ASSIGN_OR_RETURN(const json *model, field(document, "", "model", &json::is_string, "a string"));
  trace.model = model->get<std::string>();
  FLUIDML_ASSIGN_OR_RETURN(const json *pipeline, field(document, "", "pipeline", &json::is_string, "a string"));
  trace.pipeline = pipeline->get<std::string>();
  FLUIDML_ASSIGN_OR_RETURN(const json *snapshots, field(document, "", "snapshots", &json::is_array, "an array"));
  for (size_t i = 0; i < snapshots->size(); ++i) {
    FLUIDML_ASSIGN_OR_RETURN(TraceSnapshot snapshot,
                             readSnapshot((*snapshots)[i], "snapshots[" + std::to_string(i) + "]", trace.version));
    trace.snapshots.push_back(std::move(snapshot));
  }
  return trace;
}

Expected<Trace> readTraceFile(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::error(path + ": cannot open the trace");
  std::ostringstream text;
  text << in.rdbuf();
  json document = json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
  if (document.is_discarded()) return Status::error(path + ": invalid JSON");
  Expected<Trace> trace = traceFromJson(document);
  if (!trace.hasValue()) return trace.status().withContext(path);
  return trace;
}

}  // namespace fluidml::exporters
