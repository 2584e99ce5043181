// tests/projector_test.cc: the Projector -- StateAt from snapshots equals a
// fold from event 1, snapshot policy and retention, damaged, foreign and
// stale snapshots bypassed and reported, time travel by timestamp, the
// background mode, upcasters, Diff, and every error path.
#include <atomic>
#include <catch2/catch.hpp>
#include <thread>
#include <span>
#include <string>
#include <vector>

#include "agentlog/projector.h"
#include "testing/reference_fold.h"
#include "testing/store_surgery.h"
#include "testing/tally_projection.h"
#include "testing/test_util.h"
#include "testing/counting_store.h"

using namespace agentlog;
using namespace agentlog::testing;
using agentlog::internal::Space;

namespace {

constexpr int64_t kStartUs = 1'700'000'000'000'000;

// Appends `count` message events, each with step id "s<i % 3>".
void AppendSteps(Store& store, const std::string& run_id, size_t count, size_t first = 1) {
  std::vector<EventInput> events;
  for (size_t i = first; i < first + count; ++i) {
    EventInput input = Message("m" + std::to_string(i));
    input.step_id = "s" + std::to_string(i % 3);
    events.push_back(std::move(input));
  }
  for (size_t at = 0; at < events.size(); at += 500) {
    const size_t n = std::min<size_t>(500, events.size() - at);
    auto result = store.Append(run_id, std::span<const EventInput>(events.data() + at, n),
                               WithDurability(Durability::kBuffered));
    INFO(result.status().ToString());
    REQUIRE(result.ok());
  }
}

// The state after event n by folding from event 1 with no projector at all.
std::string FoldFromStart(Store& store, const Projection& projection, const std::string& run_id, uint64_t n) {
  std::vector<Event> events = ReadWholeRun(store, run_id);
  REQUIRE(n <= events.size());
  return FoldAt(projection, events, {n}).at(n);
}

std::string EncodedAt(Projector& projector, const std::string& run_id, uint64_t n, StateInfo* info = nullptr,
                      const std::string& projection = "tally") {
  auto state = projector.StateAt(run_id, projection, n, info);
  INFO("StateAt(" << run_id << ", " << n << "): " << state.status().ToString());
  REQUIRE(state.ok());
  return (*state)->Encode();
}

std::vector<uint64_t> SnapshotSequences(Store& store, const std::string& run_id,
                                        const std::string& projection = "tally") {
  auto entries = store.ReadSnapshots(run_id, projection, UINT64_MAX, kMaxReadLimit);
  REQUIRE(entries.ok());
  std::vector<uint64_t> sequences;
  for (const SnapshotEntry& entry : *entries) sequences.push_back(entry.sequence);
  return sequences;
}

SnapshotPolicy EveryN(uint64_t n) {
  SnapshotPolicy policy;
  policy.every_events = n;
  policy.on_status_change = false;
  policy.on_checkpoint = false;
  policy.keep_latest = 1000;
  policy.keep_older_every = 0;
  return policy;
}

ProjectorOptions WithPolicy(const SnapshotPolicy& policy) {
  ProjectorOptions options;
  options.policy = policy;
  return options;
}

// The shared store fixture, with a projector of a TallyProjection on its store.
struct Fixture : StoreFixture {
  explicit Fixture(SnapshotPolicy policy = EveryN(10)) : StoreFixture(kStartUs) {
    projector = Projector::Create(store.get(), WithPolicy(policy));
    REQUIRE(projector->Register(projection).ok());
  }
  std::shared_ptr<TallyProjection> projection = std::make_shared<TallyProjection>();
  std::unique_ptr<Projector> projector;
};

}  // namespace

