// Layouts through the code generator: kernels refuse layouts they do not declare (the miscompiles of issue 9
// become errors), fluidml.Relayout converts between every pair of layouts with zeroed padding lanes,
// elementwise kernels read blocked operands natively, and random layouts on random graphs match the
// interpreter at 1 and 2 threads once Relayouts make them readable.
#include <catch2/catch.hpp>

#include <cstring>
#include <random>

#include "core/analysis/memory_plan.h"
#include "core/codegen/compiler.h"
#include "core/ir/verifier.h"
#include "core/ops/op_registry.h"
#include "core/ops/relayout.h"
#include "tests/codegen/codegen_test_util.h"
#include "tests/layouts/random_layouts.h"
#include "tests/test_util.h"

using namespace fluidml;
using ir::ValueId;

namespace {

/// Appends out = fluidml.Relayout(in) to `layout` (text form).
ValueId relayout(ir::Graph &graph, ValueId in, const std::string &layout) {
  const std::string name = graph.uniqueValueName(graph.value(in).name + ".r");
  graph.opsetImports.emplace("fluidml", 1);
  const ir::NodeId node = graph.addNode("Relayout", name, {in}, {name}, {{"layout", layout}}, "fluidml");
  Status inferred = ops::inferNodeTypes(graph, node);
  INFO((inferred.isOk() ? std::string() : inferred.message()));
  REQUIRE(inferred.isOk());
  return graph.node(node).outputs[0];
}

void requireMatchesInterpreter(const ir::Graph &compiledGraph, const ir::Graph &reference,
                               const std::vector<ir::Tensor> &inputs, int threads) {
  const std::vector<ir::Tensor> expected = test::runGraph(reference, inputs);
  auto model = test::compileGraph(compiledGraph, threads);
  const std::vector<ir::Tensor> actual = test::runModel(*model, inputs);
  REQUIRE(actual.size() == expected.size());
  for (size_t i = 0; i < actual.size(); ++i) {
    const std::string mismatch = test::compareWithReference(actual[i], expected[i]);
    INFO("output " << i << " at " << threads << " thread(s): " << mismatch);
    CHECK(mismatch.empty());
  }
}

struct Miscompile {
  const char *name;
  ir::Graph graph;
  ValueId value;
  std::vector<int> order;
  std::vector<ir::Tensor> inputs;
};

Miscompile matmulCase() {
  auto b = test::makeBuilder();
  ValueId x = b.input("x", ir::DType::Float32, {4, 6});
  ValueId a = b.op("Relu", {x});
  ValueId w = b.constant("w", test::randomFloats({6, 5}, 2));
  b.output(b.op("MatMul", {a, w}));
  return {"MatMul", std::move(b).build().value(), a, {1, 0}, {test::randomFloats({4, 6}, 1)}};
}

Miscompile softmaxCase() {
  auto b = test::makeBuilder();
  ValueId x = b.input("x", ir::DType::Float32, {3, 7});
  ValueId a = b.op("Neg", {x});
  b.output(b.op("Softmax", {a}, {{"axis", int64_t{1}}}));
  return {"Softmax", std::move(b).build().value(), a, {1, 0}, {test::randomFloats({3, 7}, 3)}};
}

Miscompile convCase() {
  auto b = test::makeBuilder();
  ValueId x = b.input("x", ir::DType::Float32, {1, 3, 6, 6});
  ValueId a = b.op("Relu", {x});
  ValueId w = b.constant("w", test::randomFloats({4, 3, 3, 3}, 5));
  b.output(b.op("Conv", {a, w}));
  return {"Conv", std::move(b).build().value(), a, {0, 2, 3, 1}, {test::randomFloats({1, 3, 6, 6}, 4)}};
}

}  // namespace

TEST_CASE("MatMul reads a transposed operand through its strides, without a conversion", "[llvm][layouts]") {
  Miscompile c = matmulCase();
  const ir::Graph reference = c.graph.clone();
  c.graph.value(c.value).type.layout = ir::Layout::permutation(c.order);
  REQUIRE(codegen::checkNodeLayouts(c.graph, c.graph.node(c.graph.order().back())).isOk());
  auto inserted = test::legalizeForCodegen(c.graph);
  REQUIRE(inserted.hasValue());
  CHECK(*inserted == 0);
  requireMatchesInterpreter(c.graph, reference, c.inputs, 1);
  requireMatchesInterpreter(c.graph, reference, c.inputs, 2);
}

