// Lowering of the linalg family (MatMul, Gemm, Einsum, Conv, ConvTranspose, pooling): single-node graphs built
// with the IR builder, planned, compiled with codegen::compileJit and compared with the reference interpreter
// on random inputs, at 1 and 2 threads, for the host and for an AVX2-only x86-64 (x86-64-v3: 8-float vectors,
// 16 registers, a 6 x 16 GEMM tile).
// Tolerance: rtol 1e-4, atol 1e-5 for products and sums (GEMM, convolutions, average and Lp pools, global
// averages): the packed GEMM sums k-blocks in another association than the reference loop; max pooling,
// integer products and indices are exact.
// Weights of products with a large depth k are scaled by 1/sqrt(k) as initializers do (uniform values in
// [-1, 1) summed 768 times carry absolute rounding of ~1e-5 in any order, beyond atol).
// A hidden benchmark ("[.][bench]") prints GFLOP/s of the compiled GEMM and conv against the interpreter.
#include <catch2/catch.hpp>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <set>

#include "core/analysis/memory_plan.h"
#include "core/codegen/compiler.h"
#include "core/codegen/target_machine.h"
#include "core/interp/interpreter.h"
#include "core/onnx/onnx_import.h"
#include "tests/codegen/codegen_test_util.h"
#include "tests/test_util.h"

using namespace fluidml;
using ir::AttributeMap;
using ir::DType;
using ir::Shape;
using ir::Tensor;
using ir::ValueId;

namespace {

using Ints = std::vector<int64_t>;

void requireClose(const Tensor &expected, const Tensor &actual, double rtol, double atol) {
  REQUIRE(expected.type() == actual.type());
  double worst = 0;
  int64_t worstAt = -1;
  for (int64_t i = 0; i < expected.numel(); ++i) {
    const double e = expected.elementAsDouble(i), a = actual.elementAsDouble(i);
    const double excess = std::abs(e - a) - (atol + rtol * std::abs(e));
    if (!(excess <= 0) && (worstAt < 0 || excess > worst)) {
      worst = excess;
      worstAt = i;
    }
  }
  if (worstAt >= 0) {
    INFO("element " << worstAt << " of " << expected.numel() << ": expected " << expected.elementAsDouble(worstAt)
                    << ", got " << actual.elementAsDouble(worstAt));
    REQUIRE(worstAt < 0);
  }
}

std::unique_ptr<codegen::CompiledModel> compile(const ir::Graph &graph, int threads) {
  // FLUIDML_DUMP_ASM=path writes the assembly of every compiled graph there (for inspecting the kernels).
  const char *dump = std::getenv("FLUIDML_DUMP_ASM");
  return test::compileGraph(graph, threads, dump != nullptr ? dump : "");
}

/// The AVX2-only target every test also compiles for.
const target::TargetDescription &avx2Target() {
  static const target::TargetDescription target = [] {
    auto resolved = codegen::resolveTarget("x86-64-v3");
    REQUIRE(resolved.hasValue());
    return std::move(resolved).value();
  }();
  return target;
}

/// Compiles `graph` at 1 and 2 threads for the host and for x86-64-v3, runs each twice (the second run sees
/// packed weights) and compares every output with the interpreter. A non-empty `strategy` is the one the host's
/// kernel must take (KernelContext::strategy): a heuristic that routes the case to another path fails the test
/// instead of testing that path.
void checkCompiled(const ir::Graph &graph, const std::vector<Tensor> &inputs, double rtol = 1e-4, double atol = 1e-5,
                   const std::string &strategy = "") {
  const std::vector<Tensor> expected = test::runGraph(graph, inputs);
  for (int variant = 0; variant < 4; ++variant) {
    const int threads = 1 + variant % 2;
    const bool avx2 = variant >= 2;
    INFO("threads " << threads << (avx2 ? ", x86-64-v3" : ", host"));
    std::unique_ptr<codegen::CompiledModel> model;
    if (avx2) {
      codegen::CompileOptions options;
      options.threads = threads;
      options.target = avx2Target();
      model = test::compileGraphWith(graph, options);
    } else {
      model = compile(graph, threads);
      if (!strategy.empty()) CHECK(test::onlyKernelStrategy(*model) == strategy);
    }
    for (int run = 0; run < 2; ++run) {
      INFO("run " << run);
      const std::vector<Tensor> outputs = test::runModel(*model, inputs);
      REQUIRE(outputs.size() == expected.size());
      for (size_t k = 0; k < outputs.size(); ++k) requireClose(expected[k], outputs[k], rtol, atol);
    }
  }
}

struct Operand {
  Tensor value;
  bool constant = false;
};

Operand in(Tensor t) { return {std::move(t), false}; }
Operand cst(Tensor t) { return {std::move(t), true}; }

/// One node over the given operands (graph inputs or constants); checks its outputs compiled vs interpreted, and
/// when `strategy` is given, that its kernel took that strategy.
void checkOpWith(const std::string &strategy, const std::string &opType, const std::vector<Operand> &operands,
                 AttributeMap attributes, size_t outputs = 1, double rtol = 1e-4, double atol = 1e-5) {
  ir::GraphBuilder b = test::makeBuilder();
  std::vector<ValueId> ids;
  std::vector<Tensor> inputs;
  for (size_t i = 0; i < operands.size(); ++i) {
    if (operands[i].value.isNull()) {
      ids.push_back(ir::kNoValue);
    } else if (operands[i].constant) {
      ids.push_back(b.constant("c" + std::to_string(i), operands[i].value));
    } else {
      ids.push_back(b.input("x" + std::to_string(i), operands[i].value.dtype(), operands[i].value.shape()));
      inputs.push_back(operands[i].value);
    }
  }
  for (ValueId out : b.opMulti(opType, ids, outputs, std::move(attributes))) b.output(out);
  auto graph = std::move(b).build();
  INFO((graph ? std::string() : graph.message()));
  REQUIRE(graph.hasValue());
  checkCompiled(*graph, inputs, rtol, atol, strategy);
}

void checkOp(const std::string &opType, const std::vector<Operand> &operands, AttributeMap attributes = {},
             size_t outputs = 1, double rtol = 1e-4, double atol = 1e-5) {
  checkOpWith("", opType, operands, std::move(attributes), outputs, rtol, atol);
}

/// checkOp of a node whose kernel must take `strategy` ("im2col", "gemm-packed-b", ...).
void checkOpAs(const std::string &strategy, const std::string &opType, const std::vector<Operand> &operands,
               AttributeMap attributes = {}) {
  checkOpWith(strategy, opType, operands, std::move(attributes));
}

Tensor rnd(const Shape &shape, uint32_t seed) { return test::randomFloats(shape, seed); }
/// Weights for a product of depth `fanIn`: uniform in [-1, 1) / sqrt(fanIn).
Tensor wts(const Shape &shape, uint32_t seed, int64_t fanIn) {
  const float bound = 1.0f / std::sqrt(static_cast<float>(fanIn));
  return test::randomFloats(shape, seed, -bound, bound);
}

template <typename T>
Tensor randomInts(const Shape &shape, uint32_t seed) {
  Tensor t = rnd(shape, seed);
  Tensor out = Tensor::zeros(ir::dtypeOf<T>(), shape);
  for (int64_t i = 0; i < t.numel(); ++i) out.data<T>()[i] = static_cast<T>(std::lround(t.data<float>()[i] * 5));
  return out;
}

Tensor doubles(const Shape &shape, uint32_t seed) {
  Tensor t = rnd(shape, seed);
  Tensor out = Tensor::zeros(DType::Float64, shape);
  for (int64_t i = 0; i < t.numel(); ++i) out.data<double>()[i] = t.data<float>()[i];
  return out;
}

}  // namespace

