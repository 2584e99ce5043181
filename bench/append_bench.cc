// bench/append_bench.cc: appends per second through the public API, per
// durability mode, at 1 and 32 appenders, beside two baselines measured in
// the same process: the disk's fsync floor (one small write + fdatasync per
// loop) and raw RocksDB (default options, 64 MiB write buffer) putting a
// value of the same size under a 40-byte key, with the same sync flag and
// thread count. The full benchmark suite (SQLite, reads, time travel, space)
// is a separate issue; this program gives the first figures as ratios.
//
// Usage: agentlog_append_bench [--seconds S] [--dir DIR] [--payload BYTES]
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <rocksdb/db.h>

#include "agentlog/agentlog.h"

namespace {

using Clock = std::chrono::steady_clock;

std::string MakePayload(size_t bytes) {
  flatbuffers::FlatBufferBuilder builder;
  auto text = builder.CreateString(std::string(bytes, 'x'));
  auto role = builder.CreateString("assistant");
  auto body = agentlog::fb::CreateMessageAppended(builder, role, text);
  builder.Finish(agentlog::fb::CreateEvent(builder, agentlog::fb::Body_MessageAppended, body.Union()));
  return std::string(reinterpret_cast<const char*>(builder.GetBufferPointer()), builder.GetSize());
}

double FsyncFloor(const std::string& dir, double seconds) {
  const std::string path = dir + "/fsync_probe";
  int fd = ::open(path.c_str(), O_CREAT | O_WRONLY | O_TRUNC, 0644);
  if (fd < 0) {
    std::perror("open fsync probe");
    std::exit(1);
  }
  char block[512];
  std::memset(block, 'y', sizeof(block));
  uint64_t count = 0;
  const auto start = Clock::now();
  while (std::chrono::duration<double>(Clock::now() - start).count() < seconds) {
    if (::write(fd, block, sizeof(block)) != static_cast<ssize_t>(sizeof(block)) || ::fdatasync(fd) != 0) {
      std::perror("fsync probe");
      std::exit(1);
    }
    ++count;
  }
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  ::close(fd);
  std::filesystem::remove(path);
  return count / elapsed;
}

// Runs `operation(thread, i)` in a loop on `threads` threads for `seconds`
// and returns operations per second. One loop for agentlog and for the
// baseline, so that both are timed the same way.
template <typename Operation>
double OperationsPerSecond(int threads, double seconds, const Operation& operation) {
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> total{0};
  std::vector<std::thread> workers;
  const auto start = Clock::now();
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      uint64_t done = 0;
      while (!stop.load(std::memory_order_relaxed)) operation(t, done++);
      total += done;
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto& worker : workers) worker.join();
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  return total.load() / elapsed;
}

[[noreturn]] void Fail(const char* what, const std::string& message) {
  std::fprintf(stderr, "%s: %s\n", what, message.c_str());
  std::exit(1);
}

double AppendRate(const std::string& dir, int threads, agentlog::Durability durability,
                  const std::string& payload, double seconds) {
  std::filesystem::remove_all(dir);
  agentlog::Options options;
  options.clock = agentlog::SystemClock();
  auto store = agentlog::Store::Open(options, dir);
  if (!store.ok()) Fail("open", store.status().ToString());
  agentlog::EventInput input;
  input.payload = payload;
  agentlog::AppendOptions append_options;
  append_options.durability = durability;
  std::vector<std::string> run_ids;
  for (int t = 0; t < threads; ++t) run_ids.push_back("bench-run-" + std::to_string(t));
  const double rate = OperationsPerSecond(threads, seconds, [&](int thread, uint64_t) {
    auto result = (*store)->Append(run_ids[thread], std::span(&input, 1), append_options);
    if (!result.ok()) Fail("append", result.status().ToString());
  });
  if (auto status = (*store)->Close(); !status.ok()) Fail("close", status.ToString());
  std::filesystem::remove_all(dir);
  return rate;
}

double RawRocksDbRate(const std::string& dir, int threads, bool sync, size_t value_bytes,
                      double seconds) {
  std::filesystem::remove_all(dir);
  rocksdb::Options options;
  options.create_if_missing = true;
  options.write_buffer_size = size_t{64} << 20;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status status = rocksdb::DB::Open(options, dir, &raw);
  if (!status.ok()) Fail("rocksdb open", status.ToString());
  std::unique_ptr<rocksdb::DB> db(raw);
  const std::string value(value_bytes, 'v');
  rocksdb::WriteOptions write_options;
  write_options.sync = sync;
  const double rate = OperationsPerSecond(threads, seconds, [&](int thread, uint64_t i) {
    char key[41];
    std::snprintf(key, sizeof(key), "bench-run-%02d-%027llu", thread,
                  static_cast<unsigned long long>(i));
    rocksdb::Status put = db->Put(write_options, rocksdb::Slice(key, 40), value);
    if (!put.ok()) Fail("rocksdb put", put.ToString());
  });
  db.reset();
  std::filesystem::remove_all(dir);
  return rate;
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = 3;
  std::string dir = std::filesystem::temp_directory_path() / "agentlog_append_bench";
  size_t payload_bytes = 512;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--seconds") == 0) seconds = std::atof(argv[i + 1]);
    else if (std::strcmp(argv[i], "--dir") == 0) dir = argv[i + 1];
    else if (std::strcmp(argv[i], "--payload") == 0) payload_bytes = std::strtoul(argv[i + 1], nullptr, 10);
    else {
      std::fprintf(stderr, "usage: %s [--seconds S] [--dir DIR] [--payload BYTES]\n", argv[0]);
      return 2;
    }
  }
  std::filesystem::create_directories(dir);
  const std::string payload = MakePayload(payload_bytes);
  const double floor = FsyncFloor(dir, seconds);
  std::printf("payload %zu bytes (FlatBuffer %zu bytes), %.1f s per figure\n", payload_bytes,
              payload.size(), seconds);
  std::printf("fdatasync floor (512 B writes): %.0f /s\n", floor);
  std::printf("%-30s %12s %12s %10s %10s\n", "appends (1 event each)", "agentlog/s", "rocksdb/s",
              "vs rocksdb", "vs fsync");
  for (auto [name, durability] : {std::pair{"sync", agentlog::Durability::kSync},
                                  std::pair{"buffered", agentlog::Durability::kBuffered}}) {
    for (int threads : {1, 32}) {
      const double rate = AppendRate(dir + "/store", threads, durability, payload, seconds);
      const double baseline = RawRocksDbRate(dir + "/rocksdb", threads,
                                             durability == agentlog::Durability::kSync,
                                             payload.size(), seconds);
      char label[64];
      std::snprintf(label, sizeof(label), "%s, %d appender(s)", name, threads);
      std::printf("%-30s %12.0f %12.0f %9.2fx %9.2fx\n", label, rate, baseline, rate / baseline,
                  rate / floor);
    }
  }
  return 0;
}
