#include "core/ir/dtype.h"

namespace fluidml::ir {

size_t dtypeSize(DType dtype) {
  switch (dtype) {
    case DType::Float32: return 4;
    case DType::Float64: return 8;
    case DType::Int64: return 8;
    case DType::Int32: return 4;
    case DType::Int8: return 1;
    case DType::UInt8: return 1;
    case DType::Bool: return 1;
  }
  return 0;
}

std::string_view dtypeName(DType dtype) {
  switch (dtype) {
    case DType::Float32: return "float32";
    case DType::Float64: return "float64";
    case DType::Int64: return "int64";
    case DType::Int32: return "int32";
    case DType::Int8: return "int8";
    case DType::UInt8: return "uint8";
    case DType::Bool: return "bool";
  }
  return "?";
}

std::optional<DType> dtypeFromName(std::string_view name) {
  for (DType d : {DType::Float32, DType::Float64, DType::Int64, DType::Int32, DType::Int8, DType::UInt8, DType::Bool})
    if (dtypeName(d) == name) return d;
  return std::nullopt;
}

bool isFloating(DType dtype) { return dtype == DType::Float32 || dtype == DType::Float64; }

bool isInteger(DType dtype) {
  return dtype == DType::Int64 || dtype == DType::Int32 || dtype == DType::Int8 || dtype == DType::UInt8;
}

}  // namespace fluidml::ir