TEST_CASE("StateAt with snapshots equals a fold from event 1 at every event, and without them",
          "[projector]") {
  Fixture f(EveryN(7));
  AppendSteps(*f.store, "r", 100);
  REQUIRE(f.projector->CatchUp("r").ok());
  const std::vector<uint64_t> stored = SnapshotSequences(*f.store, "r");
  REQUIRE(stored.size() == 14);  // 98, 91, ..., 7
  CHECK(stored.front() == 98);
  std::vector<std::string> with_snapshots;
  for (uint64_t n = 0; n <= 100; ++n) {
    StateInfo info;
    with_snapshots.push_back(EncodedAt(*f.projector, "r", n, &info));
    CHECK(with_snapshots.back() == FoldFromStart(*f.store, *f.projection, "r", n));
    CHECK(info.sequence == n);
    CHECK(info.bypassed.empty());
    // Cost grows with the distance to the snapshot, not with n; the head's
    // state is in the projector's cache since CatchUp.
    if (n == 100) {
      CHECK(info.events_folded == 0);
    } else if (n >= 7) {
      CHECK(info.snapshot_sequence == n / 7 * 7);
      CHECK(info.events_folded == n % 7);
    }
  }
  REQUIRE(f.store->DeleteSnapshots("r", "", {}).ok());
  CHECK(SnapshotSequences(*f.store, "r").empty());
  auto cold = Projector::Create(f.store.get(), ProjectorOptions{});
  REQUIRE(cold->Register(f.projection).ok());
  for (uint64_t n = 0; n <= 100; ++n) {
    StateInfo info;
    CHECK(EncodedAt(*cold, "r", n, &info) == with_snapshots[n]);
    CHECK(info.snapshot_sequence == 0);
    CHECK(info.events_folded == n);
  }
}

TEST_CASE("CurrentState follows appends, through Projector::Append and the cache", "[projector]") {
  Fixture f;
  std::vector<EventInput> events = Messages(25);
  auto appended = f.projector->Append("r", events, WithDurability(Durability::kSync));
  REQUIRE(appended.ok());
  CHECK(SnapshotSequences(*f.store, "r") == std::vector<uint64_t>{20, 10});
  AppendSteps(*f.store, "r", 3, 26);  // behind the projector's back
  StateInfo info;
  auto state = f.projector->CurrentState("r", "tally", &info);
  REQUIRE(state.ok());
  CHECK(static_cast<TallyState&>(**state).events == 28);
  CHECK(static_cast<TallyState&>(**state).last_message == "m28");
  CHECK(info.sequence == 28);
  CHECK(info.events_folded == 3);  // from the cached state at 25
}

TEST_CASE("snapshot policy: status changes, checkpoints and steps", "[projector]") {
  SnapshotPolicy policy = EveryN(0);
  policy.on_status_change = true;
  policy.on_checkpoint = true;
  policy.around_steps = true;
  Fixture f(policy);
  std::vector<EventInput> events;
  events.push_back(Input(TurnStartedPayload("go")));                         // 1: status created
  events.push_back(Message("hello"));                                        // 2
  events.push_back(Input(StatusPayload(fb::Body_TurnPlanned)));              // 3: planned
  events.push_back(Input(ToolStartedPayload("fetch", "{}"), "step-1"));      // 4: running (before: 3)
  events.push_back(Input(StatusPayload(fb::Body_ToolCompleted), "step-1"));  // 5: after step
  events.push_back(Input(StatusPayload(fb::Body_CheckpointMarked)));         // 6: checkpoint
  events.push_back(Message("more"));                                         // 7
  events.push_back(Input(ToolStartedPayload("send", "{}"), "step-2"));       // 8: before: 7; running again: no change
  events.push_back(Input(ToolFailedPayload("boom", false, 1), "step-2"));    // 9: after step
  events.push_back(Input(StatusPayload(fb::Body_TurnFailed)));               // 10: failed
  REQUIRE(f.projector->Append("r", events, WithDurability(Durability::kBuffered)).ok());
  CHECK(SnapshotSequences(*f.store, "r") == std::vector<uint64_t>{10, 9, 7, 6, 5, 4, 3, 1});
  for (uint64_t n = 0; n <= 10; ++n) {
    CHECK(EncodedAt(*f.projector, "r", n) == FoldFromStart(*f.store, *f.projection, "r", n));
  }
}

