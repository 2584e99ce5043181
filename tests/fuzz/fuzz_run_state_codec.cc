// tests/fuzz/fuzz_run_state_codec.cc: DecodeRunState (include/agentlog/
// run_state.h, projections/run_state_codec.cc) over arbitrary bytes: what a
// damaged or foreign snapshot state hands it.
//
// Input: the bytes to decode (seeds: encodings of real folded states).
//
// Properties (run_state.h promises each):
//   - garbage is Corruption, never a crash;
//   - a decoded state re-encodes to bytes that decode to an equal state,
//     and that encoding is canonical: encoding the second decoding gives
//     the same bytes;
//   - RunStateFields lists every field sorted by path, each path once, and
//     PositionSummary answers, for any state that decodes.
#include <string>
#include <vector>

#include "agentlog/run_state.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace agentlog;
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto decoded = DecodeRunState(bytes);
  if (!decoded.ok()) {
    FUZZ_CHECK(decoded.status().IsCorruption(), decoded.status().ToString());
    return 0;
  }
  const std::string encoded = EncodeRunState(*decoded);
  auto again = DecodeRunState(encoded);
  FUZZ_CHECK(again.ok(), "re-encoded state refused: " + again.status().ToString());
  FUZZ_CHECK(*again == *decoded, "re-encoded state decodes to another state");
  FUZZ_CHECK(EncodeRunState(*again) == encoded, "the encoding is not canonical");

  const std::vector<StateField> fields = RunStateFields(*decoded);
  for (size_t i = 1; i < fields.size(); ++i) {
    FUZZ_CHECK(fields[i - 1].path < fields[i].path,
               "fields not sorted or repeated: " + fields[i - 1].path + " then " + fields[i].path);
  }
  FUZZ_CHECK(!decoded->PositionSummary().empty(), "no position summary");
  return 0;
}
