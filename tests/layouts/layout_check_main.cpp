// fluidml_layout_check MODEL.onnx [--mix permuted|blocked] [--seeds N] [--threads LIST] [--pipeline FILE]
//
// The layout property check on a real model: import, run the pipeline (fluidml.json by default), give the
// intermediate values random layouts (seeds 1..N), insert fluidml.Relayout wherever a kernel declares it cannot
// read them, compile with the LLVM JIT at each thread count and compare with the reference interpreter run on
// the graph as imported (|a - e| <= 1e-4 |e| + 1e-5 max(1, max |e|), the tolerance of `fluidml run --check`).
// Prints one line per seed and a closing "N passed, N failed" line; exits 1 on any mismatch or error.
#include <cstdio>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "core/analysis/memory_plan.h"
#include "core/codegen/compiler.h"
#include "core/interp/interpreter.h"
#include "core/ir/verifier.h"
#include "core/onnx/onnx_import.h"
#include "core/pass/pipeline.h"
#include "passes/passes.h"
#include "tests/layouts/random_layouts.h"
#include "core/interp/random_inputs.h"

using namespace fluidml;

namespace {

struct Options {
  std::string model;
  std::string pipeline = std::string(FLUIDML_SOURCE_DIR) + "/pipelines/fluidml.json";
  test::LayoutMix mix = test::LayoutMix::Blocked;
  int seeds = 3;
  std::vector<int> threads{1, 2};
};

Status checkSeed(const ir::Graph &optimized, const std::vector<ir::Tensor> &inputs,
                 const std::vector<ir::Tensor> &expected, const Options &options, int seed, std::string &summary) {
  ir::Graph graph = optimized.clone();
  std::mt19937 rng(static_cast<uint32_t>(seed));
  const int assigned = test::assignRandomLayouts(graph, rng, options.mix);
  FLUIDML_ASSIGN_OR_RETURN(const int relayouts, test::legalizeForCodegen(graph));
  FLUIDML_RETURN_IF_ERROR(ir::verify(graph));
  FLUIDML_ASSIGN_OR_RETURN(analysis::MemoryPlan plan, analysis::planMemory(graph, {}));
  for (int threads : options.threads) {
    codegen::CompileOptions compileOptions;
    compileOptions.threads = threads;
    FLUIDML_ASSIGN_OR_RETURN(auto model, codegen::compileJit(graph, plan, compileOptions));
    std::vector<ir::Tensor> outputs;
    for (const ir::TensorType &type : model->outputTypes()) outputs.push_back(ir::Tensor::zeros(type.dtype, type.shape));
    FLUIDML_RETURN_IF_ERROR(model->run(inputs, outputs));
    for (size_t i = 0; i < outputs.size(); ++i) {
      const std::string mismatch = test::compareWithReference(outputs[i], expected[i]);
      if (!mismatch.empty())
        return Status::error(std::to_string(threads) + " thread(s), output " + std::to_string(i) + ": " + mismatch);
    }
  }
  std::ostringstream line;
  line << assigned << " values given layouts, " << relayouts << " Relayouts inserted, arena " << plan.arenaBytes
       << " B";
  summary = line.str();
  return Status::ok();
}

}  // namespace

int main(int argc, char **argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (arg == "--mix") {
      auto mix = test::parseLayoutMix(next());
      if (!mix) {
        std::fprintf(stderr, "fluidml_layout_check: %s\n", mix.message().c_str());
        return 2;
      }
      options.mix = *mix;
    } else if (arg == "--seeds") {
      options.seeds = std::atoi(next().c_str());
    } else if (arg == "--pipeline") {
      options.pipeline = next();
    } else if (arg == "--threads") {
      options.threads.clear();
      std::stringstream list(next());
      for (std::string item; std::getline(list, item, ',');) options.threads.push_back(std::atoi(item.c_str()));
    } else if (options.model.empty() && !arg.empty() && arg[0] != '-') {
      options.model = arg;
    } else {
      std::fprintf(stderr, "usage: fluidml_layout_check MODEL.onnx [--mix permuted|blocked] [--seeds N] "
                           "[--threads 1,2] [--pipeline FILE]\n");
      return 2;
    }
  }
  if (options.model.empty() || options.seeds < 1 || options.threads.empty()) {
    std::fprintf(stderr, "fluidml_layout_check: needs a MODEL.onnx, --seeds >= 1 and thread counts\n");
    return 2;
  }
  auto imported = onnxio::importModelFile(options.model, {});
  if (!imported) {
    std::fprintf(stderr, "fluidml_layout_check: %s\n", imported.message().c_str());
    return 2;
  }
  const std::vector<ir::Tensor> inputs = interp::makeRandomInputs(*imported, 1);
  auto expected = interp::Interpreter(*imported).run(inputs);
  auto spec = pass::readPipelineFile(options.pipeline);
  if (!expected || !spec) {
    std::fprintf(stderr, "fluidml_layout_check: %s\n", (!expected ? expected.message() : spec.message()).c_str());
    return 1;
  }
  ir::Graph optimized = imported->clone();
  auto manager = pass::PassManager::fromSpec(*spec, passes::standardPassRegistry());
  pass::PassContext context;
  context.layoutAcceptance = codegen::checkNodeLayouts;
  Status ran = manager ? manager->run(optimized, context) : manager.status();
  if (!ran.isOk()) {
    std::fprintf(stderr, "fluidml_layout_check: %s\n", ran.message().c_str());
    return 1;
  }
  int passed = 0, failed = 0;
  for (int seed = 1; seed <= options.seeds; ++seed) {
    std::string summary;
    Status status = checkSeed(optimized, inputs, *expected, options, seed, summary);
    std::printf("seed %d: %s\n", seed, status.isOk() ? summary.c_str() : ("FAIL " + status.message()).c_str());
    ++(status.isOk() ? passed : failed);
  }
  std::printf("%d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
