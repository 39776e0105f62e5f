// Conv and fluidml.FusedConv writing a channel-blocked output (NCHW[B]c, B lanes of output channels per vector).
//
// Direct convolution, no im2col (the NCHWc kernels of oneDNN and ORT's MLAS work this way): a register tile of
// OCR output-channel blocks x RW output positions of one row stays in vector registers while, for every input
// channel, kernel row and kernel column, OCR weight vectors (B output channels each) meet RW broadcast input
// values in OCR x RW FMAs. Weights are packed at compile time into [Cout/B][Cin/B][KH][KW][B in][B out]
// (OIHW[B]i[B]o, zero lanes past the channel counts): one derived copy, read with plain vector loads.
//  - The input is NCHW[B]c (same B) or row-major NCHW: the first conv of a network reads the model's NCHW
//    image and writes blocked, so no conversion precedes it.
//  - Input channels are visited in chunks whose weights stay in L1; the tile's sums go to the output between
//    chunks; bias and the fused steps (Add of a blocked residual or a per-channel operand, activations) are
//    applied in registers when the last chunk ends, and the padding lanes of the last block are stored as zero.
//  - Border tiles (those whose taps reach the padding) are generated per tile with their invalid taps left out
//    at compile time; interior tiles run in a loop without any check.
//  - 1x1 stride-1 unpadded convs see the plane as one row of H x W positions.
//  - Depthwise convs (one input channel per group, multiplier 1) multiply B channels at a time: vector loads
//    of the input and the weights [C/B][KH][KW][B], no broadcast.
// Work items: (image, group of OCR channel blocks, chunk of output rows), parallel. O(N x Cout x Cin/g x kernel x
// positions), padded to whole channel blocks.
#include <algorithm>
#include <array>

#include "core/codegen/gemm_kernel.h"
#include "core/codegen/lower_linalg_internal.h"
#include "core/ops/window_geometry.h"

#include <llvm/IR/Intrinsics.h>

namespace fluidml::codegen::linalg {

namespace {

int64_t ceilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

/// Everything the kernel's shape decides at compile time.
struct BlockedConvPlan {
  int64_t block = 16;         // B: channel lanes per block (input and output)
  bool inputBlocked = true;   // input NCHW[B]c (else row-major NCHW)
  bool depthwise = false;
  int64_t batch = 1, inChannels = 0, outChannels = 0;
  int64_t inBlocks = 0, outBlocks = 0;
  int64_t fullInBlocks = 0;   // input blocks with all B lanes present in memory (row-major input: Cin / B)
  int64_t tailLanes = 0;      // row-major input: channels of the last, partial block (0 when none)
  // Geometry as one 2-D window; `flat` views a 1x1 stride-1 unpadded conv's plane as one row of H * W.
  bool flat = false;
  int64_t inH = 1, inW = 1, outH = 1, outW = 1;
  int64_t kh = 1, kw = 1, sh = 1, sw = 1, dh = 1, dw = 1, padH = 0, padW = 0;
  // Register tile and blocking.
  int64_t ocr = 1, rw = 1;  // channel blocks x positions kept in registers
  int64_t chunkBlocks = 1;  // input blocks per pass over a tile (their weights stay in L2)
  int64_t rowsPerTask = 1, rowTasks = 1, channelGroups = 1;
  // Element strides of the input: image, block, row, position, lane.
  int64_t xN = 0, xBlock = 0, xRow = 0, xPos = 0, xLane = 1;
};

/// The register tile: OCR x RW accumulators, plus the OCR weight vectors and one broadcast live in the inner
/// loop, within the vector registers (one more accumulator spills: 4 x 7 on 32 registers measured 25% slower
/// than 4 x 6); among those, the fewest FMAs issued per useful FMA (tiles past the row or the channels are
/// waste) plus the loads that feed them.
void chooseTile(BlockedConvPlan &p, const target::TargetDescription &t) {
  const int64_t registersPerVector = std::max<int64_t>(1, ceilDiv(p.block, t.floatLanes()));
  const int64_t registers = t.vectorRegisters / registersPerVector;
  const int64_t maxOcr = p.depthwise ? 1 : std::min<int64_t>(4, p.outBlocks);
  double best = 1e300;
  for (int64_t ocr = 1; ocr <= maxOcr; ++ocr)
    for (int64_t rw = 1; rw <= p.outW && ocr * (rw + 1) + 1 <= registers; ++rw) {
      const double waste = static_cast<double>(ceilDiv(p.outW, rw) * rw) / static_cast<double>(p.outW) *
                           static_cast<double>(ceilDiv(p.outBlocks, ocr) * ocr) / static_cast<double>(p.outBlocks);
      const double perFma = (static_cast<double>(ocr * rw) + 0.5 * static_cast<double>(ocr + rw)) /
                            static_cast<double>(ocr * rw);
      const double cost = waste * perFma;
      if (cost < best - 1e-9) {
        best = cost;
        p.ocr = ocr;
        p.rw = rw;
      }
    }
}

/// Work split and input chunks. A tile reuses each weight vector for only RW positions, so the weights of one
/// chunk (for the OCR channel blocks of a work item) must stay in L1 while every tile of the item's rows passes
/// over them: chunks of as many input blocks as fit 3/4 of L1 (at least one), the partial sums going through
/// the output between chunks. Rows are split so that there are a few items per thread.
void chooseBlocking(BlockedConvPlan &p, const target::TargetDescription &t) {
  const int64_t lanes = p.inputBlocked ? p.block : std::min(p.block, p.inChannels);
  const int64_t weightBytesPerBlock = p.depthwise ? 0 : p.ocr * p.kh * p.kw * lanes * p.block * 4;
  p.chunkBlocks = p.inBlocks;  // depthwise: one pass (each output block reads its own input block)
  const int64_t budget = static_cast<int64_t>(t.cache.l1d * 3 / 4);
  if (weightBytesPerBlock > 0)
    p.chunkBlocks = std::clamp<int64_t>(budget / weightBytesPerBlock, 1, p.inBlocks);
  p.channelGroups = ceilDiv(p.outBlocks, p.ocr);
  const int64_t rows = p.flat ? ceilDiv(p.outW, p.rw) : p.outH;
  const int64_t wanted = t.threads > 1 ? 4 * t.threads : 1;
  p.rowTasks = std::clamp<int64_t>(ceilDiv(wanted, p.batch * p.channelGroups), 1, rows);
  p.rowsPerTask = ceilDiv(rows, p.rowTasks);
  p.rowTasks = ceilDiv(rows, p.rowsPerTask);
}

/// Whether the window is 2-D (rank-4 tensors), which is all the blocked kernels cover.
bool twoDimensional(const ir::Graph &graph, const ir::Node &node) {
  return graph.value(node.inputs[0]).type.rank() == 4 && graph.value(node.outputs[0]).type.rank() == 4;
}

// ---- the kernel -----------------------------------------------------------------------------------------------

class BlockedConvEmitter {
 public:
  BlockedConvEmitter(KernelContext &c, const BlockedConvPlan &p) : c_(c), b_(c.b), ir_(c.b.ir()), p_(p) {
    vecTy_ = llvm::FixedVectorType::get(ir_.getFloatTy(), static_cast<unsigned>(p.block));
  }

