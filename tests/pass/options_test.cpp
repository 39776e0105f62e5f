// OptionsReader (strict keys, typed getters) and PassRegistry (unknown names list the valid passes), with a toy
// pass registered in a local registry so the tests do not depend on the standard passes.
#include <catch2/catch.hpp>

#include "core/pass/pass_registry.h"

using namespace fluidml;
using namespace fluidml::pass;
using nlohmann::json;

namespace {

struct ToyOptions {
  std::string prefix = "p_";
  bool uppercase = false;
  int64_t count = 1;
  uint32_t limit = 8;
  double scale = 0.5;
  std::string mode = "fast";
};

class ToyPass final : public Pass {
 public:
  explicit ToyPass(ToyOptions options) : options_(std::move(options)) {}
  std::string_view name() const override { return "toy"; }
  json options() const override {
    return {{"prefix", options_.prefix}, {"uppercase", options_.uppercase}, {"count", options_.count},
            {"limit", options_.limit},   {"scale", options_.scale},         {"mode", options_.mode}};
  }
  Expected<PassResult> run(ir::Graph &, PassContext &) override { return PassResult{}; }
  const ToyOptions &toyOptions() const { return options_; }

 private:
  ToyOptions options_;
};

Expected<std::unique_ptr<Pass>> createToy(const json &options) {
  OptionsReader reader("toy", options);
  FLUIDML_RETURN_IF_ERROR(reader.validate({"prefix", "uppercase", "count", "limit", "scale", "mode"}));
  ToyOptions o;
  FLUIDML_RETURN_IF_ERROR(reader.get("prefix", o.prefix));
  FLUIDML_RETURN_IF_ERROR(reader.get("uppercase", o.uppercase));
  FLUIDML_RETURN_IF_ERROR(reader.get("count", o.count));
  FLUIDML_RETURN_IF_ERROR(reader.get("limit", o.limit));
  FLUIDML_RETURN_IF_ERROR(reader.get("scale", o.scale));
  FLUIDML_RETURN_IF_ERROR(reader.getChoice("mode", {"fast", "slow"}, o.mode));
  return std::unique_ptr<Pass>(std::make_unique<ToyPass>(std::move(o)));
}

class Nothing final : public Pass {
 public:
  std::string_view name() const override { return "nothing"; }
  Expected<PassResult> run(ir::Graph &, PassContext &) override { return PassResult{}; }
};

PassRegistry toyRegistry() {
  PassRegistry registry;
  registry.add("toy", "a toy pass with every kind of option", createToy);
  registry.add("nothing", "takes no options", [](const json &options) -> Expected<std::unique_ptr<Pass>> {
    FLUIDML_RETURN_IF_ERROR(OptionsReader("nothing", options).validate({}));
    return std::unique_ptr<Pass>(std::make_unique<Nothing>());
  });
  registry.add("another", "registered last, listed first", [](const json &) -> Expected<std::unique_ptr<Pass>> {
    return Status::error("not built");
  });
  return registry;
}

/// The error of building "toy" with `options`.
std::string toyError(const json &options) {
  auto pass = toyRegistry().create("toy", options);
  REQUIRE_FALSE(pass.hasValue());
  return pass.message();
}

}  // namespace

TEST_CASE("OptionsReader names an unknown key and lists the valid ones sorted", "[pass][options]") {
  json options = {{"plannr", "greedy-size"}};
  OptionsReader reader("memory-plan", options);
  Status status = reader.validate({"planner", "alignment", "in-place", "views"});
  REQUIRE_FALSE(status.isOk());
  CHECK(status.message() ==
        "pass 'memory-plan': unknown option 'plannr'; valid options: alignment, in-place, planner, views");

  json none = {{"x", 1}};
  Status noOptions = OptionsReader("nothing", none).validate({});
  REQUIRE_FALSE(noOptions.isOk());
  CHECK(noOptions.message() == "pass 'nothing': unknown option 'x'; the pass takes no options");
}

TEST_CASE("OptionsReader rejects options that are not an object", "[pass][options]") {
  CHECK(toyError(json::array({1, 2})) == "pass 'toy': options must be a JSON object, got array");
  json text = "fast";
  Status status = OptionsReader("toy", text).validate({"mode"});
  REQUIRE_FALSE(status.isOk());
  CHECK(status.message() == "pass 'toy': options must be a JSON object, got string \"fast\"");
  // null is what a step without "options" amounts to.
  json null;
  CHECK(OptionsReader("toy", null).validate({"mode"}).isOk());
}

