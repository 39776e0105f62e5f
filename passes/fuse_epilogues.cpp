// fuse-epilogues: folds the elementwise chain after a Conv or MatMul into one fluidml.FusedConv /
// fluidml.FusedMatMul node (node form and semantics: core/ops/fused_epilogue.h), so that code generation can
// apply the chain to each result while it is still in registers instead of writing and re-reading the tensor.
//
// For each float32 Conv / MatMul in order whose output is not a graph output, the chain of readers is absorbed
// while the next one is
//   - Add(y, other) / Add(other, y) with `other` lining up with y (same shape, a bias over the last dimension
//     for MatMul, a bias per channel for Conv) and the Add's output of y's shape        -> step Add(other);
//   - Relu                                                                              -> step Relu;
//   - Clip with constant or omitted bounds (opset >= 11) or bound attributes (older)    -> step Clip (one per node);
//   - Sigmoid(y) read by a single Mul(y, sig) / Mul(sig, y), y read by exactly those two -> step SiLU;
//   - Sigmoid as y's only reader                                                        -> step Sigmoid;
//   - Mul(Mul(y, Add(Erf(Div(y, sqrt 2)), 1)), 0.5), PyTorch's exported exact GELU (operands of Add and the Muls
//     in either order, constants scalar), y read by the Div and the first Mul only     -> step Gelu;
// and each value between two absorbed nodes has that one reader (two for SiLU) and is not a graph output, up to
// `max-steps` steps. The fused node takes the base node's name and the last absorbed node's output value (so
// graph output names survive) and its place in the order (every operand is ready there). Candidate steps are
// checked with ops::parseEpilogue before anything changes, so the pass only makes nodes that type-check.
// Each fusion is reported as a replacement (base and absorbed nodes -> the fused node); the schedule analysis
// is preserved, the memory plan is not.
// Cost: one sweep over the order, O(nodes + uses), plus O(order) per fused node to splice it into the order.
#include <algorithm>
#include <cctype>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "core/ops/fused_epilogue.h"
#include "core/ops/op_registry.h"
#include "passes/analyses.h"
#include "passes/passes.h"

namespace fluidml::passes {

namespace {

struct FuseEpiloguesOptions {
  int64_t maxSteps = 4;  // epilogue steps per fused node; 0 fuses nothing

  static Expected<FuseEpiloguesOptions> fromJson(const nlohmann::json &j);
  nlohmann::json toJson() const { return {{"max-steps", maxSteps}}; }
};

Expected<FuseEpiloguesOptions> FuseEpiloguesOptions::fromJson(const nlohmann::json &j) {
  pass::OptionsReader reader("fuse-epilogues", j);
  FLUIDML_RETURN_IF_ERROR(reader.validate({"max-steps"}));
  FuseEpiloguesOptions options;
  FLUIDML_RETURN_IF_ERROR(reader.get("max-steps", options.maxSteps));
  if (options.maxSteps < 0)
    return Status::error("fuse-epilogues: option 'max-steps' must be >= 0, got " + std::to_string(options.maxSteps));
  return options;
}

/// Values given a layout by a layout pass are left alone (the epilogue's operand offsets assume row-major order).

/// A chain found after one base node; nothing in the graph has changed yet.
struct Chain {
  std::vector<std::string> steps;      // the `epilogue` attribute
  std::vector<ir::ValueId> operands;   // one per Add step, in order
  std::vector<ir::NodeId> absorbed;    // in order
  ir::ValueId result = ir::kNoValue;   // the last absorbed node's output
  bool hasClip = false;
  float clipMin = -std::numeric_limits<float>::infinity();
  float clipMax = std::numeric_limits<float>::infinity();
};

class FuseEpiloguesPass final : public pass::Pass {
 public:
  static constexpr std::string_view kName = "fuse-epilogues";
  explicit FuseEpiloguesPass(FuseEpiloguesOptions options) : options_(options) {}

  std::string_view name() const override { return kName; }
  nlohmann::json options() const override { return options_.toJson(); }

