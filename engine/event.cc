// engine/event.cc: accessors over a checked record frame.
#include "agentlog/event.h"

#include "agentlog/record_generated.h"
#include "engine/frame.h"
#include "engine/record_codec.h"

namespace agentlog {

using internal::BytesOf;
using internal::StringOf;

std::string EventTypeName(EventType type) {
  if (type >= 1 && type <= kMaxKnownEventType) {
    return fb::EnumNameBody(static_cast<fb::Body>(type));
  }
  return "unknown(" + std::to_string(type) + ")";
}

const fb::Record* Event::record() const {
  return fb::GetRecord(frame_.data() + internal::kFrameHeaderBytes);
}

std::string_view Event::run_id() const { return StringOf(record()->run_id()); }
uint64_t Event::sequence() const { return record()->sequence(); }
uint64_t Event::global_position() const { return record()->global_position(); }
int64_t Event::timestamp_us() const { return record()->timestamp_us(); }
EventType Event::type() const { return record()->event_type(); }
uint16_t Event::schema_version() const { return record()->schema_version(); }
std::string_view Event::turn_id() const { return StringOf(record()->turn_id()); }
std::string_view Event::step_id() const { return StringOf(record()->step_id()); }
uint64_t Event::causation() const { return record()->causation(); }
std::string_view Event::idempotency_key() const { return StringOf(record()->idempotency_key()); }
ActorKind Event::actor_kind() const { return static_cast<ActorKind>(record()->actor_kind()); }
std::string_view Event::actor_id() const { return StringOf(record()->actor_id()); }
std::string_view Event::payload_hash() const { return BytesOf(record()->payload_hash()); }
std::string_view Event::chain_hash() const { return BytesOf(record()->chain_hash()); }
bool Event::payload_removed() const {
  return record()->payload_state() == fb::PayloadState_Removed;
}
std::string_view Event::payload() const {
  if (payload_removed()) return {};
  return BytesOf(record()->payload());
}
const fb::Event* Event::body() const {
  if (payload_removed()) return nullptr;
  return record()->payload_nested_root();
}

}  // namespace agentlog
