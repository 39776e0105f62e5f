// Shape ops: type rules and reference kernels against hand-computed results, the errors they report, and
// the folding of a shape-computing subgraph.
#include <catch2/catch.hpp>

#include "core/analysis/constant_folding.h"
#include "tests/test_util.h"

using namespace fluidml;
using namespace fluidml::ir;

namespace {

/// 0, 1, 2, ... as float32 of the given shape.
Tensor iota(const Shape &shape) {
  Tensor t = Tensor::zeros(DType::Float32, shape);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = static_cast<float>(i);
  return t;
}

Tensor ints(std::vector<int64_t> values) {
  return Tensor::fromVector<int64_t>({static_cast<int64_t>(values.size())}, values);
}

template <typename T>
std::vector<T> elements(const Tensor &t) {
  return std::vector<T>(t.span<T>().begin(), t.span<T>().end());
}

/// Builds a graph whose only output is `out`, requiring success.
Graph finish(GraphBuilder &b, ValueId out) {
  b.output(out);
  auto graph = std::move(b).build();
  INFO((graph.hasValue() ? std::string() : graph.message()));
  REQUIRE(graph.hasValue());
  return std::move(graph).value();
}

/// The message of the first type error met while building.
std::string buildError(GraphBuilder &b) {
  auto graph = std::move(b).build();
  REQUIRE_FALSE(graph.hasValue());
  return graph.message();
}

}  // namespace

TEST_CASE("Reshape copies 0 dims and infers -1", "[ops][shape]") {
  GraphBuilder b = test::makeBuilder();
  ValueId x = b.input("x", DType::Float32, {2, 3, 4});
  ValueId y = b.op("Reshape", {x, b.constant("shape", ints({0, -1, 2}))});
  Graph g = finish(b, y);
  CHECK(g.value(y).type.shape == Shape{2, 6, 2});
  auto out = test::runGraph(g, {iota({2, 3, 4})});
  CHECK(out[0].shape() == Shape{2, 6, 2});
  CHECK(elements<float>(out[0]) == elements<float>(iota({24})));
}

TEST_CASE("Reshape allowzero keeps 0 as a dimension and rejects bad shapes", "[ops][shape]") {
  {
    GraphBuilder b = test::makeBuilder(14);
    ValueId x = b.input("x", DType::Float32, {0, 3, 4});
    ValueId y = b.op("Reshape", {x, b.constant("shape", ints({3, 4, 0}))}, {{"allowzero", int64_t{1}}});
    CHECK(finish(b, y).value(y).type.shape == Shape{3, 4, 0});
  }
  {
    GraphBuilder b = test::makeBuilder();
    ValueId x = b.input("x", DType::Float32, {2, 3, 4});
    b.op("Reshape", {x, b.constant("shape", ints({5, -1}))});
    CHECK_THAT(buildError(b), Catch::Contains("the -1 dimension cannot be inferred"));
  }
  {
    GraphBuilder b = test::makeBuilder();
    ValueId x = b.input("x", DType::Float32, {2, 3, 4});
    b.op("Reshape", {x, b.constant("shape", ints({-1, -1}))});
    CHECK_THAT(buildError(b), Catch::Contains("more than one -1"));
  }
  {
    GraphBuilder b = test::makeBuilder();
    ValueId x = b.input("x", DType::Float32, {2, 3, 4});
    ValueId shape = b.input("shape", DType::Int64, {2});
    b.op("Reshape", {x, shape});
    CHECK_THAT(buildError(b), Catch::Contains("must be a compile-time constant"));
  }
}

TEST_CASE("Flatten splits the dims at the axis", "[ops][shape]") {
  GraphBuilder b = test::makeBuilder();
  ValueId x = b.input("x", DType::Float32, {2, 3, 4, 5});
  ValueId a = b.op("Flatten", {x}, {{"axis", int64_t{-1}}});
  ValueId z = b.op("Flatten", {x}, {{"axis", int64_t{0}}});
  Graph g = finish(b, a);
  CHECK(g.value(a).type.shape == Shape{24, 5});
  CHECK(g.value(z).type.shape == Shape{1, 120});
}

