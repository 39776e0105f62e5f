// Lowering of the elementwise family (core/ops/elementwise.cpp is the semantics), and the strided loop-nest
// engine that the data-movement lowerings share.
//
// Engine: an op is a function of W lanes (Lanes) applied over an iteration space in which every operand is
// addressed by per-dimension element strides (from its layout, 0 on broadcast dims); the space is walked in the
// output's physical order, so permuted layouts (Layout::order) cost nothing extra. Dimensions of
// size 1 are dropped and adjacent dimensions that every operand walks contiguously are merged, so broadcasting
// is resolved at compile time and `[B,S,768] + [768]` is one loop over rows around one contiguous inner loop.
// The inner loop is vectorized explicitly (W = the target vector bytes / widest element) with a masked tail,
// so it stays vector code when an output is written in place over an input (where LLVM's own vectorizer would
// see possible aliasing and fall back to scalar code): lane i of every operand is read before lane i of the
// output is written. Operands broadcast along the inner dimension are loaded once per row and splatted. Big
// nests (> 64K elements) run on the thread pool: the outer dims (and, for few long rows, chunks of the inner
// dim) are shared out as one flat range.
//
// Math: exp, expm1, log, log1p, erf, tanh and sigmoid of float32 are branch-free IR (range reduction plus
// polynomials fitted offline by least squares on Chebyshev nodes; coefficients below), vectorizable and within
// about 1-2 ulp of glibc over the float range; other transcendental functions, and everything in float64,
// call libm exactly as the interpreter does. Integer arithmetic wraps; integer division and modulo by zero
// (an error in the interpreter) cannot trap: a zero divisor known at compile time is an error, at run time
// it divides by 1.
// Cost: O(output elements) per node; compile time O(rank) per node plus one loop nest.
#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include <llvm/IR/Intrinsics.h>

#include "core/codegen/lowering.h"
#include "core/codegen/vector_math.h"
#include "core/codegen/strided_nest.h"
#include "core/codegen/tiled_nest.h"
#include "core/ops/op_helpers.h"

namespace fluidml::codegen {

// ---- the strided nest engine (also used by lower_data_movement.cpp) ------------------------------------------

namespace nest {

/// IR over W lanes of one element each: W == 1 is plain scalar code, W > 1 vectors of W elements.
class Lanes {
 public:
  Lanes(KernelBuilder &kb, unsigned width) : kb(kb), ir(kb.ir()), width(width) {}

  KernelBuilder &kb;
  llvm::IRBuilder<> &ir;
  unsigned width;

  /// The lane type of a dtype (bool is i8 in memory).
  llvm::Type *type(ir::DType dtype) { return vec(kb.scalarType(dtype)); }
  llvm::Type *vec(llvm::Type *scalar) {
    return width == 1 ? scalar : llvm::FixedVectorType::get(scalar, width);
  }
  /// A constant of the type of `like` (splat for vectors).
  llvm::Value *fc(llvm::Value *like, double v) { return llvm::ConstantFP::get(like->getType(), v); }
  llvm::Value *ic(llvm::Value *like, int64_t v) { return intConstant(like->getType(), v); }
  /// An integer constant of `type` (splat for vectors) holding the low bits of v.
  static llvm::Value *intConstant(llvm::Type *type, int64_t v) {
    const unsigned bits = type->getScalarSizeInBits();
    return llvm::ConstantInt::get(type,
                                  llvm::APInt(bits, static_cast<uint64_t>(v) & llvm::maskTrailingOnes<uint64_t>(bits)));
  }
  llvm::Value *constant(ir::DType dtype, double v) {
    llvm::Type *t = type(dtype);
    if (ir::isFloating(dtype)) return llvm::ConstantFP::get(t, v);
    return intConstant(t, static_cast<int64_t>(v));
  }
  llvm::Value *splat(llvm::Value *scalar) { return width == 1 ? scalar : ir.CreateVectorSplat(width, scalar); }
  llvm::Value *boolOut(llvm::Value *i1) { return ir.CreateZExt(i1, type(ir::DType::Bool)); }
  llvm::Value *fma(llvm::Value *a, llvm::Value *b, llvm::Value *c) {
    return ir.CreateIntrinsic(llvm::Intrinsic::fma, {a->getType()}, {a, b, c});
  }
  llvm::Value *intrinsic(llvm::Intrinsic::ID id, llvm::Value *x) {
    return ir.CreateIntrinsic(id, {x->getType()}, {x});
  }
  llvm::Value *intrinsic(llvm::Intrinsic::ID id, llvm::Value *x, llvm::Value *y) {
    return ir.CreateIntrinsic(id, {x->getType()}, {x, y});
  }
  /// Horner evaluation of c[0] + c[1] t + ... with fused multiply-adds.
  llvm::Value *horner(llvm::Value *t, std::initializer_list<double> coefficients) {
    const double *c = coefficients.begin();
    size_t n = coefficients.size();
    llvm::Value *p = fc(t, c[n - 1]);
    for (size_t k = n - 1; k-- > 0;) p = fma(p, t, fc(t, c[k]));
    return p;
  }
  /// The integer vector type with the lanes of `like` and `bits`-bit elements.
  llvm::Type *intLike(llvm::Value *, unsigned bits) { return vec(ir.getIntNTy(bits)); }
};


namespace {

using ir::DType;
using ir::Shape;


struct Dim {
  int64_t size;
  std::vector<int64_t> strides;  // per operand: output first, then inputs
};

/// Drops size-1 dims and merges adjacent dims that every operand walks contiguously (outermost first).
std::vector<Dim> coalesce(const Shape &shape, const std::vector<const NestOperand *> &operands) {
  std::vector<Dim> dims;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 1) continue;
    Dim dim{shape[d], {}};
    for (const NestOperand *op : operands) dim.strides.push_back(op->strides[d]);
    if (!dims.empty()) {
      Dim &outer = dims.back();
      bool mergeable = true;
      for (size_t k = 0; k < operands.size(); ++k)
        mergeable = mergeable && outer.strides[k] == dim.strides[k] * dim.size;
      if (mergeable) {
        outer.size *= dim.size;
        outer.strides = dim.strides;
        continue;
      }
    }
    dims.push_back(std::move(dim));
  }
  return dims;
}

class NestEmitter {
 public:
  NestEmitter(KernelBuilder &b, const ir::Shape &shape, const NestOperand &out, const std::vector<NestOperand> &ins,
              const LaneFn &fn)
      : b_(b), fn_(fn) {
    operands_.push_back(&out);
    for (const NestOperand &in : ins) operands_.push_back(&in);
    numel_ = ir::shapeNumel(shape);
    dims_ = coalesce(shape, operands_);
    size_t widest = 1;
    for (const NestOperand *op : operands_) widest = std::max(widest, ir::dtypeSize(op->dtype));
    width_ = static_cast<unsigned>(static_cast<size_t>(b.target().vectorBytes) / widest);
  }

  void emit() {
    if (numel_ == 0) return;
    // The inner dim (or a single element) and the outer dims.
    Dim inner{1, std::vector<int64_t>(operands_.size(), 0)};
    if (!dims_.empty()) {
      inner = dims_.back();
      dims_.pop_back();
    }
    innerLength_ = inner.size;
    innerStrides_ = inner.strides;
    vectorInner_ = innerStrides_[0] == 1;
    for (size_t k = 1; k < innerStrides_.size(); ++k)
      vectorInner_ = vectorInner_ && (innerStrides_[k] == 0 || innerStrides_[k] == 1 || innerStrides_[k] == -1);
    if (innerLength_ == 1) vectorInner_ = false;

    int64_t rows = 1;
    for (const Dim &d : dims_) rows *= d.size;
    // Below the target's threshold, threads cost more than they save.
    const target::TargetDescription &target = b_.target();
    const bool parallel = numel_ >= target.parallelNestElements;
    int64_t tasks = parallel ? std::clamp<int64_t>(numel_ / target.elementsPerTask, 2, target.maxTasks) : 1;
    // Few long rows: cut the inner dim into chunks (a multiple of the vector width) that become an outer dim.
    chunkLength_ = innerLength_;
    if (parallel && rows < tasks && innerLength_ >= 2 * static_cast<int64_t>(width_)) {
      int64_t chunks = (tasks + rows - 1) / rows;
      int64_t length = (innerLength_ + chunks - 1) / chunks;
      length = (length + width_ - 1) / width_ * width_;
      chunks = (innerLength_ + length - 1) / length;
      if (chunks > 1) {
        chunkLength_ = length;
        Dim chunkDim{chunks, {}};
        for (int64_t s : innerStrides_) chunkDim.strides.push_back(s * length);
        dims_.push_back(chunkDim);
        chunkDim_ = static_cast<int>(dims_.size()) - 1;
      }
    }

    std::vector<llvm::Value *> pointers;
    for (const NestOperand *op : operands_) pointers.push_back(op->pointer);
    // The leading outer dims whose product reaches the task count are shared out.
    size_t shared = 0;
    int64_t units = 1;
    if (parallel)
      while (shared < dims_.size() && units < tasks) units *= dims_[shared++].size;
    if (units <= 1) {
      emitOuter(pointers, {}, 0);
      return;
    }
    b_.parallelLoop(units, pointers, [&](llvm::Value *unit, const std::vector<llvm::Value *> &captured) {
      // Unflatten the unit index into the shared dims (innermost last).
      std::vector<llvm::Value *> index(shared);
      llvm::Value *rest = unit;
      for (size_t d = shared; d-- > 0;) {
        if (d == 0) {
          index[d] = rest;
        } else {
          index[d] = b_.ir().CreateURem(rest, b_.i64(dims_[d].size));
          rest = b_.ir().CreateUDiv(rest, b_.i64(dims_[d].size));
        }
      }
      emitOuter(captured, index, shared);
    }, "ew");
  }

