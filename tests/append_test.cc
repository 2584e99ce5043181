// tests/append_test.cc: the append contract of include/agentlog/store.h:
// gapless sequences, consecutive global positions, all-or-nothing appends,
// optimistic concurrency, fencing, idempotency, timestamps, sessions and
// both durability modes.
#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <map>
#include <random>
#include <thread>
#include <vector>

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

Result<AppendResult> AppendOne(Store& store, std::string_view run_id, EventInput event,
                               AppendOptions options = WithDurability(Durability::kBuffered)) {
  return AppendEvents(store, run_id, std::vector<EventInput>{std::move(event)}, options);
}

AppendOptions Expecting(uint64_t head) {
  AppendOptions options = WithDurability(Durability::kBuffered);
  options.expected_head = head;
  return options;
}

AppendOptions WithLease(uint64_t epoch) {
  AppendOptions options = WithDurability(Durability::kBuffered);
  options.lease_epoch = epoch;
  return options;
}

AppendOptions WithKey(const std::string& key) {
  AppendOptions options = WithDurability(Durability::kBuffered);
  options.idempotency_key = key;
  return options;
}

AppendOptions WithSession(const std::string& session) {
  AppendOptions options = WithDurability(Durability::kBuffered);
  options.session_id = session;
  return options;
}

// What an append that was refused must leave behind: the same last
// position, nothing new in the global log, and the run's head unchanged
// (or the run still absent when head_sequence is 0).
void CheckNothingWritten(Store& store, const std::string& run_id, uint64_t last_position,
                         uint64_t head_sequence) {
  CHECK(store.LastPosition() == last_position);
  auto after = store.ReadGlobal(last_position, 10);
  REQUIRE(after.ok());
  CHECK(after->empty());
  auto run = store.GetRun(run_id);
  if (head_sequence == 0) {
    CHECK(run.status().IsNotFound());
  } else {
    REQUIRE(run.ok());
    CHECK(run->head_sequence == head_sequence);
    CHECK(ReadWholeRun(store, run_id).size() == head_sequence);
  }
}

}  // namespace

TEST_CASE_METHOD(StoreFixture, "Append.SequencesStartAtOneWithoutGaps", "[append]") {
  // Goal: a run's events are numbered 1, 2, 3, ... across appends of
  // different sizes, and read back in that order with their own payloads.
  // Method: appends of 1, 3 and 2 events to one run; compare results and
  // ReadRun.
  auto first = AppendEvents(*store, "run-a", Messages(1, "first"));
  auto second = AppendEvents(*store, "run-a", Messages(3, "second"));
  auto third = AppendEvents(*store, "run-a", Messages(2, "third"));
  REQUIRE(first.ok());
  REQUIRE(second.ok());
  REQUIRE(third.ok());
  CHECK(first->first_sequence == 1);
  CHECK(first->last_sequence == 1);
  CHECK(second->first_sequence == 2);
  CHECK(second->last_sequence == 4);
  CHECK(third->first_sequence == 5);
  CHECK(third->last_sequence == 6);

  const std::vector<std::string> expected = {"first-1",  "second-1", "second-2",
                                             "second-3", "third-1",  "third-2"};
  auto events = ReadWholeRun(*store, "run-a");
  REQUIRE(events.size() == expected.size());
  for (size_t i = 0; i < events.size(); ++i) {
    CHECK(events[i].sequence() == i + 1);
    CHECK(events[i].run_id() == "run-a");
    CHECK(MessageText(events[i]) == expected[i]);
  }
}

