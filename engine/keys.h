// engine/keys.h: the key encodings of every column family.
// Grammar, examples and versioning rules: engine/record_format.md. All
// integers in keys are big-endian so that byte order is numeric order.
#ifndef AGENTLOG_ENGINE_KEYS_H_
#define AGENTLOG_ENGINE_KEYS_H_

#include <cstdint>
#include <string>
#include <string_view>

namespace agentlog::internal {

void PutBigEndian64(std::string* out, uint64_t value);
uint64_t GetBigEndian64(const char* bytes);

// events: run_id 0x00 be64(sequence). Run ids hold no NUL, so a run's keys
// are contiguous and never interleave with another run's ("a" < "a1").
std::string EventKey(std::string_view run_id, uint64_t sequence);
std::string EventKeyPrefix(std::string_view run_id);  // run_id 0x00
bool ParseEventKey(std::string_view key, std::string_view* run_id, uint64_t* sequence);

// global: be64(position) -> be64(sequence) run_id
std::string GlobalKey(uint64_t position);
bool ParseGlobalKey(std::string_view key, uint64_t* position);
std::string GlobalValue(std::string_view run_id, uint64_t sequence);
bool ParseGlobalValue(std::string_view value, std::string_view* run_id, uint64_t* sequence);

// runs: run_id -> framed RunMeta
inline std::string RunKey(std::string_view run_id) { return std::string(run_id); }

// snapshots: run_id 0x00 projection 0x00 be64(~sequence) -> framed Snapshot.
// Projection names follow run-id syntax (no NUL), so a run's snapshots of
// one projection are contiguous, newest first.
std::string SnapshotKey(std::string_view run_id, std::string_view projection, uint64_t sequence);
std::string SnapshotKeyPrefix(std::string_view run_id, std::string_view projection);
bool ParseSnapshotKey(std::string_view key, std::string_view prefix, uint64_t* sequence);

// time (in `index`): 't' be64(timestamp_us XOR 2^63) -> be64(last position
// committed with that timestamp). Timestamps never decrease along global
// positions, so the last entry at or before T names the last event at or
// before T.
constexpr char kTimeIndexTag = 't';
std::string TimeIndexKey(int64_t timestamp_us);
bool ParseTimeIndexKey(std::string_view key, int64_t* timestamp_us);

// index: 's' status_byte run_id -> ""  and  'n' session_id 0x00 run_id -> ""
constexpr char kStatusIndexTag = 's';
constexpr char kSessionIndexTag = 'n';
std::string StatusIndexKey(uint8_t status, std::string_view run_id);
std::string StatusIndexPrefix(uint8_t status);
std::string SessionIndexKey(std::string_view session_id, std::string_view run_id);
std::string SessionIndexPrefix(std::string_view session_id);

}  // namespace agentlog::internal

#endif  // AGENTLOG_ENGINE_KEYS_H_
