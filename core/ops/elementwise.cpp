// Elementwise operators: unary math and activations, binary arithmetic, comparisons and logic with numpy
// multidirectional broadcasting, the variadic Sum/Mean/Min/Max, Where, Clip, Pow with mixed dtypes, Cast.
//
// Broadcasting: the output is walked in runs along its innermost dimension after coalescing adjacent
// dimensions that every operand reads contiguously (or broadcasts entirely), so `[B,S,768] + [768]` costs one
// strided-iterator step per 768 elements. Same-shape and scalar operands skip the plan altogether.
// Each op is a small functor (with its attributes read once per node) plugged into a generic kernel; the
// dtype classes an op accepts are declared once and checked by both its type rule and its kernel.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "core/ops/op_helpers.h"
#include "core/ops/op_registry.h"

namespace fluidml::ops {
namespace {

using ir::DType;
using ir::Shape;
using ir::Tensor;

// --- dtype classes ------------------------------------------------------------------------------------

enum class Accepts { Floating, Numeric, Bool, Any, UInt8 };

template <Accepts A, typename T>
constexpr bool acceptsType() {
  if constexpr (A == Accepts::Floating) return std::is_floating_point_v<T>;
  if constexpr (A == Accepts::Numeric) return !std::is_same_v<T, bool>;
  if constexpr (A == Accepts::Bool) return std::is_same_v<T, bool>;
  if constexpr (A == Accepts::UInt8) return std::is_same_v<T, uint8_t>;
  return true;
}

bool acceptsDType(Accepts accepts, DType dtype) {
  return ir::visitDType(dtype, [&](auto tag) {
    using T = decltype(tag);
    switch (accepts) {
      case Accepts::Floating: return acceptsType<Accepts::Floating, T>();
      case Accepts::Numeric: return acceptsType<Accepts::Numeric, T>();
      case Accepts::Bool: return acceptsType<Accepts::Bool, T>();
      case Accepts::UInt8: return acceptsType<Accepts::UInt8, T>();
      case Accepts::Any: return true;
    }
    return true;
  });
}

std::string acceptsText(Accepts accepts) {
  switch (accepts) {
    case Accepts::Floating: return "float32 or float64";
    case Accepts::Numeric: return "a numeric dtype (not bool)";
    case Accepts::Bool: return "bool";
    case Accepts::UInt8: return "uint8 (the only supported unsigned dtype)";
    case Accepts::Any: return "any dtype";
  }
  return "";
}

std::string dtypeText(DType dtype) { return std::string(ir::dtypeName(dtype)); }

// Reached only when a kernel runs on a node whose type rule was skipped or bypassed.
Status kernelDTypeError(const KernelContext &c, DType dtype) {
  return Status::error(c.node.opType + " has no kernel for dtype " + dtypeText(dtype));
}

// --- type-rule helpers --------------------------------------------------------------------------------

Status expectInputCount(const InferContext &c, size_t minCount, size_t maxCount) {
  size_t n = c.inputCount();
  if (n < minCount || n > maxCount) {
    std::string expected = minCount == maxCount ? std::to_string(minCount)
                           : maxCount == SIZE_MAX ? "at least " + std::to_string(minCount)
                                                  : std::to_string(minCount) + " to " + std::to_string(maxCount);
    return Status::error(c.node().opType + " expects " + expected + " input" + (maxCount == 1 ? "" : "s") +
                         ", got " + std::to_string(n));
  }
  for (size_t i = 0; i < minCount; ++i)
    if (!c.hasInput(i)) return Status::error("required input " + std::to_string(i) + " is missing");
  return Status::ok();
}

Status expectDType(const InferContext &c, size_t input, Accepts accepts) {
  DType dtype = c.inputType(input).dtype;
  if (acceptsDType(accepts, dtype)) return Status::ok();
  return Status::error("input " + std::to_string(input) + " has dtype " + dtypeText(dtype) + "; " +
                       c.node().opType + " expects " + acceptsText(accepts));
}

Status expectSameDType(const InferContext &c, size_t a, size_t b) {
  DType da = c.inputType(a).dtype;
  DType db = c.inputType(b).dtype;
  if (da == db) return Status::ok();
  return Status::error("inputs " + std::to_string(a) + " and " + std::to_string(b) +
                       " must have the same dtype, got " + dtypeText(da) + " and " + dtypeText(db));
}

// Before opset 7, binary ops broadcast only with `broadcast=1`, aligning B to A at `axis`. The suffix
// alignment (no axis, or the trailing axis) is numpy broadcasting of B onto A's shape; other axes are not.
Status checkLegacyBroadcast(const InferContext &c, const Shape &a, const Shape &b, const Shape &out) {
  if (c.opset() >= 7 || a == b) return Status::ok();
  const ir::Node &node = c.node();
  if (node.intAttr("broadcast", 0) == 0)
    return Status::error("shapes " + ir::shapeToString(a) + " and " + ir::shapeToString(b) +
                         " differ and the 'broadcast' attribute is not set (required before opset 7)");
  if (node.attribute("axis") != nullptr) {
    int64_t axis = node.intAttr("axis", 0);
    int64_t trailing = static_cast<int64_t>(a.size()) - static_cast<int64_t>(b.size());
    if (axis != trailing && axis != -static_cast<int64_t>(b.size()))
      return Status::error("legacy broadcasting (opset < 7) along axis " + std::to_string(axis) +
                           " is not supported; only trailing alignment is (re-export the model with opset >= 7)");
  }
  if (out != a)
    return Status::error("legacy broadcasting (opset < 7) of shape " + ir::shapeToString(b) + " onto " +
                         ir::shapeToString(a) + " is not possible");
  return Status::ok();
}

// --- broadcasting engine ------------------------------------------------------------------------------

/// The broadcast output walked as runs along the innermost coalesced dimension. Within a run every input
/// advances by 0 (broadcast) or 1 element per output element.
template <size_t N>
class BroadcastRuns {
 public:
  BroadcastRuns(const Shape &out, const std::array<const Shape *, N> &ins) {
    struct Dim {
      int64_t size;
      std::array<int64_t, N> strides;
    };
    std::array<std::vector<int64_t>, N> full;
    for (size_t k = 0; k < N; ++k) full[k] = broadcastStrides(*ins[k], out);
    std::vector<Dim> dims;  // innermost first
    for (size_t d = out.size(); d-- > 0;) {
      if (out[d] == 1) continue;
      Dim cur{out[d], {}};
      for (size_t k = 0; k < N; ++k) cur.strides[k] = full[k][d];
      if (!dims.empty()) {
        Dim &last = dims.back();
        bool contiguous = true;
        for (size_t k = 0; k < N; ++k) contiguous = contiguous && cur.strides[k] == last.strides[k] * last.size;
        if (contiguous) {
          last.size *= cur.size;
          continue;
        }
      }
      dims.push_back(cur);
    }
    innerStrides_.fill(0);
    if (dims.empty()) return;
    inner_ = dims[0].size;
    innerStrides_ = dims[0].strides;
    outerStrides_.assign(N, {});
    for (size_t i = dims.size(); i-- > 1;) {
      outerShape_.push_back(dims[i].size);
      for (size_t k = 0; k < N; ++k) outerStrides_[k].push_back(dims[i].strides[k]);
    }
  }

