// tests/fork_test.cc: Store::Fork and the reads, verification and digests
// of forks (engine/store_fork.cc, engine/record_format.md "Forks").
//
// Goal: a fork is a new run whose history is its parent's first
// at_sequence events, then its own, with nothing copied: the parent never
// changes, every read and Verify of the fork resolves the shared prefix to
// the ancestor that stores it (through forks of forks), the fork's
// metadata is the fold of its whole history (but created_us is when it was
// forked), and digests taken before a fork keep verifying after it.
// Method: small runs with a ManualClock; each property is checked through
// the public API, on both backends where the behaviour could differ, and
// damage is made through testing/store_surgery.h.
#include <catch2/catch.hpp>
#include <fstream>
#include <span>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "engine/store_impl.h"
#include "testing/store_surgery.h"
#include "testing/test_util.h"

using namespace agentlog;
using namespace agentlog::testing;
using agentlog::internal::Space;

namespace {

constexpr int64_t kStartUs = 1'700'000'000'000'000;

// Appends `texts` as messages, one append each.
void AppendTexts(Store& store, const std::string& run_id, std::vector<std::string> texts) {
  for (const std::string& text : texts) AppendMessage(store, run_id, text);
}

void AppendPayload(Store& store, const std::string& run_id, std::string payload) {
  EventInput input = Input(std::move(payload));
  auto result = store.Append(run_id, std::span(&input, 1), WithDurability(Durability::kBuffered));
  INFO(result.status().ToString());
  REQUIRE(result.ok());
}

ForkOptions Reason(std::string reason) {
  ForkOptions options;
  options.durability = Durability::kBuffered;
  options.reason = std::move(reason);
  options.actor_id = "operator";
  return options;
}

AppendResult ForkOk(Store& store, const std::string& parent, uint64_t at, const std::string& fork,
                    const ForkOptions& options = Reason("try another plan")) {
  auto result = store.Fork(parent, at, fork, options);
  INFO("fork " << parent << " at " << at << " as " << fork << ": " << result.status().ToString());
  REQUIRE(result.ok());
  return *result;
}

std::string Text(const Event& event) { return MessageText(event); }

// "run:sequence" for each event, to compare a whole history at a glance.
std::vector<std::string> Owners(const std::vector<Event>& events) {
  std::vector<std::string> owners;
  for (const Event& event : events) {
    owners.push_back(std::string(event.run_id()) + ":" + std::to_string(event.sequence()));
  }
  return owners;
}

std::vector<Event> Read(Store& store, const std::string& run_id, ReadOptions options) {
  auto events = store.ReadRun(run_id, options);
  INFO(events.status().ToString());
  REQUIRE(events.ok());
  return std::move(events).value();
}

void CheckOk(const Status& status) {
  INFO(status.ToString());
  CHECK(status.ok());
}

void CheckCorruptionNaming(const Status& status, const std::string& fragment) {
  INFO(status.ToString());
  CHECK(status.IsCorruption());
  CHECK(status.message().find(fragment) != std::string::npos);
}

// parent "p": p-1 .. p-5; fork "f" at 3 with own messages f-a, f-b.
void ForkScenario(Store& store, ManualClock& clock) {
  AppendTexts(store, "p", {"p-1", "p-2", "p-3", "p-4", "p-5"});
  clock.Advance(100);
  AppendResult forked = ForkOk(store, "p", 3, "f");
  CHECK(forked.first_sequence == 4);
  CHECK(forked.last_sequence == 4);
  CHECK(forked.first_position == 6);
  CHECK_FALSE(forked.replayed);
  AppendTexts(store, "f", {"f-a", "f-b"});
}

// The parts of the contract that touch the backend: run on both.
void CheckForkReads(Store& store) {
  const std::vector<Event> all = ReadWholeRun(store, "f");
  CHECK(Owners(all) == std::vector<std::string>{"p:1", "p:2", "p:3", "f:4", "f:5", "f:6"});
  CHECK(Text(all[2]) == "p-3");
  CHECK(all[3].type() == fb::Body_RunForked);
  CHECK(all[3].actor_kind() == ActorKind::kSystem);
  CHECK(all[3].actor_id() == "operator");
  const fb::RunForked* forked = all[3].body()->body_as_RunForked();
  REQUIRE(forked != nullptr);
  CHECK(forked->parent_run_id()->str() == "p");
  CHECK(forked->fork_sequence() == 3);
  CHECK(forked->reason()->str() == "try another plan");
  // Shared events are the parent's own records, byte for byte.
  auto parent_three = store.ReadEvent("p", 3);
  REQUIRE(parent_three.ok());
  CHECK(all[2].frame() == parent_three->frame());
  CHECK(all[3].causation() == 0);
  CHECK(Text(all[5]) == "f-b");

  ReadOptions reverse;
  reverse.reverse = true;
  CHECK(Owners(Read(store, "f", reverse)) ==
        std::vector<std::string>{"f:6", "f:5", "f:4", "p:3", "p:2", "p:1"});
  ReadOptions across;
  across.from_sequence = 2;
  across.limit = 3;
  CHECK(Owners(Read(store, "f", across)) == std::vector<std::string>{"p:2", "p:3", "f:4"});
  ReadOptions back_across;
  back_across.reverse = true;
  back_across.to_sequence = 5;
  back_across.limit = 3;
  CHECK(Owners(Read(store, "f", back_across)) == std::vector<std::string>{"f:5", "f:4", "p:3"});
  ReadOptions prefix_only;
  prefix_only.from_sequence = 2;
  prefix_only.to_sequence = 3;
  CHECK(Owners(Read(store, "f", prefix_only)) == std::vector<std::string>{"p:2", "p:3"});
  ReadOptions own_only;
  own_only.from_sequence = 5;
  CHECK(Owners(Read(store, "f", own_only)) == std::vector<std::string>{"f:5", "f:6"});
  ReadOptions past_head;
  past_head.from_sequence = 7;
  CHECK(Read(store, "f", past_head).empty());

  auto shared = store.ReadEvent("f", 2);
  REQUIRE(shared.ok());
  CHECK(shared->run_id() == "p");
  CHECK(Text(*shared) == "p-2");
  auto own = store.ReadEvent("f", 5);
  REQUIRE(own.ok());
  CHECK(own->run_id() == "f");
  CHECK(Text(*own) == "f-a");
  CHECK(store.ReadEvent("f", 7).status().IsNotFound());
  CHECK(store.ReadEvent("f", 0).status().IsInvalidArgument());
  // The parent's event 4 is its own, not the fork's.
  auto parent_four = store.ReadEvent("p", 4);
  REQUIRE(parent_four.ok());
  CHECK(Text(*parent_four) == "p-4");

  RunInfo info = RunInfoOf(store, "f");
  CHECK(info.parent_run_id == "p");
  CHECK(info.fork_sequence == 3);
  CHECK(info.head_sequence == 6);
  CHECK(info.head_chain_hash == std::string(all[5].chain_hash()));
  auto runs = store.ListRuns(RunFilter{});
  REQUIRE(runs.ok());
  REQUIRE(runs->size() == 2);
  CHECK((*runs)[0].run_id == "f");
  CHECK((*runs)[0].parent_run_id == "p");
  CHECK((*runs)[0].fork_sequence == 3);
  CHECK((*runs)[1].parent_run_id.empty());
  CHECK((*runs)[1].fork_sequence == 0);

  VerifyStats stats;
  CheckOk(store.Verify("f", &stats));
  CHECK(stats.events == 6);  // the whole history
  VerifyStats all_stats;
  CheckOk(store.VerifyAll(&all_stats));
  CHECK(all_stats.runs == 2);
  CHECK(all_stats.events == 8);  // each stored record once
}

}  // namespace

