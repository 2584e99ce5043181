// tests/concurrency_test.cc: appends from many threads at once (group
// commit), optimistic concurrency under contention, and readers running
// while writers commit. Worker threads only record what they saw; every
// Catch assertion runs on the test's own thread after they are joined.
#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "testing/test_util.h"

using namespace agentlog;
using namespace agentlog::testing;

namespace {

constexpr int kThreads = 16;

// What one thread's append sent and got back.
struct AppendRecord {
  std::string run_id;
  std::vector<std::string> texts;
  Status status;
  AppendResult result;
};

// Spins until every one of `count` threads has arrived, so that they start
// appending together.
void ArriveAndWait(std::atomic<int>& arrived, int count) {
  arrived.fetch_add(1);
  while (arrived.load() < count) std::this_thread::yield();
}

// Runs `appends_per_thread` appends on each of kThreads threads; thread t's
// j-th append goes to run_of(t, j) and carries 1 to 3 events.
std::vector<AppendRecord> AppendFromManyThreads(
    Store& store, int appends_per_thread, Durability durability,
    const std::function<std::string(int, int)>& run_of) {
  std::vector<std::vector<AppendRecord>> per_thread(kThreads);
  std::atomic<int> arrived{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      ArriveAndWait(arrived, kThreads);
      for (int j = 0; j < appends_per_thread; ++j) {
        AppendRecord record;
        record.run_id = run_of(t, j);
        std::vector<EventInput> events;
        const int count = 1 + (t + j) % 3;
        for (int k = 0; k < count; ++k) {
          record.texts.push_back("t" + std::to_string(t) + "-a" + std::to_string(j) + "-e" +
                                 std::to_string(k));
          events.push_back(Message(record.texts.back()));
        }
        auto result = store.Append(record.run_id, events, WithDurability(durability));
        record.status = result.status();
        if (result.ok()) record.result = *result;
        per_thread[t].push_back(std::move(record));
      }
    });
  }
  for (auto& thread : threads) thread.join();
  std::vector<AppendRecord> all;
  for (auto& records : per_thread) {
    for (auto& record : records) all.push_back(std::move(record));
  }
  return all;
}

// Checks that the store holds exactly what `records` say was appended:
// every append succeeded with consecutive sequences and positions; each run
// is gapless from 1 and holds each append's texts at its sequences; global
// positions are 1..total, each once; VerifyAll passes.
void CheckEverythingStoredOnce(Store& store, const std::vector<AppendRecord>& records) {
  std::map<std::string, std::map<uint64_t, std::string>> expected;  // run -> sequence -> text
  std::vector<std::pair<uint64_t, uint64_t>> position_ranges;
  uint64_t total = 0;
  for (const AppendRecord& record : records) {
    INFO(record.run_id << ": " << record.status.ToString());
    REQUIRE(record.status.ok());
    const uint64_t count = record.texts.size();
    CHECK_FALSE(record.result.replayed);
    CHECK(record.result.last_sequence - record.result.first_sequence + 1 == count);
    CHECK(record.result.last_position - record.result.first_position + 1 == count);
    for (uint64_t i = 0; i < count; ++i) {
      auto [it, inserted] =
          expected[record.run_id].emplace(record.result.first_sequence + i, record.texts[i]);
      CHECK(inserted);  // no two appends got the same sequence
    }
    position_ranges.emplace_back(record.result.first_position, record.result.last_position);
    total += count;
  }
  std::sort(position_ranges.begin(), position_ranges.end());
  uint64_t next_position = 1;
  for (const auto& [first, last] : position_ranges) {
    CHECK(first == next_position);  // ranges tile 1..total: no gap, no overlap
    next_position = last + 1;
  }
  CHECK(next_position == total + 1);
  CHECK(store.LastPosition() == total);

  uint64_t stored = 0;
  for (const auto& [run_id, by_sequence] : expected) {
    INFO("run " << run_id);
    auto events = ReadWholeRun(store, run_id);
    REQUIRE(events.size() == by_sequence.size());
    for (size_t i = 0; i < events.size(); ++i) {
      CHECK(events[i].sequence() == i + 1);
      CHECK(MessageText(events[i]) == by_sequence.at(i + 1));
    }
    auto info = store.GetRun(run_id);
    REQUIRE(info.ok());
    CHECK(info->head_sequence == events.size());
    CHECK(info->head_position == events.back().global_position());
    stored += events.size();
  }
  CHECK(stored == total);

  auto global = ReadAllGlobal(store);
  REQUIRE(global.size() == total);
  std::set<std::pair<std::string, uint64_t>> seen;
  for (size_t i = 0; i < global.size(); ++i) {
    CHECK(global[i].global_position() == i + 1);
    CHECK(seen.emplace(std::string(global[i].run_id()), global[i].sequence()).second);
  }
  VerifyStats stats;
  Status verified = store.VerifyAll(&stats);
  INFO(verified.ToString());
  CHECK(verified.ok());
  CHECK(stats.events == total);
  CHECK(stats.runs == expected.size());
}

}  // namespace

