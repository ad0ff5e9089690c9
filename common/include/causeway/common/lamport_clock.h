// File: causeway/common/lamport_clock.h
//
// A Lamport clock (DESIGN.md, "Lamport timestamps"). The broker keeps one; every client
// keeps one. Stamping an event sets clock = max(clock, observed) + 1 and returns it, as one
// atomic step, so concurrent stampers never hand out the same value and every stamp is
// above everything the clock has seen. Thread-safe and lock-free.
//
// Bounds (docs/wire-protocol.md, "Lamport clocks"): no stamp is ever above kMaxLamport, so
// stamp arithmetic cannot wrap and a clock never goes backwards. The broker takes a
// client's clock only up to kMaxClientLamport (or up to its own clock, which a client may
// echo), which leaves about 2^62 stamps of room above any clock a client can push the
// broker to: one stamp per event, so a hostile client cannot use the room up.
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>

namespace causeway {

// The largest Lamport stamp a client may send (with a publish) or observe into its clock.
inline constexpr uint64_t kMaxClientLamport = uint64_t{1} << 62;
// The largest stamp a clock ever issues; a tick that would go above it is refused.
inline constexpr uint64_t kMaxLamport = (uint64_t{1} << 63) - 1;

class LamportClock {
 public:
  explicit LamportClock(uint64_t start = 0) noexcept : value_(start) {}

  // The current value (the highest stamp issued or observed).
  uint64_t now() const noexcept { return value_.load(std::memory_order_acquire); }

  // Issues a stamp for a new event that causally follows `observed` (the sender's clock;
  // 0 when there is none): L = max(clock, observed) + 1, and the clock becomes L.
  // nullopt, with the clock unchanged, if L would be above kMaxLamport.
  std::optional<uint64_t> tick(uint64_t observed = 0) noexcept { return tick_n(observed, 1); }

  // Issues `n` consecutive stamps at once (for a batch) and returns the first; the batch's
  // events get first, first+1, ..., first+n-1. nullopt, with the clock unchanged, if n is 0
  // or first+n-1 would be above kMaxLamport.
  std::optional<uint64_t> tick_n(uint64_t observed, uint64_t n) noexcept {
    if (n == 0 || n > kMaxLamport) return std::nullopt;
    uint64_t cur = value_.load(std::memory_order_relaxed);
    for (;;) {
      const uint64_t base = cur > observed ? cur : observed;
      if (base > kMaxLamport - n) return std::nullopt;  // base + n would pass the bound
      const uint64_t first = base + 1;
      if (value_.compare_exchange_weak(cur, base + n, std::memory_order_acq_rel, std::memory_order_relaxed)) {
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
