// FileCache, and partition logs whose sealed segments read through one: the descriptors the
// process holds stay within the cache's capacity plus one per active segment, every record
// stays readable, and deleted segments' descriptors are closed.
#include "storage/file_cache.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "storage/partition_log.h"
#include "tests/support/open_files.h"
#include "tests/unit/storage/test_util.h"

namespace causeway::storage {
namespace {

using testing::TempDir;

struct OpenDescriptors {
  size_t under = 0;    // open files whose path starts with the directory
  size_t deleted = 0;  // ... of which the file was deleted
};

// The descriptors this process holds on files under `dir`.
OpenDescriptors open_descriptors_under(const std::string& dir) {
  OpenDescriptors out;
  for (const std::string& target : causeway::testing::open_files_under(::getpid(), dir)) {
    ++out.under;
    if (target.ends_with(" (deleted)")) ++out.deleted;
  }
  return out;
}

void write_small_file(const std::string& path, const std::string& contents) { testing::write_all(path, contents); }

// Reads a file through the cache, keyed by its index in the test.
std::string read_through(FileCache& cache, uint64_t key, const std::string& path) {
  auto f = cache.get(key, path);
  EXPECT_TRUE(f.ok()) << f.error().to_string();
  if (!f.ok()) return "";
  std::string buf(64, '\0');
  auto n = (*f)->read_at(0, buf.size(), buf.data());
  EXPECT_TRUE(n.ok());
  buf.resize(n.ok() ? *n : 0);
  return buf;
}

TEST(FileCache, KeepsAtMostItsCapacityOpenAndEvictsTheLeastRecentlyUsed) {
  TempDir dir;
  for (int i = 0; i < 5; ++i) write_small_file(dir.path() + "/f" + std::to_string(i), "file " + std::to_string(i));
  FileCache cache(FileSystem::posix(), 3);
  for (uint64_t i = 0; i < 5; ++i)
    EXPECT_EQ(read_through(cache, i, dir.path() + "/f" + std::to_string(i)), "file " + std::to_string(i));
  EXPECT_EQ(cache.size(), 3u);
  EXPECT_EQ(cache.opens(), 5u);
  EXPECT_EQ(cache.evictions(), 2u);
  EXPECT_EQ(open_descriptors_under(dir.path()).under, 3u);

  // f2..f4 are cached: no opens. Touching f2 makes f3 the least recently used.
  EXPECT_EQ(read_through(cache, 2, dir.path() + "/f2"), "file 2");
  EXPECT_EQ(read_through(cache, 4, dir.path() + "/f4"), "file 4");
  EXPECT_EQ(cache.opens(), 5u);
  EXPECT_EQ(read_through(cache, 0, dir.path() + "/f0"), "file 0");  // evicts f3
  EXPECT_EQ(cache.opens(), 6u);
  EXPECT_EQ(read_through(cache, 2, dir.path() + "/f2"), "file 2");
  EXPECT_EQ(read_through(cache, 4, dir.path() + "/f4"), "file 4");
  EXPECT_EQ(cache.opens(), 6u);
  EXPECT_EQ(read_through(cache, 3, dir.path() + "/f3"), "file 3");
  EXPECT_EQ(cache.opens(), 7u);
  EXPECT_EQ(open_descriptors_under(dir.path()).under, 3u);
}

TEST(FileCache, AHandleInUseStaysOpenAfterEvictionAndClosesWhenReleased) {
  TempDir dir;
  write_small_file(dir.path() + "/a", "aaa");
  write_small_file(dir.path() + "/b", "bbb");
  FileCache cache(FileSystem::posix(), 1);
  auto held = cache.get(1, dir.path() + "/a");
  ASSERT_TRUE(held.ok());
  EXPECT_EQ(read_through(cache, 2, dir.path() + "/b"), "bbb");  // evicts a from the cache
  EXPECT_EQ(cache.size(), 1u);
  EXPECT_EQ(open_descriptors_under(dir.path()).under, 2u);   // a is still open for its reader
  char buf[3];
  auto n = (*held)->read_at(0, 3, buf);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(std::string(buf, *n), "aaa");
  held->reset();
  EXPECT_EQ(open_descriptors_under(dir.path()).under, 1u);
}

TEST(FileCache, EraseClosesTheDescriptorSoADeletedFileFreesItsSpace) {
  TempDir dir;
  write_small_file(dir.path() + "/a", "aaa");
  FileCache cache(FileSystem::posix(), 4);
  EXPECT_EQ(read_through(cache, 1, dir.path() + "/a"), "aaa");
  cache.erase(1);
  cache.erase(99);  // never cached
  ASSERT_TRUE(FileSystem::posix()->remove(dir.path() + "/a").ok());
  EXPECT_EQ(open_descriptors_under(dir.path()).under, 0u);
  EXPECT_EQ(cache.size(), 0u);
}

TEST(FileCache, AMissingFileIsTheOpensErrorAndNothingIsCached) {
  TempDir dir;
  FileCache cache(FileSystem::posix(), 2);
  auto f = cache.get(1, dir.path() + "/gone");
  ASSERT_FALSE(f.ok());
  EXPECT_THAT(std::string(f.error().message()), ::testing::HasSubstr("gone"));
  EXPECT_EQ(cache.size(), 0u);
}

// The posix file system under a limit of live handles: an open beyond it fails as the
// kernel's EMFILE does, until a handle closes.
class DescriptorLimitedFs final : public FileSystem {
 public:
  explicit DescriptorLimitedFs(int64_t limit) : limit_(limit) {}
  Result<std::unique_ptr<File>> open(const std::string& path, OpenMode mode) override {
    if (live_->load() >= limit_) return io_error("open " + path + ": " + std::strerror(EMFILE));
    CAUSEWAY_ASSIGN_OR_RETURN(auto f, base_->open(path, mode));
    return std::unique_ptr<File>(new Counted(std::move(f), live_));
  }
  Status remove(const std::string& p) override { return base_->remove(p); }
  Status rename(const std::string& a, const std::string& b) override { return base_->rename(a, b); }
  Status create_dirs(const std::string& p) override { return base_->create_dirs(p); }
  Status remove_all(const std::string& p) override { return base_->remove_all(p); }
  Status sync_dir(const std::string& p) override { return base_->sync_dir(p); }
  Result<std::vector<std::string>> list_dir(const std::string& p) override { return base_->list_dir(p); }
  bool exists(const std::string& p) override { return base_->exists(p); }