 private:
  /// Loops over the outer dims from `first` on, given the indices of the dims before it.
  void emitOuter(const std::vector<llvm::Value *> &pointers, std::vector<llvm::Value *> index, size_t first) {
    if (first == dims_.size()) {
      emitRow(pointers, index);
      return;
    }
    if (dims_[first].size == 1) {
      index.push_back(b_.i64(0));
      emitOuter(pointers, index, first + 1);
      return;
    }
    b_.loop(dims_[first].size, [&](llvm::Value *i) {
      std::vector<llvm::Value *> inner = index;
      inner.push_back(i);
      emitOuter(pointers, inner, first + 1);
    }, "o" + std::to_string(first));
  }

  /// One run of the inner dim at the outer position `index`.
  void emitRow(const std::vector<llvm::Value *> &pointers, const std::vector<llvm::Value *> &index) {
    llvm::IRBuilder<> &ir = b_.ir();
    std::vector<llvm::Value *> offsets;
    for (size_t k = 0; k < operands_.size(); ++k) {
      std::vector<int64_t> strides;
      for (const Dim &d : dims_) strides.push_back(d.strides[k]);
      llvm::Value *offset = b_.linearIndex(index, strides);
      if (operands_[k]->offset != 0) offset = ir.CreateAdd(offset, b_.i64(operands_[k]->offset), "", false, true);
      offsets.push_back(offset);
    }
    llvm::Value *length = b_.i64(chunkLength_);
    if (chunkDim_ >= 0 && innerLength_ % chunkLength_ != 0) {
      const int64_t chunks = dims_[static_cast<size_t>(chunkDim_)].size;
      llvm::Value *last = ir.CreateICmpEQ(index[static_cast<size_t>(chunkDim_)], b_.i64(chunks - 1));
      length = ir.CreateSelect(last, b_.i64(innerLength_ - (chunks - 1) * chunkLength_), length);
    }
    if (vectorInner_)
      emitVectorRow(pointers, offsets, length);
    else
      emitScalarRow(pointers, offsets, length);
  }

  llvm::Value *address(const std::vector<llvm::Value *> &pointers, size_t k, llvm::Value *element) {
    return b_.elementPtr(operands_[k]->dtype, pointers[k], element);
  }

  llvm::Value *apply(Lanes &lanes, const std::vector<llvm::Value *> &in) {
    llvm::Value *result = fn_(lanes, in);
    assert(result->getType() == lanes.type(operands_[0]->dtype) && "lane function returned the wrong type");
    return result;
  }

  void emitScalarRow(const std::vector<llvm::Value *> &pointers, const std::vector<llvm::Value *> &offsets,
                     llvm::Value *length) {
    llvm::IRBuilder<> &ir = b_.ir();
    Lanes lanes(b_, 1);
    auto body = [&](llvm::Value *i) {
      std::vector<llvm::Value *> in;
      for (size_t k = 1; k < operands_.size(); ++k) {
        llvm::Value *element = offsets[k];
        if (innerStrides_[k] != 0)
          element = ir.CreateAdd(element, innerStrides_[k] == 1 ? i : ir.CreateMul(i, b_.i64(innerStrides_[k])));
        in.push_back(ir.CreateLoad(b_.scalarType(operands_[k]->dtype), address(pointers, k, element)));
      }
      llvm::Value *element =
          innerStrides_[0] == 0
              ? offsets[0]
              : ir.CreateAdd(offsets[0], innerStrides_[0] == 1 ? i : ir.CreateMul(i, b_.i64(innerStrides_[0])));
      ir.CreateStore(apply(lanes, in), address(pointers, 0, element));
    };
    if (auto *c = llvm::dyn_cast<llvm::ConstantInt>(length); c != nullptr && c->getSExtValue() == 1)
      body(b_.i64(0));
    else
      b_.loop(b_.i64(0), length, 1, body, "e");
  }

  void emitVectorRow(const std::vector<llvm::Value *> &pointers, const std::vector<llvm::Value *> &offsets,
                     llvm::Value *length) {
    llvm::IRBuilder<> &ir = b_.ir();
    const unsigned w = width_;
    Lanes vector(b_, w);
    // Operands broadcast along the row: one load, splatted.
    std::vector<llvm::Value *> hoisted(operands_.size(), nullptr);
    bool reversed = false;
    for (size_t k = 1; k < operands_.size(); ++k) {
      if (innerStrides_[k] == 0)
        hoisted[k] = ir.CreateLoad(b_.scalarType(operands_[k]->dtype), address(pointers, k, offsets[k]));
      reversed = reversed || innerStrides_[k] == -1;
    }
    auto laneType = [&](size_t k) { return vector.type(operands_[k]->dtype); };
    auto align = [&](size_t k) { return llvm::Align(ir::dtypeSize(operands_[k]->dtype)); };

    llvm::Value *vectorEnd;
    if (auto *c = llvm::dyn_cast<llvm::ConstantInt>(length))
      vectorEnd = b_.i64(c->getSExtValue() / w * w);
    else
      vectorEnd = ir.CreateAnd(length, b_.i64(-static_cast<int64_t>(w)));

    b_.loop(b_.i64(0), vectorEnd, w, [&](llvm::Value *i) {
      std::vector<llvm::Value *> in;
      for (size_t k = 1; k < operands_.size(); ++k) {
        if (hoisted[k] != nullptr) {
          in.push_back(vector.splat(hoisted[k]));
        } else if (innerStrides_[k] == 1) {
          in.push_back(ir.CreateAlignedLoad(laneType(k), address(pointers, k, ir.CreateAdd(offsets[k], i)), align(k)));
        } else {  // stride -1: the W elements ending at offset - i, reversed
          llvm::Value *start = ir.CreateSub(offsets[k], ir.CreateAdd(i, b_.i64(w - 1)));
          llvm::Value *v = ir.CreateAlignedLoad(laneType(k), address(pointers, k, start), align(k));
          in.push_back(ir.CreateVectorReverse(v));
        }
      }
      ir.CreateAlignedStore(apply(vector, in), address(pointers, 0, ir.CreateAdd(offsets[0], i)), align(0));
    }, "v");

    // The tail: masked lanes, or scalar code when an operand runs backwards.
    auto *constantLength = llvm::dyn_cast<llvm::ConstantInt>(length);
    if (constantLength != nullptr && constantLength->getSExtValue() % w == 0) return;
    if (reversed) {
      Lanes scalar(b_, 1);
      b_.loop(vectorEnd, length, 1, [&](llvm::Value *i) {
        std::vector<llvm::Value *> in;
        for (size_t k = 1; k < operands_.size(); ++k) {
          llvm::Value *element = hoisted[k] != nullptr     ? offsets[k]
                                 : innerStrides_[k] == 1 ? ir.CreateAdd(offsets[k], i)
                                                         : ir.CreateSub(offsets[k], i);
          in.push_back(hoisted[k] != nullptr
                           ? hoisted[k]
                           : ir.CreateLoad(b_.scalarType(operands_[k]->dtype), address(pointers, k, element)));
        }
        ir.CreateStore(apply(scalar, in), address(pointers, 0, ir.CreateAdd(offsets[0], i)));
      }, "t");
      return;
    }
    auto emitMasked = [&]() {
      llvm::Value *remaining = ir.CreateSub(length, vectorEnd);
      llvm::Type *maskType = llvm::FixedVectorType::get(ir.getInt1Ty(), w);
      llvm::Value *mask = ir.CreateIntrinsic(llvm::Intrinsic::get_active_lane_mask, {maskType, ir.getInt64Ty()},
                                             {b_.i64(0), remaining});
      std::vector<llvm::Value *> in;
      for (size_t k = 1; k < operands_.size(); ++k) {
        if (hoisted[k] != nullptr) {
          in.push_back(vector.splat(hoisted[k]));
        } else {
          llvm::Value *p = address(pointers, k, ir.CreateAdd(offsets[k], vectorEnd));
          in.push_back(ir.CreateMaskedLoad(laneType(k), p, align(k), mask, llvm::Constant::getNullValue(laneType(k))));
        }
      }
      ir.CreateMaskedStore(apply(vector, in), address(pointers, 0, ir.CreateAdd(offsets[0], vectorEnd)), align(0),
                           mask);
    };
    if (constantLength != nullptr) {
      emitMasked();
      return;
    }
    llvm::Function *function = ir.GetInsertBlock()->getParent();
    llvm::BasicBlock *tail = llvm::BasicBlock::Create(b_.context(), "tail", function);
    llvm::BasicBlock *done = llvm::BasicBlock::Create(b_.context(), "tail.done", function);
    ir.CreateCondBr(ir.CreateICmpSLT(vectorEnd, length), tail, done);
    ir.SetInsertPoint(tail);
    emitMasked();
    ir.CreateBr(done);
    ir.SetInsertPoint(done);
  }

