#include "core/ir/printer.h"

#include <sstream>

namespace fluidml::ir {

std::string dumpGraph(const Graph &graph) {
  std::ostringstream out;
  out << "graph " << graph.name << " (opset";
  for (const auto &[domain, version] : graph.opsetImports) out << ' ' << (domain.empty() ? "ai.onnx" : domain) << '=' << version;
  out << ")\n";
  auto ref = [&](ValueId id) { return id == kNoValue ? std::string("_") : "%" + graph.value(id).name; };
  for (ValueId in : graph.inputs()) out << "  input  " << ref(in) << " : " << graph.value(in).type.toString() << '\n';
  for (ValueId c : graph.constants())
    out << "  const  " << ref(c) << " : " << graph.value(c).type.toString() << '\n';
  for (NodeId id : graph.order()) {
    const Node &n = graph.node(id);
    out << "  ";
    for (size_t i = 0; i < n.outputs.size(); ++i) out << (i ? ", " : "") << ref(n.outputs[i]);
    out << " = " << (n.domain.empty() ? "" : n.domain + ".") << n.opType << '(';
    for (size_t i = 0; i < n.inputs.size(); ++i) out << (i ? ", " : "") << ref(n.inputs[i]);
    out << ')';
    out << " name='" << n.name << "'";
    for (const auto &[key, value] : n.attributes) out << ' ' << key << '=' << attributeToString(value);
    out << " :";
    for (size_t i = 0; i < n.outputs.size(); ++i)
      out << (i ? ", " : " ") << (n.outputs[i] == kNoValue ? "_" : graph.value(n.outputs[i]).type.toString());
    out << '\n';
  }
  for (ValueId o : graph.outputs()) out << "  output " << ref(o) << '\n';
  return out.str();
}

}  // namespace fluidml::ir
