// tests/run_state_test.cc: the run-state projection (agentlog/run_state.h,
// projections/run_state.cc, projections/run_state_codec.cc).
//
// Goal: every field of RunState follows the fold rules written in
// projections/run_state_format.md; odd but schema-valid event orders give a
// defined state; the run status agrees with the store's runs index; the
// encoding is deterministic and round-trips byte for byte after every
// prefix of a run; Decode refuses damaged bytes with Corruption; Fields()
// is sorted, unique and readable, and the format doc names every path.
// Method: events are appended to a real store (ManualClock: event n of a
// run is stamped kStartUs + n * kStepUs) and read back, so the fold sees
// real envelopes; each area has its own test and asserts each field it
// owns, some after a prefix of the run (StateAfter).
#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "agentlog/run_state.h"
#include "agentlog/run_state_generated.h"
#include "schema_next/next_payloads.h"
#include "testing/test_util.h"

#ifndef AGENTLOG_SOURCE_DIR
#error "tests/CMakeLists.txt defines AGENTLOG_SOURCE_DIR (the project source directory)"
#endif

using namespace agentlog;
using namespace agentlog::testing;

namespace {

using Step = RunState::StepStatus;
using Decision = RunState::ApprovalDecision;

constexpr int64_t kStartUs = 1'000'000;
constexpr int64_t kStepUs = 1'000;

int64_t TimeOf(uint64_t sequence) { return kStartUs + kStepUs * static_cast<int64_t>(sequence); }

// ---- payloads (test_util.h has the common ones; these carry every field) ----

template <typename Build>
std::string Payload(fb::Body type, Build build) {
  flatbuffers::FlatBufferBuilder builder;
  const flatbuffers::Offset<void> body = build(builder);
  builder.Finish(fb::CreateEvent(builder, type, body));
  return std::string(reinterpret_cast<const char*>(builder.GetBufferPointer()), builder.GetSize());
}

using Builder = flatbuffers::FlatBufferBuilder;

std::vector<uint8_t> ByteList(const std::string& bytes) { return {bytes.begin(), bytes.end()}; }

std::string TurnStarted(const std::string& message, const std::string& command,
                        const std::string& session) {
  return Payload(fb::Body_TurnStarted, [&](Builder& b) {
    return fb::CreateTurnStartedDirect(b, message.c_str(), command.c_str(), session.c_str())
        .Union();
  });
}
std::string TurnPlanned(uint32_t count) {
  return Payload(fb::Body_TurnPlanned,
                 [&](Builder& b) { return fb::CreateTurnPlanned(b, count).Union(); });
}
std::string TurnCompleted(const std::string& output) {
  return Payload(fb::Body_TurnCompleted, [&](Builder& b) {
    return fb::CreateTurnCompletedDirect(b, output.c_str()).Union();
  });
}
std::string TurnFailed(const std::string& error) {
  return Payload(fb::Body_TurnFailed,
                 [&](Builder& b) { return fb::CreateTurnFailedDirect(b, error.c_str()).Union(); });
}
std::string PlanItemAdded(const std::string& id, uint32_t ordinal, const std::string& tool,
                          const std::string& arguments, fb::ConfirmationMode mode,
                          const std::string& description) {
  return Payload(fb::Body_PlanItemAdded, [&](Builder& b) {
    return fb::CreatePlanItemAddedDirect(b, id.c_str(), ordinal, tool.c_str(), arguments.c_str(),
                                         mode, description.c_str())
        .Union();
  });
}
struct Listed {
  std::string id;
  uint32_t ordinal;
  std::string tool;
};
std::string PlanRevised(const std::string& reason, const std::vector<Listed>& items) {
  return Payload(fb::Body_PlanRevised, [&](Builder& b) {
    std::vector<flatbuffers::Offset<fb::PlanItem>> offsets;
    for (const Listed& item : items) {
      offsets.push_back(
          fb::CreatePlanItemDirect(b, item.id.c_str(), item.ordinal, item.tool.c_str(), "{}",
                                   fb::ConfirmationMode_ConfirmOnce, ("do " + item.id).c_str()));
    }
    return fb::CreatePlanRevisedDirect(b, reason.c_str(), &offsets).Union();
  });
}
std::string ToolStarted(const std::string& tool, const std::string& arguments,
                        const std::string& key, uint32_t attempt) {
  return Payload(fb::Body_ToolStarted, [&](Builder& b) {
    return fb::CreateToolStartedDirect(b, tool.c_str(), arguments.c_str(), key.c_str(), attempt)
        .Union();
  });
}
std::string ToolProgress(uint64_t done, uint64_t total, const std::string& message) {
  return Payload(fb::Body_ToolProgress, [&](Builder& b) {
    return fb::CreateToolProgressDirect(b, done, total, message.c_str()).Union();
  });
}
std::string ToolCompleted(const std::string& output, const std::string& artifact,
                          const std::string& hash) {
  return Payload(fb::Body_ToolCompleted, [&](Builder& b) {
    const std::vector<uint8_t> bytes = ByteList(hash);
    return fb::CreateToolCompletedDirect(b, output.c_str(), artifact.c_str(), &bytes).Union();
  });
}
std::string RetryScheduled(uint32_t attempt, uint64_t backoff_ms, int64_t not_before_us) {
  return Payload(fb::Body_RetryScheduled, [&](Builder& b) {
    return fb::CreateRetryScheduled(b, attempt, backoff_ms, not_before_us).Union();
  });
}
std::string ApprovalRequested(fb::ConfirmationMode mode, const std::string& request,
                              int64_t expires_us) {
  return Payload(fb::Body_ApprovalRequested, [&](Builder& b) {
    return fb::CreateApprovalRequestedDirect(b, mode, request.c_str(), expires_us).Union();
  });
}
std::string ApprovalGranted(const std::string& by, fb::ApprovalScope scope,
                            const std::string& edited) {
  return Payload(fb::Body_ApprovalGranted, [&](Builder& b) {
    return fb::CreateApprovalGrantedDirect(b, by.c_str(), scope, edited.c_str()).Union();
  });
}
std::string ApprovalDenied(const std::string& by, const std::string& reason) {
  return Payload(fb::Body_ApprovalDenied, [&](Builder& b) {
    return fb::CreateApprovalDeniedDirect(b, by.c_str(), reason.c_str()).Union();
  });
}
std::string CompensationRecorded(const std::string& step, const std::string& tool,
                                 const std::string& arguments, const std::string& key) {
  return Payload(fb::Body_CompensationRecorded, [&](Builder& b) {
    return fb::CreateCompensationRecordedDirect(b, step.c_str(), tool.c_str(), arguments.c_str(),
                                                key.c_str())
        .Union();
  });
}
std::string DecisionRecorded(const std::string& choice,
                             const std::vector<std::string>& alternatives,
                             const std::string& rationale, const std::vector<std::string>& facts) {
  return Payload(fb::Body_DecisionRecorded, [&](Builder& b) {
    auto alts = b.CreateVectorOfStrings(alternatives);
    auto keys = b.CreateVectorOfStrings(facts);
    return fb::CreateDecisionRecorded(b, b.CreateString(choice), alts, b.CreateString(rationale),
                                      keys)
        .Union();
  });
}
std::string FactAdded(const std::string& key, const std::string& value, const std::string& source) {
  return Payload(fb::Body_FactAdded, [&](Builder& b) {
    return fb::CreateFactAddedDirect(b, key.c_str(), value.c_str(), source.c_str()).Union();
  });
}
std::string QuestionOpened(const std::string& id, const std::string& text) {
  return Payload(fb::Body_QuestionOpened, [&](Builder& b) {
    return fb::CreateQuestionOpenedDirect(b, id.c_str(), text.c_str()).Union();
  });
}
std::string QuestionResolved(const std::string& id, const std::string& answer) {
  return Payload(fb::Body_QuestionResolved, [&](Builder& b) {
    return fb::CreateQuestionResolvedDirect(b, id.c_str(), answer.c_str()).Union();
  });
}
std::string ArtifactStored(const std::string& id, const std::string& media_type,
                           const std::string& summary, uint64_t size, const std::string& hash) {
  return Payload(fb::Body_ArtifactStored, [&](Builder& b) {
    const std::vector<uint8_t> bytes = ByteList(hash);
    return fb::CreateArtifactStoredDirect(b, id.c_str(), media_type.c_str(), summary.c_str(), size,
                                          &bytes)
        .Union();
  });
}
std::string Compacted(const std::string& summary, uint64_t first, uint64_t last) {
  return Payload(fb::Body_ConversationCompacted, [&](Builder& b) {
    return fb::CreateConversationCompactedDirect(b, summary.c_str(), first, last).Union();
  });
}
std::string BudgetSet(uint64_t steps, uint64_t tokens, uint64_t wall_ms) {
  return Payload(fb::Body_BudgetSet, [&](Builder& b) {
    return fb::CreateBudgetSet(b, steps, tokens, wall_ms).Union();
  });
}
std::string BudgetConsumed(uint64_t steps, uint64_t tokens, uint64_t wall_ms) {
  return Payload(fb::Body_BudgetConsumed, [&](Builder& b) {
    return fb::CreateBudgetConsumed(b, steps, tokens, wall_ms).Union();
  });
}
std::string RunPaused(const std::string& trigger, int64_t timeout_us) {
  return Payload(fb::Body_RunPaused, [&](Builder& b) {
    return fb::CreateRunPausedDirect(b, trigger.c_str(), timeout_us).Union();
  });
}
std::string RunResumed(const std::string& reason) {
  return Payload(fb::Body_RunResumed,
                 [&](Builder& b) { return fb::CreateRunResumedDirect(b, reason.c_str()).Union(); });
}
std::string DeadlineSet(int64_t at_us, const std::string& step) {
  return Payload(fb::Body_DeadlineSet, [&](Builder& b) {
    return fb::CreateDeadlineSetDirect(b, at_us, step.c_str()).Union();
  });
}
std::string CustomEvent(const std::string& type_name, const std::string& json) {
  return Payload(fb::Body_CustomEvent, [&](Builder& b) {
    const std::vector<uint8_t> data(json.begin(), json.end());
    return fb::CreateCustomEventDirect(b, type_name.c_str(), fb::CustomEncoding_Json, &data).Union();
  });
}

std::string CheckpointMarked(const std::string& label) {
  return Payload(fb::Body_CheckpointMarked, [&](Builder& b) {
    return fb::CreateCheckpointMarkedDirect(b, label.c_str()).Union();
  });
}

// ---- a run in a real store, folded ----

class RunFold {
 public:
  explicit RunFold(Options options = Options())
      : clock_(kStartUs), store_(OpenStore(dir_.path(), &clock_, options)),
        projection_(NewRunStateProjection()) {}

