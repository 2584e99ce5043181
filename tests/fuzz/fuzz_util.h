// tests/fuzz/fuzz_util.h: what the libFuzzer targets share: a property
// check that stops the process (so libFuzzer keeps the input), a reader that
// splits an input into fields and the writer make_corpus uses to build seeds
// in the same layout, a store on the in-memory backend with a known history,
// and comparisons of what reads return with what was appended.
//
// No test framework inside: a fuzz executable has libFuzzer's main, and
// testing/test_util.cc needs Catch2's.
#ifndef AGENTLOG_TESTS_FUZZ_FUZZ_UTIL_H_
#define AGENTLOG_TESTS_FUZZ_FUZZ_UTIL_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "agentlog/agentlog.h"
#include "agentlog/projector.h"
#include "engine/backend.h"

// A property every input must keep. Unlike AGENTLOG_ASSERT it is never
// compiled out: a fuzz target that checks nothing only proves "no crash".
#define FUZZ_CHECK(condition, detail)                                              \
  do {                                                                             \
    if (!(condition)) ::agentlog::fuzz::CheckFailed(#condition, (detail), __FILE__, __LINE__); \
  } while (0)

namespace agentlog::fuzz {

// Prints the broken property, `detail` (a Status, the values compared) and
// where, then aborts: libFuzzer saves the input as a crash artifact.
[[noreturn]] void CheckFailed(const char* condition, const std::string& detail, const char* file,
                              int line);

// Splits a fuzz input into fields, front to back. Every read past the end
// gives zeros or fewer bytes, never an error: any input is some input.
class InputReader {
 public:
  InputReader(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  bool empty() const { return offset_ == size_; }
  uint8_t Byte();
  uint16_t U16();  // little-endian
  uint64_t U64();  // little-endian
  // At most `max_bytes` bytes.
  std::string Bytes(size_t max_bytes);
  // A u16 length, then that many bytes (fewer at the end of the input).
  std::string LengthPrefixed();
  std::string Rest();

 private:
  const uint8_t* data_;
  size_t size_;
  size_t offset_ = 0;
};

// Builds inputs in InputReader's layout (tests/fuzz/make_corpus.cc).
class InputWriter {
 public:
  InputWriter& Byte(uint8_t value);
  InputWriter& U16(uint16_t value);
  InputWriter& U64(uint64_t value);
  // REQUIRES: bytes.size() <= 65535.
  InputWriter& LengthPrefixed(std::string_view bytes);
  InputWriter& Raw(std::string_view bytes);
  const std::string& bytes() const { return bytes_; }

 private:
  std::string bytes_;
};

// A store on the in-memory backend with its own clock. The backend pointer
// stays valid as long as `store` (which owns it).
struct MemoryStore {
  ManualClock clock{1'700'000'000'000'000};
  std::unique_ptr<Store> store;
  internal::Backend* backend = nullptr;
};
// Aborts if the store does not open: that is no input's fault.
std::unique_ptr<MemoryStore> OpenMemoryStore(Options options = Options());

// The runs FillFixture appends.
inline constexpr const char* kFixtureRuns[] = {"alpha", "beta", "alpha-what-if"};
constexpr uint64_t kFixtureForkSequence = 4;

// A small history with every kind of stored value: two runs of generated
// events (testing/run_generator.h, every event type but RunForked), one with
// an idempotency key and a session; a fork of the first ("alpha-what-if")
// with events of its own; run-state snapshots (the projector's, every 3
// events); one content blob. `clock` is the store's. Aborts on any error.
void FillFixture(Store& store, ManualClock& clock);
inline void FillFixture(MemoryStore& memory) { FillFixture(*memory.store, memory.clock); }

// A store holding a copy of the fixture's stored bytes: FillFixture runs
// once per process, and each copy opens in a fraction of its time. The
// clock starts after the fixture's last event.
std::unique_ptr<MemoryStore> OpenFixtureCopy();

// The content FillFixture stores with PutBlob.
std::string_view FixtureBlob();

// Every field of an Event a reader may rely on, owned and comparable.
struct EventFields {
  std::string run_id;
  uint64_t sequence = 0;
  uint64_t global_position = 0;
  int64_t timestamp_us = 0;
  EventType type = 0;
  uint16_t schema_version = 0;
  std::string turn_id;
  std::string step_id;
  uint64_t causation = 0;
  std::string idempotency_key;
  ActorKind actor_kind = ActorKind::kAgent;
  std::string actor_id;
  std::string payload_hash;
  std::string chain_hash;
  bool payload_removed = false;
  std::string payload;
  bool operator==(const EventFields&) const = default;
};
EventFields FieldsOf(const Event& event);
// "run \"alpha\" event 3 ...", for FUZZ_CHECK details.
std::string Describe(const EventFields& fields);

// RunInfo has no operator==; compares every field, the session id only
// when `with_session` (it is not in the chain: Verify cannot vouch for it).
bool SameRunInfo(const RunInfo& a, const RunInfo& b, bool with_session);

// Every event of a run or of the store, paging through ReadRun / ReadGlobal.
Result<std::vector<Event>> ReadWholeRun(Store& store, std::string_view run_id);
Result<std::vector<Event>> ReadWholeStore(Store& store);

// A Projector over `store` with the run-state projection registered and the
// given snapshot interval (0: no snapshots). Aborts if registration fails.
std::unique_ptr<Projector> RunStateProjector(Store& store, uint64_t snapshot_every_events);

}  // namespace agentlog::fuzz

#endif  // AGENTLOG_TESTS_FUZZ_FUZZ_UTIL_H_
