// Lowering of the normalization family (Softmax, LogSoftmax, Hardmax, LayerNormalization, BatchNormalization,
// InstanceNormalization, GroupNormalization, MeanVarianceNormalization, LpNormalization), every Reduce* op and
// ArgMax/ArgMin. Semantics: core/ops/normalization.cpp and core/ops/reduce.cpp.
//
// Every kernel views its input as slices along the normalized/reduced axes and makes a few passes per slice
// while the slice is hot in cache:
//  * a contiguous slice (a row: softmax over the last axis, layer norm, a reduction of the innermost dims) is
//    walked with explicit one-register vectors (the target's width: <16 x float> with AVX-512), unrolled with
//    several accumulators, and the lanes are combined at the end by halving shuffles; the remainder runs scalar;
//  * a strided slice (the axis is not innermost) is walked one vector of adjacent columns at a time, so every
//    load is still contiguous and the statistics stay per lane.
// Softmax: max pass, exp+sum pass (writing exp), scale pass; exp is a branch-free polynomial in IR (Cephes'
// degree-5 expf after a ln2 range reduction, ~1-2 ulp), vectorized. Layer/Instance/Group norm: one pass for
// the mean and variance (sums of x - s and (x - s)^2 with a shift s = mean of the first vector, which keeps
// E[d^2] - E[d]^2 from cancelling), then one normalizing pass with the scale and bias fused. BatchNormalization
// (inference) folds scale, bias, mean and variance into one per-channel factor and shift at compile time when
// they are constants. Slices run in parallel on the runtime's thread pool when the tensor is large.
// Float statistics accumulate in the tensor's type (the interpreter uses double): results agree to ~1e-6
// relative. Everything is O(elements) with O(1) extra memory.
#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include <llvm/IR/Constants.h>
#include <llvm/IR/DerivedTypes.h>
#include <llvm/IR/Function.h>
#include <llvm/IR/Intrinsics.h>

#include "core/codegen/lower_helpers.h"
#include "core/codegen/lowering.h"
#include "core/ops/op_helpers.h"

namespace fluidml::codegen {
namespace {

using helpers::entryAlloca;
using helpers::forRange;
using helpers::ifElse;
using helpers::product;
using helpers::unflatten;
using ir::DType;
using ir::Shape;
using llvm::Value;


// --- small IR helpers -------------------------------------------------------------------------------------

int widthOf(Value *v) {
  if (auto *vt = llvm::dyn_cast<llvm::FixedVectorType>(v->getType())) return static_cast<int>(vt->getNumElements());
  return 1;
}

llvm::Type *withWidth(llvm::Type *scalar, int width) {
  return width == 1 ? scalar : llvm::FixedVectorType::get(scalar, static_cast<unsigned>(width));
}

llvm::Type *laneType(KernelBuilder &b, DType dtype, int width) { return withWidth(b.scalarType(dtype), width); }

/// `width` consecutive elements starting at element `offset` (a scalar when width is 1).
Value *loadLanes(KernelBuilder &b, DType dtype, Value *base, Value *offset, int width) {
  if (width == 1) return b.load(dtype, base, offset);
  return b.ir().CreateAlignedLoad(laneType(b, dtype, width), b.elementPtr(dtype, base, offset),
                                  llvm::Align(ir::dtypeSize(dtype)));
}

void storeLanes(KernelBuilder &b, DType dtype, Value *value, Value *base, Value *offset) {
  if (widthOf(value) == 1) {
    b.store(dtype, value, base, offset);
    return;
  }
  b.ir().CreateAlignedStore(value, b.elementPtr(dtype, base, offset), llvm::Align(ir::dtypeSize(dtype)));
}

/// `value` splat to `width` lanes (unchanged when width is 1 or it already is a vector).
Value *splat(KernelBuilder &b, Value *value, int width) {
  if (width == 1 || widthOf(value) != 1) return value;
  return b.ir().CreateVectorSplat(static_cast<unsigned>(width), value);
}

/// A per-slice statistic (scalar or lanes) shaped like `like`.
Value *bcast(KernelBuilder &b, Value *stat, Value *like) { return splat(b, stat, widthOf(like)); }

Value *fconst(llvm::Type *type, double value) { return llvm::ConstantFP::get(type, value); }

/// A private constant array in the module (compile-time tables: folded parameters, maps).
Value *constantArray(KernelBuilder &b, DType dtype, const std::vector<double> &values, const std::string &name) {
  llvm::Constant *init = nullptr;
  if (dtype == DType::Float64) {
    init = llvm::ConstantDataArray::get(b.context(), llvm::ArrayRef<double>(values));
  } else {
    std::vector<float> floats(values.begin(), values.end());
    init = llvm::ConstantDataArray::get(b.context(), llvm::ArrayRef<float>(floats));
  }
  return helpers::constantGlobal(b, init, name);
}

// --- float math on scalars or lanes -------------------------------------------------------------------------

Value *fma(KernelBuilder &b, Value *x, Value *y, Value *z) {
  return b.ir().CreateIntrinsic(llvm::Intrinsic::fma, {x->getType()}, {x, y, z});
}

/// e^x for float scalars or vectors: x = n ln2 + r with |r| <= ln2/2, e^r by Cephes' expf polynomial, 2^n built
/// in the exponent bits (as two factors so that n in [-150, 128] never leaves the normal range). Branch-free;
/// exact for +-inf and NaN. double uses llvm.exp.
Value *emitExp(KernelBuilder &b, Value *x) {
  llvm::IRBuilder<> &ir = b.ir();
  llvm::Type *type = x->getType();
  if (type->getScalarType()->isDoubleTy()) return ir.CreateUnaryIntrinsic(llvm::Intrinsic::exp, x);
  auto c = [&](double v) { return fconst(type, v); };
  Value *isNan = ir.CreateFCmpUNO(x, x);
  Value *clamped = ir.CreateBinaryIntrinsic(llvm::Intrinsic::maxnum, x, c(-104.0));
  clamped = ir.CreateBinaryIntrinsic(llvm::Intrinsic::minnum, clamped, c(88.72283935546875));
  Value *n = ir.CreateUnaryIntrinsic(llvm::Intrinsic::roundeven, ir.CreateFMul(clamped, c(1.4426950408889634)));
  Value *r = fma(b, n, c(-0.693359375), clamped);
  r = fma(b, n, c(2.12194440e-4), r);
  Value *p = c(1.9875691500e-4);
  for (double coefficient : {1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1})
    p = fma(b, p, r, c(coefficient));
  p = fma(b, p, ir.CreateFMul(r, r), r);
  p = ir.CreateFAdd(p, c(1.0));
  llvm::Type *intType = withWidth(ir.getInt32Ty(), widthOf(x));
  Value *ni = ir.CreateFPToSI(n, intType);
  Value *n1 = ir.CreateAShr(ni, llvm::ConstantInt::get(intType, 1));
  Value *n2 = ir.CreateSub(ni, n1);
  auto pow2 = [&](Value *e) {
    Value *bits = ir.CreateShl(ir.CreateAdd(e, llvm::ConstantInt::get(intType, 127)), llvm::ConstantInt::get(intType, 23));
    return ir.CreateBitCast(bits, type);
  };
  Value *result = ir.CreateFMul(ir.CreateFMul(p, pow2(n1)), pow2(n2));
  result = ir.CreateSelect(ir.CreateFCmpOGT(x, c(88.72283935546875)), c(std::numeric_limits<double>::infinity()),
                           result);
  return ir.CreateSelect(isNan, x, result);
}

Value *emitLog(KernelBuilder &b, Value *x) { return b.ir().CreateUnaryIntrinsic(llvm::Intrinsic::log, x); }
Value *emitSqrt(KernelBuilder &b, Value *x) { return b.ir().CreateUnaryIntrinsic(llvm::Intrinsic::sqrt, x); }

/// max as `if (x > acc) acc = x` (NaN never replaces: the reference softmax's running max).
Value *maxIgnoringNan(KernelBuilder &b, Value *acc, Value *x) {
  return b.ir().CreateSelect(b.ir().CreateFCmpOGT(x, acc), x, acc);
}

// --- passes over a slice -------------------------------------------------------------------------------------

using Combine = std::function<Value *(Value *acc, Value *x)>;
/// One accumulator: its initial scalar (a constant of the accumulator type) and how values fold into it.
struct Fold {
  Value *init;
  Combine combine;
};
/// Called per group of lanes x (a scalar or a vector) read at element `offset`, `k` the index along the slice of
/// the first lane; returns one value per fold (of the accumulator's lane type). Stores happen inside.
using Step = std::function<std::vector<Value *>(Value *x, Value *k, Value *offset)>;

/// Reduces the lanes of a vector to a scalar with the fold's combine (halving shuffles).
Value *horizontal(KernelBuilder &b, Value *v, const Combine &combine) {
  int width = widthOf(v);
  while (width > 1) {
    std::vector<int> lo, hi;
    for (int i = 0; i < width / 2; ++i) {
      lo.push_back(i);
      hi.push_back(i + width / 2);
    }
    v = combine(b.ir().CreateShuffleVector(v, v, lo), b.ir().CreateShuffleVector(v, v, hi));
    width /= 2;
  }
  return llvm::isa<llvm::FixedVectorType>(v->getType()) ? b.ir().CreateExtractElement(v, uint64_t{0}) : v;
}

/// Accumulators for contiguous runs: `unroll` independent vector accumulators per fold (to hide the add
/// latency), plus one scalar for the remainder; finish() folds them all into one scalar per fold.
class RowReducer {
 public:
  RowReducer(KernelBuilder &b, std::vector<Fold> folds, int width)
      : b_(b), folds_(std::move(folds)), width_(width) {
    vectors_.resize(kUnroll);
    for (auto &slots : vectors_)
      for (const Fold &f : folds_) slots.push_back(entryAlloca(b_, withWidth(f.init->getType(), width_)));
    for (const Fold &f : folds_) scalars_.push_back(entryAlloca(b_, f.init->getType()));
  }

