// KernelBuilder on its own: small functions written with it, optimized with the O3 pipeline for the host, JIT
// compiled and called. Checks loops (and that a plain loop vectorizes), loop nests with strides, parallel loops
// over the runtime's thread pool, Cast conversions (exact, as the interpreter's Cast), and the math helpers
// (intrinsics and libm: 1e-6 relative).
#include <catch2/catch.hpp>

#include <atomic>
#include <cmath>
#include <limits>
#include <string>

#include <llvm/ExecutionEngine/Orc/ExecutionUtils.h>
#include <llvm/ExecutionEngine/Orc/LLJIT.h>
#include <llvm/ExecutionEngine/Orc/ThreadSafeModule.h>
#include <llvm/Support/raw_ostream.h>

#include "core/codegen/kernel_builder.h"
#include "core/codegen/module_builder.h"
#include "core/runtime/thread_pool.h"

using namespace fluidml;
using codegen::KernelBuilder;
using ir::DType;

namespace {

/// A module of test functions `void NAME(ptr a, ptr b, ptr runtime)`, then JIT compiled.
class TestModule {
 public:
  TestModule() : context_(std::make_unique<llvm::LLVMContext>()), builder_(*context_) {
    auto machine = codegen::createTargetMachine(target_, false);
    REQUIRE(machine.hasValue());
    machine_ = std::move(*machine);
    module_ = std::make_unique<llvm::Module>("test", *context_);
    module_->setTargetTriple(machine_->getTargetTriple().str());
    module_->setDataLayout(machine_->createDataLayout());
  }

  /// Starts a function and returns its KernelBuilder positioned in the entry block; args via arg(i).
  KernelBuilder &begin(const std::string &name) {
    llvm::Type *ptr = builder_.getPtrTy();
    function_ = llvm::Function::Create(llvm::FunctionType::get(builder_.getVoidTy(), {ptr, ptr, ptr}, false),
                                       llvm::GlobalValue::ExternalLinkage, name, *module_);
    function_->addFnAttr("target-cpu", machine_->getTargetCPU());
    function_->addFnAttr("target-features", machine_->getTargetFeatureString());
    function_->addParamAttr(0, llvm::Attribute::NoAlias);
    function_->addParamAttr(1, llvm::Attribute::NoAlias);
    builder_.SetInsertPoint(llvm::BasicBlock::Create(*context_, "entry", function_));
    kernel_ = std::make_unique<KernelBuilder>(*module_, builder_, target_);
    kernel_->setRuntime(function_->getArg(2));
    return *kernel_;
  }
  llvm::Value *arg(unsigned i) { return function_->getArg(i); }
  void end() { builder_.CreateRetVoid(); }

  /// Optimizes and JIT-compiles everything begun so far; returns the optimized IR text.
  std::string compile() {
    codegen::optimizeModule(*module_, *machine_);
    std::string text;
    llvm::raw_string_ostream os(text);
    module_->print(os, nullptr);
    auto jit = llvm::orc::LLJITBuilder().create();
    REQUIRE(static_cast<bool>(jit));
    jit_ = std::move(*jit);
    auto generator =
        llvm::orc::DynamicLibrarySearchGenerator::GetForCurrentProcess(jit_->getDataLayout().getGlobalPrefix());
    REQUIRE(static_cast<bool>(generator));
    jit_->getMainJITDylib().addGenerator(std::move(*generator));
    llvm::orc::SymbolMap symbols;
    symbols[jit_->mangleAndIntern("fluidml_parallel_for")] = llvm::orc::ExecutorSymbolDef(
        llvm::orc::ExecutorAddr::fromPtr(&fluidml_parallel_for), llvm::JITSymbolFlags::Exported);
    REQUIRE(!jit_->getMainJITDylib().define(llvm::orc::absoluteSymbols(std::move(symbols))));
    REQUIRE(!jit_->addIRModule(llvm::orc::ThreadSafeModule(std::move(module_), std::move(context_))));
    return os.str();
  }
  using Fn = void (*)(void *, void *, void *);
  Fn lookup(const std::string &name) {
    auto address = jit_->lookup(name);
    REQUIRE(static_cast<bool>(address));
    return address->toPtr<Fn>();
  }

 private:
  std::unique_ptr<llvm::LLVMContext> context_;
  llvm::IRBuilder<> builder_;
  std::unique_ptr<llvm::TargetMachine> machine_;
  target::TargetDescription target_ = target::TargetDescription::host();
  std::unique_ptr<llvm::Module> module_;
  llvm::Function *function_ = nullptr;
  std::unique_ptr<KernelBuilder> kernel_;
  std::unique_ptr<llvm::orc::LLJIT> jit_;
};

}  // namespace

