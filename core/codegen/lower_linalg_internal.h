// Pieces shared by the linalg lowering files (lower_linalg.cpp, lower_conv.cpp, lower_pool.cpp,
// lower_pool_blocked.cpp). Private to core/codegen.
#pragma once

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "core/codegen/gemm_kernel.h"
#include "core/codegen/lowering.h"
#include "core/ops/window_geometry.h"

namespace fluidml::codegen::linalg {

/// Strides (elements) to read a row-major tensor of shape `in` as broadcast to `out` (0 on broadcast dims).
std::vector<int64_t> broadcastStrides(const ir::Shape &in, const ir::Shape &out);
/// Row-major strides scaled by `scale`.
std::vector<int64_t> scaledStrides(std::vector<int64_t> strides, int64_t scale);

/// Scalar arithmetic of a dtype (float or integer instructions).
llvm::Value *add(KernelBuilder &b, ir::DType dtype, llvm::Value *x, llvm::Value *y);
llvm::Value *mul(KernelBuilder &b, ir::DType dtype, llvm::Value *x, llvm::Value *y);
/// static_cast<T>(factor * value) as C++ computes it (float factor; double stays double).
llvm::Value *scale(KernelBuilder &b, ir::DType dtype, float factor, llvm::Value *value);

/// Hands a fused node's steps (c.epilogue) to the GEMM that computes its base op and marks them applied;
/// `layout` says where an Add operand of each broadcast form sits in the GEMM's (i, j) and batch coordinates.
/// Nothing is handed over for an empty product (k = 0: the steps then run as a pass over the output).
void fuseSteps(KernelContext &c, gemm::GemmSpec &g,
               const std::function<gemm::EpilogueOperand(ops::OperandBroadcast)> &layout);

/// A key naming constant operand `input` of the node (its value id), for globals shared between kernels.
std::string constantKey(const KernelContext &c, size_t input);

/// [lo, hi) of the kernel offsets k with 0 <= base + k * dilation < size (base an i64 value; hi >= lo).
std::pair<llvm::Value *, llvm::Value *> validTaps(KernelBuilder &b, llvm::Value *base, int64_t size, int64_t kernel,
                                                  int64_t dilation);

/// A direct sliding-window loop over output planes (parallel), rows, and 16-wide vectors of output columns:
/// depthwise convolution (one input channel per output channel), max pooling and average pooling (float32).
struct WindowSweep {
  enum class Kind { Conv, Max, Average };
  Kind kind = Kind::Max;
  ops::Window window;
  int64_t planes = 0;      // output planes: batch x channels
  int64_t channels = 1;    // output channels per image
  int64_t inChannels = 1;  // input channels per image
  int64_t multiplier = 1;  // output channels per input channel (input plane = n * inChannels + c / multiplier)
  llvm::Value *x = nullptr;
  llvm::Value *y = nullptr;
  llvm::Value *weights = nullptr;  // Conv: [channels][kernel]
  llvm::Value *bias = nullptr;     // Conv: [channels] or nullptr
  bool countIncludePad = false;    // Average
};
void emitWindowSweep(KernelBuilder &b, const WindowSweep &sweep);

/// The layouts Conv and fluidml.FusedConv read and write: all row-major, or (lower_conv_blocked.cpp) a 2-D
/// float32 conv with constant weights writing NCHW[B]c from an NCHW or NCHW[B]c input (depthwise: blocked input).
Status checkBlockedConvLayouts(const ir::Graph &graph, const ir::Node &node);
/// Emits the blocked conv when the output is NCHW[B]c (false otherwise: the caller emits a row-major conv).
bool emitBlockedConv(KernelContext &c, const ops::Window &w, int64_t group);
/// Per output index along window dim d: the taps inside the input, or inside input and pads (count_include_pad;
/// taps past the end pads, which ceil_mode adds, never count).
std::vector<int64_t> poolTapCounts(const ops::Window &w, size_t d, bool includePad);

/// The pools that run on channel-blocked operands (lower_pool_blocked.cpp).
enum class BlockedPoolKind { Max, Average, GlobalMax, GlobalAverage };
/// A float32 pool whose input and output are both NC...[B]c of one block size B (MaxPool without Indices): one
/// vector of B channels per output position. checkPoolLayouts has accepted the node. Sets strategy "blocked".
Status emitBlockedPool(KernelContext &c, BlockedPoolKind kind);
/// The layouts of MaxPool, AveragePool, GlobalMaxPool and GlobalAveragePool: input and output both row-major, or
/// both channel-blocked with one block size (float32, non-empty, no MaxPool Indices); Indices row-major.
Status checkPoolLayouts(const ir::Graph &graph, const ir::Node &node);

void registerConvLowerings(LoweringTable &table);
void registerPoolLowerings(LoweringTable &table);

}  // namespace fluidml::codegen::linalg
