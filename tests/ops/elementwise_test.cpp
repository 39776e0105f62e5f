#include <catch2/catch.hpp>

#include <cmath>
#include <limits>

#include "core/interp/interpreter.h"
#include "core/ops/op_registry.h"
#include "tests/test_util.h"

using namespace fluidml;
using namespace fluidml::ir;

namespace {

template <typename T>
std::vector<T> values(const Tensor &t) {
  return std::vector<T>(t.span<T>().begin(), t.span<T>().end());
}

/// A bool tensor (std::vector<bool> has no contiguous storage for Tensor::fromVector).
Tensor bools(Shape shape, std::initializer_list<bool> list) {
  Tensor t = Tensor::zeros(DType::Bool, std::move(shape));
  std::copy(list.begin(), list.end(), t.data<bool>());
  return t;
}

/// Builds `opType(inputs...)` over graph inputs of the given tensors' types, runs it, returns the output.
Tensor runOp(const std::string &opType, const std::vector<Tensor> &inputs, AttributeMap attributes = {},
             int64_t opset = 17) {
  GraphBuilder b = test::makeBuilder(opset);
  std::vector<ValueId> ids;
  for (size_t i = 0; i < inputs.size(); ++i)
    ids.push_back(b.input("in" + std::to_string(i), inputs[i].dtype(), inputs[i].shape()));
  b.output(b.op(opType, ids, std::move(attributes)));
  auto graph = std::move(b).build();
  INFO((graph.hasValue() ? std::string() : graph.message()));
  REQUIRE(graph.hasValue());
  return test::runGraph(*graph, inputs).at(0);
}

/// The type-rule error of `opType` over inputs of the given types ("" when it succeeds).
std::string inferError(const std::string &opType, const std::vector<TensorType> &types, AttributeMap attributes = {},
                       int64_t opset = 17) {
  GraphBuilder b = test::makeBuilder(opset);
  std::vector<ValueId> ids;
  for (size_t i = 0; i < types.size(); ++i)
    ids.push_back(b.input("in" + std::to_string(i), types[i].dtype, types[i].shape));
  b.output(b.op(opType, ids, std::move(attributes)));
  auto graph = std::move(b).build();
  return graph.hasValue() ? std::string() : graph.message();
}

}  // namespace

TEST_CASE("Add broadcasts a vector over the rows of a matrix", "[elementwise]") {
  Tensor a = Tensor::fromVector<float>({2, 3}, {1, 2, 3, 4, 5, 6});
  Tensor b = Tensor::fromVector<float>({3}, {10, 20, 30});
  Tensor out = runOp("Add", {a, b});
  CHECK(out.shape() == Shape{2, 3});
  CHECK(values<float>(out) == std::vector<float>{11, 22, 33, 14, 25, 36});
  // Scalar operand on the left.
  Tensor s = runOp("Sub", {Tensor::scalar<float>(1.0f), a});
  CHECK(values<float>(s) == std::vector<float>{0, -1, -2, -3, -4, -5});
}

TEST_CASE("Mul broadcasts 2x1x4 with 3x1 to 2x3x4", "[elementwise]") {
  Tensor a = Tensor::fromVector<float>({2, 1, 4}, {1, 2, 3, 4, 5, 6, 7, 8});
  Tensor b = Tensor::fromVector<float>({3, 1}, {1, 10, 100});
  Tensor out = runOp("Mul", {a, b});
  REQUIRE(out.shape() == Shape{2, 3, 4});
  CHECK(values<float>(out) == std::vector<float>{1,   2,   3,   4,   10,  20,  30,  40,  100, 200, 300, 400,
                                                 5,   6,   7,   8,   50,  60,  70,  80,  500, 600, 700, 800});
}

TEST_CASE("broadcasting with inner broadcast dimensions and a mask", "[elementwise]") {
  // [2,2,3] + [2,1,1]: each batch gets its own bias; exercises runs whose operand stride is 0.
  Tensor a = Tensor::fromVector<int64_t>({2, 2, 3}, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11});
  Tensor b = Tensor::fromVector<int64_t>({2, 1, 1}, {100, 200});
  CHECK(values<int64_t>(runOp("Add", {a, b})) ==
        std::vector<int64_t>{100, 101, 102, 103, 104, 105, 206, 207, 208, 209, 210, 211});
  // [2,1,3] vs [2,1]: output [2,2,3].
  Tensor c = Tensor::fromVector<int64_t>({2, 1, 3}, {1, 2, 3, 4, 5, 6});
  Tensor d = Tensor::fromVector<int64_t>({2, 1}, {0, 10});
  Tensor out = runOp("Sub", {c, d});
  REQUIRE(out.shape() == Shape{2, 2, 3});
  CHECK(values<int64_t>(out) == std::vector<int64_t>{1, 2, 3, -9, -8, -7, 4, 5, 6, -6, -5, -4});
}

