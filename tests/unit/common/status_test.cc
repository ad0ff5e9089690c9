// Status and Result<T> behaviour.
#include "causeway/common/status.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace causeway {
namespace {

using ::testing::HasSubstr;

TEST(Status, DefaultIsOkAndCostsNoAllocation) {
  Status s;
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(s.code(), Code::kOk);
  EXPECT_EQ(s.message(), "");
  EXPECT_EQ(s.to_string(), "ok");
}

TEST(Status, ErrorCarriesCodeAndMessage) {
  Status s = corruption("batch crc mismatch");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), Code::kCorruption);
  EXPECT_EQ(s.to_string(), "corruption: batch crc mismatch");
}

TEST(Status, WithContextPrefixesMessageAndKeepsCode) {
  Status s = io_error("disk gone").with_context("append to /x");
  EXPECT_EQ(s.code(), Code::kIOError);
  EXPECT_EQ(s.message(), "append to /x: disk gone");
  EXPECT_TRUE(Status().with_context("x").ok());
}

TEST(Status, ErrnoOfFullDiskIsResourceExhausted) {
  Status s = io_error_errno("write /data/x", ENOSPC);
  EXPECT_EQ(s.code(), Code::kResourceExhausted);
  EXPECT_THAT(std::string(s.message()), HasSubstr("write /data/x"));
  EXPECT_EQ(io_error_errno("open", EACCES).code(), Code::kIOError);
}

TEST(Result, HoldsValueOrError) {
  Result<int> good = 7;
  ASSERT_TRUE(good.has_value());
  EXPECT_EQ(*good, 7);
  EXPECT_TRUE(good.status().ok());
  Result<int> bad = not_found("topic \"t\"");
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().code(), Code::kNotFound);
  EXPECT_EQ(bad.value_or(3), 3);
}

TEST(Result, ConstructedFromOkStatusBecomesInternalError) {
  Result<int> r = Status();
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), Code::kInternal);
}

Result<int> half(int x) {
  if (x % 2 != 0) return invalid_argument("odd");
  return x / 2;
}
Result<int> quarter(int x) {
  CAUSEWAY_ASSIGN_OR_RETURN(int h, half(x));
  CAUSEWAY_ASSIGN_OR_RETURN(int q, half(h));
  return q;
}

TEST(Result, AssignOrReturnPropagatesFirstError) {
  EXPECT_EQ(*quarter(8), 2);
  EXPECT_EQ(quarter(6).error().message(), "odd");
}

}  // namespace
}  // namespace causeway
