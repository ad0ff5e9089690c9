// LamportClock: max(clock, observed) + 1, atomically.
#include "causeway/common/lamport_clock.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <thread>
#include <vector>

namespace causeway {
namespace {

TEST(LamportClock, TickExceedsBothClockAndObservedStamp) {
  LamportClock c;
  EXPECT_EQ(c.tick(), 1u);
  EXPECT_EQ(c.tick(10), 11u);
  EXPECT_EQ(c.tick(3), 12u);
  EXPECT_EQ(c.now(), 12u);
}

TEST(LamportClock, TickNReservesConsecutiveStamps) {
  LamportClock c(5);
  EXPECT_EQ(c.tick_n(0, 3), 6u);  // 6, 7, 8
  EXPECT_EQ(c.now(), 8u);
  EXPECT_EQ(c.tick_n(100, 2), 101u);
  EXPECT_EQ(c.now(), 102u);
}

TEST(LamportClock, ObserveNeverMovesBackwards) {
  LamportClock c(50);
  c.observe(20);
  EXPECT_EQ(c.now(), 50u);
  c.observe(70);
  EXPECT_EQ(c.now(), 70u);
}

TEST(LamportClock, ConcurrentTicksAreUnique) {
  LamportClock c;
  constexpr int kThreads = 4, kPer = 5000;
  std::vector<std::vector<uint64_t>> got(kThreads);
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; ++t)
    ts.emplace_back([&, t] {
      for (int i = 0; i < kPer; ++i) got[t].push_back(c.tick(static_cast<uint64_t>(i)).value());
    });
  for (auto& t : ts) t.join();
  std::vector<uint64_t> all;
  for (auto& g : got) {
    EXPECT_TRUE(std::is_sorted(g.begin(), g.end()));
    all.insert(all.end(), g.begin(), g.end());
  }
  std::sort(all.begin(), all.end());
  EXPECT_EQ(std::adjacent_find(all.begin(), all.end()), all.end());
  EXPECT_EQ(all.back(), static_cast<uint64_t>(kThreads * kPer));
}

// A stamp near 2^64 used to wrap the clock to small values for every later publisher.
TEST(LamportClock, TickThatWouldPassTheBoundIsRefusedAndLeavesTheClockAlone) {
  LamportClock c(100);
  EXPECT_EQ(c.tick(UINT64_MAX - 1), std::nullopt);
  EXPECT_EQ(c.tick_n(kMaxLamport, 1), std::nullopt);
  EXPECT_EQ(c.tick_n(kMaxLamport - 3, 4), std::nullopt);
  EXPECT_EQ(c.tick_n(0, 0), std::nullopt);
  EXPECT_EQ(c.now(), 100u);
  EXPECT_EQ(c.tick_n(kMaxLamport - 3, 3), kMaxLamport - 2);  // exactly up to the bound
  EXPECT_EQ(c.now(), kMaxLamport);
  EXPECT_EQ(c.tick(), std::nullopt);
  EXPECT_EQ(c.now(), kMaxLamport);
}

TEST(LamportClock, ClientLimitLeavesRoomBelowTheBound) {
  static_assert(kMaxClientLamport < kMaxLamport);
  LamportClock c;
  EXPECT_EQ(c.tick_n(kMaxClientLamport, 1'000'000), kMaxClientLamport + 1);
}

}  // namespace
}  // namespace causeway