TEST_CASE("Fork.ForkSeesThePrefixThenItsOwnEventsOnBothBackends", "[fork]") {
  // Goal: forward and reverse reads, limits that span the fork point, point
  // reads on both sides, metadata and Verify behave the same on RocksDB and
  // on the memory backend. Method: one scenario, one check, two backends.
  ManualClock clock(kStartUs);
  SECTION("rocksdb") {
    TempDir dir;
    auto store = OpenStore(dir.path(), &clock);
    ForkScenario(*store, clock);
    CheckForkReads(*store);
  }
  SECTION("memory") {
    auto store = OpenMemoryStore(&clock);
    ForkScenario(*store, clock);
    CheckForkReads(*store);
  }
}

TEST_CASE("Fork.ParentIsUnchangedByForkingAndByTheForksAppends", "[fork]") {
  // Goal: forking copies and changes nothing of the parent, and the parent
  // goes on growing on its own. Method: record the parent's frames, head,
  // digest; fork and append to the fork; compare; then grow the parent and
  // check the fork does not see it.
  ManualClock clock(kStartUs);
  auto store = OpenMemoryStore(&clock);
  AppendTexts(*store, "p", {"p-1", "p-2", "p-3", "p-4", "p-5"});
  std::vector<std::string> frames;
  for (const Event& event : ReadWholeRun(*store, "p")) frames.push_back(std::string(event.frame()));
  const RunInfo before = RunInfoOf(*store, "p");
  auto digest = store->RunDigest("p");
  REQUIRE(digest.ok());

  ForkOk(*store, "p", 3, "f");
  AppendTexts(*store, "f", {"f-a", "f-b"});

  std::vector<std::string> after_frames;
  for (const Event& event : ReadWholeRun(*store, "p")) after_frames.push_back(std::string(event.frame()));
  CHECK(after_frames == frames);
  const RunInfo after = RunInfoOf(*store, "p");
  CHECK(after.head_sequence == before.head_sequence);
  CHECK(after.head_chain_hash == before.head_chain_hash);
  CHECK(after.head_position == before.head_position);
  CHECK(after.status == before.status);
  CHECK(after.last_event_us == before.last_event_us);
  auto digest_after = store->RunDigest("p");
  REQUIRE(digest_after.ok());
  CHECK(*digest_after == *digest);
  CheckOk(store->VerifyAgainst(*digest));
  VerifyStats stats;
  CheckOk(store->Verify("p", &stats));
  CHECK(stats.events == 5);

  AppendTexts(*store, "p", {"p-6"});
  CHECK(RunInfoOf(*store, "f").head_sequence == 6);
  auto fork_four = store->ReadEvent("f", 4);
  REQUIRE(fork_four.ok());
  CHECK(fork_four->type() == fb::Body_RunForked);
  CheckOk(store->VerifyAll());
}

