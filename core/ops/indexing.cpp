// Indexing ops: gathers and scatters (index arithmetic over row-major strides), Pad (one source-index map per
// axis), Resize/Upsample (per-axis interpolation taps applied one axis at a time, the separable form of the
// ONNX reference's nested 1-D interpolation), Trilu, CumSum, OneHot and TopK (a partial sort per slice).
// Every kernel is linear in its output (scatters: in their updates) except TopK, O(n log k) per slice.
// Indices are data: they are checked at run time and a bad one is an error, never an out-of-bounds access.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "core/ops/op_helpers.h"
#include "core/ops/resize_geometry.h"
#include "core/ops/op_registry.h"

namespace fluidml::ops {
namespace {

using ir::DType;
using ir::Shape;
using ir::Tensor;
using ir::TensorType;

// ---------------------------------------------------------------------------------------------------------
// Shared helpers

std::string str(int64_t v) { return std::to_string(v); }
std::string str(size_t v) { return std::to_string(v); }

int64_t product(const Shape &shape, size_t begin, size_t end) {
  int64_t p = 1;
  for (size_t i = begin; i < end; ++i) p *= shape[i];
  return p;
}

int64_t rankOf(const TensorType &type) { return static_cast<int64_t>(type.rank()); }

/// Checks the operand count and that the first `required` operands are present.
Status checkInputs(const InferContext &c, size_t required, size_t maximum) {
  if (c.inputCount() < required || c.inputCount() > maximum) {
    std::string expected = required == maximum ? str(required) : str(required) + " to " + str(maximum);
    return Status::error("expects " + expected + " inputs, got " + str(c.inputCount()));
  }
  for (size_t i = 0; i < required; ++i)
    if (!c.hasInput(i)) return Status::error("input " + str(i) + " is required");
  return Status::ok();
}

Status checkIndexType(const InferContext &c, size_t input, const std::string &what) {
  DType d = c.inputType(input).dtype;
  if (d != DType::Int32 && d != DType::Int64)
    return Status::error(what + " must be int32 or int64, got " + std::string(ir::dtypeName(d)));
  return Status::ok();
}

Status checkNotBool(const InferContext &c, size_t input, const std::string &what) {
  if (c.inputType(input).dtype == DType::Bool) return Status::error(what + " must be numeric, got bool");
  return Status::ok();
}

/// A scalar-like operand (rank 0, or rank 1 with one element), as ONNX passes k, axis and depth.
Status checkSingleValue(const InferContext &c, size_t input, const std::string &what) {
  const TensorType &t = c.inputType(input);
  if (t.rank() > 1 || t.numel() != 1)
    return Status::error(what + " must hold exactly one value, got shape " + ir::shapeToString(t.shape));
  return Status::ok();
}

/// Index tensors (int32 or int64) widened to int64 in one pass.
std::vector<int64_t> readIndices(const Tensor &t) {
  std::vector<int64_t> values(static_cast<size_t>(t.numel()));
  if (t.dtype() == DType::Int64) {
    if (!values.empty()) std::memcpy(values.data(), t.rawData(), t.bytes());
  } else if (t.dtype() == DType::Int32) {
    const int32_t *p = t.data<int32_t>();
    for (size_t i = 0; i < values.size(); ++i) values[i] = p[i];
  } else {
    values = t.toInt64Vector();
  }
  return values;
}

/// Maps an index in [-size, size) into [0, size); false when it is outside.
bool wrapIndex(int64_t &index, int64_t size) {
  if (index < 0) index += size;
  return index >= 0 && index < size;
}

Status indexOutOfRange(int64_t index, int64_t axis, int64_t size) {
  return Status::error("index " + str(index) + " is out of range for axis " + str(axis) + " of size " + str(size));
}

/// Wraps every index into [0, size) or reports the first one out of range.
Status wrapAll(std::vector<int64_t> &indices, int64_t axis, int64_t size) {
  for (int64_t &i : indices) {
    int64_t original = i;
    if (!wrapIndex(i, size)) return indexOutOfRange(original, axis, size);
  }
  return Status::ok();
}

/// Input `i`, or a private copy of it when an output shares its buffer: in-place execution would otherwise let
/// the kernel overwrite elements it still has to read.
const Tensor &readableInput(const KernelContext &c, size_t i, Tensor &copy) {
  const Tensor &in = c.input(i);
  for (size_t o = 0; o < c.outputs.size(); ++o)
    if (c.hasOutput(o) && in.bytes() != 0 && c.output(o).rawData() == in.rawData()) {
      copy = in.clone();
      return copy;
    }
  return in;
}

/// Copies `src` into `dst` unless they already share the buffer.
void copyInto(Tensor &dst, const Tensor &src) {
  if (dst.rawData() != src.rawData() && src.bytes() != 0) std::memcpy(dst.rawData(), src.rawData(), src.bytes());
}

/// Converts an interpolated or attribute value to the element type (integers round and saturate).
template <typename T>
T fromDouble(double v) {
  if constexpr (std::is_floating_point_v<T>) {
    return static_cast<T>(v);
  } else if constexpr (std::is_same_v<T, bool>) {
    return v != 0.0;
  } else {
    if (std::isnan(v)) return T{0};
    double r = std::round(v);
    if (!(r > static_cast<double>(std::numeric_limits<T>::min()))) return std::numeric_limits<T>::min();
    if (!(r < static_cast<double>(std::numeric_limits<T>::max()))) return std::numeric_limits<T>::max();
    return static_cast<T>(r);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Gather: out[o, j..., i] = data[o, indices[j...], i]

Status inferGather(InferContext &c) {
  FLUIDML_RETURN_IF_ERROR(checkInputs(c, 2, 2));
  FLUIDML_RETURN_IF_ERROR(checkIndexType(c, 1, "indices"));
  const TensorType &data = c.inputType(0);
  const TensorType &indices = c.inputType(1);
  if (data.rank() == 0) return Status::error("data must have rank >= 1, got a scalar");
  FLUIDML_ASSIGN_OR_RETURN(int64_t axis, normalizeAxis(c.node().intAttr("axis", 0), rankOf(data)));
  size_t a = static_cast<size_t>(axis);
  if (const Tensor *constant = c.constantInput(1)) {
    std::vector<int64_t> values = readIndices(*constant);
    FLUIDML_RETURN_IF_ERROR(wrapAll(values, axis, data.shape[a]));
  }
  Shape out(data.shape.begin(), data.shape.begin() + axis);
  out.insert(out.end(), indices.shape.begin(), indices.shape.end());
  out.insert(out.end(), data.shape.begin() + axis + 1, data.shape.end());
  c.setOutput(0, TensorType(data.dtype, out));
  return Status::ok();
}

Status gatherKernel(KernelContext &c) {
  Tensor copy;
  const Tensor &data = readableInput(c, 0, copy);
  const Shape &shape = data.shape();
  FLUIDML_ASSIGN_OR_RETURN(int64_t axis, normalizeAxis(c.node.intAttr("axis", 0), static_cast<int64_t>(shape.size())));
  size_t a = static_cast<size_t>(axis);
  std::vector<int64_t> indices = readIndices(c.input(1));
  FLUIDML_RETURN_IF_ERROR(wrapAll(indices, axis, shape[a]));

  const int64_t outer = product(shape, 0, a);
  const int64_t inner = product(shape, a + 1, shape.size());
  const size_t rowBytes = static_cast<size_t>(inner) * ir::dtypeSize(data.dtype());
  if (rowBytes == 0) return Status::ok();
  const auto *src = static_cast<const unsigned char *>(data.rawData());
  auto *dst = static_cast<unsigned char *>(c.output(0).rawData());
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t index : indices) {
      std::memcpy(dst, src + static_cast<size_t>(o * shape[a] + index) * rowBytes, rowBytes);
      dst += rowBytes;
    }
  return Status::ok();
}

// ---------------------------------------------------------------------------------------------------------
// GatherElements: out[p] = data[p with p[axis] replaced by indices[p]]

Status checkElementsShapes(const TensorType &data, const TensorType &indices, int64_t axis) {
  if (indices.rank() != data.rank())
    return Status::error("indices must have the rank of data (" + str(data.rank()) + "), got " +
                         str(indices.rank()));
  for (size_t d = 0; d < data.rank(); ++d)
    if (static_cast<int64_t>(d) != axis && indices.shape[d] > data.shape[d])
      return Status::error("indices dimension " + str(d) + " (" + str(indices.shape[d]) +
                           ") is larger than the data dimension (" + str(data.shape[d]) + ")");
  return Status::ok();
}

Status inferGatherElements(InferContext &c) {
  FLUIDML_RETURN_IF_ERROR(checkInputs(c, 2, 2));
  FLUIDML_RETURN_IF_ERROR(checkIndexType(c, 1, "indices"));
  const TensorType &data = c.inputType(0);
  if (data.rank() == 0) return Status::error("data must have rank >= 1, got a scalar");
  FLUIDML_ASSIGN_OR_RETURN(int64_t axis, normalizeAxis(c.node().intAttr("axis", 0), rankOf(data)));
  FLUIDML_RETURN_IF_ERROR(checkElementsShapes(data, c.inputType(1), axis));
  c.setOutput(0, TensorType(data.dtype, c.inputType(1).shape));
  return Status::ok();
}

Status gatherElementsKernel(KernelContext &c) {
  Tensor copy;
  const Tensor &data = readableInput(c, 0, copy);
  FLUIDML_ASSIGN_OR_RETURN(int64_t axis,
                           normalizeAxis(c.node.intAttr("axis", 0), static_cast<int64_t>(data.rank())));
  size_t a = static_cast<size_t>(axis);
  std::vector<int64_t> indices = readIndices(c.input(1));
  FLUIDML_RETURN_IF_ERROR(wrapAll(indices, axis, data.shape()[a]));
  std::vector<int64_t> strides = ir::rowMajorStrides(data.shape());
  const int64_t axisStride = strides[a];
  strides[a] = 0;  // the index supplies the coordinate along the axis
  visitDType(data.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T *in = data.data<T>();
    T *out = c.output(0).data<T>();
    size_t k = 0;
    for (StridedIterator it(c.input(1).shape(), {strides}); !it.done(); it.next(), ++k)
      out[k] = in[it.offset(0) + indices[k] * axisStride];
  });
  return Status::ok();
}

// ---------------------------------------------------------------------------------------------------------
// GatherND: each row of `indices` (its last dimension) addresses a slice of data, per batch.

struct NdLayout {
  int64_t batches = 1;      // product of the batch dims
  int64_t tuples = 1;       // index tuples per batch
  int64_t depth = 0;        // length of one index tuple (indices.shape[-1])
  int64_t sliceSize = 1;    // elements addressed by one tuple
  int64_t batchStride = 1;  // data elements per batch
  std::vector<int64_t> tupleStrides;  // data strides of the indexed dims
  std::vector<int64_t> tupleDims;     // sizes of the indexed dims
};

NdLayout ndLayout(const Shape &data, const Shape &indices, size_t batchDims) {
  NdLayout l;
  l.depth = indices.back();
  size_t m = static_cast<size_t>(l.depth);
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

/// The data offsets (in elements) of every index tuple, batch-major; errors on an index out of range.
Expected<std::vector<int64_t>> ndOffsets(const NdLayout &l, const std::vector<int64_t> &indices, size_t batchDims) {
  std::vector<int64_t> offsets(static_cast<size_t>(l.batches * l.tuples));
  size_t m = static_cast<size_t>(l.depth);
  for (size_t t = 0; t < offsets.size(); ++t) {
    int64_t offset = (static_cast<int64_t>(t) / std::max<int64_t>(l.tuples, 1)) * l.batchStride;
    for (size_t k = 0; k < m; ++k) {
      int64_t index = indices[t * m + k];
      if (!wrapIndex(index, l.tupleDims[k]))
        return indexOutOfRange(indices[t * m + k], static_cast<int64_t>(batchDims + k), l.tupleDims[k]);
      offset += index * l.tupleStrides[k];
    }
    offsets[t] = offset;
  }
  return offsets;
}

Status inferGatherND(InferContext &c) {
  FLUIDML_RETURN_IF_ERROR(checkInputs(c, 2, 2));
  FLUIDML_RETURN_IF_ERROR(checkIndexType(c, 1, "indices"));
  const Shape &data = c.inputType(0).shape;
  const Shape &indices = c.inputType(1).shape;
  int64_t b = c.node().intAttr("batch_dims", 0);
  if (data.empty() || indices.empty()) return Status::error("data and indices must have rank >= 1");
  int64_t r = static_cast<int64_t>(data.size()), q = static_cast<int64_t>(indices.size());
  if (b < 0 || b >= std::min(r, q))
    return Status::error("batch_dims " + str(b) + " must be in [0, " + str(std::min(r, q)) + ")");
  int64_t m = indices.back();
  if (m < 1 || m > r - b)
    return Status::error("the last dimension of indices (" + str(m) + ") must be in [1, " + str(r - b) + "]");
  for (size_t i = 0; i < static_cast<size_t>(b); ++i)
    if (data[i] != indices[i])
      return Status::error("batch dimension " + str(i) + " differs: data " + str(data[i]) + ", indices " +
                           str(indices[i]));
  Shape out(indices.begin(), indices.end() - 1);
  out.insert(out.end(), data.begin() + b + m, data.end());
  c.setOutput(0, TensorType(c.inputType(0).dtype, out));
  return Status::ok();
}

Status gatherNDKernel(KernelContext &c) {
  Tensor copy;
  const Tensor &data = readableInput(c, 0, copy);
  size_t b = static_cast<size_t>(c.node.intAttr("batch_dims", 0));
  NdLayout l = ndLayout(data.shape(), c.input(1).shape(), b);
  FLUIDML_ASSIGN_OR_RETURN(std::vector<int64_t> offsets, ndOffsets(l, readIndices(c.input(1)), b));
  size_t es = ir::dtypeSize(data.dtype());
  size_t sliceBytes = static_cast<size_t>(l.sliceSize) * es;
  const auto *src = static_cast<const unsigned char *>(data.rawData());
  auto *dst = static_cast<unsigned char *>(c.output(0).rawData());
  if (sliceBytes == 0) return Status::ok();
  for (size_t t = 0; t < offsets.size(); ++t)
    std::memcpy(dst + t * sliceBytes, src + static_cast<size_t>(offsets[t]) * es, sliceBytes);
  return Status::ok();
}

// ---------------------------------------------------------------------------------------------------------
// Scatters: output = data, then updates written (or combined) at indexed positions.

enum class Reduction { None, Add, Mul, Max, Min };

Expected<Reduction> parseReduction(const ir::Node &node, DType dtype) {
  std::string name = node.stringAttr("reduction", "none");
  Reduction r;
  if (name == "none") r = Reduction::None;
  else if (name == "add") r = Reduction::Add;
  else if (name == "mul") r = Reduction::Mul;
  else if (name == "max") r = Reduction::Max;
  else if (name == "min") r = Reduction::Min;
  else return Status::error("unknown reduction '" + name + "' (expected none, add, mul, max or min)");
  if (r != Reduction::None && dtype == DType::Bool)
    return Status::error("reduction '" + name + "' is not defined for bool data");
  return r;
}

template <typename T>
inline void combine(T &dst, T value, Reduction r) {
  switch (r) {
    case Reduction::None: dst = value; break;
    case Reduction::Add: dst = static_cast<T>(dst + value); break;
    case Reduction::Mul: dst = static_cast<T>(dst * value); break;
    case Reduction::Max: dst = std::max(dst, value); break;
    case Reduction::Min: dst = std::min(dst, value); break;
  }
}

Status checkUpdatesType(const InferContext &c) {
  if (c.inputType(2).dtype != c.inputType(0).dtype)
    return Status::error("updates must have the data type " + std::string(ir::dtypeName(c.inputType(0).dtype)) +
                         ", got " + std::string(ir::dtypeName(c.inputType(2).dtype)));
  return Status::ok();
}

Status inferScatterND(InferContext &c) {
  FLUIDML_RETURN_IF_ERROR(checkInputs(c, 3, 3));
  FLUIDML_RETURN_IF_ERROR(checkIndexType(c, 1, "indices"));
  FLUIDML_RETURN_IF_ERROR(checkUpdatesType(c));
  const TensorType &data = c.inputType(0);
  const Shape &indices = c.inputType(1).shape;
  FLUIDML_RETURN_IF_ERROR(parseReduction(c.node(), data.dtype).status());
  if (data.rank() == 0 || indices.empty()) return Status::error("data and indices must have rank >= 1");
  int64_t m = indices.back();
  if (m < 1 || m > rankOf(data))
    return Status::error("the last dimension of indices (" + str(m) + ") must be in [1, " + str(data.rank()) + "]");
  Shape expected(indices.begin(), indices.end() - 1);
  expected.insert(expected.end(), data.shape.begin() + m, data.shape.end());
  if (c.inputType(2).shape != expected)
    return Status::error("updates must have shape " + ir::shapeToString(expected) + ", got " +
                         ir::shapeToString(c.inputType(2).shape));
  c.setOutput(0, data);
  return Status::ok();
}

Status scatterNDKernel(KernelContext &c) {
  Tensor updatesCopy;
  std::vector<int64_t> indices = readIndices(c.input(1));
  const Tensor &updates = readableInput(c, 2, updatesCopy);
  const Tensor &data = c.input(0);
  FLUIDML_ASSIGN_OR_RETURN(Reduction reduction, parseReduction(c.node, data.dtype()));
  NdLayout l = ndLayout(data.shape(), c.input(1).shape(), 0);
  FLUIDML_ASSIGN_OR_RETURN(std::vector<int64_t> offsets, ndOffsets(l, indices, 0));
  Tensor &out = c.output(0);
  copyInto(out, data);
  visitDType(data.dtype(), [&](auto tag) {
    using T = decltype(tag);
    T *dst = out.data<T>();
    const T *src = updates.data<T>();
    for (size_t t = 0; t < offsets.size(); ++t) {
      T *slice = dst + offsets[t];
      const T *u = src + static_cast<int64_t>(t) * l.sliceSize;
      for (int64_t j = 0; j < l.sliceSize; ++j) combine(slice[j], u[j], reduction);
    }
  });
  return Status::ok();
}

Status inferScatterElements(InferContext &c) {
  FLUIDML_RETURN_IF_ERROR(checkInputs(c, 3, 3));
  FLUIDML_RETURN_IF_ERROR(checkIndexType(c, 1, "indices"));
  FLUIDML_RETURN_IF_ERROR(checkUpdatesType(c));
  const TensorType &data = c.inputType(0);
  FLUIDML_RETURN_IF_ERROR(parseReduction(c.node(), data.dtype).status());
  if (data.rank() == 0) return Status::error("data must have rank >= 1, got a scalar");
  FLUIDML_ASSIGN_OR_RETURN(int64_t axis, normalizeAxis(c.node().intAttr("axis", 0), rankOf(data)));
  FLUIDML_RETURN_IF_ERROR(checkElementsShapes(data, c.inputType(1), axis));
  if (c.inputType(2).shape != c.inputType(1).shape)
    return Status::error("updates must have the shape of indices " + ir::shapeToString(c.inputType(1).shape) +
                         ", got " + ir::shapeToString(c.inputType(2).shape));
  c.setOutput(0, data);
  return Status::ok();
}

Status scatterElementsKernel(KernelContext &c) {
  Tensor updatesCopy;
  const Tensor &data = c.input(0);
  std::vector<int64_t> indices = readIndices(c.input(1));
  const Tensor &updates = readableInput(c, 2, updatesCopy);
  FLUIDML_ASSIGN_OR_RETURN(Reduction reduction, parseReduction(c.node, data.dtype()));
  FLUIDML_ASSIGN_OR_RETURN(int64_t axis,
                           normalizeAxis(c.node.intAttr("axis", 0), static_cast<int64_t>(data.rank())));
  size_t a = static_cast<size_t>(axis);
  FLUIDML_RETURN_IF_ERROR(wrapAll(indices, axis, data.shape()[a]));
  Tensor &out = c.output(0);
  copyInto(out, data);
  std::vector<int64_t> strides = ir::rowMajorStrides(data.shape());
  const int64_t axisStride = strides[a];
  strides[a] = 0;
  visitDType(data.dtype(), [&](auto tag) {
    using T = decltype(tag);
    T *dst = out.data<T>();
    const T *src = updates.data<T>();
    size_t k = 0;
    for (StridedIterator it(updates.shape(), {strides}); !it.done(); it.next(), ++k)
      combine(dst[it.offset(0) + indices[k] * axisStride], src[k], reduction);
  });
  return Status::ok();
}

// ---------------------------------------------------------------------------------------------------------
// Pad: each output coordinate of each axis maps to an input coordinate, or to the constant.

enum class PadMode { Constant, Reflect, Edge, Wrap };

Expected<PadMode> parsePadMode(const ir::Node &node) {
  std::string mode = node.stringAttr("mode", "constant");
  if (mode == "constant") return PadMode::Constant;
  if (mode == "reflect") return PadMode::Reflect;
  if (mode == "edge") return PadMode::Edge;
  if (mode == "wrap") return PadMode::Wrap;
  return Status::error("unknown pad mode '" + mode + "' (expected constant, reflect, edge or wrap)");
}

struct PadAmounts {
  std::vector<int64_t> begin, end;  // per axis of the data, negative = crop
};

/// Expands `pads` (begins then ends, for `axes` or for every axis) to per-axis amounts.
Expected<PadAmounts> padAmounts(const std::vector<int64_t> &pads, const std::optional<std::vector<int64_t>> &axes,
                                int64_t rank) {
  std::vector<int64_t> axisList(static_cast<size_t>(rank));
  std::iota(axisList.begin(), axisList.end(), 0);
  if (axes) {
    FLUIDML_ASSIGN_OR_RETURN(axisList, normalizeAxes(*axes, rank));
    if (pads.size() != 2 * axisList.size())
      return Status::error("pads has " + str(pads.size()) + " values, expected " + str(2 * axisList.size()) +
                           " (2 per axis in axes)");
  } else if (pads.size() != 2 * axisList.size()) {
    return Status::error("pads has " + str(pads.size()) + " values, expected " + str(2 * axisList.size()) +
                         " (2 per axis of the rank-" + str(rank) + " data)");
  }
  const std::vector<int64_t> zeros(static_cast<size_t>(rank), 0);
  PadAmounts amounts{zeros, zeros};
  for (size_t i = 0; i < axisList.size(); ++i) {
    amounts.begin[static_cast<size_t>(axisList[i])] = pads[i];
    amounts.end[static_cast<size_t>(axisList[i])] = pads[i + axisList.size()];
  }
  return amounts;
}

/// The output shape, after checking that crops fit and that non-constant modes have something to copy.
Expected<Shape> paddedShape(const Shape &in, const PadAmounts &p, PadMode mode) {
  Shape out(in.size());
  for (size_t d = 0; d < in.size(); ++d) {
    int64_t kept = in[d] - std::max<int64_t>(-p.begin[d], 0) - std::max<int64_t>(-p.end[d], 0);
    if (kept < 0)
      return Status::error("pads crop " + str(-std::min<int64_t>(p.begin[d], 0) - std::min<int64_t>(p.end[d], 0)) +
                           " elements from axis " + str(d) + " of size " + str(in[d]));
    out[d] = kept + std::max<int64_t>(p.begin[d], 0) + std::max<int64_t>(p.end[d], 0);
    if (mode != PadMode::Constant && kept == 0 && out[d] > 0)
      return Status::error("cannot pad the empty axis " + str(d) + " in a mode that copies input values");
  }
  return out;
}

/// For each output coordinate of one axis, the input coordinate it copies, or -1 for the constant.
std::vector<int64_t> padAxisMap(int64_t inSize, int64_t begin, int64_t end, int64_t outSize, PadMode mode) {
  const int64_t cropBegin = std::max<int64_t>(-begin, 0);
  const int64_t kept = inSize - cropBegin - std::max<int64_t>(-end, 0);
  const int64_t padBegin = std::max<int64_t>(begin, 0);
  std::vector<int64_t> map(static_cast<size_t>(outSize));
  for (int64_t o = 0; o < outSize; ++o) {
    int64_t i = o - padBegin;  // coordinate in the cropped input
    if (i < 0 || i >= kept) {
      switch (mode) {
        case PadMode::Constant: i = -1; break;
        case PadMode::Edge: i = std::clamp<int64_t>(i, 0, kept - 1); break;
        case PadMode::Wrap: i = ((i % kept) + kept) % kept; break;
        case PadMode::Reflect: {
          // Reflection without repeating the edge is periodic with period 2 * (kept - 1).
          int64_t period = 2 * (kept - 1);
          if (period == 0) {
            i = 0;
          } else {
            i = ((i % period) + period) % period;
            if (i >= kept) i = period - i;
          }
          break;
        }
      }
    }
    map[static_cast<size_t>(o)] = i < 0 ? -1 : i + cropBegin;
  }
  return map;
}

Status inferPad(InferContext &c) {
  const bool inputs = c.opset() >= 11;
  FLUIDML_RETURN_IF_ERROR(checkInputs(c, inputs ? 2 : 1, inputs ? (c.opset() >= 18 ? 4 : 3) : 1));
  const TensorType &data = c.inputType(0);
  FLUIDML_ASSIGN_OR_RETURN(PadMode mode, parsePadMode(c.node()));
  FLUIDML_ASSIGN_OR_RETURN(auto pads, intListArg(c, "pads", 1));
  if (!pads) return Status::error("pads is required");
  if (inputs && c.inputType(1).dtype != DType::Int64)
    return Status::error("pads must be int64, got " + std::string(ir::dtypeName(c.inputType(1).dtype)));
  if (inputs && c.hasInput(2)) {
    const TensorType &value = c.inputType(2);
    if (value.dtype != data.dtype)
      return Status::error("constant_value must have the data type " + std::string(ir::dtypeName(data.dtype)) +
                           ", got " + std::string(ir::dtypeName(value.dtype)));
    if (value.numel() > 1)
      return Status::error("constant_value must be a scalar, got shape " + ir::shapeToString(value.shape));
  }
  std::optional<std::vector<int64_t>> axes;
  if (c.hasInput(3)) {
    const Tensor *constant = c.constantInput(3);
    if (constant == nullptr) return nonConstantShapeOperand(c, 3, "axes");
    axes = constant->toInt64Vector();
  }
  FLUIDML_ASSIGN_OR_RETURN(PadAmounts amounts, padAmounts(*pads, axes, rankOf(data)));
  FLUIDML_ASSIGN_OR_RETURN(Shape out, paddedShape(data.shape, amounts, mode));
  c.setOutput(0, TensorType(data.dtype, out));
  return Status::ok();
}

Status padKernel(KernelContext &c) {
  Tensor copy;
  const Tensor &data = readableInput(c, 0, copy);
  FLUIDML_ASSIGN_OR_RETURN(PadMode mode, parsePadMode(c.node));
  std::optional<std::vector<int64_t>> pads = intListArg(c, "pads", 1);
  if (!pads) return Status::error("pads is required");
  std::optional<std::vector<int64_t>> axes;
  if (c.hasInput(3)) axes = c.input(3).toInt64Vector();
  const Shape &in = data.shape();
  FLUIDML_ASSIGN_OR_RETURN(PadAmounts amounts, padAmounts(*pads, axes, static_cast<int64_t>(in.size())));
  FLUIDML_ASSIGN_OR_RETURN(Shape outShape, paddedShape(in, amounts, mode));
  Tensor &out = c.output(0);
  if (out.numel() == 0) return Status::ok();
  if (in.empty()) {
    copyInto(out, data);
    return Status::ok();
  }

  const size_t rank = in.size();
  std::vector<std::vector<int64_t>> maps(rank);
  for (size_t d = 0; d < rank; ++d) maps[d] = padAxisMap(in[d], amounts.begin[d], amounts.end[d], outShape[d], mode);
  const std::vector<int64_t> inStrides = ir::rowMajorStrides(in);
  const double attrValue = c.node.floatAttr("value", 0.0f);
  const bool valueInput = c.hasInput(2) && c.input(2).numel() > 0;

  visitDType(data.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T value = valueInput ? c.input(2).data<T>()[0] : fromDouble<T>(attrValue);
    const T *src = data.data<T>();
    T *dst = out.data<T>();
    const std::vector<int64_t> &lastMap = maps[rank - 1];
    const int64_t rowLength = outShape[rank - 1];
    const int64_t rows = out.numel() / rowLength;
    std::vector<int64_t> coord(rank - 1, 0);
    for (int64_t row = 0; row < rows; ++row, dst += rowLength) {
      int64_t base = 0;
      bool constantRow = false;
      for (size_t d = 0; d + 1 < rank; ++d) {
        int64_t s = maps[d][static_cast<size_t>(coord[d])];
        if (s < 0) constantRow = true;
        base += s * inStrides[d];
      }
      if (constantRow) {
        std::fill(dst, dst + rowLength, value);
      } else {
        for (int64_t j = 0; j < rowLength; ++j) {
          int64_t s = lastMap[static_cast<size_t>(j)];
          dst[j] = s < 0 ? value : src[base + s];
        }
      }
      for (size_t d = rank - 1; d-- > 0;) {  // odometer over the outer output coordinates
        if (++coord[d] < outShape[d]) break;
        coord[d] = 0;
      }
    }
  });
  return Status::ok();
}

// ---------------------------------------------------------------------------------------------------------
// Resize and Upsample. Each output coordinate x of an axis maps to a source coordinate x_ori (per
// coordinate_transformation_mode), whose neighbours are weighted by the nearest / linear / cubic rule with
// edge clamping, exactly as the ONNX reference's 1-D interpolation. The n-D result applies the 1-D rule per
// axis (innermost axis first, like the reference's nesting).

constexpr int kMaxTaps = kMaxResizeTaps;

/// The input neighbours and weights of every output coordinate of one axis, zero weights left out.
struct AxisTaps {
  std::vector<int> count;        // per output coordinate; -1 means the extrapolation value
  std::vector<int64_t> index;    // kMaxTaps per output coordinate
  std::vector<double> weight;    // kMaxTaps per output coordinate
  bool identity = true;          // output coordinate x copies input coordinate x
};

AxisTaps axisTaps(const ResizePlan &p, size_t a) {
  const int64_t outLength = p.outShape[a];
  AxisTaps taps;
  taps.count.assign(static_cast<size_t>(outLength), 0);
  taps.index.assign(static_cast<size_t>(outLength) * kMaxTaps, 0);
  taps.weight.assign(static_cast<size_t>(outLength) * kMaxTaps, 0.0);
  taps.identity = p.inShape[a] == outLength;
  for (int64_t x = 0; x < outLength; ++x) {
    const size_t slot = static_cast<size_t>(x);
    const ResizeTaps t = resizeTaps(p, a, x);
    if (t.outside) {
      taps.count[slot] = -1;
      taps.identity = false;
      continue;
    }
    int kept = 0;
    for (int k = 0; k < t.count; ++k) {
      if (t.weight[k] == 0 && t.count > 1) continue;  // zero weights add nothing; skipping them saves work
      taps.index[slot * kMaxTaps + static_cast<size_t>(kept)] = t.index[k];
      taps.weight[slot * kMaxTaps + static_cast<size_t>(kept)] = t.weight[k];
      ++kept;
    }
    taps.count[slot] = kept;
    if (kept != 1 || taps.index[slot * kMaxTaps] != x || taps.weight[slot * kMaxTaps] != 1.0) taps.identity = false;
  }
  return taps;
}

/// Nearest: every output element copies one input element (or takes the extrapolation value).
void resizeNearest(const ResizePlan &p, const std::vector<AxisTaps> &taps, const Tensor &in, Tensor &out) {
  const size_t rank = p.inShape.size();
  const std::vector<int64_t> strides = ir::rowMajorStrides(p.inShape);
  std::vector<std::vector<int64_t>> maps(rank);  // input offsets, -1 = extrapolate
  for (size_t a = 0; a < rank; ++a) {
    maps[a].resize(static_cast<size_t>(p.outShape[a]));
    for (size_t x = 0; x < maps[a].size(); ++x)
      maps[a][x] = taps[a].count[x] < 0 ? -1 : taps[a].index[x * kMaxTaps] * strides[a];
  }
  visitDType(in.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T extrapolation = fromDouble<T>(p.extrapolation);
    const T *src = in.data<T>();
    T *dst = out.data<T>();
    if (rank == 0) {
      dst[0] = src[0];
      return;
    }
    const int64_t rowLength = p.outShape[rank - 1];
    const int64_t rows = rowLength == 0 ? 0 : out.numel() / rowLength;
    const std::vector<int64_t> &lastMap = maps[rank - 1];
    std::vector<int64_t> coord(rank - 1, 0);
    for (int64_t row = 0; row < rows; ++row, dst += rowLength) {
      int64_t base = 0;
      bool outside = false;
      for (size_t d = 0; d + 1 < rank; ++d) {
        int64_t s = maps[d][static_cast<size_t>(coord[d])];
        outside = outside || s < 0;
        base += s;
      }
      for (int64_t j = 0; j < rowLength; ++j) {
        int64_t s = lastMap[static_cast<size_t>(j)];
        dst[j] = outside || s < 0 ? extrapolation : src[base + s];
      }
      for (size_t d = rank - 1; d-- > 0;) {
        if (++coord[d] < p.outShape[d]) break;
        coord[d] = 0;
      }
    }
  });
}

/// Linear and cubic: one interpolation pass per resized axis over a double buffer.
void resizeInterpolate(const ResizePlan &p, const std::vector<AxisTaps> &taps, const Tensor &in, Tensor &out) {
  std::vector<double> current(static_cast<size_t>(in.numel()));
  visitDType(in.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T *src = in.data<T>();
    for (size_t i = 0; i < current.size(); ++i) current[i] = static_cast<double>(src[i]);
  });
  Shape shape = p.inShape;
  std::vector<double> next;
  for (size_t a = shape.size(); a-- > 0;) {
    if (taps[a].identity) continue;
    const int64_t outer = product(shape, 0, a), inLength = shape[a], outLength = p.outShape[a];
    const int64_t inner = product(shape, a + 1, shape.size());
    next.assign(static_cast<size_t>(outer * outLength * inner), 0.0);
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t x = 0; x < outLength; ++x) {
        double *dst = next.data() + (o * outLength + x) * inner;
        const size_t slot = static_cast<size_t>(x);
        const int count = taps[a].count[slot];
        if (count < 0) {
          std::fill(dst, dst + inner, p.extrapolation);
          continue;
        }
        for (int k = 0; k < count; ++k) {
          const double w = taps[a].weight[slot * kMaxTaps + static_cast<size_t>(k)];
          const int64_t index = taps[a].index[slot * kMaxTaps + static_cast<size_t>(k)];
          const double *src = current.data() + (o * inLength + index) * inner;
          for (int64_t j = 0; j < inner; ++j) dst[j] += w * src[j];
        }
      }
    current.swap(next);
    shape[a] = outLength;
  }
  visitDType(out.dtype(), [&](auto tag) {
    using T = decltype(tag);
    T *dst = out.data<T>();
    for (size_t i = 0; i < current.size(); ++i) dst[i] = fromDouble<T>(current[i]);
  });
}

