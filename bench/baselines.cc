// bench/baselines.cc: see baselines.h. Each baseline starts from an empty
// directory and removes it afterwards.
#include "bench/baselines.h"

#include <sqlite3.h>

#include <cstdio>
#include <filesystem>
#include <memory>

#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

namespace agentlog_bench {
namespace {

std::unique_ptr<rocksdb::DB> OpenRocksDb(const std::string& dir) {
  std::filesystem::remove_all(dir);
  rocksdb::Options options;
  options.create_if_missing = true;
  options.write_buffer_size = size_t{64} << 20;
  rocksdb::DB* raw = nullptr;
  const rocksdb::Status status = rocksdb::DB::Open(options, dir, &raw);
  if (!status.ok()) Fail("rocksdb open", status.ToString());
  return std::unique_ptr<rocksdb::DB>(raw);
}

// "bench-run-TT-" and a zero-padded counter: 40 bytes, in key order.
std::string Key(int thread, uint64_t i) {
  char key[41];
  std::snprintf(key, sizeof(key), "bench-run-%02d-%027llu", thread, static_cast<unsigned long long>(i));
  return std::string(key, 40);
}

sqlite3* OpenSqlite(const std::string& dir, bool full) {
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  sqlite3* db = nullptr;
  if (sqlite3_open((dir + "/events.db").c_str(), &db) != SQLITE_OK) Fail("sqlite open", sqlite3_errmsg(db));
  const std::string setup = std::string("PRAGMA journal_mode=WAL; PRAGMA synchronous=") +
                            (full ? "FULL" : "NORMAL") +
                            "; CREATE TABLE events (run_id TEXT NOT NULL, seq INTEGER NOT NULL, "
                            "payload BLOB NOT NULL, PRIMARY KEY (run_id, seq)) WITHOUT ROWID;";
  char* error = nullptr;
  if (sqlite3_exec(db, setup.c_str(), nullptr, nullptr, &error) != SQLITE_OK) Fail("sqlite setup", error);
  return db;
}

void Exec(sqlite3* db, const char* sql) {
  char* error = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &error) != SQLITE_OK) Fail(sql, error);
}

}  // namespace

LoopResult RocksDbPuts(const std::string& dir, int threads, bool sync, const std::string& value, double seconds) {
  std::unique_ptr<rocksdb::DB> db = OpenRocksDb(dir);
  rocksdb::WriteOptions write;
  write.sync = sync;
  LoopResult result = RunLoop(threads, seconds, [&](int thread, uint64_t i) {
    const rocksdb::Status put = db->Put(write, Key(thread, i), value);
    if (!put.ok()) Fail("rocksdb put", put.ToString());
  });
  db.reset();
  std::filesystem::remove_all(dir);
  return result;
}

double RocksDbBatches(const std::string& dir, size_t batch, bool sync, const std::string& value, double seconds) {
  std::unique_ptr<rocksdb::DB> db = OpenRocksDb(dir);
  rocksdb::WriteOptions write;
  write.sync = sync;
  const LoopResult result = RunLoop(1, seconds, [&](int, uint64_t i) {
    rocksdb::WriteBatch writes;
    for (size_t j = 0; j < batch; ++j) writes.Put(Key(0, i * batch + j), value);
    const rocksdb::Status status = db->Write(write, &writes);
    if (!status.ok()) Fail("rocksdb write", status.ToString());
  });
  db.reset();
  std::filesystem::remove_all(dir);
  return result.per_second * static_cast<double>(batch);
}

double RocksDbScan(const std::string& dir, uint64_t records, const std::string& value) {
  std::unique_ptr<rocksdb::DB> db = OpenRocksDb(dir);
  for (uint64_t i = 0; i < records;) {
    rocksdb::WriteBatch writes;
    for (int j = 0; j < 1000 && i < records; ++j, ++i) writes.Put(Key(0, i), value);
    const rocksdb::Status status = db->Write(rocksdb::WriteOptions(), &writes);
    if (!status.ok()) Fail("rocksdb load", status.ToString());
  }
  db->Flush(rocksdb::FlushOptions()).PermitUncheckedError();
  const auto start = Steady::now();
  uint64_t seen = 0, bytes = 0;
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions()));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    bytes += it->value().size();
    ++seen;
  }
  const double elapsed = Seconds(Steady::now() - start);
  if (seen != records || bytes == 0) Fail("rocksdb scan", "saw " + std::to_string(seen) + " records");
  it.reset();
  db.reset();
  std::filesystem::remove_all(dir);
  return static_cast<double>(seen) / elapsed;
}

