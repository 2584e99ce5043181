// tests/fuzz/fuzz_store_damage.cc: every read path over a store whose
// stored bytes were damaged.
//
// Method: each input builds the fixture store of fuzz_util.h (runs, a
// fork, snapshots, a blob) on the in-memory backend, then applies up to
// kMaxEdits edits through the backend seam -- flip a byte, overwrite,
// truncate, delete a value, add a key, copy one key's value to another,
// move a value to a damaged key -- and reads everything back: ReadRun,
// ReadEvent, ReadGlobal, GetRun, ListRuns, Verify, VerifyAll, RunDigest,
// VerifyAgainst, ListDeadlines, GetBlob, and the run state at each head
// (from the fixture's snapshots, which must be bypassed when damaged).
//
// Input: per edit  op:u8 space:u8 key:u16 position:u16  then the op's bytes.
//
// Properties:
//   - no read crashes, and each error is Corruption or NotFound (the ones
//     the read paths document for stored damage);
//   - a read that returns OK returns what was appended: the same fields,
//     hashes and payload (or the payload removed, a tombstone, which the
//     format allows), the same run metadata but the session id, the same
//     digest and the same run state. The one exception is a value re-framed
//     with a matching checksum (an attacker's edit, which the fuzzer can
//     make by copying the checksum it is compared with): reads cannot see
//     it, so then VerifyAll must report Corruption;
//   - GetBlob never returns other content (its key is the SHA-256).
#include <algorithm>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "agentlog/run_state.h"
#include "engine/backend.h"
#include "tests/fuzz/fuzz_util.h"
#include "testing/reference_fold.h"

