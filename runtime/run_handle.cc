// runtime/run_handle.cc: one worker's hold on one run (or a replay's view).
//
// Every call runs through Attempt(): its checks run against the handle's
// state, and its one write goes through Write(), which carries the lease
// epoch (so a worker that was taken over is Fenced and writes nothing) and
// the head the state is as of (so a write checked against an old state --
// a person's grant came in meanwhile -- is refused with Conflict, and
// Attempt folds the new events and checks again). The projector folds the
// appended events into the handle's state as it reads them back, once; a
// refused call writes nothing.
#include <algorithm>
#include <set>

#include "base/assert.h"
#include "base/crypto.h"
#include "runtime/runtime_impl.h"
#include "runtime/step_rules.h"

namespace agentlog::runtime {
namespace {

using S = RunState::StepStatus;

// Calls Attempt runs again after other writers moved the run's head.
constexpr int kMaxAttempts = 100;

class RunHandleImpl final : public RunHandle {
 public:
  RunHandleImpl(RuntimeImpl* runtime, std::string run_id, uint64_t epoch, bool replay,
                std::unique_ptr<ProjectionState> state, const RunInfo& info)
      : runtime_(runtime),
        run_id_(std::move(run_id)),
        epoch_(epoch),
        replay_(replay),
        projection_(NewRunStateProjection()),
        state_(std::move(state)),
        created_us_(info.created_us),
        session_id_(info.session_id) {}

  const std::string& run_id() const override { return run_id_; }
  uint64_t lease_epoch() const override { return epoch_; }
  bool replay() const override { return replay_; }
  const RunState& state() const override { return AsRunState(*state_); }

  Status StartTurn(std::string_view turn_id, std::string_view message_text,
                   std::string_view normalized_command) override {
    return Attempt([&]() -> Status {
      if (Status s = Prepare("StartTurn"); !s.ok()) return s;
      if (turn_id.empty()) return Status::InvalidArgument("StartTurn: empty turn id");
      if (state().FindTurn(turn_id) != nullptr) {
        return Status::InvalidArgument("StartTurn: run " + run_id_ + " already has turn " +
                                       std::string(turn_id));
      }
      if (const RunState::Turn* open = OpenTurn(); open != nullptr) {
        return Status::InvalidArgument("StartTurn: turn " + open->id + " of run " + run_id_ +
                                       " is still open; complete or fail it first");
      }
      // The next turn's plan replaces this one: what still needs undoing
      // would drop out of sight.
      if (const std::vector<std::string> owed = StepsNeedingCompensation(state()); !owed.empty()) {
        return Status::InvalidArgument("StartTurn: step " + owed.front() + " of turn " +
                                       state().current_turn_id + " of run " + run_id_ +
                                       " failed after its effect may have happened; "
                                       "RecordCompensation first");
      }
      Envelope e = Agent("");  // the agent records what the user asked
      e.turn_id = std::string(turn_id);
      return Write({TurnStartedEvent(e, message_text, normalized_command, session_id_)});
    });
  }

  Status Plan(std::span<const StepSpec> steps) override {
    return Attempt([&]() -> Status {
      if (Status s = Prepare("Plan"); !s.ok()) return s;
      if (Status s = CheckPlan("Plan", steps); !s.ok()) return s;
      if (!state().plan.empty()) {
        return Status::InvalidArgument("Plan: turn " + state().current_turn_id +
                                       " already has a plan; use RevisePlan");
      }
      const Envelope e = Agent("");
      std::vector<EventInput> events{TurnPlannedEvent(e, static_cast<uint32_t>(steps.size()))};
      uint32_t ordinal = 0;
      for (const StepSpec& step : steps) {
        events.push_back(PlanItemAddedEvent(Agent(step.id), step, ++ordinal));
      }
      return Write(std::move(events));
    });
  }

  Status RevisePlan(std::string_view reason, std::span<const StepSpec> steps) override {
    return Attempt([&]() -> Status {
      if (Status s = Prepare("RevisePlan"); !s.ok()) return s;
      if (Status s = CheckPlan("RevisePlan", steps); !s.ok()) return s;
      if (reason.empty()) return Status::InvalidArgument("RevisePlan: give the reason for the change");
      return Write({PlanRevisedEvent(Agent(""), reason, steps)});
    });
  }

