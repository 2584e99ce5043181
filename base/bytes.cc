// base/bytes.cc: see base/bytes.h.
#include "base/bytes.h"

namespace agentlog::internal {

void PutLengthPrefixed64(std::string* out, std::string_view bytes) {
  PutBigEndian64(out, bytes.size());
  out->append(bytes);
}

void PutBigEndian64(std::string* out, uint64_t value) {
  for (int shift = 56; shift >= 0; shift -= 8) {
    out->push_back(static_cast<char>((value >> shift) & 0xff));
  }
}

uint64_t GetBigEndian64(const char* bytes) {
  uint64_t value = 0;
  for (int i = 0; i < 8; ++i) value = (value << 8) | static_cast<unsigned char>(bytes[i]);
  return value;
}

}  // namespace agentlog::internal
