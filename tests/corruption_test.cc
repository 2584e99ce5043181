// tests/corruption_test.cc: damaged stored bytes are always an error that
// names the damaged record, never data (DESIGN.md invariant 4).
//
// Method: build a small store with several interleaved runs, then damage
// stored values through the backend seam (agentlog::testing::BackendOf) --
// random single-byte flips in every region of a record, damaged run
// metadata, global index entries that point at the wrong event, records
// stored under the wrong key -- and check every read path (ReadEvent,
// ReadRun, ReadGlobal, GetRun, Verify, VerifyAll) answers Corruption.
#include <catch2/catch.hpp>
#include <cstdlib>
#include <iostream>
#include <map>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "testing/store_surgery.h"
#include "testing/test_util.h"

using namespace agentlog;
using namespace agentlog::testing;
using agentlog::internal::EventKey;
using agentlog::internal::GlobalKey;
using agentlog::internal::GlobalValue;
using agentlog::internal::Space;

namespace {

// The clock of the cases that Populate a store.
constexpr int64_t kStartUs = 1'700'000'000'000'000;

AppendResult AppendAll(Store& store, const std::string& run_id, std::vector<EventInput> events,
                       const std::string& idempotency_key = "") {
  AppendOptions options;
  options.durability = Durability::kBuffered;
  options.idempotency_key = idempotency_key;
  auto result = store.Append(run_id, std::span<const EventInput>(events), options);
  INFO(result.status().ToString());
  REQUIRE(result.ok());
  return *result;
}

EventInput WithIds(EventInput input, std::string turn_id, std::string step_id) {
  input.turn_id = std::move(turn_id);
  input.step_id = std::move(step_id);
  return input;
}

// Three runs whose appends interleave, so global positions interleave too:
//   alpha   5 events (one idempotent append, one multi-event append)
//   beta    4 events
//   gamma:1 3 events (a run id with a colon)
void Populate(Store& store, ManualClock& clock) {
  AppendAll(store, "alpha", {WithIds(Input(TurnStartedPayload("deploy the service")), "t1", "")},
            "alpha-start");
  clock.Advance(1000);
  AppendAll(store, "beta", {Message("hello from beta")});
  AppendAll(store, "alpha",
            {WithIds(Input(ToolStartedPayload("shell", "{\"cmd\":\"make\"}")), "t1", "s1"),
             WithIds(Input(ToolFailedPayload("exit status 2", true, 1)), "t1", "s1")});
  clock.Advance(1000);
  AppendAll(store, "gamma:1", {Message("gamma one")});
  AppendAll(store, "beta", {Message("beta two"), Message("beta three")});
  AppendAll(store, "alpha", {Message("alpha four"), Message("alpha five")}, "alpha-tail");
  clock.Advance(1000);
  AppendAll(store, "gamma:1", {Message("gamma two")});
  AppendAll(store, "beta", {Message("beta four")});
  AppendAll(store, "gamma:1", {Message("gamma three")});
  REQUIRE(store.VerifyAll().ok());
  REQUIRE(store.LastPosition() == 12);
}

struct Region {
  const char* name;
  std::vector<size_t> offsets;
};

// The three regions of a stored record: the 16-byte frame header, the
// envelope (every body byte outside the payload) and the payload bytes.
std::vector<Region> RegionsOf(const std::string& frame, const std::string& run_id, uint64_t sequence) {
  const fb::Record* record = nullptr;
  REQUIRE(internal::CheckRecord(frame, run_id, sequence, &record).ok());
  REQUIRE(record->payload() != nullptr);
  const size_t payload_begin =
      static_cast<size_t>(reinterpret_cast<const char*>(record->payload()->data()) - frame.data());
  const size_t payload_end = payload_begin + record->payload()->size();
  REQUIRE(payload_begin >= internal::kFrameHeaderBytes);
  REQUIRE(payload_end <= frame.size());
  std::vector<Region> regions = {{"frame header", {}}, {"envelope", {}}, {"payload", {}}};
  for (size_t offset = 0; offset < frame.size(); ++offset) {
    if (offset < internal::kFrameHeaderBytes) {
      regions[0].offsets.push_back(offset);
    } else if (offset >= payload_begin && offset < payload_end) {
      regions[2].offsets.push_back(offset);
    } else {
      regions[1].offsets.push_back(offset);
    }
  }
  for (const Region& region : regions) REQUIRE_FALSE(region.offsets.empty());
  return regions;
}

// Every read path over the damaged record answers Corruption naming it.
// Returns a description of each path that did not, empty if all did.
std::vector<std::string> CheckAllPathsReportCorruption(Store& store, const std::string& run_id,
                                                       uint64_t sequence) {
  std::vector<std::string> misses;
  const std::string name = NameOf(run_id, sequence);
  auto expect = [&](const char* path, const Status& status, bool must_name) {
    if (!status.IsCorruption()) {
      misses.push_back(std::string(path) + " returned " + status.ToString());
    } else if (must_name && status.message().find(name) == std::string::npos) {
      misses.push_back(std::string(path) + " does not name " + name + ": " + status.ToString());
    }
  };
  auto event = store.ReadEvent(run_id, sequence);
  expect("ReadEvent", event.status(), true);
  auto run = store.ReadRun(run_id, ReadOptions());
  expect("ReadRun", run.status(), true);
  auto global = store.ReadGlobal(0, kMaxReadLimit);
  expect("ReadGlobal", global.status(), true);
  expect("Verify", store.Verify(run_id), true);
  expect("VerifyAll", store.VerifyAll(), true);
  return misses;
}

}  // namespace

