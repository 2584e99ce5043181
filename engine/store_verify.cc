// engine/store_verify.cc: Verify, VerifyAll, digests. The chain and Merkle
// rules are specified in engine/record_format.md ("Chain" and "Digests").
#include <algorithm>
#include <charconv>

#include "engine/frame.h"
#include "engine/keys.h"
#include "engine/meta_codec.h"
#include "engine/record_codec.h"
#include "engine/store_impl.h"

namespace agentlog::internal {

namespace {

constexpr std::string_view kRunDigestPrefix = "agentlog-run-v1:";
constexpr std::string_view kStoreDigestPrefix = "agentlog-store-v1:";

Hash MerkleLeaf(std::string_view run_id, uint64_t sequence, std::string_view chain) {
  std::string input(1, '\0');
  PutBigEndian64(&input, run_id.size());
  input.append(run_id);
  PutBigEndian64(&input, sequence);
  input.append(chain);
  return Sha256(input);
}

Hash MerkleNode(const Hash& left, const Hash& right) {
  std::string input(1, '\1');
  input.append(HashView(left));
  input.append(HashView(right));
  return Sha256(input);
}

// Root of the leaves in order; an odd last node is carried up unchanged;
// no leaves: 32 zero bytes.
Hash MerkleRoot(std::vector<Hash> level) {
  if (level.empty()) return Hash{};
  while (level.size() > 1) {
    std::vector<Hash> next;
    next.reserve((level.size() + 1) / 2);
    for (size_t i = 0; i + 1 < level.size(); i += 2) next.push_back(MerkleNode(level[i], level[i + 1]));
    if (level.size() % 2 == 1) next.push_back(level.back());
    level = std::move(next);
  }
  return level[0];
}

bool ParseNumber(std::string_view text, uint64_t* value) {
  if (text.empty()) return false;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), *value);
  return error == std::errc() && end == text.data() + text.size();
}

}  // namespace

// What a run's metadata must say, as derived from its events alone: the
// head, and the fold append and fork compute too (engine/run_fold.h).
struct DerivedHead {
  uint64_t sequence = 0;
  std::string chain_hash = std::string(kHashBytes, '\0');
  uint64_t position = 0;
  RunFold meta;
};

namespace {

// created_sequence: the run's own first event (1, or a fork's RunForked
// event): created_us is when the run came to be, not when its history began.
void Fold(DerivedHead* head, const fb::Record* record, uint64_t created_sequence) {
  head->sequence = record->sequence();
  head->chain_hash = std::string(BytesOf(record->chain_hash()));
  head->position = record->global_position();
  const fb::Event* body =
      record->payload_state() == fb::PayloadState_Present ? record->payload_nested_root() : nullptr;
  FoldEvent(FactsOf(record->event_type(), body), record->timestamp_us(),
            head->sequence == created_sequence, &head->meta);
}

// Compares the runs index entry of a run with what its events say, at the
// same head. Session ids are not in the chain, so they are not checked.
Status CompareHead(std::string_view run_id, const DerivedHead& derived, const RunInfo& info) {
  const std::string run = "run \"" + std::string(run_id) + "\": ";
  if (derived.chain_hash != info.head_chain_hash || derived.position != info.head_position) {
    return Status::Corruption(run + "the chain of the stored events does not end at the head "
                                    "recorded in the runs index (history was rewritten)");
  }
  const RunFold& meta = derived.meta;
  if (meta.status != info.status || meta.created_us != info.created_us ||
      meta.last_event_us != info.last_event_us) {
    return Status::Corruption(run + "the runs index says status " +
                              std::string(RunStatusName(info.status)) + ", times " +
                              std::to_string(info.created_us) + ".." +
                              std::to_string(info.last_event_us) + "; the events say " +
                              std::string(RunStatusName(meta.status)) + ", " +
                              std::to_string(meta.created_us) + ".." +
                              std::to_string(meta.last_event_us) + " (the index was edited)");
  }
  if (meta.lease_known && (meta.lease_epoch != info.lease_epoch || meta.lease_holder != info.lease_holder)) {
    return Status::Corruption(run + "the runs index says lease epoch " +
                              std::to_string(info.lease_epoch) + " held by \"" + info.lease_holder +
                              "\"; the lease events say epoch " + std::to_string(meta.lease_epoch) +
                              " held by \"" + meta.lease_holder + "\" (the index was edited)");
  }
  return Status::OK();
}

// A fork's first own record is the RunForked event that made it; the
// fork's parent and fork point in the runs index must be what it says.
// A removed payload leaves only the type to check.
Status CheckForkRecord(std::string_view run_id, const fb::Record* record, const RunInfo& info) {
  const std::string name = RecordName(run_id, record->sequence());
  if (record->event_type() != fb::Body_RunForked) {
    return Status::Corruption(name + ": the runs index says the run is a fork of run \"" +
                              info.parent_run_id + "\" at event " +
                              std::to_string(info.fork_sequence) + ", but this event is " +
                              EventTypeName(record->event_type()) + ", not RunForked");
  }
  if (record->payload_state() != fb::PayloadState_Present) return Status::OK();
  const fb::RunForked* forked = record->payload_nested_root()->body_as_RunForked();
  if (forked == nullptr || StringOf(forked->parent_run_id()) != info.parent_run_id ||
      forked->fork_sequence() != info.fork_sequence) {
    return Status::Corruption(
        name + ": the RunForked event names parent \"" +
        (forked == nullptr ? std::string() : std::string(StringOf(forked->parent_run_id()))) +
        "\" at event " + std::to_string(forked == nullptr ? 0 : forked->fork_sequence()) +
        "; the runs index says \"" + info.parent_run_id + "\" at event " +
        std::to_string(info.fork_sequence) + " (the index was edited)");
  }
  return Status::OK();
}

}  // namespace

