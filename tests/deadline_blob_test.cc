// tests/deadline_blob_test.cc: the deadline index (Store::ListDeadlines,
// engine/store_deadline.cc) and content blobs (Store::PutBlob / GetBlob,
// engine/store_blob.cc); format in engine/record_format.md, "Deadline index"
// and "Content blobs".
//
// Goal: every DeadlineSet with a deadline is listed in (deadline, run, step)
// order, written in its append's batch (a refused append lists nothing),
// never removed, inherited by forks under their own id (through forks of
// forks) and kept across a reopen; blobs are stored once per content, read
// back byte for byte, refused over the limit, and damage is Corruption, never
// content; deleting a run's snapshots leaves blobs alone.
// Method: small runs on a ManualClock through the public API, on the
// RocksDB and the in-memory backend; damage through testing/store_surgery.h.
#include <catch2/catch.hpp>
#include <span>
#include <string>
#include <vector>

#include "base/crypto.h"
#include "engine/store_impl.h"
#include "testing/store_surgery.h"
#include "testing/test_util.h"

using namespace agentlog;
using namespace agentlog::testing;
using agentlog::internal::Space;

namespace {

constexpr int64_t kStartUs = 1'700'000'000'000'000;

// The clock at kStartUs and no store yet: a case opens one on the RocksDB
// backend (Open) or the in-memory one (OpenInMemory), one SECTION each.
struct OnEitherBackend : StoreFixture {
  OnEitherBackend() : StoreFixture(kStartUs, Options(), kOpenLater) {}
};

std::string DeadlineSetPayload(int64_t deadline_at_us, const std::string& step_id) {
  flatbuffers::FlatBufferBuilder builder;
  auto body = fb::CreateDeadlineSetDirect(builder, deadline_at_us, step_id.c_str());
  builder.Finish(fb::CreateEvent(builder, fb::Body_DeadlineSet, body.Union()));
  return std::string(reinterpret_cast<const char*>(builder.GetBufferPointer()), builder.GetSize());
}

// Appends one DeadlineSet; returns its sequence.
uint64_t SetDeadline(Store& store, const std::string& run_id, int64_t deadline_at_us,
                     const std::string& step_id = "") {
  EventInput input = Input(DeadlineSetPayload(deadline_at_us, step_id));
  auto result = store.Append(run_id, std::span(&input, 1), WithDurability(Durability::kBuffered));
  INFO(result.status().ToString());
  REQUIRE(result.ok());
  return result->first_sequence;
}

std::vector<DeadlineEntry> Due(Store& store, int64_t due_us, size_t limit = kMaxReadLimit,
                               const DeadlineEntry* after = nullptr) {
  auto entries = store.ListDeadlines(due_us, limit, after);
  INFO(entries.status().ToString());
  REQUIRE(entries.ok());
  return *entries;
}

// "run/step@deadline#sequence" per entry, to compare a listing at a glance.
std::vector<std::string> Shown(const std::vector<DeadlineEntry>& entries) {
  std::vector<std::string> shown;
  for (const DeadlineEntry& entry : entries) {
    shown.push_back(entry.run_id + "/" + entry.step_id + "@" + std::to_string(entry.deadline_at_us) +
                    "#" + std::to_string(entry.sequence));
  }
  return shown;
}

// Every content blob key in the blobs space (keys starting 0x00).
size_t ContentBlobCount(Store& store) {
  auto cursor = BackendOf(store).NewCursor(Space::kBlobs);
  size_t count = 0;
  for (cursor->Seek(std::string(1, '\0')); cursor->Valid() && cursor->key()[0] == '\0'; cursor->Next()) {
    ++count;
  }
  REQUIRE(cursor->status().ok());
  return count;
}

std::string Sha256Of(std::string_view content) {
  return std::string(internal::HashView(internal::Sha256(content)));
}

}  // namespace

