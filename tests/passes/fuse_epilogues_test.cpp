// fuse-epilogues: Conv/MatMul + elementwise chains become fluidml.FusedConv / FusedMatMul nodes; chains that may
// not fuse stay. Every rewritten graph verifies and gives the interpreter's outputs of the unfused graph.
// Tolerance: rtol 1e-5, atol 1e-6 (the fused reference kernel does the same float operations in the same order,
// so the results are in practice bitwise equal; the margin only covers the compiler contracting differently).
#include <cmath>
#include <filesystem>

#include <catch2/catch.hpp>

#include "core/interp/interpreter.h"
#include "core/ir/verifier.h"
#include "core/onnx/onnx_export.h"
#include "core/onnx/onnx_import.h"
#include "core/onnx/tensor_proto.h"
#include "core/ops/fused_epilogue.h"
#include "core/ops/op_registry.h"
#include "core/pass/pipeline.h"
#include "passes/analyses.h"
#include "passes/passes.h"
#include "tests/passes/pass_test_util.h"
#include "tests/test_util.h"

using namespace fluidml;
using namespace fluidml::ir;
namespace fs = std::filesystem;

namespace {

using test::finishGraph;
using test::opTypes;

pass::PassResult runPass(Graph &graph, const nlohmann::json &options = nlohmann::json::object()) {
  return test::runRegisteredPass(graph, "fuse-epilogues", options);
}

const Node &onlyNode(const Graph &graph, const std::string &opType) {
  const Node *found = nullptr;
  for (NodeId id : graph.order())
    if (graph.node(id).opType == opType) {
      REQUIRE(found == nullptr);
      found = &graph.node(id);
    }
  REQUIRE(found != nullptr);
  return *found;
}

std::vector<std::string> epilogue(const Node &node) {
  const Attribute *a = node.attribute("epilogue");
  REQUIRE(a != nullptr);
  return std::get<std::vector<std::string>>(*a);
}

void requireClose(const Tensor &actual, const Tensor &expected) {
  REQUIRE(actual.type() == expected.type());
  const float *a = actual.data<float>();
  const float *e = expected.data<float>();
  for (int64_t i = 0; i < expected.numel(); ++i) {
    INFO("element " << i << ": " << a[i] << " vs " << e[i]);
    REQUIRE(std::fabs(a[i] - e[i]) <= 1e-6f + 1e-5f * std::fabs(e[i]));
  }
}

void requireSameOutputs(const Graph &before, const Graph &after, const std::vector<Tensor> &inputs) {
  auto expected = test::runGraph(before, inputs);
  auto actual = test::runGraph(after, inputs);
  REQUIRE(expected.size() == actual.size());
  for (size_t i = 0; i < expected.size(); ++i) requireClose(actual[i], expected[i]);
}

std::vector<Tensor> randomInputs(const Graph &graph, uint32_t seed) {
  std::vector<Tensor> inputs;
  for (ValueId in : graph.inputs()) inputs.push_back(test::randomFloats(graph.value(in).type.shape, seed++, -2, 2));
  return inputs;
}

ValueId weight(GraphBuilder &b, const std::string &name, const Shape &shape, uint32_t seed) {
  return b.constant(name, test::randomFloats(shape, seed, -0.5f, 0.5f));
}

/// Conv 3x3, pads 1, of x [1, 3, 8, 8] to [1, 4, 8, 8] with a bias.
ValueId conv(GraphBuilder &b, ValueId x, const std::string &name, uint32_t seed, bool bias = true, int64_t cin = 3) {
  std::vector<ValueId> inputs{x, weight(b, name + "_w", {4, cin, 3, 3}, seed)};
  if (bias) inputs.push_back(weight(b, name + "_b", {4}, seed + 1));
  return b.op("Conv", inputs,
              {{"kernel_shape", std::vector<int64_t>{3, 3}}, {"pads", std::vector<int64_t>{1, 1, 1, 1}}});
}

}  // namespace

