// engine/run_fold.cc: see run_fold.h.
#include "engine/run_fold.h"

#include "engine/record_codec.h"

namespace agentlog {

// The status an event of `type` moves its run to (agentlog/store.h), or
// nullopt if it leaves the status alone. A fixed table: the runs index must
// mean the same in every version. Projections compute the full state; this
// table only feeds the runs index and ListRuns.
std::optional<RunStatus> StatusAfterEvent(EventType type) {
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


namespace internal {

EventFacts FactsOf(EventType type, const fb::Event* body) {
  EventFacts facts;
  facts.type = type;
  facts.payload_present = body != nullptr;
  if (body == nullptr) return facts;
  if (const auto* acquired = body->body_as_LeaseAcquired()) {
    facts.lease_epoch = acquired->epoch();
    facts.lease_holder = std::string(StringOf(acquired->holder()));
  } else if (const auto* released = body->body_as_LeaseReleased()) {
    facts.lease_epoch = released->epoch();
    facts.lease_holder = std::string(StringOf(released->holder()));
  } else if (const auto* deadline = body->body_as_DeadlineSet()) {
    facts.deadline_at_us = deadline->deadline_at_us();
    facts.deadline_step_id = std::string(StringOf(deadline->scope_step_id()));
  }
  return facts;
}

RunFold FoldOf(const RunInfo& run) {
  RunFold fold;
  fold.status = run.status;
  fold.lease_epoch = run.lease_epoch;
  fold.lease_holder = run.lease_holder;
  fold.lease_acquisitions = run.lease_epoch;  // epochs are taken one by one from 1
  fold.created_us = run.created_us;
  fold.last_event_us = run.last_event_us;
  return fold;
}

void ApplyFold(const RunFold& fold, RunInfo* run) {
  run->status = fold.status;
  run->lease_epoch = fold.lease_epoch;
  run->lease_holder = fold.lease_holder;
  run->created_us = fold.created_us;
  run->last_event_us = fold.last_event_us;
}

Status CheckLeaseRules(const RunFold& fold, const EventFacts& facts, std::string_view run_id) {
  if (facts.type == fb::Body_LeaseAcquired) {
    if (facts.lease_epoch <= fold.lease_epoch) {
      return Status::Fenced(RunName(run_id) + ": lease epoch " + std::to_string(facts.lease_epoch) +
                            " was already taken (current epoch " + std::to_string(fold.lease_epoch) + ")");
    }
    if (facts.lease_epoch != fold.lease_epoch + 1) {
      return Status::InvalidArgument(RunName(run_id) + ": LeaseAcquired epoch " +
                                     std::to_string(facts.lease_epoch) + " skips epochs; the next is " +
                                     std::to_string(fold.lease_epoch + 1));
    }
  } else if (facts.type == fb::Body_LeaseReleased) {
    if (fold.lease_holder.empty()) {
      return Status::InvalidArgument(RunName(run_id) + ": LeaseReleased, but no lease is held" +
                                     (fold.lease_epoch == 0 ? std::string()
                                                            : " (epoch " + std::to_string(fold.lease_epoch) +
                                                                  " was already released)"));
    }
    if (facts.lease_epoch != fold.lease_epoch || facts.lease_holder != fold.lease_holder) {
      return Status::Fenced(RunName(run_id) + ": LeaseReleased for epoch " +
                            std::to_string(facts.lease_epoch) + " by \"" + facts.lease_holder +
                            "\", but the lease is epoch " + std::to_string(fold.lease_epoch) + " held by \"" +
                            fold.lease_holder + "\"");
    }
  }
  return Status::OK();
}

namespace {

void FoldLease(const EventFacts& facts, RunFold* fold) {
  const bool acquired = facts.type == fb::Body_LeaseAcquired;
  if (acquired) ++fold->lease_acquisitions;
  fold->lease_known = facts.payload_present;
  if (!facts.payload_present) {
    fold->lease_epoch = fold->lease_acquisitions;
    fold->lease_holder.clear();
    return;
  }
  fold->lease_epoch = facts.lease_epoch;
  if (acquired) {
    fold->lease_holder = facts.lease_holder;
  } else {
    fold->lease_holder.clear();
  }
}

}  // namespace

void FoldEvent(const EventFacts& facts, int64_t timestamp_us, bool creates_run, RunFold* fold) {
  if (creates_run) fold->created_us = timestamp_us;
  fold->last_event_us = timestamp_us;
  if (auto next = StatusAfterEvent(facts.type)) fold->status = *next;
  if (facts.type == fb::Body_LeaseAcquired || facts.type == fb::Body_LeaseReleased) {
    FoldLease(facts, fold);
  } else if (facts.type == fb::Body_RunForked) {
    // A fork starts unleased (record_format.md, "Forks"): whoever held the
    // parent does not hold the fork; the epoch carries over, so the
    // parent's epochs stay fenced on it.
    fold->lease_holder.clear();
  }
}

bool IndexesDeadline(const EventFacts& facts) {
  return facts.type == fb::Body_DeadlineSet && facts.deadline_at_us != 0;
}

}  // namespace internal
}  // namespace agentlog
