// Sliding-window geometry of Conv, ConvTranspose and the pooling ops (see window_geometry.h): attribute
// validation and the output size / pad arithmetic of the ONNX operator specifications (auto_pad SAME_* splits,
// ceil_mode, ConvTranspose's output_shape and output_padding). O(spatial rank) per window.
#include "core/ops/window_geometry.h"

#include <algorithm>
#include <optional>

namespace fluidml::ops {

namespace {

std::string listToString(const std::vector<int64_t> &values) {
  std::string s = "[";
  for (size_t i = 0; i < values.size(); ++i) s += (i ? ", " : "") + std::to_string(values[i]);
  return s + "]";
}

Expected<std::vector<int64_t>> readPerDim(const ir::Node &node, const std::string &name, size_t count, int64_t fallback,
                                          int64_t minValue) {
  std::optional<std::vector<int64_t>> values = node.intsAttr(name);
  if (!values) return std::vector<int64_t>(count, fallback);
  if (values->size() != count)
    return Status::error(name + " " + listToString(*values) + " has " + std::to_string(values->size()) +
                         " values, expected " + std::to_string(count));
  for (int64_t v : *values)
    if (v < minValue)
      return Status::error(name + " " + listToString(*values) + " must be >= " + std::to_string(minValue));
  return *values;
}

int64_t floorDiv(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0)) ? 1 : 0); }

/// The kernel spatial dims: W's, checked against the optional kernel_shape attribute.
Expected<std::vector<int64_t>> convKernelShape(const ir::Node &node, const ir::Shape &weights) {
  std::vector<int64_t> kernel(weights.begin() + 2, weights.end());
  if (auto attr = node.intsAttr("kernel_shape"); attr && *attr != kernel)
    return Status::error("kernel_shape " + listToString(*attr) + " does not match the weights of shape " +
                         ir::shapeToString(weights));
  return kernel;
}

/// Sets dim `d` of the padded 3-D form of a window.
void setDim(Window &w, size_t d, int64_t in, int64_t out, int64_t kernel, int64_t stride, int64_t dilation,
            int64_t padBegin, int64_t padEnd) {
  w.in[d] = in;
  w.out[d] = out;
  w.kernel[d] = kernel;
  w.stride[d] = stride;
  w.dilation[d] = dilation;
  w.padBegin[d] = padBegin;
  w.padEnd[d] = padEnd;
}

}  // namespace

std::vector<int64_t> Window::outShape() const {
  return std::vector<int64_t>(out.end() - static_cast<int64_t>(spatialRank), out.end());
}

Expected<WindowAttrs> readWindowAttrs(const ir::Node &node, size_t spatialRank) {
  WindowAttrs attrs;
  FLUIDML_ASSIGN_OR_RETURN(attrs.strides, readPerDim(node, "strides", spatialRank, 1, 1));
  FLUIDML_ASSIGN_OR_RETURN(attrs.dilations, readPerDim(node, "dilations", spatialRank, 1, 1));
  FLUIDML_ASSIGN_OR_RETURN(attrs.pads, readPerDim(node, "pads", 2 * spatialRank, 0, 0));
  attrs.autoPad = node.stringAttr("auto_pad", "NOTSET");
  if (attrs.autoPad != "NOTSET" && attrs.autoPad != "SAME_UPPER" && attrs.autoPad != "SAME_LOWER" &&
      attrs.autoPad != "VALID")
    return Status::error("auto_pad '" + attrs.autoPad + "' is not one of NOTSET, SAME_UPPER, SAME_LOWER, VALID");
  return attrs;
}

Expected<Window> forwardWindow(const std::vector<int64_t> &spatialIn, const std::vector<int64_t> &kernel,
                               const WindowAttrs &attrs, bool ceilMode) {
  const size_t rank = spatialIn.size();
  if (rank == 0 || rank > kMaxSpatialRank)
    return Status::error(std::to_string(rank) + " spatial dimensions are not supported (1 to 3 are)");
  Window w;
  w.spatialRank = rank;
  const size_t shift = kMaxSpatialRank - rank;
  for (size_t i = 0; i < rank; ++i) {
    const int64_t in = spatialIn[i], k = kernel[i], s = attrs.strides[i], d = attrs.dilations[i];
    if (k < 1) return Status::error("kernel size " + std::to_string(k) + " must be >= 1");
    const int64_t extent = (k - 1) * d + 1;
    int64_t pb = 0, pe = 0, out = 0;
    if (attrs.autoPad == "SAME_UPPER" || attrs.autoPad == "SAME_LOWER") {
      out = (in + s - 1) / s;
      const int64_t total = std::max<int64_t>(0, (out - 1) * s + extent - in);
      // SAME_UPPER puts the odd padding element at the end, SAME_LOWER at the beginning.
      pb = attrs.autoPad == "SAME_UPPER" ? total / 2 : total - total / 2;
      pe = total - pb;
    } else {
      if (attrs.autoPad == "NOTSET") {
        pb = attrs.pads[i];
        pe = attrs.pads[i + rank];
      }
      const int64_t span = in + pb + pe - extent;
      if (span < 0)
        return Status::error("the window of kernel " + std::to_string(k) + " and dilation " + std::to_string(d) +
                             " does not fit spatial dimension " + std::to_string(i) + " of size " + std::to_string(in) +
                             " with pads " + std::to_string(pb) + "+" + std::to_string(pe));
      out = (ceilMode ? (span + s - 1) / s : span / s) + 1;
      // A window rounded up into existence must still start inside the input or its begin padding.
      if (ceilMode && (out - 1) * s >= in + pb) --out;
    }
    setDim(w, shift + i, in, out, k, s, d, pb, pe);
  }
  return w;
}

