// The trace JSON: structure (schema, snapshots, values, nodes in schedule order, analyses through their
// registered serializers, preserved sets, replacements), no embedded constant data, a round trip through
// nlohmann::json::parse, and the atomic file write.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/pass/pipeline.h"
#include "exporters/trace_json.h"
#include "passes/analyses.h"
#include "tests/test_util.h"

using namespace fluidml;
using namespace fluidml::pass;
using nlohmann::json;

namespace {

/// Swaps the two independent branches of the test graph and names the schedule.
class SwapBranches final : public Pass {
 public:
  std::string_view name() const override { return "swap-branches"; }
  Expected<PassResult> run(ir::Graph &graph, PassContext &context) override {
    std::vector<ir::NodeId> order = graph.order();
    std::swap(order[0], order[1]);
    graph.setOrder(order);
    context.analyses.set(passes::kScheduleAnalysis, std::string("swapped"));
    PassResult result;
    result.changed = true;
    result.stats["moved"] = 2;
    return result;
  }
};

/// A hand-made plan over the test graph: the two branch outputs in buffers 0 and 1, the Add output a view.
class HandPlan final : public Pass {
 public:
  std::string_view name() const override { return "hand-plan"; }
  json options() const override { return {{"planner", "by-hand"}}; }
  Expected<PassResult> run(ir::Graph &graph, PassContext &context) override {
    analysis::MemoryPlan plan;
    plan.planner = "by-hand";
    plan.placementOrder = "size-desc";
    plan.alignment = 64;
    plan.storage.resize(graph.valueCapacity());
    for (ir::ValueId in : graph.inputs()) plan.storage[static_cast<size_t>(in)].kind = analysis::StorageKind::External;
    for (ir::ValueId c : graph.constants()) plan.storage[static_cast<size_t>(c)].kind = analysis::StorageKind::External;
    for (ir::ValueId out : graph.outputs())
      plan.storage[static_cast<size_t>(out)].kind = analysis::StorageKind::External;
    ir::ValueId relu = *graph.findValue("Relu_1:0"), neg = *graph.findValue("Neg_0:0");
    plan.storage[static_cast<size_t>(neg)] = {analysis::StorageKind::Arena, ir::kNoValue, 0};
    plan.storage[static_cast<size_t>(relu)] = {analysis::StorageKind::Arena, ir::kNoValue, 1};
    // root, bytes, first step, last step, offset
    plan.buffers = {analysis::ArenaBuffer{neg, 128, 0, 2, 0}, analysis::ArenaBuffer{relu, 128, 1, 2, 128}};
    plan.arenaBytes = 256;
    plan.lowerBoundBytes = 256;
    plan.naiveBytes = 256;
    context.analyses.set(passes::kMemoryPlanAnalysis, plan);
    return PassResult{};
  }
};

/// x, w -> Neg(x), Relu(x) -> Add -> Transpose(perm) -> y; w is a big constant feeding Mul.
ir::Graph traceGraph() {
  ir::GraphBuilder b = test::makeBuilder();
  ir::ValueId x = b.input("x", ir::DType::Float32, {4, 8});
  ir::ValueId n = b.op("Neg", {x});
  ir::ValueId r = b.op("Relu", {x});
  ir::ValueId a = b.op("Add", {n, r});
  ir::ValueId w = b.constant("w", test::randomFloats({4, 8}, 7));
  ir::ValueId m = b.op("Mul", {a, w});
  ir::ValueId t = b.op("Transpose", {m}, {{"perm", std::vector<int64_t>{1, 0}}});
  b.output(t);
  auto graph = std::move(b).build();
  REQUIRE(graph.hasValue());
  ir::Graph g = std::move(graph).value();
  // Attribute kinds the exporter must summarize rather than embed.
  ir::Node &mul = g.node(g.value(m).producer);
  mul.attributes["weights"] = test::randomFloats({1000}, 3);
  mul.attributes["long"] = std::vector<int64_t>(100, 5);
  mul.attributes["alpha"] = 0.25f;
  mul.attributes["mode"] = std::string("nearest");
  return g;
}

struct Traced {
  ir::Graph graph;
  std::vector<std::shared_ptr<const Snapshot>> snapshots;
};

Traced runTraced() {
  Traced traced{traceGraph(), {}};
  PassManager manager;
  manager.addPass(std::make_unique<SwapBranches>());
  manager.addPass(std::make_unique<HandPlan>());
  SnapshotRecorder recorder(&passes::standardAnalysisRegistry());
  VerifierInstrumentation verifier;
  manager.addInstrumentation(&verifier);
  manager.addInstrumentation(&recorder);
  PassContext context;
  recorder.recordInitial(traced.graph, context);
  Status status = manager.run(traced.graph, context);
  INFO((status.isOk() ? std::string() : status.message()));
  REQUIRE(status.isOk());
  traced.snapshots = recorder.snapshots();
  return traced;
}

const json &valueNamed(const json &graph, const std::string &name) {
  for (const json &v : graph["values"])
    if (v["name"] == name) return v;
  FAIL("no value named " << name);
  static const json kNone;
  return kNone;
}

}  // namespace

