// Small pieces shared by the op families: axis normalization, broadcasting, arguments that older opsets
// pass as attributes and newer ones as (constant) inputs, and strided index iteration for kernels.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/ops/op_registry.h"

namespace fluidml::ops {

/// Maps a possibly negative axis into [0, rank); errors when out of range.
Expected<int64_t> normalizeAxis(int64_t axis, int64_t rank);
Expected<std::vector<int64_t>> normalizeAxes(const std::vector<int64_t> &axes, int64_t rank);

/// Numpy-style multidirectional broadcast of two shapes.
Expected<ir::Shape> broadcastShapes(const ir::Shape &a, const ir::Shape &b);
/// Strides (in elements) to read an input of shape `in` as if it had the broadcast shape `out` (0 on
/// broadcast dims). `in` must be broadcastable to `out`.
std::vector<int64_t> broadcastStrides(const ir::Shape &in, const ir::Shape &out);

/// An integer list given either as attribute `attrName` (older opsets) or as input `inputIndex` (newer):
/// nullopt when neither is present. In type rules, a present but non-constant input is an error.
Expected<std::optional<std::vector<int64_t>>> intListArg(const InferContext &context, const std::string &attrName,
                                                         size_t inputIndex);
std::optional<std::vector<int64_t>> intListArg(const KernelContext &context, const std::string &attrName,
                                               size_t inputIndex);

/// Error for a shape operand that is not a compile-time constant.
Status nonConstantShapeOperand(const InferContext &context, size_t inputIndex, const std::string &what);

/// Iterates all coordinates of `shape` in row-major order, keeping one linear offset per strided operand.
/// for (StridedIterator it(shape, {stridesA, stridesB}); !it.done(); it.next()) use(it.offset(0), it.offset(1));
class StridedIterator {
 public:
  StridedIterator(const ir::Shape &shape, std::vector<std::vector<int64_t>> strides);
  bool done() const { return done_; }
  void next();
  int64_t offset(size_t operand) const { return offsets_[operand]; }
  const std::vector<int64_t> &index() const { return index_; }

 private:
  ir::Shape shape_;
  std::vector<std::vector<int64_t>> strides_;
  std::vector<int64_t> index_;
  std::vector<int64_t> offsets_;
  bool done_;
};

}  // namespace fluidml::ops
