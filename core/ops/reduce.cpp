// Reductions over a set of axes (ReduceSum, ReduceMean, ReduceMax, ... ReduceLogSumExp) and ArgMax/ArgMin.
// Reduce*: adjacent dimensions of the same kind (kept or reduced) are merged, then one pass over the input in
// row-major order accumulates every element into its output slot (reduced dimensions have output stride 0),
// with a tight loop over the innermost merged dimension. O(input elements) time, O(output elements) extra
// memory; float sums accumulate in double. ArgMax/ArgMin view the input as [outer, n, inner] around the axis.
// An empty reduction yields the ONNX identity: 0 for sums, 1 for products, -inf/lowest for max, +inf/highest
// for min, log(0) = -inf for the log reductions, NaN (0/0) for a float mean.
#include <cmath>
#include <limits>
#include <type_traits>

#include "core/ops/op_helpers.h"

namespace fluidml::ops {
namespace {

enum class ReduceKind { Sum, Mean, Max, Min, Prod, L1, L2, SumSquare, LogSum, LogSumExp };

/// The first opset in which the op takes `axes` as its second input instead of an attribute.
int64_t axesInputOpset(ReduceKind kind) { return kind == ReduceKind::Sum ? 13 : 18; }

bool acceptsDType(ReduceKind kind, ir::DType dtype) {
  switch (dtype) {
    case ir::DType::Float32:
    case ir::DType::Float64: return true;
    case ir::DType::Int32:
    case ir::DType::Int64:
      // log/sqrt results are not integers; ONNX lists them, but no model reduces integers that way.
      return kind != ReduceKind::L2 && kind != ReduceKind::LogSum && kind != ReduceKind::LogSumExp;
    case ir::DType::Int8:
    case ir::DType::UInt8:
    case ir::DType::Bool: return kind == ReduceKind::Max || kind == ReduceKind::Min;
  }
  return false;
}

/// Which input dimensions a reduction removes. `identity` is set when noop_with_empty_axes turns the op into
/// a copy.
struct ReducePlan {
  std::vector<bool> reduced;
  bool keepdims = true;
  bool identity = false;
};

Expected<ReducePlan> makeReducePlan(const ir::Node &node, const std::optional<std::vector<int64_t>> &axes,
                                    int64_t rank) {
  ReducePlan plan;
  plan.keepdims = node.intAttr("keepdims", 1) != 0;
  bool noopWithEmptyAxes = node.intAttr("noop_with_empty_axes", 0) != 0;
  plan.reduced.assign(static_cast<size_t>(rank), false);
  if (!axes.has_value() || axes->empty()) {
    if (noopWithEmptyAxes)
      plan.identity = true;
    else
      plan.reduced.assign(static_cast<size_t>(rank), true);
    return plan;
  }
  FLUIDML_ASSIGN_OR_RETURN(std::vector<int64_t> normalized, normalizeAxes(*axes, rank));
  for (int64_t a : normalized) plan.reduced[static_cast<size_t>(a)] = true;
  return plan;
}

ir::Shape reducedShape(const ir::Shape &in, const ReducePlan &plan) {
  if (plan.identity) return in;
  ir::Shape out;
  for (size_t d = 0; d < in.size(); ++d) {
    if (!plan.reduced[d])
      out.push_back(in[d]);
    else if (plan.keepdims)
      out.push_back(1);
  }
  return out;
}

template <ReduceKind kKind>
Status inferReduce(InferContext &c) {
  const std::string &op = c.node().opType;
  if (c.inputCount() < 1 || !c.hasInput(0)) return Status::error(op + " needs a data input");
  size_t maxInputs = c.opset() >= axesInputOpset(kKind) ? 2 : 1;
  if (c.inputCount() > maxInputs)
    return Status::error(op + " takes at most " + std::to_string(maxInputs) + " inputs at opset " +
                         std::to_string(c.opset()) + ", got " + std::to_string(c.inputCount()));
  const ir::TensorType &in = c.inputType(0);
  if (!acceptsDType(kKind, in.dtype))
    return Status::error(op + " does not support " + std::string(ir::dtypeName(in.dtype)) + " inputs");
  if (c.hasInput(1)) {
    ir::DType axesType = c.inputType(1).dtype;
    if (axesType != ir::DType::Int64 && axesType != ir::DType::Int32)
      return Status::error("axes must be int64, got " + std::string(ir::dtypeName(axesType)));
    if (c.inputType(1).rank() > 1) return Status::error("axes must be a 1-D tensor");
  }
  FLUIDML_ASSIGN_OR_RETURN(auto axes, intListArg(c, "axes", 1));
  FLUIDML_ASSIGN_OR_RETURN(ReducePlan plan, makeReducePlan(c.node(), axes, static_cast<int64_t>(in.rank())));
  c.setOutput(0, ir::TensorType(in.dtype, reducedShape(in.shape, plan)));
  return Status::ok();
}

/// The input viewed with merged dimensions: an outer strided part walked with StridedIterator and one
/// contiguous innermost run, which is either reduced (accumulates into one slot) or kept (one slot each).
struct ReduceLayout {
  ir::Shape outerShape;
  std::vector<int64_t> outerInStrides;
  std::vector<int64_t> outerOutStrides;
  int64_t innerLength = 1;
  bool innerReduced = false;
};

ReduceLayout makeReduceLayout(const ir::Shape &shape, const std::vector<bool> &reduced) {
  // Size-1 dimensions change nothing in the walk, so they are dropped before merging.
  std::vector<std::pair<int64_t, bool>> merged;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 1) continue;
    if (!merged.empty() && merged.back().second == reduced[d])
      merged.back().first *= shape[d];
    else
      merged.emplace_back(shape[d], reduced[d]);
  }
  if (merged.empty()) merged.emplace_back(1, false);