  /// Calls fn(outOffset, inputOffsets, innerStrides, length) once per run, in output order.
  template <typename Fn>
  void forEach(Fn &&fn) const {
    std::array<int64_t, N> offsets{};
    if (outerShape_.empty()) {
      fn(int64_t{0}, offsets, innerStrides_, inner_);
      return;
    }
    int64_t outOffset = 0;
    for (StridedIterator it(outerShape_, outerStrides_); !it.done(); it.next(), outOffset += inner_) {
      for (size_t k = 0; k < N; ++k) offsets[k] = it.offset(k);
      fn(outOffset, offsets, innerStrides_, inner_);
    }
  }

 private:
  Shape outerShape_;
  std::vector<std::vector<int64_t>> outerStrides_;
  int64_t inner_ = 1;
  std::array<int64_t, N> innerStrides_{};
};

/// out[i] = f(a[i'], b[i'']) with broadcasting. Safe when `out` aliases a same-sized input.
template <typename TA, typename TB, typename TO, typename F>
void binaryLoop(const Tensor &a, const Tensor &b, Tensor &out, F &&f) {
  const TA *pa = a.data<TA>();
  const TB *pb = b.data<TB>();
  TO *po = out.data<TO>();
  const int64_t n = out.numel();
  if (n == 0) return;
  const int64_t na = a.numel();
  const int64_t nb = b.numel();
  if (na == n && nb == n) {
    for (int64_t i = 0; i < n; ++i) po[i] = f(pa[i], pb[i]);
    return;
  }
  if (na == n && nb == 1) {
    const TB bv = pb[0];
    for (int64_t i = 0; i < n; ++i) po[i] = f(pa[i], bv);
    return;
  }
  if (na == 1 && nb == n) {
    const TA av = pa[0];
    for (int64_t i = 0; i < n; ++i) po[i] = f(av, pb[i]);
    return;
  }
  BroadcastRuns<2> runs(out.shape(), {&a.shape(), &b.shape()});
  runs.forEach([&](int64_t o, const std::array<int64_t, 2> &off, const std::array<int64_t, 2> &st, int64_t len) {
    const TA *ra = pa + off[0];
    const TB *rb = pb + off[1];
    TO *ro = po + o;
    if (st[0] == 1 && st[1] == 1) {
      for (int64_t i = 0; i < len; ++i) ro[i] = f(ra[i], rb[i]);
    } else if (st[0] == 1) {
      const TB bv = rb[0];
      for (int64_t i = 0; i < len; ++i) ro[i] = f(ra[i], bv);
    } else if (st[1] == 1) {
      const TA av = ra[0];
      for (int64_t i = 0; i < len; ++i) ro[i] = f(av, rb[i]);
    } else {
      const TO v = f(ra[0], rb[0]);
      for (int64_t i = 0; i < len; ++i) ro[i] = v;
    }
  });
}

/// Copies `in` broadcast to the shape of `out` (same dtype).
template <typename T>
void broadcastCopy(const Tensor &in, Tensor &out) {
  const T *pi = in.data<T>();
  T *po = out.data<T>();
  const int64_t n = out.numel();
  if (n == 0) return;
  if (in.numel() == n) {
    if (pi != po) std::copy(pi, pi + n, po);
    return;
  }
  BroadcastRuns<1> runs(out.shape(), {&in.shape()});
  runs.forEach([&](int64_t o, const std::array<int64_t, 1> &off, const std::array<int64_t, 1> &st, int64_t len) {
    if (st[0] == 1)
      std::copy(pi + off[0], pi + off[0] + len, po + o);
    else
      std::fill(po + o, po + o + len, pi[off[0]]);
  });
}

// --- scalar helpers -----------------------------------------------------------------------------------

// Integer arithmetic wraps (two's complement) instead of overflowing into undefined behaviour.
template <typename T>
T wrapAdd(T a, T b) {
  if constexpr (std::is_integral_v<T>) {
    using U = std::make_unsigned_t<T>;
    return static_cast<T>(static_cast<U>(static_cast<U>(a) + static_cast<U>(b)));
  } else {
    return a + b;
  }
}
template <typename T>
T wrapSub(T a, T b) {
  if constexpr (std::is_integral_v<T>) {
    using U = std::make_unsigned_t<T>;
    return static_cast<T>(static_cast<U>(static_cast<U>(a) - static_cast<U>(b)));
  } else {
    return a - b;
  }
}
template <typename T>
T wrapMul(T a, T b) {
  if constexpr (std::is_integral_v<T>) {
    using U = std::make_unsigned_t<T>;
    // uint8/int8 promote to int; the product of two bytes always fits.
    return static_cast<T>(static_cast<U>(static_cast<U>(a) * static_cast<U>(b)));
  } else {
    return a * b;
  }
}
template <typename T>
T wrapNeg(T a) {
  if constexpr (std::is_integral_v<T>) {
    using U = std::make_unsigned_t<T>;
    return static_cast<T>(static_cast<U>(U{0} - static_cast<U>(a)));
  } else {
    return -a;
  }
}

/// Converts one element as Cast does: float to integer truncates toward zero (NaN gives 0, out-of-range
/// values saturate, where C++ would be undefined), anything to bool is `!= 0`.
template <typename To, typename From>
To convertValue(From v) {
  if constexpr (std::is_same_v<To, bool>) {
    return v != From(0);
  } else if constexpr (std::is_floating_point_v<From> && std::is_integral_v<To>) {
    if (std::isnan(v)) return To(0);
    if (v <= static_cast<From>(std::numeric_limits<To>::lowest())) return std::numeric_limits<To>::lowest();
    if (v >= static_cast<From>(std::numeric_limits<To>::max())) return std::numeric_limits<To>::max();
    return static_cast<To>(v);
  } else {
    return static_cast<To>(v);
  }
}

/// True when `t` holds a zero element (integer division and modulo are checked before running).
template <typename T>
bool hasZero(const Tensor &t) {
  const T *p = t.data<T>();
  return std::find(p, p + t.numel(), T(0)) != p + t.numel();
}

// --- op functors --------------------------------------------------------------------------------------
// A functor is built from the node (reading its attributes once) and applied per element. kAccepts is the
// input dtype class; kBoolOut makes the output bool; kIntegerDivisor asks the kernel to reject a zero
// second operand for integer dtypes.

struct OpTraits {
  static constexpr bool kBoolOut = false;
  static constexpr bool kIntegerDivisor = false;
};
struct FloatOp : OpTraits {
  static constexpr Accepts kAccepts = Accepts::Floating;
  explicit FloatOp(const ir::Node &) {}
};
struct NumericOp : OpTraits {
  static constexpr Accepts kAccepts = Accepts::Numeric;
  explicit NumericOp(const ir::Node &) {}
};
struct BoolOp : OpTraits {
  static constexpr Accepts kAccepts = Accepts::Bool;
  explicit BoolOp(const ir::Node &) {}
};
struct CompareOp : OpTraits {
  static constexpr Accepts kAccepts = Accepts::Numeric;
  static constexpr bool kBoolOut = true;
  explicit CompareOp(const ir::Node &) {}
};

// Unary, floating point.
#define FLUIDML_FLOAT_UNARY(Name, expr)                  \
  struct Name : FloatOp {                                \
    using FloatOp::FloatOp;                              \
    template <typename T>                                \
    T operator()(T x) const {                            \
      return expr;                                       \
    }                                                    \
  };
FLUIDML_FLOAT_UNARY(SqrtOp, std::sqrt(x))
FLUIDML_FLOAT_UNARY(ReciprocalOp, T(1) / x)
FLUIDML_FLOAT_UNARY(ExpOp, std::exp(x))
FLUIDML_FLOAT_UNARY(LogOp, std::log(x))
FLUIDML_FLOAT_UNARY(ErfOp, std::erf(x))
FLUIDML_FLOAT_UNARY(TanhOp, std::tanh(x))
FLUIDML_FLOAT_UNARY(SinOp, std::sin(x))
FLUIDML_FLOAT_UNARY(CosOp, std::cos(x))
FLUIDML_FLOAT_UNARY(TanOp, std::tan(x))
FLUIDML_FLOAT_UNARY(AsinOp, std::asin(x))
FLUIDML_FLOAT_UNARY(AcosOp, std::acos(x))
FLUIDML_FLOAT_UNARY(AtanOp, std::atan(x))
FLUIDML_FLOAT_UNARY(SinhOp, std::sinh(x))
FLUIDML_FLOAT_UNARY(CoshOp, std::cosh(x))
FLUIDML_FLOAT_UNARY(AsinhOp, std::asinh(x))
FLUIDML_FLOAT_UNARY(AcoshOp, std::acosh(x))
FLUIDML_FLOAT_UNARY(AtanhOp, std::atanh(x))
FLUIDML_FLOAT_UNARY(FloorOp, std::floor(x))
FLUIDML_FLOAT_UNARY(CeilOp, std::ceil(x))
// nearbyint in the default rounding mode rounds half to even, as ONNX requires.
FLUIDML_FLOAT_UNARY(RoundOp, std::nearbyint(x))
FLUIDML_FLOAT_UNARY(SoftsignOp, x / (T(1) + std::abs(x)))
FLUIDML_FLOAT_UNARY(HardSwishOp, x * std::max(T(0), std::min(T(1), x / T(6) + T(0.5))))
#undef FLUIDML_FLOAT_UNARY

// Stable forms: never exponentiate a large positive number.
template <typename T>
T sigmoid(T x) {
  if (x >= T(0)) return T(1) / (T(1) + std::exp(-x));
  T e = std::exp(x);
  return e / (T(1) + e);
}
template <typename T>
T softplus(T x) {
  return x > T(0) ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x));
}

