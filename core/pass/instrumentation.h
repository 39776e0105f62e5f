// Hooks around every pass (MLIR style): the verifier, the timer and the snapshot recorder are three of them.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "core/pass/pass.h"

namespace fluidml::pass {

/// Every beforePass is followed by exactly one afterPass or afterPassFailed for the same pass (an
/// instrumentation whose predecessor failed in afterPass hears afterPassFailed).
class PassInstrumentation {
 public:
  virtual ~PassInstrumentation() = default;
  virtual void beforePass(const Pass &, const ir::Graph &, const PassContext &) {}
  /// A non-ok status stops the pipeline (the verifier uses this); the message should name the pass, else
  /// PassManager prefixes "pass 'x' (#i): ".
  virtual Status afterPass(const Pass &, const ir::Graph &, const PassContext &, const PassResult &) {
    return Status::ok();
  }
  virtual void afterPassFailed(const Pass &, const ir::Graph &, const Status &) {}
};

/// Runs ir::verify after every pass; a broken graph fails the pipeline naming the pass.
class VerifierInstrumentation final : public PassInstrumentation {
 public:
  Status afterPass(const Pass &pass, const ir::Graph &graph, const PassContext &, const PassResult &) override;
};

/// Wall-clock time of each pass, in run order (a failed pass is timed too, marked failed).
class TimingInstrumentation final : public PassInstrumentation {
 public:
  struct Timing {
    std::string pass;
    double milliseconds = 0;
    bool failed = false;
  };
  void beforePass(const Pass &, const ir::Graph &, const PassContext &) override;
  Status afterPass(const Pass &pass, const ir::Graph &, const PassContext &, const PassResult &) override;
  void afterPassFailed(const Pass &pass, const ir::Graph &, const Status &) override;
  const std::vector<Timing> &timings() const { return timings_; }

 private:
  std::chrono::steady_clock::time_point start_;
  std::vector<Timing> timings_;
};

}  // namespace fluidml::pass
