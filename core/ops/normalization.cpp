// Normalizations: BatchNormalization (inference), InstanceNormalization, LayerNormalization,
// GroupNormalization, MeanVarianceNormalization, LpNormalization, and the Softmax family (Softmax,
// LogSoftmax, Hardmax). The Reduce* ops and ArgMax/ArgMin live in reduce.cpp and register from here.
// Every kernel views its input as [outer, n, inner] blocks (or groups of one) and makes one pass for the
// statistics, in double with a two-pass mean/variance (stable, no E[x^2] - E[x]^2 cancellation), then one
// pass that writes. O(elements) time; extra memory is O(inner) or O(normalized size) per kernel call.
// Statistics of a block are complete before any element of it is written, so an output aliasing its input
// still reads every element before overwriting it.
#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>

#include "core/ops/op_helpers.h"

namespace fluidml::ops {

// Defined in reduce.cpp; op_registry.h lists one registration function per family file and the reductions
// are part of this family.
void registerReduceOps(OpRegistry &registry);

namespace {

std::string dtypeString(ir::DType dtype) { return std::string(ir::dtypeName(dtype)); }

/// Checks the number of inputs and that the first `required` ones are present.
Status checkInputs(const InferContext &c, size_t required, size_t maxInputs, const std::vector<std::string> &names) {
  const std::string &op = c.node().opType;
  if (c.inputCount() > maxInputs)
    return Status::error(op + " takes at most " + std::to_string(maxInputs) + " inputs, got " +
                         std::to_string(c.inputCount()));
  for (size_t i = 0; i < required; ++i)
    if (!c.hasInput(i))
      return Status::error(op + " needs input " + std::to_string(i) + " (" + names[i] + ")");
  return Status::ok();
}

Status requireFloating(const InferContext &c, size_t i, const std::string &what) {
  ir::DType dtype = c.inputType(i).dtype;
  if (!ir::isFloating(dtype)) return Status::error(what + " must be float32 or float64, got " + dtypeString(dtype));
  return Status::ok();
}

/// Checks that an optional per-feature operand (scale, bias) has the dtype of X and exactly the shape `shape`.
Status requireParam(const InferContext &c, size_t i, const std::string &what, const ir::Shape &shape) {
  if (!c.hasInput(i)) return Status::ok();
  const ir::TensorType &type = c.inputType(i);
  if (!ir::isFloating(type.dtype))
    return Status::error(what + " must be float32 or float64, got " + dtypeString(type.dtype));
  if (type.shape != shape)
    return Status::error(what + " must have shape " + ir::shapeToString(shape) + ", got " +
                         ir::shapeToString(type.shape));
  return Status::ok();
}

/// All elements of a small parameter tensor, as double.
std::vector<double> toDoubles(const ir::Tensor &t) {
  std::vector<double> values(static_cast<size_t>(t.numel()));
  for (int64_t i = 0; i < t.numel(); ++i) values[static_cast<size_t>(i)] = t.elementAsDouble(i);
  return values;
}

/// Calls fn(T{}) for float32/float64; the type rules reject everything else before a kernel runs.
template <typename Fn>
Status visitFloating(ir::DType dtype, Fn &&fn) {
  if (dtype == ir::DType::Float32) {
    fn(float{});
    return Status::ok();
  }
  if (dtype == ir::DType::Float64) {
    fn(double{});
    return Status::ok();
  }
  return Status::error("expected a float32 or float64 tensor, got " + dtypeString(dtype));
}

int64_t product(const ir::Shape &shape, size_t begin, size_t end) {
  int64_t p = 1;
  for (size_t d = begin; d < end; ++d) p *= shape[d];
  return p;
}

/// Rows of `n` elements spaced `inner` apart, `outer` blocks of n * inner elements.
struct AxisSplit {
  int64_t outer = 1, n = 1, inner = 1;
};

AxisSplit splitAroundAxis(const ir::Shape &shape, size_t axis) {
  return {product(shape, 0, axis), shape[axis], product(shape, axis + 1, shape.size())};
}

// --- Softmax, LogSoftmax, Hardmax -------------------------------------------------------------------------

enum class SoftmaxKind { Softmax, LogSoftmax, Hardmax };

/// Opset < 13 coerces the input to 2-D at `axis` (default 1) and normalizes each row of the flattened
/// trailing dims; opset >= 13 normalizes along the single `axis` (default -1).
Expected<AxisSplit> softmaxSplit(const ir::Node &node, int64_t opset, const ir::Shape &shape) {
  int64_t rank = static_cast<int64_t>(shape.size());
  if (rank == 0) return Status::error(node.opType + " needs an input of rank 1 or more");
  if (opset >= 13) {
    FLUIDML_ASSIGN_OR_RETURN(int64_t axis, normalizeAxis(node.intAttr("axis", -1), rank));
    return splitAroundAxis(shape, static_cast<size_t>(axis));
  }
  int64_t axis = node.intAttr("axis", 1);
  int64_t normalized = axis < 0 ? axis + rank : axis;
  // axis == rank is a valid coercion point (rows of one element).
  if (normalized < 0 || normalized > rank)
    return Status::error("axis " + std::to_string(axis) + " is out of range for rank " + std::to_string(rank));
  size_t a = static_cast<size_t>(normalized);
  return AxisSplit{product(shape, 0, a), product(shape, a, shape.size()), 1};
}

Status inferSoftmax(InferContext &c) {
  FLUIDML_RETURN_IF_ERROR(checkInputs(c, 1, 1, {"input"}));
  FLUIDML_RETURN_IF_ERROR(requireFloating(c, 0, "input"));
  FLUIDML_ASSIGN_OR_RETURN(AxisSplit split, softmaxSplit(c.node(), c.opset(), c.inputType(0).shape));
  (void)split;
  c.setOutput(0, c.inputType(0));
  return Status::ok();
}

template <SoftmaxKind kKind, typename T>
void softmaxBlocks(const T *x, T *y, const AxisSplit &s) {
  // Per-column statistics of one [n, inner] block, so rows are read contiguously.
  std::vector<double> maxima(static_cast<size_t>(s.inner));
  std::vector<double> sums(static_cast<size_t>(s.inner));
  std::vector<int64_t> best(static_cast<size_t>(s.inner));
  const int64_t blockSize = s.n * s.inner;
  for (int64_t o = 0; o < s.outer; ++o) {
    const T *xb = x + o * blockSize;
    T *yb = y + o * blockSize;
    if constexpr (kKind == SoftmaxKind::Hardmax) {
      // The first maximum wins (NaN counts as the maximum, as in numpy's argmax).
      std::fill(best.begin(), best.end(), 0);
      for (int64_t k = 1; k < s.n; ++k)
        for (int64_t i = 0; i < s.inner; ++i) {
          T v = xb[k * s.inner + i];
          T b = xb[best[static_cast<size_t>(i)] * s.inner + i];
          if (b == b && (v > b || v != v)) best[static_cast<size_t>(i)] = k;
        }
      for (int64_t k = 0; k < s.n; ++k)
        for (int64_t i = 0; i < s.inner; ++i)
          yb[k * s.inner + i] = best[static_cast<size_t>(i)] == k ? T(1) : T(0);
    } else {
      std::fill(maxima.begin(), maxima.end(), -std::numeric_limits<double>::infinity());
      std::fill(sums.begin(), sums.end(), 0.0);
      for (int64_t k = 0; k < s.n; ++k)
        for (int64_t i = 0; i < s.inner; ++i) {
          double v = static_cast<double>(xb[k * s.inner + i]);
          if (v > maxima[static_cast<size_t>(i)]) maxima[static_cast<size_t>(i)] = v;
        }
      // Subtracting the maximum keeps exp() from overflowing on large inputs.
      for (int64_t k = 0; k < s.n; ++k)
        for (int64_t i = 0; i < s.inner; ++i)
          sums[static_cast<size_t>(i)] +=
              std::exp(static_cast<double>(xb[k * s.inner + i]) - maxima[static_cast<size_t>(i)]);
      if constexpr (kKind == SoftmaxKind::LogSoftmax)
        for (double &sum : sums) sum = std::log(sum);
      for (int64_t k = 0; k < s.n; ++k)
        for (int64_t i = 0; i < s.inner; ++i) {
          double shifted = static_cast<double>(xb[k * s.inner + i]) - maxima[static_cast<size_t>(i)];
          if constexpr (kKind == SoftmaxKind::Softmax)
            yb[k * s.inner + i] = static_cast<T>(std::exp(shifted) / sums[static_cast<size_t>(i)]);
          else
            yb[k * s.inner + i] = static_cast<T>(shifted - sums[static_cast<size_t>(i)]);
        }
    }
  }
}

template <SoftmaxKind kKind>
Status runSoftmax(KernelContext &c) {
  const ir::Tensor &x = c.input(0);
  FLUIDML_ASSIGN_OR_RETURN(AxisSplit split, softmaxSplit(c.node, c.opset, x.shape()));
  return visitFloating(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    softmaxBlocks<kKind, T>(x.data<T>(), c.output(0).data<T>(), split);
  });
}

// --- LpNormalization --------------------------------------------------------------------------------------

Expected<AxisSplit> lpSplit(const ir::Node &node, const ir::Shape &shape) {
  int64_t p = node.intAttr("p", 2);
  if (p != 1 && p != 2) return Status::error("p must be 1 or 2, got " + std::to_string(p));
  if (shape.empty()) return Status::error("LpNormalization needs an input of rank 1 or more");
  FLUIDML_ASSIGN_OR_RETURN(int64_t axis, normalizeAxis(node.intAttr("axis", -1), static_cast<int64_t>(shape.size())));
  return splitAroundAxis(shape, static_cast<size_t>(axis));
}

Status inferLpNormalization(InferContext &c) {
  FLUIDML_RETURN_IF_ERROR(checkInputs(c, 1, 1, {"input"}));
  FLUIDML_RETURN_IF_ERROR(requireFloating(c, 0, "input"));
  FLUIDML_ASSIGN_OR_RETURN(AxisSplit split, lpSplit(c.node(), c.inputType(0).shape));
  (void)split;
  c.setOutput(0, c.inputType(0));
  return Status::ok();
}

Status runLpNormalization(KernelContext &c) {
  const ir::Tensor &x = c.input(0);
  FLUIDML_ASSIGN_OR_RETURN(AxisSplit s, lpSplit(c.node, x.shape()));
  bool l1 = c.node.intAttr("p", 2) == 1;
  return visitFloating(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T *in = x.data<T>();
    T *out = c.output(0).data<T>();
    std::vector<double> norms(static_cast<size_t>(s.inner));
    for (int64_t o = 0; o < s.outer; ++o) {
      const T *xb = in + o * s.n * s.inner;
      T *yb = out + o * s.n * s.inner;
      std::fill(norms.begin(), norms.end(), 0.0);
      for (int64_t k = 0; k < s.n; ++k)
        for (int64_t i = 0; i < s.inner; ++i) {
          double v = static_cast<double>(xb[k * s.inner + i]);
          norms[static_cast<size_t>(i)] += l1 ? std::abs(v) : v * v;
        }
      if (!l1)
        for (double &norm : norms) norm = std::sqrt(norm);
      // A zero vector stays zero instead of becoming 0/0 (as onnxruntime does).
      for (int64_t k = 0; k < s.n; ++k)
        for (int64_t i = 0; i < s.inner; ++i) {
          double norm = norms[static_cast<size_t>(i)];
          double v = static_cast<double>(xb[k * s.inner + i]);
          yb[k * s.inner + i] = static_cast<T>(norm == 0.0 ? 0.0 : v / norm);
        }
    }
  });
}

