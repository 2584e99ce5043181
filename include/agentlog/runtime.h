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
// and records the outcome. runtime/README.md has the rules in full and the
// events each call writes.
//
// The public runtime API is split by subject; this header includes it all:
//   agentlog/step.h        a step's values: StepSpec, ToolCall, ToolResult,
//                          StepOutcome, RetryPolicy, StepIdempotencyKey
//   agentlog/run_handle.h  RunHandle: one worker's writes to one run
//   agentlog/recovery.h    Recover's and ExpiredDeadlines' answers
//   agentlog/audit.h       Audit's report
//   agentlog/runtime.h     RuntimeOptions and Runtime (this file)
//
// "The state-read errors" at a method below are those of reading a run's
// state checked against the log (runtime/README.md, "States rest on the
// log"): the errors of Store::GetRun (NotFound: no such run;
// InvalidArgument, LimitExceeded: not a valid run id), Projector::StateAt
// (Corruption: a damaged event or fork lineage) and Store::ReadEvent, each as the store gives it (also IOError, and Closed
// once the store is closed).
//
// Thread safety: a Runtime may be shared: every method may be called
// concurrently from any thread (it holds its options, its Projector, which
// locks its own cache, and a jitter generator under a mutex). The
// RunHandles it returns may not be shared (agentlog/run_handle.h).
// RuntimeOptions::retry_policy is called from the threads that call
// RunHandle::FailStep and RunStep. Lifetime: the Store outlives the Runtime,
// and the Runtime outlives every RunHandle it returned.
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
#include "agentlog/audit.h"
#include "agentlog/clock.h"
#include "agentlog/projection.h"
#include "agentlog/recovery.h"
#include "agentlog/run_handle.h"
#include "agentlog/run_state.h"
#include "agentlog/status.h"
#include "agentlog/step.h"
#include "agentlog/store.h"

namespace agentlog {

// How a Runtime is opened (Runtime::Open checks them).
struct RuntimeOptions {
  Store* store = nullptr;          // REQUIRES: non-null, outlives the Runtime
  Clock* clock = nullptr;          // REQUIRES: non-null; leases, retries, expiries read it
  // REQUIRES: this worker's name ([A-Za-z0-9._:-], at most kMaxIdBytes),
  // recorded as the lease holder and as the actor of the agent's events.
  std::string worker_id;
  uint64_t lease_ttl_ms = 30000;   // a lease is live until this long after the run's last event; not 0
  Durability durability = Durability::kSync;  // of every append and blob the runtime writes
  // Tool outputs larger than this are stored as a content blob with an
  // ArtifactStored event; ToolCompleted then names the artifact.
  size_t artifact_threshold_bytes = size_t{64} << 10;
  RetryPolicy default_retry;       // max_attempts not 0
  // Per-step policy; null: default_retry for every step. Must give the same
  // answer for the same step in every worker (it is not recorded), and be
  // safe to call from every thread that uses a RunHandle. A max_attempts of
  // 0 it returns counts as 1.
  std::function<RetryPolicy(std::string_view step_id, std::string_view tool)> retry_policy;
  // A run with no event for this long is reported stale by Recover and is
  // not resumed unless ResumeOptions::allow_stale. Default: one day.
  int64_t stale_after_us = int64_t{24} * 3600 * 1000 * 1000;
  // Seeds the jitter draws (with worker_id). Tests fix it; 0 is a seed too.
  uint64_t jitter_seed = 0;
};

// What Runtime::StartRun records with the new run.
struct RunSpec {
  std::string session_id;          // the session the run belongs to (empty: none)
  uint64_t max_steps = 0;          // budget (BudgetSet); 0: no limit
  uint64_t max_tokens = 0;
  uint64_t max_wall_time_ms = 0;
  int64_t deadline_at_us = 0;      // the run's deadline (DeadlineSet); 0: none; not negative
};

// Options of Runtime::Resume.
struct ResumeOptions {
  // Resume a run idle for longer than RuntimeOptions::stale_after_us.
  bool allow_stale = false;
};

// The slice of a run a model call needs, within a byte budget
// (Runtime::ContextForModel).
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

class AGENTLOG_EXPORT Runtime {
 public:
  // A runtime over options.store. Writes nothing and reads nothing.
  // Errors: InvalidArgument (no store; no clock; worker_id empty, over
  // kMaxIdBytes or with a byte outside [A-Za-z0-9._:-]; lease_ttl_ms 0;
  // default_retry.max_attempts 0).
  static Result<std::unique_ptr<Runtime>> Open(const RuntimeOptions& options);
  // Closes nothing: the Store stays open. REQUIRES: no RunHandle of this
  // Runtime is used afterwards.
  virtual ~Runtime() = default;

