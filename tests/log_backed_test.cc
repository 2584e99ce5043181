// tests/log_backed_test.cc: no answer the log does not back. A snapshot is
// a cache that any code with the store can write (Store::PutSnapshot), and
// a payload can be edited behind the store's back with its frame checksum
// recomputed; neither may decide a side effect or be served as data.
//
//   - a state stored under another event's key is bypassed (its own
//     sequence is checked);
//   - a forged snapshot that says a step was approved, or completed with
//     another output, grants nothing and answers nothing: the runtime checks
//     those facts against the log and folds the events instead (before: a
//     worker resumed on such a snapshot called the mutating tool);
//   - `agentlog verify` finds every snapshot that differs from the fold;
//   - an edited payload with a fresh checksum is Corruption on every read,
//     and the runtime serves no forged tool output (before: reads and the
//     runtime returned it, `log` and `state` exited 0).
#include <catch2/catch.hpp>

#include <cstdlib>
#include <functional>
#include <string>

#include "agentlog/runtime.h"
#include "testing/run_generator.h"
#include "runtime/runtime_impl.h"
#include "testing/store_surgery.h"
#include "testing/test_util.h"

using namespace agentlog;
using namespace agentlog::testing;
using Catch::Matchers::Contains;

namespace {

constexpr int64_t kStartUs = 1'700'000'000'000'000;

template <typename T>
T Must(Result<T> result) {
  INFO(result.status().ToString());
  REQUIRE(result.ok());
  return std::move(result).value();
}

struct CountingTool {
  int calls = 0;
  Tool AsTool(std::string output = "sent") {
    return [this, output](const ToolCall&) {
      ++calls;
      return ToolResult::Success(output);
    };
  }
};

// A store with one runtime worker, on a temp dir.
struct World : StoreFixture {
  World() : StoreFixture(kStartUs) { runtime = NewRuntime("worker-1"); }
  std::unique_ptr<Runtime> NewRuntime(const std::string& worker) {
    RuntimeOptions options;
    options.store = store.get();
    options.clock = &clock;
    options.worker_id = worker;
    options.durability = Durability::kSync;
    return Must(Runtime::Open(options));
  }
  // A run whose mutating step "send" waits for approval; returns its head.
  uint64_t AwaitingApproval(const std::string& run_id) {
    auto run = Must(runtime->StartRun(run_id, RunSpec()));
    REQUIRE(run->StartTurn("t1", "email the report", "send()").ok());
    REQUIRE(run->Plan(std::vector<StepSpec>{Step("send", "email.send", R"({"to":"cfo"})",
                                                  fb::ConfirmationMode_Mutating)})
                .ok());
    REQUIRE(run->RequestApproval("send", "send the report to the CFO?", 0).ok());
    REQUIRE(run->Release().ok());
    return Must(store->GetRun(run_id)).head_sequence;
  }
  // A run whose safe step "fetch" completed with `output`.
  void CompletedFetch(const std::string& run_id, const std::string& output) {
    auto run = Must(runtime->StartRun(run_id, RunSpec()));
    REQUIRE(run->StartTurn("t1", "fetch", "fetch()").ok());
    REQUIRE(run->Plan(std::vector<StepSpec>{Step("fetch", "http.get", "{}")}).ok());
    CountingTool tool;
    REQUIRE(Must(run->RunStep("fetch", tool.AsTool(output))).action == StepAction::kCompleted);
    REQUIRE(run->Release().ok());
  }
  std::string StateBytes(const std::string& run_id, uint64_t sequence) {
    auto projector = Projector::Create(store.get(), ProjectorOptions{});
    REQUIRE(projector->Register(NewRunStateProjection()).ok());
    return Must(projector->StateAt(run_id, kRunStateProjectionName, sequence))->Encode();
  }
  void PutRunStateSnapshot(const std::string& run_id, uint64_t sequence, const std::string& state) {
    REQUIRE(store->PutSnapshot(run_id, kRunStateProjectionName, kRunStateProjectionVersion, sequence, state,
                               Durability::kSync)
                .ok());
  }