  // Appends one event (stamped TimeOf(its sequence)); returns its sequence.
  uint64_t Add(std::string payload, const std::string& turn = "", const std::string& step = "",
               uint64_t causation = 0) {
    clock_.Advance(kStepUs);
    EventInput input = Input(std::move(payload), step);
    input.turn_id = turn;
    input.causation = causation;
    auto result = store_->Append(run_, std::span<const EventInput>(&input, 1),
                                 WithDurability(Durability::kBuffered));
    INFO(result.status().ToString());
    REQUIRE(result.ok());
    REQUIRE(TimeOf(result->first_sequence) == clock_.NowMicros());
    return result->first_sequence;
  }

  // Continues as a fork of the run at its head (Store::Fork writes the
  // RunForked, the only way to get one); later Adds go to the fork, whose
  // history is the run's then its own. Returns the RunForked's sequence.
  uint64_t ForkHere(const std::string& reason) {
    clock_.Advance(kStepUs);
    auto head = store_->GetRun(run_);
    REQUIRE(head.ok());
    ForkOptions options;
    options.reason = reason;
    options.durability = Durability::kBuffered;
    const std::string fork_id = run_ + "-fork";
    auto result = store_->Fork(run_, head->head_sequence, fork_id, options);
    INFO(result.status().ToString());
    REQUIRE(result.ok());
    REQUIRE(TimeOf(result->first_sequence) == clock_.NowMicros());
    run_ = fork_id;
    return result->first_sequence;
  }

  std::vector<Event> Events() { return ReadWholeRun(*store_, run_); }

  // The state after the first `count` events of the run (all by default).
  std::unique_ptr<ProjectionState> StateAfter(size_t count = std::numeric_limits<size_t>::max()) {
    const std::vector<Event> events = Events();
    std::unique_ptr<ProjectionState> state = projection_->Initial();
    for (size_t i = 0; i < events.size() && i < count; ++i) {
      projection_->Apply(*state, EventView(events[i], events[i].body()));
    }
    return state;
  }
  RunState Now() { return AsRunState(*StateAfter()); }
  RunState After(size_t count) { return AsRunState(*StateAfter(count)); }

  Store& store() { return *store_; }
  const Projection& projection() const { return *projection_; }
  const std::string& run() const { return run_; }

 private:
  TempDir dir_;
  ManualClock clock_;
  std::unique_ptr<Store> store_;
  std::shared_ptr<const Projection> projection_;
  std::string run_ = "run-1";
};

const std::string kFetchHash = "\xde\xad\xbe\xef";

// A run that uses every event type of the catalogue at least once.
void AddRichRun(RunFold& run) {
  run.Add(LeaseAcquiredPayload("worker-1", 1));
  run.Add(TurnStarted("fetch and save the page", "fetch url=x; save", "sess-1"), "t1");
  run.Add(BudgetSet(10, 5000, 60000), "t1");
  run.Add(DeadlineSet(90'000'000, ""), "t1");
  run.Add(TurnPlanned(3), "t1");
  run.Add(PlanItemAdded("fetch", 1, "http.get", R"({"url":"x"})", fb::ConfirmationMode_SafeReadonly,
                        "fetch the page"), "t1");
  run.Add(PlanItemAdded("parse", 2, "html.parse", "{}", fb::ConfirmationMode_ConfirmOnce, "parse"),
          "t1");
  run.Add(PlanItemAdded("user.save", 3, "fs.write", R"({"path":"o"})",
                        fb::ConfirmationMode_Mutating, "save"),
          "t1");
  run.Add(DeadlineSet(80'000'000, "fetch"), "t1");
  run.Add(ToolStarted("http.get", R"({"url":"x"})", "fetch-1", 1), "t1", "fetch");
  run.Add(ToolProgress(1, 2, "connecting"), "t1", "fetch");
  run.Add(ToolFailedPayload("timeout", true, 1), "t1", "fetch");
  run.Add(RetryScheduled(2, 250, 5'000'000), "t1", "fetch");
  run.Add(ToolStarted("http.get", R"({"url":"x"})", "fetch-2", 2), "t1", "fetch");
  run.Add(ToolCompleted("<html/>", "", kFetchHash), "t1", "fetch");
  run.Add(ArtifactStored("page-1", "text/html", "the page", 7, "\x01\x02"), "t1");
  run.Add(FactAdded("region", "eu-west-1", "config"), "t1");
  run.Add(FactAdded("user.name", "Ada", "profile"), "t1");
  run.Add(QuestionOpened("q1", "Which bucket?"), "t1");
  run.Add(QuestionResolved("q1", "logs"), "t1");
  run.Add(DecisionRecorded("use cache", {"refetch", "ask"}, "cheaper", {"region"}), "t1");
  run.Add(MessagePayload("user", "hi"), "t1");
  run.Add(MessagePayload("assistant", "hello"), "t1");
  run.Add(Compacted("greetings", 22, 23), "t1");
  run.Add(ApprovalRequested(fb::ConfirmationMode_Mutating, "write o?", 70'000'000), "t1",
          "user.save");
  run.Add(RunPaused("approval:user.save", 60'000'000), "t1");
  run.Add(RunResumed("approved"), "t1");
  run.Add(ApprovalGranted("alice", fb::ApprovalScope_ForRun, R"({"path":"p"})"), "t1", "user.save");
  run.Add(ToolStarted("fs.write", R"({"path":"p"})", "save-1", 1), "t1", "user.save");
  run.Add(ToolCompleted("", "page-1", "\x03"), "t1", "user.save");
  run.Add(CompensationRecorded("user.save", "fs.delete", R"({"path":"p"})", "undo-1"), "t1",
          "undo");
  run.Add(PlanRevised("save elsewhere", {{"fetch", 1, "http.get"}, {"parse", 2, "html.parse"},
                                          {"verify", 3, "fs.stat"}}), "t1");
  run.Add(BudgetConsumed(3, 1200, 4000), "t1");
  run.Add(CheckpointMarked("after-save"), "t1");
  run.Add(TurnCompleted("saved"), "t1");
  run.Add(TurnStarted("and again", "again", "sess-1"), "t2");
  run.Add(ApprovalRequested(fb::ConfirmationMode_ConfirmOnce, "proceed?", 0), "t2");
  run.Add(ApprovalDenied("bob", "not now"), "t2", "", 37);
  run.Add(TurnFailed("denied"), "t2");
  run.Add(LeaseReleasedPayload("worker-1", 1));
  run.ForkHere("what if");
  run.Add(MessagePayload("user", "bye"), "t2");
  run.Add(CustomEvent("acme.note.added", R"({"note":"bye"})"), "t2");
}

const StateField* FindField(const std::vector<StateField>& fields, const std::string& path) {
  for (const StateField& field : fields) {
    if (field.path == path) return &field;
  }
  return nullptr;
}

std::string FieldValue(const std::vector<StateField>& fields, const std::string& path) {
  const StateField* field = FindField(fields, path);
  INFO("path " << path);
  REQUIRE(field != nullptr);
  return field->value;
}

std::vector<std::string> PlanIds(const RunState& state) {
  std::vector<std::string> ids;
  for (const RunState::PlanItem& item : state.plan) ids.push_back(item.id);
  return ids;
}

}  // namespace

TEST_CASE("RunState.ProjectionIdentityAndInitialState", "[run_state]") {
  // Goal: the projection is named "run_state" at version 2; its initial
  // state is a default RunState that encodes, decodes and clones to itself.
  // Method: compare Initial() with RunState{} through every accessor.
  auto projection = NewRunStateProjection();
  CHECK(projection->name() == "run_state");
  CHECK(projection->name() == kRunStateProjectionName);
  CHECK(projection->version() == 2);
  CHECK(projection->version() == kRunStateProjectionVersion);
  auto initial = projection->Initial();
  const RunState& state = AsRunState(*initial);
  CHECK(state == RunState());
  CHECK(state.status == RunStatus::kCreated);
  CHECK(state.PositionSummary() == "no turn yet");
  CHECK(state.CurrentTurn() == nullptr);
  CHECK(state.CurrentStep() == nullptr);
  CHECK(state.StepsTotal() == 0);
  CHECK(state.StepsDone() == 0);
  auto clone = initial->Clone();
  CHECK(AsRunState(*clone) == state);
  CHECK(&AsRunState(*clone) != &state);
  auto decoded = projection->Decode(initial->Encode());
  REQUIRE(decoded.ok());
  CHECK(AsRunState(**decoded) == state);
  CHECK(FieldValue(initial->Fields(), "run.status") == "created");
  CHECK(FieldValue(initial->Fields(), "position.summary") == "no turn yet");
}

