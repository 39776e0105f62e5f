// Random layouts for property tests: intermediate values get random permutations and blocked layouts, then
// passes::legalizeLayouts inserts fluidml.Relayout wherever a kernel declares it cannot read them, and the
// compiled graph must match the interpreter. Shared by the Catch2 tests, the conformance runner's --layouts
// mode and the dataset-model check (fluidml_layout_check).
#pragma once

#include <random>
#include <string>

#include "core/ir/graph.h"

namespace fluidml::test {

enum class LayoutMix {
  Permuted,  ///< random permutations only
  Blocked,   ///< permutations and blocked layouts (tile sizes 4, 8 or 16, mostly on dim 1, channels)
};
/// "permuted" / "blocked".
Expected<LayoutMix> parseLayoutMix(const std::string &text);

/// A random layout valid for `shape` (row-major when the shape has nothing to permute or tile). For blocked
/// mixes, `tileDim` (aligned to the shape's trailing dims when >= 0) is tiled by `tileSize` when it can be.
ir::Layout randomLayout(const ir::Shape &shape, std::mt19937 &rng, LayoutMix mix, int tileDim = -1,
                        int64_t tileSize = 8);

/// Gives every intermediate value (not constants, graph inputs or outputs) a random layout with probability
/// `probability`; one tile size for the whole graph, so that neighbouring blocked values agree. Returns the
/// number of values given a layout other than row-major.
int assignRandomLayouts(ir::Graph &graph, std::mt19937 &rng, LayoutMix mix, double probability = 0.7);

/// For graphs of one node between graph inputs and outputs (the ONNX conformance cases): converts the node's
/// graph-input operands to random layouts before it and makes it write its graph outputs in random layouts,
/// converted back after it, so the node's own kernel reads and writes them. Operands share one tile plan; about
/// one input in five and one output in three keep row-major (kernels that take permuted inputs only).
Status exposeNodesToLayouts(ir::Graph &graph, std::mt19937 &rng, LayoutMix mix);

/// Empty when `actual` is within `fluidml run --check`'s tolerance of `expected` (|a - e| <= 1e-4 |e| +
/// 1e-5 max(1, max |e|)), else the first element that is not.
std::string compareWithReference(const ir::Tensor &actual, const ir::Tensor &expected);

/// codegen::checkNodeLayouts for passes::legalizeLayouts; returns the number of Relayouts inserted.
Expected<int> legalizeForCodegen(ir::Graph &graph);

}  // namespace fluidml::test
