// engine/store_fork.cc: forks. A fork is a run whose history is its
// parent's first fork_sequence events, then its own; nothing is copied. Its
// runs value names the parent and the fork point, and its first own record
// is a RunForked event chained from the parent's chain hash there. Every
// read, Verify and digest of a fork resolves the shared prefix through
// Lineage, so that is the one place that knows how ancestors nest. Format:
// engine/record_format.md, "Forks".
#include <algorithm>

#include <flatbuffers/util.h>

#include "engine/keys.h"
#include "engine/record_codec.h"
#include "engine/store_impl.h"

namespace agentlog::internal {

namespace {

// Events the prefix fold reads per page, oldest first.
constexpr size_t kForkScanPageEvents = 256;
static_assert(kForkScanPageEvents <= kMaxReadLimit);

// The reason is a FlatBuffers string people read: UTF-8, no NUL, bounded.
Status CheckReason(std::string_view parent_run_id, const std::string& reason) {
  const std::string what = "fork of " + RunName(parent_run_id) + ": reason";
  if (reason.size() > kMaxForkReasonBytes) {
    return Status::InvalidArgument(what + " is " + std::to_string(reason.size()) +
                                   " bytes; the limit is " + std::to_string(kMaxForkReasonBytes));
  }
  return ValidateText(reason, what);
}

std::string RunForkedPayload(std::string_view parent_run_id, uint64_t at_sequence,
                             const std::string& reason) {
  flatbuffers::FlatBufferBuilder builder(128 + reason.size());
  auto parent = builder.CreateString(parent_run_id.data(), parent_run_id.size());
  auto why = builder.CreateString(reason);
  auto body = fb::CreateRunForked(builder, parent, at_sequence, why);
  builder.Finish(fb::CreateEvent(builder, fb::Body_RunForked, body.Union()));
  return std::string(reinterpret_cast<const char*>(builder.GetBufferPointer()), builder.GetSize());
}

}  // namespace

Status StoreImpl::Lineage(const RunInfo& info, uint64_t lowest_sequence,
                          std::vector<Segment>* segments, size_t* ancestors) {
  AGENTLOG_ASSERT(lowest_sequence >= 1);
  segments->clear();
  segments->push_back({info.run_id, info.fork_sequence + 1, info.head_sequence, info.head_sequence});
  // `limit`: the last sequence not yet placed in a segment. An ancestor
  // that is itself a fork at or past `limit` holds none of it (a fork taken
  // inside its parent's shared prefix); the search goes on above it.
  uint64_t limit = info.fork_sequence;
  const RunInfo* child = &info;
  RunInfo ancestor;
  size_t depth = 0;
  while (limit >= lowest_sequence) {
    const std::string child_name = RunName(child->run_id);
    if (child->parent_run_id.empty()) {
      return Status::Corruption(child_name + " shares events 1.." + std::to_string(limit) +
                                " as a fork but names no parent; run agentlog verify");
    }
    if (++depth > kMaxForkDepth) {
      return Status::Corruption(RunName(info.run_id) + " has more than " +
                                std::to_string(kMaxForkDepth) +
                                " ancestors, or its ancestors form a cycle; run agentlog verify");
    }
    auto parent = LoadRunInfo(child->parent_run_id);
    if (parent.status().IsNotFound()) {
      return Status::Corruption(child_name + " is a fork of " + RunName(child->parent_run_id) +
                                ", which does not exist; run agentlog verify");
    }
    if (!parent.ok()) return parent.status();
    if (parent->head_sequence < limit) {
      return Status::Corruption(child_name + " shares events up to " + std::to_string(limit) +
                                " with " + RunName(parent->run_id) + ", whose head is " +
                                std::to_string(parent->head_sequence) + "; run agentlog verify");
    }
    if (parent->parent_run_id.empty() != (parent->fork_sequence == 0)) {
      return Status::Corruption(RunName(parent->run_id) + " names parent \"" + parent->parent_run_id +
                                "\" with fork point " + std::to_string(parent->fork_sequence) +
                                "; a fork needs both; run agentlog verify");
    }
    if (parent->fork_sequence < limit) {
      segments->push_back({parent->run_id, parent->fork_sequence + 1, limit, parent->head_sequence});
      limit = parent->fork_sequence;
    }
    ancestor = std::move(parent).value();
    child = &ancestor;
    if (limit == 0) break;
  }
  std::reverse(segments->begin(), segments->end());
  if (ancestors != nullptr) *ancestors = depth;
  AGENTLOG_ASSERT(segments->size() <= kMaxForkDepth + 1);
  return Status::OK();
}

Result<Event> StoreImpl::ReadResolved(std::string_view run_id, uint64_t sequence) {
  auto event = ReadChecked(run_id, sequence);
  if (!event.status().IsNotFound()) return event;
  // Only a fork's shared events are stored under another run; look the run
  // up only now, so a plain read costs one Get.
  auto info = LoadRunInfo(run_id);
  if (!info.ok() && !info.status().IsNotFound()) return info.status();  // damage is not absence
  if (!info.ok() || sequence > info->fork_sequence) return event;
  std::vector<Segment> segments;
  Status status = Lineage(*info, sequence, &segments);
  if (!status.ok()) return status;
  for (const Segment& segment : segments) {
    if (sequence < segment.first_sequence || sequence > segment.last_sequence) continue;
    auto shared = ReadChecked(segment.owner, sequence);
    if (shared.status().IsNotFound()) {
      return Status::Corruption(RecordName(segment.owner, sequence) + " is missing, and " +
                                RunName(run_id) + " shares it as a fork; run agentlog verify");
    }
    return shared;
  }
  AGENTLOG_ASSERT(false);  // Lineage places every sequence >= lowest_sequence
  return event;
}

Status StoreImpl::FoldPrefix(const std::vector<Segment>& segments, ForkStart* start) {
  const uint64_t at = start->fork_sequence;
  AGENTLOG_ASSERT(at >= 1);
  start->prefix = RunFold();
  start->deadlines.clear();
  // A fork of a fork reads each ancestor's stretch where it is stored.
  std::vector<Event> page;
  uint64_t next = 1;
  for (const Segment& segment : segments) {
    const uint64_t high = std::min(segment.last_sequence, at);
    while (next <= high) {
      AGENTLOG_ASSERT(next >= segment.first_sequence);
      const uint64_t page_high = std::min<uint64_t>(high, next + kForkScanPageEvents - 1);
      page.clear();
      Status status = ReadSegment(segment, next, page_high, /*reverse=*/false, kForkScanPageEvents, &page);
      if (!status.ok()) return status;
      AGENTLOG_ASSERT(page.size() == page_high - next + 1);
      for (const Event& event : page) {
        const EventFacts facts = FactsOf(event.type(), event.body());  // body: nullptr if removed
        FoldEvent(facts, event.timestamp_us(), event.sequence() == 1, &start->prefix);
        if (IndexesDeadline(facts)) {
          start->deadlines.push_back(DeadlineEntry{std::string(), facts.deadline_step_id,
                                                   facts.deadline_at_us, event.sequence()});
        }
      }
      next = page_high + 1;
    }
    if (next > at) break;
  }
  AGENTLOG_ASSERT(next == at + 1);  // Lineage places every sequence 1..head
  return Status::OK();
}

Status StoreImpl::StartFork(const ForkStart& fork, bool exists, RunInfo* run) {
  if (exists) {
    return Status::Conflict(RunName(run->run_id) + " already exists; a fork needs a new run id");
  }
  AGENTLOG_ASSERT(run->head_sequence == 0 && fork.fork_sequence >= 1);
  AGENTLOG_ASSERT(fork.chain_hash.size() == kHashBytes);
  run->parent_run_id = fork.parent_run_id;
  run->fork_sequence = fork.fork_sequence;
  run->head_sequence = fork.fork_sequence;
  run->head_chain_hash = fork.chain_hash;
  run->status = fork.prefix.status;
  // The epoch carries over, so the parent's epochs stay fenced on the fork;
  // the holder does not: RunForked releases the lease (record_format.md).
  run->lease_epoch = fork.prefix.lease_epoch;
  run->lease_holder.clear();
  return Status::OK();
}

Result<AppendResult> StoreImpl::Fork(std::string_view parent_run_id, uint64_t at_sequence,
                                     std::string_view new_run_id, const ForkOptions& options) {
  Status status = RefuseIfReadOnly("Fork");
  if (!status.ok()) return status;
  status = ValidateName(parent_run_id, "parent run id");
  if (!status.ok()) return status;
  status = ValidateName(new_run_id, "run id");
  if (!status.ok()) return status;
  status = CheckReason(parent_run_id, options.reason);
  if (!status.ok()) return status;

  EventInput input;
  input.payload = RunForkedPayload(parent_run_id, at_sequence, options.reason);
  input.actor_kind = ActorKind::kSystem;
  input.actor_id = options.actor_id;
  AppendOptions append_options;
  append_options.durability = options.durability;
  append_options.session_id = options.session_id;
  PendingAppend append(&mu_);
  append.run_id = new_run_id;
  append.options = &append_options;
  status = ValidateAppend(new_run_id, std::span(&input, 1), append_options, options_,
                          &append.events, &append.request_hash);
  if (!status.ok()) return status;
  append.payload_bytes = input.payload.size();

  ForkStart start;
  start.parent_run_id = std::string(parent_run_id);
  start.fork_sequence = at_sequence;
  {
    // The prefix is read before queueing, outside the committer: events
    // 1..at_sequence of an existing run never change.
    ReadGuard guard(this);
    if (!guard.status().ok()) return guard.status();
    auto parent = LoadRunInfo(parent_run_id);
    if (!parent.ok()) return parent.status();
    if (at_sequence == 0 || at_sequence > parent->head_sequence) {
      return Status::InvalidArgument("cannot fork " + RunName(parent_run_id) + " at event " +
                                     std::to_string(at_sequence) + ": its events are 1.." +
                                     std::to_string(parent->head_sequence));
    }
    std::vector<Segment> segments;
    size_t ancestors = 0;
    status = Lineage(*parent, 1, &segments, &ancestors);
    if (!status.ok()) return status;
    if (ancestors + 1 > kMaxForkDepth) {
      return Status::InvalidArgument("cannot fork " + RunName(parent_run_id) + ": it has " +
                                     std::to_string(ancestors) + " ancestors and a fork may have " +
                                     std::to_string(kMaxForkDepth) + "; fork an earlier ancestor");
    }
    if (at_sequence == parent->head_sequence) {
      start.chain_hash = parent->head_chain_hash;
    } else {
      auto event = ReadResolved(parent_run_id, at_sequence);
      if (!event.ok()) return event.status();
      start.chain_hash = std::string(event->chain_hash());
    }
    status = FoldPrefix(segments, &start);
    if (!status.ok()) return status;
  }
  append.fork = &start;
  return QueueAppend(&append);
}

Result<uint64_t> StoreImpl::SequenceAtPosition(std::string_view run_id, uint64_t position) {
  ReadGuard guard(this);
  if (!guard.status().ok()) return guard.status();
  auto info = LoadRunInfo(run_id);
  if (!info.ok()) return info.status();
  uint64_t sequence = 0;
  std::string chain;
  Status status = HeadAsOf(*info, position, &sequence, &chain);
  if (!status.ok()) return status;
  if (sequence != 0 && sequence <= info->fork_sequence) {
    return Status::Corruption(RunName(run_id) + ": its head as of position " + std::to_string(position) +
                              " is event " + std::to_string(sequence) + ", inside the history it shares as a "
                              "fork (1.." + std::to_string(info->fork_sequence) + "); run agentlog verify");
  }
  return sequence;
}

}  // namespace agentlog::internal
