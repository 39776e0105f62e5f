// assign-layouts: layouts by op type, forward propagation, tentative assignment (refused layouts revert), the
// squeeze-excite gate, Relayouts exactly where kernels refuse; then numerics: the compiled graph (JIT, 1 and 2
// threads) against the interpreter, and the nchwc pipeline on a small CNN. Tests about structure must not depend
// on which kernels read blocked layouts today (blocked convs and pools are landing), so they use a stand-in
// acceptance that decides for Conv and the pools itself and asks codegen::checkNodeLayouts about every other op;
// the numeric tests use codegen::checkNodeLayouts alone and hold whatever the kernels take.
// Tolerance: test::compareWithReference (fluidml run --check's: 1e-4 relative plus 1e-5 of the largest value).
#include <catch2/catch.hpp>

#include <set>

#include "core/analysis/memory_plan.h"
#include "core/codegen/compiler.h"
#include "core/ir/verifier.h"
#include "core/ops/relayout.h"
#include "core/pass/pipeline.h"
#include "passes/analyses.h"
#include "passes/assign_layouts.h"
#include "passes/passes.h"
#include "tests/codegen/codegen_test_util.h"
#include "tests/layouts/random_layouts.h"
#include "tests/passes/pass_test_util.h"
#include "tests/test_util.h"

using namespace fluidml;
using ir::DType;
using ir::NodeId;
using ir::ValueId;
using Ints = std::vector<int64_t>;
using nlohmann::json;