// --- BatchNormalization -----------------------------------------------------------------------------------

Status inferBatchNormalization(InferContext &c) {
  FLUIDML_RETURN_IF_ERROR(checkInputs(c, 5, 5, {"X", "scale", "B", "input_mean", "input_var"}));
  if (c.node().intAttr("training_mode", 0) != 0)
    return Status::error("training_mode=1 is not supported: fluidml runs BatchNormalization in inference mode");
  if (c.opset() < 9 && c.node().intAttr("spatial", 1) == 0)
    return Status::error("spatial=0 (per-activation statistics) is not supported");
  for (size_t i = 1; i < c.outputCount(); ++i)
    if (c.hasOutput(i))
      return Status::error("output " + std::to_string(i) +
                           " (running or saved statistics) only exists in training mode, which is not supported");
  FLUIDML_RETURN_IF_ERROR(requireFloating(c, 0, "X"));
  const ir::TensorType &x = c.inputType(0);
  if (x.rank() < 2)
    return Status::error("X must have rank 2 or more (N x C x ...), got " + ir::shapeToString(x.shape));
  const char *names[] = {"", "scale", "B", "input_mean", "input_var"};
  for (size_t i = 1; i < 5; ++i) FLUIDML_RETURN_IF_ERROR(requireParam(c, i, names[i], {x.shape[1]}));
  c.setOutput(0, x);
  return Status::ok();
}

