// Passes by name: a linear list (a few dozen entries), searched in O(passes) per lookup.
#include "core/pass/pass_registry.h"

#include <algorithm>
#include <cassert>

namespace fluidml::pass {

void PassRegistry::add(std::string name, std::string description, Factory factory) {
  assert(factory && "a pass needs a factory");
  assert(std::none_of(entries_.begin(), entries_.end(), [&](const Entry &e) { return e.name == name; }) &&
         "pass registered twice");
  entries_.push_back(Entry{std::move(name), std::move(description), std::move(factory)});
}

Expected<std::unique_ptr<Pass>> PassRegistry::create(const std::string &name, const nlohmann::json &options) const {
  auto entry = std::find_if(entries_.begin(), entries_.end(), [&](const Entry &e) { return e.name == name; });
  if (entry == entries_.end()) {
    std::vector<std::string> names;
    for (const Entry &e : entries_) names.push_back(e.name);
    std::sort(names.begin(), names.end());
    std::string listed;
    for (const std::string &n : names) listed += (listed.empty() ? "" : ", ") + n;
    if (listed.empty()) return Status::error("unknown pass '" + name + "'; no passes are registered");
    return Status::error("unknown pass '" + name + "'; valid passes: " + listed);
  }
  // Factories validate their keys with OptionsReader; the shape of the whole object is checked here once, so a
  // factory that forgets cannot be handed an array.
  if (!options.is_null() && !options.is_object())
    return Status::error("pass '" + name + "': options must be a JSON object, got " + options.type_name());
  static const nlohmann::json kNoOptions = nlohmann::json::object();
  Expected<std::unique_ptr<Pass>> pass = entry->factory(options.is_null() ? kNoOptions : options);
  if (pass.hasValue()) assert(*pass && pass.value()->name() == name && "factory built another pass");
  return pass;
}

}  // namespace fluidml::pass
