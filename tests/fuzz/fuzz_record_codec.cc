// tests/fuzz/fuzz_record_codec.cc: the decoders of every stored value
// (engine/frame.h, engine/record_codec.h, engine/meta_codec.h) over
// arbitrary bytes.
//
// Input: kind:u8  sequence:u8  value...  (kind picks the decoder; a
// snapshot's value is meta:lp16 then state). The key a value is checked
// against is run "fuzz-run", projection "run_state", that sequence.
//
// Properties, besides "returns a Status, never crashes":
//   - a frame that CheckFrame accepts is exactly EncodeFrame(kind, body):
//     the header has one valid form;
//   - a value a decoder accepts re-encodes, through the engine's own
//     encoder, to a value that decodes to the same fields (records: the
//     same envelope, hashes and payload), and that re-encoding is a fixed
//     point (encoding the decoded copy again gives the same bytes).
#include <algorithm>
#include <cstdint>
#include <string>

#include "engine/frame.h"
#include "engine/meta_codec.h"
#include "engine/record_codec.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

using namespace agentlog;
using namespace agentlog::internal;
using agentlog::fuzz::InputReader;

constexpr std::string_view kRun = "fuzz-run";
constexpr std::string_view kProjection = "run_state";

// Everything CheckRecord vouches for, owned, so two decodings compare.
struct DecodedRecord {
  std::string run_id, turn_id, step_id, idempotency_key, actor_id, payload;
  uint64_t sequence = 0, global_position = 0, causation = 0;
  int64_t timestamp_us = 0;
  uint16_t event_type = 0, schema_version = 0;
  uint8_t actor_kind = 0;
  Hash payload_hash{}, chain_hash{};
  bool removed = false;
  bool operator==(const DecodedRecord&) const = default;

  Envelope envelope() const {
    return Envelope{run_id,  sequence,        global_position, timestamp_us, event_type,
                    schema_version, turn_id, step_id, causation, idempotency_key,
                    actor_kind, actor_id, payload_hash};
  }
  std::string Encode() const {
    return removed ? EncodeTombstone(envelope(), chain_hash)
                   : EncodeRecord(envelope(), chain_hash, payload);
  }
};

Status DecodeRecord(const std::string& frame, uint64_t sequence, DecodedRecord* out) {
  const fb::Record* record = nullptr;
  Status status = CheckRecord(frame, kRun, sequence, &record);
  if (!status.ok()) return status;
  const Envelope envelope = EnvelopeOf(record);
  *out = DecodedRecord{std::string(envelope.run_id), std::string(envelope.turn_id),
                       std::string(envelope.step_id), std::string(envelope.idempotency_key),
                       std::string(envelope.actor_id), std::string(BytesOf(record->payload())),
                       envelope.sequence, envelope.global_position, envelope.causation,
                       envelope.timestamp_us, envelope.event_type, envelope.schema_version,
                       envelope.actor_kind, envelope.payload_hash, HashOf(record->chain_hash()),
                       record->payload_state() == fb::PayloadState_Removed};
  return Status::OK();
}

void CheckRecordRoundTrip(const std::string& frame, uint64_t sequence) {
  DecodedRecord decoded;
  if (!DecodeRecord(frame, sequence, &decoded).ok()) return;
  FUZZ_CHECK(decoded.run_id == kRun && decoded.sequence == sequence, "accepted under another key");
  FUZZ_CHECK(decoded.removed || !decoded.payload.empty(), "present but empty payload accepted");
  // CheckRecord looks at one record alone and does not promise a position
  // >= 1 (Verify checks positions along the run); the encoder REQUIRES it.
  if (decoded.global_position == 0) return;
  const std::string encoded = decoded.Encode();
  DecodedRecord again;
  Status status = DecodeRecord(encoded, sequence, &again);
  FUZZ_CHECK(status.ok(), "re-encoded record refused: " + status.ToString());
  FUZZ_CHECK(again == decoded, "re-encoded record decodes to other fields");
  FUZZ_CHECK(again.Encode() == encoded, "record encoding is not a fixed point");
}

bool SameEntry(const SnapshotEntry& a, const SnapshotEntry& b) {
  return a.sequence == b.sequence && a.status.code() == b.status.code() &&
         a.version == b.version && a.chain_hash == b.chain_hash && a.state == b.state;
}

