// The reference interpreter: runs a graph node by node with the plain kernels of core/ops. Simple and
// obviously correct; the oracle every optimized path is checked against. Given a memory plan it runs the
// plan instead of allocating per tensor: one arena per run, views instead of copies, in-place kernels, so
// tests can prove a plan safe by comparing the two modes bit for bit.
#pragma once

#include <optional>
#include <vector>

#include "core/analysis/memory_plan.h"
#include "core/ir/graph.h"

namespace fluidml::interp {

/// Checks that `inputs` match the graph inputs in count, dtype and shape (a user error otherwise).
Status checkInputs(const ir::Graph &graph, const std::vector<ir::Tensor> &inputs);

class Interpreter {
 public:
  /// `graph` must outlive the interpreter and have inferred types. With a `plan` (made for this graph and its
  /// current order, and copied here) every run executes it: intermediates live in one arena at the plan's
  /// offsets, View values skip their kernel, InPlace values overwrite their operand; graph outputs still get
  /// their own tensors.
  explicit Interpreter(const ir::Graph &graph, const analysis::MemoryPlan *plan = nullptr);

  /// Runs the graph on inputs given in graph-input order and returns the graph outputs in order.
  /// Intermediate tensors are freed after their last use.
  Expected<std::vector<ir::Tensor>> run(const std::vector<ir::Tensor> &inputs) const;

 private:
  const ir::Graph &graph_;
  std::vector<size_t> lastUse_;  // by value id: index in the order of the last node reading it
  std::optional<analysis::MemoryPlan> plan_;
};

}  // namespace fluidml::interp
