#include <catch2/catch.hpp>

#include <set>

#include "core/interp/interpreter.h"
#include "core/ops/op_registry.h"
#include "tests/test_util.h"

using namespace fluidml;
using namespace fluidml::ir;

namespace {

template <typename T>
std::vector<T> values(const Tensor &t) {
  return std::vector<T>(t.span<T>().begin(), t.span<T>().end());
}

void checkFloats(const Tensor &t, const std::vector<float> &expected) {
  REQUIRE(t.dtype() == DType::Float32);
  REQUIRE(t.numel() == static_cast<int64_t>(expected.size()));
  for (size_t i = 0; i < expected.size(); ++i) {
    INFO("element " << i);
    CHECK(t.data<float>()[i] == Approx(expected[i]).margin(1e-6));
  }
}

/// An operand of a test node: a graph input fed at run time, or a constant (shape operands must be).
struct Operand {
  Tensor tensor;
  bool constant = false;
};
Operand in(Tensor t) { return {std::move(t), false}; }
Operand constant(Tensor t) { return {std::move(t), true}; }
Operand omitted() { return {Tensor(), false}; }

/// Builds one `opType` node over the operands; the graph, or the type-rule error.
Expected<Graph> buildOp(const std::string &opType, const std::vector<Operand> &operands, AttributeMap attributes,
                        int64_t opset, size_t outputCount, std::vector<Tensor> &feeds) {
  GraphBuilder b = test::makeBuilder(opset);
  std::vector<ValueId> ids;
  for (size_t i = 0; i < operands.size(); ++i) {
    const Operand &o = operands[i];
    if (o.tensor.isNull()) ids.push_back(kNoValue);
    else if (o.constant) ids.push_back(b.constant("c" + std::to_string(i), o.tensor));
    else {
      ids.push_back(b.input("in" + std::to_string(i), o.tensor.dtype(), o.tensor.shape()));
      feeds.push_back(o.tensor);
    }
  }
  for (ValueId out : b.opMulti(opType, ids, outputCount, std::move(attributes))) b.output(out);
  return std::move(b).build();
}

std::vector<Tensor> runOp(const std::string &opType, const std::vector<Operand> &operands, AttributeMap attributes = {},
                          int64_t opset = 17, size_t outputCount = 1) {
  std::vector<Tensor> feeds;
  auto graph = buildOp(opType, operands, std::move(attributes), opset, outputCount, feeds);
  INFO((graph.hasValue() ? std::string() : graph.message()));
  REQUIRE(graph.hasValue());
  return test::runGraph(*graph, feeds);
}

/// The type-rule error of the node ("" when it succeeds).
std::string buildError(const std::string &opType, const std::vector<Operand> &operands, AttributeMap attributes = {},
                       int64_t opset = 17) {
  std::vector<Tensor> feeds;
  auto graph = buildOp(opType, operands, std::move(attributes), opset, 1, feeds);
  return graph.hasValue() ? std::string() : graph.message();
}

/// The run-time error of the node ("" when it succeeds).
std::string runError(const std::string &opType, const std::vector<Operand> &operands, AttributeMap attributes = {},
                     int64_t opset = 17) {
  std::vector<Tensor> feeds;
  auto graph = buildOp(opType, operands, std::move(attributes), opset, 1, feeds);
  REQUIRE(graph.hasValue());
  interp::Interpreter interpreter(*graph);
  auto result = interpreter.run(feeds);
  return result.hasValue() ? std::string() : result.message();
}

Tensor i64(Shape shape, std::vector<int64_t> v) { return Tensor::fromVector<int64_t>(std::move(shape), v); }
Tensor f32(Shape shape, std::vector<float> v) { return Tensor::fromVector<float>(std::move(shape), v); }

}  // namespace

TEST_CASE("Gather on axis 1 with negative int32 indices", "[indexing]") {
  Tensor data = f32({2, 3}, {1, 2, 3, 4, 5, 6});
  Tensor indices = Tensor::fromVector<int32_t>({2}, {-1, 0});
  Tensor out = runOp("Gather", {in(data), in(indices)}, {{"axis", int64_t{1}}}).at(0);
  CHECK(out.shape() == Shape{2, 2});
  CHECK(values<float>(out) == std::vector<float>{3, 1, 6, 4});

  // 2-D indices on axis 0 insert their dims in place of the axis.
  Tensor rows = runOp("Gather", {in(data), in(i64({2, 2}, {1, 0, -2, 1}))}).at(0);
  CHECK(rows.shape() == Shape{2, 2, 3});
  CHECK(values<float>(rows) == std::vector<float>{4, 5, 6, 1, 2, 3, 1, 2, 3, 4, 5, 6});
}

