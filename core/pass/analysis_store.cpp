// The analysis store: a name-ordered map of shared immutable values (copies share them: O(entries) per copy).
#include "core/pass/analysis_store.h"

namespace fluidml::pass {

bool AnalysisStore::erase(std::string_view name) {
  auto it = entries_.find(name);
  if (it == entries_.end()) return false;
  entries_.erase(it);
  return true;
}

std::vector<std::string> AnalysisStore::names() const {
  std::vector<std::string> names;
  for (const auto &[name, entry] : entries_) names.push_back(name);
  return names;
}

const AnalysisStore::Entry *AnalysisStore::entry(std::string_view name) const {
  auto it = entries_.find(name);
  return it == entries_.end() ? nullptr : &it->second;
}

bool AnalysisStore::sameEntry(const AnalysisStore &other, std::string_view name) const {
  const Entry *mine = entry(name), *theirs = other.entry(name);
  if (mine == nullptr || theirs == nullptr) return mine == theirs;
  return mine->value == theirs->value;
}

void AnalysisStore::invalidate(const AnalysisStore &before, const std::set<std::string, std::less<>> &preserved) {
  for (auto it = entries_.begin(); it != entries_.end();) {
    const bool written = !sameEntry(before, it->first);
    if (written || preserved.count(it->first) > 0) {
      ++it;
    } else {
      it = entries_.erase(it);
    }
  }
}

}  // namespace fluidml::pass