TEST_CASE("fuse-epilogues: Conv + Relu", "[passes][fuse-epilogues]") {
  GraphBuilder b = test::makeBuilder();
  ValueId x = b.input("x", DType::Float32, {1, 3, 8, 8});
  ValueId y = b.op("Relu", {conv(b, x, "c", 1)});
  b.output(y);
  Graph graph = finishGraph(b);
  const std::string outName = graph.value(y).name;
  const std::string convName = graph.node(graph.order()[0]).name;
  const Graph before = graph.clone();

  pass::PassResult result = runPass(graph);
  CHECK(result.changed);
  CHECK(result.stats.at("fused_conv") == 1);
  CHECK(result.stats.at("absorbed_nodes") == 1);
  CHECK(result.stats.at("steps_relu") == 1);
  REQUIRE(opTypes(graph) == std::vector<std::string>{"FusedConv"});
  const Node &fused = onlyNode(graph, "FusedConv");
  CHECK(fused.domain == "fluidml");
  CHECK(fused.name == convName);
  CHECK(fused.inputs.size() == 3);
  CHECK(epilogue(fused) == std::vector<std::string>{"Relu"});
  CHECK(fused.attribute("kernel_shape") != nullptr);
  CHECK(graph.opsetImports.at("fluidml") == 1);
  CHECK(graph.value(graph.outputs()[0]).name == outName);
  requireSameOutputs(before, graph, randomInputs(before, 10));

  // A second run finds nothing left to fuse.
  CHECK_FALSE(runPass(graph).changed);
}

TEST_CASE("fuse-epilogues records which nodes each fused node replaced and keeps only the schedule",
          "[pass][passes][fuse-epilogues]") {
  GraphBuilder b = test::makeBuilder();
  ValueId x = b.input("x", DType::Float32, {1, 3, 8, 8});
  ValueId r = b.op("Relu", {conv(b, x, "c1", 1)});
  ValueId y = b.op("Sigmoid", {conv(b, r, "c2", 3, true, 4)});
  b.output(y);
  Graph graph = finishGraph(b);
  const std::vector<NodeId> before = graph.order();  // c1, Relu, c2, Sigmoid
  REQUIRE(opTypes(graph) == std::vector<std::string>{"Conv", "Relu", "Conv", "Sigmoid"});

  pass::PassContext context;
  context.analyses.set(passes::kScheduleAnalysis, std::string("memory-aware"));
  context.analyses.set(passes::kMemoryPlanAnalysis, analysis::MemoryPlan{});
  pass::PassResult result = test::runRegisteredPass(graph, "fuse-epilogues", context);
  REQUIRE(opTypes(graph) == std::vector<std::string>{"FusedConv", "FusedConv"});
  REQUIRE(result.replacements.size() == 2);
  CHECK(result.replacements[0].kind == "fused_conv");
  CHECK(result.replacements[0].removed == std::vector<NodeId>{before[0], before[1]});
  CHECK(result.replacements[0].added == std::vector<NodeId>{graph.order()[0]});
  CHECK(result.replacements[1].removed == std::vector<NodeId>{before[2], before[3]});
  CHECK(result.replacements[1].added == std::vector<NodeId>{graph.order()[1]});
  for (const pass::Replacement &replacement : result.replacements) {
    for (NodeId id : replacement.removed) CHECK_FALSE(graph.node(id).alive);
    for (NodeId id : replacement.added) CHECK(graph.node(id).alive);
  }
  // The fused nodes stand where the chains stood, so the schedule holds; the plan's lifetimes do not.
  CHECK(result.preserved.count("schedule") == 1);
  CHECK(passes::scheduleName(context.analyses) == "memory-aware");
  CHECK(passes::memoryPlan(context.analyses) == nullptr);

  // Nothing left to fuse: no replacements, and an unchanged graph keeps every analysis.
  context.analyses.set(passes::kMemoryPlanAnalysis, analysis::MemoryPlan{});
  pass::PassResult again = test::runRegisteredPass(graph, "fuse-epilogues", context);
  CHECK_FALSE(again.changed);
  CHECK(again.replacements.empty());
  CHECK(passes::memoryPlan(context.analyses) != nullptr);
}

