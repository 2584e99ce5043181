// tests/open_check_test.cc: what Store::Open checks before RocksDB replays
// a file, and what a read-only open leaves alone.
//
//   [walflips]  one flipped byte in a record of the write-ahead log, by the
//               byte's class (length, type, checksum, data), after a clean
//               close and after a crash: Open refuses with Corruption or
//               every acknowledged append is there, byte for byte. Before
//               engine/log_file_check.h, a length byte of a record in the
//               log's last block lost that record and every later one with
//               Open, reads and VerifyAll all OK. AGENTLOG_WAL_FLIPS sets
//               the flips per class and mode (CI: kDefaultFlips).
//   [openchecks] the close marker: a store cut, a log changed or a marker
//               damaged after a clean close is refused, and a loss found
//               after RocksDB opened the store is refused at every later
//               open (AGENTLOG_DAMAGED).
//   [readonly]  Store::OpenReadOnly creates and changes nothing, refuses
//               writes and a store being written, opens a store on a
//               read-only disk.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <random>

#include "engine/rocksdb_files.h"
#include "agentlog/rocksdb_options.h"
#include "testing/power_loss_fs.h"
#include "testing/test_util.h"

using namespace agentlog;
using namespace agentlog::testing;
using Catch::Matchers::Contains;

namespace {

constexpr uint64_t kDefaultFlips = 12;
constexpr int64_t kStartUs = 1'700'000'000'000'000;
constexpr size_t kBlockBytes = 32768;
constexpr size_t kHeaderBytes = 7;

// One physical record of a log file, read independently of the engine's
// checker (LevelDB's doc/log_format.md).
struct PhysicalRecord {
  size_t offset = 0;
  size_t length = 0;
};

std::vector<PhysicalRecord> PhysicalRecords(const std::string& bytes) {
  std::vector<PhysicalRecord> records;
  for (size_t at = 0; at + kHeaderBytes <= bytes.size();) {
    const size_t left = kBlockBytes - at % kBlockBytes;
    if (left < kHeaderBytes) {
      at += left;
      continue;
    }
    const size_t length = static_cast<unsigned char>(bytes[at + 4]) |
                          (static_cast<size_t>(static_cast<unsigned char>(bytes[at + 5])) << 8);
    if (bytes[at + 6] == 0 && length == 0) break;
    records.push_back({at, length});
    at += kHeaderBytes + length;
  }
  return records;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  REQUIRE(out.good());
}

// The store's largest write-ahead log, which holds its appends.
std::string LargestLog(const std::string& dir) {
  std::string log;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().extension() == ".log" &&
        (log.empty() || entry.file_size() > std::filesystem::file_size(log))) {
      log = entry.path().string();
    }
  }
  REQUIRE(!log.empty());
  return log;
}

// What every acknowledged append wrote: run -> payloads by sequence.
using Acknowledged = std::map<std::string, std::vector<std::string>>;

// Options with `clock` and the fault-injecting file system `fs`.
Options OptionsWith(Clock* clock, std::shared_ptr<PowerLossFileSystem> fs) {
  Options options;
  options.clock = clock;
  auto rocksdb = std::make_shared<RocksDbOptions>();
  rocksdb->file_system = std::move(fs);
  options.rocksdb = std::move(rocksdb);
  return options;
}

// A store at `dir` whose run "r" holds one event ("one"), closed cleanly.
void CloseAStoreOfOne(const std::string& dir, Clock* clock, Options options = Options()) {
  auto store = OpenStore(dir, clock, options);
  AppendMessage(*store, "r", "one", Durability::kSync);
  REQUIRE(store->Close().ok());
}

