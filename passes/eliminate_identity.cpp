// eliminate-identity: removes nodes that copy their operand unchanged and collapses chains of shape-only ops.
//   - Identity; Dropout in inference (no training mode, mask unread); Cast to the same dtype;
//     Reshape/Flatten/Squeeze/Unsqueeze whose output type equals the input's; Transpose with the identity perm.
//   - Reshape/Flatten/Squeeze/Unsqueeze fed by another of them whose output has no other reader become one
//     Reshape to the final (static) shape, which may in turn be a no-op and go.
// A removed node's readers read its operand instead. Graph output names stay stable: when the removed node
// produces a graph output, its operand's producer is made to produce that output directly; when the operand
// is a graph input, a constant or another graph output this is impossible and the node stays.
// Every removal or collapse is reported as a replacement; the schedule analysis is preserved.
// One forward sweep over the order (every rewrite only looks at the producer of the current node's operand):
// O(nodes + uses).
#include <algorithm>
#include <numeric>

#include "core/ops/op_registry.h"
#include "passes/analyses.h"
#include "passes/passes.h"

namespace fluidml::passes {

namespace {

struct EliminateIdentityOptions {
  static Expected<EliminateIdentityOptions> fromJson(const nlohmann::json &j);
};

Expected<EliminateIdentityOptions> EliminateIdentityOptions::fromJson(const nlohmann::json &j) {
  pass::OptionsReader reader("eliminate-identity", j);
  FLUIDML_RETURN_IF_ERROR(reader.validate({}));
  return EliminateIdentityOptions{};
}

/// Ops that only relabel the dimensions of their operand 0 (the data stays in row-major order).
bool isReshapeLike(const ir::Node &node) {
  return node.domain.empty() && (node.opType == "Reshape" || node.opType == "Flatten" ||
                                 node.opType == "Squeeze" || node.opType == "Unsqueeze");
}


bool isConstantScalarEqual(const ir::Graph &graph, ir::ValueId value, double expected) {
  if (value == ir::kNoValue || !graph.value(value).isConstant()) return false;
  const ir::Tensor &t = graph.value(value).constant;
  return t.numel() == 1 && t.elementAsDouble(0) == expected;
}

/// Why a node is a no-op copy of its operand 0, as the stats key, or empty when it is not.
std::string noOpKind(const ir::Graph &graph, const ir::Node &node) {
  if (!node.domain.empty() || node.inputs.empty() || node.inputs[0] == ir::kNoValue) return {};
  if (node.outputs.empty() || node.outputs[0] == ir::kNoValue) return {};
  const ir::TensorType &in = graph.value(node.inputs[0]).type;
  const ir::TensorType &out = graph.value(node.outputs[0]).type;
  if (!(in == out)) return {};
  // Every output but the first must be unread (Dropout's mask).
  for (size_t i = 1; i < node.outputs.size(); ++i) {
    ir::ValueId extra = node.outputs[i];
    if (extra != ir::kNoValue && (!graph.value(extra).uses.empty() || graph.isGraphOutput(extra))) return {};
  }
  if (node.opType == "Identity") return "removed_identity";
  if (node.opType == "Cast") return "removed_cast";
  if (isReshapeLike(node)) return "removed_reshape";
  if (node.opType == "Dropout") {
    // Inference unless training_mode is given and not a constant false; training with ratio 0 copies too.
    bool inference = !node.hasInput(2) || isConstantScalarEqual(graph, node.inputs[2], 0.0) ||
                     isConstantScalarEqual(graph, node.input(1), 0.0);
    return inference ? "removed_dropout" : std::string();
  }
  if (node.opType == "Transpose") {
    std::vector<int64_t> identity(in.rank());
    std::iota(identity.begin(), identity.end(), 0);
    // Without perm, Transpose reverses the dimensions: the identity only up to rank 1.
    std::optional<std::vector<int64_t>> perm = node.intsAttr("perm");
    bool isIdentity = perm ? *perm == identity : in.rank() <= 1;
    return isIdentity ? "removed_transpose" : std::string();
  }
  return {};
}

/// Removes constants among `candidates` that nothing reads any more.
void eraseOrphanedConstants(ir::Graph &graph, const std::vector<ir::ValueId> &candidates) {
  for (ir::ValueId id : candidates) {
    if (id == ir::kNoValue) continue;
    const ir::Value &v = graph.value(id);
    if (!v.alive || !v.isConstant() || !v.uses.empty() || graph.isGraphOutput(id)) continue;
    graph.eraseValue(id);
  }
}

class EliminateIdentityPass final : public pass::Pass {
 public:
  static constexpr std::string_view kName = "eliminate-identity";
  explicit EliminateIdentityPass(EliminateIdentityOptions) {}

  std::string_view name() const override { return kName; }

  Expected<pass::PassResult> run(ir::Graph &graph, pass::PassContext &) override {
    pass::PassResult result;
    for (const char *key : {"removed_identity", "removed_dropout", "removed_cast", "removed_reshape",
                            "removed_transpose", "collapsed_reshapes", "removed_constants", "kept_at_outputs"})
      result.stats[key] = 0;
    const std::vector<ir::ValueId> constantsBefore = graph.constants();
    const std::vector<ir::NodeId> order = graph.order();
    for (ir::NodeId id : order) {
      if (!graph.node(id).alive) continue;
      if (isReshapeLike(graph.node(id))) FLUIDML_RETURN_IF_ERROR(collapseChain(graph, id, result));
      std::string kind = noOpKind(graph, graph.node(id));
      if (kind.empty()) continue;
      pass::Replacement replacement{kind, {id}, {}};
      if (bypass(graph, id, replacement)) {
        result.stats[kind] += 1;
        result.replacements.push_back(std::move(replacement));
      } else {
        result.stats["kept_at_outputs"] += 1;
      }
    }
    // Counted at the end so that shape constants made and dropped within the pass do not count.
    for (ir::ValueId id : constantsBefore)
      if (!graph.value(id).alive) result.stats["removed_constants"] += 1;
    for (const auto &[key, count] : result.stats)
      if (key != "kept_at_outputs" && count > 0) result.changed = true;
    // Nodes go or are rewritten where they stand: the order of the rest is kept.
    result.preserved.insert(std::string(kScheduleAnalysis));
    return result;
  }

