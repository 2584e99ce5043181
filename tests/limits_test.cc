// tests/limits_test.cc: the limits of README.md "## Limits" at their exact
// boundaries, where validation_test.cc, fork_test.cc, subscription_test.cc
// and the others do not already test them, and a check that every row of
// that table names tests that exist.
//
// Goal: at the limit the call is accepted; one past it the call is refused
// with the documented code and a message naming the limit, and nothing is
// written (every key and value of every space, and LastPosition, are
// unchanged). Method: the in-memory store; where a limit is an Option, the
// limit is set to the size of the input at hand, so the boundary is exact
// whatever the FlatBuffers encoding adds.
#include <catch2/catch.hpp>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <iterator>
#include <regex>
#include <sstream>
#include <string_view>
#include <string>
#include <thread>
#include <vector>

#include "base/crypto.h"
#include "engine/store_impl.h"
#include "testing/fault_backend.h"
#include "testing/test_util.h"

#ifndef AGENTLOG_SOURCE_DIR
#error "tests/CMakeLists.txt defines AGENTLOG_SOURCE_DIR (the project source directory)"
#endif

using namespace agentlog;
using namespace agentlog::testing;
using Catch::Matchers::Contains;

namespace {

constexpr int64_t kStartUs = 1'700'000'000'000'000;

// Every key and a checksum of every value, in every space: what "nothing
// written" compares.
std::string EverythingStored(Store& store) {
  std::string out = "last position " + std::to_string(store.LastPosition()) + "\n";
  for (size_t space = 0; space < internal::kSpaceCount; ++space) {
    auto cursor = BackendOf(store).NewCursor(static_cast<internal::Space>(space));
    for (cursor->Seek(""); cursor->Valid(); cursor->Next()) {
      out += std::to_string(space) + " " + internal::HexEncode(cursor->key()) + " " +
             std::to_string(internal::Checksum64(cursor->value())) + "\n";
    }
    REQUIRE(cursor->status().ok());
  }
  return out;
}

// Runs `call`, which must be refused with `code` and a message containing
// `needle`, and must leave the store exactly as it was.
void ExpectRefusedWritingNothing(Store& store, Code code, const std::string& needle,
                                 const std::function<Status()>& call) {
  const std::string before = EverythingStored(store);
  const Status status = call();
  INFO(status.ToString());
  CHECK(status.code() == code);
  CHECK_THAT(status.message(), Contains(needle));
  CHECK(EverythingStored(store) == before);
}

Status AppendStatus(Store& store, std::string_view run_id, const std::vector<EventInput>& events,
                    const AppendOptions& options = WithDurability(Durability::kBuffered)) {
  return store.Append(run_id, events, options).status();
}

std::string DeadlineSetPayload(const std::string& scope_step_id) {
  flatbuffers::FlatBufferBuilder builder;
  auto body = fb::CreateDeadlineSetDirect(builder, kStartUs + 60'000'000, scope_step_id.c_str());
  builder.Finish(fb::CreateEvent(builder, fb::Body_DeadlineSet, body.Union()));
  return std::string(reinterpret_cast<const char*>(builder.GetBufferPointer()), builder.GetSize());
}

std::string ReadSourceFile(const std::string& relative) {
  std::ifstream in(std::string(AGENTLOG_SOURCE_DIR) + "/" + relative, std::ios::binary);
  INFO("reading " << relative);
  REQUIRE(in.good());
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

}  // namespace

TEST_CASE("Limits.EventPayloadOfExactlyMaxEventBytesIsAccepted", "[limits]") {
  // Goal: a payload of max_event_bytes is accepted; with the limit one byte
  // lower the same payload is LimitExceeded and writes nothing.
  ManualClock clock(kStartUs);
  const EventInput event = Message(std::string(700, 'p'));
  Options options;
  options.max_event_bytes = event.payload.size();
  auto at_limit = OpenMemoryStore(&clock, options);
  CHECK(AppendStatus(*at_limit, "run-a", {event}).ok());

  options.max_event_bytes = event.payload.size() - 1;
  auto below = OpenMemoryStore(&clock, options);
  AppendMessage(*below, "run-a", "small");
  ExpectRefusedWritingNothing(*below, Code::kLimitExceeded, "Options::max_event_bytes is " +
                                                                std::to_string(options.max_event_bytes),
                              [&] { return AppendStatus(*below, "run-a", {event}); });
}

TEST_CASE("Limits.AppendOfExactlyMaxAppendBytesIsAccepted", "[limits]") {
  // Goal: an append whose payloads add up to max_append_bytes is accepted;
  // with the limit one byte lower it is LimitExceeded and writes nothing.
  ManualClock clock(kStartUs);
  const std::vector<EventInput> events = Messages(3, std::string(300, 'q'));
  size_t total = 0;
  for (const EventInput& event : events) total += event.payload.size();
  Options options;
  options.max_append_bytes = total;
  auto at_limit = OpenMemoryStore(&clock, options);
  CHECK(AppendStatus(*at_limit, "run-a", events).ok());

  options.max_append_bytes = total - 1;
  auto below = OpenMemoryStore(&clock, options);
  AppendMessage(*below, "run-a", "small");
  ExpectRefusedWritingNothing(*below, Code::kLimitExceeded, "Options::max_append_bytes",
                              [&] { return AppendStatus(*below, "run-a", events); });
}

TEST_CASE("Limits.SessionIdOfExactlyMaxIdBytesIsAccepted", "[limits]") {
  // Goal: a session id of kMaxIdBytes is accepted and recorded; one byte
  // more is LimitExceeded naming the session id, and writes nothing.
  ManualClock clock(kStartUs);
  auto store = OpenMemoryStore(&clock);
  AppendOptions options = WithDurability(Durability::kBuffered);
  options.session_id = std::string(kMaxIdBytes + 1, 's');
  ExpectRefusedWritingNothing(*store, Code::kLimitExceeded, "session id",
                              [&] { return AppendStatus(*store, "run-a", Messages(1), options); });
  options.session_id = std::string(kMaxIdBytes, 's');
  REQUIRE(AppendStatus(*store, "run-a", Messages(1), options).ok());
  auto info = store->GetRun("run-a");
  REQUIRE(info.ok());
  CHECK(info->session_id == options.session_id);
}

TEST_CASE("Limits.DeadlineScopeStepIdOfExactlyMaxIdBytesIsAccepted", "[limits]") {
  // Goal: a DeadlineSet's scope step id is an id: kMaxIdBytes is accepted
  // and indexed; one byte more is LimitExceeded, and neither the event nor a
  // deadline entry is written.
  ManualClock clock(kStartUs);
  auto store = OpenMemoryStore(&clock);
  AppendMessage(*store, "run-a", "first");
  ExpectRefusedWritingNothing(*store, Code::kLimitExceeded, "DeadlineSet scope step id", [&] {
    return AppendStatus(*store, "run-a", {Input(DeadlineSetPayload(std::string(kMaxIdBytes + 1, 'd')))});
  });
  REQUIRE(AppendStatus(*store, "run-a", {Input(DeadlineSetPayload(std::string(kMaxIdBytes, 'd')))}).ok());
  auto due = store->ListDeadlines(INT64_MAX, 10);
  REQUIRE(due.ok());
  REQUIRE(due->size() == 1);
  CHECK(due->front().step_id == std::string(kMaxIdBytes, 'd'));
}

TEST_CASE("Limits.EveryListingTakesOneToMaxReadLimitEntries", "[limits]") {
  // Goal: ReadRun, ReadGlobal, ListRuns, ListDeadlines and ReadSnapshots
  // accept a limit of 1 and of kMaxReadLimit, and refuse 0 and
  // kMaxReadLimit + 1 with InvalidArgument (reads: nothing to write).
  ManualClock clock(kStartUs);
  auto store = OpenMemoryStore(&clock);
  AppendMessage(*store, "run-a", "one");
  AppendMessage(*store, "run-a", "two");
  REQUIRE(store->PutSnapshot("run-a", "tally", 1, 2, "state", Durability::kBuffered).ok());
  const std::vector<std::pair<const char*, std::function<Status(size_t)>>> listings = {
      {"ReadRun",
       [&](size_t limit) {
         ReadOptions read;
         read.limit = limit;
         return store->ReadRun("run-a", read).status();
       }},
      {"ReadGlobal", [&](size_t limit) { return store->ReadGlobal(0, limit).status(); }},
      {"ListRuns",
       [&](size_t limit) {
         RunFilter filter;
         filter.limit = limit;
         return store->ListRuns(filter).status();
       }},
      {"ListDeadlines", [&](size_t limit) { return store->ListDeadlines(INT64_MAX, limit).status(); }},
      {"ReadSnapshots",
       [&](size_t limit) { return store->ReadSnapshots("run-a", "tally", UINT64_MAX, limit).status(); }},
  };
  for (const auto& [name, list] : listings) {
    INFO(name);
    CHECK(list(1).ok());
    CHECK(list(kMaxReadLimit).ok());
    CHECK(list(0).IsInvalidArgument());
    CHECK(list(kMaxReadLimit + 1).IsInvalidArgument());
  }
}

TEST_CASE("Limits.ZeroMaxSubscriptionsRefusesEverySubscription", "[limits]") {
  // Goal: Options::max_subscriptions = 0 disables subscriptions: Subscribe
  // is Busy naming the option (the limit of 1 and 2 is tested at its edge
  // by Subscription.MoreThanTheMaximumIsBusy).
  ManualClock clock(kStartUs);
  Options options;
  options.max_subscriptions = 0;
  auto store = OpenMemoryStore(&clock, options);
  auto subscription = store->Subscribe(0, [](const Event&) { return Status::OK(); });
  REQUIRE_FALSE(subscription.ok());
  CHECK(subscription.status().IsBusy());
  CHECK_THAT(subscription.status().message(), Contains("max_subscriptions"));
}

TEST_CASE("Limits.ProjectionNameIsARunIdOfAtMost128Bytes", "[limits]") {
  // Goal: projection names follow the run-id rules: 128 bytes of
  // [A-Za-z0-9._:-] are accepted by PutSnapshot and ReadSnapshots; 129
  // bytes are LimitExceeded, an empty name or another byte InvalidArgument,
  // each naming the projection name and writing nothing.
  ManualClock clock(kStartUs);
  auto store = OpenMemoryStore(&clock);
  AppendMessage(*store, "run-a", "one");
  auto put = [&](const std::string& projection) {
    return store->PutSnapshot("run-a", projection, 1, 1, "state", Durability::kBuffered);
  };
  ExpectRefusedWritingNothing(*store, Code::kLimitExceeded, "projection name",
                              [&] { return put(std::string(kMaxRunIdBytes + 1, 'p')); });
  ExpectRefusedWritingNothing(*store, Code::kInvalidArgument, "projection name is empty",
                              [&] { return put(""); });
  ExpectRefusedWritingNothing(*store, Code::kInvalidArgument, "projection name",
                              [&] { return put("tally/v2"); });
  const std::string longest(kMaxRunIdBytes, 'p');
  REQUIRE(put(longest).ok());
  auto read = store->ReadSnapshots("run-a", longest, UINT64_MAX, 10);
  REQUIRE(read.ok());
  CHECK(read->size() == 1);
  CHECK(store->ReadSnapshots("run-a", longest + "p", UINT64_MAX, 10).status().IsLimitExceeded());
}

TEST_CASE("Limits.SnapshotOfExactlyMaxSnapshotBytesIsAccepted", "[limits]") {
  // Goal: a snapshot state of kMaxSnapshotBytes (256 MiB) is stored and
  // read back whole; one byte more is LimitExceeded and writes nothing.
  // Method: the in-memory store; the two states share one buffer.
  ManualClock clock(kStartUs);
  auto store = OpenMemoryStore(&clock);
  AppendMessage(*store, "run-a", "one");
  std::string state(kMaxSnapshotBytes + 1, 's');
  ExpectRefusedWritingNothing(*store, Code::kLimitExceeded, std::to_string(kMaxSnapshotBytes), [&] {
    return store->PutSnapshot("run-a", "tally", 1, 1, state, Durability::kBuffered);
  });
  state.pop_back();
  REQUIRE(store->PutSnapshot("run-a", "tally", 1, 1, state, Durability::kBuffered).ok());
  auto read = store->ReadSnapshots("run-a", "tally", UINT64_MAX, 1);
  REQUIRE(read.ok());
  REQUIRE(read->size() == 1);
  CHECK(read->front().status.ok());
  CHECK(read->front().state.size() == kMaxSnapshotBytes);
}

TEST_CASE("Limits.FullCommitQueueMakesAppendWaitNotFail", "[limits]") {
  // Goal: Options::max_queued_appends bounds the appends waiting for the
  // committer; one more Append waits for room (no error) and commits after.
  // Method: the committer's write blocks (FaultBackend); append A (being
  // written), then B and C. With a queue of 2 both wait in it and commit
  // as one group; with a queue of 1, C waits outside until B is taken, so
  // B and C are separate groups. No append fails or returns early.
  for (size_t max_queued : {size_t{2}, size_t{1}}) {
    INFO("max_queued_appends " << max_queued);
    ManualClock clock(kStartUs);
    auto backend = std::make_unique<FaultBackend>(internal::NewMemoryBackend());
    FaultBackend* faults = backend.get();
    faults->BlockWrite(1);  // write 0 is the format marker Open writes
    Options options;
    options.clock = &clock;
    options.max_queued_appends = max_queued;
    auto opened = internal::OpenStoreOnBackend(options, std::move(backend));
    REQUIRE(opened.ok());
    Store& store = **opened;
    auto append = [&](const std::string& run_id) {
      return std::async(std::launch::async, [&store, run_id] { return AppendStatus(store, run_id, Messages(1)); });
    };
    auto a = append("run-a");
    faults->WaitUntilBlocked();
    auto b = append("run-b");
    std::this_thread::sleep_for(std::chrono::milliseconds(100));  // B queues before C arrives
    auto c = append("run-c");
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    for (auto* pending : {&a, &b, &c}) {
      CHECK(pending->wait_for(std::chrono::milliseconds(0)) == std::future_status::timeout);
    }
    CHECK(store.LastPosition() == 0);
    faults->ReleaseWrite();
    for (auto* pending : {&a, &b, &c}) CHECK(pending->get().ok());
    CHECK(store.LastPosition() == 3);
    CHECK(store.stats().appends == 3);
    CHECK(store.stats().writes == (max_queued == 2 ? 2u : 3u));
  }
}

TEST_CASE("Limits.RunsAreBoundedOnlyByStorage", "[limits]") {
  // Goal: the number of runs has no limit of its own: more runs than the
  // committer's run cache holds (kMaxCachedRuns) are created, numbered and
  // read back, and the cache's evictions lose no head. (Open reads no
  // per-run state; bench/README.md measures it at 1M runs.)
  // Method: kMaxCachedRuns + 1 runs of one event each from 4 threads, then
  // a second event on the first runs, whose heads were evicted.
  ManualClock clock(kStartUs);
  auto store = OpenMemoryStore(&clock);
  constexpr size_t kRuns = internal::kMaxCachedRuns + 1;
  constexpr size_t kThreads = 4;
  std::vector<std::thread> threads;
  std::atomic<size_t> failed{0};
  for (size_t t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const std::vector<EventInput> one = Messages(1);
      for (size_t i = t; i < kRuns; i += kThreads) {
        if (!AppendStatus(*store, "run-" + std::to_string(i), one).ok()) failed.fetch_add(1);
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  CHECK(failed.load() == 0);
  CHECK(store->LastPosition() == kRuns);
  for (size_t i = 0; i < 10; ++i) {
    auto result = store->Append("run-" + std::to_string(i), Messages(1), WithDurability(Durability::kBuffered));
    REQUIRE(result.ok());
    CHECK(result->first_sequence == 2);
  }
  RunFilter page;
  page.limit = kMaxReadLimit;
  size_t listed = 0;
  for (;;) {
    auto runs = store->ListRuns(page);
    REQUIRE(runs.ok());
    if (runs->empty()) break;
    listed += runs->size();
    page.after_run_id = runs->back().run_id;
  }
  CHECK(listed == kRuns);
}

TEST_CASE("Limits.EveryReadmeRowNamesAnExistingTest", "[limits]") {
  // Goal: the README's limits table and the tests cannot drift apart: every
  // row's last column names at least one test, in backticks, and each named
  // test is a TEST_CASE (or a TEST_CASE_METHOD) of tests/*.cc. Method: read README.md's "## Limits"
  // section and every tests/*.cc from the source tree.
  const std::string readme = ReadSourceFile("README.md");
  const size_t begin = readme.find("\n## Limits\n");
  REQUIRE(begin != std::string::npos);
  const size_t end = readme.find("\n## ", begin + 1);
  const std::string section = readme.substr(begin, end - begin);

  std::string sources;
  for (const auto& entry : std::filesystem::directory_iterator(std::string(AGENTLOG_SOURCE_DIR) + "/tests")) {
    if (entry.path().extension() == ".cc") sources += ReadSourceFile("tests/" + entry.path().filename().string());
  }
  // Whether a line of the sources begins TEST_CASE("name" or
  // TEST_CASE_METHOD(Fixture, "name".
  const auto declared = [&](const std::string& name) {
    const std::string quoted = "\"" + name + "\"";
    for (size_t at = sources.find(quoted); at != std::string::npos; at = sources.find(quoted, at + 1)) {
      const size_t line = sources.rfind('\n', at) + 1;  // 0 on the first line
      const std::string_view before(sources.data() + line, at - line);
      if (before == "TEST_CASE(" || (before.starts_with("TEST_CASE_METHOD(") && before.ends_with(", "))) {
        return true;
      }
    }
    return false;
  };

  std::istringstream lines(section);
  size_t rows = 0;
  bool header_seen = false;
  const std::regex name_pattern("`([A-Za-z]+\\.[A-Za-z0-9]+)`");
  for (std::string line; std::getline(lines, line);) {
    if (!line.starts_with("|")) continue;
    if (!header_seen) {
      CHECK_THAT(line, Contains("| tests |"));
      header_seen = true;
      continue;
    }
    if (line.starts_with("| ---")) continue;
    ++rows;
    const size_t last_cell = line.rfind('|', line.size() - 2);
    REQUIRE(last_cell != std::string::npos);
    const std::string cell = line.substr(last_cell);
    INFO("row: " << line);
    size_t named = 0;
    for (std::sregex_iterator it(cell.begin(), cell.end(), name_pattern), done; it != done; ++it) {
      const std::string name = (*it)[1];
      INFO("test " << name);
      CHECK(declared(name));
      ++named;
    }
    CHECK(named >= 1);
  }
  CHECK(rows >= 14);
}
