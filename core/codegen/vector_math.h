// Float math of the elementwise lowering (core/codegen/lower_elementwise.cpp: polynomial exp with the
// interpreter's stable branches) for emitters of other families, such as the fused epilogues of the GEMM.
#pragma once

#include <llvm/IR/Value.h>

#include "core/codegen/kernel_builder.h"

namespace fluidml::codegen {

/// The interpreter's stable sigmoid of a float or <N x float> value, as the Sigmoid op computes it.
llvm::Value *sigmoidVector(KernelBuilder &b, llvm::Value *x);
/// erf of a float or <N x float> value, as the Erf op computes it.
llvm::Value *erfVector(KernelBuilder &b, llvm::Value *x);

}  // namespace fluidml::codegen
