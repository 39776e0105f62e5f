// The data-movement lowerings (core/codegen/lower_data_movement.cpp): single-node graphs built with the IR
// builder, planned, compiled with codegen::compileJit and compared with the reference interpreter. Shape
// operands (Reshape's shape, Slice's starts, ...) are bound as constants, as compilation requires. Every op here
// only moves or creates values, so the comparison is bitwise (tolerance: exact), at 1 and 2 threads.
#include <catch2/catch.hpp>

#include <cstring>
#include <random>

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

Tensor randomTensor(DType dtype, const Shape &shape, uint32_t seed) {
  std::mt19937_64 rng(seed);
  Tensor t = Tensor::zeros(dtype, shape);
  ir::visitDType(dtype, [&](auto tag) {
    using T = decltype(tag);
    T *p = t.data<T>();
    for (int64_t i = 0; i < t.numel(); ++i) {
      if constexpr (std::is_same_v<T, bool>)
        p[i] = (rng() & 1) != 0;
      else if constexpr (std::is_floating_point_v<T>)
        p[i] = static_cast<T>(std::uniform_real_distribution<double>(-10, 10)(rng));
      else
        p[i] = static_cast<T>(rng());
    }
  });
  return t;
}

Tensor int64s(std::vector<int64_t> values) {
  return Tensor::fromVector<int64_t>({static_cast<int64_t>(values.size())}, values);
}

/// Builds op(operands) (those in `constants` bound as constants), compiles it at 1 and 2 threads and requires
/// every output to equal the interpreter's bit for bit.
void checkOp(const std::string &op, const std::vector<Tensor> &operands, AttributeMap attrs = {},
             std::vector<size_t> constants = {}, size_t outputs = 1, int64_t opset = 17) {
  INFO(op << " on " << (operands.empty() ? std::string("nothing") : operands[0].type().toString()));
  ir::GraphBuilder b = test::makeBuilder(opset);
  std::vector<ValueId> ids;
  std::vector<Tensor> runtime;
  for (size_t i = 0; i < operands.size(); ++i) {
    if (std::find(constants.begin(), constants.end(), i) != constants.end()) {
      ids.push_back(b.constant("c" + std::to_string(i), operands[i]));
    } else {
      ids.push_back(b.input("in" + std::to_string(i), operands[i].dtype(), operands[i].shape()));
      runtime.push_back(operands[i]);
    }
  }
  for (ValueId v : b.opMulti(op, ids, outputs, std::move(attrs))) b.output(v);
  auto graph = std::move(b).build();
  INFO((graph.hasValue() ? std::string() : graph.message()));
  REQUIRE(graph.hasValue());
  const std::vector<Tensor> expected = test::runGraph(*graph, runtime);
  auto plan = analysis::planMemory(*graph, {});
  REQUIRE(plan.hasValue());
  for (int threads : {1, 2}) {
    const std::vector<Tensor> actual = test::runModel(*test::compileGraph(*graph, *plan, threads), runtime);
    REQUIRE(actual.size() == expected.size());
    for (size_t k = 0; k < actual.size(); ++k) {
      INFO("output " << k << " " << expected[k].type().toString() << " at " << threads << " threads");
      REQUIRE(actual[k].identicalTo(expected[k]));
    }
  }
}

}  // namespace

TEST_CASE("Lowered data movement: Transpose, row copies and register tiles", "[llvm][data-movement]") {
  struct Case {
    Shape shape;
    std::vector<int64_t> perm;
  };
  const std::vector<Case> cases = {{{7, 13}, {1, 0}},
                                   {{32, 48}, {1, 0}},
                                   {{33, 50}, {1, 0}},
                                   {{16, 3}, {1, 0}},
                                   {{2, 5, 7}, {0, 2, 1}},
                                   {{2, 5, 7}, {2, 0, 1}},
                                   {{2, 5, 7}, {1, 2, 0}},
                                   {{4, 6, 8, 10}, {0, 2, 3, 1}},
                                   {{4, 6, 8, 10}, {0, 2, 1, 3}},
                                   {{4, 6, 8, 10}, {3, 2, 1, 0}},
                                   {{2, 17, 1, 35}, {3, 1, 2, 0}},
                                   {{1, 1, 9}, {2, 0, 1}},
                                   {{5}, {0}},
                                   {{3, 1, 4, 1}, {3, 2, 1, 0}},
                                   {{2, 3, 0}, {2, 0, 1}},
                                   {{40, 24, 36}, {2, 1, 0}}};
  uint32_t seed = 1;
  for (const Case &c : cases) {
    for (DType d : {DType::Float32, DType::Int64, DType::UInt8, DType::Bool, DType::Float64})
      checkOp("Transpose", {randomTensor(d, c.shape, seed++)}, {{"perm", c.perm}});
  }
  checkOp("Transpose", {randomTensor(DType::Float32, {6, 9, 4}, 99)});  // default perm: reversed
  // Big: the parallel tiles, with and without ragged edges; BERT's head split (0, 2, 1, 3) and K (0, 2, 3, 1).
  checkOp("Transpose", {randomTensor(DType::Float32, {512, 384}, 100)}, {{"perm", std::vector<int64_t>{1, 0}}});
  checkOp("Transpose", {randomTensor(DType::Float32, {300, 301}, 101)}, {{"perm", std::vector<int64_t>{1, 0}}});
  checkOp("Transpose", {randomTensor(DType::Float32, {2, 128, 12, 64}, 102)},
          {{"perm", std::vector<int64_t>{0, 2, 1, 3}}});
  checkOp("Transpose", {randomTensor(DType::Float32, {2, 128, 12, 64}, 103)},
          {{"perm", std::vector<int64_t>{0, 2, 3, 1}}});
}

