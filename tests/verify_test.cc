// tests/verify_test.cc: Verify, VerifyAll and digests (DESIGN.md invariant
// 5): verify detects any edit, deletion or reordering of committed records
// through the chain hash and the run's recorded head; a digest kept earlier
// also exposes a history cut short or rewritten as a whole.
//
// The attacks here are deliberate: each damaged record is re-framed with a
// correct checksum (through the engine's own encoder), so the frame check of
// a read cannot see them and only the chain, the payload hash, the recorded
// head or a digest can.
#include <atomic>
#include <catch2/catch.hpp>
#include <filesystem>
#include <chrono>
#include <thread>
#include <span>
#include <string>
#include <vector>

#include "testing/store_surgery.h"
#include "testing/test_util.h"

using namespace agentlog;
using namespace agentlog::testing;
using agentlog::internal::GlobalKey;
using agentlog::internal::Hash;
using agentlog::internal::Space;

namespace {

constexpr int64_t kStartUs = 1'700'000'000'000'000;

AppendResult AppendTexts(Store& store, const std::string& run_id, std::vector<std::string> texts) {
  std::vector<EventInput> events;
  for (const std::string& text : texts) events.push_back(Message(text));
  AppendOptions options;
  options.durability = Durability::kBuffered;
  auto result = store.Append(run_id, std::span<const EventInput>(events), options);
  INFO(result.status().ToString());
  REQUIRE(result.ok());
  return *result;
}

// Three runs, interleaved; r1's last two events hold the last two global
// positions (12 and 13), so cutting them leaves a consistent global index.
//   r1: 1 2 3 4 5 6   r2: 1 2 3 4   r3: 1 2 3
void Populate(Store& store, ManualClock& clock) {
  AppendTexts(store, "r1", {"r1 one"});
  AppendTexts(store, "r2", {"r2 one"});
  clock.Advance(10);
  AppendTexts(store, "r1", {"r1 two", "r1 three"});
  AppendTexts(store, "r3", {"r3 one"});
  clock.Advance(10);
  AppendTexts(store, "r2", {"r2 two"});
  AppendTexts(store, "r1", {"r1 four"});
  AppendTexts(store, "r3", {"r3 two", "r3 three"});
  clock.Advance(10);
  AppendTexts(store, "r2", {"r2 three", "r2 four"});
  AppendTexts(store, "r1", {"r1 five", "r1 six"});
  REQUIRE(store.LastPosition() == 13);
  REQUIRE(store.VerifyAll().ok());
}

// Rewrites run `run_id` from event `from` to its head the way a careful
// forger would: new payloads, recomputed payload hashes and chain hashes,
// same sequences, positions and times; then records the new head chain
// hash in the run's metadata. Verify cannot tell; an older digest can.
void RewriteSuffix(Store& store, const std::string& run_id, uint64_t from) {
  RunInfo info = RunInfoOf(store, run_id);
  Hash chain = from == 1 ? internal::kGenesisChainHash : LoadRecord(store, run_id, from - 1).chain_hash;
  for (uint64_t sequence = from; sequence <= info.head_sequence; ++sequence) {
    OwnedRecord record = LoadRecord(store, run_id, sequence);
    record.payload = MessagePayload("assistant", "forged " + std::to_string(sequence));
    record.event_type = fb::Body_MessageAppended;
    record.payload_hash = internal::Sha256(record.payload);
    chain = internal::ChainHash(chain, record.envelope());
    record.chain_hash = chain;
    PutRecord(store, run_id, sequence, record.Encode());
  }
  info.head_chain_hash = std::string(internal::HashView(chain));
  PutRunMeta(store, info);
}

// Deletes run `run_id`'s events after `new_head` with their global entries,
// and records event `new_head` as the head: a cut that Verify cannot see.
void CutRun(Store& store, const std::string& run_id, uint64_t new_head) {
  RunInfo info = RunInfoOf(store, run_id);
  for (uint64_t sequence = new_head + 1; sequence <= info.head_sequence; ++sequence) {
    const OwnedRecord record = LoadRecord(store, run_id, sequence);
    DeleteKey(store, Space::kGlobal, GlobalKey(record.global_position));
    DeleteKey(store, Space::kEvents, internal::EventKey(run_id, sequence));
  }
  const OwnedRecord head = LoadRecord(store, run_id, new_head);
  info.head_sequence = new_head;
  info.head_chain_hash = std::string(internal::HashView(head.chain_hash));
  info.head_position = head.global_position;
  info.last_event_us = head.timestamp_us;
  PutRunMeta(store, info);
}

// A tombstone of `owned`: the engine's encoder (EncodeTombstone, the one
// retention and redaction use) over the record's own envelope and chain.
std::string EncodeTombstone(const OwnedRecord& owned) {
  return internal::EncodeTombstone(owned.envelope(), owned.chain_hash);
}

std::string Hex64(const std::string& bytes) { return HexEncode(bytes); }

void RequireCorruptionNaming(const Status& status, const std::string& fragment) {
  INFO(status.ToString());
  CHECK(status.IsCorruption());
  CHECK(status.message().find(fragment) != std::string::npos);
}

std::string DigestOf(Result<std::string> digest) {
  INFO(digest.status().ToString());
  REQUIRE(digest.ok());
  return *digest;
}

void CheckDigestHolds(Store& store, const std::string& digest) {
  const Status status = store.VerifyAgainst(digest);
  INFO(digest << ": " << status.ToString());
  CHECK(status.ok());
}

}  // namespace

