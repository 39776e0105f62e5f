// Analysis kinds by name: the C++ type stored under the name, its one JSON serializer (traces, snapshots) and
// its equality (the snapshot recorder's "did the analyses change"). Each kind is registered with one explicit
// line (the standard ones in passes/analyses.cpp); static initializers would be dropped by static libraries.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <typeindex>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/ir/graph.h"
#include "core/pass/analysis_store.h"

namespace fluidml::pass {

class AnalysisRegistry {
 public:
  /// A registered analysis kind, type-erased over the values of an AnalysisStore::Entry.
  struct Kind {
    std::string name;
    std::string description;
    std::type_index type = typeid(void);
    std::function<nlohmann::json(const ir::Graph &, const void *)> toJson;
    std::function<bool(const void *, const void *)> equal;
  };

  /// Registers analysis `name`, stored as a T, with its serializer (the graph is the one the analysis
  /// describes) and equality.
  template <typename T>
  void add(std::string name, std::string description,
           std::function<nlohmann::json(const ir::Graph &, const T &)> toJson,
           std::function<bool(const T &, const T &)> equal) {
    kinds_.push_back(Kind{std::move(name), std::move(description), std::type_index(typeid(T)),
                          [toJson](const ir::Graph &graph, const void *value) {
                            return toJson(graph, *static_cast<const T *>(value));
                          },
                          [equal](const void *a, const void *b) {
                            return equal(*static_cast<const T *>(a), *static_cast<const T *>(b));
                          }});
  }
  /// The kind registered as `name`, or nullptr.
  const Kind *find(std::string_view name) const;
  const std::vector<Kind> &kinds() const { return kinds_; }

  /// The analysis `name` of `store` as JSON: null when absent, not registered, or of another type than
  /// registered (a trace then still shows that the analysis existed).
  nlohmann::json toJson(const AnalysisStore &store, std::string_view name, const ir::Graph &graph) const;
  /// Every analysis of `store` as an object name -> JSON (see toJson), names sorted.
  nlohmann::json allToJson(const AnalysisStore &store, const ir::Graph &graph) const;
  /// True when both stores hold the same names and, per name, the same entry or equal values by the
  /// registered equality (an unregistered analysis is equal only to the same entry).
  bool sameAnalyses(const AnalysisStore &a, const AnalysisStore &b) const;

 private:
  std::vector<Kind> kinds_;
};

}  // namespace fluidml::pass
