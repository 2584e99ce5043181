// runtime/recovery.cc: what is due for each unfinished run after a restart,
// and which deadlines have passed.
//
// Recover lists runs from the store's status index (never a scan of
// events) and decides each from its run state with the same rules a worker
// applies (step_rules.h), so Recover never promises what BeginStep refuses.
#include <map>
#include <optional>
#include <set>

#include "runtime/runtime_impl.h"
#include "runtime/step_rules.h"

namespace agentlog::runtime {
namespace {

constexpr RunStatus kUnfinished[] = {RunStatus::kCreated, RunStatus::kPlanned,
                                     RunStatus::kAwaitingApproval, RunStatus::kRunning,
                                     RunStatus::kPaused, RunStatus::kFailed};

// Every run in `status`, page by page.
Result<std::vector<RunInfo>> RunsIn(Store* store, RunStatus status) {
  std::vector<RunInfo> runs;
  RunFilter filter;
  filter.status = status;
  for (;;) {
    Result<std::vector<RunInfo>> page = store->ListRuns(filter);
    if (!page.ok()) return page.status();
    for (RunInfo& info : *page) runs.push_back(std::move(info));
    if (page->size() < filter.limit) return runs;
    filter.after_run_id = runs.back().run_id;
  }
}

RecoveryAction ForStep(StepAction action) {
  switch (action) {
    case StepAction::kInDoubt: return RecoveryAction::kInDoubt;
    case StepAction::kAwaitingApproval: return RecoveryAction::kAwaitApproval;
    case StepAction::kApprovalExpired: return RecoveryAction::kApprovalExpired;
    case StepAction::kRetryLater: return RecoveryAction::kRetryAt;
    case StepAction::kDeadlinePassed: return RecoveryAction::kDeadlinePassed;
    case StepAction::kPaused: return RecoveryAction::kPaused;
    case StepAction::kDenied:
    case StepAction::kFailed:
      return RecoveryAction::kReviseOrFail;
    case StepAction::kRun:
    case StepAction::kNeedsApproval:
    case StepAction::kCompleted:
      break;
  }
  return RecoveryAction::kResumeStep;
}

// `item` with what is due for its run.
RecoveryItem Due(RecoveryItem item, RecoveryAction action, std::string step_id, int64_t at_us,
                 std::string detail) {
  item.action = action;
  item.step_id = std::move(step_id);
  item.at_us = at_us;
  item.detail = std::move(detail);
  return item;
}

// A failed run has nothing to resume; only its compensations are due.
RecoveryItem ForFailedRun(const RecoveryItem& item, const RunState& state) {
  std::string steps;
  for (const std::string& step : item.needs_compensation) steps += (steps.empty() ? "" : ", ") + step;
  return Due(item, RecoveryAction::kCompensate, "", 0,
             "the turn failed (" + state.failure.error + "); still to compensate: " + steps);
}

// Another worker's live lease, or a run silent for too long: either way
// this worker should not simply resume it.
std::optional<RecoveryItem> NotOursToResume(const RecoveryItem& item, const RunInfo& info,
                                            const RunState& state, int64_t now,
                                            const RuntimeOptions& options) {
  int64_t lease_expires = 0;
  if (LeaseLive(state, info.last_event_us, now, &lease_expires) &&
      state.lease.holder != options.worker_id) {
    RecoveryItem held = Due(item, RecoveryAction::kLeaseHeld, "", lease_expires,
                            "leased by " + state.lease.holder + " until " + FormatTimeUs(lease_expires));
    held.holder = state.lease.holder;
    return held;
  }
  if (now - info.last_event_us > options.stale_after_us) {
    return Due(item, RecoveryAction::kStale, "", info.last_event_us,
               "no event since " + FormatTimeUs(info.last_event_us) +
                   ": check it before resuming (" + state.PositionSummary() + ")");
  }
  return std::nullopt;
}

bool TurnOpen(const RunState& state) {
  const RunState::Turn* turn = state.CurrentTurn();
  return turn != nullptr && turn->ended_sequence == 0;
}

// What holds the whole run up before its next step can be decided: a step
// in doubt, the run's deadline, a pause.
std::optional<RecoveryItem> RunHeldUp(const RecoveryItem& item, const RunState& state, int64_t now) {
  // A step in doubt comes first: until its outcome is settled, nothing else
  // about the run can be decided safely.
  if (const RunState::PlanItem* next = TurnOpen(state) ? NextStep(state) : nullptr;
      next != nullptr && next->status == RunState::StepStatus::kRunning) {
    const StepOutcome where = EvaluateStep(state, *next, now);
    return Due(item, RecoveryAction::kInDoubt, next->id, 0, where.detail);
  }
  if (state.run_deadline_at_us != 0 && now >= state.run_deadline_at_us) {
    return Due(item, RecoveryAction::kDeadlinePassed, "", state.run_deadline_at_us,
               "the run's deadline passed at " + FormatTimeUs(state.run_deadline_at_us));
  }
  if (state.status == RunStatus::kPaused) {
    if (state.pause.timeout_at_us != 0 && now >= state.pause.timeout_at_us) {
      return Due(item, RecoveryAction::kPauseTimedOut, "", state.pause.timeout_at_us,
                 "paused for '" + state.pause.trigger + "', timed out at " +
                     FormatTimeUs(state.pause.timeout_at_us));
    }
    return Due(item, RecoveryAction::kPaused, "", state.pause.timeout_at_us,
               "paused until '" + state.pause.trigger + "'" +
                   (state.pause.timeout_at_us == 0
                        ? std::string()
                        : " or " + FormatTimeUs(state.pause.timeout_at_us)));
  }
  return std::nullopt;
}

// With nothing holding the run up: the next thing its turn needs, decided
// by the same step rules a worker applies.
RecoveryItem NextInTurn(const RecoveryItem& item, const RunState& state, int64_t now) {
  if (!TurnOpen(state)) return Due(item, RecoveryAction::kStartTurn, "", 0, "no open turn");
  if (state.plan.empty()) {
    return Due(item, RecoveryAction::kPlan, "", 0, "turn " + state.CurrentTurn()->id + " has no plan");
  }
  const RunState::PlanItem* next = NextStep(state);
  if (next == nullptr) {
    return Due(item, RecoveryAction::kCompleteTurn, "", 0,
               "all " + std::to_string(state.plan.size()) + " steps are done");
  }
  const StepOutcome where = EvaluateStep(state, *next, now);
  const RecoveryAction action = ForStep(where.action);
  std::string detail = where.detail;
  if (action == RecoveryAction::kResumeStep) {
    detail = "resume at step " + std::to_string(next->ordinal) + " (" + next->id + "): " + detail;
  }
  return Due(item, action, next->id, where.at_us, std::move(detail));
}

}  // namespace

Result<RecoveryItem> RuntimeImpl::RecoverRun(const RunInfo& info, int64_t now) {
  Result<RunState> loaded = State(info.run_id);
  if (!loaded.ok()) return loaded.status();
  const RunState& state = *loaded;
  RecoveryItem item;
  item.run_id = info.run_id;
  item.status = info.status;
  item.needs_compensation = StepsNeedingCompensation(state);
  Result<bool> branch = IsCounterfactual(info.run_id, state);
  if (!branch.ok()) return branch.status();
  if (*branch) {
    return Due(item, RecoveryAction::kCounterfactual, "", 0,
               "a what-if branch of " + state.fork.parent_run_id + " at event " +
                   std::to_string(state.fork.fork_sequence) +
                   ": nothing on it runs live (OpenReplay, agentlog state)");
  }
  if (info.status == RunStatus::kFailed) return ForFailedRun(item, state);
  if (std::optional<RecoveryItem> not_ours = NotOursToResume(item, info, state, now, options_)) {
    return *not_ours;
  }
  if (std::optional<RecoveryItem> held = RunHeldUp(item, state, now)) return *held;
  return NextInTurn(item, state, now);
}

Result<std::vector<RecoveryItem>> RuntimeImpl::Recover() {
  const int64_t now = Now();
  std::vector<RecoveryItem> items;
  for (const RunStatus status : kUnfinished) {
    Result<std::vector<RunInfo>> runs = RunsIn(options_.store, status);
    if (!runs.ok()) return runs.status();
    for (const RunInfo& info : *runs) {
      Result<RecoveryItem> item = RecoverRun(info, now);
      if (!item.ok()) return InRun(info.run_id, item.status());
      // A failed run is listed only while a step of it still needs undoing.
      if (item->action == RecoveryAction::kCompensate && item->needs_compensation.empty()) continue;
      items.push_back(std::move(item.value()));
    }
  }
  std::sort(items.begin(), items.end(),
            [](const RecoveryItem& a, const RecoveryItem& b) { return a.run_id < b.run_id; });
  return items;
}

Result<std::vector<ExpiredDeadline>> RuntimeImpl::ExpiredDeadlines(int64_t at_us) {
  std::vector<ExpiredDeadline> expired;
  std::map<std::string, RunState, std::less<>> states;  // read once per run
  std::set<std::pair<std::string, std::string>> seen;
  std::optional<DeadlineEntry> after;
  for (;;) {
    Result<std::vector<DeadlineEntry>> page =
        options_.store->ListDeadlines(at_us, kMaxReadLimit, after ? &*after : nullptr);
    if (!page.ok()) return page.status();
    for (const DeadlineEntry& entry : *page) {
      auto found = states.find(entry.run_id);
      if (found == states.end()) {
        Result<RunState> state = State(entry.run_id);
        if (!state.ok()) return InRun(entry.run_id, state.status());
        found = states.emplace(entry.run_id, std::move(state.value())).first;
      }
      const RunState& state = found->second;
      // The index keeps every DeadlineSet; only the one in force counts.
      if (RunFinished(state.status)) continue;
      bool in_force = false;
      if (entry.step_id.empty()) {
        in_force = state.run_deadline_at_us == entry.deadline_at_us;
      } else {
        const RunState::PlanItem* item = state.FindPlanItem(entry.step_id);
        for (const RunState::StepDeadline& deadline : state.step_deadlines) {
          in_force |= deadline.step_id == entry.step_id &&
                      deadline.deadline_at_us == entry.deadline_at_us;
        }
        // A step of an earlier turn's plan is gone from the state: not open.
        in_force &= item != nullptr && !StepFinished(item->status);
      }
      if (in_force && seen.emplace(entry.run_id, entry.step_id).second) {
        expired.push_back({entry.run_id, entry.step_id, entry.deadline_at_us});
      }
    }
    if (page->size() < kMaxReadLimit) break;
    after = page->back();
  }
  return expired;
}

}  // namespace agentlog::runtime
