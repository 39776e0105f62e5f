// Lowering of the indexing family: Gather, GatherElements, GatherND, ScatterND, ScatterElements/Scatter, Pad,
// Resize/Upsample, Trilu, CumSum, OneHot and TopK. Semantics: core/ops/indexing.cpp; Resize plans and taps come
// from core/ops/resize_geometry.h, as in the reference kernel.
//
// Shapes and every shape-deciding operand (pads, scales, sizes, k, depth) are compile-time constants, so all
// the index arithmetic that depends only on them is done here, in C++: Pad's per-axis source maps and Resize's
// per-axis interpolation taps (source index and weight of each output coordinate) become constant tables in
// the module; the kernels only look them up. Resize computes each output element directly as the weighted sum
// over the tensor product of its per-axis taps (2 per axis for linear, 4 for cubic, 1 for nearest, fully
// unrolled; axes that map x -> x contribute no taps), accumulated in double as the interpreter does, so there is
// no intermediate buffer. Row copies (Gather, GatherND, Pad's interior) are memcpy-sized moves.
//
// Run-time indices (Gather*, Scatter*, OneHot's input) cannot fail mid-run: a compiled model has no error path.
// Negative indices wrap once (index + size) as ONNX defines; an index still outside [0, size) is CLAMPED to the
// nearest valid position (0 or size - 1), so no kernel reads or writes out of bounds. (The interpreter reports
// such an index as an error instead.) OneHot's out-of-range indices produce an all-off row, as in ONNX.
//
// TopK keeps the best k of each slice in a sorted stack buffer while scanning it in index order: one compare
// against the current k-th per element, an insertion only when it beats it (O(n + k log(n/k) k) expected on
// random data); ties keep the lower index first and NaN ranks above every number, as in the interpreter. For
// k > 2048 it makes k selection scans instead, O(n k), with no buffer.
#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <numeric>
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
#include "core/ops/resize_geometry.h"

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


std::string str(int64_t v) { return std::to_string(v); }

bool isUnsigned(DType dtype) { return dtype == DType::UInt8 || dtype == DType::Bool; }

// --- IR helpers ---------------------------------------------------------------------------------------------

/// Constant tables in the module (read with b.load(DType::Int64 / Float64 / UInt8, table, index)).
Value *int64Table(KernelBuilder &b, const std::vector<int64_t> &values, const std::string &name) {
  std::vector<int64_t> v = values.empty() ? std::vector<int64_t>{0} : values;
  std::vector<uint64_t> u(v.begin(), v.end());
  return helpers::constantGlobal(b, llvm::ConstantDataArray::get(b.context(), llvm::ArrayRef<uint64_t>(u)), name);
}
Value *doubleTable(KernelBuilder &b, const std::vector<double> &values, const std::string &name) {
  std::vector<double> v = values.empty() ? std::vector<double>{0.0} : values;
  return helpers::constantGlobal(b, llvm::ConstantDataArray::get(b.context(), llvm::ArrayRef<double>(v)), name);
}
Value *byteTable(KernelBuilder &b, const std::vector<uint8_t> &values, const std::string &name) {
  std::vector<uint8_t> v = values.empty() ? std::vector<uint8_t>{0} : values;
  return helpers::constantGlobal(b, llvm::ConstantDataArray::get(b.context(), llvm::ArrayRef<uint8_t>(v)), name);
}

Value *bytePtr(KernelBuilder &b, DType dtype, Value *base, Value *index) { return b.elementPtr(dtype, base, index); }

/// Copies `count` elements (memcpy-sized; the compiler expands short constant copies inline).
void copyElements(KernelBuilder &b, DType dtype, Value *dst, Value *dstIndex, Value *src, Value *srcIndex,
                  int64_t count) {
  if (count <= 0) return;
  const uint64_t bytes = static_cast<uint64_t>(count) * ir::dtypeSize(dtype);
  b.ir().CreateMemCpy(bytePtr(b, dtype, dst, dstIndex), llvm::MaybeAlign(ir::dtypeSize(dtype)),
                      bytePtr(b, dtype, src, srcIndex), llvm::MaybeAlign(ir::dtypeSize(dtype)), bytes);
}

/// An index element (int32 or int64) as i64, wrapped once when negative and clamped into [0, size - 1].
Value *loadIndex(KernelBuilder &b, DType indexType, Value *indices, Value *position, int64_t size) {
  llvm::IRBuilder<> &ir = b.ir();
  Value *raw = b.load(indexType, indices, position);
  Value *index = indexType == DType::Int64 ? raw : ir.CreateSExt(raw, ir.getInt64Ty());
  Value *wrapped = ir.CreateSelect(ir.CreateICmpSLT(index, b.i64(0)), ir.CreateAdd(index, b.i64(size)), index);
  wrapped = ir.CreateBinaryIntrinsic(llvm::Intrinsic::smax, wrapped, b.i64(0));
  return ir.CreateBinaryIntrinsic(llvm::Intrinsic::smin, wrapped, b.i64(std::max<int64_t>(size - 1, 0)));
}

Status requireIndexType(const KernelContext &c, size_t i) {
  DType d = c.inputType(i).dtype;
  if (d != DType::Int64 && d != DType::Int32)
    return Status::error("indices must be int32 or int64, got " + std::string(ir::dtypeName(d)));
  return Status::ok();
}

/// A scalar of `dtype` from a double as the interpreter's fromDouble: integers round half away from zero and
/// saturate (NaN -> 0), bool is != 0.
Value *fromDoubleValue(KernelBuilder &b, Value *v, DType dtype) {
  llvm::IRBuilder<> &ir = b.ir();
  if (ir::isFloating(dtype)) return dtype == DType::Float64 ? v : ir.CreateFPTrunc(v, b.scalarType(dtype));
  if (dtype == DType::Bool) return ir.CreateZExt(ir.CreateFCmpUNE(v, llvm::ConstantFP::get(v->getType(), 0.0)),
                                                 b.scalarType(dtype));
  Value *rounded = ir.CreateUnaryIntrinsic(llvm::Intrinsic::round, v);
  llvm::Intrinsic::ID id = isUnsigned(dtype) ? llvm::Intrinsic::fptoui_sat : llvm::Intrinsic::fptosi_sat;
  return ir.CreateIntrinsic(id, {b.scalarType(dtype), v->getType()}, {rounded});
}

/// A compile-time scalar of `dtype` from a double, as fromDouble in the interpreter.
llvm::Constant *constantFromDouble(KernelBuilder &b, DType dtype, double v) {
  llvm::Type *type = b.scalarType(dtype);
  if (ir::isFloating(dtype)) return llvm::ConstantFP::get(type, v);
  if (dtype == DType::Bool) return llvm::ConstantInt::get(type, v != 0.0 ? 1 : 0);
  if (std::isnan(v)) return llvm::ConstantInt::get(type, 0);
  double lo = 0, hi = 0;
  switch (dtype) {
    case DType::Int64: lo = -9223372036854775808.0; hi = 9223372036854775807.0; break;
    case DType::Int32: lo = -2147483648.0; hi = 2147483647.0; break;
    case DType::Int8: lo = -128; hi = 127; break;
    default: lo = 0; hi = 255; break;
  }
  double r = std::round(v);
  if (!(r > lo)) return llvm::ConstantInt::get(type, static_cast<uint64_t>(static_cast<int64_t>(lo)), true);
  if (!(r < hi)) {
    if (dtype == DType::Int64) return llvm::ConstantInt::get(type, static_cast<uint64_t>(INT64_MAX), true);
    return llvm::ConstantInt::get(type, static_cast<uint64_t>(static_cast<int64_t>(hi)), true);
  }
  return llvm::ConstantInt::get(type, static_cast<uint64_t>(static_cast<int64_t>(r)), true);
}

