// The one table of supported operators. Each entry binds an ONNX op to its type rule (shape and dtype
// inference, used at import and by passes) and its reference kernel (used by the interpreter and for
// constant folding). Both live in one file per op family (core/ops/<family>.cpp), because they describe the
// same semantics and must agree.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/ir/graph.h"
#include "core/support/status.h"

namespace fluidml::ops {

/// What a type rule sees of one node: its operands' types, the values of constant operands, the opset.
class InferContext {
 public:
  InferContext(const ir::Graph &graph, const ir::Node &node);

  const ir::Node &node() const { return node_; }
  /// The graph the node's operands live in (a rule may infer a related node over it, as the fused ops do).
  const ir::Graph &graph() const { return graph_; }
  /// The opset version of the node's domain in the model.
  int64_t opset() const { return opset_; }
  size_t inputCount() const { return node_.inputs.size(); }
  bool hasInput(size_t i) const { return node_.hasInput(i); }
  const ir::TensorType &inputType(size_t i) const;
  /// The value of input i when it is a constant, else nullptr (also for an omitted input).
  const ir::Tensor *constantInput(size_t i) const;
  size_t outputCount() const { return node_.outputs.size(); }
  bool hasOutput(size_t i) const { return i < node_.outputs.size() && node_.outputs[i] != ir::kNoValue; }
  /// Records the type of output i (ignored for omitted outputs).
  void setOutput(size_t i, ir::TensorType type);
  const std::vector<ir::TensorType> &outputTypes() const { return outputs_; }

 private:
  const ir::Graph &graph_;
  const ir::Node &node_;
  int64_t opset_;
  std::vector<ir::TensorType> outputs_;
};

/// What a kernel sees: input tensors (nullptr when omitted) and output tensors already allocated with their
/// inferred types (nullptr when omitted). Outputs may alias inputs of the same size (in-place execution), so
/// elementwise kernels must read element i before writing element i, and other kernels must not assume the
/// output is zero-filled.
struct KernelContext {
  const ir::Node &node;
  int64_t opset;
  std::vector<const ir::Tensor *> inputs;
  std::vector<ir::Tensor *> outputs;

  bool hasInput(size_t i) const { return i < inputs.size() && inputs[i] != nullptr; }
  const ir::Tensor &input(size_t i) const { return *inputs[i]; }
  bool hasOutput(size_t i) const { return i < outputs.size() && outputs[i] != nullptr; }
  ir::Tensor &output(size_t i) const { return *outputs[i]; }
};

using InferFn = Status (*)(InferContext &);
using KernelFn = Status (*)(KernelContext &);

struct OpSchema {
  std::string opType;
  std::string domain;  // "" = ai.onnx
  int minOpset = 1;    // the oldest opset of the domain whose form of the op we implement
  InferFn infer = nullptr;
  KernelFn kernel = nullptr;
  /// Operands whose values decide output shapes (Reshape's shape, Slice's starts...). They must be constants
  /// when the graph is compiled; tests that feed them as inputs bind them as constants.
  std::vector<int> shapeOperands;
  std::string family;  // "elementwise", "shape", ... (for `fluidml ops`)
  /// True when the type rule decides the output's layout (fluidml.Relayout); other rules' layouts are ignored
  /// and a value keeps the layout a pass gave it.
  bool definesLayout = false;
};

class OpRegistry {
 public:
  /// Every supported op; built once from the explicit list in op_registry.cpp.
  static const OpRegistry &instance();

  const OpSchema *find(std::string_view domain, std::string_view opType) const;
  const std::vector<OpSchema> &all() const { return schemas_; }
  void add(OpSchema schema);

 private:
  std::vector<OpSchema> schemas_;
};

/// Infers the output types of one node and stores them on its output values. Errors name the problem
/// only; callers add the node context (see describeNode).
Status inferNodeTypes(ir::Graph &graph, ir::NodeId node);

/// "node 'conv_3' (Conv, #12)", the prefix of every node-level message.
std::string describeNode(const ir::Node &node);

/// Family registration functions, one per core/ops/<family>.cpp file.
void registerElementwiseOps(OpRegistry &registry);
void registerShapeOps(OpRegistry &registry);
void registerIndexingOps(OpRegistry &registry);
void registerLinalgOps(OpRegistry &registry);
void registerNormalizationOps(OpRegistry &registry);
/// fluidml.FusedConv / fluidml.FusedMatMul (core/ops/fused.cpp; see fused_epilogue.h).
void registerFusedOps(OpRegistry &registry);
/// fluidml.Relayout (core/ops/relayout.cpp).
void registerRelayoutOp(OpRegistry &registry);

}  // namespace fluidml::ops
