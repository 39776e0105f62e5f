// The kernel-cost cache (core/target/cost_cache.h): a round trip through the file, atomic saves that merge
// what another process saved, and files that must never be trusted (corrupt, another format version, another
// machine) reported on the diagnostics stream and ignored. No LLVM, no timing.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "core/target/cost_cache.h"

using namespace fluidml;
namespace fs = std::filesystem;

namespace {

target::MachineIdentity machine(const std::string &cpu = "znver5") {
  return target::MachineIdentity{"AMD EPYC test", cpu, "avx512", "x86_64-unknown-linux-gnu cpu=" + cpu};
}

/// A fresh directory under the temp dir, removed at scope exit.
struct TempDir {
  fs::path path;
  explicit TempDir(const std::string &name) : path(fs::temp_directory_path() / name) {
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
};

void writeFile(const fs::path &path, const std::string &text) {
  std::ofstream out(path);
  out << text;
}

}  // namespace

TEST_CASE("Cost cache: entries and rates survive a save and a load", "[catalog]") {
  TempDir dir("fluidml_cost_cache_roundtrip");
  const std::string path = (dir.path / "sub" / "costs.json").string();  // the directory is made on save
  target::CostCache cache(path, machine());
  REQUIRE(cache.load(std::cerr) == 0);  // no file yet: nothing to report
  cache.put("Conv v17 (float32[1x3x8x8]) | Conv/row-major | threads=1", {1234.5, "measured", "im2col", 9, ""});
  cache.put("Relu v14 (float32[4]) | Relu/row-major | threads=2", {0, "measured", "", 3, ""});
  cache.put("Odd v1 | Odd/row-major | threads=1", {99, "analytic", "", 0, "no code generation"});
  cache.setRates(1, {1e10, 2e11});
  REQUIRE(cache.save().isOk());
  for (const auto &entry : fs::directory_iterator(dir.path / "sub"))  // no temporary left behind
    REQUIRE(entry.path().filename() == "costs.json");

  target::CostCache loaded(path, machine());
  std::ostringstream diagnostics;
  REQUIRE(loaded.load(diagnostics) == 3);
  REQUIRE(diagnostics.str().empty());
  const target::CostEntry *conv = loaded.find("Conv v17 (float32[1x3x8x8]) | Conv/row-major | threads=1");
  REQUIRE(conv != nullptr);
  REQUIRE(conv->nanoseconds == 1234.5);
  REQUIRE(conv->source == "measured");
  REQUIRE(conv->strategy == "im2col");
  REQUIRE(conv->runs == 9);
  REQUIRE(loaded.find("Odd v1 | Odd/row-major | threads=1")->note == "no code generation");
  REQUIRE(loaded.rates(1).has_value());
  REQUIRE(loaded.rates(1)->flopsPerSecond == 2e11);
  REQUIRE_FALSE(loaded.rates(2).has_value());
  REQUIRE(loaded.toJson() == cache.toJson());

  // Another process's entries saved meanwhile are kept; ours win on the same key.
  target::CostCache other(path, machine());
  REQUIRE(other.load(std::cerr) == 3);
  other.put("Other v1 | Other/row-major | threads=1", {5, "measured", "", 3, ""});
  REQUIRE(other.save().isOk());
  loaded.put("Conv v17 (float32[1x3x8x8]) | Conv/row-major | threads=1", {1000, "measured", "im2col", 9, ""});
  REQUIRE(loaded.save().isOk());
  target::CostCache merged(path, machine());
  REQUIRE(merged.load(std::cerr) == 4);
  REQUIRE(merged.find("Conv v17 (float32[1x3x8x8]) | Conv/row-major | threads=1")->nanoseconds == 1000);
}

TEST_CASE("Cost cache: a corrupt file is reported and ignored", "[catalog]") {
  TempDir dir("fluidml_cost_cache_corrupt");
  const std::string path = (dir.path / "costs.json").string();
  target::CostCache good(path, machine());
  good.put("Relu v14 (float32[4]) | Relu/row-major | threads=1", {10, "measured", "", 3, ""});
  REQUIRE(good.save().isOk());
  std::ifstream in(path);
  const std::string valid((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());

  const std::vector<std::pair<std::string, std::string>> corruptions = {
      {valid.substr(0, valid.size() / 2), "not valid JSON"},                                  // truncated
      {"[1, 2, 3]", "not a JSON object"},
      {[&] { auto j = nlohmann::json::parse(valid); j["entries"].begin().value()["ns"] = "fast"; return j.dump(); }(),
       "malformed"},
      {[&] { auto j = nlohmann::json::parse(valid); j["entries"].begin().value()["ns"] = -3.0; return j.dump(); }(),
       "\"ns\""},
      {[&] { auto j = nlohmann::json::parse(valid); j["entries"].begin().value()["source"] = "guessed"; return j.dump(); }(),
       "source 'guessed'"},
      {[&] { auto j = nlohmann::json::parse(valid); j.erase("entries"); return j.dump(); }(), "malformed"},
  };
  for (const auto &[text, reason] : corruptions) {
    INFO(reason);
    writeFile(path, text);
    target::CostCache cache(path, machine());
    std::ostringstream diagnostics;
    REQUIRE(cache.load(diagnostics) == 0);
    REQUIRE(cache.size() == 0);
    REQUIRE(diagnostics.str().find("ignoring the cost cache " + path) != std::string::npos);
    REQUIRE(diagnostics.str().find(reason) != std::string::npos);
    // The next save replaces the bad file with a good one.
    cache.put("Relu v14 (float32[4]) | Relu/row-major | threads=1", {11, "measured", "", 3, ""});
    REQUIRE(cache.save().isOk());
    target::CostCache reread(path, machine());
    std::ostringstream quiet;
    REQUIRE(reread.load(quiet) == 1);
    REQUIRE(quiet.str().empty());
  }
}

TEST_CASE("Cost cache: a file of another machine or format version is ignored", "[catalog]") {
  TempDir dir("fluidml_cost_cache_foreign");
  const std::string path = (dir.path / "costs.json").string();
  target::CostCache theirs(path, machine("skylake-avx512"));
  theirs.put("Relu v14 (float32[4]) | Relu/row-major | threads=1", {10, "measured", "", 3, ""});
  REQUIRE(theirs.save().isOk());

  target::CostCache ours(path, machine("znver5"));
  std::ostringstream diagnostics;
  REQUIRE(ours.load(diagnostics) == 0);
  REQUIRE(ours.find("Relu v14 (float32[4]) | Relu/row-major | threads=1") == nullptr);
  REQUIRE(diagnostics.str().find("another machine") != std::string::npos);
  REQUIRE(diagnostics.str().find("skylake-avx512") != std::string::npos);
  // Saving ours does not merge their entries in.
  ours.put("Relu v14 (float32[8]) | Relu/row-major | threads=1", {10, "measured", "", 3, ""});
  REQUIRE(ours.save().isOk());
  target::CostCache reread(path, machine("znver5"));
  REQUIRE(reread.load(std::cerr) == 1);

  auto json = reread.toJson();
  json["format"] = "fluidml-costs-0";
  writeFile(path, json.dump());
  target::CostCache old(path, machine("znver5"));
  std::ostringstream oldDiagnostics;
  REQUIRE(old.load(oldDiagnostics) == 0);
  REQUIRE(oldDiagnostics.str().find("format \"fluidml-costs-0\"") != std::string::npos);
}