Status inferResize(InferContext &c) {
  const bool upsample = c.node().opType == "Upsample";
  ResizeOperands ops = resizeOperands(c.node(), c.opset());
  size_t maxInputs = ops.sizes >= 0 ? 4 : (ops.scales >= 0 ? 2 : 1);
  FLUIDML_RETURN_IF_ERROR(checkInputs(c, upsample || c.opset() < 11 ? maxInputs : 1, maxInputs));
  const TensorType &x = c.inputType(0);
  if (x.rank() == 0) return Status::error("the input must have rank >= 1");
  for (int i : {ops.scales, ops.sizes})
    if (i >= 0 && c.hasInput(static_cast<size_t>(i)) && c.constantInput(static_cast<size_t>(i)) == nullptr)
      return nonConstantShapeOperand(c, static_cast<size_t>(i), i == ops.scales ? "scales" : "sizes");
  FLUIDML_ASSIGN_OR_RETURN(ResizePlan plan, planResize(c.node(), c.opset(), x.shape,
                                                       [&](size_t i) { return c.constantInput(i); }));
  if (plan.mode != ResizeMode::Nearest && x.dtype == DType::Bool)
    return Status::error("linear and cubic modes need numeric input, got bool");
  c.setOutput(0, TensorType(x.dtype, plan.outShape));
  return Status::ok();
}

