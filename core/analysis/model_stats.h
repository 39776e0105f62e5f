// Static statistics of a graph: op histogram, parameter bytes, multiply-add work of the heavy ops.
#pragma once

#include <map>
#include <string>

#include "core/ir/graph.h"

namespace fluidml::analysis {

struct ModelStats {
  std::map<std::string, int> opHistogram;  // op type -> node count
  size_t nodeCount = 0;
  size_t parameterCount = 0;  // elements of all constants
  size_t parameterBytes = 0;  // bytes of all constants
  /// FLOPs (2 per multiply-add) of MatMul, Gemm, Conv and ConvTranspose nodes.
  double flops = 0;
  std::map<std::string, double> flopsByOp;
};

ModelStats computeModelStats(const ir::Graph &graph);

/// FLOPs of one node (0 for ops that are not MatMul/Gemm/Conv/ConvTranspose).
double nodeFlops(const ir::Graph &graph, const ir::Node &node);

}  // namespace fluidml::analysis