TEST_CASE("Fork.ForkOfAForkResolvesEachSequenceToItsOwner", "[fork]") {
  // Goal: forks nest: a fork of a fork reads each shared event from the
  // ancestor that stores it, including a fork taken inside its parent's own
  // shared prefix, and every chain continues across the boundaries.
  // Method: p (5 events); g = p at 3 (+2); f = g at 5 (+1); h = g at 2,
  // which lies inside g's prefix from p; check owners, Verify, VerifyAll.
  ManualClock clock(kStartUs);
  auto store = OpenMemoryStore(&clock);
  AppendTexts(*store, "p", {"p-1", "p-2", "p-3", "p-4", "p-5"});
  ForkOk(*store, "p", 3, "g");
  AppendTexts(*store, "g", {"g-5", "g-6"});
  ForkOk(*store, "g", 5, "f");
  AppendTexts(*store, "f", {"f-7"});
  ForkOk(*store, "g", 2, "h");
  AppendTexts(*store, "h", {"h-4"});

  CHECK(Owners(ReadWholeRun(*store, "f")) ==
        std::vector<std::string>{"p:1", "p:2", "p:3", "g:4", "g:5", "f:6", "f:7"});
  CHECK(Owners(ReadWholeRun(*store, "h")) == std::vector<std::string>{"p:1", "p:2", "h:3", "h:4"});
  ReadOptions reverse;
  reverse.reverse = true;
  reverse.to_sequence = 6;
  reverse.limit = 4;
  CHECK(Owners(Read(*store, "f", reverse)) == std::vector<std::string>{"f:6", "g:5", "g:4", "p:3"});
  auto shared = store->ReadEvent("f", 4);
  REQUIRE(shared.ok());
  CHECK(shared->run_id() == "g");
  CHECK(shared->type() == fb::Body_RunForked);
  auto deep = store->ReadEvent("f", 1);
  REQUIRE(deep.ok());
  CHECK(deep->run_id() == "p");

  const RunInfo h = RunInfoOf(*store, "h");
  CHECK(h.parent_run_id == "g");  // the run the caller forked, not the owner of event 2
  CHECK(h.fork_sequence == 2);
  auto h_forked = store->ReadEvent("h", 3);
  REQUIRE(h_forked.ok());
  CHECK(h_forked->body()->body_as_RunForked()->parent_run_id()->str() == "g");

  for (const std::string run : {"p", "g", "f", "h"}) {
    INFO(run);
    CheckOk(store->Verify(run));
    auto digest = store->RunDigest(run);
    REQUIRE(digest.ok());
    CheckOk(store->VerifyAgainst(*digest));
  }
  // A run digest may name a shared event of the fork.
  auto p_two = store->ReadEvent("p", 2);
  REQUIRE(p_two.ok());
  CheckOk(store->VerifyAgainst("agentlog-run-v1:h:2:" + internal::HexEncode(p_two->chain_hash())));
  VerifyStats stats;
  CheckOk(store->VerifyAll(&stats));
  CHECK(stats.runs == 4);
  CHECK(stats.events == store->LastPosition());
}