  void emit(llvm::Value *packedWeights) {
    std::vector<llvm::Value *> captures{c_.inputs[0], packedWeights, c_.outputs[0]};
    biasIndex_ = c_.hasInput(2) ? static_cast<int>(captures.size()) : -1;
    if (c_.hasInput(2)) captures.push_back(c_.inputs[2]);
    if (c_.epilogue != nullptr)
      for (llvm::Value *operand : c_.epilogue->operands) {
        operandIndex_.push_back(operand != nullptr ? static_cast<int>(captures.size()) : -1);
        if (operand != nullptr) captures.push_back(operand);
      }
    const int64_t items = p_.batch * p_.channelGroups * p_.rowTasks;
    b_.parallelLoop(items, captures, [&](llvm::Value *item, const std::vector<llvm::Value *> &cap) {
      cap_ = cap;
      llvm::Value *n = ir_.CreateUDiv(item, b_.i64(p_.channelGroups * p_.rowTasks));
      llvm::Value *rest = ir_.CreateURem(item, b_.i64(p_.channelGroups * p_.rowTasks));
      llvm::Value *group = ir_.CreateUDiv(rest, b_.i64(p_.rowTasks));
      llvm::Value *rowTask = ir_.CreateURem(rest, b_.i64(p_.rowTasks));
      const int64_t rows = p_.flat ? ceilDiv(p_.outW, p_.rw) : p_.outH;
      llvm::Value *rowBegin = ir_.CreateMul(rowTask, b_.i64(p_.rowsPerTask));
      llvm::Value *rowEnd = gemm::minI64(b_, ir_.CreateAdd(rowBegin, b_.i64(p_.rowsPerTask)), b_.i64(rows));
      llvm::Value *ocb0 = ir_.CreateMul(group, b_.i64(p_.ocr));
      const int64_t lastOcr = p_.outBlocks - (p_.channelGroups - 1) * p_.ocr;
      auto forGroup = [&](int64_t ocr) {
        const int64_t chunks = ceilDiv(p_.inBlocks, p_.chunkBlocks);
        b_.loop(chunks, [&](llvm::Value *chunk) {
          llvm::Value *icbBegin = ir_.CreateMul(chunk, b_.i64(p_.chunkBlocks));
          llvm::Value *icbEnd = gemm::minI64(b_, ir_.CreateAdd(icbBegin, b_.i64(p_.chunkBlocks)), b_.i64(p_.inBlocks));
          Pass pass{n, ocb0, ocr, icbBegin, icbEnd, ir_.CreateICmpEQ(chunk, b_.i64(0)),
                    ir_.CreateICmpEQ(chunk, b_.i64(chunks - 1)), chunks == 1};
          gemm::plainLoop(b_, rowBegin, rowEnd, [&](llvm::Value *row) { emitRow(pass, row); });
        }, "chunk");
      };
      if (lastOcr == p_.ocr) {
        forGroup(p_.ocr);
      } else {
        gemm::emitIfElse(b_, ir_.CreateICmpEQ(group, b_.i64(p_.channelGroups - 1)), [&] { forGroup(lastOcr); },
                         [&] { forGroup(p_.ocr); });
      }
    }, "conv.nchwc");
    if (c_.epilogue != nullptr) c_.epilogueApplied = true;
  }

