// tests/crash_test.cc: an acknowledged kSync append survives kill -9
// (DESIGN.md invariant 3), and what survives is a consistent store.
//
// Goal: after the process is killed at an arbitrary moment -- mid group
// commit, mid fsync, mid open and recovery -- every append it acknowledged is
// present and byte-identical, every run is gapless, VerifyAll passes, and
// every acknowledged idempotency key still answers with its first append.
// Method: fork/exec agentlog_crash_child (tests/crash_child.cc) on one store
// with a pipe for its ACK lines (tests/crash_protocol.h); let it append from
// several threads for a random 20-300 ms after it is ready (every fourth
// iteration: kill it 0-30 ms after the spawn, while it opens and recovers);
// SIGKILL it; collect every complete ACK line; reopen the store in this
// process and check all acknowledgements so far. The store carries over
// from one iteration to the next (a fresh one every 50 iterations), so each
// child also recovers from the previous kill.
//
// Iterations: 8 by default; AGENTLOG_CRASH_ITERATIONS=N for a long run
// (tests/crash_loop.sh). AGENTLOG_CRASH_SEED fixes the random choices.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "crash_protocol.h"
#include "engine/backend.h"
#include "test_util.h"

#ifndef AGENTLOG_CRASH_CHILD_PATH
#error "tests/CMakeLists.txt defines AGENTLOG_CRASH_CHILD_PATH (the agentlog_crash_child binary)"
#endif

extern char** environ;

using namespace agentlog;
using namespace agentlog::testing;
using namespace agentlog::testing::crash;

namespace {

constexpr int kDefaultIterations = 8;
constexpr int kIterationsPerStore = 50;
constexpr int64_t kReadyTimeoutMs = 20000;

uint64_t NumberFromEnvironment(const char* name, uint64_t fallback) {
  const char* text = std::getenv(name);
  if (text == nullptr || *text == '\0') return fallback;
  return std::strtoull(text, nullptr, 10);
}

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

struct ChildRun {
  std::vector<std::string> lines;  // complete lines only, without LF
  bool ready = false;
  bool killed = false;             // ended by our SIGKILL (not by itself)
  int wait_status = 0;
};

// Spawns the child on `store_path`, kills it `delay_ms` after it printed
// READY (or after the spawn if `from_spawn`), and returns what it printed.
ChildRun RunAndKill(const std::string& store_path, int iteration, uint64_t seed, int64_t delay_ms,
                    bool from_spawn) {
  int fds[2];
  REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
  posix_spawn_file_actions_t actions;
  REQUIRE(posix_spawn_file_actions_init(&actions) == 0);
  REQUIRE(posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO) == 0);
  std::string program = AGENTLOG_CRASH_CHILD_PATH;
  std::string iteration_text = std::to_string(iteration);
  std::string seed_text = std::to_string(seed);
  std::string path = store_path;
  char* argv[] = {program.data(), path.data(), iteration_text.data(), seed_text.data(), nullptr};
  pid_t pid = 0;
  const int spawned = posix_spawn(&pid, program.c_str(), &actions, nullptr, argv, environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(fds[1]);
  INFO("spawning " << program);
  REQUIRE(spawned == 0);

  ChildRun run;
  std::string pending;
  auto take_lines = [&](const char* data, size_t size) {
    pending.append(data, size);
    size_t newline;
    while ((newline = pending.find('\n')) != std::string::npos) {
      std::string line = pending.substr(0, newline);
      pending.erase(0, newline + 1);
      if (line == "READY") {
        run.ready = true;
      } else {
        run.lines.push_back(std::move(line));
      }
    }
  };
  const int64_t start = NowMs();
  int64_t deadline = from_spawn ? start + delay_ms : start + kReadyTimeoutMs;
  bool armed = from_spawn;
  bool eof = false;
  char buffer[1 << 16];
  while (!eof) {
    if (!armed && run.ready) {
      deadline = NowMs() + delay_ms;
      armed = true;
    }
    const int64_t remaining = deadline - NowMs();
    if (remaining <= 0) break;
    pollfd poll_fd{fds[0], POLLIN, 0};
    const int polled = ::poll(&poll_fd, 1, static_cast<int>(remaining));
    if (polled < 0 && errno == EINTR) continue;
    REQUIRE(polled >= 0);
    if (polled == 0) continue;
    const ssize_t got = ::read(fds[0], buffer, sizeof(buffer));
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) {
      eof = true;  // the child ended on its own
    } else {
      take_lines(buffer, static_cast<size_t>(got));
    }
  }
  ::kill(pid, SIGKILL);
  for (;;) {  // drain what it wrote before it died; a torn last line is dropped
    const ssize_t got = ::read(fds[0], buffer, sizeof(buffer));
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break;
    take_lines(buffer, static_cast<size_t>(got));
  }
  ::close(fds[0]);
  REQUIRE(::waitpid(pid, &run.wait_status, 0) == pid);
  run.killed = WIFSIGNALED(run.wait_status) && WTERMSIG(run.wait_status) == SIGKILL;
  return run;
}

