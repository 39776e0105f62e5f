// The blocked conv kernels (core/codegen/lower_conv_blocked.cpp) against the interpreter: convs writing
// NCHW[B]c from blocked or NCHW inputs, depthwise, fused epilogues, channels that are not a block multiple,
// odd planes, strides, pads and dilations, at 1 and 2 threads; padding lanes of the output stay zero.
#include <catch2/catch.hpp>

#include <cstring>

#include "core/analysis/memory_plan.h"
#include "core/codegen/compiler.h"
#include "core/ir/verifier.h"
#include "core/ops/op_registry.h"
#include "tests/codegen/codegen_test_util.h"
#include "tests/layouts/random_layouts.h"
#include "tests/test_util.h"

using namespace fluidml;
using ir::ValueId;

namespace {

struct ConvCase {
  const char *name;
  int64_t batch, inChannels, outChannels, height, width;
  int64_t kernel, stride, pad, dilation;
  bool depthwise = false;
  bool inputBlocked = true;
  int64_t block = 16;
  bool bias = true;
  std::vector<std::string> epilogue = {};  // fused steps (FusedConv); "Add" reads a blocked residual
};

ValueId addNode(ir::Graph &graph, const std::string &opType, const std::string &name, const std::vector<ValueId> &inputs,
                ir::AttributeMap attributes = {}, const std::string &domain = "") {
  const ir::NodeId node = graph.addNode(opType, name, inputs, {name + ".out"}, std::move(attributes), domain);
  Status inferred = ops::inferNodeTypes(graph, node);
  INFO((inferred.isOk() ? std::string() : inferred.message()));
  REQUIRE(inferred.isOk());
  return graph.node(node).outputs[0];
}

struct Built {
  ir::Graph graph;
  ValueId convOut;
  std::vector<ir::Tensor> inputs;
};

/// x -> Relu (blocked when the conv reads blocked) -> conv (blocked output) -> Neg -> output.
Built build(const ConvCase &c) {
  auto b = test::makeBuilder();
  const ir::Shape xShape{c.batch, c.inChannels, c.height, c.width};
  ValueId x = b.input("x", ir::DType::Float32, xShape);
  ir::Graph graph = std::move(b).build().value();
  graph.opsetImports.emplace("fluidml", 1);
  const ir::Layout blocked = ir::Layout::blocked(4, {{1, c.block}});
  ValueId relu = addNode(graph, "Relu", "relu", {x});
  if (c.inputBlocked) graph.value(relu).type.layout = blocked;
  const int64_t group = c.depthwise ? c.inChannels : 1;
  const int64_t outChannels = c.depthwise ? c.inChannels : c.outChannels;
  ValueId w = graph.addConstant("w", test::randomFloats({outChannels, c.inChannels / group, c.kernel, c.kernel}, 7));
  ValueId bias = c.bias ? graph.addConstant("b", test::randomFloats({outChannels}, 8)) : ir::kNoValue;
  ir::AttributeMap attrs{{"kernel_shape", std::vector<int64_t>{c.kernel, c.kernel}},
                         {"strides", std::vector<int64_t>{c.stride, c.stride}},
                         {"pads", std::vector<int64_t>{c.pad, c.pad, c.pad, c.pad}},
                         {"dilations", std::vector<int64_t>{c.dilation, c.dilation}},
                         {"group", group}};
  std::vector<ValueId> inputs{relu, w, bias};
  ValueId conv;
  if (c.epilogue.empty()) {
    if (!c.bias) inputs.pop_back();
    conv = addNode(graph, "Conv", "conv", inputs, attrs);
  } else {
    // The residual: the conv's output shape, blocked like it (computed from x by a second, row-major conv).
    const int64_t outH = (c.height + 2 * c.pad - c.dilation * (c.kernel - 1) - 1) / c.stride + 1;
    const int64_t outW = (c.width + 2 * c.pad - c.dilation * (c.kernel - 1) - 1) / c.stride + 1;
    for (const std::string &step : c.epilogue)
      if (step == "Add") {
        ValueId r = graph.addInput("r", ir::TensorType{ir::DType::Float32, {c.batch, outChannels, outH, outW}});
        ValueId residual = addNode(graph, "Sigmoid", "residual", {r});
        graph.value(residual).type.layout = blocked;
        inputs.push_back(residual);
      }
    attrs["epilogue"] = c.epilogue;
    attrs["clip_min"] = -0.25f;
    attrs["clip_max"] = 0.5f;
    conv = addNode(graph, "FusedConv", "conv", inputs, attrs, "fluidml");
  }
  graph.value(conv).type.layout = blocked;
  graph.addOutput(addNode(graph, "Neg", "neg", {conv}));
  REQUIRE(ir::verify(graph).isOk());
  std::vector<ir::Tensor> values{test::randomFloats(xShape, 11)};
  for (size_t i = 1; i < graph.inputs().size(); ++i) values.push_back(test::randomFloats(graph.value(graph.inputs()[i]).type.shape, 12));
  return {std::move(graph), conv, std::move(values)};
}

void check(const ConvCase &c) {
  INFO(c.name);
  Built built = build(c);
  const ir::Graph reference = built.graph.clone();
  auto inserted = test::legalizeForCodegen(built.graph);
  INFO((inserted.hasValue() ? std::string() : inserted.message()));
  REQUIRE(inserted.hasValue());
  REQUIRE(codegen::checkNodeLayouts(built.graph, built.graph.node(built.graph.value(built.convOut).producer)).isOk());
  const std::vector<ir::Tensor> expected = test::runGraph(reference, built.inputs);
  for (int threads : {1, 2}) {
    auto plan = analysis::planMemory(built.graph, {});
    REQUIRE(plan.hasValue());
    auto model = test::compileGraph(built.graph, *plan, threads);
    CHECK(model->kernelStrategies().at("conv") ==
          (c.depthwise ? "depthwise-nchwc" : c.inputBlocked ? "direct-nchwc" : "direct-nchw-to-nchwc"));
    std::memset(model->arenaData(), 0xff, model->arenaBytes());  // NaN wherever no kernel writes
    const std::vector<ir::Tensor> actual = test::runModel(*model, built.inputs);
    REQUIRE(actual.size() == expected.size());
    const std::string mismatch = test::compareWithReference(actual[0], expected[0]);
    INFO("at " << threads << " thread(s): " << mismatch);
    CHECK(mismatch.empty());
    // Padding lanes of the last channel block hold zeros.
    const ir::TensorType &type = built.graph.value(built.convOut).type;
    const int64_t channels = type.shape[1];
    if (channels % c.block != 0) {
      const int64_t offset = plan->offsetOf(built.convOut);
      REQUIRE(offset >= 0);
      const float *data = reinterpret_cast<const float *>(model->arenaData() + offset);
      const int64_t blocks = (channels + c.block - 1) / c.block, plane = type.shape[2] * type.shape[3];
      bool zero = true;
      for (int64_t n = 0; n < type.shape[0]; ++n)
        for (int64_t p = 0; p < plane; ++p)
          for (int64_t lane = channels % c.block; lane < c.block; ++lane)
            zero = zero && data[((n * blocks + blocks - 1) * plane + p) * c.block + lane] == 0.0f;
      CHECK(zero);
    }
  }
}

}  // namespace

