// Runs the official ONNX node test cases (Debian's libonnx-testdata) through the reference interpreter.
// Every case whose ops are all in the op table must pass, unless exceptions.txt names it with a reason;
// cases with ops we do not claim are skipped. Prints pass/fail/skip counts per op and a closing
// "N passed, N failed, N skipped" line; exits 1 when an unexcused case fails or an exception is stale.
// With --planned, every case that passes is run again from a memory plan by each planner (naive, greedy-size,
// best-of; in place and views on), after checkMemoryPlan accepts the plan, and must give bit-identical outputs.
// With --compiled, every passing case is also compiled with LLVM (for the host, or for --mcpu NAME such as
// x86-64-v3) and checked against the expected outputs.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <sstream>

#include "core/analysis/memory_plan.h"
#include "core/codegen/compiler.h"
#include "core/codegen/target_machine.h"
#include "core/interp/interpreter.h"
#include "core/onnx/onnx_import.h"
#include "core/onnx/tensor_proto.h"
#include "core/codegen/compiler.h"
#include "core/ir/verifier.h"
#include "tests/conformance/tensor_compare.h"
#include "tests/layouts/random_layouts.h"

namespace fs = std::filesystem;
using namespace fluidml;

namespace {

enum class Outcome { Pass, Fail, Skip };

struct CaseResult {
  Outcome outcome = Outcome::Pass;
  std::string reason;
};

struct OpCounts {
  int pass = 0, fail = 0, skip = 0, excused = 0;
};

struct Options {
  std::string dataDir = "/usr/share/libonnx-testdata/data/node";
  std::string filter;
  std::string exceptionsFile;
  bool verbose = false;
  bool planned = false;
  bool compiled = false;  // also compile every passing case with LLVM and check its outputs
  /// With --layouts permuted|blocked: the compiled run gives the node random layouts on its operands first.
  std::optional<test::LayoutMix> layouts;
  target::TargetDescription target = target::TargetDescription::host();  // --mcpu: what --compiled compiles for
};

/// What the planned runs covered, for the summary.
struct PlannedCounts {
  int runs = 0;           // planned runs compared bit for bit (cases x data sets x planners)
  int arenaValues = 0;    // values placed in an arena, over the best-of plans
  int inPlace = 0;
  int views = 0;
  size_t arenaBytes = 0;  // sums over the best-of plans
  size_t lowerBoundBytes = 0;
  size_t naiveBytes = 0;
  int compiledRuns = 0;   // cases x data sets compiled with LLVM (best-of plan) and matching the expected outputs
  /// --layouts: per op, nodes whose kernel read the random layouts natively, and nodes that refused them (a
  /// Relayout converted the operands; the run then checks the conversions and the row-major kernel).
  std::map<std::string, std::pair<int, int>> layoutNodes;
};

constexpr const char *kPlanners[] = {"naive", "greedy-size", "best-of"};

/// Runs the graph from a plan by each planner; an error when a plan fails its check or an output differs in
/// any bit from the unplanned run.
std::string checkPlannedRuns(const ir::Graph &graph, const std::vector<ir::Tensor> &inputs,
                             const std::vector<ir::Tensor> &unplanned, PlannedCounts &counts) {
  for (const char *planner : kPlanners) {
    analysis::MemoryPlanOptions options;
    options.planner = planner;
    auto plan = analysis::planMemory(graph, options);
    if (!plan) return std::string("planned (") + planner + "): " + plan.message();
    Status checked = analysis::checkMemoryPlan(graph, *plan);
    if (!checked.isOk()) return std::string("planned (") + planner + "): " + checked.message();
    interp::Interpreter interpreter(graph, &*plan);
    auto outputs = interpreter.run(inputs);
    if (!outputs) return std::string("planned (") + planner + "): " + outputs.message();
    for (size_t i = 0; i < unplanned.size(); ++i) {
      const ir::Tensor &a = (*outputs)[i], &b = unplanned[i];
      if (a.dtype() != b.dtype() || a.shape() != b.shape() ||
          (a.bytes() != 0 && std::memcmp(a.rawData(), b.rawData(), a.bytes()) != 0))
        return std::string("planned (") + planner + "): output " + std::to_string(i) +
               " differs from the unplanned run";
    }
    ++counts.runs;
    if (std::string(planner) == "best-of") {
      for (const analysis::ValueStorage &s : plan->storage)
        if (s.buffer >= 0) ++counts.arenaValues;
      counts.inPlace += plan->inPlaceReuses;
      counts.views += plan->viewReuses;
      counts.arenaBytes += plan->arenaBytes;
      counts.lowerBoundBytes += plan->lowerBoundBytes;
      counts.naiveBytes += plan->naiveBytes;
    }
  }
  return "";
}

/// exceptions.txt: "test_name  reason..." per line; '#' starts a comment.
std::map<std::string, std::string> readExceptions(const std::string &path) {
  std::map<std::string, std::string> exceptions;
  if (path.empty()) return exceptions;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream fields(line);
    std::string name, reason;
    fields >> name;
    std::getline(fields, reason);
    reason.erase(0, reason.find_first_not_of(" \t"));
    if (!name.empty()) exceptions[name] = reason;
  }
  return exceptions;
}

