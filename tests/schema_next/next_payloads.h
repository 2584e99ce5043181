// tests/schema_next/next_payloads.h: payloads written by a "future" agentlog
// (tests/schema_next/events_next.fbs, namespace agentlog.fb_next), built in a
// translation unit of their own so that no test file sees both generated
// catalogues. Used by tests/schema_evolution_test.cc.
#ifndef AGENTLOG_TESTS_SCHEMA_NEXT_NEXT_PAYLOADS_H_
#define AGENTLOG_TESTS_SCHEMA_NEXT_NEXT_PAYLOADS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace agentlog::testing::next {

// The union member number of ToolCancelled in the future schema.
uint16_t ToolCancelledType();
// The highest event type the future schema knows (fb_next::Body_MAX).
uint16_t MaxKnownEventType();

// Event{ body: ToolCancelled{ reason } }, a type this build does not know.
std::string ToolCancelledPayload(const std::string& reason);
// Event{ body: MessageAppended{ role, text, token_count } }: a known table
// with a field appended after the ones this build knows.
std::string MessageWithTokenCountPayload(const std::string& role, const std::string& text,
                                         uint64_t token_count);
// Event{ body: ToolFailed{ error, retryable, attempt, error_code } }.
std::string ToolFailedWithCodePayload(const std::string& error, bool retryable, uint32_t attempt,
                                      const std::string& error_code);

// Reads payloads back with the future schema (after verifying them with
// its verifier); nullopt if the payload is not of that type or fails.
std::optional<std::string> ToolCancelledReason(std::string_view payload);
std::optional<uint64_t> MessageTokenCount(std::string_view payload);
std::optional<std::string> ToolFailedErrorCode(std::string_view payload);

}  // namespace agentlog::testing::next

#endif  // AGENTLOG_TESTS_SCHEMA_NEXT_NEXT_PAYLOADS_H_