TEST_CASE("Fork.VerifyOfAForkDetectsDamageInTheParentsSharedRecords", "[fork]") {
  // Goal: verifying a fork proves its shared prefix too: an edited or
  // deleted parent record before the fork point fails the fork, one after
  // it fails only the parent. Method: edit payloads and delete records
  // through the backend, with valid frame checksums.
  ManualClock clock(kStartUs);
  auto store = OpenMemoryStore(&clock);
  AppendTexts(*store, "p", {"p-1", "p-2", "p-3", "p-4", "p-5"});
  ForkOk(*store, "p", 3, "f");
  AppendTexts(*store, "f", {"f-a"});
  ForkOk(*store, "f", 5, "ff");

  SECTION("an edited payload in the prefix") {
    OwnedRecord record = LoadRecord(*store, "p", 2);
    record.payload = MessagePayload("user", "forged");
    PutRecord(*store, "p", 2, record.Encode());
    CheckCorruptionNaming(store->Verify("f"), NameOf("p", 2));
    CheckCorruptionNaming(store->Verify("ff"), NameOf("p", 2));
    CheckCorruptionNaming(store->VerifyAll(), NameOf("p", 2));
  }
  SECTION("an edited envelope in the prefix, payload hash recomputed") {
    OwnedRecord record = LoadRecord(*store, "p", 3);
    record.payload = MessagePayload("user", "forged");
    record.payload_hash = internal::Sha256(record.payload);
    PutRecord(*store, "p", 3, record.Encode());
    // The fork's first own record chains from the parent's event 3.
    CheckCorruptionNaming(store->Verify("f"), "chain hash mismatch");
    CheckCorruptionNaming(store->Verify("ff"), "chain hash mismatch");
  }
  SECTION("a deleted record in the prefix") {
    DeleteKey(*store, Space::kEvents, internal::EventKey("p", 2));
    CheckCorruptionNaming(store->Verify("f"), NameOf("p", 2) + " is missing");
    CheckCorruptionNaming(store->ReadEvent("f", 2).status(), NameOf("p", 2));
    CheckCorruptionNaming(store->ReadRun("f", ReadOptions{}).status(), NameOf("p", 2));
    CheckCorruptionNaming(store->ReadEvent("ff", 2).status(), NameOf("p", 2));
  }
  SECTION("damage after the fork point fails the parent only") {
    OwnedRecord record = LoadRecord(*store, "p", 5);
    record.payload = MessagePayload("user", "forged");
    PutRecord(*store, "p", 5, record.Encode());
    CheckOk(store->Verify("f"));
    CheckOk(store->Verify("ff"));
    CheckCorruptionNaming(store->Verify("p"), NameOf("p", 5));
  }
  SECTION("a fork's metadata naming another parent") {
    AppendTexts(*store, "q", {"q-1", "q-2", "q-3"});
    RunInfo info = RunInfoOf(*store, "f");
    info.parent_run_id = "q";
    PutRunMeta(*store, info);
    CheckCorruptionNaming(store->Verify("f"), NameOf("f", 4));
  }
  SECTION("a fork whose parent is gone") {
    DeleteKey(*store, Space::kRuns, internal::RunKey("p"));
    CheckCorruptionNaming(store->Verify("f"), "does not exist");
    CheckCorruptionNaming(store->ReadRun("ff", ReadOptions{}).status(), "does not exist");
  }
  SECTION("a cyclic lineage") {
    RunInfo p = RunInfoOf(*store, "p");
    p.parent_run_id = "ff";
    p.fork_sequence = 4;
    PutRunMeta(*store, p);
    CheckCorruptionNaming(store->Verify("f"), "cycle");
    CheckCorruptionNaming(store->ReadEvent("f", 1).status(), "cycle");
  }
}

TEST_CASE("Fork.DamagedForkMetadataIsCorruptionNotAbsence", "[fork]") {
  // Goal: reading a fork's shared event when the fork's runs value is
  // damaged says Corruption, never "does not exist"; a runs value whose
  // fork fields do not fit together (edited, re-framed) is Corruption on
  // every path, including SequenceAtPosition.
  ManualClock clock(kStartUs);
  auto store = OpenMemoryStore(&clock);
  AppendMessage(*store, "p", "one");
  AppendMessage(*store, "p", "two");
  ForkOk(*store, "p", 2, "f");
  const std::string original = StoredValue(*store, internal::Space::kRuns, "f");
  std::string flipped = original;
  flipped[flipped.size() - 3] ^= 0x01;
  PutValue(*store, internal::Space::kRuns, "f", flipped);
  CHECK(store->ReadEvent("f", 1).status().IsCorruption());
  CHECK(store->GetRun("f").status().IsCorruption());

  RunInfo edited = RunInfoOf(*store, "p");  // any valid info, re-encoded as f's
  edited.run_id = "f";
  edited.parent_run_id = "p";
  edited.fork_sequence = edited.head_sequence;  // a fork whose head is its fork point
  PutValue(*store, internal::Space::kRuns, "f", internal::EncodeRunMeta(edited));
  auto info = store->GetRun("f");
  CHECK(info.status().IsCorruption());
  CHECK_THAT(info.status().message(), Catch::Contains("do not fit together"));
  CHECK(store->SequenceAtPosition("f", 1).status().IsCorruption());
  edited.parent_run_id.clear();  // a fork point without a parent
  edited.fork_sequence = 1;
  edited.head_sequence = 3;
  PutValue(*store, internal::Space::kRuns, "f", internal::EncodeRunMeta(edited));
  CHECK(store->GetRun("f").status().IsCorruption());
  PutValue(*store, internal::Space::kRuns, "f", original);
  CheckOk(store->Verify("f"));
}

