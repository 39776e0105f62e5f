// The fluidml subcommands. Each returns the process exit code: 0 ok, 1 internal error, 2 user error.
#pragma once

#include "core/analysis/memory_plan.h"
#include "core/codegen/compiler.h"
#include "core/ir/graph.h"
#include "tools/cli_options.h"

namespace fluidml::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitInternalError = 1;
inline constexpr int kExitUserError = 2;

int inspectCommand(const CliOptions &options);
int runCommand(const CliOptions &options);
int opsCommand(const CliOptions &options);
int planCommand(const CliOptions &options);
int passesCommand(const CliOptions &options);
int datasetsCommand(const CliOptions &options);
int compileCommand(const CliOptions &options);
int benchCommand(const CliOptions &options);
int tuneCommand(const CliOptions &options);

/// Imports the model named by the first positional argument with the --shape options.
Expected<ir::Graph> loadModel(const CliOptions &options);
/// Prints a failure to stderr and returns its exit code: "fluidml: error: MESSAGE" and kExitUserError for a
/// user error, "fluidml: internal error: MESSAGE" and kExitInternalError for a bug in fluidml (Status::internal).
int reportError(const Status &status);

/// A model after the pipeline: the rewritten graph and its memory plan (the pipeline's, or the default planner's
/// when the pipeline has no memory-plan pass).
struct PreparedModel {
  ir::Graph graph;
  analysis::MemoryPlan plan;
  std::string pipelineName;
  double pipelineMilliseconds = 0;
};
/// loadModel + the --pipeline passes + a plan. Errors name the model.
Expected<PreparedModel> prepareModel(const CliOptions &options);
/// --threads, --dump-ir, --dump-asm as compiler options.
codegen::CompileOptions compileOptionsFrom(const CliOptions &options);

}  // namespace fluidml::cli
