#!/usr/bin/env bash
# tests/layering_test.sh BUILD_DIR SOURCE_DIR: the layers are a build fact
# (README "Layout", cmake/layers.cmake).
#
# 1. Probes: each layer's include paths, given one file that includes a
#    header. A header of a folder the layer may not see must fail to compile
#    as not found (g++: "No such file or directory", clang: "file not
#    found"), not with some other error; one it may see
#    must compile, so the probes cannot pass for a broken build.
# 2. The sources: no include climbs out of its folder ("../"), and RocksDB's
#    headers are included only by the engine, the tests, testing/ and
#    bench/ (its baselines are RocksDB); the public headers include none
#    (agentlog/rocksdb_options.h names rocksdb::FileSystem by a forward
#    declaration).
set -u
build=$1
source=$2
failed=0

fail() { echo "FAIL: $*"; failed=1; }

# The probes this build configured (a build without tools/ or bench/ has
# none of theirs).
targets=$(cmake --build "$build" --target help 2>/dev/null)

# probe NAME HEADER expect(fails|compiles)
probe() {
  local name=$1 header=$2 expect=$3 out
  if ! grep -q "agentlog_probe_$name\b" <<<"$targets"; then
    echo "skipped: $name (not configured in this build)"
    return
  fi
  out=$(cmake --build "$build" --target "agentlog_probe_$name" 2>&1)
  local status=$?
  if [[ $expect == fails ]]; then
    if [[ $status -eq 0 ]]; then
      fail "$name: including $header compiled; that layer must not see it"
    elif ! grep -qE "($header: No such file or directory|'$header' file not found)" <<<"$out"; then
      fail "$name: including $header failed, but not because it is out of sight:"
      echo "$out" | tail -n 20
    else
      echo "ok: $name: $header is out of sight ($(grep -m1 -E "No such file|file not found" <<<"$out" | sed 's/^.*fatal error: //'))"
    fi
  else
    if [[ $status -ne 0 ]]; then
      fail "$name: including $header did not compile; that layer may see it:"
      echo "$out" | tail -n 20
    else
      echo "ok: $name: $header compiles"
    fi
  fi
}

probe base_reaches_engine engine/frame.h fails
probe engine_reaches_runtime runtime/runtime_impl.h fails
probe projections_reaches_engine engine/keys.h fails
probe runtime_reaches_engine engine/store_impl.h fails
probe tools_reaches_engine engine/record_codec.h fails
probe tools_reaches_base base/crypto.h fails
probe projections_sees_base base/mutex.h compiles
probe runtime_sees_contract agentlog/projector.h compiles
probe tools_sees_contract agentlog/store.h compiles
probe bench_reaches_engine engine/keys.h fails
grep -q "agentlog_probe_projections_reaches_engine" <<<"$targets" ||
  fail "the build lists no layer probes (cmake/layers.cmake agentlog_probe)"

cd "$source" || exit 1
folders=(base engine projections runtime tools bench testing tests include)
climbing=$(grep -rnE '#include[[:space:]]*"\.\./' "${folders[@]}" --include='*.h' --include='*.cc')
if [[ -n $climbing ]]; then
  fail "includes that climb out of their folder (name the folder instead):"
  echo "$climbing"
else
  echo "ok: no include climbs out of its folder"
fi
rocksdb=$(grep -rlE '#include[[:space:]]*<rocksdb/' "${folders[@]}" --include='*.h' --include='*.cc' |
  grep -vE '^(engine/|tests/|testing/|bench/)')
if [[ -n $rocksdb ]]; then
  fail "RocksDB headers outside the engine, tests, testing/ and bench/:"
  echo "$rocksdb"
else
  echo "ok: RocksDB headers only in engine/, tests, testing/, bench/"
fi

exit $failed