Acknowledged BuildLoggedStore(const std::string& dir) {
  ManualClock clock(kStartUs);
  auto store = OpenStore(dir, &clock);
  Acknowledged acked;
  for (int i = 0; i < 30; ++i) {
    const std::string run = "run-" + std::to_string(i % 3);
    AppendMessage(*store, run, "event " + std::to_string(i) + std::string(i * 7, 'x'), Durability::kSync);
    clock.Advance(1000);
  }
  for (const auto& run : {"run-0", "run-1", "run-2"}) {
    for (const Event& event : ReadWholeRun(*store, run)) acked[run].emplace_back(event.payload());
  }
  REQUIRE(store->Close().ok());  // the appends stay in the log: a close does not flush
  return acked;
}

// "" if the store at `dir` holds every acknowledged append byte for byte
// and verifies; otherwise what is wrong.
std::string CheckAcknowledged(Store& store, const Acknowledged& acked) {
  for (const auto& [run, payloads] : acked) {
    ReadOptions read;
    read.limit = kMaxReadLimit;
    auto events = store.ReadRun(run, read);
    if (!events.ok()) return run + ": " + events.status().ToString();
    if (events->size() < payloads.size()) {
      return run + ": " + std::to_string(payloads.size() - events->size()) + " acknowledged events lost";
    }
    for (size_t i = 0; i < payloads.size(); ++i) {
      if ((*events)[i].payload() != payloads[i]) return run + " event " + std::to_string(i + 1) + " altered";
    }
  }
  Status verified = store.VerifyAll();
  return verified.ok() ? "" : "VerifyAll: " + verified.ToString();
}

}  // namespace