  Status CompleteTurn(std::string_view output_text) override {
    return Attempt([&]() -> Status {
      if (Status s = Prepare("CompleteTurn"); !s.ok()) return s;
      if (OpenTurn() == nullptr) return NoOpenTurn("CompleteTurn");
      if (Status s = NoneRunning("CompleteTurn"); !s.ok()) return s;
      return Write({TurnCompletedEvent(Agent(""), output_text)});
    });
  }

  Status FailTurn(std::string_view error) override {
    return Attempt([&]() -> Status {
      if (Status s = Prepare("FailTurn"); !s.ok()) return s;
      if (OpenTurn() == nullptr) return NoOpenTurn("FailTurn");
      if (error.empty()) return Status::InvalidArgument("FailTurn: give the error");
      if (Status s = NoneRunning("FailTurn"); !s.ok()) return s;
      return Write({TurnFailedEvent(Agent(""), error)});
    });
  }

  Result<StepOutcome> BeginStep(std::string_view step_id) override {
    return Attempt([&]() -> Result<StepOutcome> {
      const RunState::PlanItem* item = state().FindPlanItem(step_id);
      if (item == nullptr || !item->planned) {
        return Status::NotFound("run " + run_id_ + " has no step " + std::string(step_id) +
                                " in its current plan");
      }
      const int64_t now = replay_ ? state().last_timestamp_us : runtime_->Now();
      StepOutcome out = EvaluateStep(state(), *item, now);
      out.call.run_id = run_id_;
      if (out.action == StepAction::kCompleted) {
        Result<std::string> output = runtime_->RecordedOutput(state(), *item);
        if (!output.ok()) return output.status();
        out.output = std::move(output.value());
        return out;
      }
      // An in-doubt answer tells the caller to call the tool without a write
      // that the store would fence: check the lease here, or a worker that
      // was taken over would call the tool alongside the new holder.
      if (out.action == StepAction::kInDoubt && !replay_) {
        if (Status s = CheckLease("BeginStep"); !s.ok()) return s;
      }
      if (out.action != StepAction::kRun) return out;
      if (replay_) {
        return Status::NotFound("replay of run " + run_id_ + " at event " +
                                std::to_string(state().last_sequence) + ": step " + item->id +
                                " has no recorded outcome (it would start attempt " +
                                std::to_string(out.call.attempt) +
                                "); a replay serves outputs from the log and never calls a tool");
      }
      if (OpenTurn() == nullptr) return NoOpenTurn("BeginStep");
      if (Status s = BudgetError(state(), created_us_, now); !s.ok()) return InRun(run_id_, s);
      out.call.idempotency_key = StepIdempotencyKey(run_id_, state().current_turn_id, item->id,
                                                    item->tool, out.call.arguments_json);
      Envelope e = Agent(item->id);
      // The step's cost first: ToolStarted ends the append, so a fork at a
      // ToolStarted (Counterfactual) keeps the whole append.
      std::vector<EventInput> events;
      if (state().budget.max_steps != 0 || state().budget.max_wall_time_ms != 0 ||
          state().budget.max_tokens != 0) {
        events.push_back(BudgetConsumedEvent(e, 1, 0, 0));
      }
      events.push_back(ToolStartedEvent(e, item->tool, out.call.arguments_json,
                                        out.call.idempotency_key, out.call.attempt));
      if (Status s = Write(std::move(events)); !s.ok()) return s;
      return out;
    });
  }

