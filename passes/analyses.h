// The standard analyses: their names in the analysis store, typed access, and their registration (JSON
// serializer and equality) in standardAnalysisRegistry.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "core/analysis/memory_plan.h"
#include "core/pass/analysis_registry.h"

namespace fluidml::passes {

/// How the graph's order was chosen (a std::string, "memory-aware" or "import"), written by the schedule pass.
inline constexpr std::string_view kScheduleAnalysis = "schedule";
/// The memory plan of the current order (an analysis::MemoryPlan), written by the memory-plan pass.
inline constexpr std::string_view kMemoryPlanAnalysis = "memory-plan";

/// The "schedule" analysis, or "import" when no schedule pass has run (the order is the model's).
std::string scheduleName(const pass::AnalysisStore &store);
/// The memory plan, or nullptr (none made yet, or a rewrite since invalidated it).
const analysis::MemoryPlan *memoryPlan(const pass::AnalysisStore &store);

/// The memory plan as JSON (summary, buffers, per-value storage), as documented in exporters/TRACE_SCHEMA.md.
nlohmann::json memoryPlanToJson(const ir::Graph &graph, const analysis::MemoryPlan &plan);
/// True when both plans agree on every summary field, buffer and storage entry.
bool sameMemoryPlan(const analysis::MemoryPlan &a, const analysis::MemoryPlan &b);

/// Every standard analysis kind, registered once (one explicit line each).
const pass::AnalysisRegistry &standardAnalysisRegistry();

}  // namespace fluidml::passes
