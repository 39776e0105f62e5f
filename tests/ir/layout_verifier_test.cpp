// The IR's guards around layouts and sizes: the verifier's layout rules, the overflow guard of type inference,
// and fluidml.Relayout's type rule and reference kernel.
#include <catch2/catch.hpp>

#include "core/ir/verifier.h"
#include "core/ops/op_registry.h"
#include "core/ops/relayout.h"
#include "tests/test_util.h"

using namespace fluidml;
using ir::ValueId;

namespace {

struct Chain {
  ir::Graph graph;
  ValueId x, a, w;
};

/// x -> Relu -> a -> Neg -> output, with a constant w read by an Add.
Chain chain() {
  auto b = test::makeBuilder();
  ValueId x = b.input("x", ir::DType::Float32, {2, 3, 4, 5});
  ValueId a = b.op("Relu", {x});
  ValueId w = b.constant("w", test::randomFloats({2, 3, 4, 5}, 1));
  b.output(b.op("Neg", {b.op("Add", {a, w})}));
  return {std::move(b).build().value(), x, a, w};
}

std::string verifyError(const ir::Graph &graph) {
  Status status = ir::verify(graph);
  REQUIRE_FALSE(status.isOk());
  return status.message();
}

}  // namespace

TEST_CASE("The verifier rejects malformed layouts and layouts on inputs, outputs and constants", "[ir][layout]") {
  Chain c = chain();
  REQUIRE(ir::verify(c.graph).isOk());
  c.graph.value(c.a).type.layout = ir::Layout::permutation({0, 0, 1, 2});
  CHECK_THAT(verifyError(c.graph), Catch::Contains("not a permutation"));
  c.graph.value(c.a).type.layout = ir::Layout::blocked(4, {{1, 16}});
  CHECK(ir::verify(c.graph).isOk());
  c.graph.value(c.a).type.layout = ir::Layout::blocked(4, {{1, 1}});
  CHECK_THAT(verifyError(c.graph), Catch::Contains("at least 2 lanes"));
  c.graph.value(c.a).type.layout = {};

  c.graph.value(c.x).type.layout = ir::Layout::permutation({0, 2, 3, 1});
  CHECK_THAT(verifyError(c.graph), Catch::Contains("graph input 'x' has layout (0,2,3,1)"));
  c.graph.value(c.x).type.layout = {};
  c.graph.value(c.w).type.layout = ir::Layout::blocked(4, {{1, 8}});
  CHECK_THAT(verifyError(c.graph), Catch::Contains("constant 'w'"));
  c.graph.value(c.w).type.layout = {};
  c.graph.value(c.graph.outputs()[0]).type.layout = ir::Layout::permutation({3, 2, 1, 0});
  CHECK_THAT(verifyError(c.graph), Catch::Contains("model outputs stay row-major"));
}

TEST_CASE("Type inference rejects sizes that would overflow, naming the node", "[ir][layout]") {
  auto b = test::makeBuilder();
  ValueId x = b.input("x", ir::DType::Float32, {1});
  const int64_t big = int64_t{1} << 31;
  b.output(b.op("Expand", {x, b.constant("shape", ir::Tensor::fromVector<int64_t>({3}, {big, big, big}))}));
  auto built = std::move(b).build();
  REQUIRE_FALSE(built.hasValue());
  CHECK_THAT(built.message(), Catch::Contains("Expand"));
  CHECK_THAT(built.message(), Catch::Contains("2147483648x2147483648x2147483648"));
  CHECK_THAT(built.message(), Catch::Contains("more than 1024 TiB"));
}

TEST_CASE("Relayout gives its output the layout of its attribute and keeps the values", "[ir][layout]") {
  Chain c = chain();
  const ir::NodeId neg = c.graph.order().back();
  auto converted = ops::insertRelayout(c.graph, neg, 0, ir::Layout::blocked(4, {{1, 2}}));
  REQUIRE(converted.hasValue());
  CHECK(c.graph.value(*converted).type.toString() == "float32[2x3x4x5] NCHW2c");
  CHECK(c.graph.value(*converted).type.bytes() == 2 * 4 * 4 * 5 * 4);
  REQUIRE(ir::verify(c.graph).isOk());
  // Placed right before its consumer; asking again reuses it.
  CHECK(c.graph.order()[c.graph.order().size() - 2] == c.graph.value(*converted).producer);
  auto again = ops::insertRelayout(c.graph, neg, 0, ir::Layout::blocked(4, {{1, 2}}));
  REQUIRE(again.hasValue());
  CHECK(*again == *converted);
  const ir::Tensor input = test::randomFloats({2, 3, 4, 5}, 3);
  Chain plain = chain();
  CHECK(test::runGraph(c.graph, {input})[0].identicalTo(test::runGraph(plain.graph, {input})[0]));

  // A layout attribute that does not fit is a user error of the node.
  const ir::NodeId bad = c.graph.addNode("Relayout", "bad", {c.a}, {"bad_out"}, {{"layout", "NCHW16x"}}, "fluidml");
  Status inferred = ops::inferNodeTypes(c.graph, bad);
  REQUIRE_FALSE(inferred.isOk());
  CHECK_THAT(inferred.message(), Catch::Contains("names no dim"));
}