  /// Resets the accumulators (at the current insertion point).
  void init() {
    for (auto &slots : vectors_)
      for (size_t i = 0; i < folds_.size(); ++i) b_.ir().CreateStore(splat(b_, folds_[i].init, width_), slots[i]);
    for (size_t i = 0; i < folds_.size(); ++i) b_.ir().CreateStore(folds_[i].init, scalars_[i]);
  }

  /// Folds elements [base, base + count) of `src` (read as `dtype` lanes) through `step`.
  void fold(DType dtype, Value *src, Value *base, int64_t count, const Step &step) {
    const int64_t w = width_;
    const int unroll = (!folds_.empty() && count >= 2 * kUnroll * w) ? kUnroll : 1;
    const int64_t unrolledEnd = count / (w * unroll) * (w * unroll);
    const int64_t vectorEnd = count / w * w;
    auto apply = [&](Value *k, int lanes, std::vector<llvm::AllocaInst *> &slots) {
      Value *offset = b_.ir().CreateAdd(base, k);
      Value *x = src ? loadLanes(b_, dtype, src, offset, lanes) : nullptr;
      std::vector<Value *> values = step(x, k, offset);
      for (size_t i = 0; i < folds_.size(); ++i) {
        llvm::Type *type = slots[i]->getAllocatedType();
        Value *acc = b_.ir().CreateLoad(type, slots[i]);
        b_.ir().CreateStore(folds_[i].combine(acc, values[i]), slots[i]);
      }
    };
    if (w > 1 && unrolledEnd > 0)
      b_.loop(b_.i64(0), b_.i64(unrolledEnd), w * unroll, [&](Value *k) {
        for (int u = 0; u < unroll; ++u)
          apply(u == 0 ? k : b_.ir().CreateAdd(k, b_.i64(u * w)), width_, vectors_[static_cast<size_t>(u)]);
      });
    if (w > 1 && vectorEnd > unrolledEnd)
      b_.loop(b_.i64(unrolledEnd), b_.i64(vectorEnd), w, [&](Value *k) { apply(k, width_, vectors_[0]); });
    const int64_t scalarBegin = w > 1 ? vectorEnd : 0;
    if (count > scalarBegin)
      b_.loop(b_.i64(scalarBegin), b_.i64(count), 1, [&](Value *k) { apply(k, 1, scalars_); });
  }

  std::vector<Value *> finish() {
    std::vector<Value *> results;
    for (size_t i = 0; i < folds_.size(); ++i) {
      const Combine &combine = folds_[i].combine;
      llvm::Type *vectorType = vectors_[0][i]->getAllocatedType();
      Value *v = b_.ir().CreateLoad(vectorType, vectors_[0][i]);
      for (size_t u = 1; u < vectors_.size(); ++u) v = combine(v, b_.ir().CreateLoad(vectorType, vectors_[u][i]));
      Value *scalar = b_.ir().CreateLoad(scalars_[i]->getAllocatedType(), scalars_[i]);
      results.push_back(width_ > 1 ? combine(horizontal(b_, v, combine), scalar) : combine(v, scalar));
    }
    return results;
  }

 private:
  static constexpr int kUnroll = 4;
  KernelBuilder &b_;
  std::vector<Fold> folds_;
  int width_;
  std::vector<std::vector<llvm::AllocaInst *>> vectors_;  // [unroll][fold]
  std::vector<llvm::AllocaInst *> scalars_;
};

/// Accumulators for lanes of columns: one lane-typed accumulator per fold.
class LaneReducer {
 public:
  LaneReducer(KernelBuilder &b, std::vector<Fold> folds, int width) : b_(b), folds_(std::move(folds)), width_(width) {
    for (const Fold &f : folds_) slots_.push_back(entryAlloca(b_, withWidth(f.init->getType(), width_)));
  }
  void init() {
    for (size_t i = 0; i < folds_.size(); ++i) b_.ir().CreateStore(splat(b_, folds_[i].init, width_), slots_[i]);
  }
  /// Folds the lanes x read at `offset` (k: index along the slice).
  void fold(DType dtype, Value *src, Value *k, Value *offset, const Step &step) {
    Value *x = src ? loadLanes(b_, dtype, src, offset, width_) : nullptr;
    std::vector<Value *> values = step(x, k, offset);
    for (size_t i = 0; i < folds_.size(); ++i) {
      Value *acc = b_.ir().CreateLoad(slots_[i]->getAllocatedType(), slots_[i]);
      b_.ir().CreateStore(folds_[i].combine(acc, values[i]), slots_[i]);
    }
  }
  std::vector<Value *> finish() {
    std::vector<Value *> results;
    for (llvm::AllocaInst *slot : slots_) results.push_back(b_.ir().CreateLoad(slot->getAllocatedType(), slot));
    return results;
  }

 private:
  KernelBuilder &b_;
  std::vector<Fold> folds_;
  int width_;
  std::vector<llvm::AllocaInst *> slots_;
};

// --- slices along one axis: [outer, n, inner] ------------------------------------------------------------------

struct AxisGeom {
  int64_t outer = 1, n = 1, inner = 1;
  int64_t numel() const { return outer * n * inner; }
};

/// One slice of an [outer, n, inner] tensor: either a contiguous row (inner == 1, `row`), vectorized along the
/// axis, or `width` adjacent columns read with stride `inner`.
struct Slice {
  KernelBuilder &b;
  DType dtype;
  bool row;
  int width;         // lanes per step: the vector width for rows, the column count otherwise
  Value *base;       // element offset of (o, 0, j)
  Value *outer;      // o
  Value *column;     // j (i64)
  int64_t n, stride;
  std::vector<Value *> ptrs;  // the kernel's pointers, as seen inside this function

