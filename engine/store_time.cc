// engine/store_time.cc: from a wall-clock time to a global position, through
// the time index (engine/keys.h TimeIndexKey), so "every run as it stood at
// 14:02" never scans events. Format: engine/record_format.md "Time index".
#include "engine/keys.h"
#include "engine/store_impl.h"

namespace agentlog::internal {

Result<uint64_t> StoreImpl::PositionAtTime(int64_t time_us) {
  ReadGuard guard(this);
  if (!guard.status().ok()) return guard.status();
  auto cursor = backend_->NewCursor(Space::kIndex);
  cursor->SeekForPrev(TimeIndexKey(time_us));
  if (!cursor->Valid()) {
    if (!cursor->status().ok()) return cursor->status();
    return uint64_t{0};
  }
  int64_t found_us = 0;
  if (!cursor->key().starts_with(std::string_view(&kTimeIndexTag, 1))) return uint64_t{0};
  if (!ParseTimeIndexKey(cursor->key(), &found_us) || cursor->value().size() != 8) {
    return Status::Corruption("a time index entry is malformed; run agentlog verify");
  }
  const uint64_t position = GetBigEndian64(cursor->value().data());
  // Not checked against LastPosition(): the entry commits in the same write
  // as its events, a moment before that position is published.
  if (position == 0) {
    return Status::Corruption("the time index names global position 0 for time " +
                              std::to_string(found_us) + "; run agentlog verify");
  }
  return position;
}

}  // namespace agentlog::internal