TEST_CASE("Gather with an index out of range fails at run time without crashing", "[indexing]") {
  Tensor data = f32({3, 2}, {1, 2, 3, 4, 5, 6});
  std::string error = runError("Gather", {in(data), in(i64({2}, {0, 5}))});
  CHECK_THAT(error, Catch::Contains("index 5 is out of range for axis 0 of size 3"));
  CHECK_THAT(error, Catch::Contains("(Gather"));
  CHECK_THAT(runError("Gather", {in(data), in(i64({1}, {-4}))}), Catch::Contains("index -4 is out of range"));
  // A constant index is checked by the type rule already.
  CHECK_THAT(buildError("Gather", {in(data), constant(i64({1}, {3}))}), Catch::Contains("index 3 is out of range"));
}

TEST_CASE("GatherElements, GatherND with batch_dims, ScatterND and ScatterElements reductions", "[indexing]") {
  Tensor data = f32({2, 2}, {1, 2, 3, 4});
  Tensor ge = runOp("GatherElements", {in(data), in(i64({2, 2}, {0, 0, 1, -2}))}, {{"axis", int64_t{1}}}).at(0);
  CHECK(values<float>(ge) == std::vector<float>{1, 1, 4, 3});

  // Batch 0 picks row 1, batch 1 picks row 0.
  Tensor cube = f32({2, 2, 2}, {0, 1, 2, 3, 4, 5, 6, 7});
  Tensor gnd = runOp("GatherND", {in(cube), in(i64({2, 1}, {1, 0}))}, {{"batch_dims", int64_t{1}}}).at(0);
  CHECK(gnd.shape() == Shape{2, 2});
  CHECK(values<float>(gnd) == std::vector<float>{2, 3, 4, 5});

  // Duplicate indices accumulate with reduction=add.
  Tensor snd = runOp("ScatterND", {in(f32({4}, {1, 2, 3, 4})), in(i64({3, 1}, {1, 3, 1})), in(f32({3}, {10, 20, 30}))},
                     {{"reduction", std::string("add")}}, 16)
                   .at(0);
  CHECK(values<float>(snd) == std::vector<float>{1, 42, 3, 24});

  Tensor sel = runOp("ScatterElements",
                     {in(f32({1, 4}, {5, 5, 5, 5})), in(i64({1, 3}, {0, -1, 0})), in(f32({1, 3}, {7, 1, 9}))},
                     {{"axis", int64_t{1}}, {"reduction", std::string("max")}}, 18)
                   .at(0);
  CHECK(values<float>(sel) == std::vector<float>{9, 5, 5, 5});
  CHECK_THAT(runError("ScatterElements", {in(f32({1, 4}, {5, 5, 5, 5})), in(i64({1, 1}, {4})), in(f32({1, 1}, {7}))},
                      {{"axis", int64_t{1}}}),
             Catch::Contains("index 4 is out of range for axis 1 of size 4"));
}

TEST_CASE("Pad reflect, edge, wrap and cropping pads", "[indexing]") {
  Tensor data = f32({2, 3}, {1, 2, 3, 4, 5, 6});
  // pads = [begin axis 0, begin axis 1, end axis 0, end axis 1]
  Tensor reflect = runOp("Pad", {in(data), constant(i64({4}, {0, 2, 0, 1}))}, {{"mode", std::string("reflect")}}).at(0);
  CHECK(reflect.shape() == Shape{2, 6});
  CHECK(values<float>(reflect) == std::vector<float>{3, 2, 1, 2, 3, 2, 6, 5, 4, 5, 6, 5});

  Tensor edge = runOp("Pad", {in(data), constant(i64({4}, {1, 0, 0, 1}))}, {{"mode", std::string("edge")}}).at(0);
  CHECK(values<float>(edge) == std::vector<float>{1, 2, 3, 3, 1, 2, 3, 3, 4, 5, 6, 6});

  Tensor wrap = runOp("Pad", {in(f32({3}, {1, 2, 3})), constant(i64({2}, {4, 1}))}, {{"mode", std::string("wrap")}}, 19)
                    .at(0);
  CHECK(values<float>(wrap) == std::vector<float>{3, 1, 2, 3, 1, 2, 3, 1});

  // A negative pad crops; the constant comes from the optional input.
  Tensor crop =
      runOp("Pad", {in(f32({4}, {1, 2, 3, 4})), constant(i64({2}, {-1, 2})), in(Tensor::scalar<float>(9))}).at(0);
  CHECK(values<float>(crop) == std::vector<float>{2, 3, 4, 9, 9});

  // Opset 18 axes: only axis 1 (given as -1) is padded.
  Tensor axes = runOp("Pad", {in(data), constant(i64({2}, {1, 0})), omitted(), constant(i64({1}, {-1}))}, {}, 18).at(0);
  CHECK(values<float>(axes) == std::vector<float>{0, 1, 2, 3, 0, 4, 5, 6});

  // Opset 2 form: pads and value attributes, int64 data.
  Tensor legacy =
      runOp("Pad", {in(i64({2}, {7, 8}))}, {{"pads", std::vector<int64_t>{1, 1}}, {"value", 5.0f}}, 9).at(0);
  CHECK(values<int64_t>(legacy) == std::vector<int64_t>{5, 7, 8, 5});
}

