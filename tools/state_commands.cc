// tools/state_commands.cc: `agentlog state`, `agentlog diff`, `agentlog fork`:
// time travel over the run-state projection, and forks. Public API only.
#include <charconv>
#include <ctime>
#include <iostream>

#include <nlohmann/json.hpp>

#include "agentlog/projector.h"
#include "agentlog/run_state.h"
#include "tools/commands.h"

namespace agentlog_tools {

using agentlog::Projector;
using agentlog::ProjectorOptions;
using agentlog::Result;
using agentlog::Status;

namespace {

// Prints a warning per snapshot the projector bypassed (damaged, of
// another history, or of another event than its key).
void ReportBypassed(const agentlog::StateInfo& info) {
  for (const Status& bypassed : info.bypassed) {
    std::cerr << "agentlog: warning: snapshot bypassed, folded from events instead: "
              << bypassed.ToString() << "\n";
  }
}

}  // namespace

Result<int64_t> ParseTime(const std::string& text) {
  auto refuse = [&] {
    return Status::InvalidArgument("time \"" + text.substr(0, 100) +
                                   "\" is neither microseconds since the epoch nor a UTC time like "
                                   "2026-11-22T14:02:00Z (or 2026-11-22T14:02:00.250Z)");
  };
  auto number = [](std::string_view digits, int64_t* value) {
    if (digits.empty() || digits.find_first_not_of("0123456789") != std::string_view::npos) return false;
    auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), *value);
    return error == std::errc() && end == digits.data() + digits.size();
  };
  int64_t micros = 0;
  if (number(text, &micros)) return micros;
  // YYYY-MM-DDTHH:MM:SS[.f{1,6}]Z, each field exactly its digits.
  const std::string_view view(text);
  if (view.size() < 20 || view[4] != '-' || view[7] != '-' || view[10] != 'T' || view[13] != ':' ||
      view[16] != ':' || view.back() != 'Z') {
    return refuse();
  }
  int64_t year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  if (!number(view.substr(0, 4), &year) || !number(view.substr(5, 2), &month) ||
      !number(view.substr(8, 2), &day) || !number(view.substr(11, 2), &hour) ||
      !number(view.substr(14, 2), &minute) || !number(view.substr(17, 2), &second)) {
    return refuse();
  }
  const std::string_view fraction = view.substr(19, view.size() - 20);
  if (!fraction.empty()) {
    if (fraction[0] != '.' || fraction.size() < 2 || fraction.size() > 7) return refuse();
    std::string padded(fraction.substr(1));
    padded.resize(6, '0');
    if (!number(padded, &micros)) return refuse();
  }
  std::tm tm{};
  tm.tm_year = static_cast<int>(year) - 1900;
  tm.tm_mon = static_cast<int>(month) - 1;
  tm.tm_mday = static_cast<int>(day);
  tm.tm_hour = static_cast<int>(hour);
  tm.tm_min = static_cast<int>(minute);
  tm.tm_sec = static_cast<int>(second);
  const std::tm asked = tm;
  const time_t seconds = timegm(&tm);
  // timegm normalizes (Feb 31 becomes Mar 3): a date that does not come
  // back unchanged does not exist.
  if (tm.tm_year != asked.tm_year || tm.tm_mon != asked.tm_mon || tm.tm_mday != asked.tm_mday ||
      tm.tm_hour != asked.tm_hour || tm.tm_min != asked.tm_min || tm.tm_sec != asked.tm_sec) {
    return refuse();
  }
  return static_cast<int64_t>(seconds) * 1'000'000 + micros;
}

