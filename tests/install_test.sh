#!/usr/bin/env bash
# tests/install_test.sh: agentlog installs like a library.
#
# Goal: an embedder who installed agentlog can build against it both ways
# the README promises, find_package(agentlog) + agentlog::agentlog and
# pkg-config agentlog, using only the installed files. Method: `cmake
# --install` the build into a temp prefix, check the files are there, build
# tests/consumer with CMake and with pkg-config + g++, run both binaries (each
# opens a store, appends, reads back, verifies). Everything runs as a user
# would run it, with no LD_LIBRARY_PATH: the installed tool must find the
# installed library by itself (its RPATH), also after the prefix is moved.
#
# Usage: install_test.sh BUILD_DIR SOURCE_DIR
set -euo pipefail

build=${1:?usage: install_test.sh BUILD_DIR SOURCE_DIR}
source_dir=${2:?usage: install_test.sh BUILD_DIR SOURCE_DIR}
work=$(mktemp -d "${TMPDIR:-/tmp}/agentlog_install_test.XXXXXX")
trap 'rm -rf "$work"' EXIT
prefix=$work/prefix

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

cmake --install "$build" --prefix "$prefix" >"$work/install.log" ||
  { cat "$work/install.log" >&2; fail "cmake --install"; }

# The files an embedder needs (libdir is lib/ or lib/<multiarch>/).
pc_file=$(find "$prefix" -name agentlog.pc -path '*/pkgconfig/*' | head -n 1)
[[ -n $pc_file ]] || fail "no agentlog.pc installed"
libdir=$(dirname "$(dirname "$pc_file")")
for file in include/agentlog/agentlog.h include/agentlog/store.h include/agentlog/event.h \
            include/agentlog/options.h include/agentlog/status.h include/agentlog/clock.h \
            include/agentlog/events_generated.h include/agentlog/run_state_generated.h \
            share/agentlog/schema/events.fbs share/agentlog/schema/record.fbs \
            share/agentlog/schema/store_meta.fbs share/agentlog/schema/run_state.fbs \
            bin/agentlog; do
  [[ -f $prefix/$file ]] || fail "not installed: $file"
done
for file in libagentlog.so cmake/agentlog/agentlogConfig.cmake \
            cmake/agentlog/agentlogConfigVersion.cmake cmake/agentlog/agentlogTargets.cmake; do
  [[ -e $libdir/$file ]] || fail "not installed: ${libdir#"$prefix"/}/$file"
done
echo "installed files: ok"

# Nothing below may lean on the environment to find libagentlog.so.
unset LD_LIBRARY_PATH

# 0. The installed tool, from the prefix and from a moved copy of it.
run_tool() {  # run_tool PREFIX NAME: the tool's own example, then verify
  local tool=$1/bin/agentlog store=$work/store_tool_$2
  "$tool" --help >"$work/tool_help.log" 2>&1 ||
    { cat "$work/tool_help.log" >&2; fail "the installed tool ($tool) does not start"; }
  "$tool" example "$store" >"$work/tool_example.log" 2>&1 ||
    { cat "$work/tool_example.log" >&2; fail "$tool example"; }
  "$tool" verify "$store" >"$work/tool_verify.log" 2>&1 ||
    { cat "$work/tool_verify.log" >&2; fail "$tool verify"; }
  grep -q '^ok: ' "$work/tool_verify.log" || fail "$tool verify printed no ok line"
}
run_tool "$prefix" installed
cp -a "$prefix" "$work/moved"
run_tool "$work/moved" moved
rm -rf "$work/moved"
echo "installed tool: ok (no LD_LIBRARY_PATH, also from a moved prefix)"

# 1. CMake: find_package(agentlog) from the prefix only.
cmake -S "$source_dir/tests/consumer" -B "$work/consumer_build" \
      -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF \
      -DCMAKE_BUILD_TYPE=Release >"$work/consumer_configure.log" 2>&1 ||
  { cat "$work/consumer_configure.log" >&2; fail "configuring the consumer"; }
grep -q "agentlog_DIR:PATH=$libdir/cmake/agentlog" "$work/consumer_build/CMakeCache.txt" ||
  fail "the consumer did not find the agentlog installed in $prefix"
cmake --build "$work/consumer_build" -j2 >"$work/consumer_build.log" 2>&1 ||
  { cat "$work/consumer_build.log" >&2; fail "building the consumer with CMake"; }
"$work/consumer_build/agentlog_consumer" "$work/store_cmake" || fail "CMake consumer run"

# 2. pkg-config: the flags alone must be enough.
export PKG_CONFIG_PATH=$libdir/pkgconfig
flags=$(pkg-config --cflags --libs agentlog) || fail "pkg-config agentlog"
[[ $flags == *"-I$prefix/include"* || $flags == *"-I$libdir/pkgconfig/"* ]] ||
  fail "pkg-config does not point into the prefix: $flags"
# A library outside the loader's paths needs an RPATH (README, "Using it from
# your project"): the libdir variable gives it.
rpath="-Wl,-rpath,$(pkg-config --variable=libdir agentlog)"
# shellcheck disable=SC2086  # $flags is a list of flags
g++ "$source_dir/tests/consumer/main.cc" $flags "$rpath" -o "$work/consumer_pkgconfig" ||
  fail "building the consumer with pkg-config flags: $flags"
"$work/consumer_pkgconfig" "$work/store_pkgconfig" || fail "pkg-config consumer run"

echo "install_test: passed (find_package and pkg-config)"