Status resizeKernel(KernelContext &c) {
  Tensor copy;
  const Tensor &in = readableInput(c, 0, copy);
  FLUIDML_ASSIGN_OR_RETURN(ResizePlan plan, planResize(c.node, c.opset, in.shape(), [&](size_t i) {
                             return c.hasInput(i) ? &c.input(i) : nullptr;
                           }));
  Tensor &out = c.output(0);
  if (out.shape() != plan.outShape)
    return Status::error("the output shape " + ir::shapeToString(out.shape()) + " does not match the resized shape " +
                         ir::shapeToString(plan.outShape));
  if (out.numel() == 0) return Status::ok();
  std::vector<AxisTaps> taps;
  for (size_t a = 0; a < plan.inShape.size(); ++a) taps.push_back(axisTaps(plan, a));
  if (plan.mode == ResizeMode::Nearest) resizeNearest(plan, taps, in, out);
  else resizeInterpolate(plan, taps, in, out);
  return Status::ok();
}

// ---------------------------------------------------------------------------------------------------------
// Trilu: keeps the upper (j - i >= k) or lower (j - i <= k) triangle of the last two dims.

Status inferTrilu(InferContext &c) {
  FLUIDML_RETURN_IF_ERROR(checkInputs(c, 1, 2));
  if (c.inputType(0).rank() < 2)
    return Status::error("the input must have rank >= 2, got " + str(c.inputType(0).rank()));
  if (c.hasInput(1)) {
    if (c.inputType(1).dtype != DType::Int64)
      return Status::error("k must be int64, got " + std::string(ir::dtypeName(c.inputType(1).dtype)));
    FLUIDML_RETURN_IF_ERROR(checkSingleValue(c, 1, "k"));
  }
  c.setOutput(0, c.inputType(0));
  return Status::ok();
}

