// engine/rocksdb_files.cc: see engine/rocksdb_files.h; the marker's bytes
// are specified in engine/record_format.md ("Files beside RocksDB's").
#include "engine/rocksdb_files.h"

#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <initializer_list>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <sstream>

#include <rocksdb/file_system.h>

#include "base/crypto.h"
#include "engine/table_file_check.h"

namespace agentlog::internal {
namespace {

constexpr std::string_view kMarkerHeader = "agentlog-closed-v1";

Status FromIo(const rocksdb::IOStatus& status, const std::string& what) {
  if (status.ok()) return Status::OK();
  if (status.IsNotFound()) return Status::NotFound(what + ": " + status.ToString());
  return Status::IOError(what + ": " + status.ToString());
}

bool ParseNumber(std::string_view text, uint64_t* value) {
  if (text.empty() || text.size() > 20) return false;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), *value);
  return error == std::errc() && end == text.data() + text.size();
}

bool IsDigits(std::string_view text) {
  return !text.empty() && text.find_first_not_of("0123456789") == std::string_view::npos;
}

// "000012.log" -> 12; nullopt for any other name.
std::optional<uint64_t> LogNumber(std::string_view name) {
  if (!name.ends_with(".log")) return std::nullopt;
  const std::string_view digits = name.substr(0, name.size() - 4);
  uint64_t number = 0;
  if (!IsDigits(digits) || !ParseNumber(digits, &number)) return std::nullopt;
  return number;
}

bool IsManifestName(std::string_view name) {
  return name.starts_with("MANIFEST-") && IsDigits(name.substr(9));
}

std::string MarkerChecksum(std::string_view body) {
  const uint64_t checksum = Checksum64(body);
  std::string bytes;
  for (int shift = 56; shift >= 0; shift -= 8) bytes.push_back(static_cast<char>((checksum >> shift) & 0xff));
  return HexEncode(bytes);
}

// "NAME SIZE" or "NAME SIZE inherited".
std::optional<ClosedLog> DecodeLogLine(std::string_view value) {
  constexpr std::string_view kInherited = " inherited";
  ClosedLog log;
  if (value.ends_with(kInherited)) {
    log.inherited = true;
    value.remove_suffix(kInherited.size());
  }
  const size_t split = value.find(' ');
  if (split == std::string_view::npos || !LogNumber(value.substr(0, split)) ||
      !ParseNumber(value.substr(split + 1), &log.size)) {
    return std::nullopt;
  }
  log.name = std::string(value.substr(0, split));
  return log;
}

}  // namespace

std::string EncodeCloseMarker(const CloseMarker& marker) {
  std::string body = std::string(kMarkerHeader) + "\n";
  body += "high_water " + std::to_string(marker.high_water) + "\n";
  body += "manifest " + marker.manifest + "\n";
  for (const ClosedLog& log : marker.logs) {
    body += "log " + log.name + " " + std::to_string(log.size) + (log.inherited ? " inherited" : "") + "\n";
  }
  return body + "checksum " + MarkerChecksum(body) + "\n";
}

Result<CloseMarker> DecodeCloseMarker(std::string_view bytes) {
  const auto bad = [](const std::string& why) {
    return Status::Corruption(std::string(kCloseMarkerFile) + " is damaged (" + why +
                              "); if the store was not damaged otherwise, delete that file: the store "
                              "then opens as after a crash");
  };
  const size_t last_line = bytes.rfind("\nchecksum ");
  if (!bytes.ends_with("\n") || last_line == std::string_view::npos) return bad("no checksum line");
  const std::string_view body = bytes.substr(0, last_line + 1);
  const std::string_view checksum = bytes.substr(last_line + 10, bytes.size() - last_line - 11);
  if (checksum != MarkerChecksum(body)) return bad("checksum mismatch");
  CloseMarker marker;
  bool has_high_water = false;
  size_t line_number = 0;
  for (size_t at = 0; at < body.size(); ++line_number) {
    const size_t end = body.find('\n', at);
    const std::string_view line = body.substr(at, end - at);
    at = end + 1;
    const size_t space = line.find(' ');
    const std::string_view key = line.substr(0, space);
    const std::string_view value = space == std::string_view::npos ? "" : line.substr(space + 1);
    if (line_number == 0) {
      if (line != kMarkerHeader) return bad("unknown version \"" + std::string(line.substr(0, 40)) + "\"");
    } else if (key == "high_water" && !has_high_water && ParseNumber(value, &marker.high_water)) {
      has_high_water = true;
    } else if (key == "manifest" && marker.manifest.empty() && IsManifestName(value)) {
      marker.manifest = std::string(value);
    } else if (key == "log") {
      auto log = DecodeLogLine(value);
      if (!log.has_value()) {
        return bad("line " + std::to_string(line_number + 1) + " is not \"log NAME SIZE [inherited]\"");
      }
      marker.logs.push_back(std::move(*log));
    } else {
      return bad("line " + std::to_string(line_number + 1) + " is not understood");
    }
  }
  if (!has_high_water || marker.manifest.empty()) return bad("a line is missing");
  return marker;
}