  Result<StepOutcome> RunStep(std::string_view step_id, const Tool& tool) override {
    Result<StepOutcome> begun = BeginStep(step_id);
    if (!begun.ok()) return begun;
    StepOutcome out = std::move(begun.value());
    if (replay_ || (out.action != StepAction::kRun && out.action != StepAction::kInDoubt)) {
      return out;
    }
    out.in_doubt = out.action == StepAction::kInDoubt;
    const ToolResult result = tool(out.call);
    out.tool_called = true;
    if (result.ok) {
      if (Status s = CompleteStep(step_id, result.output); !s.ok()) return s;
      out.action = StepAction::kCompleted;
      out.output = result.output;
      out.detail = "step " + std::string(step_id) + " completed in attempt " +
                   std::to_string(out.call.attempt);
      return out;
    }
    Result<FailureOutcome> failed = FailStep(step_id, result.error, result.retryable);
    if (!failed.ok()) return failed.status();
    if (failed->retry_scheduled) {
      out.action = StepAction::kRetryLater;
      out.at_us = failed->not_before_us;
      out.detail = "attempt " + std::to_string(out.call.attempt) + " failed (" + result.error +
                   "); attempt " + std::to_string(failed->next_attempt) + " not before " +
                   FormatTimeUs(out.at_us);
    } else {
      out.action = StepAction::kFailed;
      out.detail = state().failure.error;
    }
    return out;
  }

  Status ReportProgress(std::string_view step_id, uint64_t done, uint64_t total,
                        std::string_view message) override {
    return Attempt([&]() -> Status {
      Result<const RunState::PlanItem*> item = RunningStep("ReportProgress", step_id);
      if (!item.ok()) return item.status();
      return Write({ToolProgressEvent(ToolEnvelope(**item), done, total, message)});
    });
  }

  Status CompleteStep(std::string_view step_id, std::string_view output) override {
    return Attempt([&]() -> Status {
      Result<const RunState::PlanItem*> running = RunningStep("CompleteStep", step_id);
      if (!running.ok()) return running.status();
      const RunState::PlanItem& item = **running;
      const internal::Hash hash = internal::Sha256(output);
      const std::string_view hash_bytes = internal::HashView(hash);
      const Envelope e = ToolEnvelope(item);
      if (output.size() <= runtime_->options().artifact_threshold_bytes) {
        return Write({ToolCompletedEvent(e, output, "", hash_bytes)});
      }
      // Large output: the blob first (a crash after it leaves an unreferenced
      // blob, never a reference to nothing), then both events in one append.
      Result<std::string> stored = runtime_->store()->PutBlob(output, runtime_->options().durability);
      if (!stored.ok()) return InRun(run_id_, stored.status());
      std::string artifact_id = "output:" + state().current_turn_id + ":" + item.id + ":" +
                                std::to_string(item.attempts);
      if (state().FindArtifact(artifact_id) != nullptr) {  // taken by a StoreArtifact
        artifact_id += ":" + std::to_string(state().last_sequence + 1);
      }
      return Write({ArtifactStoredEvent(e, artifact_id, "application/octet-stream",
                                        "output of step " + item.id + " (" + item.tool + ")",
                                        output.size(), hash_bytes),
                    ToolCompletedEvent(e, "", artifact_id, hash_bytes)});
    });
  }

  Result<FailureOutcome> FailStep(std::string_view step_id, std::string_view error,
                                  bool retryable) override {
    return Attempt([&]() -> Result<FailureOutcome> {
      Result<const RunState::PlanItem*> running = RunningStep("FailStep", step_id);
      if (!running.ok()) return running.status();
      const RunState::PlanItem& item = **running;
      if (error.empty()) return Status::InvalidArgument("FailStep: give the error");
      const RetryPolicy policy = runtime_->PolicyFor(item.id, item.tool);
      const Envelope e = ToolEnvelope(item);
      FailureOutcome outcome;
      std::vector<EventInput> events{ToolFailedEvent(e, error, retryable, item.attempts)};
      if (retryable && item.attempts < policy.max_attempts) {
        outcome.retry_scheduled = true;
        outcome.next_attempt = item.attempts + 1;
        outcome.backoff_ms = RetryBackoffMs(policy, item.attempts, runtime_->Draw());
        outcome.not_before_us =
            runtime_->Now() + static_cast<int64_t>(std::min<uint64_t>(outcome.backoff_ms, INT64_MAX / 4000)) * 1000;
        events.push_back(RetryScheduledEvent(Agent(item.id), outcome.next_attempt, outcome.backoff_ms,
                                             outcome.not_before_us));
      } else {
        outcome.turn_failed = true;
        const std::string why = retryable ? "retries exhausted after " +
                                                std::to_string(item.attempts) + " of " +
                                                std::to_string(policy.max_attempts) + " attempts"
                                          : "not retryable, attempt " + std::to_string(item.attempts);
        // The step's id in the envelope: TurnFailed replaces the failure
        // context, which keeps the step's tool and arguments only then.
        events.push_back(TurnFailedEvent(Agent(item.id), "step " + item.id + " (" + item.tool +
                                                             ") failed: " + std::string(error) +
                                                             " (" + why + ")"));
      }
      if (Status s = Write(std::move(events)); !s.ok()) return s;
      return outcome;
    });
  }

