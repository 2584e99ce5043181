// agentlog/store.h: the durable, verified, append-only log of agent runs.
//
// A Store holds runs. A run's events are numbered 1, 2, 3, ... with no gaps;
// every committed event also gets a store-wide global position that
// increases in commit order. Records are never rewritten. Every read checks
// the record's checksum and envelope and returns Corruption (naming the run
// and sequence) rather than damaged data. Verify walks the cryptographic
// chain of a run and proves no record was edited, dropped or reordered.
//
// Thread safety: every method may be called concurrently from any thread.
// Lifetime: destroying the Store closes it (see Close).
#ifndef AGENTLOG_STORE_H_
#define AGENTLOG_STORE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "agentlog/export.h"
#include "agentlog/event.h"
#include "agentlog/options.h"
#include "agentlog/status.h"

namespace agentlog {

// A coarse run status kept in the runs index, derived from event types by a
// fixed table (engine/run_status.cc). Stored as a byte: never renumber.
enum class RunStatus : uint8_t {
  kCreated = 0,           // TurnStarted, or a run whose events set no status
  kPlanned = 1,           // TurnPlanned, PlanRevised
  kAwaitingApproval = 2,  // ApprovalRequested
  kRunning = 3,           // ToolStarted, ApprovalGranted/Denied, RetryScheduled, RunResumed
  kPaused = 4,            // RunPaused
  kCompleted = 5,         // TurnCompleted
  kFailed = 6,            // TurnFailed
};
AGENTLOG_EXPORT std::string_view RunStatusName(RunStatus status);  // "awaiting_approval"
// Parses a RunStatusName; nullopt if unknown.
AGENTLOG_EXPORT std::optional<RunStatus> ParseRunStatus(std::string_view name);
// The status an event of `type` moves its run to; nullopt if it leaves the
// status alone (the fixed table above).
AGENTLOG_EXPORT std::optional<RunStatus> StatusAfterEvent(EventType type);

// A run's metadata, from the runs index.
struct RunInfo {
  std::string run_id;
  uint64_t head_sequence = 0;    // the last event's sequence
  std::string head_chain_hash;   // its chain hash (32 bytes)
  uint64_t head_position = 0;    // its global position
  RunStatus status = RunStatus::kCreated;
  std::string session_id;        // empty: none
  std::string parent_run_id;     // empty: not a fork
  uint64_t fork_sequence = 0;    // the parent's last shared event
  int64_t created_us = 0;        // the first event's timestamp
  int64_t last_event_us = 0;     // the last event's timestamp
  std::string lease_holder;      // empty: no lease taken yet
  uint64_t lease_epoch = 0;      // 0: no lease taken yet
};

struct AppendResult {
  uint64_t first_sequence = 0;
  uint64_t last_sequence = 0;
  uint64_t first_position = 0;
  uint64_t last_position = 0;
  // True when the idempotency key was already recorded: these are the first
  // append's numbers and nothing was written.
  bool replayed = false;
};

struct ReadOptions {
  uint64_t from_sequence = 1;           // inclusive; 0 reads as 1
  uint64_t to_sequence = UINT64_MAX;    // inclusive
  size_t limit = 1000;                  // at most kMaxReadLimit
  bool reverse = false;                 // newest first, starting at to_sequence
};
constexpr size_t kMaxReadLimit = 100000;

struct RunFilter {
  std::optional<RunStatus> status;      // only runs in this status
  std::string session_id;               // only runs of this session (empty: any)
  std::string after_run_id;             // page after this id (exclusive)
  size_t limit = 1000;                  // at most kMaxReadLimit
};

// Options of Store::Fork.
struct ForkOptions {
  Durability durability = Durability::kSync;
  std::string reason;     // recorded in the RunForked event; at most 4 KiB
  std::string actor_id;   // who forked, recorded in the RunForked envelope
  std::string session_id; // the new run's session (empty: none)
};

// One stored snapshot of a projection's state (see Store::PutSnapshot).
struct SnapshotEntry {
  uint64_t sequence = 0;        // the state is as of this event of the run
  // OK, or Corruption: this snapshot is damaged (its checksum or its fields
  // do not hold) and only `sequence` is meaningful. Never trust it.
  Status status;
  uint32_t version = 0;         // the projection version that wrote it
  std::string chain_hash;       // the chain hash of event `sequence` when it was written
  std::string state;            // the projection's encoded state
};
// One entry of the deadline index (see Store::ListDeadlines).
struct DeadlineEntry {
  std::string run_id;
  std::string step_id;        // empty: the run's own deadline
  int64_t deadline_at_us = 0;
  uint64_t sequence = 0;      // the DeadlineSet event (in run_id's history) that set it
};

// OK if `run_id` is a run id the store accepts ([A-Za-z0-9._:-], 1 to
// kMaxRunIdBytes bytes); otherwise the error an Append to it gets
// (InvalidArgument, LimitExceeded), naming the bad byte. For checking input
// before opening a store.
AGENTLOG_EXPORT Status ValidateRunId(std::string_view run_id);

constexpr size_t kMaxForkDepth = 64;
constexpr size_t kMaxForkReasonBytes = 4096;
constexpr size_t kMaxSnapshotBytes = size_t{256} << 20;
constexpr size_t kMaxBlobBytes = size_t{64} << 20;

// What group commit has done since the store was opened (Store::stats).
struct CommitStats {
  uint64_t appends = 0;        // appends committed (replays of a key included)
  uint64_t writes = 0;         // commit groups that reached the backend: a write, or for a
                               // group of kSync replays only, an fsync alone
  uint64_t synced_writes = 0;  // of them, with an fsync of the write-ahead log
};

struct VerifyStats {
  uint64_t runs = 0;
  // Records checked. Verify of a fork counts its shared prefix too (its
  // whole history); VerifyAll counts each stored record once.
  uint64_t events = 0;
  uint64_t removed_payloads = 0;  // records whose payload was removed by policy
};

// A live feed of committed events in global order. Destroying it cancels it.
class AGENTLOG_EXPORT Subscription {
 public:
  virtual ~Subscription() = default;
  // Stops delivery and waits for the callback in flight, if any. Idempotent.
  // REQUIRES: not called from inside the callback.
  virtual void Cancel() = 0;
  // The global position of the last event delivered (the resume cursor).
  virtual uint64_t position() const = 0;
  // OK while running or after Cancel; the error that stopped it otherwise
  // (the callback's own, a Corruption, or Closed when the store closed).
  virtual Status status() const = 0;
};

// Called on the subscription's own thread, one event at a time, in global
// order, with no gap and no duplicate. A non-OK return stops the
// subscription with that status.
using SubscriptionCallback = std::function<Status(const Event&)>;

class AGENTLOG_EXPORT Store {
 public:
  // Opens (or creates, per options) the store in directory `path` for
  // reading and writing. One process at a time holds a store open this way
  // (AGENTLOG_LOCK); readers use OpenReadOnly meanwhile. Before RocksDB
  // replays a file, the store reads its log files itself and refuses the
  // damage RocksDB would silently drop with the acknowledged writes after
  // it (README "Durability"); after a clean Close it also checks that the
  // files and the last position are as that close left them.
  // Errors: InvalidArgument (options, e.g. no clock; a store that exists with
  // error_if_exists; a database that is not an agentlog store), NotFound (no
  // store and !create_if_missing; `path` is a file; its parent directory does
  // not exist), IOError (the disk; the store open for writing elsewhere),
  // Corruption (damaged files, or data lost since the last clean close: the
  // message names the file and says what to do). Nothing is created or
  // changed by a refusal but a new, empty directory's own creation.
  static Result<std::unique_ptr<Store>> Open(const Options& options, const std::string& path);

