// The linalg family: MatMul, Gemm, Einsum, Conv, ConvTranspose and the pooling ops, against hand-computed
// values and naive reference loops written out here.
#include <catch2/catch.hpp>

#include <array>
#include <chrono>

#include "tests/test_util.h"

using namespace fluidml;
using namespace fluidml::ir;

namespace {

template <typename T>
void checkValues(const Tensor &actual, const Shape &shape, const std::vector<T> &expected, double tolerance = 1e-5) {
  REQUIRE(actual.dtype() == dtypeOf<T>());
  REQUIRE(actual.shape() == shape);
  REQUIRE(static_cast<size_t>(actual.numel()) == expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    INFO("element " << i);
    CHECK(static_cast<double>(actual.data<T>()[i]) == Approx(static_cast<double>(expected[i])).margin(tolerance));
  }
}

/// Builds a single-node graph over the given input tensors and runs it; returns all outputs.
std::vector<Tensor> runOp(const std::string &opType, const std::vector<Tensor> &inputs, AttributeMap attributes,
                          size_t outputs = 1, int64_t opset = 17) {
  GraphBuilder b = test::makeBuilder(opset);
  std::vector<ValueId> ids;
  for (size_t i = 0; i < inputs.size(); ++i)
    ids.push_back(b.input("in" + std::to_string(i), inputs[i].dtype(), inputs[i].shape()));
  for (ValueId out : b.opMulti(opType, ids, outputs, std::move(attributes))) b.output(out);
  auto graph = std::move(b).build();
  INFO((graph ? std::string() : graph.message()));
  REQUIRE(graph.hasValue());
  return test::runGraph(*graph, inputs);
}

/// The inference error of a single-node graph (REQUIREs that there is one).
std::string inferError(const std::string &opType, const std::vector<TensorType> &inputs, AttributeMap attributes) {
  GraphBuilder b = test::makeBuilder();
  std::vector<ValueId> ids;
  for (size_t i = 0; i < inputs.size(); ++i)
    ids.push_back(b.input("in" + std::to_string(i), inputs[i].dtype, inputs[i].shape));
  b.output(b.op(opType, ids, std::move(attributes)));
  auto graph = std::move(b).build();
  REQUIRE_FALSE(graph.hasValue());
  return graph.message();
}

Tensor floats(Shape shape, std::vector<float> values) { return Tensor::fromVector<float>(std::move(shape), values); }

/// Geometry of the naive convolution loops: everything as 3 spatial dims (leading dims of size 1).
struct NaiveConv {
  int64_t n, c, m, group;
  std::array<int64_t, 3> in, kernel, stride, pad, dilation, out;
};

/// Conv by its definition: y[n, oc, o] = b[oc] + sum over ci, k of x[n, g*Cg + ci, o*s - p + k*d] w[oc, ci, k].
std::vector<float> naiveConv(const NaiveConv &g, const float *x, const float *w, const float *bias) {
  const int64_t cg = g.c / g.group, mg = g.m / g.group;
  std::vector<float> y(static_cast<size_t>(g.n * g.m * g.out[0] * g.out[1] * g.out[2]));
  size_t at = 0;
  for (int64_t n = 0; n < g.n; ++n)
    for (int64_t oc = 0; oc < g.m; ++oc)
      for (int64_t od = 0; od < g.out[0]; ++od)
        for (int64_t oh = 0; oh < g.out[1]; ++oh)
          for (int64_t ow = 0; ow < g.out[2]; ++ow) {
            double sum = bias ? bias[oc] : 0.0;
            for (int64_t ci = 0; ci < cg; ++ci)
              for (int64_t kd = 0; kd < g.kernel[0]; ++kd)
                for (int64_t kh = 0; kh < g.kernel[1]; ++kh)
                  for (int64_t kw = 0; kw < g.kernel[2]; ++kw) {
                    const int64_t id = od * g.stride[0] - g.pad[0] + kd * g.dilation[0];
                    const int64_t ih = oh * g.stride[1] - g.pad[1] + kh * g.dilation[1];
                    const int64_t iw = ow * g.stride[2] - g.pad[2] + kw * g.dilation[2];
                    if (id < 0 || id >= g.in[0] || ih < 0 || ih >= g.in[1] || iw < 0 || iw >= g.in[2]) continue;
                    const int64_t channel = (oc / mg) * cg + ci;
                    sum +=
                        static_cast<double>(x[(((n * g.c + channel) * g.in[0] + id) * g.in[1] + ih) * g.in[2] + iw]) *
                        w[(((oc * cg + ci) * g.kernel[0] + kd) * g.kernel[1] + kh) * g.kernel[2] + kw];
                  }
            y[at++] = static_cast<float>(sum);
          }
  return y;
}

/// ConvTranspose by its definition: every x[n, ci, i] w[ci, oc, k] lands on y[n, g*Mg + oc, i*s - p + k*d].
std::vector<float> naiveConvTranspose(const NaiveConv &g, const float *x, const float *w, const float *bias) {
  const int64_t cg = g.c / g.group, mg = g.m / g.group;
  const int64_t outPlane = g.out[0] * g.out[1] * g.out[2];
  std::vector<double> y(static_cast<size_t>(g.n * g.m * outPlane));
  for (int64_t n = 0; n < g.n; ++n)
    for (int64_t oc = 0; oc < g.m; ++oc)
      for (int64_t o = 0; o < outPlane; ++o)
        y[static_cast<size_t>((n * g.m + oc) * outPlane + o)] = bias ? bias[oc] : 0;
  for (int64_t n = 0; n < g.n; ++n)
    for (int64_t ci = 0; ci < g.c; ++ci)
      for (int64_t id = 0; id < g.in[0]; ++id)
        for (int64_t ih = 0; ih < g.in[1]; ++ih)
          for (int64_t iw = 0; iw < g.in[2]; ++iw)
            for (int64_t oc = 0; oc < mg; ++oc)
              for (int64_t kd = 0; kd < g.kernel[0]; ++kd)
                for (int64_t kh = 0; kh < g.kernel[1]; ++kh)
                  for (int64_t kw = 0; kw < g.kernel[2]; ++kw) {
                    const int64_t od = id * g.stride[0] - g.pad[0] + kd * g.dilation[0];
                    const int64_t oh = ih * g.stride[1] - g.pad[1] + kh * g.dilation[1];
                    const int64_t ow = iw * g.stride[2] - g.pad[2] + kw * g.dilation[2];
                    if (od < 0 || od >= g.out[0] || oh < 0 || oh >= g.out[1] || ow < 0 || ow >= g.out[2]) continue;
                    const int64_t outChannel = (ci / cg) * mg + oc;
                    y[static_cast<size_t>(((n * g.m + outChannel) * g.out[0] + od) * g.out[1] * g.out[2] +
                                          oh * g.out[2] + ow)] +=
                        static_cast<double>(x[(((n * g.c + ci) * g.in[0] + id) * g.in[1] + ih) * g.in[2] + iw]) *
                        w[(((ci * mg + oc) * g.kernel[0] + kd) * g.kernel[1] + kh) * g.kernel[2] + kw];
                  }
  return std::vector<float>(y.begin(), y.end());
}

}  // namespace