  /// One pass over the slice; returns per-fold statistics (scalars for rows, lanes for columns).
  std::vector<Value *> pass(Value *src, const std::vector<Fold> &folds, const Step &step) const {
    if (row) {
      RowReducer reducer(b, folds, width);
      reducer.init();
      reducer.fold(dtype, src, base, n, step);
      return reducer.finish();
    }
    LaneReducer reducer(b, folds, width);
    reducer.init();
    if (n > 0)
      b.loop(n, [&](Value *k) {
        reducer.fold(dtype, src, k, b.ir().CreateAdd(base, b.ir().CreateMul(k, b.i64(stride))), step);
      });
    return reducer.finish();
  }
};

/// Calls body once per slice of the tensor. Rows (`rowMode`, needs inner == 1) are one per outer index; columns
/// go by vectors of `vectorWidth` adjacent columns plus single leftover columns. Runs on the thread pool when
/// the tensor is large.
void forEachSlice(KernelBuilder &b, DType dtype, const AxisGeom &g, bool rowMode, int vectorWidth,
                  const std::vector<Value *> &pointers, const std::function<void(Slice &)> &body) {
  const bool parallel = g.numel() >= b.target().parallelSliceElements;
  if (g.outer == 0 || g.inner == 0) return;
  if (rowMode) {
    forRange(b, g.outer, parallel && g.outer > 1, pointers, [&](Value *o, const std::vector<Value *> &ptrs) {
      Slice s{b, dtype, true, vectorWidth, b.ir().CreateMul(o, b.i64(g.n)), o, b.i64(0), g.n, 1, ptrs};
      body(s);
    });
    return;
  }
  const int64_t w = vectorWidth;
  const int64_t full = w > 1 ? g.inner / w : 0;
  const int64_t leftover = g.inner - full * w;
  const int64_t chunks = full + leftover;
  forRange(b, g.outer * chunks, parallel, pointers, [&](Value *index, const std::vector<Value *> &ptrs) {
    llvm::IRBuilder<> &ir = b.ir();
    Value *o = chunks == 1 ? index : ir.CreateUDiv(index, b.i64(chunks));
    Value *c = chunks == 1 ? b.i64(0) : ir.CreateURem(index, b.i64(chunks));
    Value *blockBase = ir.CreateMul(o, b.i64(g.n * g.inner));
    auto emit = [&](Value *j, int width) {
      Slice s{b, dtype, false, width, ir.CreateAdd(blockBase, j), o, j, g.n, g.inner, ptrs};
      body(s);
    };
    if (full == 0) {
      emit(c, 1);
    } else if (leftover == 0) {
      emit(ir.CreateMul(c, b.i64(w)), static_cast<int>(w));
    } else {
      ifElse(
          b, ir.CreateICmpULT(c, b.i64(full)), [&] { emit(ir.CreateMul(c, b.i64(w)), static_cast<int>(w)); },
          [&] { emit(ir.CreateAdd(c, b.i64(full * (w - 1))), 1); });
    }
  });
}

/// Lanes of one of the target's vectors of `dtype` (16 floats with AVX-512, 8 with AVX2).
int floatWidth(const KernelBuilder &b, DType dtype) { return b.target().lanes(ir::dtypeSize(dtype)); }

Status requireFloat(const KernelContext &c, size_t input) {
  DType dtype = c.inputType(input).dtype;
  if (dtype != DType::Float32 && dtype != DType::Float64)
    return Status::error(c.node.opType + ": expected float32 or float64, got " + std::string(ir::dtypeName(dtype)));
  return Status::ok();
}

// --- Softmax, LogSoftmax, Hardmax -------------------------------------------------------------------------

Expected<AxisGeom> softmaxGeom(const KernelContext &c) {
  const Shape &shape = c.inputType(0).shape;
  const int64_t rank = static_cast<int64_t>(shape.size());
  if (rank == 0) return Status::error(c.node.opType + " needs an input of rank 1 or more");
  if (c.opset >= 13) {
    FLUIDML_ASSIGN_OR_RETURN(int64_t axis, ops::normalizeAxis(c.node.intAttr("axis", -1), rank));
    // Slices along the axis are independent: walk them in physical order (input and output share one
    // permutation, checkSoftmaxLayouts), so a permuted tensor costs nothing.
    const std::vector<int> order = c.inputType(0).layout.outerOrder(shape.size());
    Shape physical;
    size_t a = 0;
    for (size_t p = 0; p < order.size(); ++p) {
      physical.push_back(shape[static_cast<size_t>(order[p])]);
      if (order[p] == axis) a = p;
    }
    return AxisGeom{product(physical, 0, a), physical[a], product(physical, a + 1, physical.size())};
  }
  int64_t axis = c.node.intAttr("axis", 1);
  int64_t normalized = axis < 0 ? axis + rank : axis;
  if (normalized < 0 || normalized > rank)
    return Status::error("axis " + std::to_string(axis) + " is out of range for rank " + std::to_string(rank));
  size_t a = static_cast<size_t>(normalized);
  return AxisGeom{product(shape, 0, a), product(shape, a, shape.size()), 1};
}

enum class SoftmaxKind { Softmax, LogSoftmax };

template <SoftmaxKind kKind>
Status emitSoftmax(KernelContext &c) {
  FLUIDML_RETURN_IF_ERROR(requireFloat(c, 0));
  FLUIDML_ASSIGN_OR_RETURN(AxisGeom g, softmaxGeom(c));
  KernelBuilder &b = c.b;
  const DType dtype = c.inputType(0).dtype;
  llvm::Type *scalar = b.scalarType(dtype);
  const bool rowMode = g.inner == 1;
  forEachSlice(b, dtype, g, rowMode, floatWidth(b, dtype), {c.inputs[0], c.outputs[0]}, [&](Slice &s) {
    llvm::IRBuilder<> &ir = b.ir();
    Value *x = s.ptrs[0], *y = s.ptrs[1];
    Fold maxFold{fconst(scalar, -std::numeric_limits<double>::infinity()),
                 [&](Value *a, Value *v) { return maxIgnoringNan(b, a, v); }};
    Fold sumFold{fconst(scalar, 0.0), [&](Value *a, Value *v) { return ir.CreateFAdd(a, v); }};
    Value *max = s.pass(x, {maxFold}, [](Value *v, Value *, Value *) { return std::vector<Value *>{v}; })[0];
    if constexpr (kKind == SoftmaxKind::Softmax) {
      // exp(x - max) is written to y on the way and rescaled in place by the last pass.
      Value *sum = s.pass(x, {sumFold}, [&](Value *v, Value *, Value *offset) {
        Value *e = emitExp(b, ir.CreateFSub(v, bcast(b, max, v)));
        storeLanes(b, dtype, e, y, offset);
        return std::vector<Value *>{e};
      })[0];
      Value *inverse = ir.CreateFDiv(fconst(sum->getType(), 1.0), sum);
      s.pass(y, {}, [&](Value *v, Value *, Value *offset) {
        storeLanes(b, dtype, ir.CreateFMul(v, bcast(b, inverse, v)), y, offset);
        return std::vector<Value *>{};
      });
    } else {
      Value *sum = s.pass(x, {sumFold}, [&](Value *v, Value *, Value *) {
        return std::vector<Value *>{emitExp(b, ir.CreateFSub(v, bcast(b, max, v)))};
      })[0];
      Value *logSum = emitLog(b, sum);
      s.pass(x, {}, [&](Value *v, Value *, Value *offset) {
        Value *shifted = ir.CreateFSub(v, bcast(b, max, v));
        storeLanes(b, dtype, ir.CreateFSub(shifted, bcast(b, logSum, v)), y, offset);
        return std::vector<Value *>{};
      });
    }
  });
  return Status::ok();
}

/// Index lanes (i64) of the first maximum along a column slice: NaN counts as the maximum (numpy's argmax).
Value *firstMaxIndex(KernelBuilder &b, const Slice &s, Value *x) {
  llvm::IRBuilder<> &ir = b.ir();
  llvm::Type *valueType = laneType(b, s.dtype, s.width);
  llvm::Type *indexType = withWidth(ir.getInt64Ty(), s.width);
  llvm::AllocaInst *best = entryAlloca(b, valueType);
  llvm::AllocaInst *bestIndex = entryAlloca(b, indexType);
  ir.CreateStore(loadLanes(b, s.dtype, x, s.base, s.width), best);
  ir.CreateStore(llvm::Constant::getNullValue(indexType), bestIndex);
  if (s.n > 1)
    b.loop(b.i64(1), b.i64(s.n), 1, [&](Value *k) {
      Value *v = loadLanes(b, s.dtype, x, ir.CreateAdd(s.base, ir.CreateMul(k, b.i64(s.stride))), s.width);
      Value *current = ir.CreateLoad(valueType, best);
      Value *update = ir.CreateAnd(ir.CreateFCmpORD(current, current),
                                   ir.CreateOr(ir.CreateFCmpOGT(v, current), ir.CreateFCmpUNO(v, v)));
      ir.CreateStore(ir.CreateSelect(update, v, current), best);
      Value *index = ir.CreateLoad(indexType, bestIndex);
      ir.CreateStore(ir.CreateSelect(update, splat(b, k, s.width), index), bestIndex);
    });
  return ir.CreateLoad(indexType, bestIndex);
}

Status emitHardmax(KernelContext &c) {
  FLUIDML_RETURN_IF_ERROR(requireFloat(c, 0));
  FLUIDML_ASSIGN_OR_RETURN(AxisGeom g, softmaxGeom(c));
  KernelBuilder &b = c.b;
  const DType dtype = c.inputType(0).dtype;
  llvm::Type *scalar = b.scalarType(dtype);
  forEachSlice(b, dtype, g, false, g.inner >= 8 ? floatWidth(b, dtype) : 1, {c.inputs[0], c.outputs[0]},
               [&](Slice &s) {
                 llvm::IRBuilder<> &ir = b.ir();
                 Value *best = firstMaxIndex(b, s, s.ptrs[0]);
                 // All reads are done: y may alias x.
                 b.loop(s.n, [&](Value *k) {
                   Value *hit = ir.CreateICmpEQ(best, splat(b, k, s.width));
                   Value *one = splat(b, fconst(scalar, 1.0), s.width), *zero = splat(b, fconst(scalar, 0.0), s.width);
                   storeLanes(b, dtype, ir.CreateSelect(hit, one, zero), s.ptrs[1],
                              ir.CreateAdd(s.base, ir.CreateMul(k, b.i64(s.stride))));
                 });
               });
  return Status::ok();
}

// --- LpNormalization ----------------------------------------------------------------------------------------

Status emitLpNormalization(KernelContext &c) {
  FLUIDML_RETURN_IF_ERROR(requireFloat(c, 0));
  const Shape &shape = c.inputType(0).shape;
  const int64_t p = c.node.intAttr("p", 2);
  if (p != 1 && p != 2) return Status::error("p must be 1 or 2, got " + std::to_string(p));
  if (shape.empty()) return Status::error("LpNormalization needs an input of rank 1 or more");
  FLUIDML_ASSIGN_OR_RETURN(int64_t axis,
                           ops::normalizeAxis(c.node.intAttr("axis", -1), static_cast<int64_t>(shape.size())));
  size_t a = static_cast<size_t>(axis);
  AxisGeom g{product(shape, 0, a), shape[a], product(shape, a + 1, shape.size())};
  KernelBuilder &b = c.b;
  const DType dtype = c.inputType(0).dtype;
  llvm::Type *scalar = b.scalarType(dtype);
  forEachSlice(b, dtype, g, g.inner == 1, floatWidth(b, dtype), {c.inputs[0], c.outputs[0]}, [&](Slice &s) {
    llvm::IRBuilder<> &ir = b.ir();
    Fold sumFold{fconst(scalar, 0.0), [&](Value *acc, Value *v) { return ir.CreateFAdd(acc, v); }};
    Value *norm = s.pass(s.ptrs[0], {sumFold}, [&](Value *v, Value *, Value *) {
      return std::vector<Value *>{p == 1 ? ir.CreateUnaryIntrinsic(llvm::Intrinsic::fabs, v) : ir.CreateFMul(v, v)};
    })[0];
    if (p == 2) norm = emitSqrt(b, norm);
    // A zero vector stays zero instead of becoming 0/0.
    s.pass(s.ptrs[0], {}, [&](Value *v, Value *, Value *offset) {
      Value *n = bcast(b, norm, v);
      Value *zero = fconst(v->getType(), 0.0);
      storeLanes(b, dtype, ir.CreateSelect(ir.CreateFCmpOEQ(n, zero), zero, ir.CreateFDiv(v, n)), s.ptrs[1], offset);
      return std::vector<Value *>{};
    });
  });
  return Status::ok();
}

// --- mean / variance of contiguous runs -------------------------------------------------------------------

struct Moments {
  Value *mean;
  Value *invStd;  // 1 / sqrt(variance + epsilon), biased variance
};

/// Mean and 1/sqrt(var + epsilon) of `count` contiguous elements at `base`, in one pass: sums of d = x - s and
/// d^2 with s the mean of the first vector (or the first element), so the variance does not cancel.
Moments rowMoments(KernelBuilder &b, DType dtype, Value *src, Value *base, int64_t count, double epsilon) {
  llvm::IRBuilder<> &ir = b.ir();
  llvm::Type *scalar = b.scalarType(dtype);
  const int w = floatWidth(b, dtype);
  Combine add = [&](Value *a, Value *v) { return ir.CreateFAdd(a, v); };
  if (count == 0) return {fconst(scalar, 0.0), ir.CreateFDiv(fconst(scalar, 1.0), emitSqrt(b, fconst(scalar, epsilon)))};
  Value *shift = nullptr;
  if (count >= w) {
    Value *first = loadLanes(b, dtype, src, base, w);
    shift = ir.CreateFMul(horizontal(b, first, add), fconst(scalar, 1.0 / w));
  } else {
    shift = b.load(dtype, src, base);
  }
  RowReducer reducer(b, {Fold{fconst(scalar, 0.0), add}, Fold{fconst(scalar, 0.0), add}}, w);
  reducer.init();
  reducer.fold(dtype, src, base, count, [&](Value *v, Value *, Value *) {
    Value *d = ir.CreateFSub(v, bcast(b, shift, v));
    return std::vector<Value *>{d, ir.CreateFMul(d, d)};
  });
  std::vector<Value *> sums = reducer.finish();
  Value *inverseCount = fconst(scalar, 1.0 / static_cast<double>(count));
  Value *meanShifted = ir.CreateFMul(sums[0], inverseCount);
  Value *variance = ir.CreateFSub(ir.CreateFMul(sums[1], inverseCount), ir.CreateFMul(meanShifted, meanShifted));
  variance = ir.CreateBinaryIntrinsic(llvm::Intrinsic::maxnum, variance, fconst(scalar, 0.0));
  Value *invStd = ir.CreateFDiv(fconst(scalar, 1.0), emitSqrt(b, ir.CreateFAdd(variance, fconst(scalar, epsilon))));
  return {ir.CreateFAdd(shift, meanShifted), invStd};
}

/// y[i] = (x[i] - mean) * a + shift over `count` contiguous elements; a and shift are scalars.
void normalizeRow(KernelBuilder &b, DType dtype, Value *src, Value *dst, Value *base, int64_t count, Value *mean,
                  Value *factor, Value *shift) {
  RowReducer writer(b, {}, floatWidth(b, dtype));
  writer.fold(dtype, src, base, count, [&](Value *v, Value *, Value *offset) {
    Value *centered = b.ir().CreateFSub(v, bcast(b, mean, v));
    storeLanes(b, dtype, fma(b, centered, bcast(b, factor, v), bcast(b, shift, v)), dst, offset);
    return std::vector<Value *>{};
  });
}

// --- LayerNormalization -----------------------------------------------------------------------------------

/// A Scale/B operand as `width` values per row: the operand itself when it already has that many elements,
/// a compile-time expanded copy when it is a broadcast constant; nullptr when neither (broadcast at run time).
Value *expandedParam(KernelContext &c, size_t i, const Shape &normalized, const std::string &name) {
  const ir::TensorType &type = c.inputType(i);
  const int64_t width = ir::shapeNumel(normalized);
  if (type.numel() == width) return c.inputs[i];
  const ir::Tensor *constant = c.constantInput(i);
  if (constant == nullptr) return nullptr;
  Shape s = type.shape;
  while (s.size() > normalized.size()) s.erase(s.begin());
  std::vector<double> values;
  values.reserve(static_cast<size_t>(width));
  for (ops::StridedIterator it(normalized, {ops::broadcastStrides(s, normalized)}); !it.done(); it.next())
    values.push_back(constant->elementAsDouble(it.offset(0)));
  return constantArray(c.b, type.dtype, values, name);
}

/// Element offsets into a broadcast parameter for element k of the normalized shape (run-time broadcast).
Value *broadcastOffset(KernelBuilder &b, Value *k, const Shape &normalized, const Shape &paramShape) {
  Shape s = paramShape;
  while (s.size() > normalized.size()) s.erase(s.begin());
  std::vector<int64_t> strides = ops::broadcastStrides(s, normalized);
  std::vector<Value *> coords = unflatten(b, k, normalized);
  return b.linearIndex(coords, strides);
}

Status emitLayerNormalization(KernelContext &c) {
  FLUIDML_RETURN_IF_ERROR(requireFloat(c, 0));
  const Shape &shape = c.inputType(0).shape;
  if (shape.empty()) return Status::error("X must have rank 1 or more");
  FLUIDML_ASSIGN_OR_RETURN(int64_t axis,
                           ops::normalizeAxis(c.node.intAttr("axis", -1), static_cast<int64_t>(shape.size())));
  const double epsilon = c.node.floatAttr("epsilon", 1e-5f);
  const Shape normalized(shape.begin() + axis, shape.end());
  const int64_t rows = product(shape, 0, static_cast<size_t>(axis));
  const int64_t width = ir::shapeNumel(normalized);
  const DType dtype = c.inputType(0).dtype;
  KernelBuilder &b = c.b;

  Value *scale = expandedParam(c, 1, normalized, "layernorm_scale");
  Value *bias = c.hasInput(2) ? expandedParam(c, 2, normalized, "layernorm_bias") : nullptr;
  const bool hasBias = c.hasInput(2);
  const bool broadcastScale = scale == nullptr, broadcastBias = hasBias && bias == nullptr;
  // Pointer list for the parallel body: x, y, scale, bias, mean, invstd (absent ones as null placeholders).
  std::vector<Value *> pointers = {c.inputs[0], c.outputs[0], scale ? scale : c.inputs[1],
                                   hasBias ? (bias ? bias : c.inputs[2]) : c.inputs[0]};
  const bool hasMean = c.hasOutput(1), hasInvStd = c.hasOutput(2);
  pointers.push_back(hasMean ? c.outputs[1] : c.inputs[0]);
  pointers.push_back(hasInvStd ? c.outputs[2] : c.inputs[0]);
  const DType statType = hasMean ? c.outputType(1).dtype : (hasInvStd ? c.outputType(2).dtype : dtype);
  const Shape scaleShape = c.inputType(1).shape;
  const Shape biasShape = hasBias ? c.inputType(2).shape : Shape{};

  AxisGeom g{rows, width, 1};
  forEachSlice(b, dtype, g, true, floatWidth(b, dtype), pointers, [&](Slice &s) {
    llvm::IRBuilder<> &ir = b.ir();
    Value *x = s.ptrs[0], *y = s.ptrs[1], *sc = s.ptrs[2], *bi = s.ptrs[3];
    Moments m = rowMoments(b, dtype, x, s.base, width, epsilon);
    // A parameter broadcast at run time is read one element at a time.
    RowReducer writer(b, {}, broadcastScale || broadcastBias ? 1 : floatWidth(b, dtype));
    writer.fold(dtype, x, s.base, width, [&](Value *v, Value *k, Value *offset) {
      const int lanes = widthOf(v);
      Value *t = ir.CreateFMul(ir.CreateFSub(v, bcast(b, m.mean, v)), bcast(b, m.invStd, v));
      Value *scaleLanes = nullptr, *biasLanes = nullptr;
      scaleLanes = !broadcastScale ? loadLanes(b, dtype, sc, k, lanes)
                                   : b.load(dtype, sc, broadcastOffset(b, k, normalized, scaleShape));
      if (hasBias) {
        biasLanes = !broadcastBias ? loadLanes(b, dtype, bi, k, lanes)
                                   : b.load(dtype, bi, broadcastOffset(b, k, normalized, biasShape));
      }
      Value *out = hasBias ? fma(b, t, scaleLanes, biasLanes) : ir.CreateFMul(t, scaleLanes);
      storeLanes(b, dtype, out, y, offset);
      return std::vector<Value *>{};
    });
    if (hasMean) b.store(statType, b.convert(m.mean, dtype, statType), s.ptrs[4], s.outer);
    if (hasInvStd) b.store(statType, b.convert(m.invStd, dtype, statType), s.ptrs[5], s.outer);
  });
  return Status::ok();
}

// --- BatchNormalization -----------------------------------------------------------------------------------

Status emitBatchNormalization(KernelContext &c) {
  FLUIDML_RETURN_IF_ERROR(requireFloat(c, 0));
  if (c.node.intAttr("training_mode", 0) != 0)
    return Status::error("training_mode=1 is not supported: fluidml runs BatchNormalization in inference mode");
  for (size_t i = 1; i < c.outputs.size(); ++i)
    if (c.hasOutput(i)) return Status::error("BatchNormalization training outputs are not supported");
  const Shape &shape = c.inputType(0).shape;
  if (shape.size() < 2) return Status::error("X must have rank 2 or more");
  const DType dtype = c.inputType(0).dtype;
  const int64_t batch = shape[0], channels = shape[1], inner = product(shape, 2, shape.size());
  const double epsilon = c.node.floatAttr("epsilon", 1e-5f);
  KernelBuilder &b = c.b;
  llvm::IRBuilder<> &ir = b.ir();

  // y = x * factor[ch] + shift[ch]: factor = scale / sqrt(var + eps), shift = bias - mean * factor.
  Value *factors = nullptr, *shifts = nullptr;
  const ir::Tensor *scale = c.constantInput(1), *bias = c.constantInput(2), *mean = c.constantInput(3),
                   *var = c.constantInput(4);
  if (scale && bias && mean && var) {
    std::vector<double> f(static_cast<size_t>(channels)), s(static_cast<size_t>(channels));
    for (int64_t ch = 0; ch < channels; ++ch) {
      size_t k = static_cast<size_t>(ch);
      f[k] = scale->elementAsDouble(ch) / std::sqrt(var->elementAsDouble(ch) + epsilon);
      s[k] = bias->elementAsDouble(ch) - mean->elementAsDouble(ch) * f[k];
    }
    factors = constantArray(b, dtype, f, "batchnorm_factor");
    shifts = constantArray(b, dtype, s, "batchnorm_shift");
  }
  const bool folded = factors != nullptr;
  std::vector<Value *> pointers = {c.inputs[0], c.outputs[0]};
  if (folded) {
    pointers.push_back(factors);
    pointers.push_back(shifts);
  } else {
    for (size_t i = 1; i < 5; ++i) pointers.push_back(c.inputs[i]);
  }
  const int64_t rows = batch * channels;
  const bool parallel = rows * inner >= b.target().parallelSliceElements;
  forRange(b, rows, parallel, pointers, [&](Value *r, const std::vector<Value *> &p) {
    Value *ch = ir.CreateURem(r, b.i64(channels));
    Value *factor = nullptr, *shift = nullptr;
    if (folded) {
      factor = b.load(dtype, p[2], ch);
      shift = b.load(dtype, p[3], ch);
    } else {
      llvm::Type *scalar = b.scalarType(dtype);
      Value *v = ir.CreateFAdd(b.load(dtype, p[5], ch), fconst(scalar, epsilon));
      factor = ir.CreateFDiv(b.load(dtype, p[2], ch), emitSqrt(b, v));
      shift = ir.CreateFSub(b.load(dtype, p[3], ch), ir.CreateFMul(b.load(dtype, p[4], ch), factor));
    }
    RowReducer writer(b, {}, floatWidth(b, dtype));
    writer.fold(dtype, p[0], ir.CreateMul(r, b.i64(inner)), inner, [&](Value *v, Value *, Value *offset) {
      storeLanes(b, dtype, fma(b, v, bcast(b, factor, v), bcast(b, shift, v)), p[1], offset);
      return std::vector<Value *>{};
    });
  });
  return Status::ok();
}

// --- InstanceNormalization and GroupNormalization ---------------------------------------------------------

/// Normalizes groups of `channelsPerGroup` consecutive channels of an N x C x inner tensor with one mean and
/// variance per (n, group); parameter p of channel ch is scale[paramOf(ch)], bias[paramOf(ch)].
void emitGroupedNorm(KernelContext &c, int64_t groups, bool perChannelParams) {
  const Shape &shape = c.inputType(0).shape;
  const DType dtype = c.inputType(0).dtype;
  const int64_t batch = shape[0], channels = shape[1], inner = product(shape, 2, shape.size());
  const int64_t perGroup = channels / groups;
  const double epsilon = c.node.floatAttr("epsilon", 1e-5f);
  KernelBuilder &b = c.b;
  llvm::IRBuilder<> &ir = b.ir();
  const int64_t count = batch * groups;
  const bool parallel = batch * channels * inner >= b.target().parallelSliceElements;
  forRange(b, count, parallel, {c.inputs[0], c.outputs[0], c.inputs[1], c.inputs[2]},
           [&](Value *index, const std::vector<Value *> &p) {
             Value *group = ir.CreateURem(index, b.i64(groups));
             Value *base = ir.CreateMul(index, b.i64(perGroup * inner));
             Moments m = rowMoments(b, dtype, p[0], base, perGroup * inner, epsilon);
             b.loop(perGroup, [&](Value *ch) {
               Value *param = perChannelParams ? ir.CreateAdd(ir.CreateMul(group, b.i64(perGroup)), ch) : group;
               Value *factor = ir.CreateFMul(m.invStd, b.load(dtype, p[2], param));
               Value *shift = b.load(dtype, p[3], param);
               normalizeRow(b, dtype, p[0], p[1], ir.CreateAdd(base, ir.CreateMul(ch, b.i64(inner))), inner, m.mean,
                            factor, shift);
             });
           });
}

Status emitInstanceNormalization(KernelContext &c) {
  FLUIDML_RETURN_IF_ERROR(requireFloat(c, 0));
  const Shape &shape = c.inputType(0).shape;
  if (shape.size() < 3) return Status::error("input must have rank 3 or more");
  emitGroupedNorm(c, shape[1], true);
  return Status::ok();
}

Status emitGroupNormalization(KernelContext &c) {
  FLUIDML_RETURN_IF_ERROR(requireFloat(c, 0));
  const Shape &shape = c.inputType(0).shape;
  if (shape.size() < 2) return Status::error("X must have rank 2 or more");
  const int64_t groups = c.node.intAttr("num_groups", 0);
  if (groups <= 0 || shape[1] % groups != 0)
    return Status::error("num_groups " + std::to_string(groups) + " does not divide " + std::to_string(shape[1]) +
                         " channels");
  emitGroupedNorm(c, groups, c.opset >= 21);
  return Status::ok();
}

// --- reductions over a set of axes --------------------------------------------------------------------------

/// The input with size-1 dims dropped and adjacent dims of the same kind merged. The output keeps the kept dims
/// in order, so kept dims index the output row-major.
struct ReduceLayout {
  Shape keptShape;                  // kept dims, outermost first (the innermost one last when innerKept)
  std::vector<int64_t> keptStrides; // their input strides
  Shape nestShape;                  // reduced dims walked as a loop nest (all of them, or all but the run)
  std::vector<int64_t> nestStrides;
  int64_t run = 1;                  // innerReduced: length of the contiguous innermost reduced run
  bool innerReduced = false;
  int64_t reducedCount = 1;         // elements folded into each output
};

ReduceLayout makeReduceLayout(const Shape &shape, const std::vector<bool> &reduced) {
  std::vector<std::pair<int64_t, bool>> merged;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 1) continue;
    if (!merged.empty() && merged.back().second == reduced[d])
      merged.back().first *= shape[d];
    else
      merged.emplace_back(shape[d], reduced[d]);
  }
  if (merged.empty()) merged.emplace_back(1, false);
  ReduceLayout layout;
  std::vector<int64_t> strides(merged.size());
  int64_t stride = 1;
  for (size_t i = merged.size(); i-- > 0;) {
    strides[i] = stride;
    stride *= merged[i].first;
  }
  layout.innerReduced = merged.back().second;
  for (size_t i = 0; i < merged.size(); ++i) {
    bool last = i + 1 == merged.size();
    if (merged[i].second) {
      layout.reducedCount *= merged[i].first;
      if (last) {
        layout.run = merged[i].first;
      } else {
        layout.nestShape.push_back(merged[i].first);
        layout.nestStrides.push_back(strides[i]);
      }
    } else {
      layout.keptShape.push_back(merged[i].first);
      layout.keptStrides.push_back(strides[i]);
    }
  }
  return layout;
}

