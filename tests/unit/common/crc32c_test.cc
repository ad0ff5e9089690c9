// CRC32C: known vectors (RFC 3720 B.4), hardware == portable, extend, masking.
#include "causeway/common/crc32c.h"

#include <gtest/gtest.h>

#include <random>
#include <string>

namespace causeway::crc32c {
namespace {

TEST(Crc32c, MatchesRfc3720TestVectors) {
  std::string zeros(32, '\0');
  EXPECT_EQ(value(zeros), 0x8a9136aau);
  std::string ones(32, '\xff');
  EXPECT_EQ(value(ones), 0x62a8ab43u);
  std::string inc(32, '\0');
  for (int i = 0; i < 32; ++i) inc[i] = static_cast<char>(i);
  EXPECT_EQ(value(inc), 0x46dd794eu);
  EXPECT_EQ(value("123456789"), 0xe3069283u);
}

TEST(Crc32c, HardwareAndPortablePathsAgreeOnEveryLengthAndAlignment) {
  std::mt19937 rng(42);
  std::string buf(300, '\0');
  for (char& c : buf) c = static_cast<char>(rng());
  for (size_t start = 0; start < 9; ++start) {
    for (size_t len = 0; len + start <= buf.size(); len += 7) {
      EXPECT_EQ(extend(0, buf.data() + start, len), extend_portable(0, buf.data() + start, len))
          << "start " << start << " len " << len;
    }
  }
}

TEST(Crc32c, ExtendEqualsCrcOfConcatenation) {
  const std::string a = "hello ", b = "world";
  EXPECT_EQ(extend(value(a), b.data(), b.size()), value(a + b));
}

TEST(Crc32c, MaskRoundTripsAndChangesValue) {
  const uint32_t crc = value("foo");
  EXPECT_NE(mask(crc), crc);
  EXPECT_NE(mask(mask(crc)), crc);
  EXPECT_EQ(unmask(mask(crc)), crc);
  EXPECT_EQ(unmask(unmask(mask(mask(crc)))), crc);
}

}  // namespace
}  // namespace causeway::crc32c

namespace causeway::crc32c {
namespace {

// Inputs long enough for the three-stream path (3 KiB stripes) and its merge step.
TEST(Crc32c, InterleavedStreamsMatchPortablePathOnLongInputs) {
  std::mt19937 rng(7);
  std::string buf(70016, '\0');
  for (char& c : buf) c = static_cast<char>(rng());
  for (size_t len : {3071u, 3072u, 3073u, 6144u, 9999u, 65536u, 69999u}) {
    for (size_t start : {0u, 1u, 5u}) {
      EXPECT_EQ(extend(0x12345678u, buf.data() + start, len), extend_portable(0x12345678u, buf.data() + start, len))
          << "start " << start << " len " << len;
    }
  }
}

}  // namespace
}  // namespace causeway::crc32c
