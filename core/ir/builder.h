// A terse way to build graphs in tests and generators: names are made up, output types are inferred.
#pragma once

#include <functional>

#include "core/ir/graph.h"

namespace fluidml::ir {

class GraphBuilder {
 public:
  /// Computes the output types of a freshly added node (ops::inferNodeTypes in practice; the IR library does
  /// not depend on the op table).
  using TypeInference = std::function<Status(Graph &, NodeId)>;

  explicit GraphBuilder(TypeInference infer, int64_t opset = 17);

  ValueId input(const std::string &name, DType dtype, Shape shape);
  ValueId constant(const std::string &name, Tensor tensor);
  /// Adds a single-output node and returns its output.
  ValueId op(const std::string &opType, const std::vector<ValueId> &inputs, AttributeMap attributes = {});
  /// Adds a node with `outputCount` outputs.
  std::vector<ValueId> opMulti(const std::string &opType, const std::vector<ValueId> &inputs, size_t outputCount,
                               AttributeMap attributes = {});
  void output(ValueId value) { graph_.addOutput(value); }

  /// The graph, or the first inference error met while building.
  Expected<Graph> build() &&;
  Graph &graph() { return graph_; }

 private:
  Graph graph_;
  TypeInference infer_;
  Status firstError_;
  int counter_ = 0;
};

}  // namespace fluidml::ir
