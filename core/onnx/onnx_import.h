// ONNX model import: protobuf (libonnx) -> IR, with static shapes. Symbolic dims are fixed from the options,
// shape-computing subgraphs are folded, every node's output types are inferred.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "core/ir/graph.h"

namespace fluidml::onnxio {

/// The newest ai.onnx opset whose models we accept.
inline constexpr int64_t kMaxOpset = 18;

struct ImportOptions {
  /// Full shapes for named graph inputs (`--shape name=1x128`); they must agree with the model's fixed dims.
  std::map<std::string, ir::Shape> inputShapes;
  /// Value of every symbolic or unknown input dimension not fixed by inputShapes.
  int64_t defaultDim = 1;
  /// Known values of graph inputs. An input that feeds a shape operand of some node (OpSchema::shapeOperands)
  /// and has a value here becomes a constant (test cases feed Reshape's shape as an input, for example);
  /// other inputs stay inputs.
  std::map<std::string, ir::Tensor> inputValues;
  /// Fold all-constant nodes (always true in the product; tests may turn it off).
  bool fold = true;
};

/// Reads and imports a model file (external-data initializers are read relative to the file's folder).
/// Errors name the file and, for node-level problems, the node: "m.onnx: node 'mm' (MatMul, #4): ...".
Expected<ir::Graph> importModelFile(const std::string &path, const ImportOptions &options = {});
/// Imports serialized ModelProto bytes. `displayName` prefixes messages; `baseDir` resolves external data.
Expected<ir::Graph> importModelBytes(const std::string &bytes, const std::string &displayName,
                                     const std::string &baseDir, const ImportOptions &options = {});

/// What a model uses, read without building the IR (for `inspect` and for the conformance runner's skips).
struct ModelScan {
  int64_t opset = 0;                         // ai.onnx version
  std::vector<std::string> opTypes;          // one per node, "domain.Op" outside ai.onnx
  std::vector<std::string> unsupportedTypes; // ONNX element types of inputs/outputs/initializers we lack ("FLOAT16")
  std::vector<std::string> unsupportedOps;   // op types not in the op table (or below its minOpset)
};
Expected<ModelScan> scanModelFile(const std::string &path);

}  // namespace fluidml::onnxio
