// tests/store_smoke_test.cc: the shortest path through the store: append,
// read back byte-identical, reopen, verify.
#include <catch2/catch.hpp>

#include "testing/test_util.h"

using namespace agentlog;
using namespace agentlog::testing;

TEST_CASE("Store.AppendReadReopenVerify", "[store]") {
  // Goal: an appended event reads back with the same payload bytes and
  // envelope after a reopen, and the run verifies. Method: one store, one run.
  TempDir dir;
  ManualClock clock(1'000'000);
  std::string payload = MessagePayload("user", "hello");
  {
    auto store = OpenStore(dir.path(), &clock);
    auto first = AppendMessage(*store, "run-1", "hello", Durability::kSync);
    CHECK(first.first_sequence == 1);
    CHECK(first.first_position == 1);
    CHECK_FALSE(first.replayed);
    REQUIRE(store->Close().ok());
  }
  auto store = OpenStore(dir.path(), &clock);
  auto event = store->ReadEvent("run-1", 1);
  REQUIRE(event.ok());
  CHECK(event->payload() == payload);
  CHECK(event->run_id() == "run-1");
  CHECK(event->sequence() == 1);
  CHECK(event->timestamp_us() == 1'000'000);
  CHECK(event->type_name() == "MessageAppended");
  REQUIRE(event->body() != nullptr);
  CHECK(event->body()->body_as_MessageAppended()->text()->str() == "hello");
  CHECK(store->Verify("run-1").ok());
  auto second = AppendMessage(*store, "run-1", "again");
  CHECK(second.first_sequence == 2);
  CHECK(second.first_position == 2);
}