  Status RequestApproval(std::string_view step_id, std::string_view request,
                         int64_t expires_at_us) override {
    return Attempt([&]() -> Status {
      if (Status s = Prepare("RequestApproval"); !s.ok()) return s;
      if (OpenTurn() == nullptr) return NoOpenTurn("RequestApproval");
      const RunState::PlanItem* item = state().FindPlanItem(step_id);
      if (item == nullptr) return NoStep("RequestApproval", step_id);
      if (item->confirmation == fb::ConfirmationMode_SafeReadonly) {
        return Status::InvalidArgument("RequestApproval: step " + item->id +
                                       " is safe_readonly and needs no approval");
      }
      const StepOutcome where = EvaluateStep(state(), *item, runtime_->Now());
      if (where.action != StepAction::kNeedsApproval && where.action != StepAction::kApprovalExpired) {
        return Status::InvalidArgument("RequestApproval: step " + item->id + " needs no new request (" +
                                       std::string(StepActionName(where.action)) + ": " + where.detail + ")");
      }
      if (expires_at_us != 0 && expires_at_us <= runtime_->Now()) {
        return Status::InvalidArgument("RequestApproval: expiry " + FormatTimeUs(expires_at_us) +
                                       " is not in the future");
      }
      return Write({ApprovalRequestedEvent(Agent(item->id), item->confirmation, request, expires_at_us)});
    });
  }

  Result<std::string> RecordCompensation(std::string_view step_id, std::string_view tool,
                                         std::string_view arguments_json) override {
    return Attempt([&]() -> Result<std::string> {
      if (Status s = Prepare("RecordCompensation"); !s.ok()) return s;
      const RunState::PlanItem* item = state().FindPlanItem(step_id);
      if (item == nullptr) return NoStep("RecordCompensation", step_id);
      if (item->attempts == 0) {
        return Status::InvalidArgument("RecordCompensation: step " + item->id +
                                       " never started; there is no effect to undo");
      }
      if (tool.empty()) return Status::InvalidArgument("RecordCompensation: no tool");
      std::string key = CompensationIdempotencyKey(run_id_, state().current_turn_id, item->id, tool,
                                                   arguments_json);
      if (Status s = Write({CompensationRecordedEvent(Agent(item->id), item->id, tool, arguments_json, key)});
          !s.ok()) {
        return s;
      }
      return key;
    });
  }

  Status RecordDecision(const DecisionSpec& decision) override {
    return Attempt([&]() -> Status {
      if (Status s = Prepare("RecordDecision"); !s.ok()) return s;
      if (decision.choice.empty()) return Status::InvalidArgument("RecordDecision: no choice");
      for (const std::string& key : decision.fact_keys) {
        if (state().FindFact(key) == nullptr) {
          return Status::InvalidArgument("RecordDecision: the decision rests on fact '" + key +
                                         "', which run " + run_id_ + " does not hold; AddFact it first");
        }
      }
      return Write({DecisionRecordedEvent(Agent(""), decision)});
    });
  }

  Status AddFact(std::string_view key, std::string_view value, std::string_view source) override {
    return Attempt([&]() -> Status {
      if (Status s = Prepare("AddFact"); !s.ok()) return s;
      if (key.empty()) return Status::InvalidArgument("AddFact: empty key");
      return Write({FactAddedEvent(Agent(""), key, value, source)});
    });
  }

