// agentlog/clock.h: the only source of time the store uses.
//
// The store never reads the system clock directly: it asks Options::clock,
// so tests can use ManualClock and embedders their own time source.
#ifndef AGENTLOG_CLOCK_H_
#define AGENTLOG_CLOCK_H_

#include <atomic>
#include <cstdint>

#include "agentlog/export.h"

namespace agentlog {

class AGENTLOG_EXPORT Clock {
 public:
  virtual ~Clock() = default;
  // Microseconds since the Unix epoch. Must be safe to call from any thread.
  // May go backwards; the store keeps its own timestamps non-decreasing.
  virtual int64_t NowMicros() = 0;
};

// The wall clock (std::chrono::system_clock). Thread-safe, stateless.
AGENTLOG_EXPORT Clock* SystemClock();

// A clock that moves only when told to. Thread-safe.
class AGENTLOG_EXPORT ManualClock : public Clock {
 public:
  explicit ManualClock(int64_t now_us = 0) : now_us_(now_us) {}
  int64_t NowMicros() override { return now_us_.load(std::memory_order_acquire); }
  void Set(int64_t now_us) { now_us_.store(now_us, std::memory_order_release); }
  void Advance(int64_t delta_us) { now_us_.fetch_add(delta_us, std::memory_order_acq_rel); }

 private:
  std::atomic<int64_t> now_us_;
};

}  // namespace agentlog

#endif  // AGENTLOG_CLOCK_H_