  // ---- runs and leases ----

  // Creates run `run_id` in spec.session_id and takes its lease (epoch 1):
  // LeaseAcquired, plus BudgetSet and DeadlineSet when `spec` sets them, in
  // one append with expected head 0. Returns this worker's handle at the
  // new head.
  // Errors: Conflict (the run exists: take it over with Resume),
  // InvalidArgument (a negative deadline), the errors of Store::Append (a
  // bad run or session id: InvalidArgument, LimitExceeded; IOError; Closed):
  // nothing is written by these. After the append committed: the errors of
  // Projector::Append's catch-up and the state-read errors; the run then
  // exists under this worker's lease (Resume takes it at once).
  virtual Result<std::unique_ptr<RunHandle>> StartRun(std::string_view run_id,
                                                      const RunSpec& spec) = 0;

  // Takes over a run: LeaseAcquired with the next epoch, appended under the
  // head it read, which fences every earlier holder. A worker with the same
  // worker_id takes its own live lease over at once. A finished run may be
  // resumed: a run is a thread of turns, and StartTurn opens the next one.
  // Returns the handle at the new head.
  // Errors: the state-read errors (NotFound: no such run), the errors of
  // Store::ReadRun (reading the RunForked of a fork), InvalidArgument (a
  // branch made by Counterfactual, which never runs live; the run is stale
  // and !options.allow_stale), Busy (another worker's lease is live: names
  // it and until when), Conflict (the run moved while taking it over: a
  // racing takeover won, or another writer appended), the errors of
  // Store::Append (IOError, Closed): nothing is written by these. After
  // the append committed: the errors of Projector::Append's catch-up and the
  // state-read errors; the lease is then this worker's.
  virtual Result<std::unique_ptr<RunHandle>> Resume(std::string_view run_id,
                                                    const ResumeOptions& options = {}) = 0;

  // A read-only handle on the run as of event `at_sequence` (its head if
  // past it; 0: before any event): steps answer from the log alone, RunStep
  // never calls a tool, and every write is refused with InvalidArgument.
  // Time checks use the time of event at_sequence. Takes no lease and
  // writes nothing. Errors: the state-read errors (NotFound: no such run).
  virtual Result<std::unique_ptr<RunHandle>> OpenReplay(std::string_view run_id,
                                                        uint64_t at_sequence = UINT64_MAX) = 0;

  // ---- a person's answers ----

  // A person's grant of the pending approval request for `step_id` in the
  // run's current turn and plan (ApprovalGranted by `by`, with `scope` and
  // the person's edit of the arguments, if any). Needs no lease: it is
  // appended under the head it was checked against, and checked again on
  // the new state if another writer appended first (8 attempts in all).
  // Errors: NotFound (no such run; no request for the step in the current
  // turn and plan), InvalidArgument (a scope other than Once or ForRun;
  // `by` empty or over kMaxIdBytes; the request was already answered; the
  // step no longer awaits approval; the request expired: the agent must ask
  // again), Busy (the run moved under each of the 8 attempts), the
  // state-read errors, the errors of Store::Append except Conflict (e.g.
  // InvalidArgument for a `by` with a NUL byte or bad UTF-8, LimitExceeded
  // for edits over Options::max_event_bytes; IOError; Closed): nothing is
  // written by these. After the append committed: the errors of
  // Projector::Append's catch-up; the grant is then recorded.
  virtual Status Grant(std::string_view run_id, std::string_view step_id, std::string_view by,
                       fb::ApprovalScope scope, std::string_view edited_arguments_json = {}) = 0;

  // A person's denial of the pending approval request for `step_id`, with
  // the reason (ApprovalDenied by `by`); as Grant otherwise.
  // Errors: as Grant, but for the scope.
  virtual Status Deny(std::string_view run_id, std::string_view step_id, std::string_view by,
                      std::string_view reason) = 0;