TEST_CASE("Pad rejects a pads list of the wrong length and over-cropping", "[indexing]") {
  Tensor data = f32({2, 3}, {1, 2, 3, 4, 5, 6});
  CHECK_THAT(buildError("Pad", {in(data), constant(i64({3}, {1, 1, 1}))}),
             Catch::Contains("pads has 3 values, expected 4"));
  CHECK_THAT(buildError("Pad", {in(data), constant(i64({4}, {0, -2, 0, -2}))}),
             Catch::Contains("pads crop 4 elements from axis 1 of size 3"));
  CHECK_THAT(buildError("Pad", {in(data), in(i64({4}, {0, 0, 0, 0}))}), Catch::Contains("compile-time constant"));
  CHECK_THAT(buildError("Pad", {in(data), constant(i64({4}, {0, 0, 0, 0}))}, {{"mode", std::string("mirror")}}),
             Catch::Contains("unknown pad mode 'mirror'"));
}

TEST_CASE("Resize nearest 2x and linear half_pixel", "[indexing]") {
  Tensor x = f32({1, 1, 2, 2}, {1, 2, 3, 4});
  Tensor scales = f32({4}, {1, 1, 2, 2});
  // half_pixel, round_prefer_floor: x_ori = (x + 0.5) / 2 - 0.5 = -0.25, 0.25, 0.75, 1.25 -> 0, 0, 1, 1.
  Tensor nearest = runOp("Resize", {in(x), omitted(), constant(scales)}, {{"mode", std::string("nearest")}}, 13).at(0);
  CHECK(nearest.shape() == Shape{1, 1, 4, 4});
  checkFloats(nearest, {1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4});

  // Linear: weights 0.75/0.25 between neighbours, clamped at the borders.
  Tensor linear = runOp("Resize", {in(x), omitted(), constant(scales)}, {{"mode", std::string("linear")}}, 13).at(0);
  checkFloats(linear, {1, 1.25, 1.75, 2, 1.5, 1.75, 2.25, 2.5, 2.5, 2.75, 3.25, 3.5, 3, 3.25, 3.75, 4});

  // sizes instead of scales, align_corners: x_ori = x * (2 - 1) / (3 - 1).
  Tensor corners = runOp("Resize", {in(f32({1, 2}, {0, 10})), omitted(), omitted(), constant(i64({2}, {1, 3}))},
                         {{"mode", std::string("linear")},
                          {"coordinate_transformation_mode", std::string("align_corners")}},
                         13)
                       .at(0);
  checkFloats(corners, {0, 5, 10});
}

TEST_CASE("Resize opset 18 axes with keep_aspect_ratio_policy, Upsample and errors", "[indexing]") {
  Tensor x = f32({1, 1, 2, 4}, {1, 2, 3, 4, 5, 6, 7, 8});
  // not_larger: scale = min(2 / 2, 2 / 4) = 0.5 on both axes -> 1x2, asymmetric x_ori = 2x.
  Tensor out = runOp("Resize", {in(x), omitted(), omitted(), constant(i64({2}, {2, 2}))},
                     {{"axes", std::vector<int64_t>{2, 3}},
                      {"keep_aspect_ratio_policy", std::string("not_larger")},
                      {"coordinate_transformation_mode", std::string("asymmetric")}},
                     18)
                 .at(0);
  CHECK(out.shape() == Shape{1, 1, 1, 2});
  checkFloats(out, {1, 3});

  // Upsample-9 linear uses asymmetric coordinates (the example of the ONNX operator docs).
  Tensor up = runOp("Upsample", {in(f32({1, 1, 2, 2}, {1, 2, 3, 4})), constant(f32({4}, {1, 1, 2, 2}))},
                    {{"mode", std::string("linear")}}, 9)
                  .at(0);
  checkFloats(up, {1, 1.5, 2, 2, 2, 2.5, 3, 3, 3, 3.5, 4, 4, 3, 3.5, 4, 4});

  CHECK_THAT(buildError("Resize", {in(x), omitted(), in(f32({4}, {1, 1, 2, 2}))}, {}, 13),
             Catch::Contains("compile-time constant"));
  CHECK_THAT(buildError("Resize", {in(x), omitted(), constant(f32({3}, {1, 2, 2}))}, {}, 13),
             Catch::Contains("scales has 3 values, expected 4"));
  CHECK_THAT(buildError("Resize", {in(x), omitted(), constant(f32({4}, {1, 1, 2, 2}))},
                        {{"mode", std::string("linear")}, {"antialias", int64_t{1}}}, 18),
             Catch::Contains("antialias=1 is not supported"));
}

