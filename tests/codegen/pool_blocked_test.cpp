// Pools on channel-blocked layouts (lower_pool_blocked.cpp): MaxPool, AveragePool, GlobalAveragePool and
// GlobalMaxPool read and write NC...[B]c between blocked neighbours without conversions, match the interpreter at
// 1 and 2 threads for blocks 4, 8 and 16 (channels that fill no whole block, odd planes, strides, pads,
// ceil_mode, count_include_pad, dilations), write zero padding lanes whatever the arena held, and refuse the
// layouts they do not read with an internal error naming the node, the operand and the layout.
#include <catch2/catch.hpp>

#include <cstring>
#include <string>
#include <vector>

#include "core/analysis/memory_plan.h"
#include "core/codegen/compiler.h"
#include "core/codegen/target_machine.h"
#include "core/ir/verifier.h"
#include "tests/codegen/codegen_test_util.h"
#include "tests/layouts/random_layouts.h"
#include "tests/test_util.h"

using namespace fluidml;
using ir::ValueId;
using Ints = std::vector<int64_t>;

namespace {

struct PoolCase {
  std::string op;
  ir::Shape shape;
  ir::AttributeMap attrs;
  int64_t opset = 17;
};

/// x -> Neg -> a -> pool -> p -> Neg -> y, with a and p in NC...[block]c (Neg reads and writes them natively).
struct BlockedGraph {
  ir::Graph graph;
  ir::Graph reference;
  ValueId pooled = ir::kNoValue;
  std::string poolNode;
};

BlockedGraph blockedGraph(const PoolCase &c, int64_t block) {
  auto b = test::makeBuilder(c.opset);
  ValueId x = b.input("x", ir::DType::Float32, c.shape);
  ValueId a = b.op("Neg", {x});
  ValueId p = b.op(c.op, {a}, c.attrs);
  b.output(b.op("Neg", {p}));
  auto built = std::move(b).build();
  INFO((built.hasValue() ? std::string() : built.message()));
  REQUIRE(built.hasValue());
  BlockedGraph g{std::move(built).value(), {}, p, {}};
  g.reference = g.graph.clone();
  g.poolNode = g.graph.node(g.graph.value(p).producer).name;
  const ir::Layout blocked = ir::Layout::blocked(c.shape.size(), {{1, block}});
  g.graph.value(a).type.layout = blocked;
  g.graph.value(p).type.layout = blocked;
  REQUIRE(ir::verify(g.graph).isOk());
  auto inserted = test::legalizeForCodegen(g.graph);
  INFO((inserted.hasValue() ? std::string() : inserted.message()));
  REQUIRE(inserted.hasValue());
  CHECK(*inserted == 0);  // the pool reads and writes the blocked layout as it is
  return g;
}

/// Lanes of the pooled tensor's last channel block past C (padding) must be zero.
void requireZeroPaddingLanes(codegen::CompiledModel &model, const analysis::MemoryPlan &plan, const BlockedGraph &g,
                             int64_t block) {
  const ir::TensorType &type = g.graph.value(g.pooled).type;
  const int64_t channels = type.shape[1];
  if (channels % block == 0) return;
  const int64_t offset = plan.offsetOf(g.pooled);
  REQUIRE(offset >= 0);
  const float *data = reinterpret_cast<const float *>(model.arenaData() + offset);
  const int64_t blocks = (channels + block - 1) / block;
  int64_t spatial = 1;
  for (size_t d = 2; d < type.rank(); ++d) spatial *= type.shape[d];
  // Physical N x blocks x spatial x block.
  for (int64_t n = 0; n < type.shape[0]; ++n)
    for (int64_t s = 0; s < spatial; ++s)
      for (int64_t lane = channels - (blocks - 1) * block; lane < block; ++lane) {
        const float value = data[((n * blocks + blocks - 1) * spatial + s) * block + lane];
        INFO("image " << n << ", position " << s << ", padding lane " << lane);
        REQUIRE(value == 0.0f);
      }
}

/// Compiles the blocked graph at 1 and 2 threads (arena poisoned with NaN first), checks the pool took the blocked
/// kernel, its output against the interpreter and its padding lanes.
void checkBlocked(const PoolCase &c, int64_t block, uint32_t seed) {
  INFO(c.op << " on " << ir::TensorType(ir::DType::Float32, c.shape).toString() << " in blocks of " << block);
  const BlockedGraph g = blockedGraph(c, block);
  const std::vector<ir::Tensor> inputs{test::randomFloats(c.shape, seed)};
  const std::vector<ir::Tensor> expected = test::runGraph(g.reference, inputs);
  auto plan = analysis::planMemory(g.graph, {});
  REQUIRE(plan.hasValue());
  for (int threads : {1, 2}) {
    INFO(threads << " thread(s)");
    auto model = test::compileGraph(g.graph, *plan, threads);
    const std::map<std::string, std::string> &strategies = model->kernelStrategies();
    REQUIRE(strategies.count(g.poolNode) == 1);
    CHECK(strategies.at(g.poolNode) == "blocked");
    std::memset(model->arenaData(), 0xff, model->arenaBytes());
    const std::vector<ir::Tensor> actual = test::runModel(*model, inputs);
    const std::string mismatch = test::compareWithReference(actual[0], expected[0]);
    INFO(mismatch);
    CHECK(mismatch.empty());
    requireZeroPaddingLanes(*model, *plan, g, block);
  }
}

/// Channel counts per block: multiples, partial last blocks, fewer channels than one block.
const std::vector<std::pair<int64_t, int64_t>> kBlockChannels{{16, 24}, {16, 32}, {16, 3}, {8, 40}, {8, 3}, {4, 6}};

}  // namespace

