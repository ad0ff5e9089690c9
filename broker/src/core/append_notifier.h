// File: core/append_notifier.h
//
// A hook that tells interested parties (the subscription coordinator) that a partition has
// grown. core::EventStore::append calls notify() once per successful append, after the
// topic's durability is met, so a listener never learns of an event that a publisher
// could not yet rely on. docs/subscriptions.md, "Waking consumers".
//
// Thread-safety: set() and notify() may be called from any thread; the listener runs on
// the thread that completes the append (a sync thread, or a network thread for `os`
// topics) and must not block or call back into the store's append.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string_view>

namespace causeway::core {

class AppendNotifier {
 public:
  // topic name, partition, the partition's new end offset (one past the last appended).
  using Listener = std::function<void(std::string_view topic, uint32_t partition, uint64_t end_offset)>;

  // Replaces the listener; an empty one removes it. When a listener is replaced, waits
  // for the notifications already running it to return, so that after set(nullptr) the
  // old listener (and whatever it points to) is never called again and may be destroyed.
  // Must not be called from inside a listener (it would wait for itself).
  void set(Listener listener) {
    auto p = listener ? std::make_shared<const Listener>(std::move(listener)) : nullptr;
    std::unique_lock lk(mu_);
    const bool replacing = listener_ != nullptr;
    listener_ = std::move(p);
    ++generation_;
    const uint64_t last_old = generation_ - 1;
    if (replacing) idle_.wait(lk, [&] { return running_.empty() || running_.begin()->first > last_old; });
  }

  void notify(std::string_view topic, uint32_t partition, uint64_t end_offset) const {
    std::shared_ptr<const Listener> l;
    uint64_t generation = 0;
    {
      std::lock_guard lk(mu_);
      if (!listener_) return;
      l = listener_;
      generation = generation_;
      ++running_[generation];
    }
    struct Done {
      const AppendNotifier& n;
      uint64_t generation;
      ~Done() {
        std::lock_guard lk(n.mu_);
        if (--n.running_[generation] == 0) n.running_.erase(generation);
        n.idle_.notify_all();
      }
    } done{*this, generation};
    (*l)(topic, partition, end_offset);
  }

 private:
  mutable std::mutex mu_;  // guards the members below
  std::shared_ptr<const Listener> listener_;
  uint64_t generation_ = 0;  // bumped by every set()
  mutable std::map<uint64_t, uint32_t> running_;  // generation -> notifications running its listener
  mutable std::condition_variable idle_;          // a notification finished
};

}  // namespace causeway::core