// ---- MatMul -------------------------------------------------------------------------------------------------
// Float products run the packed GEMM, named by how it reads B: constant B packed at compile time into panels
// ("gemm-packed-b"), B read in place by rows ("gemm-rows-b") or gathered into panels ("gemm-gathered-b");
// other dtypes run scalar loops ("scalar").

TEST_CASE("Lowered MatMul: BERT projection with constant weights", "[llvm][linalg]") {
  checkOpAs("gemm-packed-b", "MatMul", {in(rnd({1, 128, 768}, 1)), cst(wts({768, 768}, 2, 768))});
}

TEST_CASE("Lowered MatMul: attention batched products", "[llvm][linalg]") {
  checkOpAs("gemm-rows-b", "MatMul", {in(rnd({12, 128, 64}, 3)), in(wts({12, 64, 128}, 4, 64))});
  checkOpAs("gemm-rows-b", "MatMul", {in(rnd({1, 12, 128, 128}, 5)), in(wts({1, 12, 128, 64}, 6, 128))});
}

TEST_CASE("Lowered MatMul: odd sizes, tails and k-blocks", "[llvm][linalg]") {
  checkOpAs("gemm-rows-b", "MatMul", {in(rnd({7, 13}, 7)), in(rnd({13, 5}, 8))});
  checkOpAs("gemm-packed-b", "MatMul", {in(rnd({7, 13}, 7)), cst(rnd({13, 5}, 8))});
  checkOpAs("gemm-packed-b", "MatMul", {in(rnd({2, 3, 7, 13}, 9)), cst(rnd({13, 37}, 10))});
  // 3 k-blocks, tails in m and n.
  checkOpAs("gemm-packed-b", "MatMul", {in(rnd({19, 600}, 11)), cst(wts({600, 70}, 12, 600))});
  checkOpAs("gemm-rows-b", "MatMul", {in(rnd({19, 600}, 13)), in(wts({600, 70}, 14, 600))});  // same, B read as rows
  checkOpAs("gemm-packed-b", "MatMul", {in(rnd({1, 3072}, 15)), cst(wts({3072, 40}, 16, 3072))});  // GEMV, 12 k-blocks
}

TEST_CASE("Lowered MatMul: broadcast batches and 1-D operands", "[llvm][linalg]") {
  checkOpAs("gemm-rows-b", "MatMul", {in(rnd({7, 13}, 17)), in(rnd({3, 13, 5}, 18))});
  checkOpAs("gemm-rows-b", "MatMul", {in(rnd({2, 1, 7, 13}, 19)), in(rnd({1, 3, 13, 5}, 20))});
  checkOpAs("gemm-packed-b", "MatMul", {in(rnd({3, 7, 13}, 21)), cst(rnd({3, 13, 33}, 22))});
  checkOpAs("gemm-packed-b", "MatMul", {in(rnd({13}, 23)), cst(rnd({13, 5}, 24))});
  checkOpAs("gemm-rows-b", "MatMul", {in(rnd({7, 13}, 25)), in(rnd({13}, 26))});
  checkOpAs("gemm-rows-b", "MatMul", {in(rnd({13}, 27)), in(rnd({13}, 28))});
  checkOpAs("gemm-packed-b", "MatMul", {in(rnd({2, 3, 13}, 29)), cst(rnd({13}, 30))});
  checkOpAs("gemm-rows-b", "MatMul", {in(rnd({768, 64, 9}, 31)), in(rnd({768, 9, 1}, 32))});
}

