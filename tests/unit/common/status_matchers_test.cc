// The StatusIs / IsOk matchers of tests/support/status_matchers.h match what they say, and
// only that.
#include "tests/support/status_matchers.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

namespace causeway {
namespace {

using causeway::testing::IsOk;
using causeway::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::Not;

TEST(StatusMatchers, StatusIsMatchesTheCodeAndOptionallyTheMessage) {
  const Status s = not_found("topic orders does not exist");
  EXPECT_THAT(s, StatusIs(Code::kNotFound));
  EXPECT_THAT(s, StatusIs(Code::kNotFound, HasSubstr("orders")));
  EXPECT_THAT(s, Not(StatusIs(Code::kNotFound, HasSubstr("payments"))));
  EXPECT_THAT(s, Not(StatusIs(Code::kInvalidArgument)));
  EXPECT_THAT(s, Not(IsOk()));
  EXPECT_THAT(Status(), IsOk());
  EXPECT_THAT(Status(), Not(StatusIs(Code::kNotFound)));
}

TEST(StatusMatchers, ResultsMatchByTheirStatus) {
  const Result<int> value = 7;
  const Result<int> error = resource_exhausted("queue full");
  EXPECT_THAT(value, IsOk());
  EXPECT_THAT(value, Not(StatusIs(Code::kResourceExhausted)));
  EXPECT_THAT(error, StatusIs(Code::kResourceExhausted, "queue full"));
  EXPECT_THAT(error, Not(IsOk()));
}

}  // namespace
}  // namespace causeway
