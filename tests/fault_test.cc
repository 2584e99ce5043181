// tests/fault_test.cc: what appends do when the write under them fails, and
// what durability a repeated (idempotent) append gets. Faults come from
// testing/fault_backend.h around the in-memory or the RocksDB backend.
#include <catch2/catch.hpp>
#include <chrono>
#include <thread>

#include "engine/store_impl.h"
#include "testing/fault_backend.h"
#include "testing/test_util.h"

using namespace agentlog;
using namespace agentlog::testing;
using Catch::Matchers::Contains;

namespace {

struct FaultyStore {
  FaultBackend* faults = nullptr;  // owned by the store
  std::unique_ptr<Store> store;
};

FaultyStore OpenFaulty(Clock* clock, std::unique_ptr<internal::Backend> inner) {
  auto backend = std::make_unique<FaultBackend>(std::move(inner));
  FaultyStore result;
  result.faults = backend.get();
  Options options;
  options.clock = clock;
  auto store = internal::OpenStoreOnBackend(options, std::move(backend));
  REQUIRE(store.ok());
  result.store = std::move(store).value();
  return result;
}

AppendOptions Keyed(const std::string& key, Durability durability) {
  AppendOptions options = WithDurability(durability);
  options.idempotency_key = key;
  return options;
}

// Waits until `count` appends are queued behind the committer.
void SleepForQueue() { std::this_thread::sleep_for(std::chrono::milliseconds(100)); }

}  // namespace

