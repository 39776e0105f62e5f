// Node attributes, as ONNX defines them (subgraph attributes are not supported).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <variant>
#include <vector>

#include "core/ir/tensor.h"

namespace fluidml::ir {

using Attribute = std::variant<int64_t, float, std::string, Tensor, std::vector<int64_t>, std::vector<float>,
                               std::vector<std::string>>;

/// Attributes by name; an ordered map keeps dumps and exports deterministic.
using AttributeMap = std::map<std::string, Attribute>;

/// "3", "[1, 2]", "'nearest'", "tensor float32[2]" — for dumps and messages.
std::string attributeToString(const Attribute &attribute);

}  // namespace fluidml::ir
