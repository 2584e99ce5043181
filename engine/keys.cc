// engine/keys.cc: key encodings. Format: engine/record_format.md.
#include "engine/keys.h"

namespace agentlog::internal {

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

std::string EventKeyPrefix(std::string_view run_id) {
  std::string key(run_id);
  key.push_back('\0');
  return key;
}

std::string EventKey(std::string_view run_id, uint64_t sequence) {
  std::string key = EventKeyPrefix(run_id);
  PutBigEndian64(&key, sequence);
  return key;
}

bool ParseEventKey(std::string_view key, std::string_view* run_id, uint64_t* sequence) {
  if (key.size() < 10 || key[key.size() - 9] != '\0') return false;
  *run_id = key.substr(0, key.size() - 9);
  *sequence = GetBigEndian64(key.data() + key.size() - 8);
  return true;
}

std::string GlobalKey(uint64_t position) {
  std::string key;
  PutBigEndian64(&key, position);
  return key;
}

bool ParseGlobalKey(std::string_view key, uint64_t* position) {
  if (key.size() != 8) return false;
  *position = GetBigEndian64(key.data());
  return true;
}

std::string GlobalValue(std::string_view run_id, uint64_t sequence) {
  std::string value;
  PutBigEndian64(&value, sequence);
  value.append(run_id);
  return value;
}

bool ParseGlobalValue(std::string_view value, std::string_view* run_id, uint64_t* sequence) {
  if (value.size() < 9) return false;
  *sequence = GetBigEndian64(value.data());
  *run_id = value.substr(8);
  return true;
}

std::string StatusIndexPrefix(uint8_t status) {
  std::string key;
  key.push_back(kStatusIndexTag);
  key.push_back(static_cast<char>(status));
  return key;
}

std::string StatusIndexKey(uint8_t status, std::string_view run_id) {
  std::string key = StatusIndexPrefix(status);
  key.append(run_id);
  return key;
}

std::string SessionIndexPrefix(std::string_view session_id) {
  std::string key;
  key.push_back(kSessionIndexTag);
  key.append(session_id);
  key.push_back('\0');
  return key;
}

std::string SessionIndexKey(std::string_view session_id, std::string_view run_id) {
  std::string key = SessionIndexPrefix(session_id);
  key.append(run_id);
  return key;
}

}  // namespace agentlog::internal