TEST_CASE("Blocked MaxPool matches the interpreter", "[codegen][pool][layouts]") {
  const std::vector<std::pair<ir::Shape, ir::AttributeMap>> windows{
      {{7, 7}, {{"kernel_shape", Ints{3, 3}}, {"strides", Ints{2, 2}}, {"pads", Ints{1, 1, 1, 1}}}},  // ResNet stem
      {{15, 13}, {{"kernel_shape", Ints{2, 2}}, {"strides", Ints{2, 2}}}},                              // VGG
      {{15, 13}, {{"kernel_shape", Ints{3, 3}}, {"pads", Ints{1, 1, 1, 1}}}},
      {{15, 13}, {{"kernel_shape", Ints{3, 3}}, {"strides", Ints{2, 2}}, {"ceil_mode", int64_t{1}}}},
      {{15, 13}, {{"kernel_shape", Ints{3, 2}}, {"dilations", Ints{2, 3}}, {"pads", Ints{2, 1, 1, 3}}}},
      {{7, 7}, {{"kernel_shape", Ints{3, 3}}, {"strides", Ints{2, 1}}, {"auto_pad", std::string("SAME_UPPER")}}},
      {{15, 13}, {{"kernel_shape", Ints{1, 11}}, {"pads", Ints{0, 5, 0, 5}}}},  // a row wider than kUnrolledTaps
      {{7, 7}, {{"kernel_shape", Ints{1, 1}}, {"pads", Ints{1, 2, 1, 0}}}},  // windows wholly in the pads: -inf
  };
  uint32_t seed = 1;
  for (const auto &[block, channels] : kBlockChannels)
    for (const auto &[plane, attrs] : windows)
      checkBlocked({"MaxPool", {2, channels, plane[0], plane[1]}, attrs}, block, seed++);
}

TEST_CASE("Blocked AveragePool matches the interpreter", "[codegen][pool][layouts]") {
  const std::vector<std::pair<ir::Shape, ir::AttributeMap>> windows{
      {{7, 7}, {{"kernel_shape", Ints{3, 3}}, {"strides", Ints{2, 2}}, {"pads", Ints{1, 1, 1, 1}}}},
      {{7, 7},
       {{"kernel_shape", Ints{3, 3}}, {"strides", Ints{2, 2}}, {"pads", Ints{1, 1, 1, 1}}, {"count_include_pad", int64_t{1}}}},
      {{15, 13}, {{"kernel_shape", Ints{2, 2}}, {"strides", Ints{2, 2}}}},
      {{15, 13},
       {{"kernel_shape", Ints{3, 3}}, {"strides", Ints{2, 2}}, {"pads", Ints{0, 1, 1, 0}}, {"ceil_mode", int64_t{1}},
        {"count_include_pad", int64_t{1}}}},
      {{15, 13}, {{"kernel_shape", Ints{3, 3}}, {"strides", Ints{2, 2}}, {"ceil_mode", int64_t{1}}}},
      {{7, 7}, {{"kernel_shape", Ints{7, 7}}}},  // a global average as a window (ResNet-style head)
      {{15, 13}, {{"kernel_shape", Ints{5, 5}}, {"pads", Ints{2, 2, 2, 2}}, {"count_include_pad", int64_t{1}}}},
  };
  uint32_t seed = 100;
  for (const auto &[block, channels] : kBlockChannels)
    for (const auto &[plane, attrs] : windows)
      checkBlocked({"AveragePool", {2, channels, plane[0], plane[1]}, attrs}, block, seed++);
  // Dilations came to AveragePool in opset 19.
  checkBlocked({"AveragePool", {1, 24, 15, 13}, {{"kernel_shape", Ints{3, 3}}, {"dilations", Ints{2, 2}},
                {"pads", Ints{2, 2, 2, 2}}, {"count_include_pad", int64_t{1}}}, 19}, 16, seed++);
  checkBlocked({"AveragePool", {1, 40, 15, 13}, {{"kernel_shape", Ints{2, 3}}, {"dilations", Ints{3, 2}},
                {"strides", Ints{2, 2}}, {"pads", Ints{1, 1, 1, 1}}}, 19}, 8, seed++);
}

