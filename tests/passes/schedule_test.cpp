// schedule: the peak of live intermediate bytes of an order, the memory-aware list scheduler (strictly better on
// interleaved branches, never worse on random DAGs), and the pass around it.
#include <algorithm>
#include <random>

#include <catch2/catch.hpp>

#include "core/analysis/scheduling.h"
#include "core/ir/verifier.h"
#include "core/pass/pipeline.h"
#include "core/pass/snapshot.h"
#include "passes/analyses.h"
#include "passes/passes.h"
#include "tests/passes/pass_test_util.h"
#include "tests/test_util.h"

using namespace fluidml;
using namespace fluidml::ir;

namespace {

using test::finishGraph;
using test::opTypes;

pass::PassResult runPass(Graph &graph, pass::PassContext &context,
                         const nlohmann::json &options = nlohmann::json::object()) {
  return test::runRegisteredPass(graph, "schedule", context, options);
}

void requireSameOutputs(const Graph &before, const Graph &after, const std::vector<Tensor> &inputs) {
  test::requireIdenticalOutputs(before, after, inputs);
}

std::vector<std::string> nodeNames(const Graph &graph) {
  std::vector<std::string> names;
  for (NodeId id : graph.order()) names.push_back(graph.node(id).name);
  return names;
}

/// Two branches x -> MatMul (1x1024) -> Relu -> MatMul (1x4), joined by an Add, in the interleaved order
/// a1 b1 a2 b2 a3 b3 add that keeps both wide tensors of both branches alive at once.
Graph interleavedBranches() {
  GraphBuilder b = test::makeBuilder();
  ValueId x = b.input("x", DType::Float32, {1, 16});
  ValueId wa1 = b.constant("wa1", test::randomFloats({16, 1024}, 1));
  ValueId wb1 = b.constant("wb1", test::randomFloats({16, 1024}, 2));
  ValueId wa3 = b.constant("wa3", test::randomFloats({1024, 4}, 3));
  ValueId wb3 = b.constant("wb3", test::randomFloats({1024, 4}, 4));
  ValueId a1 = b.op("MatMul", {x, wa1});  // MatMul_0
  ValueId b1 = b.op("MatMul", {x, wb1});  // MatMul_1
  ValueId a2 = b.op("Relu", {a1});        // Relu_2
  ValueId b2 = b.op("Relu", {b1});        // Relu_3
  ValueId a3 = b.op("MatMul", {a2, wa3}); // MatMul_4
  ValueId b3 = b.op("MatMul", {b2, wb3}); // MatMul_5
  b.output(b.op("Add", {a3, b3}));        // Add_6
  return finishGraph(b);
}

/// A random DAG of unary ops, Adds and width-changing MatMuls over 1xW tensors (W in 8..1024), put in a random
/// topological order so that the import order is often a bad one.
Graph randomDag(uint32_t seed, int nodeCount) {
  std::mt19937 rng(seed);
  auto pick = [&rng](size_t n) { return std::uniform_int_distribution<size_t>(0, n - 1)(rng); };
  const std::vector<int64_t> widths = {8, 64, 256, 1024};
  GraphBuilder b = test::makeBuilder();
  std::vector<std::pair<ValueId, int64_t>> values = {{b.input("x", DType::Float32, {1, 64}), 64}};
  const char *unary[] = {"Relu", "Sigmoid", "Tanh", "Neg"};
  for (int i = 0; i < nodeCount; ++i) {
    auto [operand, width] = values[pick(values.size())];
    switch (pick(4)) {
      case 0:
        values.push_back({b.op(unary[pick(4)], {operand}), width});
        break;
      case 1: {
        std::vector<ValueId> same;
        for (const auto &[v, w] : values)
          if (w == width && v != operand) same.push_back(v);
        ValueId other = same.empty() ? operand : same[pick(same.size())];
        values.push_back({b.op("Add", {operand, other}), width});
        break;
      }
      case 2: {
        // A zero-copy view for the memory planner, and for the scheduler's accounting.
        ValueId shape = b.constant("s" + std::to_string(i), Tensor::fromVector<int64_t>({2}, {1, width}));
        values.push_back({b.op("Reshape", {operand, shape}), width});
        break;
      }
      default: {
        int64_t next = widths[pick(widths.size())];
        ValueId w = b.constant("w" + std::to_string(i), test::randomFloats({width, next}, seed * 131 + i, -0.1f, 0.1f));
        values.push_back({b.op("MatMul", {operand, w}), next});
      }
    }
  }
  Graph graph = finishGraph(b);
  // Every value nobody reads is an output, plus a random one more.
  for (size_t i = 1; i < values.size(); ++i)
    if (graph.value(values[i].first).uses.empty()) graph.addOutput(values[i].first);
  ValueId extra = values[1 + pick(values.size() - 1)].first;
  if (!graph.isGraphOutput(extra)) graph.addOutput(extra);

  // A random topological order (Kahn's algorithm with random picks).
  std::vector<int> pending(graph.nodeCapacity(), 0);
  for (NodeId id : graph.order())
    for (ValueId in : graph.node(id).inputs)
      if (graph.value(in).producer != kNoNode) ++pending[static_cast<size_t>(id)];
  std::vector<NodeId> ready, order;
  for (NodeId id : graph.order())
    if (pending[static_cast<size_t>(id)] == 0) ready.push_back(id);
  while (!ready.empty()) {
    size_t k = pick(ready.size());
    NodeId id = ready[k];
    ready.erase(ready.begin() + static_cast<long>(k));
    order.push_back(id);
    for (ValueId out : graph.node(id).outputs)
      for (const Use &use : graph.value(out).uses)
        if (--pending[static_cast<size_t>(use.node)] == 0) ready.push_back(use.node);
  }
  graph.setOrder(order);
  return graph;
}

}  // namespace

