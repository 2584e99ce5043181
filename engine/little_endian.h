// engine/little_endian.h: fixed-width little-endian integers as RocksDB's
// files store them (its log record headers, table footers and block
// trailers), read byte by byte so that neither alignment nor the host's
// byte order matters.
#pragma once

#include <cstdint>

namespace agentlog::internal {

// The 4 bytes at `p`, least significant first.
inline uint32_t Little32(const char* p) {
  uint32_t value = 0;
  for (int i = 3; i >= 0; --i) value = (value << 8) | static_cast<unsigned char>(p[i]);
  return value;
}

// The 8 bytes at `p`, least significant first.
inline uint64_t Little64(const char* p) {
  uint64_t value = 0;
  for (int i = 7; i >= 0; --i) value = (value << 8) | static_cast<unsigned char>(p[i]);
  return value;
}

}  // namespace agentlog::internal
