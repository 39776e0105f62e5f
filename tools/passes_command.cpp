// `fluidml passes`: the registered passes and what they do.
#include <cstdio>

#include "passes/passes.h"
#include "tools/commands.h"

namespace fluidml::cli {

int passesCommand(const CliOptions &) {
  for (const auto &entry : passes::standardPassRegistry().entries())
    std::printf("%-22s %s\n", entry.name.c_str(), entry.description.c_str());
  return kExitOk;
}

}  // namespace fluidml::cli
