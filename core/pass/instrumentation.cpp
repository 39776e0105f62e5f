// The verifier and the timer: two instrumentations the CLI attaches to every pipeline run.
#include "core/pass/instrumentation.h"

#include "core/ir/verifier.h"

namespace fluidml::pass {

Status VerifierInstrumentation::afterPass(const Pass &pass, const ir::Graph &graph, const PassContext &,
                                          const PassResult &) {
  Status status = ir::verify(graph);
  if (status.isOk()) return status;
  return Status::internal("pass '" + std::string(pass.name()) + "' left an invalid graph: " + status.message());
}

void TimingInstrumentation::beforePass(const Pass &, const ir::Graph &, const PassContext &) {
  start_ = std::chrono::steady_clock::now();
}

Status TimingInstrumentation::afterPass(const Pass &pass, const ir::Graph &, const PassContext &,
                                        const PassResult &) {
  timings_.push_back(
      Timing{std::string(pass.name()),
             std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start_).count(), false});
  return Status::ok();
}

void TimingInstrumentation::afterPassFailed(const Pass &pass, const ir::Graph &, const Status &) {
  timings_.push_back(
      Timing{std::string(pass.name()),
             std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start_).count(), true});
}

}  // namespace fluidml::pass
