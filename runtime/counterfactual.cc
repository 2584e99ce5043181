// runtime/counterfactual.cc: "what if" branches. A fork of the run at an
// event, with recorded answers substituted: a tool output or failure for a
// step running at that point, or a person's answer to a pending approval.
// Nothing runs live; every substitution is checked against the state at the
// fork point before anything is written.
#include <set>

#include "base/crypto.h"
#include "runtime/runtime_impl.h"
#include "runtime/step_rules.h"

namespace agentlog::runtime {
namespace {

// A recorded tool outcome for a step that was running at the fork point:
// the branch then reads as if the tool had answered so.
Result<EventInput> ToolOutcomeEvent(const RunState& state, const Substitution& sub,
                                    const std::string& where, const Envelope& e) {
  const RunState::PlanItem* item = state.FindPlanItem(sub.step_id);
  if (item == nullptr || item->status != RunState::StepStatus::kRunning) {
    return Status::InvalidArgument(where + " is " +
                                   (item == nullptr ? std::string("not in the plan")
                                                    : "not running (" +
                                                          std::string(StepStatusName(item->status)) + ")") +
                                   ": fork at its ToolStarted to substitute an outcome");
  }
  if (sub.kind == Substitution::Kind::kToolOutput) {
    const internal::Hash hash = internal::Sha256(sub.value);
    return ToolCompletedEvent(e, sub.value, "", internal::HashView(hash));
  }
  return ToolFailedEvent(e, sub.value, false, item->attempts);
}

// A person's answer to the approval pending at the fork point; `sub.value`
// names the person, who is the answer's actor.
Result<EventInput> ApprovalAnswerEvent(const RunState& state, const Substitution& sub,
                                       const std::string& where, Envelope e) {
  const RunState::Approval* approval = state.FindApproval(sub.step_id);
  if (approval == nullptr || approval->decision != RunState::ApprovalDecision::kPending) {
    return Status::InvalidArgument(where + " has no pending approval request");
  }
  if (sub.value.empty() || sub.value.size() > kMaxIdBytes) {
    return Status::InvalidArgument(where + ": say who answered (1 to " +
                                   std::to_string(kMaxIdBytes) + " bytes)");
  }
  e.actor_kind = ActorKind::kUser;
  e.actor_id = sub.value;
  return sub.kind == Substitution::Kind::kApprovalGranted
             ? ApprovalGrantedEvent(e, sub.value, fb::ApprovalScope_Once, "")
             : ApprovalDeniedEvent(e, sub.value, "counterfactual");
}

Result<EventInput> SubstitutionEvent(const RunState& state, const Substitution& sub,
                                     const std::string& where, const Envelope& e) {
  switch (sub.kind) {
    case Substitution::Kind::kToolOutput:
    case Substitution::Kind::kToolFailure:
      return ToolOutcomeEvent(state, sub, where, e);
    case Substitution::Kind::kApprovalGranted:
    case Substitution::Kind::kApprovalDenied:
      return ApprovalAnswerEvent(state, sub, where, e);
    default:
      return Status::InvalidArgument(where + ": unknown substitution kind");
  }
}

// The events that record `substitutions` on the branch, each checked
// against `state`, the parent's state at the fork point. Nothing is written
// here, so a bad substitution leaves no fork behind.
Result<std::vector<EventInput>> SubstitutionEvents(const RuntimeImpl& runtime, const RunState& state,
                                                   std::string_view parent_run_id,
                                                   uint64_t at_sequence,
                                                   std::span<const Substitution> substitutions) {
  std::vector<EventInput> events;
  std::set<std::string_view> substituted;
  for (const Substitution& sub : substitutions) {
    if (!substituted.insert(sub.step_id).second) {
      return Status::InvalidArgument("Counterfactual: step " + sub.step_id +
                                     " has two substitutions; give one answer per step");
    }
    const std::string where = "Counterfactual: step " + sub.step_id + " at event " +
                              std::to_string(at_sequence) + " of run " + std::string(parent_run_id);
    Envelope e = runtime.AgentEnvelope(state, sub.step_id);
    e.actor_kind = ActorKind::kSystem;
    e.actor_id = kCounterfactualActor;
    Result<EventInput> event = SubstitutionEvent(state, sub, where, e);
    if (!event.ok()) return event.status();
    events.push_back(std::move(event.value()));
  }
  return events;
}

}  // namespace

Result<AppendResult> RuntimeImpl::Counterfactual(std::string_view parent_run_id,
                                                 uint64_t at_sequence, std::string_view new_run_id,
                                                 std::string_view reason,
                                                 std::span<const Substitution> substitutions) {
  Result<RunState> at = StateAt(parent_run_id, at_sequence);
  if (!at.ok()) return at.status();
  Result<std::vector<EventInput>> events =
      SubstitutionEvents(*this, *at, parent_run_id, at_sequence, substitutions);
  if (!events.ok()) return events.status();
  ForkOptions fork;
  fork.durability = options_.durability;
  fork.reason = std::string(reason);
  fork.actor_id = kCounterfactualActor;  // how Recover and Resume tell the branch apart
  Result<AppendResult> forked = options_.store->Fork(parent_run_id, at_sequence, new_run_id, fork);
  if (!forked.ok()) return forked.status();
  if (events->empty()) return forked;
  AppendOptions append;
  append.durability = options_.durability;
  append.expected_head = forked->last_sequence;
  // The fork exists now; were this append refused (a size limit, I/O), the
  // fork stands without substitutions, and the error, with its own code,
  // says so.
  Result<AppendResult> recorded = projector_->Append(new_run_id, *events, append);
  if (!recorded.ok()) {
    return InRun(new_run_id, WithMessage(recorded.status(),
                                         "forked, but recording the substitutions failed: " +
                                             recorded.status().message()));
  }
  AppendResult result = *forked;
  result.last_sequence = recorded->last_sequence;
  result.last_position = recorded->last_position;
  return result;
}

}  // namespace agentlog::runtime
