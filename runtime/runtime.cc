// runtime/runtime.cc: opening a Runtime, starting, taking over and
// replaying runs, a person's approval answers, and state reads.
#include <functional>

#include "base/crypto.h"
#include "base/names.h"
#include "runtime/runtime_impl.h"
#include "runtime/step_rules.h"

namespace agentlog {

Result<std::unique_ptr<Runtime>> Runtime::Open(const RuntimeOptions& options) {
  if (options.store == nullptr) return Status::InvalidArgument("RuntimeOptions: no store");
  if (options.clock == nullptr) {
    return Status::InvalidArgument("RuntimeOptions: no clock (pass agentlog::SystemClock())");
  }
  // The length first: ValidateName reports an over-long name as
  // LimitExceeded, and a bad worker id is InvalidArgument (runtime.h).
  if (options.worker_id.size() > kMaxIdBytes) {
    return Status::InvalidArgument("RuntimeOptions::worker_id is over " +
                                   std::to_string(kMaxIdBytes) + " bytes");
  }
  if (Status s = internal::ValidateName(options.worker_id, "RuntimeOptions::worker_id"); !s.ok()) {
    return s;
  }
  if (options.lease_ttl_ms == 0) return Status::InvalidArgument("RuntimeOptions::lease_ttl_ms is 0");
  if (options.default_retry.max_attempts == 0) {
    return Status::InvalidArgument("RuntimeOptions::default_retry.max_attempts is 0 (1: no retry)");
  }
  ProjectorOptions projector_options;
  std::unique_ptr<Projector> projector = Projector::Create(options.store, projector_options);
  if (Status s = projector->Register(NewRunStateProjection()); !s.ok()) return s;
  return std::unique_ptr<Runtime>(
      std::make_unique<runtime::RuntimeImpl>(options, std::move(projector)));
}

namespace runtime {

Status WithMessage(const Status& status, std::string message) {
  switch (status.code()) {
    case Code::kNotFound: return Status::NotFound(std::move(message));
    case Code::kConflict: return Status::Conflict(std::move(message));
    case Code::kFenced: return Status::Fenced(std::move(message));
    case Code::kCorruption: return Status::Corruption(std::move(message));
    case Code::kInvalidArgument: return Status::InvalidArgument(std::move(message));
    case Code::kIOError: return Status::IOError(std::move(message));
    case Code::kBusy: return Status::Busy(std::move(message));
    case Code::kLimitExceeded: return Status::LimitExceeded(std::move(message));
    case Code::kClosed: return Status::Closed(std::move(message));
    case Code::kOk: break;
  }
  return Status::OK();
}

Status InRun(std::string_view run_id, const Status& status) {
  if (status.ok()) return Status::OK();
  // The store's messages name the run already ("run \"r\" ...").
  if (status.message().find(std::string(run_id)) != std::string::npos) {
    return WithMessage(status, status.message());
  }
  return WithMessage(status, "run " + std::string(run_id) + ": " + status.message());
}

namespace {

uint64_t Seed(const RuntimeOptions& options) {
  // Two workers with the same seed still draw differently.
  return options.jitter_seed ^ internal::Checksum64(options.worker_id);
}

}  // namespace

namespace {
std::unique_ptr<Projector> LogOnlyProjector(Store* store) {
  ProjectorOptions options;
  options.use_snapshots = false;
  std::unique_ptr<Projector> projector = Projector::Create(store, options);
  // A fresh projector always takes its first projection.
  projector->Register(NewRunStateProjection()).IgnoreError();
  return projector;
}
}  // namespace

RuntimeImpl::RuntimeImpl(const RuntimeOptions& options, std::unique_ptr<Projector> projector)
    : options_(options), projector_(std::move(projector)),
      log_only_projector_(LogOnlyProjector(options.store)), random_(Seed(options)) {}

uint64_t RuntimeImpl::Draw() {
  internal::MutexLock lock(&random_mutex_);
  return random_();
}

RetryPolicy RuntimeImpl::PolicyFor(std::string_view step_id, std::string_view tool) const {
  RetryPolicy policy = options_.retry_policy ? options_.retry_policy(step_id, tool)
                                             : options_.default_retry;
  if (policy.max_attempts == 0) policy.max_attempts = 1;  // a policy never forbids the first try
  return policy;
}

Envelope RuntimeImpl::AgentEnvelope(const RunState& state, std::string_view step_id) const {
  Envelope e;
  e.turn_id = state.current_turn_id;
  e.step_id = std::string(step_id);
  e.actor_kind = ActorKind::kAgent;
  e.actor_id = options_.worker_id;
  return e;
}

Result<std::string> RuntimeImpl::RecordedOutput(const RunState& state,
                                                const RunState::PlanItem& item) {
  if (item.artifact_id.empty()) return item.output;
  const RunState::Artifact* artifact = state.FindArtifact(item.artifact_id);
  if (artifact == nullptr) {
    return Status::Corruption("step " + item.id + "'s output names artifact " + item.artifact_id +
                              ", which the run never stored");
  }
  Result<std::string> content = options_.store->GetBlob(artifact->content_hash);
  if (!content.ok()) return content.status();
  const internal::Hash hash = internal::Sha256(*content);
  if (!item.output_hash.empty() && internal::HashView(hash) != item.output_hash) {
    return Status::Corruption("step " + item.id + "'s output artifact " + item.artifact_id +
                              " does not hash to the recorded output hash");
  }
  return content;
}

Result<std::unique_ptr<RunHandle>> RuntimeImpl::StartRun(std::string_view run_id,
                                                         const RunSpec& spec) {
  if (spec.deadline_at_us < 0) return Status::InvalidArgument("RunSpec: negative deadline");
  const RunState empty;
  Envelope e = AgentEnvelope(empty, "");
  e.actor_kind = ActorKind::kSystem;
  std::vector<EventInput> events{LeaseAcquiredEvent(e, options_.worker_id, 1, options_.lease_ttl_ms)};
  if (spec.max_steps != 0 || spec.max_tokens != 0 || spec.max_wall_time_ms != 0) {
    events.push_back(BudgetSetEvent(AgentEnvelope(empty, ""), spec.max_steps, spec.max_tokens,
                                    spec.max_wall_time_ms));
  }
  if (spec.deadline_at_us != 0) {
    events.push_back(DeadlineSetEvent(AgentEnvelope(empty, ""), spec.deadline_at_us, ""));
  }
  AppendOptions append;
  append.durability = options_.durability;
  append.expected_head = 0;
  append.session_id = spec.session_id;
  Result<AppendResult> appended = projector_->Append(run_id, events, append);
  if (!appended.ok()) {
    if (appended.status().IsConflict()) {
      return Status::Conflict("StartRun: run " + std::string(run_id) +
                              " exists; take it over with Resume");
    }
    return InRun(run_id, appended.status());
  }
  return HandleAtHead(run_id, 1);
}

Result<std::unique_ptr<RunHandle>> RuntimeImpl::HandleAtHead(std::string_view run_id,
                                                             uint64_t epoch) {
  Result<RunInfo> info = options_.store->GetRun(run_id);
  if (!info.ok()) return info.status();
  Result<std::unique_ptr<ProjectionState>> state = LogBackedStateAt(run_id, info->head_sequence);
  if (!state.ok()) return InRun(run_id, state.status());
  // The handle refreshes from the log before each call, so events appended
  // after this read are folded in then.
  return NewRunHandle(this, std::string(run_id), epoch, false, std::move(state.value()), *info);
}

Result<std::unique_ptr<RunHandle>> RuntimeImpl::Resume(std::string_view run_id,
                                                       const ResumeOptions& options) {
  Result<RunInfo> info = options_.store->GetRun(run_id);
  if (!info.ok()) return info.status();
  Result<RunState> state = State(run_id);
  if (!state.ok()) return state.status();
  if (Result<bool> branch = IsCounterfactual(run_id, *state); !branch.ok() || *branch) {
    if (!branch.ok()) return branch.status();
    return Status::InvalidArgument("Resume: run " + std::string(run_id) +
                                   " is a counterfactual branch: nothing on it runs live "
                                   "(OpenReplay reads it)");
  }
  const int64_t now = Now();
  int64_t expires = 0;
  if (LeaseLive(*state, info->last_event_us, now, &expires) &&
      state->lease.holder != options_.worker_id) {
    return Status::Busy("Resume: run " + std::string(run_id) + " is leased by " +
                        state->lease.holder + " (epoch " + std::to_string(state->lease.epoch) +
                        ") until " + FormatTimeUs(expires) + "; try after that");
  }
  if (!options.allow_stale && now - info->last_event_us > options_.stale_after_us) {
    return Status::InvalidArgument(
        "Resume: run " + std::string(run_id) + " has had no event since " +
        FormatTimeUs(info->last_event_us) + ", longer than stale_after_us; check what it was doing "
        "(Recover, agentlog state) and resume it with ResumeOptions::allow_stale");
  }
  const uint64_t epoch = info->lease_epoch + 1;
  Envelope e = AgentEnvelope(*state, "");
  e.actor_kind = ActorKind::kSystem;
  AppendOptions append;
  append.durability = options_.durability;
  append.expected_head = info->head_sequence;
  const EventInput lease = LeaseAcquiredEvent(e, options_.worker_id, epoch, options_.lease_ttl_ms);
  Result<AppendResult> appended = projector_->Append(run_id, std::span(&lease, 1), append);
  if (!appended.ok()) {
    if (appended.status().IsConflict()) {
      return Status::Conflict("Resume: run " + std::string(run_id) +
                              " moved while taking it over (another worker?): " +
                              appended.status().message());
    }
    return InRun(run_id, appended.status());
  }
  return HandleAtHead(run_id, epoch);
}

Result<std::unique_ptr<RunHandle>> RuntimeImpl::OpenReplay(std::string_view run_id,
                                                           uint64_t at_sequence) {
  Result<RunInfo> info = options_.store->GetRun(run_id);
  if (!info.ok()) return info.status();
  const uint64_t at = std::min(at_sequence, info->head_sequence);
  Result<std::unique_ptr<ProjectionState>> state = LogBackedStateAt(run_id, at);
  if (!state.ok()) return InRun(run_id, state.status());
  return NewRunHandle(this, std::string(run_id), 0, true, std::move(state.value()), *info);
}

Status RuntimeImpl::Answer(std::string_view run_id, std::string_view step_id, std::string_view by,
                           const std::function<EventInput(const Envelope&)>& make) {
  if (by.empty()) return Status::InvalidArgument("an approval answer must say who gave it");
  if (by.size() > kMaxIdBytes) {
    return Status::InvalidArgument("approver id is over " + std::to_string(kMaxIdBytes) + " bytes");
  }
  // A worker may append between our read and our write: the expected head
  // catches it, and the checks run again on the new state.
  constexpr int kAttempts = 8;
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    Result<RunState> state = State(run_id);
    if (!state.ok()) return state.status();
    const RunState::Approval* approval = CurrentRequest(*state, step_id);
    if (approval == nullptr || approval->requested_sequence == 0) {
      return Status::NotFound("run " + std::string(run_id) + " has no approval request for step " +
                              std::string(step_id) + " in its current turn and plan");
    }
    if (approval->decision != RunState::ApprovalDecision::kPending) {
      return Status::InvalidArgument(
          "the approval request for step " + std::string(step_id) + " of run " +
          std::string(run_id) + " was already " +
          std::string(ApprovalDecisionName(approval->decision)) + " by " + approval->decided_by);
    }
    // A step that already ran (on a for_run grant) or stopped must not be
    // moved back to approved or denied by a late answer.
    const RunState::PlanItem* item = state->FindPlanItem(step_id);
    if (item != nullptr && item->status != RunState::StepStatus::kAwaitingApproval) {
      return Status::InvalidArgument("step " + std::string(step_id) + " of run " +
                                     std::string(run_id) + " is " +
                                     std::string(StepStatusName(item->status)) +
                                     "; its approval request no longer needs an answer");
    }
    if (approval->expires_at_us != 0 && Now() >= approval->expires_at_us) {
      return Status::InvalidArgument("the approval request for step " + std::string(step_id) +
                                     " of run " + std::string(run_id) + " expired at " +
                                     FormatTimeUs(approval->expires_at_us) +
                                     "; the agent must request it again");
    }
    Envelope e = AgentEnvelope(*state, step_id);
    e.actor_kind = ActorKind::kUser;
    e.actor_id = std::string(by);
    e.causation = approval->requested_sequence;
    const EventInput event = make(e);
    AppendOptions append;
    append.durability = options_.durability;
    append.expected_head = state->last_sequence;
    Result<AppendResult> appended = projector_->Append(run_id, std::span(&event, 1), append);
    if (appended.ok()) return Status::OK();
    if (!appended.status().IsConflict()) return InRun(run_id, appended.status());
  }
  return Status::Busy("run " + std::string(run_id) + " kept moving while recording the answer; "
                      "try again");
}

Status RuntimeImpl::Grant(std::string_view run_id, std::string_view step_id, std::string_view by,
                          fb::ApprovalScope scope, std::string_view edited_arguments_json) {
  if (scope != fb::ApprovalScope_Once && scope != fb::ApprovalScope_ForRun) {
    return Status::InvalidArgument("Grant: unknown scope " + ApprovalScopeName(scope));
  }
  return Answer(run_id, step_id, by, [&](const Envelope& e) {
    return ApprovalGrantedEvent(e, by, scope, edited_arguments_json);
  });
}

Status RuntimeImpl::Deny(std::string_view run_id, std::string_view step_id, std::string_view by,
                         std::string_view reason) {
  return Answer(run_id, step_id, by,
                [&](const Envelope& e) { return ApprovalDeniedEvent(e, by, reason); });
}

Result<bool> RuntimeImpl::IsCounterfactual(std::string_view run_id, const RunState& state) {
  if (state.fork.sequence == 0) return false;
  // Its own RunForked names who made it.
  ReadOptions read;
  read.from_sequence = state.fork.sequence;
  read.to_sequence = state.fork.sequence;
  read.limit = 1;
  Result<std::vector<Event>> forked = options_.store->ReadRun(run_id, read);
  if (!forked.ok()) return forked.status();
  return !forked->empty() && forked->front().actor_id() == kCounterfactualActor;
}

Result<RunState> RuntimeImpl::State(std::string_view run_id) {
  Result<RunInfo> info = options_.store->GetRun(run_id);
  if (!info.ok()) return info.status();
  return StateAt(run_id, info->head_sequence);
}

Result<RunState> RuntimeImpl::StateAt(std::string_view run_id, uint64_t sequence) {
  Result<std::unique_ptr<ProjectionState>> state = LogBackedStateAt(run_id, sequence);
  if (!state.ok()) return state.status();
  return AsRunState(**state);
}

Result<std::string> RuntimeImpl::ReadArtifact(std::string_view run_id,
                                              std::string_view artifact_id) {
  Result<RunState> state = State(run_id);
  if (!state.ok()) return state.status();
  const RunState::Artifact* artifact = state->FindArtifact(artifact_id);
  if (artifact == nullptr) {
    return Status::NotFound("run " + std::string(run_id) + " has no artifact " +
                            std::string(artifact_id));
  }
  Result<std::string> content = options_.store->GetBlob(artifact->content_hash);
  if (!content.ok()) return InRun(run_id, content.status());
  return content;
}

Result<std::vector<FieldChange>> RuntimeImpl::Compare(std::string_view run_a,
                                                      std::string_view run_b) {
  Result<RunInfo> info_a = options_.store->GetRun(run_a);
  if (!info_a.ok()) return info_a.status();
  Result<RunInfo> info_b = options_.store->GetRun(run_b);
  if (!info_b.ok()) return info_b.status();
  Result<std::unique_ptr<ProjectionState>> a = LogBackedStateAt(run_a, info_a->head_sequence);
  if (!a.ok()) return a.status();
  Result<std::unique_ptr<ProjectionState>> b = LogBackedStateAt(run_b, info_b->head_sequence);
  if (!b.ok()) return b.status();
  return Diff(**a, **b);
}

}  // namespace runtime
}  // namespace agentlog