TEST_CASE_METHOD(StoreFixture, "Append.GlobalPositionsAreConsecutiveAcrossRuns", "[append]") {
  // Goal: every committed event gets the next global position, store-wide,
  // while each run keeps its own gapless sequence. Method: interleave
  // appends of several sizes over three runs, then compare every result with
  // ReadGlobal and LastPosition.
  CHECK(store->LastPosition() == 0);
  const std::vector<std::string> runs = {"run-a", "run-b", "run-c"};
  std::map<std::string, uint64_t> heads;
  uint64_t next_position = 1;
  for (int round = 0; round < 4; ++round) {
    for (size_t r = 0; r < runs.size(); ++r) {
      const size_t count = 1 + (round + r) % 3;
      auto result = AppendEvents(*store, runs[r], Messages(count, runs[r]));
      REQUIRE(result.ok());
      CHECK(result->first_position == next_position);
      CHECK(result->last_position == next_position + count - 1);
      CHECK(result->first_sequence == heads[runs[r]] + 1);
      CHECK(result->last_sequence == heads[runs[r]] + count);
      next_position += count;
      heads[runs[r]] += count;
    }
  }
  const uint64_t total = next_position - 1;
  CHECK(store->LastPosition() == total);

  auto global = ReadAllGlobal(*store);
  REQUIRE(global.size() == total);
  std::map<std::string, uint64_t> seen;
  for (size_t i = 0; i < global.size(); ++i) {
    CHECK(global[i].global_position() == i + 1);
    const std::string run(global[i].run_id());
    CHECK(global[i].sequence() == ++seen[run]);  // each run ascends by one in global order
  }
  CHECK(seen == heads);
  for (const auto& run : runs) {
    auto info = store->GetRun(run);
    REQUIRE(info.ok());
    CHECK(info->head_sequence == heads[run]);
  }
}

TEST_CASE_METHOD(StoreFixture, "Append.InvalidEventWritesNothingOfTheAppend", "[append]") {
  // Goal: an append whose third of five events is invalid is refused as a
  // whole: the head does not move, no global position is used up, and the
  // next append continues exactly where the run was. Method: one good
  // append, one refused (garbage payload), one good; for both an existing
  // and a new run.
  REQUIRE(AppendEvents(*store, "run-a", Messages(2, "ok")).ok());
  const uint64_t last = store->LastPosition();
  REQUIRE(last == 2);

  auto events = Messages(5, "batch");
  events[2].payload = "this is not a flatbuffer";
  auto refused = AppendEvents(*store, "run-a", events);
  CHECK(refused.status().IsInvalidArgument());
  CHECK_THAT(refused.status().message(), Contains("event 3 of 5"));
  CheckNothingWritten(*store, "run-a", last, 2);

  auto refused_new = AppendEvents(*store, "run-new", events);
  CHECK(refused_new.status().IsInvalidArgument());
  CheckNothingWritten(*store, "run-new", last, 0);

  auto next = AppendEvents(*store, "run-a", Messages(1, "after"));
  REQUIRE(next.ok());
  CHECK(next->first_sequence == 3);
  CHECK(next->first_position == last + 1);
}

TEST_CASE_METHOD(StoreFixture, "Append.EventRefusedByTheCommitterWritesNothingOfTheAppend",
                 "[append]") {
  // Goal: all-or-nothing also holds when the refusal comes after the
  // earlier events of the append were already checked against the run (a
  // lease event out of order is only detectable at commit). Method: five
  // events whose third is a LeaseAcquired that skips an epoch; then a good
  // append proves no sequence or position was consumed.
  REQUIRE(AppendEvents(*store, "run-a", Messages(2, "ok")).ok());
  const uint64_t last = store->LastPosition();

  auto events = Messages(5, "batch");
  events[2] = Input(LeaseAcquiredPayload("worker-1", 2));  // the run's next epoch is 1
  auto refused = AppendEvents(*store, "run-a", events);
  CHECK(refused.status().IsInvalidArgument());
  CHECK_THAT(refused.status().message(), Contains("skips epochs"));
  CheckNothingWritten(*store, "run-a", last, 2);
  auto info = store->GetRun("run-a");
  REQUIRE(info.ok());
  CHECK(info->lease_epoch == 0);

  auto next = AppendEvents(*store, "run-a", Messages(3, "after"));
  REQUIRE(next.ok());
  CHECK(next->first_sequence == 3);
  CHECK(next->last_sequence == 5);
  CHECK(next->first_position == last + 1);
  CHECK(store->VerifyAll().ok());
}

