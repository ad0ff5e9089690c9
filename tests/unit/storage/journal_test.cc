// The sync journal (storage/journal.h): its replay on its own, and shared sync rounds that
// make many partitions' small appends durable through it, through LogManager over a file
// system that simulates power loss (FaultInjectionFs::drop_unsynced_data).
#include "storage/journal.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "causeway/common/coding.h"
#include "causeway/common/crc32c.h"
#include "storage/log_manager.h"
#include "storage/sync_group.h"
#include "tests/unit/storage/fault_injection_fs.h"
#include "tests/unit/storage/test_util.h"

namespace causeway::storage {
namespace {

using testing::FaultInjectionFs;
using testing::read_all;
using testing::sample_record;
using testing::TempDir;
using testing::write_all;

std::vector<std::string> journal_files(const std::string& dir) {
  std::vector<std::string> out;
  if (!std::filesystem::exists(dir)) return out;
  for (const auto& e : std::filesystem::directory_iterator(dir)) out.push_back(e.path().string());
  std::sort(out.begin(), out.end());
  return out;
}

// A segment file with `size` zero bytes, as a crash leaves a preallocated one.
std::string make_segment(const std::string& topics, const std::string& topic, uint32_t partition, uint64_t base,
                         size_t size) {
  const std::string dir = topics + "/" + topic + "/" + std::to_string(partition);
  std::filesystem::create_directories(dir);
  const std::string path = dir + "/" + segment_file_stem(base) + ".log";
  write_all(path, std::string(size, '\0'));
  EXPECT_TRUE(partition_incarnation(FileSystem::posix(), dir, /*create=*/true).ok());
  return path;
}

// A journal entry for `segment`, with its partition directory's incarnation.
JournalEntry entry(const std::string& segment, uint64_t position, std::string bytes) {
  Result<uint64_t> id = partition_incarnation(FileSystem::posix(), segment.substr(0, segment.rfind('/')), false);
  return JournalEntry{segment, id.ok() ? *id : 0, position, std::move(bytes)};
}

TEST(Journal, ReplayWritesEveryRecordBackToItsSegmentAndEmptiesTheJournal) {
  TempDir dir;
  const std::string topics = dir.path() + "/topics";
  const std::string jdir = dir.path() + "/journal";
  const std::string a = make_segment(topics, "t", 0, 0, 64);
  const std::string b = make_segment(topics, "t", 7, 4096, 0);
  {
    auto j = Journal::open(FileSystem::posix(), jdir, topics, nullptr);
    ASSERT_TRUE(j.ok()) << j.error().to_string();
    std::vector<JournalEntry> round1{entry(a, 0, "first"), entry(b, 0, "bee")};
    ASSERT_TRUE((*j)->commit(round1).ok());
    std::vector<JournalEntry> round2{entry(a, 5, "-second")};
    ASSERT_TRUE((*j)->commit(round2).ok());
    // A crash: the segment files lost what the journal holds.
  }
  JournalReplayReport rep;
  auto j = Journal::open(FileSystem::posix(), jdir, topics, &rep);
  ASSERT_TRUE(j.ok()) << j.error().to_string();
  EXPECT_EQ(rep.files, 1u);
  EXPECT_EQ(rep.records, 3u);
  EXPECT_EQ(rep.replayed, 3u);
  EXPECT_TRUE(rep.torn.empty());
  EXPECT_EQ(read_all(a).substr(0, 12), "first-second");
  EXPECT_EQ(read_all(a).size(), 64u);  // written over, not cut
  EXPECT_EQ(read_all(b), "bee");
  // The replayed files were removed; the new one has no record.
  ASSERT_EQ(journal_files(jdir).size(), 1u);
  EXPECT_EQ(std::filesystem::file_size(journal_files(jdir)[0]), Journal::kEmptyFileBytes);
  JournalReplayReport again;
  ASSERT_TRUE(Journal::replay(FileSystem::posix(), jdir, topics, &again).ok());
  EXPECT_EQ(again.records, 0u);
}

// Records of many partitions interleave (each round covers hundreds of logs): replay writes
// them all and makes them durable with one sync of the file system, not one fdatasync per
// file each time it leaves the set of open files; and a power loss right after the replay
// keeps every byte.
TEST(Journal, ReplayOfInterleavedPartitionsSyncsTheFileSystemOnceAndKeepsEveryByte) {
  TempDir dir;
  FaultInjectionFs fs;
  const std::string topics = dir.path() + "/topics";
  const std::string jdir = dir.path() + "/journal";
  constexpr uint32_t kPartitions = 200;  // more than replay keeps open at once
  std::vector<std::string> segments;
  for (uint32_t p = 0; p < kPartitions; ++p) segments.push_back(make_segment(topics, "t", p, 0, 0));
  {
    auto j = Journal::open(FileSystem::posix(), jdir, topics, nullptr);
    ASSERT_TRUE(j.ok()) << j.error().to_string();
    for (int round = 0; round < 5; ++round) {
      std::vector<JournalEntry> entries;
      for (uint32_t p = 0; p < kPartitions; ++p) entries.push_back(entry(segments[p], round * 4, "r" + std::to_string(round) + "p_"));
      ASSERT_TRUE((*j)->commit(entries).ok());
    }
  }
  // The caller's handle (the broker's shared syncs), opened before the replay writes.
  auto fs_sync = fs.open_file_system_sync(topics);
  ASSERT_TRUE(fs_sync.ok()) << fs_sync.error().to_string();
  const uint64_t file_syncs = fs.sync_count();
  const uint64_t fs_syncs = fs.fs_sync_count();
  JournalReplayReport rep;
  ASSERT_TRUE(Journal::replay(&fs, jdir, topics, &rep, fs_sync->get()).ok());
  EXPECT_EQ(rep.replayed, 5u * kPartitions);
  EXPECT_EQ(fs.fs_sync_count(), fs_syncs + 1);
  EXPECT_LT(fs.sync_count() - file_syncs, 10u) << "segment files synced one by one";
  ASSERT_TRUE(fs.drop_unsynced_data().ok());
  for (uint32_t p = 0; p < kPartitions; ++p) EXPECT_EQ(read_all(segments[p]), "r0p_r1p_r2p_r3p_r4p_") << p;
}

TEST(Journal, ReplayStopsAtATornRecordAndKeepsTheOnesBefore) {
  TempDir dir;
  const std::string topics = dir.path() + "/topics";
  const std::string jdir = dir.path() + "/journal";
  const std::string a = make_segment(topics, "t", 0, 0, 0);
  {
    auto j = Journal::open(FileSystem::posix(), jdir, topics, nullptr);
    ASSERT_TRUE(j.ok());
    std::vector<JournalEntry> r1{entry(a, 0, "kept")};
    ASSERT_TRUE((*j)->commit(r1).ok());
    std::vector<JournalEntry> r2{entry(a, 4, std::string(100, 'x'))};
    ASSERT_TRUE((*j)->commit(r2).ok());
  }
  const std::string file = journal_files(jdir).at(0);
  testing::shrink_file(file, std::filesystem::file_size(file) - 10);  // the crash cut the last write
  JournalReplayReport rep;
  ASSERT_TRUE(Journal::replay(FileSystem::posix(), jdir, topics, &rep).ok());
  EXPECT_EQ(rep.replayed, 1u);
  ASSERT_EQ(rep.torn.size(), 1u);
  EXPECT_NE(rep.torn[0].find("cut short"), std::string::npos) << rep.torn[0];
  EXPECT_EQ(read_all(a), "kept");
}

TEST(Journal, ReplayStopsAtARecordWhoseChecksumFails) {
  TempDir dir;
  const std::string topics = dir.path() + "/topics";
  const std::string jdir = dir.path() + "/journal";
  const std::string a = make_segment(topics, "t", 0, 0, 0);
  {
    auto j = Journal::open(FileSystem::posix(), jdir, topics, nullptr);
    ASSERT_TRUE(j.ok());
    std::vector<JournalEntry> r1{entry(a, 0, "good"), entry(a, 4, "flipped")};
    ASSERT_TRUE((*j)->commit(r1).ok());
  }
  const std::string file = journal_files(jdir).at(0);
  testing::increment_byte(file, std::filesystem::file_size(file) - 2);
  JournalReplayReport rep;
  ASSERT_TRUE(Journal::replay(FileSystem::posix(), jdir, topics, &rep).ok());
  EXPECT_EQ(rep.replayed, 1u);
  ASSERT_EQ(rep.torn.size(), 1u);
  EXPECT_NE(rep.torn[0].find("checksum"), std::string::npos) << rep.torn[0];
  EXPECT_EQ(read_all(a), "good");
}

TEST(Journal, ReplaySkipsRecordsOfSegmentsThatAreGone) {
  TempDir dir;
  const std::string topics = dir.path() + "/topics";
  const std::string jdir = dir.path() + "/journal";
  const std::string kept = make_segment(topics, "t", 0, 100, 0);
  const std::string retained_away = make_segment(topics, "t", 0, 0, 0);
  const std::string deleted_topic = make_segment(topics, "gone", 0, 0, 0);
  {
    auto j = Journal::open(FileSystem::posix(), jdir, topics, nullptr);
    ASSERT_TRUE(j.ok());
    std::vector<JournalEntry> r{entry(retained_away, 0, "old"), entry(deleted_topic, 0, "x"), entry(kept, 0, "new")};
    ASSERT_TRUE((*j)->commit(r).ok());
  }
  std::filesystem::remove(retained_away);
  std::filesystem::remove_all(topics + "/gone");
  JournalReplayReport rep;
  ASSERT_TRUE(Journal::replay(FileSystem::posix(), jdir, topics, &rep).ok());
  EXPECT_EQ(rep.replayed, 1u);
  EXPECT_EQ(rep.skipped_missing, 2u);
  EXPECT_EQ(read_all(kept), "new");
  // Never created again.
  EXPECT_FALSE(std::filesystem::exists(retained_away));
  EXPECT_FALSE(std::filesystem::exists(topics + "/gone"));
}

// A topic deleted and created again under its name has the same paths: its partition
// directories' new incarnations keep the old topic's records out of the new files.
TEST(Journal, ReplaySkipsRecordsOfAnEarlierPartitionAtTheSamePath) {
  TempDir dir;
  const std::string topics = dir.path() + "/topics";
  const std::string jdir = dir.path() + "/journal";
  const std::string old_segment = make_segment(topics, "t", 0, 0, 0);
  {
    auto j = Journal::open(FileSystem::posix(), jdir, topics, nullptr);
    ASSERT_TRUE(j.ok());
    std::vector<JournalEntry> r{entry(old_segment, 0, "old topic's bytes")};
    ASSERT_TRUE((*j)->commit(r).ok());
  }
  std::filesystem::remove_all(topics + "/t");
  const std::string new_segment = make_segment(topics, "t", 0, 0, 0);
  write_all(new_segment, "new");
  JournalReplayReport rep;
  ASSERT_TRUE(Journal::replay(FileSystem::posix(), jdir, topics, &rep).ok());
  EXPECT_EQ(rep.replayed, 0u);
  EXPECT_EQ(rep.skipped_other, 1u);
  EXPECT_EQ(read_all(new_segment), "new");
}

// A record whose checksum holds but whose path is not a segment under the topics
// directory: damage (or a forged file), never a path to write to.
TEST(Journal, ReplayRefusesARecordThatNamesAFileOutsideTheTopics) {
  TempDir dir;
  const std::string topics = dir.path() + "/topics";
  const std::string jdir = dir.path() + "/journal";
  std::filesystem::create_directories(topics);
  std::filesystem::create_directories(jdir);
  const std::string victim = dir.path() + "/victim";
  write_all(victim, "untouched");
  std::string rec;
  const std::string rel = "../victim";
  const std::string bytes = "owned";
  rec.resize(8);
  coding::put_fixed64(rec, 1);  // incarnation
  coding::put_fixed64(rec, 0);  // position
  coding::put_fixed16(rec, static_cast<uint16_t>(rel.size()));
  rec += rel + bytes;
  coding::encode_fixed32(rec.data() + 4, static_cast<uint32_t>(rec.size() - 8));
  coding::encode_fixed32(rec.data(), crc32c::mask(crc32c::value(rec.data() + 4, rec.size() - 4)));
  write_all(jdir + "/" + journal_file_name(3), "CWJRNL2\n" + rec);
  const Status s = Journal::replay(FileSystem::posix(), jdir, topics, nullptr);
  EXPECT_EQ(s.code(), Code::kCorruption) << s.to_string();
  EXPECT_NE(s.to_string().find("../victim"), std::string::npos) << s.to_string();
  EXPECT_EQ(read_all(victim), "untouched");
  // The journal stays for someone to look at: nothing was replayed.
  EXPECT_EQ(journal_files(jdir).size(), 1u);
}

// Only the newest file can end in a record a crash cut (every commit is synced before the
// next, and a file follows only a successful commit): a bad record in an older one is
// damage, and replay refuses to go on as if the acknowledged records after it never were.
TEST(Journal, ReplayRefusesABadRecordInAFileThatANewerOneFollows) {
  TempDir dir;
  const std::string topics = dir.path() + "/topics";
  const std::string jdir = dir.path() + "/journal";
  const std::string a = make_segment(topics, "t", 0, 0, 0);
  {
    auto j = Journal::open(FileSystem::posix(), jdir, topics, nullptr);
    ASSERT_TRUE(j.ok());
    std::vector<JournalEntry> r1{entry(a, 0, "one"), entry(a, 3, "two")};
    ASSERT_TRUE((*j)->commit(r1).ok());
    ASSERT_TRUE((*j)->rotate().ok());
    std::vector<JournalEntry> r2{entry(a, 6, "three")};
    ASSERT_TRUE((*j)->commit(r2).ok());
  }
  const std::vector<std::string> files = journal_files(jdir);
  ASSERT_EQ(files.size(), 2u);
  testing::increment_byte(files[0], std::filesystem::file_size(files[0]) - 1);
  const Status s = Journal::replay(FileSystem::posix(), jdir, topics, nullptr);
  EXPECT_EQ(s.code(), Code::kCorruption) << s.to_string();
  EXPECT_NE(s.to_string().find(files[0]), std::string::npos) << s.to_string();
  EXPECT_EQ(journal_files(jdir).size(), 2u);  // kept for someone to look at
}

// A rotation that failed after naming its new file leaves that file with just its header,
// and commits go on in the older one: a cut there is still a crash's, not damage.
TEST(Journal, ReplayAcceptsACutRecordInAFileFollowedOnlyByEmptyOnes) {
  TempDir dir;
  const std::string topics = dir.path() + "/topics";
  const std::string jdir = dir.path() + "/journal";
  const std::string a = make_segment(topics, "t", 0, 0, 0);
  {
    auto j = Journal::open(FileSystem::posix(), jdir, topics, nullptr);
    ASSERT_TRUE(j.ok());
    std::vector<JournalEntry> r1{entry(a, 0, "kept")};
    ASSERT_TRUE((*j)->commit(r1).ok());
    std::vector<JournalEntry> r2{entry(a, 4, std::string(100, 'x'))};
    ASSERT_TRUE((*j)->commit(r2).ok());
  }
  const std::string current = journal_files(jdir).at(0);
  testing::shrink_file(current, std::filesystem::file_size(current) - 10);
  write_all(jdir + "/" + journal_file_name(1), "CWJRNL2\n");
  JournalReplayReport rep;
  const Status s = Journal::replay(FileSystem::posix(), jdir, topics, &rep);
  ASSERT_TRUE(s.ok()) << s.to_string();
  EXPECT_EQ(rep.replayed, 1u);
  EXPECT_EQ(rep.torn.size(), 1u);
  EXPECT_EQ(read_all(a), "kept");
}

// The incarnation file is written atomically and synced, so a damaged one is not a crash's
// doing: replay refuses rather than drop the records it cannot check.
TEST(Journal, ReplayRefusesWhenAPartitionsIncarnationIsDamaged) {
  TempDir dir;
  const std::string topics = dir.path() + "/topics";
  const std::string jdir = dir.path() + "/journal";
  const std::string a = make_segment(topics, "t", 0, 0, 0);
  {
    auto j = Journal::open(FileSystem::posix(), jdir, topics, nullptr);
    ASSERT_TRUE(j.ok());
    std::vector<JournalEntry> r{entry(a, 0, "acked")};
    ASSERT_TRUE((*j)->commit(r).ok());
  }
  testing::increment_byte(topics + "/t/0/incarnation", 0);
  const Status s = Journal::replay(FileSystem::posix(), jdir, topics, nullptr);
  EXPECT_EQ(s.code(), Code::kCorruption) << s.to_string();
  EXPECT_NE(s.to_string().find("incarnation"), std::string::npos) << s.to_string();
}

// A checkpoint whose directory sync failed after its unlinks went through is tried again:
// the files already gone do not stop it from removing the rest.
TEST(Journal, RemovingFilesAlreadyGoneSucceeds) {
  TempDir dir;
  const std::string topics = dir.path() + "/topics";
  const std::string a = make_segment(topics, "t", 0, 0, 0);
  auto j = Journal::open(FileSystem::posix(), dir.path() + "/journal", topics, nullptr);
  ASSERT_TRUE(j.ok());
  std::vector<JournalEntry> r{entry(a, 0, "x")};
  ASSERT_TRUE((*j)->commit(r).ok());
  auto older = (*j)->rotate();
  ASSERT_TRUE(older.ok());
  ASSERT_EQ(older->size(), 1u);
  std::filesystem::remove(older->at(0));
  ASSERT_TRUE((*j)->commit(r).ok());
  auto again = (*j)->rotate();
  ASSERT_TRUE(again.ok());
  ASSERT_EQ(again->size(), 2u);
  EXPECT_TRUE((*j)->remove(*again).ok());
  EXPECT_FALSE((*j)->holds_records());
  EXPECT_EQ(journal_files(dir.path() + "/journal").size(), 1u);
}

TEST(Journal, CommitRefusesASegmentOutsideTheTopics) {
  TempDir dir;
  auto j = Journal::open(FileSystem::posix(), dir.path() + "/journal", dir.path() + "/topics", nullptr);
  ASSERT_TRUE(j.ok());
  std::vector<JournalEntry> r{{dir.path() + "/elsewhere/0/00000000000000000000.log", 1, 0, "x"}};
  EXPECT_EQ((*j)->commit(r).code(), Code::kInvalidArgument);
}

// ---- Shared sync rounds through the journal -------------------------------------------

LogConfig fsync_config() {
  LogConfig c;
  c.durability = Durability::kFsync;
  c.segment_bytes = 64 << 10;
  c.retention_ms = std::chrono::milliseconds(0);
  return c;
}

LogManagerOptions journaled(const std::string& root) {
  LogManagerOptions o;
  o.background = false;
  o.sync_threads = 2;
  o.share_syncs = true;
  o.journal_dir = root + "/journal";
  o.journal_min_logs = 2;  // rounds of a few test partitions journal too
  return o;
}

// One record appended to each of partitions [first, partitions) at once; waits for every
// completion. out[p] for each of them (OK for the others).
std::vector<Status> append_to_each(LogManager& m, const std::string& topic, uint32_t partitions, uint64_t seq,
                                   size_t payload = 64, uint32_t first = 0) {
  std::mutex mu;
  std::condition_variable cv;
  size_t left = partitions - first;
  std::vector<Status> out(partitions);
  for (uint32_t p = first; p < partitions; ++p) {
    testing::SampleRecord owned = sample_record(seq + p, payload);
    std::vector<batch::RecordInput> in{owned.input()};
    m.partition(topic, p)->append_async(in, m.clock(), 0, 1000, [&, p](Result<AppendResult> r) {
      std::lock_guard lk(mu);
      out[p] = r.ok() ? Status() : r.error();
      if (--left == 0) cv.notify_all();
    });
  }
  std::unique_lock lk(mu);
  cv.wait(lk, [&] { return left == 0; });
  return out;
}

// The payloads of a partition's records, in order.
std::vector<std::string> payloads(LogManager& m, const std::string& topic, uint32_t p) {
  std::vector<std::string> out;
  auto r = m.partition(topic, p)->read(0, 1 << 20);
  EXPECT_TRUE(r.ok());
  if (!r.ok()) return out;
  EXPECT_TRUE(for_each_record_from(*r, 0, [&](const batch::RecordView& v) {
                out.emplace_back(v.payload);
                return true;
              }).ok());
  return out;
}

// One append to each of `partitions` of `topic`, with syncs held until every one has
// asked, so that they share a round (which journals); each must succeed.
// Waits until every one of `partitions` has written past `before[p]` (and so asked for
// its sync: both happen under the log's lock).
void wait_written(LogManager& m, const std::string& topic, uint32_t partitions, const std::vector<uint64_t>& before) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  for (uint32_t p = 0; p < partitions; ++p)
    while (m.partition(topic, p)->next_offset() <= before[p] && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

std::vector<uint64_t> next_offsets(LogManager& m, const std::string& topic, uint32_t partitions) {
  std::vector<uint64_t> out;
  for (uint32_t p = 0; p < partitions; ++p) out.push_back(m.partition(topic, p)->next_offset());
  return out;
}

// With syncs held: partition 0's append alone, until the group's thread is inside that
// round's sync (the gate counts it); then the others, which queue behind it for the
// group's next round, all of them (on a loaded machine, sleeps split such rounds).
// `appended` receives the statuses of partitions 1 and up, `first` that of partition 0.
void line_up_rounds(FaultInjectionFs& fs, LogManager& m, const std::string& topic, uint32_t partitions, uint64_t seq,
                    size_t payload, std::thread& first, std::thread& rest, std::vector<Status>& first_out,
                    std::vector<Status>& rest_out) {
  const std::vector<uint64_t> before = next_offsets(m, topic, partitions);
  const uint64_t syncs = fs.sync_count();
  fs.hold_syncs();
  first = std::thread([&, seq, payload] { first_out = append_to_each(m, topic, 1, seq, payload); });
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (fs.sync_count() == syncs && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  rest = std::thread([&, seq, payload] { rest_out = append_to_each(m, topic, partitions, seq, payload, 1); });
  wait_written(m, topic, partitions, before);
  std::this_thread::sleep_for(std::chrono::milliseconds(2));
}

void append_in_one_round(FaultInjectionFs& fs, LogManager& m, const std::string& topic, uint32_t partitions,
                         uint64_t seq) {
  std::thread first;
  std::thread rest;
  std::vector<Status> first_out;
  std::vector<Status> rest_out;
  line_up_rounds(fs, m, topic, partitions, seq, 64, first, rest, first_out, rest_out);
  fs.release_syncs();
  first.join();
  rest.join();
  for (const Status& s : first_out) EXPECT_TRUE(s.ok()) << s.to_string();
  for (const Status& s : rest_out) EXPECT_TRUE(s.ok()) << s.to_string();
}

// Power loss now: what the disk holds (every file back to what its last sync covered),
// copied to `<root>/image` while the manager that wrote it is still running (its orderly
// stop would sync and checkpoint). Returns the image's root.
std::string power_loss_image(FaultInjectionFs& fs, const std::string& root) {
  EXPECT_TRUE(fs.drop_unsynced_data().ok());
  const std::string image = root + "/image";
  std::filesystem::create_directories(image);
  std::filesystem::copy(root + "/topics", image + "/topics", std::filesystem::copy_options::recursive);
  std::filesystem::copy(root + "/journal", image + "/journal", std::filesystem::copy_options::recursive);
  return image;
}

TEST(SyncJournal, SmallAppendsToManyPartitionsAreJournaledAndSurvivePowerLoss) {
  TempDir dir;
  FaultInjectionFs fs;
  constexpr uint32_t kPartitions = 40;
  constexpr int kRounds = 5;
  std::vector<std::vector<std::string>> acked(kPartitions);
  std::string image;
  {
    auto m = LogManager::open(&fs, dir.path() + "/topics", journaled(dir.path()));
    ASSERT_TRUE(m.ok()) << m.error().to_string();
    ASSERT_TRUE((*m)->sync_group()->journals());
    ASSERT_TRUE((*m)->open_topic("t", kPartitions, fsync_config(), nullptr).ok());
    const uint64_t fs_syncs = fs.fs_sync_count();
    for (int rep = 0; rep < kRounds; ++rep) {
      append_in_one_round(fs, **m, "t", kPartitions, rep * kPartitions);
    }
    for (uint32_t p = 0; p < kPartitions; ++p) {
      acked[p] = payloads(**m, "t", p);
      ASSERT_EQ(acked[p].size(), static_cast<size_t>(kRounds));
    }
    // Shared rounds went to the journal: no syncfs, and few file syncs.
    EXPECT_EQ(fs.fs_sync_count(), fs_syncs);
    EXPECT_GE((*m)->sync_group()->journaled_rounds(), static_cast<uint64_t>(kRounds));
    // Power loss before any checkpoint: the segment files lose every append the journal
    // made durable; only the journal has them.
    image = power_loss_image(fs, dir.path());
  }
  JournalReplayReport replayed;
  ASSERT_TRUE(Journal::replay(&fs, image + "/journal", image + "/topics", &replayed).ok());
  EXPECT_GE(replayed.replayed, static_cast<size_t>(kPartitions));
  auto m = LogManager::open(&fs, image + "/topics", journaled(image));
  ASSERT_TRUE(m.ok()) << m.error().to_string();
  ASSERT_TRUE((*m)->open_topic("t", kPartitions, fsync_config(), nullptr).ok());
  for (uint32_t p = 0; p < kPartitions; ++p)
    EXPECT_EQ(payloads(**m, "t", p), acked[p]) << "partition " << p << " lost acknowledged appends";
}

TEST(SyncJournal, CheckpointsSyncTheSegmentsAndRemoveOlderJournalFiles) {
  TempDir dir;
  FaultInjectionFs fs;
  constexpr uint32_t kPartitions = 20;
  LogManagerOptions o = journaled(dir.path());
  o.journal_checkpoint_bytes = 2048;  // a checkpoint every few rounds
  std::vector<std::vector<std::string>> acked(kPartitions);
  std::string image;
  {
    auto m = LogManager::open(&fs, dir.path() + "/topics", o);
    ASSERT_TRUE(m.ok());
    ASSERT_TRUE((*m)->open_topic("t", kPartitions, fsync_config(), nullptr).ok());
    for (int rep = 0; rep < 10; ++rep) {
      for (const Status& s : append_to_each(**m, "t", kPartitions, rep * kPartitions)) ASSERT_TRUE(s.ok());
    }
    // Waits for the checkpoint a round may have started (the power loss below must not
    // land in the middle of one the process then goes on with), and makes one more.
    ASSERT_TRUE((*m)->checkpoint_journal().ok());
    EXPECT_GE((*m)->sync_group()->checkpoints(), 2u);
    EXPECT_EQ(journal_files(dir.path() + "/journal").size(), 1u);
    // A last round too small to start a checkpoint: its records are only in the journal.
    for (const Status& s : append_to_each(**m, "t", 2, 1000)) ASSERT_TRUE(s.ok());
    for (uint32_t p = 0; p < kPartitions; ++p) acked[p] = payloads(**m, "t", p);
    image = power_loss_image(fs, dir.path());
  }
  o.journal_dir = image + "/journal";
  auto m = LogManager::open(&fs, image + "/topics", o);
  ASSERT_TRUE(m.ok()) << m.error().to_string();
  ASSERT_TRUE((*m)->open_topic("t", kPartitions, fsync_config(), nullptr).ok());
  for (uint32_t p = 0; p < kPartitions; ++p) EXPECT_EQ(payloads(**m, "t", p), acked[p]) << "partition " << p;
}

TEST(SyncJournal, AnOrderlyStopLeavesNothingToReplay) {
  TempDir dir;
  FaultInjectionFs fs;
  {
    auto m = LogManager::open(&fs, dir.path() + "/topics", journaled(dir.path()));
    ASSERT_TRUE(m.ok());
    ASSERT_TRUE((*m)->open_topic("t", 10, fsync_config(), nullptr).ok());
    append_in_one_round(fs, **m, "t", 10, 0);
    ASSERT_GE((*m)->sync_group()->journaled_rounds(), 1u);
  }
  JournalReplayReport rep;
  ASSERT_TRUE(Journal::replay(&fs, dir.path() + "/journal", dir.path() + "/topics", &rep).ok());
  EXPECT_EQ(rep.records, 0u);
}

// A record of a deleted topic's partitions, replayed after a crash, would write the old
// topic's bytes over the new topic's at the same paths: the partition directories'
// incarnations tell them apart.
TEST(SyncJournal, ADeletedTopicLeavesNoRecordToReplayIntoATopicOfTheSameName) {
  TempDir dir;
  FaultInjectionFs fs;
  constexpr uint32_t kPartitions = 10;
  std::vector<std::vector<std::string>> acked(kPartitions);
  std::string image;
  {
    auto m = LogManager::open(&fs, dir.path() + "/topics", journaled(dir.path()));
    ASSERT_TRUE(m.ok());
    ASSERT_TRUE((*m)->open_topic("t", kPartitions, fsync_config(), nullptr).ok());
    for (int rep = 0; rep < 3; ++rep)
      for (const Status& s : append_to_each(**m, "t", kPartitions, rep * kPartitions, 200)) ASSERT_TRUE(s.ok());
    ASSERT_TRUE((*m)->delete_topic("t").ok());
    ASSERT_TRUE((*m)->open_topic("t", kPartitions, fsync_config(), nullptr).ok());
    for (const Status& s : append_to_each(**m, "t", kPartitions, 1000, 20)) ASSERT_TRUE(s.ok());
    for (uint32_t p = 0; p < kPartitions; ++p) {
      acked[p] = payloads(**m, "t", p);
      ASSERT_EQ(acked[p].size(), 1u);
    }
    image = power_loss_image(fs, dir.path());
  }
  auto m = LogManager::open(&fs, image + "/topics", journaled(image));
  ASSERT_TRUE(m.ok()) << m.error().to_string();
  std::vector<RecoveryReport> reports;
  ASSERT_TRUE((*m)->open_topic("t", kPartitions, fsync_config(), &reports).ok());
  for (uint32_t p = 0; p < kPartitions; ++p) {
    EXPECT_EQ(payloads(**m, "t", p), acked[p]) << "partition " << p;
    EXPECT_FALSE(reports[p].truncated.has_value()) << "partition " << p << ": " << reports[p].truncated->reason;
  }
}

TEST(SyncJournal, AFailedJournalSyncFailsTheLogsOfItsRoundAndStopsTheJournal) {
  TempDir dir;
  FaultInjectionFs fs;
  auto m = LogManager::open(&fs, dir.path() + "/topics", journaled(dir.path()));
  ASSERT_TRUE(m.ok());
  ASSERT_TRUE((*m)->open_topic("t", 10, fsync_config(), nullptr).ok());
  std::thread first;
  std::thread rest;
  std::vector<Status> first_out;
  std::vector<Status> rest_out;
  line_up_rounds(fs, **m, "t", 10, 0, 64, first, rest, first_out, rest_out);
  fs.set_fail_sync(true);
  fs.release_syncs();
  first.join();
  rest.join();
  EXPECT_FALSE(first_out[0].ok());  // a round of its own: its fdatasync failed
  size_t failed = 0;
  for (uint32_t p = 1; p < 10; ++p) failed += rest_out[p].ok() ? 0 : 1;
  EXPECT_EQ(failed, 9u) << "every log of the journaled round fails";
  EXPECT_GE((*m)->sync_group()->journaled_rounds(), 1u);
  EXPECT_FALSE((*m)->sync_group()->journals());
  fs.set_fail_sync(false);
  // The journal's files stay for the next start; a checkpoint cannot empty a failed journal.
  EXPECT_FALSE((*m)->checkpoint_journal().ok());
}

// syncfs reports a writeback error once per descriptor, so after one failed no later
// checkpoint can prove the journal's records are in their segments: the files stay until
// a restart replays them.
TEST(SyncJournal, AFailedFileSystemSyncKeepsTheJournalUntilRestart) {
  TempDir dir;
  FaultInjectionFs fs;
  {
    auto m = LogManager::open(&fs, dir.path() + "/topics", journaled(dir.path()));
    ASSERT_TRUE(m.ok());
    ASSERT_TRUE((*m)->open_topic("t", 10, fsync_config(), nullptr).ok());
    ASSERT_TRUE((*m)->open_topic("u", 1, fsync_config(), nullptr).ok());
    append_in_one_round(fs, **m, "t", 10, 0);
    ASSERT_GE((*m)->sync_group()->journaled_rounds(), 1u);
    fs.set_fail_fs_sync(true);
    EXPECT_EQ((*m)->checkpoint_journal().code(), Code::kIOError);
    EXPECT_FALSE((*m)->sync_group()->journals());
    fs.set_fail_fs_sync(false);
    // A later syncfs would return 0 without the lost pages on disk.
    const Status again = (*m)->checkpoint_journal();
    EXPECT_EQ(again.code(), Code::kFailedPrecondition) << again.to_string();
    EXPECT_NE(again.to_string().find("restart"), std::string::npos) << again.to_string();
    // And every log syncs its own file from now on.
    EXPECT_FALSE((*m)->sync_group()->shares());
  }
  // The orderly stop did not empty it either: the next start replays.
  JournalReplayReport rep;
  ASSERT_TRUE(Journal::replay(&fs, dir.path() + "/journal", dir.path() + "/topics", &rep).ok());
  EXPECT_GE(rep.replayed, 9u);
}

// The same when the failed syncfs was a shared round's (of `os` logs here): the logs of
// that round learn of it, and the journal, whose records' segments may have lost the same
// writeback, must not be emptied by a later checkpoint.
TEST(SyncJournal, AFailedSharedSyncfsRoundKeepsTheJournalToo) {
  TempDir dir;
  FaultInjectionFs fs;
  auto m = LogManager::open(&fs, dir.path() + "/topics", journaled(dir.path()));
  ASSERT_TRUE(m.ok());
  ASSERT_TRUE((*m)->open_topic("t", 10, fsync_config(), nullptr).ok());
  LogConfig os = fsync_config();
  os.durability = Durability::kOs;
  ASSERT_TRUE((*m)->open_topic("o", 10, os, nullptr).ok());
  append_in_one_round(fs, **m, "t", 10, 0);
  ASSERT_GE((*m)->sync_group()->journaled_rounds(), 1u);
  for (const Status& s : append_to_each(**m, "o", 10, 100)) ASSERT_TRUE(s.ok());
  // The os logs' background sync: one log's round is held until the rest have asked, so
  // they share the next round, a syncfs, which fails.
  fs.hold_syncs();
  const uint64_t fs_syncs = fs.fs_sync_count();
  std::thread maintenance([&] { EXPECT_FALSE((*m)->run_maintenance(1000, false).ok()); });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  fs.set_fail_fs_sync(true);
  fs.release_syncs();
  maintenance.join();
  ASSERT_GT(fs.fs_sync_count(), fs_syncs);
  fs.set_fail_fs_sync(false);
  EXPECT_FALSE((*m)->sync_group()->journals());
  const Status cp = (*m)->checkpoint_journal();
  EXPECT_EQ(cp.code(), Code::kFailedPrecondition) << cp.to_string();
}

// A checkpoint that cannot start a new journal file (no descriptor left) loses nothing:
// the journal goes on in its current file, and the next checkpoint succeeds.
TEST(SyncJournal, ACheckpointWithoutADescriptorLeftIsRetriedAndTheJournalGoesOn) {
  TempDir dir;
  FaultInjectionFs fs;
  auto m = LogManager::open(&fs, dir.path() + "/topics", journaled(dir.path()));
  ASSERT_TRUE(m.ok());
  ASSERT_TRUE((*m)->open_topic("t", 40, fsync_config(), nullptr).ok());
  append_in_one_round(fs, **m, "t", 40, 0);
  ASSERT_GE((*m)->sync_group()->journaled_rounds(), 1u);
  fs.set_open_budget(0);
  EXPECT_FALSE((*m)->checkpoint_journal().ok());
  EXPECT_TRUE((*m)->sync_group()->journals());
  EXPECT_EQ((*m)->sync_group()->checkpoints(), 0u);
  fs.set_open_budget(-1);
  for (const Status& s : append_to_each(**m, "t", 40, 100)) EXPECT_TRUE(s.ok());
  EXPECT_TRUE((*m)->checkpoint_journal().ok());
  EXPECT_EQ((*m)->sync_group()->checkpoints(), 1u);
}

TEST(SyncJournal, RecordsAreCheckpointedWhenDueEvenWithoutAnotherAppend) {
  TempDir dir;
  FaultInjectionFs fs;
  LogManagerOptions o = journaled(dir.path());
  o.journal_checkpoint_interval = std::chrono::milliseconds(50);
  auto m = LogManager::open(&fs, dir.path() + "/topics", o);
  ASSERT_TRUE(m.ok());
  ASSERT_TRUE((*m)->open_topic("t", 10, fsync_config(), nullptr).ok());
  append_in_one_round(fs, **m, "t", 10, 0);
  ASSERT_GE((*m)->sync_group()->journaled_rounds(), 1u);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while ((*m)->sync_group()->checkpoints() == 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_GE((*m)->sync_group()->checkpoints(), 1u);
}

// A checkpoint's syncfs writes back every segment's dirty pages (20-100 ms at 1,000
// partitions): it runs on a thread of its own, and journaled rounds go on meanwhile.
TEST(SyncJournal, RoundsGoOnWhileACheckpointSyncsTheFileSystem) {
  TempDir dir;
  FaultInjectionFs fs;
  constexpr uint32_t kPartitions = 16;
  auto m = LogManager::open(&fs, dir.path() + "/topics", journaled(dir.path()));
  ASSERT_TRUE(m.ok());
  ASSERT_TRUE((*m)->open_topic("t", kPartitions, fsync_config(), nullptr).ok());
  append_in_one_round(fs, **m, "t", kPartitions, 0);
  ASSERT_GE((*m)->sync_group()->journaled_rounds(), 1u);
  fs.hold_fs_syncs();
  const uint64_t fs_syncs = fs.fs_sync_count();
  std::thread checkpoint([&] { EXPECT_TRUE((*m)->checkpoint_journal().ok()); });
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (fs.fs_sync_count() == fs_syncs && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  ASSERT_GT(fs.fs_sync_count(), fs_syncs) << "the checkpoint's syncfs never started";
  // Its syncfs is held; rounds of appends still complete.
  std::atomic<bool> appended{false};
  std::thread appends([&] {
    for (int rep = 1; rep <= 3; ++rep)
      for (const Status& s : append_to_each(**m, "t", kPartitions, rep * kPartitions)) EXPECT_TRUE(s.ok());
    appended = true;
  });
  while (!appended && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  EXPECT_TRUE(appended.load()) << "rounds waited for the checkpoint";
  fs.release_fs_syncs();
  appends.join();
  checkpoint.join();
  EXPECT_EQ((*m)->sync_group()->checkpoints(), 1u);
  for (uint32_t p = 0; p < kPartitions; ++p) EXPECT_EQ(payloads(**m, "t", p).size(), 4u);
}

// The topics directory as a process killed now would leave it (what the files hold, the
// page cache included, without the journal), copied to `<root>/<name>`: what the
// segment files alone hold. Returns the copy's root.
std::string segments_only_image(const std::string& root, const std::string& name) {
  const std::string image = root + "/" + name;
  std::filesystem::create_directories(image);
  std::filesystem::copy(root + "/topics", image + "/topics", std::filesystem::copy_options::recursive);
  return image;
}

// Payloads per partition of `topic` in a manager opened on `root` without a journal.
std::vector<std::vector<std::string>> open_and_read(FaultInjectionFs& fs, const std::string& root,
                                                    const std::string& topic, uint32_t partitions,
                                                    LogManagerOptions o) {
  std::vector<std::vector<std::string>> out(partitions);
  auto m = LogManager::open(&fs, root + "/topics", o);
  EXPECT_TRUE(m.ok()) << m.error().to_string();
  if (!m.ok()) return out;
  EXPECT_TRUE((*m)->open_topic(topic, partitions, fsync_config(), nullptr).ok());
  for (uint32_t p = 0; p < partitions; ++p) out[p] = payloads(**m, topic, p);
  return out;
}

// docs/log-format.md, "Write-behind": after a journaled round a log keeps its next appends
// in memory (readers see them), and the checkpoint writes them to the segment files.
TEST(SyncJournal, WriteBehindKeepsJournaledAppendsOutOfTheSegmentsUntilACheckpointWritesThem) {
  TempDir dir;
  FaultInjectionFs fs;
  constexpr uint32_t kPartitions = 20;
  LogManagerOptions plain;
  plain.background = false;
  std::string before;
  std::string after;
  {
    auto m = LogManager::open(&fs, dir.path() + "/topics", journaled(dir.path()));
    ASSERT_TRUE(m.ok());
    ASSERT_TRUE((*m)->open_topic("t", kPartitions, fsync_config(), nullptr).ok());
    for (int rep = 0; rep < 4; ++rep) append_in_one_round(fs, **m, "t", kPartitions, rep * kPartitions);
    ASSERT_GE((*m)->sync_group()->journaled_rounds(), 4u);
    for (uint32_t p = 0; p < kPartitions; ++p) EXPECT_EQ(payloads(**m, "t", p).size(), 4u) << "read from memory";
    before = segments_only_image(dir.path(), "before");
    ASSERT_TRUE((*m)->checkpoint_journal().ok());
    // Power loss now, without the journal: the checkpoint's writes must have been synced.
    after = power_loss_image(fs, dir.path());
    std::filesystem::remove_all(after + "/journal");
  }
  // Before the checkpoint the files held only the append made before any round had been
  // journaled (but for a log or two whose rounds were their own, alone in the group each
  // time: those write); after it, all four.
  size_t deferred = 0;
  for (const auto& p : open_and_read(fs, before, "t", kPartitions, plain)) deferred += p.size() == 1;
  EXPECT_GE(deferred, kPartitions - 2);
  for (const auto& p : open_and_read(fs, after, "t", kPartitions, plain)) EXPECT_EQ(p.size(), 4u);
}

// kill -9 while appends are deferred: the segment files lack them, the journal has them,
// and the next open's replay puts them back.
TEST(SyncJournal, AKilledProcessKeepsEveryAppendTheJournalAckedWhileItsWritesWereDeferred) {
  TempDir dir;
  FaultInjectionFs fs;
  constexpr uint32_t kPartitions = 30;
  std::vector<std::vector<std::string>> acked(kPartitions);
  std::string image;
  {
    LogManagerOptions o = journaled(dir.path());
    o.journal_checkpoint_interval = std::chrono::hours(1);  // none between the two copies below
    auto m = LogManager::open(&fs, dir.path() + "/topics", o);
    ASSERT_TRUE(m.ok());
    ASSERT_TRUE((*m)->open_topic("t", kPartitions, fsync_config(), nullptr).ok());
    for (int rep = 0; rep < 6; ++rep) append_in_one_round(fs, **m, "t", kPartitions, rep * kPartitions);
    for (uint32_t p = 0; p < kPartitions; ++p) acked[p] = payloads(**m, "t", p);
    image = segments_only_image(dir.path(), "killed");
    std::filesystem::copy(dir.path() + "/journal", image + "/journal", std::filesystem::copy_options::recursive);
  }
  const auto replayed = open_and_read(fs, image, "t", kPartitions, journaled(image));
  for (uint32_t p = 0; p < kPartitions; ++p) {
    ASSERT_EQ(acked[p].size(), 6u);
    EXPECT_EQ(replayed[p], acked[p]) << "partition " << p;
  }
}

// A checkpoint whose write-behind fails (the disk full, say) must not delete the journal:
// its records are the only durable copy of what it could not write.
TEST(SyncJournal, AFailedWriteBehindKeepsTheJournalForTheNextStartToReplay) {
  TempDir dir;
  FaultInjectionFs fs;
  constexpr uint32_t kPartitions = 12;
  std::vector<std::vector<std::string>> acked(kPartitions);
  std::string image;
  {
    auto m = LogManager::open(&fs, dir.path() + "/topics", journaled(dir.path()));
    ASSERT_TRUE(m.ok());
    ASSERT_TRUE((*m)->open_topic("t", kPartitions, fsync_config(), nullptr).ok());
    for (int rep = 0; rep < 3; ++rep) append_in_one_round(fs, **m, "t", kPartitions, rep * kPartitions);
    for (uint32_t p = 0; p < kPartitions; ++p) acked[p] = payloads(**m, "t", p);
    fs.set_write_budget(8);  // the new journal file's header, then nothing
    const Status failed = (*m)->checkpoint_journal();
    fs.clear_write_budget();
    EXPECT_EQ(failed.code(), Code::kResourceExhausted) << failed.to_string();  // ENOSPC
    EXPECT_NE(failed.to_string().find("write-behind"), std::string::npos) << failed.to_string();
    EXPECT_FALSE((*m)->sync_group()->journals());
    // What the failed write left in the files is not what the journal vouches for: it is
    // the power loss now, and the journal's records put it right.
    image = power_loss_image(fs, dir.path());
  }
  const auto replayed = open_and_read(fs, image, "t", kPartitions, journaled(image));
  for (uint32_t p = 0; p < kPartitions; ++p) EXPECT_EQ(replayed[p], acked[p]) << "partition " << p;
}

// A shared round that syncs the file system instead of journaling (its logs' new bytes are
// too many) must first write what those logs deferred: its syncfs is all that covers them.
TEST(SyncJournal, ASyncfsRoundWritesWhatItsLogsDeferredBeforeSyncing) {
  TempDir dir;
  FaultInjectionFs fs;
  constexpr uint32_t kPartitions = 8;
  LogManagerOptions o = journaled(dir.path());
  o.journal_checkpoint_interval = std::chrono::hours(1);
  std::vector<std::vector<std::string>> acked(kPartitions);
  std::string image;
  {
    auto m = LogManager::open(&fs, dir.path() + "/topics", o);
    ASSERT_TRUE(m.ok());
    ASSERT_TRUE((*m)->open_topic("t", kPartitions, fsync_config(), nullptr).ok());
    for (int rep = 0; rep < 3; ++rep) append_in_one_round(fs, **m, "t", kPartitions, rep * kPartitions);
    const uint64_t fs_syncs = fs.fs_sync_count();
    // 40 KiB each, past the 32 KiB a round journals: one syncfs for the round.
    std::thread first;
    std::thread rest;
    std::vector<Status> first_out;
    std::vector<Status> rest_out;
    line_up_rounds(fs, **m, "t", kPartitions, 1000, 40 << 10, first, rest, first_out, rest_out);
    fs.release_syncs();
    first.join();
    rest.join();
    for (const Status& s : first_out) EXPECT_TRUE(s.ok()) << s.to_string();
    for (const Status& s : rest_out) EXPECT_TRUE(s.ok()) << s.to_string();
    ASSERT_GT(fs.fs_sync_count(), fs_syncs);
    for (uint32_t p = 0; p < kPartitions; ++p) acked[p] = payloads(**m, "t", p);
    image = power_loss_image(fs, dir.path());
    std::filesystem::remove_all(image + "/journal");
  }
  LogManagerOptions plain;
  plain.background = false;
  const auto kept = open_and_read(fs, image, "t", kPartitions, plain);
  size_t whole = 0;
  for (uint32_t p = 0; p < kPartitions; ++p) {
    ASSERT_EQ(acked[p].size(), 4u);
    whole += kept[p] == acked[p];
  }
  // Every log whose last round was that syncfs holds all four in its file (one log may
  // have had a round of its own, an fdatasync of its file, which writes first too).
  EXPECT_EQ(whole, kPartitions);
}

}  // namespace
}  // namespace causeway::storage