StoreFiles::StoreFiles(rocksdb::FileSystem* fs, std::string dir) : fs_(fs), dir_(std::move(dir)) {}

Result<bool> StoreFiles::Exists(std::string_view name) {
  rocksdb::IOStatus status = fs_->FileExists(PathOf(name), rocksdb::IOOptions(), nullptr);
  if (status.ok()) return true;
  if (status.IsNotFound()) return false;
  return FromIo(status, "looking for " + PathOf(name));
}

Result<std::string> StoreFiles::Read(std::string_view name) {
  std::unique_ptr<rocksdb::FSSequentialFile> file;
  rocksdb::IOStatus status = fs_->NewSequentialFile(PathOf(name), rocksdb::FileOptions(), &file, nullptr);
  if (!status.ok()) return FromIo(status, "opening " + PathOf(name));
  std::string bytes;
  std::string scratch(kLogBlockBytes, '\0');
  while (true) {
    rocksdb::Slice chunk;
    status = file->Read(scratch.size(), rocksdb::IOOptions(), &chunk, scratch.data(), nullptr);
    if (!status.ok()) return FromIo(status, "reading " + PathOf(name));
    if (chunk.empty()) break;
    bytes.append(chunk.data(), chunk.size());
  }
  return bytes;
}

Status StoreFiles::WriteDurably(std::string_view name, std::string_view bytes) {
  const std::string target = PathOf(name);
  const std::string temporary = target + ".tmp";
  std::unique_ptr<rocksdb::FSWritableFile> file;
  rocksdb::IOStatus status = fs_->NewWritableFile(temporary, rocksdb::FileOptions(), &file, nullptr);
  if (status.ok()) status = file->Append(rocksdb::Slice(bytes.data(), bytes.size()), rocksdb::IOOptions(), nullptr);
  if (status.ok()) status = file->Sync(rocksdb::IOOptions(), nullptr);
  if (file != nullptr) {
    rocksdb::IOStatus closed = file->Close(rocksdb::IOOptions(), nullptr);
    if (status.ok()) status = closed;
  }
  if (status.ok()) status = fs_->RenameFile(temporary, target, rocksdb::IOOptions(), nullptr);
  if (!status.ok()) {
    fs_->DeleteFile(temporary, rocksdb::IOOptions(), nullptr).PermitUncheckedError();  // may not exist
    return FromIo(status, "writing " + target);
  }
  std::unique_ptr<rocksdb::FSDirectory> directory;
  status = fs_->NewDirectory(dir_, rocksdb::IOOptions(), &directory, nullptr);
  if (status.ok()) status = directory->Fsync(rocksdb::IOOptions(), nullptr);
  return FromIo(status, "syncing the directory " + dir_);
}

Status StoreFiles::DeleteDurably(std::string_view name) {
  auto exists = Exists(name);
  if (!exists.ok()) return exists.status();
  if (!*exists) return Status::OK();
  rocksdb::IOStatus status = fs_->DeleteFile(PathOf(name), rocksdb::IOOptions(), nullptr);
  if (!status.ok()) return FromIo(status, "deleting " + PathOf(name));
  std::unique_ptr<rocksdb::FSDirectory> directory;
  status = fs_->NewDirectory(dir_, rocksdb::IOOptions(), &directory, nullptr);
  if (status.ok()) status = directory->Fsync(rocksdb::IOOptions(), nullptr);
  return FromIo(status, "syncing the directory " + dir_);
}

Result<std::string> StoreFiles::CurrentManifest() {
  auto current = Read("CURRENT");
  if (!current.ok()) return current.status();
  const std::string_view text = *current;
  if (!text.ends_with("\n") || !IsManifestName(text.substr(0, text.size() - 1))) {
    return Status::Corruption(PathOf("CURRENT") + " does not name a MANIFEST file: the store's "
                              "metadata is damaged");
  }
  return std::string(text.substr(0, text.size() - 1));
}

