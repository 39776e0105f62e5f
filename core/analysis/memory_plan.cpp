// Memory planning (FluidML §4, "memory"): lifetimes in the schedule, aliasing, then placement.
//  1. Liveness: a value produced at step s and last read at step e lives [s, e]; its bytes are free again at
//     step e+1 (the node at step e still reads them).
//  2. Aliasing, in one walk over the order: a view op (Reshape, Flatten, Squeeze, Unsqueeze, Identity,
//     inference Dropout) makes its output a zero-copy view of operand 0; an elementwise op writes in place
//     over an operand whose alias group nobody reads afterwards. A view or in-place value joins its operand's
//     alias group, and each group becomes one arena buffer living from its root's definition to the last read
//     of any member. Graph inputs, graph outputs and constants stay outside the arena.
//  3. Placement of the buffers (placement.cpp): naive, greedy by size into the best-fitting gap, or the best
//     of several greedy orders. O(n^2 log n) in the number of buffers.
// checkMemoryPlan re-derives every rule from the graph alone, so a planner bug cannot hide behind itself.
#include "core/analysis/memory_plan.h"

#include <algorithm>
#include <limits>

#include "core/analysis/liveness.h"
#include "core/analysis/placement.h"
#include "core/ops/op_registry.h"

namespace fluidml::analysis {

namespace {

bool sameLayout(const ir::TensorType &a, const ir::TensorType &b) { return a.layout == b.layout; }

/// Ops whose output 0 has operand 0's bytes unchanged (only the shape differs).
bool isViewOpType(const ir::Node &node) {
  if (!node.domain.empty()) return false;
  static const char *const kViewOps[] = {"Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity", "Dropout"};
  return std::any_of(std::begin(kViewOps), std::end(kViewOps), [&](const char *op) { return node.opType == op; });
}

/// Dropout is the identity at inference, but only a view when nothing needs its mask (nobody computes it).
bool maskUnused(const ir::Graph &graph, const ir::Node &node) {
  const ir::ValueId mask = node.output(1);
  return mask == ir::kNoValue || (graph.value(mask).uses.empty() && !graph.isGraphOutput(mask));
}

/// Dropout's kernel rejects training mode at run time; skipping the kernel is only right when the mode is
/// known to be inference (absent, or a constant false).
bool inferenceDropout(const ir::Graph &graph, const ir::Node &node) {
  if (!node.hasInput(2)) return true;
  const ir::Value &training = graph.value(node.inputs[2]);
  return training.isConstant() && training.constant.numel() == 1 && training.constant.elementAsInt(0) == 0;
}

/// A node whose output 0 may be a view of operand 0 (types permitting).
bool isViewNode(const ir::Graph &graph, const ir::Node &node) {
  if (!isViewOpType(node) || !node.hasInput(0) || node.output(0) == ir::kNoValue) return false;
  if (node.opType == "Dropout") return maskUnused(graph, node) && inferenceDropout(graph, node);
  return node.outputs.size() == 1;
}

bool isElementwise(const ir::Node &node) {
  const ops::OpSchema *schema = ops::OpRegistry::instance().find(node.domain, node.opType);
  return schema != nullptr && schema->family == "elementwise";
}

/// Sum/Mean/Min/Max fold their operands into the output starting from the one that aliases it; in place over
/// any operand but the first that would change the order of the (non-associative) float operations.
bool isVariadic(const ir::Node &node) {
  return node.domain.empty() &&
         (node.opType == "Sum" || node.opType == "Mean" || node.opType == "Min" || node.opType == "Max");
}

std::string describeValue(const ir::Graph &graph, ir::ValueId value) {
  return "value '" + graph.value(value).name + "' (#" + std::to_string(value) + ")";
}

}  // namespace

std::string_view storageKindName(StorageKind kind) {
  switch (kind) {
    case StorageKind::None: return "none";
    case StorageKind::External: return "external";
    case StorageKind::Arena: return "arena";
    case StorageKind::InPlace: return "in-place";
    case StorageKind::View: return "view";
  }
  return "none";
}

int64_t MemoryPlan::offsetOf(ir::ValueId value) const {
  if (value < 0 || static_cast<size_t>(value) >= storage.size()) return -1;
  const int buffer = storage[static_cast<size_t>(value)].buffer;
  if (buffer < 0 || static_cast<size_t>(buffer) >= buffers.size()) return -1;
  return static_cast<int64_t>(buffers[static_cast<size_t>(buffer)].offset);
}

Expected<MemoryPlan> planMemory(const ir::Graph &graph, const MemoryPlanOptions &options) {
  if (options.planner != "naive" && options.planner != "greedy-size" && options.planner != "best-of")
    return Status::error("memory plan: unknown planner '" + options.planner +
                         "' (valid: 'naive', 'greedy-size', 'best-of')");
  if (!isPowerOfTwo(options.alignment))
    return Status::error("memory plan: alignment must be a power of two, got " + std::to_string(options.alignment));

  MemoryPlan plan;
  plan.planner = options.planner;
  plan.alignment = options.alignment;
  plan.storage.assign(graph.valueCapacity(), ValueStorage{});
  const Liveness liveness = computeLiveness(graph);
  auto storageOf = [&](ir::ValueId v) -> ValueStorage & { return plan.storage[static_cast<size_t>(v)]; };

  for (ir::ValueId v : graph.inputs()) storageOf(v).kind = StorageKind::External;
  for (ir::ValueId v : graph.constants()) storageOf(v).kind = StorageKind::External;
  for (ir::ValueId v : graph.outputs())
    if (v != ir::kNoValue) storageOf(v).kind = StorageKind::External;

  // The last step reading any member of each buffer's alias group (members only join through a node that
  // reads a member, so the members seen so far decide whether a later node may still read the group).
  std::vector<int> groupLastUse;
  const auto &order = graph.order();
  for (size_t stepIndex = 0; stepIndex < order.size(); ++stepIndex) {
    const int step = static_cast<int>(stepIndex);
    const ir::Node &node = graph.node(order[stepIndex]);
    const bool viewNode = options.views && isViewNode(graph, node);
    for (size_t o = 0; o < node.outputs.size(); ++o) {
      const ir::ValueId out = node.outputs[o];
      if (out == ir::kNoValue) continue;
      ValueStorage &storage = storageOf(out);
      if (storage.kind == StorageKind::External) continue;  // a graph output gets its own tensor
      plan.naiveBytes += alignUp(graph.value(out).type.bytes(), options.alignment);
      const ir::TensorType &outType = graph.value(out).type;
      const int end = liveness.endStep(out);

      auto joinGroup = [&](StorageKind kind, ir::ValueId operand) {
        storage.kind = kind;
        storage.aliasOf = operand;
        storage.buffer = storageOf(operand).buffer;
        if (storage.buffer >= 0) {
          ArenaBuffer &buffer = plan.buffers[static_cast<size_t>(storage.buffer)];
          buffer.lastStep = std::max(buffer.lastStep, end);
          groupLastUse[static_cast<size_t>(storage.buffer)] =
              std::max(groupLastUse[static_cast<size_t>(storage.buffer)], liveness.lastUse[static_cast<size_t>(out)]);
        }
      };

      if (viewNode && o == 0) {
        const ir::ValueId operand = node.inputs[0];
        const ir::TensorType &inType = graph.value(operand).type;
        if (inType.bytes() == outType.bytes() && inType.layout.isRowMajor() && outType.layout.isRowMajor()) {
          joinGroup(StorageKind::View, operand);
          ++plan.viewReuses;
          continue;
        }
      }
      if (viewNode && o == 1) continue;  // Dropout's unused mask: the skipped kernel would have made it

      if (options.inPlace && isElementwise(node)) {
        ir::ValueId chosen = ir::kNoValue;
        const size_t candidates = isVariadic(node) ? std::min<size_t>(1, node.inputs.size()) : node.inputs.size();
        for (size_t k = 0; k < candidates && chosen == ir::kNoValue; ++k) {
          const ir::ValueId operand = node.inputs[k];
          if (operand == ir::kNoValue) continue;
          const int buffer = storageOf(operand).buffer;
          if (buffer < 0) continue;  // external, or a view of something external: not ours to overwrite
          if (groupLastUse[static_cast<size_t>(buffer)] != step) continue;  // read again later
          const ir::TensorType &inType = graph.value(operand).type;
          if (inType.shape != outType.shape || inType.bytes() != outType.bytes() || !sameLayout(inType, outType))
            continue;
          if (isVariadic(node)) {
            // Another operand in the same group would be read through the output: see isVariadic.
            bool shared = false;
            for (size_t j = 1; j < node.inputs.size(); ++j)
              shared = shared || (node.inputs[j] != ir::kNoValue && storageOf(node.inputs[j]).buffer == buffer);
            if (shared) continue;
          }
          chosen = operand;
        }
        if (chosen != ir::kNoValue) {
          joinGroup(StorageKind::InPlace, chosen);
          ++plan.inPlaceReuses;
          continue;
        }
      }

      storage.kind = StorageKind::Arena;
      storage.buffer = static_cast<int>(plan.buffers.size());
      ArenaBuffer buffer;
      buffer.root = out;
      buffer.bytes = alignUp(outType.bytes(), options.alignment);
      buffer.firstStep = step;
      buffer.lastStep = end;
      plan.buffers.push_back(buffer);
      groupLastUse.push_back(liveness.lastUse[static_cast<size_t>(out)]);
    }
  }

  std::vector<BufferRequest> requests;
  requests.reserve(plan.buffers.size());
  for (const ArenaBuffer &b : plan.buffers) requests.push_back({b.bytes, b.firstStep, b.lastStep});
  plan.lowerBoundBytes = lifetimeLowerBound(requests);
  Placement placement = options.planner == "naive"         ? placeNaive(requests, options.alignment)
                        : options.planner == "greedy-size" ? placeGreedyBySize(requests, options.alignment)
                                                           : placeBestOf(requests, options.alignment);
  plan.arenaBytes = placement.arenaBytes;
  plan.placementOrder = placement.order;
  for (size_t i = 0; i < plan.buffers.size(); ++i) plan.buffers[i].offset = placement.offsets[i];
  return plan;
}

Status checkMemoryPlan(const ir::Graph &graph, const MemoryPlan &plan) {
  auto fail = [](const std::string &message) { return Status::error("memory plan: " + message); };
  if (!isPowerOfTwo(plan.alignment))
    return fail("alignment " + std::to_string(plan.alignment) + " is not a power of two");
  if (plan.storage.size() != graph.valueCapacity())
    return fail("storage for " + std::to_string(plan.storage.size()) + " values, the graph has " +
                std::to_string(graph.valueCapacity()));
  const auto &order = graph.order();
  const int steps = static_cast<int>(order.size());

  // Liveness, re-derived here rather than shared with the planner.
  std::vector<int> defStep(graph.valueCapacity(), -1), lastUse(graph.valueCapacity(), -1);
  for (int step = 0; step < steps; ++step) {
    const ir::Node &node = graph.node(order[static_cast<size_t>(step)]);
    for (ir::ValueId in : node.inputs)
      if (in != ir::kNoValue) lastUse[static_cast<size_t>(in)] = step;
    for (ir::ValueId out : node.outputs)
      if (out != ir::kNoValue) defStep[static_cast<size_t>(out)] = step;
  }

  // Buffers: aligned, inside the arena, each the buffer of its root.
  size_t top = 0;
  for (size_t i = 0; i < plan.buffers.size(); ++i) {
    const ArenaBuffer &b = plan.buffers[i];
    const std::string name = "buffer " + std::to_string(i);
    if (b.root < 0 || static_cast<size_t>(b.root) >= plan.storage.size()) return fail(name + " has no valid root");
    const ValueStorage &rootStorage = plan.storage[static_cast<size_t>(b.root)];
    if (rootStorage.kind != StorageKind::Arena || rootStorage.buffer != static_cast<int>(i))
      return fail(name + ": its root " + describeValue(graph, b.root) + " is not an arena value of that buffer");
    if (b.offset % plan.alignment != 0 || b.bytes % plan.alignment != 0)
      return fail(name + " (offset " + std::to_string(b.offset) + ", " + std::to_string(b.bytes) +
                  " bytes) is not aligned to " + std::to_string(plan.alignment));
    if (b.bytes > plan.arenaBytes || b.offset > plan.arenaBytes - b.bytes)
      return fail(name + " (offset " + std::to_string(b.offset) + ", " + std::to_string(b.bytes) +
                  " bytes) ends past the arena of " + std::to_string(plan.arenaBytes) + " bytes");
    if (b.firstStep < 0 || b.firstStep > b.lastStep || b.lastStep >= steps)
      return fail(name + " has an invalid lifetime [" + std::to_string(b.firstStep) + ", " +
                  std::to_string(b.lastStep) + "]");
    top = std::max(top, b.offset + b.bytes);
  }
  // No two buffers live at a common step share a byte.
  for (size_t i = 0; i < plan.buffers.size(); ++i)
    for (size_t j = i + 1; j < plan.buffers.size(); ++j) {
      const ArenaBuffer &a = plan.buffers[i], &b = plan.buffers[j];
      const bool timeOverlap = a.firstStep <= b.lastStep && b.firstStep <= a.lastStep;
      const bool byteOverlap = a.offset < b.offset + b.bytes && b.offset < a.offset + a.bytes;
      if (timeOverlap && byteOverlap && a.bytes != 0 && b.bytes != 0)
        return fail("buffers " + std::to_string(i) + " (" + describeValue(graph, a.root) + ") and " +
                    std::to_string(j) + " (" + describeValue(graph, b.root) +
                    ") are live at the same step and share bytes");
    }

  // External exactly for graph inputs, outputs and constants.
  std::vector<char> external(graph.valueCapacity(), 0);
  for (ir::ValueId v : graph.inputs()) external[static_cast<size_t>(v)] = 1;
  for (ir::ValueId v : graph.constants()) external[static_cast<size_t>(v)] = 1;
  for (ir::ValueId v : graph.outputs())
    if (v != ir::kNoValue) external[static_cast<size_t>(v)] = 1;
  int inPlace = 0, views = 0;
  for (size_t v = 0; v < plan.storage.size(); ++v) {
    const ValueStorage &s = plan.storage[v];
    const ir::ValueId id = static_cast<ir::ValueId>(v);
    if (external[v] && s.kind != StorageKind::External)
      return fail(describeValue(graph, id) + " is a graph input, output or constant but has storage '" +
                  std::string(storageKindName(s.kind)) + "'");
    if (!external[v] && s.kind == StorageKind::External)
      return fail(describeValue(graph, id) + " is external but is no graph input, output or constant");
    if (s.kind == StorageKind::InPlace) ++inPlace;
    if (s.kind == StorageKind::View) ++views;
    if (s.kind == StorageKind::None || s.kind == StorageKind::External) continue;
    if (s.buffer >= static_cast<int>(plan.buffers.size()))
      return fail(describeValue(graph, id) + " names buffer " + std::to_string(s.buffer) + " of " +
                  std::to_string(plan.buffers.size()));
    if (s.kind == StorageKind::Arena) {
      if (s.buffer < 0 || plan.buffers[static_cast<size_t>(s.buffer)].root != id)
        return fail(describeValue(graph, id) + " is an arena root without its own buffer");
      continue;
    }
    if (s.aliasOf < 0 || static_cast<size_t>(s.aliasOf) >= plan.storage.size())
      return fail(describeValue(graph, id) + " aliases no valid value");
    const ValueStorage &target = plan.storage[static_cast<size_t>(s.aliasOf)];
    if (s.buffer != target.buffer)
      return fail(describeValue(graph, id) + " is not in the buffer of the value it aliases");
    if (s.kind == StorageKind::InPlace && s.buffer < 0)
      return fail(describeValue(graph, id) + " is in place over a value outside the arena");
    if (s.kind == StorageKind::View && s.buffer < 0 && target.kind != StorageKind::External &&
        !(target.kind == StorageKind::View && target.buffer < 0))
      return fail(describeValue(graph, id) + " is a view of a value without storage");
  }
  if (inPlace != plan.inPlaceReuses || views != plan.viewReuses)
    return fail("the counts of in-place values (" + std::to_string(plan.inPlaceReuses) + ") or views (" +
                std::to_string(plan.viewReuses) + ") do not match the storage (" + std::to_string(inPlace) + ", " +
                std::to_string(views) + ")");

  // Members of each buffer, for the in-place rule below.
  std::vector<std::vector<ir::ValueId>> members(plan.buffers.size());
  for (size_t v = 0; v < plan.storage.size(); ++v)
    if (plan.storage[v].buffer >= 0 && plan.storage[v].kind != StorageKind::External &&
        plan.storage[v].kind != StorageKind::None)
      members[static_cast<size_t>(plan.storage[v].buffer)].push_back(static_cast<ir::ValueId>(v));

  // Per node: every output has storage that its op allows, inside its buffer's lifetime.
  for (int step = 0; step < steps; ++step) {
    const ir::Node &node = graph.node(order[static_cast<size_t>(step)]);
    for (size_t o = 0; o < node.outputs.size(); ++o) {
      const ir::ValueId out = node.outputs[o];
      if (out == ir::kNoValue) continue;
      const ValueStorage &s = plan.storage[static_cast<size_t>(out)];
      const ir::TensorType &type = graph.value(out).type;
      const std::string where = describeValue(graph, out) + " of " + ops::describeNode(node);
      if (s.kind == StorageKind::External) continue;
      if (s.kind == StorageKind::None) {
        const bool droppedMask = node.domain.empty() && node.opType == "Dropout" && o == 1 &&
                                 maskUnused(graph, node) &&
                                 plan.storage[static_cast<size_t>(node.outputs[0])].kind == StorageKind::View;
        if (!droppedMask) return fail(where + " has no storage");
        continue;
      }
      if (s.kind == StorageKind::View) {
        if (!isViewNode(graph, node) || o != 0 || s.aliasOf != node.inputs[0])
          return fail(where + " is a view, but only output 0 of a view op may view its operand 0");
        const ir::TensorType &inType = graph.value(s.aliasOf).type;
        if (inType.bytes() != type.bytes() || !inType.layout.isRowMajor() || !type.layout.isRowMajor())
          return fail(where + " is a view of an operand of another size or layout");
      }
      if (s.kind == StorageKind::InPlace) {
        if (!isElementwise(node) ||
            std::find(node.inputs.begin(), node.inputs.end(), s.aliasOf) == node.inputs.end())
          return fail(where + " is in place, but only elementwise ops may overwrite one of their operands");
        const ir::TensorType &inType = graph.value(s.aliasOf).type;
        if (inType.shape != type.shape || inType.bytes() != type.bytes() || !sameLayout(inType, type))
          return fail(where + " is in place over an operand of another shape or size");
        // Overwriting the group at this step: no member defined earlier may be read later.
        for (ir::ValueId member : members[static_cast<size_t>(s.buffer)])
          if (defStep[static_cast<size_t>(member)] < step && lastUse[static_cast<size_t>(member)] > step)
            return fail(where + " overwrites " + describeValue(graph, member) + ", which is read at step " +
                        std::to_string(lastUse[static_cast<size_t>(member)]));
      }
      if (s.buffer < 0) continue;  // a view of an external value
      const ArenaBuffer &b = plan.buffers[static_cast<size_t>(s.buffer)];
      const int end = std::max(step, lastUse[static_cast<size_t>(out)]);
      if (b.bytes < type.bytes())
        return fail(where + " needs " + std::to_string(type.bytes()) + " bytes, its buffer has " +
                    std::to_string(b.bytes));
      if (b.firstStep > step || b.lastStep < end)
        return fail(where + " lives [" + std::to_string(step) + ", " + std::to_string(end) +
                    "] outside its buffer's lifetime [" + std::to_string(b.firstStep) + ", " +
                    std::to_string(b.lastStep) + "]");
    }
  }
  // Values with storage that no node in the order produces would never be written.
  for (size_t v = 0; v < plan.storage.size(); ++v) {
    const StorageKind kind = plan.storage[v].kind;
    if (kind != StorageKind::None && kind != StorageKind::External && defStep[v] < 0)
      return fail(describeValue(graph, static_cast<ir::ValueId>(v)) + " has storage but no node produces it");
  }

  std::vector<BufferRequest> requests;
  for (const ArenaBuffer &b : plan.buffers) requests.push_back({b.bytes, b.firstStep, b.lastStep});
  const size_t bound = lifetimeLowerBound(requests);
  if (bound != plan.lowerBoundBytes)
    return fail("lower bound " + std::to_string(plan.lowerBoundBytes) + " does not match the buffers (" +
                std::to_string(bound) + ")");
  if (top > plan.arenaBytes || plan.arenaBytes < bound)
    return fail("arena of " + std::to_string(plan.arenaBytes) + " bytes is below the lower bound " +
                std::to_string(bound));
  return Status::ok();
}

}  // namespace fluidml::analysis
