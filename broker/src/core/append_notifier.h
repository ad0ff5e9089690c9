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

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string_view>

namespace causeway::core {

class AppendNotifier {
 public:
  // topic name, partition, the partition's new end offset (one past the last appended).
  using Listener = std::function<void(std::string_view topic, uint32_t partition, uint64_t end_offset)>;

  // Replaces the listener; an empty one removes it.
  void set(Listener listener) {
    auto p = listener ? std::make_shared<const Listener>(std::move(listener)) : nullptr;
    std::lock_guard lk(mu_);
    listener_ = std::move(p);
  }

  void notify(std::string_view topic, uint32_t partition, uint64_t end_offset) const {
    std::shared_ptr<const Listener> l;
    {
      std::lock_guard lk(mu_);
      l = listener_;
    }
    if (l) (*l)(topic, partition, end_offset);
  }

 private:
  mutable std::mutex mu_;  // guards listener_
  std::shared_ptr<const Listener> listener_;
};

}  // namespace causeway::core
