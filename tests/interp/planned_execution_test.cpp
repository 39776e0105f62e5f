// Planned execution: the interpreter running a memory plan (one arena, views, in-place kernels) must give
// bit-identical outputs to the plain interpreter, for every planner and aliasing option, on random DAGs of
// Relu/Add/Mul/Reshape/MatMul/Concat/... with skip connections, and on small hand-built cases.
#include <catch2/catch.hpp>

#include <random>

#include "core/analysis/memory_plan.h"
#include "core/interp/interpreter.h"
#include "core/ir/verifier.h"
#include "tests/test_util.h"

using namespace fluidml;
using namespace fluidml::analysis;
using ir::DType;
using ir::Shape;
using ir::Tensor;
using ir::ValueId;

namespace {

ir::Tensor int64s(std::vector<int64_t> values) {
  return Tensor::fromVector<int64_t>({static_cast<int64_t>(values.size())}, values);
}

struct RandomModel {
  ir::Graph graph;
  std::vector<Tensor> inputs;
};

/// A random DAG over values of shape [rows, cols]: elementwise ops, MatMul with weights, Concat + MatMul,
/// Reshape round trips, variadic Sum, Identity, Dropout, reading random earlier values (skip connections).
/// Some intermediates become extra graph outputs while later nodes still read them.
RandomModel randomModel(uint32_t seed) {
  std::mt19937 rng(seed);
  auto pick = [&](size_t n) { return static_cast<size_t>(rng() % n); };
  const int64_t rows = 1 + static_cast<int64_t>(pick(4)), cols = 2 * (1 + static_cast<int64_t>(pick(4)));
  ir::GraphBuilder b = test::makeBuilder();
  RandomModel model;
  std::vector<ValueId> pool;
  for (int i = 0; i < 1 + static_cast<int>(pick(2)); ++i) {
    pool.push_back(b.input("x" + std::to_string(i), DType::Float32, {rows, cols}));
    model.inputs.push_back(test::randomFloats({rows, cols}, seed * 7 + static_cast<uint32_t>(i)));
  }
  // Recent values are likelier operands, so chains form and older values die.
  auto operand = [&]() { return pool[pool.size() - 1 - std::min(pool.size() - 1, pick(3) == 0 ? pick(pool.size()) : pick(2))]; };
  std::vector<ValueId> extraOutputs;
  const int nodes = 4 + static_cast<int>(pick(14));
  for (int n = 0; n < nodes; ++n) {
    ValueId v = ir::kNoValue;
    switch (pick(11)) {
      case 0: v = b.op("Relu", {operand()}); break;
      case 1: v = b.op("Add", {operand(), operand()}); break;
      case 2: v = b.op("Mul", {operand(), operand()}); break;
      case 3: v = b.op("Tanh", {operand()}); break;
      case 4: {
        ValueId w = b.constant("w" + std::to_string(n), test::randomFloats({cols, cols}, seed * 13 + n));
        v = b.op("MatMul", {operand(), w});
        break;
      }
      case 5: {
        ValueId cat = b.op("Concat", {operand(), operand()}, {{"axis", int64_t{1}}});
        ValueId w = b.constant("w" + std::to_string(n), test::randomFloats({2 * cols, cols}, seed * 17 + n));
        v = b.op("MatMul", {cat, w});
        break;
      }
      case 6: {
        ValueId flat = b.op("Reshape", {operand(), b.constant("s" + std::to_string(n), int64s({rows * cols}))});
        ValueId act = pick(2) == 0 ? b.op("Sigmoid", {flat}) : flat;
        v = b.op("Reshape", {act, b.constant("t" + std::to_string(n), int64s({rows, cols}))});
        break;
      }
      case 7: v = b.op("Sum", {operand(), operand(), operand()}); break;
      case 8: v = b.op("Identity", {operand()}); break;
      case 9: v = b.op("Dropout", {operand()}); break;
      default: {
        ValueId u = b.op("Unsqueeze", {operand(), b.constant("a" + std::to_string(n), int64s({0}))});
        v = b.op("Squeeze", {b.op("Neg", {u}), b.constant("q" + std::to_string(n), int64s({0}))});
        break;
      }
    }
    pool.push_back(v);
    if (pick(6) == 0) extraOutputs.push_back(v);
  }
  b.output(pool.back());
  for (ValueId v : extraOutputs)
    if (v != pool.back()) b.output(v);
  auto graph = std::move(b).build();
  INFO((graph.hasValue() ? std::string() : graph.message()));
  REQUIRE(graph.hasValue());
  model.graph = std::move(graph).value();
  return model;
}

/// Plans, checks and runs `graph` planned; REQUIREs that every output is bit-identical to `reference`.
MemoryPlan runPlannedAndCompare(const ir::Graph &graph, const std::vector<Tensor> &inputs,
                                const std::vector<Tensor> &reference, const MemoryPlanOptions &options) {
  auto plan = planMemory(graph, options);
  INFO((plan.hasValue() ? std::string() : plan.message()));
  REQUIRE(plan.hasValue());
  Status checked = checkMemoryPlan(graph, *plan);
  INFO((checked.isOk() ? std::string() : checked.message()));
  REQUIRE(checked.isOk());
  interp::Interpreter interpreter(graph, &*plan);
  for (int run = 0; run < 2; ++run) {  // a second run starts from a fresh arena and must not depend on the first
    auto outputs = interpreter.run(inputs);
    INFO((outputs.hasValue() ? std::string() : outputs.message()));
    REQUIRE(outputs.hasValue());
    REQUIRE(outputs->size() == reference.size());
    for (size_t i = 0; i < reference.size(); ++i) {
      INFO("output " << i << ", planner " << options.planner << ", in-place " << options.inPlace << ", views "
                     << options.views);
      CHECK((*outputs)[i].identicalTo(reference[i]));
    }
  }
  return std::move(plan).value();
}

}  // namespace

