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

// index: 's' status_byte run_id -> ""  and  'n' session_id 0x00 run_id -> ""
constexpr char kStatusIndexTag = 's';
constexpr char kSessionIndexTag = 'n';
std::string StatusIndexKey(uint8_t status, std::string_view run_id);
std::string StatusIndexPrefix(uint8_t status);
std::string SessionIndexKey(std::string_view session_id, std::string_view run_id);
std::string SessionIndexPrefix(std::string_view session_id);

}  // namespace agentlog::internal

#endif  // AGENTLOG_ENGINE_KEYS_H_