TEST_CASE_METHOD(StoreFixture, "Append.ExpectedHeadMatchCommits", "[append]") {
  // Goal: an append naming the head it saw commits when that is the head;
  // expected_head 0 means "the run must not exist yet". Method: create a
  // run with expected_head 0, then extend it with the head each result gave.
  auto created = AppendEvents(*store, "run-a", Messages(2, "a"), Expecting(0));
  REQUIRE(created.ok());
  CHECK(created->last_sequence == 2);
  auto extended =
      AppendEvents(*store, "run-a", Messages(1, "b"), Expecting(created->last_sequence));
  REQUIRE(extended.ok());
  CHECK(extended->first_sequence == 3);
  auto again = AppendEvents(*store, "run-a", Messages(1, "c"), Expecting(3));
  REQUIRE(again.ok());
  CHECK(again->first_sequence == 4);
}

TEST_CASE_METHOD(StoreFixture, "Append.ConflictWritesNothing", "[append]") {
  // Goal: an expected head that differs from the run's head is refused with
  // Conflict, a message naming both heads, and nothing written; expected
  // head 0 on an existing run is a conflict too. Method: a run of 2 events,
  // then appends expecting 0, 1 and 5.
  REQUIRE(AppendEvents(*store, "run-a", Messages(2, "a")).ok());
  const uint64_t last = store->LastPosition();

  for (uint64_t stale : {uint64_t{0}, uint64_t{1}, uint64_t{5}}) {
    auto refused = AppendEvents(*store, "run-a", Messages(3, "late"), Expecting(stale));
    INFO("expected_head " << stale);
    CHECK(refused.status().IsConflict());
    CHECK_THAT(refused.status().message(), Contains("expected head " + std::to_string(stale)));
    CHECK_THAT(refused.status().message(), Contains("found 2"));
    CheckNothingWritten(*store, "run-a", last, 2);
  }
  // A run that does not exist has head 0: expecting anything else conflicts.
  auto missing = AppendEvents(*store, "run-b", Messages(1, "b"), Expecting(1));
  CHECK(missing.status().IsConflict());
  CheckNothingWritten(*store, "run-b", last, 0);
}

TEST_CASE_METHOD(StoreFixture, "Append.StaleLeaseEpochIsFenced", "[append][lease]") {
  // Goal: fencing. After a newer worker takes the lease (epoch 2), appends
  // presenting epoch 1 are refused with Fenced and write nothing, while the
  // current epoch still appends. Method: LeaseAcquired{worker-1, 1}, append
  // with lease 1, LeaseAcquired{worker-2, 2}, append with lease 1 and 2.
  REQUIRE(AppendOne(*store, "run-a", Input(LeaseAcquiredPayload("worker-1", 1))).ok());
  auto info = store->GetRun("run-a");
  REQUIRE(info.ok());
  CHECK(info->lease_epoch == 1);
  CHECK(info->lease_holder == "worker-1");

  auto held = AppendEvents(*store, "run-a", Messages(2, "w1"), WithLease(1));
  REQUIRE(held.ok());
  CHECK(held->first_sequence == 2);

  auto taken_over =
      AppendOne(*store, "run-a", Input(LeaseAcquiredPayload("worker-2", 2)), WithLease(1));
  REQUIRE(taken_over.ok());
  info = store->GetRun("run-a");
  REQUIRE(info.ok());
  CHECK(info->lease_epoch == 2);
  CHECK(info->lease_holder == "worker-2");
  const uint64_t last = store->LastPosition();

  auto stale = AppendEvents(*store, "run-a", Messages(2, "w1-late"), WithLease(1));
  CHECK(stale.status().IsFenced());
  CHECK_THAT(stale.status().message(), Contains("lease epoch 1"));
  CHECK_THAT(stale.status().message(), Contains("current epoch 2"));
  CheckNothingWritten(*store, "run-a", last, 4);

  auto current = AppendEvents(*store, "run-a", Messages(1, "w2"), WithLease(2));
  REQUIRE(current.ok());
  CHECK(current->first_sequence == 5);
}

TEST_CASE_METHOD(StoreFixture, "Append.LeaseEpochOnRunWithoutLeaseIsFenced", "[append][lease]") {
  // Goal: presenting an epoch the run never granted is as stale as an old
  // one. Method: lease_epoch 1 on a new run and on a run without a lease.
  auto on_new = AppendEvents(*store, "run-new", Messages(1, "x"), WithLease(1));
  CHECK(on_new.status().IsFenced());
  CheckNothingWritten(*store, "run-new", 0, 0);
  REQUIRE(AppendEvents(*store, "run-a", Messages(1, "x")).ok());
  auto on_unleased = AppendEvents(*store, "run-a", Messages(1, "y"), WithLease(1));
  CHECK(on_unleased.status().IsFenced());
  CheckNothingWritten(*store, "run-a", 1, 1);
}