// One walk along a run's history, record by record, across the segments
// of a fork's lineage: the chain, positions and times continue across
// segment boundaries (an ancestor's shared events were all committed before
// the fork that shares them, so positions still increase).
struct HistoryWalk {
  Hash chain = kGenesisChainHash;
  DerivedHead derived;
  uint64_t created_sequence = 1;
  uint64_t last_position = 0;
  int64_t last_time = INT64_MIN;
  VerifyStats counted;

  // Checks the record stored under (owner, sequence) as the walk's next.
  Status Step(std::string_view owner, uint64_t sequence, std::string_view frame, bool count,
              const fb::Record** checked) {
    const fb::Record* record = nullptr;
    Status status = CheckRecord(frame, owner, sequence, &record);
    if (!status.ok()) return status;
    // CheckRecord checked a present payload against its hash.
    const Envelope envelope = EnvelopeOf(record);
    if (record->payload_state() != fb::PayloadState_Present && count) ++counted.removed_payloads;
    if (envelope.global_position <= last_position || envelope.timestamp_us < last_time) {
      return Status::Corruption(RecordName(owner, sequence) +
                                ": global position or timestamp goes backwards (position " +
                                std::to_string(envelope.global_position) + " after " +
                                std::to_string(last_position) + "); records were reordered");
    }
    chain = ChainHash(chain, envelope);
    if (chain != HashOf(record->chain_hash())) {
      return Status::Corruption(RecordName(owner, sequence) +
                                ": chain hash mismatch; this record's envelope, or an "
                                "earlier record of the run, was altered, replaced or "
                                "reordered");
    }
    Fold(&derived, record, created_sequence);
    last_position = envelope.global_position;
    last_time = envelope.timestamp_us;
    if (count) ++counted.events;
    *checked = record;
    return Status::OK();
  }
};

namespace {

// The run's log holds events up to `last`, past the head the runs index
// gave before the walk: appended since, or added behind agentlog's back.
// `now` is the runs index read after the walk: it must cover them.
Status CheckEventsPastTheHead(std::string_view run_id, uint64_t last, const DerivedHead& derived,
                              const Result<RunInfo>& now) {
  if (!now.ok()) return now.status();
  if (now->head_sequence < last) {
    return Status::Corruption("run \"" + std::string(run_id) + "\": the runs index says the head is event " +
                              std::to_string(now->head_sequence) + " but the log holds event " +
                              std::to_string(last) + " (events were added outside agentlog)");
  }
  return now->head_sequence == last ? CompareHead(run_id, derived, *now) : Status::OK();
}

}  // namespace

