// Tests of DedupIndex: lookups within and past the window, checkpoints, truncation,
// expiry, long keys, crash and corruption handling, and a model-based property test. The
// contract is meta/dedup_index.h and docs/meta-store.md.
#include "meta/dedup_index.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <tuple>
#include <vector>

#include "causeway/common/coding.h"
#include "causeway/schemas/meta_generated.h"
#include "meta/lmdb_env.h"
#include "meta_test_util.h"

namespace causeway::meta {

// Found by ADL from GoogleTest's failure messages.
void PrintTo(const DedupEntry& e, std::ostream* os) {
  *os << "{partition " << e.partition << ", offset " << e.offset << ", lamport " << e.lamport << ", time_ms "
      << e.time_ms << "}";
}

namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;
using testing::StatusIs;
using testing::TempDir;

constexpr uint32_t kTopic = 7;

class DedupIndexTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_NO_FATAL_FAILURE(reopen()); }

  void reopen(const DedupIndexOptions& options = {}) {
    index_.reset();
    auto opened = DedupIndex::open(path(), options);
    ASSERT_TRUE(opened.ok()) << opened.status().to_string();
    index_ = std::move(*opened);
  }
  std::string path() const { return dir_.sub("dedup"); }

  Status insert_one(uint32_t partition, std::string_view key, uint64_t offset, uint64_t lamport, int64_t time_ms,
                    uint32_t topic_id = kTopic) {
    const DedupInsert e{key, offset, lamport, time_ms};
    return index_->insert(topic_id, partition, std::span(&e, 1), offset + 1);
  }
  std::optional<DedupEntry> lookup(std::string_view key, int64_t not_before_ms = 0, uint32_t topic_id = kTopic) {
    auto r = index_->lookup(topic_id, key, not_before_ms);
    EXPECT_TRUE(r.ok()) << r.status().to_string();
    return r.ok() ? *r : std::nullopt;
  }

  TempDir dir_;
  std::unique_ptr<DedupIndex> index_;
};

TEST_F(DedupIndexTest, DuplicateKeyWithinWindowReturnsOriginalEntry) {
  const DedupInsert batch[] = {{"order-1", 10, 100, 5000}, {"order-2", 11, 101, 5001}};
  CAUSEWAY_ASSERT_OK(index_->insert(kTopic, 3, batch, 12));
  EXPECT_EQ(lookup("order-1", 4000), (DedupEntry{3, 10, 100, 5000}));
  EXPECT_EQ(lookup("order-2", 5001), (DedupEntry{3, 11, 101, 5001}));
}

TEST_F(DedupIndexTest, ExpiredEntryIsReportedAbsent) {
  CAUSEWAY_ASSERT_OK(insert_one(0, "k", 0, 1, 5000));
  EXPECT_EQ(lookup("k", 5001), std::nullopt);
  EXPECT_TRUE(lookup("k", 5000).has_value());  // exactly at the window edge: still a duplicate
}

TEST_F(DedupIndexTest, KeysAreScopedToTheirTopic) {
  CAUSEWAY_ASSERT_OK(insert_one(0, "k", 0, 1, 5000, /*topic_id=*/1));
  EXPECT_EQ(lookup("k", 0, /*topic_id=*/2), std::nullopt);
  EXPECT_EQ(lookup("unknown"), std::nullopt);
  EXPECT_TRUE(lookup("k", 0, 1).has_value());
}

TEST_F(DedupIndexTest, InsertMovesTheCheckpointForwardButNeverBack) {
  auto initial = index_->checkpoint(kTopic, 0);
  CAUSEWAY_ASSERT_OK(initial);
  EXPECT_EQ(*initial, 0u);
  CAUSEWAY_ASSERT_OK(index_->insert(kTopic, 0, {}, 50));
  CAUSEWAY_ASSERT_OK(insert_one(0, "a", 10, 1, 1));  // replay: checkpoint 11 < 50
  auto cp = index_->checkpoint(kTopic, 0);
  CAUSEWAY_ASSERT_OK(cp);
  EXPECT_EQ(*cp, 50u);
  auto other = index_->checkpoint(kTopic, 1);
  CAUSEWAY_ASSERT_OK(other);
  EXPECT_EQ(*other, 0u);
}

TEST_F(DedupIndexTest, EntryAtOrAboveTheCheckpointIsRejected) {
  const DedupInsert e{"k", 10, 1, 1};
  EXPECT_THAT(index_->insert(kTopic, 0, std::span(&e, 1), 10),
              StatusIs(Code::kInvalidArgument, HasSubstr("offset 10 is not below checkpoint 10")));
  EXPECT_EQ(lookup("k"), std::nullopt);
}

