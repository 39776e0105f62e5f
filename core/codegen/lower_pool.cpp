// Lowering of MaxPool, AveragePool, LpPool and their Global forms (and the window sweep that depthwise Conv
// shares).
//
// Window sweep (float32): planes in parallel; per output row the valid kernel rows are computed once (so padding
// rows cost nothing), then one vector of output columns at a time (16 with AVX-512): every kernel tap is one vector
// load of the input row (masked at the borders, two loads and an even-lane shuffle for stride 2, a gather for larger
// strides); columns whose taps are all inside the row (decided at compile time) use plain loads. Average divisors
// come from per-dimension count tables computed at compile time. Global pools: one vectorized reduction per plane.
// Indices of MaxPool, LpPool and other dtypes: scalar loops with the reference kernels' order (and double
// accumulation). O(planes x output positions x kernel). Channel-blocked operands (NCHW16c, ...) go to
// lower_pool_blocked.cpp.
#include <cmath>
#include <limits>
#include <variant>

#include "core/codegen/gemm_kernel.h"
#include "core/codegen/lower_linalg_internal.h"

#include <llvm/IR/Constants.h>
#include <llvm/IR/GlobalVariable.h>

namespace fluidml::codegen::linalg {

namespace {

int64_t ceilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

/// A private constant float table in the module.
llvm::Value *floatTable(KernelBuilder &b, const std::vector<float> &values, const std::string &name) {
  llvm::Constant *data = llvm::ConstantDataArray::get(b.context(), llvm::ArrayRef<float>(values));
  auto *global = new llvm::GlobalVariable(b.module(), data->getType(), true, llvm::GlobalValue::PrivateLinkage, data, name);
  global->setAlignment(llvm::Align(64));
  return global;
}

}  // namespace

std::pair<llvm::Value *, llvm::Value *> validTaps(KernelBuilder &b, llvm::Value *base, int64_t size, int64_t kernel,
                                                  int64_t dilation) {
  llvm::IRBuilder<> &ir = b.ir();
  auto ceilDivRt = [&](llvm::Value *a) { return ir.CreateSDiv(ir.CreateAdd(a, b.i64(dilation - 1)), b.i64(dilation)); };
  llvm::Value *lo = gemm::maxI64(b, b.i64(0), ceilDivRt(ir.CreateNeg(base)));
  llvm::Value *hi = gemm::minI64(b, b.i64(kernel), ceilDivRt(ir.CreateSub(b.i64(size), base)));
  return {lo, gemm::maxI64(b, hi, lo)};
}

void emitWindowSweep(KernelBuilder &b, const WindowSweep &s) {
  llvm::IRBuilder<> &ir = b.ir();
  const ops::Window &w = s.window;
  llvm::Type *vecTy = gemm::floatVector(b);
  llvm::Type *floatTy = ir.getFloatTy();
  const int64_t laneCount = gemm::floatLanes(b);
  const int64_t outRow = w.out[2];
  const int64_t vectors = ceilDiv(outRow, laneCount);
  const int64_t sw = w.stride[2];

  // Vectors whose every tap lies inside the input row (compile time).
  const int64_t span = sw == 1 ? laneCount : sw == 2 ? 2 * laneCount : (laneCount - 1) * sw + 1;
  int64_t interiorBegin = std::min(vectors, ceilDiv(w.padBegin[2], laneCount * sw));
  const int64_t limit = w.in[2] - span - (w.kernel[2] - 1) * w.dilation[2] + w.padBegin[2];
  const int64_t interiorByInput = limit < 0 ? 0 : limit / (laneCount * sw) + 1;
  const int64_t interiorEnd = std::max(interiorBegin, std::min(interiorByInput, outRow / laneCount));

  llvm::Value *rowCounts = nullptr;
  llvm::Value *columnCounts = nullptr;
  if (s.kind == WindowSweep::Kind::Average) {
    const std::vector<int64_t> d = poolTapCounts(w, 0, s.countIncludePad);
    const std::vector<int64_t> h = poolTapCounts(w, 1, s.countIncludePad);
    const std::vector<int64_t> c = poolTapCounts(w, 2, s.countIncludePad);
    std::vector<float> rows, columns(static_cast<size_t>(vectors * laneCount), 1.0f);
    for (int64_t cd : d)
      for (int64_t ch : h) rows.push_back(static_cast<float>(cd * ch));
    for (size_t i = 0; i < c.size(); ++i) columns[i] = static_cast<float>(c[i]);
    rowCounts = floatTable(b, rows, "fluidml.pool.rows");
    columnCounts = floatTable(b, columns, "fluidml.pool.columns");
  }

  std::vector<llvm::Value *> captures{s.x, s.y};
  if (s.weights != nullptr) captures.push_back(s.weights);
  if (s.bias != nullptr) captures.push_back(s.bias);
  b.parallelLoop(s.planes, captures, [&](llvm::Value *plane, const std::vector<llvm::Value *> &cap) {
    llvm::Value *n = ir.CreateUDiv(plane, b.i64(s.channels));
    llvm::Value *channel = ir.CreateURem(plane, b.i64(s.channels));
    llvm::Value *inPlane = ir.CreateAdd(ir.CreateMul(n, b.i64(s.inChannels)), ir.CreateUDiv(channel, b.i64(s.multiplier)));
    llvm::Value *xp = b.elementPtr(ir::DType::Float32, cap[0], ir.CreateMul(inPlane, b.i64(w.inSize())));
    llvm::Value *yp = b.elementPtr(ir::DType::Float32, cap[1], ir.CreateMul(plane, b.i64(w.outSize())));
    llvm::Value *wp = s.weights ? b.elementPtr(ir::DType::Float32, cap[2], ir.CreateMul(channel, b.i64(w.kernelSize())))
                                : nullptr;
    llvm::Value *initial = nullptr;
    llvm::Value *passthru = nullptr;
    switch (s.kind) {
      case WindowSweep::Kind::Conv:
        initial = ir.CreateVectorSplat(
            laneCount, s.bias ? b.load(ir::DType::Float32, cap[3], channel) : llvm::ConstantFP::get(floatTy, 0.0));
        passthru = llvm::ConstantAggregateZero::get(vecTy);
        break;
      case WindowSweep::Kind::Max:
        initial = passthru = ir.CreateVectorSplat(laneCount, llvm::ConstantFP::getInfinity(floatTy, true));
        break;
      case WindowSweep::Kind::Average:
        initial = passthru = llvm::ConstantAggregateZero::get(vecTy);
        break;
    }
    llvm::AllocaInst *acc = gemm::entryAlloca(b, vecTy, 1, 64, "acc");
    b.loop(w.out[0] * w.out[1], [&](llvm::Value *r) {
      llvm::Value *od = ir.CreateUDiv(r, b.i64(w.out[1]));
      llvm::Value *oh = ir.CreateURem(r, b.i64(w.out[1]));
      llvm::Value *idBase = ir.CreateSub(ir.CreateMul(od, b.i64(w.stride[0])), b.i64(w.padBegin[0]));
      llvm::Value *ihBase = ir.CreateSub(ir.CreateMul(oh, b.i64(w.stride[1])), b.i64(w.padBegin[1]));
      auto [kdLo, kdHi] = validTaps(b, idBase, w.in[0], w.kernel[0], w.dilation[0]);
      auto [khLo, khHi] = validTaps(b, ihBase, w.in[1], w.kernel[1], w.dilation[1]);
      llvm::Value *yRow = b.elementPtr(ir::DType::Float32, yp, ir.CreateMul(r, b.i64(outRow)));
      llvm::Value *rowCount = rowCounts ? b.load(ir::DType::Float32, rowCounts, r) : nullptr;
      auto body = [&](llvm::Value *v, bool interior) {
        llvm::Value *ow0 = ir.CreateMul(v, b.i64(laneCount));
        llvm::Value *lanes = interior ? b.i64(laneCount) : ir.CreateSub(b.i64(outRow), ow0);
        llvm::Value *startBase = ir.CreateSub(ir.CreateMul(ow0, b.i64(sw)), b.i64(w.padBegin[2]));
        ir.CreateStore(initial, acc);
        b.loop(kdLo, kdHi, 1, [&](llvm::Value *kd) {
          b.loop(khLo, khHi, 1, [&](llvm::Value *kh) {
            llvm::Value *id = ir.CreateAdd(idBase, ir.CreateMul(kd, b.i64(w.dilation[0])));
            llvm::Value *ih = ir.CreateAdd(ihBase, ir.CreateMul(kh, b.i64(w.dilation[1])));
            llvm::Value *xRow = b.elementPtr(ir::DType::Float32, xp,
                                             ir.CreateMul(ir.CreateAdd(ir.CreateMul(id, b.i64(w.in[1])), ih), b.i64(w.in[2])));
            llvm::Value *tapBase =
                s.kind == WindowSweep::Kind::Conv
                    ? ir.CreateMul(ir.CreateAdd(ir.CreateMul(kd, b.i64(w.kernel[1])), kh), b.i64(w.kernel[2]))
                    : nullptr;
            llvm::Value *value = ir.CreateLoad(vecTy, acc);
            for (int64_t kw = 0; kw < w.kernel[2]; ++kw) {
              llvm::Value *start = ir.CreateAdd(startBase, b.i64(kw * w.dilation[2]));
              llvm::Value *x = gemm::loadRow(b, xRow, start, sw, b.i64(w.in[2]), lanes, passthru, interior);
              switch (s.kind) {
                case WindowSweep::Kind::Conv: {
                  llvm::Value *weight = b.load(ir::DType::Float32, wp, ir.CreateAdd(tapBase, b.i64(kw)));
                  value = ir.CreateIntrinsic(llvm::Intrinsic::fma, {vecTy},
                                             {x, ir.CreateVectorSplat(laneCount, weight), value});
                  break;
                }
                case WindowSweep::Kind::Max:
                  value = ir.CreateSelect(ir.CreateFCmpOGT(x, value), x, value);
                  break;
                case WindowSweep::Kind::Average:
                  value = ir.CreateFAdd(value, x);
                  break;
              }
            }
            ir.CreateStore(value, acc);
          }, "kh");
        }, "kd");
        llvm::Value *result = ir.CreateLoad(vecTy, acc);
        if (s.kind == WindowSweep::Kind::Average) {
          llvm::Value *columns = ir.CreateAlignedLoad(vecTy, b.elementPtr(ir::DType::Float32, columnCounts, ow0), llvm::Align(4));
          llvm::Value *divisor = ir.CreateFMul(columns, ir.CreateVectorSplat(laneCount, rowCount));
          llvm::Value *zero = llvm::ConstantAggregateZero::get(vecTy);
          result = ir.CreateSelect(ir.CreateFCmpOGT(divisor, zero), ir.CreateFDiv(result, divisor), zero);
        }
        gemm::storeLanes(b, result, b.elementPtr(ir::DType::Float32, yRow, ow0), lanes);
      };
      auto range = [&](int64_t begin, int64_t end, bool interior) {
        if (begin >= end) return;
        b.loop(b.i64(begin), b.i64(end), 1, [&](llvm::Value *v) { body(v, interior); }, "v");
      };
      range(0, interiorBegin, false);
      range(interiorBegin, interiorEnd, true);
      range(interiorEnd, vectors, false);
    }, "row");
  }, "sweep");
}

namespace {

/// The exponent p of LpPool / GlobalLpPool (an int since opset 2, a float in opset 1).
double lpExponent(const ir::Node &node) {
  if (const ir::Attribute *attr = node.attribute("p")) {
    if (const auto *i = std::get_if<int64_t>(attr)) return static_cast<double>(*i);
    if (const auto *f = std::get_if<float>(attr)) return *f;
  }
  return 2.0;
}

enum class PoolKind { Max, Average, Lp };

/// The smallest value of a MaxPool dtype (the identity of max; -inf for floats).
llvm::Value *lowest(KernelBuilder &b, ir::DType dtype) {
  switch (dtype) {
    case ir::DType::Float32:
    case ir::DType::Float64: return b.constant(dtype, -std::numeric_limits<double>::infinity());
    case ir::DType::Int8: return b.constantInt(dtype, -128);
    default: return b.constantInt(dtype, 0);
  }
}

llvm::Value *greater(KernelBuilder &b, ir::DType dtype, llvm::Value *x, llvm::Value *y) {
  if (ir::isFloating(dtype)) return b.ir().CreateFCmpOGT(x, y);
  return dtype == ir::DType::UInt8 ? b.ir().CreateICmpUGT(x, y) : b.ir().CreateICmpSGT(x, y);
}

/// Scalar windowed pools in the reference kernels' order: any dtype, MaxPool Indices, LpPool.
void emitPoolScalar(KernelContext &c, const ops::Window &w, PoolKind kind) {
  KernelBuilder &b = c.b;
  llvm::IRBuilder<> &ir = b.ir();
  const ir::DType dtype = c.inputType(0).dtype;
  const ir::Shape &x = c.inputType(0).shape;
  const int64_t planes = x[0] * x[1];
  const bool includePad = c.node.intAttr("count_include_pad", 0) != 0;
  const bool columnMajor = c.node.intAttr("storage_order", 0) == 1;
  const double p = lpExponent(c.node);
  const bool withIndices = kind == PoolKind::Max && c.hasOutput(1);
  llvm::Type *f64 = ir.getDoubleTy();
  llvm::Value *divisors = nullptr;
  if (kind == PoolKind::Average) {
    const std::vector<int64_t> d = poolTapCounts(w, 0, includePad), h = poolTapCounts(w, 1, includePad),
                               col = poolTapCounts(w, 2, includePad);
    std::vector<float> all;
    for (int64_t cd : d)
      for (int64_t ch : h)
        for (int64_t cw : col) all.push_back(static_cast<float>(cd * ch * cw));
    divisors = floatTable(b, all, "fluidml.pool.divisors");
  }
  std::vector<llvm::Value *> captures{c.inputs[0], c.outputs[0]};
  if (withIndices) captures.push_back(c.outputs[1]);
  b.parallelLoop(planes, captures, [&](llvm::Value *plane, const std::vector<llvm::Value *> &cap) {
    llvm::Value *xBase = ir.CreateMul(plane, b.i64(w.inSize()));
    llvm::Value *yBase = ir.CreateMul(plane, b.i64(w.outSize()));
    llvm::AllocaInst *best = gemm::entryAlloca(b, b.scalarType(dtype), 1, 8, "best");
    llvm::AllocaInst *bestAt = gemm::entryAlloca(b, ir.getInt64Ty(), 1, 8, "bestAt");
    llvm::AllocaInst *sum = gemm::entryAlloca(b, f64, 1, 8, "sum");
    b.loopNest({w.out[0], w.out[1], w.out[2]}, [&](const std::vector<llvm::Value *> &o) {
      llvm::Value *outIndex = b.linearIndex(o, {w.out[1] * w.out[2], w.out[2], 1});
      ir.CreateStore(lowest(b, dtype), best);
      ir.CreateStore(b.i64(-1), bestAt);
      ir.CreateStore(llvm::ConstantFP::get(f64, 0.0), sum);
      b.loopNest({w.kernel[0], w.kernel[1], w.kernel[2]}, [&](const std::vector<llvm::Value *> &k) {
        std::vector<llvm::Value *> pos;
        llvm::Value *valid = ir.getTrue();
        for (size_t d = 0; d < 3; ++d) {
          llvm::Value *q = ir.CreateAdd(ir.CreateSub(ir.CreateMul(o[d], b.i64(w.stride[d])), b.i64(w.padBegin[d])),
                                        ir.CreateMul(k[d], b.i64(w.dilation[d])));
          valid = ir.CreateAnd(valid, ir.CreateICmpULT(q, b.i64(w.in[d])));
          pos.push_back(q);
        }
        gemm::emitIf(b, valid, [&] {
          llvm::Value *spatial = b.linearIndex(pos, {w.in[1] * w.in[2], w.in[2], 1});
          llvm::Value *v = b.load(dtype, cap[0], ir.CreateAdd(xBase, spatial));
          if (kind == PoolKind::Max) {
            llvm::Value *take = ir.CreateOr(ir.CreateICmpSLT(ir.CreateLoad(ir.getInt64Ty(), bestAt), b.i64(0)),
                                            greater(b, dtype, v, ir.CreateLoad(b.scalarType(dtype), best)));
            ir.CreateStore(ir.CreateSelect(take, v, ir.CreateLoad(b.scalarType(dtype), best)), best);
            // Flat index into the whole input; storage_order 1 numbers the spatial dims column-major.
            llvm::Value *flat = columnMajor ? ir.CreateAdd(pos[0], ir.CreateMul(b.i64(w.in[0]),
                                                                                 ir.CreateAdd(pos[1], ir.CreateMul(b.i64(w.in[1]), pos[2]))))
                                            : spatial;
            flat = ir.CreateAdd(ir.CreateMul(plane, b.i64(w.inSize())), flat);
            ir.CreateStore(ir.CreateSelect(take, flat, ir.CreateLoad(ir.getInt64Ty(), bestAt)), bestAt);
          } else {
            llvm::Value *vd = b.convert(v, dtype, ir::DType::Float64);
            if (kind == PoolKind::Lp) vd = b.binaryMath("pow", b.unaryMath("abs", vd), llvm::ConstantFP::get(f64, p));
            ir.CreateStore(ir.CreateFAdd(ir.CreateLoad(f64, sum), vd), sum);
          }
        });
      });
      llvm::Value *result = nullptr;
      if (kind == PoolKind::Max) {
        result = ir.CreateLoad(b.scalarType(dtype), best);
        if (withIndices) b.store(ir::DType::Int64, ir.CreateLoad(ir.getInt64Ty(), bestAt), cap[2], ir.CreateAdd(yBase, outIndex));
      } else if (kind == PoolKind::Average) {
        llvm::Value *count = ir.CreateFPExt(b.load(ir::DType::Float32, divisors, outIndex), f64);
        llvm::Value *mean = ir.CreateFDiv(ir.CreateLoad(f64, sum), count);
        mean = ir.CreateSelect(ir.CreateFCmpOGT(count, llvm::ConstantFP::get(f64, 0.0)), mean, llvm::ConstantFP::get(f64, 0.0));
        result = b.convert(mean, ir::DType::Float64, dtype);
      } else {
        result = b.convert(b.binaryMath("pow", ir.CreateLoad(f64, sum), llvm::ConstantFP::get(f64, 1.0 / p)),
                           ir::DType::Float64, dtype);
      }
      b.store(dtype, result, cap[1], ir.CreateAdd(yBase, outIndex));
    });
  }, "pool");
}

Status emitPool(KernelContext &c, PoolKind kind) {
  if (kind != PoolKind::Lp && c.inputType(0).layout.isBlocked())  // checkPoolLayouts accepted it
    return emitBlockedPool(c, kind == PoolKind::Max ? BlockedPoolKind::Max : BlockedPoolKind::Average);
  FLUIDML_ASSIGN_OR_RETURN(ops::Window w, ops::poolWindow(c.node, c.inputType(0).shape));
  if (c.outputType(0).numel() == 0) return Status::ok();
  const ir::Shape &x = c.inputType(0).shape;
  const bool vectorized = c.inputType(0).dtype == ir::DType::Float32 && kind != PoolKind::Lp &&
                          !(kind == PoolKind::Max && c.hasOutput(1));
  if (!vectorized) {
    emitPoolScalar(c, w, kind);
    return Status::ok();
  }
  WindowSweep sweep;
  sweep.kind = kind == PoolKind::Max ? WindowSweep::Kind::Max : WindowSweep::Kind::Average;
  sweep.window = w;
  sweep.planes = x[0] * x[1];
  sweep.channels = x[1];
  sweep.inChannels = x[1];
  sweep.x = c.inputs[0];
  sweep.y = c.outputs[0];
  sweep.countIncludePad = c.node.intAttr("count_include_pad", 0) != 0;
  emitWindowSweep(c.b, sweep);
  return Status::ok();
}

Status emitMaxPool(KernelContext &c) { return emitPool(c, PoolKind::Max); }
Status emitAveragePool(KernelContext &c) { return emitPool(c, PoolKind::Average); }
Status emitLpPool(KernelContext &c) { return emitPool(c, PoolKind::Lp); }

// ---- Global pools -------------------------------------------------------------------------------------------

template <PoolKind kKind>
Status emitGlobalPool(KernelContext &c) {
  KernelBuilder &b = c.b;
  llvm::IRBuilder<> &ir = b.ir();
  const ir::TensorType &xType = c.inputType(0);
  if constexpr (kKind != PoolKind::Lp)
    if (xType.layout.isBlocked())
      return emitBlockedPool(c, kKind == PoolKind::Max ? BlockedPoolKind::GlobalMax : BlockedPoolKind::GlobalAverage);
  const ir::DType dtype = xType.dtype;
  const int64_t planes = xType.shape[0] * xType.shape[1];
  if (planes == 0) return Status::ok();
  const int64_t size = xType.numel() / planes;
  const double p = lpExponent(c.node);
  if (dtype == ir::DType::Float32 && kKind != PoolKind::Lp && size > 0) {
    llvm::Type *vecTy = gemm::floatVector(b);
    const int64_t laneCount = gemm::floatLanes(b);
    llvm::Value *identity = kKind == PoolKind::Max
                                ? ir.CreateVectorSplat(laneCount, llvm::ConstantFP::getInfinity(ir.getFloatTy(), true))
                                : static_cast<llvm::Value *>(llvm::ConstantAggregateZero::get(vecTy));
    constexpr int64_t kAccumulators = 4;
    const int64_t blocks = size / (kAccumulators * laneCount);
    const int64_t rest = size - blocks * kAccumulators * laneCount;
    b.parallelLoop(planes, {c.inputs[0], c.outputs[0]}, [&](llvm::Value *plane, const std::vector<llvm::Value *> &cap) {
      llvm::Value *xp = b.elementPtr(ir::DType::Float32, cap[0], ir.CreateMul(plane, b.i64(size)));
      std::vector<llvm::AllocaInst *> acc;
      for (int64_t q = 0; q < kAccumulators; ++q) {
        acc.push_back(gemm::entryAlloca(b, vecTy, 1, 64, "acc"));
        ir.CreateStore(identity, acc.back());
      }
      auto combine = [&](llvm::AllocaInst *slot, llvm::Value *v) {
        llvm::Value *old = ir.CreateLoad(vecTy, slot);
        ir.CreateStore(kKind == PoolKind::Max ? ir.CreateSelect(ir.CreateFCmpOGT(v, old), v, old) : ir.CreateFAdd(old, v),
                       slot);
      };
      if (blocks > 0)
        b.loop(blocks, [&](llvm::Value *block) {
          for (int64_t q = 0; q < kAccumulators; ++q) {
            llvm::Value *offset = ir.CreateAdd(ir.CreateMul(block, b.i64(kAccumulators * laneCount)), b.i64(q * laneCount));
            combine(acc[static_cast<size_t>(q)],
                    ir.CreateAlignedLoad(vecTy, b.elementPtr(ir::DType::Float32, xp, offset), llvm::Align(4)));
          }
        }, "block");
      for (int64_t q = 0; q * laneCount < rest; ++q) {
        const int64_t offset = blocks * kAccumulators * laneCount + q * laneCount;
        llvm::Value *mask = gemm::laneRange(b, b.i64(0), b.i64(rest - q * laneCount));
        combine(acc[static_cast<size_t>(q)],
                ir.CreateMaskedLoad(vecTy, b.elementPtr(ir::DType::Float32, xp, b.i64(offset)), llvm::Align(4), mask,
                                    identity));
      }
      llvm::Value *total = ir.CreateLoad(vecTy, acc[0]);
      for (int64_t q = 1; q < kAccumulators; ++q) {
        llvm::Value *v = ir.CreateLoad(vecTy, acc[static_cast<size_t>(q)]);
        total = kKind == PoolKind::Max ? ir.CreateSelect(ir.CreateFCmpOGT(v, total), v, total) : ir.CreateFAdd(total, v);
      }
      llvm::Value *result = kKind == PoolKind::Max
                                ? gemm::reduceMax(b, total)
                                : ir.CreateFDiv(gemm::reduceAdd(b, total), llvm::ConstantFP::get(ir.getFloatTy(), double(size)));
      b.store(ir::DType::Float32, result, cap[1], plane);
    }, "gpool");
    return Status::ok();
  }
  llvm::Type *f64 = ir.getDoubleTy();
  b.parallelLoop(planes, {c.inputs[0], c.outputs[0]}, [&](llvm::Value *plane, const std::vector<llvm::Value *> &cap) {
    llvm::Value *base = ir.CreateMul(plane, b.i64(size));
    llvm::AllocaInst *acc = gemm::entryAlloca(b, kKind == PoolKind::Max ? b.scalarType(dtype) : f64, 1, 8, "acc");
    ir.CreateStore(kKind == PoolKind::Max ? b.constant(dtype, -std::numeric_limits<double>::infinity())
                                          : llvm::ConstantFP::get(f64, 0.0),
                   acc);
    b.loop(size, [&](llvm::Value *i) {
      llvm::Value *v = b.load(dtype, cap[0], ir.CreateAdd(base, i));
      if constexpr (kKind == PoolKind::Max) {
        llvm::Value *old = ir.CreateLoad(b.scalarType(dtype), acc);
        ir.CreateStore(ir.CreateSelect(ir.CreateFCmpOGT(v, old), v, old), acc);
      } else {
        llvm::Value *vd = b.convert(v, dtype, ir::DType::Float64);
        if (kKind == PoolKind::Lp) vd = b.binaryMath("pow", b.unaryMath("abs", vd), llvm::ConstantFP::get(f64, p));
        ir.CreateStore(ir.CreateFAdd(ir.CreateLoad(f64, acc), vd), acc);
      }
    }, "i");
    llvm::Value *result = nullptr;
    if constexpr (kKind == PoolKind::Max) {
      result = ir.CreateLoad(b.scalarType(dtype), acc);
    } else if constexpr (kKind == PoolKind::Average) {
      result = b.convert(ir.CreateFDiv(ir.CreateLoad(f64, acc), llvm::ConstantFP::get(f64, double(size))),
                         ir::DType::Float64, dtype);
    } else {
      result = b.convert(b.binaryMath("pow", ir.CreateLoad(f64, acc), llvm::ConstantFP::get(f64, 1.0 / p)),
                         ir::DType::Float64, dtype);
    }
    b.store(dtype, result, cap[1], plane);
  }, "gpool");
  return Status::ok();
}

}  // namespace

void registerPoolLowerings(LoweringTable &table) {
  table.add("MaxPool", emitMaxPool);
  table.add("AveragePool", emitAveragePool);
  table.add("LpPool", emitLpPool);
  table.add("GlobalAveragePool", emitGlobalPool<PoolKind::Average>);
  table.add("GlobalMaxPool", emitGlobalPool<PoolKind::Max>);
  table.add("GlobalLpPool", emitGlobalPool<PoolKind::Lp>);
  // LpPool and GlobalLpPool keep the default (row-major only).
  for (const char *op : {"MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool"})
    table.declareLayouts("", op, LayoutSupport::Blocked, &checkPoolLayouts);
}

}  // namespace fluidml::codegen::linalg