Status runBatchNormalization(KernelContext &c) {
  const ir::Tensor &x = c.input(0);
  double epsilon = c.node.floatAttr("epsilon", 1e-5f);
  const ir::Shape &shape = x.shape();
  int64_t batch = shape[0], channels = shape[1], inner = product(shape, 2, shape.size());
  std::vector<double> scale = toDoubles(c.input(1)), bias = toDoubles(c.input(2));
  std::vector<double> mean = toDoubles(c.input(3)), var = toDoubles(c.input(4));
  // y = (x - mean) * a + bias with a = scale / sqrt(var + epsilon), one factor per channel.
  std::vector<double> factor(static_cast<size_t>(channels));
  for (size_t ch = 0; ch < factor.size(); ++ch) factor[ch] = scale[ch] / std::sqrt(var[ch] + epsilon);
  return visitFloating(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T *in = x.data<T>();
    T *out = c.output(0).data<T>();
    for (int64_t b = 0; b < batch; ++b)
      for (int64_t ch = 0; ch < channels; ++ch) {
        size_t k = static_cast<size_t>(ch);
        int64_t base = (b * channels + ch) * inner;
        for (int64_t i = base; i < base + inner; ++i)
          out[i] = static_cast<T>((static_cast<double>(in[i]) - mean[k]) * factor[k] + bias[k]);
      }
  });
}