TEST_CASE("Planned execution of random DAGs is bit-identical to the plain interpreter", "[interp][memory]") {
  int inPlace = 0, views = 0, models = 0;
  size_t arena = 0, naive = 0, bound = 0;
  for (uint32_t seed = 1; seed <= 120; ++seed) {
    INFO("seed " << seed);
    RandomModel model = randomModel(seed);
    const std::vector<Tensor> reference = test::runGraph(model.graph, model.inputs);
    for (const char *planner : {"naive", "greedy-size", "best-of"})
      for (bool useInPlace : {true, false})
        for (bool useViews : {true, false}) {
          MemoryPlanOptions options;
          options.planner = planner;
          options.inPlace = useInPlace;
          options.views = useViews;
          options.alignment = seed % 2 == 0 ? 64 : 16;
          MemoryPlan plan = runPlannedAndCompare(model.graph, model.inputs, reference, options);
          // naiveBytes is by definition the naive planner's arena without aliasing.
          if (std::string(planner) == "naive" && !useInPlace && !useViews) CHECK(plan.arenaBytes == plan.naiveBytes);
          CHECK(plan.arenaBytes <= plan.naiveBytes);
          if (std::string(planner) == "best-of" && useInPlace && useViews) {
            inPlace += plan.inPlaceReuses;
            views += plan.viewReuses;
            arena += plan.arenaBytes;
            naive += plan.naiveBytes;
            bound += plan.lowerBoundBytes;
            ++models;
          }
        }
  }
  WARN(models << " random models: " << inPlace << " in-place values, " << views << " views; best-of arena "
              << arena << " B, lower bound " << bound << " B, naive " << naive << " B");
  // The generator must exercise both kinds of aliasing, or this test proves little.
  CHECK(inPlace > 50);
  CHECK(views > 50);
  CHECK(arena < naive / 2);
}

TEST_CASE("Planned execution: in-place Relu chain, views and casts", "[interp][memory]") {
  ir::GraphBuilder b = test::makeBuilder();
  ValueId x = b.input("x", DType::Float32, {3, 5});
  ValueId r = b.op("Relu", {b.op("Relu", {b.op("Neg", {x})})});
  ValueId flat = b.op("Flatten", {r}, {{"axis", int64_t{0}}});
  ValueId asInt = b.op("Cast", {b.op("Exp", {flat})}, {{"to", int64_t{6}}});  // in place, float32 -> int32
  ValueId back = b.op("Cast", {asInt}, {{"to", int64_t{1}}});               // and back
  ValueId viewOfInput = b.op("Reshape", {x, b.constant("shape", int64s({1, 15}))});
  ValueId y = b.op("Add", {back, b.op("Dropout", {viewOfInput})});
  b.output(y);
  b.output(r);  // read later by the Flatten and also a graph output
  auto built = std::move(b).build();
  REQUIRE(built.hasValue());
  const ir::Graph &g = *built;
  const std::vector<Tensor> inputs = {test::randomFloats({3, 5}, 5, -3.0f, 3.0f)};
  const std::vector<Tensor> reference = test::runGraph(g, inputs);
  MemoryPlan plan = runPlannedAndCompare(g, inputs, reference, MemoryPlanOptions{});
  CHECK(plan.storage[static_cast<size_t>(r)].kind == StorageKind::External);
  CHECK(plan.storage[static_cast<size_t>(flat)].kind == StorageKind::View);
  CHECK(plan.storage[static_cast<size_t>(flat)].buffer == -1);  // a view of a graph output
  CHECK(plan.storage[static_cast<size_t>(asInt)].kind == StorageKind::InPlace);
  CHECK(plan.storage[static_cast<size_t>(back)].kind == StorageKind::InPlace);
  CHECK(plan.storage[static_cast<size_t>(viewOfInput)].kind == StorageKind::View);
  // The input must come back untouched from a run that viewed it.
  CHECK(inputs[0].identicalTo(test::randomFloats({3, 5}, 5, -3.0f, 3.0f)));
}

