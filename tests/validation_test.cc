// tests/validation_test.cc: every input the store refuses, at Append, at
// Open and at the read API. Each refusal must carry its documented code, a
// message that names the problem, and leave nothing written.
#include <catch2/catch.hpp>
#include <rocksdb/db.h>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "engine/backend.h"
#include "testing/test_util.h"

using namespace agentlog;
using namespace agentlog::testing;
using Catch::Matchers::Contains;

namespace {

// Small limits so that the limit tests stay cheap.
Options SmallLimits() {
  Options options;
  options.max_event_bytes = 1024;
  options.max_append_events = 4;
  options.max_append_bytes = 3000;
  return options;
}

// A store with SmallLimits().
struct SmallLimitsFixture : StoreFixture {
  SmallLimitsFixture() : StoreFixture(kDefaultStartUs, SmallLimits()) {}
};

// A payload whose union type byte is `type` (unknown to this build when
// above kMaxKnownEventType), with an empty table as its body.
std::string PayloadOfType(uint8_t type) {
  flatbuffers::FlatBufferBuilder builder;
  const auto body_start = builder.StartTable();
  const flatbuffers::Offset<void> body(builder.EndTable(body_start));
  const auto start = builder.StartTable();
  builder.AddElement<uint8_t>(fb::Event::VT_BODY_TYPE, type, 0);
  builder.AddOffset(fb::Event::VT_BODY, body);
  builder.Finish(flatbuffers::Offset<fb::Event>(builder.EndTable(start)));
  return std::string(reinterpret_cast<const char*>(builder.GetBufferPointer()), builder.GetSize());
}

// An Event with no body (type NONE).
std::string PayloadWithoutBody() {
  flatbuffers::FlatBufferBuilder builder;
  builder.Finish(fb::CreateEvent(builder));
  return std::string(reinterpret_cast<const char*>(builder.GetBufferPointer()), builder.GetSize());
}

// Appends `events` to `run_id` and checks the refusal: its code, that its
// message contains `needle`, and that nothing was written anywhere.
void ExpectRefused(Store& store, std::string_view run_id, const std::vector<EventInput>& events,
                   const AppendOptions& options, Code code, const std::string& needle) {
  const uint64_t last = store.LastPosition();
  auto result =
      store.Append(run_id, std::span<const EventInput>(events.data(), events.size()), options);
  INFO("run id \"" << std::string(run_id) << "\": " << result.status().ToString());
  REQUIRE_FALSE(result.ok());
  CHECK(result.status().code() == code);
  CHECK_THAT(result.status().message(), Contains(needle));
  CHECK(store.LastPosition() == last);
  auto after = store.ReadGlobal(last, 10);
  REQUIRE(after.ok());
  CHECK(after->empty());
}

void ExpectRefused(Store& store, const std::vector<EventInput>& events, Code code,
                   const std::string& needle) {
  ExpectRefused(store, "run-a", events, WithDurability(Durability::kBuffered), code, needle);
}

Result<AppendResult> AppendEvents(
    Store& store, std::string_view run_id, const std::vector<EventInput>& events,
    const AppendOptions& options = WithDurability(Durability::kBuffered)) {
  return store.Append(run_id, std::span<const EventInput>(events.data(), events.size()), options);
}

}  // namespace

TEST_CASE_METHOD(StoreFixture, "Validation.EmptyRunIdIsRefused", "[validation]") {
  // Goal: an empty run id is InvalidArgument. Method: one message event.
  ExpectRefused(*store, "", Messages(1), AppendOptions(), Code::kInvalidArgument,
                "run id is empty");
}

TEST_CASE_METHOD(StoreFixture, "Validation.RunIdOverTheLimitIsRefused", "[validation]") {
  // Goal: run ids longer than kMaxRunIdBytes are LimitExceeded, stating the
  // size and the limit; exactly kMaxRunIdBytes is accepted. Method: ids of
  // 129 and 128 bytes.
  ExpectRefused(*store, std::string(kMaxRunIdBytes + 1, 'r'), Messages(1), AppendOptions(),
                Code::kLimitExceeded, "129 bytes; the limit is 128");
  CHECK(store->GetRun(std::string(kMaxRunIdBytes + 1, 'r')).status().IsLimitExceeded());
  const std::string longest(kMaxRunIdBytes, 'r');
  REQUIRE(AppendEvents(*store, longest, Messages(1)).ok());
  CHECK(store->GetRun(longest).ok());
}

