// agentlog/run_handle.h: one worker's hold on one run -- every write an
// agent loop makes to it.
//
// A RunHandle comes from Runtime::StartRun or Runtime::Resume (a lease
// holder's handle) or Runtime::OpenReplay (a read-only replay); see
// agentlog/runtime.h. Every write carries the handle's lease epoch, so once
// another worker takes the run over, this handle's writes are refused with
// Fenced and nothing is written. A call is checked against the state the
// handle folded last and written with that state's head as the expected
// head: when another writer (a person's Runtime::Grant, a takeover) appended
// meanwhile, the handle folds those events and checks the call again, so
// grants recorded by other processes are seen. An answer that writes nothing
// is given only after a read finds no newer event. Every write is one atomic
// append; a call whose checks fail writes nothing. runtime/README.md lists
// the events each call writes.
//
// Errors every call below except the accessors (run_id, lease_epoch,
// replay, state) may return besides its own; "the common errors" at each
// method means these:
//   Fenced           this handle's lease epoch is no longer the run's live
//                    one: another worker took the run over (Runtime::Resume)
//                    or Release was called; nothing is written;
//   Busy             other writers appended 100 times in a row while the
//                    call was being checked; nothing is written by this
//                    call: call it again;
//   InvalidArgument  on a replay handle, from every call that writes;
//   the errors of Store::Append except Conflict (a Conflict means the head
//                    moved: the call is checked again): InvalidArgument or
//                    LimitExceeded for an id or a text the store refuses
//                    (an id over kMaxIdBytes, a NUL byte, bad UTF-8, a
//                    payload over Options::max_event_bytes, an append over
//                    Options::max_append_events or max_append_bytes),
//                    IOError, Closed; nothing is written;
//   the errors of Projector::FoldForward (Corruption, and the errors of
//                    Store::ReadRun): reading the events other writers
//                    appended;
//   the errors of Projector::AppendAndFold after its append committed (the
//                    errors of Store::GetRun, Store::ReadRun,
//                    Store::PutSnapshot, Store::ReadSnapshots,
//                    Store::DeleteSnapshots; Corruption): the call's events
//                    ARE committed, and the handle folds them in on its
//                    next read.
// A replay handle reads nothing after it was opened and writes nothing: of
// the common errors it returns only InvalidArgument.
//
// Thread safety: a RunHandle is NOT safe to share between threads. It holds
// the state it folded last and changes it on every call, with no lock: use
// it from one thread at a time. Different handles -- on different runs, or
// on one run -- may be used concurrently; the store's expected head and
// lease epoch order their writes. The reference state() returns is changed
// by the handle's next call. REQUIRES: the Runtime that returned the handle
// (and its Store) outlives it.
#ifndef AGENTLOG_RUN_HANDLE_H_
#define AGENTLOG_RUN_HANDLE_H_

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "agentlog/export.h"
#include "agentlog/run_state.h"
#include "agentlog/status.h"
#include "agentlog/step.h"

namespace agentlog {

// A decision the agent records (RunHandle::RecordDecision).
struct DecisionSpec {
  std::string choice;                  // required
  std::vector<std::string> alternatives;
  std::string rationale;
  std::vector<std::string> fact_keys;  // REQUIRES: facts the run holds (else InvalidArgument)
};

class AGENTLOG_EXPORT RunHandle {
 public:
  virtual ~RunHandle() = default;

  // ---- accessors (no errors, no I/O) ----

  // The run this handle holds.
  virtual const std::string& run_id() const = 0;
  // The lease epoch every write carries; 0 for a replay handle.
  virtual uint64_t lease_epoch() const = 0;
  // True for a handle from Runtime::OpenReplay.
  virtual bool replay() const = 0;
  // The run as this handle last folded it: after its last call, or as of
  // the replay's event. Valid until the handle's next call.
  virtual const RunState& state() const = 0;

  // ---- turn and plan ----

  // Opens turn `turn_id` (TurnStarted, in the run's session) with the
  // user's message and its normalized command.
  // Errors: InvalidArgument (an empty turn id; the run already has a turn
  // with this id; a turn is still open; a step of the last turn still needs
  // compensation: RecordCompensation first); the common errors.
  virtual Status StartTurn(std::string_view turn_id, std::string_view message_text,
                           std::string_view normalized_command) = 0;

