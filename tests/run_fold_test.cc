// tests/run_fold_test.cc: engine/run_fold.h, the one fold of what events
// mean to the engine (status, lease, times, deadlines) that append, fork and
// verify share. Its users' tests (append_test, fork_test, verify_test) check
// it through the store; these check the fold's own rules directly,
// including the removed-payload cases a store reaches only by redaction.
#include <catch2/catch.hpp>

#include "engine/run_fold.h"
#include "testing/test_util.h"

namespace agentlog {
namespace {

using internal::EventFacts;
using internal::RunFold;

EventFacts Facts(const std::string& payload) {
  const fb::Event* body = fb::GetEvent(payload.data());
  return internal::FactsOf(static_cast<EventType>(body->body_type()), body);
}

EventFacts Removed(fb::Body type) { return internal::FactsOf(static_cast<EventType>(type), nullptr); }

TEST_CASE("RunFold.StatusLeaseAndTimes", "[runfold]") {
  RunFold fold;
  internal::FoldEvent(Facts(testing::TurnStartedPayload("hi")), 10, /*creates_run=*/true, &fold);
  CHECK(fold.status == RunStatus::kCreated);
  CHECK(fold.created_us == 10);
  const EventFacts acquire = Facts(testing::LeaseAcquiredPayload("w1", 1));
  CHECK(acquire.lease_epoch == 1);
  CHECK(acquire.lease_holder == "w1");
  REQUIRE(internal::CheckLeaseRules(fold, acquire, "r").ok());
  internal::FoldEvent(acquire, 20, false, &fold);
  CHECK(fold.lease_epoch == 1);
  CHECK(fold.lease_holder == "w1");
  CHECK(fold.created_us == 10);
  CHECK(fold.last_event_us == 20);
  // The rules an append is held to.
  CHECK(internal::CheckLeaseRules(fold, acquire, "r").IsFenced());  // epoch 1 is taken
  CHECK(internal::CheckLeaseRules(fold, Facts(testing::LeaseAcquiredPayload("w2", 3)), "r").IsInvalidArgument());
  CHECK(internal::CheckLeaseRules(fold, Facts(testing::LeaseReleasedPayload("w2", 1)), "r").IsFenced());
  internal::FoldEvent(Facts(testing::LeaseReleasedPayload("w1", 1)), 30, false, &fold);
  CHECK(fold.lease_holder.empty());
  CHECK(fold.lease_epoch == 1);
  const Status again = internal::CheckLeaseRules(fold, Facts(testing::LeaseReleasedPayload("w1", 1)), "r");
  CHECK(again.IsInvalidArgument());
  CHECK(again.message().find("epoch 1 was already released") != std::string::npos);
  internal::FoldEvent(Facts(testing::StatusPayload(fb::Body_TurnCompleted)), 40, false, &fold);
  CHECK(fold.status == RunStatus::kCompleted);
}

TEST_CASE("RunFold.RemovedLeasePayloadsAndForks", "[runfold]") {
  RunFold fold;
  internal::FoldEvent(Facts(testing::LeaseAcquiredPayload("w1", 1)), 1, true, &fold);
  // A removed LeaseAcquired: its epoch is the count of acquisitions, its
  // holder unknown (taken as released), and Verify may not compare.
  internal::FoldEvent(Removed(fb::Body_LeaseAcquired), 2, false, &fold);
  CHECK(fold.lease_epoch == 2);
  CHECK(fold.lease_holder.empty());
  CHECK_FALSE(fold.lease_known);
  // A lease event with its payload makes the lease known again.
  internal::FoldEvent(Facts(testing::LeaseAcquiredPayload("w3", 3)), 3, false, &fold);
  CHECK(fold.lease_known);
  CHECK(fold.lease_epoch == 3);
  CHECK(fold.lease_holder == "w3");
  // RunForked: the fork starts unleased at the inherited epoch.
  internal::FoldEvent(Removed(fb::Body_RunForked), 4, true, &fold);
  CHECK(fold.lease_holder.empty());
  CHECK(fold.lease_epoch == 3);
  CHECK(fold.created_us == 4);
  // A removed DeadlineSet is not indexed; one with a deadline is.
  CHECK_FALSE(internal::IndexesDeadline(Removed(fb::Body_DeadlineSet)));
}

TEST_CASE("RunFold.FromAndToRunInfo", "[runfold]") {
  RunInfo run;
  run.status = RunStatus::kPaused;
  run.lease_epoch = 4;
  run.lease_holder = "w";
  run.created_us = 5;
  run.last_event_us = 6;
  const RunFold fold = internal::FoldOf(run);
  CHECK(fold.lease_acquisitions == 4);
  RunInfo back;
  internal::ApplyFold(fold, &back);
  CHECK(back.status == RunStatus::kPaused);
  CHECK(back.lease_epoch == 4);
  CHECK(back.lease_holder == "w");
  CHECK(back.created_us == 5);
  CHECK(back.last_event_us == 6);
}

}  // namespace
}  // namespace agentlog