namespace {

using namespace agentlog;
using agentlog::fuzz::EventFields;
using agentlog::fuzz::FieldsOf;
using agentlog::internal::Space;

constexpr size_t kMaxEdits = 8;
constexpr size_t kMaxKeysPerSpace = 1000;

// What the undamaged fixture answers; every fixture is built the same way
// (a ManualClock), so one copy serves every input.
struct Expected {
  std::map<std::pair<std::string, uint64_t>, EventFields> run_events;  // (asked run, seq)
  std::map<uint64_t, EventFields> global;                              // by position
  std::map<std::string, RunInfo> runs;
  std::map<std::string, std::string> run_digests;
  std::map<std::string, std::string> head_states;  // run-state encoding at the head
  std::string store_digest;
  std::string blob_hash;
};

const Expected& ExpectedAnswers() {
  static const Expected expected = [] {
    Expected e;
    auto memory = fuzz::OpenFixtureCopy();
    Store& store = *memory->store;
    for (const char* run : fuzz::kFixtureRuns) {
      auto events = fuzz::ReadWholeRun(store, run);
      FUZZ_CHECK(events.ok(), events.status().ToString());
      for (const Event& event : *events) e.run_events[{run, event.sequence()}] = FieldsOf(event);
      e.head_states[run] = testing::ReferenceFold(*events).back();
      auto info = store.GetRun(run);
      FUZZ_CHECK(info.ok(), info.status().ToString());
      e.runs[run] = *info;
      auto digest = store.RunDigest(run);
      FUZZ_CHECK(digest.ok(), digest.status().ToString());
      e.run_digests[run] = *digest;
    }
    auto all = fuzz::ReadWholeStore(store);
    FUZZ_CHECK(all.ok(), all.status().ToString());
    for (const Event& event : *all) e.global[event.global_position()] = FieldsOf(event);
    auto store_digest = store.StoreDigest();
    FUZZ_CHECK(store_digest.ok(), store_digest.status().ToString());
    e.store_digest = *store_digest;
    auto blob = store.PutBlob(fuzz::FixtureBlob(), Durability::kBuffered);
    FUZZ_CHECK(blob.ok(), blob.status().ToString());
    e.blob_hash = *blob;
    return e;
  }();
  return expected;
}

std::vector<std::string> KeysOf(internal::Backend& backend, Space space) {
  std::vector<std::string> keys;
  auto cursor = backend.NewCursor(space);
  for (cursor->Seek(""); cursor->Valid() && keys.size() < kMaxKeysPerSpace; cursor->Next()) {
    keys.emplace_back(cursor->key());
  }
  return keys;
}

void Put(internal::Backend& backend, Space space, std::string key, std::string value) {
  internal::WriteSet writes;
  writes.Put(space, std::move(key), std::move(value));
  Status status = backend.Write(writes, /*sync=*/false);
  FUZZ_CHECK(status.ok(), status.ToString());
}

void Delete(internal::Backend& backend, Space space, std::string key) {
  internal::WriteSet writes;
  writes.Delete(space, std::move(key));
  Status status = backend.Write(writes, /*sync=*/false);
  FUZZ_CHECK(status.ok(), status.ToString());
}

// One edit of the stored bytes, as the input says.
void ApplyEdit(internal::Backend& backend, fuzz::InputReader& input) {
  const uint8_t op = input.Byte() % 7;
  const auto space = static_cast<Space>(input.Byte() % internal::kSpaceCount);
  const uint16_t key_index = input.U16();
  const uint16_t position = input.U16();
  const std::vector<std::string> keys = KeysOf(backend, space);
  if (op == 4) {  // a key the store never wrote
    std::string key = input.LengthPrefixed();
    Put(backend, space, std::move(key), input.LengthPrefixed());
    return;
  }
  if (keys.empty()) return;
  const std::string& key = keys[key_index % keys.size()];
  std::string value;
  Status status = backend.Get(space, key, &value);
  FUZZ_CHECK(status.ok(), status.ToString());
  switch (op) {
    case 0:  // flip bits of one byte
      if (value.empty()) return;
      value[position % value.size()] ^= static_cast<char>(input.Byte() | 1);
      return Put(backend, space, key, std::move(value));
    case 1:  // replace the value
      return Put(backend, space, key, input.LengthPrefixed());
    case 2:  // cut it short
      value.resize(position % (value.size() + 1));
      return Put(backend, space, key, std::move(value));
    case 3:
      return Delete(backend, space, key);
    case 5: {  // another key's value here (a moved or swapped record)
      const std::string& source = keys[input.U16() % keys.size()];
      std::string copied;
      status = backend.Get(space, source, &copied);
      FUZZ_CHECK(status.ok(), status.ToString());
      return Put(backend, space, key, std::move(copied));
    }
    default: {  // the value under a damaged key
      std::string moved = key;
      if (moved.empty()) return;
      moved[position % moved.size()] ^= static_cast<char>(input.Byte() | 1);
      Delete(backend, space, key);
      return Put(backend, space, std::move(moved), std::move(value));
    }
  }
}

void CheckErrorCode(const Status& status, const char* what) {
  FUZZ_CHECK(status.ok() || status.IsCorruption() || status.IsNotFound(),
             std::string(what) + ": " + status.ToString());
}

// A returned event is the appended one, or its tombstone.
bool SameEvent(const EventFields& got, const EventFields& want) {
  if (got == want) return true;
  if (!got.payload_removed || !got.payload.empty()) return false;
  EventFields tombstone = want;
  tombstone.payload_removed = true;
  tombstone.payload.clear();
  return got == tombstone;
}

void CheckReads(Store& store, bool intact) {
  const Expected& expected = ExpectedAnswers();
  // Without intact, a changed answer must come from a re-framed value,
  // which only Verify can see.
  auto check_event = [&](const EventFields& got, const EventFields* want, const char* what) {
    FUZZ_CHECK(!intact || (want != nullptr && SameEvent(got, *want)),
               std::string(what) + " returned " + fuzz::Describe(got) + " that was not appended" +
                   (want ? ", expected " + fuzz::Describe(*want) : std::string()));
  };
  auto find = [](const auto& map, const auto& key) -> const EventFields* {
    auto it = map.find(key);
    return it == map.end() ? nullptr : &it->second;
  };
  auto projector = fuzz::RunStateProjector(store, /*snapshot_every_events=*/0);
  for (const char* run : fuzz::kFixtureRuns) {
    auto events = fuzz::ReadWholeRun(store, run);
    CheckErrorCode(events.status(), "ReadRun");
    if (events.ok()) {
      for (const Event& event : *events) {
        check_event(FieldsOf(event), find(expected.run_events, std::pair<std::string, uint64_t>(run, event.sequence())), "ReadRun");
      }
    }
    auto first = store.ReadEvent(run, 1);
    CheckErrorCode(first.status(), "ReadEvent");
    if (first.ok()) check_event(FieldsOf(*first), find(expected.run_events, std::pair<std::string, uint64_t>(run, 1)), "ReadEvent");
    auto info = store.GetRun(run);
    CheckErrorCode(info.status(), "GetRun");
    FUZZ_CHECK(!intact || !info.ok() || fuzz::SameRunInfo(*info, expected.runs.at(run), false),
               std::string("GetRun of ") + run + " returned other metadata");
    auto digest = store.RunDigest(run);
    CheckErrorCode(digest.status(), "RunDigest");
    FUZZ_CHECK(!intact || !digest.ok() || *digest == expected.run_digests.at(run), *digest);
    CheckErrorCode(store.Verify(run), "Verify");
    // From the fixture's snapshots (damaged ones must be bypassed).
    auto state = projector->CurrentState(run, kRunStateProjectionName);
    CheckErrorCode(state.status(), "CurrentState");
    FUZZ_CHECK(!intact || !state.ok() || (*state)->Encode() == expected.head_states.at(run),
               std::string("the run state of ") + run + " is not the fold of its events");
  }
  auto all = fuzz::ReadWholeStore(store);
  CheckErrorCode(all.status(), "ReadGlobal");
  if (all.ok()) {
    for (const Event& event : *all) check_event(FieldsOf(event), find(expected.global, event.global_position()), "ReadGlobal");
  }
  auto runs = store.ListRuns(RunFilter{});
  CheckErrorCode(runs.status(), "ListRuns");
  auto deadlines = store.ListDeadlines(INT64_MAX, 1000);
  CheckErrorCode(deadlines.status(), "ListDeadlines");
  CheckErrorCode(store.VerifyAgainst(expected.store_digest), "VerifyAgainst");
  auto blob = store.GetBlob(expected.blob_hash);
  CheckErrorCode(blob.status(), "GetBlob");
  FUZZ_CHECK(!blob.ok() || *blob == fuzz::FixtureBlob(), "GetBlob returned other content");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ExpectedAnswers();
  auto memory = fuzz::OpenFixtureCopy();
  fuzz::InputReader input(data, size);
  for (size_t edit = 0; edit < kMaxEdits && !input.empty(); ++edit) {
    ApplyEdit(*memory->backend, input);
  }
  const Status verified = memory->store->VerifyAll();
  CheckErrorCode(verified, "VerifyAll");
  CheckReads(*memory->store, verified.ok());
  return 0;
}