// ---- MatMul ------------------------------------------------------------------------------------------------

TEST_CASE("MatMul multiplies 2-D matrices", "[ops][linalg]") {
  Tensor a = floats({2, 3}, {1, 2, 3, 4, 5, 6});
  Tensor b = floats({3, 2}, {7, 8, 9, 10, 11, 12});
  checkValues<float>(runOp("MatMul", {a, b}, {})[0], {2, 2}, {58, 64, 139, 154});
}

TEST_CASE("MatMul broadcasts batch dimensions", "[ops][linalg]") {
  // [2, 1, 2, 2] x [3, 2, 2] -> [2, 3, 2, 2]: every left matrix meets every right one.
  Tensor a = floats({2, 1, 2, 2}, {1, 2, 3, 4, /**/ 0, 1, 1, 0});
  Tensor b = floats({3, 2, 2}, {1, 0, 0, 1, /**/ 2, 0, 0, 2, /**/ 1, 1, 0, 1});
  checkValues<float>(runOp("MatMul", {a, b}, {})[0], {2, 3, 2, 2},
                     {1, 2, 3, 4, 2, 4, 6, 8, 1, 3, 3, 7, 0, 1, 1, 0, 0, 2, 2, 0, 0, 1, 1, 1});

  // A shared right matrix (the x @ W path) on int64.
  Tensor ai = Tensor::fromVector<int64_t>({2, 2, 3}, {1, 2, 3, 4, 5, 6, 1, 0, 0, 0, 1, 0});
  Tensor bi = Tensor::fromVector<int64_t>({3, 2}, {7, 8, 9, 10, 11, 12});
  checkValues<int64_t>(runOp("MatMul", {ai, bi}, {})[0], {2, 2, 2}, {58, 64, 139, 154, 7, 8, 9, 10});
}

