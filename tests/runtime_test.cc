// tests/runtime_test.cc: the durable agent runtime (agentlog/runtime.h) --
// exactly-once steps across crashes, in-doubt steps, large outputs as
// artifacts, retries and their backoff, approvals in every confirmation
// mode, deadlines, budgets, leases and fencing, compensation, Recover,
// decisions and Audit, the model context, replay, counterfactual forks,
// and every refusal.
//
// Method: a real Store in a temp dir, with one ManualClock shared by the
// store and every Runtime, so leases, retries, expiries and deadlines move
// only when a test advances time. A "crash" drops the RunHandle and the
// Runtime and opens a new Runtime on the same store. Every refused call is
// checked to name the problem and to leave the run's head where it was.
#include <catch2/catch.hpp>
#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "agentlog/runtime.h"
#include "testing/store_surgery.h"
#include "testing/test_util.h"

using namespace agentlog;
using namespace agentlog::testing;

namespace {

constexpr int64_t kStartUs = 1'700'000'000'000'000;
constexpr int64_t kSecondUs = 1'000'000;
constexpr int64_t kMinuteUs = 60 * kSecondUs;
constexpr int64_t kHourUs = 60 * kMinuteUs;

const Status& StatusOf(const Status& status) { return status; }
template <typename T>
const Status& StatusOf(const Result<T>& result) {
  return result.status();
}

#define REQUIRE_OK(expr)                          \
  do {                                            \
    const auto& status_or_result_ = (expr);       \
    INFO(StatusOf(status_or_result_).ToString()); \
    REQUIRE(StatusOf(status_or_result_).ok());    \
  } while (false)

template <typename T>
T Must(Result<T> result) {
  INFO(result.status().ToString());
  REQUIRE(result.ok());
  return std::move(result).value();
}

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// A tool that counts its calls and remembers what it was called with.
struct CountingTool {
  int calls = 0;
  std::vector<ToolCall> seen;
  ToolResult result = ToolResult::Success("tool-output");
  Tool AsTool() {
    return [this](const ToolCall& call) {
      ++calls;
      seen.push_back(call);
      return result;
    };
  }
};

// The shared store fixture with runtime worker "w1" on its store (options
// from OptionsFor, changed by `tweak`).
struct Fixture : StoreFixture {
  explicit Fixture(std::function<void(RuntimeOptions&)> tweak = {}) : StoreFixture(kStartUs) {
    tweak_ = std::move(tweak);
    runtime = OpenRuntime("w1");
  }

  RuntimeOptions OptionsFor(const std::string& worker) {
    RuntimeOptions options;
    options.store = store.get();
    options.clock = &clock;
    options.worker_id = worker;
    options.durability = Durability::kBuffered;
    options.jitter_seed = 7;
    if (tweak_) tweak_(options);
    return options;
  }

  std::unique_ptr<Runtime> OpenRuntime(const std::string& worker,
                                       const std::function<void(RuntimeOptions&)>& extra = {}) {
    RuntimeOptions options = OptionsFor(worker);
    if (extra) extra(options);
    return Must(Runtime::Open(options));
  }

  uint64_t Head(const std::string& run_id) { return Must(store->GetRun(run_id)).head_sequence; }

  bool Exists(const std::string& run_id) {
    auto info = store->GetRun(run_id);
    REQUIRE((info.ok() || info.status().IsNotFound()));
    return info.ok();
  }

  // Type names of the run's events after `after` (all of them for 0).
  std::vector<std::string> TypesAfter(const std::string& run_id, uint64_t after = 0) {
    std::vector<std::string> types;
    for (const Event& event : ReadWholeRun(*store, run_id)) {
      if (event.sequence() > after) types.push_back(event.type_name());
    }
    return types;
  }

  size_t Count(const std::string& run_id, const std::string& type) {
    const std::vector<std::string> types = TypesAfter(run_id);
    return static_cast<size_t>(std::count(types.begin(), types.end(), type));
  }

  // The sequence of the last event of `type` in the run (0: none).
  uint64_t LastOf(const std::string& run_id, const std::string& type) {
    uint64_t sequence = 0;
    for (const Event& event : ReadWholeRun(*store, run_id)) {
      if (event.type_name() == type) sequence = event.sequence();
    }
    return sequence;
  }

  RunState State(const std::string& run_id) { return Must(runtime->State(run_id)); }

  // A run with an open turn "t1" and a plan of `steps`.
  std::unique_ptr<RunHandle> Planned(const std::string& run_id, const std::vector<StepSpec>& steps,
                                     const RunSpec& spec = {}) {
    std::unique_ptr<RunHandle> run = Must(runtime->StartRun(run_id, spec));
    REQUIRE_OK(run->StartTurn("t1", "do the thing", "thing()"));
    REQUIRE_OK(run->Plan(steps));
    return run;
  }

