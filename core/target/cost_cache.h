// The on-disk cache of kernel costs: human-readable JSON ($FLUIDML_CACHE_DIR/costs.json, by default
// ~/.cache/fluidml/costs.json) holding, for one machine, the measured cost of each kernel variant by a key that
// spells out the op, its attributes, the types (dtype, shape, layout) of its operands, the variant and the thread
// count, so identical layers share one entry. The file records the machine it was made on (CPU model, LLVM CPU
// name, ISA, the target summary) and a format version; a file that is not valid, or comes from another machine
// or format, is reported and ignored, never trusted (the next save replaces it). Saves write a temporary file
// and rename it over the old one, merging entries another process saved meanwhile.
#pragma once

#include <map>
#include <optional>
#include <ostream>
#include <string>

#include <nlohmann/json.hpp>

#include "core/ir/graph.h"
#include "core/support/status.h"
#include "core/target/kernel_catalog.h"
#include "core/target/target_description.h"

namespace fluidml::target {

/// The machine costs are valid for.
struct MachineIdentity {
  std::string cpuModel;  // /proc/cpuinfo "model name" ("unknown" when unreadable)
  std::string cpu;       // the LLVM CPU name the code is generated for ("znver5")
  std::string isa;       // "avx512", "avx2", "sse4.2"
  std::string target;    // TargetDescription::summary(): everything else that shapes the code
  bool operator==(const MachineIdentity &other) const = default;

  /// This host's CPU model with `target` (whose cpu should be resolved, not "native").
  static MachineIdentity of(const TargetDescription &target);
};

/// One cached cost.
struct CostEntry {
  double nanoseconds = 0;
  std::string source;    // "measured" or "analytic" (analytic entries are cached only when measuring failed)
  std::string strategy;  // the strategy the kernel took, "" when unknown
  int runs = 0;          // timed runs behind the median
  std::string note;      // what failed, for analytic entries
};

/// Memory bandwidth and FLOP rate measured on this machine at one thread count (the analytic fallback's rates).
struct MachineRates {
  double bytesPerSecond = 0;
  double flopsPerSecond = 0;
};

class CostCache {
 public:
  inline static const std::string kFormat = "fluidml-costs-1";

  /// An empty cache for `machine` that loads from and saves to `path` ("" keeps it in memory only).
  CostCache(std::string path, MachineIdentity machine) : path_(std::move(path)), machine_(std::move(machine)) {}

  /// $FLUIDML_CACHE_DIR/costs.json, else $XDG_CACHE_HOME/fluidml/costs.json, else ~/.cache/fluidml/costs.json;
  /// "" when FLUIDML_CACHE_DIR is "off" or "0", or no directory is known.
  static std::string defaultPath();

  /// Reads the file when it exists. A corrupt file, a file of another format version or of another machine is
  /// reported on `diagnostics` (one line naming the file and why) and ignored. Returns the entries read.
  size_t load(std::ostream &diagnostics);
  /// Writes the cache (when it has a path and changed since load/save): the entries of the file as it is now, if
  /// valid and of this machine, plus this cache's (which win), to a temporary file renamed over it.
  Status save();

  const CostEntry *find(const std::string &key) const;
  void put(const std::string &key, CostEntry entry);
  std::optional<MachineRates> rates(int threads) const;
  void setRates(int threads, MachineRates rates);

  size_t size() const { return entries_.size(); }
  const std::string &path() const { return path_; }
  const MachineIdentity &machine() const { return machine_; }

  /// The cache as JSON, and back: the parse fails (with the reason) on anything but a well-formed cache of this
  /// format and machine.
  nlohmann::json toJson() const;
  Status fromJson(const nlohmann::json &json);

 private:
  std::string path_;
  MachineIdentity machine_;
  std::map<std::string, CostEntry> entries_;
  std::map<int, MachineRates> rates_;
  bool dirty_ = false;
};

/// The cache key of `variant` of `node` at `threads` threads: op and opset, attributes, each input's type in the
/// variant's layout (constants by type; integer constants also by value, up to 64 elements, else by a hash of
/// their bytes, and float scalars by value: shapes, axes, indices and bounds change the kernel, weights and
/// biases do not), the outputs' types,
/// the implementation and the threads. Node and value names are not part of it: identical layers share entries.
std::string costKey(const ir::Graph &graph, const ir::Node &node, const KernelVariant &variant, int threads);

}  // namespace fluidml::target
