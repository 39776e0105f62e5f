// The memory planner: placement properties on random lifetimes (every planner, many seeds), small exact
// placements, the aliasing rules on graphs built with the IR builder, the checker rejecting broken plans,
// and the memory-plan pass's options and stats.
#include <catch2/catch.hpp>

#include <algorithm>
#include <random>

#include "core/analysis/memory_plan.h"
#include "core/analysis/placement.h"
#include "passes/analyses.h"
#include "passes/passes.h"
#include "tests/test_util.h"

using namespace fluidml;
using namespace fluidml::analysis;
using ir::DType;
using ir::ValueId;

namespace {

constexpr size_t kUnit = 64;

size_t alignUpTo(size_t bytes, size_t alignment) { return (bytes + alignment - 1) / alignment * alignment; }

/// `count` requests with sizes in [1, maxBytes] and lifetimes inside [0, steps).
std::vector<BufferRequest> randomRequests(uint32_t seed, size_t count, int steps, size_t maxBytes) {
  std::mt19937 rng(seed);
  std::vector<BufferRequest> requests;
  for (size_t i = 0; i < count; ++i) {
    BufferRequest r;
    // Mostly a few repeated sizes (as in models with repeated layers), sometimes anything.
    if (rng() % 3 == 0) r.bytes = 1 + rng() % maxBytes;
    else r.bytes = (1 + rng() % 8) * (maxBytes / 8);
    r.firstStep = static_cast<int>(rng() % static_cast<uint32_t>(steps));
    const int maxLength = rng() % 4 == 0 ? steps : 4;  // most tensors die soon, a few live long
    r.lastStep = std::min(steps - 1, r.firstStep + static_cast<int>(rng() % static_cast<uint32_t>(maxLength)));
    requests.push_back(r);
  }
  return requests;
}

/// Checks a placement against the rules every planner must keep; returns the first violation or "".
std::string placementViolation(const std::vector<BufferRequest> &requests, const Placement &p, size_t alignment) {
  if (p.offsets.size() != requests.size()) return "wrong number of offsets";
  size_t top = 0;
  for (size_t i = 0; i < requests.size(); ++i) {
    if (p.offsets[i] % alignment != 0) return "offset " + std::to_string(p.offsets[i]) + " is not aligned";
    top = std::max(top, p.offsets[i] + alignUpTo(requests[i].bytes, alignment));
  }
  if (top != p.arenaBytes) return "arena " + std::to_string(p.arenaBytes) + " != top " + std::to_string(top);
  for (size_t i = 0; i < requests.size(); ++i)
    for (size_t j = i + 1; j < requests.size(); ++j) {
      const BufferRequest &a = requests[i], &b = requests[j];
      if (a.firstStep > b.lastStep || b.firstStep > a.lastStep) continue;
      // Unaligned sizes: the bytes a tensor really uses must never be shared.
      if (p.offsets[i] < p.offsets[j] + b.bytes && p.offsets[j] < p.offsets[i] + a.bytes)
        return "requests " + std::to_string(i) + " and " + std::to_string(j) + " share bytes";
    }
  return "";
}

std::vector<BufferRequest> units(std::initializer_list<std::tuple<size_t, int, int>> list) {
  std::vector<BufferRequest> requests;
  for (auto [u, first, last] : list) requests.push_back({u * kUnit, first, last});
  return requests;
}

std::vector<size_t> offsetsInUnits(const Placement &p) {
  std::vector<size_t> result;
  for (size_t o : p.offsets) result.push_back(o / kUnit);
  return result;
}

ir::Graph finish(ir::GraphBuilder &b, std::vector<ValueId> outputs) {
  for (ValueId out : outputs) b.output(out);
  auto graph = std::move(b).build();
  INFO((graph.hasValue() ? std::string() : graph.message()));
  REQUIRE(graph.hasValue());
  return std::move(graph).value();
}

MemoryPlan planOrFail(const ir::Graph &graph, MemoryPlanOptions options = {}) {
  auto plan = planMemory(graph, options);
  INFO((plan.hasValue() ? std::string() : plan.message()));
  REQUIRE(plan.hasValue());
  Status checked = checkMemoryPlan(graph, *plan);
  INFO((checked.isOk() ? std::string() : checked.message()));
  REQUIRE(checked.isOk());
  return std::move(plan).value();
}

/// Removes buffer `index` from a plan, renumbering the others.
void dropBuffer(MemoryPlan &plan, int index) {
  plan.buffers.erase(plan.buffers.begin() + index);
  for (ValueStorage &s : plan.storage)
    if (s.buffer > index) --s.buffer;
  std::vector<BufferRequest> requests;
  for (const ArenaBuffer &b : plan.buffers) requests.push_back({b.bytes, b.firstStep, b.lastStep});
  plan.lowerBoundBytes = lifetimeLowerBound(requests);
}

ir::Tensor int64s(std::vector<int64_t> values) {
  return ir::Tensor::fromVector<int64_t>({static_cast<int64_t>(values.size())}, values);
}

}  // namespace

