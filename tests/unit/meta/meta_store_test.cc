// Tests of MetaStore (topics, topic ids, group offsets) and TopicConfig; the contract is
// meta/meta_store.h and docs/meta-store.md. The LMDB wrapper under it has its own tests
// (tests/unit/lmdb/lmdb_env_test.cc).
#include "meta/meta_store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <thread>
#include <vector>

#include "causeway/common/coding.h"
#include "causeway/schemas/meta_generated.h"
#include "causeway/lmdb/lmdb_env.h"
#include "meta/verified_value.h"
#include "meta/topic_config.h"
#include "meta_test_util.h"

namespace causeway::meta {

// Found by ADL from GoogleTest's failure messages.
void PrintTo(const GroupOffset& g, std::ostream* os) {
  *os << "{partition " << g.partition << ", offset " << g.offset << ", committed_ms " << g.committed_ms << "}";
}

namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::StatusIs;
using testing::TempDir;

TopicConfig topic(std::string name, uint32_t partitions = 4) {
  TopicConfig c;
  c.name = std::move(name);
  c.partitions = partitions;
  return c;
}

class MetaStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_NO_FATAL_FAILURE(reopen()); }

  void reopen() {
    store_.reset();
    MetaStoreOptions options;
    options.now_ms = [this] { return now_ms_.load(); };
    auto opened = MetaStore::open(dir_.sub("meta"), options);
    ASSERT_TRUE(opened.ok()) << opened.status().to_string();
    store_ = std::move(*opened);
  }

  TempDir dir_;
  std::atomic<int64_t> now_ms_{1'700'000'000'000};
  std::unique_ptr<MetaStore> store_;
};

TEST_F(MetaStoreTest, CreatedTopicGetsIdAndCreationTimeAndReadsBack) {
  TopicConfig wanted = topic("orders", 8);
  wanted.durability = storage::Durability::kOs;
  wanted.dedup_window = std::chrono::minutes(5);
  wanted.retention_bytes = 1 << 30;
  wanted.schema_subject = "orders-value";
  wanted.topic_id = 999;   // ignored
  wanted.created_ms = 42;  // ignored
  auto created = store_->create_topic(wanted);
  CAUSEWAY_ASSERT_OK(created);
  EXPECT_EQ(created->topic_id, 1u);
  EXPECT_EQ(created->created_ms, now_ms_.load());
  EXPECT_EQ(describe_differences(*created, wanted), "");

  auto got = store_->get_topic("orders");
  CAUSEWAY_ASSERT_OK(got);
  EXPECT_EQ(*got, *created);
  auto by_id = store_->get_topic_by_id(created->topic_id);
  CAUSEWAY_ASSERT_OK(by_id);
  EXPECT_EQ(*by_id, *created);
}

TEST_F(MetaStoreTest, TopicsSurviveReopen) {
  auto created = store_->create_topic(topic("orders"));
  CAUSEWAY_ASSERT_OK(created);
  ASSERT_NO_FATAL_FAILURE(reopen());
  auto got = store_->get_topic("orders");
  CAUSEWAY_ASSERT_OK(got);
  EXPECT_EQ(*got, *created);
}

TEST_F(MetaStoreTest, CreatingIdenticalTopicAgainReturnsTheExistingOne) {
  auto first = store_->create_topic(topic("orders"));
  CAUSEWAY_ASSERT_OK(first);
  now_ms_ += 1000;
  auto second = store_->create_topic(topic("orders"));
  CAUSEWAY_ASSERT_OK(second);
  EXPECT_EQ(*second, *first);  // same id, same created_ms
  auto all = store_->list_topics();
  CAUSEWAY_ASSERT_OK(all);
  EXPECT_EQ(all->size(), 1u);
}

TEST_F(MetaStoreTest, CreatingExistingTopicWithDifferentSettingsSaysWhatDiffers) {
  CAUSEWAY_ASSERT_OK(store_->create_topic(topic("orders", 4)));
  TopicConfig other = topic("orders", 8);
  other.schema_subject = "s";
  EXPECT_THAT(store_->create_topic(other),
              StatusIs(Code::kAlreadyExists, AllOf(HasSubstr("\"orders\""), HasSubstr("partitions 4 vs 8"),
                                                   HasSubstr("schema_subject \"\" vs \"s\""))));
}

