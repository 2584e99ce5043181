// testing/power_loss_fs.cc: see power_loss_fs.h.
#include "testing/power_loss_fs.h"

#include <algorithm>
#include <atomic>
#include <random>
#include <utility>

namespace agentlog::testing {

namespace {

std::string ParentOf(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? std::string(".") : path.substr(0, slash);
}

// Whether the last component of `path` contains one of the `|`-separated
// `parts` (empty: every path).
bool NameContains(const std::string& path, const std::string& parts) {
  if (parts.empty()) return true;
  const size_t slash = path.find_last_of('/');
  const std::string name = path.substr(slash == std::string::npos ? 0 : slash + 1);
  for (size_t start = 0; start <= parts.size();) {
    const size_t bar = std::min(parts.find('|', start), parts.size());
    if (name.find(parts.substr(start, bar - start)) != std::string::npos) return true;
    start = bar + 1;
  }
  return false;
}

}  // namespace

// A writable file that reports what it wrote and synced, and fails as told.
class PowerLossFileSystem::File final : public rocksdb::FSWritableFileOwnerWrapper {
 public:
  File(PowerLossFileSystem* fs, std::string path, std::unique_ptr<rocksdb::FSWritableFile> target,
       uint64_t size)
      : FSWritableFileOwnerWrapper(std::move(target)), fs_(fs), path_(std::move(path)), size_(size) {}

  rocksdb::IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& options,
                           rocksdb::IODebugContext* dbg) override {
    return Written(fs_->Check(Op::kWrite, path_), size_.load() + data.size(),
                   [&] { return target()->Append(data, options, dbg); });
  }
  rocksdb::IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& options,
                           const rocksdb::DataVerificationInfo& info, rocksdb::IODebugContext* dbg) override {
    return Written(fs_->Check(Op::kWrite, path_), size_.load() + data.size(),
                   [&] { return target()->Append(data, options, info, dbg); });
  }
  rocksdb::IOStatus PositionedAppend(const rocksdb::Slice& data, uint64_t offset,
                                     const rocksdb::IOOptions& options, rocksdb::IODebugContext* dbg) override {
    return Written(fs_->Check(Op::kWrite, path_), std::max(size_.load(), offset + data.size()),
                   [&] { return target()->PositionedAppend(data, offset, options, dbg); });
  }
  rocksdb::IOStatus PositionedAppend(const rocksdb::Slice& data, uint64_t offset,
                                     const rocksdb::IOOptions& options,
                                     const rocksdb::DataVerificationInfo& info,
                                     rocksdb::IODebugContext* dbg) override {
    return Written(fs_->Check(Op::kWrite, path_), std::max(size_.load(), offset + data.size()),
                   [&] { return target()->PositionedAppend(data, offset, options, info, dbg); });
  }
  rocksdb::IOStatus Truncate(uint64_t size, const rocksdb::IOOptions& options,
                             rocksdb::IODebugContext* dbg) override {
    rocksdb::IOStatus status = fs_->Check(Op::kWrite, path_);
    if (status.ok()) status = target()->Truncate(size, options, dbg);
    if (status.ok()) {
      size_.store(size);
      fs_->OnWrite(path_, size, /*truncate=*/true);
    }
    return status;
  }
  rocksdb::IOStatus Sync(const rocksdb::IOOptions& options, rocksdb::IODebugContext* dbg) override {
    return Synced([&] { return target()->Sync(options, dbg); });
  }
  rocksdb::IOStatus Fsync(const rocksdb::IOOptions& options, rocksdb::IODebugContext* dbg) override {
    return Synced([&] { return target()->Fsync(options, dbg); });
  }
  // sync_file_range starts writeback but promises nothing: not a sync here.
  rocksdb::IOStatus RangeSync(uint64_t offset, uint64_t bytes, const rocksdb::IOOptions& options,
                              rocksdb::IODebugContext* dbg) override {
    rocksdb::IOStatus status = fs_->Check(Op::kMutate, path_);
    return status.ok() ? target()->RangeSync(offset, bytes, options, dbg) : status;
  }

 private:
  template <typename WriteFn>
  rocksdb::IOStatus Written(rocksdb::IOStatus status, uint64_t end, WriteFn write) {
    if (status.ok()) status = write();
    if (status.ok()) {
      size_.store(end);
      fs_->OnWrite(path_, end, /*truncate=*/false);
    }
    return status;
  }
  template <typename SyncFn>
  rocksdb::IOStatus Synced(SyncFn sync) {
    // What this sync covers: the bytes written before it began. A write
    // finishing on another thread meanwhile (RocksDB syncs the log from the
    // thread that asked for it while the committer appends) is not counted,
    // so the model never holds more durable than the disk would.
    const uint64_t size = size_.load();
    rocksdb::IOStatus status = fs_->Check(Op::kSync, path_);
    if (status.ok()) status = sync();
    if (status.ok()) fs_->OnSync(path_, size);
    return status;
  }

  PowerLossFileSystem* const fs_;
  const std::string path_;
  // Bytes written so far. One thread appends at a time, but another may
  // sync meanwhile and read it: atomic, stored after each write completes.
  std::atomic<uint64_t> size_;
};

