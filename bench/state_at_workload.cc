// bench/state_at_workload.cc: see state_at_workload.h.
#include "bench/state_at_workload.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <random>
#include <vector>

#include "agentlog/agentlog.h"
#include "bench/bench_util.h"
#include "testing/run_generator.h"

namespace agentlog_bench {
namespace {

using namespace agentlog;

void Check(const Status& status, const char* what) {
  if (!status.ok()) Fail(what, status.ToString());
}

StateAtLatency Measure(Projector& projector, const std::string& run_id, uint64_t events, size_t samples,
                       std::mt19937_64& random) {
  std::vector<double> ms;
  double folded = 0;
  for (size_t i = 0; i < samples; ++i) {
    const uint64_t n = std::uniform_int_distribution<uint64_t>(1, events)(random);
    StateInfo info;
    const auto start = Steady::now();
    auto state = projector.StateAt(run_id, kRunStateProjectionName, n, &info);
    ms.push_back(Seconds(Steady::now() - start) * 1000);
    Check(state.status(), "StateAt");
    folded += static_cast<double>(info.events_folded);
  }
  StateAtLatency latency;
  for (double m : ms) latency.mean_ms += m / static_cast<double>(ms.size());
  latency.p50_ms = Percentile(ms, 50);
  latency.p99_ms = Percentile(ms, 99);
  latency.max_ms = ms.empty() ? 0 : ms.back();
  latency.mean_folded = folded / static_cast<double>(std::max<size_t>(samples, 1));
  return latency;
}

std::unique_ptr<Projector> NewProjector(Store& store) {
  auto projector = Projector::Create(&store, ProjectorOptions{});
  Check(projector->Register(NewRunStateProjection()), "Register");
  return projector;
}

}  // namespace

StateAtResult RunStateAt(const std::string& dir, uint64_t events, size_t samples, size_t cold_samples) {
  std::filesystem::remove_all(dir);
  Options options;
  options.clock = SystemClock();
  auto store = Store::Open(options, dir);
  Check(store.status(), "Open");
  auto writer = NewProjector(**store);
  testing::RunGenerator generator(events);
  const auto load_start = Steady::now();
  AppendOptions append;
  append.durability = Durability::kBuffered;
  for (uint64_t done = 0; done < events;) {
    const size_t batch = static_cast<size_t>(std::min<uint64_t>(1000, events - done));
    std::vector<EventInput> inputs = generator.Next(batch);
    Check(writer->Append("bench-run", inputs, append).status(), "Append");  // snapshots inline
    done += batch;
    if (done % 100000 == 0 && done < events) {
      std::fprintf(stderr, "  state_at: loaded %llu of %llu events\n",
                   static_cast<unsigned long long>(done), static_cast<unsigned long long>(events));
    }
  }
  StateAtResult result;
  result.load_seconds = Seconds(Steady::now() - load_start);
  auto snapshots = (*store)->ReadSnapshots("bench-run", kRunStateProjectionName, UINT64_MAX, kMaxReadLimit);
  Check(snapshots.status(), "ReadSnapshots");
  result.snapshots = snapshots->size();
  result.state_bytes = snapshots->empty() ? 0 : snapshots->front().state.size();
  size_t snapshot_bytes = 0;
  for (const SnapshotEntry& entry : *snapshots) snapshot_bytes += entry.state.size();
  result.snapshot_mib = static_cast<double>(snapshot_bytes) / (1 << 20);

  std::mt19937_64 random(events);
  auto reader = NewProjector(**store);  // no cached state: every answer starts from a snapshot
  result.with_snapshots = Measure(*reader, "bench-run", events, samples, random);
  Check((*store)->DeleteSnapshots("bench-run", "", {}), "DeleteSnapshots");
  auto cold = NewProjector(**store);
  result.without_snapshots = Measure(*cold, "bench-run", events, cold_samples, random);
  Check((*store)->Close(), "Close");
  std::filesystem::remove_all(dir);
  return result;
}

}  // namespace agentlog_bench
