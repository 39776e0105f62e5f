// Element types of tensors. float32 is first-class; the others carry indices, masks and shapes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace fluidml::ir {

enum class DType : uint8_t { Float32, Float64, Int64, Int32, Int8, UInt8, Bool };

/// Bytes per element.
size_t dtypeSize(DType dtype);
/// Lower-case name as printed in dumps and messages: "float32", "int64", ...
std::string_view dtypeName(DType dtype);
/// Parses a name printed by dtypeName.
std::optional<DType> dtypeFromName(std::string_view name);
bool isFloating(DType dtype);
bool isInteger(DType dtype);  // signed or unsigned integers, not bool

/// The C++ type stored for each DType (bool is stored as one byte).
template <DType D> struct DTypeTraits;
template <> struct DTypeTraits<DType::Float32> { using Type = float; };
template <> struct DTypeTraits<DType::Float64> { using Type = double; };
template <> struct DTypeTraits<DType::Int64> { using Type = int64_t; };
template <> struct DTypeTraits<DType::Int32> { using Type = int32_t; };
template <> struct DTypeTraits<DType::Int8> { using Type = int8_t; };
template <> struct DTypeTraits<DType::UInt8> { using Type = uint8_t; };
template <> struct DTypeTraits<DType::Bool> { using Type = bool; };

template <typename T> constexpr DType dtypeOf();
template <> constexpr DType dtypeOf<float>() { return DType::Float32; }
template <> constexpr DType dtypeOf<double>() { return DType::Float64; }
template <> constexpr DType dtypeOf<int64_t>() { return DType::Int64; }
template <> constexpr DType dtypeOf<int32_t>() { return DType::Int32; }
template <> constexpr DType dtypeOf<int8_t>() { return DType::Int8; }
template <> constexpr DType dtypeOf<uint8_t>() { return DType::UInt8; }
template <> constexpr DType dtypeOf<bool>() { return DType::Bool; }

/// Calls `fn(T{})` with the C++ type of `dtype`: `visitDType(d, [&](auto tag) { using T = decltype(tag); ... })`.
template <typename Fn>
decltype(auto) visitDType(DType dtype, Fn &&fn) {
  switch (dtype) {
    case DType::Float32: return fn(float{});
    case DType::Float64: return fn(double{});
    case DType::Int64: return fn(int64_t{});
    case DType::Int32: return fn(int32_t{});
    case DType::Int8: return fn(int8_t{});
    case DType::UInt8: return fn(uint8_t{});
    case DType::Bool: return fn(bool{});
  }
  return fn(float{});  // unreachable: every enumerator is handled above
}

}  // namespace fluidml::ir
