// The host's target description from cpuid (GCC's __builtin_cpu_supports) and the caches from sysfs.
#include "core/target/target_description.h"

#include <fstream>
#include <sstream>
#include <string>

#include <unistd.h>

namespace fluidml::target {

namespace {

/// "48K" / "1024K" / "32M" (sysfs cache size) -> bytes; 0 when unreadable.
size_t parseCacheSize(const std::string &text) {
  size_t value = 0;
  size_t i = 0;
  for (; i < text.size() && text[i] >= '0' && text[i] <= '9'; ++i) value = value * 10 + static_cast<size_t>(text[i] - '0');
  if (i == 0) return 0;
  if (i < text.size() && (text[i] == 'K' || text[i] == 'k')) value *= 1024;
  if (i < text.size() && (text[i] == 'M' || text[i] == 'm')) value *= 1024 * 1024;
  return value;
}

std::string readLine(const std::string &path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

/// The caches of cpu0 from /sys/devices/system/cpu/cpu0/cache/index*, else from glibc (which asks cpuid); entries
/// neither can read keep their defaults.
CacheSizes hostCaches() {
  CacheSizes caches;
  auto fromSysconf = [](int name, size_t &size) {
    const long bytes = sysconf(name);
    if (bytes > 0) size = static_cast<size_t>(bytes);
  };
  fromSysconf(_SC_LEVEL1_DCACHE_SIZE, caches.l1d);
  fromSysconf(_SC_LEVEL2_CACHE_SIZE, caches.l2);
  fromSysconf(_SC_LEVEL3_CACHE_SIZE, caches.l3);
  for (int index = 0; index < 8; ++index) {
    const std::string dir = "/sys/devices/system/cpu/cpu0/cache/index" + std::to_string(index) + "/";
    const std::string level = readLine(dir + "level");
    if (level.empty()) break;
    const std::string type = readLine(dir + "type");
    const size_t size = parseCacheSize(readLine(dir + "size"));
    if (size == 0 || type == "Instruction") continue;
    if (level == "1") caches.l1d = size;
    if (level == "2") caches.l2 = size;
    if (level == "3") caches.l3 = size;
  }
  return caches;
}

}  // namespace

TargetDescription TargetDescription::forIsa(const std::string &isa) {
  TargetDescription target;
  target.isa = isa;
  if (isa == "avx512") {
    target.vectorBytes = 64;
    target.vectorRegisters = 32;
  } else if (isa == "avx2") {
    target.vectorBytes = 32;
    target.vectorRegisters = 16;
  } else {
    target.isa = "sse4.2";
    target.vectorBytes = 16;
    target.vectorRegisters = 16;
  }
  return target;
}

TargetDescription TargetDescription::host() {
  static const TargetDescription host = [] {
    __builtin_cpu_init();
    const char *isa = __builtin_cpu_supports("avx512f") ? "avx512" : __builtin_cpu_supports("avx2") ? "avx2" : "sse4.2";
    TargetDescription target = forIsa(isa);
    target.cache = hostCaches();
    return target;
  }();
  return host;
}

std::string TargetDescription::summary() const {
  std::ostringstream os;
  os << triple << " cpu=" << cpu << " isa=" << isa << " vector-bytes=" << vectorBytes
     << " vector-registers=" << vectorRegisters << " l1d=" << cache.l1d << " l2=" << cache.l2 << " l3=" << cache.l3
     << " serial-bytes=" << serialBytes << " serial-flops=" << serialFlops << " parallel-nest=" << parallelNestElements
     << " task=" << elementsPerTask << " max-tasks=" << maxTasks << " parallel-slice=" << parallelSliceElements
     << " gemm-kc=" << gemmKBlock << " gemm-mc=" << gemmMBlock;
  if (!features.empty()) os << " features=" << features;
  return os.str();
}

}  // namespace fluidml::target
