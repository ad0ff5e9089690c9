// PartitionLog: appends, reads, rolling, reopening, lookups, retention, group commit,
// and a model-based property test.
#include "storage/partition_log.h"
#include "storage/sync_observer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <functional>
#include <mutex>
#include <optional>
#include <map>
#include <random>
#include <thread>

#include "tests/unit/storage/fault_injection_fs.h"
#include "tests/unit/storage/test_util.h"

namespace causeway::storage {
namespace {

using ::testing::HasSubstr;
using testing::sample_record;
using testing::TempDir;

LogConfig small_config(Durability d = Durability::kFsync) {
  LogConfig c;
  c.durability = d;
  c.segment_bytes = 64 << 10;
  c.index_interval_bytes = 1024;
  c.retention_ms = std::chrono::milliseconds(0);
  return c;
}

// Appends `n` batches of `per` records; returns the results.
std::vector<AppendResult> append_n(PartitionLog& log, LamportClock& clock, uint64_t n, size_t per,
                                   int64_t time_ms = 1000, size_t payload = 100) {
  std::vector<AppendResult> out;
  for (uint64_t b = 0; b < n; ++b) {
    std::vector<testing::SampleRecord> owned;
    std::vector<batch::RecordInput> in;
    for (size_t i = 0; i < per; ++i) owned.push_back(sample_record(log.next_offset() + i, payload));
    for (auto& o : owned) in.push_back(o.input());
    auto r = log.append(in, clock, 0, time_ms);
    EXPECT_TRUE(r.ok()) << r.error().to_string();
    if (r.ok()) out.push_back(*r);
  }
  return out;
}

// Every record from `from` to the high watermark, by reading batch after batch.
std::vector<std::pair<uint64_t, std::string>> read_everything(const PartitionLog& log, uint64_t from = 0) {
  std::vector<std::pair<uint64_t, std::string>> out;
  uint64_t next = from;
  for (;;) {
    auto r = log.read(next, 8192);
    EXPECT_TRUE(r.ok()) << r.error().to_string();
    if (!r.ok() || r->batches.empty()) break;
    EXPECT_TRUE(for_each_record_from(*r, next, [&](const batch::RecordView& v) {
                  EXPECT_EQ(v.offset, next);
                  out.emplace_back(v.offset, std::string(v.payload));
                  next = v.offset + 1;
                  return true;
                }).ok());
  }
  return out;
}

TEST(PartitionLog, AppendAssignsContiguousOffsetsAndIncreasingLamports) {
  TempDir dir;
  LamportClock clock;
  auto log = PartitionLog::open(FileSystem::posix(), dir.path(), small_config(), nullptr);
  ASSERT_TRUE(log.ok());
  auto results = append_n(**log, clock, 10, 3);
  for (size_t i = 0; i < results.size(); ++i) {
    EXPECT_EQ(results[i].base_offset, i * 3);
    EXPECT_EQ(results[i].last_offset, i * 3 + 2);
    EXPECT_EQ(results[i].last_lamport, results[i].first_lamport + 2);
    if (i > 0) {
      EXPECT_GT(results[i].first_lamport, results[i - 1].last_lamport);
    }
  }
  EXPECT_EQ((*log)->high_watermark(), 30u);
  EXPECT_EQ((*log)->durable_offset(), 30u);
}

TEST(PartitionLog, ObservedClientStampRaisesTheLamportClock) {
  TempDir dir;
  LamportClock clock;
  auto log = PartitionLog::open(FileSystem::posix(), dir.path(), small_config(), nullptr);
  ASSERT_TRUE(log.ok());
  auto rec = sample_record(0);
  batch::RecordInput in = rec.input();
  auto r = (*log)->append({&in, 1}, clock, 500, 1);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->first_lamport, 501u);
  EXPECT_EQ(clock.now(), 501u);
}

TEST(PartitionLog, ReadReturnsExactlyWhatWasAppendedAcrossSegments) {
  TempDir dir;
  LamportClock clock;
  auto log = PartitionLog::open(FileSystem::posix(), dir.path(), small_config(), nullptr);
  ASSERT_TRUE(log.ok());
  append_n(**log, clock, 400, 2);
  EXPECT_GE((*log)->segment_count(), 3u);
  auto all = read_everything(**log);
  ASSERT_EQ(all.size(), 800u);
  for (uint64_t i = 0; i < 800; ++i) EXPECT_EQ(all[i].second, sample_record(i, 100).payload);
  auto mid = read_everything(**log, 333);
  ASSERT_FALSE(mid.empty());
  EXPECT_EQ(mid.front().first, 333u);
}

TEST(PartitionLog, ReadBelowLogStartIsOutOfRangeAndAtEndIsEmpty) {
  TempDir dir;
  LamportClock clock;
  LogConfig c = small_config();
  c.retention_bytes = 100 << 10;
  auto log = PartitionLog::open(FileSystem::posix(), dir.path(), c, nullptr);
  ASSERT_TRUE(log.ok());
  append_n(**log, clock, 800, 2);
  auto removed = (*log)->enforce_retention(1000);
  ASSERT_TRUE(removed.ok());
  EXPECT_GT(*removed, 0u);
  EXPECT_GT((*log)->log_start_offset(), 0u);
  auto below = (*log)->read(0, 100);
  ASSERT_FALSE(below.ok());
  EXPECT_EQ(below.error().code(), Code::kOutOfRange);
  auto end = (*log)->read((*log)->next_offset(), 100);
  ASSERT_TRUE(end.ok());
  EXPECT_TRUE(end->batches.empty());
}

TEST(PartitionLog, ReopenContinuesOffsetsLamportsAndKeepsEveryRecord) {
  TempDir dir;
  uint64_t last_lamport = 0;
  {
    LamportClock clock;
    auto log = PartitionLog::open(FileSystem::posix(), dir.path(), small_config(), nullptr);
    ASSERT_TRUE(log.ok());
    auto rs = append_n(**log, clock, 300, 2);
    last_lamport = rs.back().last_lamport;
  }
  RecoveryReport report;
  auto log = PartitionLog::open(FileSystem::posix(), dir.path(), small_config(), &report);
  ASSERT_TRUE(log.ok()) << log.error().to_string();
  EXPECT_EQ(report.next_offset, 600u);
  EXPECT_EQ(report.last_lamport, last_lamport);
  EXPECT_FALSE(report.truncated);
  EXPECT_TRUE(report.rebuilt_indexes.empty());
  LamportClock clock(report.last_lamport);
  auto more = append_n(**log, clock, 1, 1);
  EXPECT_EQ(more[0].base_offset, 600u);
  EXPECT_GT(more[0].first_lamport, last_lamport);
  EXPECT_EQ(read_everything(**log).size(), 601u);
}

TEST(PartitionLog, ReplaysTornTailUpToLastGoodBatch) {
  TempDir dir;
  uint64_t size = 0;
  {
    LamportClock clock;
    auto log = PartitionLog::open(FileSystem::posix(), dir.path(), small_config(), nullptr);
    ASSERT_TRUE(log.ok());
    append_n(**log, clock, 10, 1);
    size = (*log)->size_bytes();
  }
  const std::string seg = dir.path() + "/00000000000000000000.log";
  testing::shrink_file(seg, size - 10);
  RecoveryReport report;
  auto log = PartitionLog::open(FileSystem::posix(), dir.path(), small_config(), &report);
  ASSERT_TRUE(log.ok());
  EXPECT_EQ((*log)->next_offset(), 9u);
  ASSERT_TRUE(report.truncated);
  EXPECT_TRUE(report.truncated->torn);
  EXPECT_EQ(report.truncated_bytes, size / 10 - 10);
  EXPECT_EQ(read_everything(**log).size(), 9u);
}

TEST(PartitionLog, StrayLogFileNameIsReportedByName) {
  TempDir dir;
  testing::write_all(dir.path() + "/garbage.log", "x");
  auto log = PartitionLog::open(FileSystem::posix(), dir.path(), small_config(), nullptr);
  ASSERT_FALSE(log.ok());
  EXPECT_THAT(std::string(log.error().message()), HasSubstr("garbage.log"));
}

TEST(PartitionLog, MissingMiddleSegmentIsCorruption) {
  TempDir dir;
  {
    LamportClock clock;
    auto log = PartitionLog::open(FileSystem::posix(), dir.path(), small_config(), nullptr);
    ASSERT_TRUE(log.ok());
    append_n(**log, clock, 600, 2);
    ASSERT_GT((*log)->segment_count(), 3u);
  }
  std::vector<std::string> logs;
  for (auto& e : std::filesystem::directory_iterator(dir.path()))
    if (e.path().extension() == ".log") logs.push_back(e.path().string());
  std::sort(logs.begin(), logs.end());
  std::filesystem::remove(logs[1]);
  auto log = PartitionLog::open(FileSystem::posix(), dir.path(), small_config(), nullptr);
  ASSERT_FALSE(log.ok());
  EXPECT_EQ(log.error().code(), Code::kCorruption);
  EXPECT_THAT(std::string(log.error().message()), HasSubstr("a segment is missing"));
}

TEST(PartitionLog, RollsByAgeOnTheNextAppend) {
  TempDir dir;
  LamportClock clock;
  LogConfig c = small_config();
  c.segment_ms = std::chrono::milliseconds(1000);
  auto log = PartitionLog::open(FileSystem::posix(), dir.path(), c, nullptr);
  ASSERT_TRUE(log.ok());
  append_n(**log, clock, 3, 1, 5000);
  EXPECT_EQ((*log)->segment_count(), 1u);
  append_n(**log, clock, 1, 1, 6000);
  EXPECT_EQ((*log)->segment_count(), 2u);
}

TEST(PartitionLog, FindsFirstOffsetAtOrAfterTimeAndLamport) {
  TempDir dir;
  LamportClock clock;
  auto log = PartitionLog::open(FileSystem::posix(), dir.path(), small_config(), nullptr);
  ASSERT_TRUE(log.ok());
  std::vector<AppendResult> rs;
  for (int64_t t = 0; t < 300; ++t) {
    auto r = append_n(**log, clock, 1, 2, 10'000 + t * 10);
    rs.push_back(r[0]);
  }
  EXPECT_EQ(*(*log)->offset_for_time(0), 0u);
  EXPECT_EQ(*(*log)->offset_for_time(10'000 + 150 * 10), 300u);
  EXPECT_EQ(*(*log)->offset_for_time(10'000 + 150 * 10 - 5), 300u);
  EXPECT_EQ(*(*log)->offset_for_time(1'000'000), 600u);  // none yet: the high watermark
  EXPECT_EQ(*(*log)->offset_for_lamport(rs[200].first_lamport + 1), 401u);
  EXPECT_EQ(*(*log)->offset_for_lamport(0), 0u);
  EXPECT_EQ(*(*log)->offset_for_lamport(rs.back().last_lamport + 1), 600u);
}

TEST(PartitionLog, RetentionBySizeDeletesOldestSegmentsButNeverTheActiveOne) {
  TempDir dir;
  LamportClock clock;
  LogConfig c = small_config();
  c.retention_bytes = 1;  // as small as possible
  auto log = PartitionLog::open(FileSystem::posix(), dir.path(), c, nullptr);
  ASSERT_TRUE(log.ok());
  append_n(**log, clock, 600, 2);
  const uint64_t end = (*log)->next_offset();
  ASSERT_TRUE((*log)->enforce_retention(0).ok());
  EXPECT_EQ((*log)->segment_count(), 1u);
  EXPECT_EQ((*log)->next_offset(), end);
  const auto kept = read_everything(**log, (*log)->log_start_offset());
  ASSERT_FALSE(kept.empty());
  EXPECT_EQ(kept.back().first, end - 1);
  // Reopening sees the same start.
  const uint64_t start = (*log)->log_start_offset();
  log->reset();
  auto again = PartitionLog::open(FileSystem::posix(), dir.path(), c, nullptr);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ((*again)->log_start_offset(), start);
}

// A sealed segment whose records carry no dedup key gets a .nokeys marker, so loading the
// dedup window after a crash can skip it; the marker outlives a reopen and goes with its
// segment.
TEST(PartitionLog, SegmentsWithoutDedupKeysAreMarkedWhenSealedAndSkippedAfterReopen) {
  TempDir dir;
  LamportClock clock;
  LogConfig c = small_config();
  auto log = PartitionLog::open(FileSystem::posix(), dir.path(), c, nullptr);
  ASSERT_TRUE(log.ok());
  const auto append_plain = [&](int batches) {
    for (int b = 0; b < batches; ++b) {
      std::vector<testing::SampleRecord> owned{sample_record(0, 100), sample_record(1, 100)};
      for (auto& o : owned) o.dedup_key.clear();
      std::vector<batch::RecordInput> in;
      for (auto& o : owned) in.push_back(o.input());
      ASSERT_TRUE((*log)->append(in, clock, 0, 1000).ok());
    }
  };
  append_plain(600);
  const uint64_t keyed_at = (*log)->next_offset();
  append_n(**log, clock, 1, 2);  // a batch with dedup keys
  append_plain(600);
  const uint64_t plain_after = keyed_at + 2 + 100;  // in a sealed segment after the keyed one
  const auto markers = [&] {
    size_t n = 0;
    for (const auto& e : std::filesystem::directory_iterator(dir.path())) n += e.path().extension() == ".nokeys";
    return n;
  };
  ASSERT_GE((*log)->segment_count(), 4u);
  for (int reopened = 0; reopened < 2; ++reopened) {
    SCOPED_TRACE(reopened ? "after reopening" : "as written");
    EXPECT_EQ(markers(), (*log)->segment_count() - 2) << "every sealed segment but the keyed one";
    const uint64_t keyed_segment = (*log)->skip_segments_without_dedup_keys(0);
    EXPECT_GT(keyed_segment, 0u) << "the plain segments before it are skipped";
    EXPECT_LE(keyed_segment, keyed_at);
    EXPECT_EQ((*log)->skip_segments_without_dedup_keys(keyed_at), keyed_at);
    EXPECT_GT((*log)->skip_segments_without_dedup_keys(plain_after), plain_after);
    EXPECT_LT((*log)->skip_segments_without_dedup_keys(plain_after), (*log)->next_offset())
        << "the active segment is never skipped";
    log->reset();
    log = PartitionLog::open(FileSystem::posix(), dir.path(), c, nullptr);
    ASSERT_TRUE(log.ok());
  }
  // A reopened active segment may hold keys (it is not known): sealing it writes no marker.
  const size_t before = (*log)->segment_count() - 2;
  append_plain(300);
  EXPECT_GT((*log)->segment_count() - 2, before) << "the appends rolled at least once";
  EXPECT_EQ(markers(), (*log)->segment_count() - 3)
      << "not the keyed segment, and not the one that was active at the reopen (its records are not known)";
  c.retention_bytes = 1;
  log->reset();
  log = PartitionLog::open(FileSystem::posix(), dir.path(), c, nullptr);
  ASSERT_TRUE(log.ok());
  ASSERT_TRUE((*log)->enforce_retention(0).ok());
  EXPECT_EQ(markers(), 0u) << "retention deletes a segment's marker with it";
}

TEST(PartitionLog, RetentionByAgeKeepsSegmentsWithRecentRecords) {
  TempDir dir;
  LamportClock clock;
  LogConfig c = small_config();
  c.retention_ms = std::chrono::milliseconds(60'000);
  auto log = PartitionLog::open(FileSystem::posix(), dir.path(), c, nullptr);
  ASSERT_TRUE(log.ok());
  append_n(**log, clock, 300, 2, 1'000);       // old
  const uint64_t recent_start = (*log)->next_offset();
  append_n(**log, clock, 300, 2, 100'000);     // recent
  ASSERT_TRUE((*log)->enforce_retention(120'000).ok());
  EXPECT_GT((*log)->log_start_offset(), 0u);
  EXPECT_LE((*log)->log_start_offset(), recent_start);
}

TEST(PartitionLog, ConcurrentFsyncAppendersShareSyncs) {
  TempDir dir;
  testing::FaultInjectionFs fs;
  fs.set_sync_delay(std::chrono::milliseconds(5));  // a slow disk makes sharing visible
  LamportClock clock;
  LogConfig c = small_config();
  c.segment_bytes = 64 << 20;
  auto log = PartitionLog::open(&fs, dir.path(), c, nullptr);
  ASSERT_TRUE(log.ok());
  const uint64_t syncs_before = fs.sync_count();
  constexpr int kThreads = 8, kPer = 20;
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; ++t)
    ts.emplace_back([&] { append_n(**log, clock, kPer, 1); });
  for (auto& t : ts) t.join();
  const uint64_t syncs = fs.sync_count() - syncs_before;
  EXPECT_EQ((*log)->durable_offset(), uint64_t{kThreads * kPer});
  // Every append waited for a sync; with 8 appenders at most about a quarter lead one.
  EXPECT_LT(syncs, uint64_t{kThreads * kPer} / 2) << syncs << " syncs for " << kThreads * kPer << " appends";
  EXPECT_EQ(read_everything(**log).size(), uint64_t{kThreads * kPer});
}

TEST(PartitionLog, OsModeAppendsAreVisibleBeforeSyncAndDurableAfterIt) {
  TempDir dir;
  testing::FaultInjectionFs fs;
  LamportClock clock;
  auto log = PartitionLog::open(&fs, dir.path(), small_config(Durability::kOs), nullptr);
  ASSERT_TRUE(log.ok());
  const uint64_t syncs_before = fs.sync_count();
  append_n(**log, clock, 5, 1);
  EXPECT_EQ(fs.sync_count(), syncs_before);
  EXPECT_EQ((*log)->high_watermark(), 5u);
  EXPECT_EQ((*log)->durable_offset(), 0u);
  ASSERT_TRUE((*log)->sync().ok());
  EXPECT_EQ((*log)->durable_offset(), 5u);
}

// The ack of an async `fsync` append that finds a sync in progress runs on the sync
// leader's thread, after a sync covering it: the appender itself never waits.
TEST(PartitionLog, AsyncAppendIsCompletedByTheSyncLeaderOnceDurable) {
  TempDir dir;
  testing::FaultInjectionFs fs;
  LamportClock clock;
  auto log = PartitionLog::open(&fs, dir.path(), small_config(), nullptr);
  ASSERT_TRUE(log.ok());
  fs.set_sync_delay(std::chrono::milliseconds(100));
  const uint64_t syncs_before = fs.sync_count();
  auto first = sample_record(0, 100);
  auto second = sample_record(1, 100);

  std::atomic<bool> first_done{false};
  std::thread leader_thread([&] {
    std::vector<batch::RecordInput> in{first.input()};
    (*log)->append_async(in, clock, 0, 1000, [&](Result<AppendResult> r) {
      EXPECT_TRUE(r.ok());
      first_done = true;
    });
    // This thread led the sync, so its own ack came before append_async returned.
    EXPECT_TRUE(first_done.load());
  });
  while (fs.sync_count() == syncs_before) std::this_thread::yield();  // the leader is inside fdatasync

  std::mutex mu;
  std::condition_variable cv;
  std::optional<std::thread::id> completed_on;
  uint64_t durable_at_completion = 0;
  std::vector<batch::RecordInput> in{second.input()};
  (*log)->append_async(in, clock, 0, 1000, [&](Result<AppendResult> r) {
    ASSERT_TRUE(r.ok()) << r.error().to_string();
    EXPECT_EQ(r->base_offset, 1u);
    const uint64_t durable = (*log)->durable_offset();
    std::lock_guard lk(mu);
    durable_at_completion = durable;
    completed_on = std::this_thread::get_id();
    cv.notify_all();
  });
  {
    std::unique_lock lk(mu);
    cv.wait(lk, [&] { return completed_on.has_value(); });
  }
  const std::thread::id leader_id = leader_thread.get_id();
  leader_thread.join();
  EXPECT_EQ(*completed_on, leader_id);
  EXPECT_NE(*completed_on, std::this_thread::get_id());
  EXPECT_GE(durable_at_completion, 2u);
  EXPECT_EQ(fs.sync_count() - syncs_before, 2u);  // the second batch needed a sync of its own
}

// A one-thread executor for sync rounds.
class TaskThread {
 public:
  TaskThread() : thread_([this] { run(); }) {}
  ~TaskThread() {
    {
      std::lock_guard lk(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  void post(std::function<void()> task) {
    {
      std::lock_guard lk(mu_);
      tasks_.push_back(std::move(task));
    }
    cv_.notify_all();
  }
  std::thread::id id() const { return thread_.get_id(); }

 private:
  void run() {
    std::unique_lock lk(mu_);
    for (;;) {
      cv_.wait(lk, [&] { return stop_ || !tasks_.empty(); });
      if (tasks_.empty()) return;
      auto task = std::move(tasks_.front());
      tasks_.pop_front();
      lk.unlock();
      task();
      lk.lock();
    }
  }
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> tasks_;
  bool stop_ = false;
  std::thread thread_;
};

TEST(PartitionLog, WithASyncExecutorAppendersNeverRunTheSyncThemselves) {
  TempDir dir;
  testing::FaultInjectionFs fs;
  LamportClock clock;
  TaskThread syncer;
  auto log = PartitionLog::open(&fs, dir.path(), small_config(), nullptr);
  ASSERT_TRUE(log.ok());
  (*log)->set_sync_executor([&](std::function<void()> task) { syncer.post(std::move(task)); });
  fs.set_sync_delay(std::chrono::milliseconds(2));

  constexpr int kAppends = 50;
  std::mutex mu;
  std::condition_variable cv;
  int completed = 0;
  bool all_on_syncer = true;
  uint64_t next_expected = 0;
  bool in_order = true;
  std::vector<testing::SampleRecord> owned;
  for (int i = 0; i < kAppends; ++i) owned.push_back(sample_record(static_cast<uint64_t>(i), 64));
  for (int i = 0; i < kAppends; ++i) {
    std::vector<batch::RecordInput> in{owned[static_cast<size_t>(i)].input()};
    (*log)->append_async(in, clock, 0, 1000, [&](Result<AppendResult> r) {
      const bool on_syncer = std::this_thread::get_id() == syncer.id();
      const uint64_t durable = (*log)->durable_offset();
      std::lock_guard lk(mu);
      ASSERT_TRUE(r.ok());
      all_on_syncer = all_on_syncer && on_syncer;
      in_order = in_order && r->base_offset == next_expected && durable > r->last_offset;
      next_expected = r->last_offset + 1;
      ++completed;
      cv.notify_all();
    });
  }
  std::unique_lock lk(mu);
  cv.wait(lk, [&] { return completed == kAppends; });
  EXPECT_TRUE(all_on_syncer);
  EXPECT_TRUE(in_order) << "completions come in offset order, each after its batch is durable";
  lk.unlock();
  // The blocking forms work on top of the executor too.
  EXPECT_TRUE((*log)->sync().ok());
  (*log)->set_sync_executor(nullptr);  // before the syncer thread goes away
}

// What the append observer (storage/sync_observer.h) saw, for the test below.
std::mutex g_timings_mu;
std::vector<AppendTiming> g_timings;
void record_timing(const AppendTiming& t) {
  std::lock_guard lk(g_timings_mu);
  g_timings.push_back(t);
}

// docs/broker.md, "Where a publish's time goes": an `fsync` append that arrives while a
// sync runs is seen waiting for the rest of that sync (sync_wait) and then for its own
// (sync); an `os` append has only its write.
TEST(PartitionLog, AppendObserverSplitsTheWaitIntoTheSyncRunningAndTheAppendsOwn) {
  TempDir dir;
  testing::FaultInjectionFs fs;
  LamportClock clock;
  TaskThread syncer;
  auto log = PartitionLog::open(&fs, dir.path(), small_config(), nullptr);
  ASSERT_TRUE(log.ok());
  (*log)->set_sync_executor([&](std::function<void()> task) { syncer.post(std::move(task)); });
  {
    std::lock_guard lk(g_timings_mu);
    g_timings.clear();
  }
  set_append_observer(&record_timing);
  // Long enough that the second append, written ~10 ms into the first's sync, is certain
  // to find it running even on a loaded machine under sanitizers.
  constexpr auto kSync = std::chrono::milliseconds(300);
  fs.set_sync_delay(kSync);

  std::mutex mu;
  std::condition_variable cv;
  int completed = 0;
  auto first = sample_record(0, 100);
  auto second = sample_record(1, 100);
  auto count = [&](Result<AppendResult> r) {
    EXPECT_TRUE(r.ok());
    std::lock_guard lk(mu);
    ++completed;
    cv.notify_all();
  };
  const uint64_t syncs_before = fs.sync_count();
  std::vector<batch::RecordInput> a{first.input()};
  (*log)->append_async(a, clock, 0, 1000, count);
  // The second arrives while the first's sync runs (it takes kSync): it waits for the rest
  // of that one and then for a sync of its own.
  while (fs.sync_count() == syncs_before) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  std::this_thread::sleep_for(std::chrono::milliseconds(10));
  std::vector<batch::RecordInput> b{second.input()};
  (*log)->append_async(b, clock, 0, 1000, count);
  {
    std::unique_lock lk(mu);
    cv.wait(lk, [&] { return completed == 2; });
  }
  set_append_observer(nullptr);
  (*log)->set_sync_executor(nullptr);

  std::vector<AppendTiming> seen;
  {
    std::lock_guard lk(g_timings_mu);
    seen.swap(g_timings);
  }
  ASSERT_EQ(seen.size(), 2u);
  for (const AppendTiming& t : seen) {
    EXPECT_TRUE(t.durable_wait);
    EXPECT_GT(t.write.count(), 0);
    EXPECT_GE(t.sync, kSync);  // the delay is inside the sync it covers
    EXPECT_GE(t.complete.count(), 0);
  }
  // The first found no sync running; the second waited for most of the first's.
  EXPECT_LT(seen[0].sync_wait + seen[0].gather, kSync / 2);
  EXPECT_GE(seen[1].sync_wait + seen[1].gather, kSync / 3);

  // `os`: the write only, no durability phases.
  TempDir os_dir;
  auto os_log = PartitionLog::open(&fs, os_dir.path(), small_config(Durability::kOs), nullptr);
  ASSERT_TRUE(os_log.ok());
  set_append_observer(&record_timing);
  append_n(**os_log, clock, 3, 1);
  set_append_observer(nullptr);
  std::lock_guard lk(g_timings_mu);
  ASSERT_EQ(g_timings.size(), 3u);
  for (const AppendTiming& t : g_timings) {
    EXPECT_FALSE(t.durable_wait);
    EXPECT_GT(t.write.count(), 0);
    EXPECT_EQ(t.sync.count(), 0);
  }
}

TEST(PartitionLog, FailedSyncFailsEveryQueuedAsyncAppendAndRefusesLaterOnes) {
  TempDir dir;
  testing::FaultInjectionFs fs;
  LamportClock clock;
  auto log = PartitionLog::open(&fs, dir.path(), small_config(), nullptr);
  ASSERT_TRUE(log.ok());
  fs.set_sync_delay(std::chrono::milliseconds(20));
  fs.set_fail_sync(true);
  constexpr int kThreads = 4;
  std::atomic<int> failed{0}, succeeded{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; ++t) {
    ts.emplace_back([&, t] {
      auto rec = sample_record(static_cast<uint64_t>(t), 50);
      std::vector<batch::RecordInput> in{rec.input()};
      (*log)->append_async(in, clock, 0, 1000, [&](Result<AppendResult> r) {
        (r.ok() ? succeeded : failed).fetch_add(1);
      });
    });
  }
  for (auto& t : ts) t.join();
  // Every callback ran (the leader does not leave while waiters remain), and none succeeded.
  EXPECT_EQ(failed.load() + succeeded.load(), kThreads);
  EXPECT_EQ(succeeded.load(), 0);
  fs.set_fail_sync(false);
  auto rec = sample_record(9, 50);
  std::vector<batch::RecordInput> in{rec.input()};
  auto later = (*log)->append(in, clock, 0, 1000);
  ASSERT_FALSE(later.ok());
  EXPECT_EQ(later.error().code(), Code::kFailedPrecondition);
  EXPECT_FALSE((*log)->sync().ok());
}

// Model-based: random appends, reopenings and reads against a vector of payloads.
// Replay a failure with --gtest_random_seed=N.
TEST(PartitionLogProperty, MatchesModelUnderRandomAppendsReopensAndReads) {
  const uint32_t seed = static_cast<uint32_t>(::testing::UnitTest::GetInstance()->random_seed());
  SCOPED_TRACE("seed " + std::to_string(seed) + " (rerun with --gtest_random_seed=" + std::to_string(seed) + ")");
  std::mt19937 rng(seed);
  TempDir dir;
  LogConfig c = small_config();
  c.segment_bytes = 64 << 10;
  std::vector<std::string> model;
  LamportClock clock;
  auto log = PartitionLog::open(FileSystem::posix(), dir.path(), c, nullptr);
  ASSERT_TRUE(log.ok());
  for (int step = 0; step < 400; ++step) {
    const int op = static_cast<int>(rng() % 10);
    if (op < 6) {
      const size_t n = 1 + rng() % 8;
      std::vector<testing::SampleRecord> owned;
      for (size_t i = 0; i < n; ++i) owned.push_back(sample_record(model.size() + i, 1 + rng() % 2000));
      std::vector<batch::RecordInput> in;
      for (auto& o : owned) in.push_back(o.input());
      auto r = (*log)->append(in, clock, 0, 1000 + step);
      ASSERT_TRUE(r.ok()) << r.error().to_string();
      ASSERT_EQ(r->base_offset, model.size());
      for (auto& o : owned) model.push_back(o.payload);
    } else if (op < 7) {
      log->reset();
      RecoveryReport report;
      log = PartitionLog::open(FileSystem::posix(), dir.path(), c, &report);
      ASSERT_TRUE(log.ok()) << log.error().to_string();
      ASSERT_FALSE(report.truncated);
      clock.observe(report.last_lamport);
    } else {
      if (model.empty()) continue;
      const uint64_t from = rng() % model.size();
      auto r = (*log)->read(from, 1 + rng() % 20000);
      ASSERT_TRUE(r.ok());
      ASSERT_FALSE(r->batches.empty());
      uint64_t expect = from;
      ASSERT_TRUE(for_each_record_from(*r, from, [&](const batch::RecordView& v) {
                    EXPECT_EQ(v.offset, expect);
                    EXPECT_EQ(v.payload, model[v.offset]);
                    ++expect;
                    return true;
                  }).ok());
      EXPECT_GT(expect, from);
    }
    ASSERT_EQ((*log)->next_offset(), model.size());
  }
  EXPECT_EQ(read_everything(**log).size(), model.size());
}

}  // namespace
}  // namespace causeway::storage

namespace causeway::storage {
namespace {

TEST(PartitionLog, ReadStopsAtTheRecordBudget) {
  testing::TempDir dir;
  LamportClock clock;
  auto log = PartitionLog::open(FileSystem::posix(), dir.path(), small_config(), nullptr);
  ASSERT_TRUE(log.ok());
  append_n(**log, clock, 20, 3);  // batches of 3
  auto r = (*log)->read(4, 1 << 20, 4);  // offsets 4,5 (batch 3-5) then 6,7,8: 5 >= 4
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->batches.size(), 2u);
  EXPECT_EQ(r->batches[0].header.base_offset, 3u);
  EXPECT_EQ(r->batches[1].header.base_offset, 6u);
}

}  // namespace
}  // namespace causeway::storage
