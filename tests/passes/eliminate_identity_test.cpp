// eliminate-identity: no-op copies go, shape-op chains collapse into one Reshape, graph output names stay.
#include <catch2/catch.hpp>

#include "core/ir/printer.h"
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
  return test::runRegisteredPass(graph, "eliminate-identity", options);
}

void requireSameOutputs(const Graph &before, const Graph &after, const std::vector<Tensor> &inputs) {
  test::requireIdenticalOutputs(before, after, inputs);
}

std::vector<std::string> outputNames(const Graph &graph) {
  std::vector<std::string> names;
  for (ValueId out : graph.outputs()) names.push_back(graph.value(out).name);
  return names;
}

Tensor ints(std::vector<int64_t> values) {
  return Tensor::fromVector<int64_t>({static_cast<int64_t>(values.size())}, values);
}

}  // namespace

TEST_CASE("eliminate-identity removes every kind of no-op copy", "[passes][eliminate-identity]") {
  GraphBuilder b = test::makeBuilder();
  ValueId x = b.input("x", DType::Float32, {2, 3});
  ValueId v = b.op("Identity", {x});
  v = b.op("Relu", {v});
  v = b.op("Cast", {v}, {{"to", int64_t{1}}});  // float32 -> float32
  v = b.opMulti("Dropout", {v, b.constant("ratio", Tensor::scalar<float>(0.5f)),
                            b.constant("training", Tensor::scalar<bool>(false))}, 2)[0];
  v = b.op("Transpose", {v}, {{"perm", std::vector<int64_t>{0, 1}}});
  v = b.op("Reshape", {v, b.constant("same", ints({2, 3}))});
  v = b.op("Squeeze", {b.op("Unsqueeze", {v, b.constant("axes", ints({0}))}), b.constant("axes0", ints({0}))});
  ValueId y = b.op("Sigmoid", {v});
  b.output(y);
  Graph graph = finishGraph(b);
  const Graph before = graph.clone();

  pass::PassResult result = runPass(graph);
  CHECK(result.changed);
  CHECK(opTypes(graph) == std::vector<std::string>{"Relu", "Sigmoid"});
  CHECK(result.stats.at("removed_identity") == 1);
  CHECK(result.stats.at("removed_cast") == 1);
  CHECK(result.stats.at("removed_dropout") == 1);
  CHECK(result.stats.at("removed_transpose") == 1);
  CHECK(result.stats.at("removed_reshape") == 2);     // the Reshape, and the collapsed Unsqueeze+Squeeze
  CHECK(result.stats.at("collapsed_reshapes") == 1);  // the Unsqueeze folded into the Squeeze
  CHECK(result.stats.at("removed_constants") == 5);   // ratio, training, same, axes, axes0
  CHECK(graph.constants().empty());
  CHECK(outputNames(graph) == std::vector<std::string>{graph.value(y).name});
  CHECK_THAT(dumpGraph(graph), Catch::Contains("Sigmoid(%" + graph.value(graph.node(graph.order()[0]).outputs[0]).name + ")"));
  requireSameOutputs(before, graph, {test::randomFloats({2, 3}, 11)});

  pass::PassResult again = runPass(graph);
  CHECK_FALSE(again.changed);
}

