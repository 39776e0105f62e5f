// Small IR-building helpers shared by the lowerings that walk tensors row by row or slice by slice
// (lower_indexing.cpp, lower_normalization.cpp): the serial-or-parallel range loop, branches, entry-block stack
// slots, row-major coordinates of a linear index and private constant tables. Private to core/codegen.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <llvm/IR/Constants.h>
#include <llvm/IR/Function.h>
#include <llvm/IR/GlobalVariable.h>
#include <llvm/IR/IRBuilder.h>

#include "core/codegen/kernel_builder.h"

namespace fluidml::codegen::helpers {

/// The product of dims [begin, end) of a shape.
inline int64_t product(const ir::Shape &shape, size_t begin, size_t end) {
  int64_t p = 1;
  for (size_t d = begin; d < end; ++d) p *= shape[d];
  return p;
}

/// A stack slot in the entry block of the function being emitted (so that SROA turns it into registers).
inline llvm::AllocaInst *entryAlloca(KernelBuilder &b, llvm::Type *type) {
  llvm::Function *function = b.ir().GetInsertBlock()->getParent();
  llvm::BasicBlock &entry = function->getEntryBlock();
  llvm::IRBuilder<> tmp(&entry, entry.getFirstInsertionPt());
  return tmp.CreateAlloca(type);
}

/// if (cond) thenFn() else elseFn(); an empty elseFn emits an empty else branch.
inline void ifElse(KernelBuilder &b, llvm::Value *cond, const std::function<void()> &thenFn,
                   const std::function<void()> &elseFn) {
  llvm::IRBuilder<> &ir = b.ir();
  llvm::Function *function = ir.GetInsertBlock()->getParent();
  llvm::BasicBlock *thenBlock = llvm::BasicBlock::Create(b.context(), "then", function);
  llvm::BasicBlock *elseBlock = llvm::BasicBlock::Create(b.context(), "else", function);
  llvm::BasicBlock *merge = llvm::BasicBlock::Create(b.context(), "merge", function);
  ir.CreateCondBr(cond, thenBlock, elseBlock);
  ir.SetInsertPoint(thenBlock);
  thenFn();
  ir.CreateBr(merge);
  ir.SetInsertPoint(elseBlock);
  if (elseFn) elseFn();
  ir.CreateBr(merge);
  ir.SetInsertPoint(merge);
}

/// A private, 64-byte aligned constant global of the module holding `init` (compile-time tables).
inline llvm::GlobalVariable *constantGlobal(KernelBuilder &b, llvm::Constant *init, const std::string &name) {
  auto *global = new llvm::GlobalVariable(b.module(), init->getType(), true, llvm::GlobalValue::PrivateLinkage, init,
                                          name);
  global->setAlignment(llvm::Align(64));
  global->setUnnamedAddr(llvm::GlobalValue::UnnamedAddr::Global);
  return global;
}

/// Row-major coordinates of a linear index (constant divisors, so LLVM strength-reduces them).
inline std::vector<llvm::Value *> unflatten(KernelBuilder &b, llvm::Value *index, const ir::Shape &shape) {
  std::vector<llvm::Value *> coords(shape.size());
  llvm::Value *rest = index;
  for (size_t d = shape.size(); d-- > 0;) {
    if (shape[d] == 1) {
      coords[d] = b.i64(0);
    } else if (d == 0) {
      coords[d] = rest;
    } else {
      coords[d] = b.ir().CreateURem(rest, b.i64(shape[d]));
      rest = b.ir().CreateUDiv(rest, b.i64(shape[d]));
    }
  }
  return coords;
}

/// body(index, pointers) for index in [0, count): on the thread pool when `parallel`, else in a plain loop.
/// Inside body only `pointers` (the captured copies) may be used, never values of the enclosing function.
inline void forRange(KernelBuilder &b, int64_t count, bool parallel, const std::vector<llvm::Value *> &pointers,
                     const std::function<void(llvm::Value *, const std::vector<llvm::Value *> &)> &body) {
  if (count <= 0) return;
  if (count == 1) {
    body(b.i64(0), pointers);
    return;
  }
  if (parallel) {
    b.parallelLoop(count, pointers, body);
    return;
  }
  b.loop(count, [&](llvm::Value *i) { body(i, pointers); });
}

}  // namespace fluidml::codegen::helpers