  std::unique_ptr<Runtime> runtime;
};

// `state` (encoded) with its last_sequence set to `sequence`, re-encoded.
std::string WithSequence(const std::string& state, uint64_t sequence) {
  RunState decoded = Must(DecodeRunState(state));
  decoded.last_sequence = sequence;
  return EncodeRunState(decoded);
}

RecoveryAction ActionFor(Runtime& runtime, const std::string& run_id) {
  for (const RecoveryItem& item : Must(runtime.Recover())) {
    if (item.run_id == run_id) return item.action;
  }
  FAIL("Recover lists no item for " << run_id);
  return RecoveryAction::kResumeStep;
}

int RunCli(const std::string& args) {
  const int status = std::system((std::string(AGENTLOG_CLI_PATH) + " " + args + " >/dev/null 2>&1").c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace

TEST_CASE("LogBacked.AStateStoredUnderAnotherEventsKeyIsBypassed", "[logbacked][projector]") {
  // Goal: the run-state of event H+1 stored as the snapshot of event H
  // (Store::PutSnapshot takes any bytes) is bypassed, reported, and the
  // answer is the fold; VerifySnapshots names it.
  World world;
  const uint64_t head = world.AwaitingApproval("r");
  AppendMessage(*world.store, "r", "one more event");
  world.PutRunStateSnapshot("r", head, world.StateBytes("r", head + 1));
  auto projector = Projector::Create(world.store.get(), ProjectorOptions{});
  REQUIRE(projector->Register(NewRunStateProjection()).ok());
  StateInfo info;
  auto state = Must(projector->StateAt("r", kRunStateProjectionName, head, &info));
  REQUIRE(info.bypassed.size() == 1);
  CHECK_THAT(info.bypassed[0].message(), Contains("holds the state as of event " + std::to_string(head + 1)));
  CHECK(info.snapshot_sequence == 0);
  CHECK(AsRunState(*state).last_sequence == head);
  Status verified = projector->VerifySnapshots("r", kRunStateProjectionName);
  CHECK(verified.IsCorruption());
  CHECK_THAT(verified.message(), Contains("event " + std::to_string(head)));
}

TEST_CASE("LogBacked.AForgedApprovalSnapshotGrantsNothing", "[logbacked][runtime]") {
  // Goal: the hostile pass's attack: the state of a twin run whose step was
  // granted, saved as the snapshot of a run still awaiting approval -- as
  // is, and with its own sequence rewritten to fit the key. Recover says
  // await_approval (not resume_step), a resumed worker's RunStep waits and
  // never calls the tool, and `agentlog verify` exits 1 naming the snapshot.
  const bool rewritten = GENERATE(false, true);
  INFO((rewritten ? "sequence rewritten to fit" : "as is"));
  World world;
  const uint64_t head = world.AwaitingApproval("r");
  REQUIRE(world.AwaitingApproval("twin") == head);
  REQUIRE(world.runtime->Grant("twin", "send", "mallory", fb::ApprovalScope_Once).ok());
  std::string forged = world.StateBytes("twin", head + 1);
  if (rewritten) forged = WithSequence(forged, head);
  world.PutRunStateSnapshot("r", head, forged);

  auto fresh = world.NewRuntime("worker-2");
  CHECK(ActionFor(*fresh, "r") == RecoveryAction::kAwaitApproval);
  CHECK(Must(fresh->State("r")).approvals.at(0).decision == RunState::ApprovalDecision::kPending);
  auto run = Must(fresh->Resume("r"));
  CountingTool tool;
  StepOutcome outcome = Must(run->RunStep("send", tool.AsTool()));
  CHECK(outcome.action == StepAction::kAwaitingApproval);
  CHECK(tool.calls == 0);
  REQUIRE(run->Release().ok());
  run.reset();
  fresh.reset();
  world.runtime.reset();
  REQUIRE(world.store->Close().ok());
  CHECK(RunCli("verify " + world.dir.path()) == 1);
  CHECK(RunCli("verify " + world.dir.path() + " r") == 1);
  CHECK(RunCli("verify " + world.dir.path() + " twin") == 0);
}

TEST_CASE("LogBacked.AForgedCompletionSnapshotIsNotTheExactlyOnceAnswer", "[logbacked][runtime]") {
  // Goal: a snapshot at the head that says the completed step returned
  // another output (its sequence right) is not served: a resumed worker
  // gets the output the log recorded, and the tool is not called again.
  World world;
  world.CompletedFetch("r", "the real page");
  const uint64_t head = Must(world.store->GetRun("r")).head_sequence;
  RunState state = Must(DecodeRunState(world.StateBytes("r", head)));
  RunState::PlanItem* item = nullptr;
  for (RunState::PlanItem& candidate : state.plan) item = candidate.id == "fetch" ? &candidate : item;
  REQUIRE(item != nullptr);
  item->output = "a forged page";
  world.PutRunStateSnapshot("r", head, EncodeRunState(state));

  auto fresh = world.NewRuntime("worker-2");
  auto run = Must(fresh->Resume("r"));
  CountingTool tool;
  StepOutcome outcome = Must(run->RunStep("fetch", tool.AsTool("called again")));
  CHECK(outcome.action == StepAction::kCompleted);
  CHECK(outcome.output == "the real page");
  CHECK(tool.calls == 0);
}

TEST_CASE("LogBacked.AnEditedPayloadIsCorruptionOnEveryReadAndNeverAnAnswer", "[logbacked][runtime][corruption]") {
  // Goal: a tool output edited in the stored record, its frame checksum
  // recomputed (an attacker with the format document, not an accident):
  // ReadEvent, ReadRun and ReadGlobal answer Corruption naming the record,
  // the runtime serves no answer from it (an error, the tool not called),
  // and `agentlog log` exits 1.
  World world;
  world.CompletedFetch("r", "the real page");
  uint64_t completed = 0;
  for (const Event& event : ReadWholeRun(*world.store, "r")) {
    if (event.type() == fb::Body_ToolCompleted) completed = event.sequence();
  }
  REQUIRE(completed != 0);
  OwnedRecord record = LoadRecord(*world.store, "r", completed);
  const size_t at = record.payload.find("the real page");
  REQUIRE(at != std::string::npos);
  record.payload.replace(at, 13, "a forged page");  // same length: the FlatBuffer still verifies
  PutRecord(*world.store, "r", completed, record.Encode());

  const std::string name = NameOf("r", completed);
  Status read = world.store->ReadEvent("r", completed).status();
  CHECK(read.IsCorruption());
  CHECK_THAT(read.message(), Contains(name + ": payload does not match its SHA-256 hash"));
  ReadOptions all;
  CHECK(world.store->ReadRun("r", all).status().IsCorruption());
  CHECK(world.store->ReadGlobal(0, 1000).status().IsCorruption());

  auto fresh = world.NewRuntime("worker-2");
  CountingTool tool;
  auto resumed = fresh->Resume("r");
  if (resumed.ok()) {
    auto outcome = (*resumed)->RunStep("fetch", tool.AsTool("called again"));
    CHECK(outcome.status().IsCorruption());
  } else {
    CHECK(resumed.status().IsCorruption());
  }
  CHECK(tool.calls == 0);
  resumed = Status::Closed("dropped");
  fresh.reset();
  world.runtime.reset();
  REQUIRE(world.store->Close().ok());
  CHECK(RunCli("log " + world.dir.path() + " r") == 1);
  CHECK(RunCli("state " + world.dir.path() + " r") == 1);
}

TEST_CASE("LogBacked.EveryStateOfAGeneratedRunIsBackedByItsLog", "[logbacked][runtime]") {
  // Goal: the runtime's check never takes a true state for a forged one:
  // for random valid runs (approvals by step, by causation and without a
  // request; steps completed, retried, completed again; testing/run_generator.h)
  // the state after every event passes CheckStateAgainstLog. Method: the
  // runtime's internals (runtime/runtime_impl.h), states from events alone.
  World world;
  auto* runtime = dynamic_cast<runtime::RuntimeImpl*>(world.runtime.get());
  REQUIRE(runtime != nullptr);
  auto projector = Projector::Create(world.store.get(), ProjectorOptions{});
  REQUIRE(projector->Register(NewRunStateProjection()).ok());
  uint64_t checked = 0, decided = 0, completed = 0;
  for (uint64_t seed = 1; seed <= 6; ++seed) {
    const std::string run_id = "generated-" + std::to_string(seed);
    RunGenerator generator(seed);
    const std::vector<EventInput> events = generator.Next(250);
    REQUIRE(StoreArtifacts(*world.store, events, Durability::kBuffered).ok());
    for (size_t at = 0; at < events.size(); at += 50) {
      const size_t count = std::min<size_t>(50, events.size() - at);
      REQUIRE(world.store->Append(run_id, std::span(events).subspan(at, count), AppendOptions()).ok());
    }
    for (uint64_t sequence = 1; sequence <= events.size(); ++sequence) {
      const auto folded = Must(projector->StateAt(run_id, kRunStateProjectionName, sequence));
      const RunState& state = AsRunState(*folded);
      Status backed = runtime->CheckStateAgainstLog(run_id, state);
      INFO(run_id << " event " << sequence << ": " << backed.ToString());
      REQUIRE(backed.ok());
      ++checked;
      for (const RunState::Approval& approval : state.approvals) decided += approval.decided_sequence != 0;
      for (const RunState::PlanItem& item : state.plan) completed += item.completed_sequence != 0;
    }
  }
  CHECK(checked == 1500);
  CHECK(decided > 100);    // the check had decisions to look up
  CHECK(completed > 100);  // and completions

  // Decisions the generator does not make: one naming its request only by
  // causation, one with neither a step nor a request.
  auto payload = [](const std::function<void(flatbuffers::FlatBufferBuilder&)>& build) {
    flatbuffers::FlatBufferBuilder builder;
    build(builder);
    return std::string(reinterpret_cast<const char*>(builder.GetBufferPointer()), builder.GetSize());
  };
  std::vector<EventInput> answers = {
      Input(payload([](auto& b) {
              b.Finish(fb::CreateEvent(b, fb::Body_ApprovalRequested,
                                       fb::CreateApprovalRequestedDirect(b, fb::ConfirmationMode_Mutating, "ok?", 0).Union()));
            }),
            "send"),
      Input(payload([](auto& b) {
        b.Finish(fb::CreateEvent(b, fb::Body_ApprovalGranted,
                                 fb::CreateApprovalGrantedDirect(b, "alice", fb::ApprovalScope_Once, "").Union()));
      })),
      Input(payload([](auto& b) {
        b.Finish(fb::CreateEvent(b, fb::Body_ApprovalDenied, fb::CreateApprovalDeniedDirect(b, "bob", "no").Union()));
      }))};
  answers[1].causation = 1;
  REQUIRE(world.store->Append("answers", answers, AppendOptions()).ok());
  const auto folded = Must(projector->StateAt("answers", kRunStateProjectionName, 3));
  const RunState& state = AsRunState(*folded);
  REQUIRE(state.approvals.size() == 2);
  CHECK(state.FindApproval("send")->decided_sequence == 2);
  CHECK(state.FindApproval("#3")->decided_sequence == 3);
  CHECK(runtime->CheckStateAgainstLog("answers", state).ok());
}