TEST_CASE_METHOD(StoreFixture, "Append.LeaseAcquiredWithOldEpochIsFenced", "[append][lease]") {
  // Goal: a worker cannot take a lease epoch that was already granted:
  // LeaseAcquired with the current or an older epoch is Fenced and writes
  // nothing. Method: epochs 1 and 2 taken, then LeaseAcquired 2 and 1.
  REQUIRE(AppendOne(*store, "run-a", Input(LeaseAcquiredPayload("worker-1", 1))).ok());
  REQUIRE(AppendOne(*store, "run-a", Input(LeaseAcquiredPayload("worker-2", 2))).ok());
  const uint64_t last = store->LastPosition();
  for (uint64_t epoch : {uint64_t{2}, uint64_t{1}}) {
    INFO("epoch " << epoch);
    auto refused = AppendOne(*store, "run-a", Input(LeaseAcquiredPayload("worker-3", epoch)));
    CHECK(refused.status().IsFenced());
    CHECK_THAT(refused.status().message(), Contains("lease epoch " + std::to_string(epoch)));
    CheckNothingWritten(*store, "run-a", last, 2);
  }
  auto info = store->GetRun("run-a");
  REQUIRE(info.ok());
  CHECK(info->lease_epoch == 2);
  CHECK(info->lease_holder == "worker-2");
}

TEST_CASE_METHOD(StoreFixture, "Append.LeaseAcquiredSkippingAnEpochIsInvalid", "[append][lease]") {
  // Goal: the next lease epoch is exactly current + 1; skipping one is
  // InvalidArgument naming the expected epoch, and nothing is written.
  // Method: LeaseAcquired epoch 2 on a new run, then epoch 3 after epoch 1.
  auto skip_new = AppendOne(*store, "run-a", Input(LeaseAcquiredPayload("worker-1", 2)));
  CHECK(skip_new.status().IsInvalidArgument());
  CHECK_THAT(skip_new.status().message(), Contains("skips epochs"));
  CHECK_THAT(skip_new.status().message(), Contains("the next is 1"));
  CheckNothingWritten(*store, "run-a", 0, 0);

  REQUIRE(AppendOne(*store, "run-a", Input(LeaseAcquiredPayload("worker-1", 1))).ok());
  auto skip = AppendOne(*store, "run-a", Input(LeaseAcquiredPayload("worker-2", 3)));
  CHECK(skip.status().IsInvalidArgument());
  CHECK_THAT(skip.status().message(), Contains("the next is 2"));
  CheckNothingWritten(*store, "run-a", 1, 1);
}

TEST_CASE_METHOD(StoreFixture, "Append.LeaseReleasedByAnotherHolderIsFenced", "[append][lease]") {
  // Goal: only the holder of the current epoch can release the lease; a
  // release by another holder or for another epoch is Fenced and writes
  // nothing; the holder's own release clears the holder. Method: worker-1
  // holds epoch 1; releases by worker-2/epoch 1 and worker-1/epoch 2 are
  // refused; worker-1/epoch 1 succeeds.
  REQUIRE(AppendOne(*store, "run-a", Input(LeaseAcquiredPayload("worker-1", 1))).ok());

  auto wrong_holder = AppendOne(*store, "run-a", Input(LeaseReleasedPayload("worker-2", 1)));
  CHECK(wrong_holder.status().IsFenced());
  CHECK_THAT(wrong_holder.status().message(), Contains("worker-2"));
  CHECK_THAT(wrong_holder.status().message(), Contains("held by \"worker-1\""));
  CheckNothingWritten(*store, "run-a", 1, 1);

  auto wrong_epoch = AppendOne(*store, "run-a", Input(LeaseReleasedPayload("worker-1", 2)));
  CHECK(wrong_epoch.status().IsFenced());
  CheckNothingWritten(*store, "run-a", 1, 1);

  REQUIRE(AppendOne(*store, "run-a", Input(LeaseReleasedPayload("worker-1", 1))).ok());
  auto info = store->GetRun("run-a");
  REQUIRE(info.ok());
  CHECK(info->lease_holder.empty());
  CHECK(info->lease_epoch == 1);
  // After a release the next epoch is still current + 1.
  REQUIRE(AppendOne(*store, "run-a", Input(LeaseAcquiredPayload("worker-2", 2))).ok());
}