/// Element i of a constant tensor as an IR constant of its own dtype (exact for int64).
llvm::Constant *constantElement(KernelBuilder &b, const ir::Tensor &t, int64_t i) {
  if (ir::isFloating(t.dtype())) return llvm::ConstantFP::get(b.scalarType(t.dtype()), t.elementAsDouble(i));
  return llvm::ConstantInt::get(b.scalarType(t.dtype()), static_cast<uint64_t>(t.elementAsInt(i)), true);
}

// --- Gather -------------------------------------------------------------------------------------------------

Status emitGather(KernelContext &c) {
  FLUIDML_RETURN_IF_ERROR(requireIndexType(c, 1));
  const ir::TensorType &data = c.inputType(0);
  const DType indexType = c.inputType(1).dtype;
  if (data.rank() == 0) return Status::error("data must have rank >= 1");
  FLUIDML_ASSIGN_OR_RETURN(int64_t axis, ops::normalizeAxis(c.node.intAttr("axis", 0), static_cast<int64_t>(data.rank())));
  const size_t a = static_cast<size_t>(axis);
  const int64_t outer = product(data.shape, 0, a), axisSize = data.shape[a];
  const int64_t inner = product(data.shape, a + 1, data.rank());
  const int64_t count = c.inputType(1).numel();
  if (c.outputType(0).numel() == 0) return Status::ok();
  if (axisSize == 0) return Status::error("cannot gather from the empty axis " + str(axis));
  KernelBuilder &b = c.b;
  const bool parallel = c.outputType(0).numel() >= b.target().parallelSliceElements;
  forRange(b, outer * count, parallel, {c.inputs[0], c.inputs[1], c.outputs[0]},
           [&](Value *row, const std::vector<Value *> &p) {
             llvm::IRBuilder<> &ir = b.ir();
             Value *o = count == 1 ? row : ir.CreateUDiv(row, b.i64(count));
             Value *i = count == 1 ? b.i64(0) : ir.CreateURem(row, b.i64(count));
             Value *index = loadIndex(b, indexType, p[1], i, axisSize);
             Value *src = ir.CreateMul(ir.CreateAdd(ir.CreateMul(o, b.i64(axisSize)), index), b.i64(inner));
             copyElements(b, data.dtype, p[2], ir.CreateMul(row, b.i64(inner)), p[0], src, inner);
           });
  return Status::ok();
}

// --- GatherElements -----------------------------------------------------------------------------------------

Status emitGatherElements(KernelContext &c) {
  FLUIDML_RETURN_IF_ERROR(requireIndexType(c, 1));
  const ir::TensorType &data = c.inputType(0);
  const Shape &shape = c.inputType(1).shape;
  const DType indexType = c.inputType(1).dtype;
  FLUIDML_ASSIGN_OR_RETURN(int64_t axis, ops::normalizeAxis(c.node.intAttr("axis", 0), static_cast<int64_t>(data.rank())));
  const size_t a = static_cast<size_t>(axis);
  if (ir::shapeNumel(shape) == 0) return Status::ok();
  if (data.shape[a] == 0) return Status::error("cannot gather from the empty axis " + str(axis));
  std::vector<int64_t> strides = ir::rowMajorStrides(data.shape);
  const int64_t axisStride = strides[a];
  strides[a] = 0;  // the index supplies this coordinate
  const int64_t rank = static_cast<int64_t>(shape.size());
  const int64_t rowLength = shape.back();
  const Shape outerShape(shape.begin(), shape.end() - 1);
  const std::vector<int64_t> outerStrides(strides.begin(), strides.end() - 1);
  const int64_t lastStride = strides[static_cast<size_t>(rank - 1)];
  KernelBuilder &b = c.b;
  const int64_t axisSize = data.shape[a];
  forRange(b, ir::shapeNumel(outerShape), ir::shapeNumel(shape) >= b.target().parallelSliceElements,
           {c.inputs[0], c.inputs[1], c.outputs[0]}, [&](Value *row, const std::vector<Value *> &p) {
             llvm::IRBuilder<> &ir = b.ir();
             Value *base = b.linearIndex(unflatten(b, row, outerShape), outerStrides);
             Value *rowStart = ir.CreateMul(row, b.i64(rowLength));
             b.loop(rowLength, [&](Value *j) {
               Value *position = ir.CreateAdd(rowStart, j);
               Value *index = loadIndex(b, indexType, p[1], position, axisSize);
               Value *offset = ir.CreateAdd(ir.CreateAdd(base, ir.CreateMul(j, b.i64(lastStride))),
                                            ir.CreateMul(index, b.i64(axisStride)));
               b.store(data.dtype, b.load(data.dtype, p[0], offset), p[2], position);
             });
           });
  return Status::ok();
}

// --- GatherND / ScatterND -----------------------------------------------------------------------------------

struct NdLayout {
  int64_t batches = 1, tuples = 1, depth = 0, sliceSize = 1, batchStride = 1;
  std::vector<int64_t> tupleStrides, tupleDims;
};

NdLayout ndLayout(const Shape &data, const Shape &indices, size_t batchDims) {
  NdLayout l;
  l.depth = indices.back();
  const size_t m = static_cast<size_t>(l.depth);
  l.batches = product(data, 0, batchDims);
  l.tuples = product(indices, batchDims, indices.size() - 1);
  l.sliceSize = product(data, batchDims + m, data.size());
  l.batchStride = product(data, batchDims, data.size());
  std::vector<int64_t> strides = ir::rowMajorStrides(data);
  for (size_t k = 0; k < m; ++k) {
    l.tupleStrides.push_back(strides[batchDims + k]);
    l.tupleDims.push_back(data[batchDims + k]);
  }
  return l;
}

/// Data element offset addressed by index tuple t (i64), batch-major.
Value *ndOffset(KernelBuilder &b, const NdLayout &l, DType indexType, Value *indices, Value *t) {
  llvm::IRBuilder<> &ir = b.ir();
  Value *batch = l.tuples == 1 ? t : ir.CreateUDiv(t, b.i64(std::max<int64_t>(l.tuples, 1)));
  Value *offset = ir.CreateMul(batch, b.i64(l.batchStride));
  for (size_t k = 0; k < l.tupleDims.size(); ++k) {
    Value *position = ir.CreateAdd(ir.CreateMul(t, b.i64(l.depth)), b.i64(static_cast<int64_t>(k)));
    Value *index = loadIndex(b, indexType, indices, position, l.tupleDims[k]);
    offset = ir.CreateAdd(offset, ir.CreateMul(index, b.i64(l.tupleStrides[k])));
  }
  return offset;
}

Status emitGatherND(KernelContext &c) {
  FLUIDML_RETURN_IF_ERROR(requireIndexType(c, 1));
  const ir::TensorType &data = c.inputType(0);
  const size_t batchDims = static_cast<size_t>(c.node.intAttr("batch_dims", 0));
  const NdLayout l = ndLayout(data.shape, c.inputType(1).shape, batchDims);
  if (c.outputType(0).numel() == 0) return Status::ok();
  for (int64_t dim : l.tupleDims)
    if (dim == 0) return Status::error("cannot gather from an empty axis");
  KernelBuilder &b = c.b;
  const DType indexType = c.inputType(1).dtype;
  forRange(b, l.batches * l.tuples, c.outputType(0).numel() >= b.target().parallelSliceElements,
           {c.inputs[0], c.inputs[1], c.outputs[0]}, [&](Value *t, const std::vector<Value *> &p) {
             Value *offset = ndOffset(b, l, indexType, p[1], t);
             copyElements(b, data.dtype, p[2], b.ir().CreateMul(t, b.i64(l.sliceSize)), p[0], offset, l.sliceSize);
           });
  return Status::ok();
}

