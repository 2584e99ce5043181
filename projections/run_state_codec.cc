// projections/run_state_codec.cc: a RunState as bytes (schema/run_state.fbs)
// and as fields. The encoding, its determinism rules and every field path
// are in projections/run_state_format.md; change them together.
//
// Determinism: one fresh FlatBufferBuilder per encoding, size-prefixed,
// defaults not forced, an empty string, byte string or list written as an
// absent field, children built before their parent in one fixed order, and
// every list in the order RunState keeps it (keyed lists sorted by key).
// Decode checks those orders; Encode is the canonical form (equal states,
// equal bytes), and Decode(Encode(s)) encodes back to the same bytes. Decode
// also accepts other well-formed layouts of a state (e.g. absent tables).
#include <algorithm>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "agentlog/run_state.h"
#include "agentlog/run_state_generated.h"
#include "base/assert.h"

namespace agentlog {
namespace {

namespace fbs = agentlog::fb::state;
using flatbuffers::FlatBufferBuilder;
using flatbuffers::Offset;
using flatbuffers::Vector;

// Generated enums and ours share numbers; these bind the last of each.
static_assert(static_cast<int>(fbs::RunStatus_MAX) == static_cast<int>(RunStatus::kFailed));
static_assert(static_cast<int>(fbs::StepStatus_MAX) ==
              static_cast<int>(RunState::StepStatus::kCompensated));
static_assert(static_cast<int>(fbs::ApprovalDecision_MAX) ==
              static_cast<int>(RunState::ApprovalDecision::kDenied));

// The Verifier's table budget guards against offsets that make a DAG look
// like a huge tree; every real table takes at least 4 bytes.
constexpr flatbuffers::uoffset_t kMinVerifierTables = 1'000'000;
constexpr flatbuffers::uoffset_t kMaxVerifierDepth = 64;

// ---- encode -------------------------------------------------------------------------

class Encoder {
 public:
  explicit Encoder(FlatBufferBuilder& builder) : b_(builder) {}

  Offset<fbs::RunState> Root(const RunState& state);

