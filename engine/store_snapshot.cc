// engine/store_snapshot.cc: the snapshots space and the snapshot states in
// the blobs space (content blobs there: engine/store_blob.cc). The engine
// stores and checks snapshot bytes; what they mean is the projections' business
// (projections/projector.cc). Format: engine/record_format.md "Snapshots".
#include "engine/meta_codec.h"
#include "engine/keys.h"
#include "engine/record_codec.h"
#include "engine/store_impl.h"

namespace agentlog::internal {

namespace {

Status ValidateSnapshotNames(std::string_view run_id, std::string_view projection) {
  Status status = ValidateName(run_id, "run id");
  if (!status.ok()) return status;
  return ValidateName(projection, "projection name");
}

}  // namespace

Status StoreImpl::PutSnapshot(std::string_view run_id, std::string_view projection, uint32_t version,
                              uint64_t sequence, std::string_view state, Durability durability) {
  ReadGuard guard(this);
  if (!guard.status().ok()) return guard.status();
  Status status = RefuseIfReadOnly("PutSnapshot");
  if (!status.ok()) return status;
  status = ValidateSnapshotNames(run_id, projection);
  if (!status.ok()) return status;
  if (state.size() > kMaxSnapshotBytes) {
    return Status::LimitExceeded(SnapshotName(run_id, projection, sequence) + " is " +
                                 std::to_string(state.size()) + " bytes; the limit is " +
                                 std::to_string(kMaxSnapshotBytes));
  }
  if (sequence == 0) {
    return Status::InvalidArgument("a snapshot at sequence 0 is the projection's initial state; "
                                   "it is not stored");
  }
  // A fork's shared events are its ancestor's: the chain hash is theirs.
  auto event = ReadResolved(run_id, sequence);
  if (!event.ok()) return event.status();
  SnapshotValues values = EncodeSnapshot(run_id, projection, version, sequence, event->chain_hash(), state);
  std::string key = SnapshotKey(run_id, projection, sequence);
  WriteSet writes;  // both or neither
  writes.Put(Space::kBlobs, key, std::move(values.state));
  writes.Put(Space::kSnapshots, std::move(key), std::move(values.meta));
  return WriteBesideAppends(&writes, durability == Durability::kSync);
}

Result<std::vector<SnapshotEntry>> StoreImpl::ReadSnapshots(std::string_view run_id,
                                                            std::string_view projection,
                                                            uint64_t at_or_before, size_t limit,
                                                            bool with_state) {
  ReadGuard guard(this);
  if (!guard.status().ok()) return guard.status();
  Status status = ValidateSnapshotNames(run_id, projection);
  if (!status.ok()) return status;
  if (limit == 0 || limit > kMaxReadLimit) {
    return Status::InvalidArgument("snapshot read limit " + std::to_string(limit) + " is outside 1.." +
                                   std::to_string(kMaxReadLimit));
  }
  std::vector<SnapshotEntry> entries;
  const std::string prefix = SnapshotKeyPrefix(run_id, projection);
  auto cursor = backend_->NewCursor(Space::kSnapshots);
  // Keys hold ~sequence: newest first, so this walks forward.
  for (cursor->Seek(SnapshotKey(run_id, projection, at_or_before));
       cursor->Valid() && entries.size() < limit; cursor->Next()) {
    if (!cursor->key().starts_with(prefix)) break;
    uint64_t sequence = 0;
    if (!ParseSnapshotKey(cursor->key(), prefix, &sequence)) {
      return Status::Corruption("a snapshot key of run \"" + std::string(run_id) + "\", projection \"" +
                                std::string(projection) + "\" is malformed");
    }
    SnapshotEntry entry;
    std::string state_frame;
    if (with_state) {
      status = backend_->Get(Space::kBlobs, cursor->key(), &state_frame);
      if (status.IsNotFound()) {
        status = Status::Corruption(SnapshotName(run_id, projection, sequence) + ": its state is missing");
      }
      if (status.IsCorruption()) {
        entry.sequence = sequence;
        entry.status = status;
        entries.push_back(std::move(entry));
        continue;
      }
      if (!status.ok()) return status;
    }
    DecodeSnapshot(cursor->value(), with_state ? &state_frame : nullptr, run_id, projection, sequence, &entry);
    entries.push_back(std::move(entry));
  }
  if (!cursor->status().ok()) return cursor->status();
  return entries;
}

Status StoreImpl::DeleteSnapshots(std::string_view run_id, std::string_view projection,
                                  std::span<const uint64_t> sequences) {
  ReadGuard guard(this);
  if (!guard.status().ok()) return guard.status();
  Status status = RefuseIfReadOnly("DeleteSnapshots");
  if (!status.ok()) return status;
  status = ValidateName(run_id, "run id");
  if (!status.ok()) return status;
  WriteSet writes;
  if (projection.empty()) {
    if (!sequences.empty()) {
      return Status::InvalidArgument("deleting snapshots at given sequences needs a projection name");
    }
    // Every projection's snapshots of the run: keys start with run_id 0x00.
    // The run id is not empty, so the prefix never starts with 0x00 and the
    // range never reaches a content blob (engine/store_blob.cc); the blobs
    // deleted are only the states paired with the snapshots found.
    AGENTLOG_ASSERT(!run_id.empty());
    std::string prefix(run_id);
    prefix.push_back('\0');
    auto cursor = backend_->NewCursor(Space::kSnapshots);
    for (cursor->Seek(prefix); cursor->Valid() && cursor->key().starts_with(prefix); cursor->Next()) {
      writes.Delete(Space::kBlobs, std::string(cursor->key()));
      writes.Delete(Space::kSnapshots, std::string(cursor->key()));
    }
    if (!cursor->status().ok()) return cursor->status();
  } else {
    status = ValidateName(projection, "projection name");
    if (!status.ok()) return status;
    for (uint64_t sequence : sequences) {
      writes.Delete(Space::kBlobs, SnapshotKey(run_id, projection, sequence));
      writes.Delete(Space::kSnapshots, SnapshotKey(run_id, projection, sequence));
    }
  }
  if (writes.empty()) return Status::OK();
  return WriteBesideAppends(&writes, /*sync=*/false);
}

}  // namespace agentlog::internal
