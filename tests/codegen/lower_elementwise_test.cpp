// The elementwise lowerings (core/codegen/lower_elementwise.cpp): single-node graphs built with the IR builder,
// planned, compiled with codegen::compileJit and compared with the reference interpreter on random inputs
// (broadcast shapes, odd sizes for the vector tails, big tensors for the parallel path at 2 threads).
// Tolerance against the interpreter:
//  - exact (bitwise, NaN matching NaN) for arithmetic (+ - * / and integer ops), comparisons, logic, Where,
//    Clip, Cast, min/max, activations made of those, and libm-backed functions (sin, atan, ...: same libm);
//  - rtol 1e-5, atol 1e-6 for the float32 functions written as polynomial IR (Exp, Log, Erf, Tanh, Sigmoid,
//    Softplus, Mish, Elu, Selu, Celu), which stay within a few ulp of glibc (measured below);
//  - rtol 1e-6 for Pow with small constant exponents (x*x*x rounds twice where powf rounds once) and Mean.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <random>
#include <sstream>

#include "core/analysis/memory_plan.h"
#include "core/codegen/compiler.h"
#include "core/interp/interpreter.h"
#include "tests/codegen/codegen_test_util.h"
#include "tests/test_util.h"

using namespace fluidml;
using ir::AttributeMap;
using ir::DType;
using ir::Shape;
using ir::Tensor;
using ir::ValueId;

namespace {

struct Tolerance {
  double rtol = 0;
  double atol = 0;
  bool exact() const { return rtol == 0 && atol == 0; }
};
constexpr Tolerance kExact{0, 0};
constexpr Tolerance kPolynomial{1e-5, 1e-6};
constexpr Tolerance kRounding{1e-6, 0};

/// Random values of any dtype: floats uniform in [lo, hi), integers uniform in [lo, hi], bools fair.
Tensor randomTensor(DType dtype, const Shape &shape, uint32_t seed, double lo = -1, double hi = 1) {
  std::mt19937_64 rng(seed);
  Tensor t = Tensor::zeros(dtype, shape);
  ir::visitDType(dtype, [&](auto tag) {
    using T = decltype(tag);
    T *p = t.data<T>();
    for (int64_t i = 0; i < t.numel(); ++i) {
      if constexpr (std::is_same_v<T, bool>) {
        p[i] = (rng() & 1) != 0;
      } else if constexpr (std::is_floating_point_v<T>) {
        p[i] = static_cast<T>(std::uniform_real_distribution<double>(lo, hi)(rng));
      } else {
        p[i] = static_cast<T>(
            std::uniform_int_distribution<int64_t>(static_cast<int64_t>(lo), static_cast<int64_t>(hi))(rng));
      }
    }
  });
  return t;
}

/// Overwrites the first elements of a float tensor with special values.
Tensor withSpecials(Tensor t, const std::vector<double> &specials) {
  ir::visitDType(t.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_floating_point_v<T>) {
      for (size_t i = 0; i < specials.size() && static_cast<int64_t>(i) < t.numel(); ++i)
        t.data<T>()[i] = static_cast<T>(specials[i]);
    }
  });
  return t;
}

const double kInf = std::numeric_limits<double>::infinity();
const double kNaN = std::numeric_limits<double>::quiet_NaN();
const std::vector<double> kFloatSpecials = {0.0, -0.0, kInf, -kInf, kNaN, 1e-40, -1e-40, 1e-30, -3.0e38, 3.0e38};

/// Largest distance in units in the last place between two float32 tensors (NaN vs NaN counts 0).
double maxUlp(const Tensor &expected, const Tensor &actual) {
  double worst = 0;
  for (int64_t i = 0; i < expected.numel(); ++i) {
    const float e = expected.data<float>()[i], a = actual.data<float>()[i];
    if (std::isnan(e) && std::isnan(a)) continue;
    if (std::isnan(e) || std::isnan(a)) return kInf;
    auto key = [](float f) {
      int32_t bits;
      std::memcpy(&bits, &f, 4);
      return bits < 0 ? int64_t{INT32_MIN} - bits : int64_t{bits};
    };
    worst = std::max(worst, static_cast<double>(std::llabs(key(e) - key(a))));
  }
  return worst;
}

