// testing/tally_projection.h: a small projection for the projector tests, as
// an embedder would write one. State: events seen, the last message text,
// and events per step id. Its version is a constructor argument so tests
// can bump it.
#ifndef AGENTLOG_TESTING_TALLY_PROJECTION_H_
#define AGENTLOG_TESTING_TALLY_PROJECTION_H_

#include <algorithm>
#include <cstring>
#include <map>
#include <memory>
#include <string>

#include "agentlog/projection.h"

namespace agentlog::testing {

struct TallyState final : ProjectionState {
  uint64_t events = 0;
  std::string last_message;
  std::map<std::string, uint64_t> per_step;

  // events:u64 | len:u64 text | count:u64 (len:u64 id, n:u64)*  (little-endian)
  std::string Encode() const override {
    std::string out;
    auto put = [&out](uint64_t v) { out.append(reinterpret_cast<const char*>(&v), 8); };
    put(events);
    put(last_message.size());
    out += last_message;
    put(per_step.size());
    for (const auto& [id, n] : per_step) {
      put(id.size());
      out += id;
      put(n);
    }
    return out;
  }
  std::vector<StateField> Fields() const override {
    std::vector<StateField> fields{{"events", std::to_string(events)}, {"last_message", last_message}};
    for (const auto& [id, n] : per_step) fields.push_back({"steps." + id, std::to_string(n)});
    std::sort(fields.begin(), fields.end(), [](auto& a, auto& b) { return a.path < b.path; });
    return fields;
  }
  std::unique_ptr<ProjectionState> Clone() const override { return std::make_unique<TallyState>(*this); }
};

class TallyProjection final : public Projection {
 public:
  explicit TallyProjection(uint32_t version = 1, std::string name = "tally")
      : version_(version), name_(std::move(name)) {}
  std::string_view name() const override { return name_; }
  uint32_t version() const override { return version_; }
  std::unique_ptr<ProjectionState> Initial() const override { return std::make_unique<TallyState>(); }
  void Apply(ProjectionState& state, const EventView& event) const override {
    auto& tally = static_cast<TallyState&>(state);
    ++tally.events;
    if (!event.envelope().step_id().empty()) ++tally.per_step[std::string(event.envelope().step_id())];
    if (event.body() == nullptr) return;
    if (const auto* message = event.body()->body_as_MessageAppended()) {
      tally.last_message = message->text() != nullptr ? message->text()->str() : "";
    }
  }
  Result<std::unique_ptr<ProjectionState>> Decode(std::string_view bytes) const override {
    auto state = std::make_unique<TallyState>();
    size_t at = 0;
    bool ok = true;
    auto get = [&](uint64_t* v) {
      if (bytes.size() - at < 8) return ok = false;
      std::memcpy(v, bytes.data() + at, 8);
      at += 8;
      return true;
    };
    auto get_text = [&](std::string* text) {
      uint64_t size = 0;
      if (!get(&size) || bytes.size() - at < size) return ok = false;
      *text = std::string(bytes.substr(at, size));
      at += size;
      return true;
    };
    uint64_t count = 0;
    if (get(&state->events) && get_text(&state->last_message) && get(&count)) {
      for (uint64_t i = 0; i < count && ok; ++i) {
        std::string id;
        uint64_t n = 0;
        if (get_text(&id) && get(&n)) state->per_step[id] = n;
      }
    }
    if (!ok || at != bytes.size()) return Status::Corruption("not a tally state");
    return std::unique_ptr<ProjectionState>(std::move(state));
  }

 private:
  uint32_t version_;
  std::string name_;
};

}  // namespace agentlog::testing

#endif  // AGENTLOG_TESTING_TALLY_PROJECTION_H_