 private:
  /// One pass of a chunk of input blocks over the tiles of some rows.
  struct Pass {
    llvm::Value *n, *ocb0;
    int64_t ocr;
    llvm::Value *icbBegin, *icbEnd;
    llvm::Value *first, *last;  // i1: the chunk starts the sums / finishes them
    bool single;                // one chunk: first and last are both true
  };

  /// A tile's taps: for each position and kernel column, whether the input column lies inside the row.
  using TapMask = std::vector<std::vector<bool>>;  // [position][kernel column]; empty = all valid

  void emitRow(const Pass &pass, llvm::Value *row) {
    if (p_.flat) {
      // Row r of the flattened plane is the tile of positions [r * RW, r * RW + RW).
      llvm::Value *ow0 = ir_.CreateMul(row, b_.i64(p_.rw));
      const int64_t tail = p_.outW % p_.rw;
      if (tail == 0) {
        emitTile(pass, b_.i64(0), ow0, p_.rw, {});
      } else {
        gemm::emitIfElse(b_, ir_.CreateICmpEQ(row, b_.i64(p_.outW / p_.rw)), [&] { emitTile(pass, b_.i64(0), ow0, tail, {}); },
                         [&] { emitTile(pass, b_.i64(0), ow0, p_.rw, {}); });
      }
      return;
    }
    // Tiles along the row: those touching the padding get their own code, a run of interior ones a loop.
    const int64_t tiles = ceilDiv(p_.outW, p_.rw);
    auto interior = [&](int64_t t) {
      const int64_t first = t * p_.rw, last = std::min(p_.outW, first + p_.rw) - 1;
      return first * p_.sw - p_.padW >= 0 && last * p_.sw - p_.padW + (p_.kw - 1) * p_.dw < p_.inW &&
             last - first + 1 == p_.rw;
    };
    int64_t t = 0;
    while (t < tiles) {
      if (interior(t)) {
        int64_t end = t;
        while (end < tiles && interior(end)) ++end;
        const int64_t begin = t;
        gemm::plainLoop(b_, b_.i64(begin), b_.i64(end), [&](llvm::Value *tile) {
          emitTile(pass, row, ir_.CreateMul(tile, b_.i64(p_.rw)), p_.rw, {});
        });
        t = end;
        continue;
      }
      const int64_t ow0 = t * p_.rw, count = std::min(p_.rw, p_.outW - ow0);
      TapMask mask(static_cast<size_t>(count), std::vector<bool>(static_cast<size_t>(p_.kw)));
      for (int64_t q = 0; q < count; ++q)
        for (int64_t k = 0; k < p_.kw; ++k) {
          const int64_t iw = (ow0 + q) * p_.sw - p_.padW + k * p_.dw;
          mask[static_cast<size_t>(q)][static_cast<size_t>(k)] = iw >= 0 && iw < p_.inW;
        }
      emitTile(pass, row, b_.i64(ow0), count, mask);
      ++t;
    }
  }

  llvm::Value *splat(llvm::Value *scalar) { return ir_.CreateVectorSplat(static_cast<unsigned>(p_.block), scalar); }
  llvm::Value *zeroVector() { return llvm::ConstantAggregateZero::get(vecTy_); }

