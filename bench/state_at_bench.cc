// bench/state_at_bench.cc: time travel latency. For runs of N generated
// events (tests/run_generator.h: a realistic mix of turns, steps, retries,
// approvals, knowledge and conversation), StateAt of the run-state
// projection at random points, with the default snapshot policy and with
// no snapshots at all (a fold from event 1, the baseline).
//
//   agentlog_state_at_bench [--events 10000,100000,1000000] [--samples 200]
//                           [--cold-samples 20] [--dir DIR]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "agentlog/agentlog.h"
#include "agentlog/projector.h"
#include "agentlog/run_state.h"
#include "tests/run_generator.h"

using namespace agentlog;
using Steady = std::chrono::steady_clock;

namespace {

double Seconds(Steady::duration d) { return std::chrono::duration<double>(d).count(); }

void Check(const Status& status, const char* what) {
  if (!status.ok()) {
    std::fprintf(stderr, "%s: %s\n", what, status.ToString().c_str());
    std::exit(1);
  }
}

struct Latency {
  double p50_ms = 0, p99_ms = 0, max_ms = 0, mean_ms = 0;
  double mean_folded = 0;
};

Latency Measure(Projector& projector, const std::string& run_id, uint64_t events, size_t samples,
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
  std::sort(ms.begin(), ms.end());
  Latency latency;
  latency.p50_ms = ms[ms.size() / 2];
  latency.p99_ms = ms[std::min(ms.size() - 1, ms.size() * 99 / 100)];
  latency.max_ms = ms.back();
  for (double m : ms) latency.mean_ms += m / static_cast<double>(ms.size());
  latency.mean_folded = folded / static_cast<double>(samples);
  return latency;
}

std::unique_ptr<Projector> NewProjector(Store& store) {
  auto projector = Projector::Create(&store, ProjectorOptions{});
  Check(projector->Register(NewRunStateProjection()), "Register");
  return projector;
}

std::vector<uint64_t> ParseList(const std::string& text) {
  std::vector<uint64_t> values;
  std::stringstream in(text);
  for (std::string item; std::getline(in, item, ',');) values.push_back(std::stoull(item));
  return values;
}

}  // namespace

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // rows appear as each size finishes
  std::vector<uint64_t> sizes{10000, 100000, 1000000};
  size_t samples = 200, cold_samples = 20;
  std::string base = std::filesystem::temp_directory_path() / "agentlog_state_at_bench";
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--events") sizes = ParseList(value);
    else if (flag == "--samples") samples = std::stoull(value);
    else if (flag == "--cold-samples") cold_samples = std::stoull(value);
    else if (flag == "--dir") base = value;
    else {
      std::fprintf(stderr, "unknown flag %s\n", flag.c_str());
      return 2;
    }
  }
  std::printf("%-9s %-13s %9s %9s %9s %9s %12s\n", "events", "snapshots", "p50 ms", "p99 ms", "max ms",
              "mean ms", "mean folded");
  for (uint64_t events : sizes) {
    const std::string dir = base + "-" + std::to_string(events);
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
        std::fprintf(stderr, "  loaded %llu of %llu events\n", static_cast<unsigned long long>(done),
                     static_cast<unsigned long long>(events));
      }
    }
    const double load_s = Seconds(Steady::now() - load_start);
    auto snapshots = (*store)->ReadSnapshots("bench-run", kRunStateProjectionName, UINT64_MAX, kMaxReadLimit);
    Check(snapshots.status(), "ReadSnapshots");
    const size_t state_bytes = snapshots->empty() ? 0 : snapshots->front().state.size();
    size_t snapshot_bytes = 0;
    for (const SnapshotEntry& entry : *snapshots) snapshot_bytes += entry.state.size();

    std::mt19937_64 random(events);
    auto reader = NewProjector(**store);  // no cached state: every answer starts from a snapshot
    const Latency with = Measure(*reader, "bench-run", events, samples, random);
    Check((*store)->DeleteSnapshots("bench-run", "", {}), "DeleteSnapshots");
    auto cold = NewProjector(**store);
    const Latency without = Measure(*cold, "bench-run", events, cold_samples, random);
    std::printf("%-9llu %-13s %9.3f %9.3f %9.3f %9.3f %12.0f\n", static_cast<unsigned long long>(events),
                ("default(" + std::to_string(snapshots->size()) + ")").c_str(), with.p50_ms, with.p99_ms,
                with.max_ms, with.mean_ms, with.mean_folded);
    std::printf("%-9llu %-13s %9.3f %9.3f %9.3f %9.3f %12.0f\n", static_cast<unsigned long long>(events), "none",
                without.p50_ms, without.p99_ms, without.max_ms, without.mean_ms, without.mean_folded);
    std::printf("          load %.1f s (%.0f events/s with inline snapshots); state at head %zu bytes; "
                "snapshots hold %.1f MiB of state; speedup of mean latency %.1fx\n",
                load_s, static_cast<double>(events) / load_s, state_bytes,
                static_cast<double>(snapshot_bytes) / (1 << 20), without.mean_ms / with.mean_ms);
    std::fflush(stdout);
    Check((*store)->Close(), "Close");
    std::filesystem::remove_all(dir);
  }
  return 0;
}