Status triluKernel(KernelContext &c) {
  const Tensor &in = c.input(0);
  const int64_t k = c.hasInput(1) ? c.input(1).elementAsInt(0) : 0;
  const bool upper = c.node.intAttr("upper", 1) != 0;
  const Shape &shape = in.shape();
  const int64_t rows = shape[shape.size() - 2], cols = shape.back();
  const int64_t matrices = product(shape, 0, shape.size() - 2);
  visitDType(in.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T *src = in.data<T>();
    T *dst = c.output(0).data<T>();
    for (int64_t m = 0; m < matrices; ++m)
      for (int64_t i = 0; i < rows; ++i)
        for (int64_t j = 0; j < cols; ++j) {
          const int64_t e = (m * rows + i) * cols + j;
          const bool keep = upper ? j - i >= k : j - i <= k;
          dst[e] = keep ? src[e] : T{};
        }
  });
  return Status::ok();
}

// ---------------------------------------------------------------------------------------------------------
// CumSum: running sums along one axis, optionally exclusive and/or from the end.

Status inferCumSum(InferContext &c) {
  FLUIDML_RETURN_IF_ERROR(checkInputs(c, 2, 2));
  FLUIDML_RETURN_IF_ERROR(checkNotBool(c, 0, "x"));
  FLUIDML_RETURN_IF_ERROR(checkIndexType(c, 1, "axis"));
  FLUIDML_RETURN_IF_ERROR(checkSingleValue(c, 1, "axis"));
  const TensorType &x = c.inputType(0);
  if (x.rank() == 0) return Status::error("x must have rank >= 1, got a scalar");
  if (const Tensor *axis = c.constantInput(1))
    FLUIDML_RETURN_IF_ERROR(normalizeAxis(axis->elementAsInt(0), rankOf(x)).status());
  c.setOutput(0, x);
  return Status::ok();
}

