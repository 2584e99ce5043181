// testing/fault_backend.h: a Backend wrapper that injects documented faults
// into the store's only seam (engine/backend.h): a chosen write fails with
// IOError, a chosen write blocks until released (so that appends queue up
// behind it and form one group), and every write's sync flag and every
// SyncWal call are recorded.
#ifndef AGENTLOG_TESTING_FAULT_BACKEND_H_
#define AGENTLOG_TESTING_FAULT_BACKEND_H_

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <vector>

#include "engine/backend.h"

namespace agentlog::testing {

class FaultBackend final : public internal::Backend {
 public:
  explicit FaultBackend(std::unique_ptr<internal::Backend> inner) : inner_(std::move(inner)) {}

  // Write number `index` (0-based, counting every Write) fails with IOError
  // and writes nothing.
  void FailWrite(int index) { fail_write_ = index; }
  // Write number `index` waits until ReleaseWrite(); WaitUntilBlocked()
  // returns once it is waiting.
  void BlockWrite(int index) { block_write_ = index; }
  void WaitUntilBlocked() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return blocked_; });
  }
  void ReleaseWrite() {
    std::lock_guard<std::mutex> lock(mu_);
    released_ = true;
    cv_.notify_all();
  }
  int writes() const { return writes_.load(); }
  int syncs() const { return syncs_.load(); }
  std::vector<bool> write_sync_flags() {
    std::lock_guard<std::mutex> lock(mu_);
    return sync_flags_;
  }

  Status Get(internal::Space space, std::string_view key, std::string* value) override {
    return inner_->Get(space, key, value);
  }
  Status Write(const internal::WriteSet& writes, bool sync) override {
    const int index = writes_.fetch_add(1);
    {
      std::unique_lock<std::mutex> lock(mu_);
      sync_flags_.push_back(sync);
      if (index == block_write_) {
        blocked_ = true;
        cv_.notify_all();
        cv_.wait(lock, [&] { return released_; });
      }
    }
    if (index == fail_write_) return Status::IOError("injected fault: write " + std::to_string(index));
    return inner_->Write(writes, sync);
  }
  Status SyncWal() override {
    syncs_.fetch_add(1);
    return inner_->SyncWal();
  }
  std::unique_ptr<internal::Cursor> NewCursor(internal::Space space) override {
    return inner_->NewCursor(space);
  }
  Status VerifyFiles() override { return inner_->VerifyFiles(); }
  Status Close(std::optional<uint64_t> clean_high_water) override { return inner_->Close(clean_high_water); }
  std::optional<uint64_t> closed_high_water() const override { return inner_->closed_high_water(); }
  Status RecordDamage(const std::string& message) override { return inner_->RecordDamage(message); }

 private:
  std::unique_ptr<internal::Backend> inner_;
  std::atomic<int> writes_{0};
  std::atomic<int> syncs_{0};
  std::atomic<int> fail_write_{-1};
  std::atomic<int> block_write_{-1};
  std::mutex mu_;
  std::condition_variable cv_;
  bool blocked_ = false;
  bool released_ = false;
  std::vector<bool> sync_flags_;
};

}  // namespace agentlog::testing

#endif  // AGENTLOG_TESTING_FAULT_BACKEND_H_