TEST_CASE("Fault.FailedWriteFailsEveryAppendOfItsGroupIncludingReplays", "[fault]") {
  // Goal: when a group's write fails, every append answered from that group
  // gets IOError -- also a repeat of a key first staged in the same group,
  // which must not report "replayed" for events never stored -- and the
  // store refuses appends until it is reopened. Method: block the first
  // append's write so that A and its repeat B queue behind it and commit as
  // one group, and fail that group's write.
  ManualClock clock(1'000);
  FaultyStore faulty = OpenFaulty(&clock, internal::NewMemoryBackend());
  const int first_append_write = faulty.faults->writes();
  faulty.faults->BlockWrite(first_append_write);
  faulty.faults->FailWrite(first_append_write + 1);
  std::thread blocker([&] { AppendMessage(*faulty.store, "other", "first"); });
  faulty.faults->WaitUntilBlocked();
  std::vector<EventInput> events = {Message("a")};
  Result<AppendResult> first = Status::Busy("not run");
  Result<AppendResult> repeat = Status::Busy("not run");
  std::thread a([&] { first = faulty.store->Append("r", events, Keyed("k", Durability::kBuffered)); });
  SleepForQueue();
  std::thread b([&] { repeat = faulty.store->Append("r", events, Keyed("k", Durability::kBuffered)); });
  SleepForQueue();
  faulty.faults->ReleaseWrite();
  blocker.join();
  a.join();
  b.join();
  INFO("first: " << first.status().ToString() << "; repeat: " << repeat.status().ToString());
  CHECK(first.status().IsIOError());
  CHECK(repeat.status().IsIOError());
  CHECK(faulty.store->GetRun("r").status().IsNotFound());
  CHECK(faulty.store->ReadEvent("r", 1).status().IsNotFound());
  EventInput later = Message("later");
  auto refused = faulty.store->Append("r", std::span(&later, 1), WithDurability(Durability::kSync));
  CHECK(refused.status().IsIOError());
  CHECK_THAT(refused.status().message(), Contains("reopen"));
}

TEST_CASE("Fault.SyncRepeatOfABufferedAppendIsFsynced", "[fault]") {
  // Goal: a kSync append is acknowledged only after an fsync, also when it
  // is answered as a repeat of an earlier kBuffered append (whose write may
  // still be in the OS cache). Method: a buffered keyed append, then its
  // kSync repeat: the repeat writes nothing but calls SyncWal; a kBuffered
  // repeat does not.
  ManualClock clock(1'000);
  FaultyStore faulty = OpenFaulty(&clock, internal::NewMemoryBackend());
  std::vector<EventInput> events = {Message("a")};
  REQUIRE(faulty.store->Append("r", events, Keyed("k", Durability::kBuffered)).ok());
  const int writes = faulty.faults->writes();
  const int syncs = faulty.faults->syncs();
  auto buffered_repeat = faulty.store->Append("r", events, Keyed("k", Durability::kBuffered));
  REQUIRE(buffered_repeat.ok());
  CHECK(buffered_repeat->replayed);
  CHECK(faulty.faults->syncs() == syncs);
  auto sync_repeat = faulty.store->Append("r", events, Keyed("k", Durability::kSync));
  REQUIRE(sync_repeat.ok());
  CHECK(sync_repeat->replayed);
  CHECK(faulty.faults->writes() == writes);
  CHECK(faulty.faults->syncs() == syncs + 1);
}

TEST_CASE("Fault.SyncRepeatInTheSameGroupMakesTheGroupWriteSync", "[fault]") {
  // Goal: a kBuffered append and its kSync repeat committed in one group are
  // written with sync (the repeat's promise covers the first's events).
  // Method: block the first append's write, queue both behind it.
  ManualClock clock(1'000);
  FaultyStore faulty = OpenFaulty(&clock, internal::NewMemoryBackend());
  const int first_append_write = faulty.faults->writes();
  faulty.faults->BlockWrite(first_append_write);
  std::thread blocker([&] { AppendMessage(*faulty.store, "other", "first"); });
  faulty.faults->WaitUntilBlocked();
  std::vector<EventInput> events = {Message("a")};
  Result<AppendResult> buffered = Status::Busy("not run");
  Result<AppendResult> synced = Status::Busy("not run");
  std::thread a([&] { buffered = faulty.store->Append("r", events, Keyed("k", Durability::kBuffered)); });
  SleepForQueue();
  std::thread b([&] { synced = faulty.store->Append("r", events, Keyed("k", Durability::kSync)); });
  SleepForQueue();
  faulty.faults->ReleaseWrite();
  blocker.join();
  a.join();
  b.join();
  REQUIRE(buffered.ok());
  REQUIRE(synced.ok());
  CHECK(synced->replayed);
  const std::vector<bool> flags = faulty.faults->write_sync_flags();
  REQUIRE(flags.size() == static_cast<size_t>(first_append_write + 2));
  CHECK(flags.back());
}

TEST_CASE("Fault.FailedWriteOnRocksDbLeavesNothingAfterReopen", "[fault]") {
  // Goal: an append whose write failed is absent after reopening, earlier
  // acknowledged appends are all there, and the reopened store appends
  // again with the next sequence. Method: RocksDB backend wrapped in the
  // fault backend; fail the third append's write; reopen with Store::Open.
  TempDir dir;
  ManualClock clock(1'000);
  {
    auto inner = internal::OpenRocksDbBackend(internal::BackendOptions(), dir.path());
    REQUIRE(inner.ok());
    FaultyStore faulty = OpenFaulty(&clock, std::move(inner).value());
    AppendMessage(*faulty.store, "r", "one", Durability::kSync);
    AppendMessage(*faulty.store, "r", "two", Durability::kSync);
    faulty.faults->FailWrite(faulty.faults->writes());
    EventInput three = Message("three");
    auto failed = faulty.store->Append("r", std::span(&three, 1), WithDurability(Durability::kSync));
    CHECK(failed.status().IsIOError());
    // Close says the store had stopped, and closes all the same.
    CHECK_THAT(faulty.store->Close().message(), Contains("stopped writing"));
  }
  auto store = OpenStore(dir.path(), &clock);
  auto run = store->GetRun("r");
  REQUIRE(run.ok());
  CHECK(run->head_sequence == 2);
  CHECK(store->VerifyAll().ok());
  auto next = AppendMessage(*store, "r", "three again", Durability::kSync);
  CHECK(next.first_sequence == 3);
  CHECK(next.first_position == 3);
}
