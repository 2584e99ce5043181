// bench/state_at_workload.h: time travel latency. A run of N generated
// events (testing/run_generator.h: a realistic mix of turns, steps, retries,
// approvals, knowledge and conversation) is loaded through a Projector with
// the default snapshot policy; then StateAt of the run-state projection at
// random points, with those snapshots and with none (a fold from event 1).
#ifndef AGENTLOG_BENCH_STATE_AT_WORKLOAD_H_
#define AGENTLOG_BENCH_STATE_AT_WORKLOAD_H_

#include <cstdint>
#include <string>

namespace agentlog_bench {

struct StateAtLatency {
  double p50_ms = 0, p99_ms = 0, max_ms = 0, mean_ms = 0;
  double mean_folded = 0;  // events folded per answer
};

struct StateAtResult {
  StateAtLatency with_snapshots;
  StateAtLatency without_snapshots;
  size_t snapshots = 0;
  double load_seconds = 0;       // appending the run with inline snapshots
  size_t state_bytes = 0;        // the run-state at the head
  double snapshot_mib = 0;       // state bytes the kept snapshots hold
};

StateAtResult RunStateAt(const std::string& dir, uint64_t events, size_t samples, size_t cold_samples);

}  // namespace agentlog_bench

#endif  // AGENTLOG_BENCH_STATE_AT_WORKLOAD_H_
