// Structural checks of a Graph: use lists, producers, order, types and names agree.
#pragma once

#include "core/ir/graph.h"

namespace fluidml::ir {

/// Ok when the graph is well formed; otherwise the first inconsistency found.
Status verify(const Graph &graph);

}  // namespace fluidml::ir