TEST_F(DedupIndexTest, EmptyAndOversizedKeysAreRejected) {
  EXPECT_THAT(insert_one(0, "", 0, 1, 1), StatusIs(Code::kInvalidArgument, HasSubstr("empty")));
  const std::string huge(DedupIndex::kMaxKeyBytes + 1, 'x');
  EXPECT_THAT(insert_one(0, huge, 0, 1, 1), StatusIs(Code::kInvalidArgument, HasSubstr("65536 exceeds 65535")));
  EXPECT_THAT(index_->lookup(kTopic, huge, 0), StatusIs(Code::kInvalidArgument, ::testing::_));
  EXPECT_THAT(index_->lookup(kTopic, "", 0), StatusIs(Code::kInvalidArgument, ::testing::_));
}

TEST_F(DedupIndexTest, NewerEntryForTheSameKeyReplacesTheOlderOne) {
  CAUSEWAY_ASSERT_OK(insert_one(0, "k", 5, 10, 1000));
  CAUSEWAY_ASSERT_OK(insert_one(1, "k", 9, 20, 2000));  // published again after the window
  EXPECT_EQ(lookup("k"), (DedupEntry{1, 9, 20, 2000}));
  auto p0 = index_->entries_for_partition(kTopic, 0);
  CAUSEWAY_ASSERT_OK(p0);
  EXPECT_TRUE(p0->empty());
  CAUSEWAY_ASSERT_OK(index_->check_consistency());
}

TEST_F(DedupIndexTest, ReplayOfAnOlderRecordDoesNotOverwriteANewerEntry) {
  CAUSEWAY_ASSERT_OK(insert_one(0, "k", 9, 20, 2000));
  CAUSEWAY_ASSERT_OK(insert_one(0, "k", 5, 10, 1000));
  EXPECT_EQ(lookup("k"), (DedupEntry{0, 9, 20, 2000}));
  CAUSEWAY_ASSERT_OK(index_->check_consistency());
}

TEST_F(DedupIndexTest, TruncatePartitionDropsKeysAtOrAboveOffset) {
  std::vector<std::string> keys;
  std::vector<DedupInsert> batch;
  for (uint64_t o = 0; o < 10; ++o) keys.push_back("key-" + std::to_string(o));
  for (uint64_t o = 0; o < 10; ++o) batch.push_back({keys[o], o, 100 + o, static_cast<int64_t>(1000 + o)});
  CAUSEWAY_ASSERT_OK(index_->insert(kTopic, 0, batch, 10));
  CAUSEWAY_ASSERT_OK(index_->insert(kTopic, 1, std::span(batch).subspan(0, 1), 10));  // "key-0" moves to p1
  CAUSEWAY_ASSERT_OK(insert_one(0, "other-topic", 8, 1, 1, /*topic_id=*/kTopic + 1));

  auto removed = index_->truncate_partition(kTopic, 0, 6);
  CAUSEWAY_ASSERT_OK(removed);
  EXPECT_EQ(*removed, 4u);
  for (uint64_t o = 1; o < 10; ++o) EXPECT_EQ(lookup(keys[o]).has_value(), o < 6) << keys[o];
  EXPECT_EQ(lookup("key-0"), (DedupEntry{1, 0, 100, 1000}));
  EXPECT_TRUE(lookup("other-topic", 0, kTopic + 1).has_value());
  auto cp = index_->checkpoint(kTopic, 0);
  CAUSEWAY_ASSERT_OK(cp);
  EXPECT_EQ(*cp, 6u);
  auto cp1 = index_->checkpoint(kTopic, 1);
  CAUSEWAY_ASSERT_OK(cp1);
  EXPECT_EQ(*cp1, 10u);

  auto above_checkpoint = index_->truncate_partition(kTopic, 0, 8);  // nothing there; checkpoint stays 6
  CAUSEWAY_ASSERT_OK(above_checkpoint);
  EXPECT_EQ(*above_checkpoint, 0u);
  cp = index_->checkpoint(kTopic, 0);
  CAUSEWAY_ASSERT_OK(cp);
  EXPECT_EQ(*cp, 6u);
  CAUSEWAY_ASSERT_OK(index_->check_consistency());
}

