// tests/fuzz/fuzz_projection_fold.cc: the run-state projection over
// arbitrary event sequences: StateAt from snapshots equals the fold from
// event 1 (projections/README.md: deleting every snapshot changes no
// answer), at every sequence of the run and of a fork of it.
//
// Input: up to kMaxEvents events, each  group:u8 turn:lp16 step:lp16 payload:lp16.
// Events are appended one by one through a Projector that snapshots as
// often as its policy allows (every 2 events, on status changes,
// checkpoints and around steps); the store refuses the payloads it must
// (FlatBuffers verifier, unknown types, lease rules) and the rest are the
// run. `group` bit 0 set: the event joins the previous append instead.
//
// Properties: for every n in 0..head, StateAt(n) through a fresh
// projector (reading the stored snapshots) encodes to the same bytes as a
// direct fold of events 1..n with no projector; the same for a fork taken
// at the middle of the run; the projection never crashes on an event the
// store accepted.
#include <string>
#include <vector>

#include "agentlog/run_state.h"
#include "tests/fuzz/fuzz_util.h"
#include "testing/reference_fold.h"

namespace {

using namespace agentlog;

constexpr size_t kMaxEvents = 64;

std::unique_ptr<Projector> SnapshottingProjector(Store& store) {
  ProjectorOptions options;
  options.policy.every_events = 2;
  options.policy.on_status_change = true;
  options.policy.on_checkpoint = true;
  options.policy.around_steps = true;
  options.policy.keep_latest = 4;
  options.policy.keep_older_every = 4;
  auto projector = Projector::Create(&store, options);
  Status registered = projector->Register(NewRunStateProjection());
  FUZZ_CHECK(registered.ok(), registered.ToString());
  return projector;
}

// StateAt at every sequence of `run_id` against the direct fold.
void CheckEveryState(Store& store, const std::string& run_id) {
  auto events = fuzz::ReadWholeRun(store, run_id);
  FUZZ_CHECK(events.ok(), events.status().ToString());
  const std::vector<std::string> reference = testing::ReferenceFold(*events);
  // A fresh projector has nothing cached: each answer starts at a stored snapshot.
  auto projector = fuzz::RunStateProjector(store, /*snapshot_every_events=*/0);
  for (uint64_t n = 0; n < reference.size(); ++n) {
    StateInfo info;
    auto state = projector->StateAt(run_id, kRunStateProjectionName, n, &info);
    FUZZ_CHECK(state.ok(), run_id + " at " + std::to_string(n) + ": " + state.status().ToString());
    FUZZ_CHECK((*state)->Encode() == reference[n],
               run_id + " at " + std::to_string(n) + ": the state from snapshot " +
                   std::to_string(info.snapshot_sequence) + " differs from the fold from event 1");
    FUZZ_CHECK(info.bypassed.empty(), "an intact snapshot was bypassed: " + info.bypassed[0].ToString());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto memory = fuzz::OpenMemoryStore();
  Store& store = *memory->store;
  auto projector = SnapshottingProjector(store);
  const std::string run_id = "fold";
  AppendOptions options;
  options.durability = Durability::kBuffered;

  fuzz::InputReader input(data, size);
  std::vector<EventInput> batch;
  auto flush = [&] {
    if (batch.empty()) return;
    memory->clock.Advance(1000);
    // A refusal is the store doing its job; the fold only sees what it took.
    projector->Append(run_id, batch, options).status().IgnoreError();
    batch.clear();
  };
  for (size_t i = 0; i < kMaxEvents && !input.empty(); ++i) {
    const uint8_t group = input.Byte();
    EventInput event;
    event.turn_id = input.LengthPrefixed();
    event.step_id = input.LengthPrefixed();
    event.actor_id = "fuzz";
    event.payload = input.LengthPrefixed();
    if ((group & 1) == 0) flush();
    batch.push_back(std::move(event));
  }
  flush();

  auto info = store.GetRun(run_id);
  if (!info.ok()) return 0;  // every append refused
  CheckEveryState(store, run_id);
  if (info->head_sequence >= 2) {
    ForkOptions fork;
    fork.durability = Durability::kBuffered;
    auto forked = store.Fork(run_id, info->head_sequence / 2, "fold-fork", fork);
    FUZZ_CHECK(forked.ok(), forked.status().ToString());
    FUZZ_CHECK(projector->CatchUp("fold-fork").ok(), "CatchUp of the fork failed");
    CheckEveryState(store, "fold-fork");
  }
  return 0;
}
