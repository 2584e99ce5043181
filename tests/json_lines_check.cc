// tests/json_lines_check.cc: checks that standard input is `agentlog log`
// output: every line one JSON object with the envelope fields and a payload.
// Used by tests/cli_test.sh, so the CLI test needs neither jq nor python.
//
// Usage: agentlog_json_lines_check [EXPECTED_LINES]
// Prints "N JSON lines ok" and exits 0, or names the first bad line and
// exits 1.
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>

#include <nlohmann/json.hpp>

namespace {

// Lines this checker reads before refusing: bounds a runaway producer.
constexpr size_t kMaxLines = 1000000;

bool IsHex(const nlohmann::json& value, size_t length) {
  if (!value.is_string()) return false;
  const auto& text = value.get_ref<const std::string&>();
  return text.size() == length && text.find_first_not_of("0123456789abcdef") == std::string::npos;
}

// Empty if `event` has the shape tools/event_json.h documents; else what is wrong.
std::string CheckEvent(const nlohmann::json& event) {
  if (!event.is_object()) return "not a JSON object";
  for (const char* key : {"run", "type", "turn", "step", "idempotency_key"}) {
    if (!event.contains(key) || !event[key].is_string()) {
      return std::string(key) + " is not a string";
    }
  }
  for (const char* key :
       {"seq", "position", "time_us", "type_number", "schema_version", "causation"}) {
    if (!event.contains(key) || !event[key].is_number_integer()) {
      return std::string(key) + " is not an integer";
    }
  }
  if (event["seq"].get<uint64_t>() == 0) return "seq is 0 (sequences start at 1)";
  if (!event.contains("actor") || !event["actor"].is_object() ||
      !event["actor"].contains("kind") || !event["actor"]["kind"].is_string() ||
      !event["actor"].contains("id") || !event["actor"]["id"].is_string()) {
    return "actor is not {kind, id}";
  }
  if (!IsHex(event.value("payload_sha256", nlohmann::json()), 64)) {
    return "payload_sha256 is not 64 hex digits";
  }
  if (!IsHex(event.value("chain", nlohmann::json()), 64)) return "chain is not 64 hex digits";
  if (!event.contains("payload_removed") || !event["payload_removed"].is_boolean()) {
    return "payload_removed is not a boolean";
  }
  if (!event.contains("payload")) return "no payload";
  const auto& payload = event["payload"];
  if (!payload.is_null() && !payload.is_object()) return "payload is neither null nor an object";
  if (payload.is_object() && payload.contains("body_type") &&
      payload["body_type"] != event["type"]) {
    return "payload body_type differs from the envelope's type";
  }
  return "";
}

}  // namespace

int main(int argc, char** argv) {
  long expected = -1;
  if (argc == 2) {
    expected = std::strtol(argv[1], nullptr, 10);
  } else if (argc > 2) {
    std::fprintf(stderr, "usage: %s [EXPECTED_LINES]\n", argv[0]);
    return 2;
  }
  std::string line;
  size_t count = 0;
  while (std::getline(std::cin, line)) {
    ++count;
    if (count > kMaxLines) {
      std::fprintf(stderr, "more than %zu lines\n", kMaxLines);
      return 1;
    }
    auto event = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    const std::string problem = event.is_discarded() ? "not valid JSON" : CheckEvent(event);
    if (!problem.empty()) {
      std::fprintf(stderr, "line %zu: %s: %s\n", count, problem.c_str(), line.c_str());
      return 1;
    }
  }
  if (expected >= 0 && count != static_cast<size_t>(expected)) {
    std::fprintf(stderr, "%zu lines, expected %ld\n", count, expected);
    return 1;
  }
  std::printf("%zu JSON lines ok\n", count);
  return 0;
}
