#!/usr/bin/env bash
# tests/crash_loop.sh: the long run of tests/crash_test.cc -- kill -9 a
# process appending with kSync many times, reopening and checking the store
# after every kill (every acknowledged append present and byte-identical,
# runs gapless, VerifyAll, idempotency keys replaying their first append).
#
# Usage:
#   tests/crash_loop.sh BUILD_DIR [ITERATIONS] [SEED]
#
#   BUILD_DIR   a configured and built agentlog build tree (it holds
#               tests/agentlog_tests and tests/agentlog_crash_child)
#   ITERATIONS  kills to run; default 1000 (the CI run does 8)
#   SEED        AGENTLOG_CRASH_SEED, to repeat the random choices of an
#               earlier run (timing still differs); default: random
#
# Example:
#   cmake -S . -B build && cmake --build build -j2
#   tests/crash_loop.sh build 2000
#
# Exits non-zero on the first failed check; the Catch2 output names the
# iteration, the seed and the acknowledged event that was lost.
set -euo pipefail

if [[ $# -lt 1 || $# -gt 3 ]]; then
  sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'
  exit 2
fi
build_dir=$1
iterations=${2:-1000}
tests_binary="$build_dir/tests/agentlog_tests"
if [[ ! -x "$tests_binary" ]]; then
  echo "crash_loop.sh: $tests_binary not found; build the tests first" >&2
  exit 2
fi
export AGENTLOG_CRASH_ITERATIONS="$iterations"
if [[ $# -ge 3 ]]; then
  export AGENTLOG_CRASH_SEED="$3"
fi
echo "crash_loop.sh: $iterations iterations${AGENTLOG_CRASH_SEED:+, seed $AGENTLOG_CRASH_SEED}"
exec "$tests_binary" "[crash]" --durations yes