TEST_CASE("KernelBuilder: a counted loop computes and vectorizes", "[llvm][kernel_builder]") {
  TestModule m;
  KernelBuilder &b = m.begin("axpb");
  b.loop(1000, [&](llvm::Value *i) {
    llvm::Value *x = b.load(DType::Float32, m.arg(0), i);
    llvm::Value *y = b.ir().CreateFAdd(b.ir().CreateFMul(x, b.constant(DType::Float32, 2.0)), b.constant(DType::Float32, 1.0));
    b.store(DType::Float32, y, m.arg(1), i);
  });
  m.end();
  // A loop with runtime bounds and a step: for (i = 3; i < n; i += 4) out[i] = i.
  KernelBuilder &s = m.begin("stepped");
  llvm::Value *n = s.ir().CreateLoad(s.ir().getInt64Ty(), m.arg(0));
  s.loop(s.i64(3), n, 4, [&](llvm::Value *i) { s.store(DType::Int64, i, m.arg(1), i); });
  m.end();
  const std::string ir = m.compile();
  CHECK(ir.find("x float>") != std::string::npos);  // vectorized

  std::vector<float> in(1000), out(1000);
  for (size_t i = 0; i < in.size(); ++i) in[i] = static_cast<float>(i) * 0.5f - 7.0f;
  m.lookup("axpb")(in.data(), out.data(), nullptr);
  for (size_t i = 0; i < in.size(); ++i) REQUIRE(out[i] == in[i] * 2.0f + 1.0f);

  std::vector<int64_t> marks(20, -1);
  int64_t count = 18;
  m.lookup("stepped")(&count, marks.data(), nullptr);
  for (int64_t i = 0; i < 20; ++i) REQUIRE(marks[static_cast<size_t>(i)] == ((i >= 3 && i < 18 && (i - 3) % 4 == 0) ? i : -1));
  count = 2;  // an empty loop runs nothing
  std::vector<int64_t> untouched(4, -1);
  m.lookup("stepped")(&count, untouched.data(), nullptr);
  for (int64_t v : untouched) REQUIRE(v == -1);
}

TEST_CASE("KernelBuilder: loop nests with strides transpose a tensor", "[llvm][kernel_builder]") {
  TestModule m;
  KernelBuilder &b = m.begin("transpose");
  const ir::Shape shape{3, 1, 4, 5};  // out[d3][d1][d2][d0] = in[d0][d1][d2][d3]
  const auto inStrides = ir::rowMajorStrides(shape);
  const auto outStrides = ir::rowMajorStrides({5, 1, 4, 3});
  b.loopNest(shape, [&](const std::vector<llvm::Value *> &idx) {
    llvm::Value *v = b.load(DType::Int32, m.arg(0), b.linearIndex(idx, inStrides));
    llvm::Value *o = b.linearIndex({idx[3], idx[1], idx[2], idx[0]}, {outStrides[0], outStrides[1], outStrides[2], outStrides[3]});
    b.store(DType::Int32, v, m.arg(1), o);
  });
  m.end();
  KernelBuilder &s = m.begin("scalar");  // rank 0: the body runs once
  s.loopNest({}, [&](const std::vector<llvm::Value *> &idx) {
    REQUIRE(idx.empty());
    s.store(DType::Int32, s.constantInt(DType::Int32, 42), m.arg(1), s.i64(0));
  });
  m.end();
  m.compile();
  std::vector<int32_t> in(60), out(60, -1);
  for (int i = 0; i < 60; ++i) in[static_cast<size_t>(i)] = i;
  m.lookup("transpose")(in.data(), out.data(), nullptr);
  for (int d0 = 0; d0 < 3; ++d0)
    for (int d2 = 0; d2 < 4; ++d2)
      for (int d3 = 0; d3 < 5; ++d3) REQUIRE(out[static_cast<size_t>(d3 * 12 + d2 * 3 + d0)] == in[static_cast<size_t>(d0 * 20 + d2 * 5 + d3)]);
  int32_t scalar = 0;
  m.lookup("scalar")(nullptr, &scalar, nullptr);
  REQUIRE(scalar == 42);
}

