// The lowering table, built once from the explicit family registrations (no static initializers: static
// libraries would drop them).
#include "core/codegen/lowering.h"
#include "core/codegen/tiled_nest.h"

#include <algorithm>
#include <cassert>

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
    registerRelayoutLowering(t);
    return t;
  }();
  return table;
}

const LoweringEntry *LoweringTable::find(std::string_view domain, std::string_view opType) const {
  for (const LoweringEntry &entry : entries_)
    if (entry.opType == opType && entry.domain == domain) return &entry;
  return nullptr;
}

void LoweringTable::declareLayouts(std::string_view domain, std::string_view opType, LayoutSupport layouts,
                                  LayoutCheckFn check) {
  for (LoweringEntry &entry : entries_)
    if (entry.opType == opType && entry.domain == domain) {
      entry.layouts = layouts;
      entry.layoutCheck = check;
      return;
    }
  assert(false && "declareLayouts for an op without a lowering");
}

std::string_view layoutSupportName(LayoutSupport support) {
  switch (support) {
    case LayoutSupport::RowMajor: return "row-major";
    case LayoutSupport::Permuted: return "permuted";
    case LayoutSupport::Blocked: return "blocked";
  }
  return "row-major";
}

namespace {

LayoutSupport levelOf(const ir::Layout &layout) {
  if (layout.isRowMajor()) return LayoutSupport::RowMajor;
  return layout.isPermutation() ? LayoutSupport::Permuted : LayoutSupport::Blocked;
}

}  // namespace

Status checkOneBlockSizePerDim(const ir::Graph &graph, const ir::Node &node) {
  if (node.outputs.empty() || node.outputs[0] == ir::kNoValue) return Status::ok();
  // The tiled nest's own rule, on operands without addresses (only their dim access matters).
  const ir::TensorType &out = graph.value(node.outputs[0]).type;
  std::vector<nest::TiledOperand> operands;
  for (ir::ValueId v : node.outputs)
    if (v != ir::kNoValue && graph.value(v).type.shape == out.shape) operands.push_back(nest::tiledOperand(nullptr, graph.value(v).type));
  for (ir::ValueId v : node.inputs)
    if (v != ir::kNoValue && graph.value(v).type.rank() <= out.rank())
      operands.push_back(nest::broadcastTiledOperand(nullptr, graph.value(v).type, out.shape));
  return nest::checkTiledNest(out.shape, nest::tiledOperand(nullptr, out), operands);
}

Status checkNodeLayouts(const ir::Graph &graph, const ir::Node &node) {
  // Only a refusal needs the node's description.
  auto where = [&] {
    return "node '" + node.name + "' (" + (node.domain.empty() ? "" : node.domain + ".") + node.opType + ", #" +
           std::to_string(node.id) + ")";
  };
  const LoweringEntry *entry = LoweringTable::instance().find(node.domain, node.opType);
  if (entry == nullptr) return Status::ok();  // the module builder reports the missing lowering itself
  auto check = [&](ir::ValueId v, const std::string &role) {
    if (v == ir::kNoValue) return Status::ok();
    const ir::TensorType &type = graph.value(v).type;
    if (static_cast<int>(levelOf(type.layout)) <= static_cast<int>(entry->layouts)) return Status::ok();
    return Status::internal(where() + ": " + role + " '" + graph.value(v).name + "' has layout " +
                         type.layout.toString(type.rank()) + ", but its kernel reads and writes " +
                         std::string(layoutSupportName(entry->layouts)) +
                         " layouts only (a layout pass must convert it with fluidml.Relayout)");
  };
  for (size_t i = 0; i < node.inputs.size(); ++i)
    FLUIDML_RETURN_IF_ERROR(check(node.inputs[i], "operand " + std::to_string(i)));
  for (size_t i = 0; i < node.outputs.size(); ++i)
    FLUIDML_RETURN_IF_ERROR(check(node.outputs[i], "output " + std::to_string(i)));
  Status extra = entry->layoutCheck != nullptr               ? entry->layoutCheck(graph, node)
                 : entry->layouts == LayoutSupport::Blocked ? checkOneBlockSizePerDim(graph, node)
                                                            : Status::ok();
  if (!extra.isOk()) return Status::internal(where() + ": " + extra.message());
  return Status::ok();
}

}  // namespace fluidml::codegen
