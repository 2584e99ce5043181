// tools/commands.cc: verify, digest and log (see commands.h).
#include "tools/commands.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <iostream>

#include "tools/event_json.h"

namespace agentlog_tools {
namespace {

// Events fetched per ReadRun call by `log`: bounds the memory one page takes
// whatever the run's length.
constexpr size_t kLogPageEvents = 1000;
static_assert(kLogPageEvents <= agentlog::kMaxReadLimit);

// The run of a run digest ("agentlog-run-v1:RUN:SEQ:HEX"; run ids may hold
// ':'), nullopt for a store digest or none.
std::optional<std::string> RunOfDigest(const std::optional<std::string>& digest) {
  constexpr std::string_view kPrefix = "agentlog-run-v1:";
  if (!digest.has_value() || !digest->starts_with(kPrefix)) return std::nullopt;
  const std::string rest = digest->substr(kPrefix.size());
  const size_t hex = rest.rfind(':');
  const size_t sequence = hex == std::string::npos || hex == 0 ? std::string::npos : rest.rfind(':', hex - 1);
  if (sequence == std::string::npos) return std::nullopt;
  return rest.substr(0, sequence);
}

// stdout failing (disk full, closed pipe) is an operating error: report it.
int FinishOutput(const char* command) {
  std::cout.flush();
  if (!std::cout) {
    std::fprintf(stderr, "agentlog %s: could not write to standard output\n", command);
    return kExitOther;
  }
  return kExitOk;
}

}  // namespace

int ExitCodeFor(const agentlog::Status& status) {
  switch (status.code()) {
    case agentlog::Code::kOk: return kExitOk;
    case agentlog::Code::kCorruption: return kExitCorruption;
    case agentlog::Code::kInvalidArgument: return kExitUsage;
    case agentlog::Code::kLimitExceeded: return kExitUsage;  // e.g. a 200-byte run id
    case agentlog::Code::kNotFound: return kExitNotFound;
    default: return kExitOther;
  }
}

int Fail(const char* command, const agentlog::Status& status) {
  std::fprintf(stderr, "agentlog %s: %s\n", command, status.ToString().c_str());
  return ExitCodeFor(status);
}

namespace {
agentlog::Options ToolOptions() {
  agentlog::Options options;
  // Only tools/ choose the clock: this is the wall clock.
  options.clock = agentlog::SystemClock();
  return options;
}
}  // namespace

agentlog::Result<std::unique_ptr<agentlog::Store>> OpenStoreToRead(const std::string& path) {
  return agentlog::Store::OpenReadOnly(ToolOptions(), path);
}

agentlog::Result<std::unique_ptr<agentlog::Store>> OpenStoreToWrite(const std::string& path, bool create) {
  agentlog::Options options = ToolOptions();
  options.create_if_missing = create;
  return agentlog::Store::Open(options, path);
}

agentlog::Status CheckRunArgument(const std::string& run_id, const char* what) {
  agentlog::Status status = agentlog::ValidateRunId(run_id);
  if (status.ok()) return status;
  const std::string message = std::string(what) + ": " + status.message();
  return status.IsLimitExceeded() ? agentlog::Status::LimitExceeded(message)
                                  : agentlog::Status::InvalidArgument(message);
}

agentlog::Status VerifyStore(agentlog::Store& store, const std::optional<std::string>& run,
                             const std::optional<std::string>& digest,
                             agentlog::VerifyStats* stats) {
  if (run.has_value() && digest.has_value()) {
    return agentlog::Status::InvalidArgument("give a RUN or --against DIGEST, not both");
  }
  if (digest.has_value()) return store.VerifyAgainst(*digest, stats);
  if (run.has_value()) return store.Verify(*run, stats);
  return store.VerifyAll(stats);
}

std::unique_ptr<agentlog::Projector> RunStateProjector(agentlog::Store& store) {
  auto projector = agentlog::Projector::Create(&store, agentlog::ProjectorOptions{});
  // A fresh projector always takes its first projection.
  projector->Register(agentlog::NewRunStateProjection()).IgnoreError();
  return projector;
}

agentlog::Status VerifyRunStateSnapshots(agentlog::Store& store, const std::optional<std::string>& run,
                                         agentlog::SnapshotCheckStats* stats) {
  auto projector = RunStateProjector(store);
  if (run.has_value()) return projector->VerifySnapshots(*run, agentlog::kRunStateProjectionName, stats);
  agentlog::RunFilter filter;
  for (;;) {
    auto runs = store.ListRuns(filter);
    if (!runs.ok()) return runs.status();
    for (const agentlog::RunInfo& info : *runs) {
      agentlog::Status status = projector->VerifySnapshots(info.run_id, agentlog::kRunStateProjectionName, stats);
      if (!status.ok()) return status;
    }
    if (runs->size() < filter.limit) return agentlog::Status::OK();
    filter.after_run_id = runs->back().run_id;
  }
}

std::string VerifyOkLine(const agentlog::VerifyStats& stats, const agentlog::SnapshotCheckStats& snapshots) {
  std::string line = "ok: " + std::to_string(stats.runs) + " runs, " +
                     std::to_string(stats.events) + " events verified";
  if (stats.removed_payloads > 0) {
    line += " (" + std::to_string(stats.removed_payloads) +
            " payloads removed by policy; their hashes verified)";
  }
  if (snapshots.snapshots > 0) {
    line += ", " + std::to_string(snapshots.snapshots) + " run-state snapshots match their events";
  }
  return line;
}

int VerifyCommand(const std::string& db, const std::optional<std::string>& run,
                  const std::optional<std::string>& digest) {
  if (run.has_value()) {
    if (agentlog::Status bad = CheckRunArgument(*run, "RUN"); !bad.ok()) return Fail("verify", bad);
  }
  if (digest.has_value() && !digest->starts_with("agentlog-run-v1:") &&
      !digest->starts_with("agentlog-store-v1:")) {
    return Fail("verify", agentlog::Status::InvalidArgument(
                              "--against \"" + digest->substr(0, 200) + "\" is not an agentlog digest; "
                              "expected agentlog-run-v1:RUN:SEQ:HEX or agentlog-store-v1:POS:RUNS:HEX"));
  }
  auto store = OpenStoreToRead(db);
  if (!store.ok()) return Fail("verify", store.status());
  agentlog::VerifyStats stats;
  agentlog::Status status = VerifyStore(**store, run, digest, &stats);
  if (!status.ok()) return Fail("verify", status);
  // The snapshots a reader or the runtime may start from are checked too:
  // the run's (a run, a run digest), or every run's.
  agentlog::SnapshotCheckStats snapshots;
  status = VerifyRunStateSnapshots(**store, run.has_value() ? run : RunOfDigest(digest), &snapshots);
  if (!status.ok()) return Fail("verify", status);
  std::cout << VerifyOkLine(stats, snapshots) << '\n';
  if (status = (*store)->Close(); !status.ok()) return Fail("verify", status);
  return FinishOutput("verify");
}

int DigestCommand(const std::string& db, const std::optional<std::string>& run) {
  if (run.has_value()) {
    if (agentlog::Status bad = CheckRunArgument(*run, "RUN"); !bad.ok()) return Fail("digest", bad);
  }
  auto store = OpenStoreToRead(db);
  if (!store.ok()) return Fail("digest", store.status());
  auto digest = run.has_value() ? (*store)->RunDigest(*run) : (*store)->StoreDigest();
  if (!digest.ok()) return Fail("digest", digest.status());
  std::cout << *digest << '\n';
  if (auto status = (*store)->Close(); !status.ok()) return Fail("digest", status);
  return FinishOutput("digest");
}

int LogCommand(const std::string& db, const std::string& run, const LogRange& range) {
  if (agentlog::Status bad = CheckRunArgument(run, "RUN"); !bad.ok()) return Fail("log", bad);
  auto store = OpenStoreToRead(db);
  if (!store.ok()) return Fail("log", store.status());
  // An unknown run is NotFound even when the range is empty.
  if (auto info = (*store)->GetRun(run); !info.ok()) return Fail("log", info.status());

  EventRenderer renderer;
  uint64_t remaining = range.limit.value_or(UINT64_MAX);
  agentlog::ReadOptions page;
  page.from_sequence = range.from_sequence;
  page.to_sequence = range.to_sequence;
  page.reverse = range.reverse;
  // Each page moves the cursor past the last sequence it returned, so the
  // loop ends after at most (range length / kLogPageEvents) + 1 pages.
  while (remaining > 0) {
    page.limit = static_cast<size_t>(std::min<uint64_t>(remaining, kLogPageEvents));
    auto events = (*store)->ReadRun(run, page);
    if (!events.ok()) return Fail("log", events.status());
    for (const agentlog::Event& event : *events) {
      std::cout << renderer.ToJsonLine(event) << '\n';
    }
    remaining -= events->size();
    if (events->size() < page.limit) break;  // the range is exhausted
    const uint64_t last = events->back().sequence();
    if (range.reverse) {
      if (last <= page.from_sequence) break;
      page.to_sequence = last - 1;
    } else {
      if (last >= page.to_sequence) break;
      page.from_sequence = last + 1;
    }
  }
  if (auto status = (*store)->Close(); !status.ok()) return Fail("log", status);
  return FinishOutput("log");
}

}  // namespace agentlog_tools