TEST_CASE("Fork.OnlyForkWritesRunForked", "[fork]") {
  // Goal: a RunForked appended by hand (claiming a lineage the runs index
  // does not record) is refused, alone or inside a larger append, and
  // nothing of that append is written.
  ManualClock clock(kStartUs);
  auto store = OpenMemoryStore(&clock);
  flatbuffers::FlatBufferBuilder builder;
  builder.Finish(fb::CreateEvent(builder, fb::Body_RunForked,
                                 fb::CreateRunForkedDirect(builder, "elsewhere", 3, "forged").Union()));
  const std::string forged(reinterpret_cast<const char*>(builder.GetBufferPointer()), builder.GetSize());
  std::vector<EventInput> events{Message("fine"), Input(forged)};
  auto refused = store->Append("r", events, WithDurability(Durability::kSync));
  CHECK(refused.status().IsInvalidArgument());
  CHECK_THAT(refused.status().message(), Catch::Contains("event 1") && Catch::Contains("only Store::Fork"));
  CHECK(store->GetRun("r").status().IsNotFound());
  AppendMessage(*store, "r", "one");
  CHECK(store->Append("r", std::span(&events[1], 1), WithDurability(Durability::kSync)).status().IsInvalidArgument());
  CHECK(RunInfoOf(*store, "r").head_sequence == 1);
}

TEST_CASE("Fork.RefusesBadForkPointsAndWritesNothing", "[fork]") {
  // Goal: every refusal comes with its code and leaves no trace: no run,
  // no position, no event. Method: each bad call, then check the store.
  ManualClock clock(kStartUs);
  auto store = OpenMemoryStore(&clock);
  AppendTexts(*store, "p", {"p-1", "p-2", "p-3"});
  AppendTexts(*store, "other", {"o-1"});
  const uint64_t last_position = store->LastPosition();

  auto at_zero = store->Fork("p", 0, "f", Reason("x"));
  INFO(at_zero.status().ToString());
  CHECK(at_zero.status().IsInvalidArgument());
  CHECK(at_zero.status().message().find("at event 0") != std::string::npos);
  CHECK(at_zero.status().message().find("1..3") != std::string::npos);
  auto past_head = store->Fork("p", 4, "f", Reason("x"));
  INFO(past_head.status().ToString());
  CHECK(past_head.status().IsInvalidArgument());
  CHECK(past_head.status().message().find("at event 4") != std::string::npos);
  CHECK(past_head.status().message().find("1..3") != std::string::npos);
  CHECK(store->Fork("nobody", 1, "f", Reason("x")).status().IsNotFound());
  CHECK(store->Fork("p", 1, "other", Reason("x")).status().IsConflict());
  CHECK(store->Fork("p", 1, "p", Reason("x")).status().IsConflict());
  CHECK(store->Fork("bad id", 1, "f", Reason("x")).status().IsInvalidArgument());
  CHECK(store->Fork("p", 1, "bad id", Reason("x")).status().IsInvalidArgument());
  CHECK(store->Fork("p", 1, "", Reason("x")).status().IsInvalidArgument());
  CHECK(store->Fork("p", 1, std::string(kMaxRunIdBytes + 1, 'f'), Reason("x")).status().IsLimitExceeded());
  CHECK(store->Fork("p", 1, "f", Reason(std::string(kMaxForkReasonBytes + 1, 'r')))
            .status()
            .IsInvalidArgument());
  CHECK(store->Fork("p", 1, "f", Reason(std::string("nul\0byte", 8))).status().IsInvalidArgument());
  CHECK(store->Fork("p", 1, "f", Reason("\xff\xfe")).status().IsInvalidArgument());
  ForkOptions bad_session = Reason("x");
  bad_session.session_id = "bad session";
  CHECK(store->Fork("p", 1, "f", bad_session).status().IsInvalidArgument());
  ForkOptions bad_durability = Reason("x");
  bad_durability.durability = static_cast<Durability>(9);
  CHECK(store->Fork("p", 1, "f", bad_durability).status().IsInvalidArgument());
  ForkOptions long_actor = Reason("x");
  long_actor.actor_id = std::string(kMaxIdBytes + 1, 'a');
  CHECK(store->Fork("p", 1, "f", long_actor).status().IsLimitExceeded());

  CHECK(store->GetRun("f").status().IsNotFound());
  CHECK(store->LastPosition() == last_position);
  CHECK(RunInfoOf(*store, "other").head_sequence == 1);
  CHECK(RunInfoOf(*store, "p").head_sequence == 3);
  CheckOk(store->VerifyAll());

  // The longest reason is accepted.
  ForkOk(*store, "p", 1, "f", Reason(std::string(kMaxForkReasonBytes, 'r')));
  CHECK(store->Fork("p", 1, "f", Reason("again")).status().IsConflict());
  REQUIRE(store->Close().ok());
  CHECK(store->Fork("p", 1, "g", Reason("x")).status().IsClosed());
}