TEST_CASE("snapshots around steps when events come one at a time", "[projector]") {
  // The state before a ToolStarted is the cached one when each event is
  // its own append: it is stored all the same.
  SnapshotPolicy policy = EveryN(0);
  policy.around_steps = true;
  Fixture f(policy);
  std::vector<EventInput> events{Input(TurnStartedPayload("go")), Message("hello"),
                                 Input(ToolStartedPayload("fetch", "{}"), "step-1"),
                                 Input(StatusPayload(fb::Body_ToolCompleted), "step-1")};
  for (const EventInput& event : events) {
    REQUIRE(f.projector->Append("r", std::span(&event, 1), WithDurability(Durability::kBuffered)).ok());
  }
  CHECK(SnapshotSequences(*f.store, "r") == std::vector<uint64_t>{4, 2});
}

TEST_CASE("a fork's StateInfo counts the parent's fold, and a fork without its parent is damage",
          "[projector][fork]") {
  Fixture f(EveryN(10));
  AppendSteps(*f.store, "p", 30);
  REQUIRE(f.projector->CatchUp("p").ok());
  ForkOptions options;
  REQUIRE(f.store->Fork("p", 25, "f", options).ok());
  auto fresh = Projector::Create(f.store.get(), ProjectorOptions{});
  REQUIRE(fresh->Register(f.projection).ok());
  StateInfo info;
  CHECK(EncodedAt(*fresh, "f", 26, &info) == FoldFromStart(*f.store, *f.projection, "f", 26));
  CHECK(info.snapshot_sequence == 20);  // the parent's
  CHECK(info.events_folded == 6);       // 21..25 from the parent, then the RunForked
  CHECK(EncodedAt(*fresh, "f", 25, &info) == FoldFromStart(*f.store, *f.projection, "p", 25));
  CHECK(info.snapshot_sequence == 20);
  CHECK(info.events_folded == 5);
  DeleteKey(*f.store, Space::kRuns, "p");
  auto orphan = fresh->StateAt("f", "tally", 26);
  CHECK(orphan.status().IsCorruption());
  CHECK_THAT(orphan.status().message(), Catch::Contains("which does not exist"));
}

TEST_CASE("StateAtTime on a live run never reports its newest event missing", "[projector]") {
  Fixture f(EveryN(50));
  AppendSteps(*f.store, "r", 1);
  constexpr int kAppends = 1500;
  std::atomic<bool> done{false};
  std::atomic<uint64_t> append_failures{0};
  std::thread appender([&] {
    EventInput event = Message("more");
    for (int i = 0; i < kAppends; ++i) {
      // Through the projector, so snapshots keep each fold short.
      if (!f.projector->Append("r", std::span(&event, 1), WithDurability(Durability::kBuffered)).ok()) {
        append_failures.fetch_add(1);
      }
    }
    done = true;
  });
  uint64_t last = 0, reads = 0;
  Status failure;
  while (!done.load() && failure.ok()) {
    StateInfo info;
    auto state = f.projector->StateAtTime("r", "tally", INT64_MAX, &info);
    if (!state.ok()) failure = state.status();
    if (info.sequence < last) failure = Status::Corruption("StateAtTime went backwards");
    last = info.sequence;
    ++reads;
  }
  appender.join();
  INFO(failure.ToString());
  CHECK(failure.ok());
  CHECK(append_failures.load() == 0);
  CHECK(reads > 10);
}

TEST_CASE("retention keeps the newest K and one per window of the older ones", "[projector]") {
  SnapshotPolicy policy = EveryN(10);
  policy.keep_latest = 3;
  policy.keep_older_every = 50;
  Fixture f(policy);
  AppendSteps(*f.store, "r", 200);
  REQUIRE(f.projector->CatchUp("r").ok());
  CHECK(SnapshotSequences(*f.store, "r") == std::vector<uint64_t>{200, 190, 180, 170, 140, 90, 40});
  CHECK(f.projector->stats().snapshots_written == 20);
  CHECK(f.projector->stats().snapshots_deleted == 13);
  for (uint64_t n : {1, 39, 41, 99, 139, 141, 185, 200}) {
    CHECK(EncodedAt(*f.projector, "r", n) == FoldFromStart(*f.store, *f.projection, "r", n));
  }
  // keep_older_every 0: only the newest K survive.
  policy.keep_older_every = 0;
  auto strict = Projector::Create(f.store.get(), WithPolicy(policy));
  REQUIRE(strict->Register(f.projection).ok());
  AppendSteps(*f.store, "r", 10, 201);
  REQUIRE(strict->CatchUp("r").ok());
  CHECK(SnapshotSequences(*f.store, "r") == std::vector<uint64_t>{210, 200, 190});
}