TEST_CASE("OptionsReader typed getters name the key and the expected type", "[pass][options]") {
  CHECK(toyError({{"prefix", 3}}) == "pass 'toy': option 'prefix' must be a string, got integer 3");
  CHECK(toyError({{"uppercase", "yes"}}) == "pass 'toy': option 'uppercase' must be true or false, got string \"yes\"");
  CHECK(toyError({{"count", 1.5}}) == "pass 'toy': option 'count' must be an integer, got number 1.5");
  CHECK(toyError({{"count", true}}) == "pass 'toy': option 'count' must be an integer, got true");
  CHECK(toyError({{"limit", -1}}) == "pass 'toy': option 'limit' must be an integer from 0 to 4294967295, got integer -1");
  CHECK(toyError({{"limit", 4294967296}}) ==
        "pass 'toy': option 'limit' must be an integer from 0 to 4294967295, got integer 4294967296");
  CHECK(toyError({{"limit", 64.0}}) ==
        "pass 'toy': option 'limit' must be an integer from 0 to 4294967295, got number 64.0");
  CHECK(toyError({{"scale", "big"}}) == "pass 'toy': option 'scale' must be a number, got string \"big\"");
  CHECK(toyError({{"scale", nullptr}}) == "pass 'toy': option 'scale' must be a number, got null");
  CHECK(toyError({{"mode", "medium"}}) == "pass 'toy': option 'mode' must be one of 'fast', 'slow', got 'medium'");
  CHECK(toyError({{"mode", 2}}) == "pass 'toy': option 'mode' must be a string, got integer 2");
}

TEST_CASE("OptionsReader keeps defaults for absent keys and reads present ones", "[pass][options]") {
  auto defaults = toyRegistry().create("toy", json::object());
  REQUIRE(defaults.hasValue());
  const ToyOptions &d = static_cast<const ToyPass &>(**defaults).toyOptions();
  CHECK(d.prefix == "p_");
  CHECK(d.uppercase == false);
  CHECK(d.count == 1);
  CHECK(d.limit == 8u);
  CHECK(d.scale == 0.5);
  CHECK(d.mode == "fast");

  auto set = toyRegistry().create("toy", {{"prefix", "q"}, {"uppercase", true}, {"count", -7}, {"limit", 4294967295u},
                                          {"scale", 3}, {"mode", "slow"}});
  REQUIRE(set.hasValue());
  const ToyOptions &s = static_cast<const ToyPass &>(**set).toyOptions();
  CHECK(s.prefix == "q");
  CHECK(s.uppercase == true);
  CHECK(s.count == -7);
  CHECK(s.limit == 4294967295u);
  CHECK(s.scale == 3.0);  // an integer literal is a fine number
  CHECK(s.mode == "slow");
  CHECK((*set)->options()["mode"] == "slow");

  // A null options object (a step without "options") builds with defaults too.
  CHECK(toyRegistry().create("toy", json()).hasValue());
}

TEST_CASE("PassRegistry: an unknown pass lists every registered pass, sorted", "[pass][registry]") {
  PassRegistry registry = toyRegistry();
  auto pass = registry.create("toyy", json::object());
  REQUIRE_FALSE(pass.hasValue());
  CHECK(pass.message() == "unknown pass 'toyy'; valid passes: another, nothing, toy");

  PassRegistry empty;
  auto none = empty.create("toy", json::object());
  REQUIRE_FALSE(none.hasValue());
  CHECK(none.message() == "unknown pass 'toy'; no passes are registered");
}

TEST_CASE("PassRegistry builds through the factory and passes its errors on", "[pass][registry]") {
  PassRegistry registry = toyRegistry();
  REQUIRE(registry.entries().size() == 3);
  CHECK(registry.entries()[0].name == "toy");
  CHECK(registry.entries()[0].description == "a toy pass with every kind of option");

  auto nothing = registry.create("nothing", json::object());
  REQUIRE(nothing.hasValue());
  CHECK((*nothing)->name() == "nothing");
  CHECK((*nothing)->options() == json::object());

  auto failing = registry.create("another", json::object());
  REQUIRE_FALSE(failing.hasValue());
  CHECK(failing.message() == "not built");

  // The registry checks the object shape even for a factory that does not.
  auto array = registry.create("another", json::array());
  REQUIRE_FALSE(array.hasValue());
  CHECK(array.message() == "pass 'another': options must be a JSON object, got array");
}
