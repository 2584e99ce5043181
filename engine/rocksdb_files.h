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
// opened with (Options::file_system), so the tests' fault-injecting file
// system sees these files too.
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

// The store's files at a clean close.
struct CloseMarker {
  uint64_t high_water = 0;  // the store's last global position
  std::string manifest;     // the MANIFEST that CURRENT named
  std::vector<std::pair<std::string, uint64_t>> logs;  // write-ahead logs by name, with sizes
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
  // write-ahead log with its size. IOError, Corruption (CURRENT malformed).
  Result<CloseMarker> Describe();

  // Reads the MANIFEST that CURRENT names and, unless `skip_write_ahead_logs`,
  // every write-ahead log, with engine/log_file_check.h; with `marker`, also
  // checks that the files are those it lists. Corruption names the file
  // and what is wrong; IOError if a file cannot be read.
  Status CheckLogs(LogTail tail, const CloseMarker* marker, bool skip_write_ahead_logs);

  // engine/table_file_check.h on every table file (NNNNNN.sst): the block
  // RocksDB would parse before checking it. Corruption names the file.
  Status CheckTables();

  // Takes the writer lock (kWriterLockFile). IOError "in use" if another
  // process or this one holds it.
  Status Lock();
  // For a reader: IOError if a writer (of this process or another) has the
  // store open, by RocksDB's own lock on LOCK, which every writer holds
  // while the database is open, as the kernel lists it (/proc/locks; where
  // that cannot be read, nothing is refused). Creates, opens, locks nothing.
  Status RefuseIfWritten();
  // Releases it, if held.
  void Unlock();

 private:
  Result<LogFileSummary> CheckLogFile(LogFileKind kind, const std::string& name, LogTail tail);
  Result<std::vector<std::string>> WriteAheadLogs();  // by number
  Result<std::string> CurrentManifest();

  rocksdb::FileSystem* const fs_;
  const std::string dir_;
  rocksdb::FileLock* lock_ = nullptr;
};

}  // namespace agentlog::internal

#endif  // AGENTLOG_ENGINE_ROCKSDB_FILES_H_
