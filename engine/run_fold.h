// engine/run_fold.h: everything the engine knows of what events mean, in one
// place. The engine stores payloads it does not interpret, with a few
// exceptions that its indexes and its fencing need: the run status of the
// runs index, the lease epoch and holder appends are fenced by, and the
// deadline index (engine/record_format.md, "What the engine reads of
// events", lists them and why). They are computed here, by one pure fold of
// a run's events, which append (the runs index entry it writes), fork (the
// fork's starting metadata, from the prefix) and verify (what the runs index
// must say) all call -- so the three cannot come to disagree.
#ifndef AGENTLOG_ENGINE_RUN_FOLD_H_
#define AGENTLOG_ENGINE_RUN_FOLD_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "agentlog/event.h"
#include "agentlog/status.h"
#include "agentlog/store.h"

namespace agentlog::internal {

// What the engine reads of one event: its type and, from the bodies it
// interprets (LeaseAcquired, LeaseReleased, DeadlineSet), their fields.
struct EventFacts {
  EventType type = 0;
  bool payload_present = true;  // false: the payload was removed; only the type is known
  uint64_t lease_epoch = 0;     // LeaseAcquired, LeaseReleased
  std::string lease_holder;     // LeaseAcquired, LeaseReleased
  int64_t deadline_at_us = 0;   // DeadlineSet (0: lifted)
  std::string deadline_step_id; // DeadlineSet's scope step
};

// The facts of an event of `type` whose payload is `body` (nullptr: removed).
// REQUIRES: body, if set, passed the FlatBuffers verifier.
EventFacts FactsOf(EventType type, const fb::Event* body);

// The part of a run's metadata its events determine.
struct RunFold {
  RunStatus status = RunStatus::kCreated;
  uint64_t lease_epoch = 0;
  std::string lease_holder;  // empty: no lease held
  // False while the last lease event's payload is removed: then the epoch is
  // the count of acquisitions (each takes exactly the next epoch) and the
  // holder is unknown, taken as released (a new holder takes the next epoch).
  bool lease_known = true;
  uint64_t lease_acquisitions = 0;
  int64_t created_us = 0;
  int64_t last_event_us = 0;
};

// The metadata of `run` as a fold state, to continue from its head.
RunFold FoldOf(const RunInfo& run);
// Writes `fold` into the fields of *run it determines.
void ApplyFold(const RunFold& fold, RunInfo* run);

// OK if an append may add an event with `facts` to a run whose metadata is
// `fold`; otherwise why not: Fenced (a lease epoch already taken, a release
// by someone else) or InvalidArgument (an epoch skipped, a release of no
// lease). `run_id` names the run in the message.
Status CheckLeaseRules(const RunFold& fold, const EventFacts& facts, std::string_view run_id);

// Folds one event, stored at `timestamp_us`, into *fold; `creates_run`: it
// is the run's own first event (1, or a fork's RunForked). Never fails: an
// append checks CheckLeaseRules first; a stored history is what it is.
void FoldEvent(const EventFacts& facts, int64_t timestamp_us, bool creates_run, RunFold* fold);

// The deadline index entry an event with `facts` writes, if any: a
// DeadlineSet with a deadline (engine/store_deadline.cc).
bool IndexesDeadline(const EventFacts& facts);

}  // namespace agentlog::internal

#endif  // AGENTLOG_ENGINE_RUN_FOLD_H_
