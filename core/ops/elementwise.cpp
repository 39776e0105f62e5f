#include "core/ops/op_registry.h"

namespace fluidml::ops {
void registerElementwiseOps(OpRegistry &) {}
}  // namespace fluidml::ops
