// tests/schema_evolution_test.cc: old code reads what newer agentlog writes
// (schema/events.fbs COMPATIBILITY RULES).
//
// Goal: a payload of an event type this build does not know (written by a
// newer schema) is refused by default, stored when
// Options::accept_unknown_event_types is set, and read back by this build
// with its type number, raw bytes and chain intact; a known table with a
// field appended by a newer schema is read with its old fields intact.
// Method: tests/schema_next/events_next.fbs is events.fbs plus a table
// ToolCancelled (union member 33) and fields appended to MessageAppended and
// ToolFailed; tests/schema_next/next_payloads.cc builds payloads with it in
// a translation unit of its own. This file reads them with agentlog::fb
// only, the way an old reader would.
#include <catch2/catch.hpp>
#include <span>
#include <string>
#include <vector>

#include "agentlog/record_generated.h"
#include "base/crypto.h"
#include "engine/frame.h"
#include "schema_next/next_payloads.h"
#include "testing/test_util.h"

using namespace agentlog;
using namespace agentlog::testing;

namespace {

// The event type the stored envelope (schema/record.fbs) holds, read from the
// frame as the engine reads it.
uint16_t FrameEventType(std::string_view frame) {
  std::string copy;
  std::string_view aligned = internal::AlignedFrame(frame, &copy);
  return fb::GetRecord(aligned.data() + internal::kFrameHeaderBytes)->event_type();
}

constexpr uint16_t kFutureType = 33;

Result<AppendResult> AppendPayloads(Store& store, const std::string& run_id,
                                    const std::vector<std::string>& payloads) {
  std::vector<EventInput> events;
  for (const std::string& payload : payloads) events.push_back(Input(payload));
  AppendOptions options;
  options.durability = Durability::kBuffered;
  return store.Append(run_id, std::span<const EventInput>(events), options);
}

Options AcceptingUnknownTypes() {
  Options options;
  options.accept_unknown_event_types = true;
  return options;
}

// Every typed accessor of this build returns nullptr for a body it does
// not know; a sample across the union, first to last.
void CheckNoTypedAccessorMatches(const fb::Event* body) {
  CHECK(body->body_as_TurnStarted() == nullptr);
  CHECK(body->body_as_ToolStarted() == nullptr);
  CHECK(body->body_as_ToolCompleted() == nullptr);
  CHECK(body->body_as_ToolFailed() == nullptr);
  CHECK(body->body_as_MessageAppended() == nullptr);
  CHECK(body->body_as_LeaseAcquired() == nullptr);
  CHECK(body->body_as_CheckpointMarked() == nullptr);
}

}  // namespace

TEST_CASE("SchemaEvolution.TheFutureSchemaOnlyAppends", "[schema]") {
  // Goal: the test's premise holds -- this build knows types 1..32 and the
  // future schema appends ToolCancelled as 33 right after them. If a real
  // type 33 is added to schema/events.fbs, move the future one up.
  // Method: compare the two generated catalogues' numbers.
  CHECK(kMaxKnownEventType == 32);
  CHECK(next::ToolCancelledType() == kFutureType);
  CHECK(next::MaxKnownEventType() == kMaxKnownEventType + 1);
  CHECK(EventTypeName(kFutureType) == "unknown(33)");
  CHECK(EventTypeName(fb::Body_ToolFailed) == "ToolFailed");
}

TEST_CASE("SchemaEvolution.DefaultStoreRefusesAnUnknownEventType", "[schema]") {
  // Goal: by default a payload of an unknown type is refused with
  // InvalidArgument naming the type number, and nothing is written -- also
  // when it comes with known events in the same append.
  // Method: append a ToolCancelled payload alone, then after a known event.
  TempDir dir;
  ManualClock clock(1'000'000);
  auto store = OpenStore(dir.path(), &clock);
  const std::string future = next::ToolCancelledPayload("user pressed stop");
  auto alone = AppendPayloads(*store, "r1", {future});
  INFO(alone.status().ToString());
  CHECK(alone.status().IsInvalidArgument());
  CHECK(alone.status().message().find("event type 33") != std::string::npos);
  auto mixed = AppendPayloads(*store, "r1", {MessagePayload("user", "hi"), future});
  INFO(mixed.status().ToString());
  CHECK(mixed.status().IsInvalidArgument());
  CHECK(mixed.status().message().find("33") != std::string::npos);
  CHECK(store->LastPosition() == 0);
  CHECK(store->GetRun("r1").status().IsNotFound());
}

