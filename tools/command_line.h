// tools/command_line.h: the `agentlog` command line as functions: the
// CLI11 parser and the dispatch to tools/commands.h, apart from main(), so
// the fuzz target tests/fuzz/fuzz_command_line.cc runs exactly the parser
// the tool runs. Nothing here calls exit(); output goes to std::cout and
// std::cerr as the commands print it.
#ifndef AGENTLOG_TOOLS_COMMAND_LINE_H_
#define AGENTLOG_TOOLS_COMMAND_LINE_H_

#include <cstdint>
#include <optional>
#include <string>

#include "tools/commands.h"
#include "tools/demo_worker.h"

namespace agentlog_tools {

// One parsed command line: the subcommand and its arguments.
struct ParsedCommand {
  std::string command;                    // "verify", "log", "demo-worker", ...
  std::string db;                         // DB, or DIR for demo
  std::string run;                        // RUN of log, state, diff, fork, audit
  std::optional<std::string> verify_run;  // verify's RUN, when given
  std::optional<std::string> against;     // verify --against, when given
  std::optional<std::string> digest_run;  // digest's RUN, when given
  LogRange range;                         // log --from/--to/--reverse/--limit
  StateAt state_at;                       // state --at/--time
  bool json = false;                      // state, diff --json
  uint64_t at = 0;                        // fork --at
  uint64_t from = 0;                      // diff A
  uint64_t to = 0;                        // diff B
  std::string new_run;                    // fork --as
  std::string reason;                     // fork --reason
  DemoWorkerArgs worker;                  // demo-worker
};

// Parses argv (argv[0] is the program name). On --help, or on a usage
// error (after CLI11 printed its message), returns nullopt with *exit_code
// kExitOk or kExitUsage; otherwise the command, with *exit_code kExitOk.
std::optional<ParsedCommand> ParseCommandLine(int argc, const char* const* argv, int* exit_code);

// Runs a parsed command; returns its exit code (kExit* of tools/commands.h).
int RunParsedCommand(const ParsedCommand& parsed);

// ParseCommandLine, then RunParsedCommand: what `agentlog` does.
int RunCommandLine(int argc, const char* const* argv);

}  // namespace agentlog_tools

#endif  // AGENTLOG_TOOLS_COMMAND_LINE_H_
