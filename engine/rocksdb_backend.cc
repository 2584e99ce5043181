// engine/rocksdb_backend.cc: the Backend seam on RocksDB. The only file
// that includes RocksDB headers. One column family per Space; one
// rocksdb::WriteBatch per WriteSet, so an append is atomic across them.
#include <algorithm>
#include <atomic>
#include <mutex>
#include <shared_mutex>

#include <rocksdb/db.h>
#include <rocksdb/env.h>
#include <rocksdb/file_system.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/table.h>
#include <rocksdb/utilities/options_util.h>
#include <rocksdb/write_batch.h>

#include "engine/assert.h"
#include "engine/backend.h"

namespace agentlog::internal {

std::string_view SpaceName(Space space) {
  switch (space) {
    case Space::kEvents: return "events";
    case Space::kRuns: return "runs";
    case Space::kGlobal: return "global";
    case Space::kIdempotency: return "idempotency";
    case Space::kSnapshots: return "snapshots";
    case Space::kBlobs: return "blobs";
    case Space::kIndex: return "index";
    case Space::kMeta: return "default";
  }
  return "unknown";
}

namespace {

Status FromRocks(const rocksdb::Status& status, std::string_view context) {
  if (status.ok()) return Status::OK();
  std::string message = std::string(context) + ": " + status.ToString();
  if (status.IsNotFound()) return Status::NotFound(std::move(message));
  if (status.IsCorruption()) return Status::Corruption(std::move(message));
  if (status.IsInvalidArgument()) return Status::InvalidArgument(std::move(message));
  if (status.IsBusy() || status.IsTryAgain()) return Status::Busy(std::move(message));
  return Status::IOError(std::move(message));
}

class RocksCursor final : public Cursor {
 public:
  RocksCursor(std::unique_ptr<rocksdb::Iterator> iterator) : iterator_(std::move(iterator)) {}
  void Seek(std::string_view key) override { iterator_->Seek(rocksdb::Slice(key.data(), key.size())); }
  void SeekForPrev(std::string_view key) override {
    iterator_->SeekForPrev(rocksdb::Slice(key.data(), key.size()));
  }
  void SeekToLast() override { iterator_->SeekToLast(); }
  bool Valid() const override { return iterator_->Valid(); }
  void Next() override { iterator_->Next(); }
  void Prev() override { iterator_->Prev(); }
  std::string_view key() const override {
    const rocksdb::Slice key = iterator_->key();
    return std::string_view(key.data(), key.size());
  }
  std::string_view value() const override {
    const rocksdb::Slice value = iterator_->value();
    return std::string_view(value.data(), value.size());
  }
  Status status() const override { return FromRocks(iterator_->status(), "reading the store"); }

 private:
  std::unique_ptr<rocksdb::Iterator> iterator_;
};

class RocksDbBackend final : public Backend {
 public:
  RocksDbBackend(std::unique_ptr<rocksdb::Env> env, std::unique_ptr<rocksdb::DB> db,
                 std::vector<rocksdb::ColumnFamilyHandle*> handles)
      : env_(std::move(env)), db_(std::move(db)), handles_(std::move(handles)) {
    AGENTLOG_ASSERT(handles_.size() == kSpaceCount);
  }
  ~RocksDbBackend() override { Close().IgnoreError(); /* destructor: nobody to tell */ }

  Status Get(Space space, std::string_view key, std::string* value) override {
    if (db_ == nullptr) return Status::Closed("the store is closed; open it again to use it");
    rocksdb::PinnableSlice pinned;
    rocksdb::Status status = db_->Get(rocksdb::ReadOptions(), Handle(space),
                                      rocksdb::Slice(key.data(), key.size()), &pinned);
    if (status.IsNotFound()) return Status::NotFound("no such key");
    if (!status.ok()) return FromRocks(status, "reading " + std::string(SpaceName(space)));
    value->assign(pinned.data(), pinned.size());
    return Status::OK();
  }

