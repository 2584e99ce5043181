// tools/event_json.cc: schema-driven JSON for stored events (see event_json.h).
#include "tools/event_json.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include <flatbuffers/idl.h>

#include "agentlog/hash.h"

namespace agentlog_tools {
namespace {

// A compiled-in schema that does not parse is a build bug, not an input
// error: stop rather than print payloads we cannot trust.
[[noreturn]] void SchemaBug(const std::string& what) {
  std::fprintf(stderr, "agentlog: BUG: the compiled-in events.fbs %s\n", what.c_str());
  std::abort();
}

nlohmann::ordered_json Fallback(const char* key, uint64_t type, std::string_view bytes,
                                const std::string& reason) {
  nlohmann::ordered_json json;
  json[key] = type;
  if (!reason.empty()) json["reason"] = reason;
  json["bytes_hex"] = agentlog::HexEncode(bytes);
  return json;
}

}  // namespace

std::string ActorKindName(agentlog::ActorKind kind) {
  switch (kind) {
    case agentlog::ActorKind::kAgent: return "agent";
    case agentlog::ActorKind::kUser: return "user";
    case agentlog::ActorKind::kSystem: return "system";
    case agentlog::ActorKind::kTool: return "tool";
  }
  return "unknown(" + std::to_string(static_cast<int>(kind)) + ")";
}

EventRenderer::EventRenderer() {
  flatbuffers::IDLOptions options;
  options.strict_json = true;                     // quoted keys: real JSON
  options.output_default_scalars_in_json = true;  // show confirmation: SafeReadonly too
  options.indent_step = -1;                       // one line
  parser_ = std::make_unique<flatbuffers::Parser>(options);
  const std::string schema(agentlog::EventsSchemaText());
  if (schema.empty()) SchemaBug("is empty");
  if (!parser_->Parse(schema.c_str())) SchemaBug("does not parse: " + parser_->error_);
  if (!parser_->SetRootType("Event")) SchemaBug("has no table Event");
}

EventRenderer::~EventRenderer() = default;

nlohmann::ordered_json EventRenderer::RenderPayload(const agentlog::Event& event) {
  if (event.payload_removed()) return nullptr;
  const std::string_view bytes = event.payload();
  // FlatBuffers reads scalars in place: the buffer must be 8-byte aligned.
  // The store keeps it aligned inside the frame; copy if it ever is not.
  std::vector<uint64_t> aligned;
  const uint8_t* data = reinterpret_cast<const uint8_t*>(bytes.data());
  if (reinterpret_cast<uintptr_t>(data) % alignof(uint64_t) != 0) {
    aligned.resize((bytes.size() + sizeof(uint64_t) - 1) / sizeof(uint64_t));
    std::memcpy(aligned.data(), bytes.data(), bytes.size());
    data = reinterpret_cast<const uint8_t*>(aligned.data());
  }
  // The store verified these bytes on read; check again before walking them
  // with the reflection-based printer (a pair check: before write, after read).
  flatbuffers::Verifier verifier(data, bytes.size());
  if (!agentlog::fb::VerifyEventBuffer(verifier)) {
    return Fallback("unrenderable_type", event.type(), bytes, "fails the FlatBuffers verifier");
  }
  const auto payload_type = static_cast<uint64_t>(agentlog::fb::GetEvent(data)->body_type());
  // A type from a newer writer: GenerateText cannot print a union member the
  // schema does not name, so show the bytes instead.
  if (payload_type == 0 || payload_type > agentlog::kMaxKnownEventType) {
    return Fallback("unknown_type", payload_type, bytes, "");
  }
  std::string text;
  if (!flatbuffers::GenerateText(*parser_, data, &text)) {
    return Fallback("unrenderable_type", payload_type, bytes,
                    "GenerateText refused it (a string that is not UTF-8?)");
  }
  auto json = nlohmann::ordered_json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) {
    return Fallback("unrenderable_type", payload_type, bytes, "GenerateText gave invalid JSON");
  }
  return json;
}

nlohmann::ordered_json EventRenderer::ToJson(const agentlog::Event& event) {
  nlohmann::ordered_json json;
  json["run"] = std::string(event.run_id());
  json["seq"] = event.sequence();
  json["position"] = event.global_position();
  json["time_us"] = event.timestamp_us();
  json["type"] = event.type_name();
  json["type_number"] = event.type();
  json["schema_version"] = event.schema_version();
  json["turn"] = std::string(event.turn_id());
  json["step"] = std::string(event.step_id());
  json["causation"] = event.causation();
  json["idempotency_key"] = std::string(event.idempotency_key());
  json["actor"] = {{"kind", ActorKindName(event.actor_kind())},
                   {"id", std::string(event.actor_id())}};
  json["payload_sha256"] = agentlog::HexEncode(event.payload_hash());
  json["chain"] = agentlog::HexEncode(event.chain_hash());
  json["payload_removed"] = event.payload_removed();
  json["payload"] = RenderPayload(event);
  return json;
}

std::string EventRenderer::ToJsonLine(const agentlog::Event& event) {
  return DumpLine(ToJson(event));
}

nlohmann::ordered_json RunInfoToJson(const agentlog::RunInfo& info) {
  nlohmann::ordered_json json;
  json["run"] = info.run_id;
  json["status"] = std::string(agentlog::RunStatusName(info.status));
  json["head_sequence"] = info.head_sequence;
  json["head_position"] = info.head_position;
  json["head_chain"] = agentlog::HexEncode(info.head_chain_hash);
  json["session"] = info.session_id;
  json["parent_run"] = info.parent_run_id;
  json["fork_sequence"] = info.fork_sequence;
  json["created_us"] = info.created_us;
  json["last_event_us"] = info.last_event_us;
  json["lease_holder"] = info.lease_holder;
  json["lease_epoch"] = info.lease_epoch;
  return json;
}

std::string DumpLine(const nlohmann::ordered_json& json) {
  return json.dump(-1, ' ', /*ensure_ascii=*/false, nlohmann::json::error_handler_t::replace);
}

}  // namespace agentlog_tools
