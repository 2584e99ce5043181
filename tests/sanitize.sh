#!/usr/bin/env bash
# tests/sanitize.sh MODE: the test suite under sanitizers, for people (CI
# does not run it yet: the sanitized builds take about 10 minutes each on two
# cores; see the reliability issue).
#
#   bash tests/sanitize.sh address   AddressSanitizer + UndefinedBehaviorSanitizer (g++),
#                                    the whole Catch2 suite and demo_test
#   bash tests/sanitize.sh thread    ThreadSanitizer (clang 14), the concurrency,
#                                    subscription, projector and runtime suites
#
# Builds in build-asan/ or build-tsan/ (AGENTLOG_JOBS, default 2). Exit status
# non-zero on any sanitizer report or test failure.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
jobs=${AGENTLOG_JOBS:-2}
case ${1:-} in
  address)
    build=$repo/build-asan
    cmake -S "$repo" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DAGENTLOG_SANITIZE=address,undefined
    cmake --build "$build" -j"$jobs" --target agentlog_tests agentlog_cli
    "$build/tests/agentlog_tests"
    bash "$repo/tests/demo_test.sh" "$build/tools/agentlog"
    ;;
  thread)
    build=$repo/build-tsan
    cmake -S "$repo" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DAGENTLOG_SANITIZE=thread \
          -DCMAKE_CXX_COMPILER=clang++-14 -DCMAKE_C_COMPILER=clang-14
    cmake --build "$build" -j"$jobs" --target agentlog_tests agentlog_cli
    # librocksdb is not instrumented: its lock-free memtable looks racy to TSan.
    TSAN_OPTIONS="suppressions=$repo/tests/tsan.supp halt_on_error=1" \
      "$build/tests/agentlog_tests" "[concurrency],[subscription],[projector],[runtime]"
    ;;
  *)
    sed -n '2,12p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit 2
    ;;
esac
