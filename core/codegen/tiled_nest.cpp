// Tiled loop nests (see tiled_nest.h). Cost: one strided nest per combination of whole/partial block over the
// tiled dims (2^tiled dims at most, usually 1 or 2), plus one zero-fill nest per padded output dim.
#include "core/codegen/tiled_nest.h"

#include <algorithm>
#include <cassert>

namespace fluidml::codegen::nest {

namespace {

/// The block size of every logical dim: the tile some operand uses on it, 0 when none tiles it.
std::vector<int64_t> blockSizes(size_t rank, const TiledOperand &out, const std::vector<TiledOperand> &ins) {
  std::vector<int64_t> blocks(rank, 0);
  auto note = [&](const TiledOperand &op) {
    for (size_t d = 0; d < rank; ++d)
      if (op.dims[d].tile != 0) blocks[d] = op.dims[d].tile;
  };
  note(out);
  for (const TiledOperand &in : ins) note(in);
  return blocks;
}

/// Strides of an operand over a block / lane pair of dim d with block size `block`.
std::pair<int64_t, int64_t> splitStrides(const ir::DimAccess &a, int64_t block) {
  if (a.tile != 0) return {a.outerStride, a.innerStride};
  return {block * a.outerStride, a.outerStride};  // untiled (or broadcast: both 0)
}


}  // namespace

void zeroPaddingLanes(KernelBuilder &b, const ir::TensorType &outType, const TiledOperand &out) {
  const size_t rank = outType.rank();
  const std::vector<int> outer = outType.layout.outerOrder(rank);
  for (const ir::LayoutTile &padded : outType.layout.tiles) {
    const int64_t extent = outType.shape[static_cast<size_t>(padded.dim)];
    const int64_t rem = extent % padded.size;
    if (rem == 0) continue;
    // The output's own physical dims, outer ones then lanes; dim `padded` limited to its last block's padding.
    ir::Shape shape;
    NestOperand op{out.pointer, out.dtype, out.offset, {}};
    for (int d : outer) {
      const ir::DimAccess &a = out.dims[static_cast<size_t>(d)];
      const int64_t dimExtent = outType.shape[static_cast<size_t>(d)];
      if (d == padded.dim) {
        shape.push_back(1);
        op.offset += (extent / padded.size) * a.outerStride;
      } else {
        shape.push_back(a.tile == 0 ? dimExtent : (dimExtent + a.tile - 1) / a.tile);
      }
      op.strides.push_back(a.outerStride);
    }
    for (const ir::LayoutTile &tile : outType.layout.tiles) {
      const ir::DimAccess &a = out.dims[static_cast<size_t>(tile.dim)];
      if (tile.dim == padded.dim) {
        shape.push_back(tile.size - rem);
        op.offset += rem * a.innerStride;
      } else {
        shape.push_back(tile.size);
      }
      op.strides.push_back(a.innerStride);
    }
    llvm::Value *zero = llvm::Constant::getNullValue(b.scalarType(out.dtype));
    emitStridedNest(b, shape, op, {}, [zero](Lanes &lanes, const std::vector<llvm::Value *> &) {
      return laneSplat(lanes, zero);
    }, {});
  }
}

TiledOperand tiledOperand(llvm::Value *pointer, const ir::TensorType &type) {
  return TiledOperand{pointer, type.dtype, 0, type.layout.dimAccess(type.shape)};
}

TiledOperand broadcastTiledOperand(llvm::Value *pointer, const ir::TensorType &type, const ir::Shape &out) {
  const std::vector<ir::DimAccess> own = type.layout.dimAccess(type.shape);
  TiledOperand op{pointer, type.dtype, 0, std::vector<ir::DimAccess>(out.size())};
  const size_t shift = out.size() - type.rank();
  for (size_t d = 0; d < type.rank(); ++d)
    if (type.shape[d] != 1) op.dims[d + shift] = own[d];
  return op;
}

TiledOperand stridedOperand(const NestOperand &operand) {
  TiledOperand op{operand.pointer, operand.dtype, operand.offset, {}};
  for (int64_t stride : operand.strides) op.dims.push_back({stride, 0, 0});
  return op;
}

Status checkTiledNest(const ir::Shape &shape, const TiledOperand &out, const std::vector<TiledOperand> &ins) {
  const std::vector<int64_t> blocks = blockSizes(shape.size(), out, ins);
  auto check = [&](const TiledOperand &op, const std::string &which) {
    for (size_t d = 0; d < shape.size(); ++d)
      if (op.dims[d].tile != 0 && op.dims[d].tile != blocks[d])
        return Status::error(which + " tiles dim " + std::to_string(d) + " by " + std::to_string(op.dims[d].tile) +
                             ", another operand by " + std::to_string(blocks[d]) +
                             " (one block size per dim; convert one with fluidml.Relayout)");
    return Status::ok();
  };
  FLUIDML_RETURN_IF_ERROR(check(out, "the output"));
  for (size_t i = 0; i < ins.size(); ++i) FLUIDML_RETURN_IF_ERROR(check(ins[i], "input " + std::to_string(i)));
  return Status::ok();
}

void emitTiledNest(KernelBuilder &b, const ir::TensorType &outType, const TiledOperand &out,
                   const std::vector<TiledOperand> &ins, const LaneFn &fn) {
  const ir::Shape &shape = outType.shape;
  const size_t rank = shape.size();
  const std::vector<int64_t> blocks = blockSizes(rank, out, ins);
  const std::vector<int> outer = outType.layout.outerOrder(rank);
  bool tiled = false;
  for (int64_t block : blocks) tiled = tiled || block != 0;
  if (!tiled) {
    auto strided = [](const TiledOperand &op) {
      NestOperand n{op.pointer, op.dtype, op.offset, {}};
      for (const ir::DimAccess &a : op.dims) n.strides.push_back(a.outerStride);
      return n;
    };
    std::vector<NestOperand> stridedIns;
    for (const TiledOperand &in : ins) stridedIns.push_back(strided(in));
    emitStridedNest(b, shape, strided(out), stridedIns, fn, outer);
    return;
  }

  // Nest dims: an untiled logical dim is one; a tiled one is two, blocks then lanes.
  std::vector<int> first(rank, 0);
  int count = 0;
  for (size_t d = 0; d < rank; ++d) {
    first[d] = count;
    count += blocks[d] != 0 ? 2 : 1;
  }
  // The output's physical order; a dim only an input tiles walks its blocks and lanes together (row-major).
  std::vector<int> order;
  for (int d : outer) {
    order.push_back(first[static_cast<size_t>(d)]);
    if (blocks[static_cast<size_t>(d)] != 0 && out.dims[static_cast<size_t>(d)].tile == 0)
      order.push_back(first[static_cast<size_t>(d)] + 1);
  }
  for (const ir::LayoutTile &tile : outType.layout.tiles) order.push_back(first[static_cast<size_t>(tile.dim)] + 1);
  assert(static_cast<int>(order.size()) == count && "the output's tiles disagree with its operand");

  std::vector<size_t> tiledDims;
  for (size_t d = 0; d < rank; ++d)
    if (blocks[d] != 0) tiledDims.push_back(d);
  // One nest per choice of whole blocks / last partial block on each tiled dim.
  for (unsigned mask = 0; mask < (1u << tiledDims.size()); ++mask) {
    ir::Shape nestShape(static_cast<size_t>(count), 0);
    std::vector<NestOperand> operands;
    operands.push_back(NestOperand{out.pointer, out.dtype, out.offset, std::vector<int64_t>(static_cast<size_t>(count))});
    for (const TiledOperand &in : ins)
      operands.push_back(NestOperand{in.pointer, in.dtype, in.offset, std::vector<int64_t>(static_cast<size_t>(count))});
    const std::vector<const TiledOperand *> sources = [&] {
      std::vector<const TiledOperand *> s{&out};
      for (const TiledOperand &in : ins) s.push_back(&in);
      return s;
    }();
    bool empty = false;
    for (size_t d = 0; d < rank; ++d) {
      const size_t at = static_cast<size_t>(first[d]);
      if (blocks[d] == 0) {
        nestShape[at] = shape[d];
        for (size_t k = 0; k < sources.size(); ++k) operands[k].strides[at] = sources[k]->dims[d].outerStride;
        continue;
      }
      const size_t bit = static_cast<size_t>(std::find(tiledDims.begin(), tiledDims.end(), d) - tiledDims.begin());
      const bool tail = (mask >> bit) & 1u;
      const int64_t whole = shape[d] / blocks[d];
      nestShape[at] = tail ? 1 : whole;
      nestShape[at + 1] = tail ? shape[d] % blocks[d] : blocks[d];
      empty = empty || nestShape[at] == 0 || nestShape[at + 1] == 0;
      for (size_t k = 0; k < sources.size(); ++k) {
        const auto [blockStride, laneStride] = splitStrides(sources[k]->dims[d], blocks[d]);
        operands[k].strides[at] = blockStride;
        operands[k].strides[at + 1] = laneStride;
        if (tail) operands[k].offset += whole * blockStride;
      }
    }
    if (empty) continue;
    std::vector<NestOperand> nestIns(operands.begin() + 1, operands.end());
    emitStridedNest(b, nestShape, operands[0], nestIns, fn, order);
  }
  zeroPaddingLanes(b, outType, out);
}

void emitAffineCopy(KernelBuilder &b, const ir::Shape &extent, const TiledOperand &out, const AffineIndex &outMap,
                    const TiledOperand &in, const AffineIndex &inMap) {
  llvm::IRBuilder<> &ir = b.ir();
  auto offsetOf = [&](const TiledOperand &op, const AffineIndex &map, const std::vector<llvm::Value *> &index) {
    llvm::Value *offset = b.i64(op.offset);
    for (size_t d = 0; d < index.size(); ++d) {
      const ir::DimAccess &a = op.dims[d];
      // The operand's logical index is never negative (a negative step walks down from its start).
      llvm::Value *at = ir.CreateAdd(b.i64(map.start[d]), ir.CreateMul(index[d], b.i64(map.step[d])));
      llvm::Value *part = a.tile == 0
                              ? ir.CreateMul(at, b.i64(a.outerStride))
                              : ir.CreateAdd(ir.CreateMul(ir.CreateUDiv(at, b.i64(a.tile)), b.i64(a.outerStride)),
                                             ir.CreateMul(ir.CreateURem(at, b.i64(a.tile)), b.i64(a.innerStride)));
      offset = ir.CreateAdd(offset, part);
    }
    return offset;
  };
  if (ir::shapeNumel(extent) == 0) return;
  b.loopNest(extent, [&](const std::vector<llvm::Value *> &index) {
    b.store(out.dtype, b.load(in.dtype, in.pointer, offsetOf(in, inMap, index)), out.pointer,
            offsetOf(out, outMap, index));
  });
}

}  // namespace fluidml::codegen::nest
