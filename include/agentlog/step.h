// agentlog/step.h: one step of an agent's plan -- what the agent proposes,
// what the tool is called with and gives back, where the step stands, how a
// failed step is retried, and the idempotency key of its tool call.
//
// These are values: RunHandle (agentlog/run_handle.h) takes and returns
// them, and runtime/README.md ("Step rules", "Retries") has the rules that
// decide them. The functions here are pure: no I/O, no clock, no error.
//
// Thread safety: values, safe to read concurrently; writing one needs the
// caller's synchronization. Every function may be called from any thread.
#ifndef AGENTLOG_STEP_H_
#define AGENTLOG_STEP_H_

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>

#include "agentlog/export.h"
#include "agentlog/event.h"

namespace agentlog {

// How a failed step is retried. Backoff before attempt n+1 (after n failed):
// d = min(max_backoff_ms, base_backoff_ms * 2^(n-1)), then "equal jitter":
// d/2 + a uniform draw in [0, d/2]. Recorded in RetryScheduled; the policy
// itself is not recorded (RuntimeOptions::retry_policy).
struct RetryPolicy {
  uint32_t max_attempts = 3;        // in all, the first included; 1: never retry
  uint64_t base_backoff_ms = 1000;
  uint64_t max_backoff_ms = 60000;
};

// The wait, in milliseconds, before attempt failed_attempts + 1 under
// `policy`, given a uniform 64-bit draw (the formula above; failed_attempts
// 0 counts as 1). Saturates instead of overflowing. Pure; no errors.
AGENTLOG_EXPORT uint64_t RetryBackoffMs(const RetryPolicy& policy, uint32_t failed_attempts, uint64_t draw);

// The idempotency key of a step's tool call: "al1-" and 32 hex digits of
// SHA-256 over (run, turn, step, tool, SHA-256(arguments)), each
// length-prefixed. The same call always gives the same key; retries keep
// it, so the tool side can de-duplicate across attempts; the same step id
// in another turn gets another key. Pure; no errors.
AGENTLOG_EXPORT std::string StepIdempotencyKey(std::string_view run_id, std::string_view turn_id,
                               std::string_view step_id, std::string_view tool,
                               std::string_view arguments_json);

// One plan item as the agent proposes it (RunHandle::Plan, RevisePlan).
struct StepSpec {
  std::string id;                  // unique in the plan; the envelope step_id of its events
  std::string tool;                // required
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
  std::string error;               // when !ok; must not be empty (RunHandle::FailStep)
  bool retryable = false;          // when !ok: may a retry succeed?
  // A success with `output`.
  static ToolResult Success(std::string output) { return {true, std::move(output), {}, false}; }
  // A failure with `error` (give one: an empty error is refused when recorded).
  static ToolResult Failure(std::string error, bool retryable) {
    return {false, {}, std::move(error), retryable};
  }
};

// A tool as RunHandle::RunStep calls it: on RunStep's own thread, once the
// step is recorded as started and before its outcome is, with no check of
// the handle in progress, so it may report progress through the same handle
// (RunHandle::ReportProgress).
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
// The action's name, e.g. "awaiting_approval"; "unknown" for a value not above.
AGENTLOG_EXPORT std::string_view StepActionName(StepAction action);

// The answer of RunHandle::BeginStep and RunStep.
struct StepOutcome {
  StepAction action = StepAction::kRun;
  ToolCall call;                   // kRun, kInDoubt; the last call otherwise, if any
  std::string output;              // kCompleted
  int64_t at_us = 0;               // kAwaitingApproval, kApprovalExpired, kRetryLater, kDeadlinePassed
  std::string detail;              // a sentence a person can act on
  bool tool_called = false;        // RunStep: the tool was called by this call
  bool in_doubt = false;           // RunStep: it was in doubt; the tool was called with its key
};

// The answer of RunHandle::FailStep.
struct FailureOutcome {
  bool retry_scheduled = false;    // a RetryScheduled was recorded
  uint32_t next_attempt = 0;
  uint64_t backoff_ms = 0;
  int64_t not_before_us = 0;
  bool turn_failed = false;        // attempts exhausted or not retryable: TurnFailed recorded
};

}  // namespace agentlog

#endif  // AGENTLOG_STEP_H_
