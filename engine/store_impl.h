// engine/store_impl.h: the Store on top of a Backend.
//
// Append path: the caller's thread validates and hashes its events
// (engine/validate.cc), then joins the commit queue. The appender at the
// front of the queue, when no commit is in progress, becomes the committer
// (LevelDB's writer queue): it takes every queued append (up to
// max_commit_batch_appends), checks each against its run (idempotency,
// expected head, lease), assigns sequences, global positions and times,
// frames and chains the records, and writes the whole group as ONE atomic
// backend write with ONE fsync if any append asked for kSync (group commit).
// Then it wakes exactly the appenders it committed, hands the front of the
// queue the next turn, and wakes the subscribers. A lone appender commits on
// its own thread, with no hand-off; under load, the appends that queue up
// during one fsync share the next.
//
// INVARIANT: only the appender holding the committer role (committing_)
// assigns sequences and positions and touches run_cache_ and
// last_timestamp_us_, so run heads and positions need no further lock.
#ifndef AGENTLOG_ENGINE_STORE_IMPL_H_
#define AGENTLOG_ENGINE_STORE_IMPL_H_

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include "agentlog/store.h"
#include "base/assert.h"
#include "base/mutex.h"
#include "engine/backend.h"
#include "engine/validate.h"

namespace agentlog::fb {
struct Record;
}  // namespace agentlog::fb

namespace agentlog::internal {

class SubscriptionCore;
struct HistoryWalk;  // engine/store_verify.cc

// "blob 9f86d0...", for messages: the hash in hex names the content.
std::string BlobName(std::string_view sha256);

// VerifyAll's check of the time index against the global feed: fed every
// event in position order, then compares each 't' entry with the last
// position committed at its time (engine/store_verify_derived.cc).
class TimeIndexCheck {
 public:
  void Feed(const Event& event);
  // `through_position`: the last position the walk covered; entries for
  // later appends are allowed.
  Status Finish(Backend* backend, uint64_t through_position);

 private:
  struct Expected {
    int64_t timestamp_us;
    uint64_t position;
  };
  std::vector<Expected> expected_;
  int64_t timestamp_us_ = 0;
  uint64_t position_ = 0;
};

// What the committer publishes to readers and subscribers.
struct CommitNotifier {
  Mutex mu;
  CondVar cv{&mu};
  uint64_t last_position GUARDED_BY(mu) = 0;
  bool closed GUARDED_BY(mu) = false;
};

// Opens a store on any backend (tests use NewMemoryBackend()); Store::Open
// is this on the RocksDB backend. An empty backend becomes a new store,
// unless `read_only` (then NotFound).
Result<std::unique_ptr<Store>> OpenStoreOnBackend(const Options& options,
                                                  std::unique_ptr<Backend> backend,
                                                  bool read_only = false);

// Bounds (TigerBeetle-style: every cache has one).
constexpr size_t kMaxCachedRuns = 100000;
// Payload bytes one group commit gathers at most (one append may exceed it
// alone, up to Options::max_append_bytes).
constexpr size_t kMaxCommitGroupBytes = size_t{64} << 20;

class StoreImpl final : public Store {
 public:
  StoreImpl(const Options& options, std::unique_ptr<Backend> backend, bool read_only);
  ~StoreImpl() override;

  // Checks (or, on an empty backend, writes) the format marker; reads the
  // last position and last timestamp; checks the last position against
  // the high-water mark of the last clean close, if the backend has one.
  Status Start();

  Status Close() override;
  Result<AppendResult> Append(std::string_view run_id, std::span<const EventInput> events,
                              const AppendOptions& options) override;
  Result<Event> ReadEvent(std::string_view run_id, uint64_t sequence) override;
  Result<std::vector<Event>> ReadRun(std::string_view run_id, const ReadOptions& options) override;
  Result<RunInfo> GetRun(std::string_view run_id) override;
  Result<std::vector<RunInfo>> ListRuns(const RunFilter& filter) override;
  Result<std::vector<Event>> ReadGlobal(uint64_t after_position, size_t limit) override;
  uint64_t LastPosition() const override;
  CommitStats stats() const override {
    return {stat_appends_.load(std::memory_order_relaxed), stat_writes_.load(std::memory_order_relaxed),
            stat_synced_writes_.load(std::memory_order_relaxed)};
  }
  uint64_t WaitForPosition(uint64_t after_position, int64_t timeout_ms) override;
  Result<std::unique_ptr<Subscription>> Subscribe(uint64_t after_position,
                                                  SubscriptionCallback callback) override;
  Status Verify(std::string_view run_id, VerifyStats* stats) override;
  Status VerifyAll(VerifyStats* stats) override;
  Result<std::string> RunDigest(std::string_view run_id) override;
  Result<std::string> StoreDigest() override;
  Status VerifyAgainst(std::string_view digest, VerifyStats* stats) override;

