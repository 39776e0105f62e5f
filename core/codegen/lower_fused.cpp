// fluidml.FusedConv and fluidml.FusedMatMul (core/ops/fused_epilogue.h): the base op's emitter runs with the
// epilogue handed over in KernelContext::epilogue. Its GEMM paths apply the steps in registers as C is stored
// (gemm::Epilogue); paths that do not (direct and depthwise convolution, k = 0) leave them to one pass over the
// finished output here, still inside the same kernel, reading and writing each value once.
#include <llvm/IR/Constants.h>
#include <llvm/IR/IRBuilder.h>

#include "core/codegen/gemm_kernel.h"
#include "core/codegen/lower_linalg_internal.h"
#include "core/codegen/lowering.h"
#include "core/ops/fused_epilogue.h"

namespace fluidml::codegen {

namespace {

/// The steps over the finished output, viewed as [outer, inner] rows: inner = the last dimension (MatMul) or the
/// spatial size (Conv), so that a LastDim operand is indexed by the position in the row and a PerChannel one by
/// the row's channel (row % channels).
void emitEpiloguePass(KernelContext &c, const FusedEpilogue &e) {
  KernelBuilder &b = c.b;
  llvm::IRBuilder<> &ir = b.ir();
  const ir::Shape &shape = c.outputType(0).shape;
  const bool conv = c.node.opType == ops::kFusedConv;
  int64_t inner = 1;
  if (conv) {
    for (size_t d = 2; d < shape.size(); ++d) inner *= shape[d];
  } else if (!shape.empty()) {
    inner = shape.back();
  }
  const int64_t numel = c.outputType(0).numel();
  if (numel == 0 || inner == 0) return;
  const int64_t outer = numel / inner;
  const int64_t channels = conv && shape.size() > 1 ? shape[1] : 1;
  llvm::Type *vecTy = gemm::floatVector(b);
  llvm::Type *floatTy = ir.getFloatTy();

  std::vector<llvm::Value *> captures{c.outputs[0]};
  for (llvm::Value *operand : e.operands)
    if (operand != nullptr) captures.push_back(operand);
  b.parallelLoop(outer, captures, [&](llvm::Value *row, const std::vector<llvm::Value *> &cap) {
    std::vector<llvm::Value *> operands;
    size_t next = 1;
    for (llvm::Value *operand : e.operands) operands.push_back(operand != nullptr ? cap[next++] : nullptr);
    llvm::Value *rowStart = ir.CreateMul(row, b.i64(inner));
    llvm::Value *channel = ir.CreateURem(row, b.i64(channels));
    auto vectorAt = [&](llvm::Value *j, llvm::Value *mask) {
      auto load = [&](llvm::Value *ptr) -> llvm::Value * {
        if (mask == nullptr) return ir.CreateAlignedLoad(vecTy, ptr, llvm::Align(4));
        return ir.CreateMaskedLoad(vecTy, ptr, llvm::Align(4), mask, llvm::ConstantAggregateZero::get(vecTy));
      };
      llvm::Value *out = b.elementPtr(ir::DType::Float32, cap[0], ir.CreateAdd(rowStart, j));
      llvm::Value *values = gemm::applyFusedSteps(b, e.steps, load(out), [&](size_t step) -> llvm::Value * {
        switch (e.steps[step].broadcast) {
          case ops::OperandBroadcast::Full:
            return load(b.elementPtr(ir::DType::Float32, operands[step], ir.CreateAdd(rowStart, j)));
          case ops::OperandBroadcast::LastDim:
            return load(b.elementPtr(ir::DType::Float32, operands[step], j));
          case ops::OperandBroadcast::PerChannel:
            return ir.CreateVectorSplat(static_cast<unsigned>(gemm::floatLanes(b)),
                                        ir.CreateAlignedLoad(floatTy, b.elementPtr(ir::DType::Float32, operands[step], channel),
                                                             llvm::Align(4)));
        }
        return nullptr;
      });
      if (mask == nullptr)
        ir.CreateAlignedStore(values, out, llvm::Align(4));
      else
        ir.CreateMaskedStore(values, out, llvm::Align(4), mask);
    };
    const int64_t full = inner / gemm::floatLanes(b), tail = inner % gemm::floatLanes(b);
    if (full > 0)
      b.loop(full, [&](llvm::Value *v) { vectorAt(ir.CreateMul(v, b.i64(gemm::floatLanes(b))), nullptr); }, "v");
    if (tail > 0)
      vectorAt(b.i64(full * gemm::floatLanes(b)), gemm::laneRange(b, b.i64(0), b.i64(tail)));
  }, "epilogue");
}

Status emitFused(KernelContext &c) {
  FLUIDML_ASSIGN_OR_RETURN(std::vector<ops::EpilogueStep> steps, ops::parseEpilogue(c.graph, c.node));
  FusedEpilogue epilogue;
  epilogue.steps = steps;
  for (const ops::EpilogueStep &step : steps)
    epilogue.operands.push_back(step.operand >= 0 ? c.inputs[static_cast<size_t>(step.operand)] : nullptr);
  const LoweringEntry *base = LoweringTable::instance().find("", ops::baseOpOf(c.node));
  if (base == nullptr) return Status::internal("no lowering for " + std::string(ops::baseOpOf(c.node)));
  c.epilogue = &epilogue;
  c.epilogueApplied = false;
  Status status = base->emit(c);
  c.epilogue = nullptr;
  FLUIDML_RETURN_IF_ERROR(status);
  if (!c.epilogueApplied) emitEpiloguePass(c, epilogue);
  return Status::ok();
}

}  // namespace

void registerFusedLowerings(LoweringTable &table) {
  table.add(std::string(ops::kFusedConv), &emitFused, std::string(ops::kFluidmlDomain));
  table.declareLayouts(ops::kFluidmlDomain, ops::kFusedConv, LayoutSupport::Blocked, &linalg::checkBlockedConvLayouts);
  table.add(std::string(ops::kFusedMatMul), &emitFused, std::string(ops::kFluidmlDomain));
}

}  // namespace fluidml::codegen
