// Compiled indexing ops (gathers, scatters, Pad, Resize/Upsample, Trilu, CumSum, OneHot, TopK) against the
// reference interpreter on random inputs (single-node graphs built with the IR builder, planned, compiled with
// codegen::compileJit).
// Tolerance: exact for everything that moves or selects elements (gathers, scatters without arithmetic, Pad,
// nearest Resize, Trilu, OneHot, TopK values and indices, integer CumSum). Float arithmetic: linear/cubic Resize
// accumulate in double like the interpreter but in another order (rtol 1e-6, atol 1e-6), float CumSum and
// scatter reductions sum in the same order as the interpreter but in float (rtol 1e-5, atol 1e-6).
// Run-time indices out of range are clamped by compiled code (the interpreter reports an error), checked
// against hand-computed results.
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

Tensor int64s(Shape shape, std::vector<int64_t> values) { return Tensor::fromVector<int64_t>(shape, values); }
Tensor int64s(std::vector<int64_t> values) { return int64s({static_cast<int64_t>(values.size())}, values); }
Tensor floats(std::vector<float> values) {
  return Tensor::fromVector<float>({static_cast<int64_t>(values.size())}, values);
}

Tensor randomInts(DType dtype, const Shape &shape, uint32_t seed, int64_t lo, int64_t hi) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int64_t> dist(lo, hi);
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
  int64_t bad = 0;
  for (int64_t i = 0; i < expected.numel(); ++i) {
    bool ok = false;
    if (ir::isFloating(expected.dtype())) {
      const double e = expected.elementAsDouble(i), a = actual.elementAsDouble(i);
      ok = (std::isnan(e) && std::isnan(a)) || e == a || std::abs(e - a) <= atol + rtol * std::abs(e);
    } else {
      ok = expected.elementAsInt(i) == actual.elementAsInt(i);
    }
    if (!ok && bad++ < 5) {
      INFO("element " << i << ": expected " << expected.elementAsDouble(i) << ", got " << actual.elementAsDouble(i));
      CHECK(ok);
    }
  }
  REQUIRE(bad == 0);
}

/// Compiles `graph`, runs it and returns the outputs.
std::vector<Tensor> runCompiled(const ir::Graph &graph, const std::vector<Tensor> &inputs, int threads) {
  return test::runModel(*test::compileGraph(graph, threads), inputs);
}

struct OneOp {
  explicit OneOp(int64_t opset = 17) : builder(test::makeBuilder(opset)) {}

  ValueId input(const Tensor &value) {
    inputs.push_back(value);
    return builder.input("x" + std::to_string(inputs.size()), value.dtype(), value.shape());
  }
  ValueId constant(const Tensor &value) { return builder.constant("c" + std::to_string(constants++), value); }
  ir::Graph build(const std::string &opType, const std::vector<ValueId> &operands, ir::AttributeMap attrs,
                  size_t outputs) {
    for (ValueId out : builder.opMulti(opType, operands, outputs, std::move(attrs))) builder.output(out);
    auto graph = std::move(builder).build();
    INFO((graph.hasValue() ? std::string() : graph.message()));
    REQUIRE(graph.hasValue());
    return std::move(graph).value();
  }
  /// Compiles the op and compares every output with the interpreter (exact by default).
  void check(const std::string &opType, const std::vector<ValueId> &operands, ir::AttributeMap attrs = {},
             size_t outputs = 1, int threads = 1, double rtol = 0, double atol = 0) {
    ir::Graph graph = build(opType, operands, std::move(attrs), outputs);
    std::vector<Tensor> actual = runCompiled(graph, inputs, threads);
    std::vector<Tensor> expected = test::runGraph(graph, inputs);
    REQUIRE(expected.size() == actual.size());
    for (size_t k = 0; k < actual.size(); ++k) requireClose(expected[k], actual[k], rtol, atol);
  }
  /// Compiles the op and returns its outputs (for cases the interpreter rejects at run time).
  std::vector<Tensor> compiled(const std::string &opType, const std::vector<ValueId> &operands,
                               ir::AttributeMap attrs = {}) {
    ir::Graph graph = build(opType, operands, std::move(attrs), 1);
    return runCompiled(graph, inputs, 1);
  }

