// tests/fuzz/make_corpus.cc: writes the seed corpus of every fuzz target
// (tests/fuzz/corpus/<target>/) from values the code itself makes: records,
// run metadata, idempotency entries and snapshots read out of a store built
// with testing/run_generator.h, real event payloads, encoded run states, the
// fixture's digests, command lines the tool documents. Deterministic: the
// stores run on a ManualClock and the generator on fixed seeds, so running
// it again rewrites the same files.
//
//   agentlog_fuzz_make_corpus tests/fuzz/corpus
//
// Files are named after what they hold; a target's inputs found by fuzzing
// and merged in (tests/fuzz/README.md) live beside them and are left alone.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "agentlog/run_state.h"
#include "base/crypto.h"
#include "engine/frame.h"
#include "engine/keys.h"
#include "engine/record_codec.h"
#include "tests/fuzz/fuzz_util.h"
#include "testing/reference_fold.h"
#include "testing/run_generator.h"

namespace {

using namespace agentlog;
using agentlog::fuzz::InputWriter;
using agentlog::internal::Space;

std::filesystem::path root;
size_t files_written = 0;

void Write(const std::string& target, const std::string& name, const std::string& bytes) {
  const std::filesystem::path directory = root / target;
  std::filesystem::create_directories(directory);
  std::ofstream out(directory / name, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  FUZZ_CHECK(out.good(), "cannot write " + (directory / name).string());
  ++files_written;
}

template <typename Visit>
void ForEachValue(internal::Backend& backend, Space space, Visit visit) {
  auto cursor = backend.NewCursor(space);
  for (cursor->Seek(""); cursor->Valid(); cursor->Next()) visit(cursor->key(), cursor->value());
}

// record_codec: every kind of stored value of run "fuzz-run", as stored.
void RecordCodecSeeds() {
  auto memory = fuzz::OpenMemoryStore();
  auto projector = fuzz::RunStateProjector(*memory->store, /*snapshot_every_events=*/6);
  testing::RunGenerator generator(/*seed=*/7);
  AppendOptions options;
  options.durability = Durability::kBuffered;
  options.idempotency_key = "fuzz-key";
  options.session_id = "session-7";
  auto appended = projector->Append("fuzz-run", generator.Next(12), options);
  FUZZ_CHECK(appended.ok(), appended.status().ToString());
  internal::Backend& backend = *memory->backend;
  ForEachValue(backend, Space::kEvents, [&](std::string_view key, std::string_view value) {
    std::string_view run;
    uint64_t sequence = 0;
    FUZZ_CHECK(internal::ParseEventKey(key, &run, &sequence), "event key");
    const std::string frame(value);
    Write("record_codec", "record-" + std::to_string(sequence),
          InputWriter().Byte(1).Byte(static_cast<uint8_t>(sequence)).Raw(frame).bytes());
    if (sequence == 3) {  // the same record as a tombstone
      const fb::Record* record = nullptr;
      Status status = internal::CheckRecord(frame, run, sequence, &record);
      FUZZ_CHECK(status.ok(), status.ToString());
      const std::string tombstone = internal::EncodeTombstone(internal::EnvelopeOf(record),
                                                              internal::HashOf(record->chain_hash()));
      Write("record_codec", "tombstone-3", InputWriter().Byte(1).Byte(3).Raw(tombstone).bytes());
    }
  });
  ForEachValue(backend, Space::kRuns, [&](std::string_view, std::string_view value) {
    Write("record_codec", "run-meta", InputWriter().Byte(2).Byte(0).Raw(value).bytes());
  });
  ForEachValue(backend, Space::kIdempotency, [&](std::string_view, std::string_view value) {
    Write("record_codec", "idempotency", InputWriter().Byte(3).Byte(0).Raw(value).bytes());
  });
  ForEachValue(backend, Space::kSnapshots, [&](std::string_view key, std::string_view value) {
    std::string state;
    Status status = backend.Get(Space::kBlobs, key, &state);
    FUZZ_CHECK(status.ok(), status.ToString());
    const uint64_t sequence = ~internal::GetBigEndian64(key.data() + key.size() - 8);
    Write("record_codec", "snapshot-" + std::to_string(sequence),
          InputWriter().Byte(4).Byte(static_cast<uint8_t>(sequence)).LengthPrefixed(value).Raw(state).bytes());
  });
  const std::string content = internal::EncodeFrame(internal::FrameKind::kContentBlobV1, "hello");
  Write("record_codec", "content-blob", InputWriter().Byte(6).Byte(0).Raw(content).bytes());
}

// store_damage: one edit of each kind in each key space; then two at once.
void StoreDamageSeeds() {
  Write("store_damage", "no-edit", "");
  for (uint8_t space = 0; space < internal::kSpaceCount; ++space) {
    const std::string name = std::string(internal::SpaceName(static_cast<Space>(space)));
    Write("store_damage", "flip-" + name, InputWriter().Byte(0).Byte(space).U16(1).U16(40).Byte(0x10).bytes());
    Write("store_damage", "cut-" + name, InputWriter().Byte(2).Byte(space).U16(2).U16(20).bytes());
    Write("store_damage", "delete-" + name, InputWriter().Byte(3).Byte(space).U16(0).U16(0).bytes());
    Write("store_damage", "copy-" + name, InputWriter().Byte(5).Byte(space).U16(1).U16(0).U16(2).bytes());
    Write("store_damage", "move-" + name, InputWriter().Byte(6).Byte(space).U16(3).U16(2).Byte(1).bytes());
  }
  Write("store_damage", "replace-event",
        InputWriter().Byte(1).Byte(0).U16(4).U16(0).LengthPrefixed("not a frame").bytes());
  Write("store_damage", "new-run-key",
        InputWriter().Byte(4).Byte(1).U16(0).U16(0).LengthPrefixed("ghost").LengthPrefixed("").bytes());
  Write("store_damage", "delete-run-and-head",
        InputWriter().Byte(3).Byte(1).U16(0).U16(0).Byte(3).Byte(0).U16(7).U16(0).bytes());
}

void WriteEvent(InputWriter& writer, const EventInput& event) {
  writer.LengthPrefixed(event.payload).LengthPrefixed(event.turn_id).LengthPrefixed(event.step_id);
  writer.Byte(static_cast<uint8_t>(event.actor_kind)).LengthPrefixed(event.actor_id);
  writer.Byte(static_cast<uint8_t>(event.causation)).Byte(static_cast<uint8_t>(event.schema_version));
}

// append: real events onto the fixture's runs and a new one, with keys,
// heads, leases and sessions that it accepts, replays and refuses.
void AppendSeeds() {
  struct Case {
    const char* name;
    const char* run;
    uint8_t flags, head, epoch;
    const char* key;
    const char* session;
    uint64_t seed;
    size_t count;
  };
  const Case cases[] = {
      {"new-run", "fresh", 1, 0, 0, "", "", 11, 3},
      {"continue-alpha", "alpha", 0, 0, 0, "", "", 12, 2},
      {"stale-head", "alpha", 1, 3, 0, "", "", 13, 1},
      {"replayed-key", "alpha", 0, 0, 0, "alpha-start", "session-1", 1, 3},
      {"key-of-other-run", "beta", 0, 0, 0, "alpha-start", "", 14, 1},
      {"fenced", "alpha", 2, 0, 9, "", "", 15, 1},
      {"other-session", "alpha", 0, 0, 0, "", "session-2", 16, 1},
      {"fork-continues", "alpha-what-if", 0, 0, 0, "k2", "", 17, 2},
      {"bad-run-id", "no spaces", 0, 0, 0, "", "", 18, 1},
      {"no-events", "alpha", 0, 0, 0, "", "", 19, 0},
  };
  for (const Case& c : cases) {
    InputWriter writer;
    writer.LengthPrefixed(c.run).Byte(c.flags).Byte(c.head).Byte(c.epoch);
    writer.LengthPrefixed(c.key).LengthPrefixed(c.session).Byte(static_cast<uint8_t>(c.count));
    testing::RunGenerator generator(c.seed);
    for (const EventInput& event : generator.Next(c.count)) WriteEvent(writer, event);
    Write("append", c.name, writer.bytes());
  }
}

// The generated events of one long run, read back from a store (so they
// are the events the store accepted, with their envelopes).
std::vector<Event> GeneratedRun(uint64_t seed, size_t count) {
  auto memory = fuzz::OpenMemoryStore();
  testing::RunGenerator generator(seed);
  AppendOptions options;
  options.durability = Durability::kBuffered;
  for (size_t done = 0; done < count; done += 10) {
    auto appended = memory->store->Append("seed-run", generator.Next(10), options);
    FUZZ_CHECK(appended.ok(), appended.status().ToString());
  }
  auto events = fuzz::ReadWholeRun(*memory->store, "seed-run");
  FUZZ_CHECK(events.ok(), events.status().ToString());
  return std::move(events).value();
}

// run_state_codec: states of generated runs at several points.
void RunStateSeeds() {
  for (uint64_t seed : {21, 22}) {
    const std::vector<std::string> states = testing::ReferenceFold(GeneratedRun(seed, 120));
    for (size_t at : {0, 3, 10, 40, 120}) {
      Write("run_state_codec", "seed" + std::to_string(seed) + "-at-" + std::to_string(at), states[at]);
    }
  }
}

// projection_fold: generated runs as event lists, some appended in groups.
void ProjectionFoldSeeds() {
  for (uint64_t seed : {31, 32, 33}) {
    testing::RunGenerator generator(seed);
    InputWriter writer;
    size_t index = 0;
    for (const EventInput& event : generator.Next(40)) {
      writer.Byte(index++ % 3 == 2 ? 1 : 0).LengthPrefixed(event.turn_id).LengthPrefixed(event.step_id);
      writer.LengthPrefixed(event.payload);
    }
    Write("projection_fold", "run-" + std::to_string(seed), writer.bytes());
  }
}

// event_json: one stored event of each type, one of a type from the
// future, one with a removed payload.
void EventJsonSeeds() {
  std::vector<bool> seen(kMaxKnownEventType + 1, false);
  for (const Event& event : GeneratedRun(41, 200)) {
    if (seen[event.type()]) continue;
    seen[event.type()] = true;
    InputWriter writer;
    writer.U16(event.type()).Byte(static_cast<uint8_t>(event.actor_kind())).Byte(0);
    writer.LengthPrefixed(event.turn_id()).LengthPrefixed(event.step_id());
    writer.LengthPrefixed(event.actor_id()).LengthPrefixed(event.idempotency_key()).Raw(event.payload());
    Write("event_json", "type-" + event.type_name(), writer.bytes());
    if (event.type() == fb::Body_ToolStarted) {
      InputWriter future;
      future.U16(200).Byte(3).Byte(1).LengthPrefixed("t").LengthPrefixed("s").LengthPrefixed("a");
      future.LengthPrefixed("").Raw(event.payload());
      Write("event_json", "type-from-the-future", future.bytes());
      InputWriter removed;
      removed.U16(event.type()).Byte(0).Byte(0).LengthPrefixed("t").LengthPrefixed("s");
      removed.LengthPrefixed("a").LengthPrefixed("");
      Write("event_json", "payload-removed", removed.bytes());
    }
  }
}

// digest and command_line: the fixture's digests and the documented commands.
void DigestAndCommandLineSeeds() {
  auto memory = fuzz::OpenMemoryStore();
  fuzz::FillFixture(*memory);
  Store& store = *memory->store;
  auto store_digest = store.StoreDigest();
  FUZZ_CHECK(store_digest.ok(), store_digest.status().ToString());
  Write("digest", "store", *store_digest);
  for (const char* run : fuzz::kFixtureRuns) {
    auto digest = store.RunDigest(run);
    FUZZ_CHECK(digest.ok(), digest.status().ToString());
    Write("digest", std::string("run-") + run, *digest);
    auto first = store.ReadEvent(run, 1);
    FUZZ_CHECK(first.ok(), first.status().ToString());
    Write("digest", std::string("run-") + run + "-at-1",
          "agentlog-run-v1:" + std::string(run) + ":1:" + internal::HexEncode(first->chain_hash()));
  }
  Write("digest", "run-at-0", "agentlog-run-v1:beta:0:" + std::string(64, '0'));
  Write("digest", "not-a-digest", "agentlog-run-v2:beta:1:00");

  const std::vector<std::pair<std::string, std::string>> lines = {
      {"help", "--help"},
      {"log-help", "log\n--help"},
      {"verify-all", "verify\n@DB"},
      {"verify-run", "verify\n@DB\nalpha-what-if"},
      {"verify-against", "verify\n@DB\n--against\n" + *store_digest},
      {"verify-run-and-against", "verify\n@DB\nalpha\n--against\nx"},
      {"digest-store", "digest\n@DB"},
      {"digest-run", "digest\n@DB\nbeta"},
      {"log-range", "log\n@DB\nalpha\n--from\n2\n--to\n6\n--limit\n3"},
      {"log-reverse", "log\n@DB\nalpha-what-if\n--reverse"},
      {"log-negative", "log\n@DB\nalpha\n--from\n-1"},
      {"state-at", "state\n@DB\nalpha\n--at\n3"},
      {"state-time", "state\n@DB\nbeta\n--time\n2023-11-14T22:13:21Z\n--json"},
      {"state-at-and-time", "state\n@DB\nbeta\n--at\n1\n--time\n0"},
      {"diff", "diff\n@DB\nalpha\n2\n6\n--json"},
      {"audit", "audit\n@DB\nalpha"},
      {"recover", "recover\n@DB"},
      {"no-such-run", "log\n@DB\nomega"},
      {"bad-run-id", "state\n@DB\nnot a run"},
      {"fork-parse-only", "fork\n@DB\nalpha\n--at\n2\n--as\nalpha-2"},
      {"unknown-command", "frobnicate\n@DB"},
  };
  for (const auto& [name, line] : lines) Write("command_line", name, line);
}

void TimeTextSeeds() {
  const std::vector<std::pair<std::string, std::string>> times = {
      {"utc", "2026-11-22T14:02:00Z"},          {"utc-millis", "2026-11-22T14:02:00.250Z"},
      {"utc-micros", "2026-11-22T14:02:00.123456Z"}, {"micros", "1700000000000000"},
      {"leap-day", "2024-02-29T00:00:00Z"},     {"no-leap-day", "2023-02-29T00:00:00Z"},
      {"last", "9999-12-31T23:59:59.999999Z"},  {"epoch", "1970-01-01T00:00:00Z"},
      {"before-epoch", "1969-12-31T23:59:59.500Z"}, {"zero", "0"},
  };
  for (const auto& [name, text] : times) Write("time_text", name, text);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR   (tests/fuzz/corpus)\n", argv[0]);
    return 2;
  }
  root = argv[1];
  RecordCodecSeeds();
  StoreDamageSeeds();
  AppendSeeds();
  RunStateSeeds();
  ProjectionFoldSeeds();
  EventJsonSeeds();
  DigestAndCommandLineSeeds();
  TimeTextSeeds();
  std::printf("wrote %zu seed files under %s\n", files_written, root.c_str());
  return 0;
}
