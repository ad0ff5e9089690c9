// parse_listen_address: the daemons' HOST:PORT flags.
#include "causeway/common/listen_address.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace causeway {
namespace {

using ::testing::HasSubstr;

TEST(ListenAddress, AcceptsIpv4Ipv6AndPortZero) {
  std::string host;
  uint16_t port = 1;
  ASSERT_TRUE(parse_listen_address("127.0.0.1:7450", host, port).ok());
  EXPECT_EQ(host, "127.0.0.1");
  EXPECT_EQ(port, 7450);
  ASSERT_TRUE(parse_listen_address("[::1]:0", host, port).ok());
  EXPECT_EQ(host, "::1");
  EXPECT_EQ(port, 0);
}

TEST(ListenAddress, NamesWhatIsWrongAndLeavesTheOutputsAlone) {
  std::string host = "unchanged";
  uint16_t port = 9;
  for (const auto& [text, expected] : {std::pair{"localhost:80", "invalid host \"localhost\""},
                                       std::pair{"127.0.0.1:65536", "invalid port \"65536\""},
                                       std::pair{"127.0.0.1:x", "invalid port \"x\""},
                                       std::pair{"127.0.0.1", "expected HOST:PORT"},
                                       std::pair{":80", "expected HOST:PORT"}}) {
    Status s = parse_listen_address(text, host, port);
    ASSERT_FALSE(s.ok()) << text;
    EXPECT_EQ(s.code(), Code::kInvalidArgument);
    EXPECT_THAT(std::string(s.message()), HasSubstr(expected)) << text;
  }
  EXPECT_EQ(host, "unchanged");
  EXPECT_EQ(port, 9);
}

}  // namespace
}  // namespace causeway
