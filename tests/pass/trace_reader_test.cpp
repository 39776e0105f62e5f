// The trace reader: a version 2 trace written by traceToJson reads back with its analyses (the registered
// serializers' JSON), preserved sets and replacements; a version 1 document still loads; other documents are
// rejected naming the field.
#include <catch2/catch.hpp>

#include <filesystem>

#include "exporters/trace_json.h"
#include "exporters/trace_reader.h"
#include "passes/analyses.h"
#include "tests/test_util.h"

using namespace fluidml;
using namespace fluidml::pass;
using nlohmann::json;

namespace {

/// x -> Neg -> Relu -> y, with a plan placing the Neg output in the arena.
ir::Graph smallGraph() {
  ir::GraphBuilder b = test::makeBuilder();
  ir::ValueId x = b.input("x", ir::DType::Float32, {2, 8});
  b.output(b.op("Relu", {b.op("Neg", {x})}));
  auto graph = std::move(b).build();
  REQUIRE(graph.hasValue());
  return std::move(graph).value();
}

analysis::MemoryPlan smallPlan(const ir::Graph &graph) {
  analysis::MemoryPlan plan;
  plan.planner = "by-hand";
  plan.placementOrder = "size-desc";
  plan.storage.resize(graph.valueCapacity());
  ir::ValueId neg = *graph.findValue("Neg_0:0");
  plan.storage[static_cast<size_t>(neg)] = {analysis::StorageKind::Arena, ir::kNoValue, 0};
  plan.buffers = {analysis::ArenaBuffer{neg, 64, 0, 1, 0}};
  plan.arenaBytes = plan.lowerBoundBytes = plan.naiveBytes = 64;
  return plan;
}

/// An import snapshot and a rewrite that keeps the schedule, fuses two nodes into one and has a plan.
std::vector<std::shared_ptr<const Snapshot>> twoSnapshots() {
  auto import = std::make_shared<Snapshot>();
  import->passName = "import";
  import->passOptions = json::object();
  import->graph = smallGraph();
  auto fused = std::make_shared<Snapshot>();
  fused->index = 1;
  fused->passName = "toy-fuse";
  fused->passOptions = json{{"max-steps", 4}};
  fused->graph = smallGraph();
  fused->result.changed = true;
  fused->result.stats["fused"] = 1;
  fused->result.preserved = {"schedule"};
  fused->result.replacements = {Replacement{"fused", {0, 1}, {9}}};
  fused->analyses.set(passes::kScheduleAnalysis, std::string("memory-aware"));
  fused->analyses.set(passes::kMemoryPlanAnalysis, smallPlan(fused->graph));
  return {import, fused};
}

}  // namespace

TEST_CASE("traceFromJson reads a version 2 trace back: analyses, preserved sets, replacements", "[pass][trace]") {
  const auto snapshots = twoSnapshots();
  json trace = exporters::traceToJson("m.onnx", "toy", snapshots, passes::standardAnalysisRegistry());
  auto read = exporters::traceFromJson(trace);
  INFO((read.hasValue() ? std::string() : read.message()));
  REQUIRE(read.hasValue());
  CHECK(read->version == 2);
  CHECK(read->model == "m.onnx");
  CHECK(read->pipeline == "toy");
  REQUIRE(read->snapshots.size() == 2);
  CHECK(read->snapshots[0].pass == "import");
  CHECK(read->snapshots[0].analyses.empty());
  CHECK(read->snapshots[0].replacements.empty());

  const exporters::TraceSnapshot &fused = read->snapshots[1];
  CHECK(fused.index == 1);
  CHECK(fused.pass == "toy-fuse");
  CHECK(fused.options == json{{"max-steps", 4}});
  CHECK(fused.changed);
  CHECK(fused.stats == std::map<std::string, double>{{"fused", 1.0}});
  CHECK(fused.graph == trace["snapshots"][1]["graph"]);
  CHECK(fused.preserved == std::vector<std::string>{"schedule"});
  REQUIRE(fused.replacements.size() == 1);
  CHECK(fused.replacements[0].kind == "fused");
  CHECK(fused.replacements[0].removed == std::vector<int64_t>{0, 1});
  CHECK(fused.replacements[0].added == std::vector<int64_t>{9});
  // The serializer round trip: what the registered serializers wrote is what the reader holds.
  REQUIRE(fused.analyses.size() == 2);
  CHECK(fused.analyses.at("schedule") == "memory-aware");
  CHECK(fused.analyses.at("memory-plan") ==
        passes::memoryPlanToJson(snapshots[1]->graph, *passes::memoryPlan(snapshots[1]->analyses)));
  CHECK(fused.analyses.at("memory-plan")["arena_bytes"] == 64);
  CHECK(fused.analyses.at("memory-plan")["buffers"][0]["values"] == json::array({1}));

  // Through a file too.
  std::string path = (std::filesystem::temp_directory_path() / "fluidml_trace_read_test.json").string();
  REQUIRE(exporters::writeTraceFile(path, trace).isOk());
  auto fromFile = exporters::readTraceFile(path);
  REQUIRE(fromFile.hasValue());
  CHECK(fromFile->snapshots.size() == 2);
  std::filesystem::remove(path);
  auto missing = exporters::readTraceFile(path);
  REQUIRE_FALSE(missing.hasValue());
  CHECK(missing.message() == path + ": cannot open the trace");
}

