// agentlog/runtime.h: the durable agent runtime -- what an agent loop calls.
//
// A Runtime turns an agent's actions into events of a Store and answers
// from them alone, so a worker that crashes and restarts loses nothing:
//
//   RuntimeOptions options;  options.store = store.get();
//   options.clock = SystemClock();  options.worker_id = "worker-1";
//   auto runtime = Runtime::Open(options);
//   auto run = (*runtime)->StartRun("deploy-42", {});        // takes the lease
//   (*run)->StartTurn("turn-1", "Deploy the hotfix", "deploy(hotfix)");
//   (*run)->Plan({{"build", "ci.build", R"({"ref":"hotfix"})"},
//                 {"ship", "deploy", R"({"env":"prod"})", fb::ConfirmationMode_Mutating}});
//   auto outcome = (*run)->RunStep("build", my_build_tool);  // exactly-once
//
// Exactly-once effect recording. Starting a step records ToolStarted with a
// stable idempotency key (run, step, tool, SHA-256 of the arguments that
// run). If the log already holds the step's completion, the recorded output
// is returned and the tool is not called again. If it holds a start without
// an outcome (the worker died mid-call), the step is "in doubt": the caller
// gets the same key, passes it to the tool so the tool side de-duplicates,
// and records the outcome. Retries, approvals, deadlines, budgets, leases,
// recovery, replay and counterfactual forks are below; runtime/README.md has
// the rules in full and the events each call writes.
//
// Thread safety: Runtime methods may be called from any thread. A RunHandle
// is one worker's hold on one run: use it from one thread at a time.
#ifndef AGENTLOG_RUNTIME_H_
#define AGENTLOG_RUNTIME_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "agentlog/export.h"
#include "agentlog/clock.h"
#include "agentlog/projection.h"
#include "agentlog/run_state.h"
#include "agentlog/status.h"
#include "agentlog/store.h"

