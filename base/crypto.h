// base/crypto.h: the cryptographic hash (SHA-256, OpenSSL libcrypto) and
// the fast checksum (XXH3-64, xxHash). Two jobs, two hashes: the checksum
// catches accidental damage on every read; SHA-256 resists deliberate edits
// in the payload hash and the chain.
#ifndef AGENTLOG_BASE_CRYPTO_H_
#define AGENTLOG_BASE_CRYPTO_H_

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace agentlog::internal {

constexpr size_t kHashBytes = 32;
using Hash = std::array<uint8_t, kHashBytes>;

Hash Sha256(std::string_view bytes);
uint64_t Checksum64(std::string_view bytes);  // XXH3-64, seed 0

std::string_view HashView(const Hash& hash);
std::string HexEncode(std::string_view bytes);
// nullopt unless `hex` is exactly 2*N lowercase or uppercase hex digits.
std::optional<std::string> HexDecode(std::string_view hex);

}  // namespace agentlog::internal

#endif  // AGENTLOG_BASE_CRYPTO_H_
