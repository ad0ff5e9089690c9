// EventStore::create_topic when the process runs out of file descriptors: a create that
// would leave too few is refused up front naming the limit, and one whose partition logs fail
// to open anyway is undone completely (no metadata, no files), so the store opens again.
// Also creates and deletes of one name at once (services that each ensure their topic at
// start, dead-letter topics created on demand): one set of files, nothing moved aside.
#include <sys/resource.h>

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <thread>
#include <vector>

#include "core/event_store.h"
#include "tests/support/temp_dir.h"
#include "tests/unit/storage/fault_injection_fs.h"

namespace causeway::core {
namespace {

using causeway::testing::TempDir;

meta::TopicConfig topic(const std::string& name, uint32_t partitions) {
  meta::TopicConfig t;
  t.name = name;
  t.partitions = partitions;
  return t;
}

class TopicCreateTest : public ::testing::Test {
 protected:
  void open(uint32_t fd_reserve = 0) {
    store_.reset();
    EventStoreOptions o;
    o.data_dir = dir_.path();
    o.logs.background = false;
    o.fd_reserve = fd_reserve;
    auto s = EventStore::open(&fs_, o, nullptr);
    ASSERT_TRUE(s.ok()) << s.error().to_string();
    store_ = std::move(*s);
  }

  TempDir dir_;
  storage::testing::FaultInjectionFs fs_;
  std::unique_ptr<EventStore> store_;
};

TEST_F(TopicCreateTest, PartitionLogsThatCannotOpenUndoTheCreateCompletely) {
  ASSERT_NO_FATAL_FAILURE(open());
  ASSERT_TRUE(store_->create_topic(topic("first", 2)).ok());
  fs_.set_open_budget(3);  // the fourth of eight partitions fails, as at the kernel's EMFILE
  auto failed = store_->create_topic(topic("wide", 8));
  ASSERT_FALSE(failed.ok());
  EXPECT_NE(failed.error().message().find("Too many open files"), std::string::npos) << failed.error().to_string();
  EXPECT_NE(failed.error().message().find("nothing was created"), std::string::npos) << failed.error().to_string();
  fs_.set_open_budget(-1);

  auto topics = store_->list_topics();
  ASSERT_TRUE(topics.ok());
  ASSERT_EQ(topics->size(), 1u) << "the failed topic is not listed";
  EXPECT_EQ(topics->front().name, "first");
  EXPECT_FALSE(std::filesystem::exists(store_->logs().topic_dir("wide"))) << "its partial files are gone";
  EXPECT_EQ(store_->get_topic("wide").status().code(), Code::kNotFound);

  // The store opens again, and the name can be created once descriptors are back.
  ASSERT_NO_FATAL_FAILURE(open());
  ASSERT_TRUE(store_->create_topic(topic("wide", 8)).ok());
  EXPECT_EQ(store_->logs().partition_count("wide"), 8u);
}

TEST_F(TopicCreateTest, ACreateBeyondTheDescriptorLimitIsRefusedNamingIt) {
  rlimit saved{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &saved), 0);
  if (saved.rlim_cur != RLIM_INFINITY && saved.rlim_cur < 300) GTEST_SKIP() << "open-files limit below 300";
  // This process under a soft limit of 300, keeping 60 free (under a quarter of 300).
  rlimit low = saved;
  low.rlim_cur = 300;
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
  ASSERT_NO_FATAL_FAILURE(open(60));
  auto refused = store_->create_topic(topic("wide", 250));
  auto fits = store_->create_topic(topic("narrow", 10));
  auto topics = store_->list_topics();
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &saved), 0);

  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code(), Code::kResourceExhausted);
  const std::string why(refused.error().message());
  EXPECT_NE(why.find("needs 250 file descriptors"), std::string::npos) << why;
  EXPECT_NE(why.find("limit of 300 open files while keeping 60 free"), std::string::npos) << why;
  EXPECT_NE(why.find("ulimit -n"), std::string::npos) << why;
  EXPECT_TRUE(fits.ok()) << "what fits is still created: " << fits.error().to_string();
  ASSERT_TRUE(topics.ok());
  ASSERT_EQ(topics->size(), 1u);
  EXPECT_EQ(topics->front().name, "narrow");
}

