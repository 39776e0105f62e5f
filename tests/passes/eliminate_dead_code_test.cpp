// eliminate-dead-code: nodes and constants that no graph output depends on go; everything else stays.
#include <catch2/catch.hpp>

#include "core/ir/verifier.h"
#include "passes/passes.h"
#include "tests/passes/pass_test_util.h"
#include "tests/test_util.h"

using namespace fluidml;
using namespace fluidml::ir;

namespace {

using test::finishGraph;
using test::opTypes;

pass::PassResult runPass(Graph &graph, const nlohmann::json &options = nlohmann::json::object()) {
  return test::runRegisteredPass(graph, "eliminate-dead-code", options);
}

void requireSameOutputs(const Graph &before, const Graph &after, const std::vector<Tensor> &inputs) {
  test::requireIdenticalOutputs(before, after, inputs);
}

}  // namespace

TEST_CASE("eliminate-dead-code removes unreachable nodes and their constants", "[passes][eliminate-dead-code]") {
  GraphBuilder b = test::makeBuilder();
  ValueId x = b.input("x", DType::Float32, {2, 3});
  ValueId unused = b.input("unused", DType::Float32, {4});
  ValueId w = b.constant("w", test::randomFloats({2, 3}, 1));
  ValueId shared = b.constant("shared", test::randomFloats({2, 3}, 2));
  ValueId s = b.op("Sigmoid", {x});
  ValueId deadMul = b.op("Mul", {s, w});
  b.op("Add", {deadMul, shared});  // a dead chain of three nodes
  b.op("Relu", {unused});          // reads a graph input, produces nothing used
  ValueId y = b.op("Add", {b.op("Relu", {x}), shared});
  b.output(y);
  Graph graph = finishGraph(b);
  const Graph before = graph.clone();

  pass::PassResult result = runPass(graph);
  CHECK(result.changed);
  CHECK(result.stats.at("removed_nodes") == 4);
  CHECK(result.stats.at("removed_constants") == 1);
  CHECK(opTypes(graph) == std::vector<std::string>{"Relu", "Add"});
  // One replacement by nothing: the four dead nodes, in schedule order.
  REQUIRE(result.replacements.size() == 1);
  CHECK(result.replacements[0].kind == "removed_nodes");
  CHECK(result.replacements[0].removed ==
        std::vector<NodeId>{before.order()[0], before.order()[1], before.order()[2], before.order()[3]});
  CHECK(result.replacements[0].added.empty());
  CHECK(result.preserved.count("schedule") == 1);
  CHECK_FALSE(graph.value(w).alive);
  CHECK(graph.value(shared).alive);
  CHECK(graph.inputs() == std::vector<ValueId>{x, unused});  // the interface stays
  CHECK(graph.value(unused).uses.empty());
  requireSameOutputs(before, graph, {test::randomFloats({2, 3}, 7), test::randomFloats({4}, 8)});

  pass::PassResult again = runPass(graph);
  CHECK_FALSE(again.changed);
  CHECK(again.stats.at("removed_nodes") == 0);
  CHECK(again.replacements.empty());
}

TEST_CASE("eliminate-dead-code keeps a node when any of its outputs is used", "[passes][eliminate-dead-code]") {
  GraphBuilder b = test::makeBuilder();
  ValueId x = b.input("x", DType::Float32, {4, 6});
  ValueId sizes = b.constant("sizes", Tensor::fromVector<int64_t>({2}, {2, 2}));
  std::vector<ValueId> parts = b.opMulti("Split", {x, sizes}, 2);
  b.op("Tanh", {parts[0]});  // dead
  b.output(b.op("Relu", {parts[1]}));
  Graph graph = finishGraph(b);
  const Graph before = graph.clone();

  pass::PassResult result = runPass(graph);
  CHECK(result.stats.at("removed_nodes") == 1);
  CHECK(opTypes(graph) == std::vector<std::string>{"Split", "Relu"});
  CHECK(graph.value(parts[0]).alive);  // an output of a live node, now unread
  requireSameOutputs(before, graph, {test::randomFloats({4, 6}, 3)});
}

TEST_CASE("eliminate-dead-code keeps outputs that are constants or inputs", "[passes][eliminate-dead-code]") {
  GraphBuilder b = test::makeBuilder();
  ValueId x = b.input("x", DType::Float32, {3});
  ValueId c = b.constant("c", test::randomFloats({3}, 4));
  b.op("Neg", {x});
  b.output(x);
  b.output(c);
  Graph graph = finishGraph(b);

  pass::PassResult result = runPass(graph);
  CHECK(result.stats.at("removed_nodes") == 1);
  CHECK(result.stats.at("removed_constants") == 0);
  CHECK(graph.order().empty());
  CHECK(graph.value(c).alive);
  auto outputs = test::runGraph(graph, {test::randomFloats({3}, 5)});
  CHECK(outputs[0].identicalTo(test::randomFloats({3}, 5)));
  CHECK(outputs[1].identicalTo(graph.value(c).constant));
}

TEST_CASE("eliminate-dead-code rejects options", "[passes][eliminate-dead-code]") {
  auto created = passes::standardPassRegistry().create("eliminate-dead-code", {{"aggressive", true}});
  REQUIRE_FALSE(created.hasValue());
  CHECK_THAT(created.message(), Catch::Contains("aggressive"));
}
