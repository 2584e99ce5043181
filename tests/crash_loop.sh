#!/usr/bin/env bash
# tests/crash_loop.sh: the long run of tests/crash_test.cc -- kill -9 a
# process running a mixed kSync workload (appends to dozens of runs,
# idempotent repeats, conflicting appends, forks, snapshots) many times,
# reopening and checking the store after every kill: every acknowledged
# append, fork and snapshot present and byte-identical, refused appends
# absent, runs gapless, VerifyAll, projections from snapshots equal to the
# fold from event 1, idempotency keys replaying their first append.
#
# Usage:
#   tests/crash_loop.sh [--minutes M] [--seed S] BUILD_DIR [ITERATIONS] [SEED]
#
#   BUILD_DIR     a configured and built agentlog build tree (it holds
#                 tests/agentlog_tests and tests/agentlog_crash_child)
#   --minutes M   run for M minutes (AGENTLOG_CRASH_MINUTES); 600 is ten
#                 hours. With ITERATIONS too, the first bound reached ends it.
#   ITERATIONS    kills to run (AGENTLOG_CRASH_ITERATIONS); default 1000
#                 unless --minutes is given (the CI run does 30)
#   --seed S, SEED  AGENTLOG_CRASH_SEED, to repeat the random choices of an
#                 earlier run (timing still differs); default: random
#
# Examples:
#   cmake -S . -B build && cmake --build build -j2
#   tests/crash_loop.sh build 2000
#   tests/crash_loop.sh --minutes 240 build
#
# A running total is printed every minute and a summary at the end (kills
# of each kind, acknowledgements, checks, "lost 0"). Exits non-zero on the
# first failed check; the Catch2 output names the iteration, the seed and
# what was lost.
set -euo pipefail

usage() {
  sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'
  exit 2
}

while [[ $# -gt 0 && $1 == --* ]]; do
  case $1 in
    --minutes) [[ $# -ge 2 ]] || usage; export AGENTLOG_CRASH_MINUTES="$2"; shift 2 ;;
    --seed) [[ $# -ge 2 ]] || usage; export AGENTLOG_CRASH_SEED="$2"; shift 2 ;;
    *) usage ;;
  esac
done
if [[ $# -lt 1 || $# -gt 3 ]]; then
  usage
fi
build_dir=$1
tests_binary="$build_dir/tests/agentlog_tests"
if [[ ! -x "$tests_binary" ]]; then
  echo "crash_loop.sh: $tests_binary not found; build the tests first" >&2
  exit 2
fi
if [[ $# -ge 2 ]]; then
  export AGENTLOG_CRASH_ITERATIONS="$2"
elif [[ -z ${AGENTLOG_CRASH_MINUTES:-} ]]; then
  export AGENTLOG_CRASH_ITERATIONS=1000
fi
if [[ $# -ge 3 ]]; then
  export AGENTLOG_CRASH_SEED="$3"
fi
bounds="${AGENTLOG_CRASH_ITERATIONS:+ $AGENTLOG_CRASH_ITERATIONS iterations}"
bounds+="${AGENTLOG_CRASH_MINUTES:+ $AGENTLOG_CRASH_MINUTES minutes}"
echo "crash_loop.sh:$bounds${AGENTLOG_CRASH_SEED:+, seed $AGENTLOG_CRASH_SEED}"
# The tests of crash_test.cc only: "[crash]" also names the runtime's crash
# tests, which take no iteration count.
exec "$tests_binary" "Crash.*" --durations yes
