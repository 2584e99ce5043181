// bench/baselines.h: what agentlog is measured against, on the same bytes:
// raw RocksDB (the ceiling: the same keys and framed values, the same
// options) and SQLite with an events table keyed by (run_id, seq) in WAL
// mode (what most agent frameworks use today).
#ifndef AGENTLOG_BENCH_BASELINES_H_
#define AGENTLOG_BENCH_BASELINES_H_

#include <cstdint>
#include <string>

#include "bench/bench_util.h"

namespace agentlog_bench {

// ---- raw RocksDB: default options, 64 MiB write buffer, 40-byte keys ----

// Put of `value` per operation from `threads` threads.
LoopResult RocksDbPuts(const std::string& dir, int threads, bool sync, const std::string& value, double seconds);
// WriteBatch of `batch` values per operation, one thread. Records per second.
double RocksDbBatches(const std::string& dir, size_t batch, bool sync, const std::string& value, double seconds);
// Loads `records` values in key order, then times one forward iteration
// over them. Records per second of the scan.
double RocksDbScan(const std::string& dir, uint64_t records, const std::string& value);

// ---- SQLite: events(run_id TEXT, seq INTEGER, payload BLOB, PRIMARY KEY
// (run_id, seq)) WITHOUT ROWID, journal_mode=WAL ----

// `per_transaction` inserts per transaction, one connection, for `seconds`;
// synchronous FULL or NORMAL. Rows per second.
LoopResult SqliteInserts(const std::string& dir, bool full, size_t per_transaction, const std::string& value,
                         double seconds);
// Loads `records` rows of one run, then times the key-order scan reading
// every payload. Rows per second of the scan; *file_bytes: the database's
// size on disk after a checkpoint.
double SqliteScan(const std::string& dir, uint64_t records, const std::string& value, uint64_t* file_bytes);

}  // namespace agentlog_bench

#endif  // AGENTLOG_BENCH_BASELINES_H_