/// body(offset) for every element offset base + nest offset of the reduction nest (once when it is empty).
void forEachNest(KernelBuilder &b, const ReduceLayout &layout, Value *base,
                 const std::function<void(Value *offset)> &body) {
  if (layout.nestShape.empty()) {
    body(base);
    return;
  }
  if (ir::shapeNumel(layout.nestShape) == 0) return;
  b.loopNest(layout.nestShape, [&](const std::vector<Value *> &index) {
    body(b.ir().CreateAdd(base, b.linearIndex(index, layout.nestStrides)));
  });
}

/// Reduction slots: an output element (innerReduced) or lanes of adjacent outputs along the innermost kept dim.
struct ReduceSlot {
  KernelBuilder &b;
  const ReduceLayout &layout;
  DType dtype;
  int width;         // vector width for runs (innerReduced) or lanes of outputs
  Value *inBase;     // input element offset of the slot's first element
  Value *outOffset;  // output element offset of the slot's (first) output
  std::vector<Value *> ptrs;

  /// One pass over every element folded into this slot; results are scalars (innerReduced) or lanes.
  std::vector<Value *> pass(DType loadType, Value *src, const std::vector<Fold> &folds, const Step &step) const {
    if (layout.innerReduced) {
      RowReducer reducer(b, folds, width);
      reducer.init();
      forEachNest(b, layout, inBase, [&](Value *offset) { reducer.fold(loadType, src, offset, layout.run, step); });
      return reducer.finish();
    }
    LaneReducer reducer(b, folds, width);
    reducer.init();
    forEachNest(b, layout, inBase, [&](Value *offset) { reducer.fold(loadType, src, b.i64(0), offset, step); });
    return reducer.finish();
  }
};