TEST_CASE("fuse-epilogues: Conv + residual Add + Relu", "[passes][fuse-epilogues]") {
  GraphBuilder b = test::makeBuilder();
  ValueId x = b.input("x", DType::Float32, {1, 3, 8, 8});
  ValueId main = conv(b, x, "main", 1);
  ValueId shortcut = conv(b, x, "shortcut", 3);
  ValueId y = b.op("Relu", {b.op("Add", {main, shortcut})});
  b.output(y);
  Graph graph = finishGraph(b);
  const Graph before = graph.clone();

  pass::PassResult result = runPass(graph);
  CHECK(result.stats.at("fused_conv") == 1);
  CHECK(result.stats.at("steps_add") == 1);
  // The first conv takes the Add (the shortcut conv's output is its operand) and the Relu; the shortcut conv,
  // whose only reader is now the fused node, stays a Conv.
  REQUIRE(opTypes(graph) == std::vector<std::string>{"Conv", "FusedConv"});
  const Node &fused = onlyNode(graph, "FusedConv");
  CHECK(epilogue(fused) == std::vector<std::string>{"Add", "Relu"});
  REQUIRE(fused.inputs.size() == 4);
  CHECK(fused.inputs[3] == onlyNode(graph, "Conv").outputs[0]);
  requireSameOutputs(before, graph, randomInputs(before, 20));
}

TEST_CASE("fuse-epilogues: Conv + Clip (constant bounds, opset 17)", "[passes][fuse-epilogues]") {
  GraphBuilder b = test::makeBuilder();
  ValueId x = b.input("x", DType::Float32, {1, 3, 8, 8});
  ValueId lo = b.constant("lo", Tensor::scalar<float>(0.0f));
  ValueId hi = b.constant("hi", Tensor::scalar<float>(0.25f));
  b.output(b.op("Clip", {conv(b, x, "c", 5), lo, hi}));
  Graph graph = finishGraph(b);
  const Graph before = graph.clone();

  runPass(graph);
  REQUIRE(opTypes(graph) == std::vector<std::string>{"FusedConv"});
  const Node &fused = onlyNode(graph, "FusedConv");
  CHECK(epilogue(fused) == std::vector<std::string>{"Clip"});
  CHECK(fused.floatAttr("clip_min", -1) == 0.0f);
  CHECK(fused.floatAttr("clip_max", -1) == 0.25f);
  CHECK_FALSE(graph.value(lo).alive);  // the bounds are attributes now
  CHECK_FALSE(graph.value(hi).alive);
  requireSameOutputs(before, graph, randomInputs(before, 30));
}