  ReduceLayout layout;
  size_t m = merged.size();
  std::vector<int64_t> inStrides(m), outStrides(m);
  int64_t inStride = 1, outStride = 1;
  for (size_t i = m; i-- > 0;) {
    inStrides[i] = inStride;
    inStride *= merged[i].first;
    outStrides[i] = merged[i].second ? 0 : outStride;
    if (!merged[i].second) outStride *= merged[i].first;
  }
  for (size_t i = 0; i + 1 < m; ++i) {
    layout.outerShape.push_back(merged[i].first);
    layout.outerInStrides.push_back(inStrides[i]);
    layout.outerOutStrides.push_back(outStrides[i]);
  }
  layout.innerLength = merged.back().first;
  layout.innerReduced = merged.back().second;
  return layout;
}

/// Calls fn(x, slot) for every input element x with the index of its output slot.
template <typename T, typename Fn>
void forEachElement(const ReduceLayout &layout, const T *in, Fn &&fn) {
  for (StridedIterator it(layout.outerShape, {layout.outerInStrides, layout.outerOutStrides}); !it.done();
       it.next()) {
    const T *run = in + it.offset(0);
    int64_t slot = it.offset(1);
    if (layout.innerReduced) {
      for (int64_t j = 0; j < layout.innerLength; ++j) fn(run[j], slot);
    } else {
      for (int64_t j = 0; j < layout.innerLength; ++j) fn(run[j], slot + j);
    }
  }
}

/// Integer sums and products wrap (two's complement) instead of overflowing into undefined behavior.
int64_t wrapAdd(int64_t a, int64_t b) {
  return static_cast<int64_t>(static_cast<uint64_t>(a) + static_cast<uint64_t>(b));
}
int64_t wrapMul(int64_t a, int64_t b) {
  return static_cast<int64_t>(static_cast<uint64_t>(a) * static_cast<uint64_t>(b));
}