 private:
  class Counted final : public File {
   public:
    Counted(std::unique_ptr<File> f, std::shared_ptr<std::atomic<int64_t>> live) : f_(std::move(f)), live_(std::move(live)) {
      ++*live_;
    }
    ~Counted() override { --*live_; }
    Status write_at(uint64_t o, std::string_view d) override { return f_->write_at(o, d); }
    Result<size_t> read_at(uint64_t o, size_t n, char* dst) const override { return f_->read_at(o, n, dst); }
    Status sync() override { return f_->sync(); }
    Status truncate(uint64_t size) override { return f_->truncate(size); }
    Result<uint64_t> size() const override { return f_->size(); }
    const std::string& path() const override { return f_->path(); }

   private:
    std::unique_ptr<File> f_;
    std::shared_ptr<std::atomic<int64_t>> live_;
  };
  FileSystem* const base_ = FileSystem::posix();
  const int64_t limit_;
  const std::shared_ptr<std::atomic<int64_t>> live_ = std::make_shared<std::atomic<int64_t>>(0);
};

// Out of descriptors (EMFILE), a miss closes the colder half of the cache and opens again,
// instead of failing a read that can succeed.
TEST(FileCache, OutOfDescriptorsAMissClosesTheColderHalfAndOpensAgain) {
  TempDir dir;
  for (int i = 0; i < 9; ++i) write_small_file(dir.path() + "/f" + std::to_string(i), "file " + std::to_string(i));
  DescriptorLimitedFs fs(8);
  FileCache cache(&fs, 8);
  for (uint64_t i = 0; i < 8; ++i)
    ASSERT_EQ(read_through(cache, i, dir.path() + "/f" + std::to_string(i)), "file " + std::to_string(i));
  auto held = cache.get(0, dir.path() + "/f0");  // a read in progress keeps f0 open
  ASSERT_TRUE(held.ok());
  for (uint64_t i = 1; i < 8; ++i)  // hits, leaving f0 the least recently used
    ASSERT_EQ(read_through(cache, i, dir.path() + "/f" + std::to_string(i)), "file " + std::to_string(i));
  EXPECT_EQ(cache.opens(), 8u);
  EXPECT_EQ(read_through(cache, 8, dir.path() + "/f8"), "file 8");
  EXPECT_EQ(cache.size(), 5u) << "four of the eight closed, then the new one cached";
  EXPECT_EQ(open_descriptors_under(dir.path()).under, 6u) << "and f0, evicted but still read";
  // With nothing left to give back, the open's own error.
  DescriptorLimitedFs none(0);
  FileCache empty(&none, 4);
  auto refused = empty.get(1, dir.path() + "/f1");
  ASSERT_FALSE(refused.ok());
  EXPECT_THAT(std::string(refused.error().message()), ::testing::HasSubstr(std::strerror(EMFILE)));
}

constexpr size_t kPayload = 1000;

LogConfig rolling_config() {
  LogConfig c;
  c.durability = Durability::kOs;
  c.segment_bytes = 64 << 10;  // the smallest: a segment every ~60 records of 1 KB
  c.index_interval_bytes = 1024;
  c.retention_ms = std::chrono::milliseconds(0);
  return c;
}

void append_records(PartitionLog& log, LamportClock& clock, uint64_t n) {
  for (uint64_t i = 0; i < n; ++i) {
    auto r = testing::sample_record(log.next_offset(), kPayload);
    batch::RecordInput in = r.input();
    auto done = log.append(std::span<const batch::RecordInput>(&in, 1), clock, 0, 1000);
    ASSERT_TRUE(done.ok()) << done.error().to_string();
  }
}

// Reads every record from 0 and checks offsets, and payloads against sample_record(offset + base).
void expect_every_record_is(const PartitionLog& log, uint64_t base) {
  uint64_t next = 0;
  while (next < log.high_watermark()) {
    auto r = log.read(next, 4096);
    ASSERT_TRUE(r.ok()) << r.error().to_string();
    ASSERT_FALSE(r->batches.empty());
    ASSERT_TRUE(for_each_record_from(*r, next, [&](const batch::RecordView& v) {
                  EXPECT_EQ(v.offset, next);
                  EXPECT_EQ(v.payload, testing::sample_record(next + base, kPayload).payload);
                  ++next;
                  return true;
                }).ok());
  }
  EXPECT_EQ(next, log.high_watermark());
}

void expect_every_record(const PartitionLog& log) { expect_every_record_is(log, 0); }

TEST(PartitionLogDescriptors, SealedSegmentsShareTheCachesDescriptorsAndStayReadable) {
  TempDir dir;
  LamportClock clock;
  auto cache = std::make_shared<FileCache>(FileSystem::posix(), 2);
  {
    auto log = PartitionLog::open(FileSystem::posix(), dir.path(), rolling_config(), nullptr, cache);
    ASSERT_TRUE(log.ok()) << log.error().to_string();
    append_records(**log, clock, 2000);
    ASSERT_GE((*log)->segment_count(), 10u);
    // The active segment's descriptor and at most two sealed ones.
    EXPECT_LE(open_descriptors_under(dir.path()).under, 3u);
    expect_every_record(**log);
    EXPECT_LE(open_descriptors_under(dir.path()).under, 3u);
    EXPECT_GE(cache->opens(), (*log)->segment_count() - 3);  // reading reopened the evicted ones
  }
  EXPECT_EQ(open_descriptors_under(dir.path()).under, 0u);  // closing the log forgot its entries
  EXPECT_EQ(cache->size(), 0u);

  // Opening checks every sealed segment and keeps only the cache's worth open.
  auto log = PartitionLog::open(FileSystem::posix(), dir.path(), rolling_config(), nullptr, cache);
  ASSERT_TRUE(log.ok()) << log.error().to_string();
  EXPECT_LE(open_descriptors_under(dir.path()).under, 3u);
  expect_every_record(**log);
  append_records(**log, clock, 10);
  EXPECT_EQ((*log)->high_watermark(), 2010u);
}

// A reader holding a log whose topic was deleted and created again under the same name
// gets kOutOfRange for sealed segments it must reopen, never the new topic's records.
TEST(PartitionLogDescriptors, AReaderOfADeletedLogNeverReadsTheFilesOfItsSuccessor) {
  TempDir dir;
  LamportClock clock;
  auto cache = std::make_shared<FileCache>(FileSystem::posix(), 1);
  auto old_log = PartitionLog::open(FileSystem::posix(), dir.path(), rolling_config(), nullptr, cache);
  ASSERT_TRUE(old_log.ok());
  append_records(**old_log, clock, 600);
  ASSERT_GE((*old_log)->segment_count(), 5u);
  (*old_log)->mark_files_deleted();
  ASSERT_TRUE(FileSystem::posix()->remove_all(dir.path()).ok());
  auto successor = PartitionLog::open(FileSystem::posix(), dir.path(), rolling_config(), nullptr, cache);
  ASSERT_TRUE(successor.ok());
  for (uint64_t i = 0; i < 600; ++i) {
    auto r = testing::sample_record(i + 100000, kPayload);  // other records at the same offsets
    batch::RecordInput in = r.input();
    ASSERT_TRUE((*successor)->append(std::span<const batch::RecordInput>(&in, 1), clock, 0, 1000).ok());
  }
  auto read = (*old_log)->read(0, 4096);
  ASSERT_FALSE(read.ok()) << "read " << read->batches.size() << " batch(es) of another log";
  EXPECT_EQ(read.error().code(), Code::kOutOfRange) << read.error().to_string();
  expect_every_record_is(**successor, 100000);
}

TEST(PartitionLogDescriptors, WithoutACacheEverySegmentKeepsItsDescriptor) {
  TempDir dir;
  LamportClock clock;
  auto log = PartitionLog::open(FileSystem::posix(), dir.path(), rolling_config(), nullptr);
  ASSERT_TRUE(log.ok());
  append_records(**log, clock, 1000);
  EXPECT_EQ(open_descriptors_under(dir.path()).under, (*log)->segment_count());
}

TEST(PartitionLogDescriptors, RetentionClosesTheDescriptorsOfTheSegmentsItDeletes) {
  TempDir dir;
  LamportClock clock;
  auto cache = std::make_shared<FileCache>(FileSystem::posix(), 64);
  LogConfig c = rolling_config();
  c.retention_bytes = 256 << 10;
  auto log = PartitionLog::open(FileSystem::posix(), dir.path(), c, nullptr, cache);
  ASSERT_TRUE(log.ok());
  append_records(**log, clock, 1500);
  const size_t before = (*log)->segment_count();
  expect_every_record(**log);  // every sealed segment's descriptor is in the cache now
  auto deleted = (*log)->enforce_retention(2000);
  ASSERT_TRUE(deleted.ok());
  ASSERT_GT(*deleted, 0u);
  EXPECT_EQ((*log)->segment_count(), before - *deleted);
  const OpenDescriptors open = open_descriptors_under(dir.path());
  EXPECT_EQ(open.deleted, 0u);
  EXPECT_EQ(open.under, (*log)->segment_count());
}

TEST(PartitionLogDescriptors, ReadersOfSealedSegmentsRunSafelyWhileTheLogRollsAndEvicts) {
  TempDir dir;
  LamportClock clock;
  auto cache = std::make_shared<FileCache>(FileSystem::posix(), 1);
  auto log = PartitionLog::open(FileSystem::posix(), dir.path(), rolling_config(), nullptr, cache);
  ASSERT_TRUE(log.ok());
  append_records(**log, clock, 300);
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> reads{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 2; ++t) {
    readers.emplace_back([&, t] {
      uint64_t offset = static_cast<uint64_t>(t) * 37;
      while (!stop.load()) {
        const uint64_t hw = (*log)->high_watermark();
        offset = (offset + 53) % hw;
        auto r = (*log)->read(offset, 2048);
        ASSERT_TRUE(r.ok()) << r.error().to_string();
        ASSERT_TRUE(for_each_record_from(*r, offset, [&](const batch::RecordView& v) {
                      EXPECT_EQ(v.payload, testing::sample_record(v.offset, kPayload).payload);
                      return true;
                    }).ok());
        reads.fetch_add(1);
      }
    });
  }
  append_records(**log, clock, 3000);  // rolls about 50 times under the readers
  while (reads.load() < 500) std::this_thread::yield();
  stop = true;
  for (auto& r : readers) r.join();
  expect_every_record(**log);
  EXPECT_LE(open_descriptors_under(dir.path()).under, 2u);
}

}  // namespace
}  // namespace causeway::storage