TEST_CASE("MatMul promotes 1-D operands as numpy does", "[ops][linalg]") {
  Tensor v = floats({3}, {1, 2, 3});
  Tensor m = floats({3, 2}, {7, 8, 9, 10, 11, 12});
  checkValues<float>(runOp("MatMul", {v, m}, {})[0], {2}, {58, 64});
  Tensor mt = floats({2, 3}, {1, 1, 1, 0, 1, 2});
  checkValues<float>(runOp("MatMul", {mt, v}, {})[0], {2}, {6, 8});
  checkValues<float>(runOp("MatMul", {v, v}, {})[0], {}, {14});
  // A 1-D left operand against a batch of matrices: [3] x [2, 3, 2] -> [2, 2].
  Tensor batch = floats({2, 3, 2}, {7, 8, 9, 10, 11, 12, 1, 0, 0, 1, 0, 0});
  checkValues<float>(runOp("MatMul", {v, batch}, {})[0], {2, 2}, {58, 64, 1, 2});
}

TEST_CASE("MatMul handles a large product with blocking", "[ops][linalg]") {
  // Sizes past the GEMM block sizes (512 columns, depth 128) and not multiples of the vector chunk.
  const int64_t m = 5, k = 300, n = 530;
  Tensor a = test::randomFloats({m, k}, 1);
  Tensor b = test::randomFloats({k, n}, 2);
  std::vector<float> expected(static_cast<size_t>(m * n));
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double sum = 0;
      for (int64_t p = 0; p < k; ++p) sum += double(a.data<float>()[i * k + p]) * b.data<float>()[p * n + j];
      expected[static_cast<size_t>(i * n + j)] = static_cast<float>(sum);
    }
  checkValues<float>(runOp("MatMul", {a, b}, {})[0], {m, n}, expected, 1e-4);
}

TEST_CASE("MatMul reports mismatched inner dimensions", "[ops][linalg]") {
  std::string message =
      inferError("MatMul", {TensorType(DType::Float32, {2, 3}), TensorType(DType::Float32, {4, 5})}, {});
  CHECK_THAT(message, Catch::Contains("inner dimensions 3 and 4 do not match"));
  CHECK_THAT(inferError("MatMul", {TensorType(DType::Float32, {2, 2, 3}), TensorType(DType::Float32, {3, 3, 1})}, {}),
             Catch::Contains("cannot be broadcast"));
}

// ---- Gemm --------------------------------------------------------------------------------------------------

TEST_CASE("Gemm with transB, alpha, beta and a broadcast C", "[ops][linalg]") {
  Tensor a = floats({2, 3}, {1, 2, 3, 4, 5, 6});
  Tensor b = floats({2, 3}, {1, 0, 1, 0, 1, 0});  // used transposed: [3, 2]
  Tensor c = floats({2}, {10, 20});               // one row, broadcast over both result rows
  // A B^T = [[4, 2], [10, 5]]; 2 * that + 0.5 * C.
  checkValues<float>(runOp("Gemm", {a, b, c}, {{"transB", int64_t{1}}, {"alpha", 2.0f}, {"beta", 0.5f}})[0], {2, 2},
                     {13, 14, 25, 20});
  // transA with a column C [2, 1] and no scaling.
  Tensor at = floats({3, 2}, {1, 4, 2, 5, 3, 6});
  Tensor bn = floats({3, 2}, {1, 0, 0, 1, 1, 0});
  Tensor col = floats({2, 1}, {100, 200});
  checkValues<float>(runOp("Gemm", {at, bn, col}, {{"transA", int64_t{1}}})[0], {2, 2}, {104, 102, 210, 205});
  // No C at all.
  checkValues<float>(runOp("Gemm", {at, bn}, {{"transA", int64_t{1}}})[0], {2, 2}, {4, 2, 10, 5});
}

