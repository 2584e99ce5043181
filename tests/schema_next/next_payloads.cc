// tests/schema_next/next_payloads.cc: see next_payloads.h. The only file
// that includes the future schema's generated code.
#include "schema_next/next_payloads.h"

#include <cstring>
#include <vector>

#include "events_next_generated.h"

namespace agentlog::testing::next {
namespace {

namespace fbn = agentlog::fb_next;

std::string Finish(flatbuffers::FlatBufferBuilder& builder, fbn::Body type,
                   flatbuffers::Offset<void> body) {
  fbn::FinishEventBuffer(builder, fbn::CreateEvent(builder, type, body));
  return std::string(reinterpret_cast<const char*>(builder.GetBufferPointer()), builder.GetSize());
}

// The verified root of `payload` with the future schema, read from an
// 8-byte aligned copy (FlatBuffers readers need aligned input).
const fbn::Event* Root(std::string_view payload, std::vector<uint64_t>* aligned) {
  aligned->assign((payload.size() + 7) / 8, 0);
  std::memcpy(aligned->data(), payload.data(), payload.size());
  const auto* bytes = reinterpret_cast<const uint8_t*>(aligned->data());
  flatbuffers::Verifier verifier(bytes, payload.size());
  if (!fbn::VerifyEventBuffer(verifier)) return nullptr;
  return fbn::GetEvent(bytes);
}

}  // namespace

uint16_t ToolCancelledType() { return static_cast<uint16_t>(fbn::Body_ToolCancelled); }
uint16_t MaxKnownEventType() { return static_cast<uint16_t>(fbn::Body_MAX); }

std::string ToolCancelledPayload(const std::string& reason) {
  flatbuffers::FlatBufferBuilder builder;
  auto body = fbn::CreateToolCancelledDirect(builder, reason.c_str());
  return Finish(builder, fbn::Body_ToolCancelled, body.Union());
}

std::string MessageWithTokenCountPayload(const std::string& role, const std::string& text,
                                         uint64_t token_count) {
  flatbuffers::FlatBufferBuilder builder;
  auto body = fbn::CreateMessageAppendedDirect(builder, role.c_str(), text.c_str(), token_count);
  return Finish(builder, fbn::Body_MessageAppended, body.Union());
}

std::string ToolFailedWithCodePayload(const std::string& error, bool retryable, uint32_t attempt,
                                      const std::string& error_code) {
  flatbuffers::FlatBufferBuilder builder;
  auto body =
      fbn::CreateToolFailedDirect(builder, error.c_str(), retryable, attempt, error_code.c_str());
  return Finish(builder, fbn::Body_ToolFailed, body.Union());
}

std::optional<std::string> ToolCancelledReason(std::string_view payload) {
  std::vector<uint64_t> aligned;
  const fbn::Event* event = Root(payload, &aligned);
  if (event == nullptr || event->body_as_ToolCancelled() == nullptr) return std::nullopt;
  const auto* reason = event->body_as_ToolCancelled()->reason();
  return reason != nullptr ? reason->str() : std::string();
}

std::optional<uint64_t> MessageTokenCount(std::string_view payload) {
  std::vector<uint64_t> aligned;
  const fbn::Event* event = Root(payload, &aligned);
  if (event == nullptr || event->body_as_MessageAppended() == nullptr) return std::nullopt;
  return event->body_as_MessageAppended()->token_count();
}

std::optional<std::string> ToolFailedErrorCode(std::string_view payload) {
  std::vector<uint64_t> aligned;
  const fbn::Event* event = Root(payload, &aligned);
  if (event == nullptr || event->body_as_ToolFailed() == nullptr) return std::nullopt;
  const auto* code = event->body_as_ToolFailed()->error_code();
  return code != nullptr ? code->str() : std::string();
}

}  // namespace agentlog::testing::next
