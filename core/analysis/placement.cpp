// Offline placement of buffers with known lifetimes into one arena (a dynamic storage allocation problem,
// NP-hard in general).
//  - naive: prefix sums, no reuse. O(n).
//  - greedy by size, best fit: buffers sorted by size (largest first) each go into the smallest gap, among
//    the already-placed buffers that overlap them in time, that fits them; every gap counts, offset 0
//    included, and the end when none fits. This is TFLite's arena planner ("greedy by size") with a best-fit
//    choice of gap instead of first fit; Pisarchyk & Lee, "Efficient Memory Management for Deep Neural Net
//    Inference" (2020) describe the same family. O(n^2 log n).
//  - best-of: the same greedy under several orders (Glow's allocator tries several too), keeping the smallest
//    arena and stopping as soon as one reaches the lower bound max over steps of live bytes. O(k n^2 log n).
//    When no order reaches the bound, a depth-first search looks for a placement at the bound itself, over
//    canonical placements in the sense of MiniMalloc (Moffitt, ASPLOS 2023): every buffer rests on the
//    highest buffer below it in time (or at 0), and buffers are placed in order of offset, so a node only
//    chooses which buffer comes next. Pruned when a step's floor plus its unplaced bytes exceeds the target or
//    a buffer can no longer fit; identical buffers are interchangeable. A node costs O(n log n + lifetime); the
//    search stops after a node budget proportional to n, so best-of stays polynomial.
// All orders are total (ids break ties), so every result is deterministic.
#include <algorithm>
#include <cassert>
#include <cstdint>
#include <functional>
#include <limits>
#include <numeric>
#include <optional>
#include <random>

#include "core/analysis/placement.h"

namespace fluidml::analysis {

namespace {

/// The requests with their sizes rounded up to the alignment.
std::vector<BufferRequest> alignedRequests(const std::vector<BufferRequest> &requests, size_t alignment) {
  assert(isPowerOfTwo(alignment));
  std::vector<BufferRequest> aligned = requests;
  for (BufferRequest &r : aligned) r.bytes = alignUp(r.bytes, alignment);
  return aligned;
}

/// Best-fit greedy placement of `requests` (already aligned) visited in `order`.
Placement placeInOrder(const std::vector<BufferRequest> &requests, const std::vector<size_t> &order,
                       std::string name) {
  Placement placement;
  placement.order = std::move(name);
  placement.offsets.assign(requests.size(), 0);
  std::vector<size_t> placed;
  placed.reserve(requests.size());
  std::vector<std::pair<size_t, size_t>> busy;  // [offset, end) of placed buffers live at the same time
  for (size_t index : order) {
    const BufferRequest &request = requests[index];
    busy.clear();
    for (size_t other : placed) {
      const BufferRequest &o = requests[other];
      if (o.bytes != 0 && overlapInTime(request, o))
        busy.push_back({placement.offsets[other], placement.offsets[other] + o.bytes});
    }
    std::sort(busy.begin(), busy.end());
    size_t cursor = 0;
    size_t bestOffset = 0, bestGap = std::numeric_limits<size_t>::max();
    bool found = false;
    for (const auto &[begin, end] : busy) {
      if (begin > cursor) {
        const size_t gap = begin - cursor;
        if (gap >= request.bytes && gap < bestGap) {
          bestGap = gap;
          bestOffset = cursor;
          found = true;
        }
      }
      cursor = std::max(cursor, end);
    }
    const size_t offset = found ? bestOffset : cursor;
    placement.offsets[index] = offset;
    placement.arenaBytes = std::max(placement.arenaBytes, offset + request.bytes);
    placed.push_back(index);
  }
  return placement;
}

/// Indices 0..n-1 sorted by `less`, with the index as the final tie-break.
std::vector<size_t> sortedIndices(size_t n, const std::function<bool(size_t, size_t)> &less) {
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), size_t{0});
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    if (less(a, b)) return true;
    if (less(b, a)) return false;
    return a < b;
  });
  return order;
}

int length(const BufferRequest &r) { return r.lastStep - r.firstStep + 1; }

/// Largest first; ties: longer lifetime, then earlier start.
bool sizeDescLess(const BufferRequest &a, const BufferRequest &b) {
  if (a.bytes != b.bytes) return a.bytes > b.bytes;
  if (length(a) != length(b)) return length(a) > length(b);
  return a.firstStep < b.firstStep;
}

}  // namespace