  // The open turn's plan: TurnPlanned and one PlanItemAdded per step, in
  // one append. Errors: InvalidArgument (no open turn, no steps, a step
  // without an id or a tool, an id repeated, the turn already has a plan:
  // use RevisePlan); the common errors (a step id over kMaxIdBytes is
  // LimitExceeded; more steps than Options::max_append_events - 1 too).
  virtual Status Plan(std::span<const StepSpec> steps) = 0;

  // Replaces the open turn's plan with `steps` (PlanRevised), saying why.
  // Grants given before the revision no longer count (runtime/README.md,
  // "Step rules"). Errors: InvalidArgument (no open turn, no steps, a step
  // without an id or a tool, an id repeated, an empty reason); the common
  // errors.
  virtual Status RevisePlan(std::string_view reason, std::span<const StepSpec> steps) = 0;

  // Ends the open turn with the agent's answer (TurnCompleted).
  // Errors: InvalidArgument (no open turn; a step is running: record its
  // outcome first, FailStep "outcome unknown" when it is); the common errors.
  virtual Status CompleteTurn(std::string_view output_text) = 0;

  // Ends the open turn as failed (TurnFailed). Errors: InvalidArgument (no
  // open turn; an empty error; a step is running, as for CompleteTurn); the
  // common errors.
  virtual Status FailTurn(std::string_view error) = 0;

  // ---- steps ----

  // Where step `step_id` stands (runtime/README.md, "Step rules"); records
  // ToolStarted (after a BudgetConsumed when a budget is set) only when the
  // answer is kRun. kCompleted carries the recorded output (an artifact's
  // blob is read back). On a replay handle the answer comes from the log
  // as of the replay's event, with that event's time as now.
  // Errors: NotFound (no such step in the current plan; on a replay, a step
  // with no recorded outcome, which a replay never starts), InvalidArgument
  // (kRun with no open turn), LimitExceeded (the run's step, token or
  // wall-time budget is spent; the message says which; nothing written),
  // Fenced (also before a kInDoubt answer: a worker that was taken over must
  // not call the tool), Corruption (a completed step's output artifact is
  // not in the run, or its blob does not hash to the recorded output hash),
  // the errors of Store::GetBlob (reading that artifact); the common errors.
  virtual Result<StepOutcome> BeginStep(std::string_view step_id) = 0;

  // BeginStep, then for kRun and kInDoubt: calls `tool` (on this thread),
  // records its result (CompleteStep or FailStep) and reports kCompleted,
  // kRetryLater or kFailed, with tool_called set. Any other answer of
  // BeginStep is returned as it is, without calling the tool; kCompleted
  // from the log returns the recorded output. A replay handle never calls
  // `tool`. Errors: those of BeginStep before the tool is called; after it,
  // those of CompleteStep or FailStep (e.g. InvalidArgument for a failure
  // with an empty error): the outcome is then not recorded and the step
  // stays started, so the next BeginStep answers kInDoubt.
  virtual Result<StepOutcome> RunStep(std::string_view step_id, const Tool& tool) = 0;

  // Records progress of the running step `step_id` (ToolProgress).
  // Errors: NotFound (no such step in the current plan), InvalidArgument
  // (the step is not running: no ToolStarted without an outcome); the
  // common errors.
  virtual Status ReportProgress(std::string_view step_id, uint64_t done, uint64_t total,
                                std::string_view message) = 0;

  // Records the running step's output (ToolCompleted with its SHA-256).
  // Output over RuntimeOptions::artifact_threshold_bytes is stored first as
  // a content blob (Store::PutBlob), then recorded as ArtifactStored +
  // ToolCompleted naming the artifact. Errors: NotFound (no such step in the
  // current plan), InvalidArgument (the step is not running), LimitExceeded
  // (output over kMaxBlobBytes), the errors of Store::PutBlob; the common
  // errors.
  virtual Status CompleteStep(std::string_view step_id, std::string_view output) = 0;

  // Records that the running step failed: ToolFailed, then RetryScheduled
  // (backoff from the step's RetryPolicy and a jitter draw) if `retryable`
  // with attempts left under the policy; otherwise TurnFailed with the
  // failure context. Errors: NotFound (no such step in the current plan),
  // InvalidArgument (the step is not running; an empty error); the common
  // errors.
  virtual Result<FailureOutcome> FailStep(std::string_view step_id, std::string_view error,
                                          bool retryable) = 0;

  // ---- approvals ----

