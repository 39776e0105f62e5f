// `fluidml datasets make NAME [-o DIR] [--seed N] [--force]` and `fluidml datasets list`: the model generators
// of datasets/ (Python with Debian's PyTorch), run with /usr/bin/python3.
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <iostream>

#include "tools/commands.h"

namespace fluidml::cli {

int datasetsCommand(const CliOptions &options) {
  const std::string script = std::string(FLUIDML_SOURCE_DIR) + "/datasets/make_dataset.py";
  std::vector<std::string> args = {FLUIDML_PYTHON, script};
  const std::string verb = options.positional.empty() ? "" : options.positional[0];
  if (verb == "list" && options.positional.size() == 1) {
    args.push_back("--list");
  } else if (verb == "make" && options.positional.size() == 2) {
    args.push_back(options.positional[1]);
    if (options.outputDir) args.insert(args.end(), {"-o", *options.outputDir});
    args.insert(args.end(), {"--seed", std::to_string(options.seed)});
    if (options.force) args.push_back("--force");
  } else {
    return reportError(Status::error("usage: fluidml datasets make NAME [-o DIR] [--seed N] [--force] | "
                                         "fluidml datasets list"));
  }
  std::error_code ec;
  if (!std::filesystem::exists(script, ec))
    return reportError(Status::error("the dataset generators are missing: " + script));
  std::cout.flush();
  pid_t child = fork();
  if (child < 0) return reportError(Status::error("cannot start " + std::string(FLUIDML_PYTHON)));
  if (child == 0) {
    std::vector<char *> argv;
    for (std::string &a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    std::cerr << "fluidml: error: cannot run " << argv[0] << " (install python3-torch: bash tools/setup.sh)\n";
    _exit(kExitUserError);
  }
  int status = 0;
  waitpid(child, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

}  // namespace fluidml::cli
