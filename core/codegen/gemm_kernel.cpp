// The packed, register-blocked float32 GEMM (see gemm_kernel.h for the algorithm and its blocking).
#include "core/codegen/gemm_kernel.h"

#include <algorithm>
#include <cassert>
#include <cstdint>

#include <llvm/IR/Constants.h>
#include <llvm/IR/DerivedTypes.h>
#include <llvm/IR/GlobalVariable.h>
#include <llvm/IR/Intrinsics.h>
#include <llvm/IR/Metadata.h>

#include "core/codegen/vector_math.h"

namespace fluidml::codegen::gemm {

namespace {

int64_t ceilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

/// Work items the parallel loop should have at least (a few per thread of a small machine).
constexpr int64_t kMinItems = 8;
/// Bytes of A an item may re-read per panel before its panels are grouped (half of the target's L2).
int64_t l2Budget(const KernelBuilder &b) { return static_cast<int64_t>(b.target().cache.l2 / 2); }

llvm::Type *f32(KernelBuilder &b) { return llvm::Type::getFloatTy(b.context()); }

/// In-bounds element address of a float array.
llvm::Value *at(KernelBuilder &b, llvm::Value *base, llvm::Value *index) {
  return b.ir().CreateInBoundsGEP(f32(b), base, index);
}
llvm::Value *at(KernelBuilder &b, llvm::Value *base, int64_t index) { return at(b, base, b.i64(index)); }

llvm::Value *mul(KernelBuilder &b, llvm::Value *x, int64_t c) {
  if (c == 1) return x;
  return b.ir().CreateMul(x, b.i64(c));
}

llvm::Value *splat(KernelBuilder &b, llvm::Value *scalar) {
  return b.ir().CreateVectorSplat(static_cast<unsigned>(floatLanes(b)), scalar);
}

llvm::Value *zeroVector(KernelBuilder &b) { return llvm::ConstantAggregateZero::get(floatVector(b)); }

llvm::Value *fma(KernelBuilder &b, llvm::Value *x, llvm::Value *y, llvm::Value *acc) {
  return b.ir().CreateIntrinsic(llvm::Intrinsic::fma, {floatVector(b)}, {x, y, acc});
}

llvm::Value *loadVector(KernelBuilder &b, llvm::Value *ptr, llvm::Value *mask) {
  if (mask == nullptr) return b.ir().CreateAlignedLoad(floatVector(b), ptr, llvm::Align(4));
  return b.ir().CreateMaskedLoad(floatVector(b), ptr, llvm::Align(4), mask, zeroVector(b));
}

void storeVector(KernelBuilder &b, llvm::Value *v, llvm::Value *ptr, llvm::Value *mask) {
  if (mask == nullptr)
    b.ir().CreateAlignedStore(v, ptr, llvm::Align(4));
  else
    b.ir().CreateMaskedStore(v, ptr, llvm::Align(4), mask);
}

/// The constant mask of the first `lanes` lanes, or nullptr for a full vector.
llvm::Value *prefixMask(KernelBuilder &b, int64_t lanes) {
  if (lanes >= floatLanes(b)) return nullptr;
  return laneRange(b, b.i64(0), b.i64(lanes));
}

// ---- the micro-kernel ----------------------------------------------------------------------------------------

/// Everything one micro-kernel call needs, resolved in the parallel body.
struct TileContext {
  const GemmSpec *spec = nullptr;
  llvm::Value *aBase = nullptr;     // A of this batch item
  llvm::Value *bTile = nullptr;     // B(k0, j0) in the layout read (rows, panel or scratch)
  int64_t bKStride = 0;             // elements between consecutive k of the B tile
  bool bPadded = false;             // B columns past n read as zeros (panels): no load masks
  llvm::Value *cBase = nullptr;     // C of this batch item
  llvm::Value *biasBase = nullptr;  // bias of this batch item (or nullptr)
  std::vector<llvm::Value *> operandBases;  // fused steps' operands of this batch item (by step; nullptr if none)
  llvm::Value *j0 = nullptr;        // first column of the panel
  llvm::Value *k0 = nullptr;        // first k of the block
  llvm::Value *kc = nullptr;        // k-block length
  llvm::Value *isFirst = nullptr;   // i1: first k-block (C not yet written)
  llvm::Value *isLast = nullptr;    // i1: last k-block (apply alpha and bias)
};

/// C tile (rows [tile * MR, tile * MR + mr), columns [j0, j0 + lanes)) over the current k-block.
void emitMicroKernel(KernelBuilder &b, const TileContext &t, llvm::Value *tile, int64_t mr, int64_t lanes) {
  const GemmSpec &s = *t.spec;
  llvm::IRBuilder<> &ir = b.ir();
  llvm::Type *vecTy = floatVector(b);
  const int64_t vectors = ceilDiv(lanes, floatLanes(b));
  llvm::Value *tailMask = prefixMask(b, lanes - (vectors - 1) * floatLanes(b));

  std::vector<std::vector<llvm::AllocaInst *>> acc(static_cast<size_t>(mr));
  for (int64_t r = 0; r < mr; ++r)
    for (int64_t v = 0; v < vectors; ++v) {
      llvm::AllocaInst *slot = entryAlloca(b, vecTy, 1, 64, "acc");
      ir.CreateStore(zeroVector(b), slot);
      acc[static_cast<size_t>(r)].push_back(slot);
    }

  llvm::Value *i0 = mul(b, tile, tileRows(b));
  // A addresses: row pointers at k0 (strided) or the panel at k0 (packed).
  std::vector<llvm::Value *> aRows;
  llvm::Value *aPanel = nullptr;
  if (s.a.kind == OperandA::Kind::Strided) {
    for (int64_t r = 0; r < mr; ++r) {
      llvm::Value *row = ir.CreateAdd(i0, b.i64(r));
      aRows.push_back(at(b, t.aBase, ir.CreateAdd(mul(b, row, s.a.rowStride), mul(b, t.k0, s.a.kStride))));
    }
  } else {
    aPanel = at(b, t.aBase, ir.CreateAdd(mul(b, tile, s.k * tileRows(b)), mul(b, t.k0, tileRows(b))));
  }

  b.loop(b.i64(0), t.kc, 1, [&](llvm::Value *kk) {
    std::vector<llvm::Value *> bv;
    llvm::Value *bRow = at(b, t.bTile, mul(b, kk, t.bKStride));
    for (int64_t v = 0; v < vectors; ++v)
      bv.push_back(loadVector(b, at(b, bRow, v * floatLanes(b)), (!t.bPadded && v == vectors - 1) ? tailMask : nullptr));
    for (int64_t r = 0; r < mr; ++r) {
      llvm::Value *aPtr = s.a.kind == OperandA::Kind::Strided ? at(b, aRows[static_cast<size_t>(r)], mul(b, kk, s.a.kStride))
                                                              : at(b, aPanel, ir.CreateAdd(mul(b, kk, tileRows(b)), b.i64(r)));
      llvm::Value *aSplat = splat(b, ir.CreateAlignedLoad(f32(b), aPtr, llvm::Align(4)));
      for (int64_t v = 0; v < vectors; ++v) {
        llvm::AllocaInst *slot = acc[static_cast<size_t>(r)][static_cast<size_t>(v)];
        ir.CreateStore(fma(b, aSplat, bv[static_cast<size_t>(v)], ir.CreateLoad(vecTy, slot)), slot);
      }
    }
  }, "k");

  auto cPtr = [&](int64_t r, int64_t v) {
    llvm::Value *row = ir.CreateAdd(i0, b.i64(r));
    return at(b, t.cBase, ir.CreateAdd(ir.CreateAdd(mul(b, row, s.ldc), t.j0), b.i64(v * floatLanes(b))));
  };
  auto maskOf = [&](int64_t v) { return v == vectors - 1 ? tailMask : nullptr; };

  // Later k-blocks accumulate onto the partial sums already in C.
  emitIf(b, ir.CreateNot(t.isFirst), [&] {
    for (int64_t r = 0; r < mr; ++r)
      for (int64_t v = 0; v < vectors; ++v) {
        llvm::AllocaInst *slot = acc[static_cast<size_t>(r)][static_cast<size_t>(v)];
        ir.CreateStore(ir.CreateFAdd(ir.CreateLoad(vecTy, slot), loadVector(b, cPtr(r, v), maskOf(v))), slot);
      }
  });
  const Epilogue &e = s.epilogue;
  if (e.alpha != 1.0f || e.bias != nullptr || !e.steps.empty()) {
    emitIf(b, t.isLast, [&] {
      for (int64_t r = 0; r < mr; ++r)
        for (int64_t v = 0; v < vectors; ++v) {
          llvm::AllocaInst *slot = acc[static_cast<size_t>(r)][static_cast<size_t>(v)];
          llvm::Value *value = ir.CreateLoad(vecTy, slot);
          if (e.alpha != 1.0f) value = ir.CreateFMul(value, splat(b, llvm::ConstantFP::get(f32(b), e.alpha)));
          if (e.bias != nullptr) {
            llvm::Value *row = ir.CreateAdd(i0, b.i64(r));
            llvm::Value *rowOffset = mul(b, row, e.biasRowStride);
            llvm::Value *bias;
            if (e.biasColStride == 0) {
              bias = splat(b, ir.CreateAlignedLoad(f32(b), at(b, t.biasBase, rowOffset), llvm::Align(4)));
            } else {
              assert(e.biasColStride == 1);
              llvm::Value *offset = ir.CreateAdd(ir.CreateAdd(rowOffset, t.j0), b.i64(v * floatLanes(b)));
              bias = loadVector(b, at(b, t.biasBase, offset), maskOf(v));
            }
            if (e.beta != 1.0f) bias = ir.CreateFMul(bias, splat(b, llvm::ConstantFP::get(f32(b), e.beta)));
            value = ir.CreateFAdd(value, bias);
          }
          if (!e.steps.empty())
            value = applyFusedSteps(b, e.steps, value, [&](size_t step) {
              const EpilogueOperand &o = e.operands[step];
              llvm::Value *base = t.operandBases[step];
              llvm::Value *rowOffset = mul(b, ir.CreateAdd(i0, b.i64(r)), o.rowStride);
              if (o.colStride == 0) return splat(b, ir.CreateAlignedLoad(f32(b), at(b, base, rowOffset), llvm::Align(4)));
              llvm::Value *offset = ir.CreateAdd(ir.CreateAdd(rowOffset, t.j0), b.i64(v * floatLanes(b)));
              return loadVector(b, at(b, base, offset), maskOf(v));
            });
          ir.CreateStore(value, slot);
        }
    });
  }
  for (int64_t r = 0; r < mr; ++r)
    for (int64_t v = 0; v < vectors; ++v)
      storeVector(b, ir.CreateLoad(vecTy, acc[static_cast<size_t>(r)][static_cast<size_t>(v)]), cPtr(r, v), maskOf(v));
}

/// K = 0: C = beta * bias (or zeros).
void emitEmptyProduct(KernelBuilder &b, const GemmSpec &s) {
  llvm::IRBuilder<> &ir = b.ir();
  b.loop(s.batch.count(), [&](llvm::Value *item) {
    llvm::Value *c = at(b, s.c, batchOffset(b, item, s.batch.shape, s.batch.cStrides));
    llvm::Value *bias = s.epilogue.bias ? at(b, s.epilogue.bias, batchOffset(b, item, s.batch.shape, s.batch.biasStrides))
                                        : nullptr;
    b.loop(s.m, [&](llvm::Value *i) {
      b.loop(s.n, [&](llvm::Value *j) {
        llvm::Value *value = llvm::ConstantFP::get(f32(b), 0.0);
        if (bias != nullptr) {
          llvm::Value *offset =
              ir.CreateAdd(mul(b, i, s.epilogue.biasRowStride), mul(b, j, s.epilogue.biasColStride));
          value = ir.CreateFMul(ir.CreateAlignedLoad(f32(b), at(b, bias, offset), llvm::Align(4)),
                                llvm::ConstantFP::get(f32(b), s.epilogue.beta));
        }
        ir.CreateAlignedStore(value, at(b, c, ir.CreateAdd(mul(b, i, s.ldc), j)), llvm::Align(4));
      }, "j");
    }, "i");
  }, "batch");
}

}  // namespace

int64_t Batch::count() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

int64_t packedSizeB(const KernelBuilder &b, int64_t k, int64_t n) {
  return ceilDiv(n, tileColumns(b)) * tileColumns(b) * k;
}
int64_t packedSizeA(const KernelBuilder &b, int64_t m, int64_t k) { return ceilDiv(m, tileRows(b)) * tileRows(b) * k; }

void emitGemm(KernelBuilder &b, const GemmSpec &s) {
  const int64_t batchCount = s.batch.count();
  if (s.m <= 0 || s.n <= 0 || batchCount <= 0) return;
  if (s.k == 0) {
    emitEmptyProduct(b, s);
    return;
  }
  llvm::IRBuilder<> &ir = b.ir();
  const int64_t panels = ceilDiv(s.n, tileColumns(b));
  const int64_t fullPanels = s.n / tileColumns(b);
  const int64_t tailLanes = s.n % tileColumns(b);
  const int64_t tiles = ceilDiv(s.m, tileRows(b));
  const int64_t fullTiles = s.m / tileRows(b);
  const int64_t tailRows = s.m % tileRows(b);
  // k-blocks of at most the target's gemmKBlock (or one aligned unit), balanced, multiples of kAlign.
  const int64_t align = std::max<int64_t>(1, s.kAlign);
  const int64_t kcMax = std::max(align, std::min(s.k, b.target().gemmKBlock) / align * align);
  const int64_t kBlocks = ceilDiv(s.k, kcMax);
  const int64_t kc = ceilDiv(ceilDiv(s.k, kBlocks), align) * align;
  const int64_t scratchK = std::max(kc, b.target().gemmKBlock);

  // Too few panels to share out: a gathered B is gathered once into panels (a shared scratch global) rather
  // than once per M chunk.
  if (s.b.kind == OperandB::Kind::Fill && batchCount * panels < kMinItems && tiles > 1) {
    const int64_t perItem = panels * s.k * tileColumns(b);
    llvm::Value *buffer = scratchGlobal(b, "fluidml.gemm.panels", batchCount * perItem * 4);
    std::vector<llvm::Value *> captures{s.b.base};
    captures.insert(captures.end(), s.b.captures.begin(), s.b.captures.end());
    b.parallelLoop(batchCount * panels * kBlocks, captures, [&](llvm::Value *index, const std::vector<llvm::Value *> &cap) {
      llvm::Value *kb = ir.CreateURem(index, b.i64(kBlocks));
      llvm::Value *panelIndex = ir.CreateUDiv(index, b.i64(kBlocks));  // batch item * panels + panel
      llvm::Value *item = ir.CreateUDiv(panelIndex, b.i64(panels));
      llvm::Value *panel = ir.CreateURem(panelIndex, b.i64(panels));
      llvm::Value *k0 = mul(b, kb, kc);
      llvm::Value *kcur = minI64(b, b.i64(kc), ir.CreateSub(b.i64(s.k), k0));
      llvm::Value *dst = at(b, buffer, ir.CreateAdd(mul(b, panelIndex, s.k * tileColumns(b)), mul(b, k0, tileColumns(b))));
      llvm::Value *bBase = at(b, cap[0], batchOffset(b, item, s.batch.shape, s.batch.bStrides));
      s.b.fill(b, dst, bBase, mul(b, panel, tileColumns(b)), k0, kcur, std::vector<llvm::Value *>(cap.begin() + 1, cap.end()));
    }, s.name + ".gather");
    GemmSpec packed = s;
    packed.b = OperandB{};
    packed.b.kind = OperandB::Kind::Panels;
    packed.b.base = buffer;
    std::vector<int64_t> strides(s.batch.shape.size(), 0);
    int64_t stride = perItem;
    for (size_t d = strides.size(); d-- > 0;) {
      strides[d] = stride;
      stride *= s.batch.shape[d];
    }
    packed.batch.bStrides = strides;
    emitGemm(b, packed);
    return;
  }

  // M chunks keep the A block in L2; smaller ones when there are too few work items for the threads.
  int64_t tilesPerChunk = std::max<int64_t>(1, b.target().gemmMBlock / tileRows(b));
  int64_t chunks = ceilDiv(tiles, tilesPerChunk);
  while (chunks * batchCount * panels < kMinItems && tilesPerChunk > 1) {
    tilesPerChunk = ceilDiv(tilesPerChunk, 2);
    chunks = ceilDiv(tiles, tilesPerChunk);
  }
  tilesPerChunk = ceilDiv(tiles, chunks);  // balance the chunks
  chunks = ceilDiv(tiles, tilesPerChunk);
  // An A block bigger than L2 would be streamed again for every panel: then an item takes a group of panels
  // and runs k-blocks outside panels, so each k-block of A stays in L2 across the group (BLIS order).
  int64_t panelsPerGroup = 1;
  if (std::min(tilesPerChunk * tileRows(b), s.m) * s.k * 4 > l2Budget(b) && panels > 1 && kBlocks > 1) {
    const int64_t groups = std::min(panels, std::max<int64_t>(1, ceilDiv(kMinItems, chunks * batchCount)));
    panelsPerGroup = ceilDiv(panels, groups);
  }
  const int64_t groups = ceilDiv(panels, panelsPerGroup);

  std::vector<llvm::Value *> captures{s.a.base, s.c};
  if (s.b.base != nullptr) captures.push_back(s.b.base);
  if (s.epilogue.bias != nullptr) captures.push_back(s.epilogue.bias);
  const size_t operandsBegin = captures.size();
  std::vector<size_t> operandCapture(s.epilogue.steps.size(), SIZE_MAX);
  for (size_t step = 0; step < s.epilogue.steps.size(); ++step)
    if (s.epilogue.operands[step].base != nullptr) {
      operandCapture[step] = captures.size() - operandsBegin;
      captures.push_back(s.epilogue.operands[step].base);
    }
  const size_t extraBegin = captures.size();
  captures.insert(captures.end(), s.b.captures.begin(), s.b.captures.end());

  b.parallelLoop(chunks * batchCount * groups, captures, [&](llvm::Value *index, const std::vector<llvm::Value *> &cap) {
    size_t next = 0;
    llvm::Value *aCap = cap[next++];
    llvm::Value *cCap = cap[next++];
    llvm::Value *bCap = s.b.base != nullptr ? cap[next++] : nullptr;
    llvm::Value *biasCap = s.epilogue.bias != nullptr ? cap[next++] : nullptr;
    std::vector<llvm::Value *> extras(cap.begin() + static_cast<std::ptrdiff_t>(extraBegin), cap.end());

    llvm::Value *group = ir.CreateURem(index, b.i64(groups));
    llvm::Value *rest = ir.CreateUDiv(index, b.i64(groups));
    llvm::Value *item = ir.CreateURem(rest, b.i64(batchCount));
    llvm::Value *chunk = ir.CreateUDiv(rest, b.i64(batchCount));

    TileContext t;
    t.spec = &s;
    t.aBase = at(b, aCap, batchOffset(b, item, s.batch.shape, s.batch.aStrides));
    t.cBase = at(b, cCap, batchOffset(b, item, s.batch.shape, s.batch.cStrides));
    llvm::Value *bBase = bCap ? at(b, bCap, batchOffset(b, item, s.batch.shape, s.batch.bStrides)) : nullptr;
    t.biasBase = biasCap ? at(b, biasCap, batchOffset(b, item, s.batch.shape, s.batch.biasStrides)) : nullptr;
    for (size_t step = 0; step < s.epilogue.steps.size(); ++step) {
      if (operandCapture[step] == SIZE_MAX) {
        t.operandBases.push_back(nullptr);
        continue;
      }
      const EpilogueOperand &o = s.epilogue.operands[step];
      llvm::Value *base = cap[operandsBegin + operandCapture[step]];
      t.operandBases.push_back(o.batchStrides.empty() ? base
                                                      : at(b, base, batchOffset(b, item, s.batch.shape, o.batchStrides)));
    }
    llvm::Value *scratch = nullptr;
    if (s.b.kind == OperandB::Kind::Fill) scratch = entryAlloca(b, f32(b), scratchK * tileColumns(b), 64, "bpanel");

    auto block = [&](llvm::Value *panel, llvm::Value *k0, llvm::Value *kcur, llvm::Value *isFirst, llvm::Value *isLast) {
      t.j0 = mul(b, panel, tileColumns(b));
      t.k0 = k0;
      t.kc = kcur;
      t.isFirst = isFirst;
      t.isLast = isLast;
      switch (s.b.kind) {
        case OperandB::Kind::Rows:
          t.bTile = at(b, bBase, ir.CreateAdd(mul(b, k0, s.b.kStride), t.j0));
          t.bKStride = s.b.kStride;
          t.bPadded = false;
          break;
        case OperandB::Kind::Panels:
          t.bTile = at(b, bBase, ir.CreateAdd(mul(b, panel, s.k * tileColumns(b)), mul(b, k0, tileColumns(b))));
          t.bKStride = tileColumns(b);
          t.bPadded = true;
          break;
        case OperandB::Kind::Fill:
          s.b.fill(b, scratch, bBase, t.j0, k0, kcur, extras);
          t.bTile = scratch;
          t.bKStride = tileColumns(b);
          t.bPadded = true;
          break;
      }
      auto rowsOfChunk = [&](int64_t lanes) {
        if (fullTiles > 0) {
          llvm::Value *first = mul(b, chunk, tilesPerChunk);
          llvm::Value *end = minI64(b, ir.CreateAdd(first, b.i64(tilesPerChunk)), b.i64(fullTiles));
          end = maxI64(b, end, first);
          b.loop(first, end, 1, [&](llvm::Value *tile) { emitMicroKernel(b, t, tile, tileRows(b), lanes); }, "tile");
        }
        if (tailRows > 0) {
          llvm::Value *lastChunk = chunks == 1 ? ir.getTrue() : ir.CreateICmpEQ(chunk, b.i64(chunks - 1));
          emitIf(b, lastChunk, [&] { emitMicroKernel(b, t, b.i64(fullTiles), tailRows, lanes); });
        }
      };
      if (tailLanes == 0)
        rowsOfChunk(tileColumns(b));
      else if (fullPanels == 0)
        rowsOfChunk(tailLanes);
      else
        emitIfElse(b, ir.CreateICmpULT(panel, b.i64(fullPanels)), [&] { rowsOfChunk(tileColumns(b)); },
                   [&] { rowsOfChunk(tailLanes); });
    };
    // The panels of this item: one, or a group walked inside each k-block.
    auto panelsOf = [&](const std::function<void(llvm::Value *panel)> &body) {
      if (panelsPerGroup == 1) {
        body(group);
        return;
      }
      llvm::Value *first = mul(b, group, panelsPerGroup);
      llvm::Value *end = minI64(b, ir.CreateAdd(first, b.i64(panelsPerGroup)), b.i64(panels));
      plainLoop(b, first, end, body);
    };
    if (kBlocks == 1) {
      panelsOf([&](llvm::Value *panel) { block(panel, b.i64(0), b.i64(s.k), ir.getTrue(), ir.getTrue()); });
    } else if (panelsPerGroup == 1) {
      b.loop(b.i64(0), b.i64(kBlocks), 1, [&](llvm::Value *kb) {
        llvm::Value *k0 = mul(b, kb, kc);
        llvm::Value *kcur = minI64(b, b.i64(kc), ir.CreateSub(b.i64(s.k), k0));
        block(group, k0, kcur, ir.CreateICmpEQ(kb, b.i64(0)), ir.CreateICmpEQ(kb, b.i64(kBlocks - 1)));
      }, "kb");
    } else {
      b.loop(b.i64(0), b.i64(kBlocks), 1, [&](llvm::Value *kb) {
        llvm::Value *k0 = mul(b, kb, kc);
        llvm::Value *kcur = minI64(b, b.i64(kc), ir.CreateSub(b.i64(s.k), k0));
        llvm::Value *isFirst = ir.CreateICmpEQ(kb, b.i64(0));
        llvm::Value *isLast = ir.CreateICmpEQ(kb, b.i64(kBlocks - 1));
        panelsOf([&](llvm::Value *panel) { block(panel, k0, kcur, isFirst, isLast); });
      }, "kb");
    }
  }, s.name);
}

// ---- constant packing ------------------------------------------------------------------------------------------
// Constant operands are re-laid-out here, in C++, at compile time: the panels become derived weights
// (KernelBuilder::derivedWeight) that the module builder places in the weights blob, so a deployed model maps
// them ready to use and holds no second copy.

namespace {

std::string geometryName(std::initializer_list<int64_t> values) {
  std::string name;
  for (int64_t v : values) name += "." + std::to_string(v);
  return name;
}

}  // namespace

llvm::Value *packConstantB(KernelBuilder &b, const std::string &key, const ir::Tensor &src, int64_t count, int64_t k,
                           int64_t n, int64_t kStride, int64_t nStride, int64_t batchStride) {
  const std::string name = "packB." + key + geometryName({count, k, n, kStride, nStride, batchStride});
  return b.derivedWeight(name, [&] {
    const int64_t nr = tileColumns(b);
    const int64_t panels = ceilDiv(n, nr);
    ir::Tensor packed = ir::Tensor::zeros(ir::DType::Float32, {count * packedSizeB(b, k, n)});
    assert(src.dtype() == ir::DType::Float32);
    const float *from = src.data<float>();
    float *to = packed.data<float>();
    // Panel (t, q) holds columns [q * NR, q * NR + NR) of matrix t, k rows of NR; columns past n stay zero.
    for (int64_t t = 0; t < count; ++t)
      for (int64_t q = 0; q < panels; ++q) {
        float *panel = to + (t * panels + q) * k * nr;
        const int64_t columns = std::min(nr, n - q * nr);
        for (int64_t p = 0; p < k; ++p)
          for (int64_t j = 0; j < columns; ++j)
            panel[p * nr + j] = from[t * batchStride + p * kStride + (q * nr + j) * nStride];
      }
    return packed;
  });
}

llvm::Value *packConstantAMapped(KernelBuilder &b, const std::string &key, const ir::Tensor &src, int64_t count,
                                 int64_t m, int64_t k, int64_t rowStride, int64_t batchStride,
                                 const std::function<int64_t(int64_t p)> &kOffset) {
  const std::string name = "packA." + key + geometryName({count, m, k, rowStride, batchStride});
  return b.derivedWeight(name, [&] {
    const int64_t mr = tileRows(b);
    const int64_t panels = ceilDiv(m, mr);
    ir::Tensor packed = ir::Tensor::zeros(ir::DType::Float32, {count * packedSizeA(b, m, k)});
    assert(src.dtype() == ir::DType::Float32);
    const float *from = src.data<float>();
    float *to = packed.data<float>();
    std::vector<int64_t> offsets(static_cast<size_t>(k));
    for (int64_t p = 0; p < k; ++p) offsets[static_cast<size_t>(p)] = kOffset(p);
    // Panel (t, q) holds rows [q * MR, q * MR + MR) of matrix t, k columns of MR; rows past m stay zero.
    for (int64_t t = 0; t < count; ++t)
      for (int64_t q = 0; q < panels; ++q) {
        float *panel = to + (t * panels + q) * k * mr;
        const int64_t rows = std::min(mr, m - q * mr);
        for (int64_t p = 0; p < k; ++p)
          for (int64_t r = 0; r < rows; ++r)
            panel[p * mr + r] = from[t * batchStride + (q * mr + r) * rowStride + offsets[static_cast<size_t>(p)]];
      }
    return packed;
  });
}

llvm::Value *packConstantA(KernelBuilder &b, const std::string &key, const ir::Tensor &src, int64_t count, int64_t m,
                           int64_t k, int64_t rowStride, int64_t kStride, int64_t batchStride) {
  return packConstantAMapped(b, key + ".k" + std::to_string(kStride), src, count, m, k, rowStride, batchStride,
                             [kStride](int64_t p) { return p * kStride; });
}

// ---- fused epilogue steps -------------------------------------------------------------------------------------

llvm::Value *applyFusedSteps(KernelBuilder &b, const std::vector<ops::EpilogueStep> &steps, llvm::Value *values,
                             const std::function<llvm::Value *(size_t step)> &operand) {
  llvm::IRBuilder<> &ir = b.ir();
  auto constant = [&](float c) { return splat(b, llvm::ConstantFP::get(f32(b), c)); };
  for (size_t step = 0; step < steps.size(); ++step) {
    const ops::EpilogueStep &s = steps[step];
    switch (s.kind) {
      case ops::EpilogueKind::Add:
        values = ir.CreateFAdd(values, operand(step));
        break;
      case ops::EpilogueKind::Relu:  // x < 0 ? 0 : x (NaN passes, as the reference's std::max(x, 0))
        values = ir.CreateSelect(ir.CreateFCmpOLT(values, constant(0.0f)), constant(0.0f), values);
        break;
      case ops::EpilogueKind::Clip: {  // std::min(std::max(x, lo), hi)
        llvm::Value *lo = constant(s.clipMin), *hi = constant(s.clipMax);
        values = ir.CreateSelect(ir.CreateFCmpOLT(values, lo), lo, values);
        values = ir.CreateSelect(ir.CreateFCmpOLT(hi, values), hi, values);
        break;
      }
      case ops::EpilogueKind::Sigmoid:
        values = sigmoidVector(b, values);
        break;
      case ops::EpilogueKind::SiLU:
        values = ir.CreateFMul(values, sigmoidVector(b, values));
        break;
      case ops::EpilogueKind::Gelu: {  // x * (erf(x / sqrt 2) + 1) * 0.5, the exported graph's order
        llvm::Value *e = erfVector(b, ir.CreateFDiv(values, constant(ops::kGeluDivisor)));
        values = ir.CreateFMul(ir.CreateFMul(values, ir.CreateFAdd(e, constant(1.0f))), constant(0.5f));
        break;
      }
    }
  }
  return values;
}

// ---- vector helpers ------------------------------------------------------------------------------------------

/// for (i = begin; i < end; ++i) body(i), marked so that LLVM neither vectorizes nor unrolls it: one-time
/// packing loops whose vectorized form (scatters, gathers, interleaving) costs more compile time than it saves.
void plainLoop(KernelBuilder &b, llvm::Value *begin, llvm::Value *end, const std::function<void(llvm::Value *)> &body) {
  llvm::IRBuilder<> &ir = b.ir();
  llvm::LLVMContext &ctx = b.context();
  llvm::Function *function = ir.GetInsertBlock()->getParent();
  llvm::BasicBlock *preheader = ir.GetInsertBlock();
  auto *bodyBlock = llvm::BasicBlock::Create(ctx, "pack.body", function);
  auto *exitBlock = llvm::BasicBlock::Create(ctx, "pack.exit", function);
  ir.CreateCondBr(ir.CreateICmpSLT(begin, end), bodyBlock, exitBlock);
  ir.SetInsertPoint(bodyBlock);
  llvm::PHINode *index = ir.CreatePHI(ir.getInt64Ty(), 2, "i");
  index->addIncoming(begin, preheader);
  body(index);
  llvm::Value *next = ir.CreateAdd(index, b.i64(1), "", true, true);
  llvm::BasicBlock *latch = ir.GetInsertBlock();
  llvm::BranchInst *back = ir.CreateCondBr(ir.CreateICmpSLT(next, end), bodyBlock, exitBlock);
  index->addIncoming(next, latch);
  llvm::Metadata *noVectorize[] = {llvm::MDString::get(ctx, "llvm.loop.vectorize.enable"),
                                   llvm::ConstantAsMetadata::get(ir.getFalse())};
  llvm::Metadata *noUnroll[] = {llvm::MDString::get(ctx, "llvm.loop.unroll.disable")};
  llvm::TempMDTuple placeholder = llvm::MDNode::getTemporary(ctx, {});
  llvm::Metadata *operands[] = {placeholder.get(), llvm::MDNode::get(ctx, noVectorize), llvm::MDNode::get(ctx, noUnroll)};
  llvm::MDNode *loopId = llvm::MDNode::getDistinct(ctx, operands);
  loopId->replaceOperandWith(0, loopId);
  back->setMetadata(llvm::LLVMContext::MD_loop, loopId);
  ir.SetInsertPoint(exitBlock);
}

llvm::FixedVectorType *floatVector(KernelBuilder &b) {
  return llvm::FixedVectorType::get(llvm::Type::getFloatTy(b.context()), static_cast<unsigned>(floatLanes(b)));
}

llvm::Value *minI64(KernelBuilder &b, llvm::Value *x, llvm::Value *y) {
  return b.ir().CreateBinaryIntrinsic(llvm::Intrinsic::smin, x, y);
}
llvm::Value *maxI64(KernelBuilder &b, llvm::Value *x, llvm::Value *y) {
  return b.ir().CreateBinaryIntrinsic(llvm::Intrinsic::smax, x, y);
}

llvm::Value *laneRange(KernelBuilder &b, llvm::Value *lo, llvm::Value *hi) {
  llvm::IRBuilder<> &ir = b.ir();
  auto clamp = [&](llvm::Value *x) { return minI64(b, maxI64(b, x, b.i64(0)), b.i64(floatLanes(b))); };
  auto lowBits = [&](llvm::Value *count) { return ir.CreateSub(ir.CreateShl(b.i64(1), count), b.i64(1)); };
  llvm::Value *bits = ir.CreateAnd(lowBits(clamp(hi)), ir.CreateNot(lowBits(clamp(lo))));
  llvm::Value *narrow = ir.CreateTrunc(bits, ir.getIntNTy(static_cast<unsigned>(floatLanes(b))));
  return ir.CreateBitCast(narrow, llvm::FixedVectorType::get(ir.getInt1Ty(), static_cast<unsigned>(floatLanes(b))));
}

namespace {
llvm::Value *evenLanes(KernelBuilder &b, llvm::Value *lo, llvm::Value *hi) {
  std::vector<int> indices;
  for (int t = 0; t < floatLanes(b); ++t) indices.push_back(2 * t);
  return b.ir().CreateShuffleVector(lo, hi, indices);
}

llvm::Value *laneOffsets(KernelBuilder &b, llvm::Value *start, int64_t stride) {
  std::vector<llvm::Constant *> steps;
  for (int64_t t = 0; t < floatLanes(b); ++t) steps.push_back(b.ir().getInt64(t * stride));
  return b.ir().CreateAdd(b.ir().CreateVectorSplat(static_cast<unsigned>(floatLanes(b)), start), llvm::ConstantVector::get(steps));
}
}  // namespace

RowMasks rowMasks(KernelBuilder &b, llvm::Value *start, int64_t stride, llvm::Value *width, llvm::Value *laneLimit) {
  llvm::IRBuilder<> &ir = b.ir();
  RowMasks masks;
  masks.stride = stride;
  // Lane t is valid when 0 <= start + t * stride < width and t < laneLimit.
  llvm::Value *s = b.i64(stride);
  llvm::Value *firstValid = maxI64(b, b.i64(0), ir.CreateSDiv(ir.CreateAdd(ir.CreateNeg(start), b.i64(stride - 1)), s));
  llvm::Value *endValid =
      minI64(b, laneLimit, ir.CreateSDiv(ir.CreateAdd(ir.CreateSub(width, start), b.i64(stride - 1)), s));
  masks.lanes = laneRange(b, firstValid, endValid);
  if (stride == 2) {
    // Two contiguous loads of every in-bounds element the lanes span, then the even ones.
    llvm::Value *lo = ir.CreateNeg(start);
    llvm::Value *hi = minI64(b, ir.CreateSub(width, start), ir.CreateMul(laneLimit, b.i64(2)));
    masks.first = laneRange(b, lo, hi);
    masks.second = laneRange(b, ir.CreateSub(lo, b.i64(floatLanes(b))), ir.CreateSub(hi, b.i64(floatLanes(b))));
  }
  return masks;
}

llvm::Value *loadRowMasked(KernelBuilder &b, llvm::Value *row, llvm::Value *start, const RowMasks &masks,
                           llvm::Value *passthru) {
  llvm::IRBuilder<> &ir = b.ir();
  llvm::Type *vecTy = floatVector(b);
  llvm::Type *floatTy = f32(b);
  if (masks.stride == 1)
    return ir.CreateMaskedLoad(vecTy, ir.CreateGEP(floatTy, row, start), llvm::Align(4), masks.lanes, passthru);
  if (masks.stride == 2) {
    llvm::Value *zero = zeroVector(b);
    llvm::Value *first = ir.CreateMaskedLoad(vecTy, ir.CreateGEP(floatTy, row, start), llvm::Align(4), masks.first, zero);
    llvm::Value *second = ir.CreateMaskedLoad(vecTy, ir.CreateGEP(floatTy, row, ir.CreateAdd(start, b.i64(floatLanes(b)))),
                                              llvm::Align(4), masks.second, zero);
    return ir.CreateSelect(masks.lanes, evenLanes(b, first, second), passthru);
  }
  return ir.CreateMaskedGather(vecTy, ir.CreateGEP(floatTy, row, laneOffsets(b, start, masks.stride)), llvm::Align(4),
                               masks.lanes, passthru);
}

llvm::Value *loadRow(KernelBuilder &b, llvm::Value *row, llvm::Value *start, int64_t stride, llvm::Value *width,
                     llvm::Value *laneLimit, llvm::Value *passthru, bool interior) {
  llvm::IRBuilder<> &ir = b.ir();
  llvm::Type *vecTy = floatVector(b);
  llvm::Type *floatTy = f32(b);
  if (interior) {
    auto ptr = [&](llvm::Value *offset) { return ir.CreateGEP(floatTy, row, offset); };
    if (stride == 1) return ir.CreateAlignedLoad(vecTy, ptr(start), llvm::Align(4));
    if (stride == 2)
      return evenLanes(b, ir.CreateAlignedLoad(vecTy, ptr(start), llvm::Align(4)),
                       ir.CreateAlignedLoad(vecTy, ptr(ir.CreateAdd(start, b.i64(floatLanes(b)))), llvm::Align(4)));
    return ir.CreateMaskedGather(vecTy, ir.CreateGEP(floatTy, row, laneOffsets(b, start, stride)), llvm::Align(4),
                                 nullptr, passthru);
  }
  return loadRowMasked(b, row, start, rowMasks(b, start, stride, width, laneLimit), passthru);
}

void storeLanes(KernelBuilder &b, llvm::Value *v, llvm::Value *ptr, llvm::Value *lanes) {
  if (auto *c = llvm::dyn_cast<llvm::ConstantInt>(lanes); c && c->getSExtValue() >= floatLanes(b)) {
    b.ir().CreateAlignedStore(v, ptr, llvm::Align(4));
    return;
  }
  b.ir().CreateMaskedStore(v, ptr, llvm::Align(4), laneRange(b, b.i64(0), lanes));
}

namespace {
llvm::Value *reduce(KernelBuilder &b, llvm::Value *v, bool max) {
  llvm::IRBuilder<> &ir = b.ir();
  for (int width = static_cast<int>(floatLanes(b)) / 2; width >= 1; width /= 2) {
    std::vector<int> lo, hi;
    for (int i = 0; i < width; ++i) {
      lo.push_back(i);
      hi.push_back(i + width);
    }
    llvm::Value *a = ir.CreateShuffleVector(v, lo);
    llvm::Value *c = ir.CreateShuffleVector(v, hi);
    v = max ? ir.CreateBinaryIntrinsic(llvm::Intrinsic::maxnum, a, c) : ir.CreateFAdd(a, c);
  }
  return ir.CreateExtractElement(v, uint64_t{0});
}
}  // namespace

llvm::Value *reduceAdd(KernelBuilder &b, llvm::Value *v) { return reduce(b, v, false); }
llvm::Value *reduceMax(KernelBuilder &b, llvm::Value *v) { return reduce(b, v, true); }

void emitIf(KernelBuilder &b, llvm::Value *cond, const std::function<void()> &then) {
  if (auto *c = llvm::dyn_cast<llvm::ConstantInt>(cond)) {
    if (!c->isZero()) then();
    return;
  }
  llvm::IRBuilder<> &ir = b.ir();
  llvm::Function *function = ir.GetInsertBlock()->getParent();
  auto *thenBlock = llvm::BasicBlock::Create(b.context(), "then", function);
  auto *endBlock = llvm::BasicBlock::Create(b.context(), "endif", function);
  ir.CreateCondBr(cond, thenBlock, endBlock);
  ir.SetInsertPoint(thenBlock);
  then();
  ir.CreateBr(endBlock);
  ir.SetInsertPoint(endBlock);
}

void emitIfElse(KernelBuilder &b, llvm::Value *cond, const std::function<void()> &then,
                const std::function<void()> &otherwise) {
  if (auto *c = llvm::dyn_cast<llvm::ConstantInt>(cond)) {
    if (!c->isZero())
      then();
    else
      otherwise();
    return;
  }
  llvm::IRBuilder<> &ir = b.ir();
  llvm::Function *function = ir.GetInsertBlock()->getParent();
  auto *thenBlock = llvm::BasicBlock::Create(b.context(), "then", function);
  auto *elseBlock = llvm::BasicBlock::Create(b.context(), "else", function);
  auto *endBlock = llvm::BasicBlock::Create(b.context(), "endif", function);
  ir.CreateCondBr(cond, thenBlock, elseBlock);
  ir.SetInsertPoint(thenBlock);
  then();
  ir.CreateBr(endBlock);
  ir.SetInsertPoint(elseBlock);
  otherwise();
  ir.CreateBr(endBlock);
  ir.SetInsertPoint(endBlock);
}

llvm::AllocaInst *entryAlloca(KernelBuilder &b, llvm::Type *type, int64_t count, uint64_t alignment,
                              const std::string &name) {
  llvm::Function *function = b.ir().GetInsertBlock()->getParent();
  llvm::BasicBlock &entry = function->getEntryBlock();
  llvm::IRBuilder<> builder(&entry, entry.getFirstInsertionPt());
  llvm::Type *allocated = count == 1 ? type : llvm::ArrayType::get(type, static_cast<uint64_t>(count));
  llvm::AllocaInst *slot = builder.CreateAlloca(allocated, nullptr, name);
  slot->setAlignment(llvm::Align(alignment));
  return slot;
}

llvm::GlobalVariable *scratchGlobal(KernelBuilder &b, const std::string &name, int64_t bytes) {
  llvm::GlobalVariable *existing = b.module().getNamedGlobal(name);
  const uint64_t size = static_cast<uint64_t>(std::max<int64_t>(bytes, 1));
  if (existing != nullptr && b.module().getDataLayout().getTypeAllocSize(existing->getValueType()) >= size)
    return existing;
  auto *type = llvm::ArrayType::get(llvm::Type::getInt8Ty(b.context()), size);
  auto *global = new llvm::GlobalVariable(b.module(), type, false, llvm::GlobalValue::InternalLinkage,
                                          llvm::ConstantAggregateZero::get(type), name);
  global->setAlignment(llvm::Align(64));
  if (existing != nullptr) {  // grow: earlier kernels now use the larger buffer
    existing->replaceAllUsesWith(global);
    global->takeName(existing);
    existing->eraseFromParent();
  }
  return global;
}

llvm::Value *batchOffset(KernelBuilder &b, llvm::Value *linear, const std::vector<int64_t> &shape,
                         const std::vector<int64_t> &strides) {
  llvm::IRBuilder<> &ir = b.ir();
  assert(shape.size() == strides.size());
  // Merge dims that are contiguous with respect to each other (stride[d] == stride[d+1] * shape[d+1]).
  std::vector<int64_t> dims, dimStrides;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 1) continue;
    if (!dims.empty() && dimStrides.back() == strides[d] * shape[d]) {
      dims.back() *= shape[d];
      dimStrides.back() = strides[d];
    } else {
      dims.push_back(shape[d]);
      dimStrides.push_back(strides[d]);
    }
  }
  llvm::Value *offset = b.i64(0);
  llvm::Value *rest = linear;
  for (size_t i = dims.size(); i-- > 0;) {
    llvm::Value *index = i == 0 ? rest : ir.CreateURem(rest, b.i64(dims[i]));
    if (dimStrides[i] != 0) offset = ir.CreateAdd(offset, mul(b, index, dimStrides[i]));
    if (i > 0) rest = ir.CreateUDiv(rest, b.i64(dims[i]));
  }
  return offset;
}

}  // namespace fluidml::codegen::gemm