void forEachReduceSlot(KernelBuilder &b, const ReduceLayout &layout, DType dtype, int vectorWidth, int64_t inputNumel,
                       const std::vector<Value *> &pointers, const std::function<void(ReduceSlot &)> &body) {
  const bool parallel = inputNumel >= b.target().parallelSliceElements;
  llvm::IRBuilder<> &ir = b.ir();
  if (layout.innerReduced) {
    const int64_t outputs = ir::shapeNumel(layout.keptShape);
    forRange(b, outputs, parallel, pointers, [&](Value *o, const std::vector<Value *> &ptrs) {
      Value *base = b.linearIndex(unflatten(b, o, layout.keptShape), layout.keptStrides);
      ReduceSlot slot{b, layout, dtype, vectorWidth, base, o, ptrs};
      body(slot);
    });
    return;
  }
  // The innermost kept dim (stride 1 in input and output) is split into lanes.
  Shape outerKept(layout.keptShape.begin(), layout.keptShape.end() - 1);
  std::vector<int64_t> outerStrides(layout.keptStrides.begin(), layout.keptStrides.end() - 1);
  const int64_t inner = layout.keptShape.back();
  const int64_t w = inner >= vectorWidth ? vectorWidth : 1;
  const int64_t full = w > 1 ? inner / w : 0;
  const int64_t leftover = inner - full * w;
  const int64_t chunks = full + leftover;
  const int64_t outers = ir::shapeNumel(outerKept);
  forRange(b, outers * chunks, parallel, pointers, [&](Value *index, const std::vector<Value *> &ptrs) {
    Value *o = chunks == 1 ? index : ir.CreateUDiv(index, b.i64(chunks));
    Value *cidx = chunks == 1 ? b.i64(0) : ir.CreateURem(index, b.i64(chunks));
    Value *outerBase = outerKept.empty() ? b.i64(0) : b.linearIndex(unflatten(b, o, outerKept), outerStrides);
    auto emit = [&](Value *j, int width) {
      ReduceSlot slot{b, layout, dtype, width, ir.CreateAdd(outerBase, j),
                      ir.CreateAdd(ir.CreateMul(o, b.i64(inner)), j), ptrs};
      body(slot);
    };
    if (full == 0) {
      emit(cidx, 1);
    } else if (leftover == 0) {
      emit(ir.CreateMul(cidx, b.i64(w)), static_cast<int>(w));
    } else {
      ifElse(
          b, ir.CreateICmpULT(cidx, b.i64(full)), [&] { emit(ir.CreateMul(cidx, b.i64(w)), static_cast<int>(w)); },
          [&] { emit(ir.CreateAdd(cidx, b.i64(full * (w - 1))), 1); });
    }
  });
}