TEST_CASE("traceToJson has the documented top-level structure", "[pass][trace]") {
  Traced traced = runTraced();
  REQUIRE(traced.snapshots.size() == 3);
  json trace = exporters::traceToJson("model.onnx", "toy", traced.snapshots, passes::standardAnalysisRegistry());
  CHECK(trace["schema"] == "fluidml-trace");
  CHECK(trace["version"] == exporters::kTraceSchemaVersion);
  CHECK(trace["version"] == 2);
  CHECK(trace["model"] == "model.onnx");
  CHECK(trace["pipeline"] == "toy");
  REQUIRE(trace["snapshots"].size() == 3);

  const json &import = trace["snapshots"][0];
  CHECK(import["index"] == 0);
  CHECK(import["pass"] == "import");
  CHECK(import["options"] == json::object());
  CHECK(import["changed"] == false);
  CHECK(import["stats"] == json::object());
  CHECK(import["preserved"] == json::array());
  CHECK(import["replacements"] == json::array());
  CHECK(import["analyses"] == json::object());

  const json &swapped = trace["snapshots"][1];
  CHECK(swapped["pass"] == "swap-branches");
  CHECK(swapped["changed"] == true);
  CHECK(swapped["stats"] == json{{"moved", 2.0}});
  CHECK(swapped["analyses"] == json{{"schedule", "swapped"}});

  const json &planned = trace["snapshots"][2];
  CHECK(planned["pass"] == "hand-plan");
  CHECK(planned["options"] == json{{"planner", "by-hand"}});
  CHECK(planned["changed"] == false);
  CHECK(planned["analyses"]["schedule"] == "swapped");
  CHECK(planned["analyses"]["memory-plan"].is_object());
}

