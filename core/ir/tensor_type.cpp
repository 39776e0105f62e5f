#include "core/ir/tensor_type.h"

namespace fluidml::ir {

int64_t shapeNumel(const Shape &shape) { return checkedShapeNumel(shape).value_or(INT64_MAX); }

std::optional<int64_t> checkedShapeNumel(const Shape &shape) {
  int64_t n = 1;
  for (int64_t d : shape)
    if (d < 0 || __builtin_mul_overflow(n, d, &n)) return std::nullopt;
  return n;
}

std::optional<int64_t> TensorType::checkedBytes() const {
  if (!checkedShapeNumel(shape)) return std::nullopt;
  const std::optional<int64_t> n = layout.physicalNumel(shape);
  int64_t bytes = 0;
  if (!n || __builtin_mul_overflow(*n, static_cast<int64_t>(dtypeSize(dtype)), &bytes)) return std::nullopt;
  return bytes;
}

std::string shapeToString(const Shape &shape) {
  if (shape.empty()) return "scalar";
  std::string s;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += 'x';
    s += std::to_string(shape[i]);
  }
  return s;
}

bool TensorType::operator==(const TensorType &other) const {
  return dtype == other.dtype && shape == other.shape && layout == other.layout;
}

std::string TensorType::toString() const {
  std::string s = std::string(dtypeName(dtype)) + "[" + (shape.empty() ? "" : shapeToString(shape)) + "]";
  if (!layout.isRowMajor()) s += " " + layout.toString(shape.size());
  return s;
}

std::vector<int64_t> rowMajorStrides(const Shape &shape) {
  std::vector<int64_t> strides(shape.size(), 1);
  for (int i = static_cast<int>(shape.size()) - 2; i >= 0; --i) strides[i] = strides[i + 1] * shape[i + 1];
  return strides;
}

}  // namespace fluidml::ir