TEST_CASE("integer Div truncates toward zero", "[elementwise]") {
  Tensor a = Tensor::fromVector<int64_t>({5}, {7, -7, 7, -7, std::numeric_limits<int64_t>::min()});
  Tensor b = Tensor::fromVector<int64_t>({5}, {2, 2, -2, -2, -1});
  CHECK(values<int64_t>(runOp("Div", {a, b})) ==
        std::vector<int64_t>{3, -3, -3, 3, std::numeric_limits<int64_t>::min()});
  Tensor u = runOp("Div", {Tensor::fromVector<uint8_t>({2}, {200, 7}), Tensor::fromVector<uint8_t>({2}, {3, 7})});
  CHECK(values<uint8_t>(u) == std::vector<uint8_t>{66, 1});
}

TEST_CASE("integer division by zero is an error, not a crash", "[elementwise]") {
  GraphBuilder b = test::makeBuilder();
  ValueId x = b.input("x", DType::Int32, {2});
  ValueId y = b.input("y", DType::Int32, {2});
  b.output(b.op("Div", {x, y}));
  auto graph = std::move(b).build();
  REQUIRE(graph.hasValue());
  interp::Interpreter interpreter(*graph);
  auto result = interpreter.run({Tensor::fromVector<int32_t>({2}, {1, 2}), Tensor::fromVector<int32_t>({2}, {1, 0})});
  REQUIRE_FALSE(result.hasValue());
  CHECK_THAT(result.message(), Catch::Contains("division by zero"));
}

TEST_CASE("Mod follows the divisor's sign, or the dividend's with fmod=1", "[elementwise]") {
  Tensor a = Tensor::fromVector<int32_t>({6}, {-4, 7, 5, 4, -7, 8});
  Tensor b = Tensor::fromVector<int32_t>({6}, {2, -3, 8, -2, 3, 5});
  CHECK(values<int32_t>(runOp("Mod", {a, b})) == std::vector<int32_t>{0, -2, 5, 0, 2, 3});
  CHECK(values<int32_t>(runOp("Mod", {a, b}, {{"fmod", int64_t{1}}})) == std::vector<int32_t>{0, 1, 5, 0, -1, 3});
  Tensor f = runOp("Mod", {Tensor::fromVector<float>({2}, {-7.5f, 7.5f}), Tensor::fromVector<float>({2}, {2, -2})},
                   {{"fmod", int64_t{1}}});
  CHECK(values<float>(f) == std::vector<float>{-1.5f, 1.5f});
  CHECK_THAT(inferError("Mod", {TensorType(DType::Float32, {2}), TensorType(DType::Float32, {2})}),
             Catch::Contains("fmod=1"));
}

TEST_CASE("Where picks with a broadcast bool condition", "[elementwise]") {
  Tensor cond = bools({2, 1}, {true, false});
  Tensor x = Tensor::fromVector<float>({2, 3}, {1, 2, 3, 4, 5, 6});
  Tensor y = Tensor::scalar<float>(-1.0f);
  Tensor out = runOp("Where", {cond, x, y});
  REQUIRE(out.shape() == Shape{2, 3});
  CHECK(values<float>(out) == std::vector<float>{1, 2, 3, -1, -1, -1});
  // Condition along the last axis, int64 values.
  Tensor c2 = bools({3}, {false, true, false});
  Tensor x2 = Tensor::fromVector<int64_t>({2, 3}, {1, 2, 3, 4, 5, 6});
  Tensor y2 = Tensor::fromVector<int64_t>({2, 1}, {10, 20});
  CHECK(values<int64_t>(runOp("Where", {c2, x2, y2})) == std::vector<int64_t>{10, 2, 10, 20, 5, 20});
  CHECK_THAT(inferError("Where", {TensorType(DType::Float32, {2}), TensorType(DType::Float32, {2}),
                                  TensorType(DType::Float32, {2})}),
             Catch::Contains("must be bool"));
}