  KernelBuilder &b_;
  const LaneFn &fn_;
  std::vector<const NestOperand *> operands_;
  std::vector<Dim> dims_;  // outer dims (plus the chunk dim), outermost first
  int64_t numel_ = 0;
  unsigned width_ = 16;
  int64_t innerLength_ = 1;
  int64_t chunkLength_ = 1;
  int chunkDim_ = -1;
  std::vector<int64_t> innerStrides_;
  bool vectorInner_ = false;
};

}  // namespace

void emitStridedNest(KernelBuilder &b, const ir::Shape &shape, const NestOperand &out,
                     const std::vector<NestOperand> &ins, const LaneFn &fn, const std::vector<int> &order) {
  if (order.empty()) {
    NestEmitter(b, shape, out, ins, fn).emit();
    return;
  }
  assert(order.size() == shape.size() && "iteration order of another rank");
  auto permute = [&](const NestOperand &op) {
    NestOperand p = op;
    for (size_t i = 0; i < order.size(); ++i) p.strides[i] = op.strides[static_cast<size_t>(order[i])];
    return p;
  };
  Shape permuted(shape.size());
  for (size_t i = 0; i < order.size(); ++i) permuted[i] = shape[static_cast<size_t>(order[i])];
  std::vector<NestOperand> permutedIns;
  for (const NestOperand &in : ins) permutedIns.push_back(permute(in));
  NestEmitter(b, permuted, permute(out), permutedIns, fn).emit();
}

std::vector<int> physicalOrder(const ir::TensorType &type) { return type.layout.outerOrder(type.rank()); }

std::vector<int64_t> layoutStrides(const ir::TensorType &type) {
  assert(type.layout.isPermutation() && "blocked layouts are not strided: see emitLayoutNest");
  return type.layout.logicalStrides(type.shape);
}

std::vector<int64_t> broadcastLayoutStrides(const ir::TensorType &in, const ir::Shape &out) {
  const std::vector<int64_t> own = layoutStrides(in);
  std::vector<int64_t> strides(out.size(), 0);
  const size_t shift = out.size() - in.rank();
  for (size_t d = 0; d < in.rank(); ++d)
    if (in.shape[d] != 1) strides[d + shift] = own[d];
  return strides;
}

llvm::Value *laneSplat(Lanes &lanes, llvm::Value *scalar) { return lanes.splat(scalar); }

}  // namespace nest

