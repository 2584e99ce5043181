// runtime/model_context.cc: the slice of a run the next model call needs.
//
// Sections in priority order: the goal, the current step, open questions,
// the artifacts the current step names, then facts newest first. Each line
// goes in whole or not at all (only the goal and the step are cut to fit,
// since a model call without them is pointless); a section stops at its
// first line that does not fit, so "the most recent facts" stay a
// contiguous newest-first run.
#include <algorithm>

#include "runtime/runtime_impl.h"
#include "runtime/step_rules.h"

namespace agentlog::runtime {
namespace {

class Budgeted {
 public:
  explicit Budgeted(size_t max_bytes) : max_bytes_(max_bytes) {}
  // Adds `line` if it fits whole; false otherwise.
  bool Add(const std::string& line) {
    if (text_.size() + line.size() + 1 > max_bytes_) {
      truncated_ = true;
      return false;
    }
    text_ += line;
    text_ += '\n';
    return true;
  }
  // Adds as much of `line` as fits, marked with "..." when cut.
  void AddCut(const std::string& line) {
    if (Add(line)) return;
    const size_t room = max_bytes_ - text_.size();
    if (room < 5) return;
    text_ += line.substr(0, room - 5);
    text_ += "...\n";
  }
  std::string text_;
  bool truncated_ = false;

 private:
  const size_t max_bytes_;
};

}  // namespace

Result<ModelContext> RuntimeImpl::ContextForModel(std::string_view run_id, size_t max_bytes) {
  if (max_bytes == 0) return Status::InvalidArgument("ContextForModel: max_bytes is 0");
  Result<RunState> loaded = State(run_id);
  if (!loaded.ok()) return loaded.status();
  const RunState& state = *loaded;
  Budgeted out(max_bytes);
  if (const RunState::Turn* turn = state.CurrentTurn(); turn != nullptr) {
    out.AddCut("goal: " + turn->message_text +
               (turn->normalized_command.empty() ? "" : " [" + turn->normalized_command + "]"));
  }
  const RunState::PlanItem* step = NextStep(state);
  if (step != nullptr) {
    std::string line = "step " + std::to_string(step->ordinal) + " of " +
                       std::to_string(state.plan.size()) + " (" + step->id + "): " + step->tool +
                       " " + (step->call_arguments_json.empty() ? step->arguments_json
                                                                : step->call_arguments_json) +
                       " -- " + std::string(StepStatusName(step->status));
    if (!step->description.empty()) line += "; " + step->description;
    if (!step->last_error.empty()) line += "; last error: " + step->last_error;
    out.AddCut(line);
  }
  for (const RunState::Question& question : state.questions) {
    if (question.open && !out.Add("open question " + question.id + ": " + question.text)) break;
  }
  if (step != nullptr) {
    const std::string arguments = step->arguments_json + " " + step->call_arguments_json;
    for (const RunState::Artifact& artifact : state.artifacts) {
      if (artifact.id != step->artifact_id && arguments.find(artifact.id) == std::string::npos) continue;
      if (!out.Add("artifact " + artifact.id + " (" + artifact.media_type + ", " +
                   std::to_string(artifact.size_bytes) + " bytes): " + artifact.summary)) {
        break;
      }
    }
  }
  std::vector<const RunState::Fact*> facts;
  for (const RunState::Fact& fact : state.facts) facts.push_back(&fact);
  std::sort(facts.begin(), facts.end(),
            [](const RunState::Fact* a, const RunState::Fact* b) { return a->sequence > b->sequence; });
  ModelContext context;
  context.facts_total = facts.size();
  for (const RunState::Fact* fact : facts) {
    if (!out.Add("fact " + fact->key + " = " + fact->value +
                 (fact->source.empty() ? "" : " (source: " + fact->source + ")"))) {
      break;
    }
    ++context.facts_included;
  }
  context.text = std::move(out.text_);
  context.truncated = out.truncated_;
  return context;
}

}  // namespace agentlog::runtime
