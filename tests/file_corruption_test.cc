// tests/file_corruption_test.cc: damaged bytes in the store's FILES -- the
// SST tables, the write-ahead log, the MANIFEST, CURRENT, OPTIONS, IDENTITY
// and the close marker (AGENTLOG_CLOSED) -- are refused (Open fails, or the
// read that meets them answers Corruption) or are harmless, and never come
// back as altered or missing data answered OK (DESIGN.md invariant 4 at the
// file level; corruption_test.cc damages stored record values through the
// backend instead).
//
// Method: build one store on disk in two phases: phase 1 (most events, a
// fork, a blob, a snapshot) is closed and reopened, which makes RocksDB
// flush it from its write-ahead log into SST files; phase 2 (more appends,
// a new run, a second blob and snapshot) is closed without a flush
// (rocksdb::DB::Close does not flush memtables while the WAL is on), so it
// lives only in the WAL. After every operation from the end of phase 1 on,
// the answers of every read path are recorded: the store's possible states.
// Then, for each iteration, copy the closed store, flip 1 to
// kMaxFlipsPerIteration bytes (a single bit or a random mask) at random
// offsets of one file of one class (classes in turn, so each gets the same
// share), open the copy and ask every read path. Each answer must be OK and
// equal to what that path answered in one of the recorded states (the same
// state for every path), or NotFound where that state says so, or an error
// (Corruption, IOError). Outcomes, counted per file class:
//   open refused   Open returned Corruption or IOError;
//   read refused   Open succeeded, some path returned an error, every other
//                  path answered as the final state does;
//   harmless       every path answered as the final state does;
//   lost silently  every path answered as an earlier state: acknowledged
//                  data gone without an error. Must be 0;
//   undetected     any other answer: altered data served as good. Must be 0.
// VerifyAll must fail if a path it walks failed (runs, events, global and
// deadline indexes); it may fail alone only for damage in a file that no
// read path reads (it checks every table block), and then must say so; for
// a table file, its error names the file. Then each
// idempotent append the state holds is repeated: it must replay (the same
// numbers, nothing written) or answer an error, never append again.
//
// The store was closed cleanly, so its close marker tells Open that no write
// was cut short: a record of the write-ahead log or the MANIFEST that runs
// past the end of its file is damage, not a crash's torn tail. (Before the
// marker and engine/log_file_check.h, a flip in the length of the log's last
// record lost it silently, and one MANIFEST flip in 500 -- AGENTLOG_FLIP_SEED=99,
// iteration 1970 of 3000 -- let the store open with several column families'
// flushed data missing: RocksDB's MANIFEST reader took the damaged length of
// a record in the file's last block for a torn tail and dropped the last
// version edits, and with them table files whose log it had deleted.) After
// a crash a cut-short last record is expected; tests/open_check_test.cc
// flips the log of a store without its marker.
//
// Long mode: AGENTLOG_FLIP_ITERATIONS sets the number of iterations (CI
// default kDefaultIterations = 300, about 20 s); AGENTLOG_FLIP_SEED picks another
// seed, e.g.
//   AGENTLOG_FLIP_ITERATIONS=20000 build/tests/agentlog_tests "[file-corruption]"
#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "base/crypto.h"
#include "testing/run_generator.h"
#include "testing/test_util.h"

using namespace agentlog;
using namespace agentlog::testing;

