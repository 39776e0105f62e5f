// Shape ops: ops that reshape, reorder, select or create elements without arithmetic on them.
// Semantics follow the ONNX operator specification (opsets 1 to 18; older forms are read through
// KernelContext/InferContext::opset and intListArg). Every data-moving kernel (Transpose, Slice, Expand,
// Tile) is one strided copy: the output is walked in row-major order while the input is read through
// per-dimension strides (permuted for Transpose, scaled by the step for Slice, 0 on broadcast dims for
// Expand and on repeat dims for Tile), so each costs O(output elements) with a plain inner loop over the
// last dimension. Ops that keep the element order (Reshape, Flatten, Squeeze, Unsqueeze, Identity, Dropout)
// copy bytes; Concat and Split copy contiguous chunks.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <numeric>
#include <type_traits>

#include "core/ops/op_helpers.h"
#include "core/ops/op_registry.h"

namespace fluidml::ops {

namespace {

using ir::DType;
using ir::Shape;
using ir::TensorType;

// Creating ops refuse outputs beyond this many elements: such a model is broken, not big.
constexpr int64_t kMaxCreatedElements = int64_t{1} << 32;

std::string listToString(const std::vector<int64_t> &values) {
  std::string s = "[";
  for (size_t i = 0; i < values.size(); ++i) s += (i ? ", " : "") + std::to_string(values[i]);
  return s + "]";
}

std::string dtypeString(DType dtype) { return std::string(ir::dtypeName(dtype)); }

/// ceil(a / b) for b != 0, exact for all int64 values that do not overflow (no negation of b).
int64_t ceilDiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  if (a % b != 0 && ((a < 0) == (b < 0))) ++q;
  return q;
}

// ---- common checks --------------------------------------------------------------------------------------

/// Checks the input count is in [minCount, maxCount] and that the first minCount inputs are present.
Status checkInputCount(const InferContext &c, size_t minCount, size_t maxCount) {
  size_t n = c.inputCount();
  if (n < minCount || n > maxCount) {
    std::string expected = minCount == maxCount ? std::to_string(minCount)
                                                : std::to_string(minCount) + " to " + std::to_string(maxCount);
    return Status::error("expects " + expected + " inputs, got " + std::to_string(n));
  }
  for (size_t i = 0; i < minCount; ++i)
    if (!c.hasInput(i)) return Status::error("input " + std::to_string(i) + " is required");
  return Status::ok();
}

Status checkIntegerInput(const InferContext &c, size_t i, const std::string &what) {
  DType dtype = c.inputType(i).dtype;
  if (dtype != DType::Int64 && dtype != DType::Int32)
    return Status::error("input " + std::to_string(i) + " ('" + what + "') must be int64 or int32, got " +
                         dtypeString(dtype));
  return Status::ok();
}

/// An integer list operand that must be a compile-time constant 1-D tensor (or an attribute in old opsets).
Expected<std::optional<std::vector<int64_t>>> constantIntList(const InferContext &c, const std::string &attrName,
                                                              size_t inputIndex) {
  if (c.hasInput(inputIndex)) {
    FLUIDML_RETURN_IF_ERROR(checkIntegerInput(c, inputIndex, attrName));
    if (c.inputType(inputIndex).rank() != 1)
      return Status::error("input " + std::to_string(inputIndex) + " ('" + attrName + "') must be 1-D, got shape " +
                           ir::shapeToString(c.inputType(inputIndex).shape));
  }
  return intListArg(c, attrName, inputIndex);
}

/// Like constantIntList, for an operand the op cannot do without.
Expected<std::vector<int64_t>> requiredIntList(const InferContext &c, const std::string &attrName,
                                               size_t inputIndex) {
  FLUIDML_ASSIGN_OR_RETURN(auto list, constantIntList(c, attrName, inputIndex));
  if (!list) return Status::error("input " + std::to_string(inputIndex) + " ('" + attrName + "') is required");
  return std::move(*list);
}

// ---- copies -----------------------------------------------------------------------------------------------

bool overlaps(const ir::Tensor &a, const ir::Tensor &b) {
  auto begin = [](const ir::Tensor &t) { return reinterpret_cast<uintptr_t>(t.rawData()); };
  return a.bytes() != 0 && b.bytes() != 0 && begin(a) < begin(b) + b.bytes() && begin(b) < begin(a) + a.bytes();
}

/// The input as a kernel may read it while writing `output`: a private copy when the two share memory
/// (an in-place schedule), else the input itself (sharing its buffer, no copy).
ir::Tensor readableInput(const ir::Tensor &input, const ir::Tensor &output) {
  return overlaps(input, output) ? input.clone() : input;
}

/// Copies the bytes of `from` into `to` (equal sizes); the buffers may be the same.
void copyBytes(const ir::Tensor &from, ir::Tensor &to) {
  assert(from.bytes() == to.bytes());
  if (to.bytes() != 0 && from.rawData() != to.rawData()) std::memmove(to.rawData(), from.rawData(), to.bytes());
}

// Elements are moved as same-sized unsigned words: the copy is bitwise, so one instantiation per size.
template <typename Word>
void stridedCopyWords(const Word *src, int64_t base, const Shape &shape, const std::vector<int64_t> &strides,
                      Word *dst) {
  if (ir::shapeNumel(shape) == 0) return;
  if (shape.empty()) {
    dst[0] = src[base];
    return;
  }
  const int64_t inner = shape.back();
  const int64_t innerStride = strides.back();
  Shape outer(shape.begin(), shape.end() - 1);
  std::vector<int64_t> outerStrides(strides.begin(), strides.end() - 1);
  for (StridedIterator it(outer, {outerStrides}); !it.done(); it.next()) {
    const Word *row = src + base + it.offset(0);
    if (innerStride == 1) {
      std::copy(row, row + inner, dst);
    } else {
      for (int64_t j = 0; j < inner; ++j) dst[j] = row[j * innerStride];
    }
    dst += inner;
  }
}

/// Fills `output` in row-major order over `shape` (whose element count is the output's) with input element
/// base + sum(index[d] * strides[d]).
void stridedCopy(const ir::Tensor &input, int64_t base, const Shape &shape, const std::vector<int64_t> &strides,
                 ir::Tensor &output) {
  assert(ir::shapeNumel(shape) == output.numel() && shape.size() == strides.size());
  ir::Tensor source = readableInput(input, output);
  const void *src = source.rawData();
  void *dst = output.rawData();
  switch (ir::dtypeSize(input.dtype())) {
    case 1:
      stridedCopyWords(static_cast<const uint8_t *>(src), base, shape, strides, static_cast<uint8_t *>(dst));
      break;
    case 2:
      stridedCopyWords(static_cast<const uint16_t *>(src), base, shape, strides, static_cast<uint16_t *>(dst));
      break;
    case 4:
      stridedCopyWords(static_cast<const uint32_t *>(src), base, shape, strides, static_cast<uint32_t *>(dst));
      break;
    default:
      assert(ir::dtypeSize(input.dtype()) == 8);
      stridedCopyWords(static_cast<const uint64_t *>(src), base, shape, strides, static_cast<uint64_t *>(dst));
      break;
  }
}

/// Kernel of every op whose output holds the input's elements in the same order.
Status copyKernel(KernelContext &c) {
  copyBytes(c.input(0), c.output(0));
  return Status::ok();
}

// ---- Reshape ----------------------------------------------------------------------------------------------

/// The output shape of Reshape: 0 copies the input dim (unless allowZero), one -1 takes the remaining size.
Expected<Shape> reshapeTarget(const Shape &in, const std::vector<int64_t> &spec, bool allowZero) {
  Shape out(spec.size());
  int64_t inferred = -1;
  int64_t known = 1;
  bool hasZero = false;
  for (size_t i = 0; i < spec.size(); ++i) {
    int64_t v = spec[i];
    if (v == -1) {
      if (inferred >= 0) return Status::error("shape " + listToString(spec) + " has more than one -1");
      inferred = static_cast<int64_t>(i);
      continue;
    }
    if (v < -1) return Status::error("shape " + listToString(spec) + " has the invalid dimension " + std::to_string(v));
    if (v == 0 && !allowZero) {
      if (i >= in.size())
        return Status::error("shape " + listToString(spec) + " copies dimension " + std::to_string(i) +
                             " (a 0) but the input has rank " + std::to_string(in.size()));
      v = in[i];
    }
    hasZero = hasZero || v == 0;
    out[i] = v;
    if (__builtin_mul_overflow(known, v, &known))
      return Status::error("shape " + listToString(spec) + " has more elements than int64 can count");
  }
  const int64_t numel = ir::shapeNumel(in);
  if (inferred >= 0) {
    if (allowZero && hasZero)
      return Status::error("shape " + listToString(spec) + " has both 0 and -1, which allowzero=1 forbids");
    if (known == 0 || numel % known != 0)
      return Status::error("cannot reshape " + ir::shapeToString(in) + " to " + listToString(spec) +
                           ": the -1 dimension cannot be inferred");
    out[static_cast<size_t>(inferred)] = numel / known;
  }
  if (ir::shapeNumel(out) != numel)
    return Status::error("cannot reshape " + ir::shapeToString(in) + " (" + std::to_string(numel) + " elements) to " +
                         ir::shapeToString(out) + " (" + std::to_string(ir::shapeNumel(out)) + " elements)");
  return out;
}

Status inferReshape(InferContext &c) {
  FLUIDML_RETURN_IF_ERROR(checkInputCount(c, 2, 2));
  FLUIDML_ASSIGN_OR_RETURN(auto spec, requiredIntList(c, "shape", 1));
  bool allowZero = c.node().intAttr("allowzero", 0) != 0;
  FLUIDML_ASSIGN_OR_RETURN(Shape out, reshapeTarget(c.inputType(0).shape, spec, allowZero));
  c.setOutput(0, TensorType(c.inputType(0).dtype, std::move(out)));
  return Status::ok();
}

// ---- Flatten ----------------------------------------------------------------------------------------------

Status inferFlatten(InferContext &c) {
  FLUIDML_RETURN_IF_ERROR(checkInputCount(c, 1, 1));
  const Shape &in = c.inputType(0).shape;
  const int64_t rank = static_cast<int64_t>(in.size());
  int64_t axis = c.node().intAttr("axis", 1);
  if (axis < -rank || axis > rank)
    return Status::error("axis " + std::to_string(axis) + " is out of range for rank " + std::to_string(rank));
  if (axis < 0) axis += rank;
  int64_t outer = 1;
  for (int64_t d = 0; d < axis; ++d) outer *= in[static_cast<size_t>(d)];
  int64_t inner = 1;
  for (int64_t d = axis; d < rank; ++d) inner *= in[static_cast<size_t>(d)];
  c.setOutput(0, TensorType(c.inputType(0).dtype, {outer, inner}));
  return Status::ok();
}

// ---- Transpose --------------------------------------------------------------------------------------------

/// The permutation of a Transpose node: the `perm` attribute, or the reversed dims by default.
std::vector<int64_t> transposePerm(const ir::Node &node, size_t rank) {
  if (auto perm = node.intsAttr("perm")) return *perm;
  std::vector<int64_t> perm(rank);
  for (size_t i = 0; i < rank; ++i) perm[i] = static_cast<int64_t>(rank - 1 - i);
  return perm;
}

Status inferTranspose(InferContext &c) {
  FLUIDML_RETURN_IF_ERROR(checkInputCount(c, 1, 1));
  const Shape &in = c.inputType(0).shape;
  std::vector<int64_t> perm = transposePerm(c.node(), in.size());
  if (perm.size() != in.size())
    return Status::error("perm " + listToString(perm) + " has " + std::to_string(perm.size()) +
                         " entries for an input of rank " + std::to_string(in.size()));
  std::vector<bool> seen(in.size(), false);
  Shape out(in.size());
  for (size_t i = 0; i < perm.size(); ++i) {
    int64_t p = perm[i];
    if (p < 0 || p >= static_cast<int64_t>(in.size()) || seen[static_cast<size_t>(p)])
      return Status::error("perm " + listToString(perm) + " is not a permutation of the " +
                           std::to_string(in.size()) + " input dimensions");
    seen[static_cast<size_t>(p)] = true;
    out[i] = in[static_cast<size_t>(p)];
  }
  c.setOutput(0, TensorType(c.inputType(0).dtype, std::move(out)));
  return Status::ok();
}

Status transposeKernel(KernelContext &c) {
  const ir::Tensor &in = c.input(0);
  ir::Tensor &out = c.output(0);
  std::vector<int64_t> perm = transposePerm(c.node, in.rank());
  std::vector<int64_t> inStrides = ir::rowMajorStrides(in.shape());
  std::vector<int64_t> strides(perm.size());
  for (size_t i = 0; i < perm.size(); ++i) strides[i] = inStrides[static_cast<size_t>(perm[i])];
  stridedCopy(in, 0, out.shape(), strides, out);
  return Status::ok();
}

// ---- Squeeze / Unsqueeze ----------------------------------------------------------------------------------

Status inferSqueeze(InferContext &c) {
  FLUIDML_RETURN_IF_ERROR(checkInputCount(c, 1, c.opset() >= 13 ? 2 : 1));
  const Shape &in = c.inputType(0).shape;
  FLUIDML_ASSIGN_OR_RETURN(auto axesArg, constantIntList(c, "axes", 1));
  std::vector<bool> drop(in.size(), false);
  if (axesArg && !axesArg->empty()) {
    FLUIDML_ASSIGN_OR_RETURN(auto axes, normalizeAxes(*axesArg, static_cast<int64_t>(in.size())));
    for (int64_t a : axes) {
      if (in[static_cast<size_t>(a)] != 1)
        return Status::error("cannot squeeze axis " + std::to_string(a) + " of size " +
                             std::to_string(in[static_cast<size_t>(a)]) + " (input shape " +
                             ir::shapeToString(in) + ")");
      drop[static_cast<size_t>(a)] = true;
    }
  } else {
    for (size_t d = 0; d < in.size(); ++d) drop[d] = in[d] == 1;
  }
  Shape out;
  for (size_t d = 0; d < in.size(); ++d)
    if (!drop[d]) out.push_back(in[d]);
  c.setOutput(0, TensorType(c.inputType(0).dtype, std::move(out)));
  return Status::ok();
}

Status inferUnsqueeze(InferContext &c) {
  FLUIDML_RETURN_IF_ERROR(checkInputCount(c, c.opset() >= 13 ? 2 : 1, c.opset() >= 13 ? 2 : 1));
  const Shape &in = c.inputType(0).shape;
  FLUIDML_ASSIGN_OR_RETURN(auto axesArg, constantIntList(c, "axes", 1));
  if (!axesArg) return Status::error("the 'axes' attribute is required");
  const int64_t outRank = static_cast<int64_t>(in.size() + axesArg->size());
  FLUIDML_ASSIGN_OR_RETURN(auto axes, normalizeAxes(*axesArg, outRank));
  std::vector<bool> inserted(static_cast<size_t>(outRank), false);
  for (int64_t a : axes) inserted[static_cast<size_t>(a)] = true;
  Shape out(static_cast<size_t>(outRank));
  size_t next = 0;
  for (size_t d = 0; d < out.size(); ++d) out[d] = inserted[d] ? 1 : in[next++];
  c.setOutput(0, TensorType(c.inputType(0).dtype, std::move(out)));
  return Status::ok();
}

// ---- Concat -----------------------------------------------------------------------------------------------

Status inferConcat(InferContext &c) {
  if (c.inputCount() == 0) return Status::error("expects at least 1 input, got 0");
  for (size_t i = 0; i < c.inputCount(); ++i)
    if (!c.hasInput(i)) return Status::error("input " + std::to_string(i) + " is required");
  if (c.node().attribute("axis") == nullptr) return Status::error("the 'axis' attribute is required");
  const TensorType &first = c.inputType(0);
  if (first.rank() == 0) return Status::error("cannot concatenate scalars");
  FLUIDML_ASSIGN_OR_RETURN(int64_t axis,
                           normalizeAxis(c.node().intAttr("axis", 0), static_cast<int64_t>(first.rank())));
  Shape out = first.shape;
  out[static_cast<size_t>(axis)] = 0;
  for (size_t i = 0; i < c.inputCount(); ++i) {
    const TensorType &t = c.inputType(i);
    if (t.dtype != first.dtype)
      return Status::error("input " + std::to_string(i) + " is " + dtypeString(t.dtype) + ", input 0 is " +
                           dtypeString(first.dtype));
    if (t.rank() != first.rank())
      return Status::error("input " + std::to_string(i) + " has rank " + std::to_string(t.rank()) +
                           ", input 0 has rank " + std::to_string(first.rank()));
    for (size_t d = 0; d < t.rank(); ++d)
      if (static_cast<int64_t>(d) != axis && t.shape[d] != first.shape[d])
        return Status::error("input " + std::to_string(i) + " has shape " + ir::shapeToString(t.shape) +
                             ", which differs from input 0 (" + ir::shapeToString(first.shape) +
                             ") in dimension " + std::to_string(d) + " outside the concat axis " +
                             std::to_string(axis));
    out[static_cast<size_t>(axis)] += t.shape[static_cast<size_t>(axis)];
  }
  c.setOutput(0, TensorType(first.dtype, std::move(out)));
  return Status::ok();
}

/// Bytes of one slab from dimension `axis` inward, and the number of slabs before it.
std::pair<int64_t, size_t> outerAndSlabBytes(const ir::Tensor &t, int64_t axis) {
  int64_t outer = 1;
  for (int64_t d = 0; d < axis; ++d) outer *= t.shape()[static_cast<size_t>(d)];
  size_t slab = ir::dtypeSize(t.dtype());
  for (size_t d = static_cast<size_t>(axis); d < t.rank(); ++d) slab *= static_cast<size_t>(t.shape()[d]);
  return {outer, slab};
}

Status concatKernel(KernelContext &c) {
  ir::Tensor &out = c.output(0);
  int64_t axis = c.node.intAttr("axis", 0);
  if (axis < 0) axis += static_cast<int64_t>(out.rank());
  std::vector<ir::Tensor> inputs;
  std::vector<size_t> slabs;
  for (size_t i = 0; i < c.inputs.size(); ++i) {
    inputs.push_back(readableInput(c.input(i), out));
    slabs.push_back(outerAndSlabBytes(inputs.back(), axis).second);
  }
  const int64_t outer = outerAndSlabBytes(out, axis).first;
  auto *dst = static_cast<char *>(out.rawData());
  for (int64_t o = 0; o < outer; ++o)
    for (size_t i = 0; i < inputs.size(); ++i) {
      if (slabs[i] == 0) continue;
      std::memcpy(dst, static_cast<const char *>(inputs[i].rawData()) + static_cast<size_t>(o) * slabs[i], slabs[i]);
      dst += slabs[i];
    }
  return Status::ok();
}

// ---- Split ------------------------------------------------------------------------------------------------

/// Sizes of the Split outputs along the axis: the 'split' list, else equal parts (from opset 18, parts of
/// ceil(dim / n) with a smaller last one when dim does not divide evenly).
Expected<std::vector<int64_t>> splitSizes(const ir::Node &node, int64_t opset, int64_t axis, int64_t dim,
                                          int64_t outputs, const std::optional<std::vector<int64_t>> &splitArg) {
  const bool hasNumOutputs = node.attribute("num_outputs") != nullptr;
  if (splitArg) {
    if (hasNumOutputs) return Status::error("'split' and 'num_outputs' cannot both be given");
    const std::vector<int64_t> &split = *splitArg;
    if (static_cast<int64_t>(split.size()) != outputs)
      return Status::error("split " + listToString(split) + " has " + std::to_string(split.size()) +
                           " entries for " + std::to_string(outputs) + " outputs");
    int64_t sum = 0;
    for (int64_t s : split) {
      if (s < 0) return Status::error("split " + listToString(split) + " has a negative size");
      sum += s;
    }
    if (sum != dim)
      return Status::error("split " + listToString(split) + " sums to " + std::to_string(sum) + ", but axis " +
                           std::to_string(axis) + " has size " + std::to_string(dim));
    return split;
  }
  int64_t parts = outputs;
  if (hasNumOutputs) {
    parts = node.intAttr("num_outputs", 0);
    if (parts != outputs)
      return Status::error("num_outputs is " + std::to_string(parts) + " but the node has " +
                           std::to_string(outputs) + " outputs");
  }
  if (dim % parts == 0) return std::vector<int64_t>(static_cast<size_t>(parts), dim / parts);
  if (opset < 18)
    return Status::error("axis " + std::to_string(axis) + " of size " + std::to_string(dim) +
                         " cannot be split evenly into " + std::to_string(parts) +
                         " outputs (uneven splits need opset 18 or a 'split' list)");
  const int64_t chunk = ceilDiv(dim, parts);
  const int64_t last = dim - chunk * (parts - 1);
  if (last < 0)
    return Status::error("axis " + std::to_string(axis) + " of size " + std::to_string(dim) +
                         " cannot be split into " + std::to_string(parts) + " chunks of " + std::to_string(chunk));
  std::vector<int64_t> split(static_cast<size_t>(parts), chunk);
  split.back() = last;
  return split;
}

Status inferSplit(InferContext &c) {
  FLUIDML_RETURN_IF_ERROR(checkInputCount(c, 1, c.opset() >= 13 ? 2 : 1));
  const TensorType &in = c.inputType(0);
  if (in.rank() == 0) return Status::error("cannot split a scalar");
  if (c.outputCount() == 0) return Status::error("has no outputs");
  FLUIDML_ASSIGN_OR_RETURN(int64_t axis, normalizeAxis(c.node().intAttr("axis", 0), static_cast<int64_t>(in.rank())));
  FLUIDML_ASSIGN_OR_RETURN(auto splitArg, constantIntList(c, "split", 1));
  FLUIDML_ASSIGN_OR_RETURN(auto split, splitSizes(c.node(), c.opset(), axis, in.shape[static_cast<size_t>(axis)],
                                                  static_cast<int64_t>(c.outputCount()), splitArg));
  for (size_t i = 0; i < split.size(); ++i) {
    Shape shape = in.shape;
    shape[static_cast<size_t>(axis)] = split[i];
    c.setOutput(i, TensorType(in.dtype, std::move(shape)));
  }
  return Status::ok();
}

Status splitKernel(KernelContext &c) {
  const ir::Tensor &in = c.input(0);
  int64_t axis = c.node.intAttr("axis", 0);
  if (axis < 0) axis += static_cast<int64_t>(in.rank());
  // Sized from the arguments rather than the output types, because an omitted output still takes its share.
  FLUIDML_ASSIGN_OR_RETURN(auto split, splitSizes(c.node, c.opset, axis, in.shape()[static_cast<size_t>(axis)],
                                                  static_cast<int64_t>(c.outputs.size()), intListArg(c, "split", 1)));
  const auto [outer, inSlab] = outerAndSlabBytes(in, axis);
  const size_t rowBytes = in.shape()[static_cast<size_t>(axis)] == 0
                              ? 0
                              : inSlab / static_cast<size_t>(in.shape()[static_cast<size_t>(axis)]);
  ir::Tensor source = in;
  for (size_t i = 0; i < c.outputs.size(); ++i)
    if (c.hasOutput(i) && overlaps(in, c.output(i))) source = in.clone();
  const auto *src = static_cast<const char *>(source.rawData());
  for (int64_t o = 0; o < outer; ++o)
    for (size_t i = 0; i < c.outputs.size(); ++i) {
      const size_t slab = static_cast<size_t>(split[i]) * rowBytes;
      if (slab != 0 && c.hasOutput(i))
        std::memcpy(static_cast<char *>(c.output(i).rawData()) + static_cast<size_t>(o) * slab, src, slab);
      src += slab;
    }
  return Status::ok();
}

// ---- Slice ------------------------------------------------------------------------------------------------

/// Where a slice starts and how it walks each input dimension.
struct SlicePlan {
  std::vector<int64_t> starts;  // per input dim, after clamping
  std::vector<int64_t> steps;   // per input dim
  Shape shape;                  // output shape
};

/// Resolves Slice arguments exactly as ONNX specifies: negative starts/ends count from the end, then
/// starts/ends are clamped to [0, dim] for positive steps and to [0, dim-1] / [-1, dim-1] for negative ones.
Expected<SlicePlan> planSlice(const Shape &in, const std::vector<int64_t> &starts, const std::vector<int64_t> &ends,
                              const std::optional<std::vector<int64_t>> &axesArg,
                              const std::optional<std::vector<int64_t>> &stepsArg) {
  const int64_t rank = static_cast<int64_t>(in.size());
  if (starts.size() != ends.size())
    return Status::error("starts " + listToString(starts) + " and ends " + listToString(ends) +
                         " differ in length");
  std::vector<int64_t> axes;
  if (axesArg) {
    if (axesArg->size() != starts.size())
      return Status::error("axes " + listToString(*axesArg) + " and starts " + listToString(starts) +
                           " differ in length");
    FLUIDML_ASSIGN_OR_RETURN(axes, normalizeAxes(*axesArg, rank));
  } else {
    if (static_cast<int64_t>(starts.size()) > rank)
      return Status::error("starts " + listToString(starts) + " has more entries than the input rank " +
                           std::to_string(rank));
    axes.resize(starts.size());
    std::iota(axes.begin(), axes.end(), 0);
  }
  std::vector<int64_t> steps = stepsArg ? *stepsArg : std::vector<int64_t>(starts.size(), 1);
  if (steps.size() != starts.size())
    return Status::error("steps " + listToString(steps) + " and starts " + listToString(starts) +
                         " differ in length");

  SlicePlan plan{std::vector<int64_t>(in.size(), 0), std::vector<int64_t>(in.size(), 1), in};
  for (size_t k = 0; k < axes.size(); ++k) {
    const size_t d = static_cast<size_t>(axes[k]);
    const int64_t dim = in[d];
    const int64_t step = steps[k];
    if (step == 0) return Status::error("steps " + listToString(steps) + " has a 0 step");
    int64_t start = starts[k];
    int64_t end = ends[k];
    if (start < 0) start += dim;
    if (end < 0) end += dim;
    int64_t size = 0;
    if (dim == 0) {
      start = 0;
    } else if (step > 0) {
      start = std::clamp<int64_t>(start, 0, dim);
      end = std::clamp<int64_t>(end, 0, dim);
      size = std::max<int64_t>(0, ceilDiv(end - start, step));
    } else {
      start = std::clamp<int64_t>(start, 0, dim - 1);
      end = std::clamp<int64_t>(end, -1, dim - 1);
      size = std::max<int64_t>(0, ceilDiv(end - start, step));
    }
    plan.starts[d] = start;
    plan.steps[d] = step;
    plan.shape[d] = size;
  }
  return plan;
}

Status inferSlice(InferContext &c) {
  const bool attrForm = c.opset() < 10;
  FLUIDML_RETURN_IF_ERROR(checkInputCount(c, attrForm ? 1 : 3, attrForm ? 1 : 5));
  FLUIDML_ASSIGN_OR_RETURN(auto starts, constantIntList(c, "starts", 1));
  FLUIDML_ASSIGN_OR_RETURN(auto ends, constantIntList(c, "ends", 2));
  FLUIDML_ASSIGN_OR_RETURN(auto axes, constantIntList(c, "axes", 3));
  FLUIDML_ASSIGN_OR_RETURN(auto steps, constantIntList(c, "steps", 4));
  if (!starts || !ends) return Status::error("'starts' and 'ends' are required");
  FLUIDML_ASSIGN_OR_RETURN(SlicePlan plan, planSlice(c.inputType(0).shape, *starts, *ends, axes, steps));
  c.setOutput(0, TensorType(c.inputType(0).dtype, std::move(plan.shape)));
  return Status::ok();
}

Status sliceKernel(KernelContext &c) {
  const ir::Tensor &in = c.input(0);
  auto starts = intListArg(c, "starts", 1);
  auto ends = intListArg(c, "ends", 2);
  if (!starts || !ends) return Status::error("'starts' and 'ends' are required");
  FLUIDML_ASSIGN_OR_RETURN(SlicePlan plan,
                           planSlice(in.shape(), *starts, *ends, intListArg(c, "axes", 3), intListArg(c, "steps", 4)));
  if (plan.shape != c.output(0).shape())
    return Status::error("slice arguments give shape " + ir::shapeToString(plan.shape) + ", but the output was typed " +
                         ir::shapeToString(c.output(0).shape()));
  std::vector<int64_t> inStrides = ir::rowMajorStrides(in.shape());
  int64_t base = 0;
  std::vector<int64_t> strides(in.rank());
  for (size_t d = 0; d < in.rank(); ++d) {
    base += plan.starts[d] * inStrides[d];
    strides[d] = plan.steps[d] * inStrides[d];
  }
  stridedCopy(in, base, plan.shape, strides, c.output(0));
  return Status::ok();
}

// ---- Expand / Tile ----------------------------------------------------------------------------------------

Status inferExpand(InferContext &c) {
  FLUIDML_RETURN_IF_ERROR(checkInputCount(c, 2, 2));
  FLUIDML_ASSIGN_OR_RETURN(auto shape, requiredIntList(c, "shape", 1));
  for (int64_t d : shape)
    if (d < 0) return Status::error("shape " + listToString(shape) + " has a negative dimension");
  auto out = broadcastShapes(c.inputType(0).shape, shape);
  if (!out)
    return Status::error("cannot expand " + ir::shapeToString(c.inputType(0).shape) + " to " + listToString(shape) +
                         ": " + out.message());
  c.setOutput(0, TensorType(c.inputType(0).dtype, *out));
  return Status::ok();
}

Status expandKernel(KernelContext &c) {
  ir::Tensor &out = c.output(0);
  stridedCopy(c.input(0), 0, out.shape(), broadcastStrides(c.input(0).shape(), out.shape()), out);
  return Status::ok();
}

Status inferTile(InferContext &c) {
  FLUIDML_RETURN_IF_ERROR(checkInputCount(c, 2, 2));
  const Shape &in = c.inputType(0).shape;
  FLUIDML_ASSIGN_OR_RETURN(auto repeats, requiredIntList(c, "repeats", 1));
  if (repeats.size() != in.size())
    return Status::error("repeats " + listToString(repeats) + " has " + std::to_string(repeats.size()) +
                         " entries for an input of rank " + std::to_string(in.size()));
  Shape out(in.size());
  for (size_t d = 0; d < in.size(); ++d) {
    if (repeats[d] < 0) return Status::error("repeats " + listToString(repeats) + " has a negative entry");
    if (__builtin_mul_overflow(in[d], repeats[d], &out[d]) || out[d] > kMaxCreatedElements)
      return Status::error("repeats " + listToString(repeats) + " make dimension " + std::to_string(d) + " too large");
  }
  c.setOutput(0, TensorType(c.inputType(0).dtype, std::move(out)));
  return Status::ok();
}

Status tileKernel(KernelContext &c) {
  // Output dim d of size repeats*n is walked as the pair (repeat, index) with input strides (0, stride).
  const ir::Tensor &in = c.input(0);
  ir::Tensor &out = c.output(0);
  if (out.numel() == 0) return Status::ok();
  std::vector<int64_t> inStrides = ir::rowMajorStrides(in.shape());
  Shape pairs;
  std::vector<int64_t> strides;
  for (size_t d = 0; d < in.rank(); ++d) {
    pairs.push_back(out.shape()[d] / in.shape()[d]);
    pairs.push_back(in.shape()[d]);
    strides.push_back(0);
    strides.push_back(inStrides[d]);
  }
  stridedCopy(in, 0, pairs, strides, out);
  return Status::ok();
}

// ---- Shape / Size -----------------------------------------------------------------------------------------

/// The [start, end) range of dims that Shape reports (opset 15 start/end, clamped to [0, rank]).
std::pair<int64_t, int64_t> shapeRange(const ir::Node &node, int64_t rank) {
  auto clampDim = [rank](int64_t v) { return std::clamp<int64_t>(v < 0 ? v + rank : v, 0, rank); };
  int64_t start = clampDim(node.intAttr("start", 0));
  int64_t end = clampDim(node.intAttr("end", rank));
  return {start, std::max(start, end)};
}

Status inferShape(InferContext &c) {
  FLUIDML_RETURN_IF_ERROR(checkInputCount(c, 1, 1));
  auto [start, end] = shapeRange(c.node(), static_cast<int64_t>(c.inputType(0).rank()));
  c.setOutput(0, TensorType(DType::Int64, {end - start}));
  return Status::ok();
}

Status shapeKernel(KernelContext &c) {
  const Shape &in = c.input(0).shape();
  auto [start, end] = shapeRange(c.node, static_cast<int64_t>(in.size()));
  int64_t *out = c.output(0).data<int64_t>();
  for (int64_t d = start; d < end; ++d) out[d - start] = in[static_cast<size_t>(d)];
  return Status::ok();
}

Status inferSize(InferContext &c) {
  FLUIDML_RETURN_IF_ERROR(checkInputCount(c, 1, 1));
  c.setOutput(0, TensorType(DType::Int64, {}));
  return Status::ok();
}

Status sizeKernel(KernelContext &c) {
  c.output(0).data<int64_t>()[0] = c.input(0).numel();
  return Status::ok();
}

// ---- ConstantOfShape / Constant / EyeLike -----------------------------------------------------------------

/// The one-element `value` tensor of ConstantOfShape, or nullptr for the default (float32 0).
Expected<const ir::Tensor *> constantOfShapeValue(const ir::Node &node) {
  const ir::Attribute *attr = node.attribute("value");
  if (attr == nullptr) return static_cast<const ir::Tensor *>(nullptr);
  const auto *tensor = std::get_if<ir::Tensor>(attr);
  if (tensor == nullptr) return Status::error("the 'value' attribute must be a tensor");
  if (tensor->numel() != 1)
    return Status::error("the 'value' attribute must hold one element, it holds " + std::to_string(tensor->numel()));
  return tensor;
}

Status inferConstantOfShape(InferContext &c) {
  FLUIDML_RETURN_IF_ERROR(checkInputCount(c, 1, 1));
  FLUIDML_RETURN_IF_ERROR(checkIntegerInput(c, 0, "shape"));
  if (c.inputType(0).rank() != 1)
    return Status::error("input 0 ('shape') must be 1-D, got shape " + ir::shapeToString(c.inputType(0).shape));
  const ir::Tensor *shapeTensor = c.constantInput(0);
  if (shapeTensor == nullptr) return nonConstantShapeOperand(c, 0, "shape");
  std::vector<int64_t> dims = shapeTensor->toInt64Vector();
  int64_t numel = 1;
  for (int64_t d : dims) {
    if (d < 0) return Status::error("shape " + listToString(dims) + " has a negative dimension");
    if (d != 0 && numel > kMaxCreatedElements / d)
      return Status::error("shape " + listToString(dims) + " is too large");
    numel *= d;
  }
  FLUIDML_ASSIGN_OR_RETURN(const ir::Tensor *value, constantOfShapeValue(c.node()));
  c.setOutput(0, TensorType(value ? value->dtype() : DType::Float32, std::move(dims)));
  return Status::ok();
}

Status constantOfShapeKernel(KernelContext &c) {
  FLUIDML_ASSIGN_OR_RETURN(const ir::Tensor *value, constantOfShapeValue(c.node));
  ir::Tensor &out = c.output(0);
  ir::visitDType(out.dtype(), [&](auto tag) {
    using T = decltype(tag);
    T fill = value ? value->data<T>()[0] : T{};
    std::fill_n(out.data<T>(), out.numel(), fill);
  });
  return Status::ok();
}

/// The tensor a Constant node produces, built from whichever value attribute it has.
Expected<ir::Tensor> constantValue(const ir::Node &node) {
  static const char *const kValueAttrs[] = {"value",        "value_float",  "value_floats",   "value_int",
                                            "value_ints",   "value_string", "value_strings", "sparse_value"};
  std::string found;
  int count = 0;
  for (const char *name : kValueAttrs)
    if (node.attribute(name) != nullptr) {
      found = name;
      ++count;
    }
  if (count != 1)
    return Status::error("needs exactly one value attribute (value, value_float, value_floats, value_int, "
                         "value_ints), it has " + std::to_string(count));
  const ir::Attribute &attr = *node.attribute(found);
  if (found == "value") {
    if (const auto *t = std::get_if<ir::Tensor>(&attr)) return *t;
  } else if (found == "value_float") {
    if (const auto *v = std::get_if<float>(&attr)) return ir::Tensor::scalar<float>(*v);
  } else if (found == "value_floats") {
    if (const auto *v = std::get_if<std::vector<float>>(&attr))
      return v->empty() ? ir::Tensor::zeros(DType::Float32, {0})
                        : ir::Tensor::fromVector<float>({static_cast<int64_t>(v->size())}, *v);
  } else if (found == "value_int") {
    if (const auto *v = std::get_if<int64_t>(&attr)) return ir::Tensor::scalar<int64_t>(*v);
  } else if (found == "value_ints") {
    if (const auto *v = std::get_if<std::vector<int64_t>>(&attr))
      return v->empty() ? ir::Tensor::zeros(DType::Int64, {0})
                        : ir::Tensor::fromVector<int64_t>({static_cast<int64_t>(v->size())}, *v);
  } else {
    return Status::error("the '" + found + "' attribute is not supported (no string or sparse tensors)");
  }
  return Status::error("the '" + found + "' attribute has the wrong kind: " + ir::attributeToString(attr));
}

Status inferConstant(InferContext &c) {
  FLUIDML_RETURN_IF_ERROR(checkInputCount(c, 0, 0));
  FLUIDML_ASSIGN_OR_RETURN(ir::Tensor value, constantValue(c.node()));
  c.setOutput(0, value.type());
  return Status::ok();
}

Status constantKernel(KernelContext &c) {
  FLUIDML_ASSIGN_OR_RETURN(ir::Tensor value, constantValue(c.node));
  copyBytes(value, c.output(0));
  return Status::ok();
}

/// The DType for an ONNX TensorProto element type code (the `dtype` attribute of EyeLike and friends).
Expected<DType> dtypeFromOnnxCode(int64_t code) {
  switch (code) {
    case 1: return DType::Float32;
    case 2: return DType::UInt8;
    case 3: return DType::Int8;
    case 6: return DType::Int32;
    case 7: return DType::Int64;
    case 9: return DType::Bool;
    case 11: return DType::Float64;
    default: return Status::error("element type " + std::to_string(code) + " is not supported");
  }
}

Status inferEyeLike(InferContext &c) {
  FLUIDML_RETURN_IF_ERROR(checkInputCount(c, 1, 1));
  const TensorType &in = c.inputType(0);
  if (in.rank() != 2) return Status::error("input must be 2-D, got shape " + ir::shapeToString(in.shape));
  DType dtype = in.dtype;
  if (c.node().attribute("dtype") != nullptr) {
    FLUIDML_ASSIGN_OR_RETURN(dtype, dtypeFromOnnxCode(c.node().intAttr("dtype", 1)));
  }
  c.setOutput(0, TensorType(dtype, in.shape));
  return Status::ok();
}

Status eyeLikeKernel(KernelContext &c) {
  ir::Tensor &out = c.output(0);
  const int64_t rows = out.shape()[0], cols = out.shape()[1];
  const int64_t k = c.node.intAttr("k", 0);
  ir::visitDType(out.dtype(), [&](auto tag) {
    using T = decltype(tag);
    T *data = out.data<T>();
    std::fill_n(data, out.numel(), T{});
    for (int64_t i = 0; i < rows; ++i) {
      int64_t j = i + k;
      if (j >= 0 && j < cols) data[i * cols + j] = T(1);
    }
  });
  return Status::ok();
}

// ---- Range ------------------------------------------------------------------------------------------------

/// Element count of Range: max(ceil((limit - start) / delta), 0), exact for integer types.
Expected<int64_t> rangeCount(const ir::Tensor &start, const ir::Tensor &limit, const ir::Tensor &delta) {
  int64_t count;
  if (ir::isFloating(start.dtype())) {
    double s = start.elementAsDouble(0), l = limit.elementAsDouble(0), d = delta.elementAsDouble(0);
    if (d == 0) return Status::error("delta is 0");
    double n = std::ceil((l - s) / d);
    if (!std::isfinite(n)) return Status::error("the number of elements is not finite");
    if (n > static_cast<double>(kMaxCreatedElements))
      return Status::error("the range would have " + std::to_string(n) + " elements");
    count = std::max<int64_t>(0, static_cast<int64_t>(n));
  } else {
    int64_t s = start.elementAsInt(0), l = limit.elementAsInt(0), d = delta.elementAsInt(0);
    if (d == 0) return Status::error("delta is 0");
    int64_t diff;
    if (__builtin_sub_overflow(l, s, &diff)) return Status::error("limit - start overflows int64");
    count = std::max<int64_t>(0, ceilDiv(diff, d));
  }
  if (count > kMaxCreatedElements)
    return Status::error("the range would have " + std::to_string(count) + " elements");
  return count;
}

Status inferRange(InferContext &c) {
  FLUIDML_RETURN_IF_ERROR(checkInputCount(c, 3, 3));
  static const char *const kNames[] = {"start", "limit", "delta"};
  const DType dtype = c.inputType(0).dtype;
  if (dtype != DType::Float32 && dtype != DType::Float64 && dtype != DType::Int32 && dtype != DType::Int64)
    return Status::error("Range supports float32, float64, int32 and int64, got " + dtypeString(dtype));
  for (size_t i = 0; i < 3; ++i) {
    const TensorType &t = c.inputType(i);
    if (t.dtype != dtype)
      return Status::error("input " + std::to_string(i) + " ('" + kNames[i] + "') is " + dtypeString(t.dtype) +
                           ", input 0 is " + dtypeString(dtype));
    if (t.numel() != 1)
      return Status::error("input " + std::to_string(i) + " ('" + kNames[i] + "') must be a scalar, got shape " +
                           ir::shapeToString(t.shape));
    if (c.constantInput(i) == nullptr) return nonConstantShapeOperand(c, i, kNames[i]);
  }
  FLUIDML_ASSIGN_OR_RETURN(int64_t count, rangeCount(*c.constantInput(0), *c.constantInput(1), *c.constantInput(2)));
  c.setOutput(0, TensorType(dtype, {count}));
  return Status::ok();
}

Status rangeKernel(KernelContext &c) {
  ir::Tensor &out = c.output(0);
  const ir::Tensor &start = c.input(0), &delta = c.input(2);
  const int64_t count = out.numel();
  ir::visitDType(out.dtype(), [&](auto tag) {
    using T = decltype(tag);
    T *data = out.data<T>();
    if constexpr (std::is_floating_point_v<T>) {
      const double s = start.elementAsDouble(0), d = delta.elementAsDouble(0);
      for (int64_t i = 0; i < count; ++i) data[i] = static_cast<T>(s + static_cast<double>(i) * d);
    } else {
      const int64_t s = start.elementAsInt(0), d = delta.elementAsInt(0);
      for (int64_t i = 0; i < count; ++i) data[i] = static_cast<T>(s + i * d);
    }
  });
  return Status::ok();
}

// ---- Identity / Dropout -----------------------------------------------------------------------------------

Status inferIdentity(InferContext &c) {
  FLUIDML_RETURN_IF_ERROR(checkInputCount(c, 1, 1));
  c.setOutput(0, c.inputType(0));
  return Status::ok();
}

constexpr float kDefaultDropoutRatio = 0.5f;

const char *const kTrainingDropoutError =
    "Dropout in training mode drops random elements; fluidml runs inference only (training_mode must be false)";

Status inferDropout(InferContext &c) {
  FLUIDML_RETURN_IF_ERROR(checkInputCount(c, 1, c.opset() >= 12 ? 3 : 1));
  const TensorType &in = c.inputType(0);
  if (!ir::isFloating(in.dtype))
    return Status::error("input 0 must be a floating-point tensor, got " + dtypeString(in.dtype));
  if (c.hasInput(1) && (!ir::isFloating(c.inputType(1).dtype) || c.inputType(1).numel() != 1))
    return Status::error("input 1 ('ratio') must be a floating-point scalar");
  if (c.hasInput(2)) {
    if (c.inputType(2).dtype != DType::Bool || c.inputType(2).numel() != 1)
      return Status::error("input 2 ('training_mode') must be a bool scalar");
    const ir::Tensor *training = c.constantInput(2);
    const ir::Tensor *ratio = c.constantInput(1);
    // Training with ratio 0 drops nothing, so it is the identity too.
    bool ratioZero = c.hasInput(1) && ratio != nullptr && ratio->elementAsDouble(0) == 0.0;
    if (training != nullptr && training->elementAsInt(0) != 0 && !ratioZero)
      return Status::error(kTrainingDropoutError);
  }
  c.setOutput(0, in);
  // The mask is bool from opset 10; before, it had the input's type.
  c.setOutput(1, TensorType(c.opset() >= 10 ? DType::Bool : in.dtype, in.shape));
  return Status::ok();
}

Status dropoutKernel(KernelContext &c) {
  if (c.hasInput(2) && c.input(2).elementAsInt(0) != 0) {
    double ratio = c.hasInput(1) ? c.input(1).elementAsDouble(0) : kDefaultDropoutRatio;
    if (ratio != 0.0) return Status::error(kTrainingDropoutError);
  }
  copyBytes(c.input(0), c.output(0));
  if (c.hasOutput(1)) {
    ir::Tensor &mask = c.output(1);
    ir::visitDType(mask.dtype(), [&](auto tag) {
      using T = decltype(tag);
      std::fill_n(mask.data<T>(), mask.numel(), T(1));
    });
  }
  return Status::ok();
}

}  // namespace

