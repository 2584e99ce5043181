#!/usr/bin/env bash
# tests/cli_test.sh: the `agentlog` command line, end to end, on a temp store.
#
# Goal: every subcommand does what `agentlog --help` says and exits with the
# documented code (0 ok, 1 corruption, 2 usage, 3 not found, 4 other).
# Method: run `agentlog example` twice into a fresh directory, then drive verify, digest
# and log against it, checking output shapes with grep and JSON lines with
# agentlog_json_lines_check (nlohmann-json; no jq or python needed).
# Corruption inside the store is tested in C++; here a forged digest stands
# in for rewritten history (exit 1).
#
# Usage: cli_test.sh AGENTLOG_BINARY JSON_LINES_CHECK_BINARY
set -euo pipefail

agentlog=${1:?usage: cli_test.sh AGENTLOG_BINARY JSON_LINES_CHECK_BINARY}
check_json=${2:?usage: cli_test.sh AGENTLOG_BINARY JSON_LINES_CHECK_BINARY}
work=$(mktemp -d "${TMPDIR:-/tmp}/agentlog_cli_test.XXXXXX")
trap 'rm -rf "$work"' EXIT
db=$work/store
checks=0

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

# expect_exit CODE COMMAND...: runs COMMAND, keeps stdout in $work/out and
# stderr in $work/err, and fails unless it exited with CODE.
expect_exit() {
  local want=$1
  shift
  local got=0
  "$@" >"$work/out" 2>"$work/err" || got=$?
  if [[ $got -ne $want ]]; then
    echo "--- stdout" >&2; cat "$work/out" >&2
    echo "--- stderr" >&2; cat "$work/err" >&2
    fail "exit $got, expected $want: $*"
  fi
  checks=$((checks + 1))
}

# expect_line REGEX FILE: FILE has a line matching the extended REGEX.
expect_line() {
  grep -Eq -- "$1" "$2" || { cat "$2" >&2; fail "no line matching /$1/ in $2"; }
  checks=$((checks + 1))
}

# --- example: a fresh store, then the same store again (a new run each time) ---
expect_exit 0 "$agentlog" example "$db"
expect_line '^== appending run incident-summary-1 ' "$work/out"
expect_line 'replayed=true' "$work/out"
expect_line '^ok: 1 runs, 15 events verified$' "$work/out"
expect_line '^run: +agentlog-run-v1:incident-summary-1:15:[0-9a-f]{64}$' "$work/out"
grep -E '^\{"run":"incident-summary-1"' "$work/out" | "$check_json" 15 >/dev/null ||
  fail "example's JSON lines"

expect_exit 0 "$agentlog" example "$db"
expect_line '^== appending run incident-summary-2 ' "$work/out"
expect_line '^ok: 2 runs, 30 events verified$' "$work/out"

# --- verify ---
expect_exit 0 "$agentlog" verify "$db"
expect_line '^ok: 2 runs, 30 events verified$' "$work/out"
expect_exit 0 "$agentlog" verify "$db" incident-summary-1
expect_line '^ok: 1 runs, 15 events verified$' "$work/out"

# --- digest ---
expect_exit 0 "$agentlog" digest "$db" incident-summary-1
expect_line '^agentlog-run-v1:incident-summary-1:15:[0-9a-f]{64}$' "$work/out"
run_digest=$(cat "$work/out")
expect_exit 0 "$agentlog" digest "$db"
expect_line '^agentlog-store-v1:30:2:[0-9a-f]{64}$' "$work/out"
store_digest=$(cat "$work/out")
[[ $(wc -l <"$work/out") -eq 1 ]] || fail "digest printed more than one line"

# --- verify --against: holds now, and after later appends ---
expect_exit 0 "$agentlog" verify "$db" --against "$run_digest"
expect_line '^ok: 1 runs, 15 events verified$' "$work/out"
expect_exit 0 "$agentlog" verify "$db" --against "$store_digest"
expect_exit 0 "$agentlog" example "$db"
expect_exit 0 "$agentlog" verify "$db" --against "$run_digest"
expect_exit 0 "$agentlog" verify "$db" --against "$store_digest"
expect_exit 0 "$agentlog" digest "$db" incident-summary-1
[[ $(cat "$work/out") == "$run_digest" ]] || fail "another run's appends changed a run digest"