TEST_CASE("Gemm rejects a C that does not broadcast to the result", "[ops][linalg]") {
  std::string message = inferError(
      "Gemm", {TensorType(DType::Float32, {2, 3}), TensorType(DType::Float32, {3, 4}), TensorType(DType::Float32, {3})},
      {});
  CHECK_THAT(message, Catch::Contains("cannot be broadcast to the result 2x4"));
}

// ---- Einsum ------------------------------------------------------------------------------------------------

TEST_CASE("Einsum batched matmul", "[ops][linalg]") {
  Tensor x = floats({2, 2, 2}, {1, 2, 3, 4, 5, 6, 7, 8});
  Tensor y = floats({2, 2, 1}, {1, 1, 1, -1});
  checkValues<float>(runOp("Einsum", {x, y}, {{"equation", std::string("bij,bjk->bik")}})[0], {2, 2, 1},
                     {3, 7, -1, -1});
}

TEST_CASE("Einsum diagonals, traces, implicit outputs and ellipses", "[ops][linalg]") {
  Tensor m = floats({3, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9});
  checkValues<float>(runOp("Einsum", {m}, {{"equation", std::string("ii->i")}})[0], {3}, {1, 5, 9});
  checkValues<float>(runOp("Einsum", {m}, {{"equation", std::string("ii")}})[0], {}, {15});
  // Implicit output lists the labels used once in alphabetical order: "ba" transposes.
  Tensor r = floats({2, 3}, {1, 2, 3, 4, 5, 6});
  checkValues<float>(runOp("Einsum", {r}, {{"equation", std::string("ba")}})[0], {3, 2}, {1, 4, 2, 5, 3, 6});
  checkValues<float>(runOp("Einsum", {r}, {{"equation", std::string("ij->i")}})[0], {2}, {6, 15});
  checkValues<float>(runOp("Einsum", {r, r}, {{"equation", std::string(" ij , ij -> ")}})[0], {}, {91});
  // Ellipsis dims broadcast: [2, 1, 2] and [3, 2] -> [2, 3].
  Tensor e1 = floats({2, 1, 2}, {1, 2, 3, 4});
  Tensor e2 = floats({3, 2}, {1, 0, 0, 1, 1, 1});
  checkValues<float>(runOp("Einsum", {e1, e2}, {{"equation", std::string("...i,...i->...")}})[0], {2, 3},
                     {1, 2, 3, 3, 4, 7});
  Tensor batch = floats({2, 2, 2}, {1, 2, 3, 4, 5, 6, 7, 8});
  checkValues<float>(runOp("Einsum", {batch}, {{"equation", std::string("...ii->...i")}})[0], {2, 2}, {1, 4, 5, 8});
  // Labelled dims of size 1 broadcast too, as in numpy.
  Tensor one = floats({1, 2}, {10, 100});
  checkValues<float>(runOp("Einsum", {one, r.reshaped({3, 2})}, {{"equation", std::string("ij,ij->ij")}})[0], {3, 2},
                     {10, 200, 30, 400, 50, 600});
  // Outer product of three operands.
  Tensor u = floats({2}, {1, 2});
  checkValues<float>(runOp("Einsum", {u, u, u}, {{"equation", std::string("i,j,k->ijk")}})[0], {2, 2, 2},
                     {1, 2, 2, 4, 2, 4, 4, 8});
}

TEST_CASE("Einsum rejects malformed equations", "[ops][linalg]") {
  TensorType m(DType::Float32, {2, 3});
  CHECK_THAT(inferError("Einsum", {m}, {{"equation", std::string("ijk->i")}}),
             Catch::Contains("does not fit its rank"));
  CHECK_THAT(inferError("Einsum", {m}, {{"equation", std::string("ij->k")}}),
             Catch::Contains("output label 'k' does not appear"));
  CHECK_THAT(inferError("Einsum", {m, m}, {{"equation", std::string("ij,jk->ik")}}),
             Catch::Contains("label 'j' has sizes 3 and 2"));
  CHECK_THAT(inferError("Einsum", {m}, {{"equation", std::string("i.j")}}), Catch::Contains("outside an ellipsis"));
  CHECK_THAT(inferError("Einsum", {m}, {{"equation", std::string("...j->j")}}),
             Catch::Contains("output term has no '...'"));
}