 private:
  /// Makes node `id` (reshape-like) read the operand of its reshape-like producers directly, as one Reshape
  /// to its own output shape, while the values in between have no other reader.
  static Status collapseChain(ir::Graph &graph, ir::NodeId id, pass::PassResult &result) {
    // A Reshape operand needs opset 5; a 0 in the shape would mean "copy" unless allowzero (opset 14).
    if (graph.opsetVersion("") < 5) return Status::ok();
    const ir::ValueId out = graph.node(id).outputs.empty() ? ir::kNoValue : graph.node(id).outputs[0];
    if (out == ir::kNoValue) return Status::ok();
    const ir::Shape shape = graph.value(out).type.shape;
    if (std::find(shape.begin(), shape.end(), 0) != shape.end()) return Status::ok();
    // Relabelling dims is only free in row-major order; values already given other layouts keep their ops.
    if (!graph.value(out).type.layout.isRowMajor()) return Status::ok();

    bool rewrote = false;
    pass::Replacement replacement{"collapsed_reshapes", {}, {id}};
    for (;;) {
      ir::ValueId middle = graph.node(id).input(0);
      if (middle == ir::kNoValue || graph.isGraphOutput(middle)) break;
      const ir::Value &mid = graph.value(middle);
      if (mid.producer == ir::kNoNode || mid.uses.size() != 1) break;
      const ir::Node &producer = graph.node(mid.producer);
      if (!isReshapeLike(producer) || producer.outputs.size() != 1) break;
      if (!mid.type.layout.isRowMajor() || producer.input(0) == ir::kNoValue ||
          !graph.value(producer.input(0)).type.layout.isRowMajor())
        break;

      const ir::NodeId producerId = producer.id;
      const ir::ValueId source = producer.input(0);
      std::vector<ir::ValueId> orphans(producer.inputs.begin() + 1, producer.inputs.end());
      ir::Node &node = graph.node(id);
      orphans.insert(orphans.end(), node.inputs.begin() + 1, node.inputs.end());

      if (!rewrote) {
        // Turn the node into Reshape(source, constant shape) in place: it keeps its name, output and position.
        ir::ValueId shapeConstant = graph.addConstant(
            graph.uniqueValueName(node.name + "_shape"),
            ir::Tensor::fromVector<int64_t>({static_cast<int64_t>(shape.size())}, shape));
        ir::Node &rewritten = graph.node(id);
        rewritten.opType = "Reshape";
        rewritten.attributes.clear();
        graph.setOperand(id, 1, shapeConstant);
        rewrote = true;
      }
      graph.setOperand(id, 0, source);
      graph.eraseNode(producerId);
      replacement.removed.insert(replacement.removed.begin(), producerId);  // in schedule order
      result.stats["collapsed_reshapes"] += 1;
      eraseOrphanedConstants(graph, orphans);
    }
    if (!rewrote) return Status::ok();
    result.replacements.push_back(std::move(replacement));
    // The rewritten node must still type-check to the same output (a broken rule here is a compiler bug).
    const ir::TensorType expected = graph.value(out).type;
    Status inferred = ops::inferNodeTypes(graph, id);
    if (!inferred.isOk()) return inferred.withContext("eliminate-identity: " + ops::describeNode(graph.node(id)));
    if (!(graph.value(out).type == expected))
      return Status::error("eliminate-identity: " + ops::describeNode(graph.node(id)) + ": collapsed Reshape gives " +
                           graph.value(out).type.toString() + " instead of " + expected.toString());
    return Status::ok();
  }

  /// Removes no-op node `id`, its readers reading its operand 0 instead. False when it must stay because its
  /// output is a graph output that cannot be moved to the operand's producer. When that producer is made to
  /// produce the output, it is added to `replacement.added` (rewritten in place).
  static bool bypass(ir::Graph &graph, ir::NodeId id, pass::Replacement &replacement) {
    const ir::Node &node = graph.node(id);
    const ir::ValueId in = node.inputs[0];
    const ir::ValueId out = node.outputs[0];
    std::vector<ir::ValueId> orphans(node.inputs.begin() + 1, node.inputs.end());
    if (!graph.isGraphOutput(out)) {
      graph.replaceAllUsesWith(out, in);
      graph.eraseNode(id);
      eraseOrphanedConstants(graph, orphans);
      return true;
    }
    // The output keeps its name: the producer of `in` produces `out` instead, and `in` goes away.
    const ir::Value &inValue = graph.value(in);
    if (inValue.producer == ir::kNoNode || graph.isGraphOutput(in)) return false;
    replacement.added.push_back(inValue.producer);
    graph.replaceProducedValue(in, out);  // the node now reads `out`, which it no longer produces
    graph.eraseNode(id);
    eraseOrphanedConstants(graph, orphans);
    return true;
  }
};

}  // namespace

PassFactoryResult createEliminateIdentityPass(const nlohmann::json &options) {
  FLUIDML_ASSIGN_OR_RETURN(EliminateIdentityOptions parsed, EliminateIdentityOptions::fromJson(options));
  return std::unique_ptr<pass::Pass>(std::make_unique<EliminateIdentityPass>(parsed));
}

}  // namespace fluidml::passes
