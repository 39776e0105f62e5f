// A dense row-major tensor: a type plus bytes. Either owns a 64-byte aligned buffer (shared, immutable once
// published as a constant) or views memory owned elsewhere (an arena slot).
#pragma once

#include <cassert>
#include <cstring>
#include <memory>
#include <span>
#include <string>

#include "core/ir/tensor_type.h"

namespace fluidml::ir {

class Tensor {
 public:
  Tensor() = default;

  /// A zero-filled tensor with its own buffer.
  static Tensor zeros(DType dtype, Shape shape);
  /// A tensor viewing `data` (not owned; must outlive the tensor).
  static Tensor view(DType dtype, Shape shape, void *data);
  /// A tensor holding a copy of `values`.
  template <typename T>
  static Tensor fromVector(Shape shape, std::span<const T> values) {
    Tensor t = zeros(dtypeOf<T>(), std::move(shape));
    if (t.bytes() != 0) std::memcpy(t.rawData(), values.data(), t.bytes());
    return t;
  }
  template <typename T>
  static Tensor fromVector(Shape shape, const std::vector<T> &values) {
    return fromVector<T>(std::move(shape), std::span<const T>(values.data(), values.size()));
  }
  template <typename T>
  static Tensor scalar(T value) {
    return fromVector<T>({}, std::span<const T>(&value, 1));
  }

  DType dtype() const { return dtype_; }
  const Shape &shape() const { return shape_; }
  TensorType type() const { return TensorType(dtype_, shape_); }
  size_t rank() const { return shape_.size(); }
  int64_t numel() const { return shapeNumel(shape_); }
  size_t bytes() const { return static_cast<size_t>(numel()) * dtypeSize(dtype_); }
  bool isNull() const { return data_ == nullptr; }  // default-constructed
  bool ownsData() const { return storage_ != nullptr; }

  void *rawData() { return data_; }
  const void *rawData() const { return data_; }
  template <typename T> T *data() {
    assert(dtypeOf<T>() == dtype_);
    return static_cast<T *>(data_);
  }
  template <typename T> const T *data() const {
    assert(dtypeOf<T>() == dtype_);
    return static_cast<const T *>(data_);
  }
  template <typename T> std::span<T> span() { return {data<T>(), static_cast<size_t>(numel())}; }
  template <typename T> std::span<const T> span() const { return {data<T>(), static_cast<size_t>(numel())}; }

  /// A deep copy with its own buffer.
  Tensor clone() const;
  /// Same bytes, another shape of equal element count (shares the buffer).
  Tensor reshaped(Shape shape) const;
  /// Element `i` converted to double / int64, whatever the dtype (for shape arguments and messages).
  double elementAsDouble(int64_t i) const;
  int64_t elementAsInt(int64_t i) const;
  /// All elements as int64 (for shape-like tensors).
  std::vector<int64_t> toInt64Vector() const;
  /// Bitwise equality of type and contents.
  bool identicalTo(const Tensor &other) const;

 private:
  DType dtype_ = DType::Float32;
  Shape shape_;
  std::shared_ptr<void> storage_;
  void *data_ = nullptr;
};

}  // namespace fluidml::ir
