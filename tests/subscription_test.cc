// tests/subscription_test.cc: live feeds (Store::Subscribe): catch-up then
// live delivery in global order without gap or duplicate, resuming from a
// saved cursor across a reopen, stopping (callback error, Cancel, Close),
// and the subscription bound. Callbacks only record what they receive;
// assertions run on the test's thread.
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "testing/test_util.h"

using namespace agentlog;
using namespace agentlog::testing;
using Catch::Matchers::Contains;

namespace {

// Records every delivered event's position and (run, sequence).
class Collector {
 public:
  Status Deliver(const Event& event) {
    std::lock_guard<std::mutex> lock(mu_);
    positions_.push_back(event.global_position());
    ids_.emplace_back(std::string(event.run_id()), event.sequence());
    return Status::OK();
  }
  SubscriptionCallback Callback() {
    return [this](const Event& event) { return Deliver(event); };
  }
  size_t size() const {
    std::lock_guard<std::mutex> lock(mu_);
    return positions_.size();
  }
  std::vector<uint64_t> positions() const {
    std::lock_guard<std::mutex> lock(mu_);
    return positions_;
  }
  std::vector<std::pair<std::string, uint64_t>> ids() const {
    std::lock_guard<std::mutex> lock(mu_);
    return ids_;
  }
  // True once at least `count` events arrived within `timeout_ms`.
  bool WaitFor(size_t count, int64_t timeout_ms = 10'000) const {
    return WaitUntil([&] { return size() >= count; }, timeout_ms);
  }

 private:
  mutable std::mutex mu_;
  std::vector<uint64_t> positions_;
  std::vector<std::pair<std::string, uint64_t>> ids_;
};

// A store whose Options::max_subscriptions is kMax.
template <size_t kMax>
struct WithMaxSubscriptions : StoreFixture {
  WithMaxSubscriptions() : StoreFixture(kDefaultStartUs, MaxSubscriptions(kMax)) {}
  static Options MaxSubscriptions(size_t max) {
    Options options;
    options.max_subscriptions = max;
    return options;
  }
};

std::vector<uint64_t> Range(uint64_t first, uint64_t last) {
  std::vector<uint64_t> range;
  for (uint64_t p = first; p <= last; ++p) range.push_back(p);
  return range;
}

std::unique_ptr<Subscription> SubscribeOrFail(Store& store, uint64_t after,
                                              SubscriptionCallback callback) {
  auto subscription = store.Subscribe(after, std::move(callback));
  INFO(subscription.status().ToString());
  REQUIRE(subscription.ok());
  return std::move(subscription).value();
}

void AppendMessages(Store& store, const std::string& run_id, size_t count) {
  auto events = Messages(count, run_id);
  auto result = store.Append(run_id, events, WithDurability(Durability::kBuffered));
  INFO(result.status().ToString());
  REQUIRE(result.ok());
}

}  // namespace

TEST_CASE_METHOD(StoreFixture, "Subscription.DeliversCatchUpThenLiveEventsInOrder",
                 "[subscription]") {
  // Goal: a subscription from 0 receives every existing event (more than
  // one catch-up batch) and then every event committed while several
  // threads append, in global order, each once. A second subscription from
  // a mid-log cursor gets exactly the events after it. Method: 300 events
  // before subscribing, then 4 threads x 25 appends; compare the delivered
  // sequence with ReadGlobal.
  Collector from_zero;
  Collector from_middle;
  AppendMessages(*store, "backlog", 300);
  AppendMessages(*store, "backlog-2", 5);
  auto subscription = SubscribeOrFail(*store, 0, from_zero.Callback());
  auto middle = SubscribeOrFail(*store, 150, from_middle.Callback());

  constexpr int kWriters = 4;
  constexpr int kAppends = 25;
  std::atomic<int> failures{0};
  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&, w] {
      for (int j = 0; j < kAppends; ++j) {
        auto events = Messages(1 + j % 2, "live");
        auto result = store->Append("live-" + std::to_string(w), events,
                                    WithDurability(Durability::kBuffered));
        if (!result.ok()) failures.fetch_add(1);
      }
    });
  }
  for (auto& writer : writers) writer.join();
  REQUIRE(failures.load() == 0);
  const uint64_t total = store->LastPosition();
  REQUIRE(total == 305 + kWriters * (13 * 1 + 12 * 2));

  REQUIRE(from_zero.WaitFor(total));
  REQUIRE(from_middle.WaitFor(total - 150));
  std::this_thread::sleep_for(std::chrono::milliseconds(20));  // a duplicate would show up now
  CHECK(from_zero.positions() == Range(1, total));
  CHECK(from_middle.positions() == Range(151, total));
  auto global = ReadAllGlobal(*store);
  REQUIRE(global.size() == total);
  auto ids = from_zero.ids();
  REQUIRE(ids.size() == total);
  for (size_t i = 0; i < total; ++i) {
    CHECK(ids[i].first == global[i].run_id());
    CHECK(ids[i].second == global[i].sequence());
  }
  CHECK(subscription->position() == total);
  CHECK(middle->position() == total);
  CHECK(subscription->status().ok());
  subscription->Cancel();
  CHECK(subscription->status().ok());
}

