#include <catch2/catch.hpp>

#include "core/ir/graph.h"
#include "core/ir/printer.h"
#include "core/ir/verifier.h"

using namespace fluidml;
using namespace fluidml::ir;

TEST_CASE("graph edits keep use lists consistent", "[ir]") {
  Graph g;
  ValueId x = g.addInput("x", TensorType(DType::Float32, {2, 3}));
  ValueId w = g.addConstant("w", Tensor::zeros(DType::Float32, {2, 3}));
  NodeId add = g.addNode("Add", "add", {x, w}, {"y"});
  ValueId y = g.node(add).outputs[0];
  g.value(y).type = TensorType(DType::Float32, {2, 3});
  NodeId relu = g.addNode("Relu", "relu", {y}, {"z"});
  ValueId z = g.node(relu).outputs[0];
  g.value(z).type = TensorType(DType::Float32, {2, 3});
  g.addOutput(z);
  REQUIRE(verify(g).isOk());
  CHECK(g.value(y).uses.size() == 1);

  // Bypass the Add: Relu reads x directly, then the Add goes away.
  g.replaceAllUsesWith(y, x);
  CHECK(g.value(x).uses.size() == 2);
  g.eraseNode(add);
  CHECK(g.value(x).uses.size() == 1);
  CHECK(g.value(w).uses.empty());
  REQUIRE(verify(g).isOk());
  CHECK(g.order() == std::vector<NodeId>{relu});
}

TEST_CASE("verify catches a broken order and a cycle is reported", "[ir]") {
  Graph g;
  ValueId x = g.addInput("x", TensorType(DType::Float32, {1}));
  NodeId a = g.addNode("Relu", "a", {x}, {"a_out"});
  NodeId b = g.addNode("Relu", "b", {g.node(a).outputs[0]}, {"b_out"});
  g.addOutput(g.node(b).outputs[0]);
  g.setOrder({b, a});
  Status status = verify(g);
  REQUIRE_FALSE(status.isOk());
  CHECK_THAT(status.message(), Catch::Contains("runs before the producer"));
  REQUIRE(g.topologicalSort().isOk());
  CHECK(verify(g).isOk());

  g.setOperand(a, 0, g.node(b).outputs[0]);  // a reads b, b reads a
  Status cycle = g.topologicalSort();
  REQUIRE_FALSE(cycle.isOk());
  CHECK_THAT(cycle.message(), Catch::Contains("cycle"));
}

TEST_CASE("clone is deep for structure and shares constant buffers", "[ir]") {
  Graph g;
  ValueId x = g.addInput("x", TensorType(DType::Float32, {4}));
  ValueId w = g.addConstant("w", Tensor::fromVector<float>({4}, {1, 2, 3, 4}));
  NodeId n = g.addNode("Mul", "mul", {x, w}, {"y"});
  g.addOutput(g.node(n).outputs[0]);
  Graph copy = g.clone();
  copy.node(n).name = "renamed";
  copy.setOutputs({});
  copy.eraseNode(n);
  CHECK(g.node(n).name == "mul");
  CHECK(g.node(n).alive);
  CHECK(g.value(w).constant.rawData() == copy.value(w).constant.rawData());
  CHECK_THAT(dumpGraph(g), Catch::Contains("%y = Mul(%x, %w) name='mul'"));
}

TEST_CASE("replaceProducedValue moves a graph output onto the producer of a pass-through's operand", "[ir]") {
  Graph g;
  ValueId x = g.addInput("x", TensorType(DType::Float32, {2}));
  NodeId relu = g.addNode("Relu", "relu", {x}, {"r"});
  ValueId r = g.node(relu).outputs[0];
  NodeId identity = g.addNode("Identity", "id", {r}, {"y"});
  ValueId y = g.node(identity).outputs[0];
  NodeId neg = g.addNode("Neg", "neg", {r}, {"z"});
  g.addOutput(y);
  g.addOutput(g.node(neg).outputs[0]);

  g.replaceProducedValue(r, y);
  g.eraseNode(identity);
  REQUIRE(verify(g).isOk());
  CHECK(g.value(y).producer == relu);
  CHECK(g.node(relu).outputs[0] == y);
  CHECK(g.node(neg).inputs[0] == y);
  CHECK_FALSE(g.value(r).alive);
  CHECK(g.order() == std::vector<NodeId>{relu, neg});
}