  // ---- recovery and reads ----

  // Every run not completed or failed, with the action due for it now, and
  // every failed run with a step still to compensate (kCompensate), sorted
  // by run id. Runs come from the store's status index, not a scan of
  // events; each run's state is read once. Writes nothing.
  // Errors: the errors of Store::ListRuns; for each run, the state-read
  // errors and those of Store::ReadRun (its RunForked), the message naming
  // the run.
  virtual Result<std::vector<RecoveryItem>> Recover() = 0;

  // Deadlines at or before `at_us` still in force, of runs not finished and
  // (for a step's deadline) steps of the current plan not finished; one per
  // run and step. Candidates come from the store's deadline index (not a
  // scan of events); each candidate run's state is read once. Writes
  // nothing. Errors: the errors of Store::ListDeadlines; for each candidate
  // run, the state-read errors, the message naming the run.
  virtual Result<std::vector<ExpiredDeadline>> ExpiredDeadlines(int64_t at_us) = 0;

  // The current step's slice of the run within `max_bytes`: goal, current
  // step, open questions, the artifacts the step names, then the most
  // recent facts (runtime/README.md, "Context for a model call").
  // Errors: InvalidArgument (max_bytes 0), the state-read errors (NotFound:
  // no such run).
  virtual Result<ModelContext> ContextForModel(std::string_view run_id, size_t max_bytes) = 0;

  // The run's state at its head, checked against the log.
  // Errors: the state-read errors (NotFound: no such run).
  virtual Result<RunState> State(std::string_view run_id) = 0;

  // The run's state as of event `sequence` (0: before any event), checked
  // against the log. Errors: the state-read errors (NotFound: no such run,
  // or `sequence` past its head).
  virtual Result<RunState> StateAt(std::string_view run_id, uint64_t sequence) = 0;

  // The content of artifact `artifact_id` the run recorded (ArtifactStored),
  // read from the store's blobs and checked against its SHA-256.
  // Errors: NotFound (the run holds no such artifact), the state-read
  // errors (NotFound: no such run), the errors of Store::GetBlob (NotFound:
  // the blob is gone; Corruption: it does not hash to the recorded hash).
  virtual Result<std::string> ReadArtifact(std::string_view run_id, std::string_view artifact_id) = 0;

  // ---- what-if branches ----

  // Forks `parent_run_id` after event `at_sequence` as `new_run_id` and
  // records `substitutions` there: a tool output or failure for a step that
  // was running at that point, or an answer to an approval pending then.
  // Nothing runs live; Recover lists the branch as kCounterfactual and
  // Resume refuses it. Compare the branches with Compare. Returns the
  // fork's numbers, last_* covering the substitutions.
  // Errors: the errors of StateAt(parent_run_id, at_sequence);
  // InvalidArgument (two substitutions for one step; an output or failure
  // for a step not running at the fork point; an approval answer with no
  // pending request for the step, or whose `value` is empty or over
  // kMaxIdBytes; an unknown kind); the errors of Store::Fork: nothing is
  // written by any of these. Were the substitutions' append refused after
  // the fork (the errors of Projector::Append: a size limit, I/O), the fork
  // stands without them and the error, with that code, says so.
  virtual Result<AppendResult> Counterfactual(std::string_view parent_run_id, uint64_t at_sequence,
                                              std::string_view new_run_id, std::string_view reason,
                                              std::span<const Substitution> substitutions) = 0;

  // Diff of the run-state projections of two runs' heads, each checked
  // against the log. Errors: the state-read errors of either run.
  virtual Result<std::vector<FieldChange>> Compare(std::string_view run_a, std::string_view run_b) = 0;

  // ---- audit ----

  // Takes the run's digest, verifies the chain against it, then reads the
  // history it covers to report decisions (with the facts as they stood
  // when each was taken), approvals, tool calls and compensations. Writes
  // nothing. Errors: the errors of Store::RunDigest (NotFound: no such run;
  // Corruption), Store::VerifyAgainst (Corruption: the history was edited,
  // cut or rewritten) and Store::ReadRun.
  virtual Result<AuditReport> Audit(std::string_view run_id) = 0;
};

}  // namespace agentlog

#endif  // AGENTLOG_RUNTIME_H_