TEST_CASE("Lowered data movement: Concat along every axis", "[llvm][data-movement]") {
  uint32_t seed = 200;
  for (DType d : {DType::Float32, DType::Int64, DType::Int8}) {
    checkOp("Concat", {randomTensor(d, {2, 3, 5}, seed++), randomTensor(d, {4, 3, 5}, seed++)}, {{"axis", int64_t{0}}});
    checkOp(
        "Concat",
        {randomTensor(d, {2, 3, 5}, seed++), randomTensor(d, {2, 1, 5}, seed++), randomTensor(d, {2, 7, 5}, seed++)},
        {{"axis", int64_t{1}}});
    checkOp(
        "Concat",
        {randomTensor(d, {2, 3, 5}, seed++), randomTensor(d, {2, 3, 0}, seed++), randomTensor(d, {2, 3, 13}, seed++)},
        {{"axis", int64_t{-1}}});
    checkOp("Concat", {randomTensor(d, {6}, seed++)}, {{"axis", int64_t{0}}});
  }
  // A constant operand and a big parallel copy.
  checkOp("Concat", {randomTensor(DType::Float32, {3, 4}, 1), randomTensor(DType::Float32, {3, 2}, 2)},
          {{"axis", int64_t{1}}}, {1});
  checkOp("Concat", {randomTensor(DType::Float32, {256, 300}, 3), randomTensor(DType::Float32, {256, 301}, 4)},
          {{"axis", int64_t{1}}});
}

TEST_CASE("Lowered data movement: Split by list, equal parts and uneven parts", "[llvm][data-movement]") {
  Tensor x = randomTensor(DType::Float32, {6, 10, 3}, 1);
  checkOp("Split", {x}, {{"axis", int64_t{1}}}, {}, 2);
  checkOp("Split", {x, int64s({2, 5, 3})}, {{"axis", int64_t{1}}}, {1}, 3);
  checkOp("Split", {x, int64s({1, 0, 5})}, {{"axis", int64_t{0}}}, {1}, 3);
  checkOp("Split", {x}, {{"axis", int64_t{-1}}}, {}, 3);
  checkOp("Split", {x}, {{"axis", int64_t{1}}, {"num_outputs", int64_t{3}}}, {}, 3, 18);  // 4, 4, 2
  checkOp("Split", {x}, {{"axis", int64_t{0}}, {"split", std::vector<int64_t>{4, 2}}}, {}, 2, 11);
  checkOp("Split", {randomTensor(DType::Int64, {512, 258}, 2)}, {{"axis", int64_t{1}}}, {}, 2);
}

TEST_CASE("Lowered data movement: Slice with steps, negative steps, axes and clamping", "[llvm][data-movement]") {
  Tensor x = randomTensor(DType::Float32, {5, 20, 7}, 1);
  struct Case {
    std::vector<int64_t> starts, ends, axes, steps;
  };
  const std::vector<Case> cases = {
      {{1, 2}, {4, 18}, {0, 1}, {1, 3}},          {{0}, {INT64_MAX}, {2}, {2}},          {{-1}, {INT64_MIN}, {1}, {-1}},
      {{19, 6}, {0, -8}, {1, 2}, {-4, -1}},        {{2}, {2}, {0}, {1}},                  {{-100}, {100}, {-1}, {1}},
      {{4, 0, 6}, {-10, 20, -20}, {0, 1, 2}, {-2, 7, -3}}, {{3}, {-1}, {-2}, {5}}};
  for (const Case &c : cases) {
    checkOp("Slice", {x, int64s(c.starts), int64s(c.ends), int64s(c.axes), int64s(c.steps)}, {}, {1, 2, 3, 4});
  }
  checkOp("Slice", {x, int64s({1, 1}), int64s({4, 9})}, {}, {1, 2});                       // no axes, no steps
  checkOp("Slice", {x}, {{"starts", std::vector<int64_t>{1}}, {"ends", std::vector<int64_t>{3}},
                         {"axes", std::vector<int64_t>{2}}}, {}, 1, 9);                      // opset 9 attributes
  // Big: contiguous rows in parallel, and a reversed inner dim (vector reverse plus scalar tail).
  Tensor big = randomTensor(DType::Float32, {300, 515}, 2);
  checkOp("Slice", {big, int64s({3}), int64s({510}), int64s({1}), int64s({1})}, {}, {1, 2, 3, 4});
  checkOp("Slice", {big, int64s({-1}), int64s({INT64_MIN}), int64s({1}), int64s({-1})}, {}, {1, 2, 3, 4});
  checkOp("Slice", {randomTensor(DType::UInt8, {70, 1000}, 3), int64s({-2}), int64s({1}), int64s({1}), int64s({-1})},
          {}, {1, 2, 3, 4});
}

