// tools/commands.h: the subcommands of `agentlog`, behind the argument parser.
//
// Each command returns the process exit code (kExit*). Results go to stdout;
// errors go to stderr as the Status message, which names the run and the
// sequence when there is one.
#ifndef AGENTLOG_TOOLS_COMMANDS_H_
#define AGENTLOG_TOOLS_COMMANDS_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "agentlog/agentlog.h"

namespace agentlog_tools {

// Exit codes, documented in `agentlog --help`. Stable: scripts switch on them.
constexpr int kExitOk = 0;
constexpr int kExitCorruption = 1;  // a check failed: the store's bytes or chain are damaged
constexpr int kExitUsage = 2;       // bad arguments; InvalidArgument, LimitExceeded
constexpr int kExitNotFound = 3;    // no such store, run or event
constexpr int kExitOther = 4;       // any other error (I/O, busy, conflict, closed, ...)

// The exit code for `status` (kExitOk for OK).
int ExitCodeFor(const agentlog::Status& status);

// Prints "agentlog COMMAND: <status>" to stderr; returns ExitCodeFor(status).
int Fail(const char* command, const agentlog::Status& status);

// Opens the store at `path`, with the system clock, for the commands that
// only read: Store::OpenReadOnly, so nothing in the directory is created
// or changed (a mistyped path is NotFound, a store on read-only media
// opens, one a running writer holds is refused with IOError).
agentlog::Result<std::unique_ptr<agentlog::Store>> OpenStoreToRead(const std::string& path);
// For the commands that write: Store::Open, creating the store only if
// `create`.
agentlog::Result<std::unique_ptr<agentlog::Store>> OpenStoreToWrite(const std::string& path, bool create);

// OK if `run_id` is a valid run id; otherwise the error, naming `what`
// ("RUN", "--as"), for a command to refuse before it opens the store.
agentlog::Status CheckRunArgument(const std::string& run_id, const char* what);

// A projector over `store` with the run-state projection registered.
std::unique_ptr<agentlog::Projector> RunStateProjector(agentlog::Store& store);

// Verify(run) when `run` is set, VerifyAgainst(digest) when `digest` is
// set, VerifyAll() otherwise. REQUIRES: not both set.
agentlog::Status VerifyStore(agentlog::Store& store, const std::optional<std::string>& run,
                             const std::optional<std::string>& digest,
                             agentlog::VerifyStats* stats);

// Projector::VerifySnapshots of the run-state projection for `run`, or
// for every run: every snapshot the runtime or a reader could start from
// must be what the run's events fold to.
agentlog::Status VerifyRunStateSnapshots(agentlog::Store& store, const std::optional<std::string>& run,
                                         agentlog::SnapshotCheckStats* stats);

// "ok: N runs, M events verified" (plus removed payloads and snapshots
// checked when there are any).
std::string VerifyOkLine(const agentlog::VerifyStats& stats, const agentlog::SnapshotCheckStats& snapshots);

int VerifyCommand(const std::string& db, const std::optional<std::string>& run,
                  const std::optional<std::string>& digest);

int DigestCommand(const std::string& db, const std::optional<std::string>& run);

struct LogRange {
  uint64_t from_sequence = 1;
  uint64_t to_sequence = UINT64_MAX;
  bool reverse = false;
  std::optional<uint64_t> limit;  // unset: every event in the range
};
int LogCommand(const std::string& db, const std::string& run, const LogRange& range);

// tools/state_commands.cc: the run-state projection, time travel, diffs, forks.
struct StateAt {
  std::optional<uint64_t> sequence;  // --at SEQ
  std::optional<std::string> time;   // --time T
};
// Microseconds since the epoch ("1700000000000000") or UTC
// ("2026-11-22T14:02:00Z", "2026-11-22T14:02:00.250Z"). Errors: InvalidArgument.
agentlog::Result<int64_t> ParseTime(const std::string& text);
int StateCommand(const std::string& db, const std::string& run, const StateAt& at, bool json);
int DiffCommand(const std::string& db, const std::string& run, uint64_t from, uint64_t to, bool json);
int ForkCommand(const std::string& db, const std::string& run, uint64_t at_sequence,
                const std::string& new_run, const std::string& reason);

// tools/example_run.cc: one run appended through the Store API alone.
int ExampleCommand(const std::string& db);

// tools/demo_command.cc: the runtime demo (crash, resume, replay, audit) in DIR.
int DemoCommand(const std::string& dir);

// tools/runtime_commands.cc.
// "2026-11-22T18:59:26.250Z"; "-" for 0.
std::string FormatUtc(int64_t time_us);
// Decisions with their facts, approvals, tool calls, compensations; each
// line prefixed with `indent`.
void PrintAudit(const agentlog::AuditReport& audit, const std::string& indent);
// One line per run: status, action, detail, steps still to compensate.
void PrintRecovery(const std::vector<agentlog::RecoveryItem>& items, const std::string& indent);
int AuditCommand(const std::string& db, const std::string& run);
int RecoverCommand(const std::string& db);

}  // namespace agentlog_tools

#endif  // AGENTLOG_TOOLS_COMMANDS_H_
