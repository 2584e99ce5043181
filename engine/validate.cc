// engine/validate.cc: input checks. Each refusal says which input, what was
// expected, what was found, and what to do.
#include "engine/validate.h"

#include "agentlog/store.h"  // ValidateRunId
#include "base/assert.h"
#include "engine/keys.h"
#include "engine/record_codec.h"

namespace agentlog::internal {
namespace {

// Names one event of an append in messages. Built only when a message is,
// so that a valid append allocates no text (this runs on every append).
struct InputName {
  std::string_view run_id;
  size_t index = 0;  // 0-based
  size_t count = 0;
  std::string str() const {
    return "run \"" + std::string(run_id) + "\" append event " + std::to_string(index + 1) +
           " of " + std::to_string(count);
  }
  std::string str(std::string_view field) const { return str() + ": " + std::string(field); }
};

}  // namespace

namespace {

// Ids are text people read in logs and JSON: UTF-8, no NUL, bounded.
Status ValidateField(const std::string& value, size_t limit, const InputName& where,
                     std::string_view field) {
  if (value.size() > limit) {
    const std::string what = where.str(field);
    return Status::LimitExceeded(what + " is " + std::to_string(value.size()) +
                                 " bytes; the limit is " + std::to_string(limit));
  }
  return ValidateText(value, where.str(field));
}

// Verifies the payload as a FlatBuffer with root agentlog.fb.Event. The
// FlatBuffers readers need 8-byte aligned input; a std::string's small
// inline buffer may not be, so such a payload is checked from a copy.
Status CheckPayload(const EventInput& input, const Options& limits, const InputName& where,
                    PreparedEvent* prepared) {
  const std::string& payload = input.payload;
  if (payload.empty()) return Status::InvalidArgument(where.str() + ": payload is empty");
  if (payload.size() > limits.max_event_bytes) {
    return Status::LimitExceeded(where.str() + ": payload is " + std::to_string(payload.size()) +
                                 " bytes; Options::max_event_bytes is " +
                                 std::to_string(limits.max_event_bytes) +
                                 "; store large outputs as artifacts");
  }
  std::string aligned_copy;
  const char* data = payload.data();
  if (reinterpret_cast<uintptr_t>(data) % 8 != 0) {
    aligned_copy.reserve(payload.size() + 8);
    aligned_copy = payload;
    data = aligned_copy.data();
  }
  flatbuffers::Verifier::Options verifier_options;
  verifier_options.max_depth = 32;
  verifier_options.max_tables = 100000;
  flatbuffers::Verifier verifier(reinterpret_cast<const uint8_t*>(data), payload.size(),
                                 verifier_options);
  if (!fb::VerifyEventBuffer(verifier)) {
    return Status::InvalidArgument(
        where.str() + ": payload is not a valid agentlog.fb.Event FlatBuffer (the verifier refused "
               "it); build it with FlatBufferBuilder and FinishEventBuffer");
  }
  const fb::Event* event = fb::GetEvent(data);
  const auto type = static_cast<EventType>(event->body_type());
  if (type == 0 || event->body() == nullptr) {
    return Status::InvalidArgument(where.str() + ": payload has no body; set one of the event types "
                                          "of schema/events.fbs");
  }
  if (type > kMaxKnownEventType && !limits.accept_unknown_event_types) {
    return Status::InvalidArgument(
        where.str() + ": event type " + std::to_string(type) + " is unknown to this build (it knows 1.." +
        std::to_string(kMaxKnownEventType) +
        "); upgrade agentlog, or set Options::accept_unknown_event_types");
  }
  prepared->facts = FactsOf(type, event);
  const EventFacts& facts = prepared->facts;
  if (type == fb::Body_LeaseAcquired) {
    if (facts.lease_holder.empty() || facts.lease_epoch == 0) {
      return Status::InvalidArgument(where.str() + ": LeaseAcquired needs a holder and an epoch >= 1");
    }
    return ValidateField(facts.lease_holder, kMaxIdBytes, where, "lease holder");
  }
  if (type == fb::Body_DeadlineSet) {
    // The scope step becomes part of a deadline index key: bound it as the
    // envelope's step id is bounded.
    return ValidateField(facts.deadline_step_id, kMaxIdBytes, where, "DeadlineSet scope step id");
  }
  return Status::OK();
}

// The checks of an append as a whole, before its events: their count and
// the options.
Status ValidateAppendOptions(std::string_view run_id, size_t event_count, const AppendOptions& options,
                             const Options& limits) {
  // Built only for a message: this runs on every append.
  const auto run_name = [&] { return RunName(run_id); };
  if (event_count == 0) return Status::InvalidArgument(run_name() + ": append of no events");
  if (event_count > limits.max_append_events) {
    return Status::LimitExceeded(run_name() + ": append of " + std::to_string(event_count) +
                                 " events; Options::max_append_events is " +
                                 std::to_string(limits.max_append_events));
  }
  if (!options.session_id.empty()) {
    Status status = ValidateName(options.session_id, "session id");
    if (!status.ok()) return status;
  }
  if (options.idempotency_key.size() > kMaxIdempotencyKeyBytes) {
    return Status::LimitExceeded(run_name() + ": idempotency key is " +
                                 std::to_string(options.idempotency_key.size()) +
                                 " bytes; the limit is " + std::to_string(kMaxIdempotencyKeyBytes));
  }
  if (options.idempotency_key.find('\0') != std::string::npos) {
    return Status::InvalidArgument(run_name() + ": idempotency key contains a NUL byte");
  }
  if (options.durability != Durability::kSync && options.durability != Durability::kBuffered) {
    return Status::InvalidArgument(run_name() + ": unknown durability " +
                                   std::to_string(static_cast<int>(options.durability)));
  }
  return Status::OK();
}

// The envelope fields of one event the caller chose.
Status ValidateEnvelopeFields(const EventInput& input, const InputName& where) {
  for (const auto& [value, name] : {std::pair{&input.turn_id, "turn id"},
                                    std::pair{&input.step_id, "step id"},
                                    std::pair{&input.actor_id, "actor id"}}) {
    Status status = ValidateField(*value, kMaxIdBytes, where, name);
    if (!status.ok()) return status;
  }
  if (static_cast<uint8_t>(input.actor_kind) > static_cast<uint8_t>(ActorKind::kTool)) {
    return Status::InvalidArgument(where.str() + ": unknown actor kind " +
                                   std::to_string(static_cast<int>(input.actor_kind)));
  }
  if (input.schema_version == 0) {
    return Status::InvalidArgument(where.str() + ": schema version 0; use kEventSchemaVersion");
  }
  return Status::OK();
}

// Adds one event's part of the canonical bytes an idempotent repeat must
// match (engine/record_format.md, IdempotencyEntry.request_hash).
void AppendRequestBytes(const EventInput& input, const Hash& payload_hash, std::string* request) {
  request->append(HashView(payload_hash));
  PutLengthPrefixed64(request, input.turn_id);
  PutLengthPrefixed64(request, input.step_id);
  PutBigEndian64(request, input.causation);
  request->push_back(static_cast<char>(input.actor_kind));
  PutLengthPrefixed64(request, input.actor_id);
  PutBigEndian64(request, input.schema_version);
}

}  // namespace

Status ValidateAppend(std::string_view run_id, std::span<const EventInput> events,
                      const AppendOptions& options, const Options& limits,
                      std::vector<PreparedEvent>* prepared, Hash* request_hash) {
  Status status = ValidateName(run_id, "run id");
  if (!status.ok()) return status;
  status = ValidateAppendOptions(run_id, events.size(), options, limits);
  if (!status.ok()) return status;
  size_t total_bytes = 0;
  prepared->clear();
  prepared->reserve(events.size());
  // Only an append with a key needs the request bytes.
  const bool keyed = !options.idempotency_key.empty();
  std::string request;
  if (keyed) PutLengthPrefixed64(&request, run_id);
  for (size_t i = 0; i < events.size(); ++i) {
    const EventInput& input = events[i];
    const InputName where{run_id, i, events.size()};
    total_bytes += input.payload.size();
    if (total_bytes > limits.max_append_bytes) {
      return Status::LimitExceeded(RunName(run_id) + ": append carries more than " +
                                   std::to_string(limits.max_append_bytes) +
                                   " payload bytes (Options::max_append_bytes); split it");
    }
    status = ValidateEnvelopeFields(input, where);
    if (!status.ok()) return status;
    PreparedEvent event;
    event.input = &input;
    status = CheckPayload(input, limits, where, &event);
    if (!status.ok()) return status;
    event.payload_hash = Sha256(input.payload);
    if (keyed) AppendRequestBytes(input, event.payload_hash, &request);
    prepared->push_back(std::move(event));
  }
  *request_hash = keyed ? Sha256(request) : Hash{};
  AGENTLOG_ASSERT(prepared->size() == events.size());
  return Status::OK();
}

}  // namespace agentlog::internal

namespace agentlog {
Status ValidateRunId(std::string_view run_id) { return internal::ValidateName(run_id, "run id"); }
}  // namespace agentlog
