// tests/crash_test.cc: whatever a process was told before kill -9 holds
// after it (DESIGN.md invariant 3), and what survives is a consistent store.
//
// Goal: after a process running a mixed workload is killed at an arbitrary
// moment -- mid group commit, mid fsync, mid fork, mid snapshot write, mid
// open and recovery, or before it did anything -- every append, fork and
// snapshot it acknowledged is there, byte-identical; every append refused
// with Conflict wrote nothing; runs are gapless and VerifyAll passes; a
// fork's history is its parent's events 1..at, then RunForked, then its own;
// the run-state projection computed from snapshots equals the fold from
// event 1 at the head and at earlier events, for every run, and every
// stored snapshot holds exactly that fold; every acknowledged idempotency
// key still answers with its first append.
// Method: fork/exec agentlog_crash_child (tests/crash_child.cc: dozens of
// runs of valid run-state events from testing/run_generator.h, idempotent
// repeats, conflicting appends, forks, snapshots, from several threads, all
// kSync) with a pipe for its report lines (tests/crash_protocol.h); SIGKILL
// it at a moment chosen in a cycle of kinds -- a random 20-300 ms after
// READY, 0-30 ms after the spawn (while it opens and recovers), right after
// the BEGIN line of a fork or a snapshot write, right after READY; collect
// every complete line; reopen the store in this process and check every
// promise made on it so far. The store carries over from one iteration to
// the next (a fresh one every kIterationsPerStore), so each child recovers
// from the previous kill and the state accumulates over a chain of kills.
//
// Length: kDefaultIterations (CI); AGENTLOG_CRASH_ITERATIONS=N and/or
// AGENTLOG_CRASH_MINUTES=M for a long run (tests/crash_loop.sh; the first
// bound reached ends it, and a running total is printed every minute).
// AGENTLOG_CRASH_SEED fixes the random choices (the timing still differs).
// The last line printed on stdout (shown by a direct run and by
// `ctest -V`) counts the kills, the acknowledgements, the checks and the
// losses.
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
#include <set>
#include <span>
#include <string>
#include <vector>

#include "agentlog/projector.h"
#include "agentlog/run_state.h"
#include "crash_protocol.h"
#include "testing/reference_fold.h"
#include "engine/backend.h"
#include "testing/test_util.h"

#ifndef AGENTLOG_CRASH_CHILD_PATH
#error "tests/CMakeLists.txt defines AGENTLOG_CRASH_CHILD_PATH (the agentlog_crash_child binary)"
#endif

extern char** environ;

using namespace agentlog;
using namespace agentlog::testing;
using namespace agentlog::testing::crash;