TEST_CASE("fuse-epilogues: Clip bounds by attribute (opset 10) and an omitted bound", "[passes][fuse-epilogues]") {
  SECTION("opset 10 attributes") {
    GraphBuilder b = test::makeBuilder(10);
    ValueId x = b.input("x", DType::Float32, {1, 3, 8, 8});
    b.output(b.op("Clip", {conv(b, x, "c", 5)}, {{"min", -0.1f}, {"max", 0.3f}}));
    Graph graph = finishGraph(b);
    const Graph before = graph.clone();
    runPass(graph);
    const Node &fused = onlyNode(graph, "FusedConv");
    CHECK(fused.floatAttr("clip_min", 0) == -0.1f);
    CHECK(fused.floatAttr("clip_max", 0) == 0.3f);
    requireSameOutputs(before, graph, randomInputs(before, 31));
  }
  SECTION("opset 17, max only") {
    GraphBuilder b = test::makeBuilder();
    ValueId x = b.input("x", DType::Float32, {1, 3, 8, 8});
    ValueId hi = b.constant("hi", Tensor::scalar<float>(0.2f));
    b.output(b.op("Clip", {conv(b, x, "c", 5), kNoValue, hi}));
    Graph graph = finishGraph(b);
    const Graph before = graph.clone();
    runPass(graph);
    const Node &fused = onlyNode(graph, "FusedConv");
    CHECK(std::isinf(fused.floatAttr("clip_min", 0)));
    CHECK(fused.floatAttr("clip_max", 0) == 0.2f);
    requireSameOutputs(before, graph, randomInputs(before, 32));
  }
  SECTION("a bound that is not a constant stops the chain") {
    GraphBuilder b = test::makeBuilder();
    ValueId x = b.input("x", DType::Float32, {1, 3, 8, 8});
    ValueId lo = b.input("lo", DType::Float32, {});
    b.output(b.op("Clip", {conv(b, x, "c", 5), lo}));
    Graph graph = finishGraph(b);
    CHECK_FALSE(runPass(graph).changed);
  }
  SECTION("a second Clip ends the chain") {
    GraphBuilder b = test::makeBuilder();
    ValueId x = b.input("x", DType::Float32, {1, 3, 8, 8});
    ValueId lo = b.constant("lo", Tensor::scalar<float>(0.0f));
    ValueId hi = b.constant("hi", Tensor::scalar<float>(0.5f));
    ValueId c1 = b.op("Clip", {conv(b, x, "c", 5), lo});
    b.output(b.op("Clip", {b.op("Relu", {c1}), kNoValue, hi}));
    Graph graph = finishGraph(b);
    const Graph before = graph.clone();
    runPass(graph);
    CHECK(opTypes(graph) == std::vector<std::string>{"FusedConv", "Clip"});
    CHECK(epilogue(onlyNode(graph, "FusedConv")) == std::vector<std::string>{"Clip", "Relu"});
    requireSameOutputs(before, graph, randomInputs(before, 33));
  }
}

TEST_CASE("fuse-epilogues: Conv + Sigmoid + Mul is SiLU; a lone Sigmoid is Sigmoid", "[passes][fuse-epilogues]") {
  for (bool sigmoidFirst : {false, true}) {
    INFO("Mul operand order: " << (sigmoidFirst ? "Mul(sig, y)" : "Mul(y, sig)"));
    GraphBuilder b = test::makeBuilder();
    ValueId x = b.input("x", DType::Float32, {2, 3, 8, 8});
    ValueId y = conv(b, x, "c", 7);
    ValueId sig = b.op("Sigmoid", {y});
    ValueId silu = sigmoidFirst ? b.op("Mul", {sig, y}) : b.op("Mul", {y, sig});
    // A depthwise conv then a lone Sigmoid.
    ValueId dw = b.op("Conv", {silu, weight(b, "dw_w", {4, 1, 3, 3}, 8)},
                      {{"kernel_shape", std::vector<int64_t>{3, 3}}, {"group", int64_t{4}}});
    b.output(b.op("Sigmoid", {dw}));
    Graph graph = finishGraph(b);
    const Graph before = graph.clone();

    pass::PassResult result = runPass(graph);
    CHECK(result.stats.at("fused_conv") == 2);
    CHECK(result.stats.at("steps_silu") == 1);
    CHECK(result.stats.at("steps_sigmoid") == 1);
    CHECK(result.stats.at("absorbed_nodes") == 3);
    REQUIRE(opTypes(graph) == std::vector<std::string>{"FusedConv", "FusedConv"});
    CHECK(epilogue(graph.node(graph.order()[0])) == std::vector<std::string>{"SiLU"});
    CHECK(epilogue(graph.node(graph.order()[1])) == std::vector<std::string>{"Sigmoid"});
    CHECK(graph.node(graph.order()[1]).inputs.size() == 3);  // no bias (an empty slot), no Add operand
    CHECK(graph.node(graph.order()[1]).inputs[2] == kNoValue);
    requireSameOutputs(before, graph, randomInputs(before, 40));
  }
}

