// Wire codes to Status, response readers, and decoding of fetched log batches
// (client/src/protocol_codec.h).
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
  const batch::Header headers[] = {{"h", "v"}};
  std::vector<batch::RecordInput> records;
  for (const auto& p : payloads) records.push_back(batch::RecordInput{"key", "dk", "src", "ty", headers, 7, p});
  std::string out;
  EXPECT_TRUE(batch::encode_batch(records, base_offset, first_lamport, 1714564800123, out).ok());
  return out;
}

// A verified incoming frame holding `body` of `type` (or no table when body is null).
Frame received(flatbuffers::FlatBufferBuilder& b, protocol::Body type, flatbuffers::Offset<void> body, uint64_t cid = 5) {
  const std::vector<uint8_t> bytes = finish_frame(b, protocol::CreateMessage(b, cid, type, body));
  auto frame = verify_frame(std::vector<uint8_t>(bytes.begin() + kFrameLengthBytes, bytes.end()), kDefaultMaxFrameBytes);
  EXPECT_TRUE(frame.ok()) << frame.error().to_string();
  return std::move(*frame);
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

// Found by client_frame_fuzzer (corpus/client_frame/regression_error_response_without_table):
// the verifier accepts a union type whose table is absent, and response_status read the
// status of the missing ErrorResponse through a null pointer.
TEST(ProtocolCodec, ErrorResponseWithoutItsTableIsAnInternalErrorNotACrash) {
  flatbuffers::FlatBufferBuilder b;
  const Frame frame = received(b, protocol::Body::ErrorResponse, 0);
  const Status s = response_status(frame, protocol::Body::PublishResponse);
  EXPECT_EQ(s.code(), Code::kInternal);
  EXPECT_THAT(std::string(s.message()), HasSubstr("ErrorResponse without an error"));
  EXPECT_EQ(decode_publish_response(frame, 1).error().code(), Code::kInternal);
  EXPECT_EQ(decode_fetch_response(frame, "t", 0, 0, 10).error().code(), Code::kInternal);
}

TEST(ProtocolCodec, PublishResponseGivesEachEventItsAckOrItsError) {
  flatbuffers::FlatBufferBuilder b;
  const std::vector<protocol::EventAck> acks = {{0, protocol::ErrorCode::Ok, false, 10, 100},
                                                {1, protocol::ErrorCode::SchemaMismatch, false, 0, 0},
                                                {2, protocol::ErrorCode::Ok, true, 7, 70},
                                                {0, protocol::ErrorCode::InvalidArgument, false, 0, 0}};
  const auto errors = std::vector{protocol::CreateEventErrorDirect(b, 1, "id 9 is not a version of orders-value")};
  const Frame frame = received(b, protocol::Body::PublishResponse,
                               protocol::CreatePublishResponseDirect(b, 0, &acks, &errors).Union());
  auto outcomes = decode_publish_response(frame, 4);
  ASSERT_TRUE(outcomes.ok()) << outcomes.error().to_string();
  ASSERT_EQ(outcomes->size(), 4u);
  ASSERT_TRUE((*outcomes)[0].ok());
  EXPECT_EQ((*outcomes)[0]->offset, 10u);
  EXPECT_EQ((*outcomes)[0]->lamport, 100u);
  EXPECT_EQ((*outcomes)[1].error().code(), Code::kInvalidArgument);
  EXPECT_THAT(std::string((*outcomes)[1].error().message()), HasSubstr("id 9 is not a version"));
  ASSERT_TRUE((*outcomes)[2].ok());
  EXPECT_TRUE((*outcomes)[2]->duplicate);
  EXPECT_THAT(std::string((*outcomes)[3].error().message()), HasSubstr("event rejected"));
  // The outcome of each event is unknown when the counts differ.
  const Status mismatch = decode_publish_response(frame, 3).error();
  EXPECT_EQ(mismatch.code(), Code::kInternal);
  EXPECT_THAT(std::string(mismatch.message()), HasSubstr("4 acks for 3 events"));
}

TEST(ProtocolCodec, FetchResponseCarriesPositionsAndEvents) {
  flatbuffers::FlatBufferBuilder b;
  const std::string blob = make_batch(3, 2, 30);
  const std::vector<uint8_t> batches(blob.begin(), blob.end());
  const Frame frame = received(b, protocol::Body::FetchResponse,
                               protocol::CreateFetchResponseDirect(b, 0, 1, 5, &batches).Union());
  auto result = decode_fetch_response(frame, "orders", 1, 4, 100);
  ASSERT_TRUE(result.ok()) << result.error().to_string();
  EXPECT_EQ(result->log_start_offset, 1u);
  EXPECT_EQ(result->high_watermark, 5u);
  ASSERT_EQ(result->events.size(), 1u);
  EXPECT_EQ(result->events[0].offset, 4u);
  EXPECT_EQ(result->next_offset, 5u);
}

}  // namespace
}  // namespace causeway::client::internal