TEST_F(MetaStoreTest, InvalidTopicSettingsAreRejectedNamingFieldAndValue) {
  struct Case {
    std::function<void(TopicConfig&)> change;
    std::string message;
  };
  const std::vector<Case> cases = {
      {[](TopicConfig& c) { c.name = ""; }, "length 0"},
      {[](TopicConfig& c) { c.name = std::string(250, 'a'); }, "length 250"},
      {[](TopicConfig& c) { c.name = "a/b"; }, "invalid character"},
      {[](TopicConfig& c) { c.name = "a b"; }, "invalid character"},
      {[](TopicConfig& c) { c.name = ".."; }, "reserved"},
      {[](TopicConfig& c) { c.name = "."; }, "reserved"},
      {[](TopicConfig& c) { c.partitions = 0; }, "partitions 0"},
      {[](TopicConfig& c) { c.partitions = 10001; }, "partitions 10001"},
      {[](TopicConfig& c) { c.dedup_window = std::chrono::milliseconds(-1); }, "dedup_window -1ms"},
      {[](TopicConfig& c) { c.retention_ms = std::chrono::milliseconds(-5); }, "retention_ms -5ms"},
      {[](TopicConfig& c) { c.segment_ms = std::chrono::milliseconds(0); }, "segment_ms 0ms"},
      {[](TopicConfig& c) { c.segment_bytes = 1000; }, "segment_bytes 1000"},
      {[](TopicConfig& c) { c.segment_bytes = (2ull << 30) + 1; }, "segment_bytes 2147483649"},
      {[](TopicConfig& c) { c.schema_subject = std::string(256, 's'); }, "schema_subject"},
  };
  for (const Case& c : cases) {
    TopicConfig config = topic("ok");
    c.change(config);
    EXPECT_THAT(store_->create_topic(config), StatusIs(Code::kInvalidArgument, HasSubstr(c.message)));
  }
  TopicConfig edge = topic(std::string(249, 'a') , 10000);
  edge.name[0] = '.';
  edge.segment_bytes = 64 << 10;
  edge.dedup_window = std::chrono::milliseconds(0);
  edge.retention_ms = std::chrono::milliseconds(0);
  CAUSEWAY_ASSERT_OK(store_->create_topic(edge));
}

TEST_F(MetaStoreTest, UnknownTopicIsNotFound) {
  EXPECT_THAT(store_->get_topic("nope"), StatusIs(Code::kNotFound, HasSubstr("\"nope\"")));
  EXPECT_THAT(store_->get_topic(""), StatusIs(Code::kNotFound, ::testing::_));
  EXPECT_THAT(store_->get_topic_by_id(7), StatusIs(Code::kNotFound, HasSubstr("topic id 7")));
  EXPECT_THAT(store_->delete_topic("nope"), StatusIs(Code::kNotFound, HasSubstr("\"nope\"")));
}

TEST_F(MetaStoreTest, ListsTopicsSortedByName) {
  for (const char* name : {"zeta", "alpha", "Mid", "alpha.2", "beta"}) CAUSEWAY_ASSERT_OK(store_->create_topic(topic(name)));
  auto all = store_->list_topics();
  CAUSEWAY_ASSERT_OK(all);
  std::vector<std::string> names;
  for (const TopicConfig& c : *all) names.push_back(c.name);
  EXPECT_THAT(names, ElementsAre("Mid", "alpha", "alpha.2", "beta", "zeta"));
}

TEST_F(MetaStoreTest, DeleteTopicRemovesItAndItsGroupOffsetsOnly) {
  auto orders = store_->create_topic(topic("orders"));
  auto users = store_->create_topic(topic("users"));
  CAUSEWAY_ASSERT_OK(orders);
  CAUSEWAY_ASSERT_OK(users);
  const PartitionOffset offsets[] = {{0, 10}, {1, 20}};
  CAUSEWAY_ASSERT_OK(store_->commit_offsets("g1", orders->topic_id, offsets));
  CAUSEWAY_ASSERT_OK(store_->commit_offsets("g2", orders->topic_id, offsets));
  CAUSEWAY_ASSERT_OK(store_->commit_offsets("g1", users->topic_id, offsets));

  CAUSEWAY_ASSERT_OK(store_->delete_topic("orders"));
  EXPECT_THAT(store_->get_topic("orders"), StatusIs(Code::kNotFound, ::testing::_));
  EXPECT_THAT(store_->get_topic_by_id(orders->topic_id), StatusIs(Code::kNotFound, ::testing::_));
  for (const char* group : {"g1", "g2"}) {
    auto left = store_->list_offsets(group, orders->topic_id);
    CAUSEWAY_ASSERT_OK(left);
    EXPECT_TRUE(left->empty()) << group;
  }
  auto kept = store_->list_offsets("g1", users->topic_id);
  CAUSEWAY_ASSERT_OK(kept);
  EXPECT_EQ(kept->size(), 2u);
}

TEST_F(MetaStoreTest, RecreatedTopicGetsFreshIdAndNoOldOffsets) {
  auto old_topic = store_->create_topic(topic("orders"));
  CAUSEWAY_ASSERT_OK(old_topic);
  const PartitionOffset offsets[] = {{0, 10}};
  CAUSEWAY_ASSERT_OK(store_->commit_offsets("g", old_topic->topic_id, offsets));
  CAUSEWAY_ASSERT_OK(store_->delete_topic("orders"));

  auto new_topic = store_->create_topic(topic("orders"));
  CAUSEWAY_ASSERT_OK(new_topic);
  EXPECT_NE(new_topic->topic_id, old_topic->topic_id);
  auto offset = store_->committed_offset("g", new_topic->topic_id, 0);
  CAUSEWAY_ASSERT_OK(offset);
  EXPECT_EQ(*offset, std::nullopt);
  // A stale consumer committing against the old id is refused, not silently stored.
  EXPECT_THAT(store_->commit_offsets("g", old_topic->topic_id, offsets), StatusIs(Code::kNotFound, ::testing::_));
}