// A directory whose fsync makes the entries of the files created in it durable.
class PowerLossFileSystem::Directory final : public rocksdb::FSDirectoryWrapper {
 public:
  Directory(PowerLossFileSystem* fs, std::string path, std::unique_ptr<rocksdb::FSDirectory> target)
      : FSDirectoryWrapper(std::move(target)), fs_(fs), path_(std::move(path)) {}

  rocksdb::IOStatus Fsync(const rocksdb::IOOptions& options, rocksdb::IODebugContext* dbg) override {
    return Synced([&] { return FSDirectoryWrapper::Fsync(options, dbg); });
  }
  rocksdb::IOStatus FsyncWithDirOptions(const rocksdb::IOOptions& options, rocksdb::IODebugContext* dbg,
                                        const rocksdb::DirFsyncOptions& dir_options) override {
    return Synced([&] { return FSDirectoryWrapper::FsyncWithDirOptions(options, dbg, dir_options); });
  }

 private:
  template <typename SyncFn>
  rocksdb::IOStatus Synced(SyncFn sync) {
    const uint64_t created_before = fs_->creation_count();  // what this fsync covers
    rocksdb::IOStatus status = fs_->Check(Op::kSync, path_);
    if (status.ok()) status = sync();
    if (status.ok()) fs_->OnDirectorySync(path_, created_before);
    return status;
  }

  PowerLossFileSystem* const fs_;
  const std::string path_;
};

PowerLossFileSystem::PowerLossFileSystem(std::shared_ptr<rocksdb::FileSystem> base)
    : FileSystemWrapper(base) {}

void PowerLossFileSystem::CutPower() {
  std::lock_guard<std::mutex> lock(mu_);
  powered_ = false;
}

PowerLossFileSystem::PowerCutReport PowerLossFileSystem::RestorePower(bool keep_torn_tails, uint64_t seed) {
  std::lock_guard<std::mutex> lock(mu_);
  PowerCutReport report;
  std::mt19937_64 random(seed);
  for (const auto& [path, file] : files_) {
    if (!file.entry_synced) {
      target()->DeleteFile(path, rocksdb::IOOptions(), nullptr).PermitUncheckedError();  // may be gone
      ++report.files_deleted;
      report.bytes_dropped += file.size;
      continue;
    }
    if (file.size <= file.synced_size) continue;
    const uint64_t unsynced = file.size - file.synced_size;
    const uint64_t kept = keep_torn_tails ? random() % (unsynced + 1) : 0;
    // The OS's FileSystem has no Truncate(path); an open file truncates.
    std::unique_ptr<rocksdb::FSWritableFile> handle;
    rocksdb::IOStatus status = target()->ReopenWritableFile(path, rocksdb::FileOptions(), &handle, nullptr);
    if (status.ok()) status = handle->Truncate(file.synced_size + kept, rocksdb::IOOptions(), nullptr);
    if (status.ok()) status = handle->Close(rocksdb::IOOptions(), nullptr);
    if (!status.ok() && report.failure.empty()) report.failure = path + ": " + status.ToString();
    ++report.files_truncated;
    report.bytes_dropped += unsynced - kept;
    report.bytes_torn_kept += kept;
  }
  files_.clear();  // what is left is on the disk
  powered_ = true;
  return report;
}

void PowerLossFileSystem::SetFault(Fault fault, uint64_t after, std::string name_part) {
  std::lock_guard<std::mutex> lock(mu_);
  fault_ = fault;
  fault_countdown_ = after;
  fault_name_part_ = std::move(name_part);
}

void PowerLossFileSystem::ClearFault() { SetFault(Fault::kNone); }

uint64_t PowerLossFileSystem::faults_injected() const {
  std::lock_guard<std::mutex> lock(mu_);
  return faults_injected_;
}