struct SigmoidOp : FloatOp {
  using FloatOp::FloatOp;
  template <typename T> T operator()(T x) const { return sigmoid(x); }
};
struct SoftplusOp : FloatOp {
  using FloatOp::FloatOp;
  template <typename T> T operator()(T x) const { return softplus(x); }
};
struct MishOp : FloatOp {
  using FloatOp::FloatOp;
  template <typename T> T operator()(T x) const { return x * std::tanh(softplus(x)); }
};

struct EluOp : FloatOp {
  float alpha;
  explicit EluOp(const ir::Node &n) : FloatOp(n), alpha(n.floatAttr("alpha", 1.0f)) {}
  template <typename T> T operator()(T x) const { return x >= T(0) ? x : T(alpha) * std::expm1(x); }
};
struct CeluOp : FloatOp {
  float alpha;
  explicit CeluOp(const ir::Node &n) : FloatOp(n), alpha(n.floatAttr("alpha", 1.0f)) {}
  template <typename T> T operator()(T x) const { return x >= T(0) ? x : T(alpha) * std::expm1(x / T(alpha)); }
};
struct SeluOp : FloatOp {
  float alpha, gamma;
  explicit SeluOp(const ir::Node &n)
      : FloatOp(n), alpha(n.floatAttr("alpha", 1.67326319217681884765625f)),
        gamma(n.floatAttr("gamma", 1.05070102214813232421875f)) {}
  template <typename T> T operator()(T x) const {
    return T(gamma) * (x > T(0) ? x : T(alpha) * std::exp(x) - T(alpha));
  }
};
struct LeakyReluOp : FloatOp {
  float alpha;
  explicit LeakyReluOp(const ir::Node &n) : FloatOp(n), alpha(n.floatAttr("alpha", 0.01f)) {}
  template <typename T> T operator()(T x) const { return x < T(0) ? T(alpha) * x : x; }
};
struct HardSigmoidOp : FloatOp {
  float alpha, beta;
  explicit HardSigmoidOp(const ir::Node &n)
      : FloatOp(n), alpha(n.floatAttr("alpha", 0.2f)), beta(n.floatAttr("beta", 0.5f)) {}
  template <typename T> T operator()(T x) const {
    return std::max(T(0), std::min(T(1), T(alpha) * x + T(beta)));
  }
};
struct ThresholdedReluOp : FloatOp {
  float alpha;
  explicit ThresholdedReluOp(const ir::Node &n) : FloatOp(n), alpha(n.floatAttr("alpha", 1.0f)) {}
  template <typename T> T operator()(T x) const { return x > T(alpha) ? x : T(0); }
};
struct IsNaNOp : FloatOp {
  static constexpr bool kBoolOut = true;
  using FloatOp::FloatOp;
  template <typename T> bool operator()(T x) const { return std::isnan(x); }
};
struct IsInfOp : FloatOp {
  static constexpr bool kBoolOut = true;
  bool positive, negative;
  explicit IsInfOp(const ir::Node &n)
      : FloatOp(n), positive(n.intAttr("detect_positive", 1) != 0), negative(n.intAttr("detect_negative", 1) != 0) {}
  template <typename T> bool operator()(T x) const {
    return std::isinf(x) && (x > T(0) ? positive : negative);
  }
};

