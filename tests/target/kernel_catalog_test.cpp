// The kernel catalog (core/target/kernel_catalog.h, codegen::MeasuredKernelCatalog): variants are enumerated
// without blow-up, start with row-major, and are all accepted by codegen; the graphs their costs are timed on
// compute what the interpreter computes (at 1 and 2 threads); measured costs are positive and finite and land in
// the cache, identical layers share an entry, and without measuring the cost is analytic. No timing thresholds.
#include <catch2/catch.hpp>

#include <cmath>
#include <set>

#include "core/codegen/compiler.h"
#include "core/codegen/measured_catalog.h"
#include "core/interp/random_inputs.h"
#include "core/target/cost_cache.h"
#include "core/target/kernel_catalog.h"
#include "tests/codegen/codegen_test_util.h"
#include "tests/layouts/random_layouts.h"
#include "tests/test_util.h"

using namespace fluidml;
using ir::DType;
using ir::Tensor;
using ir::ValueId;

namespace {

/// Conv (bias) -> Relu -> Add (residual) on 1x12x6x6 (12 channels: not a multiple of the block), a rank-4
/// batched MatMul (attention-like), a rank-2 MatMul, and a second Conv identical to the first but for its weights.
ir::Graph catalogGraph() {
  ir::GraphBuilder b = test::makeBuilder();
  ValueId x = b.input("x", DType::Float32, {1, 12, 6, 6});
  ValueId c = b.op("Conv", {x, b.constant("w", test::randomFloats({12, 12, 3, 3}, 1)),
                            b.constant("bias", test::randomFloats({12}, 2))},
                   {{"pads", std::vector<int64_t>{1, 1, 1, 1}}});
  ValueId r = b.op("Relu", {c});
  ValueId added = b.op("Add", {r, x});
  ValueId c2 = b.op("Conv", {added, b.constant("w2", test::randomFloats({12, 12, 3, 3}, 3)),
                             b.constant("bias2", test::randomFloats({12}, 4))},
                    {{"pads", std::vector<int64_t>{1, 1, 1, 1}}});
  b.output(c2);
  ValueId q = b.input("q", DType::Float32, {1, 2, 8, 16});
  ValueId k = b.input("k", DType::Float32, {1, 2, 16, 8});
  b.output(b.op("MatMul", {q, k}));
  ValueId a = b.input("a", DType::Float32, {24, 20});
  b.output(b.op("MatMul", {a, b.constant("m", test::randomFloats({20, 10}, 5))}));
  auto graph = std::move(b).build();
  REQUIRE(graph.hasValue());
  return std::move(graph).value();
}

const ir::Node &nodeOf(const ir::Graph &graph, const std::string &opType, int occurrence = 0) {
  for (ir::NodeId id : graph.order())
    if (graph.node(id).opType == opType && occurrence-- == 0) return graph.node(id);
  FAIL("no " << opType << " node");
  return graph.node(0);
}

target::CostCache memoryCache() {
  return target::CostCache("", target::MachineIdentity::of(codegen::resolvedForCache(target::TargetDescription::host())));
}

codegen::MeasuredCatalogOptions quickOptions(bool measure = true) {
  codegen::MeasuredCatalogOptions options;
  options.measure = measure;
  options.timing.minRuns = 2;
  options.timing.maxRuns = 3;
  options.timing.minTimedMs = 0;
  return options;
}

}  // namespace

TEST_CASE("Kernel catalog: variants start row-major, are distinct and accepted by codegen", "[catalog][llvm]") {
  const ir::Graph graph = catalogGraph();
  target::CostCache cache = memoryCache();
  codegen::MeasuredKernelCatalog catalog(quickOptions(), cache);
  const int64_t lanes = catalog.target().floatLanes();
  for (ir::NodeId id : graph.order()) {
    const ir::Node &node = graph.node(id);
    INFO(node.name << " (" << node.opType << ")");
    const std::vector<target::KernelVariant> variants = catalog.variants(graph, node);
    REQUIRE(!variants.empty());
    REQUIRE(variants.size() <= 16);
    for (const ir::Layout &layout : variants.front().inputs) REQUIRE(layout.isRowMajor());
    for (const ir::Layout &layout : variants.front().outputs) REQUIRE(layout.isRowMajor());
    std::set<std::string> seen;
    for (const target::KernelVariant &variant : variants) {
      INFO(variant.implementation << " " << variant.layoutsText(graph, node));
      REQUIRE(seen.insert(variant.layoutsText(graph, node)).second);
      REQUIRE(variant.inputs.size() == node.inputs.size());
      REQUIRE(variant.outputs.size() == node.outputs.size());
      const ir::Graph probe = target::probeGraph(graph, node, variant);
      REQUIRE(codegen::checkNodeLayouts(probe, probe.node(probe.order().front())).isOk());
      for (size_t i = 0; i < node.inputs.size(); ++i)  // constants stay row-major
        if (graph.value(node.inputs[i]).isConstant()) REQUIRE(variant.inputs[i].isRowMajor());
    }
  }
  // Elementwise kernels read and write blocked and channels-last operands: their uniform variants exist.
  const ir::Node &add = nodeOf(graph, "Add");
  std::set<std::string> addLayouts;
  for (const target::KernelVariant &variant : catalog.variants(graph, add)) addLayouts.insert(variant.layoutsText(graph, add));
  const std::string blocked = "NCHW" + std::to_string(lanes) + "c";
  REQUIRE(addLayouts.count(blocked + "," + blocked + "->" + blocked) == 1);
  REQUIRE(addLayouts.count("(0,2,3,1),(0,2,3,1)->(0,2,3,1)") == 1);

  // Candidates: head-split only for MatMul operands, transposes for rank 2, nothing that stores like row-major.
  REQUIRE(target::candidateLayouts(ir::TensorType(DType::Float32, {1, 2, 8, 16}), lanes, true).size() == 4);
  REQUIRE(target::candidateLayouts(ir::TensorType(DType::Float32, {1, 2, 8, 16}), lanes, false).size() == 3);
  REQUIRE(target::candidateLayouts(ir::TensorType(DType::Float32, {24, 20}), lanes, false).size() == 2);
  REQUIRE(target::candidateLayouts(ir::TensorType(DType::Float32, {1, 64, 1, 1}), lanes, false).size() == 2);  // blocked only
  REQUIRE(target::storesLikeRowMajor(ir::Layout::permutation({0, 2, 3, 1}), {1, 64, 1, 1}));
  REQUIRE_FALSE(target::storesLikeRowMajor(ir::Layout::permutation({0, 2, 3, 1}), {1, 64, 2, 1}));
}

