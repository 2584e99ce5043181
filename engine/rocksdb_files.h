// engine/rocksdb_files.h: what the RocksDB backend does with the files of a
// store's directory itself, around RocksDB: reads its log files before
// RocksDB replays them (engine/log_file_check.h), and keeps three files of
// its own beside RocksDB's (engine/record_format.md, "Files beside
// RocksDB's"):
//   AGENTLOG_LOCK     held by the one process that has the store open for
//                     writing, from before RocksDB opens it until the close
//                     marker is written;
//   AGENTLOG_CLOSED   the close marker: written after a clean close, it
//                     says what the files were then (the MANIFEST, each
//                     write-ahead log and its size) and the store's
//                     high-water mark, so the next open knows that no write
//                     was cut short, and that nothing the store held is
//                     gone. A writer deletes it before RocksDB changes a file;
//   AGENTLOG_DAMAGED  a note of a loss found after RocksDB had opened the
//                     store (its files already changed): every later open
//                     refuses with it, until a person deletes it.
// Every file operation goes through the rocksdb::FileSystem the store was
// opened with (RocksDbOptions::file_system), so the tests' fault-injecting file
// system sees these files too. The one exception is RefuseIfWritten, which
// asks the kernel who holds a lock (stat and /proc/locks): a FileSystem
// can only take locks, and taking one from a starting writer is the harm
// it avoids. It matches the file by device and inode, as /proc/locks lists
// them; where those differ from stat's (some btrfs subvolumes, overlay
// mounts) or the writer is in another pid namespace, it sees no writer.
#ifndef AGENTLOG_ENGINE_ROCKSDB_FILES_H_
#define AGENTLOG_ENGINE_ROCKSDB_FILES_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "agentlog/status.h"
#include "engine/log_file_check.h"

namespace rocksdb {
class FileSystem;
class FileLock;
}  // namespace rocksdb

namespace agentlog::internal {

inline constexpr char kWriterLockFile[] = "AGENTLOG_LOCK";
inline constexpr char kCloseMarkerFile[] = "AGENTLOG_CLOSED";
inline constexpr char kDamageNoteFile[] = "AGENTLOG_DAMAGED";

// A write-ahead log as a clean close left it.
struct ClosedLog {
  std::string name;
  uint64_t size = 0;
  // Present before the session that closed opened the store: RocksDB never
  // appends to such a log, and keeps it while its records are not flushed,
  // so it may still end as an earlier crash cut it.
  bool inherited = false;
  bool operator==(const ClosedLog&) const = default;
};

// The store's files at a clean close.
struct CloseMarker {
  uint64_t high_water = 0;      // the store's last global position
  std::string manifest;         // the MANIFEST that CURRENT named
  std::vector<ClosedLog> logs;  // every write-ahead log, by number
  bool operator==(const CloseMarker&) const = default;
};
std::string EncodeCloseMarker(const CloseMarker& marker);
// Corruption when the bytes are not a marker this build wrote (checksum,
// syntax).
Result<CloseMarker> DecodeCloseMarker(std::string_view bytes);

// A store directory seen through a file system.
class StoreFiles {
 public:
  // REQUIRES: `fs` outlives this object.
  StoreFiles(rocksdb::FileSystem* fs, std::string dir);
  ~StoreFiles() { Unlock(); }
  StoreFiles(const StoreFiles&) = delete;
  StoreFiles& operator=(const StoreFiles&) = delete;

  const std::string& dir() const { return dir_; }
  std::string PathOf(std::string_view name) const { return dir_ + "/" + std::string(name); }

  // Whether `name` exists in the directory. IOError if that cannot be told.
  Result<bool> Exists(std::string_view name);
  // A small file's bytes. NotFound, IOError.
  Result<std::string> Read(std::string_view name);
  // Replaces `name` with `bytes` so that a crash leaves the old file or the
  // new one: a temporary file, fsynced, renamed, the directory fsynced.
  Status WriteDurably(std::string_view name, std::string_view bytes);
  // Deletes `name` (absent is fine) and fsyncs the directory.
  Status DeleteDurably(std::string_view name);

  // The marker's view of the files now: CURRENT's MANIFEST and every
  // write-ahead log with its size, inherited if RememberInheritedLogs saw
  // it. IOError, Corruption (CURRENT malformed).
  Result<CloseMarker> Describe();
  // Notes, before a writer's RocksDB opens the store, which write-ahead
  // logs present now may end cut short (for Describe): all without
  // `marker` (after a crash) or in a `salvage`, else those `marker` lists
  // as inherited. IOError.
  Status RememberInheritedLogs(const CloseMarker* marker, bool salvage);

  // Reads the MANIFEST that CURRENT names and, unless `skip_write_ahead_logs`,
  // every write-ahead log, with engine/log_file_check.h. Without `marker`
  // (after a crash) each may end cut short; with it, each must end whole
  // (except logs it lists as inherited) and the files must be those it
  // lists (the MANIFEST only, if `skip_write_ahead_logs`: a salvage).
  // Corruption names the file and what is wrong; IOError if a file cannot
  // be read.
  Status CheckLogs(const CloseMarker* marker, bool skip_write_ahead_logs);

  // After a writing open failed in RocksDB, with the marker deleted before
  // it: writes `marker` again if CURRENT still names its MANIFEST and the
  // write-ahead logs are still its logs, by name and size, and empty new
  // ones (RocksDB then changed nothing the marker vouches for; the empty
  // ones join it), so that the next open keeps its checks; else leaves
  // the store without one (read as after a crash). Best effort: a failure
  // leaves it without one too.
  void RestoreMarkerIfUnchanged(const CloseMarker& marker);

  // engine/table_file_check.h on every table file (NNNNNN.sst): the block
  // RocksDB would parse before checking it. Corruption names the file.
  Status CheckTables();

  // Takes the writer lock (kWriterLockFile). IOError "in use" if another
  // process or this one holds it.
  Status Lock();
  // For a reader: IOError if a writer (of this process or another) has the
  // store open or is opening it, by its lock on kWriterLockFile (held from
  // before its open checks to after its close) or RocksDB's own lock on
  // LOCK (any RocksDB writer's), as the kernel lists them (/proc/locks;
  // where that cannot be read, nothing is refused). Creates, opens, locks
  // nothing.
  Status RefuseIfWritten();
  // Releases it, if held.
  void Unlock();

 private:
  Result<LogFileSummary> CheckLogFile(LogFileKind kind, const std::string& name, LogTail tail);
  Result<std::vector<std::string>> WriteAheadLogs();  // by number
  Result<std::string> CurrentManifest();
  // Corruption unless the write-ahead logs are, by name and size, the
  // marker's.
  Status CheckLogsAreTheMarkers(const CloseMarker& marker);

  rocksdb::FileSystem* const fs_;
  const std::string dir_;
  rocksdb::FileLock* lock_ = nullptr;
  std::vector<std::string> inherited_logs_;  // by number
};

}  // namespace agentlog::internal

#endif  // AGENTLOG_ENGINE_ROCKSDB_FILES_H_