Status cumSumKernel(KernelContext &c) {
  const Tensor &in = c.input(0);
  const Shape &shape = in.shape();
  FLUIDML_ASSIGN_OR_RETURN(int64_t axis,
                           normalizeAxis(c.input(1).elementAsInt(0), static_cast<int64_t>(shape.size())));
  const size_t a = static_cast<size_t>(axis);
  const bool exclusive = c.node.intAttr("exclusive", 0) != 0;
  const bool reverse = c.node.intAttr("reverse", 0) != 0;
  const int64_t outer = product(shape, 0, a), length = shape[a], inner = product(shape, a + 1, shape.size());
  if (in.dtype() == DType::Bool) return Status::error("CumSum is not defined for bool");
  visitDType(in.dtype(), [&](auto tag) {
    using T = std::conditional_t<std::is_same_v<decltype(tag), bool>, uint8_t, decltype(tag)>;  // bool: rejected above
    const T *src = static_cast<const T *>(in.rawData());
    T *dst = static_cast<T *>(c.output(0).rawData());
    std::vector<T> sums(static_cast<size_t>(inner));
    for (int64_t o = 0; o < outer; ++o) {
      std::fill(sums.begin(), sums.end(), T{});
      for (int64_t step = 0; step < length; ++step) {
        const int64_t i = reverse ? length - 1 - step : step;
        const int64_t base = (o * length + i) * inner;
        for (int64_t j = 0; j < inner; ++j) {
          const T value = src[base + j];  // read before the write: dst may alias src
          T &sum = sums[static_cast<size_t>(j)];
          if (exclusive) {
            dst[base + j] = sum;
            sum = static_cast<T>(sum + value);
          } else {
            sum = static_cast<T>(sum + value);
            dst[base + j] = sum;
          }
        }
      }
    }
  });
  return Status::ok();
}