TEST_F(DedupIndexTest, ExpireDeletesOldestFirstInBoundedBatches) {
  std::vector<std::string> keys;
  for (int i = 0; i < 10; ++i) keys.push_back("k" + std::to_string(i));
  std::vector<DedupInsert> batch;
  // Times out of offset order, and negative ones, which must sort before positive ones.
  const int64_t times[] = {50, -20, 10, 40, -1000, 0, 30, 60, 20, 70};
  for (size_t i = 0; i < keys.size(); ++i) batch.push_back({keys[i], i, i + 1, times[i]});
  CAUSEWAY_ASSERT_OK(index_->insert(kTopic, 0, batch, keys.size()));
  CAUSEWAY_ASSERT_OK(insert_one(0, "other", 0, 1, -5000, kTopic + 1));

  auto first = index_->expire(kTopic, 35, 3);
  CAUSEWAY_ASSERT_OK(first);
  EXPECT_EQ(*first, 3u);  // -1000, -20, 0
  EXPECT_EQ(lookup("k4"), std::nullopt);
  EXPECT_EQ(lookup("k1"), std::nullopt);
  EXPECT_EQ(lookup("k5"), std::nullopt);
  EXPECT_TRUE(lookup("k2").has_value());
  auto second = index_->expire(kTopic, 35, 100);
  CAUSEWAY_ASSERT_OK(second);
  EXPECT_EQ(*second, 3u);  // 10, 20, 30
  auto third = index_->expire(kTopic, 35, 100);
  CAUSEWAY_ASSERT_OK(third);
  EXPECT_EQ(*third, 0u);
  for (const char* k : {"k0", "k3", "k7", "k9"}) EXPECT_TRUE(lookup(k).has_value()) << k;
  EXPECT_TRUE(lookup("other", std::numeric_limits<int64_t>::min(), kTopic + 1).has_value());
  auto none = index_->expire(kTopic, 1000, 0);
  CAUSEWAY_ASSERT_OK(none);
  EXPECT_EQ(*none, 0u);
  CAUSEWAY_ASSERT_OK(index_->check_consistency());
}

TEST_F(DedupIndexTest, LongKeysAreStoredByDigestAndComparedWhole) {
  const std::string at_limit(DedupIndex::kMaxInlineKeyBytes, 'a');
  const std::string just_over(DedupIndex::kMaxInlineKeyBytes + 1, 'a');
  std::string k2000(2000, 'x');
  std::string k2000b = k2000;
  k2000b.back() = 'y';  // same prefix, different key
  std::string k65535(DedupIndex::kMaxKeyBytes, '\0');
  for (size_t i = 0; i < k65535.size(); ++i) k65535[i] = static_cast<char>(i * 131 % 251);
  const DedupInsert batch[] = {
      {at_limit, 0, 1, 100}, {just_over, 1, 2, 100}, {k2000, 2, 3, 100}, {k65535, 3, 4, 100}};
  CAUSEWAY_ASSERT_OK(index_->insert(kTopic, 0, batch, 4));

  EXPECT_EQ(lookup(at_limit), (DedupEntry{0, 0, 1, 100}));
  EXPECT_EQ(lookup(just_over), (DedupEntry{0, 1, 2, 100}));
  EXPECT_EQ(lookup(k2000), (DedupEntry{0, 2, 3, 100}));
  EXPECT_EQ(lookup(k65535), (DedupEntry{0, 3, 4, 100}));
  EXPECT_EQ(lookup(k2000b), std::nullopt);
  EXPECT_EQ(lookup(std::string(DedupIndex::kMaxInlineKeyBytes + 2, 'a')), std::nullopt);

  auto entries = index_->entries_for_partition(kTopic, 0);
  CAUSEWAY_ASSERT_OK(entries);
  ASSERT_EQ(entries->size(), 4u);
  EXPECT_EQ((*entries)[0].first, at_limit);
  EXPECT_EQ((*entries)[1].first, just_over);
  EXPECT_EQ((*entries)[2].first, k2000);
  EXPECT_EQ((*entries)[3].first, k65535);

  ASSERT_NO_FATAL_FAILURE(reopen());
  EXPECT_EQ(lookup(k65535), (DedupEntry{0, 3, 4, 100}));
  auto removed = index_->truncate_partition(kTopic, 0, 2);
  CAUSEWAY_ASSERT_OK(removed);
  EXPECT_EQ(*removed, 2u);
  EXPECT_EQ(lookup(k65535), std::nullopt);
  CAUSEWAY_ASSERT_OK(index_->check_consistency());
}

