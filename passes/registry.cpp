// One explicit line per pass (static libraries would drop self-registering static initializers).
#include "passes/passes.h"

namespace fluidml::passes {

const pass::PassRegistry &standardPassRegistry() {
  static const pass::PassRegistry registry = [] {
    pass::PassRegistry r;
    r.add("fold-constants", "fold nodes whose operands are all constants (and Shape/Size of static types)",
          createFoldConstantsPass);
    r.add("eliminate-dead-code", "remove nodes and constants that no graph output depends on",
          createEliminateDeadCodePass);
    r.add("eliminate-identity", "remove Identity, inference Dropout, no-op Cast/Reshape and collapse Reshape chains",
          createEliminateIdentityPass);
    r.add("fuse-epilogues",
          "fold the Add/Relu/Clip/Sigmoid/SiLU chain after a Conv/MatMul into one fluidml.FusedConv/FusedMatMul",
          createFuseEpiloguesPass);
    r.add("assign-layouts",
          "layouts by op type (NCHWc: the target's channel block), propagated forward; Relayouts where kernels refuse",
          createAssignLayoutsPass);
    r.add("schedule", "reorder operators (memory-aware topological order, or keep the import order)",
          createSchedulePass);
    r.add("memory-plan", "place every intermediate tensor in one arena by lifetimes (naive, greedy-size, best-of)",
          createMemoryPlanPass);
    r.add("test-perturb-constant", "for tests only, deliberately wrong: adds 1 to one element of a weight",
          createTestPerturbConstantPass);
    return r;
  }();
  return registry;
}

}  // namespace fluidml::passes
