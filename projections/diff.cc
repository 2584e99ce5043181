// projections/diff.cc: Diff over two states' sorted field lists.
#include "agentlog/projection.h"

namespace agentlog {

std::string_view FieldChangeKindName(FieldChange::Kind kind) {
  switch (kind) {
    case FieldChange::Kind::kAdded: return "added";
    case FieldChange::Kind::kRemoved: return "removed";
    case FieldChange::Kind::kChanged: return "changed";
  }
  return "unknown";
}

std::vector<FieldChange> Diff(const ProjectionState& before, const ProjectionState& after) {
  // Fields() is sorted by path with each path once (projection.h), so one
  // merge pass lines the two lists up.
  const std::vector<StateField> a = before.Fields();
  const std::vector<StateField> b = after.Fields();
  std::vector<FieldChange> changes;
  size_t i = 0, j = 0;
  while (i < a.size() || j < b.size()) {
    if (j == b.size() || (i < a.size() && a[i].path < b[j].path)) {
      changes.push_back({FieldChange::Kind::kRemoved, a[i].path, a[i].value, {}});
      ++i;
    } else if (i == a.size() || b[j].path < a[i].path) {
      changes.push_back({FieldChange::Kind::kAdded, b[j].path, {}, b[j].value});
      ++j;
    } else {
      if (a[i].value != b[j].value) {
        changes.push_back({FieldChange::Kind::kChanged, a[i].path, a[i].value, b[j].value});
      }
      ++i;
      ++j;
    }
  }
  return changes;
}

}  // namespace agentlog