TEST_CASE("Blocked GlobalAveragePool and GlobalMaxPool match the interpreter", "[codegen][pool][layouts]") {
  uint32_t seed = 200;
  for (const char *op : {"GlobalAveragePool", "GlobalMaxPool"})
    for (const auto &[block, channels] : kBlockChannels)
      for (const ir::Shape &plane : std::vector<ir::Shape>{{7, 7}, {15, 13}, {1, 1}, {2, 3}})
        checkBlocked({op, {2, channels, plane[0], plane[1]}, {}}, block, seed++);
}

TEST_CASE("Blocked pools over one and three spatial dims", "[codegen][pool][layouts]") {
  checkBlocked({"MaxPool", {2, 20, 17}, {{"kernel_shape", Ints{3}}, {"strides", Ints{2}}, {"pads", Ints{1, 1}}}}, 8, 300);
  checkBlocked({"AveragePool", {1, 24, 5, 7, 6},
                {{"kernel_shape", Ints{2, 3, 3}}, {"strides", Ints{2, 2, 1}}, {"pads", Ints{1, 1, 1, 0, 1, 1}}}},
               16, 301);
  checkBlocked({"GlobalAveragePool", {1, 24, 3, 5, 4}, {}}, 16, 302);
  checkBlocked({"GlobalMaxPool", {2, 12, 9}, {}}, 8, 303);
}

TEST_CASE("Blocked pools compiled for AVX2 (vectors of 16 floats in two registers)", "[codegen][pool][layouts]") {
  auto target = codegen::resolveTarget("x86-64-v3");
  REQUIRE(target.hasValue());
  const std::vector<PoolCase> cases{
      {"MaxPool", {1, 24, 15, 13}, {{"kernel_shape", Ints{3, 3}}, {"strides", Ints{2, 2}}, {"pads", Ints{1, 1, 1, 1}}}},
      {"AveragePool", {1, 24, 15, 13}, {{"kernel_shape", Ints{3, 3}}, {"count_include_pad", int64_t{1}}, {"pads", Ints{1, 1, 1, 1}}}},
      {"GlobalAveragePool", {1, 24, 15, 13}, {}},
  };
  uint32_t seed = 400;
  for (const PoolCase &c : cases)
    for (int64_t block : {8, 16}) {
      INFO(c.op << " in blocks of " << block);
      const BlockedGraph g = blockedGraph(c, block);
      const std::vector<ir::Tensor> inputs{test::randomFloats(c.shape, seed++)};
      codegen::CompileOptions options;
      options.target = *target;
      options.threads = 2;
      auto model = test::compileGraphWith(g.graph, options);
      CHECK(model->kernelStrategies().at(g.poolNode) == "blocked");
      const std::string mismatch =
          test::compareWithReference(test::runModel(*model, inputs)[0], test::runGraph(g.reference, inputs)[0]);
      INFO(mismatch);
      CHECK(mismatch.empty());
    }
}