enum class Reduction { None, Add, Mul, Max, Min };

Expected<Reduction> parseReduction(const ir::Node &node) {
  std::string name = node.stringAttr("reduction", "none");
  if (name == "none") return Reduction::None;
  if (name == "add") return Reduction::Add;
  if (name == "mul") return Reduction::Mul;
  if (name == "max") return Reduction::Max;
  if (name == "min") return Reduction::Min;
  return Status::error("unknown reduction '" + name + "'");
}

/// The value a scatter stores over `old`.
Value *combine(KernelBuilder &b, DType dtype, Reduction r, Value *old, Value *update) {
  llvm::IRBuilder<> &ir = b.ir();
  const bool isFloat = ir::isFloating(dtype);
  const bool u = isUnsigned(dtype);
  switch (r) {
    case Reduction::None: return update;
    case Reduction::Add: return isFloat ? ir.CreateFAdd(old, update) : ir.CreateAdd(old, update);
    case Reduction::Mul: return isFloat ? ir.CreateFMul(old, update) : ir.CreateMul(old, update);
    case Reduction::Max: {  // std::max(old, update): update only when old < update
      Value *less = isFloat ? ir.CreateFCmpOLT(old, update) : (u ? ir.CreateICmpULT(old, update) : ir.CreateICmpSLT(old, update));
      return ir.CreateSelect(less, update, old);
    }
    case Reduction::Min: {  // std::min(old, update): update only when update < old
      Value *less = isFloat ? ir.CreateFCmpOLT(update, old) : (u ? ir.CreateICmpULT(update, old) : ir.CreateICmpSLT(update, old));
      return ir.CreateSelect(less, update, old);
    }
  }
  return update;
}

/// output = data (a move; nothing when the plan put the output over data).
void copyData(KernelContext &c) {
  const size_t bytes = c.inputType(0).bytes();
  if (bytes == 0) return;
  c.b.ir().CreateMemMove(c.outputs[0], llvm::MaybeAlign(1), c.inputs[0], llvm::MaybeAlign(1), bytes);
}

Status emitScatterND(KernelContext &c) {
  FLUIDML_RETURN_IF_ERROR(requireIndexType(c, 1));
  FLUIDML_ASSIGN_OR_RETURN(Reduction reduction, parseReduction(c.node));
  const ir::TensorType &data = c.inputType(0);
  const NdLayout l = ndLayout(data.shape, c.inputType(1).shape, 0);
  for (int64_t dim : l.tupleDims)
    if (dim == 0 && l.tuples > 0) return Status::error("cannot scatter into an empty axis");
  copyData(c);
  KernelBuilder &b = c.b;
  llvm::IRBuilder<> &ir = b.ir();
  const DType indexType = c.inputType(1).dtype;
  // Sequential: with duplicate indices the last update (or every combined one) must win, as in the reference.
  if (l.tuples == 0 || l.sliceSize == 0) return Status::ok();
  b.loop(l.tuples, [&](Value *t) {
    Value *offset = ndOffset(b, l, indexType, c.inputs[1], t);
    Value *updateBase = ir.CreateMul(t, b.i64(l.sliceSize));
    b.loop(l.sliceSize, [&](Value *j) {
      Value *target = ir.CreateAdd(offset, j);
      Value *update = b.load(data.dtype, c.inputs[2], ir.CreateAdd(updateBase, j));
      Value *value = reduction == Reduction::None ? update
                                                  : combine(b, data.dtype, reduction, b.load(data.dtype, c.outputs[0], target), update);
      b.store(data.dtype, value, c.outputs[0], target);
    });
  });
  return Status::ok();
}

Status emitScatterElements(KernelContext &c) {
  FLUIDML_RETURN_IF_ERROR(requireIndexType(c, 1));
  FLUIDML_ASSIGN_OR_RETURN(Reduction reduction, parseReduction(c.node));
  const ir::TensorType &data = c.inputType(0);
  const Shape &shape = c.inputType(1).shape;
  FLUIDML_ASSIGN_OR_RETURN(int64_t axis, ops::normalizeAxis(c.node.intAttr("axis", 0), static_cast<int64_t>(data.rank())));
  const size_t a = static_cast<size_t>(axis);
  copyData(c);
  if (ir::shapeNumel(shape) == 0) return Status::ok();
  if (data.shape[a] == 0) return Status::error("cannot scatter into the empty axis " + str(axis));
  std::vector<int64_t> strides = ir::rowMajorStrides(data.shape);
  const int64_t axisStride = strides[a];
  strides[a] = 0;
  KernelBuilder &b = c.b;
  llvm::IRBuilder<> &ir = b.ir();
  const DType indexType = c.inputType(1).dtype;
  const std::vector<int64_t> positionStrides = ir::rowMajorStrides(shape);
  b.loopNest(shape, [&](const std::vector<Value *> &coords) {
    Value *position = b.linearIndex(coords, positionStrides);
    Value *index = loadIndex(b, indexType, c.inputs[1], position, data.shape[a]);
    Value *target = ir.CreateAdd(b.linearIndex(coords, strides), ir.CreateMul(index, b.i64(axisStride)));
    Value *update = b.load(data.dtype, c.inputs[2], position);
    Value *value = reduction == Reduction::None ? update
                                                : combine(b, data.dtype, reduction, b.load(data.dtype, c.outputs[0], target), update);
    b.store(data.dtype, value, c.outputs[0], target);
  });
  return Status::ok();
}

// --- Pad ----------------------------------------------------------------------------------------------------

enum class PadMode { Constant, Reflect, Edge, Wrap };

/// For each output coordinate of one axis, the input coordinate it copies, or -1 for the constant.
std::vector<int64_t> padAxisMap(int64_t inSize, int64_t begin, int64_t end, int64_t outSize, PadMode mode) {
  const int64_t cropBegin = std::max<int64_t>(-begin, 0);
  const int64_t kept = inSize - cropBegin - std::max<int64_t>(-end, 0);
  const int64_t padBegin = std::max<int64_t>(begin, 0);
  std::vector<int64_t> map(static_cast<size_t>(outSize));
  for (int64_t o = 0; o < outSize; ++o) {
    int64_t i = o - padBegin;
    if (i < 0 || i >= kept) {
      if (mode == PadMode::Constant || kept == 0) {
        i = -1;
      } else if (mode == PadMode::Edge) {
        i = std::clamp<int64_t>(i, 0, kept - 1);
      } else if (mode == PadMode::Wrap) {
        i = ((i % kept) + kept) % kept;
      } else {  // reflect: period 2 (kept - 1), no repeated edge
        const int64_t period = 2 * (kept - 1);
        if (period == 0) {
          i = 0;
        } else {
          i = ((i % period) + period) % period;
          if (i >= kept) i = period - i;
        }
      }
    }
    map[static_cast<size_t>(o)] = i < 0 ? -1 : i + cropBegin;
  }
  return map;
}