  Status OpenQuestion(std::string_view question_id, std::string_view text) override {
    return Attempt([&]() -> Status {
      if (Status s = Prepare("OpenQuestion"); !s.ok()) return s;
      if (question_id.empty()) return Status::InvalidArgument("OpenQuestion: empty id");
      if (state().FindQuestion(question_id) != nullptr) {
        return Status::InvalidArgument("OpenQuestion: question " + std::string(question_id) +
                                       " exists");
      }
      return Write({QuestionOpenedEvent(Agent(""), question_id, text)});
    });
  }

  Status ResolveQuestion(std::string_view question_id, std::string_view answer) override {
    return Attempt([&]() -> Status {
      if (Status s = Prepare("ResolveQuestion"); !s.ok()) return s;
      const RunState::Question* question = state().FindQuestion(question_id);
      if (question == nullptr) {
        return Status::NotFound("ResolveQuestion: run " + run_id_ + " has no question " +
                                std::string(question_id));
      }
      if (!question->open) {
        return Status::InvalidArgument("ResolveQuestion: question " + question->id +
                                       " is already resolved");
      }
      return Write({QuestionResolvedEvent(Agent(""), question_id, answer)});
    });
  }

  Status StoreArtifact(std::string_view artifact_id, std::string_view media_type,
                       std::string_view summary, std::string_view content) override {
    return Attempt([&]() -> Status {
      if (Status s = Prepare("StoreArtifact"); !s.ok()) return s;
      if (artifact_id.empty()) return Status::InvalidArgument("StoreArtifact: empty id");
      if (state().FindArtifact(artifact_id) != nullptr) {
        return Status::InvalidArgument("StoreArtifact: artifact " + std::string(artifact_id) +
                                       " exists in run " + run_id_);
      }
      Result<std::string> hash = runtime_->store()->PutBlob(content, runtime_->options().durability);
      if (!hash.ok()) return InRun(run_id_, hash.status());
      return Write({ArtifactStoredEvent(Agent(""), artifact_id, media_type, summary, content.size(),
                                        *hash)});
    });
  }

  Status AppendMessage(std::string_view role, std::string_view text) override {
    return Attempt([&]() -> Status {
      if (Status s = Prepare("AppendMessage"); !s.ok()) return s;
      if (role.empty()) return Status::InvalidArgument("AppendMessage: empty role");
      Envelope e = Agent("");
      if (role == "user") e.actor_kind = ActorKind::kUser;
      return Write({MessageAppendedEvent(e, role, text)});
    });
  }

  Status CompactConversation(std::string_view summary, uint64_t first_sequence,
                             uint64_t last_sequence) override {
    return Attempt([&]() -> Status {
      if (Status s = Prepare("CompactConversation"); !s.ok()) return s;
      if (first_sequence == 0 || last_sequence < first_sequence ||
          last_sequence > state().last_sequence) {
        return Status::InvalidArgument("CompactConversation: range " + std::to_string(first_sequence) +
                                       ".." + std::to_string(last_sequence) +
                                       " is not within the run's events 1.." +
                                       std::to_string(state().last_sequence));
      }
      return Write({ConversationCompactedEvent(Agent(""), summary, first_sequence, last_sequence)});
    });
  }

  Status ConsumeTokens(uint64_t tokens) override {
    return Attempt([&]() -> Status {
      if (Status s = Prepare("ConsumeTokens"); !s.ok()) return s;
      return Write({BudgetConsumedEvent(Agent(""), 0, tokens, 0)});
    });
  }

  Status SetDeadline(int64_t deadline_at_us, std::string_view step_id) override {
    return Attempt([&]() -> Status {
      if (Status s = Prepare("SetDeadline"); !s.ok()) return s;
      if (deadline_at_us < 0) return Status::InvalidArgument("SetDeadline: negative time");
      if (!step_id.empty() && state().FindPlanItem(step_id) == nullptr) return NoStep("SetDeadline", step_id);
      return Write({DeadlineSetEvent(Agent(step_id), deadline_at_us, step_id)});
    });
  }

