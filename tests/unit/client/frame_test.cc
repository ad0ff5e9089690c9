// Frame encoding, length bounds and verification (client/src/frame.h, docs/wire-protocol.md).
#include "client/src/frame.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "client/src/protocol_codec.h"

namespace causeway::client::internal {
namespace {

using ::testing::HasSubstr;

std::span<const uint8_t, 4> prefix_of(const std::vector<uint8_t>& f) { return std::span<const uint8_t, 4>(f.data(), 4); }

TEST(Frame, EncodedFrameCarriesLittleEndianLengthAndVerifies) {
  const std::vector<uint8_t> frame = encode_list_topics(42);
  ASSERT_GT(frame.size(), 4u);
  auto length = decode_frame_length(prefix_of(frame), kDefaultMaxFrameBytes);
  ASSERT_TRUE(length.ok()) << length.status().to_string();
  EXPECT_EQ(*length, frame.size() - 4);
  auto verified = verify_frame(std::vector<uint8_t>(frame.begin() + 4, frame.end()), kDefaultMaxFrameBytes);
  ASSERT_TRUE(verified.ok()) << verified.status().to_string();
  EXPECT_EQ(verified->message().correlation_id(), 42u);
  EXPECT_EQ(verified->message().body_type(), protocol::Body::ListTopicsRequest);
}

TEST(Frame, ZeroLengthIsAFramingError) {
  const std::vector<uint8_t> zero{0, 0, 0, 0};
  auto r = decode_frame_length(prefix_of(zero), kDefaultMaxFrameBytes);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), Code::kResourceExhausted);
}

TEST(Frame, LengthAboveMaxIsRefusedNamingBothNumbers) {
  const std::vector<uint8_t> big{0x01, 0x00, 0x00, 0x01};  // 16777217
  auto r = decode_frame_length(prefix_of(big), 16u << 20);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(std::string(r.error().message()), HasSubstr("16777217"));
  EXPECT_THAT(std::string(r.error().message()), HasSubstr("16777216"));
}

TEST(Frame, GarbageDoesNotVerify) {
  std::vector<uint8_t> junk(64, 0xAB);
  auto r = verify_frame(junk, kDefaultMaxFrameBytes);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), Code::kCorruption);
}

TEST(Frame, TruncationsOfAValidFrameAreRejectedWithoutCrashing) {
  const std::vector<uint8_t> frame = encode_describe_topic(7, "orders");
  const std::vector<uint8_t> body(frame.begin() + 4, frame.end());
  for (std::size_t n = 0; n < body.size(); ++n) {
    auto r = verify_frame(std::vector<uint8_t>(body.begin(), body.begin() + static_cast<std::ptrdiff_t>(n)), kDefaultMaxFrameBytes);
    // Cutting only trailing alignment padding leaves a valid buffer; anything that cuts
    // into the data must fail, and nothing may crash.
    if (n + 8 <= body.size()) {
      EXPECT_FALSE(r.ok()) << "truncated to " << n;
    }
  }
}

TEST(Frame, FlippedBytesNeverCrashTheVerifier) {
  const std::vector<uint8_t> frame = encode_create_topic(9, [] { TopicSpec spec; spec.name = "t"; return spec; }());
  const std::vector<uint8_t> body(frame.begin() + 4, frame.end());
  size_t refused = 0;
  for (std::size_t i = 0; i < body.size(); ++i) {
    std::vector<uint8_t> damaged = body;
    damaged[i] ^= 0xFF;
    auto r = verify_frame(std::move(damaged), kDefaultMaxFrameBytes);
    if (!r.ok()) {
      EXPECT_EQ(r.error().code(), Code::kCorruption) << "byte " << i << ": " << r.error().to_string();
      ++refused;
      continue;
    }
    // A flip the verifier lets through (a scalar's value) leaves a frame that reads safely;
    // ASan checks the reads.
    const protocol::Message& m = r->message();
    (void)m.correlation_id();
    if (const auto* req = m.body_as_CreateTopicRequest(); req != nullptr && req->name() != nullptr) {
      EXPECT_LE(req->name()->size(), body.size());
    }
  }
  // Flips of the root offset, the file identifier and the vtable offsets must be caught.
  EXPECT_GE(refused, 8u) << "of " << body.size() << " flipped bytes";
  for (std::size_t i = 4; i < 8; ++i) {  // "CWY1"
    std::vector<uint8_t> damaged = body;
    damaged[i] ^= 0xFF;
    EXPECT_FALSE(verify_frame(std::move(damaged), kDefaultMaxFrameBytes).ok()) << "identifier byte " << i;
  }
}

TEST(Frame, FrameAboveBoundIsRefusedBeforeVerification) {
  std::vector<uint8_t> body(100, 0);
  auto r = verify_frame(body, 50);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), Code::kResourceExhausted);
}

}  // namespace
}  // namespace causeway::client::internal
