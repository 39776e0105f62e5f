// Loop nests over tensors in any layout, blocked ones included (core/ir/layout.h). A tiled dim cannot be
// described by one stride, so the nest splits it in two, blocks and lanes, and emits one strided nest
// (strided_nest.h) for the whole blocks and one for the last, partial block; lanes past a tiled dim's extent
// in the output (padding) are then written with zeros, as the layout contract requires. Without tiles this
// is exactly one strided nest walked in the output's physical order. Operands tiled on the same dim must use
// the same tile size (checkTiledNest says so before any IR is emitted).
#pragma once

#include <vector>

#include "core/codegen/strided_nest.h"
#include "core/ir/tensor_type.h"

namespace fluidml::codegen::nest {

/// One operand: element (i0, i1, ...) lives at pointer[offset + sum_d f_d(i_d)] with f_d from dims[d]
/// (ir::DimAccess: (i / tile) * outerStride + (i % tile) * innerStride; an untiled dim i * outerStride;
/// a broadcast dim has all-zero access).
struct TiledOperand {
  llvm::Value *pointer = nullptr;
  ir::DType dtype = ir::DType::Float32;
  int64_t offset = 0;
  std::vector<ir::DimAccess> dims;
};

/// A tensor addressed through its own layout.
TiledOperand tiledOperand(llvm::Value *pointer, const ir::TensorType &type);
/// A tensor read broadcast to the logical shape `out` (numpy rules: trailing dims aligned, size-1 dims repeat).
TiledOperand broadcastTiledOperand(llvm::Value *pointer, const ir::TensorType &type, const ir::Shape &out);
/// An operand given by plain per-dim strides (no tiles).
TiledOperand stridedOperand(const NestOperand &operand);

/// Fails when two operands tile one dim with different sizes (the nest needs one block size per dim).
Status checkTiledNest(const ir::Shape &shape, const TiledOperand &out, const std::vector<TiledOperand> &ins);
/// Emits out[...] = fn(ins[...]) over `shape` (the logical shape of `outType`), walking the output in its
/// physical order; zeroes the output's padding lanes. Call checkTiledNest first.
void emitTiledNest(KernelBuilder &b, const ir::TensorType &outType, const TiledOperand &out,
                   const std::vector<TiledOperand> &ins, const LaneFn &fn);

/// Where element i of a general copy's index space lies in one operand: logical index start[d] + step[d] * i[d].
struct AffineIndex {
  std::vector<int64_t> start, step;
  /// start 0, step 1 over `rank` dims.
  static AffineIndex identity(size_t rank) { return {std::vector<int64_t>(rank, 0), std::vector<int64_t>(rank, 1)}; }
};

/// out[outMap(i)] = in[inMap(i)] for every i of `extent`, both operands in any layout, block sizes that disagree
/// included: a scalar nest with div/mod addressing (tiled nests need one block size per dim and whole blocks).
/// For conversions between two blocked layouts of one dim and for Concat, Split and Slice on blocked tensors
/// (pieces that start inside a block). Writes no padding lane: call zeroPaddingLanes once per output.
void emitAffineCopy(KernelBuilder &b, const ir::Shape &extent, const TiledOperand &out, const AffineIndex &outMap,
                    const TiledOperand &in, const AffineIndex &inMap);
/// Writes zeros to the padding lanes of a blocked output (nothing for other layouts).
void zeroPaddingLanes(KernelBuilder &b, const ir::TensorType &outType, const TiledOperand &out);

}  // namespace fluidml::codegen::nest