template <ReduceKind kKind, typename T>
void reduceKernel(const ir::Tensor &input, const ReducePlan &plan, ir::Tensor &output) {
  constexpr bool kFloat = std::is_floating_point_v<T>;
  using Acc = std::conditional_t<kFloat, double, int64_t>;
  const T *in = input.data<T>();
  T *out = output.data<T>();
  const int64_t outCount = output.numel();
  if (plan.identity) {
    for (int64_t i = 0; i < outCount; ++i) out[i] = in[i];
    return;
  }
  if (outCount == 0) return;
  const int64_t count = input.numel() / outCount;  // elements folded into each slot (0 for an empty axis)
  ReduceLayout layout = makeReduceLayout(input.shape(), plan.reduced);

  Acc init = 0;
  if constexpr (kKind == ReduceKind::Prod) init = 1;
  if constexpr (kKind == ReduceKind::Max || kKind == ReduceKind::LogSumExp) {
    if constexpr (kFloat) init = -std::numeric_limits<double>::infinity();
    else init = static_cast<Acc>(std::numeric_limits<T>::lowest());
  }
  if constexpr (kKind == ReduceKind::Min) {
    if constexpr (kFloat) init = std::numeric_limits<double>::infinity();
    else init = static_cast<Acc>(std::numeric_limits<T>::max());
  }
  std::vector<Acc> acc(static_cast<size_t>(outCount), init);

  if (input.numel() > 0) {
    forEachElement(layout, in, [&](T value, int64_t slot) {
      Acc x = static_cast<Acc>(value);
      Acc &a = acc[static_cast<size_t>(slot)];
      if constexpr (kKind == ReduceKind::Max || kKind == ReduceKind::LogSumExp) {
        if (x > a || x != x) a = (a != a) ? a : x;  // NaN wins and sticks
      } else if constexpr (kKind == ReduceKind::Min) {
        if (x < a || x != x) a = (a != a) ? a : x;
      } else if constexpr (kKind == ReduceKind::Prod) {
        if constexpr (kFloat) a *= x; else a = wrapMul(a, x);
      } else if constexpr (kKind == ReduceKind::L1) {
        if constexpr (kFloat) a += std::abs(x); else a = wrapAdd(a, x < 0 ? wrapMul(x, -1) : x);
      } else if constexpr (kKind == ReduceKind::L2 || kKind == ReduceKind::SumSquare) {
        if constexpr (kFloat) a += x * x; else a = wrapAdd(a, wrapMul(x, x));
      } else {  // Sum, Mean, LogSum
        if constexpr (kFloat) a += x; else a = wrapAdd(a, x);
      }
    });
  }

  if constexpr (kKind == ReduceKind::LogSumExp) {
    // Second pass: sum exp(x - max) per slot, so large inputs do not overflow.
    std::vector<double> sums(static_cast<size_t>(outCount), 0.0);
    if (input.numel() > 0) {
      forEachElement(layout, in, [&](T value, int64_t slot) {
        double m = static_cast<double>(acc[static_cast<size_t>(slot)]);
        if (std::isfinite(m)) sums[static_cast<size_t>(slot)] += std::exp(static_cast<double>(value) - m);
      });
    }
    for (int64_t i = 0; i < outCount; ++i) {
      double m = static_cast<double>(acc[static_cast<size_t>(i)]);
      // A non-finite max (empty slot, all -inf, any +inf or NaN) is already the answer.
      out[i] = static_cast<T>(std::isfinite(m) ? m + std::log(sums[static_cast<size_t>(i)]) : m);
    }
    return;
  }

  for (int64_t i = 0; i < outCount; ++i) {
    Acc a = acc[static_cast<size_t>(i)];
    if constexpr (kKind == ReduceKind::Mean) {
      if constexpr (kFloat)
        out[i] = static_cast<T>(a / static_cast<double>(count));  // 0/0 = NaN for an empty axis
      else
        out[i] = static_cast<T>(count == 0 ? 0 : a / count);
    } else if constexpr (kKind == ReduceKind::L2) {
      out[i] = static_cast<T>(std::sqrt(static_cast<double>(a)));
    } else if constexpr (kKind == ReduceKind::LogSum) {
      out[i] = static_cast<T>(std::log(static_cast<double>(a)));
    } else {
      out[i] = static_cast<T>(a);
    }
  }
}

template <ReduceKind kKind>
Status runReduce(KernelContext &c) {
  const ir::Tensor &input = c.input(0);
  auto axes = intListArg(c, "axes", 1);
  FLUIDML_ASSIGN_OR_RETURN(ReducePlan plan, makeReducePlan(c.node, axes, static_cast<int64_t>(input.rank())));
  if (!acceptsDType(kKind, input.dtype()))
    return Status::error(c.node.opType + " does not support " + std::string(ir::dtypeName(input.dtype())) +
                         " inputs");
  ir::visitDType(input.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_same_v<T, bool> || std::is_same_v<T, int8_t> || std::is_same_v<T, uint8_t>) {
      if constexpr (kKind == ReduceKind::Max || kKind == ReduceKind::Min)
        reduceKernel<kKind, T>(input, plan, c.output(0));
    } else {
      reduceKernel<kKind, T>(input, plan, c.output(0));
    }
  });
  return Status::ok();
}

// --- ArgMax / ArgMin --------------------------------------------------------------------------------------

struct ArgLayout {
  int64_t outer = 1, n = 1, inner = 1;
};

