// agentlog/recovery.h: what is due for each unfinished run after a restart
// (Runtime::Recover), and which deadlines have passed
// (Runtime::ExpiredDeadlines).
//
// These are values built from the log by the runtime (agentlog/runtime.h);
// runtime/README.md ("Recovery", "Deadlines") has the rules that choose
// them. Thread safety: values, safe to read concurrently; writing one needs
// the caller's synchronization. RecoveryActionName may be called from any
// thread.
#ifndef AGENTLOG_RECOVERY_H_
#define AGENTLOG_RECOVERY_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "agentlog/export.h"
#include "agentlog/store.h"

namespace agentlog {

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
// The action's name, e.g. "retry_at"; "unknown" for a value not above.
AGENTLOG_EXPORT std::string_view RecoveryActionName(RecoveryAction action);

// One run of Runtime::Recover's answer.
struct RecoveryItem {
  std::string run_id;
  RunStatus status = RunStatus::kCreated;  // from the runs index
  RecoveryAction action = RecoveryAction::kStartTurn;
  std::string step_id;             // the step the action is about (empty: the run)
  int64_t at_us = 0;               // the time the action names (see RecoveryAction)
  std::string holder;              // kLeaseHeld: the worker holding the lease
  std::string detail;              // one line for a person
  // Failed mutating steps whose effect may have happened and which no
  // CompensationRecorded undoes yet.
  std::vector<std::string> needs_compensation;
};

// One deadline of Runtime::ExpiredDeadlines' answer: in force, passed, of a
// run and (for a step deadline) a step still open.
struct ExpiredDeadline {
  std::string run_id;
  std::string step_id;             // empty: the run's deadline
  int64_t deadline_at_us = 0;
};

}  // namespace agentlog

#endif  // AGENTLOG_RECOVERY_H_
