#include "core/ops/op_registry.h"

namespace fluidml::ops {
void registerNormalizationOps(OpRegistry &) {}
}  // namespace fluidml::ops