void requireMatch(const Tensor &expected, const Tensor &actual, Tolerance tol) {
  REQUIRE(expected.type() == actual.type());
  const size_t size = ir::dtypeSize(expected.dtype());
  for (int64_t i = 0; i < expected.numel(); ++i) {
    const double e = expected.elementAsDouble(i), a = actual.elementAsDouble(i);
    if (std::isnan(e) && std::isnan(a)) continue;
    INFO("element " << i << " of " << expected.numel() << ": expected " << e << ", got " << a);
    if (tol.exact() || !ir::isFloating(expected.dtype()) || std::isinf(e)) {
      const auto *pe = static_cast<const uint8_t *>(expected.rawData()) + static_cast<size_t>(i) * size;
      const auto *pa = static_cast<const uint8_t *>(actual.rawData()) + static_cast<size_t>(i) * size;
      REQUIRE(std::memcmp(pe, pa, size) == 0);
    } else {
      REQUIRE(std::abs(e - a) <= tol.atol + tol.rtol * std::abs(e));
    }
  }
}

/// Compiles with `threads`, runs twice, returns the outputs (both runs must agree bit for bit).
std::vector<Tensor> runCompiled(const ir::Graph &graph, const std::vector<Tensor> &inputs, int threads,
                                const std::string &asmPath = "", analysis::MemoryPlan *planOut = nullptr) {
  auto plan = analysis::planMemory(graph, {});
  REQUIRE(plan.hasValue());
  REQUIRE(analysis::checkMemoryPlan(graph, *plan).isOk());
  if (planOut != nullptr) *planOut = *plan;
  auto compiled = test::compileGraph(graph, *plan, threads, asmPath);
  const std::vector<Tensor> outputs = test::runModel(*compiled, inputs);
  const std::vector<Tensor> again = test::runModel(*compiled, inputs);
  for (size_t k = 0; k < outputs.size(); ++k) REQUIRE(outputs[k].identicalTo(again[k]));
  return outputs;
}

void checkGraph(const ir::Graph &graph, const std::vector<Tensor> &inputs, Tolerance tol,
                std::vector<int> threads = {1}) {
  const std::vector<Tensor> expected = test::runGraph(graph, inputs);
  for (int t : threads) {
    INFO("threads " << t);
    std::vector<Tensor> actual = runCompiled(graph, inputs, t);
    REQUIRE(actual.size() == expected.size());
    for (size_t k = 0; k < actual.size(); ++k) requireMatch(expected[k], actual[k], tol);
  }
}

/// One node over the given operands: graph inputs, except those listed in `constants` (bound as constants).
struct OpGraph {
  ir::Graph graph;
  std::vector<Tensor> runtimeInputs;
};
OpGraph opGraph(const std::string &op, const std::vector<Tensor> &operands, AttributeMap attrs = {}, int64_t opset = 17,
                std::vector<size_t> constants = {}, size_t outputs = 1) {
  ir::GraphBuilder b = test::makeBuilder(opset);
  OpGraph g;
  std::vector<ValueId> ids;
  for (size_t i = 0; i < operands.size(); ++i) {
    if (std::find(constants.begin(), constants.end(), i) != constants.end()) {
      ids.push_back(b.constant("c" + std::to_string(i), operands[i]));
    } else {
      ids.push_back(b.input("in" + std::to_string(i), operands[i].dtype(), operands[i].shape()));
      g.runtimeInputs.push_back(operands[i]);
    }
  }
  for (ValueId v : b.opMulti(op, ids, outputs, std::move(attrs))) b.output(v);
  auto graph = std::move(b).build();
  INFO(op << ": " << (graph.hasValue() ? std::string() : graph.message()));
  REQUIRE(graph.hasValue());
  g.graph = std::move(graph).value();
  return g;
}