TEST_CASE_METHOD(StoreFixture, "Append.IdempotentRepeatIsReplayedAndWritesNothing",
                 "[append][idempotency]") {
  // Goal: repeating an append with the same key and the same events returns
  // the first append's numbers with replayed = true and writes nothing, also
  // after a reopen; the key is recorded in each event's envelope. Method:
  // append two events under a key, add an unrelated event, repeat the keyed
  // append before and after reopening.
  AppendResult first;
  uint64_t last = 0;
  {
    auto result = AppendEvents(*store, "run-a", Messages(2, "keyed"), WithKey("step-7"));
    REQUIRE(result.ok());
    first = *result;
    CHECK_FALSE(first.replayed);
    REQUIRE(AppendEvents(*store, "run-a", Messages(1, "other")).ok());
    last = store->LastPosition();

    auto repeat = AppendEvents(*store, "run-a", Messages(2, "keyed"), WithKey("step-7"));
    REQUIRE(repeat.ok());
    CHECK(repeat->replayed);
    CHECK(repeat->first_sequence == first.first_sequence);
    CHECK(repeat->last_sequence == first.last_sequence);
    CHECK(repeat->first_position == first.first_position);
    CHECK(repeat->last_position == first.last_position);
    CheckNothingWritten(*store, "run-a", last, 3);

    auto events = ReadWholeRun(*store, "run-a");
    REQUIRE(events.size() == 3);
    CHECK(events[0].idempotency_key() == "step-7");
    CHECK(events[1].idempotency_key() == "step-7");
    CHECK(events[2].idempotency_key().empty());
    REQUIRE(Close().ok());
  }
  Open();
  auto repeat = AppendEvents(*store, "run-a", Messages(2, "keyed"), WithKey("step-7"));
  REQUIRE(repeat.ok());
  CHECK(repeat->replayed);
  CHECK(repeat->first_sequence == first.first_sequence);
  CHECK(repeat->last_position == first.last_position);
  CheckNothingWritten(*store, "run-a", last, 3);
}

TEST_CASE_METHOD(StoreFixture, "Append.IdempotencyKeyWithOtherEventsConflicts",
                 "[append][idempotency]") {
  // Goal: a key reused for different events (payload, or an envelope field
  // such as step id) is a Conflict that writes nothing. Method: record a key,
  // repeat it with another text, with one event fewer, and with another
  // step id.
  REQUIRE(AppendEvents(*store, "run-a", Messages(2, "keyed"), WithKey("k")).ok());

  auto other_text = AppendEvents(*store, "run-a", Messages(2, "changed"), WithKey("k"));
  CHECK(other_text.status().IsConflict());
  CHECK_THAT(other_text.status().message(), Contains("other events"));
  CheckNothingWritten(*store, "run-a", 2, 2);

  auto fewer = AppendEvents(*store, "run-a", Messages(1, "keyed"), WithKey("k"));
  CHECK(fewer.status().IsConflict());
  CheckNothingWritten(*store, "run-a", 2, 2);

  auto other_step = Messages(2, "keyed");
  other_step[1].step_id = "step-9";
  auto changed_envelope = AppendEvents(*store, "run-a", other_step, WithKey("k"));
  CHECK(changed_envelope.status().IsConflict());
  CheckNothingWritten(*store, "run-a", 2, 2);
}

TEST_CASE_METHOD(StoreFixture, "Append.IdempotencyKeyOnAnotherRunConflicts",
                 "[append][idempotency]") {
  // Goal: keys are store-wide: the same key and events on another run is a
  // Conflict naming both runs, and the other run is not created. Method:
  // record a key on run-a, repeat it on run-b.
  REQUIRE(AppendEvents(*store, "run-a", Messages(1, "keyed"), WithKey("k")).ok());
  auto refused = AppendEvents(*store, "run-b", Messages(1, "keyed"), WithKey("k"));
  CHECK(refused.status().IsConflict());
  CHECK_THAT(refused.status().message(), Contains("run-a"));
  CHECK_THAT(refused.status().message(), Contains("run-b"));
  CheckNothingWritten(*store, "run-b", 1, 0);
}

