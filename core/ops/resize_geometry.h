// Resize geometry shared by the reference kernel (core/ops/indexing.cpp) and the LLVM lowering
// (core/codegen/lower_indexing.cpp): the attributes and operand forms of Upsample-7/9 and Resize-10/11/13/18/19,
// the per-axis plan, the ONNX coordinate transformation and nearest rounding, and the interpolation taps of one
// output coordinate, so that compiled and interpreted Resize read the same neighbours with the same weights.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

#include "core/ir/graph.h"
#include "core/ir/tensor.h"
#include "core/ir/tensor_type.h"
#include "core/support/status.h"

namespace fluidml::ops {

enum class ResizeMode { Nearest, Linear, Cubic };
enum class CoordMode {
  HalfPixel,
  HalfPixelSymmetric,
  PytorchHalfPixel,
  AlignCorners,
  Asymmetric,
  TfHalfPixelForNn,
  TfCropAndResize
};
// Simple: Upsample and Resize-10, which truncate when upsampling and round up when downsampling.
enum class NearestMode { RoundPreferFloor, RoundPreferCeil, Floor, Ceil, Simple };

struct ResizePlan {
  ResizeMode mode = ResizeMode::Nearest;
  CoordMode coord = CoordMode::HalfPixel;
  NearestMode nearest = NearestMode::RoundPreferFloor;
  double cubicA = -0.75;
  bool excludeOutside = false;
  double extrapolation = 0.0;
  ir::Shape inShape, outShape;
  std::vector<double> scales;          // per axis
  std::vector<double> resizedLengths;  // per axis: scale * input length ("output_width" of the reference)
  std::vector<double> roiStart, roiEnd;
  // False when tf_crop_and_resize's roi operand is not a known constant (type inference): roiStart and roiEnd
  // are then the defaults 0 and 1. The roi never changes the output shape.
  bool roiKnown = true;
};

/// Operand positions of each form (-1: none): Upsample-9 and Resize-10 take scales at 1; Resize-11+ takes roi,
/// scales, sizes at 1, 2, 3; Upsample-7 has a scales attribute instead.
struct ResizeOperands {
  int roi = -1, scales = -1, sizes = -1;
};
ResizeOperands resizeOperands(const ir::Node &node, int64_t opset);

/// Operand i of the node as a tensor, or nullptr when it is omitted or its value is not known (a non-constant
/// operand during type inference).
using ResizeTensorAt = std::function<const ir::Tensor *(size_t)>;

/// Plans a Resize or Upsample node over input shape `in`: modes from the attributes, scales / sizes / roi from
/// the operands of this opset's form (empty tensors count as omitted, as ONNX uses them for "not given"),
/// Resize-18's axes and keep_aspect_ratio_policy, and the output shape.
Expected<ResizePlan> planResize(const ir::Node &node, int64_t opset, const ir::Shape &in,
                                const ResizeTensorAt &tensorAt);

/// The input coordinate that output coordinate x of axis a samples (ONNX coordinate_transformation_mode);
/// `outside` is set for tf_crop_and_resize coordinates beyond the input (extrapolation).
double sourceCoordinate(const ResizePlan &p, size_t a, int64_t x, bool &outside);
/// The nearest input index of coordinate x under `mode` (Simple: Upsample / Resize-10 rounding).
int64_t nearestIndex(NearestMode mode, double x, double scale);

/// The most input neighbours one output coordinate reads along one axis (cubic).
inline constexpr int kMaxResizeTaps = 4;
/// Taps per output coordinate: 1 nearest, 2 linear, 4 cubic.
int resizeTapCount(ResizeMode mode);

/// The input neighbours of one output coordinate along one axis and their weights (zero weights included), the
/// indices clamped into the input (edge padding), as the ONNX reference's 1-D interpolation picks them.
struct ResizeTaps {
  bool outside = false;  // tf_crop_and_resize beyond the input: the extrapolation value, no taps
  int count = 0;         // resizeTapCount(mode) unless outside
  int64_t index[kMaxResizeTaps] = {0, 0, 0, 0};
  double weight[kMaxResizeTaps] = {0, 0, 0, 0};
};
ResizeTaps resizeTaps(const ResizePlan &p, size_t a, int64_t x);

}  // namespace fluidml::ops