enum class ReduceKind { Sum, Mean, Max, Min, Prod, L1, L2, SumSquare, LogSum, LogSumExp };

int64_t axesInputOpset(ReduceKind kind) { return kind == ReduceKind::Sum ? 13 : 18; }

bool isUnsigned(DType dtype) { return dtype == DType::UInt8 || dtype == DType::Bool; }

template <ReduceKind kKind>
Status emitReduce(KernelContext &c) {
  KernelBuilder &b = c.b;
  llvm::IRBuilder<> &ir = b.ir();
  const ir::TensorType &inType = c.inputType(0);
  const DType dtype = inType.dtype;
  const bool isFloat = ir::isFloating(dtype);
  const Shape &shape = inType.shape;
  const int64_t rank = static_cast<int64_t>(shape.size());

  std::optional<std::vector<int64_t>> axes = c.node.intsAttr("axes");
  if (!axes && c.opset >= axesInputOpset(kKind) && c.hasInput(1)) {
    const ir::Tensor *constant = c.constantInput(1);
    if (constant == nullptr) return Status::error(c.node.opType + ": axes must be a compile-time constant");
    axes = constant->toInt64Vector();
  }
  const bool noop = c.node.intAttr("noop_with_empty_axes", 0) != 0;
  std::vector<bool> reduced(static_cast<size_t>(rank), false);
  if (!axes || axes->empty()) {
    if (noop) {
      // A copy (the output has the input's shape).
      size_t bytes = inType.bytes();
      if (bytes > 0) b.ir().CreateMemMove(c.outputs[0], llvm::MaybeAlign(1), c.inputs[0], llvm::MaybeAlign(1), bytes);
      return Status::ok();
    }
    reduced.assign(static_cast<size_t>(rank), true);
  } else {
    FLUIDML_ASSIGN_OR_RETURN(std::vector<int64_t> normalized, ops::normalizeAxes(*axes, rank));
    for (int64_t a : normalized) reduced[static_cast<size_t>(a)] = true;
  }
  const int64_t outCount = c.outputType(0).numel();
  if (outCount == 0) return Status::ok();
  if (!isFloat && (kKind == ReduceKind::L2 || kKind == ReduceKind::LogSum || kKind == ReduceKind::LogSumExp))
    return Status::error(c.node.opType + " does not support " + std::string(ir::dtypeName(dtype)) + " inputs");

  // Reductions walk the input in physical order; the output keeps the kept dims in that order
  // (checkReduceLayouts), so they index it row-major as before.
  Shape physical;
  std::vector<bool> physicalReduced;
  for (int d : inType.layout.outerOrder(shape.size())) {
    physical.push_back(shape[static_cast<size_t>(d)]);
    physicalReduced.push_back(reduced[static_cast<size_t>(d)]);
  }
  const ReduceLayout layout = makeReduceLayout(physical, physicalReduced);
  // Accumulators: the float type itself, int64 for integers (sums and products wrap as in the reference).
  llvm::Type *accType = isFloat ? b.scalarType(dtype) : ir.getInt64Ty();
  const int width = isFloat ? floatWidth(b, dtype) : b.target().lanes(8);  // int64 accumulators
  auto widen = [&](Value *x) -> Value * {
    if (isFloat) return x;
    llvm::Type *target = withWidth(ir.getInt64Ty(), widthOf(x));
    if (dtype == DType::Int64) return x;
    return isUnsigned(dtype) ? ir.CreateZExt(x, target) : ir.CreateSExt(x, target);
  };
  auto add = [&](Value *a, Value *x) { return isFloat ? ir.CreateFAdd(a, x) : ir.CreateAdd(a, x); };
  auto mul = [&](Value *a, Value *x) { return isFloat ? ir.CreateFMul(a, x) : ir.CreateMul(a, x); };
  // Max/Min: NaN wins and sticks (as the reference).
  auto pick = [&](bool isMax) {
    return [&, isMax](Value *a, Value *x) -> Value * {
      if (isFloat) {
        Value *better = isMax ? ir.CreateFCmpOGT(x, a) : ir.CreateFCmpOLT(x, a);
        Value *chosen = ir.CreateSelect(better, x, a);
        return ir.CreateSelect(ir.CreateFCmpUNO(x, x), x, chosen);
      }
      return ir.CreateSelect(isMax ? ir.CreateICmpSGT(x, a) : ir.CreateICmpSLT(x, a), x, a);
    };
  };
  auto constantAcc = [&](double v) -> Value * {
    return isFloat ? fconst(accType, v) : static_cast<Value *>(llvm::ConstantInt::get(accType, static_cast<int64_t>(v), true));
  };
  Value *init = nullptr;
  Combine combine;
  std::function<Value *(Value *)> map = [](Value *x) { return x; };
  const double inf = std::numeric_limits<double>::infinity();
  int64_t intLowest = 0, intHighest = 0;
  switch (dtype) {
    case DType::Int64: intLowest = std::numeric_limits<int64_t>::min(); intHighest = std::numeric_limits<int64_t>::max(); break;
    case DType::Int32: intLowest = std::numeric_limits<int32_t>::min(); intHighest = std::numeric_limits<int32_t>::max(); break;
    case DType::Int8: intLowest = -128; intHighest = 127; break;
    case DType::UInt8: intLowest = 0; intHighest = 255; break;
    case DType::Bool: intLowest = 0; intHighest = 1; break;
    default: break;
  }
  switch (kKind) {
    case ReduceKind::Max:
    case ReduceKind::LogSumExp:
      init = isFloat ? fconst(accType, -inf) : llvm::ConstantInt::get(accType, intLowest, true);
      combine = pick(true);
      break;
    case ReduceKind::Min:
      init = isFloat ? fconst(accType, inf) : llvm::ConstantInt::get(accType, intHighest, true);
      combine = pick(false);
      break;
    case ReduceKind::Prod:
      init = constantAcc(1.0);
      combine = mul;
      break;
    case ReduceKind::L1:
      init = constantAcc(0.0);
      combine = add;
      map = [&](Value *x) -> Value * {
        if (isFloat) return ir.CreateUnaryIntrinsic(llvm::Intrinsic::fabs, x);
        Value *negative = ir.CreateICmpSLT(x, llvm::Constant::getNullValue(x->getType()));
        return ir.CreateSelect(negative, ir.CreateNeg(x), x);
      };
      break;
    case ReduceKind::L2:
    case ReduceKind::SumSquare:
      init = constantAcc(0.0);
      combine = add;
      map = [&](Value *x) { return mul(x, x); };
      break;
    default:  // Sum, Mean, LogSum
      init = constantAcc(0.0);
      combine = add;
      break;
  }
  const int64_t count = layout.reducedCount;
  Value *outPtr = c.outputs[0];
  forEachReduceSlot(b, layout, dtype, width, inType.numel(), {c.inputs[0], outPtr}, [&](ReduceSlot &slot) {
    Value *src = slot.ptrs[0], *dst = slot.ptrs[1];
    Value *acc = slot.pass(dtype, src, {Fold{init, combine}}, [&](Value *x, Value *, Value *) {
      return std::vector<Value *>{map(widen(x))};
    })[0];
    Value *result = acc;
    llvm::Type *resultType = acc->getType();
    if constexpr (kKind == ReduceKind::LogSumExp) {
      Value *max = acc;
      Fold sumFold{fconst(accType, 0.0), [&](Value *a, Value *x) { return ir.CreateFAdd(a, x); }};
      Value *sum = slot.pass(dtype, src, {sumFold}, [&](Value *x, Value *, Value *) {
        return std::vector<Value *>{emitExp(b, ir.CreateFSub(x, bcast(b, max, x)))};
      })[0];
      // A non-finite max (empty, all -inf, +inf or NaN) already is the answer.
      Value *finite = ir.CreateFCmpOLT(ir.CreateUnaryIntrinsic(llvm::Intrinsic::fabs, max), fconst(resultType, inf));
      result = ir.CreateSelect(finite, ir.CreateFAdd(max, emitLog(b, sum)), max);
    } else if constexpr (kKind == ReduceKind::Mean) {
      if (isFloat) {
        result = ir.CreateFDiv(acc, fconst(resultType, static_cast<double>(count)));
      } else {
        result = count == 0 ? llvm::Constant::getNullValue(resultType)
                            : ir.CreateSDiv(acc, llvm::ConstantInt::get(resultType, count));
      }
    } else if constexpr (kKind == ReduceKind::L2) {
      result = emitSqrt(b, acc);
    } else if constexpr (kKind == ReduceKind::LogSum) {
      result = emitLog(b, acc);
    }
    if (!isFloat && dtype != DType::Int64) result = ir.CreateTrunc(result, laneType(b, dtype, widthOf(result)));
    storeLanes(b, dtype, result, dst, slot.outOffset);
  });
  return Status::ok();
}