TEST_CASE("Transpose reverses the dims by default", "[ops][shape]") {
  GraphBuilder b = test::makeBuilder();
  ValueId x = b.input("x", DType::Float32, {2, 3});
  ValueId y = b.op("Transpose", {x});
  Graph g = finish(b, y);
  auto out = test::runGraph(g, {iota({2, 3})});
  CHECK(out[0].shape() == Shape{3, 2});
  CHECK(elements<float>(out[0]) == std::vector<float>{0, 3, 1, 4, 2, 5});

  GraphBuilder b3 = test::makeBuilder();
  ValueId x3 = b3.input("x", DType::Float32, {2, 3, 4});
  ValueId y3 = b3.op("Transpose", {x3}, {{"perm", std::vector<int64_t>{1, 2, 0}}});
  Graph g3 = finish(b3, y3);
  auto out3 = test::runGraph(g3, {iota({2, 3, 4})});
  REQUIRE(out3[0].shape() == Shape{3, 4, 2});
  // out[j][k][i] = in[i][j][k] = 12 i + 4 j + k
  CHECK(out3[0].data<float>()[0 * 8 + 0 * 2 + 1] == 12.0f);
  CHECK(out3[0].data<float>()[2 * 8 + 3 * 2 + 1] == 12.0f + 8.0f + 3.0f);
  CHECK(out3[0].data<float>()[1 * 8 + 2 * 2 + 0] == 6.0f);

  GraphBuilder bad = test::makeBuilder();
  bad.op("Transpose", {bad.input("x", DType::Float32, {2, 3})}, {{"perm", std::vector<int64_t>{0, 0}}});
  CHECK_THAT(buildError(bad), Catch::Contains("is not a permutation"));
}

TEST_CASE("Slice clamps out-of-range starts and ends and walks negative steps", "[ops][shape]") {
  SECTION("1-D, negative step, both ends far out of range") {
    GraphBuilder b = test::makeBuilder();
    ValueId x = b.input("x", DType::Float32, {10});
    ValueId y = b.op("Slice", {x, b.constant("starts", ints({20})), b.constant("ends", ints({-100})),
                               b.constant("axes", ints({0})), b.constant("steps", ints({-3}))});
    Graph g = finish(b, y);
    auto out = test::runGraph(g, {iota({10})});
    CHECK(elements<float>(out[0]) == std::vector<float>{9, 6, 3, 0});
  }
  SECTION("1-D, positive step, clamped") {
    GraphBuilder b = test::makeBuilder();
    ValueId x = b.input("x", DType::Float32, {10});
    ValueId y = b.op("Slice", {x, b.constant("starts", ints({-100})), b.constant("ends", ints({100})),
                               b.constant("axes", ints({0})), b.constant("steps", ints({4}))});
    auto out = test::runGraph(finish(b, y), {iota({10})});
    CHECK(elements<float>(out[0]) == std::vector<float>{0, 4, 8});
  }
  SECTION("2-D, negative axes and steps") {
    // rows: start -1 -> 2, end -10 -> -7 -> clamped to -1: rows 2, 1, 0. cols: start 10 -> 3, end 0: cols 3, 1.
    GraphBuilder b = test::makeBuilder();
    ValueId x = b.input("x", DType::Float32, {3, 4});
    ValueId y = b.op("Slice", {x, b.constant("starts", ints({-1, 10})), b.constant("ends", ints({-10, 0})),
                               b.constant("axes", ints({-2, -1})), b.constant("steps", ints({-1, -2}))});
    auto out = test::runGraph(finish(b, y), {iota({3, 4})});
    CHECK(out[0].shape() == Shape{3, 2});
    CHECK(elements<float>(out[0]) == std::vector<float>{11, 9, 7, 5, 3, 1});
  }
  SECTION("empty result when start passes end") {
    GraphBuilder b = test::makeBuilder();
    ValueId x = b.input("x", DType::Float32, {10});
    ValueId y = b.op("Slice", {x, b.constant("starts", ints({7})), b.constant("ends", ints({3}))});
    CHECK(finish(b, y).value(y).type.shape == Shape{0});
  }
  SECTION("opset 9 attribute form") {
    GraphBuilder b = test::makeBuilder(9);
    ValueId x = b.input("x", DType::Float32, {3, 4});
    ValueId y = b.op("Slice", {x}, {{"starts", std::vector<int64_t>{1}}, {"ends", std::vector<int64_t>{1000}},
                                    {"axes", std::vector<int64_t>{1}}});
    auto out = test::runGraph(finish(b, y), {iota({3, 4})});
    CHECK(elements<float>(out[0]) == std::vector<float>{1, 2, 3, 5, 6, 7, 9, 10, 11});
  }
  SECTION("a zero step is an error") {
    GraphBuilder b = test::makeBuilder();
    ValueId x = b.input("x", DType::Float32, {10});
    b.op("Slice", {x, b.constant("starts", ints({0})), b.constant("ends", ints({5})), b.constant("axes", ints({0})),
                   b.constant("steps", ints({0}))});
    CHECK_THAT(buildError(b), Catch::Contains("0 step"));
  }
}

