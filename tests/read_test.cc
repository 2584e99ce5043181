// tests/read_test.cc: the read API of include/agentlog/store.h: ReadRun
// (forward, reverse, bounds, limits), ReadEvent, GetRun, ListRuns (status,
// session, pagination), ReadGlobal, LastPosition and WaitForPosition.
#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <thread>
#include <vector>

#include "base/crypto.h"
#include "testing/test_util.h"

using namespace agentlog;
using namespace agentlog::testing;
using Catch::Matchers::Contains;

namespace {

Result<AppendResult> AppendEvents(
    Store& store, std::string_view run_id, const std::vector<EventInput>& events,
    const AppendOptions& options = WithDurability(Durability::kBuffered)) {
  return store.Append(run_id, std::span<const EventInput>(events.data(), events.size()), options);
}

// Appends one body-only event of `type` (e.g. fb::Body_TurnCompleted).
void AppendStatusEvent(Store& store, const std::string& run_id, fb::Body type,
                       const std::string& session_id = "") {
  AppendOptions options = WithDurability(Durability::kBuffered);
  options.session_id = session_id;
  auto result = AppendEvents(store, run_id, {Input(StatusPayload(type))}, options);
  INFO(result.status().ToString());
  REQUIRE(result.ok());
}

std::vector<uint64_t> Sequences(const std::vector<Event>& events) {
  std::vector<uint64_t> sequences;
  for (const Event& event : events) sequences.push_back(event.sequence());
  return sequences;
}

std::vector<std::string> RunIds(const std::vector<RunInfo>& runs) {
  std::vector<std::string> ids;
  for (const RunInfo& run : runs) ids.push_back(run.run_id);
  return ids;
}

std::vector<std::string> ListIds(Store& store, const RunFilter& filter) {
  auto runs = store.ListRuns(filter);
  INFO(runs.status().ToString());
  REQUIRE(runs.ok());
  return RunIds(*runs);
}

RunFilter StatusFilter(RunStatus status) {
  RunFilter filter;
  filter.status = status;
  return filter;
}

std::vector<uint64_t> ReadSequences(Store& store, const std::string& run_id, uint64_t from,
                                    uint64_t to, size_t limit, bool reverse) {
  ReadOptions options;
  options.from_sequence = from;
  options.to_sequence = to;
  options.limit = limit;
  options.reverse = reverse;
  auto events = store.ReadRun(run_id, options);
  INFO(events.status().ToString());
  REQUIRE(events.ok());
  return Sequences(*events);
}

using Seq = std::vector<uint64_t>;

}  // namespace

TEST_CASE_METHOD(StoreFixture, "Read.RunForwardReturnsEveryEventInOrder", "[read]") {
  // Goal: ReadRun with default options returns the whole run ascending,
  // each event with its own payload. Method: a run of 10 appended in 3 parts.
  REQUIRE(AppendEvents(*store, "run-a", Messages(4, "p1")).ok());
  REQUIRE(AppendEvents(*store, "other", Messages(2, "x")).ok());
  REQUIRE(AppendEvents(*store, "run-a", Messages(6, "p2")).ok());
  auto events = store->ReadRun("run-a", ReadOptions());
  REQUIRE(events.ok());
  CHECK(Sequences(*events) == Seq{1, 2, 3, 4, 5, 6, 7, 8, 9, 10});
  CHECK(MessageText((*events)[0]) == "p1-1");
  CHECK(MessageText((*events)[4]) == "p2-1");
  CHECK(MessageText((*events)[9]) == "p2-6");
  for (const Event& event : *events) CHECK(event.run_id() == "run-a");
}

