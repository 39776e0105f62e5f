// Normalizations, the Softmax family, reductions and ArgMax/ArgMin against hand-computed values.
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>

#include "tests/test_util.h"

using namespace fluidml;
using namespace fluidml::ir;

namespace {

/// Builds a graph with one op over graph inputs (and constants), runs it and returns all outputs.
struct OneOp {
  explicit OneOp(int64_t opset = 17) : builder(test::makeBuilder(opset)) {}

  ValueId in(DType dtype, Shape shape) { return builder.input("x" + std::to_string(inputs.size()), dtype, shape); }
  template <typename T>
  ValueId feed(Shape shape, std::vector<T> values) {
    ValueId v = in(dtypeOf<T>(), shape);
    inputs.push_back(Tensor::fromVector<T>(shape, values));
    return v;
  }
  template <typename T>
  ValueId constant(Shape shape, std::vector<T> values) {
    return builder.constant("c" + std::to_string(constants++), Tensor::fromVector<T>(shape, values));
  }
  std::vector<Tensor> run(const std::string &opType, const std::vector<ValueId> &operands, AttributeMap attrs = {},
                          size_t outputCount = 1) {
    for (ValueId out : builder.opMulti(opType, operands, outputCount, std::move(attrs))) builder.output(out);
    auto graph = std::move(builder).build();
    INFO((graph.hasValue() ? std::string() : graph.message()));
    REQUIRE(graph.hasValue());
    return test::runGraph(*graph, inputs);
  }
  /// The type-inference error of the op, or "" when it type-checks.
  std::string error(const std::string &opType, const std::vector<ValueId> &operands, AttributeMap attrs = {},
                    size_t outputCount = 1) {
    for (ValueId out : builder.opMulti(opType, operands, outputCount, std::move(attrs))) builder.output(out);
    auto graph = std::move(builder).build();
    return graph.hasValue() ? std::string() : graph.message();
  }

  GraphBuilder builder;
  std::vector<Tensor> inputs;
  int constants = 0;
};

template <typename T>
void checkValues(const Tensor &t, const Shape &shape, const std::vector<T> &expected, double tolerance = 1e-6) {
  REQUIRE(t.dtype() == dtypeOf<T>());
  REQUIRE(t.shape() == shape);
  for (size_t i = 0; i < expected.size(); ++i) {
    INFO("element " << i);
    if constexpr (std::is_floating_point_v<T>)
      CHECK(static_cast<double>(t.data<T>()[i]) == Approx(static_cast<double>(expected[i])).margin(tolerance));
    else
      CHECK(t.data<T>()[i] == expected[i]);
  }
}

}  // namespace

TEST_CASE("Softmax over axis -1 matches hand values", "[ops][normalization]") {
  OneOp t;
  ValueId x = t.feed<float>({2, 3}, {1, 2, 3, 0, 0, 0});
  auto y = t.run("Softmax", {x}, {{"axis", int64_t{-1}}});
  // exp(-2), exp(-1), 1 over their sum 1.50321472...
  checkValues<float>(y[0], {2, 3}, {0.09003057f, 0.24472847f, 0.66524096f, 1 / 3.f, 1 / 3.f, 1 / 3.f});
}

TEST_CASE("Softmax subtracts the maximum, LogSoftmax stays finite", "[ops][normalization]") {
  OneOp t;
  ValueId x = t.feed<float>({1, 3}, {1000, 1001, 1002});
  auto y = t.run("Softmax", {x});
  checkValues<float>(y[0], {1, 3}, {0.09003057f, 0.24472847f, 0.66524096f});

  OneOp l;
  ValueId lx = l.feed<float>({1, 3}, {1000, 1001, 1002});
  auto ly = l.run("LogSoftmax", {lx});
  // log(softmax) = x - max - log(sum exp(x - max)) = {-2, -1, 0} - 0.40760596
  checkValues<float>(ly[0], {1, 3}, {-2.40760596f, -1.40760596f, -0.40760596f});
}

