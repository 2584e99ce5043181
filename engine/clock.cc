// engine/clock.cc: the wall clock. Only tools/ and embedders pick it; the
// store itself only ever uses the Clock it was given.
#include "agentlog/clock.h"

#include <chrono>

namespace agentlog {
namespace {
class WallClock final : public Clock {
 public:
  int64_t NowMicros() override {
    return std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
};
}  // namespace

Clock* SystemClock() {
  static WallClock clock;  // stateless: no hidden state is shared through it
  return &clock;
}

}  // namespace agentlog