// ---- placement on abstract lifetimes ------------------------------------------------------------------

TEST_CASE("Placement properties hold on random lifetimes for every planner", "[analysis][memory]") {
  int atBound = 0, cases = 0;
  size_t sumBest = 0, sumGreedy = 0, sumBound = 0;
  for (uint32_t seed = 1; seed <= 300; ++seed) {
    const size_t alignment = seed % 3 == 0 ? 1 : seed % 3 == 1 ? 16 : 64;
    const auto requests = randomRequests(seed, 1 + seed % 60, 2 + static_cast<int>(seed % 40), 4096);
    std::vector<BufferRequest> aligned = requests;
    for (BufferRequest &r : aligned) r.bytes = alignUpTo(r.bytes, alignment);
    const size_t bound = lifetimeLowerBound(aligned);
    INFO("seed " << seed << ", " << requests.size() << " requests, alignment " << alignment);

    const Placement naive = placeNaive(requests, alignment);
    const Placement greedy = placeGreedyBySize(requests, alignment);
    const Placement best = placeBestOf(requests, alignment);
    for (const Placement *p : {&naive, &greedy, &best}) {
      INFO("planner order " << p->order);
      CHECK(placementViolation(requests, *p, alignment) == "");
      CHECK(p->arenaBytes >= bound);
    }
    size_t total = 0;
    for (const BufferRequest &r : aligned) total += r.bytes;
    CHECK(naive.arenaBytes == total);
    CHECK(greedy.arenaBytes <= naive.arenaBytes);
    CHECK(best.arenaBytes <= greedy.arenaBytes);
    // Same input, same plan.
    CHECK(placeGreedyBySize(requests, alignment).offsets == greedy.offsets);
    const Placement again = placeBestOf(requests, alignment);
    CHECK(again.offsets == best.offsets);
    CHECK(again.order == best.order);

    ++cases;
    atBound += best.arenaBytes == bound ? 1 : 0;
    sumBest += best.arenaBytes;
    sumGreedy += greedy.arenaBytes;
    sumBound += bound;
  }
  // Not a correctness property, but a regression guard on quality: on these mixes best-of (greedy orders, then
  // the search) reaches the lower bound in almost every case (292 of 300 when written) and stays within 1%.
  WARN("best-of at the lower bound in " << atBound << "/" << cases << " cases; total best-of/bound "
                                        << double(sumBest) / double(sumBound) << ", greedy/bound "
                                        << double(sumGreedy) / double(sumBound));
  CHECK(atBound * 100 >= cases * 95);
  CHECK(double(sumBest) <= 1.01 * double(sumBound));
}

TEST_CASE("Lower bound is the peak of live bytes, freed after the last step", "[analysis][memory]") {
  CHECK(lifetimeLowerBound({}) == 0);
  CHECK(lifetimeLowerBound(units({{1, 0, 2}, {1, 3, 4}})) == 1 * kUnit);  // back to back
  CHECK(lifetimeLowerBound(units({{1, 0, 2}, {1, 2, 4}})) == 2 * kUnit);  // share step 2
  CHECK(lifetimeLowerBound(units({{3, 0, 1}, {2, 1, 2}, {2, 2, 3}, {4, 5, 5}})) == 5 * kUnit);
}

