// Type inference over a whole graph, with folding of nodes whose operands are all constants. Import uses it
// so that shape-computing subgraphs (Shape -> Gather -> Unsqueeze -> Concat -> Reshape) disappear and every
// shape becomes static.
#pragma once

#include "core/ir/graph.h"

namespace fluidml::analysis {

struct FoldOptions {
  bool fold = true;  // false: infer types only
  /// Folded results larger than this stay computed at run time (keeps weight-sized copies out of the model).
  size_t maxFoldedBytes = size_t{64} << 20;
};

struct FoldStats {
  size_t foldedNodes = 0;
  size_t removedConstants = 0;
};

/// Walks the order, infers each node's output types and folds all-constant nodes. Removes constants left
/// without uses. Errors carry the node's description.
Expected<FoldStats> inferTypesAndFold(ir::Graph &graph, const FoldOptions &options = {});

/// Removes constants that nothing reads (and that are not graph outputs). Returns how many.
size_t removeUnusedConstants(ir::Graph &graph);

}  // namespace fluidml::analysis