Status StoreImpl::WalkSharedPrefix(std::string_view run_id, const std::vector<Segment>& segments, bool count,
                                   Cursor* cursor, HistoryWalk* walk, std::string* last_key) {
  for (size_t i = 0; i + 1 < segments.size(); ++i) {
    const Segment& segment = segments[i];
    uint64_t expected = segment.first_sequence;
    for (cursor->Seek(EventKey(segment.owner, expected)); expected <= segment.last_sequence;
         cursor->Next(), ++expected) {
      std::string_view key_run;
      uint64_t sequence = 0;
      if (!cursor->Valid() || !ParseEventKey(cursor->key(), &key_run, &sequence) ||
          key_run != segment.owner || sequence != expected) {
        if (!cursor->status().ok()) return cursor->status();
        return MissingOrDamaged(Status::Corruption(RecordName(segment.owner, expected) + " is missing, and run \"" +
                                  std::string(run_id) + "\" shares it as a fork (a record was "
                                  "deleted or its key was altered)"));
      }
      std::string copy;
      const fb::Record* record = nullptr;
      Status status = walk->Step(segment.owner, sequence, AlignedFrame(cursor->value(), &copy), count, &record);
      if (status.ok()) status = CheckRecordDerived(run_id, segment.owner, record, last_key);
      if (!status.ok()) return status;
    }
  }
  return Status::OK();
}

Status StoreImpl::WalkOwnRecords(std::string_view run_id, const RunInfo& info, Cursor* cursor,
                                 HistoryWalk* walk, std::string* last_key, uint64_t* last) {
  const std::string prefix = EventKeyPrefix(run_id);
  uint64_t expected = info.fork_sequence + 1;
  for (cursor->Seek(prefix); cursor->Valid(); cursor->Next(), ++expected) {
    std::string_view key_run;
    uint64_t sequence = 0;
    if (cursor->key().substr(0, prefix.size()) != prefix) break;
    if (!ParseEventKey(cursor->key(), &key_run, &sequence) || key_run != run_id) {
      return Status::Corruption("run \"" + std::string(run_id) + "\": malformed event key after " +
                                RecordName(run_id, expected - 1));
    }
    if (sequence < expected) {
      return Status::Corruption(RecordName(run_id, sequence) + " is stored, but the run is a fork "
                                "that shares events 1.." + std::to_string(info.fork_sequence) +
                                " with run \"" + info.parent_run_id +
                                "\" (a record was added outside agentlog)");
    }
    if (sequence != expected) {
      return MissingOrDamaged(Status::Corruption(RecordName(run_id, expected) + " is missing: the log goes from event " +
                                std::to_string(expected - 1) + " to event " + std::to_string(sequence) +
                                " (a record was deleted or its key was altered)"));
    }
    std::string copy;
    const fb::Record* record = nullptr;
    Status status = walk->Step(run_id, sequence, AlignedFrame(cursor->value(), &copy), true, &record);
    if (status.ok()) status = CheckRecordDerived(run_id, run_id, record, last_key);
    if (status.ok() && info.fork_sequence != 0 && sequence == info.fork_sequence + 1) {
      status = CheckForkRecord(run_id, record, info);
    }
    if (status.ok() && sequence == info.head_sequence) status = CompareHead(run_id, walk->derived, info);
    if (!status.ok()) return status;
  }
  if (!cursor->status().ok()) return cursor->status();
  *last = expected - 1;
  return Status::OK();
}