TEST_CASE_METHOD(StoreFixture, "Concurrency.ManyThreadsOnOneRunStayGapless", "[concurrency]") {
  // Goal: 16 threads appending to one run at once get disjoint, gapless
  // sequences and positions; the run holds each append's events at the
  // sequences it was told; VerifyAll passes. Both durability modes (sync
  // appends share group commits). Method: 16 threads x N appends of 1-3
  // events, then CheckEverythingStoredOnce.
  const Durability durability = GENERATE(Durability::kBuffered, Durability::kSync);
  const int appends_per_thread = durability == Durability::kSync ? 6 : 20;
  INFO("durability " << static_cast<int>(durability));
  auto records = AppendFromManyThreads(*store, appends_per_thread, durability,
                                       [](int, int) { return std::string("shared-run"); });
  CheckEverythingStoredOnce(*store, records);
}

TEST_CASE_METHOD(StoreFixture, "Concurrency.ManyThreadsOnManyRunsStayGapless", "[concurrency]") {
  // Goal: 16 threads appending over 8 runs keep every run gapless and the
  // global positions 1..total without gap or duplicate, in both durability
  // modes, and all of it survives a reopen. Method: thread t's j-th append
  // goes to run (t + j) % 8; check, reopen, check again.
  const Durability durability = GENERATE(Durability::kBuffered, Durability::kSync);
  const int appends_per_thread = durability == Durability::kSync ? 6 : 20;
  INFO("durability " << static_cast<int>(durability));
  auto records = AppendFromManyThreads(*store, appends_per_thread, durability, [](int t, int j) {
    return "run-" + std::to_string((t + j) % 8);
  });
  CheckEverythingStoredOnce(*store, records);
  REQUIRE(Close().ok());
  Open();
  CheckEverythingStoredOnce(*store, records);
}

TEST_CASE_METHOD(StoreFixture, "Concurrency.ExpectedHeadRaceHasOneWinner", "[concurrency][occ]") {
  // Goal: when 16 threads all try to create the same run with
  // expected_head 0 at once, exactly one succeeds and the 15 others get
  // Conflict; only the winner's event is stored. Method: a spin barrier,
  // then one expected_head 0 append per thread.
  std::vector<Status> statuses(kThreads);
  std::atomic<int> arrived{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      AppendOptions options = WithDurability(Durability::kBuffered);
      options.expected_head = 0;
      EventInput event = Message("writer-" + std::to_string(t));
      ArriveAndWait(arrived, kThreads);
      statuses[t] = store->Append("race", std::span(&event, 1), options).status();
    });
  }
  for (auto& thread : threads) thread.join();
  int winner = -1;
  int conflicts = 0;
  for (int t = 0; t < kThreads; ++t) {
    INFO("thread " << t << ": " << statuses[t].ToString());
    if (statuses[t].ok()) {
      CHECK(winner == -1);
      winner = t;
    } else {
      CHECK(statuses[t].IsConflict());
      ++conflicts;
    }
  }
  REQUIRE(winner >= 0);
  CHECK(conflicts == kThreads - 1);
  auto events = ReadWholeRun(*store, "race");
  REQUIRE(events.size() == 1);
  CHECK(MessageText(events[0]) == "writer-" + std::to_string(winner));
  CHECK(store->LastPosition() == 1);
}

