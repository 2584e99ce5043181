// engine/log_file_check.h: reads RocksDB's log files -- the write-ahead log
// (NNNNNN.log) and the MANIFEST -- record by record, as RocksDB 7.8's log
// reader does, to find the damage that reader would mistake for the cut-short
// last record a crash leaves, and silently drop together with everything
// after it in the file (acknowledged appends, or the MANIFEST's last version
// edits and with them whole table files). engine/rocksdb_files.cc runs it on
// every log file before RocksDB opens the store; RocksDB itself then still
// refuses the damage it does report (a checksum mismatch, a bad length in a
// full block).
//
// The physical format (LevelDB's doc/log_format.md, kept by RocksDB): the
// file is a sequence of 32 KiB blocks, the last one possibly shorter. A
// block holds records
//     checksum:u32le  length:u16le  type:u8  data[length]
// where checksum is the masked CRC-32C (engine/crc32c.h) of type and data.
// A record never crosses a block; fewer than 7 bytes left at a block's end
// are a zero trailer. Types: 1 full, 2 first, 3 middle, 4 last (a logical
// record cut into fragments across blocks); 0 with length 0 marks
// preallocated space, and the reader skips the rest of the block. agentlog
// never enables log recycling or log compression, so types 5 to 9 never
// occur. A write-ahead log record's data is a RocksDB write batch, which
// starts with its first sequence number (u64le) and its count (u32le).
//
// What RocksDB's reader (kTolerateCorruptedTailRecords) drops without a
// word, and what this check makes of it:
//   - in the file's last, partial block, a record whose length runs past
//     the end of the file. A crash cut it short, or its length field is
//     damaged. Damage when the store was closed cleanly; otherwise damage
//     when the bytes prove it: the record's checksum matches a prefix of the
//     bytes that are there (the record is whole, its length wrong), or a
//     record with a valid checksum follows it (and, in a write-ahead log,
//     does not go back before the sequence numbers reached);
//   - fewer than 7 bytes, or a fragmented record without its last fragment,
//     at the end of the file: cut short, or damage if closed cleanly;
//   - a zero header (type 0, length 0) followed by anything but zeros in
//     its block: always damage (the reader would skip those bytes).
// The one case no byte can settle: after a crash, a last record whose
// length and checksum or data are both damaged looks exactly like a cut-short
// write, and is dropped as one (README "Durability").
#ifndef AGENTLOG_ENGINE_LOG_FILE_CHECK_H_
#define AGENTLOG_ENGINE_LOG_FILE_CHECK_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "agentlog/status.h"

namespace agentlog::internal {

constexpr size_t kLogBlockBytes = 32768;
constexpr size_t kLogHeaderBytes = 7;
constexpr size_t kWriteBatchHeaderBytes = 12;  // sequence u64le, count u32le

enum class LogFileKind : uint8_t { kWriteAheadLog, kManifest };

// What the end of a log file may be.
enum class LogTail : uint8_t {
  // The store was closed cleanly (engine/rocksdb_files.h, the close
  // marker): no write was cut short, so an incomplete record is damage.
  kMustBeWhole,
  // The store may have crashed: the last record may be cut short.
  kMayBeTorn,
};

struct LogFileSummary {
  uint64_t bytes = 0;
  uint64_t records = 0;          // whole logical records
  // Write-ahead logs: the write batches' RocksDB sequence numbers.
  bool has_batches = false;
  uint64_t first_sequence = 0;   // of the first whole batch
  uint64_t next_sequence = 0;    // after the last whole batch: its sequence + its count
  bool torn = false;             // ends in a record a crash cut short (recovery drops it)
  uint64_t torn_offset = 0;      // where that record starts
};

// Checks one log file fed block by block. Not thread-safe.
class LogFileChecker {
 public:
  // `name` is for messages ("000012.log").
  LogFileChecker(LogFileKind kind, std::string name, LogTail tail);

  // The file's next block: kLogBlockBytes bytes, or fewer for the last one.
  // Corruption at the first damage (and on every later call).
  // REQUIRES: no block shorter than kLogBlockBytes was fed before.
  Status Feed(std::string_view block);

  // After the last block. Corruption as Feed; otherwise what the file holds.
  Result<LogFileSummary> Finish();

 private:
  Status Damage(uint64_t offset, const std::string& what);
  // A record at `offset` of the final block runs past the end of the file.
  Status RecordRunsPastEnd(std::string_view block, size_t offset, uint32_t stored_crc, uint8_t type);
  // True if a record with a valid checksum (and, in a write-ahead log, a
  // sequence number not before the next expected one) starts in `block`
  // after `from`.
  bool IntactRecordFollows(std::string_view block, size_t from, size_t* found) const;
  Status Complete(std::string_view header_bytes, uint64_t offset);
  void MarkTorn(uint64_t offset);

  const LogFileKind kind_;
  const std::string name_;
  const LogTail tail_;
  Status status_;
  LogFileSummary summary_;
  bool fed_partial_block_ = false;
  uint64_t block_start_ = 0;     // the file offset of the block being fed
  bool ended_ = false;           // the reader stops here (a torn record)
  bool in_fragment_ = false;     // inside a fragmented record
  uint64_t fragment_offset_ = 0;
  std::string fragment_head_;    // its first kWriteBatchHeaderBytes bytes
};

// The whole file at once (tests, and small files such as a MANIFEST).
Result<LogFileSummary> CheckLogBytes(LogFileKind kind, std::string_view name, LogTail tail,
                                     std::string_view bytes);

}  // namespace agentlog::internal

#endif  // AGENTLOG_ENGINE_LOG_FILE_CHECK_H_