TEST_CASE("Cast float to int64 truncates toward zero and to bool tests nonzero", "[elementwise]") {
  Tensor x = Tensor::fromVector<float>({6}, {1.7f, -1.7f, 2.5f, -0.2f, 0.0f, 1e30f});
  Tensor i = runOp("Cast", {x}, {{"to", int64_t{7}}});
  REQUIRE(i.dtype() == DType::Int64);
  CHECK(values<int64_t>(i) == std::vector<int64_t>{1, -1, 2, 0, 0, std::numeric_limits<int64_t>::max()});
  Tensor b = runOp("Cast", {x}, {{"to", int64_t{9}}});
  REQUIRE(b.dtype() == DType::Bool);
  CHECK(values<bool>(b) == std::vector<bool>{true, true, true, true, false, true});
  // uint8 -> float and bool -> int32.
  CHECK(values<float>(runOp("Cast", {Tensor::fromVector<uint8_t>({2}, {255, 3})}, {{"to", int64_t{1}}})) ==
        std::vector<float>{255, 3});
  CHECK(values<int32_t>(runOp("Cast", {bools({2}, {true, false})}, {{"to", int64_t{6}}})) ==
        std::vector<int32_t>{1, 0});
  // CastLike takes the dtype of its second input.
  Tensor like = runOp("CastLike", {x, Tensor::fromVector<int32_t>({1}, {0})});
  CHECK(like.dtype() == DType::Int32);
  CHECK(like.shape() == Shape{6});
  CHECK_THAT(inferError("Cast", {TensorType(DType::Float32, {2})}, {{"to", int64_t{10}}}),
             Catch::Contains("float16"));
}

TEST_CASE("a bad broadcast names both shapes", "[elementwise]") {
  std::string message = inferError("Add", {TensorType(DType::Float32, {2, 3}), TensorType(DType::Float32, {4})});
  CHECK_THAT(message, Catch::Contains("2x3") && Catch::Contains("4") && Catch::Contains("broadcast"));
  CHECK_THAT(inferError("Add", {TensorType(DType::Float32, {2}), TensorType(DType::Int64, {2})}),
             Catch::Contains("same dtype"));
  CHECK_THAT(inferError("Sqrt", {TensorType(DType::Int64, {2})}), Catch::Contains("float32 or float64"));
  CHECK_THAT(inferError("Add", {TensorType(DType::Bool, {2}), TensorType(DType::Bool, {2})}),
             Catch::Contains("numeric"));
  // Opset < 7 without the broadcast attribute requires equal shapes.
  CHECK_THAT(inferError("Add", {TensorType(DType::Float32, {2, 3}), TensorType(DType::Float32, {3})}, {}, 6),
             Catch::Contains("'broadcast'"));
  CHECK(inferError("Add", {TensorType(DType::Float32, {2, 3}), TensorType(DType::Float32, {3})},
                   {{"broadcast", int64_t{1}}}, 6)
            .empty());
}

TEST_CASE("Pow mixes base and exponent dtypes, keeping the base dtype", "[elementwise]") {
  Tensor base = Tensor::fromVector<int64_t>({4}, {2, 3, -2, 5});
  Tensor e = Tensor::fromVector<float>({4}, {3, 2, 3, 0.5f});
  Tensor out = runOp("Pow", {base, e});
  REQUIRE(out.dtype() == DType::Int64);
  CHECK(values<int64_t>(out) == std::vector<int64_t>{8, 9, -8, 2});
  Tensor f = runOp("Pow", {Tensor::fromVector<float>({3}, {2, 4, 9}), Tensor::fromVector<int32_t>({3}, {-1, 2, 0})});
  CHECK(values<float>(f) == std::vector<float>{0.5f, 16, 1});
  Tensor big = runOp("Pow", {Tensor::fromVector<int64_t>({1}, {3}), Tensor::fromVector<int64_t>({1}, {39})});
  CHECK(values<int64_t>(big) == std::vector<int64_t>{4052555153018976267});
}

