#include "tools/compile_pipeline.h"

#include <chrono>
#include <filesystem>

#include "core/codegen/compiler.h"
#include "exporters/trace_json.h"
#include "passes/passes.h"

namespace fs = std::filesystem;

namespace fluidml::cli {

Expected<pass::PipelineSpec> resolvePipeline(const std::string &nameOrPath) {
  std::error_code ec;
  if (fs::is_regular_file(nameOrPath, ec)) return pass::readPipelineFile(nameOrPath);
  fs::path standard = fs::path(FLUIDML_SOURCE_DIR) / "pipelines" / (nameOrPath + ".json");
  if (nameOrPath.find('/') == std::string::npos && fs::is_regular_file(standard, ec))
    return pass::readPipelineFile(standard.string());
  std::string names;
  for (const auto &entry : fs::directory_iterator(fs::path(FLUIDML_SOURCE_DIR) / "pipelines", ec))
    if (entry.path().extension() == ".json") names += (names.empty() ? "" : ", ") + entry.path().stem().string();
  return Status::error("--pipeline: '" + nameOrPath + "' is neither a file nor a standard pipeline (" + names + ")");
}

Expected<CompileOutcome> runPipeline(ir::Graph &graph, const pass::PipelineSpec &spec, const CliOptions &options) {
  auto built = pass::PassManager::fromSpec(spec, passes::standardPassRegistry());
  if (!built) return built.status().withContext("pipeline '" + spec.name + "'");
  pass::PassManager manager = std::move(built).value();
  pass::VerifierInstrumentation verifier;
  pass::TimingInstrumentation timing;
  pass::SnapshotRecorder recorder(&passes::standardAnalysisRegistry());
  manager.addInstrumentation(&verifier);
  manager.addInstrumentation(&timing);
  if (options.trace) manager.addInstrumentation(&recorder);
  manager.setStopAfter(options.stopAfter);

  CompileOutcome outcome;
  // Layout passes ask the kernels the code will be generated for what they read and write.
  outcome.context.target = options.target;
  outcome.context.target.threads = options.threads;
  outcome.context.layoutAcceptance = codegen::checkNodeLayouts;
  if (options.trace) recorder.recordInitial(graph, outcome.context);
  auto start = std::chrono::steady_clock::now();
  FLUIDML_RETURN_IF_ERROR(manager.run(graph, outcome.context));
  outcome.totalMilliseconds =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  outcome.timings = timing.timings();
  if (options.trace) {
    std::string model = options.positional.empty() ? "" : options.positional[0];
    FLUIDML_RETURN_IF_ERROR(exporters::writeTraceFile(
        *options.trace,
        exporters::traceToJson(model, spec.name, recorder.snapshots(), passes::standardAnalysisRegistry())));
  }
  return outcome;
}

}  // namespace fluidml::cli