  // snapshots and time: engine/store_snapshot.cc, engine/store_time.cc
  Status PutSnapshot(std::string_view run_id, std::string_view projection, uint32_t version,
                     uint64_t sequence, std::string_view state, Durability durability) override;
  Result<std::vector<SnapshotEntry>> ReadSnapshots(std::string_view run_id, std::string_view projection,
                                                   uint64_t at_or_before, size_t limit,
                                                   bool with_state) override;
  Status DeleteSnapshots(std::string_view run_id, std::string_view projection,
                         std::span<const uint64_t> sequences) override;
  Result<uint64_t> PositionAtTime(int64_t time_us) override;

  // deadlines: engine/store_deadline.cc
  Result<std::vector<DeadlineEntry>> ListDeadlines(int64_t due_at_or_before_us, size_t limit,
                                                   const DeadlineEntry* after) override;

  // content blobs: engine/store_blob.cc
  Result<std::string> PutBlob(std::string_view content, Durability durability) override;
  Result<std::string> GetBlob(std::string_view sha256) override;

  // forks: engine/store_fork.cc
  Result<AppendResult> Fork(std::string_view parent_run_id, uint64_t at_sequence,
                            std::string_view new_run_id, const ForkOptions& options) override;
  Result<uint64_t> SequenceAtPosition(std::string_view run_id, uint64_t position) override;

  // For tests that damage the store on purpose (tests may reach inside).
  Backend* backend_for_testing() { return backend_.get(); }

 private:
  // What a fork's run starts from: the fold of the shared prefix, read from
  // the parent before the fork's append is queued (a prefix never changes).
  struct ForkStart {
    std::string parent_run_id;
    uint64_t fork_sequence = 0;
    std::string chain_hash;  // the parent's chain hash at fork_sequence
    RunFold prefix;  // the fold of events 1..fork_sequence (engine/run_fold.h)
    // The prefix's DeadlineSet events (deadline != 0), in sequence order:
    // the fork's batch indexes them under the fork's own run id.
    std::vector<DeadlineEntry> deadlines;
  };

  // One stretch of a run's history, stored under `owner`: the run itself or
  // the ancestor whose records a fork shares (record_format.md, "Forks").
  struct Segment {
    std::string owner;
    uint64_t first_sequence = 0;
    uint64_t last_sequence = 0;  // first > last: the run has no event of its own yet
    uint64_t owner_head = 0;     // the owner's head when the lineage was read
  };

  // One queued append; lives on the appending thread's stack.
  struct PendingAppend {
    explicit PendingAppend(Mutex* mu) : cv(mu) {}
    std::string_view run_id;
    const AppendOptions* options = nullptr;
    std::vector<PreparedEvent> events;
    Hash request_hash{};
    size_t payload_bytes = 0;
    const ForkStart* fork = nullptr;  // set by Fork: creates the run, which must not exist
    bool done = false;      // guarded by StoreImpl::mu_
    Status status;          // set by the committer before done
    AppendResult result;    // set by the committer before done
    CondVar cv;             // on StoreImpl::mu_
  };

  // Everything one group commit stages before its single write.
  struct CommitGroup {
    WriteSet writes;
    std::unordered_map<std::string, RunInfo> runs;            // staged heads
    std::unordered_map<std::string, PendingAppend*> keys;     // staged idempotency keys
    uint64_t next_position = 0;
    int64_t last_timestamp_us = 0;
    bool sync = false;
  };

