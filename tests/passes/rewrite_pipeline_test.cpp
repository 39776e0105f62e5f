// The rewrite passes together (fold-constants, eliminate-identity, eliminate-dead-code, schedule) on the tiny
// dataset models: the verifier after every pass, and outputs bitwise equal to the imported graph's on the
// model's own test inputs. The models come from the build tree (the ctest fixtures make_dataset_*); a missing one
// fails the test.
#include <filesystem>

#include <catch2/catch.hpp>

#include "core/analysis/scheduling.h"
#include "core/interp/interpreter.h"
#include "core/onnx/onnx_import.h"
#include "core/onnx/tensor_proto.h"
#include "core/pass/pipeline.h"
#include "passes/analyses.h"
#include "passes/passes.h"
#include "tests/test_util.h"

using namespace fluidml;
namespace fs = std::filesystem;

namespace {

constexpr const char *kRewrites = R"({"name": "rewrites", "passes": [
  {"pass": "fold-constants"}, {"pass": "eliminate-identity"}, {"pass": "eliminate-dead-code"},
  {"pass": "schedule"}]})";

std::vector<ir::Tensor> readInputs(const fs::path &dir, size_t count) {
  std::vector<ir::Tensor> inputs;
  for (size_t i = 0; i < count; ++i) {
    auto tensor = onnxio::readTensorFile((dir / ("input_" + std::to_string(i) + ".pb")).string());
    INFO((tensor.hasValue() ? std::string() : tensor.message()));
    REQUIRE(tensor.hasValue());
    inputs.push_back(tensor->tensor);
  }
  return inputs;
}

std::vector<ir::Tensor> run(const ir::Graph &graph, const std::vector<ir::Tensor> &inputs) {
  interp::Interpreter interpreter(graph);
  auto outputs = interpreter.run(inputs);
  INFO((outputs.hasValue() ? std::string() : outputs.message()));
  REQUIRE(outputs.hasValue());
  return std::move(outputs).value();
}

}  // namespace

TEST_CASE("the rewrite passes keep the tiny dataset models' outputs bitwise", "[passes][models]") {
  const std::vector<fs::path> models = test::tinyDatasetDirs();
  auto spec = pass::parsePipeline(kRewrites, "rewrites");
  REQUIRE(spec.hasValue());
  for (const fs::path &dir : models) {
    INFO("model " << dir.filename());
    auto imported = onnxio::importModelFile((dir / "model.onnx").string());
    INFO((imported.hasValue() ? std::string() : imported.message()));
    REQUIRE(imported.hasValue());
    const ir::Graph before = imported->clone();
    ir::Graph graph = std::move(imported).value();

    auto manager = pass::PassManager::fromSpec(*spec, passes::standardPassRegistry());
    REQUIRE(manager.hasValue());
    pass::VerifierInstrumentation verifier;
    manager->addInstrumentation(&verifier);
    pass::PassContext context;
    Status status = manager->run(graph, context);
    INFO((status.isOk() ? std::string() : status.message()));
    REQUIRE(status.isOk());
    CHECK(passes::scheduleName(context.analyses) == "memory-aware");
    CHECK(analysis::planLowerBoundBytes(graph, graph.order()) <= analysis::planLowerBoundBytes(before, before.order()));

    const std::vector<ir::Tensor> inputs = readInputs(dir / "test_data_set_0", before.inputs().size());
    const std::vector<ir::Tensor> expected = run(before, inputs);
    const std::vector<ir::Tensor> actual = run(graph, inputs);
    REQUIRE(actual.size() == expected.size());
    for (size_t i = 0; i < expected.size(); ++i) CHECK(actual[i].identicalTo(expected[i]));
  }
}
