// assign-layouts: a fixed layout policy, for measuring layout-aware kernels before a layout search exists.
//
// 1. By op type: every node whose op type the `layouts` option names gets that layout on its output 0 (ONNX
//    Runtime's NchwcTransformer decides its convs the same way: by rule, the block fixed by the ISA).
// 2. Forward propagation (`propagate`), in topological order, for the nodes step 1 does not name: a node whose
//    non-constant inputs of rank >= 3 all hold one layout L writes L on its outputs of that rank, so regions of
//    elementwise ops and pools after a blocked conv stay blocked (ORT, oneDNN and TVM propagate the same way).
//    An input whose shape cannot take L (a size-1 dim L would tile, another rank) does not count. A row-major
//    input that could take L blocks the node, but for one case: an operand smaller than the node's output (the
//    squeeze-excite gate, N x C x 1 x 1, of Mul(x, gate)) that this node alone reads gets L too when its producer
//    can write it; the conversion then happens on the small tensor, not on the node's whole output.
// 3. Every assignment is tentative: a value keeps a layout only if its shape takes it (Layout::validate: no
//    tile over a size-1 dim) and the kernels of the nodes concerned accept it (PassContext::layoutAcceptance,
//    which the drivers set to codegen::checkNodeLayouts); otherwise it reverts at once.
// 4. passes::legalizeLayouts then inserts a fluidml.Relayout wherever a kernel still refuses its operands'
//    layouts (consumers of the values chosen here). Graph inputs, outputs and constants stay row-major.
// Stats: the values left in each layout, the decisions of each step, the Relayouts inserted and their bytes.
// Cost: O(nodes x operands) acceptance checks, plus legalizeLayouts'.
#include "passes/assign_layouts.h"

#include <algorithm>
#include <cctype>

#include "core/ops/op_registry.h"
#include "core/ops/relayout.h"
#include "passes/legalize_layouts.h"
#include "passes/passes.h"

namespace fluidml::passes {

namespace {

constexpr std::string_view kPassName = "assign-layouts";

/// The channel-blocked forms whose block is the target's: their text, the rank they are for.
struct SymbolicLayout {
  std::string_view text;
  size_t rank;
};
constexpr SymbolicLayout kSymbolic[] = {{"NCWc", 3}, {"NCHWc", 4}, {"NCDHWc", 5}};
constexpr size_t kMaxRank = 8;

/// The rank a text most likely means, for the error message of a text no rank takes.
size_t guessedRank(const std::string &text) {
  size_t count = 0;
  if (!text.empty() && text[0] == '(') {
    count = 1 + static_cast<size_t>(std::count(text.begin(), text.end(), ','));
  } else {
    for (char ch : text) count += std::isupper(static_cast<unsigned char>(ch)) ? 1 : 0;
  }
  return std::clamp<size_t>(count, 1, kMaxRank);
}

Status checkLayoutText(const std::string &key, const std::string &text) {
  for (const SymbolicLayout &symbolic : kSymbolic)
    if (text == symbolic.text) return Status::ok();
  for (size_t rank = 1; rank <= kMaxRank; ++rank)
    if (ir::parseLayout(text, rank)) return Status::ok();
  auto parsed = ir::parseLayout(text, guessedRank(text));
  return Status::error("pass 'assign-layouts': option 'layouts." + key + "': " + parsed.message() +
                       " (also valid: NCHWc, the channels blocked by the target's vector lanes)");
}

Status checkOpKey(const std::string &key) {
  const size_t dot = key.rfind('.');
  const std::string domain = dot == std::string::npos ? "" : key.substr(0, dot);
  const std::string opType = dot == std::string::npos ? key : key.substr(dot + 1);
  const ops::OpSchema *schema = ops::OpRegistry::instance().find(domain, opType);
  if (schema == nullptr)
    return Status::error("pass 'assign-layouts': option 'layouts': unknown op type '" + key +
                         "' (ONNX ops by name, e.g. 'Conv'; others qualified by their domain, e.g. "
                         "'fluidml.FusedConv')");
  if (schema->definesLayout)
    return Status::error("pass 'assign-layouts': option 'layouts': '" + key +
                         "' cannot be given a layout (its attribute decides it)");
  return Status::ok();
}

bool definesLayout(const ir::Node &node) {
  const ops::OpSchema *schema = ops::OpRegistry::instance().find(node.domain, node.opType);
  return schema != nullptr && schema->definesLayout;
}

class AssignLayoutsPass final : public pass::Pass {
 public:
  explicit AssignLayoutsPass(AssignLayoutsOptions options) : options_(std::move(options)) {}

  std::string_view name() const override { return kPassName; }
  nlohmann::json options() const override { return options_.toJson(); }

