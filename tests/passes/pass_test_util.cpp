#include "tests/passes/pass_test_util.h"

#include <catch2/catch.hpp>

#include "core/ir/verifier.h"
#include "core/pass/pipeline.h"
#include "passes/passes.h"
#include "tests/test_util.h"

namespace fluidml::test {

ir::Graph finishGraph(ir::GraphBuilder &b) {
  auto graph = std::move(b).build();
  INFO((graph.hasValue() ? std::string() : graph.message()));
  REQUIRE(graph.hasValue());
  return std::move(graph).value();
}

pass::PassResult runRegisteredPass(ir::Graph &graph, std::string_view name, pass::PassContext &context,
                                   const nlohmann::json &options) {
  auto created = passes::standardPassRegistry().create(std::string(name), options);
  INFO((created.hasValue() ? std::string() : created.message()));
  REQUIRE(created.hasValue());
  const pass::AnalysisStore before = context.analyses;
  auto result = (*created)->run(graph, context);
  INFO((result.hasValue() ? std::string() : result.message()));
  REQUIRE(result.hasValue());
  pass::invalidateAnalyses(context, before, *result);
  Status verified = ir::verify(graph);
  INFO((verified.isOk() ? std::string() : verified.message()));
  REQUIRE(verified.isOk());
  return std::move(result).value();
}

pass::PassResult runRegisteredPass(ir::Graph &graph, std::string_view name, const nlohmann::json &options) {
  pass::PassContext context;
  return runRegisteredPass(graph, name, context, options);
}

std::vector<std::string> opTypes(const ir::Graph &graph) {
  std::vector<std::string> ops;
  for (ir::NodeId id : graph.order()) ops.push_back(graph.node(id).opType);
  return ops;
}

void requireIdenticalOutputs(const ir::Graph &before, const ir::Graph &after, const std::vector<ir::Tensor> &inputs) {
  auto expected = runGraph(before, inputs);
  auto actual = runGraph(after, inputs);
  REQUIRE(expected.size() == actual.size());
  for (size_t i = 0; i < expected.size(); ++i) CHECK(actual[i].identicalTo(expected[i]));
}

}  // namespace fluidml::test