TEST_CASE("RunState.TurnsFollowTurnEvents", "[run_state]") {
  // Goal: TurnStarted opens a turn keyed by the envelope turn id (or
  // "#<sequence>"), numbered by TurnStarted count; TurnPlanned, TurnCompleted
  // and TurnFailed fill the turn they name (else the current one); a repeated
  // turn id restarts that turn at the end of the list.
  // Method: two turns, a nameless one, a restart, a late completion of an
  // older turn; check every Turn field, some after a prefix.
  RunFold run;
  run.Add(TurnStarted("deploy the app", "deploy app=web", "sess-1"), "t1");
  run.Add(TurnPlanned(3), "t1");
  run.Add(TurnCompleted("deployed"), "t1");
  run.Add(TurnStarted("roll back", "rollback", "sess-1"), "t2");
  run.Add(TurnFailed("no previous release"), "t2");
  run.Add(TurnStarted("again", "", ""));
  run.Add(TurnStarted("restart t1", "restart", "sess-2"), "t1");
  run.Add(TurnCompleted("late"), "t2");

  const RunState after3 = run.After(3);
  REQUIRE(after3.turns.size() == 1);
  const RunState::Turn& t1 = after3.turns[0];
  CHECK(t1.id == "t1");
  CHECK(t1.number == 1);
  CHECK(t1.message_text == "deploy the app");
  CHECK(t1.normalized_command == "deploy app=web");
  CHECK(t1.session_id == "sess-1");
  CHECK(t1.status == RunStatus::kCompleted);
  CHECK(t1.planned_item_count == 3);
  CHECK(t1.output_text == "deployed");
  CHECK(t1.error.empty());
  CHECK(t1.started_sequence == 1);
  CHECK(t1.ended_sequence == 3);
  CHECK(run.After(2).turns[0].status == RunStatus::kPlanned);
  CHECK(run.After(1).turns[0].status == RunStatus::kCreated);

  const RunState state = run.Now();
  CHECK(state.turn_number == 4);
  CHECK(state.current_turn_id == "t1");
  REQUIRE(state.turns.size() == 3);
  CHECK(state.turns[0].id == "t2");
  CHECK(state.turns[1].id == "#6");
  CHECK(state.turns[2].id == "t1");
  const RunState::Turn& t2 = state.turns[0];
  CHECK(t2.number == 2);
  CHECK(t2.message_text == "roll back");
  CHECK(t2.status == RunStatus::kCompleted);  // the late TurnCompleted names it
  CHECK(t2.error == "no previous release");
  CHECK(t2.output_text == "late");
  CHECK(t2.started_sequence == 4);
  CHECK(t2.ended_sequence == 8);
  CHECK(state.turns[1].number == 3);
  CHECK(state.turns[1].status == RunStatus::kCreated);
  CHECK(state.turns[1].ended_sequence == 0);
  const RunState::Turn* restarted = state.CurrentTurn();
  REQUIRE(restarted != nullptr);
  CHECK(restarted->number == 4);
  CHECK(restarted->message_text == "restart t1");
  CHECK(restarted->session_id == "sess-2");
  CHECK(restarted->status == RunStatus::kCreated);
  CHECK(restarted->output_text.empty());
  CHECK(restarted->planned_item_count == 0);
  CHECK(restarted->started_sequence == 7);
  CHECK(state.FindTurn("#6") == &state.turns[1]);
  CHECK(state.FindTurn("t9") == nullptr);
  CHECK(state.status == RunStatus::kCompleted);
  CHECK(state.last_sequence == 8);
  CHECK(state.last_timestamp_us == TimeOf(8));
  CHECK(state.skipped_events == 0);
}

TEST_CASE("RunState.RunStatusAgreesWithTheRunsIndex", "[run_state]") {
  // Goal: the state's status is the engine's StatusAfterEvent table over the
  // events, so it equals the runs index (GetRun) after every event; the
  // current turn's status follows the same table.
  // Method: append every status-changing type and some that change nothing,
  // compare with GetRun after each append.
  RunFold run;
  const std::vector<std::string> payloads = {
      TurnStarted("a", "a", ""), MessagePayload("user", "x"), TurnPlanned(1),
      PlanRevised("r", {{"s", 1, "t"}}), ApprovalRequested(fb::ConfirmationMode_Mutating, "ok?", 0),
      ApprovalGranted("u", fb::ApprovalScope_Once, ""), ToolStarted("t", "{}", "", 1),
      RunPaused("p", 0), FactAdded("k", "v", ""), RunResumed("r"), RetryScheduled(2, 1, 0),
      ApprovalDenied("u", "no"), TurnFailed("e"), TurnCompleted("o"), CheckpointMarked("c")};
  for (const std::string& payload : payloads) {
    const uint64_t sequence = run.Add(payload, "t1", "s");
    auto info = run.store().GetRun(run.run());
    REQUIRE(info.ok());
    const RunState state = run.Now();
    INFO("after event " << sequence);
    CHECK(state.status == info->status);
    CHECK(state.turns.at(0).status == state.status);
    const auto expected = StatusAfterEvent(run.Events().back().type());
    if (expected) CHECK(state.status == *expected);
  }
  CHECK(run.Now().status == RunStatus::kCompleted);
}

TEST_CASE("RunState.PlanItemsFollowToolEvents", "[run_state]") {
  // Goal: PlanItemAdded defines items; ToolStarted, ToolProgress,
  // ToolCompleted, ToolFailed and RetryScheduled with the item's id as the
  // envelope step id move its status, attempts, key, call arguments,
  // progress, outputs, last error and retry context; the current step is
  // the latest ToolStarted's.
  // Method: a three-step plan; one step fails, retries and succeeds, one
  // completes into an artifact, one never starts.
  RunFold run;
  run.Add(TurnStarted("scrape", "scrape", ""), "t1");
  run.Add(PlanItemAdded("fetch", 1, "http.get", R"({"url":"a"})", fb::ConfirmationMode_SafeReadonly,
                        "fetch page"), "t1");
  run.Add(PlanItemAdded("parse", 2, "html.parse", "{}", fb::ConfirmationMode_ConfirmOnce, "parse"),
          "t1");
  run.Add(PlanItemAdded("write", 3, "fs.write", R"({"path":"o"})", fb::ConfirmationMode_Mutating,
                        "write"), "t1");
  run.Add(ToolStarted("http.get", R"({"url":"a1"})", "key-fetch-1", 1), "t1", "fetch");   // 5
  run.Add(ToolProgress(5, 10, "half"), "t1", "fetch");                                     // 6
  run.Add(ToolFailedPayload("timeout", true, 1), "t1", "fetch");                           // 7
  run.Add(RetryScheduled(2, 250, 5'000'000), "t1", "fetch");                               // 8
  run.Add(ToolStarted("http.get", R"({"url":"a2"})", "key-fetch-2", 0), "t1", "fetch");   // 9
  run.Add(ToolCompleted("<html/>", "", kFetchHash), "t1", "fetch");                        // 10
  run.Add(ToolStarted("html.parse", "{}", "key-parse", 1), "t1", "parse");                // 11
  run.Add(ToolCompleted("", "artifact-7", "\x01"), "t1", "parse");                         // 12

  const RunState at5 = run.After(5);
  CHECK(at5.FindPlanItem("fetch")->status == Step::kRunning);
  CHECK(at5.FindPlanItem("fetch")->attempts == 1);
  CHECK(at5.current_step_id == "fetch");
  const RunState at6 = run.After(6);
  CHECK(at6.FindPlanItem("fetch")->progress == RunState::Progress{5, 10, "half"});
  const RunState at7 = run.After(7);
  CHECK(at7.FindPlanItem("fetch")->status == Step::kFailed);
  CHECK(at7.FindPlanItem("fetch")->attempts == 1);
  CHECK(at7.FindPlanItem("fetch")->progress.message == "half");
  CHECK(at7.status == RunStatus::kRunning);
  CHECK(run.After(8).FindPlanItem("fetch")->status == Step::kRetryScheduled);

  const RunState state = run.Now();
  CHECK(PlanIds(state) == std::vector<std::string>{"fetch", "parse", "write"});
  const RunState::PlanItem& fetch = state.plan[0];
  CHECK(fetch.ordinal == 1);
  CHECK(fetch.tool == "http.get");
  CHECK(fetch.arguments_json == R"({"url":"a"})");
  CHECK(fetch.confirmation == fb::ConfirmationMode_SafeReadonly);
  CHECK(fetch.description == "fetch page");
  CHECK(fetch.planned);
  CHECK(fetch.status == Step::kCompleted);
  CHECK(fetch.attempts == 2);  // attempt 0 in the payload: one more than before
  CHECK(fetch.idempotency_key == "key-fetch-2");
  CHECK(fetch.call_arguments_json == R"({"url":"a2"})");
  CHECK(fetch.edited_arguments_json.empty());
  CHECK(fetch.last_error == "timeout");
  CHECK(fetch.last_error_retryable);
  CHECK(fetch.output == "<html/>");
  CHECK(fetch.artifact_id.empty());
  CHECK(fetch.output_hash == kFetchHash);
  CHECK(fetch.progress == RunState::Progress{});  // reset by the second ToolStarted
  CHECK(fetch.retry == RunState::Retry{2, 250, 5'000'000});
  CHECK(fetch.updated_sequence == 10);
  CHECK(fetch.completed_sequence == 10);  // the second attempt's ToolCompleted
  CHECK(run.After(9).FindPlanItem("fetch")->completed_sequence == 0);  // not completed yet
  const RunState::PlanItem& parse = state.plan[1];
  CHECK(parse.confirmation == fb::ConfirmationMode_ConfirmOnce);
  CHECK(parse.status == Step::kCompleted);
  CHECK(parse.attempts == 1);
  CHECK(parse.output.empty());
  CHECK(parse.artifact_id == "artifact-7");
  CHECK(parse.output_hash == "\x01");
  CHECK(parse.last_error.empty());
  CHECK_FALSE(parse.last_error_retryable);
  CHECK(parse.retry == RunState::Retry{});
  const RunState::PlanItem& write = state.plan[2];
  CHECK(write.confirmation == fb::ConfirmationMode_Mutating);
  CHECK(write.status == Step::kPending);
  CHECK(write.attempts == 0);
  CHECK(write.updated_sequence == 4);
  CHECK(write.completed_sequence == 0);
  CHECK(state.current_step_id == "parse");
  CHECK(state.CurrentStep() == &state.plan[1]);
  CHECK(state.StepsTotal() == 3);
  CHECK(state.StepsDone() == 2);
  CHECK(state.PositionSummary() == "turn 1, step 2 of 3; steps 1-2 done");
}