// Unary, numeric.
struct NegOp : NumericOp {
  using NumericOp::NumericOp;
  template <typename T> T operator()(T x) const { return wrapNeg(x); }
};
struct AbsOp : NumericOp {
  using NumericOp::NumericOp;
  template <typename T> T operator()(T x) const { return x < T(0) ? wrapNeg(x) : x; }
};
struct SignOp : NumericOp {
  using NumericOp::NumericOp;
  // Zero and NaN map to themselves.
  template <typename T> T operator()(T x) const { return x > T(0) ? T(1) : x < T(0) ? T(-1) : x; }
};
struct ReluOp : NumericOp {
  using NumericOp::NumericOp;
  template <typename T> T operator()(T x) const { return x < T(0) ? T(0) : x; }
};
struct ShrinkOp : NumericOp {
  float lambd, bias;
  explicit ShrinkOp(const ir::Node &n)
      : NumericOp(n), lambd(n.floatAttr("lambd", 0.5f)), bias(n.floatAttr("bias", 0.0f)) {}
  template <typename T> T operator()(T x) const {
    double v = static_cast<double>(x);
    if (v < -lambd) return convertValue<T>(v + bias);
    if (v > lambd) return convertValue<T>(v - bias);
    return T(0);
  }
};

struct NotOp : BoolOp {
  using BoolOp::BoolOp;
  bool operator()(bool x) const { return !x; }
};

// Binary, same dtype in and out.
struct AddOp : NumericOp {
  using NumericOp::NumericOp;
  template <typename T> T operator()(T a, T b) const { return wrapAdd(a, b); }
};
struct SubOp : NumericOp {
  using NumericOp::NumericOp;
  template <typename T> T operator()(T a, T b) const { return wrapSub(a, b); }
};
struct MulOp : NumericOp {
  using NumericOp::NumericOp;
  template <typename T> T operator()(T a, T b) const { return wrapMul(a, b); }
};
struct DivOp : NumericOp {
  static constexpr bool kIntegerDivisor = true;
  using NumericOp::NumericOp;
  // Integers truncate toward zero (C semantics); dividing the minimum by -1 wraps instead of trapping.
  template <typename T> T operator()(T a, T b) const {
    if constexpr (std::is_integral_v<T> && std::is_signed_v<T>) {
      if (b == T(-1)) return wrapNeg(a);
    }
    return static_cast<T>(a / b);
  }
};
struct ModOp : NumericOp {
  static constexpr bool kIntegerDivisor = true;
  bool fmod;
  explicit ModOp(const ir::Node &n) : NumericOp(n), fmod(n.intAttr("fmod", 0) != 0) {}
  // fmod=0: the result takes the sign of the divisor (Python's %); fmod=1: of the dividend (C's fmod).
  template <typename T> T operator()(T a, T b) const {
    if constexpr (std::is_floating_point_v<T>) {
      return std::fmod(a, b);
    } else {
      if constexpr (std::is_signed_v<T>) {
        if (b == T(-1)) return T(0);
      }
      T r = static_cast<T>(a % b);
      if constexpr (std::is_signed_v<T>) {
        if (!fmod && r != 0 && ((r < 0) != (b < 0))) r = static_cast<T>(r + b);
      }
      return r;
    }
  }
};
// Min and Max propagate NaN, as numpy's minimum/maximum do.
struct MinOp : NumericOp {
  using NumericOp::NumericOp;
  template <typename T> T operator()(T a, T b) const { return (a < b || a != a) ? a : b; }
};
struct MaxOp : NumericOp {
  using NumericOp::NumericOp;
  template <typename T> T operator()(T a, T b) const { return (a > b || a != a) ? a : b; }
};
struct PReluOp : NumericOp {
  using NumericOp::NumericOp;
  template <typename T> T operator()(T x, T slope) const { return x < T(0) ? wrapMul(x, slope) : x; }
};
struct BitShiftOp : OpTraits {
  static constexpr Accepts kAccepts = Accepts::UInt8;
  bool left;
  explicit BitShiftOp(const ir::Node &n) : left(n.stringAttr("direction", "") == "LEFT") {}
  template <typename T> T operator()(T x, T shift) const {
    if (shift >= T(8 * sizeof(T))) return T(0);
    return static_cast<T>(left ? x << shift : x >> shift);
  }
};
struct AndOp : BoolOp {
  using BoolOp::BoolOp;
  bool operator()(bool a, bool b) const { return a && b; }
};
struct OrOp : BoolOp {
  using BoolOp::BoolOp;
  bool operator()(bool a, bool b) const { return a || b; }
};
struct XorOp : BoolOp {
  using BoolOp::BoolOp;
  bool operator()(bool a, bool b) const { return a != b; }
};