TEST_CASE_METHOD(OnEitherBackend, "Deadlines.ListedInOrderUpToTheInclusiveBound", "[deadline]") {
  // Goal: entries come back ordered by (deadline, run, step), negative
  // deadlines first; the bound is inclusive; run and step deadlines are both
  // listed with their event's sequence; a DeadlineSet of 0 is not indexed.
  // Method: two runs with deadlines out of order, on both backends.
  SECTION("rocksdb") { Open(); }
  SECTION("memory") { OpenInMemory(); }

  AppendMessage(*store, "b", "hello");
  CHECK(SetDeadline(*store, "b", 300) == 2);
  CHECK(SetDeadline(*store, "a", 300, "fetch") == 1);
  CHECK(SetDeadline(*store, "a", 200) == 2);
  CHECK(SetDeadline(*store, "a", 0, "fetch") == 3);  // lifts it: no entry
  CHECK(SetDeadline(*store, "b", -5, "early") == 3);
  CHECK(SetDeadline(*store, "a", 300) == 4);          // the run's own, beside its step's
  CHECK(SetDeadline(*store, "a1", 300) == 1);         // "a" < "a1" < "b"

  CHECK(Shown(Due(*store, INT64_MAX)) ==
        std::vector<std::string>{"b/early@-5#3", "a/@200#2", "a/@300#4", "a/fetch@300#1",
                                 "a1/@300#1", "b/@300#2"});
  CHECK(Shown(Due(*store, 200)) == std::vector<std::string>{"b/early@-5#3", "a/@200#2"});
  CHECK(Shown(Due(*store, 199)) == std::vector<std::string>{"b/early@-5#3"});
  CHECK(Due(*store, -6).empty());
  CHECK(Due(*store, INT64_MAX, 2).size() == 2);
  CHECK(store->VerifyAll().ok());
}

TEST_CASE_METHOD(StoreFixtureAt<kStartUs>, "Deadlines.PagesWithAfterAndRefusesBadLimits",
                 "[deadline]") {
  // Goal: `after` resumes exclusively after an entry (also one that is not
  // stored); limit 0 and limits over kMaxReadLimit are InvalidArgument, as is
  // an `after` naming an impossible run id.
  // Method: seven entries read two at a time, compared with one full read.
  for (int i = 0; i < 7; ++i) {
    SetDeadline(*store, "run-" + std::to_string(i % 3), 1000 + 10 * (i % 4), "s" + std::to_string(i));
  }
  const std::vector<DeadlineEntry> all = Due(*store, INT64_MAX);
  REQUIRE(all.size() == 7);
  std::vector<DeadlineEntry> paged;
  for (int pages = 0; pages < 10; ++pages) {
    auto page = Due(*store, INT64_MAX, 2, paged.empty() ? nullptr : &paged.back());
    if (page.empty()) break;
    CHECK(page.size() <= 2);
    paged.insert(paged.end(), page.begin(), page.end());
  }
  CHECK(Shown(paged) == Shown(all));

  DeadlineEntry between;  // not stored: after run-0/s0 and before run-1/s4 at 1000
  between.run_id = "run-0";
  between.step_id = "s5";
  between.deadline_at_us = 1000;
  auto rest = Due(*store, INT64_MAX, kMaxReadLimit, &between);
  REQUIRE(!rest.empty());
  CHECK(rest.front().run_id == "run-1");
  CHECK(rest.front().step_id == "s4");
  CHECK(rest.size() == all.size() - 1);

  CHECK(store->ListDeadlines(INT64_MAX, 0).status().IsInvalidArgument());
  CHECK(store->ListDeadlines(INT64_MAX, kMaxReadLimit + 1).status().IsInvalidArgument());
  CHECK(store->ListDeadlines(INT64_MAX, kMaxReadLimit).ok());
  DeadlineEntry bad;
  bad.deadline_at_us = 1000;
  CHECK(store->ListDeadlines(INT64_MAX, 10, &bad).status().IsInvalidArgument());
}

TEST_CASE_METHOD(StoreFixtureAt<kStartUs>, "Deadlines.RefusedAppendWritesNoEntry", "[deadline]") {
  // Goal: the entry is part of the append's batch: an append refused for
  // its head, for an event after the DeadlineSet that the committer refuses
  // (a LeaseReleased with no lease), or for an oversized scope step id
  // writes no entry.
  // Method: three refused appends carrying DeadlineSets, then the listing.
  SetDeadline(*store, "r", 100);

  EventInput deadline = Input(DeadlineSetPayload(500, "late"));
  AppendOptions stale = WithDurability(Durability::kBuffered);
  stale.expected_head = 0;
  CHECK(store->Append("r", std::span(&deadline, 1), stale).status().IsConflict());

  std::vector<EventInput> mixed = {Input(DeadlineSetPayload(600, "x")),
                                   Input(LeaseReleasedPayload("worker", 1))};
  auto unleased = store->Append("r", mixed, WithDurability(Durability::kBuffered));
  CHECK(unleased.status().IsInvalidArgument());
  CHECK(unleased.status().message().find("no lease is held") != std::string::npos);

  EventInput long_step = Input(DeadlineSetPayload(700, std::string(kMaxIdBytes + 1, 's')));
  auto refused = store->Append("r", std::span(&long_step, 1), WithDurability(Durability::kBuffered));
  CHECK(refused.status().IsLimitExceeded());
  CHECK(refused.status().message().find("DeadlineSet scope step id") != std::string::npos);

  CHECK(Shown(Due(*store, INT64_MAX)) == std::vector<std::string>{"r/@100#1"});
  CHECK(store->GetRun("r")->head_sequence == 1);
}

