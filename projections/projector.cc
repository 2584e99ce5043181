// projections/projector.cc: see agentlog/projector.h. Snapshot selection,
// policy and retention: projections/README.md; their bytes:
// engine/record_format.md "Snapshots".
#include "agentlog/projector.h"

#include <algorithm>
#include <map>
#include <optional>
#include <unordered_map>

#include "base/assert.h"
#include "base/mutex.h"
#include "base/names.h"

namespace agentlog {
namespace {

using internal::RunName;

constexpr size_t kFoldPage = 1000;      // events read per ReadRun while folding
constexpr size_t kRetentionPage = 1000; // snapshots listed at a time by retention

// A state being folded forward: the state, the event it is as of, and the
// run's status there (if known). Fold moves it; it owns nothing.
struct Cursor {
  ProjectionState* state = nullptr;
  uint64_t sequence = 0;
  std::optional<RunStatus> status;
};

// Where a fold starts: a state and the sequence it is as of.
struct Start {
  std::unique_ptr<ProjectionState> state;
  uint64_t sequence = 0;
  uint64_t snapshot_sequence = 0;
  uint64_t events_folded = 0;       // to reach it (a fork's: its parent's fold)
  std::optional<RunStatus> status;  // the run's status at `sequence`, if known

  Cursor cursor() { return Cursor{state.get(), sequence, status}; }
  void MoveTo(const Cursor& cursor) {
    sequence = cursor.sequence;
    status = cursor.status;
  }
};

constexpr size_t kSnapshotPage = 64;  // snapshot candidates listed at a time (metadata only)

class ProjectorImpl final : public Projector {
 public:
  ProjectorImpl(Store* store, const ProjectorOptions& options) : store_(store), options_(options) {}
  // The error that stopped the background thread, if any, was the caller's
  // to ask for with StopBackground; destruction only stops it.
  ~ProjectorImpl() override { StopBackground().IgnoreError(); }

  Status Register(std::shared_ptr<const Projection> projection) override;
  Result<std::unique_ptr<ProjectionState>> StateAt(std::string_view run_id, std::string_view projection,
                                                   uint64_t sequence, StateInfo* info) override;
  Result<std::unique_ptr<ProjectionState>> CurrentState(std::string_view run_id,
                                                        std::string_view projection,
                                                        StateInfo* info) override;
  Result<std::unique_ptr<ProjectionState>> StateAtTime(std::string_view run_id, std::string_view projection,
                                                       int64_t time_us, StateInfo* info) override;
  Result<std::vector<RunStateAt>> StatesAtTime(std::string_view projection, int64_t time_us,
                                               const RunFilter& filter) override;
  Status CatchUp(std::string_view run_id) override;
  Result<AppendResult> Append(std::string_view run_id, std::span<const EventInput> events,
                              const AppendOptions& options) override;
  Result<AppendResult> AppendAndFold(std::string_view run_id, std::span<const EventInput> events,
                                     const AppendOptions& options, std::string_view projection,
                                     ProjectionState* state) override;
  Result<uint64_t> FoldForward(std::string_view run_id, std::string_view projection, uint64_t sequence,
                               ProjectionState* state) override;
  Status StartBackground() override;
  Status StopBackground() override;
  ProjectorStats stats() const override;
  Status VerifySnapshots(std::string_view run_id, std::string_view projection,
                         SnapshotCheckStats* stats) override;

 private:
  struct Cached {
    uint64_t sequence = 0;
    std::unique_ptr<ProjectionState> state;
    std::optional<RunStatus> status;
    uint64_t fork_sequence = 0;  // the run's (it never changes)
  };

