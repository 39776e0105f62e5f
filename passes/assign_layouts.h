// assign-layouts: a fixed layout policy (layouts by op type, propagated forward, conversions where kernels
// refuse), for measuring layout-aware kernels before a layout search exists. The pass itself is in
// assign_layouts.cpp; this header has its options and the layout texts they take, for tests and tools.
#pragma once

#include <map>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "core/ir/graph.h"
#include "core/ir/layout.h"
#include "core/target/target_description.h"

namespace fluidml::passes {

struct AssignLayoutsOptions {
  /// Op type (ONNX ops by name, "Conv"; other domains qualified, "fluidml.FusedConv") -> the layout of its
  /// output 0, in a text layoutForRank takes.
  std::map<std::string, std::string> layouts;
  /// Extend the layouts forward to the nodes whose inputs agree on one (see assign_layouts.cpp).
  bool propagate = true;

  /// Strict: unknown keys, unknown op types and layout texts no rank takes are errors naming the key.
  static Expected<AssignLayoutsOptions> fromJson(const nlohmann::json &j);
  nlohmann::json toJson() const;
};

/// The layout `text` names for a tensor of `rank` dims: any ir::parseLayout text ("NCHW16c", "(0,2,3,1)",
/// "row-major"), or the channel-blocked forms "NCWc", "NCHWc", "NCDHWc" whose block is the target's float lanes
/// (16 with AVX-512, 8 with AVX2). nullopt when the text is for another rank.
std::optional<ir::Layout> layoutForRank(const std::string &text, size_t rank, const target::TargetDescription &target);

/// The key of `node`'s op type in AssignLayoutsOptions::layouts ("Conv", "fluidml.FusedConv").
std::string layoutOpKey(const ir::Node &node);

}  // namespace fluidml::passes
