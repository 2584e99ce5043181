// engine/store_read.cc: reads. Every record is checked on the way out
// (engine/record_codec.cc CheckRecord): damage is an error, never data.
#include <chrono>

#include "engine/keys.h"
#include "engine/meta_codec.h"
#include "engine/record_codec.h"
#include "engine/store_impl.h"

namespace agentlog::internal {

namespace {
Status CheckLimit(size_t limit) {
  if (limit == 0 || limit > kMaxReadLimit) {
    return Status::InvalidArgument("read limit " + std::to_string(limit) + " is outside 1.." +
                                   std::to_string(kMaxReadLimit));
  }
  return Status::OK();
}
}  // namespace

Result<Event> StoreImpl::ReadChecked(std::string_view run_id, uint64_t sequence) {
  std::string frame;
  Status status = backend_->Get(Space::kEvents, EventKey(run_id, sequence), &frame);
  if (status.IsNotFound()) {
    return Status::NotFound(RecordName(run_id, sequence) + " does not exist");
  }
  if (!status.ok()) return status;
  const fb::Record* record = nullptr;
  status = CheckRecord(frame, run_id, sequence, &record);
  if (!status.ok()) return status;
  return Event(std::move(frame));
}

Result<Event> StoreImpl::ReadEvent(std::string_view run_id, uint64_t sequence) {
  ReadGuard guard(this);
  if (!guard.status().ok()) return guard.status();
  Status status = ValidateName(run_id, "run id");
  if (!status.ok()) return status;
  if (sequence == 0) return Status::InvalidArgument("sequence 0 does not exist; runs start at 1");
  return ReadResolved(run_id, sequence);
}

Result<RunInfo> StoreImpl::GetRun(std::string_view run_id) {
  ReadGuard guard(this);
  if (!guard.status().ok()) return guard.status();
  return LoadRunInfo(run_id);
}

Result<RunInfo> StoreImpl::LoadRunInfo(std::string_view run_id) {
  Status status = ValidateName(run_id, "run id");
  if (!status.ok()) return status;
  std::string value;
  status = backend_->Get(Space::kRuns, RunKey(run_id), &value);
  if (status.IsNotFound()) return Status::NotFound("run \"" + std::string(run_id) + "\" does not exist");
  if (!status.ok()) return status;
  RunInfo info;
  status = DecodeRunMeta(value, run_id, &info);
  if (!status.ok()) return status;
  return info;
}

Result<std::vector<Event>> StoreImpl::ReadRun(std::string_view run_id, const ReadOptions& options) {
  ReadGuard guard(this);
  if (!guard.status().ok()) return guard.status();
  Status status = CheckLimit(options.limit);
  if (!status.ok()) return status;
  auto info = LoadRunInfo(run_id);
  if (!info.ok()) return info.status();
  std::vector<Event> events;
  if (options.from_sequence > options.to_sequence || options.from_sequence > info->head_sequence) {
    return events;
  }
  const uint64_t low = std::max<uint64_t>(options.from_sequence, 1);
  const uint64_t high = std::min(options.to_sequence, info->head_sequence);
  std::vector<Segment> segments;
  status = Lineage(*info, low, &segments);
  if (!status.ok()) return status;
  for (size_t i = 0; i < segments.size() && events.size() < options.limit; ++i) {
    const Segment& segment = segments[options.reverse ? segments.size() - 1 - i : i];
    const uint64_t segment_low = std::max(low, segment.first_sequence);
    const uint64_t segment_high = std::min(high, segment.last_sequence);
    if (segment_low > segment_high) continue;
    status = ReadSegment(segment, segment_low, segment_high, options.reverse, options.limit, &events);
    if (!status.ok()) return status;
  }
  return events;
}

Status StoreImpl::ReadSegment(const Segment& segment, uint64_t low, uint64_t high, bool reverse,
                              size_t limit, std::vector<Event>* events) {
  AGENTLOG_ASSERT(segment.first_sequence <= low && low <= high && high <= segment.last_sequence);
  const std::string& run_id = segment.owner;
  auto cursor = backend_->NewCursor(Space::kEvents);
  uint64_t expected = reverse ? high : low;
  if (reverse) {
    cursor->SeekForPrev(EventKey(run_id, high));
  } else {
    cursor->Seek(EventKey(run_id, low));
  }
  while (events->size() < limit && expected >= low && expected <= high) {
    std::string_view key_run;
    uint64_t sequence = 0;
    if (!cursor->Valid() || !ParseEventKey(cursor->key(), &key_run, &sequence) ||
        key_run != run_id || sequence != expected) {
      if (!cursor->status().ok()) return cursor->status();
      return MissingOrDamaged(Status::Corruption(RecordName(run_id, expected) +
                                                 " is missing although the run's head is " +
                                                 std::to_string(segment.owner_head) + "; run agentlog verify"));
    }
    // An owned copy: cursor values need not be 8-byte aligned, as the
    // FlatBuffers readers in CheckRecord require (engine/frame.h).
    std::string frame(cursor->value());
    const fb::Record* record = nullptr;
    Status status = CheckRecord(frame, run_id, sequence, &record);
    if (!status.ok()) return status;
    events->push_back(Event(std::move(frame)));
    if (reverse) {
      --expected;
      cursor->Prev();
    } else {
      ++expected;
      cursor->Next();
    }
  }
  return Status::OK();
}

Result<std::vector<RunInfo>> StoreImpl::ListRuns(const RunFilter& filter) {
  ReadGuard guard(this);
  if (!guard.status().ok()) return guard.status();
  Status status = CheckLimit(filter.limit);
  if (!status.ok()) return status;
  if (!filter.session_id.empty()) {
    status = ValidateName(filter.session_id, "session id");
    if (!status.ok()) return status;
  }
  std::vector<RunInfo> runs;
  // Walk the narrowest index; check the other condition on the metadata.
  std::string prefix;
  Space space = Space::kRuns;
  if (!filter.session_id.empty()) {
    prefix = SessionIndexPrefix(filter.session_id);
    space = Space::kIndex;
  } else if (filter.status.has_value()) {
    prefix = StatusIndexPrefix(static_cast<uint8_t>(*filter.status));
    space = Space::kIndex;
  }
  auto cursor = backend_->NewCursor(space);
  cursor->Seek(prefix + filter.after_run_id + (filter.after_run_id.empty() ? "" : std::string(1, '\0')));
  for (; cursor->Valid() && runs.size() < filter.limit; cursor->Next()) {
    std::string_view key = cursor->key();
    if (key.substr(0, prefix.size()) != prefix) break;
    const std::string_view run_id = key.substr(prefix.size());
    if (!filter.after_run_id.empty() && run_id <= filter.after_run_id) continue;
    RunInfo info;
    if (space == Space::kRuns) {
      status = DecodeRunMeta(cursor->value(), run_id, &info);
      if (!status.ok()) return status;
    } else {
      auto found = LoadRunInfo(run_id);
      if (found.status().IsNotFound()) {
        return Status::Corruption("the runs index names run \"" + std::string(run_id) +
                                  "\", which has no metadata; run agentlog verify");
      }
      if (!found.ok()) return found.status();
      info = std::move(found).value();
    }
    if (filter.status.has_value() && info.status != *filter.status) continue;
    if (!filter.session_id.empty() && info.session_id != filter.session_id) continue;
    runs.push_back(std::move(info));
  }
  if (!cursor->status().ok()) return cursor->status();
  return runs;
}

Result<std::vector<Event>> StoreImpl::ReadGlobal(uint64_t after_position, size_t limit) {
  ReadGuard guard(this);
  if (!guard.status().ok()) return guard.status();
  return ReadGlobalUnguarded(after_position, limit);
}

Result<std::vector<Event>> StoreImpl::ReadGlobalUnguarded(uint64_t after_position, size_t limit) {
  Status status = CheckLimit(limit);
  if (!status.ok()) return status;
  std::vector<Event> events;
  if (after_position == UINT64_MAX) return events;
  auto cursor = backend_->NewCursor(Space::kGlobal);
  // Made after the global cursor, so it sees every event that one names
  // (both are written in one batch).
  auto events_cursor = backend_->NewCursor(Space::kEvents);
  uint64_t expected = after_position + 1;
  for (cursor->Seek(GlobalKey(expected)); cursor->Valid() && events.size() < limit;
       cursor->Next(), ++expected) {
    uint64_t position = 0;
    std::string_view run_id;
    uint64_t sequence = 0;
    if (!ParseGlobalKey(cursor->key(), &position) ||
        !ParseGlobalValue(cursor->value(), &run_id, &sequence)) {
      return Status::Corruption("global index entry after position " + std::to_string(expected - 1) +
                                " is malformed; run agentlog verify");
    }
    if (position != expected) {
      return MissingOrDamaged(Status::Corruption("global index jumps from position " + std::to_string(expected - 1) +
                                " to " + std::to_string(position) + "; run agentlog verify"));
    }
    // Consecutive positions usually name consecutive events of one run:
    // the events cursor is then already on the key, and a Next replaces a
    // point lookup (a Seek only when the feed moves to another run).
    const std::string key = EventKey(run_id, sequence);
    if (!events_cursor->Valid() || events_cursor->key() != key) events_cursor->Seek(key);
    if (!events_cursor->Valid() || events_cursor->key() != key) {
      if (!events_cursor->status().ok()) return events_cursor->status();
      return MissingOrDamaged(Status::Corruption("global position " + std::to_string(position) + " names " +
                                                 RecordName(run_id, sequence) + ", which does not exist"));
    }
    std::string frame(events_cursor->value());
    const fb::Record* record = nullptr;
    status = CheckRecord(frame, run_id, sequence, &record);
    if (!status.ok()) return status;
    Event event(std::move(frame));
    if (event.global_position() != position) {
      return Status::Corruption("global position " + std::to_string(position) + " names " +
                                RecordName(run_id, sequence) + ", whose envelope says position " +
                                std::to_string(event.global_position()));
    }
    events.push_back(std::move(event));
    events_cursor->Next();
  }
  if (!cursor->status().ok()) return cursor->status();
  if (!events_cursor->status().ok()) return events_cursor->status();
  return events;
}

Status StoreImpl::MissingOrDamaged(Status missing) {
  AGENTLOG_ASSERT(missing.IsCorruption());
  Status files = backend_->VerifyFiles();
  if (files.ok() || files.IsClosed()) return missing;
  return Status::Corruption("the store's files are damaged (" + files.message() + "), and that hides data: " +
                            missing.message());
}

uint64_t StoreImpl::LastPosition() const {
  MutexLock lock(&notifier_->mu);
  return notifier_->last_position;
}

uint64_t StoreImpl::WaitForPosition(uint64_t after_position, int64_t timeout_ms) {
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::milliseconds(std::max<int64_t>(timeout_ms, 0));
  MutexLock lock(&notifier_->mu);
  while (!notifier_->closed && notifier_->last_position <= after_position) {
    if (!notifier_->cv.WaitUntil(deadline) && std::chrono::steady_clock::now() >= deadline) break;
  }
  return notifier_->last_position;
}

}  // namespace agentlog::internal
