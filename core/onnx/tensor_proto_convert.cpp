// TensorProto decoding follows onnx.proto: raw_data holds little-endian bytes; otherwise the typed field of the
// element type (float_data; int32_data also for int8/uint8/bool/int16/uint16/float16; int64_data; double_data);
// data_location EXTERNAL points at a file (location, offset, length) next to the model.
// The host is assumed little-endian (x86-64, AArch64), so raw bytes are copied as they are.
#include "core/onnx/tensor_proto_convert.h"

#include <filesystem>
#include <cstring>
#include <fstream>

namespace fluidml::onnxio {

namespace {

using onnx::TensorProto;

std::string tensorLabel(const TensorProto &proto) { return "tensor '" + proto.name() + "'"; }

// Copies `count` values of a typed repeated field into the tensor, converting element by element.
template <typename Field>
void copyTyped(const Field &field, ir::Tensor &tensor) {
  ir::visitDType(tensor.dtype(), [&](auto tag) {
    using T = decltype(tag);
    T *out = tensor.data<T>();
    for (int i = 0; i < field.size(); ++i) {
      if constexpr (std::is_same_v<T, bool>)
        out[i] = field.Get(i) != 0;
      else
        out[i] = static_cast<T>(field.Get(i));
    }
  });
}

// Bools must hold 0 or 1 in memory; a raw byte of 2 would otherwise be an invalid bool.
void normalizeBools(ir::Tensor &tensor) {
  if (tensor.dtype() != ir::DType::Bool) return;
  auto *bytes = static_cast<uint8_t *>(tensor.rawData());
  for (int64_t i = 0; i < tensor.numel(); ++i) bytes[i] = bytes[i] != 0 ? 1 : 0;
}

bool isSafeRelativePath(const std::string &location) {
  std::filesystem::path path(location);
  if (location.empty() || path.is_absolute()) return false;
  for (const auto &part : path)
    if (part == "..") return false;
  return true;
}

// Checks the location and the byte range before allocating the tensor.
Expected<ir::Tensor> readExternal(const TensorProto &proto, const std::string &baseDir, ir::DType dtype,
                                  const ir::Shape &shape, uint64_t wanted) {
  std::string location;
  uint64_t offset = 0;
  std::optional<uint64_t> length;
  for (const auto &entry : proto.external_data()) {
    const std::string &key = entry.key();
    if (key == "location") {
      location = entry.value();
    } else if (key == "offset" || key == "length") {
      uint64_t number = 0;
      const std::string &text = entry.value();
      bool valid = !text.empty() && text.size() <= 19;
      for (char ch : text) {
        if (ch < '0' || ch > '9') valid = false;
        number = number * 10 + static_cast<uint64_t>(ch - '0');
      }
      if (!valid) return Status::error(tensorLabel(proto) + ": external data " + key + " '" + text + "' is not a number");
      if (key == "offset") offset = number;
      else length = number;
    }
  }
  if (location.empty()) return Status::error(tensorLabel(proto) + ": external data has no location");
  if (!isSafeRelativePath(location))
    return Status::error(tensorLabel(proto) + ": external data location '" + location +
                         "' must be a relative path inside the model's folder");
  std::filesystem::path file = std::filesystem::path(baseDir.empty() ? "." : baseDir) / location;
  std::error_code ec;
  if (!std::filesystem::is_regular_file(file, ec))
    return Status::error(tensorLabel(proto) + ": external data file '" + file.string() + "' does not exist");
  uint64_t fileSize = std::filesystem::file_size(file, ec);
  if (ec) return Status::error(tensorLabel(proto) + ": cannot read the size of '" + file.string() + "'");
  uint64_t available = offset <= fileSize ? fileSize - offset : 0;
  if (offset > fileSize)
    return Status::error(tensorLabel(proto) + ": external data offset " + std::to_string(offset) + " is past the end of '" +
                         file.string() + "' (" + std::to_string(fileSize) + " bytes)");
  uint64_t count = length.value_or(available);
  if (count > available)
    return Status::error(tensorLabel(proto) + ": external data offset " + std::to_string(offset) + " + length " +
                         std::to_string(count) + " exceeds the size of '" + file.string() + "' (" +
                         std::to_string(fileSize) + " bytes)");
  if (count != wanted)
    return Status::error(tensorLabel(proto) + " has " + std::to_string(count) + " bytes of external data, its type " +
                         ir::TensorType(dtype, shape).toString() + " needs " + std::to_string(wanted));
  ir::Tensor tensor = ir::Tensor::zeros(dtype, shape);
  std::ifstream in(file, std::ios::binary);
  if (!in) return Status::error(tensorLabel(proto) + ": cannot open '" + file.string() + "'");
  in.seekg(static_cast<std::streamoff>(offset));
  in.read(static_cast<char *>(tensor.rawData()), static_cast<std::streamsize>(count));
  if (!in) return Status::error(tensorLabel(proto) + ": cannot read " + std::to_string(count) + " bytes from '" +
                                file.string() + "'");
  return tensor;
}

}  // namespace

std::optional<ir::DType> dtypeFromOnnx(int32_t elemType) {
  switch (elemType) {
    case TensorProto::FLOAT: return ir::DType::Float32;
    case TensorProto::DOUBLE: return ir::DType::Float64;
    case TensorProto::INT64: return ir::DType::Int64;
    case TensorProto::INT32: return ir::DType::Int32;
    case TensorProto::INT8: return ir::DType::Int8;
    case TensorProto::UINT8: return ir::DType::UInt8;
    case TensorProto::BOOL: return ir::DType::Bool;
    default: return std::nullopt;
  }
}

int32_t dtypeToOnnx(ir::DType dtype) {
  switch (dtype) {
    case ir::DType::Float32: return TensorProto::FLOAT;
    case ir::DType::Float64: return TensorProto::DOUBLE;
    case ir::DType::Int64: return TensorProto::INT64;
    case ir::DType::Int32: return TensorProto::INT32;
    case ir::DType::Int8: return TensorProto::INT8;
    case ir::DType::UInt8: return TensorProto::UINT8;
    case ir::DType::Bool: return TensorProto::BOOL;
  }
  return TensorProto::UNDEFINED;
}

std::string onnxElementTypeName(int32_t elemType) {
  if (onnx::TensorProto_DataType_IsValid(elemType))
    return onnx::TensorProto_DataType_Name(static_cast<onnx::TensorProto_DataType>(elemType));
  return std::to_string(elemType);
}

Expected<ir::Tensor> tensorFromProto(const TensorProto &proto, const std::string &baseDir) {
  std::optional<ir::DType> dtype = dtypeFromOnnx(proto.data_type());
  if (!dtype) return Status::error(tensorLabel(proto) + " has unsupported element type " + onnxElementTypeName(proto.data_type()));
  if (proto.has_segment()) return Status::error(tensorLabel(proto) + " is segmented, which is not supported");

  // Validate the shape before allocating, so that a corrupt file cannot ask for absurd amounts of memory.
  ir::Shape shape;
  uint64_t numel = 1;
  bool overflow = false;
  for (int64_t d : proto.dims()) {
    if (d < 0) return Status::error(tensorLabel(proto) + " has a negative dimension " + std::to_string(d));
    shape.push_back(d);
    if (__builtin_mul_overflow(numel, static_cast<uint64_t>(d), &numel)) overflow = true;
  }
  uint64_t bytes = 0;
  if (overflow || __builtin_mul_overflow(numel, ir::dtypeSize(*dtype), &bytes) || bytes > (uint64_t{1} << 40))
    return Status::error(tensorLabel(proto) + " has an impossibly large shape " + ir::shapeToString(shape));

  std::string typeText = ir::TensorType(*dtype, shape).toString();
  auto mismatch = [&](uint64_t have, const char *unit, uint64_t need) {
    return Status::error(tensorLabel(proto) + " holds " + std::to_string(have) + " " + unit + ", its type " + typeText +
                         " needs " + std::to_string(need));
  };

  if (proto.data_location() == TensorProto::EXTERNAL) {
    FLUIDML_ASSIGN_OR_RETURN(ir::Tensor tensor, readExternal(proto, baseDir, *dtype, shape, bytes));
    normalizeBools(tensor);
    return tensor;
  }
  if (proto.has_raw_data()) {
    if (proto.raw_data().size() != bytes) return mismatch(proto.raw_data().size(), "bytes", bytes);
    ir::Tensor tensor = ir::Tensor::zeros(*dtype, shape);
    if (bytes != 0) std::memcpy(tensor.rawData(), proto.raw_data().data(), bytes);
    normalizeBools(tensor);
    return tensor;
  }

  auto typed = [&](const auto &field) -> Expected<ir::Tensor> {
    if (static_cast<uint64_t>(field.size()) != numel) return mismatch(static_cast<uint64_t>(field.size()), "elements", numel);
    ir::Tensor tensor = ir::Tensor::zeros(*dtype, shape);
    copyTyped(field, tensor);
    return tensor;
  };
  switch (*dtype) {
    case ir::DType::Float32: return typed(proto.float_data());
    case ir::DType::Float64: return typed(proto.double_data());
    case ir::DType::Int64: return typed(proto.int64_data());
    case ir::DType::Int32:
    case ir::DType::Int8:
    case ir::DType::UInt8:
    case ir::DType::Bool: return typed(proto.int32_data());
  }
  return Status::error(tensorLabel(proto) + " has no data");
}

void tensorToProto(const ir::Tensor &tensor, const std::string &name, TensorProto &proto) {
  proto.Clear();
  proto.set_name(name);
  proto.set_data_type(dtypeToOnnx(tensor.dtype()));
  for (int64_t d : tensor.shape()) proto.add_dims(d);
  if (tensor.isNull() || tensor.bytes() == 0)
    proto.set_raw_data(std::string());
  else
    proto.set_raw_data(tensor.rawData(), tensor.bytes());
}

}  // namespace fluidml::onnxio