Result<std::vector<std::string>> StoreFiles::WriteAheadLogs() {
  std::vector<std::string> children;
  rocksdb::IOStatus status = fs_->GetChildren(dir_, rocksdb::IOOptions(), &children, nullptr);
  if (!status.ok()) return FromIo(status, "listing " + dir_);
  std::vector<std::pair<uint64_t, std::string>> numbered;
  for (const std::string& name : children) {
    if (auto number = LogNumber(name)) numbered.emplace_back(*number, name);
  }
  std::sort(numbered.begin(), numbered.end());
  std::vector<std::string> logs;
  for (auto& [number, name] : numbered) logs.push_back(std::move(name));
  return logs;
}

Result<CloseMarker> StoreFiles::Describe() {
  CloseMarker marker;
  auto manifest = CurrentManifest();
  if (!manifest.ok()) return manifest.status();
  marker.manifest = std::move(manifest).value();
  auto logs = WriteAheadLogs();
  if (!logs.ok()) return logs.status();
  for (const std::string& name : *logs) {
    uint64_t size = 0;
    rocksdb::IOStatus status = fs_->GetFileSize(PathOf(name), rocksdb::IOOptions(), &size, nullptr);
    if (!status.ok()) return FromIo(status, "measuring " + PathOf(name));
    const bool inherited = std::find(inherited_logs_.begin(), inherited_logs_.end(), name) != inherited_logs_.end();
    marker.logs.push_back(ClosedLog{name, size, inherited});
  }
  return marker;
}

Status StoreFiles::RememberInheritedLogs(const CloseMarker* marker, bool salvage) {
  auto logs = WriteAheadLogs();
  if (!logs.ok()) return logs.status();
  inherited_logs_.clear();
  for (std::string& name : *logs) {
    // A log the marker certified whole stays whole: only a crash's log (or
    // one a salvage read past damage) may end cut short.
    bool whole = false;
    if (marker != nullptr && !salvage) {
      for (const ClosedLog& log : marker->logs) whole = whole || (log.name == name && !log.inherited);
    }
    if (!whole) inherited_logs_.push_back(std::move(name));
  }
  return Status::OK();
}

Result<LogFileSummary> StoreFiles::CheckLogFile(LogFileKind kind, const std::string& name, LogTail tail) {
  std::unique_ptr<rocksdb::FSSequentialFile> file;
  rocksdb::IOStatus status = fs_->NewSequentialFile(PathOf(name), rocksdb::FileOptions(), &file, nullptr);
  if (!status.ok()) return FromIo(status, "opening " + PathOf(name));
  LogFileChecker checker(kind, name, tail);
  std::string block(kLogBlockBytes, '\0');
  std::string scratch(kLogBlockBytes, '\0');
  for (bool end = false; !end;) {
    // Fill a whole block, so that only the file's last block is short.
    size_t filled = 0;
    while (filled < kLogBlockBytes) {
      rocksdb::Slice chunk;
      status = file->Read(kLogBlockBytes - filled, rocksdb::IOOptions(), &chunk, scratch.data(), nullptr);
      if (!status.ok()) return FromIo(status, "reading " + PathOf(name));
      if (chunk.empty()) {
        end = true;
        break;
      }
      std::copy(chunk.data(), chunk.data() + chunk.size(), block.begin() + static_cast<ptrdiff_t>(filled));
      filled += chunk.size();
    }
    if (filled == 0) break;
    Status fed = checker.Feed(std::string_view(block.data(), filled));
    if (!fed.ok()) return fed;
    if (filled < kLogBlockBytes) break;
  }
  return checker.Finish();
}

namespace {

// Files changed since a clean close: damage, or a writer that does not
// know the marker (an agentlog from before it, raw RocksDB).
Status ChangedSinceClose(const std::string& what) {
  return Status::Corruption(what + "; unless an older agentlog or RocksDB itself opened the store for "
                            "writing since, which would explain it (then delete " +
                            std::string(kCloseMarkerFile) + " to open it as after a crash), the files "
                            "were damaged or replaced");
}

}  // namespace

Status StoreFiles::CheckLogsAreTheMarkers(const CloseMarker& marker) {
  auto now = Describe();
  if (!now.ok()) return now.status();
  const auto same = [](const ClosedLog& a, const ClosedLog& b) { return a.name == b.name && a.size == b.size; };
  if (std::equal(now->logs.begin(), now->logs.end(), marker.logs.begin(), marker.logs.end(), same)) {
    return Status::OK();
  }
  const auto list = [](const std::vector<ClosedLog>& logs) {
    std::string text;
    for (const ClosedLog& log : logs) text += " " + log.name + ":" + std::to_string(log.size);
    return text.empty() ? std::string(" none") : text;
  };
  return ChangedSinceClose("the write-ahead logs are not those the store was closed with (" +
                           std::string(kCloseMarkerFile) + "):" + list(marker.logs) + " then," +
                           list(now->logs) + " now: a log was cut, extended, added or deleted");
}