TEST_CASE("Kernel catalog: Relayout variants are the conversions between candidates", "[catalog][llvm]") {
  const ir::Graph conversion = target::conversionGraph(ir::TensorType(DType::Float32, {1, 12, 6, 6}));
  target::CostCache cache = memoryCache();
  codegen::MeasuredKernelCatalog catalog(quickOptions(), cache);
  const std::vector<target::KernelVariant> variants =
      catalog.variants(conversion, conversion.node(conversion.order().front()));
  REQUIRE(variants.size() == 6);  // row-major, channels-last, blocked: every ordered pair
  for (const target::KernelVariant &variant : variants) {
    REQUIRE_FALSE(variant.inputs[0] == variant.outputs[0]);
    REQUIRE(variant.implementation == "fluidml.Relayout/convert");
  }
}

TEST_CASE("Kernel catalog: the graphs costs are timed on match the interpreter", "[catalog][llvm]") {
  const ir::Graph graph = catalogGraph();
  const ir::Graph conversion = target::conversionGraph(ir::TensorType(DType::Float32, {1, 12, 6, 6}));
  target::CostCache cache = memoryCache();
  codegen::MeasuredKernelCatalog catalog(quickOptions(), cache);
  std::vector<codegen::TimingRequest> requests;
  for (ir::NodeId id : graph.order())
    for (const target::KernelVariant &variant : catalog.variants(graph, graph.node(id)))
      requests.push_back({&graph, &graph.node(id), variant});
  const ir::Node &relayout = conversion.node(conversion.order().front());
  for (const target::KernelVariant &variant : catalog.variants(conversion, relayout))
    requests.push_back({&conversion, &relayout, variant});

  std::vector<std::string> timed;
  auto isolated = codegen::isolatedGraph(requests, &timed);
  REQUIRE(isolated.hasValue());
  REQUIRE(timed.size() == requests.size());
  const std::vector<Tensor> inputs = interp::makeRandomInputs(*isolated, 3);
  const std::vector<Tensor> expected = test::runGraph(*isolated, inputs);
  for (int threads : {1, 2}) {
    auto model = test::compileGraph(*isolated, threads);
    const std::vector<Tensor> actual = test::runModel(*model, inputs);
    REQUIRE(actual.size() == expected.size());
    for (size_t k = 0; k < actual.size(); ++k) {
      INFO("output " << isolated->value(isolated->outputs()[k]).name << " at " << threads << " threads");
      REQUIRE(test::compareWithReference(actual[k], expected[k]) == "");
    }
  }
}