// ---------------------------------------------------------------------------------------------------------
// OneHot: a new axis of length depth holding on_value at each index and off_value elsewhere.

Expected<int64_t> oneHotDepth(const Tensor &depth) {
  double d = depth.elementAsDouble(0);
  if (!(d >= 1) || d > static_cast<double>(std::numeric_limits<int32_t>::max()))
    return Status::error("depth must be a positive number, got " + std::to_string(d));
  return static_cast<int64_t>(d);
}

Status inferOneHot(InferContext &c) {
  FLUIDML_RETURN_IF_ERROR(checkInputs(c, 3, 3));
  FLUIDML_RETURN_IF_ERROR(checkNotBool(c, 0, "indices"));
  FLUIDML_RETURN_IF_ERROR(checkNotBool(c, 1, "depth"));
  FLUIDML_RETURN_IF_ERROR(checkSingleValue(c, 1, "depth"));
  const TensorType &values = c.inputType(2);
  if (values.rank() != 1 || values.numel() != 2)
    return Status::error("values must be [off_value, on_value], got shape " + ir::shapeToString(values.shape));
  const Tensor *depthTensor = c.constantInput(1);
  if (depthTensor == nullptr) return nonConstantShapeOperand(c, 1, "depth");
  FLUIDML_ASSIGN_OR_RETURN(int64_t depth, oneHotDepth(*depthTensor));
  const Shape &indices = c.inputType(0).shape;
  const int64_t outRank = static_cast<int64_t>(indices.size()) + 1;
  FLUIDML_ASSIGN_OR_RETURN(int64_t axis, normalizeAxis(c.node().intAttr("axis", -1), outRank));
  Shape out = indices;
  out.insert(out.begin() + axis, depth);
  c.setOutput(0, TensorType(values.dtype, out));
  return Status::ok();
}

