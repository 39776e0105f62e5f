// compileJit: builds the model's module, runs O3 for the host, and JIT-compiles it with one ORC LLJIT per
// model. The LLJIT resolves libc/libm from the host process and the runtime's C ABI (fluidml_parallel_for)
// from the address linked into this binary, so executables need no -rdynamic. The CompiledModel owns the
// JIT, the arena (allocated once) and the thread pool, and shares the graph's constant buffers, which the
// code reaches through a table of their addresses (no second copy of the weights in memory); run() only checks
// and calls. The object code is cached on disk (jit_cache.h): compiling a model seen before only links.
#include <unistd.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <set>

#include <llvm/ExecutionEngine/Orc/CompileUtils.h>
#include <llvm/ExecutionEngine/Orc/ExecutionUtils.h>
#include <llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h>
#include <llvm/ExecutionEngine/Orc/LLJIT.h>
#include <llvm/ExecutionEngine/Orc/ThreadSafeModule.h>
#include <llvm/IR/LegacyPassManager.h>
#include <llvm/Support/Error.h>
#include <llvm/Support/MemoryBuffer.h>
#include <llvm/Support/SmallVectorMemoryBuffer.h>
#include <llvm/Support/raw_ostream.h>
#include <llvm/Support/xxhash.h>
#include <llvm/Config/llvm-config.h>

#include "core/codegen/compiler.h"
#include "core/codegen/jit_cache.h"
#include "core/codegen/lowering.h"
#include "core/codegen/module_builder.h"
#include "core/runtime/runtime_abi.h"
#include "core/runtime/thread_pool.h"

namespace fluidml::codegen {

namespace {

std::string errorText(llvm::Error error) { return llvm::toString(std::move(error)); }

struct AlignedFree {
  void operator()(uint8_t *p) const { std::free(p); }
};
using AlignedBuffer = std::unique_ptr<uint8_t, AlignedFree>;

/// 64-byte aligned, never null (zero-byte requests still get one cache line).
AlignedBuffer allocateAligned(size_t bytes) {
  const size_t size = std::max<size_t>(64, (bytes + 63) / 64 * 64);
  return AlignedBuffer(static_cast<uint8_t *>(std::aligned_alloc(64, size)));
}

class JitModel final : public CompiledModel {
 public:
  Status run(const std::vector<ir::Tensor> &inputs, std::vector<ir::Tensor> &outputs) override {
    if (inputs.size() != inputTypes_.size())
      return Status::error("the model has " + std::to_string(inputTypes_.size()) + " inputs, got " +
                           std::to_string(inputs.size()));
    for (size_t i = 0; i < inputs.size(); ++i) {
      if (inputs[i].dtype() != inputTypes_[i].dtype)
        return Status::error("input '" + inputNames_[i] + "' must be " + std::string(ir::dtypeName(inputTypes_[i].dtype)) +
                             ", got " + std::string(ir::dtypeName(inputs[i].dtype())));
      if (inputs[i].shape() != inputTypes_[i].shape)
        return Status::error("input '" + inputNames_[i] + "' must have shape " + ir::shapeToString(inputTypes_[i].shape) +
                             ", got " + ir::shapeToString(inputs[i].shape()));
      inputPointers_[i] = const_cast<void *>(inputs[i].rawData());
    }
    if (outputs.empty()) {  // convenience for callers that do not preallocate (this path allocates)
      for (const ir::TensorType &type : outputTypes_) outputs.push_back(ir::Tensor::zeros(type.dtype, type.shape));
    }
    if (outputs.size() != outputTypes_.size())
      return Status::error("the model has " + std::to_string(outputTypes_.size()) + " outputs, got " +
                           std::to_string(outputs.size()) + " output buffers");
    for (size_t i = 0; i < outputs.size(); ++i) {
      if (outputs[i].dtype() != outputTypes_[i].dtype || outputs[i].shape() != outputTypes_[i].shape)
        return Status::error("output buffer " + std::to_string(i) + " must be " + outputTypes_[i].toString() + ", got " +
                             outputs[i].type().toString());
      outputPointers_[i] = outputs[i].rawData();
    }
    entry_(arena_.get(), reinterpret_cast<const uint8_t *>(constantTable_.data()), inputPointers_.data(),
           outputPointers_.data(), &runtime_);
    return Status::ok();
  }
  std::vector<ir::TensorType> outputTypes() const override { return outputTypes_; }
  double compileMilliseconds() const override { return compileMs_; }
  size_t arenaBytes() const override { return arenaBytes_; }
  size_t scratchBytes() const override { return scratchBytes_; }
  size_t weightsBytes() const override { return weightsBytes_; }
  uint8_t *arenaData() override { return arena_.get(); }
  const std::map<std::string, std::string> &kernelStrategies() const override { return strategies_; }
  std::vector<NodeProfile> profile() const override {
    std::vector<NodeProfile> nodes = profiledNodes_;
    for (size_t k = 0; k < nodes.size(); ++k) {
      nodes[k].nanoseconds = profileSlots_[k].nanoseconds;
      nodes[k].calls = profileSlots_[k].calls;
    }
    return nodes;
  }
  void resetProfile() override {
    for (fluidml_profile_slot &slot : profileSlots_) slot = {0, 0};
  }

