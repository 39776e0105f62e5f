// Analysis kinds by name; linear lookups, as there are a handful of kinds.
#include "core/pass/analysis_registry.h"

namespace fluidml::pass {

const AnalysisRegistry::Kind *AnalysisRegistry::find(std::string_view name) const {
  for (const Kind &kind : kinds_)
    if (kind.name == name) return &kind;
  return nullptr;
}

nlohmann::json AnalysisRegistry::toJson(const AnalysisStore &store, std::string_view name,
                                        const ir::Graph &graph) const {
  const AnalysisStore::Entry *entry = store.entry(name);
  const Kind *kind = find(name);
  if (entry == nullptr || kind == nullptr || kind->type != entry->type) return nullptr;
  return kind->toJson(graph, entry->value.get());
}

nlohmann::json AnalysisRegistry::allToJson(const AnalysisStore &store, const ir::Graph &graph) const {
  nlohmann::json all = nlohmann::json::object();
  for (const std::string &name : store.names()) all[name] = toJson(store, name, graph);
  return all;
}

bool AnalysisRegistry::sameAnalyses(const AnalysisStore &a, const AnalysisStore &b) const {
  if (a.names() != b.names()) return false;
  for (const std::string &name : a.names()) {
    if (a.sameEntry(b, name)) continue;
    const AnalysisStore::Entry &x = *a.entry(name), &y = *b.entry(name);
    const Kind *kind = find(name);
    if (kind == nullptr || x.type != kind->type || y.type != kind->type) return false;
    if (!kind->equal(x.value.get(), y.value.get())) return false;
  }
  return true;
}

}  // namespace fluidml::pass