TEST_CASE_METHOD(StoreFixtureAt<kStartUs>, "Deadlines.ReplacedDeadlinesStayListed", "[deadline]") {
  // Goal: entries are never removed: a later DeadlineSet for the same step
  // adds an entry beside the old one, and a lifting 0 removes nothing; the
  // caller tells them apart by the run's state (the later sequence wins).
  // Method: set, move and lift one step's deadline; list.
  SetDeadline(*store, "r", 100, "fetch");
  SetDeadline(*store, "r", 150, "fetch");
  SetDeadline(*store, "r", 0, "fetch");
  SetDeadline(*store, "r", 100, "fetch");  // the same deadline again: its entry names event 4
  CHECK(Shown(Due(*store, INT64_MAX)) ==
        std::vector<std::string>{"r/fetch@100#4", "r/fetch@150#2"});
}

TEST_CASE_METHOD(OnEitherBackend, "Deadlines.ForkInheritsThePrefixUnderItsOwnId", "[deadline]") {
  // Goal: a fork lists the DeadlineSets of its shared prefix under its own
  // run id with their sequences, not the parent's later ones; a fork of a
  // fork inherits its grandparent's through the lineage, and a fork taken
  // inside its parent's shared prefix only what that prefix holds.
  // Method: P sets deadlines at events 2 and 4; F forks P at 3 and sets one
  // at 5; G forks F at 5, H forks F at 2; P then sets another. Both backends.
  SECTION("rocksdb") { Open(); }
  SECTION("memory") { OpenInMemory(); }

  AppendMessage(*store, "p", "one");
  CHECK(SetDeadline(*store, "p", 100) == 2);
  AppendMessage(*store, "p", "three");
  CHECK(SetDeadline(*store, "p", 200, "s") == 4);
  ForkOptions options;
  options.durability = Durability::kBuffered;
  REQUIRE(store->Fork("p", 3, "f", options).ok());
  CHECK(SetDeadline(*store, "f", 300, "t") == 5);
  REQUIRE(store->Fork("f", 5, "g", options).ok());
  REQUIRE(store->Fork("f", 2, "h", options).ok());
  CHECK(SetDeadline(*store, "p", 400) == 5);

  CHECK(Shown(Due(*store, INT64_MAX)) ==
        std::vector<std::string>{"f/@100#2", "g/@100#2", "h/@100#2", "p/@100#2", "p/s@200#4",
                                 "f/t@300#5", "g/t@300#5", "p/@400#5"});
  CHECK(store->VerifyAll().ok());
}

TEST_CASE_METHOD(StoreFixtureAt<kStartUs>, "Deadlines.SurviveReopenAndCloseIsClosed",
                 "[deadline]") {
  // Goal: the index is stored, not rebuilt: a reopened store lists the same
  // entries; a closed store answers Closed.
  // Method: append, close, reopen, list; close again and list.
  SetDeadline(*store, "r", 100);
  SetDeadline(*store, "r", 50, "step");
  const std::vector<std::string> before = Shown(Due(*store, INT64_MAX));
  REQUIRE(store->Close().ok());
  CHECK(store->ListDeadlines(INT64_MAX, 10).status().IsClosed());
  Reopen();
  CHECK(Shown(Due(*store, INT64_MAX)) == before);
  CHECK(before == std::vector<std::string>{"r/step@50#2", "r/@100#1"});
}