TEST_CASE_METHOD(StoreFixture, "Read.RunReverseStartsAtTheNewest", "[read]") {
  // Goal: reverse reads go newest first from to_sequence (or the head),
  // stopping at from_sequence or the limit. Method: a run of 10; reverse
  // reads with and without bounds and limits.
  REQUIRE(AppendEvents(*store, "run-a", Messages(10)).ok());
  CHECK(ReadSequences(*store, "run-a", 1, UINT64_MAX, 1000, true) ==
        Seq{10, 9, 8, 7, 6, 5, 4, 3, 2, 1});
  CHECK(ReadSequences(*store, "run-a", 1, 7, 3, true) == Seq{7, 6, 5});
  CHECK(ReadSequences(*store, "run-a", 4, 6, 1000, true) == Seq{6, 5, 4});
  CHECK(ReadSequences(*store, "run-a", 1, UINT64_MAX, 2, true) == Seq{10, 9});
  CHECK(ReadSequences(*store, "run-a", 9, 50, 1000, true) == Seq{10, 9});
  CHECK(ReadSequences(*store, "run-a", 1, 1, 1000, true) == Seq{1});
}

TEST_CASE_METHOD(StoreFixture, "Read.RunRespectsBoundsAndLimits", "[read]") {
  // Goal: forward reads return exactly [from, to] ∩ [1, head], at most
  // `limit` of them. Method: a run of 10 and several windows; a limit of 1;
  // to_sequence past the head.
  REQUIRE(AppendEvents(*store, "run-a", Messages(10)).ok());
  REQUIRE(AppendEvents(*store, "run-b", Messages(3)).ok());  // a neighbour must not leak in
  CHECK(ReadSequences(*store, "run-a", 3, 5, 1000, false) == Seq{3, 4, 5});
  CHECK(ReadSequences(*store, "run-a", 8, UINT64_MAX, 2, false) == Seq{8, 9});
  CHECK(ReadSequences(*store, "run-a", 8, 100, 1000, false) == Seq{8, 9, 10});
  CHECK(ReadSequences(*store, "run-a", 1, UINT64_MAX, 1, false) == Seq{1});
  CHECK(ReadSequences(*store, "run-a", 10, 10, 1000, false) == Seq{10});
  CHECK(ReadSequences(*store, "run-a", 0, 2, 1000, false) == Seq{1, 2});  // 0 reads as 1
  CHECK(ReadSequences(*store, "run-a", 0, 2, 1000, true) == Seq{2, 1});
  CHECK(ReadSequences(*store, "run-b", 1, UINT64_MAX, 1000, false) == Seq{1, 2, 3});
}

TEST_CASE_METHOD(StoreFixture, "Read.EmptyRangesGiveAnEmptyResult", "[read]") {
  // Goal: a range that holds no event is an empty vector, not an error,
  // forward and reverse. Method: from past the head, from > to.
  REQUIRE(AppendEvents(*store, "run-a", Messages(5)).ok());
  for (bool reverse : {false, true}) {
    INFO("reverse " << reverse);
    CHECK(ReadSequences(*store, "run-a", 6, UINT64_MAX, 1000, reverse).empty());
    CHECK(ReadSequences(*store, "run-a", 4, 3, 1000, reverse).empty());
    CHECK(ReadSequences(*store, "run-a", 100, 200, 1000, reverse).empty());
  }
}

TEST_CASE_METHOD(StoreFixture, "Read.UnknownRunIsNotFound", "[read]") {
  // Goal: reading a run that does not exist is NotFound naming it, for
  // ReadRun, GetRun and ReadEvent, also when a run with a longer id that
  // starts with it exists. Method: runs "run-10" exists, "run-1" does not.
  REQUIRE(AppendEvents(*store, "run-10", Messages(2)).ok());
  auto run = store->ReadRun("run-1", ReadOptions());
  CHECK(run.status().IsNotFound());
  CHECK_THAT(run.status().message(), Contains("run-1"));
  CHECK(store->GetRun("run-1").status().IsNotFound());
  CHECK(store->ReadEvent("run-1", 1).status().IsNotFound());
}

