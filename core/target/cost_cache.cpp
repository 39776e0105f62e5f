#include "core/target/cost_cache.h"

#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace fluidml::target {

namespace {

std::string hostCpuModel() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) != 0) continue;
    const size_t colon = line.find(':');
    if (colon == std::string::npos) break;
    size_t start = line.find_first_not_of(" \t", colon + 1);
    return start == std::string::npos ? "unknown" : line.substr(start);
  }
  return "unknown";
}

nlohmann::json machineJson(const MachineIdentity &machine) {
  return {{"cpu_model", machine.cpuModel}, {"cpu", machine.cpu}, {"isa", machine.isa}, {"target", machine.target}};
}

/// 64-bit FNV-1a: a hash that is the same in every build and run (std::hash is not promised to be).
uint64_t fnv1a(const void *data, size_t bytes) {
  uint64_t hash = 1469598103934665603ull;
  const auto *p = static_cast<const unsigned char *>(data);
  for (size_t i = 0; i < bytes; ++i) hash = (hash ^ p[i]) * 1099511628211ull;
  return hash;
}

std::string typeText(const ir::TensorType &type, const ir::Layout &layout) {
  std::string text = std::string(ir::dtypeName(type.dtype)) + "[" + ir::shapeToString(type.shape) + "]";
  if (!layout.isRowMajor()) text += " " + layout.toString(type.rank());
  return text;
}

std::string constantText(const ir::Tensor &constant) {
  std::ostringstream out;
  out << "const " << ir::dtypeName(constant.dtype()) << "[" << ir::shapeToString(constant.shape()) << "]";
  // Integer constants (shapes, axes, indices, pads) and float scalars (Clip bounds, exponents) can change the
  // code; weights and biases only feed it.
  const bool integer = !ir::isFloating(constant.dtype());
  if ((integer && constant.numel() <= 64) || constant.numel() == 1) {
    out << " {";
    for (int64_t i = 0; i < constant.numel(); ++i) out << (i ? "," : "") << constant.elementAsDouble(i);
    out << "}";
  } else if (integer) {
    char hash[20];
    std::snprintf(hash, sizeof hash, "%016llx", static_cast<unsigned long long>(fnv1a(constant.rawData(), constant.bytes())));
    out << " #" << hash;
  }
  return out.str();
}

}  // namespace

MachineIdentity MachineIdentity::of(const TargetDescription &target) {
  return MachineIdentity{hostCpuModel(), target.cpu, target.isa, target.summary()};
}

std::string CostCache::defaultPath() {
  if (const char *dir = std::getenv("FLUIDML_CACHE_DIR"); dir != nullptr && *dir != '\0') {
    const std::string value(dir);
    return value == "off" || value == "0" ? "" : value + "/costs.json";
  }
  if (const char *xdg = std::getenv("XDG_CACHE_HOME"); xdg != nullptr && *xdg != '\0')
    return std::string(xdg) + "/fluidml/costs.json";
  if (const char *home = std::getenv("HOME"); home != nullptr && *home != '\0')
    return std::string(home) + "/.cache/fluidml/costs.json";
  return "";
}

nlohmann::json CostCache::toJson() const {
  nlohmann::json rates = nlohmann::json::object();
  for (const auto &[threads, r] : rates_)
    rates[std::to_string(threads)] = {{"bytes_per_second", r.bytesPerSecond}, {"flops_per_second", r.flopsPerSecond}};
  nlohmann::json entries = nlohmann::json::object();
  for (const auto &[key, e] : entries_) {
    nlohmann::json entry{{"ns", e.nanoseconds}, {"source", e.source}};
    if (!e.strategy.empty()) entry["strategy"] = e.strategy;
    if (e.runs > 0) entry["runs"] = e.runs;
    if (!e.note.empty()) entry["note"] = e.note;
    entries[key] = std::move(entry);
  }
  return {{"format", kFormat}, {"machine", machineJson(machine_)}, {"rates", rates}, {"entries", entries}};
}