# --- log ---
expect_exit 0 "$agentlog" log "$db" incident-summary-1
"$check_json" 15 <"$work/out" >/dev/null || fail "log's JSON lines"
[[ $(grep -o '"seq":[0-9]*' "$work/out" | cut -d: -f2 | tr '\n' ' ') == \
   "1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 " ]] || fail "log is not in sequence order"
expect_line '^\{"run":"incident-summary-1","seq":1,.*"type":"TurnStarted","type_number":1,' \
  "$work/out"
# The payload comes from the schema: field names of events.fbs, enum names.
expect_line \
  '"payload":\{"body_type":"TurnStarted","body":\{"message_text":"Summarize the open incidents' \
  "$work/out"
expect_line '"body":\{"item_id":"step-3",.*"confirmation":"Mutating"' "$work/out"
expect_line '"type":"ApprovalGranted".*"actor":\{"kind":"user","id":"maria.chen"\}' "$work/out"

expect_exit 0 "$agentlog" log "$db" incident-summary-1 --from 3 --to 9 --reverse --limit 2
"$check_json" 2 <"$work/out" >/dev/null || fail "log --reverse --limit's JSON lines"
[[ $(grep -o '"seq":[0-9]*' "$work/out" | tr '\n' ' ') == '"seq":9 "seq":8 ' ]] ||
  fail "log --from 3 --to 9 --reverse --limit 2 did not print 9 then 8"
expect_exit 0 "$agentlog" log "$db" incident-summary-2 --from 14
"$check_json" 2 <"$work/out" >/dev/null || fail "log --from 14"
expect_exit 0 "$agentlog" log "$db" incident-summary-2 --from 16
[[ ! -s "$work/out" ]] || fail "log past the head printed events"

# --- state: the run-state projection at the head, an event, a time ---
expect_exit 0 "$agentlog" state "$db" incident-summary-1
expect_line '^run incident-summary-1 as of event 15: turn 1, ' "$work/out"
expect_line '^\(from no snapshot, 15 events folded\)$' "$work/out"
expect_line '^[a-z_]+(\.[^ ]+)* = ' "$work/out"
head_state=$(tail -n +3 "$work/out")
expect_exit 0 "$agentlog" state "$db" incident-summary-1 --at 5
expect_line '^run incident-summary-1 as of event 5: ' "$work/out"
at5_state=$(tail -n +3 "$work/out")
[[ "$at5_state" != "$head_state" ]] || fail "state --at 5 equals the head's state"
expect_exit 0 "$agentlog" state "$db" incident-summary-1 --at 0
expect_line '^run incident-summary-1 as of event 0: ' "$work/out"
expect_exit 0 "$agentlog" state "$db" incident-summary-1 --time 2100-01-01T00:00:00Z
[[ $(tail -n +3 "$work/out") == "$head_state" ]] || fail "state --time in the future is not the head's"
expect_exit 0 "$agentlog" state "$db" incident-summary-1 --json
[[ $(wc -l <"$work/out") -eq 1 ]] || fail "state --json printed more than one line"
expect_line '^\{"run":"incident-summary-1","sequence":15,"projection":"run_state","position":"turn 1, ' \
  "$work/out"
expect_line '"fields":\{"' "$work/out"
expect_exit 3 "$agentlog" state "$db" incident-summary-1 --time 2000-01-01T00:00:00Z
expect_line 'had no event of its own at time' "$work/err"
expect_exit 3 "$agentlog" state "$db" incident-summary-1 --at 99
expect_line 'has 15 events; event 99 does not exist' "$work/err"
for bad in yesterday 9999999999999999999 2026-11-22T-5:-3:-1Z 2026-02-31T00:00:00Z \
           2026-11-22T14:02:00 2026-11-22T14:02:00.Z 2026-11-22T14:02:00.1234567Z 2026-11-22T24:00:00Z; do
  expect_exit 2 "$agentlog" state "$db" incident-summary-1 --time "$bad"
  expect_line 'neither microseconds since the epoch nor a UTC time' "$work/err"
done
expect_exit 0 "$agentlog" state "$db" incident-summary-1 --time 2100-01-01T00:00:00.5Z
expect_exit 0 "$agentlog" state "$db" incident-summary-1 --time 9223372036854775807
expect_exit 2 "$agentlog" state "$db" incident-summary-1 --at 3 --time 2100-01-01T00:00:00Z
expect_exit 3 "$agentlog" state "$db" no-such-run

