// Convolutions: Conv and ConvTranspose over 1 to 3 spatial dims, with groups, pads, strides, dilations and
// auto_pad (window geometry from window_geometry.cpp).
//
// Conv is im2col + GEMM (Chellapilla et al. 2006, as in Caffe): for each image and group, a tile of output
// positions gathers its input patches into a [channels x kernel, positions] matrix that the blocked GEMM
// loop multiplies by the weights, so the hot loop is the contiguous GEMM row update. 1x1 stride-1 convs skip
// the gather. ConvTranspose is the adjoint: GEMM of the transposed weights with the input, then col2im
// scatters the products into the output. Both O(N x Cout x Cin/group x kernel x positions); the patch
// matrix is tiled to a bounded size.
#include <algorithm>
#include <cstring>

#include "core/ops/linalg_internal.h"
#include "core/ops/op_helpers.h"
#include "core/ops/window_geometry.h"

namespace fluidml::ops {

namespace {

/// Elements of one im2col / col2im tile; bounds the scratch memory of a conv to 16 MiB of doubles.
constexpr int64_t kColumnBudget = int64_t{1} << 21;

bool isConvDType(ir::DType dtype) { return dtype == ir::DType::Float32 || dtype == ir::DType::Float64; }

template <typename Fn>
Status visitConvDType(ir::DType dtype, Fn &&fn) {
  if (dtype == ir::DType::Float32) return fn(float{});
  if (dtype == ir::DType::Float64) return fn(double{});
  return Status::error("unsupported dtype " + std::string(ir::dtypeName(dtype)));
}

Expected<int64_t> readGroup(const ir::Node &node) {
  const int64_t group = node.intAttr("group", 1);
  if (group < 1) return Status::error("group " + std::to_string(group) + " must be >= 1");
  return group;
}

/// Common checks of X, W and the optional bias B of Conv and ConvTranspose.
Status checkConvOperands(const InferContext &c, const std::string &opType) {
  if (c.inputCount() < 2 || c.inputCount() > 3 || !c.hasInput(0) || !c.hasInput(1))
    return Status::error(opType + " takes inputs X, W and an optional B");
  const ir::TensorType &x = c.inputType(0);
  const ir::TensorType &w = c.inputType(1);
  if (!isConvDType(x.dtype))
    return Status::error(opType + " does not support dtype " + std::string(ir::dtypeName(x.dtype)));
  if (w.dtype != x.dtype || (c.hasInput(2) && c.inputType(2).dtype != x.dtype))
    return Status::error("X, W and B must have the same dtype");
  FLUIDML_RETURN_IF_ERROR(checkSpatialInput(x, "X"));
  if (w.rank() != x.rank())
    return Status::error("W of shape " + ir::shapeToString(w.shape) + " must have the rank of X " +
                         ir::shapeToString(x.shape));
  return Status::ok();
}

Status checkBias(const InferContext &c, int64_t outChannels) {
  if (c.hasInput(2) && c.inputType(2).shape != ir::Shape{outChannels})
    return Status::error("B of shape " + ir::shapeToString(c.inputType(2).shape) + " must have shape [" +
                         std::to_string(outChannels) + "]");
  return Status::ok();
}

/// Output filled with the bias per channel (or zeros): the GEMMs accumulate on top.
template <typename T>
void fillWithBias(const KernelContext &c, T *out, int64_t batch, int64_t channels, int64_t planeSize) {
  const T *bias = c.hasInput(2) ? c.input(2).data<T>() : nullptr;
  for (int64_t n = 0; n < batch; ++n)
    for (int64_t ch = 0; ch < channels; ++ch) {
      T *plane = out + (n * channels + ch) * planeSize;
      std::fill(plane, plane + planeSize, bias ? bias[ch] : T{0});
    }
}

// ---- Conv --------------------------------------------------------------------------------------------------

Status inferConv(InferContext &c) {
  FLUIDML_RETURN_IF_ERROR(checkConvOperands(c, "Conv"));
  const ir::Shape &x = c.inputType(0).shape;
  const ir::Shape &w = c.inputType(1).shape;
  FLUIDML_ASSIGN_OR_RETURN(int64_t group, readGroup(c.node()));
  if (w[1] * group != x[1])
    return Status::error("X has " + std::to_string(x[1]) + " channels but W of shape " + ir::shapeToString(w) +
                         " with group " + std::to_string(group) + " expects " + std::to_string(w[1] * group));
  if (w[0] % group != 0)
    return Status::error("W has " + std::to_string(w[0]) + " output channels, not divisible by group " +
                         std::to_string(group));
  FLUIDML_RETURN_IF_ERROR(checkBias(c, w[0]));
  FLUIDML_ASSIGN_OR_RETURN(Window window, convWindow(c.node(), x, w));
  ir::Shape out{x[0], w[0]};
  for (int64_t d : window.outShape()) out.push_back(d);
  c.setOutput(0, ir::TensorType(c.inputType(0).dtype, out));
  return Status::ok();
}

/// Gathers the input patches of output positions [p0, p1) of one group into col ([Cin/group x kernel] rows
/// of p1 - p0 columns); positions in the padding read zero. Works row segment by row segment of the output
/// so that only the innermost (width) coordinate varies per element.
template <typename T>
void im2col(const T *x, int64_t channels, const Window &w, int64_t p0, int64_t p1, T *col) {
  const int64_t tile = p1 - p0;
  const int64_t outRow = w.out[2], outPlane = w.out[1] * w.out[2];
  for (int64_t ch = 0; ch < channels; ++ch) {
    const T *xc = x + ch * w.inSize();
    for (int64_t kd = 0; kd < w.kernel[0]; ++kd)
      for (int64_t kh = 0; kh < w.kernel[1]; ++kh)
        for (int64_t kw = 0; kw < w.kernel[2]; ++kw) {
          T *dst = col + (((ch * w.kernel[0] + kd) * w.kernel[1] + kh) * w.kernel[2] + kw) * tile;
          for (int64_t p = p0; p < p1;) {
            const int64_t od = p / outPlane, oh = (p / outRow) % w.out[1], ow = p % outRow;
            const int64_t owEnd = std::min(outRow, ow + (p1 - p));
            T *seg = dst + (p - p0);
            const int64_t id = od * w.stride[0] - w.padBegin[0] + kd * w.dilation[0];
            const int64_t ih = oh * w.stride[1] - w.padBegin[1] + kh * w.dilation[1];
            if (id < 0 || id >= w.in[0] || ih < 0 || ih >= w.in[1]) {
              std::fill(seg, seg + (owEnd - ow), T{0});
            } else {
              const T *xRow = xc + (id * w.in[1] + ih) * w.in[2];
              const int64_t iwStart = kw * w.dilation[2] - w.padBegin[2];
              for (int64_t o = ow; o < owEnd; ++o) {
                const int64_t iw = o * w.stride[2] + iwStart;
                seg[o - ow] = iw >= 0 && iw < w.in[2] ? xRow[iw] : T{0};
              }
            }
            p += owEnd - ow;
          }
        }
  }
}

Status convKernel(KernelContext &c) {
  const ir::Tensor &xT = c.input(0);
  const ir::Tensor &wT = c.input(1);
  ir::Tensor &yT = c.output(0);
  FLUIDML_ASSIGN_OR_RETURN(Window win, convWindow(c.node, xT.shape(), wT.shape()));
  const int64_t group = c.node.intAttr("group", 1);
  const int64_t batch = xT.shape()[0], inChannels = xT.shape()[1], outChannels = wT.shape()[0];
  const int64_t groupIn = inChannels / group, groupOut = outChannels / group;
  const int64_t patch = groupIn * win.kernelSize();  // GEMM depth
  const int64_t positions = win.outSize();
  const bool pointwise = win.kernelSize() == 1 && win.in == win.out &&
                         std::all_of(win.stride.begin(), win.stride.end(), [](int64_t s) { return s == 1; });
  return visitConvDType(yT.dtype(), [&](auto tag) -> Status {
    using T = decltype(tag);
    const T *x = xT.data<T>();
    const T *weights = wT.data<T>();
    T *y = yT.data<T>();
    fillWithBias(c, y, batch, outChannels, positions);
    if (yT.numel() == 0 || patch == 0) return Status::ok();
    const int64_t tile = std::min(positions, std::max<int64_t>(256, kColumnBudget / patch));
    std::vector<T> col(pointwise ? 0 : static_cast<size_t>(patch * tile));
    for (int64_t n = 0; n < batch; ++n)
      for (int64_t g = 0; g < group; ++g) {
        const T *xg = x + (n * inChannels + g * groupIn) * win.inSize();
        const T *wg = weights + g * groupOut * patch;
        T *yg = y + (n * outChannels + g * groupOut) * positions;
        if (pointwise) {  // the input planes already are the patch matrix
          gemmAccumulate<T>(groupOut, positions, groupIn, wg, patch, xg, positions, yg, positions);
          continue;
        }
        for (int64_t p0 = 0; p0 < positions; p0 += tile) {
          const int64_t p1 = std::min(positions, p0 + tile);
          im2col(xg, groupIn, win, p0, p1, col.data());
          gemmAccumulate<T>(groupOut, p1 - p0, patch, wg, patch, col.data(), p1 - p0, yg + p0, positions);
        }
      }
    return Status::ok();
  });
}

// ---- ConvTranspose -----------------------------------------------------------------------------------------

Status inferConvTranspose(InferContext &c) {
  FLUIDML_RETURN_IF_ERROR(checkConvOperands(c, "ConvTranspose"));
  const ir::Shape &x = c.inputType(0).shape;
  const ir::Shape &w = c.inputType(1).shape;
  FLUIDML_ASSIGN_OR_RETURN(int64_t group, readGroup(c.node()));
  if (w[0] != x[1])
    return Status::error("X has " + std::to_string(x[1]) + " channels but W of shape " + ir::shapeToString(w) +
                         " expects " + std::to_string(w[0]));
  if (x[1] % group != 0)
    return Status::error("X has " + std::to_string(x[1]) + " channels, not divisible by group " +
                         std::to_string(group));
  const int64_t outChannels = w[1] * group;
  FLUIDML_RETURN_IF_ERROR(checkBias(c, outChannels));
  FLUIDML_ASSIGN_OR_RETURN(Window window, convTransposeWindow(c.node(), x, w));
  ir::Shape out{x[0], outChannels};
  for (int64_t d : window.outShape()) out.push_back(d);
  c.setOutput(0, ir::TensorType(c.inputType(0).dtype, out));
  return Status::ok();
}

/// Adds col ([Cout/group x kernel] rows of the input positions [p0, p1)) into the output planes of one group
/// at the positions each input position and kernel offset land on; the adjoint of im2col.
template <typename T>
void col2im(const T *col, int64_t channels, const Window &w, int64_t p0, int64_t p1, T *y) {
  const int64_t tile = p1 - p0;
  const int64_t inRow = w.in[2], inPlane = w.in[1] * w.in[2];
  for (int64_t ch = 0; ch < channels; ++ch) {
    T *yc = y + ch * w.outSize();
    for (int64_t kd = 0; kd < w.kernel[0]; ++kd)
      for (int64_t kh = 0; kh < w.kernel[1]; ++kh)
        for (int64_t kw = 0; kw < w.kernel[2]; ++kw) {
          const T *src = col + (((ch * w.kernel[0] + kd) * w.kernel[1] + kh) * w.kernel[2] + kw) * tile;
          for (int64_t p = p0; p < p1;) {
            const int64_t id = p / inPlane, ih = (p / inRow) % w.in[1], iw = p % inRow;
            const int64_t iwEnd = std::min(inRow, iw + (p1 - p));
            const T *seg = src + (p - p0);
            const int64_t od = id * w.stride[0] - w.padBegin[0] + kd * w.dilation[0];
            const int64_t oh = ih * w.stride[1] - w.padBegin[1] + kh * w.dilation[1];
            if (od >= 0 && od < w.out[0] && oh >= 0 && oh < w.out[1]) {
              T *yRow = yc + (od * w.out[1] + oh) * w.out[2];
              const int64_t owStart = kw * w.dilation[2] - w.padBegin[2];
              for (int64_t i = iw; i < iwEnd; ++i) {
                const int64_t ow = i * w.stride[2] + owStart;
                if (ow >= 0 && ow < w.out[2]) yRow[ow] += seg[i - iw];
              }
            }
            p += iwEnd - iw;
          }
        }
  }
}

Status convTransposeKernel(KernelContext &c) {
  const ir::Tensor &xT = c.input(0);
  const ir::Tensor &wT = c.input(1);
  ir::Tensor &yT = c.output(0);
  FLUIDML_ASSIGN_OR_RETURN(Window win, convTransposeWindow(c.node, xT.shape(), wT.shape()));
  const int64_t group = c.node.intAttr("group", 1);
  const int64_t batch = xT.shape()[0], inChannels = xT.shape()[1];
  const int64_t groupIn = inChannels / group, groupOut = wT.shape()[1], outChannels = groupOut * group;
  const int64_t rows = groupOut * win.kernelSize();  // rows of the column matrix
  const int64_t positions = win.inSize();
  return visitConvDType(yT.dtype(), [&](auto tag) -> Status {
    using T = decltype(tag);
    const T *x = xT.data<T>();
    const T *weights = wT.data<T>();
    T *y = yT.data<T>();
    fillWithBias(c, y, batch, outChannels, win.outSize());
    if (yT.numel() == 0 || xT.numel() == 0) return Status::ok();
    // W is [Cin, Cout/group x kernel] per group; the GEMM wants its transpose as the left operand.
    std::vector<T> wt(static_cast<size_t>(group * rows * groupIn));
    for (int64_t g = 0; g < group; ++g)
      for (int64_t ci = 0; ci < groupIn; ++ci)
        for (int64_t r = 0; r < rows; ++r)
          wt[static_cast<size_t>((g * rows + r) * groupIn + ci)] = weights[(g * groupIn + ci) * rows + r];
    const int64_t tile = std::min(positions, std::max<int64_t>(256, kColumnBudget / rows));
    std::vector<T> col(static_cast<size_t>(rows * tile));
    for (int64_t n = 0; n < batch; ++n)
      for (int64_t g = 0; g < group; ++g) {
        const T *xg = x + (n * inChannels + g * groupIn) * positions;
        T *yg = y + (n * outChannels + g * groupOut) * win.outSize();
        for (int64_t p0 = 0; p0 < positions; p0 += tile) {
          const int64_t p1 = std::min(positions, p0 + tile);
          std::fill(col.begin(), col.end(), T{0});
          gemmAccumulate<T>(rows, p1 - p0, groupIn, wt.data() + g * rows * groupIn, groupIn, xg + p0, positions,
                            col.data(), p1 - p0);
          col2im(col.data(), groupOut, win, p0, p1, yg);
        }
      }
    return Status::ok();
  });
}

}  // namespace

void registerConvOps(OpRegistry &registry) {
  registry.add(OpSchema{"Conv", "", 1, inferConv, convKernel, {}, "linalg"});
  registry.add(OpSchema{"ConvTranspose", "", 1, inferConvTranspose, convTransposeKernel, {}, "linalg"});
}

}  // namespace fluidml::ops
