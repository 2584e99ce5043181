// runtime/payloads.cc: one small builder per event type. Strings are copied
// into the FlatBuffer as given; the store's verifier checks the result.
#include "runtime/payloads.h"

#include <flatbuffers/flatbuffers.h>

namespace agentlog::runtime {
namespace {

using flatbuffers::FlatBufferBuilder;
using flatbuffers::Offset;

Offset<flatbuffers::String> Str(FlatBufferBuilder& b, std::string_view text) {
  return b.CreateString(text.data(), text.size());
}

Offset<flatbuffers::Vector<uint8_t>> Bytes(FlatBufferBuilder& b, std::string_view bytes) {
  return b.CreateVector(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
}

Offset<flatbuffers::Vector<Offset<flatbuffers::String>>> Strings(
    FlatBufferBuilder& b, const std::vector<std::string>& items) {
  std::vector<Offset<flatbuffers::String>> offsets;
  offsets.reserve(items.size());
  for (const std::string& item : items) offsets.push_back(Str(b, item));
  return b.CreateVector(offsets);
}

template <typename T>
EventInput Finish(FlatBufferBuilder& b, const Envelope& e, fb::Body type, Offset<T> body) {
  b.Finish(fb::CreateEvent(b, type, body.Union()));
  EventInput input;
  input.payload.assign(reinterpret_cast<const char*>(b.GetBufferPointer()), b.GetSize());
  input.turn_id = e.turn_id;
  input.step_id = e.step_id;
  input.causation = e.causation;
  input.actor_kind = e.actor_kind;
  input.actor_id = e.actor_id;
  return input;
}

}  // namespace

EventInput TurnStartedEvent(const Envelope& e, std::string_view message,
                            std::string_view normalized, std::string_view session_id) {
  FlatBufferBuilder b;
  auto m = Str(b, message), n = Str(b, normalized), s = Str(b, session_id);
  return Finish(b, e, fb::Body_TurnStarted, fb::CreateTurnStarted(b, m, n, s));
}

EventInput TurnPlannedEvent(const Envelope& e, uint32_t item_count) {
  FlatBufferBuilder b;
  return Finish(b, e, fb::Body_TurnPlanned, fb::CreateTurnPlanned(b, item_count));
}

EventInput TurnCompletedEvent(const Envelope& e, std::string_view output) {
  FlatBufferBuilder b;
  auto o = Str(b, output);
  return Finish(b, e, fb::Body_TurnCompleted, fb::CreateTurnCompleted(b, o));
}

EventInput TurnFailedEvent(const Envelope& e, std::string_view error) {
  FlatBufferBuilder b;
  auto o = Str(b, error);
  return Finish(b, e, fb::Body_TurnFailed, fb::CreateTurnFailed(b, o));
}

EventInput PlanItemAddedEvent(const Envelope& e, const StepSpec& step, uint32_t ordinal) {
  FlatBufferBuilder b;
  auto id = Str(b, step.id), tool = Str(b, step.tool), args = Str(b, step.arguments_json),
       description = Str(b, step.description);
  return Finish(b, e, fb::Body_PlanItemAdded,
                fb::CreatePlanItemAdded(b, id, ordinal, tool, args, step.confirmation, description));
}

EventInput PlanRevisedEvent(const Envelope& e, std::string_view reason,
                            std::span<const StepSpec> steps) {
  FlatBufferBuilder b;
  std::vector<Offset<fb::PlanItem>> items;
  uint32_t ordinal = 0;
  for (const StepSpec& step : steps) {
    auto id = Str(b, step.id), tool = Str(b, step.tool), args = Str(b, step.arguments_json),
         description = Str(b, step.description);
    items.push_back(
        fb::CreatePlanItem(b, id, ++ordinal, tool, args, step.confirmation, description));
  }
  auto r = Str(b, reason);
  auto v = b.CreateVector(items);
  return Finish(b, e, fb::Body_PlanRevised, fb::CreatePlanRevised(b, r, v));
}

EventInput ToolStartedEvent(const Envelope& e, std::string_view tool, std::string_view arguments,
                            std::string_view key, uint32_t attempt) {
  FlatBufferBuilder b;
  auto t = Str(b, tool), a = Str(b, arguments), k = Str(b, key);
  return Finish(b, e, fb::Body_ToolStarted, fb::CreateToolStarted(b, t, a, k, attempt));
}

EventInput ToolProgressEvent(const Envelope& e, uint64_t done, uint64_t total,
                             std::string_view message) {
  FlatBufferBuilder b;
  auto m = Str(b, message);
  return Finish(b, e, fb::Body_ToolProgress, fb::CreateToolProgress(b, done, total, m));
}

EventInput ToolCompletedEvent(const Envelope& e, std::string_view output,
                              std::string_view artifact_id, std::string_view output_hash) {
  FlatBufferBuilder b;
  auto o = Str(b, output), a = Str(b, artifact_id);
  auto h = Bytes(b, output_hash);
  return Finish(b, e, fb::Body_ToolCompleted, fb::CreateToolCompleted(b, o, a, h));
}

EventInput ToolFailedEvent(const Envelope& e, std::string_view error, bool retryable,
                           uint32_t attempt) {
  FlatBufferBuilder b;
  auto m = Str(b, error);
  return Finish(b, e, fb::Body_ToolFailed, fb::CreateToolFailed(b, m, retryable, attempt));
}

EventInput RetryScheduledEvent(const Envelope& e, uint32_t attempt, uint64_t backoff_ms,
                               int64_t not_before_us) {
  FlatBufferBuilder b;
  return Finish(b, e, fb::Body_RetryScheduled,
                fb::CreateRetryScheduled(b, attempt, backoff_ms, not_before_us));
}

EventInput ApprovalRequestedEvent(const Envelope& e, fb::ConfirmationMode mode,
                                  std::string_view request, int64_t expires_at_us) {
  FlatBufferBuilder b;
  auto r = Str(b, request);
  return Finish(b, e, fb::Body_ApprovalRequested,
                fb::CreateApprovalRequested(b, mode, r, expires_at_us));
}

EventInput ApprovalGrantedEvent(const Envelope& e, std::string_view by, fb::ApprovalScope scope,
                                std::string_view edited_arguments) {
  FlatBufferBuilder b;
  auto g = Str(b, by), a = Str(b, edited_arguments);
  return Finish(b, e, fb::Body_ApprovalGranted, fb::CreateApprovalGranted(b, g, scope, a));
}

EventInput ApprovalDeniedEvent(const Envelope& e, std::string_view by, std::string_view reason) {
  FlatBufferBuilder b;
  auto d = Str(b, by), r = Str(b, reason);
  return Finish(b, e, fb::Body_ApprovalDenied, fb::CreateApprovalDenied(b, d, r));
}

EventInput CompensationRecordedEvent(const Envelope& e, std::string_view step_id,
                                     std::string_view tool, std::string_view arguments,
                                     std::string_view key) {
  FlatBufferBuilder b;
  auto s = Str(b, step_id), t = Str(b, tool), a = Str(b, arguments), k = Str(b, key);
  return Finish(b, e, fb::Body_CompensationRecorded,
                fb::CreateCompensationRecorded(b, s, t, a, k));
}

EventInput DecisionRecordedEvent(const Envelope& e, const DecisionSpec& decision) {
  FlatBufferBuilder b;
  auto c = Str(b, decision.choice);
  auto alternatives = Strings(b, decision.alternatives);
  auto r = Str(b, decision.rationale);
  auto facts = Strings(b, decision.fact_keys);
  return Finish(b, e, fb::Body_DecisionRecorded,
                fb::CreateDecisionRecorded(b, c, alternatives, r, facts));
}

EventInput FactAddedEvent(const Envelope& e, std::string_view key, std::string_view value,
                          std::string_view source) {
  FlatBufferBuilder b;
  auto k = Str(b, key), v = Str(b, value), s = Str(b, source);
  return Finish(b, e, fb::Body_FactAdded, fb::CreateFactAdded(b, k, v, s));
}

EventInput QuestionOpenedEvent(const Envelope& e, std::string_view id, std::string_view text) {
  FlatBufferBuilder b;
  auto i = Str(b, id), t = Str(b, text);
  return Finish(b, e, fb::Body_QuestionOpened, fb::CreateQuestionOpened(b, i, t));
}

EventInput QuestionResolvedEvent(const Envelope& e, std::string_view id, std::string_view answer) {
  FlatBufferBuilder b;
  auto i = Str(b, id), a = Str(b, answer);
  return Finish(b, e, fb::Body_QuestionResolved, fb::CreateQuestionResolved(b, i, a));
}

EventInput ArtifactStoredEvent(const Envelope& e, std::string_view id, std::string_view media_type,
                               std::string_view summary, uint64_t size,
                               std::string_view content_hash) {
  FlatBufferBuilder b;
  auto i = Str(b, id), m = Str(b, media_type), s = Str(b, summary);
  auto h = Bytes(b, content_hash);
  return Finish(b, e, fb::Body_ArtifactStored, fb::CreateArtifactStored(b, i, m, s, size, h));
}

EventInput MessageAppendedEvent(const Envelope& e, std::string_view role, std::string_view text) {
  FlatBufferBuilder b;
  auto r = Str(b, role), t = Str(b, text);
  return Finish(b, e, fb::Body_MessageAppended, fb::CreateMessageAppended(b, r, t));
}

EventInput ConversationCompactedEvent(const Envelope& e, std::string_view summary, uint64_t first,
                                      uint64_t last) {
  FlatBufferBuilder b;
  auto s = Str(b, summary);
  return Finish(b, e, fb::Body_ConversationCompacted,
                fb::CreateConversationCompacted(b, s, first, last));
}

EventInput BudgetSetEvent(const Envelope& e, uint64_t max_steps, uint64_t max_tokens,
                          uint64_t max_wall_time_ms) {
  FlatBufferBuilder b;
  return Finish(b, e, fb::Body_BudgetSet,
                fb::CreateBudgetSet(b, max_steps, max_tokens, max_wall_time_ms));
}

EventInput BudgetConsumedEvent(const Envelope& e, uint64_t steps, uint64_t tokens,
                               uint64_t wall_time_ms) {
  FlatBufferBuilder b;
  return Finish(b, e, fb::Body_BudgetConsumed,
                fb::CreateBudgetConsumed(b, steps, tokens, wall_time_ms));
}

EventInput RunPausedEvent(const Envelope& e, std::string_view trigger, int64_t timeout_at_us) {
  FlatBufferBuilder b;
  auto t = Str(b, trigger);
  return Finish(b, e, fb::Body_RunPaused, fb::CreateRunPaused(b, t, timeout_at_us));
}

EventInput RunResumedEvent(const Envelope& e, std::string_view reason) {
  FlatBufferBuilder b;
  auto r = Str(b, reason);
  return Finish(b, e, fb::Body_RunResumed, fb::CreateRunResumed(b, r));
}

EventInput DeadlineSetEvent(const Envelope& e, int64_t deadline_at_us, std::string_view step_id) {
  FlatBufferBuilder b;
  auto s = Str(b, step_id);
  return Finish(b, e, fb::Body_DeadlineSet, fb::CreateDeadlineSet(b, deadline_at_us, s));
}

EventInput LeaseAcquiredEvent(const Envelope& e, std::string_view holder, uint64_t epoch,
                              uint64_t ttl_ms) {
  FlatBufferBuilder b;
  auto h = Str(b, holder);
  return Finish(b, e, fb::Body_LeaseAcquired, fb::CreateLeaseAcquired(b, h, epoch, ttl_ms));
}

EventInput LeaseReleasedEvent(const Envelope& e, std::string_view holder, uint64_t epoch) {
  FlatBufferBuilder b;
  auto h = Str(b, holder);
  return Finish(b, e, fb::Body_LeaseReleased, fb::CreateLeaseReleased(b, h, epoch));
}

EventInput CheckpointMarkedEvent(const Envelope& e, std::string_view label) {
  FlatBufferBuilder b;
  auto l = Str(b, label);
  return Finish(b, e, fb::Body_CheckpointMarked, fb::CreateCheckpointMarked(b, l));
}

}  // namespace agentlog::runtime
