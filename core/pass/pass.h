// A pass: a named, composable rewrite of the IR (or an analysis that fills the PassContext).
// Options come from the pipeline JSON; results report whether the graph changed plus numeric stats.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "core/analysis/memory_plan.h"
#include "core/ir/graph.h"

namespace fluidml::pass {

struct PassResult {
  bool changed = false;
  /// Counters shown in traces and `--stats` ("folded_nodes": 12).
  std::map<std::string, double> stats;
};

/// Analyses produced by passes and read by later ones (and by snapshots). Plain structs keyed by ids.
struct PassContext {
  /// How the graph's order was chosen ("import" until a schedule pass runs).
  std::string scheduleName = "import";
  /// The memory plan of the current order, set by the memory-plan pass. A pass that reports changed and
  /// leaves the plan as it found it invalidates it: PassManager resets it (see PassManager::run).
  std::optional<analysis::MemoryPlan> memoryPlan;
};

/// True when both hold the same memory plan (or both none): every summary field, buffer and storage entry.
bool sameMemoryPlan(const std::optional<analysis::MemoryPlan> &a, const std::optional<analysis::MemoryPlan> &b);
/// True when two contexts hold the same analyses (schedule name and memory plan).
bool sameAnalyses(const PassContext &a, const PassContext &b);

class Pass {
 public:
  virtual ~Pass() = default;
  /// The kebab-case registry name ("memory-plan").
  virtual std::string_view name() const = 0;
  /// The effective options (defaults filled in), recorded in traces.
  virtual nlohmann::json options() const { return nlohmann::json::object(); }
  virtual Expected<PassResult> run(ir::Graph &graph, PassContext &context) = 0;
};

/// Reads an options object strictly: every key must be one of `valid` (error names the key and lists the valid
/// ones). Typed getters return an error naming the key when the JSON type is wrong; an absent key leaves `out`
/// untouched, so callers preset the defaults. Null options read as an empty object. The reader keeps a reference
/// to `options`, which must outlive it.
class OptionsReader {
 public:
  OptionsReader(std::string passName, const nlohmann::json &options);
  /// Checks the object and its keys; call once before the getters.
  Status validate(std::initializer_list<std::string_view> valid) const;
  Status get(std::string_view key, std::string &out) const;
  Status get(std::string_view key, bool &out) const;
  Status get(std::string_view key, int64_t &out) const;
  Status get(std::string_view key, uint32_t &out) const;
  Status get(std::string_view key, double &out) const;
  /// A string option that must be one of `choices` (the error lists them).
  Status getChoice(std::string_view key, std::initializer_list<std::string_view> choices, std::string &out) const;

 private:
  Status typeError(std::string_view key, const char *expected) const;
  std::string passName_;
  const nlohmann::json &options_;
};

}  // namespace fluidml::pass