  Expected<pass::PassResult> run(ir::Graph &graph, pass::PassContext &) override {
    pass::PassResult result;
    for (const char *key : {"fused_conv", "fused_matmul", "absorbed_nodes", "steps_add", "steps_relu", "steps_clip",
                            "steps_sigmoid", "steps_silu", "steps_gelu"})
      result.stats[key] = 0;
    const std::vector<ir::NodeId> order = graph.order();
    for (ir::NodeId id : order) {
      if (!graph.node(id).alive || !isBase(graph, graph.node(id))) continue;
      Chain chain = findChain(graph, id);
      if (chain.steps.empty()) continue;
      const bool conv = graph.node(id).opType == "Conv";
      FLUIDML_ASSIGN_OR_RETURN(ir::NodeId fusedId, fuse(graph, id, chain));
      const char *kind = conv ? "fused_conv" : "fused_matmul";
      result.stats[kind] += 1;
      pass::Replacement replacement{kind, {id}, {fusedId}};
      replacement.removed.insert(replacement.removed.end(), chain.absorbed.begin(), chain.absorbed.end());
      result.replacements.push_back(std::move(replacement));
      result.stats["absorbed_nodes"] += static_cast<double>(chain.absorbed.size());
      for (const std::string &step : chain.steps) {
        std::string key = "steps_" + step;
        std::transform(key.begin(), key.end(), key.begin(), [](unsigned char ch) { return std::tolower(ch); });
        result.stats[key] += 1;
      }
      result.changed = true;
    }
    // The fused node takes the place of the last absorbed one: the order of the rest stands. Lifetimes, and
    // so the memory plan, do not.
    result.preserved.insert(std::string(kScheduleAnalysis));
    return result;
  }

 private:
  /// A float32 Conv or MatMul whose output is not a graph output (its readers are checked by extend).
  static bool isBase(const ir::Graph &graph, const ir::Node &node) {
    if (!node.domain.empty() || (node.opType != "Conv" && node.opType != "MatMul")) return false;
    if (node.outputs.size() != 1 || node.outputs[0] == ir::kNoValue) return false;
    if (node.opType == "MatMul" && (node.inputs.size() != 2 || !node.hasInput(0) || !node.hasInput(1))) return false;
    if (node.opType == "Conv" && (node.inputs.size() < 2 || node.inputs.size() > 3)) return false;
    for (ir::ValueId in : node.inputs)
      if (in != ir::kNoValue && (graph.value(in).type.dtype != ir::DType::Float32 || !graph.value(in).type.layout.isRowMajor()))
        return false;
    const ir::Value &out = graph.value(node.outputs[0]);
    return out.type.dtype == ir::DType::Float32 && out.type.layout.isRowMajor() && !graph.isGraphOutput(out.id);
  }

  /// The fused node that `chain` would make of base node `base` (not added to any graph).
  static ir::Node fusedNode(const ir::Node &base, const Chain &chain) {
    ir::Node fused;
    fused.name = base.name;
    fused.domain = std::string(ops::kFluidmlDomain);
    fused.opType = std::string(base.opType == "Conv" ? ops::kFusedConv : ops::kFusedMatMul);
    fused.inputs = base.inputs;
    fused.outputs = {chain.result};
    // The epilogue operands start at a fixed index: an omitted Conv bias keeps its slot.
    fused.inputs.resize(ops::firstEpilogueOperand(fused), ir::kNoValue);
    fused.inputs.insert(fused.inputs.end(), chain.operands.begin(), chain.operands.end());
    fused.attributes = base.attributes;
    fused.attributes["epilogue"] = chain.steps;
    if (chain.hasClip) {
      fused.attributes["clip_min"] = chain.clipMin;
      fused.attributes["clip_max"] = chain.clipMax;
    }
    return fused;
  }

  /// True when `chain` with its last step makes a node that parseEpilogue accepts over output type `type`.
  static bool validates(const ir::Graph &graph, const ir::Node &base, const Chain &chain, const ir::TensorType &type) {
    const ir::Node fused = fusedNode(base, chain);
    std::vector<const ir::TensorType *> types;
    for (ir::ValueId v : fused.inputs) types.push_back(v == ir::kNoValue ? nullptr : &graph.value(v).type);
    return ops::parseEpilogue(fused, types, type).hasValue();
  }

