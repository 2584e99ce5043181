// engine/validate.h: every input is checked before anything is written.
#ifndef AGENTLOG_ENGINE_VALIDATE_H_
#define AGENTLOG_ENGINE_VALIDATE_H_

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "engine/run_fold.h"
#include "agentlog/event.h"
#include "agentlog/options.h"
#include "agentlog/status.h"
#include "base/crypto.h"
#include "base/names.h"

namespace agentlog::internal {

// An event after validation: its type and payload hash, computed by the
// caller's thread so the committer does only what needs ordering.
struct PreparedEvent {
  const EventInput* input = nullptr;
  Hash payload_hash{};
  // What the engine reads of it (engine/run_fold.h): its type, and the
  // lease and deadline fields the committer checks and indexes.
  EventFacts facts;
};

// Checks an append's run id, options and events against `limits`; fills
// *prepared and, for an append with an idempotency key, *request_hash (what
// a repeat must match; record_format.md); zero otherwise.
Status ValidateAppend(std::string_view run_id, std::span<const EventInput> events,
                      const AppendOptions& options, const Options& limits,
                      std::vector<PreparedEvent>* prepared, Hash* request_hash);

}  // namespace agentlog::internal

#endif  // AGENTLOG_ENGINE_VALIDATE_H_
