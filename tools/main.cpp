// The fluidml command-line tool.
#include <exception>
#include <iostream>
#include <new>

#include "tools/commands.h"

namespace {

const char *kUsage = R"(fluidml — an ONNX inference compiler for CPUs

usage: fluidml COMMAND [options]

commands:
  inspect MODEL                 inputs/outputs, op histogram, parameter bytes, FLOPs of MatMul/Gemm/Conv
  run MODEL [--inputs DIR] [--outputs DIR] [--seed N] [--threads N] [--check] [--interpret] [--check-plan]
                                compile with the pipeline and LLVM (JIT) and run from its memory plan; DIR holds
                                input_K.pb / output_K.pb (ONNX test-data layout); without --inputs, deterministic
                                random inputs of valid ranges; --check compares with the reference interpreter
                                on the graph as imported, before any pass (prints max abs diff; over 1e-4 |e| +
                                1e-5 max(1, max |e|): exit 1); --interpret runs the reference interpreter
                                instead (with --check: on the pipeline's graph); --check-plan runs the
                                interpreter with and without the plan and requires bit-identical outputs
  compile MODEL -o DIR [--threads N] [--mcpu NAME] [--target TRIPLE]
                                ahead-of-time: DIR/libmodel.so (C API in DIR/model.h, no LLVM needed at run
                                time), DIR/weights.bin (memory-mapped), DIR/model.json (tensor metadata and the
                                target); --mcpu x86-64-v3 makes a library for any AVX2 x86-64
  bench MODEL [--threads N] [--iters K] [--warmup W] [--json] [--mcpu NAME] [--profile]
                                compile once, W warm-up runs (default 3), K timed runs (default 20): median/min/max
                                latency, peak RSS, arena/weights/lower-bound bytes, compile time; --profile also
                                times every node over the timed runs: the slowest nodes, time per op type and per
                                kernel strategy and layouts (--json: a "profile" object)
  tune MODEL [--threads N[,M]] [--pipeline P] [--json]
                                measure the kernel costs the layout choice needs: the pipeline's rewrites up to
                                its first layout pass, then every node's kernel variants (layouts read and
                                written) and every tensor's layout conversions, each compiled and timed alone
                                (median of k runs) at each thread count, into the cost cache
                                ($FLUIDML_CACHE_DIR/costs.json, default ~/.cache/fluidml/costs.json); what the
                                cache holds is not measured again
  plan MODEL [--pipeline P] [--json]
                                the memory plan: lower bound (with and without the schedule), arena bytes and
                                efficiency per planner (naive, greedy-size, best-of), in-place and view reuses
  ops                           list the supported operators
  passes                        list the passes pipelines can use
  datasets make NAME [-o DIR] [--seed N] [--force]
                                generate a model of the paper's families (PyTorch export + reference outputs)
  datasets list                 the dataset names

common options:
  --shape NAME=DIMS             fix a model input's shape, e.g. --shape input_ids=1x128 (symbolic dims
                                otherwise default to 1); repeatable
  --pipeline FILE|NAME          pass pipeline (NAME = pipelines/NAME.json: baseline, fluidml, nchwc; default fluidml)
  --trace FILE                  write every pass snapshot (graph, analyses, rewrites) as JSON
  --stop-after N                run only the first N passes of the pipeline
  --threads N                   threads of the compiled model (run, compile, bench; default 1); tune takes a
                                list, e.g. --threads 1,2
  --dump-ir FILE                write the optimized LLVM IR (run, compile, bench)
  --dump-asm FILE               write the target's assembly (run, compile, bench)
  --mcpu NAME                   the CPU to generate code for (run, compile, bench; default native = this host):
                                x86-64-v2, x86-64-v3 (AVX2: 8-float vectors, 16 registers), x86-64-v4
                                (AVX-512), or an LLVM CPU name such as haswell, skylake-avx512, znver3
  --target TRIPLE               the target triple (default the host's); only x86_64 triples are supported
  -h, --help                    this help

exit codes: 0 ok, 1 internal error, 2 user error (bad model, bad input, bad option)
)";

}  // namespace

int main(int argc, char **argv) {
  using namespace fluidml::cli;
  try {
    auto options = parseCommandLine(argc - 1, argv + 1);
    if (!options) return reportError(options.status());
    if (options->help || options->command.empty() || options->command == "help") {
      std::cout << kUsage;
      return options->command.empty() && !options->help ? kExitUserError : kExitOk;
    }
    if (options->command == "inspect") return inspectCommand(*options);
    if (options->command == "run") return runCommand(*options);
    if (options->command == "ops") return opsCommand(*options);
    if (options->command == "plan") return planCommand(*options);
    if (options->command == "passes") return passesCommand(*options);
    if (options->command == "datasets") return datasetsCommand(*options);
    if (options->command == "compile") return compileCommand(*options);
    if (options->command == "bench") return benchCommand(*options);
    if (options->command == "tune") return tuneCommand(*options);
    return reportError(fluidml::Status::error("unknown command '" + options->command + "' (see fluidml --help)"));
  } catch (const std::bad_alloc &) {
    std::cerr << "fluidml: internal error: out of memory\n";
    return 1;
  } catch (const std::exception &e) {
    std::cerr << "fluidml: internal error: " << e.what() << '\n';
    return 1;
  }
}
