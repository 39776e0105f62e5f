// Deterministic model inputs of valid ranges: `fluidml run` without --inputs, bench, and the kernel catalog's
// measurements of single kernels.
#pragma once

#include <vector>

#include "core/ir/graph.h"

namespace fluidml::interp {

/// One tensor per graph input. Floats are uniform in [-1, 1); integer inputs that index a Gather get values
/// in [0, that axis' size); inputs named like a mask get ones; other integers are in [0, 2); bools are random.
std::vector<ir::Tensor> makeRandomInputs(const ir::Graph &graph, uint32_t seed);

}  // namespace fluidml::interp
