// engine/keys.cc: key encodings. Format: engine/record_format.md.
#include "engine/keys.h"

#include "base/assert.h"

namespace agentlog::internal {

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

std::string SnapshotKeyPrefix(std::string_view run_id, std::string_view projection) {
  std::string key(run_id);
  key.push_back('\0');
  key.append(projection);
  key.push_back('\0');
  return key;
}

// Newest first in key order: "the newest snapshot at or before n" is a
// forward Seek, which RocksDB serves far faster than SeekForPrev and Prev.
std::string SnapshotKey(std::string_view run_id, std::string_view projection, uint64_t sequence) {
  std::string key = SnapshotKeyPrefix(run_id, projection);
  PutBigEndian64(&key, ~sequence);
  return key;
}

bool ParseSnapshotKey(std::string_view key, std::string_view prefix, uint64_t* sequence) {
  if (key.size() != prefix.size() + 8 || !key.starts_with(prefix)) return false;
  *sequence = ~GetBigEndian64(key.data() + prefix.size());
  return true;
}

namespace {
// Flipping the sign bit maps int64 order onto unsigned byte order.
constexpr uint64_t kSignBit = uint64_t{1} << 63;
}  // namespace

std::string TimeIndexKey(int64_t timestamp_us) {
  std::string key(1, kTimeIndexTag);
  PutBigEndian64(&key, static_cast<uint64_t>(timestamp_us) ^ kSignBit);
  return key;
}

bool ParseTimeIndexKey(std::string_view key, int64_t* timestamp_us) {
  if (key.size() != 9 || key[0] != kTimeIndexTag) return false;
  *timestamp_us = static_cast<int64_t>(GetBigEndian64(key.data() + 1) ^ kSignBit);
  return true;
}

std::string DeadlineIndexPrefix(int64_t deadline_at_us) {
  std::string key(1, kDeadlineIndexTag);
  PutBigEndian64(&key, static_cast<uint64_t>(deadline_at_us) ^ kSignBit);
  AGENTLOG_ASSERT(key.size() == kDeadlineIndexHeaderBytes);
  return key;
}

std::string DeadlineIndexKey(int64_t deadline_at_us, std::string_view run_id,
                             std::string_view step_id) {
  AGENTLOG_ASSERT(!run_id.empty() && run_id.find('\0') == std::string_view::npos);
  std::string key = DeadlineIndexPrefix(deadline_at_us);
  key.append(run_id);
  key.push_back('\0');
  key.append(step_id);
  return key;
}

bool ParseDeadlineIndexKey(std::string_view key, int64_t* deadline_at_us, std::string_view* run_id,
                           std::string_view* step_id) {
  if (key.size() < kDeadlineIndexHeaderBytes + 2 || key[0] != kDeadlineIndexTag) return false;
  const size_t end = key.find('\0', kDeadlineIndexHeaderBytes);
  if (end == std::string_view::npos || end == kDeadlineIndexHeaderBytes) return false;
  *deadline_at_us = static_cast<int64_t>(GetBigEndian64(key.data() + 1) ^ kSignBit);
  *run_id = key.substr(kDeadlineIndexHeaderBytes, end - kDeadlineIndexHeaderBytes);
  *step_id = key.substr(end + 1);
  return true;
}

std::string ContentBlobKey(std::string_view sha256) {
  AGENTLOG_ASSERT(sha256.size() == kContentBlobKeyBytes - 2);
  std::string key(1, '\0');
  key.push_back(kContentBlobTag);
  key.append(sha256);
  AGENTLOG_ASSERT(key.size() == kContentBlobKeyBytes);
  return key;
}

}  // namespace agentlog::internal