TEST_CASE_METHOD(StoreFixtureAt<kStartUs>, "Verify.PassesOnHealthyStoresWithSeveralRuns",
                 "[verify]") {
  // Goal: an untouched store verifies, run by run and as a whole, before and
  // after a reopen, and the stats count what was walked.
  // Method: three interleaved runs (13 events), Verify each, VerifyAll.
  Populate(*store, clock);
  for (const auto& [run_id, events] :
       std::vector<std::pair<std::string, uint64_t>>{{"r1", 6}, {"r2", 4}, {"r3", 3}}) {
    VerifyStats stats;
    const Status status = store->Verify(run_id, &stats);
    INFO(run_id << ": " << status.ToString());
    CHECK(status.ok());
    CHECK(stats.runs == 1);
    CHECK(stats.events == events);
    CHECK(stats.removed_payloads == 0);
  }
  REQUIRE(Close().ok());
  Open();
  VerifyStats stats;
  const Status status = store->VerifyAll(&stats);
  INFO(status.ToString());
  CHECK(status.ok());
  CHECK(stats.runs == 3);
  CHECK(stats.events == 13);
  CHECK(stats.removed_payloads == 0);
  CHECK(store->Verify("no-such-run").IsNotFound());
  CHECK(store->Verify("bad run id").IsInvalidArgument());
}

TEST_CASE_METHOD(StoreFixtureAt<kStartUs>, "Verify.DetectsADeletedRecordInTheMiddle", "[verify]") {
  // Goal: a record deleted from the middle of a run leaves a gap that Verify
  // names (`run "r1" event 3 is missing`); other runs still verify.
  // Method: delete r1 event 3 through the backend.
  Populate(*store, clock);
  DeleteKey(*store, Space::kEvents, internal::EventKey("r1", 3));
  RequireCorruptionNaming(store->Verify("r1"), NameOf("r1", 3) + " is missing");
  RequireCorruptionNaming(store->VerifyAll(), NameOf("r1", 3));
  CHECK(store->Verify("r2").ok());
  CHECK(store->Verify("r3").ok());
}

TEST_CASE_METHOD(StoreFixtureAt<kStartUs>, "Verify.DetectsADeletedLastRecord", "[verify]") {
  // Goal: deleting a run's last record (and even its global entry) leaves a
  // log that ends before the head the runs index recorded: Corruption.
  // Method: delete r2 event 4, then also its global index entry.
  Populate(*store, clock);
  const OwnedRecord last = LoadRecord(*store, "r2", 4);
  DeleteKey(*store, Space::kEvents, internal::EventKey("r2", 4));
  RequireCorruptionNaming(store->Verify("r2"), "ends at event 3");
  CHECK(store->VerifyAll().IsCorruption());
  DeleteKey(*store, Space::kGlobal, GlobalKey(last.global_position));
  RequireCorruptionNaming(store->Verify("r2"), "ends at event 3");
  CHECK(store->VerifyAll().IsCorruption());
}

