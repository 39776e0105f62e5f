// Memory planning: every intermediate tensor gets an offset in one arena, by lifetimes in the graph's order.
// Model inputs, outputs and constants live outside the arena. Elementwise ops may write in place over an
// operand that dies at that node; Reshape/Flatten/Squeeze/Unsqueeze (and Identity) are zero-copy views of
// their operand. In-place and view values join their operand's alias group; each group is one buffer.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/ir/graph.h"

namespace fluidml::analysis {

/// Where a value's bytes live at run time.
enum class StorageKind : uint8_t {
  None,      // no storage: removed value or omitted output
  External,  // graph input, graph output or constant: allocated outside the arena
  Arena,     // the root of an alias group with its own arena buffer
  InPlace,   // written over its operand `aliasOf` (an elementwise op whose operand dies at that node)
  View,      // a zero-copy view of its operand `aliasOf` (no kernel runs)
};
std::string_view storageKindName(StorageKind kind);

struct ValueStorage {
  StorageKind kind = StorageKind::None;
  ir::ValueId aliasOf = ir::kNoValue;  // InPlace/View: the operand whose bytes are reused
  int buffer = -1;                     // index in MemoryPlan::buffers (Arena/InPlace/View of an arena value)
};

/// One arena slot: an alias group, live over steps [firstStep, lastStep] of the order (inclusive).
struct ArenaBuffer {
  ir::ValueId root = ir::kNoValue;
  size_t bytes = 0;  // rounded up to the alignment
  int firstStep = 0;
  int lastStep = 0;
  size_t offset = 0;
};

struct MemoryPlan {
  std::string planner;        // "naive" | "greedy-size" | "best-of"
  std::string placementOrder; // the order that placed the buffers ("size-desc", ...; best-of keeps the winner)
  size_t alignment = 64;
  size_t arenaBytes = 0;
  size_t lowerBoundBytes = 0;  // max over steps of the bytes of buffers live at that step
  size_t naiveBytes = 0;       // every intermediate tensor in its own buffer (no reuse, no aliasing)
  int inPlaceReuses = 0;
  int viewReuses = 0;
  std::vector<ValueStorage> storage;  // indexed by value id
  std::vector<ArenaBuffer> buffers;

  double efficiency() const { return arenaBytes == 0 ? 1.0 : double(lowerBoundBytes) / double(arenaBytes); }
  /// Byte offset of an arena-backed value (its group's buffer), or -1.
  int64_t offsetOf(ir::ValueId value) const;
};

struct MemoryPlanOptions {
  std::string planner = "best-of";  // "naive" | "greedy-size" | "best-of"
  uint32_t alignment = 64;          // bytes, a power of two
  bool inPlace = true;
  bool views = true;
};

/// Plans the graph in its current order (graph.order() is the schedule).
Expected<MemoryPlan> planMemory(const ir::Graph &graph, const MemoryPlanOptions &options);

/// Validates a plan against the graph: alignment, buffers inside the arena, no two buffers live at the same
/// step sharing a byte, alias rules (in-place only over a same-size operand that dies at that node, views only
/// for view ops), every produced intermediate value has storage. The proof a plan is safe to execute.
Status checkMemoryPlan(const ir::Graph &graph, const MemoryPlan &plan);

// --- placement on abstract lifetimes (also used by the property tests) ----------------------------------
struct BufferRequest {
  size_t bytes = 0;
  int firstStep = 0;
  int lastStep = 0;  // inclusive
};
struct Placement {
  std::vector<size_t> offsets;  // one per request
  size_t arenaBytes = 0;
  std::string order;
};
/// max over steps of the sum of bytes live at that step: no placement can use less.
size_t lifetimeLowerBound(const std::vector<BufferRequest> &requests);
/// Every request at its own offset (prefix sums): the no-reuse baseline.
Placement placeNaive(const std::vector<BufferRequest> &requests, size_t alignment);
/// Largest first (ties: longer lifetime, then earlier start), each into the best-fitting gap among the
/// already-placed buffers that overlap it in time; gaps include offset 0 and the end.
Placement placeGreedyBySize(const std::vector<BufferRequest> &requests, size_t alignment);
/// Greedy placement under several orders (size, lifetime length, size x length, start, ...), keeping the
/// smallest arena and stopping early when it reaches the lower bound.
Placement placeBestOf(const std::vector<BufferRequest> &requests, size_t alignment);

}  // namespace fluidml::analysis
