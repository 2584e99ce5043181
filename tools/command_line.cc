// tools/command_line.cc: the `agentlog` argument parser (CLI11) and the
// dispatch to the commands; see tools/command_line.h.
#include "tools/command_line.h"

#include <charconv>
#include <cstdint>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>

#include "tools/commands.h"
#include "tools/demo_worker.h"

namespace agentlog_tools {

namespace {

constexpr char kExitCodesHelp[] =
    "Exit codes:\n"
    "  0  success\n"
    "  1  corruption: a stored record, hash or chain failed a check (the message\n"
    "     names the run and sequence)\n"
    "  2  usage error, or an argument the store refused (InvalidArgument,\n"
    "     LimitExceeded), e.g. a malformed run id or digest\n"
    "  3  not found: no store at DB, or no such run\n"
    "  4  any other error (I/O, busy, conflict, closed)\n";

// Accepts decimal digits of a number that fits in 64 bits only. CLI11's
// own unsigned parsing would take "-1" as 2^64-1 and clamp a larger number
// to 2^64-1, and its range validators print the range as a double.
CLI::Validator WholeNumber(bool positive) {
  return CLI::Validator(
      [positive](std::string& text) -> std::string {
        const bool digits = !text.empty() && text.find_first_not_of("0123456789") == std::string::npos;
        if (!digits) return "expected a whole number, got \"" + text.substr(0, 40) + "\"";
        uint64_t value = 0;
        const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
        if (error != std::errc() || end != text.data() + text.size()) {
          return "\"" + text.substr(0, 40) + "\" is larger than the largest number, " +
                 std::to_string(UINT64_MAX);
        }
        if (positive && value == 0) return "expected a number greater than 0, got \"" + text + "\"";
        return "";
      },
      positive ? "N>0" : "N>=0");
}

struct Arguments {
  std::string db;
  std::string run;
  std::string against;
  LogRange range;
  uint64_t limit = 0;
  // Set by the parser: whether RUN / --against were given (an empty string
  // given on purpose is still given, and the store refuses it).
  CLI::Option* verify_run_option = nullptr;
  CLI::Option* against_option = nullptr;
  CLI::Option* digest_run_option = nullptr;
  // state, diff, fork
  uint64_t at = 0;
  std::string time;
  bool json = false;
  uint64_t from = 0;
  uint64_t to = 0;
  std::string new_run;
  std::string reason;
  CLI::Option* at_option = nullptr;
  CLI::Option* time_option = nullptr;
  // demo-worker
  DemoWorkerArgs worker;
};

std::optional<std::string> IfGiven(const CLI::Option* option, const std::string& value) {
  if (option == nullptr || option->count() == 0) return std::nullopt;
  return value;
}

void AddVerify(CLI::App& app, Arguments& args) {
  CLI::App* verify =
      app.add_subcommand("verify", "Prove stored history is intact: one run, all, or a digest");
  verify->add_option("DB", args.db, "store directory")->required();
  args.verify_run_option = verify->add_option("RUN", args.run, "verify only this run");
  args.against_option =
      verify->add_option("--against", args.against,
                   "a digest printed earlier by `agentlog digest`: prove the history it "
                   "covers is unchanged (later appends are fine)");
  args.against_option->excludes(args.verify_run_option);
  verify->footer(std::string(
                     "Checks every record's checksum and envelope, every payload hash and "
                     "every chain\nlink of RUN (and its index entries), of every run (plus "
                     "every table block,\nindex, idempotency entry, blob and snapshot) "
                     "without RUN, or of the history\nDIGEST covers with --against; then "
                     "every run-state snapshot of those runs\nagainst the fold of their "
                     "events. Opens the store read-only and changes nothing: a\nstore a "
                     "writer has open is refused (exit 4); close the writer first. Prints \"ok: N runs, M events\nverified\" "
                     "(and the snapshots checked, if any); on failure prints the error,\n"
                     "which names the run and sequence or the file, to stderr.\n\n") +
                 kExitCodesHelp);
}

void AddDigest(CLI::App& app, Arguments& args) {
  CLI::App* digest =
      app.add_subcommand("digest", "Print a short digest of a run or of the store, to keep");
  digest->add_option("DB", args.db, "store directory")->required();
  args.digest_run_option = digest->add_option("RUN", args.run, "the run to digest");
  digest->footer(std::string(
                     "Prints agentlog-run-v1:RUN:SEQ:HEX for RUN, or "
                     "agentlog-store-v1:POSITION:RUNS:HEX\nfor the whole store. Keep it "
                     "elsewhere; `agentlog verify DB --against DIGEST` later\nproves the "
                     "history it covers was not rewritten.\n\n") +
                 kExitCodesHelp);
}

void AddLog(CLI::App& app, Arguments& args) {
  CLI::App* log = app.add_subcommand("log", "Print a run's events as JSON lines");
  log->add_option("DB", args.db, "store directory")->required();
  log->add_option("RUN", args.run, "the run to print")->required();
  log->add_option("--from", args.range.from_sequence, "first sequence (inclusive)")
      ->check(WholeNumber(/*positive=*/false));
  log->add_option("--to", args.range.to_sequence, "last sequence (inclusive)")
      ->check(WholeNumber(/*positive=*/false));
  log->add_flag("--reverse", args.range.reverse, "newest first, starting at --to");
  log->add_option("--limit", args.limit, "print at most N events (default: all)")
      ->check(WholeNumber(/*positive=*/true));
  log->footer(std::string(
                  "One JSON object per event: run, seq, position, time_us, type, "
                  "type_number,\nschema_version, turn, step, causation, idempotency_key, "
                  "actor {kind, id},\npayload_sha256, chain, payload_removed, and payload "
                  "rendered from schema/events.fbs\n({\"unknown_type\": N, \"bytes_hex\": "
                  "...} for a type newer than this build).\n\n") +
              kExitCodesHelp);
}

void AddExample(CLI::App& app, Arguments& args) {
  CLI::App* example = app.add_subcommand("example", "Append a short example run through the Store API alone");
  example->add_option("DB", args.db, "store directory (created if missing)")->required();
  example->footer(std::string(
                      "Appends a realistic agent run (plan, tool calls, a decision, an "
                      "approval, an\nemail) event by event with sync durability, expected "
                      "heads and idempotency\nkeys; retries one append to show it is "
                      "recognized as a replay; prints the run\nas JSON lines and its "
                      "metadata; verifies the store; prints the digests. Each\ninvocation "
                      "adds a new run: incident-summary-1, -2, ...\n\n") +
                  kExitCodesHelp);
}

void AddDemo(CLI::App& app, Arguments& args) {
  CLI::App* demo = app.add_subcommand("demo", "A real agent run: crash, resume, replay, audit");
  demo->add_option("DIR", args.db, "a new directory for the store and the services' ledger")->required();
  demo->footer(std::string(
                   "Worker processes drive an agent run through the runtime against simulated\n"
                   "services. The first worker is SIGKILLed mid-step; recovery shows what is due;\n"
                   "a second worker takes over, retries a timeout and asks for approval; the demo\n"
                   "grants it as a person (editing the arguments); a third worker sends the email.\n"
                   "Then it checks the services' ledger (the email went out exactly once), replays\n"
                   "the run to its decision, forks it with a substituted tool answer, and prints\n"
                   "an audit. Exits non-zero if any of those claims does not hold.\n\n") +
               kExitCodesHelp);
}

void AddDemoWorker(CLI::App& app, Arguments& args) {
  CLI::App* worker = app.add_subcommand("demo-worker", "One worker process of `agentlog demo` (internal)");
  worker->group("");  // not listed in --help: the demo and the crash test start it
  worker->add_option("DIR", args.worker.dir, "the demo directory")->required();
  worker->add_option("--worker", args.worker.worker_id, "this worker's id")->required();
  worker->add_option("--tag", args.worker.tag, "tag for the services' ledger lines");
  worker->add_option("--lease-ttl-ms", args.worker.lease_ttl_ms, "lease time to live")->check(WholeNumber(true));
  worker->add_option("--retry-base-ms", args.worker.retry_base_ms, "retry backoff base")->check(WholeNumber(true));
  worker->add_option("--kill-at-position", args.worker.kill_at_position,
                     "SIGKILL itself once this global position is committed")->check(WholeNumber(true));
  worker->add_option("--kill-after-effect-of", args.worker.kill_after_effect_of,
                     "SIGKILL itself right after this tool's side effect");
  worker->add_option("--stall-at-progress", args.worker.stall_at_progress,
                     "stop forever after analyze_documents reports this progress")->check(WholeNumber(true));
}

void AddAudit(CLI::App& app, Arguments& args) {
  CLI::App* audit = app.add_subcommand("audit", "Who decided what, on what facts, approved by whom");
  audit->add_option("DB", args.db, "store directory")->required();
  audit->add_option("RUN", args.run, "the run")->required();
  audit->footer(std::string("Verifies the run's chain, then prints its decisions with the facts as "
                            "they stood\nwhen each was taken, its approvals (who, when, scope, "
                            "edited arguments), its\ntool calls with their idempotency keys and "
                            "outcomes, and its compensations.\n\n") +
                kExitCodesHelp);
}

void AddRecover(CLI::App& app, Arguments& args) {
  CLI::App* recover = app.add_subcommand("recover", "What is due for every unfinished run");
  recover->add_option("DB", args.db, "store directory")->required();
  recover->footer(std::string("One line per run that is not finished: resume at a step, a step in "
                              "doubt, an\napproval to wait for (until when), a retry time, a passed "
                              "deadline, a pause,\na lease held by a worker, a stale run; and failed "
                              "runs with steps still to\ncompensate.\n\n") +
                  kExitCodesHelp);
}

void AddState(CLI::App& app, Arguments& args) {
  CLI::App* state = app.add_subcommand("state", "Show what a run knew: its state at an event or a time");
  state->add_option("DB", args.db, "store directory")->required();
  state->add_option("RUN", args.run, "the run")->required();
  args.at_option = state->add_option("--at", args.at, "as of this event (default: the head; 0: before any)")
                       ->check(WholeNumber(/*positive=*/false));
  args.time_option = state->add_option("--time", args.time,
                                       "as of this time: microseconds since the epoch, or UTC "
                                       "like 2026-11-22T14:02:00Z");
  args.time_option->excludes(args.at_option);
  state->add_flag("--json", args.json, "one JSON object: run, sequence, position, fields {path: value}");
  state->footer(std::string(
                    "Folds the run's events through the run-state projection (from the nearest\n"
                    "snapshot) and prints its position (\"turn 2, step 6 of 9; steps 1-5 done\")\n"
                    "and every field as `path = value`. A damaged snapshot is reported on stderr\n"
                    "and bypassed. A fork shows its whole history.\n\n") +
                kExitCodesHelp);
}

void AddDiff(CLI::App& app, Arguments& args) {
  CLI::App* diff = app.add_subcommand("diff", "What changed in a run's state between two events");
  diff->add_option("DB", args.db, "store directory")->required();
  diff->add_option("RUN", args.run, "the run")->required();
  diff->add_option("A", args.from, "the earlier event (0: before any)")->required()->check(WholeNumber(false));
  diff->add_option("B", args.to, "the later event")->required()->check(WholeNumber(false));
  diff->add_flag("--json", args.json, "a JSON array of {change, path, before, after}");
  diff->footer(std::string("Prints `+ path = value` (added), `- path = value` (removed) and\n"
                           "`~ path: before -> after` (changed). \"What did event 6 change\" is\n"
                           "`agentlog diff DB RUN 5 6`.\n\n") +
               kExitCodesHelp);
}

void AddFork(CLI::App& app, Arguments& args) {
  CLI::App* fork = app.add_subcommand("fork", "Start a new run from a run's first events");
  fork->add_option("DB", args.db, "store directory")->required();
  fork->add_option("RUN", args.run, "the parent run")->required();
  fork->add_option("--at", args.at, "the parent's last shared event")->required()->check(WholeNumber(true));
  fork->add_option("--as", args.new_run, "the new run's id")->required();
  fork->add_option("--reason", args.reason, "why, recorded in the RunForked event");
  fork->footer(std::string("The new run's history is RUN's events 1..SEQ, then its own, starting\n"
                           "with a RunForked event. Nothing is copied; RUN is unchanged.\n\n") +
               kExitCodesHelp);
}

}  // namespace

std::optional<ParsedCommand> ParseCommandLine(int argc, const char* const* argv, int* exit_code) {
  CLI::App app(
      "agentlog: inspect and verify an agentlog store, the durable, hash-chained log of AI "
      "agent runs.",
      "agentlog");
  app.require_subcommand(1);
  app.footer(kExitCodesHelp);
  Arguments args;
  AddVerify(app, args);
  AddDigest(app, args);
  AddLog(app, args);
  AddExample(app, args);
  AddDemo(app, args);
  AddDemoWorker(app, args);
  AddAudit(app, args);
  AddRecover(app, args);
  AddState(app, args);
  AddDiff(app, args);
  AddFork(app, args);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    // --help is a "successful" parse error (0); every real one is a usage error.
    *exit_code = app.exit(error) == kExitOk ? kExitOk : kExitUsage;
    return std::nullopt;
  }