  std::unique_ptr<llvm::orc::LLJIT> jit_;
  fluidml_entry_fn entry_ = nullptr;
  AlignedBuffer arena_;
  std::vector<ir::Tensor> constants_;         // the buffers the code reads constants from
  std::vector<const void *> constantTable_;  // their addresses: the entry's `weights` argument
  size_t arenaBytes_ = 0;
  size_t scratchBytes_ = 0;
  size_t weightsBytes_ = 0;
  std::map<std::string, std::string> strategies_;
  std::vector<NodeProfile> profiledNodes_;          // by profile slot, counters unset
  std::vector<fluidml_profile_slot> profileSlots_;  // what the entry adds to (runtime_.profile)
  std::unique_ptr<runtime::ThreadPool> pool_;
  fluidml_runtime runtime_;
  std::vector<ir::TensorType> inputTypes_, outputTypes_;
  std::vector<std::string> inputNames_;
  std::vector<void *> inputPointers_, outputPointers_;
  double compileMs_ = 0;
};

}  // namespace

std::vector<std::string> unloweredOps(const ir::Graph &graph) {
  std::vector<std::string> missing;
  std::set<std::string> seen;
  const LoweringTable &table = LoweringTable::instance();
  for (ir::NodeId id : graph.order()) {
    const ir::Node &node = graph.node(id);
    if (isByteCopyNode(graph, node)) continue;
    if (table.find(node.domain, node.opType) != nullptr) continue;
    const std::string name = node.domain.empty() ? node.opType : node.domain + "." + node.opType;
    if (seen.insert(name).second) missing.push_back(name);
  }
  return missing;
}

namespace {

std::atomic<bool> cacheEnabled{true};
std::atomic<bool> lastCompileCached{false};
/// Bump when optimizeModule, the target machine or anything else that shapes the object for the same IR changes.
constexpr const char *kCacheVersion = "fluidml-jit-1";

/// "NCHW8c,row-major->NCHW8c": the layouts of a node's operands that are not constants (always row-major).
std::string layoutsOf(const ir::Graph &graph, const ir::Node &node) {
  auto text = [&](const std::vector<ir::ValueId> &values) {
    std::string out;
    for (ir::ValueId v : values) {
      if (v == ir::kNoValue || graph.value(v).isConstant()) continue;
      const ir::TensorType &type = graph.value(v).type;
      out += (out.empty() ? "" : ",") + (type.layout.isRowMajor() ? std::string("row-major") : type.layout.toString(type.rank()));
    }
    return out;
  };
  return text(node.inputs) + "->" + text(node.outputs);
}

/// The cache file name of a module: a hash of everything that decides its machine code.
std::string cacheKey(const llvm::Module &module, llvm::TargetMachine &targetMachine,
                     const target::TargetDescription &target) {
  std::string text;
  llvm::raw_string_ostream os(text);
  os << kCacheVersion << '\n' << LLVM_VERSION_STRING << '\n' << targetMachine.getTargetTriple().str() << '\n'
     << targetMachine.getTargetCPU() << '\n' << targetMachine.getTargetFeatureString() << '\n'
     << target.summary() << '\n';
  module.print(os, nullptr);
  os.flush();
  const llvm::XXH128_hash_t hash =
      llvm::xxh3_128bits(llvm::ArrayRef<uint8_t>(reinterpret_cast<const uint8_t *>(text.data()), text.size()));
  char name[40];
  std::snprintf(name, sizeof name, "%016llx%016llx", static_cast<unsigned long long>(hash.high64),
                static_cast<unsigned long long>(hash.low64));
  return name;
}

Expected<std::unique_ptr<llvm::MemoryBuffer>> emitObject(llvm::Module &module, llvm::TargetMachine &targetMachine) {
  llvm::SmallVector<char, 0> bytes;
  llvm::raw_svector_ostream os(bytes);
  llvm::legacy::PassManager passes;
  if (targetMachine.addPassesToEmitFile(passes, os, nullptr, llvm::CodeGenFileType::ObjectFile))
    return Status::internal("LLVM cannot emit object files for this target");
  passes.run(module);
  return std::unique_ptr<llvm::MemoryBuffer>(
      std::make_unique<llvm::SmallVectorMemoryBuffer>(std::move(bytes), "fluidml-model.o", false));
}

/// Best effort: a cache that cannot be written only costs the next run a compilation.
void storeInCache(const std::string &dir, const std::string &key, const llvm::MemoryBuffer &object) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return;
  const std::string path = dir + "/" + key + ".o";
  const std::string temporary = path + ".tmp" + std::to_string(getpid());
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    out.write(object.getBufferStart(), static_cast<std::streamsize>(object.getBufferSize()));
    if (!out) {
      std::filesystem::remove(temporary, ec);
      return;
    }
  }
  std::filesystem::rename(temporary, path, ec);
  if (ec) std::filesystem::remove(temporary, ec);
}

