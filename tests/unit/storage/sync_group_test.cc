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

// One record appended to each of `partitions`, all at once (async). A log that starts a
// round hands it to the group before append_async returns (a fresh log does not gather),
// so once constructed, every append's sync request is queued or running.
class Appends {
 public:
  Appends(LogManager& m, const std::string& topic, const std::vector<uint32_t>& partitions, uint64_t seq = 0)
      : left_(partitions.size()), out_(partitions.size()) {
    for (size_t i = 0; i < partitions.size(); ++i) {
      testing::SampleRecord owned = sample_record(seq + i, 64);
      std::vector<batch::RecordInput> in{owned.input()};
      m.partition(topic, partitions[i])->append_async(in, m.clock(), 0, 1000, [this, i](Result<AppendResult> r) {
        std::lock_guard lk(mu_);
        out_[i] = r.ok() ? Status() : r.error();
        if (--left_ == 0) cv_.notify_all();
      });
    }
  }
  ~Appends() { wait(); }
  Appends(const Appends&) = delete;
  Appends& operator=(const Appends&) = delete;
  // Every completion's status, in partition order.
  std::vector<Status> wait() {
    std::unique_lock lk(mu_);
    cv_.wait(lk, [&] { return left_ == 0; });
    return out_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  size_t left_;
  std::vector<Status> out_;
};

std::vector<Status> append_to_each(LogManager& m, const std::string& topic, const std::vector<uint32_t>& partitions,
                                   uint64_t seq = 0) {
  return Appends(m, topic, partitions, seq).wait();
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
    const uint64_t file_syncs = fs.sync_count();
    for (int rep = 0; rep < 3; ++rep) {
      // Syncs wait until every append has asked: the first round (one log, or the few that
      // asked before the group's thread woke) holds the rest back for the next round.
      fs.hold_syncs();
      Appends appends(**m, "t", range(0, kPartitions), rep * kPartitions);
      fs.release_syncs();
      for (const Status& s : appends.wait()) ASSERT_TRUE(s.ok()) << s.to_string();
    }
    // 120 appends to 40 logs: 120 fdatasyncs one by one; shared, at most two rounds per
    // burst, at least one of them a whole-file-system sync.
    const uint64_t syncs = (fs.sync_count() - file_syncs) + fs.fs_sync_count();
    EXPECT_LE(syncs, 6u) << "file syncs " << fs.sync_count() - file_syncs << ", shared " << fs.fs_sync_count();
    EXPECT_GE(fs.fs_sync_count(), 3u);
    EXPECT_GE((*m)->sync_group()->shared_rounds(), 3u);
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
  // Partition 0 starts a round of its own; while its fdatasync is held, the others ask and
  // queue for the next round, which is shared and fails.
  fs.hold_syncs();
  const uint64_t before = fs.sync_count();
  Appends first(**m, "t", {0});
  while (fs.sync_count() == before) std::this_thread::sleep_for(std::chrono::microseconds(100));
  fs.set_fail_fs_sync(true);
  Appends rest(**m, "t", range(1, 20));
  fs.release_syncs();
  const Status alone = first.wait()[0];
  EXPECT_TRUE(alone.ok()) << alone.to_string();
  const std::vector<Status> shared = rest.wait();
  for (const Status& s : shared) {
    EXPECT_EQ(s.code(), Code::kIOError) << s.to_string();
    EXPECT_NE(s.to_string().find("syncfs"), std::string::npos) << s.to_string();
  }
  EXPECT_FALSE((*m)->sync_group()->shares());
  // A failed log refuses appends until reopened (as after a failed fdatasync).
  EXPECT_EQ(append_to_each(**m, "t", {5}, 100)[0].code(), Code::kFailedPrecondition);
  // Partition 0 was not in the failed round and goes on. From now on every log syncs its
  // own file, whose own error state tells it whether it lost writes: logs that ask together
  // no longer share a round's sync.
  fs.set_fail_fs_sync(false);
  EXPECT_TRUE(append_to_each(**m, "t", {0}, 200)[0].ok());
  ASSERT_TRUE((*m)->open_topic("u", 4, fsync_config(), nullptr).ok());
  const uint64_t fs_syncs = fs.fs_sync_count();
  const uint64_t file_syncs = fs.sync_count();
  fs.hold_syncs();
  Appends later(**m, "u", range(0, 4), 300);
  fs.release_syncs();
  for (const Status& s : later.wait()) EXPECT_TRUE(s.ok()) << s.to_string();
  EXPECT_EQ(fs.fs_sync_count(), fs_syncs);
  EXPECT_GE(fs.sync_count() - file_syncs, 4u);
}

TEST(SyncGroup, BackgroundSyncOfOsLogsIsSharedToo) {
  TempDir dir;
  FaultInjectionFs fs;
  auto m = LogManager::open(&fs, dir.path(), manual(true));
  ASSERT_TRUE(m.ok());
  ASSERT_TRUE((*m)->open_topic("o", 30, fsync_config(Durability::kOs), nullptr).ok());
  for (const Status& s : append_to_each(**m, "o", range(0, 30))) ASSERT_TRUE(s.ok()) << s.to_string();
  // The first log's round is held until every log has asked (they ask before
  // run_maintenance waits): the rest share the next round.
  const uint64_t file_syncs = fs.sync_count();
  fs.hold_syncs();
  std::thread maintenance([&] { EXPECT_TRUE((*m)->run_maintenance(1000, false).ok()); });
  while (fs.sync_count() == file_syncs && fs.fs_sync_count() == 0)
    std::this_thread::sleep_for(std::chrono::microseconds(100));
  std::this_thread::sleep_for(std::chrono::milliseconds(20));  // the loop asking the other 29 logs
  fs.release_syncs();
  maintenance.join();
  for (uint32_t p = 0; p < 30; ++p) EXPECT_EQ((*m)->partition("o", p)->durable_offset(), 1u);
  EXPECT_LE(fs.sync_count() - file_syncs + fs.fs_sync_count(), 4u);
  EXPECT_GE(fs.fs_sync_count(), 1u);
}

// Rolls seal a segment with their own fdatasync while a round for it may be queued or
// running; power loss afterwards keeps every acknowledged append, in every segment.
TEST(SyncGroup, RollsWhileRoundsArePendingKeepEveryAckThroughPowerLoss) {
  TempDir dir;
  FaultInjectionFs fs;
  constexpr uint32_t kPartitions = 6;
  constexpr int kThreads = 4;
  constexpr int kPerThread = 60;
  std::vector<uint64_t> acked(kPartitions, 0);  // records acknowledged per partition
  {
    auto m = LogManager::open(&fs, dir.path(), manual(true));
    ASSERT_TRUE(m.ok());
    ASSERT_TRUE((*m)->open_topic("t", kPartitions, fsync_config(), nullptr).ok());  // 64 KiB segments
    std::mutex mu;
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < kPerThread; ++i) {
          const uint32_t p = static_cast<uint32_t>((t + i) % kPartitions);
          testing::SampleRecord r = sample_record(static_cast<uint64_t>(t * kPerThread + i), 6000);
          std::vector<batch::RecordInput> in{r.input()};
          auto a = (*m)->partition("t", p)->append(in, (*m)->clock(), 0, 1000);
          ASSERT_TRUE(a.ok()) << a.error().to_string();
          std::lock_guard lk(mu);
          ++acked[p];
        }
      });
    }
    for (auto& th : threads) th.join();
    for (uint32_t p = 0; p < kPartitions; ++p) EXPECT_GT((*m)->partition("t", p)->segment_count(), 2u);
    EXPECT_GE((*m)->sync_group()->shared_rounds(), 1u);
    ASSERT_TRUE(fs.drop_unsynced_data().ok());
  }
  auto m = LogManager::open(&fs, dir.path(), manual(true));
  ASSERT_TRUE(m.ok());
  ASSERT_TRUE((*m)->open_topic("t", kPartitions, fsync_config(), nullptr).ok());
  for (uint32_t p = 0; p < kPartitions; ++p)
    EXPECT_EQ((*m)->partition("t", p)->next_offset(), acked[p]) << "partition " << p;
}