TEST_CASE("RunState.PlanRevisedReplacesThePlanKeepingSurvivors", "[run_state]") {
  // Goal: PlanRevised replaces the plan with its items; an item whose id
  // survives keeps its status, attempts and outputs with the new definition;
  // a nameless item gets "#<sequence>-<position>"; a repeated id takes its
  // last definition; the current step is cleared if it is gone; the
  // revision count, reason and sequence are kept until the next turn.
  // Method: revise a plan after one step completed, one failed and one
  // started.
  RunFold run;
  run.Add(TurnStarted("x", "x", ""), "t1");
  run.Add(PlanItemAdded("a", 1, "tool-a", "{}", fb::ConfirmationMode_SafeReadonly, "a"), "t1");
  run.Add(PlanItemAdded("b", 2, "tool-b", "{}", fb::ConfirmationMode_SafeReadonly, "b"), "t1");
  run.Add(PlanItemAdded("c", 3, "tool-c", "{}", fb::ConfirmationMode_SafeReadonly, "c"), "t1");
  run.Add(ToolStarted("tool-a", "{}", "ka", 1), "t1", "a");
  run.Add(ToolCompleted("out-a", "", ""), "t1", "a");
  run.Add(ToolStarted("tool-b", "{}", "kb", 1), "t1", "b");
  run.Add(ToolFailedPayload("b broke", false, 1), "t1", "b");
  run.Add(ToolStarted("tool-c", "{}", "kc", 1), "t1", "c");
  run.Add(PlanRevised("api changed", {{"a", 1, "tool-a2"}, {"d", 2, "tool-d"}, {"b", 3, "tool-b"},
                                      {"", 4, "tool-anon"}, {"d", 5, "tool-d2"}}), "t1");  // 10

  const RunState state = run.Now();
  CHECK(PlanIds(state) == std::vector<std::string>{"a", "b", "#10-4", "d"});
  const RunState::PlanItem* a = state.FindPlanItem("a");
  REQUIRE(a != nullptr);
  CHECK(a->tool == "tool-a2");
  CHECK(a->confirmation == fb::ConfirmationMode_ConfirmOnce);
  CHECK(a->description == "do a");
  CHECK(a->status == Step::kCompleted);
  CHECK(a->attempts == 1);
  CHECK(a->output == "out-a");
  CHECK(a->idempotency_key == "ka");
  CHECK(a->updated_sequence == 10);
  CHECK(state.FindPlanItem("b")->ordinal == 3);
  CHECK(state.FindPlanItem("b")->status == Step::kFailed);
  CHECK(state.FindPlanItem("b")->attempts == 1);
  CHECK(state.FindPlanItem("b")->last_error == "b broke");
  CHECK(state.FindPlanItem("d")->status == Step::kPending);
  CHECK(state.FindPlanItem("d")->ordinal == 5);
  CHECK(state.FindPlanItem("d")->tool == "tool-d2");
  CHECK(state.FindPlanItem("#10-4")->tool == "tool-anon");
  CHECK(state.FindPlanItem("c") == nullptr);
  CHECK(state.current_step_id.empty());
  CHECK(state.plan_revision.count == 1);
  CHECK(state.plan_revision.reason == "api changed");
  CHECK(state.plan_revision.sequence == 10);
  CHECK(state.status == RunStatus::kPlanned);
  CHECK(state.PositionSummary() == "turn 1, no current step of 4; step 1 done");

  run.Add(PlanRevised("again", {{"a", 1, "tool-a3"}}), "t1");
  CHECK(run.Now().plan_revision.count == 2);
  CHECK(run.Now().plan_revision.reason == "again");
  run.Add(TurnStarted("next", "next", ""), "t2");
  const RunState next = run.Now();
  CHECK(next.plan.empty());
  CHECK(next.plan_revision == RunState::PlanRevision{});
  CHECK(next.PositionSummary() == "turn 2, no plan yet");
}

TEST_CASE("RunState.PositionSummaryNamesTurnStepAndDoneSteps", "[run_state]") {
  // Goal: PositionSummary says the turn number, the current step's ordinal
  // of the plan's size and the completed steps as ranges of ordinals.
  // Method: a first turn, then a nine-step turn in which steps 1-5 and 7
  // complete and step 6 runs; check the text after each stage.
  RunFold run;
  run.Add(TurnStarted("one", "one", ""), "t1");
  CHECK(run.Now().PositionSummary() == "turn 1, no plan yet");
  run.Add(TurnCompleted("ok"), "t1");
  run.Add(TurnStarted("two", "two", ""), "t2");
  for (uint32_t i = 1; i <= 9; ++i) {
    run.Add(PlanItemAdded("s" + std::to_string(i), i, "tool", "{}",
                          fb::ConfirmationMode_SafeReadonly, ""),
            "t2");
  }
  CHECK(run.Now().PositionSummary() == "turn 2, no current step of 9; no steps done");
  run.Add(ToolStarted("tool", "{}", "", 1), "t2", "s1");
  run.Add(ToolCompleted("ok", "", ""), "t2", "s1");
  CHECK(run.Now().PositionSummary() == "turn 2, step 1 of 9; step 1 done");
  for (int i = 2; i <= 5; ++i) {
    run.Add(ToolStarted("tool", "{}", "", 1), "t2", "s" + std::to_string(i));
    run.Add(ToolCompleted("ok", "", ""), "t2", "s" + std::to_string(i));
  }
  run.Add(ToolStarted("tool", "{}", "", 1), "t2", "s6");
  const RunState state = run.Now();
  CHECK(state.PositionSummary() == "turn 2, step 6 of 9; steps 1-5 done");
  CHECK(state.StepsDone() == 5);
  CHECK(FieldValue(RunStateFields(state), "position.summary") ==
        "turn 2, step 6 of 9; steps 1-5 done");
  CHECK(FieldValue(RunStateFields(state), "position.steps_total") == "9");
  CHECK(FieldValue(RunStateFields(state), "position.steps_done") == "5");
  CHECK(FieldValue(RunStateFields(state), "position.step_id") == "s6");
  CHECK(FieldValue(RunStateFields(state), "position.turn_id") == "t2");
  CHECK(FieldValue(RunStateFields(state), "position.turn_number") == "2");
  run.Add(ToolCompleted("ok", "", ""), "t2", "s8");
  CHECK(run.Now().PositionSummary() == "turn 2, step 6 of 9; steps 1-5, 8 done");
}

