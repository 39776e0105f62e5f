// Sliding-window geometry of Conv, ConvTranspose and the pooling ops (MaxPool, AveragePool, LpPool): the
// validated window attributes and the resolved per-dimension window (output sizes, pads implied by auto_pad).
// Shared by the reference kernels (core/ops/conv.cpp, core/ops/pool.cpp) and the LLVM lowering
// (core/codegen/lower_conv.cpp, lower_pool.cpp), so that both see the same output sizes and pads.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/ir/graph.h"
#include "core/ir/tensor_type.h"
#include "core/support/status.h"

namespace fluidml::ops {

/// The kernels of Conv, ConvTranspose and the pooling ops handle up to this many spatial dimensions.
inline constexpr size_t kMaxSpatialRank = 3;

/// The per-dimension window attributes shared by Conv, ConvTranspose and the pooling ops, validated.
struct WindowAttrs {
  std::vector<int64_t> strides;    // >= 1
  std::vector<int64_t> dilations;  // >= 1
  std::vector<int64_t> pads;       // begins then ends, >= 0
  std::string autoPad;             // "NOTSET", "SAME_UPPER", "SAME_LOWER" or "VALID"
};

/// Reads strides, dilations, pads and auto_pad of a node with `spatialRank` spatial dims (defaults 1, 1, 0,
/// NOTSET).
Expected<WindowAttrs> readWindowAttrs(const ir::Node &node, size_t spatialRank);

/// A resolved sliding window over up to 3 spatial dims, padded with leading dims of size 1 (kernel 1,
/// stride 1, no pads) so that kernels run one 3-D loop nest for 1-D, 2-D and 3-D ops.
struct Window {
  size_t spatialRank = 0;
  std::array<int64_t, kMaxSpatialRank> in{1, 1, 1};
  std::array<int64_t, kMaxSpatialRank> out{1, 1, 1};
  std::array<int64_t, kMaxSpatialRank> kernel{1, 1, 1};
  std::array<int64_t, kMaxSpatialRank> stride{1, 1, 1};
  std::array<int64_t, kMaxSpatialRank> dilation{1, 1, 1};
  std::array<int64_t, kMaxSpatialRank> padBegin{0, 0, 0};
  std::array<int64_t, kMaxSpatialRank> padEnd{0, 0, 0};

  int64_t inSize() const { return in[0] * in[1] * in[2]; }
  int64_t outSize() const { return out[0] * out[1] * out[2]; }
  int64_t kernelSize() const { return kernel[0] * kernel[1] * kernel[2]; }
  /// The output spatial dims (spatialRank of them).
  std::vector<int64_t> outShape() const;
};

/// Resolves the window of a forward sliding op (Conv, MaxPool, AveragePool, LpPool): output sizes and the
/// pads that auto_pad implies. `ceilMode` rounds the output size up (pooling); a last window that would start
/// in the end padding is dropped, as PyTorch does.
Expected<Window> forwardWindow(const std::vector<int64_t> &spatialIn, const std::vector<int64_t> &kernel,
                               const WindowAttrs &attrs, bool ceilMode);

/// Checks an N, C, spatial... input: rank 3 to 2 + kMaxSpatialRank. `what` names it in messages.
Status checkSpatialInput(const ir::TensorType &type, const std::string &what);

/// The window of a Conv node over input shape x and weight shape w (kernel_shape, if given, must match w).
Expected<Window> convWindow(const ir::Node &node, const ir::Shape &x, const ir::Shape &w);

/// The window of a ConvTranspose node, seen from the input: input position i with kernel offset k lands on
/// output position i * stride - padBegin + k * dilation; `out` is the output's spatial size (output_shape,
/// auto_pad or pads with output_padding). Pads may come out negative when output_shape asks for more than the
/// full result (the extra positions get only the bias).
Expected<Window> convTransposeWindow(const ir::Node &node, const ir::Shape &x, const ir::Shape &w);

/// The window of a MaxPool / AveragePool / LpPool node over input shape x (kernel_shape, ceil_mode).
Expected<Window> poolWindow(const ir::Node &node, const ir::Shape &x);

}  // namespace fluidml::ops