rocksdb::IOStatus PowerLossFileSystem::Check(Op op, const std::string& path) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!powered_) return rocksdb::IOStatus::IOError("power cut", path);
  bool applies = false;
  switch (fault_) {
    case Fault::kNone: break;
    case Fault::kWriteError:
    case Fault::kNoSpace: applies = op == Op::kWrite; break;
    case Fault::kSyncError: applies = op == Op::kSync; break;
    case Fault::kReadOnly: applies = true; break;
  }
  if (!applies || !NameContains(path, fault_name_part_)) return rocksdb::IOStatus::OK();
  if (fault_countdown_ > 0) {
    --fault_countdown_;
    return rocksdb::IOStatus::OK();
  }
  ++faults_injected_;
  switch (fault_) {
    case Fault::kWriteError: return rocksdb::IOStatus::IOError("injected EIO (Input/output error) writing", path);
    case Fault::kNoSpace: return rocksdb::IOStatus::NoSpace("injected ENOSPC (No space left on device) writing", path);
    case Fault::kSyncError: return rocksdb::IOStatus::IOError("injected EIO (Input/output error) from fsync of", path);
    case Fault::kReadOnly: return rocksdb::IOStatus::IOError("injected EROFS (Read-only file system)", path);
    case Fault::kNone: break;
  }
  return rocksdb::IOStatus::OK();
}

void PowerLossFileSystem::TrackNew(const std::string& path) {
  std::lock_guard<std::mutex> lock(mu_);
  files_[path] = FileState{0, 0, false, ++creation_count_};
}

uint64_t PowerLossFileSystem::creation_count() const {
  std::lock_guard<std::mutex> lock(mu_);
  return creation_count_;
}

void PowerLossFileSystem::OnWrite(const std::string& path, uint64_t end, bool truncate) {
  std::lock_guard<std::mutex> lock(mu_);
  auto file = files_.find(path);
  if (file == files_.end()) return;  // opened before this instance saw it: not tracked
  if (truncate) {
    file->second.size = end;
    file->second.synced_size = std::min(file->second.synced_size, end);
  } else {
    file->second.size = std::max(file->second.size, end);
  }
}

void PowerLossFileSystem::OnSync(const std::string& path, uint64_t size) {
  std::lock_guard<std::mutex> lock(mu_);
  auto file = files_.find(path);
  if (file == files_.end()) return;
  file->second.synced_size = std::max(file->second.synced_size, std::min(size, file->second.size));
}

void PowerLossFileSystem::OnDirectorySync(const std::string& directory, uint64_t created_before) {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& [path, file] : files_) {
    if (ParentOf(path) == directory && file.created <= created_before) file.entry_synced = true;
  }
}

rocksdb::IOStatus PowerLossFileSystem::NewWritableFile(const std::string& path,
                                                       const rocksdb::FileOptions& options,
                                                       std::unique_ptr<rocksdb::FSWritableFile>* result,
                                                       rocksdb::IODebugContext* dbg) {
  rocksdb::IOStatus status = Check(Op::kMutate, path);
  std::unique_ptr<rocksdb::FSWritableFile> file;
  if (status.ok()) status = target()->NewWritableFile(path, options, &file, dbg);
  if (!status.ok()) return status;
  TrackNew(path);
  *result = std::make_unique<File>(this, path, std::move(file), 0);
  return status;
}

rocksdb::IOStatus PowerLossFileSystem::ReopenWritableFile(const std::string& path,
                                                          const rocksdb::FileOptions& options,
                                                          std::unique_ptr<rocksdb::FSWritableFile>* result,
                                                          rocksdb::IODebugContext* dbg) {
  rocksdb::IOStatus status = Check(Op::kMutate, path);
  std::unique_ptr<rocksdb::FSWritableFile> file;
  uint64_t size = 0;
  if (status.ok()) status = target()->GetFileSize(path, options.io_options, &size, dbg);
  if (status.ok()) status = target()->ReopenWritableFile(path, options, &file, dbg);
  if (!status.ok()) return status;
  // A file already tracked keeps what it had synced; an untracked one was
  // on the disk before this instance saw it and stays untracked (synced).
  *result = std::make_unique<File>(this, path, std::move(file), size);
  return status;
}

rocksdb::IOStatus PowerLossFileSystem::ReuseWritableFile(const std::string& path, const std::string& old_path,
                                                         const rocksdb::FileOptions& options,
                                                         std::unique_ptr<rocksdb::FSWritableFile>* result,
                                                         rocksdb::IODebugContext* dbg) {
  rocksdb::IOStatus status = Check(Op::kMutate, path);
  std::unique_ptr<rocksdb::FSWritableFile> file;
  if (status.ok()) status = target()->ReuseWritableFile(path, old_path, options, &file, dbg);
  if (!status.ok()) return status;
  {
    std::lock_guard<std::mutex> lock(mu_);
    files_.erase(old_path);
  }
  TrackNew(path);
  *result = std::make_unique<File>(this, path, std::move(file), 0);
  return status;
}

rocksdb::IOStatus PowerLossFileSystem::NewRandomRWFile(const std::string& path,
                                                       const rocksdb::FileOptions& options,
                                                       std::unique_ptr<rocksdb::FSRandomRWFile>* result,
                                                       rocksdb::IODebugContext* dbg) {
  rocksdb::IOStatus status = Check(Op::kMutate, path);
  return status.ok() ? target()->NewRandomRWFile(path, options, result, dbg) : status;
}