LoopResult SqliteInserts(const std::string& dir, bool full, size_t per_transaction, const std::string& value,
                         double seconds) {
  sqlite3* db = OpenSqlite(dir, full);
  sqlite3_stmt* insert = nullptr;
  if (sqlite3_prepare_v2(db, "INSERT INTO events VALUES (?, ?, ?)", -1, &insert, nullptr) != SQLITE_OK) {
    Fail("sqlite prepare", sqlite3_errmsg(db));
  }
  LoopResult result = RunLoop(1, seconds, [&](int, uint64_t i) {
    Exec(db, "BEGIN");
    for (size_t j = 0; j < per_transaction; ++j) {
      sqlite3_bind_text(insert, 1, "bench-run", -1, SQLITE_STATIC);
      sqlite3_bind_int64(insert, 2, static_cast<sqlite3_int64>(i * per_transaction + j + 1));
      sqlite3_bind_blob(insert, 3, value.data(), static_cast<int>(value.size()), SQLITE_STATIC);
      if (sqlite3_step(insert) != SQLITE_DONE) Fail("sqlite insert", sqlite3_errmsg(db));
      sqlite3_reset(insert);
    }
    Exec(db, "COMMIT");
  });
  sqlite3_finalize(insert);
  sqlite3_close(db);
  std::filesystem::remove_all(dir);
  result.per_second *= static_cast<double>(per_transaction);
  return result;
}

double SqliteScan(const std::string& dir, uint64_t records, const std::string& value, uint64_t* file_bytes) {
  sqlite3* db = OpenSqlite(dir, false);
  sqlite3_stmt* insert = nullptr;
  sqlite3_prepare_v2(db, "INSERT INTO events VALUES (?, ?, ?)", -1, &insert, nullptr);
  Exec(db, "BEGIN");
  for (uint64_t i = 1; i <= records; ++i) {
    sqlite3_bind_text(insert, 1, "bench-run", -1, SQLITE_STATIC);
    sqlite3_bind_int64(insert, 2, static_cast<sqlite3_int64>(i));
    sqlite3_bind_blob(insert, 3, value.data(), static_cast<int>(value.size()), SQLITE_STATIC);
    if (sqlite3_step(insert) != SQLITE_DONE) Fail("sqlite load", sqlite3_errmsg(db));
    sqlite3_reset(insert);
  }
  Exec(db, "COMMIT");
  Exec(db, "PRAGMA wal_checkpoint(TRUNCATE)");
  sqlite3_finalize(insert);
  *file_bytes = DirBytes(dir);
  sqlite3_stmt* scan = nullptr;
  sqlite3_prepare_v2(db, "SELECT payload FROM events WHERE run_id = ? ORDER BY seq", -1, &scan, nullptr);
  sqlite3_bind_text(scan, 1, "bench-run", -1, SQLITE_STATIC);
  const auto start = Steady::now();
  uint64_t seen = 0, bytes = 0;
  while (sqlite3_step(scan) == SQLITE_ROW) {
    const auto* payload = static_cast<const unsigned char*>(sqlite3_column_blob(scan, 0));
    bytes += static_cast<uint64_t>(sqlite3_column_bytes(scan, 0)) + (payload != nullptr ? payload[0] & 0 : 0);
    ++seen;
  }
  const double elapsed = Seconds(Steady::now() - start);
  if (seen != records || bytes == 0) Fail("sqlite scan", "saw " + std::to_string(seen) + " rows");
  sqlite3_finalize(scan);
  sqlite3_close(db);
  std::filesystem::remove_all(dir);
  return static_cast<double>(seen) / elapsed;
}

}  // namespace agentlog_bench
