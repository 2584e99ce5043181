// tests/runtime_crash_test.cc: a completed step is never re-executed after a
// crash, and the email goes out exactly once, wherever the worker dies.
//
// Method: the demo's own worker (`agentlog demo-worker`, tools/demo_worker.cc)
// drives the demo run against the simulated services, whose ledger records
// every call outside the log. Scenario K SIGKILLs the worker at the first
// check after global position K is committed (checks sit between every two
// appends: in the agent loop, on tool entry, after each side effect), for
// every K from 1 until a scenario finishes without a kill -- every event
// boundary of the scripted run. Four more scenarios kill it right after a
// tool's side effect, before its outcome is logged (the in-doubt case). After
// the kill, workers are restarted (and the approval granted through the
// Runtime API when one asks) until the run completes: the same worker id,
// or (third case, some kill points) another worker that must wait out the
// dead one's lease and take the run over with the next epoch. Then:
//  * every step completed in the log at the kill is never called again;
//  * send_email and analyze_documents (which de-duplicate on the key)
//    applied their effect exactly once; an in-doubt step was called again
//    with the same key;
//  * the run completed and its chain verifies.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "agentlog/agentlog.h"
#include "testing/test_util.h"
#include "tools/demo_services.h"
#include "tools/demo_worker.h"