 private:
  Offset<flatbuffers::String> Str(const std::string& text) {
    return text.empty() ? 0 : b_.CreateString(text);
  }
  Offset<Vector<uint8_t>> Bytes(const std::string& bytes) {
    if (bytes.empty()) return 0;
    return b_.CreateVector(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  }
  Offset<Vector<Offset<flatbuffers::String>>> StrList(const std::vector<std::string>& list) {
    if (list.empty()) return 0;
    std::vector<Offset<flatbuffers::String>> offsets;
    offsets.reserve(list.size());
    for (const std::string& text : list) offsets.push_back(b_.CreateString(text));
    return b_.CreateVector(offsets);
  }
  // Each item's table, in list order; an empty list is an absent field.
  template <typename T>
  auto List(const std::vector<T>& items) {
    using Item = decltype(Table(items.front()));
    if (items.empty()) return Offset<Vector<Item>>();
    std::vector<Item> offsets;
    offsets.reserve(items.size());
    for (const T& item : items) offsets.push_back(Table(item));
    return b_.CreateVector(offsets);
  }

  Offset<fbs::Turn> Table(const RunState::Turn& turn);
  Offset<fbs::PlanItem> Table(const RunState::PlanItem& item);
  Offset<fbs::Approval> Table(const RunState::Approval& approval);
  Offset<fbs::Decision> Table(const RunState::Decision& decision);
  Offset<fbs::Message> Table(const RunState::Message& message);
  Offset<fbs::Failure> Table(const RunState::Failure& failure);

  Offset<fbs::PlanRevision> Table(const RunState::PlanRevision& revision) {
    auto reason = Str(revision.reason);
    return fbs::CreatePlanRevision(b_, revision.count, reason, revision.sequence);
  }
  Offset<fbs::Compensation> Table(const RunState::Compensation& c) {
    auto step = Str(c.compensated_step_id);
    auto tool = Str(c.tool);
    auto arguments = Str(c.arguments_json);
    auto key = Str(c.idempotency_key);
    return fbs::CreateCompensation(b_, c.sequence, step, tool, arguments, key);
  }
  Offset<fbs::Fact> Table(const RunState::Fact& f) {
    auto key = Str(f.key);
    auto value = Str(f.value);
    auto source = Str(f.source);
    return fbs::CreateFact(b_, key, value, source, f.sequence);
  }
  Offset<fbs::Question> Table(const RunState::Question& q) {
    auto id = Str(q.id);
    auto text = Str(q.text);
    auto answer = Str(q.answer);
    return fbs::CreateQuestion(b_, id, text, q.open, answer, q.opened_sequence,
                               q.resolved_sequence);
  }
  Offset<fbs::Artifact> Table(const RunState::Artifact& a) {
    auto id = Str(a.id);
    auto media_type = Str(a.media_type);
    auto summary = Str(a.summary);
    auto hash = Bytes(a.content_hash);
    return fbs::CreateArtifact(b_, id, media_type, summary, a.size_bytes, hash, a.sequence);
  }
  Offset<fbs::Budget> Table(const RunState::Budget& b) {
    return fbs::CreateBudget(b_, b.max_steps, b.max_tokens, b.max_wall_time_ms, b.used_steps,
                             b.used_tokens, b.used_wall_time_ms);
  }
  Offset<fbs::StepDeadline> Table(const RunState::StepDeadline& d) {
    auto step = Str(d.step_id);
    return fbs::CreateStepDeadline(b_, step, d.deadline_at_us);
  }
  Offset<fbs::Pause> Table(const RunState::Pause& p) {
    auto trigger = Str(p.trigger);
    return fbs::CreatePause(b_, trigger, p.timeout_at_us, p.sequence);
  }
  Offset<fbs::Resume> Table(const RunState::Resume& r) {
    auto reason = Str(r.reason);
    return fbs::CreateResume(b_, reason, r.sequence);
  }
  Offset<fbs::Lease> Table(const RunState::Lease& l) {
    auto holder = Str(l.holder);
    return fbs::CreateLease(b_, holder, l.epoch, l.ttl_ms, l.held, l.sequence);
  }
  Offset<fbs::ForkOrigin> Table(const RunState::ForkOrigin& f) {
    auto parent = Str(f.parent_run_id);
    auto reason = Str(f.reason);
    return fbs::CreateForkOrigin(b_, parent, f.fork_sequence, reason, f.sequence);
  }
  Offset<fbs::Checkpoint> Table(const RunState::Checkpoint& c) {
    auto label = Str(c.label);
    return fbs::CreateCheckpoint(b_, label, c.sequence);
  }

  FlatBufferBuilder& b_;
};

Offset<fbs::Turn> Encoder::Table(const RunState::Turn& turn) {
  auto id = Str(turn.id);
  auto message_text = Str(turn.message_text);
  auto normalized_command = Str(turn.normalized_command);
  auto session_id = Str(turn.session_id);
  auto output_text = Str(turn.output_text);
  auto error = Str(turn.error);
  fbs::TurnBuilder out(b_);
  out.add_turn_id(id);
  out.add_number(turn.number);
  out.add_message_text(message_text);
  out.add_normalized_command(normalized_command);
  out.add_session_id(session_id);
  out.add_status(static_cast<fbs::RunStatus>(turn.status));
  out.add_planned_item_count(turn.planned_item_count);
  out.add_output_text(output_text);
  out.add_error(error);
  out.add_started_sequence(turn.started_sequence);
  out.add_ended_sequence(turn.ended_sequence);
  return out.Finish();
}

Offset<fbs::PlanItem> Encoder::Table(const RunState::PlanItem& item) {
  auto id = Str(item.id);
  auto tool = Str(item.tool);
  auto arguments_json = Str(item.arguments_json);
  auto description = Str(item.description);
  auto idempotency_key = Str(item.idempotency_key);
  auto call_arguments_json = Str(item.call_arguments_json);
  auto edited_arguments_json = Str(item.edited_arguments_json);
  auto last_error = Str(item.last_error);
  auto output = Str(item.output);
  auto artifact_id = Str(item.artifact_id);
  auto output_hash = Bytes(item.output_hash);
  auto progress_message = Str(item.progress.message);
  fbs::PlanItemBuilder out(b_);
  out.add_item_id(id);
  out.add_ordinal(item.ordinal);
  out.add_tool(tool);
  out.add_arguments_json(arguments_json);
  out.add_confirmation(static_cast<uint8_t>(item.confirmation));
  out.add_description(description);
  out.add_planned(item.planned);
  out.add_status(static_cast<fbs::StepStatus>(item.status));
  out.add_attempts(item.attempts);
  out.add_idempotency_key(idempotency_key);
  out.add_call_arguments_json(call_arguments_json);
  out.add_edited_arguments_json(edited_arguments_json);
  out.add_last_error(last_error);
  out.add_last_error_retryable(item.last_error_retryable);
  out.add_output(output);
  out.add_artifact_id(artifact_id);
  out.add_output_hash(output_hash);
  out.add_progress_done(item.progress.done);
  out.add_progress_total(item.progress.total);
  out.add_progress_message(progress_message);
  out.add_retry_attempt(item.retry.attempt);
  out.add_retry_backoff_ms(item.retry.backoff_ms);
  out.add_retry_not_before_us(item.retry.not_before_us);
  out.add_updated_sequence(item.updated_sequence);
  out.add_completed_sequence(item.completed_sequence);
  return out.Finish();
}

Offset<fbs::Approval> Encoder::Table(const RunState::Approval& approval) {
  auto key = Str(approval.key);
  auto step_id = Str(approval.step_id);
  auto request = Str(approval.request);
  auto decided_by = Str(approval.decided_by);
  auto edited_arguments_json = Str(approval.edited_arguments_json);
  auto denial_reason = Str(approval.denial_reason);
  fbs::ApprovalBuilder out(b_);
  out.add_approval_key(key);
  out.add_step_id(step_id);
  out.add_mode(static_cast<uint8_t>(approval.mode));
  out.add_request(request);
  out.add_requested_sequence(approval.requested_sequence);
  out.add_requested_at_us(approval.requested_at_us);
  out.add_expires_at_us(approval.expires_at_us);
  out.add_decision(static_cast<fbs::ApprovalDecision>(approval.decision));
  out.add_decided_by(decided_by);
  out.add_scope(static_cast<uint8_t>(approval.scope));
  out.add_edited_arguments_json(edited_arguments_json);
  out.add_denial_reason(denial_reason);
  out.add_decided_sequence(approval.decided_sequence);
  return out.Finish();
}

Offset<fbs::Decision> Encoder::Table(const RunState::Decision& decision) {
  auto choice = Str(decision.choice);
  auto alternatives = StrList(decision.alternatives);
  auto rationale = Str(decision.rationale);
  auto fact_keys = StrList(decision.fact_keys);
  fbs::DecisionBuilder out(b_);
  out.add_sequence(decision.sequence);
  out.add_choice(choice);
  out.add_alternatives(alternatives);
  out.add_rationale(rationale);
  out.add_fact_keys(fact_keys);
  return out.Finish();
}

Offset<fbs::Message> Encoder::Table(const RunState::Message& message) {
  auto role = Str(message.role);
  auto text = Str(message.text);
  fbs::MessageBuilder out(b_);
  out.add_sequence(message.sequence);
  out.add_role(role);
  out.add_text(text);
  out.add_summary(message.summary);
  out.add_first_sequence(message.first_sequence);
  out.add_last_sequence(message.last_sequence);
  return out.Finish();
}

Offset<fbs::Failure> Encoder::Table(const RunState::Failure& failure) {
  auto turn_id = Str(failure.turn_id);
  auto step_id = Str(failure.step_id);
  auto tool = Str(failure.tool);
  auto arguments_json = Str(failure.arguments_json);
  auto output = Str(failure.output);
  auto error = Str(failure.error);
  fbs::FailureBuilder out(b_);
  out.add_sequence(failure.sequence);
  out.add_time_us(failure.time_us);
  out.add_event_type(failure.event_type);
  out.add_turn_id(turn_id);
  out.add_step_id(step_id);
  out.add_tool(tool);
  out.add_arguments_json(arguments_json);
  out.add_output(output);
  out.add_error(error);
  out.add_retryable(failure.retryable);
  return out.Finish();
}

Offset<fbs::RunState> Encoder::Root(const RunState& s) {
  // Every child first, in field order: a table cannot be built while another is open.
  auto current_turn_id = Str(s.current_turn_id);
  auto current_step_id = Str(s.current_step_id);
  auto turns = List(s.turns);
  auto plan = List(s.plan);
  auto plan_revision = Table(s.plan_revision);
  auto approvals = List(s.approvals);
  auto compensations = List(s.compensations);
  auto decisions = List(s.decisions);
  auto facts = List(s.facts);
  auto questions = List(s.questions);
  auto artifacts = List(s.artifacts);
  auto messages = List(s.messages);
  auto budget = Table(s.budget);
  auto step_deadlines = List(s.step_deadlines);
  auto pause = Table(s.pause);
  auto resume = Table(s.resume);
  auto lease = Table(s.lease);
  auto fork = Table(s.fork);
  auto checkpoint = Table(s.checkpoint);
  auto failure = Table(s.failure);

  fbs::RunStateBuilder out(b_);
  out.add_status(static_cast<fbs::RunStatus>(s.status));
  out.add_last_sequence(s.last_sequence);
  out.add_last_timestamp_us(s.last_timestamp_us);
  out.add_skipped_events(s.skipped_events);
  out.add_turn_number(s.turn_number);
  out.add_current_turn_id(current_turn_id);
  out.add_current_step_id(current_step_id);
  out.add_turns(turns);
  out.add_plan(plan);
  out.add_plan_revision(plan_revision);
  out.add_approvals(approvals);
  out.add_compensations(compensations);
  out.add_decisions(decisions);
  out.add_facts(facts);
  out.add_questions(questions);
  out.add_artifacts(artifacts);
  out.add_messages(messages);
  out.add_budget(budget);
  out.add_run_deadline_at_us(s.run_deadline_at_us);
  out.add_step_deadlines(step_deadlines);
  out.add_pause(pause);
  out.add_resume(resume);
  out.add_lease(lease);
  out.add_fork(fork);
  out.add_checkpoint(checkpoint);
  out.add_failure(failure);
  return out.Finish();
}

// ---- decode -------------------------------------------------------------------------

std::string Text(const flatbuffers::String* text) {
  return text != nullptr ? std::string(text->c_str(), text->size()) : std::string();
}

std::string Bytes(const Vector<uint8_t>* bytes) {
  if (bytes == nullptr) return std::string();
  return std::string(reinterpret_cast<const char*>(bytes->data()), bytes->size());
}

std::vector<std::string> Strings(const Vector<Offset<flatbuffers::String>>* list) {
  std::vector<std::string> out;
  if (list == nullptr) return out;
  out.reserve(list->size());
  for (const flatbuffers::String* text : *list) out.push_back(Text(text));
  return out;
}

// Collects the first rule the bytes break; the fields read after it are
// thrown away with the state.
class Decoder {
 public:
  const Status& status() const { return status_; }