TEST_CASE("Softmax at opset 11 coerces a 3-D input to 2-D at axis", "[ops][normalization]") {
  OneOp t(11);
  ValueId x = t.feed<float>({2, 2, 2}, {0, 1, 2, 3, 10, 11, 12, 13});
  auto y = t.run("Softmax", {x}, {{"axis", int64_t{1}}});
  // Each batch is one row of 4: exp(k - 3) / (1 + e^-1 + e^-2 + e^-3).
  std::vector<float> row = {0.0320586f, 0.0871443f, 0.2368828f, 0.6439143f};
  std::vector<float> expected = row;
  expected.insert(expected.end(), row.begin(), row.end());
  checkValues<float>(y[0], {2, 2, 2}, expected);

  // Opset 13 normalizes the single axis 1 instead: pairs (0, 2) and (1, 3) in each batch.
  OneOp t13(13);
  ValueId x13 = t13.feed<float>({2, 2, 2}, {0, 1, 2, 3, 10, 11, 12, 13});
  auto y13 = t13.run("Softmax", {x13}, {{"axis", int64_t{1}}});
  float lo = 1 / (1 + std::exp(2.f)), hi = 1 - lo;
  checkValues<float>(y13[0], {2, 2, 2}, {lo, lo, hi, hi, lo, lo, hi, hi});
}

TEST_CASE("Hardmax marks the first maximum along the axis", "[ops][normalization]") {
  OneOp t;
  ValueId x = t.feed<float>({2, 3}, {1, 3, 3, -1, -2, -3});
  auto y = t.run("Hardmax", {x}, {{"axis", int64_t{1}}});
  checkValues<float>(y[0], {2, 3}, {0, 1, 0, 1, 0, 0});
}

TEST_CASE("LayerNormalization matches a manual computation", "[ops][normalization]") {
  OneOp t;
  ValueId x = t.feed<float>({2, 3}, {1, 2, 3, 2, 4, 6});
  ValueId scale = t.constant<float>({3}, {1, 2, 0.5f});
  ValueId bias = t.constant<float>({3}, {0, 1, -1});
  auto y = t.run("LayerNormalization", {x, scale, bias}, {{"epsilon", 0.01f}}, 3);
  // Row 0: mean 2, variance 2/3; row 1: mean 4, variance 8/3.
  double inv0 = 1 / std::sqrt(2.0 / 3 + 0.01), inv1 = 1 / std::sqrt(8.0 / 3 + 0.01);
  std::vector<float> expected = {
      static_cast<float>(-1 * inv0 * 1 + 0), static_cast<float>(0 * inv0 * 2 + 1),
      static_cast<float>(1 * inv0 * 0.5 - 1), static_cast<float>(-2 * inv1 * 1 + 0),
      static_cast<float>(0 * inv1 * 2 + 1),   static_cast<float>(2 * inv1 * 0.5 - 1)};
  checkValues<float>(y[0], {2, 3}, expected);
  checkValues<float>(y[1], {2, 1}, {2, 4});
  checkValues<float>(y[2], {2, 1}, {static_cast<float>(inv0), static_cast<float>(inv1)});
}

TEST_CASE("LayerNormalization over two axes without bias", "[ops][normalization]") {
  OneOp t;
  ValueId x = t.feed<float>({1, 2, 2}, {1, 3, 5, 7});
  ValueId scale = t.constant<float>({2}, {1, 10});  // broadcasts over the normalized shape 2x2
  auto y = t.run("LayerNormalization", {x, scale}, {{"axis", int64_t{1}}, {"epsilon", 0.f}});
  // mean 4, variance 5
  double s = 1 / std::sqrt(5.0);
  checkValues<float>(y[0], {1, 2, 2},
                     {static_cast<float>(-3 * s), static_cast<float>(-10 * s), static_cast<float>(s),
                      static_cast<float>(30 * s)});
}

TEST_CASE("LayerNormalization rejects a scale of the wrong shape", "[ops][normalization][errors]") {
  OneOp t;
  ValueId x = t.in(DType::Float32, {2, 3});
  ValueId scale = t.constant<float>({4}, {1, 1, 1, 1});
  std::string message = t.error("LayerNormalization", {x, scale});
  CHECK_THAT(message, Catch::Contains("Scale of shape 4 does not broadcast to the normalized shape 3"));
  CHECK_THAT(message, Catch::Contains("(LayerNormalization)"));

  OneOp missing;
  ValueId mx = missing.in(DType::Float32, {2, 3});
  CHECK_THAT(missing.error("LayerNormalization", {mx}), Catch::Contains("needs input 1 (Scale)"));
}

