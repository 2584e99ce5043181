#!/usr/bin/env bash
# tests/power_loss_loop.sh: the long run of PowerLoss.SyncAcknowledgedAppendsSurviveEveryCut
# (tests/power_loss_test.cc) -- cut the power under concurrent kSync and
# kBuffered appends many times, apply the cut to the files (unsynced bytes
# dropped or torn, unsynced new files deleted), reopen and check every
# kSync acknowledgement byte for byte, the suffix rule for kBuffered, whole
# appends, gapless runs and feed, VerifyAll.
#
# Usage:
#   tests/power_loss_loop.sh BUILD_DIR [CUTS] [SEED]
#
#   BUILD_DIR  a configured and built agentlog build tree (tests/agentlog_tests)
#   CUTS       power cuts to run; default 2000 (the CI run does 40)
#   SEED       AGENTLOG_POWER_SEED, to repeat the random choices of an earlier
#              run (thread timing still differs); default: random
#
# Example:
#   cmake -S . -B build && cmake --build build -j2
#   tests/power_loss_loop.sh build 5000
#
# Exits non-zero on the first failed check; the Catch2 output names the cut,
# the seed and the append that broke the rule. The last line it prints
# before Catch2's summary counts the cuts, acknowledgements and losses.
set -euo pipefail

if [[ $# -lt 1 || $# -gt 3 ]]; then
  sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'
  exit 2
fi
build_dir=$1
tests_binary="$build_dir/tests/agentlog_tests"
if [[ ! -x "$tests_binary" ]]; then
  echo "power_loss_loop.sh: $tests_binary not found; build the tests first" >&2
  exit 2
fi
export AGENTLOG_POWER_CUTS="${2:-2000}"
if [[ $# -ge 3 ]]; then
  export AGENTLOG_POWER_SEED="$3"
fi
echo "power_loss_loop.sh: $AGENTLOG_POWER_CUTS power cuts${AGENTLOG_POWER_SEED:+, seed $AGENTLOG_POWER_SEED}"
exec "$tests_binary" "PowerLoss.SyncAcknowledgedAppendsSurviveEveryCut" --durations yes
