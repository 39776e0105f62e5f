// Resolving a target description from command-line names (--mcpu, --target), where LLVM knows the CPUs. The
// header has no LLVM types, so tools can call it; createTargetMachine (module_builder.h) turns the result into
// an llvm::TargetMachine.
#pragma once

#include <string>
#include <string_view>

#include "core/support/status.h"
#include "core/target/target_description.h"

namespace fluidml::codegen {

/// The target for an LLVM CPU name and a target triple: "" or "native" is this host (its CPU name and detected
/// features), an x86-64 level ("x86-64-v2", "x86-64-v3" = AVX2, "x86-64-v4" = AVX-512) or an LLVM CPU name
/// ("haswell", "skylake-avx512", "znver3", ...) gets that CPU's features; "" triple is the host's. The vector
/// width and register count follow the CPU's features. Unknown CPUs and non-x86_64 triples are user errors that
/// list what is valid.
Expected<target::TargetDescription> resolveTarget(std::string_view cpu, std::string_view triple = {});

}  // namespace fluidml::codegen
