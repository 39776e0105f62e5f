// TensorProto files (ONNX test-data layout: test_data_set_N/input_K.pb) <-> ir::Tensor.
#pragma once

#include <string>

#include "core/ir/tensor.h"
#include "core/support/status.h"

namespace fluidml::onnxio {

struct NamedTensor {
  std::string name;
  ir::Tensor tensor;
};

/// Reads one serialized TensorProto (raw_data or typed fields).
Expected<NamedTensor> readTensorFile(const std::string &path);
/// Writes one serialized TensorProto with raw_data. Writes to a temporary file and renames it, so a failure
/// leaves no partial file.
Status writeTensorFile(const ir::Tensor &tensor, const std::string &name, const std::string &path);

}  // namespace fluidml::onnxio
