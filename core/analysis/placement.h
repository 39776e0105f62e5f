// Helpers shared by the placement algorithms (declared in memory_plan.h) and the memory planner.
#pragma once

#include <cstddef>
#include <optional>
#include <string>

#include "core/analysis/memory_plan.h"

namespace fluidml::analysis {

inline bool isPowerOfTwo(size_t value) { return value != 0 && (value & (value - 1)) == 0; }

/// `bytes` rounded up to a multiple of `alignment` (a power of two).
inline size_t alignUp(size_t bytes, size_t alignment) { return (bytes + alignment - 1) & ~(alignment - 1); }

/// True when the inclusive step ranges of two requests share a step.
inline bool overlapInTime(const BufferRequest &a, const BufferRequest &b) {
  return a.firstStep <= b.lastStep && b.firstStep <= a.lastStep;
}

/// How the offset-ordered search breaks ties between buffers that would land at the same offset.
enum class SearchTieOrder { LastStepDesc, SizeDesc, LengthDesc, AreaDesc };
std::string_view searchTieOrderName(SearchTieOrder order);

/// A placement of every request within `targetBytes`, found by depth-first search over canonical placements
/// (each buffer as low as the buffers below it allow, placed in order of offset), or nullopt when none is
/// found within `maxNodes` search nodes. Used by placeBestOf when no greedy order reaches the lower bound.
std::optional<Placement> searchPlacement(const std::vector<BufferRequest> &requests, size_t alignment,
                                         size_t targetBytes, SearchTieOrder tieOrder, size_t maxNodes);

}  // namespace fluidml::analysis