  /// The value a unary float32 elementwise node `node` reading `from` makes, if it keeps `from`'s type.
  static ir::ValueId sameTypeOutput(const ir::Graph &graph, const ir::Node &node, ir::ValueId from) {
    if (node.outputs.size() != 1 || node.outputs[0] == ir::kNoValue) return ir::kNoValue;
    const ir::TensorType &out = graph.value(node.outputs[0]).type;
    return out == graph.value(from).type ? node.outputs[0] : ir::kNoValue;
  }

  /// Clip's bounds when they are constant (or omitted); false otherwise.
  static bool clipBounds(const ir::Graph &graph, const ir::Node &clip, float &lo, float &hi) {
    lo = -std::numeric_limits<float>::infinity();
    hi = std::numeric_limits<float>::infinity();
    if (graph.opsetVersion("") < 11) {
      if (clip.inputs.size() != 1) return false;
      if (clip.attribute("min") != nullptr) lo = clip.floatAttr("min", lo);
      if (clip.attribute("max") != nullptr) hi = clip.floatAttr("max", hi);
      return true;
    }
    for (size_t i = 1; i < clip.inputs.size(); ++i) {
      if (!clip.hasInput(i)) continue;
      const ir::Value &bound = graph.value(clip.inputs[i]);
      if (!bound.isConstant() || bound.constant.dtype() != ir::DType::Float32 || bound.constant.numel() != 1)
        return false;
      (i == 1 ? lo : hi) = bound.constant.data<float>()[0];
    }
    return true;
  }

  // ---- Rules. Each matches the reader(s) of the chain's current value `cur` and, on a match, appends its step,
  // its nodes and its result to `next`; guard clauses first. --------------------------------------------------

  /// y * Sigmoid(y) (either operand order), y read by exactly that Sigmoid and Mul, the Sigmoid by the Mul only.
  static bool matchSiLU(const ir::Graph &graph, ir::ValueId cur, Chain &next) {
    const std::vector<ir::Use> &uses = graph.value(cur).uses;
    if (uses.size() != 2) return false;
    const size_t s = graph.node(uses[0].node).opType == "Sigmoid" ? 0 : 1;
    const ir::Node &sig = graph.node(uses[s].node);
    const ir::Node &mul = graph.node(uses[1 - s].node);
    const int mulOperand = uses[1 - s].operand;
    if (!sig.domain.empty() || sig.opType != "Sigmoid" || sig.inputs.size() != 1) return false;
    if (!mul.domain.empty() || mul.opType != "Mul" || mul.inputs.size() != 2) return false;
    const ir::ValueId sigOut = sameTypeOutput(graph, sig, cur);
    if (sigOut == ir::kNoValue || graph.isGraphOutput(sigOut) || graph.value(sigOut).uses.size() != 1) return false;
    if (mul.inputs[static_cast<size_t>(1 - mulOperand)] != sigOut) return false;
    const ir::ValueId mulOut = sameTypeOutput(graph, mul, cur);
    if (mulOut == ir::kNoValue) return false;
    next.steps.push_back("SiLU");
    next.absorbed.insert(next.absorbed.end(), {sig.id, mul.id});
    next.result = mulOut;
    return true;
  }

  /// The only reader of `value` (nullptr when it has another count of readers or is a graph output), a node of
  /// the ai.onnx domain with one output of `value`'s type.
  static const ir::Node *soleReader(const ir::Graph &graph, ir::ValueId value, std::string_view opType) {
    const ir::Value &v = graph.value(value);
    if (v.uses.size() != 1 || graph.isGraphOutput(value)) return nullptr;
    const ir::Node &reader = graph.node(v.uses[0].node);
    if (!reader.domain.empty() || reader.opType != opType) return nullptr;
    return sameTypeOutput(graph, reader, value) != ir::kNoValue ? &reader : nullptr;
  }

  /// True when binary `node` reads `value` and, as its other operand, a float32 scalar constant equal to `c`.
  static bool withScalar(const ir::Graph &graph, const ir::Node &node, ir::ValueId value, float c) {
    if (node.inputs.size() != 2) return false;
    const ir::ValueId other = node.inputs[0] == value ? node.inputs[1] : node.inputs[0];
    if (other == ir::kNoValue || (node.inputs[0] != value && node.inputs[1] != value)) return false;
    const ir::Value &v = graph.value(other);
    return v.isConstant() && v.constant.dtype() == ir::DType::Float32 && v.constant.numel() == 1 &&
           v.constant.data<float>()[0] == c;
  }

