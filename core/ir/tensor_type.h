// Static tensor types: element type, shape and memory layout.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/ir/dtype.h"

namespace fluidml::ir {

using Shape = std::vector<int64_t>;

/// Number of elements of a shape (1 for a scalar).
int64_t shapeNumel(const Shape &shape);
/// "1x3x224x224"; "scalar" for rank 0.
std::string shapeToString(const Shape &shape);

/// Physical order of the logical dimensions: `order[i]` is the logical dim stored at physical position i
/// (outermost first). The identity permutation is row-major. Kernels index logical coordinates; the layout
/// only decides strides.
struct Layout {
  std::vector<int> order;

  static Layout identity(size_t rank);
  bool isIdentity() const;
  bool operator==(const Layout &other) const = default;
  std::string toString() const;  // "(0,2,3,1)"
};

struct TensorType {
  DType dtype = DType::Float32;
  Shape shape;
  Layout layout;  // empty order means row-major (identity)

  TensorType() = default;
  TensorType(DType dtype, Shape shape) : dtype(dtype), shape(std::move(shape)) {}

  int64_t numel() const { return shapeNumel(shape); }
  size_t bytes() const { return static_cast<size_t>(numel()) * dtypeSize(dtype); }
  size_t rank() const { return shape.size(); }
  bool operator==(const TensorType &other) const;
  /// "float32[1x3x224x224]", with the layout appended when it is not row-major.
  std::string toString() const;
};

/// Row-major strides (in elements) of a shape.
std::vector<int64_t> rowMajorStrides(const Shape &shape);

}  // namespace fluidml::ir
