// Compiled normalization ops, reductions and ArgMax/ArgMin against the reference interpreter on random inputs
// (single-node graphs built with the IR builder, planned, compiled with codegen::compileJit).
// Tolerance: float results within rtol 1e-5 + atol 1e-5 of the interpreter (it accumulates statistics in double,
// the kernels in the tensor's type with vector lanes, and exp is a polynomial of ~2 ulp); integer results and
// indices (ArgMax, Hardmax positions, integer reductions) are exact.
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <random>

#include "core/analysis/memory_plan.h"
#include "core/codegen/compiler.h"
#include "tests/codegen/codegen_test_util.h"
#include "tests/test_util.h"

using namespace fluidml;
using ir::DType;
using ir::Shape;
using ir::Tensor;
using ir::ValueId;

namespace {

constexpr double kRtol = 1e-5;
constexpr double kAtol = 1e-5;

Tensor int64s(std::vector<int64_t> values) {
  return Tensor::fromVector<int64_t>({static_cast<int64_t>(values.size())}, values);
}

Tensor randomInts(DType dtype, const Shape &shape, uint32_t seed, int lo, int hi) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> dist(lo, hi);
  Tensor t = Tensor::zeros(dtype, shape);
  ir::visitDType(dtype, [&](auto tag) {
    using T = decltype(tag);
    T *p = static_cast<T *>(t.rawData());
    for (int64_t i = 0; i < t.numel(); ++i) p[i] = static_cast<T>(dist(rng));
  });
  return t;
}

void requireClose(const Tensor &expected, const Tensor &actual, double rtol, double atol) {
  REQUIRE(expected.type() == actual.type());
  const bool exact = !ir::isFloating(expected.dtype());
  int64_t bad = 0;
  for (int64_t i = 0; i < expected.numel(); ++i) {
    const double e = expected.elementAsDouble(i), a = actual.elementAsDouble(i);
    bool ok = exact ? expected.elementAsInt(i) == actual.elementAsInt(i)
                    : ((std::isnan(e) && std::isnan(a)) || e == a || std::abs(e - a) <= atol + rtol * std::abs(e));
    if (!ok && bad++ < 5) {
      INFO("element " << i << ": expected " << e << ", got " << a);
      CHECK(ok);
    }
  }
  REQUIRE(bad == 0);
}

/// Compiles `graph` with `threads` threads, runs it and compares every output with the interpreter.
void checkCompiled(const ir::Graph &graph, const std::vector<Tensor> &inputs, int threads = 1, double rtol = kRtol,
                   double atol = kAtol) {
  const std::vector<Tensor> outputs = test::runModel(*test::compileGraph(graph, threads), inputs);
  const std::vector<Tensor> expected = test::runGraph(graph, inputs);
  REQUIRE(expected.size() == outputs.size());
  for (size_t k = 0; k < outputs.size(); ++k) requireClose(expected[k], outputs[k], rtol, atol);
}

/// One op over inputs of the given types (random data) and constants, compiled and compared.
struct OneOp {
  explicit OneOp(int64_t opset = 17) : builder(test::makeBuilder(opset)) {}

  ValueId input(const Tensor &value) {
    inputs.push_back(value);
    return builder.input("x" + std::to_string(inputs.size()), value.dtype(), value.shape());
  }
  ValueId constant(const Tensor &value) { return builder.constant("c" + std::to_string(constants++), value); }
  void check(const std::string &opType, const std::vector<ValueId> &operands, ir::AttributeMap attrs = {},
             size_t outputs = 1, int threads = 1, double rtol = kRtol, double atol = kAtol) {
    for (ValueId out : builder.opMulti(opType, operands, outputs, std::move(attrs))) builder.output(out);
    auto graph = std::move(builder).build();
    INFO((graph.hasValue() ? std::string() : graph.message()));
    REQUIRE(graph.hasValue());
    checkCompiled(*graph, inputs, threads, rtol, atol);
  }

  ir::GraphBuilder builder;
  std::vector<Tensor> inputs;
  int constants = 0;
};

Tensor scaled(Tensor t, float factor, float offset = 0.0f) {
  for (float &v : t.span<float>()) v = v * factor + offset;
  return t;
}

}  // namespace

TEST_CASE("Lowered Softmax over the last axis of [1,12,128,128]", "[llvm][lower-norm]") {
  for (int threads : {1, 2}) {
    OneOp op;
    ValueId x = op.input(scaled(test::randomFloats({1, 12, 128, 128}, 1), 8.0f));
    op.check("Softmax", {x}, {{"axis", int64_t{-1}}}, 1, threads);
  }
}

