// bench/agentlog_bench.cc: agentlog against raw RocksDB, SQLite and the
// disk's fsync floor, as ratios measured in one run of one program (the
// machines are noisy; absolute figures alone mean little).
//
//   agentlog_bench [--mode short|full] [--json] [--dir DIR] [--payload BYTES]
//                  [--only durable|buffered|reads|subscription|state_at|open]
//
// --only runs the baselines and one workload (to profile it).
//
// Workloads (512-byte events unless --payload): durable appends at 1, 8 and
// 32 appenders; buffered appends, single and batched (100 per append);
// reading a run forward, reading the global feed, a subscription's lag under
// write load; StateAt at random points; opening stores of many runs (time to
// first append); bytes on disk per event before and after compaction; the
// peak RSS of each workload. `short` runs in seconds (CI); `full` in a few
// minutes (bench/README.md holds its latest table). bench/README.md says what
// each row measures and what the targets are.
#include <cstdio>
#include <cstring>
#include <filesystem>

#include <openssl/evp.h>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <rocksdb/db.h>

#include "agentlog/agentlog.h"
#include "bench/baselines.h"
#include "bench/bench_util.h"
#include "bench/state_at_workload.h"

namespace agentlog_bench {
namespace {

using agentlog::Durability;

struct Mode {
  double seconds;                  // per timed figure
  uint64_t read_events;            // events in the run read forward
  std::vector<uint64_t> open_runs; // store sizes for the open-time figure
  std::vector<uint64_t> state_at_events;
  size_t state_at_samples, state_at_cold_samples;
};

const Mode kShort{0.5, 20000, {1000, 10000}, {2000}, 50, 5};
const Mode kFull{4, 1000000, {1000, 100000, 1000000}, {10000, 100000}, 200, 10};

struct Ratio {
  std::string baseline;
  double value;
};

struct Row {
  std::string workload;
  std::string figure;   // what `value` is, with its unit
  double value = 0;
  std::vector<Ratio> ratios;
  std::string detail;   // latency, appends per fsync, ...
  double peak_rss_mib = 0;
};

class Report {
 public:
  void Add(Row row) {
    row.peak_rss_mib = PeakRssMiB();
    std::fprintf(stderr, "  %-34s %14.1f %s\n", row.workload.c_str(), row.value, row.figure.c_str());
    rows_.push_back(std::move(row));
  }
  void PrintTable() const {
    std::printf("%-34s %14s  %-15s %-52s %8s  %s\n", "workload", "value", "unit", "ratios", "RSS MiB",
                "detail");
    for (const Row& row : rows_) {
      std::string ratios;
      for (const Ratio& r : row.ratios) {
        char text[96];
        std::snprintf(text, sizeof text, "%s%.2fx %s", ratios.empty() ? "" : ", ", r.value, r.baseline.c_str());
        ratios += text;
      }
      std::printf("%-34s %14.1f  %-15s %-52s %8.0f  %s\n", row.workload.c_str(), row.value, row.figure.c_str(),
                  ratios.c_str(), row.peak_rss_mib, row.detail.c_str());
    }
  }
  void PrintJson(const std::string& mode, size_t payload_bytes) const {
    nlohmann::ordered_json out;
    out["mode"] = mode;
    out["payload_bytes"] = payload_bytes;
    out["rows"] = nlohmann::ordered_json::array();
    for (const Row& row : rows_) {
      nlohmann::ordered_json r;
      r["workload"] = row.workload;
      r["value"] = row.value;
      r["unit"] = row.figure;
      for (const Ratio& ratio : row.ratios) r["ratios"][ratio.baseline] = ratio.value;
      r["detail"] = row.detail;
      r["peak_rss_mib"] = row.peak_rss_mib;
      out["rows"].push_back(std::move(r));
    }
    std::printf("%s\n", out.dump().c_str());  // one line: a JSON-lines consumer reads it whole
  }

