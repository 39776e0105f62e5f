#include "core/ops/op_registry.h"

namespace fluidml::ops {
void registerIndexingOps(OpRegistry &) {}
}  // namespace fluidml::ops