TEST_CASE_METHOD(StoreFixtureAt<kStartUs>, "Verify.DetectsARecordAddedPastTheHead", "[verify]") {
  // Goal: a record added after the recorded head, even one chained
  // correctly onto it, is Corruption (events added outside agentlog).
  // Method: forge r3 event 4 from event 3 with a correct chain hash.
  Populate(*store, clock);
  OwnedRecord forged = LoadRecord(*store, "r3", 3);
  const Hash previous = forged.chain_hash;
  forged.sequence = 4;
  forged.global_position = 14;
  forged.chain_hash = internal::ChainHash(previous, forged.envelope());
  PutRecord(*store, "r3", 4, forged.Encode());
  RequireCorruptionNaming(store->Verify("r3"), "holds event 4 (events were added outside agentlog)");
  CHECK(store->VerifyAll().IsCorruption());
}

TEST_CASE_METHOD(StoreFixtureAt<kStartUs>, "Verify.DetectsSwappedRecords", "[verify]") {
  // Goal: reordering records is detected, whether the stored values are
  // swapped as they are or each is re-encoded to fit its new key.
  // Method: (1) swap r1 events 2 and 4's values; (2) swap their contents but
  // give each the sequence of its new key, a fresh checksum and its old
  // chain hash (re-framed); (3) the same, with positions also swapped so
  // they still increase.
  Populate(*store, clock);
  const std::string two = StoredRecord(*store, "r1", 2);
  const std::string four = StoredRecord(*store, "r1", 4);

  SECTION("stored values swapped") {
    PutRecord(*store, "r1", 2, four);
    PutRecord(*store, "r1", 4, two);
    RequireCorruptionNaming(store->Verify("r1"), NameOf("r1", 2));
    CHECK(store->VerifyAll().IsCorruption());
  }
  SECTION("contents swapped and re-framed under their new sequences") {
    OwnedRecord at_two = DecodeRecord(four, "r1", 4);
    OwnedRecord at_four = DecodeRecord(two, "r1", 2);
    at_two.sequence = 2;
    at_four.sequence = 4;
    PutRecord(*store, "r1", 2, at_two.Encode());
    PutRecord(*store, "r1", 4, at_four.Encode());
    REQUIRE(store->ReadEvent("r1", 2).ok());  // the frames themselves are sound
    RequireCorruptionNaming(store->Verify("r1"), NameOf("r1", 2));
    CHECK(store->VerifyAll().IsCorruption());
  }
  SECTION("contents swapped, re-framed, positions kept in order") {
    OwnedRecord at_two = DecodeRecord(four, "r1", 4);
    OwnedRecord at_four = DecodeRecord(two, "r1", 2);
    at_two.sequence = 2;
    at_four.sequence = 4;
    std::swap(at_two.global_position, at_four.global_position);
    std::swap(at_two.timestamp_us, at_four.timestamp_us);
    PutRecord(*store, "r1", 2, at_two.Encode());
    PutRecord(*store, "r1", 4, at_four.Encode());
    RequireCorruptionNaming(store->Verify("r1"), NameOf("r1", 2) + ": chain hash mismatch");
    CHECK(store->VerifyAll().IsCorruption());
  }
}