TEST_CASE("A kernel refuses a layout it does not read; Relayouts make the graph compile right", "[llvm][layouts]") {
  for (Miscompile c : {softmaxCase(), convCase()}) {
    INFO(c.name);
    const ir::Graph reference = c.graph.clone();
    c.graph.value(c.value).type.layout = ir::Layout::permutation(c.order);
    REQUIRE(ir::verify(c.graph).isOk());
    auto plan = analysis::planMemory(c.graph, {});
    REQUIRE(plan.hasValue());
    auto refused = codegen::compileJit(c.graph, *plan, {});
    REQUIRE_FALSE(refused.hasValue());
    CHECK_THAT(refused.message(), Catch::Contains(std::string("(") + c.name + ", #"));
    CHECK_THAT(refused.message(), Catch::Contains(ir::Layout::permutation(c.order).toString(c.order.size())));
    CHECK(refused.status().isInternal());

    auto inserted = test::legalizeForCodegen(c.graph);
    REQUIRE(inserted.hasValue());
    CHECK(*inserted == 1);
    REQUIRE(ir::verify(c.graph).isOk());
    requireMatchesInterpreter(c.graph, reference, c.inputs, 1);
  }
}

TEST_CASE("An Identity between two layouts is refused: conversions are Relayout nodes", "[llvm][layouts]") {
  auto b = test::makeBuilder();
  ValueId x = b.input("x", ir::DType::Float32, {4, 6});
  ValueId a = b.op("Relu", {x});
  ValueId i = b.op("Identity", {a});
  b.output(b.op("Neg", {i}));
  ir::Graph graph = std::move(b).build().value();
  graph.value(a).type.layout = ir::Layout::permutation({1, 0});
  auto plan = analysis::planMemory(graph, {});
  REQUIRE(plan.hasValue());
  auto refused = codegen::compileJit(graph, *plan, {});
  REQUIRE_FALSE(refused.hasValue());
  CHECK_THAT(refused.message(), Catch::Contains("must be a fluidml.Relayout node"));
}

TEST_CASE("Relayout converts between every pair of layouts, blocked ones included", "[llvm][layouts]") {
  const std::vector<std::string> layouts{"NCHW", "NHWC", "NCHW16c", "NCHW8c", "NHWC8c", "(3,1,0,2)[1:4,2:2]",
                                         "OIHW4i2o"};
  const ir::Tensor input = test::randomFloats({2, 12, 5, 3}, 7);
  for (const std::string &from : layouts)
    for (const std::string &to : layouts) {
      INFO(from << " -> " << to);
      auto b = test::makeBuilder();
      ValueId x = b.input("x", ir::DType::Float32, {2, 12, 5, 3});
      ir::Graph graph = std::move(b).build().value();
      ValueId y = relayout(graph, relayout(graph, relayout(graph, x, from), to), "row-major");
      graph.addOutput(y);
      REQUIRE(ir::verify(graph).isOk());
      auto model = test::compileGraph(graph);
      const std::vector<ir::Tensor> out = test::runModel(*model, {input});
      CHECK(out[0].identicalTo(input));
    }
}