// Comparisons (bool output).
struct EqualOp : CompareOp {
  static constexpr Accepts kAccepts = Accepts::Any;
  using CompareOp::CompareOp;
  template <typename T> bool operator()(T a, T b) const { return a == b; }
};
struct LessOp : CompareOp {
  using CompareOp::CompareOp;
  template <typename T> bool operator()(T a, T b) const { return a < b; }
};
struct GreaterOp : CompareOp {
  using CompareOp::CompareOp;
  template <typename T> bool operator()(T a, T b) const { return a > b; }
};
struct LessOrEqualOp : CompareOp {
  using CompareOp::CompareOp;
  template <typename T> bool operator()(T a, T b) const { return a <= b; }
};
struct GreaterOrEqualOp : CompareOp {
  using CompareOp::CompareOp;
  template <typename T> bool operator()(T a, T b) const { return a >= b; }
};

// --- generic type rules and kernels -------------------------------------------------------------------

template <typename Op>
Status unaryInfer(InferContext &c) {
  FLUIDML_RETURN_IF_ERROR(expectInputCount(c, 1, 1));
  FLUIDML_RETURN_IF_ERROR(expectDType(c, 0, Op::kAccepts));
  const ir::TensorType &x = c.inputType(0);
  c.setOutput(0, ir::TensorType(Op::kBoolOut ? DType::Bool : x.dtype, x.shape));
  return Status::ok();
}

template <typename Op>
Status unaryKernel(KernelContext &c) {
  if (!c.hasOutput(0)) return Status::ok();
  const Tensor &x = c.input(0);
  Tensor &out = c.output(0);
  const Op op(c.node);
  return ir::visitDType(x.dtype(), [&](auto tag) -> Status {
    using T = decltype(tag);
    if constexpr (!acceptsType<Op::kAccepts, T>()) {
      return kernelDTypeError(c, x.dtype());
    } else {
      using O = std::conditional_t<Op::kBoolOut, bool, T>;
      const T *px = x.data<T>();
      O *po = out.data<O>();
      const int64_t n = out.numel();
      for (int64_t i = 0; i < n; ++i) po[i] = static_cast<O>(op(px[i]));
      return Status::ok();
    }
  });
}

template <typename Op>
Status binaryInfer(InferContext &c) {
  FLUIDML_RETURN_IF_ERROR(expectInputCount(c, 2, 2));
  FLUIDML_RETURN_IF_ERROR(expectDType(c, 0, Op::kAccepts));
  FLUIDML_RETURN_IF_ERROR(expectSameDType(c, 0, 1));
  const ir::TensorType &a = c.inputType(0);
  const ir::TensorType &b = c.inputType(1);
  FLUIDML_ASSIGN_OR_RETURN(Shape shape, broadcastShapes(a.shape, b.shape));
  FLUIDML_RETURN_IF_ERROR(checkLegacyBroadcast(c, a.shape, b.shape, shape));
  c.setOutput(0, ir::TensorType(Op::kBoolOut ? DType::Bool : a.dtype, std::move(shape)));
  return Status::ok();
}

template <typename Op>
Status binaryKernel(KernelContext &c) {
  if (!c.hasOutput(0)) return Status::ok();
  const Tensor &a = c.input(0);
  const Tensor &b = c.input(1);
  Tensor &out = c.output(0);
  const Op op(c.node);
  return ir::visitDType(a.dtype(), [&](auto tag) -> Status {
    using T = decltype(tag);
    if constexpr (!acceptsType<Op::kAccepts, T>()) {
      return kernelDTypeError(c, a.dtype());
    } else {
      if constexpr (Op::kIntegerDivisor && std::is_integral_v<T>) {
        if (hasZero<T>(b)) return Status::error("integer division by zero");
      }
      using O = std::conditional_t<Op::kBoolOut, bool, T>;
      binaryLoop<T, T, O>(a, b, out, [&](T x, T y) { return static_cast<O>(op(x, y)); });
      return Status::ok();
    }
  });
}

// Sum, Mean, Min, Max: one or more inputs of one dtype, broadcast together.
template <Accepts A>
Status variadicInfer(InferContext &c) {
  FLUIDML_RETURN_IF_ERROR(expectInputCount(c, 1, SIZE_MAX));
  for (size_t i = 0; i < c.inputCount(); ++i)
    if (!c.hasInput(i)) return Status::error("input " + std::to_string(i) + " is missing");
  FLUIDML_RETURN_IF_ERROR(expectDType(c, 0, A));
  Shape shape = c.inputType(0).shape;
  for (size_t i = 1; i < c.inputCount(); ++i) {
    FLUIDML_RETURN_IF_ERROR(expectSameDType(c, 0, i));
    FLUIDML_ASSIGN_OR_RETURN(shape, broadcastShapes(shape, c.inputType(i).shape));
  }
  c.setOutput(0, ir::TensorType(c.inputType(0).dtype, std::move(shape)));
  return Status::ok();
}

/// Folds the inputs into the output with `op`, then applies `finish(out)`.
template <typename T, typename Op, typename Finish>
void variadicFold(const KernelContext &c, Tensor &out, const Op &op, Finish &&finish) {
  // Start from an input that aliases the output (in-place execution) so that it is read before being
  // overwritten; any other input sharing the output's buffer is copied first. The ops are commutative.
  size_t first = 0;
  for (size_t i = 0; i < c.inputs.size(); ++i)
    if (c.input(i).rawData() == out.rawData()) first = i;
  std::vector<Tensor> copies;
  std::vector<const Tensor *> rest;
  for (size_t i = 0; i < c.inputs.size(); ++i) {
    if (i == first) continue;
    if (c.input(i).rawData() == out.rawData()) {
      copies.push_back(c.input(i).clone());
      rest.push_back(nullptr);
    } else {
      rest.push_back(&c.input(i));
    }
  }
  size_t copyIndex = 0;
  for (const Tensor *&t : rest)
    if (t == nullptr) t = &copies[copyIndex++];
  broadcastCopy<T>(c.input(first), out);
  for (const Tensor *t : rest) binaryLoop<T, T, T>(out, *t, out, [&](T x, T y) { return op(x, y); });
  finish(out);
}

template <typename Op>
Status variadicKernel(KernelContext &c) {
  if (!c.hasOutput(0)) return Status::ok();
  Tensor &out = c.output(0);
  const Op op(c.node);
  return ir::visitDType(out.dtype(), [&](auto tag) -> Status {
    using T = decltype(tag);
    if constexpr (!acceptsType<Op::kAccepts, T>()) {
      return kernelDTypeError(c, out.dtype());
    } else {
      variadicFold<T>(c, out, op, [](Tensor &) {});
      return Status::ok();
    }
  });
}