  Expected<pass::PassResult> run(ir::Graph &graph, pass::PassContext &context) override {
    if (!context.layoutAcceptance)
      return Status::internal(
          "pass 'assign-layouts': the PassContext has no layoutAcceptance (a compilation driver sets it to "
          "codegen::checkNodeLayouts)");
    Run run{graph, context, options_, {}};
    for (const char *key : {"mapped_values", "propagated_values", "adjusted_operands", "refused", "not_applicable",
                            "assigned_values", "relayouts", "relayout_bytes"})
      run.result.stats[key] = 0;
    run.byOpType();
    if (options_.propagate) run.propagate();
    FLUIDML_RETURN_IF_ERROR(run.legalize());
    run.countAssigned();
    return std::move(run.result);
  }

 private:
  /// The state of one run over one graph.
  struct Run {
    ir::Graph &graph;
    const pass::PassContext &context;
    const AssignLayoutsOptions &options;
    pass::PassResult result;

    /// Gives every value of `values` `layout` when each shape takes it and the kernel of every node of `nodes`
    /// accepts the result; otherwise leaves them as they were. Returns whether it did.
    bool tryAssign(const std::vector<ir::ValueId> &values, const ir::Layout &layout,
                   const std::vector<ir::NodeId> &nodes) {
      for (ir::ValueId v : values)
        if (!layout.validate(graph.value(v).type.shape).isOk()) return refuse();
      std::vector<ir::Layout> previous;
      for (ir::ValueId v : values) {
        previous.push_back(graph.value(v).type.layout);
        graph.value(v).type.layout = layout;
      }
      for (ir::NodeId n : nodes) {
        if (context.layoutAcceptance(graph, graph.node(n)).isOk()) continue;
        for (size_t i = 0; i < values.size(); ++i) graph.value(values[i]).type.layout = previous[i];
        return refuse();
      }
      result.changed = true;
      return true;
    }

    bool refuse() {
      result.stats["refused"] += 1;
      return false;
    }

    /// Whether step 1 decides `node` (its op type is named, with a layout for its output's rank or not).
    bool mapped(const ir::Node &node) const { return options.layouts.count(layoutOpKey(node)) != 0; }

    /// Step 1: output 0 of every node whose op type is named.
    void byOpType() {
      for (ir::NodeId id : std::vector<ir::NodeId>(graph.order())) {
        const ir::Node &node = graph.node(id);
        auto entry = options.layouts.find(layoutOpKey(node));
        if (entry == options.layouts.end() || node.outputs.empty() || node.outputs[0] == ir::kNoValue) continue;
        const ir::ValueId out = node.outputs[0];
        // Graph outputs stay row-major; a value another pass laid out keeps its layout.
        if (graph.isGraphOutput(out) || !graph.value(out).type.layout.isRowMajor()) continue;
        const std::optional<ir::Layout> layout = layoutForRank(entry->second, graph.value(out).type.rank(),
                                                               context.target);
        if (!layout) {
          result.stats["not_applicable"] += 1;
          continue;
        }
        if (layout->isRowMajor()) continue;
        if (tryAssign({out}, *layout, {id})) result.stats["mapped_values"] += 1;
      }
    }

    /// Step 2, one node: see the file comment.
    void propagateTo(ir::NodeId id) {
      const ir::Node &node = graph.node(id);
      if (mapped(node) || definesLayout(node)) return;
      // The one layout the node's laid-out inputs agree on.
      std::optional<ir::Layout> layout;
      size_t rank = 0;
      for (ir::ValueId in : node.inputs) {
        if (in == ir::kNoValue || graph.value(in).isConstant()) continue;
        const ir::TensorType &type = graph.value(in).type;
        if (type.rank() < 3 || type.layout.isRowMajor()) continue;
        if (layout && (rank != type.rank() || !(*layout == type.layout))) return;
        layout = type.layout;
        rank = type.rank();
      }
      if (!layout) return;
      std::vector<ir::ValueId> values;
      int64_t outputElements = 0;
      for (ir::ValueId out : node.outputs) {
        if (out == ir::kNoValue || graph.value(out).type.rank() != rank || graph.isGraphOutput(out)) continue;
        if (!graph.value(out).type.layout.isRowMajor()) return;  // laid out by someone else
        values.push_back(out);
        outputElements = std::max(outputElements, graph.value(out).type.numel());
      }
      if (values.empty()) return;
      const size_t outputs = values.size();
      // Row-major inputs that could take the layout: small operands read by this node alone go along.
      std::vector<ir::NodeId> nodes;
      for (ir::ValueId in : node.inputs) {
        if (in == ir::kNoValue || graph.value(in).isConstant()) continue;
        const ir::Value &value = graph.value(in);
        if (value.type.rank() != rank || value.type.layout == *layout) continue;
        if (!layout->validate(value.type.shape).isOk()) continue;  // cannot take it: does not count
        if (!canAdjust(value, id, outputElements)) return;
        if (std::find(values.begin(), values.end(), in) == values.end()) {
          values.push_back(in);
          nodes.push_back(value.producer);
        }
      }
      nodes.push_back(id);
      if (!tryAssign(values, *layout, nodes)) return;
      result.stats["propagated_values"] += static_cast<double>(outputs);
      result.stats["adjusted_operands"] += static_cast<double>(values.size() - outputs);
    }