namespace agentlog {

// How a failed step is retried. Backoff before attempt n+1 (after n failed):
// d = min(max_backoff_ms, base_backoff_ms * 2^(n-1)), then "equal jitter":
// d/2 + a uniform draw in [0, d/2]. Recorded in RetryScheduled.
struct RetryPolicy {
  uint32_t max_attempts = 3;        // in all, the first included; 1: never retry
  uint64_t base_backoff_ms = 1000;
  uint64_t max_backoff_ms = 60000;
};

// The wait before attempt failed_attempts + 1, given a uniform 64-bit draw.
AGENTLOG_EXPORT uint64_t RetryBackoffMs(const RetryPolicy& policy, uint32_t failed_attempts, uint64_t draw);

// The idempotency key of a step's tool call: "al1-" and 32 hex digits of
// SHA-256 over (run, turn, step, tool, SHA-256(arguments)), each
// length-prefixed. The same call always gives the same key; retries keep
// it, so the tool side can de-duplicate across attempts; the same step id
// in another turn gets another key.
AGENTLOG_EXPORT std::string StepIdempotencyKey(std::string_view run_id, std::string_view turn_id,
                               std::string_view step_id, std::string_view tool,
                               std::string_view arguments_json);

struct RuntimeOptions {
  Store* store = nullptr;          // REQUIRES: non-null, outlives the Runtime
  Clock* clock = nullptr;          // REQUIRES: non-null; leases, retries, expiries read it
  // REQUIRES: this worker's name ([A-Za-z0-9._:-], at most kMaxIdBytes),
  // recorded as the lease holder and as the actor of the agent's events.
  std::string worker_id;
  uint64_t lease_ttl_ms = 30000;   // a lease is live until this long after the run's last event
  Durability durability = Durability::kSync;
  // Tool outputs larger than this are stored as a content blob with an
  // ArtifactStored event; ToolCompleted then names the artifact.
  size_t artifact_threshold_bytes = size_t{64} << 10;
  RetryPolicy default_retry;
  // Per-step policy; null: default_retry for every step. Must give the same
  // answer for the same step in every worker (it is not recorded).
  std::function<RetryPolicy(std::string_view step_id, std::string_view tool)> retry_policy;
  // A run with no event for this long is reported stale by Recover and is
  // not resumed unless ResumeOptions::allow_stale. Default: one day.
  int64_t stale_after_us = int64_t{24} * 3600 * 1000 * 1000;
  // Seeds the jitter draws (with worker_id). Tests fix it; 0 is a seed too.
  uint64_t jitter_seed = 0;
};

// One plan item as the agent proposes it.
struct StepSpec {
  std::string id;                  // unique in the plan; the envelope step_id of its events
  std::string tool;
  std::string arguments_json;
  fb::ConfirmationMode confirmation = fb::ConfirmationMode_SafeReadonly;
  std::string description;
};

// What a tool is called with.
struct ToolCall {
  std::string run_id;
  std::string step_id;
  std::string tool;
  std::string arguments_json;      // what runs: the person's edit if a grant carried one
  std::string proposed_arguments_json;  // what the agent proposed
  std::string idempotency_key;     // pass it to the tool side
  uint32_t attempt = 0;            // 1 for the first try
};

// What a tool call gave back.
struct ToolResult {
  bool ok = true;
  std::string output;              // when ok: recorded verbatim (or as an artifact)
  std::string error;               // when !ok
  bool retryable = false;          // when !ok: may a retry succeed?
  static ToolResult Success(std::string output) { return {true, std::move(output), {}, false}; }
  static ToolResult Failure(std::string error, bool retryable) {
    return {false, {}, std::move(error), retryable};
  }
};
using Tool = std::function<ToolResult(const ToolCall&)>;

// Where a step stands, and what the caller is to do about it.
enum class StepAction : uint8_t {
  kRun,               // ToolStarted was recorded: call the tool with `call` and record the outcome
  kCompleted,         // the log holds its completion: `output` is the recorded output
  kInDoubt,           // started, no outcome recorded: call the tool with `call.idempotency_key`
                      // (the tool side de-duplicates) and record the outcome
  kNeedsApproval,     // its mode requires a grant and none was asked for: RequestApproval
  kAwaitingApproval,  // a request is pending until `at_us` (0: no expiry)
  kApprovalExpired,   // the request expired at `at_us` unanswered: ask again
  kDenied,            // a person denied it; `detail` says who and why
  kRetryLater,        // a retry is scheduled, not before `at_us`
  kFailed,            // failed for good; `detail` is the error
  kDeadlinePassed,    // the run's or the step's deadline (`at_us`) has passed
  kPaused,            // the run is paused (until `at_us`, 0: its trigger): Resume(reason) first
};
AGENTLOG_EXPORT std::string_view StepActionName(StepAction action);  // "awaiting_approval"

struct StepOutcome {
  StepAction action = StepAction::kRun;
  ToolCall call;                   // kRun, kInDoubt; the last call otherwise, if any
  std::string output;              // kCompleted
  int64_t at_us = 0;               // kAwaitingApproval, kApprovalExpired, kRetryLater, kDeadlinePassed
  std::string detail;              // a sentence a person can act on
  bool tool_called = false;        // RunStep: the tool was called by this call
  bool in_doubt = false;           // RunStep: it was in doubt; the tool was called with its key
};

// Outcome of FailStep.
struct FailureOutcome {
  bool retry_scheduled = false;    // a RetryScheduled was recorded
  uint32_t next_attempt = 0;
  uint64_t backoff_ms = 0;
  int64_t not_before_us = 0;
  bool turn_failed = false;        // attempts exhausted or not retryable: TurnFailed recorded
};

struct RunSpec {
  std::string session_id;          // the session the run belongs to (empty: none)
  uint64_t max_steps = 0;          // budget (BudgetSet); 0: no limit
  uint64_t max_tokens = 0;
  uint64_t max_wall_time_ms = 0;
  int64_t deadline_at_us = 0;      // the run's deadline (DeadlineSet); 0: none
};

struct ResumeOptions {
  // Resume a run idle for longer than RuntimeOptions::stale_after_us.
  bool allow_stale = false;
};

struct DecisionSpec {
  std::string choice;
  std::vector<std::string> alternatives;
  std::string rationale;
  std::vector<std::string> fact_keys;  // REQUIRES: facts the run holds
};

// One worker's hold on one run: every write carries the lease epoch, so once
// another worker takes the run over, this handle's writes are refused with
// Fenced and nothing is written. State is refreshed from the log before each
// call, so grants recorded by other processes are seen.
class AGENTLOG_EXPORT RunHandle {
 public:
  virtual ~RunHandle() = default;

  virtual const std::string& run_id() const = 0;
  virtual uint64_t lease_epoch() const = 0;   // 0 for a replay handle
  virtual bool replay() const = 0;
  // The run as of the last refresh (after this handle's last call).
  virtual const RunState& state() const = 0;