// --- Group statistics shared by Instance-, Group- and LayerNormalization ----------------------------------

struct MeanInvStd {
  double mean;
  double invStd;
};

/// Mean and 1/sqrt(variance + epsilon) of `count` contiguous elements (biased variance, two passes).
template <typename T>
MeanInvStd meanInvStd(const T *x, int64_t count, double epsilon) {
  double sum = 0.0;
  for (int64_t i = 0; i < count; ++i) sum += static_cast<double>(x[i]);
  double mean = count > 0 ? sum / static_cast<double>(count) : 0.0;
  double squares = 0.0;
  for (int64_t i = 0; i < count; ++i) {
    double d = static_cast<double>(x[i]) - mean;
    squares += d * d;
  }
  double var = count > 0 ? squares / static_cast<double>(count) : 0.0;
  return {mean, 1.0 / std::sqrt(var + epsilon)};
}

// --- InstanceNormalization --------------------------------------------------------------------------------

Status inferInstanceNormalization(InferContext &c) {
  FLUIDML_RETURN_IF_ERROR(checkInputs(c, 3, 3, {"input", "scale", "B"}));
  FLUIDML_RETURN_IF_ERROR(requireFloating(c, 0, "input"));
  const ir::TensorType &x = c.inputType(0);
  if (x.rank() < 3)
    return Status::error("input must have rank 3 or more (N x C x D1 ...), got " + ir::shapeToString(x.shape));
  FLUIDML_RETURN_IF_ERROR(requireParam(c, 1, "scale", {x.shape[1]}));
  FLUIDML_RETURN_IF_ERROR(requireParam(c, 2, "B", {x.shape[1]}));
  c.setOutput(0, x);
  return Status::ok();
}

Status runInstanceNormalization(KernelContext &c) {
  const ir::Tensor &x = c.input(0);
  double epsilon = c.node.floatAttr("epsilon", 1e-5f);
  const ir::Shape &shape = x.shape();
  int64_t channels = shape[1], inner = product(shape, 2, shape.size());
  std::vector<double> scale = toDoubles(c.input(1)), bias = toDoubles(c.input(2));
  return visitFloating(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T *in = x.data<T>();
    T *out = c.output(0).data<T>();
    for (int64_t g = 0; g < shape[0] * channels; ++g) {
      size_t ch = static_cast<size_t>(g % channels);
      const T *xg = in + g * inner;
      T *yg = out + g * inner;
      MeanInvStd stats = meanInvStd(xg, inner, epsilon);
      double a = stats.invStd * scale[ch];
      for (int64_t i = 0; i < inner; ++i)
        yg[i] = static_cast<T>((static_cast<double>(xg[i]) - stats.mean) * a + bias[ch]);
    }
  });
}

// --- GroupNormalization -----------------------------------------------------------------------------------

/// Opset 18 gives scale and bias one value per group; opset 21 changed them to one value per channel.
int64_t groupNormParamSize(int64_t opset, int64_t groups, int64_t channels) {
  return opset >= 21 ? channels : groups;
}

