#include <iostream>

#include "core/onnx/onnx_import.h"
#include "tools/commands.h"

namespace fluidml::cli {

Expected<ir::Graph> loadModel(const CliOptions &options) {
  if (options.positional.empty()) return Status::error("fluidml " + options.command + " needs a MODEL file");
  onnxio::ImportOptions importOptions;
  importOptions.inputShapes = options.shapes;
  return onnxio::importModelFile(options.positional[0], importOptions);
}

int reportError(const Status &status) {
  if (status.isInternal()) {
    std::cerr << "fluidml: internal error: " << status.message() << '\n';
    return kExitInternalError;
  }
  std::cerr << "fluidml: error: " << status.message() << '\n';
  return kExitUserError;
}

}  // namespace fluidml::cli
