// base/names.h: the checks of names and text that every layer applies to
// what it is given (run, session, worker and projection names; ids and
// reasons people read), so that each refuses bad input the same way.
#ifndef AGENTLOG_BASE_NAMES_H_
#define AGENTLOG_BASE_NAMES_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "agentlog/status.h"

namespace agentlog::internal {

// [A-Za-z0-9._:-]{1,kMaxRunIdBytes}. `what` is "run id" or "session id".
Status ValidateName(std::string_view name, std::string_view what);

// "run \"deploy-42\"", for messages.
std::string RunName(std::string_view run_id);
// "run \"r1\" event 7", for messages.
std::string RecordName(std::string_view run_id, uint64_t sequence);

// Text people read (ids, reasons): no NUL, valid UTF-8. `what` names the
// value in the message. Length limits are the caller's.
Status ValidateText(const std::string& value, const std::string& what);

}  // namespace agentlog::internal

#endif  // AGENTLOG_BASE_NAMES_H_
