#include "tools/cli_options.h"

#include <algorithm>
#include <charconv>

#include "core/codegen/target_machine.h"

namespace fluidml::cli {

Expected<ir::Shape> parseShape(const std::string &text) {
  ir::Shape shape;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find('x', start);
    if (end == std::string::npos) end = text.size();
    int64_t dim = -1;
    auto [ptr, ec] = std::from_chars(text.data() + start, text.data() + end, dim);
    if (ec != std::errc() || ptr != text.data() + end || dim < 0)
      return Status::error("'" + text + "' is not a shape like 1x128");
    shape.push_back(dim);
    start = end + 1;
  }
  return shape;
}

namespace {

/// A whole decimal integer in [minimum, INT_MAX], else an error naming the flag.
Expected<int> parseInt(const std::string &flag, const std::string &text, int minimum) {
  int value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size() || value < minimum)
    return Status::error(flag + " expects an integer >= " + std::to_string(minimum) + ", got '" + text + "'");
  return value;
}

}  // namespace

Expected<CliOptions> parseCommandLine(int argc, char **argv) {
  CliOptions options;
  std::vector<std::string> args(argv, argv + argc);
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string &arg = args[i];
    auto value = [&](const std::string &flag) -> Expected<std::string> {
      if (i + 1 >= args.size()) return Status::error(flag + " needs a value");
      return args[++i];
    };
    if (arg == "--help" || arg == "-h") {
      options.help = true;
    } else if (arg == "--json") {
      options.json = true;
    } else if (arg == "--shape") {
      FLUIDML_ASSIGN_OR_RETURN(std::string spec, value(arg));
      size_t eq = spec.rfind('=');
      if (eq == std::string::npos || eq == 0) return Status::error("--shape expects name=1x128, got '" + spec + "'");
      auto shape = parseShape(spec.substr(eq + 1));
      if (!shape) return shape.status().withContext("--shape");
      options.shapes[spec.substr(0, eq)] = *shape;
    } else if (arg == "--inputs") {
      FLUIDML_ASSIGN_OR_RETURN(options.inputsDir, value(arg));
    } else if (arg == "--outputs") {
      FLUIDML_ASSIGN_OR_RETURN(options.outputsDir, value(arg));
    } else if (arg == "--pipeline") {
      FLUIDML_ASSIGN_OR_RETURN(options.pipeline, value(arg));
    } else if (arg == "--trace") {
      FLUIDML_ASSIGN_OR_RETURN(options.trace, value(arg));
    } else if (arg == "-o" || arg == "--output") {
      FLUIDML_ASSIGN_OR_RETURN(options.outputDir, value(arg));
    } else if (arg == "--check-plan") {
      options.checkPlan = true;
    } else if (arg == "--interpret") {
      options.interpret = true;
    } else if (arg == "--check") {
      options.check = true;
    } else if (arg == "--profile") {
      options.profile = true;
    } else if (arg == "--threads") {
      FLUIDML_ASSIGN_OR_RETURN(std::string text, value(arg));
      options.threadCounts.clear();
      for (size_t start = 0; start <= text.size();) {
        size_t end = std::min(text.find(',', start), text.size());
        FLUIDML_ASSIGN_OR_RETURN(int number, parseInt(arg, text.substr(start, end - start), 1));
        if (number > 1024) return Status::error("--threads expects at most 1024, got " + text);
        options.threadCounts.push_back(number);
        start = end + 1;
      }
      options.threads = options.threadCounts.front();
    } else if (arg == "--iters" || arg == "--warmup") {
      FLUIDML_ASSIGN_OR_RETURN(std::string text, value(arg));
      FLUIDML_ASSIGN_OR_RETURN(int number, parseInt(arg, text, arg == "--warmup" ? 0 : 1));
      (arg == "--iters" ? options.iters : options.warmup) = number;
    } else if (arg == "--dump-ir") {
      FLUIDML_ASSIGN_OR_RETURN(options.dumpIr, value(arg));
    } else if (arg == "--dump-asm") {
      FLUIDML_ASSIGN_OR_RETURN(options.dumpAsm, value(arg));
    } else if (arg == "--mcpu") {
      FLUIDML_ASSIGN_OR_RETURN(options.mcpu, value(arg));
    } else if (arg == "--target") {
      FLUIDML_ASSIGN_OR_RETURN(options.targetTriple, value(arg));
    } else if (arg == "--force") {
      options.force = true;
    } else if (arg == "--stop-after") {
      FLUIDML_ASSIGN_OR_RETURN(std::string text, value(arg));
      auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), options.stopAfter);
      if (ec != std::errc() || ptr != text.data() + text.size() || options.stopAfter < 0)
        return Status::error("--stop-after expects a non-negative integer, got '" + text + "'");
    } else if (arg == "--seed") {
      FLUIDML_ASSIGN_OR_RETURN(std::string text, value(arg));
      auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), options.seed);
      if (ec != std::errc() || ptr != text.data() + text.size())
        return Status::error("--seed expects a non-negative integer, got '" + text + "'");
    } else if (arg.size() > 1 && arg[0] == '-') {
      return Status::error("unknown option '" + arg + "' (see fluidml --help)");
    } else if (options.command.empty()) {
      options.command = arg;
    } else {
      options.positional.push_back(arg);
    }
  }
  if (options.threadCounts.size() > 1 && options.command != "tune")
    return Status::error("--threads takes a list of counts only for tune; " + options.command + " runs with one");
  auto target = codegen::resolveTarget(options.mcpu, options.targetTriple);
  if (!target) return target.status();
  options.target = std::move(target).value();
  return options;
}

}  // namespace fluidml::cli
