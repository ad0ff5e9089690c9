// PartitionDelivery and CreditWindow (broker/src/subscribe/partition_delivery.h): the
// contiguous acked prefix, acks above a gap, redelivery order and errors, credit accounting.
#include "subscribe/partition_delivery.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <random>
#include <set>

namespace causeway::subscribe {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr uint64_t kMember = 7;
const Clock::time_point kT0 = Clock::time_point() + std::chrono::hours(1);

InFlight flight(uint64_t member = kMember, uint32_t attempt = 1, Clock::duration deadline = std::chrono::seconds(30)) {
  return InFlight{member, attempt, kT0 + deadline, 100, 0};
}

PartitionDelivery delivered(uint64_t first, uint64_t count) {
  PartitionDelivery d;
  d.reset(first, {}, 0);
  for (uint64_t o = first; o < first + count; ++o) d.deliver_new(o, flight());
  return d;
}

TEST(PartitionDelivery, CommittedOffsetIsTheEndOfTheContiguousAckedPrefix) {
  PartitionDelivery d = delivered(10, 5);
  ASSERT_TRUE(d.ack(kMember, 10).ok());
  ASSERT_TRUE(d.ack(kMember, 11).ok());
  EXPECT_EQ(d.committed(), 12u);
  EXPECT_TRUE(d.take_dirty());
  EXPECT_FALSE(d.take_dirty());
}

TEST(PartitionDelivery, AcksAboveAGapAreKeptUntilTheGapCloses) {
  PartitionDelivery d = delivered(0, 5);
  ASSERT_TRUE(d.ack(kMember, 2).ok());
  ASSERT_TRUE(d.ack(kMember, 4).ok());
  EXPECT_EQ(d.committed(), 0u);
  EXPECT_THAT(d.acked_above().lowest(100), ElementsAre(2, 4));
  ASSERT_TRUE(d.ack(kMember, 0).ok());
  ASSERT_TRUE(d.ack(kMember, 1).ok());
  EXPECT_EQ(d.committed(), 3u);
  EXPECT_THAT(d.acked_above().lowest(100), ElementsAre(4));
  ASSERT_TRUE(d.ack(kMember, 3).ok());
  EXPECT_EQ(d.committed(), 5u);
  EXPECT_TRUE(d.acked_above().empty());
}

TEST(PartitionDelivery, ResetFromPersistedStateSkipsAckedOffsetsAndFoldsThePrefix) {
  PartitionDelivery d;
  d.reset(5, {6, 9, 3}, 0);  // 3 is below the committed offset and ignored
  EXPECT_EQ(d.committed(), 5u);
  EXPECT_TRUE(d.is_acked(6));
  EXPECT_TRUE(d.is_acked(9));
  EXPECT_FALSE(d.is_acked(7));
  PartitionDelivery e;
  e.reset(5, {5, 6, 8}, 0);
  EXPECT_EQ(e.committed(), 7u);
  EXPECT_EQ(e.next_read(), 7u);
  PartitionDelivery f;
  f.reset(5, {}, 20);  // retention removed offsets below 20
  EXPECT_EQ(f.committed(), 20u);
}

TEST(PartitionDelivery, HostileAcksAreRefusedAndChangeNothing) {
  PartitionDelivery d = delivered(0, 3);
  ASSERT_TRUE(d.ack(kMember, 0).ok());
  auto dup = d.ack(kMember, 0);
  EXPECT_EQ(dup.status().code(), Code::kAlreadyExists);
  auto never = d.ack(kMember, 100);
  EXPECT_EQ(never.status().code(), Code::kOutOfRange);
  EXPECT_THAT(std::string(never.status().message()), HasSubstr("never delivered"));
  auto other = d.ack(kMember + 1, 1);
  EXPECT_EQ(other.status().code(), Code::kFailedPrecondition);
  EXPECT_EQ(d.committed(), 1u);
  EXPECT_EQ(d.in_flight().size(), 2u);
}

TEST(PartitionDelivery, NackedOffsetsWaitForTheirDelayAndComeBackLowestFirst) {
  PartitionDelivery d = delivered(0, 4);
  ASSERT_TRUE(d.nack(kMember, 3, kT0 + std::chrono::seconds(1), "boom").ok());
  ASSERT_TRUE(d.nack(kMember, 1, kT0 + std::chrono::seconds(2), "boom").ok());
  EXPECT_TRUE(d.ready(kT0, 10).empty());
  EXPECT_THAT(d.ready(kT0 + std::chrono::seconds(1), 10), ElementsAre(3));
  EXPECT_THAT(d.ready(kT0 + std::chrono::seconds(5), 10), ElementsAre(1, 3));
  EXPECT_EQ(d.waiting().at(1).attempts_done, 1u);
  EXPECT_EQ(d.waiting().at(1).last_reason, "boom");
  // A nacked offset is not in flight: acking it now is refused, it will come again.
  EXPECT_EQ(d.ack(kMember, 1).status().code(), Code::kFailedPrecondition);
  d.redeliver(1, flight(kMember, 2));
  EXPECT_EQ(d.in_flight().at(1).attempt, 2u);
  ASSERT_TRUE(d.ack(kMember, 1).ok());
}

TEST(PartitionDelivery, ExpiredDeadlinesReleaseCreditAndWaitTheirBackoff) {
  PartitionDelivery d;
  d.reset(0, {}, 0);
  d.deliver_new(0, flight(kMember, 1, std::chrono::seconds(1)));
  d.deliver_new(1, flight(kMember, 1, std::chrono::seconds(10)));
  auto released = d.expire(kT0 + std::chrono::seconds(2), [](uint32_t) { return std::chrono::seconds(3); });
  ASSERT_EQ(released.size(), 1u);
  EXPECT_EQ(released[0].first, kMember);
  EXPECT_EQ(released[0].second, 100u);
  EXPECT_TRUE(d.ready(kT0 + std::chrono::seconds(4), 10).empty());
  EXPECT_THAT(d.ready(kT0 + std::chrono::seconds(5), 10), ElementsAre(0));
  EXPECT_EQ(d.waiting().at(0).last_reason, "ack deadline expired");
}

TEST(PartitionDelivery, ExtendingADeadlinePostponesItsExpiryForItsMemberOnly) {
  PartitionDelivery d;
  d.reset(0, {}, 0);
  d.deliver_new(0, flight(kMember, 1, std::chrono::seconds(1)));
  EXPECT_EQ(d.extend(kMember + 1, 0, kT0 + std::chrono::seconds(10)).code(), Code::kFailedPrecondition);
  ASSERT_TRUE(d.extend(kMember, 0, kT0 + std::chrono::seconds(10)).ok());
  EXPECT_TRUE(d.expire(kT0 + std::chrono::seconds(5), nullptr).empty());
  EXPECT_EQ(d.expire(kT0 + std::chrono::seconds(11), nullptr).size(), 1u);
  EXPECT_EQ(d.extend(kMember, 0, kT0).code(), Code::kFailedPrecondition);  // no longer in flight
}

TEST(PartitionDelivery, AMemberThatLeavesHandsBackOnlyItsOwnEvents) {
  PartitionDelivery d;
  d.reset(0, {}, 0);
  d.deliver_new(0, flight(1));
  d.deliver_new(1, flight(2));
  d.deliver_new(2, flight(1));
  auto released = d.release_member(1, kT0);
  EXPECT_EQ(released.size(), 2u);
  EXPECT_THAT(d.ready(kT0, 10), ElementsAre(0, 2));
  EXPECT_EQ(d.in_flight().size(), 1u);
}

TEST(PartitionDelivery, EventsAMemberNeverProcessedGoBackWithTheirAttemptCountUnchanged) {
  PartitionDelivery d;
  d.reset(0, {}, 0);
  d.deliver_new(0, flight(kMember, 1));
  d.deliver_new(1, flight(kMember, 3));
  d.deliver_new(2, flight(kMember, 2));
  // The member's application had offset 2 in hand; 0 and 1 it never saw.
  auto released = d.release_member(kMember, kT0, [](uint64_t offset) { return offset == 2; });
  EXPECT_EQ(released.size(), 3u);
  EXPECT_THAT(d.ready(kT0, 10), ElementsAre(0, 1, 2));
  EXPECT_EQ(d.waiting().at(0).attempts_done, 0u);  // delivered next as attempt 1 again
  EXPECT_EQ(d.waiting().at(1).attempts_done, 2u);  // as attempt 3 again
  EXPECT_EQ(d.waiting().at(2).attempts_done, 2u);  // this delivery counted: attempt 3 next
}

TEST(PartitionDelivery, DeadLetteredOffsetsCountAsAcked) {
  PartitionDelivery d = delivered(0, 2);
  ASSERT_TRUE(d.nack(kMember, 0, kT0, "bad").ok());
  d.start_dead_letter(0);
  EXPECT_TRUE(d.ready(kT0, 10).empty());
  EXPECT_EQ(d.dead_lettering(), 1u);
  d.dead_lettered(0);
  EXPECT_EQ(d.committed(), 1u);
}

TEST(PartitionDelivery, RetryDelayDoublesUpToTheMaximum) {
  using std::chrono::milliseconds;
  EXPECT_EQ(retry_delay(milliseconds(100), milliseconds(1000), 1), milliseconds(100));
  EXPECT_EQ(retry_delay(milliseconds(100), milliseconds(1000), 3), milliseconds(400));
  EXPECT_EQ(retry_delay(milliseconds(100), milliseconds(1000), 30), milliseconds(1000));
  EXPECT_EQ(retry_delay(milliseconds(0), milliseconds(1000), 5), milliseconds(0));
}

TEST(PartitionDelivery, RetentionOvertakingTheGroupDropsOldOffsetsAndReturnsTheirCredit) {
  PartitionDelivery d = delivered(0, 6);  // 0..5 in flight, 100 bytes each
  ASSERT_TRUE(d.ack(kMember, 4).ok());  // acked above the gap at 0..3
  ASSERT_TRUE(d.nack(kMember, 1, kT0, "boom").ok());  // waiting
  d.take_dirty();
  // The log now starts at 3: 0, 2 (in flight) and 1 (waiting) are gone.
  const auto released = d.drop_below(3);
  EXPECT_EQ(released.size(), 2u);  // offsets 0 and 2 were in flight
  for (const auto& [member, bytes] : released) {
    EXPECT_EQ(member, kMember);
    EXPECT_EQ(bytes, 100u);
  }
  EXPECT_EQ(d.committed(), 3u);
  EXPECT_TRUE(d.waiting().empty());
  EXPECT_EQ(d.in_flight().size(), 2u);  // 3 and 5 are still in flight
  EXPECT_TRUE(d.take_dirty());
  ASSERT_TRUE(d.ack(kMember, 3).ok());
  EXPECT_EQ(d.committed(), 5u) << "3 acked, 4 was acked above the gap";
  EXPECT_TRUE(d.drop_below(2).empty()) << "a start below the committed offset changes nothing";
  EXPECT_EQ(d.committed(), 5u);
}

TEST(CreditWindow, LimitsEventsAndBytesButNeverStarvesAnEmptyMember) {
  CreditWindow c{2, 1000, 0, 0};
  EXPECT_TRUE(c.fits(5000));  // larger than the window, but the member holds nothing
  c.take(600);
  EXPECT_FALSE(c.fits(500));
  EXPECT_TRUE(c.fits(400));
  c.take(400);
  EXPECT_FALSE(c.fits(0));  // two events: the event window is full
  c.release(600);
  EXPECT_EQ(c.events, 1u);
  EXPECT_EQ(c.bytes, 400u);
  EXPECT_TRUE(c.fits(600));
}

TEST(OffsetRanges, RunsAreOneRangeAndMergeWhenTheGapBetweenThemFills) {
  OffsetRanges r;
  for (uint64_t o = 10; o < 20; ++o) r.insert(o);
  for (uint64_t o = 21; o < 30; ++o) r.insert(o);
  EXPECT_EQ(r.size(), 19u);
  EXPECT_FALSE(r.contains(20));
  EXPECT_TRUE(r.contains(10));
  EXPECT_TRUE(r.contains(29));
  EXPECT_FALSE(r.contains(30));
  EXPECT_EQ(r.take_run_at(9), 9u) << "nothing starts at 9";
  r.insert(20);
  EXPECT_EQ(r.size(), 20u);
  r.insert(15);  // held already: no change
  EXPECT_EQ(r.size(), 20u);
  EXPECT_EQ(r.take_run_at(10), 30u) << "10..29 is one run now";
  EXPECT_TRUE(r.empty());
  EXPECT_EQ(r.size(), 0u);
}

TEST(OffsetRanges, EraseBelowCutsARangeInTwoAndKeepsTheCount) {
  OffsetRanges r;
  for (uint64_t o : {1, 2, 3, 7, 8, 9, 10, 15}) r.insert(o);
  r.erase_below(8);
  EXPECT_THAT(r.lowest(100), ElementsAre(8, 9, 10, 15));
  EXPECT_EQ(r.size(), 4u);
  EXPECT_THAT(r.lowest(2), ElementsAre(8, 9));
  EXPECT_EQ(r.take_run_at(8), 11u);
}

TEST(OffsetRanges, AgreesWithAPlainSetOnRandomOperations) {
  std::mt19937_64 rng(7);
  OffsetRanges r;
  std::set<uint64_t> ref;
  uint64_t floor = 0;
  for (int step = 0; step < 20000; ++step) {
    const uint64_t o = floor + rng() % 200;
    switch (rng() % 8) {
      case 0: {
        const uint64_t up = r.take_run_at(floor);
        uint64_t want = floor;
        while (ref.erase(want) > 0) ++want;
        ASSERT_EQ(up, want) << step;
        floor = up;
        break;
      }
      case 1:
        floor += rng() % 20;
        r.erase_below(floor);
        ref.erase(ref.begin(), ref.lower_bound(floor));
        break;
      default:
        r.insert(o);
        ref.insert(o);
    }
    ASSERT_EQ(r.size(), ref.size()) << step;
    ASSERT_EQ(r.contains(o), ref.count(o) > 0) << step;
  }
  EXPECT_EQ(r.lowest(SIZE_MAX), std::vector<uint64_t>(ref.begin(), ref.end()));
}

TEST(PartitionDelivery, EventsFilteredOutBehindAnUnackedOneCommitWithItInOneStep) {
  PartitionDelivery d;
  d.reset(0, {}, 0);
  d.deliver_new(0, flight());
  for (uint64_t o = 1; o < 50000; ++o) d.filter_out(o);
  EXPECT_EQ(d.acked_above().size(), 49999u);
  EXPECT_EQ(d.committed(), 0u);
  EXPECT_EQ(d.next_read(), 50000u);
  ASSERT_TRUE(d.ack(kMember, 0).ok());
  EXPECT_EQ(d.committed(), 50000u);
  EXPECT_TRUE(d.acked_above().empty());
}

}  // namespace
}  // namespace causeway::subscribe