namespace {

constexpr uint64_t kDefaultIterations = 30;
constexpr int kIterationsPerStore = 50;
// Else a kill waiting for a fork's BEGIN line late in a store waits for a
// fork the child may no longer make.
static_assert(kMaxForksPerChild * kIterationsPerStore <= kMaxForksPerStore);
constexpr int64_t kReadyTimeoutMs = 20000;
// How long after READY a kill waiting for a BEGIN line waits before it
// kills anyway (the child forks and snapshots every few ms).
constexpr int64_t kMarkerTimeoutMs = 2000;
constexpr int64_t kProgressEveryMs = 60000;
// States compared per run at random earlier events, besides the head, the
// fork point and every stored snapshot.
constexpr int kEarlierStatesPerRun = 3;

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// When an iteration kills its child.
enum class KillAt { kRandom, kWhileOpening, kAtFork, kAtSnapshot, kAfterReady };
constexpr size_t kKillKinds = 5;
// A cycle, so that even the short CI run meets every kind.
constexpr KillAt kKillCycle[] = {KillAt::kRandom, KillAt::kWhileOpening, KillAt::kAtFork,
                                 KillAt::kRandom, KillAt::kAtSnapshot,   KillAt::kAfterReady};

const char* KillName(KillAt at) {
  switch (at) {
    case KillAt::kRandom:
      return "at random";
    case KillAt::kWhileOpening:
      return "while opening";
    case KillAt::kAtFork:
      return "at a fork";
    case KillAt::kAtSnapshot:
      return "at a snapshot";
    case KillAt::kAfterReady:
      return "right after READY";
  }
  return "?";
}

struct KillPlan {
  KillAt at = KillAt::kRandom;
  int64_t delay_ms = 0;  // after the spawn, READY or the BEGIN line (see KillAt)
};

KillPlan PlanKill(int iteration, std::mt19937_64& random) {
  KillPlan plan;
  plan.at = kKillCycle[static_cast<size_t>(iteration) % std::size(kKillCycle)];
  switch (plan.at) {
    case KillAt::kRandom:
      plan.delay_ms = 20 + static_cast<int64_t>(random() % 281);
      break;
    case KillAt::kWhileOpening:
      plan.delay_ms = static_cast<int64_t>(random() % 31);
      break;
    case KillAt::kAtFork:
    case KillAt::kAtSnapshot:
      plan.delay_ms = static_cast<int64_t>(random() % 2);
      break;
    case KillAt::kAfterReady:
      plan.delay_ms = 0;
      break;
  }
  return plan;
}

struct ChildRun {
  std::vector<std::string> lines;  // complete lines but READY and BEGIN, without LF
  bool ready = false;
  bool marker_seen = false;  // the BEGIN line a kAtFork / kAtSnapshot plan waits for
  bool killed = false;       // ended by our SIGKILL (not by itself)
  int wait_status = 0;
};

// Spawns the child on `store_path`, kills it as `plan` says, and returns
// what it printed.
ChildRun RunAndKill(const std::string& store_path, int iteration, uint64_t seed,
                    const KillPlan& plan) {
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

  const std::string marker = plan.at == KillAt::kAtFork       ? "BEGIN fork"
                             : plan.at == KillAt::kAtSnapshot ? "BEGIN snapshot"
                                                              : "";
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
      } else if (line.rfind("BEGIN ", 0) == 0) {
        run.marker_seen = run.marker_seen || line == marker;
      } else {
        run.lines.push_back(std::move(line));
      }
    }
  };
  const bool from_spawn = plan.at == KillAt::kWhileOpening;
  int64_t deadline = NowMs() + (from_spawn ? plan.delay_ms : kReadyTimeoutMs);
  bool armed = from_spawn;  // the deadline is the kill's, not a timeout
  bool waiting_for_marker = false;
  bool eof = false;
  char buffer[1 << 16];
  while (!eof) {
    if (!armed && run.ready) {
      if (marker.empty() || run.marker_seen) {
        deadline = NowMs() + plan.delay_ms;
        armed = true;
      } else if (!waiting_for_marker) {
        deadline = NowMs() + kMarkerTimeoutMs;  // kill anyway if it never comes
        waiting_for_marker = true;
      }
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

// An acknowledged event as the child appended it.
struct PromisedEvent {
  EventInput input;
  std::string idempotency_key;
};

// What the children were told, across the iterations on one store.
struct Promises {
  std::map<std::string, std::map<uint64_t, PromisedEvent>> events;  // run -> sequence -> event
  std::vector<Ack> keyed;  // acknowledged appends with a key
  std::vector<ForkAck> forks;
  std::vector<SnapshotAck> snapshots;
  std::set<std::string> refused_payloads;  // of appends refused with Conflict
};

struct Totals {
  uint64_t iterations = 0;
  uint64_t kills[kKillKinds] = {};
  uint64_t markers_missed = 0;  // kAtFork / kAtSnapshot kills that saw no BEGIN line
  uint64_t acked_appends = 0;
  uint64_t acked_events = 0;
  uint64_t acked_keys = 0;
  uint64_t acked_forks = 0;
  uint64_t acked_snapshots = 0;
  uint64_t conflicts = 0;     // appends refused with Conflict, as the child expected
  uint64_t event_checks = 0;  // acknowledged events compared after a reopen
  uint64_t fork_checks = 0;   // forks whose lineage and prefix were compared
  // Found after a kill with no FORK / SNAP line (see CountUnannounced).
  std::set<std::string> forks_unannounced;
  std::set<std::string> snapshots_unannounced;
  uint64_t snapshot_checks = 0;        // stored snapshots compared with the fold
  uint64_t state_checks = 0;           // StateAt compared with the fold
  uint64_t states_from_snapshots = 0;  // of them, started from a snapshot
  uint64_t key_checks = 0;             // acknowledged keys repeated after a reopen
  uint64_t lost = 0;                   // acknowledgements the store broke
};

std::string Summary(uint64_t seed, const Totals& totals, int64_t elapsed_ms) {
  std::string kills;
  for (size_t kind = 0; kind < kKillKinds; ++kind) {
    kills += (kind == 0 ? "" : ", ") + std::to_string(totals.kills[kind]) + " " +
             KillName(static_cast<KillAt>(kind));
  }
  return "[crash] seed " + std::to_string(seed) + ", " + std::to_string(elapsed_ms / 1000) +
         " s: " + std::to_string(totals.iterations) + " iterations (kills: " + kills + "; " +
         std::to_string(totals.markers_missed) + " BEGIN lines not reached); acknowledged " +
         std::to_string(totals.acked_appends) + " appends (" + std::to_string(totals.acked_events) +
         " events, " + std::to_string(totals.acked_keys) + " keyed), " +
         std::to_string(totals.acked_forks) + " forks (" +
         std::to_string(totals.forks_unannounced.size()) + " more found unannounced), " +
         std::to_string(totals.acked_snapshots) + " snapshots (" +
         std::to_string(totals.snapshots_unannounced.size()) + " more found unannounced); " +
         std::to_string(totals.conflicts) + " conflicts refused; checked " +
         std::to_string(totals.event_checks) + " events, " + std::to_string(totals.fork_checks) +
         " forks, " + std::to_string(totals.snapshot_checks) + " snapshots, " +
         std::to_string(totals.state_checks) + " states (" +
         std::to_string(totals.states_from_snapshots) + " from snapshots), " +
         std::to_string(totals.key_checks) + " key repeats; lost " + std::to_string(totals.lost);
}

// Adds the child's lines to the promises made on its store.
void AddPromises(const ChildRun& run, Promises* promises, Totals* totals) {
  for (const std::string& line : run.lines) {
    INFO("child printed: " << line.substr(0, 300));
    const std::string tag = line.substr(0, line.find(' '));
    REQUIRE(tag != "ERR");
    if (tag == "ACK") {
      Ack ack;
      REQUIRE(ParseAck(line, &ack));
      auto& run_events = promises->events[ack.run_id];
      for (uint64_t sequence = ack.first_sequence; sequence <= ack.last_sequence; ++sequence) {
        // A sequence acknowledged twice means an acknowledged event was lost
        // and its number handed out again.
        INFO(ack.run_id << " event " << sequence << " acknowledged twice");
        REQUIRE(run_events.count(sequence) == 0);
        run_events[sequence] = {ack.events[sequence - ack.first_sequence], ack.idempotency_key};
      }
      ++totals->acked_appends;
      totals->acked_events += ack.events.size();
      if (!ack.idempotency_key.empty()) {
        ++totals->acked_keys;
        promises->keyed.push_back(std::move(ack));
      }
    } else if (tag == "REFUSED") {
      Ack refused;
      REQUIRE(ParseRefused(line, &refused));
      for (EventInput& event : refused.events)
        promises->refused_payloads.insert(std::move(event.payload));
      ++totals->conflicts;
    } else if (tag == "FORK") {
      ForkAck fork;
      REQUIRE(ParseFork(line, &fork));
      promises->forks.push_back(std::move(fork));
      ++totals->acked_forks;
    } else {
      SnapshotAck snapshot;
      REQUIRE(ParseSnapshot(line, &snapshot));
      promises->snapshots.push_back(std::move(snapshot));
      ++totals->acked_snapshots;
    }
  }
}

// A fork's history: its parent's events 1..at (the same records), then
// its RunForked naming them, then its own.
void CheckForkHistory(const RunInfo& fork, const std::vector<Event>& events,
                      const std::vector<Event>& parent, Totals* totals) {
  INFO("fork " << fork.run_id << " of " << fork.parent_run_id << " at " << fork.fork_sequence);
  REQUIRE(fork.fork_sequence < events.size());
  REQUIRE(parent.size() >= fork.fork_sequence);
  for (uint64_t i = 0; i < fork.fork_sequence; ++i) {
    REQUIRE(events[i].chain_hash() == parent[i].chain_hash());
    REQUIRE(events[i].payload() == parent[i].payload());
    REQUIRE(events[i].run_id() != fork.run_id);
  }
  const Event& forked = events[fork.fork_sequence];
  REQUIRE(forked.run_id() == fork.run_id);
  REQUIRE(forked.type() == fb::Body_RunForked);
  const fb::RunForked* body = forked.body()->body_as_RunForked();
  REQUIRE(body != nullptr);
  CHECK(flatbuffers::GetStringView(body->parent_run_id()) == fork.parent_run_id);
  CHECK(body->fork_sequence() == fork.fork_sequence);
  for (uint64_t i = fork.fork_sequence; i < events.size(); ++i)
    REQUIRE(events[i].run_id() == fork.run_id);
  ++totals->fork_checks;
}

// For one run: every stored snapshot holds the fold at its event, and
// StateAt (from snapshots, through a fork's parents) equals the fold at the
// head, at the fork point and at random earlier events.
void CheckStates(Store& store, Projector& projector, const RunInfo& info,
                 const std::vector<Event>& events, std::mt19937_64& random, Totals* totals) {
  auto snapshots =
      store.ReadSnapshots(info.run_id, kRunStateProjectionName, UINT64_MAX, kMaxReadLimit);
  INFO(info.run_id << " snapshots: " << snapshots.status().ToString());
  REQUIRE(snapshots.ok());
  REQUIRE(snapshots->size() < kMaxReadLimit);  // all of them in one page
  std::set<uint64_t> points{info.head_sequence};
  if (info.fork_sequence != 0) points.insert(info.fork_sequence);
  for (int i = 0; i < kEarlierStatesPerRun; ++i) points.insert(1 + random() % info.head_sequence);
  for (const SnapshotEntry& entry : *snapshots) points.insert(entry.sequence);
  const std::map<uint64_t, std::string> reference = FoldAt(*NewRunStateProjection(), events, points);

  for (const SnapshotEntry& entry : *snapshots) {
    INFO(info.run_id << " snapshot at " << entry.sequence << ": " << entry.status.ToString());
    REQUIRE(entry.status.ok());
    REQUIRE(entry.sequence >= 1);
    REQUIRE(entry.sequence <= info.head_sequence);
    CHECK(entry.version == kRunStateProjectionVersion);
    CHECK(entry.chain_hash == events[entry.sequence - 1].chain_hash());
    CHECK(entry.state == reference.at(entry.sequence));
    ++totals->snapshot_checks;
  }
  for (uint64_t sequence : points) {
    StateInfo state_info;
    auto state = projector.StateAt(info.run_id, kRunStateProjectionName, sequence, &state_info);
    INFO(info.run_id << " StateAt(" << sequence << "): " << state.status().ToString());
    REQUIRE(state.ok());
    CHECK(state_info.bypassed.empty());
    CHECK((*state)->Encode() == reference.at(sequence));
    ++totals->state_checks;
    if (state_info.snapshot_sequence != 0) ++totals->states_from_snapshots;
  }
}

// Every acknowledged event of the run is stored as the child appended it.
void CheckAcknowledgedEvents(const RunInfo& info, const std::vector<Event>& events,
                             const Promises& promises, Totals* totals) {
  const auto promised = promises.events.find(info.run_id);
  if (promised == promises.events.end()) return;
  for (const auto& [sequence, event] : promised->second) {
    ++totals->event_checks;
    std::string problem;
    if (sequence > events.size()) {
      problem = "is gone: the run's head is " + std::to_string(events.size());
    } else {
      const Event& stored = events[sequence - 1];
      if (stored.payload() != event.input.payload) {
        problem = "reads back with other payload bytes";
      } else if (stored.run_id() != info.run_id || stored.turn_id() != event.input.turn_id ||
                 stored.step_id() != event.input.step_id ||
                 stored.actor_kind() != event.input.actor_kind ||
                 stored.actor_id() != event.input.actor_id ||
                 stored.idempotency_key() != event.idempotency_key) {
        problem = "reads back with another envelope";
      }
    }
    if (!problem.empty()) {
      ++totals->lost;
      FAIL_CHECK(info.run_id << " event " << sequence << " was acknowledged but " << problem);
    }
  }
}

// Every acknowledged fork and snapshot is there.
void CheckAcknowledgedForksAndSnapshots(Store& store, const std::map<std::string, RunInfo>& runs,
                                        const Promises& promises, Totals* totals) {
  for (const ForkAck& fork : promises.forks) {
    const auto info = runs.find(fork.run_id);
    if (info == runs.end() || info->second.parent_run_id != fork.parent_run_id ||
        info->second.fork_sequence != fork.at_sequence) {
      ++totals->lost;
      FAIL_CHECK(
          "fork " << fork.run_id << " of " << fork.parent_run_id << " at " << fork.at_sequence
                  << " was acknowledged but "
                  << (info == runs.end() ? "is gone" : "names another parent or fork point"));
    }
  }
  for (const SnapshotAck& snapshot : promises.snapshots) {
    // Nothing deletes an "s-" run's snapshots, and one at the same event
    // holds the same state (a fold is deterministic).
    REQUIRE(HasExplicitSnapshots(snapshot.run_id));
    auto found =
        store.ReadSnapshots(snapshot.run_id, kRunStateProjectionName, snapshot.sequence, 1);
    if (!found.ok() || found->empty() || found->front().sequence != snapshot.sequence ||
        std::string(internal::HashView(internal::Sha256(found->front().state))) !=
            snapshot.state_sha256) {
      ++totals->lost;
      FAIL_CHECK("snapshot of " << snapshot.run_id << " at " << snapshot.sequence
                                << " was acknowledged but "
                                << (!found.ok() ? found.status().ToString()
                                    : found->empty() || found->front().sequence != snapshot.sequence
                                        ? std::string("is gone")
                                        : std::string("holds another state")));
    }
  }
}

// Notes the forks and explicit snapshots found that no line announced: the
// kill came between their commit and the report, in the middle of
// Store::Fork or Store::PutSnapshot. Not an error; the count shows that the
// kills at BEGIN lines land there.
void CountUnannounced(Store& store, const std::string& store_path,
                      const std::map<std::string, RunInfo>& runs, const Promises& promises,
                      Totals* totals) {
  std::set<std::string> announced;
  for (const ForkAck& fork : promises.forks) announced.insert(fork.run_id);
  for (const SnapshotAck& snapshot : promises.snapshots) {
    announced.insert(snapshot.run_id + "@" + std::to_string(snapshot.sequence));
  }
  for (const auto& [run_id, info] : runs) {
    if (!info.parent_run_id.empty() && announced.count(run_id) == 0) {
      totals->forks_unannounced.insert(store_path + "/" + run_id);
    }
    if (!HasExplicitSnapshots(run_id)) continue;
    auto stored = store.ReadSnapshots(run_id, kRunStateProjectionName, UINT64_MAX, kMaxReadLimit,
                                      /*with_state=*/false);
    INFO(run_id << " snapshots: " << stored.status().ToString());
    REQUIRE(stored.ok());
    for (const SnapshotEntry& entry : *stored) {
      const std::string key = run_id + "@" + std::to_string(entry.sequence);
      if (announced.count(key) == 0) totals->snapshots_unannounced.insert(store_path + "/" + key);
    }
  }
}

// Repeating every acknowledged keyed append answers with its first
// append's numbers and writes nothing.
void CheckKeys(Store& store, const Promises& promises, Totals* totals) {
  const uint64_t last_position = store.LastPosition();
  for (const Ack& ack : promises.keyed) {
    AppendOptions options;
    options.durability = Durability::kBuffered;
    options.idempotency_key = ack.idempotency_key;
    auto repeat = store.Append(ack.run_id, std::span<const EventInput>(ack.events), options);
    ++totals->key_checks;
    if (!repeat.ok() || !repeat->replayed || repeat->first_sequence != ack.first_sequence ||
        repeat->last_sequence != ack.last_sequence) {
      ++totals->lost;
      FAIL_CHECK("repeat of acknowledged key "
                 << ack.idempotency_key << " (" << ack.run_id << " events " << ack.first_sequence
                 << ".." << ack.last_sequence << "): "
                 << (repeat.ok() ? "answered replayed=" + std::to_string(repeat->replayed) +
                                       " events " + std::to_string(repeat->first_sequence) + ".." +
                                       std::to_string(repeat->last_sequence)
                                 : repeat.status().ToString()));
    }
  }
  CHECK(store.LastPosition() == last_position);
}

// Reopens the store and checks every promise made on it so far, and the
// consistency of everything in it.
void CheckPromises(const std::string& store_path, const Promises& promises, std::mt19937_64& random,
                   Totals* totals) {
  auto store = OpenStore(store_path, SystemClock());
  // Only StateAt is called: it reads snapshots and never writes or deletes one.
  auto projector = Projector::Create(store.get(), ProjectorOptions());
  REQUIRE(projector->Register(NewRunStateProjection()).ok());
  auto listed = ListAllRuns(*store);
  INFO(listed.status().ToString());
  REQUIRE(listed.ok());
  const std::map<std::string, RunInfo>& runs = *listed;
  for (const auto& [run_id, events] : promises.events) {
    if (runs.count(run_id) == 0) {
      totals->lost += events.size();
      FAIL_CHECK(run_id << " had " << events.size() << " acknowledged events but is gone");
    }
  }
  std::map<std::string, std::vector<Event>> histories;  // every run's events, for its forks too
  uint64_t own_records = 0;                             // a fork's prefix is its parent's records
  for (const auto& [run_id, info] : runs) {
    INFO("run " << run_id);
    const std::vector<Event>& events = histories[run_id] = ReadWholeRun(*store, run_id);
    // Gapless: exactly 1..head, in order (ReadRun also refuses a gap).
    REQUIRE(events.size() == info.head_sequence);
    REQUIRE(info.head_sequence > 0);
    for (size_t i = 0; i < events.size(); ++i) {
      REQUIRE(events[i].sequence() == i + 1);
      if (promises.refused_payloads.count(std::string(events[i].payload())) != 0) {
        FAIL_CHECK(run_id << " event " << i + 1
                          << " is an event of an append refused with Conflict");
      }
    }
    own_records += info.head_sequence - info.fork_sequence;
    CheckAcknowledgedEvents(info, events, promises, totals);
    CheckStates(*store, *projector, info, events, random, totals);
  }
  for (const auto& [run_id, info] : runs) {
    if (info.parent_run_id.empty()) continue;
    const auto parent = histories.find(info.parent_run_id);
    INFO("fork " << run_id << " of " << info.parent_run_id);
    REQUIRE(parent != histories.end());
    CheckForkHistory(info, histories.at(run_id), parent->second, totals);
  }
  CheckAcknowledgedForksAndSnapshots(*store, runs, promises, totals);
  CountUnannounced(*store, store_path, runs, promises, totals);
  VerifyStats stats;
  const Status verify = store->VerifyAll(&stats);
  INFO(verify.ToString());
  REQUIRE(verify.ok());
  CHECK(stats.events == own_records);
  CHECK(store->LastPosition() == own_records);
  CheckKeys(*store, promises, totals);
  REQUIRE(store->Close().ok());
}

}  // namespace

TEST_CASE("Crash.AcknowledgedWorkSurvivesKill9", "[crash]") {
  // Goal and method: see the top of this file. Each iteration spawns the
  // child, kills it, adds its lines to the promises made on the store so
  // far, then reopens the store and checks every one of them.
  const uint64_t minutes = NumberFromEnvironment("AGENTLOG_CRASH_MINUTES", 0);
  const uint64_t iterations = NumberFromEnvironment("AGENTLOG_CRASH_ITERATIONS",
                                                    minutes > 0 ? UINT64_MAX : kDefaultIterations);
  const uint64_t seed = NumberFromEnvironment("AGENTLOG_CRASH_SEED", std::random_device()());
  std::mt19937_64 random(seed);
  INFO("AGENTLOG_CRASH_SEED=" << seed);
  const int64_t start_ms = NowMs();
  const int64_t end_ms = minutes > 0 ? start_ms + static_cast<int64_t>(minutes) * 60000 : INT64_MAX;
  int64_t progress_ms = start_ms + kProgressEveryMs;
  TempDir dir;
  Totals totals;
  Promises promises;
  std::string store_path;
  // Printed however the test ends, so a failure shows how far it got.
  struct PrintSummary {
    const uint64_t& seed;
    const Totals& totals;
    int64_t start_ms;
    ~PrintSummary() { std::cout << Summary(seed, totals, NowMs() - start_ms) << std::endl; }
  } print_summary{seed, totals, start_ms};
  for (uint64_t n = 0; n < iterations && NowMs() < end_ms; ++n) {
    const int iteration = static_cast<int>(n);
    if (iteration % kIterationsPerStore == 0) {
      // The last store is checked; removing it bounds the disk a long run takes.
      if (!store_path.empty()) std::filesystem::remove_all(store_path);
      store_path = dir.Sub("store-" + std::to_string(iteration / kIterationsPerStore));
      promises = Promises();
    }
    const KillPlan plan = PlanKill(iteration, random);
    INFO("iteration " << iteration << ": kill " << KillName(plan.at) << " (+" << plan.delay_ms
                      << " ms)");
    const ChildRun run = RunAndKill(store_path, iteration, random(), plan);
    INFO("child wait status " << run.wait_status);
    for (const std::string& line : run.lines) {
      INFO("child printed: " << line.substr(0, 300));
      REQUIRE(line.rfind("ERR", 0) != 0);
    }
    REQUIRE(run.killed);
    if (plan.at != KillAt::kWhileOpening) REQUIRE(run.ready);
    ++totals.kills[static_cast<size_t>(plan.at)];
    if ((plan.at == KillAt::kAtFork || plan.at == KillAt::kAtSnapshot) && !run.marker_seen) {
      ++totals.markers_missed;
    }

    AddPromises(run, &promises, &totals);
    CheckPromises(store_path, promises, random, &totals);
    ++totals.iterations;
    if (NowMs() >= progress_ms) {
      std::cout << Summary(seed, totals, NowMs() - start_ms) << std::endl;
      progress_ms += kProgressEveryMs;
    }
  }
  CHECK(totals.lost == 0);
  // The test must actually test something: the children got work in.
  if (totals.iterations >= std::size(kKillCycle)) {
    CHECK(totals.acked_appends > 0);
    CHECK(totals.acked_forks > 0);
    CHECK(totals.acked_snapshots > 0);
    CHECK(totals.conflicts > 0);
    CHECK(totals.states_from_snapshots > 0);
  }
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
    REQUIRE((*backend)->Close(std::nullopt).ok());
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
    KillPlan plan;
    plan.at = KillAt::kWhileOpening;
    plan.delay_ms = 5 + 12 * attempt + static_cast<int64_t>(random() % 10);
    INFO("killed " << plan.delay_ms << " ms after spawning it on a fresh directory");
    const ChildRun run = RunAndKill(path, attempt, random(), plan);
    REQUIRE(run.killed);
    Promises promises;
    Totals totals;
    AddPromises(run, &promises, &totals);
    if (!std::filesystem::exists(path)) continue;  // killed before it made the directory
    CheckPromises(path, promises, random, &totals);
    CHECK(totals.lost == 0);
  }
}
