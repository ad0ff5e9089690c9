// ReadCache, ReadChunk and TopicPatterns (broker/src/subscribe/shared_reads.h) over a real
// PartitionLog: what a chunk may be served for, the byte budget, and match results that
// belong to the patterns they were computed with.
#include "subscribe/shared_reads.h"

#include <gtest/gtest.h>

#include "causeway/common/lamport_clock.h"
#include "rules/pattern.h"
#include "tests/unit/storage/test_util.h"

namespace causeway::subscribe {
namespace {

using storage::testing::sample_record;
using storage::testing::TempDir;

class ReadCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    storage::LogConfig c;
    c.durability = storage::Durability::kOs;
    c.retention_ms = std::chrono::milliseconds(0);
    auto log = storage::PartitionLog::open(storage::FileSystem::posix(), dir_.path(), c, nullptr);
    ASSERT_TRUE(log.ok()) << log.error().to_string();
    log_ = std::move(*log);
  }
  // Appends `n` events one batch each; event i has type "t<i % 3>" and payload {"n":i}.
  void append(int n) {
    for (int i = 0; i < n; ++i) {
      auto rec = sample_record(log_->next_offset());
      rec.type = "t" + std::to_string(log_->next_offset() % 3);
      rec.schema_id = 0;
      rec.payload = R"({"n":)" + std::to_string(log_->next_offset()) + "}";
      batch::RecordInput in = rec.input();
      ASSERT_TRUE(log_->append({&in, 1}, clock_, 0, 1000).ok());
    }
  }
  ReadCache::Request request(uint64_t from, uint64_t end, uint64_t max_events = 1000) {
    ReadCache::Request r;
    r.topic_id = 7;
    r.partition = 0;
    r.from = from;
    r.max_events = max_events;
    r.max_bytes = 1 << 20;
    r.end_snapshot = end;
    r.sharers = 100;
    return r;
  }
  static std::vector<uint64_t> offsets(const ReadChunk& c) {
    std::vector<uint64_t> out;
    for (const auto& r : c.records()) out.push_back(r.offset);
    return out;
  }

  TempDir dir_;
  LamportClock clock_;
  std::unique_ptr<storage::PartitionLog> log_;
};