TEST_CASE("Reuse starts the step after the last read, not at it", "[analysis][memory]") {
  for (auto place : {placeGreedyBySize, placeBestOf}) {
    const Placement backToBack = place(units({{1, 0, 2}, {1, 3, 4}}), kUnit);
    CHECK(offsetsInUnits(backToBack) == std::vector<size_t>{0, 0});
    CHECK(backToBack.arenaBytes == 1 * kUnit);
    const Placement sharedStep = place(units({{1, 0, 2}, {1, 2, 4}}), kUnit);
    CHECK(sharedStep.offsets[0] != sharedStep.offsets[1]);
    CHECK(sharedStep.arenaBytes == 2 * kUnit);
  }
}

TEST_CASE("Greedy placement uses the gap at offset 0", "[analysis][memory]") {
  // A (3 units, steps 0-1) at 0; B (2, steps 1-2) must go above A; C (2, steps 2-3) overlaps only B, so
  // the gap A leaves at offset 0 holds it. Skipping that gap would put C at 5 and make the arena 7.
  const auto requests = units({{3, 0, 1}, {2, 1, 2}, {2, 2, 3}});
  const Placement greedy = placeGreedyBySize(requests, kUnit);
  CHECK(offsetsInUnits(greedy) == std::vector<size_t>{0, 3, 0});
  CHECK(greedy.arenaBytes == 5 * kUnit);
  CHECK(greedy.arenaBytes == lifetimeLowerBound(requests));
  CHECK(greedy.order == "size-desc");
}

TEST_CASE("Greedy placement picks the smallest gap that fits", "[analysis][memory]") {
  // Placed by size then lifetime: P [0,2), X [2,3), Z [3,4), Y [4,5). At step 2 only X and Y are live, so N
  // sees gaps [0,2) and [3,4): best fit takes 3 (first fit would take 0 and split the larger gap).
  const auto requests = units({{2, 0, 1}, {1, 1, 3}, {1, 0, 1}, {1, 1, 2}, {1, 2, 2}});
  const Placement greedy = placeGreedyBySize(requests, kUnit);
  CHECK(offsetsInUnits(greedy) == std::vector<size_t>{0, 2, 3, 4, 3});
  CHECK(greedy.arenaBytes == 5 * kUnit);
}

TEST_CASE("Naive placement stacks every buffer", "[analysis][memory]") {
  const Placement naive = placeNaive({{100, 0, 0}, {1, 1, 1}, {64, 2, 2}}, 64);
  CHECK(naive.offsets == std::vector<size_t>{0, 128, 192});
  CHECK(naive.arenaBytes == 256);
  CHECK(naive.order == "naive");
}

TEST_CASE("Best-of keeps the smallest arena and stops at the lower bound", "[analysis][memory]") {
  // Size order places D (3 units, steps 1-2) at 0, B above it, A in D's bytes once D is dead, and then C
  // finds only a 1-unit hole: arena 7. Placing the buffers that end last first packs A, B, C at step 3 into
  // 6 units and D beside B: the lower bound.
  const auto requests = units({{2, 3, 3}, {2, 2, 3}, {2, 3, 3}, {3, 1, 2}});
  REQUIRE(lifetimeLowerBound(requests) == 6 * kUnit);
  const Placement greedy = placeGreedyBySize(requests, kUnit);
  CHECK(offsetsInUnits(greedy) == std::vector<size_t>{0, 3, 5, 0});
  CHECK(greedy.arenaBytes == 7 * kUnit);
  const Placement best = placeBestOf(requests, kUnit);
  CHECK(best.arenaBytes == 6 * kUnit);
  CHECK(best.order == "last-desc");
  CHECK(offsetsInUnits(best) == std::vector<size_t>{2, 0, 4, 2});
  // Already optimal under size order: best-of keeps the first order and tries no other.
  const auto easy = units({{3, 0, 1}, {2, 1, 2}, {2, 2, 3}});
  CHECK(placeBestOf(easy, kUnit).order == "size-desc");
}