// --- ArgMax / ArgMin ----------------------------------------------------------------------------------------

template <bool kMax>
Status emitArg(KernelContext &c) {
  const ir::TensorType &inType = c.inputType(0);
  const Shape &shape = inType.shape;
  if (shape.empty()) return Status::error(c.node.opType + " needs an input of rank 1 or more");
  FLUIDML_ASSIGN_OR_RETURN(int64_t axis,
                           ops::normalizeAxis(c.node.intAttr("axis", 0), static_cast<int64_t>(shape.size())));
  size_t a = static_cast<size_t>(axis);
  if (shape[a] == 0) return Status::error(c.node.opType + " over an empty axis has no answer");
  const bool selectLast = c.node.intAttr("select_last_index", 0) != 0;
  AxisGeom g{product(shape, 0, a), shape[a], product(shape, a + 1, shape.size())};
  const DType dtype = inType.dtype;
  const bool isFloat = ir::isFloating(dtype);
  KernelBuilder &b = c.b;
  const int indexLanes = b.target().lanes(8);  // int64 index lanes
  const int vectorWidth = g.inner >= indexLanes ? indexLanes : 1;
  forEachSlice(b, dtype, g, false, vectorWidth, {c.inputs[0], c.outputs[0]}, [&](Slice &s) {
    llvm::IRBuilder<> &ir = b.ir();
    llvm::Type *valueType = laneType(b, dtype, s.width);
    llvm::Type *indexType = withWidth(ir.getInt64Ty(), s.width);
    llvm::AllocaInst *best = entryAlloca(b, valueType);
    llvm::AllocaInst *bestIndex = entryAlloca(b, indexType);
    ir.CreateStore(loadLanes(b, dtype, s.ptrs[0], s.base, s.width), best);
    ir.CreateStore(llvm::Constant::getNullValue(indexType), bestIndex);
    if (s.n > 1)
      b.loop(b.i64(1), b.i64(s.n), 1, [&](Value *k) {
        Value *x = loadLanes(b, dtype, s.ptrs[0], ir.CreateAdd(s.base, ir.CreateMul(k, b.i64(s.stride))), s.width);
        Value *current = ir.CreateLoad(valueType, best);
        Value *better = nullptr;
        if (isFloat) {
          Value *strict = kMax ? ir.CreateFCmpOGT(x, current) : ir.CreateFCmpOLT(x, current);
          if (selectLast) strict = ir.CreateOr(strict, ir.CreateFCmpOEQ(x, current));
          Value *xNan = ir.CreateFCmpUNO(x, x), *bestNan = ir.CreateFCmpUNO(current, current);
          // best NaN: only a later NaN with select_last_index; x NaN: always; else the comparison.
          Value *whenBestNan = selectLast ? xNan : llvm::Constant::getNullValue(xNan->getType());
          better = ir.CreateSelect(bestNan, whenBestNan, ir.CreateOr(xNan, strict));
        } else {
          bool u = isUnsigned(dtype);
          Value *strict = kMax ? (u ? ir.CreateICmpUGT(x, current) : ir.CreateICmpSGT(x, current))
                               : (u ? ir.CreateICmpULT(x, current) : ir.CreateICmpSLT(x, current));
          better = selectLast ? ir.CreateOr(strict, ir.CreateICmpEQ(x, current)) : strict;
        }
        ir.CreateStore(ir.CreateSelect(better, x, current), best);
        Value *index = ir.CreateLoad(indexType, bestIndex);
        ir.CreateStore(ir.CreateSelect(better, splat(b, k, s.width), index), bestIndex);
      });
    Value *outOffset = ir.CreateAdd(ir.CreateMul(s.outer, b.i64(g.inner)), s.column);
    storeLanes(b, DType::Int64, ir.CreateLoad(indexType, bestIndex), s.ptrs[1], outOffset);
  });
  return Status::ok();
}

// --- MeanVarianceNormalization ----------------------------------------------------------------------------