void checkOp(const std::string &op, const std::vector<Tensor> &operands, Tolerance tol, AttributeMap attrs = {},
             int64_t opset = 17, std::vector<size_t> constants = {}, std::vector<int> threads = {1}) {
  INFO(op << " over " << operands.size() << " operands, first " << operands.at(0).type().toString());
  OpGraph g = opGraph(op, operands, std::move(attrs), opset, std::move(constants));
  checkGraph(g.graph, g.runtimeInputs, tol, threads);
}

const std::vector<std::pair<Shape, Shape>> kBroadcastShapes = {
    {{7, 13}, {7, 13}},      {{7, 13}, {13}},       {{7, 13}, {7, 1}},   {{}, {4, 5}},     {{1}, {7, 13}},
    {{2, 3, 1, 5}, {3, 4, 1}}, {{64, 1}, {1, 64}}, {{3, 1, 33}, {1, 1}}, {{17}, {17}},     {{2, 0, 3}, {3}},
    {{1, 1, 1}, {1}},       {{5, 4, 3, 2}, {4, 1, 2}}};

}  // namespace

TEST_CASE("Lowered elementwise: Add, Mul and Relu over broadcast shapes", "[llvm][elementwise]") {
  uint32_t seed = 1;
  for (const auto &[sa, sb] : kBroadcastShapes) {
    checkOp("Add", {randomTensor(DType::Float32, sa, seed++), randomTensor(DType::Float32, sb, seed++)}, kExact);
    checkOp("Mul", {randomTensor(DType::Float32, sb, seed++), randomTensor(DType::Float32, sa, seed++)}, kExact);
    checkOp("Relu", {withSpecials(randomTensor(DType::Float32, sa, seed++), kFloatSpecials)}, kExact);
  }
  // A constant operand, as a bias is.
  checkOp("Add", {randomTensor(DType::Float32, {7, 13}, 3), randomTensor(DType::Float32, {13}, 4)}, kExact, {}, 17,
          {1});
}

TEST_CASE("Lowered elementwise: float binary arithmetic", "[llvm][elementwise]") {
  uint32_t seed = 100;
  for (const auto &[sa, sb] : kBroadcastShapes) {
    Tensor a = withSpecials(randomTensor(DType::Float32, sa, seed++, -4, 4), kFloatSpecials);
    Tensor b = randomTensor(DType::Float32, sb, seed++, -4, 4);
    for (const char *op : {"Sub", "Div", "Min", "Max", "Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual"})
      checkOp(op, {a, b}, kExact);
    checkOp("Mod", {a, b}, kExact, {{"fmod", int64_t{1}}});
  }
  // PRelu: the slope broadcasts onto X.
  checkOp("PRelu", {randomTensor(DType::Float32, {2, 3, 5}, 7), randomTensor(DType::Float32, {3, 1}, 8)}, kExact);
  checkOp("PRelu", {randomTensor(DType::Float32, {7, 13}, 9), randomTensor(DType::Float32, {13}, 10)}, kExact);
  // Float64 takes the same paths.
  checkOp("Div", {randomTensor(DType::Float64, {7, 13}, 11), randomTensor(DType::Float64, {13}, 12)}, kExact);
  checkOp("Max", {randomTensor(DType::Float64, {3, 5}, 13), randomTensor(DType::Float64, {1}, 14)}, kExact);
}

