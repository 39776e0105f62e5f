// Pooling over channel-blocked layouts: MaxPool (values only), AveragePool, GlobalMaxPool and GlobalAveragePool
// in float32, with input and output both N x C x spatial in NC...[B]c of one block size B (NCHW16c, NCHW8c,
// NCW4c, NCDHW16c, ...). The B channels of a block are contiguous at every spatial position, so an output
// position is one vector of B floats and a window tap one plain vector load, whatever the stride or dilation: no
// masks, gathers or shuffles (the row-major sweep of lower_pool.cpp vectorizes along output columns instead).
//
// Windowed pools: the work items are output rows (image, channel block, output depth and row) on the thread
// pool; per row the valid kernel rows are computed once. Columns whose taps all lie inside the input (decided at
// compile time) run several positions at a time with one accumulator each (independent dependency chains, as
// many as the target's registers hold); border columns run one at a time over their valid taps only, so nothing
// outside the input is read. Average divisors come from per-row and per-column reciprocal tables made at compile
// time (count_include_pad, ceil_mode).
// Global pools: one item per (image, channel block), the same number of vector accumulators over the plane.
// Padding lanes (channels past C in the last block) read zeros and write zeros: sums and maxima of zeros are
// zero, and a lane mask clears the last block's padding lanes where a max window can be empty (-inf).
// O(N x ceil(C / B) x output positions x kernel) vector operations.
#include <algorithm>
#include <cassert>
#include <limits>

#include "core/codegen/lower_linalg_internal.h"

#include <llvm/IR/Constants.h>
#include <llvm/IR/GlobalVariable.h>

namespace fluidml::codegen::linalg {

namespace {

constexpr int64_t kUnrolledTaps = 8;     // kernel widths up to this are unrolled at compile time
constexpr int64_t kMaxAccumulators = 8;  // independent chains that keep 2 vector units busy at latency 4

int64_t ceilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

/// Accumulators kept in flight (interior output columns per step, partial sums of a global pool): a quarter of
/// the target's vector registers (the rest hold loaded taps), a block of B floats taking ceil(B / lanes) of them.
int64_t accumulatorCount(const KernelBuilder &b, int64_t block) {
  const int64_t registersPerBlock = ceilDiv(block, b.target().floatLanes());
  return std::clamp<int64_t>(b.target().vectorRegisters / (4 * registersPerBlock), 1, kMaxAccumulators);
}

/// 1 / count per entry, as a private constant table; 0 where no tap counts (the output is 0 there, as in the
/// row-major kernel).
llvm::Value *reciprocalTable(KernelBuilder &b, const std::vector<int64_t> &counts, const std::string &name) {
  std::vector<float> values;
  for (int64_t count : counts) values.push_back(count > 0 ? 1.0f / static_cast<float>(count) : 0.0f);
  llvm::Constant *data = llvm::ConstantDataArray::get(b.context(), llvm::ArrayRef<float>(values));
  auto *global = new llvm::GlobalVariable(b.module(), data->getType(), true, llvm::GlobalValue::PrivateLinkage, data, name);
  global->setAlignment(llvm::Align(64));
  return global;
}

/// The vector of one channel block and the operations the pools combine taps with.
struct BlockVectors {
  KernelBuilder &b;
  int64_t block;
  bool max;
  llvm::FixedVectorType *type;

  BlockVectors(KernelBuilder &builder, int64_t lanes, bool isMax)
      : b(builder), block(lanes), max(isMax),
        type(llvm::FixedVectorType::get(builder.ir().getFloatTy(), static_cast<unsigned>(lanes))) {}