TEST_CASE("Lowered Softmax and LogSoftmax: odd rows, inner axes, old opsets, extreme values", "[llvm][lower-norm]") {
  SECTION("rows with a tail") {
    OneOp op;
    op.check("Softmax", {op.input(scaled(test::randomFloats({5, 7, 37}, 2), 30.0f))}, {{"axis", int64_t{2}}});
  }
  SECTION("axis 1 of [2,37,21]: columns in lanes plus leftovers") {
    OneOp op;
    op.check("Softmax", {op.input(scaled(test::randomFloats({2, 37, 21}, 3), 5.0f))}, {{"axis", int64_t{1}}});
  }
  SECTION("opset 11 coerces to 2-D") {
    OneOp op(11);
    op.check("Softmax", {op.input(test::randomFloats({3, 4, 5}, 4))}, {{"axis", int64_t{1}}});
  }
  SECTION("huge and -inf inputs") {
    Tensor t = scaled(test::randomFloats({4, 40}, 5), 100.0f);
    t.data<float>()[3] = -std::numeric_limits<float>::infinity();
    t.data<float>()[50] = 1e30f;
    OneOp op;
    op.check("Softmax", {op.input(t)}, {{"axis", int64_t{-1}}});
  }
  SECTION("LogSoftmax rows") {
    OneOp op;
    op.check("LogSoftmax", {op.input(scaled(test::randomFloats({8, 1000}, 6), 10.0f))}, {{"axis", int64_t{-1}}});
  }
  SECTION("LogSoftmax axis 0, parallel") {
    OneOp op;
    op.check("LogSoftmax", {op.input(test::randomFloats({33, 1100}, 7))}, {{"axis", int64_t{0}}}, 1, 2);
  }
  SECTION("float64") {
    OneOp op;
    Tensor d = Tensor::zeros(DType::Float64, {3, 19});
    Tensor f = test::randomFloats({3, 19}, 8);
    for (int64_t i = 0; i < d.numel(); ++i) d.data<double>()[i] = 3.0 * f.data<float>()[i];
    op.check("Softmax", {op.input(d)}, {{"axis", int64_t{-1}}}, 1, 1, 1e-12, 1e-12);
  }
}

TEST_CASE("Lowered Hardmax and LpNormalization", "[llvm][lower-norm]") {
  SECTION("Hardmax last axis") {
    OneOp op;
    op.check("Hardmax", {op.input(test::randomFloats({6, 17}, 10))}, {{"axis", int64_t{-1}}});
  }
  SECTION("Hardmax axis 0 with ties and NaN") {
    Tensor t = test::randomFloats({5, 40}, 11);
    t.data<float>()[0] = t.data<float>()[40] = 5.0f;
    t.data<float>()[81] = std::nanf("");
    OneOp op;
    op.check("Hardmax", {op.input(t)}, {{"axis", int64_t{0}}});
  }
  for (int64_t p : {1, 2}) {
    SECTION("LpNormalization p=" + std::to_string(p)) {
      OneOp op;
      Tensor t = test::randomFloats({4, 9, 35}, 12);
      for (int64_t i = 0; i < 35; ++i) t.data<float>()[i] = 0.0f;  // a zero row stays zero
      op.check("LpNormalization", {op.input(t)}, {{"axis", int64_t{-1}}, {"p", p}});
      OneOp columns;
      columns.check("LpNormalization", {columns.input(test::randomFloats({4, 9, 35}, 13))},
                    {{"axis", int64_t{1}}, {"p", p}});
    }
  }
}

TEST_CASE("Lowered LayerNormalization [1,128,768]", "[llvm][lower-norm]") {
  for (int threads : {1, 2}) {
    OneOp op;
    ValueId x = op.input(scaled(test::randomFloats({1, 128, 768}, 20), 3.0f, 0.5f));
    ValueId scale = op.constant(test::randomFloats({768}, 21));
    ValueId bias = op.constant(test::randomFloats({768}, 22));
    op.check("LayerNormalization", {x, scale, bias}, {{"axis", int64_t{-1}}, {"epsilon", 1e-5f}}, 1, threads);
  }
}

