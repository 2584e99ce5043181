// tests/crash_child.cc: agentlog_crash_child, the process tests/crash_test.cc
// kills with SIGKILL.
//
//   agentlog_crash_child STORE_DIR ITERATION SEED
//
// Opens (or creates) the store, prints READY, then runs a random mixed
// workload with Durability::kSync from several threads, each on runs of its
// own (so it knows every head it appends to), and reports each answer with
// one line (tests/crash_protocol.h) written by a single write(2):
//   - appends of 1..kMaxEventsPerAppend valid run-state events
//     (testing/run_generator.h) to dozens of runs -- "p-" runs through
//     Projector::Append (its SnapshotPolicy writes and retires snapshots on
//     the way), "s-" runs through Store::Append; some with an idempotency
//     key, some with the right expected_head (ACK);
//   - idempotent repeats of earlier keyed appends (checked here: replayed,
//     the first append's numbers);
//   - conflicting appends: a stale expected_head, or a key reused with other
//     events or on another run; each must be refused with Conflict and move
//     no head (REFUSED);
//   - forks of its runs at a random event, which it then appends to (FORK);
//   - explicit run-state snapshots of "s-" runs at a random event, computed
//     by Projector::StateAt (SNAP).
// Before a fork or an explicit snapshot it prints BEGIN, so the parent can
// kill it during that write. A run it finds in the store (left by an earlier
// child, or a fork whose FORK line was never printed) is adopted: its story
// continues from its head with a fresh generator. Runs until killed; exits
// by itself only on an error (an ERR line, exit status 3), when its output
// pipe is closed, or after a safety deadline.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "agentlog/projector.h"
#include "agentlog/run_state.h"
#include "crash_protocol.h"
#include "testing/run_generator.h"

namespace {

using namespace agentlog;
using namespace agentlog::testing;
using namespace agentlog::testing::crash;

constexpr size_t kThreads = 4;
constexpr auto kSafetyDeadline = std::chrono::seconds(120);

std::mutex output_mu;

// One line, one write(2) under a lock, so lines of different threads never
// mix. A line cut by the kill has no LF, and the parent drops it.
void Print(const std::string& line) {
  std::lock_guard<std::mutex> lock(output_mu);
  size_t done = 0;
  while (done < line.size()) {
    const ssize_t written = ::write(STDOUT_FILENO, line.data() + done, line.size() - done);
    if (written < 0 && errno == EINTR) continue;
    if (written <= 0) _exit(0);  // the parent is gone: nobody to report to
    done += static_cast<size_t>(written);
  }
}

[[noreturn]] void Fail(const std::string& what) {
  std::string line = "ERR " + what;
  for (char& c : line) {
    if (c == '\n') c = ' ';
  }
  Print(line + "\n");
  _exit(3);
}

// A run this child appends to. Only its owner thread appends to it, so
// `head` is always the run's real head.
struct OwnedRun {
  std::string run_id;
  uint64_t head = 0;
  uint64_t lease_epoch = 0;                 // as found; the generator tracks it from there
  size_t fork_chain = 0;                    // forks between it and a base run
  std::unique_ptr<RunGenerator> generator;  // made on first use, at head + 1
};

struct KeyedAppend {
  std::string run_id;
  std::string key;
  std::vector<EventInput> events;
  AppendResult result;
};

// What every worker thread shares.
struct Shared {
  Store* store = nullptr;
  Projector* projector = nullptr;
  std::string iteration;
  uint64_t seed = 0;
  std::atomic<size_t> forks{0};  // forks in the store
};

class Worker {
 public:
  Worker(Shared* shared, size_t thread, std::vector<OwnedRun> runs)
      : shared_(*shared),
        thread_(thread),
        random_(shared->seed * 1000 + thread),
        runs_(std::move(runs)) {}

  void Loop() {
    const auto deadline = std::chrono::steady_clock::now() + kSafetyDeadline;
    for (n_ = 1;; ++n_) {
      if (std::chrono::steady_clock::now() > deadline) _exit(4);
      // Percent of operations: 6 repeats, 5 stale heads, 3 reused keys,
      // 3 forks, 6 snapshots; appends for the rest and whatever is not due.
      const uint64_t roll = random_() % 100;
      bool done = false;
      if (roll < 6) {
        done = Repeat();
      } else if (roll < 11) {
        done = RefuseStaleHead();
      } else if (roll < 14) {
        done = RefuseReusedKey();
      } else if (roll < 17) {
        done = Fork();
      } else if (roll < 23) {
        done = Snapshot();
      }
      if (!done) AppendGenerated();
    }
  }