  // ---- turn and plan ----
  // Errors: InvalidArgument (a turn is open; a step of the last turn still
  // needs compensation).
  virtual Status StartTurn(std::string_view turn_id, std::string_view message_text,
                           std::string_view normalized_command) = 0;
  // TurnPlanned and one PlanItemAdded per step, in one append.
  // Errors: InvalidArgument (no open turn, ids empty or repeated, no tool),
  // LimitExceeded (an id over kMaxIdBytes).
  virtual Status Plan(std::span<const StepSpec> steps) = 0;
  virtual Status RevisePlan(std::string_view reason, std::span<const StepSpec> steps) = 0;
  // Both refuse (InvalidArgument) while a step is running: record its
  // outcome first (FailStep "outcome unknown" when it is).
  virtual Status CompleteTurn(std::string_view output_text) = 0;
  virtual Status FailTurn(std::string_view error) = 0;

  // ---- steps ----
  // Where the step stands; records ToolStarted (after a BudgetConsumed when
  // a budget is set) only when the answer is kRun. Errors: NotFound (no
  // such step in the plan), InvalidArgument (kRun with no open turn),
  // LimitExceeded (the run's step, token or wall-time budget is spent; the
  // message says which), Fenced (also before an in-doubt answer: a worker
  // that was taken over must not call the tool), IOError.
  virtual Result<StepOutcome> BeginStep(std::string_view step_id) = 0;
  // BeginStep, then for kRun and kInDoubt: calls `tool`, records its result
  // (CompleteStep or FailStep) and reports kCompleted, kRetryLater or
  // kFailed. kCompleted from the log returns the output without calling it.
  // A replay handle never calls `tool`.
  virtual Result<StepOutcome> RunStep(std::string_view step_id, const Tool& tool) = 0;
  virtual Status ReportProgress(std::string_view step_id, uint64_t done, uint64_t total,
                                std::string_view message) = 0;
  // Errors: InvalidArgument (the step is not running: no ToolStarted
  // without an outcome), LimitExceeded (output over kMaxBlobBytes).
  virtual Status CompleteStep(std::string_view step_id, std::string_view output) = 0;
  // ToolFailed, then RetryScheduled if retryable with attempts left under
  // the step's policy; otherwise TurnFailed with the failure context.
  virtual Result<FailureOutcome> FailStep(std::string_view step_id, std::string_view error,
                                          bool retryable) = 0;

  // ---- approvals ----
  // ApprovalRequested for the step (mode = the step's confirmation);
  // expires_at_us 0: never. The run is then awaiting_approval.
  virtual Status RequestApproval(std::string_view step_id, std::string_view request,
                                 int64_t expires_at_us) = 0;

  // ---- compensation ----
  // Records the compensating call that undoes `step_id`'s effect; returns
  // its idempotency key. Errors: InvalidArgument (the step never started).
  virtual Result<std::string> RecordCompensation(std::string_view step_id, std::string_view tool,
                                                 std::string_view arguments_json) = 0;

  // ---- knowledge and conversation ----
  virtual Status RecordDecision(const DecisionSpec& decision) = 0;
  virtual Status AddFact(std::string_view key, std::string_view value, std::string_view source) = 0;
  virtual Status OpenQuestion(std::string_view question_id, std::string_view text) = 0;
  virtual Status ResolveQuestion(std::string_view question_id, std::string_view answer) = 0;
  // Stores `content` as a blob and records ArtifactStored (SHA-256, size).
  virtual Status StoreArtifact(std::string_view artifact_id, std::string_view media_type,
                               std::string_view summary, std::string_view content) = 0;
  virtual Status AppendMessage(std::string_view role, std::string_view text) = 0;
  // Replaces messages first_sequence..last_sequence with a summary.
  virtual Status CompactConversation(std::string_view summary, uint64_t first_sequence,
                                     uint64_t last_sequence) = 0;

