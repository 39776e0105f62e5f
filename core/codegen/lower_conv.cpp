// Lowering of Conv and ConvTranspose (NCHW, 1 to 3 spatial dims, groups, pads, strides, dilations, auto_pad).
//
// float32 Conv, by shape (all on the packed GEMM of gemm_kernel.h or its micro-kernel, weights packed once):
//  - output rows of >= 64 columns, stride 1 or 2: an implicit GEMM (emitConvDirect) whose work items are
//    32-column segments of one output row; each copies the input row segments it reads into a stack panel,
//    then MR x 32 register tiles read B straight from it (no im2col matrix); big outputs use streaming stores;
//  - other convs: Y[Cout/g x P] = W[Cout/g x Cin/g*kernel] Col[Cin/g*kernel x P] where each GEMM work item
//    gathers the k-block x NR im2col panel it needs (whole input channels per k-block; per output-row segment the
//    lane masks of each kernel column are computed once, then one masked load and store per (channel, kernel
//    row, kernel column)); with few output positions the panels are gathered once for all M chunks;
//  - 1x1 stride-1 convs read the input planes directly as B; 1x1 convs over a single position
//    (squeeze-excite) run transposed so that the output channels are the vectorized dimension;
//  - depthwise convs (one input channel per group): direct loops (lower_pool.cpp's window sweep), parallel
//    over channels, vectorized over the output width.
// ConvTranspose: GEMM of the transposed weights with the input into a bounded column buffer (a module global of
// at most 4 MiB), then col2im adds it into the output. Other dtypes: direct loop nests.
// O(N x Cout x Cin/g x kernel x positions) for all of them.
#include <algorithm>
#include <array>

#include "core/codegen/gemm_kernel.h"
#include "core/codegen/lower_linalg_internal.h"
#include "core/ops/window_geometry.h"

#include <llvm/IR/Metadata.h>

