// testing/counting_store.h: a Store that forwards every call to another one
// and counts the reads, so a test or the bench can say what an operation
// costs in store round trips (e.g. reads per RunHandle::RunStep).
#ifndef AGENTLOG_TESTING_COUNTING_STORE_H_
#define AGENTLOG_TESTING_COUNTING_STORE_H_

#include <atomic>
#include <cstdint>

#include "agentlog/store.h"

namespace agentlog::testing {

// What CountingStore saw since it was made (or Reset).
struct StoreCalls {
  uint64_t reads = 0;        // ReadEvent, ReadRun, GetRun, ListRuns, ReadGlobal, ReadSnapshots,
                             // PositionAtTime, SequenceAtPosition, ListDeadlines, GetBlob
  uint64_t run_reads = 0;    // ReadRun alone
  uint64_t events_read = 0;  // events returned by ReadEvent, ReadRun and ReadGlobal
  uint64_t appends = 0;      // Append and Fork
  uint64_t events_appended = 0;
};

// Not owning: `inner` must outlive it. Thread-safe as `inner` is.
class CountingStore final : public Store {
 public:
  explicit CountingStore(Store* inner) : inner_(inner) {}

  StoreCalls calls() const;
  void Reset();

  Status Close() override { return inner_->Close(); }
  Result<AppendResult> Append(std::string_view run_id, std::span<const EventInput> events,
                              const AppendOptions& options) override;
  Result<Event> ReadEvent(std::string_view run_id, uint64_t sequence) override;
  Result<std::vector<Event>> ReadRun(std::string_view run_id, const ReadOptions& options) override;
  Result<RunInfo> GetRun(std::string_view run_id) override;
  Result<std::vector<RunInfo>> ListRuns(const RunFilter& filter) override;
  Result<std::vector<Event>> ReadGlobal(uint64_t after_position, size_t limit) override;
  uint64_t LastPosition() const override { return inner_->LastPosition(); }
  CommitStats stats() const override { return inner_->stats(); }
  uint64_t WaitForPosition(uint64_t after_position, int64_t timeout_ms) override {
    return inner_->WaitForPosition(after_position, timeout_ms);
  }
  Result<std::unique_ptr<Subscription>> Subscribe(uint64_t after_position,
                                                  SubscriptionCallback callback) override {
    return inner_->Subscribe(after_position, std::move(callback));
  }
  Result<AppendResult> Fork(std::string_view parent_run_id, uint64_t at_sequence,
                            std::string_view new_run_id, const ForkOptions& options) override;
  Status PutSnapshot(std::string_view run_id, std::string_view projection, uint32_t version,
                     uint64_t sequence, std::string_view state, Durability durability) override {
    return inner_->PutSnapshot(run_id, projection, version, sequence, state, durability);
  }
  Result<std::vector<SnapshotEntry>> ReadSnapshots(std::string_view run_id, std::string_view projection,
                                                   uint64_t at_or_before, size_t limit,
                                                   bool with_state) override;
  Status DeleteSnapshots(std::string_view run_id, std::string_view projection,
                         std::span<const uint64_t> sequences) override {
    return inner_->DeleteSnapshots(run_id, projection, sequences);
  }
  Result<uint64_t> PositionAtTime(int64_t time_us) override;
  Result<uint64_t> SequenceAtPosition(std::string_view run_id, uint64_t position) override;
  Result<std::vector<DeadlineEntry>> ListDeadlines(int64_t due_at_or_before_us, size_t limit,
                                                   const DeadlineEntry* after) override;
  Result<std::string> PutBlob(std::string_view content, Durability durability) override {
    return inner_->PutBlob(content, durability);
  }
  Result<std::string> GetBlob(std::string_view sha256) override;
  Status Verify(std::string_view run_id, VerifyStats* stats) override { return inner_->Verify(run_id, stats); }
  Status VerifyAll(VerifyStats* stats) override { return inner_->VerifyAll(stats); }
  Result<std::string> RunDigest(std::string_view run_id) override { return inner_->RunDigest(run_id); }
  Result<std::string> StoreDigest() override { return inner_->StoreDigest(); }
  Status VerifyAgainst(std::string_view digest, VerifyStats* stats) override {
    return inner_->VerifyAgainst(digest, stats);
  }

 private:
  void Read(uint64_t events = 0) {
    reads_.fetch_add(1, std::memory_order_relaxed);
    events_read_.fetch_add(events, std::memory_order_relaxed);
  }

  Store* const inner_;
  std::atomic<uint64_t> reads_{0};
  std::atomic<uint64_t> run_reads_{0};
  std::atomic<uint64_t> events_read_{0};
  std::atomic<uint64_t> appends_{0};
  std::atomic<uint64_t> events_appended_{0};
};

}  // namespace agentlog::testing

#endif  // AGENTLOG_TESTING_COUNTING_STORE_H_
