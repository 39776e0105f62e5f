// ONNX import in four steps: (1) the opset and the constants (initializers, and graph inputs bound to known
// values when they decide shapes), (2) graph inputs with static shapes (dim_param fixed from the options),
// (3) nodes added in file order with their outputs, then operands wired by name (so unsorted files work),
// (4) a stable topological sort, type inference with folding, and the verifier. Linear in the model size
// plus the cost of the folded kernels.
#include "core/onnx/onnx_import.h"

#include <set>
#include <unordered_map>
#include <unordered_set>

#include <onnx/onnx_pb.h>

#include "core/analysis/constant_folding.h"
#include "core/ir/verifier.h"
#include "core/onnx/proto_io.h"
#include "core/onnx/tensor_proto_convert.h"
#include "core/ops/op_registry.h"

namespace fluidml::onnxio {

namespace {

std::string normalizeDomain(const std::string &domain) { return domain == "ai.onnx" ? std::string() : domain; }

std::string qualifiedOpType(const onnx::NodeProto &node) {
  std::string domain = normalizeDomain(node.domain());
  return domain.empty() ? node.op_type() : domain + "." + node.op_type();
}

std::string joinNames(const std::vector<std::string> &names) {
  std::string text;
  for (const std::string &name : names) text += (text.empty() ? "" : ", ") + name;
  return text.empty() ? std::string("(none)") : text;
}

// The ai.onnx version, or an error when the model imports none or one newer than we know.
Expected<int64_t> defaultOpset(const onnx::ModelProto &model) {
  for (const auto &entry : model.opset_import())
    if (normalizeDomain(entry.domain()).empty()) {
      if (entry.version() > kMaxOpset)
        return Status::error("the model uses ai.onnx opset " + std::to_string(entry.version()) +
                             ", newer than the newest supported opset " + std::to_string(kMaxOpset));
      if (entry.version() < 1)
        return Status::error("the model imports ai.onnx opset " + std::to_string(entry.version()));
      return entry.version();
    }
  return Status::error("the model does not import the ai.onnx opset (opset_import has no entry for domain '')");
}

// Attributes whose kind the IR cannot hold.
Status unsupportedAttribute(const onnx::AttributeProto &attribute, onnx::AttributeProto::AttributeType kind) {
  if (kind == onnx::AttributeProto::GRAPH || kind == onnx::AttributeProto::GRAPHS)
    return Status::error("attribute '" + attribute.name() + "': subgraph attributes (If/Loop/Scan) are not supported");
  return Status::error("attribute '" + attribute.name() + "' has kind " +
                       onnx::AttributeProto_AttributeType_Name(kind) + ", which is not supported");
}

// Old writers leave `type` unset; the filled field tells the kind then.
onnx::AttributeProto::AttributeType attributeKind(const onnx::AttributeProto &a) {
  if (a.type() != onnx::AttributeProto::UNDEFINED) return a.type();
  if (a.has_f()) return onnx::AttributeProto::FLOAT;
  if (a.has_i()) return onnx::AttributeProto::INT;
  if (a.has_s()) return onnx::AttributeProto::STRING;
  if (a.has_t()) return onnx::AttributeProto::TENSOR;
  if (a.has_g()) return onnx::AttributeProto::GRAPH;
  if (a.has_sparse_tensor()) return onnx::AttributeProto::SPARSE_TENSOR;
  if (a.floats_size() > 0) return onnx::AttributeProto::FLOATS;
  if (a.ints_size() > 0) return onnx::AttributeProto::INTS;
  if (a.strings_size() > 0) return onnx::AttributeProto::STRINGS;
  if (a.tensors_size() > 0) return onnx::AttributeProto::TENSORS;
  if (a.graphs_size() > 0) return onnx::AttributeProto::GRAPHS;
  return onnx::AttributeProto::UNDEFINED;
}

Expected<ir::Attribute> convertAttribute(const onnx::AttributeProto &a, const std::string &baseDir) {
  onnx::AttributeProto::AttributeType kind = attributeKind(a);
  switch (kind) {
    case onnx::AttributeProto::INT: return ir::Attribute(a.i());
    case onnx::AttributeProto::FLOAT: return ir::Attribute(a.f());
    case onnx::AttributeProto::STRING: return ir::Attribute(a.s());
    case onnx::AttributeProto::TENSOR: {
      Expected<ir::Tensor> tensor = tensorFromProto(a.t(), baseDir);
      if (!tensor) return tensor.status().withContext("attribute '" + a.name() + "'");
      return ir::Attribute(std::move(tensor).value());
    }
    case onnx::AttributeProto::INTS: return ir::Attribute(std::vector<int64_t>(a.ints().begin(), a.ints().end()));
    case onnx::AttributeProto::FLOATS: return ir::Attribute(std::vector<float>(a.floats().begin(), a.floats().end()));
    case onnx::AttributeProto::STRINGS:
      return ir::Attribute(std::vector<std::string>(a.strings().begin(), a.strings().end()));
    case onnx::AttributeProto::UNDEFINED:
      return Status::error("attribute '" + a.name() + "' has no value");
    default: return unsupportedAttribute(a, kind);
  }
}

// The declared type of a graph input, with symbolic dims fixed from the options.
Expected<ir::TensorType> inputType(const onnx::ValueInfoProto &info, const ImportOptions &options) {
  const std::string label = "graph input '" + info.name() + "'";
  if (!info.type().has_tensor_type())
    return Status::error(label + " is not a tensor (sequence, map and optional inputs are not supported)");
  const auto &tensorType = info.type().tensor_type();
  std::optional<ir::DType> dtype = dtypeFromOnnx(tensorType.elem_type());
  if (!dtype)
    return Status::error(label + " has unsupported element type " + onnxElementTypeName(tensorType.elem_type()));

  auto given = options.inputShapes.find(info.name());
  if (!tensorType.has_shape()) {
    if (given == options.inputShapes.end())
      return Status::error(label + " has no declared shape; give its full shape (--shape " + info.name() + "=...)");
    return ir::TensorType(*dtype, given->second);
  }
  const auto &dims = tensorType.shape().dim();
  std::string declared;
  for (int i = 0; i < dims.size(); ++i)
    declared += (i ? "x" : "") + (dims[i].has_dim_value() ? std::to_string(dims[i].dim_value())
                                                          : (dims[i].has_dim_param() ? dims[i].dim_param() : "?"));
  if (dims.empty()) declared = "scalar";

  ir::Shape shape;
  if (given != options.inputShapes.end()) {
    const ir::Shape &g = given->second;
    if (g.size() != static_cast<size_t>(dims.size()))
      return Status::error(label + ": the given shape " + ir::shapeToString(g) + " has rank " +
                           std::to_string(g.size()) + ", the model declares rank " + std::to_string(dims.size()) +
                           " (" + declared + ")");
    for (int i = 0; i < dims.size(); ++i) {
      if (g[i] < 0) return Status::error(label + ": the given shape " + ir::shapeToString(g) + " has a negative dimension");
      if (dims[i].has_dim_value() && dims[i].dim_value() != g[i])
        return Status::error(label + ": the given shape " + ir::shapeToString(g) + " disagrees with the declared shape " +
                             declared + " in dimension " + std::to_string(i));
    }
    shape = g;
  } else {
    for (const auto &dim : dims) {
      if (dim.has_dim_value()) {
        if (dim.dim_value() < 0)
          return Status::error(label + " declares a negative dimension (" + declared + ")");
        shape.push_back(dim.dim_value());
      } else {
        shape.push_back(options.defaultDim);
      }
    }
  }
  return ir::TensorType(*dtype, shape);
}

// Names whose values decide some output shape: the shape operands of every node (Reshape's shape...) and,
// transitively, the operands of the nodes computing them (an input cast to Range's limit). Shape and Size read
// only their operand's type, so the walk stops there. A bound graph input in this set becomes a constant.
std::unordered_set<std::string> namesDecidingShapes(const onnx::GraphProto &graph) {
  std::unordered_map<std::string, int> producers;
  for (int i = 0; i < graph.node_size(); ++i)
    for (const std::string &out : graph.node(i).output()) producers.emplace(out, i);
  std::vector<std::string> pending;
  for (const onnx::NodeProto &node : graph.node()) {
    const ops::OpSchema *schema = ops::OpRegistry::instance().find(normalizeDomain(node.domain()), node.op_type());
    if (schema == nullptr) continue;
    for (int k : schema->shapeOperands)
      if (k < node.input_size() && !node.input(k).empty()) pending.push_back(node.input(k));
  }
  std::unordered_set<std::string> names;
  while (!pending.empty()) {
    std::string name = std::move(pending.back());
    pending.pop_back();
    if (!names.insert(name).second) continue;
    auto producer = producers.find(name);
    if (producer == producers.end()) continue;
    const onnx::NodeProto &node = graph.node(producer->second);
    if (normalizeDomain(node.domain()).empty() && (node.op_type() == "Shape" || node.op_type() == "Size")) continue;
    for (const std::string &in : node.input())
      if (!in.empty()) pending.push_back(in);
  }
  return names;
}

// Builds the IR from a parsed model. Initializer bytes are released as they are converted, so a large model
// is not held twice.
Expected<ir::Graph> importModel(onnx::ModelProto &model, const std::string &baseDir, const ImportOptions &options) {
  FLUIDML_ASSIGN_OR_RETURN(int64_t opset, defaultOpset(model));
  if (!model.has_graph()) return Status::error("the model has no graph");
  onnx::GraphProto &proto = *model.mutable_graph();
  if (proto.sparse_initializer_size() > 0)
    return Status::error("sparse initializer '" + proto.sparse_initializer(0).values().name() + "' is not supported");

  ir::Graph graph;
  if (!proto.name().empty()) graph.name = proto.name();
  graph.opsetImports.clear();
  for (const auto &entry : model.opset_import()) graph.opsetImports[normalizeDomain(entry.domain())] = entry.version();
  graph.opsetImports[""] = opset;

  std::unordered_map<std::string, ir::ValueId> byName;
  auto define = [&](const std::string &name, ir::ValueId id) { byName.emplace(name, id); };

  // (1) Initializers.
  for (onnx::TensorProto &init : *proto.mutable_initializer()) {
    if (init.name().empty()) return Status::error("an initializer has no name");
    if (byName.count(init.name())) return Status::error("initializer '" + init.name() + "' is defined twice");
    FLUIDML_ASSIGN_OR_RETURN(ir::Tensor tensor, tensorFromProto(init, baseDir));
    define(init.name(), graph.addConstant(init.name(), std::move(tensor)));
    std::string().swap(*init.mutable_raw_data());  // clear_raw_data() would keep the capacity
  }

  std::unordered_set<std::string> shapeOperandNames = namesDecidingShapes(proto);

  // (2) Graph inputs; initializers listed as inputs too (IR version < 4) stay constants.
  std::vector<std::string> modelInputs;
  for (const onnx::ValueInfoProto &info : proto.input())
    if (!byName.count(info.name())) modelInputs.push_back(info.name());
  for (const auto &[name, shape] : options.inputShapes)
    if (std::find(modelInputs.begin(), modelInputs.end(), name) == modelInputs.end())
      return Status::error("a shape is given for input '" + name + "', which the model does not have; its inputs are: " +
                           joinNames(modelInputs));
  for (const onnx::ValueInfoProto &info : proto.input()) {
    if (byName.count(info.name())) {
      if (graph.value(byName.at(info.name())).isConstant()) continue;
      return Status::error("graph input '" + info.name() + "' is listed twice");
    }
    if (info.name().empty()) return Status::error("a graph input has no name");
    FLUIDML_ASSIGN_OR_RETURN(ir::TensorType type, inputType(info, options));
    auto bound = options.inputValues.find(info.name());
    if (bound != options.inputValues.end() && shapeOperandNames.count(info.name())) {
      if (bound->second.dtype() != type.dtype)
        return Status::error("the value given for graph input '" + info.name() + "' is " +
                             bound->second.type().toString() + ", the model declares " +
                             std::string(ir::dtypeName(type.dtype)));
      define(info.name(), graph.addConstant(info.name(), bound->second));
      continue;
    }
    define(info.name(), graph.addInput(info.name(), std::move(type)));
  }

  // (3) Nodes: outputs first, operands once every name is known.
  std::unordered_set<std::string> nodeNames;
  std::vector<ir::NodeId> nodeIds;
  for (int index = 0; index < proto.node_size(); ++index) {
    const onnx::NodeProto &node = proto.node(index);
    std::string name = node.name().empty() ? node.op_type() + "_" + std::to_string(index) : node.name();
    if (nodeNames.count(name)) {
      int suffix = 1;
      while (nodeNames.count(name + "_" + std::to_string(suffix))) ++suffix;
      name += "_" + std::to_string(suffix);
    }
    nodeNames.insert(name);
    std::string context = "node '" + name + "' (" + node.op_type() + ", #" + std::to_string(index) + ")";

    ir::AttributeMap attributes;
    for (const onnx::AttributeProto &a : node.attribute()) {
      Expected<ir::Attribute> attribute = convertAttribute(a, baseDir);
      if (!attribute) return attribute.status().withContext(context);
      attributes[a.name()] = std::move(attribute).value();
    }
    std::vector<std::string> outputs(node.output().begin(), node.output().end());
    for (const std::string &out : outputs)
      if (!out.empty() && byName.count(out))
        return Status::error(context + ": value '" + out + "' is produced twice (it is already " +
                             (graph.value(byName.at(out)).producer != ir::kNoNode
                                  ? "the output of node '" + graph.node(graph.value(byName.at(out)).producer).name + "'"
                                  : std::string("an initializer or a graph input")) +
                             ")");
    std::set<std::string> seen;
    for (const std::string &out : outputs)
      if (!out.empty() && !seen.insert(out).second)
        return Status::error(context + ": value '" + out + "' is produced twice by this node");
    ir::NodeId id = graph.addNode(node.op_type(), name, {}, outputs, std::move(attributes), normalizeDomain(node.domain()));
    for (ir::ValueId out : graph.node(id).outputs)
      if (out != ir::kNoValue) define(graph.value(out).name, out);
    nodeIds.push_back(id);
  }
  for (int index = 0; index < proto.node_size(); ++index) {
    const onnx::NodeProto &node = proto.node(index);
    ir::NodeId id = nodeIds[static_cast<size_t>(index)];
    for (int k = 0; k < node.input_size(); ++k) {
      const std::string &in = node.input(k);
      ir::ValueId value = ir::kNoValue;
      if (!in.empty()) {
        auto it = byName.find(in);
        if (it == byName.end())
          return Status::error(ops::describeNode(graph.node(id)) + ": input '" + in +
                               "' is not produced by any node, initializer or graph input");
        value = it->second;
      }
      graph.setOperand(id, k, value);
    }
  }

  for (const onnx::ValueInfoProto &info : proto.output()) {
    auto it = byName.find(info.name());
    if (it == byName.end())
      return Status::error("graph output '" + info.name() + "' is not produced by any node, initializer or graph input");
    graph.addOutput(it->second);
  }
  if (graph.outputs().empty()) return Status::error("the graph has no outputs");

  // (4) Order, types, folding.
  FLUIDML_RETURN_IF_ERROR(graph.topologicalSort());
  analysis::FoldOptions foldOptions;
  foldOptions.fold = options.fold;
  Expected<analysis::FoldStats> folded = analysis::inferTypesAndFold(graph, foldOptions);
  if (!folded) return folded.status();
  Status verified = ir::verify(graph);
  if (!verified.isOk()) return Status::internal("the imported graph does not verify: " + verified.message());
  return graph;
}

}  // namespace

Expected<ir::Graph> importModelFile(const std::string &path, const ImportOptions &options) {
  onnx::ModelProto model;
  Status parsed = parseProtoFile(path, "ONNX model", model);
  if (!parsed.isOk()) return parsed.withContext(path);
  Expected<ir::Graph> graph = importModel(model, parentFolder(path), options);
  if (!graph) return graph.status().withContext(path);
  return graph;
}

Expected<ir::Graph> importModelBytes(const std::string &bytes, const std::string &displayName,
                                     const std::string &baseDir, const ImportOptions &options) {
  onnx::ModelProto model;
  if (bytes.size() > kMaxProtoBytes)
    return Status::error(displayName + ": the model is " + formatBytes(bytes.size()) +
                         ", over protobuf's 2 GiB limit; save the weights as external data");
  if (!parseProtoBytes(bytes, model))
    return Status::error(displayName + ": not a valid ONNX model (protobuf parse failed)");
  Expected<ir::Graph> graph = importModel(model, baseDir.empty() ? std::string(".") : baseDir, options);
  if (!graph) return graph.status().withContext(displayName);
  return graph;
}

Expected<ModelScan> scanModelFile(const std::string &path) {
  onnx::ModelProto model;
  Status parsed = parseProtoFile(path, "ONNX model", model);
  if (!parsed.isOk()) return parsed.withContext(path);

  ModelScan scan;
  std::map<std::string, int64_t> opsets;
  for (const auto &entry : model.opset_import()) opsets[normalizeDomain(entry.domain())] = entry.version();
  scan.opset = opsets.count("") ? opsets.at("") : 0;

  auto addUnique = [](std::vector<std::string> &list, const std::string &item) {
    if (std::find(list.begin(), list.end(), item) == list.end()) list.push_back(item);
  };
  auto noteElementType = [&](int32_t elemType) {
    if (!dtypeFromOnnx(elemType)) addUnique(scan.unsupportedTypes, onnxElementTypeName(elemType));
  };
  auto noteType = [&](const onnx::TypeProto &type) {
    switch (type.value_case()) {
      case onnx::TypeProto::kTensorType: noteElementType(type.tensor_type().elem_type()); break;
      case onnx::TypeProto::kSequenceType: addUnique(scan.unsupportedTypes, "SEQUENCE"); break;
      case onnx::TypeProto::kMapType: addUnique(scan.unsupportedTypes, "MAP"); break;
      case onnx::TypeProto::kOptionalType: addUnique(scan.unsupportedTypes, "OPTIONAL"); break;
      case onnx::TypeProto::kSparseTensorType: addUnique(scan.unsupportedTypes, "SPARSE_TENSOR"); break;
      default: break;
    }
  };

  const onnx::GraphProto &graph = model.graph();
  for (const auto &info : graph.input()) noteType(info.type());
  for (const auto &info : graph.output()) noteType(info.type());
  for (const auto &info : graph.value_info()) noteType(info.type());
  for (const auto &init : graph.initializer()) noteElementType(init.data_type());
  if (graph.sparse_initializer_size() > 0) addUnique(scan.unsupportedTypes, "SPARSE_TENSOR");
  for (const onnx::NodeProto &node : graph.node()) {
    std::string opType = qualifiedOpType(node);
    scan.opTypes.push_back(opType);
    for (const onnx::AttributeProto &a : node.attribute()) {
      if (a.has_t()) noteElementType(a.t().data_type());
      // Cast's target and the dtype of generators (EyeLike, RandomNormal...) are element types the model needs.
      if ((a.name() == "to" || a.name() == "dtype") && attributeKind(a) == onnx::AttributeProto::INT)
        noteElementType(static_cast<int32_t>(a.i()));
    }
    std::string domain = normalizeDomain(node.domain());
    const ops::OpSchema *schema = ops::OpRegistry::instance().find(domain, node.op_type());
    int64_t version = opsets.count(domain) ? opsets.at(domain) : 0;
    if (schema == nullptr || version < schema->minOpset) addUnique(scan.unsupportedOps, opType);
  }
  return scan;
}

}  // namespace fluidml::onnxio
