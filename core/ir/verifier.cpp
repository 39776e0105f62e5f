// Checks every invariant the Graph API promises, in O(nodes + uses). Tests run it after every pass.
#include "core/ir/verifier.h"

#include <algorithm>
#include <unordered_set>

namespace fluidml::ir {

namespace {
Status fail(const std::string &message) { return Status::error("IR verification failed: " + message); }
}  // namespace

Status verify(const Graph &graph) {
  std::unordered_set<std::string> names;
  for (size_t id = 0; id < graph.valueCapacity(); ++id) {
    const Value &v = graph.value(static_cast<ValueId>(id));
    if (!v.alive) continue;
    if (v.name.empty()) return fail("value #" + std::to_string(id) + " has no name");
    if (!names.insert(v.name).second) return fail("two values are named '" + v.name + "'");
    if (v.isConstant() && v.producer != kNoNode) return fail("constant '" + v.name + "' has a producer");
    if (v.isConstant() && !(v.constant.type() == TensorType(v.type.dtype, v.type.shape)))
      return fail("constant '" + v.name + "' holds " + v.constant.type().toString() + " but is typed " +
                  v.type.toString());
    for (int64_t d : v.type.shape)
      if (d < 0) return fail("value '" + v.name + "' has a negative dimension");
    if (Status layout = v.type.layout.validate(v.type.shape); !layout.isOk())
      return fail("value '" + v.name + "': " + layout.message());
    if (v.isConstant() && !v.type.layout.isRowMajor())
      return fail("constant '" + v.name + "' has layout " + v.type.layout.toString(v.type.rank()) +
                  " (constants stay row-major; codegen re-lays weights out as derived weights)");
    if (v.producer != kNoNode) {
      const Node &p = graph.node(v.producer);
      if (!p.alive) return fail("value '" + v.name + "' is produced by a removed node");
      if (p.output(static_cast<size_t>(v.producerOutput)) != v.id)
        return fail("value '" + v.name + "' is not listed as an output of its producer '" + p.name + "'");
    }
    for (const Use &use : v.uses) {
      if (use.node < 0 || static_cast<size_t>(use.node) >= graph.nodeCapacity() || !graph.node(use.node).alive)
        return fail("value '" + v.name + "' is used by a removed node");
      if (graph.node(use.node).input(static_cast<size_t>(use.operand)) != v.id)
        return fail("use list of '" + v.name + "' disagrees with node '" + graph.node(use.node).name + "'");
    }
  }

  std::vector<int> position(graph.nodeCapacity(), -1);
  for (size_t i = 0; i < graph.order().size(); ++i) {
    NodeId id = graph.order()[i];
    if (!graph.node(id).alive) return fail("the order holds removed node '" + graph.node(id).name + "'");
    if (position[static_cast<size_t>(id)] != -1) return fail("node '" + graph.node(id).name + "' is ordered twice");
    position[static_cast<size_t>(id)] = static_cast<int>(i);
  }
  for (size_t id = 0; id < graph.nodeCapacity(); ++id) {
    const Node &n = graph.node(static_cast<NodeId>(id));
    if (!n.alive) continue;
    if (position[id] == -1) return fail("node '" + n.name + "' is missing from the order");
    if (n.opType.empty()) return fail("node #" + std::to_string(id) + " has no op type");
    for (size_t i = 0; i < n.inputs.size(); ++i) {
      ValueId in = n.inputs[i];
      if (in == kNoValue) continue;
      if (in < 0 || static_cast<size_t>(in) >= graph.valueCapacity() || !graph.value(in).alive)
        return fail("node '" + n.name + "' reads a removed value");
      const Value &v = graph.value(in);
      Use use{n.id, static_cast<int>(i)};
      if (std::count(v.uses.begin(), v.uses.end(), use) != 1)
        return fail("node '" + n.name + "' operand " + std::to_string(i) + " is missing from the uses of '" +
                    v.name + "'");
      if (v.producer != kNoNode && position[static_cast<size_t>(v.producer)] >= position[id])
        return fail("node '" + n.name + "' runs before the producer of its input '" + v.name + "'");
    }
    for (size_t i = 0; i < n.outputs.size(); ++i) {
      ValueId out = n.outputs[i];
      if (out == kNoValue) continue;
      const Value &v = graph.value(out);
      if (v.producer != n.id || v.producerOutput != static_cast<int>(i))
        return fail("output '" + v.name + "' of node '" + n.name + "' names another producer");
    }
  }
  for (ValueId in : graph.inputs())
    if (!graph.value(in).alive || graph.value(in).producer != kNoNode || graph.value(in).isConstant())
      return fail("graph input '" + graph.value(in).name + "' is produced, constant or removed");
  for (ValueId in : graph.inputs())
    if (!graph.value(in).type.layout.isRowMajor())
      return fail("graph input '" + graph.value(in).name + "' has layout " +
                  graph.value(in).type.layout.toString(graph.value(in).type.rank()) + " (model inputs stay row-major)");
  for (ValueId out : graph.outputs()) {
    if (out < 0 || !graph.value(out).alive) return fail("a graph output refers to a removed value");
    if (!graph.value(out).type.layout.isRowMajor())
      return fail("graph output '" + graph.value(out).name + "' has layout " +
                  graph.value(out).type.layout.toString(graph.value(out).type.rank()) +
                  " (model outputs stay row-major)");
  }
  return Status::ok();
}

}  // namespace fluidml::ir
