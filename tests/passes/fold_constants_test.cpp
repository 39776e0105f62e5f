// fold-constants: before/after graphs, the folding limit, options errors, and equivalence with the interpreter.
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
  return test::runRegisteredPass(graph, "fold-constants", options);
}

void requireSameOutputs(const Graph &before, const Graph &after, const std::vector<Tensor> &inputs) {
  test::requireIdenticalOutputs(before, after, inputs);
}

/// Runs one pass from the standard registry, then the verifier.
}  // namespace

TEST_CASE("fold-constants folds all-constant subgraphs and drops the weights they read", "[passes][fold-constants]") {
  GraphBuilder b = test::makeBuilder();
  ValueId x = b.input("x", DType::Float32, {2, 3});
  ValueId w = b.constant("w", test::randomFloats({2, 3}, 1));
  ValueId two = b.constant("two", Tensor::fromVector<float>({1}, {2.0f}));
  ValueId doubled = b.op("Add", {w, w});
  ValueId scaled = b.op("Mul", {doubled, two});
  b.output(b.op("Add", {x, scaled}));
  Graph graph = finishGraph(b);
  const Graph before = graph.clone();

  pass::PassResult result = runPass(graph);
  CHECK(result.changed);
  CHECK(result.stats.at("folded_nodes") == 2);
  CHECK(result.stats.at("removed_constants") == 3);  // w, two and the folded Add's result
  CHECK(opTypes(graph) == std::vector<std::string>{"Add"});
  // Each folded node is a replacement by nothing (its result is a constant now); the order of the rest holds.
  REQUIRE(result.replacements.size() == 2);
  for (size_t i = 0; i < 2; ++i) {
    CHECK(result.replacements[i].kind == "folded_nodes");
    CHECK(result.replacements[i].removed == std::vector<NodeId>{before.order()[i]});
    CHECK(result.replacements[i].added.empty());
  }
  CHECK(result.preserved.count("schedule") == 1);
  CHECK(graph.constants() == std::vector<ValueId>{scaled});
  CHECK_THAT(dumpGraph(graph), Catch::Contains("= Add(%x, %" + graph.value(scaled).name + ")"));
  requireSameOutputs(before, graph, {test::randomFloats({2, 3}, 7)});

  // A second run finds nothing left to do.
  pass::PassResult again = runPass(graph);
  CHECK_FALSE(again.changed);
  CHECK(again.stats.at("folded_nodes") == 0);
}

TEST_CASE("fold-constants folds Shape of a computed value", "[passes][fold-constants]") {
  GraphBuilder b = test::makeBuilder();
  ValueId x = b.input("x", DType::Float32, {2, 3, 4});
  ValueId r = b.op("Relu", {x});
  ValueId shape = b.op("Shape", {r});
  b.output(r);
  b.output(shape);
  Graph graph = finishGraph(b);
  const Graph before = graph.clone();

  pass::PassResult result = runPass(graph);
  CHECK(result.stats.at("folded_nodes") == 1);
  CHECK(graph.value(shape).isConstant());
  CHECK(graph.value(shape).constant.toInt64Vector() == std::vector<int64_t>{2, 3, 4});
  CHECK(opTypes(graph) == std::vector<std::string>{"Relu"});
  requireSameOutputs(before, graph, {test::randomFloats({2, 3, 4}, 3)});
}

TEST_CASE("fold-constants keeps results above max-folded-bytes", "[passes][fold-constants]") {
  GraphBuilder b = test::makeBuilder();
  ValueId x = b.input("x", DType::Float32, {2, 3});
  ValueId w = b.constant("w", test::randomFloats({2, 3}, 1));
  ValueId doubled = b.op("Add", {w, w});  // 24 bytes
  ValueId small = b.op("ReduceSum", {doubled}, {{"keepdims", int64_t{0}}});  // 4 bytes, not all-constant yet
  b.output(b.op("Add", {x, doubled}));
  b.output(b.op("Add", {x, small}));
  Graph graph = finishGraph(b);
  const Graph before = graph.clone();

  pass::PassResult result = runPass(graph, {{"max-folded-bytes", 16}});
  CHECK_FALSE(result.changed);
  CHECK(result.stats.at("folded_nodes") == 0);
  CHECK(opTypes(graph) == std::vector<std::string>{"Add", "ReduceSum", "Add", "Add"});
  requireSameOutputs(before, graph, {test::randomFloats({2, 3}, 5)});

  pass::PassResult all = runPass(graph, {{"max-folded-bytes", 24}});
  CHECK(all.stats.at("folded_nodes") == 2);
  CHECK(opTypes(graph) == std::vector<std::string>{"Add", "Add"});
  requireSameOutputs(before, graph, {test::randomFloats({2, 3}, 5)});
}

TEST_CASE("fold-constants rejects unknown and invalid options", "[passes][fold-constants]") {
  auto unknown = passes::standardPassRegistry().create("fold-constants", {{"max-bytes", 1}});
  REQUIRE_FALSE(unknown.hasValue());
  CHECK_THAT(unknown.message(), Catch::Contains("max-bytes"));
  CHECK_THAT(unknown.message(), Catch::Contains("max-folded-bytes"));

  auto negative = passes::standardPassRegistry().create("fold-constants", {{"max-folded-bytes", -1}});
  REQUIRE_FALSE(negative.hasValue());
  CHECK_THAT(negative.message(), Catch::Contains("max-folded-bytes"));

  auto wrongType = passes::standardPassRegistry().create("fold-constants", {{"max-folded-bytes", "big"}});
  REQUIRE_FALSE(wrongType.hasValue());
  CHECK_THAT(wrongType.message(), Catch::Contains("max-folded-bytes"));

  auto defaults = passes::standardPassRegistry().create("fold-constants", nlohmann::json::object());
  REQUIRE(defaults.hasValue());
  CHECK((*defaults)->name() == "fold-constants");
  CHECK((*defaults)->options() == nlohmann::json{{"max-folded-bytes", int64_t{64} << 20}});
}
