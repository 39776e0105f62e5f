// fluidml.Relayout: the explicit change of a tensor's memory layout. Its value is its input's (identity
// semantics; the interpreter copies), its output's layout is the attribute `layout` in the text form of
// core/ir/layout.h. Layout passes insert it; codegen lowers it for every pair of layouts (blocked <-> plain
// included, padding lanes zeroed); the explorer and exporters draw it as a conversion.
#pragma once

#include <string_view>

#include "core/ir/graph.h"

namespace fluidml::ops {

inline constexpr std::string_view kRelayout = "Relayout";

/// True for a fluidml.Relayout node.
bool isRelayout(const ir::Node &node);

/// Inserts a Relayout of `value` to `layout` before operand `operand` of `node` (reusing an existing Relayout
/// of `value` to the same layout); returns the converted value. The new node is placed right before `node`.
Expected<ir::ValueId> insertRelayout(ir::Graph &graph, ir::NodeId node, int operand, const ir::Layout &layout);

/// Makes the producer of `value` write it in `produced` and inserts a Relayout right after the producer that
/// hands every consumer (and graph output slot) the layout `value` had; returns the Relayout node.
Expected<ir::NodeId> relayoutAfterProducer(ir::Graph &graph, ir::ValueId value, const ir::Layout &produced);

}  // namespace fluidml::ops