  /// -inf for max (what the row-major kernel gives an empty window), 0 for sums.
  llvm::Value *identity() {
    return max ? b.ir().CreateVectorSplat(static_cast<unsigned>(block),
                                          llvm::ConstantFP::getInfinity(b.ir().getFloatTy(), true))
               : static_cast<llvm::Value *>(llvm::ConstantAggregateZero::get(type));
  }
  /// The block of B channels at element `offset` (i64) of `base`.
  llvm::Value *load(llvm::Value *base, llvm::Value *offset) {
    return b.ir().CreateAlignedLoad(type, b.elementPtr(ir::DType::Float32, base, offset), llvm::Align(4));
  }
  void store(llvm::Value *value, llvm::Value *base, llvm::Value *offset) {
    b.ir().CreateAlignedStore(value, b.elementPtr(ir::DType::Float32, base, offset), llvm::Align(4));
  }
  /// max keeps the row-major kernel's order-free rule (a NaN tap is never taken); sums add.
  llvm::Value *combine(llvm::Value *acc, llvm::Value *x) {
    llvm::IRBuilder<> &ir = b.ir();
    return max ? ir.CreateSelect(ir.CreateFCmpOGT(x, acc), x, acc) : ir.CreateFAdd(acc, x);
  }
  void combineInto(llvm::AllocaInst *slot, llvm::Value *x) {
    b.ir().CreateStore(combine(b.ir().CreateLoad(type, slot), x), slot);
  }
  /// Lanes l < valid (i64) set: the channels of a block that exist.
  llvm::Value *lanesBelow(llvm::Value *valid) {
    std::vector<llvm::Constant *> lanes;
    for (int64_t l = 0; l < block; ++l) lanes.push_back(llvm::ConstantInt::get(b.ir().getInt64Ty(), l));
    return b.ir().CreateICmpSLT(llvm::ConstantVector::get(lanes),
                                b.ir().CreateVectorSplat(static_cast<unsigned>(block), valid));
  }
};

void emitBlockedWindow(KernelContext &c, const ops::Window &w, bool isMax, int64_t block) {
  KernelBuilder &b = c.b;
  llvm::IRBuilder<> &ir = b.ir();
  BlockVectors v(b, block, isMax);
  const ir::Shape &x = c.inputType(0).shape;
  const int64_t channels = x[1];
  const int64_t channelBlocks = ceilDiv(channels, block);
  const int64_t rows = w.out[0] * w.out[1];
  const int64_t outRow = w.out[2];
  const int64_t sw = w.stride[2], dw = w.dilation[2], kw = w.kernel[2], pw = w.padBegin[2];

  // Columns ow with every tap inside the input: ow * sw >= pw and ow * sw - pw + (kw - 1) * dw <= in - 1.
  const int64_t interiorBegin = std::min(outRow, ceilDiv(pw, sw));
  const int64_t last = w.in[2] - 1 - (kw - 1) * dw + pw;
  const int64_t interiorEnd = last < 0 ? interiorBegin : std::clamp(last / sw + 1, interiorBegin, outRow);
  const int64_t columnTile = accumulatorCount(b, block);
  const int64_t tiles = (interiorEnd - interiorBegin) / columnTile;

  llvm::Value *rowScales = nullptr;
  llvm::Value *columnScales = nullptr;
  if (!isMax) {
    const bool includePad = c.node.intAttr("count_include_pad", 0) != 0;
    const std::vector<int64_t> d = poolTapCounts(w, 0, includePad), h = poolTapCounts(w, 1, includePad);
    std::vector<int64_t> rowCounts;
    for (int64_t cd : d)
      for (int64_t ch : h) rowCounts.push_back(cd * ch);
    rowScales = reciprocalTable(b, rowCounts, "fluidml.pool.blocked.rows");
    columnScales = reciprocalTable(b, poolTapCounts(w, 2, includePad), "fluidml.pool.blocked.columns");
  }
  // A max window that lies wholly in the padding is -inf; the last block's padding lanes must stay zero.
  const bool maskPadding = isMax && channels % block != 0;

  b.parallelLoop(x[0] * channelBlocks * rows, {c.inputs[0], c.outputs[0]},
                 [&](llvm::Value *item, const std::vector<llvm::Value *> &cap) {
    llvm::Value *plane = ir.CreateUDiv(item, b.i64(rows));
    llvm::Value *r = ir.CreateURem(item, b.i64(rows));
    llvm::Value *od = ir.CreateUDiv(r, b.i64(w.out[1]));
    llvm::Value *oh = ir.CreateURem(r, b.i64(w.out[1]));
    llvm::Value *idBase = ir.CreateSub(ir.CreateMul(od, b.i64(w.stride[0])), b.i64(w.padBegin[0]));
    llvm::Value *ihBase = ir.CreateSub(ir.CreateMul(oh, b.i64(w.stride[1])), b.i64(w.padBegin[1]));
    auto [kdLo, kdHi] = validTaps(b, idBase, w.in[0], w.kernel[0], w.dilation[0]);
    auto [khLo, khHi] = validTaps(b, ihBase, w.in[1], w.kernel[1], w.dilation[1]);
    llvm::Value *xPlane = b.elementPtr(ir::DType::Float32, cap[0], ir.CreateMul(plane, b.i64(w.inSize() * block)));
    llvm::Value *yRow = b.elementPtr(ir::DType::Float32, cap[1],
                                     ir.CreateMul(ir.CreateAdd(ir.CreateMul(plane, b.i64(rows)), r), b.i64(outRow * block)));
    llvm::Value *rowScale = rowScales ? b.load(ir::DType::Float32, rowScales, r) : nullptr;
    llvm::Value *laneMask = nullptr;
    if (maskPadding) {
      llvm::Value *channelBlock = ir.CreateURem(plane, b.i64(channelBlocks));
      laneMask = v.lanesBelow(ir.CreateSub(b.i64(channels), ir.CreateMul(channelBlock, b.i64(block))));
    }
    std::vector<llvm::AllocaInst *> acc;
    for (int64_t j = 0; j < columnTile; ++j) acc.push_back(gemm::entryAlloca(b, v.type, 1, 64, "acc"));

    // `count` output columns from ow0 (i64); interior columns read every tap, border ones only the valid ones.
    auto columns = [&](llvm::Value *ow0, int64_t count, bool interior) {
      llvm::Value *start0 = ir.CreateSub(ir.CreateMul(ow0, b.i64(sw)), b.i64(pw));
      for (int64_t j = 0; j < count; ++j) ir.CreateStore(v.identity(), acc[static_cast<size_t>(j)]);
      b.loop(kdLo, kdHi, 1, [&](llvm::Value *kd) {
        b.loop(khLo, khHi, 1, [&](llvm::Value *kh) {
          llvm::Value *id = ir.CreateAdd(idBase, ir.CreateMul(kd, b.i64(w.dilation[0])));
          llvm::Value *ih = ir.CreateAdd(ihBase, ir.CreateMul(kh, b.i64(w.dilation[1])));
          llvm::Value *xRow = b.elementPtr(
              ir::DType::Float32, xPlane,
              ir.CreateMul(ir.CreateAdd(ir.CreateMul(id, b.i64(w.in[1])), ih), b.i64(w.in[2] * block)));
          auto tap = [&](llvm::Value *k) {
            llvm::Value *start = ir.CreateAdd(start0, ir.CreateMul(k, b.i64(dw)));
            for (int64_t j = 0; j < count; ++j) {
              llvm::Value *column = ir.CreateAdd(start, b.i64(j * sw));
              v.combineInto(acc[static_cast<size_t>(j)], v.load(xRow, ir.CreateMul(column, b.i64(block))));
            }
          };
          if (!interior) {
            auto [kwLo, kwHi] = validTaps(b, start0, w.in[2], kw, dw);
            b.loop(kwLo, kwHi, 1, tap, "kw");
          } else if (kw <= kUnrolledTaps) {
            for (int64_t k = 0; k < kw; ++k) tap(b.i64(k));
          } else {
            b.loop(kw, tap, "kw");
          }
        }, "kh");
      }, "kd");
      for (int64_t j = 0; j < count; ++j) {
        llvm::Value *ow = ir.CreateAdd(ow0, b.i64(j));
        llvm::Value *result = ir.CreateLoad(v.type, acc[static_cast<size_t>(j)]);
        if (rowScale != nullptr) {
          llvm::Value *scale = ir.CreateFMul(rowScale, b.load(ir::DType::Float32, columnScales, ow));
          result = ir.CreateFMul(result, ir.CreateVectorSplat(static_cast<unsigned>(block), scale));
        }
        if (laneMask != nullptr) result = ir.CreateSelect(laneMask, result, llvm::ConstantAggregateZero::get(v.type));
        v.store(result, yRow, ir.CreateMul(ow, b.i64(block)));
      }
    };
    auto singles = [&](int64_t begin, int64_t end, bool interior) {
      if (begin < end) b.loop(b.i64(begin), b.i64(end), 1, [&](llvm::Value *ow) { columns(ow, 1, interior); }, "ow");
    };
    singles(0, interiorBegin, false);
    if (tiles > 0)
      b.loop(tiles, [&](llvm::Value *t) {
        columns(ir.CreateAdd(b.i64(interiorBegin), ir.CreateMul(t, b.i64(columnTile))), columnTile, true);
      }, "tile");
    singles(interiorBegin + tiles * columnTile, interiorEnd, true);
    singles(interiorEnd, outRow, false);
  }, "bpool");
}

void emitBlockedGlobal(KernelContext &c, bool isMax, int64_t block) {
  KernelBuilder &b = c.b;
  llvm::IRBuilder<> &ir = b.ir();
  BlockVectors v(b, block, isMax);
  const ir::Shape &x = c.inputType(0).shape;
  const int64_t planes = x[0] * ceilDiv(x[1], block);
  const int64_t size = c.inputType(0).numel() / (x[0] * x[1]);
  const int64_t accumulators = std::min(accumulatorCount(b, block), size);
  const int64_t groups = size / accumulators;
  b.parallelLoop(planes, {c.inputs[0], c.outputs[0]}, [&](llvm::Value *plane, const std::vector<llvm::Value *> &cap) {
    llvm::Value *xp = b.elementPtr(ir::DType::Float32, cap[0], ir.CreateMul(plane, b.i64(size * block)));
    std::vector<llvm::AllocaInst *> acc;
    for (int64_t q = 0; q < accumulators; ++q) {
      acc.push_back(gemm::entryAlloca(b, v.type, 1, 64, "acc"));
      ir.CreateStore(v.identity(), acc.back());
    }
    b.loop(groups, [&](llvm::Value *g) {
      llvm::Value *first = ir.CreateMul(g, b.i64(accumulators));
      for (int64_t q = 0; q < accumulators; ++q)
        v.combineInto(acc[static_cast<size_t>(q)], v.load(xp, ir.CreateMul(ir.CreateAdd(first, b.i64(q)), b.i64(block))));
    }, "group");
    for (int64_t q = 0; groups * accumulators + q < size; ++q)
      v.combineInto(acc[static_cast<size_t>(q)], v.load(xp, b.i64((groups * accumulators + q) * block)));
    // Pairwise, so the accumulators' sums stay independent until the end.
    std::vector<llvm::Value *> partial;
    for (llvm::AllocaInst *slot : acc) partial.push_back(ir.CreateLoad(v.type, slot));
    while (partial.size() > 1) {
      std::vector<llvm::Value *> next;
      for (size_t q = 0; q + 1 < partial.size(); q += 2) next.push_back(v.combine(partial[q], partial[q + 1]));
      if (partial.size() % 2 != 0) next.push_back(partial.back());
      partial = std::move(next);
    }
    llvm::Value *result = partial[0];
    if (!isMax)
      result = ir.CreateFDiv(result, ir.CreateVectorSplat(static_cast<unsigned>(block),
                                                          llvm::ConstantFP::get(ir.getFloatTy(), double(size))));
    v.store(result, cap[1], ir.CreateMul(plane, b.i64(block)));
  }, "bgpool");
}

/// "operand 0 'x' has layout NCHW16c".
std::string describeOperand(const ir::Graph &graph, ir::ValueId value, const std::string &role) {
  const ir::TensorType &type = graph.value(value).type;
  return role + " '" + graph.value(value).name + "' has layout " + type.layout.toString(type.rank());
}

}  // namespace

Status checkPoolLayouts(const ir::Graph &graph, const ir::Node &node) {
  const ir::ValueId in = node.input(0), out = node.output(0);
  if (in == ir::kNoValue || out == ir::kNoValue) return Status::ok();  // the emitter reports it
  const ir::TensorType &inType = graph.value(in).type;
  const ir::TensorType &outType = graph.value(out).type;
  const bool indices = node.outputs.size() > 1 && node.outputs[1] != ir::kNoValue;
  if (indices && !graph.value(node.outputs[1]).type.layout.isRowMajor())
    return Status::error(describeOperand(graph, node.outputs[1], "output 1") + ": Indices are written row-major only");
  if (inType.layout.isRowMajor() && outType.layout.isRowMajor()) return Status::ok();
  const std::string both = describeOperand(graph, in, "operand 0") + " and " + describeOperand(graph, out, "output 0");
  const int64_t inBlock = inType.layout.channelBlock(inType.rank());
  if (inBlock == 0 || outType.layout.channelBlock(outType.rank()) != inBlock)
    return Status::error(both + ": pools read and write row-major, or input and output both NC...[B]c of one "
                         "block size B");
  if (inType.dtype != ir::DType::Float32)
    return Status::error(both + " of " + std::string(ir::dtypeName(inType.dtype)) + ": blocked pools are float32 only");
  if (inType.numel() == 0) return Status::error(both + ", but no elements: an empty pool runs row-major");
  if (indices) return Status::error(both + ": a MaxPool with an Indices output runs on row-major operands only");
  return Status::ok();
}

std::vector<int64_t> poolTapCounts(const ops::Window &w, size_t d, bool includePad) {
  std::vector<int64_t> counts;
  for (int64_t o = 0; o < w.out[d]; ++o) {
    int64_t count = 0;
    for (int64_t k = 0; k < w.kernel[d]; ++k) {
      const int64_t pos = o * w.stride[d] - w.padBegin[d] + k * w.dilation[d];
      if (includePad ? (pos >= -w.padBegin[d] && pos < w.in[d] + w.padEnd[d]) : (pos >= 0 && pos < w.in[d])) ++count;
    }
    counts.push_back(count);
  }
  return counts;
}

Status emitBlockedPool(KernelContext &c, BlockedPoolKind kind) {
  const ir::TensorType &in = c.inputType(0);
  const int64_t block = in.layout.channelBlock(in.rank());
  assert(block > 0 && c.outputType(0).layout.channelBlock(in.rank()) == block && checkPoolLayouts(c.graph, c.node).isOk());
  c.strategy = "blocked";
  if (c.outputType(0).numel() == 0) return Status::ok();
  switch (kind) {
    case BlockedPoolKind::Max:
    case BlockedPoolKind::Average: {
      FLUIDML_ASSIGN_OR_RETURN(ops::Window w, ops::poolWindow(c.node, in.shape));
      emitBlockedWindow(c, w, kind == BlockedPoolKind::Max, block);
      return Status::ok();
    }
    case BlockedPoolKind::GlobalMax:
    case BlockedPoolKind::GlobalAverage:
      emitBlockedGlobal(c, kind == BlockedPoolKind::GlobalMax, block);
      return Status::ok();
  }
  return Status::ok();
}

}  // namespace fluidml::codegen::linalg
