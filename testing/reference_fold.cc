// testing/reference_fold.cc: see reference_fold.h.
#include "testing/reference_fold.h"

#include "agentlog/run_state.h"

namespace agentlog::testing {

std::map<uint64_t, std::string> FoldAt(const Projection& projection, std::span<const Event> events,
                                       const std::set<uint64_t>& points) {
  auto state = projection.Initial();
  std::map<uint64_t, std::string> encodings;
  if (points.count(0) != 0) encodings[0] = state->Encode();
  for (const Event& event : events) {
    projection.Apply(*state, EventView(event, event.body()));
    if (points.count(event.sequence()) != 0) encodings[event.sequence()] = state->Encode();
  }
  return encodings;
}

std::vector<std::string> ReferenceFold(std::span<const Event> events) {
  std::set<uint64_t> every;
  for (uint64_t n = 0; n <= events.size(); ++n) every.insert(n);
  std::vector<std::string> encodings;
  for (auto& [sequence, encoding] : FoldAt(*NewRunStateProjection(), events, every)) {
    encodings.push_back(std::move(encoding));
  }
  return encodings;
}

}  // namespace agentlog::testing
