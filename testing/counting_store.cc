// testing/counting_store.cc: see counting_store.h.
#include "testing/counting_store.h"

namespace agentlog::testing {

StoreCalls CountingStore::calls() const {
  StoreCalls calls;
  calls.reads = reads_.load(std::memory_order_relaxed);
  calls.run_reads = run_reads_.load(std::memory_order_relaxed);
  calls.events_read = events_read_.load(std::memory_order_relaxed);
  calls.appends = appends_.load(std::memory_order_relaxed);
  calls.events_appended = events_appended_.load(std::memory_order_relaxed);
  return calls;
}

void CountingStore::Reset() {
  for (std::atomic<uint64_t>* counter : {&reads_, &run_reads_, &events_read_, &appends_, &events_appended_}) {
    counter->store(0, std::memory_order_relaxed);
  }
}

Result<AppendResult> CountingStore::Append(std::string_view run_id, std::span<const EventInput> events,
                                           const AppendOptions& options) {
  appends_.fetch_add(1, std::memory_order_relaxed);
  events_appended_.fetch_add(events.size(), std::memory_order_relaxed);
  return inner_->Append(run_id, events, options);
}

Result<AppendResult> CountingStore::Fork(std::string_view parent_run_id, uint64_t at_sequence,
                                         std::string_view new_run_id, const ForkOptions& options) {
  appends_.fetch_add(1, std::memory_order_relaxed);
  return inner_->Fork(parent_run_id, at_sequence, new_run_id, options);
}

Result<Event> CountingStore::ReadEvent(std::string_view run_id, uint64_t sequence) {
  Result<Event> event = inner_->ReadEvent(run_id, sequence);
  Read(event.ok() ? 1 : 0);
  return event;
}

Result<std::vector<Event>> CountingStore::ReadRun(std::string_view run_id, const ReadOptions& options) {
  Result<std::vector<Event>> events = inner_->ReadRun(run_id, options);
  run_reads_.fetch_add(1, std::memory_order_relaxed);
  Read(events.ok() ? events->size() : 0);
  return events;
}

Result<RunInfo> CountingStore::GetRun(std::string_view run_id) {
  Read();
  return inner_->GetRun(run_id);
}

Result<std::vector<RunInfo>> CountingStore::ListRuns(const RunFilter& filter) {
  Read();
  return inner_->ListRuns(filter);
}

Result<std::vector<Event>> CountingStore::ReadGlobal(uint64_t after_position, size_t limit) {
  Result<std::vector<Event>> events = inner_->ReadGlobal(after_position, limit);
  Read(events.ok() ? events->size() : 0);
  return events;
}

Result<std::vector<SnapshotEntry>> CountingStore::ReadSnapshots(std::string_view run_id,
                                                                std::string_view projection,
                                                                uint64_t at_or_before, size_t limit,
                                                                bool with_state) {
  Read();
  return inner_->ReadSnapshots(run_id, projection, at_or_before, limit, with_state);
}

Result<uint64_t> CountingStore::PositionAtTime(int64_t time_us) {
  Read();
  return inner_->PositionAtTime(time_us);
}

Result<uint64_t> CountingStore::SequenceAtPosition(std::string_view run_id, uint64_t position) {
  Read();
  return inner_->SequenceAtPosition(run_id, position);
}

Result<std::vector<DeadlineEntry>> CountingStore::ListDeadlines(int64_t due_at_or_before_us, size_t limit,
                                                                const DeadlineEntry* after) {
  Read();
  return inner_->ListDeadlines(due_at_or_before_us, limit, after);
}

Result<std::string> CountingStore::GetBlob(std::string_view sha256) {
  Read();
  return inner_->GetBlob(sha256);
}

}  // namespace agentlog::testing