TEST_CASE_METHOD(StoreFixture, "Validation.RunIdWithABadByteIsRefused", "[validation]") {
  // Goal: run ids are [A-Za-z0-9._:-]: a space, a slash or a NUL is
  // InvalidArgument naming the offset of the bad byte; every allowed
  // character is accepted. Method: three bad ids, one id using every class.
  const std::string bad_ids[] = {"run a", "run/a", std::string("run\0a", 5)};
  for (const std::string& bad : bad_ids) {
    ExpectRefused(*store, bad, Messages(1), AppendOptions(), Code::kInvalidArgument,
                  "has a byte not allowed at offset 3");
  }
  CHECK(store->GetRun("run/a").status().IsInvalidArgument());
  REQUIRE(AppendEvents(*store, "Run_1.a:b-Z9", Messages(1)).ok());
}

TEST_CASE_METHOD(StoreFixture, "Validation.EmptyAppendIsRefused", "[validation]") {
  // Goal: an append of no events is InvalidArgument. Method: empty span.
  ExpectRefused(*store, {}, Code::kInvalidArgument, "append of no events");
  CHECK(store->GetRun("run-a").status().IsNotFound());
}

TEST_CASE_METHOD(SmallLimitsFixture, "Validation.TooManyEventsAreRefused", "[validation][limits]") {
  // Goal: more than Options::max_append_events events is LimitExceeded
  // naming the option; exactly the maximum is accepted. Method: limit 4;
  // appends of 5 and 4.
  ExpectRefused(*store, Messages(5), Code::kLimitExceeded, "max_append_events is 4");
  REQUIRE(AppendEvents(*store, "run-a", Messages(4)).ok());
}

TEST_CASE_METHOD(SmallLimitsFixture, "Validation.OversizedPayloadIsRefused",
                 "[validation][limits]") {
  // Goal: a payload over Options::max_event_bytes is LimitExceeded naming
  // the option, even when it is not the first event. Method: limit 1024; a
  // 2000-byte message as the second of two events.
  auto events = Messages(2);
  events[1] = Message(std::string(2000, 'x'));
  REQUIRE(events[1].payload.size() > 1024);
  ExpectRefused(*store, events, Code::kLimitExceeded, "max_event_bytes is 1024");
  CHECK(store->GetRun("run-a").status().IsNotFound());
}

TEST_CASE_METHOD(SmallLimitsFixture, "Validation.OversizedAppendIsRefused",
                 "[validation][limits]") {
  // Goal: an append whose payloads together exceed Options::max_append_bytes
  // is LimitExceeded naming the option, though each payload is within
  // max_event_bytes. Method: limit 3000; four payloads of about 900 bytes.
  std::vector<EventInput> events;
  for (int i = 0; i < 4; ++i) events.push_back(Message(std::string(850, 'a' + i)));
  REQUIRE(events[0].payload.size() <= 1024);
  ExpectRefused(*store, events, Code::kLimitExceeded, "max_append_bytes");
  events.pop_back();
  events.pop_back();
  REQUIRE(AppendEvents(*store, "run-a", events).ok());
}

TEST_CASE_METHOD(StoreFixture, "Validation.GarbagePayloadIsRefusedByTheVerifier", "[validation]") {
  // Goal: bytes that are not an agentlog.fb.Event FlatBuffer are refused by
  // the verifier with InvalidArgument naming the event; an empty payload too.
  // Method: text, random-looking bytes, a truncated real payload, empty.
  std::string truncated = MessagePayload("user", "hello there");
  truncated.resize(truncated.size() / 2);
  std::string noise;
  for (int i = 0; i < 64; ++i) noise.push_back(static_cast<char>(i * 37 + 11));
  for (const std::string& garbage : {std::string("not a flatbuffer at all"), noise, truncated}) {
    ExpectRefused(*store, {Input(garbage)}, Code::kInvalidArgument,
                  "event 1 of 1: payload is not a valid agentlog.fb.Event FlatBuffer");
  }
  ExpectRefused(*store, {Input("")}, Code::kInvalidArgument, "payload is empty");
  CHECK(store->GetRun("run-a").status().IsNotFound());
}

TEST_CASE_METHOD(StoreFixture, "Validation.EventWithoutABodyIsRefused", "[validation]") {
  // Goal: an Event table with no body is InvalidArgument. Method: an Event
  // built with CreateEvent and no union member.
  ExpectRefused(*store, {Input(PayloadWithoutBody())}, Code::kInvalidArgument, "has no body");
}

