// tests/crash_child.cc: agentlog_crash_child, the process tests/crash_test.cc
// kills with SIGKILL.
//
//   agentlog_crash_child STORE_DIR ITERATION SEED
//
// Opens (or creates) the store, prints READY, then appends from several
// threads to several runs with Durability::kSync -- single and multi-event
// appends, some with idempotency keys, now and then an idempotent repeat of
// an earlier one -- and after EACH acknowledged append prints one ACK line
// (tests/crash_protocol.h) with a single write(2), so the parent knows every
// append the store promised to keep. Runs until killed; exits by itself only
// on an error (an ERR line, exit status 3), when its output pipe is closed,
// or after a safety deadline.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <random>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "crash_protocol.h"

namespace {

using namespace agentlog;
using namespace agentlog::testing::crash;

constexpr int kThreads = 4;
constexpr auto kSafetyDeadline = std::chrono::seconds(120);

std::mutex output_mu;

// One line, one write(2) (shorter than PIPE_BUF, so never torn by a kill
// between two writes); the lock keeps lines of different threads apart.
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

struct KeyedAppend {
  std::string run_id;
  std::string key;
  std::vector<std::string> payloads;
  AppendResult result;
};

std::string Filler(std::mt19937_64& random) {
  static constexpr char kLetters[] = "abcdefghijklmnopqrstuvwxyz0123456789 ";
  std::string text(random() % 100, ' ');
  for (char& c : text) c = kLetters[random() % (sizeof(kLetters) - 1)];
  return text;
}

void Repeat(Store& store, const KeyedAppend& first) {
  std::vector<EventInput> events;
  for (const std::string& payload : first.payloads) events.push_back(EventFor(payload));
  AppendOptions options;
  options.durability = Durability::kSync;
  options.idempotency_key = first.key;
  auto result = store.Append(first.run_id, std::span<const EventInput>(events), options);
  if (!result.ok()) Fail("repeat of key " + first.key + ": " + result.status().ToString());
  if (!result->replayed || result->first_sequence != first.result.first_sequence ||
      result->last_sequence != first.result.last_sequence ||
      result->first_position != first.result.first_position) {
    Fail("repeat of key " + first.key + " was not answered with the first append's numbers");
  }
}

void AppendLoop(Store& store, int thread, const std::string& iteration, uint64_t seed) {
  std::mt19937_64 random(seed * 1000 + static_cast<uint64_t>(thread));
  std::vector<KeyedAppend> keyed;
  const auto deadline = std::chrono::steady_clock::now() + kSafetyDeadline;
  for (uint64_t n = 1;; ++n) {
    if (std::chrono::steady_clock::now() > deadline) _exit(4);
    if (!keyed.empty() && random() % 10 == 0) {
      Repeat(store, keyed[random() % keyed.size()]);
      continue;
    }
    Ack ack;
    ack.run_id = kRunIds[random() % kRunCount];
    const size_t count = random() % 3 == 0 ? 2 + random() % (kMaxEventsPerAppend - 1) : 1;
    std::vector<EventInput> events;
    for (size_t i = 0; i < count; ++i) {
      ack.payloads.push_back(MessagePayloadFor("iteration " + iteration + " thread " +
                                               std::to_string(thread) + " append " +
                                               std::to_string(n) + " event " + std::to_string(i) +
                                               " " + Filler(random)));
      events.push_back(EventFor(ack.payloads.back()));
    }
    if (random() % 3 == 0) {
      ack.idempotency_key = "i" + iteration + "-t" + std::to_string(thread) + "-n" + std::to_string(n);
    }
    AppendOptions options;
    options.durability = Durability::kSync;
    options.idempotency_key = ack.idempotency_key;
    auto result = store.Append(ack.run_id, std::span<const EventInput>(events), options);
    if (!result.ok()) Fail("append to " + ack.run_id + ": " + result.status().ToString());
    if (result->replayed) Fail("a fresh idempotency key " + ack.idempotency_key + " was replayed");
    ack.first_sequence = result->first_sequence;
    ack.last_sequence = result->last_sequence;
    Print(FormatAck(ack));
    if (!ack.idempotency_key.empty()) {
      keyed.push_back(KeyedAppend{ack.run_id, ack.idempotency_key, ack.payloads, *result});
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: %s STORE_DIR ITERATION SEED\n", argv[0]);
    return 2;
  }
  ::signal(SIGPIPE, SIG_IGN);
  const std::string path = argv[1];
  const std::string iteration = argv[2];
  const uint64_t seed = std::strtoull(argv[3], nullptr, 10);
  Options options;
  options.clock = SystemClock();
  auto store = Store::Open(options, path);
  if (!store.ok()) Fail("open " + path + ": " + store.status().ToString());
  Print("READY\n");
  std::vector<std::thread> threads;
  for (int thread = 0; thread < kThreads; ++thread) {
    threads.emplace_back(AppendLoop, std::ref(**store), thread, iteration, seed);
  }
  for (std::thread& thread : threads) thread.join();  // never: killed first
  return 0;
}
