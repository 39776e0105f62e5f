// Liveness of values in a node order: the step that defines each value and the last step that reads it.
// The memory planner turns these into buffer lifetimes [definition, last read] (inclusive).
#pragma once

#include <vector>

#include "core/ir/graph.h"

namespace fluidml::analysis {

/// Steps (indices in graph.order()) by value id.
struct Liveness {
  std::vector<int> defStep;  // the step of the producer; -1 for inputs, constants and values of dead nodes
  std::vector<int> lastUse;  // the last step reading the value; -1 when no node in the order reads it

  /// The last step at which the value must hold its bytes: its last read, or its definition if never read.
  int endStep(ir::ValueId value) const {
    const size_t i = static_cast<size_t>(value);
    return lastUse[i] > defStep[i] ? lastUse[i] : defStep[i];
  }
};

/// One walk over graph.order(): O(nodes + operands).
Liveness computeLiveness(const ir::Graph &graph);

}  // namespace fluidml::analysis