  ir::GraphBuilder builder;
  std::vector<Tensor> inputs;
  int constants = 0;
};

}  // namespace

TEST_CASE("Lowered Gather of an embedding table [1000,64] with int64 ids [1,16]", "[llvm][lower-index]") {
  for (int threads : {1, 2}) {
    OneOp op;
    ValueId table = op.constant(test::randomFloats({1000, 64}, 1));
    ValueId ids = op.input(randomInts(DType::Int64, {1, 16}, 2, -1000, 999));
    op.check("Gather", {table, ids}, {{"axis", int64_t{0}}}, 1, threads);
  }
  SECTION("a large gather in parallel") {
    OneOp op;
    ValueId table = op.input(test::randomFloats({500, 96}, 3));
    ValueId ids = op.input(randomInts(DType::Int64, {8, 128}, 4, 0, 499));
    op.check("Gather", {table, ids}, {}, 1, 2);
  }
}

TEST_CASE("Lowered Gather variants", "[llvm][lower-index]") {
  SECTION("axis 1, int32 indices, constant") {
    OneOp op;
    ValueId data = op.input(test::randomFloats({3, 7, 5}, 5));
    op.check("Gather", {data, op.constant(Tensor::fromVector<int32_t>({2, 2}, std::vector<int32_t>{0, -1, 6, 3}))},
             {{"axis", int64_t{1}}});
  }
  SECTION("last axis, scalar index") {
    OneOp op;
    ValueId data = op.input(randomInts(DType::Int64, {4, 9}, 6, -100, 100));
    op.check("Gather", {data, op.input(Tensor::scalar<int64_t>(-2))}, {{"axis", int64_t{-1}}});
  }
  SECTION("out-of-range run-time indices are clamped") {
    OneOp op;
    Tensor data = test::randomFloats({5, 3}, 7);
    ValueId d = op.input(data);
    ValueId ids = op.input(int64s({4}, {7, -9, 2, -1}));
    std::vector<Tensor> out = op.compiled("Gather", {d, ids});
    const int64_t expectedRows[] = {4, 0, 2, 4};
    for (int64_t r = 0; r < 4; ++r)
      for (int64_t k = 0; k < 3; ++k)
        CHECK(out[0].data<float>()[r * 3 + k] == data.data<float>()[expectedRows[r] * 3 + k]);
  }
}

TEST_CASE("Lowered GatherElements and GatherND", "[llvm][lower-index]") {
  for (int64_t axis : {0, 1, 2}) {
    OneOp op;
    ValueId data = op.input(test::randomFloats({4, 5, 6}, 10));
    Shape shape = {3, 5, 4};
    int64_t size = Shape{4, 5, 6}[static_cast<size_t>(axis)];
    ValueId idx = op.input(randomInts(DType::Int64, shape, 11, -size, size - 1));
    op.check("GatherElements", {data, idx}, {{"axis", axis}});
  }
  SECTION("GatherND, batch_dims 0") {
    OneOp op;
    ValueId data = op.input(test::randomFloats({4, 5, 6}, 12));
    op.check("GatherND", {data, op.input(int64s({3, 2}, {0, 1, 3, -1, 2, 4}))});
  }
  SECTION("GatherND, batch_dims 1, int32") {
    OneOp op;
    ValueId data = op.input(test::randomFloats({2, 5, 6}, 13));
    op.check("GatherND",
             {data, op.input(Tensor::fromVector<int32_t>({2, 3, 1}, std::vector<int32_t>{0, 4, 2, 1, 1, -5}))},
             {{"batch_dims", int64_t{1}}});
  }
}

