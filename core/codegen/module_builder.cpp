// The module of a planned graph. Every node becomes one internal, never-inlined kernel function (so each is
// optimized on its own and compile time stays linear in the model); its pointer parameters are `noalias` unless
// the plan writes an output over an input, and carry the alignment and dereferenceable size the plan
// guarantees. The entry computes every operand address once from the plan (arena + offset, weights + offset,
// the caller's input/output pointers, or for views the address of what they view) and calls the kernels in
// schedule order. Byte-copy nodes (Reshape and friends) need no kernel: a view costs nothing, otherwise a memcpy.
// Weights get their addresses last: constants stand for themselves as placeholder globals while the kernels are
// emitted, so that a constant every kernel reads only re-laid-out (derived weights: packed GEMM panels) is
// left out of the weights blob, and the derived weights made meanwhile join it.
#include "core/codegen/module_builder.h"

#include <algorithm>
#include <cassert>
#include <cstring>
#include <map>
#include <system_error>

#include <llvm/ADT/StringMap.h>
#include <llvm/Analysis/CGSCCPassManager.h>
#include <llvm/Analysis/LoopAnalysisManager.h>
#include <llvm/ADT/SetVector.h>
#include <llvm/IR/LegacyPassManager.h>
#include <llvm/IR/ReplaceConstant.h>
#include <llvm/IR/PassManager.h>
#include <llvm/IR/Verifier.h>
#include <llvm/MC/TargetRegistry.h>
#include <llvm/Passes/PassBuilder.h>
#include <llvm/Support/FileSystem.h>
#include <llvm/Support/TargetSelect.h>
#include <llvm/Support/raw_ostream.h>
#include <llvm/TargetParser/Host.h>
#include <llvm/TargetParser/SubtargetFeature.h>
#include <llvm/Transforms/IPO/MergeFunctions.h>
#include <llvm/Transforms/Utils/Cloning.h>

#include "core/analysis/model_stats.h"
#include "core/codegen/lowering.h"

namespace fluidml::codegen {

namespace {

constexpr size_t kWeightsAlignment = 64;

size_t alignUp(size_t value, size_t alignment) { return (value + alignment - 1) / alignment * alignment; }

std::string nodeContext(const ir::Node &node) {
  return "node '" + node.name + "' (" + node.opType + ", #" + std::to_string(node.id) + ")";
}

/// Emits the module: kernels first, then the entry.
class ModuleEmitter {
 public:
  ModuleEmitter(llvm::LLVMContext &context, const ir::Graph &graph, const analysis::MemoryPlan &plan,
                llvm::TargetMachine &targetMachine, const target::TargetDescription &target)
      : context_(context), graph_(graph), plan_(plan), targetMachine_(targetMachine), target_(target) {}

  Expected<BuiltModule> build(const ModuleBuildOptions &options);

 private:
  void setTargetAttributes(llvm::Function &function) {
    function.addFnAttr("target-cpu", targetMachine_.getTargetCPU());
    function.addFnAttr("target-features", targetMachine_.getTargetFeatureString());
    function.addFnAttr(llvm::Attribute::NoUnwind);
  }
  /// Address of a value's first byte inside the entry; cached.
  llvm::Value *pointerOf(ir::ValueId value);
  /// Alignment the plan guarantees for a value's address (1 for caller buffers).
  uint64_t alignmentOf(ir::ValueId value) const;
  Status emitKernel(const ir::Node &node);
  /// After `node`'s kernel (its call in the entry: `call`): notes which constants it read as they are, and
  /// reports the constants whose last reader it was and that nobody reads raw (ModuleBuildOptions::constantConsumed).
  void noteConstantReads(const ir::Node &node, llvm::CallInst *call);
  /// Rewrites `kernel` to take the global variables it names as extra pointer arguments (passed by `call`), so
  /// that kernels identical but for their scratch globals (repeated layers) become identical functions.
  /// Returns the call that replaced `call`.
  llvm::CallInst *passGlobalsAsArguments(llvm::Function *kernel, llvm::CallInst *call);
  /// Lays out the weights the code still reads (graph constants read as they are, derived weights) and
  /// replaces their placeholder globals by addresses computed in the entry.
  WeightsLayout bindWeights();
  /// Moves the kernels' mutable zero-initialized globals into the arena allocation from `stateOffset` on;
  /// returns the bytes used.
  size_t placeStateInArena(size_t stateOffset);
  /// With profiling on: the clock read before `node`'s code in the entry (nullptr otherwise).
  llvm::Value *profileStart();
  /// With profiling on: records the time since `start` in a new slot for `node`.
  void profileEnd(llvm::Value *start, const ir::Node &node);
  void emitMemcpy(llvm::Value *dst, llvm::Value *src, size_t bytes) {
    if (bytes != 0) builder_->CreateMemCpy(dst, llvm::MaybeAlign(), src, llvm::MaybeAlign(), bytes);
  }