TEST_CASE("Blocked direct conv matches the interpreter", "[codegen][conv][layouts]") {
  const std::vector<ConvCase> cases = {
      {"3x3 pad 1, blocked in and out", 1, 32, 32, 9, 9, 3, 1, 1, 1},
      {"3x3 stride 2, channels not a block multiple", 2, 24, 40, 15, 13, 3, 2, 1, 1},
      {"1x1 flat plane, 8-lane blocks", 1, 24, 40, 7, 7, 1, 1, 0, 1, false, true, 8},
      {"1x1 stride 2 downsample", 1, 32, 64, 14, 14, 1, 2, 0, 1},
      {"5x5 dilation 2, no bias", 1, 16, 48, 11, 12, 5, 1, 4, 2, false, true, 16, false},
      {"wide row, 3x3", 1, 16, 16, 5, 61, 3, 1, 1, 1},
      {"first conv: NCHW image in, 7x7 stride 2", 1, 3, 64, 23, 21, 7, 2, 3, 1, false, false},
      {"NCHW in with a partial channel block", 1, 20, 16, 9, 9, 3, 1, 1, 1, false, false},
      {"NCHW in, 1x1 flat, 8-lane blocks", 2, 12, 20, 6, 5, 1, 1, 0, 1, false, false, 8},
  };
  for (const ConvCase &c : cases) check(c);
}

TEST_CASE("Blocked depthwise conv matches the interpreter", "[codegen][conv][layouts]") {
  const std::vector<ConvCase> cases = {
      {"depthwise 3x3 stride 2", 1, 40, 40, 15, 13, 3, 2, 1, 1, true},
      {"depthwise 5x5, 8-lane blocks", 2, 24, 24, 9, 9, 5, 1, 2, 1, true, true, 8},
      {"depthwise 3x3 wide row", 1, 32, 32, 4, 57, 3, 1, 1, 1, true},
  };
  for (const ConvCase &c : cases) check(c);
}

TEST_CASE("Blocked conv applies fused steps in registers, padding lanes stay zero", "[codegen][conv][layouts]") {
  const std::vector<ConvCase> cases = {
      {"residual Add + Relu", 1, 16, 32, 8, 8, 3, 1, 1, 1, false, true, 16, true, {"Add", "Relu"}},
      {"Sigmoid on 40 channels (0.5 would leak into padding)", 1, 16, 40, 7, 7, 1, 1, 0, 1, false, true, 16, true, {"Sigmoid"}},
      {"SiLU, 8-lane blocks on a 16-lane target", 1, 8, 24, 6, 6, 3, 1, 1, 1, false, true, 8, true, {"SiLU"}},
      {"Clip after depthwise", 1, 24, 24, 7, 7, 3, 1, 1, 1, true, true, 16, true, {"Clip"}},
      {"first conv + Add + Clip", 1, 3, 24, 10, 10, 3, 2, 1, 1, false, false, 16, false, {"Add", "Clip"}},
  };
  for (const ConvCase &c : cases) check(c);
}

TEST_CASE("The blocked conv refuses what it cannot read, naming the layouts", "[codegen][conv][layouts]") {
  ConvCase c{"grouped", 1, 16, 16, 6, 6, 3, 1, 1, 1};
  Built built = build(c);
  ir::Node &conv = built.graph.node(built.graph.value(built.convOut).producer);
  // A residual in another layout than the output, or a permuted input: refused.
  built.graph.value(conv.inputs[0]).type.layout = ir::Layout::permutation({0, 2, 3, 1});
  Status refused = codegen::checkNodeLayouts(built.graph, conv);
  REQUIRE_FALSE(refused.isOk());
  CHECK(refused.isInternal());
  CHECK_THAT(refused.message(), Catch::Contains("(0,2,3,1)"));
  CHECK_THAT(refused.message(), Catch::Contains("NCHW16c"));
}
