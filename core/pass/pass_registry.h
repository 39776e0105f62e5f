// Passes by kebab-case name. Each pass is registered with one explicit line in passes/registry.cpp
// (no static initializers: static libraries drop them).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/pass/pass.h"

namespace fluidml::pass {

class PassRegistry {
 public:
  /// Builds a pass from its JSON options (an object; unknown keys are errors that list the valid ones).
  using Factory = std::function<Expected<std::unique_ptr<Pass>>(const nlohmann::json &options)>;

  void add(std::string name, std::string description, Factory factory);
  /// The pass, or an error naming `name` and listing every registered pass.
  Expected<std::unique_ptr<Pass>> create(const std::string &name, const nlohmann::json &options) const;
  struct Entry {
    std::string name;
    std::string description;
    Factory factory;
  };
  const std::vector<Entry> &entries() const { return entries_; }

 private:
  std::vector<Entry> entries_;
};

}  // namespace fluidml::pass