  void Fail(const std::string& what) {
    if (status_.ok()) {
      status_ = Status::Corruption("run_state (version " +
                                   std::to_string(kRunStateProjectionVersion) + ") encoding: " +
                                   what + "; rebuild the state from the run's events");
    }
  }
  template <typename Enum>
  Enum Checked(uint8_t value, Enum max, const std::string& what) {
    if (value > static_cast<uint8_t>(max)) {
      Fail(what + " is " + std::to_string(value) + ", past the last known value " +
           std::to_string(static_cast<unsigned>(max)));
      return Enum{};
    }
    return static_cast<Enum>(value);
  }
  // Keys of a keyed list must strictly increase (sorted, each once).
  template <typename T, typename KeyOf>
  void CheckIncreasing(const std::vector<T>& items, KeyOf key_of, const std::string& list) {
    for (size_t i = 1; i < items.size() && status_.ok(); ++i) {
      if (!(key_of(items[i - 1]) < key_of(items[i]))) {
        Fail(list + " entry " + std::to_string(i) + " is out of order or repeated");
      }
    }
  }

  RunState::Turn Turn(const fbs::Turn& in);
  RunState::PlanItem PlanItem(const fbs::PlanItem& in);
  RunState::Approval Approval(const fbs::Approval& in);
  RunState::Message Message(const fbs::Message& in);
  void Tail(const fbs::RunState& in, RunState& out);
  void CheckOrders(const RunState& state);

