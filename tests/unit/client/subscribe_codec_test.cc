// The client side of the subscribe exchange (client/src/protocol_codec.h) and the CLI's
// start-position syntax (client/cli/subscribe_commands.h).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>

#include "client/cli/subscribe_commands.h"
#include "client/src/protocol_codec.h"

namespace causeway::client::internal {
namespace {

Frame frame_of(std::vector<uint8_t> with_length) {
  std::vector<uint8_t> bytes(with_length.begin() + 4, with_length.end());
  auto f = verify_frame(std::move(bytes), 1u << 20);
  EXPECT_TRUE(f.ok()) << f.status().to_string();
  return f.ok() ? std::move(*f) : Frame();
}

TEST(SubscribeCodec, DeliveryDecodesEveryFieldAndTheAttemptPerEvent) {
  flatbuffers::FlatBufferBuilder b;
  std::vector<flatbuffers::Offset<protocol::DeliveredEvent>> events;
  for (uint32_t i = 0; i < 2; ++i) {
    const std::string payload = "p" + std::to_string(i);
    std::vector<flatbuffers::Offset<protocol::Header>> headers{protocol::CreateHeader(
        b, b.CreateString("h"), b.CreateVector(reinterpret_cast<const uint8_t*>("v"), 1))};
    events.push_back(protocol::CreateDeliveredEvent(
        b, 10 + i, 100 + i, 1714564800123, i + 1, b.CreateVector(reinterpret_cast<const uint8_t*>("key"), 3),
        b.CreateVector(reinterpret_cast<const uint8_t*>("dk"), 2), b.CreateString("src"), b.CreateString("ty"),
        b.CreateVector(headers), 7, b.CreateVector(reinterpret_cast<const uint8_t*>(payload.data()), payload.size())));
  }
  auto body = protocol::CreateDelivery(b, b.CreateString("sub"), b.CreateString("orders"), 3, 0, 0, 0,
                                       b.CreateString("m-1"), b.CreateVector(events));
  auto out = decode_delivery(frame_of(finish_frame(b, protocol::CreateMessage(b, 0, protocol::Body::Delivery, body.Union()))));
  ASSERT_TRUE(out.ok()) << out.status().to_string();
  ASSERT_EQ(out->size(), 2u);
  const DeliveredEvent& e = (*out)[1];
  EXPECT_EQ(e.subscription, "sub");
  EXPECT_EQ(e.topic, "orders");
  EXPECT_EQ(e.partition, 3u);
  EXPECT_EQ(e.member_id, "m-1");
  EXPECT_EQ(e.offset, 11u);
  EXPECT_EQ(e.lamport, 101u);
  EXPECT_EQ(e.attempt, 2u);
  EXPECT_EQ(e.key, "key");
  EXPECT_EQ(e.dedup_key, "dk");
  EXPECT_EQ(e.source, "src");
  EXPECT_EQ(e.type, "ty");
  EXPECT_EQ(e.schema_id, 7u);
  EXPECT_EQ(e.payload, "p1");
  ASSERT_EQ(e.headers.size(), 1u);
  EXPECT_EQ(e.headers[0].value, "v");
  EXPECT_EQ((*out)[0].attempt, 1u);
}

TEST(SubscribeCodec, DurableAckAndCleanLeaveCarryTheirNewFields) {
  const std::vector<uint64_t> offsets = {4, 5};
  Frame ack = frame_of(encode_ack(9, "s", "m", 2, offsets, /*durable=*/true));
  const auto* a = ack.message().body_as_AckRequest();
  ASSERT_NE(a, nullptr);
  EXPECT_TRUE(a->durable());
  EXPECT_EQ(a->partition(), 2u);
  EXPECT_EQ(a->offsets()->size(), 2u);
  // The barrier form names no offsets.
  Frame barrier = frame_of(encode_ack(10, "s", "m", 0, {}, true));
  EXPECT_EQ(barrier.message().body_as_AckRequest()->offsets()->size(), 0u);
  EXPECT_FALSE(frame_of(encode_ack(11, "s", "m", 0, offsets)).message().body_as_AckRequest()->durable());

  Frame leave = frame_of(encode_leave(12, "s", "m", true, {{1, {7, 8}}, {3, {9}}}));
  const auto* l = leave.message().body_as_LeaveGroupRequest();
  ASSERT_NE(l, nullptr);
  EXPECT_TRUE(l->release_unprocessed());
  ASSERT_EQ(l->processing()->size(), 2u);
  EXPECT_EQ(l->processing()->Get(0)->partition(), 1u);
  EXPECT_EQ(l->processing()->Get(0)->offsets()->size(), 2u);
  EXPECT_EQ(l->processing()->Get(1)->offsets()->Get(0), 9u);
  EXPECT_FALSE(frame_of(encode_leave(13, "s", "m")).message().body_as_LeaveGroupRequest()->release_unprocessed());

  flatbuffers::FlatBufferBuilder b;
  auto body = protocol::CreateAckResponse(b, protocol::CreateStatus(b, protocol::ErrorCode::Ok), 2, true);
  EXPECT_TRUE(ack_was_durable(frame_of(finish_frame(b, protocol::CreateMessage(b, 9, protocol::Body::AckResponse, body.Union())))));
  EXPECT_FALSE(ack_was_durable(frame_of(encode_heartbeat(5, "s", "m"))));
}

TEST(SubscribeCodec, AFrameThatIsNotADeliveryIsRefused) {
  auto out = decode_delivery(frame_of(encode_heartbeat(5, "s", "m")));
  EXPECT_EQ(out.status().code(), Code::kInternal);
}

TEST(SubscribeCodec, StartPositionsParseAndBadOnesNameTheForms) {
  using K = StartPosition::Kind;
  EXPECT_EQ(cli::parse_start_position("earliest")->kind, K::kEarliest);
  EXPECT_EQ(cli::parse_start_position("latest")->kind, K::kLatest);
  EXPECT_EQ(*cli::parse_start_position("offset:42"), StartPosition::offset(42));
  EXPECT_EQ(*cli::parse_start_position("lamport:7"), StartPosition::lamport(7));
  EXPECT_EQ(*cli::parse_start_position("time:2024-05-01T12:00:00Z"), StartPosition::time_ms(1714564800000));
  EXPECT_EQ(*cli::parse_start_position("time:2024-05-01T12:00:00.123Z"), StartPosition::time_ms(1714564800123));
  EXPECT_EQ(*cli::parse_start_position("time:1714564800123"), StartPosition::time_ms(1714564800123));
  for (const char* bad : {"", "first", "offset:", "offset:-1", "offset:1x", "time:yesterday", "time:2024-13-01T00:00:00Z",
                          "lamport:99999999999999999999999"}) {
    auto r = cli::parse_start_position(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_THAT(std::string(r.status().message()), ::testing::HasSubstr("earliest, latest, offset:N")) << bad;
  }
}

}  // namespace
}  // namespace causeway::client::internal
