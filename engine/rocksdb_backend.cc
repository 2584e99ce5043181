// engine/rocksdb_backend.cc: the Backend seam on RocksDB. With
// engine/rocksdb_files.cc (the store's files around RocksDB) and
// engine/rocksdb_info_log.cc (RocksDB's info log), the only files that
// include RocksDB headers. One column family per Space; one
// rocksdb::WriteBatch per WriteSet, so an append is atomic across them.
#include <algorithm>
#include <mutex>
#include <optional>

#include <rocksdb/db.h>
#include <rocksdb/env.h>
#include <rocksdb/file_system.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/table.h>
#include <rocksdb/utilities/options_util.h>
#include <rocksdb/write_batch.h>

#include "base/assert.h"
#include "engine/backend.h"
#include "engine/rocksdb_files.h"
#include "engine/rocksdb_info_log.h"

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
  RocksDbBackend(std::unique_ptr<rocksdb::Env> env, std::shared_ptr<rocksdb::FileSystem> fs,
                 std::unique_ptr<StoreFiles> files, std::shared_ptr<rocksdb::Logger> info_log,
                 std::unique_ptr<rocksdb::DB> db, std::vector<rocksdb::ColumnFamilyHandle*> handles,
                 bool read_only, std::optional<uint64_t> closed_high_water)
      : env_(std::move(env)), fs_(std::move(fs)), files_(std::move(files)), info_log_(std::move(info_log)),
        db_(std::move(db)), handles_(std::move(handles)), read_only_(read_only),
        closed_high_water_(closed_high_water) {
    AGENTLOG_ASSERT(handles_.size() == kSpaceCount);
  }
  ~RocksDbBackend() override { Close(std::nullopt).IgnoreError(); /* destructor: nobody to tell */ }

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

  // One write at a time, by our lock: RocksDB would queue concurrent ones
  // behind each other anyway (its write thread), and a sync must never run
  // beside a write that may be failing (see SyncWal).
  Status Write(const WriteSet& writes, bool sync) override {
    if (db_ == nullptr) return Status::Closed("the store is closed; open it again to use it");
    if (read_only_) return ReadOnlyRefusal();
    rocksdb::WriteBatch batch(writes.bytes() + 64 * writes.ops().size());
    for (const WriteSet::Op& op : writes.ops()) {
      rocksdb::Status status =
          op.is_delete ? batch.Delete(Handle(op.space), op.key) : batch.Put(Handle(op.space), op.key, op.value);
      if (!status.ok()) return FromRocks(status, "building the write batch");
    }
    rocksdb::WriteOptions options;
    options.sync = sync;
    std::lock_guard<std::mutex> lock(write_mu_);
    rocksdb::Status status = db_->Write(options, &batch);
    if (!status.ok()) log_failed_ = true;
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
    if (read_only_) return ReadOnlyRefusal();
    std::lock_guard<std::mutex> lock(write_mu_);
    if (log_failed_) {
      return Status::IOError("not syncing the write-ahead log: a write to the store failed; close and "
                             "reopen the store");
    }
    rocksdb::Status status = db_->SyncWAL();
    if (!status.ok()) log_failed_ = true;
    return FromRocks(status, "syncing the write-ahead log");
  }

  std::unique_ptr<Cursor> NewCursor(Space space) override {
    if (db_ == nullptr) return std::make_unique<ErrorCursor>(Status::Closed("the store is closed; open it again to use it"));
    rocksdb::ReadOptions options;
    return std::make_unique<RocksCursor>(
        std::unique_ptr<rocksdb::Iterator>(db_->NewIterator(options, Handle(space))));
  }

  Status VerifyFiles() override {
    if (db_ == nullptr) return Status::Closed("the store is closed; open it again to use it");
    return FromRocks(db_->VerifyChecksum(), "checking every block of the store's table files");
  }

  Status Close(std::optional<uint64_t> clean_high_water) override {
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
    info_log_->Close().PermitUncheckedError();  // the info log is for people; a lost line costs nothing
    if (result.ok() && clean_high_water.has_value() && !read_only_) WriteCloseMarker(*clean_high_water);
    files_->Unlock();  // only now: no other writer may change the files the marker describes
    return result;
  }

  std::optional<uint64_t> closed_high_water() const override { return closed_high_water_; }

  Status RecordDamage(const std::string& message) override {
    if (read_only_) return Status::OK();
    return files_->WriteDurably(kDamageNoteFile, "agentlog-damaged-v1\n" + message + "\n");
  }

 private:
  static Status ReadOnlyRefusal() {
    return Status::InvalidArgument("the store was opened read-only; open it with Store::Open to write");
  }

  // After a clean close: the marker the next open checks the files against.
  // A marker that cannot be written costs nothing but that check (the next
  // open reads the logs as after a crash), so its failure is not Close's.
  void WriteCloseMarker(uint64_t high_water) {
    auto marker = files_->Describe();
    if (!marker.ok()) return;
    marker->high_water = high_water;
    files_->WriteDurably(kCloseMarkerFile, EncodeCloseMarker(*marker)).IgnoreError();  // see above
  }

  rocksdb::ColumnFamilyHandle* Handle(Space space) const {
    AGENTLOG_ASSERT(static_cast<size_t>(space) < handles_.size());
    return handles_[static_cast<size_t>(space)];
  }

  // Declared before db_, so destroyed after it: the database uses them to
  // its last close. env_ is null when the OS's file system is used.
  std::unique_ptr<rocksdb::Env> env_;
  std::shared_ptr<rocksdb::FileSystem> fs_;
  std::unique_ptr<StoreFiles> files_;
  std::shared_ptr<rocksdb::Logger> info_log_;
  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;  // indexed by Space
  const bool read_only_;
  const std::optional<uint64_t> closed_high_water_;
  std::mutex write_mu_;
  bool log_failed_ = false;  // a Write or SyncWal failed; guarded by write_mu_
};