TEST_CASE("Lowered data movement: Expand and Tile", "[llvm][data-movement]") {
  checkOp("Expand", {randomTensor(DType::Float32, {3, 1}, 1), int64s({2, 3, 7})}, {}, {1});
  checkOp("Expand", {randomTensor(DType::Int64, {1, 5}, 2), int64s({4, 1})}, {}, {1});
  checkOp("Expand", {randomTensor(DType::Float32, {}, 3), int64s({3, 17})}, {}, {1});
  checkOp("Expand", {randomTensor(DType::Float32, {1, 1024}, 4), int64s({300, 1024})}, {}, {1});
  checkOp("Tile", {randomTensor(DType::Float32, {2, 3}, 5), int64s({3, 2})}, {}, {1});
  checkOp("Tile", {randomTensor(DType::Bool, {2, 1, 3}, 6), int64s({1, 4, 5})}, {}, {1});
  checkOp("Tile", {randomTensor(DType::Float32, {4, 100}, 7), int64s({50, 4})}, {}, {1});
}

TEST_CASE("Lowered data movement: order-keeping copies and Dropout's mask", "[llvm][data-movement]") {
  Tensor x = randomTensor(DType::Float32, {2, 3, 4}, 1);
  checkOp("Reshape", {x, int64s({4, -1})}, {}, {1});
  checkOp("Flatten", {x}, {{"axis", int64_t{2}}});
  checkOp("Squeeze", {randomTensor(DType::Int8, {1, 3, 1}, 2), int64s({0})}, {}, {1});
  checkOp("Unsqueeze", {x, int64s({0, 4})}, {}, {1});
  checkOp("Identity", {x});
  checkOp("Dropout", {x}, {}, {}, 2);
  checkOp("Dropout", {x, Tensor::scalar<float>(0.3f), Tensor::scalar<bool>(false)}, {}, {1, 2}, 2);
  checkOp("Dropout", {x}, {}, {}, 2, 9);  // the mask has the input's dtype before opset 10
}

TEST_CASE("Lowered data movement: Shape, Size, Constant, ConstantOfShape, Range, EyeLike", "[llvm][data-movement]") {
  Tensor x = randomTensor(DType::Float32, {2, 3, 4, 5}, 1);
  checkOp("Shape", {x});
  checkOp("Shape", {x}, {{"start", int64_t{1}}, {"end", int64_t{-1}}});
  checkOp("Size", {x});
  checkOp("Constant", {}, {{"value", randomTensor(DType::Float32, {3, 4}, 2)}});
  checkOp("Constant", {}, {{"value_ints", std::vector<int64_t>{4, 5, 6}}});
  checkOp("Constant", {}, {{"value_float", 2.5f}});
  checkOp("ConstantOfShape", {int64s({3, 70})}, {}, {0});
  checkOp("ConstantOfShape", {int64s({2, 5})}, {{"value", Tensor::fromVector<int64_t>({1}, {-7})}}, {0});
  checkOp("ConstantOfShape", {int64s({300, 400})}, {{"value", Tensor::fromVector<float>({1}, {1.5f})}}, {0});
  checkOp("Range", {Tensor::scalar<float>(1.5f), Tensor::scalar<float>(9.0f), Tensor::scalar<float>(0.7f)}, {},
          {0, 1, 2});
  checkOp("Range", {Tensor::scalar<int64_t>(10), Tensor::scalar<int64_t>(-7), Tensor::scalar<int64_t>(-3)}, {},
          {0, 1, 2});
  checkOp("Range", {Tensor::scalar<int32_t>(0), Tensor::scalar<int32_t>(1000), Tensor::scalar<int32_t>(3)}, {},
          {0, 1, 2});
  checkOp("EyeLike", {randomTensor(DType::Float32, {4, 6}, 3)});
  checkOp("EyeLike", {randomTensor(DType::Float32, {5, 3}, 4)}, {{"k", int64_t{-2}}});
  checkOp("EyeLike", {randomTensor(DType::Int64, {3, 7}, 5)}, {{"k", int64_t{4}}, {"dtype", int64_t{9}}});
}