  Status Pause(std::string_view resume_trigger, int64_t timeout_at_us) override {
    return Attempt([&]() -> Status {
      if (Status s = Prepare("Pause"); !s.ok()) return s;
      if (resume_trigger.empty()) return Status::InvalidArgument("Pause: say what resumes the run");
      if (state().status == RunStatus::kPaused) return Status::InvalidArgument("Pause: already paused");
      return Write({RunPausedEvent(Agent(""), resume_trigger, timeout_at_us)});
    });
  }

  Status Resume(std::string_view reason) override {
    return Attempt([&]() -> Status {
      if (Status s = Prepare("Resume"); !s.ok()) return s;
      if (state().status != RunStatus::kPaused) {
        return Status::InvalidArgument("Resume: run " + run_id_ + " is " +
                                       std::string(RunStatusName(state().status)) + ", not paused");
      }
      return Write({RunResumedEvent(Agent(""), reason)});
    });
  }

  Status MarkCheckpoint(std::string_view label) override {
    return Attempt([&]() -> Status {
      if (Status s = Prepare("MarkCheckpoint"); !s.ok()) return s;
      return Write({CheckpointMarkedEvent(Agent(""), label)});
    });
  }

  Status Release() override {
    return Attempt([&]() -> Status {
      if (Status s = Prepare("Release"); !s.ok()) return s;
      Envelope e = Agent("");
      e.actor_kind = ActorKind::kSystem;
      return Write({LeaseReleasedEvent(e, runtime_->options().worker_id, epoch_)});
    });
  }

 private:
  // Fenced unless this handle's epoch is the run's live lease, as the
  // store would answer an append (the state is refreshed already).
  Status CheckLease(std::string_view call) const {
    const RunState::Lease& lease = state().lease;
    if (lease.held && lease.epoch == epoch_) return Status::OK();
    return Status::Fenced(std::string(call) + ": run " + run_id_ + "'s lease epoch " +
                          std::to_string(epoch_) + " is no longer current (" +
                          (lease.held ? "epoch " + std::to_string(lease.epoch) + " is held by " +
                                            lease.holder
                                      : "the lease was released") +
                          "); Resume the run to work on it");
  }

  // Runs `call` -- checks against the state, then at most one Write -- on
  // the state as this handle last folded it, without reading the run
  // first. A Write is conditional on the run's head being that state's
  // (expected_head); an answer that writes nothing stands only once a read
  // finds no newer event. So when another writer moved the head (a
  // person's grant, a takeover), its events are folded in and `call` runs
  // again: every answer is the one `call` gives at the run's head, and a
  // write costs one read, of the events it appended.
  template <typename Call>
  auto Attempt(const Call& call) -> decltype(call()) {
    for (int attempt = 1;; ++attempt) {
      answered_ = false;
      auto answer = call();
      if (replay_ || answered_) return answer;
      const uint64_t before = state().last_sequence;
      if (Status s = Refresh(); !s.ok()) return s;
      if (state().last_sequence == before) return answer;
      if (attempt == kMaxAttempts) {
        return Status::Busy("run " + run_id_ + ": other writers appended " + std::to_string(kMaxAttempts) +
                            " times while this call was checked; call it again");
      }
    }
  }

  // Refuses writes in replay mode.
  Status Prepare(std::string_view call) const {
    if (!replay_) return Status::OK();
    return Status::InvalidArgument(std::string(call) + ": a replay of run " + run_id_ + " writes nothing");
  }

  // Folds the events after the state's last one (none in replay mode: a
  // replay stands at its chosen event), from the log alone.
  Status Refresh() {
    if (replay_) return Status::OK();
    return runtime_->projector()
        ->FoldForward(run_id_, projection_->name(), state().last_sequence, state_.get())
        .status();
  }

