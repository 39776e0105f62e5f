#include "tests/test_util.h"

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

}  // namespace fluidml::test