size_t lifetimeLowerBound(const std::vector<BufferRequest> &requests) {
  // Sweep over lifetime boundaries: +bytes at the first step, -bytes after the last.
  std::vector<std::pair<int, int64_t>> events;
  events.reserve(requests.size() * 2);
  for (const BufferRequest &r : requests) {
    events.push_back({r.firstStep, static_cast<int64_t>(r.bytes)});
    events.push_back({r.lastStep + 1, -static_cast<int64_t>(r.bytes)});
  }
  // At equal steps, releases (negative) come first: a buffer ending at e and one starting at e+1 never coexist.
  std::sort(events.begin(), events.end());
  int64_t live = 0, peak = 0;
  for (const auto &[step, delta] : events) {
    live += delta;
    peak = std::max(peak, live);
  }
  return static_cast<size_t>(peak);
}

Placement placeNaive(const std::vector<BufferRequest> &requests, size_t alignment) {
  const std::vector<BufferRequest> aligned = alignedRequests(requests, alignment);
  Placement placement;
  placement.order = "naive";
  placement.offsets.reserve(aligned.size());
  for (const BufferRequest &r : aligned) {
    placement.offsets.push_back(placement.arenaBytes);
    placement.arenaBytes += r.bytes;
  }
  return placement;
}

Placement placeGreedyBySize(const std::vector<BufferRequest> &requests, size_t alignment) {
  const std::vector<BufferRequest> aligned = alignedRequests(requests, alignment);
  return placeInOrder(aligned, sortedIndices(aligned.size(), [&](size_t a, size_t b) {
                        return sizeDescLess(aligned[a], aligned[b]);
                      }),
                      "size-desc");
}

// ---- search at a target size ---------------------------------------------------------------------------

std::string_view searchTieOrderName(SearchTieOrder order) {
  switch (order) {
    case SearchTieOrder::LastStepDesc: return "search-last-desc";
    case SearchTieOrder::SizeDesc: return "search-size-desc";
    case SearchTieOrder::LengthDesc: return "search-length-desc";
    case SearchTieOrder::AreaDesc: return "search-area-desc";
  }
  return "search";
}

namespace {

/// The state of the offset-ordered search; every change made by place() is undone by unplace().
class CanonicalSearch {
 public:
  CanonicalSearch(const std::vector<BufferRequest> &requests, size_t target, SearchTieOrder tieOrder)
      : r_(requests), target_(target), tieOrder_(tieOrder) {
    int minStep = 0, maxStep = 0;
    for (const BufferRequest &q : r_) {
      minStep = std::min(minStep, q.firstStep);
      maxStep = std::max(maxStep, q.lastStep);
    }
    base_ = minStep;
    floor_.assign(static_cast<size_t>(maxStep - minStep + 1), 0);
    remaining_.assign(floor_.size(), 0);
    for (const BufferRequest &q : r_)
      for (int t = q.firstStep; t <= q.lastStep; ++t) remaining_[step(t)] += q.bytes;
    forced_.assign(r_.size(), 0);
    placed_.assign(r_.size(), 0);
    offsets_.assign(r_.size(), 0);
    // Buffers with equal size and lifetime are interchangeable: only the first unplaced one of a class is tried.
    classOf_.resize(r_.size());
    std::vector<size_t> byKey(r_.size());
    std::iota(byKey.begin(), byKey.end(), size_t{0});
    auto key = [&](size_t i) { return std::make_tuple(r_[i].bytes, r_[i].firstStep, r_[i].lastStep); };
    std::stable_sort(byKey.begin(), byKey.end(), [&](size_t a, size_t b) { return key(a) < key(b); });
    for (size_t k = 0; k < byKey.size(); ++k)
      classOf_[byKey[k]] = k > 0 && key(byKey[k]) == key(byKey[k - 1]) ? classOf_[byKey[k - 1]] : byKey[k];
    classStamp_.assign(r_.size(), 0);
    // Conflicts (overlap in time), computed once.
    conflicts_.resize(r_.size());
    for (size_t i = 0; i < r_.size(); ++i)
      for (size_t j = i + 1; j < r_.size(); ++j)
        if (overlapInTime(r_[i], r_[j])) {
          conflicts_[i].push_back(j);
          conflicts_[j].push_back(i);
        }
  }

  bool feasibleStart() const {
    for (size_t t = 0; t < floor_.size(); ++t)
      if (remaining_[t] > target_) return false;
    return std::all_of(r_.begin(), r_.end(), [&](const BufferRequest &q) { return q.bytes <= target_; });
  }

