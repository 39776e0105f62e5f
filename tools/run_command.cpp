// `fluidml run MODEL [--inputs DIR] [--outputs DIR]`: compiles the model with the pipeline (--pipeline) and
// executes it as machine code (LLVM JIT, --threads N) from the pipeline's memory plan, or with --interpret in
// the reference interpreter from the same plan; inputs in ONNX test-data layout (input_K.pb) or deterministic
// random inputs; prints a summary of each output and optionally writes them as output_K.pb. --check compares
// the outputs (compiled, or interpreted with --interpret) with the interpreter run on the graph as imported,
// before any pass, so that a miscompiling pass is caught too (|a - e| <= 1e-4 |e| + 1e-5 max(1, max |e|));
// --check-plan runs the interpreter on the pipeline's graph with and without the plan and requires
// bit-identical outputs (the proof that the plan is valid).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <optional>

#include "core/codegen/jit_cache.h"
#include "core/interp/interpreter.h"
#include "core/interp/random_inputs.h"
#include "core/onnx/tensor_proto.h"
#include "tools/commands.h"
#include "tools/compile_pipeline.h"

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
  if (!graph) return reportError(graph.status());

  std::vector<ir::Tensor> inputs;
  if (options.inputsDir) {
    auto files = readNumberedTensors(*options.inputsDir, "input_");
    if (!files) return reportError(files.status());
    auto matched = matchInputs(*graph, std::move(files).value(), *options.inputsDir);
    if (!matched) return reportError(matched.status());
    inputs = std::move(matched).value();
  } else {
    inputs = interp::makeRandomInputs(*graph, options.seed);
  }
  Status inputsOk = interp::checkInputs(*graph, inputs);
  if (!inputsOk.isOk()) return reportError(inputsOk.withContext(options.positional[0]));

  auto spec = resolvePipeline(options.pipeline);
  if (!spec) return reportError(spec.status());
  // --check's reference: the passes must not change what the model computes.
  std::optional<ir::Graph> imported;
  if (options.check) imported = graph->clone();
  auto compiled = runPipeline(*graph, *spec, options);
  if (!compiled) return reportError(compiled.status().withContext(options.positional[0]));
  const analysis::MemoryPlan *plan = passes::memoryPlan(compiled->context.analyses);

  std::vector<ir::Tensor> outputs;
  double ms = 0;
  if (options.interpret) {
    interp::Interpreter interpreter(*graph, plan);
    auto start = std::chrono::steady_clock::now();
    auto interpreted = interpreter.run(inputs);
    ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    if (!interpreted) return reportError(interpreted.status().withContext(options.positional[0]));
    outputs = std::move(interpreted).value();
    std::printf("ran %s with the reference interpreter in %.1f ms (%s inputs, pipeline '%s')\n",
                options.positional[0].c_str(), ms, options.inputsDir ? options.inputsDir->c_str() : "random",
                spec->name.c_str());
  } else {
    std::optional<analysis::MemoryPlan> defaultPlan;
    if (plan == nullptr) {  // a pipeline without memory-plan: the default planner
      auto planned = analysis::planMemory(*graph, analysis::MemoryPlanOptions{});
      if (!planned) return reportError(planned.status().withContext(options.positional[0]));
      defaultPlan = std::move(planned).value();
      plan = &*defaultPlan;
    }
    auto model = codegen::compileJit(*graph, *plan, compileOptionsFrom(options));
    if (!model) return reportError(model.status().withContext(options.positional[0]));
    for (const ir::TensorType &type : (*model)->outputTypes()) outputs.push_back(ir::Tensor::zeros(type.dtype, type.shape));
    auto start = std::chrono::steady_clock::now();
    Status ran = (*model)->run(inputs, outputs);
    ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    if (!ran.isOk()) return reportError(ran.withContext(options.positional[0]));
    std::printf("ran %s compiled in %.3f ms (compile %.1f ms%s, %d thread%s, %s inputs, pipeline '%s')\n",
                options.positional[0].c_str(), ms, (*model)->compileMilliseconds(),
                codegen::lastJitCompileWasCached() ? " from the JIT cache" : "", options.threads,
                options.threads == 1 ? "" : "s", options.inputsDir ? options.inputsDir->c_str() : "random",
                spec->name.c_str());
  }
  if (plan != nullptr)
    std::printf("memory plan: %s, arena %zu bytes (lower bound %zu, efficiency %.2f%%), %d in place, %d views\n",
                plan->planner.c_str(), plan->arenaBytes, plan->lowerBoundBytes, 100.0 * plan->efficiency(),
                plan->inPlaceReuses, plan->viewReuses);
  if (options.check) {
    auto reference = interp::Interpreter(*imported).run(inputs);
    if (!reference) return reportError(reference.status().withContext(options.positional[0]));
    if (reference->size() != outputs.size()) {
      std::fprintf(stderr, "fluidml: internal error: the pipeline's graph has %zu outputs, the imported one %zu\n",
                   outputs.size(), reference->size());
      return kExitInternalError;
    }
    constexpr double kRtol = 1e-4, kAtol = 1e-5;
    bool pass = true;
    for (size_t i = 0; i < outputs.size(); ++i) {
      const ir::Tensor &expected = (*reference)[i];
      const ir::Tensor &actual = outputs[i];
      double maxDiff = 0, scale = 1;
      int64_t bad = 0;
      for (int64_t k = 0; k < expected.numel(); ++k)
        if (const double e = std::abs(expected.elementAsDouble(k)); std::isfinite(e)) scale = std::max(scale, e);
      // The absolute part scales with the output's largest magnitude: float32 rounding of a long sum grows with
      // the values summed, and an element near zero of a large output (logits ~100) carries that rounding too.
      const double atol = kAtol * scale;
      for (int64_t k = 0; k < expected.numel(); ++k) {
        const double e = expected.elementAsDouble(k), a = actual.elementAsDouble(k);
        if (std::isnan(e) && std::isnan(a)) continue;
        if (e == a) continue;  // equal infinities
        const double diff = std::abs(e - a);
        maxDiff = std::isnan(diff) ? INFINITY : std::max(maxDiff, diff);
        if (!(diff <= atol + kRtol * std::abs(e))) ++bad;
      }
      std::printf("check: %s max abs diff %.3g%s\n", graph->value(graph->outputs()[i]).name.c_str(), maxDiff,
                  bad == 0 ? "" : ("  (" + std::to_string(bad) + " elements over tolerance)").c_str());
      pass = pass && bad == 0;
    }
    const char *what = options.interpret ? "interpreted" : "compiled";
    if (!pass) {
      std::fprintf(stderr,
                   "fluidml: internal error: %s outputs differ from the interpreter on the imported graph beyond "
                   "rtol %g, atol %g x max(1, max |output|)\n",
                   what, kRtol, kAtol);
      return kExitInternalError;
    }
    std::printf("check: %s outputs match the interpreter on the imported graph (rtol %g, atol %g x max(1, max "
                "|output|))\n",
                what, kRtol, kAtol);
  }
  if (options.checkPlan) {
    auto planned = interp::Interpreter(*graph, plan).run(inputs);
    if (!planned) return reportError(planned.status().withContext(options.positional[0]));
    auto unplanned = interp::Interpreter(*graph).run(inputs);
    if (!unplanned) return reportError(unplanned.status().withContext(options.positional[0]));
    for (size_t i = 0; i < planned->size(); ++i)
      if (!(*planned)[i].identicalTo((*unplanned)[i])) {
        std::fprintf(stderr, "fluidml: internal error: output %zu differs between planned and unplanned execution\n", i);
        return kExitInternalError;
      }
    std::printf("check-plan: planned execution is bit-identical to unplanned execution (%zu outputs)\n",
                planned->size());
  }
  std::printf("outputs:\n");
  for (size_t i = 0; i < outputs.size(); ++i) printSummary(graph->value(graph->outputs()[i]).name, outputs[i]);

  if (options.outputsDir) {
    // Everything is computed before the first byte is written; each file is written atomically.
    std::error_code ec;
    fs::create_directories(*options.outputsDir, ec);
    if (ec) return reportError(Status::error("cannot create '" + *options.outputsDir + "': " + ec.message()));
    for (size_t i = 0; i < outputs.size(); ++i) {
      std::string path = (fs::path(*options.outputsDir) / ("output_" + std::to_string(i) + ".pb")).string();
      Status written = onnxio::writeTensorFile(outputs[i], graph->value(graph->outputs()[i]).name, path);
      if (!written.isOk()) return reportError(written);
    }
    std::printf("wrote %zu outputs to %s\n", outputs.size(), options.outputsDir->c_str());
  }
  return kExitOk;
}

}  // namespace fluidml::cli