TEST_CASE_METHOD(StoreFixture, "Subscription.CatchesUpABacklogWithoutNewCommits",
                 "[subscription]") {
  // Goal: catch-up alone delivers a backlog of several read batches
  // (engine/subscription.h reads 256 at a time), with no later commit to
  // wake it. Method: 700 events committed before subscribing, none after.
  Collector collector;
  AppendMessages(*store, "backlog", 700);
  auto subscription = SubscribeOrFail(*store, 0, collector.Callback());
  REQUIRE(collector.WaitFor(700));
  CHECK(collector.positions() == Range(1, 700));
  CHECK(subscription->position() == 700);
}

TEST_CASE_METHOD(StoreFixture, "Subscription.FromTheHeadDeliversOnlyNewEvents", "[subscription]") {
  // Goal: subscribing after the last position delivers nothing old, then
  // each new commit. Method: 5 events, subscribe from 5, append 3.
  Collector collector;
  AppendMessages(*store, "run-a", 5);
  auto subscription = SubscribeOrFail(*store, store->LastPosition(), collector.Callback());
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  CHECK(collector.size() == 0);
  AppendMessages(*store, "run-a", 2);
  AppendMessages(*store, "run-b", 1);
  REQUIRE(collector.WaitFor(3));
  CHECK(collector.positions() == Range(6, 8));
}

TEST_CASE_METHOD(StoreFixture, "Subscription.ResumesFromASavedCursorAfterReopen",
                 "[subscription]") {
  // Goal: the cursor a subscription reports (position()) is a resume point:
  // after closing and reopening the store, subscribing from it delivers
  // exactly the events after it, none twice and none missed; any earlier
  // saved cursor works too. Method: 20 events delivered and the cursor
  // saved; reopen; 15 more; resume from the cursor and from position 7.
  Collector first_session;
  uint64_t cursor = 0;
  {
    AppendMessages(*store, "run-a", 12);
    AppendMessages(*store, "run-b", 8);
    auto subscription = SubscribeOrFail(*store, 0, first_session.Callback());
    REQUIRE(first_session.WaitFor(20));
    subscription->Cancel();
    cursor = subscription->position();
    REQUIRE(store->Close().ok());
  }
  CHECK(cursor == 20);
  CHECK(first_session.positions() == Range(1, 20));

  Collector resumed;
  Collector from_seven;
  Reopen();
  AppendMessages(*store, "run-a", 10);
  AppendMessages(*store, "run-c", 5);
  auto subscription = SubscribeOrFail(*store, cursor, resumed.Callback());
  auto early = SubscribeOrFail(*store, 7, from_seven.Callback());
  REQUIRE(resumed.WaitFor(15));
  REQUIRE(from_seven.WaitFor(28));
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  CHECK(resumed.positions() == Range(21, 35));
  CHECK(from_seven.positions() == Range(8, 35));
  auto ids = resumed.ids();
  REQUIRE(ids.size() == 15);
  CHECK(ids.front() == std::pair<std::string, uint64_t>("run-a", 13));
  CHECK(ids.back() == std::pair<std::string, uint64_t>("run-c", 5));
}

