// bench/bench_util.cc: see bench_util.h.
#include "bench/bench_util.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include "agentlog/agentlog.h"

namespace agentlog_bench {

void Fail(const std::string& what, const std::string& message) {
  std::fprintf(stderr, "agentlog_bench: %s: %s\n", what.c_str(), message.c_str());
  std::exit(1);
}

double Seconds(Steady::duration duration) { return std::chrono::duration<double>(duration).count(); }

std::string MakePayload(size_t bytes) {
  // Words drawn from a fixed seed: text that compresses like an agent's
  // messages do (a run of one letter would compress to nothing and flatter
  // the space figures).
  static const char* const kWords[] = {"the", "agent", "tool", "called", "returned", "document",
                                       "report", "latency", "p99", "retry", "approval", "step",
                                       "plan", "customer", "invoice", "error", "timeout", "2026"};
  std::string message;
  uint64_t state = 0x9E3779B97F4A7C15ull;
  while (message.size() < bytes) {
    state ^= state << 13, state ^= state >> 7, state ^= state << 17;
    message += kWords[state % (sizeof kWords / sizeof kWords[0])];
    message += ' ';
  }
  message.resize(bytes);
  flatbuffers::FlatBufferBuilder builder;
  auto text = builder.CreateString(message);
  auto role = builder.CreateString("assistant");
  auto body = agentlog::fb::CreateMessageAppended(builder, role, text);
  builder.Finish(agentlog::fb::CreateEvent(builder, agentlog::fb::Body_MessageAppended, body.Union()));
  return std::string(reinterpret_cast<const char*>(builder.GetBufferPointer()), builder.GetSize());
}

namespace {

double ProcessCpuMicros() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) * 1e6 +
         static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec);
}

}  // namespace

LoopResult RunLoop(int threads, double seconds, const std::function<void(int, uint64_t)>& operation) {
  std::atomic<bool> stop{false};
  std::mutex merge;
  LoopResult result;
  std::vector<std::thread> workers;
  const double cpu_start = ProcessCpuMicros();
  const auto start = Steady::now();
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      std::vector<double> latencies;
      uint64_t done = 0;
      while (!stop.load(std::memory_order_relaxed)) {
        const auto begin = Steady::now();
        operation(t, done++);
        latencies.push_back(Seconds(Steady::now() - begin) * 1e6);
      }
      std::lock_guard<std::mutex> lock(merge);
      result.operations += done;
      result.latencies_us.insert(result.latencies_us.end(), latencies.begin(), latencies.end());
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto& worker : workers) worker.join();
  result.per_second = static_cast<double>(result.operations) / Seconds(Steady::now() - start);
  result.cpu_us = ProcessCpuMicros() - cpu_start;
  return result;
}

double Percentile(std::vector<double>& values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const size_t index = std::min(values.size() - 1, static_cast<size_t>(p / 100 * values.size()));
  return values[index];
}

double FsyncFloor(const std::string& dir, double seconds) {
  const std::string path = dir + "/fsync_probe";
  const int fd = ::open(path.c_str(), O_CREAT | O_WRONLY | O_TRUNC, 0644);
  if (fd < 0) Fail("open " + path, std::strerror(errno));
  char block[512];
  std::memset(block, 'y', sizeof(block));
  const LoopResult loop = RunLoop(1, seconds, [&](int, uint64_t) {
    if (::write(fd, block, sizeof(block)) != static_cast<ssize_t>(sizeof(block)) || ::fdatasync(fd) != 0) {
      Fail("fsync probe", std::strerror(errno));
    }
  });
  ::close(fd);
  std::filesystem::remove(path);
  return loop.per_second;
}

void ResetPeakRss() {
  std::ofstream clear("/proc/self/clear_refs");
  clear << "5";  // 5: reset the peak resident set size
}

double PeakRssMiB() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::strtod(line.c_str() + 6, nullptr) / 1024;  // kB
  }
  return 0;
}

uint64_t DirBytes(const std::string& dir) {
  uint64_t bytes = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir)) {
    if (entry.is_regular_file()) bytes += entry.file_size();
  }
  return bytes;
}

}  // namespace agentlog_bench