Status emitPad(KernelContext &c) {
  const ir::TensorType &data = c.inputType(0);
  const Shape &outShape = c.outputType(0).shape;
  const DType dtype = data.dtype;
  std::string modeName = c.node.stringAttr("mode", "constant");
  PadMode mode;
  if (modeName == "constant") mode = PadMode::Constant;
  else if (modeName == "reflect") mode = PadMode::Reflect;
  else if (modeName == "edge") mode = PadMode::Edge;
  else if (modeName == "wrap") mode = PadMode::Wrap;
  else return Status::error("unknown pad mode '" + modeName + "'");

  std::optional<std::vector<int64_t>> pads = c.node.intsAttr("pads");
  if (!pads && c.hasInput(1)) {
    const ir::Tensor *t = c.constantInput(1);
    if (t == nullptr) return Status::error("Pad: pads must be a compile-time constant");
    pads = t->toInt64Vector();
  }
  if (!pads) return Status::error("pads is required");
  const size_t rank = data.rank();
  std::vector<int64_t> axes(rank);
  std::iota(axes.begin(), axes.end(), 0);
  if (c.hasInput(3)) {
    const ir::Tensor *t = c.constantInput(3);
    if (t == nullptr) return Status::error("Pad: axes must be a compile-time constant");
    FLUIDML_ASSIGN_OR_RETURN(axes, ops::normalizeAxes(t->toInt64Vector(), static_cast<int64_t>(rank)));
  }
  if (pads->size() != 2 * axes.size())
    return Status::error("pads has " + str(static_cast<int64_t>(pads->size())) + " values, expected " +
                         str(static_cast<int64_t>(2 * axes.size())));
  std::vector<int64_t> begin(rank, 0), end(rank, 0);
  for (size_t i = 0; i < axes.size(); ++i) {
    begin[static_cast<size_t>(axes[i])] = (*pads)[i];
    end[static_cast<size_t>(axes[i])] = (*pads)[i + axes.size()];
  }
  KernelBuilder &b = c.b;
  const int64_t outCount = ir::shapeNumel(outShape);
  if (outCount == 0) return Status::ok();
  if (rank == 0) {
    copyData(c);
    return Status::ok();
  }

  // The pad value: the constant_value operand (compile-time or run-time) or the opset-2 attribute.
  llvm::Constant *fixedValue = nullptr;
  const bool valueOperand = c.hasInput(2) && c.inputType(2).numel() > 0;
  if (valueOperand) {
    if (const ir::Tensor *t = c.constantInput(2)) fixedValue = constantElement(b, *t, 0);
  } else {
    fixedValue = constantFromDouble(b, dtype, c.node.floatAttr("value", 0.0f));
  }

  const std::vector<int64_t> inStrides = ir::rowMajorStrides(data.shape);
  std::vector<Value *> outerMaps;  // premultiplied input offsets, -1 = pad value
  const Shape outerShape(outShape.begin(), outShape.end() - 1);
  for (size_t d = 0; d + 1 < rank; ++d) {
    std::vector<int64_t> map = padAxisMap(data.shape[d], begin[d], end[d], outShape[d], mode);
    for (int64_t &m : map)
      if (m >= 0) m *= inStrides[d];
    outerMaps.push_back(int64Table(b, map, "pad_map"));
  }
  const size_t last = rank - 1;
  const std::vector<int64_t> lastMap = padAxisMap(data.shape[last], begin[last], end[last], outShape[last], mode);
  Value *lastTable = int64Table(b, lastMap, "pad_map_last");
  const int64_t rowLength = outShape[last];
  // Interior [padBegin, padBegin + kept) copies a contiguous input run.
  const int64_t cropBegin = std::max<int64_t>(-begin[last], 0);
  const int64_t kept = data.shape[last] - cropBegin - std::max<int64_t>(-end[last], 0);
  const int64_t padBegin = std::max<int64_t>(begin[last], 0);
  const int64_t interiorEnd = padBegin + std::max<int64_t>(kept, 0);

  std::vector<Value *> pointers = {c.inputs[0], c.outputs[0], valueOperand ? c.inputs[2] : c.inputs[0]};
  forRange(b, ir::shapeNumel(outerShape), outCount >= b.target().parallelSliceElements, pointers,
           [&](Value *row, const std::vector<Value *> &p) {
             llvm::IRBuilder<> &ir = b.ir();
             Value *value = fixedValue ? static_cast<Value *>(fixedValue) : b.load(dtype, p[2], b.i64(0));
             std::vector<Value *> coords = unflatten(b, row, outerShape);
             Value *base = b.i64(0);
             Value *inside = ir.getTrue();
             for (size_t d = 0; d + 1 < rank; ++d) {
               Value *m = b.load(DType::Int64, outerMaps[d], coords[d]);
               inside = ir.CreateAnd(inside, ir.CreateICmpSGE(m, b.i64(0)));
               base = ir.CreateAdd(base, m);
             }
             Value *rowStart = ir.CreateMul(row, b.i64(rowLength));
             auto mapped = [&](int64_t from, int64_t to) {
               if (from >= to) return;
               b.loop(b.i64(from), b.i64(to), 1, [&](Value *j) {
                 Value *m = b.load(DType::Int64, lastTable, j);
                 Value *valid = ir.CreateICmpSGE(m, b.i64(0));
                 Value *source = ir.CreateSelect(valid, ir.CreateAdd(base, m), b.i64(0));
                 Value *x = b.load(dtype, p[0], source);
                 b.store(dtype, ir.CreateSelect(valid, x, value), p[1], ir.CreateAdd(rowStart, j));
               });
             };
             auto fill = [&] {
               b.loop(rowLength, [&](Value *j) { b.store(dtype, value, p[1], ir.CreateAdd(rowStart, j)); });
             };
             auto copyRow = [&] {
               mapped(0, std::min(padBegin, rowLength));
               copyElements(b, dtype, p[1], ir.CreateAdd(rowStart, b.i64(padBegin)), p[0],
                            ir.CreateAdd(base, b.i64(cropBegin)), interiorEnd - padBegin);
               mapped(std::max<int64_t>(interiorEnd, padBegin), rowLength);
             };
             if (rank == 1) {
               copyRow();
             } else {
               ifElse(b, inside, copyRow, fill);
             }
           });
  return Status::ok();
}

// --- Resize / Upsample --------------------------------------------------------------------------------------

using ops::CoordMode;
using ops::ResizeMode;
using ops::ResizePlan;

/// Interpolation taps of every output coordinate of one axis: `taps` entries per coordinate (index clamped
/// into the input, weight; unused entries weigh 0), whether the coordinate lies outside (extrapolation), and
/// whether the axis is the identity (output x reads input x alone).
struct AxisTaps {
  int taps = 1;
  std::vector<int64_t> index;
  std::vector<double> weight;
  std::vector<uint8_t> outside;
  bool anyOutside = false;
  bool identity = true;
};

AxisTaps axisTaps(const ResizePlan &p, size_t a) {
  const int64_t outLength = p.outShape[a];
  AxisTaps t;
  t.taps = ops::resizeTapCount(p.mode);
  const size_t n = static_cast<size_t>(outLength) * static_cast<size_t>(t.taps);
  t.index.assign(n, 0);
  t.weight.assign(n, 0.0);
  t.outside.assign(static_cast<size_t>(outLength), 0);
  t.identity = p.inShape[a] == outLength;
  for (int64_t x = 0; x < outLength; ++x) {
    const ops::ResizeTaps r = ops::resizeTaps(p, a, x);
    const size_t slot = static_cast<size_t>(x) * static_cast<size_t>(t.taps);
    if (r.outside) {
      t.outside[static_cast<size_t>(x)] = 1;
      t.anyOutside = true;
      t.identity = false;
      continue;
    }
    int nonZero = 0;
    int64_t only = -1;
    for (int k = 0; k < t.taps; ++k) {
      t.index[slot + static_cast<size_t>(k)] = r.index[k];
      t.weight[slot + static_cast<size_t>(k)] = r.weight[k];
      if (r.weight[k] != 0 || t.taps == 1) {
        ++nonZero;
        only = k;
      }
    }
    if (nonZero != 1 || r.index[only] != x || r.weight[only] != 1.0) t.identity = false;
  }
  return t;
}