  // Queues a validated append and waits until a committer answers it.
  Result<AppendResult> QueueAppend(PendingAppend* append) EXCLUDES(mu_);
  // Takes a group from the queue, commits it and answers it. Releases mu_
  // while it writes.
  void LeadCommit() REQUIRES(mu_);
  void CommitGroupOf(std::vector<PendingAppend*>& group);
  // After a write fails, its outcome on disk is unknown and the cached run
  // heads may be wrong, so the store stops writing (appends, forks,
  // snapshots, blobs) until a reopen re-reads the truth. Stopped() is the
  // refusal every later write gets.
  static Status Stopped(const Status& failure);
  // Start's first part: the format marker (written on a new store).
  Status CheckFormatMarker();
  // InvalidArgument for `what` (a write) on a store opened read-only.
  Status RefuseIfReadOnly(std::string_view what) const;
  // A write that is not an append (a snapshot, a blob); `writes` null means
  // only an fsync of the log. Refused once the store has stopped; its own
  // failure stops the store.
  Status WriteBesideAppends(const WriteSet* writes, bool sync) EXCLUDES(mu_);
  // Checks one append against its run and stages it into `group`; on error
  // nothing of it is staged.
  Status StageAppend(PendingAppend* append, CommitGroup* group);
  Status LoadRun(std::string_view run_id, CommitGroup* group, RunInfo* info, bool* exists);
  Status CheckIdempotency(PendingAppend* append, CommitGroup* group, bool* replayed);
  // Makes `run` (just loaded by LoadRun) the start of a new fork; Conflict
  // if the run exists.
  static Status StartFork(const ForkStart& fork, bool exists, RunInfo* run);

  // The bodies of the public reads, without a ReadGuard: public methods
  // take one guard and call these, never each other, so a read that began
  // before Close always finishes (REQUIRES: a ReadGuard held by the caller).
  Result<Event> ReadChecked(std::string_view run_id, uint64_t sequence);
  // ReadChecked that also finds a fork's shared events under their ancestor.
  Result<Event> ReadResolved(std::string_view run_id, uint64_t sequence);
  // Appends the records of `segment` within [low, high] to *events,
  // ascending or descending, until *events holds `limit`.
  Status ReadSegment(const Segment& segment, uint64_t low, uint64_t high, bool reverse,
                     size_t limit, std::vector<Event>* events);
  // The run's history as segments in sequence order, the run's own last;
  // ancestors are followed only while they hold sequences >= lowest_sequence
  // (1: all of them). *ancestors (optional) counts the ancestors visited.
  // Corruption if the lineage is deeper than kMaxForkDepth, cyclic, or names
  // a missing or too short ancestor.
  Status Lineage(const RunInfo& info, uint64_t lowest_sequence, std::vector<Segment>* segments,
                 size_t* ancestors = nullptr);
  // Fills start->prefix and start->deadlines from events
  // 1..start->fork_sequence of the history in `segments`, read once, oldest
  // first, through the lineage.
  Status FoldPrefix(const std::vector<Segment>& segments, ForkStart* start);
  // Adds the deadline index entries of one append of `run_id` to `writes`:
  // the inherited ones of a fork (`fork`, may be null), and one per
  // DeadlineSet of `events`, whose first has sequence `first_sequence`.
  static void StageDeadlines(std::string_view run_id, const ForkStart* fork,
                             const std::vector<PreparedEvent>& events, uint64_t first_sequence,
                             WriteSet* writes);
  // VerifyAll's check of the deadline index: every entry names a stored
  // DeadlineSet event of its run's history with that deadline and step.
  Status VerifyDeadlineIndex();
  // ---- the derived data's checks (engine/store_verify_derived.cc) ----
  // Corruption "WHAT is missing: WHY" unless `key` is in `space` (its
  // value in *value if set).
  Status CheckEntryPresent(Space space, const std::string& key, const std::string& what,
                           const std::string& why, std::string* value);
  // What one record of run `run_id`'s history (stored under `owner`)
  // implies: its deadline index entry, the blob it stores, its idempotency
  // entry (`last_key`: the key last checked, to check each append once).
  Status CheckRecordDerived(std::string_view run_id, std::string_view owner, const fb::Record* record,
                            std::string* last_key);
  // The run's status and session index entries.
  Status CheckRunDerived(const RunInfo& info);
  // The index space holds exactly `expected` entries tagged `tag` (with
  // CheckRunDerived: none but the runs' own).
  Status CountIndexEntries(char tag, uint64_t expected, const std::string& what);
  // Every idempotency entry names the first record of its append.
  Status VerifyIdempotencyEntries();
  // Every snapshot's metadata and state are whole and of its run's history.
  Status VerifySnapshotEntries();
  // Every content blob's frame and hash hold.
  Status VerifyContentBlobs();
  Result<std::string> GetBlobUnguarded(std::string_view sha256);
  // `missing` (a Corruption: a record or an entry the store should hold is
  // not there), or, if the store's files are damaged, that damage with its
  // file: a damaged block can end a read early without an error.
  Status MissingOrDamaged(Status missing);
  // The status and session indexes hold one entry per run (with a session).
  Status CountRunIndexes();
  // `check` again (up to kVerifyAttempts times) while appends commit during
  // it: on a live store an index check can race a commit that moves an
  // entry; a failure with no commit meanwhile is the answer.
  Status WhileCommitsMove(const std::function<Status()>& check);
  static constexpr int kVerifyAttempts = 4;
  Result<RunInfo> LoadRunInfo(std::string_view run_id);
  Result<std::vector<Event>> ReadGlobalUnguarded(uint64_t after_position, size_t limit);
  Status VerifyUnguarded(std::string_view run_id, VerifyStats* stats);
  Status VerifyAllUnguarded(VerifyStats* stats);
  // count_prefix: count a fork's shared events in *stats too (Verify of one
  // run), or only the run's own records (VerifyAll counts each record once).
  Status VerifyRun(std::string_view run_id, const RunInfo& info, bool count_prefix,
                   VerifyStats* stats);
  // VerifyRun's two walks over `cursor` (the events space), *last_key the
  // idempotency key last checked: a fork's shared prefix, each ancestor's
  // stretch whole (all segments but the last), then the run's own records,
  // *last the last sequence found.
  Status WalkSharedPrefix(std::string_view run_id, const std::vector<Segment>& segments, bool count,
                          Cursor* cursor, HistoryWalk* walk, std::string* last_key);
  Status WalkOwnRecords(std::string_view run_id, const RunInfo& info, Cursor* cursor, HistoryWalk* walk,
                        std::string* last_key, uint64_t* last);
  Status VerifyGlobalIndex(uint64_t through_position, uint64_t expected_events);
  // The run's head (sequence, chain) as of a global position; sequence 0
  // if the run had no event of its own then (a fork's shared prefix does not
  // count: the fork did not exist before its RunForked event).
  Status HeadAsOf(const RunInfo& info, uint64_t position, uint64_t* sequence, std::string* chain);
  Result<std::string> StoreRootAsOf(uint64_t position, uint64_t* run_count);
  Status StopSubscriptions();

