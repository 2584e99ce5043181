// tests/fuzz/fuzz_command_line.cc: the `agentlog` command line -- the
// CLI11 parser the tool builds (tools/command_line.h) and the read-only
// commands behind it -- over arbitrary argument lists.
//
// Method: the input is split on NUL and newline into at most kMaxArguments
// arguments after "agentlog"; an argument "@DB" stands for the fixture
// store of fuzz_util.h, written once per process to a RocksDB store in a
// temporary directory. Every command line is parsed. The commands that
// only read (verify, digest, log, state, diff, audit, recover) run when
// their DB is the fixture: any other path would make RocksDB create
// directories wherever the input says, and example, demo, demo-worker and
// fork write (a fork would change the fixture under later inputs).
//
// Properties: nothing crashes or throws out of the parser or a command;
// every exit code is one the tool documents (0..4, README "Exit codes"); a
// command line that does not parse exits 0 (--help) or 2.
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "tests/fuzz/fuzz_util.h"
#include "tools/command_line.h"

namespace {

constexpr size_t kMaxArguments = 16;

std::string* fixture_path = nullptr;

void RemoveFixture() {
  std::error_code error;
  std::filesystem::remove_all(std::filesystem::path(*fixture_path).parent_path(), error);
}

// The fixture on disk, closed so the commands can open it.
std::string MakeFixture() {
  std::string directory = (std::filesystem::temp_directory_path() / "agentlog_fuzz_cli_XXXXXX").string();
  FUZZ_CHECK(mkdtemp(directory.data()) != nullptr, "mkdtemp failed");
  const std::string path = directory + "/store";
  agentlog::ManualClock clock(1'700'000'000'000'000);
  agentlog::Options options;
  options.clock = &clock;
  auto store = agentlog::Store::Open(options, path);
  FUZZ_CHECK(store.ok(), store.status().ToString());
  agentlog::fuzz::FillFixture(**store, clock);
  agentlog::Status closed = (*store)->Close();
  FUZZ_CHECK(closed.ok(), closed.ToString());
  return path;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fixture_path = new std::string(MakeFixture());
  std::atexit(RemoveFixture);
  // The commands print to standard output; libFuzzer reports on standard
  // error, which stays (a command's own error lines go there too).
  const int null_fd = open("/dev/null", O_WRONLY);
  FUZZ_CHECK(null_fd >= 0 && dup2(null_fd, STDOUT_FILENO) >= 0, "cannot silence standard output");
  close(null_fd);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<std::string> arguments{"agentlog"};
  std::string current;
  for (size_t i = 0; i < size && arguments.size() <= kMaxArguments; ++i) {
    const char c = static_cast<char>(data[i]);
    if (c != '\0' && c != '\n') {
      current.push_back(c);
      continue;
    }
    arguments.push_back(current == "@DB" ? *fixture_path : current);
    current.clear();
  }
  if (!current.empty() && arguments.size() <= kMaxArguments) {
    arguments.push_back(current == "@DB" ? *fixture_path : current);
  }
  std::vector<const char*> argv;
  for (const std::string& argument : arguments) argv.push_back(argument.c_str());

  int exit_code = -1;
  const auto parsed =
      agentlog_tools::ParseCommandLine(static_cast<int>(argv.size()), argv.data(), &exit_code);
  if (!parsed.has_value()) {
    FUZZ_CHECK(exit_code == agentlog_tools::kExitOk || exit_code == agentlog_tools::kExitUsage,
               "a parse error exits " + std::to_string(exit_code));
    return 0;
  }
  FUZZ_CHECK(exit_code == agentlog_tools::kExitOk, "a parsed command line set exit code " +
                                                       std::to_string(exit_code));
  static const std::set<std::string> kReadOnly = {"verify", "digest", "log", "state",
                                                  "diff", "audit", "recover"};
  if (kReadOnly.count(parsed->command) == 0 || parsed->db != *fixture_path) return 0;
  exit_code = agentlog_tools::RunParsedCommand(*parsed);
  FUZZ_CHECK(exit_code >= agentlog_tools::kExitOk && exit_code <= agentlog_tools::kExitOther,
             parsed->command + " exited " + std::to_string(exit_code));
  return 0;
}