TEST_CASE("Lowered LayerNormalization variants", "[llvm][lower-norm]") {
  SECTION("statistics outputs, axis 1, no bias") {
    OneOp op;
    ValueId x = op.input(test::randomFloats({3, 5, 7}, 23));
    ValueId scale = op.constant(test::randomFloats({5, 7}, 24));
    op.check("LayerNormalization", {x, scale}, {{"axis", int64_t{1}}}, 3);
  }
  SECTION("large mean: the shifted sums do not cancel") {
    OneOp op;
    ValueId x = op.input(scaled(test::randomFloats({4, 300}, 25), 1.0f, 1000.0f));
    ValueId scale = op.input(test::randomFloats({300}, 26));
    ValueId bias = op.input(test::randomFloats({300}, 27));
    op.check("LayerNormalization", {x, scale, bias}, {{"axis", int64_t{-1}}}, 1, 1, 1e-4, 1e-4);
  }
  SECTION("broadcast scale: constant expanded, run-time broadcast") {
    OneOp op;
    ValueId x = op.input(test::randomFloats({2, 6, 20}, 28));
    ValueId scale = op.constant(test::randomFloats({1, 20}, 29));
    ValueId bias = op.input(test::randomFloats({1}, 30));
    op.check("LayerNormalization", {x, scale, bias}, {{"axis", int64_t{1}}});
  }
}

TEST_CASE("Lowered BatchNormalization, InstanceNormalization, GroupNormalization", "[llvm][lower-norm]") {
  SECTION("BatchNormalization with constant parameters (folded)") {
    OneOp op;
    ValueId x = op.input(test::randomFloats({2, 16, 7, 9}, 40));
    std::vector<ValueId> params = {op.constant(test::randomFloats({16}, 41)), op.constant(test::randomFloats({16}, 42)),
                                   op.constant(test::randomFloats({16}, 43)),
                                   op.constant(test::randomFloats({16}, 44, 0.1f, 2.0f))};
    op.check("BatchNormalization", {x, params[0], params[1], params[2], params[3]}, {{"epsilon", 1e-3f}});
  }
  SECTION("BatchNormalization with run-time parameters, parallel") {
    OneOp op;
    ValueId x = op.input(test::randomFloats({2, 8, 64, 64}, 45));
    std::vector<ValueId> params = {op.input(test::randomFloats({8}, 46)), op.input(test::randomFloats({8}, 47)),
                                   op.input(test::randomFloats({8}, 48)),
                                   op.input(test::randomFloats({8}, 49, 0.1f, 2.0f))};
    op.check("BatchNormalization", {x, params[0], params[1], params[2], params[3]}, {}, 1, 2);
  }
  SECTION("InstanceNormalization") {
    OneOp op;
    ValueId x = op.input(scaled(test::randomFloats({2, 3, 5, 7}, 50), 2.0f, 1.0f));
    op.check("InstanceNormalization",
             {x, op.constant(test::randomFloats({3}, 51)), op.constant(test::randomFloats({3}, 52))});
  }
  SECTION("GroupNormalization (opset 18)") {
    OneOp op(18);
    ValueId x = op.input(test::randomFloats({2, 6, 4, 5}, 53));
    op.check("GroupNormalization", {x, op.constant(test::randomFloats({3}, 54)), op.constant(test::randomFloats({3}, 55))},
             {{"num_groups", int64_t{3}}});
  }
}

TEST_CASE("Lowered MeanVarianceNormalization", "[llvm][lower-norm]") {
  SECTION("default axes {0,2,3}") {
    OneOp op;
    op.check("MeanVarianceNormalization", {op.input(test::randomFloats({2, 3, 4, 5}, 60))});
  }
  SECTION("axes {1}: lanes over the kept innermost dims") {
    OneOp op;
    op.check("MeanVarianceNormalization", {op.input(test::randomFloats({3, 6, 40}, 61))},
             {{"axes", std::vector<int64_t>{1}}});
  }
}

TEST_CASE("Lowered ReduceMean keepdims over axes", "[llvm][lower-norm]") {
  struct Case {
    Shape shape;
    std::vector<int64_t> axes;
    int64_t keepdims;
  };
  const std::vector<Case> cases = {{{1, 128, 768}, {-1}, 1},    {{2, 16, 8, 8}, {2, 3}, 1}, {{4, 5, 6}, {0, 2}, 1},
                                   {{3, 40, 20}, {1}, 0},       {{3, 40, 37}, {0}, 1},      {{2, 3, 4, 5}, {1, 3}, 0},
                                   {{7}, {0}, 0},               {{64, 1024}, {0}, 1}};
  for (const Case &c : cases) {
    INFO("shape " << ir::shapeToString(c.shape) << " keepdims " << c.keepdims);
    for (int threads : {1, 2}) {
      OneOp op;
      op.check("ReduceMean", {op.input(test::randomFloats(c.shape, 70))},
               {{"axes", c.axes}, {"keepdims", c.keepdims}}, 1, threads);
    }
  }
}