TEST_CASE_METHOD(StoreFixture, "Subscription.CallbackErrorStopsIt", "[subscription]") {
  // Goal: a callback that returns an error stops the subscription: status()
  // is that error, position() is the last event it accepted, later commits
  // are not delivered, and Cancel keeps the error. Method: refuse event 5
  // of 10; append more; cancel.
  Collector collector;
  AppendMessages(*store, "run-a", 10);
  auto subscription = SubscribeOrFail(*store, 0, [&](const Event& event) {
    collector.Deliver(event).IgnoreError();  // the collector never fails
    if (event.global_position() == 5) return Status::Conflict("consumer refused event 5");
    return Status::OK();
  });
  REQUIRE(WaitUntil([&] { return !subscription->status().ok(); }, 10'000));
  CHECK(subscription->status().IsConflict());
  CHECK_THAT(subscription->status().message(), Contains("consumer refused event 5"));
  CHECK(subscription->position() == 4);
  AppendMessages(*store, "run-a", 3);
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  CHECK(collector.positions() == Range(1, 5));
  subscription->Cancel();
  CHECK(subscription->status().IsConflict());
  CHECK(subscription->position() == 4);
}

TEST_CASE_METHOD(StoreFixture, "Subscription.CancelIsIdempotent", "[subscription]") {
  // Goal: Cancel stops delivery, leaves status OK and the cursor where it
  // was, and may be called again (also from two threads at once, and by the
  // destructor) without effect. Method: deliver 3, cancel three ways,
  // append more, check nothing else arrived.
  Collector collector;
  AppendMessages(*store, "run-a", 3);
  auto subscription = SubscribeOrFail(*store, 0, collector.Callback());
  REQUIRE(collector.WaitFor(3));
  subscription->Cancel();
  CHECK(subscription->status().ok());
  CHECK(subscription->position() == 3);
  subscription->Cancel();
  std::thread other([&] { subscription->Cancel(); });
  subscription->Cancel();
  other.join();
  CHECK(subscription->status().ok());
  AppendMessages(*store, "run-a", 4);
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  CHECK(collector.positions() == Range(1, 3));
  CHECK(subscription->position() == 3);
  subscription.reset();  // the destructor cancels once more
  CHECK(collector.size() == 3);
}

TEST_CASE_METHOD(StoreFixture, "Subscription.StoreCloseStopsItWithClosed", "[subscription]") {
  // Goal: closing the store stops every subscription, whose status becomes
  // Closed (and stays so after Cancel), whether it was idle and caught up
  // or still had nothing to read. Method: two subscriptions; Close.
  Collector caught_up;
  Collector waiting;
  AppendMessages(*store, "run-a", 4);
  auto first = SubscribeOrFail(*store, 0, caught_up.Callback());
  auto second = SubscribeOrFail(*store, 1'000, waiting.Callback());
  REQUIRE(caught_up.WaitFor(4));
  REQUIRE(store->Close().ok());
  CHECK(first->status().IsClosed());
  CHECK(second->status().IsClosed());
  CHECK(first->position() == 4);
  CHECK(waiting.size() == 0);
  first->Cancel();
  CHECK(first->status().IsClosed());
  store.reset();  // the handles outlive the store
  second->Cancel();
  CHECK(second->status().IsClosed());
}

TEST_CASE_METHOD(WithMaxSubscriptions<2>, "Subscription.MoreThanTheMaximumIsBusy",
                 "[subscription][limits]") {
  // Goal: at most Options::max_subscriptions are open at once; one more is
  // Busy naming the option; destroying one frees its slot. Method: limit 2.
  Collector collector;
  auto first = SubscribeOrFail(*store, 0, collector.Callback());
  auto second = SubscribeOrFail(*store, 0, collector.Callback());
  auto third = store->Subscribe(0, collector.Callback());
  CHECK(third.status().IsBusy());
  CHECK_THAT(third.status().message(), Contains("max_subscriptions"));
  first.reset();
  auto again = store->Subscribe(0, collector.Callback());
  INFO(again.status().ToString());
  CHECK(again.ok());
}

TEST_CASE_METHOD(WithMaxSubscriptions<1>, "Subscription.EmptyCallbackIsRefused",
                 "[subscription][validation]") {
  // Goal: Subscribe without a callback is InvalidArgument and takes no
  // slot. Method: an empty std::function with max_subscriptions 1.
  Collector collector;
  auto refused = store->Subscribe(0, SubscriptionCallback());
  CHECK(refused.status().IsInvalidArgument());
  CHECK_THAT(refused.status().message(), Contains("callback"));
  auto subscription = store->Subscribe(0, collector.Callback());
  CHECK(subscription.ok());
}

TEST_CASE_METHOD(WithMaxSubscriptions<1>, "Subscription.StoppedByItsCallbackFreesItsSlot",
                 "[subscription][limits]") {
  // Goal: a subscription whose callback failed no longer counts toward
  // Options::max_subscriptions, even while its handle is kept (to read its
  // status). Method: limit 1; a callback that fails on its first event;
  // wait until it stopped; subscribe again.
  AppendMessage(*store, "run-a", "one");
  auto failing = SubscribeOrFail(*store, 0, [](const Event&) {
    return Status::InvalidArgument("consumer refused the event");
  });
  REQUIRE(WaitUntil([&] { return !failing->status().ok(); }, 5000));
  CHECK(failing->status().IsInvalidArgument());
  Collector collector;
  auto again = store->Subscribe(0, collector.Callback());
  INFO(again.status().ToString());
  CHECK(again.ok());
}

TEST_CASE_METHOD(StoreFixture, "Subscription.CancelledStaysOkAfterStoreClose", "[subscription]") {
  // Goal: the first reason a subscription stopped is the one it keeps: a
  // Cancel (OK) is not turned into Closed by a later Close. Method: cancel,
  // close the store, read the status.
  Collector collector;
  auto subscription = SubscribeOrFail(*store, 0, collector.Callback());
  subscription->Cancel();
  REQUIRE(store->Close().ok());
  CHECK(subscription->status().ok());
}
