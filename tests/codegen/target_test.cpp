// The target description: the host's, x86-64 levels and LLVM CPU names resolved by codegen::resolveTarget (vector
// width, register count, the GEMM register tile they give), user errors for unknown CPUs and non-x86_64 triples,
// and the TargetMachine made from a description.
#include <catch2/catch.hpp>

#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>
#include <llvm/Target/TargetMachine.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <unistd.h>

#include "core/codegen/compiler.h"
#include "core/codegen/gemm_kernel.h"
#include "core/codegen/jit_cache.h"
#include "core/codegen/kernel_builder.h"
#include "core/codegen/module_builder.h"
#include "core/codegen/target_machine.h"
#include "core/target/target_description.h"
#include "tests/codegen/codegen_test_util.h"
#include "tests/test_util.h"

using namespace fluidml;

namespace {

target::TargetDescription resolved(const std::string &cpu, const std::string &triple = "") {
  auto target = codegen::resolveTarget(cpu, triple);
  INFO((target ? std::string() : target.message()));
  REQUIRE(target.hasValue());
  return std::move(target).value();
}

/// The GEMM register tile (MR, NR) the kernels use for `target`.
std::pair<int64_t, int64_t> gemmTile(const target::TargetDescription &target) {
  llvm::LLVMContext context;
  llvm::Module module("tile", context);
  llvm::IRBuilder<> builder(context);
  codegen::KernelBuilder b(module, builder, target);
  return {codegen::gemm::tileRows(b), codegen::gemm::tileColumns(b)};
}

/// MatMul (odd sizes, constant weights: packed panels) into Softmax, and a 3x3 Conv over 70-column rows (the
/// direct conv), with their inputs.
std::pair<ir::Graph, std::vector<ir::Tensor>> productsGraph() {
  ir::GraphBuilder b = test::makeBuilder();
  const ir::ValueId x = b.input("x", ir::DType::Float32, {13, 37});
  const ir::ValueId w = b.constant("w", test::randomFloats({37, 45}, 2, -0.2f, 0.2f));
  b.output(b.op("Softmax", {b.op("MatMul", {x, w})}, {{"axis", int64_t{-1}}}));
  const ir::ValueId image = b.input("image", ir::DType::Float32, {1, 3, 9, 70});
  const ir::ValueId filter = b.constant("filter", test::randomFloats({8, 3, 3, 3}, 4, -0.3f, 0.3f));
  b.output(b.op("Conv", {image, filter}, {{"pads", std::vector<int64_t>{1, 1, 1, 1}}}));
  auto graph = std::move(b).build();
  REQUIRE(graph.hasValue());
  return {std::move(graph).value(), {test::randomFloats({13, 37}, 1), test::randomFloats({1, 3, 9, 70}, 3)}};
}

std::string readText(const std::string &path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

TEST_CASE("Target: the host's description", "[target]") {
  const target::TargetDescription host = target::TargetDescription::host();
  const bool avx512 = __builtin_cpu_supports("avx512f");
  const bool avx2 = __builtin_cpu_supports("avx2");
  CHECK(host.isa == (avx512 ? "avx512" : avx2 ? "avx2" : "sse4.2"));
  CHECK(host.vectorBytes == (avx512 ? 64 : avx2 ? 32 : 16));
  CHECK(host.vectorRegisters == (avx512 ? 32 : 16));
  CHECK(host.cpu == "native");
  CHECK(host.cache.l1d >= 8 * 1024);
  CHECK(host.cache.l2 >= host.cache.l1d);
  CHECK(host.serialBytes == 48 * 1024);
  CHECK(host.serialFlops == double(1 << 20));

  // codegen names the host's CPU and features, with the same vector facts.
  const target::TargetDescription native = resolved("native");
  CHECK(native.cpu != "native");
  CHECK(!native.cpu.empty());
  CHECK(native.features.find("+sse2") != std::string::npos);
  CHECK(native.isa == host.isa);
  CHECK(native.vectorBytes == host.vectorBytes);
  CHECK(native.vectorRegisters == host.vectorRegisters);
  CHECK(resolved("").cpu == native.cpu);
}

TEST_CASE("Target: x86-64 levels and LLVM CPU names", "[target]") {
  const target::TargetDescription v3 = resolved("x86-64-v3");
  CHECK(v3.isa == "avx2");
  CHECK(v3.cpu == "x86-64-v3");
  CHECK(v3.floatLanes() == 8);
  CHECK(v3.lanes(8) == 4);
  CHECK(v3.vectorRegisters == 16);
  CHECK(v3.features.empty());
  CHECK(gemmTile(v3) == std::pair<int64_t, int64_t>{6, 16});

  const target::TargetDescription v4 = resolved("x86-64-v4");
  CHECK(v4.isa == "avx512");
  CHECK(v4.floatLanes() == 16);
  CHECK(v4.vectorRegisters == 32);
  CHECK(gemmTile(v4) == std::pair<int64_t, int64_t>{8, 32});

  const target::TargetDescription v2 = resolved("x86-64-v2");
  CHECK(v2.isa == "sse4.2");
  CHECK(v2.floatLanes() == 4);
  CHECK(gemmTile(v2) == std::pair<int64_t, int64_t>{6, 8});

  CHECK(resolved("haswell").isa == "avx2");
  CHECK(resolved("znver3").isa == "avx2");
  CHECK(resolved("skylake-avx512").isa == "avx512");
  CHECK(resolved("znver4").isa == "avx512");
  CHECK(resolved("x86-64-v3", "x86_64-pc-linux-gnu").triple == "x86_64-pc-linux-gnu");
}

TEST_CASE("Target: unknown CPUs and other architectures are user errors", "[target]") {
  auto unknown = codegen::resolveTarget("pentium-9000");
  REQUIRE_FALSE(unknown.hasValue());
  CHECK_THAT(unknown.message(), Catch::Contains("unknown --mcpu CPU 'pentium-9000'"));
  CHECK_THAT(unknown.message(), Catch::Contains("x86-64-v3"));
  CHECK_THAT(unknown.message(), Catch::Contains("skylake-avx512"));

  auto arm = codegen::resolveTarget("", "aarch64-unknown-linux-gnu");
  REQUIRE_FALSE(arm.hasValue());
  CHECK_THAT(arm.message(), Catch::Contains("aarch64-unknown-linux-gnu"));
  CHECK_THAT(arm.message(), Catch::Contains("only x86_64"));
  CHECK_FALSE(codegen::resolveTarget("cortex-a72").hasValue());  // not an x86 CPU
  CHECK_FALSE(codegen::resolveTarget("i386").hasValue());        // not 64-bit
}

TEST_CASE("Target: the TargetMachine of a description", "[target][llvm]") {
  auto v3 = codegen::createTargetMachine(resolved("x86-64-v3"), true);
  REQUIRE(v3.hasValue());
  CHECK((*v3)->getTargetCPU() == "x86-64-v3");
  CHECK((*v3)->getTargetTriple().getArch() == llvm::Triple::x86_64);

  // A description made without LLVM ("native") gets the host's CPU name and features, as resolveTarget does.
  auto host = codegen::createTargetMachine(target::TargetDescription::host(), false);
  REQUIRE(host.hasValue());
  const target::TargetDescription native = resolved("native");
  CHECK((*host)->getTargetCPU() == native.cpu);
  CHECK((*host)->getTargetFeatureString() == native.features);
}

TEST_CASE("Target: x86-64-v3 code runs here, matches the interpreter and uses no zmm register", "[target][llvm]") {
  auto [graph, inputs] = productsGraph();
  const std::vector<ir::Tensor> expected = test::runGraph(graph, inputs);
  const std::string asmPath =
      (std::filesystem::temp_directory_path() / ("fluidml-target-" + std::to_string(getpid()) + ".s")).string();
  for (const std::string cpu : {"x86-64-v3", "x86-64-v4"}) {
    INFO(cpu);
    codegen::CompileOptions options;
    options.target = resolved(cpu);
    options.dumpAsmPath = asmPath;
    auto model = test::compileGraphWith(graph, options);
    const std::string assembly = readText(asmPath);
    REQUIRE(assembly.find("vfmadd") != std::string::npos);
    // AVX2 code must not touch AVX-512 registers; AVX-512 code uses them (the check can fail).
    CHECK((assembly.find("zmm") != std::string::npos) == (cpu == "x86-64-v4"));
    if (cpu == "x86-64-v3") CHECK(assembly.find("ymm") != std::string::npos);
    if (cpu == "x86-64-v4" && !__builtin_cpu_supports("avx512f")) continue;  // not runnable on this host
    const std::vector<ir::Tensor> outputs = test::runModel(*model, inputs);
    REQUIRE(outputs.size() == expected.size());
    for (size_t k = 0; k < outputs.size(); ++k) {
      REQUIRE(outputs[k].numel() == expected[k].numel());
      for (int64_t i = 0; i < outputs[k].numel(); ++i)
        REQUIRE(std::abs(outputs[k].elementAsDouble(i) - expected[k].elementAsDouble(i)) <=
                1e-5 + 1e-4 * std::abs(expected[k].elementAsDouble(i)));
    }
  }
  std::filesystem::remove(asmPath);
}

TEST_CASE("Target: the JIT cache keys objects by target", "[target][llvm]") {
  auto [graph, inputs] = productsGraph();
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("fluidml-target-cache-" + std::to_string(getpid()));
  std::filesystem::remove_all(dir);
  const char *previous = std::getenv("FLUIDML_CACHE_DIR");
  const std::string saved = previous != nullptr ? previous : "";
  setenv("FLUIDML_CACHE_DIR", dir.c_str(), 1);
  codegen::CompileOptions host, avx2;
  avx2.target = resolved("x86-64-v3");
  test::compileGraphWith(graph, host);
  CHECK_FALSE(codegen::lastJitCompileWasCached());
  test::compileGraphWith(graph, avx2);  // the same graph for another target: compiled, not the host's object
  CHECK_FALSE(codegen::lastJitCompileWasCached());
  auto cached = test::compileGraphWith(graph, avx2);
  CHECK(codegen::lastJitCompileWasCached());
  CHECK(test::runModel(*cached, inputs).size() == 2);
  if (previous != nullptr)
    setenv("FLUIDML_CACHE_DIR", saved.c_str(), 1);
  else
    unsetenv("FLUIDML_CACHE_DIR");
  std::filesystem::remove_all(dir);
}
