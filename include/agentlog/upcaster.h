// agentlog/upcaster.h: old events, new code.
//
// Every record carries the payload schema version it was written with
// (Event::schema_version()). When an event's meaning changes, the schema
// version is bumped and an upcaster is registered that turns a payload of
// the old version into the next one. On read, a Projector runs the steps
// one at a time (v1 -> v2 -> v3) so projections only ever see the current
// shape. The stored bytes never change: the chain still verifies.
#ifndef AGENTLOG_UPCASTER_H_
#define AGENTLOG_UPCASTER_H_

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <utility>

#include "agentlog/export.h"
#include "agentlog/event.h"
#include "agentlog/status.h"

namespace agentlog {

// Turns a payload (a FlatBuffer with root agentlog.fb.Event) of one version
// into the next version's bytes, keeping its event type. Must be pure, and
// safe to call from several threads at once (Projectors upcast on every
// thread that folds). An error it returns reaches the reader as Corruption
// (UpcasterRegistry::Upcast).
using Upcaster = std::function<Result<std::string>(std::string_view payload)>;

// The steps that bring old payloads to the current schema version.
//
// Thread safety: Register is not synchronized: register everything before
// sharing the registry (e.g. in ProjectorOptions); from then on it is
// read-only and current_version, NeedsUpcast and Upcast may run on any
// number of threads.
class AGENTLOG_EXPORT UpcasterRegistry {
 public:
  // `current_version` is the version projections expect; tests and embedders
  // with their own versioning may set it, everyone else keeps the default.
  explicit UpcasterRegistry(uint16_t current_version = kEventSchemaVersion);

  // The version Upcast brings payloads to.
  uint16_t current_version() const { return current_version_; }

  // Registers the step from `from_version` to from_version + 1 for events of
  // `type`. Errors: InvalidArgument (type 0, from_version 0 or not below the
  // current version, no function, a step already registered).
  Status Register(EventType type, uint16_t from_version, Upcaster upcaster);

  // True when a payload of `type` at `version` has steps to run. No errors.
  bool NeedsUpcast(EventType type, uint16_t version) const;

  // The payload in the current version: every registered step for `type`
  // from `version` up, in order. A version with no step for this type did
  // not change it, so the bytes pass through; a version newer than current
  // passes through too (FlatBuffers lets old code read newer tables).
  // Errors: Corruption naming the type and the failing step when a step
  // fails or yields bytes that are not a verified Event of the same type.
  Result<std::string> Upcast(EventType type, uint16_t version, std::string payload) const;

 private:
  uint16_t current_version_;
  std::map<std::pair<EventType, uint16_t>, Upcaster> steps_;
};

}  // namespace agentlog

#endif  // AGENTLOG_UPCASTER_H_
