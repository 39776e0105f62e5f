// Pipeline JSON parsing (strict schema, key paths, line/column of syntax errors), PassManager (stop-after,
// instrumentation order, verifier, plan invalidation, timing) and the SnapshotRecorder, with toy passes in a
// local registry.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

#include "core/analysis/memory_plan.h"
#include "core/ir/verifier.h"
#include "core/pass/pipeline.h"
#include "core/pass/snapshot.h"
#include "tests/test_util.h"

using namespace fluidml;
using namespace fluidml::pass;
using nlohmann::json;

namespace {

/// A result with `changed` and stats set (the other fields empty).
PassResult resultOf(bool changed, std::map<std::string, double> stats = {}) {
  PassResult result;
  result.changed = changed;
  result.stats = std::move(stats);
  return result;
}

/// Removes every Identity node (rewiring its users), the shape of a real cleanup pass.
class EraseIdentity final : public Pass {
 public:
  std::string_view name() const override { return "erase-identity"; }
  Expected<PassResult> run(ir::Graph &graph, PassContext &) override {
    PassResult result;
    std::vector<ir::NodeId> order = graph.order();
    for (ir::NodeId id : order) {
      const ir::Node &node = graph.node(id);
      if (node.opType != "Identity") continue;
      ir::ValueId in = node.input(0), out = node.output(0);
      graph.replaceAllUsesWith(out, in);
      graph.eraseNode(id);
      result.stats["erased"] += 1;
    }
    result.changed = result.stats["erased"] > 0;
    return result;
  }
};

/// Renames every node (changes the graph, never its structure).
class RenameNodes final : public Pass {
 public:
  explicit RenameNodes(std::string prefix) : prefix_(std::move(prefix)) {}
  std::string_view name() const override { return "rename-nodes"; }
  json options() const override { return {{"prefix", prefix_}}; }
  Expected<PassResult> run(ir::Graph &graph, PassContext &) override {
    for (ir::NodeId id : graph.order()) graph.node(id).name = prefix_ + graph.node(id).name;
    return resultOf(true, {{"renamed", static_cast<double>(graph.order().size())}});
  }

 private:
  std::string prefix_;
};

class NoOp final : public Pass {
 public:
  std::string_view name() const override { return "no-op"; }
  Expected<PassResult> run(ir::Graph &, PassContext &) override { return PassResult{}; }
};

class Fail final : public Pass {
 public:
  std::string_view name() const override { return "fail"; }
  Expected<PassResult> run(ir::Graph &, PassContext &) override { return Status::error("boom"); }
};

/// Drops the last node from the order but leaves it alive: the verifier must catch it.
class DropFromOrder final : public Pass {
 public:
  std::string_view name() const override { return "drop-from-order"; }
  Expected<PassResult> run(ir::Graph &graph, PassContext &) override {
    std::vector<ir::NodeId> order = graph.order();
    order.pop_back();
    graph.setOrder(order);
    return resultOf(true);
  }
};

/// A plan stand-in: what a memory-plan pass leaves (a new analysis, graph unchanged), under the name the
/// standard memory-plan pass uses.
analysis::MemoryPlan fakePlan(size_t arenaBytes) {
  analysis::MemoryPlan plan;
  plan.planner = "fake";
  plan.placementOrder = "size-desc";
  plan.arenaBytes = arenaBytes;
  plan.lowerBoundBytes = arenaBytes / 2;
  return plan;
}

class FakePlan final : public Pass {
 public:
  explicit FakePlan(bool changed = false) : changed_(changed) {}
  std::string_view name() const override { return changed_ ? "change-and-plan" : "fake-plan"; }
  Expected<PassResult> run(ir::Graph &, PassContext &context) override {
    const analysis::MemoryPlan *old = context.analyses.get<analysis::MemoryPlan>("memory-plan");
    context.analyses.set("memory-plan", fakePlan(old ? old->arenaBytes + 64 : 128));
    return resultOf(changed_);
  }