// What the children were promised, across the iterations on one store.
struct Promises {
  std::map<std::string, std::map<uint64_t, std::string>> payloads;  // run -> sequence -> bytes
  std::vector<Ack> keyed;                                           // appends with a key
  uint64_t appends = 0;
  uint64_t events = 0;
};

struct Totals {
  uint64_t iterations = 0;
  uint64_t kills_while_opening = 0;
  uint64_t acked_appends = 0;
  uint64_t acked_events = 0;
  uint64_t acked_keys = 0;
  uint64_t event_checks = 0;  // acknowledged events compared after a reopen
  uint64_t key_checks = 0;    // acknowledged keys repeated after a reopen
};

std::vector<Event> ReadRunFully(Store& store, const std::string& run_id) {
  std::vector<Event> events;
  ReadOptions options;
  options.limit = kMaxReadLimit;
  for (;;) {
    auto page = store.ReadRun(run_id, options);
    INFO(run_id << ": " << page.status().ToString());
    REQUIRE(page.ok());
    if (page->empty()) break;
    options.from_sequence = page->back().sequence() + 1;
    for (Event& event : *page) events.push_back(std::move(event));
  }
  return events;
}

// Adds the child's ACK lines to the promises made on its store.
void AddPromises(const ChildRun& run, Promises* promises, Totals* totals) {
  for (const std::string& line : run.lines) {
    INFO("child printed: " << line.substr(0, 200));
    REQUIRE(line.rfind("ERR", 0) != 0);
    Ack ack;
    REQUIRE(ParseAck(line, &ack));
    auto& run_payloads = promises->payloads[ack.run_id];
    for (uint64_t sequence = ack.first_sequence; sequence <= ack.last_sequence; ++sequence) {
      // A sequence acknowledged twice means an acknowledged event was lost
      // and its number handed out again.
      INFO(ack.run_id << " event " << sequence << " acknowledged twice");
      REQUIRE(run_payloads.count(sequence) == 0);
      run_payloads[sequence] = ack.payloads[sequence - ack.first_sequence];
    }
    ++totals->acked_appends;
    totals->acked_events += ack.payloads.size();
    if (!ack.idempotency_key.empty()) {
      ++totals->acked_keys;
      promises->keyed.push_back(std::move(ack));
    }
  }
}

// Reopens the store and checks every promise made on it so far.
void CheckPromises(const std::string& store_path, const Promises& promises, Totals* totals) {
  auto store = OpenStore(store_path, SystemClock());
  uint64_t stored_events = 0;
  for (const char* run_id : kRunIds) {
    auto info = store->GetRun(run_id);
    const auto promised = promises.payloads.find(run_id);
    if (info.status().IsNotFound()) {
      CHECK(promised == promises.payloads.end());
      continue;
    }
    INFO(run_id << ": " << info.status().ToString());
    REQUIRE(info.ok());
    const std::vector<Event> events = ReadRunFully(*store, run_id);
    // Gapless: exactly 1..head, in order (ReadRun also refuses a gap).
    REQUIRE(events.size() == info->head_sequence);
    for (size_t i = 0; i < events.size(); ++i) REQUIRE(events[i].sequence() == i + 1);
    stored_events += events.size();
    if (promised == promises.payloads.end()) continue;
    for (const auto& [sequence, payload] : promised->second) {
      ++totals->event_checks;
      std::string problem;
      if (sequence > events.size()) {
        problem = "is gone: the run's head is " + std::to_string(events.size());
      } else if (events[sequence - 1].payload() != payload) {
        problem = "reads back with other payload bytes";
      } else if (events[sequence - 1].actor_id() != "crash-child") {
        problem = "reads back with another envelope";
      }
      if (!problem.empty()) {
        FAIL_CHECK(run_id << " event " << sequence << " was acknowledged but " << problem);
      }
    }
  }
  VerifyStats stats;
  const Status verify = store->VerifyAll(&stats);
  INFO(verify.ToString());
  REQUIRE(verify.ok());
  CHECK(stats.events == stored_events);
  CHECK(store->LastPosition() == stored_events);

  for (const Ack& ack : promises.keyed) {
    std::vector<EventInput> events;
    for (const std::string& payload : ack.payloads) events.push_back(EventFor(payload));
    AppendOptions options;
    options.durability = Durability::kBuffered;
    options.idempotency_key = ack.idempotency_key;
    auto repeat = store->Append(ack.run_id, std::span<const EventInput>(events), options);
    ++totals->key_checks;
    if (!repeat.ok() || !repeat->replayed || repeat->first_sequence != ack.first_sequence ||
        repeat->last_sequence != ack.last_sequence) {
      FAIL_CHECK("repeat of acknowledged key " << ack.idempotency_key << " (" << ack.run_id
                 << " events " << ack.first_sequence << ".." << ack.last_sequence << "): "
                 << (repeat.ok() ? "answered replayed=" + std::to_string(repeat->replayed) +
                                       " events " + std::to_string(repeat->first_sequence) +
                                       ".." + std::to_string(repeat->last_sequence)
                                 : repeat.status().ToString()));
    }
  }
  CHECK(store->LastPosition() == stored_events);  // the repeats wrote nothing
  REQUIRE(store->Close().ok());
}

}  // namespace