  // Reads in flight. Close refuses new reads, waits for these to finish,
  // and only then closes the backend, so no read ever runs on a closed
  // database.
  class ReadGuard {
   public:
    explicit ReadGuard(StoreImpl* store);
    ~ReadGuard();
    ReadGuard(const ReadGuard&) = delete;
    ReadGuard& operator=(const ReadGuard&) = delete;
    const Status& status() const { return status_; }

   private:
    StoreImpl* const store_;
    Status status_;
  };

  const Options options_;
  std::unique_ptr<Backend> backend_;
  const bool read_only_;  // Store::OpenReadOnly: every write is refused
  // Start succeeded. Written once, before the store is handed out; a store
  // that failed to start never records a clean close.
  bool started_ = false;
  // The last committed position lives here only (notifier_->last_position).
  std::shared_ptr<CommitNotifier> notifier_;

  Mutex mu_;
  CondVar space_cv_{&mu_};  // appenders wait for queue room
  CondVar idle_cv_{&mu_};   // Close waits for the queue to drain
  std::deque<PendingAppend*> queue_ GUARDED_BY(mu_);
  bool committing_ GUARDED_BY(mu_) = false;  // an appender holds the committer role
  bool closing_ GUARDED_BY(mu_) = false;
  bool closed_ GUARDED_BY(mu_) = false;
  Status write_failure_ GUARDED_BY(mu_);  // set once a write fails: see Stopped()
  std::vector<std::weak_ptr<SubscriptionCore>> subscriptions_ GUARDED_BY(mu_);

  Mutex read_mu_;
  CondVar readers_done_cv_{&read_mu_};
  size_t readers_ GUARDED_BY(read_mu_) = 0;
  bool reads_closed_ GUARDED_BY(read_mu_) = false;

  // Commit counters (stats()): written by the committer, read by anyone.
  std::atomic<uint64_t> stat_appends_{0};
  std::atomic<uint64_t> stat_writes_{0};
  std::atomic<uint64_t> stat_synced_writes_{0};

  // The committer role only (see committing_).
  std::unordered_map<std::string, RunInfo> run_cache_;
  int64_t last_timestamp_us_ = 0;
};

}  // namespace agentlog::internal

#endif  // AGENTLOG_ENGINE_STORE_IMPL_H_
