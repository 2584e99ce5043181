// engine/memory_backend.cc: the Backend seam on ordered in-memory maps.
//
// Not a product: a second implementation of the seam, so that the store's
// logic is exercised on something other than RocksDB (tests run the same
// scenarios on both) and so tests can inject faults without a file system.
// Cursors see a snapshot copied at creation, as RocksDB iterators see an
// implicit snapshot.
#include <map>

#include "base/assert.h"
#include "base/mutex.h"
#include "engine/backend.h"

namespace agentlog::internal {
namespace {

using SpaceMap = std::map<std::string, std::string, std::less<>>;

class MemoryCursor final : public Cursor {
 public:
  explicit MemoryCursor(SpaceMap snapshot) : map_(std::move(snapshot)), it_(map_.end()) {}
  void Seek(std::string_view key) override { it_ = map_.lower_bound(key); }
  void SeekForPrev(std::string_view key) override {
    it_ = map_.upper_bound(key);
    if (it_ == map_.begin()) {
      it_ = map_.end();
    } else {
      --it_;
    }
  }
  void SeekToLast() override { it_ = map_.empty() ? map_.end() : std::prev(map_.end()); }
  bool Valid() const override { return it_ != map_.end(); }
  void Next() override {
    AGENTLOG_ASSERT(Valid());
    ++it_;
  }
  void Prev() override {
    AGENTLOG_ASSERT(Valid());
    it_ = it_ == map_.begin() ? map_.end() : std::prev(it_);
  }
  std::string_view key() const override { return it_->first; }
  std::string_view value() const override { return it_->second; }
  Status status() const override { return Status::OK(); }

 private:
  SpaceMap map_;
  SpaceMap::const_iterator it_;
};

class MemoryBackend final : public Backend {
 public:
  Status Get(Space space, std::string_view key, std::string* value) override {
    MutexLock lock(&mu_);
    if (closed_) return Status::Closed("the store is closed; open it again to use it");
    const SpaceMap& map = spaces_[static_cast<size_t>(space)];
    auto found = map.find(key);
    if (found == map.end()) return Status::NotFound("no such key");
    *value = found->second;
    return Status::OK();
  }

  Status Write(const WriteSet& writes, bool sync) override {
    MutexLock lock(&mu_);
    if (closed_) return Status::Closed("the store is closed; open it again to use it");
    for (const WriteSet::Op& op : writes.ops()) {
      SpaceMap& map = spaces_[static_cast<size_t>(op.space)];
      if (op.is_delete) {
        map.erase(op.key);
      } else {
        map[op.key] = op.value;
      }
    }
    return Status::OK();
  }

  Status SyncWal() override {
    MutexLock lock(&mu_);
    return closed_ ? Status::Closed("the store is closed; open it again to use it") : Status::OK();
  }

  std::unique_ptr<Cursor> NewCursor(Space space) override {
    MutexLock lock(&mu_);
    if (closed_) return std::make_unique<ErrorCursor>(Status::Closed("the store is closed; open it again to use it"));
    return std::make_unique<MemoryCursor>(spaces_[static_cast<size_t>(space)]);
  }

  // Memory holds every byte it was given, checked or not: nothing to check,
  // nothing to record for the next open (there is none).
  Status VerifyFiles() override { return Status::OK(); }
  Status Close(std::optional<uint64_t>) override {
    MutexLock lock(&mu_);
    closed_ = true;
    return Status::OK();
  }
  std::optional<uint64_t> closed_high_water() const override { return std::nullopt; }
  Status RecordDamage(const std::string&) override { return Status::OK(); }

 private:
  Mutex mu_;
  SpaceMap spaces_[kSpaceCount] GUARDED_BY(mu_);
  bool closed_ GUARDED_BY(mu_) = false;
};

}  // namespace

std::unique_ptr<Backend> NewMemoryBackend() { return std::make_unique<MemoryBackend>(); }

}  // namespace agentlog::internal