 private:
  Status status_;
};

RunState::Turn Decoder::Turn(const fbs::Turn& in) {
  RunState::Turn out;
  out.id = Text(in.turn_id());
  out.number = in.number();
  out.message_text = Text(in.message_text());
  out.normalized_command = Text(in.normalized_command());
  out.session_id = Text(in.session_id());
  out.status = Checked(static_cast<uint8_t>(in.status()), RunStatus::kFailed, "a turn's status");
  out.planned_item_count = in.planned_item_count();
  out.output_text = Text(in.output_text());
  out.error = Text(in.error());
  out.started_sequence = in.started_sequence();
  out.ended_sequence = in.ended_sequence();
  return out;
}

RunState::PlanItem Decoder::PlanItem(const fbs::PlanItem& in) {
  RunState::PlanItem out;
  out.id = Text(in.item_id());
  out.ordinal = in.ordinal();
  out.tool = Text(in.tool());
  out.arguments_json = Text(in.arguments_json());
  out.confirmation = static_cast<fb::ConfirmationMode>(in.confirmation());
  out.description = Text(in.description());
  out.planned = in.planned();
  out.status = Checked(static_cast<uint8_t>(in.status()), RunState::StepStatus::kCompensated,
                       "a plan item's status");
  out.attempts = in.attempts();
  out.idempotency_key = Text(in.idempotency_key());
  out.call_arguments_json = Text(in.call_arguments_json());
  out.edited_arguments_json = Text(in.edited_arguments_json());
  out.last_error = Text(in.last_error());
  out.last_error_retryable = in.last_error_retryable();
  out.output = Text(in.output());
  out.artifact_id = Text(in.artifact_id());
  out.output_hash = Bytes(in.output_hash());
  out.progress = {in.progress_done(), in.progress_total(), Text(in.progress_message())};
  out.retry = {in.retry_attempt(), in.retry_backoff_ms(), in.retry_not_before_us()};
  out.updated_sequence = in.updated_sequence();
  out.completed_sequence = in.completed_sequence();
  return out;
}

RunState::Approval Decoder::Approval(const fbs::Approval& in) {
  RunState::Approval out;
  out.key = Text(in.approval_key());
  out.step_id = Text(in.step_id());
  out.mode = static_cast<fb::ConfirmationMode>(in.mode());
  out.request = Text(in.request());
  out.requested_sequence = in.requested_sequence();
  out.requested_at_us = in.requested_at_us();
  out.expires_at_us = in.expires_at_us();
  out.decision = Checked(static_cast<uint8_t>(in.decision()), RunState::ApprovalDecision::kDenied,
                         "an approval's decision");
  out.decided_by = Text(in.decided_by());
  out.scope = static_cast<fb::ApprovalScope>(in.scope());
  out.edited_arguments_json = Text(in.edited_arguments_json());
  out.denial_reason = Text(in.denial_reason());
  out.decided_sequence = in.decided_sequence();
  return out;
}

RunState::Message Decoder::Message(const fbs::Message& in) {
  return RunState::Message{in.sequence(),       Text(in.role()),    Text(in.text()),
                           in.summary(),        in.first_sequence(), in.last_sequence()};
}

template <typename In, typename Out, typename Decode>
void DecodeList(const Vector<Offset<In>>* list, std::vector<Out>& out, Decode decode) {
  if (list == nullptr) return;
  out.reserve(list->size());
  for (const In* item : *list) {
    if (item != nullptr) out.push_back(decode(*item));
  }
}

// Everything after the lists: small fixed tables, absent ones left default.
void Decoder::Tail(const fbs::RunState& in, RunState& out) {
  if (const fbs::PlanRevision* revision = in.plan_revision()) {
    out.plan_revision = {revision->count(), Text(revision->reason()), revision->sequence()};
  }
  if (const fbs::Budget* budget = in.budget()) {
    out.budget = {budget->max_steps(),  budget->max_tokens(),  budget->max_wall_time_ms(),
                  budget->used_steps(), budget->used_tokens(), budget->used_wall_time_ms()};
  }
  out.run_deadline_at_us = in.run_deadline_at_us();
  DecodeList(in.step_deadlines(), out.step_deadlines, [](const fbs::StepDeadline& d) {
    return RunState::StepDeadline{Text(d.step_id()), d.deadline_at_us()};
  });
  if (const fbs::Pause* pause = in.pause()) {
    out.pause = {Text(pause->trigger()), pause->timeout_at_us(), pause->sequence()};
  }
  if (const fbs::Resume* resume = in.resume())
    out.resume = {Text(resume->reason()), resume->sequence()};
  if (const fbs::Lease* lease = in.lease()) {
    out.lease = {Text(lease->holder()), lease->epoch(), lease->ttl_ms(), lease->held(),
                 lease->sequence()};
  }
  if (const fbs::ForkOrigin* fork = in.fork()) {
    out.fork = {Text(fork->parent_run_id()), fork->fork_sequence(), Text(fork->reason()),
                fork->sequence()};
  }
  if (const fbs::Checkpoint* checkpoint = in.checkpoint()) {
    out.checkpoint = {Text(checkpoint->label()), checkpoint->sequence()};
  }
  if (const fbs::Failure* failure = in.failure()) {
    out.failure = {failure->sequence(), failure->time_us(),     failure->event_type(),
                   Text(failure->turn_id()), Text(failure->step_id()), Text(failure->tool()),
                   Text(failure->arguments_json()), Text(failure->output()), Text(failure->error()),
                   failure->retryable()};
  }
}

// The orders and invariants the fold keeps (run_state.h), so that a
// decoded state encodes to the same bytes and lists each path once.
void Decoder::CheckOrders(const RunState& s) {
  for (size_t i = 1; i < s.turns.size(); ++i) {
    if (s.turns[i - 1].number >= s.turns[i].number) Fail("turn numbers do not increase");
  }
  const bool turns_agree = s.turns.empty()
                               ? s.turn_number == 0 && s.current_turn_id.empty()
                               : s.turns.back().number == s.turn_number &&
                                     s.turns.back().id == s.current_turn_id;
  if (!turns_agree) Fail("the current turn is not the last turn started");
  std::vector<std::string_view> ids;
  for (const RunState::Turn& turn : s.turns) ids.push_back(turn.id);
  std::sort(ids.begin(), ids.end());
  if (std::adjacent_find(ids.begin(), ids.end()) != ids.end()) Fail("a turn id is repeated");
  CheckIncreasing(s.plan, [](const RunState::PlanItem& item) {
    return std::make_pair(item.ordinal, std::string_view(item.id));
  }, "plan");
  ids.clear();
  for (const RunState::PlanItem& item : s.plan) ids.push_back(item.id);
  std::sort(ids.begin(), ids.end());
  if (std::adjacent_find(ids.begin(), ids.end()) != ids.end()) Fail("a plan item id is repeated");
  if (!s.current_step_id.empty() && s.FindPlanItem(s.current_step_id) == nullptr) {
    Fail("the current step \"" + s.current_step_id + "\" is not in the plan");
  }
  CheckIncreasing(s.approvals, [](const auto& a) { return std::string_view(a.key); }, "approvals");
  CheckIncreasing(s.compensations, [](const auto& c) { return c.sequence; }, "compensations");
  CheckIncreasing(s.decisions, [](const auto& d) { return d.sequence; }, "decisions");
  CheckIncreasing(s.facts, [](const auto& f) { return std::string_view(f.key); }, "facts");
  CheckIncreasing(s.questions, [](const auto& q) { return std::string_view(q.id); }, "questions");
  CheckIncreasing(s.artifacts, [](const auto& a) { return std::string_view(a.id); }, "artifacts");
  CheckIncreasing(s.messages, [](const RunState::Message& m) {
    return std::make_pair(m.anchor(), m.sequence);
  }, "messages");
  std::vector<uint64_t> sequences;
  for (const RunState::Message& message : s.messages) sequences.push_back(message.sequence);
  std::sort(sequences.begin(), sequences.end());
  if (std::adjacent_find(sequences.begin(), sequences.end()) != sequences.end()) {
    Fail("a message sequence is repeated");
  }
  CheckIncreasing(s.step_deadlines, [](const auto& d) { return std::string_view(d.step_id); },
                  "step deadlines");
}

// ---- fields -------------------------------------------------------------------------

// An id as one path segment: '%', '.' and control bytes become %XX, so a
// path splits back into its segments unambiguously and never collides.
std::string Segment(std::string_view id) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(id.size());
  for (const char c : id) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '%' || c == '.' || byte < 0x20) {
      out += '%';
      out += kHex[byte >> 4];
      out += kHex[byte & 0xF];
    } else {
      out += c;
    }
  }
  return out;
}