rocksdb::IOStatus PowerLossFileSystem::NewDirectory(const std::string& path, const rocksdb::IOOptions& options,
                                                    std::unique_ptr<rocksdb::FSDirectory>* result,
                                                    rocksdb::IODebugContext* dbg) {
  std::unique_ptr<rocksdb::FSDirectory> directory;
  rocksdb::IOStatus status = target()->NewDirectory(path, options, &directory, dbg);
  if (!status.ok()) return status;
  *result = std::make_unique<Directory>(this, path, std::move(directory));
  return status;
}

rocksdb::IOStatus PowerLossFileSystem::DeleteFile(const std::string& path, const rocksdb::IOOptions& options,
                                                  rocksdb::IODebugContext* dbg) {
  rocksdb::IOStatus status = Check(Op::kMutate, path);
  if (status.ok()) status = target()->DeleteFile(path, options, dbg);
  if (status.ok()) {
    std::lock_guard<std::mutex> lock(mu_);
    files_.erase(path);
  }
  return status;
}

rocksdb::IOStatus PowerLossFileSystem::RenameFile(const std::string& from, const std::string& to,
                                                  const rocksdb::IOOptions& options, rocksdb::IODebugContext* dbg) {
  rocksdb::IOStatus status = Check(Op::kMutate, to);
  const bool to_existed = status.ok() && target()->FileExists(to, options, dbg).ok();
  if (status.ok()) status = target()->RenameFile(from, to, options, dbg);
  if (status.ok()) {
    std::lock_guard<std::mutex> lock(mu_);
    // Onto a name whose entry was durable (CURRENT), the name stays
    // durable: the disk holds the old file or the new one, never neither.
    auto replaced = files_.find(to);
    const bool to_was_durable = to_existed && (replaced == files_.end() || replaced->second.entry_synced);
    auto file = files_.find(from);
    if (file == files_.end()) {
      files_.erase(to);  // untracked source: synced, like the rest of the disk
    } else {
      FileState moved = file->second;
      if (to_was_durable) moved.entry_synced = true;
      files_.erase(from);
      files_[to] = moved;
    }
  }
  return status;
}

rocksdb::IOStatus PowerLossFileSystem::LinkFile(const std::string& from, const std::string& to,
                                                const rocksdb::IOOptions& options, rocksdb::IODebugContext* dbg) {
  rocksdb::IOStatus status = Check(Op::kMutate, to);
  if (status.ok()) status = target()->LinkFile(from, to, options, dbg);
  if (status.ok()) {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto file = files_.find(from); file != files_.end()) {
      FileState link = file->second;
      link.entry_synced = false;  // a new entry, durable at its directory's next fsync
      link.created = ++creation_count_;
      files_[to] = link;
    }
  }
  return status;
}

rocksdb::IOStatus PowerLossFileSystem::Truncate(const std::string& path, size_t size,
                                                const rocksdb::IOOptions& options, rocksdb::IODebugContext* dbg) {
  rocksdb::IOStatus status = Check(Op::kWrite, path);
  if (status.ok()) status = target()->Truncate(path, size, options, dbg);
  if (status.ok()) OnWrite(path, size, /*truncate=*/true);
  return status;
}

rocksdb::IOStatus PowerLossFileSystem::CreateDir(const std::string& path, const rocksdb::IOOptions& options,
                                                 rocksdb::IODebugContext* dbg) {
  rocksdb::IOStatus status = Check(Op::kMutate, path);
  return status.ok() ? target()->CreateDir(path, options, dbg) : status;
}

rocksdb::IOStatus PowerLossFileSystem::CreateDirIfMissing(const std::string& path,
                                                          const rocksdb::IOOptions& options,
                                                          rocksdb::IODebugContext* dbg) {
  // mkdir of a directory that exists answers EEXIST before EROFS: a
  // read-only disk still lets RocksDB find its directory.
  if (target()->FileExists(path, options, dbg).ok()) return target()->CreateDirIfMissing(path, options, dbg);
  rocksdb::IOStatus status = Check(Op::kMutate, path);
  return status.ok() ? target()->CreateDirIfMissing(path, options, dbg) : status;
}

rocksdb::IOStatus PowerLossFileSystem::DeleteDir(const std::string& path, const rocksdb::IOOptions& options,
                                                 rocksdb::IODebugContext* dbg) {
  rocksdb::IOStatus status = Check(Op::kMutate, path);
  return status.ok() ? target()->DeleteDir(path, options, dbg) : status;
}

}  // namespace agentlog::testing
