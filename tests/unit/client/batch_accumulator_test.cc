// Per-topic batching with linger and max bytes (client/src/batch_accumulator.h).
#include "client/src/batch_accumulator.h"

#include <gtest/gtest.h>

namespace causeway::client::internal {
namespace {

using std::chrono::microseconds;
using Acc = BatchAccumulator<int>;

TEST(BatchAccumulator, HoldsItemsUntilLingerExpires) {
  Acc acc(1000, 100, microseconds(500));
  const auto t0 = Acc::Clock::time_point{} + std::chrono::seconds(1);
  EXPECT_TRUE(acc.add("a", 1, 10, t0).empty());
  EXPECT_TRUE(acc.add("a", 2, 10, t0 + microseconds(100)).empty());
  ASSERT_TRUE(acc.next_deadline().has_value());
  EXPECT_EQ(*acc.next_deadline(), t0 + microseconds(500));  // linger counts from the first item
  EXPECT_TRUE(acc.take_expired(t0 + microseconds(499)).empty());
  auto sealed = acc.take_expired(t0 + microseconds(500));
  ASSERT_EQ(sealed.size(), 1u);
  EXPECT_EQ(sealed[0].topic, "a");
  EXPECT_EQ(sealed[0].items, (std::vector<int>{1, 2}));
  EXPECT_EQ(sealed[0].bytes, 20u);
  EXPECT_TRUE(acc.empty());
}

TEST(BatchAccumulator, SealsWhenTheNextItemWouldPassMaxBytes) {
  Acc acc(100, 1000, microseconds(1000000));
  const auto t0 = Acc::Clock::now();
  EXPECT_TRUE(acc.add("a", 1, 60, t0).empty());
  auto sealed = acc.add("a", 2, 60, t0);
  ASSERT_EQ(sealed.size(), 1u);
  EXPECT_EQ(sealed[0].items, std::vector<int>{1});
  auto rest = acc.take_all();
  ASSERT_EQ(rest.size(), 1u);
  EXPECT_EQ(rest[0].items, std::vector<int>{2});
}

TEST(BatchAccumulator, AnOversizedItemTravelsAlone) {
  Acc acc(100, 1000, microseconds(1000000));
  const auto t0 = Acc::Clock::now();
  EXPECT_TRUE(acc.add("a", 1, 10, t0).empty());
  auto sealed = acc.add("a", 2, 500, t0);
  ASSERT_EQ(sealed.size(), 2u);
  EXPECT_EQ(sealed[0].items, std::vector<int>{1});
  EXPECT_EQ(sealed[1].items, std::vector<int>{2});
  EXPECT_TRUE(acc.empty());
}

TEST(BatchAccumulator, SealsAtMaxEvents) {
  Acc acc(1 << 20, 3, microseconds(1000000));
  const auto t0 = Acc::Clock::now();
  EXPECT_TRUE(acc.add("a", 1, 1, t0).empty());
  EXPECT_TRUE(acc.add("a", 2, 1, t0).empty());
  auto sealed = acc.add("a", 3, 1, t0);
  ASSERT_EQ(sealed.size(), 1u);
  EXPECT_EQ(sealed[0].items.size(), 3u);
}

TEST(BatchAccumulator, TopicsBatchSeparately) {
  Acc acc(1000, 1000, microseconds(100));
  const auto t0 = Acc::Clock::now();
  EXPECT_TRUE(acc.add("a", 1, 1, t0).empty());
  EXPECT_TRUE(acc.add("b", 2, 1, t0 + microseconds(50)).empty());
  EXPECT_TRUE(acc.add("a", 3, 1, t0 + microseconds(60)).empty());
  auto first = acc.take_expired(t0 + microseconds(100));
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0].topic, "a");
  EXPECT_EQ(first[0].items, (std::vector<int>{1, 3}));
  auto second = acc.take_expired(t0 + microseconds(150));
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(second[0].topic, "b");
}

TEST(BatchAccumulator, ZeroLingerSendsEachItemAtOnce) {
  Acc acc(1000, 1000, microseconds(0));
  auto sealed = acc.add("a", 1, 1, Acc::Clock::now());
  ASSERT_EQ(sealed.size(), 1u);
  EXPECT_TRUE(acc.empty());
}

}  // namespace
}  // namespace causeway::client::internal