  /// Iterative depth-first search; true when every buffer is placed within the target.
  bool run(size_t maxNodes) {
    struct Frame {
      std::vector<size_t> candidates;
      size_t next = 0;
      size_t placedIndex = SIZE_MAX;  // the candidate this frame currently has placed
    };
    std::vector<Frame> stack;
    stack.push_back({candidates(), 0, SIZE_MAX});
    size_t nodes = 0;
    while (!stack.empty()) {
      Frame &frame = stack.back();
      if (frame.placedIndex != SIZE_MAX) {
        unplace(frame.placedIndex);
        frame.placedIndex = SIZE_MAX;
      }
      if (frame.next >= frame.candidates.size()) {
        stack.pop_back();
        continue;
      }
      if (++nodes > maxNodes) return false;
      const size_t chosen = frame.candidates[frame.next++];
      const bool ok = place(chosen);
      frame.placedIndex = chosen;
      if (!ok) continue;
      if (stack.size() == r_.size()) return true;  // every buffer placed
      stack.push_back({candidates(), 0, SIZE_MAX});
    }
    return false;
  }

  Placement placement(std::string name) const {
    Placement p;
    p.order = std::move(name);
    p.offsets = offsets_;
    for (size_t i = 0; i < r_.size(); ++i) p.arenaBytes = std::max(p.arenaBytes, offsets_[i] + r_[i].bytes);
    return p;
  }

 private:
  size_t step(int t) const { return static_cast<size_t>(t - base_); }

  /// Unplaced buffers that may come next, best first; empty when some buffer can no longer fit.
  std::vector<size_t> candidates() {
    std::vector<size_t> result;
    ++stamp_;
    for (size_t i = 0; i < r_.size(); ++i) {
      if (placed_[i]) continue;
      if (forced_[i] + r_[i].bytes > target_) return {};  // floors only rise: it will never fit
      if (forced_[i] < lastOffset_ || classStamp_[classOf_[i]] == stamp_) continue;
      classStamp_[classOf_[i]] = stamp_;
      result.push_back(i);
    }
    auto length = [&](size_t i) { return static_cast<size_t>(r_[i].lastStep - r_[i].firstStep + 1); };
    std::sort(result.begin(), result.end(), [&](size_t a, size_t b) {
      if (forced_[a] != forced_[b]) return forced_[a] < forced_[b];
      switch (tieOrder_) {
        case SearchTieOrder::LastStepDesc:
          if (r_[a].lastStep != r_[b].lastStep) return r_[a].lastStep > r_[b].lastStep;
          break;
        case SearchTieOrder::SizeDesc: break;
        case SearchTieOrder::LengthDesc:
          if (length(a) != length(b)) return length(a) > length(b);
          break;
        case SearchTieOrder::AreaDesc:
          if (length(a) * r_[a].bytes != length(b) * r_[b].bytes) return length(a) * r_[a].bytes > length(b) * r_[b].bytes;
          break;
      }
      if (r_[a].bytes != r_[b].bytes) return r_[a].bytes > r_[b].bytes;
      if (length(a) != length(b)) return length(a) > length(b);
      return a < b;
    });
    return result;
  }

  /// Places buffer i at its forced offset; false when a step now holds more than the target allows.
  bool place(size_t i) {
    const BufferRequest &q = r_[i];
    const size_t offset = forced_[i], top = offset + q.bytes;
    Undo undo;
    undo.lastOffset = lastOffset_;
    undo.floors.assign(floor_.begin() + static_cast<std::ptrdiff_t>(step(q.firstStep)),
                       floor_.begin() + static_cast<std::ptrdiff_t>(step(q.lastStep)) + 1);
    bool ok = true;
    for (int t = q.firstStep; t <= q.lastStep; ++t) {
      floor_[step(t)] = top;
      remaining_[step(t)] -= q.bytes;
      if (top + remaining_[step(t)] > target_) ok = false;
    }
    for (size_t j : conflicts_[i])
      if (!placed_[j] && forced_[j] < top) {
        undo.forced.push_back({j, forced_[j]});
        forced_[j] = top;
      }
    placed_[i] = 1;
    offsets_[i] = offset;
    lastOffset_ = offset;
    undo_.push_back(std::move(undo));
    return ok;
  }

  void unplace(size_t i) {
    const BufferRequest &q = r_[i];
    Undo &undo = undo_.back();
    for (int t = q.firstStep; t <= q.lastStep; ++t) {
      floor_[step(t)] = undo.floors[static_cast<size_t>(t - q.firstStep)];
      remaining_[step(t)] += q.bytes;
    }
    for (const auto &[j, old] : undo.forced) forced_[j] = old;
    lastOffset_ = undo.lastOffset;
    placed_[i] = 0;
    undo_.pop_back();
  }

  struct Undo {
    std::vector<size_t> floors;
    std::vector<std::pair<size_t, size_t>> forced;
    size_t lastOffset = 0;
  };