TEST_F(DedupIndexTest, DropTopicRemovesEverythingOfThatTopicOnly) {
  CAUSEWAY_ASSERT_OK(insert_one(0, "a", 0, 1, 1, 1));
  CAUSEWAY_ASSERT_OK(insert_one(1, "b", 0, 2, 1, 2));
  CAUSEWAY_ASSERT_OK(insert_one(2, std::string(1000, 'c'), 0, 3, 1, 2));
  CAUSEWAY_ASSERT_OK(insert_one(0, "d", 0, 4, 1, 3));
  auto ids = index_->topic_ids();
  CAUSEWAY_ASSERT_OK(ids);
  EXPECT_THAT(*ids, ElementsAre(1u, 2u, 3u));

  CAUSEWAY_ASSERT_OK(index_->drop_topic(2));
  EXPECT_EQ(lookup("b", 0, 2), std::nullopt);
  EXPECT_EQ(lookup(std::string(1000, 'c'), 0, 2), std::nullopt);
  auto cp = index_->checkpoint(2, 1);
  CAUSEWAY_ASSERT_OK(cp);
  EXPECT_EQ(*cp, 0u);
  EXPECT_TRUE(lookup("a", 0, 1).has_value());
  EXPECT_TRUE(lookup("d", 0, 3).has_value());
  ids = index_->topic_ids();
  CAUSEWAY_ASSERT_OK(ids);
  EXPECT_THAT(*ids, ElementsAre(1u, 3u));
  CAUSEWAY_ASSERT_OK(index_->drop_topic(2));  // idempotent
  CAUSEWAY_ASSERT_OK(index_->check_consistency());
}

TEST_F(DedupIndexTest, EntriesSurviveACleanReopen) {
  CAUSEWAY_ASSERT_OK(insert_one(4, "k", 41, 9, 77));
  ASSERT_NO_FATAL_FAILURE(reopen());
  EXPECT_EQ(lookup("k"), (DedupEntry{4, 41, 9, 77}));
  auto cp = index_->checkpoint(kTopic, 4);
  CAUSEWAY_ASSERT_OK(cp);
  EXPECT_EQ(*cp, 42u);
}

TEST_F(DedupIndexTest, CorruptValueIsReportedNotCrashed) {
  CAUSEWAY_ASSERT_OK(insert_one(0, "k", 0, 1, 1));
  CAUSEWAY_ASSERT_OK(insert_one(0, "fine", 1, 2, 1));
  index_.reset();
  std::string ek;
  coding::put_big_endian32(ek, kTopic);
  ek.push_back('\0');
  ek += "k";
  CAUSEWAY_ASSERT_OK(testing::poke_raw(path(), "dedup", ek, std::string("\xff\xff\xff\x7f junk", 9)));
  ASSERT_NO_FATAL_FAILURE(reopen());
  EXPECT_THAT(index_->lookup(kTopic, "k", 0), StatusIs(Code::kCorruption, HasSubstr("dedup[topic 7, key \"k\"]")));
  EXPECT_THAT(insert_one(0, "k", 2, 3, 1), StatusIs(Code::kCorruption, HasSubstr("key \"k\"")));
  EXPECT_THAT(index_->entries_for_partition(kTopic, 0), StatusIs(Code::kCorruption, ::testing::_));
  EXPECT_TRUE(lookup("fine").has_value());
}

TEST_F(DedupIndexTest, DigestEntryHoldingAnotherKeyIsCorruption) {
  const std::string long_key(500, 'L');
  CAUSEWAY_ASSERT_OK(insert_one(0, long_key, 0, 1, 1));
  index_.reset();
  // Rewrite the entry so the stored key no longer hashes to the digest in the LMDB key.
  auto env = lmdb::Env::open(path(), lmdb::EnvOptions{});
  CAUSEWAY_ASSERT_OK(env);
  CAUSEWAY_ASSERT_OK((*env)->write([&](lmdb::Txn& txn) -> Status {
    CAUSEWAY_ASSIGN_OR_RETURN(lmdb::Dbi dbi, txn.open_dbi("dedup", 0));
    CAUSEWAY_ASSIGN_OR_RETURN(lmdb::Cursor cursor, lmdb::Cursor::open(txn, dbi));
    std::string_view k, v;
    CAUSEWAY_ASSIGN_OR_RETURN(bool found, cursor.first(k, v));
    if (!found) return not_found("no entry");
    const std::string key(k);
    flatbuffers::FlatBufferBuilder fbb;
    const std::string other(500, 'M');
    fbb.Finish(schemas::CreateDedupRecord(fbb, 0, 0, 1, 1,
                                          fbb.CreateVector(reinterpret_cast<const uint8_t*>(other.data()), other.size())));
    return txn.put(dbi, key, lmdb::builder_bytes(fbb));
  }));
  env->reset();
  ASSERT_NO_FATAL_FAILURE(reopen());
  EXPECT_THAT(index_->lookup(kTopic, long_key, 0), StatusIs(Code::kCorruption, HasSubstr("digest")));
}