TEST_CASE("Split with a list, equal parts and an uneven last chunk", "[ops][shape]") {
  SECTION("opset 18 num_outputs leaves a smaller last chunk") {
    GraphBuilder b = test::makeBuilder(18);
    ValueId x = b.input("x", DType::Float32, {2, 5});
    auto parts = b.opMulti("Split", {x}, 2, {{"axis", int64_t{1}}, {"num_outputs", int64_t{2}}});
    b.output(parts[0]);
    b.output(parts[1]);
    auto g = std::move(b).build();
    REQUIRE(g.hasValue());
    auto out = test::runGraph(*g, {iota({2, 5})});
    CHECK(out[0].shape() == Shape{2, 3});
    CHECK(out[1].shape() == Shape{2, 2});
    CHECK(elements<float>(out[0]) == std::vector<float>{0, 1, 2, 5, 6, 7});
    CHECK(elements<float>(out[1]) == std::vector<float>{3, 4, 8, 9});
  }
  SECTION("a split input") {
    GraphBuilder b = test::makeBuilder(13);
    ValueId x = b.input("x", DType::Float32, {6});
    auto parts = b.opMulti("Split", {x, b.constant("split", ints({1, 0, 5}))}, 3);
    for (ValueId p : parts) b.output(p);
    auto g = std::move(b).build();
    REQUIRE(g.hasValue());
    auto out = test::runGraph(*g, {iota({6})});
    CHECK(elements<float>(out[0]) == std::vector<float>{0});
    CHECK(out[1].shape() == Shape{0});
    CHECK(elements<float>(out[2]) == std::vector<float>{1, 2, 3, 4, 5});
  }
  SECTION("before opset 18 an uneven equal split is an error") {
    GraphBuilder b = test::makeBuilder(13);
    b.opMulti("Split", {b.input("x", DType::Float32, {5})}, 2);
    CHECK_THAT(buildError(b), Catch::Contains("cannot be split evenly"));
  }
  SECTION("a split list that does not add up is an error") {
    GraphBuilder b = test::makeBuilder(11);
    b.opMulti("Split", {b.input("x", DType::Float32, {5})}, 2, {{"split", std::vector<int64_t>{2, 2}}});
    CHECK_THAT(buildError(b), Catch::Contains("sums to 4"));
  }
}

TEST_CASE("Unsqueeze with negative axes counts from the output rank", "[ops][shape]") {
  GraphBuilder b = test::makeBuilder(13);
  ValueId x = b.input("x", DType::Float32, {3, 4});
  ValueId y = b.op("Unsqueeze", {x, b.constant("axes", ints({-1, 0}))});
  Graph g = finish(b, y);
  CHECK(g.value(y).type.shape == Shape{1, 3, 4, 1});
  auto out = test::runGraph(g, {iota({3, 4})});
  CHECK(elements<float>(out[0]) == elements<float>(iota({12})));

  GraphBuilder old = test::makeBuilder(11);
  ValueId xo = old.input("x", DType::Float32, {3, 4});
  ValueId yo = old.op("Unsqueeze", {xo}, {{"axes", std::vector<int64_t>{-2}}});
  CHECK(finish(old, yo).value(yo).type.shape == Shape{3, 1, 4});

  GraphBuilder dup = test::makeBuilder(13);
  dup.op("Unsqueeze", {dup.input("x", DType::Float32, {3}), dup.constant("axes", ints({0, -3}))});
  CHECK_THAT(buildError(dup), Catch::Contains("repeated"));
}

TEST_CASE("Squeeze removes size-1 dims and rejects others", "[ops][shape]") {
  GraphBuilder b = test::makeBuilder(13);
  ValueId x = b.input("x", DType::Float32, {1, 3, 1});
  ValueId all = b.op("Squeeze", {x});
  ValueId last = b.op("Squeeze", {x, b.constant("axes", ints({-1}))});
  Graph g = finish(b, all);
  CHECK(g.value(all).type.shape == Shape{3});
  CHECK(g.value(last).type.shape == Shape{1, 3});

  GraphBuilder bad = test::makeBuilder(13);
  bad.op("Squeeze", {bad.input("x", DType::Float32, {1, 3}), bad.constant("axes", ints({1}))});
  CHECK_THAT(buildError(bad), Catch::Contains("cannot squeeze axis 1 of size 3"));
}