std::string Hex(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (const char c : bytes) {
    const auto byte = static_cast<unsigned char>(c);
    out += kHex[byte >> 4];
    out += kHex[byte & 0xF];
  }
  return out;
}

class FieldList {
 public:
  explicit FieldList(std::vector<StateField>& out) : out_(out) {}
  void Prefix(std::string prefix) { prefix_ = std::move(prefix); }
  void Add(std::string_view name, std::string value) {
    out_.push_back({prefix_ + std::string(name), std::move(value)});
  }
  void Add(std::string_view name, const char* value) { Add(name, std::string(value)); }
  void Add(std::string_view name, std::string_view value) { Add(name, std::string(value)); }
  void Add(std::string_view name, uint64_t value) { Add(name, std::to_string(value)); }
  void Add(std::string_view name, uint32_t value) { Add(name, std::to_string(value)); }
  void Add(std::string_view name, int64_t value) { Add(name, std::to_string(value)); }
  void Add(std::string_view name, bool value) { Add(name, std::string(value ? "true" : "false")); }

 private:
  std::vector<StateField>& out_;
  std::string prefix_;
};

void PlanFields(FieldList& f, const RunState::PlanItem& item) {
  f.Prefix("plan." + Segment(item.id) + ".");
  f.Add("ordinal", item.ordinal);
  f.Add("tool", item.tool);
  f.Add("arguments_json", item.arguments_json);
  f.Add("confirmation", ConfirmationModeName(item.confirmation));
  f.Add("description", item.description);
  f.Add("planned", item.planned);
  f.Add("status", StepStatusName(item.status));
  f.Add("attempts", item.attempts);
  f.Add("idempotency_key", item.idempotency_key);
  f.Add("call_arguments_json", item.call_arguments_json);
  f.Add("edited_arguments_json", item.edited_arguments_json);
  f.Add("last_error", item.last_error);
  f.Add("last_error_retryable", item.last_error_retryable);
  f.Add("output", item.output);
  f.Add("artifact_id", item.artifact_id);
  f.Add("output_hash", Hex(item.output_hash));
  f.Add("progress.done", item.progress.done);
  f.Add("progress.total", item.progress.total);
  f.Add("progress.message", item.progress.message);
  f.Add("retry.attempt", item.retry.attempt);
  f.Add("retry.backoff_ms", item.retry.backoff_ms);
  f.Add("retry.not_before_us", item.retry.not_before_us);
  f.Add("updated_sequence", item.updated_sequence);
  f.Add("completed_sequence", item.completed_sequence);
}

