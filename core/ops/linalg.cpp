#include "core/ops/op_registry.h"

namespace fluidml::ops {
void registerLinalgOps(OpRegistry &) {}
}  // namespace fluidml::ops
