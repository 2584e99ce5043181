// tools/demo_worker.h: one worker process of `agentlog demo`: the agent loop
// that drives the demo run through the runtime from wherever the log says
// it stands. Started by `agentlog demo` (and by tests/runtime_crash_test.cc)
// as `agentlog demo-worker DIR --worker ID ...`.
#ifndef AGENTLOG_TOOLS_DEMO_WORKER_H_
#define AGENTLOG_TOOLS_DEMO_WORKER_H_

#include <cstdint>
#include <string>

namespace agentlog_tools {

// The demo's names, shared by the worker, the demo and the crash test.
inline constexpr char kDemoRun[] = "report-1";
inline constexpr char kDemoStoreDir[] = "store";      // under DIR
inline constexpr char kDemoLedgerFile[] = "services.ledger";  // under DIR
inline constexpr char kDemoEmailStep[] = "send-report";

// Exit codes of a worker (besides death by signal).
inline constexpr int kWorkerDone = 0;              // the turn completed
inline constexpr int kWorkerAwaitingApproval = 10; // waits for a person: lease released
inline constexpr int kWorkerRunFailed = 11;        // the turn failed (the log says why)
inline constexpr int kWorkerPaused = 12;           // the run is paused: lease released

struct DemoWorkerArgs {
  std::string dir;                 // holds store/ and the ledger
  std::string worker_id;
  std::string tag;                 // written on the services' ledger lines (default: worker_id)
  uint64_t lease_ttl_ms = 2000;
  uint64_t retry_base_ms = 400;
  // Testing and the demo's crash: SIGKILL this process at the first check
  // after global position `kill_at_position` is committed (0: never), or
  // right after `kill_after_effect_of`'s side effect (empty: never), or stop
  // forever after analyze_documents reports `stall_at_progress` (0: never).
  uint64_t kill_at_position = 0;
  std::string kill_after_effect_of;
  uint64_t stall_at_progress = 0;
};

int DemoWorkerCommand(const DemoWorkerArgs& args);

}  // namespace agentlog_tools

#endif  // AGENTLOG_TOOLS_DEMO_WORKER_H_