TEST_CASE_METHOD(StoreFixture, "Append.IdempotencyKeysInAConcurrentBurstWriteOnce",
                 "[append][idempotency]") {
  // Goal: when many threads send the same keyed appends at once (so that
  // repeats land in the same group commit as the first), each key is written
  // exactly once and every caller gets the same numbers. Method: 8 threads
  // each send the same 24 keyed appends; then count non-replayed results
  // per key and the events stored.
  constexpr int kThreads = 8;
  constexpr int kKeys = 24;
  struct Outcome {
    int key = 0;
    Status status;
    AppendResult result;
  };
  std::vector<std::vector<Outcome>> outcomes(kThreads);
  std::atomic<int> ready{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::vector<int> keys(kKeys);
      for (int k = 0; k < kKeys; ++k) keys[k] = k;
      // Half the threads go in the same order (so repeats of a key arrive
      // together), half in an order of their own.
      std::mt19937 random(t);
      if (t % 2 == 1) std::shuffle(keys.begin(), keys.end(), random);
      ready.fetch_add(1);
      while (ready.load() < kThreads) std::this_thread::yield();
      for (int k : keys) {
        // Keys 0..11 on run-a, 12..23 on run-b; two events per append.
        const std::string run = k < kKeys / 2 ? "run-a" : "run-b";
        // kSync: each commit waits for an fsync, so repeats queue up behind
        // it and share the next group.
        AppendOptions options = WithKey("key-" + std::to_string(k));
        options.durability = Durability::kSync;
        auto result = AppendEvents(*store, run, Messages(2, "event-" + std::to_string(k)), options);
        Outcome outcome;
        outcome.key = k;
        outcome.status = result.status();
        if (result.ok()) outcome.result = *result;
        outcomes[t].push_back(std::move(outcome));
      }
    });
  }
  for (auto& thread : threads) thread.join();

  std::map<int, int> written;
  std::map<int, AppendResult> first_result;
  for (const auto& per_thread : outcomes) {
    for (const Outcome& outcome : per_thread) {
      INFO("key " << outcome.key << ": " << outcome.status.ToString());
      REQUIRE(outcome.status.ok());
      if (!outcome.result.replayed) ++written[outcome.key];
      auto [it, inserted] = first_result.emplace(outcome.key, outcome.result);
      if (!inserted) {
        CHECK(it->second.first_sequence == outcome.result.first_sequence);
        CHECK(it->second.first_position == outcome.result.first_position);
        CHECK(it->second.last_position == outcome.result.last_position);
      }
    }
  }
  REQUIRE(first_result.size() == kKeys);
  for (int k = 0; k < kKeys; ++k) {
    INFO("key " << k);
    CHECK(written[k] == 1);
  }
  CHECK(store->LastPosition() == 2 * kKeys);
  std::map<std::string, int> events_per_key;
  for (const std::string run : {"run-a", "run-b"}) {
    auto events = ReadWholeRun(*store, run);
    CHECK(events.size() == kKeys);  // 12 keys x 2 events
    for (const Event& event : events) ++events_per_key[std::string(event.idempotency_key())];
  }
  CHECK(events_per_key.size() == kKeys);
  for (const auto& [key, count] : events_per_key) {
    INFO(key);
    CHECK(count == 2);
  }
  CHECK(store->VerifyAll().ok());
}