TEST_CASE("a damaged snapshot is reported and bypassed, never trusted", "[projector]") {
  Fixture f(EveryN(10));
  AppendSteps(*f.store, "r", 30);
  REQUIRE(f.projector->CatchUp("r").ok());
  const std::string key = internal::SnapshotKey("r", "tally", 20);
  std::string value = StoredValue(*f.store, Space::kSnapshots, key);
  value[value.size() - 5] ^= 0x01;  // inside the state bytes
  PutValue(*f.store, Space::kSnapshots, key, value);

  auto fresh = Projector::Create(f.store.get(), WithPolicy(EveryN(10)));
  REQUIRE(fresh->Register(f.projection).ok());
  StateInfo info;
  CHECK(EncodedAt(*fresh, "r", 25, &info) == FoldFromStart(*f.store, *f.projection, "r", 25));
  REQUIRE(info.bypassed.size() == 1);
  CHECK(info.bypassed[0].IsCorruption());
  CHECK_THAT(info.bypassed[0].message(), Catch::Contains("\"tally\"") && Catch::Contains("event 20"));
  CHECK(info.snapshot_sequence == 10);
  CHECK(info.events_folded == 15);
  CHECK(fresh->stats().snapshots_bypassed == 1);

  // The store reports it as damaged too, without failing the read.
  auto entries = f.store->ReadSnapshots("r", "tally", 20, 1);
  REQUIRE(entries.ok());
  REQUIRE(entries->size() == 1);
  CHECK(entries->at(0).status.IsCorruption());
  CHECK(entries->at(0).sequence == 20);

  // Damage to the state (the blobs value) and a state from another
  // snapshot are caught the same way; a missing state too.
  const std::string key10 = internal::SnapshotKey("r", "tally", 10);
  const std::string key30 = internal::SnapshotKey("r", "tally", 30);
  std::string state = StoredValue(*f.store, Space::kBlobs, key30);
  state[state.size() - 1] ^= 0x20;
  PutValue(*f.store, Space::kBlobs, key30, state);
  PutValue(*f.store, Space::kBlobs, key10, StoredValue(*f.store, Space::kBlobs, internal::SnapshotKey("r", "tally", 20)));
  auto again = Projector::Create(f.store.get(), ProjectorOptions{});
  REQUIRE(again->Register(f.projection).ok());
  CHECK(EncodedAt(*again, "r", 30, &info) == FoldFromStart(*f.store, *f.projection, "r", 30));
  REQUIRE(info.bypassed.size() == 3);
  CHECK_THAT(info.bypassed[0].message(), Catch::Contains("event 30 state: checksum mismatch"));
  CHECK_THAT(info.bypassed[2].message(), Catch::Contains("event 10") &&
                                             Catch::Contains("not the one its metadata describes"));
  CHECK(info.snapshot_sequence == 0);
  DeleteKey(*f.store, Space::kBlobs, key30);
  entries = f.store->ReadSnapshots("r", "tally", 30, 1);
  REQUIRE(entries.ok());
  CHECK_THAT(entries->at(0).status.message(), Catch::Contains("its state is missing"));
  // Listing without states does not read them: the metadata is intact.
  entries = f.store->ReadSnapshots("r", "tally", 30, 1, /*with_state=*/false);
  REQUIRE(entries.ok());
  CHECK(entries->at(0).status.ok());
  CHECK(entries->at(0).state.empty());
}

