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

TEST(Status, AReasonIsOptionalAndFreeForOk) {
  EXPECT_EQ(Status().reason(), Reason::kNone);
  EXPECT_EQ(invalid_argument("x").reason(), Reason::kNone);
  const Status s(Code::kInvalidArgument, Reason::kInvalidPayload, "payload does not verify");
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_EQ(s.reason(), Reason::kInvalidPayload);
  EXPECT_EQ(s.message(), "payload does not verify");
  // An OK code ignores the reason: OK stays allocation-free and reasonless.
  EXPECT_EQ(Status(Code::kOk, Reason::kInvalidPayload, "x").reason(), Reason::kNone);
  EXPECT_TRUE(Status().with_reason(Reason::kSchemaMismatch).ok());
}

TEST(Status, ContextAndReasonCompose) {
  const Status s = failed_precondition("id 7 is not a version").with_reason(Reason::kSchemaMismatch);
  const Status wrapped = s.with_context("publish to topic 'orders'");
  EXPECT_EQ(wrapped.reason(), Reason::kSchemaMismatch);
  EXPECT_EQ(wrapped.code(), Code::kFailedPrecondition);
  EXPECT_EQ(wrapped.message(), "publish to topic 'orders': id 7 is not a version");
  // Equality includes the reason.
  EXPECT_NE(s, failed_precondition("id 7 is not a version"));
}

TEST(Status, ReasonNamesAreStable) {
  EXPECT_EQ(reason_name(Reason::kNone), "none");
  EXPECT_EQ(reason_name(Reason::kSchemaMismatch), "schema_mismatch");
  EXPECT_EQ(reason_name(Reason::kSubjectNotFound), "subject_not_found");
  EXPECT_EQ(static_cast<int>(Reason::kSubjectNotFound), 40401);  // Confluent's number
  EXPECT_EQ(reason_name(static_cast<Reason>(9)), "reason_9");
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

// Misuse is checked, not undefined and not an exception (the API promises none): it prints
// the Status it found and aborts. The "threadsafe" style re-executes the test binary, so
// the child is not a fork of a process that may already run threads.
class ResultDeathTest : public ::testing::Test {
 protected:
  void SetUp() override { GTEST_FLAG_SET(death_test_style, "threadsafe"); }
};

struct Point {
  int x = 0;
};

TEST_F(ResultDeathTest, ValueOfAnErrorAbortsNamingTheStatus) {
  Result<int> r = not_found("topic 'orders' does not exist");
  EXPECT_DEATH(static_cast<void>(r.value()),
               "Result::value\\(\\) called on a Result that holds an error.*not_found: topic 'orders' does not exist");
  EXPECT_DEATH(static_cast<void>(std::move(r).value()), "not_found: topic 'orders' does not exist");
}

TEST_F(ResultDeathTest, DereferenceOfAnErrorAborts) {
  const Result<int> r = unavailable("connection lost");
  EXPECT_DEATH(static_cast<void>(*r), "Result::operator\\* called.*unavailable: connection lost.*check has_value");
  Result<Point> p = invalid_argument("bad point");
  EXPECT_DEATH(static_cast<void>(p->x), "Result::operator-> called.*invalid_argument: bad point");
  EXPECT_DEATH(static_cast<void>(*std::move(p)), "invalid_argument: bad point");
}

TEST_F(ResultDeathTest, ErrorOfAValueAborts) {
  Result<int> r = 7;
  EXPECT_DEATH(static_cast<void>(r.error()), "Result::error\\(\\) called on a Result that holds a value");
}

TEST(Result, CheckedAccessorsReturnTheValue) {
  Result<Point> p = Point{3};
  EXPECT_EQ(p->x, 3);
  EXPECT_EQ((*p).x, 3);
  EXPECT_EQ(std::move(p).value().x, 3);
}

}  // namespace
}  // namespace causeway