TEST_CASE_METHOD(StoreFixtureAt<5'000'000>, "Append.TimestampsComeFromTheClockAndNeverDecrease",
                 "[append][clock]") {
  // Goal: the store stamps events with Options::clock and keeps timestamps
  // non-decreasing when the clock goes backwards, across runs and across a
  // reopen. Method: ManualClock moved forward, backward and forward again;
  // read the stamps and the run's created/last times.
  CHECK(AppendMessage(*store, "run-a", "t1").first_sequence == 1);
  clock.Set(9'000'000);
  AppendMessage(*store, "run-b", "t2");
  clock.Set(2'000'000);  // backwards
  AppendMessage(*store, "run-a", "t3");
  auto events = ReadWholeRun(*store, "run-a");
  REQUIRE(events.size() == 2);
  CHECK(events[0].timestamp_us() == 5'000'000);
  CHECK(events[1].timestamp_us() == 9'000'000);
  auto run = store->GetRun("run-a");
  REQUIRE(run.ok());
  CHECK(run->created_us == 5'000'000);
  CHECK(run->last_event_us == 9'000'000);
  REQUIRE(Close().ok());
  clock.Set(1'000'000);  // further back, and the store reopens
  Open();
  AppendMessage(*store, "run-c", "t4");
  auto fresh = store->ReadEvent("run-c", 1);
  REQUIRE(fresh.ok());
  CHECK(fresh->timestamp_us() == 9'000'000);
  auto run_c = store->GetRun("run-c");
  REQUIRE(run_c.ok());
  CHECK(run_c->created_us == 9'000'000);

  clock.Set(12'000'000);
  AppendMessage(*store, "run-c", "t5");
  auto later = store->ReadEvent("run-c", 2);
  REQUIRE(later.ok());
  CHECK(later->timestamp_us() == 12'000'000);

  auto global = ReadAllGlobal(*store);
  REQUIRE(global.size() == 5);
  for (size_t i = 1; i < global.size(); ++i) {
    CHECK(global[i].timestamp_us() >= global[i - 1].timestamp_us());
  }
}

TEST_CASE_METHOD(StoreFixture, "Append.SessionIsRecordedOnCreationAndChecked",
                 "[append][session]") {
  // Goal: the session of the append that creates a run is recorded; later
  // appends may omit it or repeat it, but another session is refused with
  // InvalidArgument naming both and writes nothing. Method: create with
  // session-1, append with none, the same and session-2; and a run created
  // without a session refuses one later.
  REQUIRE(AppendEvents(*store, "run-a", Messages(1, "a"), WithSession("session-1")).ok());
  auto info = store->GetRun("run-a");
  REQUIRE(info.ok());
  CHECK(info->session_id == "session-1");

  REQUIRE(AppendEvents(*store, "run-a", Messages(1, "b")).ok());
  REQUIRE(AppendEvents(*store, "run-a", Messages(1, "c"), WithSession("session-1")).ok());
  auto mismatch = AppendEvents(*store, "run-a", Messages(1, "d"), WithSession("session-2"));
  CHECK(mismatch.status().IsInvalidArgument());
  CHECK_THAT(mismatch.status().message(), Contains("session-1"));
  CHECK_THAT(mismatch.status().message(), Contains("session-2"));
  CheckNothingWritten(*store, "run-a", 3, 3);
  info = store->GetRun("run-a");
  REQUIRE(info.ok());
  CHECK(info->session_id == "session-1");

  REQUIRE(AppendEvents(*store, "run-b", Messages(1, "a")).ok());
  auto late_session = AppendEvents(*store, "run-b", Messages(1, "b"), WithSession("session-1"));
  CHECK(late_session.status().IsInvalidArgument());
  CheckNothingWritten(*store, "run-b", 4, 1);
}

TEST_CASE_METHOD(StoreFixture, "Append.BothDurabilityModesCommitAndSurviveReopen",
                 "[append][durability]") {
  // Goal: kSync and kBuffered appends are both acknowledged with the usual
  // numbers and are both readable after a clean close and reopen. Method:
  // alternate the modes over one run, reopen, read back and verify.
  for (int i = 1; i <= 6; ++i) {
    const Durability durability = i % 2 == 0 ? Durability::kSync : Durability::kBuffered;
    auto result = AppendEvents(*store, "run-a", Messages(2, "e" + std::to_string(i)),
                               WithDurability(durability));
    REQUIRE(result.ok());
    CHECK(result->first_sequence == static_cast<uint64_t>(2 * i - 1));
  }
  REQUIRE(Close().ok());
  Open();
  auto events = ReadWholeRun(*store, "run-a");
  REQUIRE(events.size() == 12);
  for (size_t i = 0; i < events.size(); ++i) {
    const std::string expected = "e" + std::to_string(i / 2 + 1) + "-" + std::to_string(i % 2 + 1);
    CHECK(MessageText(events[i]) == expected);
  }
  CHECK(store->LastPosition() == 12);
  CHECK(store->VerifyAll().ok());
}