TEST_CASE("a snapshot of another history, or that does not decode, is bypassed", "[projector]") {
  Fixture f(EveryN(10));
  AppendSteps(*f.store, "r", 20);
  REQUIRE(f.projector->CatchUp("r").ok());
  // A well-framed snapshot whose chain hash is not event 20's: taken on a
  // history that is not this run's.
  auto put = [&](uint64_t sequence, const internal::SnapshotValues& values) {
    const std::string key = internal::SnapshotKey("r", "tally", sequence);
    PutValue(*f.store, Space::kSnapshots, key, values.meta);
    PutValue(*f.store, Space::kBlobs, key, values.state);
  };
  put(20, internal::EncodeSnapshot("r", "tally", 1, 20, std::string(32, '\x5a'), "x"));
  // A well-framed snapshot at 10 whose state bytes are not a tally state.
  put(10, internal::EncodeSnapshot("r", "tally", 1, 10, std::string(f.store->ReadEvent("r", 10)->chain_hash()),
                                   "garbage"));
  auto fresh = Projector::Create(f.store.get(), ProjectorOptions{});
  REQUIRE(fresh->Register(f.projection).ok());
  StateInfo info;
  CHECK(EncodedAt(*fresh, "r", 20, &info) == FoldFromStart(*f.store, *f.projection, "r", 20));
  REQUIRE(info.bypassed.size() == 2);
  CHECK_THAT(info.bypassed[0].message(), Catch::Contains("not taken on this run's history"));
  CHECK_THAT(info.bypassed[1].message(), Catch::Contains("does not decode"));
  CHECK(info.snapshot_sequence == 0);
  CHECK(info.events_folded == 20);
}

TEST_CASE("a projection version bump ignores old snapshots and rebuilds them", "[projector]") {
  Fixture f(EveryN(10));
  AppendSteps(*f.store, "r", 30);
  REQUIRE(f.projector->CatchUp("r").ok());
  auto v2 = std::make_shared<TallyProjection>(2);
  auto next = Projector::Create(f.store.get(), WithPolicy(EveryN(10)));
  REQUIRE(next->Register(v2).ok());
  StateInfo info;
  CHECK(EncodedAt(*next, "r", 30, &info) == FoldFromStart(*f.store, *v2, "r", 30));
  CHECK(info.snapshot_sequence == 0);
  REQUIRE(info.bypassed.size() == 3);
  for (const Status& status : info.bypassed) {
    CHECK(status.IsInvalidArgument());
    CHECK_THAT(status.message(), Catch::Contains("version 1, not 2"));
  }
  CHECK(next->stats().snapshots_stale == 3);
  REQUIRE(next->CatchUp("r").ok());
  auto entries = f.store->ReadSnapshots("r", "tally", UINT64_MAX, 100);
  REQUIRE(entries.ok());
  REQUIRE(entries->size() == 3);
  for (const SnapshotEntry& entry : *entries) CHECK(entry.version == 2);
  auto again = Projector::Create(f.store.get(), ProjectorOptions{});
  REQUIRE(again->Register(v2).ok());
  CHECK(EncodedAt(*again, "r", 25, &info) == FoldFromStart(*f.store, *v2, "r", 25));
  CHECK(info.snapshot_sequence == 20);
  CHECK(info.bypassed.empty());
}

TEST_CASE("time travel by timestamp, for one run and for every run", "[projector]") {
  Fixture f;
  AppendSteps(*f.store, "a", 5);            // a: 1..5 at t0
  f.clock.Advance(60'000'000);
  AppendSteps(*f.store, "b", 2);            // b: 1..2 at t0+60s
  AppendSteps(*f.store, "a", 3, 6);         // a: 6..8 at t0+60s
  f.clock.Advance(60'000'000);
  AppendSteps(*f.store, "c", 4);            // c: 1..4 at t0+120s
  const int64_t t0 = kStartUs;

  CHECK(*f.store->PositionAtTime(t0 - 1) == 0);
  CHECK(*f.store->PositionAtTime(t0) == 5);
  CHECK(*f.store->PositionAtTime(t0 + 59'999'999) == 5);
  CHECK(*f.store->PositionAtTime(t0 + 60'000'000) == 10);
  CHECK(*f.store->PositionAtTime(INT64_MAX) == 14);
  CHECK(*f.store->PositionAtTime(INT64_MIN) == 0);

  StateInfo info;
  auto a = f.projector->StateAtTime("a", "tally", t0 + 30'000'000, &info);
  REQUIRE(a.ok());
  CHECK(info.sequence == 5);
  CHECK((*a)->Encode() == FoldFromStart(*f.store, *f.projection, "a", 5));
  auto c = f.projector->StateAtTime("c", "tally", t0 + 30'000'000);
  CHECK(c.status().IsNotFound());
  CHECK_THAT(c.status().message(), Catch::Contains("had no event of its own"));

  auto all = f.projector->StatesAtTime("tally", t0 + 60'000'000, RunFilter{});
  REQUIRE(all.ok());
  REQUIRE(all->size() == 2);  // c did not exist yet
  CHECK(all->at(0).run_id == "a");
  CHECK(all->at(0).sequence == 8);
  CHECK(all->at(0).state->Encode() == FoldFromStart(*f.store, *f.projection, "a", 8));
  CHECK(all->at(1).run_id == "b");
  CHECK(all->at(1).sequence == 2);
  auto before = f.projector->StatesAtTime("tally", t0 - 1, RunFilter{});
  REQUIRE(before.ok());
  CHECK(before->empty());
  auto later = f.projector->StatesAtTime("tally", t0 + 120'000'000, RunFilter{});
  REQUIRE(later.ok());
  CHECK(later->size() == 3);
}