TEST_CASE("KernelBuilder: parallel loops run on the thread pool with captures", "[llvm][kernel_builder]") {
  TestModule m;
  KernelBuilder &b = m.begin("rows");
  // out[r][c] = in[r][c] * scale + r, rows in parallel; a nested parallel loop inside runs inline.
  llvm::Value *scale = b.load(DType::Float32, m.arg(0), b.i64(0));
  llvm::Value *data = b.elementPtr(DType::Float32, m.arg(0), b.i64(1));
  b.parallelLoop(37, {data, m.arg(1), scale}, [&](llvm::Value *r, const std::vector<llvm::Value *> &c) {
    b.parallelLoop(3, {c[0], c[1], c[2], r}, [&](llvm::Value *part, const std::vector<llvm::Value *> &cc) {
      llvm::Value *start = b.ir().CreateMul(part, b.i64(10));
      b.loop(start, b.ir().CreateAdd(start, b.i64(10)), 1, [&](llvm::Value *col) {
        llvm::Value *index = b.ir().CreateAdd(b.ir().CreateMul(cc[3], b.i64(30)), col);
        llvm::Value *x = b.load(DType::Float32, cc[0], index);
        llvm::Value *rowValue = b.convert(cc[3], DType::Int64, DType::Float32);
        b.store(DType::Float32, b.ir().CreateFAdd(b.ir().CreateFMul(x, cc[2]), rowValue), cc[1], index);
      });
    });
  });
  m.end();
  m.compile();
  std::vector<float> in(1 + 37 * 30), expected(37 * 30);
  in[0] = 1.5f;
  for (size_t i = 1; i < in.size(); ++i) in[i] = static_cast<float>(i % 17) - 3.0f;
  for (int r = 0; r < 37; ++r)
    for (int c = 0; c < 30; ++c)
      expected[static_cast<size_t>(r * 30 + c)] = in[static_cast<size_t>(1 + r * 30 + c)] * 1.5f + static_cast<float>(r);
  for (int threads : {1, 2, 4, 7}) {
    runtime::ThreadPool pool(threads);
    fluidml_runtime runtime{&pool};
    for (int repeat = 0; repeat < 20; ++repeat) {
      std::vector<float> out(37 * 30, -1.0f);
      m.lookup("rows")(in.data(), out.data(), &runtime);
      REQUIRE(out == expected);
    }
  }
  std::vector<float> out(37 * 30, -1.0f);  // a null runtime runs inline
  m.lookup("rows")(in.data(), out.data(), nullptr);
  REQUIRE(out == expected);
}