  const std::vector<BufferRequest> &r_;
  size_t target_;
  SearchTieOrder tieOrder_;
  int base_ = 0;
  std::vector<size_t> floor_;      // by step: the top of the placed buffers live at that step
  std::vector<size_t> remaining_;  // by step: bytes of unplaced buffers live at that step
  std::vector<size_t> forced_;     // by buffer: where it would land now (the highest floor over its lifetime)
  std::vector<char> placed_;
  std::vector<size_t> offsets_;
  std::vector<size_t> classOf_;
  std::vector<uint64_t> classStamp_;
  uint64_t stamp_ = 0;
  std::vector<std::vector<size_t>> conflicts_;
  size_t lastOffset_ = 0;  // offsets are non-decreasing along a branch
  std::vector<Undo> undo_;
};

}  // namespace

std::optional<Placement> searchPlacement(const std::vector<BufferRequest> &requests, size_t alignment,
                                         size_t targetBytes, SearchTieOrder tieOrder, size_t maxNodes) {
  const std::vector<BufferRequest> aligned = alignedRequests(requests, alignment);
  if (aligned.empty()) return Placement{{}, 0, std::string(searchTieOrderName(tieOrder))};
  CanonicalSearch search(aligned, targetBytes, tieOrder);
  if (!search.feasibleStart() || !search.run(maxNodes)) return std::nullopt;
  return search.placement(std::string(searchTieOrderName(tieOrder)));
}

Placement placeBestOf(const std::vector<BufferRequest> &requests, size_t alignment) {
  const std::vector<BufferRequest> r = alignedRequests(requests, alignment);
  const size_t n = r.size();
  const size_t bound = lifetimeLowerBound(r);

  struct Candidate {
    std::string name;
    std::function<bool(size_t, size_t)> less;
  };
  std::vector<Candidate> candidates = {
      {"size-desc", [&](size_t a, size_t b) { return sizeDescLess(r[a], r[b]); }},
      {"length-desc",
       [&](size_t a, size_t b) {
         if (length(r[a]) != length(r[b])) return length(r[a]) > length(r[b]);
         return sizeDescLess(r[a], r[b]);
       }},
      {"area-desc",
       [&](size_t a, size_t b) {
         // Sizes are far below 2^64 / steps, so the products do not overflow.
         const size_t areaA = r[a].bytes * static_cast<size_t>(length(r[a]));
         const size_t areaB = r[b].bytes * static_cast<size_t>(length(r[b]));
         if (areaA != areaB) return areaA > areaB;
         return sizeDescLess(r[a], r[b]);
       }},
      {"first-asc",
       [&](size_t a, size_t b) {
         if (r[a].firstStep != r[b].firstStep) return r[a].firstStep < r[b].firstStep;
         return sizeDescLess(r[a], r[b]);
       }},
      {"last-desc",
       [&](size_t a, size_t b) {
         if (r[a].lastStep != r[b].lastStep) return r[a].lastStep > r[b].lastStep;
         return sizeDescLess(r[a], r[b]);
       }},
  };
  // Size order with the ties among equal sizes shuffled: models repeat layer shapes, so ties are common
  // and their order decides which gaps stay open. Fixed seeds keep the result reproducible; the keys come
  // straight from mt19937 (specified exactly by the standard), not from a library distribution.
  constexpr uint32_t kShuffleSeeds[] = {1, 2, 3, 4};
  std::vector<std::vector<uint32_t>> keys;
  keys.reserve(std::size(kShuffleSeeds));
  for (uint32_t seed : kShuffleSeeds) {
    std::mt19937 rng(seed);
    std::vector<uint32_t> key(n);
    for (uint32_t &k : key) k = rng();
    keys.push_back(std::move(key));
    const std::vector<uint32_t> &tieKey = keys.back();
    candidates.push_back({"size-desc-shuffle-" + std::to_string(seed), [&r, &tieKey](size_t a, size_t b) {
                            if (r[a].bytes != r[b].bytes) return r[a].bytes > r[b].bytes;
                            return tieKey[a] < tieKey[b];
                          }});
  }

  Placement best;
  bool haveBest = false;
  for (const Candidate &candidate : candidates) {
    Placement placement = placeInOrder(r, sortedIndices(n, candidate.less), candidate.name);
    if (!haveBest || placement.arenaBytes < best.arenaBytes) {
      best = std::move(placement);
      haveBest = true;
    }
    if (best.arenaBytes == bound) return best;  // nothing can do better than the lower bound
  }
  // Greedy orders fall short: search for a placement at the bound itself, under a few tie orders.
  const size_t budget = 20000 + 20 * n;
  for (SearchTieOrder tieOrder : {SearchTieOrder::LastStepDesc, SearchTieOrder::SizeDesc,
                                  SearchTieOrder::LengthDesc, SearchTieOrder::AreaDesc}) {
    std::optional<Placement> found = searchPlacement(r, 1, bound, tieOrder, budget);
    if (found) return std::move(*found);
  }
  return best;
}

}  // namespace fluidml::analysis