 private:
  std::string Tag() const {
    return "i" + shared_.iteration + "-t" + std::to_string(thread_) + "-n" + std::to_string(n_);
  }

  OwnedRun& PickRun() { return runs_[random_() % runs_.size()]; }

  void AppendGenerated() {
    OwnedRun& run = PickRun();
    if (run.generator == nullptr) {
      run.generator = std::make_unique<RunGenerator>(random_(), run.head + 1, run.lease_epoch);
    }
    Ack ack;
    ack.run_id = run.run_id;
    ack.events =
        run.generator->Next(random_() % 3 == 0 ? 2 + random_() % (kMaxEventsPerAppend - 1) : 1);
    if (random_() % 3 == 0) ack.idempotency_key = Tag();
    AppendOptions options;
    options.durability = Durability::kSync;
    options.idempotency_key = ack.idempotency_key;
    if (random_() % 4 == 0) options.expected_head = run.head;
    const std::span<const EventInput> events(ack.events);
    // Blobs before the events that name them (a kill between leaves an
    // unreferenced blob, never an artifact without its content).
    if (Status stored = StoreArtifacts(*shared_.store, events, Durability::kBuffered); !stored.ok()) {
      Fail("storing the artifacts of an append to " + run.run_id + ": " + stored.ToString());
    }
    auto result = HasExplicitSnapshots(run.run_id)
                      ? shared_.store->Append(run.run_id, events, options)
                      : shared_.projector->Append(run.run_id, events, options);
    if (!result.ok()) Fail("append to " + run.run_id + ": " + result.status().ToString());
    if (result->replayed) Fail("a fresh idempotency key " + ack.idempotency_key + " was replayed");
    if (result->first_sequence != run.head + 1 ||
        result->last_sequence != run.head + ack.events.size()) {
      Fail("append to " + run.run_id + " at head " + std::to_string(run.head) + " got events " +
           std::to_string(result->first_sequence) + ".." + std::to_string(result->last_sequence));
    }
    run.head = result->last_sequence;
    ack.first_sequence = result->first_sequence;
    ack.last_sequence = result->last_sequence;
    Print(FormatAck(ack));
    if (!ack.idempotency_key.empty()) {
      keyed_.push_back(KeyedAppend{ack.run_id, ack.idempotency_key, ack.events, *result});
    }
  }

  // False when there is no keyed append to repeat yet.
  bool Repeat() {
    if (keyed_.empty()) return false;
    const KeyedAppend& first = keyed_[random_() % keyed_.size()];
    AppendOptions options;
    options.durability = Durability::kSync;
    options.idempotency_key = first.key;
    auto result =
        shared_.store->Append(first.run_id, std::span<const EventInput>(first.events), options);
    if (!result.ok()) Fail("repeat of key " + first.key + ": " + result.status().ToString());
    if (!result->replayed || result->first_sequence != first.result.first_sequence ||
        result->last_sequence != first.result.last_sequence ||
        result->first_position != first.result.first_position) {
      Fail("repeat of key " + first.key + " was not answered with the first append's numbers");
    }
    return true;
  }

  // Events no other append has (see RefusedPayload).
  std::vector<EventInput> RefusedEvents() {
    std::vector<EventInput> events(1 + random_() % 3);
    for (size_t i = 0; i < events.size(); ++i) {
      events[i].payload = RefusedPayload("refused " + Tag() + " event " + std::to_string(i));
      events[i].actor_kind = ActorKind::kTool;
      events[i].actor_id = "crash-child";
    }
    return events;
  }