TEST_CASE("RunState.ApprovalsRecordRequestsAndDecisions", "[run_state]") {
  // Goal: ApprovalRequested opens an approval keyed by its step id (or
  // "#<sequence>") and marks the step awaiting approval; a grant or denial
  // answers the approval of its step id, else the one its causation names,
  // else creates one; grants carry scope and edited arguments to the step;
  // the expiry is kept as data.
  // Method: a granted request, a denied one later granted, a stepless one
  // answered through causation, and decisions with no request at all.
  RunFold run;
  run.Add(TurnStarted("x", "x", ""), "t1");
  run.Add(PlanItemAdded("deploy", 1, "k8s.apply", "{}", fb::ConfirmationMode_Mutating, ""), "t1");
  run.Add(PlanItemAdded("notify", 2, "mail.send", "{}", fb::ConfirmationMode_ConfirmOnce, ""),
          "t1");
  run.Add(ApprovalRequested(fb::ConfirmationMode_Mutating, "deploy to prod?", 9'000'000), "t1",
          "deploy");
  run.Add(ApprovalGranted("alice", fb::ApprovalScope_ForRun, R"({"env":"staging"})"), "t1",
          "deploy");
  run.Add(ApprovalRequested(fb::ConfirmationMode_ConfirmOnce, "send email?", 0), "t1", "notify");
  run.Add(ApprovalDenied("bob", "too noisy"), "t1", "notify");                 // 7
  run.Add(ApprovalRequested(fb::ConfirmationMode_SafeReadonly, "peek?", 0), "t1");  // 8
  run.Add(ApprovalGranted("carol", fb::ApprovalScope_Once, ""), "t1", "", 8);   // 9
  run.Add(ApprovalGranted("dave", fb::ApprovalScope_Once, ""), "t1", "ghost");  // 10
  run.Add(ApprovalDenied("erin", "no"), "t1");                                  // 11

  const RunState at4 = run.After(4);
  CHECK(at4.status == RunStatus::kAwaitingApproval);
  CHECK(at4.FindPlanItem("deploy")->status == Step::kAwaitingApproval);
  CHECK(at4.current_step_id == "deploy");
  const RunState::Approval* requested = at4.FindApproval("deploy");
  REQUIRE(requested != nullptr);
  CHECK(requested->step_id == "deploy");
  CHECK(requested->mode == fb::ConfirmationMode_Mutating);
  CHECK(requested->request == "deploy to prod?");
  CHECK(requested->requested_sequence == 4);
  CHECK(requested->requested_at_us == TimeOf(4));
  CHECK(requested->expires_at_us == 9'000'000);
  CHECK(requested->decision == Decision::kPending);
  CHECK(requested->decided_sequence == 0);

  const RunState state = run.Now();
  std::vector<std::string> keys;
  for (const RunState::Approval& approval : state.approvals) keys.push_back(approval.key);
  CHECK(keys == std::vector<std::string>{"#11", "#8", "deploy", "ghost", "notify"});
  const RunState::Approval& deploy = *state.FindApproval("deploy");
  CHECK(deploy.decision == Decision::kGranted);
  CHECK(deploy.decided_by == "alice");
  CHECK(deploy.scope == fb::ApprovalScope_ForRun);
  CHECK(deploy.edited_arguments_json == R"({"env":"staging"})");
  CHECK(deploy.denial_reason.empty());
  CHECK(deploy.decided_sequence == 5);
  CHECK(deploy.expires_at_us == 9'000'000);
  CHECK(state.FindPlanItem("deploy")->status == Step::kApproved);
  CHECK(state.FindPlanItem("deploy")->edited_arguments_json == R"({"env":"staging"})");
  const RunState::Approval& notify = *state.FindApproval("notify");
  CHECK(notify.decision == Decision::kDenied);
  CHECK(notify.decided_by == "bob");
  CHECK(notify.denial_reason == "too noisy");
  CHECK(notify.scope == fb::ApprovalScope_Once);
  CHECK(state.FindPlanItem("notify")->status == Step::kDenied);
  const RunState::Approval& peek = *state.FindApproval("#8");
  CHECK(peek.step_id.empty());
  CHECK(peek.request == "peek?");
  CHECK(peek.mode == fb::ConfirmationMode_SafeReadonly);
  CHECK(peek.decision == Decision::kGranted);
  CHECK(peek.decided_by == "carol");
  CHECK(peek.decided_sequence == 9);
  const RunState::Approval& ghost = *state.FindApproval("ghost");
  CHECK(ghost.step_id == "ghost");
  CHECK(ghost.requested_sequence == 0);
  CHECK(ghost.request.empty());
  CHECK(ghost.decision == Decision::kGranted);
  CHECK(state.FindPlanItem("ghost") == nullptr);  // approvals never add plan items
  CHECK(state.FindApproval("#11")->decision == Decision::kDenied);
  CHECK(state.FindApproval("#11")->decided_by == "erin");
  CHECK(state.status == RunStatus::kRunning);

  // A later grant overrides the denial; the denial reason goes.
  run.Add(ApprovalGranted("bob", fb::ApprovalScope_Once, ""), "t1", "notify");
  const RunState regranted = run.Now();
  CHECK(regranted.FindApproval("notify")->decision == Decision::kGranted);
  CHECK(regranted.FindApproval("notify")->denial_reason.empty());
  CHECK(regranted.FindPlanItem("notify")->status == Step::kApproved);
  const auto fields = RunStateFields(regranted);
  CHECK(FieldValue(fields, "approvals.deploy.scope") == "for_run");
  CHECK(FieldValue(fields, "approvals.deploy.mode") == "mutating");
  CHECK(FieldValue(fields, "approvals.deploy.decision") == "granted");
  CHECK(FieldValue(fields, "approvals.#8.mode") == "safe_readonly");
  CHECK(FieldValue(fields, "plan.notify.confirmation") == "confirm_once");
}

TEST_CASE("RunState.CompensationsAndDecisionsAreListedBySequence", "[run_state]") {
  // Goal: each CompensationRecorded and DecisionRecorded is kept, keyed by
  // its sequence; a compensation marks the step it undoes compensated.
  // Method: compensate a completed step and one the plan never had.
  RunFold run;
  run.Add(TurnStarted("pay", "pay", ""), "t1");
  run.Add(PlanItemAdded("charge", 1, "payments.charge", "{}", fb::ConfirmationMode_Mutating, ""),
          "t1");
  run.Add(ToolStarted("payments.charge", "{}", "charge-1", 1), "t1", "charge");
  run.Add(ToolCompleted("ok", "", ""), "t1", "charge");
  run.Add(CompensationRecorded("charge", "payments.refund", R"({"id":1})", "refund-1"), "t1",
          "undo");
  run.Add(CompensationRecorded("never-planned", "x", "", ""), "t1");
  run.Add(DecisionRecorded("use cache", {"refetch", "ask user"}, "cheaper", {"region", "ttl"}),
          "t1");
  run.Add(DecisionRecorded("ship", {}, "", {}), "t1");

  const RunState state = run.Now();
  REQUIRE(state.compensations.size() == 2);
  CHECK(state.compensations[0] ==
        RunState::Compensation{5, "charge", "payments.refund", R"({"id":1})", "refund-1"});
  CHECK(state.compensations[1] == RunState::Compensation{6, "never-planned", "x", "", ""});
  CHECK(state.FindPlanItem("charge")->status == Step::kCompensated);
  CHECK(state.FindPlanItem("charge")->updated_sequence == 5);
  CHECK(state.FindPlanItem("never-planned") == nullptr);
  REQUIRE(state.decisions.size() == 2);
  const RunState::Decision& cache = state.decisions[0];
  CHECK(cache.sequence == 7);
  CHECK(cache.choice == "use cache");
  CHECK(cache.alternatives == std::vector<std::string>{"refetch", "ask user"});
  CHECK(cache.rationale == "cheaper");
  CHECK(cache.fact_keys == std::vector<std::string>{"region", "ttl"});
  CHECK(state.decisions[1] == RunState::Decision{8, "ship", {}, "", {}});
  const auto fields = RunStateFields(state);
  CHECK(FieldValue(fields, "decisions.7.alternatives.1") == "ask user");
  CHECK(FieldValue(fields, "decisions.7.fact_keys.0") == "region");
  CHECK(FieldValue(fields, "compensations.5.tool") == "payments.refund");
  CHECK(FieldValue(fields, "plan.charge.status") == "compensated");
}

TEST_CASE("RunState.KnowledgeKeepsFactsQuestionsAndArtifacts", "[run_state]") {
  // Goal: a later FactAdded with the same key replaces the value; questions
  // open and resolve (a resolution with no question creates it closed); an
  // artifact keeps its media type, summary, size and hash; an empty key
  // becomes "#<sequence>".
  // Method: facts, two questions, an orphan answer, an artifact.
  RunFold run;
  run.Add(FactAdded("region", "eu-west-1", "config"));
  run.Add(FactAdded("user.name", "Ada", "profile"));
  run.Add(FactAdded("region", "us-east-1", "user"));
  run.Add(QuestionOpened("q1", "Which bucket?"));
  run.Add(QuestionOpened("q2", "Retry?"));
  run.Add(QuestionResolved("q1", "logs-bucket"));
  run.Add(QuestionResolved("q9", "orphan answer"));
  run.Add(ArtifactStored("a1", "text/html", "the page", 1234, "\xab\xcd"));
  run.Add(FactAdded("", "nameless", ""));

  const RunState state = run.Now();
  REQUIRE(state.facts.size() == 3);
  CHECK(state.facts[0] == RunState::Fact{"#9", "nameless", "", 9});
  CHECK(state.facts[1] == RunState::Fact{"region", "us-east-1", "user", 3});
  CHECK(state.facts[2] == RunState::Fact{"user.name", "Ada", "profile", 2});
  CHECK(state.FindFact("region") == &state.facts[1]);
  REQUIRE(state.questions.size() == 3);
  CHECK(*state.FindQuestion("q1") ==
        RunState::Question{"q1", "Which bucket?", false, "logs-bucket", 4, 6});
  CHECK(*state.FindQuestion("q2") == RunState::Question{"q2", "Retry?", true, "", 5, 0});
  CHECK(*state.FindQuestion("q9") == RunState::Question{"q9", "", false, "orphan answer", 0, 7});
  REQUIRE(state.artifacts.size() == 1);
  CHECK(*state.FindArtifact("a1") ==
        RunState::Artifact{"a1", "text/html", "the page", 1234, "\xab\xcd", 8});
  CHECK(state.FindArtifact("a2") == nullptr);
  const auto fields = RunStateFields(state);
  CHECK(FieldValue(fields, "facts.user%2Ename.value") == "Ada");
  CHECK(FieldValue(fields, "facts.region.source") == "user");
  CHECK(FieldValue(fields, "questions.q2.open") == "true");
  CHECK(FieldValue(fields, "artifacts.a1.content_hash") == "abcd");
  CHECK(FieldValue(fields, "artifacts.a1.size_bytes") == "1234");

  // Opening a resolved question again reopens it.
  run.Add(QuestionOpened("q1", "Which bucket now?"));
  CHECK(*run.Now().FindQuestion("q1") ==
        RunState::Question{"q1", "Which bucket now?", true, "", 10, 0});
}

