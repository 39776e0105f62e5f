// Pipelines: an ordered list of passes with options, read from JSON
//   {"name": "fluidml", "passes": [{"pass": "fold-constants"}, {"pass": "memory-plan", "options": {...}}]}
// and run by the PassManager with instrumentation, per-pass timing and --stop-after.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/pass/instrumentation.h"
#include "core/pass/pass_registry.h"

namespace fluidml::pass {

struct PipelineSpec {
  std::string name;
  struct Step {
    std::string pass;
    nlohmann::json options = nlohmann::json::object();
  };
  std::vector<Step> steps;
};

/// Parses pipeline JSON text strictly: {"name": string (optional), "passes": [{"pass": string, "options":
/// object (optional)}]}. Errors start with `source`, name the key path ("unknown key 'passes[2].optons'; valid
/// keys: options, pass"), reject a key repeated in one object and report JSON syntax errors as
/// "source:line:column: invalid JSON: ...".
Expected<PipelineSpec> parsePipeline(const std::string &text, const std::string &source);
/// Reads a pipeline file (errors start with the path); an unnamed pipeline takes the file's stem as name.
Expected<PipelineSpec> readPipelineFile(const std::string &path);

/// The pass manager's invalidation after one pass: when `result.changed`, erases from `context` every analysis
/// neither in `result.preserved` nor written by the pass (`before` = the store as the pass found it). Analysis
/// passes (changed=false) keep everything. Public so that tests running one pass see what a pipeline would.
void invalidateAnalyses(PassContext &context, const AnalysisStore &before, const PassResult &result);

class PassManager {
 public:
  /// Builds every pass of the spec through the registry (unknown names and option keys are errors, prefixed
  /// "passes[i] ('name'): ").
  static Expected<PassManager> fromSpec(const PipelineSpec &spec, const PassRegistry &registry);

  void addPass(std::unique_ptr<Pass> pass) { passes_.push_back(std::move(pass)); }
  /// Instrumentations run in the order added; the manager does not own them.
  void addInstrumentation(PassInstrumentation *instrumentation) { instrumentations_.push_back(instrumentation); }
  /// Runs only the first `count` passes (bisecting a pipeline); negative = all.
  void setStopAfter(int count) { stopAfter_ = count; }
  const std::string &name() const { return name_; }
  const std::vector<std::unique_ptr<Pass>> &passes() const { return passes_; }

  /// Runs the passes in order. A failing pass or instrumentation stops the run; the error names the pass.
  /// Per pass: beforePass on every instrumentation; run; on error, afterPassFailed on every instrumentation and
  /// the error prefixed "pass 'x' (#i): ". On success, invalidateAnalyses (a pass that changed the graph keeps
  /// only the analyses it preserves or wrote), then afterPass on every instrumentation in order.
  Status run(ir::Graph &graph, PassContext &context);

 private:
  std::string name_;
  std::vector<std::unique_ptr<Pass>> passes_;
  std::vector<PassInstrumentation *> instrumentations_;
  int stopAfter_ = -1;
};

}  // namespace fluidml::pass
