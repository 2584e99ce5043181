// runtime/audit.cc: what an auditor asks of a run, answered from its
// verified log: decisions with the facts as they stood when each was taken,
// approvals (who, when, what scope, what was edited), tool calls with their
// keys and outcomes, compensations. Verify runs first, so a report is never
// built from a history that does not check.
#include <map>

#include "base/assert.h"
#include "base/crypto.h"
#include "runtime/runtime_impl.h"
#include "runtime/step_rules.h"

namespace agentlog::runtime {
namespace {

std::string Text(const flatbuffers::String* text) {
  return text == nullptr ? std::string() : text->str();
}

std::string HexBytes(const flatbuffers::Vector<uint8_t>* bytes) {
  if (bytes == nullptr) return {};
  return internal::HexEncode(
      std::string_view(reinterpret_cast<const char*>(bytes->data()), bytes->size()));
}

// The latest entry of `items` for `step_id` that `open` accepts.
template <typename T, typename Open>
T* LatestOpen(std::vector<T>& items, std::string_view step_id, Open open) {
  for (auto it = items.rbegin(); it != items.rend(); ++it) {
    if (it->step_id == step_id && open(*it)) return &*it;
  }
  return nullptr;
}

// The sequence a run digest covers: "agentlog-run-v1:RUN:SEQ:HEX" (run
// ids may hold ':', so SEQ is read from the right).
uint64_t DigestSequence(const std::string& digest) {
  const size_t hex_colon = digest.rfind(':');
  const size_t seq_colon = digest.rfind(':', hex_colon - 1);
  AGENTLOG_ASSERT(hex_colon != std::string::npos && seq_colon != std::string::npos);
  return std::stoull(digest.substr(seq_colon + 1, hex_colon - seq_colon - 1));
}

// Builds a report's sections from the run's events, in log order. It keeps
// the facts as they stand so far, so each decision sees the facts of its
// own time, not the run's last.
class ReportBuilder {
 public:
  explicit ReportBuilder(AuditReport* report) : report_(report) {}

  void Add(const Event& event) {
    const fb::Event* body = event.body();
    if (body == nullptr) return;  // a removed payload: its hash is in the chain
    const std::string step(event.step_id());
    switch (body->body_type()) {
      case fb::Body_FactAdded:
        AddFact(event, body->body_as_FactAdded());
        break;
      case fb::Body_DecisionRecorded:
        AddDecision(event, body->body_as_DecisionRecorded());
        break;
      case fb::Body_ApprovalRequested:
        AddApprovalRequest(event, step, body->body_as_ApprovalRequested());
        break;
      case fb::Body_ApprovalGranted:
      case fb::Body_ApprovalDenied:
        AddApprovalAnswer(event, step, body);
        break;
      case fb::Body_ToolStarted:
        AddToolStart(event, step, body->body_as_ToolStarted());
        break;
      case fb::Body_ToolCompleted:
      case fb::Body_ToolFailed:
        AddToolOutcome(event, step, body);
        break;
      case fb::Body_CompensationRecorded: {
        const fb::CompensationRecorded* c = body->body_as_CompensationRecorded();
        report_->compensations.push_back({Text(c->compensated_step_id()), Text(c->tool()),
                                          Text(c->idempotency_key()), event.timestamp_us()});
        break;
      }
      default:
        break;
    }
  }

 private:
  void AddFact(const Event& event, const fb::FactAdded* fact) {
    facts_[Text(fact->key())] = {Text(fact->key()), Text(fact->value()), Text(fact->source()),
                                 event.sequence()};
  }

  void AddDecision(const Event& event, const fb::DecisionRecorded* d) {
    AuditReport::Decision decision;
    decision.sequence = event.sequence();
    decision.time_us = event.timestamp_us();
    decision.actor_id = std::string(event.actor_id());
    decision.choice = Text(d->choice());
    decision.rationale = Text(d->rationale());
    if (d->alternatives() != nullptr) {
      for (const flatbuffers::String* alternative : *d->alternatives()) {
        decision.alternatives.push_back(alternative->str());
      }
    }
    if (d->fact_keys() != nullptr) {
      for (const flatbuffers::String* key : *d->fact_keys()) {
        auto found = facts_.find(key->string_view());
        if (found == facts_.end()) {
          decision.missing_facts.push_back(key->str());
        } else {
          decision.facts.push_back(found->second);
        }
      }
    }
    report_->decisions.push_back(std::move(decision));
  }