  // ---- budget, deadlines, control ----
  virtual Status ConsumeTokens(uint64_t tokens) = 0;
  // deadline_at_us 0 clears it. step_id empty: the run's deadline.
  virtual Status SetDeadline(int64_t deadline_at_us, std::string_view step_id) = 0;
  virtual Status Pause(std::string_view resume_trigger, int64_t timeout_at_us) = 0;
  virtual Status Resume(std::string_view reason) = 0;
  virtual Status MarkCheckpoint(std::string_view label) = 0;
  // LeaseReleased: another worker may take the run at once. Later writes
  // through this handle are Fenced.
  virtual Status Release() = 0;
};

// What is due for one unfinished run (Runtime::Recover).
enum class RecoveryAction : uint8_t {
  kStartTurn,         // no open turn
  kPlan,              // a turn without a plan
  kResumeStep,        // run `step_id` (the next step not done)
  kInDoubt,           // `step_id` started and its outcome is unknown
  kAwaitApproval,     // `step_id` waits for a person until `at_us` (0: no expiry)
  kApprovalExpired,   // `step_id`'s request expired at `at_us`
  kRetryAt,           // `step_id` retries at `at_us`
  kDeadlinePassed,    // the run's (or `step_id`'s) deadline `at_us` passed
  kPaused,            // paused until `detail`'s trigger or `at_us`
  kPauseTimedOut,     // the pause's timeout `at_us` passed
  kCompleteTurn,      // every step is done: complete the turn
  kLeaseHeld,         // another worker (`holder`) holds it until `at_us`
  kStale,             // no event since `at_us`, longer than stale_after_us
  kCompensate,        // the turn failed: needs_compensation lists steps still to undo
  kReviseOrFail,      // `step_id` was denied or failed for good: revise the plan or fail the turn
  kCounterfactual,    // a what-if branch made by Counterfactual: explore it, never resume it live
};
AGENTLOG_EXPORT std::string_view RecoveryActionName(RecoveryAction action);  // "retry_at"

struct RecoveryItem {
  std::string run_id;
  RunStatus status = RunStatus::kCreated;
  RecoveryAction action = RecoveryAction::kStartTurn;
  std::string step_id;
  int64_t at_us = 0;
  std::string holder;
  std::string detail;              // one line for a person
  // Failed mutating steps whose effect may have happened and which no
  // CompensationRecorded undoes yet.
  std::vector<std::string> needs_compensation;
};

struct ExpiredDeadline {
  std::string run_id;
  std::string step_id;             // empty: the run's deadline
  int64_t deadline_at_us = 0;
};

// The slice of a run a model call needs, within a byte budget.
struct ModelContext {
  std::string text;                // sections in priority order, each line whole
  size_t facts_included = 0;
  size_t facts_total = 0;
  bool truncated = false;          // something was left out for the budget
};

// A changed answer on a fork (Runtime::Counterfactual).
struct Substitution {
  enum class Kind : uint8_t { kToolOutput, kToolFailure, kApprovalGranted, kApprovalDenied };
  Kind kind = Kind::kToolOutput;
  std::string step_id;
  std::string value;               // the output, the error, or who granted / denied
};

// What an auditor asks of a run (Runtime::Audit): every line from the log.
struct AuditReport {
  struct FactUsed {
    std::string key, value, source;
    uint64_t sequence = 0;         // the FactAdded in force when the decision was taken
  };
  struct Decision {
    uint64_t sequence = 0;
    int64_t time_us = 0;
    std::string actor_id;
    std::string choice, rationale;
    std::vector<std::string> alternatives;
    std::vector<FactUsed> facts;   // as they stood at the decision
    std::vector<std::string> missing_facts;  // keys named but not held then
  };
  struct Approval {
    std::string step_id;
    std::string request;
    int64_t requested_at_us = 0;
    int64_t expires_at_us = 0;     // 0: never
    std::string decision;          // "granted", "denied", "pending", "expired"
    std::string by;
    int64_t decided_at_us = 0;
    std::string scope;             // "once", "for_run"
    std::string edited_arguments_json;
    std::string reason;            // a denial's
  };
  struct ToolCallRecord {
    std::string step_id, tool, arguments_json, idempotency_key;
    uint32_t attempt = 0;
    int64_t started_at_us = 0;
    std::string outcome;           // "completed", "failed", "in_doubt"
    std::string detail;            // the error, or the output's SHA-256 in hex
    int64_t ended_at_us = 0;
  };
  struct CompensationRecord {
    std::string step_id, tool, idempotency_key;
    int64_t at_us = 0;
  };
  std::string run_id;
  std::string digest;              // Store::RunDigest after Verify passed
  VerifyStats verified;
  std::vector<Decision> decisions;
  std::vector<Approval> approvals;
  std::vector<ToolCallRecord> tool_calls;
  std::vector<CompensationRecord> compensations;
};

class AGENTLOG_EXPORT Runtime {
 public:
  // Errors: InvalidArgument (a required option missing, a bad worker id).
  static Result<std::unique_ptr<Runtime>> Open(const RuntimeOptions& options);
  virtual ~Runtime() = default;