Status meanKernel(KernelContext &c) {
  if (!c.hasOutput(0)) return Status::ok();
  Tensor &out = c.output(0);
  const AddOp add(c.node);
  const double count = static_cast<double>(c.inputs.size());
  return ir::visitDType(out.dtype(), [&](auto tag) -> Status {
    using T = decltype(tag);
    if constexpr (!std::is_floating_point_v<T>) {
      return kernelDTypeError(c, out.dtype());
    } else {
      variadicFold<T>(c, out, add, [&](Tensor &t) {
        for (T &v : t.span<T>()) v = static_cast<T>(v / count);
      });
      return Status::ok();
    }
  });
}

// --- ops with their own rules -------------------------------------------------------------------------

Status modInfer(InferContext &c) {
  FLUIDML_RETURN_IF_ERROR(binaryInfer<ModOp>(c));
  int64_t fmod = c.node().intAttr("fmod", 0);
  if (fmod != 0 && fmod != 1) return Status::error("fmod must be 0 or 1, got " + std::to_string(fmod));
  if (fmod == 0 && ir::isFloating(c.inputType(0).dtype))
    return Status::error("Mod on " + dtypeText(c.inputType(0).dtype) + " requires fmod=1");
  return Status::ok();
}

Status bitShiftInfer(InferContext &c) {
  std::string direction = c.node().stringAttr("direction", "");
  if (direction != "LEFT" && direction != "RIGHT")
    return Status::error("direction must be 'LEFT' or 'RIGHT', got '" + direction + "'");
  return binaryInfer<BitShiftOp>(c);
}

// PRelu broadcasts the slope onto X (unidirectionally): the output has X's shape.
Status preluInfer(InferContext &c) {
  FLUIDML_RETURN_IF_ERROR(expectInputCount(c, 2, 2));
  FLUIDML_RETURN_IF_ERROR(expectDType(c, 0, Accepts::Numeric));
  FLUIDML_RETURN_IF_ERROR(expectSameDType(c, 0, 1));
  const ir::TensorType &x = c.inputType(0);
  const Shape &slope = c.inputType(1).shape;
  auto shape = broadcastShapes(x.shape, slope);
  if (!shape.hasValue() || *shape != x.shape)
    return Status::error("slope of shape " + ir::shapeToString(slope) + " cannot be broadcast to the input shape " +
                         ir::shapeToString(x.shape));
  c.setOutput(0, x);
  return Status::ok();
}

// Pow: the exponent may have another numeric dtype than the base; the output has the base's dtype.
Status powInfer(InferContext &c) {
  FLUIDML_RETURN_IF_ERROR(expectInputCount(c, 2, 2));
  FLUIDML_RETURN_IF_ERROR(expectDType(c, 0, Accepts::Numeric));
  FLUIDML_RETURN_IF_ERROR(expectDType(c, 1, Accepts::Numeric));
  const ir::TensorType &a = c.inputType(0);
  const ir::TensorType &b = c.inputType(1);
  FLUIDML_ASSIGN_OR_RETURN(Shape shape, broadcastShapes(a.shape, b.shape));
  FLUIDML_RETURN_IF_ERROR(checkLegacyBroadcast(c, a.shape, b.shape, shape));
  c.setOutput(0, ir::TensorType(a.dtype, std::move(shape)));
  return Status::ok();
}

template <typename T, typename E>
T powValue(T base, E exponent) {
  if constexpr (std::is_integral_v<T> && std::is_integral_v<E>) {
    // Exact (wrapping) integer power by squaring; negative exponents go through double like numpy's float path.
    if (exponent < E(0)) return convertValue<T>(std::pow(static_cast<double>(base), static_cast<double>(exponent)));
    T result = T(1);
    T factor = base;
    for (std::make_unsigned_t<E> e = static_cast<std::make_unsigned_t<E>>(exponent); e != 0; e >>= 1) {
      if (e & 1) result = wrapMul(result, factor);
      factor = wrapMul(factor, factor);
    }
    return result;
  } else if constexpr (std::is_same_v<T, float> && std::is_same_v<E, float>) {
    return std::pow(base, exponent);
  } else {
    return convertValue<T>(std::pow(static_cast<double>(base), static_cast<double>(exponent)));
  }
}

Status powKernel(KernelContext &c) {
  if (!c.hasOutput(0)) return Status::ok();
  const Tensor &a = c.input(0);
  const Tensor &b = c.input(1);
  Tensor &out = c.output(0);
  return ir::visitDType(a.dtype(), [&](auto baseTag) -> Status {
    using T = decltype(baseTag);
    return ir::visitDType(b.dtype(), [&](auto expTag) -> Status {
      using E = decltype(expTag);
      if constexpr (std::is_same_v<T, bool> || std::is_same_v<E, bool>) {
        return kernelDTypeError(c, DType::Bool);
      } else {
        binaryLoop<T, E, T>(a, b, out, [](T x, E y) { return powValue(x, y); });
        return Status::ok();
      }
    });
  });
}

Status whereInfer(InferContext &c) {
  FLUIDML_RETURN_IF_ERROR(expectInputCount(c, 3, 3));
  if (c.inputType(0).dtype != DType::Bool)
    return Status::error("condition (input 0) must be bool, got " + dtypeText(c.inputType(0).dtype));
  FLUIDML_RETURN_IF_ERROR(expectSameDType(c, 1, 2));
  FLUIDML_ASSIGN_OR_RETURN(Shape shape, broadcastShapes(c.inputType(0).shape, c.inputType(1).shape));
  FLUIDML_ASSIGN_OR_RETURN(shape, broadcastShapes(shape, c.inputType(2).shape));
  c.setOutput(0, ir::TensorType(c.inputType(1).dtype, std::move(shape)));
  return Status::ok();
}