TEST_CASE("Lowered data movement and elementwise ops read and write permuted layouts", "[llvm][data-movement]") {
  // Intermediate values get non-row-major layouts (as the layout passes assign them); kernels index logical
  // coordinates, so the outputs must not change.
  auto check = [](ir::Graph &graph, const std::vector<Tensor> &inputs) {
    const std::vector<Tensor> expected = test::runGraph(graph, inputs);
    auto plan = analysis::planMemory(graph, {});
    REQUIRE(plan.hasValue());
    for (int threads : {1, 2}) {
      codegen::CompileOptions options;
      options.threads = threads;
      auto compiled = codegen::compileJit(graph, *plan, options);
      INFO((compiled.hasValue() ? std::string() : compiled.message()));
      REQUIRE(compiled.hasValue());
      std::vector<Tensor> actual;
      for (const ir::TensorType &type : (*compiled)->outputTypes())
        actual.push_back(Tensor::zeros(type.dtype, type.shape));
      REQUIRE((*compiled)->run(inputs, actual).isOk());
      for (size_t k = 0; k < actual.size(); ++k) {
        INFO("output " << k << " " << expected[k].type().toString() << ", threads " << threads);
        for (int64_t e = 0; e < expected[k].numel(); ++e) {
          INFO("element " << e);
          REQUIRE(actual[k].elementAsDouble(e) == expected[k].elementAsDouble(e));
        }
      }
    }
  };
  auto withLayout = [](ir::Graph &graph, ValueId v, std::vector<int> order) {
    graph.value(v).type.layout = ir::Layout::permutation(std::move(order));
  };
  for (const Shape &shape : {Shape{6, 10}, Shape{300, 260}}) {
    ir::GraphBuilder b = test::makeBuilder();
    ValueId x = b.input("x", DType::Float32, shape);
    ValueId a = b.op("Relu", {x});
    ValueId s = b.op("Add", {a, b.constant("bias", randomTensor(DType::Float32, {shape[1]}, 1))});
    ValueId t = b.op("Transpose", {s}, {{"perm", std::vector<int64_t>{1, 0}}});
    ValueId u = b.op("Abs", {b.op("Neg", {t})});
    ValueId i = b.op("Identity", {u});
    ValueId y = b.op("Neg", {i});
    b.output(y);
    auto graph = std::move(b).build();
    REQUIRE(graph.hasValue());
    withLayout(*graph, a, {1, 0});
    withLayout(*graph, s, {1, 0});
    withLayout(*graph, t, {1, 0});
    withLayout(*graph, u, {1, 0});
    withLayout(*graph, i, {1, 0});  // Identity copies the layout as it is; Neg writes row-major again
    check(*graph, {randomTensor(DType::Float32, shape, 2)});
  }
  ir::GraphBuilder b = test::makeBuilder();
  ValueId x = b.input("x", DType::Float32, {4, 6, 40});
  ValueId a = b.op("Neg", {x});
  ValueId t = b.op("Transpose", {a}, {{"perm", std::vector<int64_t>{2, 0, 1}}});
  ValueId sl = b.op("Slice", {t, b.constant("st", int64s({1, -1})), b.constant("en", int64s({38, -5})),
                              b.constant("ax", int64s({0, 2})), b.constant("sp", int64s({2, -1}))});
  ValueId cat = b.op("Concat", {sl, b.op("Neg", {sl})}, {{"axis", int64_t{1}}});
  std::vector<ValueId> parts = b.opMulti("Split", {cat}, 2, {{"axis", int64_t{2}}});
  ValueId e = b.op("Expand", {parts[0], b.constant("shape", int64s({2, 19, 8, 1}))});
  ValueId tiled = b.op("Tile", {parts[1], b.constant("reps", int64s({1, 2, 1}))});
  b.output(b.op("Neg", {e}));
  b.output(b.op("Neg", {tiled}));
  auto graph = std::move(b).build();
  REQUIRE(graph.hasValue());
  withLayout(*graph, a, {2, 0, 1});
  withLayout(*graph, t, {1, 2, 0});
  withLayout(*graph, sl, {2, 1, 0});
  withLayout(*graph, cat, {0, 2, 1});
  withLayout(*graph, parts[0], {1, 0, 2});
  withLayout(*graph, e, {3, 1, 2, 0});
  withLayout(*graph, tiled, {2, 1, 0});
  check(*graph, {randomTensor(DType::Float32, {4, 6, 40}, 3)});
}