TEST_CASE("peakLiveBytes follows the memory planner's lifetime rules", "[passes][schedule][analysis]") {
  Graph graph = interleavedBranches();
  // 1x1024 floats = 4096 bytes; 1x4 = 16 bytes, rounded to 64. x, the weights and the output do not count.
  CHECK(analysis::liveBytesPerStep(graph, graph.order()) ==
        std::vector<size_t>{4096, 8192, 12288, 12288, 8256, 4224, 128});
  CHECK(analysis::peakLiveBytes(graph, graph.order()) == 12288);
  CHECK(analysis::peakLiveBytes(graph, graph.order(), 1) == 12288);
  CHECK(analysis::liveBytesPerStep(graph, graph.order(), 1).back() == 32);
  CHECK(analysis::isTopologicalOrder(graph, graph.order()));

  std::vector<NodeId> reversed(graph.order().rbegin(), graph.order().rend());
  CHECK_FALSE(analysis::isTopologicalOrder(graph, reversed));
  CHECK_FALSE(analysis::isTopologicalOrder(graph, {graph.order().begin(), graph.order().end() - 1}));

  // A value nobody reads lives at its producer's step only.
  GraphBuilder b = test::makeBuilder();
  ValueId x = b.input("x", DType::Float32, {4, 32});
  std::vector<ValueId> parts = b.opMulti("Split", {x, b.constant("sizes", Tensor::fromVector<int64_t>({2}, {2, 2}))}, 2);
  ValueId r = b.op("Relu", {parts[0]});
  b.output(b.op("Neg", {r}));
  Graph split = finishGraph(b);
  // Split: both halves (256 bytes each); Relu: half 0 and r; Neg: r.
  CHECK(analysis::liveBytesPerStep(split, split.order()) == std::vector<size_t>{512, 512, 256});
}

