// agentlog/run_state.h: agentlog's own projection -- where a run stands.
//
// The run-state projection folds a run's events into one typed RunState:
// status and position, the turns, the current plan with each step's
// attempts, outputs, retries and approvals, compensations, decisions,
// knowledge, the conversation, budget, deadlines, pause, lease, fork origin,
// checkpoint and the context of the last failure. It is a Projection like
// any embedder's (agentlog/projection.h): register it with a Projector and
// read a state back with AsRunState:
//
//   Status registered = projector->Register(NewRunStateProjection());
//   auto state = projector->CurrentState("deploy-42", kRunStateProjectionName);
//   if (state.ok()) std::cout << AsRunState(**state).PositionSummary();
//
// Which event changes which field, and the byte encoding of the state, are
// written down in projections/run_state_format.md: a person can predict the
// state from the events with that document alone.
//
// Errors: only DecodeRunState (and the projection's Decode, which calls
// it) returns one; nothing here does I/O.
//
// Thread safety: a RunState is a value; concurrent reads are safe, writes
// need the caller's synchronization. The projection object is stateless
// and may be shared by any number of threads; every function here may be
// called from any thread.
#ifndef AGENTLOG_RUN_STATE_H_
#define AGENTLOG_RUN_STATE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "agentlog/export.h"
#include "agentlog/event.h"
#include "agentlog/projection.h"
#include "agentlog/status.h"
#include "agentlog/store.h"

namespace agentlog {

// The projection's name in a Projector and in snapshot keys. Never changes.
inline constexpr std::string_view kRunStateProjectionName = "run_state";
// Bumped whenever the fold or the encoding changes (schema/run_state.fbs):
// snapshots of another version are ignored and rebuilt from the events.
inline constexpr uint32_t kRunStateProjectionVersion = 2;

// Where a run stands after a prefix of its events. Sequences and times come
// from the envelopes (microseconds since the Unix epoch); a sequence of 0
// means "no such event yet". Ids stand as the events gave them; an event
// that should have named an id but gave an empty one is keyed "#<sequence>"
// instead (see the format doc).
struct AGENTLOG_EXPORT RunState {
  // Stored as a byte in the encoding: never renumber; append new values.
  enum class StepStatus : uint8_t {
    kPending = 0,           // PlanItemAdded, PlanRevised (a new item)
    kAwaitingApproval = 1,  // ApprovalRequested
    kApproved = 2,          // ApprovalGranted
    kRunning = 3,           // ToolStarted
    kCompleted = 4,         // ToolCompleted
    kFailed = 5,            // ToolFailed
    kRetryScheduled = 6,    // RetryScheduled
    kDenied = 7,            // ApprovalDenied
    kCompensated = 8,       // CompensationRecorded naming the step
  };
  enum class ApprovalDecision : uint8_t { kPending = 0, kGranted = 1, kDenied = 2 };

  struct Turn {
    std::string id;                  // envelope turn_id of its TurnStarted
    uint64_t number = 0;             // 1-based: which TurnStarted of the run started it
    std::string message_text;
    std::string normalized_command;
    std::string session_id;
    RunStatus status = RunStatus::kCreated;  // the status table, applied to this turn's events
    uint32_t planned_item_count = 0;         // TurnPlanned.item_count
    std::string output_text;                 // TurnCompleted
    std::string error;                       // TurnFailed
    uint64_t started_sequence = 0;
    uint64_t ended_sequence = 0;             // TurnCompleted or TurnFailed
    bool operator==(const Turn&) const = default;
  };

  struct Progress {
    uint64_t done = 0;
    uint64_t total = 0;
    std::string message;
    bool operator==(const Progress&) const = default;
  };

  struct Retry {                     // the last RetryScheduled of the step
    uint32_t attempt = 0;            // the attempt that will run next
    uint64_t backoff_ms = 0;
    int64_t not_before_us = 0;
    bool operator==(const Retry&) const = default;
  };