TEST_CASE("Blocked tensors have zero padding lanes, whatever the arena held", "[llvm][layouts]") {
  // 20 channels in blocks of 16: lanes 4..15 of the second block are padding.
  auto b = test::makeBuilder();
  ValueId x = b.input("x", ir::DType::Float32, {1, 20, 3, 3});
  ir::Graph graph = std::move(b).build().value();
  const ValueId blocked = relayout(graph, x, "NCHW16c");
  const ir::NodeId sigmoid = graph.addNode("Sigmoid", "sigmoid", {blocked}, {"s"});
  REQUIRE(ops::inferNodeTypes(graph, sigmoid).isOk());
  const ValueId s = graph.node(sigmoid).outputs[0];
  graph.value(s).type.layout = ir::Layout::blocked(4, {{1, 16}});
  graph.addOutput(relayout(graph, s, "row-major"));
  REQUIRE(ir::verify(graph).isOk());
  auto plan = analysis::planMemory(graph, {});
  REQUIRE(plan.hasValue());
  auto model = test::compileGraph(graph, *plan);
  std::memset(model->arenaData(), 0xff, model->arenaBytes());  // NaN everywhere the kernels do not write
  const ir::Tensor input = test::randomFloats({1, 20, 3, 3}, 9);
  const std::vector<ir::Tensor> out = test::runModel(*model, {input});
  for (ValueId v : {blocked, s}) {
    const int64_t offset = plan->offsetOf(v);
    REQUIRE(offset >= 0);
    const float *data = reinterpret_cast<const float *>(model->arenaData() + offset);
    const ir::TensorType &type = graph.value(v).type;
    for (int64_t h = 0; h < 3; ++h)
      for (int64_t w = 0; w < 3; ++w)
        for (int64_t lane = 4; lane < 16; ++lane) {
          // Physical 1x2x3x3x16: block 1, row h, column w, lane.
          const float value = data[((9 + h * 3 + w) * 16) + lane];
          INFO(graph.value(v).name << " padding lane " << lane << " at " << h << "," << w);
          CHECK(value == 0.0f);
        }
    CHECK(type.bytes() == 2 * 9 * 16 * 4);
  }
  const std::vector<ir::Tensor> expected = test::runGraph(graph, {input});
  CHECK(test::compareWithReference(out[0], expected[0]).empty());
}

TEST_CASE("Elementwise kernels read and write blocked layouts natively, broadcasts included", "[llvm][layouts]") {
  auto b = test::makeBuilder();
  ValueId x = b.input("x", ir::DType::Float32, {2, 24, 5, 7});
  ValueId a = b.op("Neg", {x});
  ValueId bias = b.constant("bias", test::randomFloats({24, 1, 1}, 11));
  ValueId sum = b.op("Add", {a, bias});
  ValueId sig = b.op("Sigmoid", {sum});
  ValueId t = b.op("Transpose", {sig}, {{"perm", std::vector<int64_t>{0, 2, 3, 1}}});
  ValueId prod = b.op("Mul", {t, t});
  b.output(b.op("Relu", {prod}));
  ir::Graph graph = std::move(b).build().value();
  const ir::Graph reference = graph.clone();
  graph.value(a).type.layout = ir::Layout::blocked(4, {{1, 8}});               // NCHW8c
  graph.value(sum).type.layout = ir::Layout::blocked(4, {{1, 8}});             // NCHW8c, bias broadcast
  graph.value(sig).type.layout = ir::Layout{{0, 2, 3, 1}, {{1, 8}}};           // NHWC8c
  graph.value(t).type.layout = ir::Layout{{0, 3, 1, 2}, {{3, 8}}};             // channels, moved to dim 3, in blocks
  graph.value(prod).type.layout = ir::Layout::permutation({0, 3, 1, 2});
  REQUIRE(ir::verify(graph).isOk());
  auto inserted = test::legalizeForCodegen(graph);
  REQUIRE(inserted.hasValue());
  CHECK(*inserted == 0);  // every kernel here reads these layouts as they are
  const std::vector<ir::Tensor> inputs{test::randomFloats({2, 24, 5, 7}, 12)};
  requireMatchesInterpreter(graph, reference, inputs, 1);
  requireMatchesInterpreter(graph, reference, inputs, 2);
}