Status oneHotKernel(KernelContext &c) {
  const Tensor &indicesTensor = c.input(0);
  FLUIDML_ASSIGN_OR_RETURN(int64_t depth, oneHotDepth(c.input(1)));
  const Shape &shape = indicesTensor.shape();
  const int64_t outRank = static_cast<int64_t>(shape.size()) + 1;
  FLUIDML_ASSIGN_OR_RETURN(int64_t axis, normalizeAxis(c.node.intAttr("axis", -1), outRank));
  // Positions along the new axis; -1 marks an index outside [-depth, depth) (all off). Read before any write.
  std::vector<int64_t> hot(static_cast<size_t>(indicesTensor.numel()));
  const bool integral = ir::isInteger(indicesTensor.dtype());
  for (size_t i = 0; i < hot.size(); ++i) {
    int64_t index = -1;
    if (integral) {
      index = indicesTensor.elementAsInt(static_cast<int64_t>(i));
    } else {
      double v = std::trunc(indicesTensor.elementAsDouble(static_cast<int64_t>(i)));
      index = std::isfinite(v) && std::abs(v) <= static_cast<double>(depth) ? static_cast<int64_t>(v) : depth;
    }
    hot[i] = wrapIndex(index, depth) ? index : -1;
  }
  const int64_t outer = product(shape, 0, static_cast<size_t>(axis));
  const int64_t inner = product(shape, static_cast<size_t>(axis), shape.size());
  const Tensor &values = c.input(2);
  visitDType(values.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T off = values.data<T>()[0], on = values.data<T>()[1];
    T *dst = c.output(0).data<T>();
    std::fill(dst, dst + c.output(0).numel(), off);
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t j = 0; j < inner; ++j) {
        int64_t h = hot[static_cast<size_t>(o * inner + j)];
        if (h >= 0) dst[(o * depth + h) * inner + j] = on;
      }
  });
  return Status::ok();
}

