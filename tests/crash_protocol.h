// tests/crash_protocol.h: what tests/crash_child.cc (the process that gets
// killed) and tests/crash_test.cc (the parent that checks the store after
// the kill) agree on: the runs and the lines the child prints.
//
// The child prints a line only after the store answered, so every ACK, FORK
// and SNAP line is a promise the store must keep after kill -9, and every
// REFUSED line names events the store must never show:
//
//   line     := ready | append | fork | snapshot | refused | begin | error
//   ready    := "READY" LF                          after Store::Open
//   append   := "ACK" SP run SP first SP last SP key SP events LF
//   fork     := "FORK" SP run SP parent SP at LF    Store::Fork answered OK
//   snapshot := "SNAP" SP run SP sequence SP hex(sha256(state)) LF
//                                                   Store::PutSnapshot answered OK
//   refused  := "REFUSED" SP run SP key SP events LF  answered Conflict
//   begin    := "BEGIN" SP ("fork" | "snapshot") LF  just before that call, so
//                                                   the parent can kill during it
//   error    := "ERR" SP text LF                    a failure the child saw itself
//   key      := the idempotency key, or "-" for none
//   events   := event ("," event)*                  in append order
//   event    := hex(payload) "." hex(turn_id) "." hex(step_id) "." actor_kind
//               "." hex(actor_id)                   (actor_kind as a decimal number)
//
// Example (payload shortened):
//   ACK s-07 12 13 i3-t1-n40 0c00...,0c00....turn-2..0.67656e...
//   FORK p-f3-1-52 s-07 9
//
// Runs: kBaseRunCount base runs, "p-NN" and "s-NN", and the forks the
// children make ("p-f..." and "s-f..."). A "p-" run is appended through
// Projector::Append, so the projector's SnapshotPolicy writes and retires
// its snapshots; an "s-" run is appended through Store::Append and its only
// snapshots are the child's own Store::PutSnapshot calls, which nothing
// deletes, so every SNAP line of one must still be found.
#ifndef AGENTLOG_TESTS_CRASH_PROTOCOL_H_
#define AGENTLOG_TESTS_CRASH_PROTOCOL_H_

#include <cstdint>
#include <map>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "agentlog/agentlog.h"
#include "base/crypto.h"