  struct PlanItem {
    std::string id;                  // item id == envelope step_id of its tool events
    uint32_t ordinal = 0;            // 1-based position in the plan
    std::string tool;
    std::string arguments_json;      // as the agent proposed them
    fb::ConfirmationMode confirmation = fb::ConfirmationMode_SafeReadonly;
    std::string description;
    // False for a step that tool events named but no plan event listed.
    bool planned = true;
    StepStatus status = StepStatus::kPending;
    uint32_t attempts = 0;           // ToolStarted count, or its attempt number if larger
    std::string idempotency_key;     // of the latest ToolStarted
    std::string call_arguments_json; // of the latest ToolStarted: what actually ran
    std::string edited_arguments_json;  // of the latest ApprovalGranted for the step
    std::string last_error;          // of the latest ToolFailed (kept after a success)
    bool last_error_retryable = false;
    std::string output;              // ToolCompleted output, verbatim
    std::string artifact_id;         // ToolCompleted artifact id, when stored as one
    std::string output_hash;         // ToolCompleted output hash (raw bytes)
    Progress progress;               // of the latest ToolProgress (reset by ToolStarted)
    Retry retry;
    uint64_t updated_sequence = 0;   // the last event that changed this item
    // The ToolCompleted that completed the latest attempt (0: none since
    // its ToolStarted): the runtime checks an exactly-once answer against it.
    uint64_t completed_sequence = 0;
    bool operator==(const PlanItem&) const = default;
  };

  struct PlanRevision {              // revisions of the current turn's plan
    uint32_t count = 0;
    std::string reason;              // of the latest PlanRevised
    uint64_t sequence = 0;
    bool operator==(const PlanRevision&) const = default;
  };

  struct Approval {
    std::string key;                 // the request's step id, or "#<sequence>"
    std::string step_id;             // empty when the request named no step
    fb::ConfirmationMode mode = fb::ConfirmationMode_SafeReadonly;
    std::string request;
    uint64_t requested_sequence = 0; // 0: a decision arrived with no request
    int64_t requested_at_us = 0;
    int64_t expires_at_us = 0;       // data only: the fold never reads a clock
    ApprovalDecision decision = ApprovalDecision::kPending;
    std::string decided_by;          // granted_by or denied_by
    fb::ApprovalScope scope = fb::ApprovalScope_Once;
    std::string edited_arguments_json;
    std::string denial_reason;
    uint64_t decided_sequence = 0;
    bool operator==(const Approval&) const = default;
  };

  struct Compensation {
    uint64_t sequence = 0;           // of its CompensationRecorded (the key)
    std::string compensated_step_id;
    std::string tool;
    std::string arguments_json;
    std::string idempotency_key;
    bool operator==(const Compensation&) const = default;
  };

  struct Decision {
    uint64_t sequence = 0;           // of its DecisionRecorded (the key)
    std::string choice;
    std::vector<std::string> alternatives;
    std::string rationale;
    std::vector<std::string> fact_keys;
    bool operator==(const Decision&) const = default;
  };

  struct Fact {
    std::string key;
    std::string value;               // of the latest FactAdded with this key
    std::string source;
    uint64_t sequence = 0;
    bool operator==(const Fact&) const = default;
  };

  struct Question {
    std::string id;
    std::string text;
    bool open = true;
    std::string answer;
    uint64_t opened_sequence = 0;
    uint64_t resolved_sequence = 0;
    bool operator==(const Question&) const = default;
  };

  struct Artifact {
    std::string id;
    std::string media_type;
    std::string summary;
    uint64_t size_bytes = 0;
    std::string content_hash;        // raw bytes
    uint64_t sequence = 0;
    bool operator==(const Artifact&) const = default;
  };

