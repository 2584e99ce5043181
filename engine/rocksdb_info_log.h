// engine/rocksdb_info_log.h: the RocksDB info log (the LOG file of a store's
// directory), written by agentlog instead of RocksDB's own logger.
//
// RocksDB's logger writes through a WritableFileWriter that, in Debian's
// librocksdb (built with its assertions on), aborts the process when a log
// line cannot be written and a later one flushes (`sync_without_flush_called_`):
// a full disk killed a writer that way, from RocksDB's error handler
// logging the very error it was handling. This logger writes each line with
// one FSWritableFile::Append and drops the lines the disk refuses: the info
// log is for people, and losing a line must never cost the store.
//
// The previous LOG is kept as LOG.old (one, not RocksDB's one per open); a
// LOG stops growing at kMaxInfoLogBytes. Read-only opens write no file:
// they get NewDiscardingInfoLog().
#ifndef AGENTLOG_ENGINE_ROCKSDB_INFO_LOG_H_
#define AGENTLOG_ENGINE_ROCKSDB_INFO_LOG_H_

#include <cstddef>
#include <memory>
#include <string>

#include "agentlog/clock.h"

namespace rocksdb {
class FileSystem;
class Logger;
}  // namespace rocksdb

namespace agentlog::internal {

constexpr size_t kMaxInfoLogBytes = size_t{64} << 20;

// A logger writing DIR/LOG through `fs`, lines stamped by `clock`. Never
// fails: if the file cannot be opened, it drops every line.
// REQUIRES: `fs` and `clock` outlive the logger.
std::shared_ptr<rocksdb::Logger> OpenInfoLog(rocksdb::FileSystem* fs, const std::string& dir, Clock* clock);

// A logger that writes nothing.
std::shared_ptr<rocksdb::Logger> NewDiscardingInfoLog();

}  // namespace agentlog::internal

#endif  // AGENTLOG_ENGINE_ROCKSDB_INFO_LOG_H_
