// testing/test_util.cc: see testing/test_util.h.
#include "testing/test_util.h"

#include <fstream>

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <chrono>
#include <catch2/catch.hpp>
#include <random>
#include <thread>

#include "engine/store_impl.h"

namespace agentlog::testing {

namespace {
std::string Finish(flatbuffers::FlatBufferBuilder& builder, fb::Body type,
                   flatbuffers::Offset<void> body) {
  builder.Finish(fb::CreateEvent(builder, type, body));
  return std::string(reinterpret_cast<const char*>(builder.GetBufferPointer()), builder.GetSize());
}
}  // namespace

TempDir::TempDir() {
  static std::atomic<int> counter{0};
  std::random_device random;
  path_ = (std::filesystem::temp_directory_path() /
           ("agentlog_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++) + "_" +
            std::to_string(random())))
              .string();
  std::filesystem::create_directories(path_);
}

TempDir::~TempDir() {
  std::error_code error;
  std::filesystem::remove_all(path_, error);
}

std::string MessagePayload(const std::string& role, const std::string& text) {
  flatbuffers::FlatBufferBuilder builder;
  auto body = fb::CreateMessageAppendedDirect(builder, role.c_str(), text.c_str());
  return Finish(builder, fb::Body_MessageAppended, body.Union());
}

std::string TurnStartedPayload(const std::string& message) {
  flatbuffers::FlatBufferBuilder builder;
  auto body = fb::CreateTurnStartedDirect(builder, message.c_str(), message.c_str());
  return Finish(builder, fb::Body_TurnStarted, body.Union());
}

std::string ToolStartedPayload(const std::string& tool, const std::string& arguments_json) {
  flatbuffers::FlatBufferBuilder builder;
  auto body = fb::CreateToolStartedDirect(builder, tool.c_str(), arguments_json.c_str(), "", 1);
  return Finish(builder, fb::Body_ToolStarted, body.Union());
}

std::string ToolFailedPayload(const std::string& error, bool retryable, uint32_t attempt) {
  flatbuffers::FlatBufferBuilder builder;
  auto body = fb::CreateToolFailedDirect(builder, error.c_str(), retryable, attempt);
  return Finish(builder, fb::Body_ToolFailed, body.Union());
}

std::string LeaseAcquiredPayload(const std::string& holder, uint64_t epoch) {
  flatbuffers::FlatBufferBuilder builder;
  auto body = fb::CreateLeaseAcquiredDirect(builder, holder.c_str(), epoch, 30000);
  return Finish(builder, fb::Body_LeaseAcquired, body.Union());
}

std::string LeaseReleasedPayload(const std::string& holder, uint64_t epoch) {
  flatbuffers::FlatBufferBuilder builder;
  auto body = fb::CreateLeaseReleasedDirect(builder, holder.c_str(), epoch);
  return Finish(builder, fb::Body_LeaseReleased, body.Union());
}

std::string StatusPayload(fb::Body type) {
  // Every table in the catalogue may be empty: start and end a table of no fields.
  flatbuffers::FlatBufferBuilder builder;
  const auto start = builder.StartTable();
  const flatbuffers::Offset<void> body(builder.EndTable(start));
  return Finish(builder, type, body);
}

EventInput Input(std::string payload, std::string step_id) {
  EventInput input;
  input.payload = std::move(payload);
  input.step_id = std::move(step_id);
  input.actor_kind = ActorKind::kAgent;
  input.actor_id = "test-agent";
  return input;
}

EventInput Message(const std::string& text) { return Input(MessagePayload("user", text)); }

std::unique_ptr<Store> OpenStore(const std::string& dir, Clock* clock, Options options) {
  options.clock = clock;
  auto store = Store::Open(options, dir);
  INFO(store.status().ToString());
  REQUIRE(store.ok());
  return std::move(store).value();
}

std::unique_ptr<Store> OpenMemoryStore(Clock* clock, Options options) {
  options.clock = clock;
  auto store = internal::OpenStoreOnBackend(options, internal::NewMemoryBackend());
  INFO(store.status().ToString());
  REQUIRE(store.ok());
  return std::move(store).value();
}

StoreFixture::StoreFixture(int64_t start_us, Options store_options, OpenAtStart open)
    : clock(start_us), options(std::move(store_options)) {
  if (open == kOpenAtStart) Open();
}

Store& StoreFixture::Open() {
  REQUIRE(store == nullptr);
  store = OpenStore(dir.path(), &clock, options);
  return *store;
}

Store& StoreFixture::OpenInMemory() {
  REQUIRE(store == nullptr);
  store = OpenMemoryStore(&clock, options);
  return *store;
}

Status StoreFixture::Close() {
  if (store == nullptr) return Status::OK();
  Status closed = store->Close();
  store.reset();
  return closed;
}

Store& StoreFixture::Reopen() {
  const Status closed = Close();
  INFO(closed.ToString());
  REQUIRE(closed.ok());
  return Open();
}

Options StoreFixture::StoreOptions() {
  Options with_clock = options;
  with_clock.clock = &clock;
  return with_clock;
}

AppendResult AppendMessage(Store& store, const std::string& run_id, const std::string& text,
                           Durability durability) {
  EventInput input = Message(text);
  AppendOptions options;
  options.durability = durability;
  auto result = store.Append(run_id, std::span(&input, 1), options);
  INFO(result.status().ToString());
  REQUIRE(result.ok());
  return *result;
}

internal::Backend& BackendOf(Store& store) {
  auto* impl = dynamic_cast<internal::StoreImpl*>(&store);
  REQUIRE(impl != nullptr);
  return *impl->backend_for_testing();
}

std::vector<EventInput> Messages(size_t count, const std::string& prefix) {
  std::vector<EventInput> events;
  events.reserve(count);
  for (size_t i = 1; i <= count; ++i) events.push_back(Message(prefix + "-" + std::to_string(i)));
  return events;
}

AppendOptions WithDurability(Durability durability) {
  AppendOptions options;
  options.durability = durability;
  return options;
}

std::string MessageText(const Event& event) {
  REQUIRE(event.body() != nullptr);
  const fb::MessageAppended* message = event.body()->body_as_MessageAppended();
  REQUIRE(message != nullptr);
  return message->text() != nullptr ? message->text()->str() : std::string();
}

std::vector<Event> ReadWholeRun(Store& store, const std::string& run_id) {
  std::vector<Event> all;
  ReadOptions options;
  for (;;) {
    auto page = store.ReadRun(run_id, options);
    INFO(page.status().ToString());
    REQUIRE(page.ok());
    if (page->empty()) return all;
    options.from_sequence = page->back().sequence() + 1;
    for (Event& event : *page) all.push_back(std::move(event));
  }
}

std::vector<Event> ReadAllGlobal(Store& store, uint64_t after_position) {
  std::vector<Event> all;
  for (;;) {
    auto page = store.ReadGlobal(after_position, 1000);
    INFO(page.status().ToString());
    REQUIRE(page.ok());
    if (page->empty()) return all;
    after_position = page->back().global_position();
    for (Event& event : *page) all.push_back(std::move(event));
  }
}

uint64_t NumberFromEnvironment(const char* name, uint64_t fallback) {
  const char* text = std::getenv(name);
  if (text == nullptr || *text == '\0') return fallback;
  return std::strtoull(text, nullptr, 10);
}

StepSpec Step(std::string id, std::string tool, std::string arguments, fb::ConfirmationMode mode) {
  StepSpec step;
  step.id = std::move(id);
  step.tool = std::move(tool);
  step.arguments_json = std::move(arguments);
  step.confirmation = mode;
  return step;
}

std::map<std::string, std::string> FileBytes(const std::string& dir) {
  std::map<std::string, std::string> files;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir)) {
    if (!entry.is_regular_file()) continue;
    std::ifstream in(entry.path(), std::ios::binary);
    files[std::filesystem::relative(entry.path(), dir).string()] =
        std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  return files;
}

bool WaitUntil(const std::function<bool()>& condition, int64_t timeout_ms) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    if (condition()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

}  // namespace agentlog::testing
