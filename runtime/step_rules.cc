// runtime/step_rules.cc: see step_rules.h. Every rule here is written down
// in runtime/README.md ("Step rules").
#include "runtime/step_rules.h"

#include <algorithm>
#include <cstdio>
#include <ctime>

#include "base/assert.h"
#include "base/bytes.h"
#include "base/crypto.h"

namespace agentlog {

uint64_t RetryBackoffMs(const RetryPolicy& policy, uint32_t failed_attempts, uint64_t draw) {
  // base * 2^(n-1), saturating at the cap without overflowing on the way.
  uint64_t delay = policy.base_backoff_ms;
  // Bounded by 64 doublings: 0 never grows, anything else saturates by then.
  for (uint32_t i = 1; i < failed_attempts && delay != 0 && delay < policy.max_backoff_ms; ++i) {
    delay = delay > UINT64_MAX / 2 ? UINT64_MAX : delay * 2;
  }
  delay = std::min(delay, policy.max_backoff_ms);
  const uint64_t half = delay / 2;
  // Equal jitter: at least half the delay, so retries never stampede at 0.
  return (delay - half) + (half == 0 ? 0 : draw % (half + 1));
}

namespace {

// `prefix` and 32 hex digits of SHA-256 over the length-prefixed (8-byte
// big-endian) parts and the SHA-256 of `arguments_json`. The prefix keeps
// step keys and compensation keys apart even for equal parts.
std::string KeyOf(std::string_view prefix, std::initializer_list<std::string_view> parts,
                  std::string_view arguments_json) {
  std::string input;
  internal::PutLengthPrefixed64(&input, prefix);
  for (std::string_view part : parts) internal::PutLengthPrefixed64(&input, part);
  const internal::Hash arguments = internal::Sha256(arguments_json);
  internal::PutLengthPrefixed64(&input, internal::HashView(arguments));
  const internal::Hash key = internal::Sha256(input);
  return std::string(prefix) + internal::HexEncode(internal::HashView(key)).substr(0, 32);
}

}  // namespace

std::string StepIdempotencyKey(std::string_view run_id, std::string_view turn_id,
                               std::string_view step_id, std::string_view tool,
                               std::string_view arguments_json) {
  return KeyOf("al1-", {run_id, turn_id, step_id, tool}, arguments_json);
}

namespace runtime {
std::string CompensationIdempotencyKey(std::string_view run_id, std::string_view turn_id,
                                       std::string_view step_id, std::string_view tool,
                                       std::string_view arguments_json) {
  return KeyOf("al1u-", {run_id, turn_id, step_id, tool}, arguments_json);
}
}  // namespace runtime

std::string_view StepActionName(StepAction action) {
  switch (action) {
    case StepAction::kRun: return "run";
    case StepAction::kCompleted: return "completed";
    case StepAction::kInDoubt: return "in_doubt";
    case StepAction::kNeedsApproval: return "needs_approval";
    case StepAction::kAwaitingApproval: return "awaiting_approval";
    case StepAction::kApprovalExpired: return "approval_expired";
    case StepAction::kDenied: return "denied";
    case StepAction::kRetryLater: return "retry_later";
    case StepAction::kFailed: return "failed";
    case StepAction::kDeadlinePassed: return "deadline_passed";
    case StepAction::kPaused: return "paused";
  }
  return "unknown";
}

std::string_view RecoveryActionName(RecoveryAction action) {
  switch (action) {
    case RecoveryAction::kStartTurn: return "start_turn";
    case RecoveryAction::kPlan: return "plan";
    case RecoveryAction::kResumeStep: return "resume_step";
    case RecoveryAction::kInDoubt: return "in_doubt";
    case RecoveryAction::kAwaitApproval: return "await_approval";
    case RecoveryAction::kApprovalExpired: return "approval_expired";
    case RecoveryAction::kRetryAt: return "retry_at";
    case RecoveryAction::kDeadlinePassed: return "deadline_passed";
    case RecoveryAction::kPaused: return "paused";
    case RecoveryAction::kPauseTimedOut: return "pause_timed_out";
    case RecoveryAction::kCompleteTurn: return "complete_turn";
    case RecoveryAction::kLeaseHeld: return "lease_held";
    case RecoveryAction::kStale: return "stale";
    case RecoveryAction::kCompensate: return "compensate";
    case RecoveryAction::kReviseOrFail: return "revise_or_fail";
    case RecoveryAction::kCounterfactual: return "counterfactual";
  }
  return "unknown";
}

namespace runtime {
namespace {

using Item = RunState::PlanItem;
using S = RunState::StepStatus;

// The step's latest call as the log holds it (run_id left for the caller).
ToolCall CallOf(const Item& item) {
  ToolCall call;
  call.step_id = item.id;
  call.tool = item.tool;
  call.proposed_arguments_json = item.arguments_json;
  call.arguments_json = item.call_arguments_json;
  call.idempotency_key = item.idempotency_key;
  call.attempt = item.attempts;
  return call;
}

}  // namespace

uint64_t ApprovalWindowStart(const RunState& state) {
  const RunState::Turn* turn = state.CurrentTurn();
  return std::max(turn != nullptr ? turn->started_sequence : 0, state.plan_revision.sequence);
}

const RunState::Approval* CurrentRequest(const RunState& state, std::string_view step_id) {
  const RunState::Approval* approval = state.FindApproval(step_id);
  if (approval == nullptr || approval->requested_sequence <= ApprovalWindowStart(state)) return nullptr;
  return approval;
}

namespace {

// The grant that lets `item` start, or nullptr. Mutating: a grant of this
// step in the current window (this turn, since the plan's last revision:
// a grant of another turn's step of the same id, or of the step as it was
// before a revision, does not count). Confirm-once: such a grant, or any
// grant with scope for_run.
const RunState::Approval* GrantFor(const RunState& state, const Item& item) {
  const RunState::Approval* own = state.FindApproval(item.id);
  if (own != nullptr && own->decision == RunState::ApprovalDecision::kGranted &&
      own->decided_sequence > ApprovalWindowStart(state)) {
    return own;
  }
  if (item.confirmation == fb::ConfirmationMode_ConfirmOnce) {
    for (const RunState::Approval& approval : state.approvals) {
      if (approval.decision == RunState::ApprovalDecision::kGranted &&
          approval.scope == fb::ApprovalScope_ForRun) {
        return &approval;
      }
    }
  }
  return nullptr;
}

}  // namespace

std::string FormatTimeUs(int64_t time_us) {
  if (time_us == 0) return "never";
  const time_t seconds = static_cast<time_t>(time_us / 1000000);
  std::tm parts{};
  gmtime_r(&seconds, &parts);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &parts);
  return text;
}

namespace {

// "step S was denied", naming who denied it and why when the request of
// the current window says so.
std::string DenialDetail(const RunState& state, const Item& item) {
  const RunState::Approval* approval = CurrentRequest(state, item.id);
  return "step " + item.id + " was denied" +
         (approval != nullptr ? " by " + approval->decided_by +
                                    (approval->denial_reason.empty()
                                         ? std::string()
                                         : ": " + approval->denial_reason)
                              : std::string());
}

// True when the step's own status settles the answer (README rules 1-3):
// it finished, or it started and recorded no outcome. False for a step
// that may yet start.
bool SettledByStatus(const RunState& state, const Item& item, StepOutcome* out) {
  switch (item.status) {
    case S::kCompleted:
      out->action = StepAction::kCompleted;
      out->output = item.output;
      out->detail = "step " + item.id + " completed in attempt " + std::to_string(item.attempts);
      return true;
    case S::kRunning:
      out->action = StepAction::kInDoubt;
      out->detail = "step " + item.id + " started attempt " + std::to_string(item.attempts) +
                    " with key " + item.idempotency_key +
                    " and recorded no outcome: call the tool with that key so it de-duplicates";
      return true;
    case S::kFailed:
      out->action = StepAction::kFailed;
      out->detail = "step " + item.id + " failed after " + std::to_string(item.attempts) +
                    " attempt(s): " + item.last_error;
      return true;
    case S::kCompensated:
      out->action = StepAction::kFailed;
      out->detail = "step " + item.id + " failed and was compensated";
      return true;
    case S::kDenied:
      out->action = StepAction::kDenied;
      out->detail = DenialDetail(state, item);
      return true;
    case S::kPending:
    case S::kAwaitingApproval:
    case S::kApproved:
    case S::kRetryScheduled:
      break;
  }
  return false;
}

// True when something other than approval keeps a step that could start
// from starting now: a pause, a passed run or step deadline, a retry not
// yet due (README rules 4-6, in that order: it decides the answer when
// several hold).
bool HeldBeforeStart(const RunState& state, const Item& item, int64_t now_us, StepOutcome* out) {
  if (state.status == RunStatus::kPaused) {
    out->action = StepAction::kPaused;
    out->at_us = state.pause.timeout_at_us;
    out->detail = "the run is paused until '" + state.pause.trigger + "'" +
                  (out->at_us == 0 ? std::string() : " or " + FormatTimeUs(out->at_us)) +
                  ": Resume(reason) before starting step " + item.id;
    return true;
  }
  if (state.run_deadline_at_us != 0 && now_us >= state.run_deadline_at_us) {
    out->action = StepAction::kDeadlinePassed;
    out->at_us = state.run_deadline_at_us;
    out->detail = "the run's deadline passed at " + FormatTimeUs(out->at_us);
    return true;
  }
  for (const RunState::StepDeadline& deadline : state.step_deadlines) {
    if (deadline.step_id == item.id && deadline.deadline_at_us != 0 &&
        now_us >= deadline.deadline_at_us) {
      out->action = StepAction::kDeadlinePassed;
      out->at_us = deadline.deadline_at_us;
      out->detail = "step " + item.id + "'s deadline passed at " + FormatTimeUs(out->at_us);
      return true;
    }
  }
  if (item.status == S::kRetryScheduled && now_us < item.retry.not_before_us) {
    out->action = StepAction::kRetryLater;
    out->at_us = item.retry.not_before_us;
    out->detail = "step " + item.id + " retries (attempt " + std::to_string(item.retry.attempt) +
                  ") not before " + FormatTimeUs(out->at_us);
    return true;
  }
  return false;
}

// For a step that needs a grant and has none (README rule 7): waiting on a
// request still open, a request that expired unanswered, or no request yet.
void WithoutGrant(const RunState& state, const Item& item, int64_t now_us, StepOutcome* out) {
  const RunState::Approval* request = CurrentRequest(state, item.id);
  if (request != nullptr && request->decision == RunState::ApprovalDecision::kPending) {
    out->at_us = request->expires_at_us;
    if (request->expires_at_us != 0 && now_us >= request->expires_at_us) {
      out->action = StepAction::kApprovalExpired;
      out->detail = "the approval request for step " + item.id + " expired at " +
                    FormatTimeUs(out->at_us) + " unanswered: request it again";
    } else {
      out->action = StepAction::kAwaitingApproval;
      out->detail = "step " + item.id + " waits for a person's approval" +
                    (out->at_us == 0 ? std::string() : " until " + FormatTimeUs(out->at_us));
    }
    return;
  }
  out->action = StepAction::kNeedsApproval;
  out->detail = "step " + item.id + " is " + ConfirmationModeName(item.confirmation) +
                ": it needs a grant before it starts (RequestApproval)";
}

}  // namespace

StepOutcome EvaluateStep(const RunState& state, const Item& item, int64_t now_us) {
  AGENTLOG_ASSERT(state.FindPlanItem(item.id) == &item);
  // The run id is not in RunState: callers fill call.run_id.
  StepOutcome out;
  out.call = CallOf(item);
  if (SettledByStatus(state, item, &out)) return out;
  if (HeldBeforeStart(state, item, now_us, &out)) return out;
  const RunState::Approval* grant = nullptr;
  if (item.confirmation != fb::ConfirmationMode_SafeReadonly) {
    grant = GrantFor(state, item);
    if (grant == nullptr) {
      WithoutGrant(state, item, now_us, &out);
      return out;
    }
  }
  out.action = StepAction::kRun;
  out.call.attempt = item.attempts + 1;
  // A person's edit applies only under this step's own grant (rule 8), not
  // under a for_run grant of another step.
  out.call.arguments_json =
      (grant != nullptr && grant->step_id == item.id && !item.edited_arguments_json.empty())
          ? item.edited_arguments_json
          : item.arguments_json;
  out.detail = "step " + item.id + " runs attempt " + std::to_string(out.call.attempt);
  return out;
}

Status BudgetError(const RunState& state, int64_t created_us, int64_t now_us) {
  const RunState::Budget& budget = state.budget;
  if (budget.max_steps != 0 && budget.used_steps >= budget.max_steps) {
    return Status::LimitExceeded("step budget spent: " + std::to_string(budget.used_steps) +
                                 " of " + std::to_string(budget.max_steps) +
                                 " step starts used; the run can start no more steps: complete or "
                                 "fail the turn");
  }
  if (budget.max_tokens != 0 && budget.used_tokens >= budget.max_tokens) {
    return Status::LimitExceeded("token budget spent: " + std::to_string(budget.used_tokens) +
                                 " of " + std::to_string(budget.max_tokens) + " tokens used");
  }
  if (budget.max_wall_time_ms != 0 && now_us > created_us &&
      static_cast<uint64_t>(now_us - created_us) / 1000 >= budget.max_wall_time_ms) {
    return Status::LimitExceeded("wall-time budget spent: the run started " +
                                 std::to_string((now_us - created_us) / 1000) + " ms ago, over its " +
                                 std::to_string(budget.max_wall_time_ms) + " ms");
  }
  return Status::OK();
}

bool LeaseLive(const RunState& state, int64_t last_event_us, int64_t now_us, int64_t* expires_us) {
  const int64_t ttl_us = static_cast<int64_t>(std::min<uint64_t>(state.lease.ttl_ms, INT64_MAX / 2000)) * 1000;
  *expires_us = last_event_us + ttl_us;
  return state.lease.held && now_us < *expires_us;
}

std::vector<std::string> StepsNeedingCompensation(const RunState& state) {
  // A step left in doubt in a turn that has ended will never learn its
  // outcome: its effect may have happened, as for a failed one.
  const RunState::Turn* turn = state.CurrentTurn();
  const bool turn_ended = turn != nullptr && turn->ended_sequence != 0;
  std::vector<std::string> steps;
  for (const Item& item : state.plan) {
    if (item.confirmation == fb::ConfirmationMode_Mutating && item.attempts > 0 &&
        (item.status == S::kFailed || (item.status == S::kRunning && turn_ended))) {
      steps.push_back(item.id);
    }
  }
  return steps;
}

const RunState::PlanItem* NextStep(const RunState& state) {
  const Item* current = state.CurrentStep();
  if (current != nullptr && current->status != S::kCompleted) return current;
  for (const Item& item : state.plan) {
    if (item.status != S::kCompleted) return &item;
  }
  return nullptr;
}

bool StepFinished(RunState::StepStatus status) {
  return status == S::kCompleted || status == S::kFailed || status == S::kDenied ||
         status == S::kCompensated;
}

bool RunFinished(RunStatus status) {
  return status == RunStatus::kCompleted || status == RunStatus::kFailed;
}

}  // namespace runtime
}  // namespace agentlog