TEST_CASE("Lowered elementwise: integer arithmetic wraps like the interpreter", "[llvm][elementwise]") {
  uint32_t seed = 200;
  for (DType d : {DType::Int8, DType::UInt8, DType::Int32, DType::Int64}) {
    const double lo = d == DType::UInt8 ? 0 : d == DType::Int8 ? -128 : -1000000;
    const double hi = d == DType::UInt8 ? 255 : d == DType::Int8 ? 127 : 1000000;
    for (size_t k : {0, 1, 3, 5, 11}) {  // a few of the broadcast shapes: every dtype multiplies the compiles
      const auto &[sa, sb] = kBroadcastShapes[k];
      Tensor a = randomTensor(d, sa, seed++, lo, hi);
      Tensor b = randomTensor(d, sb, seed++, lo, hi);
      for (const char *op :
           {"Add", "Sub", "Mul", "Min", "Max", "Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual"})
        checkOp(op, {a, b}, kExact);
      // Divisors without zeros (the interpreter rejects them).
      Tensor divisor = randomTensor(d, sb, seed++, d == DType::UInt8 ? 1 : 1, d == DType::Int8 ? 9 : 37);
      if (d != DType::UInt8) {
        ir::visitDType(d, [&](auto tag) {
          using T = decltype(tag);
          if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
            T *p = divisor.data<T>();
            for (int64_t i = 0; i < divisor.numel(); ++i)
              if (i % 3 == 0) p[i] = static_cast<T>(-p[i]);
            if (divisor.numel() > 1) p[1] = T(-1);
          }
        });
      }
      checkOp("Div", {a, divisor}, kExact);
      checkOp("Mod", {a, divisor}, kExact);
      checkOp("Mod", {a, divisor}, kExact, {{"fmod", int64_t{1}}});
    }
    for (const char *op : {"Neg", "Abs", "Sign", "Relu"})
      checkOp(op, {randomTensor(d, {7, 13}, seed++, lo, hi)}, kExact);
    checkOp("PRelu", {randomTensor(d, {4, 9}, seed++, lo, hi), randomTensor(d, {9}, seed++, lo, hi)}, kExact);
  }
  // The extremes: INT_MIN / -1 and -INT_MIN wrap instead of trapping.
  Tensor extremes = Tensor::fromVector<int32_t>({4}, {INT32_MIN, INT32_MAX, -1, 0});
  Tensor minusOnes = Tensor::fromVector<int32_t>({4}, {-1, -1, -1, 7});
  checkOp("Div", {extremes, minusOnes}, kExact);
  checkOp("Mod", {extremes, minusOnes}, kExact);
  checkOp("Neg", {extremes}, kExact);
  checkOp("Abs", {extremes}, kExact);
  Tensor x = randomTensor(DType::UInt8, {5, 6}, 17, 0, 255);
  Tensor shifts = randomTensor(DType::UInt8, {6}, 18, 0, 10);
  checkOp("BitShift", {x, shifts}, kExact, {{"direction", std::string("LEFT")}});
  checkOp("BitShift", {x, shifts}, kExact, {{"direction", std::string("RIGHT")}});
}

TEST_CASE("Lowered elementwise: a constant zero divisor is a compile error", "[llvm][elementwise]") {
  OpGraph g = opGraph("Div", {randomTensor(DType::Int32, {4}, 1, 1, 9), Tensor::fromVector<int32_t>({4}, {1, 2, 0, 3})},
                      {}, 17, {1});
  auto plan = analysis::planMemory(g.graph, {});
  REQUIRE(plan.hasValue());
  auto compiled = codegen::compileJit(g.graph, *plan, {});
  REQUIRE_FALSE(compiled.hasValue());
  CHECK_THAT(compiled.message(), Catch::Contains("integer division by zero"));
}

TEST_CASE("Lowered elementwise: logic, Where, IsNaN and IsInf", "[llvm][elementwise]") {
  uint32_t seed = 300;
  for (const auto &[sa, sb] : kBroadcastShapes) {
    Tensor a = randomTensor(DType::Bool, sa, seed++);
    Tensor b = randomTensor(DType::Bool, sb, seed++);
    for (const char *op : {"And", "Or", "Xor", "Equal"}) checkOp(op, {a, b}, kExact);
    checkOp("Not", {a}, kExact);
    checkOp("Where", {a, randomTensor(DType::Float32, sb, seed++), randomTensor(DType::Float32, {1}, seed++)}, kExact);
    checkOp("Where", {b, randomTensor(DType::Int64, sa, seed++, -9, 9), randomTensor(DType::Int64, sb, seed++, -9, 9)},
            kExact);
  }
  Tensor f = withSpecials(randomTensor(DType::Float32, {7, 13}, 5), kFloatSpecials);
  checkOp("IsNaN", {f}, kExact);
  checkOp("IsInf", {f}, kExact);
  checkOp("IsInf", {f}, kExact, {{"detect_negative", int64_t{0}}});
  checkOp("IsInf", {f}, kExact, {{"detect_positive", int64_t{0}}});
  checkOp("Equal", {f, f}, kExact);
}

