// runtime/payloads.h: builds the FlatBuffers payload of each event the
// runtime writes (schema/events.fbs), wrapped in an EventInput with its
// envelope ids and actor.
#ifndef AGENTLOG_RUNTIME_PAYLOADS_H_
#define AGENTLOG_RUNTIME_PAYLOADS_H_

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "agentlog/event.h"
#include "agentlog/runtime.h"

namespace agentlog::runtime {

// The envelope of one event: whose it is and what it belongs to.
struct Envelope {
  std::string turn_id;
  std::string step_id;
  ActorKind actor_kind = ActorKind::kAgent;
  std::string actor_id;
  uint64_t causation = 0;
};

EventInput TurnStartedEvent(const Envelope& e, std::string_view message,
                            std::string_view normalized, std::string_view session_id);
EventInput TurnPlannedEvent(const Envelope& e, uint32_t item_count);
EventInput TurnCompletedEvent(const Envelope& e, std::string_view output);
EventInput TurnFailedEvent(const Envelope& e, std::string_view error);
EventInput PlanItemAddedEvent(const Envelope& e, const StepSpec& step, uint32_t ordinal);
EventInput PlanRevisedEvent(const Envelope& e, std::string_view reason,
                            std::span<const StepSpec> steps);
EventInput ToolStartedEvent(const Envelope& e, std::string_view tool, std::string_view arguments,
                            std::string_view key, uint32_t attempt);
EventInput ToolProgressEvent(const Envelope& e, uint64_t done, uint64_t total,
                             std::string_view message);
// output_hash: SHA-256 of the output (raw); output empty when artifact_id is set.
EventInput ToolCompletedEvent(const Envelope& e, std::string_view output,
                              std::string_view artifact_id, std::string_view output_hash);
EventInput ToolFailedEvent(const Envelope& e, std::string_view error, bool retryable,
                           uint32_t attempt);
EventInput RetryScheduledEvent(const Envelope& e, uint32_t attempt, uint64_t backoff_ms,
                               int64_t not_before_us);
EventInput ApprovalRequestedEvent(const Envelope& e, fb::ConfirmationMode mode,
                                  std::string_view request, int64_t expires_at_us);
EventInput ApprovalGrantedEvent(const Envelope& e, std::string_view by, fb::ApprovalScope scope,
                                std::string_view edited_arguments);
EventInput ApprovalDeniedEvent(const Envelope& e, std::string_view by, std::string_view reason);
EventInput CompensationRecordedEvent(const Envelope& e, std::string_view step_id,
                                     std::string_view tool, std::string_view arguments,
                                     std::string_view key);
EventInput DecisionRecordedEvent(const Envelope& e, const DecisionSpec& decision);
EventInput FactAddedEvent(const Envelope& e, std::string_view key, std::string_view value,
                          std::string_view source);
EventInput QuestionOpenedEvent(const Envelope& e, std::string_view id, std::string_view text);
EventInput QuestionResolvedEvent(const Envelope& e, std::string_view id, std::string_view answer);
EventInput ArtifactStoredEvent(const Envelope& e, std::string_view id, std::string_view media_type,
                               std::string_view summary, uint64_t size,
                               std::string_view content_hash);
EventInput MessageAppendedEvent(const Envelope& e, std::string_view role, std::string_view text);
EventInput ConversationCompactedEvent(const Envelope& e, std::string_view summary, uint64_t first,
                                      uint64_t last);
EventInput BudgetSetEvent(const Envelope& e, uint64_t max_steps, uint64_t max_tokens,
                          uint64_t max_wall_time_ms);
EventInput BudgetConsumedEvent(const Envelope& e, uint64_t steps, uint64_t tokens,
                               uint64_t wall_time_ms);
EventInput RunPausedEvent(const Envelope& e, std::string_view trigger, int64_t timeout_at_us);
EventInput RunResumedEvent(const Envelope& e, std::string_view reason);
EventInput DeadlineSetEvent(const Envelope& e, int64_t deadline_at_us, std::string_view step_id);
EventInput LeaseAcquiredEvent(const Envelope& e, std::string_view holder, uint64_t epoch,
                              uint64_t ttl_ms);
EventInput LeaseReleasedEvent(const Envelope& e, std::string_view holder, uint64_t epoch);
EventInput CheckpointMarkedEvent(const Envelope& e, std::string_view label);

}  // namespace agentlog::runtime

#endif  // AGENTLOG_RUNTIME_PAYLOADS_H_
