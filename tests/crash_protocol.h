// tests/crash_protocol.h: what tests/crash_child.cc (the process that gets
// killed) and tests/crash_test.cc (the parent that checks the store after
// the kill) agree on: the runs, how an event is built from its payload, and
// the line the child prints after each acknowledged append.
//
//   line := "ACK" SP run SP first_sequence SP last_sequence SP key SP payloads LF
//   key := the idempotency key, or "-" for none
//   payloads := hex(payload) ("," hex(payload))*    one per event, in order
//
// The child prints a line only after Append returned OK with kSync, so every
// line is a promise the store must keep after kill -9. "READY" LF follows
// Open; "ERR" SP text LF reports a failure the child saw itself.
#ifndef AGENTLOG_TESTS_CRASH_PROTOCOL_H_
#define AGENTLOG_TESTS_CRASH_PROTOCOL_H_

#include <cstdint>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "agentlog/agentlog.h"
#include "engine/crypto.h"

namespace agentlog::testing::crash {

constexpr const char* kRunIds[] = {"crash-a", "crash-b", "crash-c", "crash-d"};
constexpr size_t kRunCount = sizeof(kRunIds) / sizeof(kRunIds[0]);
constexpr size_t kMaxEventsPerAppend = 5;

// Every field but the payload is fixed, so the parent can rebuild an
// acknowledged append exactly (an idempotent repeat must match it).
inline EventInput EventFor(std::string payload) {
  EventInput input;
  input.payload = std::move(payload);
  input.turn_id = "crash-turn";
  input.step_id = "crash-step";
  input.actor_kind = ActorKind::kTool;
  input.actor_id = "crash-child";
  return input;
}

inline std::string MessagePayloadFor(const std::string& text) {
  flatbuffers::FlatBufferBuilder builder;
  auto body = fb::CreateMessageAppendedDirect(builder, "tool", text.c_str());
  builder.Finish(fb::CreateEvent(builder, fb::Body_MessageAppended, body.Union()));
  return std::string(reinterpret_cast<const char*>(builder.GetBufferPointer()), builder.GetSize());
}

struct Ack {
  std::string run_id;
  uint64_t first_sequence = 0;
  uint64_t last_sequence = 0;
  std::string idempotency_key;  // empty: none
  std::vector<std::string> payloads;
};

inline std::string FormatAck(const Ack& ack) {
  std::string line = "ACK " + ack.run_id + " " + std::to_string(ack.first_sequence) + " " +
                     std::to_string(ack.last_sequence) + " " +
                     (ack.idempotency_key.empty() ? std::string("-") : ack.idempotency_key) + " ";
  for (size_t i = 0; i < ack.payloads.size(); ++i) {
    if (i > 0) line += ",";
    line += internal::HexEncode(ack.payloads[i]);
  }
  line += "\n";
  return line;
}

// Parses one line without its LF; false if it is not a well-formed ACK.
inline bool ParseAck(const std::string& line, Ack* ack) {
  std::istringstream in(line);
  std::string tag, key, payloads;
  if (!(in >> tag >> ack->run_id >> ack->first_sequence >> ack->last_sequence >> key >> payloads)) {
    return false;
  }
  if (tag != "ACK") return false;
  ack->idempotency_key = key == "-" ? "" : key;
  ack->payloads.clear();
  size_t start = 0;
  for (;;) {
    const size_t comma = payloads.find(',', start);
    auto bytes = internal::HexDecode(std::string_view(payloads).substr(
        start, comma == std::string::npos ? std::string::npos : comma - start));
    if (!bytes) return false;
    ack->payloads.push_back(std::move(*bytes));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return ack->last_sequence >= ack->first_sequence &&
         ack->payloads.size() == ack->last_sequence - ack->first_sequence + 1;
}

}  // namespace agentlog::testing::crash

#endif  // AGENTLOG_TESTS_CRASH_PROTOCOL_H_