TEST_CASE("Concat joins along the axis and rejects mismatched dims", "[ops][shape]") {
  GraphBuilder b = test::makeBuilder();
  ValueId x = b.input("x", DType::Float32, {2, 2});
  ValueId y = b.input("y", DType::Float32, {2, 1});
  ValueId z = b.op("Concat", {x, y}, {{"axis", int64_t{-1}}});
  Graph g = finish(b, z);
  auto out = test::runGraph(g, {iota({2, 2}), Tensor::fromVector<float>({2, 1}, {10, 20})});
  CHECK(out[0].shape() == Shape{2, 3});
  CHECK(elements<float>(out[0]) == std::vector<float>{0, 1, 10, 2, 3, 20});

  GraphBuilder bad = test::makeBuilder();
  bad.op("Concat", {bad.input("x", DType::Float32, {2, 3}), bad.input("y", DType::Float32, {2, 4})},
         {{"axis", int64_t{0}}});
  CHECK_THAT(buildError(bad), Catch::Contains("in dimension 1 outside the concat axis 0"));
}

TEST_CASE("Expand and Tile repeat elements", "[ops][shape]") {
  GraphBuilder b = test::makeBuilder();
  ValueId x = b.input("x", DType::Float32, {3, 1});
  ValueId e = b.op("Expand", {x, b.constant("shape", ints({2, 1, 2}))});
  ValueId t = b.op("Tile", {x, b.constant("repeats", ints({2, 2}))});
  b.output(e);
  Graph g = finish(b, t);
  auto out = test::runGraph(g, {Tensor::fromVector<float>({3, 1}, {1, 2, 3})});
  CHECK(out[0].shape() == Shape{2, 3, 2});
  CHECK(elements<float>(out[0]) == std::vector<float>{1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3});
  CHECK(out[1].shape() == Shape{6, 2});
  CHECK(elements<float>(out[1]) == std::vector<float>{1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3});

  GraphBuilder b2 = test::makeBuilder();
  ValueId x2 = b2.input("x", DType::Int64, {2, 2});
  ValueId t2 = b2.op("Tile", {x2, b2.constant("repeats", ints({1, 2}))});
  auto out2 = test::runGraph(finish(b2, t2), {Tensor::fromVector<int64_t>({2, 2}, {1, 2, 3, 4})});
  CHECK(elements<int64_t>(out2[0]) == std::vector<int64_t>{1, 2, 1, 2, 3, 4, 3, 4});

  GraphBuilder bad = test::makeBuilder();
  bad.op("Expand", {bad.input("x", DType::Float32, {3, 2}), bad.constant("shape", ints({4}))});
  CHECK_THAT(buildError(bad), Catch::Contains("cannot expand 3x2"));
}

TEST_CASE("Shape with start and end, and Size", "[ops][shape]") {
  GraphBuilder b = test::makeBuilder(15);
  ValueId x = b.input("x", DType::Float32, {3, 4, 5});
  ValueId s = b.op("Shape", {x}, {{"start", int64_t{-2}}, {"end", int64_t{10}}});
  ValueId n = b.op("Size", {x});
  b.output(s);
  Graph g = finish(b, n);
  auto out = test::runGraph(g, {iota({3, 4, 5})});
  CHECK(elements<int64_t>(out[0]) == std::vector<int64_t>{4, 5});
  CHECK(out[1].shape().empty());
  CHECK(out[1].data<int64_t>()[0] == 60);
}

