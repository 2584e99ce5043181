// tools/demo_worker.cc: the demo's agent loop. See demo_worker.h.
//
// The loop is written the way an embedder writes one: it keeps nothing in
// memory that the log does not hold. Each pass reads the run's state and
// does the next thing due -- start the turn, plan, run the next step,
// record what a finished step taught the agent, ask for approval, complete
// the turn -- so a worker started after a crash at any point carries on
// from there. Every line it prints states what the runtime answered.
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <functional>
#include <map>
#include <optional>
#include <thread>

#include "tools/commands.h"
#include "tools/demo_services.h"
#include "tools/demo_worker.h"

namespace agentlog_tools {
namespace {

using agentlog::RunState;
using agentlog::Status;
using agentlog::StepAction;

constexpr char kTurnId[] = "turn-1";
constexpr int64_t kHourUs = int64_t{3600} * 1000 * 1000;

void Say(const DemoWorkerArgs& args, const std::string& line) {
  std::printf("%s | %s\n", args.worker_id.c_str(), line.c_str());
  std::fflush(stdout);
}

std::vector<agentlog::StepSpec> DemoPlan() {
  return {
      {"collect", "collect_documents", R"({"project":"atlas","folders":["docs","reviews"]})",
       agentlog::fb::ConfirmationMode_SafeReadonly, "Find the project's documents"},
      {"analyze", "analyze_documents", R"({"source":"step:collect","checks":["capacity","risks"]})",
       agentlog::fb::ConfirmationMode_SafeReadonly, "Read and analyze every document"},
      {"benchmarks", "fetch_benchmarks", R"({"service":"checkout","window":"7d"})",
       agentlog::fb::ConfirmationMode_SafeReadonly, "Fetch the latest latency benchmarks"},
      {kDemoEmailStep, "send_email",
       R"({"to":["atlas-team@example.com"],"subject":"Atlas: document review and latency report"})",
       agentlog::fb::ConfirmationMode_Mutating, "Email the report to the project team"},
  };
}

// What the agent learns from each finished step.
struct Learning {
  const char* step;
  const char* key;
  const char* value;
  const char* source;
};
constexpr Learning kLearnings[] = {
    {"collect", "documents_found", "12", "collect_documents"},
    {"analyze", "capacity_mismatch", "Q3 and Q4 sheets disagree in 25 sections", "analyze_documents"},
    {"benchmarks", "p99_regression", "checkout p99 230 ms vs 180 ms baseline (+28%)", "fetch_benchmarks"},
};

// Records what finished steps taught the agent, each once (the loop may
// pass here again after a crash: it checks the state first).
Status RecordLearning(agentlog::RunHandle& run, const DemoWorkerArgs& args,
                      const std::function<void()>& maybe_die) {
  const RunState& s = run.state();
  for (const Learning& learning : kLearnings) {
    const RunState::PlanItem* item = s.FindPlanItem(learning.step);
    if (item == nullptr || item->status != RunState::StepStatus::kCompleted ||
        s.FindFact(learning.key) != nullptr) {
      continue;
    }
    Say(args, std::string("fact: ") + learning.key + " = " + learning.value);
    if (Status st = run.AddFact(learning.key, learning.value, learning.source); !st.ok()) return st;
    maybe_die();
  }
  if (s.FindFact("p99_regression") != nullptr && s.decisions.empty()) {
    Say(args, "decision: email the whole team, flagged urgent");
    agentlog::DecisionSpec decision;
    decision.choice = "email the report to the whole project team, flagged urgent";
    decision.alternatives = {"post a summary in the team channel", "wait for the weekly review"};
    decision.rationale =
        "a 28% p99 regression and inconsistent capacity figures affect the roadmap review "
        "on Monday; the team list reaches every owner";
    decision.fact_keys = {"documents_found", "capacity_mismatch", "p99_regression"};
    if (Status st = run.RecordDecision(decision); !st.ok()) return st;
    maybe_die();
  }
  return Status::OK();
}

// Takes the run: starts it, or resumes it once any other worker's lease
// has lapsed (the runtime says until when).
agentlog::Result<std::unique_ptr<agentlog::RunHandle>> TakeRun(agentlog::Runtime& runtime,
                                                               agentlog::Store& store,
                                                               const DemoWorkerArgs& args) {
  if (store.GetRun(kDemoRun).status().IsNotFound()) {
    agentlog::RunSpec spec;
    spec.session_id = "session-atlas";
    spec.max_steps = 20;
    spec.deadline_at_us = agentlog::SystemClock()->NowMicros() + 24 * kHourUs;
    Say(args, std::string("starting run ") + kDemoRun + " (lease epoch 1)");
    return runtime.StartRun(kDemoRun, spec);
  }
  bool told = false;
  for (;;) {
    auto handle = runtime.Resume(kDemoRun);
    if (handle.ok()) {
      Say(args, std::string("took over run ") + kDemoRun + " at event " +
                    std::to_string((*handle)->state().last_sequence) + " with lease epoch " +
                    std::to_string((*handle)->lease_epoch()) + ": " +
                    (*handle)->state().PositionSummary());
      return handle;
    }
    if (!handle.status().IsBusy()) return handle.status();
    if (!told) Say(args, "waiting: " + handle.status().message());
    told = true;
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
}

// The worker's runtime over `db`, with the lease and retry timing the
// demo (or the crash test) asked for.
agentlog::Result<std::unique_ptr<agentlog::Runtime>> OpenWorkerRuntime(agentlog::Store* db,
                                                                       const DemoWorkerArgs& args) {
  agentlog::RuntimeOptions options;
  options.store = db;
  options.clock = agentlog::SystemClock();
  options.worker_id = args.worker_id;
  options.lease_ttl_ms = args.lease_ttl_ms;
  options.default_retry = {3, args.retry_base_ms, 8 * args.retry_base_ms};
  return agentlog::Runtime::Open(options);
}

// A worker restarted after the run ended (say, killed between completing
// the turn and releasing its lease) has nothing to do: its exit code, or
// nullopt while the run goes on.
std::optional<int> AlreadyEnded(agentlog::Runtime& runtime, const DemoWorkerArgs& args) {
  auto ended = runtime.State(kDemoRun);
  if (!ended.ok() || ended->CurrentTurn() == nullptr || ended->CurrentTurn()->ended_sequence == 0) {
    return std::nullopt;
  }
  const agentlog::RunStatus status = ended->CurrentTurn()->status;
  Say(args, std::string("run ") + kDemoRun + " has already ended (" +
                std::string(agentlog::RunStatusName(status)) + ")");
  return status == agentlog::RunStatus::kCompleted ? kWorkerDone : kWorkerRunFailed;
}

// What the services call back: analyze_documents' progress, recorded
// through the run (and where the demo's first worker stalls to be killed),
// and the crash points around each side effect.
ServiceHooks WorkerHooks(const DemoWorkerArgs& args, const std::string& tag,
                         agentlog::RunHandle& run, const std::function<void()>& maybe_die) {
  ServiceHooks hooks;
  hooks.tag = tag;
  hooks.progress = [&args, &run, &maybe_die](uint64_t done, uint64_t total,
                                             const std::string& message) {
    maybe_die();
    Status s = run.ReportProgress("analyze", done, total, message);
    if (!s.ok()) Say(args, "progress not recorded: " + s.ToString());
    Say(args, "  analyze_documents progress " + std::to_string(done) + "/" +
                  std::to_string(total) + " (" + message + ")");
    maybe_die();
    if (args.stall_at_progress != 0 && done == args.stall_at_progress) {
      Say(args, "  ...still analyzing (this worker is about to be killed)");
      for (;;) pause();  // the demo sends SIGKILL here, mid-step
    }
  };
  hooks.after_effect = [&args, &maybe_die](const std::string& tool) {
    if (tool == args.kill_after_effect_of) raise(SIGKILL);
    maybe_die();
  };
  return hooks;
}

// The demo's tools, each checking the crash point on entry, before its
// side effect.
std::map<std::string, agentlog::Tool> CrashCheckedTools(std::map<std::string, agentlog::Tool> tools,
                                                        const std::function<void()>& maybe_die) {
  for (auto& [name, tool] : tools) {
    tool = [&maybe_die, inner = tool](const agentlog::ToolCall& call) {
      maybe_die();
      return inner(call);
    };
  }
  return tools;
}

const RunState::PlanItem* FirstUnfinished(const RunState& state) {
  for (const RunState::PlanItem& item : state.plan) {
    if (item.status != RunState::StepStatus::kCompleted) return &item;
  }
  return nullptr;
}

// The agent loop over a taken run. Each pass does the next thing the
// state says is due and answers nullopt to go on, or the worker's exit
// code.
class AgentLoop {
 public:
  AgentLoop(const DemoWorkerArgs& args, agentlog::RunHandle& run,
            const std::map<std::string, agentlog::Tool>& tools,
            const std::function<void()>& maybe_die)
      : args_(args), run_(run), tools_(tools), maybe_die_(maybe_die) {}

  int Run() {
    for (;;) {
      maybe_die_();
      if (std::optional<int> code = Pass(); code.has_value()) return *code;
    }
  }

 private:
  std::optional<int> Pass() {
    const RunState& s = run_.state();
    const RunState::Turn* turn = s.CurrentTurn();
    if (turn == nullptr) return StartTurn();
    if (turn->ended_sequence != 0) {
      // A copy: `turn` points into state that Release changes.
      return EndedTurn(turn->status);
    }
    if (s.plan.empty()) return Plan();
    if (Status st = RecordLearning(run_, args_, maybe_die_); !st.ok()) return Fail(st);
    maybe_die_();
    const RunState::PlanItem* next = FirstUnfinished(run_.state());
    if (next == nullptr) return CompleteTurn();
    return RunStep(*next);
  }

  std::optional<int> StartTurn() {
    Say(args_, "turn-1: \"Analyze the project's documents and send the report to the team\"");
    if (Status st = run_.StartTurn(kTurnId,
                                   "Analyze the project's documents and send the report to the team",
                                   "analyze(atlas docs) + benchmarks -> email(atlas-team)");
        !st.ok()) {
      return Fail(st);
    }
    return std::nullopt;
  }

  std::optional<int> EndedTurn(agentlog::RunStatus ended) {
    Say(args_, "the turn has ended (" + std::string(agentlog::RunStatusName(ended)) + ")");
    return ReleaseAndExit(ended == agentlog::RunStatus::kCompleted ? kWorkerDone : kWorkerRunFailed);
  }

  std::optional<int> Plan() {
    Say(args_, "plan: collect -> analyze -> benchmarks -> send-report (mutating)");
    const std::vector<agentlog::StepSpec> plan = DemoPlan();
    if (Status st = run_.Plan(plan); !st.ok()) return Fail(st);
    return std::nullopt;
  }

  std::optional<int> CompleteTurn() {
    Say(args_, "all 4 steps done: completing the turn");
    if (Status st = run_.CompleteTurn("Report sent to the Atlas team: 25 capacity mismatches, "
                                      "checkout p99 +28% over baseline.");
        !st.ok()) {
      return Fail(st);
    }
    return std::nullopt;
  }

  std::optional<int> RunStep(const RunState::PlanItem& next) {
    // Copies: `next` points into state that RunStep changes.
    const std::string step = next.id;
    const std::string tool = next.tool;
    auto outcome = run_.RunStep(step, tools_.at(tool));
    if (!outcome.ok()) return Fail(outcome.status());
    return ActOn(step, tool, *outcome);
  }

  // What the worker does with RunStep's answer.
  std::optional<int> ActOn(const std::string& step, const std::string& tool,
                           const agentlog::StepOutcome& o) {
    switch (o.action) {
      case StepAction::kCompleted:
        SayCompleted(step, tool, o);
        break;
      case StepAction::kRetryLater: {
        Say(args_, "step " + step + " (" + tool + "): " + o.detail);
        const int64_t wait_us = o.at_us - agentlog::SystemClock()->NowMicros();
        if (wait_us > 0) std::this_thread::sleep_for(std::chrono::microseconds(wait_us));
        break;
      }
      case StepAction::kNeedsApproval:
      case StepAction::kApprovalExpired:
        if (Status st = RequestApproval(step); !st.ok()) return Fail(st);
        maybe_die_();
        [[fallthrough]];
      case StepAction::kAwaitingApproval:
        Say(args_, "waiting for a person: releasing the lease and exiting");
        return ReleaseAndExit(kWorkerAwaitingApproval);
      case StepAction::kPaused:
        Say(args_, "step " + step + ": " + o.detail + "; exiting");
        return ReleaseAndExit(kWorkerPaused);
      case StepAction::kDenied:
      case StepAction::kFailed:
      case StepAction::kDeadlinePassed:
        Say(args_, "step " + step + ": " + o.detail);
        if (run_.state().CurrentTurn()->ended_sequence == 0) {
          if (Status st = run_.FailTurn(o.detail); !st.ok()) return Fail(st);
        }
        return ReleaseAndExit(kWorkerRunFailed);
      case StepAction::kRun:
      case StepAction::kInDoubt:
        // RunStep runs both itself; seeing them here is a bug in the runtime.
        return Fail(Status::Corruption("RunStep returned " +
                                       std::string(agentlog::StepActionName(o.action))));
    }
    return std::nullopt;
  }

  void SayCompleted(const std::string& step, const std::string& tool, const agentlog::StepOutcome& o) {
    if (o.in_doubt) {
      Say(args_, "step " + step + " was in doubt (attempt " + std::to_string(o.call.attempt) +
                     " started, no outcome logged): called " + tool + " again with key " +
                     o.call.idempotency_key + " so the service de-duplicates");
    }
    Say(args_, "step " + step + " (" + tool + "): " +
                   (o.tool_called ? "completed, attempt " + std::to_string(o.call.attempt) +
                                        ", key " + o.call.idempotency_key
                                  : "already completed in the log; not called again") +
                   " [" + std::to_string(o.output.size()) + " bytes of output]");
  }

  Status RequestApproval(const std::string& step) {
    const int64_t expires = agentlog::SystemClock()->NowMicros() + kHourUs;
    Say(args_, "step " + step + " is mutating: requesting approval (expires in 1 h)");
    return run_.RequestApproval(step, "Send the Atlas report to atlas-team@example.com", expires);
  }

  // Gives the lease up so the next worker need not wait for it to lapse.
  int ReleaseAndExit(int code) {
    if (Status st = run_.Release(); !st.ok()) return Fail(st);
    return code;
  }

  int Fail(const Status& status) { return agentlog_tools::Fail("demo-worker", status); }

  const DemoWorkerArgs& args_;
  agentlog::RunHandle& run_;
  const std::map<std::string, agentlog::Tool>& tools_;
  const std::function<void()>& maybe_die_;
};

}  // namespace

int DemoWorkerCommand(const DemoWorkerArgs& args) {
  const std::string tag = args.tag.empty() ? args.worker_id : args.tag;
  auto store = OpenStoreToWrite(args.dir + "/" + kDemoStoreDir, /*create=*/true);
  if (!store.ok()) return Fail("demo-worker", store.status());
  agentlog::Store* db = store->get();
  // The crash point: SIGKILL once position kill_at_position is committed.
  // Called after every write, on tool entry and after each side effect.
  const std::function<void()> maybe_die = [&args, db] {
    if (args.kill_at_position != 0 && db->LastPosition() >= args.kill_at_position) {
      raise(SIGKILL);
    }
  };

  auto runtime = OpenWorkerRuntime(db, args);
  if (!runtime.ok()) return Fail("demo-worker", runtime.status());
  maybe_die();
  if (std::optional<int> code = AlreadyEnded(**runtime, args); code.has_value()) return *code;
  auto taken = TakeRun(**runtime, *db, args);
  if (!taken.ok()) return Fail("demo-worker", taken.status());
  agentlog::RunHandle& run = **taken;
  maybe_die();

  const ServiceHooks hooks = WorkerHooks(args, tag, run, maybe_die);
  const Ledger ledger(args.dir + "/" + kDemoLedgerFile);
  const std::map<std::string, agentlog::Tool> tools =
      CrashCheckedTools(DemoTools(ledger, hooks), maybe_die);
  return AgentLoop(args, run, tools, maybe_die).Run();
}

}  // namespace agentlog_tools