TEST_CASE("Lowered MatMul: integer and double dtypes", "[llvm][linalg]") {
  checkOpAs("scalar", "MatMul", {in(randomInts<int32_t>({3, 7, 13}, 33)), in(randomInts<int32_t>({13, 5}, 34))});
  checkOpAs("scalar", "MatMul", {in(randomInts<int64_t>({7, 13}, 35)), cst(randomInts<int64_t>({2, 13, 5}, 36))});
  checkOpAs("scalar", "MatMul", {in(doubles({7, 13}, 37)), in(doubles({13, 5}, 38))});
}

// ---- Gemm ---------------------------------------------------------------------------------------------------

TEST_CASE("Lowered Gemm: transposes, alpha, beta and C broadcast", "[llvm][linalg]") {
  AttributeMap transB{{"transB", int64_t{1}}};
  checkOpAs("gemm-packed-b", "Gemm", {in(rnd({1, 768}, 40)), cst(wts({100, 768}, 41, 768)), cst(rnd({100}, 42))},
            transB);
  checkOpAs("gemm-gathered-b", "Gemm", {in(rnd({9, 40}, 43)), in(rnd({35, 40}, 44)), in(rnd({9, 35}, 45))}, transB);
  checkOpAs("gemm-rows-b", "Gemm", {in(rnd({40, 9}, 46)), in(rnd({40, 35}, 47)), in(rnd({9, 1}, 48))},
            {{"transA", int64_t{1}}, {"alpha", 0.5f}, {"beta", 2.0f}});
  checkOpAs("gemm-packed-b", "Gemm", {in(rnd({40, 9}, 49)), cst(rnd({35, 40}, 50)), cst(rnd({1, 35}, 51))},
            {{"transA", int64_t{1}}, {"transB", int64_t{1}}, {"beta", -1.5f}});
  checkOpAs("gemm-packed-b", "Gemm", {in(rnd({9, 300}, 52)), cst(wts({300, 35}, 53, 300)), in(rnd({}, 54))},
            {{"alpha", 3.0f}});
  checkOpAs("gemm-packed-b", "Gemm", {in(rnd({9, 300}, 55)), cst(wts({300, 35}, 56, 300))});
  checkOpAs("gemm-gathered-b", "Gemm", {in(rnd({9, 300}, 57)), in(wts({35, 300}, 58, 300)), cst(rnd({35}, 59))},
            {{"transB", int64_t{1}}, {"alpha", -2.0f}});
}

TEST_CASE("Lowered Gemm: integer and double dtypes", "[llvm][linalg]") {
  checkOpAs("scalar", "Gemm",
            {in(randomInts<int64_t>({4, 6}, 60)), in(randomInts<int64_t>({5, 6}, 61)), in(randomInts<int64_t>({5}, 62))},
            {{"transB", int64_t{1}}, {"alpha", 2.0f}, {"beta", 3.0f}});
  checkOpAs("scalar", "Gemm", {in(doubles({6, 4}, 63)), in(doubles({6, 5}, 64)), in(doubles({4, 5}, 65))},
            {{"transA", int64_t{1}}, {"alpha", 0.25f}});
}

// ---- Einsum -------------------------------------------------------------------------------------------------

TEST_CASE("Lowered Einsum: matmul forms and generic loops", "[llvm][linalg]") {
  auto eq = [](const char *e) { return AttributeMap{{"equation", std::string(e)}}; };
  checkOpAs("gemm-gathered-b", "Einsum", {in(rnd({2, 3, 17, 8}, 70)), in(rnd({2, 3, 19, 8}, 71))}, eq("bhid,bhjd->bhij"));
  checkOpAs("gemm-rows-b", "Einsum", {in(rnd({2, 3, 17, 19}, 72)), in(rnd({2, 3, 19, 8}, 73))}, eq("bhij,bhjd->bhid"));
  checkOpAs("gemm-rows-b", "Einsum", {in(rnd({17, 8}, 74)), cst(rnd({8, 40}, 75))}, eq("ij,jk->ik"));
  checkOpAs("gemm-gathered-b", "Einsum", {in(rnd({17, 8}, 76)), in(rnd({40, 8}, 77))}, eq("ik,jk->ji"));
  checkOpAs("gemm-rows-b", "Einsum", {in(rnd({5, 17, 8}, 78)), in(rnd({5, 8, 40}, 79))}, eq("...ij,...jk"));
  checkOpAs("gemm-rows-b", "Einsum", {in(rnd({9}, 80)), in(rnd({9}, 81))}, eq("i,i->"));
  checkOpAs("loops", "Einsum", {in(rnd({7, 7}, 82))}, eq("ii->i"));
  checkOpAs("loops", "Einsum", {in(rnd({3, 4, 5}, 83))}, eq("ijk->kji"));
  checkOpAs("loops", "Einsum", {in(rnd({3, 4}, 84)), in(rnd({4, 5}, 85)), in(rnd({5, 2}, 86))}, eq("ij,jk,kl->il"));
  checkOpAs("loops", "Einsum", {in(rnd({3, 4}, 87)), in(rnd({1, 4}, 88))}, eq("ij,ij->i"));  // broadcasts: loops
}

// ---- Conv ---------------------------------------------------------------------------------------------------
// Each case names the strategy lower_conv.cpp must pick for it: "im2col", "implicit-gemm" (output rows of >= 64
// columns wasting at most 1/8 of the 32-column segments, stride <= 2, constant weights), "small-plane" (<= 64
// output positions where putting them on the GEMM rows saves >= 5% of the padded work), "pointwise" (1x1
// stride 1), "single-position" (1x1 over one position), "depthwise" (one input channel per group), "scalar"
// (not float32).