TEST_CASE("Best-of searches for a placement at the bound when no greedy order reaches it", "[analysis][memory]") {
  const auto requests = units({{4, 0, 0}, {2, 2, 3}, {1, 2, 2}, {3, 1, 1}, {3, 1, 3}, {1, 0, 1}, {3, 0, 1}});
  REQUIRE(lifetimeLowerBound(requests) == 10 * kUnit);
  CHECK(placeGreedyBySize(requests, kUnit).arenaBytes == 11 * kUnit);
  const Placement best = placeBestOf(requests, kUnit);
  CHECK(best.arenaBytes == 10 * kUnit);
  CHECK(best.order == "search-last-desc");
  CHECK(placementViolation(requests, best, kUnit) == "");
  // The search itself: every tie order finds the bound here, and nothing fits below it.
  for (SearchTieOrder order : {SearchTieOrder::LastStepDesc, SearchTieOrder::SizeDesc, SearchTieOrder::LengthDesc,
                               SearchTieOrder::AreaDesc}) {
    auto found = searchPlacement(requests, kUnit, 10 * kUnit, order, 100000);
    REQUIRE(found.has_value());
    CHECK(found->arenaBytes == 10 * kUnit);
    CHECK(placementViolation(requests, *found, kUnit) == "");
    CHECK_FALSE(searchPlacement(requests, kUnit, 10 * kUnit - 1, order, 100000).has_value());
  }
  // A budget of one node cannot place seven buffers.
  CHECK_FALSE(searchPlacement(requests, kUnit, 10 * kUnit, SearchTieOrder::SizeDesc, 1).has_value());
}

// ---- planning graphs: lifetimes, views, in place ------------------------------------------------------

TEST_CASE("A Relu chain runs in place and graph outputs stay outside the arena", "[analysis][memory]") {
  ir::GraphBuilder b = test::makeBuilder();
  ValueId x = b.input("x", DType::Float32, {4, 16});
  ValueId r1 = b.op("Relu", {x});
  ValueId r2 = b.op("Relu", {r1});
  ValueId r3 = b.op("Relu", {r2});
  ValueId y = b.op("Relu", {r3});
  ir::Graph g = finish(b, {y});
  MemoryPlan plan = planOrFail(g);
  auto kind = [&](ValueId v) { return plan.storage[static_cast<size_t>(v)].kind; };
  CHECK(kind(x) == StorageKind::External);
  CHECK(kind(y) == StorageKind::External);
  CHECK(plan.offsetOf(x) == -1);
  CHECK(plan.offsetOf(y) == -1);
  CHECK(kind(r1) == StorageKind::Arena);  // over x would overwrite the caller's input
  CHECK(kind(r2) == StorageKind::InPlace);
  CHECK(plan.storage[static_cast<size_t>(r2)].aliasOf == r1);
  CHECK(kind(r3) == StorageKind::InPlace);
  CHECK(plan.storage[static_cast<size_t>(r3)].aliasOf == r2);
  CHECK(plan.inPlaceReuses == 2);
  REQUIRE(plan.buffers.size() == 1);
  CHECK(plan.buffers[0].root == r1);
  CHECK(plan.buffers[0].bytes == 4 * 16 * 4);
  CHECK(plan.buffers[0].firstStep == 0);
  CHECK(plan.buffers[0].lastStep == 3);
  CHECK(plan.arenaBytes == 256);
  CHECK(plan.lowerBoundBytes == 256);
  CHECK(plan.naiveBytes == 3 * 256);  // r1, r2 and r3 each in its own buffer (the output y is external)
  CHECK(plan.efficiency() == 1.0);

  MemoryPlanOptions noInPlace;
  noInPlace.inPlace = false;
  MemoryPlan plain = planOrFail(g, noInPlace);
  CHECK(plain.inPlaceReuses == 0);
  CHECK(plain.buffers.size() == 3);
  // r1 dies at step 1 where r2 is born: they overlap, and r3 reuses r1's bytes.
  CHECK(plain.lowerBoundBytes == 512);
  CHECK(plain.arenaBytes == 512);
  CHECK(plain.offsetOf(r1) == plain.offsetOf(r3));
}