TEST_CASE("KernelBuilder: conversions follow ONNX Cast", "[llvm][kernel_builder]") {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const std::vector<float> floats{0.0f, -0.0f, 1.7f, -1.7f, 2.5f, -2.5f, 300.0f, -300.0f, 1e20f, -1e20f, nan, 0.25f};
  TestModule m;
  // From float: to int32, int8, uint8, bool, int64, double; written to consecutive byte slots of 8 bytes.
  const DType targets[] = {DType::Int32, DType::Int8, DType::UInt8, DType::Bool, DType::Int64, DType::Float64};
  KernelBuilder &b = m.begin("fromFloat");
  for (size_t t = 0; t < std::size(targets); ++t)
    b.loop(static_cast<int64_t>(floats.size()), [&](llvm::Value *i) {
      llvm::Value *x = b.load(DType::Float32, m.arg(0), i);
      llvm::Value *slot = b.ir().CreateAdd(b.ir().CreateMul(i, b.i64(std::size(targets))), b.i64(static_cast<int64_t>(t)));
      llvm::Value *address = b.elementPtr(DType::Int64, m.arg(1), slot);
      b.store(targets[t], b.convert(x, DType::Float32, targets[t]), address, b.i64(0));
    });
  m.end();
  // Integers: int8 -1 and uint8 255 and bool 1 to float and int64.
  KernelBuilder &ib = m.begin("fromInts");
  llvm::Value *i8 = ib.load(DType::Int8, m.arg(0), ib.i64(0));
  llvm::Value *u8 = ib.load(DType::UInt8, m.arg(0), ib.i64(1));
  llvm::Value *bo = ib.load(DType::Bool, m.arg(0), ib.i64(2));
  llvm::Value *i64v = ib.load(DType::Int64, m.arg(0), ib.i64(1));  // bytes 8..15
  ib.store(DType::Float32, ib.convert(i8, DType::Int8, DType::Float32), m.arg(1), ib.i64(0));
  ib.store(DType::Float32, ib.convert(u8, DType::UInt8, DType::Float32), m.arg(1), ib.i64(1));
  ib.store(DType::Float32, ib.convert(bo, DType::Bool, DType::Float32), m.arg(1), ib.i64(2));
  ib.store(DType::Float32, ib.convert(i64v, DType::Int64, DType::Float32), m.arg(1), ib.i64(3));
  llvm::Value *wide = ib.elementPtr(DType::Int64, m.arg(1), ib.i64(2));  // bytes 16..
  ib.store(DType::Int64, ib.convert(i8, DType::Int8, DType::Int64), wide, ib.i64(0));
  ib.store(DType::Int64, ib.convert(u8, DType::UInt8, DType::Int64), wide, ib.i64(1));
  ib.store(DType::Int32, ib.convert(i64v, DType::Int64, DType::Int32), wide, ib.i64(4));  // truncation
  ib.store(DType::Bool, ib.convert(i64v, DType::Int64, DType::Bool), wide, ib.i64(20));
  m.end();
  m.compile();

  std::vector<int64_t> out(floats.size() * std::size(targets));
  m.lookup("fromFloat")(const_cast<float *>(floats.data()), out.data(), nullptr);
  auto slot = [&](size_t i, size_t t) { return reinterpret_cast<const char *>(&out[i * std::size(targets) + t]); };
  auto satInt = [](float v, double lo, double hi) -> double {
    if (std::isnan(v)) return 0;
    if (v <= lo) return lo;
    if (v >= hi) return hi;
    return std::trunc(v);
  };
  for (size_t i = 0; i < floats.size(); ++i) {
    const float v = floats[i];
    INFO("value " << v);
    int32_t a; int8_t c; uint8_t u; uint8_t bo2; int64_t l; double d;
    std::memcpy(&a, slot(i, 0), 4);
    std::memcpy(&c, slot(i, 1), 1);
    std::memcpy(&u, slot(i, 2), 1);
    std::memcpy(&bo2, slot(i, 3), 1);
    std::memcpy(&l, slot(i, 4), 8);
    std::memcpy(&d, slot(i, 5), 8);
    CHECK(a == satInt(v, -2147483648.0, 2147483647.0));
    CHECK(c == satInt(v, -128, 127));
    CHECK(u == satInt(v, 0, 255));
    CHECK(bo2 == (v != 0.0f ? 1 : 0));
    CHECK(static_cast<double>(l) == satInt(v, -9223372036854775808.0, 9223372036854775807.0));
    if (std::isnan(v)) CHECK(std::isnan(d)); else CHECK(d == static_cast<double>(v));
  }

  alignas(8) uint8_t ins[16] = {0xFF, 0xFF, 1, 0, 0, 0, 0, 0};
  const int64_t big = (int64_t{1} << 33) + 7;
  std::memcpy(ins + 8, &big, 8);
  alignas(8) uint8_t result[64] = {};
  m.lookup("fromInts")(ins, result, nullptr);
  float f[4];
  std::memcpy(f, result, 16);
  CHECK(f[0] == -1.0f);
  CHECK(f[1] == 255.0f);
  CHECK(f[2] == 1.0f);
  CHECK(f[3] == static_cast<float>(big));
  int64_t w[2];
  std::memcpy(w, result + 16, 16);
  CHECK(w[0] == -1);
  CHECK(w[1] == 255);
  int32_t truncated;
  std::memcpy(&truncated, result + 16 + 16, 4);
  CHECK(truncated == 7);
  CHECK(result[16 + 20] == 1);
}