TEST_CASE_METHOD(StoreFixtureAt<4'242>, "Read.EventCarriesItsEnvelope", "[read]") {
  // Goal: ReadEvent returns the payload byte-identical and every envelope
  // field as appended or assigned: type, schema version, turn, step,
  // causation, actor, idempotency key, payload hash (SHA-256 of the
  // payload), chain hash, time and positions. Method: two events with every
  // field set; the second's chain hash also heads the run.
  REQUIRE(AppendEvents(*store, "other", Messages(1)).ok());
  EventInput started = Input(TurnStartedPayload("deploy it"), "step-1");
  started.turn_id = "turn-1";
  started.actor_kind = ActorKind::kUser;
  started.actor_id = "alice";
  EventInput tool = Input(ToolStartedPayload("shell", "{\"cmd\":\"ls\"}"), "step-2");
  tool.turn_id = "turn-1";
  tool.causation = 1;
  tool.actor_kind = ActorKind::kTool;
  tool.actor_id = "shell-runner";
  AppendOptions options = WithDurability(Durability::kSync);
  options.idempotency_key = "turn-1/start";
  REQUIRE(AppendEvents(*store, "run-a", {started, tool}, options).ok());

  auto first = store->ReadEvent("run-a", 1);
  auto second = store->ReadEvent("run-a", 2);
  REQUIRE(first.ok());
  REQUIRE(second.ok());
  CHECK(first->payload() == started.payload);
  CHECK(first->type() == fb::Body_TurnStarted);
  CHECK(first->type_name() == "TurnStarted");
  CHECK(first->schema_version() == kEventSchemaVersion);
  CHECK(first->turn_id() == "turn-1");
  CHECK(first->step_id() == "step-1");
  CHECK(first->causation() == 0);
  CHECK(first->actor_kind() == ActorKind::kUser);
  CHECK(first->actor_id() == "alice");
  CHECK(first->idempotency_key() == "turn-1/start");
  CHECK(first->timestamp_us() == 4'242);
  CHECK(first->sequence() == 1);
  CHECK(first->global_position() == 2);
  const internal::Hash payload_hash = internal::Sha256(started.payload);
  CHECK(first->payload_hash() == internal::HashView(payload_hash));
  CHECK(first->chain_hash().size() == 32);
  CHECK_FALSE(first->payload_removed());
  REQUIRE(first->body() != nullptr);
  CHECK(first->body()->body_as_TurnStarted()->message_text()->str() == "deploy it");

  CHECK(second->payload() == tool.payload);
  CHECK(second->type_name() == "ToolStarted");
  CHECK(second->causation() == 1);
  CHECK(second->actor_kind() == ActorKind::kTool);
  CHECK(second->step_id() == "step-2");
  CHECK(second->global_position() == 3);
  CHECK(second->chain_hash() != first->chain_hash());
  auto info = store->GetRun("run-a");
  REQUIRE(info.ok());
  CHECK(info->head_chain_hash == second->chain_hash());
}

TEST_CASE_METHOD(StoreFixtureAt<10'000>, "Read.GetRunReportsItsMetadata", "[read]") {
  // Goal: GetRun reports the head sequence and position, the first and last
  // event times, the status of the latest status-setting event and the
  // session. Method: two appends at different clock times, interleaved with
  // another run so that positions and sequences differ.
  AppendOptions with_session = WithDurability(Durability::kBuffered);
  with_session.session_id = "session-9";
  REQUIRE(AppendEvents(*store, "run-a", {Input(TurnStartedPayload("go"))}, with_session).ok());
  REQUIRE(AppendEvents(*store, "run-b", Messages(3)).ok());
  clock.Set(25'000);
  REQUIRE(AppendEvents(*store, "run-a",
                       {Input(StatusPayload(fb::Body_ApprovalRequested)), Message("waiting")})
              .ok());
  auto info = store->GetRun("run-a");
  REQUIRE(info.ok());
  CHECK(info->run_id == "run-a");
  CHECK(info->head_sequence == 3);
  CHECK(info->head_position == 6);
  CHECK(info->created_us == 10'000);
  CHECK(info->last_event_us == 25'000);
  CHECK(info->status == RunStatus::kAwaitingApproval);  // MessageAppended sets no status
  CHECK(info->session_id == "session-9");
  CHECK(info->parent_run_id.empty());
  CHECK(info->lease_epoch == 0);
  auto other = store->GetRun("run-b");
  REQUIRE(other.ok());
  CHECK(other->head_sequence == 3);
  CHECK(other->head_position == 4);
  CHECK(other->session_id.empty());
  CHECK(other->status == RunStatus::kCreated);
}

TEST_CASE_METHOD(StoreFixture, "Read.ListRunsFiltersByStatus", "[read][list]") {
  // Goal: ListRuns with a status returns exactly the runs whose latest
  // status-setting event maps to it (engine/run_status.cc), in run-id order;
  // without a filter, every run. Method: one run per status, plus a run of
  // messages only (created).
  AppendStatusEvent(*store, "r-created", fb::Body_TurnStarted);
  AppendStatusEvent(*store, "r-planned", fb::Body_TurnStarted);
  AppendStatusEvent(*store, "r-planned", fb::Body_TurnPlanned);
  AppendStatusEvent(*store, "r-awaiting", fb::Body_TurnStarted);
  AppendStatusEvent(*store, "r-awaiting", fb::Body_ApprovalRequested);
  AppendStatusEvent(*store, "r-running", fb::Body_ToolStarted);
  AppendStatusEvent(*store, "r-paused", fb::Body_RunPaused);
  AppendStatusEvent(*store, "r-completed", fb::Body_TurnStarted);
  AppendStatusEvent(*store, "r-completed", fb::Body_TurnCompleted);
  AppendStatusEvent(*store, "r-failed", fb::Body_TurnFailed);
  REQUIRE(AppendEvents(*store, "r-messages", Messages(2)).ok());

  using Ids = std::vector<std::string>;
  CHECK(ListIds(*store, StatusFilter(RunStatus::kCreated)) == Ids{"r-created", "r-messages"});
  CHECK(ListIds(*store, StatusFilter(RunStatus::kPlanned)) == Ids{"r-planned"});
  CHECK(ListIds(*store, StatusFilter(RunStatus::kAwaitingApproval)) == Ids{"r-awaiting"});
  CHECK(ListIds(*store, StatusFilter(RunStatus::kRunning)) == Ids{"r-running"});
  CHECK(ListIds(*store, StatusFilter(RunStatus::kPaused)) == Ids{"r-paused"});
  CHECK(ListIds(*store, StatusFilter(RunStatus::kCompleted)) == Ids{"r-completed"});
  CHECK(ListIds(*store, StatusFilter(RunStatus::kFailed)) == Ids{"r-failed"});
  CHECK(ListIds(*store, RunFilter()) == Ids{"r-awaiting", "r-completed", "r-created", "r-failed",
                                            "r-messages", "r-paused", "r-planned", "r-running"});
  auto all = store->ListRuns(RunFilter());
  REQUIRE(all.ok());
  for (const RunInfo& run : *all) {
    auto direct = store->GetRun(run.run_id);
    REQUIRE(direct.ok());
    CHECK(direct->status == run.status);
    CHECK(direct->head_sequence == run.head_sequence);
  }
}

TEST_CASE_METHOD(StoreFixture, "Read.ListRunsFiltersBySessionAndBoth", "[read][list]") {
  // Goal: a session filter returns only that session's runs; combined with
  // a status, only those also in that status; an unknown session gives none.
  // Method: four runs over two sessions and none, in two statuses; session
  // ids that are prefixes of each other.
  AppendStatusEvent(*store, "run-a", fb::Body_TurnStarted, "s1");
  AppendStatusEvent(*store, "run-b", fb::Body_TurnStarted, "s10");
  AppendStatusEvent(*store, "run-c", fb::Body_TurnStarted, "s1");
  AppendStatusEvent(*store, "run-c", fb::Body_TurnCompleted);
  AppendStatusEvent(*store, "run-d", fb::Body_TurnCompleted);

  using Ids = std::vector<std::string>;
  RunFilter s1;
  s1.session_id = "s1";
  CHECK(ListIds(*store, s1) == Ids{"run-a", "run-c"});
  RunFilter s10;
  s10.session_id = "s10";
  CHECK(ListIds(*store, s10) == Ids{"run-b"});
  RunFilter none;
  none.session_id = "s2";
  CHECK(ListIds(*store, none).empty());

  RunFilter s1_completed = s1;
  s1_completed.status = RunStatus::kCompleted;
  CHECK(ListIds(*store, s1_completed) == Ids{"run-c"});
  RunFilter s1_created = s1;
  s1_created.status = RunStatus::kCreated;
  CHECK(ListIds(*store, s1_created) == Ids{"run-a"});
  RunFilter s10_completed = s10;
  s10_completed.status = RunStatus::kCompleted;
  CHECK(ListIds(*store, s10_completed).empty());
  CHECK(ListIds(*store, StatusFilter(RunStatus::kCompleted)) == Ids{"run-c", "run-d"});
}

TEST_CASE_METHOD(StoreFixture, "Read.ListRunsPaginatesWithAfterRunId", "[read][list]") {
  // Goal: pages of `limit` runs chained by after_run_id (exclusive) cover
  // every run once, in order, with or without filters, including ids that
  // are prefixes of other ids. Method: 11 runs ("run-1".."run-11" sort as
  // strings); pages of 3 unfiltered, by status and by session.
  std::vector<std::string> all_ids;
  std::vector<std::string> completed_ids;
  for (int i = 1; i <= 11; ++i) {
    const std::string id = "run-" + std::to_string(i);
    all_ids.push_back(id);
    AppendStatusEvent(*store, id, fb::Body_TurnStarted, "sess");
    if (i % 2 == 0) {
      AppendStatusEvent(*store, id, fb::Body_TurnCompleted);
      completed_ids.push_back(id);
    }
  }
  std::sort(all_ids.begin(), all_ids.end());
  std::sort(completed_ids.begin(), completed_ids.end());

  auto paginate = [&](RunFilter filter) {
    std::vector<std::string> collected;
    filter.limit = 3;
    for (int page = 0; page < 20; ++page) {
      auto ids = ListIds(*store, filter);
      CHECK(ids.size() <= 3);
      if (ids.empty()) break;
      collected.insert(collected.end(), ids.begin(), ids.end());
      filter.after_run_id = ids.back();
    }
    return collected;
  };
  CHECK(paginate(RunFilter()) == all_ids);
  CHECK(paginate(StatusFilter(RunStatus::kCompleted)) == completed_ids);
  RunFilter by_session;
  by_session.session_id = "sess";
  CHECK(paginate(by_session) == all_ids);
  RunFilter both = by_session;
  both.status = RunStatus::kCompleted;
  CHECK(paginate(both) == completed_ids);

  // after_run_id need not be a stored id: "run-1" < "run-10" < "run-1a".
  RunFilter after;
  after.after_run_id = "run-1";
  after.limit = 2;
  CHECK(ListIds(*store, after) == std::vector<std::string>{"run-10", "run-11"});
  after.after_run_id = "run-1a";
  CHECK(ListIds(*store, after) == std::vector<std::string>{"run-2", "run-3"});
  after.after_run_id = "zzz";
  CHECK(ListIds(*store, after).empty());
}

TEST_CASE_METHOD(StoreFixture, "Read.StatusChangeMovesTheRunBetweenFilters", "[read][list]") {
  // Goal: when a run's status changes it leaves the old status's listing and
  // appears only under the new one, also after a reopen. Method: walk one run
  // through created, awaiting approval, running, completed; at each step
  // check every status filter.
  AppendStatusEvent(*store, "bystander", fb::Body_TurnStarted);
  auto only_in = [&](RunStatus expected) {
    for (int s = 0; s <= static_cast<int>(RunStatus::kFailed); ++s) {
      const auto status = static_cast<RunStatus>(s);
      auto ids = ListIds(*store, StatusFilter(status));
      const bool listed = std::find(ids.begin(), ids.end(), "run-a") != ids.end();
      INFO("status " << RunStatusName(status) << " expected " << RunStatusName(expected));
      CHECK(listed == (status == expected));
    }
    auto info = store->GetRun("run-a");
    REQUIRE(info.ok());
    CHECK(info->status == expected);
  };
  AppendStatusEvent(*store, "run-a", fb::Body_TurnStarted);
  only_in(RunStatus::kCreated);
  AppendStatusEvent(*store, "run-a", fb::Body_ApprovalRequested);
  only_in(RunStatus::kAwaitingApproval);
  REQUIRE(AppendEvents(*store, "run-a", Messages(1)).ok());  // no status change
  only_in(RunStatus::kAwaitingApproval);
  AppendStatusEvent(*store, "run-a", fb::Body_ApprovalGranted);
  only_in(RunStatus::kRunning);
  // Two changes in one append: only the last one counts.
  const std::vector<EventInput> pause_then_complete = {
      Input(StatusPayload(fb::Body_RunPaused)), Input(StatusPayload(fb::Body_TurnCompleted))};
  REQUIRE(AppendEvents(*store, "run-a", pause_then_complete).ok());
  only_in(RunStatus::kCompleted);
  REQUIRE(Close().ok());
  Open();
  only_in(RunStatus::kCompleted);
  CHECK(ListIds(*store, StatusFilter(RunStatus::kCreated)) ==
        std::vector<std::string>{"bystander"});
}

TEST_CASE_METHOD(StoreFixture, "Read.GlobalReadsFromACursorWithALimit", "[read][global]") {
  // Goal: ReadGlobal returns the events after a position, ascending and
  // consecutive, at most `limit`; past the end it is empty; paging by the
  // last position covers everything once. Method: 12 events over 3 runs.
  for (int i = 0; i < 4; ++i) {
    for (const std::string run : {"run-a", "run-b", "run-c"}) {
      REQUIRE(AppendEvents(*store, run, Messages(1, run + std::to_string(i))).ok());
    }
  }
  auto all = store->ReadGlobal(0, 1000);
  REQUIRE(all.ok());
  REQUIRE(all->size() == 12);
  for (size_t i = 0; i < all->size(); ++i) {
    CHECK((*all)[i].global_position() == i + 1);
    CHECK((*all)[i].run_id() == "run-" + std::string(1, "abc"[i % 3]));
    CHECK((*all)[i].sequence() == i / 3 + 1);
  }
  auto window = store->ReadGlobal(5, 3);
  REQUIRE(window.ok());
  REQUIRE(window->size() == 3);
  CHECK((*window)[0].global_position() == 6);
  CHECK((*window)[2].global_position() == 8);
  CHECK(MessageText((*window)[0]) == MessageText((*all)[5]));
  auto tail = store->ReadGlobal(11, 10);
  REQUIRE(tail.ok());
  REQUIRE(tail->size() == 1);
  CHECK(tail->front().global_position() == 12);
  for (uint64_t past : {uint64_t{12}, uint64_t{100}, UINT64_MAX}) {
    auto empty = store->ReadGlobal(past, 10);
    REQUIRE(empty.ok());
    CHECK(empty->empty());
  }
  std::vector<uint64_t> paged;
  uint64_t cursor = 0;
  for (int page = 0; page < 10; ++page) {
    auto events = store->ReadGlobal(cursor, 5);
    REQUIRE(events.ok());
    if (events->empty()) break;
    CHECK(events->size() <= 5);
    for (const Event& event : *events) paged.push_back(event.global_position());
    cursor = events->back().global_position();
  }
  CHECK(paged == Seq{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12});
}

TEST_CASE_METHOD(StoreFixture, "Read.LastPositionTracksCommitsAndReopen", "[read][global]") {
  // Goal: LastPosition is 0 on a new store, the last committed position
  // after appends, unchanged by refused appends, and restored on reopen.
  // Method: appends, a refused append, close, reopen.
  CHECK(store->LastPosition() == 0);
  REQUIRE(AppendEvents(*store, "run-a", Messages(3)).ok());
  CHECK(store->LastPosition() == 3);
  REQUIRE(AppendEvents(*store, "run-b", Messages(2)).ok());
  CHECK(store->LastPosition() == 5);
  AppendOptions stale = WithDurability(Durability::kBuffered);
  stale.expected_head = 0;
  CHECK(AppendEvents(*store, "run-a", Messages(1), stale).status().IsConflict());
  CHECK(store->LastPosition() == 5);
  REQUIRE(Close().ok());
  Open();
  CHECK(store->LastPosition() == 5);
  auto next = AppendEvents(*store, "run-c", Messages(1));
  REQUIRE(next.ok());
  CHECK(next->first_position == 6);
}

TEST_CASE_METHOD(StoreFixture, "Read.WaitForPositionReturnsOnANewCommit", "[read][wait]") {
  // Goal: WaitForPosition blocks until a commit moves past the position and
  // then returns the new last position, long before its timeout; if the
  // position is already passed it returns at once. Method: a waiter thread
  // with a 20 s timeout; the main thread appends after a short pause.
  REQUIRE(AppendEvents(*store, "run-a", Messages(2)).ok());

  const auto start = std::chrono::steady_clock::now();
  CHECK(store->WaitForPosition(1, 20'000) == 2);  // already past
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(5));

  std::atomic<uint64_t> returned{0};
  std::atomic<bool> waiting{false};
  std::chrono::steady_clock::duration waited{};
  std::thread waiter([&] {
    waiting.store(true);
    const auto begin = std::chrono::steady_clock::now();
    returned.store(store->WaitForPosition(2, 20'000));
    waited = std::chrono::steady_clock::now() - begin;
  });
  REQUIRE(WaitUntil([&] { return waiting.load(); }, 5'000));
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  CHECK(returned.load() == 0);  // still waiting: nothing new committed
  REQUIRE(AppendEvents(*store, "run-b", Messages(3)).ok());
  waiter.join();
  CHECK(returned.load() == 5);
  CHECK(waited < std::chrono::seconds(10));
}

TEST_CASE_METHOD(StoreFixture, "Read.WaitForPositionTimesOut", "[read][wait]") {
  // Goal: with no new commit, WaitForPosition returns the unchanged last
  // position after about its timeout (and at once for timeout 0). Method:
  // timeouts of 60 ms and 0 on a store at position 1.
  AppendMessage(*store, "run-a", "x");
  auto start = std::chrono::steady_clock::now();
  CHECK(store->WaitForPosition(1, 60) == 1);
  auto elapsed = std::chrono::steady_clock::now() - start;
  CHECK(elapsed >= std::chrono::milliseconds(50));
  CHECK(elapsed < std::chrono::seconds(5));
  start = std::chrono::steady_clock::now();
  CHECK(store->WaitForPosition(1, 0) == 1);
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(1));
}

TEST_CASE_METHOD(StoreFixture, "Read.WaitForPositionReturnsWhenTheStoreCloses", "[read][wait]") {
  // Goal: a waiter is released by Close rather than sleeping out its
  // timeout. Method: a waiter with a 20 s timeout; Close from the main thread.
  AppendMessage(*store, "run-a", "x");
  std::atomic<bool> waiting{false};
  std::atomic<bool> returned{false};
  uint64_t position = 0;
  std::thread waiter([&] {
    waiting.store(true);
    position = store->WaitForPosition(1, 20'000);
    returned.store(true);
  });
  REQUIRE(WaitUntil([&] { return waiting.load(); }, 5'000));
  std::this_thread::sleep_for(std::chrono::milliseconds(10));
  const auto start = std::chrono::steady_clock::now();
  REQUIRE(store->Close().ok());
  const bool released = WaitUntil([&] { return returned.load(); }, 10'000);
  waiter.join();
  CHECK(released);
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(10));
  CHECK(position == 1);
}
