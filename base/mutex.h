// base/mutex.h: a mutex and condition variable that clang's
// -Wthread-safety analysis understands (as LevelDB's port::Mutex), so every
// GUARDED_BY is checked at compile time in clang builds. Waits are written
// as explicit loops, which the analysis can follow (lambdas it cannot).
#ifndef AGENTLOG_BASE_MUTEX_H_
#define AGENTLOG_BASE_MUTEX_H_

#include <chrono>
#include <condition_variable>
#include <mutex>

#if defined(__clang__)
#define AGENTLOG_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define AGENTLOG_THREAD_ANNOTATION(x)
#endif
#define CAPABILITY(x) AGENTLOG_THREAD_ANNOTATION(capability(x))
#define SCOPED_CAPABILITY AGENTLOG_THREAD_ANNOTATION(scoped_lockable)
#define GUARDED_BY(x) AGENTLOG_THREAD_ANNOTATION(guarded_by(x))
#define REQUIRES(...) AGENTLOG_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
#define ACQUIRE(...) AGENTLOG_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
#define RELEASE(...) AGENTLOG_THREAD_ANNOTATION(release_capability(__VA_ARGS__))
#define EXCLUDES(...) AGENTLOG_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))
#define ASSERT_CAPABILITY(x) AGENTLOG_THREAD_ANNOTATION(assert_capability(x))

namespace agentlog::internal {

class CAPABILITY("mutex") Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;
  void Lock() ACQUIRE() { mu_.lock(); }
  void Unlock() RELEASE() { mu_.unlock(); }
  // Documents (and tells the analysis) that the caller holds the lock.
  void AssertHeld() ASSERT_CAPABILITY(this) {}

 private:
  friend class CondVar;
  std::mutex mu_;
};

class SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex* mu) ACQUIRE(mu) : mu_(mu) { mu_->Lock(); }
  ~MutexLock() RELEASE() { mu_->Unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  Mutex* const mu_;
};

// Bound to one Mutex for life. Wait releases and re-takes it.
// REQUIRES for Wait and WaitUntil: the bound mutex is held (the analysis
// cannot name it through the member, as with LevelDB's port::CondVar).
class CondVar {
 public:
  explicit CondVar(Mutex* mu) : mu_(mu) {}
  void Wait() {
    std::unique_lock<std::mutex> lock(mu_->mu_, std::adopt_lock);
    cv_.wait(lock);
    lock.release();
  }
  // Returns false if the deadline passed.
  bool WaitUntil(std::chrono::steady_clock::time_point deadline) {
    std::unique_lock<std::mutex> lock(mu_->mu_, std::adopt_lock);
    const bool woken = cv_.wait_until(lock, deadline) == std::cv_status::no_timeout;
    lock.release();
    return woken;
  }
  void Signal() { cv_.notify_one(); }
  void SignalAll() { cv_.notify_all(); }

 private:
  Mutex* const mu_;
  std::condition_variable cv_;
};

}  // namespace agentlog::internal

#endif  // AGENTLOG_BASE_MUTEX_H_