TEST_CASE_METHOD(StoreFixture, "Concurrency.ExpectedHeadStoresExactlyTheWinners",
                 "[concurrency][occ]") {
  // Goal: under contention, optimistic appends store exactly the events of
  // those told they won, each right after the head it expected, and every
  // loser got Conflict (no other error, nothing of theirs stored). Method:
  // 16 threads x 8 rounds of read-head-then-append-expecting-it on one run.
  constexpr int kRounds = 8;
  struct Attempt {
    std::string text;
    uint64_t expected_head = 0;
    Status status;
    AppendResult result;
  };
  std::vector<std::vector<Attempt>> attempts(kThreads);
  std::atomic<int> arrived{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      ArriveAndWait(arrived, kThreads);
      for (int round = 0; round < kRounds; ++round) {
        Attempt attempt;
        attempt.text = "t" + std::to_string(t) + "-r" + std::to_string(round);
        auto info = store->GetRun("contended");
        attempt.expected_head = info.ok() ? info->head_sequence : 0;
        if (!info.ok() && !info.status().IsNotFound()) {
          attempt.status = info.status();
        } else {
          AppendOptions options = WithDurability(Durability::kBuffered);
          options.expected_head = attempt.expected_head;
          EventInput event = Message(attempt.text);
          auto result = store->Append("contended", std::span(&event, 1), options);
          attempt.status = result.status();
          if (result.ok()) attempt.result = *result;
        }
        attempts[t].push_back(std::move(attempt));
      }
    });
  }
  for (auto& thread : threads) thread.join();

  std::map<uint64_t, std::string> winners;  // sequence -> text
  std::set<std::string> losers;
  for (const auto& per_thread : attempts) {
    for (const Attempt& attempt : per_thread) {
      INFO(attempt.text << ": " << attempt.status.ToString());
      if (attempt.status.ok()) {
        CHECK(attempt.result.first_sequence == attempt.expected_head + 1);
        CHECK(winners.emplace(attempt.result.first_sequence, attempt.text).second);
      } else {
        CHECK(attempt.status.IsConflict());
        losers.insert(attempt.text);
      }
    }
  }
  CHECK(winners.size() + losers.size() == kThreads * kRounds);
  auto events = ReadWholeRun(*store, "contended");
  REQUIRE(events.size() == winners.size());
  for (const Event& event : events) {
    CHECK(MessageText(event) == winners.at(event.sequence()));
    CHECK(losers.count(MessageText(event)) == 0);
  }
  CHECK(store->LastPosition() == winners.size());
  CHECK(store->VerifyAll().ok());
}