Status whereKernel(KernelContext &c) {
  if (!c.hasOutput(0)) return Status::ok();
  const Tensor &cond = c.input(0);
  const Tensor &x = c.input(1);
  const Tensor &y = c.input(2);
  Tensor &out = c.output(0);
  return ir::visitDType(out.dtype(), [&](auto tag) -> Status {
    using T = decltype(tag);
    const bool *pc = cond.data<bool>();
    const T *px = x.data<T>();
    const T *py = y.data<T>();
    T *po = out.data<T>();
    const int64_t n = out.numel();
    if (n == 0) return Status::ok();
    if (cond.numel() == n && x.numel() == n && y.numel() == n) {
      for (int64_t i = 0; i < n; ++i) po[i] = pc[i] ? px[i] : py[i];
      return Status::ok();
    }
    BroadcastRuns<3> runs(out.shape(), {&cond.shape(), &x.shape(), &y.shape()});
    runs.forEach([&](int64_t o, const std::array<int64_t, 3> &off, const std::array<int64_t, 3> &st, int64_t len) {
      const bool *rc = pc + off[0];
      const T *rx = px + off[1];
      const T *ry = py + off[2];
      T *ro = po + o;
      for (int64_t i = 0; i < len; ++i) ro[i] = rc[i * st[0]] ? rx[i * st[1]] : ry[i * st[2]];
    });
    return Status::ok();
  });
}

// Clip: bounds are attributes before opset 11 and optional scalar inputs from 11 on.
Status clipInfer(InferContext &c) {
  FLUIDML_RETURN_IF_ERROR(expectInputCount(c, 1, c.opset() >= 11 ? 3 : 1));
  FLUIDML_RETURN_IF_ERROR(expectDType(c, 0, Accepts::Numeric));
  for (size_t i = 1; i < c.inputCount(); ++i) {
    if (!c.hasInput(i)) continue;
    FLUIDML_RETURN_IF_ERROR(expectSameDType(c, 0, i));
    const ir::TensorType &bound = c.inputType(i);
    if (bound.numel() != 1)
      return Status::error(std::string(i == 1 ? "min" : "max") + " must be a scalar, got shape " +
                           ir::shapeToString(bound.shape));
  }
  c.setOutput(0, c.inputType(0));
  return Status::ok();
}

Status clipKernel(KernelContext &c) {
  if (!c.hasOutput(0)) return Status::ok();
  const Tensor &x = c.input(0);
  Tensor &out = c.output(0);
  return ir::visitDType(x.dtype(), [&](auto tag) -> Status {
    using T = decltype(tag);
    if constexpr (std::is_same_v<T, bool>) {
      return kernelDTypeError(c, x.dtype());
    } else {
      // An absent bound does not clip: infinities for floats, the dtype's range for integers.
      T lo = std::numeric_limits<T>::has_infinity ? -std::numeric_limits<T>::infinity()
                                                  : std::numeric_limits<T>::lowest();
      T hi = std::numeric_limits<T>::has_infinity ? std::numeric_limits<T>::infinity()
                                                  : std::numeric_limits<T>::max();
      if (c.opset >= 11) {
        if (c.hasInput(1)) lo = c.input(1).data<T>()[0];
        if (c.hasInput(2)) hi = c.input(2).data<T>()[0];
      } else {
        if (c.node.attribute("min") != nullptr) lo = convertValue<T>(c.node.floatAttr("min", 0.0f));
        if (c.node.attribute("max") != nullptr) hi = convertValue<T>(c.node.floatAttr("max", 0.0f));
      }
      const T *px = x.data<T>();
      T *po = out.data<T>();
      const int64_t n = out.numel();
      // Lower bound first, then upper: with min > max every element becomes max, as ONNX specifies;
      // NaN passes through.
      for (int64_t i = 0; i < n; ++i) {
        T v = px[i] < lo ? lo : px[i];
        po[i] = v > hi ? hi : v;
      }
      return Status::ok();
    }
  });
}

// --- Cast and CastLike --------------------------------------------------------------------------------

/// The ONNX TensorProto.DataType code as a supported dtype, or an error naming the unsupported one.
Expected<DType> dtypeFromOnnxCode(int64_t code) {
  switch (code) {
    case 1: return DType::Float32;
    case 2: return DType::UInt8;
    case 3: return DType::Int8;
    case 6: return DType::Int32;
    case 7: return DType::Int64;
    case 9: return DType::Bool;
    case 11: return DType::Float64;
    default: break;
  }
  static const char *const kNames[] = {"undefined", "float32", "uint8",     "int8",       "uint16", "int16",
                                       "int32",     "int64",   "string",    "bool",       "float16", "float64",
                                       "uint32",    "uint64",  "complex64", "complex128", "bfloat16"};
  std::string name = code >= 0 && code < 17 ? kNames[code] : "code " + std::to_string(code);
  return Status::error("Cast to " + name +
                       " is not supported (supported: float32, float64, int64, int32, int8, uint8, bool)");
}

/// Opsets 1-5 name the target type as a string ("FLOAT"); later ones use the TensorProto code.
Expected<DType> castTarget(const ir::Node &node) {
  const ir::Attribute *to = node.attribute("to");
  if (to == nullptr) return Status::error("attribute 'to' is required");
  if (const auto *name = std::get_if<std::string>(to)) {
    static const std::pair<const char *, int64_t> kCodes[] = {
        {"FLOAT", 1},   {"UINT8", 2},  {"INT8", 3},    {"UINT16", 4},    {"INT16", 5},       {"INT32", 6},
        {"INT64", 7},   {"STRING", 8}, {"BOOL", 9},    {"FLOAT16", 10},  {"DOUBLE", 11},     {"UINT32", 12},
        {"UINT64", 13}, {"COMPLEX64", 14}, {"COMPLEX128", 15}, {"BFLOAT16", 16}};
    for (const auto &[text, code] : kCodes)
      if (*name == text) return dtypeFromOnnxCode(code);
    return Status::error("unknown Cast target type '" + *name + "'");
  }
  return dtypeFromOnnxCode(node.intAttr("to", 0));
}

Status castInfer(InferContext &c) {
  FLUIDML_RETURN_IF_ERROR(expectInputCount(c, 1, 1));
  FLUIDML_ASSIGN_OR_RETURN(DType target, castTarget(c.node()));
  c.setOutput(0, ir::TensorType(target, c.inputType(0).shape));
  return Status::ok();
}

Status castLikeInfer(InferContext &c) {
  FLUIDML_RETURN_IF_ERROR(expectInputCount(c, 2, 2));
  c.setOutput(0, ir::TensorType(c.inputType(1).dtype, c.inputType(0).shape));
  return Status::ok();
}