TEST_CASE("eliminate-identity keeps copies that do something", "[passes][eliminate-identity]") {
  GraphBuilder b = test::makeBuilder();
  ValueId x = b.input("x", DType::Float32, {3, 3});
  ValueId training = b.input("training", DType::Bool, {});
  ValueId t = b.op("Transpose", {x}, {{"perm", std::vector<int64_t>{1, 0}}});  // same type, not a no-op
  ValueId reversed = b.op("Transpose", {t});                                    // no perm: reverses
  ValueId cast = b.op("Cast", {reversed}, {{"to", int64_t{11}}});               // float32 -> float64
  std::vector<ValueId> dropout = b.opMulti("Dropout", {x, b.constant("ratio", Tensor::scalar<float>(0.0f)), training}, 2);
  std::vector<ValueId> masked = b.opMulti("Dropout", {x}, 2);  // its mask is read below
  b.output(cast);
  b.output(b.op("Add", {dropout[0], masked[0]}));
  b.output(b.op("Not", {masked[1]}));
  Graph graph = finishGraph(b);
  const Graph before = graph.clone();

  pass::PassResult result = runPass(graph);
  // The Dropout with a training input and ratio 0 copies; the one whose mask is read stays.
  CHECK(opTypes(graph) == std::vector<std::string>{"Transpose", "Transpose", "Cast", "Dropout", "Add", "Not"});
  CHECK(result.stats.at("removed_dropout") == 1);
  Tensor truth = Tensor::scalar<bool>(true);
  requireSameOutputs(before, graph, {test::randomFloats({3, 3}, 2), truth});
}

TEST_CASE("eliminate-identity collapses shape-op chains into one Reshape", "[passes][eliminate-identity]") {
  GraphBuilder b = test::makeBuilder();
  ValueId x = b.input("x", DType::Float32, {2, 3, 4});
  ValueId r = b.op("Reshape", {x, b.constant("s1", ints({6, 4}))});
  ValueId f = b.op("Flatten", {r}, {{"axis", int64_t{0}}});  // 1x24
  ValueId u = b.op("Unsqueeze", {f, b.constant("axes", ints({0}))});  // 1x1x24
  ValueId y = b.op("Relu", {u});
  b.output(y);
  Graph graph = finishGraph(b);
  const Graph before = graph.clone();
  const std::string uName = graph.value(u).name;

  pass::PassResult result = runPass(graph);
  CHECK(result.stats.at("collapsed_reshapes") == 2);
  CHECK(result.stats.at("removed_reshape") == 0);
  CHECK(result.stats.at("removed_constants") == 2);  // s1 and axes
  CHECK(opTypes(graph) == std::vector<std::string>{"Reshape", "Relu"});
  const Node &reshape = graph.node(graph.order()[0]);
  CHECK(reshape.inputs[0] == x);
  CHECK(reshape.outputs[0] == u);  // the last node of the chain keeps its output and name
  CHECK(graph.value(u).name == uName);
  REQUIRE(graph.value(reshape.inputs[1]).isConstant());
  CHECK(graph.value(reshape.inputs[1]).constant.toInt64Vector() == std::vector<int64_t>{1, 1, 24});
  CHECK(graph.value(u).type.shape == Shape{1, 1, 24});
  // One replacement per collapse, in the order made: the Flatten (rewritten in place) takes in the Reshape,
  // then the Unsqueeze takes in the Flatten.
  const std::vector<NodeId> &ids = before.order();
  REQUIRE(result.replacements.size() == 2);
  CHECK(result.replacements[0].kind == "collapsed_reshapes");
  CHECK(result.replacements[0].removed == std::vector<NodeId>{ids[0]});
  CHECK(result.replacements[0].added == std::vector<NodeId>{ids[1]});
  CHECK(result.replacements[1].removed == std::vector<NodeId>{ids[1]});
  CHECK(result.replacements[1].added == std::vector<NodeId>{ids[2]});
  CHECK(reshape.id == ids[2]);
  requireSameOutputs(before, graph, {test::randomFloats({2, 3, 4}, 5)});
}

TEST_CASE("eliminate-identity removes a chain that restores the input shape", "[passes][eliminate-identity]") {
  GraphBuilder b = test::makeBuilder();
  ValueId x = b.input("x", DType::Float32, {2, 3});
  ValueId flat = b.op("Reshape", {x, b.constant("flat", ints({6}))});
  ValueId back = b.op("Reshape", {flat, b.constant("back", ints({2, 3}))});
  b.output(b.op("Relu", {back}));
  Graph graph = finishGraph(b);
  const Graph before = graph.clone();

  pass::PassResult result = runPass(graph);
  CHECK(result.stats.at("collapsed_reshapes") == 1);
  CHECK(result.stats.at("removed_reshape") == 1);
  CHECK(opTypes(graph) == std::vector<std::string>{"Relu"});
  CHECK(graph.node(graph.order()[0]).inputs[0] == x);
  CHECK(graph.constants().empty());
  requireSameOutputs(before, graph, {test::randomFloats({2, 3}, 6)});
}

