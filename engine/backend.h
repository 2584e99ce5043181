// engine/backend.h: the one seam between the store's logic and the
// key-value engine under it. Everything RocksDB-specific lives behind it
// (engine/rocksdb_backend.cc), so the same store logic -- and the same
// engine tests -- can run on another log (a replicated one, or the
// in-memory backend the tests use).
//
// A backend offers named key spaces (column families), atomic multi-space
// batches with a durability flag, point reads and ordered cursors. It knows
// nothing of runs, events or chains.
#ifndef AGENTLOG_ENGINE_BACKEND_H_
#define AGENTLOG_ENGINE_BACKEND_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agentlog/options.h"
#include "agentlog/rocksdb_options.h"
#include "agentlog/status.h"

namespace agentlog::internal {

// The key spaces of DESIGN.md. Values are stable: they index arrays.
enum class Space : uint8_t {
  kEvents = 0,       // run_id 0x00 be64(seq) -> framed Record
  kRuns = 1,         // run_id -> framed RunMeta
  kGlobal = 2,       // be64(position) -> be64(seq) run_id
  kIdempotency = 3,  // key -> framed IdempotencyEntry
  kSnapshots = 4,    // run_id 0x00 projection 0x00 be64(~seq) -> framed Snapshot (metadata)
  kBlobs = 5,        // the same keys -> framed snapshot state; 0x00 'c' sha256 -> framed content
  kIndex = 6,        // secondary indexes: status, session, time, deadline
  kMeta = 7,         // store-wide facts: the format marker
};
constexpr size_t kSpaceCount = 8;
std::string_view SpaceName(Space space);

// An atomic set of puts and deletes across spaces.
class WriteSet {
 public:
  struct Op {
    Space space;
    bool is_delete;
    std::string key;
    std::string value;
  };
  void Put(Space space, std::string key, std::string value) {
    bytes_ += key.size() + value.size();
    ops_.push_back(Op{space, false, std::move(key), std::move(value)});
  }
  void Delete(Space space, std::string key) {
    bytes_ += key.size();
    ops_.push_back(Op{space, true, std::move(key), {}});
  }
  void Append(WriteSet&& other) {
    for (Op& op : other.ops_) ops_.push_back(std::move(op));
    bytes_ += other.bytes_;
    other.ops_.clear();
    other.bytes_ = 0;
  }
  const std::vector<Op>& ops() const { return ops_; }
  size_t bytes() const { return bytes_; }
  bool empty() const { return ops_.empty(); }

 private:
  std::vector<Op> ops_;
  size_t bytes_ = 0;
};

// An ordered cursor over one space. Not thread-safe; one per reader.
class Cursor {
 public:
  virtual ~Cursor() = default;
  virtual void Seek(std::string_view key) = 0;         // first key >= key
  virtual void SeekForPrev(std::string_view key) = 0;  // last key <= key
  virtual void SeekToLast() = 0;
  virtual bool Valid() const = 0;
  virtual void Next() = 0;
  virtual void Prev() = 0;
  virtual std::string_view key() const = 0;    // REQUIRES: Valid()
  // REQUIRES: Valid(). Not necessarily 8-byte aligned: copy it into a
  // std::string before handing it to FlatBuffers readers.
  virtual std::string_view value() const = 0;
  // OK, or the I/O error or corruption that ended the iteration.
  virtual Status status() const = 0;
};

// A cursor that is never valid and reports `status` (e.g. Closed).
class ErrorCursor final : public Cursor {
 public:
  explicit ErrorCursor(Status status) : status_(std::move(status)) {}
  void Seek(std::string_view) override {}
  void SeekForPrev(std::string_view) override {}
  void SeekToLast() override {}
  bool Valid() const override { return false; }
  void Next() override {}
  void Prev() override {}
  std::string_view key() const override { return {}; }
  std::string_view value() const override { return {}; }
  Status status() const override { return status_; }

 private:
  Status status_;
};

class Backend {
 public:
  virtual ~Backend() = default;
  // NotFound if absent; IOError or Corruption from the engine.
  virtual Status Get(Space space, std::string_view key, std::string* value) = 0;
  // All of `writes` or none. With sync, returns only after the writes are on
  // stable storage.
  virtual Status Write(const WriteSet& writes, bool sync) = 0;
  // Makes every write so far durable (fsyncs the write-ahead log).
  virtual Status SyncWal() = 0;
  // A cursor over a consistent view of `space` as of this call; after
  // Close, an ErrorCursor reporting Closed.
  virtual std::unique_ptr<Cursor> NewCursor(Space space) = 0;
  // Checks every stored byte the backend can check by itself (RocksDB:
  // every table block's checksum), naming the damaged file. OK, Corruption,
  // IOError.
  virtual Status VerifyFiles() = 0;
  // Closes; later calls are refused. `clean_high_water` set means the store
  // closed cleanly, every write durable, with that high-water mark (its last
  // global position): the backend records it, durably, for the next open.
  virtual Status Close(std::optional<uint64_t> clean_high_water) = 0;
  // The high-water mark the last clean close recorded, if this open found
  // one and found the files as that close left them; nullopt otherwise (a
  // crash, a new store, a salvage, a backend that keeps none).
  virtual std::optional<uint64_t> closed_high_water() const = 0;
  // Records durably that the store lost data, found after it was opened:
  // every later open refuses with `message`. OK where nothing can be
  // recorded (a read-only store, memory).
  virtual Status RecordDamage(const std::string& message) = 0;
};

struct BackendOptions {
  Clock* clock = nullptr;  // stamps the info log's lines; null: the system clock
  // Writes nothing, creates nothing; every write is refused.
  bool read_only = false;
  bool create_if_missing = true;
  bool error_if_exists = false;
  bool truncate_log_at_damage = false;
  RocksDbOptions rocksdb;  // file system (null: the OS's) and memory sizes
};

// An in-memory backend (engine/memory_backend.cc), for tests of the seam.
std::unique_ptr<Backend> NewMemoryBackend();

// The RocksDB backend: one database, one column family per Space.
Result<std::unique_ptr<Backend>> OpenRocksDbBackend(const BackendOptions& options,
                                                    const std::string& path);

}  // namespace agentlog::internal

#endif  // AGENTLOG_ENGINE_BACKEND_H_