TEST_CASE("BatchNormalization matches the inference formula", "[ops][normalization]") {
  OneOp t(15);
  ValueId x = t.feed<float>({1, 2, 1, 2}, {1, 2, 3, 4});
  ValueId scale = t.constant<float>({2}, {2, 0.5f});
  ValueId bias = t.constant<float>({2}, {1, -1});
  ValueId mean = t.constant<float>({2}, {1.5f, 3});
  ValueId var = t.constant<float>({2}, {4, 0.25f});
  auto y = t.run("BatchNormalization", {x, scale, bias, mean, var}, {{"epsilon", 0.01f}});
  // y = (x - mean) / sqrt(var + eps) * scale + bias
  double a0 = 2 / std::sqrt(4.01), a1 = 0.5 / std::sqrt(0.26);
  checkValues<float>(y[0], {1, 2, 1, 2},
                     {static_cast<float>(-0.5 * a0 + 1), static_cast<float>(0.5 * a0 + 1),
                      static_cast<float>(0 * a1 - 1), static_cast<float>(1 * a1 - 1)});
}

TEST_CASE("BatchNormalization rejects training mode and bad parameter shapes", "[ops][normalization][errors]") {
  OneOp t(15);
  ValueId x = t.in(DType::Float32, {1, 2, 2});
  ValueId p = t.constant<float>({2}, {1, 1});
  CHECK_THAT(t.error("BatchNormalization", {x, p, p, p, p}, {{"training_mode", int64_t{1}}}, 3),
             Catch::Contains("training_mode=1 is not supported"));

  OneOp s(15);
  ValueId sx = s.in(DType::Float32, {1, 3, 2});
  ValueId sp = s.constant<float>({2}, {1, 1});
  CHECK_THAT(s.error("BatchNormalization", {sx, sp, sp, sp, sp}), Catch::Contains("scale must have shape 3, got 2"));
}

TEST_CASE("InstanceNormalization and GroupNormalization normalize per instance and group",
          "[ops][normalization]") {
  OneOp t;
  ValueId x = t.feed<float>({1, 2, 2}, {1, 3, 10, 20});
  ValueId scale = t.constant<float>({2}, {1, 2});
  ValueId bias = t.constant<float>({2}, {0, 1});
  auto y = t.run("InstanceNormalization", {x, scale, bias}, {{"epsilon", 0.f}});
  // Channel 0: mean 2, std 1; channel 1: mean 15, std 5.
  checkValues<float>(y[0], {1, 2, 2}, {-1, 1, -1, 3});

  OneOp g(18);
  ValueId gx = g.feed<float>({1, 4, 1}, {1, 3, 10, 20});
  ValueId gscale = g.constant<float>({2}, {1, 2});
  ValueId gbias = g.constant<float>({2}, {0, 1});
  auto gy = g.run("GroupNormalization", {gx, gscale, gbias}, {{"epsilon", 0.f}, {"num_groups", int64_t{2}}});
  checkValues<float>(gy[0], {1, 4, 1}, {-1, 1, -1, 3});

  // Opset 21 takes one scale and bias per channel instead of per group.
  OneOp g21(21);
  ValueId cx = g21.feed<float>({1, 4, 1}, {1, 3, 10, 20});
  ValueId cscale = g21.constant<float>({4}, {1, 2, 3, 4});
  ValueId cbias = g21.constant<float>({4}, {0, 0, 1, 1});
  auto cy = g21.run("GroupNormalization", {cx, cscale, cbias}, {{"epsilon", 0.f}, {"num_groups", int64_t{2}}});
  checkValues<float>(cy[0], {1, 4, 1}, {-1, 2, -2, 5});

  OneOp bad(18);
  ValueId bx = bad.in(DType::Float32, {1, 6, 2});
  ValueId bp = bad.constant<float>({4}, {1, 1, 1, 1});
  CHECK_THAT(bad.error("GroupNormalization", {bx, bp, bp}, {{"num_groups", int64_t{4}}}),
             Catch::Contains("6 channels cannot be split into 4 groups"));
}

