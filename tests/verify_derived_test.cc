// tests/verify_derived_test.cc: VerifyAll checks the data derived from the
// events, not only the events: every entry of the status, session, time and
// deadline indexes, every idempotency entry, every content blob an
// ArtifactStored names and every snapshot must be there and agree with the
// events; a missing one is as wrong as a false one (a run missing from the
// status index is a run Recover never lists). Before these checks,
// deleting a status entry, shifting the time index or deleting a
// referenced blob passed every verify.
//
// Method: one store on the in-memory backend with each kind of entry, built
// afresh for each damage; each damage, made through the backend seam, must
// make VerifyAll answer Corruption saying what is wrong, and the intact
// store must verify.
#include <catch2/catch.hpp>

#include <functional>
#include <string>
#include <vector>

#include "engine/keys.h"
#include "engine/meta_codec.h"
#include "testing/store_surgery.h"
#include "testing/test_util.h"

using namespace agentlog;
using namespace agentlog::testing;
using Catch::Matchers::Contains;

namespace {

constexpr int64_t kStartUs = 1'700'000'000'000'000;
constexpr int64_t kDeadlineUs = kStartUs + 3'600'000'000;
const std::string kArtifact = "the quarterly report, as the tool wrote it";

std::string Payload(const std::function<void(flatbuffers::FlatBufferBuilder&)>& build) {
  flatbuffers::FlatBufferBuilder builder;
  build(builder);
  return std::string(reinterpret_cast<const char*>(builder.GetBufferPointer()), builder.GetSize());
}

std::string DeadlinePayload() {
  return Payload([](flatbuffers::FlatBufferBuilder& b) {
    b.Finish(fb::CreateEvent(b, fb::Body_DeadlineSet, fb::CreateDeadlineSetDirect(b, kDeadlineUs, "fetch").Union()));
  });
}

std::string ArtifactPayload(const std::string& hash) {
  return Payload([&](flatbuffers::FlatBufferBuilder& b) {
    const std::vector<uint8_t> bytes(hash.begin(), hash.end());
    b.Finish(fb::CreateEvent(
        b, fb::Body_ArtifactStored,
        fb::CreateArtifactStoredDirect(b, "report", "text/plain", "q3", kArtifact.size(), &bytes).Union()));
  });
}

// A store on the in-memory backend with an entry of each kind: runs in two
// statuses, one in a session, a keyed append, a deadline, an artifact and
// its blob, a fork, a snapshot.
struct Fixture : StoreFixture {
  std::string blob_hash;

  Fixture() : StoreFixture(kStartUs, Options(), kOpenLater) {
    OpenInMemory();
    AppendOptions in_session = WithDurability(Durability::kSync);
    in_session.session_id = "session-1";
    EventInput started = Input(TurnStartedPayload("hello"));
    REQUIRE(store->Append("alpha", std::span(&started, 1), in_session).ok());
    clock.Advance(1000);
    AppendOptions keyed = WithDurability(Durability::kSync);
    keyed.idempotency_key = "alpha/step-1";
    std::vector<EventInput> events = {Message("one"), Input(DeadlinePayload(), "fetch")};
    REQUIRE(store->Append("alpha", events, keyed).ok());
    clock.Advance(1000);
    blob_hash = Must(store->PutBlob(kArtifact, Durability::kSync));
    EventInput artifact = Input(ArtifactPayload(blob_hash));
    REQUIRE(store->Append("alpha", std::span(&artifact, 1), WithDurability(Durability::kSync)).ok());
    clock.Advance(1000);
    AppendMessage(*store, "beta", "other run", Durability::kSync);
    REQUIRE(store->Fork("alpha", 3, "alpha-fork", ForkOptions()).ok());
    REQUIRE(store->PutSnapshot("alpha", "tally", 1, 2, "state at 2", Durability::kSync).ok());
    VerifyStats stats;
    Status verified = store->VerifyAll(&stats);
    INFO(verified.ToString());
    REQUIRE(verified.ok());
    REQUIRE(stats.runs == 3);
  }
  template <typename T>
  static T Must(Result<T> result) {
    REQUIRE(result.ok());
    return std::move(result).value();
  }
  internal::Backend& backend() { return BackendOf(*store); }
  internal::IdempotencyRecord Idempotency(const std::string& key) {
    internal::IdempotencyRecord record;
    REQUIRE(internal::DecodeIdempotency(StoredValue(*store, internal::Space::kIdempotency, key), key, &record).ok());
    return record;
  }
  void Delete(internal::Space space, std::string key) { DeleteKey(*store, space, std::move(key)); }
  void Put(internal::Space space, std::string key, std::string value) {
    PutValue(*store, space, std::move(key), std::move(value));
  }
  // The first key of `space` starting with `prefix`.
  std::string FirstKey(internal::Space space, const std::string& prefix) {
    auto cursor = backend().NewCursor(space);
    cursor->Seek(prefix);
    REQUIRE(cursor->Valid());
    REQUIRE(cursor->key().starts_with(prefix));
    return std::string(cursor->key());
  }
};

void RequireCorruption(Fixture& f, const std::string& part) {
  Status status = f.store->VerifyAll();
  INFO(status.ToString());
  CHECK(status.IsCorruption());
  CHECK_THAT(status.message(), Contains(part));
}

}  // namespace