Status CostCache::fromJson(const nlohmann::json &json) {
  if (!json.is_object()) return Status::error("not a JSON object");
  if (!json.contains("format") || json["format"] != kFormat)
    return Status::error("format " + (json.contains("format") ? json["format"].dump() : std::string("missing")) +
                         ", expected \"" + kFormat + "\"");
  if (!json.contains("machine") || json["machine"] != machineJson(machine_)) {
    const nlohmann::json other = json.value("machine", nlohmann::json::object());
    return Status::error("made on another machine (" + other.value("cpu_model", std::string("?")) + ", cpu " +
                         other.value("cpu", std::string("?")) + ", " + other.value("isa", std::string("?")) +
                         "; this one: " + machine_.cpuModel + ", cpu " + machine_.cpu + ", " + machine_.isa +
                         (other.value("target", std::string()) != machine_.target &&
                                  other.value("cpu", std::string()) == machine_.cpu
                              ? ", another target description"
                              : "") +
                         ")");
  }
  std::map<std::string, CostEntry> entries;
  std::map<int, MachineRates> rates;
  try {
    for (const auto &[threads, r] : json.at("rates").items()) {
      MachineRates value{r.at("bytes_per_second").get<double>(), r.at("flops_per_second").get<double>()};
      const int count = std::stoi(threads);
      if (!(value.bytesPerSecond > 0) || !(value.flopsPerSecond > 0) || !std::isfinite(value.bytesPerSecond) ||
          !std::isfinite(value.flopsPerSecond) || count < 1)
        return Status::error("rates for '" + threads + "' threads are not positive numbers");
      rates[count] = value;
    }
    for (const auto &[key, e] : json.at("entries").items()) {
      CostEntry entry;
      entry.nanoseconds = e.at("ns").get<double>();
      entry.source = e.at("source").get<std::string>();
      entry.strategy = e.value("strategy", std::string());
      entry.runs = e.value("runs", 0);
      entry.note = e.value("note", std::string());
      if (!(entry.nanoseconds >= 0) || !std::isfinite(entry.nanoseconds))
        return Status::error("entry '" + key + "' has no finite \"ns\" >= 0");
      if (entry.source != "measured" && entry.source != "analytic")
        return Status::error("entry '" + key + "' has source '" + entry.source + "'");
      entries[key] = std::move(entry);
    }
  } catch (const std::exception &e) {  // missing keys, wrong JSON types
    return Status::error(std::string("malformed: ") + e.what());
  }
  entries_ = std::move(entries);
  rates_ = std::move(rates);
  dirty_ = false;
  return Status::ok();
}

size_t CostCache::load(std::ostream &diagnostics) {
  std::error_code ec;
  if (path_.empty() || !std::filesystem::exists(path_, ec)) return 0;
  std::ifstream in(path_);
  nlohmann::json json = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  Status read = json.is_discarded() ? Status::error("not valid JSON") : fromJson(json);
  if (!read.isOk()) {
    diagnostics << "fluidml: warning: ignoring the cost cache " << path_ << ": " << read.message() << '\n';
    entries_.clear();
    rates_.clear();
    dirty_ = true;  // the next save replaces it
    return 0;
  }
  return entries_.size();
}

Status CostCache::save() {
  if (path_.empty() || !dirty_) return Status::ok();
  // Entries another process saved since our load survive, when its file is valid and of this machine.
  CostCache onDisk(path_, machine_);
  std::ostringstream ignored;
  onDisk.load(ignored);
  for (auto &[key, entry] : onDisk.entries_) entries_.emplace(key, entry);
  for (auto &[threads, r] : onDisk.rates_) rates_.emplace(threads, r);

  const std::filesystem::path path(path_);
  std::error_code ec;
  if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path(), ec);
  const std::string temporary = path_ + ".tmp" + std::to_string(getpid());
  {
    std::ofstream out(temporary, std::ios::trunc);
    out << toJson().dump(1) << '\n';
    if (!out) {
      std::filesystem::remove(temporary, ec);
      return Status::error("cannot write the cost cache " + temporary);
    }
  }
  std::filesystem::rename(temporary, path, ec);
  if (ec) {
    std::filesystem::remove(temporary, ec);
    return Status::error("cannot replace the cost cache " + path_ + ": " + ec.message());
  }
  dirty_ = false;
  return Status::ok();
}

const CostEntry *CostCache::find(const std::string &key) const {
  auto found = entries_.find(key);
  return found == entries_.end() ? nullptr : &found->second;
}

void CostCache::put(const std::string &key, CostEntry entry) {
  entries_[key] = std::move(entry);
  dirty_ = true;
}

std::optional<MachineRates> CostCache::rates(int threads) const {
  auto found = rates_.find(threads);
  if (found == rates_.end()) return std::nullopt;
  return found->second;
}

void CostCache::setRates(int threads, MachineRates rates) {
  rates_[threads] = rates;
  dirty_ = true;
}

std::string costKey(const ir::Graph &graph, const ir::Node &node, const KernelVariant &variant, int threads) {
  std::ostringstream key;
  key << (node.domain.empty() ? "" : node.domain + ".") << node.opType << " v" << graph.opsetVersion(node.domain);
  key << " (";
  for (size_t i = 0; i < node.inputs.size(); ++i) {
    key << (i ? "; " : "");
    const ir::ValueId in = node.inputs[i];
    if (in == ir::kNoValue) {
      key << "-";
    } else if (graph.value(in).isConstant()) {
      key << constantText(graph.value(in).constant);
    } else {
      key << typeText(graph.value(in).type, i < variant.inputs.size() ? variant.inputs[i] : ir::Layout::rowMajor());
    }
  }
  key << ") -> (";
  for (size_t k = 0; k < node.outputs.size(); ++k) {
    key << (k ? "; " : "");
    const ir::ValueId out = node.outputs[k];
    if (out == ir::kNoValue) {
      key << "-";
    } else {
      key << typeText(graph.value(out).type, k < variant.outputs.size() ? variant.outputs[k] : ir::Layout::rowMajor());
      if (graph.value(out).uses.empty() && !graph.isGraphOutput(out)) key << " unused";
    }
  }
  key << ")";
  for (const auto &[name, attribute] : node.attributes) {
    if (node.domain == "fluidml" && node.opType == "Relayout" && name == "layout") continue;  // the variant says it
    key << " " << name << "=" << ir::attributeToString(attribute);
  }
  key << " | " << variant.implementation << " | threads=" << threads;
  return key.str();
}

}  // namespace fluidml::target