// ---- Conv --------------------------------------------------------------------------------------------------

TEST_CASE("Conv with stride 2, pad 1, 2 groups and dilation 2 matches the naive loop", "[ops][linalg]") {
  NaiveConv g{2, 4, 6, 2, {1, 7, 6}, {1, 3, 3}, {1, 2, 2}, {0, 1, 1}, {1, 2, 2}, {1, 3, 2}};
  Tensor x = test::randomFloats({2, 4, 7, 6}, 11);
  Tensor w = test::randomFloats({6, 2, 3, 3}, 12);
  Tensor bias = test::randomFloats({6}, 13);
  AttributeMap attrs{{"strides", std::vector<int64_t>{2, 2}},
                     {"pads", std::vector<int64_t>{1, 1, 1, 1}},
                     {"dilations", std::vector<int64_t>{2, 2}},
                     {"group", int64_t{2}},
                     {"kernel_shape", std::vector<int64_t>{3, 3}}};
  checkValues<float>(runOp("Conv", {x, w, bias}, attrs)[0], {2, 6, 3, 2},
                     naiveConv(g, x.data<float>(), w.data<float>(), bias.data<float>()));
}

TEST_CASE("Conv in 1-D, 3-D, depthwise, pointwise and with auto_pad", "[ops][linalg]") {
  SECTION("1-D with asymmetric pads") {
    NaiveConv g{1, 3, 2, 1, {1, 1, 9}, {1, 1, 4}, {1, 1, 3}, {0, 0, 2}, {1, 1, 1}, {1, 1, 3}};
    Tensor x = test::randomFloats({1, 3, 9}, 21);
    Tensor w = test::randomFloats({2, 3, 4}, 22);
    // pads 2 + 0: (9 + 2 - 4) / 3 + 1 = 3 outputs.
    checkValues<float>(
        runOp("Conv", {x, w}, {{"strides", std::vector<int64_t>{3}}, {"pads", std::vector<int64_t>{2, 0}}})[0],
        {1, 2, 3}, naiveConv(g, x.data<float>(), w.data<float>(), nullptr));
  }
  SECTION("3-D") {
    NaiveConv g{1, 2, 3, 1, {4, 5, 6}, {2, 3, 2}, {1, 2, 1}, {1, 0, 1}, {1, 1, 2}, {5, 2, 6}};
    Tensor x = test::randomFloats({1, 2, 4, 5, 6}, 31);
    Tensor w = test::randomFloats({3, 2, 2, 3, 2}, 32);
    Tensor bias = test::randomFloats({3}, 33);
    AttributeMap attrs{{"strides", std::vector<int64_t>{1, 2, 1}},
                       {"pads", std::vector<int64_t>{1, 0, 1, 1, 0, 1}},
                       {"dilations", std::vector<int64_t>{1, 1, 2}}};
    checkValues<float>(runOp("Conv", {x, w, bias}, attrs)[0], {1, 3, 5, 2, 6},
                       naiveConv(g, x.data<float>(), w.data<float>(), bias.data<float>()));
  }
  SECTION("depthwise with SAME_UPPER") {
    // in 7, stride 2: out 4, total pad (4-1)*2 + 3 - 7 = 2 -> 1 + 1.
    NaiveConv g{1, 3, 3, 3, {1, 7, 7}, {1, 3, 3}, {1, 2, 2}, {0, 1, 1}, {1, 1, 1}, {1, 4, 4}};
    Tensor x = test::randomFloats({1, 3, 7, 7}, 41);
    Tensor w = test::randomFloats({3, 1, 3, 3}, 42);
    AttributeMap attrs{
        {"strides", std::vector<int64_t>{2, 2}}, {"group", int64_t{3}}, {"auto_pad", std::string("SAME_UPPER")}};
    checkValues<float>(runOp("Conv", {x, w}, attrs)[0], {1, 3, 4, 4},
                       naiveConv(g, x.data<float>(), w.data<float>(), nullptr));
  }
  SECTION("pointwise") {
    NaiveConv g{2, 4, 5, 1, {1, 3, 3}, {1, 1, 1}, {1, 1, 1}, {0, 0, 0}, {1, 1, 1}, {1, 3, 3}};
    Tensor x = test::randomFloats({2, 4, 3, 3}, 51);
    Tensor w = test::randomFloats({5, 4, 1, 1}, 52);
    Tensor bias = test::randomFloats({5}, 53);
    checkValues<float>(runOp("Conv", {x, w, bias}, {})[0], {2, 5, 3, 3},
                       naiveConv(g, x.data<float>(), w.data<float>(), bias.data<float>()));
  }
}

