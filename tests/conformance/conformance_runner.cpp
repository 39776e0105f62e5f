// Runs the official ONNX node test cases (Debian's libonnx-testdata) through the reference interpreter.
// Every case whose ops are all in the op table must pass, unless exceptions.txt names it with a reason;
// cases with ops we do not claim are skipped. Prints pass/fail/skip counts per op and a closing
// "N passed, N failed, N skipped" line; exits 1 when an unexcused case fails or an exception is stale.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>

#include "core/interp/interpreter.h"
#include "core/onnx/onnx_import.h"
#include "core/onnx/tensor_proto.h"
#include "tests/conformance/tensor_compare.h"

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
};

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

CaseResult runDataSet(const fs::path &caseDir, const fs::path &setDir) {
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
  return {Outcome::Pass, ""};
}

CaseResult runCase(const fs::path &caseDir, std::vector<std::string> &opsOut) {
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
    CaseResult result = runDataSet(caseDir, set);
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
    else {
      std::cerr << "usage: fluidml_conformance [--data DIR] [--filter SUBSTRING] [--exceptions FILE] [--verbose]\n";
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
  for (const fs::path &caseDir : cases) {
    std::string name = caseDir.filename().string();
    seen.insert(name);
    std::vector<std::string> ops;
    CaseResult result = runCase(caseDir, ops);
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
  std::cout << "cases: " << passed << " passed, " << failed << " failed, " << excused << " excused (see "
            << (options.exceptionsFile.empty() ? "no exceptions file" : options.exceptionsFile) << "), " << skipped
            << " skipped (unclaimed ops)\n";
  bool stale = std::any_of(problems.begin(), problems.end(), [](const std::string &p) { return p.rfind("STALE", 0) == 0; });
  return failed > 0 || stale ? 1 : 0;
}
