// File: tests/fuzz/byte_mutator.cc
//
// See byte_mutator.h. The moves are a small subset of libFuzzer's own (MutationDispatcher):
// flip a bit, set a byte to an interesting value, overwrite an integer with an interesting
// one, insert or erase a run of bytes, copy a run inside the input.
#include "tests/fuzz/byte_mutator.h"

#include <algorithm>
#include <cstring>
#include <random>

namespace causeway::fuzz {
namespace {

std::mt19937_64& rng() {
  static std::mt19937_64 r(1);
  return r;
}

size_t below(size_t n) { return n == 0 ? 0 : static_cast<size_t>(rng()() % n); }

}  // namespace

void seed_byte_mutator(uint64_t seed) { rng().seed(seed); }

}  // namespace causeway::fuzz

extern "C" size_t LLVMFuzzerMutate(uint8_t* data, size_t size, size_t max_size) {
  using causeway::fuzz::below;
  if (max_size == 0) return 0;
  size = std::min(size, max_size);
  if (size == 0) {
    data[0] = static_cast<uint8_t>(below(256));
    return 1;
  }
  static constexpr uint64_t kInteresting[] = {0,          1,          0x7f,       0x80,       0xff,
                                              0x7fff,     0x8000,     0xffff,     0x7fffffff, 0x80000000,
                                              0xffffffff, 0x100000000, ~uint64_t{0}, ~uint64_t{0} - 1};
  switch (below(6)) {
    case 0:
      data[below(size)] ^= static_cast<uint8_t>(1u << below(8));
      break;
    case 1:
      data[below(size)] = static_cast<uint8_t>(kInteresting[below(std::size(kInteresting))]);
      break;
    case 2: {  // a little-endian integer of 2, 4 or 8 bytes
      const size_t width = size_t{2} << below(3);
      if (width > size) break;
      const uint64_t v = kInteresting[below(std::size(kInteresting))];
      const size_t at = below(size - width + 1);
      for (size_t i = 0; i < width; ++i) data[at + i] = static_cast<uint8_t>(v >> (8 * i));
      break;
    }
    case 3: {  // insert up to 8 bytes
      const size_t n = std::min<size_t>(1 + below(8), max_size - size);
      if (n == 0) break;
      const size_t at = below(size + 1);
      std::memmove(data + at + n, data + at, size - at);
      for (size_t i = 0; i < n; ++i) data[at + i] = static_cast<uint8_t>(below(256));
      size += n;
      break;
    }
    case 4: {  // erase up to 8 bytes, keeping at least one
      if (size < 2) break;
      const size_t n = std::min<size_t>(1 + below(8), size - 1);
      const size_t at = below(size - n + 1);
      std::memmove(data + at, data + at + n, size - at - n);
      size -= n;
      break;
    }
    default: {  // copy a run over another place
      const size_t n = 1 + below(std::min<size_t>(size, 16));
      const size_t from = below(size - n + 1);
      const size_t to = below(size - n + 1);
      std::memmove(data + to, data + from, n);
      break;
    }
  }
  return size;
}