 private:
  bool changed_;
};

class SetSchedule final : public Pass {
 public:
  std::string_view name() const override { return "set-schedule"; }
  Expected<PassResult> run(ir::Graph &, PassContext &context) override {
    context.analyses.set("schedule", std::string("toy-order"));
    return PassResult{};
  }
};

template <typename P, typename... Args>
PassRegistry::Factory simpleFactory(std::string name, Args... args) {
  return [name, args...](const json &options) -> Expected<std::unique_ptr<Pass>> {
    FLUIDML_RETURN_IF_ERROR(OptionsReader(name, options).validate({}));
    return std::unique_ptr<Pass>(std::make_unique<P>(args...));
  };
}

PassRegistry toyRegistry() {
  PassRegistry registry;
  registry.add("erase-identity", "remove Identity nodes", simpleFactory<EraseIdentity>("erase-identity"));
  registry.add("rename-nodes", "prefix node names", [](const json &options) -> Expected<std::unique_ptr<Pass>> {
    OptionsReader reader("rename-nodes", options);
    FLUIDML_RETURN_IF_ERROR(reader.validate({"prefix"}));
    std::string prefix = "renamed/";
    FLUIDML_RETURN_IF_ERROR(reader.get("prefix", prefix));
    return std::unique_ptr<Pass>(std::make_unique<RenameNodes>(prefix));
  });
  registry.add("no-op", "changes nothing", simpleFactory<NoOp>("no-op"));
  registry.add("fail", "always fails", simpleFactory<Fail>("fail"));
  registry.add("drop-from-order", "corrupts the order", simpleFactory<DropFromOrder>("drop-from-order"));
  registry.add("fake-plan", "sets a memory plan", simpleFactory<FakePlan>("fake-plan", false));
  registry.add("change-and-plan", "changes and sets a plan", simpleFactory<FakePlan>("change-and-plan", true));
  registry.add("set-schedule", "names the schedule", simpleFactory<SetSchedule>("set-schedule"));
  return registry;
}

/// x -> Relu -> Identity -> Sigmoid -> y.
ir::Graph smallGraph() {
  ir::GraphBuilder b = test::makeBuilder();
  ir::ValueId x = b.input("x", ir::DType::Float32, {2, 3});
  ir::ValueId r = b.op("Relu", {x});
  ir::ValueId i = b.op("Identity", {r});
  b.output(b.op("Sigmoid", {i}));
  auto graph = std::move(b).build();
  REQUIRE(graph.hasValue());
  return std::move(graph).value();
}

PassManager managerFor(const std::string &pipelineJson) {
  auto spec = parsePipeline(pipelineJson, "test.json");
  INFO((spec.hasValue() ? std::string() : spec.message()));
  REQUIRE(spec.hasValue());
  auto manager = PassManager::fromSpec(*spec, toyRegistry());
  INFO((manager.hasValue() ? std::string() : manager.message()));
  REQUIRE(manager.hasValue());
  return std::move(manager).value();
}

/// A pipeline of the given passes, without options.
PassManager managerOf(std::initializer_list<const char *> names) {
  json spec = {{"name", "toy"}, {"passes", json::array()}};
  for (const char *n : names) spec["passes"].push_back({{"pass", n}});
  return managerFor(spec.dump());
}

std::string parseError(const std::string &text) {
  auto spec = parsePipeline(text, "p.json");
  REQUIRE_FALSE(spec.hasValue());
  return spec.message();
}

/// Logs every hook as "tag:event:pass".
class Recorder final : public PassInstrumentation {
 public:
  Recorder(std::string tag, std::vector<std::string> &log) : tag_(std::move(tag)), log_(log) {}
  void beforePass(const Pass &pass, const ir::Graph &, const PassContext &) override {
    log_.push_back(tag_ + ":before:" + std::string(pass.name()));
  }
  Status afterPass(const Pass &pass, const ir::Graph &, const PassContext &, const PassResult &) override {
    log_.push_back(tag_ + ":after:" + std::string(pass.name()));
    return Status::ok();
  }
  void afterPassFailed(const Pass &pass, const ir::Graph &, const Status &status) override {
    log_.push_back(tag_ + ":failed:" + std::string(pass.name()) + ":" + status.message());
  }

