// Little-endian coding and the bounds-checked reader.
#include "causeway/common/coding.h"

#include <gtest/gtest.h>

namespace causeway::coding {
namespace {

TEST(Coding, FixedWidthIntegersAreLittleEndianOnTheWire) {
  std::string s;
  put_fixed16(s, 0x0102);
  put_fixed32(s, 0x03040506);
  put_fixed64(s, 0x0708090a0b0c0d0eull);
  EXPECT_EQ(s, std::string("\x02\x01\x06\x05\x04\x03\x0e\x0d\x0c\x0b\x0a\x09\x08\x07", 14));
  EXPECT_EQ(decode_fixed16(s.data()), 0x0102);
  EXPECT_EQ(decode_fixed32(s.data() + 2), 0x03040506u);
  EXPECT_EQ(decode_fixed64(s.data() + 6), 0x0708090a0b0c0d0eull);
}

TEST(Coding, BigEndianKeysSortNumerically) {
  std::string a, b;
  put_big_endian64(a, 255);
  put_big_endian64(b, 256);
  EXPECT_LT(a, b);
  EXPECT_EQ(decode_big_endian64(b.data()), 256u);
  std::string c;
  put_big_endian32(c, 0xdeadbeef);
  EXPECT_EQ(decode_big_endian32(c.data()), 0xdeadbeefu);
}

TEST(Reader, ReadPastEndFailsAndStaysFailed) {
  std::string s("\x01\x00\x00\x00\xff", 5);
  Reader r(s);
  uint32_t v = 0;
  ASSERT_TRUE(r.read_u32(v));
  EXPECT_EQ(v, 1u);
  uint32_t w = 0;
  EXPECT_FALSE(r.read_u32(w));
  EXPECT_TRUE(r.failed());
  uint8_t b = 0;
  EXPECT_FALSE(r.read_u8(b));  // even though one byte is left
  EXPECT_EQ(r.remaining(), 0u);
}

TEST(Reader, HugeLengthDoesNotWrapAround) {
  std::string s(8, 'x');
  Reader r(s);
  std::string_view out;
  EXPECT_FALSE(r.read_bytes(static_cast<size_t>(-1), out));
}

}  // namespace
}  // namespace causeway::coding
