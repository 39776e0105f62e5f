// Resize geometry shared by the reference kernel (core/ops/indexing.cpp) and the LLVM lowering
// (core/codegen/lower_indexing.cpp): the modes, the per-axis plan, and the ONNX coordinate transformation and
// nearest rounding, so that compiled and interpreted Resize pick the same source coordinates.
#pragma once

#include <cstdint>
#include <vector>

#include "core/ir/tensor_type.h"

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
};

/// The input coordinate that output coordinate x of axis a samples (ONNX coordinate_transformation_mode);
/// `outside` is set for tf_crop_and_resize coordinates beyond the input (extrapolation).
double sourceCoordinate(const ResizePlan &p, size_t a, int64_t x, bool &outside);
/// The nearest input index of coordinate x under `mode` (Simple: Upsample / Resize-10 rounding).
int64_t nearestIndex(NearestMode mode, double x, double scale);

}  // namespace fluidml::ops