std::vector<std::string> sortedPbFiles(const fs::path &dir, const std::string &prefix) {
  std::vector<std::pair<int, std::string>> files;
  for (const auto &entry : fs::directory_iterator(dir)) {
    std::string name = entry.path().filename().string();
    if (name.rfind(prefix, 0) == 0 && entry.path().extension() == ".pb")
      files.push_back({std::stoi(name.substr(prefix.size())), entry.path().string()});
  }
  std::sort(files.begin(), files.end());
  std::vector<std::string> paths;
  for (auto &f : files) paths.push_back(f.second);
  return paths;
}

/// Compiles the graph with its best-of plan through the LLVM JIT and checks the outputs against the expected ones
/// with ONNX's tolerance; an error message, or empty.
std::string checkCompiledRun(const ir::Graph &original, const std::vector<ir::Tensor> &inputs,
                             const std::vector<onnxio::NamedTensor> &expected, PlannedCounts &counts,
                             const Options &options, const std::string &caseName) {
  const target::TargetDescription &target = options.target;
  ir::Graph graph = original.clone();
  if (options.layouts) {
    std::mt19937 rng(static_cast<uint32_t>(std::hash<std::string>{}(caseName)));
    const std::vector<ir::NodeId> nodes = graph.order();
    Status exposed = test::exposeNodesToLayouts(graph, rng, *options.layouts);
    if (!exposed.isOk()) return "layouts: " + exposed.message();
    for (ir::NodeId id : nodes) {
      auto &[native, refused] = counts.layoutNodes[graph.node(id).opType];
      ++(codegen::checkNodeLayouts(graph, graph.node(id)).isOk() ? native : refused);
    }
    auto legalized = test::legalizeForCodegen(graph);
    if (!legalized) return "layouts: " + legalized.message();
    Status verified = ir::verify(graph);
    if (!verified.isOk()) return "layouts: " + verified.message();
  }
  auto plan = analysis::planMemory(graph, {});
  if (!plan) return "compiled: " + plan.message();
  codegen::CompileOptions compileOptions;
  compileOptions.target = target;
  auto model = codegen::compileJit(graph, *plan, compileOptions);
  if (!model) return "compiled: " + model.message();
  std::vector<ir::Tensor> outputs;
  for (const ir::TensorType &type : (*model)->outputTypes()) outputs.push_back(ir::Tensor::zeros(type.dtype, type.shape));
  Status ran = (*model)->run(inputs, outputs);
  if (!ran.isOk()) return "compiled: " + ran.message();
  for (size_t i = 0; i < expected.size(); ++i) {
    std::string mismatch = test::compareTensors(outputs[i], expected[i].tensor, test::kOnnxTolerance);
    if (!mismatch.empty()) return "compiled: output " + std::to_string(i) + ": " + mismatch;
  }
  ++counts.compiledRuns;
  return "";
}