  // Appends events no other append has to `run` with `options`, which must
  // be answered Conflict and keep the run's head where it was; then reports
  // them. Always true (done).
  bool ExpectConflict(const OwnedRun& run, const AppendOptions& options) {
    Ack refused;
    refused.run_id = run.run_id;
    refused.idempotency_key = options.idempotency_key;
    refused.events = RefusedEvents();
    auto result =
        shared_.store->Append(run.run_id, std::span<const EventInput>(refused.events), options);
    if (!result.status().IsConflict()) {
      Fail("a conflicting append to " + run.run_id + " was answered " +
           (result.ok() ? std::string("OK") : result.status().ToString()));
    }
    auto info = shared_.store->GetRun(run.run_id);
    const uint64_t head = info.ok() ? info->head_sequence : 0;
    if ((!info.ok() && !(run.head == 0 && info.status().IsNotFound())) || head != run.head) {
      Fail("after a refused append " + run.run_id + " has head " + std::to_string(head) + " (" +
           info.status().ToString() + "), not " + std::to_string(run.head));
    }
    Print(FormatRefused(refused));
    return true;
  }

  bool RefuseStaleHead() {
    const OwnedRun& run = PickRun();
    AppendOptions options;
    options.durability = Durability::kSync;
    // A head the run had once (or, for a run not yet created, one it never had).
    options.expected_head = run.head > 0 ? random_() % run.head : 1 + random_() % 3;
    return ExpectConflict(run, options);
  }

  // False when there is no key to reuse yet.
  bool RefuseReusedKey() {
    if (keyed_.empty()) return false;
    const KeyedAppend& first = keyed_[random_() % keyed_.size()];
    // The key's own run with other events, or another run.
    const bool same_run = random_() % 2 == 0;
    auto owned = std::find_if(runs_.begin(), runs_.end(), [&](const OwnedRun& run) {
      return (run.run_id == first.run_id) == same_run;
    });
    if (owned == runs_.end()) owned = runs_.begin();
    AppendOptions options;
    options.durability = Durability::kSync;
    options.idempotency_key = first.key;
    return ExpectConflict(*owned, options);
  }

  // False when no fork is due (the bounds are reached, or no run to fork).
  bool Fork() {
    if (forks_made_ >= kMaxForksPerChild || shared_.forks.load() >= kMaxForksPerStore) return false;
    const OwnedRun& parent = PickRun();
    if (parent.head == 0 || parent.fork_chain >= kMaxForkChain) return false;
    const size_t fork_chain = parent.fork_chain + 1;
    ForkAck ack;
    ack.parent_run_id = parent.run_id;
    ack.at_sequence = 1 + random_() % parent.head;
    ack.run_id = std::string(random_() % 2 == 0 ? "p-f" : "s-f") + shared_.iteration + "-" +
                 std::to_string(thread_) + "-" + std::to_string(n_);
    ForkOptions options;
    options.durability = Durability::kSync;
    options.reason = "crash loop " + Tag();
    options.actor_id = "crash-child";
    ++forks_made_;
    ++shared_.forks;
    Print("BEGIN fork\n");
    auto forked = shared_.store->Fork(ack.parent_run_id, ack.at_sequence, ack.run_id, options);
    if (!forked.ok()) Fail("fork of " + ack.parent_run_id + ": " + forked.status().ToString());
    if (forked->first_sequence != ack.at_sequence + 1 ||
        forked->last_sequence != ack.at_sequence + 1) {
      Fail("fork " + ack.run_id + " at " + std::to_string(ack.at_sequence) + " got RunForked at " +
           std::to_string(forked->first_sequence));
    }
    auto info = shared_.store->GetRun(ack.run_id);
    if (!info.ok()) Fail("new fork " + ack.run_id + ": " + info.status().ToString());
    Print(FormatFork(ack));
    OwnedRun fork;
    fork.run_id = ack.run_id;
    fork.head = ack.at_sequence + 1;
    fork.lease_epoch = info->lease_epoch;
    fork.fork_chain = fork_chain;
    runs_.push_back(std::move(fork));
    return true;
  }