TEST_CASE("Lowered Conv: 3x3, strides, pads, bias", "[llvm][conv]") {
  AttributeMap pad1{{"pads", Ints{1, 1, 1, 1}}};
  checkOpAs("im2col", "Conv", {in(rnd({1, 16, 20, 20}, 100)), cst(wts({24, 16, 3, 3}, 101, 144)), cst(rnd({24}, 102))},
            pad1);
  checkOpAs("im2col", "Conv", {in(rnd({1, 16, 21, 19}, 103)), cst(wts({24, 16, 3, 3}, 104, 144)), cst(rnd({24}, 105))},
            {{"pads", Ints{1, 1, 1, 1}}, {"strides", Ints{2, 2}}});
  checkOpAs("im2col", "Conv", {in(rnd({2, 3, 23, 23}, 106)), cst(rnd({10, 3, 7, 7}, 107)), cst(rnd({10}, 108))},
            {{"pads", Ints{3, 3, 3, 3}}, {"strides", Ints{2, 2}}});
  checkOpAs("im2col", "Conv", {in(rnd({1, 8, 17, 17}, 109)), cst(rnd({8, 8, 3, 3}, 110))},
            {{"pads", Ints{0, 1, 2, 1}}, {"strides", Ints{3, 3}}});
  checkOpAs("im2col", "Conv", {in(rnd({1, 8, 15, 15}, 111)), cst(rnd({12, 8, 3, 3}, 112))},
            {{"pads", Ints{2, 2, 2, 2}}, {"dilations", Ints{2, 2}}});
  checkOpAs("im2col", "Conv", {in(rnd({1, 5, 10, 11}, 113)), cst(rnd({6, 5, 3, 2}, 114))},
            {{"auto_pad", std::string("SAME_UPPER")}});
  checkOpAs("im2col", "Conv", {in(rnd({1, 64, 56, 56}, 115)), cst(wts({64, 64, 3, 3}, 116, 576)), cst(rnd({64}, 117))},
            pad1);
  // Few output positions (8x8, which the small-plane kernel would not save work on): the im2col panels are
  // gathered once for all M chunks.
  checkOpAs("im2col", "Conv", {in(rnd({1, 64, 16, 16}, 118)), cst(wts({128, 64, 3, 3}, 119, 576)), cst(rnd({128}, 120))},
            {{"pads", Ints{1, 1, 1, 1}}, {"strides", Ints{2, 2}}});
  // More taps than the unrolled gather handles.
  checkOpAs("im2col", "Conv", {in(rnd({1, 2, 20, 20}, 121)), cst(wts({12, 2, 12, 12}, 122, 288))},
            {{"pads", Ints{2, 2, 2, 2}}});
}

TEST_CASE("Lowered Conv: direct kernel over wide output rows", "[llvm][conv]") {
  // Output rows of >= 64 columns that fill their 32-column segments to at least 7/8 run the implicit-GEMM kernel
  // (input row segments copied to a stack panel); widths 124, 94 and 90 leave tails.
  checkOpAs("implicit-gemm", "Conv", {in(rnd({2, 5, 10, 125}, 250)), cst(wts({13, 5, 3, 3}, 251, 45)), cst(rnd({13}, 252))},
            {{"pads", Ints{1, 0, 2, 1}}});
  checkOpAs("implicit-gemm", "Conv", {in(rnd({1, 6, 12, 187}, 253)), cst(wts({16, 6, 3, 5}, 254, 90))},
            {{"pads", Ints{1, 2, 1, 2}}, {"strides", Ints{2, 2}}});
  checkOpAs("implicit-gemm", "Conv", {in(rnd({1, 4, 9, 90}, 255)), cst(wts({9, 4, 3, 3}, 256, 36)), cst(rnd({9}, 257))},
            {{"pads", Ints{2, 2, 2, 2}}, {"dilations", Ints{2, 2}}});
  checkOpAs("implicit-gemm", "Conv", {in(rnd({1, 8, 6, 64}, 258)), cst(wts({12, 4, 3, 3}, 259, 36)), cst(rnd({12}, 260))},
            {{"group", int64_t{2}}, {"pads", Ints{1, 1, 1, 1}}});
  checkOpAs("implicit-gemm", "Conv", {in(rnd({1, 3, 4, 5, 90}, 261)), cst(wts({5, 3, 2, 3, 3}, 262, 54))},
            {{"pads", Ints{0, 1, 1, 1, 1, 1}}});
  checkOpAs("implicit-gemm", "Conv", {in(rnd({1, 4, 187}, 263)), cst(wts({6, 4, 7}, 264, 28))},
            {{"pads", Ints{3, 3}}, {"strides", Ints{2}}});
  checkOpAs("implicit-gemm", "Conv", {in(rnd({1, 3, 20, 128}, 265)), cst(wts({8, 3, 7, 7}, 266, 147)), cst(rnd({8}, 267))},
            {{"pads", Ints{3, 3, 3, 3}}, {"strides", Ints{2, 2}}});
  checkOpAs("implicit-gemm", "Conv", {in(rnd({1, 16, 4, 128}, 268)), cst(wts({24, 16, 1, 1}, 269, 16))},
            {{"strides", Ints{2, 2}}});
  // Many input channels: several channel blocks accumulate in the output.
  checkOpAs("implicit-gemm", "Conv",
            {in(rnd({1, 200, 3, 64}, 270)), cst(wts({16, 200, 3, 3}, 271, 1800)), cst(rnd({16}, 272))},
            {{"pads", Ints{1, 1, 1, 1}}});
  // A big output (streaming stores).
  checkOpAs("implicit-gemm", "Conv", {in(rnd({1, 4, 256, 256}, 273)), cst(wts({40, 4, 3, 3}, 274, 36)), cst(rnd({40}, 275))},
            {{"pads", Ints{1, 1, 1, 1}}});
  // Rows of 70 columns would waste more than 1/8 of three segments: im2col.
  checkOpAs("im2col", "Conv", {in(rnd({1, 6, 12, 140}, 276)), cst(wts({16, 6, 3, 5}, 277, 90))},
            {{"pads", Ints{1, 2, 1, 2}}, {"strides", Ints{2, 2}}});
}