namespace {

/// codegen::checkNodeLayouts, except that Conv, fluidml.FusedConv and the pools take any layouts when
/// `blockedConvs`, and only row-major operands otherwise: a kernel set fixed whatever lands in codegen.
pass::LayoutAcceptance standIn(bool blockedConvs) {
  return [blockedConvs](const ir::Graph &graph, const ir::Node &node) -> Status {
    static const std::set<std::string> kStandIn{"Conv", "FusedConv", "GlobalAveragePool", "MaxPool", "AveragePool"};
    if (kStandIn.count(node.opType) == 0) return codegen::checkNodeLayouts(graph, node);
    if (blockedConvs) return Status::ok();
    std::vector<ValueId> operands = node.inputs;
    operands.insert(operands.end(), node.outputs.begin(), node.outputs.end());
    for (ValueId v : operands)
      if (v != ir::kNoValue && !graph.value(v).type.layout.isRowMajor())
        return Status::internal("stand-in " + node.opType + " reads and writes row-major only");
    return Status::ok();
  };
}

pass::PassContext contextWith(pass::LayoutAcceptance accepts, const std::string &isa = "avx2") {
  pass::PassContext context;
  context.layoutAcceptance = std::move(accepts);
  context.target = target::TargetDescription::forIsa(isa);
  return context;
}

pass::PassContext realContext(const std::string &isa = "avx2") {
  return contextWith(codegen::checkNodeLayouts, isa);
}

pass::PassResult runAssign(ir::Graph &graph, pass::PassContext &context, const json &options) {
  return test::runRegisteredPass(graph, "assign-layouts", context, options);
}

/// The layout of a value in text form, "row-major" for row-major.
std::string layoutOf(const ir::Graph &graph, ValueId v) {
  const ir::TensorType &type = graph.value(v).type;
  return type.layout.isRowMajor() ? "row-major" : type.layout.toString(type.rank());
}

/// The Relayout nodes, each as "producer-op:from->to:reader-op,reader-op".
std::vector<std::string> relayouts(const ir::Graph &graph) {
  std::vector<std::string> found;
  for (NodeId id : graph.order()) {
    const ir::Node &node = graph.node(id);
    if (!ops::isRelayout(node)) continue;
    const ir::Value &in = graph.value(node.inputs[0]);
    std::string text = (in.producer == ir::kNoNode ? std::string("input") : graph.node(in.producer).opType) + ":" +
                       layoutOf(graph, in.id) + "->" + layoutOf(graph, node.outputs[0]) + ":";
    for (size_t i = 0; i < graph.value(node.outputs[0]).uses.size(); ++i)
      text += (i ? "," : "") + graph.node(graph.value(node.outputs[0]).uses[i].node).opType;
    found.push_back(text);
  }
  return found;
}

ir::Tensor scalar(float value) { return ir::Tensor::scalar(value); }

/// JIT-compiles `graph` at 1 and 2 threads and compares every output with the interpreter on `reference`.
void requireMatchesInterpreter(const ir::Graph &graph, const ir::Graph &reference,
                               const std::vector<ir::Tensor> &inputs,
                               const analysis::MemoryPlan *plan = nullptr) {
  const std::vector<ir::Tensor> expected = test::runGraph(reference, inputs);
  for (int threads : {1, 2}) {
    auto model = plan != nullptr ? test::compileGraph(graph, *plan, threads) : test::compileGraph(graph, threads);
    const std::vector<ir::Tensor> actual = test::runModel(*model, inputs);
    REQUIRE(actual.size() == expected.size());
    for (size_t i = 0; i < actual.size(); ++i) {
      const std::string mismatch = test::compareWithReference(actual[i], expected[i]);
      INFO("output " << i << " at " << threads << " thread(s): " << mismatch);
      CHECK(mismatch.empty());
    }
  }
}

/// x -> Relu -> Sigmoid -> Neg -> output.
struct Chain {
  ir::Graph graph;
  ValueId relu, sigmoid, neg;
};
Chain chain(const ir::Shape &shape) {
  auto b = test::makeBuilder();
  ValueId x = b.input("x", DType::Float32, shape);
  ValueId relu = b.op("Relu", {x});
  ValueId sigmoid = b.op("Sigmoid", {relu});
  ValueId neg = b.op("Neg", {sigmoid});
  b.output(neg);
  return {test::finishGraph(b), relu, sigmoid, neg};
}

/// The squeeze-excite block of EfficientNet / MobileNetV3 after a blocked region:
/// a = Relu(x); gate = Sigmoid(Conv(SiLU(Conv(GlobalAveragePool(a))))); h = Add(Mul(a, gate), a) -> Neg -> output.
struct SqueezeExcite {
  ir::Graph graph;
  ValueId a, pooled, squeeze, expand, gate, scaled, sum;
};
SqueezeExcite squeezeExcite() {
  auto b = test::makeBuilder();
  ValueId x = b.input("x", DType::Float32, {1, 16, 8, 8});
  ValueId a = b.op("Relu", {x});
  ValueId pooled = b.op("GlobalAveragePool", {a});
  ValueId squeeze = b.op("Conv", {pooled, b.constant("w1", test::randomFloats({4, 16, 1, 1}, 11)),
                                  b.constant("b1", test::randomFloats({4}, 12))});
  ValueId silu = b.op("Mul", {squeeze, b.op("Sigmoid", {squeeze})});
  ValueId expand = b.op("Conv", {silu, b.constant("w2", test::randomFloats({16, 4, 1, 1}, 13)),
                                 b.constant("b2", test::randomFloats({16}, 14))});
  ValueId gate = b.op("Sigmoid", {expand});
  ValueId scaled = b.op("Mul", {a, gate});
  ValueId sum = b.op("Add", {scaled, a});
  b.output(b.op("Neg", {sum}));
  return {test::finishGraph(b), a, pooled, squeeze, expand, gate, scaled, sum};
}

/// A dataset-like tiny CNN: conv + Relu, depthwise conv + Clip (ReLU6), MaxPool, 1x1 conv, a squeeze-excite
/// block, a residual 3x3 conv, global pooling and a classifier.
ir::Graph tinyCnn() {
  auto b = test::makeBuilder();
  auto conv = [&](ValueId in, int64_t out, int64_t inPerGroup, int64_t k, int64_t group, uint32_t seed) {
    const int64_t pad = k / 2;
    return b.op("Conv",
                {in, b.constant("w" + std::to_string(seed), test::randomFloats({out, inPerGroup, k, k}, seed, -0.5f, 0.5f)),
                 b.constant("b" + std::to_string(seed), test::randomFloats({out}, seed + 100))},
                {{"pads", Ints{pad, pad, pad, pad}}, {"group", group}});
  };
  ValueId x = b.input("x", DType::Float32, {1, 3, 16, 16});
  ValueId r1 = b.op("Relu", {conv(x, 8, 3, 3, 1, 1)});
  ValueId d = b.op("Clip", {conv(r1, 8, 1, 3, 8, 2), b.constant("lo", scalar(0.0f)), b.constant("hi", scalar(6.0f))});
  ValueId p = b.op("MaxPool", {d}, {{"kernel_shape", Ints{2, 2}}, {"strides", Ints{2, 2}}});
  ValueId c2 = conv(p, 16, 8, 1, 1, 3);
  ValueId squeeze = conv(b.op("GlobalAveragePool", {c2}), 4, 16, 1, 1, 4);
  ValueId silu = b.op("Mul", {squeeze, b.op("Sigmoid", {squeeze})});
  ValueId gate = b.op("Sigmoid", {conv(silu, 16, 4, 1, 1, 5)});
  ValueId y = b.op("Mul", {c2, gate});
  ValueId res = b.op("Relu", {b.op("Add", {conv(y, 16, 16, 3, 1, 6), y})});
  ValueId pooled = b.op("AveragePool", {res}, {{"kernel_shape", Ints{2, 2}}, {"strides", Ints{2, 2}}});
  ValueId flat = b.op("Flatten", {b.op("GlobalAveragePool", {pooled})});
  b.output(b.op("Gemm", {flat, b.constant("fc", test::randomFloats({10, 16}, 7)),
                         b.constant("fcb", test::randomFloats({10}, 8))},
                {{"transB", int64_t{1}}}));
  return test::finishGraph(b);
}

std::string createError(const json &options) {
  auto created = passes::standardPassRegistry().create("assign-layouts", options);
  return created.hasValue() ? std::string() : created.message();
}

}  // namespace

