// Fault tests through FaultInjectionFs: full disks, torn writes, failed syncs, power loss.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <thread>

#include "storage/partition_log.h"
#include "tests/unit/storage/fault_injection_fs.h"
#include "tests/unit/storage/test_util.h"

namespace causeway::storage {
namespace {

using ::testing::HasSubstr;
using testing::FaultInjectionFs;
using testing::sample_record;
using testing::TempDir;

Result<AppendResult> append_one(PartitionLog& log, LamportClock& clock, uint64_t i, size_t payload = 200) {
  auto rec = sample_record(i, payload);
  batch::RecordInput in = rec.input();
  return log.append({&in, 1}, clock, 0, 1000);
}

TEST(FaultInjection, FullDiskMidWriteFailsTheAppendAndLosesNothingAcked) {
  TempDir dir;
  FaultInjectionFs fs;
  LamportClock clock;
  auto log = PartitionLog::open(&fs, dir.path(), LogConfig{}, nullptr);
  ASSERT_TRUE(log.ok());
  for (uint64_t i = 0; i < 5; ++i) ASSERT_TRUE(append_one(**log, clock, i).ok());
  fs.set_write_budget(100);  // the next batch is torn after 100 bytes
  auto r = append_one(**log, clock, 5);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), Code::kResourceExhausted);
  EXPECT_THAT(std::string(r.error().message()), HasSubstr("No space left on device"));
  EXPECT_EQ((*log)->next_offset(), 5u);
  fs.clear_write_budget();
  auto again = append_one(**log, clock, 5);
  ASSERT_TRUE(again.ok()) << again.error().to_string();
  EXPECT_EQ(again->base_offset, 5u);
  log->reset();
  RecoveryReport report;
  auto reopened = PartitionLog::open(&fs, dir.path(), LogConfig{}, &report);
  ASSERT_TRUE(reopened.ok());
  EXPECT_FALSE(report.truncated);  // the torn bytes were cut at once
  EXPECT_EQ((*reopened)->next_offset(), 6u);
}

TEST(FaultInjection, TornWriteLeftByACrashIsCutOnReopen) {
  TempDir dir;
  FaultInjectionFs fs;
  LamportClock clock;
  {
    auto log = PartitionLog::open(&fs, dir.path(), LogConfig{}, nullptr);
    ASSERT_TRUE(log.ok());
    for (uint64_t i = 0; i < 3; ++i) ASSERT_TRUE(append_one(**log, clock, i).ok());
  }
  // A crash in the middle of write(): half a batch at the end of the file.
  const std::string path = dir.path() + "/00000000000000000000.log";
  const std::string bytes = testing::read_all(path);
  const size_t one = bytes.size() / 3;
  testing::write_all(path, bytes + bytes.substr(0, one / 2));
  RecoveryReport report;
  auto log = PartitionLog::open(&fs, dir.path(), LogConfig{}, &report);
  ASSERT_TRUE(log.ok());
  ASSERT_TRUE(report.truncated);
  EXPECT_EQ(report.truncated_bytes, one / 2);
  EXPECT_EQ((*log)->next_offset(), 3u);
}

TEST(FaultInjection, FailedSyncRefusesFurtherAppendsUntilReopened) {
  TempDir dir;
  FaultInjectionFs fs;
  LamportClock clock;
  auto log = PartitionLog::open(&fs, dir.path(), LogConfig{}, nullptr);
  ASSERT_TRUE(log.ok());
  ASSERT_TRUE(append_one(**log, clock, 0).ok());
  fs.set_fail_sync(true);
  auto r = append_one(**log, clock, 1);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), Code::kIOError);
  EXPECT_EQ((*log)->high_watermark(), 1u);  // the unsynced batch is not visible
  fs.set_fail_sync(false);
  auto refused = append_one(**log, clock, 2);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code(), Code::kFailedPrecondition);
  EXPECT_THAT(std::string(refused.error().message()), HasSubstr("must be reopened"));
  log->reset();
  auto reopened = PartitionLog::open(&fs, dir.path(), LogConfig{}, nullptr);
  ASSERT_TRUE(reopened.ok());
  EXPECT_GE((*reopened)->next_offset(), 1u);  // the acked one is there; the failed one may be
  EXPECT_TRUE(append_one(**reopened, clock, 3).ok());
}

