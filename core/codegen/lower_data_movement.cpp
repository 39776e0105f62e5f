// Lowering of the data-movement ops (core/ops/shape_ops.cpp is the semantics). Every op is resolved at compile
// time into strided copies: shapes, permutations, slice bounds, split sizes and repeats come from attributes and
// constant operands, so the emitted code is a loop nest with constant strides (the strided nest engine of
// lower_elementwise.cpp: merged dims, a vectorized contiguous inner loop, parallel outer loops for big tensors).
// Ops that keep the element order (Reshape, Flatten, Squeeze, Unsqueeze, Identity, Dropout) are a memcpy when
// the memory plan did not already make them free views. Operands may carry permuted layouts: strides come from
// each tensor's layout and nests walk the destination in its physical order (an Identity between two layouts
// is a layout conversion); only Reshape-like ops across different layouts and Constant need row-major.
//
// Transpose: when the input's contiguous dim is not the output's innermost one, the two dims are walked in
// T x T tiles (T = one vector of elements, at most 16: 16 floats and 8 doubles with AVX-512): T contiguous
// vectors are loaded along the input's inner dim, transposed in registers with log2(T) rounds of two-source
// shuffles, and stored as T contiguous output vectors; the ragged edges are scalar loops. Tiles are grouped
// into macro tiles (16T x 4T) that keep both sides' working set in cache and in TLB reach; macro tiles are
// shared out over the thread pool for big tensors. Cost: O(elements) with both sides touched a cache line at
// a time.
// Shape, Size, Constant, ConstantOfShape, Range and EyeLike write compile-time known values.
#include <algorithm>
#include <cstring>
#include <numeric>
#include <optional>
#include <string>
#include <vector>

#include <llvm/IR/Constants.h>
#include <llvm/IR/GlobalVariable.h>

#include "core/codegen/lowering.h"
#include "core/codegen/strided_nest.h"
#include "core/codegen/tiled_nest.h"
#include "core/ops/op_helpers.h"

