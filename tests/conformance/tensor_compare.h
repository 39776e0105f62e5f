// Numerical comparison of tensors with ONNX's backend-test tolerances.
#pragma once

#include <string>

#include "core/ir/tensor.h"

namespace fluidml::test {

struct Tolerance {
  double rtol;
  double atol;
};
/// What onnx.backend.test uses for node tests (numpy.testing.assert_allclose).
inline constexpr Tolerance kOnnxTolerance{1e-3, 1e-7};

/// Empty when `actual` matches `expected` (same dtype and shape; floats within atol + rtol*|expected|, NaN
/// matching NaN; integers and bools exactly); otherwise a one-line description of the first mismatch.
std::string compareTensors(const ir::Tensor &actual, const ir::Tensor &expected, Tolerance tolerance);

}  // namespace fluidml::test
