// Batch and record codecs; the layout is docs/log-format.md.
#include "causeway/common/batch_format.h"

#include <cstring>
#include <string>

#include "causeway/common/coding.h"
#include "causeway/common/crc32c.h"

namespace causeway::batch {
namespace {

using coding::decode_fixed16;
using coding::decode_fixed32;
using coding::decode_fixed64;
using coding::encode_fixed16;
using coding::encode_fixed32;
using coding::encode_fixed64;

std::string at(std::string_view what, size_t value) {
  return std::string(what) + " " + std::to_string(value);
}

Status check_short_string(std::string_view field, std::string_view value) {
  if (value.size() > kMaxShortString) {
    return invalid_argument(std::string(field) + " is " + std::to_string(value.size()) +
                            " bytes; the maximum is " + std::to_string(kMaxShortString));
  }
  return Status();
}

char* put_short(char* p, std::string_view s) {
  encode_fixed16(p, static_cast<uint16_t>(s.size()));
  p += 2;
  if (!s.empty()) std::memcpy(p, s.data(), s.size());
  return p + s.size();
}

char* put_long(char* p, std::string_view s) {
  encode_fixed32(p, static_cast<uint32_t>(s.size()));
  p += 4;
  if (!s.empty()) std::memcpy(p, s.data(), s.size());
  return p + s.size();
}

// Decodes one record at the reader's position; the header turns its deltas into offset,
// Lamport stamp and time.
Status decode_record(coding::Reader& r, const BatchHeader& header, RecordView& out) {
  uint32_t record_length = 0;
  if (!r.read_u32(record_length)) return corruption("record length truncated");
  if (record_length + size_t{4} < kMinRecordSize || record_length > r.remaining())
    return corruption(at("record length out of bounds:", record_length));
  std::string_view body;
  (void)r.read_bytes(record_length, body);
  coding::Reader rr(body);
  uint32_t delta = 0;
  uint32_t lamport_delta = 0;
  uint32_t time_delta = 0;
  uint16_t n = 0;
  std::string_view* shorts[] = {&out.key, &out.dedup_key, &out.source, &out.type};
  bool ok = rr.read_u32(delta) && rr.read_u32(lamport_delta) && rr.read_u32(time_delta) &&
            rr.read_u32(out.schema_id);
  for (auto* s : shorts) ok = ok && rr.read_u16(n) && rr.read_bytes(n, *s);
  uint16_t header_count = 0;
  ok = ok && rr.read_u16(header_count);
  if (!ok) return corruption("record fields truncated");
  out.headers.clear();
  for (uint16_t i = 0; i < header_count; ++i) {
    Header h;
    uint32_t vlen = 0;
    if (!(rr.read_u16(n) && rr.read_bytes(n, h.name) && rr.read_u32(vlen) && rr.read_bytes(vlen, h.value)))
      return corruption("record header truncated");
    out.headers.push_back(h);
  }
  uint32_t plen = 0;
  if (!(rr.read_u32(plen) && rr.read_bytes(plen, out.payload))) return corruption("record payload truncated");
  if (rr.remaining() != 0) return corruption(at("record has trailing bytes:", rr.remaining()));
  // The deltas come from the bytes: every sum is checked, so that a batch with good CRCs
  // and hostile fields (a crafted segment, a fetch response from a bad broker) is reported
  // as corrupt instead of wrapping, or overflowing a signed time (undefined behaviour).
  if (delta >= header.record_count) return corruption(at("record offset delta out of range:", delta));
  if (lamport_delta > header.last_lamport - header.first_lamport)
    return corruption(at("record lamport delta above the batch's range:", lamport_delta));
  out.offset = header.base_offset + delta;  // decode_header checked base_offset + record_count
  out.lamport = header.first_lamport + lamport_delta;
  if (__builtin_add_overflow(header.first_time_ms, int64_t{static_cast<int32_t>(time_delta)}, &out.time_ms))
    return corruption("record time overflows");
  return Status();
}

}  // namespace

Result<size_t> encoded_record_size(const RecordInput& record) {
  CAUSEWAY_RETURN_IF_ERROR(check_short_string("key", record.key));
  CAUSEWAY_RETURN_IF_ERROR(check_short_string("dedup_key", record.dedup_key));
  CAUSEWAY_RETURN_IF_ERROR(check_short_string("source", record.source));
  CAUSEWAY_RETURN_IF_ERROR(check_short_string("type", record.type));
  if (record.headers.size() > kMaxHeaders)
    return invalid_argument(at("too many headers:", record.headers.size()));
  size_t size = kMinRecordSize + record.key.size() + record.dedup_key.size() +
                record.source.size() + record.type.size() + record.payload.size();
  for (const Header& h : record.headers) {
    CAUSEWAY_RETURN_IF_ERROR(check_short_string("header name", h.name));
    if (h.value.size() > kMaxBatchBodyBytes) return invalid_argument("header value too large");
    size += 2 + h.name.size() + 4 + h.value.size();
  }
  if (record.payload.size() > kMaxBatchBodyBytes || size > kMaxBatchBodyBytes)
    return invalid_argument(at("record too large: bytes", size) + "; the maximum batch body is " +
                            std::to_string(kMaxBatchBodyBytes));
  return size;
}

Status encode_batch_body(std::span<const RecordInput> records, std::string& out) {
  if (records.empty()) return invalid_argument("a batch needs at least one record");
  if (records.size() > std::numeric_limits<uint32_t>::max()) return invalid_argument("too many records");
  size_t body = 0;
  for (const RecordInput& r : records) {
    CAUSEWAY_ASSIGN_OR_RETURN(const size_t n, encoded_record_size(r));
    body += n;
    if (body > kMaxBatchBodyBytes)
      return invalid_argument("batch body exceeds " + std::to_string(kMaxBatchBodyBytes) + " bytes");
  }
  out.resize(kBatchHeaderSize + body);
  char* p = out.data() + kBatchHeaderSize;
  uint32_t delta = 0;
  for (const RecordInput& r : records) {
    char* const start = p;
    p += 4;  // record_length, filled in below
    encode_fixed32(p, delta);
    encode_fixed32(p + 4, delta);  // lamport_delta: stamps are consecutive within a batch
    encode_fixed32(p + 8, 0);      // time_delta_ms: one broker time per batch
    encode_fixed32(p + 12, r.schema_id);
    p += 16;
    p = put_short(p, r.key);
    p = put_short(p, r.dedup_key);
    p = put_short(p, r.source);
    p = put_short(p, r.type);
    encode_fixed16(p, static_cast<uint16_t>(r.headers.size()));
    p += 2;
    for (const Header& h : r.headers) {
      p = put_short(p, h.name);
      p = put_long(p, h.value);
    }
    p = put_long(p, r.payload);
    encode_fixed32(start, static_cast<uint32_t>(p - start - 4));
    ++delta;
  }
  char* h = out.data();
  std::memset(h, 0, kBatchHeaderSize);
  encode_fixed32(h + header_pos::kBodyLength, static_cast<uint32_t>(body));
  encode_fixed32(h + header_pos::kRecordCount, static_cast<uint32_t>(records.size()));
  // Parked in the batch_crc slot until finish_batch folds in the header fields.
  encode_fixed32(h + header_pos::kBatchCrc, crc32c::value(out.data() + kBatchHeaderSize, body));
  return Status();
}

void finish_batch(std::string& batch, uint64_t base_offset, uint64_t first_lamport, int64_t time_ms) {
  char* h = batch.data();
  const uint32_t body_crc = decode_fixed32(h + header_pos::kBatchCrc);
  const uint32_t count = decode_fixed32(h + header_pos::kRecordCount);
  h[header_pos::kMagic] = static_cast<char>(kBatchMagic);
  h[header_pos::kVersion] = static_cast<char>(kBatchVersion);
  encode_fixed16(h + header_pos::kAttributes, 0);
  encode_fixed64(h + header_pos::kBaseOffset, base_offset);
  encode_fixed32(h + header_pos::kReserved, 0);
  encode_fixed64(h + header_pos::kFirstLamport, first_lamport);
  encode_fixed64(h + header_pos::kLastLamport, first_lamport + count - 1);
  encode_fixed64(h + header_pos::kFirstTime, static_cast<uint64_t>(time_ms));
  encode_fixed64(h + header_pos::kLastTime, static_cast<uint64_t>(time_ms));
  const uint32_t batch_crc =
      crc32c::extend(body_crc, h + header_pos::kBodyLength, kBatchHeaderSize - header_pos::kBodyLength);
  encode_fixed32(h + header_pos::kBatchCrc, crc32c::mask(batch_crc));
  const uint32_t header_crc = crc32c::value(h + header_pos::kBatchCrc, kBatchHeaderSize - header_pos::kBatchCrc);
  encode_fixed32(h + header_pos::kHeaderCrc, crc32c::mask(header_crc));
}

Status encode_batch(std::span<const RecordInput> records, uint64_t base_offset,
                    uint64_t first_lamport, int64_t time_ms, std::string& out) {
  CAUSEWAY_RETURN_IF_ERROR(encode_batch_body(records, out));
  finish_batch(out, base_offset, first_lamport, time_ms);
  return Status();
}

Result<BatchHeader> decode_header(std::string_view b) {
  if (b.size() < kBatchHeaderSize) return corruption(at("short batch header: bytes", b.size()));
  const char* h = b.data();
  const uint32_t stored = crc32c::unmask(decode_fixed32(h + header_pos::kHeaderCrc));
  if (stored != crc32c::value(h + header_pos::kBatchCrc, kBatchHeaderSize - header_pos::kBatchCrc))
    return corruption("batch header crc mismatch");
  if (static_cast<uint8_t>(h[header_pos::kMagic]) != kBatchMagic) return corruption("bad batch magic");
  if (static_cast<uint8_t>(h[header_pos::kVersion]) != kBatchVersion)
    return corruption(at("unsupported batch version", static_cast<uint8_t>(h[header_pos::kVersion])));
  if (decode_fixed16(h + header_pos::kAttributes) != 0) return corruption("unknown batch attributes");
  if (decode_fixed32(h + header_pos::kReserved) != 0) return corruption("nonzero reserved field");
  BatchHeader out;
  out.body_length = decode_fixed32(h + header_pos::kBodyLength);
  out.base_offset = decode_fixed64(h + header_pos::kBaseOffset);
  out.record_count = decode_fixed32(h + header_pos::kRecordCount);
  out.first_lamport = decode_fixed64(h + header_pos::kFirstLamport);
  out.last_lamport = decode_fixed64(h + header_pos::kLastLamport);
  out.first_time_ms = static_cast<int64_t>(decode_fixed64(h + header_pos::kFirstTime));
  out.last_time_ms = static_cast<int64_t>(decode_fixed64(h + header_pos::kLastTime));
  out.batch_crc = crc32c::unmask(decode_fixed32(h + header_pos::kBatchCrc));
  if (out.record_count == 0) return corruption("batch has zero records");
  if (out.body_length == 0 || out.body_length > kMaxBatchBodyBytes)
    return corruption(at("batch body length out of bounds:", out.body_length));
  if (uint64_t{out.record_count} * kMinRecordSize > out.body_length)
    return corruption("batch record count does not fit its body");
  if (out.base_offset > std::numeric_limits<uint64_t>::max() - out.record_count)
    return corruption("batch offsets overflow");
  if (out.last_lamport < out.first_lamport || out.last_lamport - out.first_lamport < out.record_count - 1)
    return corruption("batch lamport range smaller than its record count");
  return out;
}

Status verify_batch(const BatchHeader& header, std::string_view b) {
  if (b.size() < header.total_size()) return corruption(at("short batch body: bytes", b.size()));
  const uint32_t actual = crc32c::extend(crc32c::value(b.data() + kBatchHeaderSize, header.body_length),
                                         b.data() + header_pos::kBodyLength,
                                         kBatchHeaderSize - header_pos::kBodyLength);
  if (actual != header.batch_crc) return corruption("batch crc mismatch");
  uint32_t seen = 0;
  uint64_t prev_lamport = 0;
  RecordView last;
  Status bad;
  CAUSEWAY_RETURN_IF_ERROR(for_each_record(header, b, [&](const RecordView& r) {
    if (r.offset != header.base_offset + seen) {
      bad = corruption(at("record offset delta out of order at record", seen));
      return false;
    }
    if (seen == 0 ? (r.lamport != header.first_lamport || r.time_ms != header.first_time_ms)
                  : r.lamport <= prev_lamport) {
      bad = corruption(at("record lamport/time disagrees with batch header at record", seen));
      return false;
    }
    prev_lamport = r.lamport;
    last.lamport = r.lamport;
    last.time_ms = r.time_ms;
    ++seen;
    return true;
  }));
  CAUSEWAY_RETURN_IF_ERROR(bad);
  if (last.lamport != header.last_lamport || last.time_ms != header.last_time_ms)
    return corruption("last record lamport/time disagrees with batch header");
  return Status();
}

Status for_each_record(const BatchHeader& header, std::string_view b,
                       const std::function<bool(const RecordView&)>& fn) {
  if (b.size() < header.total_size()) return corruption("short batch body");
  coding::Reader r(b.substr(kBatchHeaderSize, header.body_length));
  RecordView rec;
  for (uint32_t i = 0; i < header.record_count; ++i) {
    CAUSEWAY_RETURN_IF_ERROR(decode_record(r, header, rec));
    if (!fn(rec)) return Status();
  }
  if (r.remaining() != 0) return corruption(at("batch has trailing bytes after its records:", r.remaining()));
  return Status();
}

}  // namespace causeway::batch
