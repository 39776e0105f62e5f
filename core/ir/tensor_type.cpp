#include "core/ir/tensor_type.h"

namespace fluidml::ir {

int64_t shapeNumel(const Shape &shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
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

Layout Layout::identity(size_t rank) {
  Layout layout;
  for (size_t i = 0; i < rank; ++i) layout.order.push_back(static_cast<int>(i));
  return layout;
}

bool Layout::isIdentity() const {
  for (size_t i = 0; i < order.size(); ++i)
    if (order[i] != static_cast<int>(i)) return false;
  return true;
}

std::string Layout::toString() const {
  std::string s = "(";
  for (size_t i = 0; i < order.size(); ++i) {
    if (i) s += ',';
    s += std::to_string(order[i]);
  }
  return s + ")";
}

bool TensorType::operator==(const TensorType &other) const {
  return dtype == other.dtype && shape == other.shape && layout.isIdentity() == other.layout.isIdentity() &&
         (layout.isIdentity() || layout == other.layout);
}

std::string TensorType::toString() const {
  std::string s = std::string(dtypeName(dtype)) + "[" + (shape.empty() ? "" : shapeToString(shape)) + "]";
  if (!layout.isIdentity()) s += " layout" + layout.toString();
  return s;
}

std::vector<int64_t> rowMajorStrides(const Shape &shape) {
  std::vector<int64_t> strides(shape.size(), 1);
  for (int i = static_cast<int>(shape.size()) - 2; i >= 0; --i) strides[i] = strides[i + 1] * shape[i + 1];
  return strides;
}

}  // namespace fluidml::ir