TEST_CASE_METHOD(StoreFixtureAt<kStartUs>, "Verify.DetectsAReframedEnvelopeEdit", "[verify]") {
  // Goal: editing any envelope field of a record and re-framing it with a
  // correct checksum (keeping its chain hash) is a chain mismatch at that
  // record, even though the frame itself reads fine.
  // Method: for each chain-covered field, edit r1 event 3, re-encode it
  // with record_codec's EncodeRecord, Verify, restore.
  Populate(*store, clock);
  const std::string original = StoredRecord(*store, "r1", 3);
  const std::vector<std::pair<const char*, void (*)(OwnedRecord&)>> edits = {
      {"timestamp", [](OwnedRecord& r) { r.timestamp_us += 1; }},
      {"global position", [](OwnedRecord& r) { r.global_position += 100; }},
      {"event type", [](OwnedRecord& r) { r.event_type = fb::Body_FactAdded; }},
      {"schema version", [](OwnedRecord& r) { r.schema_version += 1; }},
      {"turn id", [](OwnedRecord& r) { r.turn_id = "t-forged"; }},
      {"step id", [](OwnedRecord& r) { r.step_id = "s-forged"; }},
      {"causation", [](OwnedRecord& r) { r.causation = 1; }},
      {"idempotency key", [](OwnedRecord& r) { r.idempotency_key = "forged-key"; }},
      {"actor kind", [](OwnedRecord& r) { r.actor_kind = static_cast<uint8_t>(ActorKind::kUser); }},
      {"actor id", [](OwnedRecord& r) { r.actor_id = "mallory"; }},
  };
  for (const auto& [field, edit] : edits) {
    INFO("edited field: " << field);
    OwnedRecord record = DecodeRecord(original, "r1", 3);
    edit(record);
    PutRecord(*store, "r1", 3, record.Encode());
    REQUIRE(store->ReadEvent("r1", 3).ok());  // a re-framed edit passes the frame check
    RequireCorruptionNaming(store->Verify("r1"), NameOf("r1", 3) + ": chain hash mismatch");
    CHECK(store->VerifyAll().IsCorruption());
  }
  PutRecord(*store, "r1", 3, original);
  CHECK(store->VerifyAll().ok());
}

TEST_CASE_METHOD(StoreFixtureAt<kStartUs>, "Verify.DetectsAReframedPayloadEdit", "[verify]") {
  // Goal: a payload replaced by other valid bytes and re-framed with a fresh
  // checksum is caught: by the payload hash if the envelope was left alone,
  // by the chain if the payload hash was updated to match.
  // Method: re-encode r2 event 2 with another payload, then also with that
  // payload's SHA-256 as payload hash.
  Populate(*store, clock);
  OwnedRecord record = LoadRecord(*store, "r2", 2);
  record.payload = MessagePayload("user", "r2 TWO");
  REQUIRE(record.payload.size() == LoadRecord(*store, "r2", 2).payload.size());
  PutRecord(*store, "r2", 2, record.Encode());
  RequireCorruptionNaming(store->Verify("r2"), NameOf("r2", 2) + ": payload does not match");
  CHECK(store->VerifyAll().IsCorruption());

  record.payload_hash = internal::Sha256(record.payload);
  PutRecord(*store, "r2", 2, record.Encode());
  RequireCorruptionNaming(store->Verify("r2"), NameOf("r2", 2) + ": chain hash mismatch");
  CHECK(store->VerifyAll().IsCorruption());
}

TEST_CASE_METHOD(StoreFixtureAt<kStartUs>, "Digest.FormatsAreRunSeqHexAndPositionRunsHex",
                 "[verify][digest]") {
  // Goal: the digests have their documented form -- agentlog-run-v1:RUN:SEQ:HEX
  // with the head chain hash, agentlog-store-v1:POSITION:RUNS:HEX -- with 64
  // lowercase hex digits, and each verifies against its own store, also for
  // a run id holding ':' and for an empty store.
  // Method: compare against GetRun and LastPosition.
  const std::string empty = DigestOf(store->StoreDigest());
  CHECK(empty == "agentlog-store-v1:0:0:" + std::string(64, '0'));
  CheckDigestHolds(*store, empty);

  Populate(*store, clock);
  AppendTexts(*store, "deploy:42", {"colon one", "colon two"});
  for (const std::string run_id : {"r1", "r2", "r3", "deploy:42"}) {
    const RunInfo info = RunInfoOf(*store, run_id);
    const std::string digest = DigestOf(store->RunDigest(run_id));
    const std::string hex = Hex64(info.head_chain_hash);
    CHECK(hex.size() == 64);
    CHECK(hex.find_first_not_of("0123456789abcdef") == std::string::npos);
    CHECK(digest == "agentlog-run-v1:" + run_id + ":" + std::to_string(info.head_sequence) + ":" + hex);
    CheckDigestHolds(*store, digest);
  }
  const std::string digest = DigestOf(store->StoreDigest());
  INFO(digest);
  CHECK(digest.starts_with("agentlog-store-v1:15:4:"));
  const std::string hex = digest.substr(std::string("agentlog-store-v1:15:4:").size());
  CHECK(hex.size() == 64);
  CHECK(hex.find_first_not_of("0123456789abcdef") == std::string::npos);
  CheckDigestHolds(*store, digest);
  CHECK(store->RunDigest("no-such-run").status().IsNotFound());
}

