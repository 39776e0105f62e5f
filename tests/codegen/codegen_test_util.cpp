#include "tests/codegen/codegen_test_util.h"

#include <map>

#include <catch2/catch.hpp>

namespace fluidml::test {

std::unique_ptr<codegen::CompiledModel> compileGraph(const ir::Graph &graph, const analysis::MemoryPlan &plan,
                                                     int threads, const std::string &asmPath) {
  codegen::CompileOptions options;
  options.threads = threads;
  options.dumpAsmPath = asmPath;
  auto compiled = codegen::compileJit(graph, plan, options);
  INFO((compiled.hasValue() ? std::string() : compiled.message()));
  REQUIRE(compiled.hasValue());
  return std::move(compiled).value();
}

std::unique_ptr<codegen::CompiledModel> compileGraph(const ir::Graph &graph, int threads, const std::string &asmPath) {
  auto plan = analysis::planMemory(graph, {});
  REQUIRE(plan.hasValue());
  return compileGraph(graph, *plan, threads, asmPath);
}

std::unique_ptr<codegen::CompiledModel> compileGraphWith(const ir::Graph &graph, const codegen::CompileOptions &options) {
  auto plan = analysis::planMemory(graph, {});
  REQUIRE(plan.hasValue());
  auto compiled = codegen::compileJit(graph, *plan, options);
  INFO((compiled.hasValue() ? std::string() : compiled.message()));
  REQUIRE(compiled.hasValue());
  return std::move(compiled).value();
}

std::vector<ir::Tensor> runModel(codegen::CompiledModel &model, const std::vector<ir::Tensor> &inputs) {
  std::vector<ir::Tensor> outputs;
  for (const ir::TensorType &type : model.outputTypes()) outputs.push_back(ir::Tensor::zeros(type.dtype, type.shape));
  Status status = model.run(inputs, outputs);
  INFO((status.isOk() ? std::string() : status.message()));
  REQUIRE(status.isOk());
  return outputs;
}

std::string onlyKernelStrategy(const codegen::CompiledModel &model) {
  const std::map<std::string, std::string> &strategies = model.kernelStrategies();
  INFO(strategies.size() << " kernels report a strategy");
  REQUIRE(strategies.size() == 1);
  return strategies.begin()->second;
}

}  // namespace fluidml::test
