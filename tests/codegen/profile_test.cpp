// Per-node profiling of JIT-compiled models (CompileOptions::profile): every node that runs code has a slot with
// a positive time and one call per run, the sum stays within the wall time of the runs, the results match the
// unprofiled model, and without the option no profiling code exists. No timing thresholds beyond that.
#include <catch2/catch.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "core/analysis/memory_plan.h"
#include "core/codegen/compiler.h"
#include "tests/codegen/codegen_test_util.h"
#include "tests/test_util.h"

using namespace fluidml;
using ir::DType;
using ir::Tensor;
using ir::ValueId;

namespace {

/// Conv + Relu, a Reshape that is a view, a MatMul, an Add, and a Reshape of a graph input (a copy).
ir::Graph profiledGraph() {
  ir::GraphBuilder b = test::makeBuilder();
  ValueId x = b.input("x", DType::Float32, {1, 4, 10, 10});
  ValueId w = b.constant("w", test::randomFloats({8, 4, 3, 3}, 1));
  ValueId c = b.op("Conv", {x, w}, {{"pads", std::vector<int64_t>{1, 1, 1, 1}}});
  ValueId r = b.op("Relu", {c});
  ValueId flat = b.op("Reshape", {r, b.constant("s", Tensor::fromVector<int64_t>({2}, {8, 100}))});
  ValueId m = b.op("MatMul", {flat, b.constant("m", test::randomFloats({100, 16}, 2))});
  ValueId y = b.op("Add", {m, b.constant("bias", test::randomFloats({16}, 3))});
  b.output(y);
  ValueId copied = b.op("Reshape", {x, b.constant("s2", Tensor::fromVector<int64_t>({2}, {4, 100}))});
  b.output(copied);
  auto graph = std::move(b).build();
  REQUIRE(graph.hasValue());
  return std::move(graph).value();
}

}  // namespace

TEST_CASE("Profiled JIT model: every node timed, totals within the wall time", "[llvm][profile]") {
  const ir::Graph graph = profiledGraph();
  auto plan = analysis::planMemory(graph, {});
  REQUIRE(plan.hasValue());
  const int threads = GENERATE(1, 2);
  codegen::CompileOptions options;
  options.threads = threads;
  options.profile = true;
  auto compiled = codegen::compileJit(graph, *plan, options);
  REQUIRE(compiled.hasValue());
  codegen::CompiledModel &model = **compiled;
  const std::vector<Tensor> inputs{test::randomFloats({1, 4, 10, 10}, 7)};

  const std::vector<Tensor> first = test::runModel(model, inputs);  // warm-up, then reset
  model.resetProfile();
  for (const codegen::NodeProfile &node : model.profile()) REQUIRE(node.calls == 0);
  constexpr int kRuns = 5;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < kRuns; ++i) test::runModel(model, inputs);
  const double wallNs = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start).count();

  const std::vector<codegen::NodeProfile> profile = model.profile();
  std::set<std::string> names;
  int64_t total = 0;
  for (const codegen::NodeProfile &node : profile) {
    INFO(node.name << " (" << node.opType << ")");
    REQUIRE(node.calls == kRuns);
    REQUIRE(node.nanoseconds > 0);
    total += node.nanoseconds;
    names.insert(node.name);
  }
  REQUIRE(total > 0);
  REQUIRE(static_cast<double>(total) <= wallNs);
  // Every node runs code but the Reshape view of the conv's output.
  for (ir::NodeId id : graph.order()) {
    const ir::Node &node = graph.node(id);
    const bool view = plan->storage[static_cast<size_t>(node.outputs[0])].kind == analysis::StorageKind::View;
    INFO(node.name);
    REQUIRE(names.count(node.name) == (view ? 0u : 1u));
  }
  bool sawCopy = false, sawConv = false;
  for (const codegen::NodeProfile &node : profile) {
    sawCopy |= node.strategy == "copy";
    if (node.opType == "Conv") {
      sawConv = true;
      REQUIRE(node.strategy == model.kernelStrategies().at(node.name));
      REQUIRE(node.layouts == "row-major->row-major");
    }
  }
  REQUIRE(sawCopy);
  REQUIRE(sawConv);

  // The same results as without profiling.
  auto plain = test::compileGraph(graph, *plan, threads);
  const std::vector<Tensor> expected = test::runModel(*plain, inputs);
  for (size_t k = 0; k < expected.size(); ++k) REQUIRE(expected[k].identicalTo(first[k]));
  REQUIRE(plain->profile().empty());
}

TEST_CASE("Unprofiled JIT model: no profiling code emitted", "[llvm][profile]") {
  const ir::Graph graph = profiledGraph();
  auto plan = analysis::planMemory(graph, {});
  REQUIRE(plan.hasValue());
  const std::filesystem::path dir = std::filesystem::temp_directory_path() / "fluidml_profile_test";
  std::filesystem::create_directories(dir);
  auto irOf = [&](bool profile) {
    codegen::CompileOptions options;
    options.profile = profile;
    options.dumpIrPath = (dir / (profile ? "on.ll" : "off.ll")).string();
    auto compiled = codegen::compileJit(graph, *plan, options);
    REQUIRE(compiled.hasValue());
    std::ifstream in(options.dumpIrPath);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  };
  REQUIRE(irOf(false).find("fluidml_profile") == std::string::npos);
  REQUIRE(irOf(true).find("fluidml_profile_record") != std::string::npos);
  std::filesystem::remove_all(dir);
}