namespace {

using nest::Lanes;
using nest::LaneFn;
using nest::NestOperand;
using nest::TiledOperand;
using nest::emitStridedNest;
using ir::DType;
using ir::Shape;

// ---- math of float32 lanes ---------------------------------------------------------------------------------

bool isF32(llvm::Value *x) { return x->getType()->getScalarType()->isFloatTy(); }

/// exp(r) - 1 for |r| <= ln2/2 (Taylor to degree 8: error below 2^-30 relative).
llvm::Value *expm1Kernel(Lanes &L, llvm::Value *r) {
  llvm::Value *p = L.horner(r, {1.0, 1.0 / 2, 1.0 / 6, 1.0 / 24, 1.0 / 120, 1.0 / 720, 1.0 / 5040, 1.0 / 40320});
  return L.ir.CreateFMul(r, p);
}

/// exp: n = round(x / ln2), r = x - n ln2 (two-constant Cody-Waite with FMA), exp(r) by Taylor to degree 7,
/// scaled by 2^n in two factors so that results down to the subnormals and up to overflow stay exact.
llvm::Value *expF32(Lanes &L, llvm::Value *x) {
  llvm::IRBuilder<> &ir = L.ir;
  llvm::Value *xc = L.intrinsic(llvm::Intrinsic::minnum, L.intrinsic(llvm::Intrinsic::maxnum, x, L.fc(x, -104.0)),
                                L.fc(x, 89.0));
  llvm::Value *n = L.intrinsic(llvm::Intrinsic::roundeven, ir.CreateFMul(xc, L.fc(x, 1.4426950408889634)));
  llvm::Value *negN = ir.CreateFNeg(n);
  llvm::Value *r = L.fma(negN, L.fc(x, 0.693145751953125), xc);
  r = L.fma(negN, L.fc(x, 1.428606765330187045e-06), r);
  llvm::Value *p = L.horner(r, {1.0, 1.0, 1.0 / 2, 1.0 / 6, 1.0 / 24, 1.0 / 120, 1.0 / 720, 1.0 / 5040});
  llvm::Type *i32 = L.intLike(x, 32);
  llvm::Value *ni = ir.CreateFPToSI(n, i32);
  llvm::Value *e1 = ir.CreateAShr(ni, L.ic(ni, 1));
  llvm::Value *e2 = ir.CreateSub(ni, e1);
  auto scale = [&](llvm::Value *e) {
    return ir.CreateBitCast(ir.CreateShl(ir.CreateAdd(e, L.ic(e, 127)), L.ic(e, 23)), x->getType());
  };
  llvm::Value *result = ir.CreateFMul(ir.CreateFMul(p, scale(e1)), scale(e2));
  return ir.CreateSelect(ir.CreateFCmpUNO(x, x), x, result);
}

/// expm1: the Taylor kernel near 0 (where exp(x) - 1 would cancel), exp(x) - 1 elsewhere.
llvm::Value *expm1F32(Lanes &L, llvm::Value *x) {
  llvm::IRBuilder<> &ir = L.ir;
  llvm::Value *small = ir.CreateFCmpOLT(L.intrinsic(llvm::Intrinsic::fabs, x), L.fc(x, 0.34657359027997264));
  llvm::Value *near = expm1Kernel(L, x);
  llvm::Value *far = ir.CreateFSub(expF32(L, x), L.fc(x, 1.0));
  return ir.CreateSelect(small, near, far);
}

/// log: x = 2^e m with m in [sqrt(1/2), sqrt(2)); log(m) = 2 atanh(s), s = (m-1)/(m+1), by its series to s^11.
llvm::Value *logF32(Lanes &L, llvm::Value *x) {
  llvm::IRBuilder<> &ir = L.ir;
  llvm::Type *i32 = L.intLike(x, 32);
  // Subnormals: scale into the normal range first.
  llvm::Value *subnormal = ir.CreateFCmpOLT(x, L.fc(x, 1.17549435e-38));
  llvm::Value *xs = ir.CreateSelect(subnormal, ir.CreateFMul(x, L.fc(x, 8388608.0)), x);
  llvm::Value *bits = ir.CreateBitCast(xs, i32);
  llvm::Value *e = ir.CreateSub(ir.CreateLShr(bits, L.ic(bits, 23)), L.ic(bits, 127));
  e = ir.CreateSub(e, ir.CreateSelect(subnormal, L.ic(e, 23), L.ic(e, 0)));
  llvm::Value *m = ir.CreateBitCast(ir.CreateOr(ir.CreateAnd(bits, L.ic(bits, 0x7fffff)), L.ic(bits, 0x3f800000)),
                                    x->getType());
  llvm::Value *big = ir.CreateFCmpOGT(m, L.fc(x, 1.41421356));
  m = ir.CreateSelect(big, ir.CreateFMul(m, L.fc(x, 0.5)), m);
  e = ir.CreateAdd(e, ir.CreateZExt(big, i32));
  llvm::Value *f = ir.CreateFSub(m, L.fc(x, 1.0));
  llvm::Value *s = ir.CreateFDiv(f, ir.CreateFAdd(f, L.fc(x, 2.0)));
  llvm::Value *z = ir.CreateFMul(s, s);
  llvm::Value *p = L.horner(z, {1.0 / 3, 1.0 / 5, 1.0 / 7, 1.0 / 9, 1.0 / 11});
  llvm::Value *s2 = ir.CreateFMul(s, L.fc(x, 2.0));
  llvm::Value *logM = L.fma(s2, ir.CreateFMul(z, p), s2);
  llvm::Value *ef = ir.CreateSIToFP(e, x->getType());
  llvm::Value *result = L.fma(ef, L.fc(x, 0.693145751953125), L.fma(ef, L.fc(x, 1.428606765330187045e-06), logM));
  const double inf = std::numeric_limits<double>::infinity();
  result =
      ir.CreateSelect(ir.CreateFCmpOLT(x, L.fc(x, 0.0)), L.fc(x, std::numeric_limits<double>::quiet_NaN()), result);
  result = ir.CreateSelect(ir.CreateFCmpOEQ(x, L.fc(x, 0.0)), L.fc(x, -inf), result);
  result = ir.CreateSelect(ir.CreateFCmpOEQ(x, L.fc(x, inf)), x, result);
  return ir.CreateSelect(ir.CreateFCmpUNO(x, x), x, result);
}

/// log1p(u) = log(1 + u) * u / ((1 + u) - 1), which cancels the rounding of 1 + u (Goldberg); u when 1 + u == 1.
llvm::Value *log1pF32(Lanes &L, llvm::Value *u) {
  llvm::IRBuilder<> &ir = L.ir;
  llvm::Value *w = ir.CreateFAdd(u, L.fc(u, 1.0));
  llvm::Value *d = ir.CreateFSub(w, L.fc(u, 1.0));
  llvm::Value *general = ir.CreateFDiv(ir.CreateFMul(logF32(L, w), u), d);
  llvm::Value *exactOne = ir.CreateFCmpOEQ(d, L.fc(u, 0.0));
  llvm::Value *infinite = ir.CreateFCmpOEQ(u, L.fc(u, std::numeric_limits<double>::infinity()));
  return ir.CreateSelect(ir.CreateOr(exactOne, infinite), u, general);
}

/// tanh: x + x^3 P(x^2) below 0.625 (fitted), else sign(x) (1 - 2 / (exp(2|x|) + 1)).
llvm::Value *tanhF32(Lanes &L, llvm::Value *x) {
  llvm::IRBuilder<> &ir = L.ir;
  llvm::Value *a = L.intrinsic(llvm::Intrinsic::fabs, x);
  llvm::Value *x2 = ir.CreateFMul(x, x);
  llvm::Value *q =
      L.horner(x2, {-0.333333343, 0.133333102, -0.0539602265, 0.0217749327, -0.00835991278, 0.00230797823});
  llvm::Value *small = L.fma(ir.CreateFMul(x2, x), q, x);
  llvm::Value *e = expF32(L, ir.CreateFMul(a, L.fc(x, 2.0)));
  llvm::Value *t = ir.CreateFSub(L.fc(x, 1.0), ir.CreateFDiv(L.fc(x, 2.0), ir.CreateFAdd(e, L.fc(x, 1.0))));
  llvm::Value *large = L.intrinsic(llvm::Intrinsic::copysign, t, x);
  return ir.CreateSelect(ir.CreateFCmpOLT(a, L.fc(x, 0.625)), small, large);
}

/// erf: x (2/sqrt(pi)) + x^3 P(x^2) below 1 (fitted), 1 - Q(|x| - 2.5) on [1, 4] (fitted erfc), 1 beyond
/// (erf rounds to 1 in float32 from 3.84 on).
llvm::Value *erfF32(Lanes &L, llvm::Value *x) {
  llvm::IRBuilder<> &ir = L.ir;
  llvm::Value *a = L.intrinsic(llvm::Intrinsic::fabs, x);
  llvm::Value *x2 = ir.CreateFMul(x, x);
  llvm::Value *p = L.horner(x2, {-0.376126379, 0.112837903, -0.0268659666, 0.00522268238, -0.000850970391,
                                 0.000114607719, -1.02438271e-05});
  llvm::Value *small =
      L.fma(x, L.fc(x, 1.12837923), L.fma(x, L.fc(x, -5.86353828e-08), ir.CreateFMul(ir.CreateFMul(x2, x), p)));
  llvm::Value *t = ir.CreateFSub(L.intrinsic(llvm::Intrinsic::minnum, a, L.fc(x, 4.0)), L.fc(x, 2.5));
  llvm::Value *q = L.horner(t, {0.000406920648, -0.00217797933, 0.00544707011, -0.00835432485, 0.0086127799,
                                -0.00610002549, 0.00282375421, -0.000574202684, -0.000291999429, 0.000280871929,
                                -5.9413811e-05, -2.14060092e-05, 8.70944041e-06});
  llvm::Value *large = L.intrinsic(llvm::Intrinsic::copysign, ir.CreateFSub(L.fc(x, 1.0), q), x);
  llvm::Value *result = ir.CreateSelect(ir.CreateFCmpOLT(a, L.fc(x, 1.0)), small, large);
  return ir.CreateSelect(ir.CreateFCmpUNO(x, x), x, result);
}

// Dispatch: float32 lanes get the IR above, float64 the libm function the interpreter calls.
llvm::Value *mathExp(Lanes &L, llvm::Value *x) { return isF32(x) ? expF32(L, x) : L.kb.unaryMath("exp", x); }
llvm::Value *mathExpm1(Lanes &L, llvm::Value *x) { return isF32(x) ? expm1F32(L, x) : L.kb.unaryMath("expm1", x); }
llvm::Value *mathLog(Lanes &L, llvm::Value *x) { return isF32(x) ? logF32(L, x) : L.kb.unaryMath("log", x); }
llvm::Value *mathLog1p(Lanes &L, llvm::Value *x) { return isF32(x) ? log1pF32(L, x) : L.kb.unaryMath("log1p", x); }
llvm::Value *mathTanh(Lanes &L, llvm::Value *x) { return isF32(x) ? tanhF32(L, x) : L.kb.unaryMath("tanh", x); }
llvm::Value *mathErf(Lanes &L, llvm::Value *x) { return isF32(x) ? erfF32(L, x) : L.kb.unaryMath("erf", x); }

/// The interpreter's stable sigmoid: 1 / (1 + e^-x) for x >= 0, e^x / (1 + e^x) below, as one division.
llvm::Value *mathSigmoid(Lanes &L, llvm::Value *x) {
  llvm::IRBuilder<> &ir = L.ir;
  llvm::Value *e = mathExp(L, ir.CreateFNeg(L.intrinsic(llvm::Intrinsic::fabs, x)));
  llvm::Value *nonNegative = ir.CreateFCmpOGE(x, L.fc(x, 0.0));
  return ir.CreateFDiv(ir.CreateSelect(nonNegative, L.fc(x, 1.0), e), ir.CreateFAdd(L.fc(x, 1.0), e));
}

/// softplus = max(x, 0) + log1p(exp(-|x|)), the interpreter's two stable branches in one.
llvm::Value *mathSoftplus(Lanes &L, llvm::Value *x) {
  llvm::IRBuilder<> &ir = L.ir;
  llvm::Value *positive = ir.CreateSelect(ir.CreateFCmpOGT(x, L.fc(x, 0.0)), x, L.fc(x, 0.0));
  llvm::Value *u = mathExp(L, ir.CreateFNeg(L.intrinsic(llvm::Intrinsic::fabs, x)));
  return ir.CreateFAdd(positive, mathLog1p(L, u));
}

// ---- scalar semantics helpers --------------------------------------------------------------------------------

bool isSigned(DType d) { return d == DType::Int64 || d == DType::Int32 || d == DType::Int8; }

/// a < b with the dtype's ordering (ordered float compare: false with NaN).
llvm::Value *lessThan(Lanes &L, DType d, llvm::Value *a, llvm::Value *b) {
  if (ir::isFloating(d)) return L.ir.CreateFCmpOLT(a, b);
  return isSigned(d) ? L.ir.CreateICmpSLT(a, b) : L.ir.CreateICmpULT(a, b);
}
llvm::Value *greaterThan(Lanes &L, DType d, llvm::Value *a, llvm::Value *b) { return lessThan(L, d, b, a); }
llvm::Value *lessEqual(Lanes &L, DType d, llvm::Value *a, llvm::Value *b) {
  if (ir::isFloating(d)) return L.ir.CreateFCmpOLE(a, b);
  return isSigned(d) ? L.ir.CreateICmpSLE(a, b) : L.ir.CreateICmpULE(a, b);
}
llvm::Value *equal(Lanes &L, DType d, llvm::Value *a, llvm::Value *b) {
  return ir::isFloating(d) ? L.ir.CreateFCmpOEQ(a, b) : L.ir.CreateICmpEQ(a, b);
}
llvm::Value *add(Lanes &L, DType d, llvm::Value *a, llvm::Value *b) {
  return ir::isFloating(d) ? L.ir.CreateFAdd(a, b) : L.ir.CreateAdd(a, b);
}
llvm::Value *sub(Lanes &L, DType d, llvm::Value *a, llvm::Value *b) {
  return ir::isFloating(d) ? L.ir.CreateFSub(a, b) : L.ir.CreateSub(a, b);
}
llvm::Value *mul(Lanes &L, DType d, llvm::Value *a, llvm::Value *b) {
  return ir::isFloating(d) ? L.ir.CreateFMul(a, b) : L.ir.CreateMul(a, b);
}
llvm::Value *neg(Lanes &L, DType d, llvm::Value *a) {
  return ir::isFloating(d) ? L.ir.CreateFNeg(a) : L.ir.CreateSub(llvm::Constant::getNullValue(a->getType()), a);
}
llvm::Value *zero(llvm::Value *like) { return llvm::Constant::getNullValue(like->getType()); }
/// numpy's minimum/maximum as the interpreter: (a OP b || a != a) ? a : b.
llvm::Value *minMax(Lanes &L, DType d, bool isMin, llvm::Value *a, llvm::Value *b) {
  llvm::Value *better = isMin ? lessThan(L, d, a, b) : greaterThan(L, d, a, b);
  if (ir::isFloating(d)) better = L.ir.CreateOr(better, L.ir.CreateFCmpUNO(a, a));
  return L.ir.CreateSelect(better, a, b);
}
/// min(hi, max(lo, v)) as std::max(T(0), std::min(T(1), v)) evaluates it (NaN becomes 1).
llvm::Value *clamp01(Lanes &L, llvm::Value *v) {
  llvm::Value *upper = L.ir.CreateSelect(L.ir.CreateFCmpOLT(v, L.fc(v, 1.0)), v, L.fc(v, 1.0));
  return L.ir.CreateSelect(L.ir.CreateFCmpOLT(L.fc(v, 0.0), upper), upper, L.fc(v, 0.0));
}

/// A C++ double converted to dtype `d` as the interpreter's convertValue does (saturating, NaN -> 0).
double convertLikeInterpreter(double v, DType d) {
  return ir::visitDType(d, [&](auto tag) -> double {
    using T = decltype(tag);
    if constexpr (std::is_same_v<T, bool>) {
      return v != 0.0 ? 1.0 : 0.0;
    } else if constexpr (std::is_floating_point_v<T>) {
      return static_cast<double>(static_cast<T>(v));
    } else {
      if (std::isnan(v)) return 0.0;
      if (v <= static_cast<double>(std::numeric_limits<T>::lowest()))
        return static_cast<double>(std::numeric_limits<T>::lowest());
      if (v >= static_cast<double>(std::numeric_limits<T>::max()))
        return static_cast<double>(std::numeric_limits<T>::max());
      return static_cast<double>(static_cast<T>(v));
    }
  });
}

// ---- node-level emitters -------------------------------------------------------------------------------------

/// The operand of input `i` read in its layout, broadcast to the output shape.
TiledOperand inputOperand(KernelContext &c, size_t i, const Shape &outShape) {
  return nest::broadcastTiledOperand(c.inputs[i], c.inputType(i), outShape);
}
/// Elementwise nests walk the output in its physical order, so its inner loop is contiguous; blocked operands
/// are split into blocks and lanes (tiled_nest.h), and the output's padding lanes are zeroed.
Status emitElementwiseNest(KernelContext &c, const std::vector<TiledOperand> &ins, const LaneFn &fn) {
  const ir::TensorType &out = c.outputType(0);
  const TiledOperand output = nest::tiledOperand(c.outputs[0], out);
  FLUIDML_RETURN_IF_ERROR(nest::checkTiledNest(out.shape, output, ins));
  nest::emitTiledNest(c.b, out, output, ins, fn);
  return Status::ok();
}

/// Emits out = fn(inputs...) over all present inputs, broadcast to the output shape.
Status emitMap(KernelContext &c, const LaneFn &fn) {
  if (!c.hasOutput(0)) return Status::ok();
  const Shape &shape = c.outputType(0).shape;
  std::vector<TiledOperand> ins;
  for (size_t i = 0; i < c.node.inputs.size(); ++i)
    if (c.hasInput(i)) ins.push_back(inputOperand(c, i, shape));
  return emitElementwiseNest(c, ins, fn);
}

using UnaryFn = llvm::Value *(*)(Lanes &, const ir::Node &, DType, llvm::Value *);
using BinaryFn = llvm::Value *(*)(Lanes &, const ir::Node &, DType, llvm::Value *, llvm::Value *);

template <UnaryFn F>
Status emitUnary(KernelContext &c) {
  const DType dtype = c.inputType(0).dtype;
  const ir::Node &node = c.node;
  return emitMap(c, [&](Lanes &L, const std::vector<llvm::Value *> &in) { return F(L, node, dtype, in[0]); });
}

template <BinaryFn F>
Status emitBinary(KernelContext &c) {
  const DType dtype = c.inputType(0).dtype;
  const ir::Node &node = c.node;
  return emitMap(c, [&](Lanes &L, const std::vector<llvm::Value *> &in) { return F(L, node, dtype, in[0], in[1]); });
}

// Unary lane functions (x has the input dtype; the result the output dtype).
llvm::Value *opSqrt(Lanes &L, const ir::Node &, DType, llvm::Value *x) { return L.intrinsic(llvm::Intrinsic::sqrt, x); }
llvm::Value *opReciprocal(Lanes &L, const ir::Node &, DType, llvm::Value *x) {
  return L.ir.CreateFDiv(L.fc(x, 1.0), x);
}
llvm::Value *opNeg(Lanes &L, const ir::Node &, DType d, llvm::Value *x) { return neg(L, d, x); }
llvm::Value *opAbs(Lanes &L, const ir::Node &, DType d, llvm::Value *x) {
  return L.ir.CreateSelect(lessThan(L, d, x, zero(x)), neg(L, d, x), x);
}
llvm::Value *opExp(Lanes &L, const ir::Node &, DType, llvm::Value *x) { return mathExp(L, x); }
llvm::Value *opLog(Lanes &L, const ir::Node &, DType, llvm::Value *x) { return mathLog(L, x); }
llvm::Value *opErf(Lanes &L, const ir::Node &, DType, llvm::Value *x) { return mathErf(L, x); }
llvm::Value *opTanh(Lanes &L, const ir::Node &, DType, llvm::Value *x) { return mathTanh(L, x); }
llvm::Value *opSigmoid(Lanes &L, const ir::Node &, DType, llvm::Value *x) { return mathSigmoid(L, x); }
llvm::Value *opSoftplus(Lanes &L, const ir::Node &, DType, llvm::Value *x) { return mathSoftplus(L, x); }
llvm::Value *opMish(Lanes &L, const ir::Node &, DType, llvm::Value *x) {
  return L.ir.CreateFMul(x, mathTanh(L, mathSoftplus(L, x)));
}
template <const char *Name>
llvm::Value *opLibm(Lanes &L, const ir::Node &, DType, llvm::Value *x) { return L.kb.unaryMath(Name, x); }
constexpr char kSin[] = "sin", kCos[] = "cos", kTan[] = "tan", kAsin[] = "asin", kAcos[] = "acos", kAtan[] = "atan",
               kSinh[] = "sinh", kCosh[] = "cosh", kAsinh[] = "asinh", kAcosh[] = "acosh", kAtanh[] = "atanh",
               kFloor[] = "floor", kCeil[] = "ceil", kRound[] = "round";
llvm::Value *opSign(Lanes &L, const ir::Node &, DType d, llvm::Value *x) {
  llvm::Value *one = ir::isFloating(d) ? L.fc(x, 1.0) : L.ic(x, 1);
  llvm::Value *minusOne = ir::isFloating(d) ? L.fc(x, -1.0) : L.ic(x, -1);
  return L.ir.CreateSelect(greaterThan(L, d, x, zero(x)), one,
                           L.ir.CreateSelect(lessThan(L, d, x, zero(x)), minusOne, x));
}
llvm::Value *opRelu(Lanes &L, const ir::Node &, DType d, llvm::Value *x) {
  return L.ir.CreateSelect(lessThan(L, d, x, zero(x)), zero(x), x);
}
llvm::Value *opLeakyRelu(Lanes &L, const ir::Node &n, DType, llvm::Value *x) {
  llvm::Value *alpha = L.fc(x, n.floatAttr("alpha", 0.01f));
  return L.ir.CreateSelect(L.ir.CreateFCmpOLT(x, L.fc(x, 0.0)), L.ir.CreateFMul(alpha, x), x);
}
llvm::Value *opHardSigmoid(Lanes &L, const ir::Node &n, DType, llvm::Value *x) {
  llvm::Value *v =
      L.ir.CreateFAdd(L.ir.CreateFMul(L.fc(x, n.floatAttr("alpha", 0.2f)), x), L.fc(x, n.floatAttr("beta", 0.5f)));
  return clamp01(L, v);
}
llvm::Value *opHardSwish(Lanes &L, const ir::Node &, DType, llvm::Value *x) {
  llvm::Value *v = L.ir.CreateFAdd(L.ir.CreateFDiv(x, L.fc(x, 6.0)), L.fc(x, 0.5));
  return L.ir.CreateFMul(x, clamp01(L, v));
}
llvm::Value *opSoftsign(Lanes &L, const ir::Node &, DType, llvm::Value *x) {
  return L.ir.CreateFDiv(x, L.ir.CreateFAdd(L.fc(x, 1.0), L.intrinsic(llvm::Intrinsic::fabs, x)));
}
llvm::Value *opElu(Lanes &L, const ir::Node &n, DType, llvm::Value *x) {
  llvm::Value *alpha = L.fc(x, n.floatAttr("alpha", 1.0f));
  return L.ir.CreateSelect(L.ir.CreateFCmpOGE(x, L.fc(x, 0.0)), x, L.ir.CreateFMul(alpha, mathExpm1(L, x)));
}
llvm::Value *opCelu(Lanes &L, const ir::Node &n, DType, llvm::Value *x) {
  llvm::Value *alpha = L.fc(x, n.floatAttr("alpha", 1.0f));
  return L.ir.CreateSelect(L.ir.CreateFCmpOGE(x, L.fc(x, 0.0)), x,
                           L.ir.CreateFMul(alpha, mathExpm1(L, L.ir.CreateFDiv(x, alpha))));
}
llvm::Value *opSelu(Lanes &L, const ir::Node &n, DType, llvm::Value *x) {
  llvm::Value *alpha = L.fc(x, n.floatAttr("alpha", 1.67326319217681884765625f));
  llvm::Value *gamma = L.fc(x, n.floatAttr("gamma", 1.05070102214813232421875f));
  llvm::Value *negative = L.ir.CreateFSub(L.ir.CreateFMul(alpha, mathExp(L, x)), alpha);
  return L.ir.CreateFMul(gamma, L.ir.CreateSelect(L.ir.CreateFCmpOGT(x, L.fc(x, 0.0)), x, negative));
}
llvm::Value *opThresholdedRelu(Lanes &L, const ir::Node &n, DType, llvm::Value *x) {
  return L.ir.CreateSelect(L.ir.CreateFCmpOGT(x, L.fc(x, n.floatAttr("alpha", 1.0f))), x, L.fc(x, 0.0));
}
llvm::Value *opIsNaN(Lanes &L, const ir::Node &, DType, llvm::Value *x) { return L.boolOut(L.ir.CreateFCmpUNO(x, x)); }
llvm::Value *opIsInf(Lanes &L, const ir::Node &n, DType, llvm::Value *x) {
  const bool positive = n.intAttr("detect_positive", 1) != 0;
  const bool negative = n.intAttr("detect_negative", 1) != 0;
  const double inf = std::numeric_limits<double>::infinity();
  llvm::Value *result;
  llvm::Value *isPos = L.ir.CreateFCmpOEQ(x, L.fc(x, inf));
  llvm::Value *isNeg = L.ir.CreateFCmpOEQ(x, L.fc(x, -inf));
  if (positive && negative) result = L.ir.CreateOr(isPos, isNeg);
  else if (positive) result = isPos;
  else if (negative) result = isNeg;
  else result = llvm::Constant::getNullValue(isPos->getType());
  return L.boolOut(result);
}
llvm::Value *opNot(Lanes &L, const ir::Node &, DType, llvm::Value *x) {
  return L.boolOut(L.ir.CreateICmpEQ(x, zero(x)));
}
llvm::Value *opShrink(Lanes &L, const ir::Node &n, DType d, llvm::Value *x) {
  const double lambd = n.floatAttr("lambd", 0.5f), bias = n.floatAttr("bias", 0.0f);
  llvm::Type *f64 = L.vec(L.ir.getDoubleTy());
  llvm::Value *v = ir::isFloating(d) ? L.ir.CreateFPCast(x, f64)
                   : isSigned(d)     ? L.ir.CreateSIToFP(x, f64)
                                     : L.ir.CreateUIToFP(x, f64);
  llvm::Value *below = L.kb.convert(L.ir.CreateFAdd(v, L.fc(v, bias)), DType::Float64, d);
  llvm::Value *above = L.kb.convert(L.ir.CreateFSub(v, L.fc(v, bias)), DType::Float64, d);
  return L.ir.CreateSelect(L.ir.CreateFCmpOLT(v, L.fc(v, -lambd)), below,
                           L.ir.CreateSelect(L.ir.CreateFCmpOGT(v, L.fc(v, lambd)), above, zero(x)));
}

// Binary lane functions.
llvm::Value *opAdd(Lanes &L, const ir::Node &, DType d, llvm::Value *a, llvm::Value *b) { return add(L, d, a, b); }
llvm::Value *opSub(Lanes &L, const ir::Node &, DType d, llvm::Value *a, llvm::Value *b) { return sub(L, d, a, b); }
llvm::Value *opMul(Lanes &L, const ir::Node &, DType d, llvm::Value *a, llvm::Value *b) { return mul(L, d, a, b); }
llvm::Value *opDiv(Lanes &L, const ir::Node &, DType d, llvm::Value *a, llvm::Value *b) {
  if (ir::isFloating(d)) return L.ir.CreateFDiv(a, b);
  llvm::IRBuilder<> &ir = L.ir;
  // Division by zero is checked for constant divisors at compile time; at run time it must not trap.
  if (!isSigned(d)) {
    llvm::Value *safe = ir.CreateSelect(ir.CreateICmpEQ(b, zero(b)), L.ic(b, 1), b);
    return ir.CreateUDiv(a, safe);
  }
  llvm::Value *minusOne = ir.CreateICmpEQ(b, L.ic(b, -1));
  llvm::Value *safe = ir.CreateSelect(ir.CreateOr(minusOne, ir.CreateICmpEQ(b, zero(b))), L.ic(b, 1), b);
  return ir.CreateSelect(minusOne, neg(L, d, a), ir.CreateSDiv(a, safe));
}
llvm::Value *opMod(Lanes &L, const ir::Node &n, DType d, llvm::Value *a, llvm::Value *b) {
  llvm::IRBuilder<> &ir = L.ir;
  if (ir::isFloating(d)) return ir.CreateFRem(a, b);
  if (!isSigned(d)) {
    llvm::Value *safe = ir.CreateSelect(ir.CreateICmpEQ(b, zero(b)), L.ic(b, 1), b);
    return ir.CreateURem(a, safe);
  }
  llvm::Value *minusOne = ir.CreateICmpEQ(b, L.ic(b, -1));
  llvm::Value *safe = ir.CreateSelect(ir.CreateOr(minusOne, ir.CreateICmpEQ(b, zero(b))), L.ic(b, 1), b);
  llvm::Value *r = ir.CreateSRem(a, safe);
  if (n.intAttr("fmod", 0) == 0) {
    // Python's %: the result takes the divisor's sign.
    llvm::Value *fix = ir.CreateAnd(ir.CreateICmpNE(r, zero(r)),
                                    ir.CreateICmpNE(ir.CreateICmpSLT(r, zero(r)), ir.CreateICmpSLT(b, zero(b))));
    r = ir.CreateSelect(fix, ir.CreateAdd(r, b), r);
  }
  return ir.CreateSelect(minusOne, zero(a), r);
}
llvm::Value *opPRelu(Lanes &L, const ir::Node &, DType d, llvm::Value *x, llvm::Value *slope) {
  return L.ir.CreateSelect(lessThan(L, d, x, zero(x)), mul(L, d, x, slope), x);
}
llvm::Value *opBitShift(Lanes &L, const ir::Node &n, DType, llvm::Value *x, llvm::Value *s) {
  llvm::IRBuilder<> &ir = L.ir;
  const unsigned bits = x->getType()->getScalarSizeInBits();
  llvm::Value *tooFar = ir.CreateICmpUGE(s, L.ic(s, bits));
  llvm::Value *safe = ir.CreateSelect(tooFar, zero(s), s);
  llvm::Value *shifted = n.stringAttr("direction", "") == "LEFT" ? ir.CreateShl(x, safe) : ir.CreateLShr(x, safe);
  return ir.CreateSelect(tooFar, zero(x), shifted);
}
llvm::Value *opAnd(Lanes &L, const ir::Node &, DType, llvm::Value *a, llvm::Value *b) {
  return L.boolOut(L.ir.CreateAnd(L.ir.CreateICmpNE(a, zero(a)), L.ir.CreateICmpNE(b, zero(b))));
}
llvm::Value *opOr(Lanes &L, const ir::Node &, DType, llvm::Value *a, llvm::Value *b) {
  return L.boolOut(L.ir.CreateOr(L.ir.CreateICmpNE(a, zero(a)), L.ir.CreateICmpNE(b, zero(b))));
}
llvm::Value *opXor(Lanes &L, const ir::Node &, DType, llvm::Value *a, llvm::Value *b) {
  return L.boolOut(L.ir.CreateXor(L.ir.CreateICmpNE(a, zero(a)), L.ir.CreateICmpNE(b, zero(b))));
}
llvm::Value *opEqual(Lanes &L, const ir::Node &, DType d, llvm::Value *a, llvm::Value *b) {
  return L.boolOut(equal(L, d, a, b));
}
llvm::Value *opLess(Lanes &L, const ir::Node &, DType d, llvm::Value *a, llvm::Value *b) {
  return L.boolOut(lessThan(L, d, a, b));
}
llvm::Value *opGreater(Lanes &L, const ir::Node &, DType d, llvm::Value *a, llvm::Value *b) {
  return L.boolOut(greaterThan(L, d, a, b));
}
llvm::Value *opLessOrEqual(Lanes &L, const ir::Node &, DType d, llvm::Value *a, llvm::Value *b) {
  return L.boolOut(lessEqual(L, d, a, b));
}
llvm::Value *opGreaterOrEqual(Lanes &L, const ir::Node &, DType d, llvm::Value *a, llvm::Value *b) {
  return L.boolOut(lessEqual(L, d, b, a));
}

/// Integer division and modulo reject a zero divisor known at compile time, as the interpreter does at run time.
template <BinaryFn F>
Status emitIntegerDivision(KernelContext &c) {
  if (!ir::isFloating(c.inputType(0).dtype))
    if (const ir::Tensor *divisor = c.constantInput(1))
      for (int64_t i = 0; i < divisor->numel(); ++i)
        if (divisor->elementAsInt(i) == 0) return Status::error("integer division by zero");
  return emitBinary<F>(c);
}

// Sum, Mean, Min, Max: a left fold over the inputs in order (the interpreter's order when nothing aliases).
Status emitVariadic(KernelContext &c, const char *op) {
  const DType d = c.outputType(0).dtype;
  const std::string name = op;
  const double count = static_cast<double>(c.node.inputs.size());
  return emitMap(c, [&](Lanes &L, const std::vector<llvm::Value *> &in) {
    llvm::Value *acc = in[0];
    for (size_t k = 1; k < in.size(); ++k) {
      if (name == "Min" || name == "Max")
        acc = minMax(L, d, name == "Min", acc, in[k]);
      else
        acc = add(L, d, acc, in[k]);
    }
    if (name == "Mean") {
      // static_cast<T>(v / count) with a double count.
      llvm::Type *f64 = L.vec(L.ir.getDoubleTy());
      llvm::Value *v = L.ir.CreateFDiv(L.ir.CreateFPCast(acc, f64), llvm::ConstantFP::get(f64, count));
      acc = L.ir.CreateFPCast(v, acc->getType());
    }
    return acc;
  });
}

Status emitWhere(KernelContext &c) {
  return emitMap(c, [](Lanes &L, const std::vector<llvm::Value *> &in) {
    return L.ir.CreateSelect(L.ir.CreateICmpNE(in[0], zero(in[0])), in[1], in[2]);
  });
}

Status emitClip(KernelContext &c) {
  if (!c.hasOutput(0)) return Status::ok();
  const DType d = c.inputType(0).dtype;
  const Shape &shape = c.outputType(0).shape;
  // Each bound: a compile-time constant, a runtime scalar operand, or absent (no clipping on that side).
  struct Bound {
    bool present = false;
    bool isConstant = false;
    double value = 0;
    int operand = -1;
  };
  Bound bounds[2];
  std::vector<TiledOperand> ins{inputOperand(c, 0, shape)};
  for (int k = 0; k < 2; ++k) {
    Bound &bound = bounds[k];
    if (c.opset >= 11) {
      const size_t i = static_cast<size_t>(k) + 1;
      if (!c.hasInput(i)) continue;
      bound.present = true;
      if (const ir::Tensor *t = c.constantInput(i)) {
        bound.isConstant = true;
        bound.value = ir::isFloating(d) ? t->elementAsDouble(0) : static_cast<double>(t->elementAsInt(0));
        if (!ir::isFloating(d) && static_cast<int64_t>(bound.value) != t->elementAsInt(0)) {
          // int64 beyond double precision: read it at run time instead.
          bound.isConstant = false;
        }
      }
      if (!bound.isConstant) {
        bound.operand = static_cast<int>(ins.size());
        ins.push_back(TiledOperand{c.inputs[i], d, 0, std::vector<ir::DimAccess>(shape.size())});  // a scalar
      }
    } else {
      const char *name = k == 0 ? "min" : "max";
      if (c.node.attribute(name) == nullptr) continue;
      bound.present = true;
      bound.isConstant = true;
      bound.value = convertLikeInterpreter(c.node.floatAttr(name, 0.0f), d);
    }
  }
  return emitElementwiseNest(c, ins, [&](Lanes &L, const std::vector<llvm::Value *> &in) {
    llvm::Value *v = in[0];
    for (int k = 0; k < 2; ++k) {
      const Bound &bound = bounds[k];
      if (!bound.present) continue;
      llvm::Value *limit = bound.isConstant ? L.constant(d, bound.value) : in[static_cast<size_t>(bound.operand)];
      llvm::Value *outside = k == 0 ? lessThan(L, d, v, limit) : greaterThan(L, d, v, limit);
      v = L.ir.CreateSelect(outside, limit, v);
    }
    return v;
  });
}

Status emitCast(KernelContext &c) {
  const DType from = c.inputType(0).dtype;
  const DType to = c.outputType(0).dtype;
  if (!c.hasOutput(0)) return Status::ok();
  // CastLike's second operand only names the dtype.
  return emitElementwiseNest(c, {inputOperand(c, 0, c.outputType(0).shape)},
                             [&](Lanes &L, const std::vector<llvm::Value *> &in) { return L.kb.convert(in[0], from, to); });
}

/// base^exponent of integer lanes by squaring over every bit of the exponent (wrapping), as the interpreter.
llvm::Value *integerPower(Lanes &L, llvm::Value *base, llvm::Value *exponent) {
  llvm::IRBuilder<> &ir = L.ir;
  llvm::Value *result = L.ic(base, 1);
  llvm::Value *factor = base;
  llvm::Value *e = exponent;
  const unsigned bits = exponent->getType()->getScalarSizeInBits();
  // Unrolled: a short fixed trip count keeps the lanes branch-free.
  for (unsigned k = 0; k < bits; ++k) {
    llvm::Value *odd = ir.CreateICmpNE(ir.CreateAnd(e, L.ic(e, 1)), zero(e));
    result = ir.CreateSelect(odd, ir.CreateMul(result, factor), result);
    if (k + 1 < bits) {
      factor = ir.CreateMul(factor, factor);
      e = ir.CreateLShr(e, L.ic(e, 1));
    }
  }
  return result;
}

/// All elements of a constant operand equal to one value (nullopt when not constant or not uniform).
std::optional<double> uniformConstant(KernelContext &c, size_t i) {
  const ir::Tensor *t = c.constantInput(i);
  if (t == nullptr || t->numel() == 0) return std::nullopt;
  const double v = t->elementAsDouble(0);
  for (int64_t k = 1; k < t->numel(); ++k)
    if (t->elementAsDouble(k) != v) return std::nullopt;
  return v;
}

Status emitPow(KernelContext &c) {
  const DType base = c.inputType(0).dtype;
  const DType expo = c.inputType(1).dtype;
  const std::optional<double> constantExponent = uniformConstant(c, 1);
  if (ir::isFloating(base) && constantExponent) {
    // Exponents that models use, exactly or within an ulp of powf/pow.
    const double e = *constantExponent;
    const bool viaDouble = !(base == DType::Float32 && expo == DType::Float32);
    LaneFn fn;
    if (e == 1.0) fn = [](Lanes &, const std::vector<llvm::Value *> &in) { return in[0]; };
    if (e == 2.0) fn = [](Lanes &L, const std::vector<llvm::Value *> &in) { return L.ir.CreateFMul(in[0], in[0]); };
    if (e == 3.0 && !viaDouble)
      fn = [](Lanes &L, const std::vector<llvm::Value *> &in) {
        return L.ir.CreateFMul(L.ir.CreateFMul(in[0], in[0]), in[0]);
      };
    if (e == 0.5)
      fn = [](Lanes &L, const std::vector<llvm::Value *> &in) {
        // pow(-0, 0.5) = +0 and pow(-inf, 0.5) = +inf, where sqrt gives -0 and NaN.
        llvm::Value *x = in[0];
        llvm::Value *root = L.ir.CreateFAdd(L.intrinsic(llvm::Intrinsic::sqrt, x), L.fc(x, 0.0));
        return L.ir.CreateSelect(L.ir.CreateFCmpOEQ(x, L.fc(x, -std::numeric_limits<double>::infinity())),
                                 L.fc(x, std::numeric_limits<double>::infinity()), root);
      };
    if (fn) {
      if (!c.hasOutput(0)) return Status::ok();
      return emitElementwiseNest(c, {inputOperand(c, 0, c.outputType(0).shape)}, fn);
    }
  }
  return emitMap(c, [&](Lanes &L, const std::vector<llvm::Value *> &in) -> llvm::Value * {
    llvm::IRBuilder<> &ir = L.ir;
    llvm::Value *x = in[0];
    llvm::Value *y = in[1];
    if (base == DType::Float32 && expo == DType::Float32) return L.kb.binaryMath("pow", x, y);
    llvm::Type *f64 = L.vec(ir.getDoubleTy());
    auto toDouble = [&](llvm::Value *v, DType d) {
      return ir::isFloating(d) ? ir.CreateFPCast(v, f64)
             : isSigned(d)     ? ir.CreateSIToFP(v, f64)
                               : ir.CreateUIToFP(v, f64);
    };
    llvm::Value *viaDouble =
        L.kb.convert(L.kb.binaryMath("pow", toDouble(x, base), toDouble(y, expo)), DType::Float64, base);
    if (ir::isFloating(base) || ir::isFloating(expo)) return viaDouble;
    // Integers: exact by squaring; negative exponents go through double like numpy's float path.
    llvm::Value *exact = integerPower(L, x, y);
    if (!isSigned(expo)) return exact;
    return ir.CreateSelect(ir.CreateICmpSLT(y, zero(y)), viaDouble, exact);
  });
}

}  // namespace

