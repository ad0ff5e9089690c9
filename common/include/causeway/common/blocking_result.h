// File: causeway/common/blocking_result.h
//
// The blocking form of an asynchronous call: hand the call a callback, then wait for the
// value that callback receives. The broker's blocking APIs (PartitionLog::append and
// sync, EventStore::append, PublishPipeline::publish) are each their async form plus this.
//
// Thread-safety: the callback may run on any thread, before or after wait() starts, and
// must run exactly once; wait() is called by one thread. The BlockingResult must outlive
// the callback's run, which wait() guarantees when it is called on every path.
#pragma once

#include <condition_variable>
#include <mutex>
#include <optional>
#include <utility>

namespace causeway {

template <typename T>
class BlockingResult {
 public:
  BlockingResult() = default;
  BlockingResult(const BlockingResult&) = delete;
  BlockingResult& operator=(const BlockingResult&) = delete;

  // Stores the value and wakes wait().
  void set(T value) {
    std::lock_guard lk(mu_);
    value_.emplace(std::move(value));
    // Notified under the lock: wait() cannot return, and the caller destroy *this,
    // before this call is done with it.
    ready_.notify_one();
  }

  // A callback that calls set(); it refers to *this.
  auto callback() {
    return [this](T value) { set(std::move(value)); };
  }

  // Blocks until set() has run; returns the value.
  T wait() {
    std::unique_lock lk(mu_);
    ready_.wait(lk, [this] { return value_.has_value(); });
    return std::move(*value_);
  }

 private:
  std::mutex mu_;  // guards value_
  std::condition_variable ready_;
  std::optional<T> value_;
};

// Calls start(callback) and blocks until the callback has been called; returns what it
// was given. `start` passes the callback to the asynchronous call it makes.
template <typename T, typename Start>
T wait_for_callback(Start&& start) {
  BlockingResult<T> result;
  std::forward<Start>(start)(result.callback());
  return result.wait();
}

}  // namespace causeway