TEST_CASE("Lowered ScatterND, ScatterElements and Scatter", "[llvm][lower-index]") {
  for (const char *reduction : {"none", "add", "mul", "max", "min"}) {
    INFO("reduction " << reduction);
    OneOp op(18);
    ValueId data = op.input(test::randomFloats({4, 5, 6}, 20));
    ValueId idx = op.input(int64s({3, 2}, {0, 1, 3, -1, 0, 1}));  // a duplicate tuple
    ValueId updates = op.input(test::randomFloats({3, 6}, 21));
    op.check("ScatterND", {data, idx, updates}, {{"reduction", std::string(reduction)}}, 1, 1, 1e-6, 1e-6);

    OneOp op2(18);
    ValueId data2 = op2.input(test::randomFloats({4, 7}, 22));
    ValueId idx2 = op2.input(randomInts(DType::Int64, {3, 5}, 23, -7, 6));
    ValueId updates2 = op2.input(test::randomFloats({3, 5}, 24));
    op2.check("ScatterElements", {data2, idx2, updates2}, {{"axis", int64_t{1}}, {"reduction", std::string(reduction)}},
              1, 1, 1e-6, 1e-6);
  }
  SECTION("Scatter (opset 10) on int32") {
    OneOp op(10);
    ValueId data = op.input(randomInts(DType::Int32, {5, 3}, 25, -50, 50));
    ValueId idx = op.input(Tensor::fromVector<int32_t>({2, 3}, std::vector<int32_t>{4, 0, 1, -1, 2, 3}));
    ValueId updates = op.input(randomInts(DType::Int32, {2, 3}, 26, -50, 50));
    op.check("Scatter", {data, idx, updates}, {{"axis", int64_t{0}}});
  }
}

TEST_CASE("Lowered Pad in every mode", "[llvm][lower-index]") {
  for (const char *mode : {"constant", "reflect", "edge", "wrap"}) {
    INFO("mode " << mode);
    OneOp op;
    ValueId data = op.input(test::randomFloats({2, 3, 7, 9}, 30));
    std::vector<ValueId> operands = {data, op.constant(int64s({0, 1, 3, 2, 0, 1, 4, 5}))};
    if (std::string(mode) == "constant") operands.push_back(op.constant(floats({2.5f}).reshaped({})));
    op.check("Pad", operands, {{"mode", std::string(mode)}});
  }
  SECTION("reflect on a big image, parallel") {
    OneOp op;
    ValueId data = op.input(test::randomFloats({1, 8, 64, 64}, 31));
    op.check("Pad", {data, op.constant(int64s({0, 0, 3, 3, 0, 0, 3, 3}))}, {{"mode", std::string("reflect")}}, 1, 2);
  }
  SECTION("negative pads crop, int64 data, run-time pad value") {
    OneOp op;
    ValueId data = op.input(randomInts(DType::Int64, {5, 8}, 32, -1000, 1000));
    op.check("Pad", {data, op.constant(int64s({-1, 2, 1, -3})), op.input(Tensor::scalar<int64_t>(-7))});
  }
  SECTION("opset 18 axes; opset 2 attributes") {
    OneOp op(18);
    ValueId data = op.input(test::randomFloats({3, 4, 5}, 33));
    op.check("Pad", {data, op.constant(int64s({1, 2, 2, 0})), ir::kNoValue,
                     op.constant(int64s({0, -1}))},
             {{"mode", std::string("edge")}});
  }
  SECTION("opset 2: pads and value attributes, 1-D") {
    OneOp op(2);
    ValueId data = op.input(test::randomFloats({6}, 34));
    op.check("Pad", {data}, {{"pads", std::vector<int64_t>{2, 3}}, {"value", 1.5f}});
  }
}

TEST_CASE("Lowered Resize: nearest and linear half_pixel 2x", "[llvm][lower-index]") {
  for (const char *mode : {"nearest", "linear"}) {
    INFO("mode " << mode);
    for (int threads : {1, 2}) {
      OneOp op;
      ValueId x = op.input(test::randomFloats({1, 3, 32, 32}, 40));
      ValueId scales = op.constant(floats({1, 1, 2, 2}));
      op.check("Resize", {x, op.constant(floats({})), scales},
               {{"mode", std::string(mode)}, {"coordinate_transformation_mode", std::string("half_pixel")}}, 1, threads,
               1e-6, 1e-6);
    }
  }
}