TEST_CASE("Lowered Reduce* kinds on floats", "[llvm][lower-norm]") {
  const std::vector<std::string> ops = {"ReduceSum",  "ReduceMax",       "ReduceMin",    "ReduceProd",
                                        "ReduceL1",   "ReduceL2",        "ReduceSumSquare", "ReduceLogSum",
                                        "ReduceLogSumExp"};
  for (const std::string &name : ops) {
    for (const std::vector<int64_t> &axes : {std::vector<int64_t>{2}, std::vector<int64_t>{1}, std::vector<int64_t>{}}) {
      INFO(name << " axes " << axes.size());
      OneOp op;
      Tensor x = name == "ReduceLogSum" ? test::randomFloats({3, 20, 35}, 80, 0.1f, 2.0f)
                 : name == "ReduceProd" ? test::randomFloats({3, 20, 35}, 80, 0.9f, 1.1f)
                                        : scaled(test::randomFloats({3, 20, 35}, 80), 4.0f);
      ValueId in = op.input(x);
      if (name == "ReduceSum") {  // opset 13+: axes is an input
        if (axes.empty())
          op.check(name, {in});
        else
          op.check(name, {in, op.constant(int64s(axes))}, {{"keepdims", int64_t{1}}});
      } else if (axes.empty()) {
        op.check(name, {in}, {{"keepdims", int64_t{0}}});
      } else {
        op.check(name, {in}, {{"axes", axes}});
      }
    }
  }
}

TEST_CASE("Lowered reductions: NaN, integers, noop, opset 18 axes input", "[llvm][lower-norm]") {
  SECTION("ReduceMax propagates NaN") {
    Tensor x = test::randomFloats({4, 33}, 90);
    x.data<float>()[40] = std::nanf("");
    OneOp op;
    op.check("ReduceMax", {op.input(x)}, {{"axes", std::vector<int64_t>{1}}});
  }
  SECTION("int64 and int32: sums and products wrap, means truncate") {
    for (DType dtype : {DType::Int64, DType::Int32}) {
      for (std::string name : {"ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceMean", "ReduceL1",
                                      "ReduceSumSquare"}) {
        INFO(name << " " << ir::dtypeName(dtype));
        OneOp op;
        ValueId in = op.input(randomInts(dtype, {5, 6, 19}, 91, -9, 9));
        if (name == "ReduceSum")
          op.check(name, {in, op.constant(int64s({2}))});
        else
          op.check(name, {in}, {{"axes", std::vector<int64_t>{0}}});
      }
    }
  }
  SECTION("an empty reduced axis gives the identity") {
    for (std::string name : {"ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceLogSumExp"}) {
      INFO(name);
      OneOp op;
      ValueId in = op.input(Tensor::zeros(DType::Float32, {3, 0}));
      if (name == "ReduceSum")
        op.check(name, {in, op.constant(int64s({1}))});
      else
        op.check(name, {in}, {{"axes", std::vector<int64_t>{1}}});
    }
  }
  SECTION("uint8 and bool max/min") {
    OneOp op;
    op.check("ReduceMax", {op.input(randomInts(DType::UInt8, {4, 30}, 92, 0, 255))}, {{"axes", std::vector<int64_t>{1}}});
    OneOp op2;
    op2.check("ReduceMin", {op2.input(randomInts(DType::Bool, {4, 30}, 93, 0, 1))}, {{"axes", std::vector<int64_t>{0}}});
  }
  SECTION("noop_with_empty_axes copies") {
    OneOp op;
    op.check("ReduceSum", {op.input(test::randomFloats({3, 4}, 94))}, {{"noop_with_empty_axes", int64_t{1}}});
  }
  SECTION("opset 18: axes as an input") {
    OneOp op(18);
    op.check("ReduceMean", {op.input(test::randomFloats({3, 4, 50}, 95)), op.constant(int64s({-1}))});
  }
}

TEST_CASE("Lowered ArgMax and ArgMin", "[llvm][lower-norm]") {
  for (int64_t selectLast : {0, 1}) {
    for (int64_t axis : {0, 1, 2}) {
      INFO("axis " << axis << " select_last_index " << selectLast);
      Tensor x = test::randomFloats({4, 21, 18}, 100);
      for (int64_t i = 0; i < x.numel(); i += 7) x.data<float>()[i] = 0.5f;  // ties
      x.data<float>()[30] = std::nanf("");
      OneOp op;
      op.check("ArgMax", {op.input(x)}, {{"axis", axis}, {"select_last_index", selectLast}});
      OneOp op2;
      op2.check("ArgMin", {op2.input(x)}, {{"axis", axis}, {"keepdims", int64_t{0}}, {"select_last_index", selectLast}});
      OneOp op3;
      op3.check("ArgMax", {op3.input(randomInts(DType::Int32, {4, 21, 18}, 101, -3, 3))},
                {{"axis", axis}, {"select_last_index", selectLast}});
    }
  }
}