TEST_CASE("Kernel catalog: measured costs are positive, cached, and shared by identical layers", "[catalog][llvm]") {
  const ir::Graph graph = catalogGraph();
  target::CostCache cache = memoryCache();
  codegen::MeasuredKernelCatalog catalog(quickOptions(), cache);
  const ir::Node &conv = nodeOf(graph, "Conv", 0);
  const ir::Node &twin = nodeOf(graph, "Conv", 1);
  const target::KernelVariant rowMajor = catalog.variants(graph, conv).front();
  REQUIRE(target::costKey(graph, conv, rowMajor, 1) == target::costKey(graph, twin, rowMajor, 1));
  REQUIRE(target::costKey(graph, conv, rowMajor, 1) != target::costKey(graph, conv, rowMajor, 2));

  auto measured = catalog.cost(graph, conv, rowMajor, 1);
  REQUIRE(measured.hasValue());
  REQUIRE(measured->source == "measured");
  REQUIRE_FALSE(measured->cached);
  REQUIRE(measured->nanoseconds > 0);
  REQUIRE(std::isfinite(measured->nanoseconds));
  REQUIRE_FALSE(measured->strategy.empty());  // the strategy the conv kernel took (CompiledModel::kernelStrategies)
  const size_t entries = cache.size();
  auto again = catalog.cost(graph, twin, rowMajor, 1);  // the twin layer: the same entry, from the cache
  REQUIRE(again.hasValue());
  REQUIRE(again->cached);
  REQUIRE(again->nanoseconds == measured->nanoseconds);
  REQUIRE(cache.size() == entries);

  // A batch at two threads: every variant of every node once, then nothing left to measure.
  std::vector<codegen::TimingRequest> requests;
  for (ir::NodeId id : graph.order())
    for (const target::KernelVariant &variant : catalog.variants(graph, graph.node(id)))
      requests.push_back({&graph, &graph.node(id), variant});
  auto counts = catalog.measureMissing(requests, 2);
  REQUIRE(counts.hasValue());
  REQUIRE(counts->measured == counts->unique);
  REQUIRE(counts->unique < requests.size());  // the twin conv shares its entries
  auto second = catalog.measureMissing(requests, 2);
  REQUIRE(second.hasValue());
  REQUIRE(second->measured == 0);
  REQUIRE(second->cached == second->unique);
  for (const codegen::TimingRequest &request : requests) {
    auto cost = catalog.cost(graph, *request.node, request.variant, 2);
    REQUIRE(cost.hasValue());
    REQUIRE(cost->source == "measured");
    REQUIRE(std::isfinite(cost->nanoseconds));
    REQUIRE(cost->nanoseconds >= 0);
  }
  auto conversion = catalog.conversionCost(graph.value(conv.outputs[0]).type, ir::Layout::rowMajor(),
                                           ir::Layout::permutation({0, 2, 3, 1}), 1);
  REQUIRE(conversion.hasValue());
  REQUIRE(conversion->source == "measured");
  REQUIRE(conversion->nanoseconds > 0);
}

TEST_CASE("Kernel catalog: without measuring, costs are analytic rooflines", "[catalog][llvm]") {
  const ir::Graph graph = catalogGraph();
  target::CostCache cache = memoryCache();
  codegen::MeasuredKernelCatalog catalog(quickOptions(/*measure=*/false), cache);
  const ir::Node &conv = nodeOf(graph, "Conv");
  auto cost = catalog.cost(graph, conv, catalog.variants(graph, conv).front(), 1);
  REQUIRE(cost.hasValue());
  REQUIRE(cost->source == "analytic");
  REQUIRE(cost->nanoseconds > 0);
  REQUIRE(std::isfinite(cost->nanoseconds));
  REQUIRE(cost->note == "measuring disabled");
  auto rates = cache.rates(1);  // measured once by micro-benchmarks and cached
  REQUIRE(rates.has_value());
  REQUIRE(rates->bytesPerSecond > 0);
  REQUIRE(rates->flopsPerSecond > 0);
  // Analytic costs are not cached: a later catalog that measures will measure them.
  REQUIRE(cache.size() == 0);
}

TEST_CASE("Kernel catalog: a kernel that cannot be timed gets a cached analytic cost saying why", "[catalog][llvm]") {
  const ir::Graph graph = catalogGraph();
  target::CostCache cache = memoryCache();
  codegen::MeasuredKernelCatalog catalog(quickOptions(), cache);
  const ir::Node &add = nodeOf(graph, "Add");
  const target::KernelVariant good = catalog.variants(graph, add).front();
  target::KernelVariant broken = good;  // a tile over the batch dim of extent 1: the isolated graph cannot be built
  broken.inputs[0] = ir::Layout::blocked(4, {{0, 8}});
  broken.implementation = "Add/broken";
  const std::vector<codegen::TimingRequest> requests{{&graph, &add, good}, {&graph, &add, broken}};
  auto counts = catalog.measureMissing(requests, 1);  // one batch: it fails, then each is timed alone
  REQUIRE(counts.hasValue());
  REQUIRE(counts->measured == 1);
  REQUIRE(counts->analytic == 1);
  REQUIRE(counts->failures.size() == 1);
  REQUIRE(counts->failures[0].find("Add/broken") != std::string::npos);
  const target::CostEntry *entry = cache.find(target::costKey(graph, add, broken, 1));
  REQUIRE(entry != nullptr);
  REQUIRE(entry->source == "analytic");
  REQUIRE_FALSE(entry->note.empty());
  REQUIRE(entry->nanoseconds > 0);
  auto again = catalog.measureMissing(requests, 1);  // not tried again
  REQUIRE(again.hasValue());
  REQUIRE(again->cached == 2);
  REQUIRE(again->analytic == 0);
  auto cost = catalog.cost(graph, add, broken, 1);
  REQUIRE(cost.hasValue());
  REQUIRE(cost->source == "analytic");
  REQUIRE(cost->cached);
}
