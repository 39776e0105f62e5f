// Pooling: MaxPool (with optional argmax Indices), AveragePool, LpPool and their Global forms, over 1 to 3
// spatial dims with pads, strides, dilations, ceil_mode and auto_pad (window geometry from window_geometry.cpp).
//
// Direct evaluation: the input positions each output row, column and depth index covers are computed once
// per dimension (clipped to the input, with the count of positions inside input plus pads for
// count_include_pad), then every output element reduces the product of its three spans.
// O(N x C x output positions x kernel size).
#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>
#include <variant>

#include "core/ops/linalg_internal.h"
#include "core/ops/op_helpers.h"
#include "core/ops/window_geometry.h"

namespace fluidml::ops {

namespace {

/// The input positions one window covers along one dimension.
struct Span {
  std::vector<int64_t> positions;  // inside the input, ascending
  int64_t paddedCount = 0;         // positions inside the input or its pads (AveragePool count_include_pad)
};

/// spans[d][o]: the span of output index o along padded dimension d.
using Spans = std::array<std::vector<Span>, kMaxSpatialRank>;

Spans computeSpans(const Window &w) {
  Spans spans;
  for (size_t d = 0; d < kMaxSpatialRank; ++d) {
    spans[d].resize(static_cast<size_t>(w.out[d]));
    for (int64_t o = 0; o < w.out[d]; ++o) {
      Span &span = spans[d][static_cast<size_t>(o)];
      const int64_t start = o * w.stride[d] - w.padBegin[d];
      for (int64_t k = 0; k < w.kernel[d]; ++k) {
        const int64_t pos = start + k * w.dilation[d];
        if (pos >= -w.padBegin[d] && pos < w.in[d] + w.padEnd[d]) ++span.paddedCount;
        if (pos >= 0 && pos < w.in[d]) span.positions.push_back(pos);
      }
    }
  }
  return spans;
}

/// Calls fn(outputIndex, spanD, spanH, spanW) for every output position of one plane, row-major.
template <typename Fn>
void forEachOutput(const Spans &spans, Fn &&fn) {
  int64_t o = 0;
  for (const Span &sd : spans[0])
    for (const Span &sh : spans[1])
      for (const Span &sw : spans[2]) fn(o++, sd, sh, sw);
}

Status checkSingleInput(const InferContext &c, const std::string &opType) {
  if (c.inputCount() != 1 || !c.hasInput(0)) return Status::error(opType + " takes exactly one input");
  return Status::ok();
}

/// Type rule shared by the windowed pools: one output of the input's dtype, plus Indices for MaxPool.
Status inferPool(InferContext &c, const std::string &opType, bool (*dtypeOk)(ir::DType)) {
  FLUIDML_RETURN_IF_ERROR(checkSingleInput(c, opType));
  const ir::TensorType &x = c.inputType(0);
  if (!dtypeOk(x.dtype))
    return Status::error(opType + " does not support dtype " + std::string(ir::dtypeName(x.dtype)));
  FLUIDML_RETURN_IF_ERROR(checkSpatialInput(x, "X"));
  FLUIDML_ASSIGN_OR_RETURN(Window w, poolWindow(c.node(), x.shape));
  ir::Shape out{x.shape[0], x.shape[1]};
  for (int64_t d : w.outShape()) out.push_back(d);
  c.setOutput(0, ir::TensorType(x.dtype, out));
  if (c.hasOutput(1)) c.setOutput(1, ir::TensorType(ir::DType::Int64, out));
  return Status::ok();
}

bool isFloatDType(ir::DType dtype) { return dtype == ir::DType::Float32 || dtype == ir::DType::Float64; }
bool isMaxPoolDType(ir::DType dtype) {
  return isFloatDType(dtype) || dtype == ir::DType::Int8 || dtype == ir::DType::UInt8;
}

template <typename Fn>
Status visitFloatDType(ir::DType dtype, Fn &&fn) {
  if (dtype == ir::DType::Float32) return fn(float{});
  if (dtype == ir::DType::Float64) return fn(double{});
  return Status::error("unsupported dtype " + std::string(ir::dtypeName(dtype)));
}

int64_t planeCount(const ir::Tensor &x) { return x.shape()[0] * x.shape()[1]; }

/// The exponent p of LpPool / GlobalLpPool: an int since opset 2, a float in opset 1.
Expected<double> lpExponent(const ir::Node &node) {
  double p = 2.0;
  if (const ir::Attribute *attr = node.attribute("p")) {
    if (const auto *i = std::get_if<int64_t>(attr))
      p = static_cast<double>(*i);
    else if (const auto *f = std::get_if<float>(attr))
      p = *f;
  }
  if (!(p > 0)) return Status::error("p " + std::to_string(p) + " must be positive");
  return p;
}

// ---- MaxPool -----------------------------------------------------------------------------------------------

Status inferMaxPool(InferContext &c) {
  const int64_t storageOrder = c.node().intAttr("storage_order", 0);
  if (storageOrder != 0 && storageOrder != 1)
    return Status::error("storage_order " + std::to_string(storageOrder) + " must be 0 or 1");
  return inferPool(c, "MaxPool", isMaxPoolDType);
}

Status maxPoolKernel(KernelContext &c) {
  const ir::Tensor &xT = c.input(0);
  FLUIDML_ASSIGN_OR_RETURN(Window w, poolWindow(c.node, xT.shape()));
  const Spans spans = computeSpans(w);
  const bool columnMajor = c.node.intAttr("storage_order", 0) == 1;
  int64_t *indices = c.hasOutput(1) ? c.output(1).data<int64_t>() : nullptr;
  return ir::visitDType(xT.dtype(), [&](auto tag) -> Status {
    using T = decltype(tag);
    if constexpr (std::is_same_v<T, bool> || std::is_same_v<T, int32_t> || std::is_same_v<T, int64_t>) {
      return Status::error("MaxPool does not support dtype " + std::string(ir::dtypeName(xT.dtype())));
    } else {
      // A window entirely in the padding (large pads or dilations) yields the identity of max.
      const T lowest =
          std::numeric_limits<T>::has_infinity ? -std::numeric_limits<T>::infinity() : std::numeric_limits<T>::lowest();
      const T *x = xT.data<T>();
      T *y = c.output(0).data<T>();
      for (int64_t plane = 0; plane < planeCount(xT); ++plane) {
        const T *xp = x + plane * w.inSize();
        T *yp = y + plane * w.outSize();
        int64_t *ip = indices ? indices + plane * w.outSize() : nullptr;
        forEachOutput(spans, [&](int64_t o, const Span &sd, const Span &sh, const Span &sw) {
          T best = lowest;
          int64_t bd = -1, bh = -1, bw = -1;
          for (int64_t d : sd.positions)
            for (int64_t h : sh.positions) {
              const T *row = xp + (d * w.in[1] + h) * w.in[2];
              for (int64_t wpos : sw.positions)
                if (bd < 0 || row[wpos] > best) {
                  best = row[wpos];
                  bd = d, bh = h, bw = wpos;
                }
            }
          yp[o] = best;
          if (ip == nullptr) return;
          if (bd < 0) {
            ip[o] = -1;
            return;
          }
          // Flat index into the whole input; storage_order 1 numbers the spatial dims column-major.
          const int64_t spatial = columnMajor ? bd + w.in[0] * (bh + w.in[1] * bw) : (bd * w.in[1] + bh) * w.in[2] + bw;
          ip[o] = plane * w.inSize() + spatial;
        });
      }
      return Status::ok();
    }
  });
}

// ---- AveragePool and LpPool --------------------------------------------------------------------------------

Status inferAveragePool(InferContext &c) {
  const int64_t includePad = c.node().intAttr("count_include_pad", 0);
  if (includePad != 0 && includePad != 1)
    return Status::error("count_include_pad " + std::to_string(includePad) + " must be 0 or 1");
  return inferPool(c, "AveragePool", isFloatDType);
}

Status averagePoolKernel(KernelContext &c) {
  const ir::Tensor &xT = c.input(0);
  FLUIDML_ASSIGN_OR_RETURN(Window w, poolWindow(c.node, xT.shape()));
  const Spans spans = computeSpans(w);
  const bool includePad = c.node.intAttr("count_include_pad", 0) != 0;
  return visitFloatDType(xT.dtype(), [&](auto tag) -> Status {
    using T = decltype(tag);
    const T *x = xT.data<T>();
    T *y = c.output(0).data<T>();
    for (int64_t plane = 0; plane < planeCount(xT); ++plane) {
      const T *xp = x + plane * w.inSize();
      T *yp = y + plane * w.outSize();
      forEachOutput(spans, [&](int64_t o, const Span &sd, const Span &sh, const Span &sw) {
        double sum = 0;
        for (int64_t d : sd.positions)
          for (int64_t h : sh.positions) {
            const T *row = xp + (d * w.in[1] + h) * w.in[2];
            for (int64_t wpos : sw.positions) sum += row[wpos];
          }
        const int64_t count =
            includePad ? sd.paddedCount * sh.paddedCount * sw.paddedCount
                       : static_cast<int64_t>(sd.positions.size() * sh.positions.size() * sw.positions.size());
        yp[o] = count > 0 ? static_cast<T>(sum / static_cast<double>(count)) : T{0};
      });
    }
    return Status::ok();
  });
}

Status inferLpPool(InferContext &c) {
  FLUIDML_RETURN_IF_ERROR(lpExponent(c.node()).status());
  return inferPool(c, "LpPool", isFloatDType);
}

Status lpPoolKernel(KernelContext &c) {
  const ir::Tensor &xT = c.input(0);
  FLUIDML_ASSIGN_OR_RETURN(Window w, poolWindow(c.node, xT.shape()));
  FLUIDML_ASSIGN_OR_RETURN(double p, lpExponent(c.node));
  const Spans spans = computeSpans(w);
  return visitFloatDType(xT.dtype(), [&](auto tag) -> Status {
    using T = decltype(tag);
    const T *x = xT.data<T>();
    T *y = c.output(0).data<T>();
    for (int64_t plane = 0; plane < planeCount(xT); ++plane) {
      const T *xp = x + plane * w.inSize();
      T *yp = y + plane * w.outSize();
      forEachOutput(spans, [&](int64_t o, const Span &sd, const Span &sh, const Span &sw) {
        double sum = 0;  // padding contributes |0|^p = 0
        for (int64_t d : sd.positions)
          for (int64_t h : sh.positions) {
            const T *row = xp + (d * w.in[1] + h) * w.in[2];
            for (int64_t wpos : sw.positions) sum += std::pow(std::abs(static_cast<double>(row[wpos])), p);
          }
        yp[o] = static_cast<T>(std::pow(sum, 1.0 / p));
      });
    }
    return Status::ok();
  });
}

// ---- Global pools ------------------------------------------------------------------------------------------

/// Global pools reduce every spatial dim to 1; any number of spatial dims works.
Status inferGlobalPool(InferContext &c, const std::string &opType) {
  FLUIDML_RETURN_IF_ERROR(checkSingleInput(c, opType));
  const ir::TensorType &x = c.inputType(0);
  if (!isFloatDType(x.dtype))
    return Status::error(opType + " does not support dtype " + std::string(ir::dtypeName(x.dtype)));
  if (x.rank() < 3)
    return Status::error("X must have rank >= 3 (N, C, spatial...), got shape " + ir::shapeToString(x.shape));
  ir::Shape out(x.rank(), 1);
  out[0] = x.shape[0];
  out[1] = x.shape[1];
  c.setOutput(0, ir::TensorType(x.dtype, out));
  return Status::ok();
}

Status inferGlobalAveragePool(InferContext &c) { return inferGlobalPool(c, "GlobalAveragePool"); }
Status inferGlobalMaxPool(InferContext &c) { return inferGlobalPool(c, "GlobalMaxPool"); }
Status inferGlobalLpPool(InferContext &c) {
  FLUIDML_RETURN_IF_ERROR(lpExponent(c.node()).status());
  return inferGlobalPool(c, "GlobalLpPool");
}

enum class GlobalReduce { Average, Max, Lp };

template <GlobalReduce kReduce>
Status globalPoolKernel(KernelContext &c) {
  const ir::Tensor &xT = c.input(0);
  double p = 2.0;
  if constexpr (kReduce == GlobalReduce::Lp) {
    FLUIDML_ASSIGN_OR_RETURN(p, lpExponent(c.node));
  }
  const int64_t planeSize = xT.shape()[0] * xT.shape()[1] == 0 ? 0 : xT.numel() / (xT.shape()[0] * xT.shape()[1]);
  return visitFloatDType(xT.dtype(), [&](auto tag) -> Status {
    using T = decltype(tag);
    const T *x = xT.data<T>();
    T *y = c.output(0).data<T>();
    for (int64_t plane = 0; plane < planeCount(xT); ++plane) {
      const T *xp = x + plane * planeSize;
      if constexpr (kReduce == GlobalReduce::Max) {
        T best = -std::numeric_limits<T>::infinity();
        for (int64_t i = 0; i < planeSize; ++i) best = std::max(best, xp[i]);
        y[plane] = best;
      } else if constexpr (kReduce == GlobalReduce::Average) {
        double sum = 0;
        for (int64_t i = 0; i < planeSize; ++i) sum += xp[i];
        y[plane] = static_cast<T>(sum / static_cast<double>(planeSize));
      } else {
        double sum = 0;
        for (int64_t i = 0; i < planeSize; ++i) sum += std::pow(std::abs(static_cast<double>(xp[i])), p);
        y[plane] = static_cast<T>(std::pow(sum, 1.0 / p));
      }
    }
    return Status::ok();
  });
}

}  // namespace

void registerPoolOps(OpRegistry &registry) {
  registry.add(OpSchema{"MaxPool", "", 1, inferMaxPool, maxPoolKernel, {}, "linalg"});
  registry.add(OpSchema{"AveragePool", "", 1, inferAveragePool, averagePoolKernel, {}, "linalg"});
  registry.add(OpSchema{"LpPool", "", 1, inferLpPool, lpPoolKernel, {}, "linalg"});
  registry.add(OpSchema{
      "GlobalAveragePool", "", 1, inferGlobalAveragePool, globalPoolKernel<GlobalReduce::Average>, {}, "linalg"});
  registry.add(OpSchema{"GlobalMaxPool", "", 1, inferGlobalMaxPool, globalPoolKernel<GlobalReduce::Max>, {}, "linalg"});
  registry.add(OpSchema{"GlobalLpPool", "", 1, inferGlobalLpPool, globalPoolKernel<GlobalReduce::Lp>, {}, "linalg"});
}

}  // namespace fluidml::ops
