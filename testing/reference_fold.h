// testing/reference_fold.h: what every projection test compares against --
// a run's events folded from event 1 through the projection alone, with no
// projector, snapshot or cache. Free of Catch2, so the fuzz targets
// (tests/fuzz) use it too.
#ifndef AGENTLOG_TESTING_REFERENCE_FOLD_H_
#define AGENTLOG_TESTING_REFERENCE_FOLD_H_

#include <cstdint>
#include <map>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "agentlog/event.h"
#include "agentlog/projection.h"

namespace agentlog::testing {

// The encoded state after each event whose sequence is in `points` (0: the
// initial state), folding `events` -- a run's history from event 1, in
// order -- through `projection`. Only the chosen states are kept, so long
// runs fit in memory.
std::map<uint64_t, std::string> FoldAt(const Projection& projection, std::span<const Event> events,
                                       const std::set<uint64_t>& points);

// The encoded run-state projection after each event 0..events.size().
std::vector<std::string> ReferenceFold(std::span<const Event> events);

}  // namespace agentlog::testing

#endif  // AGENTLOG_TESTING_REFERENCE_FOLD_H_