TEST_CASE_METHOD(StoreFixture, "Validation.UnknownEventTypeIsRefusedByDefault",
                 "[validation][evolution]") {
  // Goal: a payload whose event type this build does not know is refused
  // with InvalidArgument naming the type and the option that allows it.
  // Method: union type byte 200 with an empty table body.
  ExpectRefused(*store, {Input(PayloadOfType(200))}, Code::kInvalidArgument,
                "event type 200 is unknown");
  ExpectRefused(*store, {Input(PayloadOfType(kMaxKnownEventType + 1))}, Code::kInvalidArgument,
                "accept_unknown_event_types");
}

TEST_CASE("Validation.UnknownEventTypeIsAcceptedWhenAllowed", "[validation][evolution]") {
  // Goal: with Options::accept_unknown_event_types the same payload is
  // stored, read back with its type number and bytes unchanged, and the run
  // verifies. Method: append type 200, read it, verify.
  Options options;
  options.accept_unknown_event_types = true;
  StoreFixture f(StoreFixture::kDefaultStartUs, options);
  const std::string payload = PayloadOfType(200);
  auto result = AppendEvents(*f.store, "run-a", {Input(payload)});
  INFO(result.status().ToString());
  REQUIRE(result.ok());
  auto event = f.store->ReadEvent("run-a", 1);
  REQUIRE(event.ok());
  CHECK(event->type() == 200);
  CHECK(event->type_name() == "unknown(200)");
  CHECK(event->payload() == payload);
  REQUIRE(event->body() != nullptr);
  CHECK(static_cast<int>(event->body()->body_type()) == 200);
  CHECK(event->body()->body_as_MessageAppended() == nullptr);
  auto info = f.store->GetRun("run-a");
  REQUIRE(info.ok());
  CHECK(info->status == RunStatus::kCreated);
  CHECK(f.store->Verify("run-a").ok());
}

TEST_CASE_METHOD(StoreFixture, "Validation.IdFieldsOverTheLimitOrWithNulAreRefused",
                 "[validation]") {
  // Goal: turn, step and actor ids longer than kMaxIdBytes are
  // LimitExceeded and ids holding a NUL are InvalidArgument, each naming the
  // field; exactly kMaxIdBytes is accepted. Method: each field in turn.
  const std::string too_long(kMaxIdBytes + 1, 'i');
  const std::string with_nul("step\0x", 6);
  struct Field {
    std::string name;
    std::string EventInput::*member;
  };
  for (const Field& field : {Field{"turn id", &EventInput::turn_id},
                             Field{"step id", &EventInput::step_id},
                             Field{"actor id", &EventInput::actor_id}}) {
    INFO(field.name);
    EventInput event = Message("x");
    event.*field.member = too_long;
    ExpectRefused(*store, {event}, Code::kLimitExceeded, field.name + " is 129 bytes");
    event.*field.member = with_nul;
    ExpectRefused(*store, {event}, Code::kInvalidArgument, field.name + " contains a NUL byte");
  }
  EventInput longest = Message("x");
  longest.turn_id = longest.step_id = longest.actor_id = std::string(kMaxIdBytes, 'i');
  REQUIRE(AppendEvents(*store, "run-a", {longest}).ok());
}

TEST_CASE_METHOD(StoreFixture, "Validation.IdFieldsMustBeUtf8", "[validation]") {
  // Goal: turn, step and actor ids are UTF-8 text: an invalid sequence is
  // InvalidArgument naming the field and the byte offset; valid multi-byte
  // UTF-8 is accepted and read back unchanged. Method: a lone continuation
  // byte, a truncated 2-byte sequence, then "\u00e9tape-\u2713".
  EventInput bad = Message("x");
  bad.turn_id = "turn\x80";
  ExpectRefused(*store, {bad}, Code::kInvalidArgument, "turn id is not valid UTF-8 at byte 4");
  bad = Message("x");
  bad.actor_id = "ab\xc3";
  ExpectRefused(*store, {bad}, Code::kInvalidArgument, "actor id is not valid UTF-8");
  EventInput good = Message("x");
  good.step_id = "\xc3\xa9tape-\xe2\x9c\x93";
  REQUIRE(AppendEvents(*store, "run-a", {good}).ok());
  auto event = store->ReadEvent("run-a", 1);
  REQUIRE(event.ok());
  CHECK(event->step_id() == good.step_id);
}