TEST_CASE("Lowered Conv: 1x1, groups, runtime weights, single positions", "[llvm][conv]") {
  checkOpAs("pointwise", "Conv", {in(rnd({1, 32, 14, 14}, 120)), cst(rnd({40, 32, 1, 1}, 121)), cst(rnd({40}, 122))});
  checkOpAs("small-plane", "Conv", {in(rnd({2, 32, 7, 7}, 123)), cst(rnd({20, 32, 1, 1}, 124))},
            {{"strides", Ints{2, 2}}});
  checkOpAs("im2col", "Conv", {in(rnd({1, 8, 9, 9}, 125)), cst(rnd({6, 4, 3, 3}, 126)), cst(rnd({6}, 127))},
            {{"group", int64_t{2}}, {"pads", Ints{1, 1, 1, 1}}});
  checkOpAs("im2col", "Conv", {in(rnd({2, 8, 9, 9}, 128)), in(rnd({6, 8, 3, 3}, 129)), in(rnd({6}, 130))});
  checkOpAs("single-position", "Conv",
            {in(rnd({1, 48, 1, 1}, 131)), cst(wts({100, 48, 1, 1}, 132, 48)), cst(rnd({100}, 133))});
  checkOpAs("single-position", "Conv",
            {in(rnd({3, 48, 1, 1}, 134)), in(wts({100, 48, 1, 1}, 135, 48)), in(rnd({100}, 136))});
}

TEST_CASE("Lowered Conv: small output planes, positions on the GEMM rows", "[llvm][conv]") {
  // Planes of at most 64 positions (7x7) would fill 32-column panels poorly: the product runs transposed into a
  // scratch buffer (patches gathered into row panels) and is written back as NCHW.
  checkOpAs("small-plane", "Conv", {in(rnd({1, 64, 7, 7}, 180)), cst(wts({96, 64, 3, 3}, 181, 576)), cst(rnd({96}, 182))},
            {{"pads", Ints{1, 1, 1, 1}}});
  checkOpAs("small-plane", "Conv", {in(rnd({2, 24, 14, 14}, 186)), cst(wts({64, 24, 3, 3}, 187, 216))},
            {{"pads", Ints{1, 1, 1, 1}}, {"strides", Ints{2, 2}}});
  checkOpAs("small-plane", "Conv", {in(rnd({1, 32, 9, 9}, 188)), cst(wts({32, 32, 3, 3}, 189, 288)), cst(rnd({32}, 190))},
            {{"pads", Ints{1, 1, 1, 1}}, {"dilations", Ints{2, 2}}});
  checkOpAs("small-plane", "Conv", {in(rnd({1, 8, 3, 3, 5}, 191)), cst(wts({64, 8, 3, 3, 3}, 192, 216))},
            {{"pads", Ints{1, 1, 1, 1, 1, 1}}});
  checkOpAs("small-plane", "Conv",
            {in(rnd({1, 64, 14, 14}, 193)), cst(wts({128, 64, 3, 3}, 194, 576)), cst(rnd({128}, 195))},
            {{"pads", Ints{1, 1, 1, 1}}, {"strides", Ints{2, 2}}});
}

TEST_CASE("Lowered Conv: depthwise", "[llvm][conv]") {
  for (int64_t stride : {1, 2, 3}) {
    INFO("stride " << stride);
    checkOpAs("depthwise", "Conv", {in(rnd({1, 12, 37, 37}, 140)), cst(rnd({12, 1, 3, 3}, 141)), cst(rnd({12}, 142))},
              {{"group", int64_t{12}}, {"pads", Ints{1, 1, 1, 1}}, {"strides", Ints{stride, stride}}});
  }
  checkOpAs("depthwise", "Conv", {in(rnd({2, 6, 20, 20}, 143)), cst(rnd({12, 1, 5, 5}, 144))},
            {{"group", int64_t{6}}, {"pads", Ints{2, 2, 2, 2}}, {"strides", Ints{2, 2}}});
  checkOpAs("depthwise", "Conv", {in(rnd({1, 16, 40}, 145)), cst(rnd({16, 1, 9}, 146))},
            {{"group", int64_t{16}}, {"pads", Ints{4, 4}}});
  checkOpAs("depthwise", "Conv", {in(rnd({1, 4, 13, 13}, 147)), cst(rnd({4, 1, 3, 3}, 148))},
            {{"group", int64_t{4}}, {"dilations", Ints{2, 2}}, {"pads", Ints{2, 2, 2, 2}}});
  checkOpAs("depthwise", "Conv", {in(rnd({1, 1, 12, 12}, 149)), cst(rnd({5, 1, 3, 3}, 150))});
}