TEST_F(DedupIndexTest, ReopensAfterUncleanClose) {
  index_.reset();
  const std::string died = testing::run_in_child_then_sigkill([&] {
    auto index = DedupIndex::open(path());
    if (!index) return false;
    for (uint64_t batch = 0; batch < 20; ++batch) {
      std::vector<std::string> keys;
      std::vector<DedupInsert> entries;
      for (uint64_t i = 0; i < 10; ++i) keys.push_back("key-" + std::to_string(batch * 10 + i));
      for (uint64_t i = 0; i < 10; ++i) {
        const uint64_t offset = batch * 10 + i;
        entries.push_back({keys[i], offset, offset + 1, static_cast<int64_t>(offset)});
      }
      if (!(*index)->insert(kTopic, 0, entries, (batch + 1) * 10).ok()) return false;
    }
    return true;  // killed with the index open and never synced
  });
  ASSERT_EQ(died, "");

  ASSERT_NO_FATAL_FAILURE(reopen());  // same boot: a process crash keeps every commit
  for (uint64_t offset = 0; offset < 200; ++offset) {
    EXPECT_EQ(lookup("key-" + std::to_string(offset)), (DedupEntry{0, offset, offset + 1, static_cast<int64_t>(offset)}));
  }
  auto cp = index_->checkpoint(kTopic, 0);
  CAUSEWAY_ASSERT_OK(cp);
  EXPECT_EQ(*cp, 200u);
  CAUSEWAY_ASSERT_OK(index_->check_consistency());
}

TEST_F(DedupIndexTest, IndexOpenWhenTheOsStoppedIsReportedCorruptAndIsRebuilt) {
  CAUSEWAY_ASSERT_OK(insert_one(0, "k", 0, 1, 1));
  index_.reset();
  // What a power loss leaves: the marker of an open index, written in an earlier boot.
  testing::write_all(path() + "/OPEN", "00000000-0000-0000-0000-000000000000\n");
  EXPECT_THAT(DedupIndex::open(path()), StatusIs(Code::kCorruption, HasSubstr("was open when the OS stopped")));
  CAUSEWAY_ASSERT_OK(DedupIndex::destroy(path()));
  ASSERT_NO_FATAL_FAILURE(reopen());
  EXPECT_EQ(lookup("k"), std::nullopt);
  auto cp = index_->checkpoint(kTopic, 0);
  CAUSEWAY_ASSERT_OK(cp);
  EXPECT_EQ(*cp, 0u);  // the caller re-inserts from the start of the log
}

TEST_F(DedupIndexTest, CorruptEnvironmentIsReportedAndDestroyLetsItBeRebuilt) {
  CAUSEWAY_ASSERT_OK(insert_one(0, "k", 0, 1, 1));
  index_.reset();
  std::string bytes = testing::read_all(path() + "/data.mdb");
  ASSERT_GE(bytes.size(), 8192u);
  std::fill(bytes.begin(), bytes.begin() + 8192, '\x5a');
  testing::write_all(path() + "/data.mdb", bytes);
  EXPECT_THAT(DedupIndex::open(path()), StatusIs(Code::kCorruption, ::testing::_));
  CAUSEWAY_ASSERT_OK(DedupIndex::destroy(path()));
  ASSERT_NO_FATAL_FAILURE(reopen());
  CAUSEWAY_ASSERT_OK(insert_one(0, "k", 0, 1, 1));
  EXPECT_TRUE(lookup("k").has_value());
}

TEST_F(DedupIndexTest, DestroyIsRefusedWhileOpen) {
  EXPECT_THAT(DedupIndex::destroy(path()), StatusIs(Code::kFailedPrecondition, HasSubstr("is open")));
  CAUSEWAY_ASSERT_OK(DedupIndex::destroy(dir_.sub("never-created")));
}

TEST_F(DedupIndexTest, GrowsTheMapForManyLongKeys) {
  DedupIndexOptions options;
  options.initial_map_bytes = 64 << 10;
  options.max_map_bytes = 256 << 20;
  ASSERT_NO_FATAL_FAILURE(reopen(options));
  std::vector<std::string> keys;
  for (int i = 0; i < 500; ++i) keys.push_back(std::string(2000, static_cast<char>('a' + i % 26)) + std::to_string(i));
  for (uint64_t i = 0; i < keys.size(); ++i) CAUSEWAY_ASSERT_OK(insert_one(0, keys[i], i, i + 1, 1));
  for (uint64_t i = 0; i < keys.size(); ++i) EXPECT_EQ(lookup(keys[i]), (DedupEntry{0, i, i + 1, 1}));
  CAUSEWAY_ASSERT_OK(index_->sync());
}

