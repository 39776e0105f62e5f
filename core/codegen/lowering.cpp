// The lowering table, built once from the explicit family registrations (no static initializers: static
// libraries would drop them).
#include "core/codegen/lowering.h"

namespace fluidml::codegen {

const ir::Tensor *KernelContext::constantInput(size_t i) const {
  if (i >= node.inputs.size() || node.inputs[i] == ir::kNoValue) return nullptr;
  const ir::Value &value = graph.value(node.inputs[i]);
  return value.isConstant() ? &value.constant : nullptr;
}

const LoweringTable &LoweringTable::instance() {
  static const LoweringTable table = [] {
    LoweringTable t;
    registerElementwiseLowerings(t);
    registerDataMovementLowerings(t);
    registerLinalgLowerings(t);
    registerNormalizationLowerings(t);
    registerIndexingLowerings(t);
    registerFusedLowerings(t);
    return t;
  }();
  return table;
}

const LoweringEntry *LoweringTable::find(std::string_view domain, std::string_view opType) const {
  for (const LoweringEntry &entry : entries_)
    if (entry.opType == opType && entry.domain == domain) return &entry;
  return nullptr;
}

}  // namespace fluidml::codegen