TEST_CASE("RunState.ConversationCompactionReplacesItsRange", "[run_state]") {
  // Goal: messages are kept in order; ConversationCompacted removes the
  // messages (and earlier summaries) wholly inside its range and puts its
  // summary in their place; a summary that only overlaps the range stays.
  // Method: compact twice over growing ranges, then partially.
  RunFold run;
  run.Add(MessagePayload("user", "hi"));
  run.Add(MessagePayload("assistant", "hello"));
  run.Add(MessagePayload("user", "deploy"));
  run.Add(MessagePayload("assistant", "ok"));
  run.Add(Compacted("greeting and ask", 1, 3));  // 5
  run.Add(MessagePayload("user", "status?"));    // 6

  const RunState at6 = run.Now();
  REQUIRE(at6.messages.size() == 3);
  CHECK(at6.messages[0] == RunState::Message{5, "", "greeting and ask", true, 1, 3});
  CHECK(at6.messages[0].anchor() == 1);
  CHECK(at6.messages[1] == RunState::Message{4, "assistant", "ok", false, 0, 0});
  CHECK(at6.messages[2] == RunState::Message{6, "user", "status?", false, 0, 0});
  CHECK(run.After(4).messages.size() == 4);

  run.Add(Compacted("everything so far", 1, 6));  // 7
  REQUIRE(run.Now().messages.size() == 1);
  CHECK(run.Now().messages[0] == RunState::Message{7, "", "everything so far", true, 1, 6});

  run.Add(MessagePayload("user", "x"));        // 8
  run.Add(MessagePayload("assistant", "y"));   // 9
  run.Add(Compacted("partial", 5, 9));         // 10: overlaps summary 7, covers 8 and 9
  run.Add(Compacted("empty range", 20, 10));   // 11: first > last removes nothing
  const RunState state = run.Now();
  std::vector<uint64_t> sequences;
  for (const RunState::Message& message : state.messages) sequences.push_back(message.sequence);
  CHECK(sequences == std::vector<uint64_t>{7, 10, 11});
  CHECK(state.messages[1].anchor() == 5);
  const auto fields = RunStateFields(state);
  CHECK(FieldValue(fields, "messages.10.text") == "partial");
  CHECK(FieldValue(fields, "messages.10.summary") == "true");
  CHECK(FieldValue(fields, "messages.10.first_sequence") == "5");
}

TEST_CASE("RunState.BudgetDeadlinesPauseLeaseForkAndCheckpoint", "[run_state]") {
  // Goal: BudgetSet replaces the limits and BudgetConsumed adds up
  // (saturating); DeadlineSet sets the run's or a step's deadline (0 lifts a
  // step's); pause, resume, lease, fork origin and checkpoint keep their
  // latest event with its sequence.
  // Method: one event of each, checked after the prefix that matters.
  RunFold run;
  run.Add(BudgetSet(10, 5000, 60000));
  run.Add(BudgetConsumed(1, 1200, 3000));
  run.Add(BudgetConsumed(2, 800, 1000));
  run.Add(DeadlineSet(50'000'000, ""));
  run.Add(DeadlineSet(40'000'000, "fetch"));
  run.Add(DeadlineSet(45'000'000, "parse"));
  run.Add(DeadlineSet(0, "parse"));
  run.Add(RunPaused("approval:deploy", 70'000'000));  // 8
  run.Add(RunResumed("approved by alice"));           // 9
  run.Add(LeaseAcquiredPayload("worker-1", 1));       // 10
  run.Add(LeaseReleasedPayload("worker-1", 1));       // 11
  run.Add(CheckpointMarked("after-fetch"));           // 12
  run.ForkHere("try plan B");                          // 13
  run.Add(BudgetConsumed(std::numeric_limits<uint64_t>::max(), 0, 0));

  CHECK(run.After(6).step_deadlines.size() == 2);
  CHECK(run.After(8).status == RunStatus::kPaused);
  CHECK(run.After(9).status == RunStatus::kRunning);
  CHECK(run.After(10).lease == RunState::Lease{"worker-1", 1, 30000, true, 10});
  const RunState state = run.Now();
  CHECK(state.budget ==
        RunState::Budget{10, 5000, 60000, std::numeric_limits<uint64_t>::max(), 2000, 4000});
  CHECK(run.After(3).budget.used_steps == 3);
  CHECK(state.run_deadline_at_us == 50'000'000);
  CHECK(state.step_deadlines == std::vector<RunState::StepDeadline>{{"fetch", 40'000'000}});
  CHECK(state.pause == RunState::Pause{"approval:deploy", 70'000'000, 8});
  CHECK(state.resume == RunState::Resume{"approved by alice", 9});
  CHECK(state.lease == RunState::Lease{"worker-1", 1, 30000, false, 11});
  CHECK(state.checkpoint == RunState::Checkpoint{"after-fetch", 12});
  CHECK(state.fork == RunState::ForkOrigin{"run-1", 12, "try plan B", 13});
  CHECK(state.status == RunStatus::kRunning);
  const auto fields = RunStateFields(state);
  CHECK(FieldValue(fields, "deadlines.steps.fetch") == "40000000");
  CHECK(FieldValue(fields, "deadlines.run_at_us") == "50000000");
  CHECK(FieldValue(fields, "lease.held") == "false");
  CHECK(FieldValue(fields, "budget.used_steps") == "18446744073709551615");
}

TEST_CASE("RunState.ForkOfARunStartsFromItsParentsState", "[run_state]") {
  // Goal: folding a fork (the parent's events up to the fork point, then
  // its RunForked) gives the parent's state at that point plus the fork
  // origin.
  // Method: Store::Fork a run after its third event and fold both.
  RunFold run;
  run.Add(TurnStarted("x", "x", ""), "t1");
  run.Add(FactAdded("k", "v1", ""), "t1");
  run.Add(FactAdded("k", "v2", ""), "t1");
  run.Add(FactAdded("k", "v3", ""), "t1");
  ForkOptions options;
  options.reason = "what if v2";
  options.durability = Durability::kBuffered;
  auto forked = run.store().Fork(run.run(), 3, "run-1-fork", options);
  INFO(forked.status().ToString());
  REQUIRE(forked.ok());
  const std::vector<Event> events = ReadWholeRun(run.store(), "run-1-fork");
  REQUIRE(events.size() == 4);
  auto state = run.projection().Initial();
  for (const Event& event : events) run.projection().Apply(*state, EventView(event, event.body()));
  const RunState& fork = AsRunState(*state);
  CHECK(fork.FindFact("k")->value == "v2");
  CHECK(fork.fork == RunState::ForkOrigin{"run-1", 3, "what if v2", 4});
  CHECK(fork.last_sequence == 4);
  RunState parent_at_3 = run.After(3);
  parent_at_3.fork = fork.fork;
  parent_at_3.last_sequence = fork.last_sequence;
  parent_at_3.last_timestamp_us = fork.last_timestamp_us;
  CHECK(fork == parent_at_3);
}

TEST_CASE("RunState.FailureContextDescribesTheLastFailure", "[run_state]") {
  // Goal: ToolFailed and TurnFailed record the failure context: when, which
  // event, turn and step, the step's tool, its latest call arguments, its
  // last progress message as output, the error and whether it may be retried.
  // Method: a tool failure, then a turn failure, then a stepless ToolFailed.
  RunFold run;
  run.Add(TurnStarted("x", "x", ""), "t1");
  run.Add(PlanItemAdded("fetch", 1, "http.get", "{}", fb::ConfirmationMode_SafeReadonly, ""), "t1");
  run.Add(ToolStarted("http.get", R"({"url":"x"})", "k", 1), "t1", "fetch");
  run.Add(ToolProgress(1, 3, "connecting"), "t1", "fetch");
  run.Add(ToolFailedPayload("timeout", true, 1), "t1", "fetch");  // 5
  run.Add(TurnFailed("gave up"), "t1");                            // 6
  run.Add(ToolFailedPayload("boom", false, 3));                   // 7: no step, no turn id

  const RunState::Failure tool = run.After(5).failure;
  CHECK(tool.sequence == 5);
  CHECK(tool.time_us == TimeOf(5));
  CHECK(tool.event_type == fb::Body_ToolFailed);
  CHECK(tool.turn_id == "t1");
  CHECK(tool.step_id == "fetch");
  CHECK(tool.tool == "http.get");
  CHECK(tool.arguments_json == R"({"url":"x"})");
  CHECK(tool.output == "connecting");
  CHECK(tool.error == "timeout");
  CHECK(tool.retryable);
  CHECK(FieldValue(RunStateFields(run.After(5)), "failure.event_type") == "ToolFailed");
  const RunState at6 = run.After(6);
  CHECK(at6.failure == RunState::Failure{6, TimeOf(6), fb::Body_TurnFailed, "t1", "", "", "", "",
                                         "gave up", false});
  CHECK(at6.turns[0].error == "gave up");
  CHECK(at6.turns[0].status == RunStatus::kFailed);
  const RunState state = run.Now();
  CHECK(state.failure ==
        RunState::Failure{7, TimeOf(7), fb::Body_ToolFailed, "t1", "", "", "", "", "boom", false});
  CHECK(state.FindPlanItem("fetch")->status ==
        Step::kFailed);  // the stepless failure touched no item
  CHECK(FieldValue(RunStateFields(RunState()), "failure.event_type").empty());
}

