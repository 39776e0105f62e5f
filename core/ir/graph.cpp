#include "core/ir/graph.h"

#include <algorithm>
#include <queue>

namespace fluidml::ir {

const Attribute *Node::attribute(const std::string &key) const {
  auto it = attributes.find(key);
  return it == attributes.end() ? nullptr : &it->second;
}

int64_t Node::intAttr(const std::string &key, int64_t fallback) const {
  const Attribute *a = attribute(key);
  if (a == nullptr) return fallback;
  if (const auto *v = std::get_if<int64_t>(a)) return *v;
  if (const auto *v = std::get_if<float>(a)) return static_cast<int64_t>(*v);
  return fallback;
}

float Node::floatAttr(const std::string &key, float fallback) const {
  const Attribute *a = attribute(key);
  if (a == nullptr) return fallback;
  if (const auto *v = std::get_if<float>(a)) return *v;
  if (const auto *v = std::get_if<int64_t>(a)) return static_cast<float>(*v);
  return fallback;
}

std::string Node::stringAttr(const std::string &key, const std::string &fallback) const {
  const Attribute *a = attribute(key);
  if (a == nullptr) return fallback;
  if (const auto *v = std::get_if<std::string>(a)) return *v;
  return fallback;
}

std::optional<std::vector<int64_t>> Node::intsAttr(const std::string &key) const {
  const Attribute *a = attribute(key);
  if (a == nullptr) return std::nullopt;
  if (const auto *v = std::get_if<std::vector<int64_t>>(a)) return *v;
  if (const auto *v = std::get_if<int64_t>(a)) return std::vector<int64_t>{*v};
  return std::nullopt;
}

std::optional<std::vector<float>> Node::floatsAttr(const std::string &key) const {
  const Attribute *a = attribute(key);
  if (a == nullptr) return std::nullopt;
  if (const auto *v = std::get_if<std::vector<float>>(a)) return *v;
  if (const auto *v = std::get_if<float>(a)) return std::vector<float>{*v};
  return std::nullopt;
}

ValueId Graph::newValue(const std::string &name, TensorType type) {
  Value v;
  v.id = static_cast<ValueId>(values_.size());
  v.name = name;
  v.type = std::move(type);
  values_.push_back(std::move(v));
  valuesByName_[name] = values_.back().id;
  return values_.back().id;
}

ValueId Graph::addInput(const std::string &name, TensorType type) {
  ValueId id = newValue(name, std::move(type));
  inputs_.push_back(id);
  return id;
}

ValueId Graph::addConstant(const std::string &name, Tensor tensor) {
  ValueId id = newValue(name, tensor.type());
  values_[static_cast<size_t>(id)].constant = std::move(tensor);
  return id;
}

NodeId Graph::addNode(const std::string &opType, const std::string &name, const std::vector<ValueId> &inputs,
                      const std::vector<std::string> &outputNames, AttributeMap attributes,
                      const std::string &domain) {
  Node n;
  n.id = static_cast<NodeId>(nodes_.size());
  n.name = name;
  n.opType = opType;
  n.domain = domain;
  n.inputs = inputs;
  n.attributes = std::move(attributes);
  for (size_t i = 0; i < outputNames.size(); ++i) {
    if (outputNames[i].empty()) {
      n.outputs.push_back(kNoValue);
      continue;
    }
    ValueId out = newValue(outputNames[i], TensorType());
    values_[static_cast<size_t>(out)].producer = n.id;
    values_[static_cast<size_t>(out)].producerOutput = static_cast<int>(i);
    n.outputs.push_back(out);
  }
  for (size_t i = 0; i < inputs.size(); ++i)
    if (inputs[i] != kNoValue) values_[static_cast<size_t>(inputs[i])].uses.push_back({n.id, static_cast<int>(i)});
  nodes_.push_back(std::move(n));
  order_.push_back(nodes_.back().id);
  return nodes_.back().id;
}

void Graph::addOutput(ValueId value) { outputs_.push_back(value); }

std::vector<ValueId> Graph::constants() const {
  std::vector<ValueId> result;
  for (const Value &v : values_)
    if (v.alive && v.isConstant()) result.push_back(v.id);
  return result;
}

std::optional<ValueId> Graph::findValue(const std::string &name) const {
  auto it = valuesByName_.find(name);
  if (it == valuesByName_.end() || !values_[static_cast<size_t>(it->second)].alive) return std::nullopt;
  return it->second;
}

int64_t Graph::opsetVersion(const std::string &domain) const {
  auto it = opsetImports.find(domain == "ai.onnx" ? "" : domain);
  return it == opsetImports.end() ? 0 : it->second;
}

bool Graph::isGraphOutput(ValueId value) const {
  return std::find(outputs_.begin(), outputs_.end(), value) != outputs_.end();
}

std::string Graph::uniqueValueName(const std::string &base) const {
  if (!valuesByName_.count(base)) return base;
  for (int i = 1;; ++i) {
    std::string candidate = base + "_" + std::to_string(i);
    if (!valuesByName_.count(candidate)) return candidate;
  }
}

void Graph::removeUse(ValueId value, Use use) {
  auto &uses = values_[static_cast<size_t>(value)].uses;
  auto it = std::find(uses.begin(), uses.end(), use);
  assert(it != uses.end());
  uses.erase(it);
}

void Graph::setOperand(NodeId nodeId, int operand, ValueId value) {
  Node &n = nodes_[static_cast<size_t>(nodeId)];
  if (static_cast<size_t>(operand) >= n.inputs.size()) n.inputs.resize(static_cast<size_t>(operand) + 1, kNoValue);
  ValueId old = n.inputs[static_cast<size_t>(operand)];
  if (old == value) return;
  if (old != kNoValue) removeUse(old, {nodeId, operand});
  n.inputs[static_cast<size_t>(operand)] = value;
  if (value != kNoValue) values_[static_cast<size_t>(value)].uses.push_back({nodeId, operand});
}

void Graph::replaceAllUsesWith(ValueId from, ValueId to) {
  if (from == to) return;
  std::vector<Use> uses = values_[static_cast<size_t>(from)].uses;
  for (const Use &use : uses) setOperand(use.node, use.operand, to);
  for (ValueId &out : outputs_)
    if (out == from) out = to;
}

void Graph::makeConstant(ValueId valueId, Tensor tensor) {
  Value &v = values_[static_cast<size_t>(valueId)];
  if (v.producer != kNoNode) {
    Node &producer = nodes_[static_cast<size_t>(v.producer)];
    producer.outputs[static_cast<size_t>(v.producerOutput)] = kNoValue;
  }
  v.producer = kNoNode;
  v.producerOutput = 0;
  v.type = tensor.type();
  v.constant = std::move(tensor);
}

void Graph::replaceProducedValue(ValueId replaced, ValueId survivor) {
  Value &old = values_[static_cast<size_t>(replaced)];
  Value &kept = values_[static_cast<size_t>(survivor)];
  assert(old.producer != kNoNode && kept.producer != kNoNode && !isGraphOutput(replaced));
  nodes_[static_cast<size_t>(kept.producer)].outputs[static_cast<size_t>(kept.producerOutput)] = kNoValue;
  kept.producer = old.producer;
  kept.producerOutput = old.producerOutput;
  nodes_[static_cast<size_t>(old.producer)].outputs[static_cast<size_t>(old.producerOutput)] = survivor;
  old.producer = kNoNode;
  replaceAllUsesWith(replaced, survivor);
  old.alive = false;
}

void Graph::eraseNode(NodeId nodeId) {
  Node &n = nodes_[static_cast<size_t>(nodeId)];
  for (size_t i = 0; i < n.inputs.size(); ++i)
    if (n.inputs[i] != kNoValue) removeUse(n.inputs[i], {nodeId, static_cast<int>(i)});
  for (ValueId out : n.outputs) {
    if (out == kNoValue) continue;
    assert(values_[static_cast<size_t>(out)].uses.empty() && !isGraphOutput(out));
    values_[static_cast<size_t>(out)].alive = false;
  }
  n.alive = false;
  order_.erase(std::remove(order_.begin(), order_.end(), nodeId), order_.end());
}

void Graph::eraseValue(ValueId valueId) {
  Value &v = values_[static_cast<size_t>(valueId)];
  assert(v.uses.empty() && !isGraphOutput(valueId));
  v.alive = false;
  v.constant = Tensor();
  inputs_.erase(std::remove(inputs_.begin(), inputs_.end(), valueId), inputs_.end());
}

Status Graph::topologicalSort() {
  // Kahn's algorithm, picking the ready node that comes first in the current order (stable).
  std::vector<int> position(nodes_.size(), -1);
  for (size_t i = 0; i < order_.size(); ++i) position[static_cast<size_t>(order_[i])] = static_cast<int>(i);
  std::vector<int> pending(nodes_.size(), 0);
  std::priority_queue<std::pair<int, NodeId>, std::vector<std::pair<int, NodeId>>, std::greater<>> ready;
  for (NodeId id : order_) {
    const Node &n = nodes_[static_cast<size_t>(id)];
    for (ValueId in : n.inputs)
      if (in != kNoValue && values_[static_cast<size_t>(in)].producer != kNoNode) ++pending[static_cast<size_t>(id)];
    if (pending[static_cast<size_t>(id)] == 0) ready.push({position[static_cast<size_t>(id)], id});
  }
  std::vector<NodeId> sorted;
  while (!ready.empty()) {
    NodeId id = ready.top().second;
    ready.pop();
    sorted.push_back(id);
    for (ValueId out : nodes_[static_cast<size_t>(id)].outputs) {
      if (out == kNoValue) continue;
      for (const Use &use : values_[static_cast<size_t>(out)].uses)
        if (--pending[static_cast<size_t>(use.node)] == 0)
          ready.push({position[static_cast<size_t>(use.node)], use.node});
    }
  }
  if (sorted.size() != order_.size()) {
    for (NodeId id : order_)
      if (pending[static_cast<size_t>(id)] > 0)
        return Status::error("the graph has a cycle through node '" + nodes_[static_cast<size_t>(id)].name + "' (" +
                             nodes_[static_cast<size_t>(id)].opType + ")");
  }
  order_ = std::move(sorted);
  return Status::ok();
}

}  // namespace fluidml::ir