namespace {

constexpr uint64_t kDefaultIterations = 300;
constexpr uint64_t kMaxIterations = 10'000'000;
constexpr int kMaxFlipsPerIteration = 4;
constexpr size_t kTailBytes = 512;  // an SST's footer, index and properties live at its end
constexpr int64_t kStartUs = 1'700'000'000'000'000;

// The runs, session, projection and blobs the store holds at the end; the
// read paths ask for all of them in every state (NotFound before they exist).
const std::vector<std::string> kRunIds = {"alpha", "beta", "gamma:1", "delta", "alpha-fork", "epsilon"};
const std::string kSession = "session-7";  // delta's
const std::string kProjection = "tally";
const std::vector<std::string> kBlobContents = {std::string(3000, 'b') + "phase one",
                                                std::string(5000, 'c') + "phase two"};

// What the read paths answered: path -> an encoding of the data (or
// "NotFound"), and path -> the error of each path that failed.
struct Observation {
  std::map<std::string, std::string> values;
  std::map<std::string, Status> errors;
};

void Record(Observation* observation, const std::string& path, const Status& status,
            const std::function<std::string()>& encode) {
  if (status.ok()) {
    observation->values[path] = encode();
  } else if (status.IsNotFound()) {
    observation->values[path] = "NotFound";
  } else {
    observation->errors.emplace(path, status);
  }
}

std::string EncodeEvents(const std::vector<Event>& events) {
  std::string out;
  for (const Event& event : events) out += std::to_string(event.frame().size()) + ":" + std::string(event.frame());
  return out;
}

std::string EncodeRun(const RunInfo& info) {
  return info.run_id + "|" + std::to_string(info.head_sequence) + "|" +
         internal::HexEncode(info.head_chain_hash) + "|" + std::to_string(info.head_position) + "|" +
         std::to_string(static_cast<int>(info.status)) + "|" + info.session_id + "|" +
         info.parent_run_id + "|" + std::to_string(info.fork_sequence) + "|" +
         std::to_string(info.created_us) + "|" + std::to_string(info.last_event_us) + "|" +
         info.lease_holder + "|" + std::to_string(info.lease_epoch) + ";";
}

std::string EncodeRuns(const std::vector<RunInfo>& runs) {
  std::string out;
  for (const RunInfo& info : runs) out += EncodeRun(info);
  return out;
}

std::string BlobHash(const std::string& content) {
  return std::string(internal::HashView(internal::Sha256(content)));
}

void ObserveRuns(Store& store, Observation* observation) {
  RunFilter all;
  all.limit = kMaxReadLimit;
  auto runs = store.ListRuns(all);
  Record(observation, "ListRuns", runs.status(), [&] { return EncodeRuns(*runs); });
  for (int status = 0; status <= static_cast<int>(RunStatus::kFailed); ++status) {
    RunFilter filter = all;
    filter.status = static_cast<RunStatus>(status);
    auto listed = store.ListRuns(filter);
    Record(observation, "ListRuns status " + std::to_string(status), listed.status(),
           [&] { return EncodeRuns(*listed); });
  }
  RunFilter by_session = all;
  by_session.session_id = kSession;
  auto in_session = store.ListRuns(by_session);
  Record(observation, "ListRuns session", in_session.status(), [&] { return EncodeRuns(*in_session); });
  for (const std::string& run_id : kRunIds) {
    auto info = store.GetRun(run_id);
    Record(observation, "GetRun " + run_id, info.status(), [&] { return EncodeRun(*info); });
    ReadOptions read;
    read.limit = kMaxReadLimit;
    auto events = store.ReadRun(run_id, read);
    Record(observation, "ReadRun " + run_id, events.status(), [&] { return EncodeEvents(*events); });
    // Point lookups take another RocksDB path (bloom filter, index) than scans.
    const uint64_t head = info.ok() ? info->head_sequence : 0;
    std::vector<Event> one_by_one;
    Status status;
    for (uint64_t sequence = 1; sequence <= head && status.ok(); ++sequence) {
      auto event = store.ReadEvent(run_id, sequence);
      status = event.status();
      if (event.ok()) one_by_one.push_back(std::move(event).value());
    }
    Record(observation, "ReadEvent " + run_id, status, [&] { return EncodeEvents(one_by_one); });
    auto digest = store.RunDigest(run_id);
    Record(observation, "RunDigest " + run_id, digest.status(), [&] { return *digest; });
    auto snapshots = store.ReadSnapshots(run_id, kProjection, UINT64_MAX, kMaxReadLimit);
    Status snapshot_status = snapshots.status();
    std::string encoded;
    if (snapshots.ok()) {
      for (const SnapshotEntry& entry : *snapshots) {
        if (!entry.status.ok() && snapshot_status.ok()) snapshot_status = entry.status;
        encoded += std::to_string(entry.sequence) + "|" + std::to_string(entry.version) + "|" +
                   internal::HexEncode(entry.chain_hash) + "|" + entry.state + ";";
      }
    }
    Record(observation, "ReadSnapshots " + run_id, snapshot_status, [&] { return encoded; });
  }
}

// Asks every read path of the store (but the idempotent replays, which
// may write: see CheckReplays).
Observation Observe(Store& store) {
  Observation observation;
  observation.values["LastPosition"] = std::to_string(store.LastPosition());
  ObserveRuns(store, &observation);
  std::vector<Event> global;
  Status status;
  for (uint64_t after = 0;;) {
    auto page = store.ReadGlobal(after, 1000);
    status = page.status();
    if (!page.ok() || page->empty()) break;
    after = page->back().global_position();
    for (Event& event : *page) global.push_back(std::move(event));
  }
  Record(&observation, "ReadGlobal", status, [&] { return EncodeEvents(global); });
  auto deadlines = store.ListDeadlines(INT64_MAX, kMaxReadLimit);
  Record(&observation, "ListDeadlines", deadlines.status(), [&] {
    std::string out;
    for (const DeadlineEntry& entry : *deadlines) {
      out += entry.run_id + "|" + entry.step_id + "|" + std::to_string(entry.deadline_at_us) + "|" +
             std::to_string(entry.sequence) + ";";
    }
    return out;
  });
  for (int64_t seconds : {0, 30, 120, 100000}) {
    auto position = store.PositionAtTime(kStartUs + seconds * 1'000'000);
    Record(&observation, "PositionAtTime " + std::to_string(seconds), position.status(),
           [&] { return std::to_string(*position); });
  }
  auto store_digest = store.StoreDigest();
  Record(&observation, "StoreDigest", store_digest.status(), [&] { return *store_digest; });
  for (const std::string& content : kBlobContents) {
    auto blob = store.GetBlob(BlobHash(content));
    Record(&observation, "GetBlob " + content.substr(content.size() - 9), blob.status(),
           [&] { return *blob; });
  }
  VerifyStats stats;
  Status verified = store.VerifyAll(&stats);
  Record(&observation, "VerifyAll", verified,
         [&] { return std::to_string(stats.runs) + " runs " + std::to_string(stats.events) + " events"; });
  return observation;
}

// One idempotent append of the pristine store, to repeat on a damaged copy.
struct KeyedAppend {
  std::string run_id;
  std::vector<EventInput> events;
  AppendOptions options;
  AppendResult result;
  size_t state = 0;  // the index of the first state that holds it
};

// The pristine store and what it answered in each state it went through.
struct PristineStore {
  std::vector<std::map<std::string, std::string>> states;  // oldest first; back() is final
  std::vector<KeyedAppend> keyed;
};

class StoreBuilder {
 public:
  StoreBuilder(const std::string& path, PristineStore* pristine)
      : path_(path), pristine_(pristine), clock_(kStartUs) {}