TEST(FaultInjection, PowerLossKeepsEveryFsyncAck) {
  TempDir dir;
  FaultInjectionFs fs;
  LamportClock clock;
  LogConfig c;
  c.segment_bytes = 64 << 10;
  uint64_t acked = 0;
  {
    auto log = PartitionLog::open(&fs, dir.path(), c, nullptr);
    ASSERT_TRUE(log.ok());
    for (uint64_t i = 0; i < 500; ++i) {
      auto r = append_one(**log, clock, i);
      ASSERT_TRUE(r.ok());
      acked = r->last_offset + 1;
    }
    ASSERT_TRUE(fs.drop_unsynced_data().ok());
    // The destructor's final sync must not resurrect anything: drop before closing is a
    // power cut, so forget the log object without running a clean shutdown path that
    // would matter here (all appends were synced anyway).
  }
  auto log = PartitionLog::open(&fs, dir.path(), c, nullptr);
  ASSERT_TRUE(log.ok()) << log.error().to_string();
  EXPECT_EQ((*log)->next_offset(), acked);
}

// The same at a rate where the log writes zeros over its preallocated space (100 KB every
// 5 ms): a batch written after the last successful sync lands on written zeros, and a power
// cut still takes it (the zeros do not count as synced data), while every ack stays.
TEST(FaultInjection, PowerLossInZeroFilledSpaceKeepsEveryAckAndNothingUnsynced) {
  TempDir dir;
  FaultInjectionFs fs;
  LamportClock clock;
  uint64_t acked = 0;
  {
    auto log = PartitionLog::open(&fs, dir.path(), LogConfig{}, nullptr);
    ASSERT_TRUE(log.ok());
    const uint64_t before = fs.bytes_written();
    for (uint64_t i = 0; i < 20; ++i) {
      auto r = append_one(**log, clock, i, 100'000);
      ASSERT_TRUE(r.ok());
      acked = r->last_offset + 1;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    ASSERT_GT(fs.bytes_written() - before, (*log)->size_bytes()) << "zeros were written ahead";
    fs.set_fail_sync(true);
    EXPECT_FALSE(append_one(**log, clock, 20, 1000).ok()) << "its sync failed: not acked";
    ASSERT_TRUE(fs.drop_unsynced_data().ok());
  }
  fs.set_fail_sync(false);
  auto log = PartitionLog::open(&fs, dir.path(), LogConfig{}, nullptr);
  ASSERT_TRUE(log.ok()) << log.error().to_string();
  EXPECT_EQ((*log)->next_offset(), acked);
}

TEST(FaultInjection, PowerLossInOsModeKeepsAValidPrefix) {
  TempDir dir;
  FaultInjectionFs fs;
  LamportClock clock;
  LogConfig c;
  c.durability = Durability::kOs;
  auto log = PartitionLog::open(&fs, dir.path(), c, nullptr);
  ASSERT_TRUE(log.ok());
  for (uint64_t i = 0; i < 10; ++i) ASSERT_TRUE(append_one(**log, clock, i).ok());
  ASSERT_TRUE((*log)->sync().ok());
  for (uint64_t i = 10; i < 20; ++i) ASSERT_TRUE(append_one(**log, clock, i).ok());
  ASSERT_TRUE(fs.drop_unsynced_data().ok());
  // Simulated crash: drop the object without its closing sync by reopening a second
  // instance first (the reopened one sees what the "disk" kept). The lost appends read back
  // as zeros inside the preallocated space (docs/log-format.md, "Preallocation"), which
  // recovery keeps as space, not as data or damage, and appends go on from there.
  RecoveryReport report;
  auto after = PartitionLog::open(&fs, dir.path(), c, &report);
  ASSERT_TRUE(after.ok());
  EXPECT_FALSE(report.truncated);
  EXPECT_EQ((*after)->next_offset(), 10u);
  EXPECT_TRUE(append_one(**after, clock, 10).ok());
  after->reset();
  log->reset();
}

// Preallocation (docs/log-format.md, "Preallocation"): the active segment's file is kept
// ahead of its batches, one fallocate per chunk; the space reads as zeros and is neither data
// nor a torn write; sealing and an orderly close cut it.
TEST(FaultInjection, ActiveSegmentIsPreallocatedAheadAndTrimmedOnClose) {
  TempDir dir;
  FaultInjectionFs fs;
  LamportClock clock;
  const std::string path = dir.path() + "/00000000000000000000.log";
  uint64_t size = 0;
  {
    auto log = PartitionLog::open(&fs, dir.path(), LogConfig{}, nullptr);
    ASSERT_TRUE(log.ok());
    for (uint64_t i = 0; i < 100; ++i) ASSERT_TRUE(append_one(**log, clock, i, 20000).ok());  // ~2 MB
    size = (*log)->size_bytes();
    EXPECT_GT(std::filesystem::file_size(path), size);  // ahead of the batches
    EXPECT_LE(std::filesystem::file_size(path), size + (2u << 20));
    // A chunk is a quarter of the segment so far (64 KiB to 1 MiB): ~15 for the first 2 MB,
    // not one per append.
    EXPECT_GE(fs.allocate_count(), 5u);
    EXPECT_LE(fs.allocate_count(), 25u);
  }
  EXPECT_EQ(std::filesystem::file_size(path), size);
  RecoveryReport report;
  auto log = PartitionLog::open(&fs, dir.path(), LogConfig{}, &report);
  ASSERT_TRUE(log.ok());
  EXPECT_FALSE(report.truncated);
  EXPECT_EQ((*log)->next_offset(), 100u);
}

// An `fsync` log appending at a moderate rate (100 KB every 5 ms or more: about 1.5 to 20
// MB/s, whatever its syncs cost) also writes zeros over the space it preallocates, so that
// its syncs overwrite written blocks; an `os` log, which is not synced per append, never
// does (docs/log-format.md, "Preallocation"). The zeros are the preallocated space
// recovery already knows: a copy of the file (what kill -9 leaves after the last ack)
// recovers every batch with nothing cut.
TEST(FaultInjection, ModerateFsyncAppendsWriteZerosAheadAndRecoveryKeepsEveryBatch) {
  for (const Durability durability : {Durability::kFsync, Durability::kOs}) {
    SCOPED_TRACE(std::string(durability_name(durability)));
    TempDir dir;
    TempDir copy;
    FaultInjectionFs fs;
    LamportClock clock;
    LogConfig c;
    c.durability = durability;
    auto log = PartitionLog::open(&fs, dir.path(), c, nullptr);
    ASSERT_TRUE(log.ok());
    const uint64_t before = fs.bytes_written();
    constexpr uint64_t kAppends = 40;
    for (uint64_t i = 0; i < kAppends; ++i) {
      ASSERT_TRUE(append_one(**log, clock, i, 100'000).ok());
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    ASSERT_TRUE((*log)->sync().ok());
    const uint64_t batches = (*log)->size_bytes();
    const uint64_t written = fs.bytes_written() - before;
    if (durability == Durability::kFsync) {
      EXPECT_GT(written, batches + (256u << 10)) << "zeros written ahead of the batches";
    } else {
      EXPECT_EQ(written, batches) << "an os log writes its batches and nothing else";
    }
    const std::string name = "00000000000000000000.log";
    const auto on_disk = std::filesystem::file_size(dir.path() + "/" + name);
    EXPECT_GT(on_disk, batches) << "the preallocated tail";
    std::filesystem::copy_file(dir.path() + "/" + name, copy.path() + "/" + name);
    RecoveryReport report;
    auto recovered = PartitionLog::open(FileSystem::posix(), copy.path(), c, &report);
    ASSERT_TRUE(recovered.ok()) << recovered.error().to_string();
    EXPECT_FALSE(report.truncated) << "zeros after the last batch are preallocated space, not a torn write";
    EXPECT_EQ((*recovered)->next_offset(), kAppends);
    EXPECT_EQ((*recovered)->size_bytes(), batches);
  }
}

TEST(FaultInjection, SealedSegmentsHoldExactlyTheirBatches) {
  TempDir dir;
  FaultInjectionFs fs;
  LamportClock clock;
  LogConfig c;
  c.segment_bytes = 64 << 10;
  auto log = PartitionLog::open(&fs, dir.path(), c, nullptr);
  ASSERT_TRUE(log.ok());
  for (uint64_t i = 0; i < 40; ++i) ASSERT_TRUE(append_one(**log, clock, i, 5000).ok());
  ASSERT_GE((*log)->segment_count(), 3u);
  const uint64_t logical = (*log)->size_bytes();
  const auto log_files = [&] {
    std::vector<std::filesystem::path> logs;
    for (const auto& e : std::filesystem::directory_iterator(dir.path()))
      if (e.path().extension() == ".log") logs.push_back(e.path());
    std::sort(logs.begin(), logs.end());
    return logs;
  };
  uint64_t on_disk = 0;
  for (const auto& f : log_files()) on_disk += std::filesystem::file_size(f);
  EXPECT_GT(on_disk, logical);  // the active segment's preallocated space
  const auto logs = log_files();
  for (size_t i = 0; i + 1 < logs.size(); ++i) {
    const std::string bytes = testing::read_all(logs[i].string());
    EXPECT_NE(bytes.back(), '\0') << logs[i] << " ends in zeros";
  }
  log->reset();
  on_disk = 0;
  for (const auto& f : log_files()) on_disk += std::filesystem::file_size(f);
  EXPECT_EQ(on_disk, logical);  // sealed and trimmed: exactly the batches
  auto reopened = PartitionLog::open(&fs, dir.path(), c, nullptr);
  ASSERT_TRUE(reopened.ok()) << reopened.error().to_string();
  EXPECT_EQ((*reopened)->next_offset(), 40u);
}

// A crash mid-write into preallocated space: the torn batch is followed by zeros, not by
// the end of the file; it is cut as any torn tail, and what was acked stays.
TEST(FaultInjection, TornBatchInsidePreallocatedSpaceIsCutAtTheLastGoodBatch) {
  TempDir dir;
  FaultInjectionFs fs;
  LamportClock clock;
  const std::string path = dir.path() + "/00000000000000000000.log";
  auto log = PartitionLog::open(&fs, dir.path(), LogConfig{}, nullptr);
  ASSERT_TRUE(log.ok());
  for (uint64_t i = 0; i < 3; ++i) ASSERT_TRUE(append_one(**log, clock, i).ok());
  const uint64_t size = (*log)->size_bytes();
  ASSERT_GT(std::filesystem::file_size(path), size + 1000);
  {
    // Half of a copy of the first batch lands at the end, inside the zeros.
    const std::string bytes = testing::read_all(path);
    auto f = FileSystem::posix()->open(path, OpenMode::kReadWrite);
    ASSERT_TRUE(f.ok());
    ASSERT_TRUE((*f)->write_at(size, bytes.substr(0, size / 6)).ok());
  }
  // The crash: a second instance opens what the "disk" holds while the first never closed.
  RecoveryReport report;
  auto after = PartitionLog::open(&fs, dir.path(), LogConfig{}, &report);
  ASSERT_TRUE(after.ok()) << after.error().to_string();
  ASSERT_TRUE(report.truncated);
  EXPECT_EQ(report.truncated->position, size);
  EXPECT_EQ((*after)->next_offset(), 3u);
  EXPECT_EQ(std::filesystem::file_size(path), size);
  after->reset();
  log->reset();
}

// Without fallocate (a file system that lacks it, or a full disk) appends grow the file as
// they always did.
TEST(FaultInjection, WithoutPreallocationAppendsGrowTheFileAsBefore) {
  TempDir dir;
  FaultInjectionFs fs;
  fs.set_fail_allocate(true);
  LamportClock clock;
  const std::string path = dir.path() + "/00000000000000000000.log";
  auto log = PartitionLog::open(&fs, dir.path(), LogConfig{}, nullptr);
  ASSERT_TRUE(log.ok());
  for (uint64_t i = 0; i < 20; ++i) ASSERT_TRUE(append_one(**log, clock, i).ok());
  EXPECT_EQ(std::filesystem::file_size(path), (*log)->size_bytes());
  EXPECT_EQ(fs.allocate_count(), 1u);  // tried once for the segment, then not again
  log->reset();
  auto reopened = PartitionLog::open(&fs, dir.path(), LogConfig{}, nullptr);
  ASSERT_TRUE(reopened.ok());
  EXPECT_EQ((*reopened)->next_offset(), 20u);
}

}  // namespace
}  // namespace causeway::storage