TEST_F(DedupIndexTest, ReportsResourceExhaustedWhenTheMapCannotGrow) {
  DedupIndexOptions options;
  options.initial_map_bytes = 128 << 10;
  options.max_map_bytes = 128 << 10;
  ASSERT_NO_FATAL_FAILURE(reopen(options));
  Status last;
  uint64_t i = 0;
  for (; i < 10000 && last.ok(); ++i) last = insert_one(0, std::string(3000, 'x') + std::to_string(i), i, i + 1, 1);
  EXPECT_THAT(last, StatusIs(Code::kResourceExhausted, HasSubstr("max_map_bytes")));
  EXPECT_EQ(lookup(std::string(3000, 'x') + "0"), (DedupEntry{0, 0, 1, 1}));
  auto expired = index_->expire(kTopic, 2, 1000000);  // freeing space works at the limit
  CAUSEWAY_ASSERT_OK(expired);
  EXPECT_EQ(*expired, i - 1);
}

std::string hex(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (char c : bytes) {
    if (!out.empty()) out += ' ';
    out += kHex[static_cast<unsigned char>(c) >> 4];
    out += kHex[static_cast<unsigned char>(c) & 0xf];
  }
  return out;
}

// Every (key, value) of database `db` in `dir`, as hex, read with raw LMDB.
std::vector<std::pair<std::string, std::string>> dump_raw(const std::string& dir, const char* db, unsigned flags) {
  std::vector<std::pair<std::string, std::string>> out;
  auto env = lmdb::Env::open(dir, lmdb::EnvOptions{});
  EXPECT_TRUE(env.ok()) << env.status().to_string();
  if (!env) return out;
  const Status s = (*env)->write([&](lmdb::Txn& txn) -> Status {
    CAUSEWAY_ASSIGN_OR_RETURN(lmdb::Dbi dbi, txn.open_dbi(db, flags));
    CAUSEWAY_ASSIGN_OR_RETURN(lmdb::Cursor cursor, lmdb::Cursor::open(txn, dbi));
    std::string_view k, v;
    CAUSEWAY_ASSIGN_OR_RETURN(bool found, cursor.first(k, v));
    while (found) {
      out.emplace_back(hex(k), hex(v));
      CAUSEWAY_ASSIGN_OR_RETURN(found, cursor.next(k, v));
    }
    return Status();
  });
  EXPECT_TRUE(s.ok()) << s.to_string();
  return out;
}

TEST_F(DedupIndexTest, KeyLayoutMatchesTheWorkedExampleInTheDocs) {
  CAUSEWAY_ASSERT_OK(insert_one(3, "k", 42, 9, 1700000000000));
  index_.reset();
  EXPECT_THAT(dump_raw(path(), "by_time", MDB_DUPSORT),
              ElementsAre(Pair("00 00 00 07 80 00 01 8b cf e5 68 00 00 00 00 03 00 00 00 00 00 00 00 2a",
                               "00 00 00 07 00 6b")));
  EXPECT_THAT(dump_raw(path(), "by_offset", MDB_DUPSORT),
              ElementsAre(Pair("00 00 00 07 00 00 00 03 00 00 00 00 00 00 00 2a", "00 00 00 07 00 6b")));
  const auto dedup = dump_raw(path(), "dedup", 0);
  ASSERT_EQ(dedup.size(), 1u);
  EXPECT_EQ(dedup[0].first, "00 00 00 07 00 6b");
  const auto checkpoints = dump_raw(path(), "checkpoints", 0);
  ASSERT_EQ(checkpoints.size(), 1u);
  EXPECT_EQ(checkpoints[0].first, "00 00 00 07 00 00 00 03");
}

// --- Model-based property test ----------------------------------------------------------

// What the index should hold, kept with plain containers.
struct Model {
  struct Record {
    std::string key;
    uint64_t lamport;
    int64_t time_ms;
  };
  std::map<std::pair<uint32_t, std::string>, DedupEntry> entries;          // (topic, key)
  std::map<std::pair<uint32_t, uint32_t>, uint64_t> checkpoints;           // (topic, partition)
  std::map<std::pair<uint32_t, uint32_t>, std::vector<Record>> logs;       // what each partition's log holds