TEST_CASE("traceFromJson still loads a version 1 trace", "[pass][trace]") {
  // Version 1: the schedule name and the memory plan were two fixed snapshot fields.
  const json v1 = json::parse(R"({"schema": "fluidml-trace", "version": 1, "model": "mlp.onnx", "pipeline": "fluidml",
    "snapshots": [
      {"index": 0, "pass": "import", "options": {}, "changed": false, "stats": {}, "schedule": "import",
       "graph": {"name": "main", "inputs": [0], "outputs": [1],
                 "values": [{"id": 0, "name": "x", "dtype": "float32", "shape": [1, 4], "layout": [0, 1],
                             "kind": "input", "bytes": 16, "producer": null, "consumers": [0]},
                            {"id": 1, "name": "y", "dtype": "float32", "shape": [1, 4], "layout": [0, 1],
                             "kind": "output", "bytes": 16, "producer": 0, "consumers": []}],
                 "nodes": [{"id": 0, "name": "Relu_0", "op": "Relu", "inputs": [0], "outputs": [1],
                            "attributes": {}}]},
       "memory_plan": null},
      {"index": 1, "pass": "memory-plan", "options": {"planner": "best-of", "alignment": 64}, "changed": false,
       "stats": {"arena_bytes": 0}, "schedule": "memory-aware", "graph": {"name": "main"},
       "memory_plan": {"planner": "best-of", "placement_order": "size-desc", "alignment": 64, "arena_bytes": 0,
                       "lower_bound_bytes": 0, "naive_bytes": 0, "efficiency": 1.0, "in_place_reuses": 0,
                       "view_reuses": 0, "buffers": [], "storage": []}}
    ]})");
  auto read = exporters::traceFromJson(v1);
  INFO((read.hasValue() ? std::string() : read.message()));
  REQUIRE(read.hasValue());
  CHECK(read->version == 1);
  CHECK(read->model == "mlp.onnx");
  REQUIRE(read->snapshots.size() == 2);
  const exporters::TraceSnapshot &import = read->snapshots[0];
  CHECK(import.pass == "import");
  CHECK(import.graph["nodes"][0]["op"] == "Relu");
  CHECK(import.graph["values"][0]["layout"] == "(0,1)");  // v1's permutation array, in v2's text form
  CHECK(import.analyses == std::map<std::string, json>{{"schedule", "import"}});
  CHECK(import.preserved.empty());
  CHECK(import.replacements.empty());
  const exporters::TraceSnapshot &planned = read->snapshots[1];
  CHECK(planned.stats.at("arena_bytes") == 0.0);
  CHECK(planned.analyses.at("schedule") == "memory-aware");
  CHECK(planned.analyses.at("memory-plan")["planner"] == "best-of");
}

TEST_CASE("traceFromJson rejects other documents and versions, naming the field", "[pass][trace]") {
  auto message = [](const json &document) {
    auto read = exporters::traceFromJson(document);
    REQUIRE_FALSE(read.hasValue());
    return read.message();
  };
  CHECK(message(json::array()) == "a trace is a JSON object, got array");
  CHECK(message(json{{"schema", "other"}}) == "not a fluidml trace: 'schema' must be \"fluidml-trace\"");
  json trace = {{"schema", "fluidml-trace"}, {"version", 3}, {"model", ""}, {"pipeline", "p"},
                {"snapshots", json::array()}};
  CHECK(message(trace) == "unsupported trace version 3 (this reader reads 1 and 2)");
  trace["version"] = 2;
  CHECK(exporters::traceFromJson(trace).hasValue());
  trace["snapshots"] = json::array({json{{"index", 0}, {"pass", 5}}});
  CHECK(message(trace) == "snapshots[0].pass: expected a string");
  trace["snapshots"] = json::array({json{{"index", 0}, {"pass", "import"}}});
  CHECK(message(trace) == "snapshots[0].options: missing");
}
