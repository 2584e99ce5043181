// tests/runtime_cost_test.cc: what one RunHandle::RunStep costs in store
// round trips and folded events (issue 14: "one fold per write"). The
// runtime folds each event it reads, so the events its reads return are the
// events it folds. The figures are printed (ctest -V) and bounded: a
// change that makes a step read the run twice per write fails here.
#include <catch2/catch.hpp>

#include "agentlog/runtime.h"
#include "testing/test_util.h"
#include "testing/counting_store.h"

using namespace agentlog;
using namespace agentlog::testing;

namespace {

constexpr uint32_t kSteps = 20;

struct StepCost {
  double reads = 0;        // store reads per step
  double run_reads = 0;    // ReadRun calls per step
  double events_read = 0;  // events read (and so folded) per step
  double appends = 0;
  double events_appended = 0;
};

// Starts a run with kSteps read-only steps and runs each with a tool that
// succeeds (`output_bytes` long); the cost of the RunStep calls alone.
StepCost MeasureRunSteps(size_t output_bytes) {
  TempDir dir;
  ManualClock clock(1'700'000'000'000'000);
  std::unique_ptr<Store> store = OpenStore(dir.path(), &clock);
  CountingStore counting(store.get());
  RuntimeOptions options;
  options.store = &counting;
  options.clock = &clock;
  options.worker_id = "worker-1";
  options.durability = Durability::kBuffered;
  auto runtime = Runtime::Open(options);
  REQUIRE(runtime.ok());
  auto run = (*runtime)->StartRun("cost", RunSpec{});
  REQUIRE(run.ok());
  RunHandle& handle = **run;
  REQUIRE(handle.StartTurn("turn-1", "measure", "").ok());
  std::vector<StepSpec> steps;
  for (uint32_t i = 1; i <= kSteps; ++i) steps.push_back(Step("step-" + std::to_string(i), "lookup", "{}"));
  REQUIRE(handle.Plan(steps).ok());
  const std::string output(output_bytes, 'x');
  const Tool tool = [&](const ToolCall&) { return ToolResult::Success(output); };
  counting.Reset();
  for (const StepSpec& step : steps) {
    Result<StepOutcome> out = handle.RunStep(step.id, tool);
    INFO(out.status().ToString());
    REQUIRE(out.ok());
    REQUIRE(out->action == StepAction::kCompleted);
  }
  const StoreCalls calls = counting.calls();
  REQUIRE(handle.state().plan.size() == kSteps);
  for (const RunState::PlanItem& item : handle.state().plan) {
    REQUIRE(item.status == RunState::StepStatus::kCompleted);
  }
  return StepCost{static_cast<double>(calls.reads) / kSteps, static_cast<double>(calls.run_reads) / kSteps,
                  static_cast<double>(calls.events_read) / kSteps,
                  static_cast<double>(calls.appends) / kSteps,
                  static_cast<double>(calls.events_appended) / kSteps};
}

}  // namespace

TEST_CASE("RuntimeCost.ARunStepReadsTheRunOncePerWriteAndFoldsEachEventOnce", "[runtime][cost]") {
  for (size_t output_bytes : {size_t{16}, size_t{128} << 10}) {  // inline, and an artifact
    const StepCost cost = MeasureRunSteps(output_bytes);
    WARN("RunStep with a " << output_bytes << "-byte output: " << cost.appends << " appends of "
                           << cost.events_appended << " events, " << cost.reads << " reads ("
                           << cost.run_reads << " ReadRun), " << cost.events_read
                           << " events read and folded, per step");
    REQUIRE(cost.appends == 2);  // ToolStarted; ToolCompleted (with its ArtifactStored)
    // One read per write, of the events it appended, each folded once.
    // (Before issue 14: 10 reads, 6 of them ReadRun, and every event folded
    // twice -- by the projector and again by the handle's refresh.)
    REQUIRE(cost.reads == cost.appends);
    REQUIRE(cost.run_reads == cost.appends);
    REQUIRE(cost.events_read == cost.events_appended);
  }
}

TEST_CASE("RuntimeCost.ACallCheckedAgainstAMovedHeadIsCheckedAgainAtTheHead", "[runtime][cost]") {
  TempDir dir;
  ManualClock clock(1'700'000'000'000'000);
  std::unique_ptr<Store> store = OpenStore(dir.path(), &clock);
  RuntimeOptions options;
  options.store = store.get();
  options.clock = &clock;
  options.worker_id = "worker-1";
  auto runtime = Runtime::Open(options);
  REQUIRE(runtime.ok());
  options.worker_id = "console";  // a person's answers, from another Runtime
  auto console = Runtime::Open(options);
  REQUIRE(console.ok());
  auto run = (*runtime)->StartRun("moved", RunSpec{});
  REQUIRE(run.ok());
  RunHandle& handle = **run;
  REQUIRE(handle.StartTurn("turn-1", "ship it", "").ok());
  const std::vector<StepSpec> plan{Step("ship", "deploy", "{}", fb::ConfirmationMode_Mutating),
                                   Step("notify", "email", "{}", fb::ConfirmationMode_Mutating)};
  REQUIRE(handle.Plan(plan).ok());
  REQUIRE(handle.RequestApproval("notify", "tell the team?", 0).ok());
  REQUIRE(handle.RequestApproval("ship", "deploy to prod?", 0).ok());
  const uint64_t requested = handle.state().last_sequence;

  // The grant moves the head past the handle's state: the handle's next
  // write is refused by the store (expected head), and checked again.
  REQUIRE((*console)->Grant("moved", "ship", "alice", fb::ApprovalScope_Once, "").ok());
  REQUIRE(handle.AddFact("ticket", "OPS-1", "tracker").ok());
  CHECK(handle.state().last_sequence == requested + 2);
  auto fact = store->ReadEvent("moved", requested + 2);
  REQUIRE(fact.ok());
  CHECK(fact->type() == fb::Body_FactAdded);
  CHECK(handle.state().FindFact("ticket") != nullptr);

  // Answered from the handle's state alone, the step would still await its
  // grant; an answer with no write is given only after a read finds no
  // newer event, so the step runs.
  REQUIRE((*console)->Grant("moved", "notify", "alice", fb::ApprovalScope_Once, "").ok());
  int calls = 0;
  const Tool tool = [&](const ToolCall&) {
    ++calls;
    return ToolResult::Success("sent");
  };
  Result<StepOutcome> out = handle.RunStep("notify", tool);
  INFO(out.status().ToString());
  REQUIRE(out.ok());
  CHECK(out->action == StepAction::kCompleted);
  CHECK(calls == 1);
}