TEST_CASE("assign-layouts: option errors name the key", "[passes][layouts]") {
  using Catch::Matchers::Contains;
  CHECK_THAT(createError({{"layout", json::object()}}), Contains("unknown option 'layout'"));
  CHECK_THAT(createError({{"propagate", "yes"}}), Contains("option 'propagate'"));
  CHECK_THAT(createError({{"layouts", "NCHWc"}}), Contains("option 'layouts' must be an object"));
  CHECK_THAT(createError({{"layouts", {{"Conv2d", "NCHWc"}}}}), Contains("unknown op type 'Conv2d'"));
  CHECK_THAT(createError({{"layouts", {{"FusedConv", "NCHWc"}}}}), Contains("unknown op type 'FusedConv'"));
  CHECK_THAT(createError({{"layouts", {{"fluidml.Relayout", "NCHWc"}}}}), Contains("'fluidml.Relayout'"));
  CHECK_THAT(createError({{"layouts", {{"Conv", 16}}}}), Contains("option 'layouts.Conv' must be a layout string"));
  CHECK_THAT(createError({{"layouts", {{"Conv", "NCHW0c"}}}}), Contains("option 'layouts.Conv'"));
  CHECK_THAT(createError({{"layouts", {{"Relu", "NCHWq"}}}}), Contains("option 'layouts.Relu'"));
  CHECK_THAT(createError({{"layouts", {{"Relu", "(0,2,2,1)"}}}}), Contains("option 'layouts.Relu'"));
  // Every form the option documents is accepted, and the effective options are reported.
  const json good = {{"layouts", {{"Conv", "NCHWc"}, {"fluidml.FusedConv", "NCHW16c"}, {"Relu", "(0,2,3,1)"},
                                  {"Add", "NHWC"}, {"Mul", "row-major"}, {"Sigmoid", "NCDHWc"}}}};
  CHECK(createError(good).empty());
  auto created = passes::standardPassRegistry().create("assign-layouts", good);
  REQUIRE(created.hasValue());
  CHECK((*created)->options() == json{{"layouts", good["layouts"]}, {"propagate", true}});
}