  /// Lanes l < limit (i64) set: the channels of block `ocb` that exist.
  llvm::Value *channelMask(llvm::Value *ocb) {
    std::vector<llvm::Constant *> lanes;
    for (int64_t l = 0; l < p_.block; ++l) lanes.push_back(llvm::ConstantInt::get(ir_.getInt64Ty(), l));
    llvm::Value *limit = ir_.CreateSub(b_.i64(p_.outChannels), ir_.CreateMul(ocb, b_.i64(p_.block)));
    return ir_.CreateICmpSLT(llvm::ConstantVector::get(lanes), splat(limit));
  }
  bool channelsPadded() const { return p_.outChannels % p_.block != 0; }

  /// B values of a per-channel vector (bias, per-channel operand) for channel block `ocb`.
  llvm::Value *loadChannels(llvm::Value *base, llvm::Value *ocb) {
    llvm::Value *ptr = b_.elementPtr(ir::DType::Float32, base, ir_.CreateMul(ocb, b_.i64(p_.block)));
    if (!channelsPadded()) return ir_.CreateAlignedLoad(vecTy_, ptr, llvm::Align(4));
    return ir_.CreateMaskedLoad(vecTy_, ptr, llvm::Align(4), channelMask(ocb), zeroVector());
  }

  /// Offset of output element (n, block, row, position, lane 0).
  llvm::Value *outputOffset(llvm::Value *n, llvm::Value *ocb, llvm::Value *row, llvm::Value *ow) {
    const int64_t plane = p_.flat ? p_.outW : p_.outH * p_.outW;
    llvm::Value *blockIndex = ir_.CreateAdd(ir_.CreateMul(n, b_.i64(p_.outBlocks)), ocb);
    llvm::Value *position = ir_.CreateAdd(ir_.CreateMul(row, b_.i64(p_.outW)), ow);
    return ir_.CreateMul(ir_.CreateAdd(ir_.CreateMul(blockIndex, b_.i64(plane)), position), b_.i64(p_.block));
  }

