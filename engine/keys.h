// engine/keys.h: the key encodings of every column family.
// Grammar, examples and versioning rules: engine/record_format.md. All
// integers in keys are big-endian so that byte order is numeric order.
#ifndef AGENTLOG_ENGINE_KEYS_H_
#define AGENTLOG_ENGINE_KEYS_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "base/bytes.h"

namespace agentlog::internal {

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

// deadlines (in `index`): 'd' be64(deadline_at_us XOR 2^63) run_id 0x00
// step_id -> be64(sequence of the DeadlineSet event). Ordered by deadline,
// then run, then step (run ids hold no NUL, so the first NUL after the
// timestamp ends the run id; the step may be empty). Never deleted: a
// replaced or met deadline stays listed (record_format.md, "Deadline index").
constexpr char kDeadlineIndexTag = 'd';
constexpr size_t kDeadlineIndexHeaderBytes = 9;  // the tag and the timestamp
std::string DeadlineIndexKey(int64_t deadline_at_us, std::string_view run_id,
                             std::string_view step_id);
// The first key of deadline `deadline_at_us` (no run, no step): every entry
// with that deadline sorts at or after it.
std::string DeadlineIndexPrefix(int64_t deadline_at_us);
// False unless `key` is 'd', 8 bytes, a nonempty run id without NUL, 0x00,
// then the step (any bytes).
bool ParseDeadlineIndexKey(std::string_view key, int64_t* deadline_at_us, std::string_view* run_id,
                           std::string_view* step_id);

// blobs, content-addressed: 0x00 'c' sha256(content) -> framed content. A
// snapshot state's key there starts with its run id, which is never empty
// and holds no NUL, so the two kinds of blob keys never meet
// (record_format.md, "Content blobs").
constexpr char kContentBlobTag = 'c';
constexpr size_t kContentBlobKeyBytes = 2 + 32;
// REQUIRES: sha256 is 32 bytes.
std::string ContentBlobKey(std::string_view sha256);

// index: 's' status_byte run_id -> ""  and  'n' session_id 0x00 run_id -> ""
constexpr char kStatusIndexTag = 's';
constexpr char kSessionIndexTag = 'n';
std::string StatusIndexKey(uint8_t status, std::string_view run_id);
std::string StatusIndexPrefix(uint8_t status);
std::string SessionIndexKey(std::string_view session_id, std::string_view run_id);
std::string SessionIndexPrefix(std::string_view session_id);

}  // namespace agentlog::internal

#endif  // AGENTLOG_ENGINE_KEYS_H_
