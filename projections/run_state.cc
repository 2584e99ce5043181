// projections/run_state.cc: the run-state fold (agentlog/run_state.h).
//
// Every rule here is written down in projections/run_state_format.md
// ("The fold"); change the two together and bump
// kRunStateProjectionVersion. The fold is pure and total: it reads only the
// state and the event (no clock, no I/O), and any schema-valid event, in
// any order, gives a defined state rather than a crash.
#include <algorithm>
#include <iterator>
#include <limits>
#include <map>
#include <string>
#include <utility>

#include "agentlog/run_state.h"
#include "base/assert.h"

namespace agentlog {
namespace {

// What the fold reads of the envelope, once per event.
struct Envelope {
  uint64_t sequence;
  int64_t time_us;
  EventType type;
  std::string_view turn_id;
  std::string_view step_id;
  uint64_t causation;
};

std::string_view Text(const flatbuffers::String* text) {
  return text != nullptr ? std::string_view(text->c_str(), text->size()) : std::string_view();
}

std::string Bytes(const flatbuffers::Vector<uint8_t>* bytes) {
  if (bytes == nullptr) return std::string();
  return std::string(reinterpret_cast<const char*>(bytes->data()), bytes->size());
}

std::vector<std::string> Strings(
    const flatbuffers::Vector<flatbuffers::Offset<flatbuffers::String>>* list) {
  std::vector<std::string> out;
  if (list == nullptr) return out;
  out.reserve(list->size());
  for (const flatbuffers::String* item : *list) out.emplace_back(Text(item));
  return out;
}

// An id the event should have given but left empty becomes "#<sequence>",
// so every keyed entry has a key and two such events never share one.
std::string IdOr(std::string_view id, uint64_t sequence) {
  return id.empty() ? "#" + std::to_string(sequence) : std::string(id);
}

uint64_t SaturatingAdd(uint64_t a, uint64_t b) {
  return a > std::numeric_limits<uint64_t>::max() - b ? std::numeric_limits<uint64_t>::max()
                                                      : a + b;
}

uint32_t Increment(uint32_t value) {
  return value == std::numeric_limits<uint32_t>::max() ? value : value + 1;
}

// The entry of `items` (sorted by key_of, keys unique) with `key`, inserted
// default-constructed if absent; `*inserted` says which.
template <typename T, typename Key, typename KeyOf>
T& Upsert(std::vector<T>& items, const Key& key, KeyOf key_of, bool* inserted) {
  auto at = std::lower_bound(items.begin(), items.end(), key,
                             [&](const T& item, const Key& k) { return key_of(item) < k; });
  *inserted = at == items.end() || !(key_of(*at) == key);
  if (*inserted) at = items.insert(at, T{});
  return *at;
}

template <typename T, typename Key, typename KeyOf>
const T* FindSorted(const std::vector<T>& items, const Key& key, KeyOf key_of) {
  auto at = std::lower_bound(items.begin(), items.end(), key,
                             [&](const T& item, const Key& k) { return key_of(item) < k; });
  return at != items.end() && key_of(*at) == key ? &*at : nullptr;
}

const std::string& ApprovalKey(const RunState::Approval& a) { return a.key; }
const std::string& FactKey(const RunState::Fact& f) { return f.key; }
const std::string& QuestionKey(const RunState::Question& q) { return q.id; }
const std::string& ArtifactKey(const RunState::Artifact& a) { return a.id; }
const std::string& DeadlineKey(const RunState::StepDeadline& d) { return d.step_id; }
uint64_t CompensationKey(const RunState::Compensation& c) { return c.sequence; }
uint64_t DecisionKey(const RunState::Decision& d) { return d.sequence; }

// ---- turns and plan -----------------------------------------------------------

RunState::Turn* MutableTurn(RunState& state, std::string_view id) {
  // The current turn is the last one: search from the back.
  for (auto it = state.turns.rbegin(); it != state.turns.rend(); ++it) {
    if (it->id == id) return &*it;
  }
  return nullptr;
}

// The turn an event belongs to: the one its envelope names, else the
// current turn; nullptr before the first TurnStarted.
RunState::Turn* TurnOf(RunState& state, const Envelope& envelope) {
  if (!envelope.turn_id.empty()) {
    if (RunState::Turn* named = MutableTurn(state, envelope.turn_id)) return named;
  }
  return state.current_turn_id.empty() ? nullptr : MutableTurn(state, state.current_turn_id);
}

RunState::PlanItem* MutableItem(RunState& state, std::string_view id) {
  for (RunState::PlanItem& item : state.plan) {
    if (item.id == id) return &item;
  }
  return nullptr;
}

bool PlanOrder(const RunState::PlanItem& a, const RunState::PlanItem& b) {
  return a.ordinal != b.ordinal ? a.ordinal < b.ordinal : a.id < b.id;
}

// Puts `item` (not in the plan) in its place by (ordinal, id).
RunState::PlanItem& InsertItem(RunState& state, RunState::PlanItem item) {
  auto at = std::lower_bound(state.plan.begin(), state.plan.end(), item, PlanOrder);
  return *state.plan.insert(at, std::move(item));
}

// Takes the item with `id` out of the plan; a fresh one with that id if absent.
RunState::PlanItem TakeItem(RunState& state, std::string_view id) {
  RunState::PlanItem taken;
  auto at = std::find_if(state.plan.begin(), state.plan.end(),
                         [&](const RunState::PlanItem& item) { return item.id == id; });
  if (at != state.plan.end()) {
    taken = std::move(*at);
    state.plan.erase(at);
  }
  taken.id = std::string(id);
  return taken;
}

// The plan item a tool or retry event names by its envelope step id. A
// step the plan does not list is added after the last item, marked
// unplanned, so work that happened is never invisible. No step id: nullptr.
RunState::PlanItem* ToolStep(RunState& state, const Envelope& envelope, std::string_view tool) {
  if (envelope.step_id.empty()) return nullptr;
  if (RunState::PlanItem* item = MutableItem(state, envelope.step_id)) return item;
  RunState::PlanItem item;
  item.id = std::string(envelope.step_id);
  // The plan is sorted by ordinal: the last item has the highest.
  item.ordinal = state.plan.empty() ? 1 : Increment(state.plan.back().ordinal);
  item.tool = std::string(tool);
  item.planned = false;
  item.updated_sequence = envelope.sequence;
  return &InsertItem(state, std::move(item));
}

void SetDefinition(RunState::PlanItem& item, uint32_t ordinal, std::string_view tool,
                   std::string_view arguments_json, fb::ConfirmationMode confirmation,
                   std::string_view description, uint64_t sequence) {
  item.ordinal = ordinal;
  item.tool = std::string(tool);
  item.arguments_json = std::string(arguments_json);
  item.confirmation = confirmation;
  item.description = std::string(description);
  item.planned = true;
  item.updated_sequence = sequence;
}

void OnTurnStarted(RunState& state, const Envelope& envelope, const fb::TurnStarted& event) {
  std::string id = IdOr(envelope.turn_id, envelope.sequence);
  // A repeated turn id restarts that turn: it moves to the end, so turns
  // stay in start order and the current turn is always the last.
  std::erase_if(state.turns, [&](const RunState::Turn& turn) { return turn.id == id; });
  state.turn_number = SaturatingAdd(state.turn_number, 1);
  RunState::Turn turn;
  turn.id = id;
  turn.number = state.turn_number;
  turn.message_text = std::string(Text(event.message_text()));
  turn.normalized_command = std::string(Text(event.normalized_command()));
  turn.session_id = std::string(Text(event.session_id()));
  turn.started_sequence = envelope.sequence;
  state.turns.push_back(std::move(turn));
  state.current_turn_id = std::move(id);
  // The plan is the current turn's: a new turn starts without one.
  state.plan.clear();
  state.plan_revision = RunState::PlanRevision();
  state.current_step_id.clear();
}

void RecordFailure(RunState& state, const Envelope& envelope, std::string_view error,
                   bool retryable) {
  RunState::Failure failure;
  failure.sequence = envelope.sequence;
  failure.time_us = envelope.time_us;
  failure.event_type = envelope.type;
  const RunState::Turn* turn = TurnOf(state, envelope);
  failure.turn_id = turn != nullptr ? turn->id : std::string(envelope.turn_id);
  failure.step_id = std::string(envelope.step_id);
  if (const RunState::PlanItem* item = MutableItem(state, envelope.step_id)) {
    failure.tool = item->tool;
    failure.arguments_json = item->call_arguments_json;
    failure.output = item->progress.message;
  }
  failure.error = std::string(error);
  failure.retryable = retryable;
  state.failure = std::move(failure);
}

void OnTurnPlanned(RunState& state, const Envelope& envelope, const fb::TurnPlanned& event) {
  if (RunState::Turn* turn = TurnOf(state, envelope)) turn->planned_item_count = event.item_count();
}

void OnTurnCompleted(RunState& state, const Envelope& envelope, const fb::TurnCompleted& event) {
  if (RunState::Turn* turn = TurnOf(state, envelope)) {
    turn->output_text = std::string(Text(event.output_text()));
    turn->ended_sequence = envelope.sequence;
  }
}

void OnTurnFailed(RunState& state, const Envelope& envelope, const fb::TurnFailed& event) {
  if (RunState::Turn* turn = TurnOf(state, envelope)) {
    turn->error = std::string(Text(event.error()));
    turn->ended_sequence = envelope.sequence;
  }
  RecordFailure(state, envelope, Text(event.error()), false);
}

void OnPlanItemAdded(RunState& state, const Envelope& envelope, const fb::PlanItemAdded& event) {
  std::string id = std::string(Text(event.item_id()));
  if (id.empty()) id = IdOr(envelope.step_id, envelope.sequence);
  RunState::PlanItem item = TakeItem(state, id);  // an item listed again keeps its history
  SetDefinition(item, event.ordinal(), Text(event.tool()), Text(event.arguments_json()),
                event.confirmation(), Text(event.description()), envelope.sequence);
  InsertItem(state, std::move(item));
}

void OnPlanRevised(RunState& state, const Envelope& envelope, const fb::PlanRevised& event) {
  // The last listing of each id wins; a map keeps that O(n log n) for any
  // payload, as a plan of n items may be listed in one event.
  std::map<std::string, const fb::PlanItem*> listed;
  const auto* items = event.items();
  const size_t count = items != nullptr ? items->size() : 0;
  for (size_t i = 0; i < count; ++i) {
    const fb::PlanItem* item = items->Get(static_cast<flatbuffers::uoffset_t>(i));
    if (item == nullptr) continue;
    std::string id = std::string(Text(item->item_id()));
    if (id.empty()) id = "#" + std::to_string(envelope.sequence) + "-" + std::to_string(i + 1);
    listed[std::move(id)] = item;
  }
  // A surviving item keeps its history (status, attempts, outputs). All
  // lookups come before any move, as the index points into the old ids.
  std::map<std::string_view, RunState::PlanItem*> old;
  for (RunState::PlanItem& item : state.plan) old.emplace(item.id, &item);
  std::vector<RunState::PlanItem*> survivors;
  survivors.reserve(listed.size());
  for (const auto& entry : listed) {
    auto found = old.find(entry.first);
    survivors.push_back(found != old.end() ? found->second : nullptr);
  }
  std::vector<RunState::PlanItem> revised;
  revised.reserve(listed.size());
  size_t index = 0;
  for (const auto& [id, item] : listed) {
    RunState::PlanItem* survivor = survivors[index++];
    revised.push_back(survivor != nullptr ? std::move(*survivor) : RunState::PlanItem());
    revised.back().id = id;
    SetDefinition(revised.back(), item->ordinal(), Text(item->tool()), Text(item->arguments_json()),
                  item->confirmation(), Text(item->description()), envelope.sequence);
  }
  std::sort(revised.begin(), revised.end(), PlanOrder);
  state.plan = std::move(revised);
  state.plan_revision.count = Increment(state.plan_revision.count);
  state.plan_revision.reason = std::string(Text(event.reason()));
  state.plan_revision.sequence = envelope.sequence;
  if (MutableItem(state, state.current_step_id) == nullptr) state.current_step_id.clear();
}

// ---- tools and retries ---------------------------------------------------------

void OnToolStarted(RunState& state, const Envelope& envelope, const fb::ToolStarted& event) {
  RunState::PlanItem* item = ToolStep(state, envelope, Text(event.tool()));
  if (item == nullptr) return;
  item->status = RunState::StepStatus::kRunning;
  item->attempts = std::max(Increment(item->attempts), event.attempt());
  item->idempotency_key = std::string(Text(event.idempotency_key()));
  item->call_arguments_json = std::string(Text(event.arguments_json()));
  item->progress = RunState::Progress();
  item->updated_sequence = envelope.sequence;
  item->completed_sequence = 0;
  state.current_step_id = item->id;
}

void OnToolProgress(RunState& state, const Envelope& envelope, const fb::ToolProgress& event) {
  RunState::PlanItem* item = ToolStep(state, envelope, "");
  if (item == nullptr) return;
  item->progress.done = event.done();
  item->progress.total = event.total();
  item->progress.message = std::string(Text(event.message()));
  item->updated_sequence = envelope.sequence;
}

void OnToolCompleted(RunState& state, const Envelope& envelope, const fb::ToolCompleted& event) {
  RunState::PlanItem* item = ToolStep(state, envelope, "");
  if (item == nullptr) return;
  // A second completion of the same step replaces the first one's output.
  item->status = RunState::StepStatus::kCompleted;
  item->output = std::string(Text(event.output()));
  item->artifact_id = std::string(Text(event.artifact_id()));
  item->output_hash = Bytes(event.output_hash());
  item->updated_sequence = envelope.sequence;
  item->completed_sequence = envelope.sequence;
}

void OnToolFailed(RunState& state, const Envelope& envelope, const fb::ToolFailed& event) {
  if (RunState::PlanItem* item = ToolStep(state, envelope, "")) {
    item->status = RunState::StepStatus::kFailed;
    item->attempts = std::max(item->attempts, event.attempt());
    item->last_error = std::string(Text(event.error()));
    item->last_error_retryable = event.retryable();
    item->updated_sequence = envelope.sequence;
  }
  RecordFailure(state, envelope, Text(event.error()), event.retryable());
}

void OnRetryScheduled(RunState& state, const Envelope& envelope, const fb::RetryScheduled& event) {
  RunState::PlanItem* item = ToolStep(state, envelope, "");
  if (item == nullptr) return;
  item->status = RunState::StepStatus::kRetryScheduled;
  item->retry.attempt = event.attempt();
  item->retry.backoff_ms = event.backoff_ms();
  item->retry.not_before_us = event.not_before_us();
  item->updated_sequence = envelope.sequence;
}

// ---- approvals and compensations -------------------------------------------------

void SetStepStatus(RunState& state, std::string_view step_id, RunState::StepStatus status,
                   uint64_t sequence) {
  if (step_id.empty()) return;
  if (RunState::PlanItem* item = MutableItem(state, step_id)) {
    item->status = status;
    item->updated_sequence = sequence;
  }
}

void OnApprovalRequested(RunState& state, const Envelope& envelope,
                         const fb::ApprovalRequested& event) {
  RunState::Approval approval;
  approval.key = IdOr(envelope.step_id, envelope.sequence);
  approval.step_id = std::string(envelope.step_id);
  approval.mode = event.mode();
  approval.request = std::string(Text(event.request()));
  approval.requested_sequence = envelope.sequence;
  approval.requested_at_us = envelope.time_us;
  approval.expires_at_us = event.expires_at_us();
  // A repeated request for the same step asks afresh: it replaces the old one.
  bool inserted = false;
  Upsert(state.approvals, approval.key, ApprovalKey, &inserted) = std::move(approval);
  SetStepStatus(state, envelope.step_id, RunState::StepStatus::kAwaitingApproval,
                envelope.sequence);
  if (MutableItem(state, envelope.step_id) != nullptr) {
    state.current_step_id = std::string(envelope.step_id);
  }
}

// The approval a grant or denial answers: the one keyed by its step id;
// else, with no step id, the one whose request is its causation; else a
// new entry "#<sequence>". A decision with no request creates its entry.
RunState::Approval& DecidedApproval(RunState& state, const Envelope& envelope) {
  std::string key = std::string(envelope.step_id);
  if (key.empty() && envelope.causation != 0) {
    for (const RunState::Approval& approval : state.approvals) {
      if (approval.requested_sequence == envelope.causation) key = approval.key;
    }
  }
  if (key.empty()) key = IdOr(key, envelope.sequence);
  bool inserted = false;
  RunState::Approval& approval = Upsert(state.approvals, key, ApprovalKey, &inserted);
  if (inserted) {
    approval.key = key;
    approval.step_id = std::string(envelope.step_id);
  }
  return approval;
}

void OnApprovalGranted(RunState& state, const Envelope& envelope,
                       const fb::ApprovalGranted& event) {
  RunState::Approval& approval = DecidedApproval(state, envelope);
  approval.decision = RunState::ApprovalDecision::kGranted;
  approval.decided_by = std::string(Text(event.granted_by()));
  approval.scope = event.scope();
  approval.edited_arguments_json = std::string(Text(event.edited_arguments_json()));
  approval.denial_reason.clear();
  approval.decided_sequence = envelope.sequence;
  const std::string step_id = approval.step_id;
  SetStepStatus(state, step_id, RunState::StepStatus::kApproved, envelope.sequence);
  if (RunState::PlanItem* item = step_id.empty() ? nullptr : MutableItem(state, step_id)) {
    item->edited_arguments_json = std::string(Text(event.edited_arguments_json()));
  }
}

void OnApprovalDenied(RunState& state, const Envelope& envelope, const fb::ApprovalDenied& event) {
  RunState::Approval& approval = DecidedApproval(state, envelope);
  approval.decision = RunState::ApprovalDecision::kDenied;
  approval.decided_by = std::string(Text(event.denied_by()));
  approval.scope = fb::ApprovalScope_Once;
  approval.edited_arguments_json.clear();
  approval.denial_reason = std::string(Text(event.reason()));
  approval.decided_sequence = envelope.sequence;
  const std::string step_id = approval.step_id;
  SetStepStatus(state, step_id, RunState::StepStatus::kDenied, envelope.sequence);
}

void OnCompensationRecorded(RunState& state, const Envelope& envelope,
                            const fb::CompensationRecorded& event) {
  bool inserted = false;
  RunState::Compensation& entry =
      Upsert(state.compensations, envelope.sequence, CompensationKey, &inserted);
  entry.sequence = envelope.sequence;
  entry.compensated_step_id = std::string(Text(event.compensated_step_id()));
  entry.tool = std::string(Text(event.tool()));
  entry.arguments_json = std::string(Text(event.arguments_json()));
  entry.idempotency_key = std::string(Text(event.idempotency_key()));
  SetStepStatus(state, Text(event.compensated_step_id()), RunState::StepStatus::kCompensated,
                envelope.sequence);
}

// ---- decisions, knowledge, conversation ------------------------------------------

void OnDecisionRecorded(RunState& state, const Envelope& envelope,
                        const fb::DecisionRecorded& event) {
  bool inserted = false;
  RunState::Decision& entry = Upsert(state.decisions, envelope.sequence, DecisionKey, &inserted);
  entry.sequence = envelope.sequence;
  entry.choice = std::string(Text(event.choice()));
  entry.alternatives = Strings(event.alternatives());
  entry.rationale = std::string(Text(event.rationale()));
  entry.fact_keys = Strings(event.fact_keys());
}

void OnFactAdded(RunState& state, const Envelope& envelope, const fb::FactAdded& event) {
  const std::string key = IdOr(Text(event.key()), envelope.sequence);
  bool inserted = false;
  RunState::Fact& fact = Upsert(state.facts, key, FactKey, &inserted);
  fact.key = key;
  fact.value = std::string(Text(event.value()));
  fact.source = std::string(Text(event.source()));
  fact.sequence = envelope.sequence;
}

void OnQuestionOpened(RunState& state, const Envelope& envelope, const fb::QuestionOpened& event) {
  const std::string id = IdOr(Text(event.question_id()), envelope.sequence);
  bool inserted = false;
  // Opening an id again reopens it with the new text.
  Upsert(state.questions, id, QuestionKey, &inserted) =
      RunState::Question{id, std::string(Text(event.text())), true, "", envelope.sequence, 0};
}

void OnQuestionResolved(RunState& state, const Envelope& envelope,
                        const fb::QuestionResolved& event) {
  const std::string id = IdOr(Text(event.question_id()), envelope.sequence);
  bool inserted = false;
  RunState::Question& question = Upsert(state.questions, id, QuestionKey, &inserted);
  question.id = id;
  question.open = false;
  question.answer = std::string(Text(event.answer()));
  question.resolved_sequence = envelope.sequence;
}

void OnArtifactStored(RunState& state, const Envelope& envelope, const fb::ArtifactStored& event) {
  const std::string id = IdOr(Text(event.artifact_id()), envelope.sequence);
  bool inserted = false;
  RunState::Artifact& artifact = Upsert(state.artifacts, id, ArtifactKey, &inserted);
  artifact.id = id;
  artifact.media_type = std::string(Text(event.media_type()));
  artifact.summary = std::string(Text(event.summary()));
  artifact.size_bytes = event.size_bytes();
  artifact.content_hash = Bytes(event.content_hash());
  artifact.sequence = envelope.sequence;
}

bool MessageBefore(const RunState::Message& a, const RunState::Message& b) {
  return a.anchor() != b.anchor() ? a.anchor() < b.anchor() : a.sequence < b.sequence;
}

void InsertMessage(RunState& state, RunState::Message message) {
  std::erase_if(state.messages,
                [&](const RunState::Message& other) { return other.sequence == message.sequence; });
  auto at = std::lower_bound(state.messages.begin(), state.messages.end(), message, MessageBefore);
  state.messages.insert(at, std::move(message));
}

void OnMessageAppended(RunState& state, const Envelope& envelope,
                       const fb::MessageAppended& event) {
  RunState::Message message;
  message.sequence = envelope.sequence;
  message.role = std::string(Text(event.role()));
  message.text = std::string(Text(event.text()));
  InsertMessage(state, std::move(message));
}

void OnConversationCompacted(RunState& state, const Envelope& envelope,
                             const fb::ConversationCompacted& event) {
  const uint64_t first = event.first_sequence();
  const uint64_t last = event.last_sequence();
  // Entries wholly inside [first, last] go: messages, and earlier summaries
  // whose range it covers. A summary that only overlaps stays.
  std::erase_if(state.messages, [&](const RunState::Message& message) {
    const uint64_t from = message.summary ? message.first_sequence : message.sequence;
    const uint64_t to = message.summary ? message.last_sequence : message.sequence;
    return first <= from && to <= last;
  });
  RunState::Message summary;
  summary.sequence = envelope.sequence;
  summary.text = std::string(Text(event.summary()));
  summary.summary = true;
  summary.first_sequence = first;
  summary.last_sequence = last;
  InsertMessage(state, std::move(summary));
}

// ---- budget and control --------------------------------------------------------------

void OnDeadlineSet(RunState& state, const Envelope&, const fb::DeadlineSet& event) {
  const std::string_view step_id = Text(event.scope_step_id());
  if (step_id.empty()) {
    state.run_deadline_at_us = event.deadline_at_us();
    return;
  }
  if (event.deadline_at_us() == 0) {  // 0 lifts the step's deadline
    std::erase_if(state.step_deadlines, [&](const RunState::StepDeadline& deadline) {
      return deadline.step_id == step_id;
    });
    return;
  }
  bool inserted = false;
  RunState::StepDeadline& deadline =
      Upsert(state.step_deadlines, std::string(step_id), DeadlineKey, &inserted);
  deadline.step_id = std::string(step_id);
  deadline.deadline_at_us = event.deadline_at_us();
}

void OnBudgetSet(RunState& state, const Envelope&, const fb::BudgetSet& event) {
  state.budget.max_steps = event.max_steps();
  state.budget.max_tokens = event.max_tokens();
  state.budget.max_wall_time_ms = event.max_wall_time_ms();
}

void OnBudgetConsumed(RunState& state, const Envelope&, const fb::BudgetConsumed& event) {
  RunState::Budget& budget = state.budget;
  budget.used_steps = SaturatingAdd(budget.used_steps, event.steps());
  budget.used_tokens = SaturatingAdd(budget.used_tokens, event.tokens());
  budget.used_wall_time_ms = SaturatingAdd(budget.used_wall_time_ms, event.wall_time_ms());
}

void OnRunPaused(RunState& state, const Envelope& envelope, const fb::RunPaused& event) {
  state.pause = {std::string(Text(event.resume_trigger())), event.timeout_at_us(),
                 envelope.sequence};
}

void OnRunResumed(RunState& state, const Envelope& envelope, const fb::RunResumed& event) {
  state.resume = {std::string(Text(event.reason())), envelope.sequence};
}

void OnRunForked(RunState& state, const Envelope& envelope, const fb::RunForked& event) {
  state.fork = {std::string(Text(event.parent_run_id())), event.fork_sequence(),
                std::string(Text(event.reason())), envelope.sequence};
  // A fork starts unleased (engine/record_format.md, "Forks"): the parent's
  // holder does not hold it. The epoch stays, as in the runs index.
  state.lease.held = false;
}

void OnLeaseAcquired(RunState& state, const Envelope& envelope, const fb::LeaseAcquired& event) {
  state.lease = {std::string(Text(event.holder())), event.epoch(), event.ttl_ms(), true,
                 envelope.sequence};
}

void OnLeaseReleased(RunState& state, const Envelope& envelope, const fb::LeaseReleased& event) {
  state.lease = {std::string(Text(event.holder())), event.epoch(), state.lease.ttl_ms, false,
                 envelope.sequence};
}

void OnCheckpointMarked(RunState& state, const Envelope& envelope,
                        const fb::CheckpointMarked& event) {
  state.checkpoint = {std::string(Text(event.label())), envelope.sequence};
}

// An embedder's own event: its meaning is theirs, folded by their own
// projections; the run state records nothing of it.
void OnCustomEvent(RunState&, const Envelope&, const fb::CustomEvent&) {}

// ---- dispatch ---------------------------------------------------------------------------

// Folds a body whose type is T; false if it holds no table of that type.
using Rule = bool (*)(RunState&, const Envelope&, const fb::Event&);
template <typename T, void (*kFold)(RunState&, const Envelope&, const T&)>
bool Typed(RunState& state, const Envelope& envelope, const fb::Event& body) {
  const T* event = body.body_as<T>();
  if (event == nullptr) return false;
  kFold(state, envelope, *event);
  return true;
}

// The rule of each event type, indexed by its number (fb::Body). APPEND
// ONLY, like the union; a new type gets a rule here and a row in the
// format doc, and the static_assert below fails until it does.
constexpr Rule kRules[] = {
    nullptr,                                                          // 0: NONE
    Typed<fb::TurnStarted, OnTurnStarted>,                            // 1
    Typed<fb::TurnPlanned, OnTurnPlanned>,                            // 2
    Typed<fb::TurnCompleted, OnTurnCompleted>,                        // 3
    Typed<fb::TurnFailed, OnTurnFailed>,                              // 4
    Typed<fb::PlanItemAdded, OnPlanItemAdded>,                        // 5
    Typed<fb::PlanRevised, OnPlanRevised>,                            // 6
    Typed<fb::ToolStarted, OnToolStarted>,                            // 7
    Typed<fb::ToolProgress, OnToolProgress>,                          // 8
    Typed<fb::ToolCompleted, OnToolCompleted>,                        // 9
    Typed<fb::ToolFailed, OnToolFailed>,                              // 10
    Typed<fb::RetryScheduled, OnRetryScheduled>,                      // 11
    Typed<fb::ApprovalRequested, OnApprovalRequested>,                // 12
    Typed<fb::ApprovalGranted, OnApprovalGranted>,                    // 13
    Typed<fb::ApprovalDenied, OnApprovalDenied>,                      // 14
    Typed<fb::CompensationRecorded, OnCompensationRecorded>,          // 15
    Typed<fb::DecisionRecorded, OnDecisionRecorded>,                  // 16
    Typed<fb::FactAdded, OnFactAdded>,                                // 17
    Typed<fb::QuestionOpened, OnQuestionOpened>,                      // 18
    Typed<fb::QuestionResolved, OnQuestionResolved>,                  // 19
    Typed<fb::ArtifactStored, OnArtifactStored>,                      // 20
    Typed<fb::MessageAppended, OnMessageAppended>,                    // 21
    Typed<fb::ConversationCompacted, OnConversationCompacted>,        // 22
    Typed<fb::BudgetSet, OnBudgetSet>,                                // 23
    Typed<fb::BudgetConsumed, OnBudgetConsumed>,                      // 24
    Typed<fb::RunPaused, OnRunPaused>,                                // 25
    Typed<fb::RunResumed, OnRunResumed>,                              // 26
    Typed<fb::DeadlineSet, OnDeadlineSet>,                            // 27
    Typed<fb::RunForked, OnRunForked>,                                // 28
    Typed<fb::LeaseAcquired, OnLeaseAcquired>,                        // 29
    Typed<fb::LeaseReleased, OnLeaseReleased>,                        // 30
    Typed<fb::CheckpointMarked, OnCheckpointMarked>,                  // 31
    Typed<fb::CustomEvent, OnCustomEvent>,                            // 32
};
static_assert(std::size(kRules) == static_cast<size_t>(fb::Body_MAX) + 1,
              "a new event type: add its rule to kRules and to projections/run_state_format.md");

// Folds a body of a known type; false (skipped) for an unknown type or a
// union that names a type but holds no table.
bool ApplyBody(RunState& state, const Envelope& envelope, const fb::Event& body) {
  const auto type = static_cast<size_t>(body.body_type());
  if (type == 0 || type >= std::size(kRules)) return false;
  return kRules[type](state, envelope, body);
}

void ApplyEvent(RunState& state, const EventView& view) {
  const Event& event = view.envelope();
  const Envelope envelope{event.sequence(), event.timestamp_us(), view.type(),
                          event.turn_id(),  event.step_id(),      event.causation()};
  state.last_sequence = envelope.sequence;
  state.last_timestamp_us = envelope.time_us;
  // The run status is the engine's table over every event type, payload or
  // not, so it always agrees with the runs index (ListRuns by status).
  const std::optional<RunStatus> next = StatusAfterEvent(view.type());
  if (next) state.status = *next;
  const fb::Event* body = view.body();
  if (view.type() > kMaxKnownEventType || body == nullptr ||
      !ApplyBody(state, envelope, *body)) {
    state.skipped_events = SaturatingAdd(state.skipped_events, 1);
    return;
  }
  if (next) {
    if (RunState::Turn* turn = TurnOf(state, envelope)) turn->status = *next;
  }
  AGENTLOG_ASSERT(state.current_step_id.empty() ||
                  MutableItem(state, state.current_step_id) != nullptr);
}

class RunStateHolder final : public ProjectionState {
 public:
  RunStateHolder() = default;
  explicit RunStateHolder(RunState state) : state_(std::move(state)) {}
  std::string Encode() const override { return EncodeRunState(state_); }
  std::vector<StateField> Fields() const override { return RunStateFields(state_); }
  std::unique_ptr<ProjectionState> Clone() const override {
    return std::make_unique<RunStateHolder>(state_);
  }
  RunState& state() { return state_; }
  const RunState& state() const { return state_; }

