#include "core/ir/attribute.h"

#include <sstream>

namespace fluidml::ir {

namespace {
template <typename T>
std::string listToString(const std::vector<T> &values) {
  std::ostringstream out;
  out << '[';
  for (size_t i = 0; i < values.size(); ++i) out << (i ? ", " : "") << values[i];
  out << ']';
  return out.str();
}
}  // namespace

std::string attributeToString(const Attribute &attribute) {
  struct Printer {
    std::string operator()(int64_t v) const { return std::to_string(v); }
    std::string operator()(float v) const {
      std::ostringstream out;
      out << v;
      return out.str();
    }
    std::string operator()(const std::string &v) const { return "'" + v + "'"; }
    std::string operator()(const Tensor &v) const { return "tensor " + v.type().toString(); }
    std::string operator()(const std::vector<int64_t> &v) const { return listToString(v); }
    std::string operator()(const std::vector<float> &v) const { return listToString(v); }
    std::string operator()(const std::vector<std::string> &v) const { return listToString(v); }
  };
  return std::visit(Printer{}, attribute);
}

}  // namespace fluidml::ir