void TurnFields(FieldList& f, const RunState::Turn& turn) {
  f.Prefix("turns." + Segment(turn.id) + ".");
  f.Add("number", turn.number);
  f.Add("message_text", turn.message_text);
  f.Add("normalized_command", turn.normalized_command);
  f.Add("session_id", turn.session_id);
  f.Add("status", RunStatusName(turn.status));
  f.Add("planned_item_count", turn.planned_item_count);
  f.Add("output_text", turn.output_text);
  f.Add("error", turn.error);
  f.Add("started_sequence", turn.started_sequence);
  f.Add("ended_sequence", turn.ended_sequence);
}

void ApprovalFields(FieldList& f, const RunState::Approval& a) {
  f.Prefix("approvals." + Segment(a.key) + ".");
  f.Add("step_id", a.step_id);
  f.Add("mode", ConfirmationModeName(a.mode));
  f.Add("request", a.request);
  f.Add("requested_sequence", a.requested_sequence);
  f.Add("requested_at_us", a.requested_at_us);
  f.Add("expires_at_us", a.expires_at_us);
  f.Add("decision", ApprovalDecisionName(a.decision));
  f.Add("decided_by", a.decided_by);
  f.Add("scope", ApprovalScopeName(a.scope));
  f.Add("edited_arguments_json", a.edited_arguments_json);
  f.Add("denial_reason", a.denial_reason);
  f.Add("decided_sequence", a.decided_sequence);
}

void WorkFields(FieldList& f, const RunState& s) {
  for (const RunState::Compensation& c : s.compensations) {
    f.Prefix("compensations." + std::to_string(c.sequence) + ".");
    f.Add("compensated_step_id", c.compensated_step_id);
    f.Add("tool", c.tool);
    f.Add("arguments_json", c.arguments_json);
    f.Add("idempotency_key", c.idempotency_key);
  }
  for (const RunState::Decision& d : s.decisions) {
    f.Prefix("decisions." + std::to_string(d.sequence) + ".");
    f.Add("choice", d.choice);
    f.Add("rationale", d.rationale);
    // A decision never changes once recorded, so list positions are stable ids.
    for (size_t i = 0; i < d.alternatives.size(); ++i) {
      f.Add("alternatives." + std::to_string(i), d.alternatives[i]);
    }
    for (size_t i = 0; i < d.fact_keys.size(); ++i) {
      f.Add("fact_keys." + std::to_string(i), d.fact_keys[i]);
    }
  }
}