TEST_CASE_METHOD(StoreFixtureAt<kStartUs>,
                 "Corruption.SingleByteFlipsAnywhereInARecordAreCaughtByEveryReadPath", "[corruption]") {
  // Goal: a single damaged byte anywhere in a stored record -- frame header,
  // envelope or payload -- makes ReadEvent, ReadRun, ReadGlobal, Verify and
  // VerifyAll answer Corruption naming `run "R" event N`, and never returns
  // the altered record as OK; records beside it stay readable.
  // Method: for every record of the store (three runs, twelve records),
  // flip every byte once, then kRandomFlipsPerRegion more bytes at random
  // offsets of each region, with a seeded std::mt19937 choosing offsets and XOR masks
  // (non-zero); after each flip run every path, then restore the record.
  Populate(*store, clock);

  const uint32_t seed = static_cast<uint32_t>(NumberFromEnvironment("AGENTLOG_FLIP_SEED", 20240611));
  std::mt19937 random(seed);
  std::uniform_int_distribution<int> mask_of(1, 255);
  constexpr size_t kRandomFlipsPerRegion = 60;
  struct Target {
    std::string run_id;
    uint64_t sequence;
  };
  std::vector<Target> targets;
  for (const auto& [run_id, head] :
       std::vector<std::pair<std::string, uint64_t>>{{"alpha", 5}, {"beta", 4}, {"gamma:1", 3}}) {
    for (uint64_t sequence = 1; sequence <= head; ++sequence) targets.push_back({run_id, sequence});
  }

  size_t tried = 0, caught = 0;
  std::map<std::string, std::pair<size_t, size_t>> by_region;  // tried, caught
  std::vector<std::string> failures;
  for (const Target& target : targets) {
    const std::string original = StoredRecord(*store, target.run_id, target.sequence);
    const std::string neighbour_run = target.run_id;
    const uint64_t neighbour = target.sequence == 1 ? 2 : target.sequence - 1;
    for (const Region& region : RegionsOf(original, target.run_id, target.sequence)) {
      std::vector<size_t> offsets = region.offsets;  // every offset once ...
      std::uniform_int_distribution<size_t> pick(0, region.offsets.size() - 1);
      for (size_t i = 0; i < kRandomFlipsPerRegion; ++i) {
        offsets.push_back(region.offsets[pick(random)]);  // ... then a random sample
      }
      for (size_t offset : offsets) {
        std::string damaged = original;
        const int mask = mask_of(random);
        damaged[offset] = static_cast<char>(static_cast<unsigned char>(damaged[offset]) ^ mask);
        PutRecord(*store, target.run_id, target.sequence, damaged);
        std::vector<std::string> misses =
            CheckAllPathsReportCorruption(*store, target.run_id, target.sequence);
        // The damage is contained: the record beside it still reads.
        auto beside = store->ReadEvent(neighbour_run, neighbour);
        if (!beside.ok()) misses.push_back("neighbour read failed: " + beside.status().ToString());
        ++tried;
        ++by_region[region.name].first;
        if (misses.empty()) {
          ++caught;
          ++by_region[region.name].second;
        } else if (failures.size() < 10) {
          failures.push_back(NameOf(target.run_id, target.sequence) + " " + region.name +
                             " offset " + std::to_string(offset) + " mask " +
                             std::to_string(mask) + ": " + misses.front());
        }
      }
    }
    PutRecord(*store, target.run_id, target.sequence, original);
    REQUIRE(store->VerifyAll().ok());
  }

  std::cout << "[corruption] seed " << seed << ": " << tried << " single-byte flips tried, "
            << caught << " caught by every read path";
  for (const auto& [region, counts] : by_region) {
    std::cout << "; " << region << " " << counts.second << "/" << counts.first;
  }
  std::cout << "\n";
  INFO("seed " << seed << " (set AGENTLOG_FLIP_SEED to repeat another)");
  std::string failure_list;  // one INFO: an INFO inside a loop ends with the loop's body
  for (const std::string& failure : failures) failure_list += failure + "\n";
  INFO(failure_list);
  CHECK(failures.empty());
  CHECK(caught == tried);
  CHECK(tried >= 12 * 3 * kRandomFlipsPerRegion);
  for (const auto& [region, counts] : by_region) CHECK(counts.first >= 12 * kRandomFlipsPerRegion);
}