  Status Write(const WriteSet& writes, bool sync) override {
    if (db_ == nullptr) return Status::Closed("the store is closed; open it again to use it");
    rocksdb::WriteBatch batch(writes.bytes() + 64 * writes.ops().size());
    for (const WriteSet::Op& op : writes.ops()) {
      rocksdb::Status status =
          op.is_delete ? batch.Delete(Handle(op.space), op.key) : batch.Put(Handle(op.space), op.key, op.value);
      if (!status.ok()) return FromRocks(status, "building the write batch");
    }
    rocksdb::WriteOptions options;
    options.sync = sync;
    std::shared_lock<std::shared_mutex> lock(wal_mu_);
    rocksdb::Status status = db_->Write(options, &batch);
    if (!status.ok()) log_failed_.store(true);
    return FromRocks(status, "writing to the store");
  }

  // RocksDB must not touch a log file again once a write to it failed: its
  // writer asserts so in debug builds (and Debian's librocksdb keeps its
  // assertions: SyncWAL after a failed log write aborts the process), while
  // Write checks the database's error state first and refuses by itself. So
  // a sync runs alone, never beside a write that may be failing, and never
  // after a failure.
  Status SyncWal() override {
    if (db_ == nullptr) return Status::Closed("the store is closed; open it again to use it");
    std::unique_lock<std::shared_mutex> lock(wal_mu_);
    if (log_failed_.load()) {
      return Status::IOError("not syncing the write-ahead log: a write to the store failed; close and "
                             "reopen the store");
    }
    rocksdb::Status status = db_->SyncWAL();
    if (!status.ok()) log_failed_.store(true);
    return FromRocks(status, "syncing the write-ahead log");
  }

  std::unique_ptr<Cursor> NewCursor(Space space) override {
    if (db_ == nullptr) return std::make_unique<ErrorCursor>(Status::Closed("the store is closed; open it again to use it"));
    rocksdb::ReadOptions options;
    return std::make_unique<RocksCursor>(
        std::unique_ptr<rocksdb::Iterator>(db_->NewIterator(options, Handle(space))));
  }

  Status Close() override {
    if (db_ == nullptr) return Status::OK();
    Status result;
    for (rocksdb::ColumnFamilyHandle* handle : handles_) {
      rocksdb::Status status = db_->DestroyColumnFamilyHandle(handle);
      if (!status.ok() && result.ok()) result = FromRocks(status, "closing a column family");
    }
    handles_.clear();
    rocksdb::Status status = db_->Close();
    if (!status.ok() && result.ok()) result = FromRocks(status, "closing the store");
    db_.reset();
    return result;
  }

 private:
  rocksdb::ColumnFamilyHandle* Handle(Space space) const {
    AGENTLOG_ASSERT(static_cast<size_t>(space) < handles_.size());
    return handles_[static_cast<size_t>(space)];
  }

