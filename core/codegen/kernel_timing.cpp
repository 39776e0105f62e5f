#include "core/codegen/kernel_timing.h"

#include <algorithm>
#include <chrono>
#include <map>

#include "core/analysis/memory_plan.h"
#include "core/codegen/compiler.h"
#include "core/interp/random_inputs.h"
#include "core/ops/op_registry.h"

namespace fluidml::codegen {

namespace {

std::string relayoutText(const ir::Layout &layout, size_t rank) {
  return layout.isRowMajor() ? ir::Layout::identity(rank).toString(rank) : layout.toString(rank);
}

bool isRelayoutNode(const ir::Node &node) { return node.domain == "fluidml" && node.opType == "Relayout"; }

/// Adds fluidml.Relayout(`value`) to `layout` at the end of `batch`; returns its output.
Expected<ir::ValueId> addRelayout(ir::Graph &batch, ir::ValueId value, const ir::Layout &layout,
                                  const std::string &name) {
  batch.opsetImports.emplace("fluidml", 1);
  const ir::NodeId id = batch.addNode("Relayout", name, {value}, {name},
                                     {{"layout", relayoutText(layout, batch.value(value).type.rank())}}, "fluidml");
  FLUIDML_RETURN_IF_ERROR(ops::inferNodeTypes(batch, id).withContext("node '" + name + "' (fluidml.Relayout)"));
  return batch.node(id).outputs[0];
}

/// Appends `request`'s node to `batch` between graph inputs and outputs (see the header); names get `prefix`.
/// Returns the name of the timed node.
Expected<std::string> appendIsolated(ir::Graph &batch, const TimingRequest &request, const std::string &prefix) {
  const ir::Graph &graph = *request.graph;
  const ir::Node &node = *request.node;
  const target::KernelVariant &variant = request.variant;
  auto layoutOf = [](const std::vector<ir::Layout> &layouts, size_t i) {
    return i < layouts.size() ? layouts[i] : ir::Layout::rowMajor();
  };
  for (const auto &[domain, version] : graph.opsetImports) batch.opsetImports[domain] = version;

  std::vector<ir::ValueId> inputs;
  for (size_t i = 0; i < node.inputs.size(); ++i) {
    const ir::ValueId in = node.inputs[i];
    if (in == ir::kNoValue) {
      inputs.push_back(ir::kNoValue);
      continue;
    }
    const ir::Value &v = graph.value(in);
    const std::string name = prefix + v.name;
    if (v.isConstant()) {
      inputs.push_back(batch.addConstant(name, v.constant));
      continue;
    }
    ir::ValueId input = batch.addInput(name, ir::TensorType(v.type.dtype, v.type.shape));
    const ir::Layout layout = layoutOf(variant.inputs, i);
    if (!layout.isRowMajor()) {
      FLUIDML_ASSIGN_OR_RETURN(input, addRelayout(batch, input, layout, name + ".in"));
    }
    inputs.push_back(input);
  }
  ir::AttributeMap attributes = node.attributes;
  if (isRelayoutNode(node) && !node.outputs.empty())
    attributes["layout"] = relayoutText(layoutOf(variant.outputs, 0), graph.value(node.outputs[0]).type.rank());
  std::vector<std::string> outputNames;
  for (ir::ValueId out : node.outputs) outputNames.push_back(out == ir::kNoValue ? "" : prefix + graph.value(out).name);
  const std::string name = prefix + node.name;
  const ir::NodeId id = batch.addNode(node.opType, name, inputs, outputNames, attributes, node.domain);
  FLUIDML_RETURN_IF_ERROR(ops::inferNodeTypes(batch, id).withContext("node '" + name + "' (" + node.opType + ")"));

  // An output the model reads becomes a graph output (row-major); one it does not stays unread here too, unless
  // the model reads none (then the first one is kept, so the node is not dead code).
  bool anyRead = false;
  for (ir::ValueId original : node.outputs)
    anyRead = anyRead || (original != ir::kNoValue && (!graph.value(original).uses.empty() || graph.isGraphOutput(original)));
  bool kept = false;
  for (size_t k = 0; k < node.outputs.size(); ++k) {
    const ir::ValueId original = node.outputs[k];
    const ir::ValueId out = batch.node(id).outputs[k];
    if (original == ir::kNoValue || out == ir::kNoValue) continue;
    ir::TensorType &type = batch.value(out).type;
    if (type.dtype != graph.value(original).type.dtype || type.shape != graph.value(original).type.shape)
      return Status::internal("node '" + node.name + "' rebuilt alone infers output " + type.toString() +
                              " instead of " + graph.value(original).type.toString());
    type.layout = layoutOf(variant.outputs, k);
    const bool read = !graph.value(original).uses.empty() || graph.isGraphOutput(original);
    if (anyRead ? !read : kept) continue;
    kept = true;
    ir::ValueId result = out;
    if (!type.layout.isRowMajor()) {
      FLUIDML_ASSIGN_OR_RETURN(result, addRelayout(batch, out, ir::Layout::rowMajor(),
                                                   prefix + graph.value(original).name + ".out"));
    }
    batch.addOutput(result);
  }
  return name;
}

double median(std::vector<double> values) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const size_t n = values.size();
  return n % 2 == 1 ? values[n / 2] : 0.5 * (values[n / 2 - 1] + values[n / 2]);
}

/// Compiles `batch` with profiling at `threads` threads and runs it: per node name, its median time.
struct BatchRun {
  std::map<std::string, std::vector<double>> nanoseconds;  // per run
  std::map<std::string, std::string> strategies;
  int runs = 0;
};

Expected<BatchRun> runProfiled(const ir::Graph &batch, int threads, const TimingOptions &options) {
  FLUIDML_ASSIGN_OR_RETURN(analysis::MemoryPlan plan, analysis::planMemory(batch, analysis::MemoryPlanOptions{}));
  CompileOptions compile;
  compile.threads = threads;
  compile.target = options.target;
  compile.profile = true;
  FLUIDML_ASSIGN_OR_RETURN(std::unique_ptr<CompiledModel> model, compileJit(batch, plan, compile));
  const std::vector<ir::Tensor> inputs = interp::makeRandomInputs(batch, options.seed);
  std::vector<ir::Tensor> outputs;
  for (const ir::TensorType &type : model->outputTypes()) outputs.push_back(ir::Tensor::zeros(type.dtype, type.shape));
  for (int i = 0; i < options.warmupRuns; ++i) FLUIDML_RETURN_IF_ERROR(model->run(inputs, outputs));

  BatchRun result;
  result.strategies = model->kernelStrategies();
  double timedMs = 0;
  while (result.runs < options.maxRuns && (result.runs < options.minRuns || timedMs < options.minTimedMs)) {
    model->resetProfile();
    const auto start = std::chrono::steady_clock::now();
    FLUIDML_RETURN_IF_ERROR(model->run(inputs, outputs));
    timedMs += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    for (const NodeProfile &node : model->profile()) result.nanoseconds[node.name].push_back(static_cast<double>(node.nanoseconds));
    ++result.runs;
  }
  return result;
}

}  // namespace

