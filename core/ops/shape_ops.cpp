#include "core/ops/op_registry.h"

namespace fluidml::ops {
void registerShapeOps(OpRegistry &) {}
}  // namespace fluidml::ops