Status StoreImpl::VerifyRun(std::string_view run_id, const RunInfo& info, bool count_prefix,
                            VerifyStats* stats) {
  // `info` was read before this cursor's snapshot: appends committed in
  // between may extend the run past info.head_sequence. Those are checked
  // against the runs index read again after the walk (see the end).
  std::vector<Segment> segments;
  Status status = Lineage(info, 1, &segments);
  if (!status.ok()) return status;
  HistoryWalk walk;
  walk.created_sequence = info.fork_sequence + 1;
  std::string last_key;  // the idempotency key last checked (CheckRecordDerived)
  auto cursor = backend_->NewCursor(Space::kEvents);
  status = WalkSharedPrefix(run_id, segments, count_prefix, cursor.get(), &walk, &last_key);
  if (!status.ok()) return status;
  AGENTLOG_ASSERT(walk.derived.sequence == info.fork_sequence);
  uint64_t last = 0;
  status = WalkOwnRecords(run_id, info, cursor.get(), &walk, &last_key, &last);
  if (!status.ok()) return status;
  if (last < info.head_sequence) {
    return MissingOrDamaged(Status::Corruption("run \"" + std::string(run_id) + "\": the runs index says the head is event " +
                              std::to_string(info.head_sequence) + " but the log ends at event " +
                              std::to_string(last) + " (events at the end were deleted)"));
  }
  if (last > info.head_sequence) {
    status = CheckEventsPastTheHead(run_id, last, walk.derived, LoadRunInfo(run_id));
    if (!status.ok()) return status;
  }
  // The run's index entries, as of its metadata now: a live append may
  // have moved its status since `info` was read.
  status = WhileCommitsMove([&] {
    auto now = LoadRunInfo(run_id);
    return now.ok() ? CheckRunDerived(*now) : now.status();
  });
  if (!status.ok()) return status;
  if (stats != nullptr) {
    stats->events += walk.counted.events;
    stats->removed_payloads += walk.counted.removed_payloads;
    ++stats->runs;
  }
  return Status::OK();
}

Status StoreImpl::WhileCommitsMove(const std::function<Status()>& check) {
  Status status;
  for (int attempt = 0; attempt < kVerifyAttempts; ++attempt) {
    const uint64_t before = LastPosition();
    status = check();
    if (status.ok() || LastPosition() == before) return status;
  }
  return status;
}

Status StoreImpl::Verify(std::string_view run_id, VerifyStats* stats) {
  ReadGuard guard(this);
  if (!guard.status().ok()) return guard.status();
  return VerifyUnguarded(run_id, stats);
}

Status StoreImpl::VerifyUnguarded(std::string_view run_id, VerifyStats* stats) {
  auto info = LoadRunInfo(run_id);
  if (!info.ok()) return info.status();
  return VerifyRun(run_id, *info, /*count_prefix=*/true, stats);
}

Status StoreImpl::VerifyGlobalIndex(uint64_t through_position, uint64_t expected_events) {
  uint64_t position = 0;
  TimeIndexCheck times;
  while (position < through_position) {
    const size_t batch = static_cast<size_t>(std::min<uint64_t>(1024, through_position - position));
    auto events = ReadGlobalUnguarded(position, batch);  // checks gaps, targets, positions
    if (!events.ok()) return events.status();
    if (events->empty()) break;
    for (const Event& event : *events) {
      if (event.global_position() <= through_position) times.Feed(event);
    }
    position = events->back().global_position();
  }
  if (position != through_position || position != expected_events) {
    return Status::Corruption("the global index reaches position " + std::to_string(position) +
                              " of " + std::to_string(through_position) + " committed, and the runs hold " +
                              std::to_string(expected_events) +
                              " events up to that position; events or whole runs were removed or added");
  }
  return times.Finish(backend_.get(), through_position);
}

Status StoreImpl::VerifyAll(VerifyStats* stats) {
  ReadGuard guard(this);
  if (!guard.status().ok()) return guard.status();
  return VerifyAllUnguarded(stats);
}

