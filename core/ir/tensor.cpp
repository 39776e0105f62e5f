#include "core/ir/tensor.h"

#include <cstdlib>

namespace fluidml::ir {

Tensor Tensor::zeros(DType dtype, Shape shape) {
  Tensor t;
  t.dtype_ = dtype;
  t.shape_ = std::move(shape);
  // Round up so that even empty tensors get a distinct, aligned, non-null buffer.
  size_t bytes = (t.bytes() + 63) / 64 * 64;
  if (bytes == 0) bytes = 64;
  void *p = std::aligned_alloc(64, bytes);
  if (p == nullptr) throw std::bad_alloc();
  std::memset(p, 0, bytes);
  t.storage_ = std::shared_ptr<void>(p, std::free);
  t.data_ = p;
  return t;
}

Tensor Tensor::view(DType dtype, Shape shape, void *data) {
  Tensor t;
  t.dtype_ = dtype;
  t.shape_ = std::move(shape);
  t.data_ = data;
  return t;
}

Tensor Tensor::clone() const {
  Tensor t = zeros(dtype_, shape_);
  if (bytes() != 0) std::memcpy(t.data_, data_, bytes());
  return t;
}

Tensor Tensor::reshaped(Shape shape) const {
  assert(shapeNumel(shape) == numel());
  Tensor t = *this;
  t.shape_ = std::move(shape);
  return t;
}

double Tensor::elementAsDouble(int64_t i) const {
  return visitDType(dtype_, [&](auto tag) -> double {
    using T = decltype(tag);
    return static_cast<double>(static_cast<const T *>(data_)[i]);
  });
}

int64_t Tensor::elementAsInt(int64_t i) const {
  return visitDType(dtype_, [&](auto tag) -> int64_t {
    using T = decltype(tag);
    return static_cast<int64_t>(static_cast<const T *>(data_)[i]);
  });
}

std::vector<int64_t> Tensor::toInt64Vector() const {
  std::vector<int64_t> values(static_cast<size_t>(numel()));
  for (int64_t i = 0; i < numel(); ++i) values[i] = elementAsInt(i);
  return values;
}

bool Tensor::identicalTo(const Tensor &other) const {
  return dtype_ == other.dtype_ && shape_ == other.shape_ &&
         (bytes() == 0 || std::memcmp(data_, other.data_, bytes()) == 0);
}

}  // namespace fluidml::ir