void registerShapeOps(OpRegistry &registry) {
  auto add = [&registry](std::string opType, int minOpset, InferFn infer, KernelFn kernel,
                         std::vector<int> shapeOperands = {}) {
    registry.add(OpSchema{std::move(opType), "", minOpset, infer, kernel, std::move(shapeOperands), "shape"});
  };
  add("Reshape", 5, inferReshape, copyKernel, {1});
  add("Flatten", 1, inferFlatten, copyKernel);
  add("Transpose", 1, inferTranspose, transposeKernel);
  add("Squeeze", 1, inferSqueeze, copyKernel, {1});
  add("Unsqueeze", 1, inferUnsqueeze, copyKernel, {1});
  add("Concat", 4, inferConcat, concatKernel);
  add("Split", 2, inferSplit, splitKernel, {1});
  add("Slice", 1, inferSlice, sliceKernel, {1, 2, 3, 4});
  add("Expand", 8, inferExpand, expandKernel, {1});
  add("Tile", 6, inferTile, tileKernel, {1});
  add("Shape", 1, inferShape, shapeKernel);
  add("Size", 1, inferSize, sizeKernel);
  add("ConstantOfShape", 9, inferConstantOfShape, constantOfShapeKernel, {0});
  add("Constant", 1, inferConstant, constantKernel);
  add("Range", 11, inferRange, rangeKernel, {0, 1, 2});
  add("Identity", 1, inferIdentity, copyKernel);
  add("Dropout", 7, inferDropout, dropoutKernel);
  add("EyeLike", 9, inferEyeLike, eyeLikeKernel);
}

}  // namespace fluidml::ops
