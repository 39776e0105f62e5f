// Command-line parsing shared by the fluidml subcommands.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/ir/tensor_type.h"
#include "core/support/status.h"
#include "core/target/target_description.h"

namespace fluidml::cli {

struct CliOptions {
  std::string command;                     // "inspect", "run", ...
  std::vector<std::string> positional;     // MODEL and friends
  std::map<std::string, ir::Shape> shapes; // --shape name=1x128 (repeatable)
  std::optional<std::string> inputsDir;    // --inputs DIR
  std::optional<std::string> outputsDir;   // --outputs DIR
  uint32_t seed = 0;                       // --seed N (random inputs, datasets)
  std::string pipeline = "fluidml";        // --pipeline FILE|NAME (NAME = a file in pipelines/)
  std::optional<std::string> trace;        // --trace FILE: every snapshot as JSON
  int stopAfter = -1;                      // --stop-after N: run only the first N passes
  std::optional<std::string> outputDir;    // -o DIR (datasets make)
  bool force = false;                      // --force (datasets make)
  bool checkPlan = false;                  // --check-plan (run): compare planned with unplanned execution
  bool json = false;                       // --json
  bool interpret = false;                  // --interpret (run): the reference interpreter instead of compiled code
  bool check = false;                      // --check (run): compare compiled outputs with the interpreter
  int threads = 1;                         // --threads N: the compiled model's thread pool size
  std::vector<int> threadCounts{1};        // --threads N[,M...] (tune measures each; others take one)
  int iters = 20;                          // --iters K (bench): timed runs
  int warmup = 3;                          // --warmup W (bench): untimed runs first
  std::optional<std::string> dumpIr;       // --dump-ir FILE: the optimized LLVM IR
  std::optional<std::string> dumpAsm;      // --dump-asm FILE: the target's assembly
  std::string mcpu;                        // --mcpu NAME: the CPU to generate code for ("" = the host)
  std::string targetTriple;                // --target TRIPLE: the target triple ("" = the host's)
  target::TargetDescription target;        // resolved from --mcpu and --target (the host without them)
  bool profile = false;                    // --profile (bench): time per node, op type and kernel strategy
  bool help = false;                       // --help / -h
};

/// Parses argv after the program name. Unknown flags and malformed values (an unknown --mcpu CPU, a --target
/// that is not x86_64) are user errors that name the flag.
Expected<CliOptions> parseCommandLine(int argc, char **argv);

/// "1x3x224x224" -> {1,3,224,224}.
Expected<ir::Shape> parseShape(const std::string &text);

}  // namespace fluidml::cli