TEST_CASE("Lowered Conv: 1-D, 3-D and double", "[llvm][conv]") {
  checkOpAs("pointwise", "Conv", {in(rnd({1, 768, 128}, 160)), cst(wts({384, 768, 1}, 161, 768))});
  checkOpAs("im2col", "Conv", {in(rnd({1, 6, 30}, 162)), cst(rnd({8, 6, 5}, 163)), cst(rnd({8}, 164))},
            {{"pads", Ints{2, 1}}, {"strides", Ints{2}}});
  checkOpAs("im2col", "Conv", {in(rnd({1, 3, 6, 7, 8}, 165)), cst(rnd({4, 3, 3, 3, 3}, 166)), cst(rnd({4}, 167))},
            {{"pads", Ints{1, 1, 1, 1, 1, 1}}});
  checkOpAs("depthwise", "Conv", {in(rnd({1, 4, 6, 7, 8}, 168)), cst(rnd({4, 1, 3, 3, 3}, 169))},
            {{"group", int64_t{4}}, {"pads", Ints{1, 0, 1, 1, 0, 1}}, {"strides", Ints{2, 1, 2}}});
  checkOpAs("scalar", "Conv", {in(doubles({1, 4, 9, 9}, 170)), cst(doubles({6, 2, 3, 3}, 171)), cst(doubles({6}, 172))},
            {{"group", int64_t{2}}, {"pads", Ints{1, 1, 1, 1}}});
}

TEST_CASE("Lowered ConvTranspose", "[llvm][conv]") {
  checkOpAs("gemm-col2im", "ConvTranspose", {in(rnd({1, 8, 7, 7}, 180)), cst(rnd({8, 6, 3, 3}, 181)), cst(rnd({6}, 182))},
            {{"strides", Ints{2, 2}}, {"pads", Ints{1, 1, 1, 1}}, {"output_padding", Ints{1, 1}}});
  checkOpAs("gemm-col2im", "ConvTranspose", {in(rnd({2, 4, 5, 6}, 183)), in(rnd({4, 3, 2, 2}, 184))},
            {{"group", int64_t{2}}, {"strides", Ints{2, 2}}});
  checkOpAs("gemm-col2im", "ConvTranspose", {in(rnd({1, 3, 10}, 185)), cst(rnd({3, 2, 4}, 186))},
            {{"strides", Ints{3}}, {"dilations", Ints{2}}, {"output_shape", Ints{30}}});
  checkOpAs("gemm-col2im", "ConvTranspose", {in(rnd({1, 64, 40, 40}, 187)), cst(wts({64, 32, 4, 4}, 188, 64))},
            {{"strides", Ints{2, 2}}, {"pads", Ints{1, 1, 1, 1}}});
  checkOpAs("scalar", "ConvTranspose", {in(doubles({1, 2, 4, 4}, 189)), cst(doubles({2, 3, 3, 3}, 190))},
            {{"auto_pad", std::string("SAME_UPPER")}, {"strides", Ints{2, 2}}});
}

// ---- Pooling ------------------------------------------------------------------------------------------------

TEST_CASE("Lowered MaxPool", "[llvm][pool]") {
  checkOp("MaxPool", {in(rnd({1, 8, 112, 112}, 200))},
          {{"kernel_shape", Ints{3, 3}}, {"pads", Ints{1, 1, 1, 1}}, {"strides", Ints{2, 2}}});
  checkOp("MaxPool", {in(rnd({2, 3, 17, 18}, 201))}, {{"kernel_shape", Ints{2, 2}}, {"strides", Ints{2, 2}}});
  checkOp("MaxPool", {in(rnd({1, 3, 17, 18}, 202))},
          {{"kernel_shape", Ints{3, 3}}, {"strides", Ints{2, 2}}, {"ceil_mode", int64_t{1}}, {"pads", Ints{0, 1, 1, 0}}});
  checkOp("MaxPool", {in(rnd({1, 2, 20, 21}, 203))},
          {{"kernel_shape", Ints{3, 2}}, {"strides", Ints{3, 3}}, {"dilations", Ints{2, 2}}});
  checkOp("MaxPool", {in(rnd({1, 2, 30}, 204))}, {{"kernel_shape", Ints{4}}, {"auto_pad", std::string("SAME_LOWER")}});
  checkOp("MaxPool", {in(rnd({1, 2, 5, 6, 7}, 205))}, {{"kernel_shape", Ints{2, 3, 2}}, {"pads", Ints{1, 1, 1, 1, 1, 1}}});
  checkOp("MaxPool", {in(rnd({1, 3, 9, 10}, 206))}, {{"kernel_shape", Ints{3, 3}}, {"storage_order", int64_t{1}}}, 2);
  checkOp("MaxPool", {in(rnd({1, 3, 9, 10}, 207))}, {{"kernel_shape", Ints{2, 2}}, {"pads", Ints{1, 1, 1, 1}}}, 2);
  checkOp("MaxPool", {in(doubles({1, 3, 9, 10}, 208))}, {{"kernel_shape", Ints{3, 3}}, {"strides", Ints{2, 2}}});
  checkOp("MaxPool", {in(randomInts<int8_t>({1, 3, 9, 10}, 209))}, {{"kernel_shape", Ints{3, 3}}});
  checkOp("MaxPool", {in(randomInts<uint8_t>({1, 3, 9, 10}, 210))}, {{"kernel_shape", Ints{3, 3}}});
}