TEST_CASE("Fork.DepthIsBoundedByMaxForkDepth", "[fork]") {
  // Goal: a fork may have kMaxForkDepth ancestors and no more. Method: a
  // chain of forks, each of the last, until the limit refuses one.
  ManualClock clock(kStartUs);
  auto store = OpenMemoryStore(&clock);
  AppendTexts(*store, "d0", {"root"});
  for (size_t depth = 1; depth <= kMaxForkDepth; ++depth) {
    const std::string parent = "d" + std::to_string(depth - 1);
    ForkOk(*store, parent, depth, "d" + std::to_string(depth));
  }
  const std::string deepest = "d" + std::to_string(kMaxForkDepth);
  auto refused = store->Fork(deepest, kMaxForkDepth + 1, "too-deep", Reason("x"));
  INFO(refused.status().ToString());
  CHECK(refused.status().IsInvalidArgument());
  CHECK(store->GetRun("too-deep").status().IsNotFound());
  const std::vector<Event> history = ReadWholeRun(*store, deepest);
  REQUIRE(history.size() == kMaxForkDepth + 1);
  CHECK(history[0].run_id() == "d0");
  CHECK(history[kMaxForkDepth].run_id() == deepest);
  CheckOk(store->Verify(deepest));
  // A fork of a shallower ancestor is still fine.
  ForkOk(*store, "d3", 2, "shallow");
  CheckOk(store->VerifyAll());
}

TEST_CASE("Fork.InheritsStatusAndLeaseFromTheSharedPrefix", "[fork]") {
  // Goal: a fork's metadata is the fold of its whole history: the status
  // and lease epoch at the fork point, whatever the parent did later, with
  // the lease released by the RunForked event; created_us
  // is the time of the fork. Method: a parent that moves through statuses
  // and leases; a fork at each point; compare GetRun and Verify each.
  ManualClock clock(kStartUs);
  auto store = OpenMemoryStore(&clock);
  AppendPayload(*store, "p", TurnStartedPayload("go"));                 // 1 created
  AppendPayload(*store, "p", StatusPayload(fb::Body_TurnPlanned));      // 2 planned
  AppendPayload(*store, "p", LeaseAcquiredPayload("w1", 1));            // 3
  AppendPayload(*store, "p", ToolStartedPayload("grep", "{}"));         // 4 running
  AppendPayload(*store, "p", LeaseReleasedPayload("w1", 1));            // 5
  AppendPayload(*store, "p", MessagePayload("user", "note"));           // 6
  AppendPayload(*store, "p", LeaseAcquiredPayload("w2", 2));            // 7
  AppendPayload(*store, "p", StatusPayload(fb::Body_RunPaused));        // 8 paused
  clock.Advance(1000);

  struct Expected {
    uint64_t at;
    RunStatus status;
    uint64_t epoch;
    std::string holder;
  };
  // The epoch carries over; the holder never does (RunForked releases it).
  const std::vector<Expected> cases = {
      {1, RunStatus::kCreated, 0, ""}, {2, RunStatus::kPlanned, 0, ""},
      {3, RunStatus::kPlanned, 1, ""}, {4, RunStatus::kRunning, 1, ""},
      {5, RunStatus::kRunning, 1, ""}, {6, RunStatus::kRunning, 1, ""},
      {7, RunStatus::kRunning, 2, ""}, {8, RunStatus::kPaused, 2, ""}};
  for (const Expected& expected : cases) {
    const std::string fork = "at-" + std::to_string(expected.at);
    INFO(fork);
    clock.Advance(10);
    ForkOptions options = Reason("x");
    options.session_id = "s1";
    ForkOk(*store, "p", expected.at, fork, options);
    const RunInfo info = RunInfoOf(*store, fork);
    CHECK(info.status == expected.status);
    CHECK(info.lease_epoch == expected.epoch);
    CHECK(info.lease_holder == expected.holder);
    CHECK(info.created_us == clock.NowMicros());
    CHECK(info.last_event_us == clock.NowMicros());
    CHECK(info.session_id == "s1");
    CHECK(info.head_sequence == expected.at + 1);
    CheckOk(store->Verify(fork));
  }
  RunFilter running;
  running.status = RunStatus::kRunning;
  auto listed = store->ListRuns(running);
  REQUIRE(listed.ok());
  CHECK(listed->size() == 4);
  RunFilter session;
  session.session_id = "s1";
  listed = store->ListRuns(session);
  REQUIRE(listed.ok());
  CHECK(listed->size() == cases.size());
  CHECK(RunInfoOf(*store, "p").status == RunStatus::kPaused);
  CheckOk(store->VerifyAll());
}