TEST_CASE("Planned execution keeps the operand order of variadic ops", "[interp][memory]") {
  // Sum(a, b, c) over floats is (a + b) + c; writing it over c would compute (c + a) + b.
  ir::GraphBuilder b = test::makeBuilder();
  ValueId x = b.input("x", DType::Float32, {64});
  ValueId a = b.op("Exp", {x});
  ValueId c = b.op("Neg", {b.op("Exp", {b.op("Neg", {x})})});
  ValueId s = b.op("Sum", {x, b.op("Sin", {x}), c});
  ValueId t = b.op("Sum", {a, x, a});
  b.output(b.op("Add", {s, t}));
  auto built = std::move(b).build();
  REQUIRE(built.hasValue());
  const std::vector<Tensor> inputs = {test::randomFloats({64}, 11, -20.0f, 20.0f)};
  const std::vector<Tensor> reference = test::runGraph(*built, inputs);
  MemoryPlan plan = runPlannedAndCompare(*built, inputs, reference, MemoryPlanOptions{});
  CHECK(plan.storage[static_cast<size_t>(s)].kind == StorageKind::Arena);  // operand 0 is an input
  CHECK(plan.storage[static_cast<size_t>(t)].kind == StorageKind::Arena);  // a is read twice by the Sum
}

TEST_CASE("Planned execution skips a Dropout whose mask nobody reads", "[interp][memory]") {
  ir::GraphBuilder b = test::makeBuilder();
  ValueId x = b.input("x", DType::Float32, {2, 6});
  ValueId a = b.op("Tanh", {x});
  auto dropped = b.opMulti("Dropout", {a}, 2);  // the mask exists but is never read
  auto training = b.opMulti("Dropout", {a, b.constant("ratio", Tensor::scalar<float>(0.25f)),
                                        b.input("training", DType::Bool, {})},
                            1);  // training mode only known at run time: the kernel must run
  b.output(b.op("Add", {b.op("Relu", {dropped[0]}), training[0]}));
  auto built = std::move(b).build();
  REQUIRE(built.hasValue());
  const std::vector<Tensor> inputs = {test::randomFloats({2, 6}, 9), Tensor::scalar<bool>(false)};
  const std::vector<Tensor> reference = test::runGraph(*built, inputs);
  MemoryPlan plan = runPlannedAndCompare(*built, inputs, reference, MemoryPlanOptions{});
  CHECK(plan.storage[static_cast<size_t>(dropped[0])].kind == StorageKind::View);
  CHECK(plan.storage[static_cast<size_t>(dropped[1])].kind == StorageKind::None);
  CHECK(plan.storage[static_cast<size_t>(training[0])].kind == StorageKind::Arena);
  // In training mode the planned run fails like the plain one instead of silently copying.
  interp::Interpreter planned(*built, &plan);
  auto failed = planned.run({inputs[0], Tensor::scalar<bool>(true)});
  REQUIRE_FALSE(failed.hasValue());
  CHECK_THAT(failed.message(), Catch::Contains("training mode"));
}

TEST_CASE("Planned execution runs zero-sized tensors and empty arenas", "[interp][memory]") {
  ir::GraphBuilder b = test::makeBuilder();
  ValueId x = b.input("x", DType::Float32, {0, 4});
  ValueId y = b.op("Relu", {b.op("Relu", {x})});
  b.output(y);
  ValueId z = b.input("z", DType::Float32, {2});
  b.output(b.op("Neg", {z}));
  auto built = std::move(b).build();
  REQUIRE(built.hasValue());
  const std::vector<Tensor> inputs = {Tensor::zeros(DType::Float32, {0, 4}), test::randomFloats({2}, 3)};
  const std::vector<Tensor> reference = test::runGraph(*built, inputs);
  MemoryPlan plan = runPlannedAndCompare(*built, inputs, reference, MemoryPlanOptions{});
  CHECK(plan.arenaBytes == 0);
}