TEST_CASE("Trilu lower with k = -1 and upper by default", "[indexing]") {
  Tensor x = i64({3, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9});
  Tensor lower = runOp("Trilu", {in(x), in(Tensor::scalar<int64_t>(-1))}, {{"upper", int64_t{0}}}, 14).at(0);
  CHECK(values<int64_t>(lower) == std::vector<int64_t>{0, 0, 0, 4, 0, 0, 7, 8, 0});
  Tensor upper = runOp("Trilu", {in(x)}, {}, 14).at(0);
  CHECK(values<int64_t>(upper) == std::vector<int64_t>{1, 2, 3, 0, 5, 6, 0, 0, 9});
}

TEST_CASE("CumSum exclusive and reverse", "[indexing]") {
  Tensor x = f32({4}, {1, 2, 3, 4});
  Tensor axis = Tensor::scalar<int32_t>(0);
  auto run = [&](int64_t exclusive, int64_t reverse) {
    return values<float>(runOp("CumSum", {in(x), in(axis)}, {{"exclusive", exclusive}, {"reverse", reverse}}).at(0));
  };
  CHECK(run(0, 0) == std::vector<float>{1, 3, 6, 10});
  CHECK(run(1, 0) == std::vector<float>{0, 1, 3, 6});
  CHECK(run(0, 1) == std::vector<float>{10, 9, 7, 4});
  CHECK(run(1, 1) == std::vector<float>{9, 7, 4, 0});

  // Along axis -2 of a matrix, on int64.
  Tensor m = runOp("CumSum", {in(i64({2, 2}, {1, 2, 3, 4})), in(Tensor::scalar<int64_t>(-2))}).at(0);
  CHECK(values<int64_t>(m) == std::vector<int64_t>{1, 2, 4, 6});
  CHECK_THAT(runError("CumSum", {in(x), in(Tensor::scalar<int32_t>(1))}), Catch::Contains("axis 1 is out of range"));
}

TEST_CASE("OneHot with an axis, negative and out-of-range indices", "[indexing]") {
  Tensor indices = i64({3}, {1, -1, 5});
  Tensor out = runOp("OneHot", {in(indices), constant(Tensor::scalar<float>(3)), in(f32({2}, {0, 7}))},
                     {{"axis", int64_t{0}}}, 11)
                   .at(0);
  CHECK(out.shape() == Shape{3, 3});
  // Column j is the one-hot of indices[j]; 5 is outside [-3, 3) and stays all off.
  CHECK(values<float>(out) == std::vector<float>{0, 0, 0, 7, 0, 0, 0, 7, 0});
}

TEST_CASE("TopK breaks ties by the lower index", "[indexing]") {
  Tensor x = f32({5}, {3, 1, 3, 2, 3});
  auto largest = runOp("TopK", {in(x), constant(i64({1}, {2}))}, {}, 11, 2);
  CHECK(values<float>(largest[0]) == std::vector<float>{3, 3});
  CHECK(values<int64_t>(largest[1]) == std::vector<int64_t>{0, 2});

  Tensor y = f32({2, 3}, {2, 1, 1, 5, 4, 4});
  auto smallest = runOp("TopK", {in(y), constant(i64({1}, {2}))}, {{"largest", int64_t{0}}}, 11, 2);
  CHECK(smallest[0].shape() == Shape{2, 2});
  CHECK(values<float>(smallest[0]) == std::vector<float>{1, 1, 4, 4});
  CHECK(values<int64_t>(smallest[1]) == std::vector<int64_t>{1, 2, 1, 2});

  // Along axis 0 (strided slices).
  auto columns = runOp("TopK", {in(y), constant(i64({1}, {1}))}, {{"axis", int64_t{0}}}, 11, 2);
  CHECK(values<float>(columns[0]) == std::vector<float>{5, 4, 4});
  CHECK(values<int64_t>(columns[1]) == std::vector<int64_t>{1, 1, 1});

  CHECK_THAT(buildError("TopK", {in(x), constant(i64({1}, {6}))}, {}, 11), Catch::Contains("k 6 is out of range"));
}