TEST_CASE("Lowered elementwise: exact unary float ops and activations", "[llvm][elementwise]") {
  uint32_t seed = 400;
  for (const Shape &shape : {Shape{7, 13}, Shape{}, Shape{1}, Shape{33}, Shape{2, 3, 16}}) {
    for (DType d : {DType::Float32, DType::Float64}) {
      Tensor x = withSpecials(randomTensor(d, shape, seed++, -8, 8), kFloatSpecials);
      for (const char *op : {"Neg", "Abs", "Reciprocal", "Floor", "Ceil", "Round", "Sign", "Relu", "Softsign",
                             "HardSwish", "Sin", "Cos", "Tan", "Atan", "Sinh", "Cosh", "Asinh"})
        checkOp(op, {x}, kExact);
      checkOp("LeakyRelu", {x}, kExact, {{"alpha", 0.2f}});
      checkOp("HardSigmoid", {x}, kExact, {{"alpha", 0.3f}, {"beta", 0.4f}});
      checkOp("ThresholdedRelu", {x}, kExact, {{"alpha", 0.5f}});
      checkOp("Shrink", {x}, kExact, {{"lambd", 1.5f}, {"bias", 0.25f}});
      Tensor unit = randomTensor(d, shape, seed++, -1, 1);
      for (const char *op : {"Asin", "Acos", "Atanh"}) checkOp(op, {unit}, kExact);
      checkOp("Sqrt", {randomTensor(d, shape, seed++, 0, 100)}, kExact);
      checkOp("Acosh", {randomTensor(d, shape, seed++, 1, 100)}, kExact);
    }
  }
  for (DType d : {DType::Int32, DType::Int8})
    checkOp("Shrink", {randomTensor(d, {5, 7}, 3, -9, 9)}, kExact, {{"lambd", 2.0f}, {"bias", 1.0f}});
}

TEST_CASE("Lowered elementwise: polynomial exp, log, erf, tanh, sigmoid and friends", "[llvm][elementwise]") {
  uint32_t seed = 500;
  for (const Shape &shape : {Shape{7, 13}, Shape{1}, Shape{100}, Shape{3, 5, 17}}) {
    for (double range : {1.0, 6.0, 30.0, 120.0}) {
      Tensor x = withSpecials(randomTensor(DType::Float32, shape, seed++, -range, range), kFloatSpecials);
      for (const char *op : {"Exp", "Erf", "Tanh", "Sigmoid", "Softplus", "Elu", "Selu", "Celu"})
        checkOp(op, {x}, kPolynomial);
      checkOp("Mish", {x}, kPolynomial, {}, 18);
      checkOp("Elu", {x}, kPolynomial, {{"alpha", 0.5f}});
      checkOp("Celu", {x}, kPolynomial, {{"alpha", 2.0f}});
      Tensor positive = randomTensor(DType::Float32, shape, seed++, 0, range);
      checkOp("Log", {withSpecials(positive, kFloatSpecials)}, kPolynomial);
    }
  }
  // Float64 calls the same libm as the interpreter.
  Tensor d = withSpecials(randomTensor(DType::Float64, {9, 11}, 7, -20, 20), kFloatSpecials);
  for (const char *op : {"Exp", "Erf", "Tanh", "Sigmoid", "Softplus", "Elu", "Selu", "Celu"}) checkOp(op, {d}, kExact);
  checkOp("Mish", {d}, kExact, {}, 18);
}