  void AddApprovalRequest(const Event& event, const std::string& step,
                          const fb::ApprovalRequested* r) {
    AuditReport::Approval approval;
    approval.step_id = step;
    approval.request = Text(r->request());
    approval.requested_at_us = event.timestamp_us();
    approval.decision = "pending";
    approval.expires_at_us = r->expires_at_us();
    report_->approvals.push_back(std::move(approval));
  }

  // A grant or denial answers the step's latest pending request; an answer
  // with no request on record still gets an entry of its own.
  void AddApprovalAnswer(const Event& event, const std::string& step, const fb::Event* body) {
    AuditReport::Approval* approval = LatestOpen(
        report_->approvals, step, [](const AuditReport::Approval& a) { return a.decision == "pending"; });
    if (approval == nullptr) {
      report_->approvals.push_back({});
      approval = &report_->approvals.back();
      approval->step_id = step;
    }
    approval->decided_at_us = event.timestamp_us();
    if (const fb::ApprovalGranted* g = body->body_as_ApprovalGranted(); g != nullptr) {
      approval->decision = "granted";
      approval->by = Text(g->granted_by());
      approval->scope = ApprovalScopeName(g->scope());
      approval->edited_arguments_json = Text(g->edited_arguments_json());
    } else {
      const fb::ApprovalDenied* d = body->body_as_ApprovalDenied();
      approval->decision = "denied";
      approval->by = Text(d->denied_by());
      approval->reason = Text(d->reason());
    }
  }

  // A call is in doubt from its start until an outcome names it.
  void AddToolStart(const Event& event, const std::string& step, const fb::ToolStarted* t) {
    report_->tool_calls.push_back({step, Text(t->tool()), Text(t->arguments_json()),
                                   Text(t->idempotency_key()), t->attempt(),
                                   event.timestamp_us(), "in_doubt", "", 0});
  }

  void AddToolOutcome(const Event& event, const std::string& step, const fb::Event* body) {
    AuditReport::ToolCallRecord* call = LatestOpen(
        report_->tool_calls, step,
        [](const AuditReport::ToolCallRecord& c) { return c.outcome == "in_doubt"; });
    if (call == nullptr) {  // an outcome with no start (e.g. a counterfactual's)
      report_->tool_calls.push_back({});
      call = &report_->tool_calls.back();
      call->step_id = step;
    }
    call->ended_at_us = event.timestamp_us();
    if (const fb::ToolCompleted* c = body->body_as_ToolCompleted(); c != nullptr) {
      call->outcome = "completed";
      call->detail = "output sha256 " + HexBytes(c->output_hash());
      if (c->artifact_id() != nullptr && c->artifact_id()->size() != 0) {
        call->detail += " (artifact " + c->artifact_id()->str() + ")";
      }
    } else {
      const fb::ToolFailed* f = body->body_as_ToolFailed();
      call->outcome = "failed";
      call->detail = Text(f->error()) + (f->retryable() ? " (retryable)" : " (not retryable)");
    }
  }

  AuditReport* const report_;
  std::map<std::string, AuditReport::FactUsed, std::less<>> facts_;
};

// A request still pending past its expiry is reported as expired.
void MarkExpiredApprovals(AuditReport& report, int64_t now) {
  for (AuditReport::Approval& approval : report.approvals) {
    if (approval.decision == "pending" && approval.expires_at_us != 0 &&
        now >= approval.expires_at_us) {
      approval.decision = "expired";
    }
  }
}

}  // namespace

Result<AuditReport> RuntimeImpl::Audit(std::string_view run_id) {
  AuditReport report;
  report.run_id = std::string(run_id);
  // The digest first, then a check of the chain against it: the report's
  // digest is one the verified history holds, even if the run grows meanwhile.
  Result<std::string> digest = options_.store->RunDigest(run_id);
  if (!digest.ok()) return digest.status();
  report.digest = std::move(digest.value());
  if (Status s = options_.store->VerifyAgainst(report.digest, &report.verified); !s.ok()) return s;

  ReportBuilder builder(&report);
  ReadOptions read;
  // Only the history the digest covers.
  read.to_sequence = DigestSequence(report.digest);
  for (;;) {
    Result<std::vector<Event>> events = options_.store->ReadRun(run_id, read);
    if (!events.ok()) return events.status();
    for (const Event& event : *events) builder.Add(event);
    if (events->size() < read.limit) break;
    read.from_sequence = events->back().sequence() + 1;
  }
  MarkExpiredApprovals(report, Now());
  return report;
}

}  // namespace agentlog::runtime
