// testing/run_generator.h: random but valid agent runs, for property tests
// (projections from snapshots equal projections from events) and, later,
// crash loops and benchmarks. Deterministic in its seed. No test framework
// inside, so any program can link it.
//
// A generated run reads like a real one: turns with a plan, steps that may
// need an approval, tool calls with progress that complete or fail and are
// retried, facts, decisions, questions, artifacts, messages and their
// compaction, budgets, deadlines, pauses, checkpoints, compensations, plan
// revisions and lease hand-overs -- every type of the catalogue but
// RunForked (Store::Fork writes that one).
#ifndef AGENTLOG_TESTING_RUN_GENERATOR_H_
#define AGENTLOG_TESTING_RUN_GENERATOR_H_

#include <cstdint>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "agentlog/event.h"
#include "agentlog/store.h"

namespace agentlog::testing {

// The content of the generated artifact `artifact_id`: its ArtifactStored
// event's content_hash is this content's SHA-256.
std::string ArtifactContent(const std::string& artifact_id);

// Stores (Store::PutBlob) the content of every ArtifactStored among
// `events`: a store that holds an ArtifactStored holds its blob
// (Store::VerifyAll requires it), so call this before appending them.
// Errors: PutBlob's.
Status StoreArtifacts(Store& store, std::span<const EventInput> events, Durability durability);

class RunGenerator {
 public:
  // `first_sequence`: the sequence the first generated event will get (a
  // fork's continuation starts past its fork point). `lease_epoch`: the
  // run's current lease epoch (LeaseAcquired must take exactly epoch + 1).
  explicit RunGenerator(uint64_t seed, uint64_t first_sequence = 1, uint64_t lease_epoch = 0);

  // The next `count` events, continuing the story where the last call
  // stopped.
  std::vector<EventInput> Next(size_t count);

 private:
  void Emit(std::string payload, std::string step_id = "");
  void StartTurn();
  void PlanTurn();
  void RunStep();
  void Aside();  // knowledge, conversation, budget, control
  bool Chance(double p) { return std::bernoulli_distribution(p)(random_); }
  uint64_t Uniform(uint64_t low, uint64_t high) {
    return std::uniform_int_distribution<uint64_t>(low, high)(random_);
  }

  std::mt19937_64 random_;
  uint64_t next_sequence_;
  uint64_t lease_epoch_;
  std::string lease_holder_;
  uint64_t turns_ = 0;
  std::string turn_id_;
  std::vector<std::string> plan_;  // step ids of the current turn's plan
  size_t next_step_ = 0;
  std::vector<uint64_t> message_sequences_;  // not yet compacted
  std::vector<std::string> open_questions_;
  std::vector<std::string> fact_keys_;
  uint64_t counter_ = 0;  // for unique ids
  std::vector<EventInput> out_;
};

}  // namespace agentlog::testing

#endif  // AGENTLOG_TESTING_RUN_GENERATOR_H_
