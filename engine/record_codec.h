// engine/record_codec.h: building, checking and chaining stored records.
// The byte layout and the chain rule are specified in engine/record_format.md;
// this file and that document change together.
#ifndef AGENTLOG_ENGINE_RECORD_CODEC_H_
#define AGENTLOG_ENGINE_RECORD_CODEC_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "agentlog/record_generated.h"
#include "agentlog/status.h"
#include "base/crypto.h"
#include "base/names.h"

namespace agentlog::internal {

// The envelope fields of one record, as the chain hash sees them.
struct Envelope {
  std::string_view run_id;
  uint64_t sequence = 0;
  uint64_t global_position = 0;
  int64_t timestamp_us = 0;
  uint16_t event_type = 0;
  uint16_t schema_version = 0;
  std::string_view turn_id;
  std::string_view step_id;
  uint64_t causation = 0;
  std::string_view idempotency_key;
  uint8_t actor_kind = 0;
  std::string_view actor_id;
  Hash payload_hash{};
};

// The chain hash of seq 1's predecessor: 32 zero bytes (a fork starts from
// its parent's chain hash at the fork point instead).
constexpr Hash kGenesisChainHash{};

// chain_n = SHA-256(canonical(prev_chain, envelope_n)); see record_format.md.
Hash ChainHash(const Hash& previous, const Envelope& envelope);

// A complete framed record (FrameKind::kRecordV1) ready to store.
std::string EncodeRecord(const Envelope& envelope, const Hash& chain_hash,
                         std::string_view payload);

// The same record with its payload removed (retention, redaction): every
// envelope field, the payload hash and the chain hash kept, payload_state
// Removed and the payload field absent (record_format.md, "Chain").
std::string EncodeTombstone(const Envelope& envelope, const Hash& chain_hash);

// Checks everything a read can check without other records: frame checksum,
// the FlatBuffers verifier over the envelope and the nested payload, the run
// and sequence against the key it was stored under, hash sizes, and that a
// present payload's SHA-256 is its recorded payload hash (bench/README.md
// gives what that costs a read). On success *record points into `frame`.
Status CheckRecord(std::string_view frame, std::string_view run_id, uint64_t sequence,
                   const fb::Record** record);

// The envelope of a checked record (views point into the record).
Envelope EnvelopeOf(const fb::Record* record);
Hash HashOf(const flatbuffers::Vector<uint8_t>* bytes);  // REQUIRES: 32 bytes
std::string_view BytesOf(const flatbuffers::Vector<uint8_t>* bytes);
std::string_view StringOf(const flatbuffers::String* text);

}  // namespace agentlog::internal

#endif  // AGENTLOG_ENGINE_RECORD_CODEC_H_
