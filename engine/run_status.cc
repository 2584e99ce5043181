// engine/run_status.cc: event type -> run status, for the runs index.
// Projections compute the full state; this table only feeds ListRuns.
#include "engine/run_status.h"

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

namespace internal {

std::optional<RunStatus> StatusAfter(EventType type) {
  switch (static_cast<fb::Body>(type)) {
    case fb::Body_TurnStarted: return RunStatus::kCreated;
    case fb::Body_TurnPlanned:
    case fb::Body_PlanRevised: return RunStatus::kPlanned;
    case fb::Body_ApprovalRequested: return RunStatus::kAwaitingApproval;
    case fb::Body_ToolStarted:
    case fb::Body_ApprovalGranted:
    case fb::Body_ApprovalDenied:
    case fb::Body_RetryScheduled:
    case fb::Body_RunResumed: return RunStatus::kRunning;
    case fb::Body_RunPaused: return RunStatus::kPaused;
    case fb::Body_TurnCompleted: return RunStatus::kCompleted;
    case fb::Body_TurnFailed: return RunStatus::kFailed;
    default: return std::nullopt;
  }
}

}  // namespace internal

std::optional<RunStatus> StatusAfterEvent(EventType type) { return internal::StatusAfter(type); }

}  // namespace agentlog
