// Linear algebra ops: MatMul (numpy semantics), Gemm and Einsum, plus the blocked GEMM loop they share with
// Conv and ConvTranspose (conv.cpp).
//
// GEMM: the classic i-k-j loop order (each C row accumulates scaled B rows, so the innermost loop is
// contiguous and vectorizes), blocked over n and k so that a block of B stays in cache while all rows of A
// pass over it. O(m n k); the summation order of each C element is k = 0, 1, ... whatever the blocking.
// Einsum: the equation becomes one loop nest over output labels then summed labels; every input reads with
// per-label strides (a label repeated within one input sums its strides, which walks the diagonal).
// O(product of all label sizes x inputs).
#include <algorithm>
#include <map>

#include "core/ops/linalg_internal.h"
#include "core/ops/op_helpers.h"

namespace fluidml::ops {

namespace {

/// c[0..n) += a * b[0..n). Fixed-width chunks let GCC vectorize at -O2 (whose cost model refuses loops
/// that need a scalar epilogue) and __restrict spares it the alias checks.
template <typename T>
inline void axpyRow(T *__restrict c, const T *__restrict b, T a, int64_t n) {
  constexpr int64_t kChunk = 16;
  int64_t j = 0;
  for (; j + kChunk <= n; j += kChunk)
    for (int64_t u = 0; u < kChunk; ++u) c[j + u] += a * b[j + u];
  for (; j < n; ++j) c[j] += a * b[j];
}

}  // namespace

template <typename T>
void gemmAccumulate(int64_t m, int64_t n, int64_t k, const T *a, int64_t lda, const T *b, int64_t ldb, T *c,
                    int64_t ldc) {
  // A kBlockK x kBlockN block of B is 256 KiB of floats: it stays in L2 while every row of A uses it.
  constexpr int64_t kBlockN = 512;
  constexpr int64_t kBlockK = 128;
  for (int64_t j0 = 0; j0 < n; j0 += kBlockN) {
    const int64_t nb = std::min(kBlockN, n - j0);
    for (int64_t p0 = 0; p0 < k; p0 += kBlockK) {
      const int64_t kb = std::min(kBlockK, k - p0);
      for (int64_t i = 0; i < m; ++i) {
        T *cRow = c + i * ldc + j0;
        const T *aRow = a + i * lda + p0;
        const T *bBlock = b + p0 * ldb + j0;
        for (int64_t p = 0; p < kb; ++p) axpyRow(cRow, bBlock + p * ldb, aRow[p], nb);
      }
    }
  }
}

template void gemmAccumulate<float>(int64_t, int64_t, int64_t, const float *, int64_t, const float *, int64_t, float *,
                                    int64_t);
template void gemmAccumulate<double>(int64_t, int64_t, int64_t, const double *, int64_t, const double *, int64_t,
                                     double *, int64_t);
template void gemmAccumulate<int32_t>(int64_t, int64_t, int64_t, const int32_t *, int64_t, const int32_t *, int64_t,
                                      int32_t *, int64_t);
template void gemmAccumulate<int64_t>(int64_t, int64_t, int64_t, const int64_t *, int64_t, const int64_t *, int64_t,
                                      int64_t *, int64_t);

namespace {

bool isGemmDType(ir::DType dtype) {
  return dtype == ir::DType::Float32 || dtype == ir::DType::Float64 || dtype == ir::DType::Int32 ||
         dtype == ir::DType::Int64;
}

/// Calls fn(T{}) for the dtypes the GEMM loop is instantiated for.
template <typename Fn>
Status visitGemmDType(ir::DType dtype, Fn &&fn) {
  switch (dtype) {
    case ir::DType::Float32: return fn(float{});
    case ir::DType::Float64: return fn(double{});
    case ir::DType::Int32: return fn(int32_t{});
    case ir::DType::Int64: return fn(int64_t{});
    default: break;
  }
  return Status::error("unsupported dtype " + std::string(ir::dtypeName(dtype)));
}

Status checkInputCount(size_t count, size_t min, size_t max, const std::string &opType) {
  if (count < min || count > max)
    return Status::error(opType + " takes " +
                         (min == max ? std::to_string(min) : std::to_string(min) + " to " + std::to_string(max)) +
                         " inputs, got " + std::to_string(count));
  return Status::ok();
}

// ---- MatMul ------------------------------------------------------------------------------------------------

/// MatMul operands seen as stacks of matrices: [batch..., m, k] x [batch..., k, n].
struct MatMulDims {
  ir::Shape aBatch, bBatch, batch;  // batch = broadcast of aBatch and bBatch
  int64_t m = 1, k = 1, n = 1;
  ir::Shape outShape;
};

Expected<MatMulDims> matMulDims(const ir::Shape &a, const ir::Shape &b) {
  if (a.empty() || b.empty()) return Status::error("MatMul operands must have rank >= 1, got a scalar");
  MatMulDims d;
  const bool aVector = a.size() == 1;
  const bool bVector = b.size() == 1;
  // numpy: a 1-D left operand is a row [1, k], a 1-D right operand a column [k, 1]; the added dim is
  // removed from the result.
  d.m = aVector ? 1 : a[a.size() - 2];
  const int64_t ka = a.back();
  const int64_t kb = bVector ? b[0] : b[b.size() - 2];
  d.n = bVector ? 1 : b.back();
  if (ka != kb)
    return Status::error("inner dimensions " + std::to_string(ka) + " and " + std::to_string(kb) +
                         " do not match (shapes " + ir::shapeToString(a) + " and " + ir::shapeToString(b) + ")");
  d.k = ka;
  d.aBatch.assign(a.begin(), a.end() - (aVector ? 1 : 2));
  d.bBatch.assign(b.begin(), b.end() - (bVector ? 1 : 2));
  auto batch = broadcastShapes(d.aBatch, d.bBatch);
  if (!batch)
    return Status::error("batch dimensions " + ir::shapeToString(d.aBatch) + " and " + ir::shapeToString(d.bBatch) +
                         " cannot be broadcast");
  d.batch = *batch;
  d.outShape = d.batch;
  if (!aVector) d.outShape.push_back(d.m);
  if (!bVector) d.outShape.push_back(d.n);
  return d;
}

Status inferMatMul(InferContext &c) {
  FLUIDML_RETURN_IF_ERROR(checkInputCount(c.inputCount(), 2, 2, "MatMul"));
  const ir::TensorType &a = c.inputType(0);
  const ir::TensorType &b = c.inputType(1);
  if (a.dtype != b.dtype)
    return Status::error("operand dtypes differ: " + std::string(ir::dtypeName(a.dtype)) + " and " +
                         std::string(ir::dtypeName(b.dtype)));
  if (!isGemmDType(a.dtype))
    return Status::error("MatMul does not support dtype " + std::string(ir::dtypeName(a.dtype)));
  FLUIDML_ASSIGN_OR_RETURN(MatMulDims d, matMulDims(a.shape, b.shape));
  c.setOutput(0, ir::TensorType(a.dtype, d.outShape));
  return Status::ok();
}

Status matMulKernel(KernelContext &c) {
  const ir::Tensor &a = c.input(0);
  const ir::Tensor &b = c.input(1);
  ir::Tensor &out = c.output(0);
  FLUIDML_ASSIGN_OR_RETURN(MatMulDims d, matMulDims(a.shape(), b.shape()));
  return visitGemmDType(out.dtype(), [&](auto tag) -> Status {
    using T = decltype(tag);
    std::fill(out.span<T>().begin(), out.span<T>().end(), T{0});
    if (out.numel() == 0 || d.k == 0) return Status::ok();
    const T *aData = a.data<T>();
    const T *bData = b.data<T>();
    T *outData = out.data<T>();
    const int64_t batchCount = ir::shapeNumel(d.batch);
    // A shared right operand (x @ W, the common case) makes one tall GEMM over all stacked left matrices.
    if (ir::shapeNumel(d.bBatch) == 1 && ir::shapeNumel(d.aBatch) == batchCount) {
      gemmAccumulate<T>(batchCount * d.m, d.n, d.k, aData, d.k, bData, d.n, outData, d.n);
      return Status::ok();
    }
    // Strides in units of whole matrices; broadcast batch dims read the same matrix again.
    std::vector<int64_t> aStrides = broadcastStrides(d.aBatch, d.batch);
    std::vector<int64_t> bStrides = broadcastStrides(d.bBatch, d.batch);
    int64_t batchIndex = 0;
    for (StridedIterator it(d.batch, {aStrides, bStrides}); !it.done(); it.next(), ++batchIndex)
      gemmAccumulate<T>(d.m, d.n, d.k, aData + it.offset(0) * d.m * d.k, d.k, bData + it.offset(1) * d.k * d.n, d.n,
                        outData + batchIndex * d.m * d.n, d.n);
    return Status::ok();
  });
}

// ---- Gemm --------------------------------------------------------------------------------------------------

struct GemmDims {
  int64_t m = 0, k = 0, n = 0;
};

Expected<GemmDims> gemmDims(const ir::Node &node, const ir::Shape &a, const ir::Shape &b) {
  if (a.size() != 2 || b.size() != 2)
    return Status::error("Gemm operands must be matrices, got shapes " + ir::shapeToString(a) + " and " +
                         ir::shapeToString(b));
  const bool transA = node.intAttr("transA", 0) != 0;
  const bool transB = node.intAttr("transB", 0) != 0;
  GemmDims d;
  d.m = transA ? a[1] : a[0];
  d.k = transA ? a[0] : a[1];
  const int64_t kb = transB ? b[1] : b[0];
  d.n = transB ? b[0] : b[1];
  if (d.k != kb)
    return Status::error("inner dimensions " + std::to_string(d.k) + " and " + std::to_string(kb) +
                         " do not match (shapes " + ir::shapeToString(a) + (transA ? " transposed" : "") + " and " +
                         ir::shapeToString(b) + (transB ? " transposed" : "") + ")");
  return d;
}

Status inferGemm(InferContext &c) {
  FLUIDML_RETURN_IF_ERROR(checkInputCount(c.inputCount(), 2, 3, "Gemm"));
  const ir::TensorType &a = c.inputType(0);
  const ir::TensorType &b = c.inputType(1);
  if (!isGemmDType(a.dtype)) return Status::error("Gemm does not support dtype " + std::string(ir::dtypeName(a.dtype)));
  if (b.dtype != a.dtype)
    return Status::error("operand dtypes differ: " + std::string(ir::dtypeName(a.dtype)) + " and " +
                         std::string(ir::dtypeName(b.dtype)));
  FLUIDML_ASSIGN_OR_RETURN(GemmDims d, gemmDims(c.node(), a.shape, b.shape));
  if (c.hasInput(2)) {
    const ir::TensorType &bias = c.inputType(2);
    if (bias.dtype != a.dtype)
      return Status::error("C has dtype " + std::string(ir::dtypeName(bias.dtype)) + ", expected " +
                           std::string(ir::dtypeName(a.dtype)));
    // C broadcasts one way only: to the [m, n] result.
    const ir::Shape result{d.m, d.n};
    bool ok = bias.rank() <= 2;
    for (size_t i = 0; ok && i < bias.rank(); ++i) {
      const int64_t dim = bias.shape[bias.rank() - 1 - i];
      ok = dim == 1 || dim == result[1 - i];
    }
    if (!ok)
      return Status::error("C of shape " + ir::shapeToString(bias.shape) + " cannot be broadcast to the result " +
                           ir::shapeToString(result));
  }
  c.setOutput(0, ir::TensorType(a.dtype, {d.m, d.n}));
  return Status::ok();
}

Status gemmKernel(KernelContext &c) {
  const ir::Tensor &a = c.input(0);
  const ir::Tensor &b = c.input(1);
  ir::Tensor &out = c.output(0);
  FLUIDML_ASSIGN_OR_RETURN(GemmDims d, gemmDims(c.node, a.shape(), b.shape()));
  const bool transA = c.node.intAttr("transA", 0) != 0;
  const bool transB = c.node.intAttr("transB", 0) != 0;
  const float alpha = c.node.floatAttr("alpha", 1.0f);
  const float beta = c.node.floatAttr("beta", 1.0f);
  return visitGemmDType(out.dtype(), [&](auto tag) -> Status {
    using T = decltype(tag);
    T *outData = out.data<T>();
    if (c.hasInput(2)) {
      const ir::Tensor &bias = c.input(2);
      const T *biasData = bias.data<T>();
      // Strides of C read as [m, n]; 0 along broadcast dims.
      std::vector<int64_t> strides = broadcastStrides(bias.shape(), {d.m, d.n});
      for (int64_t i = 0; i < d.m; ++i)
        for (int64_t j = 0; j < d.n; ++j) {
          const T value = biasData[i * strides[0] + j * strides[1]];
          outData[i * d.n + j] = beta == 1.0f ? value : static_cast<T>(beta * value);
        }
    } else {
      std::fill(outData, outData + d.m * d.n, T{0});
    }
    // Bring both operands to plain row-major [m, k] and [k, n] (alpha folded into A) so the GEMM inner
    // loop stays contiguous; the copies are O(mk + kn) next to the O(mkn) product.
    const T *aData = a.data<T>();
    std::vector<T> aCopy;
    if (transA || alpha != 1.0f) {
      aCopy.resize(static_cast<size_t>(d.m * d.k));
      for (int64_t i = 0; i < d.m; ++i)
        for (int64_t p = 0; p < d.k; ++p) {
          const T value = transA ? aData[p * d.m + i] : aData[i * d.k + p];
          aCopy[static_cast<size_t>(i * d.k + p)] = alpha == 1.0f ? value : static_cast<T>(alpha * value);
        }
      aData = aCopy.data();
    }
    const T *bData = b.data<T>();
    std::vector<T> bCopy;
    if (transB) {
      bCopy.resize(static_cast<size_t>(d.k * d.n));
      for (int64_t p = 0; p < d.k; ++p)
        for (int64_t j = 0; j < d.n; ++j) bCopy[static_cast<size_t>(p * d.n + j)] = bData[j * d.k + p];
      bData = bCopy.data();
    }
    gemmAccumulate<T>(d.m, d.n, d.k, aData, d.k, bData, d.n, outData, d.n);
    return Status::ok();
  });
}

// ---- Einsum ------------------------------------------------------------------------------------------------

/// One term of an equation: its letters, and where "..." sits among them (-1: none).
struct EinsumTerm {
  std::string letters;
  int ellipsisAt = -1;
};

/// The loop nest an equation becomes: output labels first, then summed labels.
struct EinsumPlan {
  ir::Shape outputShape;
  std::vector<int64_t> loopShape;
  std::vector<std::vector<int64_t>> inputStrides;  // per input, per loop dim
  std::vector<int64_t> outputStrides;              // per loop dim; 0 for summed labels
};

Expected<EinsumTerm> parseEinsumTerm(const std::string &text) {
  EinsumTerm term;
  for (size_t i = 0; i < text.size(); ++i) {
    const char ch = text[i];
    if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z')) {
      term.letters.push_back(ch);
    } else if (ch == '.') {
      if (text.compare(i, 3, "...") != 0) return Status::error("a '.' outside an ellipsis in term '" + text + "'");
      if (term.ellipsisAt >= 0) return Status::error("more than one ellipsis in term '" + text + "'");
      term.ellipsisAt = static_cast<int>(term.letters.size());
      i += 2;
    } else {
      return Status::error(std::string("invalid character '") + ch + "' in term '" + text + "'");
    }
  }
  return term;
}

Expected<EinsumPlan> planEinsum(const std::string &rawEquation, const std::vector<ir::Shape> &shapes) {
  std::string equation;
  for (char ch : rawEquation)
    if (ch != ' ' && ch != '\t') equation.push_back(ch);
  const size_t arrow = equation.find("->");
  const bool explicitOutput = arrow != std::string::npos;
  const std::string lhs = explicitOutput ? equation.substr(0, arrow) : equation;
  const std::string rhs = explicitOutput ? equation.substr(arrow + 2) : std::string();
  if (rhs.find("->") != std::string::npos) return Status::error("equation '" + rawEquation + "' has two '->'");

  std::vector<EinsumTerm> terms;
  size_t start = 0;
  while (true) {
    const size_t comma = lhs.find(',', start);
    FLUIDML_ASSIGN_OR_RETURN(EinsumTerm term, parseEinsumTerm(lhs.substr(start, comma - start)));
    terms.push_back(std::move(term));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  if (terms.size() != shapes.size())
    return Status::error("equation '" + rawEquation + "' has " + std::to_string(terms.size()) + " input terms for " +
                         std::to_string(shapes.size()) + " inputs");

  // Labels are ints: a letter is its char code, the e-th of the broadcast ellipsis dims is 256 + e.
  constexpr int kEllipsisLabel = 256;
  size_t ellipsisRank = 0;
  for (size_t i = 0; i < terms.size(); ++i) {
    const size_t rank = shapes[i].size();
    const size_t letters = terms[i].letters.size();
    if (terms[i].ellipsisAt < 0 ? rank != letters : rank < letters)
      return Status::error("term '" + terms[i].letters + "' of input " + std::to_string(i) + " does not fit its rank " +
                           std::to_string(rank));
    if (terms[i].ellipsisAt >= 0) ellipsisRank = std::max(ellipsisRank, rank - letters);
  }

  std::map<int, int64_t> sizes;
  std::map<int, int> letterCounts;
  std::vector<int> firstSeen;  // labels in order of first appearance
  std::vector<std::vector<int>> dimLabels(terms.size());
  for (size_t i = 0; i < terms.size(); ++i) {
    const EinsumTerm &term = terms[i];
    const size_t ellipsisDims = shapes[i].size() - term.letters.size();
    for (size_t pos = 0, dim = 0; pos <= term.letters.size(); ++pos) {
      if (static_cast<int>(pos) == term.ellipsisAt)
        for (size_t e = 0; e < ellipsisDims; ++e, ++dim)
          dimLabels[i].push_back(kEllipsisLabel + static_cast<int>(ellipsisRank - ellipsisDims + e));
      if (pos == term.letters.size()) break;
      dimLabels[i].push_back(term.letters[pos]);
      ++letterCounts[term.letters[pos]];
      ++dim;
    }
    for (size_t dim = 0; dim < dimLabels[i].size(); ++dim) {
      const int label = dimLabels[i][dim];
      const int64_t size = shapes[i][dim];
      auto found = sizes.find(label);
      if (found == sizes.end()) {
        sizes[label] = size;
        firstSeen.push_back(label);
      } else if (found->second != size) {
        // As in numpy, a dim of size 1 broadcasts against the other occurrences of its label.
        if (found->second == 1 || size == 1)
          found->second = std::max(found->second, size);
        else if (label >= kEllipsisLabel)
          return Status::error("ellipsis dimensions " + std::to_string(found->second) + " and " + std::to_string(size) +
                               " cannot be broadcast");
        else
          return Status::error(std::string("label '") + static_cast<char>(label) + "' has sizes " +
                               std::to_string(found->second) + " and " + std::to_string(size));
      }
    }
  }

  std::vector<int> outputLabels;
  if (explicitOutput) {
    FLUIDML_ASSIGN_OR_RETURN(EinsumTerm out, parseEinsumTerm(rhs));
    for (size_t pos = 0; pos <= out.letters.size(); ++pos) {
      if (static_cast<int>(pos) == out.ellipsisAt)
        for (size_t e = 0; e < ellipsisRank; ++e) outputLabels.push_back(kEllipsisLabel + static_cast<int>(e));
      if (pos == out.letters.size()) break;
      const char letter = out.letters[pos];
      if (!letterCounts.count(letter))
        return Status::error(std::string("output label '") + letter + "' does not appear in any input");
      if (std::count(out.letters.begin(), out.letters.end(), letter) > 1)
        return Status::error(std::string("output label '") + letter + "' is repeated");
      outputLabels.push_back(letter);
    }
    if (out.ellipsisAt < 0 && ellipsisRank > 0)
      return Status::error("the inputs have " + std::to_string(ellipsisRank) +
                           " ellipsis dims but the output term has no '...'");
  } else {
    // numpy's implicit output: the broadcast ellipsis dims, then the letters used once, in alphabetical order.
    for (size_t e = 0; e < ellipsisRank; ++e) outputLabels.push_back(kEllipsisLabel + static_cast<int>(e));
    for (const auto &[letter, count] : letterCounts)
      if (count == 1) outputLabels.push_back(letter);
  }

  EinsumPlan plan;
  std::vector<int> loopLabels = outputLabels;
  for (int label : firstSeen)
    if (std::find(outputLabels.begin(), outputLabels.end(), label) == outputLabels.end()) loopLabels.push_back(label);
  for (int label : outputLabels) plan.outputShape.push_back(sizes[label]);
  for (int label : loopLabels) plan.loopShape.push_back(sizes[label]);

  const std::vector<int64_t> outStrides = ir::rowMajorStrides(plan.outputShape);
  plan.outputStrides.assign(loopLabels.size(), 0);
  for (size_t l = 0; l < outputLabels.size(); ++l) plan.outputStrides[l] = outStrides[l];
  for (size_t i = 0; i < shapes.size(); ++i) {
    const std::vector<int64_t> strides = ir::rowMajorStrides(shapes[i]);
    std::vector<int64_t> loopStrides(loopLabels.size(), 0);
    for (size_t dim = 0; dim < dimLabels[i].size(); ++dim) {
      if (shapes[i][dim] == 1) continue;  // broadcast (or trivially size-1) dims read the same element
      const size_t l =
          static_cast<size_t>(std::find(loopLabels.begin(), loopLabels.end(), dimLabels[i][dim]) - loopLabels.begin());
      loopStrides[l] += strides[dim];  // a repeated label walks the diagonal
    }
    plan.inputStrides.push_back(std::move(loopStrides));
  }
  return plan;
}

std::vector<ir::Shape> inputShapes(const InferContext &c) {
  std::vector<ir::Shape> shapes;
  for (size_t i = 0; i < c.inputCount(); ++i) shapes.push_back(c.inputType(i).shape);
  return shapes;
}

Status inferEinsum(InferContext &c) {
  if (c.inputCount() == 0) return Status::error("Einsum needs at least one input");
  const ir::DType dtype = c.inputType(0).dtype;
  if (!isGemmDType(dtype)) return Status::error("Einsum does not support dtype " + std::string(ir::dtypeName(dtype)));
  for (size_t i = 0; i < c.inputCount(); ++i) {
    if (!c.hasInput(i)) return Status::error("input " + std::to_string(i) + " is missing");
    if (c.inputType(i).dtype != dtype)
      return Status::error("input " + std::to_string(i) + " has dtype " +
                           std::string(ir::dtypeName(c.inputType(i).dtype)) + ", expected " +
                           std::string(ir::dtypeName(dtype)));
  }
  const std::string equation = c.node().stringAttr("equation", "");
  if (equation.empty()) return Status::error("attribute 'equation' is missing");
  FLUIDML_ASSIGN_OR_RETURN(EinsumPlan plan, planEinsum(equation, inputShapes(c)));
  c.setOutput(0, ir::TensorType(dtype, plan.outputShape));
  return Status::ok();
}

Status einsumKernel(KernelContext &c) {
  std::vector<ir::Shape> shapes;
  for (const ir::Tensor *input : c.inputs) shapes.push_back(input->shape());
  FLUIDML_ASSIGN_OR_RETURN(EinsumPlan plan, planEinsum(c.node.stringAttr("equation", ""), shapes));
  ir::Tensor &out = c.output(0);
  return visitGemmDType(out.dtype(), [&](auto tag) -> Status {
    using T = decltype(tag);
    T *outData = out.data<T>();
    std::fill(outData, outData + out.numel(), T{0});
    std::vector<const T *> inData;
    for (const ir::Tensor *input : c.inputs) inData.push_back(input->data<T>());
    const size_t inputs = inData.size();
    if (plan.loopShape.empty()) {  // all operands are scalars
      T product = T{1};
      for (size_t i = 0; i < inputs; ++i) product *= inData[i][0];
      outData[0] = product;
      return Status::ok();
    }
    // The iterator walks all loop dims but the last; an explicit strided loop runs the last one.
    const size_t last = plan.loopShape.size() - 1;
    const int64_t innerCount = plan.loopShape[last];
    std::vector<int64_t> innerStrides(inputs);
    for (size_t i = 0; i < inputs; ++i) innerStrides[i] = plan.inputStrides[i][last];
    const int64_t outInnerStride = plan.outputStrides[last];
    ir::Shape outerShape(plan.loopShape.begin(), plan.loopShape.end() - 1);
    std::vector<std::vector<int64_t>> outerStrides;
    for (size_t i = 0; i < inputs; ++i)
      outerStrides.emplace_back(plan.inputStrides[i].begin(), plan.inputStrides[i].end() - 1);
    outerStrides.emplace_back(plan.outputStrides.begin(), plan.outputStrides.end() - 1);
    std::vector<const T *> rows(inputs);
    for (StridedIterator it(outerShape, outerStrides); !it.done(); it.next()) {
      for (size_t i = 0; i < inputs; ++i) rows[i] = inData[i] + it.offset(i);
      T *outRow = outData + it.offset(inputs);
      for (int64_t j = 0; j < innerCount; ++j) {
        T product = rows[0][j * innerStrides[0]];
        for (size_t i = 1; i < inputs; ++i) product *= rows[i][j * innerStrides[i]];
        outRow[j * outInnerStride] += product;
      }
    }
    return Status::ok();
  });
}

}  // namespace

void registerLinalgOps(OpRegistry &registry) {
  registry.add(OpSchema{"MatMul", "", 1, inferMatMul, matMulKernel, {}, "linalg"});
  // Gemm before opset 7 also had a 'broadcast' attribute; valid models of those opsets are a subset of the
  // opset 7+ unidirectional broadcast of C handled here.
  registry.add(OpSchema{"Gemm", "", 1, inferGemm, gemmKernel, {}, "linalg"});
  registry.add(OpSchema{"Einsum", "", 12, inferEinsum, einsumKernel, {}, "linalg"});
  registerConvOps(registry);
  registerPoolOps(registry);
}

}  // namespace fluidml::ops
