// The one frame codec both sides use (causeway/wire/frame.h, docs/wire-protocol.md).
#include "causeway/wire/frame.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "tests/support/status_matchers.h"

namespace causeway::wire {
namespace {

using causeway::testing::IsOk;
using causeway::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;

std::vector<uint8_t> hello_frame(uint64_t cid) {
  flatbuffers::FlatBufferBuilder b;
  auto hello = protocol::CreateHello(b, 1, b.CreateString("codec-test"));
  return finish_frame(b, cid, protocol::Body::Hello, hello.Union());
}

std::span<const uint8_t, kLengthPrefixBytes> prefix_of(const std::vector<uint8_t>& frame) {
  return std::span<const uint8_t, kLengthPrefixBytes>(frame.data(), kLengthPrefixBytes);
}

TEST(WireFrame, FinishedFrameCarriesItsLengthAndVerifies) {
  const std::vector<uint8_t> frame = hello_frame(42);
  ASSERT_GT(frame.size(), kLengthPrefixBytes);
  const uint32_t n = decode_length_prefix(prefix_of(frame));
  EXPECT_EQ(n, frame.size() - kLengthPrefixBytes);
  EXPECT_TRUE(check_frame_length(n, kDefaultMaxFrameBytes).ok());
  std::vector<uint8_t> body(frame.begin() + kLengthPrefixBytes, frame.end());  // heap: aligned
  ASSERT_THAT(verify_message(body.data(), body.size(), kDefaultMaxFrameBytes), IsOk());
  const protocol::Message* m = protocol::GetMessage(body.data());
  EXPECT_EQ(m->correlation_id(), 42u);
  ASSERT_EQ(m->body_type(), protocol::Body::Hello);
  EXPECT_EQ(m->body_as_Hello()->client_name()->str(), "codec-test");
}

TEST(WireFrame, PrefixIsLittleEndian) {
  const std::vector<uint8_t> p = {0x04, 0x03, 0x02, 0x01};
  EXPECT_EQ(decode_length_prefix(std::span<const uint8_t, 4>(p.data(), 4)), 0x01020304u);
}

TEST(WireFrame, ZeroAndOversizedLengthsAreResourceExhaustedNamingTheBound) {
  EXPECT_THAT(check_frame_length(0, 1000), StatusIs(Code::kResourceExhausted));
  EXPECT_THAT(check_frame_length(1001, 1000),
              StatusIs(Code::kResourceExhausted, AllOf(HasSubstr("1001"), HasSubstr("1000"))));
  EXPECT_THAT(check_frame_length(1000, 1000), IsOk());
  EXPECT_THAT(check_frame_length(1, 1000), IsOk());
}

TEST(WireFrame, BufferAboveTheBoundIsRefusedBeforeVerification) {
  const std::vector<uint8_t> frame = hello_frame(1);
  std::vector<uint8_t> body(frame.begin() + kLengthPrefixBytes, frame.end());
  EXPECT_THAT(verify_message(body.data(), body.size(), static_cast<uint32_t>(body.size() - 1)),
              StatusIs(Code::kResourceExhausted));
  EXPECT_THAT(verify_message(body.data(), 0, kDefaultMaxFrameBytes), StatusIs(Code::kResourceExhausted));
}

TEST(WireFrame, WrongFileIdentifierIsCorruption) {
  const std::vector<uint8_t> frame = hello_frame(1);
  std::vector<uint8_t> body(frame.begin() + kLengthPrefixBytes, frame.end());
  // The identifier "CWY1" sits right after the root offset.
  ASSERT_EQ(std::memcmp(body.data() + 4, "CWY1", 4), 0);
  body[4] = 'X';
  EXPECT_THAT(verify_message(body.data(), body.size(), kDefaultMaxFrameBytes),
              StatusIs(Code::kCorruption, HasSubstr("does not verify")));
}

TEST(WireFrame, TruncationsThatCutDataAreRefusedAndPaddingCutsStillRead) {
  const std::vector<uint8_t> frame = hello_frame(7);
  const std::vector<uint8_t> body(frame.begin() + kLengthPrefixBytes, frame.end());
  // The buffer ends with the client name string, its NUL and up to 3 bytes of alignment
  // padding: cutting only padding leaves a valid Message; cutting more must be refused.
  for (size_t n = 1; n < body.size(); ++n) {
    std::vector<uint8_t> cut(body.begin(), body.begin() + static_cast<std::ptrdiff_t>(n));
    const Status s = verify_message(cut.data(), cut.size(), kDefaultMaxFrameBytes);
    if (n + 4 <= body.size()) {
      EXPECT_FALSE(s.ok()) << "length " << n << " of " << body.size();
    } else if (s.ok()) {
      EXPECT_EQ(protocol::GetMessage(cut.data())->body_as_Hello()->client_name()->str(), "codec-test");
    }
  }
}

}  // namespace
}  // namespace causeway::wire
