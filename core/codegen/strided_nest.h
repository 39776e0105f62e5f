// The strided loop-nest engine shared by the elementwise and data-movement lowerings (defined in
// lower_elementwise.cpp): out[...] = fn(ins[...]) over a shape, with broadcasting and layouts resolved to
// strides at compile time, an explicit-vector inner loop with a masked tail, and parallel outer loops.
#pragma once

#include <functional>
#include <vector>

#include "core/codegen/kernel_builder.h"

namespace fluidml::codegen::nest {

/// The vector lanes of the inner loop (defined in lower_elementwise.cpp).
class Lanes;

/// One operand of a strided nest: element (i0, i1, ...) lives at pointer[offset + sum(i_d * strides[d])].
struct NestOperand {
  llvm::Value *pointer = nullptr;
  ir::DType dtype = ir::DType::Float32;
  int64_t offset = 0;
  std::vector<int64_t> strides;
};

/// Computes the output lanes from the loaded input lanes.
using LaneFn = std::function<llvm::Value *(Lanes &, const std::vector<llvm::Value *> &)>;

/// Emits out[...] = fn(ins[...]) over `shape` (see the file comment), visiting the dims in `order` (outermost
/// first; empty: as given), normally the output's physical order. The inputs may alias the output only element
/// for element (in place).
void emitStridedNest(KernelBuilder &b, const ir::Shape &shape, const NestOperand &out,
                     const std::vector<NestOperand> &ins, const LaneFn &fn, const std::vector<int> &order);
/// Element strides of each logical dim of a tensor stored in its layout (row-major for an empty layout).
std::vector<int64_t> layoutStrides(const ir::TensorType &type);
/// Strides that read `in` (in its layout) broadcast to the logical shape `out` (0 on broadcast dims).
std::vector<int64_t> broadcastLayoutStrides(const ir::TensorType &in, const ir::Shape &out);
/// The logical dims of a tensor in physical order, outermost first (identity for an empty layout).
std::vector<int> physicalOrder(const ir::TensorType &type);
/// A scalar broadcast to the lanes (for fills).
llvm::Value *laneSplat(Lanes &lanes, llvm::Value *scalar);

}  // namespace fluidml::codegen::nest
