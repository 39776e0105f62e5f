// Helpers shared by the unit tests.
#pragma once

#include <filesystem>
#include <random>
#include <vector>

#include "core/ir/builder.h"
#include "core/ir/graph.h"

namespace fluidml::test {

/// A GraphBuilder that infers types with the op table (opset 17 unless given).
ir::GraphBuilder makeBuilder(int64_t opset = 17);

/// A float32 tensor of the given shape filled with uniform values in [lo, hi), deterministic per seed.
ir::Tensor randomFloats(const ir::Shape &shape, uint32_t seed, float lo = -1.0f, float hi = 1.0f);

/// Runs a graph built by a builder through the reference interpreter; REQUIREs success.
std::vector<ir::Tensor> runGraph(const ir::Graph &graph, const std::vector<ir::Tensor> &inputs);

/// The folders of every tiny dataset model (model.onnx, test_data_set_0) in the build tree, where the ctest
/// fixtures make_dataset_NAME-tiny make them; FAILs, saying how to make it, when one is missing.
std::vector<std::filesystem::path> tinyDatasetDirs();

}  // namespace fluidml::test
