// fluidml-conv-bench MODEL.onnx [--threads N] [--block B] [--runs K]: every distinct Conv of a model in
// isolation, row-major (the NCHW kernels) against blocked (NCHW[B]c in and out), in GFLOP/s and as a share of
// the FMA peak that a register-only micro-benchmark measures on this machine (depthwise convs: bytes/s, they are
// bound by memory, not FMAs). A kernel's time is the Conv node's own, from the compiled model's per-node profile
// (the conversions around the blocked conv are not counted), the median of K runs, the two layouts interleaved.
// Timings are for reading, never for gating.
#include <immintrin.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "core/analysis/memory_plan.h"
#include "core/codegen/compiler.h"
#include "core/ir/verifier.h"
#include "core/onnx/onnx_import.h"
#include "core/ops/op_registry.h"
#include "core/interp/random_inputs.h"

using namespace fluidml;

namespace {

using Clock = std::chrono::steady_clock;

// ---- FMA peak -------------------------------------------------------------------------------------------------

/// FLOPs per second of one core issuing independent vector FMAs from registers (12 chains, enough to cover the
/// FMA latency on every x86 core we target). One function per ISA, each compiled for it.
#define FLUIDML_FMA_PEAK(NAME, TARGET, VEC, SET1, FMA, LANES)                                           \
  __attribute__((target(TARGET))) double NAME() {                                                    \
    VEC a0 = SET1(0.1f), a1 = SET1(0.2f), a2 = SET1(0.3f), a3 = SET1(0.4f), a4 = SET1(0.5f);         \
    VEC a5 = SET1(0.6f), a6 = SET1(0.7f), a7 = SET1(0.8f), a8 = SET1(0.9f), a9 = SET1(1.0f);         \
    VEC a10 = SET1(1.1f), a11 = SET1(1.2f);                                                          \
    const VEC m = SET1(0.999f), c = SET1(1e-4f);                                                      \
    const int64_t iterations = 1'000'000;                                                             \
    double best = 0;                                                                                  \
    for (int round = 0; round < 60; ++round) { /* short rounds: the best catches a quiet moment */   \
      const auto start = Clock::now();                                                                \
      for (int64_t it = 0; it < iterations; ++it) {                                                   \
        a0 = FMA(a0, m, c); a1 = FMA(a1, m, c); a2 = FMA(a2, m, c); a3 = FMA(a3, m, c);               \
        a4 = FMA(a4, m, c); a5 = FMA(a5, m, c); a6 = FMA(a6, m, c); a7 = FMA(a7, m, c);               \
        a8 = FMA(a8, m, c); a9 = FMA(a9, m, c); a10 = FMA(a10, m, c); a11 = FMA(a11, m, c);           \
        __asm__ volatile("" : "+v"(a0), "+v"(a1), "+v"(a2), "+v"(a3), "+v"(a4), "+v"(a5));            \
      }                                                                                               \
      const double seconds = std::chrono::duration<double>(Clock::now() - start).count();             \
      best = std::max(best, static_cast<double>(iterations) * 12 * LANES * 2 / seconds);              \
    }                                                                                                 \
    VEC sum = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11;                            \
    float lanes[LANES];                                                                               \
    std::memcpy(lanes, &sum, sizeof lanes);                                                           \
    if (lanes[0] == 12345.0f) std::printf(" "); /* keeps the chains alive */                          \
    return best;                                                                                      \
  }
FLUIDML_FMA_PEAK(fmaPeak512, "avx512f", __m512, _mm512_set1_ps, _mm512_fmadd_ps, 16)
FLUIDML_FMA_PEAK(fmaPeak256, "avx2,fma", __m256, _mm256_set1_ps, _mm256_fmadd_ps, 8)
#undef FLUIDML_FMA_PEAK

// ---- one conv in isolation ------------------------------------------------------------------------------------

struct ConvShape {
  ir::Shape x, w;
  ir::AttributeMap attrs;
  bool bias = false;
  int count = 0;  // how many convs of the model have this shape
  std::string key() const {
    std::string k = ir::shapeToString(x) + " " + ir::shapeToString(w) + (bias ? " b" : "");
    for (const auto &[name, value] : attrs) k += " " + name + "=" + ir::attributeToString(value);
    return k;
  }
};

/// x -> [Relayout] -> Conv -> [Relayout] -> y.
Expected<ir::Graph> buildGraph(const ConvShape &c, const std::string &layout) {
  ir::Graph graph;
  graph.opsetImports.emplace("", 17);
  graph.opsetImports.emplace("fluidml", 1);
  ir::ValueId v = graph.addInput("x", ir::TensorType{ir::DType::Float32, c.x});
  auto add = [&](const std::string &op, std::vector<ir::ValueId> inputs, ir::AttributeMap attrs,
                 const std::string &domain) -> Status {
    const std::string name = graph.uniqueValueName(op);
    ir::NodeId node = graph.addNode(op, name, inputs, {name}, std::move(attrs), domain);
    FLUIDML_RETURN_IF_ERROR(ops::inferNodeTypes(graph, node));
    v = graph.node(node).outputs[0];
    return Status::ok();
  };
  const bool blocked = !layout.empty();
  // An input of fewer channels than a block (an image) is read as NCHW, as the first conv of a network reads it.
  const bool blockedInput = blocked && c.x[1] >= ir::parseLayout(layout, 4)->tileOf(1);
  if (blockedInput) FLUIDML_RETURN_IF_ERROR(add("Relayout", {v}, {{"layout", layout}}, "fluidml"));
  {
    std::vector<ir::ValueId> inputs{v, graph.addConstant("w", ir::Tensor::zeros(ir::DType::Float32, c.w))};
    if (c.bias) inputs.push_back(graph.addConstant("b", ir::Tensor::zeros(ir::DType::Float32, {c.w[0]})));
    FLUIDML_RETURN_IF_ERROR(add("Conv", inputs, c.attrs, ""));
    if (blocked) {
      ir::TensorType &out = graph.value(v).type;
      auto parsed = ir::parseLayout(layout, out.rank());
      if (!parsed.hasValue()) return parsed.status();
      out.layout = *parsed;
    }
  }
  if (blocked) FLUIDML_RETURN_IF_ERROR(add("Relayout", {v}, {{"layout", std::string("row-major")}}, "fluidml"));
  graph.addOutput(v);
  FLUIDML_RETURN_IF_ERROR(ir::verify(graph));
  return graph;
}

struct Timed {
  std::unique_ptr<codegen::CompiledModel> model;
  std::vector<ir::Tensor> inputs, outputs;
  std::vector<double> seconds;
  std::string strategy;
};

Expected<Timed> prepare(const ir::Graph &graph, int threads, const std::string &asmPath = "") {
  auto plan = analysis::planMemory(graph, {});
  if (!plan.hasValue()) return plan.status();
  codegen::CompileOptions options;
  options.threads = threads;
  options.dumpAsmPath = asmPath;
  options.profile = true;
  auto model = codegen::compileJit(graph, *plan, options);
  if (!model.hasValue()) return model.status();
  Timed t;
  t.model = std::move(*model);
  t.inputs = interp::makeRandomInputs(graph, 1);
  for (const ir::TensorType &type : t.model->outputTypes()) t.outputs.push_back(ir::Tensor::zeros(type.dtype, type.shape));
  for (const auto &[node, strategy] : t.model->kernelStrategies())
    if (node.rfind("Conv", 0) == 0) t.strategy = strategy;
  return t;
}

/// One run; the Conv node's own time from the profile.
double runOnce(Timed &t) {
  t.model->resetProfile();
  Status status = t.model->run(t.inputs, t.outputs);
  if (!status.isOk()) std::fprintf(stderr, "run failed: %s\n", status.message().c_str());
  for (const codegen::NodeProfile &node : t.model->profile())
    if (node.opType == "Conv") return static_cast<double>(node.nanoseconds) * 1e-9;
  return 0;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

}  // namespace

int main(int argc, char **argv) {
  std::string model;
  int threads = 1, runs = 15;
  int64_t block = 0;
  std::string asmDir;  // --asm DIR: the blocked graphs' assembly, DIR/convK.s
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--threads" && i + 1 < argc) threads = std::atoi(argv[++i]);
    else if (arg == "--block" && i + 1 < argc) block = std::atoll(argv[++i]);
    else if (arg == "--runs" && i + 1 < argc) runs = std::atoi(argv[++i]);
    else if (arg == "--asm" && i + 1 < argc) asmDir = argv[++i];
    else if (model.empty() && arg[0] != '-') model = arg;
    else {
      std::fprintf(stderr, "usage: fluidml-conv-bench MODEL.onnx [--threads N] [--block B] [--runs K] [--asm DIR]\n");
      return 2;
    }
  }
  if (model.empty() || threads < 1 || runs < 1) {
    std::fprintf(stderr, "usage: fluidml-conv-bench MODEL.onnx [--threads N] [--block B] [--runs K] [--asm DIR]\n");
    return 2;
  }
  const bool avx512 = __builtin_cpu_supports("avx512f");
  if (block == 0) block = avx512 ? 16 : 8;
  const double peakPerCore = avx512 ? fmaPeak512() : fmaPeak256();
  const double peak = peakPerCore * threads;
  std::printf("FMA peak: %.1f GFLOP/s per core (%s), %d thread(s): %.1f GFLOP/s\n", peakPerCore / 1e9,
              avx512 ? "AVX-512" : "AVX2", threads, peak / 1e9);

