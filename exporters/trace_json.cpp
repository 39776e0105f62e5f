// The trace JSON (schema: exporters/TRACE_SCHEMA.md). O(values + nodes + uses) per snapshot; constant data
// is never embedded, only types, so a trace stays small next to the model.
#include "exporters/trace_json.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <type_traits>
#include <variant>

#include <unistd.h>

namespace fluidml::exporters {

namespace {

using nlohmann::json;

/// Lists longer than this are summarized by their type ("int64[1024]") instead of written out.
constexpr size_t kMaxAttributeList = 64;

json idOrNull(int32_t id) { return id < 0 ? json(nullptr) : json(id); }

json attributeToJson(const ir::Attribute &attribute) {
  return std::visit(
      [](const auto &v) -> json {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, ir::Tensor>) {
          return "tensor " + v.type().toString();
        } else if constexpr (std::is_same_v<T, std::vector<int64_t>>) {
          if (v.size() > kMaxAttributeList) return "int64[" + std::to_string(v.size()) + "]";
          return json(v);
        } else if constexpr (std::is_same_v<T, std::vector<float>>) {
          if (v.size() > kMaxAttributeList) return "float32[" + std::to_string(v.size()) + "]";
          json list = json::array();
          for (float f : v) list.push_back(static_cast<double>(f));
          return list;
        } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
          if (v.size() > kMaxAttributeList) return "string[" + std::to_string(v.size()) + "]";
          return json(v);
        } else if constexpr (std::is_same_v<T, float>) {
          return static_cast<double>(v);
        } else {
          return json(v);
        }
      },
      attribute);
}

const char *valueKind(const ir::Graph &graph, const ir::Value &value) {
  if (value.isConstant()) return "constant";
  for (ir::ValueId in : graph.inputs())
    if (in == value.id) return "input";
  if (graph.isGraphOutput(value.id)) return "output";
  return "intermediate";
}

/// The layout's text form, spelled out even for row-major ("(0,1)") so readers need no rule for a default.
json layoutToJson(const ir::TensorType &type) { return type.layout.toString(type.rank()); }

json graphToJson(const ir::Graph &graph) {
  json values = json::array();
  for (size_t id = 0; id < graph.valueCapacity(); ++id) {
    const ir::Value &v = graph.value(static_cast<ir::ValueId>(id));
    if (!v.alive) continue;
    json consumers = json::array();
    std::vector<ir::NodeId> seen;
    for (const ir::Use &use : v.uses) {
      if (std::find(seen.begin(), seen.end(), use.node) != seen.end()) continue;
      seen.push_back(use.node);
      consumers.push_back(use.node);
    }
    values.push_back({{"id", v.id},
                      {"name", v.name},
                      {"dtype", std::string(ir::dtypeName(v.type.dtype))},
                      {"shape", v.type.shape},
                      {"layout", layoutToJson(v.type)},
                      {"kind", valueKind(graph, v)},
                      {"bytes", v.type.bytes()},
                      {"producer", idOrNull(v.producer)},
                      {"consumers", std::move(consumers)}});
  }
  json nodes = json::array();
  for (ir::NodeId id : graph.order()) {
    const ir::Node &n = graph.node(id);
    json inputs = json::array(), outputs = json::array(), attributes = json::object();
    for (ir::ValueId in : n.inputs) inputs.push_back(idOrNull(in));
    for (ir::ValueId out : n.outputs) outputs.push_back(idOrNull(out));
    for (const auto &[key, attribute] : n.attributes) attributes[key] = attributeToJson(attribute);
    json node = {{"id", n.id}, {"name", n.name}, {"op", n.opType}, {"inputs", std::move(inputs)},
                 {"outputs", std::move(outputs)}, {"attributes", std::move(attributes)}};
    if (!n.domain.empty()) node["domain"] = n.domain;
    nodes.push_back(std::move(node));
  }
  return {{"name", graph.name},
          {"inputs", graph.inputs()},
          {"outputs", graph.outputs()},
          {"values", std::move(values)},
          {"nodes", std::move(nodes)}};
}

}  // namespace

json snapshotToJson(const pass::Snapshot &snapshot, const pass::AnalysisRegistry &analyses) {
  json stats = json::object();
  for (const auto &[key, value] : snapshot.result.stats) stats[key] = value;
  json replacements = json::array();
  for (const pass::Replacement &r : snapshot.result.replacements)
    replacements.push_back({{"kind", r.kind}, {"removed", r.removed}, {"added", r.added}});
  return {{"index", snapshot.index},
          {"pass", snapshot.passName},
          {"options", snapshot.passOptions.is_null() ? json::object() : snapshot.passOptions},
          {"changed", snapshot.result.changed},
          {"stats", std::move(stats)},
          {"preserved", json(std::vector<std::string>(snapshot.result.preserved.begin(),
                                                      snapshot.result.preserved.end()))},
          {"replacements", std::move(replacements)},
          {"graph", graphToJson(snapshot.graph)},
          {"analyses", analyses.allToJson(snapshot.analyses, snapshot.graph)}};
}

json traceToJson(const std::string &model, const std::string &pipeline,
                 const std::vector<std::shared_ptr<const pass::Snapshot>> &snapshots,
                 const pass::AnalysisRegistry &analyses) {
  json list = json::array();
  for (const auto &snapshot : snapshots) list.push_back(snapshotToJson(*snapshot, analyses));
  return {{"schema", "fluidml-trace"},
          {"version", kTraceSchemaVersion},
          {"model", model},
          {"pipeline", pipeline},
          {"snapshots", std::move(list)}};
}

Status writeTraceFile(const std::string &path, const nlohmann::json &trace) {
  // ONNX names are not guaranteed UTF-8; replacing bad bytes keeps the dump from throwing.
  const std::string text = trace.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
  // Written next to the target and renamed, so a reader never sees half a trace.
  const std::string temporary = path + ".tmp." + std::to_string(::getpid());
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    if (!out) return Status::error(path + ": cannot write the trace (cannot create " + temporary + ")");
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
    out.flush();
    if (!out) {
      out.close();
      std::remove(temporary.c_str());
      return Status::error(path + ": cannot write the trace (write failed)");
    }
  }
  std::error_code ec;
  std::filesystem::rename(temporary, path, ec);
  if (ec) {
    std::remove(temporary.c_str());
    return Status::error(path + ": cannot write the trace (" + ec.message() + ")");
  }
  return Status::ok();
}

}  // namespace fluidml::exporters
