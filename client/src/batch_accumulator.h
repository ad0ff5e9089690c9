// File: client/src/batch_accumulator.h
//
// Per-topic batching for the Publisher (DESIGN.md, "Data flow": linger + max batch). Items
// of one topic collect in an open batch that is sealed when its size would pass
// max_batch_bytes, when it holds max_batch_events, or when its linger (counted from its
// first item) expires. Pure and single-threaded (the publisher drives it from its network
// thread); tested in tests/unit/client/batch_accumulator_test.cc.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace causeway::client::internal {

template <typename Item>
class BatchAccumulator {
 public:
  using Clock = std::chrono::steady_clock;

  struct Batch {
    std::string topic;
    std::vector<Item> items;
    std::size_t bytes = 0;
  };

  BatchAccumulator(std::size_t max_batch_bytes, std::size_t max_batch_events,
                   std::chrono::microseconds linger)
      : max_bytes_(std::max<std::size_t>(max_batch_bytes, 1)),
        max_events_(std::max<std::size_t>(max_batch_events, 1)),
        linger_(linger) {}

  // Adds an item of `bytes` estimated size. Returns the batches sealed by this call, in
  // order: the topic's open batch if the item does not fit with it, and the item's own batch
  // if it is full (or linger is zero). An item larger than max_batch_bytes travels alone.
  std::vector<Batch> add(const std::string& topic, Item item, std::size_t bytes, Clock::time_point now) {
    std::vector<Batch> sealed;
    auto it = open_.find(topic);
    if (it != open_.end() && it->second.batch.bytes + bytes > max_bytes_) {
      sealed.push_back(std::move(it->second.batch));
      open_.erase(it);
      it = open_.end();
    }
    if (it == open_.end()) {
      it = open_.emplace(topic, Open{Batch{topic, {}, 0}, now + linger_}).first;
    }
    it->second.batch.items.push_back(std::move(item));
    it->second.batch.bytes += bytes;
    if (it->second.batch.bytes >= max_bytes_ || it->second.batch.items.size() >= max_events_ ||
        linger_ <= std::chrono::microseconds::zero()) {
      sealed.push_back(std::move(it->second.batch));
      open_.erase(it);
    }
    return sealed;
  }

  // Seals and returns the batches whose linger has expired at `now`.
  std::vector<Batch> take_expired(Clock::time_point now) {
    std::vector<Batch> sealed;
    for (auto it = open_.begin(); it != open_.end();) {
      if (it->second.deadline <= now) {
        sealed.push_back(std::move(it->second.batch));
        it = open_.erase(it);
      } else {
        ++it;
      }
    }
    return sealed;
  }

  // Seals and returns every open batch (flush, close).
  std::vector<Batch> take_all() {
    std::vector<Batch> sealed;
    for (auto& [topic, open] : open_) sealed.push_back(std::move(open.batch));
    open_.clear();
    return sealed;
  }

  // The earliest linger deadline among open batches.
  std::optional<Clock::time_point> next_deadline() const {
    std::optional<Clock::time_point> next;
    for (const auto& [topic, open] : open_) {
      if (!next || open.deadline < *next) next = open.deadline;
    }
    return next;
  }

  bool empty() const { return open_.empty(); }

 private:
  struct Open {
    Batch batch;
    Clock::time_point deadline;
  };
  std::size_t max_bytes_;
  std::size_t max_events_;
  std::chrono::microseconds linger_;
  std::map<std::string, Open> open_;  // by topic
};

}  // namespace causeway::client::internal