/// Y = (X - mean) / (sqrt(variance) + 1e-9) over `axes` (default {0, 2, 3}), the ONNX function body: mean,
/// then variance of the centered values, then the write, each a pass over the group's elements.
Status emitMeanVarianceNormalization(KernelContext &c) {
  FLUIDML_RETURN_IF_ERROR(requireFloat(c, 0));
  const Shape &shape = c.inputType(0).shape;
  const int64_t rank = static_cast<int64_t>(shape.size());
  std::vector<int64_t> axes = c.node.intsAttr("axes").value_or(std::vector<int64_t>{0, 2, 3});
  FLUIDML_ASSIGN_OR_RETURN(std::vector<int64_t> normalized, ops::normalizeAxes(axes, rank));
  std::vector<bool> reduced(static_cast<size_t>(rank), false);
  for (int64_t a : normalized) reduced[static_cast<size_t>(a)] = true;
  if (c.inputType(0).numel() == 0) return Status::ok();
  const ReduceLayout layout = makeReduceLayout(shape, reduced);
  const DType dtype = c.inputType(0).dtype;
  KernelBuilder &b = c.b;
  llvm::IRBuilder<> &ir = b.ir();
  llvm::Type *scalar = b.scalarType(dtype);
  const double inverseCount = 1.0 / static_cast<double>(layout.reducedCount);
  forEachReduceSlot(b, layout, dtype, floatWidth(b, dtype), c.inputType(0).numel(), {c.inputs[0], c.outputs[0]},
                    [&](ReduceSlot &slot) {
                      Value *x = slot.ptrs[0], *y = slot.ptrs[1];
                      Combine add = [&](Value *a, Value *v) { return ir.CreateFAdd(a, v); };
                      Fold sum{fconst(scalar, 0.0), add};
                      Value *total = slot.pass(dtype, x, {sum}, [](Value *v, Value *, Value *) {
                        return std::vector<Value *>{v};
                      })[0];
                      Value *mean = ir.CreateFMul(total, fconst(total->getType(), inverseCount));
                      Value *squares = slot.pass(dtype, x, {sum}, [&](Value *v, Value *, Value *) {
                        Value *d = ir.CreateFSub(v, bcast(b, mean, v));
                        return std::vector<Value *>{ir.CreateFMul(d, d)};
                      })[0];
                      Value *variance = ir.CreateFMul(squares, fconst(squares->getType(), inverseCount));
                      Value *denominator =
                          ir.CreateFAdd(emitSqrt(b, variance), fconst(variance->getType(), 1e-9));
                      slot.pass(dtype, x, {}, [&](Value *v, Value *, Value *offset) {
                        Value *d = ir.CreateFSub(v, bcast(b, mean, v));
                        storeLanes(b, dtype, ir.CreateFDiv(d, bcast(b, denominator, v)), y, offset);
                        return std::vector<Value *>{};
                      });
                    });
  return Status::ok();
}

}  // namespace

/// Softmax, LogSoftmax and Hardmax (opset 13 on: one axis) read any permutation that their output shares.
Status checkSoftmaxLayouts(const ir::Graph &graph, const ir::Node &node) {
  const ir::TensorType &in = graph.value(node.inputs[0]).type;
  const ir::TensorType &out = graph.value(node.outputs[0]).type;
  if (in.layout.isRowMajor() && out.layout.isRowMajor()) return Status::ok();
  if (graph.opsetVersion(node.domain) < 13)
    return Status::error("permuted layouts need the opset-13 form (one axis); opset " +
                         std::to_string(graph.opsetVersion(node.domain)) + " flattens the trailing dims");
  if (!(in.layout == out.layout))
    return Status::error("input " + in.layout.toString(in.rank()) + " and output " + out.layout.toString(out.rank()) +
                         " must share one layout");
  return Status::ok();
}

/// Reductions read any permutation; the output must keep the kept dims in the input's physical order.
Status checkReduceLayouts(const ir::Graph &graph, const ir::Node &node) {
  const ir::TensorType &in = graph.value(node.inputs[0]).type;
  const ir::TensorType &out = graph.value(node.outputs[0]).type;
  if (in.layout.isRowMajor() && out.layout.isRowMajor()) return Status::ok();
  const int64_t rank = static_cast<int64_t>(in.rank());
  std::optional<std::vector<int64_t>> axes = node.intsAttr("axes");
  if (!axes && node.hasInput(1) && graph.value(node.inputs[1]).isConstant())
    axes = graph.value(node.inputs[1]).constant.toInt64Vector();
  std::vector<bool> reduced(in.rank(), !axes || axes->empty());
  if (axes && axes->empty() && node.intAttr("noop_with_empty_axes", 0) != 0) reduced.assign(in.rank(), false);
  if (axes)
    for (int64_t a : *axes)
      if (a >= -rank && a < rank) reduced[static_cast<size_t>(a < 0 ? a + rank : a)] = true;
  const bool keep = node.intAttr("keepdims", 1) != 0 || out.rank() == in.rank();
  // The input's kept dims (extent > 1) in physical order, named by their output dim; then the output's own.
  std::vector<int> expected, actual;
  for (int d : in.layout.outerOrder(in.rank())) {
    if (reduced[static_cast<size_t>(d)] || in.shape[static_cast<size_t>(d)] == 1) continue;
    int outDim = d;
    if (!keep) outDim -= static_cast<int>(std::count(reduced.begin(), reduced.begin() + d, true));
    expected.push_back(outDim);
  }
  for (int d : out.layout.outerOrder(out.rank()))
    if (out.shape[static_cast<size_t>(d)] != 1) actual.push_back(d);
  if (expected == actual) return Status::ok();
  return Status::error("output " + out.layout.toString(out.rank()) + " does not keep the kept dims in the order of " +
                       "input " + in.layout.toString(in.rank()));
}

/// LayerNormalization normalizes contiguous rows: a permutation that keeps the normalized dims innermost, in
/// order, only reorders the rows (each normalized alike). Input and output share it; Mean and InvStdDev, one
/// value per row, are then only written for row-major inputs.
Status checkLayerNormLayouts(const ir::Graph &graph, const ir::Node &node) {
  const ir::TensorType &in = graph.value(node.inputs[0]).type;
  const ir::TensorType &out = graph.value(node.outputs[0]).type;
  for (size_t k = 1; k < node.outputs.size(); ++k)  // one value per row, in the rows' row-major order
    if (node.outputs[k] != ir::kNoValue && !graph.value(node.outputs[k]).type.layout.isRowMajor())
      return Status::error("Mean and InvStdDev are written row-major only");
  for (size_t k = 1; k < node.inputs.size(); ++k)  // indexed by the position in a normalized row
    if (node.inputs[k] != ir::kNoValue && !graph.value(node.inputs[k]).type.layout.isRowMajor())
      return Status::error("Scale and B are read row-major only");
  if (in.layout.isRowMajor() && out.layout.isRowMajor()) return Status::ok();
  const int64_t rank = static_cast<int64_t>(in.rank());
  int64_t axis = node.intAttr("axis", -1);
  if (axis < 0) axis += rank;
  const std::vector<int> order = in.layout.outerOrder(in.rank());
  bool suffixKept = in.layout == out.layout && axis >= 0 && axis <= rank;
  for (int64_t d = axis; suffixKept && d < rank; ++d)
    suffixKept = order[static_cast<size_t>(d)] == d;
  if (!suffixKept)
    return Status::error("input " + in.layout.toString(in.rank()) + " and output " + out.layout.toString(out.rank()) +
                         " must share one layout that keeps the normalized dims innermost, in order");
  for (size_t k = 1; k < node.outputs.size(); ++k)
    if (node.outputs[k] != ir::kNoValue)
      return Status::error("Mean and InvStdDev are written for row-major inputs only");
  return Status::ok();
}

void registerNormalizationLowerings(LoweringTable &table) {
  table.add("Softmax", emitSoftmax<SoftmaxKind::Softmax>);
  table.add("LogSoftmax", emitSoftmax<SoftmaxKind::LogSoftmax>);
  table.add("Hardmax", emitHardmax);
  table.add("LpNormalization", emitLpNormalization);
  table.add("LayerNormalization", emitLayerNormalization);
  table.add("BatchNormalization", emitBatchNormalization);
  table.add("InstanceNormalization", emitInstanceNormalization);
  table.add("GroupNormalization", emitGroupNormalization);
  table.add("MeanVarianceNormalization", emitMeanVarianceNormalization);
  table.add("ReduceSum", emitReduce<ReduceKind::Sum>);
  table.add("ReduceMean", emitReduce<ReduceKind::Mean>);
  table.add("ReduceMax", emitReduce<ReduceKind::Max>);
  table.add("ReduceMin", emitReduce<ReduceKind::Min>);
  table.add("ReduceProd", emitReduce<ReduceKind::Prod>);
  table.add("ReduceL1", emitReduce<ReduceKind::L1>);
  table.add("ReduceL2", emitReduce<ReduceKind::L2>);
  table.add("ReduceSumSquare", emitReduce<ReduceKind::SumSquare>);
  table.add("ReduceLogSum", emitReduce<ReduceKind::LogSum>);
  table.add("ReduceLogSumExp", emitReduce<ReduceKind::LogSumExp>);
  table.add("ArgMax", emitArg<true>);
  table.add("ArgMin", emitArg<false>);
  for (const char *op : {"Softmax", "LogSoftmax", "Hardmax"})
    table.declareLayouts("", op, LayoutSupport::Permuted, &checkSoftmaxLayouts);
  for (const char *op : {"ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2",
                         "ReduceSumSquare", "ReduceLogSum", "ReduceLogSumExp"})
    table.declareLayouts("", op, LayoutSupport::Permuted, &checkReduceLayouts);
  table.declareLayouts("", "LayerNormalization", LayoutSupport::Permuted, &checkLayerNormLayouts);
}

}  // namespace fluidml::codegen
