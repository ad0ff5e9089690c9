// Segment: appends, sparse indexes, sealing and reopening sealed segments.
#include "storage/segment.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "tests/unit/storage/test_util.h"

namespace causeway::storage {
namespace {

using ::testing::HasSubstr;
using testing::sample_record;
using testing::TempDir;

// Appends `n` one-record batches with `payload` bytes each; Lamport = offset + 1, time = 1000 + offset.
void fill(Segment& seg, uint64_t n, size_t payload = 100) {
  std::string bytes;
  for (uint64_t i = 0; i < n; ++i) {
    const uint64_t off = seg.next_offset();
    auto rec = sample_record(off, payload);
    batch::RecordInput in = rec.input();
    ASSERT_TRUE(batch::encode_batch({&in, 1}, off, off + 1, static_cast<int64_t>(1000 + off), bytes).ok());
    auto h = batch::decode_header(bytes);
    ASSERT_TRUE(h.ok());
    ASSERT_TRUE(seg.append(*h, bytes).ok());
  }
}

TEST(SegmentName, IsTwentyZeroPaddedDigitsAndParsesBack) {
  EXPECT_EQ(segment_file_stem(4096), "00000000000000004096");
  EXPECT_EQ(parse_segment_stem("00000000000000004096"), 4096u);
  EXPECT_FALSE(parse_segment_stem("4096"));
  EXPECT_FALSE(parse_segment_stem("0000000000000000409x"));
  EXPECT_FALSE(parse_segment_stem("99999999999999999999"));  // > 2^64
}

TEST(Segment, SparseIndexHasOneEntryPerIntervalAndFindsEveryOffset) {
  TempDir dir;
  auto seg = Segment::create(FileSystem::posix(), dir.path(), 0, 1024);
  ASSERT_TRUE(seg.ok());
  fill(**seg, 200, 100);
  const size_t batch = (*seg)->size_bytes() / 200;
  const auto& idx = (*seg)->offset_index();
  ASSERT_GT(idx.size(), 10u);
  EXPECT_EQ(idx[0].position, 0u);
  for (size_t i = 1; i < idx.size(); ++i) {
    const uint64_t gap = idx[i].position - idx[i - 1].position;
    EXPECT_GE(gap, 1024u);
    EXPECT_LT(gap, 1024u + batch);
  }
  for (uint64_t off = 0; off < 200; off += 13) {
    std::vector<StoredBatch> out;
    ASSERT_TRUE((*seg)->read_batches(off, (*seg)->position_for_offset(off), (*seg)->size_bytes(), 1, out).ok());
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].header.base_offset, off);
  }
}

TEST(Segment, TimeAndLamportLookupsStartAtOrBeforeTheTarget) {
  TempDir dir;
  auto seg = Segment::create(FileSystem::posix(), dir.path(), 0, 512);
  ASSERT_TRUE(seg.ok());
  fill(**seg, 100, 200);
  for (uint64_t off = 0; off < 100; off += 7) {
    const uint64_t pos_t = (*seg)->position_for_time(static_cast<int64_t>(1000 + off));
    const uint64_t pos_l = (*seg)->position_for_lamport(off + 1);
    EXPECT_LE(pos_t, (*seg)->position_for_offset(off));
    EXPECT_LE(pos_l, (*seg)->position_for_offset(off));
    std::vector<StoredBatch> out;
    ASSERT_TRUE((*seg)->read_batches(0, pos_l, (*seg)->size_bytes(), 1, out).ok());
    ASSERT_FALSE(out.empty());
    EXPECT_LE(out[0].header.first_lamport, off + 1);
  }
}

TEST(Segment, SealedSegmentReopensFromItsIndexFiles) {
  TempDir dir;
  {
    auto seg = Segment::create(FileSystem::posix(), dir.path(), 0, 1024);
    ASSERT_TRUE(seg.ok());
    fill(**seg, 50);
    ASSERT_TRUE((*seg)->seal().ok());
  }
  bool rebuilt = true;
  auto seg = Segment::open_sealed(FileSystem::posix(), dir.path(), 0, 1024, &rebuilt);
  ASSERT_TRUE(seg.ok()) << seg.error().to_string();
  EXPECT_FALSE(rebuilt);
  EXPECT_EQ((*seg)->next_offset(), 50u);
  EXPECT_EQ((*seg)->last_lamport(), 50u);
  EXPECT_EQ((*seg)->max_time_ms(), 1049);
  EXPECT_TRUE((*seg)->sealed());
}

TEST(Segment, DamagedIndexFileIsRebuiltFromTheLog) {
  TempDir dir;
  std::vector<OffsetIndexEntry> original;
  {
    auto seg = Segment::create(FileSystem::posix(), dir.path(), 0, 1024);
    ASSERT_TRUE(seg.ok());
    fill(**seg, 50);
    ASSERT_TRUE((*seg)->seal().ok());
    original = (*seg)->offset_index();
  }
  const std::string idx = dir.path() + "/00000000000000000000.index";
  testing::shrink_file(idx, 5);
  bool rebuilt = false;
  auto seg = Segment::open_sealed(FileSystem::posix(), dir.path(), 0, 1024, &rebuilt);
  ASSERT_TRUE(seg.ok()) << seg.error().to_string();
  EXPECT_TRUE(rebuilt);
  ASSERT_EQ((*seg)->offset_index().size(), original.size());
  EXPECT_EQ(std::filesystem::file_size(idx), original.size() * kOffsetIndexEntrySize);
}

TEST(Segment, TruncatedSealedSegmentIsReportedNotCut) {
  TempDir dir;
  uint64_t size = 0;
  {
    auto seg = Segment::create(FileSystem::posix(), dir.path(), 0, 1024);
    ASSERT_TRUE(seg.ok());
    fill(**seg, 20);
    ASSERT_TRUE((*seg)->seal().ok());
    size = (*seg)->size_bytes();
  }
  const std::string log = dir.path() + "/00000000000000000000.log";
  testing::shrink_file(log, size - 3);
  auto seg = Segment::open_sealed(FileSystem::posix(), dir.path(), 0, 1024, nullptr);
  ASSERT_FALSE(seg.ok());
  EXPECT_EQ(seg.error().code(), Code::kCorruption);
  EXPECT_THAT(std::string(seg.error().message()), HasSubstr(log));
  EXPECT_EQ(std::filesystem::file_size(log), size - 3);  // nothing was cut
}

TEST(Segment, ReadOfCorruptSealedBatchNamesFileAndPosition) {
  TempDir dir;
  auto seg = Segment::create(FileSystem::posix(), dir.path(), 0, 1 << 20);
  ASSERT_TRUE(seg.ok());
  fill(**seg, 3);
  const uint64_t batch = (*seg)->size_bytes() / 3;
  testing::increment_byte((*seg)->log_path(), batch + 70);  // inside batch 1's body
  std::vector<StoredBatch> out;
  Status s = (*seg)->read_batches(1, 0, (*seg)->size_bytes(), 1 << 20, out);
  EXPECT_EQ(s.code(), Code::kCorruption);
  EXPECT_THAT(std::string(s.message()), HasSubstr("at byte " + std::to_string(batch)));
}

}  // namespace
}  // namespace causeway::storage
