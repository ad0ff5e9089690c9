// File: server/log_throttle.h
//
// LogThrottle: at most one log line per key (a peer address) per interval, with a count
// of what was left out. Hostile or broken clients can send bad frames as fast as they can
// open connections; logging each one cost ~1.5 MB of log per two minutes of garbage.
// Keys are bounded (the least recently logged key is forgotten first), so the throttle
// cannot itself be grown without bound by many addresses.
//
// Thread-safe (one mutex; called only on errors, never on the request path).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>

namespace causeway::server {

class LogThrottle {
 public:
  using Clock = std::chrono::steady_clock;

  explicit LogThrottle(Clock::duration interval, size_t max_keys = 1024) : interval_(interval), max_keys_(max_keys) {}

  // Whether to log an event for `key` now. When it says yes, the value is how many events
  // of that key were left out since its last line (0 for the first); nullopt means leave
  // this one out (it is counted).
  std::optional<uint64_t> admit(const std::string& key, Clock::time_point now = Clock::now()) {
    std::lock_guard lk(mu_);
    auto it = keys_.find(key);
    if (it == keys_.end()) {
      if (keys_.size() >= max_keys_) evict_oldest_locked();
      keys_.emplace(key, Entry{now, 0});
      return uint64_t{0};
    }
    Entry& e = it->second;
    if (now - e.logged_at < interval_) {
      ++e.suppressed;
      return std::nullopt;
    }
    const uint64_t left_out = e.suppressed;
    e = Entry{now, 0};
    return left_out;
  }

 private:
  struct Entry {
    Clock::time_point logged_at;
    uint64_t suppressed = 0;
  };

  void evict_oldest_locked() {
    auto oldest = keys_.begin();
    for (auto it = keys_.begin(); it != keys_.end(); ++it)
      if (it->second.logged_at < oldest->second.logged_at) oldest = it;
    keys_.erase(oldest);
  }

  const Clock::duration interval_;
  const size_t max_keys_;
  std::mutex mu_;  // guards keys_
  std::map<std::string, Entry> keys_;
};

}  // namespace causeway::server
