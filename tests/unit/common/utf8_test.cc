// causeway/common/utf8.h: what is and is not UTF-8, and where the first bad byte is.
#include "causeway/common/utf8.h"

#include <gtest/gtest.h>

#include <string>

namespace causeway::utf8 {
namespace {

TEST(Utf8, AcceptsAsciiAndEveryLengthOfSequence) {
  EXPECT_TRUE(is_valid(""));
  EXPECT_TRUE(is_valid("plain"));
  EXPECT_TRUE(is_valid("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"));
  EXPECT_TRUE(is_valid("\xf4\x8f\xbf\xbf"));  // U+10FFFF, the last code point
  EXPECT_TRUE(is_valid(std::string("a\0b", 3)));  // NUL is UTF-8 (callers refuse control characters)
}

TEST(Utf8, RefusesTruncatedOverlongSurrogateAndOutOfRangeSequences) {
  EXPECT_FALSE(is_valid("\xc3"));              // truncated
  EXPECT_FALSE(is_valid("\xe2\x82"));          // truncated 3-byte
  EXPECT_FALSE(is_valid("\xc0\xaf"));          // overlong '/'
  EXPECT_FALSE(is_valid("\xe0\x80\xaf"));      // overlong 3-byte
  EXPECT_FALSE(is_valid("\xed\xa0\x80"));      // surrogate U+D800
  EXPECT_FALSE(is_valid("\xf4\x90\x80\x80"));  // U+110000
  EXPECT_FALSE(is_valid("\xff"));
  EXPECT_FALSE(is_valid("\x80"));              // a lone continuation byte
  EXPECT_FALSE(is_valid("\xc3(\xa9"));         // a start byte followed by ASCII
}

TEST(Utf8, FirstInvalidPointsAtTheBadSequence) {
  EXPECT_EQ(first_invalid("abc"), 3u);
  EXPECT_EQ(first_invalid("ab\xff" "c"), 2u);
  EXPECT_EQ(first_invalid("caf\xc3\xa9\xc3"), 5u);
}

}  // namespace
}  // namespace causeway::utf8