CaseResult runDataSet(const fs::path &caseDir, const fs::path &setDir, const Options &runOptions,
                      PlannedCounts &planned) {
  std::map<std::string, ir::Tensor> inputsByName;
  for (const std::string &path : sortedPbFiles(setDir, "input_")) {
    auto tensor = onnxio::readTensorFile(path);
    if (!tensor) return {Outcome::Skip, "test data: " + tensor.message()};
    inputsByName[tensor->name] = tensor->tensor;
  }
  std::vector<onnxio::NamedTensor> expected;
  for (const std::string &path : sortedPbFiles(setDir, "output_")) {
    auto tensor = onnxio::readTensorFile(path);
    if (!tensor) return {Outcome::Skip, "test data: " + tensor.message()};
    expected.push_back(std::move(tensor).value());
  }

  onnxio::ImportOptions options;
  options.inputValues = inputsByName;  // shape operands fed as inputs become constants
  auto graph = onnxio::importModelFile((caseDir / "model.onnx").string(), options);
  if (!graph) return {Outcome::Fail, graph.message()};

  std::vector<ir::Tensor> inputs;
  for (ir::ValueId in : graph->inputs()) {
    auto it = inputsByName.find(graph->value(in).name);
    if (it == inputsByName.end()) return {Outcome::Fail, "no test data for input '" + graph->value(in).name + "'"};
    inputs.push_back(it->second);
  }
  interp::Interpreter interpreter(*graph);
  auto outputs = interpreter.run(inputs);
  if (!outputs) return {Outcome::Fail, outputs.message()};
  if (outputs->size() != expected.size())
    return {Outcome::Fail, "produced " + std::to_string(outputs->size()) + " outputs, expected " +
                               std::to_string(expected.size())};
  for (size_t i = 0; i < expected.size(); ++i) {
    std::string mismatch = test::compareTensors((*outputs)[i], expected[i].tensor, test::kOnnxTolerance);
    if (!mismatch.empty()) return {Outcome::Fail, "output " + std::to_string(i) + ": " + mismatch};
  }
  if (runOptions.planned) {
    std::string problem = checkPlannedRuns(*graph, inputs, *outputs, planned);
    if (!problem.empty()) return {Outcome::Fail, problem};
  }
  if (runOptions.compiled) {
    std::string problem = checkCompiledRun(*graph, inputs, expected, planned, runOptions, caseDir.filename().string());
    if (!problem.empty()) return {Outcome::Fail, problem};
  }
  return {Outcome::Pass, ""};
}

CaseResult runCase(const fs::path &caseDir, std::vector<std::string> &opsOut, const Options &options,
                   PlannedCounts &planned) {
  auto scan = onnxio::scanModelFile((caseDir / "model.onnx").string());
  if (!scan) return {Outcome::Fail, scan.message()};
  opsOut = scan->opTypes;
  std::sort(opsOut.begin(), opsOut.end());
  opsOut.erase(std::unique(opsOut.begin(), opsOut.end()), opsOut.end());
  if (!scan->unsupportedOps.empty()) {
    std::string list;
    for (const auto &op : scan->unsupportedOps) list += (list.empty() ? "" : ", ") + op;
    return {Outcome::Skip, "unsupported op " + list + " (opset " + std::to_string(scan->opset) + ")"};
  }
  if (!scan->unsupportedTypes.empty())
    return {Outcome::Skip, "unsupported element type " + scan->unsupportedTypes.front()};
  std::vector<fs::path> sets;
  for (const auto &entry : fs::directory_iterator(caseDir))
    if (entry.is_directory() && entry.path().filename().string().rfind("test_data_set_", 0) == 0)
      sets.push_back(entry.path());
  std::sort(sets.begin(), sets.end());
  if (sets.empty()) return {Outcome::Skip, "no test data"};
  for (const fs::path &set : sets) {
    CaseResult result = runDataSet(caseDir, set, options, planned);
    if (result.outcome != Outcome::Pass) return result;
  }
  return {Outcome::Pass, ""};
}

}  // namespace

