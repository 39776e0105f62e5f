// Resize planning and sampling geometry (see resize_geometry.h). The coordinate transformations, nearest
// rounding and Keys' cubic convolution weights follow the ONNX reference implementation of Resize; everything
// here is O(rank) per plan and O(1) per output coordinate.
#include "core/ops/resize_geometry.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <optional>
#include <string>

#include "core/ops/op_helpers.h"

namespace fluidml::ops {
namespace {

std::string str(size_t v) { return std::to_string(v); }
std::string str(int64_t v) { return std::to_string(v); }

/// The scales / sizes / roi operands, whatever opset form carried them. roi is nullopt when not known yet
/// (a non-constant operand at inference) or when this form has none.
struct ResizeArgs {
  std::optional<std::vector<double>> scales;
  std::optional<std::vector<int64_t>> sizes;
  std::optional<std::vector<double>> roi;
};

Status parseResizeAttributes(const ir::Node &node, int64_t opset, ResizePlan &p) {
  const bool legacy = node.opType == "Upsample" || opset < 11;
  std::string mode = node.stringAttr("mode", "nearest");
  if (mode == "nearest") p.mode = ResizeMode::Nearest;
  else if (mode == "linear" || (legacy && mode == "bilinear")) p.mode = ResizeMode::Linear;
  else if (mode == "cubic" && !legacy) p.mode = ResizeMode::Cubic;
  else return Status::error("unknown mode '" + mode + "' (expected nearest, linear" + (legacy ? ")" : " or cubic)"));
  if (legacy) {
    p.coord = CoordMode::Asymmetric;
    p.nearest = NearestMode::Simple;
    return Status::ok();
  }
  std::string coord = node.stringAttr("coordinate_transformation_mode", "half_pixel");
  if (coord == "half_pixel") p.coord = CoordMode::HalfPixel;
  else if (coord == "half_pixel_symmetric") p.coord = CoordMode::HalfPixelSymmetric;
  else if (coord == "pytorch_half_pixel") p.coord = CoordMode::PytorchHalfPixel;
  else if (coord == "align_corners") p.coord = CoordMode::AlignCorners;
  else if (coord == "asymmetric") p.coord = CoordMode::Asymmetric;
  else if (coord == "tf_half_pixel_for_nn") p.coord = CoordMode::TfHalfPixelForNn;
  else if (coord == "tf_crop_and_resize") p.coord = CoordMode::TfCropAndResize;
  else return Status::error("unknown coordinate_transformation_mode '" + coord + "'");
  std::string nearest = node.stringAttr("nearest_mode", "round_prefer_floor");
  if (nearest == "round_prefer_floor") p.nearest = NearestMode::RoundPreferFloor;
  else if (nearest == "round_prefer_ceil") p.nearest = NearestMode::RoundPreferCeil;
  else if (nearest == "floor") p.nearest = NearestMode::Floor;
  else if (nearest == "ceil") p.nearest = NearestMode::Ceil;
  else return Status::error("unknown nearest_mode '" + nearest + "'");
  p.cubicA = node.floatAttr("cubic_coeff_a", -0.75f);
  p.excludeOutside = node.intAttr("exclude_outside", 0) != 0;
  p.extrapolation = node.floatAttr("extrapolation_value", 0.0f);
  if (node.intAttr("antialias", 0) != 0 && p.mode != ResizeMode::Nearest)
    return Status::error("antialias=1 is not supported");
  return Status::ok();
}

std::vector<double> floatValues(const ir::Tensor &t) {
  std::vector<double> values(static_cast<size_t>(t.numel()));
  for (size_t i = 0; i < values.size(); ++i) values[i] = t.elementAsDouble(static_cast<int64_t>(i));
  return values;
}

/// Collects the arguments from the attributes and operand tensors of the node's form.
Expected<ResizeArgs> resizeArgs(const ir::Node &node, int64_t opset, const ResizeTensorAt &tensorAt) {
  ResizeArgs args;
  const ResizeOperands ops = resizeOperands(node, opset);
  auto tensor = [&](int i) { return i >= 0 ? tensorAt(static_cast<size_t>(i)) : nullptr; };
  if (node.opType == "Upsample" && opset < 9) {
    auto scales = node.floatsAttr("scales");
    if (!scales) return Status::error("the scales attribute is required");
    args.scales = std::vector<double>(scales->begin(), scales->end());
  }
  if (const ir::Tensor *t = tensor(ops.scales); t && t->numel() > 0) {
    if (!ir::isFloating(t->dtype()))
      return Status::error("scales must be floating point, got " + std::string(ir::dtypeName(t->dtype())));
    args.scales = floatValues(*t);
  }
  if (const ir::Tensor *t = tensor(ops.sizes); t && t->numel() > 0) {
    if (!ir::isInteger(t->dtype()))
      return Status::error("sizes must be integers, got " + std::string(ir::dtypeName(t->dtype())));
    args.sizes = t->toInt64Vector();
  }
  if (ops.roi >= 0) {
    if (const ir::Tensor *t = tensor(ops.roi)) args.roi = floatValues(*t);
    else if (!node.hasInput(static_cast<size_t>(ops.roi))) args.roi = std::vector<double>();
  }
  return args;
}

/// Keys' cubic convolution weights of the 4 neighbours floor(x)-1 .. floor(x)+2 at fraction t = x - floor(x).
void cubicWeights(double t, double A, double w[4]) {
  auto far = [A](double d) { return ((A * d - 5 * A) * d + 8 * A) * d - 4 * A; };  // 1 <= d < 2
  auto near = [A](double d) { return ((A + 2) * d - (A + 3)) * d * d + 1; };      // 0 <= d < 1
  w[0] = far(t + 1);
  w[1] = near(t);
  w[2] = near(1 - t);
  w[3] = far(2 - t);
}

}  // namespace

ResizeOperands resizeOperands(const ir::Node &node, int64_t opset) {
  if (node.opType == "Upsample") return opset >= 9 ? ResizeOperands{-1, 1, -1} : ResizeOperands{};
  if (opset < 11) return ResizeOperands{-1, 1, -1};
  return ResizeOperands{1, 2, 3};
}

Expected<ResizePlan> planResize(const ir::Node &node, int64_t opset, const ir::Shape &in,
                                const ResizeTensorAt &tensorAt) {
  ResizePlan p;
  FLUIDML_ASSIGN_OR_RETURN(ResizeArgs args, resizeArgs(node, opset, tensorAt));
  FLUIDML_RETURN_IF_ERROR(parseResizeAttributes(node, opset, p));
  const int64_t rank = static_cast<int64_t>(in.size());
  std::vector<int64_t> axes(in.size());
  std::iota(axes.begin(), axes.end(), 0);
  if (auto given = node.intsAttr("axes"); given && opset >= 18) {
    FLUIDML_ASSIGN_OR_RETURN(axes, normalizeAxes(*given, rank));
  }
  const size_t n = axes.size();

  p.inShape = in;
  p.outShape = in;
  p.scales.assign(in.size(), 1.0);
  p.roiStart.assign(in.size(), 0.0);
  p.roiEnd.assign(in.size(), 1.0);
  if (args.scales && args.sizes) return Status::error("only one of scales and sizes may be given");
  if (!args.scales && !args.sizes) return Status::error("one of scales and sizes is required");
  if (args.scales) {
    if (args.scales->size() != n)
      return Status::error("scales has " + str(args.scales->size()) + " values, expected " + str(n));
    for (size_t i = 0; i < n; ++i) {
      size_t a = static_cast<size_t>(axes[i]);
      double s = (*args.scales)[i];
      if (!(s > 0)) return Status::error("scale " + std::to_string(s) + " for axis " + str(a) + " is not positive");
      p.scales[a] = s;
      // Float arithmetic, as ONNX shape inference and onnxruntime compute it.
      p.outShape[a] = static_cast<int64_t>(std::floor(static_cast<float>(in[a]) * static_cast<float>(s)));
    }
  } else {
    const std::vector<int64_t> &sizes = *args.sizes;
    if (sizes.size() != n) return Status::error("sizes has " + str(sizes.size()) + " values, expected " + str(n));
    for (size_t i = 0; i < n; ++i) {
      size_t a = static_cast<size_t>(axes[i]);
      if (sizes[i] < 0) return Status::error("size " + str(sizes[i]) + " for axis " + str(a) + " is negative");
      if (in[a] == 0 && sizes[i] != 0) return Status::error("cannot resize the empty axis " + str(a));
    }
    std::string policy = opset >= 18 ? node.stringAttr("keep_aspect_ratio_policy", "stretch") : "stretch";
    if (policy == "stretch") {
      for (size_t i = 0; i < n; ++i) {
        size_t a = static_cast<size_t>(axes[i]);
        p.outShape[a] = sizes[i];
        p.scales[a] = in[a] == 0 ? 1.0 : static_cast<double>(sizes[i]) / static_cast<double>(in[a]);
      }
    } else if (policy == "not_larger" || policy == "not_smaller") {
      // One scale for every listed axis, so that the aspect ratio is kept.
      std::optional<double> common;
      for (size_t i = 0; i < n; ++i) {
        size_t a = static_cast<size_t>(axes[i]);
        if (in[a] == 0) continue;
        double s = static_cast<double>(sizes[i]) / static_cast<double>(in[a]);
        common = !common ? s : (policy == "not_larger" ? std::min(*common, s) : std::max(*common, s));
      }
      for (size_t i = 0; i < n; ++i) {
        size_t a = static_cast<size_t>(axes[i]);
        p.scales[a] = common.value_or(1.0);
        p.outShape[a] = static_cast<int64_t>(std::floor(p.scales[a] * static_cast<double>(in[a]) + 0.5));
      }
    } else {
      return Status::error("unknown keep_aspect_ratio_policy '" + policy + "'");
    }
  }
  p.resizedLengths.resize(in.size());
  for (size_t a = 0; a < in.size(); ++a) p.resizedLengths[a] = p.scales[a] * static_cast<double>(in[a]);

  if (p.coord == CoordMode::TfCropAndResize) {
    p.roiKnown = args.roi.has_value();
    if (args.roi) {
      const std::vector<double> &roi = *args.roi;
      if (roi.size() != 2 * n)
        return Status::error("tf_crop_and_resize needs an roi of " + str(2 * n) + " values, got " + str(roi.size()));
      for (size_t i = 0; i < n; ++i) {
        p.roiStart[static_cast<size_t>(axes[i])] = roi[i];
        p.roiEnd[static_cast<size_t>(axes[i])] = roi[n + i];
      }
    }
  }
  return p;
}

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

int resizeTapCount(ResizeMode mode) {
  switch (mode) {
    case ResizeMode::Nearest: return 1;
    case ResizeMode::Linear: return 2;
    case ResizeMode::Cubic: return 4;
  }
  return 1;
}

ResizeTaps resizeTaps(const ResizePlan &p, size_t a, int64_t x) {
  const int64_t inLength = p.inShape[a];
  ResizeTaps taps;
  const double xo = sourceCoordinate(p, a, x, taps.outside);
  if (taps.outside) return taps;
  taps.count = resizeTapCount(p.mode);
  int64_t *idx = taps.index;
  double *w = taps.weight;
  const int64_t x0 = static_cast<int64_t>(std::floor(xo));
  const double t = xo - std::floor(xo);
  if (p.mode == ResizeMode::Nearest) {
    idx[0] = nearestIndex(p.nearest, xo, p.scales[a]);
    w[0] = 1.0;
  } else if (p.mode == ResizeMode::Linear) {
    idx[0] = x0, idx[1] = x0 + 1;
    w[0] = 1 - t, w[1] = t;
  } else {
    for (int k = 0; k < 4; ++k) idx[k] = x0 - 1 + k;
    cubicWeights(t, p.cubicA, w);
    if (p.excludeOutside) {
      double sum = 0;
      for (int k = 0; k < 4; ++k) {
        if (idx[k] < 0 || idx[k] >= inLength) w[k] = 0;
        sum += w[k];
      }
      if (sum != 0)
        for (int k = 0; k < 4; ++k) w[k] /= sum;
    }
  }
  for (int k = 0; k < taps.count; ++k) idx[k] = std::clamp<int64_t>(idx[k], 0, inLength - 1);
  return taps;
}

}  // namespace fluidml::ops