namespace fluidml::codegen::linalg {

namespace {

using gemm::GemmSpec;
using gemm::OperandA;
using gemm::OperandB;

llvm::Value *i64(KernelBuilder &b, int64_t v) { return b.i64(v); }

// ---- im2col panels -----------------------------------------------------------------------------------------

/// Kernels with at most this many taps gather with the taps unrolled (im2colFill); larger ones per k.
constexpr int64_t kMaxUnrolledTaps = 128;

/// One output row's segment of an im2col panel's positions [j0, j0 + NR): its length, its first lane in the
/// panel, and the input coordinates its first position reads at kernel offset 0 (negative in the padding).
struct PanelRow {
  llvm::Value *count, *lane0, *idBase, *ihBase, *iwBase;
};

/// Zeroes the panel's columns past the last position (so no garbage, such as denormals, enters the tail tile),
/// then calls `body` for every output row (flattened depth x height) the panel's positions cover.
void forEachPanelRow(KernelBuilder &b, const ops::Window &w, llvm::Value *scratch, llvm::Value *j0, llvm::Value *kc,
                     const std::function<void(const PanelRow &)> &body) {
  llvm::IRBuilder<> &ir = b.ir();
  const int64_t positions = w.outSize();
  const int64_t outRow = w.out[2];
  llvm::Value *jEnd = gemm::minI64(b, ir.CreateAdd(j0, i64(b, gemm::tileColumns(b))), i64(b, positions));
  if (positions % gemm::tileColumns(b) != 0) {
    llvm::Value *valid = ir.CreateSub(jEnd, j0);
    gemm::emitIf(b, ir.CreateICmpSLT(valid, i64(b, gemm::tileColumns(b))), [&] {
      llvm::Value *zero = llvm::ConstantAggregateZero::get(gemm::floatVector(b));
      b.loop(i64(b, 0), kc, 1, [&](llvm::Value *p) {
        for (int64_t q = 0; q < gemm::kNRVectors; ++q) {
          llvm::Value *ptr = b.elementPtr(ir::DType::Float32, scratch,
                                          ir.CreateAdd(ir.CreateMul(p, i64(b, gemm::tileColumns(b))), i64(b, q * gemm::floatLanes(b))));
          ir.CreateMaskedStore(zero, ptr, llvm::Align(4),
                               gemm::laneRange(b, ir.CreateSub(valid, i64(b, q * gemm::floatLanes(b))), i64(b, gemm::floatLanes(b))));
        }
      }, "p");
    });
  }
  llvm::Value *rowFirst = ir.CreateUDiv(j0, i64(b, outRow));
  llvm::Value *rowEnd = ir.CreateAdd(ir.CreateUDiv(ir.CreateSub(jEnd, i64(b, 1)), i64(b, outRow)), i64(b, 1));
  b.loop(rowFirst, rowEnd, 1, [&](llvm::Value *r) {
    llvm::Value *od = ir.CreateUDiv(r, i64(b, w.out[1]));
    llvm::Value *oh = ir.CreateURem(r, i64(b, w.out[1]));
    llvm::Value *rowStart = ir.CreateMul(r, i64(b, outRow));
    llvm::Value *owStart = gemm::maxI64(b, i64(b, 0), ir.CreateSub(j0, rowStart));
    llvm::Value *owEnd = gemm::minI64(b, i64(b, outRow), ir.CreateSub(jEnd, rowStart));
    PanelRow row;
    row.count = ir.CreateSub(owEnd, owStart);
    row.lane0 = ir.CreateSub(ir.CreateAdd(rowStart, owStart), j0);
    row.idBase = ir.CreateSub(ir.CreateMul(od, i64(b, w.stride[0])), i64(b, w.padBegin[0]));
    row.ihBase = ir.CreateSub(ir.CreateMul(oh, i64(b, w.stride[1])), i64(b, w.padBegin[1]));
    row.iwBase = ir.CreateSub(ir.CreateMul(owStart, i64(b, w.stride[2])), i64(b, w.padBegin[2]));
    body(row);
  }, "r");
}

/// Gathers scratch[(p - k0) * NR + j] = Col(p, j0 + j): Col row p = (ci, kd, kh, kw), column = output position.
/// One k at a time (any kernel size).
gemm::FillPanelFn im2colFillGeneric(const ops::Window &w) {
  return [w](KernelBuilder &b, llvm::Value *scratch, llvm::Value *x, llvm::Value *j0, llvm::Value *k0, llvm::Value *kc,
             const std::vector<llvm::Value *> &) {
    llvm::IRBuilder<> &ir = b.ir();
    const int64_t kernelSize = w.kernelSize();
    forEachPanelRow(b, w, scratch, j0, kc, [&](const PanelRow &row) {
      llvm::Value *count = row.count, *lane0 = row.lane0;
      llvm::Value *idBase = row.idBase, *ihBase = row.ihBase, *iwBase = row.iwBase;
      b.loop(i64(b, 0), kc, 1, [&](llvm::Value *p) {
        llvm::Value *kidx = ir.CreateAdd(k0, p);
        llvm::Value *ci = ir.CreateUDiv(kidx, i64(b, kernelSize));
        llvm::Value *rem = ir.CreateURem(kidx, i64(b, kernelSize));
        llvm::Value *kd = ir.CreateUDiv(rem, i64(b, w.kernel[1] * w.kernel[2]));
        llvm::Value *kh = ir.CreateURem(ir.CreateUDiv(rem, i64(b, w.kernel[2])), i64(b, w.kernel[1]));
        llvm::Value *kw = ir.CreateURem(rem, i64(b, w.kernel[2]));
        llvm::Value *id = ir.CreateAdd(idBase, ir.CreateMul(kd, i64(b, w.dilation[0])));
        llvm::Value *ih = ir.CreateAdd(ihBase, ir.CreateMul(kh, i64(b, w.dilation[1])));
        llvm::Value *valid = ir.CreateAnd(ir.CreateICmpULT(id, i64(b, w.in[0])), ir.CreateICmpULT(ih, i64(b, w.in[1])));
        id = ir.CreateSelect(valid, id, i64(b, 0));
        ih = ir.CreateSelect(valid, ih, i64(b, 0));
        llvm::Value *rowOffset = ir.CreateAdd(ir.CreateMul(ci, i64(b, w.inSize())),
                                              ir.CreateMul(ir.CreateAdd(ir.CreateMul(id, i64(b, w.in[1])), ih), i64(b, w.in[2])));
        llvm::Value *row = b.elementPtr(ir::DType::Float32, x, rowOffset);
        llvm::Value *width = ir.CreateSelect(valid, i64(b, w.in[2]), i64(b, 0));
        llvm::Value *start = ir.CreateAdd(iwBase, ir.CreateMul(kw, i64(b, w.dilation[2])));
        llvm::Value *dst = ir.CreateAdd(ir.CreateMul(p, i64(b, gemm::tileColumns(b))), lane0);
        llvm::Value *zero = llvm::ConstantAggregateZero::get(gemm::floatVector(b));
        for (int64_t q = 0; q < gemm::kNRVectors; ++q) {
          llvm::Value *limit = ir.CreateSub(count, i64(b, q * gemm::floatLanes(b)));
          llvm::Value *v = gemm::loadRow(b, row, ir.CreateAdd(start, i64(b, q * gemm::floatLanes(b) * w.stride[2])),
                                         w.stride[2], width, limit, zero);
          gemm::storeLanes(b, v, b.elementPtr(ir::DType::Float32, scratch, ir.CreateAdd(dst, i64(b, q * gemm::floatLanes(b)))),
                           limit);
        }
      }, "p");
    });
  };
}

/// The same gather for k-blocks of whole input channels (the GEMM's kAlign is the kernel size): per output-row
/// segment of the panel, the lane masks of every kernel column are computed once (they do not depend on the
/// channel or the kernel row), then each (channel, kernel row) costs one masked load and store per kernel
/// column (two for segments longer than one vector). Kernel rows that fall in the padding store zeros.
gemm::FillPanelFn im2colFill(const ops::Window &w) {
  if (w.kernelSize() > kMaxUnrolledTaps) return im2colFillGeneric(w);
  return [w](KernelBuilder &b, llvm::Value *scratch, llvm::Value *x, llvm::Value *j0, llvm::Value *k0, llvm::Value *kc,
             const std::vector<llvm::Value *> &) {
    llvm::IRBuilder<> &ir = b.ir();
    const int64_t taps = w.kernelSize();
    const int64_t sw = w.stride[2];
    llvm::Value *zero = llvm::ConstantAggregateZero::get(gemm::floatVector(b));
    llvm::Value *firstChannel = ir.CreateUDiv(k0, i64(b, taps));
    llvm::Value *channels = ir.CreateUDiv(kc, i64(b, taps));
    llvm::Value *xBlock = b.elementPtr(ir::DType::Float32, x, ir.CreateMul(firstChannel, i64(b, w.inSize())));
    forEachPanelRow(b, w, scratch, j0, kc, [&](const PanelRow &row) {
      llvm::Value *count = row.count, *lane0 = row.lane0;
      llvm::Value *idBase = row.idBase, *ihBase = row.ihBase, *iwBase = row.iwBase;
      // Per kernel column and vector: where the lanes start and which of them read an element.
      std::vector<std::array<llvm::Value *, gemm::kNRVectors>> starts;
      std::vector<std::array<gemm::RowMasks, gemm::kNRVectors>> masks;
      for (int64_t kw = 0; kw < w.kernel[2]; ++kw) {
        std::array<llvm::Value *, gemm::kNRVectors> start;
        std::array<gemm::RowMasks, gemm::kNRVectors> mask;
        for (int64_t q = 0; q < gemm::kNRVectors; ++q) {
          start[q] = ir.CreateAdd(iwBase, i64(b, kw * w.dilation[2] + q * gemm::floatLanes(b) * sw));
          mask[q] = gemm::rowMasks(b, start[q], sw, i64(b, w.in[2]), ir.CreateSub(count, i64(b, q * gemm::floatLanes(b))));
        }
        starts.push_back(start);
        masks.push_back(mask);
      }
      llvm::Value *storeMasks[gemm::kNRVectors];
      for (int64_t q = 0; q < gemm::kNRVectors; ++q)
        storeMasks[q] = gemm::laneRange(b, i64(b, 0), ir.CreateSub(count, i64(b, q * gemm::floatLanes(b))));
      auto channelLoop = [&](int64_t vectors) {
        b.loop(i64(b, 0), channels, 1, [&](llvm::Value *c) {
          llvm::Value *plane = b.elementPtr(ir::DType::Float32, xBlock, ir.CreateMul(c, i64(b, w.inSize())));
          llvm::Value *channelDst = ir.CreateAdd(ir.CreateMul(c, i64(b, taps * gemm::tileColumns(b))), lane0);
          gemm::plainLoop(b, i64(b, 0), i64(b, w.kernel[0] * w.kernel[1]), [&](llvm::Value *kdh) {
            llvm::Value *kd = ir.CreateUDiv(kdh, i64(b, w.kernel[1]));
            llvm::Value *kh = ir.CreateURem(kdh, i64(b, w.kernel[1]));
            llvm::Value *id = ir.CreateAdd(idBase, ir.CreateMul(kd, i64(b, w.dilation[0])));
            llvm::Value *ih = ir.CreateAdd(ihBase, ir.CreateMul(kh, i64(b, w.dilation[1])));
            llvm::Value *valid = ir.CreateAnd(ir.CreateICmpULT(id, i64(b, w.in[0])), ir.CreateICmpULT(ih, i64(b, w.in[1])));
            // A row in the padding reads from row 0 with no lane enabled.
            llvm::Value *rowOffset = ir.CreateMul(ir.CreateAdd(ir.CreateMul(ir.CreateSelect(valid, id, i64(b, 0)), i64(b, w.in[1])),
                                                               ir.CreateSelect(valid, ih, i64(b, 0))),
                                                  i64(b, w.in[2]));
            llvm::Value *row = ir.CreateGEP(ir.getFloatTy(), plane, rowOffset);
            llvm::Value *noLanes = llvm::ConstantAggregateZero::get(
                llvm::FixedVectorType::get(ir.getInt1Ty(), static_cast<unsigned>(gemm::floatLanes(b))));
            llvm::Value *dstRow = ir.CreateAdd(channelDst, ir.CreateMul(kdh, i64(b, w.kernel[2] * gemm::tileColumns(b))));
            for (int64_t kw = 0; kw < w.kernel[2]; ++kw)
              for (int64_t q = 0; q < vectors; ++q) {
                gemm::RowMasks m = masks[static_cast<size_t>(kw)][static_cast<size_t>(q)];
                m.lanes = ir.CreateSelect(valid, m.lanes, noLanes);
                if (m.first != nullptr) m.first = ir.CreateSelect(valid, m.first, noLanes);
                if (m.second != nullptr) m.second = ir.CreateSelect(valid, m.second, noLanes);
                llvm::Value *v = gemm::loadRowMasked(b, row, starts[static_cast<size_t>(kw)][static_cast<size_t>(q)], m, zero);
                llvm::Value *dst = b.elementPtr(ir::DType::Float32, scratch,
                                                ir.CreateAdd(dstRow, i64(b, kw * gemm::tileColumns(b) + q * gemm::floatLanes(b))));
                ir.CreateMaskedStore(v, dst, llvm::Align(4), storeMasks[q]);
              }
          });
        }, "c");
      };
      // Segments of at most one vector of positions need one vector per kernel column.
      gemm::emitIfElse(b, ir.CreateICmpSGT(count, i64(b, gemm::floatLanes(b))), [&] { channelLoop(gemm::kNRVectors); },
                       [&] { channelLoop(1); });
    });
  };
}

// ---- Conv ---------------------------------------------------------------------------------------------------

struct ConvShape {
  int64_t batch, inChannels, outChannels, group, groupIn, groupOut;
};

/// Direct definition, any float dtype: y = bias + sum over (ci, kd, kh, kw) of x * w, padding skipped.
void emitConvScalar(KernelContext &c, const ops::Window &w, const ConvShape &s) {
  KernelBuilder &b = c.b;
  llvm::IRBuilder<> &ir = b.ir();
  const ir::DType dtype = c.outputType(0).dtype;
  std::vector<llvm::Value *> captures{c.inputs[0], c.inputs[1], c.outputs[0]};
  if (c.hasInput(2)) captures.push_back(c.inputs[2]);
  b.parallelLoop(s.batch * s.outChannels, captures, [&](llvm::Value *plane, const std::vector<llvm::Value *> &cap) {
    llvm::Value *n = ir.CreateUDiv(plane, i64(b, s.outChannels));
    llvm::Value *oc = ir.CreateURem(plane, i64(b, s.outChannels));
    llvm::Value *g = ir.CreateUDiv(oc, i64(b, s.groupOut));
    llvm::Value *xBase = ir.CreateMul(ir.CreateAdd(ir.CreateMul(n, i64(b, s.inChannels)), ir.CreateMul(g, i64(b, s.groupIn))),
                                      i64(b, w.inSize()));
    llvm::Value *wBase = ir.CreateMul(oc, i64(b, s.groupIn * w.kernelSize()));
    llvm::Value *bias = cap.size() > 3 ? b.load(dtype, cap[3], oc) : b.constant(dtype, 0.0);
    llvm::AllocaInst *sum = gemm::entryAlloca(b, b.scalarType(dtype), 1, 8, "sum");
    b.loopNest({w.out[0], w.out[1], w.out[2]}, [&](const std::vector<llvm::Value *> &o) {
      ir.CreateStore(bias, sum);
      b.loopNest({s.groupIn, w.kernel[0], w.kernel[1], w.kernel[2]}, [&](const std::vector<llvm::Value *> &k) {
        std::vector<llvm::Value *> pos;
        llvm::Value *valid = ir.getTrue();
        for (size_t d = 0; d < 3; ++d) {
          llvm::Value *p = ir.CreateAdd(ir.CreateSub(ir.CreateMul(o[d], i64(b, w.stride[d])), i64(b, w.padBegin[d])),
                                        ir.CreateMul(k[d + 1], i64(b, w.dilation[d])));
          valid = ir.CreateAnd(valid, ir.CreateICmpULT(p, i64(b, w.in[d])));
          pos.push_back(p);
        }
        gemm::emitIf(b, valid, [&] {
          llvm::Value *xi = ir.CreateAdd(xBase, b.linearIndex({k[0], pos[0], pos[1], pos[2]},
                                                               {w.inSize(), w.in[1] * w.in[2], w.in[2], 1}));
          llvm::Value *wi = ir.CreateAdd(wBase, b.linearIndex(k, {w.kernelSize(), w.kernel[1] * w.kernel[2], w.kernel[2], 1}));
          llvm::Value *product = mul(b, dtype, b.load(dtype, cap[0], xi), b.load(dtype, cap[1], wi));
          ir.CreateStore(add(b, dtype, ir.CreateLoad(b.scalarType(dtype), sum), product), sum);
        });
      });
      llvm::Value *yi = ir.CreateAdd(ir.CreateMul(plane, i64(b, w.outSize())),
                                     b.linearIndex(o, {w.out[1] * w.out[2], w.out[2], 1}));
      b.store(dtype, ir.CreateLoad(b.scalarType(dtype), sum), cap[2], yi);
    });
  }, "conv");
}

/// The direct conv covers output rows of at least 64 columns whose 32-column segments waste at most 1/8 of the
/// lanes (narrower rows: the im2col panels pack positions of several rows into full vectors and measured
/// faster), with strides 1 and 2 (contiguous input loads) and constant weights (packed in its k order).
bool directConvApplies(const KernelBuilder &b, const ops::Window &w, bool constantWeights) {
  if (!constantWeights || w.stride[2] > 2 || w.kernel[2] > 16 || w.out[2] < 64) return false;
  const int64_t padded = (w.out[2] + gemm::tileColumns(b) - 1) / gemm::tileColumns(b) * gemm::tileColumns(b);
  return w.out[2] * 8 >= padded * 7;
}

/// Bytes of the per-item input panel of the direct conv (channels are blocked to fit it).
constexpr int64_t kDirectPanelBytes = 40 * 1024;

/// Implicit-GEMM convolution: each work item is a 32-column segment of one output row (x an M chunk of output
/// channels). Per block of input channels, the item first copies the input row segments its outputs read (every
/// valid kernel row, the 32 * stride columns plus the kernel's halo) into a contiguous stack panel, zero-filling
/// the padding; then for every MR-channel tile the micro-kernel keeps MR x 32 outputs in registers and reads B
/// vectors from the panel with plain loads (stride 2: two loads and an even-lane shuffle), k ordered (kernel row,
/// input channel, kernel column) as the packed weights. The copy is ~1/Cout of the FLOPs; the panel stays in L1
/// across the M tiles whatever the input planes' alignment (a direct read of the planes would thrash L1 sets
/// when their size is a multiple of 4 KiB). Kernel rows in the padding are skipped.
void emitConvDirect(KernelContext &c, const ops::Window &w, const ConvShape &s) {
  KernelBuilder &b = c.b;
  llvm::IRBuilder<> &ir = b.ir();
  llvm::Type *vecTy = gemm::floatVector(b);
  llvm::Type *floatTy = ir.getFloatTy();
  const int64_t lanes = gemm::floatLanes(b);
  const int64_t kernelWidth = w.kernel[2];
  const int64_t kernelRows = w.kernel[0] * w.kernel[1];
  const int64_t taps = w.kernelSize();
  const int64_t depth = s.groupIn * taps;
  const int64_t outRow = w.out[2];
  const int64_t rows = w.out[0] * w.out[1];
  const int64_t segments = (outRow + gemm::tileColumns(b) - 1) / gemm::tileColumns(b);
  const int64_t positions = w.outSize();
  const int64_t sw = w.stride[2];
  const int64_t groupIn = s.groupIn;
  // Input columns one segment reads from one row, rounded to whole vectors.
  const int64_t segment = (gemm::tileColumns(b) * sw + (kernelWidth - 1) * w.dilation[2] + lanes - 1) / lanes * lanes;
  const int64_t perChannel = kernelRows * segment;
  int64_t blockChannels = std::max<int64_t>(1, std::min(groupIn, kDirectPanelBytes / 4 / perChannel));
  const int64_t blocks = (groupIn + blockChannels - 1) / blockChannels;
  blockChannels = (groupIn + blocks - 1) / blocks;

  llvm::Value *packed = gemm::packConstantAMapped(
      b, constantKey(c, 1) + ".direct" + std::to_string(kernelRows) + "x" + std::to_string(kernelWidth),
      *c.constantInput(1), s.group, s.groupOut, depth, depth, s.groupOut * depth, [&](int64_t p) {
        const int64_t kdh = p / (groupIn * kernelWidth);
        const int64_t rest = p % (groupIn * kernelWidth);
        const int64_t ci = rest / kernelWidth;
        const int64_t kw = rest % kernelWidth;
        return ci * taps + kdh * kernelWidth + kw;
      });
  const int64_t tiles = (s.groupOut + gemm::tileRows(b) - 1) / gemm::tileRows(b);
  const int64_t fullTiles = s.groupOut / gemm::tileRows(b);
  const int64_t tailRows = s.groupOut % gemm::tileRows(b);
  const int64_t images = s.batch * s.group;
  int64_t tilesPerChunk = tiles, chunks = 1;
  while (chunks * images * rows * segments < 8 && tilesPerChunk > 1) {
    tilesPerChunk = (tilesPerChunk + 1) / 2;
    chunks = (tiles + tilesPerChunk - 1) / tilesPerChunk;
  }

  // Streaming stores (last channel block): the output is far bigger than L2 and rows keep 64-byte alignment
  // (the arena and graph buffers are 64-byte aligned).
  const bool streamOutput = outRow % lanes == 0 && positions % lanes == 0 &&
                            s.batch * s.outChannels * positions * 4 > (int64_t{8} << 20);

  std::vector<llvm::Value *> captures{c.inputs[0], c.outputs[0]};
  if (c.hasInput(2)) captures.push_back(c.inputs[2]);
  b.parallelLoop(chunks * images * rows * segments, captures, [&](llvm::Value *index, const std::vector<llvm::Value *> &cap) {
    llvm::Value *seg = ir.CreateURem(index, i64(b, segments));
    llvm::Value *rest = ir.CreateUDiv(index, i64(b, segments));
    llvm::Value *r = ir.CreateURem(rest, i64(b, rows));
    rest = ir.CreateUDiv(rest, i64(b, rows));
    llvm::Value *image = ir.CreateURem(rest, i64(b, images));
    llvm::Value *chunk = ir.CreateUDiv(rest, i64(b, images));
    llvm::Value *n = ir.CreateUDiv(image, i64(b, s.group));
    llvm::Value *g = ir.CreateURem(image, i64(b, s.group));
    llvm::Value *ow0 = ir.CreateMul(seg, i64(b, gemm::tileColumns(b)));
    llvm::Value *count = gemm::minI64(b, i64(b, gemm::tileColumns(b)), ir.CreateSub(i64(b, outRow), ow0));
    llvm::Value *od = ir.CreateUDiv(r, i64(b, w.out[1]));
    llvm::Value *oh = ir.CreateURem(r, i64(b, w.out[1]));
    llvm::Value *idBase = ir.CreateSub(ir.CreateMul(od, i64(b, w.stride[0])), i64(b, w.padBegin[0]));
    llvm::Value *ihBase = ir.CreateSub(ir.CreateMul(oh, i64(b, w.stride[1])), i64(b, w.padBegin[1]));
    llvm::Value *iwBase = ir.CreateSub(ir.CreateMul(ow0, i64(b, sw)), i64(b, w.padBegin[2]));
    auto [kdLo, kdHi] = validTaps(b, idBase, w.in[0], w.kernel[0], w.dilation[0]);
    auto [khLo, khHi] = validTaps(b, ihBase, w.in[1], w.kernel[1], w.dilation[1]);
    llvm::Value *xImage = b.elementPtr(
        ir::DType::Float32, cap[0],
        ir.CreateMul(ir.CreateAdd(ir.CreateMul(n, i64(b, s.inChannels)), ir.CreateMul(g, i64(b, groupIn))), i64(b, w.inSize())));
    llvm::Value *yPanel = b.elementPtr(
        ir::DType::Float32, cap[1],
        ir.CreateAdd(ir.CreateMul(ir.CreateAdd(ir.CreateMul(n, i64(b, s.outChannels)), ir.CreateMul(g, i64(b, s.groupOut))),
                                  i64(b, positions)),
                     ir.CreateAdd(ir.CreateMul(r, i64(b, outRow)), ow0)));
    llvm::Value *aGroup = b.elementPtr(ir::DType::Float32, packed, ir.CreateMul(g, i64(b, gemm::packedSizeA(b, s.groupOut, depth))));
    llvm::Value *biasGroup =
        cap.size() > 2 ? b.elementPtr(ir::DType::Float32, cap[2], ir.CreateMul(g, i64(b, s.groupOut))) : nullptr;
    llvm::Value *zero = llvm::ConstantAggregateZero::get(vecTy);
    llvm::Value *panel = gemm::entryAlloca(b, floatTy, blockChannels * perChannel, 64, "rows");
    // Masks of the panel copy: vector v of a row segment covers input columns iwBase + L v + [0, L) (L lanes).
    std::vector<llvm::Value *> copyMasks;
    for (int64_t v = 0; v < segment / lanes; ++v) {
      llvm::Value *first = ir.CreateAdd(iwBase, i64(b, v * lanes));
      copyMasks.push_back(gemm::laneRange(b, ir.CreateNeg(first), ir.CreateSub(i64(b, w.in[2]), first)));
    }
    auto rowOffsetOf = [&](llvm::Value *kd, llvm::Value *kh) {
      llvm::Value *id = ir.CreateAdd(idBase, ir.CreateMul(kd, i64(b, w.dilation[0])));
      llvm::Value *ih = ir.CreateAdd(ihBase, ir.CreateMul(kh, i64(b, w.dilation[1])));
      return ir.CreateAdd(ir.CreateMul(ir.CreateAdd(ir.CreateMul(id, i64(b, w.in[1])), ih), i64(b, w.in[2])), iwBase);
    };

    auto tileKernel = [&](llvm::Value *tile, int64_t mr, llvm::Value *c0, llvm::Value *channels, llvm::Value *isFirst,
                          llvm::Value *isLast) {
      std::vector<std::array<llvm::AllocaInst *, gemm::kNRVectors>> acc(static_cast<size_t>(mr));
      auto yRowOf = [&](int64_t rr) {
        llvm::Value *channel = ir.CreateAdd(ir.CreateMul(tile, i64(b, gemm::tileRows(b))), i64(b, rr));
        return b.elementPtr(ir::DType::Float32, yPanel, ir.CreateMul(channel, i64(b, positions)));
      };
      auto lanesOf = [&](int64_t q) { return ir.CreateSub(count, i64(b, q * lanes)); };
      for (int64_t rr = 0; rr < mr; ++rr)
        for (int64_t q = 0; q < gemm::kNRVectors; ++q) {
          llvm::AllocaInst *slot = gemm::entryAlloca(b, vecTy, 1, 64, "acc");
          acc[static_cast<size_t>(rr)][static_cast<size_t>(q)] = slot;
          ir.CreateStore(zero, slot);
        }
      // Later channel blocks accumulate onto the partial sums already in Y.
      gemm::emitIf(b, ir.CreateNot(isFirst), [&] {
        for (int64_t rr = 0; rr < mr; ++rr)
          for (int64_t q = 0; q < gemm::kNRVectors; ++q)
            ir.CreateStore(ir.CreateMaskedLoad(vecTy, b.elementPtr(ir::DType::Float32, yRowOf(rr), i64(b, q * lanes)),
                                               llvm::Align(4), gemm::laneRange(b, i64(b, 0), lanesOf(q)), zero),
                           acc[static_cast<size_t>(rr)][static_cast<size_t>(q)]);
      });
      llvm::Value *aTile = b.elementPtr(ir::DType::Float32, aGroup, ir.CreateMul(tile, i64(b, depth * gemm::tileRows(b))));
      gemm::plainLoop(b, kdLo, kdHi, [&](llvm::Value *kd) {
        gemm::plainLoop(b, khLo, khHi, [&](llvm::Value *kh) {
          llvm::Value *kdh = ir.CreateAdd(ir.CreateMul(kd, i64(b, w.kernel[1])), kh);
          llvm::Value *aRow = b.elementPtr(
              ir::DType::Float32, aTile,
              ir.CreateMul(ir.CreateAdd(ir.CreateMul(kdh, i64(b, groupIn)), c0), i64(b, kernelWidth * gemm::tileRows(b))));
          llvm::Value *panelRow = b.elementPtr(ir::DType::Float32, panel, ir.CreateMul(kdh, i64(b, segment)));
          b.loop(i64(b, 0), channels, 1, [&](llvm::Value *ci) {
            llvm::Value *row = b.elementPtr(ir::DType::Float32, panelRow, ir.CreateMul(ci, i64(b, perChannel)));
            llvm::Value *aChannel = b.elementPtr(ir::DType::Float32, aRow, ir.CreateMul(ci, i64(b, kernelWidth * gemm::tileRows(b))));
            for (int64_t kw = 0; kw < kernelWidth; ++kw) {
              llvm::Value *bv[gemm::kNRVectors];
              for (int64_t q = 0; q < gemm::kNRVectors; ++q)
                bv[q] = gemm::loadRow(b, row, i64(b, kw * w.dilation[2] + q * lanes * sw), sw, nullptr, nullptr, zero,
                                      /*interior=*/true);
              for (int64_t rr = 0; rr < mr; ++rr) {
                llvm::Value *a = b.load(ir::DType::Float32, aChannel, i64(b, kw * gemm::tileRows(b) + rr));
                llvm::Value *aSplat = ir.CreateVectorSplat(static_cast<unsigned>(lanes), a);
                for (int64_t q = 0; q < gemm::kNRVectors; ++q) {
                  llvm::AllocaInst *slot = acc[static_cast<size_t>(rr)][static_cast<size_t>(q)];
                  ir.CreateStore(ir.CreateIntrinsic(llvm::Intrinsic::fma, {vecTy}, {aSplat, bv[q], ir.CreateLoad(vecTy, slot)}),
                                 slot);
                }
              }
            }
          }, "ci");
        });
      });
      if (biasGroup != nullptr)
        gemm::emitIf(b, isLast, [&] {
          for (int64_t rr = 0; rr < mr; ++rr) {
            llvm::Value *channel = ir.CreateAdd(ir.CreateMul(tile, i64(b, gemm::tileRows(b))), i64(b, rr));
            llvm::Value *bias = ir.CreateVectorSplat(static_cast<unsigned>(lanes), b.load(ir::DType::Float32, biasGroup, channel));
            for (int64_t q = 0; q < gemm::kNRVectors; ++q) {
              llvm::AllocaInst *slot = acc[static_cast<size_t>(rr)][static_cast<size_t>(q)];
              ir.CreateStore(ir.CreateFAdd(ir.CreateLoad(vecTy, slot), bias), slot);
            }
          }
        });
      auto storeTile = [&](bool streaming) {
        for (int64_t rr = 0; rr < mr; ++rr)
          for (int64_t q = 0; q < gemm::kNRVectors; ++q) {
            llvm::Value *v = ir.CreateLoad(vecTy, acc[static_cast<size_t>(rr)][static_cast<size_t>(q)]);
            llvm::Value *ptr = b.elementPtr(ir::DType::Float32, yRowOf(rr), i64(b, q * lanes));
            if (!streaming) {
              gemm::storeLanes(b, v, ptr, lanesOf(q));
              continue;
            }
            llvm::StoreInst *store = ir.CreateAlignedStore(v, ptr, llvm::Align(64));
            store->setMetadata(llvm::LLVMContext::MD_nontemporal,
                               llvm::MDNode::get(b.context(), {llvm::ConstantAsMetadata::get(ir.getInt32(1))}));
          }
      };
      // A big output written once, in whole 64-byte aligned vectors: streaming stores skip reading its lines.
      if (streamOutput)
        gemm::emitIfElse(b, ir.CreateAnd(isLast, ir.CreateICmpEQ(count, i64(b, gemm::tileColumns(b)))), [&] { storeTile(true); },
                         [&] { storeTile(false); });
      else
        storeTile(false);
    };

    auto channelBlock = [&](llvm::Value *block) {
      llvm::Value *c0 = ir.CreateMul(block, i64(b, blockChannels));
      llvm::Value *channels = gemm::minI64(b, i64(b, blockChannels), ir.CreateSub(i64(b, groupIn), c0));
      llvm::Value *isFirst = blocks == 1 ? ir.getTrue() : ir.CreateICmpEQ(block, i64(b, 0));
      llvm::Value *isLast = blocks == 1 ? ir.getTrue() : ir.CreateICmpEQ(block, i64(b, blocks - 1));
      // Copy the block's input row segments (valid kernel rows only), padding columns as zeros.
      llvm::Value *xBlock = b.elementPtr(ir::DType::Float32, xImage, ir.CreateMul(c0, i64(b, w.inSize())));
      b.loop(i64(b, 0), channels, 1, [&](llvm::Value *ci) {
        llvm::Value *plane = b.elementPtr(ir::DType::Float32, xBlock, ir.CreateMul(ci, i64(b, w.inSize())));
        llvm::Value *dstChannel = b.elementPtr(ir::DType::Float32, panel, ir.CreateMul(ci, i64(b, perChannel)));
        gemm::plainLoop(b, kdLo, kdHi, [&](llvm::Value *kd) {
          gemm::plainLoop(b, khLo, khHi, [&](llvm::Value *kh) {
            llvm::Value *src = ir.CreateGEP(floatTy, plane, rowOffsetOf(kd, kh));
            llvm::Value *kdh = ir.CreateAdd(ir.CreateMul(kd, i64(b, w.kernel[1])), kh);
            llvm::Value *dst = b.elementPtr(ir::DType::Float32, dstChannel, ir.CreateMul(kdh, i64(b, segment)));
            for (int64_t v = 0; v < segment / lanes; ++v) {
              llvm::Value *x = ir.CreateMaskedLoad(vecTy, ir.CreateGEP(floatTy, src, i64(b, v * lanes)), llvm::Align(4),
                                                   copyMasks[static_cast<size_t>(v)], zero);
              ir.CreateAlignedStore(x, b.elementPtr(ir::DType::Float32, dst, i64(b, v * lanes)), llvm::Align(4));
            }
          });
        });
      }, "copy");
      if (fullTiles > 0) {
        llvm::Value *first = ir.CreateMul(chunk, i64(b, tilesPerChunk));
        llvm::Value *end =
            gemm::maxI64(b, first, gemm::minI64(b, ir.CreateAdd(first, i64(b, tilesPerChunk)), i64(b, fullTiles)));
        b.loop(first, end, 1, [&](llvm::Value *tile) { tileKernel(tile, gemm::tileRows(b), c0, channels, isFirst, isLast); }, "tile");
      }
      if (tailRows > 0)
        gemm::emitIf(b, chunks == 1 ? ir.getTrue() : ir.CreateICmpEQ(chunk, i64(b, chunks - 1)),
                     [&] { tileKernel(i64(b, fullTiles), tailRows, c0, channels, isFirst, isLast); });
    };
    if (blocks == 1)
      channelBlock(i64(b, 0));
    else
      b.loop(blocks, [&](llvm::Value *block) { channelBlock(block); }, "cblock");
  }, "convd");
}

/// Small output planes (14x14, 7x7) put few positions on the GEMM's 32-column panels (49 positions fill 64
/// columns). There the product runs transposed, positions on the rows (MR = 8) and output channels on the columns:
/// C'[pos][oc] = patches[pos][depth] x W^T[depth][oc], with W^T packed at compile time, the patches gathered into
/// MR-row panels once per call, C' in a scratch buffer, and one pass that writes it out as NCHW. Float32, group 1, constant weights, planes of at most 64 positions.
bool smallPlaneApplies(const KernelBuilder &b, const ops::Window &w, const ConvShape &s, bool constantWeights,
                       bool pointwise) {
  const int64_t positions = w.outSize();
  // Measured on ResNet-50's shapes: the gather and the transposing pass cost more than the padding they save
  // from 14x14 planes on, and for pointwise convs (which gather nothing the other way either).
  if (!constantWeights || pointwise || s.group != 1 || positions < gemm::tileRows(b) || positions > 64) return false;
  auto padded = [](int64_t n, int64_t unit) { return static_cast<double>((n + unit - 1) / unit * unit); };
  const double asIs = padded(positions, gemm::tileColumns(b)) * padded(s.outChannels, gemm::tileRows(b));
  const double swapped = padded(positions, gemm::tileRows(b)) * padded(s.outChannels, gemm::tileColumns(b));
  return swapped < 0.95 * asIs;  // at least 5% fewer padded multiply-adds
}

void emitConvSmallPlane(KernelContext &c, const ops::Window &w, const ConvShape &s) {
  KernelBuilder &b = c.b;
  llvm::IRBuilder<> &ir = b.ir();
  const int64_t positions = w.outSize();
  const int64_t taps = w.kernelSize();
  const int64_t depth = s.inChannels * taps;
  const int64_t tiles = (positions + gemm::tileRows(b) - 1) / gemm::tileRows(b);
  const int64_t perImage = gemm::packedSizeA(b, positions, depth);
  llvm::Value *cols = gemm::scratchGlobal(b, "fluidml.conv.transposed", s.batch * positions * s.outChannels * 4);

  GemmSpec g;
  g.m = positions;
  g.n = s.outChannels;
  g.k = depth;
  g.batch.shape = {s.batch};
  g.b.kind = OperandB::Kind::Panels;
  g.b.base = gemm::packConstantB(b, constantKey(c, 1) + ".t", *c.constantInput(1), 1, depth, s.outChannels, 1, depth, 0);
  g.batch.bStrides = {0};
  // patches(pos, (ci, kd, kh, kw)) = x[ci][od * sd - pd + kd * dd][...], zero in the padding, gathered into
  // MR-row panels [tile][depth][MR] (rows past `positions` zero: the shared scratch holds other kernels' data).
  llvm::Value *panels = gemm::scratchGlobal(b, "fluidml.conv.patches", s.batch * perImage * 4);
  b.parallelLoop(s.batch * tiles, {c.inputs[0]}, [&](llvm::Value *index, const std::vector<llvm::Value *> &cap) {
    llvm::Value *image = ir.CreateUDiv(index, i64(b, tiles));
    llvm::Value *tile = ir.CreateURem(index, i64(b, tiles));
    llvm::Value *x = b.elementPtr(ir::DType::Float32, cap[0], ir.CreateMul(image, i64(b, s.inChannels * w.inSize())));
    llvm::Value *panel = b.elementPtr(ir::DType::Float32, panels,
                                      ir.CreateAdd(ir.CreateMul(image, i64(b, perImage)), ir.CreateMul(tile, i64(b, depth * gemm::tileRows(b)))));
    for (int64_t r = 0; r < gemm::tileRows(b); ++r) {
      llvm::Value *pos = ir.CreateAdd(ir.CreateMul(tile, i64(b, gemm::tileRows(b))), i64(b, r));
      llvm::Value *rowValid = ir.CreateICmpULT(pos, i64(b, positions));
      llvm::Value *o[3] = {ir.CreateUDiv(pos, i64(b, w.out[1] * w.out[2])),
                           ir.CreateURem(ir.CreateUDiv(pos, i64(b, w.out[2])), i64(b, w.out[1])),
                           ir.CreateURem(pos, i64(b, w.out[2]))};
      b.loop(taps, [&](llvm::Value *tap) {
        llvm::Value *k[3] = {ir.CreateUDiv(tap, i64(b, w.kernel[1] * w.kernel[2])),
                             ir.CreateURem(ir.CreateUDiv(tap, i64(b, w.kernel[2])), i64(b, w.kernel[1])),
                             ir.CreateURem(tap, i64(b, w.kernel[2]))};
        llvm::Value *valid = rowValid;
        llvm::Value *offset = i64(b, 0);
        for (int d = 0; d < 3; ++d) {
          llvm::Value *at = ir.CreateAdd(ir.CreateSub(ir.CreateMul(o[d], i64(b, w.stride[d])), i64(b, w.padBegin[d])),
                                         ir.CreateMul(k[d], i64(b, w.dilation[d])));
          valid = ir.CreateAnd(valid, ir.CreateICmpULT(at, i64(b, w.in[d])));  // unsigned: negative is outside
          offset = ir.CreateAdd(ir.CreateMul(offset, i64(b, w.in[d])), at);
        }
        llvm::Value *safe = ir.CreateSelect(valid, offset, i64(b, 0));
        b.loop(s.inChannels, [&](llvm::Value *ci) {
          llvm::Value *value = b.load(ir::DType::Float32, x, ir.CreateAdd(ir.CreateMul(ci, i64(b, w.inSize())), safe));
          value = ir.CreateSelect(valid, value, llvm::ConstantFP::get(ir.getFloatTy(), 0.0));
          llvm::Value *p = ir.CreateAdd(ir.CreateMul(ci, i64(b, taps)), tap);
          b.store(ir::DType::Float32, value, panel, ir.CreateAdd(ir.CreateMul(p, i64(b, gemm::tileRows(b))), i64(b, r)));
        }, "ci");
      }, "tap");
    }
  }, "patches");
  g.a.kind = OperandA::Kind::Panels;
  g.a.base = panels;
  g.batch.aStrides = {perImage};
  g.c = cols;
  g.ldc = s.outChannels;
  g.batch.cStrides = {positions * s.outChannels};
  g.batch.biasStrides = {0};
  if (c.hasInput(2)) {
    g.epilogue.bias = c.inputs[2];
    g.epilogue.biasColStride = 1;
  }
  g.name = "convt";
  gemm::emitGemm(b, g);
  // C'[image][pos][oc] -> y[image][oc][pos], one vector of positions at a time (a strided gather from C'), with a fused
  // node's steps applied on the way (their operands are NCHW like y).
  std::vector<llvm::Value *> captures{c.outputs[0]};
  if (c.epilogue != nullptr)
    for (llvm::Value *operand : c.epilogue->operands)
      if (operand != nullptr) captures.push_back(operand);
  b.parallelLoop(s.batch * s.outChannels, captures, [&](llvm::Value *plane, const std::vector<llvm::Value *> &cap) {
    llvm::Type *vecTy = gemm::floatVector(b);
    llvm::Value *image = ir.CreateUDiv(plane, i64(b, s.outChannels));
    llvm::Value *oc = ir.CreateURem(plane, i64(b, s.outChannels));
    llvm::Value *from = b.elementPtr(ir::DType::Float32, cols,
                                     ir.CreateAdd(ir.CreateMul(image, i64(b, positions * s.outChannels)), oc));
    llvm::Value *planeStart = ir.CreateMul(plane, i64(b, positions));
    std::vector<llvm::Constant *> lanes;  // lane l reads position p0 + l: C' element (p0 + l) * outChannels
    for (int64_t l = 0; l < gemm::floatLanes(b); ++l) lanes.push_back(ir.getInt64(static_cast<uint64_t>(l * s.outChannels)));
    llvm::Value *laneOffsets = llvm::ConstantVector::get(lanes);
    for (int64_t p0 = 0; p0 < positions; p0 += gemm::floatLanes(b)) {
      llvm::Value *mask = gemm::laneRange(b, i64(b, 0), i64(b, std::min<int64_t>(gemm::floatLanes(b), positions - p0)));
      llvm::Value *pointers = ir.CreateGEP(ir.getFloatTy(), b.elementPtr(ir::DType::Float32, from, i64(b, p0 * s.outChannels)),
                                           laneOffsets);
      llvm::Value *values = ir.CreateMaskedGather(vecTy, pointers, llvm::Align(4), mask,
                                                  llvm::ConstantAggregateZero::get(vecTy));
      llvm::Value *at = ir.CreateAdd(planeStart, i64(b, p0));
      if (c.epilogue != nullptr) {
        size_t next = 1;
        std::vector<llvm::Value *> operands;
        for (llvm::Value *operand : c.epilogue->operands) operands.push_back(operand != nullptr ? cap[next++] : nullptr);
        values = gemm::applyFusedSteps(b, c.epilogue->steps, values, [&](size_t step) -> llvm::Value * {
          if (c.epilogue->steps[step].broadcast == ops::OperandBroadcast::PerChannel)
            return ir.CreateVectorSplat(static_cast<unsigned>(gemm::floatLanes(b)), b.load(ir::DType::Float32, operands[step], oc));
          return ir.CreateMaskedLoad(vecTy, b.elementPtr(ir::DType::Float32, operands[step], at), llvm::Align(4), mask,
                                     llvm::ConstantAggregateZero::get(vecTy));
        });
      }
      ir.CreateMaskedStore(values, b.elementPtr(ir::DType::Float32, cap[0], at), llvm::Align(4), mask);
    }
  }, "transpose");
  if (c.epilogue != nullptr) c.epilogueApplied = true;
}

/// Where a fused Add operand sits in a conv GEMM: a Full one has the output's layout (row stride
/// `fullRowStride`, batch strides `fullBatchStrides`), a PerChannel one the bias's.
std::function<gemm::EpilogueOperand(ops::OperandBroadcast)> convOperandLayout(
    int64_t fullRowStride, std::vector<int64_t> fullBatchStrides, int64_t channelRowStride, int64_t channelColStride,
    std::vector<int64_t> channelBatchStrides) {
  return [=](ops::OperandBroadcast broadcast) {
    gemm::EpilogueOperand o;
    const bool full = broadcast == ops::OperandBroadcast::Full;
    o.rowStride = full ? fullRowStride : channelRowStride;
    o.colStride = full ? 1 : channelColStride;
    o.batchStrides = full ? fullBatchStrides : channelBatchStrides;
    return o;
  };
}

Status emitConv(KernelContext &c) {
  const ir::Shape &x = c.inputType(0).shape;
  const ir::Shape &wShape = c.inputType(1).shape;
  FLUIDML_ASSIGN_OR_RETURN(ops::Window w, ops::convWindow(c.node, x, wShape));
  ConvShape s;
  s.batch = x[0];
  s.inChannels = x[1];
  s.outChannels = wShape[0];
  s.group = c.node.intAttr("group", 1);
  s.groupIn = s.inChannels / s.group;
  s.groupOut = s.outChannels / s.group;
  if (c.outputType(0).numel() == 0) return Status::ok();
  if (emitBlockedConv(c, w, s.group)) return Status::ok();
  if (c.outputType(0).dtype != ir::DType::Float32) {
    c.strategy = "scalar";
    emitConvScalar(c, w, s);
    return Status::ok();
  }
  KernelBuilder &b = c.b;
  if (s.groupIn == 1) {
    c.strategy = "depthwise";
    WindowSweep sweep;
    sweep.kind = WindowSweep::Kind::Conv;
    sweep.window = w;
    sweep.planes = s.batch * s.outChannels;
    sweep.channels = s.outChannels;
    sweep.inChannels = s.inChannels;
    sweep.multiplier = s.groupOut;
    sweep.x = c.inputs[0];
    sweep.y = c.outputs[0];
    sweep.weights = c.inputs[1];
    sweep.bias = c.hasInput(2) ? c.inputs[2] : nullptr;
    emitWindowSweep(b, sweep);
    return Status::ok();
  }
  const int64_t kernelSize = w.kernelSize();
  const int64_t depth = s.groupIn * kernelSize;  // GEMM k
  const int64_t positions = w.outSize();
  const bool pointwise = kernelSize == 1 && w.in == w.out && w.stride == std::array<int64_t, 3>{1, 1, 1};
  const bool constantWeights = c.constantInput(1) != nullptr;

  if (!pointwise && directConvApplies(b, w, constantWeights)) {
    c.strategy = "implicit-gemm";
    emitConvDirect(c, w, s);
    return Status::ok();
  }
  if (smallPlaneApplies(b, w, s, constantWeights, pointwise)) {
    c.strategy = "small-plane";
    emitConvSmallPlane(c, w, s);
    return Status::ok();
  }

  if (pointwise && positions == 1 && s.group == 1) {
    // Y[n, :] = X[n, :] W^T: the output channels become the vectorized GEMM columns.
    c.strategy = "single-position";
    GemmSpec g;
    g.m = s.batch;
    g.n = s.outChannels;
    g.k = s.inChannels;
    g.a.kind = OperandA::Kind::Strided;
    g.a.base = c.inputs[0];
    g.a.rowStride = s.inChannels;
    g.a.kStride = 1;
    if (constantWeights) {
      g.b.kind = OperandB::Kind::Panels;
      g.b.base = gemm::packConstantB(b, constantKey(c, 1), *c.constantInput(1), 1, g.k, g.n, 1, s.inChannels, 0);
    } else {
      g.b.kind = OperandB::Kind::Fill;
      g.b.base = c.inputs[1];
      const int64_t n = g.n, inChannels = s.inChannels;
      g.b.fill = [n, inChannels](KernelBuilder &kb, llvm::Value *scratch, llvm::Value *base, llvm::Value *j0,
                                 llvm::Value *k0, llvm::Value *kc, const std::vector<llvm::Value *> &) {
        llvm::IRBuilder<> &ir = kb.ir();
        llvm::Value *columns = gemm::minI64(kb, kb.i64(gemm::tileColumns(kb)), ir.CreateSub(kb.i64(n), j0));
        kb.loop(kb.i64(0), columns, 1, [&](llvm::Value *j) {
          kb.loop(kb.i64(0), kc, 1, [&](llvm::Value *p) {
            llvm::Value *from = ir.CreateAdd(ir.CreateMul(ir.CreateAdd(j0, j), kb.i64(inChannels)), ir.CreateAdd(k0, p));
            kb.store(ir::DType::Float32, kb.load(ir::DType::Float32, base, from), scratch,
                     ir.CreateAdd(ir.CreateMul(p, kb.i64(gemm::tileColumns(kb))), j));
          }, "p");
        }, "j");
      };
    }
    g.c = c.outputs[0];
    g.ldc = s.outChannels;
    if (c.hasInput(2)) {
      g.epilogue.bias = c.inputs[2];
      g.epilogue.biasColStride = 1;
    }
    // Fused steps: rows are images, columns channels.
    fuseSteps(c, g, convOperandLayout(/*fullRowStride=*/s.outChannels, {}, /*channelRowStride=*/0,
                                      /*channelColStride=*/1, {}));
    g.name = "conv1x1";
    gemm::emitGemm(b, g);
    return Status::ok();
  }

  GemmSpec g;
  g.m = s.groupOut;
  g.n = positions;
  g.k = depth;
  g.batch.shape = {s.batch, s.group};
  if (constantWeights) {
    g.a.kind = OperandA::Kind::Panels;
    g.a.base = gemm::packConstantA(b, constantKey(c, 1), *c.constantInput(1), s.group, s.groupOut, depth, depth, 1,
                                   s.groupOut * depth);
    g.batch.aStrides = {0, gemm::packedSizeA(b, s.groupOut, depth)};
  } else {
    g.a.kind = OperandA::Kind::Strided;
    g.a.base = c.inputs[1];
    g.a.rowStride = depth;
    g.a.kStride = 1;
    g.batch.aStrides = {0, s.groupOut * depth};
  }
  g.b.base = c.inputs[0];
  g.batch.bStrides = {s.inChannels * w.inSize(), s.groupIn * w.inSize()};
  if (pointwise) {
    g.b.kind = OperandB::Kind::Rows;
    g.b.kStride = positions;
  } else {
    g.b.kind = OperandB::Kind::Fill;
    g.b.fill = im2colFill(w);
    if (kernelSize <= kMaxUnrolledTaps) g.kAlign = kernelSize;
  }
  g.c = c.outputs[0];
  g.ldc = positions;
  g.batch.cStrides = {s.outChannels * positions, s.groupOut * positions};
  g.batch.biasStrides = {0, s.groupOut};
  if (c.hasInput(2)) {
    g.epilogue.bias = c.inputs[2];
    g.epilogue.biasRowStride = 1;
    g.epilogue.biasColStride = 0;
  }
  // Fused steps: rows are the group's output channels, columns positions, batch (image, group).
  fuseSteps(c, g, convOperandLayout(positions, g.batch.cStrides, 1, 0, g.batch.biasStrides));
  g.name = "conv";
  c.strategy = pointwise ? "pointwise" : "im2col";
  gemm::emitGemm(b, g);
  return Status::ok();
}

// ---- ConvTranspose ------------------------------------------------------------------------------------------

/// Any dtype: y = bias, then every input element scatters x * w into the outputs it reaches.
void emitConvTransposeScalar(KernelContext &c, const ops::Window &w, const ConvShape &s) {
  KernelBuilder &b = c.b;
  llvm::IRBuilder<> &ir = b.ir();
  const ir::DType dtype = c.outputType(0).dtype;
  std::vector<llvm::Value *> captures{c.inputs[0], c.inputs[1], c.outputs[0]};
  if (c.hasInput(2)) captures.push_back(c.inputs[2]);
  // One item per output plane: it gathers from every input channel of its group, so no two items write the
  // same element.
  b.parallelLoop(s.batch * s.outChannels, captures, [&](llvm::Value *plane, const std::vector<llvm::Value *> &cap) {
    llvm::Value *n = ir.CreateUDiv(plane, i64(b, s.outChannels));
    llvm::Value *oc = ir.CreateURem(plane, i64(b, s.outChannels));
    llvm::Value *g = ir.CreateUDiv(oc, i64(b, s.groupOut));
    llvm::Value *ocg = ir.CreateURem(oc, i64(b, s.groupOut));
    llvm::Value *yBase = ir.CreateMul(plane, i64(b, w.outSize()));
    llvm::Value *bias = cap.size() > 3 ? b.load(dtype, cap[3], oc) : b.constant(dtype, 0.0);
    b.loop(w.outSize(), [&](llvm::Value *o) { b.store(dtype, bias, cap[2], ir.CreateAdd(yBase, o)); }, "o");
    b.loop(s.groupIn, [&](llvm::Value *ci) {
      llvm::Value *channel = ir.CreateAdd(ir.CreateMul(g, i64(b, s.groupIn)), ci);
      llvm::Value *xBase = ir.CreateMul(ir.CreateAdd(ir.CreateMul(n, i64(b, s.inChannels)), channel), i64(b, w.inSize()));
      llvm::Value *wBase = ir.CreateMul(ir.CreateAdd(ir.CreateMul(channel, i64(b, s.groupOut)), ocg), i64(b, w.kernelSize()));
      b.loopNest({w.in[0], w.in[1], w.in[2]}, [&](const std::vector<llvm::Value *> &i) {
        llvm::Value *xv = b.load(dtype, cap[0], ir.CreateAdd(xBase, b.linearIndex(i, {w.in[1] * w.in[2], w.in[2], 1})));
        b.loopNest({w.kernel[0], w.kernel[1], w.kernel[2]}, [&](const std::vector<llvm::Value *> &k) {
          std::vector<llvm::Value *> pos;
          llvm::Value *valid = ir.getTrue();
          for (size_t d = 0; d < 3; ++d) {
            llvm::Value *p = ir.CreateAdd(ir.CreateSub(ir.CreateMul(i[d], i64(b, w.stride[d])), i64(b, w.padBegin[d])),
                                          ir.CreateMul(k[d], i64(b, w.dilation[d])));
            valid = ir.CreateAnd(valid, ir.CreateICmpULT(p, i64(b, w.out[d])));
            pos.push_back(p);
          }
          gemm::emitIf(b, valid, [&] {
            llvm::Value *yi = ir.CreateAdd(yBase, b.linearIndex(pos, {w.out[1] * w.out[2], w.out[2], 1}));
            llvm::Value *wi = ir.CreateAdd(wBase, b.linearIndex(k, {w.kernel[1] * w.kernel[2], w.kernel[2], 1}));
            llvm::Value *product = mul(b, dtype, xv, b.load(dtype, cap[1], wi));
            b.store(dtype, add(b, dtype, b.load(dtype, cap[2], yi), product), cap[2], yi);
          });
        });
      });
    }, "ci");
  }, "convT");
}

/// float32: per image and group, Col[Cout/g*kernel x positions] = W_g^T X_g in tiles of positions (GEMM), then
/// col2im adds each tile into the output (parallel over output channels).
void emitConvTransposeGemm(KernelContext &c, const ops::Window &w, const ConvShape &s) {
  KernelBuilder &b = c.b;
  llvm::IRBuilder<> &ir = b.ir();
  const int64_t kernelSize = w.kernelSize();
  const int64_t rows = s.groupOut * kernelSize;
  const int64_t positions = w.inSize();
  constexpr int64_t kColumnBudget = int64_t{1} << 20;  // floats of the column buffer (4 MiB)
  int64_t tile = std::max<int64_t>(gemm::tileColumns(b), kColumnBudget / rows / gemm::tileColumns(b) * gemm::tileColumns(b));
  tile = std::min(tile, positions);
  llvm::Value *col = gemm::scratchGlobal(b, "fluidml.col." + std::to_string(c.node.id), rows * tile * 4);

  // Output planes start as the bias.
  std::vector<llvm::Value *> captures{c.outputs[0]};
  if (c.hasInput(2)) captures.push_back(c.inputs[2]);
  b.parallelLoop(s.batch * s.outChannels, captures, [&](llvm::Value *plane, const std::vector<llvm::Value *> &cap) {
    llvm::Value *value = llvm::ConstantFP::get(ir.getFloatTy(), 0.0);
    if (cap.size() > 1) value = b.load(ir::DType::Float32, cap[1], ir.CreateURem(plane, i64(b, s.outChannels)));
    llvm::Value *base = ir.CreateMul(plane, i64(b, w.outSize()));
    b.loop(w.outSize(), [&](llvm::Value *o) { b.store(ir::DType::Float32, value, cap[0], ir.CreateAdd(base, o)); }, "o");
  }, "bias");

  const bool constantWeights = c.constantInput(1) != nullptr;
  llvm::Value *packed = constantWeights ? gemm::packConstantA(b, constantKey(c, 1), *c.constantInput(1), s.group, rows, s.groupIn,
                                                              1, rows, s.groupIn * rows)
                                        : nullptr;
  b.loop(s.batch, [&](llvm::Value *n) {
    b.loop(s.group, [&](llvm::Value *g) {
      auto tileProduct = [&](llvm::Value *p0, int64_t count) {
        GemmSpec spec;
        spec.m = rows;
        spec.n = count;
        spec.k = s.groupIn;
        if (constantWeights) {
          spec.a.kind = OperandA::Kind::Panels;
          spec.a.base = b.elementPtr(ir::DType::Float32, packed, ir.CreateMul(g, i64(b, gemm::packedSizeA(b, rows, s.groupIn))));
        } else {
          spec.a.kind = OperandA::Kind::Strided;
          spec.a.base = b.elementPtr(ir::DType::Float32, c.inputs[1], ir.CreateMul(g, i64(b, s.groupIn * rows)));
          spec.a.rowStride = 1;
          spec.a.kStride = rows;
        }
        llvm::Value *xOffset = ir.CreateAdd(
            ir.CreateMul(ir.CreateAdd(ir.CreateMul(n, i64(b, s.inChannels)), ir.CreateMul(g, i64(b, s.groupIn))),
                         i64(b, positions)),
            p0);
        spec.b.kind = OperandB::Kind::Rows;
        spec.b.base = b.elementPtr(ir::DType::Float32, c.inputs[0], xOffset);
        spec.b.kStride = positions;
        spec.c = col;
        spec.ldc = count;
        spec.name = "convT";
        gemm::emitGemm(b, spec);
        // col2im: channel items are independent (each writes its own output plane).
        llvm::Value *yGroup = b.elementPtr(
            ir::DType::Float32, c.outputs[0],
            ir.CreateMul(ir.CreateAdd(ir.CreateMul(n, i64(b, s.outChannels)), ir.CreateMul(g, i64(b, s.groupOut))),
                         i64(b, w.outSize())));
        b.parallelLoop(s.groupOut, {yGroup, p0}, [&](llvm::Value *oc, const std::vector<llvm::Value *> &cap) {
          llvm::Value *yPlane = b.elementPtr(ir::DType::Float32, cap[0], ir.CreateMul(oc, i64(b, w.outSize())));
          b.loopNest({w.kernel[0], w.kernel[1], w.kernel[2]}, [&](const std::vector<llvm::Value *> &k) {
            llvm::Value *row = ir.CreateAdd(ir.CreateMul(oc, i64(b, kernelSize)),
                                            b.linearIndex(k, {w.kernel[1] * w.kernel[2], w.kernel[2], 1}));
            b.loop(count, [&](llvm::Value *p) {
              llvm::Value *position = ir.CreateAdd(cap[1], p);
              std::vector<llvm::Value *> in{ir.CreateUDiv(position, i64(b, w.in[1] * w.in[2])),
                                            ir.CreateURem(ir.CreateUDiv(position, i64(b, w.in[2])), i64(b, w.in[1])),
                                            ir.CreateURem(position, i64(b, w.in[2]))};
              std::vector<llvm::Value *> out;
              llvm::Value *valid = ir.getTrue();
              for (size_t d = 0; d < 3; ++d) {
                llvm::Value *o = ir.CreateAdd(ir.CreateSub(ir.CreateMul(in[d], i64(b, w.stride[d])), i64(b, w.padBegin[d])),
                                              ir.CreateMul(k[d], i64(b, w.dilation[d])));
                valid = ir.CreateAnd(valid, ir.CreateICmpULT(o, i64(b, w.out[d])));
                out.push_back(o);
              }
              gemm::emitIf(b, valid, [&] {
                llvm::Value *yi = b.linearIndex(out, {w.out[1] * w.out[2], w.out[2], 1});
                llvm::Value *v = b.load(ir::DType::Float32, col, ir.CreateAdd(ir.CreateMul(row, i64(b, count)), p));
                b.store(ir::DType::Float32, ir.CreateFAdd(b.load(ir::DType::Float32, yPlane, yi), v), yPlane, yi);
              });
            }, "p");
          });
        }, "col2im");
      };
      const int64_t fullTiles = positions / tile;
      if (fullTiles > 0)
        b.loop(fullTiles, [&](llvm::Value *t) { tileProduct(ir.CreateMul(t, i64(b, tile)), tile); }, "tile");
      if (positions % tile != 0) tileProduct(i64(b, fullTiles * tile), positions % tile);
    }, "g");
  }, "n");
}

Status emitConvTranspose(KernelContext &c) {
  const ir::Shape &x = c.inputType(0).shape;
  const ir::Shape &wShape = c.inputType(1).shape;
  FLUIDML_ASSIGN_OR_RETURN(ops::Window w, ops::convTransposeWindow(c.node, x, wShape));
  for (size_t i = 0; i < w.spatialRank; ++i)
    if (w.out[ops::kMaxSpatialRank - w.spatialRank + i] != c.outputType(0).shape[2 + i])
      return Status::internal("ConvTranspose geometry disagrees with the inferred output shape");
  ConvShape s;
  s.batch = x[0];
  s.inChannels = x[1];
  s.group = c.node.intAttr("group", 1);
  s.groupIn = s.inChannels / s.group;
  s.groupOut = wShape[1];
  s.outChannels = s.groupOut * s.group;
  if (c.outputType(0).numel() == 0) return Status::ok();
  const bool scalar = c.outputType(0).dtype != ir::DType::Float32 || c.inputType(0).numel() == 0;
  c.strategy = scalar ? "scalar" : "gemm-col2im";
  if (scalar)
    emitConvTransposeScalar(c, w, s);
  else
    emitConvTransposeGemm(c, w, s);
  return Status::ok();
}

}  // namespace

void registerConvLowerings(LoweringTable &table) {
  table.add("Conv", emitConv);
  table.declareLayouts("", "Conv", LayoutSupport::Blocked, checkBlockedConvLayouts);
  table.add("ConvTranspose", emitConvTranspose);
}

}  // namespace fluidml::codegen::linalg