int StateCommand(const std::string& db, const std::string& run, const StateAt& at, bool json) {
  if (agentlog::Status bad = CheckRunArgument(run, "RUN"); !bad.ok()) return Fail("state", bad);
  std::optional<int64_t> time_us;
  if (at.time.has_value()) {
    auto parsed = ParseTime(*at.time);
    if (!parsed.ok()) return Fail("state", parsed.status());
    time_us = *parsed;
  }
  auto store = OpenStoreToRead(db);
  if (!store.ok()) return Fail("state", store.status());
  auto projector = RunStateProjector(**store);
  agentlog::StateInfo info;
  auto compute = [&]() -> Result<std::unique_ptr<agentlog::ProjectionState>> {
    if (time_us.has_value()) {
      return projector->StateAtTime(run, agentlog::kRunStateProjectionName, *time_us, &info);
    }
    if (at.sequence.has_value()) {
      return projector->StateAt(run, agentlog::kRunStateProjectionName, *at.sequence, &info);
    }
    return projector->CurrentState(run, agentlog::kRunStateProjectionName, &info);
  };
  auto state = compute();
  if (!state.ok()) return Fail("state", state.status());
  ReportBypassed(info);
  const agentlog::RunState& run_state = agentlog::AsRunState(**state);
  if (json) {
    nlohmann::ordered_json out;
    out["run"] = run;
    out["sequence"] = info.sequence;
    out["projection"] = agentlog::kRunStateProjectionName;
    out["position"] = run_state.PositionSummary();
    out["snapshot_sequence"] = info.snapshot_sequence;
    out["events_folded"] = info.events_folded;
    nlohmann::ordered_json fields = nlohmann::ordered_json::object();
    for (const agentlog::StateField& field : (*state)->Fields()) fields[field.path] = field.value;
    out["fields"] = std::move(fields);
    std::cout << out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  } else {
    std::cout << "run " << run << " as of event " << info.sequence << ": " << run_state.PositionSummary()
              << "\n(from " << (info.snapshot_sequence == 0 ? std::string("no snapshot")
                                                             : "the snapshot at event " +
                                                                   std::to_string(info.snapshot_sequence))
              << ", " << info.events_folded << " events folded)\n";
    for (const agentlog::StateField& field : (*state)->Fields()) {
      std::cout << field.path << " = " << field.value << "\n";
    }
  }
  return kExitOk;
}

int DiffCommand(const std::string& db, const std::string& run, uint64_t from, uint64_t to, bool json) {
  if (agentlog::Status bad = CheckRunArgument(run, "RUN"); !bad.ok()) return Fail("diff", bad);
  auto store = OpenStoreToRead(db);
  if (!store.ok()) return Fail("diff", store.status());
  auto projector = RunStateProjector(**store);
  agentlog::StateInfo before_info, after_info;
  auto before = projector->StateAt(run, agentlog::kRunStateProjectionName, from, &before_info);
  if (!before.ok()) return Fail("diff", before.status());
  auto after = projector->StateAt(run, agentlog::kRunStateProjectionName, to, &after_info);
  if (!after.ok()) return Fail("diff", after.status());
  ReportBypassed(before_info);
  ReportBypassed(after_info);
  const std::vector<agentlog::FieldChange> changes = agentlog::Diff(**before, **after);
  if (json) {
    nlohmann::ordered_json out = nlohmann::ordered_json::array();
    for (const agentlog::FieldChange& change : changes) {
      nlohmann::ordered_json item;
      item["change"] = agentlog::FieldChangeKindName(change.kind);
      item["path"] = change.path;
      if (change.kind != agentlog::FieldChange::Kind::kAdded) item["before"] = change.before;
      if (change.kind != agentlog::FieldChange::Kind::kRemoved) item["after"] = change.after;
      out.push_back(std::move(item));
    }
    std::cout << out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    return kExitOk;
  }
  std::cout << "run " << run << ", event " << from << " -> event " << to << ": " << changes.size()
            << " fields changed\n";
  for (const agentlog::FieldChange& change : changes) {
    switch (change.kind) {
      case agentlog::FieldChange::Kind::kAdded:
        std::cout << "+ " << change.path << " = " << change.after << "\n";
        break;
      case agentlog::FieldChange::Kind::kRemoved:
        std::cout << "- " << change.path << " = " << change.before << "\n";
        break;
      case agentlog::FieldChange::Kind::kChanged:
        std::cout << "~ " << change.path << ": " << change.before << " -> " << change.after << "\n";
        break;
    }
  }
  return kExitOk;
}

int ForkCommand(const std::string& db, const std::string& run, uint64_t at_sequence,
                const std::string& new_run, const std::string& reason) {
  if (agentlog::Status bad = CheckRunArgument(run, "RUN"); !bad.ok()) return Fail("fork", bad);
  if (agentlog::Status bad = CheckRunArgument(new_run, "--as"); !bad.ok()) return Fail("fork", bad);
  auto store = OpenStoreToWrite(db, /*create=*/false);
  if (!store.ok()) return Fail("fork", store.status());
  agentlog::ForkOptions options;
  options.reason = reason;
  options.actor_id = "agentlog-cli";
  auto forked = (*store)->Fork(run, at_sequence, new_run, options);
  if (!forked.ok()) return Fail("fork", forked.status());
  std::cout << "forked " << run << " at event " << at_sequence << " as " << new_run
            << " (its RunForked event is " << forked->first_sequence << ")\n";
  return kExitOk;
}

}  // namespace agentlog_tools
