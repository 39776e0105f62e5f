#include "core/ops/resize_geometry.h"

#include <cmath>

namespace fluidml::ops {

double sourceCoordinate(const ResizePlan &p, size_t a, int64_t x, bool &outside) {
  const double inLength = static_cast<double>(p.inShape[a]);
  const double outLength = p.resizedLengths[a];
  const double scale = p.scales[a];
  const double xr = static_cast<double>(x);
  outside = false;
  switch (p.coord) {
    case CoordMode::HalfPixel: return (xr + 0.5) / scale - 0.5;
    case CoordMode::HalfPixelSymmetric: {
      double adjustment = static_cast<double>(p.outShape[a]) / outLength;
      double offset = inLength / 2 * (1 - adjustment);
      return offset + (xr + 0.5) / scale - 0.5;
    }
    case CoordMode::PytorchHalfPixel: return outLength == 1 ? -0.5 : (xr + 0.5) / scale - 0.5;
    case CoordMode::AlignCorners: return outLength == 1 ? 0.0 : xr * (inLength - 1) / (outLength - 1);
    case CoordMode::Asymmetric: return xr / scale;
    case CoordMode::TfHalfPixelForNn: return (xr + 0.5) / scale;
    case CoordMode::TfCropAndResize: {
      const double start = p.roiStart[a], end = p.roiEnd[a];
      double xo = outLength == 1 ? (end - start) * (inLength - 1) / 2
                                 : xr * (end - start) * (inLength - 1) / (outLength - 1);
      xo += start * (inLength - 1);
      outside = xo < 0 || xo > inLength - 1;
      return xo;
    }
  }
  return xr;
}

int64_t nearestIndex(NearestMode mode, double x, double scale) {
  const double lower = std::floor(x);
  if (mode == NearestMode::Simple) return static_cast<int64_t>(scale < 1 ? std::ceil(x) : lower);
  if (x == lower) return static_cast<int64_t>(x);
  const double ratio = x - lower;
  bool up = false;
  switch (mode) {
    case NearestMode::RoundPreferFloor: up = ratio > 0.5; break;
    case NearestMode::RoundPreferCeil: up = ratio >= 0.5; break;
    case NearestMode::Floor: up = false; break;
    case NearestMode::Ceil: up = true; break;
    case NearestMode::Simple: break;
  }
  return static_cast<int64_t>(lower) + (up ? 1 : 0);
}

}  // namespace fluidml::ops