  void Build() {
    store_ = OpenStore(path_, &clock_);
    std::mt19937_64 random(11);
    for (int i = 0; i < 60; ++i) AppendGenerated(kRunIds[i % 4], random, i % 5 == 0);
    ForkAlpha();
    Put(0);
    REQUIRE(store_->Close().ok());
    store_.reset();
    // Reopening replays the WAL into memtables and flushes them to SST files.
    store_ = OpenStore(path_, &clock_);
    recording_ = true;
    RecordState();
    for (int i = 0; i < 16; ++i) {
      AppendGenerated(i % 3 == 0 ? "epsilon" : kRunIds[i % 5], random, i % 2 == 0);
    }
    Put(1);
    REQUIRE(store_->Close().ok());
    store_.reset();
  }

 private:
  void AppendGenerated(const std::string& run_id, std::mt19937_64& random, bool keyed) {
    auto it = generators_.try_emplace(run_id, generators_.size() + 1).first;
    const size_t count = std::uniform_int_distribution<size_t>(1, 12)(random);
    KeyedAppend append{run_id, it->second.Next(count), WithDurability(Durability::kBuffered), {}, 0};
    if (keyed) append.options.idempotency_key = "key-" + std::to_string(++keys_);
    if (run_id == "delta") append.options.session_id = kSession;
    REQUIRE(StoreArtifacts(*store_, append.events, Durability::kBuffered).ok());
    auto result = store_->Append(run_id, append.events, append.options);
    INFO(run_id << ": " << result.status().ToString());
    REQUIRE(result.ok());
    clock_.Advance(std::uniform_int_distribution<int64_t>(1, 3'000'000)(random));
    if (keyed) {
      append.result = *result;
      append.state = pristine_->states.size();  // the state recorded just below
      pristine_->keyed.push_back(std::move(append));
    }
    RecordState();
  }

