// Liveness: one walk over the order recording each value's defining step and its last reader. O(nodes + operands).
#include "core/analysis/liveness.h"

namespace fluidml::analysis {

Liveness computeLiveness(const ir::Graph &graph) {
  Liveness liveness;
  liveness.defStep.assign(graph.valueCapacity(), -1);
  liveness.lastUse.assign(graph.valueCapacity(), -1);
  const auto &order = graph.order();
  for (size_t step = 0; step < order.size(); ++step) {
    const ir::Node &node = graph.node(order[step]);
    for (ir::ValueId in : node.inputs)
      if (in != ir::kNoValue) liveness.lastUse[static_cast<size_t>(in)] = static_cast<int>(step);
    for (ir::ValueId out : node.outputs)
      if (out != ir::kNoValue) liveness.defStep[static_cast<size_t>(out)] = static_cast<int>(step);
  }
  return liveness;
}

}  // namespace fluidml::analysis
