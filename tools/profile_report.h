// The per-node profile of a compiled model as `fluidml bench --profile` reports it: the slowest nodes, and the
// time per op type and per kernel strategy and layouts, each with its share of the profiled total.
#pragma once

#include <cstdio>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/codegen/compiler.h"

namespace fluidml::cli {

/// Prints the tables to `out`: the `topNodes` slowest nodes, then every op type and every strategy/layouts
/// group, in milliseconds per run (`runs` runs were profiled) and percent of the profiled total; the header
/// compares the total with `meanMs`, the mean latency of those runs.
void printProfile(std::FILE *out, const std::vector<codegen::NodeProfile> &profile, int runs, double meanMs,
                  size_t topNodes = 15);

/// The same as JSON: {"runs", "total_ms", "nodes": [...] (schedule order), "by_op": [...], "by_strategy": [...]}.
nlohmann::json profileJson(const std::vector<codegen::NodeProfile> &profile, int runs);

}  // namespace fluidml::cli
