// Pipeline JSON (strict schema, errors that name the key path and the valid keys) and the pass manager loop
// (instrumentation hooks, analysis invalidation, --stop-after).
#include "core/pass/pipeline.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

namespace fluidml::pass {

namespace {

/// `source:line:column` of the character nlohmann's parser stopped at (`byte` = count of characters read).
/// Backs up over whitespace so an unfinished token is blamed, not the newline after it.
std::string locate(const std::string &source, const std::string &text, size_t byte) {
  size_t at = std::min(byte == 0 ? 0 : byte - 1, text.size());
  while (at > 0 && at <= text.size() && (at == text.size() || std::isspace(static_cast<unsigned char>(text[at]))))
    --at;
  size_t line = 1, column = 1;
  for (size_t i = 0; i < at && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++line;
      column = 1;
    } else {
      ++column;
    }
  }
  return source + ":" + std::to_string(line) + ":" + std::to_string(column);
}

/// nlohmann's message without its "[json.exception...] parse error at line L, column C: " prefix.
std::string parseErrorDescription(const std::string &what) {
  size_t prefix = what.find("parse error");
  if (prefix == std::string::npos) return what;
  size_t colon = what.find(": ", prefix);
  return colon == std::string::npos ? what : what.substr(colon + 2);
}

/// Finds the first key repeated inside one object (nlohmann keeps the last silently), as a key path.
class DuplicateKeyFinder {
 public:
  bool operator()(int, nlohmann::json::parse_event_t event, nlohmann::json &parsed) {
    using Event = nlohmann::json::parse_event_t;
    switch (event) {
      case Event::object_start:
      case Event::array_start:
        if (!frames_.empty() && !frames_.back().object) ++frames_.back().index;
        frames_.push_back(Frame{event == Event::object_start, {}, {}, -1});
        break;
      case Event::key: {
        Frame &top = frames_.back();
        top.key = parsed.get<std::string>();
        if (!top.keys.insert(top.key).second && duplicate_.empty()) duplicate_ = currentPath();
        break;
      }
      case Event::value:
        if (!frames_.empty() && !frames_.back().object) ++frames_.back().index;
        break;
      case Event::object_end:
      case Event::array_end:
        if (!frames_.empty()) frames_.pop_back();
        break;
    }
    return true;
  }
  const std::string &duplicate() const { return duplicate_; }

 private:
  struct Frame {
    bool object = true;
    std::set<std::string> keys;
    std::string key;
    int index = -1;
  };
  std::string currentPath() const {
    std::string path;
    for (const Frame &f : frames_) {
      if (f.object)
        path += (path.empty() ? "" : ".") + f.key;
      else
        path += "[" + std::to_string(f.index) + "]";
    }
    return path;
  }
  std::vector<Frame> frames_;
  std::string duplicate_;
};

std::string describe(const nlohmann::json &value) {
  if (value.is_string()) return "string " + value.dump();
  if (value.is_number() || value.is_boolean()) return value.type_name() + std::string(" ") + value.dump();
  return value.type_name();
}

}  // namespace

