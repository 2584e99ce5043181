// testing/test_util.h: helpers shared by the tests: temporary store
// directories, payload builders for common events, a store opened with a
// ManualClock, and StoreFixture, which holds the three.
#ifndef AGENTLOG_TESTING_TEST_UTIL_H_
#define AGENTLOG_TESTING_TEST_UTIL_H_

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "agentlog/agentlog.h"
#include "engine/backend.h"

namespace agentlog::testing {

// A fresh directory under the system temp dir, removed on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string Sub(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// Payload builders: each returns a finished agentlog.fb.Event FlatBuffer.
std::string MessagePayload(const std::string& role, const std::string& text);
std::string TurnStartedPayload(const std::string& message);
std::string ToolStartedPayload(const std::string& tool, const std::string& arguments_json);
std::string ToolFailedPayload(const std::string& error, bool retryable, uint32_t attempt);
std::string LeaseAcquiredPayload(const std::string& holder, uint64_t epoch);
std::string LeaseReleasedPayload(const std::string& holder, uint64_t epoch);
std::string StatusPayload(agentlog::fb::Body type);  // a body of `type` with no fields

EventInput Input(std::string payload, std::string step_id = "");
// A plan step for the runtime (agentlog/runtime.h StepSpec).
StepSpec Step(std::string id, std::string tool, std::string arguments,
              fb::ConfirmationMode mode = fb::ConfirmationMode_SafeReadonly);
EventInput Message(const std::string& text);  // Input(MessagePayload("user", text))

// A store in `dir` with `clock` (and otherwise default options); REQUIREs success.
std::unique_ptr<Store> OpenStore(const std::string& dir, Clock* clock, Options options = Options());

// A store on the in-memory backend with `clock` (and otherwise `options`);
// REQUIREs success.
std::unique_ptr<Store> OpenMemoryStore(Clock* clock, Options options = Options());

// StoreFixture: the temporary directory, ManualClock and store that most
// test cases start with, so that a case states what it checks rather than
// how it opens a store. By default the constructor opens a store on `dir`
// with `options` (default Options; Open() sets options.clock to &clock) and
// the clock at kDefaultStartUs. Use it as
//   TEST_CASE_METHOD(StoreFixture, "Suite.Name", "[tags]") { ... store->... }
// (the body sees dir, clock, options and store as members), as
// TEST_CASE_METHOD(StoreFixtureAt<kStartUs>, ...) for a suite's own start
// time, or as a local `StoreFixture f(start_us, options)` when a case needs
// other options; derive from it for a suite's own helpers. Reopen() closes
// the store and opens the same directory again (with `options`, which a case
// may change first); REQUIRE(Close().ok()) and Open() do the same in two steps. A case that needs a second store, a store the test
// opens itself (Store::Open / OpenReadOnly with StoreOptions()) or the
// in-memory backend passes kOpenLater and opens when it wants to.
struct StoreFixture {
  static constexpr int64_t kDefaultStartUs = 1'000;
  enum OpenAtStart { kOpenAtStart, kOpenLater };

  explicit StoreFixture(int64_t start_us = kDefaultStartUs, Options store_options = Options(),
                        OpenAtStart open = kOpenAtStart);
  StoreFixture(const StoreFixture&) = delete;
  StoreFixture& operator=(const StoreFixture&) = delete;

  // Opens a store on path() with StoreOptions(); REQUIREs that none is open
  // and that the open succeeds.
  Store& Open();
  // Opens a store on the in-memory backend with StoreOptions() instead;
  // REQUIREs that none is open and success. (Reopen() opens path().)
  Store& OpenInMemory();
  // Closes the store if one is open (also if the case closed it already: a
  // second Close returns OK) and drops it; returns the close's status (OK
  // when none was open), which the case checks: REQUIRE(Close().ok()).
  [[nodiscard]] Status Close();
  // Close() (REQUIREing success), then Open(): the same directory, with the
  // events written so far.
  Store& Reopen();
  // `options` with its clock set to &clock: what Open() passes to Store::Open.
  Options StoreOptions();
  const std::string& path() const { return dir.path(); }
  std::string Sub(const std::string& name) const { return dir.Sub(name); }

  TempDir dir;
  ManualClock clock;
  Options options;
  std::unique_ptr<Store> store;  // declared last: destroyed before the clock and the directory
};

// StoreFixture with the clock at `kStartUs`, for TEST_CASE_METHOD.
template <int64_t kStartUs>
struct StoreFixtureAt : StoreFixture {
  StoreFixtureAt() : StoreFixture(kStartUs) {}
};

// Appends one message event; REQUIREs success.
AppendResult AppendMessage(Store& store, const std::string& run_id, const std::string& text,
                           Durability durability = Durability::kBuffered);

// The store's backend, for tests that damage it on purpose.
internal::Backend& BackendOf(Store& store);

// ---- helpers of the append, read, concurrency and subscription tests ----

// `count` message events with texts prefix-1, prefix-2, ...
std::vector<EventInput> Messages(size_t count, const std::string& prefix = "m");
// AppendOptions with only the durability set.
AppendOptions WithDurability(Durability durability);
// The text of a MessageAppended event; REQUIREs that it is one.
std::string MessageText(const Event& event);
// Every event of a run, ascending, paging through ReadRun; REQUIREs success.
std::vector<Event> ReadWholeRun(Store& store, const std::string& run_id);
// Every event after `after_position`, paging through ReadGlobal; REQUIREs success.
std::vector<Event> ReadAllGlobal(Store& store, uint64_t after_position = 0);
// The number in environment variable `name` (the long modes' counts and
// seeds), or `fallback` if it is unset or empty.
uint64_t NumberFromEnvironment(const char* name, uint64_t fallback);
// Every file under `dir`, by its path relative to `dir`, with its bytes:
// equal before and after means an operation changed nothing there.
std::map<std::string, std::string> FileBytes(const std::string& dir);
// Polls `condition` every millisecond until it holds or `timeout_ms` passes.
bool WaitUntil(const std::function<bool()>& condition, int64_t timeout_ms);

}  // namespace agentlog::testing

#endif  // AGENTLOG_TESTING_TEST_UTIL_H_