/// A fresh LLJIT with the host process's symbols and the runtime ABI, holding `object`; the entry's address.
Expected<fluidml_entry_fn> linkObject(std::unique_ptr<llvm::orc::LLJIT> &jitOut, const std::string &cpu,
                                      std::unique_ptr<llvm::MemoryBuffer> object) {
  llvm::Expected<llvm::orc::JITTargetMachineBuilder> machineBuilder = llvm::orc::JITTargetMachineBuilder::detectHost();
  if (!machineBuilder) return Status::internal("LLVM JIT: " + errorText(machineBuilder.takeError()));
  machineBuilder->setCodeGenOptLevel(llvm::CodeGenOptLevel::Aggressive);
  machineBuilder->setCPU(cpu);
  llvm::Expected<std::unique_ptr<llvm::orc::LLJIT>> jit =
      llvm::orc::LLJITBuilder().setJITTargetMachineBuilder(std::move(*machineBuilder)).create();
  if (!jit) return Status::internal("LLVM JIT: " + errorText(jit.takeError()));
  llvm::orc::LLJIT &lljit = **jit;
  llvm::orc::JITDylib &dylib = lljit.getMainJITDylib();
  auto processSymbols = llvm::orc::DynamicLibrarySearchGenerator::GetForCurrentProcess(
      lljit.getDataLayout().getGlobalPrefix());
  if (!processSymbols) return Status::internal("LLVM JIT: " + errorText(processSymbols.takeError()));
  dylib.addGenerator(std::move(*processSymbols));
  llvm::orc::SymbolMap runtimeSymbols;
  auto define = [&](const char *name, auto *function) {
    runtimeSymbols[lljit.mangleAndIntern(name)] = llvm::orc::ExecutorSymbolDef(
        llvm::orc::ExecutorAddr::fromPtr(function), llvm::JITSymbolFlags::Exported | llvm::JITSymbolFlags::Callable);
  };
  define("fluidml_parallel_for", &fluidml_parallel_for);
  define("fluidml_profile_clock", &fluidml_profile_clock);
  define("fluidml_profile_record", &fluidml_profile_record);
  if (llvm::Error error = dylib.define(llvm::orc::absoluteSymbols(std::move(runtimeSymbols))))
    return Status::internal("LLVM JIT: " + errorText(std::move(error)));
  if (llvm::Error error = lljit.addObjectFile(std::move(object)))
    return Status::internal("LLVM JIT: " + errorText(std::move(error)));
  llvm::Expected<llvm::orc::ExecutorAddr> entry = lljit.lookup("fluidml_model_run");
  if (!entry) return Status::internal("LLVM JIT: " + errorText(entry.takeError()));
  jitOut = std::move(*jit);
  return entry->toPtr<fluidml_entry_fn>();
}

}  // namespace