  void emitTile(const Pass &pass, llvm::Value *row, llvm::Value *ow0, int64_t count, const TapMask &mask) {
    const int64_t ocr = pass.ocr;
    llvm::AllocaInst *acc = gemm::entryAlloca(b_, vecTy_, ocr * count, 64, "acc");
    auto accAt = [&](int64_t o, int64_t q) {
      return ir_.CreateConstInBoundsGEP1_64(vecTy_, acc, static_cast<uint64_t>(o * count + q));
    };
    auto yAt = [&](int64_t o, int64_t q) {
      llvm::Value *ocb = ir_.CreateAdd(pass.ocb0, b_.i64(o));
      return b_.elementPtr(ir::DType::Float32, cap_[2],
                           outputOffset(pass.n, ocb, row, ir_.CreateAdd(ow0, b_.i64(q))));
    };
    // Start: bias (or zero) on the first chunk, the stored partial sums on later ones.
    auto start = [&] {
      for (int64_t o = 0; o < ocr; ++o) {
        llvm::Value *init = biasIndex_ >= 0 ? loadChannels(cap_[static_cast<size_t>(biasIndex_)],
                                                           ir_.CreateAdd(pass.ocb0, b_.i64(o)))
                                            : zeroVector();
        for (int64_t q = 0; q < count; ++q) ir_.CreateAlignedStore(init, accAt(o, q), llvm::Align(64));
      }
    };
    auto resume = [&] {
      for (int64_t o = 0; o < ocr; ++o)
        for (int64_t q = 0; q < count; ++q)
          ir_.CreateAlignedStore(ir_.CreateAlignedLoad(vecTy_, yAt(o, q), llvm::Align(4)), accAt(o, q), llvm::Align(64));
    };
    if (pass.single)
      start();
    else
      gemm::emitIfElse(b_, pass.first, start, resume);

    // Valid kernel rows of this output row.
    llvm::Value *ihBase = ir_.CreateSub(ir_.CreateMul(row, b_.i64(p_.sh)), b_.i64(p_.padH));
    auto [khLo, khHi] = p_.flat ? std::pair<llvm::Value *, llvm::Value *>{b_.i64(0), b_.i64(1)}
                                : validTaps(b_, ihBase, p_.inH, p_.kh, p_.dh);
    llvm::Value *iwBase = ir_.CreateSub(ir_.CreateMul(ow0, b_.i64(p_.sw)), b_.i64(p_.padW));
    auto accumulate = [&](llvm::Value *icbFrom, llvm::Value *icbTo, int64_t lanes) {
      gemm::plainLoop(b_, icbFrom, icbTo, [&](llvm::Value *icb) {
        gemm::plainLoop(b_, khLo, khHi, [&](llvm::Value *khIndex) {
          llvm::Value *ih = ir_.CreateAdd(ihBase, ir_.CreateMul(khIndex, b_.i64(p_.dh)));
          llvm::Value *xRowBase = ir_.CreateAdd(
              ir_.CreateAdd(ir_.CreateMul(pass.n, b_.i64(p_.xN)), ir_.CreateMul(icb, b_.i64(p_.xBlock))),
              ir_.CreateMul(ih, b_.i64(p_.xRow)));
          auto taps = [&](llvm::Value *kwIndex, int64_t staticKw) {
            llvm::Value *iw0 = ir_.CreateAdd(iwBase, ir_.CreateMul(kwIndex, b_.i64(p_.dw)));
            llvm::Value *xBase = ir_.CreateAdd(xRowBase, ir_.CreateMul(iw0, b_.i64(p_.xPos)));
            if (p_.depthwise) {
              emitDepthwiseTaps(acc, count, mask, staticKw, icb, khIndex, kwIndex, xBase);
              return;
            }
            emitTaps(pass, acc, count, mask, staticKw, lanes, icb, khIndex, kwIndex, xBase);
          };
          if (mask.empty()) {
            gemm::plainLoop(b_, b_.i64(0), b_.i64(p_.kw), [&](llvm::Value *kwIndex) { taps(kwIndex, -1); });
          } else {
            for (int64_t k = 0; k < p_.kw; ++k) taps(b_.i64(k), k);
          }
        });
      });
    };
    if (p_.depthwise) {
      // The one input block of the output block.
      accumulate(pass.ocb0, ir_.CreateAdd(pass.ocb0, b_.i64(1)), p_.block);
    } else if (p_.tailLanes == 0) {
      accumulate(pass.icbBegin, pass.icbEnd, p_.block);
    } else {
      accumulate(pass.icbBegin, gemm::minI64(b_, pass.icbEnd, b_.i64(p_.fullInBlocks)), p_.block);
      gemm::emitIf(b_, ir_.CreateICmpSGT(pass.icbEnd, b_.i64(p_.fullInBlocks)), [&] {
        accumulate(b_.i64(p_.fullInBlocks), b_.i64(p_.fullInBlocks + 1), p_.tailLanes);
      });
    }

    // Store: partial sums, or (last chunk) with the fused steps applied and the padding lanes zeroed.
    auto finish = [&] {
      for (int64_t o = 0; o < ocr; ++o) {
        llvm::Value *ocb = ir_.CreateAdd(pass.ocb0, b_.i64(o));
        llvm::Value *valid = channelsPadded() ? channelMask(ocb) : nullptr;
        for (int64_t q = 0; q < count; ++q) {
          llvm::Value *v = ir_.CreateAlignedLoad(vecTy_, accAt(o, q), llvm::Align(64));
          if (c_.epilogue != nullptr) {
            llvm::Value *offset = outputOffset(pass.n, ocb, row, ir_.CreateAdd(ow0, b_.i64(q)));
            v = applySteps(v, ocb, offset);
          }
          if (valid != nullptr) v = ir_.CreateSelect(valid, v, zeroVector());
          ir_.CreateAlignedStore(v, yAt(o, q), llvm::Align(4));
        }
      }
    };
    auto keep = [&] {
      for (int64_t o = 0; o < ocr; ++o)
        for (int64_t q = 0; q < count; ++q)
          ir_.CreateAlignedStore(ir_.CreateAlignedLoad(vecTy_, accAt(o, q), llvm::Align(64)), yAt(o, q), llvm::Align(4));
    };
    if (pass.single)
      finish();
    else
      gemm::emitIfElse(b_, pass.last, finish, keep);
  }

  /// The fused steps on one output vector; Add operands are read at the output's offset (a Full operand has
  /// the output's layout) or as the block's channels (a PerChannel one).
  llvm::Value *applySteps(llvm::Value *v, llvm::Value *ocb, llvm::Value *offset) {
    const FusedEpilogue &e = *c_.epilogue;
    return applyStepsTo(e.steps, v, [&](size_t step) -> llvm::Value * {
      llvm::Value *base = cap_[static_cast<size_t>(operandIndex_[step])];
      if (e.steps[step].broadcast == ops::OperandBroadcast::PerChannel) return loadChannels(base, ocb);
      return ir_.CreateAlignedLoad(vecTy_, b_.elementPtr(ir::DType::Float32, base, offset), llvm::Align(4));
    });
  }