  /// Mul(Mul(y, Add(Erf(Div(y, sqrt 2)), 1)), 0.5): y read by exactly the Div and the first Mul.
  static bool matchGelu(const ir::Graph &graph, ir::ValueId cur, Chain &next) {
    const std::vector<ir::Use> &uses = graph.value(cur).uses;
    if (uses.size() != 2) return false;
    const size_t d = graph.node(uses[0].node).opType == "Div" ? 0 : 1;
    const ir::Node &div = graph.node(uses[d].node);
    const ir::Node &mul = graph.node(uses[1 - d].node);
    if (!div.domain.empty() || div.opType != "Div" || uses[d].operand != 0) return false;
    if (!withScalar(graph, div, cur, ops::kGeluDivisor) || sameTypeOutput(graph, div, cur) == ir::kNoValue) return false;
    const ir::Node *erf = soleReader(graph, div.outputs[0], "Erf");
    const ir::Node *add = erf != nullptr ? soleReader(graph, erf->outputs[0], "Add") : nullptr;
    if (add == nullptr || !withScalar(graph, *add, erf->outputs[0], 1.0f)) return false;
    if (!mul.domain.empty() || mul.opType != "Mul" || mul.inputs.size() != 2) return false;
    if (mul.inputs[static_cast<size_t>(1 - uses[1 - d].operand)] != add->outputs[0]) return false;
    if (graph.value(add->outputs[0]).uses.size() != 1 || sameTypeOutput(graph, mul, cur) == ir::kNoValue) return false;
    const ir::Node *half = soleReader(graph, mul.outputs[0], "Mul");
    if (half == nullptr || !withScalar(graph, *half, mul.outputs[0], 0.5f)) return false;
    next.steps.push_back("Gelu");
    next.absorbed.insert(next.absorbed.end(), {div.id, erf->id, add->id, mul.id, half->id});
    next.result = half->outputs[0];
    return true;
  }

  /// Relu(y) or Sigmoid(y) as y's only reader.
  static bool matchUnary(const ir::Graph &graph, const ir::Node &reader, ir::ValueId cur, Chain &next) {
    if (reader.opType != "Relu" && reader.opType != "Sigmoid") return false;
    if (reader.inputs.size() != 1) return false;
    const ir::ValueId out = sameTypeOutput(graph, reader, cur);
    if (out == ir::kNoValue) return false;
    next.steps.push_back(reader.opType);
    next.absorbed.push_back(reader.id);
    next.result = out;
    return true;
  }

  /// Clip(y, constant or omitted bounds), the first Clip of the chain.
  static bool matchClip(const ir::Graph &graph, const ir::Node &reader, const ir::Use &use, ir::ValueId cur,
                        Chain &next) {
    if (reader.opType != "Clip" || use.operand != 0 || next.hasClip) return false;
    float lo = 0, hi = 0;
    if (!clipBounds(graph, reader, lo, hi)) return false;
    const ir::ValueId out = sameTypeOutput(graph, reader, cur);
    if (out == ir::kNoValue) return false;
    next.hasClip = true;
    next.clipMin = lo;
    next.clipMax = hi;
    next.steps.push_back("Clip");
    next.absorbed.push_back(reader.id);
    next.result = out;
    return true;
  }

  /// Add(y, other) / Add(other, y) of y's type: `other` must line up with y (checked by validates).
  static bool matchAdd(const ir::Graph &graph, const ir::Node &reader, const ir::Use &use, ir::ValueId cur,
                       Chain &next) {
    if (reader.opType != "Add" || reader.inputs.size() != 2) return false;
    const ir::ValueId other = reader.inputs[static_cast<size_t>(1 - use.operand)];
    if (other == ir::kNoValue || other == cur || !graph.value(other).type.layout.isRowMajor()) return false;
    const ir::ValueId out = sameTypeOutput(graph, reader, cur);  // an Add that broadcasts y up is no epilogue
    if (out == ir::kNoValue) return false;
    next.steps.push_back("Add");
    next.operands.push_back(other);
    next.absorbed.push_back(reader.id);
    next.result = out;
    return true;
  }