TEST_CASE("Lowered Resize: every coordinate mode, cubic, nearest modes, sizes, integers", "[llvm][lower-index]") {
  const std::vector<std::string> coords = {"half_pixel",   "half_pixel_symmetric", "pytorch_half_pixel",
                                           "align_corners", "asymmetric",           "tf_half_pixel_for_nn"};
  for (std::string mode : {"nearest", "linear", "cubic"}) {
    for (const std::string &coord : coords) {
      INFO(mode << " " << coord);
      OneOp op;
      ValueId x = op.input(test::randomFloats({2, 3, 7, 5}, 41));
      ValueId sizes = op.constant(int64s({2, 3, 12, 3}));  // up on H, down on W
      op.check("Resize", {x, op.constant(floats({})), op.constant(floats({})), sizes},
               {{"mode", mode}, {"coordinate_transformation_mode", coord}, {"exclude_outside", int64_t{mode == "cubic"}}},
               1, 1, 1e-6, 1e-6);
    }
  }
  for (std::string nearest : {"round_prefer_floor", "round_prefer_ceil", "floor", "ceil"}) {
    INFO(nearest);
    OneOp op;
    ValueId x = op.input(test::randomFloats({1, 1, 5, 6}, 42));
    op.check("Resize", {x, op.constant(floats({})), op.constant(floats({1, 1, 1.7f, 0.6f}))},
             {{"mode", std::string("nearest")}, {"nearest_mode", nearest},
              {"coordinate_transformation_mode", std::string("asymmetric")}});
  }
  SECTION("tf_crop_and_resize with extrapolation") {
    OneOp op;
    ValueId x = op.input(test::randomFloats({1, 1, 6, 6}, 43));
    ValueId roi = op.constant(floats({0, 0, -0.2f, 0.3f, 1, 1, 0.9f, 1.3f}));
    op.check("Resize", {x, roi, op.constant(floats({})), op.constant(int64s({1, 1, 5, 7}))},
             {{"mode", std::string("linear")}, {"coordinate_transformation_mode", std::string("tf_crop_and_resize")},
              {"extrapolation_value", 9.0f}},
             1, 1, 1e-6, 1e-6);
  }
  SECTION("uint8 linear rounds and saturates") {
    OneOp op;
    ValueId x = op.input(randomInts(DType::UInt8, {1, 2, 5, 5}, 44, 0, 255));
    op.check("Resize", {x, op.constant(floats({})), op.constant(floats({1, 1, 2.5f, 1.5f}))},
             {{"mode", std::string("cubic")}});
  }
  SECTION("Upsample opset 9 and opset 7, Resize opset 10") {
    OneOp op9(9);
    ValueId x = op9.input(test::randomFloats({1, 2, 4, 3}, 45));
    op9.check("Upsample", {x, op9.constant(floats({1, 1, 2, 3}))}, {{"mode", std::string("linear")}}, 1, 1, 1e-6, 1e-6);
    OneOp op7(7);
    ValueId y = op7.input(test::randomFloats({1, 2, 4, 3}, 46));
    op7.check("Upsample", {y}, {{"scales", std::vector<float>{1, 1, 2, 2}}});
    OneOp op10(10);
    ValueId z = op10.input(test::randomFloats({1, 2, 4, 3}, 47));
    op10.check("Resize", {z, op10.constant(floats({1, 1, 0.5f, 2}))}, {{"mode", std::string("nearest")}});
  }
}