  // Declared before db_, so destroyed after it: the database uses it to
  // its last close. Null when the OS's file system is used.
  std::unique_ptr<rocksdb::Env> env_;
  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;  // indexed by Space
  std::shared_mutex wal_mu_;             // writes share it; SyncWal holds it alone
  std::atomic<bool> log_failed_{false};  // a Write or SyncWal failed
};

Status NotOurs(const std::string& path, const std::string& why) {
  return Status::InvalidArgument("\"" + path + "\" holds a RocksDB database that is not an agentlog store (" +
                                 why + "); open an agentlog store or an empty directory");
}

// REQUIRES: `existing` lists the column families of the database at `path`.
Status CheckColumnFamiliesAreOurs(const rocksdb::DBOptions& db_options, const std::string& path,
                                  const std::vector<std::string>& existing) {
  std::vector<std::string> ours;
  for (size_t i = 0; i < kSpaceCount; ++i) ours.emplace_back(SpaceName(static_cast<Space>(i)));
  for (const std::string& name : existing) {
    if (std::find(ours.begin(), ours.end(), name) == ours.end()) {
      return NotOurs(path, "it has a column family \"" + name + "\"");
    }
  }
  if (existing.size() == ours.size()) return Status::OK();
  // Some of ours are missing: only an empty database may be completed.
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (const std::string& name : existing) descriptors.emplace_back(name, rocksdb::ColumnFamilyOptions());
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status status =
      rocksdb::DB::OpenForReadOnly(db_options, path, descriptors, &handles, &raw);
  if (!status.ok()) return FromRocks(status, "inspecting the database at \"" + path + "\"");
  std::unique_ptr<rocksdb::DB> db(raw);
  bool empty = true;
  for (rocksdb::ColumnFamilyHandle* handle : handles) {
    std::unique_ptr<rocksdb::Iterator> iterator(db->NewIterator(rocksdb::ReadOptions(), handle));
    iterator->SeekToFirst();
    if (iterator->Valid()) empty = false;
    db->DestroyColumnFamilyHandle(handle).PermitUncheckedError();  // read-only: nothing to lose
  }
  db->Close().PermitUncheckedError();  // read-only: nothing to lose
  return empty ? Status::OK() : NotOurs(path, "it holds data but lacks agentlog's column families");
}

}  // namespace

Result<std::unique_ptr<Backend>> OpenRocksDbBackend(const BackendOptions& options,
                                                    const std::string& path) {
  rocksdb::BlockBasedTableOptions table;
  table.block_cache = rocksdb::NewLRUCache(options.block_cache_bytes);
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  table.block_size = 16 * 1024;
  rocksdb::ColumnFamilyOptions column_options;
  column_options.write_buffer_size = options.write_buffer_bytes;
  column_options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));

  rocksdb::DBOptions db_options;
  std::unique_ptr<rocksdb::Env> env;
  if (options.file_system != nullptr) {
    env = rocksdb::NewCompositeEnv(options.file_system);
    db_options.env = env.get();
  }
  db_options.create_if_missing = options.create_if_missing;
  db_options.error_if_exists = options.error_if_exists;
  db_options.create_missing_column_families = options.create_if_missing;
  // After a crash the WAL is replayed up to its last whole batch: a batch
  // cut short at the end of the log (a write the crash interrupted, never
  // acknowledged) is dropped. Each append is one batch across every column
  // family, so a run's events, head and indexes stay consistent with each
  // other. A damaged record anywhere else is damage, not a crash: replaying
  // up to it (point-in-time recovery) would silently drop it and every
  // acknowledged append after it, so Open refuses with Corruption unless
  // the caller asked to salvage (Options::truncate_log_at_damage).
  db_options.wal_recovery_mode = options.truncate_log_at_damage
                                     ? rocksdb::WALRecoveryMode::kPointInTimeRecovery
                                     : rocksdb::WALRecoveryMode::kTolerateCorruptedTailRecords;
  db_options.paranoid_checks = true;

  // An existing database must be ours (or one whose creation stopped before
  // it had every column family and any data): never add column families to
  // someone else's database.
  std::vector<std::string> existing;
  if (rocksdb::DB::ListColumnFamilies(db_options, path, &existing).ok()) {
    Status ours = CheckColumnFamiliesAreOurs(db_options, path, existing);
    if (!ours.ok()) return ours;
  }

  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (size_t i = 0; i < kSpaceCount; ++i) {
    const std::string_view name = SpaceName(static_cast<Space>(i));
    descriptors.emplace_back(std::string(name), column_options);
  }
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status status = rocksdb::DB::Open(db_options, path, descriptors, &handles, &raw);
  if (!status.ok()) {
    if (status.IsInvalidArgument() && status.ToString().find("does not exist") != std::string::npos) {
      return Status::NotFound("no agentlog store at \"" + path +
                              "\" and Options::create_if_missing is false");
    }
    if (status.IsInvalidArgument() && status.ToString().find("exists") != std::string::npos) {
      return Status::InvalidArgument("a store already exists at \"" + path +
                                     "\" (error_if_exists is true)");
    }
    if (status.IsCorruption()) {
      std::string message = "opening the store at \"" + path + "\": " + status.ToString() +
                            "; the store's files are damaged: restore it from a copy";
      if (!options.truncate_log_at_damage) {
        message += ", or, if the damage is in the write-ahead log (*.log), open a copy with "
                   "Options::truncate_log_at_damage to keep what precedes the damaged record";
      }
      return Status::Corruption(std::move(message));
    }
    return FromRocks(status, "opening the store at \"" + path + "\"");
  }
  return std::unique_ptr<Backend>(
      new RocksDbBackend(std::move(env), std::unique_ptr<rocksdb::DB>(raw), std::move(handles)));
}

}  // namespace agentlog::internal
