// engine/store_verify_derived.cc: Verify's and VerifyAll's checks of what is
// derived from the events -- the status, session, time and deadline
// indexes, the idempotency entries, the content blobs the events name and
// the snapshots -- that it is all there and says what the events say
// (engine/record_format.md gives each entry). A missing entry misleads as
// surely as a wrong one: a run missing from the status index is a run
// Recover never sees. The per-record checks are point reads, only for the
// records that imply an entry; the store-wide ones walk each space once.
#include "engine/frame.h"
#include "engine/keys.h"
#include "engine/meta_codec.h"
#include "engine/record_codec.h"
#include "engine/store_impl.h"

namespace agentlog::internal {

namespace {

Status Missing(const std::string& what, const std::string& why,
               const std::string& cause = "the index was damaged or edited") {
  return Status::Corruption(what + " is missing: " + why + " (" + cause + "; restore the store from a copy)");
}

}  // namespace

Status StoreImpl::CheckEntryPresent(Space space, const std::string& key, const std::string& what,
                                    const std::string& why, std::string* value) {
  std::string found;
  Status status = backend_->Get(space, key, value != nullptr ? value : &found);
  if (status.IsNotFound()) return Missing(what, why);
  return status;
}

Status StoreImpl::CheckRecordDerived(std::string_view run_id, std::string_view owner, const fb::Record* record,
                                     std::string* last_key) {
  const std::string name = RecordName(owner, record->sequence());
  const fb::Event* event =
      record->payload_state() == fb::PayloadState_Present ? record->payload_nested_root() : nullptr;
  if (event != nullptr && event->body_type() == fb::Body_DeadlineSet) {
    const fb::DeadlineSet* deadline = event->body_as_DeadlineSet();
    if (deadline != nullptr && deadline->deadline_at_us() != 0) {
      // A fork indexes its shared prefix's deadlines under its own id.
      std::string value;
      Status status = CheckEntryPresent(Space::kIndex,
                                        DeadlineIndexKey(deadline->deadline_at_us(), run_id,
                                                         StringOf(deadline->scope_step_id())),
                                        "the deadline index entry of run \"" + std::string(run_id) + "\" for " + name,
                                        "that event sets a deadline", &value);
      if (!status.ok()) return status;
      if (value.size() != 8 || GetBigEndian64(value.data()) < record->sequence()) {
        return Status::Corruption("the deadline index entry of run \"" + std::string(run_id) + "\" for " + name +
                                  " names an earlier event (the index was edited)");
      }
    }
  }
  if (event != nullptr && event->body_type() == fb::Body_ArtifactStored) {
    const fb::ArtifactStored* artifact = event->body_as_ArtifactStored();
    const std::string_view hash = artifact == nullptr ? std::string_view() : BytesOf(artifact->content_hash());
    if (hash.size() == kHashBytes) {
      Result<std::string> content = GetBlobUnguarded(hash);
      if (content.status().IsNotFound()) {
        return Missing(BlobName(hash), name + " stored it",
                       "deleted, or never stored: Store::PutBlob before appending the event that names it");
      }
      if (!content.ok()) return content.status();
    }
  }
  // The key's entry is the run's own: a fork's shared records belong to the
  // ancestor that wrote them.
  const std::string_view key = StringOf(record->idempotency_key());
  if (key.empty() || owner != run_id || key == *last_key) return Status::OK();
  *last_key = std::string(key);
  std::string value;
  Status status = CheckEntryPresent(Space::kIdempotency, std::string(key),
                                    "the idempotency entry of key \"" + std::string(key.substr(0, 64)) + "\"",
                                    name + " was appended with it", &value);
  if (!status.ok()) return status;
  IdempotencyRecord entry;
  status = DecodeIdempotency(value, key, &entry);
  if (!status.ok()) return status;
  if (entry.run_id != run_id || record->sequence() < entry.result.first_sequence ||
      record->sequence() > entry.result.last_sequence) {
    return Status::Corruption("the idempotency entry of key \"" + std::string(key.substr(0, 64)) + "\" names run \"" +
                              entry.run_id + "\" events " + std::to_string(entry.result.first_sequence) + ".." +
                              std::to_string(entry.result.last_sequence) + ", but " + name +
                              " was appended with it (the entry was edited)");
  }
  return Status::OK();
}

Status StoreImpl::CheckRunDerived(const RunInfo& info) {
  Status status = CheckEntryPresent(Space::kIndex, StatusIndexKey(static_cast<uint8_t>(info.status), info.run_id),
                                    "the status index entry of run \"" + info.run_id + "\"",
                                    "its events leave it " + std::string(RunStatusName(info.status)), nullptr);
  if (!status.ok() || info.session_id.empty()) return status;
  return CheckEntryPresent(Space::kIndex, SessionIndexKey(info.session_id, info.run_id),
                           "the session index entry of run \"" + info.run_id + "\"",
                           "it belongs to session \"" + info.session_id + "\"", nullptr);
}

Status StoreImpl::CountIndexEntries(char tag, uint64_t expected, const std::string& what) {
  uint64_t count = 0;
  auto cursor = backend_->NewCursor(Space::kIndex);
  const std::string prefix(1, tag);
  for (cursor->Seek(prefix); cursor->Valid() && cursor->key().starts_with(prefix); cursor->Next()) ++count;
  if (!cursor->status().ok()) return cursor->status();
  if (count != expected) {
    return Status::Corruption("the " + what + " index holds " + std::to_string(count) + " entries, but " +
                              std::to_string(expected) + " runs should be in it: an entry names a run in a "
                              "state it is not in (the index was edited)");
  }
  return Status::OK();
}

Status StoreImpl::VerifyIdempotencyEntries() {
  auto cursor = backend_->NewCursor(Space::kIdempotency);
  for (cursor->Seek(""); cursor->Valid(); cursor->Next()) {
    const std::string key(cursor->key());
    IdempotencyRecord entry;
    Status status = DecodeIdempotency(cursor->value(), key, &entry);
    if (!status.ok()) return status;
    auto first = ReadChecked(entry.run_id, entry.result.first_sequence);
    if (!first.ok() && !first.status().IsNotFound()) return first.status();
    if (!first.ok() || first->idempotency_key() != key) {
      return Status::Corruption("the idempotency entry of key \"" + key.substr(0, 64) + "\" names " +
                                RecordName(entry.run_id, entry.result.first_sequence) +
                                ", which was not appended with that key (the entry was edited)");
    }
  }
  return cursor->status();
}

Status StoreImpl::VerifySnapshotEntries() {
  auto cursor = backend_->NewCursor(Space::kSnapshots);
  for (cursor->Seek(""); cursor->Valid(); cursor->Next()) {
    const std::string_view key = cursor->key();
    const size_t run_end = key.find('\0');
    const size_t projection_end = run_end == std::string_view::npos ? run_end : key.find('\0', run_end + 1);
    uint64_t sequence = 0;
    if (projection_end == std::string_view::npos ||
        !ParseSnapshotKey(key, key.substr(0, projection_end + 1), &sequence)) {
      return Status::Corruption("a snapshot key (" + HexEncode(key.substr(0, 80)) + ") is malformed");
    }
    const std::string run_id(key.substr(0, run_end));
    const std::string projection(key.substr(run_end + 1, projection_end - run_end - 1));
    const std::string name = SnapshotName(run_id, projection, sequence);
    std::string state;
    Status status = CheckEntryPresent(Space::kBlobs, std::string(key), "the state of the " + name,
                                      "its metadata is stored", &state);
    if (!status.ok()) return status;
    SnapshotEntry entry;
    DecodeSnapshot(cursor->value(), &state, run_id, projection, sequence, &entry);
    if (!entry.status.ok()) return entry.status;
    auto event = ReadResolved(run_id, sequence);
    if (!event.ok() && !event.status().IsNotFound()) return event.status();
    if (!event.ok() || event->chain_hash() != entry.chain_hash) {
      return Status::Corruption("the " + name + " was not taken on the run's history (" +
                                (event.ok() ? "its chain hash is not the event's" : "no such event") +
                                "); delete it (Store::DeleteSnapshots)");
    }
  }
  return cursor->status();
}

Status StoreImpl::VerifyContentBlobs() {
  auto cursor = backend_->NewCursor(Space::kBlobs);
  const std::string prefix = std::string(1, '\0') + kContentBlobTag;
  for (cursor->Seek(prefix); cursor->Valid() && cursor->key().starts_with(prefix); cursor->Next()) {
    const std::string_view key = cursor->key();
    if (key.size() != kContentBlobKeyBytes) {
      return Status::Corruption("a content blob key (" + HexEncode(key.substr(0, 80)) + ") is malformed");
    }
    Result<std::string> content = GetBlobUnguarded(key.substr(2));
    if (!content.ok()) return content.status();
  }
  return cursor->status();
}

void TimeIndexCheck::Feed(const Event& event) {
  if (event.timestamp_us() != timestamp_us_ && position_ != 0) expected_.push_back({timestamp_us_, position_});
  timestamp_us_ = event.timestamp_us();
  position_ = event.global_position();
}

Status TimeIndexCheck::Finish(Backend* backend, uint64_t through_position) {
  if (position_ != 0) expected_.push_back({timestamp_us_, position_});
  auto cursor = backend->NewCursor(Space::kIndex);
  size_t next = 0;
  const std::string prefix(1, kTimeIndexTag);
  for (cursor->Seek(prefix); cursor->Valid() && cursor->key().starts_with(prefix); cursor->Next()) {
    int64_t timestamp_us = 0;
    if (!ParseTimeIndexKey(cursor->key(), &timestamp_us) || cursor->value().size() != 8) {
      return Status::Corruption("a time index entry (" + HexEncode(cursor->key().substr(0, 40)) + ") is malformed");
    }
    const uint64_t position = GetBigEndian64(cursor->value().data());
    if (next == expected_.size()) {
      if (position > through_position) continue;  // committed while VerifyAll walked
      return Status::Corruption("the time index has an entry for time " + std::to_string(timestamp_us) +
                                " that no event up to position " + std::to_string(through_position) +
                                " was committed at (the index was edited)");
    }
    const Expected& want = expected_[next];
    // The last time may have got a later append since the walk began.
    const bool later_append = next + 1 == expected_.size() && position > through_position;
    if (timestamp_us != want.timestamp_us || (position != want.position && !later_append)) {
      return Status::Corruption("the time index says the last event at or before time " +
                                std::to_string(timestamp_us) + " is at position " + std::to_string(position) +
                                "; the events say time " + std::to_string(want.timestamp_us) + ", position " +
                                std::to_string(want.position) + " (the index was damaged or edited)");
    }
    ++next;
  }
  if (!cursor->status().ok()) return cursor->status();
  if (next != expected_.size()) {
    return Missing("the time index entry for time " + std::to_string(expected_[next].timestamp_us),
                   "position " + std::to_string(expected_[next].position) + " was committed then");
  }
  return Status::OK();
}

}  // namespace agentlog::internal
