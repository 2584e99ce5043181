// tests/backend_seam_test.cc: the store's logic does not depend on RocksDB.
//
// Goal: everything RocksDB-specific sits behind engine/backend.h, so the
// same scenario must behave identically on the RocksDB backend and on the
// in-memory one (a later replicated backend gets the same test). Method: one
// scenario function, run on both; it asserts the observable contract.
#include <catch2/catch.hpp>

#include "engine/backend.h"
#include "engine/store_impl.h"
#include "testing/test_util.h"

using namespace agentlog;
using namespace agentlog::testing;

namespace {

void RunScenario(Store& store) {
  // Appends with sequences, positions and a multi-event append.
  AppendMessage(store, "seam-a", "one");
  AppendMessage(store, "seam-b", "two");
  std::vector<EventInput> pair = {Message("three"), Message("four")};
  AppendOptions options;
  options.durability = Durability::kSync;
  options.idempotency_key = "seam-key";
  auto appended = store.Append("seam-a", pair, options);
  REQUIRE(appended.ok());
  CHECK(appended->first_sequence == 2);
  CHECK(appended->last_sequence == 3);
  CHECK(appended->first_position == 3);
  CHECK(appended->last_position == 4);

  // Idempotent repeat writes nothing.
  auto repeat = store.Append("seam-a", pair, options);
  REQUIRE(repeat.ok());
  CHECK(repeat->replayed);
  CHECK(repeat->first_position == 3);
  CHECK(store.LastPosition() == 4);

  // Optimistic concurrency.
  AppendOptions stale;
  stale.expected_head = 1;
  EventInput five = Message("five");
  auto conflict = store.Append("seam-a", std::span(&five, 1), stale);
  CHECK(conflict.status().IsConflict());

  // Reads, both directions, and the global feed.
  auto forward = store.ReadRun("seam-a", ReadOptions{});
  REQUIRE(forward.ok());
  REQUIRE(forward->size() == 3);
  CHECK((*forward)[2].body()->body_as_MessageAppended()->text()->str() == "four");
  ReadOptions reverse;
  reverse.reverse = true;
  reverse.limit = 2;
  auto backward = store.ReadRun("seam-a", reverse);
  REQUIRE(backward.ok());
  REQUIRE(backward->size() == 2);
  CHECK((*backward)[0].sequence() == 3);
  CHECK((*backward)[1].sequence() == 2);
  auto global = store.ReadGlobal(1, 10);
  REQUIRE(global.ok());
  REQUIRE(global->size() == 3);
  CHECK((*global)[0].run_id() == "seam-b");

  // Runs index, verification and digests.
  auto runs = store.ListRuns(RunFilter{});
  REQUIRE(runs.ok());
  REQUIRE(runs->size() == 2);
  CHECK((*runs)[0].run_id == "seam-a");
  CHECK((*runs)[0].head_sequence == 3);
  VerifyStats stats;
  CHECK(store.VerifyAll(&stats).ok());
  CHECK(stats.runs == 2);
  CHECK(stats.events == 4);
  auto digest = store.StoreDigest();
  REQUIRE(digest.ok());
  AppendMessage(store, "seam-c", "later");
  CHECK(store.VerifyAgainst(*digest).ok());
}

}  // namespace

TEST_CASE("BackendSeam.SameBehaviourOnRocksDbAndMemory", "[seam]") {
  ManualClock clock(5'000'000);
  SECTION("rocksdb") {
    TempDir dir;
    auto store = OpenStore(dir.path(), &clock);
    RunScenario(*store);
  }
  SECTION("memory") {
    Options options;
    options.clock = &clock;
    auto store = internal::OpenStoreOnBackend(options, internal::NewMemoryBackend());
    REQUIRE(store.ok());
    RunScenario(**store);
  }
}