TEST_CASE("fuse-epilogues: MatMul + bias Add + residual Add", "[passes][fuse-epilogues]") {
  GraphBuilder b = test::makeBuilder();
  ValueId a = b.input("a", DType::Float32, {2, 5, 6});
  ValueId residual = b.input("residual", DType::Float32, {2, 5, 8});
  ValueId mm = b.op("MatMul", {a, weight(b, "w", {6, 8}, 11)});
  ValueId biased = b.op("Add", {weight(b, "bias", {8}, 12), mm});  // bias first: Add(other, y)
  ValueId y = b.op("Add", {biased, residual});
  b.output(y);
  Graph graph = finishGraph(b);
  const std::string outName = graph.value(y).name;
  const Graph before = graph.clone();

  pass::PassResult result = runPass(graph);
  CHECK(result.stats.at("fused_matmul") == 1);
  CHECK(result.stats.at("steps_add") == 2);
  REQUIRE(opTypes(graph) == std::vector<std::string>{"FusedMatMul"});
  const Node &fused = onlyNode(graph, "FusedMatMul");
  CHECK(epilogue(fused) == std::vector<std::string>{"Add", "Add"});
  REQUIRE(fused.inputs.size() == 4);
  CHECK(fused.inputs[3] == residual);
  CHECK(graph.value(graph.outputs()[0]).name == outName);
  auto steps = ops::parseEpilogue(graph, fused);
  REQUIRE(steps.hasValue());
  CHECK((*steps)[0].broadcast == ops::OperandBroadcast::LastDim);
  CHECK((*steps)[1].broadcast == ops::OperandBroadcast::Full);
  requireSameOutputs(before, graph, randomInputs(before, 50));
}

TEST_CASE("fuse-epilogues: Conv without bias + per-channel Add", "[passes][fuse-epilogues]") {
  GraphBuilder b = test::makeBuilder();
  ValueId x = b.input("x", DType::Float32, {1, 3, 8, 8});
  ValueId y = b.op("Add", {conv(b, x, "c", 13, /*bias=*/false), weight(b, "per_channel", {4, 1, 1}, 14)});
  b.output(b.op("Relu", {y}));
  Graph graph = finishGraph(b);
  const Graph before = graph.clone();
  runPass(graph);
  const Node &fused = onlyNode(graph, "FusedConv");
  CHECK(epilogue(fused) == std::vector<std::string>{"Add", "Relu"});
  REQUIRE(fused.inputs.size() == 4);
  CHECK(fused.inputs[2] == kNoValue);  // the omitted bias keeps its slot
  requireSameOutputs(before, graph, randomInputs(before, 60));
}

