// base/assert.h: invariants that, when broken, mean a bug in agentlog.
//
// Operating errors (I/O, corruption, bad input) are Status values. A broken
// AGENTLOG_ASSERT is a programmer error: continuing could write a wrong
// record, so the process stops with the condition and where it failed.
#ifndef AGENTLOG_BASE_ASSERT_H_
#define AGENTLOG_BASE_ASSERT_H_

#include <cstdio>
#include <cstdlib>

namespace agentlog::internal {
[[noreturn]] inline void AssertFailed(const char* condition, const char* file, int line) {
  std::fprintf(stderr, "agentlog: invariant broken: %s at %s:%d\n", condition, file, line);
  std::abort();
}
}  // namespace agentlog::internal

#if defined(AGENTLOG_ASSERTS_ENABLED)
#define AGENTLOG_ASSERT(condition)                                                \
  do {                                                                           \
    if (!(condition)) ::agentlog::internal::AssertFailed(#condition, __FILE__, __LINE__); \
  } while (0)
#else
#define AGENTLOG_ASSERT(condition) \
  do {                             \
    (void)sizeof(condition);       \
  } while (0)
#endif

#endif  // AGENTLOG_BASE_ASSERT_H_
