// Helpers shared by the pass tests: build a graph, run one registered pass on it (checking that it succeeds and
// that the graph still verifies), list its ops, and compare outputs before and after a rewrite.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/ir/builder.h"
#include "core/ir/graph.h"
#include "core/pass/pass.h"

namespace fluidml::test {

/// The graph of `b`; a build error fails the test.
ir::Graph finishGraph(ir::GraphBuilder &b);
/// Runs the registered pass `name` with `options` on `graph`; REQUIREs that it is created, succeeds and leaves
/// a graph that verifies. Invalidates the context's analyses as the pass manager would.
pass::PassResult runRegisteredPass(ir::Graph &graph, std::string_view name, pass::PassContext &context,
                                   const nlohmann::json &options = nlohmann::json::object());
/// runRegisteredPass with a fresh context.
pass::PassResult runRegisteredPass(ir::Graph &graph, std::string_view name,
                                   const nlohmann::json &options = nlohmann::json::object());
/// The op types in schedule order.
std::vector<std::string> opTypes(const ir::Graph &graph);
/// CHECKs that both graphs give bitwise-identical outputs on `inputs` (through the interpreter).
void requireIdenticalOutputs(const ir::Graph &before, const ir::Graph &after, const std::vector<ir::Tensor> &inputs);

}  // namespace fluidml::test