 private:
  std::string tag_;
  std::vector<std::string> &log_;
};

/// Fails afterPass for one pass name, with a message that does not name the pass.
class Objector final : public PassInstrumentation {
 public:
  explicit Objector(std::string victim) : victim_(std::move(victim)) {}
  Status afterPass(const Pass &pass, const ir::Graph &, const PassContext &, const PassResult &) override {
    return pass.name() == victim_ ? Status::error("objection") : Status::ok();
  }

 private:
  std::string victim_;
};

std::string tempPath(const std::string &name) {
  return (std::filesystem::temp_directory_path() / ("fluidml_pass_test_" + name)).string();
}

}  // namespace

// --- parsing ------------------------------------------------------------------------------------------------

TEST_CASE("parsePipeline reads name, steps and options", "[pass][pipeline]") {
  auto spec = parsePipeline(R"({"name": "demo", "passes": [{"pass": "no-op"},
      {"pass": "rename-nodes", "options": {"prefix": "a/"}}]})",
                            "demo.json");
  REQUIRE(spec.hasValue());
  CHECK(spec->name == "demo");
  REQUIRE(spec->steps.size() == 2);
  CHECK(spec->steps[0].pass == "no-op");
  CHECK(spec->steps[0].options == json::object());
  CHECK(spec->steps[1].pass == "rename-nodes");
  CHECK(spec->steps[1].options == json{{"prefix", "a/"}});

  auto unnamed = parsePipeline(R"({"passes": []})", "x.json");
  REQUIRE(unnamed.hasValue());
  CHECK(unnamed->name.empty());
  CHECK(unnamed->steps.empty());
}

TEST_CASE("parsePipeline: unknown keys name the key path and list the valid keys", "[pass][pipeline]") {
  CHECK(parseError(R"({"name": "x", "pases": []})") == "p.json: unknown key 'pases'; valid keys: name, passes");
  CHECK(parseError(R"({"passes": [{"pass": "a"}, {"pass": "b"}, {"pass": "c", "optons": {}}]})") ==
        "p.json: unknown key 'passes[2].optons'; valid keys: options, pass");
}

TEST_CASE("parsePipeline: wrong shapes and types are named", "[pass][pipeline]") {
  CHECK(parseError(R"([1, 2])") == "p.json: a pipeline is a JSON object {\"name\": ..., \"passes\": [...]}, got array");
  CHECK(parseError(R"({"name": "x"})") ==
        "p.json: missing key 'passes' (an array of {\"pass\": ..., \"options\": {...}})");
  CHECK(parseError(R"({"name": 3, "passes": []})") == "p.json: 'name' must be a string, got number 3");
  CHECK(parseError(R"({"passes": {"pass": "a"}})") == "p.json: 'passes' must be an array, got object");
  CHECK(parseError(R"({"passes": ["fold-constants"]})") ==
        "p.json: passes[0] must be an object {\"pass\": ..., \"options\": {...}}, got string \"fold-constants\"");
  CHECK(parseError(R"({"passes": [{"options": {}}]})") == "p.json: passes[0]: missing key 'pass' (the pass name)");
  CHECK(parseError(R"({"passes": [{"pass": true}]})") == "p.json: passes[0].pass must be a string, got boolean true");
  CHECK(parseError(R"({"passes": [{"pass": "a"}, {"pass": "b", "options": [1]}]})") ==
        "p.json: passes[1].options must be an object, got array");
  CHECK(parseError(R"({"passes": [{"pass": "a", "pass": "b"}]})") == "p.json: duplicate key 'passes[0].pass'");
  CHECK(parseError(R"({"passes": [], "passes": []})") == "p.json: duplicate key 'passes'");
  // The same key in two different objects is no duplicate.
  CHECK(parsePipeline(R"({"passes": [{"pass": "a", "options": {"pass": 1}}, {"pass": "b"}]})", "p.json").hasValue());
}

