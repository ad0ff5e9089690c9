// File: meta/verified_value.h
//
// FlatBuffers values in LMDB, the broker's half of what the metadata store keeps on top of
// the shared LMDB wrapper (causeway/lmdb/lmdb_env.h): a verified, aligned copy of a stored
// table, and a builder's bytes as a value to put. The value schemas are schemas/meta.fbs;
// the layouts are docs/meta-store.md.
//
// Thread-safety: pure functions and values; a Verified<T> is immutable once read.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include <flatbuffers/flatbuffers.h>

#include "causeway/common/status.h"

namespace causeway::meta {

// Maximum size of a value we are willing to decode; anything bigger is corrupt (our
// records are at most a few hundred bytes plus a 64 KiB dedup key).
inline constexpr size_t kMaxValueBytes = 1u << 20;

// A verified copy of a FlatBuffers table read from LMDB. The bytes are copied into an
// 8-byte-aligned buffer (LMDB values are only 2-byte aligned, and FlatBuffers reads scalars
// in place), so the table stays valid after the transaction ends.
template <typename T>
class Verified {
 public:
  const T* operator->() const noexcept { return table_; }
  const T& operator*() const noexcept { return *table_; }

 private:
  template <typename U>
  friend Result<Verified<U>> read_verified(std::string_view bytes, std::string_view what);
  std::vector<uint64_t> storage_;
  const T* table_ = nullptr;
};

// Copies `bytes` (an LMDB value) and checks it with flatbuffers::Verifier. kCorruption
// naming `what` (e.g. "topics[\"orders\"]") if it is too large, empty or fails verification.
template <typename T>
Result<Verified<T>> read_verified(std::string_view bytes, std::string_view what) {
  if (bytes.size() < sizeof(flatbuffers::uoffset_t) || bytes.size() > kMaxValueBytes) {
    return corruption("value of " + std::string(what) + " has invalid size " + std::to_string(bytes.size()));
  }
  Verified<T> out;
  out.storage_.resize((bytes.size() + 7) / 8);
  std::memcpy(out.storage_.data(), bytes.data(), bytes.size());
  const auto* buf = reinterpret_cast<const uint8_t*>(out.storage_.data());
  flatbuffers::Verifier::Options opts;
  opts.max_depth = 8;
  opts.max_tables = 16;
  flatbuffers::Verifier verifier(buf, bytes.size(), opts);
  if (!verifier.VerifyBuffer<T>(nullptr)) {
    return corruption("value of " + std::string(what) + " (" + std::to_string(bytes.size()) +
                      " bytes) fails FlatBuffers verification");
  }
  out.table_ = flatbuffers::GetRoot<T>(buf);
  return out;
}

// The finished bytes of a FlatBufferBuilder, as a value for Txn::put.
inline std::string_view builder_bytes(const flatbuffers::FlatBufferBuilder& fbb) noexcept {
  return std::string_view(reinterpret_cast<const char*>(fbb.GetBufferPointer()), fbb.GetSize());
}

}  // namespace causeway::meta
