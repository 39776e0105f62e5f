// Target descriptions from LLVM's knowledge of x86 CPUs (X86TargetParser), and the TargetMachine for one.
#include "core/codegen/target_machine.h"

#include <optional>

#include <llvm/ADT/SmallVector.h>
#include <llvm/ADT/StringMap.h>
#include <llvm/MC/TargetRegistry.h>
#include <llvm/Support/TargetSelect.h>
#include <llvm/Target/TargetOptions.h>
#include <llvm/TargetParser/Host.h>
#include <llvm/TargetParser/SubtargetFeature.h>
#include <llvm/TargetParser/Triple.h>
#include <llvm/TargetParser/X86TargetParser.h>

#include "core/codegen/module_builder.h"

namespace fluidml::codegen {

namespace {

constexpr const char *kCpuExamples =
    "native, x86-64, x86-64-v2, x86-64-v3 (AVX2), x86-64-v4 (AVX-512), haswell, skylake, skylake-avx512, "
    "icelake-server, sapphirerapids, znver2, znver3, znver4";

/// The ISA level of a set of enabled features.
std::string isaOf(bool avx512f, bool avx2) { return avx512f ? "avx512" : avx2 ? "avx2" : "sse4.2"; }

void initializeNativeTarget() {
  static const bool done = [] {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
    llvm::InitializeNativeTargetAsmParser();
    return true;
  }();
  (void)done;
}

}  // namespace

Expected<target::TargetDescription> resolveTarget(std::string_view cpu, std::string_view triple) {
  std::string tripleName = triple.empty() ? llvm::sys::getProcessTriple() : llvm::Triple::normalize(triple);
  const llvm::Triple parsed(tripleName);
  if (parsed.getArch() != llvm::Triple::x86_64)
    return Status::error("unsupported --target '" + std::string(triple) +
                         "': only x86_64 is supported (e.g. x86_64-unknown-linux-gnu, x86_64-pc-linux-gnu)");
  if (cpu.empty() || cpu == "native") {
    target::TargetDescription host = target::TargetDescription::host();
    host.triple = tripleName;
    host.cpu = llvm::sys::getHostCPUName().str();
    llvm::SubtargetFeatures features;
    const llvm::StringMap<bool> hostFeatures = llvm::sys::getHostCPUFeatures();
    for (const auto &feature : hostFeatures) features.AddFeature(feature.getKey(), feature.getValue());
    host.features = features.getString();
    const target::TargetDescription vectors =
        target::TargetDescription::forIsa(isaOf(hostFeatures.lookup("avx512f"), hostFeatures.lookup("avx2")));
    host.isa = vectors.isa;
    host.vectorBytes = vectors.vectorBytes;
    host.vectorRegisters = vectors.vectorRegisters;
    return host;
  }
  const std::string name(cpu);
  if (llvm::X86::parseArchX86(name, /*Only64Bit=*/true) == llvm::X86::CK_None)
    return Status::error("unknown --mcpu CPU '" + name + "'; valid examples: " + kCpuExamples);
  // The CPU's features with everything they imply (x86-64-v4 lists avx512vl, which implies avx512f).
  llvm::SmallVector<llvm::StringRef, 64> cpuFeatures;
  llvm::X86::getFeaturesForCPU(name, cpuFeatures);
  llvm::StringMap<bool> enabled;
  for (llvm::StringRef feature : cpuFeatures) {
    enabled[feature] = true;
    llvm::X86::updateImpliedFeatures(feature, true, enabled);
  }
  auto has = [&](llvm::StringRef feature) { return enabled.lookup(feature); };
  target::TargetDescription described = target::TargetDescription::forIsa(isaOf(has("avx512f"), has("avx2")));
  // Caches are the host's: a named CPU says nothing about the machine's, and the host is the best guess.
  described.cache = target::TargetDescription::host().cache;
  described.triple = tripleName;
  described.cpu = name;
  return described;
}

Expected<std::unique_ptr<llvm::TargetMachine>> createTargetMachine(const target::TargetDescription &target, bool pic) {
  initializeNativeTarget();
  std::string error;
  const llvm::Target *llvmTarget = llvm::TargetRegistry::lookupTarget(target.triple, error);
  if (llvmTarget == nullptr) return Status::internal("LLVM has no target for " + target.triple + ": " + error);
  std::string cpu = target.cpu;
  std::string features = target.features;
  if (cpu == "native") {  // a description made without LLVM (TargetDescription::host())
    FLUIDML_ASSIGN_OR_RETURN(target::TargetDescription host, resolveTarget("native", target.triple));
    cpu = host.cpu;
    features = host.features;
  }
  llvm::TargetOptions targetOptions;
  std::optional<llvm::Reloc::Model> reloc;
  if (pic) reloc = llvm::Reloc::PIC_;
  std::unique_ptr<llvm::TargetMachine> machine(llvmTarget->createTargetMachine(
      target.triple, cpu, features, targetOptions, reloc, std::nullopt, llvm::CodeGenOptLevel::Aggressive));
  if (!machine) return Status::internal("LLVM could not create a target machine for " + target.triple + " (" + cpu + ")");
  return machine;
}

}  // namespace fluidml::codegen
