// tests/log_file_check_test.cc: engine/log_file_check.h on logs written
// here byte by byte in RocksDB's log format, and engine/crc32c.h against
// RocksDB's own CRC-32C. The checker must find every damage RocksDB's
// reader would drop silently, and must take a write cut short by a crash
// for what it is (when the store may have crashed).
#include <catch2/catch.hpp>

#include <random>
#include <string>
#include <vector>

#include <rocksdb/file_checksum.h>

#include "engine/crc32c.h"
#include "engine/log_file_check.h"

using namespace agentlog;
using namespace agentlog::internal;

namespace {

// Writes RocksDB's log format (LevelDB's doc/log_format.md): records cut
// into fragments at 32 KiB block boundaries, a zero trailer where fewer
// than 7 bytes are left.
class LogWriter {
 public:
  // Appends one logical record; returns the offset of its first fragment.
  size_t Add(std::string_view data) {
    size_t first = std::string::npos;
    bool begin = true;
    do {
      size_t left = kLogBlockBytes - bytes_.size() % kLogBlockBytes;
      if (left < kLogHeaderBytes) {
        bytes_.append(left, '\0');
        left = kLogBlockBytes;
      }
      const size_t room = left - kLogHeaderBytes;
      const size_t take = std::min(room, data.size());
      const bool end = take == data.size();
      const uint8_t type = begin && end ? 1 : begin ? 2 : end ? 4 : 3;
      if (first == std::string::npos) first = bytes_.size();
      Physical(type, data.substr(0, take));
      data.remove_prefix(take);
      begin = false;
      if (end) break;
    } while (true);
    return first;
  }
  void Physical(uint8_t type, std::string_view data) {
    const char type_byte = static_cast<char>(type);
    const uint32_t crc = Crc32cMask(Crc32cExtend(Crc32c(std::string_view(&type_byte, 1)), data));
    for (int i = 0; i < 4; ++i) bytes_.push_back(static_cast<char>((crc >> (8 * i)) & 0xff));
    bytes_.push_back(static_cast<char>(data.size() & 0xff));
    bytes_.push_back(static_cast<char>(data.size() >> 8));
    bytes_.push_back(static_cast<char>(type));
    bytes_.append(data);
  }
  std::string& bytes() { return bytes_; }

 private:
  std::string bytes_;
};

// A write batch's data: sequence u64le, count u32le, then filler.
std::string Batch(uint64_t sequence, uint32_t count, size_t size) {
  std::string data;
  for (int i = 0; i < 8; ++i) data.push_back(static_cast<char>((sequence >> (8 * i)) & 0xff));
  for (int i = 0; i < 4; ++i) data.push_back(static_cast<char>((count >> (8 * i)) & 0xff));
  for (size_t i = data.size(); i < size; ++i) data.push_back(static_cast<char>('a' + i % 26));
  return data;
}

Result<LogFileSummary> CheckWal(std::string_view bytes, LogTail tail) {
  return CheckLogBytes(LogFileKind::kWriteAheadLog, "000007.log", tail, bytes);
}

}  // namespace

TEST_CASE("Crc32c.MatchesTheStandardAndRocksDb", "[logcheck]") {
  // Goal: the check value of RFC 3720, the empty input, continuation, and
  // agreement with RocksDB's CRC-32C (its checksum generator) on random
  // inputs of every length up to 300 bytes.
  CHECK(Crc32c("123456789") == 0xE3069283u);
  CHECK(Crc32c("") == 0u);
  CHECK(Crc32cExtend(Crc32c("1234"), "56789") == Crc32c("123456789"));
  CHECK(Crc32cUnmask(Crc32cMask(0xdeadbeef)) == 0xdeadbeef);
  std::mt19937 random(7);
  auto factory = rocksdb::GetFileChecksumGenCrc32cFactory();
  for (size_t length = 0; length <= 300; ++length) {
    std::string bytes(length, '\0');
    for (char& byte : bytes) byte = static_cast<char>(random());
    auto generator = factory->CreateFileChecksumGenerator(rocksdb::FileChecksumGenContext());
    generator->Update(bytes.data(), bytes.size());
    generator->Finalize();
    const std::string theirs = generator->GetChecksum();  // 4 bytes, big-endian
    uint32_t expected = 0;
    for (char byte : theirs) expected = (expected << 8) | static_cast<unsigned char>(byte);
    INFO("length " << length);
    CHECK(Crc32c(bytes) == expected);
  }
}

TEST_CASE("LogFileCheck.WholeLogsPassWithTheirSequenceNumbers", "[logcheck]") {
  // Goal: records of every size -- small, fragmented over several blocks,
  // ending exactly at a block end or leaving a trailer -- pass in both tail
  // modes, and the summary gives the batches' sequence range.
  LogWriter log;
  uint64_t sequence = 100;
  for (size_t size : {20, 32768 - 7 - 20 - 7 - 3, 40, 70000, 12, 32768 * 2 + 5, 200}) {
    log.Add(Batch(sequence, 3, size));
    sequence += 3;
  }
  for (LogTail tail : {LogTail::kMustBeWhole, LogTail::kMayBeTorn}) {
    auto summary = CheckWal(log.bytes(), tail);
    INFO(summary.status().ToString());
    REQUIRE(summary.ok());
    CHECK(summary->records == 7);
    CHECK(summary->first_sequence == 100);
    CHECK(summary->next_sequence == sequence);
    CHECK_FALSE(summary->torn);
    CHECK(summary->bytes == log.bytes().size());
  }
}