Status emitResize(KernelContext &c) {
  const ir::Node &node = c.node;
  if (c.inputType(0).rank() == 0) return Status::error("the input must have rank >= 1");
  const ops::ResizeOperands operands = ops::resizeOperands(node, c.opset);
  for (int i : {operands.scales, operands.sizes})
    if (i >= 0 && c.hasInput(static_cast<size_t>(i)) && c.inputType(static_cast<size_t>(i)).numel() > 0 &&
        c.constantInput(static_cast<size_t>(i)) == nullptr)
      return Status::error(node.opType + ": scales and sizes must be constants");
  FLUIDML_ASSIGN_OR_RETURN(ResizePlan plan, ops::planResize(node, c.opset, c.inputType(0).shape, [&](size_t i) {
                             return c.hasInput(i) ? c.constantInput(i) : nullptr;
                           }));
  if (!plan.roiKnown) return Status::error("Resize: roi must be a compile-time constant");
  if (plan.outShape != c.outputType(0).shape)
    return Status::error("the output shape " + ir::shapeToString(c.outputType(0).shape) +
                         " does not match the resized shape " + ir::shapeToString(plan.outShape));
  const DType dtype = c.inputType(0).dtype;
  if (plan.mode != ResizeMode::Nearest && dtype == DType::Bool)
    return Status::error("linear and cubic modes need numeric input, got bool");
  const int64_t outCount = ir::shapeNumel(plan.outShape);
  if (outCount == 0) return Status::ok();
  const size_t rank = plan.inShape.size();
  for (size_t a = 0; a < rank; ++a)
    if (plan.inShape[a] == 0) return Status::error("cannot resize the empty axis " + str(static_cast<int64_t>(a)));
  KernelBuilder &b = c.b;
  const std::vector<int64_t> inStrides = ir::rowMajorStrides(plan.inShape);

  struct AxisTables {
    AxisTaps taps;
    Value *index = nullptr, *weight = nullptr, *outside = nullptr;
  };
  std::vector<AxisTables> axes(rank);
  for (size_t a = 0; a < rank; ++a) {
    axes[a].taps = axisTaps(plan, a);
    if (axes[a].taps.identity) continue;
    std::vector<int64_t> offsets = axes[a].taps.index;
    for (int64_t &o : offsets) o *= inStrides[a];
    axes[a].index = int64Table(b, offsets, "resize_index");
    if (plan.mode != ResizeMode::Nearest) axes[a].weight = doubleTable(b, axes[a].taps.weight, "resize_weight");
    if (axes[a].taps.anyOutside) axes[a].outside = byteTable(b, axes[a].taps.outside, "resize_outside");
  }
  const size_t last = rank - 1;
  const Shape outerShape(plan.outShape.begin(), plan.outShape.end() - 1);
  const int64_t rowLength = plan.outShape[last];
  const bool interpolate = plan.mode != ResizeMode::Nearest;

  forRange(b, ir::shapeNumel(outerShape), outCount >= b.target().parallelSliceElements / 4, {c.inputs[0], c.outputs[0]},
           [&](Value *row, const std::vector<Value *> &p) {
             llvm::IRBuilder<> &ir = b.ir();
             llvm::Type *f64 = ir.getDoubleTy();
             std::vector<Value *> coords = unflatten(b, row, outerShape);
             // Per axis: the tap offsets (premultiplied) and weights of this output coordinate.
             struct Taps {
               std::vector<Value *> offset, weight;
             };
             auto tapsOf = [&](size_t a, Value *x) {
               Taps t;
               const AxisTables &tables = axes[a];
               if (tables.taps.identity) {
                 t.offset.push_back(ir.CreateMul(x, b.i64(inStrides[a])));
                 t.weight.push_back(nullptr);
                 return t;
               }
               const int64_t n = tables.taps.taps;
               Value *slot = ir.CreateMul(x, b.i64(n));
               for (int64_t k = 0; k < n; ++k) {
                 Value *at = ir.CreateAdd(slot, b.i64(k));
                 t.offset.push_back(b.load(DType::Int64, tables.index, at));
                 t.weight.push_back(interpolate ? b.load(DType::Float64, tables.weight, at) : nullptr);
               }
               return t;
             };
             auto outsideOf = [&](size_t a, Value *x) -> Value * {
               if (axes[a].outside == nullptr) return nullptr;
               return ir.CreateICmpNE(b.load(DType::UInt8, axes[a].outside, x), ir.getInt8(0));
             };
             std::vector<Taps> outer;
             Value *outsideRow = ir.getFalse();
             for (size_t a = 0; a < last; ++a) {
               outer.push_back(tapsOf(a, coords[a]));
               if (Value *o = outsideOf(a, coords[a])) outsideRow = ir.CreateOr(outsideRow, o);
             }
             Value *rowStart = ir.CreateMul(row, b.i64(rowLength));
             b.loop(rowLength, [&](Value *j) {
               std::vector<Taps> all = outer;
               all.push_back(tapsOf(last, j));
               Value *outside = outsideRow;
               if (Value *o = outsideOf(last, j)) outside = ir.CreateOr(outside, o);
               Value *result = nullptr;
               if (!interpolate) {
                 Value *offset = b.i64(0);
                 for (const Taps &t : all) offset = ir.CreateAdd(offset, t.offset[0]);
                 result = b.load(dtype, p[0], offset);
               } else {
                 // Sum over the tensor product of the axes' taps; zero weights are skipped (an inf times 0 must
                 // not turn into NaN), as the interpreter skips them.
                 Value *acc = llvm::ConstantFP::get(f64, 0.0);
                 std::vector<size_t> pick(all.size(), 0);
                 while (true) {
                   Value *offset = b.i64(0);
                   Value *weight = nullptr;
                   for (size_t a = 0; a < all.size(); ++a) {
                     offset = ir.CreateAdd(offset, all[a].offset[pick[a]]);
                     if (Value *w = all[a].weight[pick[a]]) weight = weight ? ir.CreateFMul(weight, w) : w;
                   }
                   Value *x = b.load(dtype, p[0], offset);
                   Value *xd = ir::isFloating(dtype) ? (dtype == DType::Float64 ? x : ir.CreateFPExt(x, f64))
                                                     : (isUnsigned(dtype) ? ir.CreateUIToFP(x, f64) : ir.CreateSIToFP(x, f64));
                   Value *term = weight ? ir.CreateSelect(ir.CreateFCmpOEQ(weight, llvm::ConstantFP::get(f64, 0.0)),
                                                          llvm::ConstantFP::get(f64, 0.0), ir.CreateFMul(weight, xd))
                                        : xd;
                   acc = ir.CreateFAdd(acc, term);
                   size_t a = all.size();
                   while (a-- > 0) {
                     if (++pick[a] < all[a].offset.size()) break;
                     pick[a] = 0;
                   }
                   if (a == static_cast<size_t>(-1)) break;
                 }
                 result = fromDoubleValue(b, acc, dtype);
               }
               if (plan.coord == CoordMode::TfCropAndResize)
                 result = ir.CreateSelect(outside, constantFromDouble(b, dtype, plan.extrapolation), result);
               b.store(dtype, result, p[1], ir.CreateAdd(rowStart, j));
             });
           });
  return Status::ok();
}