  void insert(uint32_t topic, uint32_t partition, const std::vector<DedupInsert>& batch, uint64_t checkpoint) {
    for (const DedupInsert& e : batch) {
      auto [it, inserted] = entries.try_emplace({topic, std::string(e.key)}, DedupEntry{partition, e.offset, e.lamport, e.time_ms});
      if (!inserted && it->second.lamport <= e.lamport) it->second = DedupEntry{partition, e.offset, e.lamport, e.time_ms};
    }
    uint64_t& cp = checkpoints[{topic, partition}];
    cp = std::max(cp, checkpoint);
  }
  std::optional<DedupEntry> lookup(uint32_t topic, const std::string& key, int64_t not_before) const {
    auto it = entries.find({topic, key});
    if (it == entries.end() || it->second.time_ms < not_before) return std::nullopt;
    return it->second;
  }
  size_t truncate(uint32_t topic, uint32_t partition, uint64_t from) {
    size_t n = 0;
    for (auto it = entries.begin(); it != entries.end();) {
      if (it->first.first == topic && it->second.partition == partition && it->second.offset >= from) {
        it = entries.erase(it);
        ++n;
      } else {
        ++it;
      }
    }
    auto cp = checkpoints.find({topic, partition});
    if (cp != checkpoints.end()) cp->second = std::min(cp->second, from);
    auto& log = logs[{topic, partition}];
    if (log.size() > from) log.resize(from);
    return n;
  }
  size_t expire(uint32_t topic, int64_t older_than, size_t max) {
    std::vector<std::tuple<int64_t, uint32_t, uint64_t, std::string>> victims;
    for (const auto& [k, e] : entries) {
      if (k.first == topic && e.time_ms < older_than) victims.emplace_back(e.time_ms, e.partition, e.offset, k.second);
    }
    std::sort(victims.begin(), victims.end());
    if (victims.size() > max) victims.resize(max);
    for (const auto& v : victims) entries.erase({topic, std::get<3>(v)});
    return victims.size();
  }
  std::vector<std::pair<std::string, DedupEntry>> partition_entries(uint32_t topic, uint32_t partition) const {
    std::vector<std::pair<std::string, DedupEntry>> out;
    for (const auto& [k, e] : entries) {
      if (k.first == topic && e.partition == partition) out.emplace_back(k.second, e);
    }
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.second.offset < b.second.offset; });
    return out;
  }
  void drop(uint32_t topic) {
    std::erase_if(entries, [&](const auto& kv) { return kv.first.first == topic; });
    std::erase_if(checkpoints, [&](const auto& kv) { return kv.first.first == topic; });
    std::erase_if(logs, [&](const auto& kv) { return kv.first.first == topic; });
  }
};