TEST_CASE("WalFlips.EveryByteClassIsRefusedOrHarmlessNeverLost", "[walflips][corruption]") {
  // Goal: no single damaged byte of the write-ahead log loses an
  // acknowledged kSync append silently, in any byte class of a record, the
  // last record included, after a clean close (the close marker says no
  // write was cut short) and after a crash (no marker: a cut-short last
  // record is expected). Method: 30 kSync appends, each its own log record;
  // per mode and class, copies of the store with one byte of one record
  // (the last one in half of the tries) XORed with a random mask; each copy
  // is opened: a refusal must be Corruption and change no file, an open
  // store must hold every acknowledged event unchanged and verify.
  TempDir pristine;
  const Acknowledged acked = BuildLoggedStore(pristine.path());
  const std::string log_name = std::filesystem::path(LargestLog(pristine.path())).filename().string();
  const std::vector<PhysicalRecord> records = PhysicalRecords(ReadFile(pristine.Sub(log_name)));
  REQUIRE(records.size() >= 30);
  const uint64_t flips = NumberFromEnvironment("AGENTLOG_WAL_FLIPS", kDefaultFlips);
  std::mt19937 random(static_cast<uint32_t>(NumberFromEnvironment("AGENTLOG_WAL_FLIP_SEED", 4242)));
  const std::vector<std::string> classes = {"length", "type", "checksum", "data"};
  uint64_t total_refused = 0;
  for (const bool clean : {true, false}) {
    for (const std::string& byte_class : classes) {
      uint64_t refused = 0, harmless = 0;
      for (uint64_t trial = 0; trial < flips; ++trial) {
        TempDir copy;
        std::filesystem::copy(pristine.path(), copy.path(), std::filesystem::copy_options::recursive);
        if (!clean) std::filesystem::remove(copy.Sub("AGENTLOG_CLOSED"));  // as after a crash
        const PhysicalRecord& record = std::bernoulli_distribution(0.5)(random)
                                           ? records.back()
                                           : records[std::uniform_int_distribution<size_t>(0, records.size() - 1)(random)];
        size_t byte = record.offset;
        if (byte_class == "length") byte += 4 + std::uniform_int_distribution<size_t>(0, 1)(random);
        if (byte_class == "type") byte += 6;
        if (byte_class == "checksum") byte += std::uniform_int_distribution<size_t>(0, 3)(random);
        if (byte_class == "data") byte += kHeaderBytes + std::uniform_int_distribution<size_t>(0, record.length - 1)(random);
        std::string bytes = ReadFile(copy.Sub(log_name));
        bytes[byte] = static_cast<char>(bytes[byte] ^ std::uniform_int_distribution<int>(1, 255)(random));
        WriteFile(copy.Sub(log_name), bytes);
        const auto before = FileBytes(copy.path());
        ManualClock clock(kStartUs + 1'000'000'000);
        Options options;
        options.clock = &clock;
        auto store = Store::Open(options, copy.path());
        INFO((clean ? "clean" : "crashed") << " " << byte_class << " flip at offset " << byte << " of "
                                           << log_name << ": " << store.status().ToString());
        if (!store.ok()) {
          CHECK(store.status().IsCorruption());
          CHECK(FileBytes(copy.path()) == before);
          ++refused;
          continue;
        }
        CHECK(CheckAcknowledged(**store, acked) == "");
        ++harmless;
      }
      std::cout << "[walflips] " << (clean ? "after a clean close" : "after a crash") << ", " << byte_class
                << " bytes: " << flips << " flips, refused " << refused << ", harmless " << harmless
                << ", lost 0\n";
      total_refused += refused;
    }
  }
  CHECK(total_refused > 0);
}

TEST_CASE_METHOD(StoreFixtureAt<kStartUs>, "OpenChecks.ACutBehindACleanCloseIsRefusedAtOpenAndAfter",
                 "[openchecks]") {
  // Goal: events deleted behind agentlog's back (keys removed through the
  // backend, the run's metadata left) under a store that then closes
  // cleanly: the next open finds the store ending before the position the
  // close recorded, refuses with Corruption, and records the loss
  // (AGENTLOG_DAMAGED) so that every later open refuses too, read-only ones
  // included, until a person deletes that note.
  for (int i = 0; i < 5; ++i) AppendMessage(*store, "r", "m" + std::to_string(i), Durability::kSync);
  internal::WriteSet cut;
  cut.Delete(internal::Space::kGlobal, std::string("\0\0\0\0\0\0\0\5", 8));
  REQUIRE(BackendOf(*store).Write(cut, true).ok());
  REQUIRE(Close().ok());
  for (int attempt = 0; attempt < 2; ++attempt) {
    auto refused = Store::Open(StoreOptions(), dir.path());
    REQUIRE(refused.status().IsCorruption());
    CHECK_THAT(refused.status().message(), Contains("closed cleanly at global position 5"));
    CHECK_THAT(refused.status().message(), Contains("position 4"));
  }
  CHECK(std::filesystem::exists(dir.Sub("AGENTLOG_DAMAGED")));
  auto reader = Store::OpenReadOnly(StoreOptions(), dir.path());
  REQUIRE(reader.status().IsCorruption());
  CHECK_THAT(reader.status().message(), Contains("AGENTLOG_DAMAGED"));
  std::filesystem::remove(dir.Sub("AGENTLOG_DAMAGED"));
  Open();  // as it is, with the loss
  CHECK(store->LastPosition() == 4);
}

TEST_CASE("OpenChecks.ALogChangedAfterACleanCloseIsRefused", "[openchecks]") {
  // Goal: a write-ahead log cut short, extended, or deleted after a clean
  // close is refused with Corruption naming the logs, and nothing is changed
  // by the refusal; the marker itself damaged is refused naming it.
  TempDir pristine;
  BuildLoggedStore(pristine.path());
  const std::string log = std::filesystem::path(LargestLog(pristine.path())).filename().string();
  const std::string whole = ReadFile(pristine.Sub(log));
  const std::vector<std::function<void(const TempDir&)>> changes = {
      [&](const TempDir& copy) { WriteFile(copy.Sub(log), whole.substr(0, whole.size() - 1)); },
      [&](const TempDir& copy) { WriteFile(copy.Sub(log), whole + std::string(20, '\0')); },
      [&](const TempDir& copy) { std::filesystem::remove(copy.Sub(log)); },
  };
  ManualClock clock(kStartUs);
  Options options;
  options.clock = &clock;
  for (size_t i = 0; i < changes.size(); ++i) {
    TempDir copy;
    std::filesystem::copy(pristine.path(), copy.path(), std::filesystem::copy_options::recursive);
    changes[i](copy);
    const auto before = FileBytes(copy.path());
    auto refused = Store::Open(options, copy.path());
    INFO("change " << i << ": " << refused.status().ToString());
    REQUIRE(refused.status().IsCorruption());
    CHECK_THAT(refused.status().message(), Contains("not those the store was closed with"));
    CHECK(FileBytes(copy.path()) == before);
  }
  TempDir copy;
  std::filesystem::copy(pristine.path(), copy.path(), std::filesystem::copy_options::recursive);
  std::string marker = ReadFile(copy.Sub("AGENTLOG_CLOSED"));
  marker[marker.find("high_water ") + 11] ^= 1;
  WriteFile(copy.Sub("AGENTLOG_CLOSED"), marker);
  auto refused = Store::Open(options, copy.path());
  REQUIRE(refused.status().IsCorruption());
  CHECK_THAT(refused.status().message(), Contains("AGENTLOG_CLOSED is damaged"));
}

TEST_CASE_METHOD(StoreFixtureAt<kStartUs>, "OpenChecks.ACleanCloseWritesTheMarkerAndAnOpenRemovesIt",
                 "[openchecks]") {
  // Goal: the marker exists exactly between a clean close and the next
  // writing open, and a store reopened after it appends on.
  AppendMessage(*store, "r", "one", Durability::kSync);
  CHECK_FALSE(std::filesystem::exists(dir.Sub("AGENTLOG_CLOSED")));
  REQUIRE(Close().ok());
  CHECK_THAT(ReadFile(dir.Sub("AGENTLOG_CLOSED")), Contains("high_water 1\n"));
  Open();
  CHECK_FALSE(std::filesystem::exists(dir.Sub("AGENTLOG_CLOSED")));
  CHECK(AppendMessage(*store, "r", "two", Durability::kSync).first_sequence == 2);
}

TEST_CASE("ReadOnly.OpenCreatesAndChangesNothingAndRefusesWrites", "[readonly]") {
  // Goal: Store::OpenReadOnly reads what the store holds, refuses each
  // write with InvalidArgument, and leaves every file byte for byte as it
  // was, RocksDB's info log included; a missing store or a file is
  // NotFound, and nothing is created for it.
  TempDir dir;
  ManualClock clock(kStartUs);
  CloseAStoreOfOne(dir.path(), &clock);
  const auto before = FileBytes(dir.path());
  Options options;
  options.clock = &clock;
  for (int round = 0; round < 3; ++round) {
    auto store = Store::OpenReadOnly(options, dir.path());
    REQUIRE(store.ok());
    CHECK(ReadWholeRun(**store, "r").size() == 1);
    CHECK((*store)->VerifyAll().ok());
    EventInput event = Message("two");
    CHECK((*store)->Append("r", std::span(&event, 1), AppendOptions()).status().IsInvalidArgument());
    CHECK((*store)->Fork("r", 1, "f", ForkOptions()).status().IsInvalidArgument());
    CHECK((*store)->PutSnapshot("r", "p", 1, 1, "s", Durability::kSync).IsInvalidArgument());
    CHECK((*store)->DeleteSnapshots("r", "", {}).IsInvalidArgument());
    auto blob = (*store)->PutBlob("content", Durability::kSync);
    CHECK(blob.status().IsInvalidArgument());
    CHECK_THAT(blob.status().message(), Contains("read-only"));
    CHECK((*store)->Close().ok());
  }
  CHECK(FileBytes(dir.path()) == before);
  CHECK(Store::OpenReadOnly(options, dir.Sub("missing")).status().IsNotFound());
  CHECK_FALSE(std::filesystem::exists(dir.Sub("missing")));
  CHECK(Store::OpenReadOnly(options, dir.Sub("CURRENT")).status().IsNotFound());
  TempDir empty;
  CHECK(Store::OpenReadOnly(options, empty.path()).status().IsNotFound());
  CHECK(std::filesystem::is_empty(empty.path()));
}

TEST_CASE_METHOD(StoreFixtureAt<kStartUs>, "ReadOnly.RefusesAStoreBeingWrittenAndOpensItOnceClosed",
                 "[readonly]") {
  // Goal: while a writer has the store open, a second writer is refused
  // with IOError naming the lock, and a reader with IOError naming the
  // writing process (RocksDB's read-only instance reads one moment of the
  // files, and a writer flushing and purging meanwhile makes it miss data:
  // readers seeing a store while it is written is the live readers' job).
  // Once the writer closed, the reader opens and sees every event. Method:
  // the writer in this process; no file of the store is read meanwhile
  // (closing any descriptor of LOCK would drop this process's lock on it;
  // cli_test.sh checks that a refused reader changes no byte).
  for (int i = 0; i < 10; ++i) AppendMessage(*store, "r", "m" + std::to_string(i), Durability::kSync);
  auto second = Store::Open(StoreOptions(), dir.path());
  REQUIRE(second.status().IsIOError());
  CHECK_THAT(second.status().message(), Contains("open for writing"));
  auto reader = Store::OpenReadOnly(StoreOptions(), dir.path());
  REQUIRE(reader.status().IsIOError());
  CHECK_THAT(reader.status().message(), Contains("open for writing in process " + std::to_string(::getpid())));
  AppendMessage(*store, "r", "still writing", Durability::kSync);  // its lock was not disturbed
  REQUIRE(store->Close().ok());
  reader = Store::OpenReadOnly(StoreOptions(), dir.path());
  REQUIRE(reader.ok());
  CHECK(ReadWholeRun(**reader, "r").size() == 11);
  CHECK((*reader)->VerifyAll().ok());
}

TEST_CASE("ReadOnly.RefusesAStoreAWriterIsStillOpening", "[readonly]") {
  // Goal: a writer is seen from the moment it takes agentlog's writer lock
  // (AGENTLOG_LOCK), before its open checks and before RocksDB's LOCK, so
  // that no reader reads the files while that writer's recovery changes
  // them. Method: another process holds a POSIX write lock on AGENTLOG_LOCK
  // of a closed store, as a writer in its open checks does.
  TempDir dir;
  ManualClock clock(kStartUs);
  CloseAStoreOfOne(dir.path(), &clock);
  int ready[2];
  REQUIRE(::pipe(ready) == 0);
  const std::string lock_path = dir.Sub("AGENTLOG_LOCK");
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {  // async-signal-safe calls only
    const int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT, 0644);
    struct flock lock {};
    lock.l_type = F_WRLCK;
    lock.l_whence = SEEK_SET;
    const char ok = (fd >= 0 && ::fcntl(fd, F_SETLK, &lock) == 0) ? '1' : '0';
    if (::write(ready[1], &ok, 1) != 1) ::_exit(1);
    ::pause();
    ::_exit(0);
  }
  ::close(ready[1]);
  char ok = 0;
  REQUIRE(::read(ready[0], &ok, 1) == 1);
  ::close(ready[0]);
  REQUIRE(ok == '1');
  Options options;
  options.clock = &clock;
  auto reader = Store::OpenReadOnly(options, dir.path());
  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);
  REQUIRE(reader.status().IsIOError());
  CHECK_THAT(reader.status().message(), Contains("open for writing in process " + std::to_string(child)));
  reader = Store::OpenReadOnly(options, dir.path());  // the lock went with its process
  REQUIRE(reader.ok());
  CHECK(ReadWholeRun(**reader, "r").size() == 1);
}

