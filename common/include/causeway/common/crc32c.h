// File: causeway/common/crc32c.h
//
// CRC32C (Castagnoli, reflected polynomial 0x82F63B78), as used by iSCSI, ext4 and Kafka.
// Uses the SSE4.2 crc32 instruction when the CPU has it (checked once at run time) and a
// slicing-by-8 table otherwise; both give identical results. Thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace causeway::crc32c {

// Returns the CRC32C of concat(A, data[0,n)) where init_crc is the CRC32C of A.
uint32_t extend(uint32_t init_crc, const void* data, size_t n) noexcept;

inline uint32_t value(const void* data, size_t n) noexcept { return extend(0, data, n); }
inline uint32_t value(std::string_view s) noexcept { return extend(0, s.data(), s.size()); }

// True when the hardware path is in use (for benchmarks and logs).
bool is_hardware_accelerated() noexcept;

// The portable path, exposed so tests can check it against the hardware path.
uint32_t extend_portable(uint32_t init_crc, const void* data, size_t n) noexcept;

// Stored CRCs are masked: a CRC computed over data that itself contains embedded CRCs is
// weak, so what we store is rotated and offset (the scheme leveldb and Snappy use).
inline constexpr uint32_t kMaskDelta = 0xa282ead8u;
inline constexpr uint32_t mask(uint32_t crc) noexcept {
  return ((crc >> 15) | (crc << 17)) + kMaskDelta;
}
inline constexpr uint32_t unmask(uint32_t masked) noexcept {
  const uint32_t rot = masked - kMaskDelta;
  return (rot >> 17) | (rot << 15);
}

}  // namespace causeway::crc32c
