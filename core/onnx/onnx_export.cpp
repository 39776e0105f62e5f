// IR -> ModelProto: graph inputs and outputs with their types, constants as raw_data initializers, nodes in
// execution order with every attribute, and value_info for each intermediate value so that tools (Netron,
// onnx.shape_inference) see the static shapes. Layouts are not representable in ONNX and are dropped: shapes
// are logical, so the exported model computes the same function.
#include "core/onnx/onnx_export.h"

#include <onnx/onnx_pb.h>

#include "core/onnx/proto_io.h"
#include "core/onnx/tensor_proto_convert.h"

namespace fluidml::onnxio {

namespace {

void setValueInfo(const ir::Value &value, onnx::ValueInfoProto &info) {
  info.set_name(value.name);
  auto *tensorType = info.mutable_type()->mutable_tensor_type();
  tensorType->set_elem_type(dtypeToOnnx(value.type.dtype));
  auto *shape = tensorType->mutable_shape();
  for (int64_t d : value.type.shape) shape->add_dim()->set_dim_value(d);
}

void setAttribute(const std::string &name, const ir::Attribute &attribute, onnx::AttributeProto &proto) {
  proto.set_name(name);
  std::visit(
      [&](const auto &v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, int64_t>) {
          proto.set_type(onnx::AttributeProto::INT);
          proto.set_i(v);
        } else if constexpr (std::is_same_v<T, float>) {
          proto.set_type(onnx::AttributeProto::FLOAT);
          proto.set_f(v);
        } else if constexpr (std::is_same_v<T, std::string>) {
          proto.set_type(onnx::AttributeProto::STRING);
          proto.set_s(v);
        } else if constexpr (std::is_same_v<T, ir::Tensor>) {
          proto.set_type(onnx::AttributeProto::TENSOR);
          tensorToProto(v, "", *proto.mutable_t());
        } else if constexpr (std::is_same_v<T, std::vector<int64_t>>) {
          proto.set_type(onnx::AttributeProto::INTS);
          for (int64_t x : v) proto.add_ints(x);
        } else if constexpr (std::is_same_v<T, std::vector<float>>) {
          proto.set_type(onnx::AttributeProto::FLOATS);
          for (float x : v) proto.add_floats(x);
        } else {
          static_assert(std::is_same_v<T, std::vector<std::string>>);
          proto.set_type(onnx::AttributeProto::STRINGS);
          for (const std::string &x : v) proto.add_strings(x);
        }
      },
      attribute);
}

}  // namespace

Expected<std::string> exportModelBytes(const ir::Graph &graph) {
  onnx::ModelProto model;
  model.set_ir_version(8);
  model.set_producer_name("fluidml");
  for (const auto &[domain, version] : graph.opsetImports) {
    auto *entry = model.add_opset_import();
    entry->set_domain(domain);
    entry->set_version(version);
  }
  onnx::GraphProto &proto = *model.mutable_graph();
  proto.set_name(graph.name);

  for (ir::ValueId id : graph.inputs()) setValueInfo(graph.value(id), *proto.add_input());
  for (ir::ValueId id : graph.outputs()) setValueInfo(graph.value(id), *proto.add_output());
  for (ir::ValueId id : graph.constants())
    tensorToProto(graph.value(id).constant, graph.value(id).name, *proto.add_initializer());

  for (ir::NodeId id : graph.order()) {
    const ir::Node &node = graph.node(id);
    onnx::NodeProto &out = *proto.add_node();
    out.set_name(node.name);
    out.set_op_type(node.opType);
    if (!node.domain.empty()) out.set_domain(node.domain);
    for (ir::ValueId in : node.inputs) out.add_input(in == ir::kNoValue ? std::string() : graph.value(in).name);
    for (ir::ValueId o : node.outputs) out.add_output(o == ir::kNoValue ? std::string() : graph.value(o).name);
    for (const auto &[key, attribute] : node.attributes) setAttribute(key, attribute, *out.add_attribute());
    for (ir::ValueId o : node.outputs)
      if (o != ir::kNoValue && !graph.isGraphOutput(o)) setValueInfo(graph.value(o), *proto.add_value_info());
  }

  size_t size = model.ByteSizeLong();
  if (size > kMaxProtoBytes)
    return Status::error("the model would be " + formatBytes(size) +
                         ", over protobuf's 2 GiB limit (external data export is not supported)");
  std::string bytes;
  if (!model.SerializeToString(&bytes)) return Status::error("cannot serialize the model");
  return bytes;
}

Status exportModelFile(const ir::Graph &graph, const std::string &path) {
  Expected<std::string> bytes = exportModelBytes(graph);
  if (!bytes) return bytes.status().withContext(path);
  return writeFileAtomically(path, *bytes).withContext(path);
}

}  // namespace fluidml::onnxio