// --- Trilu --------------------------------------------------------------------------------------------------

Status emitTrilu(KernelContext &c) {
  const ir::TensorType &type = c.inputType(0);
  if (type.rank() < 2) return Status::error("the input must have rank >= 2");
  const bool upper = c.node.intAttr("upper", 1) != 0;
  const int64_t rows = type.shape[type.rank() - 2], cols = type.shape.back();
  const int64_t matrices = product(type.shape, 0, type.rank() - 2);
  if (type.numel() == 0) return Status::ok();
  KernelBuilder &b = c.b;
  std::optional<int64_t> fixedK = int64_t{0};
  if (c.hasInput(1)) {
    const ir::Tensor *k = c.constantInput(1);
    fixedK = k ? std::optional<int64_t>(k->elementAsInt(0)) : std::nullopt;
  }
  const DType dtype = type.dtype;
  forRange(b, matrices * rows, type.numel() >= b.target().parallelSliceElements,
           {c.inputs[0], c.outputs[0], c.hasInput(1) ? c.inputs[1] : c.inputs[0]},
           [&](Value *r, const std::vector<Value *> &p) {
             llvm::IRBuilder<> &ir = b.ir();
             Value *k = fixedK ? b.i64(*fixedK) : b.load(DType::Int64, p[2], b.i64(0));
             Value *i = ir.CreateURem(r, b.i64(rows));
             Value *bound = ir.CreateAdd(i, k);  // keep j >= i + k (upper) or j <= i + k (lower)
             Value *zero = llvm::Constant::getNullValue(b.scalarType(dtype));
             Value *start = ir.CreateMul(r, b.i64(cols));
             b.loop(cols, [&](Value *j) {
               Value *keep = upper ? ir.CreateICmpSGE(j, bound) : ir.CreateICmpSLE(j, bound);
               Value *at = ir.CreateAdd(start, j);
               b.store(dtype, ir.CreateSelect(keep, b.load(dtype, p[0], at), zero), p[1], at);
             });
           });
  return Status::ok();
}

// --- CumSum -------------------------------------------------------------------------------------------------

void emitCumSumAxis(KernelContext &c, size_t axis, const std::vector<Value *> &pointers) {
  const ir::TensorType &type = c.inputType(0);
  const DType dtype = type.dtype;
  const bool exclusive = c.node.intAttr("exclusive", 0) != 0;
  const bool reverse = c.node.intAttr("reverse", 0) != 0;
  const int64_t outer = product(type.shape, 0, axis), length = type.shape[axis];
  const int64_t inner = product(type.shape, axis + 1, type.rank());
  KernelBuilder &b = c.b;
  const bool isFloat = ir::isFloating(dtype);
  // Columns go by vectors of adjacent lanes (contiguous loads), leftovers one at a time; the running sums stay
  // in registers, so every element is read before its output is written.
  const int64_t w = b.target().vectorBytes / static_cast<int64_t>(ir::dtypeSize(dtype));
  const int64_t full = inner >= w ? inner / w : 0;
  const int64_t leftover = inner - full * w;
  const int64_t chunks = full + leftover;
  forRange(b, outer * chunks, type.numel() >= b.target().parallelSliceElements, pointers,
           [&](Value *index, const std::vector<Value *> &p) {
             llvm::IRBuilder<> &ir = b.ir();
             Value *o = ir.CreateUDiv(index, b.i64(chunks));
             Value *cidx = ir.CreateURem(index, b.i64(chunks));
             auto scan = [&](Value *column, int lanes) {
               llvm::Type *laneType = lanes == 1 ? b.scalarType(dtype)
                                                 : llvm::FixedVectorType::get(b.scalarType(dtype), static_cast<unsigned>(lanes));
               llvm::AllocaInst *sum = entryAlloca(b, laneType);
               ir.CreateStore(llvm::Constant::getNullValue(laneType), sum);
               Value *base = ir.CreateAdd(ir.CreateMul(o, b.i64(length * inner)), column);
               b.loop(length, [&](Value *step) {
                 Value *i = reverse ? ir.CreateSub(b.i64(length - 1), step) : step;
                 Value *at = ir.CreateAdd(base, ir.CreateMul(i, b.i64(inner)));
                 Value *ptrIn = b.elementPtr(dtype, p[0], at), *ptrOut = b.elementPtr(dtype, p[1], at);
                 const llvm::Align align(ir::dtypeSize(dtype));
                 Value *x = ir.CreateAlignedLoad(laneType, ptrIn, align);
                 Value *running = ir.CreateLoad(laneType, sum);
                 Value *next = isFloat ? ir.CreateFAdd(running, x) : ir.CreateAdd(running, x);
                 ir.CreateAlignedStore(exclusive ? running : next, ptrOut, align);
                 ir.CreateStore(next, sum);
               });
             };
             if (full == 0) {
               scan(cidx, 1);
             } else if (leftover == 0) {
               scan(ir.CreateMul(cidx, b.i64(w)), static_cast<int>(w));
             } else {
               ifElse(
                   b, ir.CreateICmpULT(cidx, b.i64(full)), [&] { scan(ir.CreateMul(cidx, b.i64(w)), static_cast<int>(w)); },
                   [&] { scan(ir.CreateAdd(cidx, b.i64(full * (w - 1))), 1); });
             }
           });
}

Status emitCumSum(KernelContext &c) {
  const ir::TensorType &type = c.inputType(0);
  if (type.rank() == 0) return Status::error("x must have rank >= 1");
  if (type.dtype == DType::Bool) return Status::error("CumSum is not defined for bool");
  if (type.numel() == 0) return Status::ok();
  const int64_t rank = static_cast<int64_t>(type.rank());
  std::vector<Value *> pointers = {c.inputs[0], c.outputs[0]};
  if (const ir::Tensor *axis = c.constantInput(1)) {
    FLUIDML_ASSIGN_OR_RETURN(int64_t a, ops::normalizeAxis(axis->elementAsInt(0), rank));
    emitCumSumAxis(c, static_cast<size_t>(a), pointers);
    return Status::ok();
  }
  // A run-time axis: one specialized scan per possible axis, chosen by the (wrapped) value; an axis out of range
  // is clamped like an index.
  KernelBuilder &b = c.b;
  llvm::IRBuilder<> &ir = b.ir();
  Value *axis = loadIndex(b, c.inputType(1).dtype, c.inputs[1], b.i64(0), rank);
  std::function<void(int64_t)> chain = [&](int64_t a) {
    if (a == rank - 1) {
      emitCumSumAxis(c, static_cast<size_t>(a), pointers);
      return;
    }
    ifElse(
        b, ir.CreateICmpEQ(axis, b.i64(a)), [&] { emitCumSumAxis(c, static_cast<size_t>(a), pointers); },
        [&] { chain(a + 1); });
  };
  chain(0);
  return Status::ok();
}

// --- OneHot -------------------------------------------------------------------------------------------------

