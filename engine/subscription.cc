// engine/subscription.cc: see engine/subscription.h.
#include "engine/subscription.h"

namespace agentlog::internal {

SubscriptionCore::SubscriptionCore(Store* store, std::shared_ptr<CommitNotifier> notifier,
                                   uint64_t after_position, SubscriptionCallback callback)
    : store_(store), notifier_(std::move(notifier)), callback_(std::move(callback)),
      position_(after_position) {}

void SubscriptionCore::Start() {
  MutexLock lock(&join_mu_);
  thread_ = std::thread([this] {
    Run();
    finished_.store(true);
  });
}

bool SubscriptionCore::StopRequested() {
  MutexLock lock(&notifier_->mu);
  return stop_;
}

void SubscriptionCore::Stop(Status status) {
  {
    MutexLock lock(&notifier_->mu);
    stop_ = true;
  }
  notifier_->cv.SignalAll();
  {
    MutexLock lock(&join_mu_);
    if (thread_.joinable()) {
      // REQUIRES: not called from the callback (it would join itself).
      AGENTLOG_ASSERT(thread_.get_id() != std::this_thread::get_id());
      thread_.join();
    }
  }
  MutexLock lock(&status_mu_);
  if (!stopped_) {
    status_ = std::move(status);
    stopped_ = true;
  }
}

Status SubscriptionCore::status() const {
  MutexLock lock(&status_mu_);
  return status_;
}

void SubscriptionCore::Run() {
  for (;;) {
    if (StopRequested()) return;
    auto events = store_->ReadGlobal(position_.load(), kSubscriptionReadBatch);
    if (!events.ok()) {
      MutexLock lock(&status_mu_);
      status_ = events.status();
      stopped_ = true;
      return;
    }
    for (const Event& event : *events) {
      if (StopRequested()) return;
      AGENTLOG_ASSERT(event.global_position() == position_.load() + 1);
      Status status = callback_(event);
      if (!status.ok()) {
        MutexLock lock(&status_mu_);
        status_ = std::move(status);
        stopped_ = true;
        return;
      }
      position_.store(event.global_position());
    }
    if (events->size() == kSubscriptionReadBatch) continue;  // more to catch up on
    MutexLock lock(&notifier_->mu);
    while (!stop_ && !notifier_->closed && notifier_->last_position <= position_.load()) {
      notifier_->cv.Wait();
    }
    if (stop_ || notifier_->closed) return;
  }
}

}  // namespace agentlog::internal

namespace agentlog::internal {

Result<std::unique_ptr<Subscription>> StoreImpl::Subscribe(uint64_t after_position,
                                                           SubscriptionCallback callback) {
  if (!callback) return Status::InvalidArgument("Subscribe needs a callback");
  std::shared_ptr<SubscriptionCore> core;
  {
    MutexLock lock(&mu_);
    if (closing_ || closed_) return Status::Closed("the store is closed; open it again to use it");
    std::erase_if(subscriptions_, [](const std::weak_ptr<SubscriptionCore>& weak) {
      // A subscription frees its slot when its handle is destroyed or its
      // thread has ended (cancelled, or stopped by an error).
      auto core = weak.lock();
      return core == nullptr || core->finished();
    });
    if (subscriptions_.size() >= options_.max_subscriptions) {
      return Status::Busy(std::to_string(subscriptions_.size()) +
                          " subscriptions are open (Options::max_subscriptions); cancel one first");
    }
    core = std::make_shared<SubscriptionCore>(this, notifier_, after_position, std::move(callback));
    subscriptions_.push_back(core);
    core->Start();
  }
  return std::unique_ptr<Subscription>(new SubscriptionHandle(core));
}

}  // namespace agentlog::internal
