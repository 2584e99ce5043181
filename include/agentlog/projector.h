// agentlog/projector.h: runs projections over a store -- current state,
// time travel, snapshots.
//
// StateAt(run, projection, seq) starts from the nearest usable snapshot at
// or before seq (or, with none, from the projection's initial state, or for
// a fork from its parent's state at the fork point) and folds the events
// after it, so its cost grows with the distance to that snapshot, not with
// the length of the run. A snapshot is used only if its checksum holds, its
// version is the projection's, it decodes, it was taken on this history
// (its recorded chain hash is the event's), and its state is of the event
// it is stored under (Projection::StateSequence); anything else is
// bypassed and reported in StateInfo, never trusted. What a usable
// snapshot's state says is not re-derived at read time: VerifySnapshots
// proves it against the events, and the runtime checks the facts that gate
// a side effect against the log (agentlog/runtime.h). Snapshots are written by CatchUp
// (inline through Projector::Append, or in the background) as the
// SnapshotPolicy says; deleting them all changes no answer, only speed.
//
// "The read errors" at a method below are the errors of the Store reads
// a fold makes -- Store::GetRun (NotFound: no such run; InvalidArgument,
// LimitExceeded: not a valid run id), Store::ReadRun, Store::ReadEvent and
// Store::ReadSnapshots -- as the store gives them (also IOError, and Closed
// once the store is closed). A snapshot that cannot be used (damaged,
// foreign, of another version) is no error -- it is bypassed
// (StateInfo::bypassed) and the events are folded -- only a failed read is.
//
// Thread safety: a Projector may be shared: every method may be called
// concurrently from any thread (the registered projections, the cache of
// latest states and the counters are under one mutex, the background
// subscription under another). A registered Projection is called from all
// those threads at once, so its methods must be safe to call concurrently
// (agentlog/projection.h). The ProjectionState a caller passes to
// FoldForward or AppendAndFold stays the caller's: the projector changes it
// during the call only, and nothing else may use it meanwhile.
// REQUIRES: the Store outlives the Projector.
#ifndef AGENTLOG_PROJECTOR_H_
#define AGENTLOG_PROJECTOR_H_

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "agentlog/export.h"
#include "agentlog/projection.h"
#include "agentlog/store.h"
#include "agentlog/upcaster.h"

namespace agentlog {

// When CatchUp stores a snapshot of a run, and which ones it keeps.
struct SnapshotPolicy {
  // After every event whose sequence is a multiple of this. 0: never.
  uint64_t every_events = 1000;
  // After every event that changes the run's status (StatusAfterEvent).
  // Off by default: a run changes status every few events, and a state
  // written that often costs more than the folds it saves.
  bool on_status_change = false;
  // After every CheckpointMarked.
  bool on_checkpoint = true;
  // Before each ToolStarted and after each ToolCompleted / ToolFailed, so
  // "what did this step change" needs no fold at all.
  bool around_steps = false;
  // Retention, per run and projection: the newest `keep_latest` snapshots
  // are kept; of the older ones, the newest in each window of
  // `keep_older_every` sequences (0: none of them). Snapshots of another
  // projection version and damaged ones are deleted. The default keeps one
  // per every_events window for the whole run (StateAt at any point folds
  // at most ~2 windows) and thins the extra ones (checkpoints, steps) to the
  // newest 8; raise keep_older_every to trade old points' latency for disk.
  size_t keep_latest = 8;
  uint64_t keep_older_every = 1000;
};

struct ProjectorOptions {
  SnapshotPolicy policy;
  // Snapshots are a cache: one lost to a power cut costs only speed.
  Durability snapshot_durability = Durability::kBuffered;
  // Upcasts old event versions before projections see them. Null: events
  // are shown as stored. Snapshots record the projection's version, not the
  // registry: projectors sharing a store must share the registry, and a
  // change of it that changes what a projection sees needs a version bump.
  std::shared_ptr<const UpcasterRegistry> upcasters;
  // Latest states kept in memory (per run and projection) for CatchUp and
  // current-state reads.
  size_t max_cached_states = 256;
  // False: snapshots are neither read nor written; every state is folded
  // from the run's events (a fork's from its parent's). For answers that
  // must rest on the log alone (the runtime's, when a snapshot disagrees
  // with the log), at the cost of a fold per state. Default: true.
  bool use_snapshots = true;
};

// What VerifySnapshots checked.
struct SnapshotCheckStats {
  uint64_t snapshots = 0;      // compared with the fold, byte for byte
  uint64_t other_version = 0;  // of another projection version: never used, not compared
  uint64_t events_folded = 0;
};

// How a state was computed.
struct StateInfo {
  uint64_t sequence = 0;           // the state is as of this event (0: none yet)
  uint64_t snapshot_sequence = 0;  // the snapshot it started from (0: none)
  uint64_t events_folded = 0;      // events applied on top of it
  // Snapshots passed over on the way, each with why (Corruption for a
  // damaged one or one of another history; InvalidArgument for another version).
  std::vector<Status> bypassed;
};

struct ProjectorStats {
  uint64_t snapshots_written = 0;
  uint64_t snapshots_deleted = 0;
  uint64_t snapshots_bypassed = 0;  // damaged, foreign or undecodable
  uint64_t snapshots_stale = 0;     // of another projection version
};

// One run's state as of some moment (StatesAtTime).
struct RunStateAt {
  std::string run_id;
  uint64_t sequence = 0;
  std::unique_ptr<ProjectionState> state;
};

class AGENTLOG_EXPORT Projector {
 public:
  // A projector over `store`, with no projection registered yet; reads and
  // writes nothing. REQUIRES: `store` non-null (an AGENTLOG_ASSERT: a
  // null one stops the process in a build with asserts, the default).
  // No errors.
  static std::unique_ptr<Projector> Create(Store* store, const ProjectorOptions& options);
  // Stops the background thread, if any (dropping the error that had
  // stopped it: StopBackground returns it). The Store stays open.
  virtual ~Projector() = default;

