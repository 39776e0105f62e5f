// `fluidml compile MODEL -o DIR [--mcpu NAME]`: the pipeline, then ahead-of-time compilation into DIR/libmodel.so, model.h,
// weights.bin and model.json (see core/codegen/compiler.h). Also the model preparation shared by run and bench.
#include <chrono>
#include <cstdio>

#include "tools/commands.h"
#include "tools/compile_pipeline.h"

namespace fluidml::cli {

Expected<PreparedModel> prepareModel(const CliOptions &options) {
  FLUIDML_ASSIGN_OR_RETURN(ir::Graph graph, loadModel(options));
  FLUIDML_ASSIGN_OR_RETURN(pass::PipelineSpec spec, resolvePipeline(options.pipeline));
  auto outcome = runPipeline(graph, spec, options);
  if (!outcome) return outcome.status().withContext(options.positional[0]);
  PreparedModel prepared{std::move(graph), {}, spec.name, outcome->totalMilliseconds};
  if (const analysis::MemoryPlan *made = passes::memoryPlan(outcome->context.analyses)) {
    prepared.plan = *made;
  } else {
    auto plan = analysis::planMemory(prepared.graph, analysis::MemoryPlanOptions{});
    if (!plan) return plan.status().withContext(options.positional[0]);
    prepared.plan = std::move(plan).value();
  }
  return prepared;
}

codegen::CompileOptions compileOptionsFrom(const CliOptions &options) {
  codegen::CompileOptions compile;
  compile.threads = options.threads;
  compile.target = options.target;
  if (options.dumpIr) compile.dumpIrPath = *options.dumpIr;
  if (options.dumpAsm) compile.dumpAsmPath = *options.dumpAsm;
  return compile;
}

int compileCommand(const CliOptions &options) {
  if (options.positional.empty()) return reportError(Status::error("compile: missing MODEL"));
  if (!options.outputDir) return reportError(Status::error("compile: missing -o DIR"));
  auto prepared = prepareModel(options);
  if (!prepared) return reportError(prepared.status());
  const auto start = std::chrono::steady_clock::now();
  Status status = codegen::compileAot(prepared->graph, prepared->plan, *options.outputDir, compileOptionsFrom(options));
  if (!status.isOk()) return reportError(status.withContext(options.positional[0]));
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  std::printf("compiled %s (pipeline '%s') into %s in %.1f ms: libmodel.so, model.h, weights.bin, model.json\n",
              options.positional[0].c_str(), prepared->pipelineName.c_str(), options.outputDir->c_str(), ms);
  std::printf("arena %zu bytes (lower bound %zu), %d thread%s by default, target %s (%s)\n",
              prepared->plan.arenaBytes, prepared->plan.lowerBoundBytes, options.threads,
              options.threads == 1 ? "" : "s", options.target.cpu.c_str(), options.target.isa.c_str());
  return kExitOk;
}

}  // namespace fluidml::cli
