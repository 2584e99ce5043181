// agentlog/rocksdb_options.h: the expert's knobs, for callers who need the
// store's RocksDB underneath -- to interpose on its files or to size its
// memory. Most embedders never include this header: agentlog/options.h has
// everything a store's behaviour depends on, and no RocksDB type.
//
// It names rocksdb::FileSystem by a forward declaration, so including it
// needs no RocksDB header; a caller that sets file_system has its
// FileSystem from <rocksdb/file_system.h> (librocksdb-dev) anyway.
#ifndef AGENTLOG_ROCKSDB_OPTIONS_H_
#define AGENTLOG_ROCKSDB_OPTIONS_H_

#include <cstddef>
#include <memory>

#include "agentlog/export.h"
#include "agentlog/options.h"

namespace rocksdb {
class FileSystem;  // <rocksdb/file_system.h>
}  // namespace rocksdb

namespace agentlog {

// Set through Options::rocksdb. Nothing here is persisted in the store: a
// store may be reopened with other values.
struct RocksDbOptions {
  // The file system the store reads and writes through: RocksDB's
  // FileSystem interface, so a caller can interpose on every file operation
  // (tests inject power cuts and I/O errors this way; see
  // testing/power_loss_fs.h). The store holds a reference until it is
  // destroyed. Default: nullptr, the operating system's
  // (rocksdb::FileSystem::Default()).
  std::shared_ptr<rocksdb::FileSystem> file_system;

  // RocksDB memtable size of each column family, in bytes: how much of the
  // newest data is held in memory before it is flushed to a table file.
  // Default: 64 MiB.
  size_t write_buffer_bytes = size_t{64} << 20;

  // RocksDB block cache shared by the column families, in bytes.
  // Default: 64 MiB.
  size_t block_cache_bytes = size_t{64} << 20;
};

// The RocksDB options a store opens with: `options.rocksdb` if set, else
// the defaults above. For a caller that changes one field of a copy:
//   auto tuning = std::make_shared<RocksDbOptions>(RocksDbOptionsOf(options));
//   tuning->write_buffer_bytes = 1 << 20;
//   options.rocksdb = tuning;
AGENTLOG_EXPORT RocksDbOptions RocksDbOptionsOf(const Options& options);

}  // namespace agentlog

#endif  // AGENTLOG_ROCKSDB_OPTIONS_H_