TEST_CASE("Lowered elementwise: ulp error of the float32 math over a sweep", "[llvm][elementwise]") {
  // Dense sweeps: every op within 4 ulp of glibc where the result is normal (tiny results: atol 1e-6 above).
  struct Sweep {
    const char *op;
    double lo, hi;
    double maxUlp;
  };
  for (const Sweep &s : {Sweep{"Exp", -87, 88.5, 2}, Sweep{"Log", 1e-3, 1e4, 2}, Sweep{"Erf", -5, 5, 2},
                         Sweep{"Tanh", -10, 10, 3}, Sweep{"Sigmoid", -80, 80, 3}, Sweep{"Softplus", -15, 40, 4}}) {
    const int64_t n = 1 << 18;
    Tensor x = Tensor::zeros(DType::Float32, {n});
    for (int64_t i = 0; i < n; ++i)
      x.data<float>()[i] = static_cast<float>(s.lo + (s.hi - s.lo) * double(i) / double(n));
    OpGraph g = opGraph(s.op, {x});
    const Tensor expected = test::runGraph(g.graph, g.runtimeInputs).at(0);
    const Tensor actual = runCompiled(g.graph, g.runtimeInputs, 1).at(0);
    const double ulp = maxUlp(expected, actual);
    WARN(s.op << " on [" << s.lo << ", " << s.hi << "]: max " << ulp << " ulp vs glibc");
    CHECK(ulp <= s.maxUlp);
  }
}

TEST_CASE("Lowered elementwise: Sum, Mean, Min, Max over broadcast operands", "[llvm][elementwise]") {
  uint32_t seed = 600;
  const std::vector<std::vector<Shape>> shapes = {
      {{7, 13}}, {{7, 13}, {13}}, {{3, 1, 5}, {4, 1}, {1}}, {{6}, {6}, {6}, {6}}};
  for (const auto &list : shapes) {
    std::vector<Tensor> floats, ints;
    for (const Shape &s : list) {
      floats.push_back(withSpecials(randomTensor(DType::Float32, s, seed++, -5, 5), {kNaN, 0.0, -0.0}));
      ints.push_back(randomTensor(DType::Int32, s, seed++, -50, 50));
    }
    for (const char *op : {"Sum", "Min", "Max"}) {
      checkOp(op, floats, kExact);
      checkOp(op, ints, kExact);
    }
    checkOp("Mean", floats, kExact);
  }
}

TEST_CASE("Lowered elementwise: Cast and CastLike between every dtype pair", "[llvm][elementwise]") {
  const std::vector<DType> dtypes = {DType::Float32, DType::Float64, DType::Int64, DType::Int32,
                                     DType::Int8,    DType::UInt8,   DType::Bool};
  const std::vector<double> specials = {kNaN,  kInf, -kInf, 1e20, -1e20, 300.5, -300.5,
                                        255.9, -0.7, 0.0,   -0.0, 127.5, 2.5};
  uint32_t seed = 700;
  for (DType from : dtypes) {
    Tensor x = ir::isFloating(from)  ? withSpecials(randomTensor(from, {5, 7}, seed++, -400, 400), specials)
               : from == DType::Bool ? randomTensor(from, {5, 7}, seed++)
                                     : randomTensor(from, {5, 7}, seed++, from == DType::UInt8 ? 0 : -128,
                                                    from == DType::UInt8 ? 255 : 127);
    if (from == DType::Int64) x.data<int64_t>()[0] = INT64_MIN, x.data<int64_t>()[1] = INT64_MAX;
    for (DType to : dtypes) {
      INFO("Cast " << ir::dtypeName(from) << " -> " << ir::dtypeName(to));
      const int64_t code = to == DType::Float32 ? 1 : to == DType::Float64 ? 11 : to == DType::Int64 ? 7
                           : to == DType::Int32 ? 6 : to == DType::Int8 ? 3 : to == DType::UInt8 ? 2 : 9;
      checkOp("Cast", {x}, kExact, {{"to", code}});
      checkOp("CastLike", {x, Tensor::zeros(to, {1})}, kExact);
    }
  }
}

