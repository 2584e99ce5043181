// bench/state_at_bench.cc: time travel latency alone, for longer runs than
// agentlog_bench's modes load (bench/state_at_workload.h says what is
// measured).
//
//   agentlog_state_at_bench [--events 10000,100000,1000000] [--samples 200]
//                           [--cold-samples 20] [--dir DIR]
#include <cstdio>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "bench/state_at_workload.h"

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // rows appear as each size finishes
  std::vector<uint64_t> sizes{10000, 100000, 1000000};
  size_t samples = 200, cold_samples = 20;
  std::string base = std::filesystem::temp_directory_path() / "agentlog_state_at_bench";
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--events") {
      sizes.clear();
      std::stringstream in(value);
      for (std::string item; std::getline(in, item, ',');) sizes.push_back(std::stoull(item));
    } else if (flag == "--samples") {
      samples = std::stoull(value);
    } else if (flag == "--cold-samples") {
      cold_samples = std::stoull(value);
    } else if (flag == "--dir") {
      base = value;
    } else {
      std::fprintf(stderr, "unknown flag %s\n", flag.c_str());
      return 2;
    }
  }
  std::printf("%-9s %-13s %9s %9s %9s %9s %12s\n", "events", "snapshots", "p50 ms", "p99 ms", "max ms",
              "mean ms", "mean folded");
  for (uint64_t events : sizes) {
    const agentlog_bench::StateAtResult r =
        agentlog_bench::RunStateAt(base + "-" + std::to_string(events), events, samples, cold_samples);
    for (const auto& [label, l] : {std::pair{"default(" + std::to_string(r.snapshots) + ")", r.with_snapshots},
                                   std::pair{std::string("none"), r.without_snapshots}}) {
      std::printf("%-9llu %-13s %9.3f %9.3f %9.3f %9.3f %12.0f\n", static_cast<unsigned long long>(events),
                  label.c_str(), l.p50_ms, l.p99_ms, l.max_ms, l.mean_ms, l.mean_folded);
    }
    std::printf("          load %.1f s (%.0f events/s with inline snapshots); state at head %zu bytes; "
                "snapshots hold %.1f MiB of state; speedup of mean latency %.1fx\n",
                r.load_seconds, static_cast<double>(events) / r.load_seconds, r.state_bytes, r.snapshot_mib,
                r.without_snapshots.mean_ms / r.with_snapshots.mean_ms);
  }
  return 0;
}