void StoreFiles::RestoreMarkerIfUnchanged(const CloseMarker& marker) {
  auto now = Describe();
  if (!now.ok() || now->manifest != marker.manifest) return;
  // RocksDB creates its new log before it writes the MANIFEST that would
  // have failed: an empty log joins the marker; one with records does not.
  CloseMarker restored = marker;
  restored.logs.clear();
  size_t listed = 0;
  for (const ClosedLog& log : now->logs) {
    if (listed < marker.logs.size() && log.name == marker.logs[listed].name && log.size == marker.logs[listed].size) {
      restored.logs.push_back(marker.logs[listed++]);
    } else if (log.size == 0) {
      restored.logs.push_back(ClosedLog{log.name, 0, /*inherited=*/false});
    } else {
      return;
    }
  }
  if (listed != marker.logs.size()) return;
  WriteDurably(kCloseMarkerFile, EncodeCloseMarker(restored)).IgnoreError();  // best effort, as said
}

Status StoreFiles::CheckLogs(const CloseMarker* marker, bool skip_write_ahead_logs) {
  auto manifest = CurrentManifest();
  if (!manifest.ok()) return manifest.status();
  if (marker != nullptr && *manifest != marker->manifest) {
    return ChangedSinceClose("CURRENT names " + *manifest + ", but the store was closed with " +
                             marker->manifest + " (" + kCloseMarkerFile + ")");
  }
  // RocksDB writes a new MANIFEST at every open: after a clean close it
  // ends whole.
  auto checked = CheckLogFile(LogFileKind::kManifest, *manifest, marker != nullptr ? LogTail::kMustBeWhole
                                                                                  : LogTail::kMayBeTorn);
  if (!checked.ok()) return checked.status();
  // A salvage keeps what precedes a damaged record: a log cut there, or
  // extended, is what it is for.
  if (skip_write_ahead_logs) return Status::OK();
  std::vector<ClosedLog> logs;
  if (marker != nullptr) {
    Status same = CheckLogsAreTheMarkers(*marker);
    if (!same.ok()) return same;
    logs = marker->logs;  // the files now, by name and size
  } else {
    auto names = WriteAheadLogs();
    if (!names.ok()) return names.status();
    for (std::string& name : *names) logs.push_back(ClosedLog{std::move(name), 0, /*inherited=*/true});
  }
  std::vector<LogFileSummary> summaries;
  for (const ClosedLog& log : logs) {
    auto summary = CheckLogFile(LogFileKind::kWriteAheadLog, log.name, log.inherited ? LogTail::kMayBeTorn
                                                                                    : LogTail::kMustBeWhole);
    if (!summary.ok()) return summary.status();
    summaries.push_back(*summary);
  }
  // Recovery goes on with the next log after a cut-short record: that log
  // must continue the sequence numbers where the whole records before the
  // cut end (in the cut log, or if it has none, in the last log before it
  // that has some).
  std::optional<size_t> last_with_batches;
  for (size_t i = 0; i < summaries.size(); ++i) {
    if (summaries[i].has_batches) last_with_batches = i;
    if (!summaries[i].torn || !last_with_batches.has_value()) continue;
    const LogFileSummary& before = summaries[*last_with_batches];
    for (size_t j = i + 1; j < summaries.size(); ++j) {
      if (!summaries[j].has_batches) continue;
      if (summaries[j].first_sequence != before.next_sequence) {
        return Status::Corruption(
            logs[i].name + " ends in a record cut short at offset " + std::to_string(summaries[i].torn_offset) +
            " (before sequence " + std::to_string(before.next_sequence) + "), and " + logs[j].name +
            " goes on at sequence " + std::to_string(summaries[j].first_sequence) +
            ": the records between are damaged or lost, and RocksDB's recovery would skip them");
      }
      break;
    }
  }
  return Status::OK();
}