/// Converts `in` into `out` (same element count), element by element; `out` may alias `in`.
void castInto(const Tensor &in, Tensor &out) {
  if (in.dtype() == out.dtype()) {
    if (in.rawData() != out.rawData()) std::memmove(out.rawData(), in.rawData(), out.bytes());
    return;
  }
  ir::visitDType(in.dtype(), [&](auto fromTag) {
    using From = decltype(fromTag);
    ir::visitDType(out.dtype(), [&](auto toTag) {
      using To = decltype(toTag);
      const From *pi = in.data<From>();
      To *po = out.data<To>();
      const int64_t n = out.numel();
      for (int64_t i = 0; i < n; ++i) po[i] = convertValue<To>(pi[i]);
    });
  });
}

Status castKernel(KernelContext &c) {
  if (c.hasOutput(0)) castInto(c.input(0), c.output(0));
  return Status::ok();
}

// --- registration -------------------------------------------------------------------------------------

void add(OpRegistry &r, const char *opType, int minOpset, InferFn infer, KernelFn kernel) {
  r.add(OpSchema{opType, "", minOpset, infer, kernel, {}, "elementwise"});
}
template <typename Op>
void addUnary(OpRegistry &r, const char *opType, int minOpset) {
  add(r, opType, minOpset, &unaryInfer<Op>, &unaryKernel<Op>);
}
template <typename Op>
void addBinary(OpRegistry &r, const char *opType, int minOpset) {
  add(r, opType, minOpset, &binaryInfer<Op>, &binaryKernel<Op>);
}

}  // namespace

void registerElementwiseOps(OpRegistry &registry) {
  OpRegistry &r = registry;
  // Unary math. Opset-1 forms differ only by the ignored `consumed_inputs` attribute.
  addUnary<SqrtOp>(r, "Sqrt", 1);
  addUnary<ReciprocalOp>(r, "Reciprocal", 1);
  addUnary<NegOp>(r, "Neg", 1);
  addUnary<AbsOp>(r, "Abs", 1);
  addUnary<ExpOp>(r, "Exp", 1);
  addUnary<LogOp>(r, "Log", 1);
  addUnary<ErfOp>(r, "Erf", 9);
  addUnary<TanhOp>(r, "Tanh", 1);
  addUnary<SigmoidOp>(r, "Sigmoid", 1);
  addUnary<FloorOp>(r, "Floor", 1);
  addUnary<CeilOp>(r, "Ceil", 1);
  addUnary<SignOp>(r, "Sign", 9);
  addUnary<RoundOp>(r, "Round", 11);
  addUnary<SinOp>(r, "Sin", 7);
  addUnary<CosOp>(r, "Cos", 7);
  addUnary<TanOp>(r, "Tan", 7);
  addUnary<AsinOp>(r, "Asin", 7);
  addUnary<AcosOp>(r, "Acos", 7);
  addUnary<AtanOp>(r, "Atan", 7);
  addUnary<SinhOp>(r, "Sinh", 9);
  addUnary<CoshOp>(r, "Cosh", 9);
  addUnary<AsinhOp>(r, "Asinh", 9);
  addUnary<AcoshOp>(r, "Acosh", 9);
  addUnary<AtanhOp>(r, "Atanh", 9);
  addUnary<IsNaNOp>(r, "IsNaN", 9);
  addUnary<IsInfOp>(r, "IsInf", 10);
  addUnary<NotOp>(r, "Not", 1);

  // Activations.
  addUnary<ReluOp>(r, "Relu", 1);
  addUnary<LeakyReluOp>(r, "LeakyRelu", 1);
  addUnary<HardSigmoidOp>(r, "HardSigmoid", 1);
  addUnary<HardSwishOp>(r, "HardSwish", 14);
  addUnary<SoftplusOp>(r, "Softplus", 1);
  addUnary<SoftsignOp>(r, "Softsign", 1);
  addUnary<EluOp>(r, "Elu", 1);
  addUnary<SeluOp>(r, "Selu", 1);
  addUnary<CeluOp>(r, "Celu", 12);
  addUnary<ThresholdedReluOp>(r, "ThresholdedRelu", 10);
  addUnary<MishOp>(r, "Mish", 18);
  addUnary<ShrinkOp>(r, "Shrink", 9);
  add(r, "PRelu", 1, &preluInfer, &binaryKernel<PReluOp>);
  add(r, "Clip", 1, &clipInfer, &clipKernel);

  // Binary arithmetic, comparisons and logic (opset < 7 forms only with trailing legacy broadcasting).
  addBinary<AddOp>(r, "Add", 1);
  addBinary<SubOp>(r, "Sub", 1);
  addBinary<MulOp>(r, "Mul", 1);
  addBinary<DivOp>(r, "Div", 1);
  add(r, "Mod", 10, &modInfer, &binaryKernel<ModOp>);
  add(r, "Pow", 1, &powInfer, &powKernel);
  add(r, "BitShift", 11, &bitShiftInfer, &binaryKernel<BitShiftOp>);
  addBinary<EqualOp>(r, "Equal", 1);
  addBinary<LessOp>(r, "Less", 1);
  addBinary<GreaterOp>(r, "Greater", 1);
  addBinary<LessOrEqualOp>(r, "LessOrEqual", 12);
  addBinary<GreaterOrEqualOp>(r, "GreaterOrEqual", 12);
  addBinary<AndOp>(r, "And", 1);
  addBinary<OrOp>(r, "Or", 1);
  addBinary<XorOp>(r, "Xor", 1);

  // Variadic (numpy broadcasting from opset 8; earlier forms required equal shapes, a special case).
  add(r, "Sum", 1, &variadicInfer<Accepts::Numeric>, &variadicKernel<AddOp>);
  add(r, "Mean", 1, &variadicInfer<Accepts::Floating>, &meanKernel);
  add(r, "Min", 1, &variadicInfer<Accepts::Numeric>, &variadicKernel<MinOp>);
  add(r, "Max", 1, &variadicInfer<Accepts::Numeric>, &variadicKernel<MaxOp>);

  add(r, "Where", 9, &whereInfer, &whereKernel);
  add(r, "Cast", 1, &castInfer, &castKernel);
  add(r, "CastLike", 15, &castLikeInfer, &castKernel);
}

}  // namespace fluidml::ops
