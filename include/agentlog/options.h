// agentlog/options.h: how a store is opened and how an append behaves.
//
// Every field says its effect, its default and its unit. Nothing here is
// persisted in the store unless it says so: a store may be reopened with
// different options.
#ifndef AGENTLOG_OPTIONS_H_
#define AGENTLOG_OPTIONS_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "agentlog/clock.h"

namespace agentlog {

struct RocksDbOptions;  // agentlog/rocksdb_options.h, for experts

// Fixed limits (not options: they shape the on-disk keys).
constexpr size_t kMaxRunIdBytes = 128;           // run ids: [A-Za-z0-9._:-]{1,128}
constexpr size_t kMaxIdBytes = 128;              // turn, step, actor and session ids
constexpr size_t kMaxIdempotencyKeyBytes = 256;  // any bytes but NUL

struct Options {
  // ---- behaviour ----

  // Source of every timestamp the store assigns. REQUIRES: non-null and
  // outliving the store. Default: nullptr, which Open refuses: pass
  // agentlog::SystemClock() or a ManualClock explicitly.
  Clock* clock = nullptr;

  // Create the store if the directory holds none. Default: true.
  bool create_if_missing = true;

  // Refuse to open a store that already exists. Default: false.
  bool error_if_exists = false;

  // Salvage a store whose write-ahead log holds a damaged record (a flipped
  // byte, a bad sector): replay the log only up to that record, dropping it
  // and every record after it -- acknowledged appends among them are LOST.
  // Default: false, and Open refuses such a store with Corruption (the
  // message says this option exists). (A record cut short at the very end of
  // the log is a write a crash interrupted, never acknowledged: it is
  // dropped in both modes.) Copy the directory before salvaging.
  bool truncate_log_at_damage = false;

  // Accept payloads whose event type this build does not know (written by a
  // newer agentlog). Their bodies cannot be checked beyond the FlatBuffers
  // verifier's framing. Default: false (refused with InvalidArgument).
  bool accept_unknown_event_types = false;

  // ---- limits (each refusal is InvalidArgument or LimitExceeded) ----

  // Largest payload of one event, in bytes. Default: 1 MiB. Max: 64 MiB.
  size_t max_event_bytes = size_t{1} << 20;

  // Most events in one Append. Default: 1000.
  size_t max_append_events = 1000;

  // Most payload bytes in one Append. Default: 16 MiB.
  size_t max_append_bytes = size_t{16} << 20;

  // Most Subscriptions open at once; one more is refused with Busy.
  // 0 disables subscriptions. Default: 64.
  size_t max_subscriptions = 64;

  // ---- performance ----

  // Most appends gathered into one write (and one fsync) by group commit;
  // a group also stops at 64 MiB of payload. Default: 512. Max: 100000.
  size_t max_commit_batch_appends = 512;

  // Most appends waiting for the committer; a further Append blocks until
  // there is room. Default: 8192.
  size_t max_queued_appends = 8192;

  // The file system the store writes through and RocksDB's memory sizes,
  // for experts: see agentlog/rocksdb_options.h, the one header that names
  // RocksDB types. Default: nullptr (the operating system's file system,
  // 64 MiB memtables, a 64 MiB block cache).
  std::shared_ptr<const RocksDbOptions> rocksdb;
};

// What an acknowledged append survives. Stored nowhere; chosen per append.
enum class Durability : uint8_t {
  // Acknowledged only after the write-ahead log is fsynced: survives a
  // process crash and a power loss. Concurrent sync appends share one write
  // and one fsync (group commit).
  kSync = 0,
  // Acknowledged once the write-ahead log is written to the OS, before it is
  // fsynced: survives a process crash (kill -9), but a power loss or kernel
  // crash may lose the most recent buffered appends (never a sync one, never
  // part of an append, never the middle of a run: what is lost is a suffix).
  kBuffered = 1,
};

struct AppendOptions {
  // REQUIRES: set explicitly by every caller that cares. Default: kSync.
  Durability durability = Durability::kSync;

  // Optimistic concurrency: the run's head sequence the caller saw (0: the
  // run must not exist yet). A mismatch is refused with Conflict and nothing
  // is written. Default: unset (no check).
  std::optional<uint64_t> expected_head;

  // Fencing: the lease epoch the caller holds. If it is not the run's current
  // epoch, or that lease was released (LeaseReleased), the append is refused
  // with Fenced and nothing is written. Default: unset (no check).
  std::optional<uint64_t> lease_epoch;

  // When set, the append is recorded once under this key (store-wide): a
  // repeat with the same key and the same events returns the first append's
  // result with replayed = true and writes nothing; a repeat with other
  // events or another run is refused with Conflict. A repeat is as durable
  // as its own `durability` says (a kSync repeat of a kBuffered first append
  // is acknowledged only after an fsync). Default: empty (none).
  std::string idempotency_key;

  // The session (one user's engagement) the run belongs to. Recorded when the
  // append creates the run; on a later append it must be empty or equal.
  // Default: empty.
  std::string session_id;
};

}  // namespace agentlog

#endif  // AGENTLOG_OPTIONS_H_
