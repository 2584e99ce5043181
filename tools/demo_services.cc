// tools/demo_services.cc: see demo_services.h.
#include "tools/demo_services.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace agentlog_tools {
namespace {

using agentlog::Status;
using agentlog::ToolCall;
using agentlog::ToolResult;

constexpr int kDocuments = 12;

// True when `key` already has an applied effect for `tool`.
bool Applied(const std::vector<LedgerEntry>& entries, const std::string& tool, const std::string& key) {
  for (const LedgerEntry& entry : entries) {
    if (entry.tool == tool && entry.key == key && entry.outcome == "applied") return true;
  }
  return false;
}

std::string DocumentsJson() {
  static const char* const kNames[kDocuments] = {
      "architecture.md", "roadmap-2027.md",  "incident-4211.md", "incident-4198.md",
      "slo-targets.md",  "oncall-guide.md",  "capacity-q3.xlsx", "capacity-q4.xlsx",
      "security-review.pdf", "vendor-contract.pdf", "postmortem-storage.md", "budget-2027.xlsx"};
  std::string json = "[";
  for (int i = 0; i < kDocuments; ++i) {
    json += std::string(i == 0 ? "" : ",") + "\"" + kNames[i] + "\"";
  }
  return json + "]";
}

// A long report (about 85 KB): above the runtime's artifact threshold, so
// the demo shows a large output stored once as a blob.
std::string AnalysisReport() {
  std::string report = "# Analysis of 12 project documents\n\n";
  for (int i = 1; i <= 700; ++i) {
    report += "finding " + std::to_string(i) + ": section " + std::to_string(i % 12 + 1) +
              " cites a capacity figure that the Q4 sheet revises; reconcile before the "
              "roadmap review. Severity " + std::to_string(i % 3 + 1) + ".\n";
  }
  return report;
}

}  // namespace

agentlog::Result<std::vector<LedgerEntry>> Ledger::Read() const {
  std::vector<LedgerEntry> entries;
  std::ifstream in(path_);
  if (!in) {
    if (access(path_.c_str(), F_OK) != 0) return entries;  // nothing happened yet
    return Status::IOError("cannot read the service ledger " + path_);
  }
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    std::vector<std::string> fields;
    std::stringstream split(line);
    for (std::string field; std::getline(split, field, '\t');) fields.push_back(field);
    if (fields.size() != 4) {
      return Status::IOError("service ledger " + path_ + " line " + std::to_string(number) +
                             " does not have 4 tab-separated fields");
    }
    entries.push_back({fields[0], fields[1], fields[2], fields[3]});
  }
  return entries;
}

Status Ledger::Record(const LedgerEntry& entry) const {
  const std::string line = entry.tag + "\t" + entry.tool + "\t" + entry.key + "\t" + entry.outcome + "\n";
  const int fd = open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return Status::IOError("open " + path_ + ": " + std::strerror(errno));
  const bool written = write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size()) &&
                       fdatasync(fd) == 0;
  const int saved = errno;
  close(fd);
  if (!written) return Status::IOError("write " + path_ + ": " + std::strerror(saved));
  return Status::OK();
}

std::map<std::string, ServiceCounts> CountByTool(const std::vector<LedgerEntry>& entries) {
  std::map<std::string, ServiceCounts> counts;
  for (const LedgerEntry& entry : entries) {
    ServiceCounts& c = counts[entry.tool];
    ++c.calls;
    if (entry.outcome == "applied") ++c.applied;
    if (entry.outcome == "deduplicated") ++c.deduplicated;
    if (entry.outcome == "timeout") ++c.timeouts;
  }
  return counts;
}

std::map<std::string, agentlog::Tool> DemoTools(const Ledger& ledger, const ServiceHooks& hooks) {
  // One service call: read the ledger, decide, record, then the hook.
  // `decide` gives the outcome for a fresh key and the result to return.
  auto serve = [ledger, hooks](const ToolCall& call, bool deduplicates,
                               const std::function<ToolResult(const std::vector<LedgerEntry>&,
                                                              std::string* outcome)>& decide) {
    agentlog::Result<std::vector<LedgerEntry>> entries = ledger.Read();
    if (!entries.ok()) return ToolResult::Failure(entries.status().ToString(), false);
    std::string outcome = "applied";
    ToolResult result;
    if (deduplicates && Applied(*entries, call.tool, call.idempotency_key)) {
      outcome = "deduplicated";
      std::string ignored;
      result = decide(*entries, &ignored);  // the service answers as the first time
    } else {
      result = decide(*entries, &outcome);
    }
    if (Status s = ledger.Record({hooks.tag, call.tool, call.idempotency_key, outcome}); !s.ok()) {
      return ToolResult::Failure(s.ToString(), false);
    }
    if (hooks.after_effect) hooks.after_effect(call.tool);
    return result;
  };

  std::map<std::string, agentlog::Tool> tools;
  tools["collect_documents"] = [serve](const ToolCall& call) {
    return serve(call, false, [](const std::vector<LedgerEntry>&, std::string*) {
      return ToolResult::Success(DocumentsJson());
    });
  };
  tools["analyze_documents"] = [serve, hooks](const ToolCall& call) {
    // Submits the analysis job (the side effect: the service starts work
    // under the key), then follows its progress to the end.
    ToolResult result = serve(call, true, [](const std::vector<LedgerEntry>&, std::string*) {
      return ToolResult::Success(AnalysisReport());
    });
    if (!result.ok) return result;
    for (uint64_t done = 20; done <= 100; done += 20) {
      if (hooks.progress) {
        hooks.progress(done, 100, std::to_string(done * kDocuments / 100) + " of " +
                                      std::to_string(kDocuments) + " documents read");
      }
    }
    return result;
  };
  tools["fetch_benchmarks"] = [serve](const ToolCall& call) {
    return serve(call, false, [&call](const std::vector<LedgerEntry>& entries, std::string* outcome) {
      // The external service times out on its first call for a key.
      for (const LedgerEntry& entry : entries) {
        if (entry.tool == call.tool && entry.key == call.idempotency_key) {
          return ToolResult::Success(R"({"p50_ms":41,"p99_ms":230,"baseline_p99_ms":180})");
        }
      }
      *outcome = "timeout";
      return ToolResult::Failure("benchmarks.example.com did not answer within 5 s", true);
    });
  };
  tools["send_email"] = [serve](const ToolCall& call) {
    return serve(call, true, [&call](const std::vector<LedgerEntry>&, std::string*) {
      return ToolResult::Success(R"({"message_id":"<)" + call.idempotency_key +
                                 R"(@mail.example.com>","accepted":true})");
    });
  };
  return tools;
}

}  // namespace agentlog_tools