void CheckSnapshotRoundTrip(InputReader& input, uint64_t sequence) {
  const std::string meta = input.LengthPrefixed();
  const std::string state = input.Rest();
  SnapshotEntry listed;  // metadata only, as ReadSnapshots lists
  DecodeSnapshot(meta, nullptr, kRun, kProjection, sequence, &listed);
  SnapshotEntry entry;
  DecodeSnapshot(meta, &state, kRun, kProjection, sequence, &entry);
  FUZZ_CHECK(entry.status.ok() || entry.state.empty(), "damaged snapshot returned its state");
  FUZZ_CHECK(listed.status.ok() || !entry.status.ok(), "state check passed a refused metadata");
  if (!entry.status.ok()) return;
  FUZZ_CHECK(entry.chain_hash.size() == kHashBytes, "snapshot chain hash not 32 bytes");
  const SnapshotValues encoded =
      EncodeSnapshot(kRun, kProjection, entry.version, sequence, entry.chain_hash, entry.state);
  SnapshotEntry again;
  DecodeSnapshot(encoded.meta, &encoded.state, kRun, kProjection, sequence, &again);
  FUZZ_CHECK(again.status.ok(), again.status.ToString());
  FUZZ_CHECK(SameEntry(entry, again), "re-encoded snapshot decodes to other fields");
  FUZZ_CHECK(encoded.state == state, "snapshot state frame has another valid form");
}

void CheckRunMetaRoundTrip(const std::string& frame) {
  RunInfo info;
  if (!DecodeRunMeta(frame, kRun, &info).ok()) return;
  const std::string encoded = EncodeRunMeta(info);
  RunInfo again;
  Status status = DecodeRunMeta(encoded, kRun, &again);
  FUZZ_CHECK(status.ok(), "re-encoded run metadata refused: " + status.ToString());
  FUZZ_CHECK(fuzz::SameRunInfo(info, again, /*with_session=*/true), "run metadata changed");
  FUZZ_CHECK(EncodeRunMeta(again) == encoded, "run metadata encoding is not a fixed point");
}

void CheckIdempotencyRoundTrip(const std::string& frame) {
  IdempotencyRecord record;
  if (!DecodeIdempotency(frame, "fuzz-key", &record).ok()) return;
  FUZZ_CHECK(record.result.replayed, "a stored idempotency entry answers as a replay");
  const std::string encoded = EncodeIdempotency(record);
  IdempotencyRecord again;
  Status status = DecodeIdempotency(encoded, "fuzz-key", &again);
  FUZZ_CHECK(status.ok(), "re-encoded idempotency entry refused: " + status.ToString());
  FUZZ_CHECK(again.run_id == record.run_id && again.request_hash == record.request_hash &&
                 again.result.first_sequence == record.result.first_sequence &&
                 again.result.last_sequence == record.result.last_sequence &&
                 again.result.first_position == record.result.first_position &&
                 again.result.last_position == record.result.last_position,
             "idempotency entry changed");
}

// Any kind byte, including ones no build writes: CheckFrame must refuse
// a kind other than the one asked for, whatever the checksum says.
void CheckFrameForm(const std::string& frame, uint8_t kind_byte) {
  const auto kind = static_cast<FrameKind>(kind_byte);
  std::string_view body;
  if (!CheckFrame(frame, kind, "fuzz value", &body).ok()) return;
  FUZZ_CHECK(static_cast<uint8_t>(frame[8]) == kind_byte, "frame of another kind accepted");
  FUZZ_CHECK(EncodeFrame(kind, body) == frame, "an accepted frame is not EncodeFrame's");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  InputReader input(data, size);
  const uint8_t kind = input.Byte();
  // Readers never ask for sequence 0 (the encoder REQUIRES >= 1).
  const uint64_t sequence = std::max<uint64_t>(1, input.Byte());
  if (kind == static_cast<uint8_t>(FrameKind::kSnapshotV1)) {
    CheckSnapshotRoundTrip(input, sequence);
    return 0;
  }
  // A std::string: heap storage is 8-byte aligned, as the decoders' callers
  // guarantee for FlatBuffers (engine/frame.h AlignedFrame).
  const std::string value = input.Rest();
  CheckFrameForm(value, kind);
  switch (static_cast<FrameKind>(kind)) {
    case FrameKind::kRecordV1:
      CheckRecordRoundTrip(value, sequence);
      break;
    case FrameKind::kRunMetaV1:
      CheckRunMetaRoundTrip(value);
      break;
    case FrameKind::kIdempotencyV1:
      CheckIdempotencyRoundTrip(value);
      break;
    default:
      // kSnapshotStateV1, kContentBlobV1: raw bodies, CheckFrameForm covers them.
      break;
  }
  // Unaligned input: DecodeRunMeta and DecodeIdempotency promise any alignment.
  if (value.size() > 1) {
    const std::string shifted = " " + value;
    RunInfo info;
    IdempotencyRecord record;
    DecodeRunMeta(std::string_view(shifted).substr(1), kRun, &info).IgnoreError();  // no crash is the check
    DecodeIdempotency(std::string_view(shifted).substr(1), "fuzz-key", &record).IgnoreError();
  }
  return 0;
}