namespace agentlog::testing::crash {

constexpr size_t kBaseRunCount = 40;
constexpr size_t kMaxEventsPerAppend = 5;
// Forks a store may hold (each costs the parent's check a fold of its
// prefix), how many one child makes, and how deep a chain of forks grows
// (far below kMaxForkDepth, which a chain would otherwise reach).
constexpr size_t kMaxForksPerStore = 200;
constexpr size_t kMaxForksPerChild = 3;
constexpr size_t kMaxForkChain = 6;
static_assert(kMaxForkChain < kMaxForkDepth);

// "p-00" .. "s-19": half of the base runs of each kind.
inline std::string BaseRunId(size_t index) {
  const size_t half = kBaseRunCount / 2;
  const size_t number = index % half;
  return std::string(index < half ? "p-" : "s-") + (number < 10 ? "0" : "") +
         std::to_string(number);
}

// True for an "s-" run: appended through Store::Append, with only explicit
// snapshots (see the top of this file).
inline bool HasExplicitSnapshots(std::string_view run_id) { return run_id.rfind("s-", 0) == 0; }

// Every run of the store by id, paging through ListRuns. Errors: ListRuns's.
inline Result<std::map<std::string, RunInfo>> ListAllRuns(Store& store) {
  std::map<std::string, RunInfo> runs;
  RunFilter filter;
  for (;;) {  // bounded: each page moves after_run_id past at least one run
    auto page = store.ListRuns(filter);
    if (!page.ok()) return page.status();
    for (RunInfo& info : *page) runs[info.run_id] = std::move(info);
    if (page->size() < filter.limit) return runs;
    filter.after_run_id = runs.rbegin()->first;
  }
}

// A refused append's events: messages whose text is unique to the append,
// so the parent can tell that none of them was stored.
inline std::string RefusedPayload(const std::string& text) {
  flatbuffers::FlatBufferBuilder builder;
  auto body = fb::CreateMessageAppendedDirect(builder, "tool", text.c_str());
  builder.Finish(fb::CreateEvent(builder, fb::Body_MessageAppended, body.Union()));
  return std::string(reinterpret_cast<const char*>(builder.GetBufferPointer()), builder.GetSize());
}

struct Ack {  // an ACK line (or, with `refused`, a REFUSED line: no sequences)
  std::string run_id;
  uint64_t first_sequence = 0;
  uint64_t last_sequence = 0;
  std::string idempotency_key;  // empty: none
  std::vector<EventInput> events;
};

struct ForkAck {
  std::string run_id;
  std::string parent_run_id;
  uint64_t at_sequence = 0;
};

struct SnapshotAck {
  std::string run_id;
  uint64_t sequence = 0;
  std::string state_sha256;  // raw 32 bytes
};

inline std::string FormatEvents(const std::vector<EventInput>& events) {
  std::string text;
  for (const EventInput& event : events) {
    if (!text.empty()) text += ",";
    text += internal::HexEncode(event.payload) + "." + internal::HexEncode(event.turn_id) + "." +
            internal::HexEncode(event.step_id) + "." +
            std::to_string(static_cast<int>(event.actor_kind)) + "." +
            internal::HexEncode(event.actor_id);
  }
  return text;
}

// The fields of `text` between `separator`s (empty ones included).
inline std::vector<std::string_view> Split(std::string_view text, char separator) {
  std::vector<std::string_view> fields;
  for (;;) {
    const size_t at = text.find(separator);
    fields.push_back(text.substr(0, at));
    if (at == std::string_view::npos) return fields;
    text.remove_prefix(at + 1);
  }
}

// False unless `text` is a well-formed events field.
inline bool ParseEvents(std::string_view text, std::vector<EventInput>* events) {
  events->clear();
  for (std::string_view encoded : Split(text, ',')) {
    const std::vector<std::string_view> fields = Split(encoded, '.');
    if (fields.size() != 5 || fields[3].size() != 1 || fields[3][0] < '0' || fields[3][0] > '3') {
      return false;
    }
    auto payload = internal::HexDecode(fields[0]);
    auto turn_id = internal::HexDecode(fields[1]);
    auto step_id = internal::HexDecode(fields[2]);
    auto actor_id = internal::HexDecode(fields[4]);
    if (!payload || !turn_id || !step_id || !actor_id) return false;
    EventInput event;
    event.payload = std::move(*payload);
    event.turn_id = std::move(*turn_id);
    event.step_id = std::move(*step_id);
    event.actor_kind = static_cast<ActorKind>(fields[3][0] - '0');
    event.actor_id = std::move(*actor_id);
    events->push_back(std::move(event));
  }
  return true;
}

inline std::string KeyField(const std::string& key) { return key.empty() ? "-" : key; }

inline std::string FormatAck(const Ack& ack) {
  return "ACK " + ack.run_id + " " + std::to_string(ack.first_sequence) + " " +
         std::to_string(ack.last_sequence) + " " + KeyField(ack.idempotency_key) + " " +
         FormatEvents(ack.events) + "\n";
}

inline std::string FormatRefused(const Ack& refused) {
  return "REFUSED " + refused.run_id + " " + KeyField(refused.idempotency_key) + " " +
         FormatEvents(refused.events) + "\n";
}

inline std::string FormatFork(const ForkAck& fork) {
  return "FORK " + fork.run_id + " " + fork.parent_run_id + " " + std::to_string(fork.at_sequence) +
         "\n";
}

inline std::string FormatSnapshot(const SnapshotAck& snapshot) {
  return "SNAP " + snapshot.run_id + " " + std::to_string(snapshot.sequence) + " " +
         internal::HexEncode(snapshot.state_sha256) + "\n";
}

// Each parser takes one line without its LF and returns false unless it is
// a well-formed line of its kind.
inline bool ParseAck(const std::string& line, Ack* ack) {
  std::istringstream in(line);
  std::string tag, key, events, rest;
  if (!(in >> tag >> ack->run_id >> ack->first_sequence >> ack->last_sequence >> key >> events) ||
      (in >> rest) || tag != "ACK") {
    return false;
  }
  ack->idempotency_key = key == "-" ? "" : key;
  return ParseEvents(events, &ack->events) && ack->last_sequence >= ack->first_sequence &&
         ack->events.size() == ack->last_sequence - ack->first_sequence + 1;
}

inline bool ParseRefused(const std::string& line, Ack* refused) {
  std::istringstream in(line);
  std::string tag, key, events, rest;
  if (!(in >> tag >> refused->run_id >> key >> events) || (in >> rest) || tag != "REFUSED") {
    return false;
  }
  refused->idempotency_key = key == "-" ? "" : key;
  return ParseEvents(events, &refused->events);
}

inline bool ParseFork(const std::string& line, ForkAck* fork) {
  std::istringstream in(line);
  std::string tag, rest;
  return (in >> tag >> fork->run_id >> fork->parent_run_id >> fork->at_sequence) && !(in >> rest) &&
         tag == "FORK" && fork->at_sequence > 0;
}

inline bool ParseSnapshot(const std::string& line, SnapshotAck* snapshot) {
  std::istringstream in(line);
  std::string tag, hash, rest;
  if (!(in >> tag >> snapshot->run_id >> snapshot->sequence >> hash) || (in >> rest) ||
      tag != "SNAP") {
    return false;
  }
  auto bytes = internal::HexDecode(hash);
  if (!bytes || bytes->size() != internal::kHashBytes) return false;
  snapshot->state_sha256 = std::move(*bytes);
  return snapshot->sequence > 0;
}

}  // namespace agentlog::testing::crash

#endif  // AGENTLOG_TESTS_CRASH_PROTOCOL_H_
