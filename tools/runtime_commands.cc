// tools/runtime_commands.cc: `agentlog audit` and `agentlog recover`, and
// the printing they share with the demo.
#include <cstdio>
#include <ctime>

#include "tools/commands.h"

namespace agentlog_tools {
namespace {

void Line(const std::string& text) { std::printf("%s\n", text.c_str()); }

// Opens a runtime over `store` for reading; the worker id names the tool.
agentlog::Result<std::unique_ptr<agentlog::Runtime>> OpenRuntime(agentlog::Store* store) {
  agentlog::RuntimeOptions options;
  options.store = store;
  options.clock = agentlog::SystemClock();
  options.worker_id = "agentlog-cli";
  return agentlog::Runtime::Open(options);
}

std::string Cut(const std::string& text, size_t max) {
  return text.size() <= max ? text : text.substr(0, max) + "...";
}

}  // namespace

std::string FormatUtc(int64_t time_us) {
  if (time_us == 0) return "-";
  // Floor, not truncation: a time before 1970 is the second before, plus
  // a positive fraction.
  const int64_t fraction_us = ((time_us % 1000000) + 1000000) % 1000000;
  const time_t seconds = static_cast<time_t>((time_us - fraction_us) / 1000000);
  std::tm parts{};
  gmtime_r(&seconds, &parts);
  char text[96];  // room for any int the compiler can imagine in each field
  std::snprintf(text, sizeof text, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", parts.tm_year + 1900,
                parts.tm_mon + 1, parts.tm_mday, parts.tm_hour, parts.tm_min, parts.tm_sec,
                static_cast<int>(fraction_us / 1000));
  return text;
}

void PrintAudit(const agentlog::AuditReport& audit, const std::string& indent) {
  Line(indent + "run " + audit.run_id + ": chain verified over " +
       std::to_string(audit.verified.events) + " events; digest " + audit.digest);
  for (const agentlog::AuditReport::Decision& d : audit.decisions) {
    Line(indent + "decision at event " + std::to_string(d.sequence) + " by " + d.actor_id + ", " +
         FormatUtc(d.time_us) + ": " + d.choice);
    Line(indent + "  rationale: " + d.rationale);
    for (const std::string& alternative : d.alternatives) {
      Line(indent + "  rejected: " + alternative);
    }
    for (const agentlog::AuditReport::FactUsed& fact : d.facts) {
      Line(indent + "  rested on: " + fact.key + " = " + fact.value + " (event " +
           std::to_string(fact.sequence) + ", from " + fact.source + ")");
    }
    for (const std::string& key : d.missing_facts) {
      Line(indent + "  named fact " + key + ", which the run did not hold then");
    }
  }
  for (const agentlog::AuditReport::Approval& a : audit.approvals) {
    std::string line = indent + "approval of " + a.step_id + ": requested " +
                       FormatUtc(a.requested_at_us) + ", " + a.decision;
    if (!a.by.empty()) line += " by " + a.by + " at " + FormatUtc(a.decided_at_us);
    if (!a.scope.empty()) line += ", scope " + a.scope;
    if (!a.edited_arguments_json.empty()) line += ", arguments edited to " + a.edited_arguments_json;
    if (!a.reason.empty()) line += ", reason: " + a.reason;
    Line(line);
  }
  for (const agentlog::AuditReport::ToolCallRecord& c : audit.tool_calls) {
    Line(indent + "tool call " + c.step_id + " (" + c.tool + ") attempt " +
         std::to_string(c.attempt) + ", key " + c.idempotency_key + ", " +
         FormatUtc(c.started_at_us) + ": " + c.outcome +
         (c.detail.empty() ? "" : " -- " + Cut(c.detail, 140)));
  }
  for (const agentlog::AuditReport::CompensationRecord& c : audit.compensations) {
    Line(indent + "compensation of " + c.step_id + " by " + c.tool + ", key " + c.idempotency_key +
         ", " + FormatUtc(c.at_us));
  }
}

void PrintRecovery(const std::vector<agentlog::RecoveryItem>& items, const std::string& indent) {
  if (items.empty()) Line(indent + "nothing to recover: every run is finished");
  for (const agentlog::RecoveryItem& item : items) {
    std::string line = indent + item.run_id + " [" + std::string(agentlog::RunStatusName(item.status)) +
                       "] " + std::string(agentlog::RecoveryActionName(item.action)) + ": " +
                       item.detail;
    if (!item.needs_compensation.empty()) {
      line += "; to compensate:";
      for (const std::string& step : item.needs_compensation) line += " " + step;
    }
    Line(line);
  }
}

int AuditCommand(const std::string& db, const std::string& run) {
  if (agentlog::Status bad = CheckRunArgument(run, "RUN"); !bad.ok()) return Fail("audit", bad);
  auto store = OpenStoreToRead(db);
  if (!store.ok()) return Fail("audit", store.status());
  auto runtime = OpenRuntime(store->get());
  if (!runtime.ok()) return Fail("audit", runtime.status());
  auto audit = (*runtime)->Audit(run);
  if (!audit.ok()) return Fail("audit", audit.status());
  PrintAudit(*audit, "");
  return ExitCodeFor((*store)->Close());
}

int RecoverCommand(const std::string& db) {
  auto store = OpenStoreToRead(db);
  if (!store.ok()) return Fail("recover", store.status());
  auto runtime = OpenRuntime(store->get());
  if (!runtime.ok()) return Fail("recover", runtime.status());
  auto items = (*runtime)->Recover();
  if (!items.ok()) return Fail("recover", items.status());
  PrintRecovery(*items, "");
  return ExitCodeFor((*store)->Close());
}

}  // namespace agentlog_tools