  // Opens the existing store in `path` for reading only: every read and
  // check works as on a store opened with Open, and every write (Append,
  // Fork, PutSnapshot, DeleteSnapshots, PutBlob) is refused with
  // InvalidArgument. Nothing in the directory is created, written, renamed,
  // deleted or locked -- not even RocksDB's info log -- so a store on
  // read-only media or a full disk opens, and any number of readers may
  // open it at once. A store that a writer has open (in any process, this
  // one included) is refused: RocksDB's read-only instance reads one moment
  // of the files, and a writer flushing and purging logs meanwhile would
  // make it miss data. Options::create_if_missing and error_if_exists are
  // ignored. Errors: NotFound (no store at `path`, or `path` is a file),
  // IOError (a writer has it open, naming its process; the disk),
  // InvalidArgument, Corruption, as Open.
  static Result<std::unique_ptr<Store>> OpenReadOnly(const Options& options, const std::string& path);

  Store() = default;
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;
  // Closes the store if it is open; an error from that close is dropped.
  virtual ~Store() = default;

  // Refuses new calls, answers the appends already queued, stops
  // subscriptions (they end with Closed), waits for reads in flight, fsyncs
  // the write-ahead log (so kBuffered appends are durable once Close returns
  // OK), then closes the database. After a failed write (the store had
  // stopped, see Append) it skips the fsync, closes all the same and returns
  // that IOError. Later calls return Closed; a second Close waits for the
  // first and returns OK. May run while other threads call the store.
  // REQUIRES: not called from a subscription callback.
  virtual Status Close() = 0;

