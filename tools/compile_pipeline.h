// Runs a pass pipeline over an imported graph for the CLI: resolves --pipeline, instruments the run
// (verifier, timing, snapshots for --trace) and writes the trace.
#pragma once

#include <string>

#include "core/pass/pipeline.h"
#include "core/pass/snapshot.h"
#include "passes/analyses.h"
#include "tools/cli_options.h"

namespace fluidml::cli {

/// `--pipeline NAME|FILE`: an existing file path, else pipelines/NAME.json of the source tree.
Expected<pass::PipelineSpec> resolvePipeline(const std::string &nameOrPath);

struct CompileOutcome {
  pass::PassContext context;
  std::vector<pass::TimingInstrumentation::Timing> timings;
  double totalMilliseconds = 0;
};

/// Runs `spec` over `graph` (in place). Verifies after every pass; records snapshots and writes the trace when
/// options.trace is set; honours options.stopAfter.
Expected<CompileOutcome> runPipeline(ir::Graph &graph, const pass::PipelineSpec &spec, const CliOptions &options);

}  // namespace fluidml::cli
