// tests/upcaster_test.cc: old events, new code. The payloads in
// tests/data/upcast/*.bin were recorded from the JSON beside them with
// `flatc -b schema/events.fbs X.json` and are kept as bytes, as an old
// agentlog would have written them. The story they tell (a pretend history
// of schema versions, with the registry's current version set to 3):
//   v1 -> v2  ToolFailed had no retryable flag; errors prefixed
//             "transient: " were the retryable ones.
//   v2 -> v3  ToolFailed.attempt was 0-based; BudgetConsumed.wall_time_ms
//             held seconds.
// So a v1 ToolFailed takes both steps, a v2 ToolFailed one, and a v1
// BudgetConsumed only the second (v2 did not change it).
#include <catch2/catch.hpp>
#include <fstream>
#include <iterator>
#include <span>
#include <string>

#include "agentlog/projector.h"
#include "testing/test_util.h"

using namespace agentlog;
using namespace agentlog::testing;

namespace {

std::string Recorded(const std::string& name) {
  std::ifstream in(std::string(AGENTLOG_SOURCE_DIR) + "/tests/data/upcast/" + name, std::ios::binary);
  REQUIRE(in.good());
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::string Finish(flatbuffers::FlatBufferBuilder& builder, fb::Body type, flatbuffers::Offset<void> body) {
  builder.Finish(fb::CreateEvent(builder, type, body));
  return std::string(reinterpret_cast<const char*>(builder.GetBufferPointer()), builder.GetSize());
}

Result<std::string> ToolFailedV1ToV2(std::string_view payload) {
  const auto* old = flatbuffers::GetRoot<fb::Event>(payload.data())->body_as_ToolFailed();
  if (old == nullptr) return Status::InvalidArgument("not a ToolFailed");
  std::string error = old->error() != nullptr ? old->error()->str() : "";
  constexpr std::string_view kTransient = "transient: ";
  const bool retryable = error.starts_with(kTransient);
  if (retryable) error.erase(0, kTransient.size());
  flatbuffers::FlatBufferBuilder builder;
  auto body = fb::CreateToolFailedDirect(builder, error.c_str(), retryable, old->attempt());
  return Finish(builder, fb::Body_ToolFailed, body.Union());
}

Result<std::string> ToolFailedV2ToV3(std::string_view payload) {
  const auto* old = flatbuffers::GetRoot<fb::Event>(payload.data())->body_as_ToolFailed();
  flatbuffers::FlatBufferBuilder builder;
  auto body = fb::CreateToolFailedDirect(builder, old->error() != nullptr ? old->error()->c_str() : "",
                                         old->retryable(), old->attempt() + 1);
  return Finish(builder, fb::Body_ToolFailed, body.Union());
}

Result<std::string> BudgetV2ToV3(std::string_view payload) {
  const auto* old = flatbuffers::GetRoot<fb::Event>(payload.data())->body_as_BudgetConsumed();
  flatbuffers::FlatBufferBuilder builder;
  auto body = fb::CreateBudgetConsumed(builder, old->steps(), old->tokens(), old->wall_time_ms() * 1000);
  return Finish(builder, fb::Body_BudgetConsumed, body.Union());
}

std::shared_ptr<UpcasterRegistry> StoryRegistry() {
  auto registry = std::make_shared<UpcasterRegistry>(3);
  REQUIRE(registry->Register(fb::Body_ToolFailed, 1, ToolFailedV1ToV2).ok());
  REQUIRE(registry->Register(fb::Body_ToolFailed, 2, ToolFailedV2ToV3).ok());
  REQUIRE(registry->Register(fb::Body_BudgetConsumed, 2, BudgetV2ToV3).ok());
  return registry;
}

// Records what it sees of failures and budgets, as text.
struct SeenState final : ProjectionState {
  std::string seen;
  std::string Encode() const override { return seen; }
  std::vector<StateField> Fields() const override { return {{"seen", seen}}; }
  std::unique_ptr<ProjectionState> Clone() const override { return std::make_unique<SeenState>(*this); }
};

class SeenProjection final : public Projection {
 public:
  std::string_view name() const override { return "seen"; }
  uint32_t version() const override { return 1; }
  std::unique_ptr<ProjectionState> Initial() const override { return std::make_unique<SeenState>(); }
  void Apply(ProjectionState& state, const EventView& event) const override {
    auto& seen = static_cast<SeenState&>(state).seen;
    if (event.body() == nullptr) return;
    if (const auto* failed = event.body()->body_as_ToolFailed()) {
      seen += "failed(" + failed->error()->str() + "," + (failed->retryable() ? "retryable" : "final") +
              ",attempt " + std::to_string(failed->attempt()) + ");";
    } else if (const auto* budget = event.body()->body_as_BudgetConsumed()) {
      seen += "budget(" + std::to_string(budget->wall_time_ms()) + "ms);";
    }
  }
  Result<std::unique_ptr<ProjectionState>> Decode(std::string_view bytes) const override {
    auto state = std::make_unique<SeenState>();
    state->seen = std::string(bytes);
    return std::unique_ptr<ProjectionState>(std::move(state));
  }
};

EventInput Versioned(std::string payload, uint16_t version) {
  EventInput input = Input(std::move(payload));
  input.schema_version = version;
  return input;
}

}  // namespace

TEST_CASE("upcasters run one step at a time, only the steps a type has", "[upcaster]") {
  auto registry = StoryRegistry();
  CHECK(registry->current_version() == 3);
  CHECK(registry->NeedsUpcast(fb::Body_ToolFailed, 1));
  CHECK(registry->NeedsUpcast(fb::Body_ToolFailed, 2));
  CHECK_FALSE(registry->NeedsUpcast(fb::Body_ToolFailed, 3));
  CHECK(registry->NeedsUpcast(fb::Body_BudgetConsumed, 1));
  CHECK_FALSE(registry->NeedsUpcast(fb::Body_MessageAppended, 1));

  auto v3 = registry->Upcast(fb::Body_ToolFailed, 1, Recorded("tool_failed_v1.bin"));
  REQUIRE(v3.ok());
  const auto* failed = flatbuffers::GetRoot<fb::Event>(v3->data())->body_as_ToolFailed();
  REQUIRE(failed != nullptr);
  CHECK(failed->error()->str() == "upstream timed out");
  CHECK(failed->retryable());
  CHECK(failed->attempt() == 1);

  auto from_v2 = registry->Upcast(fb::Body_ToolFailed, 2, Recorded("tool_failed_v2.bin"));
  REQUIRE(from_v2.ok());
  failed = flatbuffers::GetRoot<fb::Event>(from_v2->data())->body_as_ToolFailed();
  CHECK(failed->error()->str() == "quota exhausted");
  CHECK_FALSE(failed->retryable());
  CHECK(failed->attempt() == 2);

  auto budget = registry->Upcast(fb::Body_BudgetConsumed, 1, Recorded("budget_consumed_v1.bin"));
  REQUIRE(budget.ok());
  CHECK(flatbuffers::GetRoot<fb::Event>(budget->data())->body_as_BudgetConsumed()->wall_time_ms() == 42000);

  // Current and newer versions pass through byte for byte.
  const std::string current = Recorded("tool_failed_v2.bin");
  CHECK(*registry->Upcast(fb::Body_ToolFailed, 3, current) == current);
  CHECK(*registry->Upcast(fb::Body_ToolFailed, 9, current) == current);
}

TEST_CASE("upcaster registration and failures are errors, not data", "[upcaster]") {
  UpcasterRegistry registry(3);
  auto identity = [](std::string_view payload) -> Result<std::string> { return std::string(payload); };
  CHECK(registry.Register(0, 1, identity).IsInvalidArgument());
  CHECK(registry.Register(fb::Body_ToolFailed, 0, identity).IsInvalidArgument());
  CHECK(registry.Register(fb::Body_ToolFailed, 3, identity).IsInvalidArgument());
  CHECK(registry.Register(fb::Body_ToolFailed, 1, Upcaster()).IsInvalidArgument());
  REQUIRE(registry.Register(fb::Body_ToolFailed, 1, identity).ok());
  Status twice = registry.Register(fb::Body_ToolFailed, 1, identity);
  CHECK(twice.IsInvalidArgument());
  CHECK_THAT(twice.message(), Catch::Contains("ToolFailed v1 -> v2 is already registered"));

  REQUIRE(registry.Register(fb::Body_ToolFailed, 2,
                            [](std::string_view) -> Result<std::string> { return Status::InvalidArgument("no"); })
              .ok());
  auto failed = registry.Upcast(fb::Body_ToolFailed, 1, Recorded("tool_failed_v1.bin"));
  CHECK(failed.status().IsCorruption());
  CHECK_THAT(failed.status().message(), Catch::Contains("ToolFailed v2 -> v3 failed: no"));

  UpcasterRegistry garbage(2);
  REQUIRE(garbage.Register(fb::Body_ToolFailed, 1,
                           [](std::string_view) -> Result<std::string> { return std::string("junk"); })
              .ok());
  auto junk = garbage.Upcast(fb::Body_ToolFailed, 1, Recorded("tool_failed_v1.bin"));
  CHECK(junk.status().IsCorruption());
  CHECK_THAT(junk.status().message(), Catch::Contains("not an agentlog.fb.Event"));

  UpcasterRegistry retyping(2);
  REQUIRE(retyping.Register(fb::Body_ToolFailed, 1,
                            [](std::string_view) -> Result<std::string> {
                              return Recorded("budget_consumed_v1.bin");
                            })
              .ok());
  auto retyped = retyping.Upcast(fb::Body_ToolFailed, 1, Recorded("tool_failed_v1.bin"));
  CHECK(retyped.status().IsCorruption());
  CHECK_THAT(retyped.status().message(), Catch::Contains("changed the event type to BudgetConsumed"));
}

TEST_CASE("projections see old events in the current shape; the stored bytes stay as written",
          "[upcaster]") {
  TempDir dir;
  ManualClock clock(1'700'000'000'000'000);
  auto store = OpenStore(dir.path(), &clock);
  std::vector<EventInput> events{Versioned(Recorded("tool_failed_v1.bin"), 1),
                                 Versioned(Recorded("tool_failed_v2.bin"), 2),
                                 Versioned(Recorded("budget_consumed_v1.bin"), 1)};
  REQUIRE(store->Append("old", events, WithDurability(Durability::kSync)).ok());

  ProjectorOptions options;
  options.upcasters = StoryRegistry();
  auto projector = Projector::Create(store.get(), options);
  REQUIRE(projector->Register(std::make_shared<SeenProjection>()).ok());
  auto state = projector->CurrentState("old", "seen");
  REQUIRE(state.ok());
  CHECK((*state)->Encode() ==
        "failed(upstream timed out,retryable,attempt 1);failed(quota exhausted,final,attempt 2);"
        "budget(42000ms);");

  // Without the registry the same projection sees the old shapes.
  auto raw = Projector::Create(store.get(), ProjectorOptions{});
  REQUIRE(raw->Register(std::make_shared<SeenProjection>()).ok());
  auto as_stored = raw->CurrentState("old", "seen");
  REQUIRE(as_stored.ok());
  CHECK((*as_stored)->Encode() ==
        "failed(transient: upstream timed out,final,attempt 0);failed(quota exhausted,final,attempt 1);"
        "budget(42ms);");
  CHECK(store->ReadEvent("old", 1)->payload() == Recorded("tool_failed_v1.bin"));
  CHECK(store->ReadEvent("old", 1)->schema_version() == 1);
  CHECK(store->Verify("old").ok());

  // A failing upcaster fails the read with Corruption naming the event.
  auto broken = std::make_shared<UpcasterRegistry>(2);
  REQUIRE(broken->Register(fb::Body_BudgetConsumed, 1,
                           [](std::string_view) -> Result<std::string> { return Status::InvalidArgument("bad"); })
              .ok());
  ProjectorOptions broken_options;
  broken_options.upcasters = broken;
  auto failing = Projector::Create(store.get(), broken_options);
  REQUIRE(failing->Register(std::make_shared<SeenProjection>()).ok());
  auto refused = failing->CurrentState("old", "seen");
  CHECK(refused.status().IsCorruption());
  CHECK_THAT(refused.status().message(), Catch::Contains("run \"old\" event 3"));
}
