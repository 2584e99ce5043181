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
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include "agentlog/store.h"
#include "engine/assert.h"
#include "engine/backend.h"
#include "engine/mutex.h"
#include "engine/validate.h"

namespace agentlog::internal {

class SubscriptionCore;

// What the committer publishes to readers and subscribers.
struct CommitNotifier {
  Mutex mu;
  CondVar cv{&mu};
  uint64_t last_position GUARDED_BY(mu) = 0;
  bool closed GUARDED_BY(mu) = false;
};

// Opens a store on any backend (tests use NewMemoryBackend()); Store::Open
// is this on the RocksDB backend. An empty backend becomes a new store.
Result<std::unique_ptr<Store>> OpenStoreOnBackend(const Options& options,
                                                  std::unique_ptr<Backend> backend);

// Bounds (TigerBeetle-style: every cache has one).
constexpr size_t kMaxCachedRuns = 100000;
// Payload bytes one group commit gathers at most (one append may exceed it
// alone, up to Options::max_append_bytes).
constexpr size_t kMaxCommitGroupBytes = size_t{64} << 20;

class StoreImpl final : public Store {
 public:
  StoreImpl(const Options& options, std::unique_ptr<Backend> backend);
  ~StoreImpl() override;

  // Checks (or, on an empty backend, writes) the format marker; reads the
  // last position and last timestamp.
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
  uint64_t WaitForPosition(uint64_t after_position, int64_t timeout_ms) override;
  Result<std::unique_ptr<Subscription>> Subscribe(uint64_t after_position,
                                                  SubscriptionCallback callback) override;
  Status Verify(std::string_view run_id, VerifyStats* stats) override;
  Status VerifyAll(VerifyStats* stats) override;
  Result<std::string> RunDigest(std::string_view run_id) override;
  Result<std::string> StoreDigest() override;
  Status VerifyAgainst(std::string_view digest, VerifyStats* stats) override;

  // For tests that damage the store on purpose (tests may reach inside).
  Backend* backend_for_testing() { return backend_.get(); }

 private:
  // One queued append; lives on the appending thread's stack.
  struct PendingAppend {
    explicit PendingAppend(Mutex* mu) : cv(mu) {}
    std::string_view run_id;
    const AppendOptions* options = nullptr;
    std::vector<PreparedEvent> events;
    Hash request_hash{};
    size_t payload_bytes = 0;
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

  // Takes a group from the queue, commits it and answers it. Releases mu_
  // while it writes.
  void LeadCommit() REQUIRES(mu_);
  void CommitGroupOf(std::vector<PendingAppend*>& group);
  // Checks one append against its run and stages it into `group`; on error
  // nothing of it is staged.
  Status StageAppend(PendingAppend* append, CommitGroup* group);
  Status LoadRun(std::string_view run_id, CommitGroup* group, RunInfo* info, bool* exists);
  Status CheckIdempotency(PendingAppend* append, CommitGroup* group, bool* replayed);

  // The bodies of the public reads, without a ReadGuard: public methods
  // take one guard and call these, never each other, so a read that began
  // before Close always finishes (REQUIRES: a ReadGuard held by the caller).
  Result<Event> ReadChecked(std::string_view run_id, uint64_t sequence);
  Result<RunInfo> LoadRunInfo(std::string_view run_id);
  Result<std::vector<Event>> ReadGlobalUnguarded(uint64_t after_position, size_t limit);
  Status VerifyUnguarded(std::string_view run_id, VerifyStats* stats);
  Status VerifyAllUnguarded(VerifyStats* stats);
  Status VerifyRun(std::string_view run_id, const RunInfo& info, VerifyStats* stats);
  Status VerifyGlobalIndex(uint64_t through_position, uint64_t expected_events);
  // The run's head (sequence, chain) as of a global position; exists=false
  // if the run had no event then.
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
  // The last committed position lives here only (notifier_->last_position).
  std::shared_ptr<CommitNotifier> notifier_;

  Mutex mu_;
  CondVar space_cv_{&mu_};  // appenders wait for queue room
  CondVar idle_cv_{&mu_};   // Close waits for the queue to drain
  std::deque<PendingAppend*> queue_ GUARDED_BY(mu_);
  bool committing_ GUARDED_BY(mu_) = false;  // an appender holds the committer role
  bool closing_ GUARDED_BY(mu_) = false;
  bool closed_ GUARDED_BY(mu_) = false;
  Status write_failure_ GUARDED_BY(mu_);  // set once a write fails: no more appends
  std::vector<std::weak_ptr<SubscriptionCore>> subscriptions_ GUARDED_BY(mu_);

  Mutex read_mu_;
  CondVar readers_done_cv_{&read_mu_};
  size_t readers_ GUARDED_BY(read_mu_) = 0;
  bool reads_closed_ GUARDED_BY(read_mu_) = false;

  // The committer role only (see committing_).
  std::unordered_map<std::string, RunInfo> run_cache_;
  int64_t last_timestamp_us_ = 0;
};

}  // namespace agentlog::internal

#endif  // AGENTLOG_ENGINE_STORE_IMPL_H_
