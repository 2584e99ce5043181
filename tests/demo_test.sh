#!/usr/bin/env bash
# tests/demo_test.sh AGENTLOG: the README's first command works and its claims
# hold. `agentlog demo` checks its own claims and exits non-zero when one
# fails; this test also checks the lines that state them, then drives the
# commands the demo suggests on the store it leaves.
set -euo pipefail
agentlog=$1
work=$(mktemp -d "${TMPDIR:-/tmp}/agentlog_demo_test.XXXXXX")
trap 'rm -rf "$work"' EXIT
checks=0
fail() { echo "demo_test: FAIL: $*" >&2; exit 1; }
expect_line() {
  grep -Eq -- "$1" "$2" || { cat "$2" >&2; fail "no line matching /$1/"; }
  checks=$((checks + 1))
}

"$agentlog" demo "$work/d" >"$work/out" 2>"$work/err" || { cat "$work/out" "$work/err" >&2; fail "demo exited $?"; }
out=$work/out
expect_line '\*\* SIGKILL sent to worker-1 \(pid [0-9]+\) in the middle of its step' "$out"
expect_line 'report-1 \[running\] lease_held: leased by worker-1' "$out"
expect_line 'worker-2 \| took over run report-1 at event [0-9]+ with lease epoch 2' "$out"
expect_line 'worker-2 \| step analyze was in doubt .* again with key al1-[0-9a-f]{32}' "$out"
expect_line 'worker-2 \| step benchmarks \(fetch_benchmarks\): attempt 1 failed' "$out"
expect_line 'worker-2 \| step benchmarks \(fetch_benchmarks\): completed, attempt 2' "$out"
expect_line 'worker-2 \| waiting for a person: releasing the lease and exiting' "$out"
expect_line 'worker-3 \| step send-report \(send_email\): completed, attempt 1' "$out"
expect_line '^  send_email: 1 call\(s\), 1 applied$' "$out"
expect_line '^  analyze_documents: 2 call\(s\), 1 applied, 1 de-duplicated by key$' "$out"
expect_line '^  fetch_benchmarks: 2 call\(s\), 1 applied, 1 timed out$' "$out"
expect_line 'replay: step benchmarks answered from the log .*; tool calls: 0$' "$out"
expect_line 'plan.benchmarks.status: retry_scheduled -> completed' "$out"
expect_line 'approval of send-report: requested .*, granted by maria.chen at .*, scope once, arguments edited to .*oncall-lead' "$out"
expect_line 'rested on: p99_regression = ' "$out"
expect_line 'send_email ran with the arguments as maria.chen edited them: .*oncall-lead' "$out"
expect_line 'tool call send-report \(send_email\) attempt 1, key al1-[0-9a-f]{32}, .*: completed' "$out"

# The commands it suggests work on the store it left.
db=$work/d/store
"$agentlog" verify "$db" >"$work/v" || fail "verify"
expect_line '^ok: 2 runs, ' "$work/v"
"$agentlog" audit "$db" report-1 >"$work/a" || fail "audit"
expect_line '^decision at event [0-9]+ by worker-2' "$work/a"
"$agentlog" recover "$db" >"$work/r" || fail "recover"
expect_line '^report-1-what-if \[running\] counterfactual: a what-if branch of report-1' "$work/r"
"$agentlog" audit "$db" no-such-run >/dev/null 2>&1 && fail "audit of a missing run succeeded"
[[ $("$agentlog" demo "$work/d" >/dev/null 2>&1; echo $?) == 2 ]] || fail "a second demo into the same directory was not refused"
echo "demo_test: $checks checks passed, 0 failed"
