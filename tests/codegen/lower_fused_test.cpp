// Fused epilogues through the LLVM lowering: unfused graphs are rewritten by the fuse-epilogues pass, compiled,
// and compared with the interpreter on the UNFUSED graph. Each case reaches one code path: the GEMM of MatMul
// (stacked and batched), of Conv (im2col, pointwise, one position), where the steps are applied in registers, and
// the direct, depthwise and small-plane convolutions, which leave them to the pass over the output. Tolerance: rtol 1e-4,
// atol 1e-5 (GEMM summation order; the epilogue itself is the same float arithmetic).
#include <catch2/catch.hpp>

#include <cmath>
#include <string>

#include "core/analysis/memory_plan.h"
#include "core/codegen/compiler.h"
#include "core/ops/fused_epilogue.h"
#include "core/pass/pass.h"
#include "passes/passes.h"
#include "tests/codegen/codegen_test_util.h"
#include "tests/test_util.h"

using namespace fluidml;
using ir::DType;
using ir::Tensor;
using ir::ValueId;

namespace {

/// Fuses `graph`, checks that `expectedFused` nodes came out, compiles, checks that the one kernel with several
/// strategies took `strategy` (the code path the case is for), and compares with the unfused graph.
void checkFused(ir::Graph graph, const std::vector<Tensor> &inputs, int expectedFused, const std::string &strategy,
                int threads = 1) {
  const std::vector<Tensor> expected = test::runGraph(graph, inputs);
  auto fuse = passes::standardPassRegistry().create("fuse-epilogues", nlohmann::json::object());
  REQUIRE(fuse.hasValue());
  pass::PassContext context;
  REQUIRE((*fuse)->run(graph, context).hasValue());
  int fused = 0;
  for (ir::NodeId id : graph.order()) fused += ops::isFusedNode(graph.node(id)) ? 1 : 0;
  REQUIRE(fused == expectedFused);
  auto model = test::compileGraph(graph, threads);
  CHECK(test::onlyKernelStrategy(*model) == strategy);
  const std::vector<Tensor> outputs = test::runModel(*model, inputs);
  REQUIRE(outputs.size() == expected.size());
  for (size_t k = 0; k < outputs.size(); ++k)
    for (int64_t i = 0; i < expected[k].numel(); ++i) {
      const double e = expected[k].elementAsDouble(i), a = outputs[k].elementAsDouble(i);
      INFO("output " << k << " element " << i << ": expected " << e << ", got " << a);
      REQUIRE(std::abs(e - a) <= 1e-5 + 1e-4 * std::abs(e));
    }
}

}  // namespace

TEST_CASE("fused MatMul: bias, residual and Relu in the GEMM's registers", "[llvm][fused]") {
  for (bool batchedB : {false, true}) {
    ir::GraphBuilder b = test::makeBuilder();
    ValueId x = b.input("x", DType::Float32, {2, 37, 48});
    ValueId r = b.input("r", DType::Float32, {2, 37, 40});
    ValueId w = batchedB ? b.input("w", DType::Float32, {2, 48, 40}) : b.constant("w", test::randomFloats({48, 40}, 3));
    ValueId bias = b.constant("bias", test::randomFloats({40}, 4));
    ValueId y = b.op("Relu", {b.op("Add", {r, b.op("Add", {b.op("MatMul", {x, w}), bias})})});
    b.output(y);
    auto graph = std::move(b).build();
    REQUIRE(graph.hasValue());
    std::vector<Tensor> inputs{test::randomFloats({2, 37, 48}, 1), test::randomFloats({2, 37, 40}, 2)};
    if (batchedB) inputs.push_back(test::randomFloats({2, 48, 40}, 5));
    checkFused(std::move(graph).value(), inputs, 1, batchedB ? "gemm-rows-b" : "gemm-packed-b");
  }
}

