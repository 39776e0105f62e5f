// Memory-aware operator scheduling by greedy list scheduling.
//
// Algorithm: the peak of an order is the maximum over steps of the bytes of intermediate values alive at that
// step (a sweep over lifetime intervals, O(nodes + uses)). The list scheduler keeps the set of ready nodes and
// repeatedly runs the one whose step grows the live set least: bytes of the outputs it allocates minus bytes
// of the operands whose last remaining reader it is (the classic register-pressure heuristic of Sethi-Ullman
// style list schedulers, as used for activation memory by e.g. TFLite's and Glow's operator reordering).
// Zero-copy views (as the memory planner makes them) share their operand's buffer, which lives until the last
// reader of any of its views. Tie-breaking variants (import position, continue the latest chain, depth-first)
// each give an order; each order is measured by the memory planner's lower bound (views and in-place writes
// included), ties broken by the plain peak, and the best one wins. The import order is a candidate and wins
// ties, so the result is never worse than it.
// Complexity: O(nodes x ready x degree) per heuristic, plus one memory plan per candidate; ready sets stay
// small on real models.
#include "core/analysis/scheduling.h"

#include <algorithm>
#include <cstdint>
#include <tuple>

#include "core/analysis/memory_plan.h"

namespace fluidml::analysis {

namespace {

size_t roundUp(size_t bytes, size_t alignment) {
  return alignment <= 1 ? bytes : (bytes + alignment - 1) / alignment * alignment;
}

/// Whether a produced value occupies intermediate memory (graph outputs live outside the arena).
bool isTracked(const ir::Graph &graph, ir::ValueId id) {
  const ir::Value &v = graph.value(id);
  return v.alive && !v.isConstant() && v.producer != ir::kNoNode && !graph.isGraphOutput(id);
}

/// Buffers the scheduler accounts for: by value id, the index of the buffer holding the value (-1: none).
struct Buffers {
  std::vector<int> ofValue;
  std::vector<size_t> bytes;
  std::vector<ir::ValueId> root;  // the value whose producer allocates the buffer
};

/// One buffer per intermediate value, except that zero-copy views join their operand's buffer. The views come
/// from the memory planner itself (they do not depend on the order; in-place writes do, and are left out).
Buffers planBuffers(const ir::Graph &graph, size_t alignment) {
  Buffers buffers;
  buffers.ofValue.assign(graph.valueCapacity(), -1);
  MemoryPlanOptions options;
  options.planner = "naive";
  options.alignment = static_cast<uint32_t>(alignment);
  options.inPlace = false;
  Expected<MemoryPlan> plan = planMemory(graph, options);
  if (plan.hasValue()) {
    for (const ArenaBuffer &buffer : plan->buffers) {
      buffers.bytes.push_back(buffer.bytes);
      buffers.root.push_back(buffer.root);
    }
    for (size_t v = 0; v < plan->storage.size(); ++v)
      if (isTracked(graph, static_cast<ir::ValueId>(v))) buffers.ofValue[v] = plan->storage[v].buffer;
    return buffers;
  }
  // Without a plan (an alignment the planner rejects) every value is its own buffer.
  for (ir::NodeId id : graph.order())
    for (ir::ValueId out : graph.node(id).outputs) {
      if (out == ir::kNoValue || !isTracked(graph, out)) continue;
      buffers.ofValue[static_cast<size_t>(out)] = static_cast<int>(buffers.bytes.size());
      buffers.bytes.push_back(roundUp(graph.value(out).type.bytes(), alignment));
      buffers.root.push_back(out);
    }
  return buffers;
}

/// The dependency structure the list scheduler works on, with dense local indices.
struct Problem {
  std::vector<ir::NodeId> nodes;              // local index -> node id, in the graph's current order
  std::vector<std::vector<int>> freeable;     // per node: distinct buffers among its operands
  std::vector<std::vector<int>> successors;   // per node: distinct nodes reading one of its outputs
  std::vector<int> predecessorCount;          // per node: distinct producing nodes among its operands
  std::vector<int64_t> allocatedBytes;        // per node: buffers it allocates that outlive its step
  std::vector<size_t> bufferBytes;            // per buffer
  std::vector<int> readerCount;               // per buffer: distinct nodes reading any of its values
};

template <typename T>
void sortUnique(std::vector<T> &items) {
  std::sort(items.begin(), items.end());
  items.erase(std::unique(items.begin(), items.end()), items.end());
}

Problem buildProblem(const ir::Graph &graph, size_t alignment) {
  Problem p;
  p.nodes = graph.order();
  const size_t n = p.nodes.size();
  std::vector<int> localOf(graph.nodeCapacity(), -1);
  for (size_t i = 0; i < n; ++i) localOf[static_cast<size_t>(p.nodes[i])] = static_cast<int>(i);
  const Buffers buffers = planBuffers(graph, alignment);
  p.bufferBytes = buffers.bytes;
  p.freeable.resize(n);
  p.successors.resize(n);
  p.predecessorCount.assign(n, 0);
  p.allocatedBytes.assign(n, 0);
  p.readerCount.assign(buffers.bytes.size(), 0);

  for (size_t i = 0; i < n; ++i) {
    const ir::Node &node = graph.node(p.nodes[i]);
    std::vector<int> producers;
    for (ir::ValueId in : node.inputs) {
      if (in == ir::kNoValue) continue;
      const ir::Value &v = graph.value(in);
      if (v.producer != ir::kNoNode && localOf[static_cast<size_t>(v.producer)] >= 0)
        producers.push_back(localOf[static_cast<size_t>(v.producer)]);
      if (buffers.ofValue[static_cast<size_t>(in)] >= 0) p.freeable[i].push_back(buffers.ofValue[static_cast<size_t>(in)]);
    }
    sortUnique(producers);
    sortUnique(p.freeable[i]);
    p.predecessorCount[i] = static_cast<int>(producers.size());
    for (int producer : producers) p.successors[static_cast<size_t>(producer)].push_back(static_cast<int>(i));
    for (int b : p.freeable[i]) ++p.readerCount[static_cast<size_t>(b)];
  }
  for (size_t b = 0; b < buffers.root.size(); ++b) {
    // A buffer nobody reads is freed at its producer's step: it adds to that step only.
    if (p.readerCount[b] == 0) continue;
    const int producer = localOf[static_cast<size_t>(graph.value(buffers.root[b]).producer)];
    p.allocatedBytes[static_cast<size_t>(producer)] += static_cast<int64_t>(p.bufferBytes[b]);
  }
  return p;
}

std::vector<ir::NodeId> listSchedule(const Problem &p, ScheduleHeuristic heuristic) {
  const size_t n = p.nodes.size();
  std::vector<int> pending = p.predecessorCount;
  std::vector<int> remainingReaders = p.readerCount;
  std::vector<int> recency(n, -1);  // the latest step that produced one of the node's operands
  std::vector<int> ready;
  for (size_t i = 0; i < n; ++i)
    if (pending[i] == 0) ready.push_back(static_cast<int>(i));

  // Smaller keys win; the import position (the local index) makes every key unique, so the run is deterministic.
  auto key = [&](int u) {
    int64_t delta = p.allocatedBytes[static_cast<size_t>(u)];
    for (int v : p.freeable[static_cast<size_t>(u)])
      if (remainingReaders[static_cast<size_t>(v)] == 1) delta -= static_cast<int64_t>(p.bufferBytes[static_cast<size_t>(v)]);
    int64_t lateness = -static_cast<int64_t>(recency[static_cast<size_t>(u)]);
    switch (heuristic) {
      case ScheduleHeuristic::Greedy: return std::make_tuple(delta, int64_t{0}, u);
      case ScheduleHeuristic::GreedyChain: return std::make_tuple(delta, lateness, u);
      case ScheduleHeuristic::DepthFirst: return std::make_tuple(lateness, delta, u);
    }
    return std::make_tuple(delta, int64_t{0}, u);
  };

  std::vector<ir::NodeId> order;
  order.reserve(n);
  while (!ready.empty()) {
    size_t best = 0;
    auto bestKey = key(ready[0]);
    for (size_t r = 1; r < ready.size(); ++r) {
      auto k = key(ready[r]);
      if (k < bestKey) {
        bestKey = k;
        best = r;
      }
    }
    int u = ready[best];
    ready[best] = ready.back();
    ready.pop_back();
    const int step = static_cast<int>(order.size());
    order.push_back(p.nodes[static_cast<size_t>(u)]);
    for (int v : p.freeable[static_cast<size_t>(u)]) --remainingReaders[static_cast<size_t>(v)];
    for (int s : p.successors[static_cast<size_t>(u)]) {
      recency[static_cast<size_t>(s)] = step;
      if (--pending[static_cast<size_t>(s)] == 0) ready.push_back(s);
    }
  }
  // A cycle leaves nodes unscheduled: the caller sees a short order and drops it.
  return order;
}

}  // namespace

std::string_view scheduleHeuristicName(ScheduleHeuristic heuristic) {
  switch (heuristic) {
    case ScheduleHeuristic::Greedy: return "greedy";
    case ScheduleHeuristic::GreedyChain: return "greedy-chain";
    case ScheduleHeuristic::DepthFirst: return "depth-first";
  }
  return "greedy";
}

bool isTopologicalOrder(const ir::Graph &graph, const std::vector<ir::NodeId> &order) {
  std::vector<int> position(graph.nodeCapacity(), -1);
  for (size_t i = 0; i < order.size(); ++i) {
    ir::NodeId id = order[i];
    if (id < 0 || static_cast<size_t>(id) >= graph.nodeCapacity() || !graph.node(id).alive) return false;
    if (position[static_cast<size_t>(id)] != -1) return false;
    position[static_cast<size_t>(id)] = static_cast<int>(i);
  }
  for (size_t id = 0; id < graph.nodeCapacity(); ++id) {
    const ir::Node &node = graph.node(static_cast<ir::NodeId>(id));
    if (!node.alive) continue;
    if (position[id] == -1) return false;
    for (ir::ValueId in : node.inputs) {
      if (in == ir::kNoValue) continue;
      ir::NodeId producer = graph.value(in).producer;
      if (producer != ir::kNoNode && position[static_cast<size_t>(producer)] >= position[id]) return false;
    }
  }
  return true;
}

std::vector<size_t> liveBytesPerStep(const ir::Graph &graph, const std::vector<ir::NodeId> &order,
                                     size_t alignment) {
  std::vector<int> stepOf(graph.nodeCapacity(), -1);
  for (size_t i = 0; i < order.size(); ++i) stepOf[static_cast<size_t>(order[i])] = static_cast<int>(i);
  // Difference array over steps: +bytes at the producer's step, -bytes after the last reader's step.
  std::vector<int64_t> delta(order.size() + 1, 0);
  for (size_t step = 0; step < order.size(); ++step) {
    for (ir::ValueId out : graph.node(order[step]).outputs) {
      if (out == ir::kNoValue || !isTracked(graph, out)) continue;
      const ir::Value &v = graph.value(out);
      int last = static_cast<int>(step);
      for (const ir::Use &use : v.uses) last = std::max(last, stepOf[static_cast<size_t>(use.node)]);
      int64_t bytes = static_cast<int64_t>(roundUp(v.type.bytes(), alignment));
      delta[step] += bytes;
      delta[static_cast<size_t>(last) + 1] -= bytes;
    }
  }
  std::vector<size_t> live(order.size(), 0);
  int64_t running = 0;
  for (size_t step = 0; step < order.size(); ++step) {
    running += delta[step];
    live[step] = static_cast<size_t>(running);
  }
  return live;
}

size_t peakLiveBytes(const ir::Graph &graph, const std::vector<ir::NodeId> &order, size_t alignment) {
  std::vector<size_t> live = liveBytesPerStep(graph, order, alignment);
  return live.empty() ? 0 : *std::max_element(live.begin(), live.end());
}

size_t peakFloorBytes(const ir::Graph &graph, size_t alignment) {
  size_t floor = 0;
  for (ir::NodeId id : graph.order()) {
    const ir::Node &node = graph.node(id);
    std::vector<ir::ValueId> touched;
    for (ir::ValueId in : node.inputs)
      if (in != ir::kNoValue && isTracked(graph, in)) touched.push_back(in);
    for (ir::ValueId out : node.outputs)
      if (out != ir::kNoValue && isTracked(graph, out)) touched.push_back(out);
    sortUnique(touched);
    size_t bytes = 0;
    for (ir::ValueId v : touched) bytes += roundUp(graph.value(v).type.bytes(), alignment);
    floor = std::max(floor, bytes);
  }
  return floor;
}

size_t planLowerBoundBytes(const ir::Graph &graph, const std::vector<ir::NodeId> &order, size_t alignment) {
  // The planner reads the graph's own order: plan a structural copy (constant buffers are shared).
  ir::Graph scheduled = graph.clone();
  scheduled.setOrder(order);
  MemoryPlanOptions options;
  options.planner = "naive";  // the lower bound does not depend on the placement
  options.alignment = static_cast<uint32_t>(alignment);
  Expected<MemoryPlan> plan = planMemory(scheduled, options);
  return plan.hasValue() ? plan->lowerBoundBytes : peakLiveBytes(graph, order, alignment);
}

std::vector<ir::NodeId> greedySchedule(const ir::Graph &graph, ScheduleHeuristic heuristic, size_t alignment) {
  return listSchedule(buildProblem(graph, alignment), heuristic);
}

MemoryAwareSchedule scheduleMemoryAware(const ir::Graph &graph, size_t alignment) {
  MemoryAwareSchedule result;
  result.order = graph.order();
  result.winner = "import";
  result.importPeakBytes = result.peakBytes = peakLiveBytes(graph, result.order, alignment);
  result.importPlanLowerBoundBytes = result.planLowerBoundBytes = planLowerBoundBytes(graph, result.order, alignment);
  result.floorBytes = peakFloorBytes(graph, alignment);
  result.candidates.push_back({"import", result.peakBytes, result.planLowerBoundBytes});

  const Problem problem = buildProblem(graph, alignment);
  for (ScheduleHeuristic heuristic :
       {ScheduleHeuristic::Greedy, ScheduleHeuristic::GreedyChain, ScheduleHeuristic::DepthFirst}) {
    std::vector<ir::NodeId> order = listSchedule(problem, heuristic);
    if (order.size() != problem.nodes.size()) continue;  // a cyclic graph: keep its order
    ScheduleCandidate candidate{std::string(scheduleHeuristicName(heuristic)), peakLiveBytes(graph, order, alignment),
                                planLowerBoundBytes(graph, order, alignment)};
    result.candidates.push_back(candidate);
    // The plan's lower bound decides (it is what the arena can reach); the plain peak, blind to views and
    // in-place writes, only breaks ties. Strictly better wins, so earlier candidates (the import order first)
    // win ties.
    if (std::make_pair(candidate.planLowerBoundBytes, candidate.peakBytes) <
        std::make_pair(result.planLowerBoundBytes, result.peakBytes)) {
      result.order = std::move(order);
      result.winner = candidate.name;
      result.peakBytes = candidate.peakBytes;
      result.planLowerBoundBytes = candidate.planLowerBoundBytes;
    }
  }
  return result;
}

}  // namespace fluidml::analysis
