// agentlog/agentlog.h: the whole public API in one include (all but the
// expert header agentlog/rocksdb_options.h, the RocksDB seam most embedders
// never need).
#ifndef AGENTLOG_AGENTLOG_H_
#define AGENTLOG_AGENTLOG_H_

#include "agentlog/audit.h"
#include "agentlog/clock.h"
#include "agentlog/event.h"
#include "agentlog/hash.h"
#include "agentlog/options.h"
#include "agentlog/projection.h"
#include "agentlog/projector.h"
#include "agentlog/recovery.h"
#include "agentlog/run_handle.h"
#include "agentlog/run_state.h"
#include "agentlog/runtime.h"
#include "agentlog/status.h"
#include "agentlog/step.h"
#include "agentlog/store.h"
#include "agentlog/upcaster.h"

#endif  // AGENTLOG_AGENTLOG_H_