TEST_CASE_METHOD(StoreFixtureAt<kStartUs>, "Digest.StaysValidAsHistoryGrows", "[verify][digest]") {
  // Goal: a digest proves a prefix of history, so appends after it -- to the
  // same run, to other runs, to new runs -- never invalidate it, also after
  // a reopen.
  // Method: take run and store digests at several points while appending,
  // and after every step verify against every digest taken so far.
  std::vector<std::string> digests;
  for (int step = 0; step < 8; ++step) {
    AppendTexts(*store, "r1", {"r1 step " + std::to_string(step)});
    if (step % 2 == 0) AppendTexts(*store, "r2", {"r2 a" + std::to_string(step), "r2 b"});
    if (step == 3) AppendTexts(*store, "late", {"a run created later"});
    clock.Advance(5);
    digests.push_back(DigestOf(store->RunDigest("r1")));
    digests.push_back(DigestOf(store->RunDigest("r2")));
    digests.push_back(DigestOf(store->StoreDigest()));
    for (const std::string& digest : digests) CheckDigestHolds(*store, digest);
  }
  REQUIRE(Close().ok());
  Open();
  AppendTexts(*store, "r1", {"after reopen"});
  AppendTexts(*store, "late", {"after reopen"});
  for (const std::string& digest : digests) CheckDigestHolds(*store, digest);
}

TEST_CASE_METHOD(StoreFixtureAt<kStartUs>, "Digest.ExposesARewrittenSuffixThatVerifyAccepts",
                 "[verify][digest]") {
  // Goal: a suffix rewritten with a consistently recomputed chain and an
  // updated runs index is invisible to Verify (expected: nothing stored
  // contradicts it), but an earlier digest covering the rewritten part
  // fails with Corruption -- for the run digest and the store digest --
  // while digests of the untouched prefix and of other runs still hold.
  // Method: digests at r1 event 3 and at the end; rewrite r1 from event 4.
  AppendTexts(*store, "r1", {"r1 one", "r1 two", "r1 three"});
  AppendTexts(*store, "r2", {"r2 one"});
  const std::string prefix_digest = DigestOf(store->RunDigest("r1"));
  const std::string prefix_store_digest = DigestOf(store->StoreDigest());
  AppendTexts(*store, "r1", {"r1 four", "r1 five"});
  AppendTexts(*store, "r2", {"r2 two"});
  AppendTexts(*store, "r1", {"r1 six"});
  const std::string run_digest = DigestOf(store->RunDigest("r1"));
  const std::string other_digest = DigestOf(store->RunDigest("r2"));
  const std::string store_digest = DigestOf(store->StoreDigest());

  RewriteSuffix(*store, "r1", 4);
  REQUIRE(store->ReadEvent("r1", 5)->body()->body_as_MessageAppended()->text()->str() == "forged 5");
  VerifyStats stats;
  CHECK(store->Verify("r1", &stats).ok());
  CHECK(stats.events == 6);
  CHECK(store->VerifyAll().ok());

  RequireCorruptionNaming(store->VerifyAgainst(run_digest), NameOf("r1", 6));
  RequireCorruptionNaming(store->VerifyAgainst(store_digest), "rewritten");
  CheckDigestHolds(*store, prefix_digest);
  CheckDigestHolds(*store, prefix_store_digest);
  CheckDigestHolds(*store, other_digest);
}