TEST_CASE("Crash.AcknowledgedSyncAppendsSurviveKill9", "[crash]") {
  // Goal and method: see the top of this file. Each iteration spawns the
  // child, kills it, adds its ACK lines to the promises made on the store
  // so far, then reopens the store and checks every one of them.
  const int iterations =
      static_cast<int>(NumberFromEnvironment("AGENTLOG_CRASH_ITERATIONS", kDefaultIterations));
  const uint64_t seed = NumberFromEnvironment("AGENTLOG_CRASH_SEED", std::random_device()());
  std::mt19937_64 random(seed);
  INFO("AGENTLOG_CRASH_SEED=" << seed << " AGENTLOG_CRASH_ITERATIONS=" << iterations);
  TempDir dir;
  Totals totals;
  Promises promises;
  std::string store_path;
  for (int iteration = 0; iteration < iterations; ++iteration) {
    if (iteration % kIterationsPerStore == 0) {
      store_path = dir.Sub("store-" + std::to_string(iteration / kIterationsPerStore));
      promises = Promises();
    }
    const bool while_opening = iteration % 4 == 3;
    const int64_t delay_ms = while_opening ? static_cast<int64_t>(random() % 31)
                                           : 20 + static_cast<int64_t>(random() % 281);
    INFO("iteration " << iteration << ": kill " << delay_ms << " ms after "
                      << (while_opening ? "the spawn" : "READY"));
    const ChildRun run = RunAndKill(store_path, iteration, random(), delay_ms, while_opening);
    for (const std::string& line : run.lines) {
      INFO("child printed: " << line.substr(0, 200));
      REQUIRE(line.rfind("ERR", 0) != 0);
    }
    INFO("child wait status " << run.wait_status);
    REQUIRE(run.killed);
    if (!while_opening) REQUIRE(run.ready);
    if (while_opening) ++totals.kills_while_opening;

    AddPromises(run, &promises, &totals);
    CheckPromises(store_path, promises, &totals);
    ++totals.iterations;
  }
  std::cout << "[crash] seed " << seed << ": " << totals.iterations << " iterations ("
            << totals.kills_while_opening << " killed while opening), " << totals.acked_appends
            << " acknowledged appends (" << totals.acked_events << " events, "
            << totals.acked_keys << " with idempotency keys); after the kills checked "
            << totals.event_checks << " acknowledged events and repeated " << totals.key_checks
            << " acknowledged keys\n";
  CHECK(totals.iterations == static_cast<uint64_t>(iterations));
  // The test must actually test something: the children got appends in.
  if (iterations >= 4) CHECK(totals.acked_appends > 0);
}

TEST_CASE("Crash.KillWhileCreatingAStoreLeavesAnOpenableStore", "[crash]") {
  // Goal: a process killed while it creates a store -- after RocksDB made
  // its files and column families, before agentlog wrote its format marker
  // -- leaves a directory that the next Open finishes creating, not one
  // refused forever as "not an agentlog store".
  // Method: (1) reproduce that state deterministically: create the RocksDB
  // database with every column family through engine/backend.h, close it,
  // open it as a store; (2) kill agentlog_crash_child 5-85 ms after spawning
  // it on fresh directories, then reopen each and check what it promised.
  {
    TempDir dir;
    auto backend = internal::OpenRocksDbBackend(internal::BackendOptions(), dir.path());
    INFO(backend.status().ToString());
    REQUIRE(backend.ok());
    REQUIRE((*backend)->Close().ok());
    Options options;
    options.clock = SystemClock();
    auto store = Store::Open(options, dir.path());
    INFO("a store whose creation stopped before the format marker: " << store.status().ToString());
    CHECK(store.ok());
  }
  const uint64_t seed = NumberFromEnvironment("AGENTLOG_CRASH_SEED", std::random_device()());
  INFO("AGENTLOG_CRASH_SEED=" << seed);
  std::mt19937_64 random(seed);
  TempDir dir;
  for (int attempt = 0; attempt < 6; ++attempt) {
    const std::string path = dir.Sub("fresh-" + std::to_string(attempt));
    const int64_t delay_ms = 5 + 12 * attempt + static_cast<int64_t>(random() % 10);
    INFO("killed " << delay_ms << " ms after spawning it on a fresh directory");
    const ChildRun run = RunAndKill(path, attempt, random(), delay_ms, /*from_spawn=*/true);
    REQUIRE(run.killed);
    Promises promises;
    Totals totals;
    AddPromises(run, &promises, &totals);
    if (!std::filesystem::exists(path)) continue;  // killed before it made the directory
    CheckPromises(path, promises, &totals);
  }
}
