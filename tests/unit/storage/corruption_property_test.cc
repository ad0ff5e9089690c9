// For every byte of the active segment: cut the file there, and separately damage that
// byte; reopening must succeed and keep exactly the longest valid prefix of batches.
#include <gtest/gtest.h>

#include <filesystem>

#include "storage/partition_log.h"
#include "tests/unit/storage/test_util.h"

namespace causeway::storage {
namespace {

using testing::sample_record;
using testing::TempDir;

struct Built {
  std::string bytes;                 // the pristine active segment
  std::vector<uint64_t> batch_ends;  // byte position after each batch
  std::vector<uint64_t> next_offsets;  // next offset after each batch
  std::vector<std::string> payloads;
};

Built build_log(const std::string& dir) {
  Built b;
  LamportClock clock;
  LogConfig c;
  c.index_interval_bytes = 256;
  auto log = PartitionLog::open(FileSystem::posix(), dir, c, nullptr);
  EXPECT_TRUE(log.ok());
  const size_t sizes[] = {1, 3, 2, 1, 4, 1, 2};
  uint64_t i = 0;
  for (size_t n : sizes) {
    std::vector<testing::SampleRecord> owned;
    for (size_t k = 0; k < n; ++k) owned.push_back(sample_record(i++, 10 + 7 * k));
    std::vector<batch::RecordInput> in;
    for (auto& o : owned) in.push_back(o.input());
    auto r = (*log)->append(in, clock, 0, 1000);
    EXPECT_TRUE(r.ok());
    for (auto& o : owned) b.payloads.push_back(o.payload);
    b.batch_ends.push_back((*log)->size_bytes());
    b.next_offsets.push_back(r->last_offset + 1);
  }
  log->reset();
  b.bytes = testing::read_all(dir + "/00000000000000000000.log");
  return b;
}

// Number of whole batches that end at or before `pos`.
size_t batches_before(const Built& b, uint64_t pos) {
  size_t n = 0;
  while (n < b.batch_ends.size() && b.batch_ends[n] <= pos) ++n;
  return n;
}

void expect_prefix(const std::string& dir, const Built& b, size_t batches, const std::string& what) {
  RecoveryReport report;
  LogConfig c;
  c.index_interval_bytes = 256;
  auto log = PartitionLog::open(FileSystem::posix(), dir, c, &report);
  ASSERT_TRUE(log.ok()) << what << ": " << log.error().to_string();
  const uint64_t want_next = batches == 0 ? 0 : b.next_offsets[batches - 1];
  ASSERT_EQ((*log)->next_offset(), want_next) << what;
  const uint64_t want_size = batches == 0 ? 0 : b.batch_ends[batches - 1];
  ASSERT_EQ((*log)->size_bytes(), want_size) << what;
  // The file was cut after the last good batch, unless all that followed it was zeros,
  // which recovery keeps as preallocated space (docs/log-format.md, "Preallocation").
  const std::string file = testing::read_all(dir + "/00000000000000000000.log");
  ASSERT_GE(file.size(), want_size) << what;
  ASSERT_EQ(file.find_first_not_of('\0', want_size), std::string::npos) << what;
  uint64_t next = 0;
  while (next < want_next) {
    auto r = (*log)->read(next, 1 << 20);
    ASSERT_TRUE(r.ok()) << what;
    ASSERT_FALSE(r->batches.empty()) << what;
    ASSERT_TRUE(for_each_record_from(*r, next, [&](const batch::RecordView& v) {
                  EXPECT_EQ(v.payload, b.payloads[v.offset]) << what;
                  next = v.offset + 1;
                  return true;
                }).ok());
  }
}

TEST(CorruptionProperty, TruncationAtEveryByteKeepsTheLongestValidPrefix) {
  TempDir src;
  const Built b = build_log(src.path());
  ASSERT_GT(b.bytes.size(), 500u);
  for (uint64_t pos = 0; pos <= b.bytes.size(); ++pos) {
    TempDir dir;
    testing::write_all(dir.path() + "/00000000000000000000.log", b.bytes.substr(0, pos));
    expect_prefix(dir.path(), b, batches_before(b, pos), "truncated at " + std::to_string(pos));
    if (HasFatalFailure()) return;
  }
}

TEST(CorruptionProperty, DamageAtEveryByteKeepsTheBatchesBeforeIt) {
  TempDir src;
  const Built b = build_log(src.path());
  for (uint64_t pos = 0; pos < b.bytes.size(); ++pos) {
    TempDir dir;
    std::string bad = b.bytes;
    bad[pos] = static_cast<char>(bad[pos] ^ 0x5a);
    testing::write_all(dir.path() + "/00000000000000000000.log", bad);
    expect_prefix(dir.path(), b, batches_before(b, pos), "byte flipped at " + std::to_string(pos));
    if (HasFatalFailure()) return;
  }
}

TEST(CorruptionProperty, GarbageAppendedAfterTheLastBatchIsCut) {
  TempDir dir;
  const Built b = build_log(dir.path());
  testing::write_all(dir.path() + "/00000000000000000000.log", b.bytes + std::string(99, '\0') + "x");
  expect_prefix(dir.path(), b, b.batch_ends.size(), "garbage tail");
  EXPECT_EQ(std::filesystem::file_size(dir.path() + "/00000000000000000000.log"), b.bytes.size());
}

// A crash before an orderly close leaves the active segment's preallocated space: zeros
// after the last batch are neither data nor a torn write.
TEST(CorruptionProperty, ZerosAfterTheLastBatchArePreallocatedSpaceNotATornWrite) {
  TempDir dir;
  const Built b = build_log(dir.path());
  const std::string path = dir.path() + "/00000000000000000000.log";
  testing::write_all(path, b.bytes + std::string(100000, '\0'));
  RecoveryReport report;
  LogConfig c;
  c.index_interval_bytes = 256;
  {
    auto log = PartitionLog::open(FileSystem::posix(), dir.path(), c, &report);
    ASSERT_TRUE(log.ok()) << log.error().to_string();
    EXPECT_FALSE(report.truncated) << report.truncated->reason;
    EXPECT_EQ((*log)->next_offset(), b.next_offsets.back());
    EXPECT_EQ((*log)->size_bytes(), b.bytes.size());
    // The next batch goes where the last one ended, into the zeros.
    LamportClock clock;
    auto rec = sample_record(b.next_offsets.back(), 64);
    batch::RecordInput in = rec.input();
    auto r = (*log)->append({&in, 1}, clock, (*log)->last_lamport(), 2000);
    ASSERT_TRUE(r.ok()) << r.error().to_string();
    EXPECT_EQ(r->base_offset, b.next_offsets.back());
  }
  // An orderly close trimmed the zeros: the file ends at its last batch.
  auto log = PartitionLog::open(FileSystem::posix(), dir.path(), c, &report);
  ASSERT_TRUE(log.ok());
  EXPECT_FALSE(report.truncated);
  EXPECT_EQ((*log)->next_offset(), b.next_offsets.back() + 1);
  EXPECT_EQ(std::filesystem::file_size(path), (*log)->size_bytes());
}

}  // namespace
}  // namespace causeway::storage