TEST_CASE_METHOD(StoreFixtureAt<kStartUs>, "Digest.ExposesAHistoryCutShort", "[verify][digest]") {
  // Goal: deleting a run's last events and fixing up its runs metadata (head
  // sequence, chain hash, position) leaves a store that verifies, but a
  // digest taken before the cut fails with Corruption ("cut short"), before
  // and after a reopen; a digest of the surviving prefix still holds.
  // Method: r1's events 5 and 6 hold the last global positions; delete them
  // and their global entries, rewrite r1's metadata with meta_codec.
  std::string run_digest, store_digest, prefix_digest;
  Populate(*store, clock);
  run_digest = DigestOf(store->RunDigest("r1"));
  store_digest = DigestOf(store->StoreDigest());
  CutRun(*store, "r1", 4);
  prefix_digest = DigestOf(store->RunDigest("r1"));
  REQUIRE(Close().ok());
  // The close recorded position 13 (AGENTLOG_CLOSED), which would make the
  // open refuse (OpenChecks.ACutBehindACleanCloseIsRefusedAtOpen); an
  // attacker with the format document deletes that file too.
  std::filesystem::remove(dir.path() + "/AGENTLOG_CLOSED");
  Open();
  CHECK(store->Verify("r1").ok());
  CHECK(store->VerifyAll().ok());
  CHECK(store->LastPosition() == 11);
  RequireCorruptionNaming(store->VerifyAgainst(run_digest), "cut short");
  RequireCorruptionNaming(store->VerifyAgainst(store_digest), "cut short");
  CheckDigestHolds(*store, prefix_digest);
}

TEST_CASE_METHOD(StoreFixtureAt<kStartUs>, "Digest.ExposesACutWhileTheStoreIsOpen",
                 "[verify][digest]") {
  // Goal: the same cut made under an open store (whose in-memory last
  // position still counts the deleted events) also fails both digests.
  // Method: digests, then CutRun without reopening.
  Populate(*store, clock);
  const std::string run_digest = DigestOf(store->RunDigest("r1"));
  const std::string store_digest = DigestOf(store->StoreDigest());
  CutRun(*store, "r1", 4);
  CHECK(store->Verify("r1").ok());
  RequireCorruptionNaming(store->VerifyAgainst(run_digest), "cut short");
  CHECK(store->VerifyAgainst(store_digest).IsCorruption());
}

TEST_CASE_METHOD(StoreFixtureAt<kStartUs>, "Digest.MalformedDigestIsInvalidArgument",
                 "[verify][digest]") {
  // Goal: anything that is not a well-formed digest is refused with
  // InvalidArgument (never NotFound, never OK), and an unknown run with
  // NotFound.
  // Method: a table of malformed strings around valid ones.
  Populate(*store, clock);
  const std::string hex = Hex64(RunInfoOf(*store, "r1").head_chain_hash);
  const std::vector<std::string> malformed = {
      "",
      "agentlog",
      "agentlog-run-v1:",
      "agentlog-run-v1:r1",
      "agentlog-run-v1:r1:6",
      "agentlog-run-v1:r1:6:",
      "agentlog-run-v1:r1:6:" + hex.substr(0, 62),
      "agentlog-run-v1:r1:6:" + hex + "00",
      "agentlog-run-v1:r1:6:" + hex.substr(0, 63) + "g",
      "agentlog-run-v1:r1::" + hex,
      "agentlog-run-v1:r1:x6:" + hex,
      "agentlog-run-v1:r1:-6:" + hex,
      "agentlog-run-v1:r1:+6:" + hex,
      "agentlog-run-v1:r1:6 :" + hex,
      "agentlog-run-v1:r1:99999999999999999999999:" + hex,
      "agentlog-run-v1::6:" + hex,
      "agentlog-run-v1:bad run:6:" + hex,
      "agentlog-run-v2:r1:6:" + hex,
      "AGENTLOG-RUN-V1:r1:6:" + hex,
      " agentlog-run-v1:r1:6:" + hex,
      "agentlog-store-v1:13:" + hex,
      "agentlog-store-v1:x:3:" + hex,
      "agentlog-store-v1::3:" + hex,
      "agentlog-store-v1:13:3:" + hex.substr(2),
      "agentlog-store-v1:13:3:",
      std::string("agentlog-run-v1:r1\0:6:", 22) + hex,
      std::string(5000, 'a'),
  };
  for (const std::string& digest : malformed) {
    const Status status = store->VerifyAgainst(digest);
    INFO("digest \"" << digest.substr(0, 120) << "\": " << status.ToString());
    CHECK(status.IsInvalidArgument());
  }
  const Status unknown = store->VerifyAgainst("agentlog-run-v1:no-such-run:1:" + hex);
  INFO(unknown.ToString());
  CHECK(unknown.IsNotFound());
  // Well-formed but wrong: not a format problem.
  CHECK(store->VerifyAgainst("agentlog-run-v1:r1:6:" + std::string(64, '0')).IsCorruption());
  CHECK(store->VerifyAgainst("agentlog-run-v1:r1:7:" + hex).IsCorruption());
  CHECK(store->VerifyAgainst("agentlog-store-v1:13:2:" + hex).IsCorruption());
  CHECK(store->VerifyAgainst("agentlog-store-v1:14:3:" + hex).IsCorruption());
}