TEST_F(MetaStoreTest, TopicIdsAreNeverReusedAcrossReopen) {
  CAUSEWAY_ASSERT_OK(store_->create_topic(topic("a")));
  auto b = store_->create_topic(topic("b"));
  CAUSEWAY_ASSERT_OK(b);
  CAUSEWAY_ASSERT_OK(store_->delete_topic("b"));
  ASSERT_NO_FATAL_FAILURE(reopen());
  auto c = store_->create_topic(topic("c"));
  CAUSEWAY_ASSERT_OK(c);
  EXPECT_EQ(c->topic_id, b->topic_id + 1);
}

TEST_F(MetaStoreTest, CommittedOffsetsReadBackSortedByPartition) {
  auto t = store_->create_topic(topic("orders", 1000));
  CAUSEWAY_ASSERT_OK(t);
  now_ms_ = 5;
  // 256 and 1 differ in their low byte order: big-endian keys sort them numerically.
  const PartitionOffset offsets[] = {{256, 7}, {1, 100}, {2, 0}, {1, 101}};
  CAUSEWAY_ASSERT_OK(store_->commit_offsets("billing", t->topic_id, offsets));
  auto all = store_->list_offsets("billing", t->topic_id);
  CAUSEWAY_ASSERT_OK(all);
  EXPECT_THAT(*all, ElementsAre(GroupOffset{1, 101, 5}, GroupOffset{2, 0, 5}, GroupOffset{256, 7, 5}));
  auto one = store_->committed_offset("billing", t->topic_id, 256);
  CAUSEWAY_ASSERT_OK(one);
  EXPECT_EQ(*one, std::optional<uint64_t>(7));
  auto none = store_->committed_offset("billing", t->topic_id, 3);
  CAUSEWAY_ASSERT_OK(none);
  EXPECT_EQ(*none, std::nullopt);
}

TEST_F(MetaStoreTest, CommittedOffsetMayMoveBackwards) {
  auto t = store_->create_topic(topic("orders"));
  CAUSEWAY_ASSERT_OK(t);
  const PartitionOffset forward[] = {{0, 500}};
  const PartitionOffset reset[] = {{0, 3}};
  CAUSEWAY_ASSERT_OK(store_->commit_offsets("g", t->topic_id, forward));
  CAUSEWAY_ASSERT_OK(store_->commit_offsets("g", t->topic_id, reset));
  auto offset = store_->committed_offset("g", t->topic_id, 0);
  CAUSEWAY_ASSERT_OK(offset);
  EXPECT_EQ(*offset, std::optional<uint64_t>(3));
}

TEST_F(MetaStoreTest, GroupsWhoseNamesArePrefixesOfEachOtherAreKeptApart) {
  auto t = store_->create_topic(topic("orders"));
  CAUSEWAY_ASSERT_OK(t);
  const PartitionOffset a[] = {{0, 1}};
  const PartitionOffset b[] = {{1, 2}};
  CAUSEWAY_ASSERT_OK(store_->commit_offsets("g", t->topic_id, a));
  CAUSEWAY_ASSERT_OK(store_->commit_offsets("g\x01", t->topic_id, b));
  CAUSEWAY_ASSERT_OK(store_->commit_offsets("gg", t->topic_id, b));
  auto g = store_->list_offsets("g", t->topic_id);
  CAUSEWAY_ASSERT_OK(g);
  ASSERT_EQ(g->size(), 1u);
  EXPECT_EQ((*g)[0].partition, 0u);
}

TEST_F(MetaStoreTest, GroupOffsetKeyMatchesTheWorkedExampleInTheDocs) {
  for (int i = 0; i < 6; ++i) CAUSEWAY_ASSERT_OK(store_->create_topic(topic("t" + std::to_string(i))));
  auto t = store_->get_topic("t5");
  CAUSEWAY_ASSERT_OK(t);
  ASSERT_EQ(t->topic_id, 6u);
  auto seventh = store_->create_topic(topic("orders"));
  CAUSEWAY_ASSERT_OK(seventh);
  ASSERT_EQ(seventh->topic_id, 7u);
  const PartitionOffset offsets[] = {{3, 1}};
  CAUSEWAY_ASSERT_OK(store_->commit_offsets("billing", 7, offsets));
  store_.reset();
  auto env = lmdb::Env::open(dir_.sub("meta"), lmdb::EnvOptions{});
  CAUSEWAY_ASSERT_OK(env);
  std::string key;
  CAUSEWAY_ASSERT_OK((*env)->read([&](lmdb::Txn& txn) -> Status {
    MDB_dbi handle = 0;
    if (int rc = mdb_dbi_open(txn.handle(), "group_offsets", 0, &handle); rc != 0) return lmdb::lmdb_status("open", rc);
    lmdb::Dbi dbi{handle, "group_offsets"};
    CAUSEWAY_ASSIGN_OR_RETURN(lmdb::Cursor cursor, lmdb::Cursor::open(txn, dbi));
    std::string_view k, v;
    CAUSEWAY_ASSIGN_OR_RETURN(bool found, cursor.first(k, v));
    if (found) key = std::string(k);
    return Status();
  }));
  EXPECT_EQ(key, std::string("\x00\x00\x00\x07\x00\x07" "billing" "\x00\x00\x00\x03", 4 + 2 + 7 + 4));
}