TEST_CASE("Conv rejects mismatched channels and bad geometry", "[ops][linalg]") {
  CHECK_THAT(
      inferError("Conv", {TensorType(DType::Float32, {1, 3, 5, 5}), TensorType(DType::Float32, {2, 2, 3, 3})}, {}),
      Catch::Contains("X has 3 channels but W of shape 2x2x3x3 with group 1 expects 2"));
  CHECK_THAT(inferError("Conv", {TensorType(DType::Float32, {1, 4, 5, 5}), TensorType(DType::Float32, {3, 2, 3, 3})},
                        {{"group", int64_t{2}}}),
             Catch::Contains("not divisible by group 2"));
  CHECK_THAT(
      inferError("Conv", {TensorType(DType::Float32, {1, 1, 2, 2}), TensorType(DType::Float32, {1, 1, 3, 3})}, {}),
      Catch::Contains("does not fit spatial dimension 0 of size 2"));
  CHECK_THAT(inferError("Conv", {TensorType(DType::Float32, {1, 1, 5, 5}), TensorType(DType::Float32, {1, 1, 3, 3})},
                        {{"strides", std::vector<int64_t>{1}}}),
             Catch::Contains("strides [1] has 1 values, expected 2"));
}

TEST_CASE("ConvTranspose with groups, stride, pads, dilation and output_padding matches the naive loop",
          "[ops][linalg]") {
  // out = 2 * (4 - 1) + 1 + (3 - 1) * 2 + 1 - 1 - 1 = 10 rows; 2 * (3 - 1) + 1 + 5 - 2 = 8 columns.
  NaiveConv g{2, 4, 6, 2, {1, 4, 3}, {1, 3, 3}, {1, 2, 2}, {0, 1, 1}, {1, 2, 2}, {1, 10, 8}};
  Tensor x = test::randomFloats({2, 4, 4, 3}, 61);
  Tensor w = test::randomFloats({4, 3, 3, 3}, 62);
  Tensor bias = test::randomFloats({6}, 63);
  AttributeMap attrs{{"strides", std::vector<int64_t>{2, 2}},
                     {"pads", std::vector<int64_t>{1, 1, 1, 1}},
                     {"dilations", std::vector<int64_t>{2, 2}},
                     {"output_padding", std::vector<int64_t>{1, 1}},
                     {"group", int64_t{2}}};
  checkValues<float>(runOp("ConvTranspose", {x, w, bias}, attrs)[0], {2, 6, 10, 8},
                     naiveConvTranspose(g, x.data<float>(), w.data<float>(), bias.data<float>()));
}

TEST_CASE("ConvTranspose output_shape pads at the end", "[ops][linalg]") {
  // Full result is 3 + 2 - 1 = 4 wide; output_shape 5 adds a position holding only the bias.
  Tensor x = floats({1, 1, 3}, {1, 2, 3});
  Tensor w = floats({1, 1, 2}, {1, 10});
  Tensor bias = floats({1}, {0.5f});
  checkValues<float>(runOp("ConvTranspose", {x, w, bias}, {{"output_shape", std::vector<int64_t>{5}}})[0], {1, 1, 5},
                     {1.5f, 12.5f, 23.5f, 30.5f, 0.5f});
}

// ---- Pooling -----------------------------------------------------------------------------------------------