std::string jitCacheDirectory() {
  if (!cacheEnabled.load()) return "";
  if (const char *dir = std::getenv("FLUIDML_CACHE_DIR"); dir != nullptr && *dir != '\0') {
    const std::string value(dir);
    return value == "off" || value == "0" ? "" : value;
  }
  if (const char *xdg = std::getenv("XDG_CACHE_HOME"); xdg != nullptr && *xdg != '\0')
    return std::string(xdg) + "/fluidml/jit";
  if (const char *home = std::getenv("HOME"); home != nullptr && *home != '\0')
    return std::string(home) + "/.cache/fluidml/jit";
  return "";
}

void setJitCacheEnabled(bool enabled) { cacheEnabled.store(enabled); }
bool lastJitCompileWasCached() { return lastCompileCached.load(); }

namespace {

Expected<std::unique_ptr<CompiledModel>> compileJitWith(const ir::Graph &graph, const analysis::MemoryPlan &plan,
                                                        const CompileOptions &options,
                                                        std::function<void(ir::ValueId)> constantConsumed) {
  const auto start = std::chrono::steady_clock::now();
  lastCompileCached.store(false);
  const std::vector<std::string> missing = unloweredOps(graph);
  if (!missing.empty()) {
    std::string list;
    for (const std::string &op : missing) list += (list.empty() ? "" : ", ") + op;
    return Status::error("no code generation yet for op" + std::string(missing.size() > 1 ? "s " : " ") + list);
  }

  target::TargetDescription target = options.target;
  target.threads = options.threads;
  FLUIDML_ASSIGN_OR_RETURN(std::unique_ptr<llvm::TargetMachine> targetMachine, createTargetMachine(target, true));
  auto context = std::make_unique<llvm::LLVMContext>();
  // Constants stay where the graph holds them (shared, immutable buffers the model keeps alive): no copy; the
  // entry reads their addresses, and those of the derived weights, from a table, so the code does not depend on
  // them and can be cached.
  auto model = std::make_unique<JitModel>();
  ModuleBuildOptions buildOptions;
  buildOptions.constantPointerTable = true;
  buildOptions.constantAlignment.assign(graph.valueCapacity(), 1);
  std::vector<ir::Tensor> clones(graph.valueCapacity());  // of constants that view memory the graph may not keep
  for (ir::ValueId v : graph.constants()) {
    const ir::Tensor &constant = graph.value(v).constant;
    if (!constant.ownsData()) clones[static_cast<size_t>(v)] = constant.clone();
    const ir::Tensor &read = constant.ownsData() ? constant : clones[static_cast<size_t>(v)];
    const auto address = reinterpret_cast<uintptr_t>(read.rawData());
    buildOptions.constantAlignment[static_cast<size_t>(v)] = address % 64 == 0 ? 64 : (address % 16 == 0 ? 16 : 1);
  }
  buildOptions.constantConsumed = std::move(constantConsumed);
  buildOptions.profile = options.profile;
  FLUIDML_ASSIGN_OR_RETURN(BuiltModule built, buildModule(*context, graph, plan, *targetMachine, target, buildOptions));
  // The model keeps only what the code reads: constants read as they are (shared buffers), derived weights.
  for (WeightsLayout::Entry &entry : built.weights.entries) {
    ir::Tensor data = entry.constant != ir::kNoValue && !clones[static_cast<size_t>(entry.constant)].isNull()
                          ? clones[static_cast<size_t>(entry.constant)]
                          : std::move(entry.data);
    model->constantTable_.push_back(data.rawData());
    model->constants_.push_back(std::move(data));
  }
  clones.clear();
  built.weights.entries.clear();
  const size_t weightsBytes = built.weights.bytes;
  std::unique_ptr<llvm::Module> module = std::move(built.module);
  const auto builtAt = std::chrono::steady_clock::now();

  const std::string cacheDir = jitCacheDirectory();
  const bool dumps = !options.dumpIrPath.empty() || !options.dumpAsmPath.empty();
  const std::string key = cacheDir.empty() ? std::string() : cacheKey(*module, *targetMachine, target);
  const std::string cpu = targetMachine->getTargetCPU().str();
  if (!cacheDir.empty() && !dumps) {
    auto cached = llvm::MemoryBuffer::getFile(cacheDir + "/" + key + ".o");
    if (cached) {
      auto entry = linkObject(model->jit_, cpu, std::move(*cached));
      if (entry) {
        model->entry_ = *entry;
        lastCompileCached.store(true);
      } else {  // unreadable or stale: compile again and replace it
        std::error_code ec;
        std::filesystem::remove(cacheDir + "/" + key + ".o", ec);
      }
    }
  }
  auto optimized = builtAt;
  if (model->entry_ == nullptr) {
    optimizeModule(*module, *targetMachine);
    optimized = std::chrono::steady_clock::now();
    if (!options.dumpIrPath.empty()) FLUIDML_RETURN_IF_ERROR(writeIr(*module, options.dumpIrPath));
    if (!options.dumpAsmPath.empty())
      FLUIDML_RETURN_IF_ERROR(emitMachineCode(*module, *targetMachine, options.dumpAsmPath, /*assembly=*/true));
    FLUIDML_ASSIGN_OR_RETURN(std::unique_ptr<llvm::MemoryBuffer> object, emitObject(*module, *targetMachine));
    if (!cacheDir.empty()) storeInCache(cacheDir, key, *object);
    FLUIDML_ASSIGN_OR_RETURN(model->entry_, linkObject(model->jit_, cpu, std::move(object)));
  }
  if (std::getenv("FLUIDML_COMPILE_TIMES") != nullptr) {  // a phase breakdown for compile-time work
    auto ms = [](auto a, auto b) { return std::chrono::duration<double, std::milli>(b - a).count(); };
    std::fprintf(stderr, "compileJit: build %.1f ms, O3 %.1f ms, codegen+link %.1f ms%s\n", ms(start, builtAt),
                 ms(builtAt, optimized), ms(optimized, std::chrono::steady_clock::now()),
                 lastCompileCached.load() ? " (cached object)" : "");
  }

  model->weightsBytes_ = weightsBytes;
  model->strategies_ = std::move(built.strategies);
  for (ir::NodeId id : built.profiledNodes) {
    const ir::Node &node = graph.node(id);
    NodeProfile entry;
    entry.name = node.name;
    entry.opType = node.domain.empty() ? node.opType : node.domain + "." + node.opType;
    if (auto found = model->strategies_.find(node.name); found != model->strategies_.end()) entry.strategy = found->second;
    else if (isByteCopyNode(graph, node)) entry.strategy = "copy";
    entry.layouts = layoutsOf(graph, node);
    model->profiledNodes_.push_back(std::move(entry));
  }
  model->profileSlots_.assign(model->profiledNodes_.size(), fluidml_profile_slot{0, 0});
  if (options.profile) model->runtime_.profile = model->profileSlots_.data();
  model->arenaBytes_ = plan.arenaBytes;
  model->scratchBytes_ = built.stateBytes;
  model->arena_ = allocateAligned(built.allocationBytes());
  std::memset(model->arena_.get() + built.stateOffset, 0, built.stateBytes);
  model->pool_ = std::make_unique<runtime::ThreadPool>(std::max(1, options.threads));
  model->runtime_.pool = model->pool_.get();
  for (ir::ValueId v : graph.inputs()) {
    model->inputTypes_.push_back(graph.value(v).type);
    model->inputNames_.push_back(graph.value(v).name);
  }
  for (ir::ValueId v : graph.outputs()) model->outputTypes_.push_back(graph.value(v).type);
  model->inputPointers_.assign(model->inputTypes_.size(), nullptr);
  model->outputPointers_.assign(model->outputTypes_.size(), nullptr);
  model->compileMs_ = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  return std::unique_ptr<CompiledModel>(std::move(model));
}

}  // namespace

Expected<std::unique_ptr<CompiledModel>> compileJit(const ir::Graph &graph, const analysis::MemoryPlan &plan,
                                                    const CompileOptions &options) {
  return compileJitWith(graph, plan, options, nullptr);
}

Expected<std::unique_ptr<CompiledModel>> compileJitReleasingPackedConstants(ir::Graph &graph,
                                                                            const analysis::MemoryPlan &plan,
                                                                            const CompileOptions &options) {
  size_t released = 0;
  auto compiled = compileJitWith(graph, plan, options, [&graph, &released](ir::ValueId v) {
    released += graph.value(v).constant.bytes();
    graph.value(v).constant = ir::Tensor();
#ifdef __GLIBC__
    malloc_trim(0);  // glibc keeps freed heap pages resident; without this the peak RSS holds both forms anyway
#endif
  });
  if (std::getenv("FLUIDML_COMPILE_TIMES") != nullptr)
    std::fprintf(stderr, "compileJit: freed %.1f MiB of constants read only packed\n", released / 1048576.0);
  return compiled;
}

}  // namespace fluidml::codegen