TEST_CASE("OpenChecks.AWritingOpenRocksDbFailsKeepsTheMarker", "[openchecks]") {
  // Goal: a writing open deletes the close marker before RocksDB changes a
  // file; when RocksDB then fails (here: no space for the new MANIFEST),
  // the files are still those the marker lists, so it is put back, byte
  // for byte, and the next opens keep its checks. Method: a fault on every
  // MANIFEST write, on the first and the fourth; then a clean open.
  for (uint64_t after : {0, 3}) {
    INFO("fault after " << after << " MANIFEST writes");
    TempDir dir;
    ManualClock clock(kStartUs);
    auto fs = std::make_shared<PowerLossFileSystem>();
    const Options options = OptionsWith(&clock, fs);
    CloseAStoreOfOne(dir.path(), &clock, options);
    const std::string marker = ReadFile(dir.Sub("AGENTLOG_CLOSED"));
    fs->SetFault(PowerLossFileSystem::Fault::kNoSpace, after, "MANIFEST");
    auto failed = Store::Open(options, dir.path());
    REQUIRE_FALSE(failed.ok());
    CHECK(failed.status().IsIOError());
    fs->SetFault(PowerLossFileSystem::Fault::kNone);
    REQUIRE(std::filesystem::exists(dir.Sub("AGENTLOG_CLOSED")));
    // The marker's files, and the empty log RocksDB created before it failed.
    auto before = internal::DecodeCloseMarker(marker);
    auto restored = internal::DecodeCloseMarker(ReadFile(dir.Sub("AGENTLOG_CLOSED")));
    REQUIRE(before.ok());
    REQUIRE(restored.ok());
    CHECK(restored->manifest == before->manifest);
    CHECK(restored->high_water == before->high_water);
    size_t kept = 0;
    for (const internal::ClosedLog& log : restored->logs) {
      const bool listed = kept < before->logs.size() && log.name == before->logs[kept].name;
      if (listed) CHECK(log.size == before->logs[kept++].size);
      if (!listed) CHECK(log.size == 0);
    }
    CHECK(kept == before->logs.size());
    auto store = OpenStore(dir.path(), &clock, options);
    CHECK(ReadWholeRun(*store, "r").size() == 1);
    CHECK(store->VerifyAll().ok());
  }
}

