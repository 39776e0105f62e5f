// The JIT driver end to end: graphs built with the IR builder, planned, compiled with codegen::compileJit and
// compared with the reference interpreter on random inputs. Tolerance: rtol 1e-4, atol 1e-5 (these graphs hold
// reductions, whose summation order differs from the interpreter's); byte copies and views are exact.
#include <catch2/catch.hpp>

#include <cmath>

#include "core/analysis/memory_plan.h"
#include "core/codegen/compiler.h"
#include "core/interp/interpreter.h"
#include "tests/codegen/codegen_test_util.h"
#include "tests/test_util.h"

using namespace fluidml;
using ir::DType;
using ir::Tensor;
using ir::ValueId;

namespace {

Tensor int64s(std::vector<int64_t> values) {
  return Tensor::fromVector<int64_t>({static_cast<int64_t>(values.size())}, values);
}

void requireClose(const Tensor &expected, const Tensor &actual, double rtol = 1e-4, double atol = 1e-5) {
  REQUIRE(expected.type() == actual.type());
  for (int64_t i = 0; i < expected.numel(); ++i) {
    const double e = expected.elementAsDouble(i), a = actual.elementAsDouble(i);
    INFO("element " << i << ": expected " << e << ", got " << a);
    REQUIRE(std::abs(e - a) <= atol + rtol * std::abs(e));
  }
}

/// Plans `graph`, compiles it, runs it on `inputs` and checks every output against the interpreter.
void checkCompiled(const ir::Graph &graph, const std::vector<Tensor> &inputs, int threads = 1,
                   analysis::MemoryPlanOptions planOptions = {}) {
  auto plan = analysis::planMemory(graph, planOptions);
  REQUIRE(plan.hasValue());
  REQUIRE(analysis::checkMemoryPlan(graph, *plan).isOk());
  auto compiled = test::compileGraph(graph, *plan, threads);
  const std::vector<Tensor> outputs = test::runModel(*compiled, inputs);
  const std::vector<Tensor> expected = test::runGraph(graph, inputs);
  REQUIRE(expected.size() == outputs.size());
  for (size_t k = 0; k < outputs.size(); ++k) requireClose(expected[k], outputs[k]);
  // A second run on the same buffers gives the same result (nothing depends on a fresh arena).
  const std::vector<Tensor> again = test::runModel(*compiled, inputs);
  for (size_t k = 0; k < outputs.size(); ++k) REQUIRE(outputs[k].identicalTo(again[k]));
}

}  // namespace

TEST_CASE("JIT: softmax then reduce, with a reshape view in between", "[llvm][jit]") {
  ir::GraphBuilder b = test::makeBuilder();
  ValueId x = b.input("x", DType::Float32, {4, 6, 8});
  ValueId s = b.op("Softmax", {x}, {{"axis", int64_t{-1}}});
  ValueId r = b.op("Reshape", {s, b.constant("shape", int64s({24, 8}))});
  ValueId y = b.op("ReduceSum", {r, b.constant("axes", int64s({1}))}, {{"keepdims", int64_t{0}}});
  b.output(y);
  auto graph = std::move(b).build();
  REQUIRE(graph.hasValue());
  checkCompiled(*graph, {test::randomFloats({4, 6, 8}, 1)});
  checkCompiled(*graph, {test::randomFloats({4, 6, 8}, 2)}, 2);
}

TEST_CASE("JIT: graph outputs that are inputs, constants, repeated or reshaped", "[llvm][jit]") {
  ir::GraphBuilder b = test::makeBuilder();
  ValueId x = b.input("x", DType::Float32, {3, 5});
  ValueId s = b.op("Softmax", {x}, {{"axis", int64_t{1}}});
  ValueId flat = b.op("Reshape", {s, b.constant("shape", int64s({15}))});
  ValueId c = b.constant("c", test::randomFloats({2, 2}, 9));
  b.output(flat);
  b.output(x);
  b.output(c);
  b.output(flat);
  b.output(s);
  auto graph = std::move(b).build();
  REQUIRE(graph.hasValue());
  checkCompiled(*graph, {test::randomFloats({3, 5}, 3)});
  analysis::MemoryPlanOptions noViews;
  noViews.views = false;
  noViews.inPlace = false;
  noViews.planner = "naive";
  checkCompiled(*graph, {test::randomFloats({3, 5}, 4)}, 1, noViews);
}