Status emitOneHot(KernelContext &c) {
  const ir::TensorType &indices = c.inputType(0);
  const ir::Tensor *depthTensor = c.constantInput(1);
  if (depthTensor == nullptr) return Status::error("OneHot: depth must be a compile-time constant");
  const double depthValue = depthTensor->elementAsDouble(0);
  if (!(depthValue >= 1)) return Status::error("depth must be a positive number");
  const int64_t depth = static_cast<int64_t>(depthValue);
  const int64_t outRank = static_cast<int64_t>(indices.rank()) + 1;
  FLUIDML_ASSIGN_OR_RETURN(int64_t axis, ops::normalizeAxis(c.node.intAttr("axis", -1), outRank));
  const int64_t outer = product(indices.shape, 0, static_cast<size_t>(axis));
  const int64_t inner = product(indices.shape, static_cast<size_t>(axis), indices.rank());
  const DType valueType = c.inputType(2).dtype;
  const DType indexType = indices.dtype;
  if (c.outputType(0).numel() == 0) return Status::ok();
  KernelBuilder &b = c.b;
  forRange(b, outer, c.outputType(0).numel() >= b.target().parallelSliceElements, {c.inputs[0], c.inputs[2], c.outputs[0]},
           [&](Value *o, const std::vector<Value *> &p) {
             llvm::IRBuilder<> &ir = b.ir();
             Value *off = b.load(valueType, p[1], b.i64(0));
             Value *on = b.load(valueType, p[1], b.i64(1));
             b.loop(depth, [&](Value *h) {
               Value *rowStart = ir.CreateMul(ir.CreateAdd(ir.CreateMul(o, b.i64(depth)), h), b.i64(inner));
               b.loop(inner, [&](Value *j) {
                 Value *raw = b.load(indexType, p[0], ir.CreateAdd(ir.CreateMul(o, b.i64(inner)), j));
                 Value *index = nullptr, *valid = nullptr;
                 if (ir::isFloating(indexType)) {
                   // trunc, then an index beyond +-depth (or NaN/inf) is off everywhere.
                   Value *t = ir.CreateUnaryIntrinsic(llvm::Intrinsic::trunc, raw);
                   Value *fits = ir.CreateFCmpOLE(ir.CreateUnaryIntrinsic(llvm::Intrinsic::fabs, t),
                                                  llvm::ConstantFP::get(t->getType(), static_cast<double>(depth)));
                   index = ir.CreateFPToSI(ir.CreateSelect(fits, t, llvm::ConstantFP::get(t->getType(), 0.0)),
                                           ir.getInt64Ty());
                   valid = fits;
                 } else {
                   index = indexType == DType::Int64 ? raw
                           : isUnsigned(indexType)   ? ir.CreateZExt(raw, ir.getInt64Ty())
                                                     : ir.CreateSExt(raw, ir.getInt64Ty());
                   valid = ir.getTrue();
                 }
                 index = ir.CreateSelect(ir.CreateICmpSLT(index, b.i64(0)), ir.CreateAdd(index, b.i64(depth)), index);
                 Value *hit = ir.CreateAnd(valid, ir.CreateICmpEQ(index, h));
                 b.store(valueType, ir.CreateSelect(hit, on, off), p[2], ir.CreateAdd(rowStart, j));
               });
             });
           });
  return Status::ok();
}

// --- TopK ---------------------------------------------------------------------------------------------------

/// while (cond()) body(); both emit IR at the current insertion point.
void whileLoop(KernelBuilder &b, const std::function<Value *()> &cond, const std::function<void()> &body) {
  llvm::IRBuilder<> &ir = b.ir();
  llvm::Function *function = ir.GetInsertBlock()->getParent();
  llvm::BasicBlock *header = llvm::BasicBlock::Create(b.context(), "while.cond", function);
  llvm::BasicBlock *bodyBlock = llvm::BasicBlock::Create(b.context(), "while.body", function);
  llvm::BasicBlock *exit = llvm::BasicBlock::Create(b.context(), "while.exit", function);
  ir.CreateBr(header);
  ir.SetInsertPoint(header);
  ir.CreateCondBr(cond(), bodyBlock, exit);
  ir.SetInsertPoint(bodyBlock);
  body();
  ir.CreateBr(header);
  ir.SetInsertPoint(exit);
}

/// The largest k kept in a sorted stack buffer; beyond it TopK falls back to k selection scans.
constexpr int64_t kTopKBuffer = 2048;