Status inferGroupNormalization(InferContext &c) {
  FLUIDML_RETURN_IF_ERROR(checkInputs(c, 3, 3, {"X", "scale", "bias"}));
  FLUIDML_RETURN_IF_ERROR(requireFloating(c, 0, "X"));
  const ir::TensorType &x = c.inputType(0);
  if (x.rank() < 2)
    return Status::error("X must have rank 2 or more (N x C x ...), got " + ir::shapeToString(x.shape));
  if (c.node().attribute("num_groups") == nullptr) return Status::error("attribute num_groups is required");
  int64_t groups = c.node().intAttr("num_groups", 0);
  int64_t channels = x.shape[1];
  if (groups <= 0) return Status::error("num_groups must be positive, got " + std::to_string(groups));
  if (channels % groups != 0)
    return Status::error(std::to_string(channels) + " channels cannot be split into " + std::to_string(groups) +
                         " groups");
  int64_t paramSize = groupNormParamSize(c.opset(), groups, channels);
  FLUIDML_RETURN_IF_ERROR(requireParam(c, 1, "scale", {paramSize}));
  FLUIDML_RETURN_IF_ERROR(requireParam(c, 2, "bias", {paramSize}));
  c.setOutput(0, x);
  return Status::ok();
}

Status runGroupNormalization(KernelContext &c) {
  const ir::Tensor &x = c.input(0);
  double epsilon = c.node.floatAttr("epsilon", 1e-5f);
  const ir::Shape &shape = x.shape();
  int64_t channels = shape[1], inner = product(shape, 2, shape.size());
  int64_t groups = c.node.intAttr("num_groups", 1);
  int64_t perGroup = channels / groups;
  bool perChannelParams = c.opset >= 21;
  std::vector<double> scale = toDoubles(c.input(1)), bias = toDoubles(c.input(2));
  return visitFloating(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T *in = x.data<T>();
    T *out = c.output(0).data<T>();
    for (int64_t b = 0; b < shape[0]; ++b)
      for (int64_t g = 0; g < groups; ++g) {
        int64_t base = (b * channels + g * perGroup) * inner;
        MeanInvStd stats = meanInvStd(in + base, perGroup * inner, epsilon);
        for (int64_t ch = 0; ch < perGroup; ++ch) {
          size_t p = static_cast<size_t>(perChannelParams ? g * perGroup + ch : g);
          double a = stats.invStd * scale[p];
          for (int64_t i = base + ch * inner; i < base + (ch + 1) * inner; ++i)
            out[i] = static_cast<T>((static_cast<double>(in[i]) - stats.mean) * a + bias[p]);
        }
      }
  });
}

// --- LayerNormalization -----------------------------------------------------------------------------------

/// dtype of the optional Mean and InvStdDev outputs, chosen by stash_type.
Expected<ir::DType> stashType(const ir::Node &node) {
  int64_t stash = node.intAttr("stash_type", 1);
  if (stash == 1) return ir::DType::Float32;
  if (stash == 11) return ir::DType::Float64;
  return Status::error("stash_type " + std::to_string(stash) + " is not supported (1 = float32, 11 = float64)");
}

/// Scale and B must broadcast (one way) to the normalized shape X.shape[axis:]; leading 1s beyond its rank
/// are allowed (a [1, 768] scale for a [.., 768] normalization).
Status checkLayerNormParam(const InferContext &c, size_t i, const std::string &what, const ir::Shape &normalized,
                           ir::DType dtype) {
  if (!c.hasInput(i)) return Status::ok();
  const ir::TensorType &type = c.inputType(i);
  if (type.dtype != dtype)
    return Status::error(what + " must be " + dtypeString(dtype) + " like X, got " + dtypeString(type.dtype));
  const ir::Shape &s = type.shape;
  bool ok = true;
  for (size_t k = 0; k < s.size(); ++k) {
    int64_t fromEnd = static_cast<int64_t>(s.size() - k);  // 1 for the last dim
    if (fromEnd > static_cast<int64_t>(normalized.size())) {
      ok = ok && s[k] == 1;
      continue;
    }
    int64_t target = normalized[normalized.size() - static_cast<size_t>(fromEnd)];
    ok = ok && (s[k] == target || s[k] == 1);
  }
  if (!ok)
    return Status::error(what + " of shape " + ir::shapeToString(s) + " does not broadcast to the normalized shape " +
                         ir::shapeToString(normalized));
  return Status::ok();
}

