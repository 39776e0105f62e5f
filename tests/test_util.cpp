#include "tests/test_util.h"

#include <algorithm>
#include <string>

#include <catch2/catch.hpp>

#include "core/interp/interpreter.h"
#include "core/ir/verifier.h"
#include "core/ops/op_registry.h"

namespace fluidml::test {

ir::GraphBuilder makeBuilder(int64_t opset) { return ir::GraphBuilder(ops::inferNodeTypes, opset); }

ir::Tensor randomFloats(const ir::Shape &shape, uint32_t seed, float lo, float hi) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  ir::Tensor t = ir::Tensor::zeros(ir::DType::Float32, shape);
  for (float &x : t.span<float>()) x = dist(rng);
  return t;
}

std::vector<ir::Tensor> runGraph(const ir::Graph &graph, const std::vector<ir::Tensor> &inputs) {
  Status verified = ir::verify(graph);
  INFO((verified.isOk() ? std::string() : verified.message()));
  REQUIRE(verified.isOk());
  interp::Interpreter interpreter(graph);
  auto outputs = interpreter.run(inputs);
  INFO((outputs.hasValue() ? std::string() : outputs.message()));
  REQUIRE(outputs.hasValue());
  return std::move(outputs).value();
}

std::vector<std::filesystem::path> tinyDatasetDirs() {
  std::vector<std::filesystem::path> dirs;
  const std::string names = FLUIDML_TINY_DATASETS;  // "bert,convbert,..." from tests/CMakeLists.txt
  for (size_t start = 0; start <= names.size();) {
    const size_t end = std::min(names.find(',', start), names.size());
    const std::string name = names.substr(start, end - start) + "-tiny";
    start = end + 1;
    const std::filesystem::path dir = std::filesystem::path(FLUIDML_TEST_DATASETS_DIR) / (name + "-seed0");
    if (!std::filesystem::exists(dir / "model.onnx"))
      FAIL("the dataset model " << (dir / "model.onnx") << " is missing: make it with `ctest -R make_dataset_"
                                << name << "` in the build folder (ctest makes it before this test), or `"
                                << FLUIDML_PYTHON << " datasets/make_dataset.py " << name << " -o " << dir << "`");
    dirs.push_back(dir);
  }
  return dirs;
}

}  // namespace fluidml::test
