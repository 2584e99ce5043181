#!/usr/bin/env bash
# tests/fuzz.sh BUILD_DIR [SECONDS_PER_TARGET]: runs every libFuzzer target
# of tests/fuzz/ for SECONDS_PER_TARGET (default 600: for people; CI passes
# about 20) over its seed corpus, one after the other.
#
# BUILD_DIR is a clang build with -DAGENTLOG_FUZZ=ON (tests/fuzz/README.md).
# New inputs go to a scratch corpus outside the tree (AGENTLOG_FUZZ_SCRATCH,
# default a new /tmp/agentlog_fuzz.XXXXXX), so the repository stays clean;
# crash inputs go to SCRATCH/artifacts/TARGET/. Prints, per target, the
# executions libFuzzer reports and where its log and any crash input are;
# then "N passed, N failed". Exit status non-zero if any target failed.
set -uo pipefail
if [[ $# -lt 1 || $# -gt 2 ]]; then
  sed -n '2,11p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
fi
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=$(cd "$1" && pwd)
seconds=${2:-600}
scratch=${AGENTLOG_FUZZ_SCRATCH:-$(mktemp -d /tmp/agentlog_fuzz.XXXXXX)}

# target and its -max_len: a bound that fits its largest meaningful input
# (a record with a payload, a run state, a few dozen events) so time goes
# to structure, not to size.
targets=(
  "record_codec 4096"
  "store_damage 512"
  "append 4096"
  "run_state_codec 16384"
  "projection_fold 16384"
  "event_json 4096"
  "command_line 512"
  "digest 256"
  "time_text 64"
)

passed=0
failed=0
for entry in "${targets[@]}"; do
  read -r name max_len <<<"$entry"
  binary=$build/tests/fuzz/fuzz_$name
  corpus=$scratch/corpus/$name
  artifacts=$scratch/artifacts/$name
  log=$scratch/$name.log
  mkdir -p "$corpus" "$artifacts"
  if [[ ! -x $binary ]]; then
    echo "fuzz_$name: FAILED: $binary is missing (configure with -DAGENTLOG_FUZZ=ON and build it)"
    failed=$((failed + 1))
    continue
  fi
  # The first corpus directory receives new inputs; the tree's seeds are only read.
  "$binary" -max_total_time="$seconds" -max_len="$max_len" -timeout=30 -rss_limit_mb=4096 \
            -print_final_stats=1 -artifact_prefix="$artifacts/" \
            "$corpus" "$repo/tests/fuzz/corpus/$name" >"$log" 2>&1
  status=$?
  executions=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  crashes=$(find "$artifacts" -type f | sort)
  if [[ $status -eq 0 && -z $crashes ]]; then
    echo "fuzz_$name: ok, ${executions:-?} executions in ${seconds}s (log $log)"
    passed=$((passed + 1))
  else
    echo "fuzz_$name: FAILED (exit $status), ${executions:-?} executions (log $log)"
    grep -m 5 -E 'fuzz property broken|ERROR: (AddressSanitizer|libFuzzer|LeakSanitizer)|runtime error|invariant broken' "$log" |
      sed 's/^/  /'
    for crash in $crashes; do echo "  crash input: $crash (rerun: $binary $crash)"; done
    failed=$((failed + 1))
  fi
done
echo "scratch corpus: $scratch/corpus (merge new finds into the tree: tests/fuzz/README.md)"
echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