// ---------------------------------------------------------------------------------------------------------
// TopK: the k largest (or smallest) values along an axis and their int64 indices. Equal values keep the lower
// index first; NaN sorts above every number (as numpy does).

Status inferTopK(InferContext &c) {
  const bool kInput = c.opset() >= 10;
  FLUIDML_RETURN_IF_ERROR(checkInputs(c, kInput ? 2 : 1, kInput ? 2 : 1));
  FLUIDML_RETURN_IF_ERROR(checkNotBool(c, 0, "X"));
  const TensorType &x = c.inputType(0);
  if (x.rank() == 0) return Status::error("X must have rank >= 1, got a scalar");
  FLUIDML_ASSIGN_OR_RETURN(int64_t axis, normalizeAxis(c.node().intAttr("axis", -1), rankOf(x)));
  int64_t k = 0;
  if (kInput) {
    if (c.inputType(1).dtype != DType::Int64)
      return Status::error("K must be int64, got " + std::string(ir::dtypeName(c.inputType(1).dtype)));
    FLUIDML_RETURN_IF_ERROR(checkSingleValue(c, 1, "K"));
    const Tensor *constant = c.constantInput(1);
    if (constant == nullptr) return nonConstantShapeOperand(c, 1, "K");
    k = constant->elementAsInt(0);
  } else {
    if (c.node().attribute("k") == nullptr) return Status::error("the k attribute is required");
    k = c.node().intAttr("k", 0);
  }
  const int64_t length = x.shape[static_cast<size_t>(axis)];
  if (k < 0 || k > length)
    return Status::error("k " + str(k) + " is out of range for axis " + str(axis) + " of size " + str(length));
  Shape out = x.shape;
  out[static_cast<size_t>(axis)] = k;
  c.setOutput(0, TensorType(x.dtype, out));
  c.setOutput(1, TensorType(DType::Int64, out));
  return Status::ok();
}

template <typename T>
bool isNan(T v) {
  if constexpr (std::is_floating_point_v<T>) return std::isnan(v);
  else return false;
}

Status topKKernel(KernelContext &c) {
  const Tensor &in = c.input(0);
  const Shape &shape = in.shape();
  FLUIDML_ASSIGN_OR_RETURN(int64_t axis, normalizeAxis(c.node.intAttr("axis", -1), static_cast<int64_t>(shape.size())));
  const size_t a = static_cast<size_t>(axis);
  const int64_t k = c.opset >= 10 ? c.input(1).elementAsInt(0) : c.node.intAttr("k", 0);
  const int64_t length = shape[a];
  if (k < 0 || k > length)
    return Status::error("k " + str(k) + " is out of range for axis " + str(axis) + " of size " + str(length));
  const bool largest = c.node.intAttr("largest", 1) != 0;
  const int64_t outer = product(shape, 0, a), inner = product(shape, a + 1, shape.size());
  visitDType(in.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T *src = in.data<T>();
    T *values = c.hasOutput(0) ? c.output(0).data<T>() : nullptr;
    int64_t *indices = c.hasOutput(1) ? c.output(1).data<int64_t>() : nullptr;
    std::vector<T> slice(static_cast<size_t>(length));
    std::vector<int64_t> order(static_cast<size_t>(length));
    // Strict weak order: NaN above all numbers, ties broken by the lower index.
    auto before = [&](int64_t i, int64_t j) {
      const T x = slice[static_cast<size_t>(i)], y = slice[static_cast<size_t>(j)];
      const bool xNan = isNan(x), yNan = isNan(y);
      if (xNan || yNan) {
        if (xNan != yNan) return largest ? xNan : yNan;
        return i < j;
      }
      if (x != y) return largest ? x > y : x < y;
      return i < j;
    };
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t j = 0; j < inner; ++j) {
        // Copy the slice first: the values output may alias the input when k == length.
        for (int64_t i = 0; i < length; ++i) slice[static_cast<size_t>(i)] = src[(o * length + i) * inner + j];
        std::iota(order.begin(), order.end(), 0);
        std::partial_sort(order.begin(), order.begin() + k, order.end(), before);
        for (int64_t r = 0; r < k; ++r) {
          const int64_t e = (o * k + r) * inner + j;
          const int64_t i = order[static_cast<size_t>(r)];
          if (values) values[e] = slice[static_cast<size_t>(i)];
          if (indices) indices[e] = i;
        }
      }
  });
  return Status::ok();
}

}  // namespace

void registerIndexingOps(OpRegistry &registry) {
  auto add = [&](const char *opType, int minOpset, InferFn infer, KernelFn kernel, std::vector<int> shapeOperands) {
    registry.add(OpSchema{opType, "", minOpset, infer, kernel, std::move(shapeOperands), "indexing"});
  };
  add("Gather", 1, inferGather, gatherKernel, {});
  add("GatherElements", 11, inferGatherElements, gatherElementsKernel, {});
  add("GatherND", 11, inferGatherND, gatherNDKernel, {});
  add("ScatterND", 11, inferScatterND, scatterNDKernel, {});
  add("ScatterElements", 11, inferScatterElements, scatterElementsKernel, {});
  add("Scatter", 9, inferScatterElements, scatterElementsKernel, {});  // opset 9-10 name of ScatterElements
  add("Pad", 2, inferPad, padKernel, {1, 3});
  add("Resize", 10, inferResize, resizeKernel, {1, 2, 3});
  add("Upsample", 7, inferResize, resizeKernel, {1});
  add("Trilu", 14, inferTrilu, triluKernel, {});
  add("CumSum", 11, inferCumSum, cumSumKernel, {});
  add("OneHot", 9, inferOneHot, oneHotKernel, {1});
  add("TopK", 1, inferTopK, topKKernel, {1});
}

}  // namespace fluidml::ops
