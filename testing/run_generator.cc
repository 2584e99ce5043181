// testing/run_generator.cc: see run_generator.h.
#include "testing/run_generator.h"

#include <flatbuffers/flatbuffers.h>

#include "agentlog/hash.h"

namespace agentlog::testing {

std::string ArtifactContent(const std::string& artifact_id) {
  return "the content of " + artifact_id + ": " + std::string(200, '.');
}

Status StoreArtifacts(Store& store, std::span<const EventInput> events, Durability durability) {
  for (const EventInput& event : events) {
    const fb::Event* body = flatbuffers::GetRoot<fb::Event>(event.payload.data());
    const fb::ArtifactStored* artifact = body->body_as_ArtifactStored();
    if (artifact == nullptr || artifact->artifact_id() == nullptr) continue;
    auto stored = store.PutBlob(ArtifactContent(artifact->artifact_id()->str()), durability);
    if (!stored.ok()) return stored.status();
  }
  return Status::OK();
}

namespace {

std::string Done(flatbuffers::FlatBufferBuilder& builder, fb::Body type, flatbuffers::Offset<void> body) {
  builder.Finish(fb::CreateEvent(builder, type, body));
  return std::string(reinterpret_cast<const char*>(builder.GetBufferPointer()), builder.GetSize());
}

const char* const kTools[] = {"search_tickets", "fetch_logs", "summarize", "send_email", "open_pr"};
const char* const kHolders[] = {"worker-a", "worker-b", "worker-c"};

}  // namespace

RunGenerator::RunGenerator(uint64_t seed, uint64_t first_sequence, uint64_t lease_epoch)
    : random_(seed), next_sequence_(first_sequence), lease_epoch_(lease_epoch) {}

void RunGenerator::Emit(std::string payload, std::string step_id) {
  EventInput input;
  input.payload = std::move(payload);
  input.turn_id = turn_id_;
  input.step_id = std::move(step_id);
  input.actor_kind = ActorKind::kAgent;
  input.actor_id = "generator";
  out_.push_back(std::move(input));
  ++next_sequence_;
}

void RunGenerator::StartTurn() {
  turn_id_ = "turn-" + std::to_string(++turns_);
  flatbuffers::FlatBufferBuilder b;
  const std::string ask = "request " + std::to_string(Uniform(1, 1000));
  Emit(Done(b, fb::Body_TurnStarted,
            fb::CreateTurnStartedDirect(b, ask.c_str(), ("do " + ask).c_str(), "session-1").Union()));
  if (turns_ == 1) {
    flatbuffers::FlatBufferBuilder budget;
    Emit(Done(budget, fb::Body_BudgetSet, fb::CreateBudgetSet(budget, 500, 1'000'000, 3'600'000).Union()));
  }
  if (lease_holder_.empty() && Chance(0.7)) {
    lease_holder_ = kHolders[Uniform(0, 2)];
    flatbuffers::FlatBufferBuilder lease;
    Emit(Done(lease, fb::Body_LeaseAcquired,
              fb::CreateLeaseAcquiredDirect(lease, lease_holder_.c_str(), ++lease_epoch_, 30000).Union()));
  }
}

void RunGenerator::PlanTurn() {
  const uint32_t count = static_cast<uint32_t>(Uniform(1, 6));
  flatbuffers::FlatBufferBuilder planned;
  Emit(Done(planned, fb::Body_TurnPlanned, fb::CreateTurnPlanned(planned, count).Union()));
  plan_.clear();
  next_step_ = 0;
  for (uint32_t i = 1; i <= count; ++i) {
    const std::string id = turn_id_ + "-step-" + std::to_string(i);
    const char* tool = kTools[Uniform(0, 4)];
    const auto mode = static_cast<fb::ConfirmationMode>(Uniform(0, 2));
    flatbuffers::FlatBufferBuilder b;
    const std::string args = "{\"n\":" + std::to_string(Uniform(0, 99)) + "}";
    Emit(Done(b, fb::Body_PlanItemAdded,
              fb::CreatePlanItemAddedDirect(b, id.c_str(), i, tool, args.c_str(), mode, "a step").Union()),
         id);
    plan_.push_back(id);
  }
}

void RunGenerator::RunStep() {
  const std::string step = plan_[next_step_++];
  if (Chance(0.3)) {
    flatbuffers::FlatBufferBuilder request;
    Emit(Done(request, fb::Body_ApprovalRequested,
              fb::CreateApprovalRequestedDirect(request, fb::ConfirmationMode_Mutating, "may I?",
                                                int64_t{1} << 50)
                  .Union()),
         step);
    if (Chance(0.8)) {
      flatbuffers::FlatBufferBuilder grant;
      const char* edited = Chance(0.3) ? "{\"n\":0}" : "";
      Emit(Done(grant, fb::Body_ApprovalGranted,
                fb::CreateApprovalGrantedDirect(grant, "alice", static_cast<fb::ApprovalScope>(Uniform(0, 1)),
                                                edited)
                    .Union()),
           step);
    } else {
      flatbuffers::FlatBufferBuilder deny;
      Emit(Done(deny, fb::Body_ApprovalDenied, fb::CreateApprovalDeniedDirect(deny, "bob", "not now").Union()),
           step);
      return;
    }
  }
  const char* tool = kTools[Uniform(0, 4)];
  const uint32_t max_attempts = static_cast<uint32_t>(Uniform(1, 3));
  for (uint32_t attempt = 1; attempt <= max_attempts; ++attempt) {
    flatbuffers::FlatBufferBuilder started;
    const std::string key = step + "/" + std::to_string(attempt);
    Emit(Done(started, fb::Body_ToolStarted,
              fb::CreateToolStartedDirect(started, tool, "{}", key.c_str(), attempt).Union()),
         step);
    const uint64_t total = Uniform(0, 3);
    for (uint64_t done = 1; done <= total; ++done) {
      flatbuffers::FlatBufferBuilder progress;
      Emit(Done(progress, fb::Body_ToolProgress,
                fb::CreateToolProgressDirect(progress, done, total, "working").Union()),
           step);
    }
    if (attempt == max_attempts || Chance(0.5)) {
      flatbuffers::FlatBufferBuilder completed;
      const bool artifact = Chance(0.2);
      const std::string artifact_id = "artifact-" + std::to_string(++counter_);
      const std::string content = ArtifactContent(artifact_id);
      const std::string digest = Sha256(content);
      const std::vector<uint8_t> hash(digest.begin(), digest.end());
      Emit(Done(completed, fb::Body_ToolCompleted,
                fb::CreateToolCompletedDirect(completed, artifact ? "" : "output text",
                                              artifact ? artifact_id.c_str() : "", &hash)
                    .Union()),
           step);
      if (artifact) {
        flatbuffers::FlatBufferBuilder stored;
        Emit(Done(stored, fb::Body_ArtifactStored,
                  fb::CreateArtifactStoredDirect(stored, artifact_id.c_str(), "text/plain", "a report",
                                                 content.size(), &hash)
                      .Union()),
             step);
      }
      return;
    }
    flatbuffers::FlatBufferBuilder failed;
    const bool retryable = attempt + 1 < max_attempts || Chance(0.5);
    Emit(Done(failed, fb::Body_ToolFailed,
              fb::CreateToolFailedDirect(failed, "timed out", retryable, attempt).Union()),
         step);
    if (!retryable) {
      if (Chance(0.5)) {
        flatbuffers::FlatBufferBuilder compensation;
        const std::string key2 = step + "/undo";
        Emit(Done(compensation, fb::Body_CompensationRecorded,
                  fb::CreateCompensationRecordedDirect(compensation, step.c_str(), "undo", "{}", key2.c_str())
                      .Union()),
             step);
      }
      return;
    }
    flatbuffers::FlatBufferBuilder retry;
    Emit(Done(retry, fb::Body_RetryScheduled,
              fb::CreateRetryScheduled(retry, attempt + 1, 100u << attempt,
                                       static_cast<int64_t>(Uniform(1, 1000)))
                  .Union()),
         step);
  }
}

void RunGenerator::Aside() {
  flatbuffers::FlatBufferBuilder b;
  const std::string n = std::to_string(++counter_);
  switch (Uniform(0, 11)) {
    case 0: {
      const std::string key = Chance(0.3) && !fact_keys_.empty() ? fact_keys_[Uniform(0, fact_keys_.size() - 1)]
                                                                 : "fact-" + n;
      fact_keys_.push_back(key);
      Emit(Done(b, fb::Body_FactAdded, fb::CreateFactAddedDirect(b, key.c_str(), ("value " + n).c_str(), "a tool").Union()));
      break;
    }
    case 1: {
      std::vector<std::string> alternatives{"option a", "option b"};
      std::vector<std::string> facts(fact_keys_.end() - std::min<size_t>(2, fact_keys_.size()), fact_keys_.end());
      auto alt = b.CreateVectorOfStrings(alternatives);
      auto keys = b.CreateVectorOfStrings(facts);
      auto body = fb::CreateDecisionRecorded(b, b.CreateString("option " + n), alt, b.CreateString("because"), keys);
      Emit(Done(b, fb::Body_DecisionRecorded, body.Union()));
      break;
    }
    case 2:
      open_questions_.push_back("q-" + n);
      Emit(Done(b, fb::Body_QuestionOpened, fb::CreateQuestionOpenedDirect(b, open_questions_.back().c_str(), "why?").Union()));
      break;
    case 3:
      if (open_questions_.empty()) return Aside();
      Emit(Done(b, fb::Body_QuestionResolved,
                fb::CreateQuestionResolvedDirect(b, open_questions_.front().c_str(), "because").Union()));
      open_questions_.erase(open_questions_.begin());
      break;
    case 4:
    case 5:
      message_sequences_.push_back(next_sequence_);
      Emit(Done(b, fb::Body_MessageAppended,
                fb::CreateMessageAppendedDirect(b, Chance(0.5) ? "user" : "assistant", ("text " + n).c_str()).Union()));
      break;
    case 6:
      if (message_sequences_.size() < 3) return Aside();
      Emit(Done(b, fb::Body_ConversationCompacted,
                fb::CreateConversationCompactedDirect(b, "summary", message_sequences_.front(),
                                                      message_sequences_[message_sequences_.size() - 2])
                    .Union()));
      message_sequences_.erase(message_sequences_.begin(), message_sequences_.end() - 1);
      break;
    case 7:
      Emit(Done(b, fb::Body_BudgetConsumed, fb::CreateBudgetConsumed(b, 1, Uniform(10, 2000), Uniform(1, 500)).Union()));
      break;
    case 8: {
      const std::string scope = Chance(0.5) && next_step_ < plan_.size() ? plan_[next_step_] : "";
      Emit(Done(b, fb::Body_DeadlineSet,
                fb::CreateDeadlineSetDirect(b, static_cast<int64_t>(Uniform(1, 1000)), scope.c_str()).Union()));
      break;
    }
    case 9: {
      Emit(Done(b, fb::Body_RunPaused, fb::CreateRunPausedDirect(b, "timer", 0).Union()));
      flatbuffers::FlatBufferBuilder resumed;
      Emit(Done(resumed, fb::Body_RunResumed, fb::CreateRunResumedDirect(resumed, "timer fired").Union()));
      break;
    }
    case 10:
      Emit(Done(b, fb::Body_CheckpointMarked, fb::CreateCheckpointMarkedDirect(b, ("cp-" + n).c_str()).Union()));
      break;
    case 11:
      if (!lease_holder_.empty() && Chance(0.5)) {
        Emit(Done(b, fb::Body_LeaseReleased,
                  fb::CreateLeaseReleasedDirect(b, lease_holder_.c_str(), lease_epoch_).Union()));
        lease_holder_.clear();
      } else if (next_step_ < plan_.size()) {
        // Replace the rest of the plan: keep the done steps, add one.
        std::vector<flatbuffers::Offset<fb::PlanItem>> items;
        std::vector<std::string> kept(plan_.begin(), plan_.begin() + static_cast<long>(next_step_));
        kept.push_back(turn_id_ + "-revised-" + n);
        for (size_t i = 0; i < kept.size(); ++i) {
          items.push_back(fb::CreatePlanItemDirect(b, kept[i].c_str(), static_cast<uint32_t>(i + 1), "summarize",
                                                   "{}", fb::ConfirmationMode_SafeReadonly, "revised"));
        }
        auto body = fb::CreatePlanRevised(b, b.CreateString("new facts"), b.CreateVector(items));
        Emit(Done(b, fb::Body_PlanRevised, body.Union()));
        plan_ = kept;
      }
      break;
  }
}

std::vector<EventInput> RunGenerator::Next(size_t count) {
  while (out_.size() < count) {
    if (turn_id_.empty()) {
      StartTurn();
    } else if (plan_.empty()) {
      PlanTurn();
    } else if (next_step_ < plan_.size()) {
      if (Chance(0.35)) {
        Aside();
      } else {
        RunStep();
      }
    } else {
      flatbuffers::FlatBufferBuilder b;
      if (Chance(0.85)) {
        Emit(Done(b, fb::Body_TurnCompleted, fb::CreateTurnCompletedDirect(b, "all done").Union()));
      } else {
        Emit(Done(b, fb::Body_TurnFailed, fb::CreateTurnFailedDirect(b, "gave up").Union()));
      }
      turn_id_.clear();
      plan_.clear();
    }
  }
  std::vector<EventInput> batch(std::make_move_iterator(out_.begin()),
                                std::make_move_iterator(out_.begin() + static_cast<long>(count)));
  out_.erase(out_.begin(), out_.begin() + static_cast<long>(count));
  return batch;
}

}  // namespace agentlog::testing