TEST_CASE("assign-layouts: layout texts resolve per rank and target", "[passes][layouts]") {
  const auto avx512 = target::TargetDescription::forIsa("avx512");
  const auto avx2 = target::TargetDescription::forIsa("avx2");
  CHECK(passes::layoutForRank("NCHWc", 4, avx512)->toString(4) == "NCHW16c");
  CHECK(passes::layoutForRank("NCHWc", 4, avx2)->toString(4) == "NCHW8c");
  CHECK(passes::layoutForRank("NCWc", 3, avx2)->toString(3) == "NCW8c");
  CHECK(passes::layoutForRank("NCDHWc", 5, avx512)->toString(5) == "NCDHW16c");
  CHECK_FALSE(passes::layoutForRank("NCHWc", 3, avx512).has_value());
  CHECK_FALSE(passes::layoutForRank("NCHW16c", 5, avx512).has_value());
  CHECK(passes::layoutForRank("(0,2,3,1)", 4, avx512)->toString(4) == "(0,2,3,1)");
  CHECK(passes::layoutForRank("row-major", 2, avx512)->isRowMajor());
}

TEST_CASE("assign-layouts: fails clearly without a layout acceptance", "[passes][layouts]") {
  Chain c = chain({1, 16, 4, 4});
  auto created = passes::standardPassRegistry().create("assign-layouts", {{"layouts", {{"Relu", "NCHW8c"}}}});
  REQUIRE(created.hasValue());
  pass::PassContext context;  // as outside a compilation driver
  auto result = (*created)->run(c.graph, context);
  REQUIRE_FALSE(result.hasValue());
  CHECK(result.status().isInternal());
  CHECK_THAT(result.message(), Catch::Matchers::Contains("layoutAcceptance"));
}

TEST_CASE("assign-layouts: op types get their layout, propagation carries it forward", "[passes][layouts]") {
  SECTION("propagated") {
    Chain c = chain({1, 16, 4, 4});
    pass::PassContext context = realContext();
    pass::PassResult result = runAssign(c.graph, context, {{"layouts", {{"Relu", "NCHW8c"}}}});
    CHECK(result.changed);
    CHECK(layoutOf(c.graph, c.relu) == "NCHW8c");
    CHECK(layoutOf(c.graph, c.sigmoid) == "NCHW8c");
    CHECK(layoutOf(c.graph, c.neg) == "row-major");  // a graph output
    CHECK(relayouts(c.graph).empty());                // Neg reads NCHW8c and writes row-major itself
    CHECK(result.stats["mapped_values"] == 1);
    CHECK(result.stats["propagated_values"] == 1);
    CHECK(result.stats["assigned_values"] == 2);
    CHECK(result.stats["assigned_NCHW8c"] == 2);
    CHECK(result.stats["relayouts"] == 0);
  }
  SECTION("not propagated") {
    Chain c = chain({1, 16, 4, 4});
    pass::PassContext context = realContext();
    runAssign(c.graph, context, {{"layouts", {{"Relu", "NCHW8c"}}}, {"propagate", false}});
    CHECK(layoutOf(c.graph, c.relu) == "NCHW8c");
    CHECK(layoutOf(c.graph, c.sigmoid) == "row-major");
  }
  SECTION("NCHWc takes the target's block") {
    for (const auto &[isa, expected] : {std::pair{"avx512", "NCHW16c"}, std::pair{"avx2", "NCHW8c"}}) {
      Chain c = chain({1, 24, 4, 4});
      pass::PassContext context = realContext(isa);
      pass::PassResult result = runAssign(c.graph, context, {{"layouts", {{"Relu", "NCHWc"}}}});
      CHECK(layoutOf(c.graph, c.relu) == expected);
      CHECK(layoutOf(c.graph, c.sigmoid) == expected);
      CHECK(result.stats[std::string("assigned_") + expected] == 2);
    }
  }
  SECTION("a permutation too") {
    Chain c = chain({2, 3, 4, 5});
    pass::PassContext context = realContext();
    runAssign(c.graph, context, {{"layouts", {{"Relu", "NHWC"}}}});
    CHECK(layoutOf(c.graph, c.relu) == "(0,2,3,1)");
    CHECK(layoutOf(c.graph, c.sigmoid) == "(0,2,3,1)");
  }
  SECTION("a text for another rank leaves the node alone") {
    Chain c = chain({4, 16, 4});
    pass::PassContext context = realContext();
    pass::PassResult result = runAssign(c.graph, context, {{"layouts", {{"Relu", "NCHWc"}}}});
    CHECK_FALSE(result.changed);
    CHECK(layoutOf(c.graph, c.relu) == "row-major");
    CHECK(result.stats["not_applicable"] == 1);
  }
}

