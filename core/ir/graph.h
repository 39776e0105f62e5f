// The IR: a Graph owns Values and Nodes with dense ids. A Value has one producer (a node, or none for graph
// inputs and constants) and a use list; only Graph methods edit uses, so they stay consistent.
// Copying a Graph is a deep clone of the structure; constant buffers are immutable and shared.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/ir/attribute.h"
#include "core/ir/tensor.h"
#include "core/support/status.h"

namespace fluidml::ir {

using ValueId = int32_t;
using NodeId = int32_t;
inline constexpr ValueId kNoValue = -1;
inline constexpr NodeId kNoNode = -1;

/// One operand slot that reads a value.
struct Use {
  NodeId node = kNoNode;
  int operand = 0;
  bool operator==(const Use &) const = default;
};

struct Value {
  ValueId id = kNoValue;
  std::string name;  // the ONNX name; unique in the graph
  TensorType type;
  NodeId producer = kNoNode;  // kNoNode for graph inputs and constants
  int producerOutput = 0;
  std::vector<Use> uses;
  Tensor constant;  // non-null for constants (weights and folded values)
  bool alive = true;

  bool isConstant() const { return !constant.isNull(); }
};

struct Node {
  NodeId id = kNoNode;
  std::string name;    // the ONNX node name (made unique at import when missing)
  std::string opType;  // "MatMul"
  std::string domain;  // "" for the default ai.onnx domain
  std::vector<ValueId> inputs;   // kNoValue marks an omitted optional input
  std::vector<ValueId> outputs;  // kNoValue marks an omitted optional output
  AttributeMap attributes;
  bool alive = true;

  ValueId input(size_t i) const { return i < inputs.size() ? inputs[i] : kNoValue; }
  bool hasInput(size_t i) const { return input(i) != kNoValue; }
  ValueId output(size_t i) const { return i < outputs.size() ? outputs[i] : kNoValue; }
  const Attribute *attribute(const std::string &key) const;
  /// Typed attribute lookups with defaults (no check of the stored alternative beyond the requested one).
  int64_t intAttr(const std::string &key, int64_t fallback) const;
  float floatAttr(const std::string &key, float fallback) const;
  std::string stringAttr(const std::string &key, const std::string &fallback) const;
  std::optional<std::vector<int64_t>> intsAttr(const std::string &key) const;
  std::optional<std::vector<float>> floatsAttr(const std::string &key) const;
};

class Graph {
 public:
  std::string name = "main";
  /// Operator set versions by domain ("" = ai.onnx).
  std::map<std::string, int64_t> opsetImports{{"", 17}};

  // --- construction -------------------------------------------------------------------------------------
  /// A graph input of the given type.
  ValueId addInput(const std::string &name, TensorType type);
  /// A constant (weight); the tensor's buffer is shared, never copied.
  ValueId addConstant(const std::string &name, Tensor tensor);
  /// Appends a node at the end of the order. Output values are created with the given names and types
  /// (an empty name makes an omitted output).
  NodeId addNode(const std::string &opType, const std::string &name, const std::vector<ValueId> &inputs,
                 const std::vector<std::string> &outputNames, AttributeMap attributes = {},
                 const std::string &domain = "");
  void addOutput(ValueId value);
  void setOutputs(std::vector<ValueId> outputs) { outputs_ = std::move(outputs); }
  void setInputs(std::vector<ValueId> inputs) { inputs_ = std::move(inputs); }

  // --- access -------------------------------------------------------------------------------------------
  const Value &value(ValueId id) const { return values_[static_cast<size_t>(id)]; }
  Value &value(ValueId id) { return values_[static_cast<size_t>(id)]; }
  const Node &node(NodeId id) const { return nodes_[static_cast<size_t>(id)]; }
  Node &node(NodeId id) { return nodes_[static_cast<size_t>(id)]; }
  size_t valueCapacity() const { return values_.size(); }  // ids are < this
  size_t nodeCapacity() const { return nodes_.size(); }
  const std::vector<ValueId> &inputs() const { return inputs_; }
  const std::vector<ValueId> &outputs() const { return outputs_; }
  /// Live nodes in execution (topological) order.
  const std::vector<NodeId> &order() const { return order_; }
  /// Live values that are constants, in id order.
  std::vector<ValueId> constants() const;
  std::optional<ValueId> findValue(const std::string &name) const;
  /// The opset version of a domain, 0 when not imported.
  int64_t opsetVersion(const std::string &domain = "") const;
  bool isGraphOutput(ValueId value) const;
  /// A value name not yet used in the graph, derived from `base`.
  std::string uniqueValueName(const std::string &base) const;

  // --- edits (keep use lists consistent) ----------------------------------------------------------------
  void setOperand(NodeId node, int operand, ValueId value);
  /// Redirects every use (and graph output slot) of `from` to `to`.
  void replaceAllUsesWith(ValueId from, ValueId to);
  /// Turns a produced value into a constant holding `tensor`; its producer keeps no link to it.
  void makeConstant(ValueId value, Tensor tensor);
  /// Makes `survivor` stand where `replaced` stands: `survivor` leaves its own producer (which keeps an omitted
  /// output in that slot) and becomes the output of `replaced`'s producer; every use of `replaced` moves to
  /// `survivor`, and `replaced` dies. Used to drop a pass-through node whose output name must survive.
  void replaceProducedValue(ValueId replaced, ValueId survivor);
  /// Removes a node; its outputs must have no uses and must not be graph outputs.
  void eraseNode(NodeId node);
  /// Marks unused constants and other orphaned values dead.
  void eraseValue(ValueId value);
  void setOrder(std::vector<NodeId> order) { order_ = std::move(order); }
  /// Recomputes the order as a stable topological sort (keeps the current order where possible).
  Status topologicalSort();

  /// A deep clone (constant buffers shared, as they are immutable).
  Graph clone() const { return *this; }

 private:
  ValueId newValue(const std::string &name, TensorType type);
  void removeUse(ValueId value, Use use);

  std::vector<Value> values_;
  std::vector<Node> nodes_;
  std::vector<ValueId> inputs_;
  std::vector<ValueId> outputs_;
  std::vector<NodeId> order_;
  std::unordered_map<std::string, ValueId> valuesByName_;
};

}  // namespace fluidml::ir