TEST_CASE_METHOD(StoreFixtureAt<kStartUs>,
                 "Verify.AcceptsAPayloadTombstoneButNotAChangedPayloadHash", "[verify][tombstone]") {
  // Goal (design check for retention and redaction, DESIGN.md invariant 1):
  // a record whose payload is removed -- payload_state Removed, no payload,
  // the same payload hash and chain hash -- still verifies (run, store and
  // digests), is counted in VerifyStats::removed_payloads, and reads back
  // with payload_removed() and no body; a tombstone whose payload hash was
  // changed fails Verify.
  // Method: the engine's tombstone encoder (EncodeTombstone above) replaces
  // r1 event 2.
  Populate(*store, clock);
  const std::string run_digest = DigestOf(store->RunDigest("r1"));
  const std::string store_digest = DigestOf(store->StoreDigest());
  const OwnedRecord original = LoadRecord(*store, "r1", 2);
  PutRecord(*store, "r1", 2, EncodeTombstone(original));

  VerifyStats stats;
  const Status verify = store->Verify("r1", &stats);
  INFO(verify.ToString());
  CHECK(verify.ok());
  CHECK(stats.events == 6);
  CHECK(stats.removed_payloads == 1);
  VerifyStats all;
  CHECK(store->VerifyAll(&all).ok());
  CHECK(all.events == 13);
  CHECK(all.removed_payloads == 1);
  CheckDigestHolds(*store, run_digest);
  CheckDigestHolds(*store, store_digest);

  auto event = store->ReadEvent("r1", 2);
  INFO(event.status().ToString());
  REQUIRE(event.ok());
  CHECK(event->payload_removed());
  CHECK(event->body() == nullptr);
  CHECK(event->payload().empty());
  CHECK(event->type() == fb::Body_MessageAppended);
  CHECK(event->sequence() == 2);
  CHECK(event->timestamp_us() == original.timestamp_us);
  CHECK(event->payload_hash() == internal::HashView(original.payload_hash));
  CHECK(event->chain_hash() == internal::HashView(original.chain_hash));
  auto run = store->ReadRun("r1", ReadOptions());
  REQUIRE(run.ok());
  REQUIRE(run->size() == 6);
  CHECK((*run)[1].payload_removed());
  CHECK_FALSE((*run)[2].payload_removed());
  CHECK(store->ReadGlobal(0, kMaxReadLimit).ok());

  OwnedRecord changed = original;
  changed.payload_hash[0] ^= 1;
  PutRecord(*store, "r1", 2, EncodeTombstone(changed));
  RequireCorruptionNaming(store->Verify("r1"), NameOf("r1", 2) + ": chain hash mismatch");
  CHECK(store->VerifyAll().IsCorruption());
  CHECK(store->VerifyAgainst(run_digest).IsCorruption());
}