TEST_CASE("the memory-aware schedule finishes one branch before starting the next", "[passes][schedule]") {
  Graph graph = interleavedBranches();
  const Graph before = graph.clone();

  analysis::MemoryAwareSchedule schedule = analysis::scheduleMemoryAware(graph);
  CHECK(schedule.importPeakBytes == 12288);
  CHECK(schedule.peakBytes == 8256);
  // The planner writes each Relu in place over its operand: import order keeps both branches' 4 KiB buffers
  // and a3 alive at step 4; the branch-at-a-time order holds one wide buffer plus two 64-byte ones.
  CHECK(schedule.importPlanLowerBoundBytes == 8256);
  CHECK(schedule.planLowerBoundBytes == 4224);
  CHECK(schedule.floorBytes == 8192);  // Relu reads 4 KiB and writes 4 KiB
  CHECK(schedule.winner == "greedy");
  REQUIRE(schedule.candidates.size() == 4);
  CHECK(schedule.candidates[0].name == "import");
  CHECK(schedule.candidates[0].peakBytes == 12288);
  CHECK(schedule.candidates[1].name == "greedy");
  CHECK(schedule.candidates[1].planLowerBoundBytes == 4224);

  pass::PassContext context;
  context.analyses.set(passes::kMemoryPlanAnalysis, analysis::MemoryPlan{});
  pass::PassResult result = runPass(graph, context);
  CHECK(result.changed);
  CHECK(result.stats.at("import_peak_bytes") == 12288);
  CHECK(result.stats.at("peak_bytes") == 8256);
  CHECK(result.stats.at("peak_bytes_import") == 12288);
  CHECK(result.stats.at("import_lower_bound_bytes") == 8256);
  CHECK(result.stats.at("lower_bound_bytes") == 4224);
  CHECK(result.stats.at("lower_bound_bytes_greedy") == 4224);
  CHECK(result.stats.at("floor_bytes") == 8192);
  CHECK(nodeNames(graph) ==
        std::vector<std::string>{"MatMul_0", "Relu_2", "MatMul_4", "MatMul_1", "Relu_3", "MatMul_5", "Add_6"});
  CHECK(analysis::peakLiveBytes(graph, graph.order()) == 8256);
  CHECK(passes::scheduleName(context.analyses) == "memory-aware");
  CHECK(result.preserved.empty());  // the new order drops the plan (invalidated as the pass manager does)
  CHECK(passes::memoryPlan(context.analyses) == nullptr);
  requireSameOutputs(before, graph, {test::randomFloats({1, 16}, 9)});

  // Already scheduled: nothing changes, and the plan a later pass made would be kept.
  context.analyses.set(passes::kMemoryPlanAnalysis, analysis::MemoryPlan{});
  pass::PassResult again = runPass(graph, context);
  CHECK_FALSE(again.changed);
  CHECK(again.stats.at("peak_bytes") == 8256);
  CHECK(passes::memoryPlan(context.analyses) != nullptr);
}

TEST_CASE("schedule with the import strategy keeps the order", "[passes][schedule]") {
  Graph graph = interleavedBranches();
  const std::vector<NodeId> order = graph.order();
  pass::PassContext context;
  context.analyses.set(passes::kScheduleAnalysis, std::string("something-else"));
  pass::PassResult result = runPass(graph, context, {{"strategy", "import"}});
  CHECK_FALSE(result.changed);
  CHECK(graph.order() == order);
  CHECK(result.stats.at("peak_bytes") == 12288);
  CHECK(result.stats.at("lower_bound_bytes") == 8256);
  CHECK(*context.analyses.get<std::string>(passes::kScheduleAnalysis) == "import");
}