/// A scale or bias expanded to one value per element of the normalized shape.
std::vector<double> expandParam(const ir::Tensor &t, const ir::Shape &normalized) {
  ir::Shape s = t.shape();
  while (s.size() > normalized.size()) s.erase(s.begin());  // leading 1s, checked by the type rule
  std::vector<double> values;
  values.reserve(static_cast<size_t>(ir::shapeNumel(normalized)));
  for (StridedIterator it(normalized, {broadcastStrides(s, normalized)}); !it.done(); it.next())
    values.push_back(t.elementAsDouble(it.offset(0)));
  return values;
}

Status inferLayerNormalization(InferContext &c) {
  FLUIDML_RETURN_IF_ERROR(checkInputs(c, 2, 3, {"X", "Scale", "B"}));
  FLUIDML_RETURN_IF_ERROR(requireFloating(c, 0, "X"));
  const ir::TensorType &x = c.inputType(0);
  if (x.rank() == 0) return Status::error("X must have rank 1 or more");
  FLUIDML_ASSIGN_OR_RETURN(int64_t axis, normalizeAxis(c.node().intAttr("axis", -1), static_cast<int64_t>(x.rank())));
  FLUIDML_ASSIGN_OR_RETURN(ir::DType stash, stashType(c.node()));
  ir::Shape normalized(x.shape.begin() + axis, x.shape.end());
  FLUIDML_RETURN_IF_ERROR(checkLayerNormParam(c, 1, "Scale", normalized, x.dtype));
  FLUIDML_RETURN_IF_ERROR(checkLayerNormParam(c, 2, "B", normalized, x.dtype));
  ir::Shape statsShape = x.shape;
  for (size_t d = static_cast<size_t>(axis); d < statsShape.size(); ++d) statsShape[d] = 1;
  c.setOutput(0, x);
  c.setOutput(1, ir::TensorType(stash, statsShape));
  c.setOutput(2, ir::TensorType(stash, statsShape));
  return Status::ok();
}

void setStat(ir::Tensor *t, int64_t i, double value) {
  if (t == nullptr) return;
  if (t->dtype() == ir::DType::Float64)
    t->data<double>()[i] = value;
  else
    t->data<float>()[i] = static_cast<float>(value);
}

Status runLayerNormalization(KernelContext &c) {
  const ir::Tensor &x = c.input(0);
  const ir::Shape &shape = x.shape();
  FLUIDML_ASSIGN_OR_RETURN(int64_t axis, normalizeAxis(c.node.intAttr("axis", -1), static_cast<int64_t>(shape.size())));
  double epsilon = c.node.floatAttr("epsilon", 1e-5f);
  ir::Shape normalized(shape.begin() + axis, shape.end());
  int64_t rows = product(shape, 0, static_cast<size_t>(axis));
  int64_t width = ir::shapeNumel(normalized);
  std::vector<double> scale = expandParam(c.input(1), normalized);
  std::vector<double> bias = c.hasInput(2) ? expandParam(c.input(2), normalized)
                                           : std::vector<double>(static_cast<size_t>(width), 0.0);
  ir::Tensor *meanOut = c.hasOutput(1) ? &c.output(1) : nullptr;
  ir::Tensor *invStdOut = c.hasOutput(2) ? &c.output(2) : nullptr;
  return visitFloating(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T *in = x.data<T>();
    T *out = c.output(0).data<T>();
    for (int64_t r = 0; r < rows; ++r) {
      const T *xr = in + r * width;
      T *yr = out + r * width;
      MeanInvStd stats = meanInvStd(xr, width, epsilon);
      for (int64_t i = 0; i < width; ++i) {
        size_t k = static_cast<size_t>(i);
        yr[i] = static_cast<T>((static_cast<double>(xr[i]) - stats.mean) * stats.invStd * scale[k] + bias[k]);
      }
      setStat(meanOut, r, stats.mean);
      setStat(invStdOut, r, stats.invStd);
    }
  });
}

// --- MeanVarianceNormalization ----------------------------------------------------------------------------

Expected<std::vector<bool>> mvnReducedAxes(const ir::Node &node, int64_t rank) {
  std::vector<int64_t> axes = node.intsAttr("axes").value_or(std::vector<int64_t>{0, 2, 3});
  FLUIDML_ASSIGN_OR_RETURN(std::vector<int64_t> normalized, normalizeAxes(axes, rank));
  std::vector<bool> reduced(static_cast<size_t>(rank), false);
  for (int64_t a : normalized) reduced[static_cast<size_t>(a)] = true;
  return reduced;
}