TEST_CASE_METHOD(StoreFixtureAt<kStartUs>, "VerifyAll.DetectsGlobalEntriesOfADeletedRun",
                 "[verify]") {
  // Goal: deleting a whole run -- its events, its runs entry and its index
  // entries -- leaves global index entries naming events that do not
  // exist; VerifyAll must report Corruption (the global index is part of
  // what it checks), and a store digest taken before must fail.
  // Method: delete every key of r3 except its global entries.
  Populate(*store, clock);
  const std::string store_digest = DigestOf(store->StoreDigest());
  const RunInfo info = RunInfoOf(*store, "r3");
  for (uint64_t sequence = 1; sequence <= info.head_sequence; ++sequence) {
    DeleteKey(*store, Space::kEvents, internal::EventKey("r3", sequence));
  }
  DeleteKey(*store, Space::kRuns, internal::RunKey("r3"));
  DeleteKey(*store, Space::kIndex,
            internal::StatusIndexKey(static_cast<uint8_t>(info.status), "r3"));
  CHECK(store->ReadGlobal(0, kMaxReadLimit).status().IsCorruption());
  CHECK(store->VerifyAgainst(store_digest).IsCorruption());
  const Status status = store->VerifyAll();
  INFO(status.ToString());
  CHECK(status.IsCorruption());
}

TEST_CASE_METHOD(StoreFixtureAt<kStartUs>, "Verify.DetectsRunMetadataThatContradictsTheEvents",
                 "[verify]") {
  // Goal: the runs index entry (status, times, lease epoch and holder) must
  // say what the run's events say: an index edited to move a run's status or
  // to hand its lease to someone else, even re-framed with a good checksum,
  // is Corruption. Method: lease events in r1, then one edit at a time.
  Populate(*store, clock);
  EventInput lease = Input(LeaseAcquiredPayload("worker-1", 1));
  REQUIRE(store->Append("r1", std::span(&lease, 1), WithDurability(Durability::kSync)).ok());
  const RunInfo original = RunInfoOf(*store, "r1");
  REQUIRE(store->Verify("r1").ok());
  for (int edit = 0; edit < 4; ++edit) {
    RunInfo edited = original;
    if (edit == 0) edited.status = RunStatus::kCompleted;
    if (edit == 1) edited.lease_epoch = 7;
    if (edit == 2) edited.lease_holder = "intruder";
    if (edit == 3) edited.created_us += 1;
    INFO("edit " << edit);
    PutRunMeta(*store, edited);
    Status status = store->Verify("r1");
    CHECK(status.IsCorruption());
    CHECK_THAT(status.message(), Catch::Matchers::Contains("the index was edited"));
  }
  PutRunMeta(*store, original);
  CHECK(store->Verify("r1").ok());
}

TEST_CASE_METHOD(StoreFixtureAt<kStartUs>, "Verify.PassesWhileAppendsAreRunning",
                 "[verify][concurrency]") {
  // Goal: Verify, VerifyAll and VerifyAgainst of a live store never report
  // tampering that did not happen, although runs grow between reading their
  // head and walking their events. Method: two writers append for 300 ms
  // while the test verifies in a loop; every verification must pass.
  Populate(*store, clock);
  auto digest = store->StoreDigest();
  REQUIRE(digest.ok());
  std::atomic<bool> stop{false};
  std::vector<std::thread> writers;
  std::atomic<int> append_errors{0};
  for (int w = 0; w < 2; ++w) {
    // No Catch assertions off the test's thread: count errors instead.
    writers.emplace_back([&, w] {
      EventInput input = Message("more");
      while (!stop.load()) {
        auto result = store->Append(w == 0 ? "r1" : "r2", std::span(&input, 1),
                                    WithDurability(Durability::kBuffered));
        if (!result.ok()) ++append_errors;
      }
    });
  }
  int rounds = 0;
  std::vector<std::string> failures;
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(300);
  while (std::chrono::steady_clock::now() < until) {
    for (Status status : {store->Verify("r1"), store->VerifyAll(), store->VerifyAgainst(*digest)}) {
      if (!status.ok()) failures.push_back(status.ToString());
    }
    ++rounds;
  }
  stop = true;
  for (auto& writer : writers) writer.join();
  INFO((failures.empty() ? std::string() : failures.front()));
  CHECK(failures.empty());
  CHECK(append_errors.load() == 0);
  CHECK(rounds > 0);
  CHECK(store->VerifyAll().ok());
}