void registerElementwiseLowerings(LoweringTable &table) {
  LoweringTable &t = table;
  const size_t first = t.all().size();
  // The ops the other lowerings and the driver's tests lean on first.
  t.add("Add", &emitBinary<opAdd>);
  t.add("Relu", &emitUnary<opRelu>);
  t.add("Mul", &emitBinary<opMul>);
  t.add("Sub", &emitBinary<opSub>);
  t.add("Div", &emitIntegerDivision<opDiv>);
  t.add("Mod", &emitIntegerDivision<opMod>);
  t.add("Pow", &emitPow);
  t.add("BitShift", &emitBinary<opBitShift>);
  t.add("PRelu", &emitBinary<opPRelu>);
  t.add("Equal", &emitBinary<opEqual>);
  t.add("Less", &emitBinary<opLess>);
  t.add("Greater", &emitBinary<opGreater>);
  t.add("LessOrEqual", &emitBinary<opLessOrEqual>);
  t.add("GreaterOrEqual", &emitBinary<opGreaterOrEqual>);
  t.add("And", &emitBinary<opAnd>);
  t.add("Or", &emitBinary<opOr>);
  t.add("Xor", &emitBinary<opXor>);

  t.add("Sqrt", &emitUnary<opSqrt>);
  t.add("Reciprocal", &emitUnary<opReciprocal>);
  t.add("Neg", &emitUnary<opNeg>);
  t.add("Abs", &emitUnary<opAbs>);
  t.add("Exp", &emitUnary<opExp>);
  t.add("Log", &emitUnary<opLog>);
  t.add("Erf", &emitUnary<opErf>);
  t.add("Tanh", &emitUnary<opTanh>);
  t.add("Sigmoid", &emitUnary<opSigmoid>);
  t.add("Floor", &emitUnary<opLibm<kFloor>>);
  t.add("Ceil", &emitUnary<opLibm<kCeil>>);
  t.add("Round", &emitUnary<opLibm<kRound>>);
  t.add("Sign", &emitUnary<opSign>);
  t.add("Sin", &emitUnary<opLibm<kSin>>);
  t.add("Cos", &emitUnary<opLibm<kCos>>);
  t.add("Tan", &emitUnary<opLibm<kTan>>);
  t.add("Asin", &emitUnary<opLibm<kAsin>>);
  t.add("Acos", &emitUnary<opLibm<kAcos>>);
  t.add("Atan", &emitUnary<opLibm<kAtan>>);
  t.add("Sinh", &emitUnary<opLibm<kSinh>>);
  t.add("Cosh", &emitUnary<opLibm<kCosh>>);
  t.add("Asinh", &emitUnary<opLibm<kAsinh>>);
  t.add("Acosh", &emitUnary<opLibm<kAcosh>>);
  t.add("Atanh", &emitUnary<opLibm<kAtanh>>);
  t.add("IsNaN", &emitUnary<opIsNaN>);
  t.add("IsInf", &emitUnary<opIsInf>);
  t.add("Not", &emitUnary<opNot>);

  t.add("LeakyRelu", &emitUnary<opLeakyRelu>);
  t.add("HardSigmoid", &emitUnary<opHardSigmoid>);
  t.add("HardSwish", &emitUnary<opHardSwish>);
  t.add("Softplus", &emitUnary<opSoftplus>);
  t.add("Softsign", &emitUnary<opSoftsign>);
  t.add("Elu", &emitUnary<opElu>);
  t.add("Selu", &emitUnary<opSelu>);
  t.add("Celu", &emitUnary<opCelu>);
  t.add("ThresholdedRelu", &emitUnary<opThresholdedRelu>);
  t.add("Mish", &emitUnary<opMish>);
  t.add("Shrink", &emitUnary<opShrink>);
  t.add("Clip", &emitClip);

  t.add("Sum", [](KernelContext &c) { return emitVariadic(c, "Sum"); });
  t.add("Mean", [](KernelContext &c) { return emitVariadic(c, "Mean"); });
  t.add("Min", [](KernelContext &c) { return emitVariadic(c, "Min"); });
  t.add("Max", [](KernelContext &c) { return emitVariadic(c, "Max"); });
  t.add("Where", &emitWhere);
  t.add("Cast", &emitCast);
  t.add("CastLike", &emitCast);
  // Every emitter above runs through emitElementwiseNest: any layout, blocked ones included.
  t.declareLayoutsSince(first, LayoutSupport::Blocked);
}

llvm::Value *sigmoidVector(KernelBuilder &b, llvm::Value *x) {
  auto *vector = llvm::dyn_cast<llvm::FixedVectorType>(x->getType());
  Lanes lanes(b, vector != nullptr ? vector->getNumElements() : 1);
  return mathSigmoid(lanes, x);
}

llvm::Value *erfVector(KernelBuilder &b, llvm::Value *x) {
  auto *vector = llvm::dyn_cast<llvm::FixedVectorType>(x->getType());
  Lanes lanes(b, vector != nullptr ? vector->getNumElements() : 1);
  return mathErf(lanes, x);
}

}  // namespace fluidml::codegen
