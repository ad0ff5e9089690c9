// Batch and record codecs (docs/log-format.md).
#include "causeway/common/batch_format.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>

#include "causeway/common/coding.h"
#include "causeway/common/crc32c.h"
#include "tests/unit/storage/test_util.h"

namespace causeway::storage {
namespace {

using ::testing::HasSubstr;
using testing::sample_record;

std::string hex_to_bytes(std::string_view hex) {
  std::string out;
  for (size_t i = 0; i < hex.size();) {
    if (hex[i] == ' ') {
      ++i;
      continue;
    }
    out.push_back(static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
    i += 2;
  }
  return out;
}

TEST(BatchFormat, WorkedExampleFromDocsEncodesByteForByte) {
  batch::RecordInput r{"k", "", "s", "t", {}, 0, "hi"};
  std::string batch;
  ASSERT_TRUE(batch::encode_batch({&r, 1}, 7, 42, 1700000000000, batch).ok());
  const std::string record = hex_to_bytes(
      "23 00 00 00  00 00 00 00  00 00 00 00  00 00 00 00  00 00 00 00"
      " 01 00 6b  00 00  01 00 73  01 00 74  00 00  02 00 00 00 68 69");
  const std::string header_tail = hex_to_bytes(
      "27 00 00 00  c5 01 00 00  07 00 00 00 00 00 00 00  01 00 00 00 00 00 00 00"
      " 2a 00 00 00 00 00 00 00  2a 00 00 00 00 00 00 00"
      " 00 68 e5 cf 8b 01 00 00  00 68 e5 cf 8b 01 00 00");
  ASSERT_EQ(batch.size(), 64u + 39u);
  EXPECT_EQ(batch.substr(8, 56), header_tail);
  EXPECT_EQ(batch.substr(64), record);
  const uint32_t batch_crc = crc32c::value(batch.substr(64) + batch.substr(8, 56));
  EXPECT_EQ(coding::decode_fixed32(batch.data() + 4), crc32c::mask(batch_crc));
  EXPECT_EQ(coding::decode_fixed32(batch.data()), crc32c::mask(crc32c::value(batch.data() + 4, 60)));
}

TEST(BatchFormat, RoundTripsEveryRecordField) {
  std::vector<testing::SampleRecord> owned;
  for (uint64_t i = 0; i < 5; ++i) owned.push_back(sample_record(i, 10 + i));
  std::vector<batch::RecordInput> in;
  for (auto& o : owned) in.push_back(o.input());
  std::string batch;
  ASSERT_TRUE(batch::encode_batch(in, 100, 500, 1234, batch).ok());
  auto h = batch::decode_header(batch);
  ASSERT_TRUE(h.ok()) << h.error().to_string();
  EXPECT_EQ(h->base_offset, 100u);
  EXPECT_EQ(h->record_count, 5u);
  EXPECT_EQ(h->first_lamport, 500u);
  EXPECT_EQ(h->last_lamport, 504u);
  EXPECT_EQ(h->last_offset(), 104u);
  ASSERT_TRUE(batch::verify_batch(*h, batch).ok());
  size_t i = 0;
  ASSERT_TRUE(batch::for_each_record(*h, batch, [&](const batch::RecordView& r) {
                EXPECT_EQ(r.offset, 100 + i);
                EXPECT_EQ(r.lamport, 500 + i);
                EXPECT_EQ(r.time_ms, 1234);
                EXPECT_EQ(r.key, owned[i].key);
                EXPECT_EQ(r.dedup_key, owned[i].dedup_key);
                EXPECT_EQ(r.source, owned[i].source);
                EXPECT_EQ(r.type, owned[i].type);
                EXPECT_EQ(r.schema_id, owned[i].schema_id);
                EXPECT_EQ(r.payload, owned[i].payload);
                EXPECT_EQ(r.headers.size(), 1u);
                EXPECT_EQ(r.headers[0].name, "trace");
                EXPECT_EQ(r.headers[0].value, owned[i].header_values[0]);
                ++i;
                return true;
              }).ok());
  EXPECT_EQ(i, 5u);
}

TEST(BatchFormat, EveryFlippedByteIsDetected) {
  auto rec = sample_record(1, 40);
  batch::RecordInput in = rec.input();
  std::string batch;
  ASSERT_TRUE(batch::encode_batch({&in, 1}, 0, 1, 1, batch).ok());
  for (size_t pos = 0; pos < batch.size(); ++pos) {
    std::string bad = batch;
    bad[pos] = static_cast<char>(bad[pos] ^ 0x01);
    auto h = batch::decode_header(bad);
    const bool detected = !h.ok() || !batch::verify_batch(*h, bad).ok();
    EXPECT_TRUE(detected) << "flip at byte " << pos << " went unnoticed";
  }
}

// Recomputes both CRCs after a test changed fields, so that only the decoder's own
// checks stand between the bytes and the arithmetic on them.
void resign(std::string& batch) {
  const uint32_t body_length = coding::decode_fixed32(batch.data() + 8);
  const uint32_t batch_crc =
      crc32c::extend(crc32c::value(batch.data() + batch::kBatchHeaderSize, body_length), batch.data() + 8, batch::kBatchHeaderSize - 8);
  coding::encode_fixed32(batch.data() + 4, crc32c::mask(batch_crc));
  coding::encode_fixed32(batch.data(), crc32c::mask(crc32c::value(batch.data() + 4, batch::kBatchHeaderSize - 4)));
}

// A two-record batch whose second record's delta field at `field` (bytes after its
// length: 0 offset, 4 lamport, 8 time) is `value`, signed with good CRCs.
std::string batch_with_second_record_delta(size_t field, uint32_t value, uint64_t first_lamport, int64_t time_ms) {
  batch::RecordInput r{"", "", "", "", {}, 0, "x"};
  batch::RecordInput two[] = {r, r};
  std::string batch;
  EXPECT_TRUE(batch::encode_batch(two, 0, first_lamport, time_ms, batch).ok());
  const size_t second = batch::kBatchHeaderSize + 4 + coding::decode_fixed32(batch.data() + batch::kBatchHeaderSize);
  coding::encode_fixed32(batch.data() + second + 4 + field, value);
  resign(batch);
  return batch;
}

Status decode_all(const std::string& batch) {
  auto h = batch::decode_header(batch);
  if (!h.ok()) return h.error();
  CAUSEWAY_RETURN_IF_ERROR(batch::for_each_record(*h, batch, [](const batch::RecordView&) { return true; }));
  return batch::verify_batch(*h, batch);
}

// first_time_ms + int32(time_delta) overflowed int64 (undefined behaviour, caught by UBSan)
// on a 184-byte batch with correct CRCs.
TEST(BatchFormat, RecordTimeThatOverflowsIsCorruptionNotUndefinedBehaviour) {
  const Status s = decode_all(batch_with_second_record_delta(8, 1, 1, std::numeric_limits<int64_t>::max()));
  EXPECT_EQ(s.code(), Code::kCorruption);
  EXPECT_THAT(std::string(s.message()), HasSubstr("record time overflows"));
  const Status low = decode_all(batch_with_second_record_delta(8, 0x80000000u, 1, std::numeric_limits<int64_t>::min()));
  EXPECT_EQ(low.code(), Code::kCorruption);
}

TEST(BatchFormat, RecordDeltasOutsideTheBatchAreCorruptionNotWraparound) {
  const Status offset = decode_all(batch_with_second_record_delta(0, 0xFFFFFFFFu, 1, 1));
  EXPECT_EQ(offset.code(), Code::kCorruption);
  EXPECT_THAT(std::string(offset.message()), HasSubstr("record offset delta out of range"));
  // A Lamport delta that would carry the stamp past 2^64 and wrap to a small value.
  const Status lamport = decode_all(batch_with_second_record_delta(4, 0xFFFFFFFFu, UINT64_MAX - 1, 1));
  EXPECT_EQ(lamport.code(), Code::kCorruption);
  EXPECT_THAT(std::string(lamport.message()), HasSubstr("lamport delta above the batch's range"));
}

TEST(BatchFormat, ShortHeaderIsCorruptionNotCrash) {
  auto h = batch::decode_header(std::string(10, '\0'));
  ASSERT_FALSE(h.ok());
  EXPECT_EQ(h.error().code(), Code::kCorruption);
  EXPECT_THAT(std::string(h.error().message()), HasSubstr("short batch header"));
}

TEST(BatchFormat, HugeBodyLengthIsRejectedBeforeAnythingIsAllocated) {
  batch::RecordInput r{"", "", "", "", {}, 0, "x"};
  std::string batch;
  ASSERT_TRUE(batch::encode_batch({&r, 1}, 0, 1, 1, batch).ok());
  coding::encode_fixed32(batch.data() + 8, 0xFFFFFFF0u);
  // Re-sign the header so only the bound can catch it.
  coding::encode_fixed32(batch.data(), crc32c::mask(crc32c::value(batch.data() + 4, 60)));
  auto h = batch::decode_header(batch);
  ASSERT_FALSE(h.ok());
  EXPECT_THAT(std::string(h.error().message()), HasSubstr("body length out of bounds"));
}

TEST(BatchFormat, OverlongKeyIsInvalidArgumentNamingTheField) {
  std::string key(70000, 'k');
  batch::RecordInput r{key, "", "", "", {}, 0, "x"};
  std::string batch;
  Status s = batch::encode_batch({&r, 1}, 0, 1, 1, batch);
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("key is 70000 bytes"));
}

TEST(BatchFormat, EmptyBatchIsRejected) {
  std::string batch;
  EXPECT_EQ(batch::encode_batch({}, 0, 1, 1, batch).code(), Code::kInvalidArgument);
}

}  // namespace
}  // namespace causeway::storage

namespace causeway::storage {
namespace {

// tests/fuzz/make_batch_corpus.py is an independent Python encoder of the format; both
// must produce the same bytes.
TEST(BatchFormat, IndependentPythonEncoderProducesIdenticalBytes) {
  const std::string py = testing::read_all(std::string(CAUSEWAY_SOURCE_DIR) + "/tests/fuzz/corpus/batch/seed_one_record");
  batch::RecordInput r{"k", "", "s", "t", {}, 0, "hi"};
  std::string batch;
  ASSERT_TRUE(batch::encode_batch({&r, 1}, 7, 42, 1700000000000, batch).ok());
  EXPECT_EQ(py, batch);
  auto h = batch::decode_header(py);
  ASSERT_TRUE(h.ok());
  EXPECT_TRUE(batch::verify_batch(*h, py).ok());
}

}  // namespace
}  // namespace causeway::storage