  // A message, or the summary of a compacted range of them.
  struct Message {
    uint64_t sequence = 0;           // of its MessageAppended or ConversationCompacted (the key)
    std::string role;                // empty for a summary
    std::string text;                // the message, or the summary
    bool summary = false;
    uint64_t first_sequence = 0;     // a summary's range; 0 for a message
    uint64_t last_sequence = 0;
    // Where it sits in the conversation: a summary takes its range's place.
    uint64_t anchor() const { return summary ? first_sequence : sequence; }
    bool operator==(const Message&) const = default;
  };

  struct Budget {
    uint64_t max_steps = 0;          // BudgetSet; 0: no limit
    uint64_t max_tokens = 0;
    uint64_t max_wall_time_ms = 0;
    uint64_t used_steps = 0;         // BudgetConsumed, summed (saturating)
    uint64_t used_tokens = 0;
    uint64_t used_wall_time_ms = 0;
    bool operator==(const Budget&) const = default;
  };

  struct StepDeadline {
    std::string step_id;
    int64_t deadline_at_us = 0;
    bool operator==(const StepDeadline&) const = default;
  };

  struct Pause {                     // the latest RunPaused
    std::string trigger;
    int64_t timeout_at_us = 0;
    uint64_t sequence = 0;
    bool operator==(const Pause&) const = default;
  };

  struct Resume {                    // the latest RunResumed
    std::string reason;
    uint64_t sequence = 0;
    bool operator==(const Resume&) const = default;
  };

  struct Lease {                     // the latest LeaseAcquired or LeaseReleased
    std::string holder;
    uint64_t epoch = 0;
    uint64_t ttl_ms = 0;             // of the latest LeaseAcquired
    bool held = false;
    uint64_t sequence = 0;
    bool operator==(const Lease&) const = default;
  };

  struct ForkOrigin {                // the RunForked that started this run
    std::string parent_run_id;
    uint64_t fork_sequence = 0;
    std::string reason;
    uint64_t sequence = 0;
    bool operator==(const ForkOrigin&) const = default;
  };

  struct Checkpoint {                // the latest CheckpointMarked
    std::string label;
    uint64_t sequence = 0;
    bool operator==(const Checkpoint&) const = default;
  };

  struct Failure {                   // the latest ToolFailed or TurnFailed
    uint64_t sequence = 0;
    int64_t time_us = 0;
    EventType event_type = 0;
    std::string turn_id;
    std::string step_id;
    std::string tool;                // the step's tool
    std::string arguments_json;      // the step's latest call arguments
    std::string output;              // the step's last progress message
    std::string error;
    bool retryable = false;
    bool operator==(const Failure&) const = default;
  };

  // ---- run and position ----
  RunStatus status = RunStatus::kCreated;  // StatusAfterEvent over every event
  uint64_t last_sequence = 0;        // the last event applied, skipped ones included
  int64_t last_timestamp_us = 0;
  // Unknown types and removed payloads: they move only last_sequence,
  // last_timestamp_us, this count and (by their type) the status.
  uint64_t skipped_events = 0;
  uint64_t turn_number = 0;          // TurnStarted count; the current turn's number
  std::string current_turn_id;
  // The step of the latest ToolStarted (or ApprovalRequested for a planned
  // step) of the current plan; empty when none. INVARIANT: empty or in `plan`.
  std::string current_step_id;

  // ---- the work ----
  std::vector<Turn> turns;           // in start order, ids unique
  std::vector<PlanItem> plan;        // the current turn's plan, by (ordinal, id)
  PlanRevision plan_revision;
  std::vector<Approval> approvals;   // by key
  std::vector<Compensation> compensations;  // by sequence
  std::vector<Decision> decisions;   // by sequence

  // ---- knowledge and conversation ----
  std::vector<Fact> facts;           // by key
  std::vector<Question> questions;   // by id
  std::vector<Artifact> artifacts;   // by id
  std::vector<Message> messages;     // by (anchor(), sequence)

  // ---- limits and control ----
  Budget budget;
  int64_t run_deadline_at_us = 0;    // 0: none
  std::vector<StepDeadline> step_deadlines;  // by step id
  Pause pause;
  Resume resume;
  Lease lease;
  ForkOrigin fork;
  Checkpoint checkpoint;
  Failure failure;