  // Creates the run and takes its lease (epoch 1); records the budget and
  // deadline of `spec`. Errors: Conflict (the run exists), InvalidArgument.
  virtual Result<std::unique_ptr<RunHandle>> StartRun(std::string_view run_id,
                                                      const RunSpec& spec) = 0;
  // Takes over a run: LeaseAcquired with the next epoch, which fences every
  // earlier holder. Errors: NotFound, Busy (another worker's lease is live:
  // names it and until when), InvalidArgument (the run is stale and
  // !allow_stale), Conflict (a racing takeover won). A finished run may be
  // resumed: a run is a thread of turns, and StartTurn opens the next one.
  virtual Result<std::unique_ptr<RunHandle>> Resume(std::string_view run_id,
                                                    const ResumeOptions& options = {}) = 0;
  // A read-only handle on the run as of event `at_sequence` (its head if
  // past it): steps answer from the log alone, RunStep never calls a tool,
  // and every write is refused with InvalidArgument. Time checks use the
  // time of event at_sequence. Errors: NotFound.
  virtual Result<std::unique_ptr<RunHandle>> OpenReplay(std::string_view run_id,
                                                        uint64_t at_sequence = UINT64_MAX) = 0;

  // A person's answer to a pending approval request of the current turn
  // and plan; needs no lease. Errors: NotFound (no such request),
  // InvalidArgument (expired, already answered, the step no longer awaits
  // approval, `by` empty or over kMaxIdBytes), Busy (the run kept moving
  // under 8 attempts to record it).
  virtual Status Grant(std::string_view run_id, std::string_view step_id, std::string_view by,
                       fb::ApprovalScope scope, std::string_view edited_arguments_json = {}) = 0;
  virtual Status Deny(std::string_view run_id, std::string_view step_id, std::string_view by,
                      std::string_view reason) = 0;

  // Every run not completed or failed, with the action due for it now, and
  // every failed run with a step still to compensate (kCompensate).
  virtual Result<std::vector<RecoveryItem>> Recover() = 0;
  // Deadlines at or before `at_us` of runs and steps still open. Candidates
  // come from the store's deadline index (not a scan of events); each
  // candidate run's state is read once to keep the deadlines in force.
  virtual Result<std::vector<ExpiredDeadline>> ExpiredDeadlines(int64_t at_us) = 0;
  // The current step's slice of the run within `max_bytes`: goal, current
  // step, open questions, the artifacts the step names, then the most
  // recent facts. Errors: NotFound, InvalidArgument (max_bytes 0).
  virtual Result<ModelContext> ContextForModel(std::string_view run_id, size_t max_bytes) = 0;

  virtual Result<RunState> State(std::string_view run_id) = 0;
  virtual Result<RunState> StateAt(std::string_view run_id, uint64_t sequence) = 0;
  // The content of an artifact the run recorded, checked against its hash.
  virtual Result<std::string> ReadArtifact(std::string_view run_id, std::string_view artifact_id) = 0;

  // Forks `parent_run_id` after event `at_sequence` as `new_run_id` and
  // records `substitutions` there: a tool output or failure for a step that
  // was running at that point, or an answer to an approval pending then.
  // Nothing runs live; Recover lists the branch as kCounterfactual and
  // Resume refuses it. Compare the branches with Compare.
  // Errors: as Store::Fork; InvalidArgument (a substitution that does not
  // fit the state at the fork point, two for one step): nothing is written.
  // Were the substitutions' append refused after the fork (a size limit,
  // I/O), the fork stands without them and the error says so.
  virtual Result<AppendResult> Counterfactual(std::string_view parent_run_id, uint64_t at_sequence,
                                              std::string_view new_run_id, std::string_view reason,
                                              std::span<const Substitution> substitutions) = 0;
  // Diff of the run-state projections of two runs' heads.
  virtual Result<std::vector<FieldChange>> Compare(std::string_view run_a, std::string_view run_b) = 0;

  // Takes the run's digest, verifies the chain against it, then reads the
  // history it covers to report decisions (with the facts as they stood
  // when each was taken), approvals, tool calls and compensations.
  // Errors: NotFound, Corruption.
  virtual Result<AuditReport> Audit(std::string_view run_id) = 0;
};

}  // namespace agentlog

#endif  // AGENTLOG_RUNTIME_H_