void KnowledgeFields(FieldList& f, const RunState& s) {
  for (const RunState::Fact& fact : s.facts) {
    f.Prefix("facts." + Segment(fact.key) + ".");
    f.Add("value", fact.value);
    f.Add("source", fact.source);
    f.Add("sequence", fact.sequence);
  }
  for (const RunState::Question& q : s.questions) {
    f.Prefix("questions." + Segment(q.id) + ".");
    f.Add("text", q.text);
    f.Add("open", q.open);
    f.Add("answer", q.answer);
    f.Add("opened_sequence", q.opened_sequence);
    f.Add("resolved_sequence", q.resolved_sequence);
  }
  for (const RunState::Artifact& a : s.artifacts) {
    f.Prefix("artifacts." + Segment(a.id) + ".");
    f.Add("media_type", a.media_type);
    f.Add("summary", a.summary);
    f.Add("size_bytes", a.size_bytes);
    f.Add("content_hash", Hex(a.content_hash));
    f.Add("sequence", a.sequence);
  }
  for (const RunState::Message& m : s.messages) {
    f.Prefix("messages." + std::to_string(m.sequence) + ".");
    f.Add("role", m.role);
    f.Add("text", m.text);
    f.Add("summary", m.summary);
    f.Add("first_sequence", m.first_sequence);
    f.Add("last_sequence", m.last_sequence);
  }
}

void ControlFields(FieldList& f, const RunState& s) {
  f.Prefix("budget.");
  f.Add("max_steps", s.budget.max_steps);
  f.Add("max_tokens", s.budget.max_tokens);
  f.Add("max_wall_time_ms", s.budget.max_wall_time_ms);
  f.Add("used_steps", s.budget.used_steps);
  f.Add("used_tokens", s.budget.used_tokens);
  f.Add("used_wall_time_ms", s.budget.used_wall_time_ms);
  f.Prefix("deadlines.");
  f.Add("run_at_us", s.run_deadline_at_us);
  for (const RunState::StepDeadline& d : s.step_deadlines) {
    f.Add("steps." + Segment(d.step_id), d.deadline_at_us);
  }
  f.Prefix("pause.");
  f.Add("trigger", s.pause.trigger);
  f.Add("timeout_at_us", s.pause.timeout_at_us);
  f.Add("sequence", s.pause.sequence);
  f.Prefix("resume.");
  f.Add("reason", s.resume.reason);
  f.Add("sequence", s.resume.sequence);
  f.Prefix("lease.");
  f.Add("holder", s.lease.holder);
  f.Add("epoch", s.lease.epoch);
  f.Add("ttl_ms", s.lease.ttl_ms);
  f.Add("held", s.lease.held);
  f.Add("sequence", s.lease.sequence);
  f.Prefix("fork.");
  f.Add("parent_run_id", s.fork.parent_run_id);
  f.Add("fork_sequence", s.fork.fork_sequence);
  f.Add("reason", s.fork.reason);
  f.Add("sequence", s.fork.sequence);
  f.Prefix("checkpoint.");
  f.Add("label", s.checkpoint.label);
  f.Add("sequence", s.checkpoint.sequence);
  f.Prefix("failure.");
  f.Add("sequence", s.failure.sequence);
  f.Add("time_us", s.failure.time_us);
  f.Add("event_type",
        s.failure.event_type == 0 ? std::string() : EventTypeName(s.failure.event_type));
  f.Add("turn_id", s.failure.turn_id);
  f.Add("step_id", s.failure.step_id);
  f.Add("tool", s.failure.tool);
  f.Add("arguments_json", s.failure.arguments_json);
  f.Add("output", s.failure.output);
  f.Add("error", s.failure.error);
  f.Add("retryable", s.failure.retryable);
}

}  // namespace

std::string EncodeRunState(const RunState& state) {
  FlatBufferBuilder builder(1024);
  builder.ForceDefaults(false);  // a field equal to its default is absent; decode reads it back
  Encoder encoder(builder);
  // Size-prefixed: the verifier then checks the length exactly, so a
  // truncated or extended encoding never passes.
  fbs::FinishSizePrefixedRunStateBuffer(builder, encoder.Root(state));
  return std::string(reinterpret_cast<const char*>(builder.GetBufferPointer()), builder.GetSize());
}

