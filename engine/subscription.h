// engine/subscription.h: a live feed of committed events in global order.
//
// Each subscription has a thread that reads the global index from its
// cursor (catch-up), then sleeps on the store's CommitNotifier until a
// commit moves the last position past it. The global index is written in
// the same atomic write as the events and only by the single committer, in
// position order, so what a reader sees is always a gapless prefix: reading
// from the cursor never skips or repeats an event.
#ifndef AGENTLOG_ENGINE_SUBSCRIPTION_H_
#define AGENTLOG_ENGINE_SUBSCRIPTION_H_

#include <atomic>
#include <memory>
#include <thread>

#include "agentlog/store.h"
#include "base/mutex.h"
#include "engine/store_impl.h"

namespace agentlog::internal {

// Events read from the global index per wake-up (a bound on memory).
constexpr size_t kSubscriptionReadBatch = 256;

class SubscriptionCore {
 public:
  SubscriptionCore(Store* store, std::shared_ptr<CommitNotifier> notifier, uint64_t after_position,
                   SubscriptionCallback callback);
  void Start();
  // Stops the thread (waiting for a callback in flight) and records
  // `status` as the reason, unless it already stopped: the first reason
  // (a Cancel's OK, a callback's error, the store's Closed) stays.
  void Stop(Status status);
  uint64_t position() const { return position_.load(); }
  Status status() const;
  // True once the thread has returned (stopped, failed or store closed).
  bool finished() const { return finished_.load(); }

 private:
  void Run();
  bool StopRequested();

  Store* const store_;  // outlives the thread: Store::Close stops every core
  const std::shared_ptr<CommitNotifier> notifier_;
  const SubscriptionCallback callback_;
  std::atomic<uint64_t> position_;
  std::atomic<bool> finished_{false};
  mutable Mutex status_mu_;
  Status status_ GUARDED_BY(status_mu_);
  bool stopped_ GUARDED_BY(status_mu_) = false;  // a reason is recorded
  bool stop_ GUARDED_BY(notifier_->mu) = false;
  Mutex join_mu_;
  std::thread thread_ GUARDED_BY(join_mu_);
};

class SubscriptionHandle final : public Subscription {
 public:
  explicit SubscriptionHandle(std::shared_ptr<SubscriptionCore> core) : core_(std::move(core)) {}
  ~SubscriptionHandle() override { Cancel(); }
  void Cancel() override { core_->Stop(Status::OK()); }
  uint64_t position() const override { return core_->position(); }
  Status status() const override { return core_->status(); }

 private:
  std::shared_ptr<SubscriptionCore> core_;
};

}  // namespace agentlog::internal

#endif  // AGENTLOG_ENGINE_SUBSCRIPTION_H_
