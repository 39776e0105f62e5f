// ir::Tensor <-> onnx::TensorProto, shared by model import/export and tensor files. Reads raw_data, every
// typed field and external data; writes raw_data (little-endian, bool as one byte).
#pragma once

#include <optional>
#include <string>

#include <onnx/onnx_pb.h>

#include "core/ir/tensor.h"
#include "core/support/status.h"

namespace fluidml::onnxio {

/// Our dtype for an ONNX TensorProto::DataType, or nullopt when we lack it.
std::optional<ir::DType> dtypeFromOnnx(int32_t elemType);
/// The ONNX TensorProto::DataType of a dtype.
int32_t dtypeToOnnx(ir::DType dtype);
/// "FLOAT16", "BFLOAT16"...; the number for values outside the enum.
std::string onnxElementTypeName(int32_t elemType);

/// Converts a TensorProto. External data is read relative to `baseDir`. Errors name the tensor:
/// "tensor 'w' has unsupported element type FLOAT16", "tensor 'w' holds 10 bytes, its shape 2x3 needs 24".
Expected<ir::Tensor> tensorFromProto(const onnx::TensorProto &proto, const std::string &baseDir);
/// Fills `proto` with the tensor's name, type, dims and raw_data.
void tensorToProto(const ir::Tensor &tensor, const std::string &name, onnx::TensorProto &proto);

}  // namespace fluidml::onnxio