TEST_CASE("JIT: a parallel kernel over many threads matches one thread", "[llvm][jit]") {
  ir::GraphBuilder b = test::makeBuilder();
  ValueId x = b.input("x", DType::Float32, {64, 33});
  ValueId s = b.op("Softmax", {x}, {{"axis", int64_t{-1}}});
  ValueId y = b.op("ReduceMax", {s}, {{"axes", std::vector<int64_t>{0}}, {"keepdims", int64_t{1}}});
  b.output(s);
  b.output(y);
  auto graph = std::move(b).build();
  REQUIRE(graph.hasValue());
  for (int threads : {1, 2, 3, 8}) checkCompiled(*graph, {test::randomFloats({64, 33}, 5)}, threads);
}

TEST_CASE("JIT: wrong inputs are errors, unlowered ops are listed", "[llvm][jit]") {
  ir::GraphBuilder b = test::makeBuilder();
  ValueId x = b.input("x", DType::Float32, {2, 3});
  b.output(b.op("Softmax", {x}));
  auto graph = std::move(b).build();
  REQUIRE(graph.hasValue());
  auto plan = analysis::planMemory(*graph, {});
  REQUIRE(plan.hasValue());
  auto compiled = codegen::compileJit(*graph, *plan, {});
  REQUIRE(compiled.hasValue());
  std::vector<Tensor> outputs{Tensor::zeros(DType::Float32, {2, 3})};
  Status wrongShape = (*compiled)->run({test::randomFloats({3, 2}, 1)}, outputs);
  REQUIRE_FALSE(wrongShape.isOk());
  CHECK(wrongShape.message().find("shape 2x3") != std::string::npos);
  Status wrongCount = (*compiled)->run({}, outputs);
  REQUIRE_FALSE(wrongCount.isOk());
  std::vector<Tensor> badOutputs{Tensor::zeros(DType::Float32, {6})};
  REQUIRE_FALSE((*compiled)->run({test::randomFloats({2, 3}, 1)}, badOutputs).isOk());

  // An op with no lowering (a made-up domain never has one) is named in the error.
  ir::GraphBuilder u = test::makeBuilder();
  ValueId ux = u.input("x", DType::Float32, {2, 3});
  u.output(u.op("Softmax", {ux}));
  auto ugraph = std::move(u).build();
  REQUIRE(ugraph.hasValue());
  ugraph->node(ugraph->order()[0]).domain = "com.example";
  const auto missing = codegen::unloweredOps(*ugraph);
  REQUIRE(missing == std::vector<std::string>{"com.example.Softmax"});
  auto uplan = analysis::planMemory(*ugraph, {});
  REQUIRE(uplan.hasValue());
  auto failed = codegen::compileJit(*ugraph, *uplan, {});
  REQUIRE_FALSE(failed.hasValue());
  CHECK(failed.message().find("com.example.Softmax") != std::string::npos);
}

TEST_CASE("JIT: repeated identical layers with different weights share kernels correctly", "[llvm][jit]") {
  // Four layers of the same shapes: their kernels are merged into one function per op before O3, while
  // every layer keeps its own weights and its own packed-weights state.
  ir::GraphBuilder b = test::makeBuilder();
  ValueId h = b.input("x", DType::Float32, {6, 32});
  for (int layer = 0; layer < 4; ++layer) {
    ValueId w = b.constant("w" + std::to_string(layer), test::randomFloats({32, 32}, 100 + layer));
    ValueId bias = b.constant("b" + std::to_string(layer), test::randomFloats({32}, 200 + layer));
    ValueId m = b.op("MatMul", {h, w});
    h = b.op("Softmax", {b.op("Add", {m, bias})}, {{"axis", int64_t{-1}}});
    if (layer == 1) b.output(h);
  }
  b.output(h);
  auto graph = std::move(b).build();
  REQUIRE(graph.hasValue());
  checkCompiled(*graph, {test::randomFloats({6, 32}, 7)});
  checkCompiled(*graph, {test::randomFloats({6, 32}, 8)}, 3);
}

