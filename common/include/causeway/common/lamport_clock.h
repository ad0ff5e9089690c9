// File: causeway/common/lamport_clock.h
//
// A Lamport clock (DESIGN.md, "Lamport timestamps"). The broker keeps one; every client
// keeps one. Stamping an event sets clock = max(clock, observed) + 1 and returns it, as one
// atomic step, so concurrent stampers never hand out the same value and every stamp is
// above everything the clock has seen. Thread-safe and lock-free.
#pragma once

#include <atomic>
#include <cstdint>

namespace causeway {

class LamportClock {
 public:
  explicit LamportClock(uint64_t start = 0) noexcept : value_(start) {}

  // The current value (the highest stamp issued or observed).
  uint64_t now() const noexcept { return value_.load(std::memory_order_acquire); }

  // Issues a stamp for a new event that causally follows `observed` (the sender's clock;
  // 0 when there is none): L = max(clock, observed) + 1, and the clock becomes L.
  uint64_t tick(uint64_t observed = 0) noexcept {
    uint64_t cur = value_.load(std::memory_order_relaxed);
    for (;;) {
      const uint64_t next = (cur > observed ? cur : observed) + 1;
      if (value_.compare_exchange_weak(cur, next, std::memory_order_acq_rel,
                                       std::memory_order_relaxed)) {
        return next;
      }
    }
  }

  // Issues `n` consecutive stamps at once (for a batch) and returns the first; the batch's
  // events get first, first+1, ..., first+n-1. n must be >= 1.
  uint64_t tick_n(uint64_t observed, uint64_t n) noexcept {
    uint64_t cur = value_.load(std::memory_order_relaxed);
    for (;;) {
      const uint64_t first = (cur > observed ? cur : observed) + 1;
      if (value_.compare_exchange_weak(cur, first + n - 1, std::memory_order_acq_rel,
                                       std::memory_order_relaxed)) {
        return first;
      }
    }
  }

  // Merges a stamp seen elsewhere (an ack, a delivered event, recovery): clock = max(clock, seen).
  void observe(uint64_t seen) noexcept {
    uint64_t cur = value_.load(std::memory_order_relaxed);
    while (cur < seen &&
           !value_.compare_exchange_weak(cur, seen, std::memory_order_acq_rel,
                                         std::memory_order_relaxed)) {
    }
  }

 private:
  std::atomic<uint64_t> value_;
};

}  // namespace causeway
