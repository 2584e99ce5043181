// tests/fuzz/fuzz_util.cc: see tests/fuzz/fuzz_util.h.
#include "tests/fuzz/fuzz_util.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "agentlog/run_state.h"
#include "base/assert.h"
#include "engine/store_impl.h"
#include "testing/run_generator.h"

namespace agentlog::fuzz {

void CheckFailed(const char* condition, const std::string& detail, const char* file, int line) {
  std::fprintf(stderr, "fuzz property broken: %s at %s:%d\n  %s\n", condition, file, line,
               detail.c_str());
  std::abort();
}

uint8_t InputReader::Byte() { return offset_ < size_ ? data_[offset_++] : 0; }

uint16_t InputReader::U16() {
  const uint16_t low = Byte();
  return static_cast<uint16_t>(low | (Byte() << 8));
}

uint64_t InputReader::U64() {
  uint64_t value = 0;
  for (int shift = 0; shift < 64; shift += 8) value |= uint64_t{Byte()} << shift;
  return value;
}

std::string InputReader::Bytes(size_t max_bytes) {
  const size_t count = std::min(max_bytes, size_ - offset_);
  std::string bytes(reinterpret_cast<const char*>(data_ + offset_), count);
  offset_ += count;
  return bytes;
}

std::string InputReader::LengthPrefixed() { return Bytes(U16()); }

std::string InputReader::Rest() { return Bytes(size_ - offset_); }

InputWriter& InputWriter::Byte(uint8_t value) {
  bytes_.push_back(static_cast<char>(value));
  return *this;
}

InputWriter& InputWriter::U16(uint16_t value) {
  Byte(static_cast<uint8_t>(value & 0xff));
  return Byte(static_cast<uint8_t>(value >> 8));
}

InputWriter& InputWriter::U64(uint64_t value) {
  for (int shift = 0; shift < 64; shift += 8) Byte(static_cast<uint8_t>(value >> shift));
  return *this;
}

InputWriter& InputWriter::LengthPrefixed(std::string_view bytes) {
  AGENTLOG_ASSERT(bytes.size() <= UINT16_MAX);
  U16(static_cast<uint16_t>(bytes.size()));
  return Raw(bytes);
}

InputWriter& InputWriter::Raw(std::string_view bytes) {
  bytes_.append(bytes);
  return *this;
}

std::unique_ptr<MemoryStore> OpenMemoryStore(Options options) {
  auto memory = std::make_unique<MemoryStore>();
  options.clock = &memory->clock;
  std::unique_ptr<internal::Backend> backend = internal::NewMemoryBackend();
  memory->backend = backend.get();
  auto store = internal::OpenStoreOnBackend(options, std::move(backend));
  FUZZ_CHECK(store.ok(), store.status().ToString());
  memory->store = std::move(store).value();
  return memory;
}

namespace {

// Appends through the projector so its snapshots are written as a user's
// would be; aborts on failure (the fixture is not under test).
void AppendOrDie(Store& store, Projector& projector, std::string_view run_id,
                 const std::vector<EventInput>& events, const AppendOptions& options) {
  Status stored = testing::StoreArtifacts(store, events, options.durability);
  FUZZ_CHECK(stored.ok(), std::string(run_id) + ": " + stored.ToString());
  auto result = projector.Append(run_id, events, options);
  FUZZ_CHECK(result.ok(), std::string(run_id) + ": " + result.status().ToString());
}

}  // namespace

void FillFixture(Store& store, ManualClock& clock) {
  auto projector = RunStateProjector(store, /*snapshot_every_events=*/3);
  AppendOptions options;
  options.durability = Durability::kBuffered;

  testing::RunGenerator alpha(/*seed=*/1);
  options.idempotency_key = "alpha-start";
  options.session_id = "session-1";
  AppendOrDie(store, *projector, kFixtureRuns[0], alpha.Next(3), options);
  options.idempotency_key.clear();
  options.session_id.clear();
  clock.Advance(1000);
  testing::RunGenerator beta(/*seed=*/2);
  AppendOrDie(store, *projector, kFixtureRuns[1], beta.Next(4), options);
  clock.Advance(1000);
  AppendOrDie(store, *projector, kFixtureRuns[0], alpha.Next(5), options);

  ForkOptions fork;
  fork.durability = Durability::kBuffered;
  fork.reason = "what if the search had found the ticket";
  fork.actor_id = "fuzz";
  auto forked = store.Fork(kFixtureRuns[0], kFixtureForkSequence, kFixtureRuns[2], fork);
  FUZZ_CHECK(forked.ok(), forked.status().ToString());
  auto fork_info = store.GetRun(kFixtureRuns[2]);
  FUZZ_CHECK(fork_info.ok(), fork_info.status().ToString());
  testing::RunGenerator what_if(/*seed=*/3, kFixtureForkSequence + 2, fork_info->lease_epoch);
  clock.Advance(1000);
  AppendOrDie(store, *projector, kFixtureRuns[2], what_if.Next(3), options);
  AppendOrDie(store, *projector, kFixtureRuns[1], beta.Next(2), options);

  auto blob = store.PutBlob(FixtureBlob(), Durability::kBuffered);
  FUZZ_CHECK(blob.ok(), blob.status().ToString());
  Status verified = store.VerifyAll();
  FUZZ_CHECK(verified.ok(), verified.ToString());
}

std::unique_ptr<MemoryStore> OpenFixtureCopy() {
  static const internal::WriteSet* const contents = [] {
    auto fixture = OpenMemoryStore();
    FillFixture(*fixture);
    auto* writes = new internal::WriteSet();
    for (size_t space = 0; space < internal::kSpaceCount; ++space) {
      auto cursor = fixture->backend->NewCursor(static_cast<internal::Space>(space));
      for (cursor->Seek(""); cursor->Valid(); cursor->Next()) {
        writes->Put(static_cast<internal::Space>(space), std::string(cursor->key()),
                    std::string(cursor->value()));
      }
      FUZZ_CHECK(cursor->status().ok(), cursor->status().ToString());
    }
    return writes;
  }();
  auto memory = std::make_unique<MemoryStore>();
  memory->clock.Advance(1'000'000);
  Options options;
  options.clock = &memory->clock;
  std::unique_ptr<internal::Backend> backend = internal::NewMemoryBackend();
  Status written = backend->Write(*contents, /*sync=*/false);
  FUZZ_CHECK(written.ok(), written.ToString());
  memory->backend = backend.get();
  auto store = internal::OpenStoreOnBackend(options, std::move(backend));
  FUZZ_CHECK(store.ok(), store.status().ToString());
  memory->store = std::move(store).value();
  return memory;
}

std::string_view FixtureBlob() { return "the tool's whole output, stored once under its hash"; }

EventFields FieldsOf(const Event& event) {
  EventFields fields;
  fields.run_id = std::string(event.run_id());
  fields.sequence = event.sequence();
  fields.global_position = event.global_position();
  fields.timestamp_us = event.timestamp_us();
  fields.type = event.type();
  fields.schema_version = event.schema_version();
  fields.turn_id = std::string(event.turn_id());
  fields.step_id = std::string(event.step_id());
  fields.causation = event.causation();
  fields.idempotency_key = std::string(event.idempotency_key());
  fields.actor_kind = event.actor_kind();
  fields.actor_id = std::string(event.actor_id());
  fields.payload_hash = std::string(event.payload_hash());
  fields.chain_hash = std::string(event.chain_hash());
  fields.payload_removed = event.payload_removed();
  fields.payload = std::string(event.payload());
  return fields;
}

std::string Describe(const EventFields& fields) {
  return "run \"" + fields.run_id + "\" event " + std::to_string(fields.sequence) + " position " +
         std::to_string(fields.global_position) + " type " + std::to_string(fields.type) +
         " payload " + std::to_string(fields.payload.size()) + " bytes" +
         (fields.payload_removed ? " (removed)" : "");
}

bool SameRunInfo(const RunInfo& a, const RunInfo& b, bool with_session) {
  return a.run_id == b.run_id && a.head_sequence == b.head_sequence &&
         a.head_chain_hash == b.head_chain_hash && a.head_position == b.head_position &&
         a.status == b.status && (!with_session || a.session_id == b.session_id) &&
         a.parent_run_id == b.parent_run_id && a.fork_sequence == b.fork_sequence &&
         a.created_us == b.created_us && a.last_event_us == b.last_event_us &&
         a.lease_holder == b.lease_holder && a.lease_epoch == b.lease_epoch;
}

Result<std::vector<Event>> ReadWholeRun(Store& store, std::string_view run_id) {
  std::vector<Event> all;
  ReadOptions options;
  // Bounded: each page moves from_sequence past its last event, and a run
  // has fewer than UINT64_MAX events.
  for (;;) {
    auto page = store.ReadRun(run_id, options);
    if (!page.ok()) return page.status();
    if (page->empty()) return all;
    options.from_sequence = page->back().sequence() + 1;
    for (Event& event : *page) all.push_back(std::move(event));
  }
}

Result<std::vector<Event>> ReadWholeStore(Store& store) {
  std::vector<Event> all;
  uint64_t after = 0;
  for (;;) {
    auto page = store.ReadGlobal(after, 1000);
    if (!page.ok()) return page.status();
    if (page->empty()) return all;
    // A page that does not move forward would loop forever: that is a bug.
    FUZZ_CHECK(page->back().global_position() > after, "ReadGlobal went backwards");
    after = page->back().global_position();
    for (Event& event : *page) all.push_back(std::move(event));
  }
}

std::unique_ptr<Projector> RunStateProjector(Store& store, uint64_t snapshot_every_events) {
  ProjectorOptions options;
  options.policy.every_events = snapshot_every_events;
  options.policy.on_checkpoint = snapshot_every_events != 0;
  auto projector = Projector::Create(&store, options);
  Status registered = projector->Register(NewRunStateProjection());
  FUZZ_CHECK(registered.ok(), registered.ToString());
  return projector;
}

}  // namespace agentlog::fuzz