TEST_CASE("assign-layouts: inputs that cannot take the layout do not block it, others do", "[passes][layouts]") {
  auto b = test::makeBuilder();
  ValueId x = b.input("x", DType::Float32, {1, 16, 4, 4});
  ValueId mask = b.input("mask", DType::Float32, {1, 1, 4, 4});  // cannot take NCHW8c (C = 1)
  ValueId y = b.input("y", DType::Float32, {1, 16, 4, 4});        // could, but is a graph input: row-major
  ValueId a = b.op("Relu", {x});
  ValueId masked = b.op("Mul", {a, mask});
  ValueId biased = b.op("Add", {masked, b.constant("bias", test::randomFloats({1, 16, 1, 1}, 3))});  // a constant
  ValueId joined = b.op("Add", {biased, y});
  b.output(b.op("Neg", {joined}));
  ir::Graph graph = test::finishGraph(b);
  const ir::Graph reference = graph.clone();
  pass::PassContext context = realContext();
  pass::PassResult result = runAssign(graph, context, {{"layouts", {{"Relu", "NCHW8c"}}}});
  CHECK(layoutOf(graph, a) == "NCHW8c");
  CHECK(layoutOf(graph, masked) == "NCHW8c");
  CHECK(layoutOf(graph, biased) == "NCHW8c");
  CHECK(layoutOf(graph, joined) == "row-major");
  CHECK(result.stats["propagated_values"] == 2);
  CHECK(relayouts(graph).empty());
  requireMatchesInterpreter(graph, reference,
                            {test::randomFloats({1, 16, 4, 4}, 1), test::randomFloats({1, 1, 4, 4}, 2),
                             test::randomFloats({1, 16, 4, 4}, 4)});
}

TEST_CASE("assign-layouts: refused layouts revert", "[passes][layouts]") {
  SECTION("the shape cannot take it (a size-1 channel dim)") {
    Chain c = chain({1, 1, 4, 4});
    pass::PassContext context = realContext();
    pass::PassResult result = runAssign(c.graph, context, {{"layouts", {{"Relu", "NCHW8c"}}}});
    CHECK_FALSE(result.changed);
    CHECK(layoutOf(c.graph, c.relu) == "row-major");
    CHECK(result.stats["refused"] == 1);
  }
  SECTION("the kernel refuses it") {
    auto b = test::makeBuilder();
    ValueId x = b.input("x", DType::Float32, {1, 8, 6, 6});
    ValueId conv = b.op("Conv", {x, b.constant("w", test::randomFloats({8, 8, 3, 3}, 5))});
    ValueId relu = b.op("Relu", {conv});
    b.output(b.op("Neg", {relu}));
    ir::Graph graph = test::finishGraph(b);
    pass::PassContext context = contextWith(standIn(false));
    pass::PassResult result = runAssign(graph, context, {{"layouts", {{"Conv", "NCHW8c"}}}});
    CHECK_FALSE(result.changed);
    CHECK(layoutOf(graph, conv) == "row-major");
    CHECK(layoutOf(graph, relu) == "row-major");  // nothing to propagate from
    CHECK(result.stats["refused"] == 1);
    CHECK(result.stats["relayouts"] == 0);
  }
  SECTION("a real kernel that reads permutations only") {
    auto b = test::makeBuilder();
    ValueId x = b.input("x", DType::Float32, {1, 4, 8, 8});
    ValueId product = b.op("MatMul", {x, b.constant("w", test::randomFloats({8, 8}, 6))});
    b.output(b.op("Neg", {product}));
    ir::Graph graph = test::finishGraph(b);
    pass::PassContext context = realContext();
    pass::PassResult result = runAssign(graph, context, {{"layouts", {{"MatMul", "NCHW8c"}}}});
    CHECK(layoutOf(graph, product) == "row-major");
    CHECK(result.stats["refused"] == 1);
  }
}