  // Appends under the lease if the run's head is still the state's, and
  // folds the appended events in. A Conflict (the head moved) is no
  // answer: Attempt folds what moved it and checks again.
  Status Write(std::vector<EventInput> events) {
    AGENTLOG_ASSERT(!answered_);  // one write per Attempt
    AppendOptions options;
    options.durability = runtime_->options().durability;
    options.lease_epoch = epoch_;
    options.expected_head = state().last_sequence;
    Result<AppendResult> appended = runtime_->projector()->AppendAndFold(run_id_, events, options,
                                                                         projection_->name(), state_.get());
    if (appended.ok()) {
      answered_ = true;
      return Status::OK();
    }
    if (appended.status().IsConflict()) return InRun(run_id_, appended.status());
    answered_ = true;
    // The events may be committed even when the projector's snapshot work
    // after them failed: the refresh below tells.
    Refresh().IgnoreError();  // the append's error is the one to report
    return InRun(run_id_, appended.status());
  }

  Status CheckPlan(std::string_view call, std::span<const StepSpec> steps) const {
    if (OpenTurn() == nullptr) return NoOpenTurn(call);
    if (steps.empty()) return Status::InvalidArgument(std::string(call) + ": no steps");
    std::set<std::string_view> ids;
    for (const StepSpec& step : steps) {
      if (step.id.empty() || step.tool.empty()) {
        return Status::InvalidArgument(std::string(call) + ": every step needs an id and a tool");
      }
      if (!ids.insert(step.id).second) {
        return Status::InvalidArgument(std::string(call) + ": step id " + step.id + " repeats");
      }
    }
    return Status::OK();
  }

  Result<const RunState::PlanItem*> RunningStep(std::string_view call, std::string_view step_id) {
    if (Status s = Prepare(call); !s.ok()) return s;
    const RunState::PlanItem* item = state().FindPlanItem(step_id);
    if (item == nullptr) return NoStep(call, step_id);
    if (item->status != S::kRunning) {
      return Status::InvalidArgument(std::string(call) + ": step " + item->id + " is " +
                                     std::string(StepStatusName(item->status)) +
                                     ", not running (BeginStep starts it)");
    }
    return item;
  }

  // A turn ends only once each started step has an outcome: a step left in
  // doubt by an ended turn could never be settled (FailStep records
  // "outcome unknown" when that is the truth).
  Status NoneRunning(std::string_view call) const {
    for (const RunState::PlanItem& item : state().plan) {
      if (item.status == S::kRunning) {
        return Status::InvalidArgument(std::string(call) + ": step " + item.id +
                                       " is running; record its outcome first (CompleteStep, "
                                       "or FailStep if it is unknown)");
      }
    }
    return Status::OK();
  }

  const RunState::Turn* OpenTurn() const {
    const RunState::Turn* turn = state().CurrentTurn();
    return turn != nullptr && turn->ended_sequence == 0 ? turn : nullptr;
  }

  Status NoOpenTurn(std::string_view call) const {
    return Status::InvalidArgument(std::string(call) + ": run " + run_id_ +
                                   " has no open turn (StartTurn first)");
  }

  Status NoStep(std::string_view call, std::string_view step_id) const {
    return Status::NotFound(std::string(call) + ": run " + run_id_ + " has no step " +
                            std::string(step_id));
  }

  Envelope Agent(std::string_view step_id) const {
    return runtime_->AgentEnvelope(state(), step_id);
  }

  Envelope ToolEnvelope(const RunState::PlanItem& item) const {
    Envelope e = Agent(item.id);
    e.actor_kind = ActorKind::kTool;
    e.actor_id = item.tool.substr(0, kMaxIdBytes);
    return e;
  }

  RuntimeImpl* const runtime_;
  const std::string run_id_;
  const uint64_t epoch_;
  const bool replay_;
  const std::shared_ptr<const Projection> projection_;
  std::unique_ptr<ProjectionState> state_;
  bool answered_ = false;  // this Attempt wrote, or the store refused its write
  const int64_t created_us_;   // the run's first event: the wall-time budget's start
  const std::string session_id_;
};

}  // namespace

std::unique_ptr<RunHandle> NewRunHandle(RuntimeImpl* runtime, std::string run_id, uint64_t epoch,
                                        bool replay, std::unique_ptr<ProjectionState> state,
                                        const RunInfo& info) {
  return std::make_unique<RunHandleImpl>(runtime, std::move(run_id), epoch, replay,
                                         std::move(state), info);
}

}  // namespace agentlog::runtime
