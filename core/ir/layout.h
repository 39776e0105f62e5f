// Memory layouts of tensors, in MLIR's pack vocabulary: a permutation of the outer dims (`order`) plus inner
// tiles (`tiles`: a logical dim split into blocks of a fixed size whose lanes are stored innermost, in the
// order listed). Kernels index logical coordinates; the layout decides the physical shape, strides and bytes.
// Lanes past a tiled dim's extent (padding) are defined as zero: every kernel that writes a blocked tensor
// zeroes them, so a consumer may read whole tiles.
//
//   row-major 1x3x8x8   : order {} (or {0,1,2,3}), no tiles        physical 1x3x8x8
//   NHWC                : order {0,2,3,1}                          physical 1x8x8x3
//   NCHW16c, C = 24     : order {0,1,2,3}, tiles {1:16}            physical 1x2x8x8x16 (8 padding lanes)
//   OIHW16i16o          : order {0,1,2,3}, tiles {1:16, 0:16}      physical O/16 x I/16 x H x W x 16 x 16
//
// Text form, used everywhere (CLI, pipelines, traces, messages): a permutation is `(0,2,3,1)`; a blocked layout
// of rank 3 to 5 uses letters, NCW / NCHW / NCDHW (or OIW / OIHW / OIDHW for weights): upper-case letters are
// the outer dims in physical order and `16c` a tile of 16 over dim C, e.g. `NCHW16c`, `NHWC8c`, `OIHW16i16o`;
// other blocked layouts print as `(0,1)[1:16]` (dim:size per tile). `row-major` parses as the default.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/support/status.h"

namespace fluidml::ir {

using Shape = std::vector<int64_t>;

/// One inner tile: logical dim `dim` is split into ceil(extent / size) blocks of `size` lanes.
struct LayoutTile {
  int dim = 0;
  int64_t size = 0;
  bool operator==(const LayoutTile &other) const = default;
};

/// How one logical dim is addressed: element i of the dim lives at (i / tile) * outerStride + (i % tile) *
/// innerStride, or at i * outerStride for an untiled dim (tile == 0). Strides are in elements.
struct DimAccess {
  int64_t outerStride = 0;
  int64_t tile = 0;
  int64_t innerStride = 0;
};

struct Layout {
  /// order[p] is the logical dim stored at outer physical position p (outermost first); empty = identity.
  std::vector<int> order;
  /// Inner tiles, stored after every outer dim, outermost first.
  std::vector<LayoutTile> tiles;

  /// Row-major of any rank (the default).
  static Layout rowMajor() { return {}; }
  /// The identity order of `rank` dims (row-major, spelled out).
  static Layout identity(size_t rank);
  static Layout permutation(std::vector<int> order) { return Layout{std::move(order), {}}; }
  /// Row-major outer order with the given tiles, e.g. blocked(4, {{1, 16}}) = NCHW16c.
  static Layout blocked(size_t rank, std::vector<LayoutTile> tiles);

  bool isRowMajor() const;
  /// True when the layout only permutes dims (row-major included): strides describe it completely.
  bool isPermutation() const { return tiles.empty(); }
  bool isBlocked() const { return !tiles.empty(); }
  /// Same layout, with an empty order and the identity of any rank counted equal.
  bool operator==(const Layout &other) const;

  /// The outer order spelled out for `rank` dims.
  std::vector<int> outerOrder(size_t rank) const;
  /// The tile of logical dim `dim`, 0 when untiled.
  int64_t tileOf(int dim) const;
  /// The block size when the layout is the channel-blocked form of an N x C x spatial... tensor of `rank`
  /// dims (NCHW16c, NCHW8c, NCDHW16c: identity outer order, one tile, on dim 1), else 0.
  int64_t channelBlock(size_t rank) const;
  /// Checks the layout against a shape: the order is a permutation of the shape's dims, tiles name distinct
  /// dims of the shape with sizes >= 2, and no tile splits a dim of extent 1 (there is nothing to divide).
  Status validate(const Shape &shape) const;

  /// Physical dims: the outer dims in `order` (tiled ones ceil-divided), then the tile sizes.
  Shape physicalShape(const Shape &shape) const;
  /// Elements stored, padding lanes included; nullopt when the count overflows int64.
  std::optional<int64_t> physicalNumel(const Shape &shape) const;
  /// Per logical dim, how an index along it becomes an element offset.
  std::vector<DimAccess> dimAccess(const Shape &shape) const;
  /// For permutations only: the element stride of each logical dim.
  std::vector<int64_t> logicalStrides(const Shape &shape) const;
  /// Element offset of a logical index.
  int64_t offsetOf(const Shape &shape, const std::vector<int64_t> &index) const;

  /// The text form for a tensor of `rank` dims ("(0,2,3,1)", "NCHW16c"; row-major: "(0,1,2,3)").
  std::string toString(size_t rank) const;
  /// The text form, with `rank` taken from the order, or the highest tiled dim when the order is empty.
  std::string toString() const;
};

/// Parses the text form for a tensor of `rank` dims; errors say what is wrong and show valid examples.
Expected<Layout> parseLayout(std::string_view text, size_t rank);

}  // namespace fluidml::ir
