// runtime/log_check.cc: the runtime's run states rest on the log. A state
// may start from a snapshot -- a cache outside the chain, which any code
// with the store can write (Store::PutSnapshot) -- so before the runtime
// lets a state decide a side effect, the facts in it that permit one are
// checked against the events they came from: each decided approval against
// its ApprovalGranted or ApprovalDenied, each completed step (whose
// recorded output is the exactly-once answer) against its ToolCompleted.
// A state that fails is replaced by the fold of the events alone. The cost
// is one event read per decided approval and per completed step of the
// current plan, not the run's length.
//
// What this does not catch: a snapshot that hides a later event (a step it
// says is pending, whose completion is in the log before the snapshot's
// event) needs the fold to be seen; `agentlog verify` compares every
// run-state snapshot with the fold (Projector::VerifySnapshots).
#include "runtime/runtime_impl.h"

namespace agentlog::runtime {
namespace {

std::string_view Text(const flatbuffers::String* text) {
  return text == nullptr ? std::string_view() : std::string_view(text->c_str(), text->size());
}

std::string_view Bytes(const flatbuffers::Vector<uint8_t>* bytes) {
  return bytes == nullptr ? std::string_view()
                          : std::string_view(reinterpret_cast<const char*>(bytes->data()), bytes->size());
}

Status Unbacked(std::string_view run_id, const std::string& fact, uint64_t sequence, const std::string& log) {
  return Status::Corruption("run " + std::string(run_id) + ": the state says " + fact + " at event " +
                            std::to_string(sequence) + ", but " + log);
}

// Whether `event` answers `approval`, found as the fold finds it
// (projections/run_state_format.md): by its step id, else by the request
// it names as its causation, else as an approval of its own.
bool Answers(const Event& event, const RunState::Approval& approval) {
  if (!event.step_id().empty()) return event.step_id() == approval.key;
  if (event.causation() != 0 && event.causation() == approval.requested_sequence) return true;
  return approval.key == "#" + std::to_string(event.sequence());
}

// Whether `event` is the decision `approval` records.
bool Decides(const Event& event, const RunState::Approval& approval) {
  const fb::Event* body = event.body();
  if (body == nullptr || !Answers(event, approval)) return false;
  if (approval.decision == RunState::ApprovalDecision::kGranted) {
    const fb::ApprovalGranted* granted = body->body_as_ApprovalGranted();
    return granted != nullptr && Text(granted->granted_by()) == approval.decided_by &&
           granted->scope() == approval.scope &&
           Text(granted->edited_arguments_json()) == approval.edited_arguments_json;
  }
  const fb::ApprovalDenied* denied = body->body_as_ApprovalDenied();
  return denied != nullptr && Text(denied->denied_by()) == approval.decided_by &&
         Text(denied->reason()) == approval.denial_reason;
}

// Whether `event` is the completion `item` records.
bool Completes(const Event& event, const RunState::PlanItem& item) {
  const fb::Event* body = event.body();
  const fb::ToolCompleted* completed = body == nullptr ? nullptr : body->body_as_ToolCompleted();
  return completed != nullptr && event.step_id() == item.id && Text(completed->output()) == item.output &&
         Text(completed->artifact_id()) == item.artifact_id && Bytes(completed->output_hash()) == item.output_hash;
}

}  // namespace

Status RuntimeImpl::CheckStateAgainstLog(std::string_view run_id, const RunState& state) {
  // Reads the event a fact names; NotFound and "after the state" are the
  // fact's failure, any other error the read's.
  auto event_at = [&](uint64_t sequence, Status* error) -> std::optional<Event> {
    if (sequence == 0 || sequence > state.last_sequence) return std::nullopt;
    Result<Event> event = options_.store->ReadEvent(run_id, sequence);
    if (event.ok()) return std::move(event).value();
    if (!event.status().IsNotFound()) *error = event.status();
    return std::nullopt;
  };
  for (const RunState::Approval& approval : state.approvals) {
    if (approval.decision == RunState::ApprovalDecision::kPending) continue;
    Status error;
    std::optional<Event> event = event_at(approval.decided_sequence, &error);
    if (!error.ok()) return error;
    if (!event || !Decides(*event, approval)) {
      return Unbacked(run_id, "approval " + approval.key + " was " +
                                  std::string(ApprovalDecisionName(approval.decision)) + " by " +
                                  approval.decided_by,
                      approval.decided_sequence, "the log holds no such decision there");
    }
  }
  for (const RunState::PlanItem& item : state.plan) {
    if (item.status != RunState::StepStatus::kCompleted) continue;
    Status error;
    std::optional<Event> event = event_at(item.completed_sequence, &error);
    if (!error.ok()) return error;
    if (!event || !Completes(*event, item)) {
      return Unbacked(run_id, "step " + item.id + " completed", item.completed_sequence,
                      "the log holds no such completion there");
    }
  }
  return Status::OK();
}

Result<std::unique_ptr<ProjectionState>> RuntimeImpl::LogBackedStateAt(std::string_view run_id,
                                                                      uint64_t sequence) {
  Result<std::unique_ptr<ProjectionState>> state =
      projector_->StateAt(run_id, kRunStateProjectionName, sequence);
  if (!state.ok()) return state;
  Status backed = CheckStateAgainstLog(run_id, AsRunState(**state));
  if (backed.ok()) return state;
  if (!backed.IsCorruption()) return backed;
  // A snapshot the log does not back (the facts above are read from the
  // log, checked as every read is): the fold of the events alone is what
  // the log says, by construction.
  return log_only_projector_->StateAt(run_id, kRunStateProjectionName, sequence);
}

}  // namespace agentlog::runtime
