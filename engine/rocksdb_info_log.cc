// engine/rocksdb_info_log.cc: see engine/rocksdb_info_log.h.
#include "engine/rocksdb_info_log.h"

#include <cstdarg>
#include <cstdio>
#include <ctime>
#include <mutex>

#include <rocksdb/env.h>
#include <rocksdb/file_system.h>

namespace agentlog::internal {
namespace {

constexpr size_t kMaxLineBytes = 64 * 1024;

class InfoLog final : public rocksdb::Logger {
 public:
  // `bytes` already in the file (an old LOG appended to).
  InfoLog(std::unique_ptr<rocksdb::FSWritableFile> file, size_t bytes, Clock* clock)
      : rocksdb::Logger(rocksdb::InfoLogLevel::INFO_LEVEL), file_(std::move(file)), bytes_(bytes), clock_(clock) {}
  ~InfoLog() override {
    if (!closed_) CloseImpl().PermitUncheckedError();  // destructor: nobody to tell
  }

  using rocksdb::Logger::Logv;
  void Logv(const char* format, va_list ap) override {
    std::string line = Stamp();
    char buffer[kMaxLineBytes];
    va_list copy;
    va_copy(copy, ap);
    const int written = std::vsnprintf(buffer, sizeof(buffer), format, copy);
    va_end(copy);
    if (written < 0) return;
    line.append(buffer, std::min<size_t>(static_cast<size_t>(written), sizeof(buffer) - 1));
    if (line.back() != '\n') line.push_back('\n');
    std::lock_guard<std::mutex> lock(mu_);
    if (file_ == nullptr || bytes_ + line.size() > kMaxInfoLogBytes) return;
    // A line the disk refuses is dropped; the next one tries again.
    if (file_->Append(rocksdb::Slice(line), rocksdb::IOOptions(), nullptr).ok()) bytes_ += line.size();
  }

 protected:
  rocksdb::Status CloseImpl() override {
    std::lock_guard<std::mutex> lock(mu_);
    if (file_ != nullptr) file_->Close(rocksdb::IOOptions(), nullptr).PermitUncheckedError();  // a log line may be lost
    file_.reset();
    return rocksdb::Status::OK();
  }

 private:
  std::string Stamp() const {
    const int64_t now_us = clock_->NowMicros();
    const std::time_t seconds = static_cast<std::time_t>(now_us / 1'000'000);
    std::tm utc{};
    gmtime_r(&seconds, &utc);
    char stamp[64];
    std::snprintf(stamp, sizeof(stamp), "%04d/%02d/%02d-%02d:%02d:%02d.%06d ", utc.tm_year + 1900,
                  utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec,
                  static_cast<int>(now_us % 1'000'000 < 0 ? 0 : now_us % 1'000'000));
    return stamp;
  }

  std::mutex mu_;
  std::unique_ptr<rocksdb::FSWritableFile> file_;  // null: every line is dropped
  size_t bytes_ = 0;
  Clock* const clock_;
};

class DiscardingInfoLog final : public rocksdb::Logger {
 public:
  DiscardingInfoLog() : rocksdb::Logger(rocksdb::InfoLogLevel::HEADER_LEVEL) {}
  using rocksdb::Logger::Logv;
  void Logv(const char*, va_list) override {}
};

}  // namespace

std::shared_ptr<rocksdb::Logger> OpenInfoLog(rocksdb::FileSystem* fs, const std::string& dir, Clock* clock) {
  const std::string path = dir + "/LOG";
  // Keep one previous log. If the rename fails (a full or read-only disk),
  // append to the old LOG rather than lose it.
  std::unique_ptr<rocksdb::FSWritableFile> file;
  rocksdb::IOStatus status;
  uint64_t bytes = 0;
  if (fs->FileExists(path, rocksdb::IOOptions(), nullptr).ok() &&
      !fs->RenameFile(path, path + ".old", rocksdb::IOOptions(), nullptr).ok()) {
    // What it holds counts against kMaxInfoLogBytes; if its size cannot
    // be told, nothing more is written to it.
    status = fs->GetFileSize(path, rocksdb::IOOptions(), &bytes, nullptr);
    if (!status.ok()) bytes = kMaxInfoLogBytes;
    status = fs->ReopenWritableFile(path, rocksdb::FileOptions(), &file, nullptr);
  } else {
    status = fs->NewWritableFile(path, rocksdb::FileOptions(), &file, nullptr);
  }
  if (!status.ok()) file.reset();
  return std::make_shared<InfoLog>(std::move(file), static_cast<size_t>(bytes), clock);
}

std::shared_ptr<rocksdb::Logger> NewDiscardingInfoLog() { return std::make_shared<DiscardingInfoLog>(); }

}  // namespace agentlog::internal
