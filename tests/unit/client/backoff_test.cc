// Reconnect backoff policy (client/src/backoff.h).
#include "client/src/backoff.h"

#include <gtest/gtest.h>

#include <set>

namespace causeway::client::internal {
namespace {

using std::chrono::milliseconds;

TEST(Backoff, CeilingDoublesFromInitialUpToMax) {
  BackoffPolicy policy(milliseconds(100), milliseconds(5000));
  EXPECT_EQ(policy.ceiling(0), milliseconds(100));
  EXPECT_EQ(policy.ceiling(1), milliseconds(200));
  EXPECT_EQ(policy.ceiling(3), milliseconds(800));
  EXPECT_EQ(policy.ceiling(6), milliseconds(5000));
  EXPECT_EQ(policy.ceiling(1000), milliseconds(5000));  // no overflow for huge attempts
}

TEST(Backoff, DelayStaysWithinHalfCeilingAndCeiling) {
  BackoffPolicy policy(milliseconds(100), milliseconds(5000));
  std::mt19937_64 rng(testing::UnitTest::GetInstance()->random_seed());
  for (int attempt = 0; attempt < 20; ++attempt) {
    for (int i = 0; i < 200; ++i) {
      const auto d = policy.delay(attempt, rng);
      EXPECT_GE(d, policy.ceiling(attempt) / 2) << "attempt " << attempt;
      EXPECT_LE(d, policy.ceiling(attempt)) << "attempt " << attempt;
    }
  }
}

TEST(Backoff, JitterSpreadsDelays) {
  BackoffPolicy policy(milliseconds(1000), milliseconds(1000));
  std::mt19937_64 rng(1);
  std::set<int64_t> seen;
  for (int i = 0; i < 100; ++i) seen.insert(policy.delay(0, rng).count());
  EXPECT_GT(seen.size(), 10u);
}

TEST(Backoff, ZeroOrInvertedSettingsAreClamped) {
  BackoffPolicy policy(milliseconds(0), milliseconds(0));
  std::mt19937_64 rng(1);
  EXPECT_GE(policy.ceiling(0), milliseconds(1));
  EXPECT_GE(policy.delay(5, rng), milliseconds(0));
  BackoffPolicy inverted(milliseconds(500), milliseconds(100));
  EXPECT_EQ(inverted.ceiling(3), milliseconds(500));
}

}  // namespace
}  // namespace causeway::client::internal