TEST_CASE("a schedule that names an equal schedule again is no new snapshot", "[pass][passes][schedule]") {
  Graph graph = interleavedBranches();
  pass::PassManager manager;
  for (int i = 0; i < 2; ++i) {
    auto created = passes::standardPassRegistry().create("schedule", {{"strategy", "import"}});
    REQUIRE(created.hasValue());
    manager.addPass(std::move(created).value());
  }
  // The recorder compares analyses with the registered equality, not by which object holds them.
  pass::SnapshotRecorder recorder(&passes::standardAnalysisRegistry());
  pass::PassContext context;
  recorder.recordInitial(graph, context);
  manager.addInstrumentation(&recorder);
  REQUIRE(manager.run(graph, context).isOk());
  REQUIRE(recorder.snapshots().size() == 2);  // the import, then the first schedule (a new analysis)
  CHECK(*recorder.snapshots()[1]->analyses.get<std::string>(passes::kScheduleAnalysis) == "import");
}

TEST_CASE("schedule rejects unknown options and strategies", "[passes][schedule]") {
  auto unknown = passes::standardPassRegistry().create("schedule", {{"order", "greedy"}});
  REQUIRE_FALSE(unknown.hasValue());
  CHECK_THAT(unknown.message(), Catch::Contains("order"));
  CHECK_THAT(unknown.message(), Catch::Contains("strategy"));

  auto badChoice = passes::standardPassRegistry().create("schedule", {{"strategy", "fastest"}});
  REQUIRE_FALSE(badChoice.hasValue());
  CHECK_THAT(badChoice.message(), Catch::Contains("fastest"));
  CHECK_THAT(badChoice.message(), Catch::Contains("memory-aware"));

  auto defaults = passes::standardPassRegistry().create("schedule", nlohmann::json::object());
  REQUIRE(defaults.hasValue());
  CHECK((*defaults)->options() == nlohmann::json{{"strategy", "memory-aware"}});
}

TEST_CASE("the memory-aware schedule never raises the peak on random DAGs", "[passes][schedule][property]") {
  int improved = 0;
  for (uint32_t seed = 1; seed <= 60; ++seed) {
    INFO("seed " << seed);
    Graph graph = randomDag(seed, 12 + static_cast<int>(seed % 30));
    REQUIRE(verify(graph).isOk());
    const size_t importPeak = analysis::peakLiveBytes(graph, graph.order());
    const size_t importBound = analysis::planLowerBoundBytes(graph, graph.order());

    for (analysis::ScheduleHeuristic heuristic : {analysis::ScheduleHeuristic::Greedy,
                                                  analysis::ScheduleHeuristic::GreedyChain,
                                                  analysis::ScheduleHeuristic::DepthFirst})
      CHECK(analysis::isTopologicalOrder(graph, analysis::greedySchedule(graph, heuristic)));

    analysis::MemoryAwareSchedule schedule = analysis::scheduleMemoryAware(graph);
    REQUIRE(analysis::isTopologicalOrder(graph, schedule.order));
    CHECK(schedule.importPeakBytes == importPeak);
    CHECK(schedule.importPlanLowerBoundBytes == importBound);
    // Never worse on the plan's lower bound; the plain peak may rise only to buy a lower bound.
    CHECK(schedule.planLowerBoundBytes <= importBound);
    if (schedule.planLowerBoundBytes == importBound) CHECK(schedule.peakBytes <= importPeak);
    CHECK(schedule.peakBytes == analysis::peakLiveBytes(graph, schedule.order));
    CHECK(schedule.planLowerBoundBytes == analysis::planLowerBoundBytes(graph, schedule.order));
    CHECK(schedule.floorBytes <= schedule.peakBytes);
    // Deterministic: the same graph gives the same order.
    CHECK(analysis::scheduleMemoryAware(graph.clone()).order == schedule.order);
    if (schedule.peakBytes < importPeak || schedule.planLowerBoundBytes < importBound) ++improved;

    if (seed % 10 == 0) {
      Graph scheduled = graph.clone();
      pass::PassContext context;
      runPass(scheduled, context);
      CHECK(scheduled.order() == schedule.order);
      requireSameOutputs(graph, scheduled, {test::randomFloats({1, 64}, seed)});
    }
  }
  // Random import orders are usually improvable; a scheduler that never moves anything fails here.
  CHECK(improved >= 30);
}
