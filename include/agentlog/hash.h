// agentlog/hash.h: the store's hash and its text form, for callers that
// check what the store reports or fill the fields that hold a hash.
//
// SHA-256 is what the store uses for payload hashes, the chain, digests and
// content blobs (engine/record_format.md); a ToolCompleted.output_hash or a
// Store::PutBlob key is one too. Hex is how the tool prints every hash.
#ifndef AGENTLOG_HASH_H_
#define AGENTLOG_HASH_H_

#include <optional>
#include <string>
#include <string_view>

#include "agentlog/export.h"

namespace agentlog {

// The SHA-256 of `bytes`: 32 raw bytes. Never fails.
AGENTLOG_EXPORT std::string Sha256(std::string_view bytes);

// `bytes` as lowercase hex, two digits per byte.
AGENTLOG_EXPORT std::string HexEncode(std::string_view bytes);

// The bytes `hex` encodes; nullopt unless `hex` is an even number of hex
// digits (either case).
AGENTLOG_EXPORT std::optional<std::string> HexDecode(std::string_view hex);

}  // namespace agentlog

#endif  // AGENTLOG_HASH_H_
