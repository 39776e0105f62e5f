#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <unistd.h>

#include <onnx/onnx_pb.h>

#include "core/interp/interpreter.h"
#include "core/ir/printer.h"
#include "core/ir/verifier.h"
#include "core/onnx/onnx_export.h"
#include "core/onnx/onnx_import.h"
#include "core/onnx/tensor_proto.h"
#include "core/onnx/tensor_proto_convert.h"

using namespace fluidml;
using namespace fluidml::ir;
using namespace fluidml::onnxio;

namespace {

struct TempDir {
  std::filesystem::path path;
  TempDir() {
    static int counter = 0;
    path = std::filesystem::temp_directory_path() /
           ("fluidml_import_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    std::filesystem::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  std::string file(const std::string &name) const { return (path / name).string(); }
};

// std::vector<bool> has no data(), so bool tensors come from a list.
Tensor boolTensor(Shape shape, std::initializer_list<bool> values) {
  return Tensor::fromVector<bool>(std::move(shape), std::span<const bool>(values.begin(), values.size()));
}

void writeBytes(const std::string &path, const std::string &bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// Dims of a declared input: numbers are fixed, strings are symbolic.
struct Dim {
  Dim(int64_t v) : value(v) {}
  Dim(const char *p) : param(p) {}
  int64_t value = -1;
  std::string param;
};

// Writes ModelProtos with the protobuf API, so the tests need no Python.
class ModelWriter {
 public:
  explicit ModelWriter(int64_t opset = 17) {
    model_.set_ir_version(8);
    auto *entry = model_.add_opset_import();
    entry->set_domain("");
    entry->set_version(opset);
    model_.mutable_graph()->set_name("test");
  }
  onnx::ModelProto &model() { return model_; }
  onnx::GraphProto &graph() { return *model_.mutable_graph(); }

  ModelWriter &input(const std::string &name, int32_t elemType, const std::vector<Dim> &dims) {
    declare(*graph().add_input(), name, elemType, dims);
    return *this;
  }
  ModelWriter &output(const std::string &name, int32_t elemType = onnx::TensorProto::FLOAT) {
    auto *info = graph().add_output();
    info->set_name(name);
    info->mutable_type()->mutable_tensor_type()->set_elem_type(elemType);
    return *this;
  }
  ModelWriter &initializer(const std::string &name, const Tensor &tensor) {
    tensorToProto(tensor, name, *graph().add_initializer());
    return *this;
  }
  onnx::NodeProto &node(const std::string &opType, const std::vector<std::string> &inputs,
                        const std::vector<std::string> &outputs, const std::string &name = "") {
    auto *node = graph().add_node();
    node->set_op_type(opType);
    if (!name.empty()) node->set_name(name);
    for (const auto &in : inputs) node->add_input(in);
    for (const auto &out : outputs) node->add_output(out);
    return *node;
  }
  std::string bytes() const {
    std::string out;
    REQUIRE(model_.SerializeToString(&out));
    return out;
  }
  Expected<Graph> import(const ImportOptions &options = {}, const std::string &baseDir = ".") const {
    return importModelBytes(bytes(), "m.onnx", baseDir, options);
  }

  static void declare(onnx::ValueInfoProto &info, const std::string &name, int32_t elemType,
                      const std::vector<Dim> &dims) {
    info.set_name(name);
    auto *type = info.mutable_type()->mutable_tensor_type();
    type->set_elem_type(elemType);
    auto *shape = type->mutable_shape();
    for (const Dim &d : dims) {
      auto *dim = shape->add_dim();
      if (d.param.empty())
        dim->set_dim_value(d.value);
      else
        dim->set_dim_param(d.param);
    }
  }

 private:
  onnx::ModelProto model_;
};

onnx::AttributeProto &addAttribute(onnx::NodeProto &node, const std::string &name,
                                   onnx::AttributeProto::AttributeType type) {
  auto *a = node.add_attribute();
  a->set_name(name);
  a->set_type(type);
  return *a;
}

std::string importError(const ModelWriter &writer, const ImportOptions &options = {}) {
  Expected<Graph> graph = writer.import(options);
  REQUIRE_FALSE(graph.hasValue());
  return graph.message();
}

constexpr int32_t kFloat = onnx::TensorProto::FLOAT;
constexpr int32_t kInt64 = onnx::TensorProto::INT64;

}  // namespace

TEST_CASE("import fixes symbolic dims, keeps names and sorts unsorted nodes", "[onnx]") {
  ModelWriter w;
  w.input("x", kFloat, {"batch", 6}).output("z");
  // Listed consumer first: ONNX files are usually, not always, sorted.
  w.node("Transpose", {"y"}, {"z"}, "t");
  auto &reshape = w.node("Reshape", {"x", "shape"}, {"y"});  // unnamed: becomes Reshape_1
  (void)reshape;
  w.initializer("shape", Tensor::fromVector<int64_t>({3}, {-1, 2, 3}));
  ImportOptions options;
  options.defaultDim = 4;
  Expected<Graph> graph = w.import(options);
  INFO((graph ? std::string() : graph.message()));
  REQUIRE(graph.hasValue());
  CHECK(verify(*graph).isOk());
  CHECK(dumpGraph(*graph) ==
        "graph test (opset ai.onnx=17)\n"
        "  input  %x : float32[4x6]\n"
        "  const  %shape : int64[3]\n"
        "  %y = Reshape(%x, %shape) name='Reshape_1' : float32[4x2x3]\n"
        "  %z = Transpose(%y) name='t' : float32[3x2x4]\n"
        "  output %z\n");

  // An explicit shape fixes the symbolic dim instead.
  options.inputShapes["x"] = {2, 6};
  Expected<Graph> overridden = w.import(options);
  REQUIRE(overridden.hasValue());
  CHECK(overridden->value(*overridden->findValue("z")).type == TensorType(DType::Float32, {3, 2, 2}));
}

TEST_CASE("input shape overrides must agree with the model", "[onnx]") {
  ModelWriter w;
  w.input("x", kFloat, {"n", 6}).input("mask", kInt64, {1, 6}).output("x");
  ImportOptions options;
  options.inputShapes["x"] = {1, 2, 6};
  CHECK(importError(w, options) ==
        "m.onnx: graph input 'x': the given shape 1x2x6 has rank 3, the model declares rank 2 (nx6)");
  options.inputShapes["x"] = {1, 5};
  CHECK(importError(w, options) ==
        "m.onnx: graph input 'x': the given shape 1x5 disagrees with the declared shape nx6 in dimension 1");
  options.inputShapes.clear();
  options.inputShapes["tokens"] = {1, 6};
  CHECK(importError(w, options) ==
        "m.onnx: a shape is given for input 'tokens', which the model does not have; its inputs are: x, mask");
}

TEST_CASE("bound inputs that feed shape operands become constants", "[onnx]") {
  ModelWriter w;
  w.input("data", kFloat, {2, 3}).input("shape", kInt64, {2}).output("reshaped");
  w.node("Reshape", {"data", "shape"}, {"reshaped"}, "r");
  ImportOptions options;
  options.inputValues["shape"] = Tensor::fromVector<int64_t>({2}, {3, 2});
  options.inputValues["data"] = Tensor::zeros(DType::Float32, {2, 3});  // not a shape operand: stays an input
  Expected<Graph> graph = w.import(options);
  INFO((graph ? std::string() : graph.message()));
  REQUIRE(graph.hasValue());
  REQUIRE(graph->inputs().size() == 1);
  CHECK(graph->value(graph->inputs()[0]).name == "data");
  CHECK(graph->value(graph->outputs()[0]).type == TensorType(DType::Float32, {3, 2}));

  options.inputValues["shape"] = Tensor::fromVector<int32_t>({2}, {3, 2});
  CHECK(importError(w, options) == "m.onnx: the value given for graph input 'shape' is int32[2], the model declares int64");

  // Without a value the shape operand is not constant, and the type rule says so.
  Expected<Graph> unbound = w.import();
  REQUIRE_FALSE(unbound.hasValue());
  CHECK_THAT(unbound.message(), Catch::StartsWith("m.onnx: node 'r' (Reshape, #0): "));
}

TEST_CASE("initializers listed as graph inputs are constants", "[onnx]") {
  ModelWriter w(9);
  w.input("x", kFloat, {2, 2}).input("w", kFloat, {2, 2}).output("y");
  w.initializer("w", Tensor::fromVector<float>({2, 2}, {1, 2, 3, 4}));
  w.node("Transpose", {"w"}, {"wt"}, "t");
  w.node("Identity", {"x"}, {"y"}, "i");
  w.output("wt");
  ImportOptions options;
  options.fold = false;
  Expected<Graph> graph = w.import(options);
  INFO((graph ? std::string() : graph.message()));
  REQUIRE(graph.hasValue());
  REQUIRE(graph->inputs().size() == 1);
  CHECK(graph->value(graph->inputs()[0]).name == "x");
  CHECK(graph->value(*graph->findValue("w")).isConstant());
  CHECK(graph->opsetVersion() == 9);
  // With folding the Transpose of a constant disappears.
  Expected<Graph> folded = w.import();
  REQUIRE(folded.hasValue());
  CHECK(folded->order().size() == 1);
  CHECK(folded->value(*folded->findValue("wt")).constant.identicalTo(
      Tensor::fromVector<float>({2, 2}, {1, 3, 2, 4})));
}

TEST_CASE("structural errors in a model name the node and the value", "[onnx]") {
  SECTION("dangling input") {
    ModelWriter w;
    w.input("x", kFloat, {2}).output("y");
    w.node("Identity", {"x"}, {"a"}, "first");
    w.node("Add", {"a", "weight"}, {"y"}, "add");
    CHECK(importError(w) ==
          "m.onnx: node 'add' (Add, #1): input 'weight' is not produced by any node, initializer or graph input");
  }
  SECTION("graph output naming nothing") {
    ModelWriter w;
    w.input("x", kFloat, {2}).output("nothing");
    CHECK(importError(w) == "m.onnx: graph output 'nothing' is not produced by any node, initializer or graph input");
  }
  SECTION("value produced twice") {
    ModelWriter w;
    w.input("x", kFloat, {2}).output("y");
    w.node("Identity", {"x"}, {"y"}, "a");
    w.node("Identity", {"x"}, {"y"}, "b");
    CHECK(importError(w) ==
          "m.onnx: node 'b' (Identity, #1): value 'y' is produced twice (it is already the output of node 'a')");
  }
  SECTION("cycle") {
    ModelWriter w;
    w.input("x", kFloat, {2}).output("b");
    w.node("Add", {"x", "b"}, {"a"}, "p");
    w.node("Identity", {"a"}, {"b"}, "q");
    CHECK_THAT(importError(w), Catch::StartsWith("m.onnx: the graph has a cycle through node"));
  }
  SECTION("unsupported op") {
    ModelWriter w;
    w.input("x", kFloat, {2}).output("y");
    w.node("Identity", {"x"}, {"a"}, "keep");
    w.node("FancyOp", {"a"}, {"y"}, "fancy");
    CHECK_THAT(importError(w), Catch::StartsWith("m.onnx: node 'fancy' (FancyOp, #1): unsupported operator FancyOp "
                                                 "(opset 17)"));
  }
  SECTION("op of another domain") {
    ModelWriter w;
    auto *ms = w.model().add_opset_import();
    ms->set_domain("com.microsoft");
    ms->set_version(1);
    w.input("x", kFloat, {2}).output("y");
    w.node("Gelu", {"x"}, {"y"}, "gelu").set_domain("com.microsoft");
    CHECK_THAT(importError(w), Catch::StartsWith("m.onnx: node 'gelu' (Gelu, #0): unsupported operator "
                                                 "com.microsoft.Gelu (opset 1)"));
  }
  SECTION("subgraph attribute") {
    ModelWriter w;
    w.input("c", onnx::TensorProto::BOOL, {}).output("y");
    auto &node = w.node("If", {"c"}, {"y"}, "branch");
    addAttribute(node, "then_branch", onnx::AttributeProto::GRAPH).mutable_g()->set_name("then");
    CHECK(importError(w) ==
          "m.onnx: node 'branch' (If, #0): attribute 'then_branch': subgraph attributes (If/Loop/Scan) are not "
          "supported");
  }
}

TEST_CASE("opset problems are reported with both numbers", "[onnx]") {
  ModelWriter newer(99);
  newer.input("x", kFloat, {2}).output("x");
  CHECK(importError(newer) == "m.onnx: the model uses ai.onnx opset 99, newer than the newest supported opset 18");

  ModelWriter none;
  none.model().clear_opset_import();
  none.input("x", kFloat, {2}).output("x");
  CHECK_THAT(importError(none), Catch::StartsWith("m.onnx: the model does not import the ai.onnx opset"));
}

TEST_CASE("bad initializers and inputs are errors naming them", "[onnx]") {
  SECTION("truncated raw data") {
    ModelWriter w;
    w.input("x", kFloat, {2}).output("y");
    w.initializer("bias", Tensor::fromVector<float>({2}, {1, 2}));
    w.graph().mutable_initializer(0)->add_dims(3);  // now 2x3 with 8 bytes
    w.node("Add", {"x", "bias"}, {"y"});
    CHECK(importError(w) == "m.onnx: tensor 'bias' holds 8 bytes, its type float32[2x3] needs 24");
  }
  SECTION("float16 initializer") {
    ModelWriter w;
    w.input("x", kFloat, {2}).output("x");
    auto *init = w.graph().add_initializer();
    init->set_name("half");
    init->set_data_type(onnx::TensorProto::FLOAT16);
    init->add_dims(1);
    init->add_int32_data(0);
    CHECK(importError(w) == "m.onnx: tensor 'half' has unsupported element type FLOAT16");
  }
  SECTION("float16 input") {
    ModelWriter w;
    w.input("x", onnx::TensorProto::FLOAT16, {2}).output("x");
    CHECK(importError(w) == "m.onnx: graph input 'x' has unsupported element type FLOAT16");
  }
  SECTION("constant attribute of an unsupported type") {
    ModelWriter w;
    w.input("x", kFloat, {2}).output("c");
    auto &node = w.node("Constant", {}, {"c"}, "k");
    auto &a = addAttribute(node, "value", onnx::AttributeProto::TENSOR);
    a.mutable_t()->set_data_type(onnx::TensorProto::STRING);
    CHECK(importError(w) ==
          "m.onnx: node 'k' (Constant, #0): attribute 'value': tensor '' has unsupported element type STRING");
  }
}

TEST_CASE("unreadable model files are errors naming the file", "[onnx]") {
  TempDir dir;
  ModelWriter w;
  w.input("x", kFloat, {64}).output("y");
  w.initializer("big", Tensor::zeros(DType::Float32, {256}));
  w.node("Add", {"x", "big"}, {"y"});
  std::string bytes = w.bytes();

  std::string truncated = dir.file("truncated.onnx");
  writeBytes(truncated, bytes.substr(0, bytes.size() / 2));
  Expected<Graph> t = importModelFile(truncated);
  REQUIRE_FALSE(t.hasValue());
  CHECK(t.message() == truncated + ": not a valid ONNX model (protobuf parse failed)");

  std::mt19937 rng(7);
  std::string noise(4096, '\0');
  for (char &c : noise) c = static_cast<char>(rng());
  std::string random = dir.file("random.onnx");
  writeBytes(random, noise);
  Expected<Graph> r = importModelFile(random);
  REQUIRE_FALSE(r.hasValue());
  CHECK_THAT(r.message(), Catch::StartsWith(random + ": "));

  Expected<Graph> fromBytes = importModelBytes(noise, "noise.onnx", ".");
  REQUIRE_FALSE(fromBytes.hasValue());
  CHECK_THAT(fromBytes.message(), Catch::StartsWith("noise.onnx: "));

  Expected<Graph> missing = importModelFile(dir.file("missing.onnx"));
  REQUIRE_FALSE(missing.hasValue());
  CHECK(missing.message() == dir.file("missing.onnx") + ": cannot open the file: no such file");
}

TEST_CASE("external-data initializers are read next to the model file", "[onnx]") {
  TempDir dir;
  Tensor weights = Tensor::fromVector<float>({2, 3}, {1, 2, 3, 4, 5, 6});
  writeBytes(dir.file("model.data"),
             std::string(16, '\0') + std::string(static_cast<const char *>(weights.rawData()), weights.bytes()));
  ModelWriter w;
  w.input("x", kFloat, {3, 2}).output("y").output("w");
  auto *init = w.graph().add_initializer();
  init->set_name("w");
  init->set_data_type(kFloat);
  init->add_dims(2);
  init->add_dims(3);
  init->set_data_location(onnx::TensorProto::EXTERNAL);
  for (auto [key, value] : {std::pair{"location", "model.data"}, {"offset", "16"}, {"length", "24"}}) {
    auto *e = init->add_external_data();
    e->set_key(key);
    e->set_value(value);
  }
  w.node("Identity", {"x"}, {"y"});
  writeBytes(dir.file("model.onnx"), w.bytes());
  Expected<Graph> graph = importModelFile(dir.file("model.onnx"));
  INFO((graph ? std::string() : graph.message()));
  REQUIRE(graph.hasValue());
  CHECK(graph->value(*graph->findValue("w")).constant.identicalTo(weights));

  std::filesystem::remove(dir.file("model.data"));
  Expected<Graph> missing = importModelFile(dir.file("model.onnx"));
  REQUIRE_FALSE(missing.hasValue());
  CHECK_THAT(missing.message(), Catch::StartsWith(dir.file("model.onnx") + ": tensor 'w': external data file"));
}

TEST_CASE("attributes of every kind and missing names survive export and re-import", "[onnx]") {
  ModelWriter w;
  w.input("x", kFloat, {"n", 4}).output("y").output("c");
  auto &node = w.node("Identity", {"x"}, {"y"});  // unnamed
  addAttribute(node, "i", onnx::AttributeProto::INT).set_i(-3);
  addAttribute(node, "f", onnx::AttributeProto::FLOAT).set_f(0.5f);
  addAttribute(node, "s", onnx::AttributeProto::STRING).set_s("nearest");
  tensorToProto(Tensor::fromVector<int32_t>({2}, {7, 8}), "",
                *addAttribute(node, "t", onnx::AttributeProto::TENSOR).mutable_t());
  auto &ints = addAttribute(node, "ints", onnx::AttributeProto::INTS);
  ints.add_ints(1);
  ints.add_ints(-2);
  auto &floats = addAttribute(node, "floats", onnx::AttributeProto::FLOATS);
  floats.add_floats(1.25f);
  auto &strings = addAttribute(node, "strings", onnx::AttributeProto::STRINGS);
  strings.add_strings("a");
  strings.add_strings("b");
  addAttribute(node, "empty", onnx::AttributeProto::INTS);
  auto &constant = w.node("Constant", {}, {"c"}, "Identity_0");  // clashes with the made-up name
  tensorToProto(Tensor::fromVector<float>({2}, {1, 2}), "", *addAttribute(constant, "value", onnx::AttributeProto::TENSOR).mutable_t());

  ImportOptions options;
  options.fold = false;
  Expected<Graph> first = w.import(options);
  INFO((first ? std::string() : first.message()));
  REQUIRE(first.hasValue());
  const Node &identity = first->node(first->order()[0]);
  CHECK(identity.name == "Identity_0");
  CHECK(first->node(first->order()[1]).name == "Identity_0_1");
  CHECK(identity.intAttr("i", 0) == -3);
  CHECK(identity.floatAttr("f", 0) == 0.5f);
  CHECK(identity.stringAttr("s", "") == "nearest");
  CHECK(*identity.intsAttr("ints") == std::vector<int64_t>{1, -2});
  CHECK(*identity.intsAttr("empty") == std::vector<int64_t>{});
  CHECK(*identity.floatsAttr("floats") == std::vector<float>{1.25f});
  CHECK(std::get<std::vector<std::string>>(*identity.attribute("strings")) == std::vector<std::string>{"a", "b"});
  CHECK(std::get<Tensor>(*identity.attribute("t")).identicalTo(Tensor::fromVector<int32_t>({2}, {7, 8})));

  Expected<std::string> exported = exportModelBytes(*first);
  REQUIRE(exported.hasValue());
  Expected<Graph> second = importModelBytes(*exported, "exported.onnx", ".", options);
  INFO((second ? std::string() : second.message()));
  REQUIRE(second.hasValue());
  CHECK(dumpGraph(*second) == dumpGraph(*first));
  CHECK(std::get<Tensor>(*second->node(second->order()[0]).attribute("t")).identicalTo(
      Tensor::fromVector<int32_t>({2}, {7, 8})));

  // What other tools see: ir_version 8, producer, typed inputs and value_info of intermediates.
  onnx::ModelProto proto;
  REQUIRE(proto.ParseFromString(*exported));
  CHECK(proto.ir_version() == 8);
  CHECK(proto.producer_name() == "fluidml");
  REQUIRE(proto.graph().input_size() == 1);
  CHECK(proto.graph().input(0).type().tensor_type().shape().dim(0).dim_value() == 1);
  CHECK(proto.graph().value_info_size() == 0);  // both node outputs are graph outputs
}

TEST_CASE("export writes constants as initializers and value_info for intermediates", "[onnx]") {
  TempDir dir;
  ModelWriter w;
  w.input("x", kFloat, {2, 3}).output("z").output("flag", onnx::TensorProto::BOOL);
  w.initializer("shape", Tensor::fromVector<int64_t>({2}, {3, 2}));
  w.initializer("flag", boolTensor({1}, {true}));  // a constant graph output
  w.node("Reshape", {"x", "shape"}, {"y"}, "r");
  w.node("Transpose", {"y"}, {"z"}, "t");
  ImportOptions options;
  options.fold = false;  // keep the Reshape
  Expected<Graph> first = w.import(options);
  REQUIRE(first.hasValue());
  std::string path = dir.file("out.onnx");
  REQUIRE(exportModelFile(*first, path).isOk());
  Expected<Graph> second = importModelFile(path, options);
  INFO((second ? std::string() : second.message()));
  REQUIRE(second.hasValue());
  CHECK(dumpGraph(*second) == dumpGraph(*first));
  for (ValueId c : first->constants()) {
    std::optional<ValueId> same = second->findValue(first->value(c).name);
    REQUIRE(same.has_value());
    CHECK(second->value(*same).constant.identicalTo(first->value(c).constant));
  }

  std::ifstream in(path, std::ios::binary);
  onnx::ModelProto proto;
  REQUIRE(proto.ParseFromIstream(&in));
  REQUIRE(proto.graph().value_info_size() == 1);
  CHECK(proto.graph().value_info(0).name() == "y");
  CHECK(proto.graph().value_info(0).type().tensor_type().shape().dim(0).dim_value() == 3);
  REQUIRE(proto.graph().initializer_size() == 2);
  CHECK(proto.graph().initializer(0).raw_data().size() == 16);
  CHECK(proto.graph().initializer(1).raw_data() == std::string("\x01", 1));
  CHECK(proto.opset_import_size() == 1);
  CHECK(proto.opset_import(0).version() == 17);

  Status bad = exportModelFile(*first, dir.file("no/such/folder/out.onnx"));
  REQUIRE_FALSE(bad.isOk());
  CHECK_THAT(bad.message(), Catch::StartsWith(dir.file("no/such/folder/out.onnx") + ": cannot create"));
}

TEST_CASE("scanModelFile lists op types, unsupported element types and unsupported ops", "[onnx]") {
  TempDir dir;
  ModelWriter w(13);
  auto *ms = w.model().add_opset_import();
  ms->set_domain("com.microsoft");
  ms->set_version(1);
  w.input("x", onnx::TensorProto::FLOAT16, {2}).output("y");
  w.node("Identity", {"x"}, {"a"});
  auto &cast = w.node("Cast", {"a"}, {"b"});
  addAttribute(cast, "to", onnx::AttributeProto::INT).set_i(onnx::TensorProto::BFLOAT16);
  w.node("FusedThing", {"b"}, {"y"}).set_domain("com.microsoft");
  w.node("FusedThing", {"b"}, {"y2"}).set_domain("com.microsoft");
  writeBytes(dir.file("m.onnx"), w.bytes());
  Expected<ModelScan> scan = scanModelFile(dir.file("m.onnx"));
  REQUIRE(scan.hasValue());
  CHECK(scan->opset == 13);
  CHECK(scan->opTypes == std::vector<std::string>{"Identity", "Cast", "com.microsoft.FusedThing",
                                                  "com.microsoft.FusedThing"});
  CHECK(scan->unsupportedTypes == std::vector<std::string>{"FLOAT16", "BFLOAT16"});
  // Cast may or may not be in the table yet; Identity is, the contrib op never is.
  CHECK(std::count(scan->unsupportedOps.begin(), scan->unsupportedOps.end(), "Identity") == 0);
  CHECK(std::count(scan->unsupportedOps.begin(), scan->unsupportedOps.end(), "com.microsoft.FusedThing") == 1);

  Expected<ModelScan> missing = scanModelFile(dir.file("none.onnx"));
  REQUIRE_FALSE(missing.hasValue());
  CHECK_THAT(missing.message(), Catch::StartsWith(dir.file("none.onnx") + ": "));
}

TEST_CASE("a real conformance model imports and runs to its expected output", "[onnx]") {
  std::string dir = std::string(FLUIDML_ONNX_NODE_TESTS) + "/test_relu";
  if (!std::filesystem::exists(dir)) return;  // libonnx-testdata not installed
  Expected<Graph> graph = importModelFile(dir + "/model.onnx");
  INFO((graph ? std::string() : graph.message()));
  REQUIRE(graph.hasValue());
  CHECK(graph->opsetVersion() == 14);
  Expected<NamedTensor> input = readTensorFile(dir + "/test_data_set_0/input_0.pb");
  Expected<NamedTensor> expected = readTensorFile(dir + "/test_data_set_0/output_0.pb");
  REQUIRE(input.hasValue());
  REQUIRE(expected.hasValue());
  CHECK(graph->value(graph->inputs()[0]).name == input->name);
  interp::Interpreter interpreter(*graph);
  Expected<std::vector<Tensor>> outputs = interpreter.run({input->tensor});
  INFO((outputs ? std::string() : outputs.message()));
  REQUIRE(outputs.hasValue());
  REQUIRE(outputs->size() == 1);
  CHECK((*outputs)[0].identicalTo(expected->tensor));
}
