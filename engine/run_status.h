// engine/run_status.h: the coarse run status kept in the runs index.
#ifndef AGENTLOG_ENGINE_RUN_STATUS_H_
#define AGENTLOG_ENGINE_RUN_STATUS_H_

#include <optional>

#include "agentlog/event.h"
#include "agentlog/store.h"

namespace agentlog::internal {

// The status an event of `type` moves its run to, or nullopt if it leaves the
// status alone. A fixed table: the index must mean the same in every version.
std::optional<RunStatus> StatusAfter(EventType type);

}  // namespace agentlog::internal

#endif  // AGENTLOG_ENGINE_RUN_STATUS_H_
