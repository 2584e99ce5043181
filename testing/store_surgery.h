// testing/store_surgery.h: tools for the integrity tests (corruption_test.cc,
// verify_test.cc) that damage a store on purpose through the backend seam:
// read, overwrite and delete stored values, and decode a stored record into
// an owned, editable copy that re-encodes with a valid frame checksum (an
// attacker's edit, as opposed to accidental damage).
//
// Header-only so that it needs no build change; every helper REQUIREs that
// the backend call succeeds, so a failing test points at the surgery.
#ifndef AGENTLOG_TESTING_STORE_SURGERY_H_
#define AGENTLOG_TESTING_STORE_SURGERY_H_

#include <catch2/catch.hpp>
#include <string>
#include <string_view>

#include "engine/backend.h"
#include "engine/frame.h"
#include "engine/keys.h"
#include "engine/meta_codec.h"
#include "engine/record_codec.h"
#include "testing/test_util.h"

namespace agentlog::testing {

// The stored value of `key` in `space`; REQUIREs that it exists.
inline std::string StoredValue(Store& store, internal::Space space, std::string_view key) {
  std::string value;
  Status status = BackendOf(store).Get(space, key, &value);
  INFO("reading " << internal::SpaceName(space) << " key of " << key.size()
                  << " bytes: " << status.ToString());
  REQUIRE(status.ok());
  return value;
}

inline bool HasKey(Store& store, internal::Space space, std::string_view key) {
  std::string value;
  Status status = BackendOf(store).Get(space, key, &value);
  REQUIRE((status.ok() || status.IsNotFound()));
  return status.ok();
}

inline void PutValue(Store& store, internal::Space space, std::string key, std::string value) {
  internal::WriteSet writes;
  writes.Put(space, std::move(key), std::move(value));
  Status status = BackendOf(store).Write(writes, /*sync=*/false);
  INFO(status.ToString());
  REQUIRE(status.ok());
}

inline void DeleteKey(Store& store, internal::Space space, std::string key) {
  internal::WriteSet writes;
  writes.Delete(space, std::move(key));
  Status status = BackendOf(store).Write(writes, /*sync=*/false);
  INFO(status.ToString());
  REQUIRE(status.ok());
}

inline std::string StoredRecord(Store& store, std::string_view run_id, uint64_t sequence) {
  return StoredValue(store, internal::Space::kEvents, internal::EventKey(run_id, sequence));
}

inline void PutRecord(Store& store, std::string_view run_id, uint64_t sequence, std::string frame) {
  PutValue(store, internal::Space::kEvents, internal::EventKey(run_id, sequence), std::move(frame));
}

// A stored record decoded into owned fields, to edit and re-encode.
struct OwnedRecord {
  std::string run_id;
  uint64_t sequence = 0;
  uint64_t global_position = 0;
  int64_t timestamp_us = 0;
  uint16_t event_type = 0;
  uint16_t schema_version = 0;
  std::string turn_id;
  std::string step_id;
  uint64_t causation = 0;
  std::string idempotency_key;
  uint8_t actor_kind = 0;
  std::string actor_id;
  internal::Hash payload_hash{};
  internal::Hash chain_hash{};
  bool payload_removed = false;
  std::string payload;

  // The envelope as the chain sees it; views point into this object.
  internal::Envelope envelope() const {
    internal::Envelope envelope;
    envelope.run_id = run_id;
    envelope.sequence = sequence;
    envelope.global_position = global_position;
    envelope.timestamp_us = timestamp_us;
    envelope.event_type = event_type;
    envelope.schema_version = schema_version;
    envelope.turn_id = turn_id;
    envelope.step_id = step_id;
    envelope.causation = causation;
    envelope.idempotency_key = idempotency_key;
    envelope.actor_kind = actor_kind;
    envelope.actor_id = actor_id;
    envelope.payload_hash = payload_hash;
    return envelope;
  }

  // A correctly framed record (fresh checksum) with these fields, through
  // the engine's own encoder. REQUIRES: !payload_removed.
  std::string Encode() const {
    REQUIRE_FALSE(payload_removed);
    return internal::EncodeRecord(envelope(), chain_hash, payload);
  }
};

// Decodes a frame that passes CheckRecord; REQUIREs that it does.
inline OwnedRecord DecodeRecord(const std::string& frame, std::string_view run_id, uint64_t sequence) {
  const fb::Record* record = nullptr;
  Status status = internal::CheckRecord(frame, run_id, sequence, &record);
  INFO(status.ToString());
  REQUIRE(status.ok());
  const internal::Envelope envelope = internal::EnvelopeOf(record);
  OwnedRecord owned;
  owned.run_id = std::string(envelope.run_id);
  owned.sequence = envelope.sequence;
  owned.global_position = envelope.global_position;
  owned.timestamp_us = envelope.timestamp_us;
  owned.event_type = envelope.event_type;
  owned.schema_version = envelope.schema_version;
  owned.turn_id = std::string(envelope.turn_id);
  owned.step_id = std::string(envelope.step_id);
  owned.causation = envelope.causation;
  owned.idempotency_key = std::string(envelope.idempotency_key);
  owned.actor_kind = envelope.actor_kind;
  owned.actor_id = std::string(envelope.actor_id);
  owned.payload_hash = envelope.payload_hash;
  owned.chain_hash = internal::HashOf(record->chain_hash());
  owned.payload_removed = record->payload_state() == fb::PayloadState_Removed;
  owned.payload = std::string(internal::BytesOf(record->payload()));
  return owned;
}

inline OwnedRecord LoadRecord(Store& store, std::string_view run_id, uint64_t sequence) {
  return DecodeRecord(StoredRecord(store, run_id, sequence), run_id, sequence);
}

// Overwrites run `info.run_id`'s metadata with `info`, framed correctly.
inline void PutRunMeta(Store& store, const RunInfo& info) {
  PutValue(store, internal::Space::kRuns, internal::RunKey(info.run_id),
           internal::EncodeRunMeta(info));
}

inline RunInfo RunInfoOf(Store& store, std::string_view run_id) {
  auto info = store.GetRun(run_id);
  INFO(info.status().ToString());
  REQUIRE(info.ok());
  return *info;
}

// `run "R" event N`, the way every corruption message names a record.
inline std::string NameOf(std::string_view run_id, uint64_t sequence) {
  return "run \"" + std::string(run_id) + "\" event " + std::to_string(sequence);
}

}  // namespace agentlog::testing

#endif  // AGENTLOG_TESTING_STORE_SURGERY_H_