Status inferMeanVarianceNormalization(InferContext &c) {
  FLUIDML_RETURN_IF_ERROR(checkInputs(c, 1, 1, {"X"}));
  FLUIDML_RETURN_IF_ERROR(requireFloating(c, 0, "X"));
  FLUIDML_ASSIGN_OR_RETURN(std::vector<bool> reduced,
                           mvnReducedAxes(c.node(), static_cast<int64_t>(c.inputType(0).rank())));
  (void)reduced;
  c.setOutput(0, c.inputType(0));
  return Status::ok();
}

/// Y = (X - mean) / (sqrt(variance) + 1e-9) over `axes`, as the ONNX function body defines it.
Status runMeanVarianceNormalization(KernelContext &c) {
  const ir::Tensor &x = c.input(0);
  const ir::Shape &shape = x.shape();
  FLUIDML_ASSIGN_OR_RETURN(std::vector<bool> reduced, mvnReducedAxes(c.node, static_cast<int64_t>(shape.size())));
  // Each element belongs to the group named by its kept coordinates; reduced dims get group stride 0.
  ir::Shape groupShape = shape;
  for (size_t d = 0; d < shape.size(); ++d)
    if (reduced[d]) groupShape[d] = 1;
  std::vector<int64_t> groupStrides = broadcastStrides(groupShape, shape);
  std::vector<int64_t> inStrides = ir::rowMajorStrides(shape);
  size_t groups = static_cast<size_t>(ir::shapeNumel(groupShape));
  double count = static_cast<double>(ir::shapeNumel(shape)) / static_cast<double>(std::max<size_t>(groups, 1));
  std::vector<double> mean(groups, 0.0), denom(groups, 0.0);
  return visitFloating(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T *in = x.data<T>();
    T *out = c.output(0).data<T>();
    for (StridedIterator it(shape, {inStrides, groupStrides}); !it.done(); it.next())
      mean[static_cast<size_t>(it.offset(1))] += static_cast<double>(in[it.offset(0)]);
    for (double &m : mean) m /= count;
    for (StridedIterator it(shape, {inStrides, groupStrides}); !it.done(); it.next()) {
      double d = static_cast<double>(in[it.offset(0)]) - mean[static_cast<size_t>(it.offset(1))];
      denom[static_cast<size_t>(it.offset(1))] += d * d;
    }
    for (double &v : denom) v = std::sqrt(v / count) + 1e-9;
    for (StridedIterator it(shape, {inStrides, groupStrides}); !it.done(); it.next()) {
      size_t g = static_cast<size_t>(it.offset(1));
      out[it.offset(0)] = static_cast<T>((static_cast<double>(in[it.offset(0)]) - mean[g]) / denom[g]);
    }
  });
}

}  // namespace

void registerNormalizationOps(OpRegistry &registry) {
  const std::string family = "normalization";
  registry.add(OpSchema{"BatchNormalization", "", 7, inferBatchNormalization, runBatchNormalization, {}, family});
  registry.add(
      OpSchema{"InstanceNormalization", "", 1, inferInstanceNormalization, runInstanceNormalization, {}, family});
  registry.add(OpSchema{"LayerNormalization", "", 17, inferLayerNormalization, runLayerNormalization, {}, family});
  registry.add(OpSchema{"GroupNormalization", "", 18, inferGroupNormalization, runGroupNormalization, {}, family});
  registry.add(OpSchema{"MeanVarianceNormalization", "", 9, inferMeanVarianceNormalization,
                        runMeanVarianceNormalization, {}, family});
  registry.add(OpSchema{"LpNormalization", "", 1, inferLpNormalization, runLpNormalization, {}, family});
  registry.add(OpSchema{"Softmax", "", 1, inferSoftmax, runSoftmax<SoftmaxKind::Softmax>, {}, family});
  registry.add(OpSchema{"LogSoftmax", "", 1, inferSoftmax, runSoftmax<SoftmaxKind::LogSoftmax>, {}, family});
  registry.add(OpSchema{"Hardmax", "", 1, inferSoftmax, runSoftmax<SoftmaxKind::Hardmax>, {}, family});
  registerReduceOps(registry);
}

}  // namespace fluidml::ops