TEST_CASE("eliminate-identity does not collapse through a value with other readers", "[passes][eliminate-identity]") {
  GraphBuilder b = test::makeBuilder();
  ValueId x = b.input("x", DType::Float32, {2, 3});
  ValueId flat = b.op("Reshape", {x, b.constant("flat", ints({6}))});
  ValueId col = b.op("Reshape", {flat, b.constant("col", ints({6, 1}))});
  b.output(b.op("Relu", {flat}));
  b.output(b.op("Relu", {col}));
  Graph graph = finishGraph(b);
  const Graph before = graph.clone();

  pass::PassResult result = runPass(graph);
  CHECK_FALSE(result.changed);
  CHECK(opTypes(graph) == std::vector<std::string>{"Reshape", "Reshape", "Relu", "Relu"});
  requireSameOutputs(before, graph, {test::randomFloats({2, 3}, 6)});
}

TEST_CASE("eliminate-identity keeps graph output names stable", "[passes][eliminate-identity]") {
  SECTION("an Identity of a computed value: its producer produces the output") {
    GraphBuilder b = test::makeBuilder();
    ValueId x = b.input("x", DType::Float32, {4});
    ValueId r = b.op("Relu", {x});
    ValueId y = b.op("Identity", {r});
    ValueId side = b.op("Neg", {r});
    b.output(y);
    b.output(side);
    Graph graph = finishGraph(b);
    const Graph before = graph.clone();
    const std::vector<std::string> names = outputNames(graph);

    pass::PassResult result = runPass(graph);
    CHECK(result.changed);
    CHECK(result.stats.at("removed_identity") == 1);
    CHECK(opTypes(graph) == std::vector<std::string>{"Relu", "Neg"});
    CHECK(outputNames(graph) == names);
    CHECK(graph.node(graph.order()[0]).outputs[0] == y);  // Relu now produces the output
    CHECK(graph.node(graph.order()[1]).inputs[0] == y);   // and Neg reads it
    CHECK_FALSE(graph.value(r).alive);
    // The Identity is gone; the Relu, rewritten to produce the output, stands for it.
    REQUIRE(result.replacements.size() == 1);
    CHECK(result.replacements[0].kind == "removed_identity");
    CHECK(result.replacements[0].removed == std::vector<NodeId>{before.order()[1]});
    CHECK(result.replacements[0].added == std::vector<NodeId>{before.order()[0]});
    requireSameOutputs(before, graph, {test::randomFloats({4}, 9)});
  }
  SECTION("an Identity of a graph input or of another graph output stays") {
    GraphBuilder b = test::makeBuilder();
    ValueId x = b.input("x", DType::Float32, {4});
    ValueId r = b.op("Relu", {x});
    b.output(b.op("Identity", {x}));
    b.output(r);
    b.output(b.op("Identity", {r}));
    Graph graph = finishGraph(b);
    const std::vector<std::string> names = outputNames(graph);

    pass::PassResult result = runPass(graph);
    CHECK_FALSE(result.changed);
    CHECK(result.stats.at("kept_at_outputs") == 2);
    CHECK(result.replacements.empty());
    CHECK(opTypes(graph) == std::vector<std::string>{"Relu", "Identity", "Identity"});
    CHECK(outputNames(graph) == names);
  }
}

TEST_CASE("eliminate-identity rejects options", "[passes][eliminate-identity]") {
  auto created = passes::standardPassRegistry().create("eliminate-identity", {{"cast", false}});
  REQUIRE_FALSE(created.hasValue());
  CHECK_THAT(created.message(), Catch::Contains("cast"));
}
