// tests/power_loss_test.cc: what survives a power cut, and what the store
// does when the disk fails under it. The disk is testing/power_loss_fs.h,
// passed in through RocksDbOptions::file_system, around a real directory.
//
//   [powerloss]  power cuts at random moments under concurrent kSync and
//                kBuffered appends; AGENTLOG_POWER_CUTS sets how many
//                (default 40; tests/power_loss_loop.sh BUILD 2000 runs more)
//   [fault]      EIO and ENOSPC on writes, failed fsyncs, a read-only disk,
//                a failed table-file write in the background
#include <catch2/catch.hpp>

#include <array>
#include <atomic>
#include <cstdlib>
#include <iostream>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "agentlog/rocksdb_options.h"
#include "testing/power_loss_fs.h"
#include "testing/test_util.h"

using namespace agentlog;
using namespace agentlog::testing;
using Catch::Matchers::Contains;
using Fault = PowerLossFileSystem::Fault;

namespace {

// A store directory on the power-loss file system, with its clock.
struct Disk {
  TempDir dir;
  ManualClock clock{1'000};
  std::shared_ptr<PowerLossFileSystem> fs = std::make_shared<PowerLossFileSystem>();
  std::shared_ptr<RocksDbOptions> rocksdb = std::make_shared<RocksDbOptions>();
  Options options;
  Disk() {
    options.clock = &clock;
    rocksdb->file_system = fs;
    options.rocksdb = rocksdb;
  }
  std::unique_ptr<Store> Open() { return OpenStore(dir.path(), &clock, options); }
  // The disk is fine again: clears the fault and reopens; the store verifies.
  std::unique_ptr<Store> Heal() {
    fs->ClearFault();
    auto store = Open();
    CHECK(store->VerifyAll().ok());
    return store;
  }
};

// Where one event landed.
struct Placed {
  std::string run_id;
  uint64_t sequence = 0;
  uint64_t position = 0;
  std::string payload;
};

// One append a writer attempted: its events' texts, and where they landed
// if it was acknowledged.
struct Attempt {
  std::string run_id;
  std::vector<std::string> texts;
  Durability durability = Durability::kSync;
  bool acknowledged = false;
  AppendResult result;
  Status error;  // why it was not acknowledged
};

// Every event in the store, by its (unique) message text; REQUIREs the
// runs gapless from 1 and the global feed gapless from 1.
std::map<std::string, Placed> ReadEverything(Store& store) {
  std::map<std::string, Placed> events;
  auto runs = store.ListRuns(RunFilter());
  REQUIRE(runs.ok());
  for (const RunInfo& run : *runs) {
    std::vector<Event> read = ReadWholeRun(store, run.run_id);
    REQUIRE(read.size() == run.head_sequence);
    for (size_t i = 0; i < read.size(); ++i) {
      REQUIRE(read[i].sequence() == i + 1);
      events[MessageText(read[i])] =
          Placed{run.run_id, read[i].sequence(), read[i].global_position(), std::string(read[i].payload())};
    }
  }
  std::vector<Event> global = ReadAllGlobal(store);
  REQUIRE(global.size() == store.LastPosition());
  for (size_t i = 0; i < global.size(); ++i) REQUIRE(global[i].global_position() == i + 1);
  REQUIRE(global.size() == events.size());
  return events;
}

AppendOptions Durable(Durability durability) { return WithDurability(durability); }

Result<AppendResult> AppendText(Store& store, const std::string& run_id, const std::string& text,
                                Durability durability) {
  EventInput event = Message(text);
  return store.Append(run_id, std::span(&event, 1), Durable(durability));
}

}  // namespace

TEST_CASE("PowerLoss.SyncAcknowledgedAppendsSurviveEveryCut", "[powerloss]") {
  // Goal: after a power cut at any moment, every kSync-acknowledged append
  // is there byte for byte at its run, sequence and position; what a cut
  // takes of kBuffered appends is a suffix of the log (every acknowledged
  // event at or before the last survivor's position is there); an append
  // that was not acknowledged is there whole or not at all; runs and the
  // global feed are gapless; chains verify. Method: 4 threads append 1-3
  // events at a time to 12 shared runs, each append kSync or kBuffered at
  // random; the power is cut after a random number of acknowledgements (or
  // at once); the share of kSync appends goes round 0%, 10%, 50%, 90%, and
  // every other round of four cuts keeps torn tails of the unsynced bytes
  // (so each mix gets both); a 128 KiB memtable makes RocksDB flush and
  // switch logs during the workload; the same store is reopened and cut
  // again, AGENTLOG_POWER_CUTS times.
  const uint64_t cuts = NumberFromEnvironment("AGENTLOG_POWER_CUTS", 40);
  const uint64_t seed = NumberFromEnvironment("AGENTLOG_POWER_SEED", std::random_device()());
  INFO("seed " << seed << " (AGENTLOG_POWER_SEED repeats the choices; thread timing differs)");
  std::mt19937_64 random(seed);
  Disk disk;
  disk.rocksdb->write_buffer_bytes = 128 << 10;
  std::map<std::string, Placed> known;  // everything present after the last reopen
  uint64_t sync_acked = 0, buffered_acked = 0, buffered_lost = 0, unacked_present = 0;
  PowerLossFileSystem::PowerCutReport total;

  for (uint64_t cut = 0; cut < cuts; ++cut) {
    INFO("power cut " << cut);
    auto store = disk.Open();
    std::mutex mu;
    std::vector<Attempt> attempts;
    std::atomic<uint64_t> acks{0};
    std::vector<std::thread> writers;
    const uint64_t sync_percent = std::array<uint64_t, 4>{0, 10, 50, 90}[cut % 4];
    for (int thread = 0; thread < 4; ++thread) {
      writers.emplace_back([&, thread, thread_seed = random()] {
        std::mt19937_64 own(thread_seed);
        for (int n = 0;; ++n) {
          Attempt attempt;
          attempt.run_id = "run-" + std::to_string(own() % 12);
          attempt.durability = own() % 100 < sync_percent ? Durability::kSync : Durability::kBuffered;
          std::vector<EventInput> events;
          for (uint64_t i = 0, count = 1 + own() % 3; i < count; ++i) {
            attempt.texts.push_back("c" + std::to_string(cut) + "-t" + std::to_string(thread) + "-a" +
                                    std::to_string(n) + "-e" + std::to_string(i));
            events.push_back(Message(attempt.texts.back()));
          }
          auto result = store->Append(attempt.run_id, events, Durable(attempt.durability));
          attempt.acknowledged = result.ok();
          if (result.ok()) attempt.result = *result;
          if (!result.ok()) attempt.error = result.status();
          std::lock_guard<std::mutex> lock(mu);
          attempts.push_back(attempt);
          if (!result.ok()) return;  // the cut stopped the store
          acks.fetch_add(1);
        }
      });
    }
    const uint64_t cut_after = random() % 4 == 0 ? 0 : random() % 300;
    while (acks.load() < cut_after) std::this_thread::yield();
    disk.fs->CutPower();
    for (std::thread& writer : writers) writer.join();
    store->Close().IgnoreError();  // the disk is gone: closing may fail
    store.reset();
    const PowerLossFileSystem::PowerCutReport report = disk.fs->RestorePower((cut / 4) % 2 == 1, random());
    REQUIRE(report.failure.empty());
    total.files_deleted += report.files_deleted;
    total.files_truncated += report.files_truncated;
    total.bytes_dropped += report.bytes_dropped;
    total.bytes_torn_kept += report.bytes_torn_kept;

    store = disk.Open();
    REQUIRE(store->VerifyAll().ok());
    std::map<std::string, Placed> now = ReadEverything(*store);
    // What was there before this round is there still, unchanged.
    for (const auto& [text, placed] : known) {
      INFO(text);
      REQUIRE(now.count(text) == 1);
      CHECK(now[text].run_id == placed.run_id);
      CHECK(now[text].sequence == placed.sequence);
      CHECK(now[text].position == placed.position);
      CHECK(now[text].payload == placed.payload);
    }
    uint64_t last_survivor = 0;
    for (const Attempt& attempt : attempts) {
      for (const std::string& text : attempt.texts) {
        if (now.count(text) == 1) last_survivor = std::max(last_survivor, now[text].position);
      }
    }
    for (const Attempt& attempt : attempts) {
      size_t present = 0;
      for (const std::string& text : attempt.texts) present += now.count(text);
      INFO(attempt.texts.front() << " to " << attempt.run_id << ": " << attempt.error.ToString());
      REQUIRE((present == 0 || present == attempt.texts.size()));  // never part of an append
      if (!attempt.acknowledged) {
        REQUIRE(attempt.error.IsIOError());  // the cut, never anything else
        unacked_present += present == 0 ? 0 : 1;
        continue;
      }
      if (attempt.durability == Durability::kSync) {
        ++sync_acked;
        REQUIRE(present == attempt.texts.size());
      } else {
        ++buffered_acked;
        if (present == 0) {
          ++buffered_lost;
          REQUIRE(attempt.result.first_position > last_survivor);  // only a suffix is lost
          continue;
        }
      }
      for (size_t i = 0; i < attempt.texts.size(); ++i) {
        const Placed& placed = now[attempt.texts[i]];
        CHECK(placed.run_id == attempt.run_id);
        CHECK(placed.sequence == attempt.result.first_sequence + i);
        CHECK(placed.position == attempt.result.first_position + i);
        CHECK(MessagePayload("user", attempt.texts[i]) == placed.payload);
      }
    }
    known = std::move(now);
    REQUIRE(store->Close().ok());
  }
  // The cuts must have bitten, or the test proves nothing. (Torn tails are
  // only counted: a cut keeps one only if the log had unsynced bytes then.)
  if (cuts >= 20) {
    CHECK(total.bytes_dropped > 0);
    CHECK(buffered_lost > 0);
  }
  WARN("power cuts: " << cuts << "; appends acknowledged: " << sync_acked << " kSync (lost 0), "
                      << buffered_acked << " kBuffered (" << buffered_lost
                      << " lost, always a suffix); unacknowledged appends found whole after the cut: "
                      << unacked_present << "; the cuts deleted " << total.files_deleted
                      << " unsynced files, truncated " << total.files_truncated << ", dropped "
                      << total.bytes_dropped << " unsynced bytes and kept " << total.bytes_torn_kept
                      << " as torn tails; events in the store: " << known.size());
}

TEST_CASE("PowerLoss.ACutTakesTheBufferedAppendsAfterTheLastSync", "[powerloss]") {
  // Goal: the documented loss of kBuffered, exactly: a cut takes every
  // append after the last fsync and nothing before it; their positions are
  // handed out again; a clean Close makes buffered appends durable.
  Disk disk;
  {
    auto store = disk.Open();
    REQUIRE(AppendText(*store, "r", "one", Durability::kBuffered).ok());
    REQUIRE(AppendText(*store, "r", "two", Durability::kSync).ok());  // syncs "one" too
    REQUIRE(AppendText(*store, "r", "three", Durability::kBuffered).ok());
    REQUIRE(AppendText(*store, "s", "four", Durability::kBuffered).ok());
    disk.fs->CutPower();
  }
  PowerLossFileSystem::PowerCutReport report = disk.fs->RestorePower(/*keep_torn_tails=*/false, 1);
  REQUIRE(report.failure.empty());
  CHECK(report.bytes_dropped > 0);
  {
    auto store = disk.Open();
    std::map<std::string, Placed> events = ReadEverything(*store);
    CHECK(events.size() == 2);
    CHECK(events.count("one") == 1);
    CHECK(events.count("two") == 1);
    CHECK(store->GetRun("s").status().IsNotFound());
    auto again = AppendText(*store, "r", "three again", Durability::kBuffered);
    REQUIRE(again.ok());
    CHECK(again->first_sequence == 3);
    CHECK(again->first_position == 3);
    REQUIRE(store->Close().ok());  // a clean close fsyncs
  }
  disk.fs->CutPower();
  REQUIRE(disk.fs->RestorePower(/*keep_torn_tails=*/false, 2).failure.empty());
  auto store = disk.Open();
  CHECK(ReadEverything(*store).count("three again") == 1);
}

TEST_CASE("Fault.FailedLogWriteFailsTheAppendStopsTheStoreAndLeavesNoTrace", "[fault]") {
  // Goal: when the disk refuses a write of the log (EIO, or ENOSPC), the
  // append gets IOError saying so, and every later write -- append, fork,
  // snapshot, blob -- is refused with an error that says the store stopped
  // and what to do, while reads go on; once the disk is fine again the
  // store reopens with the failed append absent and the next one in its
  // place.
  const bool no_space = GENERATE(false, true);
  INFO((no_space ? "ENOSPC" : "EIO"));
  Disk disk;
  {
    auto store = disk.Open();
    REQUIRE(AppendText(*store, "r", "one", Durability::kSync).ok());
    disk.fs->SetFault(no_space ? Fault::kNoSpace : Fault::kWriteError, 0, ".log");
    auto failed = AppendText(*store, "r", "two", Durability::kSync);
    REQUIRE(failed.status().IsIOError());
    CHECK_THAT(failed.status().message(), Contains(no_space ? "No space left on device" : "Input/output error"));
    CHECK(disk.fs->faults_injected() >= 1);
    const std::string stopped = "the store stopped writing after a failed write";
    auto refused = AppendText(*store, "other", "three", Durability::kBuffered);
    CHECK_THAT(refused.status().message(), Contains(stopped));
    CHECK_THAT(refused.status().message(), Contains("close and reopen"));
    CHECK_THAT(store->Fork("r", 1, "r-fork", ForkOptions()).status().message(), Contains(stopped));
    CHECK_THAT(store->PutSnapshot("r", "tally", 1, 1, "state", Durability::kSync).message(),
               Contains(stopped));
    CHECK_THAT(store->PutBlob("content", Durability::kSync).status().message(), Contains(stopped));
    std::vector<Event> read = ReadWholeRun(*store, "r");  // reads go on
    REQUIRE(read.size() == 1);
    CHECK(MessageText(read[0]) == "one");
    store->Close().IgnoreError();  // its final fsync may fail too
  }
  auto store = disk.Heal();
  std::map<std::string, Placed> events = ReadEverything(*store);
  CHECK(events.size() == 1);
  CHECK(events.count("one") == 1);
  auto next = AppendText(*store, "r", "two again", Durability::kSync);
  REQUIRE(next.ok());
  CHECK(next->first_sequence == 2);
  CHECK(next->first_position == 2);
  WARN("log write fault (" << (no_space ? "ENOSPC" : "EIO") << "): " << disk.fs->faults_injected()
                           << " operation(s) failed; the append absent after reopen, the next in its place");
}

TEST_CASE("Fault.FailedFsyncStopsTheStoreAndTheAppendIsWholeOrAbsent", "[fault]") {
  // Goal: a kSync append whose fsync fails is not acknowledged (IOError)
  // and stops the store. Its bytes reached the OS, so without a power cut
  // it may be found after a reopen -- whole, never in part; after a cut it
  // is gone, as nothing synced it. Either way the earlier appends are there.
  const bool cut = GENERATE(false, true);
  INFO((cut ? "power cut after the failed fsync" : "reopen without a cut"));
  Disk disk;
  {
    auto store = disk.Open();
    REQUIRE(AppendText(*store, "r", "one", Durability::kSync).ok());
    disk.fs->SetFault(Fault::kSyncError, 0, ".log");
    std::vector<EventInput> pair = {Message("two"), Message("three")};
    auto failed = store->Append("r", pair, Durable(Durability::kSync));
    REQUIRE(failed.status().IsIOError());
    CHECK_THAT(failed.status().message(), Contains("fsync"));
    CHECK(disk.fs->faults_injected() >= 1);
    CHECK_THAT(AppendText(*store, "r", "four", Durability::kBuffered).status().message(),
               Contains("stopped writing"));
    if (cut) disk.fs->CutPower();
    store->Close().IgnoreError();
  }
  if (cut) REQUIRE(disk.fs->RestorePower(/*keep_torn_tails=*/false, 3).failure.empty());
  auto store = disk.Heal();
  std::map<std::string, Placed> events = ReadEverything(*store);
  CHECK(events.count("one") == 1);
  CHECK(events.count("two") == events.count("three"));
  CHECK(events.count("four") == 0);
  if (cut) CHECK(events.size() == 1);
  WARN("fsync fault" << (cut ? " then a power cut" : "") << ": " << disk.fs->faults_injected()
                     << " operation(s) failed; the unacknowledged append "
                     << (events.count("two") == 1 ? "found whole" : "absent") << " after reopen");
}

TEST_CASE("Fault.ReadOnlyDiskRefusesWritesAndOpeningUntilItIsWritable", "[fault]") {
  // Goal: a disk that turns read-only stops the store with an error naming
  // it; the store cannot be opened for writing while the disk stays so
  // (IOError, nothing changed); once writable, it opens with every
  // acknowledged append.
  Disk disk;
  {
    auto store = disk.Open();
    REQUIRE(AppendText(*store, "r", "one", Durability::kSync).ok());
    disk.fs->SetFault(Fault::kReadOnly);
    auto failed = AppendText(*store, "r", "two", Durability::kSync);
    REQUIRE(failed.status().IsIOError());
    CHECK_THAT(failed.status().message(), Contains("Read-only file system"));
    CHECK(disk.fs->faults_injected() >= 1);
    CHECK_THAT(AppendText(*store, "r", "three", Durability::kSync).status().message(),
               Contains("stopped writing"));
    store->Close().IgnoreError();
  }
  Options options = disk.options;
  auto refused = Store::Open(options, disk.dir.path());
  REQUIRE(!refused.ok());
  CHECK(refused.status().IsIOError());
  CHECK_THAT(refused.status().message(), Contains("Read-only file system"));
  auto store = disk.Heal();
  std::map<std::string, Placed> events = ReadEverything(*store);
  CHECK(events.size() == 1);
  CHECK(events.count("one") == 1);
  WARN("read-only disk: " << disk.fs->faults_injected()
                          << " operation(s) failed (the append, then the reopen); clean once writable");
}

TEST_CASE("Fault.FailedTableFileWriteStopsTheStoreWithEveryAckKept", "[fault]") {
  // Goal: a write error in the background (RocksDB flushing its memtable to
  // a table file) reaches the writers as an IOError instead of being
  // ignored: the store stops, and after the disk recovers every append
  // acknowledged before is there. Method: a 64 KiB memtable, so flushes
  // come often; table-file writes fail from the start.
  Disk disk;
  disk.rocksdb->write_buffer_bytes = 64 << 10;
  std::vector<std::string> acknowledged;
  {
    auto store = disk.Open();
    disk.fs->SetFault(Fault::kWriteError, 0, ".sst");
    const std::string filler(1000, 'x');
    Status failure;
    for (int i = 0; i < 5000 && failure.ok(); ++i) {
      const std::string text = "event-" + std::to_string(i) + "-" + filler;
      auto result = AppendText(*store, "r", text, Durability::kSync);
      if (result.ok()) {
        acknowledged.push_back(text);
      } else {
        failure = result.status();
      }
    }
    REQUIRE(!failure.ok());
    CHECK(failure.IsIOError());
    CHECK_THAT(failure.message(), Contains("Input/output error"));
    CHECK(disk.fs->faults_injected() >= 1);
    CHECK_THAT(AppendText(*store, "r", "after", Durability::kSync).status().message(),
               Contains("stopped writing"));
    store->Close().IgnoreError();
  }
  auto store = disk.Heal();
  std::map<std::string, Placed> events = ReadEverything(*store);
  for (const std::string& text : acknowledged) REQUIRE(events.count(text) == 1);
  WARN("table-file fault: " << disk.fs->faults_injected() << " operation(s) failed; "
                             << acknowledged.size() << " appends acknowledged before the store stopped, all kept");
}

TEST_CASE("Fault.BackendNeverSyncsTheLogAfterAFailedWrite", "[fault]") {
  // Goal: once a write to the log failed, the RocksDB backend refuses to
  // fsync it (IOError saying why) instead of calling SyncWAL, which aborts
  // the process in a librocksdb built with assertions (Debian's). The
  // store's own stop (above) keeps it from asking; this is the backend's
  // guarantee on its own, for any caller of the seam.
  Disk disk;
  internal::BackendOptions options;
  options.rocksdb.file_system = disk.fs;
  auto backend = internal::OpenRocksDbBackend(options, disk.dir.path());
  REQUIRE(backend.ok());
  internal::WriteSet first;
  first.Put(internal::Space::kMeta, "k1", "v1");
  REQUIRE((*backend)->Write(first, /*sync=*/true).ok());
  REQUIRE((*backend)->SyncWal().ok());
  disk.fs->SetFault(Fault::kWriteError, 0, ".log");
  internal::WriteSet second;
  second.Put(internal::Space::kMeta, "k2", "v2");
  CHECK((*backend)->Write(second, /*sync=*/true).IsIOError());
  Status sync = (*backend)->SyncWal();
  CHECK(sync.IsIOError());
  CHECK_THAT(sync.message(), Contains("not syncing the write-ahead log"));
  (*backend)->Close(std::nullopt).IgnoreError();
}

TEST_CASE("Fault.EveryFileTheStoreWritesFailsAsAnErrorNeverAnAbort", "[fault][fulldisk]") {
  // Goal: whichever file a failing write or fsync hits -- RocksDB's info
  // log, its OPTIONS file, the MANIFEST, a temporary file (CURRENT's and
  // OPTIONS'), the write-ahead log, a table file, agentlog's close marker --
  // the store answers with an IOError (from Open, an append, a snapshot, a
  // blob or Close), never aborts the process, and keeps reading; once the
  // disk heals, a reopen finds every acknowledged append, byte for byte,
  // and verifies. (RocksDB's own info logger wrote through the operating
  // system's file system, out of reach of these faults; the store's logger
  // writes through RocksDbOptions::file_system, so they reach it. The abort that
  // logger caused on a full disk is FullDisk.*'s, tests/disk_test.cc.)
  // Method: a 64 KiB memtable, so
  // that flushes and compactions write table files and MANIFEST edits;
  // ENOSPC, EIO on write and EIO on fsync, each after 0, 1, 4 and 16
  // operations of its kind on that file kind; 150 appends, kSync and
  // kBuffered, a snapshot and a blob along the way; then Close.
  struct Target {
    const char* what;
    const char* name_part;
  };
  const std::vector<Target> targets = {{"info log", "LOG"},         {"OPTIONS", "OPTIONS"},
                                       {"MANIFEST", "MANIFEST"},    {"temporary file", ".dbtmp"},
                                       {"write-ahead log", ".log"}, {"table file", ".sst"},
                                       {"close marker", "AGENTLOG_CLOSED"},
                                       {"every file but the write-ahead log", "LOG|OPTIONS|MANIFEST|.dbtmp|.sst"}};
  const std::string filler(900, 'f');
  std::map<std::string, uint64_t> faults_by_target;
  uint64_t scenarios = 0, refused_opens = 0, stopped = 0;
  for (const Target& target : targets) {
    for (Fault fault : {Fault::kNoSpace, Fault::kWriteError, Fault::kSyncError}) {
      for (uint64_t after : {0, 1, 4, 16}) {
        INFO(target.what << ", fault " << static_cast<int>(fault) << " after " << after);
        Disk disk;
        disk.rocksdb->write_buffer_bytes = 64 << 10;
        disk.fs->SetFault(fault, after, target.name_part);
        std::vector<std::string> acknowledged;
        auto opened = Store::Open(disk.options, disk.dir.path());
        ++scenarios;
        if (!opened.ok()) {
          INFO(opened.status().ToString());
          CHECK(opened.status().IsIOError());
          ++refused_opens;
        } else {
          Store& store = **opened;
          Status failure;
          for (int i = 0; i < 150 && failure.ok(); ++i) {
            const std::string text = "event-" + std::to_string(i) + "-" + filler;
            auto result = AppendText(store, "r" + std::to_string(i % 3), text,
                                     i % 2 == 0 ? Durability::kSync : Durability::kBuffered);
            if (result.ok()) acknowledged.push_back(text);
            if (!result.ok()) failure = result.status();
            if (i == 50 && failure.ok()) failure = store.PutSnapshot("r0", "tally", 1, 1, "state", Durability::kSync);
            if (i == 80 && failure.ok()) failure = store.PutBlob(filler + "blob", Durability::kSync).status();
          }
          if (!failure.ok()) {
            INFO(failure.ToString());
            CHECK(failure.IsIOError());
            ++stopped;
            if (!acknowledged.empty()) CHECK(ReadWholeRun(store, "r0").size() >= 1);  // reads go on
          }
          Status closed = store.Close();
          CHECK((closed.ok() || closed.IsIOError()));
        }
        faults_by_target[target.what] += disk.fs->faults_injected();
        auto store = disk.Heal();
        std::map<std::string, Placed> events = ReadEverything(*store);
        for (const std::string& text : acknowledged) CHECK(events.count(text) == 1);
        CHECK(store->Close().ok());
      }
    }
  }
  for (const auto& [what, count] : faults_by_target) {
    std::cout << "[fulldisk] " << what << ": " << count << " failed operations injected\n";
    CHECK(count > 0);  // every kind of file was written, and failed
  }
  std::cout << "[fulldisk] " << scenarios << " scenarios: " << refused_opens << " opens refused with IOError, "
            << stopped << " stores stopped with IOError, every acknowledged append kept, no abort\n";
}

TEST_CASE("Fault.ADiskLeftFullForSecondsNeverAborts", "[fault][fulldisk]") {
  // Goal: a disk that stays full while the store is open -- RocksDB's own
  // error recovery retries every second and logs each try, and its logger
  // flushed its buffer every 5 s and, in Debian's librocksdb, aborted the
  // process on the next line after a failed flush -- costs no more than
  // IOErrors: the store stays stopped and readable for 7 s, closes, and
  // after the disk heals reopens with every acknowledged append.
  Disk disk;
  std::vector<std::string> acknowledged;
  {
    auto store = disk.Open();
    for (int i = 0; i < 20; ++i) {
      const std::string text = "before-" + std::to_string(i);
      REQUIRE(AppendText(*store, "r", text, Durability::kSync).ok());
      acknowledged.push_back(text);
    }
    disk.fs->SetFault(Fault::kNoSpace);  // every file: the disk is full
    auto failed = AppendText(*store, "r", "on a full disk", Durability::kSync);
    REQUIRE(failed.status().IsIOError());
    CHECK_THAT(failed.status().message(), Contains("No space left on device"));
    for (int second = 0; second < 7; ++second) {
      std::this_thread::sleep_for(std::chrono::seconds(1));
      CHECK(AppendText(*store, "r", "still full", Durability::kBuffered).status().IsIOError());
      CHECK(ReadWholeRun(*store, "r").size() == acknowledged.size());
    }
    CHECK(store->Close().IsIOError());
  }
  auto store = disk.Heal();
  std::map<std::string, Placed> events = ReadEverything(*store);
  CHECK(events.size() == acknowledged.size());
  for (const std::string& text : acknowledged) CHECK(events.count(text) == 1);
}