TEST_CASE("snapshotToJson writes values and nodes in schedule order", "[pass][trace]") {
  Traced traced = runTraced();
  json import = exporters::snapshotToJson(*traced.snapshots[0], passes::standardAnalysisRegistry());
  json swapped = exporters::snapshotToJson(*traced.snapshots[1], passes::standardAnalysisRegistry());

  const json &graph = swapped["graph"];
  CHECK(graph["name"] == "main");
  REQUIRE(graph["nodes"].size() == 5);
  std::vector<std::string> ops, importOps;
  for (const json &n : graph["nodes"]) ops.push_back(n["op"]);
  for (const json &n : import["graph"]["nodes"]) importOps.push_back(n["op"]);
  CHECK(importOps == std::vector<std::string>{"Neg", "Relu", "Add", "Mul", "Transpose"});
  CHECK(ops == std::vector<std::string>{"Relu", "Neg", "Add", "Mul", "Transpose"});
  const ir::Graph &g = traced.snapshots[1]->graph;
  for (size_t i = 0; i < g.order().size(); ++i) CHECK(graph["nodes"][i]["id"] == g.order()[i]);

  const json &x = valueNamed(graph, "x");
  CHECK(x["kind"] == "input");
  CHECK(x["dtype"] == "float32");
  CHECK(x["shape"] == json::array({4, 8}));
  CHECK(x["layout"] == "(0,1)");
  CHECK(x["bytes"] == 128);
  CHECK(x["producer"].is_null());
  // Neg and Relu both read x: consumers are node ids, once each.
  CHECK(x["consumers"] == json::array({0, 1}));
  CHECK(graph["inputs"] == json::array({x["id"]}));

  const json &w = valueNamed(graph, "w");
  CHECK(w["kind"] == "constant");
  CHECK(w["bytes"] == 128);

  const json &add = valueNamed(graph, "Add_2:0");
  CHECK(add["kind"] == "intermediate");
  CHECK(add["producer"] == 2);
  CHECK(add["consumers"] == json::array({3}));

  const json &y = valueNamed(graph, "Transpose_4:0");
  CHECK(y["kind"] == "output");
  CHECK(y["shape"] == json::array({8, 4}));
  CHECK(y["consumers"] == json::array());
  CHECK(graph["outputs"] == json::array({y["id"]}));

  const json &transpose = graph["nodes"][4];
  CHECK(transpose["name"] == "Transpose_4");
  CHECK(transpose["inputs"] == json::array({valueNamed(graph, "Mul_3:0")["id"]}));
  CHECK(transpose["outputs"] == json::array({y["id"]}));
  CHECK(transpose["attributes"] == json{{"perm", {1, 0}}});
  CHECK_FALSE(transpose.contains("domain"));

  const json &mul = graph["nodes"][3]["attributes"];
  CHECK(mul["weights"] == "tensor float32[1000]");
  CHECK(mul["long"] == "int64[100]");
  CHECK(mul["alpha"] == 0.25);
  CHECK(mul["mode"] == "nearest");
}

TEST_CASE("memoryPlanToJson writes the summary, the buffers and the storage", "[pass][trace]") {
  Traced traced = runTraced();
  const Snapshot &snapshot = *traced.snapshots[2];
  REQUIRE(passes::memoryPlan(snapshot.analyses) != nullptr);
  json plan = passes::memoryPlanToJson(snapshot.graph, *passes::memoryPlan(snapshot.analyses));
  // The trace writes the plan through the registered serializer: the same JSON.
  CHECK(exporters::snapshotToJson(snapshot, passes::standardAnalysisRegistry())["analyses"]["memory-plan"] == plan);
  CHECK(plan["planner"] == "by-hand");
  CHECK(plan["placement_order"] == "size-desc");
  CHECK(plan["alignment"] == 64);
  CHECK(plan["arena_bytes"] == 256);
  CHECK(plan["lower_bound_bytes"] == 256);
  CHECK(plan["naive_bytes"] == 256);
  CHECK(plan["efficiency"] == 1.0);
  CHECK(plan["in_place_reuses"] == 0);
  CHECK(plan["view_reuses"] == 0);

  const ir::Graph &g = snapshot.graph;
  int neg = *g.findValue("Neg_0:0"), relu = *g.findValue("Relu_1:0");
  REQUIRE(plan["buffers"].size() == 2);
  CHECK(plan["buffers"][0] == json{{"root", neg}, {"bytes", 128}, {"offset", 0}, {"first_step", 0},
                                   {"last_step", 2}, {"values", {neg}}});
  CHECK(plan["buffers"][1] == json{{"root", relu}, {"bytes", 128}, {"offset", 128}, {"first_step", 1},
                                   {"last_step", 2}, {"values", {relu}}});
  // Storage: inputs, outputs, constants are external; values without storage are left out.
  std::map<std::string, json> storage;
  for (const json &s : plan["storage"]) storage[s["name"]] = s;
  CHECK(storage.size() == 5);
  CHECK(storage["x"] == json{{"value", *g.findValue("x")}, {"name", "x"}, {"kind", "external"},
                             {"alias_of", nullptr}, {"buffer", nullptr}});
  CHECK(storage["Neg_0:0"]["kind"] == "arena");
  CHECK(storage["Neg_0:0"]["buffer"] == 0);
  CHECK(storage["Relu_1:0"]["buffer"] == 1);
  CHECK(storage.count("Add_2:0") == 0);
}