namespace agentlog {
namespace {

using agentlog_tools::kDemoRun;
using testing::TempDir;

struct Exit {
  bool killed = false;
  int code = -1;
};

// Runs one worker to its end; its output goes to /dev/null.
// Who restarts after the kill: the same worker (it takes its own lease over
// at once), or another one, which must wait for the dead one's lease.
struct Restart {
  std::string worker = "worker-1";
  std::string lease_ttl_ms = "600000";
};

// `tag` marks the worker's calls in the services' ledger.
Exit RunWorker(const std::string& dir, const std::string& worker, const std::string& ttl_ms,
               const std::string& tag, const std::vector<std::string>& extra) {
  std::vector<std::string> argv = {AGENTLOG_CLI_PATH, "demo-worker", dir, "--worker", worker,
                                   "--tag", tag, "--lease-ttl-ms", ttl_ms, "--retry-base-ms", "2"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    const int null = open("/dev/null", O_WRONLY);
    dup2(null, STDOUT_FILENO);
    std::vector<char*> args;
    for (std::string& arg : argv) args.push_back(arg.data());
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  Exit exit;
  if (WIFSIGNALED(status)) {
    REQUIRE(WTERMSIG(status) == SIGKILL);
    exit.killed = true;
  } else {
    exit.code = WEXITSTATUS(status);
  }
  return exit;
}

struct Opened {
  std::unique_ptr<Store> store;
  std::unique_ptr<Runtime> runtime;
};

Opened Open(const std::string& dir) {
  Options options;
  options.clock = SystemClock();
  options.create_if_missing = false;
  auto store = Store::Open(options, dir + "/" + agentlog_tools::kDemoStoreDir);
  REQUIRE(store.ok());
  RuntimeOptions runtime_options;
  runtime_options.store = store->get();
  runtime_options.clock = SystemClock();
  runtime_options.worker_id = "crash-test";
  auto runtime = Runtime::Open(runtime_options);
  REQUIRE(runtime.ok());
  return {std::move(store.value()), std::move(runtime.value())};
}

// Tools whose step had completed in the log.
std::set<std::string> CompletedTools(const std::string& dir) {
  std::set<std::string> tools;
  if (access((dir + "/" + agentlog_tools::kDemoStoreDir + "/CURRENT").c_str(), F_OK) != 0) {
    return tools;  // killed before the store existed
  }
  Opened opened = Open(dir);
  auto state = opened.runtime->State(kDemoRun);
  if (!state.ok()) {
    REQUIRE(state.status().IsNotFound());
    return tools;
  }
  for (const RunState::PlanItem& item : state->plan) {
    if (item.status == RunState::StepStatus::kCompleted) tools.insert(item.tool);
  }
  REQUIRE(opened.store->Close().ok());
  return tools;
}

struct Scenario {
  bool killed = false;
  std::set<std::string> completed_at_kill;
  std::vector<agentlog_tools::LedgerEntry> ledger;
};

// Runs the demo run to completion; the first worker gets `kill`, and every
// worker gets it until one dies of it.
Scenario Play(const std::vector<std::string>& kill, const Restart& restart = {}) {
  TempDir dir;
  Scenario scenario;
  for (int workers = 0; workers < 8; ++workers) {
    const Exit exit = scenario.killed
                          ? RunWorker(dir.path(), restart.worker, restart.lease_ttl_ms, "after", {})
                          : RunWorker(dir.path(), "worker-1", restart.lease_ttl_ms, "before", kill);
    if (exit.killed) {
      REQUIRE(!scenario.killed);
      scenario.killed = true;
      scenario.completed_at_kill = CompletedTools(dir.path());
      continue;
    }
    if (exit.code == agentlog_tools::kWorkerDone) break;
    REQUIRE(exit.code == agentlog_tools::kWorkerAwaitingApproval);
    Opened opened = Open(dir.path());
    REQUIRE(opened.runtime->Grant(kDemoRun, agentlog_tools::kDemoEmailStep, "approver",
                                  fb::ApprovalScope_Once)
                .ok());
    REQUIRE(opened.store->Close().ok());
  }
  Opened opened = Open(dir.path());
  auto state = opened.runtime->State(kDemoRun);
  REQUIRE(state.ok());
  CHECK(state->status == RunStatus::kCompleted);
  CHECK(opened.store->Verify(kDemoRun).ok());
  REQUIRE(opened.store->Close().ok());
  auto ledger = agentlog_tools::Ledger(dir.path() + "/" + agentlog_tools::kDemoLedgerFile).Read();
  REQUIRE(ledger.ok());
  scenario.ledger = std::move(ledger.value());
  return scenario;
}

// The checks every scenario must pass.
void CheckExactlyOnce(const Scenario& scenario) {
  std::map<std::string, agentlog_tools::ServiceCounts> counts =
      agentlog_tools::CountByTool(scenario.ledger);
  CHECK(counts["send_email"].applied == 1);
  CHECK(counts["analyze_documents"].applied == 1);
  CHECK(counts["fetch_benchmarks"].applied == 1);
  CHECK(counts["collect_documents"].applied >= 1);
  // A tool whose step had completed in the log at the kill is never called
  // by a worker started after it.
  for (const std::string& tool : scenario.completed_at_kill) {
    INFO("tool " << tool << " had completed before the kill");
    int calls_after = 0;
    for (const agentlog_tools::LedgerEntry& entry : scenario.ledger) {
      calls_after += entry.tool == tool && entry.tag == "after";
    }
    CHECK(calls_after == 0);
  }
}

TEST_CASE("a worker killed at every append boundary never repeats a completed step", "[runtime][crash]") {
  int boundaries = 0;
  for (uint64_t position = 1;; ++position) {
    INFO("SIGKILL at the first check after position " << position);
    const Scenario scenario = Play({"--kill-at-position", std::to_string(position)});
    CheckExactlyOnce(scenario);
    if (!scenario.killed) break;  // past the run's last event
    ++boundaries;
    REQUIRE(position < 200);
  }
  // The demo run has about 45 events; each was a kill point (events of one
  // append share one).
  CHECK(boundaries >= 30);
  WARN("runtime crash scenarios: " << boundaries << " kill points, each resumed to completion");
}

TEST_CASE("a worker killed after a side effect leaves the step in doubt; the key de-duplicates",
          "[runtime][crash]") {
  for (const char* tool : {"collect_documents", "analyze_documents", "fetch_benchmarks", "send_email"}) {
    INFO("SIGKILL right after the side effect of " << tool);
    const Scenario scenario = Play({"--kill-after-effect-of", tool});
    REQUIRE(scenario.killed);
    CHECK(scenario.completed_at_kill.count(tool) == 0);  // its outcome was not logged
    CheckExactlyOnce(scenario);
    std::map<std::string, agentlog_tools::ServiceCounts> counts =
        agentlog_tools::CountByTool(scenario.ledger);
    // Called again after the restart, with the same key.
    std::set<std::string> keys;
    for (const auto& entry : scenario.ledger) {
      if (entry.tool == tool) keys.insert(entry.key);
    }
    CHECK(keys.size() == 1);
    if (std::string(tool) == "send_email" || std::string(tool) == "analyze_documents") {
      CHECK(counts[tool].calls == 2);
      CHECK(counts[tool].deduplicated == 1);
    }
  }
}

TEST_CASE("another worker takes over a killed worker's run once its lease lapses", "[runtime][crash]") {
  // The same checks, with the restart by worker-2: it waits out worker-1's
  // 200 ms lease, takes the run over with the next epoch and finishes it.
  const Restart other{"worker-2", "200"};
  int killed = 0;
  for (uint64_t position : {3, 12, 20, 27, 33, 38, 42}) {
    INFO("SIGKILL at the first check after position " << position << ", restart by worker-2");
    const Scenario scenario = Play({"--kill-at-position", std::to_string(position)}, other);
    CheckExactlyOnce(scenario);
    killed += scenario.killed;
  }
  CHECK(killed >= 6);
}

}  // namespace
}  // namespace agentlog