TEST_CASE("MeanVarianceNormalization and LpNormalization", "[ops][normalization]") {
  OneOp t;
  ValueId x = t.feed<float>({2, 1, 1, 1}, {1, 3});
  auto y = t.run("MeanVarianceNormalization", {x});
  checkValues<float>(y[0], {2, 1, 1, 1}, {-1, 1}, 1e-6);

  OneOp l;
  ValueId lx = l.feed<float>({2, 2}, {3, 4, 0, 0});
  auto ly = l.run("LpNormalization", {lx});
  checkValues<float>(ly[0], {2, 2}, {0.6f, 0.8f, 0, 0});
  OneOp l1;
  ValueId l1x = l1.feed<float>({2, 2}, {3, -1, 1, 1});
  auto l1y = l1.run("LpNormalization", {l1x}, {{"p", int64_t{1}}, {"axis", int64_t{0}}});
  checkValues<float>(l1y[0], {2, 2}, {0.75f, -0.5f, 0.25f, 0.5f});
}

TEST_CASE("ReduceSum with keepdims=0 and negative axes", "[ops][reduce]") {
  std::vector<float> data(12);
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<float>(i + 1);
  // x[i][j][k] = 1 + 6i + 2j + k; summing i and k leaves 18 + 8j.
  OneOp t(13);
  ValueId x = t.feed<float>({2, 3, 2}, data);
  ValueId axes = t.constant<int64_t>({2}, {-3, -1});
  auto y = t.run("ReduceSum", {x, axes}, {{"keepdims", int64_t{0}}});
  checkValues<float>(y[0], {3}, {18, 26, 34});

  OneOp old(11);
  ValueId ox = old.feed<float>({2, 3, 2}, data);
  auto oy = old.run("ReduceSum", {ox}, {{"axes", std::vector<int64_t>{-3, -1}}, {"keepdims", int64_t{0}}});
  checkValues<float>(oy[0], {3}, {18, 26, 34});

  OneOp ints(13);
  ValueId ix = ints.feed<int64_t>({2, 3}, {1, 2, 3, 4, 5, 6});
  ValueId iaxes = ints.constant<int64_t>({1}, {-2});
  auto iy = ints.run("ReduceSum", {ix, iaxes});
  checkValues<int64_t>(iy[0], {1, 3}, {5, 7, 9});
}

TEST_CASE("ReduceMax over an empty axes list reduces everything or nothing", "[ops][reduce]") {
  OneOp t(13);
  ValueId x = t.feed<float>({2, 2}, {1, 7, -3, 4});
  auto y = t.run("ReduceMax", {x}, {{"axes", std::vector<int64_t>{}}});
  checkValues<float>(y[0], {1, 1}, {7});

  OneOp input(18);
  ValueId ix = input.feed<int32_t>({2, 2}, {1, 7, -3, 4});
  ValueId axes = input.constant<int64_t>({0}, {});
  auto iy = input.run("ReduceMax", {ix, axes}, {{"keepdims", int64_t{0}}});
  checkValues<int32_t>(iy[0], {}, {7});

  OneOp noop(18);
  ValueId nx = noop.feed<float>({2, 2}, {1, 7, -3, 4});
  ValueId naxes = noop.constant<int64_t>({0}, {});
  auto ny = noop.run("ReduceMax", {nx, naxes}, {{"noop_with_empty_axes", int64_t{1}}});
  checkValues<float>(ny[0], {2, 2}, {1, 7, -3, 4});
}

TEST_CASE("Reductions over an empty dimension give the identity element", "[ops][reduce]") {
  auto reduceEmpty = [](const std::string &op) {
    OneOp t;
    ValueId x = t.feed<float>({2, 0}, {});
    return t.run(op, {x}, {{"axes", std::vector<int64_t>{1}}, {"keepdims", int64_t{0}}})[0];
  };
  checkValues<float>(reduceEmpty("ReduceSum"), {2}, {0, 0});
  checkValues<float>(reduceEmpty("ReduceProd"), {2}, {1, 1});
  Tensor max = reduceEmpty("ReduceMax");
  CHECK(max.data<float>()[0] == -std::numeric_limits<float>::infinity());
  Tensor min = reduceEmpty("ReduceMin");
  CHECK(min.data<float>()[1] == std::numeric_limits<float>::infinity());
  Tensor logSum = reduceEmpty("ReduceLogSumExp");
  CHECK(logSum.data<float>()[0] == -std::numeric_limits<float>::infinity());
  CHECK(std::isnan(reduceEmpty("ReduceMean").data<float>()[0]));
}

