// engine/meta_codec.h: the runs and idempotency values (schema/store_meta.fbs
// inside a frame of engine/frame.h). Format: engine/record_format.md.
#ifndef AGENTLOG_ENGINE_META_CODEC_H_
#define AGENTLOG_ENGINE_META_CODEC_H_

#include <string>
#include <string_view>

#include "agentlog/status.h"
#include "agentlog/store.h"
#include "engine/crypto.h"

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

}  // namespace agentlog::internal

#endif  // AGENTLOG_ENGINE_META_CODEC_H_