  Result<std::shared_ptr<const Projection>> Find(std::string_view name);
  static std::string CacheKey(std::string_view run_id, const Projection& projection) {
    return std::string(run_id) + '\0' + std::string(projection.name());
  }
  // Finds the projection and the run, asks `where` which event, and
  // answers StateAtRun for it: the shared start of the public state reads.
  using SequenceOf = std::function<Result<uint64_t>(const RunInfo& run)>;
  Result<std::unique_ptr<ProjectionState>> StateWhere(std::string_view run_id, std::string_view projection,
                                                      StateInfo* info, const SequenceOf& where);
  // The state after event `sequence` of a run whose metadata is `run`.
  Result<std::unique_ptr<ProjectionState>> StateAtRun(const RunInfo& run, const Projection& projection,
                                                      uint64_t sequence, StateInfo* info, size_t depth);
  // The best starting point at or before `target`: the cached state, the
  // newest usable snapshot, or (none) the fork point or the initial state.
  Result<Start> FindStart(const RunInfo& run, const Projection& projection, uint64_t target,
                          StateInfo* info, size_t depth);
  // OK and *state set if `entry` (listed without its state) can start a
  // fold; otherwise why not (InvalidArgument: another version; Corruption:
  // damaged, foreign or undecodable; NotFound: deleted meanwhile). An I/O
  // error is also put in *error, which ends the search.
  Status UseSnapshot(const RunInfo& run, const Projection& projection, const SnapshotEntry& entry,
                     std::unique_ptr<ProjectionState>* state, Status* error);
  // A fork's parent; Corruption if it is gone (the engine's lineage rule).
  Result<RunInfo> LoadParent(const RunInfo& run);
  // Applies events (at->sequence, to] to *at->state. `on_event`, if
  // set, is called before and after each event (CatchUp's policy).
  using EventHook = std::function<Status(const Event& event, bool applied, const ProjectionState& state)>;
  Status Fold(std::string_view run_id, const Projection& projection, Cursor* at, uint64_t to,
              uint64_t* folded, const EventHook& on_event);
  // Folds *at up to `to` as CatchUp does: writing the snapshots the policy
  // selects on the way, then applying retention. `from_stored`: the state
  // at at->sequence is stored already (a snapshot, the fork point, none).
  Status FoldWithPolicy(std::string_view run_id, const Projection& projection, Cursor* at, uint64_t to,
                        bool from_stored);
  // What the cache knows of a run without its state: the event the state
  // is of, the run's status there and its fork sequence.
  struct CachedRun {
    uint64_t sequence = 0;
    std::optional<RunStatus> status;
    uint64_t fork_sequence = 0;
  };
  std::optional<CachedRun> CachedRunOf(std::string_view run_id, const Projection& projection);
  Status ApplyOne(const Projection& projection, ProjectionState& state, const Event& event);
  // Every snapshot of the run's `projection`, metadata only, oldest first.
  Result<std::vector<SnapshotEntry>> AllSnapshots(std::string_view run_id, const Projection& projection);
  // VerifySnapshots' check of one snapshot against `fold`, the state as of
  // its sequence.
  Status CompareSnapshot(std::string_view run_id, const Projection& projection, const SnapshotEntry& entry,
                         const ProjectionState& fold);
  Status CatchUpOne(const RunInfo& run, const Projection& projection);
  Status Retain(std::string_view run_id, const Projection& projection);
  void Remember(std::string_view run_id, const Projection& projection, uint64_t sequence,
                std::unique_ptr<ProjectionState> state, std::optional<RunStatus> status,
                uint64_t fork_sequence);
  void Count(uint64_t ProjectorStats::*counter, uint64_t amount) {
    internal::MutexLock lock(&mu_);
    stats_.*counter += amount;
  }

  Store* const store_;
  const ProjectorOptions options_;

  mutable internal::Mutex mu_;
  std::map<std::string, std::shared_ptr<const Projection>, std::less<>> projections_ GUARDED_BY(mu_);
  std::unordered_map<std::string, Cached> cache_ GUARDED_BY(mu_);
  ProjectorStats stats_ GUARDED_BY(mu_);

