// base/bytes.h: fixed-width integers in bytes, read and written byte by
// byte so that neither alignment nor the host's byte order matters:
// big-endian, which agentlog's keys and hashed fields use (byte order is
// numeric order), and little-endian, as RocksDB's files store them (its
// log record headers, table footers and block trailers).
#ifndef AGENTLOG_BASE_BYTES_H_
#define AGENTLOG_BASE_BYTES_H_

#include <cstdint>
#include <string>
#include <string_view>

namespace agentlog::internal {

void PutBigEndian64(std::string* out, uint64_t value);
// be64(size) then the bytes: fields hashed together can never run into each other.
void PutLengthPrefixed64(std::string* out, std::string_view bytes);
uint64_t GetBigEndian64(const char* bytes);

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

#endif  // AGENTLOG_BASE_BYTES_H_
