// File: client/src/backoff.cc
//
// See backoff.h.
#include "client/src/backoff.h"

#include <algorithm>

namespace causeway::client::internal {

BackoffPolicy::BackoffPolicy(std::chrono::milliseconds initial, std::chrono::milliseconds max)
    : initial_(std::max(initial, std::chrono::milliseconds(1))),
      max_(std::max(max, std::max(initial, std::chrono::milliseconds(1)))) {}

std::chrono::milliseconds BackoffPolicy::ceiling(int attempt) const {
  int64_t step = initial_.count();
  for (int i = 0; i < attempt && step < max_.count(); ++i) step *= 2;  // stops before overflow
  return std::chrono::milliseconds(std::min<int64_t>(step, max_.count()));
}

std::chrono::milliseconds BackoffPolicy::delay(int attempt, std::mt19937_64& rng) const {
  const int64_t top = ceiling(attempt).count();
  const int64_t half = top / 2;
  std::uniform_int_distribution<int64_t> jitter(0, top - half);
  return std::chrono::milliseconds(half + jitter(rng));
}

}  // namespace causeway::client::internal
