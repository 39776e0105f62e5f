#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <unistd.h>

#include "core/onnx/tensor_proto.h"
#include "core/onnx/tensor_proto_convert.h"

using namespace fluidml;
using namespace fluidml::ir;
using namespace fluidml::onnxio;

namespace {

// A fresh folder under the system temp dir, removed when the test ends.
struct TempDir {
  std::filesystem::path path;
  TempDir() {
    static int counter = 0;
    path = std::filesystem::temp_directory_path() /
           ("fluidml_tensor_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
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

std::string rawBytes(const Tensor &t) { return std::string(static_cast<const char *>(t.rawData()), t.bytes()); }

}  // namespace

TEST_CASE("tensor files round-trip every dtype", "[onnx]") {
  TempDir dir;
  std::vector<Tensor> tensors = {
      Tensor::fromVector<float>({2, 3}, {1.5f, -2.0f, 0.0f, 3.25f, -0.0f, 1e-30f}),
      Tensor::fromVector<double>({3}, {1.0 / 3.0, -1e300, 2.5}),
      Tensor::fromVector<int64_t>({2}, {-9000000000000LL, 7}),
      Tensor::fromVector<int32_t>({2, 1}, {-2147483647, 42}),
      Tensor::fromVector<int8_t>({4}, {-128, -1, 0, 127}),
      Tensor::fromVector<uint8_t>({3}, {0, 200, 255}),
      boolTensor({2, 2}, {true, false, false, true}),
      Tensor::scalar<float>(7.0f),
      Tensor::zeros(DType::Int64, {0, 3}),
  };
  for (size_t i = 0; i < tensors.size(); ++i) {
    std::string path = dir.file("t" + std::to_string(i) + ".pb");
    REQUIRE(writeTensorFile(tensors[i], "value_" + std::to_string(i), path).isOk());
    Expected<NamedTensor> read = readTensorFile(path);
    INFO(tensors[i].type().toString());
    REQUIRE(read.hasValue());
    CHECK(read->name == "value_" + std::to_string(i));
    CHECK(read->tensor.identicalTo(tensors[i]));
  }
  // No temporary file is left behind by the atomic write.
  size_t files = 0;
  for (const auto &entry : std::filesystem::directory_iterator(dir.path)) files += entry.is_regular_file();
  CHECK(files == tensors.size());
}

TEST_CASE("typed TensorProto fields decode like raw_data", "[onnx]") {
  onnx::TensorProto proto;
  proto.set_name("f");
  proto.set_data_type(onnx::TensorProto::FLOAT);
  proto.add_dims(2);
  proto.add_float_data(1.5f);
  proto.add_float_data(-4.0f);
  Expected<Tensor> f = tensorFromProto(proto, ".");
  REQUIRE(f.hasValue());
  CHECK(f->identicalTo(Tensor::fromVector<float>({2}, {1.5f, -4.0f})));

  // int32_data also carries int8, uint8 and bool.
  proto.Clear();
  proto.set_name("i8");
  proto.set_data_type(onnx::TensorProto::INT8);
  proto.add_dims(3);
  for (int v : {-128, 5, 127}) proto.add_int32_data(v);
  Expected<Tensor> i8 = tensorFromProto(proto, ".");
  REQUIRE(i8.hasValue());
  CHECK(i8->identicalTo(Tensor::fromVector<int8_t>({3}, {-128, 5, 127})));

  proto.set_data_type(onnx::TensorProto::UINT8);
  proto.clear_int32_data();
  for (int v : {0, 128, 255}) proto.add_int32_data(v);
  Expected<Tensor> u8 = tensorFromProto(proto, ".");
  REQUIRE(u8.hasValue());
  CHECK(u8->identicalTo(Tensor::fromVector<uint8_t>({3}, {0, 128, 255})));

  proto.set_data_type(onnx::TensorProto::BOOL);
  proto.clear_int32_data();
  for (int v : {1, 0, 1}) proto.add_int32_data(v);
  Expected<Tensor> b = tensorFromProto(proto, ".");
  REQUIRE(b.hasValue());
  CHECK(b->identicalTo(boolTensor({3}, {true, false, true})));

  proto.set_data_type(onnx::TensorProto::INT32);
  proto.clear_int32_data();
  for (int v : {-7, 0, 1 << 30}) proto.add_int32_data(v);
  Expected<Tensor> i32 = tensorFromProto(proto, ".");
  REQUIRE(i32.hasValue());
  CHECK(i32->identicalTo(Tensor::fromVector<int32_t>({3}, {-7, 0, 1 << 30})));

  proto.Clear();
  proto.set_name("i64");
  proto.set_data_type(onnx::TensorProto::INT64);
  proto.add_int64_data(-5);  // no dims: a scalar
  Expected<Tensor> i64 = tensorFromProto(proto, ".");
  REQUIRE(i64.hasValue());
  CHECK(i64->identicalTo(Tensor::scalar<int64_t>(-5)));

  proto.Clear();
  proto.set_name("d");
  proto.set_data_type(onnx::TensorProto::DOUBLE);
  proto.add_dims(1);
  proto.add_double_data(0.1);
  Expected<Tensor> d = tensorFromProto(proto, ".");
  REQUIRE(d.hasValue());
  CHECK(d->identicalTo(Tensor::fromVector<double>({1}, {0.1})));

  // raw_data wins, bools are normalized to 0/1.
  proto.Clear();
  proto.set_name("rb");
  proto.set_data_type(onnx::TensorProto::BOOL);
  proto.add_dims(2);
  proto.set_raw_data(std::string("\x00\x07", 2));
  Expected<Tensor> rb = tensorFromProto(proto, ".");
  REQUIRE(rb.hasValue());
  CHECK(static_cast<const uint8_t *>(rb->rawData())[1] == 1);
}

TEST_CASE("inconsistent or unsupported TensorProtos are errors naming the tensor", "[onnx]") {
  onnx::TensorProto proto;
  proto.set_name("w");
  proto.set_data_type(onnx::TensorProto::FLOAT);
  proto.add_dims(2);
  proto.add_dims(3);
  proto.set_raw_data(std::string(10, '\0'));
  Expected<Tensor> shortRaw = tensorFromProto(proto, ".");
  REQUIRE_FALSE(shortRaw.hasValue());
  CHECK(shortRaw.message() == "tensor 'w' holds 10 bytes, its type float32[2x3] needs 24");

  proto.clear_raw_data();
  for (int i = 0; i < 5; ++i) proto.add_float_data(1.0f);
  Expected<Tensor> shortTyped = tensorFromProto(proto, ".");
  REQUIRE_FALSE(shortTyped.hasValue());
  CHECK(shortTyped.message() == "tensor 'w' holds 5 elements, its type float32[2x3] needs 6");

  proto.set_data_type(onnx::TensorProto::FLOAT16);
  Expected<Tensor> half = tensorFromProto(proto, ".");
  REQUIRE_FALSE(half.hasValue());
  CHECK(half.message() == "tensor 'w' has unsupported element type FLOAT16");

  proto.set_data_type(onnx::TensorProto::FLOAT);
  proto.set_dims(0, -2);
  Expected<Tensor> negative = tensorFromProto(proto, ".");
  REQUIRE_FALSE(negative.hasValue());
  CHECK_THAT(negative.message(), Catch::Contains("negative dimension -2"));

  proto.set_dims(0, int64_t{1} << 40);
  proto.set_dims(1, int64_t{1} << 40);
  Expected<Tensor> huge = tensorFromProto(proto, ".");
  REQUIRE_FALSE(huge.hasValue());
  CHECK_THAT(huge.message(), Catch::Contains("tensor 'w'"));
}

TEST_CASE("external tensor data is read relative to the base folder and checked", "[onnx]") {
  TempDir dir;
  std::vector<float> values = {1.0f, 2.0f, 3.0f, 4.0f};
  Tensor expected = Tensor::fromVector<float>({2, 2}, values);
  writeBytes(dir.file("weights.bin"), std::string(8, 'x') + rawBytes(expected));

  onnx::TensorProto proto;
  proto.set_name("w");
  proto.set_data_type(onnx::TensorProto::FLOAT);
  proto.add_dims(2);
  proto.add_dims(2);
  proto.set_data_location(onnx::TensorProto::EXTERNAL);
  auto entry = [&](const std::string &key, const std::string &value) {
    auto *e = proto.add_external_data();
    e->set_key(key);
    e->set_value(value);
  };
  entry("location", "weights.bin");
  entry("offset", "8");
  entry("length", "16");
  Expected<Tensor> read = tensorFromProto(proto, dir.path.string());
  REQUIRE(read.hasValue());
  CHECK(read->identicalTo(expected));

  proto.mutable_external_data(2)->set_value("24");
  Expected<Tensor> tooLong = tensorFromProto(proto, dir.path.string());
  REQUIRE_FALSE(tooLong.hasValue());
  CHECK(tooLong.message() == "tensor 'w': external data offset 8 + length 24 exceeds the size of '" +
                                 dir.file("weights.bin") + "' (24 bytes)");

  proto.mutable_external_data(2)->set_value("12");
  Expected<Tensor> wrongLength = tensorFromProto(proto, dir.path.string());
  REQUIRE_FALSE(wrongLength.hasValue());
  CHECK_THAT(wrongLength.message(), Catch::Contains("has 12 bytes of external data, its type float32[2x2] needs 16"));

  proto.mutable_external_data(0)->set_value("missing.bin");
  Expected<Tensor> missing = tensorFromProto(proto, dir.path.string());
  REQUIRE_FALSE(missing.hasValue());
  CHECK_THAT(missing.message(), Catch::Contains("tensor 'w': external data file") && Catch::Contains("does not exist"));

  proto.mutable_external_data(0)->set_value("../weights.bin");
  Expected<Tensor> escaping = tensorFromProto(proto, dir.path.string());
  REQUIRE_FALSE(escaping.hasValue());
  CHECK_THAT(escaping.message(), Catch::Contains("must be a relative path inside the model's folder"));
}

TEST_CASE("bad tensor files are errors that name the file", "[onnx]") {
  TempDir dir;
  Expected<NamedTensor> missing = readTensorFile(dir.file("nope.pb"));
  REQUIRE_FALSE(missing.hasValue());
  CHECK(missing.message() == dir.file("nope.pb") + ": cannot open the file: no such file");

  // A length-delimited field (raw_data) that claims more bytes than the file has.
  std::string truncated = "\x62\x10" + std::string("abc");
  writeBytes(dir.file("bad.pb"), truncated);
  Expected<NamedTensor> bad = readTensorFile(dir.file("bad.pb"));
  REQUIRE_FALSE(bad.hasValue());
  CHECK(bad.message() == dir.file("bad.pb") + ": not a valid TensorProto file (protobuf parse failed)");
}

TEST_CASE("an ONNX test-data tensor file reads with its name, type and values", "[onnx]") {
  std::string path = std::string(FLUIDML_ONNX_NODE_TESTS) + "/test_relu/test_data_set_0/input_0.pb";
  if (!std::filesystem::exists(path)) return;  // libonnx-testdata not installed
  Expected<NamedTensor> read = readTensorFile(path);
  REQUIRE(read.hasValue());
  CHECK(read->name == "x");
  CHECK(read->tensor.type() == TensorType(DType::Float32, {3, 4, 5}));
  // numpy.random.seed(0); randn(3, 4, 5)[0, 0, 0] in the ONNX generator script.
  CHECK(read->tensor.data<float>()[0] == Approx(1.7640524f));
}