TEST_F(TopicCreateTest, UnderASmallLimitAQuarterIsKeptRatherThanTheWholeReserve) {
  rlimit saved{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &saved), 0);
  if (saved.rlim_cur != RLIM_INFINITY && saved.rlim_cur < 1024) GTEST_SKIP() << "open-files limit below 1024";
  rlimit low = saved;
  low.rlim_cur = 1024;  // LimitNOFILE=1024, with the daemon's default reserve of 1280
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
  ASSERT_NO_FATAL_FAILURE(open(1280));
  auto created = store_->create_topic(topic("orders", 8));
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &saved), 0);
  EXPECT_TRUE(created.ok()) << created.error().to_string();
}

// Runs `fn(i)` on `n` threads released together.
template <typename Fn>
void at_once(int n, Fn fn) {
  std::atomic<int> ready{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < n; ++i)
    threads.emplace_back([&, i] {
      ready.fetch_add(1);
      while (ready.load() < n) std::this_thread::yield();
      fn(i);
    });
  for (auto& t : threads) t.join();
}

size_t entries_named_like(const std::string& dir, const std::string& part) {
  size_t n = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    if (e.path().filename().string().find(part) != std::string::npos) ++n;
  return n;
}

TEST_F(TopicCreateTest, IdenticalCreatesAtOnceOpenOneSetOfFilesAndKeepEveryEvent) {
  ASSERT_NO_FATAL_FAILURE(open());
  constexpr uint32_t kPartitions = 24;
  for (int round = 0; round < 6; ++round) {
    const std::string name = "orders-" + std::to_string(round);
    std::atomic<int> failed{0};
    at_once(4, [&](int) {
      auto created = store_->create_topic(topic(name, kPartitions));
      if (!created.ok()) {
        ADD_FAILURE() << created.error().to_string();
        failed.fetch_add(1);
      }
    });
    ASSERT_EQ(failed.load(), 0);
    EXPECT_EQ(entries_named_like(store_->logs().topics_dir(), ".orphaned-"), 0u)
        << "a create moved the files of another that was opening them aside";
    ASSERT_EQ(store_->logs().partition_count(name), kPartitions);
    auto config = store_->get_topic(name);
    ASSERT_TRUE(config.ok());
    for (uint32_t p = 0; p < kPartitions; ++p) {
      const std::string payload = name + "/" + std::to_string(p);
      batch::RecordInput r;
      r.payload = payload;
      auto appended = store_->append(*config, p, std::span(&r, 1), 0, storage::now_ms());
      ASSERT_TRUE(appended.ok()) << appended.error().to_string();
    }
  }
  // Every event is where the next start looks for it.
  ASSERT_NO_FATAL_FAILURE(open());
  for (int round = 0; round < 6; ++round) {
    const std::string name = "orders-" + std::to_string(round);
    ASSERT_EQ(store_->logs().partition_count(name), kPartitions) << name;
    for (uint32_t p = 0; p < kPartitions; ++p)
      EXPECT_EQ(store_->logs().partition(name, p)->next_offset(), 1u) << name << " partition " << p;
  }
}

TEST_F(TopicCreateTest, CreatesAndDeletesOfOneNameAtOnceLeaveMetadataAndFilesAgreeing) {
  ASSERT_NO_FATAL_FAILURE(open());
  constexpr uint32_t kPartitions = 16;
  for (int round = 0; round < 8; ++round) {
    at_once(4, [&](int i) {
      // Two create, two delete: each either happens whole or fails cleanly.
      if (i % 2 == 0) {
        auto created = store_->create_topic(topic("flip", kPartitions));
        if (!created.ok()) ADD_FAILURE() << created.error().to_string();
      } else {
        Status deleted = store_->delete_topic("flip");
        if (!deleted.ok() && deleted.code() != Code::kNotFound) ADD_FAILURE() << deleted.to_string();
      }
    });
    const bool listed = store_->get_topic("flip").ok();
    const std::string dir = store_->logs().topic_dir("flip");
    if (listed) {
      EXPECT_EQ(store_->logs().partition_count("flip"), kPartitions) << "round " << round;
      for (uint32_t p = 0; p < kPartitions; ++p)
        EXPECT_TRUE(std::filesystem::exists(dir + "/" + std::to_string(p))) << "round " << round << " partition " << p;
    } else {
      EXPECT_EQ(store_->logs().partition_count("flip"), 0u) << "round " << round << ": logs of a deleted topic";
      EXPECT_FALSE(std::filesystem::exists(dir)) << "round " << round << ": files of a deleted topic";
    }
    EXPECT_EQ(entries_named_like(store_->logs().topics_dir(), ".orphaned-"), 0u) << "round " << round;
  }
  // And the store opens on what they left.
  ASSERT_NO_FATAL_FAILURE(open());
}

}  // namespace
}  // namespace causeway::core