TEST_CASE("Reduce family on a middle axis", "[ops][reduce]") {
  // x[i][j][k], shape 2x3x2, reduce axis 1.
  std::vector<float> data = {1, -2, 3, 4, -5, 6, 0.5f, 1, 2, 2, 4, 0.25f};
  auto reduce = [&](const std::string &op) {
    OneOp t;
    ValueId x = t.feed<float>({2, 3, 2}, data);
    return t.run(op, {x}, {{"axes", std::vector<int64_t>{1}}})[0];
  };
  checkValues<float>(reduce("ReduceMean"), {2, 1, 2}, {-1 / 3.f, 8 / 3.f, 6.5f / 3, 3.25f / 3});
  checkValues<float>(reduce("ReduceMin"), {2, 1, 2}, {-5, -2, 0.5f, 0.25f});
  checkValues<float>(reduce("ReduceProd"), {2, 1, 2}, {-15, -48, 4, 0.5f});
  checkValues<float>(reduce("ReduceL1"), {2, 1, 2}, {9, 12, 6.5f, 3.25f});
  checkValues<float>(reduce("ReduceSumSquare"), {2, 1, 2}, {35, 56, 20.25f, 5.0625f});
  checkValues<float>(reduce("ReduceL2"), {2, 1, 2},
                     {std::sqrt(35.f), std::sqrt(56.f), 4.5f, std::sqrt(5.0625f)});
  Tensor logSum = reduce("ReduceLogSum");
  CHECK(std::isnan(logSum.data<float>()[0]));  // log of a negative sum
  CHECK(logSum.data<float>()[1] == Approx(std::log(8.f)));
  CHECK(logSum.data<float>()[3] == Approx(std::log(3.25f)));
  checkValues<float>(reduce("ReduceLogSumExp"), {2, 1, 2},
                     {static_cast<float>(std::log(std::exp(1.0) + std::exp(3.0) + std::exp(-5.0))),
                      static_cast<float>(std::log(std::exp(-2.0) + std::exp(4.0) + std::exp(6.0))),
                      static_cast<float>(std::log(std::exp(0.5) + std::exp(2.0) + std::exp(4.0))),
                      static_cast<float>(std::log(std::exp(1.0) + std::exp(2.0) + std::exp(0.25)))});
}

TEST_CASE("ArgMax and ArgMin honour select_last_index and keepdims", "[ops][reduce]") {
  auto arg = [](const std::string &op, int64_t last, int64_t keepdims) {
    OneOp t;
    ValueId x = t.feed<float>({2, 3}, {1, 3, 3, 5, 5, 2});
    return t.run(op, {x}, {{"axis", int64_t{1}}, {"select_last_index", last}, {"keepdims", keepdims}})[0];
  };
  checkValues<int64_t>(arg("ArgMax", 0, 1), {2, 1}, {1, 0});
  checkValues<int64_t>(arg("ArgMax", 1, 1), {2, 1}, {2, 1});
  checkValues<int64_t>(arg("ArgMin", 0, 0), {2}, {0, 2});

  OneOp axis0;
  ValueId x = axis0.feed<int64_t>({2, 3}, {1, 3, 3, 5, 5, 2});
  auto y = axis0.run("ArgMax", {x}, {{"axis", int64_t{-2}}});
  checkValues<int64_t>(y[0], {1, 3}, {1, 1, 0});
}

TEST_CASE("Reductions reject bad axes and non-constant axes", "[ops][reduce][errors]") {
  OneOp t(13);
  ValueId x = t.in(DType::Float32, {2, 3});
  CHECK_THAT(t.error("ReduceMean", {x}, {{"axes", std::vector<int64_t>{2}}}),
             Catch::Contains("axis 2 is out of range for rank 2"));

  OneOp dyn(13);
  ValueId dx = dyn.in(DType::Float32, {2, 3});
  ValueId daxes = dyn.in(DType::Int64, {1});
  CHECK_THAT(dyn.error("ReduceSum", {dx, daxes}), Catch::Contains("must be a compile-time constant"));

  OneOp logs(13);
  ValueId lx = logs.in(DType::Int64, {2, 3});
  CHECK_THAT(logs.error("ReduceLogSum", {lx}), Catch::Contains("does not support int64"));
}