  void ForkAlpha() {
    ForkOptions options;
    options.reason = "try the other plan";
    auto forked = store_->Fork("alpha", 5, "alpha-fork", options);
    INFO(forked.status().ToString());
    REQUIRE(forked.ok());
    const uint64_t epoch = RunInfoOf("alpha-fork").lease_epoch;
    generators_.try_emplace("alpha-fork", 100, forked->last_sequence + 1, epoch);
  }

  // Stores blob `index` and a snapshot of the head of run `kRunIds[index]`.
  void Put(size_t index) {
    auto hash = store_->PutBlob(kBlobContents[index], Durability::kBuffered);
    INFO(hash.status().ToString());
    REQUIRE(hash.ok());
    RecordState();
    const RunInfo info = RunInfoOf(kRunIds[index]);
    REQUIRE(store_->PutSnapshot(info.run_id, kProjection, 1, info.head_sequence,
                                "state of " + info.run_id, Durability::kBuffered)
                .ok());
    RecordState();
  }

  RunInfo RunInfoOf(const std::string& run_id) {
    auto info = store_->GetRun(run_id);
    INFO(info.status().ToString());
    REQUIRE(info.ok());
    return *info;
  }

  // Records what every read path answers now, once phase 1 is on disk
  // (only the WAL's appends can be lost, so only later states can be seen).
  void RecordState() {
    if (!recording_) return;
    Observation observation = Observe(*store_);
    std::string errors;
    for (const auto& [path, error] : observation.errors) errors += path + ": " + error.ToString() + "\n";
    INFO(errors);
    REQUIRE(observation.errors.empty());
    pristine_->states.push_back(std::move(observation.values));
  }

