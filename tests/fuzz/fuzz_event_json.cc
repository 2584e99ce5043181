// tests/fuzz/fuzz_event_json.cc: `agentlog log`'s renderer
// (tools/event_json.h EventRenderer) over any record a read can return.
//
// Method: the input becomes one stored record -- its envelope ids, type
// number and payload bytes as given, framed by the engine's own encoder
// (so the checksum holds) -- written through the backend seam of a memory
// store and read back with ReadEvent, which checks it as for any read.
// Writing it directly, not through Append, reaches what Append refuses but
// a store written by a newer build holds: unknown event types, ids that are
// not UTF-8, a type number that is not the payload's.
//
// Input: event_type:u16  actor_kind:u8  causation:u8  turn:lp16  step:lp16
//        actor:lp16  key:lp16  payload (the rest; empty: a removed payload)
//
// Properties: for every event ReadEvent returns, ToJson does not throw;
// ToJsonLine is one line of valid JSON that parses back to an object with
// the documented keys in the documented order, whose numbers are the
// event's; the payload is null exactly when removed, else a rendered body
// or one of the documented fallbacks.
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "agentlog/hash.h"
#include "base/crypto.h"
#include "engine/keys.h"
#include "engine/record_codec.h"
#include "tests/fuzz/fuzz_util.h"
#include "tools/event_json.h"

namespace {

using namespace agentlog;

constexpr std::string_view kRun = "render";

void CheckPayloadShape(const nlohmann::ordered_json& payload, const Event& event) {
  if (event.payload_removed()) {
    FUZZ_CHECK(payload.is_null(), "a removed payload is not null");
    return;
  }
  FUZZ_CHECK(payload.is_object(), "payload is not an object: " + payload.dump());
  const bool rendered = payload.contains("body_type");
  const bool unknown = payload.contains("unknown_type") && payload.contains("bytes_hex");
  const bool unrenderable = payload.contains("unrenderable_type") && payload.contains("reason") &&
                            payload.contains("bytes_hex");
  FUZZ_CHECK(rendered + unknown + unrenderable == 1, "payload of no documented shape: " + payload.dump());
  if (!rendered) {
    FUZZ_CHECK(payload["bytes_hex"] == agentlog::HexEncode(event.payload()),
               "fallback bytes_hex is not the payload");
  }
}

void CheckRendered(agentlog_tools::EventRenderer& renderer, const Event& event) {
  const std::string line = renderer.ToJsonLine(event);
  FUZZ_CHECK(line.find('\n') == std::string::npos, "a JSON line holds a newline");
  auto parsed = nlohmann::ordered_json::parse(line, nullptr, /*allow_exceptions=*/false);
  FUZZ_CHECK(!parsed.is_discarded(), "not valid JSON: " + line.substr(0, 400));
  static const std::vector<std::string> kKeys = {
      "run",   "seq",       "position",        "time_us", "type",   "type_number",
      "schema_version", "turn", "step", "causation", "idempotency_key", "actor",
      "payload_sha256", "chain", "payload_removed", "payload"};
  std::vector<std::string> keys;
  for (const auto& item : parsed.items()) keys.push_back(item.key());
  FUZZ_CHECK(keys == kKeys, "keys differ from the documented ones: " + line.substr(0, 400));
  FUZZ_CHECK(parsed["seq"] == event.sequence() && parsed["position"] == event.global_position() &&
                 parsed["time_us"] == event.timestamp_us() && parsed["type_number"] == event.type() &&
                 parsed["causation"] == event.causation() &&
                 parsed["payload_removed"] == event.payload_removed(),
             "numbers differ from the event's: " + line.substr(0, 400));
  FUZZ_CHECK(parsed["payload_sha256"] == agentlog::HexEncode(event.payload_hash()) &&
                 parsed["chain"] == agentlog::HexEncode(event.chain_hash()),
             "hashes differ from the event's");
  CheckPayloadShape(parsed["payload"], event);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // One renderer for the process: parsing the schema per input would be
  // most of the time spent.
  static agentlog_tools::EventRenderer* renderer = new agentlog_tools::EventRenderer();
  static fuzz::MemoryStore* memory = fuzz::OpenMemoryStore().release();

  fuzz::InputReader input(data, size);
  const uint16_t event_type = input.U16();
  const uint8_t actor_kind = input.Byte();
  const uint64_t causation = input.Byte();
  const std::string turn = input.LengthPrefixed();
  const std::string step = input.LengthPrefixed();
  const std::string actor = input.LengthPrefixed();
  const std::string key = input.LengthPrefixed();
  const std::string payload = input.Rest();

  internal::Envelope envelope;
  envelope.run_id = kRun;
  envelope.sequence = 1;
  envelope.global_position = 1;
  envelope.timestamp_us = 1'700'000'000'000'000;
  envelope.event_type = event_type;
  envelope.schema_version = kEventSchemaVersion;
  envelope.turn_id = turn;
  envelope.step_id = step;
  envelope.causation = causation;
  envelope.idempotency_key = key;
  envelope.actor_kind = actor_kind;
  envelope.actor_id = actor;
  envelope.payload_hash = internal::Sha256(payload);
  const internal::Hash chain = internal::ChainHash(internal::kGenesisChainHash, envelope);
  internal::WriteSet writes;
  writes.Put(internal::Space::kEvents, internal::EventKey(kRun, 1),
             payload.empty() ? internal::EncodeTombstone(envelope, chain)
                             : internal::EncodeRecord(envelope, chain, payload));
  Status written = memory->backend->Write(writes, /*sync=*/false);
  FUZZ_CHECK(written.ok(), written.ToString());

  auto event = memory->store->ReadEvent(kRun, 1);
  if (!event.ok()) {
    // Only the nested payload can fail: the encoder wrote everything else.
    FUZZ_CHECK(event.status().IsCorruption(), event.status().ToString());
    return 0;
  }
  CheckRendered(*renderer, *event);
  return 0;
}