Status StoreFiles::CheckTables() {
  std::vector<std::string> children;
  rocksdb::IOStatus listed = fs_->GetChildren(dir_, rocksdb::IOOptions(), &children, nullptr);
  if (!listed.ok()) return FromIo(listed, "listing " + dir_);
  for (const std::string& name : children) {
    if (!name.ends_with(".sst")) continue;
    uint64_t size = 0;
    std::unique_ptr<rocksdb::FSRandomAccessFile> file;
    rocksdb::IOStatus status = fs_->GetFileSize(PathOf(name), rocksdb::IOOptions(), &size, nullptr);
    if (status.ok()) status = fs_->NewRandomAccessFile(PathOf(name), rocksdb::FileOptions(), &file, nullptr);
    if (!status.ok()) return FromIo(status, "opening " + PathOf(name));
    const ReadAt read = [&](uint64_t offset, size_t length, std::string* out) {
      out->assign(length, '\0');
      rocksdb::Slice got;
      rocksdb::IOStatus read_status = file->Read(offset, length, rocksdb::IOOptions(), &got, out->data(), nullptr);
      if (!read_status.ok()) return FromIo(read_status, "reading " + PathOf(name));
      if (got.size() != length) return Status::Corruption(PathOf(name) + " is shorter than its footer says");
      if (got.data() != out->data()) out->assign(got.data(), got.size());
      return Status::OK();
    };
    Status checked = CheckTableFile(name, size, read);
    if (!checked.ok()) return checked;
  }
  return Status::OK();
}

Status StoreFiles::Lock() {
  rocksdb::IOStatus status = fs_->LockFile(PathOf(kWriterLockFile), rocksdb::IOOptions(), &lock_, nullptr);
  if (status.ok()) return Status::OK();
  lock_ = nullptr;
  // RocksDB's POSIX file system says which step failed: creating the file
  // (a read-only or full disk) or locking it (held elsewhere).
  if (status.ToString().find("open a file for lock") != std::string::npos) {
    return Status::IOError("cannot open the store at \"" + dir_ + "\" for writing: " + status.ToString() +
                           "; a read-only open (Store::OpenReadOnly) writes nothing");
  }
  return Status::IOError("the store at \"" + dir_ + "\" is open for writing in another process (or in "
                         "this one): " + status.ToString() + "; close it there first, or open it "
                         "read-only (Store::OpenReadOnly; the agentlog tool's reading commands do)");
}

namespace {

// The process holding a POSIX write lock on any of `paths`, from one read
// of the kernel's lock table (/proc/locks): 0 if none, or if it cannot be
// told. Looking there, rather than probing the lock, neither takes the
// lock from a writer that is starting nor opens the file (closing any
// descriptor of a file drops this process's own locks on it).
long LockHolder(std::initializer_list<std::string> paths) {
  std::vector<std::string> wanted;
  for (const std::string& path : paths) {
    struct stat info {};
    if (::stat(path.c_str(), &info) != 0) continue;
    char id[64];
    std::snprintf(id, sizeof(id), "%02x:%02x:%llu", major(info.st_dev), minor(info.st_dev),
                  static_cast<unsigned long long>(info.st_ino));
    wanted.emplace_back(id);
  }
  if (wanted.empty()) return 0;
  std::ifstream locks("/proc/locks");
  for (std::string line; std::getline(locks, line);) {
    std::istringstream fields(line);
    std::string number, kind, advisory, mode, pid, file;
    fields >> number >> kind;
    if (kind == "->") continue;  // "N: -> POSIX ...": a process waiting for the lock, not holding it
    fields >> advisory >> mode >> pid >> file;
    if (mode != "WRITE" || std::find(wanted.begin(), wanted.end(), file) == wanted.end()) continue;
    return std::strtol(pid.c_str(), nullptr, 10);
  }
  return 0;
}

}  // namespace

Status StoreFiles::RefuseIfWritten() {
  // An agentlog writer holds kWriterLockFile from before its open checks
  // to after its close; RocksDB's LOCK also shows a writer that is not
  // agentlog's.
  const long holder = LockHolder({PathOf(kWriterLockFile), PathOf("LOCK")});
  if (holder == 0) return Status::OK();
  return Status::IOError("the store at \"" + dir_ + "\" is open for writing in process " + std::to_string(holder) +
                         (holder == static_cast<long>(::getpid()) ? " (this one)" : "") +
                         ", and a read-only open reads a store no one writes to (a closed store, a copy, "
                         "read-only media): close the writer first");
}

void StoreFiles::Unlock() {
  if (lock_ == nullptr) return;
  fs_->UnlockFile(lock_, rocksdb::IOOptions(), nullptr).PermitUncheckedError();  // the process may exit next
  lock_ = nullptr;
}

}  // namespace agentlog::internal