Expected<PipelineSpec> parsePipeline(const std::string &text, const std::string &source) {
  auto fail = [&](const std::string &message) { return Status::error(source + ": " + message); };

  nlohmann::json root;
  DuplicateKeyFinder duplicates;
  try {
    root = nlohmann::json::parse(text, std::ref(duplicates));
  } catch (const nlohmann::json::parse_error &e) {
    return Status::error(locate(source, text, e.byte) + ": invalid JSON: " + parseErrorDescription(e.what()));
  }
  if (!duplicates.duplicate().empty()) return fail("duplicate key '" + duplicates.duplicate() + "'");

  if (!root.is_object())
    return fail("a pipeline is a JSON object {\"name\": ..., \"passes\": [...]}, got " + describe(root));
  for (const auto &item : root.items())
    if (item.key() != "name" && item.key() != "passes")
      return fail("unknown key '" + item.key() + "'; valid keys: name, passes");

  PipelineSpec spec;
  if (root.contains("name")) {
    if (!root["name"].is_string()) return fail("'name' must be a string, got " + describe(root["name"]));
    spec.name = root["name"].get<std::string>();
  }
  if (!root.contains("passes")) return fail("missing key 'passes' (an array of {\"pass\": ..., \"options\": {...}})");
  const nlohmann::json &passes = root["passes"];
  if (!passes.is_array()) return fail("'passes' must be an array, got " + describe(passes));

  for (size_t i = 0; i < passes.size(); ++i) {
    const std::string at = "passes[" + std::to_string(i) + "]";
    const nlohmann::json &step = passes[i];
    if (!step.is_object())
      return fail(at + " must be an object {\"pass\": ..., \"options\": {...}}, got " + describe(step));
    for (const auto &item : step.items())
      if (item.key() != "pass" && item.key() != "options")
        return fail("unknown key '" + at + "." + item.key() + "'; valid keys: options, pass");
    if (!step.contains("pass")) return fail(at + ": missing key 'pass' (the pass name)");
    if (!step["pass"].is_string()) return fail(at + ".pass must be a string, got " + describe(step["pass"]));
    PipelineSpec::Step parsed;
    parsed.pass = step["pass"].get<std::string>();
    if (step.contains("options")) {
      if (!step["options"].is_object())
        return fail(at + ".options must be an object, got " + describe(step["options"]));
      parsed.options = step["options"];
    }
    spec.steps.push_back(std::move(parsed));
  }
  return spec;
}

Expected<PipelineSpec> readPipelineFile(const std::string &path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) return Status::error(path + ": is a directory, not a pipeline file");
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::error(path + ": cannot open the pipeline file");
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return Status::error(path + ": cannot read the pipeline file");
  FLUIDML_ASSIGN_OR_RETURN(PipelineSpec spec, parsePipeline(text.str(), path));
  // An unnamed pipeline is known by its file: traces and bench reports need a name.
  if (spec.name.empty()) spec.name = std::filesystem::path(path).stem().string();
  return spec;
}

Expected<PassManager> PassManager::fromSpec(const PipelineSpec &spec, const PassRegistry &registry) {
  PassManager manager;
  manager.name_ = spec.name;
  for (size_t i = 0; i < spec.steps.size(); ++i) {
    const PipelineSpec::Step &step = spec.steps[i];
    Expected<std::unique_ptr<Pass>> pass = registry.create(step.pass, step.options);
    if (!pass.hasValue())
      return pass.status().withContext("passes[" + std::to_string(i) + "] ('" + step.pass + "')");
    manager.addPass(std::move(pass).value());
  }
  return manager;
}

void invalidateAnalyses(PassContext &context, const AnalysisStore &before, const PassResult &result) {
  if (result.changed) context.analyses.invalidate(before, result.preserved);
}

Status PassManager::run(ir::Graph &graph, PassContext &context) {
  size_t count = passes_.size();
  if (stopAfter_ >= 0) count = std::min(count, static_cast<size_t>(stopAfter_));

  for (size_t i = 0; i < count; ++i) {
    Pass &pass = *passes_[i];
    const std::string label = "pass '" + std::string(pass.name()) + "' (#" + std::to_string(i) + ")";
    for (PassInstrumentation *instrumentation : instrumentations_) instrumentation->beforePass(pass, graph, context);

    // The store as the pass found it (values are shared, not copied): what the pass wrote differs from it.
    const AnalysisStore before = context.analyses;
    Expected<PassResult> result = pass.run(graph, context);
    if (!result.hasValue()) {
      for (PassInstrumentation *instrumentation : instrumentations_)
        instrumentation->afterPassFailed(pass, graph, result.status());
      return result.status().withContext(label);
    }
    invalidateAnalyses(context, before, *result);

    for (size_t k = 0; k < instrumentations_.size(); ++k) {
      Status status = instrumentations_[k]->afterPass(pass, graph, context, *result);
      if (status.isOk()) continue;
      // Every instrumentation that saw beforePass hears exactly one of afterPass / afterPassFailed.
      for (size_t rest = k + 1; rest < instrumentations_.size(); ++rest)
        instrumentations_[rest]->afterPassFailed(pass, graph, status);
      if (status.message().find("pass '" + std::string(pass.name()) + "'") != std::string::npos) return status;
      return status.withContext(label);
    }
  }
  return Status::ok();
}

}  // namespace fluidml::pass
