// agentlog/projection.h: views folded from a run's events.
//
// A projection is a pure, deterministic fold (state, event) -> state with a
// name, a version and a byte encoding of its state. The same events give
// byte-identical encodings, so a snapshot (a stored encoding) is only a
// cache: deleting every snapshot changes no answer, only its speed.
//
// Embedders write their own projections and register them with a Projector
// (agentlog/projector.h), which runs them; agentlog's own run-state
// projection (agentlog/run_state.h) is written the same way.
//
// Errors: only Projection::Decode returns one (Corruption); every other
// method here has none.
//
// Thread safety: a Projector calls a registered Projection from every
// thread that calls the Projector, at once, so a Projection's methods must
// be safe to call concurrently: keep no mutable members (a pure fold has
// none). A ProjectionState is a value with no lock: the Projector gives
// each one to one thread at a time (its cached states are Cloned under its
// own mutex), and a caller that shares one needs its own synchronization.
// An EventView is valid only during the Apply it is passed to.
#ifndef AGENTLOG_PROJECTION_H_
#define AGENTLOG_PROJECTION_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agentlog/export.h"
#include "agentlog/event.h"
#include "agentlog/status.h"

namespace agentlog {

// What a projection is shown of one event: the stored envelope, and the
// body in the schema version this build reads (old versions are upcast
// first; see agentlog/upcaster.h).
class AGENTLOG_EXPORT EventView {
 public:
  // A view of `event` with `body` (its payload, upcast, or nullptr); both
  // must outlive the view.
  EventView(const Event& event, const fb::Event* body) : event_(event), body_(body) {}
  // Run, sequence, time, turn and step ids, actor, ...
  const Event& envelope() const { return event_; }
  // nullptr when the payload was removed by policy.
  const fb::Event* body() const { return body_; }
  // The event's type, from the envelope (known even when body() is nullptr).
  EventType type() const { return event_.type(); }

 private:
  const Event& event_;
  const fb::Event* body_;
};

// One field of a state, for diffs and display: {"plan.fetch.status", "completed"}.
struct StateField {
  std::string path;
  std::string value;
};

class AGENTLOG_EXPORT ProjectionState {
 public:
  virtual ~ProjectionState() = default;
  // Deterministic: equal states encode to equal bytes, and the projection's
  // Decode(Encode()) gives a state that encodes to the same bytes.
  virtual std::string Encode() const = 0;
  // Every field, sorted by path, each path once. Items of a list are keyed
  // by a stable id (not their index) so that a diff lines them up.
  virtual std::vector<StateField> Fields() const = 0;
  // An independent copy that encodes to the same bytes.
  virtual std::unique_ptr<ProjectionState> Clone() const = 0;
};

class AGENTLOG_EXPORT Projection {
 public:
  virtual ~Projection() = default;
  // Stable across versions; [A-Za-z0-9._:-]{1,128}.
  virtual std::string_view name() const = 0;
  // Bump whenever Apply or the encoding changes: snapshots of another
  // version are ignored and rebuilt from events.
  virtual uint32_t version() const = 0;
  // The state before any event.
  virtual std::unique_ptr<ProjectionState> Initial() const = 0;
  // REQUIRES: `state` came from this projection. Pure: the result depends
  // only on `state` and `event` (no clock, no I/O, no globals). Total:
  // events it cannot read -- a type newer than the build, a payload removed
  // by policy (body() == nullptr) -- are skipped, never misread; a
  // projection may still count them or note their sequence.
  virtual void Apply(ProjectionState& state, const EventView& event) const = 0;
  // A state from Encode's bytes. Errors: Corruption if they are not a
  // state of this version.
  virtual Result<std::unique_ptr<ProjectionState>> Decode(std::string_view bytes) const = 0;
  // The sequence of the last event folded into `state`, if the state records
  // it (nullopt, the default: it does not). The projector then bypasses a
  // snapshot whose state says another event than the one it is stored
  // under. REQUIRES: `state` came from this projection.
  virtual std::optional<uint64_t> StateSequence(const ProjectionState& state) const {
    (void)state;
    return std::nullopt;
  }
};

// One difference between two states of the same projection.
struct FieldChange {
  enum class Kind : uint8_t { kAdded, kRemoved, kChanged };
  Kind kind;
  std::string path;
  std::string before;  // empty for kAdded
  std::string after;   // empty for kRemoved
};
AGENTLOG_EXPORT std::string_view FieldChangeKindName(FieldChange::Kind kind);  // "added", ...

// What changed from `before` to `after`, in path order: "what did step 6
// change" is Diff(StateAt(5), StateAt(6)).
AGENTLOG_EXPORT std::vector<FieldChange> Diff(const ProjectionState& before, const ProjectionState& after);

}  // namespace agentlog

#endif  // AGENTLOG_PROJECTION_H_