Status NotOurs(const std::string& path, const std::string& why) {
  return Status::InvalidArgument("\"" + path + "\" holds a RocksDB database that is not an agentlog store (" +
                                 why + "); open an agentlog store or an empty directory");
}

Status NoStore(const std::string& path, const std::string& why) {
  return Status::NotFound("no agentlog store at \"" + path + "\" (" + why + ")");
}

// What an open may find at `path`, before any file is touched: a store
// directory, nothing (created only if asked, under a parent that exists),
// or something that is no store. Read-only and writing opens alike.
Status CheckPath(rocksdb::FileSystem* fs, const std::string& path, const BackendOptions& options) {
  const rocksdb::IOOptions io;
  rocksdb::IOStatus exists = fs->FileExists(path, io, nullptr);
  if (exists.IsNotFound()) {
    if (options.read_only) return NoStore(path, "no such directory");
    if (!options.create_if_missing) return NoStore(path, "no such directory, and Options::create_if_missing is false");
    const size_t slash = path.find_last_of('/');
    const std::string parent = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
    bool parent_is_directory = false;
    if (!fs->IsDirectory(parent, io, &parent_is_directory, nullptr).ok() || !parent_is_directory) {
      return Status::NotFound("cannot create a store at \"" + path + "\": its parent directory \"" + parent +
                              "\" does not exist; create it first");
    }
    return Status::OK();
  }
  if (!exists.ok()) return FromRocks(exists, "looking for the store at \"" + path + "\"");
  bool is_directory = false;
  rocksdb::IOStatus status = fs->IsDirectory(path, io, &is_directory, nullptr);
  if (!status.ok()) return FromRocks(status, "looking at \"" + path + "\"");
  if (!is_directory) return NoStore(path, "it is a file; a store is a directory");
  return Status::OK();
}

// REQUIRES: `existing` lists the column families of the database at `path`.
Status CheckColumnFamiliesAreOurs(const rocksdb::DBOptions& db_options, const std::string& path,
                                  const std::vector<std::string>& existing, bool read_only) {
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
    const rocksdb::Status read = iterator->status();
    iterator.reset();
    db->DestroyColumnFamilyHandle(handle).PermitUncheckedError();  // read-only: nothing to lose
    if (!read.ok() && status.ok()) status = read;  // damage is not emptiness
  }
  db->Close().PermitUncheckedError();  // read-only: nothing to lose
  if (!status.ok()) return FromRocks(status, "inspecting the database at \"" + path + "\"");
  if (!empty) return NotOurs(path, "it holds data but lacks agentlog's column families");
  // A creation that stopped early: a writer finishes it, a reader finds no store.
  return read_only ? NoStore(path, "its creation did not finish") : Status::OK();
}