TEST_CASE("Lowered AveragePool and LpPool", "[llvm][pool]") {
  for (int64_t includePad : {0, 1}) {
    INFO("count_include_pad " << includePad);
    checkOp("AveragePool", {in(rnd({1, 4, 35, 35}, 220))},
            {{"kernel_shape", Ints{3, 3}}, {"pads", Ints{1, 1, 1, 1}}, {"count_include_pad", includePad}});
    checkOp("AveragePool", {in(rnd({2, 3, 17, 18}, 221))},
            {{"kernel_shape", Ints{3, 3}}, {"strides", Ints{2, 2}}, {"ceil_mode", int64_t{1}}, {"pads", Ints{1, 0, 1, 0}},
             {"count_include_pad", includePad}});
    checkOp("AveragePool", {in(doubles({1, 2, 9, 9}, 222))},
            {{"kernel_shape", Ints{2, 2}}, {"pads", Ints{1, 1, 0, 0}}, {"count_include_pad", includePad}});
  }
  checkOp("AveragePool", {in(rnd({1, 512, 7, 7}, 223))}, {{"kernel_shape", Ints{1, 1}}, {"strides", Ints{1, 1}}});
  checkOp("AveragePool", {in(rnd({1, 2, 4, 5, 6}, 224))}, {{"kernel_shape", Ints{2, 2, 3}}, {"strides", Ints{2, 1, 2}}});
  checkOp("LpPool", {in(rnd({1, 3, 9, 10}, 225))}, {{"kernel_shape", Ints{3, 3}}, {"p", int64_t{3}}, {"pads", Ints{1, 1, 1, 1}}});
  checkOp("LpPool", {in(rnd({1, 3, 9, 10}, 226))}, {{"kernel_shape", Ints{2, 2}}});
}

TEST_CASE("Lowered global pools", "[llvm][pool]") {
  for (const char *op : {"GlobalAveragePool", "GlobalMaxPool", "GlobalLpPool"}) {
    INFO(op);
    checkOp(op, {in(rnd({2, 64, 7, 7}, 230))});
    checkOp(op, {in(rnd({1, 32, 56, 56}, 231))});
    checkOp(op, {in(rnd({1, 3, 5}, 232))});
    checkOp(op, {in(doubles({1, 3, 4, 5}, 233))});
  }
}

// ---- Benchmark ----------------------------------------------------------------------------------------------

namespace {

struct Timing {
  double medianMs = 0, minMs = 0;
};

/// Median and minimum milliseconds of `fn` over `iterations` runs after one warm-up run (the minimum is the
/// steadier figure on a shared machine).
template <typename Fn>
Timing timeRuns(Fn &&fn, int iterations) {
  fn();
  std::vector<double> times;
  for (int i = 0; i < iterations; ++i) {
    const auto start = std::chrono::steady_clock::now();
    fn();
    times.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
  }
  std::sort(times.begin(), times.end());
  return {times[times.size() / 2], times.front()};
}

void benchGraph(const std::string &label, const ir::Graph &graph, const std::vector<Tensor> &inputs, double flops) {
  interp::Interpreter interpreter(graph);
  const Timing interp = timeRuns([&] { REQUIRE(interpreter.run(inputs).hasValue()); }, 5);
  std::printf("%-32s interpreter  median %8.3f ms  min %8.3f ms  %6.1f GFLOP/s\n", label.c_str(), interp.medianMs,
              interp.minMs, flops / interp.minMs * 1e-6);
  for (int threads : {1, 2}) {
    auto model = compile(graph, threads);
    std::vector<Tensor> outputs;
    for (const ir::TensorType &type : model->outputTypes()) outputs.push_back(Tensor::zeros(type.dtype, type.shape));
    const Timing t = timeRuns([&] { REQUIRE(model->run(inputs, outputs).isOk()); }, 50);
    std::printf("%-32s %d thread(s)  median %8.3f ms  min %8.3f ms  %6.1f GFLOP/s  %5.1fx the interpreter\n",
                label.c_str(), threads, t.medianMs, t.minMs, flops / t.minMs * 1e-6, interp.minMs / t.minMs);
  }
}

}  // namespace

TEST_CASE("Linalg lowering benchmark", "[.][bench][llvm]") {
  for (int64_t n : {768, 3072}) {
    ir::GraphBuilder b = test::makeBuilder();
    ValueId x = b.input("x", DType::Float32, {1, 128, 768});
    b.output(b.op("MatMul", {x, b.constant("w", rnd({768, n}, 1))}));
    auto graph = std::move(b).build();
    REQUIRE(graph.hasValue());
    benchGraph("MatMul 128x" + std::to_string(n) + "x768 (const W)", *graph, {rnd({1, 128, 768}, 2)},
               2.0 * 128 * 768 * double(n));
  }
  {
    ir::GraphBuilder b = test::makeBuilder();
    ValueId q = b.input("q", DType::Float32, {1, 12, 128, 64});
    ValueId k = b.input("k", DType::Float32, {1, 12, 64, 128});
    b.output(b.op("MatMul", {q, k}));
    auto graph = std::move(b).build();
    REQUIRE(graph.hasValue());
    benchGraph("MatMul 12x128x128x64 (attention)", *graph, {rnd({1, 12, 128, 64}, 3), rnd({1, 12, 64, 128}, 4)},
               2.0 * 12 * 128 * 128 * 64);
  }
  struct ConvCase {
    std::string label;
    Shape x, w;
    AttributeMap attrs;
  };
  const std::vector<ConvCase> convs = {
      {"Conv 64x56x56 3x3 -> 64", {1, 64, 56, 56}, {64, 64, 3, 3}, {{"pads", Ints{1, 1, 1, 1}}}},
      {"Conv 256x14x14 3x3 -> 256", {1, 256, 14, 14}, {256, 256, 3, 3}, {{"pads", Ints{1, 1, 1, 1}}}},
      {"Conv 64x56x56 1x1 -> 256", {1, 64, 56, 56}, {256, 64, 1, 1}, {}},
      {"Conv 128x56x56 3x3 s2 -> 128", {1, 128, 56, 56}, {128, 128, 3, 3}, {{"pads", Ints{1, 1, 1, 1}}, {"strides", Ints{2, 2}}}},
      {"Conv dw 96x112x112 3x3 s2", {1, 96, 112, 112}, {96, 1, 3, 3}, {{"pads", Ints{1, 1, 1, 1}}, {"strides", Ints{2, 2}}, {"group", int64_t{96}}}},
      {"Conv dw 144x56x56 3x3", {1, 144, 56, 56}, {144, 1, 3, 3}, {{"pads", Ints{1, 1, 1, 1}}, {"group", int64_t{144}}}},
  };
  for (const ConvCase &cc : convs) {
    ir::GraphBuilder b = test::makeBuilder();
    ValueId x = b.input("x", DType::Float32, cc.x);
    ValueId y = b.op("Conv", {x, b.constant("w", rnd(cc.w, 5)), b.constant("b", rnd({cc.w[0]}, 6))}, cc.attrs);
    b.output(y);
    auto graph = std::move(b).build();
    REQUIRE(graph.hasValue());
    const ir::Shape &out = graph->value(y).type.shape;
    const double flops = 2.0 * double(ir::shapeNumel(out)) * double(cc.w[1] * cc.w[2] * cc.w[3]);
    benchGraph(cc.label, *graph, {rnd(cc.x, 7)}, flops);
  }
}

