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
void fill(Segment& seg, uint64_t n, size_t payload = 100, bool defer = false) {
  std::string bytes;
  for (uint64_t i = 0; i < n; ++i) {
    const uint64_t off = seg.next_offset();
    auto rec = sample_record(off, payload);
    batch::RecordInput in = rec.input();
    ASSERT_TRUE(batch::encode_batch({&in, 1}, off, off + 1, static_cast<int64_t>(1000 + off), bytes).ok());
    auto h = batch::decode_header(bytes);
    ASSERT_TRUE(h.ok());
    ASSERT_TRUE(seg.append(*h, bytes, defer).ok());
  }
}

// Bytes of the `.log` file as they are on disk (not the segment's view).
uint64_t file_bytes_before_zeros(const std::string& path) {
  const std::string all = testing::read_all(path);
  const size_t last = all.find_last_not_of('\0');
  return last == std::string::npos ? 0 : last + 1;
}

TEST(SegmentName, IsTwentyZeroPaddedDigitsAndParsesBack) {
  EXPECT_EQ(segment_file_stem(4096), "00000000000000004096");
  EXPECT_EQ(parse_segment_stem("00000000000000004096"), 4096u);
  EXPECT_FALSE(parse_segment_stem("4096"));
  EXPECT_FALSE(parse_segment_stem("0000000000000000409x"));
  EXPECT_FALSE(parse_segment_stem("99999999999999999999"));  // > 2^64
}

// docs/log-format.md, "Write-behind": deferred appends are read from memory until a flush
// writes them, in order, and an append that does not defer flushes them first.
TEST(Segment, DeferredAppendsAreReadFromMemoryUntilAFlushWritesThemInOrder) {
  TempDir dir;
  auto seg = Segment::create(FileSystem::posix(), dir.path(), 0, 256);
  ASSERT_TRUE(seg.ok());
  fill(**seg, 3, 100);
  const uint64_t written = (*seg)->size_bytes();
  fill(**seg, 5, 100, /*defer=*/true);
  const std::string path = (*seg)->log_path();
  EXPECT_TRUE((*seg)->holds_unwritten());
  EXPECT_EQ(file_bytes_before_zeros(path), written) << "deferred bytes reached the file";
  // Every batch reads back, whether it starts in the file or in memory, one at a time or
  // all at once (a read that spans both).
  for (uint64_t off = 0; off < 8; ++off) {
    std::vector<StoredBatch> out;
    ASSERT_TRUE((*seg)->read_batches(off, (*seg)->position_for_offset(off), (*seg)->size_bytes(), 1, out).ok());
    ASSERT_EQ(out.size(), 1u) << off;
    EXPECT_EQ(out[0].header.base_offset, off);
  }
  std::vector<StoredBatch> all;
  ASSERT_TRUE((*seg)->read_batches(0, 0, (*seg)->size_bytes(), 1 << 20, all).ok());
  ASSERT_EQ(all.size(), 8u);
  std::string spanning;
  ASSERT_TRUE((*seg)->read_unsealed(written - 10, 20, spanning).value());
  EXPECT_EQ(spanning.substr(0, 10), all[2].bytes.substr(all[2].bytes.size() - 10));
  EXPECT_EQ(spanning.substr(10), all[3].bytes.substr(0, 10));
  // An append that does not defer goes after them: they are written first.
  fill(**seg, 1, 100);
  EXPECT_FALSE((*seg)->holds_unwritten());
  EXPECT_EQ(file_bytes_before_zeros(path), (*seg)->size_bytes());
  // And sealing writes what is still deferred.
  fill(**seg, 2, 100, /*defer=*/true);
  ASSERT_TRUE((*seg)->seal().ok());
  EXPECT_EQ(std::filesystem::file_size(path), (*seg)->size_bytes());
  bool rebuilt = true;
  auto reopened = Segment::open_sealed(FileSystem::posix(), dir.path(), 0, 256, &rebuilt);
  ASSERT_TRUE(reopened.ok()) << reopened.error().to_string();
  EXPECT_EQ((*reopened)->next_offset(), 11u);
}

TEST(Segment, WriteBehindKeepsAtMostItsLimitInMemory) {
  TempDir dir;
  auto seg = Segment::create(FileSystem::posix(), dir.path(), 0, 1 << 20);
  ASSERT_TRUE(seg.ok());
  fill(**seg, 40, 64 << 10, /*defer=*/true);  // 2.5 MiB
  const uint64_t on_disk = file_bytes_before_zeros((*seg)->log_path());
  EXPECT_GE(on_disk + Segment::kMaxUnwrittenBytes, (*seg)->size_bytes());
  EXPECT_GT(on_disk, 0u);
  ASSERT_TRUE((*seg)->sync().ok());
  EXPECT_EQ(file_bytes_before_zeros((*seg)->log_path()), (*seg)->size_bytes());
  EXPECT_FALSE((*seg)->holds_unwritten());
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
