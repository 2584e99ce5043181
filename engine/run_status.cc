// engine/run_status.cc: the names of the run statuses (agentlog/store.h).
// Which event moves a run to which status is engine/run_fold.cc's.
#include "agentlog/store.h"

#include <array>

namespace agentlog {

namespace {
constexpr std::array<std::string_view, 7> kRunStatusNames = {
    "created", "planned", "awaiting_approval", "running", "paused", "completed", "failed"};
}  // namespace

std::string_view RunStatusName(RunStatus status) {
  const size_t index = static_cast<size_t>(status);
  return index < kRunStatusNames.size() ? kRunStatusNames[index] : "unknown";
}

std::optional<RunStatus> ParseRunStatus(std::string_view name) {
  for (size_t i = 0; i < kRunStatusNames.size(); ++i) {
    if (kRunStatusNames[i] == name) return static_cast<RunStatus>(i);
  }
  return std::nullopt;
}

}  // namespace agentlog
