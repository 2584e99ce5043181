// tools/demo_command.cc: `agentlog demo DIR`, the README's first command.
//
// A real agent run, told from its log: worker processes drive the run
// through the runtime (tools/demo_worker.cc) against simulated services
// that keep their own ledger (tools/demo_services.cc). The demo SIGKILLs
// the first worker in the middle of a step, shows what recovery finds,
// lets a second worker take over, answers the approval as a person, lets a
// third worker finish, and then checks the services' ledger: the email
// went out exactly once. It replays the run to its decision, forks it to
// ask "what if the benchmark service had not timed out", and prints an
// audit. Every line about the run is read back from the store; the demo
// exits non-zero if a claim does not hold.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "tools/commands.h"
#include "tools/demo_services.h"
#include "tools/demo_worker.h"

namespace agentlog_tools {
namespace {

using agentlog::RunState;
using agentlog::Status;

constexpr char kApprover[] = "maria.chen";
constexpr char kEditedEmail[] =
    R"({"to":["atlas-team@example.com"],"cc":["oncall-lead@example.com"],)"
    R"("subject":"Atlas: document review and latency report"})";

void Line(const std::string& text) { std::printf("%s\n", text.c_str()); }
void Section(const std::string& title) { std::printf("\n== %s\n", title.c_str()); }

struct WorkerExit {
  bool killed = false;  // by our SIGKILL
  int code = -1;        // exit code when not killed
};

// Runs `agentlog demo-worker DIR --worker ID extra...`, relaying its lines;
// SIGKILLs it when a line contains `kill_on` (empty: never).
agentlog::Result<WorkerExit> RunWorker(const std::string& dir, const std::string& worker,
                                       const std::vector<std::string>& extra,
                                       const std::string& kill_on) {
  std::vector<std::string> argv = {"/proc/self/exe", "demo-worker", dir, "--worker", worker};
  argv.insert(argv.end(), extra.begin(), extra.end());
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return Status::IOError(std::string("pipe: ") + std::strerror(errno));
  std::fflush(stdout);
  const pid_t pid = fork();
  if (pid < 0) return Status::IOError(std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {
    dup2(fds[1], STDOUT_FILENO);
    std::vector<char*> args;
    for (std::string& arg : argv) args.push_back(arg.data());
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  close(fds[1]);
  FILE* out = fdopen(fds[0], "r");
  WorkerExit result;
  char buffer[4096];
  while (out != nullptr && std::fgets(buffer, sizeof buffer, out) != nullptr) {
    std::printf("  %s", buffer);
    if (!kill_on.empty() && std::strstr(buffer, kill_on.c_str()) != nullptr && !result.killed) {
      std::fflush(stdout);
      kill(pid, SIGKILL);
      result.killed = true;
      std::printf("  ** SIGKILL sent to %s (pid %d) in the middle of its step\n", worker.c_str(),
                  static_cast<int>(pid));
    }
  }
  if (out != nullptr) std::fclose(out);
  int status = 0;
  if (waitpid(pid, &status, 0) != pid) return Status::IOError("waitpid failed");
  if (WIFSIGNALED(status)) {
    if (!result.killed || WTERMSIG(status) != SIGKILL) {
      return Status::IOError(worker + " died of signal " + std::to_string(WTERMSIG(status)));
    }
    return result;
  }
  result.killed = false;
  result.code = WEXITSTATUS(status);
  return result;
}

Status Expect(bool holds, const std::string& claim) {
  if (holds) return Status::OK();
  return Status::Corruption("the demo's claim does not hold: " + claim);
}

// Opens the store and a runtime as the demo's own (non-worker) party.
struct Session {
  std::unique_ptr<agentlog::Store> store;
  std::unique_ptr<agentlog::Runtime> runtime;
  std::unique_ptr<agentlog::Projector> projector;
};

agentlog::Result<Session> OpenSession(const std::string& dir, const std::string& who) {
  Session session;
  auto store = OpenStoreToWrite(dir + "/" + kDemoStoreDir, /*create=*/false);
  if (!store.ok()) return store.status();
  session.store = std::move(store.value());
  agentlog::RuntimeOptions options;
  options.store = session.store.get();
  options.clock = agentlog::SystemClock();
  options.worker_id = who;
  auto runtime = agentlog::Runtime::Open(options);
  if (!runtime.ok()) return runtime.status();
  session.runtime = std::move(runtime.value());
  session.projector = agentlog::Projector::Create(session.store.get(), {});
  if (Status s = session.projector->Register(agentlog::NewRunStateProjection()); !s.ok()) return s;
  return session;
}

Status ShowRecovery(agentlog::Runtime& runtime) {
  auto items = runtime.Recover();
  if (!items.ok()) return items.status();
  PrintRecovery(*items, "  ");
  return Expect(!items->empty(), "recovery lists the unfinished run");
}

Status CrashFirstWorker(const std::string& dir) {
  Section("1. worker-1 starts the run; it is SIGKILLed in the middle of analyze_documents");
  auto first = RunWorker(dir, "worker-1", {"--stall-at-progress", "40"}, "about to be killed");
  if (!first.ok()) return first.status();
  if (!first->killed) {
    // It stopped by itself: its own error is on stderr above (a full disk, say).
    return Status::IOError("worker-1 exited with status " + std::to_string(first->code) +
                           " before it was killed; see its error above");
  }
  return Status::OK();
}

// Read in a session of its own, closed before the next worker starts.
Status ShowWhatIsDue(const std::string& dir) {
  Section("2. after the crash: what the log says is due (Runtime::Recover)");
  auto session = OpenSession(dir, "demo-supervisor");
  if (!session.ok()) return session.status();
  if (Status s = ShowRecovery(*session->runtime); !s.ok()) return s;
  auto state = session->runtime->State(kDemoRun);
  if (!state.ok()) return state.status();
  const RunState::PlanItem* analyze = state->FindPlanItem("analyze");
  if (Status s = Expect(analyze != nullptr && analyze->status == RunState::StepStatus::kRunning,
                        "analyze is in doubt after the kill");
      !s.ok()) {
    return s;
  }
  Line("  analyze: attempt " + std::to_string(analyze->attempts) + ", key " +
       analyze->idempotency_key + ", progress " + std::to_string(analyze->progress.done) + "/" +
       std::to_string(analyze->progress.total) + ", no outcome recorded");
  return Status::OK();
}

Status SecondWorkerTakesOver(const std::string& dir) {
  Section("3. worker-2 takes the run over (after worker-1's lease lapses)");
  auto second = RunWorker(dir, "worker-2", {}, "");
  if (!second.ok()) return second.status();
  return Expect(!second->killed && second->code == kWorkerAwaitingApproval,
                "worker-2 stops at the approval (exit " + std::to_string(second->code) + ")");
}

// As ShowWhatIsDue, in a session of its own.
Status AnswerApproval(const std::string& dir) {
  Section("4. a person answers the approval request");
  auto session = OpenSession(dir, "approval-desk");
  if (!session.ok()) return session.status();
  auto state = session->runtime->State(kDemoRun);
  if (!state.ok()) return state.status();
  const RunState::Approval* request = state->FindApproval(kDemoEmailStep);
  const RunState::PlanItem* email = state->FindPlanItem(kDemoEmailStep);
  if (Status s = Expect(request != nullptr && email != nullptr &&
                            state->status == agentlog::RunStatus::kAwaitingApproval,
                        "the run awaits approval of the email");
      !s.ok()) {
    return s;
  }
  Line("  run " + std::string(kDemoRun) + " is " + std::string(agentlog::RunStatusName(state->status)) +
       ": \"" + request->request + "\" (" + agentlog::ConfirmationModeName(request->mode) + ")");
  Line("  the agent proposed send_email " + email->arguments_json);
  Line(std::string("  ") + kApprover + " grants it once, adding the on-call lead in cc");
  return session->runtime->Grant(kDemoRun, kDemoEmailStep, kApprover,
                                 agentlog::fb::ApprovalScope_Once, kEditedEmail);
}

Status ThirdWorkerFinishes(const std::string& dir) {
  Section("5. worker-3 resumes and finishes");
  auto third = RunWorker(dir, "worker-3", {}, "");
  if (!third.ok()) return third.status();
  return Expect(!third->killed && third->code == kWorkerDone, "worker-3 completes the turn");
}

// The claim the demo exists for, checked where the log cannot vouch for
// it: in the services' own ledger.
Status CheckLedger(const Ledger& ledger) {
  Section("6. outside the log: the services' ledger");
  auto entries = ledger.Read();
  if (!entries.ok()) return entries.status();
  auto counts = CountByTool(*entries);
  for (const auto& [tool, c] : counts) {
    Line("  " + tool + ": " + std::to_string(c.calls) + " call(s), " + std::to_string(c.applied) +
         " applied" + (c.deduplicated ? ", " + std::to_string(c.deduplicated) + " de-duplicated by key" : "") +
         (c.timeouts ? ", " + std::to_string(c.timeouts) + " timed out" : ""));
  }
  if (Status s = Expect(counts["send_email"].applied == 1, "the email went out exactly once"); !s.ok()) {
    return s;
  }
  if (Status s = Expect(counts["analyze_documents"].applied == 1, "the analysis ran once"); !s.ok()) {
    return s;
  }
  Line("  => the email went out exactly once, though three workers ran and one died mid-step.");
  return Status::OK();
}

// Checks how the run ended, as the log tells it; answers the sequence of
// its one decision, where the time travel below goes.
agentlog::Result<uint64_t> CheckFinalRun(agentlog::Runtime& runtime) {
  auto final_state = runtime.State(kDemoRun);
  if (!final_state.ok()) return final_state.status();
  if (Status s = Expect(final_state->status == agentlog::RunStatus::kCompleted &&
                            final_state->decisions.size() == 1,
                        "the run completed with one decision");
      !s.ok()) {
    return s;
  }
  const RunState::PlanItem* sent = final_state->FindPlanItem(kDemoEmailStep);
  if (Status s = Expect(sent != nullptr && sent->call_arguments_json == kEditedEmail,
                        "send_email ran with the person's edit");
      !s.ok()) {
    return s;
  }
  Line("  send_email ran with the arguments as " + std::string(kApprover) + " edited them: " +
       sent->call_arguments_json);
  return final_state->decisions[0].sequence;
}

Status TimeTravel(agentlog::Runtime& runtime, uint64_t decision_at) {
  Section("7. time travel: the run as of event " + std::to_string(decision_at) + ", its decision");
  auto then = runtime.StateAt(kDemoRun, decision_at);
  if (!then.ok()) return then.status();
  Line("  " + then->PositionSummary() + "; status " + std::string(agentlog::RunStatusName(then->status)));
  for (const RunState::Fact& fact : then->facts) {
    Line("  knew: " + fact.key + " = " + fact.value + " (from " + fact.source + ", event " +
         std::to_string(fact.sequence) + ")");
  }
  Line("  had not yet: " + std::string(kDemoEmailStep) + " is " +
       std::string(agentlog::StepStatusName(then->FindPlanItem(kDemoEmailStep)->status)));
  auto replay = runtime.OpenReplay(kDemoRun, decision_at);
  if (!replay.ok()) return replay.status();
  int live_calls = 0;
  auto replayed = (*replay)->RunStep("benchmarks", [&live_calls](const agentlog::ToolCall&) {
    ++live_calls;
    return agentlog::ToolResult::Failure("a replay must not call this", false);
  });
  if (!replayed.ok()) return replayed.status();
  if (Status s = Expect(live_calls == 0 && replayed->action == agentlog::StepAction::kCompleted,
                        "replay serves the recorded output without calling the tool");
      !s.ok()) {
    return s;
  }
  Line("  replay: step benchmarks answered from the log (" + replayed->output + "); tool calls: 0");
  return Status::OK();
}

// The first benchmarks attempt: its ToolStarted is the fork point (the
// last event of its append); its RetryScheduled ends the append that
// recorded the timeout. 0 for what the log does not hold.
struct BenchmarkTimeout {
  uint64_t started_at = 0;
  uint64_t timed_out_at = 0;
};

agentlog::Result<BenchmarkTimeout> FindBenchmarkTimeout(agentlog::Store& store) {
  BenchmarkTimeout found;
  agentlog::ReadOptions read;
  read.limit = agentlog::kMaxReadLimit;
  auto events = store.ReadRun(kDemoRun, read);
  if (!events.ok()) return events.status();
  for (const agentlog::Event& event : *events) {
    if (event.step_id() != "benchmarks") continue;
    if (event.type() == agentlog::fb::Body_ToolStarted && found.started_at == 0) {
      found.started_at = event.sequence();
    }
    if (event.type() == agentlog::fb::Body_RetryScheduled && found.timed_out_at == 0) {
      found.timed_out_at = event.sequence();
    }
  }
  return found;
}

// The real branch just after the timeout was recorded, against the fork:
// only the fields of the benchmarks step and the run's status are shown.
Status ShowWhatIfDiff(agentlog::Projector& projector, uint64_t timed_out_at,
                      const std::string& what_if) {
  auto real = projector.StateAt(kDemoRun, agentlog::kRunStateProjectionName, timed_out_at);
  auto alternative = projector.CurrentState(what_if, agentlog::kRunStateProjectionName);
  if (!real.ok()) return real.status();
  if (!alternative.ok()) return alternative.status();
  const std::vector<agentlog::FieldChange> changes = agentlog::Diff(**real, **alternative);
  Line("  diff " + std::string(kDemoRun) + "@" + std::to_string(timed_out_at) + " -> " + what_if +
       ": " + std::to_string(changes.size()) + " fields differ, among them");
  for (const agentlog::FieldChange& change : changes) {
    if (change.path.rfind("plan.benchmarks.", 0) != 0 && change.path != "run.status") continue;
    Line("    " + change.path + ": " + (change.before.empty() ? "-" : change.before.substr(0, 60)) +
         " -> " + (change.after.empty() ? "-" : change.after.substr(0, 60)));
  }
  return Status::OK();
}

Status WhatIf(Session& session, const BenchmarkTimeout& timeout) {
  const std::string what_if = std::string(kDemoRun) + "-what-if";
  Section("8. counterfactual: what if the benchmark service had not timed out? (fork at event " +
          std::to_string(timeout.started_at) + ")");
  const agentlog::Substitution answered{agentlog::Substitution::Kind::kToolOutput, "benchmarks",
                                        R"({"p50_ms":40,"p99_ms":175,"baseline_p99_ms":180})"};
  auto forked = session.runtime->Counterfactual(kDemoRun, timeout.started_at, what_if,
                                                "what if benchmarks had answered at once",
                                                {&answered, 1});
  if (!forked.ok()) return forked.status();
  if (Status s = Expect(timeout.started_at != 0 && timeout.timed_out_at > timeout.started_at,
                        "the log holds the timeout");
      !s.ok()) {
    return s;
  }
  Line("  forked " + std::string(kDemoRun) + " at event " + std::to_string(timeout.started_at) +
       " as " + what_if + ": event " + std::to_string(forked->first_sequence) +
       " is its RunForked, " + std::to_string(forked->last_sequence) +
       " the substituted answer; nothing ran live");
  return ShowWhatIfDiff(*session.projector, timeout.timed_out_at, what_if);
}

Status ShowAudit(agentlog::Runtime& runtime) {
  Section("9. audit of " + std::string(kDemoRun));
  auto audit = runtime.Audit(kDemoRun);
  if (!audit.ok()) return audit.status();
  PrintAudit(*audit, "  ");
  return Expect(audit->approvals.size() == 1 && audit->approvals[0].by == kApprover,
                "the audit names the approver");
}

void PrintNextCommands(const std::string& dir, uint64_t decision_at, const BenchmarkTimeout& timeout) {
  Section("next: explore the same store");
  const std::string db = dir + "/" + kDemoStoreDir;
  Line("  agentlog log " + db + " " + kDemoRun + "              # every event as JSON");
  Line("  agentlog state " + db + " " + kDemoRun + " --at " + std::to_string(decision_at) +
       "   # what the agent knew at its decision");
  Line("  agentlog diff " + db + " " + kDemoRun + " " + std::to_string(timeout.started_at) + " " +
       std::to_string(timeout.timed_out_at) + "      # what the timeout changed");
  Line("  agentlog audit " + db + " " + kDemoRun);
  Line("  agentlog recover " + db);
  Line("  agentlog verify " + db);
}

// The run's story from the crash to the audit, worker by worker; the rest
// is told from the store, in one auditor's session.
Status RunDemo(const std::string& dir) {
  const Ledger ledger(dir + "/" + kDemoLedgerFile);
  Line("agentlog demo: an agent analyzes a project's documents and emails a report.");
  Line("store " + dir + "/" + kDemoStoreDir + "; the simulated services keep their own ledger in " +
       ledger.path());
  if (Status s = CrashFirstWorker(dir); !s.ok()) return s;
  if (Status s = ShowWhatIsDue(dir); !s.ok()) return s;
  if (Status s = SecondWorkerTakesOver(dir); !s.ok()) return s;
  if (Status s = AnswerApproval(dir); !s.ok()) return s;
  if (Status s = ThirdWorkerFinishes(dir); !s.ok()) return s;
  if (Status s = CheckLedger(ledger); !s.ok()) return s;

  auto session = OpenSession(dir, "auditor");
  if (!session.ok()) return session.status();
  agentlog::Runtime& runtime = *session->runtime;
  auto decision_at = CheckFinalRun(runtime);
  if (!decision_at.ok()) return decision_at.status();
  if (Status s = TimeTravel(runtime, *decision_at); !s.ok()) return s;
  auto timeout = FindBenchmarkTimeout(*session->store);
  if (!timeout.ok()) return timeout.status();
  if (Status s = WhatIf(*session, *timeout); !s.ok()) return s;
  if (Status s = ShowAudit(runtime); !s.ok()) return s;
  PrintNextCommands(dir, *decision_at, *timeout);
  return session->store->Close();
}

}  // namespace

int DemoCommand(const std::string& dir) {
  struct stat info;
  if (mkdir(dir.c_str(), 0755) != 0) {
    if (errno == ENOENT) {
      return Fail("demo", Status::NotFound("mkdir " + dir + ": its parent directory does not exist"));
    }
    if (errno != EEXIST) return Fail("demo", Status::IOError("mkdir " + dir + ": " + std::strerror(errno)));
    if (stat(dir.c_str(), &info) != 0 || !S_ISDIR(info.st_mode)) {
      return Fail("demo", Status::InvalidArgument(dir + " is a file; give a new directory"));
    }
  }
  const std::string store = dir + "/" + kDemoStoreDir;
  if (stat(store.c_str(), &info) == 0) {
    return Fail("demo", Status::InvalidArgument(dir + " already holds a demo store; give a new directory"));
  }
  if (Status s = RunDemo(dir); !s.ok()) return Fail("demo", s);
  return kExitOk;
}

}  // namespace agentlog_tools