TEST_CASE_METHOD(StoreFixtureAt<kStartUs>, "Corruption.TruncatedEmptyOrExtendedRecordIsCorruption",
                 "[corruption]") {
  // Goal: a stored record that lost or gained bytes (a torn or padded
  // value) is Corruption naming the record on every path.
  // Method: store prefixes of a record at several lengths (0, inside the
  // header, inside the body), and the record with bytes appended.
  Populate(*store, clock);
  const std::string original = StoredRecord(*store, "beta", 3);
  std::vector<std::string> variants = {
      "", original.substr(0, 1), original.substr(0, internal::kFrameHeaderBytes - 1),
      original.substr(0, internal::kFrameHeaderBytes), original.substr(0, original.size() / 2),
      original.substr(0, original.size() - 1), original + std::string(1, '\0'),
      original + std::string(8, '\x5a')};
  for (const std::string& variant : variants) {
    INFO("stored value of " << variant.size() << " bytes (original " << original.size() << ")");
    PutRecord(*store, "beta", 3, variant);
    std::vector<std::string> misses = CheckAllPathsReportCorruption(*store, "beta", 3);
    for (const std::string& miss : misses) INFO(miss);
    CHECK(misses.empty());
  }
  PutRecord(*store, "beta", 3, original);
  CHECK(store->VerifyAll().ok());
}