  std::string path_;
  PristineStore* pristine_;
  ManualClock clock_;
  std::unique_ptr<Store> store_;
  std::map<std::string, RunGenerator> generators_;
  int keys_ = 0;
  bool recording_ = false;
};

// The class of a store's file by its name; empty for files that hold no
// store data (LOCK, AGENTLOG_LOCK, the LOG info logs).
std::string ClassOf(const std::string& name) {
  if (name.ends_with(".sst")) return "sst";
  if (name.ends_with(".log")) return "wal";
  if (name.starts_with("MANIFEST-")) return "manifest";
  if (name.starts_with("OPTIONS-")) return "options";
  if (name == "CURRENT") return "current";
  if (name == "IDENTITY") return "identity";
  if (name == "AGENTLOG_CLOSED") return "closed";
  return "";
}

struct Tally {
  size_t tried = 0, open_refused = 0, read_refused = 0, harmless = 0, lost = 0, undetected = 0;
  uint64_t events_lost = 0;  // acknowledged events missing after the silent losses
};

// Flips bytes of `path` in place; returns what it did, for messages.
std::string FlipBytes(const std::string& path, std::mt19937& random) {
  std::fstream file(path, std::ios::in | std::ios::out | std::ios::binary);
  REQUIRE(file.good());
  const size_t size = std::filesystem::file_size(path);
  REQUIRE(size > 0);
  const int flips = std::uniform_int_distribution<int>(1, kMaxFlipsPerIteration)(random);
  std::string done;
  for (int i = 0; i < flips; ++i) {
    const size_t tail = std::min(size, kTailBytes);
    const size_t offset = std::bernoulli_distribution(0.25)(random)
                              ? size - tail + std::uniform_int_distribution<size_t>(0, tail - 1)(random)
                              : std::uniform_int_distribution<size_t>(0, size - 1)(random);
    const int mask = std::bernoulli_distribution(0.5)(random)
                         ? 1 << std::uniform_int_distribution<int>(0, 7)(random)
                         : std::uniform_int_distribution<int>(1, 255)(random);
    char byte = 0;
    file.seekg(static_cast<std::streamoff>(offset));
    file.read(&byte, 1);
    byte = static_cast<char>(static_cast<unsigned char>(byte) ^ mask);
    file.seekp(static_cast<std::streamoff>(offset));
    file.write(&byte, 1);
    done += " offset " + std::to_string(offset) + " mask " + std::to_string(mask);
  }
  REQUIRE(file.good());
  return done;
}

// The newest state whose answers every answering path of `observation`
// matches; nullopt if none does.
std::optional<size_t> MatchingState(const PristineStore& pristine, const Observation& observation) {
  for (size_t state = pristine.states.size(); state-- > 0;) {
    bool matches = true;
    for (const auto& [path, value] : observation.values) {
      auto expected = pristine.states[state].find(path);
      REQUIRE(expected != pristine.states[state].end());
      if (expected->second != value) {
        matches = false;
        break;
      }
    }
    if (matches) return state;
  }
  return std::nullopt;
}

// The paths that read only what VerifyAll walks: if one fails, so must it.
bool VerifyWalks(const std::string& path) {
  for (const char* prefix : {"GetRun ", "ReadRun ", "ReadEvent ", "RunDigest ", "ReadGlobal",
                             "ListDeadlines", "StoreDigest"}) {
    if (path.starts_with(prefix)) return true;
  }
  return path == "ListRuns";
}

// Repeats every idempotent append state `state` holds: each must replay with
// its first numbers or answer an error, never append again. Returns the
// problems found.
std::vector<std::string> CheckReplays(Store& store, const PristineStore& pristine, size_t state) {
  std::vector<std::string> problems;
  for (const KeyedAppend& append : pristine.keyed) {
    if (append.state > state) continue;
    auto repeat = store.Append(append.run_id, append.events, append.options);
    if (!repeat.ok()) {
      if (!repeat.status().IsCorruption() && !repeat.status().IsIOError()) {
        problems.push_back("replay of " + append.options.idempotency_key + ": " + repeat.status().ToString());
      }
      continue;
    }
    if (!repeat->replayed || repeat->first_sequence != append.result.first_sequence ||
        repeat->last_position != append.result.last_position) {
      problems.push_back("replay of " + append.options.idempotency_key + " appended again");
    }
  }
  return problems;
}

// Opens the damaged copy at `path`, asks every path, classifies the outcome
// into `tally`, and returns the problems (empty: the property held).
std::vector<std::string> CheckDamagedCopy(const std::string& path, const std::string& file_class,
                                          const PristineStore& pristine, Tally* tally, std::string* example) {
  ManualClock clock(kStartUs + 1'000'000'000);
  Options options;
  options.clock = &clock;
  options.create_if_missing = false;
  auto opened = Store::Open(options, path);
  if (!opened.ok()) {
    ++tally->open_refused;
    if (example->empty()) *example = opened.status().ToString();
    // A MANIFEST flip can drop the table holding the format marker: that
    // is Corruption too ("format marker is missing"), never "not ours".
    if (opened.status().IsCorruption() || opened.status().IsIOError()) return {};
    return {"Open answered " + opened.status().ToString()};
  }
  Store& store = **opened;
  const Observation observation = Observe(store);
  std::vector<std::string> problems;
  bool walked_path_failed = false;
  for (const auto& [read_path, error] : observation.errors) {
    if (read_path != "VerifyAll" && VerifyWalks(read_path)) walked_path_failed = true;
    if (!error.IsCorruption() && !error.IsIOError()) {
      problems.push_back(read_path + " answered " + error.ToString());
    } else if (example->empty()) {
      *example = read_path + ": " + error.ToString();
    }
  }
  const bool verified = observation.values.count("VerifyAll") > 0;
  if (walked_path_failed && verified) problems.push_back("a path VerifyAll walks failed, VerifyAll is OK");
  // Damage in a table file is reported as damage, naming the file -- not as
  // the data it hid going missing ("events at the end were deleted").
  if (!verified && file_class == "sst" &&
      observation.errors.at("VerifyAll").message().find(".sst") == std::string::npos) {
    problems.push_back("VerifyAll does not name the damaged table file: " +
                       observation.errors.at("VerifyAll").ToString().substr(0, 300));
  }
  // VerifyAll also reads what no read path does (every table block, every
  // index): alone, it must have found damage in a file, and name it.
  if (!verified && observation.errors.size() == 1 &&
      observation.errors.at("VerifyAll").message().find("damaged") == std::string::npos &&
      observation.errors.at("VerifyAll").message().find("checksum mismatch") == std::string::npos) {
    problems.push_back("only VerifyAll failed, and not for damage: " +
                       observation.errors.at("VerifyAll").ToString().substr(0, 300));
  }
  const std::optional<size_t> state = MatchingState(pristine, observation);
  if (!state) {
    ++tally->undetected;
    std::string differing;  // against the final state, to see what was altered
    for (const auto& [path, value] : observation.values) {
      if (pristine.states.back().at(path) != value && differing.size() < 400) differing += " " + path + ";";
    }
    problems.push_back("answers match no state the store went through (altered data served as good); "
                       "paths that differ from the final state:" + differing);
  } else {
    const bool final_state = *state + 1 == pristine.states.size();
    if (!observation.errors.empty()) {
      ++tally->read_refused;
    } else if (final_state) {
      ++tally->harmless;
    } else {
      problems.push_back("answers match state " + std::to_string(*state) + " of " +
                         std::to_string(pristine.states.size()) + ": acknowledged data lost silently");
      ++tally->lost;
      tally->events_lost += std::stoull(pristine.states.back().at("LastPosition")) -
                            std::stoull(observation.values.at("LastPosition"));
    }
    for (std::string& problem : CheckReplays(store, pristine, *state)) problems.push_back(std::move(problem));
  }
  store.Close().IgnoreError();  // a damaged copy: its close may fail and changes nothing checked
  return problems;
}

}  // namespace

TEST_CASE("FileCorruption.ByteFlipsInTheStoresFilesAreRefusedOrHarmlessNeverServed",
          "[corruption][file-corruption]") {
  TempDir pristine_dir;
  const std::string pristine_path = pristine_dir.Sub("store");
  PristineStore pristine;
  StoreBuilder(pristine_path, &pristine).Build();
  REQUIRE(pristine.states.size() >= 2);

  // The layout the method relies on: phase 1 in SST files, phase 2 in the WAL.
  std::map<std::string, std::vector<std::string>> files_by_class;
  for (const auto& entry : std::filesystem::directory_iterator(pristine_path)) {
    const std::string name = entry.path().filename().string();
    const std::string file_class = ClassOf(name);
    if (!file_class.empty() && entry.file_size() > 0) files_by_class[file_class].push_back(name);
  }
  for (const char* file_class : {"sst", "wal", "manifest", "options", "current", "identity", "closed"}) {
    INFO("no non-empty " << file_class << " file in the closed store");
    REQUIRE(files_by_class.count(file_class) == 1);
  }

  const uint64_t iterations =
      std::min(NumberFromEnvironment("AGENTLOG_FLIP_ITERATIONS", kDefaultIterations), kMaxIterations);
  const uint32_t seed = static_cast<uint32_t>(NumberFromEnvironment("AGENTLOG_FLIP_SEED", 20240612));
  std::mt19937 random(seed);
  std::vector<std::string> classes;
  for (const auto& [file_class, names] : files_by_class) classes.push_back(file_class);
  std::map<std::string, Tally> tallies;
  std::map<std::string, std::string> examples;
  std::vector<std::string> failures;
  for (uint64_t iteration = 0; iteration < iterations; ++iteration) {
    const std::string& file_class = classes[iteration % classes.size()];
    const std::vector<std::string>& names = files_by_class[file_class];
    const std::string name = names[std::uniform_int_distribution<size_t>(0, names.size() - 1)(random)];
    TempDir copy;
    const std::string path = copy.Sub("store");
    std::filesystem::copy(pristine_path, path, std::filesystem::copy_options::recursive);
    const std::string flips = FlipBytes(path + "/" + name, random);
    Tally& tally = tallies[file_class];
    ++tally.tried;
    for (const std::string& problem : CheckDamagedCopy(path, file_class, pristine, &tally, &examples[file_class])) {
      if (failures.size() < 20) failures.push_back("iteration " + std::to_string(iteration) + " " + name + flips + ": " + problem);
    }
  }

  Tally total;
  for (const auto& [file_class, tally] : tallies) {
    std::cout << "[file-corruption] seed " << seed << " " << file_class << " file flips: tried "
              << tally.tried << ", caught " << tally.open_refused + tally.read_refused
              << " (open refused " << tally.open_refused << ", read refused " << tally.read_refused
              << "), harmless " << tally.harmless << ", lost silently " << tally.lost << " ("
              << tally.events_lost << " acknowledged events), undetected " << tally.undetected << "\n";
    if (!examples[file_class].empty()) {
      std::cout << "[file-corruption]   e.g. " << examples[file_class].substr(0, 300) << "\n";
    }
    total.tried += tally.tried;
    total.undetected += tally.undetected;
    total.lost += tally.lost;
  }
  std::string failure_list;
  for (const std::string& failure : failures) failure_list += failure + "\n";
  INFO("seed " << seed << " (AGENTLOG_FLIP_SEED repeats another)\n" << failure_list);
  CHECK(failures.empty());
  CHECK(total.undetected == 0);
  CHECK(total.lost == 0);
  CHECK(total.tried == iterations);
  // The flips reach the data: SST and WAL damage is caught, not all harmless.
  if (iterations >= kDefaultIterations) {
    CHECK(tallies["sst"].open_refused + tallies["sst"].read_refused > 0);
    CHECK(tallies["wal"].open_refused + tallies["wal"].read_refused > 0);
  }
}

namespace {

// Every file of `dir` but RocksDB's info logs (LOG*), which any open
// attempt writes to, with its bytes.
std::map<std::string, std::string> StoreFiles(const std::string& dir) {
  std::map<std::string, std::string> files;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (name.starts_with("LOG")) continue;
    std::ifstream in(entry.path(), std::ios::binary);
    files[name] = std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  return files;
}


// A closed store at `dir` whose run "r" holds 40 kSync appends of one event
// each, every one its own record of the write-ahead log (a close does not
// flush, so they live there only); their payloads in `payloads`. Returns
// the log's path.
std::string BuildStoreOfLoggedAppends(const std::string& dir, ManualClock* clock,
                                      std::vector<std::string>* payloads) {
  {
    auto store = OpenStore(dir, clock);
    for (int i = 0; i < 40; ++i) AppendMessage(*store, "r", "event " + std::to_string(i), Durability::kSync);
    for (const Event& event : ReadWholeRun(*store, "r")) payloads->emplace_back(event.payload());
    REQUIRE(store->Close().ok());
  }
  std::string log;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (ClassOf(entry.path().filename().string()) == "wal" &&
        (log.empty() || entry.file_size() > std::filesystem::file_size(log))) {
      log = entry.path().string();
    }
  }
  REQUIRE(!log.empty());
  return log;
}

// Opens `dir`: refused with Corruption that names the salvage, changing no
// file (not even the log). Then opens it with Options::truncate_log_at_damage:
// run "r" must be a proper, non-empty prefix of `payloads`, verify, and go
// on after it.
void CheckRefusedUntilSalvaged(const std::string& dir, ManualClock* clock, const std::vector<std::string>& payloads) {
  const std::map<std::string, std::string> damaged = StoreFiles(dir);
  Options options;
  options.clock = clock;
  auto refused = Store::Open(options, dir);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.status().IsCorruption());
  CHECK_THAT(refused.status().message(), Catch::Matchers::Contains("truncate_log_at_damage"));
  CHECK(StoreFiles(dir) == damaged);
  options.truncate_log_at_damage = true;
  auto store = OpenStore(dir, clock, options);
  std::vector<Event> kept = ReadWholeRun(*store, "r");
  INFO("kept " << kept.size() << " of " << payloads.size());
  CHECK(kept.size() > 0);
  CHECK(kept.size() < payloads.size());
  for (size_t i = 0; i < kept.size(); ++i) CHECK(kept[i].payload() == payloads[i]);
  CHECK(store->VerifyAll().ok());
  auto next = AppendMessage(*store, "r", "after salvage", Durability::kSync);
  CHECK(next.first_sequence == kept.size() + 1);
}

}  // namespace