TEST_CASE("Lowered elementwise: Pow with float, integer and constant exponents", "[llvm][elementwise]") {
  Tensor base = randomTensor(DType::Float32, {7, 13}, 1, 0.1, 4);
  checkOp("Pow", {base, randomTensor(DType::Float32, {13}, 2, -3, 3)}, kExact);
  checkOp("Pow", {withSpecials(randomTensor(DType::Float32, {7, 13}, 3, -4, 4), kFloatSpecials),
                  randomTensor(DType::Int64, {7, 1}, 4, -3, 3)}, kExact);
  for (float e : {2.0f, 1.0f, 0.5f}) {
    Tensor x = withSpecials(randomTensor(DType::Float32, {7, 13}, 5, -4, 4), kFloatSpecials);
    checkOp("Pow", {x, Tensor::scalar<float>(e)}, kExact, {}, 17, {1});
  }
  checkOp("Pow", {base, Tensor::scalar<float>(3.0f)}, kRounding, {}, 17, {1});
  checkOp("Pow", {base, Tensor::scalar<int64_t>(2)}, kExact, {}, 17, {1});
  checkOp("Pow", {base, Tensor::scalar<float>(1.7f)}, kExact, {}, 17, {1});
  // Integers: exact, wrapping; negative exponents through double.
  checkOp("Pow", {randomTensor(DType::Int64, {6, 5}, 6, -9, 9), randomTensor(DType::Int64, {5}, 7, -2, 40)}, kExact);
  checkOp("Pow", {randomTensor(DType::Int32, {6, 5}, 8, -9, 9), randomTensor(DType::Int8, {5}, 9, -2, 20)}, kExact);
  checkOp("Pow", {randomTensor(DType::UInt8, {6, 5}, 10, 0, 9), randomTensor(DType::UInt8, {5}, 11, 0, 9)}, kExact);
  checkOp("Pow", {randomTensor(DType::Int32, {6, 5}, 12, -9, 9), randomTensor(DType::Float32, {5}, 13, -2, 3)}, kExact);
  checkOp("Pow", {randomTensor(DType::Float64, {6, 5}, 14, 0, 9), randomTensor(DType::Float64, {5}, 15, -2, 3)},
          kExact);
}

TEST_CASE("Lowered elementwise: Clip with constant, runtime and absent bounds", "[llvm][elementwise]") {
  Tensor x = withSpecials(randomTensor(DType::Float32, {7, 13}, 1, -3, 3), kFloatSpecials);
  Tensor lo = Tensor::scalar<float>(-1.0f), hi = Tensor::scalar<float>(0.5f);
  checkOp("Clip", {x, lo, hi}, kExact, {}, 17, {1, 2});
  checkOp("Clip", {x, lo, hi}, kExact);                   // runtime bounds
  checkOp("Clip", {x, lo}, kExact, {}, 17, {1});          // min only
  checkOp("Clip", {x, hi, lo}, kExact, {}, 17, {1, 2});   // min > max: every element becomes max
  checkOp("Clip", {x}, kExact);
  checkOp("Clip", {x}, kExact, {{"min", -0.5f}, {"max", 2.0f}}, 6);
  Tensor i = randomTensor(DType::Int32, {4, 9}, 2, -100, 100);
  checkOp("Clip", {i, Tensor::scalar<int32_t>(-10), Tensor::scalar<int32_t>(20)}, kExact, {}, 17, {1, 2});
  Tensor u = randomTensor(DType::UInt8, {4, 9}, 3, 0, 255);
  checkOp("Clip", {u, Tensor::scalar<uint8_t>(10), Tensor::scalar<uint8_t>(200)}, kExact);
}

TEST_CASE("Lowered elementwise: big tensors take the parallel path", "[llvm][elementwise]") {
  const std::vector<int> threads = {1, 2};
  checkOp("Add", {randomTensor(DType::Float32, {300, 700}, 1), randomTensor(DType::Float32, {700}, 2)}, kExact, {}, 17,
          {}, threads);
  checkOp("Mul", {randomTensor(DType::Float32, {3, 100003}, 3), randomTensor(DType::Float32, {3, 1}, 4)}, kExact, {},
          17, {}, threads);
  checkOp("Add", {randomTensor(DType::Float32, {1 << 18}, 5), randomTensor(DType::Float32, {1}, 6)}, kExact, {}, 17, {},
          threads);
  checkOp("Add", {randomTensor(DType::Float32, {4096, 3}, 7), randomTensor(DType::Float32, {3}, 8)}, kExact, {}, 17, {},
          threads);
  checkOp("Erf", {randomTensor(DType::Float32, {257, 1001}, 9, -5, 5)}, kPolynomial, {}, 17, {}, threads);
  checkOp("Where", {randomTensor(DType::Bool, {512, 1}, 10), randomTensor(DType::Float32, {512, 300}, 11),
                    randomTensor(DType::Float32, {300}, 12)}, kExact, {}, 17, {}, threads);
  checkOp("Cast", {randomTensor(DType::Float32, {100000}, 13, -300, 300)}, kExact, {{"to", int64_t{3}}}, 17, {},
          threads);
}

