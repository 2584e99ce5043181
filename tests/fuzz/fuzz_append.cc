// tests/fuzz/fuzz_append.cc: Store::Append's validation, over arbitrary
// run ids, ids, idempotency keys, sessions, heads, lease epochs and payload
// bytes, on the fixture store of fuzz_util.h (runs with leases, a session,
// an idempotency key and a fork, so conflicts and fencing are reachable).
//
// Input: up to kMaxAppends appends, each
//   run:lp16  flags:u8  expected_head:u8  lease_epoch:u8  key:lp16  session:lp16
//   count:u8  then per event  payload:lp16 turn:lp16 step:lp16 actor_kind:u8
//                             actor:lp16 causation:u8 schema_version:u8
// (flags bit 0: expected_head set, bit 1: lease_epoch set; count % 4 events.)
//
// Properties:
//   - a refused append (InvalidArgument, LimitExceeded, Conflict, Fenced:
//     nothing else is documented for bad input) changes nothing: the last
//     position, every run's metadata, the run's head;
//   - an accepted one has consecutive sequences and positions ending at the
//     store's last position (a replay: the first append's numbers, nothing
//     new), and reads back with exactly the payloads and ids given, the
//     payload hash its SHA-256 and the event type its body's;
//   - after all of them, VerifyAll passes.
#include <string>
#include <vector>

#include "base/crypto.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

using namespace agentlog;

constexpr size_t kMaxAppends = 4;
constexpr size_t kMaxEventsPerAppend = 3;

struct Append {
  std::string run_id;
  AppendOptions options;
  std::vector<EventInput> events;
};

Append ReadAppend(fuzz::InputReader& input) {
  Append append;
  append.run_id = input.LengthPrefixed();
  const uint8_t flags = input.Byte();
  const uint8_t expected_head = input.Byte();
  const uint8_t lease_epoch = input.Byte();
  if (flags & 1) append.options.expected_head = expected_head;
  if (flags & 2) append.options.lease_epoch = lease_epoch;
  append.options.durability = Durability::kBuffered;
  append.options.idempotency_key = input.LengthPrefixed();
  append.options.session_id = input.LengthPrefixed();
  const size_t count = input.Byte() % (kMaxEventsPerAppend + 1);
  for (size_t i = 0; i < count; ++i) {
    EventInput event;
    event.payload = input.LengthPrefixed();
    event.turn_id = input.LengthPrefixed();
    event.step_id = input.LengthPrefixed();
    event.actor_kind = static_cast<ActorKind>(input.Byte());
    event.actor_id = input.LengthPrefixed();
    event.causation = input.Byte();
    event.schema_version = input.Byte();
    append.events.push_back(std::move(event));
  }
  return append;
}

// Everything an append may change, to compare before and after a refusal.
struct Snapshot {
  uint64_t last_position = 0;
  std::vector<RunInfo> runs;
};

Snapshot Observe(Store& store) {
  auto runs = store.ListRuns(RunFilter{});
  FUZZ_CHECK(runs.ok(), runs.status().ToString());
  return Snapshot{store.LastPosition(), std::move(runs).value()};
}

bool Same(const Snapshot& a, const Snapshot& b) {
  if (a.last_position != b.last_position || a.runs.size() != b.runs.size()) return false;
  for (size_t i = 0; i < a.runs.size(); ++i) {
    if (!fuzz::SameRunInfo(a.runs[i], b.runs[i], /*with_session=*/true)) return false;
  }
  return true;
}

void CheckAccepted(Store& store, const Append& append, const AppendResult& result,
                   const Snapshot& before) {
  const uint64_t count = append.events.size();
  FUZZ_CHECK(count >= 1, "an append of no events was accepted");
  FUZZ_CHECK(result.last_sequence - result.first_sequence + 1 == count &&
                 result.last_position - result.first_position + 1 == count,
             "sequences or positions are not consecutive");
  if (result.replayed) {
    FUZZ_CHECK(store.LastPosition() == before.last_position, "a replay wrote something");
    return;
  }
  FUZZ_CHECK(result.first_position == before.last_position + 1 &&
                 result.last_position == store.LastPosition(),
             "positions do not continue the store's");
  ReadOptions read;
  read.from_sequence = result.first_sequence;
  read.to_sequence = result.last_sequence;
  auto events = store.ReadRun(append.run_id, read);
  FUZZ_CHECK(events.ok(), "an accepted append does not read back: " + events.status().ToString());
  FUZZ_CHECK(events->size() == count, "read back another number of events");
  for (uint64_t i = 0; i < count; ++i) {
    const Event& got = (*events)[i];
    const EventInput& given = append.events[i];
    FUZZ_CHECK(got.run_id() == append.run_id && got.sequence() == result.first_sequence + i &&
                   got.global_position() == result.first_position + i,
               "read back under other numbers");
    FUZZ_CHECK(got.payload() == given.payload && !got.payload_removed(), "payload changed");
    const internal::Hash payload_hash = internal::Sha256(given.payload);
    FUZZ_CHECK(got.payload_hash() == internal::HashView(payload_hash),
               "payload hash is not the payload's SHA-256");
    FUZZ_CHECK(got.body() != nullptr && got.type() == got.body()->body_type(),
               "event type is not the payload's body type");
    FUZZ_CHECK(got.turn_id() == given.turn_id && got.step_id() == given.step_id &&
                   got.actor_id() == given.actor_id && got.actor_kind() == given.actor_kind &&
                   got.causation() == given.causation &&
                   got.schema_version() == given.schema_version &&
                   got.idempotency_key() == append.options.idempotency_key,
               "envelope ids changed");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto memory = fuzz::OpenFixtureCopy();
  Store& store = *memory->store;
  fuzz::InputReader input(data, size);
  for (size_t i = 0; i < kMaxAppends && !input.empty(); ++i) {
    const Append append = ReadAppend(input);
    const Snapshot before = Observe(store);
    memory->clock.Advance(1000);
    auto result = store.Append(append.run_id, append.events, append.options);
    if (result.ok()) {
      CheckAccepted(store, append, *result, before);
      continue;
    }
    const Status& status = result.status();
    FUZZ_CHECK(status.IsInvalidArgument() || status.IsLimitExceeded() || status.IsConflict() ||
                   status.IsFenced(),
               "undocumented refusal: " + status.ToString());
    FUZZ_CHECK(Same(before, Observe(store)), "a refused append changed the store: " + status.ToString());
  }
  Status verified = store.VerifyAll();
  FUZZ_CHECK(verified.ok(), "after the appends: " + verified.ToString());
  return 0;
}