Status emitTopK(KernelContext &c) {
  const ir::TensorType &type = c.inputType(0);
  const Shape &shape = type.shape;
  if (shape.empty()) return Status::error("X must have rank >= 1");
  FLUIDML_ASSIGN_OR_RETURN(int64_t axis, ops::normalizeAxis(c.node.intAttr("axis", -1), static_cast<int64_t>(shape.size())));
  int64_t k = 0;
  if (c.opset >= 10) {
    const ir::Tensor *kTensor = c.constantInput(1);
    if (kTensor == nullptr) return Status::error("TopK: K must be a compile-time constant");
    k = kTensor->elementAsInt(0);
  } else {
    k = c.node.intAttr("k", 0);
  }
  const size_t a = static_cast<size_t>(axis);
  const int64_t length = shape[a];
  if (k < 0 || k > length) return Status::error("k " + str(k) + " is out of range for axis of size " + str(length));
  const bool largest = c.node.intAttr("largest", 1) != 0;
  const int64_t outer = product(shape, 0, a), inner = product(shape, a + 1, shape.size());
  if (k == 0 || outer * inner == 0) return Status::ok();
  const DType dtype = type.dtype;
  const bool isFloat = ir::isFloating(dtype);
  const bool u = isUnsigned(dtype);
  KernelBuilder &b = c.b;
  const bool hasValues = c.hasOutput(0), hasIndices = c.hasOutput(1);
  std::vector<Value *> pointers = {c.inputs[0], hasValues ? c.outputs[0] : c.inputs[0],
                                   hasIndices ? c.outputs[1] : c.inputs[0]};
  const bool buffered = k <= kTopKBuffer;
  const int64_t work = outer * inner * (buffered ? length : length * k);
  forRange(b, outer * inner, work >= b.target().parallelSliceElements, pointers, [&](Value *slice, const std::vector<Value *> &p) {
    llvm::IRBuilder<> &ir = b.ir();
    Value *o = ir.CreateUDiv(slice, b.i64(inner));
    Value *j = ir.CreateURem(slice, b.i64(inner));
    Value *base = ir.CreateAdd(ir.CreateMul(o, b.i64(length * inner)), j);
    llvm::Type *valueType = b.scalarType(dtype);
    auto element = [&](Value *i) { return b.load(dtype, p[0], ir.CreateAdd(base, ir.CreateMul(i, b.i64(inner)))); };
    auto store = [&](Value *r, Value *value, Value *index) {
      Value *out = ir.CreateAdd(ir.CreateMul(ir.CreateAdd(ir.CreateMul(o, b.i64(k)), r), b.i64(inner)), j);
      if (hasValues) b.store(dtype, value, p[1], out);
      if (hasIndices) b.store(DType::Int64, index, p[2], out);
    };

    if (buffered) {
      // A sorted buffer of the best k so far, scanned in index order: a later element displaces an earlier one
      // only when its value ranks strictly ahead (ties keep the lower index first; NaN ranks above numbers).
      auto beats = [&](Value *x, Value *y) -> Value * {
        if (isFloat) {
          Value *xNan = ir.CreateFCmpUNO(x, x), *yNan = ir.CreateFCmpUNO(y, y);
          return largest ? ir.CreateSelect(xNan, ir.CreateNot(yNan), ir.CreateFCmpOGT(x, y))
                         : ir.CreateSelect(yNan, ir.CreateNot(xNan), ir.CreateFCmpOLT(x, y));
        }
        return largest ? (u ? ir.CreateICmpUGT(x, y) : ir.CreateICmpSGT(x, y))
                       : (u ? ir.CreateICmpULT(x, y) : ir.CreateICmpSLT(x, y));
      };
      llvm::AllocaInst *values = entryAlloca(b, llvm::ArrayType::get(valueType, static_cast<uint64_t>(k)));
      llvm::AllocaInst *indices = entryAlloca(b, llvm::ArrayType::get(ir.getInt64Ty(), static_cast<uint64_t>(k)));
      llvm::AllocaInst *position = entryAlloca(b, ir.getInt64Ty());
      // Inserts x (index i) sorting it down from slot `start`.
      auto insert = [&](Value *x, Value *i, Value *start) {
        ir.CreateStore(start, position);
        whileLoop(
            b,
            [&] {
              Value *at = ir.CreateLoad(ir.getInt64Ty(), position);
              Value *previous = b.load(dtype, values, ir.CreateBinaryIntrinsic(llvm::Intrinsic::smax,
                                                                               ir.CreateSub(at, b.i64(1)), b.i64(0)));
              return ir.CreateSelect(ir.CreateICmpSGT(at, b.i64(0)), beats(x, previous), ir.getFalse());
            },
            [&] {
              Value *at = ir.CreateLoad(ir.getInt64Ty(), position);
              Value *from = ir.CreateSub(at, b.i64(1));
              b.store(dtype, b.load(dtype, values, from), values, at);
              b.store(DType::Int64, b.load(DType::Int64, indices, from), indices, at);
              ir.CreateStore(from, position);
            });
        Value *at = ir.CreateLoad(ir.getInt64Ty(), position);
        b.store(dtype, x, values, at);
        b.store(DType::Int64, i, indices, at);
      };
      b.loop(k, [&](Value *i) { insert(element(i), i, i); });
      auto candidate = [&](Value *i) {
        Value *x = element(i);
        ifElse(b, beats(x, b.load(dtype, values, b.i64(k - 1))), [&] { insert(x, i, b.i64(k - 1)); }, nullptr);
      };
      // Contiguous slices: one vector compare against the current k-th rules out a whole group at once.
      const int64_t w = b.target().vectorBytes / static_cast<int64_t>(ir::dtypeSize(dtype));
      const int64_t vectorBegin = std::min(length, (k + w - 1) / w * w);
      const int64_t vectorEnd = vectorBegin + (length - vectorBegin) / w * w;
      if (inner == 1 && vectorEnd > vectorBegin) {
        b.loop(b.i64(k), b.i64(vectorBegin), 1, candidate);
        llvm::Type *vectorType = llvm::FixedVectorType::get(valueType, static_cast<unsigned>(w));
        b.loop(b.i64(vectorBegin), b.i64(vectorEnd), w, [&](Value *i) {
          Value *group = ir.CreateAlignedLoad(vectorType, b.elementPtr(dtype, p[0], ir.CreateAdd(base, i)),
                                              llvm::Align(ir::dtypeSize(dtype)));
          Value *kth = ir.CreateVectorSplat(static_cast<unsigned>(w), b.load(dtype, values, b.i64(k - 1)));
          ifElse(b, ir.CreateOrReduce(beats(group, kth)),
                 [&] { b.loop(i, ir.CreateAdd(i, b.i64(w)), 1, candidate); }, nullptr);
        });
        b.loop(b.i64(vectorEnd), b.i64(length), 1, candidate);
      } else {
        b.loop(b.i64(k), b.i64(length), 1, candidate);
      }
      b.loop(k, [&](Value *r) { store(r, b.load(dtype, values, r), b.load(DType::Int64, indices, r)); });
      return;
    }

    // Large k: k selection scans, each taking the best element that ranks after the previous pick.
    auto before = [&](Value *x, Value *i, Value *y, Value *jj) -> Value * {
      Value *lowerIndex = ir.CreateICmpSLT(i, jj);
      if (isFloat) {
        Value *xNan = ir.CreateFCmpUNO(x, x), *yNan = ir.CreateFCmpUNO(y, y);
        Value *anyNan = ir.CreateOr(xNan, yNan);
        Value *nanOrder = ir.CreateSelect(ir.CreateICmpNE(xNan, yNan), largest ? xNan : yNan, lowerIndex);
        Value *ahead = largest ? ir.CreateFCmpOGT(x, y) : ir.CreateFCmpOLT(x, y);
        Value *numberOrder = ir.CreateSelect(ir.CreateFCmpONE(x, y), ahead, lowerIndex);
        return ir.CreateSelect(anyNan, nanOrder, numberOrder);
      }
      Value *ahead = largest ? (u ? ir.CreateICmpUGT(x, y) : ir.CreateICmpSGT(x, y))
                             : (u ? ir.CreateICmpULT(x, y) : ir.CreateICmpSLT(x, y));
      return ir.CreateSelect(ir.CreateICmpNE(x, y), ahead, lowerIndex);
    };
    llvm::AllocaInst *prevValue = entryAlloca(b, valueType), *prevIndex = entryAlloca(b, ir.getInt64Ty());
    llvm::AllocaInst *bestValue = entryAlloca(b, valueType), *bestIndex = entryAlloca(b, ir.getInt64Ty());
    llvm::AllocaInst *found = entryAlloca(b, ir.getInt1Ty());
    ir.CreateStore(llvm::Constant::getNullValue(valueType), prevValue);
    ir.CreateStore(b.i64(0), prevIndex);
    b.loop(k, [&](Value *r) {
      ir.CreateStore(ir.getFalse(), found);
      ir.CreateStore(llvm::Constant::getNullValue(valueType), bestValue);
      ir.CreateStore(b.i64(0), bestIndex);
      Value *first = ir.CreateICmpEQ(r, b.i64(0));
      Value *pv = ir.CreateLoad(valueType, prevValue), *pi = ir.CreateLoad(ir.getInt64Ty(), prevIndex);
      b.loop(length, [&](Value *i) {
        Value *x = element(i);
        Value *eligible = ir.CreateSelect(first, ir.getTrue(), before(pv, pi, x, i));
        Value *bv = ir.CreateLoad(valueType, bestValue), *bi = ir.CreateLoad(ir.getInt64Ty(), bestIndex);
        Value *isFound = ir.CreateLoad(ir.getInt1Ty(), found);
        Value *take = ir.CreateAnd(eligible, ir.CreateOr(ir.CreateNot(isFound), before(x, i, bv, bi)));
        ir.CreateStore(ir.CreateSelect(take, x, bv), bestValue);
        ir.CreateStore(ir.CreateSelect(take, i, bi), bestIndex);
        ir.CreateStore(ir.CreateOr(isFound, take), found);
      });
      Value *bv = ir.CreateLoad(valueType, bestValue), *bi = ir.CreateLoad(ir.getInt64Ty(), bestIndex);
      store(r, bv, bi);
      ir.CreateStore(bv, prevValue);
      ir.CreateStore(bi, prevIndex);
    });
  });
  return Status::ok();
}

}  // namespace

void registerIndexingLowerings(LoweringTable &table) {
  table.add("Gather", emitGather);
  table.add("GatherElements", emitGatherElements);
  table.add("GatherND", emitGatherND);
  table.add("ScatterND", emitScatterND);
  table.add("ScatterElements", emitScatterElements);
  table.add("Scatter", emitScatterElements);
  table.add("Pad", emitPad);
  table.add("Resize", emitResize);
  table.add("Upsample", emitResize);
  table.add("Trilu", emitTrilu);
  table.add("CumSum", emitCumSum);
  table.add("OneHot", emitOneHot);
  table.add("TopK", emitTopK);
}

}  // namespace fluidml::codegen
