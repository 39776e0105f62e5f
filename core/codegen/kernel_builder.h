// Helpers over llvm::IRBuilder for writing kernels: typed loads and stores, counted loops and loop nests,
// dtype conversions with ONNX Cast semantics, math functions, and parallel loops outlined into functions that
// the runtime's thread pool runs (fluidml_parallel_for). Every kernel emitter uses this; only core/codegen
// includes LLVM.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/Module.h>

#include "core/ir/tensor.h"
#include "core/ir/tensor_type.h"
#include "core/target/target_description.h"

namespace fluidml::codegen {

/// Constants made at compile time from the graph's weights, in the form the kernels read them (re-laid-out
/// copies such as GEMM panels). Each is named; kernels asking for the same name share one copy. The module
/// builder places them in the weights blob next to the graph's constants, so they are made once, ahead of time,
/// and never held twice per model instance.
struct DerivedWeights {
  std::map<std::string, ir::Tensor> byName;
};

class KernelBuilder {
 public:
  KernelBuilder(llvm::Module &module, llvm::IRBuilder<> &builder, const target::TargetDescription &target);

  /// The machine the code is for: vector width, register count, caches (lowerings read these, never literals).
  const target::TargetDescription &target() const { return target_; }

  llvm::IRBuilder<> &ir() { return builder_; }
  llvm::LLVMContext &context() { return module_.getContext(); }
  llvm::Module &module() { return module_; }

  /// The LLVM scalar type of a dtype (bool is i8 in memory, as in the interpreter).
  llvm::Type *scalarType(ir::DType dtype);
  llvm::Value *i64(int64_t value);
  /// A constant of the dtype's scalar type.
  llvm::Value *constant(ir::DType dtype, double value);
  llvm::Value *constantInt(ir::DType dtype, int64_t value);

  /// Address of element `index` (i64) of a tensor of `dtype` starting at `base`.
  llvm::Value *elementPtr(ir::DType dtype, llvm::Value *base, llvm::Value *index);
  llvm::Value *load(ir::DType dtype, llvm::Value *base, llvm::Value *index);
  void store(ir::DType dtype, llvm::Value *value, llvm::Value *base, llvm::Value *index);

  /// for (i = begin; i < end; i += step) body(i); i is i64. Emitted as a canonical counted loop that LLVM can
  /// vectorize. `begin`/`end` may be constants (i64(...)) or runtime values.
  void loop(llvm::Value *begin, llvm::Value *end, int64_t step, const std::function<void(llvm::Value *)> &body,
            std::string_view name = "i");
  void loop(int64_t count, const std::function<void(llvm::Value *)> &body, std::string_view name = "i");
  /// Row-major loop nest over `shape`: body gets one i64 index per dimension (outermost first).
  void loopNest(const ir::Shape &shape, const std::function<void(const std::vector<llvm::Value *> &)> &body);
  /// Linear row-major offset of `index` in a tensor of `shape`, with optional per-dim strides (elements; 0
  /// broadcasts). Constant-folded where possible.
  llvm::Value *linearIndex(const std::vector<llvm::Value *> &index, const std::vector<int64_t> &strides);

  /// Runs body over [0, count) on the thread pool: the body is emitted into an outlined function
  /// `void(ptr ctx, i64 begin, i64 end)`; `captures` are values of the current function the body needs, passed
  /// through a context struct and handed to body as `captured` (same order). Small counts run inline.
  void parallelLoop(int64_t count, const std::vector<llvm::Value *> &captures,
                    const std::function<void(llvm::Value *index, const std::vector<llvm::Value *> &captured)> &body,
                    std::string_view name = "p");
  /// Marks the kernel being emitted as too small to share out (the module builder's call from its operand bytes
  /// and FLOPs): parallelLoop then runs its body inline, since waking the pool would cost more than it saves.
  void setSerial(bool serial) { serial_ = serial; }
  /// The runtime pointer argument of the kernel being emitted (for parallelLoop).
  void setRuntime(llvm::Value *runtime) { runtime_ = runtime; }
  llvm::Value *runtime() const { return runtime_; }

  /// Where derivedWeight registers its data (the module builder's registry; required before derivedWeight).
  void setDerivedWeights(DerivedWeights *weights) { derivedWeights_ = weights; }
  /// A pointer to the compile-time constant `name` (64-byte aligned), made by `make` the first time any kernel
  /// asks for that name. Valid in the kernel being emitted; read-only.
  llvm::Value *derivedWeight(const std::string &name, const std::function<ir::Tensor()> &make);

  /// Converts a scalar between dtypes with ONNX Cast semantics (float->int truncates toward zero, ->bool is != 0).
  llvm::Value *convert(llvm::Value *value, ir::DType from, ir::DType to);
  /// Float math by name: "exp" "log" "sqrt" "sin" "cos" "tan" "tanh" "erf" "floor" "ceil" "round" (half to
  /// even) "abs" "asin" "acos" "atan" "sinh" "cosh" "asinh" "acosh" "atanh" — LLVM intrinsics where they exist
  /// (so loops vectorize), libm otherwise. `x` is float or double.
  llvm::Value *unaryMath(std::string_view function, llvm::Value *x);
  /// "pow" "fmod" "minnum" "maxnum" (NaN-propagating min/max as numpy: "minimum" "maximum").
  llvm::Value *binaryMath(std::string_view function, llvm::Value *a, llvm::Value *b);

 private:
  llvm::Module &module_;
  llvm::IRBuilder<> &builder_;
  const target::TargetDescription &target_;
  llvm::Value *runtime_ = nullptr;
  DerivedWeights *derivedWeights_ = nullptr;
  bool serial_ = false;
};

/// The prefix of the globals that stand for derived weights until the module builder gives them addresses.
inline constexpr std::string_view kDerivedWeightPrefix = "fluidml.weight.";

}  // namespace fluidml::codegen