namespace {

/// x -> Neg -> a -> `op` -> p -> Neg, a and p given the layouts named, compiled without legalizing: the refusal.
std::string refusal(const std::string &op, const ir::AttributeMap &attrs, const std::string &in, const std::string &out,
                    ir::DType dtype = ir::DType::Float32) {
  auto b = test::makeBuilder();
  ValueId x = b.input("x", dtype, {1, 24, 6, 6});
  ValueId a = b.op("Neg", {x});
  ValueId p = b.op(op, {a}, attrs);
  b.output(b.op("Neg", {p}));
  ir::Graph graph = std::move(b).build().value();
  REQUIRE(ir::parseLayout(in, 4).hasValue());
  graph.value(a).type.layout = *ir::parseLayout(in, 4);
  graph.value(p).type.layout = *ir::parseLayout(out, 4);
  REQUIRE(ir::verify(graph).isOk());
  auto plan = analysis::planMemory(graph, {});
  REQUIRE(plan.hasValue());
  auto refused = codegen::compileJit(graph, *plan, {});
  REQUIRE_FALSE(refused.hasValue());
  CHECK(refused.status().isInternal());
  CHECK_THAT(refused.message(), Catch::Contains("(" + op + ", #"));
  CHECK_THAT(refused.message(), Catch::Contains("'" + graph.value(a).name + "'"));

  // Relayouts make it compile, and it matches the interpreter.
  const ir::Graph reference = graph.clone();
  auto inserted = test::legalizeForCodegen(graph);
  REQUIRE(inserted.hasValue());
  CHECK(*inserted > 0);
  if (dtype == ir::DType::Float32) {
    const std::vector<ir::Tensor> inputs{test::randomFloats({1, 24, 6, 6}, 500)};
    auto model = test::compileGraph(graph, 2);
    CHECK(test::compareWithReference(test::runModel(*model, inputs)[0], test::runGraph(reference, inputs)[0]).empty());
  }
  return refused.message();
}

}  // namespace

TEST_CASE("Pools refuse the layouts they do not read, naming the node, the operand and the layout",
          "[codegen][pool][layouts]") {
  const ir::AttributeMap window{{"kernel_shape", Ints{3, 3}}, {"pads", Ints{1, 1, 1, 1}}};
  CHECK_THAT(refusal("MaxPool", window, "NHWC", "NHWC"), Catch::Contains("(0,2,3,1)"));
  CHECK_THAT(refusal("AveragePool", window, "NCHW16c", "NCHW8c"), Catch::Contains("NCHW8c"));
  CHECK_THAT(refusal("GlobalAveragePool", {}, "NCHW16c", "row-major"), Catch::Contains("NCHW16c"));
  CHECK_THAT(refusal("GlobalMaxPool", {}, "NHWC8c", "NHWC8c"), Catch::Contains("NHWC8c"));
  // LpPool keeps its row-major kernel only.
  CHECK_THAT(refusal("LpPool", window, "NCHW16c", "NCHW16c"), Catch::Contains("row-major layouts only"));
  CHECK_THAT(refusal("MaxPool", window, "NCHW8c", "NCHW8c", ir::DType::Float64), Catch::Contains("float32 only"));
}

TEST_CASE("A MaxPool with Indices runs row-major between blocked neighbours", "[codegen][pool][layouts]") {
  auto b = test::makeBuilder();
  ValueId x = b.input("x", ir::DType::Float32, {1, 24, 7, 7});
  ValueId a = b.op("Neg", {x});
  std::vector<ValueId> outs = b.opMulti("MaxPool", {a}, 2, {{"kernel_shape", Ints{3, 3}}, {"strides", Ints{2, 2}}});
  b.output(b.op("Neg", {outs[0]}));
  b.output(outs[1]);
  ir::Graph graph = std::move(b).build().value();
  const ir::Graph reference = graph.clone();
  graph.value(a).type.layout = ir::Layout::blocked(4, {{1, 16}});
  graph.value(outs[0]).type.layout = ir::Layout::blocked(4, {{1, 16}});
  Status check = codegen::checkNodeLayouts(graph, graph.node(graph.value(outs[0]).producer));
  REQUIRE_FALSE(check.isOk());
  CHECK(check.isInternal());
  CHECK_THAT(check.message(), Catch::Contains("Indices"));
  auto inserted = test::legalizeForCodegen(graph);
  REQUIRE(inserted.hasValue());
  CHECK(*inserted == 2);
  const std::vector<ir::Tensor> inputs{test::randomFloats({1, 24, 7, 7}, 600)};
  const std::vector<ir::Tensor> expected = test::runGraph(reference, inputs);
  for (int threads : {1, 2}) {
    auto model = test::compileGraph(graph, threads);
    CHECK(model->kernelStrategies().empty());  // the row-major kernels name no strategy
    const std::vector<ir::Tensor> actual = test::runModel(*model, inputs);
    CHECK(test::compareWithReference(actual[0], expected[0]).empty());
    CHECK(actual[1].identicalTo(expected[1]));
  }
}
