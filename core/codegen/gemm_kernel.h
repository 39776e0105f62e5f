// The packed, register-blocked float32 GEMM that MatMul, Gemm, Einsum, Conv and ConvTranspose lower to, and
// the vector helpers the direct-loop kernels (depthwise conv, pooling) share with it.
//
// C[m x n] = alpha * A[m x k] B[k x n] + beta * bias, over a batch of such products (BLIS-style loop nest,
// Goto & van de Geijn 2008, with the packing decisions made at compile time):
//  - the micro-kernel keeps an MR x NR tile of C in 2 MR vector registers (accumulators of the target's vector
//    width, llvm.fma) and streams one k-slice of A (MR broadcasts) and of B (2 vector loads) per step; MR comes
//    from the target's register count (8 x 32 in 16 of 32 zmm on AVX-512, 6 x 16 in 12 of 16 ymm on AVX2);
//  - B is read from NR-column panels [k][NR] (a constant operand is packed at compile time into a
//    derived weight of the weights blob; an im2col / strided operand is gathered per (panel, k-block) into a
//    32 KiB scratch panel on the worker's stack, or, when there are too few panels to share out, gathered once
//    into a shared scratch global) or straight from row-major memory; A from MR-row panels [k][MR] (constants,
//    packed like B) or with any row/k stride;
//  - K is blocked by KC so that a B panel stays in L1 while every M tile of the chunk passes over it; M is
//    chunked so that the A block stays in L2, and when a chunk's A is bigger than L2 an item takes a group of
//    panels and walks them inside each k-block;
//  - work items (M chunk x batch x N panel group) run on the thread pool (parallelLoop), at least 8 of them.
// Cost O(batch m n k); the summation order over k is 0, 1, ... within a k-block (k-blocks accumulate in C);
// alpha and the bias are applied once after the last k-block.
//
// Scratch globals (a gathered B shared by the work items) live in the model instance's arena allocation (see
// module_builder.h): one run at a time per instance, which the arena already requires.
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/codegen/kernel_builder.h"
#include "core/ops/fused_epilogue.h"