TEST_CASE("fuse-epilogues: chains that must not fuse", "[passes][fuse-epilogues]") {
  SECTION("the base output has two readers") {
    GraphBuilder b = test::makeBuilder();
    ValueId x = b.input("x", DType::Float32, {1, 3, 8, 8});
    ValueId y = conv(b, x, "c", 1);
    b.output(b.op("Relu", {y}));
    b.output(b.op("Sigmoid", {y}));
    Graph graph = finishGraph(b);
    CHECK_FALSE(runPass(graph).changed);
    CHECK(opTypes(graph) == std::vector<std::string>{"Conv", "Relu", "Sigmoid"});
  }
  SECTION("an intermediate with two readers ends the chain") {
    GraphBuilder b = test::makeBuilder();
    ValueId x = b.input("x", DType::Float32, {1, 3, 8, 8});
    ValueId r = b.op("Relu", {conv(b, x, "c", 1)});
    b.output(b.op("Sigmoid", {r}));
    b.output(b.op("Neg", {r}));
    Graph graph = finishGraph(b);
    const Graph before = graph.clone();
    runPass(graph);
    CHECK(opTypes(graph) == std::vector<std::string>{"FusedConv", "Sigmoid", "Neg"});
    CHECK(epilogue(onlyNode(graph, "FusedConv")) == std::vector<std::string>{"Relu"});
    requireSameOutputs(before, graph, randomInputs(before, 70));
  }
  SECTION("a graph output ends the chain (and a base output that is one does not fuse)") {
    GraphBuilder b = test::makeBuilder();
    ValueId x = b.input("x", DType::Float32, {1, 3, 8, 8});
    ValueId r = b.op("Relu", {conv(b, x, "c", 1)});
    b.output(r);
    b.output(b.op("Sigmoid", {r}));
    ValueId y2 = conv(b, x, "d", 2);
    b.output(y2);
    b.output(b.op("Relu", {y2}));
    Graph graph = finishGraph(b);
    const Graph before = graph.clone();
    runPass(graph);
    CHECK(opTypes(graph) == std::vector<std::string>{"FusedConv", "Sigmoid", "Conv", "Relu"});
    CHECK(epilogue(onlyNode(graph, "FusedConv")) == std::vector<std::string>{"Relu"});
    CHECK(graph.outputs()[0] == r);
    requireSameOutputs(before, graph, randomInputs(before, 71));
  }
  SECTION("an Add operand that broadcasts another way") {
    GraphBuilder b = test::makeBuilder();
    ValueId a = b.input("a", DType::Float32, {4, 8});
    ValueId x = b.input("x", DType::Float32, {1, 3, 8, 8});
    b.output(b.op("Add", {b.op("MatMul", {a, weight(b, "w", {8, 8}, 3)}), weight(b, "col", {4, 1}, 4)}));
    b.output(b.op("Add", {conv(b, x, "c", 5), weight(b, "spatial", {1, 1, 8, 8}, 6)}));
    // An Add that broadcasts y up to a bigger output is no epilogue either.
    b.output(b.op("Add", {b.op("MatMul", {a, weight(b, "w2", {8, 8}, 7)}), b.input("big", DType::Float32, {2, 4, 8})}));
    Graph graph = finishGraph(b);
    CHECK_FALSE(runPass(graph).changed);
    CHECK(opTypes(graph) == std::vector<std::string>{"MatMul", "Add", "Conv", "Add", "MatMul", "Add"});
  }
  SECTION("Add(y, y) and a Sigmoid whose Mul is not y * sigmoid(y)") {
    GraphBuilder b = test::makeBuilder();
    ValueId a = b.input("a", DType::Float32, {4, 8});
    ValueId z = b.input("z", DType::Float32, {4, 8});
    ValueId m1 = b.op("MatMul", {a, weight(b, "w", {8, 8}, 3)});
    b.output(b.op("Add", {m1, m1}));
    ValueId m2 = b.op("MatMul", {a, weight(b, "w2", {8, 8}, 4)});
    b.output(b.op("Mul", {b.op("Sigmoid", {m2}), z}));
    Graph graph = finishGraph(b);
    const Graph before = graph.clone();
    runPass(graph);
    // The second MatMul still takes its lone Sigmoid (then stops at the Mul by another value).
    CHECK(opTypes(graph) == std::vector<std::string>{"MatMul", "Add", "FusedMatMul", "Mul"});
    CHECK(epilogue(onlyNode(graph, "FusedMatMul")) == std::vector<std::string>{"Sigmoid"});
    requireSameOutputs(before, graph, randomInputs(before, 72));
  }
  SECTION("a float64 MatMul is left alone") {
    GraphBuilder b = test::makeBuilder();
    ValueId a = b.input("a", DType::Float64, {4, 8});
    ValueId w = b.constant("w", Tensor::zeros(DType::Float64, {8, 8}));
    b.output(b.op("Relu", {b.op("MatMul", {a, w})}));
    Graph graph = finishGraph(b);
    CHECK_FALSE(runPass(graph).changed);
    CHECK(graph.opsetImports.count("fluidml") == 0);
  }
}

