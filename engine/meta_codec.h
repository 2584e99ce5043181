// engine/meta_codec.h: the runs and idempotency values (schema/store_meta.fbs
// inside a frame of engine/frame.h). Format: engine/record_format.md.
#ifndef AGENTLOG_ENGINE_META_CODEC_H_
#define AGENTLOG_ENGINE_META_CODEC_H_

#include <string>
#include <string_view>

#include "agentlog/status.h"
#include "agentlog/store.h"
#include "base/crypto.h"

namespace agentlog::internal {

std::string EncodeRunMeta(const RunInfo& info);
// Decoders accept frames at any alignment (engine/frame.h AlignedFrame).
Status DecodeRunMeta(std::string_view frame, std::string_view run_id, RunInfo* info);

struct IdempotencyRecord {
  std::string run_id;
  AppendResult result;
  Hash request_hash{};
};
std::string EncodeIdempotency(const IdempotencyRecord& record);
Status DecodeIdempotency(std::string_view frame, std::string_view key, IdempotencyRecord* record);

// "snapshot of projection "P" at run "r" event 7", for messages.
std::string SnapshotName(std::string_view run_id, std::string_view projection, uint64_t sequence);
// snapshots: the metadata frame (in `snapshots`) and the state frame (in
// `blobs`, under the same key). run_id, projection and sequence are also in
// the key; the decoder checks that they agree, and that the state is the
// one the metadata describes (size and XXH3-64).
struct SnapshotValues {
  std::string meta;
  std::string state;
};
SnapshotValues EncodeSnapshot(std::string_view run_id, std::string_view projection, uint32_t version,
                              uint64_t sequence, std::string_view chain_hash, std::string_view state);
// Fills *entry from the stored metadata and, if `state_frame` is set, the
// state; a damaged or mismatched value gives entry->status Corruption
// rather than an error, so the caller can fall back.
void DecodeSnapshot(std::string_view meta_frame, const std::string* state_frame, std::string_view run_id,
                    std::string_view projection, uint64_t sequence, SnapshotEntry* entry);

}  // namespace agentlog::internal

#endif  // AGENTLOG_ENGINE_META_CODEC_H_