TEST_CASE("fused Conv: every code path applies the steps", "[llvm][fused]") {
  struct Case {
    const char *name;
    ir::Shape x, w;
    int64_t group, stride;
    const char *strategy;
  };
  const Case cases[] = {
      {"im2col 3x3", {1, 8, 20, 20}, {16, 8, 3, 3}, 1, 1, "im2col"},
      {"pointwise", {2, 16, 9, 9}, {24, 16, 1, 1}, 1, 1, "pointwise"},
      {"one position", {3, 16, 1, 1}, {20, 16, 1, 1}, 1, 1, "single-position"},
      {"direct (rows of 64)", {1, 4, 8, 64}, {8, 4, 3, 3}, 1, 1, "implicit-gemm"},
      {"depthwise", {1, 12, 15, 15}, {12, 1, 3, 3}, 12, 2, "depthwise"},
      {"small plane (positions on the rows)", {1, 64, 7, 7}, {96, 64, 3, 3}, 1, 1, "small-plane"},
  };
  for (const Case &k : cases) {
    DYNAMIC_SECTION(k.name) {
      ir::GraphBuilder b = test::makeBuilder();
      ValueId x = b.input("x", DType::Float32, k.x);
      ValueId w = b.constant("w", test::randomFloats(k.w, 7));
      ValueId bias = b.constant("b", test::randomFloats({k.w[0]}, 8));
      const int64_t pad = k.w[2] / 2;
      ValueId conv = b.op("Conv", {x, w, bias},
                          {{"group", k.group},
                           {"strides", std::vector<int64_t>{k.stride, k.stride}},
                           {"pads", std::vector<int64_t>{pad, pad, pad, pad}}});
      // SiLU (the Sigmoid/Mul pair), then a per-channel Add, then Clip.
      ValueId silu = b.op("Mul", {conv, b.op("Sigmoid", {conv})});
      ValueId shifted = b.op("Add", {silu, b.constant("c", test::randomFloats({k.w[0], 1, 1}, 9))});
      ValueId y = b.op("Clip", {shifted, b.constant("lo", Tensor::scalar(-0.5f)), b.constant("hi", Tensor::scalar(0.75f))});
      b.output(y);
      auto graph = std::move(b).build();
      REQUIRE(graph.hasValue());
      checkFused(std::move(graph).value(), {test::randomFloats(k.x, 6)}, 1, k.strategy, 2);
    }
  }
}

TEST_CASE("fused Conv: a residual Add of the output's shape, then Relu", "[llvm][fused]") {
  ir::GraphBuilder b = test::makeBuilder();
  ValueId x = b.input("x", DType::Float32, {1, 8, 12, 12});
  ValueId skip = b.input("skip", DType::Float32, {1, 8, 12, 12});
  ValueId w = b.constant("w", test::randomFloats({8, 8, 3, 3}, 11));
  ValueId conv = b.op("Conv", {x, w}, {{"pads", std::vector<int64_t>{1, 1, 1, 1}}});
  b.output(b.op("Relu", {b.op("Add", {conv, skip})}));
  auto graph = std::move(b).build();
  REQUIRE(graph.hasValue());
  checkFused(std::move(graph).value(), {test::randomFloats({1, 8, 12, 12}, 12), test::randomFloats({1, 8, 12, 12}, 13)}, 1,
             "im2col");
}

TEST_CASE("fused MatMul: bias then PyTorch's exact GELU (the transformer feed-forward)", "[llvm][fused]") {
  ir::GraphBuilder b = test::makeBuilder();
  ValueId x = b.input("x", DType::Float32, {1, 19, 32});
  ValueId w = b.constant("w", test::randomFloats({32, 72}, 31));
  ValueId h = b.op("Add", {b.op("MatMul", {x, w}), b.constant("bias", test::randomFloats({72}, 32))});
  ValueId erf = b.op("Erf", {b.op("Div", {h, b.constant("sqrt2", Tensor::scalar(ops::kGeluDivisor))})});
  ValueId inner = b.op("Mul", {h, b.op("Add", {erf, b.constant("one", Tensor::scalar(1.0f))})});
  b.output(b.op("Mul", {inner, b.constant("half", Tensor::scalar(0.5f))}));
  auto graph = std::move(b).build();
  REQUIRE(graph.hasValue());
  checkFused(std::move(graph).value(), {test::randomFloats({1, 19, 32}, 33, -3.0f, 3.0f)}, 1, "gemm-packed-b");
}