TEST_CASE("Fork.ALeaseOnAForkTakesTheInheritedEpochPlusOne", "[fork]") {
  // Goal: lease fencing carries over: a fork's first LeaseAcquired must
  // take the inherited epoch + 1, and the parent's lease is untouched.
  // Method: parent at epoch 2 (released); fork; try epochs 2, 4, 3.
  ManualClock clock(kStartUs);
  auto store = OpenMemoryStore(&clock);
  AppendPayload(*store, "p", LeaseAcquiredPayload("w1", 1));
  AppendPayload(*store, "p", LeaseReleasedPayload("w1", 1));
  AppendPayload(*store, "p", LeaseAcquiredPayload("w2", 2));
  AppendPayload(*store, "p", LeaseReleasedPayload("w2", 2));
  AppendPayload(*store, "p", MessagePayload("user", "after"));
  ForkOk(*store, "p", 4, "f");
  CHECK(RunInfoOf(*store, "f").lease_epoch == 2);

  auto append = [&](std::string payload, std::optional<uint64_t> lease_epoch) {
    EventInput input = Input(std::move(payload));
    AppendOptions options = WithDurability(Durability::kBuffered);
    options.lease_epoch = lease_epoch;
    return store->Append("f", std::span(&input, 1), options).status();
  };
  CHECK(append(LeaseAcquiredPayload("w3", 2), std::nullopt).IsFenced());
  CHECK(append(LeaseAcquiredPayload("w3", 4), std::nullopt).IsInvalidArgument());
  CHECK(append(MessagePayload("user", "under 2"), 2).IsFenced());  // released in the prefix
  CheckOk(append(LeaseAcquiredPayload("w3", 3), std::nullopt));
  CheckOk(append(MessagePayload("user", "under 3"), 3));
  CHECK(append(MessagePayload("user", "stale"), 2).IsFenced());
  const RunInfo fork = RunInfoOf(*store, "f");
  CHECK(fork.lease_epoch == 3);
  CHECK(fork.lease_holder == "w3");
  const RunInfo parent = RunInfoOf(*store, "p");
  CHECK(parent.lease_epoch == 2);
  CHECK(parent.lease_holder.empty());
  CheckOk(store->VerifyAll());
}

TEST_CASE("Fork.TheParentsLeaseHolderDoesNotHoldTheFork", "[fork]") {
  // Goal: forking while the parent's lease is held gives the fork no
  // holder: the parent's worker is fenced on the fork under its epoch, and
  // keeps its lease on the parent. Method: w1 holds epoch 1; fork; append
  // to both under epoch 1.
  ManualClock clock(kStartUs);
  auto store = OpenMemoryStore(&clock);
  AppendPayload(*store, "p", LeaseAcquiredPayload("w1", 1));
  ForkOk(*store, "p", 1, "f");
  const RunInfo fork = RunInfoOf(*store, "f");
  CHECK(fork.lease_epoch == 1);
  CHECK(fork.lease_holder.empty());
  auto append = [&](const std::string& run_id, std::string payload, std::optional<uint64_t> lease_epoch) {
    EventInput input = Input(std::move(payload));
    AppendOptions options = WithDurability(Durability::kBuffered);
    options.lease_epoch = lease_epoch;
    return store->Append(run_id, std::span(&input, 1), options).status();
  };
  CHECK(append("f", MessagePayload("user", "from w1"), 1).IsFenced());
  CheckOk(append("p", MessagePayload("user", "still mine"), 1));
  CHECK(append("f", LeaseReleasedPayload("w1", 1), std::nullopt).IsInvalidArgument());  // nothing to release
  CheckOk(append("f", LeaseAcquiredPayload("w2", 2), std::nullopt));
  CheckOk(append("f", MessagePayload("user", "from w2"), 2));
  CHECK(RunInfoOf(*store, "f").lease_holder == "w2");
  CHECK(RunInfoOf(*store, "p").lease_holder == "w1");
  CheckOk(store->VerifyAll());
}

TEST_CASE("Fork.StoreDigestTakenBeforeAForkStillVerifies", "[fork]") {
  // Goal: a fork only adds history: a store digest taken before it keeps
  // its value (the fork is not a leaf as of older positions, though its
  // prefix existed then), and one taken after counts the fork.
  // Method: digest, fork and append, VerifyAgainst both digests.
  ManualClock clock(kStartUs);
  TempDir dir;
  auto store = OpenStore(dir.path(), &clock);
  AppendTexts(*store, "p", {"p-1", "p-2", "p-3"});
  AppendTexts(*store, "q", {"q-1"});
  auto before = store->StoreDigest();
  REQUIRE(before.ok());
  CHECK(before->find(":4:2:") != std::string::npos);
  ForkOk(*store, "p", 2, "f");
  AppendTexts(*store, "f", {"f-a"});
  AppendTexts(*store, "p", {"p-4"});
  CheckOk(store->VerifyAgainst(*before));
  auto after_fork = store->StoreDigest();
  REQUIRE(after_fork.ok());
  CHECK(after_fork->find(":7:3:") != std::string::npos);
  ForkOk(*store, "f", 4, "ff");
  CheckOk(store->VerifyAgainst(*before));
  CheckOk(store->VerifyAgainst(*after_fork));
  VerifyStats stats;
  CheckOk(store->VerifyAll(&stats));
  CHECK(stats.runs == 4);
  CHECK(stats.events == 8);
}