TEST_CASE("No in place over an operand that a later node still reads", "[analysis][memory]") {
  ir::GraphBuilder b = test::makeBuilder();
  ValueId x = b.input("x", DType::Float32, {8});
  ValueId a = b.op("Relu", {x});
  ValueId r = b.op("Neg", {a});       // a is read again below
  ValueId s = b.op("Add", {a, r});    // the last read of a and r
  ValueId y = b.op("Sigmoid", {s});
  ir::Graph g = finish(b, {y});
  MemoryPlan plan = planOrFail(g);
  auto st = [&](ValueId v) { return plan.storage[static_cast<size_t>(v)]; };
  CHECK(st(r).kind == StorageKind::Arena);
  CHECK(st(s).kind == StorageKind::InPlace);
  CHECK(st(s).aliasOf == a);  // the first operand that qualifies
  CHECK(plan.offsetOf(s) == plan.offsetOf(a));
  CHECK(plan.offsetOf(r) != plan.offsetOf(a));
}

TEST_CASE("In place needs the output's exact shape and byte size", "[analysis][memory]") {
  ir::GraphBuilder b = test::makeBuilder();
  ValueId x = b.input("x", DType::Float32, {4, 8});
  ValueId bias = b.input("bias", DType::Float32, {8});
  ValueId row = b.op("Relu", {bias});  // [8]: broadcast, smaller than the output
  ValueId rx = b.op("Relu", {x});
  ValueId sum = b.op("Add", {row, rx});
  ValueId neg = b.op("Neg", {sum});
  ValueId cmp = b.op("Greater", {sum, neg});  // bool output: 1 byte per element, not the operands' 4
  ValueId notCmp = b.op("Not", {cmp});
  ValueId rx2 = b.op("Relu", {x});
  ValueId asInt = b.op("Cast", {rx2}, {{"to", int64_t{6}}});  // float32 -> int32: same size, same shape
  ValueId negInt = b.op("Neg", {asInt});
  ir::Graph g = finish(b, {notCmp, negInt});
  MemoryPlan plan = planOrFail(g);
  auto st = [&](ValueId v) { return plan.storage[static_cast<size_t>(v)]; };
  CHECK(st(sum).kind == StorageKind::InPlace);
  CHECK(st(sum).aliasOf == rx);
  CHECK(st(neg).kind == StorageKind::Arena);  // sum is read again by Greater
  CHECK(st(cmp).kind == StorageKind::Arena);
  CHECK(st(asInt).kind == StorageKind::InPlace);
  CHECK(st(asInt).aliasOf == rx2);
  CHECK(st(notCmp).kind == StorageKind::External);
  CHECK(st(negInt).kind == StorageKind::External);
  CHECK(plan.inPlaceReuses == 2);
}

TEST_CASE("Reshape, Flatten, Squeeze, Unsqueeze, Identity and Dropout are views", "[analysis][memory]") {
  ir::GraphBuilder b = test::makeBuilder();
  ValueId x = b.input("x", DType::Float32, {2, 3, 4});
  ValueId a = b.op("Relu", {x});
  ValueId r = b.op("Reshape", {a, b.constant("shape", int64s({6, 4}))});
  ValueId f = b.op("Flatten", {r}, {{"axis", int64_t{0}}});
  ValueId u = b.op("Unsqueeze", {f, b.constant("axes", int64s({0}))});
  ValueId s = b.op("Squeeze", {u, b.constant("axes2", int64s({0}))});
  ValueId i = b.op("Identity", {s});
  ValueId d = b.op("Dropout", {i});
  ValueId y = b.op("Relu", {d});
  ValueId xr = b.op("Reshape", {x, b.constant("shape2", int64s({24}))});  // a view of a graph input
  ValueId y2 = b.op("Neg", {xr});
  ir::Graph g = finish(b, {y, y2});
  MemoryPlan plan = planOrFail(g);
  auto st = [&](ValueId v) { return plan.storage[static_cast<size_t>(v)]; };
  for (ValueId v : {r, f, u, s, i, d}) {
    CHECK(st(v).kind == StorageKind::View);
    CHECK(st(v).buffer == st(a).buffer);
    CHECK(plan.offsetOf(v) == plan.offsetOf(a));
  }
  CHECK(st(r).aliasOf == a);
  CHECK(st(d).aliasOf == i);
  CHECK(st(xr).kind == StorageKind::View);
  CHECK(st(xr).buffer == -1);
  CHECK(plan.offsetOf(xr) == -1);
  CHECK(plan.viewReuses == 7);
  REQUIRE(plan.buffers.size() == 1);
  // The group lives until the last view is read (the Relu producing y at the last-but-two step).
  CHECK(plan.buffers[0].lastStep == static_cast<int>(g.order().size()) - 3);

  MemoryPlanOptions noViews;
  noViews.views = false;
  MemoryPlan copies = planOrFail(g, noViews);
  CHECK(copies.viewReuses == 0);
  CHECK(copies.storage[static_cast<size_t>(r)].kind != StorageKind::View);
}