  // Appends `events` to run `run_id`, all or nothing: the run is created by
  // its first append. On success the events have sequences
  // first_sequence..last_sequence and consecutive global positions, and are
  // as durable as options.durability says.
  // Errors (nothing is written by any of them):
  //   InvalidArgument  bad run id, empty events, a payload that fails the
  //                    FlatBuffers verifier, no body, unknown event type,
  //                    a lease event out of order, session mismatch, a
  //                    DeadlineSet scope step id with a NUL or not UTF-8
  //                    (it is an id: kMaxIdBytes, else LimitExceeded);
  //   LimitExceeded    a size limit of Options or kMax* above;
  //   Conflict         expected_head differs from the run's head, or the
  //                    idempotency key was used for other events or another run;
  //   Fenced           lease_epoch is not the run's current epoch;
  //   IOError          the write or its fsync failed (the message gives the
  //                    OS's reason). A failed write stored nothing; after a
  //                    failed fsync the append may be found whole after a
  //                    reopen, never in part. Either way the store stops:
  //                    every later append, fork, snapshot and blob write
  //                    gets IOError "the store stopped writing ..." until
  //                    it is reopened (README "Durability");
  //   Closed           the store is closed.
  virtual Result<AppendResult> Append(std::string_view run_id, std::span<const EventInput> events,
                                      const AppendOptions& options) = 0;

  // One event. Errors: NotFound, Corruption (names run and sequence).
  virtual Result<Event> ReadEvent(std::string_view run_id, uint64_t sequence) = 0;

  // A run's events in [from_sequence, to_sequence], at most `limit` of them,
  // ascending (or descending if reverse). An unknown run gives NotFound;
  // an empty range gives an empty vector. Errors: InvalidArgument, Corruption.
  virtual Result<std::vector<Event>> ReadRun(std::string_view run_id,
                                             const ReadOptions& options) = 0;

  // A run's metadata. Errors: NotFound, Corruption, InvalidArgument.
  virtual Result<RunInfo> GetRun(std::string_view run_id) = 0;

  // Runs in run-id order matching `filter`. Errors: InvalidArgument, Corruption.
  virtual Result<std::vector<RunInfo>> ListRuns(const RunFilter& filter) = 0;

  // Committed events with global position > after_position, ascending, at
  // most `limit` (<= kMaxReadLimit). Errors: Corruption.
  virtual Result<std::vector<Event>> ReadGlobal(uint64_t after_position, size_t limit) = 0;

  // The global position of the last committed event (0: none).
  virtual uint64_t LastPosition() const = 0;

  // Counters of the commit path since Open: appends / synced_writes is how
  // many sync appends shared one fsync.
  virtual CommitStats stats() const = 0;

  // Blocks until an event with position > after_position is committed, the
  // timeout passes or the store closes; returns LastPosition() then.
  virtual uint64_t WaitForPosition(uint64_t after_position, int64_t timeout_ms) = 0;