 private:
  std::vector<Row> rows_;
};

std::unique_ptr<agentlog::Store> OpenStore(const std::string& dir, bool fresh) {
  if (fresh) std::filesystem::remove_all(dir);
  agentlog::Options options;
  options.clock = agentlog::SystemClock();
  auto store = agentlog::Store::Open(options, dir);
  if (!store.ok()) Fail("open " + dir, store.status().ToString());
  return std::move(store.value());
}

void CloseStore(std::unique_ptr<agentlog::Store>& store) {
  if (agentlog::Status s = store->Close(); !s.ok()) Fail("close", s.ToString());
  store.reset();
}

std::string Format(const char* format, double a, double b = 0, double c = 0) {
  char text[160];
  std::snprintf(text, sizeof text, format, a, b, c);
  return text;
}

// "; CPU 12.3 us/event (rocksdb 4.1)": process CPU time per event of a
// loop, and of the raw RocksDB loop beside it when there is one.
std::string CpuPerEvent(const LoopResult& ours, size_t events_per_operation, const LoopResult* rocks = nullptr) {
  const double events = static_cast<double>(ours.operations * events_per_operation);
  std::string text = Format("; CPU %.1f us/event", ours.cpu_us / std::max(events, 1.0));
  if (rocks != nullptr) {
    text += Format(" (rocksdb %.1f)", rocks->cpu_us / std::max(static_cast<double>(rocks->operations), 1.0));
  }
  return text;
}
std::string CpuPerEvent(const LoopResult& ours, size_t events_per_operation, const LoopResult& rocks) {
  return CpuPerEvent(ours, events_per_operation, &rocks);
}

// Appends of `events_per_append` events from `threads` appenders, each to a
// run of its own, for `seconds`. Events per second in .per_second.
LoopResult Appends(agentlog::Store& store, int threads, Durability durability, const std::string& payload,
                   size_t events_per_append, double seconds) {
  std::vector<agentlog::EventInput> events(events_per_append);
  for (auto& event : events) event.payload = payload;
  agentlog::AppendOptions options;
  options.durability = durability;
  std::vector<std::string> runs;
  for (int t = 0; t < threads; ++t) runs.push_back("bench-run-" + std::to_string(t));
  LoopResult result = RunLoop(threads, seconds, [&](int thread, uint64_t) {
    auto appended = store.Append(runs[thread], events, options);
    if (!appended.ok()) Fail("append", appended.status().ToString());
  });
  result.per_second *= static_cast<double>(events_per_append);
  return result;
}

void DurableAppends(const std::string& dir, const Mode& mode, const std::string& payload, double fsync_floor,
                    double sqlite_full, Report& report) {
  for (int threads : {1, 8, 32}) {
    ResetPeakRss();
    auto store = OpenStore(dir + "/store", true);
    const agentlog::CommitStats before = store->stats();
    LoopResult ours = Appends(*store, threads, Durability::kSync, payload, 1, mode.seconds);
    const agentlog::CommitStats after = store->stats();
    CloseStore(store);
    const double per_fsync = static_cast<double>(after.appends - before.appends) /
                             static_cast<double>(std::max<uint64_t>(1, after.synced_writes - before.synced_writes));
    const LoopResult rocks = RocksDbPuts(dir + "/rocksdb", threads, true, payload, mode.seconds);
    report.Add({"sync append, " + std::to_string(threads) + " appender(s)", "events/s", ours.per_second,
                {{"rocksdb sync put", ours.per_second / rocks.per_second},
                 {"sqlite FULL 1/txn", ours.per_second / sqlite_full},
                 {"fsync floor", ours.per_second / fsync_floor}},
                Format("p50 %.0f us, p99 %.0f us, %.1f appends per fsync", Percentile(ours.latencies_us, 50),
                       Percentile(ours.latencies_us, 99), per_fsync) +
                    CpuPerEvent(ours, 1, rocks)});
  }
}

void BufferedAppends(const std::string& dir, const Mode& mode, const std::string& payload, Report& report) {
  ResetPeakRss();
  auto store = OpenStore(dir + "/store", true);
  LoopResult single = Appends(*store, 1, Durability::kBuffered, payload, 1, mode.seconds);
  CloseStore(store);
  const LoopResult rocks = RocksDbPuts(dir + "/rocksdb", 1, false, payload, mode.seconds);
  const LoopResult sqlite = SqliteInserts(dir + "/sqlite", false, 1, payload, mode.seconds);
  report.Add({"buffered append, 1 event", "events/s", single.per_second,
              {{"rocksdb put", single.per_second / rocks.per_second},
               {"sqlite NORMAL 1/txn", single.per_second / sqlite.per_second}},
              Format("p50 %.1f us, p99 %.1f us", Percentile(single.latencies_us, 50),
                     Percentile(single.latencies_us, 99)) +
                  CpuPerEvent(single, 1, rocks)});
  ResetPeakRss();
  store = OpenStore(dir + "/store", true);
  LoopResult batched = Appends(*store, 1, Durability::kBuffered, payload, 100, mode.seconds);
  CloseStore(store);
  const double rocks_batch = RocksDbBatches(dir + "/rocksdb", 100, false, payload, mode.seconds);
  const LoopResult sqlite_batch = SqliteInserts(dir + "/sqlite", false, 100, payload, mode.seconds);
  report.Add({"buffered append, 100 events", "events/s", batched.per_second,
              {{"rocksdb batch of 100", batched.per_second / rocks_batch},
               {"sqlite NORMAL 100/txn", batched.per_second / sqlite_batch.per_second}},
              Format("p50 %.0f us per append", Percentile(batched.latencies_us, 50)) + CpuPerEvent(batched, 100)});
}

// Compacts every column family of a closed store through raw RocksDB.
void CompactStore(const std::string& dir) {
  std::vector<std::string> names;
  rocksdb::Status s = rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), dir, &names);
  if (!s.ok()) Fail("list column families", s.ToString());
  std::vector<rocksdb::ColumnFamilyDescriptor> families;
  for (const std::string& name : names) families.emplace_back(name, rocksdb::ColumnFamilyOptions());
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* db = nullptr;
  s = rocksdb::DB::Open(rocksdb::DBOptions(), dir, families, &handles, &db);
  if (!s.ok()) Fail("open for compaction", s.ToString());
  for (rocksdb::ColumnFamilyHandle* handle : handles) {
    s = db->CompactRange(rocksdb::CompactRangeOptions(), handle, nullptr, nullptr);
    if (!s.ok()) Fail("compact", s.ToString());
  }
  for (rocksdb::ColumnFamilyHandle* handle : handles) db->DestroyColumnFamilyHandle(handle).PermitUncheckedError();
  delete db;
  // Raw RocksDB rewrote the files that the store's close marker describes:
  // without this, the next open refuses the store as changed behind its back
  // (engine/record_format.md, "Files beside RocksDB's").
  std::filesystem::remove(dir + "/AGENTLOG_CLOSED");
}