int main(int argc, char **argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (arg == "--data") options.dataDir = next();
    else if (arg == "--filter") options.filter = next();
    else if (arg == "--exceptions") options.exceptionsFile = next();
    else if (arg == "--verbose" || arg == "-v") options.verbose = true;
    else if (arg == "--planned") options.planned = true;
    else if (arg == "--compiled") options.compiled = true;
    else if (arg == "--layouts") {
      auto mix = test::parseLayoutMix(next());
      if (!mix) {
        std::cerr << "fluidml_conformance: --layouts: " << mix.message() << '\n';
        return 2;
      }
      options.layouts = *mix;
      options.compiled = true;
    } else if (arg == "--mcpu") {
      auto target = codegen::resolveTarget(next());
      if (!target) {
        std::cerr << target.message() << '\n';
        return 2;
      }
      options.target = std::move(target).value();
    } else {
      std::cerr << "usage: fluidml_conformance [--data DIR] [--filter SUBSTRING] [--exceptions FILE] [--planned] "
                   "[--compiled [--mcpu NAME]] [--layouts permuted|blocked] [--verbose]\n";
      return 2;
    }
  }
  if (!fs::is_directory(options.dataDir)) {
    std::cerr << "no ONNX node tests at " << options.dataDir << " (install libonnx-testdata)\n";
    return 2;
  }
  const auto exceptions = readExceptions(options.exceptionsFile);

  std::vector<fs::path> cases;
  for (const auto &entry : fs::directory_iterator(options.dataDir))
    if (entry.is_directory() && entry.path().filename().string().find(options.filter) != std::string::npos)
      cases.push_back(entry.path());
  std::sort(cases.begin(), cases.end());

  std::map<std::string, OpCounts> perOp;
  int passed = 0, failed = 0, skipped = 0, excused = 0;
  std::vector<std::string> problems;
  std::set<std::string> seen;
  PlannedCounts planned;
  for (const fs::path &caseDir : cases) {
    std::string name = caseDir.filename().string();
    seen.insert(name);
    std::vector<std::string> ops;
    CaseResult result = runCase(caseDir, ops, options, planned);
    auto exception = exceptions.find(name);
    bool isExcused = exception != exceptions.end();
    // A skip because of an op we do not claim needs no excuse; any other non-pass does.
    bool unclaimedSkip = result.outcome == Outcome::Skip && result.reason.rfind("unsupported op", 0) == 0;
    for (const std::string &op : ops) {
      OpCounts &c = perOp[op];
      if (result.outcome == Outcome::Pass) ++c.pass;
      else if (unclaimedSkip) ++c.skip;
      else if (isExcused) ++c.excused;
      else ++c.fail;
    }
    if (result.outcome == Outcome::Pass) {
      ++passed;
      if (isExcused) problems.push_back("STALE " + name + ": passes but is listed in the exceptions file");
    } else if (unclaimedSkip) {
      ++skipped;
    } else if (isExcused) {
      ++excused;
    } else {
      ++failed;
      problems.push_back((result.outcome == Outcome::Skip ? "UNEXCUSED SKIP " : "FAIL ") + name + ": " + result.reason);
    }
    if (options.verbose)
      std::cout << (result.outcome == Outcome::Pass ? "pass " : unclaimedSkip ? "skip " : isExcused ? "excused " : "FAIL ")
                << name << (result.reason.empty() ? "" : ": " + result.reason) << '\n';
  }
  for (const auto &[name, reason] : exceptions)
    if (!seen.count(name) && options.filter.empty())
      problems.push_back("STALE " + name + ": listed in the exceptions file but no such case exists");

  std::cout << "ONNX node conformance (" << cases.size() << " cases from " << options.dataDir << ")\n";
  std::cout << "op                          pass  fail  excused  skip(unclaimed)\n";
  for (const auto &[op, c] : perOp) {
    std::ostringstream line;
    line.width(26);
    line << std::left << op;
    std::cout << line.str() << "  " << c.pass << "\t" << c.fail << "\t" << c.excused << "\t" << c.skip << '\n';
  }
  for (const std::string &p : problems) std::cout << p << '\n';
  if (options.compiled)
    std::cout << "compiled: " << planned.compiledRuns << " LLVM-compiled runs (best-of plan) within ONNX's tolerance "
              << "of the expected outputs\n";
  if (options.layouts) {
    int native = 0, refused = 0;
    std::string refusedOps;
    for (const auto &[op, n] : planned.layoutNodes) {
      native += n.first;
      refused += n.second;
      if (n.second > 0 && n.first == 0) refusedOps += (refusedOps.empty() ? "" : ", ") + op;
    }
    std::cout << "layouts: " << native << " nodes read and wrote random layouts natively, " << refused
              << " refused them and ran on Relayout-converted operands; ops that always refused: "
              << (refusedOps.empty() ? "none" : refusedOps) << '\n';
  }
  if (options.planned)
    std::cout << "planned: " << planned.runs << " planned runs (naive, greedy-size, best-of) bit-identical to the "
              << "unplanned interpreter; best-of plans: " << planned.arenaValues << " arena values, "
              << planned.inPlace << " in place, " << planned.views << " views, arena " << planned.arenaBytes
              << " B, lower bound " << planned.lowerBoundBytes << " B, naive " << planned.naiveBytes << " B\n";
  std::cout << "cases: " << passed << " passed, " << failed << " failed, " << excused << " excused (see "
            << (options.exceptionsFile.empty() ? "no exceptions file" : options.exceptionsFile) << "), " << skipped
            << " skipped (unclaimed ops)\n";
  bool stale = std::any_of(problems.begin(), problems.end(), [](const std::string &p) { return p.rfind("STALE", 0) == 0; });
  return failed > 0 || stale ? 1 : 0;
}
