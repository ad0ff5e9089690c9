// Duration and size parsing for flags.
#include "causeway/common/units.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace causeway::units {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

TEST(ParseDuration, AcceptsUnitsAndCompositions) {
  EXPECT_EQ(*parse_duration("250ms"), 250ms);
  EXPECT_EQ(*parse_duration("2m"), 2min);
  EXPECT_EQ(*parse_duration("7d"), 168h);
  EXPECT_EQ(*parse_duration("1h30m"), 90min);
  EXPECT_EQ(*parse_duration("10S"), 10s);
  EXPECT_EQ(*parse_duration("0s"), 0s);
}

TEST(ParseDuration, RejectsBareNumbersUnknownUnitsAndOverflowNamingTheText) {
  for (const char* bad : {"", "30", "5 minutes", "1x", "-5s", "s", "99999999999999999999d", "1.5s"}) {
    auto r = parse_duration(bad);
    ASSERT_FALSE(r.has_value()) << bad;
    EXPECT_EQ(r.error().code(), Code::kInvalidArgument);
    EXPECT_THAT(std::string(r.error().message()), HasSubstr(std::string("\"") + bad + "\""));
  }
}

TEST(ParseSize, AcceptsDecimalAndBinaryUnits) {
  EXPECT_EQ(*parse_size("4096"), 4096u);
  EXPECT_EQ(*parse_size("512MiB"), 512ull << 20);
  EXPECT_EQ(*parse_size("10GB"), 10'000'000'000ull);
  EXPECT_EQ(*parse_size("64kib"), 65536u);
  EXPECT_EQ(*parse_size("1 TiB"), 1ull << 40);
}

TEST(ParseSize, RejectsGarbageAndOverflow) {
  for (const char* bad : {"", "MiB", "12XB", "-1", "20000000TiB", "1.5GB"}) {
    auto r = parse_size(bad);
    ASSERT_FALSE(r.has_value()) << bad;
    EXPECT_THAT(std::string(r.error().message()), HasSubstr("invalid size"));
  }
}

TEST(Format, RoundTripsThroughParse) {
  EXPECT_EQ(format_duration(2min), "2m");
  EXPECT_EQ(format_duration(90min), "1h30m");
  EXPECT_EQ(format_duration(250ms), "250ms");
  EXPECT_EQ(format_size(512ull << 20), "512MiB");
  EXPECT_EQ(format_size(10'000'000'000ull), "10GB");
  for (auto d : {1s, 3600s, 86400s * 7}) EXPECT_EQ(*parse_duration(format_duration(d)), d);
}

}  // namespace
}  // namespace causeway::units
