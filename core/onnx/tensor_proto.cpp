#include "core/onnx/tensor_proto.h"

#include "core/onnx/proto_io.h"
#include "core/onnx/tensor_proto_convert.h"

namespace fluidml::onnxio {

Expected<NamedTensor> readTensorFile(const std::string &path) {
  onnx::TensorProto proto;
  Status parsed = parseProtoFile(path, "TensorProto file", proto);
  if (!parsed.isOk()) return parsed.withContext(path);
  Expected<ir::Tensor> tensor = tensorFromProto(proto, parentFolder(path));
  if (!tensor) return tensor.status().withContext(path);
  return NamedTensor{proto.name(), std::move(tensor).value()};
}

Status writeTensorFile(const ir::Tensor &tensor, const std::string &name, const std::string &path) {
  onnx::TensorProto proto;
  tensorToProto(tensor, name, proto);
  std::string bytes;
  if (!proto.SerializeToString(&bytes)) return Status::error(path + ": cannot serialize tensor '" + name + "'");
  return writeFileAtomically(path, bytes).withContext(path);
}

}  // namespace fluidml::onnxio