 private:
  RunState state_;
};

class RunStateProjection final : public Projection {
 public:
  std::string_view name() const override { return kRunStateProjectionName; }
  uint32_t version() const override { return kRunStateProjectionVersion; }
  std::unique_ptr<ProjectionState> Initial() const override {
    return std::make_unique<RunStateHolder>();
  }
  void Apply(ProjectionState& state, const EventView& event) const override {
    auto* holder = dynamic_cast<RunStateHolder*>(&state);
    AGENTLOG_ASSERT(holder != nullptr);  // REQUIRES: a state of this projection
    ApplyEvent(holder->state(), event);
  }
  Result<std::unique_ptr<ProjectionState>> Decode(std::string_view bytes) const override {
    Result<RunState> decoded = DecodeRunState(bytes);
    if (!decoded.ok()) return decoded.status();
    return std::unique_ptr<ProjectionState>(
        std::make_unique<RunStateHolder>(std::move(decoded).value()));
  }
  std::optional<uint64_t> StateSequence(const ProjectionState& state) const override {
    return AsRunState(state).last_sequence;
  }
};

// "1-5, 7, 9-10": sorted, distinct ordinals as ranges.
std::string Ranges(const std::vector<uint32_t>& ordinals) {
  std::string out;
  for (size_t i = 0; i < ordinals.size();) {
    size_t end = i;
    while (end + 1 < ordinals.size() && ordinals[end + 1] == ordinals[end] + 1) ++end;
    if (!out.empty()) out += ", ";
    out += std::to_string(ordinals[i]);
    if (end > i) out += "-" + std::to_string(ordinals[end]);
    i = end + 1;
  }
  return out;
}

}  // namespace

// ---- RunState queries ----------------------------------------------------------------

const RunState::Turn* RunState::FindTurn(std::string_view id) const {
  for (auto it = turns.rbegin(); it != turns.rend(); ++it) {
    if (it->id == id) return &*it;
  }
  return nullptr;
}

const RunState::Turn* RunState::CurrentTurn() const {
  return current_turn_id.empty() ? nullptr : FindTurn(current_turn_id);
}

const RunState::PlanItem* RunState::FindPlanItem(std::string_view id) const {
  for (const PlanItem& item : plan) {
    if (item.id == id) return &item;
  }
  return nullptr;
}

const RunState::PlanItem* RunState::CurrentStep() const {
  return current_step_id.empty() ? nullptr : FindPlanItem(current_step_id);
}

const RunState::Approval* RunState::FindApproval(std::string_view key) const {
  return FindSorted(approvals, key, ApprovalKey);
}
const RunState::Fact* RunState::FindFact(std::string_view key) const {
  return FindSorted(facts, key, FactKey);
}
const RunState::Question* RunState::FindQuestion(std::string_view id) const {
  return FindSorted(questions, id, QuestionKey);
}
const RunState::Artifact* RunState::FindArtifact(std::string_view id) const {
  return FindSorted(artifacts, id, ArtifactKey);
}

size_t RunState::StepsDone() const {
  return static_cast<size_t>(std::count_if(plan.begin(), plan.end(), [](const PlanItem& item) {
    return item.status == StepStatus::kCompleted;
  }));
}

std::string RunState::PositionSummary() const {
  if (turn_number == 0) return "no turn yet";
  std::string out = "turn " + std::to_string(turn_number);
  if (plan.empty()) return out + ", no plan yet";
  const PlanItem* step = CurrentStep();
  out += step != nullptr ? ", step " + std::to_string(step->ordinal) : ", no current step";
  out += " of " + std::to_string(plan.size());
  std::vector<uint32_t> done;
  for (const PlanItem& item : plan) {
    if (item.status == StepStatus::kCompleted) done.push_back(item.ordinal);
  }
  done.erase(std::unique(done.begin(), done.end()), done.end());  // plan is by ordinal
  if (done.empty()) return out + "; no steps done";
  const bool one = done.size() == 1;
  return out + (one ? "; step " : "; steps ") + Ranges(done) + " done";
}

// ---- names and the projection --------------------------------------------------------

std::string_view StepStatusName(RunState::StepStatus status) {
  switch (status) {
    case RunState::StepStatus::kPending: return "pending";
    case RunState::StepStatus::kAwaitingApproval: return "awaiting_approval";
    case RunState::StepStatus::kApproved: return "approved";
    case RunState::StepStatus::kRunning: return "running";
    case RunState::StepStatus::kCompleted: return "completed";
    case RunState::StepStatus::kFailed: return "failed";
    case RunState::StepStatus::kRetryScheduled: return "retry_scheduled";
    case RunState::StepStatus::kDenied: return "denied";
    case RunState::StepStatus::kCompensated: return "compensated";
  }
  return "unknown";
}

std::string_view ApprovalDecisionName(RunState::ApprovalDecision decision) {
  switch (decision) {
    case RunState::ApprovalDecision::kPending: return "pending";
    case RunState::ApprovalDecision::kGranted: return "granted";
    case RunState::ApprovalDecision::kDenied: return "denied";
  }
  return "unknown";
}

std::string ConfirmationModeName(fb::ConfirmationMode mode) {
  switch (mode) {
    case fb::ConfirmationMode_SafeReadonly: return "safe_readonly";
    case fb::ConfirmationMode_ConfirmOnce: return "confirm_once";
    case fb::ConfirmationMode_Mutating: return "mutating";
  }
  return "unknown(" + std::to_string(static_cast<unsigned>(mode)) + ")";
}

std::string ApprovalScopeName(fb::ApprovalScope scope) {
  switch (scope) {
    case fb::ApprovalScope_Once: return "once";
    case fb::ApprovalScope_ForRun: return "for_run";
  }
  return "unknown(" + std::to_string(static_cast<unsigned>(scope)) + ")";
}

std::shared_ptr<const Projection> NewRunStateProjection() {
  return std::make_shared<const RunStateProjection>();
}

const RunState& AsRunState(const ProjectionState& state) {
  const auto* holder = dynamic_cast<const RunStateHolder*>(&state);
  AGENTLOG_ASSERT(holder != nullptr);  // REQUIRES: a state of the run-state projection
  return holder->state();
}

}  // namespace agentlog
