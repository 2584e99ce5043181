// testing/power_loss_fs.h: a RocksDB FileSystem that simulates what a disk
// does to a database when the power goes or the disk fails, passed to a
// store through RocksDbOptions::file_system.
//
// Power loss. It tracks, for every file written since it was created, how
// many bytes the disk holds for sure (the length at the file's last Sync or
// Fsync) and whether the file's directory entry is durable (a directory
// fsync after the file was created). CutPower() turns the machine off: from
// then on every mutation fails with an I/O error, so nothing more reaches
// the disk. Once the store is closed, RestorePower() does what the cut
// would have done to the files -- deletes those whose directory entry was
// never synced and truncates the rest to their synced length, keeping a
// random part of the unsynced tail if asked (a torn write: some pages made
// it, the rest did not) -- then turns the machine back on.
//
// Faults. SetFault() makes chosen operations fail, after a countdown and
// until ClearFault(): writes fail with EIO or ENOSPC (nothing written),
// fsyncs fail with EIO (the data stays unsynced, so a later power cut drops
// it), or the whole disk turns read-only (every create, write, sync,
// rename and delete fails). A part of a file name (".log", ".sst", "LOG",
// "MANIFEST", "OPTIONS", ".dbtmp", "AGENTLOG_CLOSED"; several separated by
// "|") aims a fault at the files whose name (the path's last component)
// contains it.
//
// The model's limits: renames and deletes take effect at once and are never
// rolled back by a power cut (a rename onto a durable name stays durable);
// unsynced data is lost from the end of a file only (a prefix of it
// survives), never from its middle, so pages written back out of order are
// not simulated; a new file survives only if its directory was fsynced.
// Files the instance did not see written (a store opened before it
// existed) count as synced.
#ifndef AGENTLOG_TESTING_POWER_LOSS_FS_H_
#define AGENTLOG_TESTING_POWER_LOSS_FS_H_

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include <rocksdb/file_system.h>

namespace agentlog::testing {

class PowerLossFileSystem final : public rocksdb::FileSystemWrapper {
 public:
  enum class Fault : uint8_t {
    kNone,
    kWriteError,  // a file write fails with EIO and writes nothing
    kNoSpace,     // a file write fails with ENOSPC and writes nothing
    kSyncError,   // Sync/Fsync of a file fails with EIO; its data stays unsynced
    kReadOnly,    // every create, write, sync, truncate, rename and delete fails (EROFS)
  };

  // What RestorePower did to the files.
  struct PowerCutReport {
    uint64_t files_deleted = 0;    // created, but their directory entry was never synced
    uint64_t files_truncated = 0;  // held bytes past their last sync
    uint64_t bytes_dropped = 0;    // unsynced bytes the cut took
    uint64_t bytes_torn_kept = 0;  // unsynced bytes that happened to survive (torn tails)
    std::string failure;           // empty, or the file the cut could not be applied to
  };

  explicit PowerLossFileSystem(
      std::shared_ptr<rocksdb::FileSystem> base = rocksdb::FileSystem::Default());
  const char* Name() const override { return "PowerLossFileSystem"; }

  // From now on every mutation fails with IOError "power cut".
  void CutPower();
  // REQUIRES: CutPower() was called, and the store using this file system
  // is closed or destroyed (nothing writes any more). Applies the cut to the
  // files and powers on; a torn tail keeps a random part (seeded) of each
  // file's unsynced bytes. Every file left counts as synced afterwards.
  PowerCutReport RestorePower(bool keep_torn_tails, uint64_t seed);

  // After `after` more operations of the fault's kind (on files whose name
  // contains `name_part`, if not empty) succeed, every further one fails
  // until ClearFault(). One fault at a time; a new one replaces the old.
  void SetFault(Fault fault, uint64_t after = 0, std::string name_part = "");
  void ClearFault();
  // Operations failed by SetFault (not by a power cut), since construction.
  uint64_t faults_injected() const;

  // ---- rocksdb::FileSystem (the wrapper forwards everything else) ----
  rocksdb::IOStatus NewWritableFile(const std::string& path, const rocksdb::FileOptions& options,
                                    std::unique_ptr<rocksdb::FSWritableFile>* result,
                                    rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus ReopenWritableFile(const std::string& path, const rocksdb::FileOptions& options,
                                       std::unique_ptr<rocksdb::FSWritableFile>* result,
                                       rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus ReuseWritableFile(const std::string& path, const std::string& old_path,
                                      const rocksdb::FileOptions& options,
                                      std::unique_ptr<rocksdb::FSWritableFile>* result,
                                      rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus NewRandomRWFile(const std::string& path, const rocksdb::FileOptions& options,
                                    std::unique_ptr<rocksdb::FSRandomRWFile>* result,
                                    rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus NewDirectory(const std::string& path, const rocksdb::IOOptions& options,
                                 std::unique_ptr<rocksdb::FSDirectory>* result,
                                 rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus DeleteFile(const std::string& path, const rocksdb::IOOptions& options,
                               rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus RenameFile(const std::string& from, const std::string& to,
                               const rocksdb::IOOptions& options, rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus LinkFile(const std::string& from, const std::string& to,
                             const rocksdb::IOOptions& options, rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus Truncate(const std::string& path, size_t size, const rocksdb::IOOptions& options,
                             rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus CreateDir(const std::string& path, const rocksdb::IOOptions& options,
                              rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus CreateDirIfMissing(const std::string& path, const rocksdb::IOOptions& options,
                                       rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus DeleteDir(const std::string& path, const rocksdb::IOOptions& options,
                              rocksdb::IODebugContext* dbg) override;

 private:
  class File;
  class Directory;
  enum class Op : uint8_t { kWrite, kSync, kMutate };

  struct FileState {
    uint64_t size = 0;          // bytes written so far
    uint64_t synced_size = 0;   // bytes on the disk for sure
    bool entry_synced = false;  // its directory was fsynced after it was created
    uint64_t created = 0;       // creation_count_ when its entry was made
  };

  // OK, or the error `op` on `path` gets now (power cut or fault).
  rocksdb::IOStatus Check(Op op, const std::string& path);
  // Tracks a file created empty.
  void TrackNew(const std::string& path);
  void OnWrite(const std::string& path, uint64_t end, bool truncate);
  // A sync makes durable what was written before it began: `size` and
  // `created_before` are read before the fsync, not after (a write or a
  // create finishing meanwhile is not covered).
  void OnSync(const std::string& path, uint64_t size);
  void OnDirectorySync(const std::string& directory, uint64_t created_before);
  uint64_t creation_count() const;

  mutable std::mutex mu_;
  bool powered_ = true;
  Fault fault_ = Fault::kNone;
  uint64_t fault_countdown_ = 0;
  std::string fault_name_part_;
  uint64_t faults_injected_ = 0;
  std::map<std::string, FileState> files_;  // by path, as RocksDB names them
  uint64_t creation_count_ = 0;             // directory entries made so far
};

}  // namespace agentlog::testing

#endif  // AGENTLOG_TESTING_POWER_LOSS_FS_H_