TEST_CASE("LogFileCheck.AWriteCutShortIsTornAfterACrashAndDamageAfterACleanClose", "[logcheck]") {
  // Goal: a log cut at any byte of its last record (what a crash in the
  // middle of that write leaves) is a torn tail when the store may have
  // crashed -- nothing lost but that record -- and Corruption when the
  // store was closed cleanly. Method: cut after every byte of the last
  // record, including inside its header.
  LogWriter log;
  log.Add(Batch(1, 1, 300));
  log.Add(Batch(2, 1, 300));
  const size_t last = log.Add(Batch(3, 1, 300));
  const std::string whole = log.bytes();
  for (size_t cut = last + 1; cut < whole.size(); ++cut) {
    INFO("cut at " << cut);
    auto torn = CheckWal(std::string_view(whole).substr(0, cut), LogTail::kMayBeTorn);
    REQUIRE(torn.ok());
    CHECK(torn->torn);
    CHECK(torn->torn_offset == last);
    CHECK(torn->records == 2);
    CHECK(torn->next_sequence == 3);
    auto strict = CheckWal(std::string_view(whole).substr(0, cut), LogTail::kMustBeWhole);
    REQUIRE(strict.status().IsCorruption());
    CHECK_THAT(strict.status().message(), Catch::Matchers::Contains("closed cleanly"));
  }
}

TEST_CASE("LogFileCheck.ADamagedLengthIsCaughtWhereRocksDbSeesATornTail", "[logcheck]") {
  // Goal: every change of the length field of a record in the last,
  // partial block that makes it run past the end of the file -- which
  // RocksDB's reader takes for a cut-short write and drops, with every
  // record after it -- is Corruption, also when the store may have crashed:
  // for the last record its checksum still matches its bytes, for an
  // earlier one an intact record follows. Method: every such value of the
  // low and the high length byte of each record.
  LogWriter log;
  std::vector<size_t> offsets;
  for (uint64_t i = 0; i < 4; ++i) offsets.push_back(log.Add(Batch(10 + i, 1, 150 + 40 * i)));
  const std::string whole = log.bytes();
  size_t tried = 0;
  for (size_t record : offsets) {
    for (size_t byte : {record + 4, record + 5}) {
      for (int value = 0; value < 256; ++value) {
        std::string damaged = whole;
        damaged[byte] = static_cast<char>(value);
        const size_t length = static_cast<unsigned char>(damaged[record + 4]) |
                              (static_cast<size_t>(static_cast<unsigned char>(damaged[record + 5])) << 8);
        if (record + kLogHeaderBytes + length <= damaged.size()) continue;  // RocksDB sees a bad checksum
        ++tried;
        INFO("record at " << record << ", byte " << byte << " = " << value);
        CHECK(CheckWal(damaged, LogTail::kMayBeTorn).status().IsCorruption());
      }
    }
  }
  CHECK(tried > 500);
}

TEST_CASE("LogFileCheck.EveryOtherDamageIsCorruption", "[logcheck]") {
  // Goal: a flipped bit anywhere in a record's checksum, type or data, and
  // a zeroed header with data after it (which RocksDB's reader skips), are
  // Corruption in both tail modes; so is a fragment out of order.
  LogWriter log;
  for (uint64_t i = 0; i < 3; ++i) log.Add(Batch(i + 1, 1, 100));
  const std::string whole = log.bytes();
  for (size_t byte = 0; byte < whole.size(); ++byte) {
    if (byte % 107 == 4 || byte % 107 == 5) continue;  // the length fields: the case above
    for (int bit = 0; bit < 8; bit += 3) {
      std::string damaged = whole;
      damaged[byte] = static_cast<char>(damaged[byte] ^ (1 << bit));
      INFO("byte " << byte << " bit " << bit);
      CHECK(CheckWal(damaged, LogTail::kMayBeTorn).status().IsCorruption());
      CHECK(CheckWal(damaged, LogTail::kMustBeWhole).status().IsCorruption());
    }
  }
  std::string zeroed = whole;
  std::fill(zeroed.begin() + 107, zeroed.begin() + 114, '\0');  // the second record's header
  CHECK(CheckWal(zeroed, LogTail::kMayBeTorn).status().IsCorruption());
  LogWriter orphan;
  orphan.Physical(3, "a middle fragment with no first");
  CHECK(CheckWal(orphan.bytes(), LogTail::kMayBeTorn).status().IsCorruption());
}

TEST_CASE("LogFileCheck.ZeroPaddingAfterTheLastRecordIsPreallocatedSpace", "[logcheck]") {
  // Goal: zeros after the last record (space a file system preallocated,
  // read back as a zero header) pass; the records before them count.
  LogWriter log;
  log.Add(Batch(5, 2, 64));
  log.bytes().append(500, '\0');
  auto summary = CheckWal(log.bytes(), LogTail::kMustBeWhole);
  REQUIRE(summary.ok());
  CHECK(summary->records == 1);
  CHECK(summary->next_sequence == 7);
}

TEST_CASE("LogFileCheck.ABatchShorterThanItsHeaderIsCorruption", "[logcheck]") {
  // Goal: a write-ahead log record too short to be a write batch is
  // refused (RocksDB reports it too); a MANIFEST record of any size is not
  // a batch.
  LogWriter log;
  log.Add("short");
  CHECK(CheckWal(log.bytes(), LogTail::kMayBeTorn).status().IsCorruption());
  CHECK(CheckLogBytes(LogFileKind::kManifest, "MANIFEST-000005", LogTail::kMustBeWhole, log.bytes()).ok());
}
