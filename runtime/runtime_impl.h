// runtime/runtime_impl.h: the Runtime's internals, shared by the files that
// implement its parts (one part per file: runtime.cc, run_handle.cc,
// recovery.cc, model_context.cc, counterfactual.cc, audit.cc).
#ifndef AGENTLOG_RUNTIME_RUNTIME_IMPL_H_
#define AGENTLOG_RUNTIME_RUNTIME_IMPL_H_

#include <functional>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <string_view>

#include "agentlog/projector.h"
#include "agentlog/runtime.h"
#include "base/mutex.h"
#include "runtime/payloads.h"

namespace agentlog::runtime {

// The actor id of a counterfactual fork's RunForked and substitutions.
inline constexpr char kCounterfactualActor[] = "counterfactual";

class RuntimeImpl final : public Runtime {
 public:
  RuntimeImpl(const RuntimeOptions& options, std::unique_ptr<Projector> projector);

  Result<std::unique_ptr<RunHandle>> StartRun(std::string_view run_id, const RunSpec& spec) override;
  Result<std::unique_ptr<RunHandle>> Resume(std::string_view run_id,
                                            const ResumeOptions& options) override;
  Result<std::unique_ptr<RunHandle>> OpenReplay(std::string_view run_id,
                                                uint64_t at_sequence) override;
  Status Grant(std::string_view run_id, std::string_view step_id, std::string_view by,
               fb::ApprovalScope scope, std::string_view edited_arguments_json) override;
  Status Deny(std::string_view run_id, std::string_view step_id, std::string_view by,
              std::string_view reason) override;
  Result<std::vector<RecoveryItem>> Recover() override;
  Result<std::vector<ExpiredDeadline>> ExpiredDeadlines(int64_t at_us) override;
  Result<ModelContext> ContextForModel(std::string_view run_id, size_t max_bytes) override;
  Result<RunState> State(std::string_view run_id) override;
  Result<RunState> StateAt(std::string_view run_id, uint64_t sequence) override;
  Result<std::string> ReadArtifact(std::string_view run_id, std::string_view artifact_id) override;
  Result<AppendResult> Counterfactual(std::string_view parent_run_id, uint64_t at_sequence,
                                      std::string_view new_run_id, std::string_view reason,
                                      std::span<const Substitution> substitutions) override;
  Result<std::vector<FieldChange>> Compare(std::string_view run_a, std::string_view run_b) override;
  Result<AuditReport> Audit(std::string_view run_id) override;

  // ---- for RunHandleImpl ----
  const RuntimeOptions& options() const { return options_; }
  Store* store() const { return options_.store; }
  Projector* projector() const { return projector_.get(); }
  int64_t Now() const { return options_.clock->NowMicros(); }
  uint64_t Draw();                         // a jitter draw
  RetryPolicy PolicyFor(std::string_view step_id, std::string_view tool) const;
  // An agent-actor envelope for the run's current turn.
  Envelope AgentEnvelope(const RunState& state, std::string_view step_id) const;
  // True when the run is a branch Counterfactual made (its RunForked's
  // actor is kCounterfactualActor): it is explored, never resumed live.
  Result<bool> IsCounterfactual(std::string_view run_id, const RunState& state);
  // The recorded output of a completed step: verbatim, or its artifact's
  // blob checked against the recorded hash.
  Result<std::string> RecordedOutput(const RunState& state, const RunState::PlanItem& item);
  // The run's state after event `sequence` on which side effects may be
  // decided (runtime/log_check.cc): the projector's, if its grants and
  // completions are the log's; otherwise the fold of the events alone.
  Result<std::unique_ptr<ProjectionState>> LogBackedStateAt(std::string_view run_id, uint64_t sequence);
  // OK if every decided approval and completed step of `state` is the
  // event it names; Corruption naming the first that is not.
  Status CheckStateAgainstLog(std::string_view run_id, const RunState& state);

 private:
  // Grant and Deny: validate against the current state, append, and retry
  // if another writer moved the head in between.
  // A handle holding lease `epoch`, with the state at the run's head.
  Result<std::unique_ptr<RunHandle>> HandleAtHead(std::string_view run_id, uint64_t epoch);
  Status Answer(std::string_view run_id, std::string_view step_id, std::string_view by,
                const std::function<EventInput(const Envelope&)>& make);
  Result<RecoveryItem> RecoverRun(const RunInfo& info, int64_t now_us);

  const RuntimeOptions options_;
  const std::unique_ptr<Projector> projector_;
  // Folds from the events alone (ProjectorOptions::use_snapshots false).
  const std::unique_ptr<Projector> log_only_projector_;
  internal::Mutex random_mutex_;
  std::mt19937_64 random_ GUARDED_BY(random_mutex_);
};

// The handle over a run: a lease holder's (epoch > 0) or a replay's.
// `state` is the run's state as of `at_sequence` (replay) or its head.
std::unique_ptr<RunHandle> NewRunHandle(RuntimeImpl* runtime, std::string run_id, uint64_t epoch,
                                        bool replay, std::unique_ptr<ProjectionState> state,
                                        const RunInfo& info);

// `status`'s code with another message (OK stays OK).
Status WithMessage(const Status& status, std::string message);
// "run R: " prefixed to a status's message unless it names R already; code kept.
Status InRun(std::string_view run_id, const Status& status);

}  // namespace agentlog::runtime

#endif  // AGENTLOG_RUNTIME_RUNTIME_IMPL_H_