  bool operator==(const RunState&) const = default;

  // ---- lookups: nullptr when absent; the pointer is valid while the
  // state is unchanged ----

  // The turn with this id.
  const Turn* FindTurn(std::string_view id) const;
  // The turn current_turn_id names (it may have ended).
  const Turn* CurrentTurn() const;
  // The current plan's item with this id, including one that tool events
  // named but no plan event listed (planned == false).
  const PlanItem* FindPlanItem(std::string_view id) const;
  // The plan item current_step_id names.
  const PlanItem* CurrentStep() const;
  // The approval with this key (a step id, or "#<sequence>").
  const Approval* FindApproval(std::string_view key) const;
  // The fact with this key.
  const Fact* FindFact(std::string_view key) const;
  // The question with this id, open or resolved.
  const Question* FindQuestion(std::string_view id) const;
  // The artifact with this id.
  const Artifact* FindArtifact(std::string_view id) const;

  // Items of the plan, whatever their status.
  size_t StepsTotal() const { return plan.size(); }
  // Items of the plan whose status is kCompleted.
  size_t StepsDone() const;
  // "turn 2, step 6 of 9; steps 1-5 done" (steps by ordinal). The other
  // forms are in the format doc: "no turn yet", "turn 1, no plan yet",
  // "turn 1, no current step of 3; no steps done".
  std::string PositionSummary() const;
};

// The status's name, e.g. "retry_scheduled"; "unknown" for a value not listed.
AGENTLOG_EXPORT std::string_view StepStatusName(RunState::StepStatus status);
// The decision's name, e.g. "granted"; "unknown" for a value not listed.
AGENTLOG_EXPORT std::string_view ApprovalDecisionName(RunState::ApprovalDecision decision);
// The mode's name, e.g. "confirm_once"; "unknown(7)" for a value the schema lacks.
AGENTLOG_EXPORT std::string ConfirmationModeName(fb::ConfirmationMode mode);
// The scope's name, e.g. "for_run"; "unknown(7)" for a value the schema lacks.
AGENTLOG_EXPORT std::string ApprovalScopeName(fb::ApprovalScope scope);

// The projection ("run_state", kRunStateProjectionVersion). Stateless. Its
// Decode is DecodeRunState (Errors: Corruption), and its StateSequence is
// the state's last_sequence, so a Projector never starts a fold from a
// snapshot stored under another event.
AGENTLOG_EXPORT std::shared_ptr<const Projection> NewRunStateProjection();

// The RunState inside a state of that projection.
// REQUIRES: `state` came from NewRunStateProjection() (Initial, Decode or a
// Clone of one); anything else stops the process (a programmer error,
// caught by an AGENTLOG_ASSERT in a build with asserts, the default).
AGENTLOG_EXPORT const RunState& AsRunState(const ProjectionState& state);

// Every field as (path, value), sorted by path, each path once: what Diff
// compares and `agentlog state --json` prints. Paths are listed in the
// format doc ("plan.fetch.status", "facts.region.value"); ids inside a path
// escape '%' and '.' (and bytes below 0x20) as %XX, so paths never collide.
AGENTLOG_EXPORT std::vector<StateField> RunStateFields(const RunState& state);

// The deterministic encoding (schema/run_state.fbs): equal states give
// equal bytes, and DecodeRunState(EncodeRunState(s)) == s.
AGENTLOG_EXPORT std::string EncodeRunState(const RunState& state);
// A state from EncodeRunState's bytes (any alignment). Errors: Corruption,
// naming what is wrong, for bytes that fail the FlatBuffers verifier or
// break an ordering or range rule of the format. Never crashes on garbage.
AGENTLOG_EXPORT Result<RunState> DecodeRunState(std::string_view bytes);

}  // namespace agentlog

#endif  // AGENTLOG_RUN_STATE_H_