// A partition directory on another file system is not covered by the shared sync: it keeps
// its own fdatasync, and power loss keeps its acknowledged appends.
TEST(SyncGroup, APartitionOnAnotherFileSystemSyncsOnItsOwn) {
  TempDir dir;
  FaultInjectionFs fs;
  fs.set_uncovered_prefix(dir.path() + "/far/");
  {
    auto m = LogManager::open(&fs, dir.path(), manual(true));
    ASSERT_TRUE(m.ok());
    ASSERT_TRUE((*m)->open_topic("near", 4, fsync_config(), nullptr).ok());
    ASSERT_TRUE((*m)->open_topic("far", 4, fsync_config(), nullptr).ok());
    for (int rep = 0; rep < 3; ++rep) {
      fs.hold_syncs();
      Appends near(**m, "near", range(0, 4), 10 * rep);
      Appends far(**m, "far", range(0, 4), 10 * rep + 5);
      fs.release_syncs();
      for (const Status& s : near.wait()) ASSERT_TRUE(s.ok()) << s.to_string();
      for (const Status& s : far.wait()) ASSERT_TRUE(s.ok()) << s.to_string();
    }
    EXPECT_GE(fs.fs_sync_count(), 1u);
    ASSERT_TRUE(fs.drop_unsynced_data().ok());
  }
  auto m = LogManager::open(&fs, dir.path(), manual(true));
  ASSERT_TRUE(m.ok());
  ASSERT_TRUE((*m)->open_topic("far", 4, fsync_config(), nullptr).ok());
  for (uint32_t p = 0; p < 4; ++p) EXPECT_EQ((*m)->partition("far", p)->next_offset(), 3u) << "partition " << p;
}

}  // namespace
}  // namespace causeway::storage
