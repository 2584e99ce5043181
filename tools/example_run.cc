// tools/example_run.cc: `agentlog example DB`, one short agent run appended
// event by event through the Store API alone (no runtime): what each append
// looks like on the wire. `agentlog demo` shows the runtime on top.
//
// The story: a user asks the agent to summarize the open incidents and email
// the on-call lead. The agent plans three steps, runs a read-only search,
// records what it learned and why it chose email, asks for approval before
// the mutating step, sends the email and completes the turn. Every append is
// kSync, names the head it expects and carries an idempotency key; then a
// retried append is shown to be recognized as a replay.
//
// Re-runnable: each invocation appends a new run, incident-summary-N, with
// the first N not yet in the store.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "agentlog/hash.h"
#include "tools/commands.h"
#include "tools/event_json.h"

namespace agentlog_tools {
namespace {

namespace fb = agentlog::fb;

// Runs one invocation may probe for a free name: bounds the search.
constexpr int kMaxDemoRuns = 100000;
constexpr char kRunPrefix[] = "incident-summary-";
constexpr char kSessionId[] = "session-ops-demo";
constexpr char kTurnId[] = "turn-1";
constexpr char kUserId[] = "maria.chen";
constexpr char kAgentId[] = "ops-assistant";
constexpr int64_t kApprovalWindowUs = int64_t{3600} * 1000 * 1000;  // one hour
// The append the example retries to show a replay: the send_email completion.
constexpr char kRetriedKeySuffix[] = "step-3-completed";

struct PlanStep {
  const char* item_id;
  const char* tool;
  const char* arguments_json;
  fb::ConfirmationMode confirmation;
  const char* description;
};

constexpr PlanStep kPlan[] = {
    {"step-1", "search_incidents", R"({"status":"open","team":"payments"})",
     fb::ConfirmationMode_SafeReadonly, "Find the open incidents"},
    {"step-2", "summarize", R"({"source":"step-1","style":"one line per incident"})",
     fb::ConfirmationMode_SafeReadonly, "Summarize them by severity"},
    {"step-3", "send_email",
     R"json({"to":"dana.okafor@example.com","subject":"Open incidents: 3 (1 SEV-2)"})json",
     fb::ConfirmationMode_Mutating, "Email the summary to the on-call lead"},
};

constexpr char kSearchOutput[] =
    R"([{"id":"INC-4211","severity":"SEV-2","title":"Card refunds delayed"},)"
    R"({"id":"INC-4207","severity":"SEV-3","title":"Slow invoice export"},)"
    R"({"id":"INC-4198","severity":"SEV-3","title":"Webhook retries spiking"}])";

// One Append: its events, its key (after the run id) and, for the printout,
// their type names.
struct Batch {
  std::string key_suffix;
  std::vector<agentlog::EventInput> events;
  std::vector<std::string> types;
};

// "ToolStarted", "PlanItemAdded x3" or "FactAdded, DecisionRecorded".
std::string DescribeTypes(const std::vector<std::string>& types) {
  if (types.size() > 1 && std::all_of(types.begin(), types.end(),
                                      [&](const std::string& type) { return type == types[0]; })) {
    return types[0] + " x" + std::to_string(types.size());
  }
  std::string text;
  for (const std::string& type : types) text += (text.empty() ? "" : ", ") + type;
  return text;
}

// Builds the run's appends in order. Because every append names the head it
// expects, a successful append lands exactly where the script predicted, so
// causation links can name sequences before anything is written.
class RunScript {
 public:
  explicit RunScript(std::string run_id) : run_id_(std::move(run_id)) {}

  const std::string& run_id() const { return run_id_; }
  const std::vector<Batch>& batches() const { return batches_; }

  // Starts a new append under `key_suffix`.
  void Begin(std::string key_suffix) {
    batches_.push_back(Batch{std::move(key_suffix), {}, {}});
  }

  // Adds an event (built in `builder`) to the current append; returns the
  // sequence it will get. REQUIRES: Begin was called.
  template <typename T>
  uint64_t Add(flatbuffers::FlatBufferBuilder& builder, fb::Body type,
               flatbuffers::Offset<T> body, std::string step_id, uint64_t causation,
               agentlog::ActorKind actor_kind, std::string actor_id) {
    if (batches_.empty()) std::abort();  // a bug in this file
    builder.Finish(fb::CreateEvent(builder, type, body.Union()));
    agentlog::EventInput input;
    input.payload.assign(reinterpret_cast<const char*>(builder.GetBufferPointer()),
                         builder.GetSize());
    input.turn_id = kTurnId;
    input.step_id = std::move(step_id);
    input.causation = causation;
    input.actor_kind = actor_kind;
    input.actor_id = std::move(actor_id);
    builder.Clear();
    Batch& batch = batches_.back();
    batch.events.push_back(std::move(input));
    batch.types.push_back(fb::EnumNameBody(type));
    return next_sequence_++;
  }