Expected<int64_t> argAxis(const ir::Node &node, const ir::Shape &shape) {
  if (shape.empty()) return Status::error(node.opType + " needs an input of rank 1 or more");
  FLUIDML_ASSIGN_OR_RETURN(int64_t axis, normalizeAxis(node.intAttr("axis", 0), static_cast<int64_t>(shape.size())));
  if (shape[static_cast<size_t>(axis)] == 0)
    return Status::error(node.opType + " over axis " + std::to_string(axis) + " of size 0 has no answer");
  return axis;
}

template <bool kMax>
Status inferArg(InferContext &c) {
  const std::string &op = c.node().opType;
  if (c.inputCount() != 1 || !c.hasInput(0)) return Status::error(op + " takes exactly one input");
  const ir::TensorType &in = c.inputType(0);
  FLUIDML_ASSIGN_OR_RETURN(int64_t axis, argAxis(c.node(), in.shape));
  ir::Shape out;
  bool keepdims = c.node().intAttr("keepdims", 1) != 0;
  for (size_t d = 0; d < in.rank(); ++d) {
    if (static_cast<int64_t>(d) != axis)
      out.push_back(in.shape[d]);
    else if (keepdims)
      out.push_back(1);
  }
  c.setOutput(0, ir::TensorType(ir::DType::Int64, out));
  return Status::ok();
}

/// Whether `x` replaces the current best `best`: NaN counts as the extreme, as in numpy.
template <bool kMax, typename T>
bool argBetter(T x, T best, bool selectLast) {
  if constexpr (std::is_floating_point_v<T>) {
    if (best != best) return selectLast && x != x;
    if (x != x) return true;
  }
  if (selectLast && x == best) return true;
  return kMax ? x > best : x < best;
}

template <bool kMax>
Status runArg(KernelContext &c) {
  const ir::Tensor &input = c.input(0);
  FLUIDML_ASSIGN_OR_RETURN(int64_t axis, argAxis(c.node, input.shape()));
  bool selectLast = c.node.intAttr("select_last_index", 0) != 0;
  ArgLayout s;
  for (size_t d = 0; d < input.rank(); ++d) {
    int64_t dim = input.shape()[d];
    if (static_cast<int64_t>(d) < axis)
      s.outer *= dim;
    else if (static_cast<int64_t>(d) == axis)
      s.n = dim;
    else
      s.inner *= dim;
  }
  int64_t *out = c.output(0).data<int64_t>();
  ir::visitDType(input.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T *in = input.data<T>();
    for (int64_t o = 0; o < s.outer; ++o) {
      for (int64_t i = 0; i < s.inner; ++i) {
        const T *row = in + o * s.n * s.inner + i;
        int64_t bestIndex = 0;
        T best = row[0];
        for (int64_t k = 1; k < s.n; ++k) {
          T x = row[k * s.inner];
          if (argBetter<kMax>(x, best, selectLast)) {
            best = x;
            bestIndex = k;
          }
        }
        out[o * s.inner + i] = bestIndex;
      }
    }
  });
  return Status::ok();
}

template <ReduceKind kKind>
OpSchema reduceSchema(const std::string &opType) {
  return OpSchema{opType, "", 1, inferReduce<kKind>, runReduce<kKind>, {1}, "reduce"};
}

}  // namespace

/// Registers the Reduce* family and ArgMax/ArgMin (called from registerNormalizationOps).
void registerReduceOps(OpRegistry &registry) {
  registry.add(reduceSchema<ReduceKind::Sum>("ReduceSum"));
  registry.add(reduceSchema<ReduceKind::Mean>("ReduceMean"));
  registry.add(reduceSchema<ReduceKind::Max>("ReduceMax"));
  registry.add(reduceSchema<ReduceKind::Min>("ReduceMin"));
  registry.add(reduceSchema<ReduceKind::Prod>("ReduceProd"));
  registry.add(reduceSchema<ReduceKind::L1>("ReduceL1"));
  registry.add(reduceSchema<ReduceKind::L2>("ReduceL2"));
  registry.add(reduceSchema<ReduceKind::SumSquare>("ReduceSumSquare"));
  registry.add(reduceSchema<ReduceKind::LogSum>("ReduceLogSum"));
  registry.add(reduceSchema<ReduceKind::LogSumExp>("ReduceLogSumExp"));
  registry.add(OpSchema{"ArgMax", "", 1, inferArg<true>, runArg<true>, {}, "reduce"});
  registry.add(OpSchema{"ArgMin", "", 1, inferArg<false>, runArg<false>, {}, "reduce"});
}

}  // namespace fluidml::ops