// FLUIDML_PROFILE_MODEL=model.onnx [FLUIDML_PROFILE_THREADS=N] [FLUIDML_PROFILE_ALL=1]: every linalg node (every
// node with _ALL) of the model compiled alone and timed (identical nodes once), with the sum per op type: where
// a model's time goes.
TEST_CASE("Linalg lowering profile of a model", "[.][profile][llvm]") {
  const char *path = std::getenv("FLUIDML_PROFILE_MODEL");
  if (path == nullptr) return;
  const int threads = std::getenv("FLUIDML_PROFILE_THREADS") ? std::atoi(std::getenv("FLUIDML_PROFILE_THREADS")) : 1;
  auto model = onnxio::importModelFile(path);
  INFO((model ? std::string() : model.message()));
  REQUIRE(model.hasValue());
  const ir::Graph &graph = *model;
  std::map<std::string, std::pair<double, int>> cache;  // signature -> (ms, count)
  std::map<std::string, double> perOp;
  double total = 0;
  for (ir::NodeId id : graph.order()) {
    const ir::Node &node = graph.node(id);
    static const std::set<std::string> kOps{"MatMul", "Gemm", "Conv", "ConvTranspose", "MaxPool", "AveragePool",
                                            "GlobalAveragePool", "Einsum"};
    if (!kOps.count(node.opType) && std::getenv("FLUIDML_PROFILE_ALL") == nullptr) continue;
    std::string signature = node.opType;
    for (ir::ValueId v : node.inputs)
      signature += " " + (v == ir::kNoValue ? std::string("-") : graph.value(v).type.toString()) +
                   (v != ir::kNoValue && graph.value(v).isConstant() ? "c" : "");
    for (const auto &[key, attr] : node.attributes) signature += " " + key + "=" + ir::attributeToString(attr);
    auto found = cache.find(signature);
    if (found == cache.end()) {
      ir::GraphBuilder b = test::makeBuilder(graph.opsetVersion());
      std::vector<ValueId> ids;
      std::vector<Tensor> inputs;
      for (size_t i = 0; i < node.inputs.size(); ++i) {
        const ir::ValueId v = node.inputs[i];
        if (v == ir::kNoValue) {
          ids.push_back(ir::kNoValue);
        } else if (graph.value(v).isConstant()) {
          ids.push_back(b.constant("c" + std::to_string(i), graph.value(v).constant));
        } else {
          const ir::TensorType &type = graph.value(v).type;
          ids.push_back(b.input("x" + std::to_string(i), type.dtype, type.shape));
          inputs.push_back(rnd(type.shape, static_cast<uint32_t>(i)));
        }
      }
      b.output(b.op(node.opType, ids, node.attributes));
      auto single = std::move(b).build();
      REQUIRE(single.hasValue());
      auto compiled = compile(*single, threads);
      std::vector<Tensor> outputs;
      for (const ir::TensorType &type : compiled->outputTypes()) outputs.push_back(Tensor::zeros(type.dtype, type.shape));
      const Timing t = timeRuns([&] { REQUIRE(compiled->run(inputs, outputs).isOk()); }, 10);
      found = cache.emplace(signature, std::make_pair(t.minMs, 0)).first;
    }
    found->second.second += 1;
    perOp[node.opType] += found->second.first;
    total += found->second.first;
  }
  std::vector<std::pair<std::string, std::pair<double, int>>> rows(cache.begin(), cache.end());
  std::sort(rows.begin(), rows.end(), [](const auto &x, const auto &y) {
    return x.second.first * x.second.second > y.second.first * y.second.second;
  });
  for (const auto &[signature, timing] : rows)
    std::printf("%8.3f ms x%-3d %8.3f ms  %s\n", timing.first, timing.second, timing.first * timing.second,
                signature.c_str());
  for (const auto &[op, ms] : perOp) std::printf("%-20s %8.3f ms\n", op.c_str(), ms);
  std::printf("total %8.3f ms (%d threads)\n", total, threads);
}