TEST_CASE("the background mode snapshots runs as they grow", "[projector]") {
  Fixture f(EveryN(10));
  REQUIRE(f.projector->StartBackground().ok());
  CHECK(f.projector->StartBackground().IsBusy());
  AppendSteps(*f.store, "r", 35);
  AppendSteps(*f.store, "q", 12);
  CHECK(WaitUntil([&] { return f.projector->stats().snapshots_written == 4; }, 10000));
  REQUIRE(f.projector->StopBackground().ok());
  REQUIRE(f.projector->StopBackground().ok());  // idempotent
  CHECK(SnapshotSequences(*f.store, "r") == std::vector<uint64_t>{30, 20, 10});
  CHECK(SnapshotSequences(*f.store, "q") == std::vector<uint64_t>{10});
}

TEST_CASE("projector errors", "[projector]") {
  Fixture f;
  AppendSteps(*f.store, "r", 3);
  CHECK(f.projector->Register(nullptr).IsInvalidArgument());
  CHECK(f.projector->Register(std::make_shared<TallyProjection>(1)).IsInvalidArgument());  // same name
  CHECK(f.projector->Register(std::make_shared<TallyProjection>(1, "bad name")).IsInvalidArgument());
  CHECK(f.projector->StateAt("r", "nope", 1).status().IsNotFound());
  CHECK(f.projector->StateAt("missing", "tally", 1).status().IsNotFound());
  auto past = f.projector->StateAt("r", "tally", 4);
  CHECK(past.status().IsNotFound());
  CHECK_THAT(past.status().message(), Catch::Contains("has 3 events; event 4 does not exist"));
  CHECK(f.projector->StateAt("bad id!", "tally", 1).status().IsInvalidArgument());
  CHECK(f.projector->CatchUp("missing").IsNotFound());
  auto initial = f.projector->StateAt("r", "tally", 0);
  REQUIRE(initial.ok());
  CHECK((*initial)->Encode() == f.projection->Initial()->Encode());
  // A refused append reaches no projection.
  AppendOptions conflicting = WithDurability(Durability::kSync);
  conflicting.expected_head = 1;
  std::vector<EventInput> one = Messages(1);
  CHECK(f.projector->Append("r", one, conflicting).status().IsConflict());
  CHECK(f.projector->stats().snapshots_written == 0);
}