TEST_F(MetaStoreTest, BadOffsetCommitsAreRejected) {
  auto t = store_->create_topic(topic("orders", 4));
  CAUSEWAY_ASSERT_OK(t);
  const PartitionOffset bad_partition[] = {{0, 1}, {4, 1}};
  EXPECT_THAT(store_->commit_offsets("g", t->topic_id, bad_partition),
              StatusIs(Code::kInvalidArgument, HasSubstr("partition 4 out of range")));
  auto nothing = store_->committed_offset("g", t->topic_id, 0);  // the batch is all or nothing
  CAUSEWAY_ASSERT_OK(nothing);
  EXPECT_EQ(*nothing, std::nullopt);
  const PartitionOffset ok[] = {{0, 1}};
  EXPECT_THAT(store_->commit_offsets("", t->topic_id, ok), StatusIs(Code::kInvalidArgument, HasSubstr("group")));
  EXPECT_THAT(store_->commit_offsets(std::string(256, 'g'), t->topic_id, ok),
              StatusIs(Code::kInvalidArgument, HasSubstr("length 256")));
  EXPECT_THAT(store_->commit_offsets("g", 12345, ok), StatusIs(Code::kNotFound, HasSubstr("topic id 12345")));
}

TEST_F(MetaStoreTest, ConcurrentCreatesGetDistinctIds) {
  constexpr int kThreads = 4;
  constexpr int kPerThread = 20;
  std::vector<std::thread> threads;
  std::vector<std::vector<uint32_t>> ids(kThreads);
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        auto c = store_->create_topic(topic("t" + std::to_string(t) + "-" + std::to_string(i)));
        if (!c) {
          ++failures;
          continue;
        }
        ids[static_cast<size_t>(t)].push_back(c->topic_id);
        if (!store_->list_topics().ok()) ++failures;  // readers alongside writers
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  std::set<uint32_t> all;
  for (const auto& v : ids) all.insert(v.begin(), v.end());
  EXPECT_EQ(all.size(), static_cast<size_t>(kThreads * kPerThread));
  EXPECT_EQ(*all.begin(), 1u);
  EXPECT_EQ(*all.rbegin(), static_cast<uint32_t>(kThreads * kPerThread));
}

TEST_F(MetaStoreTest, OpeningTheSameDirectoryTwiceInOneProcessIsRefused) {
  EXPECT_THAT(MetaStore::open(dir_.sub("meta")), StatusIs(Code::kFailedPrecondition, HasSubstr("already open")));
}

TEST_F(MetaStoreTest, CorruptValueIsReportedNotCrashed) {
  CAUSEWAY_ASSERT_OK(store_->create_topic(topic("orders")));
  CAUSEWAY_ASSERT_OK(store_->create_topic(topic("users")));
  store_.reset();
  CAUSEWAY_ASSERT_OK(testing::poke_raw(dir_.sub("meta"), "topics", "orders", std::string("\x10\x00\x00\x00garbage!", 12)));
  ASSERT_NO_FATAL_FAILURE(reopen());
  EXPECT_THAT(store_->get_topic("orders"), StatusIs(Code::kCorruption, HasSubstr("topics[\"orders\"]")));
  EXPECT_THAT(store_->list_topics(), StatusIs(Code::kCorruption, HasSubstr("topics[\"orders\"]")));
  CAUSEWAY_ASSERT_OK(store_->get_topic("users"));  // the rest is still readable
}

TEST_F(MetaStoreTest, CorruptSubscriptionFailsOnlyItsOwnAckCommit) {
  auto t = store_->create_topic(topic("orders"));
  CAUSEWAY_ASSERT_OK(t);
  std::vector<int64_t> created;
  for (const char* name : {"billing", "audit"}) {
    SubscriptionConfig config;
    config.name = name;
    config.topic = "orders";
    auto s = store_->create_subscription(config, {});
    CAUSEWAY_ASSERT_OK(s);
    created.push_back(s->created_ms);
  }
  store_.reset();
  CAUSEWAY_ASSERT_OK(testing::poke_raw(dir_.sub("meta"), "subscriptions", "billing", std::string("\x10\x00\x00\x00garbage!", 12)));
  ASSERT_NO_FATAL_FAILURE(reopen());

  std::vector<GroupAckCommit> commits;
  for (size_t i = 0; i < 2; ++i) {
    GroupAckCommit c{i == 0 ? "billing" : "audit", created[i], t->topic_id, {}};
    PartitionAckState st;
    st.partition = 0;
    st.committed = 7;
    st.acked_above = {9};
    c.states.push_back(st);
    commits.push_back(std::move(c));
  }
  std::vector<Status> results;
  CAUSEWAY_ASSERT_OK(store_->commit_ack_states(commits, results));
  ASSERT_EQ(results.size(), 2u);
  EXPECT_THAT(results[0], StatusIs(Code::kCorruption, HasSubstr("billing")));
  EXPECT_TRUE(results[1].ok()) << results[1].to_string();
  EXPECT_EQ(store_->committed_offset("audit", t->topic_id, 0).value(), std::optional<uint64_t>(7));
  EXPECT_EQ(store_->acked_above("audit", t->topic_id, 0).value(), std::vector<uint64_t>{9});
  EXPECT_EQ(store_->committed_offset("billing", t->topic_id, 0).value(), std::nullopt);
}