TEST_CASE("SchemaEvolution.UnknownEventTypeIsStoredAndReadByOldCode", "[schema]") {
  // Goal: with accept_unknown_event_types the future event is stored, and
  // this build reads it back: type() == 33, type_name() "unknown(33)",
  // body()->body_type() == 33 with every typed accessor nullptr, payload
  // bytes identical (the future schema still reads them), the run verifies
  // and digests -- also after a reopen with default options (the option
  // gates appends, not reads).
  // Method: append [TurnStarted, ToolCancelled, MessageAppended] to a run.
  TempDir dir;
  ManualClock clock(1'000'000);
  const std::string future = next::ToolCancelledPayload("user pressed stop");
  std::string digest;
  {
    auto store = OpenStore(dir.path(), &clock, AcceptingUnknownTypes());
    auto appended = AppendPayloads(
        *store, "r1", {TurnStartedPayload("deploy"), future, MessagePayload("user", "after")});
    INFO(appended.status().ToString());
    REQUIRE(appended.ok());
    CHECK(appended->last_sequence == 3);
    // The run status table skips a type it does not know.
    CHECK(store->GetRun("r1")->status == RunStatus::kCreated);
    digest = *store->RunDigest("r1");
    REQUIRE(store->Close().ok());
  }
  auto store = OpenStore(dir.path(), &clock);  // default options
  auto event = store->ReadEvent("r1", 2);
  INFO(event.status().ToString());
  REQUIRE(event.ok());
  CHECK(event->type() == kFutureType);
  CHECK(event->type_name() == "unknown(33)");
  // The stored envelope holds the number too, not only the payload.
  CHECK(FrameEventType(event->frame()) == kFutureType);
  CHECK_FALSE(event->payload_removed());
  CHECK(event->payload() == future);
  CHECK(event->payload_hash() == internal::HashView(internal::Sha256(future)));
  REQUIRE(event->body() != nullptr);
  CHECK(static_cast<uint16_t>(event->body()->body_type()) == kFutureType);
  CHECK(event->body()->body() != nullptr);
  CheckNoTypedAccessorMatches(event->body());
  CHECK(next::ToolCancelledReason(event->payload()) == std::optional<std::string>("user pressed stop"));

  // The events around it are unaffected.
  auto run = store->ReadRun("r1", ReadOptions());
  REQUIRE(run.ok());
  REQUIRE(run->size() == 3);
  CHECK((*run)[0].body()->body_as_TurnStarted() != nullptr);
  CHECK((*run)[1].type() == kFutureType);
  CHECK((*run)[2].body()->body_as_MessageAppended()->text()->str() == "after");
  auto global = store->ReadGlobal(0, 10);
  REQUIRE(global.ok());
  CHECK(global->size() == 3);

  VerifyStats stats;
  CHECK(store->Verify("r1", &stats).ok());
  CHECK(stats.events == 3);
  CHECK(store->VerifyAll().ok());
  CHECK(store->VerifyAgainst(digest).ok());
  // Reopened with default options, it still refuses new ones.
  CHECK(AppendPayloads(*store, "r1", {future}).status().IsInvalidArgument());
}

TEST_CASE("SchemaEvolution.OldCodeReadsAKnownTableWithANewField", "[schema]") {
  // Goal: a known table carrying a field appended by a newer schema is
  // accepted by default (its type is known), and old code reads the old
  // fields intact while the bytes -- new field included -- are kept.
  // Method: MessageAppended with token_count and ToolFailed with error_code,
  // built with the future schema, read with agentlog::fb.
  TempDir dir;
  ManualClock clock(1'000'000);
  auto store = OpenStore(dir.path(), &clock);
  const std::string message = next::MessageWithTokenCountPayload("assistant", "done", 1234);
  const std::string failure = next::ToolFailedWithCodePayload("disk full", true, 3, "ENOSPC");
  auto appended = AppendPayloads(*store, "r1", {message, failure});
  INFO(appended.status().ToString());
  REQUIRE(appended.ok());

  auto first = store->ReadEvent("r1", 1);
  REQUIRE(first.ok());
  CHECK(first->type() == fb::Body_MessageAppended);
  CHECK(first->payload() == message);
  const fb::MessageAppended* appended_message = first->body()->body_as_MessageAppended();
  REQUIRE(appended_message != nullptr);
  CHECK(appended_message->role()->str() == "assistant");
  CHECK(appended_message->text()->str() == "done");
  CHECK(next::MessageTokenCount(first->payload()) == std::optional<uint64_t>(1234));

  auto second = store->ReadEvent("r1", 2);
  REQUIRE(second.ok());
  CHECK(second->type_name() == "ToolFailed");
  CHECK(second->payload() == failure);
  const fb::ToolFailed* tool_failed = second->body()->body_as_ToolFailed();
  REQUIRE(tool_failed != nullptr);
  CHECK(tool_failed->error()->str() == "disk full");
  CHECK(tool_failed->retryable());
  CHECK(tool_failed->attempt() == 3);
  CHECK(next::ToolFailedErrorCode(second->payload()) == std::optional<std::string>("ENOSPC"));

  CHECK(store->Verify("r1").ok());
}
