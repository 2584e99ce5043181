#!/usr/bin/env bash
# tools/run.sh: from a fresh Debian 12 machine to a running agentlog.
#
#   bash tools/run.sh demo   install packages, build, run `agentlog demo` in a new directory
#   bash tools/run.sh test   install packages, build, run the whole test suite (ctest),
#                            then again under ASan+UBSan with short fuzz runs, and the
#                            threaded suites under TSan (tests/sanitize.sh); about 15 min
#
# Packages: installed with apt-get when one is missing (as root, or through
# sudo); skipped when all are present, so a developer's machine needs no root.
# Build: build/ in the repository, RelWithDebInfo, `-j2` (AGENTLOG_JOBS to change).
# Exit status: the demo's or the tests'; non-zero on any failure. The test
# mode's last line is "N passed, N failed" over every stage.
set -euo pipefail

usage() {
  sed -n '2,10p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

mode=${1:-}
[[ $mode == demo || $mode == test ]] || usage

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=$repo/build
jobs=${AGENTLOG_JOBS:-2}

# Everything the CMake files and the tests use, by Debian 12 package name.
# README "Dependencies" says why each is there.
packages=(
  cmake make g++ pkg-config   # toolchain (tests/install_test.sh uses g++ and pkg-config too)
  librocksdb-dev              # the LSM store (pulls in snappy, lz4, zstd, ... dev packages)
  libflatbuffers-dev flatbuffers-compiler  # schema'd records; flatc at build time
  libxxhash-dev               # XXH3 frame checksums
  libssl-dev                  # libcrypto SHA-256: payload hashes and the chain
  catch2                      # the C++ test suite (Catch2 v2)
  libcli11-dev nlohmann-json3-dev  # the agentlog command line and its JSON output
  libsqlite3-dev              # bench/: SQLite is a baseline agentlog is measured against
)
# Only the test mode needs these.
test_packages=(
  clang-14 libclang-rt-14-dev  # tests/sanitize.sh: ASan, UBSan, TSan and libFuzzer runtimes
  llvm-14                      # llvm-symbolizer-14: sanitizer reports name functions (tests/tsan.supp needs them)
)

install_packages() {
  local missing=() package
  for package in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed'; then
      missing+=("$package")
    fi
  done
  if [[ ${#missing[@]} -eq 0 ]]; then
    echo "== packages: all ${#packages[@]} present, skipping apt-get"
    return
  fi
  echo "== packages: installing ${missing[*]}"
  local as_root=()
  if [[ $(id -u) -ne 0 ]]; then
    if ! command -v sudo >/dev/null; then
      echo "run.sh: missing packages (${missing[*]}) and not root: run as root, or" \
           "apt-get install ${missing[*]}" >&2
      exit 1
    fi
    as_root=(sudo)
  fi
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -q --no-install-recommends "${missing[@]}"
}

# configure_and_build [TARGET]: everything, or only TARGET (the demo needs
# only the tool).
configure_and_build() {
  local targets=()
  [[ $# -gt 0 ]] && targets=(--target "$1")
  # A build/ copied from another checkout points at that checkout: start over.
  if [[ -f $build/CMakeCache.txt ]] &&
     ! grep -qx "CMAKE_HOME_DIRECTORY:INTERNAL=$repo" "$build/CMakeCache.txt"; then
    echo "== build/ belongs to another source tree; removing it"
    rm -rf "$build"
  fi
  echo "== configuring $build (RelWithDebInfo)"
  cmake -S "$repo" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo
  echo "== building ${1:-everything} with -j$jobs"
  cmake --build "$build" -j"$jobs" "${targets[@]}"
}

run_demo() {
  local dir
  dir=$(mktemp -d "${TMPDIR:-/tmp}/agentlog_demo.XXXXXX")
  echo "== agentlog demo $dir"
  # The demo ends with the commands to explore what it left in $dir.
  "$build/tools/agentlog" demo "$dir"
  echo "  (agentlog is $build/tools/agentlog)"
}

# run_tests: ctest on build/, then the sanitizer builds (tests/sanitize.sh;
# AGENTLOG_SANITIZERS=0 skips them). Every stage runs even if one before
# failed; the last line sums them up as "N passed, N failed".
run_tests() {
  local status=0 passed=0 failed=0 stage log summary stage_status
  echo "== ctest"
  log=$build/ctest.log
  (cd "$build" && ctest --output-on-failure -j"$jobs") | tee "$log" || status=1
  summary=$({ grep 'tests failed out of' "$log" || true; } | tail -1)
  if [[ $summary =~ ,\ ([0-9]+)\ tests\ failed\ out\ of\ ([0-9]+) ]]; then
    passed=$((BASH_REMATCH[2] - BASH_REMATCH[1])) failed=${BASH_REMATCH[1]}
  else
    failed=1 summary="ctest did not finish"
  fi
  if [[ $status -ne 0 && $failed -eq 0 ]]; then failed=1; fi
  local stages=("plain build: $summary")
  if [[ ${AGENTLOG_SANITIZERS:-1} != 0 ]]; then
    for stage in address thread; do
      echo "== tests/sanitize.sh $stage"
      log=$build/sanitize-$stage.log
      stage_status=0
      # The TSan stage runs 10 power cuts, not 40: TSan slows each about 10x.
      AGENTLOG_POWER_CUTS=${AGENTLOG_POWER_CUTS:-$([[ $stage == thread ]] && echo 10 || echo 40)} \
        bash "$repo/tests/sanitize.sh" "$stage" 2>&1 | tee "$log" || stage_status=1
      # sanitize.sh ends with its stage's line, then "N passed, N failed".
      summary=$(tail -1 "$log")
      if [[ $summary =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
        passed=$((passed + BASH_REMATCH[1])) failed=$((failed + BASH_REMATCH[2]))
        summary=$(tail -2 "$log" | head -1)
      else
        failed=$((failed + 1)) summary="did not finish (see $log)"
      fi
      if [[ $stage_status -ne 0 ]]; then status=1; fi
      stages+=("$stage sanitizers: $summary")
    done
  fi
  echo "== summary"
  printf '  %s\n' "${stages[@]}"
  echo "$passed passed, $failed failed"
  return $status
}

if [[ $mode == test ]]; then packages+=("${test_packages[@]}"); fi
install_packages
if [[ $mode == demo ]]; then
  configure_and_build agentlog_cli
  run_demo
else
  configure_and_build
  run_tests
fi