TEST_CASE("assign-layouts: Relayouts exactly where kernels refuse", "[passes][layouts]") {
  auto b = test::makeBuilder();
  ValueId x = b.input("x", DType::Float32, {1, 16, 4, 4});
  ValueId a = b.op("Relu", {x});
  ValueId flat1 = b.op("Flatten", {a});  // row-major kernels: both read one converted copy
  ValueId flat2 = b.op("Flatten", {a}, {{"axis", int64_t{2}}});
  ValueId s = b.op("Sigmoid", {a});
  b.output(b.op("Neg", {flat1}));
  b.output(b.op("Neg", {flat2}));
  b.output(b.op("Neg", {s}));
  ir::Graph graph = test::finishGraph(b);
  const ir::Graph reference = graph.clone();
  pass::PassContext context = realContext();
  pass::PassResult result = runAssign(graph, context, {{"layouts", {{"Relu", "NCHW8c"}}}});
  CHECK(layoutOf(graph, a) == "NCHW8c");
  CHECK(layoutOf(graph, s) == "NCHW8c");
  CHECK(relayouts(graph) == std::vector<std::string>{"Relu:NCHW8c->row-major:Flatten,Flatten"});
  CHECK(result.stats["relayouts"] == 1);
  CHECK(result.stats["relayout_bytes"] == 16 * 4 * 4 * 4);
  REQUIRE(result.replacements.size() == 1);
  CHECK(result.replacements[0].kind == "relayouts");
  CHECK(result.replacements[0].removed.empty());
  requireMatchesInterpreter(graph, reference, {test::randomFloats({1, 16, 4, 4}, 9)});
}