TEST_F(ReadCacheTest, SecondReaderAtTheSamePositionIsServedWithoutReadingTheLog) {
  append(10);
  ReadCache cache(1 << 20);
  auto a = cache.read(*log_, request(0, 10));
  ASSERT_TRUE(a.ok() && *a);
  EXPECT_EQ(offsets(**a), (std::vector<uint64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
  auto b = cache.read(*log_, request(4, 10));
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->get(), a->get()) << "offset 4 lies in the chunk read from 0";
  EXPECT_EQ((*b)->index_of(4), 4u);
  EXPECT_EQ(cache.stats().hits, 1u);
  EXPECT_EQ(cache.stats().misses, 1u);
}

TEST_F(ReadCacheTest, FindsTheChunkHoldingAnOffsetAmongOverlappingOnes) {
  append(10);
  ReadCache cache(1 << 20);
  ASSERT_TRUE(cache.read(*log_, request(2, 10, 2)).ok());  // [2, 4): a reader with little credit
  auto whole = cache.read(*log_, request(0, 10));            // [0, 10): 0 is in no chunk yet
  ASSERT_TRUE(whole.ok() && *whole);
  EXPECT_EQ(cache.stats().misses, 2u);
  auto at6 = cache.read(*log_, request(6, 10));  // nearest chunk below 6 is [2, 4); [0, 10) holds it
  ASSERT_TRUE(at6.ok());
  EXPECT_EQ(at6->get(), whole->get());
  EXPECT_EQ(cache.stats().hits, 1u);
}

TEST_F(ReadCacheTest, ChunkHoldsOnlyWhatItsReaderMaySeeAndIsNotServedPastIt) {
  append(10);
  ReadCache cache(1 << 20);
  auto a = cache.read(*log_, request(0, 5));  // a reader that may see offsets below 5
  ASSERT_TRUE(a.ok() && *a);
  EXPECT_EQ((*a)->end(), 5u);
  // Offset 5 is not in it: read from the log.
  auto b = cache.read(*log_, request(5, 10));
  ASSERT_TRUE(b.ok() && *b);
  EXPECT_EQ(offsets(**b), (std::vector<uint64_t>{5, 6, 7, 8, 9}));
  EXPECT_EQ(cache.stats().misses, 2u);
  // A reader whose end is 3 asking from 3 has nothing to see: null, never records >= 3.
  auto c = cache.read(*log_, request(3, 3));
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(*c, nullptr);
}

TEST_F(ReadCacheTest, PartitionsAndTopicsShareNothing) {
  append(4);
  ReadCache cache(1 << 20);
  ASSERT_TRUE(cache.read(*log_, request(0, 4)).ok());
  auto other_topic = request(0, 4);
  other_topic.topic_id = 8;
  auto other_partition = request(0, 4);
  other_partition.partition = 1;
  ASSERT_TRUE(cache.read(*log_, other_topic).ok());
  ASSERT_TRUE(cache.read(*log_, other_partition).ok());
  EXPECT_EQ(cache.stats().hits, 0u);
  EXPECT_EQ(cache.stats().misses, 3u);
}

TEST_F(ReadCacheTest, DropsTheLeastRecentlyUsedChunkAboveItsBudget) {
  append(30);
  ReadCache probe(1 << 20);
  auto one = probe.read(*log_, request(0, 10));
  ASSERT_TRUE(one.ok() && *one);
  // Room for two chunks of ten events, not three.
  ReadCache cache((*one)->bytes() * 2 + (*one)->bytes() / 2);
  ASSERT_TRUE(cache.read(*log_, request(0, 10)).ok());
  ASSERT_TRUE(cache.read(*log_, request(10, 20)).ok());
  ASSERT_TRUE(cache.read(*log_, request(0, 10)).ok());  // a hit: 0 is now the most recent
  ASSERT_TRUE(cache.read(*log_, request(20, 30)).ok());  // evicts [10, 20)
  EXPECT_EQ(cache.stats().chunks, 2u);
  EXPECT_LE(cache.stats().bytes, (*one)->bytes() * 2 + (*one)->bytes() / 2);
  const uint64_t misses = cache.stats().misses;
  ASSERT_TRUE(cache.read(*log_, request(0, 10)).ok());
  EXPECT_EQ(cache.stats().misses, misses) << "[0, 10) was used last: kept";
  ASSERT_TRUE(cache.read(*log_, request(10, 20)).ok());
  EXPECT_EQ(cache.stats().misses, misses + 1) << "[10, 20) was dropped";
}

TEST_F(ReadCacheTest, ChunkLeavesOnceEveryOtherGroupTookIt) {
  append(10);
  ReadCache cache(1 << 20);
  auto r = request(0, 10);
  r.sharers = 2;  // two other groups may want it
  ASSERT_TRUE(cache.read(*log_, r).ok());
  EXPECT_EQ(cache.stats().chunks, 1u);
  ASSERT_TRUE(cache.read(*log_, request(3, 10)).ok());
  EXPECT_EQ(cache.stats().hits, 1u);
  auto last = cache.read(*log_, request(0, 10));
  ASSERT_TRUE(last.ok() && *last);
  EXPECT_EQ(cache.stats().hits, 2u);
  EXPECT_EQ(cache.stats().chunks, 0u) << "both took it: gone from the cache";
  EXPECT_EQ(cache.stats().bytes, 0u);
  EXPECT_EQ((*last)->records().size(), 10u) << "the last reader still holds it";
  ASSERT_TRUE(cache.read(*log_, request(0, 10)).ok());
  EXPECT_EQ(cache.stats().misses, 2u);
}

TEST_F(ReadCacheTest, AReadNotKeptIsNotServedToOthers) {
  append(5);
  ReadCache cache(1 << 20);
  auto r = request(0, 5);
  r.sharers = 0;
  ASSERT_TRUE(cache.read(*log_, r).ok());
  ASSERT_TRUE(cache.read(*log_, request(0, 5)).ok());
  EXPECT_EQ(cache.stats().hits, 0u);
}

std::shared_ptr<const TopicPatterns> compile(const std::vector<std::string>& texts) {
  std::vector<std::shared_ptr<const rules::Pattern>> patterns;
  for (const auto& t : texts) {
    auto p = rules::parse_pattern(t);
    EXPECT_TRUE(p.ok()) << t;
    patterns.push_back(std::make_shared<const rules::Pattern>(std::move(*p)));
  }
  auto c = TopicPatterns::compile(patterns);
  EXPECT_TRUE(c.ok());
  return *c;
}

TEST_F(ReadCacheTest, ChunkIsMatchedOnceForEveryPatternAndAgainOnlyForNewPatterns) {
  append(9);
  ReadCache cache(1 << 20);
  auto chunk = cache.read(*log_, request(0, 9));
  ASSERT_TRUE(chunk.ok() && *chunk);
  const auto patterns = compile({R"({"type":["t0"]})", R"({"data":{"n":[{"numeric":[">=",6]}]}})",
                                 R"({"type":["t1"],"data":{"n":[1,2,3,4]}})", R"({"source":["nobody"]})"});
  const auto m = (*chunk)->matches(patterns, "topic", nullptr);
  // Event i: type t<i % 3>, n = i.
  for (size_t i = 0; i < 9; ++i) {
    EXPECT_EQ(m->matched(i, 0), i % 3 == 0) << i;
    EXPECT_EQ(m->matched(i, 1), i >= 6) << i;
    EXPECT_EQ(m->matched(i, 2), i == 1 || i == 4) << i;
    EXPECT_FALSE(m->matched(i, 3)) << i;
  }
  EXPECT_EQ((*chunk)->matches(patterns, "topic", nullptr), m) << "the same patterns: the same answer, not matched again";
  // Other patterns (a group changed its pattern): their own answer, slot 0 meaning the new one.
  const auto changed = compile({R"({"data":{"n":[2]}})"});
  const auto m2 = (*chunk)->matches(changed, "topic", nullptr);
  EXPECT_NE(m2, m);
  for (size_t i = 0; i < 9; ++i) EXPECT_EQ(m2->matched(i, 0), i == 2) << i;
}

}  // namespace
}  // namespace causeway::subscribe
