// engine/store_deadline.cc: the deadline index. Every DeadlineSet event
// with a deadline writes, in its append's batch, one `index` entry keyed by
// deadline, run and step, so "which deadlines are due by T" is a range read,
// never a scan of events. Entries are never deleted: a deadline that a later
// DeadlineSet replaced (or lifted with 0), or that the run met, stays listed,
// and the caller (the runtime) checks each entry against the run's current
// state. Format: engine/record_format.md, "Deadline index".
#include <algorithm>
#include <climits>

#include "engine/keys.h"
#include "engine/record_codec.h"
#include "engine/store_impl.h"

namespace agentlog::internal {

namespace {


std::string SequenceValue(uint64_t sequence) {
  std::string value;
  PutBigEndian64(&value, sequence);
  return value;
}

// "deadline 1700000000000000 of run \"r1\" step \"fetch\"", for messages.
std::string EntryName(int64_t deadline_at_us, std::string_view run_id, std::string_view step_id) {
  std::string name = "deadline " + std::to_string(deadline_at_us) + " of " + RunName(run_id);
  if (!step_id.empty()) name += " step \"" + std::string(step_id.substr(0, 128)) + "\"";
  return name;
}

// Decodes the entry under the cursor; Corruption if its key or value is not
// the documented layout.
Status DecodeEntry(const Cursor& cursor, DeadlineEntry* entry) {
  std::string_view run_id, step_id;
  if (!ParseDeadlineIndexKey(cursor.key(), &entry->deadline_at_us, &run_id, &step_id) ||
      !ValidateName(run_id, "run id").ok()) {
    return Status::Corruption("a deadline index key of " + std::to_string(cursor.key().size()) +
                              " bytes is malformed; run agentlog verify");
  }
  entry->run_id = std::string(run_id);
  entry->step_id = std::string(step_id);
  entry->sequence = cursor.value().size() == 8 ? GetBigEndian64(cursor.value().data()) : 0;
  if (entry->sequence == 0) {
    return Status::Corruption("the deadline index entry for " +
                              EntryName(entry->deadline_at_us, run_id, step_id) +
                              " has no valid event sequence (" +
                              std::to_string(cursor.value().size()) + "-byte value); run agentlog verify");
  }
  return Status::OK();
}

}  // namespace

void StoreImpl::StageDeadlines(std::string_view run_id, const ForkStart* fork,
                               const std::vector<PreparedEvent>& events, uint64_t first_sequence,
                               WriteSet* writes) {
  if (fork != nullptr) {
    // The fork's history includes the prefix, so its deadlines are the
    // fork's too, under the fork's own id (the parent's entries name the
    // parent, whose later events do not concern the fork).
    for (const DeadlineEntry& inherited : fork->deadlines) {
      AGENTLOG_ASSERT(inherited.sequence >= 1 && inherited.sequence <= fork->fork_sequence);
      AGENTLOG_ASSERT(inherited.deadline_at_us != 0);
      writes->Put(Space::kIndex, DeadlineIndexKey(inherited.deadline_at_us, run_id, inherited.step_id),
                  SequenceValue(inherited.sequence));
    }
  }
  uint64_t sequence = first_sequence;
  for (const PreparedEvent& event : events) {
    // Same key again (same run, step and deadline): the later event wins,
    // as the batch applies puts in order.
    if (IndexesDeadline(event.facts)) {
      writes->Put(Space::kIndex,
                  DeadlineIndexKey(event.facts.deadline_at_us, run_id, event.facts.deadline_step_id),
                  SequenceValue(sequence));
    }
    ++sequence;
  }
  AGENTLOG_ASSERT(sequence - first_sequence == events.size());
}

Result<std::vector<DeadlineEntry>> StoreImpl::ListDeadlines(int64_t due_at_or_before_us,
                                                            size_t limit,
                                                            const DeadlineEntry* after) {
  ReadGuard guard(this);
  if (!guard.status().ok()) return guard.status();
  if (limit == 0 || limit > kMaxReadLimit) {
    return Status::InvalidArgument("deadline read limit " + std::to_string(limit) + " is outside 1.." +
                                   std::to_string(kMaxReadLimit));
  }
  std::string start;
  if (after != nullptr) {
    Status status = ValidateName(after->run_id, "run id of the `after` deadline entry");
    if (!status.ok()) return status;
    // The key with a NUL appended is the first key after it: exclusive.
    start = DeadlineIndexKey(after->deadline_at_us, after->run_id, after->step_id);
    start.push_back('\0');
  } else {
    start = DeadlineIndexPrefix(INT64_MIN);
  }
  std::vector<DeadlineEntry> entries;
  auto cursor = backend_->NewCursor(Space::kIndex);
  for (cursor->Seek(start); cursor->Valid() && entries.size() < limit; cursor->Next()) {
    if (cursor->key().empty() || cursor->key()[0] != kDeadlineIndexTag) break;
    DeadlineEntry entry;
    Status status = DecodeEntry(*cursor, &entry);
    if (!status.ok()) return status;
    if (entry.deadline_at_us > due_at_or_before_us) break;  // keys are in deadline order
    entries.push_back(std::move(entry));
  }
  if (!cursor->status().ok()) return cursor->status();
  AGENTLOG_ASSERT(entries.size() <= limit);
  return entries;
}

Status StoreImpl::VerifyDeadlineIndex() {
  // Soundness here; completeness is Verify's walk (CheckRecordDerived):
  // every DeadlineSet has its entry.
  auto cursor = backend_->NewCursor(Space::kIndex);
  for (cursor->Seek(DeadlineIndexPrefix(INT64_MIN)); cursor->Valid(); cursor->Next()) {
    if (cursor->key().empty() || cursor->key()[0] != kDeadlineIndexTag) break;
    DeadlineEntry entry;
    Status status = DecodeEntry(*cursor, &entry);
    if (!status.ok()) return status;
    const std::string name = EntryName(entry.deadline_at_us, entry.run_id, entry.step_id);
    auto event = ReadResolved(entry.run_id, entry.sequence);
    if (event.status().IsNotFound()) {
      return Status::Corruption("the deadline index lists " + name + " as set by event " +
                                std::to_string(entry.sequence) +
                                ", which does not exist (the index was edited)");
    }
    if (!event.ok()) return event.status();
    if (event->type() != fb::Body_DeadlineSet) {
      return Status::Corruption("the deadline index lists " + name + " as set by " +
                                RecordName(entry.run_id, entry.sequence) + ", which is " +
                                event->type_name() + ", not DeadlineSet (the index was edited)");
    }
    const fb::Event* body = event->body();
    if (body == nullptr) continue;  // payload removed by policy: nothing left to compare
    // Stored data, so no assert: the envelope's type and the payload's
    // body could disagree in a damaged record.
    const fb::DeadlineSet* deadline = body->body_as_DeadlineSet();
    if (deadline == nullptr) {
      return Status::Corruption(RecordName(entry.run_id, entry.sequence) +
                                ": the envelope says DeadlineSet, the payload holds another body");
    }
    if (deadline->deadline_at_us() != entry.deadline_at_us ||
        StringOf(deadline->scope_step_id()) != entry.step_id) {
      return Status::Corruption("the deadline index lists " + name + " as set by " +
                                RecordName(entry.run_id, entry.sequence) + ", which sets " +
                                EntryName(deadline->deadline_at_us(), entry.run_id,
                                          StringOf(deadline->scope_step_id())) +
                                " (the index was edited)");
    }
  }
  return cursor->status();
}

}  // namespace agentlog::internal