TEST_CASE("fuse-epilogues: max-steps and options", "[passes][fuse-epilogues]") {
  auto build = [] {
    GraphBuilder b = test::makeBuilder();
    ValueId x = b.input("x", DType::Float32, {1, 3, 8, 8});
    ValueId r = b.input("r", DType::Float32, {1, 4, 8, 8});
    b.output(b.op("Sigmoid", {b.op("Relu", {b.op("Add", {conv(b, x, "c", 1), r})})}));
    return finishGraph(b);
  };
  {
    Graph graph = build();
    const Graph before = graph.clone();
    runPass(graph);
    CHECK(epilogue(onlyNode(graph, "FusedConv")) == std::vector<std::string>{"Add", "Relu", "Sigmoid"});
    requireSameOutputs(before, graph, randomInputs(before, 80));
  }
  {
    Graph graph = build();
    const Graph before = graph.clone();
    runPass(graph, {{"max-steps", 2}});
    CHECK(opTypes(graph) == std::vector<std::string>{"FusedConv", "Sigmoid"});
    CHECK(epilogue(onlyNode(graph, "FusedConv")) == std::vector<std::string>{"Add", "Relu"});
    requireSameOutputs(before, graph, randomInputs(before, 81));
  }
  {
    Graph graph = build();
    CHECK_FALSE(runPass(graph, {{"max-steps", 0}}).changed);
  }
  auto unknown = passes::standardPassRegistry().create("fuse-epilogues", {{"steps", 2}});
  REQUIRE_FALSE(unknown.hasValue());
  CHECK(unknown.message().find("max-steps") != std::string::npos);
  CHECK_FALSE(passes::standardPassRegistry().create("fuse-epilogues", {{"max-steps", -1}}).hasValue());
  CHECK_FALSE(passes::standardPassRegistry().create("fuse-epilogues", {{"max-steps", "4"}}).hasValue());
}

TEST_CASE("fused ops: type rule errors", "[passes][fuse-epilogues]") {
  GraphBuilder b = test::makeBuilder();
  ValueId a = b.input("a", DType::Float32, {4, 6});
  ValueId w = weight(b, "w", {6, 8}, 1);
  Graph graph = finishGraph(b);
  graph.opsetImports["fluidml"] = 1;
  auto check = [&](std::vector<ValueId> inputs, AttributeMap attributes, const std::string &expected) {
    NodeId id = graph.addNode("FusedMatMul", "f" + std::to_string(graph.nodeCapacity()), inputs,
                              {graph.uniqueValueName("out")}, std::move(attributes), "fluidml");
    Status status = ops::inferNodeTypes(graph, id);
    INFO((status.isOk() ? std::string() : status.message()));
    if (expected.empty()) {
      CHECK(status.isOk());
      CHECK(graph.value(graph.node(id).outputs[0]).type == TensorType(DType::Float32, {4, 8}));
    } else {
      CHECK_FALSE(status.isOk());
      CHECK(status.message().find(expected) != std::string::npos);
    }
  };
  check({a, w}, {{"epilogue", std::vector<std::string>{"Relu"}}}, "");
  check({a, w}, {}, "epilogue");
  check({a, w}, {{"epilogue", std::vector<std::string>{"Gelu"}}}, "");
  check({a, w}, {{"epilogue", std::vector<std::string>{"Tanh"}}}, "Tanh");
  check({a, w}, {{"epilogue", std::vector<std::string>{"Add"}}}, "operand");
  check({a, w, a}, {{"epilogue", std::vector<std::string>{"Relu"}}}, "no epilogue step uses");
  check({a, a}, {{"epilogue", std::vector<std::string>{"Relu"}}}, "inner dimensions");  // MatMul's own rule
}