  // False when no "s-" run of this thread has an event yet.
  bool Snapshot() {
    const OwnedRun& run = PickRun();
    if (!HasExplicitSnapshots(run.run_id) || run.head == 0) return false;
    SnapshotAck ack;
    ack.run_id = run.run_id;
    ack.sequence = random_() % 2 == 0 ? run.head : 1 + random_() % run.head;
    StateInfo info;
    auto state =
        shared_.projector->StateAt(run.run_id, kRunStateProjectionName, ack.sequence, &info);
    if (!state.ok()) Fail("state of " + run.run_id + ": " + state.status().ToString());
    if (!info.bypassed.empty()) {
      Fail("state of " + run.run_id + " bypassed a snapshot: " + info.bypassed.front().ToString());
    }
    const std::string encoded = (*state)->Encode();
    ack.state_sha256 = std::string(internal::HashView(internal::Sha256(encoded)));
    Print("BEGIN snapshot\n");
    Status put =
        shared_.store->PutSnapshot(run.run_id, kRunStateProjectionName, kRunStateProjectionVersion,
                                   ack.sequence, encoded, Durability::kSync);
    if (!put.ok()) Fail("snapshot of " + run.run_id + ": " + put.ToString());
    Print(FormatSnapshot(ack));
    return true;
  }

  Shared& shared_;
  const size_t thread_;
  std::mt19937_64 random_;
  std::vector<OwnedRun> runs_;
  std::vector<KeyedAppend> keyed_;
  size_t forks_made_ = 0;
  uint64_t n_ = 0;
};

// Every run in the store, and the base runs not created yet.
std::map<std::string, OwnedRun> FindRuns(Store& store) {
  auto found = ListAllRuns(store);
  if (!found.ok()) Fail("listing runs: " + found.status().ToString());
  const std::map<std::string, RunInfo>& infos = *found;
  std::map<std::string, OwnedRun> runs;
  for (size_t i = 0; i < kBaseRunCount; ++i) runs[BaseRunId(i)].run_id = BaseRunId(i);
  for (const auto& [run_id, info] : infos) {
    OwnedRun& run = runs[run_id];
    run.run_id = run_id;
    run.head = info.head_sequence;
    run.lease_epoch = info.lease_epoch;
    // Bounded: a parent chain is at most kMaxForkChain long (Fork above).
    for (auto parent = infos.find(info.parent_run_id);
         parent != infos.end() && run.fork_chain <= kMaxForkChain;
         parent = infos.find(parent->second.parent_run_id)) {
      ++run.fork_chain;
    }
  }
  return runs;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: %s STORE_DIR ITERATION SEED\n", argv[0]);
    return 2;
  }
  ::signal(SIGPIPE, SIG_IGN);
  const std::string path = argv[1];
  Shared shared;
  shared.iteration = argv[2];
  shared.seed = std::strtoull(argv[3], nullptr, 10);
  Options options;
  options.clock = SystemClock();
  auto store = Store::Open(options, path);
  if (!store.ok()) Fail("open " + path + ": " + store.status().ToString());
  Print("READY\n");
  shared.store = store->get();

  std::mt19937_64 random(shared.seed);
  ProjectorOptions projector_options;
  projector_options.policy.every_events = 10;
  projector_options.policy.on_checkpoint = true;
  projector_options.policy.around_steps = random() % 2 == 0;
  projector_options.policy.keep_latest = 3;
  projector_options.policy.keep_older_every = 30;
  // Both survive a process kill; kBuffered ones just may not survive a power cut.
  projector_options.snapshot_durability =
      random() % 2 == 0 ? Durability::kSync : Durability::kBuffered;
  auto projector = Projector::Create(shared.store, projector_options);
  Status registered = projector->Register(NewRunStateProjection());
  if (!registered.ok()) Fail("register: " + registered.ToString());
  shared.projector = projector.get();

  std::vector<std::vector<OwnedRun>> owned(kThreads);
  size_t index = 0;
  for (auto& [run_id, run] : FindRuns(*shared.store)) {
    if (run.fork_chain > 0) ++shared.forks;
    owned[index++ % kThreads].push_back(std::move(run));
  }
  std::vector<std::unique_ptr<Worker>> workers;
  std::vector<std::thread> threads;
  for (size_t thread = 0; thread < kThreads; ++thread) {
    workers.push_back(std::make_unique<Worker>(&shared, thread, std::move(owned[thread])));
    threads.emplace_back(&Worker::Loop, workers.back().get());
  }
  for (std::thread& thread : threads) thread.join();  // never: killed first
  return 0;
}