TEST_CASE("RunState.UnknownTypesAndRemovedPayloadsAreSkipped", "[run_state]") {
  // Goal: an event of a type this build does not know, or whose payload
  // was removed, changes nothing but last_sequence, last_timestamp_us and
  // skipped_events -- except that a removed payload's type still moves the
  // run status (the engine's table needs only the type).
  // Method: a store that accepts unknown types holds a ToolCancelled of the
  // future schema; removed payloads are shown as EventView(event, nullptr).
  Options options;
  options.accept_unknown_event_types = true;
  RunFold run(options);
  run.Add(TurnStarted("x", "x", ""), "t1");
  run.Add(next::ToolCancelledPayload("user pressed stop"), "t1", "fetch");
  run.Add(MessagePayload("user", "after"), "t1");
  run.Add(TurnCompleted("done"), "t1");
  const std::vector<Event> events = run.Events();
  REQUIRE(events[1].type() > kMaxKnownEventType);

  RunState before = run.After(1);
  const RunState after_unknown = run.After(2);
  before.last_sequence = 2;
  before.last_timestamp_us = TimeOf(2);
  before.skipped_events = 1;
  CHECK(after_unknown == before);
  CHECK(run.Now().skipped_events == 1);
  CHECK(run.Now().messages.size() == 1);

  // Removed payloads: the message and the completion are shown without bodies.
  const Projection& projection = run.projection();
  auto state = projection.Initial();
  projection.Apply(*state, EventView(events[0], events[0].body()));
  projection.Apply(*state, EventView(events[2], nullptr));
  projection.Apply(*state, EventView(events[3], nullptr));
  const RunState& removed = AsRunState(*state);
  CHECK(removed.messages.empty());
  CHECK(removed.skipped_events == 2);
  CHECK(removed.last_sequence == 4);
  CHECK(removed.last_timestamp_us == TimeOf(4));
  CHECK(removed.status == RunStatus::kCompleted);           // the type's status holds
  CHECK(removed.turns[0].status == RunStatus::kCreated);    // the turn's needs the payload
  CHECK(removed.turns[0].output_text.empty());
}

TEST_CASE("RunState.OddEventOrdersGiveADefinedState", "[run_state]") {
  // Goal: the fold is total: tool events for a step no plan lists add it
  // as unplanned after the last item; a second completion replaces the
  // first; events before any turn touch no turn; every known type with an
  // empty body folds without a crash; a later PlanItemAdded adopts an
  // unplanned step.
  // Method: odd orders, then an empty body of each type (the lease types
  // and RunForked excepted: the store refuses empty lease events, and
  // RunForked from anyone but Store::Fork).
  RunFold run;
  run.Add(ToolStarted("probe", "{}", "", 1), "", "x");   // 1: before any turn or plan
  run.Add(ToolCompleted("first", "", ""), "", "x");
  run.Add(ToolCompleted("second", "", ""), "", "x");    // double completion
  run.Add(ToolProgress(1, 1, "late"), "", "y");          // 4: unknown step y
  run.Add(TurnCompleted("nobody"), "nope");              // no turn at all
  const RunState odd = run.Now();
  REQUIRE(odd.plan.size() == 2);
  const RunState::PlanItem& x = odd.plan[0];
  CHECK(x.id == "x");
  CHECK(x.ordinal == 1);
  CHECK(x.tool == "probe");
  CHECK_FALSE(x.planned);
  CHECK(x.status == Step::kCompleted);
  CHECK(x.output == "second");
  CHECK(odd.plan[1].id == "y");
  CHECK(odd.plan[1].ordinal == 2);
  CHECK(odd.plan[1].tool.empty());
  CHECK(odd.plan[1].status == Step::kPending);
  CHECK(odd.plan[1].progress.message == "late");
  CHECK(odd.turns.empty());
  CHECK(odd.status == RunStatus::kCompleted);
  CHECK(odd.current_step_id == "x");
  CHECK(odd.PositionSummary() == "no turn yet");
  CHECK(FieldValue(RunStateFields(odd), "plan.x.planned") == "false");

  run.Add(PlanItemAdded("x", 4, "probe2", "{}", fb::ConfirmationMode_Mutating, "adopted"));  // 6
  const RunState adopted = run.Now();
  CHECK(PlanIds(adopted) == std::vector<std::string>{"y", "x"});
  CHECK(adopted.FindPlanItem("x")->planned);
  CHECK(adopted.FindPlanItem("x")->output == "second");

  for (uint16_t type = 1; type <= kMaxKnownEventType; ++type) {
    if (type == fb::Body_LeaseAcquired || type == fb::Body_LeaseReleased || type == fb::Body_RunForked) {
      continue;
    }
    run.Add(StatusPayload(static_cast<fb::Body>(type)));
  }
  const RunState empty = run.Now();
  CHECK(empty.skipped_events == 0);
  CHECK(empty.turns.size() == 1);
  CHECK(empty.turns[0].id == "#7");  // the empty TurnStarted (sequence 7)
  CHECK(empty.FindFact("#23") != nullptr);  // FactAdded is type 17: sequence 6 + 17
  CHECK(empty.FindQuestion("#24") != nullptr);
  CHECK(empty.FindArtifact("#26") != nullptr);
  CHECK(empty.FindApproval("#18") != nullptr);
  CHECK(empty.plan.empty());  // the empty PlanRevised (sequence 12) replaced item "#11"
  CHECK(empty.plan_revision.count == 1);
  CHECK(empty.status == RunStatus::kRunning);  // RunResumed is the last status-changing type
  const std::string bytes = EncodeRunState(empty);
  auto decoded = DecodeRunState(bytes);
  REQUIRE(decoded.ok());
  CHECK(*decoded == empty);
}

TEST_CASE("RunState.EncodingRoundTripsAfterEveryPrefix", "[run_state]") {
  // Goal: after every prefix of a run using all 32 event types, the
  // encoding is deterministic (a second fold gives the same bytes),
  // Decode(Encode(s)) equals s and encodes to the same bytes, at any
  // alignment, and Clone and Fields agree.
  // Method: fold the rich run twice, event by event, and compare.
  RunFold run;
  AddRichRun(run);
  const std::vector<Event> events = run.Events();
  std::set<uint16_t> types;
  for (const Event& event : events) types.insert(event.type());
  CHECK(types.size() == kMaxKnownEventType);

  const Projection& projection = run.projection();
  auto first = projection.Initial();
  auto second = projection.Initial();
  for (const Event& event : events) {
    INFO("after event " << event.sequence() << " " << event.type_name());
    projection.Apply(*first, EventView(event, event.body()));
    projection.Apply(*second, EventView(event, event.body()));
    const std::string bytes = first->Encode();
    CHECK(second->Encode() == bytes);
    auto decoded = projection.Decode(bytes);
    INFO(decoded.status().ToString());
    REQUIRE(decoded.ok());
    CHECK((*decoded)->Encode() == bytes);
    CHECK(AsRunState(**decoded) == AsRunState(*first));
    std::string shifted = "x" + bytes;
    auto unaligned = DecodeRunState(std::string_view(shifted).substr(1));
    REQUIRE(unaligned.ok());
    CHECK(EncodeRunState(*unaligned) == bytes);
    CHECK(first->Clone()->Encode() == bytes);
    const auto fields = first->Fields();
    const auto decoded_fields = (*decoded)->Fields();
    CHECK(fields.size() == decoded_fields.size());
    CHECK(std::equal(fields.begin(), fields.end(), decoded_fields.begin(), decoded_fields.end(),
                     [](const StateField& a, const StateField& b) {
                       return a.path == b.path && a.value == b.value;
                     }));
  }
  const RunState& state = AsRunState(*first);
  CHECK(state.last_sequence == events.size());
  CHECK(state.skipped_events == 0);  // every type has its rule
  CHECK(state.fork.parent_run_id == "run-1");
  CHECK(state.FindApproval("#37")->decision == Decision::kDenied);  // answered through causation
  CHECK(PlanIds(run.After(35)) == std::vector<std::string>{"fetch", "parse", "verify"});
}

