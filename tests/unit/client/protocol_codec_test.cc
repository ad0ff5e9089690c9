// Wire codes to Status, and decoding of fetched log batches (client/src/protocol_codec.h).
#include "client/src/protocol_codec.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "causeway/common/batch_format.h"

namespace causeway::client::internal {
namespace {

using ::testing::HasSubstr;

std::string make_batch(uint64_t base_offset, int count, uint64_t first_lamport) {
  std::vector<std::string> payloads;
  for (int i = 0; i < count; ++i) payloads.push_back("p" + std::to_string(base_offset + static_cast<uint64_t>(i)));
  const storage::Header headers[] = {{"h", "v"}};
  std::vector<storage::RecordInput> records;
  for (const auto& p : payloads) records.push_back(storage::RecordInput{"key", "dk", "src", "ty", headers, 7, p});
  std::string out;
  EXPECT_TRUE(storage::encode_batch(records, base_offset, first_lamport, 1714564800123, out).ok());
  return out;
}

TEST(ProtocolCodec, WireCodesMapToCausewayCodes) {
  EXPECT_TRUE(status_from_wire(protocol::ErrorCode::Ok, "").ok());
  EXPECT_EQ(status_from_wire(protocol::ErrorCode::NotFound, "x").code(), Code::kNotFound);
  EXPECT_EQ(status_from_wire(protocol::ErrorCode::Unavailable, "x").code(), Code::kUnavailable);
  const Status v = status_from_wire(protocol::ErrorCode::UnsupportedVersion, "speaks 2");
  EXPECT_EQ(v.code(), Code::kFailedPrecondition);
  EXPECT_THAT(std::string(v.message()), HasSubstr("speaks 2"));
  EXPECT_EQ(status_from_wire(protocol::ErrorCode::SchemaMismatch, "").code(), Code::kInvalidArgument);
}

TEST(ProtocolCodec, FetchDecodingSkipsRecordsBelowTheRequestedOffset) {
  const std::string blob = make_batch(10, 5, 100) + make_batch(15, 3, 105);
  FetchResult out;
  ASSERT_TRUE(decode_fetched_batches(blob, "orders", 2, 12, 1000, out).ok());
  ASSERT_EQ(out.events.size(), 6u);
  EXPECT_EQ(out.events.front().offset, 12u);
  EXPECT_EQ(out.events.front().lamport, 102u);
  EXPECT_EQ(out.events.front().payload, "p12");
  EXPECT_EQ(out.events.front().topic, "orders");
  EXPECT_EQ(out.events.front().partition, 2u);
  EXPECT_EQ(out.events.front().schema_id, 7u);
  ASSERT_EQ(out.events.front().headers.size(), 1u);
  EXPECT_EQ(out.events.back().offset, 17u);
  EXPECT_EQ(out.next_offset, 18u);
}

TEST(ProtocolCodec, FetchDecodingStopsAtMaxEvents) {
  FetchResult out;
  ASSERT_TRUE(decode_fetched_batches(make_batch(0, 10, 1), "t", 0, 0, 4, out).ok());
  EXPECT_EQ(out.events.size(), 4u);
  EXPECT_EQ(out.next_offset, 4u);
}

TEST(ProtocolCodec, DamagedFetchedBatchIsCorruption) {
  std::string blob = make_batch(0, 3, 1);
  blob[blob.size() - 2] ^= 0x40;
  FetchResult out;
  const Status s = decode_fetched_batches(blob, "t", 0, 0, 100, out);
  EXPECT_EQ(s.code(), Code::kCorruption);
  const std::string truncated = make_batch(0, 3, 1).substr(0, 70);
  EXPECT_EQ(decode_fetched_batches(truncated, "t", 0, 0, 100, out).code(), Code::kCorruption);
}

TEST(ProtocolCodec, EmptyFetchKeepsTheRequestedOffset) {
  FetchResult out;
  ASSERT_TRUE(decode_fetched_batches("", "t", 0, 42, 100, out).ok());
  EXPECT_TRUE(out.events.empty());
  EXPECT_EQ(out.next_offset, 42u);
}

}  // namespace
}  // namespace causeway::client::internal