namespace {

/// A random graph over 2xCxHxW tensors: unary and binary elementwise ops (with broadcast constants),
/// transposes there and back, softmax, reductions broadcast back, 1x1 convolutions, MatMul, Concat + Slice,
/// pooling. Values stay small (Tanh/Sigmoid/Softmax keep them bounded).
ir::Graph randomGraph(std::mt19937 &rng, std::vector<ir::Tensor> &inputs) {
  const int64_t channels[] = {5, 12, 24, 32};
  const int64_t C = channels[rng() % 4], H = 3 + static_cast<int64_t>(rng() % 4), W = 3 + static_cast<int64_t>(rng() % 5);
  const ir::Shape shape{2, C, H, W};
  auto b = test::makeBuilder();
  std::vector<ValueId> pool{b.input("x", ir::DType::Float32, shape), b.input("y", ir::DType::Float32, shape)};
  inputs = {test::randomFloats(shape, rng()), test::randomFloats(shape, rng())};
  auto pick = [&] { return pool[rng() % pool.size()]; };
  auto constant = [&](const ir::Shape &s) { return b.constant("c" + std::to_string(rng()), test::randomFloats(s, rng(), -0.5f, 0.5f)); };
  auto ints = [&](std::vector<int64_t> v) { return b.constant("i" + std::to_string(rng()), ir::Tensor::fromVector<int64_t>({static_cast<int64_t>(v.size())}, v)); };
  const int steps = 6 + static_cast<int>(rng() % 7);
  for (int step = 0; step < steps; ++step) {
    ValueId v = pick();
    switch (rng() % 10) {
      case 0: v = b.op(rng() % 2 ? "Tanh" : "Sigmoid", {v}); break;
      case 1: v = b.op(rng() % 2 ? "Relu" : "Neg", {v}); break;
      case 2: v = b.op(rng() % 2 ? "Add" : "Mul", {v, pick()}); break;
      case 3: v = b.op(rng() % 2 ? "Add" : "Sub", {v, constant(rng() % 2 ? ir::Shape{C, 1, 1} : ir::Shape{W})}); break;
      case 4: {
        std::vector<int64_t> perm{0, 1, 2, 3}, inverse(4);
        std::shuffle(perm.begin() + 1, perm.end(), rng);
        for (size_t i = 0; i < 4; ++i) inverse[static_cast<size_t>(perm[i])] = static_cast<int64_t>(i);
        v = b.op("Transpose", {b.op("Tanh", {b.op("Transpose", {v}, {{"perm", perm}})})}, {{"perm", inverse}});
        break;
      }
      case 5: v = b.op("Softmax", {v}, {{"axis", static_cast<int64_t>(1 + rng() % 3)}}); break;
      case 6: v = b.op("Sub", {v, b.op("ReduceMean", {v}, {{"axes", std::vector<int64_t>{2, 3}}})}); break;
      case 7: v = b.op("Tanh", {b.op("Conv", {v, constant({C, C, 1, 1})})}); break;
      case 8: v = b.op("Tanh", {b.op("MatMul", {v, constant({W, W})})}); break;
      case 9:
        if (rng() % 2) {
          ValueId cat = b.op("Concat", {v, pick()}, {{"axis", int64_t{1}}});
          v = b.op("Slice", {cat, ints({C / 2}), ints({C / 2 + C}), ints({1})});
        } else {
          v = b.op("MaxPool", {v}, {{"kernel_shape", std::vector<int64_t>{3, 3}},
                                    {"pads", std::vector<int64_t>{1, 1, 1, 1}}});
        }
        break;
    }
    pool.push_back(v);
  }
  b.output(pool.back());
  b.output(pool[pool.size() / 2]);
  auto built = std::move(b).build();
  INFO((built.hasValue() ? std::string() : built.message()));
  REQUIRE(built.hasValue());
  return std::move(built).value();
}

}  // namespace

TEST_CASE("Random layouts on random graphs match the interpreter at 1 and 2 threads", "[llvm][layouts]") {
  int relayouts = 0, native = 0;
  for (uint32_t seed = 1; seed <= 12; ++seed)
    for (test::LayoutMix mix : {test::LayoutMix::Permuted, test::LayoutMix::Blocked}) {
      INFO("seed " << seed << (mix == test::LayoutMix::Blocked ? " blocked" : " permuted"));
      std::mt19937 rng(seed);
      std::vector<ir::Tensor> inputs;
      const ir::Graph reference = randomGraph(rng, inputs);
      ir::Graph graph = reference.clone();
      native += test::assignRandomLayouts(graph, rng, mix);
      auto inserted = test::legalizeForCodegen(graph);
      INFO((inserted.hasValue() ? std::string() : inserted.message()));
      REQUIRE(inserted.hasValue());
      relayouts += *inserted;
      Status verified = ir::verify(graph);
      INFO((verified.isOk() ? std::string() : verified.message()));
      REQUIRE(verified.isOk());
      requireMatchesInterpreter(graph, reference, inputs, 1);
      requireMatchesInterpreter(graph, reference, inputs, 2);
    }
  // The property is only worth something if many values kept their random layouts.
  CHECK(native > 100);
  CHECK(relayouts > 0);
}