TEST_CASE("JIT: constant GEMM operands are packed at compile time and held once", "[llvm][jit]") {
  // W feeds only a MatMul: the weights hold its packed panels, not W itself. V also feeds an Add that reads it
  // as it is: both forms are held. Sizes: k = 40, n = 48 -> 2 panels of 40 x 32 floats = 10240 bytes.
  constexpr size_t kPanelsBytes = 2 * 40 * 32 * 4;
  ir::GraphBuilder b = test::makeBuilder();
  ValueId x = b.input("x", DType::Float32, {5, 40});
  ValueId w = b.constant("w", test::randomFloats({40, 48}, 11));
  b.output(b.op("MatMul", {x, w}));
  auto graph = std::move(b).build();
  REQUIRE(graph.hasValue());
  checkCompiled(*graph, {test::randomFloats({5, 40}, 12)});
  auto plan = analysis::planMemory(*graph, {});
  REQUIRE(plan.hasValue());
  auto compiled = codegen::compileJit(*graph, *plan, {});
  REQUIRE(compiled.hasValue());
  CHECK((*compiled)->weightsBytes() == kPanelsBytes);

  ir::GraphBuilder b2 = test::makeBuilder();
  ValueId x2 = b2.input("x", DType::Float32, {40, 40});
  ValueId v = b2.constant("v", test::randomFloats({40, 48}, 13));
  b2.output(b2.op("MatMul", {x2, v}));
  ValueId columns = b2.op("Slice", {v, b2.constant("s", int64s({0})), b2.constant("e", int64s({40})),
                                     b2.constant("a", int64s({1}))});
  b2.output(b2.op("Add", {x2, columns}));
  auto graph2 = std::move(b2).build();
  REQUIRE(graph2.hasValue());
  checkCompiled(*graph2, {test::randomFloats({40, 40}, 14)});
  auto plan2 = analysis::planMemory(*graph2, {});
  REQUIRE(plan2.hasValue());
  auto compiled2 = codegen::compileJit(*graph2, *plan2, {});
  REQUIRE(compiled2.hasValue());
  CHECK((*compiled2)->weightsBytes() >= kPanelsBytes + 40 * 48 * 4);
}

TEST_CASE("JIT: compiling with release frees the constants read only packed, and still runs right", "[llvm][jit]") {
  ir::GraphBuilder b = test::makeBuilder();
  ValueId x = b.input("x", DType::Float32, {40, 40});
  ValueId w = b.constant("w", test::randomFloats({40, 48}, 21));  // read packed only
  ValueId v = b.constant("v", test::randomFloats({40, 40}, 22));  // packed by a MatMul, raw by an Add
  ValueId h = b.op("MatMul", {x, v});
  b.output(b.op("MatMul", {b.op("Add", {h, v}), w}));
  auto graph = std::move(b).build();
  REQUIRE(graph.hasValue());
  const Tensor input = test::randomFloats({40, 40}, 23);
  const std::vector<Tensor> expected = test::runGraph(*graph, {input});
  auto plan = analysis::planMemory(*graph, {});
  REQUIRE(plan.hasValue());
  auto compiled = codegen::compileJitReleasingPackedConstants(*graph, *plan, {});
  REQUIRE(compiled.hasValue());
  CHECK_FALSE(graph->value(w).isConstant());
  CHECK(graph->value(v).isConstant());
  std::vector<Tensor> outputs{Tensor::zeros(DType::Float32, {40, 48})};
  REQUIRE((*compiled)->run({input}, outputs).isOk());
  requireClose(expected[0], outputs[0]);
}