TEST_CASE("assign-layouts: the squeeze-excite gate takes the layout of the tensor it scales", "[passes][layouts]") {
  const json options = {{"layouts", {{"Relu", "NCHW8c"}, {"Conv", "NCHW8c"}}}};
  SECTION("convs and pools row-major: one conversion, before the pool; the gate is written blocked") {
    SqueezeExcite se = squeezeExcite();
    pass::PassContext context = contextWith(standIn(false));
    pass::PassResult result = runAssign(se.graph, context, options);
    CHECK(layoutOf(se.graph, se.a) == "NCHW8c");
    CHECK(layoutOf(se.graph, se.pooled) == "row-major");
    CHECK(layoutOf(se.graph, se.squeeze) == "row-major");
    CHECK(layoutOf(se.graph, se.expand) == "row-major");
    CHECK(layoutOf(se.graph, se.gate) == "NCHW8c");  // so that Mul(a, gate) is blocked on all its inputs
    CHECK(layoutOf(se.graph, se.scaled) == "NCHW8c");
    CHECK(layoutOf(se.graph, se.sum) == "NCHW8c");
    CHECK(result.stats["adjusted_operands"] == 1);
    CHECK(relayouts(se.graph) == std::vector<std::string>{"Relu:NCHW8c->row-major:GlobalAveragePool"});
  }
  SECTION("blocked convs and pools: the whole block stays blocked, no conversion") {
    SqueezeExcite se = squeezeExcite();
    pass::PassContext context = contextWith(standIn(true));
    pass::PassResult result = runAssign(se.graph, context, options);
    for (ValueId v : {se.a, se.pooled, se.squeeze, se.expand, se.gate, se.scaled, se.sum}) {
      INFO(se.graph.value(v).name);
      CHECK(layoutOf(se.graph, v) == "NCHW8c");
    }
    CHECK(result.stats["adjusted_operands"] == 0);
    CHECK(result.stats["relayouts"] == 0);
  }
  SECTION("the kernels of today, compiled") {
    for (const char *isa : {"avx2", "avx512"}) {
      SqueezeExcite se = squeezeExcite();
      const ir::Graph reference = se.graph.clone();
      pass::PassContext context = realContext(isa);
      runAssign(se.graph, context, {{"layouts", {{"Relu", "NCHWc"}, {"Conv", "NCHWc"}}}});
      CHECK(layoutOf(se.graph, se.scaled) != "row-major");
      requireMatchesInterpreter(se.graph, reference, {test::randomFloats({1, 16, 8, 8}, 21)});
    }
  }
}

TEST_CASE("assign-layouts: nchwc.json is fluidml.json with the layout policy after fusion", "[passes][layouts]") {
  auto fluidml = pass::readPipelineFile(FLUIDML_SOURCE_DIR "/pipelines/fluidml.json");
  auto nchwc = pass::readPipelineFile(FLUIDML_SOURCE_DIR "/pipelines/nchwc.json");
  REQUIRE(fluidml.hasValue());
  REQUIRE(nchwc.hasValue());
  CHECK(nchwc->name == "nchwc");
  std::vector<std::string> withoutPolicy;
  size_t policy = 0;
  for (size_t i = 0; i < nchwc->steps.size(); ++i) {
    if (nchwc->steps[i].pass == "assign-layouts") {
      policy = i;
      CHECK(nchwc->steps[i].options ==
            json{{"layouts", {{"Conv", "NCHWc"}, {"fluidml.FusedConv", "NCHWc"}}}});
      continue;
    }
    withoutPolicy.push_back(nchwc->steps[i].pass + nchwc->steps[i].options.dump());
  }
  std::vector<std::string> reference;
  for (const auto &step : fluidml->steps) reference.push_back(step.pass + step.options.dump());
  CHECK(withoutPolicy == reference);
  REQUIRE(policy > 0);
  CHECK(nchwc->steps[policy - 1].pass == "fuse-epilogues");
  CHECK(nchwc->steps[policy + 1].pass == "schedule");
}

TEST_CASE("assign-layouts: the nchwc pipeline on a tiny CNN matches the interpreter", "[passes][layouts][llvm]") {
  const ir::Graph reference = tinyCnn();
  auto spec = pass::readPipelineFile(FLUIDML_SOURCE_DIR "/pipelines/nchwc.json");
  REQUIRE(spec.hasValue());
  for (const char *isa : {"avx2", "avx512"}) {
    INFO("target " << isa);
    ir::Graph graph = reference.clone();
    auto manager = pass::PassManager::fromSpec(*spec, passes::standardPassRegistry());
    REQUIRE(manager.hasValue());
    pass::VerifierInstrumentation verifier;
    manager->addInstrumentation(&verifier);
    pass::PassContext context = realContext(isa);
    Status ran = manager->run(graph, context);
    INFO((ran.isOk() ? std::string() : ran.message()));
    REQUIRE(ran.isOk());
    const analysis::MemoryPlan *plan = passes::memoryPlan(context.analyses);
    REQUIRE(plan != nullptr);
    requireMatchesInterpreter(graph, reference, {test::randomFloats({1, 3, 16, 16}, 31)}, plan);
  }
}
