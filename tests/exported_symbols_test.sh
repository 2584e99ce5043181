#!/usr/bin/env bash
# tests/exported_symbols_test.sh LIBRARY: libagentlog.so exports the public
# contract (include/agentlog/, AGENTLOG_EXPORT) and nothing else: no
# agentlog::internal name, nothing of RocksDB, FlatBuffers, xxHash or
# OpenSSL. The only other symbols allowed are the standard library's template
# instantiations, which the compiler emits as weak ("W", "V", "u": vague
# linkage, one copy per program) wherever they are used.
set -u
library=$1
failed=0
fail() { echo "FAIL: $*"; failed=1; }

symbols=$(nm -D --defined-only -C "$library") || { echo "FAIL: nm $library"; exit 1; }
count=$(wc -l <<<"$symbols")
echo "$library exports $count symbols"

# "ADDRESS TYPE NAME": strip what precedes the name of a typeinfo or vtable.
names_of() { sed -E 's/^[0-9a-f]+ //' | sed -E 's/^(. )(typeinfo name for|typeinfo for|vtable for|VTT for|guard variable for) /\1/'; }
outside=$(names_of <<<"$symbols" | grep -vE '^. agentlog::' |
  grep -vE '^[WVu] (void )?std::' || true)
if [[ -n $outside ]]; then
  fail "symbols outside the agentlog namespace that are not weak standard-library instantiations:"
  echo "$outside"
fi
leaked=$(grep -E 'agentlog::internal|rocksdb::|flatbuffers::|XXH|EVP_|SHA256_' <<<"$symbols" || true)
if [[ -n $leaked ]]; then
  fail "internal or third-party names exported:"
  echo "$leaked"
fi
# The contract is there (a build that hid everything would pass the above).
for wanted in 'agentlog::Store::Open(' 'agentlog::Store::OpenReadOnly(' 'agentlog::Runtime::Open(' \
              'agentlog::Projector::Create(' 'agentlog::NewRunStateProjection()' 'agentlog::Sha256[abi:cxx11](' \
              'agentlog::EventsSchemaText()' 'agentlog::RocksDbOptionsOf(' 'typeinfo for agentlog::Projection'; do
  grep -qF "$wanted" <<<"$symbols" || fail "the contract's $wanted is not exported"
done
[[ $failed -eq 0 ]] && echo "ok: only the contract (and weak std instantiations) is exported"
exit $failed