    /// Whether the row-major operand `value` of node `reader` may take the reader's layout: it is smaller than
    /// the reader's output, `reader` alone reads it, and a node (not a layout-defining one) makes it.
    bool canAdjust(const ir::Value &value, ir::NodeId reader, int64_t outputElements) const {
      if (value.producer == ir::kNoNode || graph.isGraphOutput(value.id) || !value.type.layout.isRowMajor())
        return false;
      if (value.type.numel() >= outputElements) return false;
      for (const ir::Use &use : value.uses)
        if (use.node != reader) return false;
      return !definesLayout(graph.node(value.producer));
    }

    /// Step 2: every node in topological order (producers decided before their readers).
    void propagate() {
      for (ir::NodeId id : std::vector<ir::NodeId>(graph.order())) propagateTo(id);
    }

    /// Step 4: Relayouts wherever a kernel refuses; each is reported as an added node.
    Status legalize() {
      const size_t firstNew = graph.nodeCapacity();  // node ids are never reused
      FLUIDML_RETURN_IF_ERROR(legalizeLayouts(graph, context.layoutAcceptance).status());
      for (ir::NodeId id : graph.order()) {
        if (static_cast<size_t>(id) < firstNew || !ops::isRelayout(graph.node(id))) continue;
        result.stats["relayouts"] += 1;
        result.stats["relayout_bytes"] += static_cast<double>(graph.value(graph.node(id).outputs[0]).type.bytes());
        result.replacements.push_back(pass::Replacement{"relayouts", {}, {id}});
        result.changed = true;
      }
      return Status::ok();
    }

    /// The values nodes (Relayouts aside) write in a layout other than row-major, in all and by layout.
    void countAssigned() {
      for (ir::NodeId id : graph.order()) {
        if (ops::isRelayout(graph.node(id))) continue;
        for (ir::ValueId out : graph.node(id).outputs) {
          if (out == ir::kNoValue || graph.value(out).type.layout.isRowMajor()) continue;
          const ir::TensorType &type = graph.value(out).type;
          result.stats["assigned_values"] += 1;
          result.stats["assigned_" + type.layout.toString(type.rank())] += 1;
        }
      }
    }
  };

  AssignLayoutsOptions options_;
};

}  // namespace

Expected<AssignLayoutsOptions> AssignLayoutsOptions::fromJson(const nlohmann::json &j) {
  pass::OptionsReader reader(std::string(kPassName), j);
  FLUIDML_RETURN_IF_ERROR(reader.validate({"layouts", "propagate"}));
  AssignLayoutsOptions options;
  FLUIDML_RETURN_IF_ERROR(reader.get("propagate", options.propagate));
  if (!j.is_object() || !j.contains("layouts")) return options;
  const nlohmann::json &layouts = j.at("layouts");
  if (!layouts.is_object())
    return Status::error("pass 'assign-layouts': option 'layouts' must be an object mapping op types to layouts "
                         "({\"Conv\": \"NCHWc\"}), got " + std::string(layouts.type_name()));
  for (const auto &item : layouts.items()) {
    FLUIDML_RETURN_IF_ERROR(checkOpKey(item.key()));
    if (!item.value().is_string())
      return Status::error("pass 'assign-layouts': option 'layouts." + item.key() +
                           "' must be a layout string (\"NCHWc\", \"NCHW16c\", \"(0,2,3,1)\"), got " +
                           item.value().dump());
    const std::string text = item.value().get<std::string>();
    FLUIDML_RETURN_IF_ERROR(checkLayoutText(item.key(), text));
    options.layouts[item.key()] = text;
  }
  return options;
}

nlohmann::json AssignLayoutsOptions::toJson() const {
  nlohmann::json map = nlohmann::json::object();
  for (const auto &[op, text] : layouts) map[op] = text;
  return {{"layouts", map}, {"propagate", propagate}};
}

std::optional<ir::Layout> layoutForRank(const std::string &text, size_t rank, const target::TargetDescription &target) {
  for (const SymbolicLayout &symbolic : kSymbolic)
    if (text == symbolic.text) {
      if (rank != symbolic.rank) return std::nullopt;
      return ir::Layout::blocked(rank, {{1, target.floatLanes()}});
    }
  auto parsed = ir::parseLayout(text, rank);
  if (!parsed) return std::nullopt;
  return std::move(parsed).value();
}

std::string layoutOpKey(const ir::Node &node) {
  return node.domain.empty() || node.domain == "ai.onnx" ? node.opType : node.domain + "." + node.opType;
}

PassFactoryResult createAssignLayoutsPass(const nlohmann::json &options) {
  FLUIDML_ASSIGN_OR_RETURN(AssignLayoutsOptions parsed, AssignLayoutsOptions::fromJson(options));
  return std::unique_ptr<pass::Pass>(new AssignLayoutsPass(std::move(parsed)));
}

}  // namespace fluidml::passes
