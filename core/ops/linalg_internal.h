// Pieces shared by the linalg family files (linalg.cpp, conv.cpp, pool.cpp): the blocked GEMM loop that
// MatMul, Gemm, Conv and ConvTranspose run on, and the sliding-window geometry of Conv and the pooling ops.
// Private to core/ops; not part of the op-table contract.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "core/ops/op_registry.h"

namespace fluidml::ops {

/// C[m x n] += A[m x k] * B[k x n]; row-major operands with leading dimensions lda, ldb, ldc (in elements).
/// Instantiated for float, double, int32_t and int64_t.
template <typename T>
void gemmAccumulate(int64_t m, int64_t n, int64_t k, const T *a, int64_t lda, const T *b, int64_t ldb, T *c,
                    int64_t ldc);

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

void registerConvOps(OpRegistry &registry);
void registerPoolOps(OpRegistry &registry);

}  // namespace fluidml::ops
