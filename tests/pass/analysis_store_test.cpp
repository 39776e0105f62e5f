// The analysis store (typed get/set, type mismatch, erase, names, copies sharing values) and the analysis
// registry (serializers by name, equality for "did the analyses change").
#include <catch2/catch.hpp>

#include "core/pass/analysis_registry.h"
#include "core/pass/analysis_store.h"
#include "tests/test_util.h"

using namespace fluidml;
using namespace fluidml::pass;
using nlohmann::json;

namespace {

/// A plain analysis struct, as later ones (chains, votes) will be.
struct Chains {
  std::vector<std::vector<ir::NodeId>> chains;
};

AnalysisRegistry chainsRegistry() {
  AnalysisRegistry registry;
  registry.add<Chains>(
      "chains", "node chains",
      [](const ir::Graph &, const Chains &c) { return json{{"chains", c.chains}}; },
      [](const Chains &a, const Chains &b) { return a.chains == b.chains; });
  return registry;
}

}  // namespace

TEST_CASE("AnalysisStore: get, set, has, erase and names", "[pass][analysis-store]") {
  AnalysisStore store;
  CHECK(store.empty());
  CHECK(store.get<std::string>("schedule") == nullptr);
  CHECK_FALSE(store.has("schedule"));

  store.set("schedule", std::string("memory-aware"));
  store.set("chains", Chains{{{0, 1}, {2}}});
  REQUIRE(store.get<std::string>("schedule") != nullptr);
  CHECK(*store.get<std::string>("schedule") == "memory-aware");
  REQUIRE(store.get<Chains>("chains") != nullptr);
  CHECK(store.get<Chains>("chains")->chains.size() == 2);
  CHECK(store.has("chains"));
  CHECK(store.names() == std::vector<std::string>{"chains", "schedule"});

  // Another type under the same name reads as absent; set replaces the entry whatever its type.
  CHECK(store.get<int>("schedule") == nullptr);
  CHECK(store.get<Chains>("schedule") == nullptr);
  store.set("schedule", 42);
  CHECK(store.get<std::string>("schedule") == nullptr);
  CHECK(*store.get<int>("schedule") == 42);

  CHECK(store.erase("schedule"));
  CHECK_FALSE(store.erase("schedule"));
  CHECK(store.names() == std::vector<std::string>{"chains"});
}

TEST_CASE("AnalysisStore: copies share values until one side sets a new one", "[pass][analysis-store]") {
  AnalysisStore store;
  store.set("chains", Chains{{{0}}});
  AnalysisStore copy = store;
  CHECK(copy.get<Chains>("chains") == store.get<Chains>("chains"));  // the same object, not a deep copy
  CHECK(copy.sameEntry(store, "chains"));
  CHECK(copy.sameEntry(store, "absent"));

  store.set("chains", Chains{{{0}}});  // an equal value is still a new entry: the pass wrote it
  CHECK_FALSE(copy.sameEntry(store, "chains"));
  CHECK(copy.get<Chains>("chains")->chains == std::vector<std::vector<ir::NodeId>>{{0}});

  // invalidate keeps what is preserved or written since `before`.
  AnalysisStore before = store;  // {chains}
  AnalysisStore after = store;
  after.set("schedule", std::string("import"));
  after.invalidate(before, {});
  CHECK(after.names() == std::vector<std::string>{"schedule"});  // chains is stale, schedule was written
  AnalysisStore preserved = before;
  preserved.invalidate(before, {"chains"});
  CHECK(preserved.names() == std::vector<std::string>{"chains"});
}

TEST_CASE("AnalysisRegistry serializes by name and compares by the registered equality", "[pass][analysis-store]") {
  AnalysisRegistry registry = chainsRegistry();
  REQUIRE(registry.find("chains") != nullptr);
  CHECK(registry.find("chains")->description == "node chains");
  CHECK(registry.find("votes") == nullptr);

  ir::Graph graph;
  AnalysisStore a;
  a.set("chains", Chains{{{0, 1}}});
  a.set("unregistered", 5);
  CHECK(registry.toJson(a, "chains", graph) == json{{"chains", {{0, 1}}}});
  CHECK(registry.toJson(a, "absent", graph).is_null());
  CHECK(registry.toJson(a, "unregistered", graph).is_null());
  CHECK(registry.allToJson(a, graph) == json{{"chains", {{"chains", {{0, 1}}}}}, {"unregistered", nullptr}});
  // A value of another type than registered is not serialized through the wrong serializer.
  AnalysisStore wrongType;
  wrongType.set("chains", 1);
  CHECK(registry.toJson(wrongType, "chains", graph).is_null());

  AnalysisStore b = a;
  CHECK(registry.sameAnalyses(a, b));
  b.set("chains", Chains{{{0, 1}}});  // a new entry with an equal value
  CHECK(registry.sameAnalyses(a, b));
  b.set("chains", Chains{{{1, 0}}});
  CHECK_FALSE(registry.sameAnalyses(a, b));
  b.set("chains", Chains{{{0, 1}}});
  b.set("unregistered", 5);  // no equality registered: only the same entry counts as equal
  CHECK_FALSE(registry.sameAnalyses(a, b));
  b.set("unregistered", 5);
  b.erase("unregistered");
  a.erase("unregistered");
  CHECK(registry.sameAnalyses(a, b));
  a.set("extra", 1);
  CHECK_FALSE(registry.sameAnalyses(a, b));
}
