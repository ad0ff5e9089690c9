// File: client/src/dedup_key.cc
//
// See dedup_key.h.
#include "client/src/dedup_key.h"

#include <cstdint>
#include <random>

namespace causeway::client::internal {

std::string make_dedup_key() {
  thread_local std::mt19937_64 rng = [] {
    std::random_device device;
    std::seed_seq seed{device(), device(), device(), device(), device(), device(), device(), device()};
    return std::mt19937_64(seed);
  }();
  static constexpr char kHex[] = "0123456789abcdef";
  std::string key;
  key.reserve(32);
  for (int word = 0; word < 2; ++word) {
    uint64_t bits = rng();
    for (int i = 0; i < 16; ++i) {
      key.push_back(kHex[bits & 0xF]);
      bits >>= 4;
    }
  }
  return key;
}

}  // namespace causeway::client::internal