  std::function<void(RuntimeOptions&)> tweak_;
  std::unique_ptr<Runtime> runtime;
};

const RunState::PlanItem& ItemOf(const RunState& state, const std::string& step_id) {
  const RunState::PlanItem* item = state.FindPlanItem(step_id);
  INFO("step " << step_id);
  REQUIRE(item != nullptr);
  return *item;
}

// A refused call: the code, a message naming `part`, and the head unmoved.
#define CHECK_REFUSED(f, run_id, expr, is_code, part)              \
  do {                                                             \
    const uint64_t head_before_ = (f).Head(run_id);                \
    const auto& refused_ = (expr);                                 \
    const Status& refused_status_ = StatusOf(refused_);            \
    INFO(#expr << " -> " << refused_status_.ToString());           \
    CHECK(refused_status_.is_code());                              \
    CHECK(Contains(refused_status_.message(), part));              \
    CHECK((f).Head(run_id) == head_before_);                       \
  } while (false)

// Requests and grants approval of the mutating step `step_id`, then starts it.
void StartGranted(Fixture& f, RunHandle& run, const std::string& step_id) {
  REQUIRE_OK(run.RequestApproval(step_id, "may I?", 0));
  REQUIRE_OK(f.runtime->Grant(run.run_id(), step_id, "alice", fb::ApprovalScope_Once));
  REQUIRE(Must(run.BeginStep(step_id)).action == StepAction::kRun);
}

}  // namespace

// ---------------------------------------------------------------------------
// Pure rules: backoff and keys
// ---------------------------------------------------------------------------

TEST_CASE("Runtime.RetryBackoffGrowsCapsAndJittersWithinHalfToFull", "[runtime]") {
  // Goal: d = min(max, base * 2^(n-1)); the wait is d/2 + [0, d/2] (equal
  // jitter), so it lies in [d - d/2, d] for any draw. Method: the smallest
  // draw gives the floor, a draw of d/2 the ceiling, random draws stay in
  // range; huge attempt numbers and bases saturate without overflow.
  RetryPolicy policy;
  policy.base_backoff_ms = 100;
  policy.max_backoff_ms = 1000;
  const uint64_t expected[] = {100, 200, 400, 800, 1000, 1000, 1000};
  for (uint32_t n = 1; n <= 7; ++n) {
    const uint64_t d = expected[n - 1];
    INFO("failed attempts " << n);
    CHECK(RetryBackoffMs(policy, n, 0) == d - d / 2);
    CHECK(RetryBackoffMs(policy, n, d / 2) == d);
    CHECK(RetryBackoffMs(policy, n, d / 2 + 1) == d - d / 2);  // wraps, never over d
    CHECK(RetryBackoffMs(policy, n, UINT64_MAX) >= d - d / 2);
    CHECK(RetryBackoffMs(policy, n, UINT64_MAX) <= d);
    uint64_t draw = 0x9e3779b97f4a7c15ull;
    for (int i = 0; i < 200; ++i) {
      draw = draw * 6364136223846793005ull + 1442695040888963407ull;
      const uint64_t wait = RetryBackoffMs(policy, n, draw);
      CHECK(wait >= d - d / 2);
      CHECK(wait <= d);
    }
  }
  // Odd d: the floor is the larger half.
  policy.base_backoff_ms = 5;
  CHECK(RetryBackoffMs(policy, 1, 0) == 3);
  CHECK(RetryBackoffMs(policy, 1, 2) == 5);
  // A cap below the base caps the first wait too.
  policy.base_backoff_ms = 5000;
  policy.max_backoff_ms = 2000;
  CHECK(RetryBackoffMs(policy, 1, 0) == 1000);
  CHECK(RetryBackoffMs(policy, 1, 1000) == 2000);
  // Huge attempt numbers saturate at the cap, and a cap of UINT64_MAX at
  // UINT64_MAX, with no wrap to a small wait.
  policy.base_backoff_ms = 1000;
  policy.max_backoff_ms = 60000;
  CHECK(RetryBackoffMs(policy, UINT32_MAX, 0) == 30000);
  CHECK(RetryBackoffMs(policy, UINT32_MAX, 30000) == 60000);
  policy.base_backoff_ms = UINT64_MAX / 3;
  policy.max_backoff_ms = UINT64_MAX;
  CHECK(RetryBackoffMs(policy, 2, 0) == (UINT64_MAX / 3 * 2) - (UINT64_MAX / 3 * 2) / 2);
  CHECK(RetryBackoffMs(policy, 200, 0) == UINT64_MAX - UINT64_MAX / 2);
  CHECK(RetryBackoffMs(policy, UINT32_MAX, UINT64_MAX / 2) == UINT64_MAX);
  // A zero base stays zero (and the doubling loop stops at once).
  policy.base_backoff_ms = 0;
  CHECK(RetryBackoffMs(policy, UINT32_MAX, 12345) == 0);
  // No failure yet: the base.
  policy.base_backoff_ms = 100;
  policy.max_backoff_ms = 1000;
  CHECK(RetryBackoffMs(policy, 0, 50) == 100);
}

TEST_CASE("Runtime.StepIdempotencyKeyIsStableAndCoversEveryPart", "[runtime]") {
  // Goal: "al1-" and 32 hex digits; the same inputs give the same key and
  // a change in any part (or a shift between length-prefixed parts) gives
  // another.
  const std::string key = StepIdempotencyKey("run", "turn", "step", "tool", R"({"a":1})");
  REQUIRE(key.size() == 36);
  CHECK(key.substr(0, 4) == "al1-");
  CHECK(key.find_first_not_of("0123456789abcdef", 4) == std::string::npos);
  CHECK(StepIdempotencyKey("run", "turn", "step", "tool", R"({"a":1})") == key);
  CHECK(StepIdempotencyKey("run2", "turn", "step", "tool", R"({"a":1})") != key);
  CHECK(StepIdempotencyKey("run", "turn2", "step", "tool", R"({"a":1})") != key);
  CHECK(StepIdempotencyKey("run", "turn", "step2", "tool", R"({"a":1})") != key);
  CHECK(StepIdempotencyKey("run", "turn", "step", "tool2", R"({"a":1})") != key);
  CHECK(StepIdempotencyKey("run", "turn", "step", "tool", R"({"a":2})") != key);
  CHECK(StepIdempotencyKey("ab", "t", "c", "t", "") != StepIdempotencyKey("a", "t", "bc", "t", ""));
}

TEST_CASE("Runtime.ActionNamesAreSnakeCase", "[runtime]") {
  CHECK(StepActionName(StepAction::kAwaitingApproval) == "awaiting_approval");
  CHECK(StepActionName(StepAction::kDeadlinePassed) == "deadline_passed");
  CHECK(StepActionName(StepAction::kInDoubt) == "in_doubt");
  CHECK(RecoveryActionName(RecoveryAction::kRetryAt) == "retry_at");
  CHECK(RecoveryActionName(RecoveryAction::kPauseTimedOut) == "pause_timed_out");
  CHECK(RecoveryActionName(RecoveryAction::kCompensate) == "compensate");
}

// ---------------------------------------------------------------------------
// Open, StartRun, turns and plans
// ---------------------------------------------------------------------------

TEST_CASE("Runtime.OpenRefusesMissingStoreClockAndBadWorkerIds", "[runtime]") {
  // Goal: each required option missing or malformed is InvalidArgument.
  Fixture f;
  const auto refused = [&](const std::function<void(RuntimeOptions&)>& edit,
                           const std::string& part) {
    RuntimeOptions options = f.OptionsFor("w1");
    edit(options);
    auto runtime = Runtime::Open(options);
    INFO(part << ": " << runtime.status().ToString());
    CHECK(runtime.status().IsInvalidArgument());
    CHECK(Contains(runtime.status().message(), part));
  };
  refused([](RuntimeOptions& o) { o.store = nullptr; }, "store");
  refused([](RuntimeOptions& o) { o.clock = nullptr; }, "clock");
  refused([](RuntimeOptions& o) { o.worker_id.clear(); }, "worker_id");
  refused([](RuntimeOptions& o) { o.worker_id = "worker one"; }, "worker_id");
  refused([](RuntimeOptions& o) { o.worker_id = "w/1"; }, "worker_id");
  refused([](RuntimeOptions& o) { o.worker_id = std::string(kMaxIdBytes + 1, 'w'); }, "worker_id");
  refused([](RuntimeOptions& o) { o.lease_ttl_ms = 0; }, "lease_ttl_ms");
  refused([](RuntimeOptions& o) { o.default_retry.max_attempts = 0; }, "max_attempts");
  RuntimeOptions longest = f.OptionsFor(std::string(kMaxIdBytes, 'w'));
  CHECK(Runtime::Open(longest).ok());
}

TEST_CASE("Runtime.StartRunTakesLeaseEpochOneAndRecordsBudgetAndDeadline", "[runtime]") {
  // Goal: StartRun writes LeaseAcquired (epoch 1, this worker), BudgetSet and
  // DeadlineSet; a second StartRun of the id is Conflict from any worker and
  // writes nothing; bad specs and ids write nothing at all.
  Fixture f;
  RunSpec spec;
  spec.session_id = "session-1";
  spec.max_steps = 5;
  spec.max_tokens = 100;
  spec.max_wall_time_ms = 60000;
  spec.deadline_at_us = kStartUs + kHourUs;
  auto run = Must(f.runtime->StartRun("r1", spec));
  CHECK(run->run_id() == "r1");
  CHECK(run->lease_epoch() == 1);
  CHECK_FALSE(run->replay());
  const RunState& state = run->state();
  CHECK(state.lease.holder == "w1");
  CHECK(state.lease.epoch == 1);
  CHECK(state.lease.held);
  CHECK(state.lease.ttl_ms == 30000);
  CHECK(state.budget.max_steps == 5);
  CHECK(state.budget.max_tokens == 100);
  CHECK(state.budget.max_wall_time_ms == 60000);
  CHECK(state.run_deadline_at_us == kStartUs + kHourUs);
  CHECK(f.TypesAfter("r1") ==
        std::vector<std::string>{"LeaseAcquired", "BudgetSet", "DeadlineSet"});
  const RunInfo info = Must(f.store->GetRun("r1"));
  CHECK(info.session_id == "session-1");
  CHECK(info.lease_epoch == 1);
  CHECK(info.lease_holder == "w1");

  CHECK_REFUSED(f, "r1", f.runtime->StartRun("r1", {}), IsConflict, "exists");
  auto other = f.OpenRuntime("w2");
  CHECK_REFUSED(f, "r1", other->StartRun("r1", spec), IsConflict, "r1");

  // Without a budget or deadline: the lease alone.
  auto bare = Must(f.runtime->StartRun("r2", {}));
  CHECK(f.TypesAfter("r2") == std::vector<std::string>{"LeaseAcquired"});

  RunSpec negative;
  negative.deadline_at_us = -1;
  auto refused = f.runtime->StartRun("r3", negative);
  CHECK(refused.status().IsInvalidArgument());
  CHECK_FALSE(f.Exists("r3"));
  const uint64_t position = f.store->LastPosition();
  auto bad_id = f.runtime->StartRun("bad id", {});
  CHECK(bad_id.status().IsInvalidArgument());
  CHECK(f.store->LastPosition() == position);
}

TEST_CASE("Runtime.TurnsOpenOneAtATimeAndPlansAreChecked", "[runtime]") {
  // Goal: a turn must be open to plan; a second turn waits for the first to
  // end; a plan needs steps with unique ids and tools; Plan once, then
  // RevisePlan with a reason. Each refusal writes nothing.
  Fixture f;
  auto run = Must(f.runtime->StartRun("r", {}));
  const std::vector<StepSpec> plan{Step("a", "tool.a", "{}"), Step("b", "tool.b", "{}")};
  CHECK_REFUSED(f, "r", run->Plan(plan), IsInvalidArgument, "no open turn");
  CHECK_REFUSED(f, "r", run->CompleteTurn("done"), IsInvalidArgument, "no open turn");
  CHECK_REFUSED(f, "r", run->FailTurn("boom"), IsInvalidArgument, "no open turn");
  CHECK_REFUSED(f, "r", run->StartTurn("", "hi", ""), IsInvalidArgument, "empty turn id");

  REQUIRE_OK(run->StartTurn("t1", "deploy the fix", "deploy(fix)"));
  CHECK(run->state().current_turn_id == "t1");
  CHECK(run->state().CurrentTurn()->message_text == "deploy the fix");
  CHECK_REFUSED(f, "r", run->StartTurn("t2", "again", ""), IsInvalidArgument, "still open");

  const std::vector<StepSpec> none;
  CHECK_REFUSED(f, "r", run->Plan(none), IsInvalidArgument, "no steps");
  const std::vector<StepSpec> repeated{Step("a", "tool.a", "{}"), Step("a", "tool.b", "{}")};
  CHECK_REFUSED(f, "r", run->Plan(repeated), IsInvalidArgument, "repeats");
  const std::vector<StepSpec> no_tool{Step("a", "", "{}")};
  CHECK_REFUSED(f, "r", run->Plan(no_tool), IsInvalidArgument, "id and a tool");
  const std::vector<StepSpec> no_id{Step("", "tool.a", "{}")};
  CHECK_REFUSED(f, "r", run->Plan(no_id), IsInvalidArgument, "id and a tool");
  const std::vector<StepSpec> long_id{Step("a", "tool.a", "{}"),
                                      Step(std::string(kMaxIdBytes + 1, 's'), "tool.b", "{}")};
  const uint64_t unplanned = f.Head("r");
  CHECK_FALSE(run->Plan(long_id).ok());  // the store refuses the envelope's step id
  CHECK(f.Head("r") == unplanned);
  CHECK(run->state().plan.empty());

  const uint64_t before = f.Head("r");
  REQUIRE_OK(run->Plan(plan));
  CHECK(f.TypesAfter("r", before) ==
        std::vector<std::string>{"TurnPlanned", "PlanItemAdded", "PlanItemAdded"});
  CHECK(run->state().plan.size() == 2);
  CHECK(run->state().status == RunStatus::kPlanned);
  CHECK(ItemOf(run->state(), "b").ordinal == 2);
  CHECK_REFUSED(f, "r", run->Plan(plan), IsInvalidArgument, "RevisePlan");

  const std::vector<StepSpec> revised{Step("a", "tool.a", "{}"), Step("c", "tool.c", "{}")};
  CHECK_REFUSED(f, "r", run->RevisePlan("", revised), IsInvalidArgument, "reason");
  CHECK_REFUSED(f, "r", run->RevisePlan("x", none), IsInvalidArgument, "no steps");
  REQUIRE_OK(run->RevisePlan("b is not needed", revised));
  CHECK(run->state().plan_revision.count == 1);
  CHECK(run->state().plan_revision.reason == "b is not needed");
  CHECK(run->state().FindPlanItem("b") == nullptr);
  CHECK(run->state().FindPlanItem("c") != nullptr);
  CHECK_REFUSED(f, "r", run->BeginStep("b"), IsNotFound, "no step b");

  // A running step holds the turn open.
  REQUIRE(Must(run->BeginStep("a")).action == StepAction::kRun);
  CHECK_REFUSED(f, "r", run->CompleteTurn("done"), IsInvalidArgument, "running");
  REQUIRE_OK(run->CompleteStep("a", "ok"));
  CHECK_REFUSED(f, "r", run->FailTurn(""), IsInvalidArgument, "error");
  REQUIRE_OK(run->CompleteTurn("done"));
  CHECK(run->state().status == RunStatus::kCompleted);
  CHECK(run->state().CurrentTurn()->output_text == "done");

  // A turn id is used once; a new turn starts with no plan.
  CHECK_REFUSED(f, "r", run->StartTurn("t1", "again", ""), IsInvalidArgument, "already has turn");
  REQUIRE_OK(run->StartTurn("t2", "next", ""));
  CHECK(run->state().plan.empty());
  CHECK(run->state().turn_number == 2);
  REQUIRE_OK(run->FailTurn("gave up"));
  CHECK(run->state().status == RunStatus::kFailed);
  CHECK(run->state().failure.error == "gave up");
}

// ---------------------------------------------------------------------------
// Exactly-once
// ---------------------------------------------------------------------------

TEST_CASE("Runtime.BeginStepRunsOnceThenAnswersFromTheLog", "[runtime]") {
  // Goal: BeginStep on a safe_readonly step records ToolStarted and answers
  // kRun (attempt 1, the stable key); after CompleteStep it answers
  // kCompleted with the output and writes nothing; RunStep calls its tool
  // once however often it is called.
  Fixture f;
  const std::string args = R"({"url":"https://example.com"})";
  auto run = f.Planned("r", {Step("fetch", "http.get", args), Step("parse", "parse", "{}")});
  const uint64_t before = f.Head("r");
  StepOutcome begun = Must(run->BeginStep("fetch"));
  CHECK(begun.action == StepAction::kRun);
  CHECK(begun.call.run_id == "r");
  CHECK(begun.call.step_id == "fetch");
  CHECK(begun.call.tool == "http.get");
  CHECK(begun.call.attempt == 1);
  CHECK(begun.call.arguments_json == args);
  CHECK(begun.call.proposed_arguments_json == args);
  CHECK(begun.call.idempotency_key == StepIdempotencyKey("r", "t1", "fetch", "http.get", args));
  CHECK(f.TypesAfter("r", before) == std::vector<std::string>{"ToolStarted"});  // no budget set
  const RunState::PlanItem& running = ItemOf(run->state(), "fetch");
  CHECK(running.status == RunState::StepStatus::kRunning);
  CHECK(running.idempotency_key == begun.call.idempotency_key);
  CHECK(run->state().status == RunStatus::kRunning);

  REQUIRE_OK(run->ReportProgress("fetch", 1, 2, "half way"));
  CHECK(ItemOf(run->state(), "fetch").progress.message == "half way");
  REQUIRE_OK(run->CompleteStep("fetch", "<html>"));
  CHECK(ItemOf(run->state(), "fetch").status == RunState::StepStatus::kCompleted);
  CHECK(ItemOf(run->state(), "fetch").output == "<html>");

  const uint64_t done = f.Head("r");
  StepOutcome again = Must(run->BeginStep("fetch"));
  CHECK(again.action == StepAction::kCompleted);
  CHECK(again.output == "<html>");
  CHECK(again.call.idempotency_key == begun.call.idempotency_key);
  CHECK(f.Head("r") == done);

  CHECK_REFUSED(f, "r", run->CompleteStep("fetch", "other"), IsInvalidArgument, "not running");
  CHECK_REFUSED(f, "r", run->FailStep("fetch", "late", true), IsInvalidArgument, "not running");
  CHECK_REFUSED(f, "r", run->ReportProgress("fetch", 2, 2, "x"), IsInvalidArgument, "not running");
  CHECK_REFUSED(f, "r", run->CompleteStep("parse", "x"), IsInvalidArgument, "pending");
  CHECK_REFUSED(f, "r", run->BeginStep("nope"), IsNotFound, "nope");
  CHECK_REFUSED(f, "r", run->CompleteStep("nope", "x"), IsNotFound, "nope");
  CHECK_REFUSED(f, "r", run->RunStep("nope", CountingTool().AsTool()), IsNotFound, "nope");

  CountingTool tool;
  tool.result = ToolResult::Success("parsed");
  StepOutcome first = Must(run->RunStep("parse", tool.AsTool()));
  CHECK(first.action == StepAction::kCompleted);
  CHECK(first.output == "parsed");
  CHECK(first.tool_called);
  CHECK(tool.calls == 1);
  REQUIRE(tool.seen.size() == 1);
  CHECK(tool.seen[0].idempotency_key == StepIdempotencyKey("r", "t1", "parse", "parse", "{}"));
  const uint64_t after_parse = f.Head("r");
  StepOutcome second = Must(run->RunStep("parse", tool.AsTool()));
  CHECK(second.action == StepAction::kCompleted);
  CHECK(second.output == "parsed");
  CHECK_FALSE(second.tool_called);
  CHECK(tool.calls == 1);
  CHECK(f.Head("r") == after_parse);
  CHECK(f.Count("r", "ToolStarted") == 2);
}

TEST_CASE("Runtime.CompletedStepSurvivesACrashAndIsNeverCalledAgain", "[runtime]") {
  // Goal: after the worker dies (handle and Runtime dropped), a new Runtime
  // with the same worker id resumes (epoch 2) and gets the completed step's
  // output from the log; the tool is not called.
  Fixture f;
  {
    auto run = f.Planned("r", {Step("fetch", "http.get", "{}")});
    CountingTool tool;
    tool.result = ToolResult::Success("payload");
    REQUIRE(Must(run->RunStep("fetch", tool.AsTool())).action == StepAction::kCompleted);
    REQUIRE(tool.calls == 1);
  }
  f.runtime.reset();
  f.clock.Advance(kSecondUs);
  auto restarted = f.OpenRuntime("w1");
  auto run = Must(restarted->Resume("r"));
  CHECK(run->lease_epoch() == 2);
  CHECK(run->state().lease.epoch == 2);
  const uint64_t head = f.Head("r");
  CountingTool tool;
  StepOutcome outcome = Must(run->RunStep("fetch", tool.AsTool()));
  CHECK(outcome.action == StepAction::kCompleted);
  CHECK(outcome.output == "payload");
  CHECK_FALSE(outcome.tool_called);
  CHECK(tool.calls == 0);
  CHECK(f.Head("r") == head);
  CHECK(f.Count("r", "ToolStarted") == 1);
}

TEST_CASE("Runtime.StepStartedBeforeACrashIsInDoubtWithTheSameKey", "[runtime]") {
  // Goal: a ToolStarted with no outcome is in doubt after a restart: BeginStep
  // gives the same key and attempt and writes nothing; RunStep calls the
  // tool once with that key and records the outcome with no second
  // ToolStarted.
  Fixture f;
  const std::string args = R"({"amount":10})";
  StepOutcome begun;
  {
    auto run = f.Planned("r", {Step("charge", "payments.charge", args)});
    begun = Must(run->BeginStep("charge"));
    REQUIRE(begun.action == StepAction::kRun);
  }
  f.runtime.reset();
  auto restarted = f.OpenRuntime("w1");
  auto run = Must(restarted->Resume("r"));
  const uint64_t head = f.Head("r");
  StepOutcome doubt = Must(run->BeginStep("charge"));
  CHECK(doubt.action == StepAction::kInDoubt);
  CHECK(doubt.call.idempotency_key == begun.call.idempotency_key);
  CHECK(doubt.call.attempt == 1);
  CHECK(doubt.call.arguments_json == args);
  CHECK(doubt.call.run_id == "r");
  CHECK(Contains(doubt.detail, begun.call.idempotency_key));
  CHECK(f.Head("r") == head);

  CountingTool tool;
  tool.result = ToolResult::Success("charged once");
  StepOutcome outcome = Must(run->RunStep("charge", tool.AsTool()));
  CHECK(outcome.action == StepAction::kCompleted);
  CHECK(outcome.tool_called);
  CHECK(outcome.output == "charged once");
  REQUIRE(tool.calls == 1);
  CHECK(tool.seen[0].idempotency_key == begun.call.idempotency_key);
  CHECK(tool.seen[0].attempt == 1);
  CHECK(f.Count("r", "ToolStarted") == 1);
  CHECK(f.TypesAfter("r", head) == std::vector<std::string>{"ToolCompleted"});
  CHECK(ItemOf(run->state(), "charge").status == RunState::StepStatus::kCompleted);
}

TEST_CASE("Runtime.LargeOutputIsStoredAsABlobAndReturnedVerbatim", "[runtime]") {
  // Goal: an output over artifact_threshold_bytes becomes a content blob with
  // ArtifactStored, and ToolCompleted names it; BeginStep (in this and a
  // restarted Runtime) and ReadArtifact return the bytes verbatim. An output
  // at the threshold stays inline.
  Fixture f([](RuntimeOptions& o) { o.artifact_threshold_bytes = 16; });
  auto run = f.Planned("r", {Step("big", "dump", "{}"), Step("small", "dump", "{}")});
  std::string output;
  for (int i = 0; i < 5000; ++i) output.push_back(static_cast<char>(i * 7 % 256));
  REQUIRE(Must(run->BeginStep("big")).action == StepAction::kRun);
  const uint64_t before = f.Head("r");
  REQUIRE_OK(run->CompleteStep("big", output));
  CHECK(f.TypesAfter("r", before) == std::vector<std::string>{"ArtifactStored", "ToolCompleted"});
  const RunState::PlanItem& item = ItemOf(run->state(), "big");
  CHECK(item.output.empty());
  CHECK(item.artifact_id == "output:t1:big:1");
  const RunState::Artifact* artifact = run->state().FindArtifact(item.artifact_id);
  REQUIRE(artifact != nullptr);
  CHECK(artifact->size_bytes == output.size());
  CHECK(artifact->content_hash == item.output_hash);

  CHECK(Must(run->BeginStep("big")).output == output);
  CHECK(Must(f.runtime->ReadArtifact("r", item.artifact_id)) == output);
  CHECK(f.runtime->ReadArtifact("r", "no-such").status().IsNotFound());
  auto other = f.OpenRuntime("w1");
  CHECK(Must(Must(other->OpenReplay("r"))->BeginStep("big")).output == output);

  const std::string at_threshold(16, 's');
  REQUIRE(Must(run->BeginStep("small")).action == StepAction::kRun);
  REQUIRE_OK(run->CompleteStep("small", at_threshold));
  CHECK(ItemOf(run->state(), "small").output == at_threshold);
  CHECK(ItemOf(run->state(), "small").artifact_id.empty());

  // StoreArtifact: content by id; ids are unique and non-empty.
  REQUIRE_OK(run->StoreArtifact("report", "text/plain", "the report", "report body"));
  CHECK(Must(f.runtime->ReadArtifact("r", "report")) == "report body");
  CHECK_REFUSED(f, "r", run->StoreArtifact("report", "text/plain", "x", "y"), IsInvalidArgument,
                "exists");
  CHECK_REFUSED(f, "r", run->StoreArtifact("", "text/plain", "x", "y"), IsInvalidArgument,
                "empty id");
}

// ---------------------------------------------------------------------------
// Retries
// ---------------------------------------------------------------------------

TEST_CASE("Runtime.RetryableFailureSchedulesJitteredRetriesUntilExhausted", "[runtime]") {
  // Goal: FailStep(retryable) with attempts left records ToolFailed and
  // RetryScheduled (not_before = now + backoff, backoff in [d/2, d]);
  // BeginStep before then is kRetryLater and writes nothing, after it is
  // kRun with the next attempt and the same key; the last attempt's failure
  // records TurnFailed with the step's context.
  Fixture f([](RuntimeOptions& o) {
    o.default_retry.max_attempts = 3;
    o.default_retry.base_backoff_ms = 1000;
    o.default_retry.max_backoff_ms = 60000;
  });
  const std::string args = R"({"q":1})";
  auto run = f.Planned("r", {Step("fetch", "http.get", args)});
  const StepOutcome first = Must(run->BeginStep("fetch"));
  REQUIRE(first.action == StepAction::kRun);
  CHECK_REFUSED(f, "r", run->FailStep("fetch", "", true), IsInvalidArgument, "error");

  uint64_t before = f.Head("r");
  const int64_t failed_at = f.clock.NowMicros();
  FailureOutcome failure = Must(run->FailStep("fetch", "timeout", true));
  CHECK(failure.retry_scheduled);
  CHECK_FALSE(failure.turn_failed);
  CHECK(failure.next_attempt == 2);
  CHECK(failure.backoff_ms >= 500);
  CHECK(failure.backoff_ms <= 1000);
  CHECK(failure.not_before_us == failed_at + static_cast<int64_t>(failure.backoff_ms) * 1000);
  CHECK(f.TypesAfter("r", before) == std::vector<std::string>{"ToolFailed", "RetryScheduled"});
  const RunState::PlanItem& scheduled = ItemOf(run->state(), "fetch");
  CHECK(scheduled.status == RunState::StepStatus::kRetryScheduled);
  CHECK(scheduled.retry.attempt == 2);
  CHECK(scheduled.retry.not_before_us == failure.not_before_us);
  CHECK(scheduled.last_error == "timeout");
  CHECK(run->state().status == RunStatus::kRunning);

  f.clock.Set(failure.not_before_us - 1);
  before = f.Head("r");
  StepOutcome later = Must(run->BeginStep("fetch"));
  CHECK(later.action == StepAction::kRetryLater);
  CHECK(later.at_us == failure.not_before_us);
  CHECK(f.Head("r") == before);
  CountingTool unused;
  CHECK(Must(run->RunStep("fetch", unused.AsTool())).action == StepAction::kRetryLater);
  CHECK(unused.calls == 0);

  f.clock.Set(failure.not_before_us);
  StepOutcome second = Must(run->BeginStep("fetch"));
  CHECK(second.action == StepAction::kRun);
  CHECK(second.call.attempt == 2);
  CHECK(second.call.idempotency_key == first.call.idempotency_key);
  failure = Must(run->FailStep("fetch", "timeout again", true));
  CHECK(failure.retry_scheduled);
  CHECK(failure.next_attempt == 3);
  CHECK(failure.backoff_ms >= 1000);  // d = 2000 for the second failure
  CHECK(failure.backoff_ms <= 2000);

  f.clock.Set(failure.not_before_us);
  StepOutcome third = Must(run->BeginStep("fetch"));
  CHECK(third.call.attempt == 3);
  CHECK(third.call.idempotency_key == first.call.idempotency_key);
  before = f.Head("r");
  failure = Must(run->FailStep("fetch", "still down", true));
  CHECK_FALSE(failure.retry_scheduled);
  CHECK(failure.turn_failed);
  CHECK(f.TypesAfter("r", before) == std::vector<std::string>{"ToolFailed", "TurnFailed"});
  const RunState& state = run->state();
  CHECK(state.status == RunStatus::kFailed);
  CHECK(ItemOf(state, "fetch").status == RunState::StepStatus::kFailed);
  CHECK(ItemOf(state, "fetch").attempts == 3);
  CHECK(state.failure.step_id == "fetch");
  CHECK(state.failure.tool == "http.get");
  CHECK(state.failure.arguments_json == args);
  CHECK(state.failure.turn_id == "t1");
  CHECK(Contains(state.failure.error, "still down"));
  CHECK(Contains(state.failure.error, "3 of 3"));
  StepOutcome failed = Must(run->BeginStep("fetch"));
  CHECK(failed.action == StepAction::kFailed);
  CHECK(Contains(failed.detail, "still down"));
}

TEST_CASE("Runtime.NonRetryableFailureFailsAtOnceAndPerStepPoliciesHold", "[runtime]") {
  // Goal: a non-retryable failure fails the turn on attempt 1; the
  // retry_policy function decides each step's attempts and backoff.
  std::vector<std::string> asked;
  Fixture f([&asked](RuntimeOptions& o) {
    o.retry_policy = [&asked](std::string_view step_id, std::string_view tool) {
      asked.push_back(std::string(step_id) + "/" + std::string(tool));
      RetryPolicy policy;
      if (step_id == "flaky") {
        policy.max_attempts = 2;
        policy.base_backoff_ms = 10;
        policy.max_backoff_ms = 10;
      } else {
        policy.max_attempts = 1;
      }
      return policy;
    };
  });
  {
    auto run = f.Planned("fatal", {Step("s", "tool", "{}")});
    REQUIRE(Must(run->BeginStep("s")).action == StepAction::kRun);
    const uint64_t before = f.Head("fatal");
    FailureOutcome failure = Must(run->FailStep("s", "bad request", false));
    CHECK(failure.turn_failed);
    CHECK_FALSE(failure.retry_scheduled);
    CHECK(f.TypesAfter("fatal", before) == std::vector<std::string>{"ToolFailed", "TurnFailed"});
    CHECK(Contains(run->state().failure.error, "not retryable"));
    CHECK_FALSE(run->state().failure.retryable);
  }
  {
    // max_attempts 1 from the policy: a retryable failure is final.
    auto run = f.Planned("once", {Step("s", "tool", "{}")});
    CountingTool tool;
    tool.result = ToolResult::Failure("flap", true);
    StepOutcome outcome = Must(run->RunStep("s", tool.AsTool()));
    CHECK(outcome.action == StepAction::kFailed);
    CHECK(outcome.tool_called);
    CHECK(Contains(outcome.detail, "flap"));
    CHECK(run->state().status == RunStatus::kFailed);
  }
  {
    auto run = f.Planned("policy", {Step("flaky", "net", "{}")});
    CountingTool tool;
    tool.result = ToolResult::Failure("flap", true);
    const int64_t now = f.clock.NowMicros();
    StepOutcome outcome = Must(run->RunStep("flaky", tool.AsTool()));
    CHECK(outcome.action == StepAction::kRetryLater);
    CHECK(outcome.at_us >= now + 5000);  // d = 10 ms: [5, 10] ms
    CHECK(outcome.at_us <= now + 10000);
    CHECK(ItemOf(run->state(), "flaky").retry.backoff_ms <= 10);
    f.clock.Set(outcome.at_us);
    outcome = Must(run->RunStep("flaky", tool.AsTool()));
    CHECK(outcome.action == StepAction::kFailed);
    CHECK(tool.calls == 2);
    CHECK(tool.seen[1].attempt == 2);
  }
  CHECK(std::find(asked.begin(), asked.end(), "flaky/net") != asked.end());
  CHECK(std::find(asked.begin(), asked.end(), "s/tool") != asked.end());
}

// ---------------------------------------------------------------------------
// Approvals
// ---------------------------------------------------------------------------

TEST_CASE("Runtime.SafeReadonlyStepsNeedNoApproval", "[runtime]") {
  Fixture f;
  auto run = f.Planned("r", {Step("read", "fs.read", "{}")});
  CHECK_REFUSED(f, "r", run->RequestApproval("read", "may I?", 0), IsInvalidArgument,
                "safe_readonly");
  CHECK_REFUSED(f, "r", run->RequestApproval("nope", "may I?", 0), IsNotFound, "nope");
  CHECK(Must(run->BeginStep("read")).action == StepAction::kRun);
}

TEST_CASE("Runtime.MutatingStepWaitsForARequestAndAGrant", "[runtime]") {
  // Goal: kNeedsApproval (nothing written, tool not called), RequestApproval
  // moves the run to awaiting_approval and BeginStep to kAwaitingApproval
  // with the expiry; a person's Grant (once) lets it run. Grant errors:
  // no request (NotFound), a second answer, an empty or over-long approver.
  Fixture f;
  auto run = f.Planned("r", {Step("ship", "deploy", R"({"env":"prod"})",
                                  fb::ConfirmationMode_Mutating),
                             Step("other", "deploy", "{}", fb::ConfirmationMode_Mutating)});
  uint64_t head = f.Head("r");
  StepOutcome needs = Must(run->BeginStep("ship"));
  CHECK(needs.action == StepAction::kNeedsApproval);
  CHECK(Contains(needs.detail, "mutating"));
  CountingTool tool;
  CHECK(Must(run->RunStep("ship", tool.AsTool())).action == StepAction::kNeedsApproval);
  CHECK(tool.calls == 0);
  CHECK(f.Head("r") == head);

  CHECK_REFUSED(f, "r", run->RequestApproval("ship", "deploy?", f.clock.NowMicros()),
                IsInvalidArgument, "not in the future");
  CHECK_REFUSED(f, "r", f.runtime->Grant("r", "ship", "alice", fb::ApprovalScope_Once), IsNotFound,
                "no approval request");
  CHECK(f.runtime->Grant("no-run", "ship", "alice", fb::ApprovalScope_Once).IsNotFound());

  const int64_t expiry = f.clock.NowMicros() + kHourUs;
  REQUIRE_OK(run->RequestApproval("ship", "deploy hotfix to prod?", expiry));
  CHECK(run->state().status == RunStatus::kAwaitingApproval);
  CHECK(ItemOf(run->state(), "ship").status == RunState::StepStatus::kAwaitingApproval);
  head = f.Head("r");
  StepOutcome waiting = Must(run->BeginStep("ship"));
  CHECK(waiting.action == StepAction::kAwaitingApproval);
  CHECK(waiting.at_us == expiry);
  CHECK(f.Head("r") == head);
  CHECK_REFUSED(f, "r", run->RequestApproval("ship", "again?", 0), IsInvalidArgument,
                "needs no new request");

  CHECK_REFUSED(f, "r", f.runtime->Grant("r", "ship", "", fb::ApprovalScope_Once),
                IsInvalidArgument, "who");
  CHECK_REFUSED(f, "r",
                f.runtime->Grant("r", "ship", std::string(kMaxIdBytes + 1, 'a'),
                                 fb::ApprovalScope_Once),
                IsInvalidArgument, "bytes");
  CHECK_REFUSED(f, "r",
                f.runtime->Grant("r", "ship", "alice", static_cast<fb::ApprovalScope>(7)),
                IsInvalidArgument, "scope");
  // A person's answer comes through another Runtime (no lease needed).
  auto console = f.OpenRuntime("console");
  REQUIRE_OK(console->Grant("r", "ship", "alice", fb::ApprovalScope_Once));
  CHECK_REFUSED(f, "r", console->Grant("r", "ship", "bob", fb::ApprovalScope_Once),
                IsInvalidArgument, "already granted by alice");
  CHECK_REFUSED(f, "r", console->Deny("r", "ship", "bob", "no"), IsInvalidArgument,
                "already granted");

  StepOutcome go = Must(run->BeginStep("ship"));
  CHECK(go.action == StepAction::kRun);
  CHECK(go.call.attempt == 1);
  CHECK(go.call.arguments_json == R"({"env":"prod"})");
  // The other mutating step still needs its own grant.
  CHECK(Must(run->BeginStep("other")).action == StepAction::kNeedsApproval);
}

TEST_CASE("Runtime.GrantWithEditedArgumentsRunsTheEditAndKeysOnIt", "[runtime]") {
  // Goal: the tool is called with the person's edit; the proposal is kept
  // in proposed_arguments_json; the idempotency key and ToolStarted use
  // the arguments that ran.
  Fixture f;
  const std::string proposed = R"({"env":"prod"})";
  const std::string edited = R"({"env":"staging"})";
  auto run = f.Planned("r", {Step("ship", "deploy", proposed, fb::ConfirmationMode_Mutating)});
  REQUIRE_OK(run->RequestApproval("ship", "deploy?", 0));
  CHECK(Must(run->BeginStep("ship")).at_us == 0);  // no expiry
  REQUIRE_OK(f.runtime->Grant("r", "ship", "alice", fb::ApprovalScope_Once, edited));
  CountingTool tool;
  StepOutcome outcome = Must(run->RunStep("ship", tool.AsTool()));
  CHECK(outcome.action == StepAction::kCompleted);
  REQUIRE(tool.calls == 1);
  const ToolCall& call = tool.seen[0];
  CHECK(call.arguments_json == edited);
  CHECK(call.proposed_arguments_json == proposed);
  CHECK(call.idempotency_key == StepIdempotencyKey("r", "t1", "ship", "deploy", edited));
  CHECK(call.idempotency_key != StepIdempotencyKey("r", "t1", "ship", "deploy", proposed));
  const RunState::PlanItem& item = ItemOf(run->state(), "ship");
  CHECK(item.call_arguments_json == edited);
  CHECK(item.arguments_json == proposed);
  const Event started = Must(f.store->ReadEvent("r", f.LastOf("r", "ToolStarted")));
  CHECK(started.body()->body_as_ToolStarted()->arguments_json()->str() == edited);
}

TEST_CASE("Runtime.DeniedStepReportsWhoAndWhy", "[runtime]") {
  Fixture f;
  auto run = f.Planned("r", {Step("drop", "db.drop", "{}", fb::ConfirmationMode_Mutating)});
  REQUIRE_OK(run->RequestApproval("drop", "drop the table?", 0));
  CHECK_REFUSED(f, "r", f.runtime->Deny("r", "drop", "", "no"), IsInvalidArgument, "who");
  REQUIRE_OK(f.runtime->Deny("r", "drop", "bob", "too risky on a Friday"));
  const uint64_t head = f.Head("r");
  CountingTool tool;
  StepOutcome denied = Must(run->RunStep("drop", tool.AsTool()));
  CHECK(denied.action == StepAction::kDenied);
  CHECK(Contains(denied.detail, "bob"));
  CHECK(Contains(denied.detail, "too risky on a Friday"));
  CHECK(tool.calls == 0);
  CHECK(f.Head("r") == head);
  CHECK_REFUSED(f, "r", run->RequestApproval("drop", "please?", 0), IsInvalidArgument, "denied");
  CHECK_REFUSED(f, "r", f.runtime->Deny("r", "drop", "carol", "no"), IsInvalidArgument,
                "already denied by bob");
  CHECK_REFUSED(f, "r", f.runtime->Grant("r", "drop", "carol", fb::ApprovalScope_Once),
                IsInvalidArgument, "already denied");
}

TEST_CASE("Runtime.ExpiredApprovalRequestMustBeAskedAgain", "[runtime]") {
  // Goal: past its expiry a pending request is kApprovalExpired; Grant and
  // Deny are refused and write nothing; a new request may be made and
  // granted.
  Fixture f;
  auto run = f.Planned("r", {Step("ship", "deploy", "{}", fb::ConfirmationMode_Mutating)});
  const int64_t expiry = f.clock.NowMicros() + kMinuteUs;
  REQUIRE_OK(run->RequestApproval("ship", "deploy?", expiry));
  f.clock.Set(expiry);
  const uint64_t head = f.Head("r");
  StepOutcome expired = Must(run->BeginStep("ship"));
  CHECK(expired.action == StepAction::kApprovalExpired);
  CHECK(expired.at_us == expiry);
  CHECK(f.Head("r") == head);
  CHECK_REFUSED(f, "r", f.runtime->Grant("r", "ship", "alice", fb::ApprovalScope_Once),
                IsInvalidArgument, "expired");
  CHECK_REFUSED(f, "r", f.runtime->Deny("r", "ship", "alice", "late"), IsInvalidArgument,
                "expired");
  const int64_t second_expiry = f.clock.NowMicros() + kHourUs;
  REQUIRE_OK(run->RequestApproval("ship", "deploy? (asked again)", second_expiry));
  StepOutcome waiting = Must(run->BeginStep("ship"));
  CHECK(waiting.action == StepAction::kAwaitingApproval);
  CHECK(waiting.at_us == second_expiry);
  REQUIRE_OK(f.runtime->Grant("r", "ship", "alice", fb::ApprovalScope_Once));
  CHECK(Must(run->BeginStep("ship")).action == StepAction::kRun);
}

TEST_CASE("Runtime.ForRunGrantCoversConfirmOnceStepsButNotMutatingOnes", "[runtime]") {
  // Goal: confirm_once steps run after any for_run grant of the run, with
  // no request of their own; a mutating step still needs its own grant; a
  // once-scoped grant covers only its step.
  Fixture f;
  auto run = f.Planned("r", {Step("c1", "t", "{}", fb::ConfirmationMode_ConfirmOnce),
                             Step("c2", "t", "{}", fb::ConfirmationMode_ConfirmOnce),
                             Step("m", "t", "{}", fb::ConfirmationMode_Mutating)});
  CHECK(Must(run->BeginStep("c2")).action == StepAction::kNeedsApproval);
  REQUIRE_OK(run->RequestApproval("c1", "ok for this run?", 0));
  REQUIRE_OK(f.runtime->Grant("r", "c1", "alice", fb::ApprovalScope_ForRun));
  const uint64_t before = f.Head("r");
  StepOutcome c2 = Must(run->BeginStep("c2"));
  CHECK(c2.action == StepAction::kRun);
  CHECK(f.TypesAfter("r", before) == std::vector<std::string>{"ToolStarted"});
  CHECK(run->state().FindApproval("c2") == nullptr);
  CHECK(Must(run->BeginStep("m")).action == StepAction::kNeedsApproval);
  // A confirm_once step that is covered needs no request of its own.
  CHECK_REFUSED(f, "r", run->RequestApproval("c1", "again?", 0), IsInvalidArgument,
                "needs no new request");

  auto once = f.Planned("once", {Step("c1", "t", "{}", fb::ConfirmationMode_ConfirmOnce),
                                 Step("c2", "t", "{}", fb::ConfirmationMode_ConfirmOnce)});
  REQUIRE_OK(once->RequestApproval("c1", "ok?", 0));
  REQUIRE_OK(f.runtime->Grant("once", "c1", "alice", fb::ApprovalScope_Once));
  CHECK(Must(once->BeginStep("c2")).action == StepAction::kNeedsApproval);
  CHECK(Must(once->BeginStep("c1")).action == StepAction::kRun);
}

// ---------------------------------------------------------------------------
// Deadlines and budgets
// ---------------------------------------------------------------------------

TEST_CASE("Runtime.PassedRunOrStepDeadlineStopsBeginStep", "[runtime]") {
  Fixture f;
  RunSpec spec;
  spec.deadline_at_us = kStartUs + 10 * kSecondUs;
  auto run = f.Planned("r", {Step("a", "t", "{}")}, spec);
  CHECK(Must(run->BeginStep("a")).action == StepAction::kRun);
  REQUIRE_OK(run->CompleteStep("a", "ok"));
  auto late = f.Planned("late", {Step("a", "t", "{}")}, spec);
  f.clock.Set(spec.deadline_at_us);
  uint64_t head = f.Head("late");
  StepOutcome passed = Must(late->BeginStep("a"));
  CHECK(passed.action == StepAction::kDeadlinePassed);
  CHECK(passed.at_us == spec.deadline_at_us);
  CHECK(Contains(passed.detail, "run's deadline"));
  CHECK(f.Head("late") == head);
  // A completed step still answers from the log after the deadline.
  CHECK(Must(run->BeginStep("a")).action == StepAction::kCompleted);
  // Clearing the deadline lets the step start.
  REQUIRE_OK(late->SetDeadline(0, ""));
  CHECK(Must(late->BeginStep("a")).action == StepAction::kRun);

  auto steps = f.Planned("steps", {Step("a", "t", "{}"), Step("b", "t", "{}")});
  const int64_t step_deadline = f.clock.NowMicros() + 5 * kSecondUs;
  CHECK_REFUSED(f, "steps", steps->SetDeadline(step_deadline, "nope"), IsNotFound, "nope");
  CHECK_REFUSED(f, "steps", steps->SetDeadline(-5, "b"), IsInvalidArgument, "negative");
  REQUIRE_OK(steps->SetDeadline(step_deadline, "b"));
  CHECK(Must(steps->BeginStep("b")).action == StepAction::kRun);
  REQUIRE_OK(steps->CompleteStep("b", "early"));
  REQUIRE_OK(steps->SetDeadline(step_deadline, "a"));
  f.clock.Set(step_deadline);
  head = f.Head("steps");
  StepOutcome step_passed = Must(steps->BeginStep("a"));
  CHECK(step_passed.action == StepAction::kDeadlinePassed);
  CHECK(step_passed.at_us == step_deadline);
  CHECK(Contains(step_passed.detail, "step a"));
  CHECK(f.Head("steps") == head);
}

TEST_CASE("Runtime.ExpiredDeadlinesListsOnlyDeadlinesInForce", "[runtime]") {
  // Goal: from the deadline index, the run and step deadlines due by `at`
  // that are still in force: not superseded by a later SetDeadline, not of
  // completed steps or finished runs, not in the future.
  Fixture f;
  const int64_t t = kStartUs;
  RunSpec due;
  due.deadline_at_us = t + 10 * kSecondUs;
  auto a = f.Planned("a", {Step("s", "t", "{}")}, due);                // due: listed
  auto b = f.Planned("b", {Step("s", "t", "{}")}, due);                // moved later
  REQUIRE_OK(b->SetDeadline(t + kHourUs, ""));
  auto c = f.Planned("c", {Step("open", "t", "{}"), Step("done", "t", "{}")});
  REQUIRE_OK(c->SetDeadline(t + 20 * kSecondUs, "open"));
  REQUIRE_OK(c->SetDeadline(t + 20 * kSecondUs, "done"));
  REQUIRE(Must(c->BeginStep("done")).action == StepAction::kRun);
  REQUIRE_OK(c->CompleteStep("done", "ok"));
  auto d = f.Planned("d", {Step("s", "t", "{}")}, due);                // finished run
  REQUIRE_OK(d->CompleteTurn("nothing to do"));
  RunSpec future;
  future.deadline_at_us = t + 2 * kHourUs;
  auto e = f.Planned("e", {Step("s", "t", "{}")}, future);
  auto g = f.Planned("g", {Step("s", "t", "{}")}, due);                // cleared
  REQUIRE_OK(g->SetDeadline(0, ""));
  auto h = f.Planned("h", {Step("s", "t", "{}")});                     // step deadline moved
  REQUIRE_OK(h->SetDeadline(t + 5 * kSecondUs, "s"));
  REQUIRE_OK(h->SetDeadline(t + 3 * kHourUs, "s"));

  CHECK(Must(f.runtime->ExpiredDeadlines(t)).empty());
  const std::vector<ExpiredDeadline> expired = Must(f.runtime->ExpiredDeadlines(t + kMinuteUs));
  std::vector<std::string> names;
  for (const ExpiredDeadline& deadline : expired) {
    names.push_back(deadline.run_id + "/" + deadline.step_id + "@" +
                    std::to_string(deadline.deadline_at_us - t));
  }
  std::sort(names.begin(), names.end());
  CHECK(names == std::vector<std::string>{"a/@10000000", "c/open@20000000"});

  const std::vector<ExpiredDeadline> later = Must(f.runtime->ExpiredDeadlines(t + 4 * kHourUs));
  names.clear();
  for (const ExpiredDeadline& deadline : later) {
    names.push_back(deadline.run_id + "/" + deadline.step_id);
  }
  std::sort(names.begin(), names.end());
  CHECK(names == std::vector<std::string>{"a/", "b/", "c/open", "e/", "h/s"});
}

TEST_CASE("Runtime.BudgetsLimitStepsTokensAndWallTime", "[runtime]") {
  // Goal: each kRun BeginStep consumes one step; a spent step, token or
  // wall-time budget is LimitExceeded naming it, and nothing is written.
  Fixture f;
  RunSpec steps_spec;
  steps_spec.max_steps = 2;
  auto run = f.Planned("steps", {Step("a", "t", "{}"), Step("b", "t", "{}"), Step("c", "t", "{}")},
                       steps_spec);
  uint64_t before = f.Head("steps");
  REQUIRE(Must(run->BeginStep("a")).action == StepAction::kRun);
  CHECK(f.TypesAfter("steps", before) == std::vector<std::string>{"BudgetConsumed", "ToolStarted"});
  CHECK(run->state().budget.used_steps == 1);
  REQUIRE_OK(run->CompleteStep("a", "ok"));
  REQUIRE(Must(run->BeginStep("b")).action == StepAction::kRun);
  CHECK(run->state().budget.used_steps == 2);
  REQUIRE_OK(run->CompleteStep("b", "ok"));
  CHECK_REFUSED(f, "steps", run->BeginStep("c"), IsLimitExceeded, "step budget");
  CountingTool tool;
  CHECK_REFUSED(f, "steps", run->RunStep("c", tool.AsTool()), IsLimitExceeded, "step budget");
  CHECK(tool.calls == 0);
  // A completed step still answers.
  CHECK(Must(run->BeginStep("a")).action == StepAction::kCompleted);

  RunSpec tokens_spec;
  tokens_spec.max_tokens = 100;
  auto tokens = f.Planned("tokens", {Step("a", "t", "{}"), Step("b", "t", "{}")}, tokens_spec);
  REQUIRE_OK(tokens->ConsumeTokens(60));
  CHECK(tokens->state().budget.used_tokens == 60);
  REQUIRE(Must(tokens->BeginStep("a")).action == StepAction::kRun);
  REQUIRE_OK(tokens->CompleteStep("a", "ok"));
  REQUIRE_OK(tokens->ConsumeTokens(40));
  CHECK_REFUSED(f, "tokens", tokens->BeginStep("b"), IsLimitExceeded, "token budget");

  RunSpec wall_spec;
  wall_spec.max_wall_time_ms = 1000;
  auto wall = f.Planned("wall", {Step("a", "t", "{}"), Step("b", "t", "{}")}, wall_spec);
  f.clock.Advance(999 * 1000);
  REQUIRE(Must(wall->BeginStep("a")).action == StepAction::kRun);
  REQUIRE_OK(wall->CompleteStep("a", "ok"));
  f.clock.Advance(1000);
  CHECK_REFUSED(f, "wall", wall->BeginStep("b"), IsLimitExceeded, "wall-time budget");
}

// ---------------------------------------------------------------------------
// Leases and fencing
// ---------------------------------------------------------------------------

TEST_CASE("Runtime.LiveLeaseIsBusyExpiredLeaseIsTakenOverAndTheOldHolderFenced", "[runtime]") {
  // Goal: another worker's Resume while the lease is live is Busy naming the
  // holder; after the TTL it takes the run with the next epoch, and every
  // write through the old handle is Fenced and writes nothing.
  Fixture f([](RuntimeOptions& o) { o.lease_ttl_ms = 10000; });
  auto a = f.Planned("r", {Step("s", "t", "{}"), Step("s2", "t", "{}")});
  auto worker_b = f.OpenRuntime("w2");
  CHECK(worker_b->Resume("missing").status().IsNotFound());
  f.clock.Advance(9 * kSecondUs);
  CHECK_REFUSED(f, "r", worker_b->Resume("r"), IsBusy, "w1");

  f.clock.Advance(kSecondUs);  // ten seconds since A's last event
  auto b = Must(worker_b->Resume("r"));
  CHECK(b->lease_epoch() == 2);
  CHECK(b->state().lease.holder == "w2");
  CHECK(Must(f.store->GetRun("r")).lease_epoch == 2);

  CHECK_REFUSED(f, "r", a->AddFact("k", "v", "a"), IsFenced, "epoch");
  CHECK_REFUSED(f, "r", a->BeginStep("s"), IsFenced, "epoch");
  CHECK_REFUSED(f, "r", a->MarkCheckpoint("x"), IsFenced, "epoch");
  CHECK_REFUSED(f, "r", a->Release(), IsFenced, "epoch");
  // A sees what happened (its state folds the log), B works on.
  CHECK(a->state().lease.holder == "w2");
  CHECK(Must(b->BeginStep("s")).action == StepAction::kRun);
  // A's own Runtime, now the outsider, is Busy too.
  CHECK_REFUSED(f, "r", f.runtime->Resume("r"), IsBusy, "w2");
  // B's step is in doubt for A too, but A may not call the tool: Fenced
  // before the call, not after it.
  CountingTool tool;
  CHECK_REFUSED(f, "r", a->BeginStep("s"), IsFenced, "epoch 2 is held by w2");
  CHECK_REFUSED(f, "r", a->RunStep("s", tool.AsTool()), IsFenced, "w2");
  CHECK(tool.calls == 0);
  CHECK(Must(b->BeginStep("s")).action == StepAction::kInDoubt);
}

TEST_CASE("Runtime.ReleaseLetsAnotherWorkerResumeAtOnce", "[runtime]") {
  Fixture f;
  auto a = f.Planned("r", {Step("s", "t", "{}")});
  REQUIRE_OK(a->Release());
  CHECK_FALSE(a->state().lease.held);
  CHECK_REFUSED(f, "r", a->AddFact("k", "v", "a"), IsFenced, "released");
  auto worker_b = f.OpenRuntime("w2");
  auto b = Must(worker_b->Resume("r"));
  CHECK(b->lease_epoch() == 2);
  CHECK_REFUSED(f, "r", a->AddFact("k", "v", "a"), IsFenced, "epoch");
  REQUIRE_OK(b->AddFact("k", "v", "b"));
}

TEST_CASE("Runtime.StaleRunIsNotResumedUnlessAllowed", "[runtime]") {
  // Goal: a run idle past stale_after_us needs allow_stale.
  Fixture f([](RuntimeOptions& o) { o.stale_after_us = kHourUs; });
  {
    auto run = f.Planned("r", {Step("s", "t", "{}")});
  }
  f.clock.Advance(kHourUs + 1);
  CHECK_REFUSED(f, "r", f.runtime->Resume("r"), IsInvalidArgument, "allow_stale");
  ResumeOptions allow;
  allow.allow_stale = true;
  auto run = Must(f.runtime->Resume("r", allow));
  CHECK(run->lease_epoch() == 2);
}

// ---------------------------------------------------------------------------
// Compensation and Recover
// ---------------------------------------------------------------------------

TEST_CASE("Runtime.FailedMutatingStepNeedsCompensationUntilRecorded", "[runtime]") {
  // Goal: a mutating step that failed for good is listed by Recover
  // (kCompensate) until RecordCompensation, which returns the undo's key.
  // A step that never started cannot be compensated.
  Fixture f;
  auto run = f.Planned("r", {Step("ship", "deploy", R"({"v":2})", fb::ConfirmationMode_Mutating),
                             Step("later", "deploy", "{}", fb::ConfirmationMode_Mutating)});
  REQUIRE_OK(run->RequestApproval("ship", "deploy?", 0));
  REQUIRE_OK(f.runtime->Grant("r", "ship", "alice", fb::ApprovalScope_Once));
  CountingTool tool;
  tool.result = ToolResult::Failure("half-deployed", false);
  CHECK(Must(run->RunStep("ship", tool.AsTool())).action == StepAction::kFailed);

  std::vector<RecoveryItem> items = Must(f.runtime->Recover());
  REQUIRE(items.size() == 1);
  CHECK(items[0].run_id == "r");
  CHECK(items[0].status == RunStatus::kFailed);
  CHECK(items[0].action == RecoveryAction::kCompensate);
  CHECK(items[0].needs_compensation == std::vector<std::string>{"ship"});
  CHECK(Contains(items[0].detail, "half-deployed"));

  // After a crash, a worker may still take the failed run to compensate.
  run.reset();
  auto restarted = f.OpenRuntime("w1");
  auto again = Must(restarted->Resume("r"));
  CHECK_REFUSED(f, "r", again->RecordCompensation("later", "undeploy", "{}"), IsInvalidArgument,
                "never started");
  CHECK_REFUSED(f, "r", again->RecordCompensation("nope", "undeploy", "{}"), IsNotFound, "nope");
  CHECK_REFUSED(f, "r", again->RecordCompensation("ship", "", "{}"), IsInvalidArgument, "tool");
  const std::string key = Must(again->RecordCompensation("ship", "undeploy", R"({"v":1})"));
  CHECK(key.rfind("al1u-", 0) == 0);  // a domain of its own: never equal to a step's key
  CHECK(key != StepIdempotencyKey("r", "t1", "ship", "undeploy", R"({"v":1})"));
  CHECK(ItemOf(again->state(), "ship").status == RunState::StepStatus::kCompensated);
  REQUIRE(again->state().compensations.size() == 1);
  CHECK(again->state().compensations[0].idempotency_key == key);
  CHECK(Must(f.runtime->Recover()).empty());
}

TEST_CASE("Runtime.RecoverReportsTheActionDueForEachUnfinishedRun", "[runtime]") {
  // Goal: one run per situation; Recover (by the same worker, after a
  // restart) reports the action, step and time due for each, and leaves
  // completed runs out.
  Fixture f([](RuntimeOptions& o) {
    o.stale_after_us = kHourUs;
    o.default_retry.base_backoff_ms = 10 * 60 * 1000;
    o.default_retry.max_backoff_ms = 10 * 60 * 1000;
  });
  const auto mutating = [](const std::string& id) {
    return Step(id, "deploy", "{}", fb::ConfirmationMode_Mutating);
  };
  {
    auto stale = f.Planned("stale", {Step("a", "t", "{}")});
  }
  const int64_t stale_last = f.clock.NowMicros();
  f.clock.Advance(2 * kHourUs);
  const int64_t t = f.clock.NowMicros();
  {
    auto start = Must(f.runtime->StartRun("start-turn", {}));
    auto plan = Must(f.runtime->StartRun("plan", {}));
    REQUIRE_OK(plan->StartTurn("t1", "hi", ""));
    auto resume = f.Planned("resume", {Step("a", "t", "{}"), Step("b", "t", "{}")});
    REQUIRE(Must(resume->RunStep("a", CountingTool().AsTool())).action == StepAction::kCompleted);
    auto doubt = f.Planned("in-doubt", {Step("a", "t", "{}"), Step("b", "t", "{}")});
    REQUIRE(Must(doubt->BeginStep("b")).action == StepAction::kRun);
    auto awaiting = f.Planned("awaiting", {Step("a", "t", "{}"), mutating("m")});
    REQUIRE_OK(awaiting->RequestApproval("m", "ok?", t + kHourUs));
    auto expired = f.Planned("expired", {mutating("m")});
    REQUIRE_OK(expired->RequestApproval("m", "ok?", t + 30 * kSecondUs));
    auto retry = f.Planned("retry", {Step("a", "t", "{}")});
    CountingTool flaky;
    flaky.result = ToolResult::Failure("flap", true);
    const StepOutcome retried = Must(retry->RunStep("a", flaky.AsTool()));
    REQUIRE(retried.action == StepAction::kRetryLater);
    RunSpec due;
    due.deadline_at_us = t + 30 * kSecondUs;
    auto deadline = f.Planned("deadline", {Step("a", "t", "{}")}, due);
    auto step_deadline = f.Planned("step-deadline", {Step("a", "t", "{}"), Step("b", "t", "{}")});
    REQUIRE_OK(step_deadline->SetDeadline(t + 30 * kSecondUs, "a"));
    auto paused = f.Planned("paused", {Step("a", "t", "{}")});
    REQUIRE_OK(paused->Pause("operator says go", t + kHourUs));
    auto timed_out = f.Planned("timed-out", {Step("a", "t", "{}")});
    REQUIRE_OK(timed_out->Pause("operator says go", t + 30 * kSecondUs));
    auto complete = f.Planned("complete-turn", {Step("a", "t", "{}")});
    REQUIRE(Must(complete->RunStep("a", CountingTool().AsTool())).action == StepAction::kCompleted);
    auto done = f.Planned("done", {Step("a", "t", "{}")});
    REQUIRE(Must(done->RunStep("a", CountingTool().AsTool())).action == StepAction::kCompleted);
    REQUIRE_OK(done->CompleteTurn("all done"));
    auto other = f.OpenRuntime("w2", [](RuntimeOptions& o) { o.lease_ttl_ms = 10 * 60 * 1000; });
    auto held = Must(other->StartRun("held", {}));

    f.clock.Set(t + kMinuteUs);
    // Recover by a restarted w1: every run but "held" is its own.
    auto recovering = f.OpenRuntime("w1");
    const std::vector<RecoveryItem> items = Must(recovering->Recover());
    std::map<std::string, RecoveryItem> by_run;
    std::vector<std::string> order;
    for (const RecoveryItem& item : items) {
      order.push_back(item.run_id);
      by_run[item.run_id] = item;
    }
    CHECK(std::is_sorted(order.begin(), order.end()));
    CHECK(by_run.count("done") == 0);
    CHECK(items.size() == 14);
    const auto check = [&](const std::string& run_id, RecoveryAction action,
                           const std::string& step_id, int64_t at_us) {
      INFO("run " << run_id);
      REQUIRE(by_run.count(run_id) == 1);
      const RecoveryItem& item = by_run[run_id];
      INFO("action " << RecoveryActionName(item.action) << ": " << item.detail);
      CHECK(item.action == action);
      CHECK(item.step_id == step_id);
      CHECK(item.at_us == at_us);
      CHECK_FALSE(item.detail.empty());
    };
    check("stale", RecoveryAction::kStale, "", stale_last);
    check("start-turn", RecoveryAction::kStartTurn, "", 0);
    check("plan", RecoveryAction::kPlan, "", 0);
    check("resume", RecoveryAction::kResumeStep, "b", 0);
    CHECK(Contains(by_run["resume"].detail, "step 2"));
    check("in-doubt", RecoveryAction::kInDoubt, "b", 0);
    check("awaiting", RecoveryAction::kAwaitApproval, "m", t + kHourUs);
    CHECK(by_run["awaiting"].status == RunStatus::kAwaitingApproval);
    check("expired", RecoveryAction::kApprovalExpired, "m", t + 30 * kSecondUs);
    check("retry", RecoveryAction::kRetryAt, "a", retried.at_us);
    check("deadline", RecoveryAction::kDeadlinePassed, "", t + 30 * kSecondUs);
    check("step-deadline", RecoveryAction::kDeadlinePassed, "a", t + 30 * kSecondUs);
    check("paused", RecoveryAction::kPaused, "", t + kHourUs);
    CHECK(Contains(by_run["paused"].detail, "operator says go"));
    check("timed-out", RecoveryAction::kPauseTimedOut, "", t + 30 * kSecondUs);
    check("complete-turn", RecoveryAction::kCompleteTurn, "", 0);
    REQUIRE(by_run.count("held") == 1);
    const RecoveryItem& held_item = by_run["held"];
    CHECK(held_item.action == RecoveryAction::kLeaseHeld);
    CHECK(held_item.holder == "w2");
    CHECK(held_item.at_us == t + 10 * kMinuteUs);
    CHECK(Contains(held_item.detail, "w2"));
  }
}

// ---------------------------------------------------------------------------
// Decisions and Audit
// ---------------------------------------------------------------------------

TEST_CASE("Runtime.DecisionsRestOnFactsTheRunHolds", "[runtime]") {
  Fixture f;
  auto run = f.Planned("r", {Step("a", "t", "{}")});
  DecisionSpec decision;
  decision.choice = "use region eu";
  decision.fact_keys = {"region"};
  CHECK_REFUSED(f, "r", run->RecordDecision(decision), IsInvalidArgument, "region");
  CHECK_REFUSED(f, "r", run->AddFact("", "x", "y"), IsInvalidArgument, "empty key");
  REQUIRE_OK(run->AddFact("region", "eu", "config"));
  DecisionSpec no_choice = decision;
  no_choice.choice.clear();
  CHECK_REFUSED(f, "r", run->RecordDecision(no_choice), IsInvalidArgument, "choice");
  REQUIRE_OK(run->RecordDecision(decision));
  REQUIRE(run->state().decisions.size() == 1);
  CHECK(run->state().decisions[0].fact_keys == std::vector<std::string>{"region"});
}

TEST_CASE("Runtime.AuditReportsDecisionsApprovalsCallsAndCompensationsFromTheLog", "[runtime]") {
  // Goal: Audit verifies the chain, then reports each decision with the
  // facts as they stood when it was taken, each approval (who, when,
  // scope, edit; expired ones), each tool call with its key and outcome,
  // and each compensation; a damaged run is Corruption.
  Fixture f;
  auto run = f.Planned("r", {Step("a", "read", "{}"), Step("m", "deploy", R"({"env":"prod"})",
                                                            fb::ConfirmationMode_Mutating),
                             Step("x", "deploy", "{}", fb::ConfirmationMode_Mutating),
                             Step("b", "flaky", "{}"), Step("c", "slow", "{}")});
  REQUIRE_OK(run->AddFact("x", "1", "probe"));
  const uint64_t fact_sequence = f.Head("r");
  DecisionSpec decision;
  decision.choice = "go";
  decision.alternatives = {"wait", "abort"};
  decision.rationale = "x is 1";
  decision.fact_keys = {"x"};
  f.clock.Advance(kSecondUs);
  REQUIRE_OK(run->RecordDecision(decision));
  const uint64_t decision_sequence = f.Head("r");
  const int64_t decision_time = f.clock.NowMicros();
  REQUIRE_OK(run->AddFact("x", "2", "probe"));

  REQUIRE(Must(run->RunStep("a", CountingTool().AsTool())).action == StepAction::kCompleted);
  const int64_t requested_at = f.clock.NowMicros();
  REQUIRE_OK(run->RequestApproval("m", "deploy?", requested_at + kHourUs));
  f.clock.Advance(kSecondUs);
  const int64_t granted_at = f.clock.NowMicros();
  REQUIRE_OK(f.runtime->Grant("r", "m", "alice", fb::ApprovalScope_ForRun, R"({"env":"staging"})"));
  REQUIRE_OK(run->RequestApproval("x", "deploy x?", f.clock.NowMicros() + kSecondUs));
  CountingTool flaky;
  flaky.result = ToolResult::Failure("flap", true);
  const StepOutcome retry = Must(run->RunStep("b", flaky.AsTool()));
  REQUIRE(retry.action == StepAction::kRetryLater);
  f.clock.Set(retry.at_us);
  REQUIRE(Must(run->RunStep("b", CountingTool().AsTool())).action == StepAction::kCompleted);
  const StepOutcome started = Must(run->BeginStep("c"));
  REQUIRE(started.action == StepAction::kRun);
  const std::string undo_key = Must(run->RecordCompensation("a", "unread", "{}"));
  CountingTool deploy;
  REQUIRE(Must(run->RunStep("m", deploy.AsTool())).action == StepAction::kCompleted);

  f.clock.Advance(2 * kSecondUs);  // x's request lapses
  const AuditReport report = Must(f.runtime->Audit("r"));
  CHECK(report.run_id == "r");
  CHECK(report.digest == Must(f.store->RunDigest("r")));
  CHECK(report.verified.events == f.Head("r"));

  REQUIRE(report.decisions.size() == 1);
  const AuditReport::Decision& d = report.decisions[0];
  CHECK(d.sequence == decision_sequence);
  CHECK(d.time_us == decision_time);
  CHECK(d.actor_id == "w1");
  CHECK(d.choice == "go");
  CHECK(d.rationale == "x is 1");
  CHECK(d.alternatives == std::vector<std::string>{"wait", "abort"});
  REQUIRE(d.facts.size() == 1);
  CHECK(d.facts[0].key == "x");
  CHECK(d.facts[0].value == "1");  // not the later 2
  CHECK(d.facts[0].source == "probe");
  CHECK(d.facts[0].sequence == fact_sequence);
  CHECK(d.missing_facts.empty());

  REQUIRE(report.approvals.size() == 2);
  const AuditReport::Approval& granted = report.approvals[0];
  CHECK(granted.step_id == "m");
  CHECK(granted.request == "deploy?");
  CHECK(granted.requested_at_us == requested_at);
  CHECK(granted.expires_at_us == requested_at + kHourUs);
  CHECK(granted.decision == "granted");
  CHECK(granted.by == "alice");
  CHECK(granted.decided_at_us == granted_at);
  CHECK(granted.scope == "for_run");
  CHECK(granted.edited_arguments_json == R"({"env":"staging"})");
  const AuditReport::Approval& lapsed = report.approvals[1];
  CHECK(lapsed.step_id == "x");
  CHECK(lapsed.decision == "expired");
  CHECK(lapsed.by.empty());

  std::vector<std::string> calls;
  for (const AuditReport::ToolCallRecord& call : report.tool_calls) {
    calls.push_back(call.step_id + ":" + std::to_string(call.attempt) + ":" + call.outcome);
  }
  CHECK(calls == std::vector<std::string>{"a:1:completed", "b:1:failed", "b:2:completed",
                                          "c:1:in_doubt", "m:1:completed"});
  const AuditReport::ToolCallRecord& in_doubt = report.tool_calls[3];
  CHECK(in_doubt.idempotency_key == started.call.idempotency_key);
  CHECK(in_doubt.tool == "slow");
  CHECK(in_doubt.ended_at_us == 0);
  CHECK(Contains(report.tool_calls[1].detail, "flap"));
  CHECK(Contains(report.tool_calls[0].detail, "sha256"));
  CHECK(report.tool_calls[4].arguments_json == R"({"env":"staging"})");
  CHECK(report.tool_calls[4].idempotency_key ==
        StepIdempotencyKey("r", "t1", "m", "deploy", R"({"env":"staging"})"));
  CHECK(report.tool_calls[2].idempotency_key == report.tool_calls[1].idempotency_key);

  REQUIRE(report.compensations.size() == 1);
  CHECK(report.compensations[0].step_id == "a");
  CHECK(report.compensations[0].tool == "unread");
  CHECK(report.compensations[0].idempotency_key == undo_key);

  CHECK(f.runtime->Audit("missing").status().IsNotFound());
  // Damage one stored record: Audit refuses to report.
  std::string frame = StoredRecord(*f.store, "r", decision_sequence);
  frame[frame.size() / 2] ^= 0x5a;
  PutRecord(*f.store, "r", decision_sequence, frame);
  auto damaged = f.runtime->Audit("r");
  INFO(damaged.status().ToString());
  CHECK(damaged.status().IsCorruption());
}

// ---------------------------------------------------------------------------
// The model's context
// ---------------------------------------------------------------------------

TEST_CASE("Runtime.ContextForModelKeepsPriorityOrderWithinTheBudget", "[runtime]") {
  // Goal: goal, current step, open questions, the artifacts the step's
  // arguments name, then facts newest first; whole lines only, stopping at
  // the budget, with truncated and fact counts saying what was left out.
  Fixture f;
  auto run = f.Planned("r", {Step("a", "t", "{}"),
                             Step("summarize", "llm.summarize", R"({"input":"doc-1"})")});
  REQUIRE(Must(run->RunStep("a", CountingTool().AsTool())).action == StepAction::kCompleted);
  REQUIRE_OK(run->StoreArtifact("doc-1", "text/plain", "the design doc", "....."));
  REQUIRE_OK(run->StoreArtifact("doc-2", "text/plain", "unrelated", "....."));
  REQUIRE_OK(run->OpenQuestion("q1", "which region?"));
  REQUIRE_OK(run->OpenQuestion("q2", "which owner?"));
  REQUIRE_OK(run->ResolveQuestion("q2", "alice"));
  REQUIRE_OK(run->AddFact("f-old", "1", "s"));
  REQUIRE_OK(run->AddFact("f-mid", "2", "s"));
  REQUIRE_OK(run->AddFact("f-new", "3", "s"));

  const ModelContext full = Must(f.runtime->ContextForModel("r", 1 << 16));
  const std::string& text = full.text;
  INFO(text);
  CHECK_FALSE(full.truncated);
  CHECK(full.facts_total == 3);
  CHECK(full.facts_included == 3);
  const size_t goal = text.find("goal: do the thing");
  const size_t step = text.find("(summarize)");
  const size_t question = text.find("which region?");
  const size_t artifact = text.find("artifact doc-1");
  const size_t newest = text.find("fact f-new = 3");
  const size_t middle = text.find("fact f-mid = 2");
  const size_t oldest = text.find("fact f-old = 1");
  REQUIRE(goal != std::string::npos);
  REQUIRE(step != std::string::npos);
  REQUIRE(question != std::string::npos);
  REQUIRE(artifact != std::string::npos);
  REQUIRE(oldest != std::string::npos);
  CHECK(goal == 0);
  CHECK(goal < step);
  CHECK(step < question);
  CHECK(question < artifact);
  CHECK(artifact < newest);
  CHECK(newest < middle);
  CHECK(middle < oldest);
  CHECK_FALSE(Contains(text, "which owner?"));  // resolved
  CHECK_FALSE(Contains(text, "doc-2"));         // not named by the step

  // A budget that holds all but the oldest fact.
  const size_t cut = oldest;  // the text before the oldest fact's line
  const ModelContext tight = Must(f.runtime->ContextForModel("r", cut + 3));
  CHECK(tight.truncated);
  CHECK(tight.facts_total == 3);
  CHECK(tight.facts_included == 2);
  CHECK(tight.text == text.substr(0, cut));
  CHECK(tight.text.size() <= cut + 3);

  // A budget smaller than the goal: the goal is cut, marked, within budget.
  const ModelContext tiny = Must(f.runtime->ContextForModel("r", 12));
  CHECK(tiny.truncated);
  CHECK(tiny.text.size() <= 12);
  CHECK(tiny.facts_included == 0);
  CHECK(Contains(tiny.text, "..."));

  CHECK(f.runtime->ContextForModel("r", 0).status().IsInvalidArgument());
  CHECK(f.runtime->ContextForModel("missing", 100).status().IsNotFound());
}

// ---------------------------------------------------------------------------
// Replay and counterfactuals
// ---------------------------------------------------------------------------

TEST_CASE("Runtime.ReplayServesRecordedOutputsAndNeverCallsOrWrites", "[runtime]") {
  // Goal: a replay handle at event k answers completed steps from the log,
  // never calls a tool (a step with no outcome then is NotFound saying so)
  // and refuses every write with InvalidArgument.
  Fixture f;
  auto run = f.Planned("r", {Step("a", "t", "{}"), Step("b", "t", "{}"), Step("c", "t", "{}")});
  CountingTool live;
  live.result = ToolResult::Success("out-a");
  REQUIRE(Must(run->RunStep("a", live.AsTool())).action == StepAction::kCompleted);
  const uint64_t k = f.Head("r");
  live.result = ToolResult::Success("out-b");
  REQUIRE(Must(run->RunStep("b", live.AsTool())).action == StepAction::kCompleted);
  const uint64_t head = f.Head("r");

  auto replay = Must(f.runtime->OpenReplay("r", k));
  CHECK(replay->replay());
  CHECK(replay->lease_epoch() == 0);
  CHECK(replay->state().last_sequence == k);
  CountingTool tool;
  StepOutcome a = Must(replay->RunStep("a", tool.AsTool()));
  CHECK(a.action == StepAction::kCompleted);
  CHECK(a.output == "out-a");
  CHECK_FALSE(a.tool_called);
  auto b = replay->RunStep("b", tool.AsTool());  // completed only after k
  CHECK(b.status().IsNotFound());
  CHECK(Contains(b.status().message(), "never calls a tool"));
  CHECK(tool.calls == 0);

  CHECK_REFUSED(f, "r", replay->StartTurn("t2", "x", ""), IsInvalidArgument, "replay");
  CHECK_REFUSED(f, "r", replay->CompleteStep("b", "x"), IsInvalidArgument, "replay");
  CHECK_REFUSED(f, "r", replay->FailStep("b", "x", false), IsInvalidArgument, "replay");
  CHECK_REFUSED(f, "r", replay->AddFact("k", "v", "s"), IsInvalidArgument, "replay");
  CHECK_REFUSED(f, "r", replay->RequestApproval("b", "x", 0), IsInvalidArgument, "replay");
  CHECK_REFUSED(f, "r", replay->MarkCheckpoint("x"), IsInvalidArgument, "replay");
  CHECK_REFUSED(f, "r", replay->Release(), IsInvalidArgument, "replay");
  CHECK_REFUSED(f, "r", replay->ConsumeTokens(1), IsInvalidArgument, "replay");
  CHECK_REFUSED(f, "r", replay->RecordCompensation("a", "undo", "{}"), IsInvalidArgument, "replay");
  CHECK(f.Head("r") == head);

  // At the head (the default), both outputs; still never a call.
  auto at_head = Must(f.runtime->OpenReplay("r"));
  CHECK(Must(at_head->RunStep("b", tool.AsTool())).output == "out-b");
  CHECK(at_head->RunStep("c", tool.AsTool()).status().IsNotFound());
  CHECK(tool.calls == 0);
  CHECK(f.runtime->OpenReplay("missing").status().IsNotFound());
}

TEST_CASE("Runtime.CounterfactualForkSubstitutesAnOutcomeAndLeavesTheParent", "[runtime]") {
  // Goal: a fork at a failing attempt's ToolStarted with a substituted
  // output has that step completed; the parent is unchanged; Compare shows
  // the differences. A substitution that does not fit the fork point is
  // refused and nothing is written (the fork does not exist).
  Fixture f;
  auto run = f.Planned("p", {Step("fetch", "http.get", "{}"), Step("next", "t", "{}")});
  CountingTool failing;
  failing.result = ToolResult::Failure("502", false);
  REQUIRE(Must(run->RunStep("fetch", failing.AsTool())).action == StepAction::kFailed);
  const uint64_t started = f.LastOf("p", "ToolStarted");
  const RunState parent_before = f.State("p");

  const std::vector<Substitution> not_running{{Substitution::Kind::kToolOutput, "next", "x"}};
  auto refused = f.runtime->Counterfactual("p", started, "cf-bad", "what if", not_running);
  CHECK(refused.status().IsInvalidArgument());
  CHECK(Contains(refused.status().message(), "not running"));
  CHECK_FALSE(f.Exists("cf-bad"));
  const std::vector<Substitution> too_early{{Substitution::Kind::kToolOutput, "fetch", "x"}};
  CHECK(f.runtime->Counterfactual("p", started - 1, "cf-early", "what if", too_early)
            .status()
            .IsInvalidArgument());
  CHECK_FALSE(f.Exists("cf-early"));
  // One bad substitution among good ones: still nothing.
  const std::vector<Substitution> mixed{{Substitution::Kind::kToolOutput, "fetch", "x"},
                                        {Substitution::Kind::kToolOutput, "ghost", "y"}};
  CHECK(f.runtime->Counterfactual("p", started, "cf-mixed", "what if", mixed)
            .status()
            .IsInvalidArgument());
  CHECK_FALSE(f.Exists("cf-mixed"));
  const std::vector<Substitution> no_approval{
      {Substitution::Kind::kApprovalGranted, "fetch", "al"}};
  CHECK(f.runtime->Counterfactual("p", started, "cf-approval", "what if", no_approval)
            .status()
            .IsInvalidArgument());
  CHECK_FALSE(f.Exists("cf-approval"));
  CHECK(f.Head("p") == parent_before.last_sequence);

  const std::vector<Substitution> output{{Substitution::Kind::kToolOutput, "fetch", "200 OK"}};
  const AppendResult forked =
      Must(f.runtime->Counterfactual("p", started, "cf", "if it had worked", output));
  CHECK(forked.last_sequence == started + 2);  // RunForked, ToolCompleted
  const RunState fork = f.State("cf");
  CHECK(ItemOf(fork, "fetch").status == RunState::StepStatus::kCompleted);
  CHECK(ItemOf(fork, "fetch").output == "200 OK");
  CHECK(fork.fork.parent_run_id == "p");
  CHECK(fork.fork.fork_sequence == started);
  CHECK(f.State("p") == parent_before);
  // The fork answers from its log: a replay serves the substituted output.
  CHECK(Must(Must(f.runtime->OpenReplay("cf"))->BeginStep("fetch")).output == "200 OK");

  const std::vector<FieldChange> changes = Must(f.runtime->Compare("p", "cf"));
  std::map<std::string, FieldChange> by_path;
  for (const FieldChange& change : changes) by_path.emplace(change.path, change);
  REQUIRE(by_path.count("plan.fetch.status") == 1);
  CHECK(by_path.at("plan.fetch.status").before == "failed");
  CHECK(by_path.at("plan.fetch.status").after == "completed");
  REQUIRE(by_path.count("plan.fetch.output") == 1);
  CHECK(by_path.at("plan.fetch.output").after == "200 OK");
  REQUIRE(by_path.count("run.status") == 1);
  CHECK(by_path.at("run.status").before == "failed");
  CHECK(by_path.count("plan.next.status") == 0);
  CHECK(f.runtime->Compare("p", "missing").status().IsNotFound());

  const std::vector<Substitution> failure{{Substitution::Kind::kToolFailure, "fetch", "503"}};
  Must(f.runtime->Counterfactual("p", started, "cf-fail", "if it had failed otherwise", failure));
  CHECK(ItemOf(f.State("cf-fail"), "fetch").last_error == "503");
  CHECK(ItemOf(f.State("cf-fail"), "fetch").status == RunState::StepStatus::kFailed);
}

TEST_CASE("Runtime.CounterfactualAnswersAPendingApproval", "[runtime]") {
  Fixture f;
  auto run = f.Planned("p", {Step("ship", "deploy", "{}", fb::ConfirmationMode_Mutating)});
  REQUIRE_OK(run->RequestApproval("ship", "deploy?", 0));
  const uint64_t requested = f.Head("p");
  REQUIRE_OK(f.runtime->Deny("p", "ship", "bob", "no"));

  const std::vector<Substitution> nobody{{Substitution::Kind::kApprovalGranted, "ship", ""}};
  CHECK(f.runtime->Counterfactual("p", requested, "cf-nobody", "x", nobody)
            .status()
            .IsInvalidArgument());
  CHECK_FALSE(f.Exists("cf-nobody"));
  // After the denial the request is no longer pending.
  const std::vector<Substitution> grant{{Substitution::Kind::kApprovalGranted, "ship", "carol"}};
  CHECK(f.runtime->Counterfactual("p", requested + 1, "cf-late", "x", grant)
            .status()
            .IsInvalidArgument());
  CHECK_FALSE(f.Exists("cf-late"));

  Must(f.runtime->Counterfactual("p", requested, "cf", "if carol had said yes", grant));
  const RunState fork = f.State("cf");
  const RunState::Approval* approval = fork.FindApproval("ship");
  REQUIRE(approval != nullptr);
  CHECK(approval->decision == RunState::ApprovalDecision::kGranted);
  CHECK(approval->decided_by == "carol");
  CHECK(ItemOf(fork, "ship").status == RunState::StepStatus::kApproved);
  CHECK(f.State("p").FindApproval("ship")->decision == RunState::ApprovalDecision::kDenied);
  const std::vector<Substitution> deny{{Substitution::Kind::kApprovalDenied, "ship", "dave"}};
  Must(f.runtime->Counterfactual("p", requested, "cf-deny", "if dave had said no", deny));
  CHECK(f.State("cf-deny").FindApproval("ship")->decided_by == "dave");
}

// ---------------------------------------------------------------------------
// Control, conversation and questions
// ---------------------------------------------------------------------------

TEST_CASE("Runtime.PauseResumeCheckpointMessagesAndQuestions", "[runtime]") {
  // Goal: each control and knowledge call records its event and refuses
  // the calls that make no sense in the current state, writing nothing.
  Fixture f;
  auto run = f.Planned("r", {Step("a", "t", "{}")});
  CHECK_REFUSED(f, "r", run->Pause("", 0), IsInvalidArgument, "resumes the run");
  CHECK_REFUSED(f, "r", run->Resume("go"), IsInvalidArgument, "not paused");
  REQUIRE_OK(run->Pause("operator", f.clock.NowMicros() + kHourUs));
  CHECK(run->state().status == RunStatus::kPaused);
  CHECK(run->state().pause.trigger == "operator");
  CHECK_REFUSED(f, "r", run->Pause("again", 0), IsInvalidArgument, "already paused");
  REQUIRE_OK(run->Resume("operator said go"));
  CHECK(run->state().status == RunStatus::kRunning);
  CHECK(run->state().resume.reason == "operator said go");

  REQUIRE_OK(run->MarkCheckpoint("before-deploy"));
  CHECK(run->state().checkpoint.label == "before-deploy");
  CHECK(run->state().checkpoint.sequence == f.Head("r"));

  CHECK_REFUSED(f, "r", run->AppendMessage("", "hi"), IsInvalidArgument, "role");
  REQUIRE_OK(run->AppendMessage("user", "hello"));
  const uint64_t first = f.Head("r");
  REQUIRE_OK(run->AppendMessage("assistant", "hi there"));
  const uint64_t last = f.Head("r");
  CHECK(run->state().messages.size() == 2);
  CHECK_REFUSED(f, "r", run->CompactConversation("s", 0, last), IsInvalidArgument, "range");
  CHECK_REFUSED(f, "r", run->CompactConversation("s", last, first), IsInvalidArgument, "range");
  CHECK_REFUSED(f, "r", run->CompactConversation("s", first, last + 1), IsInvalidArgument, "range");
  REQUIRE_OK(run->CompactConversation("greetings", first, last));
  REQUIRE(run->state().messages.size() == 1);
  CHECK(run->state().messages[0].summary);
  CHECK(run->state().messages[0].text == "greetings");

  CHECK_REFUSED(f, "r", run->OpenQuestion("", "?"), IsInvalidArgument, "empty id");
  REQUIRE_OK(run->OpenQuestion("q", "which region?"));
  CHECK_REFUSED(f, "r", run->OpenQuestion("q", "again?"), IsInvalidArgument, "exists");
  CHECK_REFUSED(f, "r", run->ResolveQuestion("nope", "x"), IsNotFound, "nope");
  REQUIRE_OK(run->ResolveQuestion("q", "eu"));
  CHECK_FALSE(run->state().FindQuestion("q")->open);
  CHECK(run->state().FindQuestion("q")->answer == "eu");
  CHECK_REFUSED(f, "r", run->ResolveQuestion("q", "us"), IsInvalidArgument, "already resolved");
}

TEST_CASE("Runtime.PausedRunAnswersPausedUntilResumed", "[runtime]") {
  // Goal: a step of a paused run does not start (no ToolStarted would
  // silently un-pause it); after Resume(reason) it runs.
  Fixture f;
  auto run = f.Planned("r", {Step("a", "t", "{}")});
  const int64_t timeout = f.clock.NowMicros() + kHourUs;
  REQUIRE_OK(run->Pause("operator", timeout));
  const uint64_t head = f.Head("r");
  CountingTool tool;
  const StepOutcome paused = Must(run->RunStep("a", tool.AsTool()));
  CHECK(paused.action == StepAction::kPaused);
  CHECK(paused.at_us == timeout);
  CHECK(Contains(paused.detail, "operator"));
  CHECK(tool.calls == 0);
  CHECK(f.Head("r") == head);
  REQUIRE_OK(run->Resume("go"));
  CHECK(Must(run->RunStep("a", tool.AsTool())).action == StepAction::kCompleted);
  CHECK(tool.calls == 1);
}

TEST_CASE("Runtime.FinishedRunIsResumedForItsNextTurn", "[runtime]") {
  // Goal: a run is a thread of turns: after one completes, a worker (this
  // one restarted, or another) resumes it and opens the next turn.
  Fixture f;
  auto run = f.Planned("r", {Step("a", "t", "{}")});
  CountingTool tool;
  REQUIRE(Must(run->RunStep("a", tool.AsTool())).action == StepAction::kCompleted);
  REQUIRE_OK(run->CompleteTurn("done"));
  REQUIRE_OK(run->Release());
  CHECK(Must(f.runtime->Recover()).empty());
  auto other = f.OpenRuntime("w2");
  auto next = Must(other->Resume("r"));
  CHECK(next->lease_epoch() == 2);
  REQUIRE_OK(next->StartTurn("t2", "and again", "again()"));
  CHECK(next->state().turn_number == 2);
  CHECK(next->state().status == RunStatus::kCreated);
}

TEST_CASE("Runtime.TurnsDoNotEndWhileAStepIsRunning", "[runtime]") {
  // Goal: a step left in doubt by an ended turn could never be settled:
  // CompleteTurn and FailTurn refuse until its outcome is recorded.
  Fixture f;
  auto run = f.Planned("r", {Step("ship", "deploy", "{}", fb::ConfirmationMode_Mutating)});
  StartGranted(f, *run, "ship");
  CHECK_REFUSED(f, "r", run->FailTurn("operator aborted"), IsInvalidArgument, "record its outcome");
  CHECK_REFUSED(f, "r", run->CompleteTurn("done"), IsInvalidArgument, "record its outcome");
  REQUIRE(Must(run->FailStep("ship", "outcome unknown: operator aborted", false)).turn_failed);
  std::vector<RecoveryItem> items = Must(f.runtime->Recover());
  REQUIRE(items.size() == 1);
  CHECK(items[0].needs_compensation == std::vector<std::string>{"ship"});
}

TEST_CASE("Runtime.NextTurnWaitsForOwedCompensation", "[runtime]") {
  // Goal: the next turn's plan would hide a step still to undo, so
  // StartTurn refuses until it is compensated.
  Fixture f;
  auto run = f.Planned("r", {Step("ship", "deploy", "{}", fb::ConfirmationMode_Mutating)});
  StartGranted(f, *run, "ship");
  REQUIRE(Must(run->FailStep("ship", "boom", false)).turn_failed);
  CHECK_REFUSED(f, "r", run->StartTurn("t2", "carry on", ""), IsInvalidArgument, "RecordCompensation");
  Must(run->RecordCompensation("ship", "undeploy", "{}"));
  REQUIRE_OK(run->StartTurn("t2", "carry on", ""));
}

TEST_CASE("Runtime.LateAnswerCannotMoveAStepThatRanOrIsRunning", "[runtime]") {
  // Goal: a confirm_once step that ran on another step's for_run grant has
  // its own request still pending; a late grant must not re-run it, and a
  // late denial must not stop its outcome from being recorded.
  Fixture f;
  auto run = f.Planned("r", {Step("c1", "t1", "{}", fb::ConfirmationMode_ConfirmOnce),
                             Step("c2", "t2", "{}", fb::ConfirmationMode_ConfirmOnce),
                             Step("c3", "t3", "{}", fb::ConfirmationMode_ConfirmOnce)});
  REQUIRE_OK(run->RequestApproval("c1", "may I c1", 0));
  REQUIRE_OK(run->RequestApproval("c3", "may I c3", 0));
  REQUIRE_OK(run->RequestApproval("c2", "may I c2", 0));
  REQUIRE_OK(f.runtime->Grant("r", "c2", "alice", fb::ApprovalScope_ForRun));
  CountingTool tool;
  REQUIRE(Must(run->RunStep("c1", tool.AsTool())).action == StepAction::kCompleted);
  CHECK_REFUSED(f, "r", f.runtime->Grant("r", "c1", "bob", fb::ApprovalScope_Once),
                IsInvalidArgument, "no longer needs an answer");
  CHECK(Must(run->RunStep("c1", tool.AsTool())).action == StepAction::kCompleted);
  CHECK(tool.calls == 1);
  REQUIRE(Must(run->BeginStep("c3")).action == StepAction::kRun);
  CHECK_REFUSED(f, "r", f.runtime->Deny("r", "c3", "bob", "no"), IsInvalidArgument, "running");
  REQUIRE_OK(run->CompleteStep("c3", "out"));
}

TEST_CASE("Runtime.GrantsHoldForTheirTurnAndPlanOnly", "[runtime]") {
  // Goal: a grant of step "ship" in turn 1 does not let turn 2's "ship"
  // run, nor does a grant given before a plan revision (with its edit)
  // cover the revised step; keys differ per turn.
  Fixture f;
  auto run = f.Planned("r", {Step("ship", "deploy", R"({"env":"staging"})", fb::ConfirmationMode_Mutating)});
  REQUIRE_OK(run->RequestApproval("ship", "ship to staging?", 0));
  REQUIRE_OK(f.runtime->Grant("r", "ship", "alice", fb::ApprovalScope_Once, R"({"env":"staging","dry":true})"));
  REQUIRE_OK(run->RevisePlan("prod instead", std::vector<StepSpec>{Step("ship", "deploy", R"({"env":"prod"})",
                                                                        fb::ConfirmationMode_Mutating)}));
  CHECK(Must(run->BeginStep("ship")).action == StepAction::kNeedsApproval);
  REQUIRE_OK(run->RequestApproval("ship", "ship to prod?", 0));
  REQUIRE_OK(f.runtime->Grant("r", "ship", "alice", fb::ApprovalScope_Once));
  CountingTool tool;
  const StepOutcome first = Must(run->RunStep("ship", tool.AsTool()));
  REQUIRE(first.action == StepAction::kCompleted);
  CHECK(first.call.arguments_json == R"({"env":"prod"})");
  REQUIRE_OK(run->CompleteTurn("done"));
  REQUIRE_OK(run->StartTurn("t2", "again", ""));
  REQUIRE_OK(run->Plan(std::vector<StepSpec>{Step("ship", "deploy", R"({"env":"prod"})",
                                                  fb::ConfirmationMode_Mutating)}));
  CHECK(Must(run->BeginStep("ship")).action == StepAction::kNeedsApproval);
  CHECK_REFUSED(f, "r", f.runtime->Grant("r", "ship", "alice", fb::ApprovalScope_Once), IsNotFound,
                "current turn");
  REQUIRE_OK(run->RequestApproval("ship", "again?", 0));
  REQUIRE_OK(f.runtime->Grant("r", "ship", "alice", fb::ApprovalScope_Once));
  const StepOutcome second = Must(run->RunStep("ship", tool.AsTool()));
  CHECK(second.call.idempotency_key != first.call.idempotency_key);
  CHECK(tool.calls == 2);
}

TEST_CASE("Runtime.RecoverSaysReviseOrFailForADeniedStep", "[runtime]") {
  Fixture f;
  auto run = f.Planned("r", {Step("ship", "deploy", "{}", fb::ConfirmationMode_Mutating)});
  REQUIRE_OK(run->RequestApproval("ship", "ok?", 0));
  REQUIRE_OK(f.runtime->Deny("r", "ship", "alice", "not today"));
  REQUIRE_OK(run->Release());
  std::vector<RecoveryItem> items = Must(f.runtime->Recover());
  REQUIRE(items.size() == 1);
  CHECK(items[0].action == RecoveryAction::kReviseOrFail);
  CHECK(items[0].step_id == "ship");
  CHECK(Contains(items[0].detail, "not today"));
}

TEST_CASE("Runtime.CounterfactualBranchesAreNeverResumedLive", "[runtime]") {
  // Goal: Recover reports a what-if branch as such and Resume refuses it;
  // two answers for one step are refused before anything is written; a
  // substitution the store refuses after the fork keeps its error code.
  Fixture f;
  auto run = f.Planned("r", {Step("a", "t", "{}"), Step("b", "t", "{}")});
  REQUIRE(Must(run->BeginStep("a")).action == StepAction::kRun);
  const uint64_t at = f.Head("r");
  CountingTool tool;
  REQUIRE(Must(run->RunStep("a", tool.AsTool())).action == StepAction::kCompleted);
  REQUIRE(Must(run->RunStep("b", tool.AsTool())).action == StepAction::kCompleted);
  REQUIRE_OK(run->CompleteTurn("ok"));
  REQUIRE_OK(run->Release());
  Substitution twice[2] = {{Substitution::Kind::kToolOutput, "a", "one"},
                           {Substitution::Kind::kToolFailure, "a", "two"}};
  const auto refused = f.runtime->Counterfactual("r", at, "r2", "x", twice);
  CHECK(refused.status().IsInvalidArgument());
  CHECK(Contains(refused.status().message(), "two substitutions"));
  CHECK_FALSE(f.Exists("r2"));
  Substitution other{Substitution::Kind::kToolOutput, "a", "other"};
  REQUIRE_OK(f.runtime->Counterfactual("r", at, "r-what-if", "explore", {&other, 1}));
  std::vector<RecoveryItem> items = Must(f.runtime->Recover());
  REQUIRE(items.size() == 1);
  CHECK(items[0].run_id == "r-what-if");
  CHECK(items[0].action == RecoveryAction::kCounterfactual);
  const auto resumed = f.runtime->Resume("r-what-if");
  CHECK(resumed.status().IsInvalidArgument());
  CHECK(Contains(resumed.status().message(), "counterfactual"));
  Substitution big{Substitution::Kind::kToolOutput, "a", std::string(size_t{5} << 20, 'x')};
  const auto too_big = f.runtime->Counterfactual("r", at, "r-big", "big", {&big, 1});
  CHECK(too_big.status().IsLimitExceeded());
  CHECK(Contains(too_big.status().message(), "forked, but recording the substitutions failed"));
}

TEST_CASE("Runtime.ExpiredDeadlinesSkipStepsOfEarlierTurns", "[runtime]") {
  // Goal: a step deadline of a plan that a later turn replaced is not in
  // force: the step is gone from the state.
  Fixture f;
  auto run = f.Planned("r", {Step("a", "t", "{}")});
  const int64_t soon = f.clock.NowMicros() + kMinuteUs;
  REQUIRE_OK(run->SetDeadline(soon, "a"));
  REQUIRE_OK(run->CompleteTurn("done"));
  REQUIRE_OK(run->StartTurn("t2", "next", "next()"));
  REQUIRE_OK(run->Plan(std::vector<StepSpec>{Step("b", "t", "{}")}));
  f.clock.Advance(kHourUs);
  CHECK(Must(f.runtime->ExpiredDeadlines(f.clock.NowMicros())).empty());
}

TEST_CASE("Runtime.RequestApprovalNeedsAnOpenTurn", "[runtime]") {
  Fixture f;
  auto run = f.Planned("r", {Step("ship", "deploy", "{}", fb::ConfirmationMode_Mutating)});
  REQUIRE_OK(run->FailTurn("stop"));
  CHECK_REFUSED(f, "r", run->RequestApproval("ship", "deploy?", 0), IsInvalidArgument, "no open turn");
}
