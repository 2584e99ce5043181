// runtime/step_rules.h: the runtime's rules as pure functions of a RunState
// and a time -- where a step stands, whether a lease is live, what still
// needs compensating. Pure so that a worker, Recover and a replay agree,
// and so that tests can check each rule without a store.
#ifndef AGENTLOG_RUNTIME_STEP_RULES_H_
#define AGENTLOG_RUNTIME_STEP_RULES_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "agentlog/run_state.h"
#include "agentlog/runtime.h"

namespace agentlog::runtime {

// Where `item` stands at `now_us`. A kRun answer carries the call to make
// (attempt, arguments after any edit, key); nothing is checked against the
// budget here (see BudgetError). REQUIRES: item is in state.plan.
StepOutcome EvaluateStep(const RunState& state, const RunState::PlanItem& item, int64_t now_us);

// An error naming the spent budget, or OK. created_us: the run's first event.
Status BudgetError(const RunState& state, int64_t created_us, int64_t now_us);

// True when the run's lease is held and its holder has written within
// ttl (last_event_us + ttl). *expires_us is that instant.
bool LeaseLive(const RunState& state, int64_t last_event_us, int64_t now_us, int64_t* expires_us);

// Mutating steps whose effect may have happened and that no
// CompensationRecorded undoes: failed for good after starting, or left in
// doubt in a turn that has ended; in plan order.
std::vector<std::string> StepsNeedingCompensation(const RunState& state);

// "2026-11-22T18:59:26Z" for details; "never" for 0.
std::string FormatTimeUs(int64_t time_us);

// The step a worker works on next: the current step if it is not done,
// else the first planned item not completed; nullptr when every item is done.
const RunState::PlanItem* NextStep(const RunState& state);

// Approvals count only when given in the current window: after the current
// turn started and after the plan's last revision. The window's first
// sequence (exclusive).
uint64_t ApprovalWindowStart(const RunState& state);
// The step's approval request if it was made in the current window.
const RunState::Approval* CurrentRequest(const RunState& state, std::string_view step_id);

// Like StepIdempotencyKey, in a domain of its own ("al1u-"): the key of the
// call that undoes a step.
std::string CompensationIdempotencyKey(std::string_view run_id, std::string_view turn_id,
                                       std::string_view step_id, std::string_view tool,
                                       std::string_view arguments_json);

bool StepFinished(RunState::StepStatus status);  // completed, failed, denied, compensated
bool RunFinished(RunStatus status);              // completed or failed

}  // namespace agentlog::runtime

#endif  // AGENTLOG_RUNTIME_STEP_RULES_H_
