// Lowering of MatMul, Gemm and Einsum (and registration of the conv and pooling lowerings).
//
// float32 products run on the packed GEMM of gemm_kernel.h: a constant right operand (the weights of x @ W)
// is packed once into NR-column panels; stacked left matrices that share one right operand become one tall
// GEMM; other batches are work items of the same parallel loop. Einsum equations of the matmul form (every
// label a batch, row, column or summed label of two operands, at most one of each but batch) become batched
// GEMMs that read the operands with their own strides; any other equation, and every other dtype, runs a plain
// loop nest with the reference kernels' summation order. Cost O(batch m n k) / O(product of label sizes).
#include <algorithm>
#include <map>
#include <set>

#include "core/codegen/gemm_kernel.h"
#include "core/codegen/lower_linalg_internal.h"

namespace fluidml::codegen {

namespace linalg {

std::vector<int64_t> broadcastStrides(const ir::Shape &in, const ir::Shape &out) {
  std::vector<int64_t> strides(out.size(), 0);
  const std::vector<int64_t> own = ir::rowMajorStrides(in);
  const size_t shift = out.size() - in.size();
  for (size_t i = 0; i < in.size(); ++i)
    if (in[i] != 1) strides[shift + i] = own[i];
  return strides;
}

std::vector<int64_t> scaledStrides(std::vector<int64_t> strides, int64_t factor) {
  for (int64_t &s : strides) s *= factor;
  return strides;
}

llvm::Value *add(KernelBuilder &b, ir::DType dtype, llvm::Value *x, llvm::Value *y) {
  return ir::isFloating(dtype) ? b.ir().CreateFAdd(x, y) : b.ir().CreateAdd(x, y);
}

llvm::Value *mul(KernelBuilder &b, ir::DType dtype, llvm::Value *x, llvm::Value *y) {
  return ir::isFloating(dtype) ? b.ir().CreateFMul(x, y) : b.ir().CreateMul(x, y);
}

llvm::Value *scale(KernelBuilder &b, ir::DType dtype, float factor, llvm::Value *value) {
  if (dtype == ir::DType::Float64) return b.ir().CreateFMul(b.constant(dtype, factor), value);
  if (dtype == ir::DType::Float32) return b.ir().CreateFMul(b.constant(dtype, factor), value);
  llvm::Value *asFloat = b.convert(value, dtype, ir::DType::Float32);
  return b.convert(b.ir().CreateFMul(b.constant(ir::DType::Float32, factor), asFloat), ir::DType::Float32, dtype);
}

void fuseSteps(KernelContext &c, gemm::GemmSpec &g,
               const std::function<gemm::EpilogueOperand(ops::OperandBroadcast)> &layout) {
  if (c.epilogue == nullptr || g.k == 0) return;
  g.epilogue.steps = c.epilogue->steps;
  for (size_t step = 0; step < c.epilogue->steps.size(); ++step) {
    gemm::EpilogueOperand o;
    if (c.epilogue->operands[step] != nullptr) {
      o = layout(c.epilogue->steps[step].broadcast);
      o.base = c.epilogue->operands[step];
    }
    g.epilogue.operands.push_back(o);
  }
  c.epilogueApplied = true;
}

std::string constantKey(const KernelContext &c, size_t input) { return "v" + std::to_string(c.node.inputs[input]); }

}  // namespace linalg

namespace {

using gemm::GemmSpec;
using gemm::OperandA;
using gemm::OperandB;

int64_t numel(const ir::Shape &shape) { return ir::shapeNumel(shape); }

/// Fill of a scratch B panel from any strided B: element (p, j) at base[p * kStride + j * nStride].
gemm::FillPanelFn stridedFill(int64_t n, int64_t kStride, int64_t nStride) {
  return [=](KernelBuilder &b, llvm::Value *scratch, llvm::Value *base, llvm::Value *j0, llvm::Value *k0,
             llvm::Value *kc, const std::vector<llvm::Value *> &) {
    llvm::IRBuilder<> &ir = b.ir();
    llvm::Value *columns = gemm::minI64(b, b.i64(gemm::tileColumns(b)), ir.CreateSub(b.i64(n), j0));
    auto copy = [&](llvm::Value *p, llvm::Value *j) {
      llvm::Value *from = ir.CreateAdd(ir.CreateMul(ir.CreateAdd(k0, p), b.i64(kStride)),
                                       ir.CreateMul(ir.CreateAdd(j0, j), b.i64(nStride)));
      llvm::Value *to = ir.CreateAdd(ir.CreateMul(p, b.i64(gemm::tileColumns(b))), j);
      b.store(ir::DType::Float32, b.load(ir::DType::Float32, base, from), scratch, to);
    };
    if (kStride == 1)
      b.loop(b.i64(0), columns, 1, [&](llvm::Value *j) { b.loop(b.i64(0), kc, 1, [&](llvm::Value *p) { copy(p, j); }, "p"); }, "j");
    else
      b.loop(b.i64(0), kc, 1, [&](llvm::Value *p) { b.loop(b.i64(0), columns, 1, [&](llvm::Value *j) { copy(p, j); }, "j"); }, "p");
  };
}

/// The B operand of a product whose B(p, j) is at base[p * kStride + j * nStride] (+ batch strides).
OperandB stridedB(KernelContext &c, size_t input, llvm::Value *base, int64_t count, int64_t k, int64_t n,
                  int64_t kStride, int64_t nStride, int64_t batchStride, std::vector<int64_t> *batchStrides) {
  OperandB operand;
  if (const ir::Tensor *constant = c.constantInput(input); constant != nullptr && base == c.inputs[input]) {
    operand.kind = OperandB::Kind::Panels;
    operand.base = gemm::packConstantB(c.b, linalg::constantKey(c, input), *constant, count, k, n, kStride, nStride,
                                       batchStride);
    // The batch strides counted matrices of the source; the panels of one matrix are packedSizeB apart.
    if (batchStrides != nullptr)
      for (int64_t &s : *batchStrides) s = batchStride == 0 ? 0 : s / batchStride * gemm::packedSizeB(c.b, k, n);
    return operand;
  }
  operand.base = base;
  if (nStride == 1 || n == 1) {
    operand.kind = OperandB::Kind::Rows;
    operand.kStride = kStride;
  } else {
    operand.kind = OperandB::Kind::Fill;
    operand.fill = stridedFill(n, kStride, nStride);
  }
  return operand;
}

/// The strategy of a float32 product, named by how the GEMM reads B (KernelContext::strategy).
std::string gemmStrategy(const GemmSpec &s) {
  switch (s.b.kind) {
    case OperandB::Kind::Panels: return "gemm-packed-b";
    case OperandB::Kind::Rows: return "gemm-rows-b";
    case OperandB::Kind::Fill: return "gemm-gathered-b";
  }
  return "gemm";
}

// ---- MatMul -----------------------------------------------------------------------------------------------

struct MatMulDims {
  ir::Shape aBatch, bBatch, batch;
  int64_t m = 1, k = 1, n = 1;
};

MatMulDims matMulDims(const ir::Shape &a, const ir::Shape &b, const ir::Shape &out) {
  MatMulDims d;
  const bool aVector = a.size() == 1, bVector = b.size() == 1;
  d.m = aVector ? 1 : a[a.size() - 2];
  d.k = a.back();
  d.n = bVector ? 1 : b.back();
  d.aBatch.assign(a.begin(), a.end() - (aVector ? 1 : 2));
  d.bBatch.assign(b.begin(), b.end() - (bVector ? 1 : 2));
  d.batch.assign(out.begin(), out.end() - (aVector ? 0 : 1) - (bVector ? 0 : 1));
  return d;
}

/// C[m x n] (+)= A[m x k] B[k x n] over a batch with a plain loop nest (any GEMM dtype).
void emitScalarProduct(KernelBuilder &b, ir::DType dtype, int64_t m, int64_t n, int64_t k, const gemm::Batch &batch,
                       llvm::Value *a, int64_t aRow, int64_t aK, llvm::Value *bp, int64_t bK, int64_t bN,
                       llvm::Value *c, int64_t ldc, float alpha) {
  llvm::IRBuilder<> &ir = b.ir();
  b.loop(batch.count(), [&](llvm::Value *item) {
    llvm::Value *aOff = gemm::batchOffset(b, item, batch.shape, batch.aStrides);
    llvm::Value *bOff = gemm::batchOffset(b, item, batch.shape, batch.bStrides);
    llvm::Value *cOff = gemm::batchOffset(b, item, batch.shape, batch.cStrides);
    b.loop(m, [&](llvm::Value *i) {
      b.loop(k, [&](llvm::Value *p) {
        llvm::Value *av = b.load(dtype, a, ir.CreateAdd(aOff, ir.CreateAdd(ir.CreateMul(i, b.i64(aRow)), ir.CreateMul(p, b.i64(aK)))));
        if (alpha != 1.0f) av = linalg::scale(b, dtype, alpha, av);
        b.loop(n, [&](llvm::Value *j) {
          llvm::Value *bv = b.load(dtype, bp, ir.CreateAdd(bOff, ir.CreateAdd(ir.CreateMul(p, b.i64(bK)), ir.CreateMul(j, b.i64(bN)))));
          llvm::Value *cIndex = ir.CreateAdd(cOff, ir.CreateAdd(ir.CreateMul(i, b.i64(ldc)), j));
          b.store(dtype, linalg::add(b, dtype, b.load(dtype, c, cIndex), linalg::mul(b, dtype, av, bv)), c, cIndex);
        }, "j");
      }, "p");
    }, "i");
  }, "batch");
}

void emitZeroFill(KernelBuilder &b, ir::DType dtype, llvm::Value *out, int64_t count) {
  b.loop(count, [&](llvm::Value *i) { b.store(dtype, b.constant(dtype, 0.0), out, i); }, "z");
}

/// Strides of the operand's batch dims (its leading `operandBatch.size()` dims, numpy-broadcast to `batch`).
std::vector<int64_t> batchStridesOf(const ir::Shape &operandBatch, const std::vector<int64_t> &own,
                                    const ir::Shape &batch) {
  std::vector<int64_t> strides(batch.size(), 0);
  const size_t shift = batch.size() - operandBatch.size();
  for (size_t i = 0; i < operandBatch.size(); ++i)
    if (operandBatch[i] != 1) strides[shift + i] = own[i];
  return strides;
}

/// Operands in any permutation are read through their strides; the output's rows must keep their columns
/// contiguous (C(i, j) at c[i * ldc + j]).
Status checkMatMulOutput(const ir::Graph &graph, const ir::Node &node) {
  const ir::TensorType &b = graph.value(node.inputs[1]).type;
  const ir::TensorType &out = graph.value(node.outputs[0]).type;
  if (b.rank() == 1 || out.layout.isRowMajor()) return Status::ok();
  const std::vector<int64_t> strides = out.layout.logicalStrides(out.shape);
  if (strides.back() == 1 || out.shape.back() == 1) return Status::ok();
  return Status::error("writes " + out.layout.toString(out.rank()) +
                       ": the output's last dim must be innermost (its columns contiguous)");
}

Status emitMatMul(KernelContext &c) {
  const ir::TensorType &aType = c.inputType(0);
  const ir::TensorType &bType = c.inputType(1);
  const ir::TensorType &outType = c.outputType(0);
  if (outType.numel() == 0) return Status::ok();
  const MatMulDims d = matMulDims(aType.shape, bType.shape, outType.shape);
  const ir::DType dtype = outType.dtype;
  // Every operand read through the strides of its layout (row-major unless a layout pass permuted it).
  const std::vector<int64_t> aOwn = aType.layout.logicalStrides(aType.shape);
  const std::vector<int64_t> bOwn = bType.layout.logicalStrides(bType.shape);
  const std::vector<int64_t> cOwn = outType.layout.logicalStrides(outType.shape);
  const bool aVector = aType.rank() == 1, bVector = bType.rank() == 1;
  const int64_t aRow = aVector ? 0 : aOwn[aType.rank() - 2], aK = aOwn.back();
  const int64_t bK = bVector ? bOwn[0] : bOwn[bType.rank() - 2], bN = bVector ? 0 : bOwn.back();
  const int64_t ldc = aVector ? 0 : cOwn[d.batch.size()];
  const bool rowMajor = aType.layout.isRowMajor() && bType.layout.isRowMajor() && outType.layout.isRowMajor();
  gemm::Batch batch;
  const int64_t batchCount = numel(d.batch);
  // Stacked left matrices (one tall product) need A's and C's batches contiguous with their rows.
  const bool sharedB = numel(d.bBatch) == 1 && numel(d.aBatch) == batchCount && rowMajor;
  int64_t m = d.m;
  if (sharedB) {
    m = batchCount * d.m;
  } else {
    batch.shape = d.batch;
    batch.aStrides = batchStridesOf(d.aBatch, aOwn, d.batch);
    batch.bStrides = batchStridesOf(d.bBatch, bOwn, d.batch);
    batch.cStrides = batchStridesOf(d.batch, cOwn, d.batch);
    batch.biasStrides.assign(d.batch.size(), 0);
  }
  if (dtype != ir::DType::Float32) {
    emitZeroFill(c.b, dtype, c.outputs[0], outType.numel());
    emitScalarProduct(c.b, dtype, m, d.n, d.k, batch, c.inputs[0], aRow, aK, c.inputs[1], bK, bN, c.outputs[0],
                      ldc, 1.0f);
    c.strategy = "scalar";
    return Status::ok();
  }
  GemmSpec s;
  s.m = m;
  s.n = d.n;
  s.k = d.k;
  s.a.kind = OperandA::Kind::Strided;
  s.a.base = c.inputs[0];
  s.a.rowStride = sharedB ? d.k : aRow;
  s.a.kStride = aK;
  s.b = stridedB(c, 1, c.inputs[1], std::max<int64_t>(1, numel(d.bBatch)), d.k, d.n, bK, bN, d.k * d.n,
                 sharedB ? nullptr : &batch.bStrides);
  s.batch = batch;
  s.c = c.outputs[0];
  s.ldc = sharedB ? d.n : ldc;
  s.name = "matmul";
  // Fused steps: a Full operand has C's layout, a LastDim one (a bias over columns) is read by column.
  linalg::fuseSteps(c, s, [&](ops::OperandBroadcast broadcast) {
    gemm::EpilogueOperand o;
    const bool full = broadcast == ops::OperandBroadcast::Full;
    o.rowStride = full ? d.n : 0;
    o.colStride = 1;
    if (!sharedB) o.batchStrides = full ? batch.cStrides : std::vector<int64_t>(batch.shape.size(), 0);
    return o;
  });
  c.strategy = gemmStrategy(s);
  gemm::emitGemm(c.b, s);
  return Status::ok();
}

// ---- Gemm -------------------------------------------------------------------------------------------------

Status emitGemmOp(KernelContext &c) {
  const ir::TensorType &aType = c.inputType(0);
  const ir::TensorType &outType = c.outputType(0);
  const ir::DType dtype = outType.dtype;
  const bool transA = c.node.intAttr("transA", 0) != 0;
  const bool transB = c.node.intAttr("transB", 0) != 0;
  const float alpha = c.node.floatAttr("alpha", 1.0f);
  const float beta = c.node.floatAttr("beta", 1.0f);
  const int64_t m = outType.shape[0], n = outType.shape[1];
  const int64_t k = transA ? aType.shape[0] : aType.shape[1];
  if (outType.numel() == 0) return Status::ok();
  std::vector<int64_t> biasStrides{0, 0};
  const bool hasBias = c.hasInput(2);
  if (hasBias) biasStrides = linalg::broadcastStrides(c.inputType(2).shape, {m, n});
  // A and B are read through the strides of their layouts (a permuted operand costs no conversion).
  const std::vector<int64_t> aOwn = aType.layout.logicalStrides(aType.shape);
  const std::vector<int64_t> bOwn = c.inputType(1).layout.logicalStrides(c.inputType(1).shape);
  const int64_t aRow = aOwn[transA ? 1 : 0], aK = aOwn[transA ? 0 : 1];
  const int64_t bK = bOwn[transB ? 1 : 0], bN = bOwn[transB ? 0 : 1];

  if (dtype != ir::DType::Float32) {
    KernelBuilder &b = c.b;
    llvm::IRBuilder<> &ir = b.ir();
    b.loop(m, [&](llvm::Value *i) {
      b.loop(n, [&](llvm::Value *j) {
        llvm::Value *value = b.constant(dtype, 0.0);
        if (hasBias) {
          value = b.load(dtype, c.inputs[2],
                         ir.CreateAdd(ir.CreateMul(i, b.i64(biasStrides[0])), ir.CreateMul(j, b.i64(biasStrides[1]))));
          if (beta != 1.0f) value = linalg::scale(b, dtype, beta, value);
        }
        b.store(dtype, value, c.outputs[0], ir.CreateAdd(ir.CreateMul(i, b.i64(n)), j));
      }, "j");
    }, "i");
    emitScalarProduct(b, dtype, m, n, k, gemm::Batch{}, c.inputs[0], aRow, aK, c.inputs[1], bK, bN, c.outputs[0], n,
                      alpha);
    c.strategy = "scalar";
    return Status::ok();
  }
  GemmSpec s;
  s.m = m;
  s.n = n;
  s.k = k;
  s.a.kind = OperandA::Kind::Strided;
  s.a.base = c.inputs[0];
  s.a.rowStride = aRow;
  s.a.kStride = aK;
  s.b = stridedB(c, 1, c.inputs[1], 1, k, n, bK, bN, 0, nullptr);
  s.c = c.outputs[0];
  s.ldc = n;
  s.epilogue.alpha = alpha;
  s.epilogue.beta = beta;
  if (hasBias) {
    s.epilogue.bias = c.inputs[2];
    s.epilogue.biasRowStride = biasStrides[0];
    s.epilogue.biasColStride = biasStrides[1];
  }
  s.name = "gemm";
  c.strategy = gemmStrategy(s);
  gemm::emitGemm(c.b, s);
  return Status::ok();
}

// ---- Einsum -----------------------------------------------------------------------------------------------

/// An equation resolved against the input shapes: one label per dim (letters by char code, the e-th broadcast
/// ellipsis dim 256 + e), numpy's implicit output when there is no "->".
struct Einsum {
  std::vector<std::vector<int>> inputLabels;
  std::vector<int> outputLabels;
  std::map<int, int64_t> sizes;
  std::vector<int> firstSeen;
};

struct Term {
  std::vector<int> letters;
  int ellipsisAt = -1;
};

Expected<Term> parseTerm(const std::string &text) {
  Term term;
  for (size_t i = 0; i < text.size(); ++i) {
    const char ch = text[i];
    if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z')) {
      term.letters.push_back(ch);
    } else if (ch == '.' && text.compare(i, 3, "...") == 0 && term.ellipsisAt < 0) {
      term.ellipsisAt = static_cast<int>(term.letters.size());
      i += 2;
    } else {
      return Status::error("invalid term '" + text + "'");
    }
  }
  return term;
}

Expected<Einsum> resolveEinsum(const std::string &raw, const std::vector<ir::Shape> &shapes) {
  std::string equation;
  for (char ch : raw)
    if (ch != ' ' && ch != '\t') equation.push_back(ch);
  const size_t arrow = equation.find("->");
  const std::string lhs = arrow == std::string::npos ? equation : equation.substr(0, arrow);
  std::vector<Term> terms;
  for (size_t start = 0;;) {
    const size_t comma = lhs.find(',', start);
    FLUIDML_ASSIGN_OR_RETURN(Term term, parseTerm(lhs.substr(start, comma - start)));
    terms.push_back(std::move(term));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  if (terms.size() != shapes.size()) return Status::error("equation '" + raw + "' does not match the inputs");
  constexpr int kEllipsis = 256;
  size_t ellipsisRank = 0;
  for (size_t i = 0; i < terms.size(); ++i) {
    if (shapes[i].size() < terms[i].letters.size()) return Status::error("equation '" + raw + "' does not fit");
    if (terms[i].ellipsisAt >= 0) ellipsisRank = std::max(ellipsisRank, shapes[i].size() - terms[i].letters.size());
  }
  Einsum e;
  std::map<int, int> letterCounts;
  for (size_t i = 0; i < terms.size(); ++i) {
    const Term &term = terms[i];
    const size_t ellipsisDims = shapes[i].size() - term.letters.size();
    std::vector<int> labels;
    for (size_t pos = 0; pos <= term.letters.size(); ++pos) {
      if (static_cast<int>(pos) == term.ellipsisAt)
        for (size_t x = 0; x < ellipsisDims; ++x) labels.push_back(kEllipsis + static_cast<int>(ellipsisRank - ellipsisDims + x));
      if (pos == term.letters.size()) break;
      labels.push_back(term.letters[pos]);
      ++letterCounts[term.letters[pos]];
    }
    if (labels.size() != shapes[i].size()) return Status::error("equation '" + raw + "' does not fit");
    for (size_t dim = 0; dim < labels.size(); ++dim) {
      auto found = e.sizes.find(labels[dim]);
      if (found == e.sizes.end()) {
        e.sizes[labels[dim]] = shapes[i][dim];
        e.firstSeen.push_back(labels[dim]);
      } else {
        found->second = std::max(found->second, shapes[i][dim]);
      }
    }
    e.inputLabels.push_back(std::move(labels));
  }
  if (arrow != std::string::npos) {
    FLUIDML_ASSIGN_OR_RETURN(Term out, parseTerm(equation.substr(arrow + 2)));
    for (size_t pos = 0; pos <= out.letters.size(); ++pos) {
      if (static_cast<int>(pos) == out.ellipsisAt)
        for (size_t x = 0; x < ellipsisRank; ++x) e.outputLabels.push_back(kEllipsis + static_cast<int>(x));
      if (pos == out.letters.size()) break;
      e.outputLabels.push_back(out.letters[pos]);
    }
  } else {
    for (size_t x = 0; x < ellipsisRank; ++x) e.outputLabels.push_back(kEllipsis + static_cast<int>(x));
    for (const auto &[letter, count] : letterCounts)
      if (count == 1) e.outputLabels.push_back(letter);
  }
  return e;
}

/// Per-label strides of an operand in its layout: summed over repeated labels, 0 along dims of size 1
/// (broadcast). Einsum reads and writes every permutation through these strides.
std::map<int, int64_t> labelStrides(const std::vector<int> &labels, const ir::TensorType &type) {
  std::map<int, int64_t> strides;
  const std::vector<int64_t> own = type.layout.logicalStrides(type.shape);
  for (size_t d = 0; d < labels.size(); ++d)
    if (type.shape[d] != 1) strides[labels[d]] += own[d];
  return strides;
}

/// The generic loop nest: output zeroed, then out[o] += prod inputs over output labels then summed labels.
void emitEinsumLoops(KernelContext &c, const Einsum &e) {
  KernelBuilder &b = c.b;
  const ir::DType dtype = c.outputType(0).dtype;
  std::vector<int> loopLabels = e.outputLabels;
  for (int label : e.firstSeen)
    if (std::find(loopLabels.begin(), loopLabels.end(), label) == loopLabels.end()) loopLabels.push_back(label);
  ir::Shape loopShape;
  for (int label : loopLabels) loopShape.push_back(e.sizes.at(label));
  auto stridesFor = [&](const std::map<int, int64_t> &byLabel) {
    std::vector<int64_t> strides;
    for (int label : loopLabels) strides.push_back(byLabel.count(label) ? byLabel.at(label) : 0);
    return strides;
  };
  std::vector<std::vector<int64_t>> inputStrides;
  for (size_t i = 0; i < c.inputs.size(); ++i)
    inputStrides.push_back(stridesFor(labelStrides(e.inputLabels[i], c.inputType(i))));
  std::map<int, int64_t> outByLabel;
  const std::vector<int64_t> outStrides = c.outputType(0).layout.logicalStrides(c.outputType(0).shape);
  for (size_t d = 0; d < e.outputLabels.size(); ++d) outByLabel[e.outputLabels[d]] = outStrides[d];
  const std::vector<int64_t> outLoopStrides = stridesFor(outByLabel);

  emitZeroFill(b, dtype, c.outputs[0], c.outputType(0).numel());
  if (ir::shapeNumel(loopShape) == 0) return;
  b.loopNest(loopShape, [&](const std::vector<llvm::Value *> &index) {
    llvm::Value *product = nullptr;
    for (size_t i = 0; i < c.inputs.size(); ++i) {
      llvm::Value *v = b.load(dtype, c.inputs[i], b.linearIndex(index, inputStrides[i]));
      product = product ? linalg::mul(b, dtype, product, v) : v;
    }
    llvm::Value *at = b.linearIndex(index, outLoopStrides);
    b.store(dtype, linalg::add(b, dtype, b.load(dtype, c.outputs[0], at), product), c.outputs[0], at);
  });
}

/// Two-operand equations of the matmul form as one batched GEMM; false when the equation has another form.
bool emitEinsumGemm(KernelContext &c, const Einsum &e) {
  if (c.inputs.size() != 2 || c.outputType(0).dtype != ir::DType::Float32) return false;
  const ir::Shape &outShape = c.outputType(0).shape;
  std::vector<std::map<int, int64_t>> strides;
  for (size_t i = 0; i < 2; ++i) {
    const std::vector<int> &labels = e.inputLabels[i];
    if (std::set<int>(labels.begin(), labels.end()).size() != labels.size()) return false;  // a diagonal
    for (size_t d = 0; d < labels.size(); ++d)
      if (c.inputType(i).shape[d] != e.sizes.at(labels[d])) return false;  // broadcasting
    strides.push_back(labelStrides(labels, c.inputType(i)));
  }
  std::map<int, int64_t> outStrides;
  const std::vector<int64_t> own = c.outputType(0).layout.logicalStrides(outShape);
  for (size_t d = 0; d < e.outputLabels.size(); ++d) outStrides[e.outputLabels[d]] = own[d];
  auto has = [&](size_t input, int label) {
    const auto &l = e.inputLabels[input];
    return std::find(l.begin(), l.end(), label) != l.end();
  };
  std::vector<int> batchLabels, mLabels, nLabels, kLabels;
  for (int label : e.firstSeen) {
    const bool inA = has(0, label), inB = has(1, label), inOut = outStrides.count(label) > 0;
    if (inA && inB && inOut)
      batchLabels.push_back(label);
    else if (inA && !inB && inOut)
      mLabels.push_back(label);
    else if (!inA && inB && inOut)
      nLabels.push_back(label);
    else if (inA && inB && !inOut)
      kLabels.push_back(label);
    else
      return false;  // summed within one operand
  }
  if (mLabels.size() > 1 || nLabels.size() > 1 || kLabels.size() > 1) return false;
  auto sizeOf = [&](const std::vector<int> &labels) { return labels.empty() ? 1 : e.sizes.at(labels[0]); };
  auto strideOf = [&](const std::map<int, int64_t> &s, const std::vector<int> &labels) -> int64_t {
    if (labels.empty()) return 0;
    auto found = s.find(labels[0]);
    return found == s.end() ? 0 : found->second;
  };
  int64_t m = sizeOf(mLabels), n = sizeOf(nLabels);
  const int64_t k = sizeOf(kLabels);
  size_t aIndex = 0, bIndex = 1;
  // C needs contiguous columns: the column label must be innermost in the output, else swap the roles.
  if (n != 1 && strideOf(outStrides, nLabels) != 1) {
    if (m != 1 && strideOf(outStrides, mLabels) != 1) return false;
    std::swap(mLabels, nLabels);
    std::swap(m, n);
    std::swap(aIndex, bIndex);
  }
  GemmSpec s;
  s.m = m;
  s.n = n;
  s.k = k;
  for (int label : e.outputLabels)
    if (std::find(batchLabels.begin(), batchLabels.end(), label) != batchLabels.end()) {
      s.batch.shape.push_back(e.sizes.at(label));
      s.batch.aStrides.push_back(strides[aIndex].count(label) ? strides[aIndex].at(label) : 0);
      s.batch.bStrides.push_back(strides[bIndex].count(label) ? strides[bIndex].at(label) : 0);
      s.batch.cStrides.push_back(outStrides.at(label));
      s.batch.biasStrides.push_back(0);
    }
  s.a.kind = OperandA::Kind::Strided;
  s.a.base = c.inputs[aIndex];
  s.a.rowStride = strideOf(strides[aIndex], mLabels);
  s.a.kStride = strideOf(strides[aIndex], kLabels);
  const int64_t bK = strideOf(strides[bIndex], kLabels), bN = strideOf(strides[bIndex], nLabels);
  s.b.base = c.inputs[bIndex];
  if (bN == 1 || n == 1) {
    s.b.kind = OperandB::Kind::Rows;
    s.b.kStride = bK;
  } else {
    s.b.kind = OperandB::Kind::Fill;
    s.b.fill = stridedFill(n, bK, bN);
  }
  s.c = c.outputs[0];
  s.ldc = m == 1 ? 0 : strideOf(outStrides, mLabels);
  s.name = "einsum";
  c.strategy = gemmStrategy(s);
  gemm::emitGemm(c.b, s);
  return true;
}

Status emitEinsum(KernelContext &c) {
  std::vector<ir::Shape> shapes;
  for (size_t i = 0; i < c.inputs.size(); ++i) shapes.push_back(c.inputType(i).shape);
  FLUIDML_ASSIGN_OR_RETURN(Einsum e, resolveEinsum(c.node.stringAttr("equation", ""), shapes));
  if (c.outputType(0).numel() == 0) return Status::ok();
  bool anyEmpty = false;
  for (const ir::Shape &shape : shapes) anyEmpty = anyEmpty || ir::shapeNumel(shape) == 0;
  if (!anyEmpty && emitEinsumGemm(c, e)) return Status::ok();
  c.strategy = "loops";
  emitEinsumLoops(c, e);
  return Status::ok();
}

}  // namespace

/// Gemm reads A and B in any permutation; its bias C and its output stay row-major.
Status checkGemmLayouts(const ir::Graph &graph, const ir::Node &node) {
  for (ir::ValueId v : {node.input(2), node.output(0)})
    if (v != ir::kNoValue && !graph.value(v).type.layout.isRowMajor())
      return Status::error("'" + graph.value(v).name + "' has layout " +
                           graph.value(v).type.layout.toString(graph.value(v).type.rank()) +
                           "; Gemm reads permuted A and B, its bias and output row-major only");
  return Status::ok();
}

void registerLinalgLowerings(LoweringTable &table) {
  table.add("MatMul", emitMatMul);
  table.add("Gemm", emitGemmOp);
  table.add("Einsum", emitEinsum);
  table.declareLayouts("", "MatMul", LayoutSupport::Permuted, &checkMatMulOutput);
  table.declareLayouts("", "Gemm", LayoutSupport::Permuted, &checkGemmLayouts);
  table.declareLayouts("", "Einsum", LayoutSupport::Permuted);
  linalg::registerConvLowerings(table);
  linalg::registerPoolLowerings(table);
}

}  // namespace fluidml::codegen
