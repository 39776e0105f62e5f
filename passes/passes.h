// Factories of the standard passes, one per file in passes/, registered in passes/registry.cpp.
#pragma once

#include <memory>

#include "core/pass/pass_registry.h"

namespace fluidml::passes {

using PassFactoryResult = Expected<std::unique_ptr<pass::Pass>>;

PassFactoryResult createFoldConstantsPass(const nlohmann::json &options);
PassFactoryResult createEliminateDeadCodePass(const nlohmann::json &options);
PassFactoryResult createEliminateIdentityPass(const nlohmann::json &options);
PassFactoryResult createSchedulePass(const nlohmann::json &options);
PassFactoryResult createMemoryPlanPass(const nlohmann::json &options);
PassFactoryResult createFuseEpiloguesPass(const nlohmann::json &options);
PassFactoryResult createAssignLayoutsPass(const nlohmann::json &options);
/// Deliberately wrong (changes a weight): for tests that a miscompiling pass is caught.
PassFactoryResult createTestPerturbConstantPass(const nlohmann::json &options);

/// Every standard pass, registered once.
const pass::PassRegistry &standardPassRegistry();

}  // namespace fluidml::passes
