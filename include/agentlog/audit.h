// agentlog/audit.h: what an auditor asks of a run (Runtime::Audit) --
// decisions with the facts they rested on, approvals, tool calls and
// compensations, every line read from the run's verified log.
//
// A value built by the runtime (agentlog/runtime.h); runtime/README.md
// ("Audit") says how. Thread safety: a value, safe to read concurrently;
// writing one needs the caller's synchronization.
#ifndef AGENTLOG_AUDIT_H_
#define AGENTLOG_AUDIT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "agentlog/store.h"

namespace agentlog {

// The report of Runtime::Audit: the run's history up to the event its
// digest covers, in event order within each list.
struct AuditReport {
  // A fact as it stood when a decision was recorded.
  struct FactUsed {
    std::string key, value, source;
    uint64_t sequence = 0;         // the FactAdded in force when the decision was taken
  };
  // One DecisionRecorded.
  struct Decision {
    uint64_t sequence = 0;
    int64_t time_us = 0;
    std::string actor_id;
    std::string choice, rationale;
    std::vector<std::string> alternatives;
    std::vector<FactUsed> facts;   // as they stood at the decision
    std::vector<std::string> missing_facts;  // keys named but not held then
  };
  // One approval request and its answer (or an answer with no request).
  struct Approval {
    std::string step_id;
    std::string request;
    int64_t requested_at_us = 0;
    int64_t expires_at_us = 0;     // 0: never
    std::string decision;          // "granted", "denied", "pending", "expired"
    std::string by;
    int64_t decided_at_us = 0;
    std::string scope;             // "once", "for_run"
    std::string edited_arguments_json;
    std::string reason;            // a denial's
  };
  // One ToolStarted and its outcome (or an outcome with no start).
  struct ToolCallRecord {
    std::string step_id, tool, arguments_json, idempotency_key;
    uint32_t attempt = 0;
    int64_t started_at_us = 0;
    std::string outcome;           // "completed", "failed", "in_doubt"
    std::string detail;            // the error, or the output's SHA-256 in hex
    int64_t ended_at_us = 0;
  };
  // One CompensationRecorded.
  struct CompensationRecord {
    std::string step_id, tool, idempotency_key;
    int64_t at_us = 0;
  };
  std::string run_id;
  std::string digest;              // Store::RunDigest, against which the chain was verified
  VerifyStats verified;            // what that verification checked
  std::vector<Decision> decisions;
  std::vector<Approval> approvals;
  std::vector<ToolCallRecord> tool_calls;
  std::vector<CompensationRecord> compensations;
};

}  // namespace agentlog

#endif  // AGENTLOG_AUDIT_H_
