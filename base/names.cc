// base/names.cc: see base/names.h.
#include "base/names.h"

#include <cstdio>

#include <flatbuffers/util.h>

#include "agentlog/options.h"

namespace agentlog::internal {
namespace {

bool IsNameChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == ':' || c == '-';
}

std::string Printable(std::string_view text) {
  std::string out;
  for (char c : text.substr(0, 64)) {
    const unsigned char byte = static_cast<unsigned char>(c);
    if (byte >= 0x20 && byte < 0x7f && c != '"' && c != '\\') {
      out.push_back(c);
    } else {
      char escaped[8];
      std::snprintf(escaped, sizeof(escaped), "\\x%02x", byte);
      out += escaped;
    }
  }
  if (text.size() > 64) out += "...";
  return out;
}

}  // namespace

Status ValidateName(std::string_view name, std::string_view what) {
  if (name.empty()) return Status::InvalidArgument(std::string(what) + " is empty");
  if (name.size() > kMaxRunIdBytes) {
    return Status::LimitExceeded(std::string(what) + " \"" + Printable(name) + "\" is " +
                                 std::to_string(name.size()) + " bytes; the limit is " +
                                 std::to_string(kMaxRunIdBytes));
  }
  for (size_t i = 0; i < name.size(); ++i) {
    if (!IsNameChar(name[i])) {
      return Status::InvalidArgument(std::string(what) + " \"" + Printable(name) +
                                     "\" has a byte not allowed at offset " + std::to_string(i) +
                                     "; allowed: A-Z a-z 0-9 . _ : -");
    }
  }
  return Status::OK();
}

std::string RunName(std::string_view run_id) { return "run \"" + std::string(run_id) + "\""; }

std::string RecordName(std::string_view run_id, uint64_t sequence) {
  std::string name = "run \"";
  name.append(run_id);
  name += "\" event ";
  name += std::to_string(sequence);
  return name;
}

Status ValidateText(const std::string& value, const std::string& what) {
  if (value.find('\0') != std::string::npos) return Status::InvalidArgument(what + " contains a NUL byte");
  // REQUIRES of FromUTF8: a NUL-terminated buffer (it may look one byte on).
  const char* cursor = value.c_str();
  const char* const end = cursor + value.size();
  while (cursor < end) {
    const char* const start = cursor;
    if (flatbuffers::FromUTF8(&cursor) < 0 || cursor > end) {
      return Status::InvalidArgument(what + " is not valid UTF-8 at byte " +
                                     std::to_string(start - value.c_str()));
    }
  }
  return Status::OK();
}

}  // namespace agentlog::internal
