// KernelBuilder: the IR-building vocabulary of every kernel emitter. Loops are emitted in the shape LLVM's
// loop passes recognise directly (a guarded, rotated loop with one i64 induction PHI, `add nuw nsw` increment
// and a `slt` latch test), so the vectorizer and unroller see a counted loop without any canonicalisation.
// Parallel loops are outlined into `void(ptr ctx, i64 begin, i64 end)` functions that the runtime's thread
// pool calls chunk by chunk (fluidml_parallel_for).
#include "core/codegen/kernel_builder.h"

#include <algorithm>
#include <cassert>
#include <string>

#include <llvm/ADT/SetVector.h>
#include <llvm/IR/Constants.h>
#include <llvm/IR/Function.h>
#include <llvm/IR/GlobalVariable.h>
#include <llvm/IR/ReplaceConstant.h>
#include <llvm/IR/Intrinsics.h>

namespace fluidml::codegen {

namespace {

bool isUnsignedDType(ir::DType dtype) { return dtype == ir::DType::UInt8 || dtype == ir::DType::Bool; }

/// Overloaded intrinsic on the type of `x` (scalar or vector).
llvm::Value *callIntrinsic(llvm::IRBuilder<> &b, llvm::Intrinsic::ID id, llvm::ArrayRef<llvm::Value *> args) {
  return b.CreateIntrinsic(id, {args[0]->getType()}, args);
}

/// The libm name of a float or double function ("tanh" -> "tanhf" for float).
std::string libmName(std::string_view function, llvm::Type *type) {
  std::string name(function);
  if (type->getScalarType()->isFloatTy()) name += 'f';
  return name;
}

}  // namespace

KernelBuilder::KernelBuilder(llvm::Module &module, llvm::IRBuilder<> &builder, const target::TargetDescription &target)
    : module_(module), builder_(builder), target_(target) {}

llvm::Value *KernelBuilder::derivedWeight(const std::string &name, const std::function<ir::Tensor()> &make) {
  assert(derivedWeights_ != nullptr && "derived weights need the module builder's registry");
  const std::string globalName = std::string(kDerivedWeightPrefix) + name;
  if (llvm::GlobalVariable *existing = module_.getNamedGlobal(globalName)) return existing;
  const ir::Tensor &data = derivedWeights_->byName[name] = make();
  // A declaration: the module builder replaces it by the weight's address in the blob.
  llvm::Type *bytes = llvm::ArrayType::get(llvm::Type::getInt8Ty(context()), std::max<size_t>(1, data.bytes()));
  auto *global = new llvm::GlobalVariable(module_, bytes, true, llvm::GlobalValue::ExternalLinkage, nullptr, globalName);
  global->setAlignment(llvm::Align(64));
  return global;
}

llvm::Type *KernelBuilder::scalarType(ir::DType dtype) {
  llvm::LLVMContext &ctx = context();
  switch (dtype) {
    case ir::DType::Float32: return llvm::Type::getFloatTy(ctx);
    case ir::DType::Float64: return llvm::Type::getDoubleTy(ctx);
    case ir::DType::Int64: return llvm::Type::getInt64Ty(ctx);
    case ir::DType::Int32: return llvm::Type::getInt32Ty(ctx);
    case ir::DType::Int8:
    case ir::DType::UInt8:
    case ir::DType::Bool: return llvm::Type::getInt8Ty(ctx);
  }
  return llvm::Type::getFloatTy(ctx);
}

llvm::Value *KernelBuilder::i64(int64_t value) { return builder_.getInt64(static_cast<uint64_t>(value)); }

llvm::Value *KernelBuilder::constant(ir::DType dtype, double value) {
  llvm::Type *type = scalarType(dtype);
  if (ir::isFloating(dtype)) return llvm::ConstantFP::get(type, value);
  if (dtype == ir::DType::Bool) return llvm::ConstantInt::get(type, value != 0.0 ? 1 : 0);
  return llvm::ConstantInt::get(type, static_cast<uint64_t>(static_cast<int64_t>(value)), !isUnsignedDType(dtype));
}

llvm::Value *KernelBuilder::constantInt(ir::DType dtype, int64_t value) {
  llvm::Type *type = scalarType(dtype);
  if (ir::isFloating(dtype)) return llvm::ConstantFP::get(type, static_cast<double>(value));
  if (dtype == ir::DType::Bool) return llvm::ConstantInt::get(type, value != 0 ? 1 : 0);
  return llvm::ConstantInt::get(type, static_cast<uint64_t>(value), !isUnsignedDType(dtype));
}

llvm::Value *KernelBuilder::elementPtr(ir::DType dtype, llvm::Value *base, llvm::Value *index) {
  return builder_.CreateInBoundsGEP(scalarType(dtype), base, index);
}

llvm::Value *KernelBuilder::load(ir::DType dtype, llvm::Value *base, llvm::Value *index) {
  return builder_.CreateLoad(scalarType(dtype), elementPtr(dtype, base, index));
}

void KernelBuilder::store(ir::DType dtype, llvm::Value *value, llvm::Value *base, llvm::Value *index) {
  assert(value->getType() == scalarType(dtype) && "store: value type does not match the dtype");
  builder_.CreateStore(value, elementPtr(dtype, base, index));
}

void KernelBuilder::loop(llvm::Value *begin, llvm::Value *end, int64_t step,
                         const std::function<void(llvm::Value *)> &body, std::string_view name) {
  assert(step > 0 && "loop: step must be positive");
  llvm::IRBuilder<> &b = builder_;
  llvm::Function *function = b.GetInsertBlock()->getParent();
  llvm::LLVMContext &ctx = context();
  const std::string label(name);

  // A loop known to run zero times emits nothing; one known to run is not guarded.
  auto *beginConst = llvm::dyn_cast<llvm::ConstantInt>(begin);
  auto *endConst = llvm::dyn_cast<llvm::ConstantInt>(end);
  bool knownNonEmpty = false;
  if (beginConst != nullptr && endConst != nullptr) {
    if (beginConst->getSExtValue() >= endConst->getSExtValue()) return;
    knownNonEmpty = true;
  }

  llvm::BasicBlock *preheader = b.GetInsertBlock();
  llvm::BasicBlock *bodyBlock = llvm::BasicBlock::Create(ctx, label + ".body", function);
  llvm::BasicBlock *exitBlock = llvm::BasicBlock::Create(ctx, label + ".exit", function);
  if (knownNonEmpty) {
    b.CreateBr(bodyBlock);
  } else {
    b.CreateCondBr(b.CreateICmpSLT(begin, end, label + ".guard"), bodyBlock, exitBlock);
  }

  b.SetInsertPoint(bodyBlock);
  llvm::PHINode *index = b.CreatePHI(b.getInt64Ty(), 2, label);
  index->addIncoming(begin, preheader);
  body(index);
  llvm::Value *next = b.CreateAdd(index, i64(step), label + ".next", /*HasNUW=*/true, /*HasNSW=*/true);
  llvm::BasicBlock *latch = b.GetInsertBlock();
  b.CreateCondBr(b.CreateICmpSLT(next, end, label + ".cond"), bodyBlock, exitBlock);
  index->addIncoming(next, latch);
  b.SetInsertPoint(exitBlock);
}

void KernelBuilder::loop(int64_t count, const std::function<void(llvm::Value *)> &body, std::string_view name) {
  loop(i64(0), i64(count), 1, body, name);
}

void KernelBuilder::loopNest(const ir::Shape &shape,
                             const std::function<void(const std::vector<llvm::Value *> &)> &body) {
  std::vector<llvm::Value *> indices;
  indices.reserve(shape.size());
  std::function<void(size_t)> level = [&](size_t dim) {
    if (dim == shape.size()) {
      body(indices);
      return;
    }
    if (shape[dim] == 1) {  // a size-1 dim needs no loop
      indices.push_back(i64(0));
      level(dim + 1);
      indices.pop_back();
      return;
    }
    loop(shape[dim], [&](llvm::Value *i) {
      indices.push_back(i);
      level(dim + 1);
      indices.pop_back();
    }, "d" + std::to_string(dim));
  };
  level(0);
}

llvm::Value *KernelBuilder::linearIndex(const std::vector<llvm::Value *> &index, const std::vector<int64_t> &strides) {
  assert(index.size() == strides.size() && "linearIndex: one stride per index");
  int64_t constantPart = 0;
  llvm::Value *sum = nullptr;
  for (size_t d = 0; d < index.size(); ++d) {
    if (strides[d] == 0) continue;
    if (auto *c = llvm::dyn_cast<llvm::ConstantInt>(index[d])) {
      constantPart += c->getSExtValue() * strides[d];
      continue;
    }
    llvm::Value *term = strides[d] == 1 ? index[d] : builder_.CreateMul(index[d], i64(strides[d]), "", false, true);
    sum = sum == nullptr ? term : builder_.CreateAdd(sum, term, "", false, true);
  }
  if (sum == nullptr) return i64(constantPart);
  if (constantPart != 0) sum = builder_.CreateAdd(sum, i64(constantPart), "", false, true);
  return sum;
}

void KernelBuilder::parallelLoop(
    int64_t count, const std::vector<llvm::Value *> &captures,
    const std::function<void(llvm::Value *index, const std::vector<llvm::Value *> &captured)> &body,
    std::string_view name) {
  if (count <= 0) return;
  llvm::IRBuilder<> &b = builder_;
  if (count == 1) {  // nothing to share out
    body(i64(0), captures);
    return;
  }
  if (serial_) {
    loop(i64(0), i64(count), 1, [&](llvm::Value *index) { body(index, captures); }, name);
    return;
  }
  llvm::LLVMContext &ctx = context();
  llvm::Function *parent = b.GetInsertBlock()->getParent();
  llvm::Type *ptrType = b.getPtrTy();

  // Constants need no transport; everything else goes through the context struct.
  std::vector<llvm::Type *> fieldTypes;
  std::vector<int> field(captures.size(), -1);
  for (size_t k = 0; k < captures.size(); ++k) {
    if (llvm::isa<llvm::Constant>(captures[k]) && !llvm::isa<llvm::GlobalValue>(captures[k])) continue;
    field[k] = static_cast<int>(fieldTypes.size());
    fieldTypes.push_back(captures[k]->getType());
  }
  llvm::StructType *captureType = llvm::StructType::get(ctx, fieldTypes);

  llvm::FunctionType *bodyType = llvm::FunctionType::get(b.getVoidTy(), {ptrType, b.getInt64Ty(), b.getInt64Ty()}, false);
  llvm::Function *outlined = llvm::Function::Create(bodyType, llvm::GlobalValue::InternalLinkage,
                                                    parent->getName() + "." + std::string(name), module_);
  outlined->setUnnamedAddr(llvm::GlobalValue::UnnamedAddr::Global);  // identical bodies may share one address
  outlined->addFnAttr(llvm::Attribute::NoUnwind);
  outlined->addParamAttr(0, llvm::Attribute::NoAlias);
  outlined->addParamAttr(0, llvm::Attribute::NoCapture);
  outlined->addParamAttr(0, llvm::Attribute::ReadOnly);
  if (parent->hasFnAttribute("target-cpu")) outlined->addFnAttr(parent->getFnAttribute("target-cpu"));
  if (parent->hasFnAttribute("target-features")) outlined->addFnAttr(parent->getFnAttribute("target-features"));

  // Emit the outlined body with the same builder; nested parallel loops run inline (null runtime).
  llvm::IRBuilderBase::InsertPoint saved = b.saveIP();
  llvm::Value *savedRuntime = runtime_;
  runtime_ = llvm::ConstantPointerNull::get(llvm::PointerType::get(ctx, 0));
  llvm::BasicBlock *entry = llvm::BasicBlock::Create(ctx, "entry", outlined);
  b.SetInsertPoint(entry);
  llvm::Value *contextArg = outlined->getArg(0);
  std::vector<llvm::Value *> captured(captures.size());
  for (size_t k = 0; k < captures.size(); ++k) {
    if (field[k] < 0) {
      captured[k] = captures[k];
      continue;
    }
    llvm::Value *slot = b.CreateStructGEP(captureType, contextArg, static_cast<unsigned>(field[k]));
    captured[k] = b.CreateLoad(fieldTypes[static_cast<size_t>(field[k])], slot);
  }
  loop(outlined->getArg(1), outlined->getArg(2), 1, [&](llvm::Value *i) { body(i, captured); }, name);
  b.CreateRetVoid();
  runtime_ = savedRuntime;

  // Global variables the body names directly (scratch buffers, tables, flags) also travel in the context, so
  // the bodies of identical kernels of different layers are identical functions and get merged before O3.
  llvm::SetVector<llvm::GlobalVariable *> globals;
  std::function<void(llvm::Value *)> collect = [&](llvm::Value *v) {
    if (auto *g = llvm::dyn_cast<llvm::GlobalVariable>(v)) {
      globals.insert(g);
    } else if (auto *ce = llvm::dyn_cast<llvm::ConstantExpr>(v)) {
      for (llvm::Value *op : ce->operands()) collect(op);
    }
  };
  for (llvm::BasicBlock &block : *outlined)
    for (llvm::Instruction &inst : block)
      for (llvm::Value *op : inst.operands()) collect(op);
  std::vector<llvm::Type *> allFields = fieldTypes;
  if (!globals.empty()) {
    std::vector<llvm::Constant *> constants(globals.begin(), globals.end());
    llvm::convertUsersOfConstantsToInstructions(constants, outlined);
    for (size_t g = 0; g < globals.size(); ++g) allFields.push_back(ptrType);
  }
  if (allFields.empty()) allFields.push_back(b.getInt8Ty());
  // A prefix of a struct has the same field offsets, so the capture loads above stay valid.
  llvm::StructType *contextType = llvm::StructType::get(ctx, allFields);
  if (!globals.empty()) {
    llvm::IRBuilder<> top(entry, entry->begin());
    for (size_t g = 0; g < globals.size(); ++g) {
      llvm::Value *slot = top.CreateStructGEP(contextType, contextArg, static_cast<unsigned>(fieldTypes.size() + g));
      llvm::Value *address = top.CreateLoad(ptrType, slot, globals[g]->getName());
      globals[g]->replaceUsesWithIf(address, [&](llvm::Use &use) {
        auto *user = llvm::dyn_cast<llvm::Instruction>(use.getUser());
        return user != nullptr && user->getFunction() == outlined;
      });
    }
  }

  // In the parent: the context struct (a static alloca in its entry block), then the call.
  b.restoreIP(saved);
  llvm::IRBuilder<> entryBuilder(&parent->getEntryBlock(), parent->getEntryBlock().begin());
  llvm::AllocaInst *contextSlot = entryBuilder.CreateAlloca(contextType, nullptr, std::string(name) + ".ctx");
  for (size_t k = 0; k < captures.size(); ++k)
    if (field[k] >= 0) b.CreateStore(captures[k], b.CreateStructGEP(contextType, contextSlot, static_cast<unsigned>(field[k])));
  for (size_t g = 0; g < globals.size(); ++g)
    b.CreateStore(globals[g], b.CreateStructGEP(contextType, contextSlot, static_cast<unsigned>(fieldTypes.size() + g)));

  llvm::FunctionCallee parallelFor = module_.getOrInsertFunction(
      "fluidml_parallel_for",
      llvm::FunctionType::get(b.getVoidTy(), {ptrType, ptrType, ptrType, b.getInt64Ty()}, false));
  llvm::Value *runtime = runtime_ != nullptr ? runtime_ : llvm::ConstantPointerNull::get(llvm::PointerType::get(ctx, 0));
  b.CreateCall(parallelFor, {runtime, outlined, contextSlot, i64(count)});
}

llvm::Value *KernelBuilder::convert(llvm::Value *value, ir::DType from, ir::DType to) {
  llvm::IRBuilder<> &b = builder_;
  if (from == to) return value;
  llvm::Type *target = scalarType(to);
  if (llvm::VectorType *vt = llvm::dyn_cast<llvm::VectorType>(value->getType()))
    target = llvm::VectorType::get(target, vt->getElementCount());
  const bool fromFloat = ir::isFloating(from);
  const bool toFloat = ir::isFloating(to);

  if (to == ir::DType::Bool) {
    llvm::Value *nonZero = fromFloat ? b.CreateFCmpUNE(value, llvm::Constant::getNullValue(value->getType()))
                                     : b.CreateICmpNE(value, llvm::Constant::getNullValue(value->getType()));
    return b.CreateZExt(nonZero, target);
  }
  if (fromFloat && toFloat) return b.CreateFPCast(value, target);
  if (fromFloat) {
    // NaN -> 0 and saturation at the integer range, as the interpreter's Cast.
    const llvm::Intrinsic::ID id = isUnsignedDType(to) ? llvm::Intrinsic::fptoui_sat : llvm::Intrinsic::fptosi_sat;
    return b.CreateIntrinsic(id, {target, value->getType()}, {value});
  }
  if (toFloat) return isUnsignedDType(from) ? b.CreateUIToFP(value, target) : b.CreateSIToFP(value, target);
  return b.CreateIntCast(value, target, /*isSigned=*/!isUnsignedDType(from));
}

llvm::Value *KernelBuilder::unaryMath(std::string_view function, llvm::Value *x) {
  llvm::IRBuilder<> &b = builder_;
  struct IntrinsicName {
    std::string_view name;
    llvm::Intrinsic::ID id;
  };
  static const IntrinsicName kIntrinsics[] = {
      {"exp", llvm::Intrinsic::exp},         {"log", llvm::Intrinsic::log},     {"sqrt", llvm::Intrinsic::sqrt},
      {"sin", llvm::Intrinsic::sin},         {"cos", llvm::Intrinsic::cos},     {"floor", llvm::Intrinsic::floor},
      {"ceil", llvm::Intrinsic::ceil},       {"round", llvm::Intrinsic::roundeven}, {"abs", llvm::Intrinsic::fabs},
      {"trunc", llvm::Intrinsic::trunc},     {"exp2", llvm::Intrinsic::exp2},   {"log2", llvm::Intrinsic::log2},
  };
  for (const IntrinsicName &entry : kIntrinsics)
    if (entry.name == function) return callIntrinsic(b, entry.id, {x});

  // No intrinsic in LLVM 19: the libm function, elementwise for vectors.
  llvm::Type *type = x->getType();
  llvm::Type *scalar = type->getScalarType();
  llvm::FunctionCallee callee =
      module_.getOrInsertFunction(libmName(function, scalar), llvm::FunctionType::get(scalar, {scalar}, false));
  if (auto *fn = llvm::dyn_cast<llvm::Function>(callee.getCallee())) {
    fn->setDoesNotThrow();
    fn->setDoesNotAccessMemory();
    fn->setWillReturn();
  }
  auto *vectorType = llvm::dyn_cast<llvm::FixedVectorType>(type);
  if (vectorType == nullptr) return b.CreateCall(callee, {x});
  llvm::Value *result = llvm::PoisonValue::get(type);
  for (unsigned lane = 0; lane < vectorType->getNumElements(); ++lane)
    result = b.CreateInsertElement(result, b.CreateCall(callee, {b.CreateExtractElement(x, lane)}), lane);
  return result;
}

llvm::Value *KernelBuilder::binaryMath(std::string_view function, llvm::Value *a, llvm::Value *b) {
  llvm::IRBuilder<> &ir = builder_;
  if (function == "pow") return callIntrinsic(ir, llvm::Intrinsic::pow, {a, b});
  if (function == "fmod") return ir.CreateFRem(a, b);
  if (function == "minnum") return callIntrinsic(ir, llvm::Intrinsic::minnum, {a, b});
  if (function == "maxnum") return callIntrinsic(ir, llvm::Intrinsic::maxnum, {a, b});
  // numpy's minimum/maximum, as the interpreter computes them: (a < b || a != a) ? a : b.
  if (function == "minimum" || function == "maximum") {
    llvm::Value *better = function == "minimum" ? ir.CreateFCmpOLT(a, b) : ir.CreateFCmpOGT(a, b);
    llvm::Value *aIsNan = ir.CreateFCmpUNO(a, a);
    return ir.CreateSelect(ir.CreateOr(better, aIsNan), a, b);
  }
  assert(false && "binaryMath: unknown function");
  return a;
}

}  // namespace fluidml::codegen
