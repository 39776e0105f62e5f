// Operator scheduling: the peak of live intermediate bytes that a topological order implies, and a
// memory-aware list scheduler that picks an order with a lower peak (the lower bound of the memory plan).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "core/ir/graph.h"

namespace fluidml::analysis {

/// The ready-node preference of one greedy list-scheduling run.
enum class ScheduleHeuristic {
  Greedy,       // least (allocated - freed) bytes, ties by import position
  GreedyChain,  // least (allocated - freed), ties by continuing the most recently produced value
  DepthFirst,   // continue the most recently produced value, ties by least (allocated - freed)
};
/// "greedy", "greedy-chain", "depth-first".
std::string_view scheduleHeuristicName(ScheduleHeuristic heuristic);

/// True when `order` holds every live node of the graph exactly once and each node comes after the producers
/// of its operands.
bool isTopologicalOrder(const ir::Graph &graph, const std::vector<ir::NodeId> &order);

/// Bytes of intermediate values live at each step of `order` (a topological order of the live nodes). A value
/// lives from its producer's step to its last reader's step inclusive; graph inputs, graph outputs and
/// constants are excluded. Sizes are rounded up to `alignment` (a power of two), like arena buffers.
std::vector<size_t> liveBytesPerStep(const ir::Graph &graph, const std::vector<ir::NodeId> &order,
                                     size_t alignment = 64);
/// The maximum of liveBytesPerStep (0 for an empty order).
size_t peakLiveBytes(const ir::Graph &graph, const std::vector<ir::NodeId> &order, size_t alignment = 64);
/// The largest working set of one node: the intermediate values it reads plus those it writes. Every order
/// has at least this peak, so an order that reaches it is optimal.
size_t peakFloorBytes(const ir::Graph &graph, size_t alignment = 64);
/// The memory planner's lower bound (zero-copy views and in-place writes on, as in the default memory-plan
/// pass) for the graph run in `order`.
size_t planLowerBoundBytes(const ir::Graph &graph, const std::vector<ir::NodeId> &order, size_t alignment = 64);

/// One greedy list schedule of the live nodes (deterministic; the graph's order gives the import positions).
/// Zero-copy views share their operand's bytes, as the memory planner makes them. Nodes on a cycle are left
/// out, so a cyclic graph gives a short order.
std::vector<ir::NodeId> greedySchedule(const ir::Graph &graph, ScheduleHeuristic heuristic, size_t alignment = 64);

/// One order tried by scheduleMemoryAware, with both measures of it.
struct ScheduleCandidate {
  std::string name;                // "import" or a heuristic name
  size_t peakBytes = 0;            // peakLiveBytes
  size_t planLowerBoundBytes = 0;  // planLowerBoundBytes
};

struct MemoryAwareSchedule {
  std::vector<ir::NodeId> order;  // the winning order
  std::string winner;             // name of the winning candidate ("import" when nothing beat it)
  size_t peakBytes = 0;           // peakLiveBytes of `order`
  size_t importPeakBytes = 0;     // peakLiveBytes of the graph's current order
  size_t planLowerBoundBytes = 0;        // planLowerBoundBytes of `order`
  size_t importPlanLowerBoundBytes = 0;  // planLowerBoundBytes of the graph's current order
  size_t floorBytes = 0;                 // peakFloorBytes: no order goes below it
  std::vector<ScheduleCandidate> candidates;  // every order tried, import first
};

/// Runs every heuristic and keeps the order with the lowest (plan lower bound, peak live bytes), compared in
/// that order. The current order is a candidate and wins ties, so the result is never worse than it on the plan
/// lower bound (the peak live bytes may rise only when the plan lower bound falls).
MemoryAwareSchedule scheduleMemoryAware(const ir::Graph &graph, size_t alignment = 64);

}  // namespace fluidml::analysis