TEST_CASE_METHOD(StoreFixture, "Append.ReleasedLeaseFencesItsOwnEpoch", "[append][lease]") {
  // Goal: once a holder releases its lease, its epoch no longer lets it
  // append (a late write from it is fenced), and only a new LeaseAcquired
  // with the next epoch reopens fenced appends. Method: acquire 1, release 1,
  // append with lease 1 (fenced, nothing written), acquire 2, append with 2.
  REQUIRE(AppendOne(*store, "run-a", Input(LeaseAcquiredPayload("worker-1", 1))).ok());
  REQUIRE(AppendOne(*store, "run-a", Input(LeaseReleasedPayload("worker-1", 1)), WithLease(1)).ok());
  const uint64_t last = store->LastPosition();
  auto late = AppendEvents(*store, "run-a", Messages(1, "late"), WithLease(1));
  REQUIRE_FALSE(late.ok());
  CHECK(late.status().IsFenced());
  CHECK_THAT(late.status().message(), Contains("released"));
  CheckNothingWritten(*store, "run-a", last, 2);
  auto run = store->GetRun("run-a");
  REQUIRE(run.ok());
  CHECK(run->lease_holder.empty());
  CHECK(run->lease_epoch == 1);
  REQUIRE(AppendOne(*store, "run-a", Input(LeaseAcquiredPayload("worker-2", 2))).ok());
  CHECK(AppendEvents(*store, "run-a", Messages(1, "w2"), WithLease(2)).ok());
}

TEST_CASE_METHOD(StoreFixture, "Append.ReleasingALeaseThatIsNotHeldIsRefused", "[append][lease]") {
  // Goal: LeaseReleased on a run with no lease, or a second release of the
  // same epoch, is InvalidArgument and writes nothing. Method: release on a
  // new run, then acquire, release, release again.
  AppendMessage(*store, "run-a", "start");
  auto never = AppendOne(*store, "run-a", Input(LeaseReleasedPayload("", 0)));
  CHECK(never.status().IsInvalidArgument());
  CHECK_THAT(never.status().message(), Contains("no lease is held"));
  REQUIRE(AppendOne(*store, "run-a", Input(LeaseAcquiredPayload("worker-1", 1))).ok());
  REQUIRE(AppendOne(*store, "run-a", Input(LeaseReleasedPayload("worker-1", 1))).ok());
  const uint64_t last = store->LastPosition();
  auto twice = AppendOne(*store, "run-a", Input(LeaseReleasedPayload("worker-1", 1)));
  CHECK(twice.status().IsInvalidArgument());
  CHECK_THAT(twice.status().message(), Contains("already released"));
  CheckNothingWritten(*store, "run-a", last, 3);
}

TEST_CASE_METHOD(StoreFixture, "Append.CommitStatsCountAppendsWritesAndFsyncs", "[append]") {
  // Goal: Store::stats() counts what group commit did: one backend write per
  // lone append, an fsync only for kSync ones, a replayed key as an append
  // with no write (a kSync replay still fsyncs), and nothing for a refusal.
  CHECK(store->stats().appends == 0);
  REQUIRE(AppendEvents(*store, "run-a", Messages(3, "buffered")).ok());
  CommitStats stats = store->stats();
  CHECK(stats.appends == 1);
  CHECK(stats.writes == 1);
  CHECK(stats.synced_writes == 0);
  AppendOptions sync = WithKey("k-1");
  sync.durability = Durability::kSync;
  REQUIRE(AppendEvents(*store, "run-a", Messages(1, "sync"), sync).ok());
  stats = store->stats();
  CHECK(stats.appends == 2);
  CHECK(stats.writes == 2);
  CHECK(stats.synced_writes == 1);
  auto replayed = AppendEvents(*store, "run-a", Messages(1, "sync"), sync);
  REQUIRE(replayed.ok());
  CHECK(replayed->replayed);
  stats = store->stats();
  CHECK(stats.appends == 3);
  CHECK(stats.writes == 3);
  CHECK(stats.synced_writes == 2);
  CHECK_FALSE(AppendEvents(*store, "run-a", Messages(1, "late"), Expecting(1)).ok());
  CHECK(store->stats().appends == 3);
  CHECK(store->stats().writes == 3);
}