TEST_F(MetaStoreTest, HttpTargetAndInputTransformReadBackAfterReopen) {
  CAUSEWAY_ASSERT_OK(store_->create_topic(topic("orders")));
  SubscriptionConfig config;
  config.name = "hook";
  config.topic = "orders";
  config.http.url = "https://hooks.example.com/orders?x=1";
  config.http.rate_per_second = 50;
  config.http.concurrency = 16;
  config.http.timeout = std::chrono::milliseconds(2500);
  config.http.headers = {{"Authorization", "Bearer abc"}, {"X-Team", "pay"}};
  config.input_template = "Order <id>";
  config.input_paths = {{"id", "$.data.id"}, {"src", "$.source"}};
  auto created = store_->create_subscription(config, {});
  CAUSEWAY_ASSERT_OK(created);
  ASSERT_NO_FATAL_FAILURE(reopen());
  auto got = store_->get_subscription("hook");
  CAUSEWAY_ASSERT_OK(got);
  EXPECT_EQ(*got, *created);
  EXPECT_EQ(got->http, config.http);
  EXPECT_EQ(got->input_template, "Order <id>");
  EXPECT_EQ(got->input_paths, config.input_paths);
  // The same settings again is the same subscription; other header values are not.
  CAUSEWAY_ASSERT_OK(store_->create_subscription(config, {}));
  config.http.headers[0].second = "Bearer other";
  EXPECT_THAT(store_->create_subscription(config, {}).status(), StatusIs(Code::kAlreadyExists, HasSubstr("hook")));
}

TEST_F(MetaStoreTest, HttpTargetSettingsOutOfRangeAreRefusedNamingThem) {
  SubscriptionConfig base;
  base.name = "hook";
  base.topic = "orders";
  base.http.url = "http://127.0.0.1:9/x";
  auto refused = [&](SubscriptionConfig c, const std::string& needle) {
    EXPECT_THAT(c.validate(), StatusIs(Code::kInvalidArgument, HasSubstr(needle)));
  };
  auto c = base;
  c.target_topic = "paid";
  refused(c, "one target");
  c = base;
  c.http.concurrency = 0;
  refused(c, "concurrency 0");
  c = base;
  c.http.timeout = c.ack_deadline;
  refused(c, "shorter than the ack deadline");
  c = base;
  c.http.headers = {{"X-Big", std::string(kMaxHttpTargetBytes, 'v')}};
  refused(c, "bytes");
  c = base;
  c.http.url.clear();
  c.http.headers = {{"A", "b"}};
  refused(c, "without an HTTP target");
  c = base;
  c.http.url.clear();
  c.input_path = "$.data";
  refused(c, "needs a topic or HTTP target");
  EXPECT_TRUE(base.validate().ok());
}

TEST_F(MetaStoreTest, ValidFlatBufferWithImpossibleSettingsIsCorruption) {
  store_.reset();
  flatbuffers::FlatBufferBuilder fbb;
  fbb.Finish(schemas::CreateTopicRecordDirect(fbb, "orders", /*topic_id=*/1, /*partitions=*/0));
  CAUSEWAY_ASSERT_OK(testing::poke_raw(dir_.sub("meta"), "topics", "orders", builder_bytes(fbb)));
  ASSERT_NO_FATAL_FAILURE(reopen());
  EXPECT_THAT(store_->get_topic("orders"), StatusIs(Code::kCorruption, HasSubstr("partitions 0")));
}

TEST_F(MetaStoreTest, NewerFormatVersionIsRefused) {
  store_.reset();
  flatbuffers::FlatBufferBuilder fbb;
  fbb.Finish(schemas::CreateMetaInfo(fbb, /*format_version=*/2, /*next_topic_id=*/1));
  CAUSEWAY_ASSERT_OK(testing::poke_raw(dir_.sub("meta"), "info", "info", builder_bytes(fbb)));
  EXPECT_THAT(MetaStore::open(dir_.sub("meta")), StatusIs(Code::kFailedPrecondition, HasSubstr("format version 2")));
}

TEST_F(MetaStoreTest, CorruptEnvironmentFileIsReportedAsCorruption) {
  CAUSEWAY_ASSERT_OK(store_->create_topic(topic("orders")));
  store_.reset();
  const std::string data = dir_.sub("meta") + "/data.mdb";
  std::string bytes = testing::read_all(data);
  ASSERT_GE(bytes.size(), 8192u);
  for (size_t i = 0; i < 8192; ++i) bytes[i] = static_cast<char>(0xA5);  // both meta pages
  testing::write_all(data, bytes);
  EXPECT_THAT(MetaStore::open(dir_.sub("meta")), StatusIs(Code::kCorruption, HasSubstr("mdb_env_open")));
}

TEST_F(MetaStoreTest, DataFileShorterThanItsPagesIsReportedAsCorruption) {
  for (int i = 0; i < 60; ++i) {
    TopicConfig c = topic("topic-" + std::to_string(i));
    c.schema_subject = std::string(255, 's');
    CAUSEWAY_ASSERT_OK(store_->create_topic(c));
  }
  store_.reset();
  std::filesystem::resize_file(dir_.sub("meta") + "/data.mdb", 4 * 4096);
  EXPECT_THAT(MetaStore::open(dir_.sub("meta")), StatusIs(Code::kCorruption, HasSubstr("last page ends")));
}