  llvm::LLVMContext &context_;
  const ir::Graph &graph_;
  const analysis::MemoryPlan &plan_;
  llvm::TargetMachine &targetMachine_;
  const target::TargetDescription &target_;
  std::unique_ptr<llvm::Module> module_;
  std::unique_ptr<llvm::IRBuilder<>> builder_;
  llvm::Function *entry_ = nullptr;
  std::vector<llvm::Value *> pointers_;  // by value id
  std::vector<int> inputSlot_;           // by value id: first graph-input slot, -1
  std::vector<int> outputSlot_;          // by value id: first graph-output slot, -1
  bool pointerTable_ = false;                // ModuleBuildOptions::constantPointerTable
  std::vector<uint64_t> constantAlignment_;  // by value id, in pointer-table mode
  std::vector<llvm::GlobalVariable *> constantPlaceholder_;  // by value id, until bindWeights
  std::function<void(ir::ValueId)> constantConsumed_;
  std::vector<int> kernelReadsLeft_;  // by value id: kernels still to build that read the constant
  std::vector<bool> readRaw_;         // by value id: something reads the constant as it is
  DerivedWeights derivedWeights_;
  std::map<std::string, std::string> strategies_;  // BuiltModule::strategies
  bool profile_ = false;                          // ModuleBuildOptions::profile
  std::vector<ir::NodeId> profiledNodes_;         // BuiltModule::profiledNodes
};

llvm::Value *ModuleEmitter::profileStart() {
  if (!profile_) return nullptr;
  llvm::FunctionCallee clock =
      module_->getOrInsertFunction("fluidml_profile_clock", llvm::FunctionType::get(builder_->getInt64Ty(), false));
  return builder_->CreateCall(clock, {}, "profile.start");
}

void ModuleEmitter::profileEnd(llvm::Value *start, const ir::Node &node) {
  if (start == nullptr) return;
  llvm::IRBuilder<> &b = *builder_;
  llvm::FunctionCallee record = module_->getOrInsertFunction(
      "fluidml_profile_record",
      llvm::FunctionType::get(b.getVoidTy(), {b.getPtrTy(), b.getInt64Ty(), b.getInt64Ty()}, false));
  b.CreateCall(record, {entry_->getArg(4), b.getInt64(profiledNodes_.size()), start});
  profiledNodes_.push_back(node.id);
}

uint64_t ModuleEmitter::alignmentOf(ir::ValueId value) const {
  const ir::Value &v = graph_.value(value);
  if (v.isConstant()) {
    if (!pointerTable_) return kWeightsAlignment;
    return std::max<uint64_t>(1, constantAlignment_[static_cast<size_t>(value)]);
  }
  const analysis::ValueStorage &s = plan_.storage[static_cast<size_t>(value)];
  if (s.kind == analysis::StorageKind::View) return alignmentOf(s.aliasOf);
  if (inputSlot_[static_cast<size_t>(value)] >= 0 || outputSlot_[static_cast<size_t>(value)] >= 0) return 1;
  if (s.kind == analysis::StorageKind::Arena || s.kind == analysis::StorageKind::InPlace)
    return std::max<uint64_t>(1, std::min<uint64_t>(plan_.alignment, 64));
  return 1;
}

llvm::Value *ModuleEmitter::pointerOf(ir::ValueId value) {
  llvm::Value *&cached = pointers_[static_cast<size_t>(value)];
  if (cached != nullptr) return cached;
  llvm::IRBuilder<> &b = *builder_;
  llvm::Type *ptrType = b.getPtrTy();
  const ir::Value &v = graph_.value(value);
  const analysis::ValueStorage &s = plan_.storage[static_cast<size_t>(value)];
  const int inputSlot = inputSlot_[static_cast<size_t>(value)];
  const int outputSlot = outputSlot_[static_cast<size_t>(value)];
  if (v.isConstant()) {
    auto *type = llvm::ArrayType::get(b.getInt8Ty(), std::max<size_t>(1, v.constant.bytes()));
    auto *placeholder = new llvm::GlobalVariable(*module_, type, true, llvm::GlobalValue::ExternalLinkage, nullptr,
                                                 "fluidml.constant." + std::to_string(value));
    constantPlaceholder_[static_cast<size_t>(value)] = placeholder;
    cached = placeholder;
  } else if (s.kind == analysis::StorageKind::View) {
    cached = pointerOf(s.aliasOf);
  } else if (inputSlot >= 0) {
    llvm::Value *slot = b.CreateConstInBoundsGEP1_64(ptrType, entry_->getArg(2), static_cast<uint64_t>(inputSlot));
    cached = b.CreateLoad(ptrType, slot, v.name + ".in");
  } else if (outputSlot >= 0) {
    llvm::Value *slot = b.CreateConstInBoundsGEP1_64(ptrType, entry_->getArg(3), static_cast<uint64_t>(outputSlot));
    cached = b.CreateLoad(ptrType, slot, v.name + ".out");
  } else if (s.kind == analysis::StorageKind::Arena || s.kind == analysis::StorageKind::InPlace) {
    const int64_t offset = plan_.offsetOf(value);
    assert(offset >= 0 && "an arena value without an offset");
    cached = b.CreateConstInBoundsGEP1_64(b.getInt8Ty(), entry_->getArg(0), static_cast<uint64_t>(offset), v.name);
  } else {
    cached = llvm::ConstantPointerNull::get(llvm::PointerType::get(context_, 0));
  }
  return cached;
}

Status ModuleEmitter::emitKernel(const ir::Node &node) {
  llvm::IRBuilder<> &b = *builder_;
  llvm::Type *ptrType = b.getPtrTy();
  const LoweringEntry *lowering = LoweringTable::instance().find(node.domain, node.opType);
  if (lowering == nullptr)
    return Status::error(nodeContext(node) + ": no code generation for op " + node.opType);

  // Operands actually passed: present inputs, then outputs that have storage.
  bool inPlace = false;
  std::vector<ir::ValueId> operands;
  std::vector<bool> written;
  for (ir::ValueId in : node.inputs)
    if (in != ir::kNoValue) {
      operands.push_back(in);
      written.push_back(false);
    }
  for (ir::ValueId out : node.outputs) {
    if (out == ir::kNoValue || plan_.storage[static_cast<size_t>(out)].kind == analysis::StorageKind::None) continue;
    if (plan_.storage[static_cast<size_t>(out)].kind == analysis::StorageKind::InPlace) inPlace = true;
    operands.push_back(out);
    written.push_back(true);
  }
  // The same buffer passed twice where one is written (an input also the output) also forbids noalias.
  for (size_t i = 0; i < operands.size() && !inPlace; ++i)
    for (size_t j = i + 1; j < operands.size(); ++j)
      if ((written[i] || written[j]) && operands[i] == operands[j]) inPlace = true;

  std::vector<llvm::Type *> params(operands.size() + 1, ptrType);
  llvm::Function *kernel = llvm::Function::Create(llvm::FunctionType::get(b.getVoidTy(), params, false),
                                                  llvm::GlobalValue::InternalLinkage, "k" + std::to_string(node.id),
                                                  *module_);
  setTargetAttributes(*kernel);
  kernel->setUnnamedAddr(llvm::GlobalValue::UnnamedAddr::Global);
  kernel->addFnAttr(llvm::Attribute::NoInline);
  for (size_t p = 0; p < operands.size(); ++p) {
    if (!inPlace) kernel->addParamAttr(static_cast<unsigned>(p), llvm::Attribute::NoAlias);
    if (!written[p]) kernel->addParamAttr(static_cast<unsigned>(p), llvm::Attribute::ReadOnly);
    const size_t bytes = graph_.value(operands[p]).type.bytes();
    if (bytes != 0)
      kernel->addParamAttr(static_cast<unsigned>(p), llvm::Attribute::getWithDereferenceableBytes(context_, bytes));
    const uint64_t align = alignmentOf(operands[p]);
    if (align > 1)
      kernel->addParamAttr(static_cast<unsigned>(p), llvm::Attribute::getWithAlignment(context_, llvm::Align(align)));
  }

  // The call in the entry.
  std::vector<llvm::Value *> args;
  for (ir::ValueId operand : operands) args.push_back(pointerOf(operand));
  args.push_back(entry_->getArg(4));
  llvm::CallInst *call = b.CreateCall(kernel, args);

  // The body, with a builder of its own so that the entry's insertion point stays put.
  llvm::IRBuilder<> kb(context_);
  llvm::BasicBlock *body = llvm::BasicBlock::Create(context_, "entry", kernel);
  kb.SetInsertPoint(body);
  KernelBuilder kernelBuilder(*module_, kb, target_);
  kernelBuilder.setDerivedWeights(&derivedWeights_);
  size_t operandBytes = 0;
  for (ir::ValueId operand : operands) operandBytes += graph_.value(operand).type.bytes();
  kernelBuilder.setSerial(operandBytes < target_.serialBytes &&
                          analysis::nodeFlops(graph_, node) < target_.serialFlops);
  kernelBuilder.setRuntime(kernel->getArg(static_cast<unsigned>(operands.size())));
  KernelContext kc{graph_, node, graph_.opsetVersion(node.domain), kernelBuilder, {}, {}, inPlace};
  size_t p = 0;
  for (ir::ValueId in : node.inputs) kc.inputs.push_back(in == ir::kNoValue ? nullptr : kernel->getArg(static_cast<unsigned>(p++)));
  for (ir::ValueId out : node.outputs) {
    const bool present =
        out != ir::kNoValue && plan_.storage[static_cast<size_t>(out)].kind != analysis::StorageKind::None;
    kc.outputs.push_back(present ? kernel->getArg(static_cast<unsigned>(p++)) : nullptr);
  }
  Status status = lowering->emit(kc);
  if (!status.isOk()) return status.withContext(nodeContext(node));
  if (!kc.strategy.empty()) strategies_[node.name] = kc.strategy;
  if (kb.GetInsertBlock()->getTerminator() == nullptr) kb.CreateRetVoid();
  call = passGlobalsAsArguments(kernel, call);
  noteConstantReads(node, call);
  return Status::ok();
}

llvm::CallInst *ModuleEmitter::passGlobalsAsArguments(llvm::Function *kernel, llvm::CallInst *call) {
  llvm::SetVector<llvm::GlobalVariable *> globals;
  std::function<void(llvm::Value *)> collect = [&](llvm::Value *v) {
    if (auto *g = llvm::dyn_cast<llvm::GlobalVariable>(v)) {
      globals.insert(g);
    } else if (auto *ce = llvm::dyn_cast<llvm::ConstantExpr>(v)) {
      for (llvm::Value *op : ce->operands()) collect(op);
    }
  };
  for (llvm::BasicBlock &block : *kernel)
    for (llvm::Instruction &inst : block)
      for (llvm::Value *op : inst.operands()) collect(op);
  if (globals.empty()) return call;
  std::vector<llvm::Constant *> constants(globals.begin(), globals.end());
  llvm::convertUsersOfConstantsToInstructions(constants, kernel);

  llvm::FunctionType *oldType = kernel->getFunctionType();
  std::vector<llvm::Type *> params(oldType->param_begin(), oldType->param_end());
  const size_t firstGlobal = params.size();
  for (size_t g = 0; g < globals.size(); ++g) params.push_back(llvm::PointerType::get(context_, 0));
  llvm::Function *replacement = llvm::Function::Create(llvm::FunctionType::get(oldType->getReturnType(), params, false),
                                                       kernel->getLinkage(), "", *module_);
  replacement->copyAttributesFrom(kernel);
  replacement->takeName(kernel);
  replacement->splice(replacement->begin(), kernel);
  for (size_t a = 0; a < firstGlobal; ++a)
    kernel->getArg(static_cast<unsigned>(a))->replaceAllUsesWith(replacement->getArg(static_cast<unsigned>(a)));
  for (size_t g = 0; g < globals.size(); ++g) {
    llvm::Argument *arg = replacement->getArg(static_cast<unsigned>(firstGlobal + g));
    arg->setName(globals[g]->getName());
    if (globals[g]->getName().starts_with(kDerivedWeightPrefix)) {  // read-only weights, 64-byte aligned
      const unsigned index = static_cast<unsigned>(firstGlobal + g);
      replacement->addParamAttr(index, llvm::Attribute::NoAlias);
      replacement->addParamAttr(index, llvm::Attribute::ReadOnly);
      replacement->addParamAttr(index, llvm::Attribute::getWithAlignment(context_, llvm::Align(kWeightsAlignment)));
      replacement->addParamAttr(index, llvm::Attribute::getWithDereferenceableBytes(
                                           context_, module_->getDataLayout().getTypeAllocSize(globals[g]->getValueType())));
    }
    globals[g]->replaceUsesWithIf(arg, [&](llvm::Use &use) {
      auto *user = llvm::dyn_cast<llvm::Instruction>(use.getUser());
      return user != nullptr && user->getFunction() == replacement;
    });
  }
  std::vector<llvm::Value *> args(call->arg_begin(), call->arg_end());
  args.insert(args.end(), globals.begin(), globals.end());
  llvm::IRBuilder<> at(call);
  llvm::CallInst *replacementCall = at.CreateCall(replacement, args);
  call->eraseFromParent();
  kernel->eraseFromParent();
  return replacementCall;
}

void ModuleEmitter::noteConstantReads(const ir::Node &node, llvm::CallInst *call) {
  llvm::Function *callee = call->getCalledFunction();
  for (unsigned a = 0; a < call->arg_size(); ++a) {
    auto *placeholder = llvm::dyn_cast<llvm::GlobalVariable>(call->getArgOperand(a));
    if (placeholder == nullptr) continue;
    for (ir::ValueId v : node.inputs)
      if (v != ir::kNoValue && constantPlaceholder_[static_cast<size_t>(v)] == placeholder &&
          !callee->getArg(a)->use_empty())
        readRaw_[static_cast<size_t>(v)] = true;
  }
  if (!constantConsumed_) return;
  std::vector<ir::ValueId> seen;
  for (ir::ValueId v : node.inputs) {
    if (v == ir::kNoValue || !graph_.value(v).isConstant() || std::find(seen.begin(), seen.end(), v) != seen.end())
      continue;
    seen.push_back(v);
    if (--kernelReadsLeft_[static_cast<size_t>(v)] == 0 && !readRaw_[static_cast<size_t>(v)]) constantConsumed_(v);
  }
}

Expected<BuiltModule> ModuleEmitter::build(const ModuleBuildOptions &options) {
  module_ = std::make_unique<llvm::Module>(graph_.name.empty() ? "model" : graph_.name, context_);
  module_->setTargetTriple(targetMachine_.getTargetTriple().str());
  module_->setDataLayout(targetMachine_.createDataLayout());
  builder_ = std::make_unique<llvm::IRBuilder<>>(context_);
  llvm::IRBuilder<> &b = *builder_;
  llvm::Type *ptrType = b.getPtrTy();

  const size_t capacity = graph_.valueCapacity();
  pointerTable_ = options.constantPointerTable;
  if (pointerTable_) {
    constantAlignment_ = options.constantAlignment;
    if (constantAlignment_.size() != capacity) return Status::internal("constant alignments for another graph");
  }
  if (plan_.storage.size() != capacity) return Status::error("the memory plan was made for another graph");
  pointers_.assign(capacity, nullptr);
  constantPlaceholder_.assign(capacity, nullptr);
  constantConsumed_ = options.constantConsumed;
  profile_ = options.profile;
  readRaw_.assign(capacity, false);
  kernelReadsLeft_.assign(capacity, 0);
  for (ir::ValueId v : graph_.outputs())
    if (v != ir::kNoValue) readRaw_[static_cast<size_t>(v)] = true;
  inputSlot_.assign(capacity, -1);
  outputSlot_.assign(capacity, -1);
  for (size_t k = 0; k < graph_.inputs().size(); ++k) {
    int &slot = inputSlot_[static_cast<size_t>(graph_.inputs()[k])];
    if (slot < 0) slot = static_cast<int>(k);
  }
  for (size_t k = 0; k < graph_.outputs().size(); ++k) {
    const ir::ValueId v = graph_.outputs()[k];
    if (v == ir::kNoValue) continue;
    int &slot = outputSlot_[static_cast<size_t>(v)];
    if (slot < 0) slot = static_cast<int>(k);
  }

  entry_ = llvm::Function::Create(
      llvm::FunctionType::get(b.getVoidTy(), {ptrType, ptrType, ptrType, ptrType, ptrType}, false),
      llvm::GlobalValue::ExternalLinkage, options.entryName, *module_);
  setTargetAttributes(*entry_);
  static const char *const kArgNames[] = {"arena", "weights", "inputs", "outputs", "runtime"};
  for (unsigned a = 0; a < 5; ++a) entry_->getArg(a)->setName(kArgNames[a]);
  b.SetInsertPoint(llvm::BasicBlock::Create(context_, "entry", entry_));

  for (ir::NodeId id : graph_.order()) {
    std::vector<ir::ValueId> seen;
    for (ir::ValueId in : graph_.node(id).inputs)
      if (in != ir::kNoValue && graph_.value(in).isConstant() && std::find(seen.begin(), seen.end(), in) == seen.end()) {
        seen.push_back(in);
        ++kernelReadsLeft_[static_cast<size_t>(in)];
      }
  }
  // Every kernel must read and write the layouts its operands have: checked once, before any code exists.
  for (ir::NodeId id : graph_.order()) FLUIDML_RETURN_IF_ERROR(checkNodeLayouts(graph_, graph_.node(id)));
  for (ir::NodeId id : graph_.order()) {
    const ir::Node &node = graph_.node(id);
    bool anyStorage = false;
    bool allViews = true;
    for (ir::ValueId out : node.outputs) {
      if (out == ir::kNoValue) continue;
      const analysis::StorageKind kind = plan_.storage[static_cast<size_t>(out)].kind;
      if (kind == analysis::StorageKind::None) continue;
      anyStorage = true;
      if (kind != analysis::StorageKind::View) allViews = false;
    }
    if (!anyStorage || allViews || isByteCopyNode(graph_, node)) {  // a view or a copy of a constant reads it raw
      for (ir::ValueId in : node.inputs)
        if (in != ir::kNoValue) readRaw_[static_cast<size_t>(in)] = true;
    }
    if (!anyStorage || allViews) continue;  // views cost nothing
    if (profile_) {  // operand addresses first, so that a profiled node's time covers its call alone
      for (ir::ValueId v : node.inputs)
        if (v != ir::kNoValue && !graph_.value(v).isConstant()) pointerOf(v);
      for (ir::ValueId v : node.outputs)
        if (v != ir::kNoValue && plan_.storage[static_cast<size_t>(v)].kind != analysis::StorageKind::None)
          pointerOf(v);
    }
    llvm::Value *start = profileStart();
    if (isByteCopyNode(graph_, node)) {
      const ir::ValueId out = node.outputs[0];
      emitMemcpy(pointerOf(out), pointerOf(node.inputs[0]), graph_.value(out).type.bytes());
    } else {
      FLUIDML_RETURN_IF_ERROR(emitKernel(node));
    }
    profileEnd(start, node);
  }

  // Graph outputs nobody wrote into the caller's buffer: constants, graph inputs, repeated output slots, and
  // outputs left as views of other storage.
  for (size_t k = 0; k < graph_.outputs().size(); ++k) {
    const ir::ValueId v = graph_.outputs()[k];
    if (v == ir::kNoValue) continue;
    const bool producedHere = !graph_.value(v).isConstant() && inputSlot_[static_cast<size_t>(v)] < 0 &&
                              outputSlot_[static_cast<size_t>(v)] == static_cast<int>(k) &&
                              plan_.storage[static_cast<size_t>(v)].kind != analysis::StorageKind::View;
    if (producedHere) continue;
    llvm::Value *slot = b.CreateConstInBoundsGEP1_64(ptrType, entry_->getArg(3), k);
    llvm::Value *dst = b.CreateLoad(ptrType, slot);
    emitMemcpy(dst, pointerOf(v), graph_.value(v).type.bytes());
  }
  b.CreateRetVoid();

  BuiltModule built;
  built.weights = bindWeights();
  built.stateOffset = alignUp(plan_.arenaBytes, 64);
  built.stateBytes = placeStateInArena(built.stateOffset);
  built.strategies = std::move(strategies_);
  built.profiledNodes = std::move(profiledNodes_);

  std::string error;
  llvm::raw_string_ostream errorStream(error);
  if (llvm::verifyModule(*module_, &errorStream))
    return Status::internal("generated LLVM IR does not verify: " + errorStream.str());
  built.module = std::move(module_);
  return built;
}

WeightsLayout ModuleEmitter::bindWeights() {
  WeightsLayout layout;
  llvm::Type *ptrType = llvm::PointerType::get(context_, 0);
  std::vector<llvm::GlobalVariable *> placeholders;  // by layout entry
  // Graph constants: a kernel argument the kernel never reads gets a null pointer instead (its parameter
  // attributes dropped); a constant nobody reads as it is stays out of the blob.
  for (size_t index = 0; index < constantPlaceholder_.size(); ++index) {
    const auto v = static_cast<ir::ValueId>(index);
    llvm::GlobalVariable *placeholder = constantPlaceholder_[index];
    if (placeholder == nullptr) continue;
    for (llvm::Use &use : llvm::make_early_inc_range(placeholder->uses())) {
      auto *call = llvm::dyn_cast<llvm::CallInst>(use.getUser());
      llvm::Function *callee = call != nullptr ? call->getCalledFunction() : nullptr;
      if (callee == nullptr || callee->isDeclaration() || !call->isArgOperand(&use)) continue;
      const unsigned arg = call->getArgOperandNo(&use);
      if (!callee->getArg(arg)->use_empty()) continue;
      callee->removeParamAttr(arg, llvm::Attribute::Dereferenceable);
      callee->removeParamAttr(arg, llvm::Attribute::Alignment);
      use.set(llvm::ConstantPointerNull::get(llvm::PointerType::get(context_, 0)));
    }
    if (placeholder->use_empty()) {
      placeholder->eraseFromParent();
      continue;
    }
    assert(graph_.value(v).isConstant() && "a constant read raw was reported consumed");
    layout.entries.push_back({v, graph_.value(v).name, graph_.value(v).constant, 0});
    placeholders.push_back(placeholder);
  }
  for (auto &[name, data] : derivedWeights_.byName) {
    llvm::GlobalVariable *global = module_->getNamedGlobal(std::string(kDerivedWeightPrefix) + name);
    if (global == nullptr || global->use_empty()) continue;
    layout.entries.push_back({ir::kNoValue, name, data, 0});
    placeholders.push_back(global);
  }
  size_t offset = 0;
  for (WeightsLayout::Entry &entry : layout.entries) {
    entry.offset = offset;
    offset = alignUp(offset + entry.data.bytes(), kWeightsAlignment);
  }
  layout.bytes = offset;

  // Addresses at the top of the entry: blob + offset, or the pointer-table slot.
  llvm::IRBuilder<> at(&entry_->getEntryBlock(), entry_->getEntryBlock().begin());
  for (size_t e = 0; e < layout.entries.size(); ++e) {
    const WeightsLayout::Entry &entry = layout.entries[e];
    llvm::Value *address;
    if (pointerTable_) {
      llvm::Value *slot = at.CreateConstInBoundsGEP1_64(ptrType, entry_->getArg(1), e);
      address = at.CreateLoad(ptrType, slot, entry.name + ".w");
    } else {
      address = at.CreateConstInBoundsGEP1_64(at.getInt8Ty(), entry_->getArg(1), entry.offset, entry.name + ".w");
    }
    placeholders[e]->replaceAllUsesWith(address);
    placeholders[e]->eraseFromParent();
  }
  return layout;
}

size_t ModuleEmitter::placeStateInArena(size_t stateOffset) {
  const llvm::DataLayout &layout = module_->getDataLayout();
  std::vector<llvm::GlobalVariable *> movable;
  for (llvm::GlobalVariable &global : module_->globals()) {
    if (global.isConstant() || !global.hasLocalLinkage() || !global.hasInitializer() ||
        !global.getInitializer()->isNullValue())
      continue;
    // Only globals the kernels receive as arguments from the entry (see passGlobalsAsArguments).
    const bool onlyEntryCalls = std::all_of(global.user_begin(), global.user_end(), [&](llvm::User *user) {
      auto *call = llvm::dyn_cast<llvm::CallInst>(user);
      return call != nullptr && call->getFunction() == entry_ && call->getCalledFunction() != nullptr &&
             call->getCalledFunction() != llvm::dyn_cast<llvm::Value>(&global);
    });
    if (onlyEntryCalls && !global.use_empty()) movable.push_back(&global);
  }
  size_t offset = stateOffset;
  llvm::IRBuilder<> at(&entry_->getEntryBlock(), entry_->getEntryBlock().begin());
  for (llvm::GlobalVariable *global : movable) {
    const size_t bytes = layout.getTypeAllocSize(global->getValueType());
    const size_t align = std::max<size_t>(64, global->getAlign().valueOrOne().value());
    offset = alignUp(offset, align);
    llvm::Value *address = at.CreateConstInBoundsGEP1_64(at.getInt8Ty(), entry_->getArg(0), offset, global->getName());
    global->replaceAllUsesWith(address);
    global->eraseFromParent();
    offset += bytes;
  }
  return alignUp(offset, 64) - stateOffset;
}

}  // namespace

void writeWeights(const WeightsLayout &layout, uint8_t *blob) {
  if (layout.bytes == 0) return;
  std::memset(blob, 0, layout.bytes);
  for (const WeightsLayout::Entry &entry : layout.entries)
    if (entry.data.bytes() != 0) std::memcpy(blob + entry.offset, entry.data.rawData(), entry.data.bytes());
}

bool isByteCopyNode(const ir::Graph &graph, const ir::Node &node) {
  if (!node.domain.empty()) return false;
  static const char *const kOps[] = {"Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity", "Dropout"};
  if (std::none_of(std::begin(kOps), std::end(kOps), [&](const char *op) { return node.opType == op; })) return false;
  if (!node.hasInput(0) || node.output(0) == ir::kNoValue) return false;
  if (node.opType == "Dropout") {
    const ir::ValueId mask = node.output(1);
    if (mask != ir::kNoValue && (!graph.value(mask).uses.empty() || graph.isGraphOutput(mask))) return false;
    if (node.hasInput(2)) {
      const ir::Value &training = graph.value(node.inputs[2]);
      if (!training.isConstant() || training.constant.numel() != 1 || training.constant.elementAsInt(0) != 0)
        return false;
    }
  } else if (node.outputs.size() != 1) {
    return false;
  }
  const ir::TensorType &in = graph.value(node.inputs[0]).type;
  const ir::TensorType &out = graph.value(node.outputs[0]).type;
  return in.dtype == out.dtype && in.bytes() == out.bytes() && in.layout.isRowMajor() && out.layout.isRowMajor();
}

Expected<BuiltModule> buildModule(llvm::LLVMContext &context, const ir::Graph &graph, const analysis::MemoryPlan &plan,
                                  llvm::TargetMachine &targetMachine, const target::TargetDescription &target,
                                  const ModuleBuildOptions &options) {
  ModuleEmitter emitter(context, graph, plan, targetMachine, target);
  return emitter.build(options);
}

void optimizeModule(llvm::Module &module, llvm::TargetMachine &targetMachine) {
  llvm::LoopAnalysisManager lam;
  llvm::FunctionAnalysisManager fam;
  llvm::CGSCCAnalysisManager cgam;
  llvm::ModuleAnalysisManager mam;
  llvm::PipelineTuningOptions tuning;
  tuning.LoopVectorization = true;
  tuning.SLPVectorization = true;
  tuning.LoopUnrolling = true;
  llvm::PassBuilder passBuilder(&targetMachine, tuning);
  passBuilder.registerModuleAnalyses(mam);
  passBuilder.registerCGSCCAnalyses(cgam);
  passBuilder.registerFunctionAnalyses(fam);
  passBuilder.registerLoopAnalyses(lam);
  passBuilder.crossRegisterProxies(lam, fam, cgam, mam);
  // Identical kernels (repeated layers: same op, attributes, types and baked-in constants) are merged first,
  // so O3 and code generation see each distinct kernel once.
  llvm::ModulePassManager passes;
  passes.addPass(llvm::MergeFunctionsPass());
  passes.addPass(passBuilder.buildPerModuleDefaultPipeline(llvm::OptimizationLevel::O3));
  passes.run(module, mam);
}

Status writeIr(const llvm::Module &module, const std::string &path) {
  std::error_code ec;
  llvm::raw_fd_ostream out(path, ec, llvm::sys::fs::OF_Text);
  if (ec) return Status::error(path + ": cannot write: " + ec.message());
  module.print(out, nullptr);
  return Status::ok();
}

Status emitMachineCode(const llvm::Module &module, llvm::TargetMachine &targetMachine, const std::string &path,
                       bool assembly) {
  std::unique_ptr<llvm::Module> clone = llvm::CloneModule(module);
  std::error_code ec;
  llvm::raw_fd_ostream out(path, ec, assembly ? llvm::sys::fs::OF_Text : llvm::sys::fs::OF_None);
  if (ec) return Status::error(path + ": cannot write: " + ec.message());
  llvm::legacy::PassManager passes;
  const llvm::CodeGenFileType type = assembly ? llvm::CodeGenFileType::AssemblyFile : llvm::CodeGenFileType::ObjectFile;
  if (targetMachine.addPassesToEmitFile(passes, out, nullptr, type))
    return Status::internal("LLVM cannot emit " + std::string(assembly ? "assembly" : "object files") +
                            " for this target");
  passes.run(*clone);
  out.flush();
  if (out.has_error()) return Status::error(path + ": write failed");
  return Status::ok();
}

}  // namespace fluidml::codegen