TEST_CASE("Fork.SequenceAtPositionIsTheHeadAsOfAPosition", "[fork]") {
  // Goal: SequenceAtPosition gives a run's head as of a global position, 0
  // before the run (for a fork: before its RunForked event) existed.
  // Method: interleaved appends with known positions.
  ManualClock clock(kStartUs);
  auto store = OpenMemoryStore(&clock);
  AppendTexts(*store, "p", {"p-1"});   // position 1
  AppendTexts(*store, "q", {"q-1"});   // 2
  AppendTexts(*store, "p", {"p-2"});   // 3
  AppendTexts(*store, "p", {"p-3"});   // 4
  ForkOk(*store, "p", 2, "f");         // 5: f event 3
  AppendTexts(*store, "p", {"p-4"});   // 6
  AppendTexts(*store, "f", {"f-4"});   // 7

  auto at = [&](const std::string& run, uint64_t position) {
    auto sequence = store->SequenceAtPosition(run, position);
    INFO(run << " at " << position << ": " << sequence.status().ToString());
    REQUIRE(sequence.ok());
    return *sequence;
  };
  CHECK(at("p", 0) == 0);
  CHECK(at("p", 1) == 1);
  CHECK(at("p", 2) == 1);
  CHECK(at("p", 3) == 2);
  CHECK(at("p", 5) == 3);
  CHECK(at("p", 100) == 4);
  CHECK(at("q", 1) == 0);
  CHECK(at("q", 2) == 1);
  CHECK(at("f", 4) == 0);  // its prefix existed, the fork did not
  CHECK(at("f", 5) == 3);
  CHECK(at("f", 6) == 3);
  CHECK(at("f", 7) == 4);
  CHECK(store->SequenceAtPosition("nobody", 3).status().IsNotFound());
  CHECK(store->SequenceAtPosition("bad id", 3).status().IsInvalidArgument());
}

TEST_CASE("Fork.SurvivesReopen", "[fork]") {
  // Goal: a fork is durable: after a reopen its metadata, history and
  // chain are intact and it takes further appends. Method: RocksDB store,
  // kSync fork, close, reopen, check, append, verify.
  ManualClock clock(kStartUs);
  TempDir dir;
  {
    auto store = OpenStore(dir.path(), &clock);
    AppendTexts(*store, "p", {"p-1", "p-2", "p-3"});
    ForkOptions options = Reason("durable");
    options.durability = Durability::kSync;
    options.session_id = "s1";
    ForkOk(*store, "p", 2, "f", options);
    REQUIRE(store->Close().ok());
  }
  auto store = OpenStore(dir.path(), &clock);
  const RunInfo info = RunInfoOf(*store, "f");
  CHECK(info.parent_run_id == "p");
  CHECK(info.fork_sequence == 2);
  CHECK(info.head_sequence == 3);
  CHECK(info.session_id == "s1");
  AppendTexts(*store, "f", {"f-4"});
  CHECK(Owners(ReadWholeRun(*store, "f")) == std::vector<std::string>{"p:1", "p:2", "f:3", "f:4"});
  CheckOk(store->VerifyAll());
}

TEST_CASE("Fork.ConcurrentForksToOneIdCreateItOnce", "[fork]") {
  // Goal: the "new run must not exist" check is made by the committer, so
  // of many racing forks (and appends) to one new id exactly one creates it.
  // Method: threads race; results are collected and asserted on this thread.
  ManualClock clock(kStartUs);
  auto store = OpenMemoryStore(&clock);
  AppendTexts(*store, "p", {"p-1", "p-2", "p-3"});
  constexpr size_t kThreads = 8;
  std::vector<Status> results(kThreads);
  std::vector<std::thread> threads;
  for (size_t i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      results[i] = store->Fork("p", 1 + i % 3, "f", Reason("race " + std::to_string(i))).status();
    });
  }
  for (std::thread& thread : threads) thread.join();
  size_t created = 0;
  for (const Status& status : results) {
    INFO(status.ToString());
    CHECK((status.ok() || status.IsConflict()));
    if (status.ok()) ++created;
  }
  CHECK(created == 1);
  CheckOk(store->VerifyAll());
}

TEST_CASE("Fork.FormatDocStatesTheForkConstants", "[fork]") {
  // Goal: engine/record_format.md's "Forks" section states the code's
  // numbers (event type, depth and reason bounds), so the two change
  // together. Method: read the doc from AGENTLOG_SOURCE_DIR and look.
  std::ifstream in(std::string(AGENTLOG_SOURCE_DIR) + "/engine/record_format.md");
  REQUIRE(in.good());
  std::stringstream text;
  text << in.rdbuf();
  const std::string doc = text.str();
  const size_t forks = doc.find("## Forks");
  REQUIRE(forks != std::string::npos);
  const std::string section = doc.substr(forks, doc.find("\n## ", forks + 1) - forks);
  CHECK(section.find("event type " + std::to_string(fb::Body_RunForked)) != std::string::npos);
  CHECK(section.find(std::to_string(kMaxForkDepth) + " ancestors") != std::string::npos);
  CHECK(section.find("<= " + std::to_string(kMaxForkReasonBytes) + " bytes") != std::string::npos);
  CHECK(section.find("actor kind " + std::to_string(static_cast<int>(ActorKind::kSystem))) !=
        std::string::npos);
}