// Nanoseconds per SHA-256 of `payload` (OpenSSL, the way the store's reads
// hash: a fetched algorithm, a reused context), over `count` hashes.
double PayloadHashNanos(const std::string& payload, uint64_t count) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  unsigned char sink = 0;
  EVP_MD* algorithm = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  EVP_MD_CTX* context = EVP_MD_CTX_new();
  const auto start = Steady::now();
  for (uint64_t i = 0; i < count; ++i) {
    if (EVP_DigestInit_ex2(context, algorithm, nullptr) != 1 ||
        EVP_DigestUpdate(context, payload.data(), payload.size()) != 1 ||
        EVP_DigestFinal_ex(context, digest, &size) != 1) {
      Fail("sha-256", "EVP_Digest failed");
    }
    sink ^= digest[i % 32];
  }
  EVP_MD_CTX_free(context);
  EVP_MD_free(algorithm);
  const double seconds = Seconds(Steady::now() - start);
  if (sink == 0xff && size == 0) std::printf(" ");  // keeps the loop from being optimized away
  return seconds * 1e9 / static_cast<double>(count);
}

void ReadsAndSpace(const std::string& dir, const Mode& mode, const std::string& payload, Report& report) {
  const uint64_t n = mode.read_events;
  ResetPeakRss();
  auto store = OpenStore(dir + "/store", true);
  std::vector<agentlog::EventInput> batch(1000);
  for (auto& event : batch) event.payload = payload;
  agentlog::AppendOptions buffered;
  buffered.durability = Durability::kBuffered;
  for (uint64_t done = 0; done < n; done += batch.size()) {
    auto appended = store->Append("bench-run", std::span(batch.data(), std::min<uint64_t>(batch.size(), n - done)),
                                  buffered);
    if (!appended.ok()) Fail("load", appended.status().ToString());
  }
  CloseStore(store);
  const uint64_t bytes_before = DirBytes(dir + "/store");
  store = OpenStore(dir + "/store", false);

  agentlog::ReadOptions read;
  read.limit = 10000;
  uint64_t seen = 0;
  auto start = Steady::now();
  for (;;) {
    auto events = store->ReadRun("bench-run", read);
    if (!events.ok()) Fail("read", events.status().ToString());
    seen += events->size();
    if (events->size() < read.limit) break;
    read.from_sequence = events->back().sequence() + 1;
  }
  const double run_rate = static_cast<double>(seen) / Seconds(Steady::now() - start);
  if (seen != n) Fail("read", "saw " + std::to_string(seen) + " of " + std::to_string(n));
  uint64_t position = 0;
  seen = 0;
  start = Steady::now();
  for (;;) {
    auto events = store->ReadGlobal(position, 10000);
    if (!events.ok()) Fail("read global", events.status().ToString());
    seen += events->size();
    if (events->empty()) break;
    position = events->back().global_position();
  }
  const double global_rate = static_cast<double>(seen) / Seconds(Steady::now() - start);
  CloseStore(store);
  uint64_t sqlite_bytes = 0;
  const double sqlite_scan = SqliteScan(dir + "/sqlite", n, payload, &sqlite_bytes);
  const double rocks_scan = RocksDbScan(dir + "/rocksdb", n, payload);
  report.Add({"read a run forward", "events/s", run_rate,
              {{"sqlite key-order scan", run_rate / sqlite_scan}, {"rocksdb iterator", run_rate / rocks_scan}},
              Format("%.0f events, every frame checked", static_cast<double>(n))});
  report.Add({"read the global feed", "events/s", global_rate,
              {{"sqlite key-order scan", global_rate / sqlite_scan}, {"rocksdb iterator", global_rate / rocks_scan}},
              ""});
  // Every read hashes each payload it returns (SHA-256 against the
  // recorded payload hash): that part alone, timed over the same payloads.
  const double hash_ns = PayloadHashNanos(payload, n);
  report.Add({"payload SHA-256 check, per event read", "ns", hash_ns,
              {{"share of a forward read", hash_ns * run_rate / 1e9},
               {"share of the global feed", hash_ns * global_rate / 1e9}},
              Format("OpenSSL SHA-256 of the %.0f-byte payload", static_cast<double>(payload.size()))});

  CompactStore(dir + "/store");
  const uint64_t bytes_after = DirBytes(dir + "/store");
  const double per_event = static_cast<double>(bytes_after) / static_cast<double>(n);
  const double sqlite_per_row = static_cast<double>(sqlite_bytes) / static_cast<double>(n);
  report.Add({"disk bytes per event (compacted)", "bytes", per_event,
              {{"payload", per_event / static_cast<double>(payload.size())}, {"sqlite per row", per_event / sqlite_per_row}},
              Format("%.0f bytes per event before compaction; payload %.0f bytes", static_cast<double>(bytes_before) / n,
                     static_cast<double>(payload.size()))});
  std::filesystem::remove_all(dir + "/store");
}