  // Adds a projection. Errors: InvalidArgument (null; a name empty or with
  // a byte outside [A-Za-z0-9._:-]; a name already registered),
  // LimitExceeded (a name over 128 bytes).
  virtual Status Register(std::shared_ptr<const Projection> projection) = 0;

  // The state of `projection` after event `sequence` of the run (0: the
  // initial state), from the nearest usable starting point (see above).
  // Writes nothing. Errors: NotFound (no such projection; no such run;
  // `sequence` past the run's head), Corruption (a damaged event, or an
  // upcaster that fails; a fork whose parent is gone or whose lineage is
  // deeper than kMaxForkDepth; a run whose events end before its head),
  // the read errors.
  virtual Result<std::unique_ptr<ProjectionState>> StateAt(std::string_view run_id,
                                                           std::string_view projection,
                                                           uint64_t sequence,
                                                           StateInfo* info = nullptr) = 0;

  // As StateAt, as of the run's head when it is read. Errors: as StateAt.
  virtual Result<std::unique_ptr<ProjectionState>> CurrentState(std::string_view run_id,
                                                                std::string_view projection,
                                                                StateInfo* info = nullptr) = 0;

  // As StateAt, as of the last event of the run committed at or before
  // `time_us` (found in the time index, then by a binary search).
  // Errors: as StateAt; NotFound also when the run had no event of its own
  // by then; the errors of Store::PositionAtTime and
  // Store::SequenceAtPosition.
  virtual Result<std::unique_ptr<ProjectionState>> StateAtTime(std::string_view run_id,
                                                               std::string_view projection,
                                                               int64_t time_us,
                                                               StateInfo* info = nullptr) = 0;

  // Every run matching `filter` (one page of ListRuns) as it stood at
  // `time_us`; runs that did not exist yet are left out, and nothing
  // committed by then gives an empty answer. The moment is found in the
  // time index, and each run's head at it by a binary search, never by
  // scanning events. Errors: NotFound (no such projection), the errors of
  // Store::PositionAtTime, Store::ListRuns (InvalidArgument: filter.limit
  // 0 or over kMaxReadLimit, a bad session id) and
  // Store::SequenceAtPosition, and StateAt's for each run listed.
  virtual Result<std::vector<RunStateAt>> StatesAtTime(std::string_view projection, int64_t time_us,
                                                       const RunFilter& filter) = 0;