TEST_CASE_METHOD(StoreFixtureAt<kStartUs>, "Corruption.DamagedRunMetadataIsCorruptionFromGetRun",
                 "[corruption]") {
  // Goal: a damaged value in the runs index (Space::kRuns) is Corruption
  // from GetRun naming the run's metadata -- and from the paths that depend
  // on it (ReadRun, Verify, VerifyAll, ListRuns, RunDigest) -- never a
  // RunInfo with a wrong head.
  // Method: flip random bytes of beta's metadata one at a time (restoring
  // each), then store gamma:1's well-framed metadata under beta's key.
  Populate(*store, clock);
  const std::string original = StoredValue(*store, Space::kRuns, "beta");
  const std::string name = "run \"beta\" metadata";
  std::mt19937 random(7);
  std::uniform_int_distribution<size_t> offset_of(0, original.size() - 1);
  std::uniform_int_distribution<int> mask_of(1, 255);
  size_t tried = 0, caught = 0;
  for (int i = 0; i < 64; ++i) {
    std::string damaged = original;
    const size_t offset = i < 16 ? static_cast<size_t>(i) : offset_of(random);
    damaged[offset] = static_cast<char>(static_cast<unsigned char>(damaged[offset]) ^ mask_of(random));
    PutValue(*store, Space::kRuns, "beta", damaged);
    auto info = store->GetRun("beta");
    auto events = store->ReadRun("beta", ReadOptions());
    auto runs = store->ListRuns(RunFilter());
    auto digest = store->RunDigest("beta");
    const Status verify = store->Verify("beta");
    const Status verify_all = store->VerifyAll();
    INFO("offset " << offset << ": GetRun " << info.status().ToString());
    ++tried;
    const bool ok = info.status().IsCorruption() &&
                    info.status().message().find(name) != std::string::npos &&
                    events.status().IsCorruption() && runs.status().IsCorruption() &&
                    digest.status().IsCorruption() && verify.IsCorruption() &&
                    verify_all.IsCorruption();
    CHECK(ok);
    if (ok) ++caught;
  }
  std::cout << "[corruption] run metadata: " << tried << " flips tried, " << caught << " caught\n";

  // Well-framed metadata of another run under this key.
  PutValue(*store, Space::kRuns, "beta", StoredValue(*store, Space::kRuns, "gamma:1"));
  auto info = store->GetRun("beta");
  INFO(info.status().ToString());
  CHECK(info.status().IsCorruption());
  CHECK(info.status().message().find(name) != std::string::npos);
  CHECK(store->VerifyAll().IsCorruption());

  PutValue(*store, Space::kRuns, "beta", original);
  CHECK(store->VerifyAll().ok());
}

TEST_CASE_METHOD(StoreFixtureAt<kStartUs>,
                 "Corruption.GlobalEntryPointingAtTheWrongEventIsCorruption", "[corruption]") {
  // Goal: a global index entry that names another event, an event that does
  // not exist, or nothing parseable is Corruption from ReadGlobal and
  // VerifyAll (each global position must point at the event holding it).
  // Method: overwrite the entry of position 8 (alpha event 4) in
  // Space::kGlobal with each bad value, check, restore.
  Populate(*store, clock);
  const uint64_t position = 8;
  auto target = store->ReadEvent("alpha", 4);
  REQUIRE(target.ok());
  REQUIRE(target->global_position() == position);
  const std::string original = StoredValue(*store, Space::kGlobal, GlobalKey(position));
  REQUIRE(original == GlobalValue("alpha", 4));

  const std::vector<std::pair<const char*, std::string>> bad_values = {
      {"another event of the same run", GlobalValue("alpha", 5)},
      {"an event of another run", GlobalValue("beta", 1)},
      {"an event that does not exist", GlobalValue("alpha", 99)},
      {"a run that does not exist", GlobalValue("nobody", 1)},
      {"a value too short to parse", std::string("\0\0\0", 3)},
  };
  for (const auto& [what, value] : bad_values) {
    INFO("global position " << position << " names " << what);
    PutValue(*store, Space::kGlobal, GlobalKey(position), value);
    auto global = store->ReadGlobal(0, kMaxReadLimit);
    INFO("ReadGlobal: " << global.status().ToString());
    CHECK(global.status().IsCorruption());
    // Reading from just after the damaged entry does not see it.
    auto after = store->ReadGlobal(position, kMaxReadLimit);
    CHECK(after.ok());
    const Status verify_all = store->VerifyAll();
    INFO("VerifyAll: " << verify_all.ToString());
    CHECK(verify_all.IsCorruption());
  }

  // A missing entry (a hole in the global order).
  DeleteKey(*store, Space::kGlobal, GlobalKey(position));
  CHECK(store->ReadGlobal(0, kMaxReadLimit).status().IsCorruption());
  CHECK(store->VerifyAll().IsCorruption());

  PutValue(*store, Space::kGlobal, GlobalKey(position), original);
  CHECK(store->VerifyAll().ok());
}