  // Delivers every committed event with position > after_position, then each
  // new one as it commits, to `callback` on a thread of its own. To resume
  // after a restart, pass the last position the callback processed.
  // Errors: Busy (Options::max_subscriptions open), Closed.
  virtual Result<std::unique_ptr<Subscription>> Subscribe(uint64_t after_position,
                                                          SubscriptionCallback callback) = 0;

  // ---- forks ----

  // Creates run `new_run_id` whose history is events 1..at_sequence of
  // `parent_run_id` followed by its own events, the first of which is the
  // RunForked event this call appends (at sequence at_sequence + 1). Nothing
  // is copied: reads, Verify and digests of the fork walk the parent's
  // records for the shared prefix (those Events keep the parent's run_id()).
  // A fork may be forked. The parent is unchanged and may go on growing.
  // The fork's deadline index holds, under new_run_id, an entry for every
  // DeadlineSet of the shared prefix (ListDeadlines): Fork reads the
  // prefix's events once to find them, so its cost grows with at_sequence.
  // A DeadlineSet whose payload was removed before the fork is not
  // inherited (its deadline is gone).
  // Errors: InvalidArgument (ids, at_sequence 0 or past the parent's head,
  // reason too long, fork chain deeper than kMaxForkDepth), LimitExceeded
  // (an id over its byte limit, as for Append), NotFound (no parent),
  // Conflict (new_run_id exists, or equals the parent), Corruption (the
  // parent's lineage is damaged), IOError, Closed. Nothing is written by any
  // of them.
  virtual Result<AppendResult> Fork(std::string_view parent_run_id, uint64_t at_sequence,
                                    std::string_view new_run_id, const ForkOptions& options) = 0;

  // ---- snapshots (a cache for projections; see agentlog/projector.h) ----

  // Stores `state` as projection `projection`'s state (version `version`)
  // after event `sequence` of the run, replacing any snapshot of that
  // projection at that sequence. The store frames it with a checksum and
  // records event `sequence`'s chain hash beside it. Snapshots are not part
  // of the chain: deleting them changes no answer.
  // Errors: InvalidArgument (names), NotFound (run, or sequence past its
  // head), LimitExceeded (state over kMaxSnapshotBytes), IOError, Closed.
  virtual Status PutSnapshot(std::string_view run_id, std::string_view projection, uint32_t version,
                             uint64_t sequence, std::string_view state, Durability durability) = 0;

  // The run's snapshots of `projection` at sequences <= at_or_before,
  // newest first, at most `limit`. A damaged snapshot comes back as an
  // entry whose status is Corruption, so the caller can report it and fall
  // back; it never fails the call. Without `with_state`, entries leave
  // `state` empty (every check still runs): listing is then cheap however
  // large the states. Errors: InvalidArgument, Corruption (a damaged key),
  // IOError, Closed.
  virtual Result<std::vector<SnapshotEntry>> ReadSnapshots(std::string_view run_id,
                                                           std::string_view projection,
                                                           uint64_t at_or_before, size_t limit,
                                                           bool with_state = true) = 0;

  // Deletes the run's snapshots of `projection` at `sequences` (absent ones
  // are ignored); an empty projection name with empty sequences deletes
  // every snapshot of the run. Errors: InvalidArgument, IOError, Closed.
  virtual Status DeleteSnapshots(std::string_view run_id, std::string_view projection,
                                 std::span<const uint64_t> sequences) = 0;

  // ---- time ----

  // The global position of the last event committed with a timestamp at or
  // before `time_us` (0: none), from the time index (not a scan).
  virtual Result<uint64_t> PositionAtTime(int64_t time_us) = 0;

  // The run's head sequence as of global position `position`: 0 if the run
  // had no event of its own by then. Errors: NotFound, Corruption.
  virtual Result<uint64_t> SequenceAtPosition(std::string_view run_id, uint64_t position) = 0;

  // ---- deadlines ----