TEST_CASE("A view that is a graph output is copied, a Dropout with a used mask runs", "[analysis][memory]") {
  ir::GraphBuilder b = test::makeBuilder();
  ValueId x = b.input("x", DType::Float32, {4});
  ValueId a = b.op("Relu", {x});
  ValueId r = b.op("Reshape", {a, b.constant("shape", int64s({2, 2}))});
  auto dropout = b.opMulti("Dropout", {a}, 2);
  ValueId m = b.op("Not", {dropout[1]});
  ir::Graph g = finish(b, {r, dropout[0], m});
  MemoryPlan plan = planOrFail(g);
  CHECK(plan.storage[static_cast<size_t>(r)].kind == StorageKind::External);
  CHECK(plan.storage[static_cast<size_t>(dropout[0])].kind == StorageKind::External);
  CHECK(plan.storage[static_cast<size_t>(dropout[1])].kind == StorageKind::Arena);
  CHECK(plan.viewReuses == 0);
}

TEST_CASE("Planner options are validated", "[analysis][memory]") {
  ir::GraphBuilder b = test::makeBuilder();
  ValueId x = b.input("x", DType::Float32, {4});
  ir::Graph g = finish(b, {b.op("Relu", {x})});
  MemoryPlanOptions bad;
  bad.alignment = 48;
  auto plan = planMemory(g, bad);
  REQUIRE_FALSE(plan.hasValue());
  CHECK_THAT(plan.message(), Catch::Contains("alignment must be a power of two, got 48"));
  bad.alignment = 64;
  bad.planner = "first-fit";
  plan = planMemory(g, bad);
  REQUIRE_FALSE(plan.hasValue());
  CHECK_THAT(plan.message(), Catch::Contains("unknown planner 'first-fit'"));
}

// ---- the checker -------------------------------------------------------------------------------------

TEST_CASE("checkMemoryPlan rejects unsafe plans", "[analysis][memory]") {
  ir::GraphBuilder b = test::makeBuilder();
  ValueId x = b.input("x", DType::Float32, {16});
  ValueId a = b.op("Relu", {x});
  ValueId c = b.op("Neg", {a});
  ValueId d = b.op("Add", {a, c});
  ValueId y = b.op("Exp", {d});
  ir::Graph g = finish(b, {y});
  MemoryPlanOptions options;
  options.inPlace = false;
  const MemoryPlan good = planOrFail(g, options);
  REQUIRE(good.buffers.size() == 3);
  auto expectError = [&](const MemoryPlan &plan, const std::string &text) {
    Status status = checkMemoryPlan(g, plan);
    REQUIRE_FALSE(status.isOk());
    CHECK_THAT(status.message(), Catch::Contains(text));
  };
  {
    MemoryPlan p = good;  // a and c live together: same offset is a clash
    p.buffers[static_cast<size_t>(p.storage[static_cast<size_t>(c)].buffer)].offset = p.offsetOf(a);
    expectError(p, "live at the same step and share bytes");
  }
  {
    MemoryPlan p = good;
    p.buffers[0].offset += 8;
    p.arenaBytes += 64;
    expectError(p, "is not aligned to 64");
  }
  {
    MemoryPlan p = good;
    p.arenaBytes = 64;
    expectError(p, "ends past the arena");
  }
  {
    MemoryPlan p = good;  // c over a, but a is read again by d
    ValueStorage &s = p.storage[static_cast<size_t>(c)];
    const int dropped = s.buffer;
    s = ValueStorage{StorageKind::InPlace, a, p.storage[static_cast<size_t>(a)].buffer};
    p.inPlaceReuses = 1;
    dropBuffer(p, dropped);
    expectError(p, "overwrites value '" + g.value(a).name + "'");
  }
  {
    MemoryPlan p = good;  // a Neg output cannot be a view
    ValueStorage &s = p.storage[static_cast<size_t>(c)];
    s.kind = StorageKind::View;
    s.aliasOf = a;
    expectError(p, "");
  }
  {
    MemoryPlan p = good;
    const int dropped = p.storage[static_cast<size_t>(d)].buffer;
    p.storage[static_cast<size_t>(d)] = ValueStorage{};
    dropBuffer(p, dropped);
    expectError(p, "has no storage");
  }
  {
    MemoryPlan p = good;
    p.storage[static_cast<size_t>(y)] = p.storage[static_cast<size_t>(d)];
    expectError(p, "is a graph input, output or constant");
  }
  {
    MemoryPlan p = good;
    p.buffers[0].lastStep = 0;  // a is read until step 2
    p.lowerBoundBytes = 0;
    expectError(p, "outside its buffer's lifetime");
  }
  {
    MemoryPlan p = good;
    p.lowerBoundBytes += 64;
    expectError(p, "lower bound");
  }
}