TEST_CASE("VerifyDerived.AMissingOrFalseIndexEntryIsCorruption", "[verify][derived]") {
  SECTION("a run's status entry deleted (Recover would not see the run)") {
    Fixture f;
    const RunInfo info = RunInfoOf(*f.store, "alpha");
    f.Delete(internal::Space::kIndex, internal::StatusIndexKey(static_cast<uint8_t>(info.status), "alpha"));
    RequireCorruption(f, "the status index entry of run \"alpha\" is missing");
    CHECK(f.store->Verify("alpha").IsCorruption());
  }
  SECTION("a stale status entry added (a run listed in a status it is not in)") {
    Fixture f;
    f.Put(internal::Space::kIndex, internal::StatusIndexKey(static_cast<uint8_t>(RunStatus::kAwaitingApproval), "beta"), "");
    RequireCorruption(f, "the status index holds 4 entries, but 3 runs");
  }
  SECTION("a run's session entry deleted") {
    Fixture f;
    f.Delete(internal::Space::kIndex, internal::SessionIndexKey("session-1", "alpha"));
    RequireCorruption(f, "the session index entry of run \"alpha\" is missing");
  }
  SECTION("the time index shifted to another moment") {
    Fixture f;
    const std::string key = f.FirstKey(internal::Space::kIndex, std::string(1, internal::kTimeIndexTag));
    const std::string value = StoredValue(*f.store, internal::Space::kIndex, key);
    f.Delete(internal::Space::kIndex, key);
    f.Put(internal::Space::kIndex, internal::TimeIndexKey(kStartUs - 5'000'000), value);
    RequireCorruption(f, "the time index");
  }
  SECTION("a time index entry deleted") {
    Fixture f;
    f.Delete(internal::Space::kIndex, f.FirstKey(internal::Space::kIndex, std::string(1, internal::kTimeIndexTag)));
    RequireCorruption(f, "the time index");
  }
  SECTION("a deadline entry deleted (its deadline would never be listed)") {
    Fixture f;
    f.Delete(internal::Space::kIndex, internal::DeadlineIndexKey(kDeadlineUs, "alpha", "fetch"));
    RequireCorruption(f, "the deadline index entry of run \"alpha\"");
  }
  SECTION("a fork's inherited deadline entry deleted") {
    Fixture f;
    f.Delete(internal::Space::kIndex, internal::DeadlineIndexKey(kDeadlineUs, "alpha-fork", "fetch"));
    RequireCorruption(f, "the deadline index entry of run \"alpha-fork\"");
  }
}

TEST_CASE("VerifyDerived.IdempotencyBlobsAndSnapshotsMustBeThereAndWhole", "[verify][derived]") {
  SECTION("an idempotency entry deleted (a retry would append again)") {
    Fixture f;
    f.Delete(internal::Space::kIdempotency, "alpha/step-1");
    RequireCorruption(f, "the idempotency entry of key \"alpha/step-1\" is missing");
  }
  SECTION("an idempotency entry naming other events") {
    Fixture f;
    internal::IdempotencyRecord record = f.Idempotency("alpha/step-1");
    record.result.first_sequence = 1;
    record.result.last_sequence = 1;
    f.Put(internal::Space::kIdempotency, "alpha/step-1", internal::EncodeIdempotency(record));
    RequireCorruption(f, "the idempotency entry of key \"alpha/step-1\"");
  }
  SECTION("an idempotency entry for events that never had the key") {
    Fixture f;
    internal::IdempotencyRecord record = f.Idempotency("alpha/step-1");
    f.Put(internal::Space::kIdempotency, "invented-key", internal::EncodeIdempotency(record));
    RequireCorruption(f, "not appended with that key");
  }
  SECTION("the blob an ArtifactStored names deleted") {
    Fixture f;
    f.Delete(internal::Space::kBlobs, internal::ContentBlobKey(f.blob_hash));
    RequireCorruption(f, "is missing: run \"alpha\" event 4 stored it");
  }
  SECTION("a content blob altered, its frame checksum recomputed") {
    Fixture f;
    f.Put(internal::Space::kBlobs, internal::ContentBlobKey(f.blob_hash),
          internal::EncodeFrame(internal::FrameKind::kContentBlobV1, "not the report"));
    RequireCorruption(f, "SHA-256");
  }
  SECTION("a snapshot's state deleted") {
    Fixture f;
    f.Delete(internal::Space::kBlobs, internal::SnapshotKey("alpha", "tally", 2));
    RequireCorruption(f, "the state of the snapshot");
  }
  SECTION("a snapshot of another history") {
    Fixture f;
    internal::SnapshotValues values = internal::EncodeSnapshot("alpha", "tally", 1, 2, std::string(32, '\x5a'), "x");
    f.Put(internal::Space::kBlobs, internal::SnapshotKey("alpha", "tally", 2), values.state);
    f.Put(internal::Space::kSnapshots, internal::SnapshotKey("alpha", "tally", 2), values.meta);
    RequireCorruption(f, "was not taken on the run's history");
  }
}