TEST_CASE("parsePipeline reports JSON syntax errors with line and column", "[pass][pipeline]") {
  std::string missingColon = "{\n  \"passes\" [\n  ]\n}";
  std::string message = parseError(missingColon);
  CHECK(message.rfind("p.json:2:12: invalid JSON: syntax error while parsing object separator", 0) == 0);

  // A broken literal at the end of line 3 is blamed there, not on the newline after it.
  std::string badLiteral = "{\n  \"name\": \"x\",\n  \"passes\": tru\n}";
  CHECK(parseError(badLiteral).rfind("p.json:3:15: invalid JSON: syntax error while parsing value", 0) == 0);

  CHECK(parseError("").rfind("p.json:1:1: invalid JSON: ", 0) == 0);
  CHECK(parseError("{\"passes\": []} x").rfind("p.json:1:16: invalid JSON: ", 0) == 0);
}

TEST_CASE("readPipelineFile: errors start with the path; an unnamed pipeline takes the file's stem",
          "[pass][pipeline]") {
  std::string missing = tempPath("does_not_exist.json");
  auto none = readPipelineFile(missing);
  REQUIRE_FALSE(none.hasValue());
  CHECK(none.message() == missing + ": cannot open the pipeline file");

  std::string dir = std::filesystem::temp_directory_path().string();
  auto directory = readPipelineFile(dir);
  REQUIRE_FALSE(directory.hasValue());
  CHECK(directory.message() == dir + ": is a directory, not a pipeline file");

  std::string broken = tempPath("broken.json");
  std::ofstream(broken) << "{\"passes\": [\n  {\"pass\": \"a\",}\n]}";
  auto bad = readPipelineFile(broken);
  REQUIRE_FALSE(bad.hasValue());
  CHECK(bad.message().rfind(broken + ":2:16: invalid JSON: ", 0) == 0);

  std::string unnamed = tempPath("my-pipeline.json");
  std::ofstream(unnamed) << R"({"passes": [{"pass": "no-op"}]})";
  auto spec = readPipelineFile(unnamed);
  REQUIRE(spec.hasValue());
  CHECK(spec->name == "fluidml_pass_test_my-pipeline");
  CHECK(spec->steps.size() == 1);
  std::filesystem::remove(broken);
  std::filesystem::remove(unnamed);
}

TEST_CASE("PassManager::fromSpec names the failing step", "[pass][pipeline]") {
  PipelineSpec spec;
  spec.name = "bad";
  spec.steps = {{"no-op", json::object()}, {"no-opp", json::object()}};
  auto unknown = PassManager::fromSpec(spec, toyRegistry());
  REQUIRE_FALSE(unknown.hasValue());
  CHECK(unknown.message() ==
        "passes[1] ('no-opp'): unknown pass 'no-opp'; valid passes: change-and-plan, drop-from-order, erase-identity, "
        "fail, fake-plan, no-op, rename-nodes, set-schedule");

  spec.steps = {{"rename-nodes", {{"prefx", "a"}}}};
  auto badKey = PassManager::fromSpec(spec, toyRegistry());
  REQUIRE_FALSE(badKey.hasValue());
  CHECK(badKey.message() == "passes[0] ('rename-nodes'): pass 'rename-nodes': unknown option 'prefx'; valid options: prefix");

  spec.steps = {{"no-op", json::object()}, {"rename-nodes", {{"prefix", 1}}}};
  auto badType = PassManager::fromSpec(spec, toyRegistry());
  REQUIRE_FALSE(badType.hasValue());
  CHECK(badType.message() ==
        "passes[1] ('rename-nodes'): pass 'rename-nodes': option 'prefix' must be a string, got integer 1");

  spec.steps = {{"no-op", json::object()}, {"rename-nodes", {{"prefix", "z/"}}}};
  auto good = PassManager::fromSpec(spec, toyRegistry());
  REQUIRE(good.hasValue());
  CHECK(good->name() == "bad");
  REQUIRE(good->passes().size() == 2);
  CHECK(good->passes()[1]->options() == json{{"prefix", "z/"}});
}

// --- running ------------------------------------------------------------------------------------------------