TEST(MetaStoreMapTest, GrowsTheMapWhenFullUpToTheMaximum) {
  TempDir dir;
  MetaStoreOptions options;
  options.initial_map_bytes = 64 << 10;
  options.max_map_bytes = 64 << 20;
  auto store = MetaStore::open(dir.path(), options);
  CAUSEWAY_ASSERT_OK(store);
  constexpr int kTopics = 400;  // ~500 bytes each: several times the initial map
  for (int i = 0; i < kTopics; ++i) {
    TopicConfig c = topic("topic-" + std::to_string(i));
    c.schema_subject = std::string(255, 's');
    CAUSEWAY_ASSERT_OK((*store)->create_topic(c));
  }
  auto all = (*store)->list_topics();
  CAUSEWAY_ASSERT_OK(all);
  EXPECT_EQ(all->size(), static_cast<size_t>(kTopics));
  EXPECT_GT(std::filesystem::file_size(dir.path() + "/data.mdb"), 64u << 10);
}

TEST(MetaStoreMapTest, ReportsResourceExhaustedAtTheMaximumAndKeepsWorking) {
  TempDir dir;
  MetaStoreOptions options;
  options.initial_map_bytes = 64 << 10;
  options.max_map_bytes = 128 << 10;
  auto store = MetaStore::open(dir.path(), options);
  CAUSEWAY_ASSERT_OK(store);
  int created = 0;
  Status last;
  for (; created < 10000; ++created) {
    TopicConfig c = topic("topic-" + std::to_string(created));
    c.schema_subject = std::string(255, 's');
    last = (*store)->create_topic(c).status();
    if (!last.ok()) break;
  }
  EXPECT_THAT(last, StatusIs(Code::kResourceExhausted, HasSubstr("max_map_bytes 131072")));
  EXPECT_GT(created, 20);
  auto all = (*store)->list_topics();
  CAUSEWAY_ASSERT_OK(all);
  EXPECT_EQ(all->size(), static_cast<size_t>(created));
  CAUSEWAY_ASSERT_OK((*store)->delete_topic("topic-0"));  // deleting still works
}

// --- Unclean close: a child process writes and is SIGKILLed without closing. ---

TEST(MetaStoreCrashTest, ReopensAfterUncleanClose) {
  TempDir dir;
  constexpr int kTopics = 30;
  const std::string died = testing::run_in_child_then_sigkill([&] {
    auto store = MetaStore::open(dir.path());
    if (!store) return false;
    for (int i = 0; i < kTopics; ++i) {
      auto t = (*store)->create_topic(topic("t" + std::to_string(i), 2));
      if (!t) return false;
      const PartitionOffset offsets[] = {{0, static_cast<uint64_t>(i)}, {1, static_cast<uint64_t>(i * 2)}};
      if (!(*store)->commit_offsets("g", t->topic_id, offsets).ok()) return false;
    }
    if (!(*store)->delete_topic("t0").ok()) return false;
    return true;  // the child now SIGKILLs itself with the store open
  });
  ASSERT_EQ(died, "");

  auto store = MetaStore::open(dir.path());
  CAUSEWAY_ASSERT_OK(store);
  auto all = (*store)->list_topics();
  CAUSEWAY_ASSERT_OK(all);
  EXPECT_EQ(all->size(), static_cast<size_t>(kTopics - 1));
  for (int i = 1; i < kTopics; ++i) {
    auto t = (*store)->get_topic("t" + std::to_string(i));
    CAUSEWAY_ASSERT_OK(t);
    EXPECT_EQ(t->topic_id, static_cast<uint32_t>(i + 1));
    auto offsets = (*store)->list_offsets("g", t->topic_id);
    CAUSEWAY_ASSERT_OK(offsets);
    EXPECT_THAT(*offsets, ElementsAre(::testing::Field(&GroupOffset::offset, static_cast<uint64_t>(i)),
                                      ::testing::Field(&GroupOffset::offset, static_cast<uint64_t>(i * 2))));
  }
  auto fresh = (*store)->create_topic(topic("after-crash"));
  CAUSEWAY_ASSERT_OK(fresh);
  EXPECT_EQ(fresh->topic_id, static_cast<uint32_t>(kTopics + 1));
}


// ---------------------------------------------------------------- replays

namespace replays {

ReplayRecord replay(const std::string& name, const std::string& subscription) {
  ReplayRecord r;
  r.name = name;
  r.subscription = subscription;
  r.subscription_created_ms = 42;
  r.topic = "orders";
  r.topic_id = 7;
  r.from_ms = 1000;
  r.to_ms = 2000;
  r.to_lamport = 99;
  r.partitions = {{0, 10, 20, 10, 0, 0, 0}, {1, 5, 5, 5, 0, 0, 0}};
  return r;
}

}  // namespace replays