  /// gemm::applyFusedSteps works on the target's float vectors; B may differ from it, so the steps run on
  /// B-lane vectors in pieces of the target's width (or as one when they agree).
  llvm::Value *applyStepsTo(const std::vector<ops::EpilogueStep> &steps, llvm::Value *v,
                            const std::function<llvm::Value *(size_t)> &operand) {
    const int64_t lanes = gemm::floatLanes(b_);
    if (lanes == p_.block) return gemm::applyFusedSteps(b_, steps, v, operand);
    // Pieces of `lanes` (or the whole B when smaller than a target vector, padded with zeros).
    std::vector<llvm::Value *> operands(steps.size(), nullptr);
    for (size_t s = 0; s < steps.size(); ++s)
      if (steps[s].kind == ops::EpilogueKind::Add) operands[s] = operand(s);
    auto lanesOf = [&](llvm::Value *x, int64_t from, int64_t width) {
      llvm::SmallVector<int, 16> indices;
      for (int64_t l = 0; l < width; ++l) indices.push_back(from + l < p_.block ? static_cast<int>(from + l) : p_.block);
      return ir_.CreateShuffleVector(x, zeroVector(), indices);
    };
    std::vector<llvm::Value *> pieces;
    for (int64_t from = 0; from < p_.block; from += lanes) {
      llvm::Value *piece = gemm::applyFusedSteps(b_, steps, lanesOf(v, from, lanes),
                                                 [&](size_t s) { return lanesOf(operands[s], from, lanes); });
      pieces.push_back(piece);
    }
    // Back to B lanes.
    llvm::Value *result = zeroVector();
    for (size_t i = 0; i < pieces.size(); ++i)
      for (int64_t l = 0; l < lanes && static_cast<int64_t>(i) * lanes + l < p_.block; ++l)
        result = ir_.CreateInsertElement(result, ir_.CreateExtractElement(pieces[i], b_.i64(l)),
                                         b_.i64(static_cast<int64_t>(i) * lanes + l));
    return result;
  }

  /// One (input block, kernel row, kernel column): for every input lane, OCR weight vectors times RW broadcast
  /// inputs. `staticKw` >= 0 on border tiles, whose invalid taps (mask) are skipped.
  void emitTaps(const Pass &pass, llvm::AllocaInst *acc, int64_t count, const TapMask &mask, int64_t staticKw,
                int64_t lanes, llvm::Value *icb, llvm::Value *khIndex, llvm::Value *kwIndex, llvm::Value *xBase) {
    const int64_t ocr = pass.ocr;
    const int64_t blockWeights = p_.block * p_.block;
    const int64_t perOutBlock = p_.inBlocks * p_.kh * p_.kw * blockWeights;
    llvm::Value *tap = ir_.CreateAdd(ir_.CreateMul(ir_.CreateAdd(ir_.CreateMul(icb, b_.i64(p_.kh)), khIndex), b_.i64(p_.kw)), kwIndex);
    llvm::Value *wBase = ir_.CreateAdd(ir_.CreateMul(pass.ocb0, b_.i64(perOutBlock)), ir_.CreateMul(tap, b_.i64(blockWeights)));
    // A loop over the input lanes, not an unrolled sequence: unrolled, the scheduler hoists the weight loads and
    // broadcasts of every lane and spills the accumulators.
    gemm::plainLoop(b_, b_.i64(0), b_.i64(lanes), [&](llvm::Value *lane) {
      std::vector<llvm::Value *> sums(static_cast<size_t>(ocr * count));
      for (int64_t i = 0; i < ocr * count; ++i)
        sums[static_cast<size_t>(i)] = ir_.CreateAlignedLoad(
            vecTy_, ir_.CreateConstInBoundsGEP1_64(vecTy_, acc, static_cast<uint64_t>(i)), llvm::Align(64));
      llvm::Value *wLane = ir_.CreateAdd(wBase, ir_.CreateMul(lane, b_.i64(p_.block)));
      llvm::Value *xLane = ir_.CreateAdd(xBase, ir_.CreateMul(lane, b_.i64(p_.xLane)));
      std::vector<llvm::Value *> weights;
      for (int64_t o = 0; o < ocr; ++o)
        weights.push_back(ir_.CreateAlignedLoad(
            vecTy_, b_.elementPtr(ir::DType::Float32, cap_[1], ir_.CreateAdd(wLane, b_.i64(o * perOutBlock))),
            llvm::Align(4)));
      for (int64_t q = 0; q < count; ++q) {
        if (staticKw >= 0 && !mask[static_cast<size_t>(q)][static_cast<size_t>(staticKw)]) continue;
        llvm::Value *x = b_.load(ir::DType::Float32, cap_[0], ir_.CreateAdd(xLane, b_.i64(q * p_.sw * p_.xPos)));
        llvm::Value *xs = splat(x);
        for (int64_t o = 0; o < ocr; ++o) {
          llvm::Value *&sum = sums[static_cast<size_t>(o * count + q)];
          sum = ir_.CreateIntrinsic(llvm::Intrinsic::fmuladd, {vecTy_}, {xs, weights[static_cast<size_t>(o)], sum});
        }
      }
      for (int64_t i = 0; i < ocr * count; ++i)
        ir_.CreateAlignedStore(sums[static_cast<size_t>(i)],
                               ir_.CreateConstInBoundsGEP1_64(vecTy_, acc, static_cast<uint64_t>(i)), llvm::Align(64));
    });
  }

