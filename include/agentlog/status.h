// agentlog/status.h: errors as values.
//
// A Status is OK or one of a closed set of codes an embedder can switch on,
// with a message a person can act on ("run \"deploy-42\" event 4812: ...").
// OK holds no allocation, so success costs nothing. Both Status and Result<T>
// are [[nodiscard]]: dropping one on purpose takes IgnoreError() and a comment
// saying why.
#ifndef AGENTLOG_STATUS_H_
#define AGENTLOG_STATUS_H_

#include <cassert>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "agentlog/export.h"

namespace agentlog {

// Stable numbers: they cross process boundaries (exit codes, bindings).
// Never renumber; append new codes at the end.
enum class Code : int {
  kOk = 0,
  kNotFound = 1,         // the run, event or key does not exist
  kConflict = 2,         // expected head did not match; idempotency key reused differently
  kFenced = 3,           // the lease epoch presented is stale
  kCorruption = 4,       // stored bytes failed a check; the message names run and sequence
  kInvalidArgument = 5,  // the input was refused before anything was written
  kIOError = 6,          // the file system failed; nothing acknowledged was lost
  kBusy = 7,             // a bound was reached (queue, subscriptions); retry later
  kLimitExceeded = 8,    // an input exceeds a documented size limit
  kClosed = 9,           // the store is closed or stopped after a failed write
};

// The code's name, e.g. "Corruption".
AGENTLOG_EXPORT std::string_view CodeName(Code code);

class [[nodiscard]] AGENTLOG_EXPORT Status {
 public:
  Status() = default;  // OK
  Status(const Status& other)
      : state_(other.state_ ? std::make_unique<State>(*other.state_) : nullptr) {}
  Status& operator=(const Status& other) {
    if (this != &other) {
      state_ = other.state_ ? std::make_unique<State>(*other.state_) : nullptr;
    }
    return *this;
  }
  Status(Status&&) noexcept = default;
  Status& operator=(Status&&) noexcept = default;

  static Status OK() { return Status(); }
  static Status NotFound(std::string message) { return Status(Code::kNotFound, std::move(message)); }
  static Status Conflict(std::string message) { return Status(Code::kConflict, std::move(message)); }
  static Status Fenced(std::string message) { return Status(Code::kFenced, std::move(message)); }
  static Status Corruption(std::string message) { return Status(Code::kCorruption, std::move(message)); }
  static Status InvalidArgument(std::string message) {
    return Status(Code::kInvalidArgument, std::move(message));
  }
  static Status IOError(std::string message) { return Status(Code::kIOError, std::move(message)); }
  static Status Busy(std::string message) { return Status(Code::kBusy, std::move(message)); }
  static Status LimitExceeded(std::string message) {
    return Status(Code::kLimitExceeded, std::move(message));
  }
  static Status Closed(std::string message) { return Status(Code::kClosed, std::move(message)); }

  bool ok() const { return state_ == nullptr; }
  Code code() const { return state_ ? state_->code : Code::kOk; }
  bool IsNotFound() const { return code() == Code::kNotFound; }
  bool IsConflict() const { return code() == Code::kConflict; }
  bool IsFenced() const { return code() == Code::kFenced; }
  bool IsCorruption() const { return code() == Code::kCorruption; }
  bool IsInvalidArgument() const { return code() == Code::kInvalidArgument; }
  bool IsIOError() const { return code() == Code::kIOError; }
  bool IsBusy() const { return code() == Code::kBusy; }
  bool IsLimitExceeded() const { return code() == Code::kLimitExceeded; }
  bool IsClosed() const { return code() == Code::kClosed; }

  // The message alone; empty for OK.
  const std::string& message() const;
  // "Corruption: run \"r\" event 3: ..." or "OK".
  std::string ToString() const;

  // Marks a deliberately dropped error; grep for it.
  void IgnoreError() const {}

 private:
  struct State {
    Code code;
    std::string message;
  };
  Status(Code code, std::string message)
      : state_(std::make_unique<State>(State{code, std::move(message)})) {}
  std::unique_ptr<State> state_;
};

// A value or an error. REQUIRES: value() only when ok().
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : status_(std::move(status)) {  // NOLINT
    assert(!status_.ok() && "a Result built from a Status must carry an error");
  }

  bool ok() const { return status_.ok(); }
  const Status& status() const { return status_; }
  T& value() & {
    assert(ok());
    return *value_;
  }
  const T& value() const& {
    assert(ok());
    return *value_;
  }
  T&& value() && {
    assert(ok());
    return std::move(*value_);
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  Status status_;
  std::optional<T> value_;
};

}  // namespace agentlog

#endif  // AGENTLOG_STATUS_H_