TEST_F(MetaStoreTest, ReplayRecordsRoundTripWithTheirCursorsAcrossReopen) {
  auto created = store_->create_replay(replays::replay("r1", "hook"));
  ASSERT_TRUE(created.ok()) << created.status().to_string();
  EXPECT_GT(created->created_ms, 0);
  ReplayRecord advanced = *created;
  advanced.partitions[0].next = 15;
  advanced.partitions[0].delivered = 3;
  advanced.partitions[0].filtered = 2;
  ASSERT_TRUE(store_->put_replay(advanced).ok());
  ASSERT_NO_FATAL_FAILURE(reopen());
  auto got = store_->get_replay("r1");
  ASSERT_TRUE(got.ok()) << got.status().to_string();
  EXPECT_EQ(*got, advanced);
  EXPECT_EQ(got->total(), 10u);
  EXPECT_EQ(got->scanned(), 5u);
}

TEST_F(MetaStoreTest, ReplayNamesAreNeverReusedAndUnknownOnesAreNotFound) {
  ASSERT_TRUE(store_->create_replay(replays::replay("r1", "hook")).ok());
  ReplayRecord finished = replays::replay("r1", "hook");
  finished.state = ReplayState::kCompleted;
  EXPECT_EQ(store_->create_replay(finished).status().code(), Code::kAlreadyExists);
  EXPECT_EQ(store_->get_replay("nope").status().code(), Code::kNotFound);
  EXPECT_EQ(store_->put_replay(replays::replay("nope", "hook")).code(), Code::kNotFound);
}

TEST_F(MetaStoreTest, InvalidReplayRecordsAreRefusedNamingTheProblem) {
  ReplayRecord bad_name = replays::replay("no/slash", "hook");
  EXPECT_EQ(store_->create_replay(bad_name).status().code(), Code::kInvalidArgument);
  ReplayRecord backwards = replays::replay("r", "hook");
  backwards.to_ms = backwards.from_ms - 1;
  EXPECT_EQ(store_->create_replay(backwards).status().code(), Code::kInvalidArgument);
  ReplayRecord cursor = replays::replay("r", "hook");
  cursor.partitions[0].next = 21;  // past the end of its range
  const Status s = store_->create_replay(cursor).status();
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_NE(s.message().find("partition 0"), std::string_view::npos) << s.to_string();
}

TEST_F(MetaStoreTest, ListsReplaysByNameAndBySubscription) {
  ASSERT_TRUE(store_->create_replay(replays::replay("b", "hook")).ok());
  ASSERT_TRUE(store_->create_replay(replays::replay("a", "other")).ok());
  ASSERT_TRUE(store_->create_replay(replays::replay("c", "hook")).ok());
  auto all = store_->list_replays("");
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ((*all)[0].name, "a");
  EXPECT_EQ((*all)[2].name, "c");
  auto hook = store_->list_replays("hook");
  ASSERT_TRUE(hook.ok());
  ASSERT_EQ(hook->size(), 2u);
  EXPECT_EQ((*hook)[0].name, "b");
}

TEST_F(MetaStoreTest, AtTheLimitTheOldestFinishedReplayMakesRoomAndRunningOnesNever) {
  // Running replays fill the store but for one finished, which goes first.
  ReplayRecord done = replays::replay("done", "hook");
  done.state = ReplayState::kCompleted;
  ASSERT_TRUE(store_->create_replay(done).ok());
  for (size_t i = 1; i < kMaxReplayRecords; ++i)
    ASSERT_TRUE(store_->create_replay(replays::replay("run" + std::to_string(i), "hook")).ok()) << i;
  ASSERT_TRUE(store_->create_replay(replays::replay("one-more", "hook")).ok());
  EXPECT_EQ(store_->get_replay("done").status().code(), Code::kNotFound);
  EXPECT_TRUE(store_->get_replay("one-more").ok());
  const Status full = store_->create_replay(replays::replay("too-many", "hook")).status();
  EXPECT_EQ(full.code(), Code::kResourceExhausted);
  EXPECT_NE(full.message().find("cancel one"), std::string_view::npos) << full.to_string();
}

}  // namespace

// ---------------------------------------------------------------- tokens and ACLs

TokenRecord token(const std::string& id, const std::string& principal) {
  TokenRecord t;
  t.id = id;
  t.principal = principal;
  t.secret_sha256 = std::string(32, '\x5a');
  t.description = "for tests";
  t.created_ms = 1234;
  return t;
}

TEST_F(MetaStoreTest, TokensRoundTripAcrossReopenAndIdsAreUnique) {
  ASSERT_TRUE(store_->put_token(token("cwt_0123456789abcdef", "alice")).ok());
  EXPECT_EQ(store_->put_token(token("cwt_0123456789abcdef", "bob")).code(), Code::kAlreadyExists);
  ASSERT_NO_FATAL_FAILURE(reopen());
  auto tokens = store_->list_tokens();
  ASSERT_TRUE(tokens.ok());
  ASSERT_EQ(tokens->size(), 1u);
  EXPECT_EQ(tokens->front().principal, "alice");
  EXPECT_EQ(tokens->front().secret_sha256, std::string(32, '\x5a'));
  EXPECT_EQ(tokens->front().created_ms, 1234);
  ASSERT_TRUE(store_->delete_token("cwt_0123456789abcdef").ok());
  EXPECT_EQ(store_->delete_token("cwt_0123456789abcdef").code(), Code::kNotFound);
}

