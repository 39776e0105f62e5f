#include "tools/profile_report.h"

#include <algorithm>
#include <map>
#include <string>

namespace fluidml::cli {

namespace {

struct Group {
  std::string key;
  int64_t nanoseconds = 0;
  int nodes = 0;
};

/// Sums the nodes by `keyOf`, slowest group first.
template <typename KeyFn>
std::vector<Group> groupBy(const std::vector<codegen::NodeProfile> &profile, KeyFn keyOf) {
  std::map<std::string, Group> groups;
  for (const codegen::NodeProfile &node : profile) {
    Group &group = groups[keyOf(node)];
    group.nanoseconds += node.nanoseconds;
    group.nodes += 1;
  }
  std::vector<Group> sorted;
  for (auto &[key, group] : groups) {
    group.key = key;
    sorted.push_back(group);
  }
  std::stable_sort(sorted.begin(), sorted.end(), [](const Group &a, const Group &b) { return a.nanoseconds > b.nanoseconds; });
  return sorted;
}

std::string strategyKey(const codegen::NodeProfile &node) {
  return node.opType + " " + (node.strategy.empty() ? "-" : node.strategy) + " [" + node.layouts + "]";
}

int64_t totalNanoseconds(const std::vector<codegen::NodeProfile> &profile) {
  int64_t total = 0;
  for (const codegen::NodeProfile &node : profile) total += node.nanoseconds;
  return total;
}

}  // namespace

void printProfile(std::FILE *out, const std::vector<codegen::NodeProfile> &profile, int runs, double meanMs,
                  size_t topNodes) {
  const int64_t total = totalNanoseconds(profile);
  const double perRun = 1e-6 / std::max(1, runs);  // ns summed over the runs -> ms per run
  auto percent = [&](int64_t ns) { return total > 0 ? 100.0 * static_cast<double>(ns) / static_cast<double>(total) : 0.0; };
  std::fprintf(out, "  profile   %.3f ms per run in %zu nodes (%.1f%% of the mean latency; %d runs)\n",
               static_cast<double>(total) * perRun, profile.size(),
               meanMs > 0 ? 100.0 * static_cast<double>(total) * perRun / meanMs : 0.0, runs);

  std::vector<const codegen::NodeProfile *> slowest;
  for (const codegen::NodeProfile &node : profile) slowest.push_back(&node);
  std::stable_sort(slowest.begin(), slowest.end(),
                   [](const auto *a, const auto *b) { return a->nanoseconds > b->nanoseconds; });
  if (slowest.size() > topNodes) slowest.resize(topNodes);
  std::fprintf(out, "\n  %10s %6s  %-22s %-14s %s\n", "ms/run", "%", "op", "strategy", "slowest nodes");
  for (const codegen::NodeProfile *node : slowest)
    std::fprintf(out, "  %10.3f %6.1f  %-22s %-14s %s\n", static_cast<double>(node->nanoseconds) * perRun,
                 percent(node->nanoseconds), node->opType.c_str(), node->strategy.empty() ? "-" : node->strategy.c_str(),
                 node->name.c_str());

  auto printGroups = [&](const char *title, const std::vector<Group> &groups) {
    std::fprintf(out, "\n  %10s %6s %5s  %s\n", "ms/run", "%", "nodes", title);
    for (const Group &group : groups)
      std::fprintf(out, "  %10.3f %6.1f %5d  %s\n", static_cast<double>(group.nanoseconds) * perRun,
                   percent(group.nanoseconds), group.nodes, group.key.c_str());
  };
  printGroups("by op type", groupBy(profile, [](const codegen::NodeProfile &node) { return node.opType; }));
  printGroups("by kernel strategy [layouts read -> written]", groupBy(profile, strategyKey));
}

nlohmann::json profileJson(const std::vector<codegen::NodeProfile> &profile, int runs) {
  const int64_t total = totalNanoseconds(profile);
  const double perRun = 1e-6 / std::max(1, runs);
  auto percent = [&](int64_t ns) { return total > 0 ? 100.0 * static_cast<double>(ns) / static_cast<double>(total) : 0.0; };
  nlohmann::json nodes = nlohmann::json::array();
  for (const codegen::NodeProfile &node : profile)
    nodes.push_back({{"name", node.name},
                     {"op", node.opType},
                     {"strategy", node.strategy},
                     {"layouts", node.layouts},
                     {"total_ns", node.nanoseconds},
                     {"calls", node.calls},
                     {"ms_per_run", static_cast<double>(node.nanoseconds) * perRun},
                     {"percent", percent(node.nanoseconds)}});
  auto groupsJson = [&](const std::vector<Group> &groups, const char *keyName) {
    nlohmann::json out = nlohmann::json::array();
    for (const Group &group : groups)
      out.push_back({{keyName, group.key},
                     {"nodes", group.nodes},
                     {"ms_per_run", static_cast<double>(group.nanoseconds) * perRun},
                     {"percent", percent(group.nanoseconds)}});
    return out;
  };
  return {{"runs", runs},
          {"total_ms", static_cast<double>(total) * perRun},
          {"nodes", nodes},
          {"by_op", groupsJson(groupBy(profile, [](const codegen::NodeProfile &node) { return node.opType; }), "op")},
          {"by_strategy", groupsJson(groupBy(profile, strategyKey), "strategy")}};
}

}  // namespace fluidml::cli
