// The lowering table, built once from the explicit family registrations (no static initializers: static
// libraries would drop them).
#include "core/codegen/lowering.h"

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

/// A blocked operand's tiles over the dims of a shape of rank `rank` it is broadcast to (0: untiled).
void noteTiles(const ir::TensorType &type, size_t rank, std::vector<int64_t> &blocks, std::string &conflict) {
  const size_t shift = rank - std::min(rank, type.rank());
  for (const ir::LayoutTile &tile : type.layout.tiles) {
    int64_t &block = blocks[static_cast<size_t>(tile.dim) + shift];
    if (block != 0 && block != tile.size && conflict.empty())
      conflict = "operands tile dim " + std::to_string(static_cast<size_t>(tile.dim) + shift) + " by " +
                 std::to_string(block) + " and by " + std::to_string(tile.size) + " (one block size per dim)";
    block = tile.size;
  }
}

LayoutSupport levelOf(const ir::Layout &layout) {
  if (layout.isRowMajor()) return LayoutSupport::RowMajor;
  return layout.isPermutation() ? LayoutSupport::Permuted : LayoutSupport::Blocked;
}

}  // namespace

Status checkOneBlockSizePerDim(const ir::Graph &graph, const ir::Node &node) {
  if (node.outputs.empty() || node.outputs[0] == ir::kNoValue) return Status::ok();
  const size_t rank = graph.value(node.outputs[0]).type.rank();
  std::vector<int64_t> blocks(rank, 0);
  std::string conflict;
  for (ir::ValueId v : node.outputs)
    if (v != ir::kNoValue && graph.value(v).type.rank() == rank) noteTiles(graph.value(v).type, rank, blocks, conflict);
  for (ir::ValueId v : node.inputs)
    if (v != ir::kNoValue && graph.value(v).type.rank() <= rank) noteTiles(graph.value(v).type, rank, blocks, conflict);
  return conflict.empty() ? Status::ok() : Status::error(conflict);
}

Status checkNodeLayouts(const ir::Graph &graph, const ir::Node &node) {
  const std::string where = "node '" + node.name + "' (" +
                            (node.domain.empty() ? "" : node.domain + ".") + node.opType + ", #" +
                            std::to_string(node.id) + ")";
  const LoweringEntry *entry = LoweringTable::instance().find(node.domain, node.opType);
  if (entry == nullptr) return Status::ok();  // the module builder reports the missing lowering itself
  auto check = [&](ir::ValueId v, const std::string &role) {
    if (v == ir::kNoValue) return Status::ok();
    const ir::TensorType &type = graph.value(v).type;
    if (static_cast<int>(levelOf(type.layout)) <= static_cast<int>(entry->layouts)) return Status::ok();
    return Status::internal(where + ": " + role + " '" + graph.value(v).name + "' has layout " +
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
  if (!extra.isOk()) return Status::internal(where + ": " + extra.message());
  return Status::ok();
}

}  // namespace fluidml::codegen
