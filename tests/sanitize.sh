#!/usr/bin/env bash
# tests/sanitize.sh MODE [FUZZ_SECONDS]: the test suite under sanitizers.
# `bash tools/run.sh test` (and so CI) runs both modes after the plain build.
#
#   address  clang 14 with AddressSanitizer + UndefinedBehaviorSanitizer and
#            the libFuzzer targets (one build, -DAGENTLOG_FUZZ=ON): every
#            ctest test but install_test (it builds a g++ consumer of an
#            installed copy) -- the whole Catch2 suite, cli_test, demo_test,
#            each fuzz target over its seed corpus -- then tests/fuzz.sh runs
#            each fuzz target for FUZZ_SECONDS (default 15)
#   thread   clang 14 with ThreadSanitizer: the suites with threads
#            (concurrency, subscription, projector, runtime, power loss,
#            faults); tests/tsan.supp silences the uninstrumented librocksdb
#
# Builds in build-asan/ or build-tsan/ at -O1 with line tables only (what a
# sanitizer report needs; full debug info doubles the build time), -j2
# (AGENTLOG_JOBS to change). Exit status non-zero on any sanitizer report
# or test failure; the last line is "N passed, N failed" (tests).
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
jobs=${AGENTLOG_JOBS:-2}
fuzz_seconds=${2:-15}

# configure BUILD_DIR [CMAKE_ARGS...]
configure() {
  local build=$1
  shift
  cmake -S "$repo" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DCMAKE_CXX_COMPILER=clang++-14 -DCMAKE_C_COMPILER=clang-14 \
        "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -gline-tables-only -DNDEBUG" \
        -DAGENTLOG_BUILD_BENCH=OFF "$@"
}

case ${1:-} in
  address)
    build=$repo/build-asan
    configure "$build" -DAGENTLOG_SANITIZE=address,undefined -DAGENTLOG_FUZZ=ON
    cmake --build "$build" -j"$jobs"
    # Leaks are reported too (LeakSanitizer is part of ASan on Linux).
    export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0
    export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
    status=0
    (cd "$build" && ctest --output-on-failure -j"$jobs" -E '^install_test$') | tee "$build/ctest.log" ||
      status=1
    bash "$repo/tests/fuzz.sh" "$build" "$fuzz_seconds" | tee "$build/fuzz.log" || status=1
    # One closing line over both: ctest's tests and the fuzz runs.
    ctest_total=$(sed -n 's/.*tests failed out of \([0-9]*\).*/\1/p' "$build/ctest.log" | tail -1)
    ctest_failed=$(sed -n 's/.*, \([0-9]*\) tests failed out of.*/\1/p' "$build/ctest.log" | tail -1)
    fuzz_passed=$(sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\1/p' "$build/fuzz.log" | tail -1)
    fuzz_failed=$(sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\2/p' "$build/fuzz.log" | tail -1)
    ctest_total=${ctest_total:-0} ctest_failed=${ctest_failed:-1} fuzz_passed=${fuzz_passed:-0} fuzz_failed=${fuzz_failed:-1}
    echo "address,undefined: ctest $((ctest_total - ctest_failed))/$ctest_total passed; fuzz runs $fuzz_passed passed, $fuzz_failed failed"
    echo "$((ctest_total - ctest_failed + fuzz_passed)) passed, $((ctest_failed + fuzz_failed)) failed"
    exit $status
    ;;
  thread)
    build=$repo/build-tsan
    configure "$build" -DAGENTLOG_SANITIZE=thread -DAGENTLOG_BUILD_TOOLS=OFF \
              '-DAGENTLOG_TEST_FILTER=/(concurrency|subscription|projector|runtime|power_loss|fault)_test\.cc$'
    cmake --build "$build" -j"$jobs" --target agentlog_tests
    # librocksdb is not instrumented: its lock-free memtable looks racy to TSan.
    export TSAN_OPTIONS="suppressions=$repo/tests/tsan.supp halt_on_error=1 second_deadlock_stack=1"
    status=0
    "$build/tests/agentlog_tests" \
      "[concurrency],[subscription],[projector],[runtime],[powerloss],[fault]" | tee "$build/catch.log" ||
      status=$?
    # Catch2's summary: "All tests passed (A assertions in N test cases)" or
    # "test cases: N | P passed | F failed".
    if grep -q '^All tests passed' "$build/catch.log"; then
      passed=$(sed -n 's/^All tests passed (.* in \([0-9]*\) test cases*)$/\1/p' "$build/catch.log")
      failed=0
    else
      passed=$(sed -n 's/^test cases: *[0-9]* | *\([0-9]*\) passed.*/\1/p' "$build/catch.log")
      failed=$(sed -n 's/^test cases:.*| *\([0-9]*\) failed.*/\1/p' "$build/catch.log")
    fi
    echo "thread: Catch2 test cases ${passed:-0} passed, ${failed:-1} failed"
    echo "${passed:-0} passed, ${failed:-1} failed"
    exit $status
    ;;
  *)
    sed -n '2,19p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit 2
    ;;
esac
