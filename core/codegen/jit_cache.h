// The on-disk cache of JIT-compiled code: compileJit keys each model's object file by a hash of its
// unoptimized LLVM IR (which is independent of where the weights live), the LLVM version, the target CPU and its
// features, and a version of the optimization settings, so a model compiled before is only linked again.
#pragma once

#include <string>

namespace fluidml::codegen {

/// Where compiled objects are kept, "" when caching is off: $FLUIDML_CACHE_DIR ("off" or "0" disables it), else
/// $XDG_CACHE_HOME/fluidml/jit, else $HOME/.cache/fluidml/jit.
std::string jitCacheDirectory();
/// Turns the cache off (or back on) for this process; `fluidml bench` turns it off to time real compilations.
void setJitCacheEnabled(bool enabled);
/// Whether the last compileJit of this process loaded its code from the cache.
bool lastJitCompileWasCached();

}  // namespace fluidml::codegen