  // Asks a person to approve step `step_id` (ApprovalRequested, mode = the
  // step's confirmation); expires_at_us 0: never. The run is then
  // awaiting_approval; a person answers with Runtime::Grant or Deny.
  // Errors: NotFound (no such step in the current plan), InvalidArgument
  // (no open turn; the step is safe_readonly; the step needs no new request,
  // i.e. BeginStep would not answer kNeedsApproval or kApprovalExpired;
  // expires_at_us not in the future); the common errors.
  virtual Status RequestApproval(std::string_view step_id, std::string_view request,
                                 int64_t expires_at_us) = 0;

  // ---- compensation ----

  // Records the compensating call that undoes `step_id`'s effect
  // (CompensationRecorded); returns its idempotency key ("al1u-..."). The
  // call itself is the embedder's to make, with that key.
  // Errors: NotFound (no such step in the current plan), InvalidArgument
  // (the step never started; an empty tool); the common errors.
  virtual Result<std::string> RecordCompensation(std::string_view step_id, std::string_view tool,
                                                 std::string_view arguments_json) = 0;

  // ---- knowledge and conversation ----

  // Records a decision (DecisionRecorded) and the facts it rests on.
  // Errors: InvalidArgument (an empty choice; a fact key the run does not
  // hold: AddFact it first); the common errors.
  virtual Status RecordDecision(const DecisionSpec& decision) = 0;

  // Records fact `key` = `value` (FactAdded); a later one replaces it.
  // Errors: InvalidArgument (an empty key); the common errors.
  virtual Status AddFact(std::string_view key, std::string_view value, std::string_view source) = 0;

  // Opens question `question_id` (QuestionOpened). Errors: InvalidArgument
  // (an empty id; the question exists); the common errors.
  virtual Status OpenQuestion(std::string_view question_id, std::string_view text) = 0;

  // Answers an open question (QuestionResolved). Errors: NotFound (no such
  // question), InvalidArgument (already resolved); the common errors.
  virtual Status ResolveQuestion(std::string_view question_id, std::string_view answer) = 0;

  // Stores `content` as a blob (Store::PutBlob), then records
  // ArtifactStored (SHA-256, size). Errors: InvalidArgument (an empty id;
  // the run has an artifact with this id), LimitExceeded (content over
  // kMaxBlobBytes), the errors of Store::PutBlob; the common errors. A blob
  // stored before a refused append is unreferenced, never wrong.
  virtual Status StoreArtifact(std::string_view artifact_id, std::string_view media_type,
                               std::string_view summary, std::string_view content) = 0;

  // Records a conversation message (MessageAppended; actor user for role
  // "user", else agent). Errors: InvalidArgument (an empty role); the
  // common errors.
  virtual Status AppendMessage(std::string_view role, std::string_view text) = 0;

  // Replaces messages first_sequence..last_sequence with a summary
  // (ConversationCompacted). Errors: InvalidArgument (first_sequence 0,
  // last_sequence below it or past the run's last event); the common errors.
  virtual Status CompactConversation(std::string_view summary, uint64_t first_sequence,
                                     uint64_t last_sequence) = 0;

  // ---- budget, deadlines, control ----

  // Records `tokens` used against the run's token budget (BudgetConsumed).
  // Errors: the common errors.
  virtual Status ConsumeTokens(uint64_t tokens) = 0;

  // Sets the run's deadline (step_id empty) or the step's (DeadlineSet);
  // deadline_at_us 0 clears it. Errors: NotFound (step_id names no step of
  // the current plan), InvalidArgument (a negative time); the common errors.
  virtual Status SetDeadline(int64_t deadline_at_us, std::string_view step_id) = 0;

  // Pauses the run until `resume_trigger` happens or timeout_at_us passes
  // (RunPaused; 0: no timeout). Errors: InvalidArgument (an empty trigger;
  // already paused); the common errors.
  virtual Status Pause(std::string_view resume_trigger, int64_t timeout_at_us) = 0;

  // Resumes a paused run (RunResumed). Errors: InvalidArgument (the run is
  // not paused); the common errors.
  virtual Status Resume(std::string_view reason) = 0;

  // Marks a checkpoint (CheckpointMarked; the projector's default snapshot
  // policy stores a snapshot there). Errors: the common errors.
  virtual Status MarkCheckpoint(std::string_view label) = 0;

  // Gives the run up (LeaseReleased): another worker may take it at once.
  // Later writes through this handle, a second Release included, are Fenced.
  // Errors: the common errors.
  virtual Status Release() = 0;
};

}  // namespace agentlog

#endif  // AGENTLOG_RUN_HANDLE_H_
