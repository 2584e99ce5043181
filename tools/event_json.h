// tools/event_json.h: one stored event as one JSON object, for `agentlog log`
// and `agentlog demo`.
//
// The envelope fields come from agentlog::Event's accessors; the payload is
// rendered from the FlatBuffers schema itself (schema/events.fbs, compiled
// into libagentlog), with flatbuffers::Parser and GenerateText, so a new
// event type or field shows up here without a printer written for it.
//
// Output shape (one line per event, keys in this order):
//   {"run":..., "seq":..., "position":..., "time_us":..., "type":"ToolStarted",
//    "type_number":7, "schema_version":1, "turn":..., "step":..., "causation":...,
//    "idempotency_key":..., "actor":{"kind":"agent","id":...},
//    "payload_sha256":"<hex>", "chain":"<hex>", "payload_removed":false,
//    "payload":{"body_type":"ToolStarted","body":{...}}}
// A payload of a type newer than this build becomes
// {"unknown_type": N, "bytes_hex": "..."}; one GenerateText cannot print (a
// string that is not UTF-8) becomes {"unrenderable_type": N, "reason": ...,
// "bytes_hex": ...}; a removed payload becomes null.
#ifndef AGENTLOG_TOOLS_EVENT_JSON_H_
#define AGENTLOG_TOOLS_EVENT_JSON_H_

#include <memory>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "agentlog/agentlog.h"

namespace flatbuffers {
class Parser;
}  // namespace flatbuffers

namespace agentlog_tools {

// "agent", "user", "system", "tool", or "unknown(N)".
std::string ActorKindName(agentlog::ActorKind kind);

// Renders events as JSON. Parses the schema once, in the constructor.
// Not thread-safe (flatbuffers::Parser is not): one renderer per thread.
class EventRenderer {
 public:
  EventRenderer();
  ~EventRenderer();
  EventRenderer(const EventRenderer&) = delete;
  EventRenderer& operator=(const EventRenderer&) = delete;

  // The event as a JSON object (see the file comment). Never throws for
  // unknown or unrenderable payloads: they fall back to hex.
  nlohmann::ordered_json ToJson(const agentlog::Event& event);

  // ToJson, serialized on one line. Invalid UTF-8 in ids is replaced by
  // U+FFFD rather than producing invalid JSON.
  std::string ToJsonLine(const agentlog::Event& event);

 private:
  nlohmann::ordered_json RenderPayload(const agentlog::Event& event);

  std::unique_ptr<flatbuffers::Parser> parser_;
};

// A run's metadata as a JSON object (hashes in hex).
nlohmann::ordered_json RunInfoToJson(const agentlog::RunInfo& info);

// `json` on one line, replacing invalid UTF-8 instead of throwing.
std::string DumpLine(const nlohmann::ordered_json& json);

}  // namespace agentlog_tools

#endif  // AGENTLOG_TOOLS_EVENT_JSON_H_
