// The analysis store: the analyses passes produce and read (schedule, memory plan, later chains, layouts, votes,
// cost tables), each a plain struct kept under its name. Values are immutable once stored and shared between
// copies, so a snapshot copies the store in O(entries) and a pass that refines an analysis sets a new value.
#pragma once

#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <typeindex>
#include <utility>
#include <vector>

namespace fluidml::pass {

class AnalysisStore {
 public:
  /// One stored analysis: the value (type-erased, immutable) and its C++ type.
  struct Entry {
    std::shared_ptr<const void> value;
    std::type_index type = typeid(void);
  };

  /// The analysis `name` when present and of type T, else nullptr.
  template <typename T>
  const T *get(std::string_view name) const {
    const Entry *found = entry(name);
    if (found == nullptr || found->type != std::type_index(typeid(T))) return nullptr;
    return static_cast<const T *>(found->value.get());
  }
  /// Stores `value` under `name`, replacing any previous entry (of any type).
  template <typename T>
  void set(std::string_view name, T value) {
    entries_.insert_or_assign(std::string(name),
                              Entry{std::make_shared<const T>(std::move(value)), std::type_index(typeid(T))});
  }
  /// Removes `name`; false when it was absent.
  bool erase(std::string_view name);
  bool has(std::string_view name) const { return entry(name) != nullptr; }
  /// Every stored name, sorted.
  std::vector<std::string> names() const;
  /// The entry under `name`, or nullptr (serializers and comparisons work on entries).
  const Entry *entry(std::string_view name) const;
  bool empty() const { return entries_.empty(); }

  /// True when `name` holds the very entry `other` holds under it (both absent counts as the same): the
  /// analysis was not written in between. A set() always makes a new entry, even with an equal value.
  bool sameEntry(const AnalysisStore &other, std::string_view name) const;
  /// After a pass that changed the graph: erases every analysis that is neither in `preserved` nor written
  /// since `before` (the store as the pass found it).
  void invalidate(const AnalysisStore &before, const std::set<std::string, std::less<>> &preserved);

 private:
  std::map<std::string, Entry, std::less<>> entries_;
};

}  // namespace fluidml::pass