  /// Depthwise: the input block's B channels times the tap's B weights, one vector FMA per position.
  void emitDepthwiseTaps(llvm::AllocaInst *acc, int64_t count, const TapMask &mask, int64_t staticKw, llvm::Value *icb,
                         llvm::Value *khIndex, llvm::Value *kwIndex, llvm::Value *xBase) {
    llvm::Value *tap = ir_.CreateAdd(ir_.CreateMul(ir_.CreateAdd(ir_.CreateMul(icb, b_.i64(p_.kh)), khIndex), b_.i64(p_.kw)), kwIndex);
    llvm::Value *weights = ir_.CreateAlignedLoad(
        vecTy_, b_.elementPtr(ir::DType::Float32, cap_[1], ir_.CreateMul(tap, b_.i64(p_.block))), llvm::Align(4));
    for (int64_t q = 0; q < count; ++q) {
      if (staticKw >= 0 && !mask[static_cast<size_t>(q)][static_cast<size_t>(staticKw)]) continue;
      llvm::Value *x = ir_.CreateAlignedLoad(
          vecTy_, b_.elementPtr(ir::DType::Float32, cap_[0], ir_.CreateAdd(xBase, b_.i64(q * p_.sw * p_.xPos))),
          llvm::Align(4));
      llvm::Value *slot = ir_.CreateConstInBoundsGEP1_64(vecTy_, acc, static_cast<uint64_t>(q));
      llvm::Value *sum = ir_.CreateAlignedLoad(vecTy_, slot, llvm::Align(64));
      ir_.CreateAlignedStore(ir_.CreateIntrinsic(llvm::Intrinsic::fmuladd, {vecTy_}, {x, weights, sum}), slot,
                             llvm::Align(64));
    }
  }