TEST_CASE_METHOD(StoreFixtureAt<kStartUs>, "Corruption.RecordStoredUnderAnotherKeyIsCorruption",
                 "[corruption]") {
  // Goal: an intact, correctly framed record copied under another key (a
  // misdirected write) is refused: its envelope names another event.
  // Method: store alpha event 2's value at alpha event 3's key, then beta
  // event 3's value at alpha event 3's key; check every path names alpha 3.
  Populate(*store, clock);
  const std::string original = StoredRecord(*store, "alpha", 3);
  for (const auto& [run_id, sequence] :
       std::vector<std::pair<std::string, uint64_t>>{{"alpha", 2}, {"beta", 3}}) {
    INFO("alpha event 3 holds " << NameOf(run_id, sequence) << "'s record");
    PutRecord(*store, "alpha", 3, StoredRecord(*store, run_id, sequence));
    std::vector<std::string> misses = CheckAllPathsReportCorruption(*store, "alpha", 3);
    for (const std::string& miss : misses) INFO(miss);
    CHECK(misses.empty());
  }
  PutRecord(*store, "alpha", 3, original);
  CHECK(store->VerifyAll().ok());
}

TEST_CASE_METHOD(StoreFixtureAt<kStartUs>, "Corruption.DamagedIdempotencyEntryRefusesTheRepeat",
                 "[corruption]") {
  // Goal: a damaged idempotency entry is Corruption when a repeat consults
  // it, and the repeat writes nothing (it must not append the events again).
  // Method: flip one byte of the "alpha-tail" entry, repeat that append.
  Populate(*store, clock);
  std::string entry = StoredValue(*store, Space::kIdempotency, "alpha-tail");
  entry[entry.size() - 3] ^= 0x40;
  PutValue(*store, Space::kIdempotency, "alpha-tail", entry);
  std::vector<EventInput> events = {Message("alpha four"), Message("alpha five")};
  AppendOptions options;
  options.durability = Durability::kBuffered;
  options.idempotency_key = "alpha-tail";
  auto repeat = store->Append("alpha", std::span<const EventInput>(events), options);
  INFO(repeat.status().ToString());
  CHECK(repeat.status().IsCorruption());
  CHECK(repeat.status().message().find("alpha-tail") != std::string::npos);
  CHECK(RunInfoOf(*store, "alpha").head_sequence == 5);
  CHECK(store->LastPosition() == 12);
}

TEST_CASE_METHOD(StoreFixtureAt<kStartUs>, "Corruption.OpenReportsALastGlobalEntryNamingAMissingEvent",
                 "[corruption]") {
  // Goal: Open reads the global index's last entry to learn the last
  // position; if that entry names an event that is gone, the store's own
  // index is damaged: Open answers Corruption (store.h), not NotFound
  // (which means "no store here").
  // Method: delete the event at the last global position (gamma:1 event 3),
  // leaving its global entry, then close and reopen.
  Populate(*store, clock);
  DeleteKey(*store, Space::kEvents, EventKey("gamma:1", 3));
  REQUIRE(Close().ok());
  auto reopened = Store::Open(StoreOptions(), dir.path());
  INFO(reopened.status().ToString());
  CHECK(reopened.status().IsCorruption());
  CHECK(reopened.status().message().find(NameOf("gamma:1", 3)) != std::string::npos);
}

TEST_CASE_METHOD(StoreFixture, "Corruption.ListRunsReportsAnIndexEntryWithoutItsRun",
                 "[corruption]") {
  // Goal: a status or session index entry naming a run whose metadata is
  // gone is Corruption naming the run, not a silently shorter list.
  // Method: a run in a session; delete its runs value; list by status and
  // by session.
  EventInput input = Message("x");
  AppendOptions options = WithDurability(Durability::kSync);
  options.session_id = "session-1";
  REQUIRE(store->Append("orphan", std::span(&input, 1), options).ok());
  DeleteKey(*store, Space::kRuns, "orphan");
  RunFilter by_status;
  by_status.status = RunStatus::kCreated;
  RunFilter by_session;
  by_session.session_id = "session-1";
  for (const RunFilter& filter : {by_status, by_session}) {
    auto listed = store->ListRuns(filter);
    REQUIRE_FALSE(listed.ok());
    CHECK(listed.status().IsCorruption());
    CHECK_THAT(listed.status().message(), Catch::Matchers::Contains("\"orphan\", which has no metadata"));
  }
}