Status StoreImpl::VerifyAllUnguarded(VerifyStats* stats) {
  VerifyStats local;
  VerifyStats* counts = stats != nullptr ? stats : &local;
  // Every stored byte RocksDB can check by itself first: damage is then
  // reported naming its file, rather than as the data it hid going missing.
  Status files = backend_->VerifyFiles();
  if (!files.ok()) return files;
  // Everything committed up to here is visible to the walk below; later
  // appends are checked by their runs' chains but not counted.
  const uint64_t through_position = LastPosition();
  auto cursor = backend_->NewCursor(Space::kRuns);
  uint64_t events_through = 0;
  for (cursor->Seek(""); cursor->Valid(); cursor->Next()) {
    const std::string run_id(cursor->key());
    RunInfo info;
    Status status = DecodeRunMeta(cursor->value(), run_id, &info);
    if (!status.ok()) return status;
    status = VerifyRun(run_id, info, /*count_prefix=*/false, counts);
    if (!status.ok()) return status;
    uint64_t sequence = 0;
    std::string chain;
    status = HeadAsOf(info, through_position, &sequence, &chain);
    if (!status.ok()) return status;
    // The global index holds a fork's own events only.
    if (sequence != 0) events_through += sequence - info.fork_sequence;
  }
  if (!cursor->status().ok()) return cursor->status();
  Status status = VerifyGlobalIndex(through_position, events_through);
  if (!status.ok()) return status;
  status = VerifyDeadlineIndex();  // engine/store_deadline.cc
  if (!status.ok()) return status;
  // Each run has its status and session entries (VerifyRun); now nothing
  // else may be in those indexes. A live store may add runs meanwhile.
  status = WhileCommitsMove([&] { return CountRunIndexes(); });
  if (!status.ok()) return status;
  status = VerifyIdempotencyEntries();
  if (!status.ok()) return status;
  status = VerifySnapshotEntries();
  if (!status.ok()) return status;
  return VerifyContentBlobs();
}

Status StoreImpl::CountRunIndexes() {
  uint64_t runs = 0, with_session = 0;
  auto cursor = backend_->NewCursor(Space::kRuns);
  for (cursor->Seek(""); cursor->Valid(); cursor->Next()) {
    RunInfo info;
    Status status = DecodeRunMeta(cursor->value(), cursor->key(), &info);
    if (!status.ok()) return status;
    ++runs;
    if (!info.session_id.empty()) ++with_session;
  }
  if (!cursor->status().ok()) return cursor->status();
  Status status = CountIndexEntries(kStatusIndexTag, runs, "status");
  if (!status.ok()) return status;
  return CountIndexEntries(kSessionIndexTag, with_session, "session");
}

Result<std::string> StoreImpl::RunDigest(std::string_view run_id) {
  ReadGuard guard(this);
  if (!guard.status().ok()) return guard.status();
  auto info = LoadRunInfo(run_id);
  if (!info.ok()) return info.status();
  return std::string(kRunDigestPrefix) + std::string(run_id) + ":" +
         std::to_string(info->head_sequence) + ":" + HexEncode(info->head_chain_hash);
}

Status StoreImpl::HeadAsOf(const RunInfo& info, uint64_t position, uint64_t* sequence,
                           std::string* chain) {
  if (info.head_position <= position) {
    *sequence = info.head_sequence;
    *chain = info.head_chain_hash;
    return Status::OK();
  }
  // Positions increase with sequence inside a run: binary search for the
  // last event at or before `position`. A fork's search covers its own
  // events: before its first, the fork did not exist, whatever its parent
  // held then (so a store digest taken earlier keeps its value).
  uint64_t low = info.fork_sequence + 1, high = info.head_sequence, found = 0;
  std::string found_chain;
  while (low <= high) {
    const uint64_t middle = low + (high - low) / 2;
    auto event = ReadChecked(info.run_id, middle);
    if (!event.ok()) return event.status();
    if (event->global_position() <= position) {
      found = middle;
      found_chain = std::string(event->chain_hash());
      low = middle + 1;
    } else {
      high = middle - 1;
    }
  }
  *sequence = found;
  *chain = std::move(found_chain);
  return Status::OK();
}

Result<std::string> StoreImpl::StoreRootAsOf(uint64_t position, uint64_t* run_count) {
  std::vector<Hash> leaves;
  auto cursor = backend_->NewCursor(Space::kRuns);
  for (cursor->Seek(""); cursor->Valid(); cursor->Next()) {
    const std::string run_id(cursor->key());
    RunInfo info;
    Status status = DecodeRunMeta(cursor->value(), run_id, &info);
    if (!status.ok()) return status;
    uint64_t sequence = 0;
    std::string chain;
    status = HeadAsOf(info, position, &sequence, &chain);
    if (!status.ok()) return status;
    if (sequence == 0) continue;  // the run did not exist yet
    leaves.push_back(MerkleLeaf(run_id, sequence, chain));
  }
  if (!cursor->status().ok()) return cursor->status();
  *run_count = leaves.size();
  return std::string(HashView(MerkleRoot(std::move(leaves))));
}