Status checkSpatialInput(const ir::TensorType &type, const std::string &what) {
  if (type.rank() < 3 || type.rank() > 2 + kMaxSpatialRank)
    return Status::error(what + " must have rank 3 to " + std::to_string(2 + kMaxSpatialRank) +
                         " (N, C and 1 to 3 spatial dims), got shape " + ir::shapeToString(type.shape));
  return Status::ok();
}

Expected<Window> convWindow(const ir::Node &node, const ir::Shape &x, const ir::Shape &w) {
  FLUIDML_ASSIGN_OR_RETURN(std::vector<int64_t> kernel, convKernelShape(node, w));
  FLUIDML_ASSIGN_OR_RETURN(WindowAttrs attrs, readWindowAttrs(node, x.size() - 2));
  return forwardWindow(std::vector<int64_t>(x.begin() + 2, x.end()), kernel, attrs, false);
}

Expected<Window> convTransposeWindow(const ir::Node &node, const ir::Shape &x, const ir::Shape &w) {
  const size_t rank = x.size() - 2;
  if (rank > kMaxSpatialRank)
    return Status::error(std::to_string(rank) + " spatial dimensions are not supported (1 to 3 are)");
  FLUIDML_ASSIGN_OR_RETURN(std::vector<int64_t> kernel, convKernelShape(node, w));
  FLUIDML_ASSIGN_OR_RETURN(WindowAttrs attrs, readWindowAttrs(node, rank));
  FLUIDML_ASSIGN_OR_RETURN(std::vector<int64_t> outputPadding, readPerDim(node, "output_padding", rank, 0, 0));
  std::optional<std::vector<int64_t>> outputShape = node.intsAttr("output_shape");
  if (outputShape) {
    // Some exporters write the full N, C, spatial... shape; the spatial part is what counts.
    if (outputShape->size() == rank + 2) outputShape->erase(outputShape->begin(), outputShape->begin() + 2);
    if (outputShape->size() != rank)
      return Status::error("output_shape " + listToString(*outputShape) + " has " +
                           std::to_string(outputShape->size()) + " values, expected " + std::to_string(rank));
  }
  Window win;
  win.spatialRank = rank;
  const size_t shift = kMaxSpatialRank - rank;
  for (size_t i = 0; i < rank; ++i) {
    const int64_t in = x[2 + i], k = kernel[i], s = attrs.strides[i], d = attrs.dilations[i];
    const int64_t full = s * (in - 1) + outputPadding[i] + (k - 1) * d + 1;
    int64_t pb = 0, pe = 0, out = 0;
    if (outputShape || attrs.autoPad == "SAME_UPPER" || attrs.autoPad == "SAME_LOWER") {
      out = outputShape ? (*outputShape)[i] : in * s;
      const int64_t total = full - out;
      // The ONNX reference splits with floor division (total may be negative), the odd element at the
      // beginning except for SAME_UPPER.
      pb = attrs.autoPad == "SAME_UPPER" ? floorDiv(total, 2) : total - floorDiv(total, 2);
      pe = total - pb;
    } else {
      if (attrs.autoPad == "NOTSET") {
        pb = attrs.pads[i];
        pe = attrs.pads[i + rank];
      }
      out = full - pb - pe;
    }
    if (out < 1)
      return Status::error("output spatial dimension " + std::to_string(i) + " would be " + std::to_string(out) +
                           " (input " + std::to_string(in) + ", kernel " + std::to_string(k) + ", stride " +
                           std::to_string(s) + ", pads " + std::to_string(pb) + "+" + std::to_string(pe) + ")");
    setDim(win, shift + i, in, out, k, s, d, pb, pe);
  }
  return win;
}

Expected<Window> poolWindow(const ir::Node &node, const ir::Shape &x) {
  const size_t rank = x.size() - 2;
  std::optional<std::vector<int64_t>> kernel = node.intsAttr("kernel_shape");
  if (!kernel) return Status::error("attribute 'kernel_shape' is missing");
  if (kernel->size() != rank)
    return Status::error("kernel_shape has " + std::to_string(kernel->size()) + " values for " + std::to_string(rank) +
                         " spatial dims");
  const int64_t ceilMode = node.intAttr("ceil_mode", 0);
  if (ceilMode != 0 && ceilMode != 1) return Status::error("ceil_mode " + std::to_string(ceilMode) + " must be 0 or 1");
  FLUIDML_ASSIGN_OR_RETURN(WindowAttrs attrs, readWindowAttrs(node, rank));
  return forwardWindow(std::vector<int64_t>(x.begin() + 2, x.end()), *kernel, attrs, ceilMode != 0);
}

}  // namespace fluidml::ops