TEST_CASE("PassManager runs the passes in order; a rewrite keeps the graph valid", "[pass][manager]") {
  ir::Graph graph = smallGraph();
  PassManager manager = managerFor(R"({"passes": [{"pass": "erase-identity"},
      {"pass": "rename-nodes", "options": {"prefix": "n/"}}]})");
  VerifierInstrumentation verifier;
  manager.addInstrumentation(&verifier);
  PassContext context;
  Status status = manager.run(graph, context);
  INFO((status.isOk() ? std::string() : status.message()));
  REQUIRE(status.isOk());
  REQUIRE(graph.order().size() == 2);
  CHECK(graph.node(graph.order()[0]).name == "n/Relu_0");
  CHECK(graph.node(graph.order()[1]).name == "n/Sigmoid_2");
  CHECK(graph.node(graph.order()[1]).inputs[0] == graph.node(graph.order()[0]).outputs[0]);
  CHECK(ir::verify(graph).isOk());
}

TEST_CASE("PassManager stop-after runs only the first N passes", "[pass][manager]") {
  for (int stop : {-1, 0, 1, 2, 3, 7}) {
    ir::Graph graph = smallGraph();
    PassManager manager = managerOf({"no-op", "erase-identity", "rename-nodes"});
    std::vector<std::string> log;
    Recorder recorder("r", log);
    manager.addInstrumentation(&recorder);
    manager.setStopAfter(stop);
    PassContext context;
    REQUIRE(manager.run(graph, context).isOk());
    size_t expected = stop < 0 ? 3 : std::min(stop, 3);
    INFO("stop-after " << stop);
    CHECK(log.size() == 2 * expected);
    CHECK(graph.order().size() == (expected >= 2 ? 2u : 3u));
    CHECK((graph.node(graph.order()[0]).name == "renamed/Relu_0") == (expected == 3));
  }
}

TEST_CASE("PassManager calls instrumentation before/after in order, and afterPassFailed on failure",
          "[pass][manager]") {
  ir::Graph graph = smallGraph();
  PassManager manager = managerOf({"no-op", "fail", "rename-nodes"});
  std::vector<std::string> log;
  Recorder a("a", log), b("b", log);
  manager.addInstrumentation(&a);
  manager.addInstrumentation(&b);
  PassContext context;
  Status status = manager.run(graph, context);
  REQUIRE_FALSE(status.isOk());
  CHECK(status.message() == "pass 'fail' (#1): boom");
  CHECK(status.kind() == ErrorKind::User);  // the pass's own kind, through the context
  CHECK(log == std::vector<std::string>{"a:before:no-op", "b:before:no-op", "a:after:no-op", "b:after:no-op",
                                        "a:before:fail", "b:before:fail", "a:failed:fail:boom", "b:failed:fail:boom"});
  CHECK(graph.node(graph.order()[0]).name == "Relu_0");  // the pass after the failure never ran
}

TEST_CASE("PassManager: an instrumentation error stops the run, names the pass and balances the hooks",
          "[pass][manager]") {
  ir::Graph graph = smallGraph();
  PassManager manager = managerOf({"no-op", "rename-nodes", "erase-identity"});
  std::vector<std::string> log;
  Recorder a("a", log), b("b", log);
  Objector objector("rename-nodes");
  manager.addInstrumentation(&a);
  manager.addInstrumentation(&objector);
  manager.addInstrumentation(&b);
  PassContext context;
  Status status = manager.run(graph, context);
  REQUIRE_FALSE(status.isOk());
  CHECK(status.message() == "pass 'rename-nodes' (#1): objection");
  CHECK(log == std::vector<std::string>{"a:before:no-op", "b:before:no-op", "a:after:no-op", "b:after:no-op",
                                        "a:before:rename-nodes", "b:before:rename-nodes", "a:after:rename-nodes",
                                        "b:failed:rename-nodes:objection"});
  CHECK(graph.order().size() == 3);  // erase-identity never ran
}

