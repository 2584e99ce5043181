// tests/fuzz/fuzz_time_text.cc: the tool's time parser (`agentlog state
// --time`, tools/commands.h ParseTime) and its printer (FormatUtc).
//
// Input: the text of a --time argument.
//
// Properties: ParseTime answers a value or InvalidArgument, never crashes;
// a value it accepts prints (FormatUtc, millisecond precision) as text it
// parses back to the same value, floored to the millisecond (years 0 to
// 9999, before 1970 too), and a positive one prints in decimal as text it
// parses back exactly.
#include <string>

#include "tests/fuzz/fuzz_util.h"
#include "tools/commands.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto parsed = agentlog_tools::ParseTime(text);
  if (!parsed.ok()) {
    FUZZ_CHECK(parsed.status().IsInvalidArgument(), parsed.status().ToString());
    return 0;
  }
  const int64_t time_us = *parsed;
  if (time_us == 0) return 0;  // FormatUtc prints 0 (unset) as "-"
  if (time_us > 0) {
    auto decimal = agentlog_tools::ParseTime(std::to_string(time_us));
    FUZZ_CHECK(decimal.ok() && *decimal == time_us, "decimal " + std::to_string(time_us) + " does not parse back");
  }
  const std::string printed = agentlog_tools::FormatUtc(time_us);
  if (printed.size() != 24 || printed[0] == '-') return 0;  // a year past 9999 or before 0: not YYYY-...
  auto again = agentlog_tools::ParseTime(printed);
  FUZZ_CHECK(again.ok(), "\"" + printed + "\" (printed from \"" + text + "\") does not parse: " +
                             again.status().ToString());
  FUZZ_CHECK(*again == time_us - ((time_us % 1000) + 1000) % 1000,
             "\"" + text + "\" -> " + std::to_string(time_us) + " -> \"" + printed + "\" -> " +
                 std::to_string(*again));
  return 0;
}
