// IR -> ONNX ModelProto. Constants become initializers (raw_data); every value keeps its name and type.
#pragma once

#include <string>

#include "core/ir/graph.h"

namespace fluidml::onnxio {

/// Serialized ModelProto bytes of the graph.
Expected<std::string> exportModelBytes(const ir::Graph &graph);
/// Writes the model atomically (temporary file + rename): no partial file on failure.
Status exportModelFile(const ir::Graph &graph, const std::string &path);

}  // namespace fluidml::onnxio