namespace fluidml::codegen {

// The strided nest engine, defined in lower_elementwise.cpp.

namespace {

using ir::DType;
using ir::Shape;
using nest::NestOperand;

std::string listText(const std::vector<int64_t> &v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
  return s + "]";
}

int64_t ceilDiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  if (a % b != 0 && ((a < 0) == (b < 0))) ++q;
  return q;
}


/// For ops whose element order is the row-major one (byte copies between different shapes, constants).
Status checkRowMajor(KernelContext &c) {
  for (size_t i = 0; i < c.node.inputs.size(); ++i)
    if (c.hasInput(i) && !c.inputType(i).layout.isRowMajor())
      return Status::error("code generation expects row-major operands, input " + std::to_string(i) + " has layout " +
                           c.inputType(i).layout.toString(c.inputType(i).rank()));
  for (size_t i = 0; i < c.node.outputs.size(); ++i)
    if (c.hasOutput(i) && !c.outputType(i).layout.isRowMajor())
      return Status::error("code generation expects row-major operands, output " + std::to_string(i) + " has layout " +
                           c.outputType(i).layout.toString(c.outputType(i).rank()));
  return Status::ok();
}

/// An integer list from attribute `attr` (older opsets) or constant input `input` (newer); nullopt if absent.
Expected<std::optional<std::vector<int64_t>>> constantList(KernelContext &c, const std::string &attr, size_t input) {
  if (c.node.hasInput(input)) {
    const ir::Tensor *t = c.constantInput(input);
    if (t == nullptr)
      return Status::error("input " + std::to_string(input) + " ('" + attr +
                           "') must be a compile-time constant to generate code");
    return std::optional<std::vector<int64_t>>(t->toInt64Vector());
  }
  if (auto list = c.node.intsAttr(attr)) return std::optional<std::vector<int64_t>>(*list);
  return std::optional<std::vector<int64_t>>();
}

/// A tensor addressed through the strides of its layout.
NestOperand layoutOperand(llvm::Value *pointer, const ir::TensorType &t, int64_t offset = 0) {
  return NestOperand{pointer, t.dtype, offset, nest::layoutStrides(t)};
}

/// out = in, element for element, over the iteration shape with the operands' strides, visiting the dims in
/// `order` (the destination's physical order, so that stores are contiguous).
void stridedCopy(KernelContext &c, const Shape &shape, NestOperand out, NestOperand in, const std::vector<int> &order) {
  nest::emitStridedNest(c.b, shape, out, {std::move(in)},
                        [](nest::Lanes &, const std::vector<llvm::Value *> &v) { return v[0]; }, order);
}

void emitMemcpy(KernelContext &c, llvm::Value *dst, llvm::Value *src, size_t bytes) {
  if (bytes != 0) c.b.ir().CreateMemCpy(dst, llvm::MaybeAlign(), src, llvm::MaybeAlign(), bytes);
}

/// A scalar constant of a dtype from element 0 of a tensor of that dtype.
llvm::Constant *scalarConstant(KernelBuilder &b, DType d, const ir::Tensor &t) {
  llvm::Value *v = ir::isFloating(d) ? b.constant(d, t.elementAsDouble(0)) : b.constantInt(d, t.elementAsInt(0));
  return llvm::cast<llvm::Constant>(v);
}

/// Fills output `output` with one scalar constant.
void emitFill(KernelContext &c, size_t output, llvm::Value *scalar) {
  const ir::TensorType &t = c.outputType(output);
  if (t.numel() == 0) return;
  nest::emitStridedNest(
      c.b, {t.numel()}, NestOperand{c.outputs[output], t.dtype, 0, {1}}, {},
      [scalar](nest::Lanes &L, const std::vector<llvm::Value *> &) { return nest::laneSplat(L, scalar); }, {});
}

/// Writes compile-time bytes into output `output` (a private constant global and a memcpy).
void emitConstantBytes(KernelContext &c, size_t output, const void *data, size_t bytes) {
  if (bytes == 0) return;
  llvm::Constant *init = llvm::ConstantDataArray::get(
      c.b.context(), llvm::ArrayRef<uint8_t>(static_cast<const uint8_t *>(data), bytes));
  auto *global = new llvm::GlobalVariable(c.b.module(), init->getType(), true, llvm::GlobalValue::PrivateLinkage,
                                          init, "k.value");
  global->setUnnamedAddr(llvm::GlobalValue::UnnamedAddr::Global);
  global->setAlignment(llvm::Align(64));
  emitMemcpy(c, c.outputs[output], global, bytes);
}

// ---- order-keeping copies ------------------------------------------------------------------------------------

/// Identity and Dropout copy their input as it is stored: a change of layout is fluidml.Relayout's job.
Status checkSameLayout(const ir::Graph &graph, const ir::Node &node) {
  const ir::TensorType &in = graph.value(node.inputs[0]).type;
  const ir::TensorType &out = graph.value(node.outputs[0]).type;
  for (size_t k = 1; k < node.outputs.size(); ++k)  // Dropout's mask is a fill of the logical elements
    if (node.outputs[k] != ir::kNoValue && graph.value(node.outputs[k]).type.layout.isBlocked())
      return Status::error("writes output " + std::to_string(k) + " in row-major or permuted layouts only");
  if (in.layout == out.layout) return Status::ok();
  return Status::error("copies " + in.layout.toString(in.rank()) + " into " + out.layout.toString(out.rank()) +
                       "; a change of layout must be a fluidml.Relayout node");
}

/// Relayout, Concat, Split and Slice handle any block sizes (general copies where the tiled nest cannot).
Status acceptAnyBlocks(const ir::Graph &, const ir::Node &) { return Status::ok(); }

/// Shape and Size read only the input's type; their outputs are row-major.
Status checkRowMajorOutputs(const ir::Graph &graph, const ir::Node &node) {
  for (ir::ValueId out : node.outputs)
    if (out != ir::kNoValue && !graph.value(out).type.layout.isRowMajor())
      return Status::error("writes its output row-major only");
  return Status::ok();
}

/// out = in over the output's logical shape, both operands in any layout (the output's padding lanes zeroed):
/// a tiled nest walking the output in its physical order, or, where the two block one dim by different sizes
/// (NCHW16c -> NCHW8c), a general affine copy.
Status tiledCopy(KernelContext &c, const nest::TiledOperand &in) {
  const ir::TensorType &out = c.outputType(0);
  const nest::TiledOperand output = nest::tiledOperand(c.outputs[0], out);
  if (!nest::checkTiledNest(out.shape, output, {in}).isOk()) {
    nest::emitAffineCopy(c.b, out.shape, output, nest::AffineIndex::identity(out.rank()), in,
                         nest::AffineIndex::identity(out.rank()));
    nest::zeroPaddingLanes(c.b, out, output);
    return Status::ok();
  }
  nest::emitTiledNest(c.b, out, output, {in}, [](nest::Lanes &, const std::vector<llvm::Value *> &v) { return v[0]; });
  return Status::ok();
}

/// Output 0 = input 0 with the same elements in the same logical order: a memcpy when both store them alike
/// (one layout and shape, or both row-major), else an element-wise conversion between the two layouts
/// (fluidml.Relayout).
Status copyElements(KernelContext &c) {
  const ir::TensorType &in = c.inputType(0);
  const ir::TensorType &out = c.outputType(0);
  if ((in.shape == out.shape && in.layout == out.layout) || (in.layout.isRowMajor() && out.layout.isRowMajor())) {
    if (in.bytes() != out.bytes()) return Status::error("input and output sizes differ");
    emitMemcpy(c, c.outputs[0], c.inputs[0], out.bytes());
    return Status::ok();
  }
  if (in.shape != out.shape)
    return Status::error("cannot reshape " + in.toString() + " into " + out.toString() +
                         " across layouts (only row-major reshapes are lowered)");
  if (out.numel() == 0) return Status::ok();
  return tiledCopy(c, nest::tiledOperand(c.inputs[0], in));
}

Status emitRelayout(KernelContext &c) {
  if (!c.hasOutput(0)) return Status::ok();
  return copyElements(c);
}

Status emitByteCopy(KernelContext &c) {
  if (!c.hasOutput(0)) return Status::ok();
  return copyElements(c);
}

Status emitDropout(KernelContext &c) {
  if (c.node.hasInput(2)) {
    const ir::Tensor *training = c.constantInput(2);
    const ir::Tensor *ratio = c.node.hasInput(1) ? c.constantInput(1) : nullptr;
    const bool ratioZero = ratio != nullptr && ratio->elementAsDouble(0) == 0.0;
    // A training_mode known only at run time is taken as inference (where the interpreter would reject a true
    // one with a nonzero ratio, the compiled code passes the input through).
    if (training != nullptr && training->elementAsInt(0) != 0 && !ratioZero)
      return Status::error("Dropout in training mode drops random elements; fluidml runs inference only");
  }
  if (c.hasOutput(0)) FLUIDML_RETURN_IF_ERROR(copyElements(c));
  if (c.hasOutput(1)) emitFill(c, 1, c.b.constant(c.outputType(1).dtype, 1.0));
  return Status::ok();
}

// ---- Transpose -------------------------------------------------------------------------------------------------

/// The T x T transpose of T vectors of T lanes: round h swaps bit h of the row and column indices.
std::vector<llvm::Value *> transposeInRegisters(llvm::IRBuilder<> &ir, std::vector<llvm::Value *> m) {
  const int t = static_cast<int>(m.size());
  for (int h = t / 2; h >= 1; h /= 2) {
    std::vector<int> lowMask(static_cast<size_t>(t)), highMask(static_cast<size_t>(t));
    for (int c = 0; c < t; ++c) {
      lowMask[static_cast<size_t>(c)] = (c & h) ? t + (c ^ h) : c;
      highMask[static_cast<size_t>(c)] = (c & h) ? t + c : (c ^ h);
    }
    std::vector<llvm::Value *> next(m.size());
    for (int i = 0; i < t; ++i) {
      if (i & h) continue;
      const size_t lo = static_cast<size_t>(i), hi = static_cast<size_t>(i | h);
      next[lo] = ir.CreateShuffleVector(m[lo], m[hi], lowMask);
      next[hi] = ir.CreateShuffleVector(m[lo], m[hi], highMask);
    }
    m = std::move(next);
  }
  return m;
}

struct TransposeDim {
  int64_t size;
  int64_t inStride;
  int64_t outStride;
};

/// Tiled transpose over merged dims where the output's inner dim `z` is strided in the input and dim `a` is
/// the input's contiguous one. Work units are macro tiles (16 x 4 register tiles of a x z), small enough that
/// both the input rows and the output rows they touch stay in L1/L2 and TLB reach.
void emitTiledTranspose(KernelContext &c, const std::vector<TransposeDim> &dims, size_t a, DType dtype) {
  KernelBuilder &b = c.b;
  llvm::IRBuilder<> &ir = b.ir();
  const size_t z = dims.size() - 1;
  const int64_t t = std::min<int64_t>(16, b.target().vectorBytes / static_cast<int64_t>(ir::dtypeSize(dtype)));
  const int64_t macroA = 16 * t, macroZ = 4 * t;
  const int64_t sizeA = dims[a].size, sizeZ = dims[z].size;
  const int64_t strideZ = dims[z].inStride, strideA = dims[a].outStride;
  const int64_t fullA = sizeA / t * t, fullZ = sizeZ / t * t;
  const int64_t macrosA = (sizeA + macroA - 1) / macroA, macrosZ = (sizeZ + macroZ - 1) / macroZ;
  std::vector<size_t> others;
  for (size_t d = 0; d < dims.size(); ++d)
    if (d != a && d != z) others.push_back(d);
  int64_t units = macrosA * macrosZ;
  for (size_t d : others) units *= dims[d].size;
  llvm::Type *vector = llvm::FixedVectorType::get(b.scalarType(dtype), static_cast<unsigned>(t));
  const llvm::Align align(ir::dtypeSize(dtype));
  auto minimum = [&](llvm::Value *x, int64_t limit) {
    if (auto *k = llvm::dyn_cast<llvm::ConstantInt>(x)) return b.i64(std::min(k->getSExtValue(), limit));
    return ir.CreateSelect(ir.CreateICmpSLT(x, b.i64(limit)), x, b.i64(limit));
  };

  auto body = [&](llvm::Value *unit, const std::vector<llvm::Value *> &pointers) {
    llvm::Value *in = pointers[0];
    llvm::Value *out = pointers[1];
    // unit = (other dims..., z macro, a macro), the a macro innermost.
    llvm::Value *rest = unit;
    auto next = [&](int64_t size) {
      llvm::Value *index = ir.CreateURem(rest, b.i64(size));
      rest = ir.CreateUDiv(rest, b.i64(size));
      return index;
    };
    llvm::Value *macroIndexA = macrosA == 1 ? b.i64(0) : next(macrosA);
    llvm::Value *macroIndexZ = macrosZ == 1 ? b.i64(0) : next(macrosZ);
    llvm::Value *inBase = b.i64(0), *outBase = b.i64(0);
    for (size_t k = others.size(); k-- > 0;) {
      const TransposeDim &d = dims[others[k]];
      llvm::Value *index = k == 0 ? rest : next(d.size);
      inBase = ir.CreateAdd(inBase, ir.CreateMul(index, b.i64(d.inStride)));
      outBase = ir.CreateAdd(outBase, ir.CreateMul(index, b.i64(d.outStride)));
    }
    llvm::Value *aBegin = ir.CreateMul(macroIndexA, b.i64(macroA));
    llvm::Value *aEnd = minimum(ir.CreateAdd(aBegin, b.i64(macroA)), sizeA);
    llvm::Value *aFullEnd = minimum(aEnd, fullA);
    llvm::Value *zBegin = ir.CreateMul(macroIndexZ, b.i64(macroZ));
    llvm::Value *zEnd = minimum(ir.CreateAdd(zBegin, b.i64(macroZ)), sizeZ);
    llvm::Value *zFullEnd = minimum(zEnd, fullZ);

    // Scalar copy of the rectangle [a0, a1) x [z0, z1).
    auto scalarRect = [&](llvm::Value *a0, llvm::Value *a1, llvm::Value *z0, llvm::Value *z1) {
      b.loop(a0, a1, 1, [&](llvm::Value *ia) {
        llvm::Value *inRow = ir.CreateAdd(inBase, ia);
        llvm::Value *outRow = ir.CreateAdd(outBase, ir.CreateMul(ia, b.i64(strideA)));
        b.loop(z0, z1, 1, [&](llvm::Value *iz) {
          llvm::Value *v = b.load(dtype, in, ir.CreateAdd(inRow, ir.CreateMul(iz, b.i64(strideZ))));
          b.store(dtype, v, out, ir.CreateAdd(outRow, iz));
        }, "tz");
      }, "ta");
    };
    b.loop(aBegin, aFullEnd, t, [&](llvm::Value *a0) {
      b.loop(zBegin, zFullEnd, t, [&](llvm::Value *z0) {
        std::vector<llvm::Value *> rows;
        llvm::Value *inTile = ir.CreateAdd(ir.CreateAdd(inBase, a0), ir.CreateMul(z0, b.i64(strideZ)));
        for (int64_t j = 0; j < t; ++j)
          rows.push_back(
              ir.CreateAlignedLoad(vector, b.elementPtr(dtype, in, ir.CreateAdd(inTile, b.i64(j * strideZ))), align));
        std::vector<llvm::Value *> cols = transposeInRegisters(ir, rows);
        llvm::Value *outTile = ir.CreateAdd(ir.CreateAdd(outBase, ir.CreateMul(a0, b.i64(strideA))), z0);
        for (int64_t i = 0; i < t; ++i)
          ir.CreateAlignedStore(cols[static_cast<size_t>(i)],
                                b.elementPtr(dtype, out, ir.CreateAdd(outTile, b.i64(i * strideA))), align);
      }, "tile");
      if (fullZ != sizeZ) scalarRect(a0, ir.CreateAdd(a0, b.i64(t)), zFullEnd, zEnd);
    }, "ablock");
    if (fullA != sizeA) scalarRect(aFullEnd, aEnd, zBegin, zEnd);
  };

  std::vector<llvm::Value *> pointers{c.inputs[0], c.outputs[0]};
  int64_t numel = 1;
  for (const TransposeDim &d : dims) numel *= d.size;
  if (numel >= b.target().parallelNestElements && units > 1)
    b.parallelLoop(units, pointers, body, "transpose");
  else if (units == 1)
    body(b.i64(0), pointers);
  else
    b.loop(units, [&](llvm::Value *u) { body(u, pointers); }, "u");
}

Status emitTranspose(KernelContext &c) {
  if (!c.hasOutput(0)) return Status::ok();
  const ir::TensorType &in = c.inputType(0);
  const ir::TensorType &out = c.outputType(0);
  if (out.numel() == 0) return Status::ok();
  std::vector<int64_t> perm;
  if (auto p = c.node.intsAttr("perm")) {
    perm = *p;
  } else {
    for (size_t i = in.rank(); i-- > 0;) perm.push_back(static_cast<int64_t>(i));
  }
  if (perm.size() != in.rank()) return Status::error("perm " + listText(perm) + " does not match the input rank");
  if (in.layout.isBlocked() || out.layout.isBlocked()) {
    // Blocked: the input's dim access moved to the output's dims, then one tiled copy.
    const nest::TiledOperand own = nest::tiledOperand(c.inputs[0], in);
    nest::TiledOperand moved = own;
    for (size_t i = 0; i < perm.size(); ++i) moved.dims[i] = own.dims[static_cast<size_t>(perm[i])];
    return tiledCopy(c, moved);
  }
  // Input strides over the output's logical dims, both sides in their layouts.
  const std::vector<int64_t> inLayout = nest::layoutStrides(in);
  std::vector<int64_t> inStrides(perm.size());
  for (size_t i = 0; i < perm.size(); ++i) inStrides[i] = inLayout[static_cast<size_t>(perm[i])];
  const std::vector<int> order = nest::physicalOrder(out);

  // Merged dims in the output's physical order (size-1 dims dropped, runs contiguous in the input joined).
  std::vector<TransposeDim> dims;
  for (int logical : order) {
    const size_t d = static_cast<size_t>(logical);
    if (out.shape[d] == 1) continue;
    if (!dims.empty() && dims.back().inStride == inStrides[d] * out.shape[d]) {
      dims.back().size *= out.shape[d];
      dims.back().inStride = inStrides[d];
      continue;
    }
    dims.push_back({out.shape[d], inStrides[d], 0});
  }
  int64_t stride = 1;
  for (size_t d = dims.size(); d-- > 0;) {
    dims[d].outStride = stride;
    stride *= dims[d].size;
  }
  size_t contiguous = dims.size();
  for (size_t d = 0; d < dims.size(); ++d)
    if (dims[d].inStride == 1) contiguous = d;
  // Rows that stay contiguous (or nothing to reorder): a plain strided copy.
  if (dims.empty() || dims.back().inStride == 1 || contiguous == dims.size()) {
    stridedCopy(c, out.shape, layoutOperand(c.outputs[0], out), NestOperand{c.inputs[0], in.dtype, 0, inStrides},
                order);
    return Status::ok();
  }
  emitTiledTranspose(c, dims, contiguous, in.dtype);
  return Status::ok();
}

/// A blocked Transpose moves the input's tiles to the output's dims: both must block each dim alike.
Status checkTransposeBlocks(const ir::Graph &graph, const ir::Node &node) {
  const ir::TensorType &in = graph.value(node.inputs[0]).type;
  const ir::TensorType &out = graph.value(node.outputs[0]).type;
  std::vector<int64_t> perm;
  if (auto p = node.intsAttr("perm")) perm = *p;
  else
    for (size_t i = in.rank(); i-- > 0;) perm.push_back(static_cast<int64_t>(i));
  if (perm.size() != in.rank()) return Status::ok();  // the emitter reports it
  for (size_t i = 0; i < perm.size(); ++i) {
    const int64_t a = in.layout.tileOf(static_cast<int>(perm[i]));
    const int64_t b = out.layout.tileOf(static_cast<int>(i));
    if (a != 0 && b != 0 && a != b)
      return Status::error("input and output tile output dim " + std::to_string(i) + " by " + std::to_string(a) +
                           " and " + std::to_string(b) + " (one block size per dim)");
  }
  return Status::ok();
}

// ---- Concat / Split / Slice / Expand / Tile -------------------------------------------------------------------

/// True when an operand of the node (input or output) has a blocked layout.
bool anyBlocked(const KernelContext &c) {
  for (size_t i = 0; i < c.node.inputs.size(); ++i)
    if (c.hasInput(i) && c.inputType(i).layout.isBlocked()) return true;
  for (size_t i = 0; i < c.node.outputs.size(); ++i)
    if (c.hasOutput(i) && c.outputType(i).layout.isBlocked()) return true;
  return false;
}

Status emitConcat(KernelContext &c) {
  if (!c.hasOutput(0)) return Status::ok();
  const ir::TensorType &out = c.outputType(0);
  FLUIDML_ASSIGN_OR_RETURN(int64_t axis,
                           ops::normalizeAxis(c.node.intAttr("axis", 0), static_cast<int64_t>(out.rank())));
  if (anyBlocked(c)) {
    // Pieces may start inside a block: one general copy per input, then the output's padding lanes.
    const nest::TiledOperand target = nest::tiledOperand(c.outputs[0], out);
    int64_t position = 0;
    for (size_t i = 0; i < c.node.inputs.size(); ++i) {
      if (!c.hasInput(i)) return Status::error("input " + std::to_string(i) + " is missing");
      const ir::TensorType &t = c.inputType(i);
      nest::AffineIndex at = nest::AffineIndex::identity(out.rank());
      at.start[static_cast<size_t>(axis)] = position;
      nest::emitAffineCopy(c.b, t.shape, target, at, nest::tiledOperand(c.inputs[i], t),
                           nest::AffineIndex::identity(t.rank()));
      position += t.shape[static_cast<size_t>(axis)];
    }
    nest::zeroPaddingLanes(c.b, out, target);
    return Status::ok();
  }
  const std::vector<int64_t> outStrides = nest::layoutStrides(out);
  int64_t position = 0;
  for (size_t i = 0; i < c.node.inputs.size(); ++i) {
    if (!c.hasInput(i)) return Status::error("input " + std::to_string(i) + " is missing");
    const ir::TensorType &t = c.inputType(i);
    if (t.numel() != 0)
      stridedCopy(c, t.shape,
                  NestOperand{c.outputs[0], out.dtype, position * outStrides[static_cast<size_t>(axis)], outStrides},
                  layoutOperand(c.inputs[i], t), nest::physicalOrder(out));
    position += t.shape[static_cast<size_t>(axis)];
  }
  return Status::ok();
}

Status emitSplit(KernelContext &c) {
  const ir::TensorType &in = c.inputType(0);
  FLUIDML_ASSIGN_OR_RETURN(int64_t axis,
                           ops::normalizeAxis(c.node.intAttr("axis", 0), static_cast<int64_t>(in.rank())));
  const int64_t dim = in.shape[static_cast<size_t>(axis)];
  const int64_t outputs = static_cast<int64_t>(c.node.outputs.size());
  FLUIDML_ASSIGN_OR_RETURN(auto splitArg, constantList(c, "split", 1));
  // Sizes from the arguments, not the output types: an omitted output still takes its share.
  std::vector<int64_t> sizes;
  if (splitArg) {
    sizes = *splitArg;
  } else {
    const int64_t parts = c.node.attribute("num_outputs") != nullptr ? c.node.intAttr("num_outputs", outputs) : outputs;
    if (parts <= 0) return Status::error("cannot split into " + std::to_string(parts) + " parts");
    if (dim % parts == 0) {
      sizes.assign(static_cast<size_t>(parts), dim / parts);
    } else {
      const int64_t chunk = ceilDiv(dim, parts);
      sizes.assign(static_cast<size_t>(parts), chunk);
      sizes.back() = dim - chunk * (parts - 1);
    }
  }
  if (static_cast<int64_t>(sizes.size()) != outputs || std::accumulate(sizes.begin(), sizes.end(), int64_t{0}) != dim)
    return Status::error("split sizes " + listText(sizes) + " do not partition axis " + std::to_string(axis) +
                         " of size " + std::to_string(dim) + " into " + std::to_string(outputs) + " outputs");
  const bool blocked = anyBlocked(c);
  const std::vector<int64_t> inStrides = in.layout.isBlocked() ? std::vector<int64_t>() : nest::layoutStrides(in);
  int64_t position = 0;
  for (size_t i = 0; i < sizes.size(); ++i) {
    if (c.hasOutput(i)) {
      const ir::TensorType &t = c.outputType(i);
      if (t.shape[static_cast<size_t>(axis)] != sizes[i])
        return Status::error("output " + std::to_string(i) + " has shape " + ir::shapeToString(t.shape) +
                             ", the split gives it " + std::to_string(sizes[i]) + " along axis " +
                             std::to_string(axis));
      if (blocked) {  // pieces may start inside a block: a general copy, then the piece's padding lanes
        const nest::TiledOperand piece = nest::tiledOperand(c.outputs[i], t);
        nest::AffineIndex from = nest::AffineIndex::identity(in.rank());
        from.start[static_cast<size_t>(axis)] = position;
        nest::emitAffineCopy(c.b, t.shape, piece, nest::AffineIndex::identity(t.rank()),
                             nest::tiledOperand(c.inputs[0], in), from);
        nest::zeroPaddingLanes(c.b, t, piece);
      } else if (t.numel() != 0)
        stridedCopy(c, t.shape, layoutOperand(c.outputs[i], t),
                    NestOperand{c.inputs[0], in.dtype, position * inStrides[static_cast<size_t>(axis)], inStrides},
                    nest::physicalOrder(t));
    }
    position += sizes[i];
  }
  return Status::ok();
}

Status emitSlice(KernelContext &c) {
  if (!c.hasOutput(0)) return Status::ok();
  const ir::TensorType &in = c.inputType(0);
  const ir::TensorType &out = c.outputType(0);
  FLUIDML_ASSIGN_OR_RETURN(auto starts, constantList(c, "starts", 1));
  FLUIDML_ASSIGN_OR_RETURN(auto ends, constantList(c, "ends", 2));
  FLUIDML_ASSIGN_OR_RETURN(auto axesArg, constantList(c, "axes", 3));
  FLUIDML_ASSIGN_OR_RETURN(auto stepsArg, constantList(c, "steps", 4));
  if (!starts || !ends || starts->size() != ends->size()) return Status::error("'starts' and 'ends' are required");
  const int64_t rank = static_cast<int64_t>(in.rank());
  std::vector<int64_t> axes;
  if (axesArg) {
    FLUIDML_ASSIGN_OR_RETURN(axes, ops::normalizeAxes(*axesArg, rank));
  } else {
    axes.resize(starts->size());
    std::iota(axes.begin(), axes.end(), 0);
  }
  const std::vector<int64_t> steps = stepsArg ? *stepsArg : std::vector<int64_t>(starts->size(), 1);
  if (axes.size() != starts->size() || steps.size() != starts->size())
    return Status::error("starts, ends, axes and steps differ in length");
  // Negative starts/ends count from the end; then clamped to [0, dim] (step > 0) or [0, dim-1]/[-1, dim-1].
  std::vector<int64_t> first(in.rank(), 0), step(in.rank(), 1);
  Shape shape = in.shape;
  for (size_t k = 0; k < axes.size(); ++k) {
    const size_t d = static_cast<size_t>(axes[k]);
    const int64_t size = in.shape[d];
    if (steps[k] == 0) return Status::error("steps " + listText(steps) + " has a 0 step");
    int64_t start = (*starts)[k], end = (*ends)[k];
    if (start < 0) start += size;
    if (end < 0) end += size;
    int64_t count = 0;
    if (size == 0) {
      start = 0;
    } else if (steps[k] > 0) {
      start = std::clamp<int64_t>(start, 0, size);
      end = std::clamp<int64_t>(end, 0, size);
      count = std::max<int64_t>(0, ceilDiv(end - start, steps[k]));
    } else {
      start = std::clamp<int64_t>(start, 0, size - 1);
      end = std::clamp<int64_t>(end, -1, size - 1);
      count = std::max<int64_t>(0, ceilDiv(end - start, steps[k]));
    }
    first[d] = start;
    step[d] = steps[k];
    shape[d] = count;
  }
  if (shape != out.shape)
    return Status::error("slice arguments give shape " + ir::shapeToString(shape) + ", but the output was typed " +
                         ir::shapeToString(out.shape));
  if (out.numel() == 0) return Status::ok();
  if (anyBlocked(c)) {  // the slice may start inside a block: a general copy, then the output's padding lanes
    const nest::TiledOperand target = nest::tiledOperand(c.outputs[0], out);
    nest::emitAffineCopy(c.b, out.shape, target, nest::AffineIndex::identity(out.rank()),
                         nest::tiledOperand(c.inputs[0], in), nest::AffineIndex{first, step});
    nest::zeroPaddingLanes(c.b, out, target);
    return Status::ok();
  }
  const std::vector<int64_t> inLayout = nest::layoutStrides(in);
  int64_t base = 0;
  std::vector<int64_t> strides(in.rank());
  for (size_t d = 0; d < in.rank(); ++d) {
    base += first[d] * inLayout[d];
    strides[d] = step[d] * inLayout[d];
  }
  stridedCopy(c, out.shape, layoutOperand(c.outputs[0], out), NestOperand{c.inputs[0], in.dtype, base, strides},
              nest::physicalOrder(out));
  return Status::ok();
}

Status emitExpand(KernelContext &c) {
  if (!c.hasOutput(0)) return Status::ok();
  const ir::TensorType &in = c.inputType(0);
  const ir::TensorType &out = c.outputType(0);
  if (out.numel() == 0) return Status::ok();
  return tiledCopy(c, nest::broadcastTiledOperand(c.inputs[0], in, out.shape));
}

Status emitTile(KernelContext &c) {
  if (!c.hasOutput(0)) return Status::ok();
  const ir::TensorType &in = c.inputType(0);
  const ir::TensorType &out = c.outputType(0);
  if (out.numel() == 0) return Status::ok();
  // Output dim d of size repeats * n is the pair (repeat, index): input strides (0, stride), output (n, 1) x stride.
  const std::vector<int64_t> inStrides = nest::layoutStrides(in);
  const std::vector<int64_t> outStrides = nest::layoutStrides(out);
  Shape pairs;
  std::vector<int64_t> inPair, outPair;
  for (size_t d = 0; d < in.rank(); ++d) {
    pairs.push_back(out.shape[d] / in.shape[d]);
    pairs.push_back(in.shape[d]);
    inPair.insert(inPair.end(), {0, inStrides[d]});
    outPair.insert(outPair.end(), {in.shape[d] * outStrides[d], outStrides[d]});
  }
  // Pairs in the output's physical order, each pair (repeat, index) outer to inner.
  std::vector<int> order;
  for (int d : nest::physicalOrder(out)) order.insert(order.end(), {2 * d, 2 * d + 1});
  stridedCopy(c, pairs, NestOperand{c.outputs[0], out.dtype, 0, outPair}, NestOperand{c.inputs[0], in.dtype, 0, inPair},
              order);
  return Status::ok();
}

// ---- ops that create values ------------------------------------------------------------------------------------

Status emitShape(KernelContext &c) {
  if (!c.hasOutput(0)) return Status::ok();
  const Shape &in = c.inputType(0).shape;
  const int64_t rank = static_cast<int64_t>(in.size());
  auto clampDim = [rank](int64_t v) { return std::clamp<int64_t>(v < 0 ? v + rank : v, 0, rank); };
  const int64_t start = clampDim(c.node.intAttr("start", 0));
  const int64_t end = std::max(start, clampDim(c.node.intAttr("end", rank)));
  std::vector<int64_t> dims(in.begin() + start, in.begin() + end);
  if (static_cast<int64_t>(dims.size()) != c.outputType(0).numel())
    return Status::error("Shape output has " + std::to_string(c.outputType(0).numel()) + " elements, expected " +
                         std::to_string(dims.size()));
  emitConstantBytes(c, 0, dims.data(), dims.size() * sizeof(int64_t));
  return Status::ok();
}

Status emitSize(KernelContext &c) {
  if (!c.hasOutput(0)) return Status::ok();
  c.b.store(DType::Int64, c.b.i64(c.inputType(0).numel()), c.outputs[0], c.b.i64(0));
  return Status::ok();
}

Status emitConstant(KernelContext &c) {
  if (!c.hasOutput(0)) return Status::ok();
  FLUIDML_RETURN_IF_ERROR(checkRowMajor(c));
  const ir::TensorType &out = c.outputType(0);
  static const char *const kValueAttrs[] = {"value", "value_float", "value_floats", "value_int", "value_ints"};
  for (const char *name : kValueAttrs) {
    const ir::Attribute *attr = c.node.attribute(name);
    if (attr == nullptr) continue;
    if (const auto *t = std::get_if<ir::Tensor>(attr)) {
      if (t->type() != ir::TensorType(out.dtype, out.shape)) break;
      emitConstantBytes(c, 0, t->rawData(), t->bytes());
      return Status::ok();
    }
    if (const auto *v = std::get_if<float>(attr)) {
      emitConstantBytes(c, 0, v, sizeof(float));
      return Status::ok();
    }
    if (const auto *v = std::get_if<int64_t>(attr)) {
      emitConstantBytes(c, 0, v, sizeof(int64_t));
      return Status::ok();
    }
    if (const auto *v = std::get_if<std::vector<float>>(attr)) {
      emitConstantBytes(c, 0, v->data(), v->size() * sizeof(float));
      return Status::ok();
    }
    if (const auto *v = std::get_if<std::vector<int64_t>>(attr)) {
      emitConstantBytes(c, 0, v->data(), v->size() * sizeof(int64_t));
      return Status::ok();
    }
    break;
  }
  return Status::error("the Constant's value attribute does not match its output type " + out.toString());
}

Status emitConstantOfShape(KernelContext &c) {
  if (!c.hasOutput(0)) return Status::ok();
  const DType d = c.outputType(0).dtype;
  const ir::Attribute *attr = c.node.attribute("value");
  llvm::Value *fill = c.b.constant(d, 0.0);
  if (attr != nullptr) {
    const auto *t = std::get_if<ir::Tensor>(attr);
    if (t == nullptr || t->numel() != 1 || t->dtype() != d)
      return Status::error("the 'value' attribute must be a one-element tensor of the output dtype");
    fill = scalarConstant(c.b, d, *t);
  }
  emitFill(c, 0, fill);
  return Status::ok();
}

Status emitRange(KernelContext &c) {
  if (!c.hasOutput(0)) return Status::ok();
  const ir::TensorType &out = c.outputType(0);
  const ir::Tensor *start = c.constantInput(0);
  const ir::Tensor *delta = c.constantInput(2);
  KernelBuilder &b = c.b;
  llvm::IRBuilder<> &ir = b.ir();
  const DType d = out.dtype;
  llvm::Value *pointer = c.outputs[0];
  if (start == nullptr || delta == nullptr) return Status::error("start and delta must be compile-time constants");
  if (ir::isFloating(d)) {
    // static_cast<T>(start + double(i) * delta), in double as the interpreter.
    const double s = start->elementAsDouble(0), step = delta->elementAsDouble(0);
    b.loop(out.numel(), [&](llvm::Value *i) {
      llvm::Value *v = ir.CreateFAdd(
          llvm::ConstantFP::get(ir.getDoubleTy(), s),
          ir.CreateFMul(ir.CreateSIToFP(i, ir.getDoubleTy()), llvm::ConstantFP::get(ir.getDoubleTy(), step)));
      b.store(d, ir.CreateFPCast(v, b.scalarType(d)), pointer, i);
    });
  } else {
    const int64_t s = start->elementAsInt(0), step = delta->elementAsInt(0);
    b.loop(out.numel(), [&](llvm::Value *i) {
      llvm::Value *v = ir.CreateAdd(b.i64(s), ir.CreateMul(i, b.i64(step)));
      b.store(d, ir.CreateTrunc(v, b.scalarType(d)), pointer, i);
    });
  }
  return Status::ok();
}

Status emitEyeLike(KernelContext &c) {
  if (!c.hasOutput(0)) return Status::ok();
  const ir::TensorType &out = c.outputType(0);
  if (out.rank() != 2) return Status::error("EyeLike needs a 2-D output");
  const DType d = out.dtype;
  emitFill(c, 0, c.b.constant(d, 0.0));
  const int64_t rows = out.shape[0], cols = out.shape[1], k = c.node.intAttr("k", 0);
  // Row i holds its 1 at column i + k when that column exists.
  const int64_t first = std::max<int64_t>(0, -k), last = std::min<int64_t>(rows, cols - k);
  if (first >= last) return Status::ok();
  KernelBuilder &b = c.b;
  llvm::Value *pointer = c.outputs[0];
  const std::vector<int64_t> strides = nest::layoutStrides(out);
  b.loop(b.i64(first), b.i64(last), 1, [&](llvm::Value *i) {
    // Element (i, i + k).
    llvm::Value *index = b.ir().CreateAdd(b.ir().CreateMul(i, b.i64(strides[0] + strides[1])), b.i64(k * strides[1]));
    b.store(d, b.constant(d, 1.0), pointer, index);
  });
  return Status::ok();
}

}  // namespace