void SubscriptionLag(const std::string& dir, const Mode& mode, const std::string& payload, Report& report) {
  ResetPeakRss();
  auto store = OpenStore(dir + "/store", true);
  std::mutex mu;
  std::vector<double> lag_ms;
  auto subscription = store->Subscribe(0, [&](const agentlog::Event& event) {
    const double lag = static_cast<double>(agentlog::SystemClock()->NowMicros() - event.timestamp_us()) / 1000;
    std::lock_guard<std::mutex> lock(mu);
    lag_ms.push_back(lag);
    return agentlog::Status::OK();
  });
  if (!subscription.ok()) Fail("subscribe", subscription.status().ToString());
  const LoopResult load = Appends(*store, 8, Durability::kSync, payload, 1, mode.seconds);
  const uint64_t last = store->LastPosition();
  while ((*subscription)->position() < last) {
    if (!(*subscription)->status().ok()) Fail("subscription", (*subscription)->status().ToString());
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  (*subscription)->Cancel();
  CloseStore(store);
  std::lock_guard<std::mutex> lock(mu);
  report.Add({"subscription lag, 8 sync appenders", "ms p50", Percentile(lag_ms, 50), {},
              Format("p99 %.2f ms, max %.2f ms, under %.0f events/s", Percentile(lag_ms, 99),
                     lag_ms.empty() ? 0 : lag_ms.back(), load.per_second)});
}

void TimeTravel(const std::string& dir, const Mode& mode, Report& report) {
  for (uint64_t events : mode.state_at_events) {
    ResetPeakRss();
    const StateAtResult r = RunStateAt(dir + "/state_at", events, mode.state_at_samples, mode.state_at_cold_samples);
    report.Add({"StateAt, run of " + std::to_string(events) + " events", "ms p50", r.with_snapshots.p50_ms,
                {{"fold from event 1 (mean)", r.without_snapshots.mean_ms / r.with_snapshots.mean_ms}},
                Format("p99 %.2f ms, mean %.2f ms; state at head %.0f bytes", r.with_snapshots.p99_ms,
                       r.with_snapshots.mean_ms, static_cast<double>(r.state_bytes))});
  }
}

void OpenTime(const std::string& dir, const Mode& mode, const std::string& payload, Report& report) {
  double smallest_ms = 0;
  for (uint64_t runs : mode.open_runs) {
    auto store = OpenStore(dir + "/open", true);
    agentlog::EventInput event;
    event.payload = payload;
    agentlog::AppendOptions buffered;
    buffered.durability = Durability::kBuffered;
    std::atomic<uint64_t> next{0};
    std::vector<std::thread> loaders;
    for (int t = 0; t < 8; ++t) {
      loaders.emplace_back([&] {
        for (uint64_t i = next++; i < runs; i = next++) {
          auto appended = store->Append("run-" + std::to_string(i), std::span(&event, 1), buffered);
          if (!appended.ok()) Fail("load runs", appended.status().ToString());
        }
      });
    }
    for (auto& loader : loaders) loader.join();
    CloseStore(store);
    // Flushed and compacted first, as a store that has been running is: the
    // figure is then the engine's open, not RocksDB replaying a write-ahead
    // log of the load (which grows with the load, up to write_buffer_bytes).
    CompactStore(dir + "/open");
    ResetPeakRss();
    agentlog::AppendOptions sync;
    const auto start = Steady::now();
    store = OpenStore(dir + "/open", false);
    auto appended = store->Append("run-new", std::span(&event, 1), sync);
    if (!appended.ok()) Fail("first append", appended.status().ToString());
    const double ms = Seconds(Steady::now() - start) * 1000;
    CloseStore(store);
    if (smallest_ms == 0) smallest_ms = ms;
    report.Add({"open + first sync append, " + std::to_string(runs) + " runs", "ms", ms,
                {{"the same at " + std::to_string(mode.open_runs.front()) + " runs", ms / smallest_ms}}, ""});
  }
  std::filesystem::remove_all(dir + "/open");
}

}  // namespace
}  // namespace agentlog_bench

