// Strict reading of pass options (every key known, every value of the expected JSON type).
#include "core/pass/pass.h"

#include <algorithm>
#include <limits>

namespace fluidml::pass {

namespace {

/// "a, b, c" (sorted, so messages do not depend on the order a pass lists its keys).
std::string joinSorted(std::initializer_list<std::string_view> items) {
  std::vector<std::string> sorted(items.begin(), items.end());
  std::sort(sorted.begin(), sorted.end());
  std::string joined;
  for (const std::string &item : sorted) joined += (joined.empty() ? "" : ", ") + item;
  return joined;
}

/// The JSON type of a value as a user would name it in a message.
std::string jsonTypeName(const nlohmann::json &value) {
  if (value.is_number_integer()) return "integer " + value.dump();
  if (value.is_number_float()) return "number " + value.dump();
  if (value.is_string()) return "string " + value.dump();
  if (value.is_boolean()) return value.dump();
  return value.type_name();  // "null", "array", "object"
}

}  // namespace

OptionsReader::OptionsReader(std::string passName, const nlohmann::json &options)
    : passName_(std::move(passName)), options_(options) {}

Status OptionsReader::validate(std::initializer_list<std::string_view> valid) const {
  // A step without "options" carries an empty object; null is accepted as the same thing.
  if (options_.is_null()) return Status::ok();
  if (!options_.is_object())
    return Status::error("pass '" + passName_ + "': options must be a JSON object, got " + jsonTypeName(options_));
  for (const auto &item : options_.items()) {
    if (std::find(valid.begin(), valid.end(), item.key()) != valid.end()) continue;
    if (valid.size() == 0)
      return Status::error("pass '" + passName_ + "': unknown option '" + item.key() + "'; the pass takes no options");
    return Status::error("pass '" + passName_ + "': unknown option '" + item.key() +
                         "'; valid options: " + joinSorted(valid));
  }
  return Status::ok();
}

Status OptionsReader::typeError(std::string_view key, const char *expected) const {
  return Status::error("pass '" + passName_ + "': option '" + std::string(key) + "' must be " + expected + ", got " +
                       jsonTypeName(options_.at(std::string(key))));
}

Status OptionsReader::get(std::string_view key, std::string &out) const {
  if (!options_.is_object() || !options_.contains(key)) return Status::ok();
  const nlohmann::json &value = options_.at(std::string(key));
  if (!value.is_string()) return typeError(key, "a string");
  out = value.get<std::string>();
  return Status::ok();
}

Status OptionsReader::get(std::string_view key, bool &out) const {
  if (!options_.is_object() || !options_.contains(key)) return Status::ok();
  const nlohmann::json &value = options_.at(std::string(key));
  if (!value.is_boolean()) return typeError(key, "true or false");
  out = value.get<bool>();
  return Status::ok();
}

Status OptionsReader::get(std::string_view key, int64_t &out) const {
  if (!options_.is_object() || !options_.contains(key)) return Status::ok();
  const nlohmann::json &value = options_.at(std::string(key));
  if (value.is_number_unsigned()) {
    if (value.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      return typeError(key, "a 64-bit integer");
    out = static_cast<int64_t>(value.get<uint64_t>());
    return Status::ok();
  }
  if (!value.is_number_integer()) return typeError(key, "an integer");
  out = value.get<int64_t>();
  return Status::ok();
}

Status OptionsReader::get(std::string_view key, uint32_t &out) const {
  if (!options_.is_object() || !options_.contains(key)) return Status::ok();
  const nlohmann::json &value = options_.at(std::string(key));
  // nlohmann stores non-negative literals as unsigned, negative ones as signed integers.
  if (!value.is_number_unsigned() || value.get<uint64_t>() > std::numeric_limits<uint32_t>::max())
    return typeError(key, "an integer from 0 to 4294967295");
  out = static_cast<uint32_t>(value.get<uint64_t>());
  return Status::ok();
}

Status OptionsReader::get(std::string_view key, double &out) const {
  if (!options_.is_object() || !options_.contains(key)) return Status::ok();
  const nlohmann::json &value = options_.at(std::string(key));
  if (!value.is_number()) return typeError(key, "a number");
  out = value.get<double>();
  return Status::ok();
}

Status OptionsReader::getChoice(std::string_view key, std::initializer_list<std::string_view> choices,
                                std::string &out) const {
  if (!options_.is_object() || !options_.contains(key)) return Status::ok();
  std::string chosen;
  FLUIDML_RETURN_IF_ERROR(get(key, chosen));
  if (std::find(choices.begin(), choices.end(), chosen) == choices.end()) {
    std::string listed;
    for (std::string_view choice : choices) listed += (listed.empty() ? "'" : ", '") + std::string(choice) + "'";
    return Status::error("pass '" + passName_ + "': option '" + std::string(key) + "' must be one of " + listed +
                         ", got '" + chosen + "'");
  }
  out = chosen;
  return Status::ok();
}

}  // namespace fluidml::pass