TEST_CASE("RunState.DecodeRefusesDamagedBytesWithCorruption", "[run_state]") {
  // Goal: Decode never crashes and returns Corruption for bytes that are
  // not an encoding: empty, every truncation, random bytes, another
  // FlatBuffer, an enum past its last value, a keyed list out of order; a
  // flipped byte gives Corruption or a state that encodes and lists fields.
  // Method: damage the rich run's encoding in each of those ways.
  RunFold run;
  AddRichRun(run);
  const std::string bytes = run.StateAfter()->Encode();
  CHECK(DecodeRunState("").status().IsCorruption());
  for (size_t size = 0; size < bytes.size(); ++size) {
    auto truncated = DecodeRunState(std::string_view(bytes).substr(0, size));
    INFO("truncated to " << size);
    CHECK(truncated.status().IsCorruption());
  }
  std::mt19937 random(42);
  for (int i = 0; i < 200; ++i) {
    std::string garbage(8 + random() % 512, '\0');
    for (char& c : garbage) c = static_cast<char>(random());
    CHECK(DecodeRunState(garbage).status().IsCorruption());
  }
  for (size_t at = 0; at < bytes.size(); ++at) {
    std::string flipped = bytes;
    flipped[at] = static_cast<char>(flipped[at] ^ (1 + random() % 255));
    auto decoded = DecodeRunState(flipped);
    if (decoded.ok()) {
      CHECK_FALSE(EncodeRunState(*decoded).empty());
      CHECK_FALSE(RunStateFields(*decoded).empty());
    } else {
      CHECK(decoded.status().IsCorruption());
    }
  }
  auto payload = DecodeRunState(MessagePayload("user", "not a state"));
  CHECK(payload.status().IsCorruption());
  CHECK(payload.status().message().find("verifier") != std::string::npos);

  {  // Facts out of key order: verified bytes the fold could never write.
    flatbuffers::FlatBufferBuilder builder;
    auto b = fb::state::CreateFact(builder, builder.CreateString("b"));
    auto a = fb::state::CreateFact(builder, builder.CreateString("a"));
    auto facts = builder.CreateVector(std::vector<flatbuffers::Offset<fb::state::Fact>>{b, a});
    fb::state::RunStateBuilder root(builder);
    root.add_facts(facts);
    fb::state::FinishSizePrefixedRunStateBuffer(builder, root.Finish());
    auto decoded = DecodeRunState(std::string_view(
        reinterpret_cast<const char*>(builder.GetBufferPointer()), builder.GetSize()));
    CHECK(decoded.status().IsCorruption());
    CHECK(decoded.status().message().find("facts") != std::string::npos);
  }
  {  // A run status past kFailed.
    flatbuffers::FlatBufferBuilder builder;
    fb::state::RunStateBuilder root(builder);
    root.add_status(static_cast<fb::state::RunStatus>(9));
    fb::state::FinishSizePrefixedRunStateBuffer(builder, root.Finish());
    auto decoded = DecodeRunState(std::string_view(
        reinterpret_cast<const char*>(builder.GetBufferPointer()), builder.GetSize()));
    CHECK(decoded.status().IsCorruption());
    CHECK(decoded.status().message().find("run status is 9") != std::string::npos);
  }
  {  // The current step is not in the plan.
    flatbuffers::FlatBufferBuilder builder;
    auto step = builder.CreateString("ghost");
    fb::state::RunStateBuilder root(builder);
    root.add_current_step_id(step);
    fb::state::FinishSizePrefixedRunStateBuffer(builder, root.Finish());
    auto decoded = DecodeRunState(std::string_view(
        reinterpret_cast<const char*>(builder.GetBufferPointer()), builder.GetSize()));
    CHECK(decoded.status().IsCorruption());
    CHECK(decoded.status().message().find("ghost") != std::string::npos);
  }
}

TEST_CASE("RunState.FieldsAreSortedUniqueAndReadable", "[run_state]") {
  // Goal: Fields() lists each path once, sorted; list items are keyed by
  // id (ids escaped), numbers are decimal, bytes lowercase hex, enums by
  // name; every Diff between consecutive states names only real paths.
  // Method: the rich run's fields after every prefix, and spot checks.
  RunFold run;
  AddRichRun(run);
  const std::vector<Event> events = run.Events();
  const Projection& projection = run.projection();
  auto state = projection.Initial();
  for (const Event& event : events) {
    auto before = state->Clone();
    projection.Apply(*state, EventView(event, event.body()));
    const auto fields = state->Fields();
    for (size_t i = 1; i < fields.size(); ++i) {
      INFO(fields[i - 1].path << " then " << fields[i].path);
      CHECK(fields[i - 1].path < fields[i].path);
    }
    for (const FieldChange& change : Diff(*before, *state)) {
      INFO("event " << event.sequence() << " changed " << change.path);
      CHECK(FindField(change.kind == FieldChange::Kind::kRemoved ? before->Fields() : fields,
                      change.path) != nullptr);
    }
  }
  const auto fields = state->Fields();
  CHECK(FieldValue(fields, "run.status") == "failed");
  CHECK(FieldValue(fields, "run.last_sequence") == std::to_string(events.size()));
  CHECK(FieldValue(fields, "turns.t1.output_text") == "saved");
  CHECK(FieldValue(fields, "turns.t2.status") == "failed");
  CHECK(FieldValue(fields, "messages.42.text") == "bye");
  CHECK(FieldValue(fields, "facts.user%2Ename.value") == "Ada");
  CHECK(FieldValue(fields, "lease.holder") == "worker-1");
  CHECK(FieldValue(fields, "fork.fork_sequence") == "40");
  CHECK(FieldValue(fields, "deadlines.steps.fetch") == "80000000");
  const RunState at35 = run.After(35);
  const auto plan_fields = RunStateFields(at35);
  CHECK(FieldValue(plan_fields, "plan.fetch.status") == "completed");
  CHECK(FieldValue(plan_fields, "plan.fetch.output_hash") == "deadbeef");
  CHECK(FieldValue(plan_fields, "plan.fetch.retry.backoff_ms") == "250");
  CHECK(FieldValue(plan_fields, "plan.fetch.last_error_retryable") == "true");
  CHECK(FieldValue(plan_fields, "plan.verify.status") == "pending");
  CHECK(FieldValue(plan_fields, "plan_revision.reason") == "save elsewhere");
  CHECK(FieldValue(plan_fields, "approvals.user%2Esave.edited_arguments_json") ==
        R"({"path":"p"})");
  CHECK(FieldValue(RunStateFields(run.After(31)), "plan.user%2Esave.status") == "compensated");
  CHECK(FieldValue(RunStateFields(run.After(30)), "plan.user%2Esave.artifact_id") == "page-1");

  // "what did event 15 change": the completion of step fetch.
  std::vector<std::string> changed;
  for (const FieldChange& change : Diff(*run.StateAfter(14), *run.StateAfter(15))) {
    changed.push_back(change.path);
  }
  CHECK(std::find(changed.begin(), changed.end(), "plan.fetch.status") != changed.end());
  CHECK(std::find(changed.begin(), changed.end(), "plan.fetch.output") != changed.end());
  CHECK(std::find(changed.begin(), changed.end(), "run.last_sequence") != changed.end());
  CHECK(std::find(changed.begin(), changed.end(), "plan.parse.status") == changed.end());
}

TEST_CASE("RunState.FormatDocNamesEveryFieldPath", "[run_state]") {
  // Goal: projections/run_state_format.md exists, the writers link to it,
  // and it lists every field path (with its id placeholders) that Fields()
  // produces, so the doc cannot fall behind the code.
  // Method: turn each path of the rich run's states into its template
  // ("plan.<item_id>.status") and look for it, in backquotes, in the doc.
  const auto read = [](const std::string& relative) {
    std::ifstream in(std::string(AGENTLOG_SOURCE_DIR) + "/" + relative, std::ios::binary);
    INFO("reading " << relative);
    REQUIRE(in.good());
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  };
  const std::string doc = read("projections/run_state_format.md");
  for (const char* writer : {"projections/run_state.cc", "projections/run_state_codec.cc",
                             "schema/run_state.fbs", "include/agentlog/run_state.h"}) {
    INFO(writer);
    CHECK(read(writer).find("projections/run_state_format.md") != std::string::npos);
  }
  const std::vector<std::pair<std::string, std::string>> placeholders = {
      {"turns", "<turn_id>"},     {"plan", "<item_id>"},          {"approvals", "<key>"},
      {"compensations", "<sequence>"}, {"decisions", "<sequence>"}, {"facts", "<key>"},
      {"questions", "<question_id>"},  {"artifacts", "<artifact_id>"}, {"messages", "<sequence>"}};
  RunFold run;
  AddRichRun(run);
  std::set<std::string> templates;
  for (size_t count : {size_t{35}, run.Events().size()}) {
    for (const StateField& field : RunStateFields(run.After(count))) {
      std::vector<std::string> segments;
      std::stringstream path(field.path);
      for (std::string segment; std::getline(path, segment, '.');) segments.push_back(segment);
      for (const auto& [list, placeholder] : placeholders) {
        if (segments[0] == list && segments.size() > 2) segments[1] = placeholder;
      }
      if (segments[0] == "deadlines" && segments[1] == "steps") segments[2] = "<step_id>";
      if (segments[0] == "decisions" && segments.size() == 4) segments[3] = "<i>";
      std::string joined;
      for (const std::string& segment : segments) joined += (joined.empty() ? "" : ".") + segment;
      templates.insert(joined);
    }
  }
  for (const std::string& path : templates) {
    INFO("the doc should list `" << path << "`");
    CHECK(doc.find("`" + path + "`") != std::string::npos);
  }

  // The worked example: the initial state's bytes, 16 to a line.
  const std::string initial = EncodeRunState(RunState());
  std::string dump;
  for (size_t i = 0; i < initial.size(); ++i) {
    char hex[4];
    std::snprintf(hex, sizeof(hex), "%02x", static_cast<unsigned char>(initial[i]));
    dump += (i % 16 == 0 ? (i == 0 ? "    " : "\n    ") : " ") + std::string(hex);
  }
  INFO("the doc's example should be\n" << dump);
  CHECK(doc.find(dump + "\n") != std::string::npos);
  CHECK(doc.find("these " + std::to_string(initial.size()) + " bytes") != std::string::npos);
}