TEST_CASE("fused graphs survive an ONNX export and import", "[passes][fuse-epilogues][onnx]") {
  GraphBuilder b = test::makeBuilder();
  ValueId x = b.input("x", DType::Float32, {1, 3, 8, 8});
  ValueId lo = b.constant("lo", Tensor::scalar<float>(0.0f));
  ValueId hi = b.constant("hi", Tensor::scalar<float>(6.0f));
  ValueId y = b.op("Clip", {b.op("Add", {conv(b, x, "c", 1), weight(b, "pc", {1, 4, 1, 1}, 9)}), lo, hi});
  ValueId mm = b.op("MatMul", {b.op("Reshape", {y, b.constant("s", Tensor::fromVector<int64_t>({2}, {4, 64}))}),
                               weight(b, "w", {64, 5}, 2)});
  b.output(b.op("Mul", {mm, b.op("Sigmoid", {mm})}));
  Graph graph = finishGraph(b);
  const Graph before = graph.clone();
  runPass(graph);
  REQUIRE(opTypes(graph) == std::vector<std::string>{"FusedConv", "Reshape", "FusedMatMul"});

  Expected<std::string> bytes = onnxio::exportModelBytes(graph);
  INFO((bytes.hasValue() ? std::string() : bytes.message()));
  REQUIRE(bytes.hasValue());
  onnxio::ImportOptions options;
  options.fold = false;
  Expected<Graph> imported = onnxio::importModelBytes(*bytes, "fused.onnx", ".", options);
  INFO((imported.hasValue() ? std::string() : imported.message()));
  REQUIRE(imported.hasValue());
  CHECK(imported->opsetImports.at("fluidml") == 1);
  REQUIRE(opTypes(*imported) == std::vector<std::string>{"FusedConv", "Reshape", "FusedMatMul"});
  const Node &conv = onlyNode(*imported, "FusedConv");
  CHECK(conv.domain == "fluidml");
  CHECK(epilogue(conv) == std::vector<std::string>{"Add", "Clip"});
  CHECK(conv.floatAttr("clip_max", 0) == 6.0f);
  CHECK(epilogue(onlyNode(*imported, "FusedMatMul")) == std::vector<std::string>{"SiLU"});
  requireSameOutputs(before, *imported, randomInputs(before, 90));
}

TEST_CASE("fuse-epilogues on the tiny dataset models keeps their outputs", "[passes][fuse-epilogues][models]") {
  const std::vector<fs::path> models = test::tinyDatasetDirs();
  auto spec = pass::parsePipeline(R"({"name": "fuse", "passes": [{"pass": "fold-constants"},
      {"pass": "eliminate-identity"}, {"pass": "eliminate-dead-code"}, {"pass": "fuse-epilogues"},
      {"pass": "schedule"}]})",
                                  "fuse");
  REQUIRE(spec.hasValue());
  for (const fs::path &dir : models) {
    INFO("model " << dir.filename());
    auto imported = onnxio::importModelFile((dir / "model.onnx").string());
    INFO((imported.hasValue() ? std::string() : imported.message()));
    REQUIRE(imported.hasValue());
    const Graph before = imported->clone();
    Graph graph = std::move(imported).value();
    auto manager = pass::PassManager::fromSpec(*spec, passes::standardPassRegistry());
    REQUIRE(manager.hasValue());
    pass::VerifierInstrumentation verifier;
    manager->addInstrumentation(&verifier);
    pass::PassContext context;
    Status status = manager->run(graph, context);
    INFO((status.isOk() ? std::string() : status.message()));
    REQUIRE(status.isOk());

    std::vector<Tensor> inputs;
    for (size_t i = 0; i < before.inputs().size(); ++i) {
      auto tensor = onnxio::readTensorFile((dir / "test_data_set_0" / ("input_" + std::to_string(i) + ".pb")).string());
      REQUIRE(tensor.hasValue());
      inputs.push_back(tensor->tensor);
    }
    interp::Interpreter expectedRun(before), actualRun(graph);
    auto expected = expectedRun.run(inputs);
    auto actual = actualRun.run(inputs);
    REQUIRE(expected.hasValue());
    INFO((actual.hasValue() ? std::string() : actual.message()));
    REQUIRE(actual.hasValue());
    REQUIRE(actual->size() == expected->size());
    for (size_t i = 0; i < expected->size(); ++i) {
      if ((*expected)[i].dtype() == DType::Float32)
        requireClose((*actual)[i], (*expected)[i]);
      else
        CHECK((*actual)[i].identicalTo((*expected)[i]));
    }
  }
}
