// File: causeway/common/coding.h
//
// Endian-neutral little-endian encoding of fixed-width integers, one byte at a time (the
// compiler turns these into single loads/stores on little-endian machines). Every on-disk
// and on-wire integer of ours goes through these; never memcpy a struct. Big-endian
// helpers exist only for LMDB keys, whose byte order must sort numerically.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace causeway::coding {

inline void encode_fixed16(char* dst, uint16_t v) noexcept {
  auto* b = reinterpret_cast<unsigned char*>(dst);
  b[0] = static_cast<unsigned char>(v);
  b[1] = static_cast<unsigned char>(v >> 8);
}
inline void encode_fixed32(char* dst, uint32_t v) noexcept {
  auto* b = reinterpret_cast<unsigned char*>(dst);
  for (int i = 0; i < 4; ++i) b[i] = static_cast<unsigned char>(v >> (8 * i));
}
inline void encode_fixed64(char* dst, uint64_t v) noexcept {
  auto* b = reinterpret_cast<unsigned char*>(dst);
  for (int i = 0; i < 8; ++i) b[i] = static_cast<unsigned char>(v >> (8 * i));
}
inline uint16_t decode_fixed16(const char* src) noexcept {
  const auto* b = reinterpret_cast<const unsigned char*>(src);
  return static_cast<uint16_t>(b[0] | (b[1] << 8));
}
inline uint32_t decode_fixed32(const char* src) noexcept {
  const auto* b = reinterpret_cast<const unsigned char*>(src);
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | b[i];
  return v;
}
inline uint64_t decode_fixed64(const char* src) noexcept {
  const auto* b = reinterpret_cast<const unsigned char*>(src);
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | b[i];
  return v;
}

inline void put_fixed16(std::string& dst, uint16_t v) {
  char buf[2];
  encode_fixed16(buf, v);
  dst.append(buf, 2);
}
inline void put_fixed32(std::string& dst, uint32_t v) {
  char buf[4];
  encode_fixed32(buf, v);
  dst.append(buf, 4);
}
inline void put_fixed64(std::string& dst, uint64_t v) {
  char buf[8];
  encode_fixed64(buf, v);
  dst.append(buf, 8);
}

// Big-endian, for keys that must sort in numeric order under memcmp (LMDB).
inline void put_big_endian32(std::string& dst, uint32_t v) {
  for (int i = 3; i >= 0; --i) dst.push_back(static_cast<char>(v >> (8 * i)));
}
inline void put_big_endian64(std::string& dst, uint64_t v) {
  for (int i = 7; i >= 0; --i) dst.push_back(static_cast<char>(v >> (8 * i)));
}
inline uint32_t decode_big_endian32(const char* src) noexcept {
  const auto* b = reinterpret_cast<const unsigned char*>(src);
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = (v << 8) | b[i];
  return v;
}
inline uint64_t decode_big_endian64(const char* src) noexcept {
  const auto* b = reinterpret_cast<const unsigned char*>(src);
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | b[i];
  return v;
}

// A bounds-checked cursor over untrusted bytes. Every read reports failure instead of
// reading past the end; once a read fails the reader stays failed.
class Reader {
 public:
  explicit Reader(std::string_view data) noexcept : data_(data) {}

  bool read_u8(uint8_t& v) noexcept {
    if (!need(1)) return false;
    v = static_cast<uint8_t>(data_[pos_]);
    pos_ += 1;
    return true;
  }
  bool read_u16(uint16_t& v) noexcept {
    if (!need(2)) return false;
    v = decode_fixed16(data_.data() + pos_);
    pos_ += 2;
    return true;
  }
  bool read_u32(uint32_t& v) noexcept {
    if (!need(4)) return false;
    v = decode_fixed32(data_.data() + pos_);
    pos_ += 4;
    return true;
  }
  bool read_u64(uint64_t& v) noexcept {
    if (!need(8)) return false;
    v = decode_fixed64(data_.data() + pos_);
    pos_ += 8;
    return true;
  }
  bool read_i64(int64_t& v) noexcept {
    uint64_t u = 0;
    if (!read_u64(u)) return false;
    v = static_cast<int64_t>(u);
    return true;
  }
  // A view of the next n bytes (valid as long as the underlying buffer).
  bool read_bytes(size_t n, std::string_view& out) noexcept {
    if (!need(n)) return false;
    out = data_.substr(pos_, n);
    pos_ += n;
    return true;
  }

  size_t position() const noexcept { return pos_; }
  size_t remaining() const noexcept { return failed_ ? 0 : data_.size() - pos_; }
  bool failed() const noexcept { return failed_; }

 private:
  bool need(size_t n) noexcept {
    if (failed_ || data_.size() - pos_ < n) {
      failed_ = true;
      return false;
    }
    return true;
  }
  std::string_view data_;
  size_t pos_ = 0;
  bool failed_ = false;
};

}  // namespace causeway::coding