TEST_CASE("KernelBuilder: math functions match libm", "[llvm][kernel_builder]") {
  const std::vector<std::string> unary{"exp", "log", "sqrt", "sin", "cos", "tan", "tanh", "erf", "floor", "ceil",
                                       "round", "abs", "asin", "acos", "atan", "sinh", "cosh", "asinh", "acosh", "atanh"};
  const std::vector<std::string> binary{"pow", "fmod", "minnum", "maxnum", "minimum", "maximum"};
  const std::vector<float> xs{0.3f, -0.7f, 2.5f, -2.5f, 0.5f, 1.5f, 0.99f, 3.25f, -0.0f, 1.0f};
  const std::vector<float> ys{2.0f, 0.5f, -1.5f, 2.0f, 0.25f, 3.0f, 0.5f, -2.0f, 1.0f, 1.0f};
  TestModule m;
  KernelBuilder &b = m.begin("math");
  const int64_t n = static_cast<int64_t>(xs.size());
  for (size_t f = 0; f < unary.size(); ++f)
    b.loop(n, [&](llvm::Value *i) {
      llvm::Value *x = b.load(DType::Float32, m.arg(0), i);
      b.store(DType::Float32, b.unaryMath(unary[f], x), m.arg(1), b.ir().CreateAdd(i, b.i64(static_cast<int64_t>(f) * n)));
    });
  for (size_t f = 0; f < binary.size(); ++f)
    b.loop(n, [&](llvm::Value *i) {
      llvm::Value *x = b.load(DType::Float32, m.arg(0), i);
      llvm::Value *y = b.load(DType::Float32, m.arg(0), b.ir().CreateAdd(i, b.i64(n)));
      b.store(DType::Float32, b.binaryMath(binary[f], x, y), m.arg(1),
              b.ir().CreateAdd(i, b.i64(static_cast<int64_t>(unary.size() + f) * n)));
    });
  m.end();
  m.compile();
  std::vector<float> in(xs);
  in.insert(in.end(), ys.begin(), ys.end());
  std::vector<float> out(static_cast<size_t>(n) * (unary.size() + binary.size()));
  m.lookup("math")(in.data(), out.data(), nullptr);
  auto reference = [](const std::string &f, double x) -> double {
    if (f == "exp") return std::exp(x);
    if (f == "log") return std::log(x);
    if (f == "sqrt") return std::sqrt(x);
    if (f == "sin") return std::sin(x);
    if (f == "cos") return std::cos(x);
    if (f == "tan") return std::tan(x);
    if (f == "tanh") return std::tanh(x);
    if (f == "erf") return std::erf(x);
    if (f == "floor") return std::floor(x);
    if (f == "ceil") return std::ceil(x);
    if (f == "round") return std::nearbyint(x);
    if (f == "abs") return std::fabs(x);
    if (f == "asin") return std::asin(x);
    if (f == "acos") return std::acos(x);
    if (f == "atan") return std::atan(x);
    if (f == "sinh") return std::sinh(x);
    if (f == "cosh") return std::cosh(x);
    if (f == "asinh") return std::asinh(x);
    if (f == "acosh") return std::acosh(x);
    return std::atanh(x);
  };
  auto close = [](double expected, double actual) {
    if (std::isnan(expected)) return std::isnan(actual);
    if (expected == actual) return true;  // infinities
    return std::abs(expected - actual) <= 1e-6 * std::abs(expected) + 1e-7;
  };
  for (size_t f = 0; f < unary.size(); ++f)
    for (int64_t i = 0; i < n; ++i) {
      INFO(unary[f] << "(" << xs[static_cast<size_t>(i)] << ")");
      CHECK(close(reference(unary[f], xs[static_cast<size_t>(i)]), out[static_cast<size_t>(static_cast<int64_t>(f) * n + i)]));
    }
  for (size_t f = 0; f < binary.size(); ++f)
    for (int64_t i = 0; i < n; ++i) {
      const float x = xs[static_cast<size_t>(i)], y = ys[static_cast<size_t>(i)];
      double expected = 0;
      if (binary[f] == "pow") expected = std::pow(x, y);
      if (binary[f] == "fmod") expected = std::fmod(x, y);
      if (binary[f] == "minnum" || binary[f] == "minimum") expected = std::min(x, y);
      if (binary[f] == "maxnum" || binary[f] == "maximum") expected = std::max(x, y);
      INFO(binary[f] << "(" << x << ", " << y << ")");
      CHECK(close(expected, out[(unary.size() + f) * static_cast<size_t>(n) + static_cast<size_t>(i)]));
    }
}

TEST_CASE("ThreadPool: every index exactly once, nested loops inline, many jobs", "[runtime][thread_pool]") {
  struct Job {
    std::vector<std::atomic<int>> *visits;
    runtime::ThreadPool *pool;
  };
  for (int threads : {1, 2, 3, 5}) {
    runtime::ThreadPool pool(threads);
    for (int64_t count : {int64_t{1}, int64_t{2}, int64_t{7}, int64_t{64}, int64_t{1000}}) {
      for (int repeat = 0; repeat < 50; ++repeat) {
        std::vector<std::atomic<int>> visits(static_cast<size_t>(count));
        Job job{&visits, &pool};
        fluidml_runtime runtime{&pool};
        fluidml_parallel_for(&runtime, [](void *context, int64_t begin, int64_t end) {
          auto *j = static_cast<Job *>(context);
          for (int64_t i = begin; i < end; ++i) (*j->visits)[static_cast<size_t>(i)].fetch_add(1);
          // A nested parallel loop runs inline on this thread.
          j->pool->parallelFor([](void *, int64_t, int64_t) {}, nullptr, 8);
        }, &job, count);
        for (const std::atomic<int> &v : visits) REQUIRE(v.load() == 1);
      }
    }
  }
}
