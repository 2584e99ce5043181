// engine/log_file_check.cc: see engine/log_file_check.h.
#include "engine/log_file_check.h"

#include <algorithm>

#include "base/assert.h"
#include "base/bytes.h"
#include "engine/crc32c.h"

namespace agentlog::internal {
namespace {

enum RecordType : uint8_t { kZero = 0, kFull = 1, kFirst = 2, kMiddle = 3, kLast = 4 };

struct Header {
  uint32_t crc = 0;  // unmasked
  uint32_t length = 0;
  uint8_t type = 0;
};

Header ParseHeader(std::string_view block, size_t at) {
  AGENTLOG_ASSERT(at + kLogHeaderBytes <= block.size());
  const char* p = block.data() + at;
  Header header;
  header.crc = Crc32cUnmask(Little32(p));
  header.length = static_cast<unsigned char>(p[4]) | (static_cast<uint32_t>(static_cast<unsigned char>(p[5])) << 8);
  header.type = static_cast<uint8_t>(p[6]);
  return header;
}

// The CRC RocksDB stores for a record: over its type byte, then its data.
uint32_t RecordCrc(uint8_t type, std::string_view data) {
  const char type_byte = static_cast<char>(type);
  return Crc32cExtend(Crc32c(std::string_view(&type_byte, 1)), data);
}

}  // namespace

LogFileChecker::LogFileChecker(LogFileKind kind, std::string name, LogTail tail)
    : kind_(kind), name_(std::move(name)), tail_(tail) {}

Status LogFileChecker::Damage(uint64_t offset, const std::string& what) {
  status_ = Status::Corruption(
      name_ + " offset " + std::to_string(offset) + ": " + what + "; the log file is damaged, and " +
      "RocksDB's recovery would drop this record and every one after it in the file without an error");
  return status_;
}

void LogFileChecker::MarkTorn(uint64_t offset) {
  summary_.torn = true;
  summary_.torn_offset = offset;
  ended_ = true;
}

Status LogFileChecker::Complete(std::string_view head, uint64_t offset) {
  ++summary_.records;
  if (kind_ != LogFileKind::kWriteAheadLog) return Status::OK();
  if (head.size() < kWriteBatchHeaderBytes) {
    return Damage(offset, "a write batch of " + std::to_string(head.size()) +
                              " bytes, shorter than a batch header");
  }
  const uint64_t sequence = Little64(head.data());
  const uint32_t count = Little32(head.data() + 8);
  if (!summary_.has_batches) {
    summary_.has_batches = true;
    summary_.first_sequence = sequence;
  }
  summary_.next_sequence = sequence + count;
  return Status::OK();
}

bool LogFileChecker::IntactRecordFollows(std::string_view block, size_t from, size_t* found) const {
  for (size_t at = from; at + kLogHeaderBytes <= block.size(); ++at) {
    const Header header = ParseHeader(block, at);
    if (header.type < kFull || header.type > kLast) continue;
    if (at + kLogHeaderBytes + header.length > block.size()) continue;
    const std::string_view data = block.substr(at + kLogHeaderBytes, header.length);
    if (RecordCrc(header.type, data) != header.crc) continue;
    // A record that starts a batch must not go back in the sequence: the
    // bytes of a damaged record's own data are no proof.
    const bool starts_batch = header.type == kFull || header.type == kFirst;
    if (kind_ == LogFileKind::kWriteAheadLog && starts_batch && summary_.has_batches &&
        (data.size() < kWriteBatchHeaderBytes || Little64(data.data()) < summary_.next_sequence)) {
      continue;
    }
    *found = at;
    return true;
  }
  return false;
}

Status LogFileChecker::RecordRunsPastEnd(std::string_view block, size_t offset, uint32_t stored_crc,
                                         uint8_t type) {
  const uint64_t file_offset = block_start_ + offset;
  if (tail_ == LogTail::kMustBeWhole) {
    return Damage(file_offset, "a record runs past the end of the file, but the store was closed "
                               "cleanly: no write was cut short");
  }
  // Whole, with a damaged length: its checksum matches a prefix of what is there.
  const std::string_view rest = block.substr(offset + kLogHeaderBytes);
  const char type_byte = static_cast<char>(type);
  uint32_t crc = Crc32c(std::string_view(&type_byte, 1));
  for (size_t length = 0;; ++length) {
    if (crc == stored_crc) {
      return Damage(file_offset, "the record's checksum matches its first " + std::to_string(length) +
                                     " bytes: it is whole and its length field is damaged");
    }
    if (length == rest.size()) break;
    crc = Crc32cExtend(crc, rest.substr(length, 1));
  }
  size_t found = 0;
  if (IntactRecordFollows(block, offset + kLogHeaderBytes, &found)) {
    return Damage(file_offset, "the record runs past the end of the file, but an intact record "
                               "follows it at offset " + std::to_string(block_start_ + found));
  }
  // What a crash in the middle of this write leaves; a fragment's record
  // starts at its first fragment.
  MarkTorn(in_fragment_ ? fragment_offset_ : file_offset);
  return Status::OK();
}

Status LogFileChecker::Feed(std::string_view block) {
  AGENTLOG_ASSERT(!fed_partial_block_);
  AGENTLOG_ASSERT(!block.empty() && block.size() <= kLogBlockBytes);
  if (!status_.ok() || ended_) return status_;
  const bool final_block = block.size() < kLogBlockBytes;
  fed_partial_block_ = final_block;
  block_start_ = summary_.bytes;
  summary_.bytes += block.size();
  size_t at = 0;
  while (!ended_ && status_.ok()) {
    const uint64_t offset = block_start_ + at;
    const size_t left = block.size() - at;
    if (left < kLogHeaderBytes) {
      // A full block's zero trailer; at the end of the file, a header cut short.
      if (final_block && left > 0) {
        if (tail_ == LogTail::kMustBeWhole) {
          return Damage(offset, "the file ends inside a record header, but the store was closed cleanly");
        }
        MarkTorn(in_fragment_ ? fragment_offset_ : offset);
      }
      break;
    }
    const Header header = ParseHeader(block, at);
    if (header.type == kZero && header.length == 0) {
      // The reader skips the rest of the block as preallocated space.
      const std::string_view skipped = block.substr(at);
      if (in_fragment_ || skipped.find_first_not_of('\0') != std::string_view::npos) {
        return Damage(offset, "a zeroed record header with data after it, which RocksDB's reader skips");
      }
      break;
    }
    if (kLogHeaderBytes + header.length > left) {
      if (!final_block) return Damage(offset, "the record's length runs past its 32 KiB block");
      const Status status = RecordRunsPastEnd(block, at, header.crc, header.type);
      AGENTLOG_ASSERT(!status.ok() || ended_);
      return status;
    }
    const std::string_view data = block.substr(at + kLogHeaderBytes, header.length);
    if (RecordCrc(header.type, data) != header.crc) return Damage(offset, "checksum mismatch");
    switch (header.type) {
      case kFull:
        if (in_fragment_) return Damage(offset, "a fragmented record without its last fragment");
        if (const Status status = Complete(data.substr(0, kWriteBatchHeaderBytes), offset); !status.ok()) {
          return status;
        }
        break;
      case kFirst:
        if (in_fragment_) return Damage(offset, "a fragmented record without its last fragment");
        in_fragment_ = true;
        fragment_offset_ = offset;
        fragment_head_.assign(data.substr(0, kWriteBatchHeaderBytes));
        break;
      case kMiddle:
      case kLast:
        if (!in_fragment_) return Damage(offset, "a record fragment without its first fragment");
        fragment_head_.append(data.substr(0, kWriteBatchHeaderBytes - std::min(fragment_head_.size(),
                                                                                 kWriteBatchHeaderBytes)));
        if (header.type == kLast) {
          in_fragment_ = false;
          if (const Status status = Complete(fragment_head_, fragment_offset_); !status.ok()) return status;
        }
        break;
      default:
        return Damage(offset, "record type " + std::to_string(header.type) +
                                  ", which this store's RocksDB options never write");
    }
    at += kLogHeaderBytes + header.length;
  }
  return status_;
}

Result<LogFileSummary> LogFileChecker::Finish() {
  if (!status_.ok()) return status_;
  if (in_fragment_ && !ended_) {
    if (tail_ == LogTail::kMustBeWhole) {
      return Damage(fragment_offset_, "a fragmented record has no last fragment at the end of the "
                                      "file, but the store was closed cleanly");
    }
    MarkTorn(fragment_offset_);
  }
  return summary_;
}

Result<LogFileSummary> CheckLogBytes(LogFileKind kind, std::string_view name, LogTail tail,
                                     std::string_view bytes) {
  LogFileChecker checker(kind, std::string(name), tail);
  for (size_t at = 0; at < bytes.size(); at += kLogBlockBytes) {
    Status status = checker.Feed(bytes.substr(at, kLogBlockBytes));
    if (!status.ok()) return status;
  }
  return checker.Finish();
}

}  // namespace agentlog::internal
