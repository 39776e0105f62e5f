// Static tensor types: element type, shape and memory layout.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/ir/dtype.h"
#include "core/ir/layout.h"

namespace fluidml::ir {

/// Number of elements of a shape (1 for a scalar); saturates at INT64_MAX (type inference rejects such shapes).
int64_t shapeNumel(const Shape &shape);
/// Number of elements, nullopt when it overflows int64 or a dim is negative.
std::optional<int64_t> checkedShapeNumel(const Shape &shape);
/// "1x3x224x224"; "scalar" for rank 0.
std::string shapeToString(const Shape &shape);

struct TensorType {
  DType dtype = DType::Float32;
  Shape shape;
  Layout layout;  // row-major by default

  TensorType() = default;
  TensorType(DType dtype, Shape shape) : dtype(dtype), shape(std::move(shape)) {}

  /// Logical elements.
  int64_t numel() const { return shapeNumel(shape); }
  /// Elements stored, padding lanes of blocked layouts included.
  int64_t physicalNumel() const { return layout.physicalNumel(shape).value_or(INT64_MAX); }
  /// Bytes stored, padding included: what buffers, the memory plan and the AOT metadata use.
  size_t bytes() const { return static_cast<size_t>(physicalNumel()) * dtypeSize(dtype); }
  /// Bytes stored, nullopt when the element or byte count overflows int64.
  std::optional<int64_t> checkedBytes() const;
  /// Bytes of the logical elements, as a row-major buffer of the same shape holds them.
  size_t logicalBytes() const { return static_cast<size_t>(numel()) * dtypeSize(dtype); }
  size_t rank() const { return shape.size(); }
  bool operator==(const TensorType &other) const;
  /// "float32[1x3x224x224]", with the layout appended when it is not row-major.
  std::string toString() const;
};

/// Row-major strides (in elements) of a shape.
std::vector<int64_t> rowMajorStrides(const Shape &shape);

}  // namespace fluidml::ir
