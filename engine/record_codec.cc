// engine/record_codec.cc: implements engine/record_format.md (records,
// frames, the chain). Any change here changes stored bytes: update the doc
// and its version rules first.
#include "engine/record_codec.h"

#include <cstring>

#include "base/assert.h"
#include "engine/frame.h"
#include "engine/keys.h"

namespace agentlog::internal {
namespace {

constexpr std::string_view kChainDomain{"agentlog-chain-v1\0", 18};

void PutBigEndian32(std::string* out, uint32_t value) {
  for (int shift = 24; shift >= 0; shift -= 8) {
    out->push_back(static_cast<char>((value >> shift) & 0xff));
  }
}

void PutBigEndian16(std::string* out, uint16_t value) {
  out->push_back(static_cast<char>(value >> 8));
  out->push_back(static_cast<char>(value & 0xff));
}

void PutLengthPrefixed(std::string* out, std::string_view bytes) {
  PutBigEndian32(out, static_cast<uint32_t>(bytes.size()));
  out->append(bytes);
}

}  // namespace

std::string_view BytesOf(const flatbuffers::Vector<uint8_t>* bytes) {
  if (bytes == nullptr) return {};
  return std::string_view(reinterpret_cast<const char*>(bytes->data()), bytes->size());
}

std::string_view StringOf(const flatbuffers::String* text) {
  if (text == nullptr) return {};
  return std::string_view(text->c_str(), text->size());
}

Hash HashOf(const flatbuffers::Vector<uint8_t>* bytes) {
  AGENTLOG_ASSERT(bytes != nullptr);
  AGENTLOG_ASSERT(bytes->size() == kHashBytes);
  Hash hash;
  std::memcpy(hash.data(), bytes->data(), kHashBytes);
  return hash;
}

Hash ChainHash(const Hash& previous, const Envelope& envelope) {
  std::string input;
  input.reserve(256 + envelope.run_id.size() + envelope.idempotency_key.size());
  input.append(kChainDomain);
  input.append(HashView(previous));
  PutLengthPrefixed(&input, envelope.run_id);
  PutBigEndian64(&input, envelope.sequence);
  PutBigEndian64(&input, envelope.global_position);
  PutBigEndian64(&input, static_cast<uint64_t>(envelope.timestamp_us));
  PutBigEndian16(&input, envelope.event_type);
  PutBigEndian16(&input, envelope.schema_version);
  PutLengthPrefixed(&input, envelope.turn_id);
  PutLengthPrefixed(&input, envelope.step_id);
  PutBigEndian64(&input, envelope.causation);
  PutLengthPrefixed(&input, envelope.idempotency_key);
  input.push_back(static_cast<char>(envelope.actor_kind));
  PutLengthPrefixed(&input, envelope.actor_id);
  input.append(HashView(envelope.payload_hash));
  return Sha256(input);
}

namespace {

// Builds the record; with payload_removed, the payload field is left out
// (FlatBuffers' verifier refuses a zero-length nested buffer).
std::string BuildRecord(const Envelope& envelope, const Hash& chain_hash, std::string_view payload,
                        bool payload_removed) {
  AGENTLOG_ASSERT(envelope.sequence >= 1);
  AGENTLOG_ASSERT(envelope.global_position >= 1);
  AGENTLOG_ASSERT(payload_removed || !payload.empty());
  flatbuffers::FlatBufferBuilder builder(256 + payload.size());
  flatbuffers::Offset<flatbuffers::Vector<uint8_t>> payload_offset;
  if (!payload_removed) {
    // The payload is itself a FlatBuffer: keep it 8-byte aligned so it can
    // be read in place (engine/frame.h keeps the record aligned too).
    builder.ForceVectorAlignment(payload.size(), 1, 8);
    payload_offset =
        builder.CreateVector(reinterpret_cast<const uint8_t*>(payload.data()), payload.size());
  }
  auto chain_offset = builder.CreateVector(chain_hash.data(), chain_hash.size());
  auto payload_hash_offset =
      builder.CreateVector(envelope.payload_hash.data(), envelope.payload_hash.size());
  auto actor_id = builder.CreateString(envelope.actor_id.data(), envelope.actor_id.size());
  auto idempotency_key =
      builder.CreateString(envelope.idempotency_key.data(), envelope.idempotency_key.size());
  auto step_id = builder.CreateString(envelope.step_id.data(), envelope.step_id.size());
  auto turn_id = builder.CreateString(envelope.turn_id.data(), envelope.turn_id.size());
  auto run_id = builder.CreateString(envelope.run_id.data(), envelope.run_id.size());
  fb::RecordBuilder record(builder);
  record.add_run_id(run_id);
  record.add_sequence(envelope.sequence);
  record.add_global_position(envelope.global_position);
  record.add_timestamp_us(envelope.timestamp_us);
  record.add_event_type(envelope.event_type);
  record.add_schema_version(envelope.schema_version);
  record.add_turn_id(turn_id);
  record.add_step_id(step_id);
  record.add_causation(envelope.causation);
  record.add_idempotency_key(idempotency_key);
  record.add_actor_kind(static_cast<fb::ActorKind>(envelope.actor_kind));
  record.add_actor_id(actor_id);
  record.add_payload_hash(payload_hash_offset);
  record.add_chain_hash(chain_offset);
  record.add_payload_state(payload_removed ? fb::PayloadState_Removed : fb::PayloadState_Present);
  if (!payload_removed) record.add_payload(payload_offset);
  builder.Finish(record.Finish());
  return EncodeFrame(FrameKind::kRecordV1,
                     std::string_view(reinterpret_cast<const char*>(builder.GetBufferPointer()),
                                      builder.GetSize()));
}

}  // namespace

std::string EncodeRecord(const Envelope& envelope, const Hash& chain_hash,
                         std::string_view payload) {
  return BuildRecord(envelope, chain_hash, payload, /*payload_removed=*/false);
}

std::string EncodeTombstone(const Envelope& envelope, const Hash& chain_hash) {
  return BuildRecord(envelope, chain_hash, {}, /*payload_removed=*/true);
}



Status CheckRecord(std::string_view frame, std::string_view run_id, uint64_t sequence,
                   const fb::Record** record) {
  const std::string name = RecordName(run_id, sequence);
  std::string_view body;
  Status status = CheckFrame(frame, FrameKind::kRecordV1, name, &body);
  if (!status.ok()) return status;
  flatbuffers::Verifier verifier(reinterpret_cast<const uint8_t*>(body.data()), body.size());
  if (!fb::VerifyRecordBuffer(verifier)) {
    return Status::Corruption(name + ": the envelope or its payload fails the FlatBuffers "
                                     "verifier although its checksum matches");
  }
  const fb::Record* decoded = fb::GetRecord(body.data());
  if (StringOf(decoded->run_id()) != run_id || decoded->sequence() != sequence) {
    return Status::Corruption(name + ": stored under this key but its envelope says run \"" +
                              std::string(StringOf(decoded->run_id())) + "\" event " +
                              std::to_string(decoded->sequence()));
  }
  if (decoded->payload_hash() == nullptr || decoded->payload_hash()->size() != kHashBytes ||
      decoded->chain_hash() == nullptr || decoded->chain_hash()->size() != kHashBytes) {
    return Status::Corruption(name + ": payload or chain hash is missing or not 32 bytes");
  }
  if (decoded->payload_state() == fb::PayloadState_Present) {
    if (decoded->payload() == nullptr || decoded->payload()->size() == 0) {
      return Status::Corruption(name + ": payload marked present but empty");
    }
    // The frame checksum catches accidents; anyone can recompute it. The
    // payload hash is what the chain covers: a payload edited behind the
    // store's back (checksum recomputed) is refused here, on every read.
    if (Sha256(BytesOf(decoded->payload())) != HashOf(decoded->payload_hash())) {
      return Status::Corruption(name + ": payload does not match its SHA-256 hash; the payload was "
                                       "altered after it was written: run `agentlog verify` and restore "
                                       "from a replica or backup");
    }
  } else if (decoded->payload_state() != fb::PayloadState_Removed) {
    return Status::Corruption(name + ": unknown payload state " +
                              std::to_string(static_cast<int>(decoded->payload_state())));
  }
  *record = decoded;
  return Status::OK();
}

Envelope EnvelopeOf(const fb::Record* record) {
  Envelope envelope;
  envelope.run_id = StringOf(record->run_id());
  envelope.sequence = record->sequence();
  envelope.global_position = record->global_position();
  envelope.timestamp_us = record->timestamp_us();
  envelope.event_type = record->event_type();
  envelope.schema_version = record->schema_version();
  envelope.turn_id = StringOf(record->turn_id());
  envelope.step_id = StringOf(record->step_id());
  envelope.causation = record->causation();
  envelope.idempotency_key = StringOf(record->idempotency_key());
  envelope.actor_kind = static_cast<uint8_t>(record->actor_kind());
  envelope.actor_id = StringOf(record->actor_id());
  envelope.payload_hash = HashOf(record->payload_hash());
  return envelope;
}

}  // namespace agentlog::internal
