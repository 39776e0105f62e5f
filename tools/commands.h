// The fluidml subcommands. Each returns the process exit code: 0 ok, 1 internal error, 2 user error.
#pragma once

#include "core/ir/graph.h"
#include "tools/cli_options.h"

namespace fluidml::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitUserError = 2;

int inspectCommand(const CliOptions &options);
int runCommand(const CliOptions &options);
int opsCommand(const CliOptions &options);
int planCommand(const CliOptions &options);
int passesCommand(const CliOptions &options);
int datasetsCommand(const CliOptions &options);

/// Imports the model named by the first positional argument with the --shape options.
Expected<ir::Graph> loadModel(const CliOptions &options);
/// Prints "fluidml: error: MESSAGE" to stderr and returns kExitUserError.
int reportUserError(const Status &status);

}  // namespace fluidml::cli