  // Every appended DeadlineSet event with deadline_at_us != 0 writes, in the
  // same atomic batch as the event, an entry (run, scope step, deadline,
  // sequence) in the deadline index; Fork copies the shared prefix's entries
  // to the fork (see Fork). A refused append writes none.
  //
  // Deadline index entries with deadline_at_us <= due_at_or_before_us, ordered by
  // (deadline_at_us, run_id, step_id), at most `limit` (<= kMaxReadLimit), starting
  // after `after` (exclusive; nullptr: from the start). Not a scan of events: a range
  // read of the index. Entries are never removed: a deadline later replaced or met is
  // still listed; check it against the run's state. Errors: InvalidArgument (limit,
  // or `after` names an invalid run id), Corruption (a damaged entry), IOError, Closed.
  virtual Result<std::vector<DeadlineEntry>> ListDeadlines(int64_t due_at_or_before_us,
                                                           size_t limit,
                                                           const DeadlineEntry* after = nullptr) = 0;

  // ---- content blobs ----

  // Stores `content` once under its SHA-256 (32 raw bytes, returned); storing the same content
  // again writes nothing new (check existence first) and returns the same hash. Not part of any
  // run's chain: an event (ArtifactStored, ToolCompleted) references it by hash, and that event's
  // chain covers the hash. A blob written by a process that then crashed before appending its
  // referencing event is unreferenced garbage, never wrong data; store the blob before appending
  // the event, since Verify reports an ArtifactStored whose blob is absent. With kSync it returns once the
  // blob is on stable storage (also when it was already stored, by an earlier kBuffered call).
  // A stored copy that fails its checks is overwritten with `content`.
  // Errors: LimitExceeded (over kMaxBlobBytes), IOError, Closed.
  virtual Result<std::string> PutBlob(std::string_view content, Durability durability) = 0;

  // The content stored under `sha256`. Errors: InvalidArgument (not 32 bytes), NotFound,
  // Corruption (the frame's checksum fails, or the content's SHA-256 is not the key: names
  // the hash in hex), IOError, Closed.
  virtual Result<std::string> GetBlob(std::string_view sha256) = 0;

  // Walks run `run_id` from sequence 1: checks every frame, the payload
  // hashes, the chain and the recorded head, and that what its records
  // imply is stored: its status and session index entries, the deadline
  // entry of each DeadlineSet, the idempotency entry of each keyed append,
  // the blob of each ArtifactStored (engine/record_format.md). OK, or
  // Corruption naming the first bad record or missing entry. Errors:
  // NotFound, InvalidArgument.
  virtual Status Verify(std::string_view run_id, VerifyStats* stats = nullptr) = 0;

  // Every table block against RocksDB's checksums (damage named with its
  // file), Verify for every run, and every derived entry: the global index
  // (every position points at the event that holds it), the time index
  // (one entry per timestamp, as the feed says), the deadline index (every
  // entry names such a DeadlineSet), the status and session indexes (no
  // entry but the runs' own), every idempotency entry, snapshot (metadata,
  // state, history; what the state says is Projector::VerifySnapshots') and
  // content blob. Stops at the first Corruption. Reads the whole store.
  virtual Status VerifyAll(VerifyStats* stats = nullptr) = 0;

  // A short value to keep: "agentlog-run-v1:RUN:SEQ:HEX" (the chain hash of
  // the run's head). Errors: NotFound, Corruption.
  virtual Result<std::string> RunDigest(std::string_view run_id) = 0;

  // "agentlog-store-v1:POSITION:RUNS:HEX", a Merkle root over every run's
  // head as of global position POSITION (engine/record_format.md).
  virtual Result<std::string> StoreDigest() = 0;

  // Proves that the history a digest covers is still there, unchanged:
  // verifies the run's chain (a run digest) or every chain and the global
  // index (a store digest; `stats` then counts the whole store), and
  // recomputes the digest's value as of its sequence or position. Later appends do not break it; an edit, a cut
  // or a rewrite of that history does (Corruption). Errors: InvalidArgument
  // (not a digest), NotFound (the run is gone), Corruption.
  virtual Status VerifyAgainst(std::string_view digest, VerifyStats* stats = nullptr) = 0;
};

}  // namespace agentlog

#endif  // AGENTLOG_STORE_H_