TEST_CASE_METHOD(StoreFixture, "Validation.IdempotencyKeyOverTheLimitIsRefused",
                 "[validation][idempotency]") {
  // Goal: an idempotency key over kMaxIdempotencyKeyBytes is LimitExceeded
  // and one with a NUL is InvalidArgument; exactly the limit is accepted.
  // Method: keys of 257 bytes, with NUL, of 256 bytes.
  AppendOptions options = WithDurability(Durability::kBuffered);
  options.idempotency_key = std::string(kMaxIdempotencyKeyBytes + 1, 'k');
  ExpectRefused(*store, "run-a", Messages(1), options, Code::kLimitExceeded,
                "idempotency key is 257 bytes");
  options.idempotency_key = std::string("key\0x", 5);
  ExpectRefused(*store, "run-a", Messages(1), options, Code::kInvalidArgument,
                "idempotency key contains a NUL byte");
  options.idempotency_key = std::string(kMaxIdempotencyKeyBytes, 'k');
  REQUIRE(AppendEvents(*store, "run-a", Messages(1), options).ok());
}

TEST_CASE_METHOD(StoreFixture, "Validation.SchemaVersionZeroIsRefused", "[validation]") {
  // Goal: schema version 0 is InvalidArgument pointing at
  // kEventSchemaVersion. Method: a message with schema_version = 0.
  EventInput event = Message("x");
  event.schema_version = 0;
  ExpectRefused(*store, {event}, Code::kInvalidArgument, "schema version 0");
}

TEST_CASE_METHOD(StoreFixture, "Validation.UnknownActorKindIsRefused", "[validation]") {
  // Goal: an actor kind outside the enum is InvalidArgument. Method: 9.
  EventInput event = Message("x");
  event.actor_kind = static_cast<ActorKind>(9);
  ExpectRefused(*store, {event}, Code::kInvalidArgument, "unknown actor kind 9");
}

TEST_CASE_METHOD(StoreFixture, "Validation.LeaseAcquiredWithoutHolderOrEpochIsRefused",
                 "[validation][lease]") {
  // Goal: a LeaseAcquired needs a holder and an epoch >= 1. Method: an
  // empty holder, then epoch 0.
  ExpectRefused(*store, {Input(LeaseAcquiredPayload("", 1))}, Code::kInvalidArgument,
                "LeaseAcquired needs a holder");
  ExpectRefused(*store, {Input(LeaseAcquiredPayload("worker", 0))}, Code::kInvalidArgument,
                "epoch >= 1");
}

TEST_CASE_METHOD(StoreFixture, "Validation.BadSessionIdIsRefused", "[validation][session]") {
  // Goal: a session id follows the run id rules: a bad byte is
  // InvalidArgument and an over-long one LimitExceeded, both naming the
  // session id. Method: "session 1", "a/b" and 129 bytes.
  AppendOptions options = WithDurability(Durability::kBuffered);
  for (const std::string bad : {"session 1", "a/b"}) {
    options.session_id = bad;
    ExpectRefused(*store, "run-a", Messages(1), options, Code::kInvalidArgument,
                  "session id \"" + bad + "\" has a byte not allowed");
  }
  options.session_id = std::string(kMaxIdBytes + 1, 's');
  ExpectRefused(*store, "run-a", Messages(1), options, Code::kLimitExceeded, "session id");
  CHECK(store->GetRun("run-a").status().IsNotFound());
}

TEST_CASE_METHOD(StoreFixture, "Validation.ErrorNamesTheEventInAMultiEventAppend", "[validation]") {
  // Goal: when one event of several is bad, the message names which one,
  // and none of the good ones is written. Method: the 3rd of 4 is empty.
  auto events = Messages(4);
  events[2].payload.clear();
  ExpectRefused(*store, events, Code::kInvalidArgument, "event 3 of 4: payload is empty");
  CHECK(store->GetRun("run-a").status().IsNotFound());
}

TEST_CASE("Open.NullClockIsRefused", "[validation][open]") {
  // Goal: Options::clock is required: Open without it is InvalidArgument
  // naming the option, and creates nothing. Method: default Options.
  TempDir dir;
  auto store = Store::Open(Options(), dir.Sub("store"));
  REQUIRE_FALSE(store.ok());
  CHECK(store.status().IsInvalidArgument());
  CHECK_THAT(store.status().message(), Contains("Options::clock is null"));
  CHECK_FALSE(std::filesystem::exists(dir.Sub("store") + "/CURRENT"));
}

