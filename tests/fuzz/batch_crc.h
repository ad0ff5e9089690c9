// File: tests/fuzz/batch_crc.h
//
// Recomputes the two CRC32Cs of log batches (docs/log-format.md) after a mutation, so that
// a mutated batch reaches the checks behind them instead of failing at "batch header crc
// mismatch" almost every time. Used by the batch fuzzer's custom mutator and by the frame
// mutator for FetchResponse.batches. Header-only: the fuzz targets and the replay drivers
// include it.
#pragma once

#include <cstddef>
#include <cstdint>

#include "causeway/common/batch_format.h"
#include "causeway/common/coding.h"
#include "causeway/common/crc32c.h"

namespace causeway::fuzz {

// Walks the batches back to back in data[0, size) by their body_length fields and fixes
// both CRCs of each: the batch CRC (body, then header bytes from body_length on) when the
// whole body is present, then the header CRC (header bytes from batch_crc on). Stops at a
// header that does not fit.
inline void fix_batch_crcs(uint8_t* data, size_t size) {
  namespace hp = batch::header_pos;
  size_t pos = 0;
  while (size - pos >= batch::kBatchHeaderSize) {
    char* h = reinterpret_cast<char*>(data + pos);
    const uint32_t body_length = coding::decode_fixed32(h + hp::kBodyLength);
    const bool whole = body_length <= size - pos - batch::kBatchHeaderSize;
    if (whole) {
      const uint32_t body_crc = crc32c::value(h + batch::kBatchHeaderSize, body_length);
      const uint32_t batch_crc =
          crc32c::extend(body_crc, h + hp::kBodyLength, batch::kBatchHeaderSize - hp::kBodyLength);
      coding::encode_fixed32(h + hp::kBatchCrc, crc32c::mask(batch_crc));
    }
    const uint32_t header_crc = crc32c::value(h + hp::kBatchCrc, batch::kBatchHeaderSize - hp::kBatchCrc);
    coding::encode_fixed32(h + hp::kHeaderCrc, crc32c::mask(header_crc));
    if (!whole) return;
    pos += batch::kBatchHeaderSize + body_length;
  }
}

// When data[0, size) holds one batch whose body_length disagrees with the bytes after its
// header (a mutation inserted or erased bytes), sets body_length to them.
inline void fit_single_batch_length(uint8_t* data, size_t size) {
  if (size < batch::kBatchHeaderSize || size - batch::kBatchHeaderSize > UINT32_MAX) return;
  coding::encode_fixed32(reinterpret_cast<char*>(data) + batch::header_pos::kBodyLength,
                         static_cast<uint32_t>(size - batch::kBatchHeaderSize));
}

}  // namespace causeway::fuzz