TEST_CASE("the trace embeds no constant data and round-trips through a file", "[pass][trace]") {
  Traced traced = runTraced();
  json trace = exporters::traceToJson("m.onnx", "toy", traced.snapshots, passes::standardAnalysisRegistry());
  std::string text = trace.dump();
  // 3 snapshots of a 5-node graph; the 1000-float attribute and the 32-float constant are types only.
  CHECK(text.size() < 12000);
  CHECK(json::parse(text) == trace);

  std::string path = (std::filesystem::temp_directory_path() / "fluidml_trace_test.json").string();
  Status written = exporters::writeTraceFile(path, trace);
  INFO((written.isOk() ? std::string() : written.message()));
  REQUIRE(written.isOk());
  std::ifstream in(path);
  std::stringstream read;
  read << in.rdbuf();
  CHECK(json::parse(read.str()) == trace);
  // Nothing left beside the trace.
  for (const auto &entry : std::filesystem::directory_iterator(std::filesystem::temp_directory_path()))
    CHECK(entry.path().filename().string().rfind("fluidml_trace_test.json.tmp", 0) != 0);
  std::filesystem::remove(path);

  std::string bad = "/nonexistent-dir-fluidml/trace.json";
  Status failed = exporters::writeTraceFile(bad, trace);
  REQUIRE_FALSE(failed.isOk());
  CHECK(failed.message().rfind(bad + ": cannot write the trace", 0) == 0);
}

TEST_CASE("writeTraceFile survives names that are not UTF-8", "[pass][trace]") {
  ir::Graph graph = traceGraph();
  graph.node(graph.order()[0]).name = std::string("bad\xff\xfe");
  SnapshotRecorder recorder;
  recorder.recordInitial(graph, PassContext{});
  json trace = exporters::traceToJson("m.onnx", "toy", recorder.snapshots(), passes::standardAnalysisRegistry());
  std::string path = (std::filesystem::temp_directory_path() / "fluidml_trace_utf8.json").string();
  REQUIRE(exporters::writeTraceFile(path, trace).isOk());
  std::ifstream in(path);
  std::stringstream read;
  read << in.rdbuf();
  json back = json::parse(read.str());
  CHECK(back["snapshots"][0]["graph"]["nodes"][0]["name"] == "bad\xEF\xBF\xBD\xEF\xBF\xBD");
  std::filesystem::remove(path);
}

TEST_CASE("snapshotToJson writes the preserved analyses and the replacements", "[pass][trace]") {
  Snapshot snapshot;
  snapshot.index = 3;
  snapshot.passName = "fuse-epilogues";
  snapshot.graph = traceGraph();
  snapshot.result.changed = true;
  snapshot.result.preserved = {"schedule"};
  snapshot.result.replacements = {Replacement{"fused_conv", {0, 1}, {7}}, Replacement{"removed_nodes", {4}, {}}};
  snapshot.analyses.set("unregistered", 1);
  json written = exporters::snapshotToJson(snapshot, passes::standardAnalysisRegistry());
  CHECK(written["preserved"] == json::array({"schedule"}));
  CHECK(written["replacements"] ==
        json::array({json{{"kind", "fused_conv"}, {"removed", {0, 1}}, {"added", {7}}},
                     json{{"kind", "removed_nodes"}, {"removed", {4}}, {"added", json::array()}}}));
  // An analysis without a registered serializer still shows that it existed.
  CHECK(written["analyses"] == json{{"unregistered", nullptr}});
}