TEST_CASE("Clip with optional bounds and the attribute form", "[elementwise]") {
  Tensor x = Tensor::fromVector<float>({4}, {-3, 0.5f, 2, 9});
  GraphBuilder b = test::makeBuilder(13);
  ValueId in = b.input("x", DType::Float32, {4});
  ValueId hi = b.constant("hi", Tensor::scalar<float>(1.0f));
  b.output(b.op("Clip", {in, kNoValue, hi}));
  auto graph = std::move(b).build();
  REQUIRE(graph.hasValue());
  CHECK(values<float>(test::runGraph(*graph, {x}).at(0)) == std::vector<float>{-3, 0.5f, 1, 1});
  CHECK(values<float>(runOp("Clip", {x}, {{"min", 0.0f}, {"max", 2.0f}}, 6)) == std::vector<float>{0, 0.5f, 2, 2});
  Tensor i8 = Tensor::fromVector<int8_t>({3}, {-100, 5, 100});
  CHECK(values<int8_t>(runOp("Clip", {i8, Tensor::scalar<int8_t>(-10), Tensor::scalar<int8_t>(10)})) ==
        std::vector<int8_t>{-10, 5, 10});
  CHECK_THAT(inferError("Clip", {TensorType(DType::Float32, {4}), TensorType(DType::Float32, {2})}),
             Catch::Contains("scalar"));
}

TEST_CASE("variadic Sum, Mean, Min, Max broadcast all inputs", "[elementwise]") {
  Tensor a = Tensor::fromVector<float>({2, 1}, {1, 2});
  Tensor b = Tensor::fromVector<float>({3}, {10, 20, 30});
  Tensor c = Tensor::scalar<float>(100.0f);
  Tensor sum = runOp("Sum", {a, b, c});
  REQUIRE(sum.shape() == Shape{2, 3});
  CHECK(values<float>(sum) == std::vector<float>{111, 121, 131, 112, 122, 132});
  CHECK(values<float>(runOp("Mean", {a, b})) == std::vector<float>{5.5f, 10.5f, 15.5f, 6, 11, 16});
  CHECK(values<float>(runOp("Max", {b, Tensor::fromVector<float>({3}, {15, 15, 15})})) ==
        std::vector<float>{15, 20, 30});
  CHECK(values<int32_t>(runOp("Min", {Tensor::fromVector<int32_t>({3}, {3, -1, 7})})) ==
        std::vector<int32_t>{3, -1, 7});
  float nan = std::numeric_limits<float>::quiet_NaN();
  Tensor withNan = runOp("Max", {Tensor::fromVector<float>({2}, {nan, 1}), Tensor::fromVector<float>({2}, {1, nan})});
  CHECK(std::isnan(values<float>(withNan)[0]));
  CHECK(std::isnan(values<float>(withNan)[1]));
}

TEST_CASE("comparisons and logic produce bool", "[elementwise]") {
  Tensor a = Tensor::fromVector<int64_t>({3}, {1, 2, 3});
  Tensor b = Tensor::scalar<int64_t>(2);
  CHECK(values<bool>(runOp("Equal", {a, b})) == std::vector<bool>{false, true, false});
  CHECK(values<bool>(runOp("Less", {a, b})) == std::vector<bool>{true, false, false});
  CHECK(values<bool>(runOp("Greater", {a, b})) == std::vector<bool>{false, false, true});
  CHECK(values<bool>(runOp("LessOrEqual", {a, b})) == std::vector<bool>{true, true, false});
  CHECK(values<bool>(runOp("GreaterOrEqual", {a, b})) == std::vector<bool>{false, true, true});
  Tensor p = bools({4}, {false, false, true, true});
  Tensor q = bools({4}, {false, true, false, true});
  CHECK(values<bool>(runOp("And", {p, q})) == std::vector<bool>{false, false, false, true});
  CHECK(values<bool>(runOp("Or", {p, q})) == std::vector<bool>{false, true, true, true});
  CHECK(values<bool>(runOp("Xor", {p, q})) == std::vector<bool>{false, true, true, false});
  CHECK(values<bool>(runOp("Not", {p})) == std::vector<bool>{true, true, false, false});
  CHECK_THAT(inferError("And", {TensorType(DType::Float32, {2}), TensorType(DType::Float32, {2})}),
             Catch::Contains("bool"));
}