TEST_CASE("Open.ZeroOrOversizedLimitsAreRefused", "[validation][open]") {
  // Goal: limits of 0 (and max_event_bytes over 64 MiB, a commit batch over
  // the run cache) are InvalidArgument naming the option, and no store is
  // created. Method: one bad limit at a time.
  TempDir dir;
  ManualClock clock(1'000);
  for (int which = 0; which < 7; ++which) {
    Options options;
    options.clock = &clock;
    std::string name;
    if (which == 0) options.max_event_bytes = 0, name = "max_event_bytes";
    if (which == 1) options.max_event_bytes = (size_t{64} << 20) + 1, name = "max_event_bytes";
    if (which == 2) options.max_append_events = 0, name = "max_append_events";
    if (which == 3) options.max_append_bytes = 0, name = "max_append_bytes";
    if (which == 4) options.max_commit_batch_appends = 0, name = "max_commit_batch_appends";
    if (which == 5) options.max_commit_batch_appends = 100001, name = "max_commit_batch_appends";
    if (which == 6) options.max_queued_appends = 0, name = "max_queued_appends";
    INFO("case " << which);
    auto store = Store::Open(options, dir.Sub("store"));
    REQUIRE_FALSE(store.ok());
    CHECK(store.status().IsInvalidArgument());
    CHECK_THAT(store.status().message(), Contains("Options::" + name));
    CHECK_FALSE(std::filesystem::exists(dir.Sub("store") + "/CURRENT"));
  }
}

TEST_CASE("Open.MissingStoreWithoutCreateIsNotFound", "[validation][open]") {
  // Goal: create_if_missing = false on an empty directory is NotFound and
  // leaves the directory without a store. Method: open an empty dir.
  TempDir dir;
  ManualClock clock(1'000);
  Options options;
  options.clock = &clock;
  options.create_if_missing = false;
  auto store = Store::Open(options, dir.path());
  REQUIRE_FALSE(store.ok());
  CHECK(store.status().IsNotFound());
  CHECK_THAT(store.status().message(), Contains("create_if_missing is false"));
  CHECK_FALSE(std::filesystem::exists(dir.path() + "/CURRENT"));
}

TEST_CASE_METHOD(StoreFixture, "Open.ExistingStoreWithErrorIfExistsIsRefused",
                 "[validation][open]") {
  // Goal: error_if_exists on an existing store is InvalidArgument, and the
  // store is untouched (it still opens normally with its events). Method:
  // create a store with one event, reopen with error_if_exists, then without.
  AppendMessage(*store, "run-a", "kept", Durability::kSync);
  REQUIRE(Close().ok());
  Options error_if_exists = StoreOptions();
  error_if_exists.error_if_exists = true;
  auto refused = Store::Open(error_if_exists, dir.path());
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.status().IsInvalidArgument());
  CHECK_THAT(refused.status().message(), Contains("error_if_exists"));
  Open();
  CHECK(store->LastPosition() == 1);
}

namespace {
// Makes the store in `dir` a plain RocksDB database: deletes its
// "agentlog.format" marker through the backend.
void DeleteFormatMarker(const std::string& dir, Clock* clock, bool with_events) {
  auto store = OpenStore(dir, clock);
  if (with_events) AppendMessage(*store, "run-a", "x", Durability::kSync);
  internal::WriteSet writes;
  writes.Delete(internal::Space::kMeta, "agentlog.format");
  REQUIRE(BackendOf(*store).Write(writes, /*sync=*/true).ok());
  REQUIRE(store->Close().ok());
}
}  // namespace

TEST_CASE("Open.StoreWithDataButNoFormatMarkerIsCorruption", "[validation][open]") {
  // Goal: a database with agentlog's column families holding data but
  // without the format marker is a store whose metadata is damaged (a
  // damaged MANIFEST can drop the table holding the marker): refused with
  // Corruption saying so -- not "not an agentlog store" -- and not touched
  // (a second open is refused the same way). Databases that are not ours
  // are Open.ForeignRocksDbWithOtherColumnFamiliesIsRefusedUntouched.
  // Method: a store with an event whose "agentlog.format" key is deleted
  // through the backend; open it twice.
  TempDir dir;
  ManualClock clock(1'000);
  DeleteFormatMarker(dir.path(), &clock, /*with_events=*/true);
  Options options;
  options.clock = &clock;
  for (int attempt = 1; attempt <= 2; ++attempt) {
    INFO("attempt " << attempt);
    auto store = Store::Open(options, dir.path());
    REQUIRE_FALSE(store.ok());
    CHECK(store.status().IsCorruption());
    CHECK_THAT(store.status().message(), Contains("format marker is missing"));
  }
}

TEST_CASE("Open.EmptyDatabaseWithoutMarkerIsFinishedAsANewStore", "[validation][open]") {
  // Goal: a database with no marker and no data is a creation that stopped
  // before writing the marker: Open finishes it and the store works.
  // Method: delete the marker of an empty store; reopen; append; reopen.
  StoreFixture f(StoreFixture::kDefaultStartUs, Options(), StoreFixture::kOpenLater);
  DeleteFormatMarker(f.path(), &f.clock, /*with_events=*/false);
  CHECK(f.Open().LastPosition() == 0);
  AppendMessage(*f.store, "run-a", "x", Durability::kSync);
  REQUIRE(f.Close().ok());
  CHECK(f.Open().LastPosition() == 1);
}

TEST_CASE_METHOD(StoreFixture, "Read.BadArgumentsAreRefused", "[validation][read]") {
  // Goal: the read API refuses bad input with its documented code:
  // ReadEvent sequence 0 is InvalidArgument, an unknown run or sequence is
  // NotFound naming it, limits of 0 or over kMaxReadLimit are
  // InvalidArgument, a bad run id is InvalidArgument. Method: one store with
  // one run of two events.
  REQUIRE(AppendEvents(*store, "run-a", Messages(2)).ok());

  auto zero = store->ReadEvent("run-a", 0);
  CHECK(zero.status().IsInvalidArgument());
  CHECK_THAT(zero.status().message(), Contains("sequence 0"));
  auto unknown_run = store->ReadEvent("run-zzz", 1);
  CHECK(unknown_run.status().IsNotFound());
  CHECK_THAT(unknown_run.status().message(), Contains("run-zzz"));
  auto past_head = store->ReadEvent("run-a", 3);
  CHECK(past_head.status().IsNotFound());
  CHECK_THAT(past_head.status().message(), Contains("event 3"));
  CHECK(store->ReadEvent("run a", 1).status().IsInvalidArgument());

  for (size_t limit : {size_t{0}, kMaxReadLimit + 1}) {
    INFO("limit " << limit);
    ReadOptions read;
    read.limit = limit;
    auto run = store->ReadRun("run-a", read);
    CHECK(run.status().IsInvalidArgument());
    CHECK_THAT(run.status().message(), Contains("read limit"));
    CHECK(store->ReadGlobal(0, limit).status().IsInvalidArgument());
    RunFilter filter;
    filter.limit = limit;
    CHECK(store->ListRuns(filter).status().IsInvalidArgument());
  }
  ReadOptions read;
  read.limit = kMaxReadLimit;
  CHECK(store->ReadRun("run-a", read).ok());
  CHECK(store->ReadRun("run/a", ReadOptions()).status().IsInvalidArgument());
  CHECK(store->GetRun("").status().IsInvalidArgument());
  RunFilter bad_session;
  bad_session.session_id = "no such/session";
  CHECK(store->ListRuns(bad_session).status().IsInvalidArgument());
}

TEST_CASE_METHOD(StoreFixture, "Store.AppendAfterCloseIsClosed", "[validation][close]") {
  // Goal: after Close, Append and Subscribe return Closed and nothing is
  // written; the events from before are still there on reopen. Method:
  // append, close, append, reopen.
  AppendMessage(*store, "run-a", "before");
  REQUIRE(store->Close().ok());
  auto refused = AppendEvents(*store, "run-a", Messages(1, "after"));
  CHECK(refused.status().IsClosed());
  CHECK_THAT(refused.status().message(), Contains("closed"));
  auto subscription = store->Subscribe(0, [](const Event&) { return Status::OK(); });
  CHECK(subscription.status().IsClosed());
  Reopen();
  CHECK(store->LastPosition() == 1);
  CHECK(ReadWholeRun(*store, "run-a").size() == 1);
}

TEST_CASE_METHOD(StoreFixture, "Store.ReadsAfterCloseAreClosed", "[validation][close]") {
  // Goal: "Later calls return Closed" (store.h, Close) holds for the read
  // API too: no crash, no data, Closed. Method: close, then call each read.
  AppendMessage(*store, "run-a", "before");
  REQUIRE(store->Close().ok());
  CHECK(store->ReadEvent("run-a", 1).status().IsClosed());
  CHECK(store->GetRun("run-a").status().IsClosed());
  CHECK(store->ReadRun("run-a", ReadOptions()).status().IsClosed());
  CHECK(store->ReadGlobal(0, 10).status().IsClosed());
  CHECK(store->ListRuns(RunFilter()).status().IsClosed());
  CHECK(store->Verify("run-a").IsClosed());
  CHECK(store->VerifyAll().IsClosed());
}

TEST_CASE_METHOD(StoreFixture, "Store.SecondCloseWaitsForTheFirst", "[validation][close]") {
  // Goal: a Close that finds another Close running waits for it and returns
  // OK, so its caller can reopen the directory at once. Method: two threads
  // close the same store; then the directory is opened again.
  for (int i = 0; i < 50; ++i) AppendMessage(*store, "run-a", "x");
  Status first, second;
  std::thread a([&] { first = store->Close(); });
  std::thread b([&] { second = store->Close(); });
  a.join();
  b.join();
  CHECK(first.ok());
  CHECK(second.ok());
  auto reopened = OpenStore(dir.path(), &clock);
  CHECK(reopened->LastPosition() == 50);
}

TEST_CASE("Open.ForeignRocksDbWithOtherColumnFamiliesIsRefusedUntouched", "[validation][open]") {
  // Goal: a RocksDB database made by someone else -- its own column family,
  // or data in "default" and none of agentlog's column families -- is
  // refused naming the reason, and agentlog adds no column family to it.
  // Method: make both kinds with RocksDB directly; open each as a store;
  // list its column families afterwards.
  for (bool own_family : {true, false}) {
    INFO("own column family: " << own_family);
    TempDir dir;
    {
      rocksdb::Options options;
      options.create_if_missing = true;
      rocksdb::DB* raw = nullptr;
      REQUIRE(rocksdb::DB::Open(options, dir.path(), &raw).ok());
      std::unique_ptr<rocksdb::DB> db(raw);
      if (own_family) {
        rocksdb::ColumnFamilyHandle* handle = nullptr;
        REQUIRE(db->CreateColumnFamily(rocksdb::ColumnFamilyOptions(), "orders", &handle).ok());
        REQUIRE(db->DestroyColumnFamilyHandle(handle).ok());
      } else {
        REQUIRE(db->Put(rocksdb::WriteOptions(), "customer:1", "alice").ok());
      }
      REQUIRE(db->Close().ok());
    }
    std::vector<std::string> before;
    REQUIRE(rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), dir.path(), &before).ok());
    ManualClock clock(1'000);
    Options options;
    options.clock = &clock;
    auto store = Store::Open(options, dir.path());
    REQUIRE_FALSE(store.ok());
    CHECK(store.status().IsInvalidArgument());
    CHECK_THAT(store.status().message(), Contains("not an agentlog store"));
    CHECK_THAT(store.status().message(),
               Contains(own_family ? "column family \"orders\"" : "lacks agentlog's column families"));
    std::vector<std::string> after;
    REQUIRE(rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), dir.path(), &after).ok());
    CHECK(after == before);
  }
}

TEST_CASE_METHOD(StoreFixture, "Validation.LeaseHolderIsCheckedLikeAnId", "[validation][lease]") {
  // Goal: a LeaseAcquired holder obeys the id rules (at most kMaxIdBytes of
  // UTF-8): an oversized holder is LimitExceeded, a non-UTF-8 one
  // InvalidArgument, each naming "lease holder", and nothing is written.
  AppendMessage(*store, "run-a", "start");
  for (const auto& [holder, limit] : {std::pair{std::string(kMaxIdBytes + 1, 'w'), true},
                                      std::pair{std::string("w\xff"), false}}) {
    EventInput input = Input(LeaseAcquiredPayload(holder, 1));
    auto refused = store->Append("run-a", std::span(&input, 1), WithDurability(Durability::kSync));
    REQUIRE_FALSE(refused.ok());
    CHECK((limit ? refused.status().IsLimitExceeded() : refused.status().IsInvalidArgument()));
    CHECK_THAT(refused.status().message(), Contains("lease holder"));
    CHECK(store->LastPosition() == 1);
  }
}