TEST_CASE("ReadOnly.OpensAStoreOnAReadOnlyDisk", "[readonly]") {
  // Goal: with every create, write, rename and delete failing (EROFS), a
  // writing open is refused with IOError, and a read-only one opens and
  // verifies. Method: testing/power_loss_fs.h's read-only fault.
  TempDir dir;
  ManualClock clock(kStartUs);
  auto fs = std::make_shared<PowerLossFileSystem>();
  const Options options = OptionsWith(&clock, fs);
  CloseAStoreOfOne(dir.path(), &clock, options);
  fs->SetFault(PowerLossFileSystem::Fault::kReadOnly);
  CHECK(Store::Open(options, dir.path()).status().IsIOError());
  auto reader = Store::OpenReadOnly(options, dir.path());
  INFO(reader.status().ToString());
  REQUIRE(reader.ok());
  CHECK(ReadWholeRun(**reader, "r").size() == 1);
  CHECK((*reader)->VerifyAll().ok());
  CHECK((*reader)->Close().ok());
}

TEST_CASE("OpenChecks.ADamagedTableFileTailIsRefusedNeverAnAbort", "[openchecks][corruption]") {
  // Goal: a flipped byte anywhere in a table file's tail -- where RocksDB
  // keeps the index, the metaindex, the properties block and the footer --
  // makes Open refuse (Corruption or IOError) or changes nothing, and never
  // stops the process. RocksDB 7.8 parses the properties block before it
  // checks its checksum, and Debian's librocksdb keeps its assertions: one
  // such flip in ~6000 of the file-damage test aborted the process
  // (DataBlockHashIndex "num_buckets_ > 0") until the store checked that
  // block first (engine/table_file_check.h). Method: a store flushed to
  // table files; every byte of the largest file's last KiB (the properties
  // block, the metaindex and the footer, and the index's end) XORed with
  // 0x80, one at a time, on a copy opened read-only.
  TempDir pristine;
  {
    ManualClock clock(kStartUs);
    auto store = OpenStore(pristine.path(), &clock);
    for (int i = 0; i < 200; ++i) AppendMessage(*store, "run-" + std::to_string(i % 5), std::string(100, 'a' + i % 26));
    REQUIRE(store->Close().ok());
    store = OpenStore(pristine.path(), &clock);  // the reopen flushes the log into table files
    REQUIRE(store->Close().ok());
  }
  std::string table;
  for (const auto& entry : std::filesystem::directory_iterator(pristine.path())) {
    if (entry.path().extension() == ".sst" &&
        (table.empty() || entry.file_size() > std::filesystem::file_size(pristine.Sub(table)))) {
      table = entry.path().filename().string();
    }
  }
  REQUIRE(!table.empty());
  const std::string whole = ReadFile(pristine.Sub(table));
  REQUIRE(whole.size() > 1024);
  ManualClock clock(kStartUs);
  Options options;
  options.clock = &clock;
  uint64_t refused = 0, tried = 0;
  for (size_t offset = whole.size() - 1024; offset < whole.size(); ++offset) {
    TempDir copy;
    std::filesystem::copy(pristine.path(), copy.path(), std::filesystem::copy_options::recursive);
    std::string bytes = whole;
    bytes[offset] = static_cast<char>(bytes[offset] ^ 0x80);
    WriteFile(copy.Sub(table), bytes);
    auto store = Store::OpenReadOnly(options, copy.path());
    ++tried;
    INFO(table << " offset " << offset << ": " << store.status().ToString());
    if (!store.ok()) {
      CHECK((store.status().IsCorruption() || store.status().IsIOError()));
      ++refused;
    } else {
      Status verified = (*store)->VerifyAll();
      CHECK((verified.ok() || verified.IsCorruption()));
    }
  }
  std::cout << "[openchecks] " << tried << " flips in the tail of " << table << ": " << refused
            << " refused at open, the rest opened; no abort\n";
  CHECK(refused > 0);
}