# --- diff: what changed between two events ---
expect_exit 0 "$agentlog" diff "$db" incident-summary-1 0 15
expect_line '^run incident-summary-1, event 0 -> event 15: [1-9][0-9]* fields changed$' "$work/out"
expect_line '^(\+|~) [^ ]+ ' "$work/out"
expect_exit 0 "$agentlog" diff "$db" incident-summary-1 5 5
expect_line '^run incident-summary-1, event 5 -> event 5: 0 fields changed$' "$work/out"
expect_exit 0 "$agentlog" diff "$db" incident-summary-1 4 5 --json
expect_line '^\[\{"change":"(added|removed|changed)","path":"' "$work/out"
expect_exit 3 "$agentlog" diff "$db" incident-summary-1 4 16
expect_exit 2 "$agentlog" diff "$db" incident-summary-1 4

# --- fork: shares the prefix, adds its own RunForked ---
expect_exit 0 "$agentlog" fork "$db" incident-summary-1 --at 7 --as what-if --reason "try the other plan"
expect_line '^forked incident-summary-1 at event 7 as what-if \(its RunForked event is 8\)$' "$work/out"
expect_exit 0 "$agentlog" verify "$db" what-if
expect_line '^ok: 1 runs, 8 events verified$' "$work/out"
expect_exit 0 "$agentlog" log "$db" what-if
"$check_json" 8 <"$work/out" >/dev/null || fail "log of a fork"
expect_line '^\{"run":"incident-summary-1","seq":7,' "$work/out"
expect_line '^\{"run":"what-if","seq":8,.*"type":"RunForked".*"reason":"try the other plan"' "$work/out"
expect_exit 0 "$agentlog" state "$db" what-if --at 7
fork_at7=$(tail -n +3 "$work/out")
expect_exit 0 "$agentlog" state "$db" incident-summary-1 --at 7
[[ $(tail -n +3 "$work/out") == "$fork_at7" ]] || fail "a fork's state at its fork point is not its parent's"
expect_exit 0 "$agentlog" verify "$db"
expect_exit 4 "$agentlog" fork "$db" incident-summary-1 --at 7 --as what-if
expect_line 'Conflict' "$work/err"
expect_exit 2 "$agentlog" fork "$db" incident-summary-1 --at 99 --as too-far
expect_line 'its events are 1..15' "$work/err"
expect_exit 2 "$agentlog" fork "$db" incident-summary-1 --at 0 --as zero
expect_exit 3 "$agentlog" fork "$db" no-such-run --at 1 --as orphan
expect_exit 3 "$agentlog" log "$db" too-far

# --- audit and recover (the runtime's views; tests/demo_test.sh covers a
# runtime-made store) ---
expect_exit 0 "$agentlog" audit "$db" incident-summary-1
expect_line '^run incident-summary-1: chain verified over 15 events; digest agentlog-run-v1:incident-summary-1:15:' "$work/out"
expect_line '^approval of step-3: requested .*, granted by maria.chen at ' "$work/out"
expect_line '^tool call step-3 \(send_email\) attempt 1, key incident-summary-1/step-3/send_email, .*: completed' "$work/out"
expect_exit 3 "$agentlog" audit "$db" no-such-run
expect_exit 2 "$agentlog" audit "$db"
expect_exit 0 "$agentlog" recover "$db"
expect_line '^what-if \[running\] ' "$work/out"
expect_exit 3 "$agentlog" recover "$work/no-such-store"

# --- help: exit 0, documents the exit codes ---
for command in "" verify digest log example demo state diff fork audit recover; do
  # shellcheck disable=SC2086  # an empty $command must vanish
  expect_exit 0 "$agentlog" $command --help
  expect_line '^Exit codes:' "$work/out"
done

# --- usage errors: exit 2 ---
expect_exit 2 "$agentlog"
expect_exit 2 "$agentlog" frobnicate "$db"
expect_exit 2 "$agentlog" log "$db"
expect_exit 2 "$agentlog" log "$db" incident-summary-1 --limit -1
expect_exit 2 "$agentlog" log "$db" incident-summary-1 --from x
expect_exit 2 "$agentlog" verify "$db" incident-summary-1 --against "$run_digest"
expect_exit 2 "$agentlog" verify "$db" --against not-a-digest
expect_line 'not an agentlog digest' "$work/err"
expect_exit 2 "$agentlog" log "$db" 'bad run id!'
expect_line 'InvalidArgument' "$work/err"
expect_exit 2 "$agentlog" log "$db" "$(printf 'r%.0s' {1..200})"
expect_line 'LimitExceeded' "$work/err"

