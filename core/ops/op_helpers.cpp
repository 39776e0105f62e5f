#include "core/ops/op_helpers.h"

#include <algorithm>

namespace fluidml::ops {

Expected<int64_t> normalizeAxis(int64_t axis, int64_t rank) {
  int64_t normalized = axis < 0 ? axis + rank : axis;
  if (normalized < 0 || normalized >= std::max<int64_t>(rank, 1))
    return Status::error("axis " + std::to_string(axis) + " is out of range for rank " + std::to_string(rank));
  return normalized;
}

Expected<std::vector<int64_t>> normalizeAxes(const std::vector<int64_t> &axes, int64_t rank) {
  std::vector<int64_t> result;
  for (int64_t axis : axes) {
    FLUIDML_ASSIGN_OR_RETURN(int64_t a, normalizeAxis(axis, rank));
    if (std::find(result.begin(), result.end(), a) != result.end())
      return Status::error("axis " + std::to_string(axis) + " is repeated");
    result.push_back(a);
  }
  return result;
}

Expected<ir::Shape> broadcastShapes(const ir::Shape &a, const ir::Shape &b) {
  size_t rank = std::max(a.size(), b.size());
  ir::Shape out(rank);
  for (size_t i = 0; i < rank; ++i) {
    int64_t da = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
    int64_t db = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
    if (da != db && da != 1 && db != 1)
      return Status::error("shapes " + ir::shapeToString(a) + " and " + ir::shapeToString(b) +
                           " cannot be broadcast");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

std::vector<int64_t> broadcastStrides(const ir::Shape &in, const ir::Shape &out) {
  std::vector<int64_t> strides(out.size(), 0);
  std::vector<int64_t> inStrides = ir::rowMajorStrides(in);
  size_t offset = out.size() - in.size();
  for (size_t i = 0; i < in.size(); ++i) strides[i + offset] = in[i] == 1 ? 0 : inStrides[i];
  return strides;
}

Expected<std::optional<std::vector<int64_t>>> intListArg(const InferContext &context, const std::string &attrName,
                                                         size_t inputIndex) {
  if (auto attr = context.node().intsAttr(attrName)) return std::optional<std::vector<int64_t>>(*attr);
  if (!context.hasInput(inputIndex)) return std::optional<std::vector<int64_t>>();
  const ir::Tensor *constant = context.constantInput(inputIndex);
  if (constant == nullptr) return nonConstantShapeOperand(context, inputIndex, attrName);
  return std::optional<std::vector<int64_t>>(constant->toInt64Vector());
}

std::optional<std::vector<int64_t>> intListArg(const KernelContext &context, const std::string &attrName,
                                               size_t inputIndex) {
  if (auto attr = context.node.intsAttr(attrName)) return attr;
  if (!context.hasInput(inputIndex)) return std::nullopt;
  return context.input(inputIndex).toInt64Vector();
}

Status nonConstantShapeOperand(const InferContext &context, size_t inputIndex, const std::string &what) {
  return Status::error("input " + std::to_string(inputIndex) + " ('" + what + "') of " + context.node().opType +
                       " must be a compile-time constant: fluidml needs static shapes (fix symbolic dimensions "
                       "with --shape)");
}

StridedIterator::StridedIterator(const ir::Shape &shape, std::vector<std::vector<int64_t>> strides)
    : shape_(shape), strides_(std::move(strides)), index_(shape.size(), 0), offsets_(strides_.size(), 0),
      done_(ir::shapeNumel(shape) == 0) {}

void StridedIterator::next() {
  for (int d = static_cast<int>(shape_.size()) - 1; d >= 0; --d) {
    size_t du = static_cast<size_t>(d);
    if (++index_[du] < shape_[du]) {
      for (size_t k = 0; k < strides_.size(); ++k) offsets_[k] += strides_[k][du];
      return;
    }
    for (size_t k = 0; k < strides_.size(); ++k) offsets_[k] -= strides_[k][du] * (shape_[du] - 1);
    index_[du] = 0;
  }
  done_ = true;
}

}  // namespace fluidml::ops
