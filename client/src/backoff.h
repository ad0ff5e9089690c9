// File: client/src/backoff.h
//
// Reconnect backoff: exponential growth from `initial` to `max`, with "equal jitter" (half
// the step fixed, half random) so that many clients cut off together do not reconnect in
// lockstep. Pure; tested in tests/unit/client/backoff_test.cc.
#pragma once

#include <chrono>
#include <cstdint>
#include <random>

namespace causeway::client::internal {

class BackoffPolicy {
 public:
  BackoffPolicy(std::chrono::milliseconds initial, std::chrono::milliseconds max);

  // The ceiling for attempt n (0-based): min(max, initial * 2^n). Never below 1 ms.
  std::chrono::milliseconds ceiling(int attempt) const;
  // A delay in [ceiling/2, ceiling] for attempt n.
  std::chrono::milliseconds delay(int attempt, std::mt19937_64& rng) const;

 private:
  std::chrono::milliseconds initial_;
  std::chrono::milliseconds max_;
};

}  // namespace causeway::client::internal
