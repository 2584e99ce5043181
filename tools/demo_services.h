// tools/demo_services.h: the simulated outside world of `agentlog demo`.
//
// Four services an agent calls -- a document index, an analysis service,
// a benchmark service that times out on its first call, and an email
// service -- keep their side effects in a ledger of their own (a text file
// beside the store, one fsynced line per call), so a crash test and the
// demo can count what really happened outside the log. Like real email and
// payment APIs, the analysis and email services de-duplicate on the
// idempotency key the runtime hands them.
//
// Ledger line: TAG \t TOOL \t KEY \t OUTCOME, OUTCOME one of "applied",
// "deduplicated" (a repeat of an applied key), "timeout".
#ifndef AGENTLOG_TOOLS_DEMO_SERVICES_H_
#define AGENTLOG_TOOLS_DEMO_SERVICES_H_

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "agentlog/runtime.h"

namespace agentlog_tools {

struct LedgerEntry {
  std::string tag;      // which worker process made the call
  std::string tool;
  std::string key;
  std::string outcome;
};

class Ledger {
 public:
  explicit Ledger(std::string path) : path_(std::move(path)) {}
  // Every line so far. Errors: IOError (a file that exists but cannot be
  // read, or a malformed line).
  agentlog::Result<std::vector<LedgerEntry>> Read() const;
  // Appends one line and fdatasyncs it before returning.
  agentlog::Status Record(const LedgerEntry& entry) const;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Counts over a ledger.
struct ServiceCounts {
  int calls = 0;         // every call that reached the service
  int applied = 0;       // effects that happened (distinct keys)
  int deduplicated = 0;
  int timeouts = 0;
};
std::map<std::string, ServiceCounts> CountByTool(const std::vector<LedgerEntry>& entries);

// Hooks a worker passes to the services.
struct ServiceHooks {
  std::string tag;                                   // written on each ledger line
  // Progress of a long call (analyze_documents): recorded through the run.
  std::function<void(uint64_t done, uint64_t total, const std::string& message)> progress;
  // Called after each side effect lands in the ledger, before the tool
  // returns: where a crash test kills the worker.
  std::function<void(const std::string& tool)> after_effect;
};

// The tools, by name: collect_documents, analyze_documents,
// fetch_benchmarks, send_email. A failed ledger write is a tool failure
// (not retryable).
std::map<std::string, agentlog::Tool> DemoTools(const Ledger& ledger, const ServiceHooks& hooks);

}  // namespace agentlog_tools

#endif  // AGENTLOG_TOOLS_DEMO_SERVICES_H_