  KernelContext &c_;
  KernelBuilder &b_;
  llvm::IRBuilder<> &ir_;
  const BlockedConvPlan &p_;
  llvm::FixedVectorType *vecTy_ = nullptr;
  std::vector<llvm::Value *> cap_;
  int biasIndex_ = -1;
  std::vector<int> operandIndex_;  // by epilogue step: capture index of its operand, -1 for none
};

/// The packed weights: [Cout/B][Cin/B][KH][KW][B in][B out] (depthwise: [C/B][KH][KW][B]), zero past the
/// channel counts.
llvm::Value *packWeights(KernelContext &c, const BlockedConvPlan &p) {
  const ir::Tensor &w = *c.constantInput(1);
  const std::string name = "packNCHWc." + constantKey(c, 1) + ".b" + std::to_string(p.block) + (p.depthwise ? ".dw" : "");
  return c.b.derivedWeight(name, [&] {
    const float *from = w.data<float>();
    const int64_t taps = p.kh * p.kw;
    if (p.depthwise) {
      ir::Tensor packed = ir::Tensor::zeros(ir::DType::Float32, {p.outBlocks * taps * p.block});
      float *to = packed.data<float>();
      for (int64_t ch = 0; ch < p.outChannels; ++ch)
        for (int64_t t = 0; t < taps; ++t) to[((ch / p.block) * taps + t) * p.block + ch % p.block] = from[ch * taps + t];
      return packed;
    }
    ir::Tensor packed = ir::Tensor::zeros(ir::DType::Float32, {p.outBlocks * p.inBlocks * taps * p.block * p.block});
    float *to = packed.data<float>();
    for (int64_t oc = 0; oc < p.outChannels; ++oc)
      for (int64_t ic = 0; ic < p.inChannels; ++ic)
        for (int64_t t = 0; t < taps; ++t) {
          const int64_t block = ((oc / p.block) * p.inBlocks + ic / p.block) * taps + t;
          to[(block * p.block + ic % p.block) * p.block + oc % p.block] = from[(oc * p.inChannels + ic) * taps + t];
        }
    return packed;
  });
}

}  // namespace

Status checkBlockedConvLayouts(const ir::Graph &graph, const ir::Node &node) {
  const ir::TensorType &x = graph.value(node.inputs[0]).type;
  const ir::TensorType &y = graph.value(node.outputs[0]).type;
  if (x.layout.isRowMajor() && y.layout.isRowMajor()) {
    // Row-major convs: every operand row-major (the level check already refused anything else but blocked).
    for (ir::ValueId v : node.inputs)
      if (v != ir::kNoValue && !graph.value(v).type.layout.isRowMajor())
        return Status::internal("operand '" + graph.value(v).name + "' has layout " +
                                graph.value(v).type.layout.toString(graph.value(v).type.rank()) +
                                ", but a conv writing row-major reads row-major operands only");
    return Status::ok();
  }
  const int64_t block = y.layout.channelBlock(y.rank());
  auto refuse = [&](const std::string &why) {
    return Status::internal("the blocked conv kernel cannot run it: " + why + " (input " + x.layout.toString(x.rank()) +
                            ", output " + y.layout.toString(y.rank()) + ")");
  };
  if (block == 0) return refuse("the output must be row-major or NCHW[B]c");
  if (!twoDimensional(graph, node)) return refuse("only 2-D convolutions (rank-4 tensors) run blocked");
  if (y.dtype != ir::DType::Float32) return refuse("only float32 runs blocked");
  const int64_t inBlock = x.layout.channelBlock(x.rank());
  if (!x.layout.isRowMajor() && inBlock != block) return refuse("the input must be row-major or blocked like the output");
  const ir::Value &w = graph.value(node.inputs[1]);
  if (!w.isConstant()) return refuse("the weights must be a constant (they are packed at compile time)");
  const int64_t group = node.intAttr("group", 1);
  const int64_t inChannels = x.shape[1];
  if (group != 1 && !(group == inChannels && w.type.shape[0] == inChannels && inBlock == block))
    return refuse("grouped convs run blocked only when depthwise (one channel per group, blocked input)");
  for (size_t i = 2; i < node.inputs.size(); ++i) {
    const ir::ValueId v = node.inputs[i];
    if (v == ir::kNoValue) continue;
    const ir::TensorType &t = graph.value(v).type;
    const bool full = t.shape == y.shape;
    if (full ? !(t.layout == y.layout) : !t.layout.isRowMajor())
      return Status::internal("operand '" + graph.value(v).name + "' has layout " + t.layout.toString(t.rank()) +
                              "; a blocked conv reads a fused operand of its output's shape in its output's "
                              "layout and a bias or per-channel operand row-major");
  }
  return Status::ok();
}

bool emitBlockedConv(KernelContext &c, const ops::Window &w, int64_t group) {
  const ir::TensorType &xType = c.inputType(0);
  const ir::TensorType &yType = c.outputType(0);
  const int64_t block = yType.layout.channelBlock(yType.rank());
  if (block == 0) return false;
  BlockedConvPlan p;
  p.block = block;
  p.inputBlocked = xType.layout.channelBlock(xType.rank()) == block;
  p.batch = xType.shape[0];
  p.inChannels = xType.shape[1];
  p.outChannels = yType.shape[1];
  p.depthwise = group != 1;
  p.inBlocks = ceilDiv(p.inChannels, block);
  p.outBlocks = ceilDiv(p.outChannels, block);
  p.fullInBlocks = p.inputBlocked ? p.inBlocks : p.inChannels / block;
  p.tailLanes = p.inputBlocked ? 0 : p.inChannels % block;
  p.inH = w.in[1], p.inW = w.in[2], p.outH = w.out[1], p.outW = w.out[2];
  p.kh = w.kernel[1], p.kw = w.kernel[2];
  p.sh = w.stride[1], p.sw = w.stride[2];
  p.dh = w.dilation[1], p.dw = w.dilation[2];
  p.padH = w.padBegin[1], p.padW = w.padBegin[2];
  const int64_t plane = p.inH * p.inW;
  if (p.inputBlocked) {
    p.xLane = 1, p.xPos = block, p.xRow = p.inW * block, p.xBlock = plane * block, p.xN = p.inBlocks * plane * block;
  } else {
    p.xLane = plane, p.xPos = 1, p.xRow = p.inW, p.xBlock = block * plane, p.xN = p.inChannels * plane;
  }
  if (p.kh == 1 && p.kw == 1 && p.sh == 1 && p.sw == 1 && p.padH == 0 && p.padW == 0 && p.inH == p.outH &&
      p.inW == p.outW) {
    p.flat = true;
    p.outW = p.outH * p.outW;
    p.outH = 1;
    p.inW = p.outW;
    p.inH = 1;
  }
  chooseTile(p, c.b.target());
  chooseBlocking(p, c.b.target());
  c.strategy = p.depthwise ? "depthwise-nchwc" : p.inputBlocked ? "direct-nchwc" : "direct-nchw-to-nchwc";
  llvm::Value *packed = packWeights(c, p);
  BlockedConvEmitter(c, p).emit(packed);
  return true;
}

}  // namespace fluidml::codegen::linalg