void run_model_round(const std::string& dir, uint32_t seed, int steps) {
  SCOPED_TRACE("seed " + std::to_string(seed) + " (replay with --gtest_random_seed=" + std::to_string(seed) + ")");
  std::mt19937_64 rng(seed);
  auto pick = [&rng](uint64_t lo, uint64_t hi) { return std::uniform_int_distribution<uint64_t>(lo, hi)(rng); };

  std::vector<std::string> pool;
  for (int i = 0; i < 24; ++i) pool.push_back("key-" + std::to_string(i));
  for (int i = 0; i < 6; ++i) pool.push_back(std::string(450, 'L') + std::to_string(i));   // digest keys, shared prefix
  pool.push_back(std::string(DedupIndex::kMaxInlineKeyBytes, 'E'));                          // longest inline key
  pool.push_back(std::string(5000, 'H'));

  auto opened = DedupIndex::open(dir);
  ASSERT_TRUE(opened.ok()) << opened.status().to_string();
  std::unique_ptr<DedupIndex> index = std::move(*opened);
  Model model;
  uint64_t clock = 0;
  int64_t now = 0;
  const uint32_t topics[] = {1, 2};

  for (int step = 0; step < steps; ++step) {
    SCOPED_TRACE("step " + std::to_string(step));
    now += static_cast<int64_t>(pick(0, 3));
    const uint32_t topic = topics[pick(0, 1)];
    const auto partition = static_cast<uint32_t>(pick(0, 2));
    const uint64_t op = pick(0, 99);
    if (op < 35) {  // append records to the partition's log and index them
      auto& log = model.logs[{topic, partition}];
      std::vector<DedupInsert> batch;
      const uint64_t n = pick(0, 5);
      for (uint64_t i = 0; i < n; ++i) {
        log.push_back({pool[pick(0, pool.size() - 1)], ++clock, now + static_cast<int64_t>(pick(0, 6)) - 3});
        batch.push_back({log.back().key, log.size() - 1, log.back().lamport, log.back().time_ms});
      }
      // Keys point into `log`, which the push_backs may have moved: rebuild the views.
      for (uint64_t i = 0; i < n; ++i) batch[i].key = log[log.size() - n + i].key;
      const Status s = index->insert(topic, partition, batch, log.size());
      ASSERT_TRUE(s.ok()) << s.to_string();
      model.insert(topic, partition, batch, log.size());
    } else if (op < 42) {  // replay an old stretch of a log (recovery re-reading from a checkpoint)
      auto& log = model.logs[{topic, partition}];
      if (log.empty()) continue;
      const uint64_t from = pick(0, log.size() - 1);
      const uint64_t to = std::min<uint64_t>(log.size(), from + pick(1, 4));
      std::vector<DedupInsert> batch;
      for (uint64_t o = from; o < to; ++o) batch.push_back({log[o].key, o, log[o].lamport, log[o].time_ms});
      const Status s = index->insert(topic, partition, batch, to);
      ASSERT_TRUE(s.ok()) << s.to_string();
      model.insert(topic, partition, batch, to);
    } else if (op < 72) {  // lookup
      const std::string& key = pool[pick(0, pool.size() - 1)];
      const int64_t not_before = now - static_cast<int64_t>(pick(0, 40));
      auto got = index->lookup(topic, key, not_before);
      ASSERT_TRUE(got.ok()) << got.status().to_string();
      EXPECT_EQ(*got, model.lookup(topic, key, not_before)) << "lookup of " << key.substr(0, 20) << " in topic " << topic;
    } else if (op < 80) {  // expire
      const int64_t older_than = now - static_cast<int64_t>(pick(0, 30));
      const size_t max = pick(1, 6);
      auto got = index->expire(topic, older_than, max);
      ASSERT_TRUE(got.ok()) << got.status().to_string();
      EXPECT_EQ(*got, model.expire(topic, older_than, max)) << "expire older than " << older_than;
    } else if (op < 86) {  // recovery cut the log's tail
      const auto& log = model.logs[{topic, partition}];
      const uint64_t from = pick(0, log.size());
      auto got = index->truncate_partition(topic, partition, from);
      ASSERT_TRUE(got.ok()) << got.status().to_string();
      EXPECT_EQ(*got, model.truncate(topic, partition, from)) << "truncate from " << from;
    } else if (op < 92) {  // checkpoint
      auto got = index->checkpoint(topic, partition);
      ASSERT_TRUE(got.ok()) << got.status().to_string();
      auto it = model.checkpoints.find({topic, partition});
      EXPECT_EQ(*got, it == model.checkpoints.end() ? 0 : it->second);
    } else if (op < 96) {  // full listing of a partition
      auto got = index->entries_for_partition(topic, partition);
      ASSERT_TRUE(got.ok()) << got.status().to_string();
      EXPECT_EQ(*got, model.partition_entries(topic, partition));
    } else if (op < 97) {
      CAUSEWAY_ASSERT_OK(index->drop_topic(topic));
      model.drop(topic);
    } else if (op < 98) {  // clean reopen
      index.reset();
      auto again = DedupIndex::open(dir);
      ASSERT_TRUE(again.ok()) << again.status().to_string();
      index = std::move(*again);
    } else {
      const Status s = index->check_consistency();
      ASSERT_TRUE(s.ok()) << s.to_string();
    }
    if (::testing::Test::HasFailure()) return;
  }
  const Status s = index->check_consistency();
  ASSERT_TRUE(s.ok()) << s.to_string();
  for (uint32_t topic : topics) {
    for (uint32_t partition = 0; partition < 3; ++partition) {
      auto got = index->entries_for_partition(topic, partition);
      ASSERT_TRUE(got.ok()) << got.status().to_string();
      EXPECT_EQ(*got, model.partition_entries(topic, partition));
    }
  }
}

TEST(DedupIndexPropertyTest, MatchesAModelUnderRandomInsertsLookupsExpiryAndTruncation) {
  const uint32_t base = testing::property_seed();
  for (uint32_t round = 0; round < 4; ++round) {
    TempDir dir;
    ASSERT_NO_FATAL_FAILURE(run_model_round(dir.path(), base + round, 1500));
    if (::testing::Test::HasFailure()) break;
  }
}

}  // namespace
}  // namespace causeway::meta
