// engine/store_open.cc: opening and closing a store.
#include "base/crypto.h"
#include "engine/keys.h"
#include "engine/record_codec.h"
#include "engine/store_impl.h"
#include "engine/subscription.h"

namespace agentlog {

namespace {
constexpr std::string_view kFormatMarkerKey = "agentlog.format";
constexpr std::string_view kFormatVersion = "1";
constexpr size_t kMaxEventBytesCeiling = size_t{64} << 20;

// Checked before anything is opened or created.
Status ValidateOptions(const Options& options) {
  if (options.clock == nullptr) {
    return Status::InvalidArgument(
        "Options::clock is null; pass agentlog::SystemClock() or a ManualClock");
  }
  const std::pair<size_t, const char*> at_least_one[] = {
      {options.max_event_bytes, "max_event_bytes"},
      {options.max_append_events, "max_append_events"},
      {options.max_append_bytes, "max_append_bytes"},
      {options.max_commit_batch_appends, "max_commit_batch_appends"},
      {options.max_queued_appends, "max_queued_appends"}};
  for (const auto& [value, name] : at_least_one) {
    if (value == 0) return Status::InvalidArgument(std::string("Options::") + name + " is 0; it must be at least 1");
  }
  if (options.max_event_bytes > kMaxEventBytesCeiling) {
    return Status::InvalidArgument("Options::max_event_bytes is " + std::to_string(options.max_event_bytes) +
                                   "; the most is 64 MiB: store larger outputs as artifacts");
  }
  if (options.max_commit_batch_appends > internal::kMaxCachedRuns) {
    return Status::InvalidArgument("Options::max_commit_batch_appends is " +
                                   std::to_string(options.max_commit_batch_appends) + "; the most is " +
                                   std::to_string(internal::kMaxCachedRuns));
  }
  return Status::OK();
}

Result<std::unique_ptr<Store>> OpenOnRocksDb(const Options& options, const std::string& path,
                                             bool read_only) {
  Status valid = ValidateOptions(options);
  if (!valid.ok()) return valid;
  if (path.empty()) return Status::InvalidArgument("store path is empty");
  internal::BackendOptions backend_options;
  backend_options.rocksdb = RocksDbOptionsOf(options);
  backend_options.clock = options.clock;
  backend_options.read_only = read_only;
  backend_options.create_if_missing = options.create_if_missing;
  backend_options.error_if_exists = options.error_if_exists;
  backend_options.truncate_log_at_damage = options.truncate_log_at_damage;
  auto backend = internal::OpenRocksDbBackend(backend_options, path);
  if (!backend.ok()) return backend.status();
  return internal::OpenStoreOnBackend(options, std::move(backend).value(), read_only);
}

}  // namespace

RocksDbOptions RocksDbOptionsOf(const Options& options) {
  return options.rocksdb != nullptr ? *options.rocksdb : RocksDbOptions();
}

Result<std::unique_ptr<Store>> Store::Open(const Options& options, const std::string& path) {
  return OpenOnRocksDb(options, path, /*read_only=*/false);
}

Result<std::unique_ptr<Store>> Store::OpenReadOnly(const Options& options, const std::string& path) {
  return OpenOnRocksDb(options, path, /*read_only=*/true);
}

namespace internal {

Result<std::unique_ptr<Store>> OpenStoreOnBackend(const Options& options,
                                                  std::unique_ptr<Backend> backend, bool read_only) {
  Status valid = ValidateOptions(options);
  if (!valid.ok()) return valid;
  auto store = std::make_unique<StoreImpl>(options, std::move(backend), read_only);
  Status status = store->Start();
  if (!status.ok()) return status;
  return std::unique_ptr<Store>(std::move(store));
}

StoreImpl::StoreImpl(const Options& options, std::unique_ptr<Backend> backend, bool read_only)
    : options_(options), backend_(std::move(backend)), read_only_(read_only),
      notifier_(std::make_shared<CommitNotifier>()) {}

Status StoreImpl::RefuseIfReadOnly(std::string_view what) const {
  if (!read_only_) return Status::OK();
  return Status::InvalidArgument(std::string(what) + " refused: the store was opened read-only "
                                 "(Store::OpenReadOnly); open it with Store::Open to write");
}

StoreImpl::~StoreImpl() { Close().IgnoreError(); /* destructor: nobody to tell */ }

Status StoreImpl::Start() {
  Status status = CheckFormatMarker();
  if (!status.ok()) return status;
  uint64_t position = 0;
  auto cursor = backend_->NewCursor(Space::kGlobal);
  cursor->SeekToLast();
  if (!cursor->status().ok()) return cursor->status();
  if (cursor->Valid()) {
    std::string_view run_id;
    uint64_t sequence = 0;
    if (!ParseGlobalKey(cursor->key(), &position) ||
        !ParseGlobalValue(cursor->value(), &run_id, &sequence)) {
      return Status::Corruption("the global index's last entry (key " + HexEncode(cursor->key()) +
                                ") is malformed; run agentlog verify");
    }
    auto last = ReadChecked(run_id, sequence);
    if (last.status().IsNotFound()) {
      return Status::Corruption("the global index's last entry (position " + std::to_string(position) +
                                ") names " + RecordName(run_id, sequence) +
                                ", which does not exist; run agentlog verify");
    }
    if (!last.ok()) return last.status();
    last_timestamp_us_ = last->timestamp_us();
  }
  // The last clean close recorded where the store ended. Anything else now
  // is a loss (or an addition) that no file check explained: record it, so
  // that no later open takes the store as it is for whole.
  if (std::optional<uint64_t> closed = backend_->closed_high_water(); closed && *closed != position) {
    const std::string message =
        "the store was closed cleanly at global position " + std::to_string(*closed) +
        ", but it opened ending at position " + std::to_string(position) +
        ": committed events are missing (or were added behind agentlog's back)";
    Status recorded = backend_->RecordDamage(message);
    return Status::Corruption(message + (recorded.ok() ? "" : " (" + recorded.ToString() + ")") +
                              "; restore the store from a copy");
  }
  {
    MutexLock lock(&notifier_->mu);
    notifier_->last_position = position;
  }
  started_ = true;
  return Status::OK();
}

Status StoreImpl::CheckFormatMarker() {
  std::string marker;
  Status status = backend_->Get(Space::kMeta, kFormatMarkerKey, &marker);
  if (status.IsNotFound()) {
    // No marker: either a creation that stopped before writing it (a crash
    // right after the database was made), which we finish, or damage. The
    // backend refused databases whose column families are not all ours
    // before we got here, so data without the marker is an agentlog store
    // whose metadata lost it (a damaged MANIFEST dropping the table that
    // held it): Corruption, never "not ours", never adopted.
    for (size_t space = 0; space < kSpaceCount; ++space) {
      auto cursor = backend_->NewCursor(static_cast<Space>(space));
      cursor->Seek("");
      if (!cursor->status().ok()) return cursor->status();
      if (cursor->Valid()) {
        return Status::Corruption(
            "the store's format marker is missing while its \"" +
            std::string(SpaceName(static_cast<Space>(space))) +
            "\" column family holds data: the store's metadata is damaged (a damaged "
            "MANIFEST?); restore the store from a copy");
      }
    }
    // A reader finds no store; a writer finishes creating it.
    if (read_only_) return Status::NotFound("no agentlog store here: its creation did not finish");
    WriteSet writes;
    writes.Put(Space::kMeta, std::string(kFormatMarkerKey), std::string(kFormatVersion));
    return backend_->Write(writes, /*sync=*/true);
  }
  if (!status.ok()) return status;
  if (marker != kFormatVersion) {
    return Status::InvalidArgument("the store has format version \"" + marker +
                                   "\"; this build reads version " + std::string(kFormatVersion) +
                                   "; upgrade agentlog to open it");
  }
  return Status::OK();
}

Status StoreImpl::Close() {
  {
    MutexLock lock(&mu_);
    if (closing_) {
      // Another Close is doing the work: wait for it, so that the caller may
      // reopen the directory as soon as this returns.
      while (!closed_) idle_cv_.Wait();
      return Status::OK();
    }
    closing_ = true;
    // Appends already queued are still committed and answered.
    space_cv_.SignalAll();
    while (!queue_.empty() || committing_) idle_cv_.Wait();
  }
  Status status = StopSubscriptions();
  {
    MutexLock lock(&read_mu_);
    reads_closed_ = true;
    while (readers_ > 0) readers_done_cv_.Wait();
  }
  // Buffered appends become durable at a clean close, as at a sync append.
  // After a failed write there is nothing more to make durable, and the
  // caller learns that the store had stopped.
  Status write_failure;
  {
    MutexLock lock(&mu_);
    write_failure = write_failure_;
  }
  Status sync_status = read_only_ ? Status::OK()
                       : write_failure.ok() ? backend_->SyncWal()
                                            : Stopped(write_failure);
  // Clean: every write made durable. The backend records where the store
  // ends, for the next open to check.
  std::optional<uint64_t> clean_high_water;
  if (started_ && write_failure.ok() && sync_status.ok()) clean_high_water = LastPosition();
  Status backend_status = backend_->Close(clean_high_water);
  {
    MutexLock lock(&mu_);
    closed_ = true;
    idle_cv_.SignalAll();
  }
  if (!status.ok()) return status;
  return sync_status.ok() ? backend_status : sync_status;
}

StoreImpl::ReadGuard::ReadGuard(StoreImpl* store) : store_(store) {
  MutexLock lock(&store_->read_mu_);
  if (store_->reads_closed_) {
    status_ = Status::Closed("the store is closed; open it again to use it");
  } else {
    ++store_->readers_;
  }
}

StoreImpl::ReadGuard::~ReadGuard() {
  if (!status_.ok()) return;  // never counted
  MutexLock lock(&store_->read_mu_);
  AGENTLOG_ASSERT(store_->readers_ > 0);
  if (--store_->readers_ == 0) store_->readers_done_cv_.SignalAll();
}

Status StoreImpl::StopSubscriptions() {
  {
    MutexLock lock(&notifier_->mu);
    notifier_->closed = true;
  }
  notifier_->cv.SignalAll();
  std::vector<std::shared_ptr<SubscriptionCore>> live;
  {
    MutexLock lock(&mu_);
    for (auto& weak : subscriptions_) {
      if (auto core = weak.lock()) live.push_back(std::move(core));
    }
    subscriptions_.clear();
  }
  for (auto& core : live) core->Stop(Status::Closed("the store was closed"));
  return Status::OK();
}

}  // namespace internal
}  // namespace agentlog
