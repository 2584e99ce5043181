// bench/bench_util.h: what every benchmark here shares: timing loops with
// latency samples, percentiles, the disk's fsync floor, peak RSS per
// workload, directory sizes, the payload every workload appends.
#ifndef AGENTLOG_BENCH_BENCH_UTIL_H_
#define AGENTLOG_BENCH_BENCH_UTIL_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace agentlog_bench {

using Steady = std::chrono::steady_clock;

[[noreturn]] void Fail(const std::string& what, const std::string& message);

double Seconds(Steady::duration duration);

// A FlatBuffer MessageAppended event whose text is `bytes` of words: what
// the agentlog workloads append, and the very bytes the baselines store.
std::string MakePayload(size_t bytes);

// Operations per second of a timed loop, and the latency of each operation
// (microseconds, every operation of every thread).
struct LoopResult {
  double per_second = 0;
  uint64_t operations = 0;
  std::vector<double> latencies_us;
  double cpu_us = 0;  // user + system CPU time of the whole process during the loop
};

// Runs `operation(thread, i)` on `threads` threads for `seconds`. One loop
// times agentlog and every baseline the same way.
LoopResult RunLoop(int threads, double seconds, const std::function<void(int, uint64_t)>& operation);

// The p-th percentile (0..100) of `values` (sorted in place); 0 if empty.
double Percentile(std::vector<double>& values, double p);

// One small write + fdatasync per loop, for `seconds`: the floor for one
// durable append at a time. Writes per second.
double FsyncFloor(const std::string& dir, double seconds);

// Resets the kernel's peak-RSS mark (VmHWM) so the next PeakRssMiB covers
// only what ran in between (Linux /proc/self/clear_refs).
void ResetPeakRss();
double PeakRssMiB();

// Bytes of the regular files under `dir`.
uint64_t DirBytes(const std::string& dir);

}  // namespace agentlog_bench

#endif  // AGENTLOG_BENCH_BENCH_UTIL_H_