 private:
  std::string run_id_;
  std::vector<Batch> batches_;
  uint64_t next_sequence_ = 1;
};

// TurnStarted, TurnPlanned and the plan; returns the plan items' sequences.
std::vector<uint64_t> ScriptTurnAndPlan(RunScript& script, flatbuffers::FlatBufferBuilder& b) {
  using agentlog::ActorKind;
  script.Begin("turn-started");
  const uint64_t turn = script.Add(
      b, fb::Body_TurnStarted,
      fb::CreateTurnStartedDirect(
          b, "Summarize the open incidents and email the on-call lead.",
          "summarize(incidents where status=open) then email(on-call lead)", kSessionId),
      "", 0, ActorKind::kUser, kUserId);

  script.Begin("turn-planned");
  const uint64_t planned =
      script.Add(b, fb::Body_TurnPlanned, fb::CreateTurnPlanned(b, std::size(kPlan)), "", turn,
                 ActorKind::kAgent, kAgentId);

  // The three plan items go in one append: all of them or none.
  script.Begin("plan-items");
  std::vector<uint64_t> items;
  uint32_t ordinal = 0;
  for (const PlanStep& step : kPlan) {
    items.push_back(script.Add(
        b, fb::Body_PlanItemAdded,
        fb::CreatePlanItemAddedDirect(b, step.item_id, ++ordinal, step.tool, step.arguments_json,
                                      step.confirmation, step.description),
        step.item_id, planned, ActorKind::kAgent, kAgentId));
  }
  return items;
}

// Step 1 (search_incidents, read-only): started, progress, completed; then
// the fact it established and the decision resting on it. Returns the
// decision's sequence.
uint64_t ScriptSearchAndDecide(RunScript& script, flatbuffers::FlatBufferBuilder& b,
                               uint64_t item) {
  using agentlog::ActorKind;
  const PlanStep& step = kPlan[0];
  const std::string tool_key = script.run_id() + "/step-1/attempt-1";
  script.Begin("step-1-started");
  const uint64_t started = script.Add(
      b, fb::Body_ToolStarted,
      fb::CreateToolStartedDirect(b, step.tool, step.arguments_json, tool_key.c_str(), 1),
      step.item_id, item, ActorKind::kAgent, kAgentId);

  script.Begin("step-1-progress");
  script.Add(b, fb::Body_ToolProgress,
             fb::CreateToolProgressDirect(b, 2, 3, "2 of 3 incident queues searched"),
             step.item_id, started, ActorKind::kTool, step.tool);

  script.Begin("step-1-completed");
  const std::string hash = agentlog::Sha256(kSearchOutput);
  const std::vector<uint8_t> hash_bytes(hash.begin(), hash.end());
  const uint64_t completed = script.Add(
      b, fb::Body_ToolCompleted, fb::CreateToolCompletedDirect(b, kSearchOutput, "", &hash_bytes),
      step.item_id, started, ActorKind::kTool, step.tool);

  script.Begin("fact-open-incidents");
  const uint64_t fact = script.Add(
      b, fb::Body_FactAdded,
      fb::CreateFactAddedDirect(b, "open_incidents",
                                "INC-4211 (SEV-2), INC-4207 (SEV-3), INC-4198 (SEV-3)",
                                step.tool),
      "step-2", completed, ActorKind::kAgent, kAgentId);

  script.Begin("decision-email");
  std::vector<flatbuffers::Offset<flatbuffers::String>> alternatives = {
      b.CreateString("page the on-call lead"), b.CreateString("post in #incidents")};
  std::vector<flatbuffers::Offset<flatbuffers::String>> fact_keys = {
      b.CreateString("open_incidents")};
  return script.Add(
      b, fb::Body_DecisionRecorded,
      fb::CreateDecisionRecordedDirect(
          b, "email one summary, SEV-2 first", &alternatives,
          "No SEV-1 is open, so a page is not warranted; an email keeps a written record "
          "the lead can forward.",
          &fact_keys),
      "step-2", fact, ActorKind::kAgent, kAgentId);
}

// Step 3 (send_email, mutating): approval asked and granted, the send with
// the key the mail service de-duplicates on, and the turn's answer.
void ScriptApprovedEmail(RunScript& script, flatbuffers::FlatBufferBuilder& b, uint64_t item) {
  using agentlog::ActorKind;
  const PlanStep& step = kPlan[2];
  const int64_t now_us = agentlog::SystemClock()->NowMicros();
  script.Begin("step-3-approval-requested");
  const uint64_t requested = script.Add(
      b, fb::Body_ApprovalRequested,
      fb::CreateApprovalRequestedDirect(
          b, fb::ConfirmationMode_Mutating,
          "Send \"Open incidents: 3 (1 SEV-2)\" to dana.okafor@example.com?",
          now_us + kApprovalWindowUs),
      step.item_id, item, ActorKind::kAgent, kAgentId);

  script.Begin("step-3-approval-granted");
  const uint64_t granted = script.Add(
      b, fb::Body_ApprovalGranted,
      fb::CreateApprovalGrantedDirect(b, kUserId, fb::ApprovalScope_Once, ""), step.item_id,
      requested, ActorKind::kUser, kUserId);

  // A retried send is one email: the mail service de-duplicates on this key.
  const std::string tool_key = script.run_id() + "/step-3/send_email";
  script.Begin("step-3-started");
  const uint64_t started = script.Add(
      b, fb::Body_ToolStarted,
      fb::CreateToolStartedDirect(b, step.tool, step.arguments_json, tool_key.c_str(), 1),
      step.item_id, granted, ActorKind::kAgent, kAgentId);

  script.Begin(kRetriedKeySuffix);
  const std::string output = R"({"message_id":"<incidents-4211@mail.example.com>"})";
  const std::string hash = agentlog::Sha256(output);
  const std::vector<uint8_t> hash_bytes(hash.begin(), hash.end());
  const uint64_t sent = script.Add(
      b, fb::Body_ToolCompleted,
      fb::CreateToolCompletedDirect(b, output.c_str(), "", &hash_bytes), step.item_id, started,
      ActorKind::kTool, step.tool);

  script.Begin("turn-completed");
  script.Add(b, fb::Body_TurnCompleted,
             fb::CreateTurnCompletedDirect(
                 b, "Emailed Dana Okafor (on-call lead) a summary of the 3 open incidents; "
                    "INC-4211 (SEV-2, card refunds delayed) is listed first."),
             "", sent, ActorKind::kAgent, kAgentId);
}

RunScript ScriptRun(const std::string& run_id) {
  RunScript script(run_id);
  flatbuffers::FlatBufferBuilder builder;
  const std::vector<uint64_t> items = ScriptTurnAndPlan(script, builder);
  ScriptSearchAndDecide(script, builder, items[0]);
  ScriptApprovedEmail(script, builder, items[2]);
  return script;
}

agentlog::AppendOptions OptionsFor(const RunScript& script, const Batch& batch,
                                   std::optional<uint64_t> expected_head) {
  agentlog::AppendOptions options;
  options.durability = agentlog::Durability::kSync;  // survives a power loss
  options.expected_head = expected_head;
  options.idempotency_key = script.run_id() + "/" + batch.key_suffix;
  options.session_id = kSessionId;
  return options;
}

// Appends every batch of `script`, each expecting the head the last one left.
agentlog::Status AppendRun(agentlog::Store& store, const RunScript& script) {
  uint64_t head = 0;
  for (const Batch& batch : script.batches()) {
    const agentlog::AppendOptions options = OptionsFor(script, batch, head);
    auto result = store.Append(script.run_id(), std::span(batch.events), options);
    if (!result.ok()) return result.status();
    // expected_head held, so the events landed right after the old head.
    if (result->replayed || result->first_sequence != head + 1 ||
        result->last_sequence != head + batch.events.size()) {
      return agentlog::Status::Conflict("run \"" + script.run_id() + "\": append " +
                                        options.idempotency_key + " landed at sequence " +
                                        std::to_string(result->first_sequence) + ", expected " +
                                        std::to_string(head + 1));
    }
    head = result->last_sequence;
    std::printf("  seq %2llu..%-2llu  position %-4llu  %-20s key %s\n",
                static_cast<unsigned long long>(result->first_sequence),
                static_cast<unsigned long long>(result->last_sequence),
                static_cast<unsigned long long>(result->first_position),
                DescribeTypes(batch.types).c_str(),
                options.idempotency_key.c_str());
  }
  return agentlog::Status::OK();
}

// Retries the send_email completion as a client would after a lost reply:
// same key, same events, and no idea of the head any more. The store answers
// with the first append's numbers and writes nothing.
agentlog::Status ShowReplay(agentlog::Store& store, const RunScript& script) {
  const Batch* retried = nullptr;
  for (const Batch& batch : script.batches()) {
    if (batch.key_suffix == kRetriedKeySuffix) retried = &batch;
  }
  if (retried == nullptr) std::abort();  // a bug in ScriptApprovedEmail
  auto before = store.GetRun(script.run_id());
  if (!before.ok()) return before.status();
  const agentlog::AppendOptions options = OptionsFor(script, *retried, std::nullopt);
  auto retry = store.Append(script.run_id(), std::span(retried->events), options);
  if (!retry.ok()) return retry.status();
  auto after = store.GetRun(script.run_id());
  if (!after.ok()) return after.status();
  std::printf("  retry of %s: replayed=%s, seq %llu (the first append's), head %llu before, "
              "%llu after\n",
              options.idempotency_key.c_str(), retry->replayed ? "true" : "false",
              static_cast<unsigned long long>(retry->first_sequence),
              static_cast<unsigned long long>(before->head_sequence),
              static_cast<unsigned long long>(after->head_sequence));
  if (!retry->replayed || after->head_sequence != before->head_sequence) {
    return agentlog::Status::Corruption("run \"" + script.run_id() +
                                        "\": a retried append was written twice");
  }
  std::printf("  nothing was written: the key had recorded the first append\n");
  return agentlog::Status::OK();
}

// The first incident-summary-N the store does not hold yet.
agentlog::Result<std::string> FreeRunId(agentlog::Store& store) {
  for (int n = 1; n <= kMaxDemoRuns; ++n) {
    std::string run_id = kRunPrefix + std::to_string(n);
    auto info = store.GetRun(run_id);
    if (!info.ok() && info.status().IsNotFound()) return run_id;
    if (!info.ok()) return info.status();
  }
  return agentlog::Status::LimitExceeded("the store already holds " +
                                         std::to_string(kMaxDemoRuns) +
                                         " example runs; use a fresh directory");
}

agentlog::Status PrintRun(agentlog::Store& store, const std::string& run_id) {
  agentlog::ReadOptions read;
  read.limit = agentlog::kMaxReadLimit;
  auto events = store.ReadRun(run_id, read);
  if (!events.ok()) return events.status();
  EventRenderer renderer;
  for (const agentlog::Event& event : *events) {
    std::cout << renderer.ToJsonLine(event) << '\n';
  }
  std::cout.flush();
  return agentlog::Status::OK();
}

agentlog::Status RunExample(agentlog::Store& store, const std::string& db) {
  auto run_id = FreeRunId(store);
  if (!run_id.ok()) return run_id.status();
  const RunScript script = ScriptRun(*run_id);

  std::printf("== appending run %s (durability sync, expected head, one key per append)\n",
              run_id->c_str());
  if (auto status = AppendRun(store, script); !status.ok()) return status;

  std::printf("\n== retrying an append whose reply was lost\n");
  if (auto status = ShowReplay(store, script); !status.ok()) return status;

  std::printf("\n== the run as JSON lines (agentlog log %s %s)\n", db.c_str(), run_id->c_str());
  std::fflush(stdout);
  if (auto status = PrintRun(store, *run_id); !status.ok()) return status;

  std::printf("\n== the run's metadata\n");
  auto info = store.GetRun(*run_id);
  if (!info.ok()) return info.status();
  std::printf("%s\n", RunInfoToJson(*info).dump(2).c_str());

  std::printf("\n== agentlog verify %s\n", db.c_str());
  agentlog::VerifyStats stats;
  if (auto status = store.VerifyAll(&stats); !status.ok()) return status;
  std::printf("%s\n", VerifyOkLine(stats, agentlog::SnapshotCheckStats{}).c_str());

  auto run_digest = store.RunDigest(*run_id);
  if (!run_digest.ok()) return run_digest.status();
  auto store_digest = store.StoreDigest();
  if (!store_digest.ok()) return store_digest.status();
  std::printf("\n== digests (keep them; later: agentlog verify %s --against DIGEST)\n",
              db.c_str());
  std::printf("run:   %s\nstore: %s\n", run_digest->c_str(), store_digest->c_str());
  agentlog::VerifyStats against;
  if (auto status = store.VerifyAgainst(*run_digest, &against); !status.ok()) return status;
  std::printf("verify --against the run digest: %s\n", VerifyOkLine(against, agentlog::SnapshotCheckStats{}).c_str());
  return agentlog::Status::OK();
}

}  // namespace

int ExampleCommand(const std::string& db) {
  auto store = OpenStoreToWrite(db, /*create=*/true);
  if (!store.ok()) return Fail("example", store.status());
  if (auto status = RunExample(**store, db); !status.ok()) return Fail("example", status);
  if (auto status = (*store)->Close(); !status.ok()) return Fail("example", status);
  std::fflush(stdout);
  if (std::ferror(stdout)) {
    std::fprintf(stderr, "agentlog example: could not write to standard output\n");
    return kExitOther;
  }
  return kExitOk;
}

}  // namespace agentlog_tools