Expected<ir::Graph> isolatedGraph(const std::vector<TimingRequest> &requests, std::vector<std::string> *timedNodes) {
  ir::Graph batch;
  batch.name = "kernel_timing";
  for (size_t r = 0; r < requests.size(); ++r) {
    FLUIDML_ASSIGN_OR_RETURN(std::string name, appendIsolated(batch, requests[r], "t" + std::to_string(r) + "/"));
    if (timedNodes != nullptr) timedNodes->push_back(std::move(name));
  }
  if (batch.outputs().empty()) return Status::internal("kernel timing: no node of the batch has an output to time");
  return batch;
}

Expected<std::vector<KernelTiming>> timeKernels(const std::vector<TimingRequest> &requests, int threads,
                                                const TimingOptions &options) {
  std::vector<std::string> names;
  FLUIDML_ASSIGN_OR_RETURN(ir::Graph batch, isolatedGraph(requests, &names));
  FLUIDML_ASSIGN_OR_RETURN(BatchRun run, runProfiled(batch, threads, options));
  std::vector<KernelTiming> timings;
  for (const std::string &name : names) {
    KernelTiming timing;
    timing.runs = run.runs;
    if (auto found = run.nanoseconds.find(name); found != run.nanoseconds.end()) timing.nanoseconds = median(found->second);
    if (auto found = run.strategies.find(name); found != run.strategies.end()) timing.strategy = found->second;
    timings.push_back(std::move(timing));
  }
  return timings;
}

Expected<target::MachineRates> measureMachineRates(const target::TargetDescription &target, int threads) {
  constexpr int64_t kStreamElements = int64_t{8} << 20;  // 32 MiB read and 32 MiB written: past the caches
  constexpr int64_t kGemm = 512;
  ir::Graph graph;
  graph.name = "machine_rates";
  const ir::ValueId x = graph.addInput("x", ir::TensorType(ir::DType::Float32, {kStreamElements}));
  const ir::NodeId relu = graph.addNode("Relu", "stream", {x}, {"relu"});
  const ir::ValueId a = graph.addInput("a", ir::TensorType(ir::DType::Float32, {kGemm, kGemm}));
  std::vector<float> weights(static_cast<size_t>(kGemm * kGemm));
  for (size_t i = 0; i < weights.size(); ++i) weights[i] = static_cast<float>(static_cast<int>(i % 17) - 8) / 64.0f;
  const ir::ValueId w = graph.addConstant("w", ir::Tensor::fromVector<float>({kGemm, kGemm}, weights));
  const ir::NodeId matmul = graph.addNode("MatMul", "fma", {a, w}, {"product"});
  for (ir::NodeId id : {relu, matmul}) {
    FLUIDML_RETURN_IF_ERROR(ops::inferNodeTypes(graph, id));
    graph.addOutput(graph.node(id).outputs[0]);
  }
  TimingOptions options;
  options.target = target;
  options.minRuns = 5;
  options.maxRuns = 5;
  FLUIDML_ASSIGN_OR_RETURN(BatchRun run, runProfiled(graph, threads, options));
  const double streamNs = median(run.nanoseconds["stream"]);
  const double gemmNs = median(run.nanoseconds["fma"]);
  if (!(streamNs > 0) || !(gemmNs > 0)) return Status::internal("the machine-rate micro-benchmarks timed nothing");
  target::MachineRates rates;
  rates.bytesPerSecond = 2.0 * static_cast<double>(kStreamElements) * 4.0 / (streamNs * 1e-9);
  rates.flopsPerSecond = 2.0 * static_cast<double>(kGemm * kGemm * kGemm) / (gemmNs * 1e-9);
  return rates;
}

}  // namespace fluidml::codegen
