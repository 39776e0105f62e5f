// A readable text dump of a graph, one line per input, constant, node and output.
#pragma once

#include <string>

#include "core/ir/graph.h"

namespace fluidml::ir {

/// graph main (opset 17)
///   input  %x : float32[1x4]
///   const  %w : float32[4x8]
///   %y = MatMul(%x, %w) name='mm' : float32[1x8]
///   output %y
std::string dumpGraph(const Graph &graph);

}  // namespace fluidml::ir