namespace fluidml::codegen::gemm {

inline constexpr int64_t kNRVectors = 2;  // vectors per row of the register tile, on every target
inline constexpr int64_t kMaxMR = 8;      // rows of the register tile at most (more gains nothing measurable)

/// Floats per vector of the target (16 with AVX-512, 8 with AVX2).
inline int64_t floatLanes(const KernelBuilder &b) { return b.target().floatLanes(); }
/// Rows of the register tile (MR): as many rows of kNRVectors accumulators as the target's vector registers hold
/// next to the kNRVectors B vectors and the A broadcast, at most kMaxMR (8 with AVX-512's 32, 6 with AVX2's 16).
inline int64_t tileRows(const KernelBuilder &b) {
  return std::min<int64_t>(kMaxMR, (b.target().vectorRegisters - kNRVectors - 1) / kNRVectors);
}
/// Columns of the register tile (NR): kNRVectors vectors.
inline int64_t tileColumns(const KernelBuilder &b) { return floatLanes(b) * kNRVectors; }

/// Batch dimensions of a batched GEMM: each operand's base moves by strides (elements, 0 = broadcast) per
/// batch dim. An empty shape is a single product.
struct Batch {
  std::vector<int64_t> shape;
  std::vector<int64_t> aStrides, bStrides, cStrides, biasStrides;
  int64_t count() const;
};

struct OperandA {
  enum class Kind {
    Strided,  // element (i, p) at base[i * rowStride + p * kStride]
    Panels,   // MR-row panels [ceil(m / MR)][k][MR], rows past m zero (see packConstantA)
  };
  Kind kind = Kind::Strided;
  llvm::Value *base = nullptr;
  int64_t rowStride = 0;
  int64_t kStride = 1;
};

/// Fills a scratch B panel: scratch[(p - k0) * kNR + j] = B(p, j0 + j) for p in [k0, k0 + kc), j in [0, kNR);
/// columns past n may be left unwritten. `base` is the B base of the current batch; `captured` are the
/// OperandB::captures inside the parallel body.
using FillPanelFn = std::function<void(KernelBuilder &b, llvm::Value *scratch, llvm::Value *base, llvm::Value *j0,
                                       llvm::Value *k0, llvm::Value *kc, const std::vector<llvm::Value *> &captured)>;

struct OperandB {
  enum class Kind {
    Rows,    // element (p, j) at base[p * kStride + j]: columns contiguous
    Panels,  // NR-column panels [ceil(n / NR)][k][NR], columns past n zero (see packConstantB)
    Fill,    // gathered per (panel, k-block) into an L1 scratch panel by `fill`
  };
  Kind kind = Kind::Rows;
  llvm::Value *base = nullptr;
  int64_t kStride = 0;
  FillPanelFn fill;
  std::vector<llvm::Value *> captures;  // extra values the fill reads (passed through the parallel body)
};

/// What is added to alpha * A B: beta * bias(i, j) = beta * bias[i * rowStride + j * colStride] (strides 0 or
/// more; colStride must be 0 or 1).
/// A fused step's operand as the GEMM reads it: element (i, j) at base[i * rowStride + j * colStride] plus the
/// batch item's offset (batchStrides, one per batch dim; empty = none); colStride 0 or 1.
struct EpilogueOperand {
  llvm::Value *base = nullptr;
  int64_t rowStride = 0;
  int64_t colStride = 0;
  std::vector<int64_t> batchStrides;
};

/// What is done to alpha * A B before C is stored: + beta * bias(i, j) (bias[i * rowStride + j * colStride],
/// colStride 0 or 1), then the fused steps in order (ops::EpilogueStep semantics; `operands` by step, used by
/// Add steps). Applied once, after the last k-block.
struct Epilogue {
  float alpha = 1.0f;
  float beta = 1.0f;
  llvm::Value *bias = nullptr;
  int64_t biasRowStride = 0;
  int64_t biasColStride = 0;
  std::vector<ops::EpilogueStep> steps;
  std::vector<EpilogueOperand> operands;
};

/// Applies fused steps to a vector of floatLanes(b) floats; `operand(step)` gives the lanes of that Add step's operand.
llvm::Value *applyFusedSteps(KernelBuilder &b, const std::vector<ops::EpilogueStep> &steps, llvm::Value *values,
                             const std::function<llvm::Value *(size_t step)> &operand);

struct GemmSpec {
  int64_t m = 0, n = 0, k = 0;
  Batch batch;
  OperandA a;
  OperandB b;
  llvm::Value *c = nullptr;  // element (i, j) at c[i * ldc + j]
  int64_t ldc = 0;
  Epilogue epilogue;
  int64_t kAlign = 1;  // k-blocks start at multiples of this (a Fill that gathers whole channels)
  std::string name = "gemm";
};

/// Emits the whole batched GEMM at the builder's insertion point (a parallel loop over work items).
void emitGemm(KernelBuilder &b, const GemmSpec &spec);

/// `count` constant matrices B[k x n] (element (p, j) of matrix t at src[t * batchStride + p * kStride +
/// j * nStride]) as NR-column panels [ceil(n / NR)][k][NR], columns past n zero, packed at compile time into a
/// derived weight (KernelBuilder::derivedWeight) shared by key and geometry. Returns its address in the kernel.
llvm::Value *packConstantB(KernelBuilder &b, const std::string &key, const ir::Tensor &src, int64_t count, int64_t k,
                           int64_t n, int64_t kStride, int64_t nStride, int64_t batchStride);
/// The same for A[m x k] as MR-row panels (element (i, p) at src[t * batchStride + i * rowStride + p * kStride]).
llvm::Value *packConstantA(KernelBuilder &b, const std::string &key, const ir::Tensor &src, int64_t count, int64_t m,
                           int64_t k, int64_t rowStride, int64_t kStride, int64_t batchStride);
/// packConstantA with any order of k: element (i, p) of matrix t at src[t * batchStride + i * rowStride +
/// kOffset(p)]. `key` must name the order too.
llvm::Value *packConstantAMapped(KernelBuilder &b, const std::string &key, const ir::Tensor &src, int64_t count,
                                 int64_t m, int64_t k, int64_t rowStride, int64_t batchStride,
                                 const std::function<int64_t(int64_t p)> &kOffset);
/// Elements per packed matrix (panel padding included).
int64_t packedSizeB(const KernelBuilder &b, int64_t k, int64_t n);
int64_t packedSizeA(const KernelBuilder &b, int64_t m, int64_t k);

// ---- vector helpers ------------------------------------------------------------------------------------------

llvm::FixedVectorType *floatVector(KernelBuilder &b);
/// A mask of floatLanes(b) lanes, with lanes l set for lo <= l < hi (i64 values, any range).
llvm::Value *laneRange(KernelBuilder &b, llvm::Value *lo, llvm::Value *hi);
/// The masks of one strided row read (see loadRow), computed once and reused for many rows of the same
/// geometry (another channel, for example).
struct RowMasks {
  int64_t stride = 1;
  llvm::Value *lanes = nullptr;   // lane mask: lanes that read an element
  llvm::Value *first = nullptr;   // stride 2: in-bounds elements of the two contiguous loads
  llvm::Value *second = nullptr;
};
RowMasks rowMasks(KernelBuilder &b, llvm::Value *start, int64_t stride, llvm::Value *width, llvm::Value *laneLimit);
/// loadRow with precomputed masks.
llvm::Value *loadRowMasked(KernelBuilder &b, llvm::Value *row, llvm::Value *start, const RowMasks &masks,
                           llvm::Value *passthru);
/// floatLanes(b) lanes of a strided row: lane t reads row[start + t * stride] when t < laneLimit and the element
/// lies in [0, width), else passthru. Never touches memory outside row[0, width). `interior` promises that every
/// lane is valid (plain loads). start and laneLimit are i64.
llvm::Value *loadRow(KernelBuilder &b, llvm::Value *row, llvm::Value *start, int64_t stride, llvm::Value *width,
                     llvm::Value *laneLimit, llvm::Value *passthru, bool interior = false);
/// Stores the first `lanes` lanes (i64, clamped to [0, floatLanes(b)]) of v at ptr.
void storeLanes(KernelBuilder &b, llvm::Value *v, llvm::Value *ptr, llvm::Value *lanes);
/// Horizontal reductions of a float vector (tree order).
llvm::Value *reduceAdd(KernelBuilder &b, llvm::Value *v);
llvm::Value *reduceMax(KernelBuilder &b, llvm::Value *v);

/// for (i = begin; i < end; ++i) body(i) (i64 bounds), marked so that LLVM neither vectorizes nor unrolls it:
/// loops whose unrolled or vectorized forms cost more compile time than they save (one-time packing, short
/// loops around already vectorized bodies).
void plainLoop(KernelBuilder &b, llvm::Value *begin, llvm::Value *end, const std::function<void(llvm::Value *)> &body);
/// if (cond) then(); a constant condition emits the branch it takes only.
void emitIf(KernelBuilder &b, llvm::Value *cond, const std::function<void()> &then);
/// if (cond) then() else otherwise().
void emitIfElse(KernelBuilder &b, llvm::Value *cond, const std::function<void()> &then,
                const std::function<void()> &otherwise);
/// An alloca in the entry block of the function being emitted (so that SROA and mem2reg see it).
llvm::AllocaInst *entryAlloca(KernelBuilder &b, llvm::Type *type, int64_t count, uint64_t alignment,
                              const std::string &name);
/// A zero-initialized module global of at least `bytes` bytes (64-byte aligned) named `name`. Kernels that ask
/// for the same name share it (it grows to the largest request): scratch space of kernels that never run at the
/// same time.
llvm::GlobalVariable *scratchGlobal(KernelBuilder &b, const std::string &name, int64_t bytes);

llvm::Value *minI64(KernelBuilder &b, llvm::Value *x, llvm::Value *y);
llvm::Value *maxI64(KernelBuilder &b, llvm::Value *x, llvm::Value *y);
/// base + sum(index of linear i in `shape`) * strides: the offset of batch item `linear`.
llvm::Value *batchOffset(KernelBuilder &b, llvm::Value *linear, const std::vector<int64_t> &shape,
                         const std::vector<int64_t> &strides);

}  // namespace fluidml::codegen::gemm
