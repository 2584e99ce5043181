// engine/crc32c.h: CRC-32C (Castagnoli), the checksum of RocksDB's log
// files (the write-ahead log and the MANIFEST), so that the store can read
// those files itself before RocksDB replays them (engine/log_file_check.h).
// Debian 12 packages no CRC-32C library; this is the polynomial 0x82F63B78
// (reflected), by the CPU's SSE4.2 instruction where it has one, else by a
// table. Check value (RFC 3720): Crc32c("123456789") == 0xE3069283.
#ifndef AGENTLOG_ENGINE_CRC32C_H_
#define AGENTLOG_ENGINE_CRC32C_H_

#include <cstdint>
#include <string_view>

namespace agentlog::internal {

// The CRC of `bytes` continued from `crc` (the CRC of the bytes before
// them; 0 for none), so Crc32cExtend(Crc32cExtend(0, a), b) == CRC of a||b.
uint32_t Crc32cExtend(uint32_t crc, std::string_view bytes);
inline uint32_t Crc32c(std::string_view bytes) { return Crc32cExtend(0, bytes); }

// LevelDB's and RocksDB's log records store a masked CRC, so that a CRC
// computed over bytes that embed CRCs is not itself a CRC of them.
inline uint32_t Crc32cMask(uint32_t crc) { return ((crc >> 15) | (crc << 17)) + 0xa282ead8u; }
inline uint32_t Crc32cUnmask(uint32_t masked) {
  const uint32_t rotated = masked - 0xa282ead8u;
  return (rotated >> 17) | (rotated << 15);
}

}  // namespace agentlog::internal

#endif  // AGENTLOG_ENGINE_CRC32C_H_