TEST_F(MetaStoreTest, MalformedTokensAreRefusedNamingTheField) {
  EXPECT_NE(store_->put_token(token("tok_0123456789abcdef", "alice")).message().find("cwt_"), std::string::npos);
  EXPECT_NE(store_->put_token(token("cwt_0123456789abcdef", "al ice")).message().find("principal"), std::string::npos);
  EXPECT_NE(store_->put_token(token("cwt_0123456789abcdef", "anonymous")).message().find("anonymous"),
            std::string::npos);
  TokenRecord short_digest = token("cwt_0123456789abcdef", "alice");
  short_digest.secret_sha256 = "abc";
  EXPECT_EQ(store_->put_token(short_digest).code(), Code::kInvalidArgument);
  auto tokens = store_->list_tokens();
  ASSERT_TRUE(tokens.ok());
  EXPECT_TRUE(tokens->empty());
}

TEST_F(MetaStoreTest, AclsAreAddedOnceRemovedOnceAndKeptAcrossReopen) {
  AclRecord a{"CN=orders,O=Acme", AclOperation::kPublish, true, "orders.", 0};
  AclRecord b{"alice", AclOperation::kAdmin, false, "payments", 0};
  ASSERT_TRUE(*store_->add_acl(a));
  EXPECT_FALSE(*store_->add_acl(a)) << "an identical entry is not added twice";
  ASSERT_TRUE(*store_->add_acl(b));
  ASSERT_NO_FATAL_FAILURE(reopen());
  auto acls = store_->list_acls();
  ASSERT_TRUE(acls.ok());
  ASSERT_EQ(acls->size(), 2u);
  EXPECT_TRUE(acls->at(0).matches("orders.created") || acls->at(1).matches("orders.created"));
  EXPECT_TRUE(*store_->remove_acl(a));
  EXPECT_FALSE(*store_->remove_acl(a));
  EXPECT_EQ(store_->list_acls()->size(), 1u);
}

TEST_F(MetaStoreTest, AclPrefixesMatchByStartAndNamesExactly) {
  const AclRecord prefix{"p", AclOperation::kSubscribe, true, "orders.", 0};
  EXPECT_TRUE(prefix.matches("orders.created"));
  EXPECT_TRUE(prefix.matches("orders."));
  EXPECT_FALSE(prefix.matches("orders"));
  EXPECT_FALSE(prefix.matches("payments.orders."));
  const AclRecord every{"p", AclOperation::kSubscribe, true, "", 0};
  EXPECT_TRUE(every.matches("anything"));
  const AclRecord exact{"p", AclOperation::kSubscribe, false, "orders", 0};
  EXPECT_TRUE(exact.matches("orders"));
  EXPECT_FALSE(exact.matches("orders.created"));
  EXPECT_EQ(store_->add_acl(AclRecord{"p", AclOperation::kSubscribe, false, "", 0}).status().code(),
            Code::kInvalidArgument)
      << "an exact ACL needs a topic name";
  EXPECT_EQ(store_->add_acl(AclRecord{"", AclOperation::kSubscribe, false, "t", 0}).status().code(),
            Code::kInvalidArgument);
  EXPECT_EQ(store_->add_acl(AclRecord{"p", static_cast<AclOperation>(9), false, "t", 0}).status().code(),
            Code::kInvalidArgument);
}

TEST_F(MetaStoreTest, RegistryAclsNameSubjectsUpToTheRegistrysLimit) {
  const AclRecord read{"p", AclOperation::kRegistryRead, false, std::string(255, 's'), 0};
  ASSERT_TRUE(*store_->add_acl(read)) << "subjects may be longer than topic names";
  const Status too_long =
      store_->add_acl(AclRecord{"p", AclOperation::kRegistryWrite, true, std::string(256, 's'), 0}).status();
  EXPECT_EQ(too_long.code(), Code::kInvalidArgument);
  EXPECT_NE(too_long.message().find("subject is longer than 255 bytes"), std::string::npos) << too_long.to_string();
  const Status topic = store_->add_acl(AclRecord{"p", AclOperation::kPublish, false, std::string(250, 't'), 0}).status();
  EXPECT_NE(topic.message().find("topic is longer than 249 bytes"), std::string::npos) << topic.to_string();
  const Status unnamed = store_->add_acl(AclRecord{"p", AclOperation::kRegistryRead, false, "", 0}).status();
  EXPECT_NE(unnamed.message().find("names a subject"), std::string::npos) << unnamed.to_string();
  ASSERT_TRUE(*store_->add_acl(AclRecord{"p", AclOperation::kRegistryWrite, true, "", 0})) << "every subject";
  ASSERT_NO_FATAL_FAILURE(reopen());
  auto acls = store_->list_acls();
  ASSERT_TRUE(acls.ok());
  ASSERT_EQ(acls->size(), 2u);
  EXPECT_TRUE(acls->at(0).is_registry() && acls->at(1).is_registry());
  EXPECT_EQ(acl_operation_name(AclOperation::kRegistryWrite), "registry-write");
}
}  // namespace causeway::meta