  // The options' "given" state lives in the App: copy it out before the App goes.
  ParsedCommand parsed;
  parsed.command = app.get_subcommands().front()->get_name();
  parsed.db = args.db;
  parsed.run = args.run;
  parsed.verify_run = IfGiven(args.verify_run_option, args.run);
  parsed.against = IfGiven(args.against_option, args.against);
  parsed.digest_run = IfGiven(args.digest_run_option, args.run);
  parsed.range = args.range;
  if (args.limit > 0) parsed.range.limit = args.limit;
  if (args.at_option != nullptr && args.at_option->count() > 0) parsed.state_at.sequence = args.at;
  if (args.time_option != nullptr && args.time_option->count() > 0) parsed.state_at.time = args.time;
  parsed.json = args.json;
  parsed.at = args.at;
  parsed.from = args.from;
  parsed.to = args.to;
  parsed.new_run = args.new_run;
  parsed.reason = args.reason;
  parsed.worker = args.worker;
  *exit_code = kExitOk;
  return parsed;
}

int RunParsedCommand(const ParsedCommand& parsed) {
  const std::string& command = parsed.command;
  if (command == "verify") return VerifyCommand(parsed.db, parsed.verify_run, parsed.against);
  if (command == "digest") return DigestCommand(parsed.db, parsed.digest_run);
  if (command == "log") return LogCommand(parsed.db, parsed.run, parsed.range);
  if (command == "state") return StateCommand(parsed.db, parsed.run, parsed.state_at, parsed.json);
  if (command == "diff") return DiffCommand(parsed.db, parsed.run, parsed.from, parsed.to, parsed.json);
  if (command == "fork") return ForkCommand(parsed.db, parsed.run, parsed.at, parsed.new_run, parsed.reason);
  if (command == "example") return ExampleCommand(parsed.db);
  if (command == "demo-worker") return DemoWorkerCommand(parsed.worker);
  if (command == "audit") return AuditCommand(parsed.db, parsed.run);
  if (command == "recover") return RecoverCommand(parsed.db);
  return DemoCommand(parsed.db);
}

int RunCommandLine(int argc, const char* const* argv) {
  int exit_code = kExitOk;
  const std::optional<ParsedCommand> parsed = ParseCommandLine(argc, argv, &exit_code);
  if (!parsed.has_value()) return exit_code;
  return RunParsedCommand(*parsed);
}

}  // namespace agentlog_tools
