// tests/projection_determinism_test.cc: DESIGN.md invariant 6 as a
// property. For random valid runs (testing/run_generator.h), the run-state
// projection's StateAt(n) with snapshots is byte-identical to a fold from
// event 1, at every n; deleting every snapshot changes no answer; a fork's
// states are its parent's up to the fork point and a fold of its own
// history after it; an encoding decodes to itself.
#include <catch2/catch.hpp>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "agentlog/projector.h"
#include "agentlog/run_state.h"
#include "testing/reference_fold.h"
#include "testing/run_generator.h"
#include "testing/test_util.h"

using namespace agentlog;
using namespace agentlog::testing;

namespace {

constexpr std::string_view kRunState = kRunStateProjectionName;

// Appends `total` generated events in random chunk sizes, through the
// projector so snapshots are written as a user's would be.
void AppendGenerated(Store& store, Projector& projector, RunGenerator& generator, const std::string& run_id, size_t total,
                     std::mt19937_64& random) {
  size_t appended = 0;
  while (appended < total) {
    const size_t chunk = std::min<size_t>(total - appended, std::uniform_int_distribution<size_t>(1, 40)(random));
    std::vector<EventInput> events = generator.Next(chunk);
    REQUIRE(StoreArtifacts(store, events, Durability::kBuffered).ok());
    auto result = projector.Append(run_id, events, WithDurability(Durability::kBuffered));
    INFO(result.status().ToString());
    REQUIRE(result.ok());
    appended += chunk;
  }
}

// Encodings of the state after each event 0..head: the reference.
std::vector<std::string> ReferenceFold(Store& store, const std::string& run_id) {
  return agentlog::testing::ReferenceFold(ReadWholeRun(store, run_id));
}

std::unique_ptr<Projector> NewProjector(Store& store, const SnapshotPolicy& policy) {
  ProjectorOptions options;
  options.policy = policy;
  auto projector = Projector::Create(&store, options);
  REQUIRE(projector->Register(NewRunStateProjection()).ok());
  return projector;
}

void CheckEveryPoint(Projector& projector, const std::string& run_id, const std::vector<std::string>& reference,
                     uint64_t* from_snapshots) {
  auto projection = NewRunStateProjection();
  for (uint64_t n = 0; n < reference.size(); ++n) {
    StateInfo info;
    auto state = projector.StateAt(run_id, kRunState, n, &info);
    INFO("run " << run_id << " StateAt(" << n << "): " << state.status().ToString());
    REQUIRE(state.ok());
    const std::string encoded = (*state)->Encode();
    REQUIRE(encoded == reference[n]);
    REQUIRE(info.bypassed.empty());
    if (info.snapshot_sequence != 0) ++*from_snapshots;
    auto decoded = projection->Decode(encoded);
    REQUIRE(decoded.ok());
    REQUIRE((*decoded)->Encode() == encoded);
  }
}

}  // namespace

TEST_CASE("StateAt from snapshots is byte-identical to a fold from event 1, for random runs",
          "[projection][determinism]") {
  TempDir dir;
  ManualClock clock(1'700'000'000'000'000);
  auto store = OpenStore(dir.path(), &clock);
  SnapshotPolicy policy;
  policy.every_events = 13;
  policy.around_steps = true;
  policy.keep_latest = 4;
  policy.keep_older_every = 50;
  auto projector = NewProjector(*store, policy);
  std::mt19937_64 random(20261122);
  uint64_t from_snapshots = 0;
  for (uint64_t seed = 1; seed <= 6; ++seed) {
    const std::string run_id = "run-" + std::to_string(seed);
    RunGenerator generator(seed);
    AppendGenerated(*store, *projector, generator, run_id, 150 + 60 * seed, random);
    const std::vector<std::string> reference = ReferenceFold(*store, run_id);
    CheckEveryPoint(*projector, run_id, reference, &from_snapshots);

    // Deleting every snapshot changes no answer, only where folds start.
    REQUIRE(store->DeleteSnapshots(run_id, "", {}).ok());
    auto cold = NewProjector(*store, policy);
    uint64_t unused = 0;
    CheckEveryPoint(*cold, run_id, reference, &unused);
    CHECK(unused == 0);
  }
  CHECK(from_snapshots > 1000);  // the snapshots were actually used
  CHECK(projector->stats().snapshots_written > 100);
}

TEST_CASE("a fork's states: the parent's up to the fork point, its own fold after it",
          "[projection][determinism][fork]") {
  TempDir dir;
  ManualClock clock(1'700'000'000'000'000);
  auto store = OpenStore(dir.path(), &clock);
  SnapshotPolicy policy;
  policy.every_events = 10;
  auto projector = NewProjector(*store, policy);
  std::mt19937_64 random(7);
  RunGenerator parent_generator(99);
  AppendGenerated(*store, *projector, parent_generator, "parent", 200, random);
  const std::vector<std::string> parent_before = ReferenceFold(*store, "parent");

  for (uint64_t at : {1, 57, 120, 200}) {
    const std::string fork_id = "fork-" + std::to_string(at);
    ForkOptions options;
    options.reason = "what if";
    auto forked = store->Fork("parent", at, fork_id, options);
    INFO(forked.status().ToString());
    REQUIRE(forked.ok());
    auto info = store->GetRun(fork_id);
    REQUIRE(info.ok());
    // Continue the fork's own story without lease events of its own making
    // (their epochs follow the inherited one): messages and facts only would
    // do, but the generator's full mix is the better test, so start it at
    // the inherited epoch.
    RunGenerator fork_generator(1000 + at, at + 2, info->lease_epoch);
    AppendGenerated(*store, *projector, fork_generator, fork_id, 80, random);
    REQUIRE(store->Verify(fork_id).ok());

    const std::vector<std::string> reference = ReferenceFold(*store, fork_id);
    REQUIRE(reference.size() == at + 1 + 80 + 1);
    for (uint64_t n = 0; n <= at; ++n) REQUIRE(reference[n] == parent_before[n]);
    uint64_t from_snapshots = 0;
    CheckEveryPoint(*projector, fork_id, reference, &from_snapshots);
    CHECK(from_snapshots > 0);
  }
  // The parent is unchanged by its forks.
  CHECK(ReferenceFold(*store, "parent") == parent_before);
  uint64_t unused = 0;
  CheckEveryPoint(*projector, "parent", parent_before, &unused);
}