TEST_CASE("Lowered elementwise: in-place chains stay correct and vectorized", "[llvm][elementwise]") {
  // GELU as exporters write it: x * 0.5 * (1 + erf(x / sqrt 2)); intermediates die at their consumer, so the
  // plan writes most of them in place.
  ir::GraphBuilder b = test::makeBuilder();
  const Shape shape{64, 1027};
  ValueId x = b.input("x", DType::Float32, shape);
  ValueId scaled = b.op("Div", {x, b.constant("sqrt2", Tensor::scalar<float>(1.41421356f))});
  ValueId e = b.op("Erf", {scaled});
  ValueId onePlus = b.op("Add", {e, b.constant("one", Tensor::scalar<float>(1.0f))});
  ValueId half = b.op("Mul", {x, b.constant("half", Tensor::scalar<float>(0.5f))});
  ValueId y = b.op("Mul", {half, onePlus});
  ValueId t = b.op("Tanh", {b.op("Sub", {y, b.constant("bias", randomTensor(DType::Float32, {1027}, 3))})});
  b.output(t);
  auto graph = std::move(b).build();
  REQUIRE(graph.hasValue());
  const std::vector<Tensor> inputs{randomTensor(DType::Float32, shape, 4, -6, 6)};
  analysis::MemoryPlan plan;
  const std::vector<Tensor> expected = test::runGraph(*graph, inputs);
  for (int threads : {1, 2}) {
    std::vector<Tensor> actual = runCompiled(*graph, inputs, threads, "", &plan);
    requireMatch(expected[0], actual[0], kPolynomial);
  }
  CHECK(plan.inPlaceReuses >= 2);
}

TEST_CASE("Lowered elementwise: Add and GELU loops use vector registers", "[llvm][elementwise]") {
  ir::GraphBuilder b = test::makeBuilder();
  ValueId x = b.input("x", DType::Float32, {8, 1000});
  ValueId bias = b.input("bias", DType::Float32, {1000});
  ValueId sum = b.op("Add", {x, bias});
  ValueId e = b.op("Erf", {b.op("Mul", {sum, b.constant("rsqrt2", Tensor::scalar<float>(0.70710678f))})});
  ValueId gelu = b.op("Mul", {b.op("Mul", {sum, b.constant("half", Tensor::scalar<float>(0.5f))}),
                              b.op("Add", {e, b.constant("one", Tensor::scalar<float>(1.0f))})});
  b.output(gelu);
  auto graph = std::move(b).build();
  REQUIRE(graph.hasValue());
  const std::string path = "lower_elementwise_gelu.s";
  const std::vector<Tensor> inputs{randomTensor(DType::Float32, {8, 1000}, 1, -4, 4),
                                   randomTensor(DType::Float32, {1000}, 2)};
  std::vector<Tensor> actual = runCompiled(*graph, inputs, 1, path);
  requireMatch(test::runGraph(*graph, inputs)[0], actual[0], kPolynomial);
  std::ifstream in(path);
  REQUIRE(in.good());
  std::stringstream text;
  text << in.rdbuf();
  const std::string asmText = text.str();
  const bool wide = asmText.find("%zmm") != std::string::npos || asmText.find("%ymm") != std::string::npos;
  CHECK(wide);
  CHECK(asmText.find("vfmadd") != std::string::npos);
  // No scalar libm in the hot loops.
  CHECK(asmText.find("erff") == std::string::npos);
  CHECK(asmText.find("expf") == std::string::npos);
  std::remove(path.c_str());
}