TEST_CASE("VerifierInstrumentation catches a pass that corrupts the graph", "[pass][manager]") {
  ir::Graph graph = smallGraph();
  PassManager manager = managerOf({"no-op", "drop-from-order", "rename-nodes"});
  VerifierInstrumentation verifier;
  manager.addInstrumentation(&verifier);
  PassContext context;
  Status status = manager.run(graph, context);
  REQUIRE_FALSE(status.isOk());
  CHECK(status.message() ==
        "pass 'drop-from-order' left an invalid graph: IR verification failed: node 'Sigmoid_2' is missing from the "
        "order");
  CHECK(status.isInternal());  // a pass that breaks the IR is a bug in the pass, whatever the model
}

TEST_CASE("PassManager drops the analyses a changing pass neither preserves nor writes", "[pass][manager]") {
  auto runWith = [](std::initializer_list<const char *> names) {
    ir::Graph graph = smallGraph();
    PassManager manager = managerOf(names);
    PassContext context;
    REQUIRE(manager.run(graph, context).isOk());
    return context.analyses;
  };
  // The plan survives passes that change nothing.
  AnalysisStore kept = runWith({"fake-plan", "no-op", "set-schedule"});
  REQUIRE(kept.get<analysis::MemoryPlan>("memory-plan") != nullptr);
  CHECK(kept.get<analysis::MemoryPlan>("memory-plan")->arenaBytes == 128);
  CHECK(kept.names() == std::vector<std::string>{"memory-plan", "schedule"});
  // A rewrite that preserves nothing makes every analysis stale.
  CHECK(runWith({"fake-plan", "set-schedule", "erase-identity"}).empty());
  CHECK(runWith({"fake-plan", "rename-nodes"}).empty());
  // A no-op rewrite pass (changed=false: no Identity left) keeps them.
  CHECK(runWith({"erase-identity", "fake-plan", "erase-identity"}).has("memory-plan"));
  // A pass that changes the graph and writes its own plan keeps the plan it wrote.
  AnalysisStore replanned = runWith({"fake-plan", "change-and-plan"});
  REQUIRE(replanned.get<analysis::MemoryPlan>("memory-plan") != nullptr);
  CHECK(replanned.get<analysis::MemoryPlan>("memory-plan")->arenaBytes == 192);
}

TEST_CASE("PassManager keeps what a changing pass preserves", "[pass][manager]") {
  /// Renames nodes (changed) and declares that the schedule survives it, not the plan.
  class RenameKeepingSchedule final : public Pass {
   public:
    std::string_view name() const override { return "rename-keeping-schedule"; }
    Expected<PassResult> run(ir::Graph &graph, PassContext &) override {
      for (ir::NodeId id : graph.order()) graph.node(id).name += "'";
      PassResult result = resultOf(true);
      result.preserved.insert("schedule");
      return result;
    }
  };
  ir::Graph graph = smallGraph();
  PassManager manager = managerOf({"fake-plan", "set-schedule"});
  manager.addPass(std::make_unique<RenameKeepingSchedule>());
  PassContext context;
  context.analyses.set("unrelated", 7);
  REQUIRE(manager.run(graph, context).isOk());
  CHECK(context.analyses.names() == std::vector<std::string>{"schedule"});
  CHECK(*context.analyses.get<std::string>("schedule") == "toy-order");

  // invalidateAnalyses is the same rule for a pass run by hand.
  AnalysisStore before;
  before.set("memory-plan", fakePlan(64));
  before.set("schedule", std::string("import"));
  PassContext after{before};
  after.analyses.set("chains", std::vector<int>{1, 2});
  PassResult unchanged;
  invalidateAnalyses(after, before, unchanged);
  CHECK(after.analyses.names() == std::vector<std::string>{"chains", "memory-plan", "schedule"});
  PassResult changed = resultOf(true);
  changed.preserved.insert("schedule");
  invalidateAnalyses(after, before, changed);
  CHECK(after.analyses.names() == std::vector<std::string>{"chains", "schedule"});
}