TEST_CASE("Constant, ConstantOfShape, Range and EyeLike create tensors", "[ops][shape]") {
  GraphBuilder b = test::makeBuilder();
  ValueId c = b.op("Constant", {}, {{"value_ints", std::vector<int64_t>{2, 3}}});
  ValueId filled = b.op("ConstantOfShape", {b.constant("shape", ints({2, 2}))},
                        {{"value", Tensor::fromVector<int32_t>({1}, {7})}});
  ValueId zeros = b.op("ConstantOfShape", {b.constant("shape2", ints({3}))});
  ValueId r = b.op("Range", {b.constant("start", Tensor::scalar<int64_t>(10)),
                             b.constant("limit", Tensor::scalar<int64_t>(3)),
                             b.constant("delta", Tensor::scalar<int64_t>(-3))});
  ValueId rf = b.op("Range", {b.constant("fstart", Tensor::scalar<float>(1.0f)),
                              b.constant("flimit", Tensor::scalar<float>(2.0f)),
                              b.constant("fdelta", Tensor::scalar<float>(0.25f))});
  ValueId x = b.input("x", DType::Int32, {3, 4});
  ValueId eye = b.op("EyeLike", {x}, {{"k", int64_t{1}}, {"dtype", int64_t{1}}});
  for (ValueId v : {c, filled, zeros, r, rf}) b.output(v);
  Graph g = finish(b, eye);
  auto out = test::runGraph(g, {Tensor::zeros(DType::Int32, {3, 4})});
  CHECK(elements<int64_t>(out[0]) == std::vector<int64_t>{2, 3});
  CHECK(out[1].dtype() == DType::Int32);
  CHECK(elements<int32_t>(out[1]) == std::vector<int32_t>{7, 7, 7, 7});
  CHECK(out[2].dtype() == DType::Float32);
  CHECK(elements<float>(out[2]) == std::vector<float>{0, 0, 0});
  CHECK(elements<int64_t>(out[3]) == std::vector<int64_t>{10, 7, 4});
  CHECK(elements<float>(out[4]) == std::vector<float>{1.0f, 1.25f, 1.5f, 1.75f});
  CHECK(out[5].dtype() == DType::Float32);
  CHECK(elements<float>(out[5]) == std::vector<float>{0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1});

  GraphBuilder empty = test::makeBuilder();
  ValueId none = empty.op("Constant", {}, {{"value_floats", std::vector<float>{}}});
  CHECK(finish(empty, none).value(none).type == TensorType(DType::Float32, {0}));

  GraphBuilder bad = test::makeBuilder();
  bad.op("Range", {bad.constant("s", Tensor::scalar<float>(0)), bad.constant("l", Tensor::scalar<float>(1)),
                   bad.constant("d", Tensor::scalar<float>(0))});
  CHECK_THAT(buildError(bad), Catch::Contains("delta is 0"));
}

TEST_CASE("Dropout is the identity at inference and refuses training mode", "[ops][shape]") {
  GraphBuilder b = test::makeBuilder(13);
  ValueId x = b.input("x", DType::Float32, {2, 2});
  auto outs = b.opMulti("Dropout", {x, b.constant("ratio", Tensor::scalar<float>(0.3f))}, 2);
  b.output(outs[0]);
  b.output(outs[1]);
  auto g = std::move(b).build();
  REQUIRE(g.hasValue());
  auto out = test::runGraph(*g, {iota({2, 2})});
  CHECK(elements<float>(out[0]) == std::vector<float>{0, 1, 2, 3});
  CHECK(out[1].dtype() == DType::Bool);
  CHECK(elements<bool>(out[1]) == std::vector<bool>{true, true, true, true});

  GraphBuilder bad = test::makeBuilder(13);
  bad.op("Dropout", {bad.input("x", DType::Float32, {2}), bad.constant("ratio", Tensor::scalar<float>(0.5f)),
                     bad.constant("training", Tensor::scalar<bool>(true))});
  CHECK_THAT(buildError(bad), Catch::Contains("training mode"));
}

TEST_CASE("a shape-computing subgraph folds into the Reshape's constant operand", "[ops][shape][fold]") {
  // Reshape x to [x.shape[0], -1]: Shape (of a computed value: it reads only the static type) -> Slice ->
  // Concat all fold; only the Reshape is left. Types are left to inferTypesAndFold, as at import: the
  // Reshape's type needs its shape operand folded first.
  GraphBuilder b(GraphBuilder::TypeInference{}, 17);
  ValueId x = b.input("x", DType::Float32, {2, 3, 4});
  ValueId shape = b.op("Shape", {x});
  ValueId batch = b.op("Slice", {shape, b.constant("starts", ints({0})), b.constant("ends", ints({1}))});
  ValueId target = b.op("Concat", {batch, b.constant("rest", ints({-1}))}, {{"axis", int64_t{0}}});
  ValueId y = b.op("Reshape", {x, target});
  Graph g = finish(b, y);

  auto stats = analysis::inferTypesAndFold(g);
  INFO((stats.hasValue() ? std::string() : stats.message()));
  REQUIRE(stats.hasValue());
  CHECK(stats->foldedNodes == 3);
  REQUIRE(g.order().size() == 1);
  const Node &reshape = g.node(g.order()[0]);
  CHECK(reshape.opType == "Reshape");
  REQUIRE(g.value(reshape.inputs[1]).isConstant());
  CHECK(g.value(reshape.inputs[1]).constant.toInt64Vector() == std::vector<int64_t>{2, -1});
  CHECK(g.value(y).type.shape == Shape{2, 12});
  CHECK(g.constants().size() == 1);  // the slice arguments and the Concat operand are gone

  auto out = test::runGraph(g, {iota({2, 3, 4})});
  CHECK(out[0].shape() == Shape{2, 12});
  CHECK(elements<float>(out[0]) == elements<float>(iota({24})));
}