// Damage RocksDB would open without a word, and a loss found earlier:
// refused before RocksDB replays a file. Sets *marker when the last close
// was clean (and the files are as it left them).
Status CheckExistingStore(StoreFiles* files, const BackendOptions& options, std::optional<CloseMarker>* marker) {
  auto damaged = files->Exists(kDamageNoteFile);
  if (!damaged.ok()) return damaged.status();
  if (*damaged) {
    auto note = files->Read(kDamageNoteFile);
    return Status::Corruption("opening the store at \"" + files->dir() + "\": " +
                              (note.ok() ? *note : note.status().ToString()) + " (recorded in " +
                              kDamageNoteFile + " when the loss was found); restore the store from a "
                              "copy, or delete that file to open the store as it is");
  }
  auto closed = files->Exists(kCloseMarkerFile);
  if (!closed.ok()) return closed.status();
  if (*closed) {
    auto bytes = files->Read(kCloseMarkerFile);
    if (!bytes.ok()) return bytes.status();
    auto decoded = DecodeCloseMarker(*bytes);
    if (!decoded.ok()) return decoded.status();
    *marker = std::move(decoded).value();
  }
  Status status = files->CheckLogs(marker->has_value() ? &**marker : nullptr,
                                   /*skip_write_ahead_logs=*/options.truncate_log_at_damage);
  if (status.ok()) status = files->CheckTables();
  if (status.IsCorruption()) {
    std::string message = "opening the store at \"" + files->dir() + "\": " + status.message() +
                          "; restore the store from a copy";
    if (!options.truncate_log_at_damage) {
      message += ", or, if the damage is in a write-ahead log (*.log), open a copy with "
                 "Options::truncate_log_at_damage to keep what precedes the damaged record";
    }
    return Status::Corruption(std::move(message));
  }
  return status;
}

rocksdb::DBOptions MakeDbOptions(const BackendOptions& options, rocksdb::Env* env) {
  rocksdb::DBOptions db_options;
  db_options.env = env;
  db_options.create_if_missing = options.create_if_missing && !options.read_only;
  db_options.error_if_exists = options.error_if_exists;
  db_options.create_missing_column_families = db_options.create_if_missing;
  // After a crash the WAL is replayed up to its last whole batch: a batch
  // cut short at the end of the log (a write the crash interrupted, never
  // acknowledged) is dropped. Each append is one batch across every column
  // family, so a run's events, head and indexes stay consistent with each
  // other. A damaged record anywhere else is damage, not a crash: replaying
  // up to it (point-in-time recovery) would silently drop it and every
  // acknowledged append after it, so Open refuses with Corruption unless
  // the caller asked to salvage (Options::truncate_log_at_damage). What
  // RocksDB's reader would take for a cut-short record is checked before
  // (CheckExistingStore, engine/log_file_check.h).
  db_options.wal_recovery_mode = options.truncate_log_at_damage
                                     ? rocksdb::WALRecoveryMode::kPointInTimeRecovery
                                     : rocksdb::WALRecoveryMode::kTolerateCorruptedTailRecords;
  db_options.paranoid_checks = true;
  return db_options;
}

rocksdb::ColumnFamilyOptions MakeColumnFamilyOptions(const BackendOptions& options) {
  rocksdb::BlockBasedTableOptions table;
  table.block_cache = rocksdb::NewLRUCache(options.rocksdb.block_cache_bytes);
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  table.block_size = 16 * 1024;
  rocksdb::ColumnFamilyOptions column_options;
  column_options.write_buffer_size = options.rocksdb.write_buffer_bytes;
  column_options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  return column_options;
}

