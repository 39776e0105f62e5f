// Makes every node's operands readable by its kernel: where a kernel cannot read or write the layouts a layout
// choice gave its operands, fluidml.Relayout nodes convert them. Layout passes call it after choosing; tests
// use it to compile graphs whose layouts were assigned at random.
#pragma once

#include "core/ir/graph.h"
#include "core/pass/pass.h"

namespace fluidml::passes {

/// Whether a node's kernel reads and writes the layouts its operands have (see pass::LayoutAcceptance).
using LayoutAcceptance = pass::LayoutAcceptance;

/// For every node `accepts` refuses, in order: its non-row-major inputs are converted to row-major before it;
/// if it still refuses, its non-row-major outputs are written row-major and converted after it to the layout
/// the consumers read. Returns the number of Relayout nodes inserted; an error names a node that no conversion
/// makes acceptable.
Expected<int> legalizeLayouts(ir::Graph &graph, const LayoutAcceptance &accepts);

}  // namespace fluidml::passes
