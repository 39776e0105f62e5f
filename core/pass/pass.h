// A pass: a named, composable rewrite of the IR (or an analysis that fills the PassContext's store).
// Options come from the pipeline JSON; results report whether the graph changed, numeric stats, the analyses
// the pass preserves and which nodes replaced which.
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/ir/graph.h"
#include "core/pass/analysis_store.h"
#include "core/target/target_description.h"

namespace fluidml::target {
class KernelCatalog;
}  // namespace fluidml::target

namespace fluidml::pass {

/// One rewrite: which nodes replaced which (the explorer's exact per-pass diff). Node ids are never reused, so
/// `removed` ids name nodes of the graph before the pass and `added` ids nodes of the graph after it.
struct Replacement {
  std::string kind;                 // why, as the pass's stats key: "fused_conv", "removed_identity", ...
  std::vector<ir::NodeId> removed;  // nodes gone from the graph
  std::vector<ir::NodeId> added;    // nodes that now compute what they did: new ones, or survivors rewritten
};

struct PassResult {
  bool changed = false;
  /// Counters shown in traces and `--stats` ("folded_nodes": 12).
  std::map<std::string, double> stats;
  /// Analyses still valid after this pass although it changed the graph. When `changed`, the PassManager
  /// erases every other analysis the pass did not write itself; an unchanged graph keeps them all.
  std::set<std::string, std::less<>> preserved;
  /// The rewrites, in the order made (empty for analysis passes).
  std::vector<Replacement> replacements;
};

/// Whether a node's kernel reads and writes the layouts its operands have (codegen::checkNodeLayouts in practice;
/// passes do not link the code generator, the drivers hand it over).
using LayoutAcceptance = std::function<Status(const ir::Graph &, const ir::Node &)>;

/// What passes share besides the graph: the analyses they produce and read (see AnalysisStore), the machine the
/// code is for, and the kernels' layout acceptance (unset outside compilation drivers).
struct PassContext {
  AnalysisStore analyses;
  target::TargetDescription target = target::TargetDescription::host();
  LayoutAcceptance layoutAcceptance;
  /// The kernel variants and their costs (core/target/kernel_catalog.h), for layout passes; nullptr when none.
  const target::KernelCatalog *catalog = nullptr;
};

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