TEST_CASE("snapshot store errors leave nothing written", "[projector]") {
  Fixture f;
  AppendSteps(*f.store, "r", 3);
  Store& store = *f.store;
  CHECK(store.PutSnapshot("r", "tally", 1, 0, "x", Durability::kSync).IsInvalidArgument());
  CHECK(store.PutSnapshot("r", "tally", 1, 4, "x", Durability::kSync).IsNotFound());
  CHECK(store.PutSnapshot("missing", "tally", 1, 1, "x", Durability::kSync).IsNotFound());
  CHECK(store.PutSnapshot("r", "bad name", 1, 1, "x", Durability::kSync).IsInvalidArgument());
  CHECK(store.PutSnapshot("r", "", 1, 1, "x", Durability::kSync).IsInvalidArgument());
  const std::string huge(kMaxSnapshotBytes + 1, 'x');
  CHECK(store.PutSnapshot("r", "tally", 1, 1, huge, Durability::kSync).IsLimitExceeded());
  CHECK(SnapshotSequences(store, "r").empty());
  CHECK(store.ReadSnapshots("r", "tally", 10, 0).status().IsInvalidArgument());
  CHECK(store.ReadSnapshots("r", "tally", 10, kMaxReadLimit + 1).status().IsInvalidArgument());
  CHECK(store.ReadSnapshots("bad id!", "tally", 10, 1).status().IsInvalidArgument());
  const uint64_t one = 1;
  CHECK(store.DeleteSnapshots("r", "", std::span<const uint64_t>(&one, 1)).IsInvalidArgument());
  // Two projections of a run keep apart; deleting one's leaves the other's.
  REQUIRE(store.PutSnapshot("r", "tally", 1, 2, "a", Durability::kSync).ok());
  REQUIRE(store.PutSnapshot("r", "tally2", 1, 2, "b", Durability::kSync).ok());
  const uint64_t two = 2;
  REQUIRE(store.DeleteSnapshots("r", "tally", std::span<const uint64_t>(&two, 1)).ok());
  CHECK(SnapshotSequences(store, "r").empty());
  CHECK(SnapshotSequences(store, "r", "tally2") == std::vector<uint64_t>{2});
  auto entry = store.ReadSnapshots("r", "tally2", 2, 1);
  REQUIRE(entry.ok());
  CHECK(entry->at(0).state == "b");
  CHECK(entry->at(0).chain_hash == store.ReadEvent("r", 2)->chain_hash());
  REQUIRE(store.Close().ok());
  CHECK(store.PutSnapshot("r", "tally", 1, 1, "x", Durability::kSync).IsClosed());
  CHECK(store.ReadSnapshots("r", "tally", 1, 1).status().IsClosed());
  CHECK(store.DeleteSnapshots("r", "", {}).IsClosed());
  CHECK(store.PositionAtTime(0).status().IsClosed());
}

TEST_CASE("Diff lists added, removed and changed fields in path order", "[projector]") {
  TallyState before;
  before.events = 3;
  before.last_message = "hi";
  before.per_step["s1"] = 2;
  before.per_step["s2"] = 1;
  TallyState after = before;
  after.events = 4;
  after.per_step.erase("s2");
  after.per_step["s3"] = 1;
  const std::vector<FieldChange> changes = Diff(before, after);
  REQUIRE(changes.size() == 3);
  CHECK(changes[0].kind == FieldChange::Kind::kChanged);
  CHECK(changes[0].path == "events");
  CHECK(changes[0].before == "3");
  CHECK(changes[0].after == "4");
  CHECK(changes[1].kind == FieldChange::Kind::kRemoved);
  CHECK(changes[1].path == "steps.s2");
  CHECK(changes[1].before == "1");
  CHECK(changes[2].kind == FieldChange::Kind::kAdded);
  CHECK(changes[2].path == "steps.s3");
  CHECK(changes[2].after == "1");
  CHECK(FieldChangeKindName(changes[2].kind) == "added");
  CHECK(Diff(before, before).empty());
}