TEST_CASE("unary math and activations", "[elementwise]") {
  Tensor x = Tensor::fromVector<float>({6}, {-2.5f, -1.5f, -0.5f, 0.5f, 1.5f, 2.5f});
  CHECK(values<float>(runOp("Round", {x})) == std::vector<float>{-2, -2, -0, 0, 2, 2});
  CHECK(values<float>(runOp("Relu", {x})) == std::vector<float>{0, 0, 0, 0.5f, 1.5f, 2.5f});
  CHECK(values<float>(runOp("Abs", {x})) == std::vector<float>{2.5f, 1.5f, 0.5f, 0.5f, 1.5f, 2.5f});
  CHECK(values<float>(runOp("Sign", {x})) == std::vector<float>{-1, -1, -1, 1, 1, 1});
  CHECK(values<float>(runOp("Floor", {x})) == std::vector<float>{-3, -2, -1, 0, 1, 2});
  CHECK(values<float>(runOp("Ceil", {x})) == std::vector<float>{-2, -1, -0, 1, 2, 3});
  Tensor h = runOp("HardSwish", {Tensor::fromVector<float>({4}, {-4, -1.5f, 0.75f, 4})});
  CHECK_THAT(values<float>(h), Catch::Approx(std::vector<float>{0, -0.375f, 0.46875f, 4}));
  Tensor s = runOp("Sigmoid", {Tensor::fromVector<float>({3}, {-200, 0, 200})});
  CHECK(values<float>(s) == std::vector<float>{0, 0.5f, 1});
  Tensor lr = runOp("LeakyRelu", {Tensor::fromVector<float>({2}, {-2, 3})}, {{"alpha", 0.5f}});
  CHECK(values<float>(lr) == std::vector<float>{-1, 3});
  Tensor sp = runOp("Softplus", {Tensor::fromVector<float>({3}, {-20, 0, 100})});
  CHECK_THAT(values<float>(sp), Catch::Approx(std::vector<float>{2.0611537e-9f, std::log(2.0f), 100}));
  Tensor elu = runOp("Elu", {Tensor::fromVector<float>({2}, {-1, 2})}, {{"alpha", 2.0f}});
  CHECK_THAT(values<float>(elu), Catch::Approx(std::vector<float>{2 * (std::exp(-1.0f) - 1), 2}));
  Tensor shrink = runOp("Shrink", {Tensor::fromVector<float>({5}, {-2, -1, 0, 1, 2})},
                        {{"lambd", 1.5f}, {"bias", 1.5f}});
  CHECK(values<float>(shrink) == std::vector<float>{-0.5f, 0, 0, 0, 0.5f});
  Tensor inf = runOp("IsInf", {Tensor::fromVector<float>({3}, {-INFINITY, 1, INFINITY})},
                     {{"detect_negative", int64_t{0}}});
  CHECK(values<bool>(inf) == std::vector<bool>{false, false, true});
  Tensor neg = runOp("Neg", {Tensor::fromVector<int32_t>({2}, {5, -7})});
  CHECK(values<int32_t>(neg) == std::vector<int32_t>{-5, 7});
  Tensor prelu =
      runOp("PRelu", {Tensor::fromVector<float>({2, 2}, {-1, 1, -2, 2}), Tensor::fromVector<float>({2}, {0.5f, 3})});
  CHECK(values<float>(prelu) == std::vector<float>{-0.5f, 1, -1, 2});
  Tensor shifted =
      runOp("BitShift", {Tensor::fromVector<uint8_t>({3}, {16, 4, 1}), Tensor::fromVector<uint8_t>({3}, {1, 2, 9})},
            {{"direction", std::string("LEFT")}});
  CHECK(values<uint8_t>(shifted) == std::vector<uint8_t>{32, 16, 0});
}

TEST_CASE("elementwise kernels tolerate an output aliasing an input", "[elementwise]") {
  // The interpreter may run elementwise nodes in place; call the kernels directly with aliased buffers.
  const ops::OpRegistry &registry = ops::OpRegistry::instance();
  Graph g;
  Node node;
  node.opType = "Sum";
  Tensor a = Tensor::fromVector<float>({2, 2}, {1, 2, 3, 4});
  Tensor b = Tensor::fromVector<float>({2}, {10, 20});
  Tensor c = Tensor::fromVector<float>({2, 2}, {100, 200, 300, 400});
  Tensor out = c;  // shares c's buffer
  ops::KernelContext sum{node, 17, {&a, &b, &c}, {&out}};
  REQUIRE(registry.find("", "Sum")->kernel(sum).isOk());
  CHECK(values<float>(out) == std::vector<float>{111, 222, 313, 424});

  node.opType = "Sub";
  Tensor x = Tensor::fromVector<float>({2, 2}, {1, 2, 3, 4});
  Tensor y = Tensor::fromVector<float>({2}, {1, 1});
  Tensor xOut = x;
  ops::KernelContext sub{node, 17, {&y, &x}, {&xOut}};
  REQUIRE(registry.find("", "Sub")->kernel(sub).isOk());
  CHECK(values<float>(xOut) == std::vector<float>{0, -1, -2, -3});
}