  /// Extends `chain` by one step when the reader(s) of its current value match a rule and the longer epilogue
  /// still checks; false when the chain ends there.
  static bool extend(const ir::Graph &graph, const ir::Node &base, const ir::TensorType &type, Chain &chain) {
    const ir::ValueId cur = chain.result;
    if (graph.isGraphOutput(cur)) return false;
    const std::vector<ir::Use> &uses = graph.value(cur).uses;
    Chain next = chain;
    bool matched = false;
    if (uses.size() == 2) {
      matched = matchSiLU(graph, cur, next) || matchGelu(graph, cur, next);
    } else if (uses.size() == 1) {
      const ir::Node &reader = graph.node(uses[0].node);
      matched = reader.domain.empty() &&
                (matchUnary(graph, reader, cur, next) || matchClip(graph, reader, uses[0], cur, next) ||
                 matchAdd(graph, reader, uses[0], cur, next));
    }
    if (!matched || !validates(graph, base, next, type)) return false;
    chain = std::move(next);
    return true;
  }

  Chain findChain(const ir::Graph &graph, ir::NodeId baseId) const {
    const ir::Node &base = graph.node(baseId);
    const ir::TensorType type = graph.value(base.outputs[0]).type;
    Chain chain;
    chain.result = base.outputs[0];
    while (static_cast<int64_t>(chain.steps.size()) < options_.maxSteps)
      if (!extend(graph, base, type, chain)) break;
    return chain;
  }

  /// Replaces base node `baseId` and the chain's nodes by one fused node; returns its id.
  static Expected<ir::NodeId> fuse(ir::Graph &graph, ir::NodeId baseId, const Chain &chain) {
    const ir::Node fused = fusedNode(graph.node(baseId), chain);
    const ir::TensorType expected = graph.value(chain.result).type;
    graph.opsetImports[std::string(ops::kFluidmlDomain)] = 1;
    const std::string temporary = graph.uniqueValueName(graph.value(chain.result).name + "_fused");
    const ir::NodeId fusedId =
        graph.addNode(fused.opType, fused.name, fused.inputs, {temporary}, fused.attributes, fused.domain);
    // The fused node stands where the last absorbed node stood: its operands are all ready there.
    std::vector<ir::NodeId> order = graph.order();
    order.pop_back();  // addNode appended it
    std::replace(order.begin(), order.end(), chain.absorbed.back(), fusedId);
    graph.setOrder(std::move(order));
    graph.replaceProducedValue(graph.node(fusedId).outputs[0], chain.result);
    // Last reader first, so every node goes once its outputs have no readers left.
    std::vector<ir::ValueId> orphans;  // constants only absorbed nodes read (Clip's bounds, GELU's scalars)
    for (auto it = chain.absorbed.rbegin(); it != chain.absorbed.rend(); ++it) {
      const ir::Node &node = graph.node(*it);
      orphans.insert(orphans.end(), node.inputs.begin(), node.inputs.end());
      graph.eraseNode(*it);
    }
    graph.eraseNode(baseId);
    for (ir::ValueId id : orphans) {
      if (id == ir::kNoValue) continue;
      const ir::Value &v = graph.value(id);
      if (v.alive && v.isConstant() && v.uses.empty() && !graph.isGraphOutput(id)) graph.eraseValue(id);
    }
    // The chain was checked with parseEpilogue; a different type here is a bug of this pass or of the type rule.
    Status inferred = ops::inferNodeTypes(graph, fusedId);
    if (!inferred.isOk())
      return Status::internal("fuse-epilogues: " + ops::describeNode(graph.node(fusedId)) + ": " + inferred.message());
    if (!(graph.value(chain.result).type == expected))
      return Status::internal("fuse-epilogues: " + ops::describeNode(graph.node(fusedId)) + " gives " +
                           graph.value(chain.result).type.toString() + " instead of " + expected.toString());
    return fusedId;
  }

  FuseEpiloguesOptions options_;
};

}  // namespace

PassFactoryResult createFuseEpiloguesPass(const nlohmann::json &options) {
  FLUIDML_ASSIGN_OR_RETURN(FuseEpiloguesOptions parsed, FuseEpiloguesOptions::fromJson(options));
  return std::unique_ptr<pass::Pass>(std::make_unique<FuseEpiloguesPass>(parsed));
}

}  // namespace fluidml::passes
