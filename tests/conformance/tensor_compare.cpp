#include "tests/conformance/tensor_compare.h"

#include <cmath>
#include <sstream>

namespace fluidml::test {

std::string compareTensors(const ir::Tensor &actual, const ir::Tensor &expected, Tolerance tolerance) {
  if (actual.dtype() != expected.dtype())
    return "dtype " + std::string(ir::dtypeName(actual.dtype())) + ", expected " +
           std::string(ir::dtypeName(expected.dtype()));
  if (actual.shape() != expected.shape())
    return "shape " + ir::shapeToString(actual.shape()) + ", expected " + ir::shapeToString(expected.shape());
  const bool floating = ir::isFloating(actual.dtype());
  for (int64_t i = 0; i < actual.numel(); ++i) {
    double a = actual.elementAsDouble(i), e = expected.elementAsDouble(i);
    bool ok;
    if (!floating) ok = actual.elementAsInt(i) == expected.elementAsInt(i);
    else if (std::isnan(e)) ok = std::isnan(a);
    else if (std::isinf(e)) ok = a == e;
    else ok = std::fabs(a - e) <= tolerance.atol + tolerance.rtol * std::fabs(e);
    if (!ok) {
      std::ostringstream out;
      out.precision(9);
      out << "element " << i << " is " << a << ", expected " << e;
      return out.str();
    }
  }
  return "";
}

}  // namespace fluidml::test