TEST_CASE("TimingInstrumentation times every pass, failed ones marked", "[pass][manager]") {
  ir::Graph graph = smallGraph();
  PassManager manager = managerOf({"no-op", "rename-nodes", "fail"});
  TimingInstrumentation timing;
  manager.addInstrumentation(&timing);
  PassContext context;
  REQUIRE_FALSE(manager.run(graph, context).isOk());
  REQUIRE(timing.timings().size() == 3);
  CHECK(timing.timings()[0].pass == "no-op");
  CHECK(timing.timings()[1].pass == "rename-nodes");
  CHECK(timing.timings()[2].pass == "fail");
  CHECK_FALSE(timing.timings()[1].failed);
  CHECK(timing.timings()[2].failed);
  for (const auto &t : timing.timings()) {
    CHECK(t.milliseconds >= 0.0);
    CHECK(t.milliseconds < 10000.0);
  }
}

// --- snapshots ----------------------------------------------------------------------------------------------

TEST_CASE("SnapshotRecorder records the import and every pass that changed something", "[pass][snapshot]") {
  ir::Graph graph = smallGraph();
  PassManager manager =
      managerOf({"erase-identity", "no-op", "fake-plan", "no-op", "erase-identity", "set-schedule", "rename-nodes"});
  SnapshotRecorder recorder;
  PassContext context;
  recorder.recordInitial(graph, context);
  manager.addInstrumentation(&recorder);
  REQUIRE(manager.run(graph, context).isOk());

  const auto &snapshots = recorder.snapshots();
  std::vector<std::string> passes;
  for (const auto &s : snapshots) passes.push_back(s->passName);
  CHECK(passes == std::vector<std::string>{"import", "erase-identity", "fake-plan", "set-schedule", "rename-nodes"});
  for (size_t i = 0; i < snapshots.size(); ++i) CHECK(snapshots[i]->index == static_cast<int>(i));

  // Deep clones: the import still has its Identity and original names while the live graph moved on.
  CHECK(snapshots[0]->graph.order().size() == 3);
  CHECK(snapshots[0]->graph.node(snapshots[0]->graph.order()[1]).opType == "Identity");
  CHECK(snapshots[1]->graph.order().size() == 2);
  CHECK(snapshots[1]->result.changed);
  CHECK(snapshots[1]->result.stats.at("erased") == 1.0);
  CHECK(snapshots[3]->graph.node(snapshots[3]->graph.order()[0]).name == "Relu_0");
  CHECK(snapshots[4]->graph.node(snapshots[4]->graph.order()[0]).name == "renamed/Relu_0");
  CHECK(snapshots[4]->passOptions == json{{"prefix", "renamed/"}});

  // Analyses: the plan appears with fake-plan (changed=false), the schedule name with set-schedule, and the
  // rename (changed) drops the plan.
  CHECK_FALSE(snapshots[0]->analyses.has("memory-plan"));
  CHECK_FALSE(snapshots[1]->analyses.has("memory-plan"));
  CHECK_FALSE(snapshots[2]->result.changed);
  REQUIRE(snapshots[2]->analyses.has("memory-plan"));
  CHECK(snapshots[2]->analyses.get<analysis::MemoryPlan>("memory-plan")->arenaBytes == 128);
  CHECK_FALSE(snapshots[2]->analyses.has("schedule"));
  CHECK(*snapshots[3]->analyses.get<std::string>("schedule") == "toy-order");
  CHECK(snapshots[3]->analyses.has("memory-plan"));
  CHECK_FALSE(snapshots[4]->analyses.has("memory-plan"));
  CHECK_FALSE(context.analyses.has("memory-plan"));
}

TEST_CASE("SnapshotRecorder records a re-planned arena and works without recordInitial", "[pass][snapshot]") {
  ir::Graph graph = smallGraph();
  PassManager manager = managerOf({"no-op", "fake-plan", "fake-plan", "no-op"});
  SnapshotRecorder recorder;
  manager.addInstrumentation(&recorder);
  PassContext context;
  REQUIRE(manager.run(graph, context).isOk());
  const auto &snapshots = recorder.snapshots();
  REQUIRE(snapshots.size() == 2);
  CHECK(snapshots[0]->index == 1);
  CHECK(snapshots[0]->analyses.get<analysis::MemoryPlan>("memory-plan")->arenaBytes == 128);
  CHECK(snapshots[1]->index == 2);
  CHECK(snapshots[1]->analyses.get<analysis::MemoryPlan>("memory-plan")->arenaBytes == 192);
}