TEST_CASE("MaxPool with ceil_mode keeps the partial last window", "[ops][linalg]") {
  std::vector<float> values(16);
  for (size_t i = 0; i < values.size(); ++i) values[i] = static_cast<float>(i + 1);
  Tensor x = floats({1, 1, 4, 4}, values);
  AttributeMap attrs{{"kernel_shape", std::vector<int64_t>{3, 3}}, {"strides", std::vector<int64_t>{2, 2}}};
  checkValues<float>(runOp("MaxPool", {x}, attrs)[0], {1, 1, 1, 1}, {11});
  attrs["ceil_mode"] = int64_t{1};
  std::vector<Tensor> out = runOp("MaxPool", {x}, attrs, 2);
  checkValues<float>(out[0], {1, 1, 2, 2}, {11, 12, 15, 16});
  checkValues<int64_t>(out[1], {1, 1, 2, 2}, {10, 11, 14, 15});
  attrs["storage_order"] = int64_t{1};
  checkValues<int64_t>(runOp("MaxPool", {x}, attrs, 2)[1], {1, 1, 2, 2}, {10, 14, 11, 15});
}

TEST_CASE("MaxPool indices count the batch and channel planes", "[ops][linalg]") {
  Tensor x = floats({2, 1, 1, 3}, {3, 1, 2, /**/ 0, 5, 4});
  std::vector<Tensor> out = runOp("MaxPool", {x}, {{"kernel_shape", std::vector<int64_t>{1, 2}}}, 2);
  checkValues<float>(out[0], {2, 1, 1, 2}, {3, 2, 5, 5});
  checkValues<int64_t>(out[1], {2, 1, 1, 2}, {0, 2, 4, 4});
}

TEST_CASE("AveragePool counts pads only with count_include_pad", "[ops][linalg]") {
  Tensor x = floats({1, 1, 2, 2}, {1, 2, 3, 4});
  AttributeMap attrs{{"kernel_shape", std::vector<int64_t>{2, 2}}, {"pads", std::vector<int64_t>{1, 1, 0, 0}}};
  // Windows at (-1,-1), (-1,0), (0,-1), (0,0).
  checkValues<float>(runOp("AveragePool", {x}, attrs)[0], {1, 1, 2, 2}, {1, 1.5f, 2, 2.5f});
  attrs["count_include_pad"] = int64_t{1};
  checkValues<float>(runOp("AveragePool", {x}, attrs)[0], {1, 1, 2, 2}, {0.25f, 0.75f, 1, 2.5f});
}

TEST_CASE("Global pools and LpPool", "[ops][linalg]") {
  Tensor x = floats({1, 2, 2, 2}, {1, 2, 3, 4, -1, -2, -3, -6});
  checkValues<float>(runOp("GlobalAveragePool", {x}, {})[0], {1, 2, 1, 1}, {2.5f, -3});
  checkValues<float>(runOp("GlobalMaxPool", {x}, {})[0], {1, 2, 1, 1}, {4, -1});
  checkValues<float>(runOp("GlobalLpPool", {x}, {{"p", int64_t{1}}})[0], {1, 2, 1, 1}, {10, 12});
  Tensor row = floats({1, 1, 4}, {3, 4, 0, -5});
  checkValues<float>(
      runOp("LpPool", {row}, {{"kernel_shape", std::vector<int64_t>{2}}, {"strides", std::vector<int64_t>{2}}})[0],
      {1, 1, 2}, {5, 5});
}

TEST_CASE("pools reject a missing kernel_shape", "[ops][linalg]") {
  CHECK_THAT(inferError("MaxPool", {TensorType(DType::Float32, {1, 1, 4, 4})}, {}),
             Catch::Contains("attribute 'kernel_shape' is missing"));
  CHECK_THAT(
      inferError("AveragePool", {TensorType(DType::Float32, {1, 4})}, {{"kernel_shape", std::vector<int64_t>{2}}}),
      Catch::Contains("must have rank 3 to 5"));
}

TEST_CASE("Conv 1x64x56x56 3x3 runs fast", "[.][perf][linalg]") {
  Tensor x = test::randomFloats({1, 64, 56, 56}, 71);
  Tensor w = test::randomFloats({64, 64, 3, 3}, 72);
  auto start = std::chrono::steady_clock::now();
  Tensor y = runOp("Conv", {x, w}, {{"pads", std::vector<int64_t>{1, 1, 1, 1}}})[0];
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  WARN("Conv 1x64x56x56 3x3 -> 64 channels: " << seconds << " s");
  CHECK(y.shape() == Shape{1, 64, 56, 56});
  CHECK(seconds < 1.0);
}
