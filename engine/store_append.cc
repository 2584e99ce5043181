// engine/store_append.cc: the append path and group commit.
// See engine/store_impl.h for the design and engine/record_format.md for
// the bytes written. Recovery needs no replay of our own: every append is one
// backend write, so a crash leaves each append wholly present or absent.
#include <algorithm>

#include "engine/keys.h"
#include "engine/meta_codec.h"
#include "engine/record_codec.h"
#include "engine/store_impl.h"

namespace agentlog::internal {

Result<AppendResult> StoreImpl::Append(std::string_view run_id, std::span<const EventInput> events,
                                       const AppendOptions& options) {
  if (Status refused = RefuseIfReadOnly("Append"); !refused.ok()) return refused;
  PendingAppend append(&mu_);
  append.run_id = run_id;
  append.options = &options;
  Status status =
      ValidateAppend(run_id, events, options, options_, &append.events, &append.request_hash);
  if (!status.ok()) return status;
  for (size_t i = 0; i < append.events.size(); ++i) {
    // Only Fork writes RunForked, where the runs index records the parent
    // and Verify checks the two agree; a RunForked appended anywhere else
    // would claim a lineage nothing backs.
    if (append.events[i].facts.type == fb::Body_RunForked) {
      return Status::InvalidArgument("event " + std::to_string(i) + " of the append to run \"" +
                                     std::string(run_id) +
                                     "\" is a RunForked; only Store::Fork writes those");
    }
  }
  for (const EventInput& event : events) append.payload_bytes += event.payload.size();
  return QueueAppend(&append);
}

Result<AppendResult> StoreImpl::QueueAppend(PendingAppend* pending) {
  PendingAppend& append = *pending;
  MutexLock lock(&mu_);
  while (!closing_ && !closed_ && queue_.size() >= options_.max_queued_appends) space_cv_.Wait();
  if (closing_ || closed_) return Status::Closed("the store is closed; open it again to append");
  if (!write_failure_.ok()) return Stopped(write_failure_);
  queue_.push_back(&append);
  AGENTLOG_ASSERT(queue_.size() <= options_.max_queued_appends);
  while (!append.done && (committing_ || queue_.front() != &append)) append.cv.Wait();
  if (!append.done) LeadCommit();
  AGENTLOG_ASSERT(append.done);
  if (!append.status.ok()) return append.status;
  return append.result;
}

Status StoreImpl::Stopped(const Status& failure) {
  return Status::IOError("the store stopped writing after a failed write (" + failure.ToString() +
                         "); its outcome on disk is unknown: fix the cause, then close and reopen "
                         "the store");
}

Status StoreImpl::WriteBesideAppends(const WriteSet* writes, bool sync) {
  {
    MutexLock lock(&mu_);
    if (!write_failure_.ok()) return Stopped(write_failure_);
  }
  Status status = writes != nullptr ? backend_->Write(*writes, sync) : backend_->SyncWal();
  if (!status.ok()) {
    MutexLock lock(&mu_);
    if (write_failure_.ok()) write_failure_ = status;
  }
  return status;
}

void StoreImpl::LeadCommit() {
  AGENTLOG_ASSERT(!committing_);
  committing_ = true;
  std::vector<PendingAppend*> group;
  group.reserve(std::min(queue_.size(), options_.max_commit_batch_appends));
  size_t group_bytes = 0;
  while (!queue_.empty() && group.size() < options_.max_commit_batch_appends &&
         (group.empty() || group_bytes + queue_.front()->payload_bytes <= kMaxCommitGroupBytes)) {
    group_bytes += queue_.front()->payload_bytes;
    group.push_back(queue_.front());
    queue_.pop_front();
  }
  space_cv_.SignalAll();
  mu_.Unlock();
  CommitGroupOf(group);
  mu_.Lock();
  for (PendingAppend* append : group) {
    append->done = true;
    append->cv.Signal();
  }
  committing_ = false;
  if (!queue_.empty()) {
    queue_.front()->cv.Signal();  // the next committer
  } else {
    idle_cv_.SignalAll();
  }
}

void StoreImpl::CommitGroupOf(std::vector<PendingAppend*>& pending) {
  CommitGroup group;
  group.next_position = LastPosition() + 1;
  group.last_timestamp_us = last_timestamp_us_;
  Status failure;
  {
    MutexLock lock(&mu_);
    failure = write_failure_;
  }
  // Every append answered OK in this group depends on the group's write:
  // a replay of a key staged earlier in the group needs that write, and a
  // kSync replay of an earlier buffered append must not be acknowledged
  // before an fsync. So all of them share its outcome and its durability.
  std::vector<PendingAppend*> answered;
  answered.reserve(pending.size());
  for (PendingAppend* append : pending) {
    if (!failure.ok()) {
      append->status = Stopped(failure);
      continue;
    }
    append->status = StageAppend(append, &group);
    if (!append->status.ok()) continue;
    answered.push_back(append);
    if (append->options->durability == Durability::kSync) group.sync = true;
  }

  Status status;
  if (!group.writes.empty()) {
    status = backend_->Write(group.writes, group.sync);
  } else if (group.sync && !answered.empty()) {
    status = backend_->SyncWal();  // only replays, at least one of them kSync
  }
  if (status.ok()) {
    stat_appends_.fetch_add(answered.size(), std::memory_order_relaxed);
    if (!group.writes.empty() || group.sync) {
      stat_writes_.fetch_add(1, std::memory_order_relaxed);
      if (group.sync) stat_synced_writes_.fetch_add(1, std::memory_order_relaxed);
    }
    if (group.writes.empty()) return;
    if (run_cache_.size() + group.runs.size() > kMaxCachedRuns) run_cache_.clear();
    for (auto& [run_id, info] : group.runs) run_cache_[run_id] = std::move(info);
    last_timestamp_us_ = group.last_timestamp_us;
    {
      MutexLock lock(&notifier_->mu);
      AGENTLOG_ASSERT(group.next_position - 1 >= notifier_->last_position);
      notifier_->last_position = group.next_position - 1;
    }
    notifier_->cv.SignalAll();
    return;
  }
  // The write may or may not have reached the disk; our cached heads may
  // no longer match it. Stop appending until a reopen re-reads the truth.
  run_cache_.clear();
  {
    MutexLock lock(&mu_);
    write_failure_ = status;
  }
  for (PendingAppend* append : answered) {
    append->status = Status::IOError(status.message() +
                                     "; the append may not be stored; after reopening, read the "
                                     "run's head (or repeat with the same idempotency key) "
                                     "before retrying");
  }
}

Status StoreImpl::LoadRun(std::string_view run_id, CommitGroup* group, RunInfo* info,
                          bool* exists) {
  const std::string key(run_id);
  if (auto staged = group->runs.find(key); staged != group->runs.end()) {
    *info = staged->second;
    *exists = true;
    return Status::OK();
  }
  if (auto cached = run_cache_.find(key); cached != run_cache_.end()) {
    *info = cached->second;
    *exists = true;
    return Status::OK();
  }
  std::string value;
  Status status = backend_->Get(Space::kRuns, RunKey(run_id), &value);
  if (status.IsNotFound()) {
    *exists = false;
    *info = RunInfo();
    info->run_id = key;
    info->head_chain_hash = std::string(HashView(kGenesisChainHash));
    return Status::OK();
  }
  if (!status.ok()) return status;
  *exists = true;
  return DecodeRunMeta(value, run_id, info);
}

Status StoreImpl::CheckIdempotency(PendingAppend* append, CommitGroup* group, bool* replayed) {
  *replayed = false;
  const std::string& key = append->options->idempotency_key;
  if (key.empty()) return Status::OK();
  IdempotencyRecord first;
  if (auto staged = group->keys.find(key); staged != group->keys.end()) {
    first.run_id = std::string(staged->second->run_id);
    first.result = staged->second->result;
    first.result.replayed = true;
    first.request_hash = staged->second->request_hash;
  } else {
    std::string value;
    Status status = backend_->Get(Space::kIdempotency, key, &value);
    if (status.IsNotFound()) return Status::OK();
    if (!status.ok()) return status;
    status = DecodeIdempotency(value, key, &first);
    if (!status.ok()) return status;
  }
  if (first.run_id != append->run_id) {
    return Status::Conflict("idempotency key \"" + key.substr(0, 64) + "\" was used for run \"" +
                            first.run_id + "\", not \"" + std::string(append->run_id) +
                            "\"; use a key per run and step");
  }
  if (first.request_hash != append->request_hash) {
    return Status::Conflict("idempotency key \"" + key.substr(0, 64) + "\" of run \"" +
                            first.run_id + "\" was recorded for other events (events " +
                            std::to_string(first.result.first_sequence) + ".." +
                            std::to_string(first.result.last_sequence) +
                            "); a retry must repeat the same events");
  }
  append->result = first.result;
  *replayed = true;
  return Status::OK();
}

namespace {

// The refusals that depend on the run's head: optimistic concurrency
// (Conflict), fencing (Fenced) and the session (InvalidArgument).
Status CheckAgainstHead(const RunInfo& run, bool exists, const AppendOptions& options) {
  // Built only for a message: this runs on every append.
  const auto run_name = [&] { return RunName(run.run_id); };
  if (options.expected_head.has_value() && *options.expected_head != run.head_sequence) {
    return Status::Conflict(run_name() + ": expected head " + std::to_string(*options.expected_head) +
                            ", found " + std::to_string(run.head_sequence) +
                            "; re-read the run and decide again");
  }
  if (options.lease_epoch.has_value()) {
    if (*options.lease_epoch != run.lease_epoch) {
      return Status::Fenced(run_name() + ": lease epoch " + std::to_string(*options.lease_epoch) +
                            " is not the current epoch " + std::to_string(run.lease_epoch) +
                            (run.lease_holder.empty() ? std::string()
                                                      : " (held by \"" + run.lease_holder + "\")") +
                            "; this worker no longer owns the run");
    }
    // A released lease fences its own epoch too: its holder gave the run up.
    if (run.lease_epoch != 0 && run.lease_holder.empty()) {
      return Status::Fenced(run_name() + ": lease epoch " + std::to_string(run.lease_epoch) +
                            " was released; acquire the lease again (epoch " +
                            std::to_string(run.lease_epoch + 1) + ") before appending under it");
    }
  }
  if (!options.session_id.empty() && exists && run.session_id != options.session_id) {
    return Status::InvalidArgument(run_name() + " belongs to session \"" + run.session_id +
                                   "\", not \"" + options.session_id + "\"");
  }
  return Status::OK();
}

// One event's record (under the run's key) and global index entry, chained
// after *chain, which becomes its chain hash (engine/record_format.md).
void StageRecord(const PreparedEvent& event, std::string_view run_id, std::string_view idempotency_key,
                 uint64_t sequence, uint64_t position, int64_t now_us, Hash* chain, WriteSet* writes) {
  const EventInput& input = *event.input;
  Envelope envelope;
  envelope.run_id = run_id;
  envelope.sequence = sequence;
  envelope.global_position = position;
  envelope.timestamp_us = now_us;
  envelope.event_type = event.facts.type;
  envelope.schema_version = input.schema_version;
  envelope.turn_id = input.turn_id;
  envelope.step_id = input.step_id;
  envelope.causation = input.causation;
  envelope.idempotency_key = idempotency_key;
  envelope.actor_kind = static_cast<uint8_t>(input.actor_kind);
  envelope.actor_id = input.actor_id;
  envelope.payload_hash = event.payload_hash;
  *chain = ChainHash(*chain, envelope);
  writes->Put(Space::kEvents, EventKey(run_id, sequence), EncodeRecord(envelope, *chain, input.payload));
  writes->Put(Space::kGlobal, GlobalKey(position), GlobalValue(run_id, sequence));
}

// The run's value after the append (`run`, which had `old_status` before it)
// and its status, session and time index entries.
void StageRunIndexes(const RunInfo& run, bool exists, RunStatus old_status, int64_t now_us,
                     WriteSet* writes) {
  writes->Put(Space::kRuns, RunKey(run.run_id), EncodeRunMeta(run));
  if (!exists || old_status != run.status) {
    if (exists) writes->Delete(Space::kIndex, StatusIndexKey(static_cast<uint8_t>(old_status), run.run_id));
    writes->Put(Space::kIndex, StatusIndexKey(static_cast<uint8_t>(run.status), run.run_id), "");
  }
  if (!exists && !run.session_id.empty()) {
    writes->Put(Space::kIndex, SessionIndexKey(run.session_id, run.run_id), "");
  }
  // One entry per timestamp: a later append at the same time overwrites it
  // with a higher position (engine/keys.h, the time index).
  std::string last_position;
  PutBigEndian64(&last_position, run.head_position);
  writes->Put(Space::kIndex, TimeIndexKey(now_us), std::move(last_position));
}

}  // namespace

Status StoreImpl::StageAppend(PendingAppend* append, CommitGroup* group) {
  const AppendOptions& options = *append->options;
  bool replayed = false;
  Status status = CheckIdempotency(append, group, &replayed);
  if (!status.ok() || replayed) return status;

  RunInfo run;
  bool exists = false;
  status = LoadRun(append->run_id, group, &run, &exists);
  if (!status.ok()) return status;
  if (append->fork != nullptr) {
    // Here, not in Fork: only the committer sees every append that could
    // have created the run first.
    status = StartFork(*append->fork, exists, &run);
    if (!status.ok()) return status;
  }
  status = CheckAgainstHead(run, exists, options);
  if (!status.ok()) return status;
  const RunStatus old_status = run.status;
  const std::string old_session = run.session_id;
  if (!exists) run.session_id = options.session_id;

  WriteSet writes;
  Hash chain;
  std::copy(run.head_chain_hash.begin(), run.head_chain_hash.end(),
            reinterpret_cast<char*>(chain.data()));
  uint64_t position = group->next_position;
  const int64_t now_us = std::max(options_.clock->NowMicros(), group->last_timestamp_us);
  AppendResult result;
  result.first_sequence = run.head_sequence + 1;
  result.first_position = position;
  RunFold fold = FoldOf(run);
  for (const PreparedEvent& event : append->events) {
    status = CheckLeaseRules(fold, event.facts, append->run_id);
    if (!status.ok()) return status;
    const bool creates_run = !exists && &event == &append->events.front();
    FoldEvent(event.facts, now_us, creates_run, &fold);
    StageRecord(event, append->run_id, options.idempotency_key, ++run.head_sequence, position++, now_us,
                &chain, &writes);
  }
  result.last_sequence = run.head_sequence;
  result.last_position = position - 1;
  AGENTLOG_ASSERT(result.last_sequence - result.first_sequence + 1 == append->events.size());
  AGENTLOG_ASSERT(result.last_position - result.first_position + 1 == append->events.size());
  // In `writes`, so a refused append (any return above) indexes nothing.
  StageDeadlines(append->run_id, append->fork, append->events, result.first_sequence, &writes);

  ApplyFold(fold, &run);
  run.head_position = result.last_position;
  run.head_chain_hash = std::string(HashView(chain));
  AGENTLOG_ASSERT(!exists || old_session == run.session_id);
  StageRunIndexes(run, exists, old_status, now_us, &writes);
  if (!options.idempotency_key.empty()) {
    IdempotencyRecord record{run.run_id, result, append->request_hash};
    writes.Put(Space::kIdempotency, options.idempotency_key, EncodeIdempotency(record));
    group->keys[options.idempotency_key] = append;
  }

  // Everything checked: stage it.
  append->result = result;
  group->writes.Append(std::move(writes));
  group->next_position = position;
  group->last_timestamp_us = now_us;
  group->runs[run.run_id] = std::move(run);
  return Status::OK();
}

}  // namespace agentlog::internal
