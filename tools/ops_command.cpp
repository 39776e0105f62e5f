// `fluidml ops`: the supported-operator table, grouped by family.
#include <algorithm>
#include <cstdio>

#include "core/onnx/onnx_import.h"
#include "core/ops/op_registry.h"
#include "tools/commands.h"

namespace fluidml::cli {

int opsCommand(const CliOptions &) {
  std::vector<const ops::OpSchema *> schemas;
  for (const ops::OpSchema &s : ops::OpRegistry::instance().all()) schemas.push_back(&s);
  std::stable_sort(schemas.begin(), schemas.end(), [](const ops::OpSchema *a, const ops::OpSchema *b) {
    return std::tie(a->family, a->opType) < std::tie(b->family, b->opType);
  });
  std::printf("%zu supported operators (domain ai.onnx, models up to opset %lld; fluidml.* are made by passes)\n",
              schemas.size(), static_cast<long long>(onnxio::kMaxOpset));
  std::printf("%-16s %-26s %s\n", "family", "op", "opsets");
  for (const ops::OpSchema *s : schemas) {
    const std::string name = s->domain.empty() ? s->opType : s->domain + "." + s->opType;
    const long long maxOpset = s->domain.empty() ? static_cast<long long>(onnxio::kMaxOpset) : s->minOpset;
    std::printf("%-16s %-26s %d-%lld\n", s->family.c_str(), name.c_str(), s->minOpset, maxOpset);
  }
  return kExitOk;
}

}  // namespace fluidml::cli
