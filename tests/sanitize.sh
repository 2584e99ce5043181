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
#            faults); tests/tsan.supp names the uninstrumented librocksdb's
#            hand-offs that TSan cannot see (and nothing of ours)
#
# Reports name functions through llvm-symbolizer-14 (Debian's llvm-14, which
# clang-14 does not pull in); without it the suppressions match nothing, so
# the script stops before building.
#
# Builds in build-asan/ or build-tsan/ at -O1 with line tables only (what a
# sanitizer report needs; full debug info doubles the build time), -j2
# (AGENTLOG_JOBS to change). Exit status non-zero on any sanitizer report
# or test failure; the last line is "N passed, N failed" (tests).
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
jobs=${AGENTLOG_JOBS:-2}
fuzz_seconds=${2:-15}
symbolizer=/usr/bin/llvm-symbolizer-14
if [[ ${1:-} == address || ${1:-} == thread ]] && [[ ! -x $symbolizer ]]; then
  echo "sanitize.sh: $symbolizer is missing: apt-get install llvm-14 (tools/run.sh test does)" >&2
  exit 1
fi

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
    export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:external_symbolizer_path=$symbolizer
    export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:external_symbolizer_path=$symbolizer
    status=0
    (cd "$build" && ctest --output-on-failure -j"$jobs" -E '^install_test$') | tee "$build/ctest.log" ||
      status=1
    bash "$repo/tests/fuzz.sh" "$build" "$fuzz_seconds" | tee "$build/fuzz.log" || status=1
    # One closing line over both: ctest's tests and the fuzz runs.
    ctest_total=$(sed -n 's/.*tests failed out of \([0-9]*\).*/\1/p' "$build/ctest.log" | tail -1)
    ctest_failed=$(sed -n 's/.*, \([0-9]*\) tests failed out of.*/\1/p' "$build/ctest.log" | tail -1)
    fuzz_passed=$(sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\1/p' "$build/fuzz.log" | tail -1)
    fuzz_failed=$(sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\2/p' "$build/fuzz.log" | tail -1)
    # A stage that printed no summary counts as one failure, never as passes.
    ctest_failed=${ctest_failed:-1} ctest_total=${ctest_total:-$ctest_failed}
    fuzz_passed=${fuzz_passed:-0} fuzz_failed=${fuzz_failed:-1}
    if [[ $status -ne 0 && $((ctest_failed + fuzz_failed)) -eq 0 ]]; then ctest_failed=1; fi
    echo "address,undefined: ctest $((ctest_total - ctest_failed))/$ctest_total passed; fuzz runs $fuzz_passed passed, $fuzz_failed failed"
    echo "$((ctest_total - ctest_failed + fuzz_passed)) passed, $((ctest_failed + fuzz_failed)) failed"
    exit $status
    ;;
  thread)
    build=$repo/build-tsan
    configure "$build" -DAGENTLOG_SANITIZE=thread -DAGENTLOG_BUILD_TOOLS=OFF \
              '-DAGENTLOG_TEST_FILTER=/(concurrency|subscription|projector|runtime|power_loss|fault)_test\.cc$'
    cmake --build "$build" -j"$jobs" --target agentlog_tests
    # librocksdb is not instrumented: its atomic hand-offs look racy to TSan
    # (tests/tsan.supp names them).
    export TSAN_OPTIONS="suppressions=$repo/tests/tsan.supp halt_on_error=1 second_deadlock_stack=1 external_symbolizer_path=$symbolizer"
    status=0
    "$build/tests/agentlog_tests" \
      "[concurrency],[subscription],[projector],[runtime],[powerloss],[fault]" | tee "$build/catch.log" ||
      status=$?
    # Catch2's summary: "All tests passed (A assertions in N test cases)" or
    # "test cases: N | P passed | F failed[ | E failed as expected]".
    summary=$({ grep -E '^(All tests passed|test cases:)' "$build/catch.log" || true; } | tail -1)
    if [[ $summary =~ ^All\ tests\ passed\ .*\ in\ ([0-9]+)\ test\ cases?\)$ ]]; then
      passed=${BASH_REMATCH[1]} failed=0
    elif [[ $summary =~ \|\ *([0-9]+)\ passed\ *\|\ *([0-9]+)\ failed ]]; then
      passed=${BASH_REMATCH[1]} failed=${BASH_REMATCH[2]}
    fi
    passed=${passed:-0} failed=${failed:-1}
    # A report TSan prints at exit, after Catch2's summary, fails the stage.
    if [[ $status -ne 0 && $failed -eq 0 ]]; then failed=1; fi
    echo "thread: Catch2 test cases $passed passed, $failed failed (exit status $status)"
    echo "$passed passed, $failed failed"
    exit $status
    ;;
  *)
    sed -n '2,19p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit 2
    ;;
esac