TEST_CASE_METHOD(StoreFixtureAt<kStartUs>, "Deadlines.DamagedOrFalseEntriesAreCorruption",
                 "[deadline]") {
  // Goal: a malformed entry fails the listing with Corruption, and VerifyAll
  // catches an entry that names an event which is not that DeadlineSet.
  // Method: write bad entries through the backend seam.
  AppendMessage(*store, "r", "hello");
  SetDeadline(*store, "r", 100);
  REQUIRE(store->VerifyAll().ok());

  SECTION("an entry naming a message") {
    std::string sequence;
    internal::PutBigEndian64(&sequence, 1);
    PutValue(*store, Space::kIndex, internal::DeadlineIndexKey(100, "r", "x"), sequence);
    Status status = store->VerifyAll();
    CHECK(status.IsCorruption());
    CHECK(status.message().find("MessageAppended, not DeadlineSet") != std::string::npos);
  }
  SECTION("an entry with another deadline") {
    std::string sequence;
    internal::PutBigEndian64(&sequence, 2);
    PutValue(*store, Space::kIndex, internal::DeadlineIndexKey(101, "r", ""), sequence);
    CHECK(store->VerifyAll().IsCorruption());
  }
  SECTION("a value that is not a sequence") {
    PutValue(*store, Space::kIndex, internal::DeadlineIndexKey(100, "r", ""), "xyz");
    CHECK(store->ListDeadlines(INT64_MAX, 10).status().IsCorruption());
    CHECK(store->VerifyAll().IsCorruption());
  }
  SECTION("a key without its run id") {
    PutValue(*store, Space::kIndex, internal::DeadlineIndexPrefix(7) + std::string(1, '\0'),
             std::string(8, '\1'));
    CHECK(store->ListDeadlines(INT64_MAX, 10).status().IsCorruption());
  }
}

TEST_CASE_METHOD(OnEitherBackend, "Blobs.StoredOnceAndReadBack", "[blob]") {
  // Goal: PutBlob returns the content's SHA-256, the same content twice
  // gives the same hash and one key, empty content is a blob, and GetBlob
  // returns the bytes; content blobs survive a reopen and VerifyAll.
  // Method: put and get on both backends; count the content keys.
  SECTION("rocksdb") { Open(); }
  SECTION("memory") { OpenInMemory(); }

  const std::string content = std::string("tool output\0with a NUL", 22) + std::string(100000, 'x');
  auto first = store->PutBlob(content, Durability::kSync);
  REQUIRE(first.ok());
  CHECK(*first == Sha256Of(content));
  CHECK(first->size() == 32);
  auto second = store->PutBlob(content, Durability::kBuffered);
  REQUIRE(second.ok());
  CHECK(*second == *first);
  CHECK(ContentBlobCount(*store) == 1);
  auto read = store->GetBlob(*first);
  REQUIRE(read.ok());
  CHECK(*read == content);

  auto empty = store->PutBlob("", Durability::kBuffered);
  REQUIRE(empty.ok());
  CHECK(*empty == Sha256Of(""));
  auto empty_read = store->GetBlob(*empty);
  REQUIRE(empty_read.ok());
  CHECK(empty_read->empty());
  CHECK(ContentBlobCount(*store) == 2);
  CHECK(store->VerifyAll().ok());
}

TEST_CASE_METHOD(StoreFixtureAt<kStartUs>, "Blobs.SurviveReopen", "[blob]") {
  std::string hash;
  auto put = store->PutBlob("kept", Durability::kSync);
  REQUIRE(put.ok());
  hash = *put;
  Reopen();
  auto read = store->GetBlob(hash);
  REQUIRE(read.ok());
  CHECK(*read == "kept");
}

TEST_CASE("Blobs.RefusesBadInput", "[blob]") {
  // Goal: content over kMaxBlobBytes is LimitExceeded (exactly the limit is
  // stored); a hash that is not 32 bytes is InvalidArgument; an unknown hash
  // is NotFound naming it in hex.
  // Method: the memory backend (the 64 MiB value stays off the disk).
  ManualClock clock(kStartUs);
  auto store = OpenMemoryStore(&clock);
  std::string big(kMaxBlobBytes + 1, 'b');
  CHECK(store->PutBlob(big, Durability::kBuffered).status().IsLimitExceeded());
  big.pop_back();
  auto at_limit = store->PutBlob(big, Durability::kBuffered);
  REQUIRE(at_limit.ok());
  CHECK(store->GetBlob(*at_limit)->size() == kMaxBlobBytes);
  CHECK(ContentBlobCount(*store) == 1);

  const std::string unknown = Sha256Of("never stored");
  Status missing = store->GetBlob(unknown).status();
  CHECK(missing.IsNotFound());
  CHECK(missing.message().find(internal::HexEncode(unknown)) != std::string::npos);
  CHECK(store->GetBlob("").status().IsInvalidArgument());
  CHECK(store->GetBlob(unknown.substr(0, 31)).status().IsInvalidArgument());
  CHECK(store->GetBlob(internal::HexEncode(unknown)).status().IsInvalidArgument());
}

