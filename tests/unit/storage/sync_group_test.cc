// SyncGroup (storage/sync_group.h) through LogManager: partition logs that need a sync at
// the same time share one whole-file-system sync, a lone log keeps its own fdatasync, a
// failed shared sync fails every log in it, and power loss after shared syncs keeps every
// acknowledged append.
#include "storage/sync_group.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "storage/log_manager.h"
#include "tests/unit/storage/fault_injection_fs.h"
#include "tests/unit/storage/test_util.h"

namespace causeway::storage {
namespace {

using testing::FaultInjectionFs;
using testing::sample_record;
using testing::TempDir;

LogConfig fsync_config(Durability d = Durability::kFsync) {
  LogConfig c;
  c.durability = d;
  c.segment_bytes = 64 << 10;
  c.retention_ms = std::chrono::milliseconds(0);
  return c;
}

LogManagerOptions manual(bool share) {
  LogManagerOptions o;
  o.background = false;
  o.sync_threads = 2;
  o.share_syncs = share;
  return o;
}

// Appends one record to each of `partitions`, all at once (async), and waits for every
// completion; returns their statuses in partition order.
std::vector<Status> append_to_each(LogManager& m, const std::string& topic, const std::vector<uint32_t>& partitions,
                                   uint64_t seq = 0) {
  std::mutex mu;
  std::condition_variable cv;
  size_t left = partitions.size();
  std::vector<Status> out(partitions.size());
  std::vector<testing::SampleRecord> owned;
  for (size_t i = 0; i < partitions.size(); ++i) owned.push_back(sample_record(seq + i, 64));
  for (size_t i = 0; i < partitions.size(); ++i) {
    std::vector<batch::RecordInput> in{owned[i].input()};
    m.partition(topic, partitions[i])->append_async(in, m.clock(), 0, 1000, nullptr, [&, i](Result<AppendResult> r) {
      std::lock_guard lk(mu);
      out[i] = r.ok() ? Status() : r.error();
      if (--left == 0) cv.notify_all();
    });
  }
  std::unique_lock lk(mu);
  cv.wait(lk, [&] { return left == 0; });
  return out;
}

std::vector<uint32_t> range(uint32_t from, uint32_t to) {
  std::vector<uint32_t> v;
  for (uint32_t p = from; p < to; ++p) v.push_back(p);
  return v;
}

TEST(SyncGroup, PartitionsThatSyncTogetherShareOneFileSystemSyncAndSurvivePowerLoss) {
  TempDir dir;
  FaultInjectionFs fs;
  constexpr uint32_t kPartitions = 40;
  {
    auto m = LogManager::open(&fs, dir.path(), manual(true));
    ASSERT_TRUE(m.ok());
    ASSERT_NE((*m)->sync_group(), nullptr);
    ASSERT_TRUE((*m)->open_topic("t", kPartitions, fsync_config(), nullptr).ok());
    // Every sync takes 3 ms, so the appends that arrive while the first round runs all
    // wait for the next one.
    fs.set_sync_delay(std::chrono::milliseconds(3));
    const uint64_t file_syncs = fs.sync_count();
    for (int rep = 0; rep < 3; ++rep) {
      for (const Status& s : append_to_each(**m, "t", range(0, kPartitions), rep * kPartitions))
        ASSERT_TRUE(s.ok()) << s.to_string();
    }
    // 120 appends to 40 logs, one sync each on its own; shared, a handful of rounds.
    const uint64_t syncs = (fs.sync_count() - file_syncs) + fs.fs_sync_count();
    EXPECT_LE(syncs, 12u) << "file syncs " << fs.sync_count() - file_syncs << ", shared " << fs.fs_sync_count();
    EXPECT_GE(fs.fs_sync_count(), 1u);
    EXPECT_GE((*m)->sync_group()->shared_rounds(), 1u);
    EXPECT_TRUE((*m)->sync_group()->shares());
    for (uint32_t p = 0; p < kPartitions; ++p) EXPECT_EQ((*m)->partition("t", p)->durable_offset(), 3u);
    // Power loss: only what a sync covered is left.
    ASSERT_TRUE(fs.drop_unsynced_data().ok());
  }
  auto m = LogManager::open(&fs, dir.path(), manual(true));
  ASSERT_TRUE(m.ok());
  ASSERT_TRUE((*m)->open_topic("t", kPartitions, fsync_config(), nullptr).ok());
  for (uint32_t p = 0; p < kPartitions; ++p) {
    auto log = (*m)->partition("t", p);
    EXPECT_EQ(log->next_offset(), 3u) << "partition " << p << " lost an acknowledged append";
    auto r = log->read(0, 1 << 20);
    ASSERT_TRUE(r.ok());
    uint64_t records = 0;
    ASSERT_TRUE(for_each_record_from(*r, 0, [&](const batch::RecordView&) {
                  ++records;
                  return true;
                }).ok());
    EXPECT_EQ(records, 3u);
  }
}

TEST(SyncGroup, WithoutSharingEveryPartitionSyncsItsOwnFile) {
  TempDir dir;
  FaultInjectionFs fs;
  auto m = LogManager::open(&fs, dir.path(), manual(false));
  ASSERT_TRUE(m.ok());
  EXPECT_EQ((*m)->sync_group(), nullptr);
  ASSERT_TRUE((*m)->open_topic("t", 40, fsync_config(), nullptr).ok());
  fs.set_sync_delay(std::chrono::milliseconds(1));
  const uint64_t file_syncs = fs.sync_count();
  for (const Status& s : append_to_each(**m, "t", range(0, 40))) ASSERT_TRUE(s.ok()) << s.to_string();
  EXPECT_GE(fs.sync_count() - file_syncs, 40u);
  EXPECT_EQ(fs.fs_sync_count(), 0u);
}

TEST(SyncGroup, WhereTheFileSystemCannotSyncAsAWholeLogsSyncAlone) {
  TempDir dir;
  FaultInjectionFs fs;
  fs.set_fs_sync_supported(false);
  auto m = LogManager::open(&fs, dir.path(), manual(true));
  ASSERT_TRUE(m.ok());
  EXPECT_EQ((*m)->sync_group(), nullptr);
  ASSERT_TRUE((*m)->open_topic("t", 8, fsync_config(), nullptr).ok());
  for (const Status& s : append_to_each(**m, "t", range(0, 8))) ASSERT_TRUE(s.ok()) << s.to_string();
  EXPECT_EQ(fs.fs_sync_count(), 0u);
}

TEST(SyncGroup, ALoneLogKeepsItsOwnFdatasync) {
  TempDir dir;
  FaultInjectionFs fs;
  auto m = LogManager::open(&fs, dir.path(), manual(true));
  ASSERT_TRUE(m.ok());
  ASSERT_TRUE((*m)->open_topic("t", 4, fsync_config(), nullptr).ok());
  const uint64_t file_syncs = fs.sync_count();
  for (uint64_t i = 0; i < 20; ++i) {
    for (const Status& s : append_to_each(**m, "t", {2}, i)) ASSERT_TRUE(s.ok()) << s.to_string();
  }
  // One log asking at a time: never a whole-file-system sync (blind to other files' data).
  EXPECT_EQ(fs.fs_sync_count(), 0u);
  EXPECT_GE(fs.sync_count() - file_syncs, 20u);
  EXPECT_EQ((*m)->partition("t", 2)->durable_offset(), 20u);
}

TEST(SyncGroup, FailedSharedSyncFailsEveryLogInItAndLogsThenSyncAlone) {
  TempDir dir;
  FaultInjectionFs fs;
  auto m = LogManager::open(&fs, dir.path(), manual(true));
  ASSERT_TRUE(m.ok());
  ASSERT_TRUE((*m)->open_topic("t", 20, fsync_config(), nullptr).ok());
  fs.set_sync_delay(std::chrono::milliseconds(20));
  // Partition 0 starts a round of its own; once its fdatasync runs, the others ask and
  // wait for the next round, which is shared and fails.
  const uint64_t before = fs.sync_count();
  std::thread first([&] {
    const std::vector<Status> s = append_to_each(**m, "t", {0});
    EXPECT_TRUE(s[0].ok()) << s[0].to_string();
  });
  while (fs.sync_count() == before) std::this_thread::sleep_for(std::chrono::microseconds(100));
  fs.set_fail_fs_sync(true);
  const std::vector<Status> shared = append_to_each(**m, "t", range(1, 20));
  first.join();
  for (const Status& s : shared) {
    EXPECT_EQ(s.code(), Code::kIOError) << s.to_string();
    EXPECT_NE(s.to_string().find("syncfs"), std::string::npos) << s.to_string();
  }
  EXPECT_FALSE((*m)->sync_group()->shares());
  fs.set_sync_delay(std::chrono::microseconds(0));
  // A failed log refuses appends until reopened (as after a failed fdatasync).
  EXPECT_EQ(append_to_each(**m, "t", {5}, 100)[0].code(), Code::kFailedPrecondition);
  // Partition 0 was not in the failed round; from now on every log syncs its own file,
  // whose own error state tells it whether it lost writes.
  const uint64_t fs_syncs = fs.fs_sync_count();
  const uint64_t file_syncs = fs.sync_count();
  EXPECT_TRUE(append_to_each(**m, "t", {0}, 200)[0].ok());
  EXPECT_EQ(fs.fs_sync_count(), fs_syncs);
  EXPECT_GT(fs.sync_count(), file_syncs);
}

TEST(SyncGroup, BackgroundSyncOfOsLogsIsSharedToo) {
  TempDir dir;
  FaultInjectionFs fs;
  auto m = LogManager::open(&fs, dir.path(), manual(true));
  ASSERT_TRUE(m.ok());
  ASSERT_TRUE((*m)->open_topic("o", 30, fsync_config(Durability::kOs), nullptr).ok());
  for (const Status& s : append_to_each(**m, "o", range(0, 30))) ASSERT_TRUE(s.ok()) << s.to_string();
  fs.set_sync_delay(std::chrono::milliseconds(2));
  const uint64_t file_syncs = fs.sync_count();
  ASSERT_TRUE((*m)->run_maintenance(1000, false).ok());
  for (uint32_t p = 0; p < 30; ++p) EXPECT_EQ((*m)->partition("o", p)->durable_offset(), 1u);
  EXPECT_LE(fs.sync_count() - file_syncs + fs.fs_sync_count(), 6u);
  EXPECT_GE(fs.fs_sync_count(), 1u);
}

}  // namespace
}  // namespace causeway::storage
