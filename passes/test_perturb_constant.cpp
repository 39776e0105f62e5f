// test-perturb-constant: a deliberately wrong pass, for testing the checks that must catch a miscompiling pass
// (`fluidml run --check` compares with the graph as imported). It adds 1 to the first element of the first
// float32 constant a node reads, in a fresh buffer (constant buffers are shared with the imported graph).
// O(size of that constant).
#include "passes/passes.h"

namespace fluidml::passes {

namespace {

class TestPerturbConstantPass final : public pass::Pass {
 public:
  static constexpr std::string_view kName = "test-perturb-constant";

  std::string_view name() const override { return kName; }

  Expected<pass::PassResult> run(ir::Graph &graph, pass::PassContext &) override {
    pass::PassResult result;
    for (ir::ValueId id : graph.constants()) {
      ir::Value &value = graph.value(id);
      if (value.uses.empty() || value.type.dtype != ir::DType::Float32 || value.constant.numel() == 0) continue;
      ir::Tensor perturbed = value.constant.clone();
      perturbed.data<float>()[0] += 1.0f;
      value.constant = std::move(perturbed);
      result.changed = true;
      break;
    }
    return result;
  }
};

}  // namespace

PassFactoryResult createTestPerturbConstantPass(const nlohmann::json &options) {
  pass::OptionsReader reader(std::string(TestPerturbConstantPass::kName), options);
  FLUIDML_RETURN_IF_ERROR(reader.validate({}));
  return std::unique_ptr<pass::Pass>(std::make_unique<TestPerturbConstantPass>());
}

}  // namespace fluidml::passes