Result<RunState> DecodeRunState(std::string_view bytes) {
  Decoder decoder;
  if (bytes.size() < 8 || bytes.size() >= FLATBUFFERS_MAX_BUFFER_SIZE) {
    decoder.Fail(std::to_string(bytes.size()) + " bytes is no FlatBuffer");
    return decoder.status();
  }
  // FlatBuffers reads in place and needs 8-byte alignment; copy if it is not.
  std::vector<uint64_t> aligned;
  const auto* data = reinterpret_cast<const uint8_t*>(bytes.data());
  if (reinterpret_cast<uintptr_t>(data) % alignof(uint64_t) != 0) {
    aligned.resize((bytes.size() + 7) / 8);
    std::memcpy(aligned.data(), bytes.data(), bytes.size());
    data = reinterpret_cast<const uint8_t*>(aligned.data());
  }
  const auto max_tables =
      std::max(kMinVerifierTables, static_cast<flatbuffers::uoffset_t>(bytes.size() / 4));
  flatbuffers::Verifier verifier(data, bytes.size(), kMaxVerifierDepth, max_tables);
  if (!fbs::VerifySizePrefixedRunStateBuffer(verifier)) {
    decoder.Fail(std::to_string(bytes.size()) +
                 " bytes fail the FlatBuffers verifier (damaged, cut short, or not a "
                 "size-prefixed run_state encoding with identifier \"" +
                 std::string(fbs::RunStateIdentifier()) + "\")");
    return decoder.status();
  }
  const fbs::RunState& in = *fbs::GetSizePrefixedRunState(data);
  RunState out;
  out.status =
      decoder.Checked(static_cast<uint8_t>(in.status()), RunStatus::kFailed, "the run status");
  out.last_sequence = in.last_sequence();
  out.last_timestamp_us = in.last_timestamp_us();
  out.skipped_events = in.skipped_events();
  out.turn_number = in.turn_number();
  out.current_turn_id = Text(in.current_turn_id());
  out.current_step_id = Text(in.current_step_id());
  DecodeList(in.turns(), out.turns, [&](const fbs::Turn& t) { return decoder.Turn(t); });
  DecodeList(in.plan(), out.plan, [&](const fbs::PlanItem& p) { return decoder.PlanItem(p); });
  DecodeList(in.approvals(), out.approvals,
             [&](const fbs::Approval& a) { return decoder.Approval(a); });
  DecodeList(in.compensations(), out.compensations, [](const fbs::Compensation& c) {
    return RunState::Compensation{c.sequence(), Text(c.compensated_step_id()), Text(c.tool()),
                                  Text(c.arguments_json()), Text(c.idempotency_key())};
  });
  DecodeList(in.decisions(), out.decisions, [](const fbs::Decision& d) {
    return RunState::Decision{d.sequence(), Text(d.choice()), Strings(d.alternatives()),
                              Text(d.rationale()), Strings(d.fact_keys())};
  });
  DecodeList(in.facts(), out.facts, [](const fbs::Fact& f) {
    return RunState::Fact{Text(f.fact_key()), Text(f.value()), Text(f.source()), f.sequence()};
  });
  DecodeList(in.questions(), out.questions, [](const fbs::Question& q) {
    return RunState::Question{Text(q.question_id()), Text(q.text()),        q.open(),
                              Text(q.answer()),      q.opened_sequence(), q.resolved_sequence()};
  });
  DecodeList(in.artifacts(), out.artifacts, [](const fbs::Artifact& a) {
    return RunState::Artifact{Text(a.artifact_id()), Text(a.media_type()), Text(a.summary()),
                              a.size_bytes(),        Bytes(a.content_hash()), a.sequence()};
  });
  DecodeList(in.messages(), out.messages,
             [&](const fbs::Message& m) { return decoder.Message(m); });
  decoder.Tail(in, out);
  decoder.CheckOrders(out);
  if (!decoder.status().ok()) return decoder.status();
  return out;
}

std::vector<StateField> RunStateFields(const RunState& s) {
  std::vector<StateField> out;
  FieldList f(out);
  f.Prefix("run.");
  f.Add("status", RunStatusName(s.status));
  f.Add("last_sequence", s.last_sequence);
  f.Add("last_timestamp_us", s.last_timestamp_us);
  f.Add("skipped_events", s.skipped_events);
  f.Prefix("position.");
  f.Add("turn_id", s.current_turn_id);
  f.Add("turn_number", s.turn_number);
  f.Add("step_id", s.current_step_id);
  f.Add("steps_total", static_cast<uint64_t>(s.StepsTotal()));
  f.Add("steps_done", static_cast<uint64_t>(s.StepsDone()));
  f.Add("summary", s.PositionSummary());
  for (const RunState::Turn& turn : s.turns) TurnFields(f, turn);
  for (const RunState::PlanItem& item : s.plan) PlanFields(f, item);
  f.Prefix("plan_revision.");
  f.Add("count", s.plan_revision.count);
  f.Add("reason", s.plan_revision.reason);
  f.Add("sequence", s.plan_revision.sequence);
  for (const RunState::Approval& approval : s.approvals) ApprovalFields(f, approval);
  WorkFields(f, s);
  KnowledgeFields(f, s);
  ControlFields(f, s);
  std::sort(out.begin(), out.end(),
            [](const StateField& a, const StateField& b) { return a.path < b.path; });
  // Unique keys per list and escaped segments make every path distinct.
  for (size_t i = 1; i < out.size(); ++i) AGENTLOG_ASSERT(out[i - 1].path != out[i].path);
  return out;
}

}  // namespace agentlog