  // Folds every registered projection of the run up to its head, storing
  // the snapshots the policy selects on the way and applying retention.
  // Cheap when nothing is new. Errors: as StateAt (NotFound: no such run);
  // the errors of Store::PutSnapshot (LimitExceeded: a state over
  // kMaxSnapshotBytes; InvalidArgument: a store opened read-only; IOError;
  // Closed) and Store::DeleteSnapshots. The first error stops it; the
  // snapshots stored until then stay.
  virtual Status CatchUp(std::string_view run_id) = 0;

  // Store::Append, then CatchUp of the run: its snapshots are written
  // before this returns. Errors: the errors of Store::Append (nothing is
  // appended); then CatchUp's, returned although the events ARE committed
  // (check GetRun).
  virtual Result<AppendResult> Append(std::string_view run_id, std::span<const EventInput> events,
                                      const AppendOptions& options) = 0;

  // Folds the run's events after event `sequence` into `*state`, which
  // REQUIRES is `projection`'s state as of that event, up to the run's
  // head; returns the event it is then as of. Only the new events are read,
  // each folded once (upcast as in every fold); no snapshot is read or
  // written, so a state that rests on the log goes on resting on it.
  // Errors: NotFound (no such projection; no such run), Corruption (an
  // event that does not upcast; damaged data), the errors of
  // Store::ReadRun. After an error `*state` is as of some event between.
  virtual Result<uint64_t> FoldForward(std::string_view run_id, std::string_view projection, uint64_t sequence,
                                       ProjectionState* state) = 0;

  // As Append, for a writer that keeps `projection`'s state of the run
  // itself (the runtime's run handle does): `*state` is that state as of
  // event options.expected_head. The appended events are read back once and
  // folded into `*state` (upcast as in every fold), which is then the state
  // at the new head; the snapshots the policy selects on the way are
  // written, and the other projections catch up as in Append. Each appended
  // event is folded once per projection, and a run this projector last
  // folded at expected_head is read once. REQUIRES: `state` non-null.
  // Errors, nothing appended and `*state` unchanged: InvalidArgument
  // (options.expected_head unset; options.idempotency_key set, since a
  // replayed append would leave the state behind: use Append), NotFound
  // (no such projection), the errors of Store::Append. After the events
  // committed: the errors of Store::GetRun, the fold's (as StateAt's) and
  // CatchUp's (snapshot writes, other projections), which leave `*state` as
  // of some event in between: read it again with CurrentState, or fold it
  // on with FoldForward.
  virtual Result<AppendResult> AppendAndFold(std::string_view run_id, std::span<const EventInput> events,
                                             const AppendOptions& options, std::string_view projection,
                                             ProjectionState* state) = 0;

  // Follows the store's feed on a thread of its own from now on (events
  // committed before the call are not revisited), running CatchUp for the
  // run of every event. A CatchUp error stops the thread (StopBackground
  // returns it). Errors: Busy (already running), the errors of
  // Store::Subscribe (Busy: Options::max_subscriptions open; Closed).
  virtual Status StartBackground() = 0;
  // Stops that thread and waits for the CatchUp in flight; OK, or the error
  // that had stopped it (a CatchUp error; Corruption from the feed), except
  // Closed (the store closed), which reads as OK. Idempotent: OK when no
  // thread runs.
  virtual Status StopBackground() = 0;

  // The counters since Create. No errors.
  virtual ProjectorStats stats() const = 0;

  // Proves that every stored snapshot of `projection` for the run says
  // what the run's events say: folds the run's whole history from its first
  // event, using no snapshot, and compares the encoded state at each
  // snapshot's sequence with the snapshot's bytes (its frame, version and
  // chain hash checked first). Snapshots of another version are counted,
  // not compared (they are never used). Cost: one fold of the run plus one
  // Encode per snapshot. Writes nothing. Errors: Corruption (the first
  // snapshot, named, that differs from the fold, is damaged, lies past the
  // run's head or was taken on another history; a damaged event), NotFound
  // (no such projection; no such run), the read errors.
  virtual Status VerifySnapshots(std::string_view run_id, std::string_view projection,
                                 SnapshotCheckStats* stats = nullptr) = 0;
};

}  // namespace agentlog

#endif  // AGENTLOG_PROJECTOR_H_