int main(int argc, char** argv) {
  using namespace agentlog_bench;
  std::string mode_name = "short";
  bool json = false;
  std::string dir = std::filesystem::temp_directory_path() / "agentlog_bench";
  size_t payload_bytes = 512;
  std::string only;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--json") {
      json = true;
    } else if (i + 1 < argc && flag == "--mode") {
      mode_name = argv[++i];
    } else if (i + 1 < argc && flag == "--dir") {
      dir = argv[++i];
    } else if (i + 1 < argc && flag == "--payload") {
      payload_bytes = std::stoul(argv[++i]);
    } else if (i + 1 < argc && flag == "--only") {
      only = argv[++i];
    } else {
      std::fprintf(stderr,
                   "usage: %s [--mode short|full] [--json] [--dir DIR] [--payload BYTES] [--only WORKLOAD]\n",
                   argv[0]);
      return 2;
    }
  }
  if (mode_name != "short" && mode_name != "full") {
    std::fprintf(stderr, "agentlog_bench: --mode is short or full, not %s\n", mode_name.c_str());
    return 2;
  }
  const Mode& mode = mode_name == "full" ? kFull : kShort;
  for (const char* name : {"", "durable", "buffered", "reads", "subscription", "state_at", "open"}) {
    if (only == name) break;
    if (std::string(name) == "open") {
      std::fprintf(stderr, "agentlog_bench: unknown --only %s\n", only.c_str());
      return 2;
    }
  }
  std::filesystem::create_directories(dir);
  const std::string payload = MakePayload(payload_bytes);
  Report report;
  std::fprintf(stderr, "agentlog_bench --mode %s: %zu-byte events (%zu-byte FlatBuffers), %.1f s per timed figure\n",
               mode_name.c_str(), payload_bytes, payload.size(), mode.seconds);

  ResetPeakRss();
  const double fsync_floor = FsyncFloor(dir, mode.seconds);
  const LoopResult sqlite_full = SqliteInserts(dir + "/sqlite", true, 1, payload, mode.seconds);
  const LoopResult sqlite_normal = SqliteInserts(dir + "/sqlite", false, 1, payload, mode.seconds);
  report.Add({"baseline: fdatasync of 512 B", "writes/s", fsync_floor, {}, ""});
  report.Add({"baseline: sqlite FULL, 1 insert/txn", "rows/s", sqlite_full.per_second,
              {{"fsync floor", sqlite_full.per_second / fsync_floor}}, ""});
  report.Add({"baseline: sqlite NORMAL, 1 insert/txn", "rows/s", sqlite_normal.per_second,
              {{"fsync floor", sqlite_normal.per_second / fsync_floor}}, ""});

  const auto wanted = [&only](const char* name) { return only.empty() || only == name; };
  if (wanted("durable")) DurableAppends(dir, mode, payload, fsync_floor, sqlite_full.per_second, report);
  if (wanted("buffered")) BufferedAppends(dir, mode, payload, report);
  if (wanted("reads")) ReadsAndSpace(dir, mode, payload, report);
  if (wanted("subscription")) SubscriptionLag(dir, mode, payload, report);
  if (wanted("state_at")) TimeTravel(dir, mode, report);
  if (wanted("open")) OpenTime(dir, mode, payload, report);
  std::filesystem::remove_all(dir);

  if (json) {
    report.PrintJson(mode_name, payload_bytes);
  } else {
    report.PrintTable();
  }
  return 0;
}