TEST_CASE("OpenChecks.ALogACrashCutStaysReadableAfterCleanCloses", "[openchecks]") {
  // Goal: a write-ahead log whose only record a crash cut short, which
  // RocksDB keeps after recovery (it never appends to an old log, and has
  // nothing to flush), does not make the next opens refuse the store as
  // "closed cleanly" with a torn log: the marker lists it as inherited and
  // it is read as after a crash, at the next opens; every acknowledged
  // append stays readable. A power-loss loop under TSan found the refusal.
  // Method: copy the directory while a writer has it open, after a synced
  // append (what a power cut leaves), and cut that append short.
  TempDir pristine;
  const Acknowledged acked = BuildLoggedStore(pristine.path());
  TempDir dir;
  ManualClock clock(kStartUs + 1'000'000);
  {
    auto store = OpenStore(pristine.path(), &clock);
    AppendMessage(*store, "run-9", "cut by the crash", Durability::kSync);
    std::filesystem::copy(pristine.path(), dir.path(), std::filesystem::copy_options::recursive);
  }
  std::string newest;
  for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
    const std::string file = entry.path().filename().string();
    if (file.ends_with(".log") && file > newest) newest = file;
  }
  REQUIRE(!newest.empty());
  const std::string whole = ReadFile(dir.Sub(newest));
  REQUIRE(PhysicalRecords(whole).size() == 1);
  WriteFile(dir.Sub(newest), whole.substr(0, whole.size() - 3));
  for (int session = 0; session < 3; ++session) {
    INFO("session " << session);
    auto store = OpenStore(dir.path(), &clock);
    if (session > 0) REQUIRE(ReadWholeRun(*store, "run-9").size() == static_cast<size_t>(session));
    AppendMessage(*store, "run-9", "after the cut " + std::to_string(session), Durability::kSync);
    REQUIRE(store->Close().ok());
    // RocksDB deletes the cut log once a later open finds it obsolete.
    const std::string marker = ReadFile(dir.Sub("AGENTLOG_CLOSED"));
    if (session == 0 || marker.find("log " + newest) != std::string::npos) {
      REQUIRE_THAT(marker, Contains("log " + newest + " " + std::to_string(whole.size() - 3) + " inherited\n"));
    }
  }
  auto store = OpenStore(dir.path(), &clock);
  CHECK(CheckAcknowledged(*store, acked) == "");
  CHECK(ReadWholeRun(*store, "run-9").size() == 3);
}

