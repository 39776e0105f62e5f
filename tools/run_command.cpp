// `fluidml run MODEL [--inputs DIR] [--outputs DIR]`: compiles the model with the pipeline (--pipeline) and
// executes it with the reference interpreter from the pipeline's memory plan (one arena), on inputs in ONNX
// test-data layout (input_K.pb) or on deterministic random inputs; prints a summary of each output and
// optionally writes them as output_K.pb. --check-plan also runs without the plan and requires bit-identical
// outputs (the proof that the plan is valid).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>

#include "core/interp/interpreter.h"
#include "core/onnx/tensor_proto.h"
#include "tools/commands.h"
#include "tools/compile_pipeline.h"
#include "tools/random_inputs.h"

namespace fs = std::filesystem;

namespace fluidml::cli {

namespace {

/// input_0.pb, input_1.pb, ... in numeric order.
Expected<std::vector<onnxio::NamedTensor>> readNumberedTensors(const std::string &dir, const std::string &prefix) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return Status::error("'" + dir + "' is not a directory");
  std::vector<onnxio::NamedTensor> tensors;
  for (size_t k = 0;; ++k) {
    fs::path path = fs::path(dir) / (prefix + std::to_string(k) + ".pb");
    if (!fs::exists(path, ec)) break;
    auto tensor = onnxio::readTensorFile(path.string());
    if (!tensor) return tensor.status();
    tensors.push_back(std::move(tensor).value());
  }
  if (tensors.empty()) return Status::error("'" + dir + "' holds no " + prefix + "0.pb");
  return tensors;
}

/// Orders the files' tensors as the graph's inputs: by name when every name matches, else by position.
Expected<std::vector<ir::Tensor>> matchInputs(const ir::Graph &graph, std::vector<onnxio::NamedTensor> files,
                                              const std::string &dir) {
  const auto &graphInputs = graph.inputs();
  bool byName = std::all_of(files.begin(), files.end(), [&](const onnxio::NamedTensor &f) {
    return graph.findValue(f.name).has_value() &&
           std::count(graphInputs.begin(), graphInputs.end(), *graph.findValue(f.name)) == 1;
  });
  if (files.size() != graphInputs.size())
    return Status::error(dir + ": the model has " + std::to_string(graphInputs.size()) + " inputs, found " +
                         std::to_string(files.size()) + " input files");
  std::vector<ir::Tensor> inputs;
  for (ir::ValueId id : graphInputs) {
    if (!byName) {
      inputs.push_back(files[inputs.size()].tensor);
      continue;
    }
    auto it = std::find_if(files.begin(), files.end(),
                           [&](const onnxio::NamedTensor &f) { return f.name == graph.value(id).name; });
    inputs.push_back(it->tensor);
  }
  return inputs;
}

void printSummary(const std::string &name, const ir::Tensor &t) {
  double minV = INFINITY, maxV = -INFINITY, sum = 0;
  for (int64_t i = 0; i < t.numel(); ++i) {
    double v = t.elementAsDouble(i);
    minV = std::min(minV, v);
    maxV = std::max(maxV, v);
    sum += v;
  }
  std::printf("  %s : %s", name.c_str(), t.type().toString().c_str());
  if (t.numel() > 0)
    std::printf("  min %.6g  max %.6g  mean %.6g", minV, maxV, sum / static_cast<double>(t.numel()));
  std::printf("\n    [");
  for (int64_t i = 0; i < std::min<int64_t>(t.numel(), 8); ++i) std::printf(i ? ", %.6g" : "%.6g", t.elementAsDouble(i));
  std::printf(t.numel() > 8 ? ", ...]\n" : "]\n");
}

}  // namespace

int runCommand(const CliOptions &options) {
  auto graph = loadModel(options);
  if (!graph) return reportUserError(graph.status());

  std::vector<ir::Tensor> inputs;
  if (options.inputsDir) {
    auto files = readNumberedTensors(*options.inputsDir, "input_");
    if (!files) return reportUserError(files.status());
    auto matched = matchInputs(*graph, std::move(files).value(), *options.inputsDir);
    if (!matched) return reportUserError(matched.status());
    inputs = std::move(matched).value();
  } else {
    inputs = makeRandomInputs(*graph, options.seed);
  }
  Status inputsOk = interp::checkInputs(*graph, inputs);
  if (!inputsOk.isOk()) return reportUserError(inputsOk.withContext(options.positional[0]));

  auto spec = resolvePipeline(options.pipeline);
  if (!spec) return reportUserError(spec.status());
  auto compiled = runPipeline(*graph, *spec, options);
  if (!compiled) return reportUserError(compiled.status().withContext(options.positional[0]));
  const analysis::MemoryPlan *plan = compiled->context.memoryPlan ? &*compiled->context.memoryPlan : nullptr;

  interp::Interpreter interpreter(*graph, plan);
  auto start = std::chrono::steady_clock::now();
  auto outputs = interpreter.run(inputs);
  double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  if (!outputs) return reportUserError(outputs.status().withContext(options.positional[0]));

  std::printf("ran %s with the reference interpreter in %.1f ms (%s inputs, pipeline '%s')\n",
              options.positional[0].c_str(), ms, options.inputsDir ? options.inputsDir->c_str() : "random",
              spec->name.c_str());
  if (plan != nullptr)
    std::printf("memory plan: %s, arena %zu bytes (lower bound %zu, efficiency %.2f%%), %d in place, %d views\n",
                plan->planner.c_str(), plan->arenaBytes, plan->lowerBoundBytes, 100.0 * plan->efficiency(),
                plan->inPlaceReuses, plan->viewReuses);
  if (options.checkPlan) {
    auto unplanned = interp::Interpreter(*graph).run(inputs);
    if (!unplanned) return reportUserError(unplanned.status().withContext(options.positional[0]));
    for (size_t i = 0; i < outputs->size(); ++i)
      if (!(*outputs)[i].identicalTo((*unplanned)[i])) {
        std::fprintf(stderr, "fluidml: internal error: output %zu differs between planned and unplanned execution\n", i);
        return 1;
      }
    std::printf("check-plan: planned execution is bit-identical to unplanned execution (%zu outputs)\n",
                outputs->size());
  }
  std::printf("outputs:\n");
  for (size_t i = 0; i < outputs->size(); ++i) printSummary(graph->value(graph->outputs()[i]).name, (*outputs)[i]);

  if (options.outputsDir) {
    // Everything is computed before the first byte is written; each file is written atomically.
    std::error_code ec;
    fs::create_directories(*options.outputsDir, ec);
    if (ec) return reportUserError(Status::error("cannot create '" + *options.outputsDir + "': " + ec.message()));
    for (size_t i = 0; i < outputs->size(); ++i) {
      std::string path = (fs::path(*options.outputsDir) / ("output_" + std::to_string(i) + ".pb")).string();
      Status written = onnxio::writeTensorFile((*outputs)[i], graph->value(graph->outputs()[i]).name, path);
      if (!written.isOk()) return reportUserError(written);
    }
    std::printf("wrote %zu outputs to %s\n", outputs->size(), options.outputsDir->c_str());
  }
  return kExitOk;
}

}  // namespace fluidml::cli