  internal::Mutex background_mu_;
  std::unique_ptr<Subscription> background_ GUARDED_BY(background_mu_);
};

Status ProjectorImpl::Register(std::shared_ptr<const Projection> projection) {
  if (projection == nullptr) return Status::InvalidArgument("cannot register a null projection");
  Status status = internal::ValidateName(projection->name(), "projection name");
  if (!status.ok()) return status;
  internal::MutexLock lock(&mu_);
  if (!projections_.emplace(std::string(projection->name()), projection).second) {
    return Status::InvalidArgument("a projection named \"" + std::string(projection->name()) +
                                   "\" is already registered");
  }
  return Status::OK();
}

Result<std::shared_ptr<const Projection>> ProjectorImpl::Find(std::string_view name) {
  internal::MutexLock lock(&mu_);
  auto it = projections_.find(name);
  if (it == projections_.end()) {
    return Status::NotFound("no projection named \"" + std::string(name.substr(0, 200)) +
                            "\" is registered");
  }
  return it->second;
}

Status ProjectorImpl::ApplyOne(const Projection& projection, ProjectionState& state, const Event& event) {
  const fb::Event* body = event.body();
  std::string upcast;
  if (body != nullptr && options_.upcasters != nullptr &&
      options_.upcasters->NeedsUpcast(event.type(), event.schema_version())) {
    auto current = options_.upcasters->Upcast(event.type(), event.schema_version(),
                                              std::string(event.payload()));
    if (!current.ok()) {
      return Status::Corruption(RunName(event.run_id()) + " event " + std::to_string(event.sequence()) +
                                ": " + current.status().message());
    }
    upcast = std::move(current).value();
    body = flatbuffers::GetRoot<fb::Event>(upcast.data());
  }
  projection.Apply(state, EventView(event, body));
  return Status::OK();
}

Status ProjectorImpl::Fold(std::string_view run_id, const Projection& projection, Cursor* at,
                           uint64_t to, uint64_t* folded, const EventHook& on_event) {
  while (at->sequence < to) {
    ReadOptions read;
    read.from_sequence = at->sequence + 1;
    read.to_sequence = to;
    read.limit = kFoldPage;
    auto events = store_->ReadRun(run_id, read);
    if (!events.ok()) return events.status();
    if (events->empty()) {
      return Status::Corruption(RunName(run_id) + " ends before event " + std::to_string(read.from_sequence) +
                                " although its head is " + std::to_string(to) + "; run agentlog verify");
    }
    for (const Event& event : *events) {
      AGENTLOG_ASSERT(event.sequence() == at->sequence + 1);
      if (on_event) {
        Status status = on_event(event, false, *at->state);
        if (!status.ok()) return status;
      }
      Status status = ApplyOne(projection, *at->state, event);
      if (!status.ok()) return status;
      at->sequence = event.sequence();
      if (auto next = StatusAfterEvent(event.type())) at->status = *next;
      ++*folded;
      if (on_event) {
        status = on_event(event, true, *at->state);
        if (!status.ok()) return status;
      }
    }
  }
  return Status::OK();
}

Result<RunInfo> ProjectorImpl::LoadParent(const RunInfo& run) {
  auto parent = store_->GetRun(run.parent_run_id);
  if (parent.status().IsNotFound()) {
    return Status::Corruption(RunName(run.run_id) + " is a fork of " + RunName(run.parent_run_id) +
                              ", which does not exist; run agentlog verify");
  }
  return parent;
}

Status ProjectorImpl::UseSnapshot(const RunInfo& run, const Projection& projection, const SnapshotEntry& entry,
                                  std::unique_ptr<ProjectionState>* state, Status* error) {
  const std::string what = "snapshot of \"" + std::string(projection.name()) + "\" at " + RunName(run.run_id) +
                           " event " + std::to_string(entry.sequence);
  if (!entry.status.ok()) return entry.status;
  if (entry.version != projection.version()) {
    return Status::InvalidArgument(what + " is of projection version " + std::to_string(entry.version) +
                                   ", not " + std::to_string(projection.version()) + "; rebuilt from events");
  }
  auto event = store_->ReadEvent(run.run_id, entry.sequence);
  if (!event.ok() && !event.status().IsNotFound()) {
    *error = event.status();
    return *error;
  }
  if (!event.ok() || event->chain_hash() != entry.chain_hash) {
    return Status::Corruption(what + " was not taken on this run's history (its chain hash differs "
                                     "from the event's)");
  }
  // Listed without its state: read it now that it is chosen.
  auto chosen = store_->ReadSnapshots(run.run_id, projection.name(), entry.sequence, 1);
  if (!chosen.ok()) {
    *error = chosen.status();
    return *error;
  }
  if (chosen->empty() || chosen->front().sequence != entry.sequence) {
    return Status::NotFound(what + " was deleted by retention while being read");
  }
  if (!chosen->front().status.ok()) return chosen->front().status;
  auto decoded = projection.Decode(chosen->front().state);
  if (!decoded.ok()) return Status::Corruption(what + " does not decode: " + decoded.status().message());
  // A state stored under another event's key (PutSnapshot takes any bytes):
  // a cache must never start a fold from where the log is not.
  if (std::optional<uint64_t> of = projection.StateSequence(**decoded); of && *of != entry.sequence) {
    return Status::Corruption(what + " holds the state as of event " + std::to_string(*of) +
                              ", not as of the event it is stored under");
  }
  *state = std::move(decoded).value();
  return Status::OK();
}

Result<Start> ProjectorImpl::FindStart(const RunInfo& run, const Projection& projection, uint64_t target,
                                       StateInfo* info, size_t depth) {
  Start best;
  {
    internal::MutexLock lock(&mu_);
    auto it = cache_.find(CacheKey(run.run_id, projection));
    if (it != cache_.end() && it->second.sequence <= target) {
      best.state = it->second.state->Clone();
      best.sequence = it->second.sequence;
      best.status = it->second.status;
    }
  }
  // Newest snapshot first, listed without states (cheap however large they
  // are); stop at the first usable one, whose state is then read, or once
  // none can beat the cached state.
  bool found = !options_.use_snapshots;  // true: no snapshot is looked for
  for (uint64_t at = target; !found && at > run.fork_sequence && at > best.sequence;) {
    auto entries = store_->ReadSnapshots(run.run_id, projection.name(), at, kSnapshotPage, /*with_state=*/false);
    if (!entries.ok()) return entries.status();
    for (const SnapshotEntry& entry : *entries) {
      if (entry.sequence <= best.sequence || entry.sequence <= run.fork_sequence) {
        at = 0;
        break;
      }
      Status error;
      Status bypass = UseSnapshot(run, projection, entry, &best.state, &error);
      if (!error.ok()) return error;
      if (bypass.ok()) {
        best.sequence = entry.sequence;
        best.snapshot_sequence = entry.sequence;
        best.status.reset();
        found = true;
        break;
      }
      if (bypass.IsNotFound()) continue;  // gone meanwhile: not damage
      Count(bypass.IsInvalidArgument() ? &ProjectorStats::snapshots_stale : &ProjectorStats::snapshots_bypassed, 1);
      if (info != nullptr) info->bypassed.push_back(bypass);
    }
    if (entries->size() < kSnapshotPage || at == 0) break;
    at = entries->back().sequence - 1;
  }
  if (best.state != nullptr) return best;
  if (!run.parent_run_id.empty()) {
    // A fork's history up to the fork point is its parent's, and so is the
    // work to get there.
    auto parent = LoadParent(run);
    if (!parent.ok()) return parent.status();
    StateInfo parent_info;
    auto state = StateAtRun(*parent, projection, run.fork_sequence, &parent_info, depth + 1);
    if (!state.ok()) return state.status();
    if (info != nullptr) {
      for (Status& status : parent_info.bypassed) info->bypassed.push_back(std::move(status));
    }
    best.state = std::move(state).value();
    best.sequence = run.fork_sequence;
    best.snapshot_sequence = parent_info.snapshot_sequence;
    best.events_folded = parent_info.events_folded;
    return best;
  }
  best.state = projection.Initial();
  return best;
}

Result<std::unique_ptr<ProjectionState>> ProjectorImpl::StateAtRun(const RunInfo& run,
                                                                   const Projection& projection,
                                                                   uint64_t sequence, StateInfo* info,
                                                                   size_t depth) {
  if (depth > kMaxForkDepth) {
    return Status::Corruption(RunName(run.run_id) + " descends from more than " +
                              std::to_string(kMaxForkDepth) + " forks; run agentlog verify");
  }
  if (sequence > run.head_sequence) {
    return Status::NotFound(RunName(run.run_id) + " has " + std::to_string(run.head_sequence) +
                            " events; event " + std::to_string(sequence) + " does not exist");
  }
  if (!run.parent_run_id.empty() && sequence <= run.fork_sequence) {
    auto parent = LoadParent(run);
    if (!parent.ok()) return parent.status();
    return StateAtRun(*parent, projection, sequence, info, depth + 1);
  }
  if (sequence == 0) {
    if (info != nullptr) *info = StateInfo{};
    return projection.Initial();
  }
  StateInfo local;
  StateInfo* out = info != nullptr ? info : &local;
  auto start = FindStart(run, projection, sequence, out, depth);
  if (!start.ok()) return start.status();
  out->snapshot_sequence = start->snapshot_sequence;
  out->events_folded = start->events_folded;
  Cursor at = start->cursor();
  Status status = Fold(run.run_id, projection, &at, sequence, &out->events_folded, nullptr);
  if (!status.ok()) return status;
  out->sequence = sequence;
  return std::move(start->state);
}

Result<std::unique_ptr<ProjectionState>> ProjectorImpl::StateWhere(std::string_view run_id,
                                                                   std::string_view projection,
                                                                   StateInfo* info, const SequenceOf& where) {
  auto found = Find(projection);
  if (!found.ok()) return found.status();
  auto run = store_->GetRun(run_id);
  if (!run.ok()) return run.status();
  auto sequence = where(*run);
  if (!sequence.ok()) return sequence.status();
  if (*sequence > run->head_sequence) {
    // Appended since the run was read (StateAtTime on a live run): heads
    // only grow, so reading it again covers the event.
    run = store_->GetRun(run_id);
    if (!run.ok()) return run.status();
  }
  if (info != nullptr) *info = StateInfo{};
  return StateAtRun(*run, **found, *sequence, info, 0);
}

Result<std::unique_ptr<ProjectionState>> ProjectorImpl::StateAt(std::string_view run_id,
                                                                std::string_view projection,
                                                                uint64_t sequence, StateInfo* info) {
  return StateWhere(run_id, projection, info, [&](const RunInfo&) -> Result<uint64_t> { return sequence; });
}

Result<std::unique_ptr<ProjectionState>> ProjectorImpl::CurrentState(std::string_view run_id,
                                                                     std::string_view projection,
                                                                     StateInfo* info) {
  return StateWhere(run_id, projection, info,
                    [](const RunInfo& run) -> Result<uint64_t> { return run.head_sequence; });
}

Result<std::unique_ptr<ProjectionState>> ProjectorImpl::StateAtTime(std::string_view run_id,
                                                                    std::string_view projection,
                                                                    int64_t time_us, StateInfo* info) {
  return StateWhere(run_id, projection, info, [&](const RunInfo&) -> Result<uint64_t> {
    auto position = store_->PositionAtTime(time_us);
    if (!position.ok()) return position.status();
    auto sequence = store_->SequenceAtPosition(run_id, *position);
    if (!sequence.ok()) return sequence.status();
    if (*sequence == 0) {
      return Status::NotFound(RunName(run_id) + " had no event of its own at time " + std::to_string(time_us) +
                              " (microseconds since the epoch)");
    }
    return sequence;
  });
}

Result<std::vector<RunStateAt>> ProjectorImpl::StatesAtTime(std::string_view projection, int64_t time_us,
                                                            const RunFilter& filter) {
  auto found = Find(projection);
  if (!found.ok()) return found.status();
  auto position = store_->PositionAtTime(time_us);
  if (!position.ok()) return position.status();
  std::vector<RunStateAt> states;
  if (*position == 0) return states;
  auto runs = store_->ListRuns(filter);
  if (!runs.ok()) return runs.status();
  for (const RunInfo& run : *runs) {
    auto sequence = store_->SequenceAtPosition(run.run_id, *position);
    if (!sequence.ok()) return sequence.status();
    if (*sequence == 0) continue;  // not started yet at that moment
    auto state = StateAtRun(run, **found, *sequence, nullptr, 0);
    if (!state.ok()) return state.status();
    states.push_back(RunStateAt{run.run_id, *sequence, std::move(state).value()});
  }
  return states;
}

void ProjectorImpl::Remember(std::string_view run_id, const Projection& projection, uint64_t sequence,
                             std::unique_ptr<ProjectionState> state, std::optional<RunStatus> status,
                             uint64_t fork_sequence) {
  internal::MutexLock lock(&mu_);
  const std::string key = CacheKey(run_id, projection);
  auto it = cache_.find(key);
  if (it != cache_.end()) {
    if (it->second.sequence > sequence) return;  // a concurrent CatchUp got further
    it->second = Cached{sequence, std::move(state), status, fork_sequence};
    return;
  }
  if (options_.max_cached_states == 0) return;
  // Bounded: evict an arbitrary entry; a miss costs a snapshot read.
  if (cache_.size() >= options_.max_cached_states) cache_.erase(cache_.begin());
  cache_.emplace(key, Cached{sequence, std::move(state), status, fork_sequence});
}

std::optional<ProjectorImpl::CachedRun> ProjectorImpl::CachedRunOf(std::string_view run_id,
                                                                  const Projection& projection) {
  internal::MutexLock lock(&mu_);
  auto it = cache_.find(CacheKey(run_id, projection));
  if (it == cache_.end()) return std::nullopt;
  return CachedRun{it->second.sequence, it->second.status, it->second.fork_sequence};
}

Status ProjectorImpl::FoldWithPolicy(std::string_view run_id, const Projection& projection, Cursor* at,
                                     uint64_t to, bool from_stored) {
  const SnapshotPolicy& policy = options_.policy;
  const uint64_t from = at->sequence;
  uint64_t written = 0;
  auto put = [&](uint64_t sequence, const ProjectionState& state) {
    if (!options_.use_snapshots) return Status::OK();
    ++written;
    return store_->PutSnapshot(run_id, projection.name(), projection.version(), sequence,
                               state.Encode(), options_.snapshot_durability);
  };
  std::optional<RunStatus> status = at->status;
  auto hook = [&](const Event& event, bool applied, const ProjectionState& state) -> Status {
    const uint64_t sequence = event.sequence();
    const EventType type = event.type();
    if (!applied) {
      // Before a step: the state as of the previous event.
      if (policy.around_steps && type == fb::Body_ToolStarted &&
          (sequence - 1 > from || (sequence - 1 == from && !from_stored))) {
        return put(sequence - 1, state);
      }
      return Status::OK();
    }
    bool take = policy.every_events != 0 && sequence % policy.every_events == 0;
    take = take || (policy.on_checkpoint && type == fb::Body_CheckpointMarked);
    take = take || (policy.around_steps && (type == fb::Body_ToolCompleted || type == fb::Body_ToolFailed));
    if (auto next = StatusAfterEvent(type)) {
      // An unknown status (a fold that began at a snapshot) counts as a change.
      take = take || (policy.on_status_change && status != next);
      status = next;
    }
    return take ? put(sequence, state) : Status::OK();
  };
  uint64_t folded = 0;
  Status result = Fold(run_id, projection, at, to, &folded, hook);
  if (!result.ok()) return result;
  Count(&ProjectorStats::snapshots_written, written);
  return written > 0 ? Retain(run_id, projection) : Status::OK();
}

Status ProjectorImpl::CatchUpOne(const RunInfo& run, const Projection& projection) {
  auto start = FindStart(run, projection, run.head_sequence, nullptr, 0);
  if (!start.ok()) return start.status();
  // Whether the state at the start is already stored: a snapshot start is, a
  // cached or initial one is not (and a fork's fork point never is).
  const uint64_t from = start->sequence;
  const bool from_stored = from == 0 || from == start->snapshot_sequence || from <= run.fork_sequence;
  Cursor at = start->cursor();
  Status result = FoldWithPolicy(run.run_id, projection, &at, run.head_sequence, from_stored);
  if (!result.ok()) return result;
  start->MoveTo(at);
  Remember(run.run_id, projection, start->sequence, std::move(start->state), start->status,
           run.fork_sequence);
  return Status::OK();
}

Status ProjectorImpl::Retain(std::string_view run_id, const Projection& projection) {
  const SnapshotPolicy& policy = options_.policy;
  std::vector<uint64_t> doomed;
  size_t kept_latest = 0;
  std::optional<uint64_t> last_window;
  uint64_t at = UINT64_MAX;
  while (true) {
    auto entries = store_->ReadSnapshots(run_id, projection.name(), at, kRetentionPage, /*with_state=*/false);
    if (!entries.ok()) return entries.status();
    for (const SnapshotEntry& entry : *entries) {  // newest first
      bool keep = false;
      if (entry.status.ok() && entry.version == projection.version()) {
        if (kept_latest < policy.keep_latest) {
          keep = true;
          ++kept_latest;
        } else if (policy.keep_older_every != 0) {
          const uint64_t window = entry.sequence / policy.keep_older_every;
          keep = window != last_window;
          if (keep) last_window = window;
        }
      }
      if (!keep) doomed.push_back(entry.sequence);
    }
    if (entries->size() < kRetentionPage || entries->back().sequence <= 1) break;
    at = entries->back().sequence - 1;
  }
  if (doomed.empty()) return Status::OK();
  Status status = store_->DeleteSnapshots(run_id, projection.name(), doomed);
  if (status.ok()) Count(&ProjectorStats::snapshots_deleted, doomed.size());
  return status;
}

Status ProjectorImpl::CatchUp(std::string_view run_id) {
  auto run = store_->GetRun(run_id);
  if (!run.ok()) return run.status();
  std::vector<std::shared_ptr<const Projection>> projections;
  {
    internal::MutexLock lock(&mu_);
    for (const auto& [name, projection] : projections_) projections.push_back(projection);
  }
  for (const auto& projection : projections) {
    Status status = CatchUpOne(*run, *projection);
    if (!status.ok()) return status;
  }
  return Status::OK();
}

Result<AppendResult> ProjectorImpl::Append(std::string_view run_id, std::span<const EventInput> events,
                                           const AppendOptions& options) {
  auto appended = store_->Append(run_id, events, options);
  if (!appended.ok()) return appended;
  Status status = CatchUp(run_id);
  if (!status.ok()) return status;
  return appended;
}

Result<AppendResult> ProjectorImpl::AppendAndFold(std::string_view run_id, std::span<const EventInput> events,
                                                  const AppendOptions& options, std::string_view projection_name,
                                                  ProjectionState* state) {
  AGENTLOG_ASSERT(state != nullptr);
  if (!options.expected_head.has_value()) {
    return Status::InvalidArgument("AppendAndFold: AppendOptions::expected_head must name the event "
                                   "the state is as of");
  }
  if (!options.idempotency_key.empty()) {
    // A repeat would append nothing and leave the state behind the head.
    return Status::InvalidArgument("AppendAndFold folds what it appends: use Append for an idempotent append");
  }
  auto found = Find(projection_name);
  if (!found.ok()) return found.status();
  const Projection& projection = **found;
  const uint64_t from = *options.expected_head;
  const std::optional<CachedRun> cached = CachedRunOf(run_id, projection);
  auto appended = store_->Append(run_id, events, options);
  if (!appended.ok()) return appended;
  std::optional<uint64_t> fork_sequence;
  if (cached.has_value()) fork_sequence = cached->fork_sequence;
  if (!fork_sequence.has_value()) {
    auto run = store_->GetRun(run_id);
    if (!run.ok()) return run.status();
    fork_sequence = run->fork_sequence;
  }
  // The caller's state is no snapshot, so the state before a leading
  // ToolStarted is stored as CatchUp stores it from a cached state.
  Cursor at{state, from, std::nullopt};
  if (cached.has_value() && cached->sequence == from) at.status = cached->status;
  Status status = FoldWithPolicy(run_id, projection, &at, appended->last_sequence,
                                 from == 0 || from <= *fork_sequence);
  if (!status.ok()) return status;
  Remember(run_id, projection, at.sequence, state->Clone(), at.status, *fork_sequence);
  // Any other projection catches up as Append has it do.
  std::vector<std::shared_ptr<const Projection>> others;
  {
    internal::MutexLock lock(&mu_);
    for (const auto& [name, registered] : projections_) {
      if (registered.get() != &projection) others.push_back(registered);
    }
  }
  if (others.empty()) return appended;
  auto run = store_->GetRun(run_id);
  if (!run.ok()) return run.status();
  for (const auto& other : others) {
    if (Status caught = CatchUpOne(*run, *other); !caught.ok()) return caught;
  }
  return appended;
}

Result<uint64_t> ProjectorImpl::FoldForward(std::string_view run_id, std::string_view projection_name,
                                            uint64_t sequence, ProjectionState* state) {
  AGENTLOG_ASSERT(state != nullptr);
  auto found = Find(projection_name);
  if (!found.ok()) return found.status();
  for (;;) {
    ReadOptions read;
    read.from_sequence = sequence + 1;
    read.limit = kFoldPage;
    auto events = store_->ReadRun(run_id, read);
    if (!events.ok()) return events.status();
    for (const Event& event : *events) {
      AGENTLOG_ASSERT(event.sequence() == sequence + 1);
      if (Status status = ApplyOne(**found, *state, event); !status.ok()) return status;
      sequence = event.sequence();
    }
    if (events->size() < read.limit) return sequence;
  }
}

Status ProjectorImpl::StartBackground() {
  internal::MutexLock lock(&background_mu_);
  if (background_ != nullptr) return Status::Busy("the projector's background thread is already running");
  auto subscription = store_->Subscribe(store_->LastPosition(), [this](const Event& event) {
    return CatchUp(event.run_id());
  });
  if (!subscription.ok()) return subscription.status();
  background_ = std::move(subscription).value();
  return Status::OK();
}

Status ProjectorImpl::StopBackground() {
  std::unique_ptr<Subscription> subscription;
  {
    internal::MutexLock lock(&background_mu_);
    subscription = std::move(background_);
  }
  if (subscription == nullptr) return Status::OK();
  subscription->Cancel();
  Status status = subscription->status();
  return status.IsClosed() ? Status::OK() : status;
}

ProjectorStats ProjectorImpl::stats() const {
  internal::MutexLock lock(&mu_);
  return stats_;
}

Result<std::vector<SnapshotEntry>> ProjectorImpl::AllSnapshots(std::string_view run_id,
                                                              const Projection& projection) {
  std::vector<SnapshotEntry> entries;
  for (uint64_t at = UINT64_MAX;;) {
    auto page = store_->ReadSnapshots(run_id, projection.name(), at, kSnapshotPage, /*with_state=*/false);
    if (!page.ok()) return page.status();
    for (SnapshotEntry& entry : *page) entries.push_back(std::move(entry));
    if (page->size() < kSnapshotPage || entries.back().sequence <= 1) break;
    at = entries.back().sequence - 1;
  }
  std::reverse(entries.begin(), entries.end());
  return entries;
}

Status ProjectorImpl::CompareSnapshot(std::string_view run_id, const Projection& projection,
                                      const SnapshotEntry& entry, const ProjectionState& fold) {
  const std::string what = "snapshot of \"" + std::string(projection.name()) + "\" at " + RunName(run_id) +
                           " event " + std::to_string(entry.sequence);
  auto event = store_->ReadEvent(run_id, entry.sequence);
  if (!event.ok()) return event.status();
  if (event->chain_hash() != entry.chain_hash) {
    return Status::Corruption(what + " was taken on another history: its chain hash is not the event's");
  }
  auto stored = store_->ReadSnapshots(run_id, projection.name(), entry.sequence, 1);
  if (!stored.ok()) return stored.status();
  if (stored->empty() || stored->front().sequence != entry.sequence) return Status::OK();  // deleted meanwhile
  if (!stored->front().status.ok()) return stored->front().status;
  if (stored->front().state != fold.Encode()) {
    return Status::Corruption(what + " differs from the fold of the run's events up to it: it was not "
                                     "written from them (edited, or stored by other code); delete it "
                                     "(Store::DeleteSnapshots) and every answer comes from the events");
  }
  return Status::OK();
}

Status ProjectorImpl::VerifySnapshots(std::string_view run_id, std::string_view projection_name,
                                      SnapshotCheckStats* stats) {
  auto found = Find(projection_name);
  if (!found.ok()) return found.status();
  const Projection& projection = **found;
  auto run = store_->GetRun(run_id);
  if (!run.ok()) return run.status();
  auto entries = AllSnapshots(run_id, projection);
  if (!entries.ok()) return entries.status();
  SnapshotCheckStats counted;
  Start fold;
  fold.state = projection.Initial();
  for (const SnapshotEntry& entry : *entries) {
    if (!entry.status.ok()) return entry.status;
    if (entry.version != projection.version()) {
      ++counted.other_version;
      continue;
    }
    if (entry.sequence > run->head_sequence) {
      return Status::Corruption("a snapshot of \"" + std::string(projection.name()) + "\" at " + RunName(run_id) +
                                " event " + std::to_string(entry.sequence) + " is past the run's head " +
                                std::to_string(run->head_sequence));
    }
    Cursor at = fold.cursor();
    Status status = Fold(run_id, projection, &at, entry.sequence, &counted.events_folded, nullptr);
    fold.MoveTo(at);
    if (!status.ok()) return status;
    status = CompareSnapshot(run_id, projection, entry, *fold.state);
    if (!status.ok()) return status;
    ++counted.snapshots;
  }
  if (stats != nullptr) {
    stats->snapshots += counted.snapshots;
    stats->other_version += counted.other_version;
    stats->events_folded += counted.events_folded;
  }
  return Status::OK();
}

}  // namespace

std::unique_ptr<Projector> Projector::Create(Store* store, const ProjectorOptions& options) {
  AGENTLOG_ASSERT(store != nullptr);
  return std::make_unique<ProjectorImpl>(store, options);
}

}  // namespace agentlog
