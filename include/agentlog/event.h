// agentlog/event.h: what a caller appends and what a reader gets back.
//
// A payload is a FlatBuffer whose root is agentlog.fb.Event (schema/events.fbs,
// installed as agentlog/events_generated.h). The store wraps it in an envelope
// (run, sequence, global position, time, chain hash; see
// engine/record_format.md) and never changes its bytes.
#ifndef AGENTLOG_EVENT_H_
#define AGENTLOG_EVENT_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include "agentlog/export.h"
#include "agentlog/events_generated.h"

namespace agentlog {

namespace fb {
struct Record;
}  // namespace fb
namespace internal {
class StoreImpl;
}  // namespace internal

// The payload schema version this build writes and reads. Bumped when an
// event's meaning changes (with an upcaster, a later feature).
constexpr uint16_t kEventSchemaVersion = 1;

// Stored as a byte: never renumber.
enum class ActorKind : uint8_t { kAgent = 0, kUser = 1, kSystem = 2, kTool = 3 };

// Event type numbers are the schema's union positions (fb::Body).
using EventType = uint16_t;

// "ToolFailed" for a known type, "unknown(57)" otherwise.
AGENTLOG_EXPORT std::string EventTypeName(EventType type);
// The highest event type this build knows.
constexpr EventType kMaxKnownEventType = static_cast<EventType>(fb::Body_MAX);
// The text of schema/events.fbs this build writes and reads payloads with:
// a flatbuffers::Parser given it renders any payload as JSON (the agentlog
// tool's `log` does) without a printer per event type.
AGENTLOG_EXPORT std::string_view EventsSchemaText();

// One event to append.
struct EventInput {
  // REQUIRES: a FlatBuffer with root agentlog.fb.Event and a body set.
  std::string payload;
  // Ids are UTF-8 text without NUL, at most kMaxIdBytes each.
  std::string turn_id;    // the turn it belongs to, if any
  std::string step_id;    // the step it belongs to, if any
  uint64_t causation = 0; // sequence of the event that caused it; 0: none
  ActorKind actor_kind = ActorKind::kAgent;
  std::string actor_id;   // who, within actor_kind
  uint16_t schema_version = kEventSchemaVersion;
};

// One stored event, checked when it was read. Owns its bytes; every
// string_view it returns lives as long as the Event. Cheap to move.
class AGENTLOG_EXPORT Event {
 public:

  std::string_view run_id() const;
  uint64_t sequence() const;
  uint64_t global_position() const;
  int64_t timestamp_us() const;
  EventType type() const;
  std::string type_name() const { return EventTypeName(type()); }
  uint16_t schema_version() const;
  std::string_view turn_id() const;
  std::string_view step_id() const;
  uint64_t causation() const;
  std::string_view idempotency_key() const;
  ActorKind actor_kind() const;
  std::string_view actor_id() const;
  // SHA-256 of the payload bytes (32 bytes), kept even if the payload is removed.
  std::string_view payload_hash() const;
  // The chain hash of this record (32 bytes).
  std::string_view chain_hash() const;
  // True when retention or redaction removed the payload (a later feature).
  bool payload_removed() const;
  // The payload bytes exactly as appended; empty if removed.
  std::string_view payload() const;
  // A zero-copy view of the payload; nullptr if removed. For a type this
  // build does not know, body_type() is that number and the typed
  // accessors (body_as_X) return nullptr.
  const fb::Event* body() const;
  // The whole stored frame, for export and audits (engine/record_format.md).
  std::string_view frame() const { return frame_; }

 private:
  friend class internal::StoreImpl;  // the only maker: every Event is read and checked
  // REQUIRES: frame passed every read check (engine/record_codec.cc CheckRecord).
  explicit Event(std::string frame) : frame_(std::move(frame)) {}
  // The stored envelope (schema/record.fbs), which the accessors above read:
  // an on-disk layout, not part of the contract.
  const fb::Record* record() const;

  std::string frame_;  // checked frame: header, then a Record FlatBuffer
};

}  // namespace agentlog

#endif  // AGENTLOG_EVENT_H_