// ---- the pass ----------------------------------------------------------------------------------------

TEST_CASE("memory-plan pass reads its options strictly and reports stats", "[analysis][memory][pass]") {
  auto bad = [](const nlohmann::json &options) {
    auto pass = passes::createMemoryPlanPass(options);
    REQUIRE_FALSE(pass.hasValue());
    return pass.message();
  };
  CHECK_THAT(bad({{"planer", "naive"}}), Catch::Contains("unknown option 'planer'"));
  CHECK_THAT(bad({{"planer", "naive"}}), Catch::Contains("alignment, in-place, planner, views"));
  CHECK_THAT(bad({{"planner", "first-fit"}}), Catch::Contains("'naive', 'greedy-size', 'best-of'"));
  CHECK_THAT(bad({{"alignment", 48u}}), Catch::Contains("option 'alignment' must be a power of two, got 48"));
  CHECK_THAT(bad({{"alignment", 0u}}), Catch::Contains("power of two, got 0"));
  CHECK_THAT(bad({{"in-place", "yes"}}), Catch::Contains("option 'in-place' must be true or false"));

  auto pass = passes::createMemoryPlanPass(nlohmann::json::object());
  REQUIRE(pass.hasValue());
  CHECK((*pass)->name() == "memory-plan");
  CHECK((*pass)->options() ==
        nlohmann::json({{"planner", "best-of"}, {"alignment", 64}, {"in-place", true}, {"views", true}}));

  ir::GraphBuilder b = test::makeBuilder();
  ValueId x = b.input("x", DType::Float32, {4, 16});
  ValueId r = b.op("Reshape", {b.op("Relu", {x}), b.constant("shape", int64s({64}))});
  ir::Graph g = finish(b, {b.op("Neg", {b.op("Exp", {r})})});
  pass::PassContext context;
  auto result = (*pass)->run(g, context);
  REQUIRE(result.hasValue());
  CHECK_FALSE(result->changed);
  REQUIRE(passes::memoryPlan(context.analyses) != nullptr);
  CHECK(passes::memoryPlan(context.analyses)->planner == "best-of");
  CHECK(result->stats.at("arena_bytes") == 256);
  CHECK(result->stats.at("lower_bound_bytes") == 256);
  CHECK(result->stats.at("naive_bytes") == 3 * 256);
  CHECK(result->stats.at("efficiency") == 1.0);
  CHECK(result->stats.at("in_place_reuses") == 1);
  CHECK(result->stats.at("view_reuses") == 1);

  auto naive = passes::createMemoryPlanPass({{"planner", "naive"}, {"in-place", false}, {"views", false},
                                             {"alignment", 128u}});
  REQUIRE(naive.hasValue());
  result = (*naive)->run(g, context);
  REQUIRE(result.hasValue());
  CHECK(passes::memoryPlan(context.analyses)->planner == "naive");
  CHECK(passes::memoryPlan(context.analyses)->alignment == 128);
  CHECK(result->stats.at("arena_bytes") == 3 * 256);
  CHECK(result->stats.at("in_place_reuses") == 0);
}
