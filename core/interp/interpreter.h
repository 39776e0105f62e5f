// The reference interpreter: runs a graph node by node with the plain kernels of core/ops. Simple and
// obviously correct; the oracle every optimized path is checked against.
#pragma once

#include <vector>

#include "core/ir/graph.h"

namespace fluidml::interp {

/// Checks that `inputs` match the graph inputs in count, dtype and shape (a user error otherwise).
Status checkInputs(const ir::Graph &graph, const std::vector<ir::Tensor> &inputs);

class Interpreter {
 public:
  /// `graph` must outlive the interpreter and have inferred types.
  explicit Interpreter(const ir::Graph &graph);

  /// Runs the graph on inputs given in graph-input order and returns the graph outputs in order.
  /// Intermediate tensors are freed after their last use.
  Expected<std::vector<ir::Tensor>> run(const std::vector<ir::Tensor> &inputs) const;

 private:
  const ir::Graph &graph_;
  std::vector<size_t> lastUse_;  // by value id: index in the order of the last node reading it
};

}  // namespace fluidml::interp
