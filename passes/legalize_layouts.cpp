// Inserts fluidml.Relayout where a kernel cannot read or write a layout (see legalize_layouts.h).
// Cost: O(nodes x operands) acceptance checks; each Relayout is placed next to the node it serves.
#include "passes/legalize_layouts.h"

#include "core/ops/op_registry.h"
#include "core/ops/relayout.h"

namespace fluidml::passes {

Expected<int> legalizeLayouts(ir::Graph &graph, const LayoutAcceptance &accepts) {
  int inserted = 0;
  const std::vector<ir::NodeId> order = graph.order();  // the nodes to legalize, not the Relayouts added
  for (ir::NodeId id : order) {
    if (accepts(graph, graph.node(id)).isOk()) continue;
    for (size_t i = 0; i < graph.node(id).inputs.size(); ++i) {
      const ir::ValueId in = graph.node(id).inputs[i];
      if (in == ir::kNoValue || graph.value(in).type.layout.isRowMajor()) continue;
      const size_t before = graph.order().size();
      FLUIDML_RETURN_IF_ERROR(
          ops::insertRelayout(graph, id, static_cast<int>(i), ir::Layout::rowMajor()).status());
      inserted += static_cast<int>(graph.order().size() - before);
    }
    if (accepts(graph, graph.node(id)).isOk()) continue;
    for (ir::ValueId out : graph.node(id).outputs) {
      if (out == ir::kNoValue || graph.value(out).type.layout.isRowMajor()) continue;
      FLUIDML_RETURN_IF_ERROR(ops::relayoutAfterProducer(graph, out, ir::Layout::rowMajor()).status());
      ++inserted;
    }
    Status accepted = accepts(graph, graph.node(id));
    if (!accepted.isOk())
      return Status::internal(ops::describeNode(graph.node(id)) + ": no Relayout makes its layouts readable: " +
                           accepted.message());
  }
  return inserted;
}

}  // namespace fluidml::passes