# --- not found: exit 3, and nothing created ---
expect_exit 3 "$agentlog" verify "$db" no-such-run
expect_line 'no-such-run' "$work/err"
expect_exit 3 "$agentlog" log "$db" no-such-run
expect_exit 3 "$agentlog" digest "$db" no-such-run
expect_exit 3 "$agentlog" verify "$work/no-such-store"
[[ ! -e "$work/no-such-store" ]] || fail "verify created $work/no-such-store"
expect_exit 3 "$agentlog" log "$work/no/such/parent" incident-summary-1
[[ ! -e "$work/no" ]] || fail "log created $work/no"
touch "$work/a-file"
expect_exit 3 "$agentlog" verify "$work/a-file"
expect_line 'it is a file' "$work/err"
expect_exit 3 "$agentlog" fork "$work/a-file" incident-summary-1 --at 2 --as f
[[ -f "$work/a-file" && ! -s "$work/a-file" ]] || fail "fork changed $work/a-file"
expect_exit 2 "$agentlog" state "$db" incident-summary-1 --at 99999999999999999999
expect_line 'larger than the largest number' "$work/err"

# --- the reading commands change no byte of the store, and create no file ---
# (README "The command line": they open it with Store::OpenReadOnly), also
# when their arguments are refused.
store_bytes() { (cd "$1" && find . -type f -print0 | sort -z | xargs -0 sha256sum && find . | sort); }
before=$(store_bytes "$db")
for round in 1 2 3; do
  "$agentlog" verify "$db" >/dev/null
  "$agentlog" verify "$db" --against "$run_digest" >/dev/null
  "$agentlog" digest "$db" >/dev/null
  "$agentlog" log "$db" incident-summary-2 >/dev/null
  "$agentlog" state "$db" incident-summary-2 --at 4 >/dev/null
  "$agentlog" diff "$db" incident-summary-2 3 6 >/dev/null
  "$agentlog" audit "$db" incident-summary-2 >/dev/null
  "$agentlog" recover "$db" >/dev/null
  "$agentlog" log "$db" 'bad run id!' 2>/dev/null && fail "a bad run id was accepted"
  "$agentlog" verify "$db" no-such-run 2>/dev/null && fail "an unknown run verified"
done
[[ $(store_bytes "$db") == "$before" ]] || fail "a reading command changed the store's files"
checks=$((checks + 1))

# --- other errors: exit 4. A store a writer holds: a writing command is
# refused (IOError about the lock), and so is a reading one (a read-only
# open reads a store no one writes to), changing nothing ---
demo=$work/held
mkdir "$demo"
"$agentlog" demo-worker "$demo" --worker held-1 --stall-at-progress 40 >"$work/worker" 2>&1 &
worker=$!
for _ in $(seq 1 200); do grep -q 'about to be killed' "$work/worker" && break; sleep 0.05; done
grep -q 'about to be killed' "$work/worker" || { kill -9 $worker; fail "the demo worker did not stall"; }
held_before=$(store_bytes "$demo/store")
expect_exit 4 "$agentlog" verify "$demo/store"
expect_line "open for writing in process $worker" "$work/err"
expect_exit 4 "$agentlog" fork "$demo/store" report-1 --at 2 --as held-fork
expect_line 'open for writing in another process' "$work/err"
[[ $(store_bytes "$demo/store") == "$held_before" ]] || fail "a refused command changed the held store"
kill -9 $worker
wait $worker 2>/dev/null || true
expect_exit 0 "$agentlog" verify "$demo/store"
expect_line '^ok: 1 runs, [0-9]+ events verified' "$work/out"

# --- rewritten history, seen through a digest: exit 1 ---
forged=${run_digest%:*}:$(printf '0%.0s' {1..64})
expect_exit 1 "$agentlog" verify "$db" --against "$forged"
expect_line 'Corruption: run "incident-summary-1" event 15' "$work/err"
cut_short=agentlog-run-v1:incident-summary-1:99:${run_digest##*:}
expect_exit 1 "$agentlog" verify "$db" --against "$cut_short"
expect_line 'incident-summary-1' "$work/err"

echo "cli_test: $checks checks passed"
