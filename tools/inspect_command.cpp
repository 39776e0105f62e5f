// `fluidml inspect MODEL`: inputs and outputs, op histogram, parameter bytes and FLOPs.
#include <cstdio>
#include <iostream>

#include "core/analysis/model_stats.h"
#include "tools/commands.h"

namespace fluidml::cli {

namespace {
std::string humanBytes(double bytes) {
  const char *units[] = {"B", "KiB", "MiB", "GiB"};
  int unit = 0;
  while (bytes >= 1024 && unit < 3) {
    bytes /= 1024;
    ++unit;
  }
  char text[32];
  std::snprintf(text, sizeof text, unit == 0 ? "%.0f %s" : "%.2f %s", bytes, units[unit]);
  return text;
}

std::string humanCount(double count, const char *unit) {
  char text[32];
  if (count >= 1e9) std::snprintf(text, sizeof text, "%.3f G%s", count / 1e9, unit);
  else if (count >= 1e6) std::snprintf(text, sizeof text, "%.3f M%s", count / 1e6, unit);
  else std::snprintf(text, sizeof text, "%.0f %s", count, unit);
  return text;
}
}  // namespace

int inspectCommand(const CliOptions &options) {
  auto graph = loadModel(options);
  if (!graph) return reportError(graph.status());
  const analysis::ModelStats stats = analysis::computeModelStats(*graph);

  std::cout << "model:      " << options.positional[0] << "\n";
  std::cout << "opset:      " << graph->opsetVersion("") << "\n";
  std::cout << "inputs:\n";
  for (ir::ValueId id : graph->inputs())
    std::cout << "  " << graph->value(id).name << " : " << graph->value(id).type.toString() << "\n";
  std::cout << "outputs:\n";
  for (ir::ValueId id : graph->outputs())
    std::cout << "  " << graph->value(id).name << " : " << graph->value(id).type.toString() << "\n";
  std::cout << "nodes:      " << stats.nodeCount << " (after folding shape computations)\n";
  std::cout << "parameters: " << stats.parameterCount << " elements, " << humanBytes(double(stats.parameterBytes))
            << " (" << stats.parameterBytes << " bytes)\n";
  std::cout << "FLOPs:      " << humanCount(stats.flops, "FLOP") << " (MatMul/Gemm/Conv, 2 per multiply-add)\n";
  for (const auto &[op, flops] : stats.flopsByOp) std::cout << "  " << op << ": " << humanCount(flops, "FLOP") << "\n";
  std::cout << "op histogram:\n";
  for (const auto &[op, count] : stats.opHistogram) std::printf("  %-24s %d\n", op.c_str(), count);
  return kExitOk;
}

}  // namespace fluidml::cli