TEST_CASE("FileCorruption.DamagedLogRecordRefusesOpenUntilSalvageIsAsked", "[corruption][file-corruption]") {
  // Goal: a damaged record in the middle of the write-ahead log is damage,
  // not a crash: Open refuses with Corruption saying what to do, and
  // changes no file; Options::truncate_log_at_damage then opens it with
  // the appends before the damaged record intact and verified, and the run
  // continues after them. Method: 40 kSync appends of one event, each its
  // own log record (close does not flush, so they live in the log only);
  // one bit flipped at the middle of the log.
  TempDir dir;
  ManualClock clock(kStartUs);
  std::vector<std::string> payloads;
  const std::string log = BuildStoreOfLoggedAppends(dir.path(), &clock, &payloads);
  {
    std::fstream file(log, std::ios::in | std::ios::out | std::ios::binary);
    const auto middle = static_cast<std::streamoff>(std::filesystem::file_size(log) / 2);
    char byte = 0;
    file.seekg(middle);
    file.read(&byte, 1);
    byte = static_cast<char>(byte ^ 0x10);
    file.seekp(middle);
    file.write(&byte, 1);
    REQUIRE(file.good());
  }
  CheckRefusedUntilSalvaged(dir.path(), &clock, payloads);
}

TEST_CASE("FileCorruption.ALogCutAfterACleanCloseRefusesOpenUntilSalvageIsAsked", "[corruption][file-corruption]") {
  // Goal: a log cut short after a clean close (its size no longer the
  // close marker's) is refused, and the salvage the refusal names opens
  // it with the appends before the cut (the marker check used to refuse
  // the salvage too).
  // Method: the 40 logged appends above; the log cut at its middle.
  TempDir dir;
  ManualClock clock(kStartUs);
  std::vector<std::string> payloads;
  const std::string log = BuildStoreOfLoggedAppends(dir.path(), &clock, &payloads);
  std::filesystem::resize_file(log, std::filesystem::file_size(log) / 2);
  CheckRefusedUntilSalvaged(dir.path(), &clock, payloads);
}