Result<std::string> StoreImpl::StoreDigest() {
  ReadGuard guard(this);
  if (!guard.status().ok()) return guard.status();
  const uint64_t position = LastPosition();
  uint64_t runs = 0;
  auto root = StoreRootAsOf(position, &runs);
  if (!root.ok()) return root.status();
  return std::string(kStoreDigestPrefix) + std::to_string(position) + ":" + std::to_string(runs) +
         ":" + HexEncode(*root);
}

Status StoreImpl::VerifyAgainst(std::string_view digest, VerifyStats* stats) {
  ReadGuard guard(this);
  if (!guard.status().ok()) return guard.status();
  const std::string shown(digest.substr(0, 200));
  auto bad = [&] {
    return Status::InvalidArgument("\"" + shown + "\" is not an agentlog digest; expected " +
                                   "agentlog-run-v1:RUN:SEQ:HEX or agentlog-store-v1:POS:RUNS:HEX");
  };
  const bool is_run = digest.starts_with(kRunDigestPrefix);
  const bool is_store = digest.starts_with(kStoreDigestPrefix);
  if (!is_run && !is_store) return bad();
  std::string_view rest = digest.substr(is_run ? kRunDigestPrefix.size() : kStoreDigestPrefix.size());
  const size_t hex_colon = rest.rfind(':');
  if (hex_colon == std::string_view::npos) return bad();
  auto expected = HexDecode(rest.substr(hex_colon + 1));
  if (!expected || expected->size() != kHashBytes) return bad();
  rest = rest.substr(0, hex_colon);
  const size_t number_colon = rest.rfind(':');
  if (number_colon == std::string_view::npos) return bad();
  uint64_t number = 0;
  if (!ParseNumber(rest.substr(number_colon + 1), &number)) return bad();
  const std::string_view first = rest.substr(0, number_colon);

  if (is_run) {
    const std::string_view run_id = first;
    Status status = ValidateName(run_id, "run id");
    if (!status.ok()) return bad();
    status = VerifyUnguarded(run_id, stats);
    if (!status.ok()) return status;
    if (number == 0) {
      return *expected == std::string(kHashBytes, '\0')
                 ? Status::OK()
                 : Status::Corruption("digest of run \"" + std::string(run_id) + "\" at event 0 must be all zero");
    }
    auto event = ReadResolved(run_id, number);
    if (event.status().IsNotFound()) {
      return Status::Corruption("run \"" + std::string(run_id) + "\" no longer reaches event " +
                                std::to_string(number) + " that the digest covers: its history was cut short");
    }
    if (!event.ok()) return event.status();
    if (event->chain_hash() != *expected) {
      return Status::Corruption(RecordName(run_id, number) + ": chain hash " + HexEncode(event->chain_hash()) +
                                " differs from the digest's " + HexEncode(*expected) +
                                ": the history up to it was rewritten");
    }
    return Status::OK();
  }

  uint64_t position = 0;  // agentlog-store-v1:POSITION:RUNS:HEX
  if (!ParseNumber(first, &position)) return bad();
  const uint64_t expected_runs = number;
  const uint64_t last_position = LastPosition();
  if (position > last_position) {
    return Status::Corruption("the digest covers global position " + std::to_string(position) +
                              " but the store ends at " + std::to_string(last_position) +
                              ": its history was cut short");
  }
  Status status = VerifyAllUnguarded(stats);
  if (!status.ok()) return status;
  uint64_t run_count = 0;
  auto root = StoreRootAsOf(position, &run_count);
  if (!root.ok()) return root.status();
  if (run_count != expected_runs || *root != *expected) {
    return Status::Corruption("store root as of position " + std::to_string(position) + " is " +
                              HexEncode(*root) + " over " + std::to_string(run_count) +
                              " runs; the digest says " + HexEncode(*expected) + " over " +
                              std::to_string(expected_runs) + " runs: the history was rewritten");
  }
  return Status::OK();
}

}  // namespace agentlog::internal
