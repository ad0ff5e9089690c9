// File: causeway/common/batch_format.h
//
// The log's batch format: batch and record layout, constants, and the codecs between
// records and bytes. Shared by the broker's segment writer and reader and by the client,
// which receives whole batches in fetch responses and deliveries. The format is specified
// in docs/log-format.md;
// a change here changes that page and tests/unit/storage/batch_format_test.cc with it.
// Namespace causeway::batch, not the broker's causeway::storage: common serves the broker
// and the client alike and declares nothing in a broker component's namespace.
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "causeway/common/status.h"

namespace causeway::batch {

inline constexpr uint8_t kBatchMagic = 0xC5;
inline constexpr uint8_t kBatchVersion = 1;
// header_crc(4) batch_crc(4) body_length(4) magic(1) version(1) attributes(2)
// base_offset(8) record_count(4) reserved(4) first_lamport(8) last_lamport(8)
// first_time_ms(8) last_time_ms(8)
inline constexpr size_t kBatchHeaderSize = 4 + 4 + 4 + 1 + 1 + 2 + 8 + 4 + 4 + 8 + 8 + 8 + 8;
static_assert(kBatchHeaderSize == 64);
// Hard format bound on one batch's body, checked before anything is allocated.
inline constexpr uint32_t kMaxBatchBodyBytes = 256u << 20;
// record_length(4) offset_delta(4) lamport_delta(4) time_delta_ms(4) schema_id(4)
// 4 x u16 string lengths(8) header_count(2) payload_length(4)
inline constexpr size_t kMinRecordSize = 4 + 4 + 4 + 4 + 4 + 8 + 2 + 4;
inline constexpr size_t kMaxShortString = std::numeric_limits<uint16_t>::max();
inline constexpr size_t kMaxHeaders = std::numeric_limits<uint16_t>::max();

// Field positions inside the header.
namespace header_pos {
inline constexpr size_t kHeaderCrc = 0;
inline constexpr size_t kBatchCrc = 4;
inline constexpr size_t kBodyLength = 8;
inline constexpr size_t kMagic = 12;
inline constexpr size_t kVersion = 13;
inline constexpr size_t kAttributes = 14;
inline constexpr size_t kBaseOffset = 16;
inline constexpr size_t kRecordCount = 24;
inline constexpr size_t kReserved = 28;
inline constexpr size_t kFirstLamport = 32;
inline constexpr size_t kLastLamport = 40;
inline constexpr size_t kFirstTime = 48;
inline constexpr size_t kLastTime = 56;
}  // namespace header_pos

struct BatchHeader {
  uint32_t body_length = 0;
  uint64_t base_offset = 0;
  uint32_t record_count = 0;
  uint64_t first_lamport = 0;
  uint64_t last_lamport = 0;
  int64_t first_time_ms = 0;
  int64_t last_time_ms = 0;
  uint32_t batch_crc = 0;  // unmasked

  uint64_t last_offset() const noexcept { return base_offset + record_count - 1; }
  uint64_t next_offset() const noexcept { return base_offset + record_count; }
  size_t total_size() const noexcept { return kBatchHeaderSize + body_length; }
};

struct Header {
  std::string_view name;
  std::string_view value;
};

// An event as a producer hands it to the log; views into caller-owned memory.
struct RecordInput {
  std::string_view key;
  std::string_view dedup_key;
  std::string_view source;
  std::string_view type;
  std::span<const Header> headers;
  uint32_t schema_id = 0;
  std::string_view payload;
};

// A decoded record; views into the batch bytes it was decoded from.
struct RecordView {
  uint64_t offset = 0;
  uint64_t lamport = 0;
  int64_t time_ms = 0;
  uint32_t schema_id = 0;
  std::string_view key;
  std::string_view dedup_key;
  std::string_view source;
  std::string_view type;
  std::vector<Header> headers;
  std::string_view payload;
};

// Bytes one record takes in a batch body; fails if a field exceeds its length field.
Result<size_t> encoded_record_size(const RecordInput& record);

// Encodes the records of a batch into `out` (cleared first), leaving the 64-byte header
// for finish_batch. Records hold offsets, stamps and times as deltas from the header, and
// the batch CRC covers the body before the header fields, so nothing here depends on the
// offset, Lamport stamp or time the batch will get: a log encodes outside its lock and
// only finishes the header inside it. Fails (leaving `out` unspecified) if a field is too
// long or the body would exceed kMaxBatchBodyBytes; records must not be empty.
Status encode_batch_body(std::span<const RecordInput> records, std::string& out);

// Fills in the header of a batch built by encode_batch_body: record i gets offset
// base_offset + i, Lamport first_lamport + i and time time_ms. Computes both CRCs (the
// body's CRC was kept by encode_batch_body, so this costs one 56-byte CRC extension).
void finish_batch(std::string& batch, uint64_t base_offset, uint64_t first_lamport, int64_t time_ms);

// encode_batch_body + finish_batch.
Status encode_batch(std::span<const RecordInput> records, uint64_t base_offset,
                    uint64_t first_lamport, int64_t time_ms, std::string& out);

// Parses and checks a header from its first kBatchHeaderSize bytes: header CRC, magic,
// version, attributes, reserved, record_count >= 1, body_length bounds. Errors are
// kCorruption and say which check failed.
Result<BatchHeader> decode_header(std::string_view header_bytes);

// Checks a whole batch (header already decoded from bytes[0, 64)): batch CRC, then that the
// body decodes into exactly record_count records whose deltas, stamps and times agree with
// the header. kCorruption with the failing check otherwise.
Status verify_batch(const BatchHeader& header, std::string_view batch_bytes);

// Decodes the records of a verified batch, calling fn for each in order. Stops early and
// returns OK if fn returns false. kCorruption if the body is malformed.
Status for_each_record(const BatchHeader& header, std::string_view batch_bytes,
                       const std::function<bool(const RecordView&)>& fn);

}  // namespace causeway::batch