void registerDataMovementLowerings(LoweringTable &table) {
  for (const char *op : {"Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity"}) table.add(op, &emitByteCopy);
  table.add("Dropout", &emitDropout);
  table.add("Transpose", &emitTranspose);
  table.add("Concat", &emitConcat);
  table.add("Split", &emitSplit);
  table.add("Slice", &emitSlice);
  table.add("Expand", &emitExpand);
  table.add("Tile", &emitTile);
  table.add("Shape", &emitShape);
  table.add("Size", &emitSize);
  table.add("Constant", &emitConstant);
  table.add("ConstantOfShape", &emitConstantOfShape);
  table.add("Range", &emitRange);
  table.add("EyeLike", &emitEyeLike);

  // Layouts: strided emitters take permutations; the tiled-copy ones take blocked layouts too; a byte copy
  // that changes the shape (Reshape and friends) keeps the row-major element order and stays row-major.
  for (const char *op : {"Tile", "EyeLike"}) table.declareLayouts("", op, LayoutSupport::Permuted);
  for (const char *op : {"Concat", "Split", "Slice"})  // blocked ones through general copies (any block sizes)
    table.declareLayouts("", op, LayoutSupport::Blocked, &acceptAnyBlocks);
  table.declareLayouts("", "Transpose", LayoutSupport::Blocked, &checkTransposeBlocks);
  table.declareLayouts("", "Expand", LayoutSupport::Blocked);
  for (const char *op : {"Identity", "Dropout"})
    table.declareLayouts("", op, LayoutSupport::Blocked, &checkSameLayout);
  for (const char *op : {"Shape", "Size"}) table.declareLayouts("", op, LayoutSupport::Blocked, &checkRowMajorOutputs);
}

void registerRelayoutLowering(LoweringTable &table) {
  table.add("Relayout", &emitRelayout, "fluidml");
  table.declareLayouts("fluidml", "Relayout", LayoutSupport::Blocked, &acceptAnyBlocks);
}

}  // namespace fluidml::codegen