TEST_CASE("Lowered Trilu, CumSum, OneHot", "[llvm][lower-index]") {
  for (int64_t upper : {0, 1}) {
    for (int64_t k : {-2, 0, 3}) {
      OneOp op;
      ValueId x = op.input(test::randomFloats({2, 5, 7}, 50));
      op.check("Trilu", {x, op.constant(Tensor::scalar<int64_t>(k))}, {{"upper", upper}});
      OneOp runtime;
      ValueId y = runtime.input(test::randomFloats({2, 6, 4}, 51));
      runtime.check("Trilu", {y, runtime.input(Tensor::scalar<int64_t>(k))}, {{"upper", upper}});
    }
  }
  for (int64_t exclusive : {0, 1}) {
    for (int64_t reverse : {0, 1}) {
      for (int64_t axis : {0, 1, -1}) {
        INFO("axis " << axis << " exclusive " << exclusive << " reverse " << reverse);
        OneOp op;
        ValueId x = op.input(test::randomFloats({3, 20, 37}, 52));
        op.check("CumSum", {x, op.constant(Tensor::scalar<int64_t>(axis))},
                 {{"exclusive", exclusive}, {"reverse", reverse}}, 1, 1, 1e-5, 1e-6);
        OneOp ints;
        ValueId y = ints.input(randomInts(DType::Int32, {4, 3, 17}, 53, -100, 100));
        ints.check("CumSum", {y, ints.input(Tensor::scalar<int32_t>(static_cast<int32_t>(axis)))},
                   {{"exclusive", exclusive}, {"reverse", reverse}});
      }
    }
  }
  for (int64_t axis : {-1, 0, 1}) {
    OneOp op;
    ValueId idx = op.input(int64s({2, 4}, {0, -1, 5, 9, -7, 3, 2, 1}));  // 9 and -7 are off everywhere
    op.check("OneHot", {idx, op.constant(Tensor::scalar<int64_t>(6)), op.constant(floats({-1.0f, 3.0f}))},
             {{"axis", axis}});
  }
  SECTION("OneHot with float indices and int32 values") {
    OneOp op;
    ValueId idx = op.input(floats({0.7f, -1.2f, 4.9f, 7.5f, std::nanf("")}));
    op.check("OneHot", {idx, op.constant(Tensor::scalar<float>(5.0f)),
                        op.constant(Tensor::fromVector<int32_t>({2}, std::vector<int32_t>{0, 1}))});
  }
}

TEST_CASE("Lowered TopK", "[llvm][lower-index]") {
  for (int64_t largest : {0, 1}) {
    for (int64_t axis : {-1, 0, 1}) {
      for (int64_t k : {1, 3, 6}) {
        INFO("largest " << largest << " axis " << axis << " k " << k);
        Tensor x = test::randomFloats({6, 9, 7}, 60);
        for (int64_t i = 0; i < x.numel(); i += 5) x.data<float>()[i] = 0.25f;  // ties
        x.data<float>()[13] = std::nanf("");
        OneOp op;
        op.check("TopK", {op.input(x), op.constant(int64s({k}))}, {{"axis", axis}, {"largest", largest}}, 2);
      }
    }
  }
  SECTION("long rows: the vector pre-check, with NaN and ties") {
    for (int64_t largest : {0, 1}) {
      for (int64_t k : {1, 5, 17}) {
        Tensor x = test::randomFloats({3, 1000}, 63);
        for (int64_t i = 0; i < x.numel(); i += 37) x.data<float>()[i] = largest ? 0.999f : -0.999f;  // ties
        x.data<float>()[500] = std::nanf("");
        x.data<float>()[1999] = std::nanf("");
        OneOp op;
        op.check("TopK", {op.input(x), op.constant(int64s({k}))}, {{"largest", largest}}, 2, 2);
      }
    }
  }
  SECTION("whole-axis sort of int64, opset 1 attribute k") {
    OneOp op;
    op.check("TopK", {op.input(randomInts(DType::Int64, {3, 40}, 61, -5, 5)), op.constant(int64s({40}))}, {}, 2);
    OneOp old(1);
    old.check("TopK", {old.input(test::randomFloats({4, 10}, 62))}, {{"k", int64_t{4}}}, 2);
  }
}