  auto graph = onnxio::importModelFile(model);
  if (!graph.hasValue()) {
    std::fprintf(stderr, "error: %s\n", graph.message().c_str());
    return 2;
  }
  std::map<std::string, ConvShape> shapes;
  std::vector<std::string> order;
  for (ir::NodeId id : graph->order()) {
    const ir::Node &node = graph->node(id);
    if (node.opType != "Conv" || !node.domain.empty()) continue;
    ConvShape c;
    c.x = graph->value(node.inputs[0]).type.shape;
    c.w = graph->value(node.inputs[1]).type.shape;
    c.bias = node.inputs.size() > 2 && node.inputs[2] != ir::kNoValue;
    c.attrs = node.attributes;
    auto [it, inserted] = shapes.emplace(c.key(), c);
    if (inserted) order.push_back(c.key());
    ++it->second.count;
  }
  const std::string layout = "NCHW" + std::to_string(block) + "c";
  std::printf("%-44s %5s %9s %9s %9s %7s %7s  %s\n", "conv (x, w, stride)", "count", "MFLOP", "nchw ms", "blk ms",
              "blk/pk", "speedup", "blocked kernel");
  double totalRowMajor = 0, totalBlocked = 0;
  for (const std::string &key : order) {
    const ConvShape &c = shapes.at(key);
    auto rowMajorGraph = buildGraph(c, "");
    auto blockedGraph = buildGraph(c, layout);
    if (!rowMajorGraph.hasValue() || !blockedGraph.hasValue()) {
      std::fprintf(stderr, "skipping %s: %s\n", key.c_str(),
                   (!rowMajorGraph.hasValue() ? rowMajorGraph.message() : blockedGraph.message()).c_str());
      continue;
    }
    auto rowMajor = prepare(*rowMajorGraph, threads);
    auto blocked = prepare(*blockedGraph, threads, asmDir.empty() ? "" : asmDir + "/conv" + std::to_string(&key - &order[0]) + ".s");
    if (!rowMajor.hasValue() || !blocked.hasValue()) {
      std::fprintf(stderr, "skipping %s: %s\n", key.c_str(),
                   (!rowMajor.hasValue() ? rowMajor.message() : blocked.message()).c_str());
      continue;
    }
    for (Timed *t : {&*rowMajor, &*blocked}) runOnce(*t);
    for (int r = 0; r < runs; ++r)
      for (Timed *t : {&*rowMajor, &*blocked}) t->seconds.push_back(runOnce(*t));
    const double rowMajorSeconds = median(rowMajor->seconds);
    const double blockedSeconds = std::max(1e-9, median(blocked->seconds));
    const ir::Shape &y = blockedGraph->value(blockedGraph->outputs()[0]).type.shape;
    const int64_t group = c.x[1] / c.w[1];
    const double flops = 2.0 * static_cast<double>(y[0] * y[1] * y[2] * y[3] * c.w[1] * c.w[2] * c.w[3]);
    const bool depthwise = group > 1 && c.w[1] == 1;
    char share[32];
    if (depthwise) {
      const double bytes = 4.0 * static_cast<double>(c.x[0] * c.x[1] * c.x[2] * c.x[3] + y[0] * y[1] * y[2] * y[3]);
      std::snprintf(share, sizeof share, "%.1fGB/s", bytes / blockedSeconds / 1e9);
    } else {
      std::snprintf(share, sizeof share, "%.0f%%", 100.0 * flops / blockedSeconds / peak);
    }
    std::string name = ir::shapeToString(c.x) + " " + ir::shapeToString(c.w);
    if (auto it = c.attrs.find("strides"); it != c.attrs.end()) name += " s" + ir::attributeToString(it->second);
    std::printf("%-44s %5d %9.1f %9.3f %9.3f %7s %6.2fx  %s\n", name.c_str(), c.count, flops / 1e6,
                rowMajorSeconds * 1e3, blockedSeconds * 1e3, share, rowMajorSeconds / blockedSeconds, blocked->strategy.c_str());
    totalRowMajor += rowMajorSeconds * c.count;
    totalBlocked += blockedSeconds * c.count;
  }
  std::printf("all convs (weighted by count): nchw %.2f ms, blocked %.2f ms, %.2fx\n", totalRowMajor * 1e3,
              totalBlocked * 1e3, totalRowMajor / totalBlocked);
  return 0;
}
