// Helpers shared by the codegen tests: plan and JIT-compile a graph, run a compiled model.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/analysis/memory_plan.h"
#include "core/codegen/compiler.h"
#include "core/ir/graph.h"

namespace fluidml::test {

/// JIT-compiles `graph` with `plan` at `threads` threads (assembly to `asmPath` when set); REQUIREs success.
std::unique_ptr<codegen::CompiledModel> compileGraph(const ir::Graph &graph, const analysis::MemoryPlan &plan,
                                                     int threads = 1, const std::string &asmPath = "");
/// compileGraph with the default memory plan.
std::unique_ptr<codegen::CompiledModel> compileGraph(const ir::Graph &graph, int threads = 1,
                                                     const std::string &asmPath = "");
/// JIT-compiles `graph` with the default memory plan and `options` (a target other than the host's, ...);
/// REQUIREs success.
std::unique_ptr<codegen::CompiledModel> compileGraphWith(const ir::Graph &graph, const codegen::CompileOptions &options);
/// Runs `model` on `inputs` into fresh output tensors; REQUIREs success.
std::vector<ir::Tensor> runModel(codegen::CompiledModel &model, const std::vector<ir::Tensor> &inputs);
/// The strategy the model's one multi-strategy kernel took (CompiledModel::kernelStrategies, e.g. "im2col");
/// REQUIREs exactly one such kernel.
std::string onlyKernelStrategy(const codegen::CompiledModel &model);

}  // namespace fluidml::test
