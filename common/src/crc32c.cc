// CRC32C with an SSE4.2 fast path and a slicing-by-8 portable path; see crc32c.h.
#include "causeway/common/crc32c.h"

#include <array>
#include <cstring>

#if defined(__x86_64__) || defined(__i386__)
#include <nmmintrin.h>
#define CAUSEWAY_CRC32C_X86 1
#endif

namespace causeway::crc32c {
namespace {

constexpr uint32_t kPoly = 0x82F63B78u;

using Tables = std::array<std::array<uint32_t, 256>, 8>;

constexpr Tables make_tables() {
  Tables t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ kPoly : c >> 1;
    t[0][i] = c;
  }
  for (uint32_t i = 0; i < 256; ++i) {
    for (size_t s = 1; s < 8; ++s) t[s][i] = (t[s - 1][i] >> 8) ^ t[0][t[s - 1][i] & 0xff];
  }
  return t;
}

constexpr Tables kTables = make_tables();

inline uint64_t load_le64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

#if CAUSEWAY_CRC32C_X86
// The crc32 instruction has a latency of 3 cycles and a throughput of 1 per cycle, so one
// dependent stream runs at a third of the possible speed. Long inputs are cut into three
// blocks of kStripe bytes that are checksummed as independent streams and then merged:
// the raw (uninverted) CRC register is linear over GF(2), so
//   raw(c, A||B) = shift(raw(c, A), |B|) ^ raw(0, B)
// where shift(x, n) is the register after n zero bytes, itself linear in x and therefore a
// table lookup per byte of x (the idea behind zlib's crc32_combine).
constexpr size_t kStripe = 1024;

struct ShiftTables {
  std::array<std::array<uint32_t, 256>, 4> t{};
  uint32_t apply(uint32_t c) const {
    return t[0][c & 0xff] ^ t[1][(c >> 8) & 0xff] ^ t[2][(c >> 16) & 0xff] ^ t[3][c >> 24];
  }
};

ShiftTables make_shift_tables(size_t zero_bytes) {
  uint32_t bit_image[32];
  for (int i = 0; i < 32; ++i) {
    uint32_t c = 1u << i;
    for (size_t k = 0; k < zero_bytes; ++k) c = kTables[0][c & 0xff] ^ (c >> 8);
    bit_image[i] = c;
  }
  ShiftTables out;
  for (int byte = 0; byte < 4; ++byte) {
    for (uint32_t v = 0; v < 256; ++v) {
      uint32_t img = 0;
      for (int b = 0; b < 8; ++b)
        if (v & (1u << b)) img ^= bit_image[byte * 8 + b];
      out.t[byte][v] = img;
    }
  }
  return out;
}

const ShiftTables& stripe_shift() {
  static const ShiftTables tables = make_shift_tables(kStripe);
  return tables;
}

__attribute__((target("sse4.2"))) uint32_t extend_sse42(uint32_t crc, const uint8_t* p, size_t n) {
  uint64_t c = ~crc;
  while (n > 0 && (reinterpret_cast<uintptr_t>(p) & 7) != 0) {
    c = _mm_crc32_u8(static_cast<uint32_t>(c), *p++);
    --n;
  }
  if (n >= 3 * kStripe) {
    const ShiftTables& shift = stripe_shift();
    while (n >= 3 * kStripe) {
      uint64_t c1 = 0, c2 = 0;
      for (size_t i = 0; i < kStripe; i += 8) {
        uint64_t w0, w1, w2;
        std::memcpy(&w0, p + i, 8);
        std::memcpy(&w1, p + kStripe + i, 8);
        std::memcpy(&w2, p + 2 * kStripe + i, 8);
        c = _mm_crc32_u64(c, w0);
        c1 = _mm_crc32_u64(c1, w1);
        c2 = _mm_crc32_u64(c2, w2);
      }
      uint32_t merged = shift.apply(static_cast<uint32_t>(c)) ^ static_cast<uint32_t>(c1);
      merged = shift.apply(merged) ^ static_cast<uint32_t>(c2);
      c = merged;
      p += 3 * kStripe;
      n -= 3 * kStripe;
    }
  }
  while (n >= 8) {
    uint64_t word;
    std::memcpy(&word, p, 8);
    c = _mm_crc32_u64(c, word);
    p += 8;
    n -= 8;
  }
  while (n > 0) {
    c = _mm_crc32_u8(static_cast<uint32_t>(c), *p++);
    --n;
  }
  return ~static_cast<uint32_t>(c);
}

bool detect_sse42() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("sse4.2");
}
#endif

}  // namespace

uint32_t extend_portable(uint32_t init_crc, const void* data, size_t n) noexcept {
  const auto* p = static_cast<const uint8_t*>(data);
  uint32_t c = ~init_crc;
  while (n >= 8) {
    const uint64_t w = load_le64(p) ^ c;
    c = kTables[7][w & 0xff] ^ kTables[6][(w >> 8) & 0xff] ^ kTables[5][(w >> 16) & 0xff] ^
        kTables[4][(w >> 24) & 0xff] ^ kTables[3][(w >> 32) & 0xff] ^
        kTables[2][(w >> 40) & 0xff] ^ kTables[1][(w >> 48) & 0xff] ^ kTables[0][w >> 56];
    p += 8;
    n -= 8;
  }
  while (n > 0) {
    c = kTables[0][(c ^ *p++) & 0xff] ^ (c >> 8);
    --n;
  }
  return ~c;
}

bool is_hardware_accelerated() noexcept {
#if CAUSEWAY_CRC32C_X86
  static const bool has = detect_sse42();
  return has;
#else
  return false;
#endif
}

uint32_t extend(uint32_t init_crc, const void* data, size_t n) noexcept {
#if CAUSEWAY_CRC32C_X86
  if (is_hardware_accelerated()) return extend_sse42(init_crc, static_cast<const uint8_t*>(data), n);
#endif
  return extend_portable(init_crc, data, n);
}

}  // namespace causeway::crc32c
