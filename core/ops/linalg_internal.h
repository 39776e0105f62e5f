// Pieces shared by the linalg family files (linalg.cpp, conv.cpp, pool.cpp): the blocked GEMM loop that
// MatMul, Gemm, Conv and ConvTranspose run on, and the registration of the conv and pool ops. Private to
// core/ops; not part of the op-table contract. (The sliding-window geometry is public: window_geometry.h.)
#pragma once

#include <cstdint>

#include "core/ops/op_registry.h"

namespace fluidml::ops {

/// C[m x n] += A[m x k] * B[k x n]; row-major operands with leading dimensions lda, ldb, ldc (in elements).
/// Instantiated for float, double, int32_t and int64_t.
template <typename T>
void gemmAccumulate(int64_t m, int64_t n, int64_t k, const T *a, int64_t lda, const T *b, int64_t ldb, T *c,
                    int64_t ldc);

void registerConvOps(OpRegistry &registry);
void registerPoolOps(OpRegistry &registry);

}  // namespace fluidml::ops