TEST_CASE("AppendAndFold folds each appended event once into the writer's state", "[projector]") {
  Fixture f;
  CountingStore counting(f.store.get());
  auto projector = Projector::Create(&counting, WithPolicy(EveryN(10)));
  REQUIRE(projector->Register(f.projection).ok());
  std::unique_ptr<ProjectionState> state = f.projection->Initial();
  AppendOptions options = WithDurability(Durability::kBuffered);
  options.expected_head = 0;
  std::vector<EventInput> events = Messages(25);
  auto appended = projector->AppendAndFold("r", events, options, "tally", state.get());
  INFO(appended.status().ToString());
  REQUIRE(appended.ok());
  CHECK(appended->last_sequence == 25);
  CHECK(state->Encode() == FoldFromStart(*f.store, *f.projection, "r", 25));
  CHECK(SnapshotSequences(*f.store, "r") == std::vector<uint64_t>{20, 10});
  // A new run: its metadata once (its fork point), then its 25 events once,
  // and retention's listing after the snapshots were written.
  CHECK(counting.calls().reads == 3);
  CHECK(counting.calls().run_reads == 1);
  CHECK(counting.calls().events_read == 25);

  counting.Reset();
  options.expected_head = 25;
  events = Messages(5, "n");
  REQUIRE(projector->AppendAndFold("r", events, options, "tally", state.get()).ok());
  CHECK(static_cast<TallyState&>(*state).events == 30);
  CHECK(static_cast<TallyState&>(*state).last_message == "n-5");
  CHECK(state->Encode() == FoldFromStart(*f.store, *f.projection, "r", 30));
  CHECK(SnapshotSequences(*f.store, "r") == std::vector<uint64_t>{30, 20, 10});
  // The five events, read once, and retention's listing after event 30's
  // snapshot; not the run's metadata, which the projector has cached.
  CHECK(counting.calls().reads == 2);
  CHECK(counting.calls().run_reads == 1);
  CHECK(counting.calls().events_read == 5);
  // The projector's own reads start from the state it folded.
  StateInfo info;
  REQUIRE(projector->CurrentState("r", "tally", &info).ok());
  CHECK(info.events_folded == 0);
}

TEST_CASE("AppendAndFold refusals append nothing and leave the state as it was", "[projector]") {
  Fixture f;
  std::unique_ptr<ProjectionState> state = f.projection->Initial();
  std::vector<EventInput> events = Messages(3);
  AppendOptions options = WithDurability(Durability::kBuffered);
  auto refused = f.projector->AppendAndFold("r", events, options, "tally", state.get());
  CHECK(refused.status().IsInvalidArgument());
  CHECK(refused.status().message().find("expected_head") != std::string::npos);
  options.expected_head = 0;
  options.idempotency_key = "k";
  refused = f.projector->AppendAndFold("r", events, options, "tally", state.get());
  CHECK(refused.status().IsInvalidArgument());
  CHECK(refused.status().message().find("idempotent") != std::string::npos);
  options.idempotency_key.clear();
  refused = f.projector->AppendAndFold("r", events, options, "no-such", state.get());
  CHECK(refused.status().IsNotFound());
  CHECK(f.store->GetRun("r").status().IsNotFound());

  REQUIRE(f.projector->AppendAndFold("r", events, options, "tally", state.get()).ok());
  const std::string before = state->Encode();
  AppendSteps(*f.store, "r", 2, 4);  // another writer moves the head to 5
  options.expected_head = 3;
  refused = f.projector->AppendAndFold("r", events, options, "tally", state.get());
  CHECK(refused.status().IsConflict());
  CHECK(state->Encode() == before);
  CHECK(f.store->GetRun("r")->head_sequence == 5);
}

TEST_CASE("FoldForward folds only the new events, and never a snapshot", "[projector]") {
  Fixture f;
  std::vector<EventInput> events = Messages(25);
  REQUIRE(f.projector->Append("r", events, WithDurability(Durability::kBuffered)).ok());
  auto state = f.projector->StateAt("r", "tally", 12, nullptr);
  REQUIRE(state.ok());
  AppendSteps(*f.store, "r", 1010, 26);  // more than one page of reads
  auto at = f.projector->FoldForward("r", "tally", 12, state->get());
  INFO(at.status().ToString());
  REQUIRE(at.ok());
  CHECK(*at == 1035);
  CHECK((*state)->Encode() == FoldFromStart(*f.store, *f.projection, "r", 1035));
  CHECK(SnapshotSequences(*f.store, "r") == std::vector<uint64_t>{20, 10});
  auto none = f.projector->FoldForward("r", "tally", 1035, state->get());
  REQUIRE(none.ok());
  CHECK(*none == 1035);
  CHECK(f.projector->FoldForward("nobody", "tally", 0, state->get()).status().IsNotFound());
  CHECK(f.projector->FoldForward("r", "no-such", 0, state->get()).status().IsNotFound());
}
