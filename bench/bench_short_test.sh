#!/usr/bin/env bash
# bench/bench_short_test.sh AGENTLOG_BENCH: CI's run of the
# benchmarks in their short mode (seconds). Every workload must complete
# (agentlog_bench exits non-zero on any error), and --json must print one
# line (nlohmann-json's dump) holding a row per workload. Figures are printed, never asserted:
# targets are judged from the full mode's table (bench/README.md).
set -euo pipefail
bench=$1
out=$(mktemp)
trap 'rm -f "$out"' EXIT
"$bench" --mode short --json >"$out"
[[ $(wc -l <"$out") -eq 1 ]] && grep -q '^{"mode":"short","payload_bytes":512,"rows":\[{' "$out" ||
  { cat "$out" >&2; echo "bench_short: --json is not one JSON object on one line" >&2; exit 1; }
for workload in 'sync append, 32 appender' 'buffered append, 100 events' 'read a run forward' \
                'read the global feed' 'disk bytes per event' 'subscription lag' 'StateAt, run of' \
                'open + first sync append'; do
  grep -q "\"workload\":\"$workload" "$out" || { echo "bench_short: no row for $workload" >&2; exit 1; }
done
echo "bench_short: 9 checks passed, 0 failed"