TEST_CASE_METHOD(StoreFixtureAt<kStartUs>, "Blobs.DamageIsCorruptionAndPutBlobRepairsIt",
                 "[blob]") {
  // Goal: a flipped byte fails the frame checksum, a re-framed value with
  // other content fails the hash check; both are Corruption naming the hash
  // in hex, never content; storing the content again replaces the damaged copy.
  // Method: edit the stored value through the backend seam.
  const std::string content = "an artifact of some length";
  auto hash = store->PutBlob(content, Durability::kBuffered);
  REQUIRE(hash.ok());
  const std::string key = internal::ContentBlobKey(*hash);
  std::string value = StoredValue(*store, Space::kBlobs, key);
  REQUIRE(value.size() == internal::kFrameHeaderBytes + content.size());

  SECTION("a flipped byte") {
    value[internal::kFrameHeaderBytes + 3] ^= 0x01;
    PutValue(*store, Space::kBlobs, key, value);
    Status status = store->GetBlob(*hash).status();
    CHECK(status.IsCorruption());
    CHECK(status.message().find(internal::HexEncode(*hash)) != std::string::npos);
    CHECK(status.message().find("checksum") != std::string::npos);
  }
  SECTION("other content, correctly framed") {
    PutValue(*store, Space::kBlobs, key,
             internal::EncodeFrame(internal::FrameKind::kContentBlobV1, "forged"));
    Status status = store->GetBlob(*hash).status();
    CHECK(status.IsCorruption());
    CHECK(status.message().find(internal::HexEncode(*hash)) != std::string::npos);
    CHECK(status.message().find("SHA-256") != std::string::npos);
  }
  SECTION("another frame kind") {
    PutValue(*store, Space::kBlobs, key,
             internal::EncodeFrame(internal::FrameKind::kSnapshotStateV1, content));
    CHECK(store->GetBlob(*hash).status().IsCorruption());
  }
  auto again = store->PutBlob(content, Durability::kSync);
  REQUIRE(again.ok());
  CHECK(*again == *hash);
  auto read = store->GetBlob(*hash);
  REQUIRE(read.ok());
  CHECK(*read == content);
}

TEST_CASE_METHOD(StoreFixtureAt<kStartUs>, "Blobs.DeletingARunsSnapshotsLeavesBlobs", "[blob]") {
  // Goal: DeleteSnapshots(run, "", {}) deletes every snapshot of the run and
  // its states, and no content blob (their keys start 0x00, never a run id).
  // Method: snapshots of two runs and two blobs; delete one run's snapshots.
  AppendMessage(*store, "a", "one");
  AppendMessage(*store, "b", "one");
  REQUIRE(store->PutSnapshot("a", "tally", 1, 1, "state-a", Durability::kBuffered).ok());
  REQUIRE(store->PutSnapshot("b", "tally", 1, 1, "state-b", Durability::kBuffered).ok());
  auto blob_one = store->PutBlob("first", Durability::kBuffered);
  auto blob_two = store->PutBlob(std::string(1, '\0'), Durability::kBuffered);
  REQUIRE((blob_one.ok() && blob_two.ok()));

  REQUIRE(store->DeleteSnapshots("a", "", {}).ok());
  CHECK(store->ReadSnapshots("a", "tally", 1, 10)->empty());
  auto kept = store->ReadSnapshots("b", "tally", 1, 10);
  REQUIRE(kept.ok());
  REQUIRE(kept->size() == 1);
  CHECK((*kept)[0].state == "state-b");
  CHECK(*store->GetBlob(*blob_one) == "first");
  CHECK(*store->GetBlob(*blob_two) == std::string(1, '\0'));
  CHECK(ContentBlobCount(*store) == 2);
  CHECK(store->VerifyAll().ok());
}

TEST_CASE_METHOD(StoreFixtureAt<kStartUs>, "Blobs.ClosedAfterClose", "[blob]") {
  auto hash = store->PutBlob("x", Durability::kBuffered);
  REQUIRE(hash.ok());
  REQUIRE(store->Close().ok());
  CHECK(store->PutBlob("y", Durability::kSync).status().IsClosed());
  CHECK(store->GetBlob(*hash).status().IsClosed());
}