Status FromOpen(const rocksdb::Status& status, const std::string& path, const BackendOptions& options) {
  if (status.IsInvalidArgument() && status.ToString().find("does not exist") != std::string::npos) {
    return NoStore(path, "Options::create_if_missing is false");
  }
  if (status.IsInvalidArgument() && status.ToString().find("exists") != std::string::npos) {
    return Status::InvalidArgument("a store already exists at \"" + path + "\" (error_if_exists is true)");
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

// The checks of a database that exists at `path`, before RocksDB reads a
// file: ours, no damage RocksDB would drop silently; *marker set when the
// last close was clean.
Status CheckExisting(StoreFiles* files, const BackendOptions& options, const rocksdb::DBOptions& db_options,
                     std::optional<CloseMarker>* marker) {
  // The file checks first: the column families' check below may have
  // RocksDB open the database.
  Status status = CheckExistingStore(files, options, marker);
  if (!status.ok()) return status;
  // An existing database must be ours (or one whose creation stopped before
  // it had every column family and any data): never add column families to
  // someone else's database.
  std::vector<std::string> existing;
  if (rocksdb::DB::ListColumnFamilies(db_options, files->dir(), &existing).ok()) {
    status = CheckColumnFamiliesAreOurs(db_options, files->dir(), existing, options.read_only);
  }
  return status;
}

struct OpenedDatabase {
  std::unique_ptr<rocksdb::DB> db;
  std::vector<rocksdb::ColumnFamilyHandle*> handles;  // indexed by Space
};

Result<OpenedDatabase> OpenDatabase(const BackendOptions& options, const rocksdb::DBOptions& db_options,
                                    const std::string& path) {
  const rocksdb::ColumnFamilyOptions column_options = MakeColumnFamilyOptions(options);
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (size_t i = 0; i < kSpaceCount; ++i) {
    descriptors.emplace_back(std::string(SpaceName(static_cast<Space>(i))), column_options);
  }
  OpenedDatabase opened;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status status = options.read_only
                               ? rocksdb::DB::OpenForReadOnly(db_options, path, descriptors, &opened.handles, &raw)
                               : rocksdb::DB::Open(db_options, path, descriptors, &opened.handles, &raw);
  if (!status.ok()) return FromOpen(status, path, options);
  opened.db.reset(raw);
  return opened;
}

}  // namespace

Result<std::unique_ptr<Backend>> OpenRocksDbBackend(const BackendOptions& options,
                                                    const std::string& path) {
  std::shared_ptr<rocksdb::FileSystem> fs =
      options.rocksdb.file_system != nullptr ? options.rocksdb.file_system : rocksdb::FileSystem::Default();
  Status status = CheckPath(fs.get(), path, options);
  if (!status.ok()) return status;
  std::unique_ptr<rocksdb::Env> env;
  if (options.rocksdb.file_system != nullptr) env = rocksdb::NewCompositeEnv(options.rocksdb.file_system);
  rocksdb::DBOptions db_options = MakeDbOptions(options, env != nullptr ? env.get() : rocksdb::Env::Default());
  // Read-only opens create no file, not even RocksDB's info log.
  std::shared_ptr<rocksdb::Logger> info_log = NewDiscardingInfoLog();
  db_options.info_log = info_log;

  auto files = std::make_unique<StoreFiles>(fs.get(), path);
  auto exists = files->Exists("CURRENT");
  if (!exists.ok()) return exists.status();
  if (!*exists && (options.read_only || !options.create_if_missing)) {
    return NoStore(path, options.read_only ? "the directory holds no database"
                                           : "the directory holds no database, and Options::create_if_missing is false");
  }
  if (*exists && options.error_if_exists) {
    return Status::InvalidArgument("a store already exists at \"" + path + "\" (error_if_exists is true)");
  }
  std::optional<CloseMarker> marker;
  Result<OpenedDatabase> opened = Status::Closed("not opened");
  if (options.read_only) {
    // RocksDB's read-only instance reads one moment of the files; a writer
    // flushing and purging meanwhile would make it miss data. So a reader
    // refuses a store that is being written.
    status = files->RefuseIfWritten();
    if (status.ok()) status = CheckExisting(files.get(), options, db_options, &marker);
    if (!status.ok()) return status;
    opened = OpenDatabase(options, db_options, path);
  } else {
    rocksdb::IOStatus made = fs->CreateDirIfMissing(path, rocksdb::IOOptions(), nullptr);
    if (!made.ok()) return FromRocks(made, "creating the store directory \"" + path + "\"");
    status = files->Lock();
    if (status.ok() && *exists) status = CheckExisting(files.get(), options, db_options, &marker);
    // From here on RocksDB changes files: the marker would no longer
    // describe them.
    if (status.ok() && marker.has_value()) status = files->DeleteDurably(kCloseMarkerFile);
    if (status.ok()) {
      status = files->RememberInheritedLogs(marker.has_value() ? &*marker : nullptr, options.truncate_log_at_damage);
    }
    if (!status.ok()) return status;
    info_log = OpenInfoLog(fs.get(), path, options.clock != nullptr ? options.clock : SystemClock());
    db_options.info_log = info_log;
    opened = OpenDatabase(options, db_options, path);
  }
  if (!opened.ok()) {
    info_log->Close().PermitUncheckedError();  // nothing was opened
    if (!options.read_only && marker.has_value()) files->RestoreMarkerIfUnchanged(*marker);
    return opened.status();
  }
  // A salvage drops records on purpose: the marker's high-water mark no
  // longer holds.
  std::optional<uint64_t> high_water;
  if (marker.has_value() && !options.truncate_log_at_damage) high_water = marker->high_water;
  return std::unique_ptr<Backend>(new RocksDbBackend(std::move(env), std::move(fs), std::move(files),
                                                     std::move(info_log), std::move(opened->db),
                                                     std::move(opened->handles), options.read_only, high_water));
}

}  // namespace agentlog::internal