TEST_CASE("OpenChecks.ALogACleanCloseCertifiedStaysWhole", "[openchecks]") {
  // Goal: a log that a clean close listed whole is never listed inherited
  // (may end cut short) by a later close: only a crash's log, or a salvaged
  // one, is. Method: sessions that append and close cleanly, some with
  // nothing appended (RocksDB then keeps the logs it found); no marker may
  // say inherited.
  TempDir dir;
  const Acknowledged acked = BuildLoggedStore(dir.path());
  ManualClock clock(kStartUs + 1'000'000);
  for (int session = 0; session < 4; ++session) {
    INFO("session " << session);
    auto store = OpenStore(dir.path(), &clock);
    if (session % 2 == 0) AppendMessage(*store, "run-7", "session " + std::to_string(session), Durability::kSync);
    REQUIRE(store->Close().ok());
    CHECK_THAT(ReadFile(dir.Sub("AGENTLOG_CLOSED")), !Contains("inherited"));
  }
  auto store = OpenStore(dir.path(), &clock);
  CHECK(CheckAcknowledged(*store, acked) == "");
  CHECK(ReadWholeRun(*store, "run-7").size() == 2);
}

TEST_CASE("OpenChecks.ALogCutToNothingBetweenTwoIsDamage", "[openchecks]") {
  // Goal: after a crash, a log cut short before its first whole record, with
  // logs before and after it, is damage when the next log does not go on
  // where the one before ended: RocksDB's recovery would skip the cut log's
  // acknowledged appends and replay the next. Method: a writer with small
  // memtables, so that appends span several logs; a copy of its files taken
  // while it runs (a crash); the middle log cut to 10 bytes.
  TempDir pristine;
  TempDir dir;
  ManualClock clock(kStartUs);
  Options options;
  options.clock = &clock;
  auto rocksdb = std::make_shared<RocksDbOptions>();
  rocksdb->write_buffer_bytes = 64 << 10;
  options.rocksdb = std::move(rocksdb);
  const auto logs_of = [](const std::string& path) {
    std::vector<std::string> logs;
    for (const auto& entry : std::filesystem::directory_iterator(path)) {
      const std::string file = entry.path().filename().string();
      if (file.ends_with(".log") && entry.file_size() > 0) logs.push_back(file);
    }
    std::sort(logs.begin(), logs.end());
    return logs;
  };
  {
    auto store = OpenStore(pristine.path(), &clock, options);
    for (int i = 0; i < 2000 && logs_of(pristine.path()).size() < 3; ++i) {
      AppendMessage(*store, "r", std::string(1000, static_cast<char>('a' + i % 26)), Durability::kSync);
    }
    std::filesystem::copy(pristine.path(), dir.path(), std::filesystem::copy_options::recursive);
  }
  const std::vector<std::string> logs = logs_of(dir.path());
  INFO(logs.size() << " logs");
  REQUIRE(logs.size() >= 3);
  std::filesystem::resize_file(dir.Sub(logs[logs.size() - 2]), 10);
  auto refused = Store::Open(options, dir.path());
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.status().IsCorruption());
  CHECK_THAT(refused.status().message(), Contains(logs[logs.size() - 2] + " ends in a record cut short"));
  CHECK_THAT(refused.status().message(), Contains("goes on at sequence"));
}