TEST_CASE_METHOD(StoreFixture, "Concurrency.ReadersNeverSeeAGap", "[concurrency][read]") {
  // Goal: readers running while writers commit only ever see gapless
  // prefixes: ReadGlobal from 0 is positions 1..k with k >= the LastPosition
  // read before it; a run read after GetRun holds at least that head, as
  // 1..k forward and k..1 in reverse. Method: 4 writer threads over 4 runs
  // and 3 reader threads looping until the writers finish; readers record
  // violations as text.
  constexpr int kWriters = 4;
  constexpr int kReaders = 3;
  constexpr int kAppendsPerWriter = 60;
  std::atomic<bool> writers_done{false};
  std::mutex violations_mu;
  std::vector<std::string> violations;
  std::atomic<int> reads{0};
  auto report = [&](const std::string& what) {
    std::lock_guard<std::mutex> lock(violations_mu);
    if (violations.size() < 20) violations.push_back(what);
  };

  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&, w] {
      for (int j = 0; j < kAppendsPerWriter; ++j) {
        auto events = Messages(1 + j % 2, "w" + std::to_string(w) + "-" + std::to_string(j));
        auto result = store->Append("run-" + std::to_string(w), events,
                                    WithDurability(Durability::kBuffered));
        if (!result.ok()) report("append: " + result.status().ToString());
      }
    });
  }
  auto read_global = [&] {
    const uint64_t before = store->LastPosition();
    uint64_t cursor = 0;
    for (;;) {
      auto page = store->ReadGlobal(cursor, 64);
      if (!page.ok()) return report("ReadGlobal: " + page.status().ToString());
      if (page->empty()) break;
      for (const Event& event : *page) {
        if (event.global_position() != cursor + 1) {
          return report("ReadGlobal jumped from " + std::to_string(cursor) + " to " +
                        std::to_string(event.global_position()));
        }
        cursor = event.global_position();
      }
    }
    if (cursor < before) {
      report("ReadGlobal saw " + std::to_string(cursor) + " < LastPosition " +
             std::to_string(before));
    }
  };
  auto read_run = [&](const std::string& run_id, bool reverse) {
    auto info = store->GetRun(run_id);
    if (info.status().IsNotFound()) return;
    if (!info.ok()) return report("GetRun: " + info.status().ToString());
    ReadOptions options;
    options.reverse = reverse;
    auto events = store->ReadRun(run_id, options);
    if (!events.ok()) return report("ReadRun: " + events.status().ToString());
    const uint64_t count = events->size();
    if (count < info->head_sequence) {
      report(run_id + " read " + std::to_string(count) + " events after GetRun said head " +
             std::to_string(info->head_sequence));
    }
    for (uint64_t i = 0; i < count; ++i) {
      const uint64_t expected = reverse ? count - i : i + 1;
      if ((*events)[i].sequence() != expected) {
        return report(run_id + (reverse ? " reverse" : " forward") + " read has sequence " +
                      std::to_string((*events)[i].sequence()) + " where " +
                      std::to_string(expected) + " belongs");
      }
    }
  };
  std::vector<std::thread> readers;
  for (int r = 0; r < kReaders; ++r) {
    readers.emplace_back([&, r] {
      int iteration = 0;
      do {
        if (r == 0) {
          read_global();
        } else {
          read_run("run-" + std::to_string(iteration % kWriters), r == 2);
        }
        reads.fetch_add(1);
        ++iteration;
      } while (!writers_done.load());
    });
  }
  for (auto& writer : writers) writer.join();
  writers_done.store(true);
  for (auto& reader : readers) reader.join();

  CHECK(violations.empty());
  for (const std::string& violation : violations) FAIL_CHECK(violation);
  CHECK(reads.load() >= kReaders);
  const uint64_t total = kWriters * (kAppendsPerWriter / 2) * 3;  // 1 + 2 events per two appends
  CHECK(store->LastPosition() == total);
  CHECK(ReadAllGlobal(*store).size() == total);
  CHECK(store->VerifyAll().ok());
}

TEST_CASE_METHOD(StoreFixture, "Concurrency.CloseWhileReadingAndAppending",
                 "[concurrency][close]") {
  // Goal: Close may run while other threads read and append: each call
  // either completes normally or returns Closed, none crashes or reads a
  // closed database, and what was acknowledged is there after reopening.
  // Method: 4 readers and 4 appenders loop until they see Closed; the test
  // closes the store under them; then reopen and verify every acked event.
  AppendMessage(*store, "run-0", "seed");
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> reads_ok{0}, reads_closed{0}, reads_other{0};
  std::vector<std::vector<std::pair<std::string, uint64_t>>> acked(4);
  std::vector<Status> append_errors(4);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      while (!stop.load()) {
        auto events = store->ReadGlobal(0, 50);
        auto run = store->ReadRun("run-0", ReadOptions());
        for (const Status* status : {&events.status(), &run.status()}) {
          if (status->ok()) ++reads_ok;
          else if (status->IsClosed()) ++reads_closed;
          else ++reads_other;
        }
        if (!events.ok() && events.status().IsClosed()) return;
      }
    });
    threads.emplace_back([&, t] {
      const std::string run_id = "run-" + std::to_string(t + 1);
      while (!stop.load()) {
        EventInput input = Message("x");
        auto result = store->Append(run_id, std::span(&input, 1), WithDurability(Durability::kBuffered));
        if (!result.ok()) {
          append_errors[t] = result.status();
          return;
        }
        acked[t].emplace_back(run_id, result->last_sequence);
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  REQUIRE(store->Close().ok());
  stop = true;
  for (auto& thread : threads) thread.join();
  CHECK(reads_other.load() == 0);
  CHECK(reads_ok.load() > 0);
  for (const Status& error : append_errors) CHECK((error.ok() || error.IsClosed()));
  Reopen();
  CHECK(store->VerifyAll().ok());
  for (const auto& list : acked) {
    for (const auto& [run_id, sequence] : list) {
      auto event = store->ReadEvent(run_id, sequence);
      INFO(run_id << " event " << sequence);
      CHECK(event.ok());
    }
  }
}
