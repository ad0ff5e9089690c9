// The causeway-broker daemon as a user runs it: starts, opens and reports its storage,
// refuses a second instance on the same data directory, rejects bad flags by name, and
// stops cleanly on SIGINT/SIGTERM.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <atomic>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "causeway/client/admin.h"
#include "causeway/client/publisher.h"
#include "causeway/client/registry_client.h"
#include "core/event_store.h"
#include "tests/integration/daemon_process.h"
#include "tests/support/open_files.h"
#include "tests/support/waiting.h"
#include "tests/unit/storage/test_util.h"

namespace causeway {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using testing::DaemonProcess;

const std::string kBroker = CAUSEWAY_BROKER_BINARY;

TEST(BrokerDaemon, StartsOpensStorageAndStopsCleanlyOnSigterm) {
  storage::testing::TempDir dir;
  DaemonProcess broker(kBroker, {"--data-dir", dir.path(), "--listen", "127.0.0.1:0", "--registry-listen", "127.0.0.1:0"});
  ASSERT_TRUE(broker.wait_for_output("ready", 30s)) << broker.output();
  EXPECT_THAT(broker.output(), HasSubstr("storage open in " + dir.path()));
  broker.signal(SIGTERM);
  auto status = broker.wait_exit(30s);
  ASSERT_TRUE(status) << broker.output();
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << broker.output();
  EXPECT_THAT(broker.output(), HasSubstr("stopped cleanly"));
}

TEST(BrokerDaemon, LogsEveryPartitionItRecoveredAndStopsOnSigint) {
  storage::testing::TempDir dir;
  {
    core::EventStoreOptions options;
    options.data_dir = dir.path();
    auto store = core::EventStore::open(storage::FileSystem::posix(), options, nullptr);
    ASSERT_TRUE(store.ok()) << store.error().to_string();
    meta::TopicConfig cfg;
    cfg.name = "orders";
    cfg.partitions = 2;
    auto topic = (*store)->create_topic(cfg);
    ASSERT_TRUE(topic.ok()) << topic.error().to_string();
    batch::RecordInput rec{"k", "d1", "src", "type", {}, 0, "payload"};
    for (int i = 0; i < 5; ++i) ASSERT_TRUE((*store)->append(*topic, 1, {&rec, 1}, 0, storage::now_ms()).ok());
  }
  DaemonProcess broker(kBroker, {"--data-dir", dir.path(), "--listen", "127.0.0.1:0", "--registry-listen", "127.0.0.1:0"});
  ASSERT_TRUE(broker.wait_for_output("ready", 30s)) << broker.output();
  EXPECT_THAT(broker.output(), HasSubstr("opened orders/0: offsets [0, 0)"));
  EXPECT_THAT(broker.output(), HasSubstr("opened orders/1: offsets [0, 5)"));
  EXPECT_THAT(broker.output(), HasSubstr("1 topic(s), 2 partition(s)"));
  broker.signal(SIGINT);
  auto status = broker.wait_exit(30s);
  ASSERT_TRUE(status);
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << broker.output();
}

TEST(BrokerDaemon, SecondBrokerOnTheSameDataDirRefusesToStart) {
  storage::testing::TempDir dir;
  DaemonProcess first(kBroker, {"--data-dir", dir.path(), "--listen", "127.0.0.1:0", "--registry-listen", "127.0.0.1:0"});
  ASSERT_TRUE(first.wait_for_output("ready", 30s)) << first.output();
  DaemonProcess second(kBroker, {"--data-dir", dir.path(), "--listen", "127.0.0.1:0", "--registry-listen", "127.0.0.1:0"});
  auto status = second.wait_exit(30s);
  ASSERT_TRUE(status);
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 1);
  EXPECT_THAT(second.output(), HasSubstr("in use by another causeway-broker (pid " + std::to_string(first.pid())));
  first.signal(SIGTERM);
  ASSERT_TRUE(first.wait_exit(30s));
}

// Starts the broker with `flag value` on a fresh data dir and expects it to exit 2 (usage)
// with output naming every one of `expected`.
void expect_flag_refused(const std::string& flag, const std::string& value, const std::vector<std::string>& expected) {
  storage::testing::TempDir dir;
  DaemonProcess broker(kBroker, {"--data-dir", dir.path(), "--listen", "127.0.0.1:0", "--registry-listen", "off", flag,
                                 value});
  const auto status = broker.wait_exit(30s);
  ASSERT_TRUE(status) << broker.output();
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 2) << broker.output();
  for (const std::string& e : expected) EXPECT_THAT(broker.output(), HasSubstr(e));
}

TEST(BrokerDaemon, BadFlagValueIsRejectedByName) {
  expect_flag_refused("--flush-interval", "5x", {"--flush-interval", "unknown unit \"x\""});
  expect_flag_refused("--share-syncs", "maybe", {"--share-syncs: maybe not in {true,false,on,off,1,0}"});
  expect_flag_refused("--max-open-segment-files", "-3", {"--max-open-segment-files: Value -3 not in range 0 to 1048576"});
}

TEST(BrokerDaemon, DamagedSealedSegmentStopsStartupNamingTheFile) {
  storage::testing::TempDir dir;
  std::string sealed;
  {
    core::EventStoreOptions options;
    options.data_dir = dir.path();
    auto store = core::EventStore::open(storage::FileSystem::posix(), options, nullptr);
    ASSERT_TRUE(store.ok());
    meta::TopicConfig cfg;
    cfg.name = "t";
    cfg.segment_bytes = 64 << 10;
    auto topic = (*store)->create_topic(cfg);
    ASSERT_TRUE(topic.ok());
    std::string payload(1000, 'x');
    batch::RecordInput rec{"", "", "", "", {}, 0, payload};
    for (int i = 0; i < 100; ++i) ASSERT_TRUE((*store)->append(*topic, 0, {&rec, 1}, 0, storage::now_ms()).ok());
    sealed = dir.path() + "/topics/t/0/00000000000000000000.log";
  }
  // Open verifies a sealed segment's tail (from its last index entry); damage there.
  storage::testing::increment_byte(sealed, std::filesystem::file_size(sealed) - 100);
  DaemonProcess broker(kBroker, {"--data-dir", dir.path(), "--listen", "127.0.0.1:0", "--registry-listen", "127.0.0.1:0"});
  auto status = broker.wait_exit(30s);
  ASSERT_TRUE(status);
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 1);
  EXPECT_THAT(broker.output(), HasSubstr("sealed segment " + sealed + " is damaged"));
}

// The registry URL the broker logged, or "" when it logged none.
std::string registry_url(const std::string& output) {
  const std::string marker = "registry listening on ";
  const auto at = output.find(marker);
  if (at == std::string::npos) return "";
  const auto end = output.find('\n', at);
  return output.substr(at + marker.size(), end - at - marker.size());
}

TEST(BrokerDaemon, EmbeddedRegistryServesItsRestApiAndKeepsSchemasAcrossRestarts) {
  storage::testing::TempDir dir;
  const std::vector<std::string> args{"--data-dir", dir.path(), "--listen", "127.0.0.1:0", "--registry-listen",
                                      "127.0.0.1:0"};
  int id = 0;
  {
    DaemonProcess broker(kBroker, args);
    ASSERT_TRUE(broker.wait_for_output("ready", 30s)) << broker.output();
    const std::string url = registry_url(broker.output());
    ASSERT_THAT(url, ::testing::StartsWith("http://127.0.0.1:")) << broker.output();
    auto client = client::RegistryClient::create({.url = url});
    ASSERT_TRUE(client.ok());
    auto registered = (*client)->register_schema("orders-value", "table Order { id: long; }\nroot_type Order;", "Order");
    ASSERT_TRUE(registered.ok()) << registered.error().to_string();
    id = registered->id;
    broker.signal(SIGTERM);
    ASSERT_TRUE(broker.wait_exit(30s)) << broker.output();
  }
  DaemonProcess broker(kBroker, args);
  ASSERT_TRUE(broker.wait_for_output("ready", 30s)) << broker.output();
  auto client = client::RegistryClient::create({.url = registry_url(broker.output())});
  ASSERT_TRUE(client.ok());
  auto subjects = (*client)->list_subjects();
  ASSERT_TRUE(subjects.ok()) << subjects.error().to_string();
  EXPECT_EQ(*subjects, std::vector<std::string>{"orders-value"});
  auto again = (*client)->register_schema("orders-value", "table Order { id: long; }\nroot_type Order;", "Order");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->id, id);
  broker.signal(SIGTERM);
  ASSERT_TRUE(broker.wait_exit(30s)) << broker.output();  // what it was doing if it did not stop
}

TEST(BrokerDaemon, RegistryCanBeTurnedOffAndABadRegistryAddressIsNamed) {
  storage::testing::TempDir dir;
  DaemonProcess off(kBroker, {"--data-dir", dir.path(), "--listen", "127.0.0.1:0", "--registry-listen", "off"});
  ASSERT_TRUE(off.wait_for_output("ready", 30s)) << off.output();
  EXPECT_EQ(registry_url(off.output()), "");
  off.signal(SIGTERM);
  ASSERT_TRUE(off.wait_exit(30s)) << off.output();

  DaemonProcess bad(kBroker, {"--data-dir", dir.path(), "--listen", "127.0.0.1:0", "--registry-listen", "localhost"});
  auto status = bad.wait_exit(30s);
  ASSERT_TRUE(status);
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 2) << bad.output();
  EXPECT_THAT(bad.output(), HasSubstr("--registry-listen"));
}

TEST(BrokerDaemon, SizeFlagsOutOfRangeOrNotSizesAreRefusedWithExitTwoNamingTheFlag) {
  storage::testing::TempDir dir;
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--max-frame-bytes", "10"}, "--max-frame-bytes: must be between 1KiB and 1GiB"},
      {{"--max-frame-bytes", "2GiB"}, "--max-frame-bytes: must be between 1KiB and 1GiB"},
      {{"--subscribe-read-cache", "65GiB"}, "--subscribe-read-cache: must be at most 64GiB"},
      {{"--subscribe-read-cache", "lots"}, "--subscribe-read-cache: invalid size \"lots\""},
      {{"--subscribe-read-cache", "-1MiB"}, "--subscribe-read-cache"},
  };
  for (const auto& [flags, says] : cases) {
    std::vector<std::string> args = {"--data-dir", dir.path(), "--listen", "127.0.0.1:0", "--registry-listen", "off"};
    args.insert(args.end(), flags.begin(), flags.end());
    DaemonProcess broker(kBroker, args);
    auto status = broker.wait_exit(30s);
    ASSERT_TRUE(status) << says;
    EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 2) << broker.output();
    EXPECT_THAT(broker.output(), HasSubstr(says));
  }
  // 0 is a valid cache size: sharing off.
  DaemonProcess off(kBroker, {"--data-dir", dir.path(), "--listen", "127.0.0.1:0", "--registry-listen", "off",
                              "--subscribe-read-cache", "0"});
  ASSERT_TRUE(off.wait_for_output("ready", 30s)) << off.output();
  off.signal(SIGTERM);
  ASSERT_TRUE(off.wait_exit(30s));
}

TEST(BrokerDaemon, RegistryUrlWithAListeningEmbeddedRegistryOrABadUrlIsRefusedWithExitTwo) {
  storage::testing::TempDir dir;
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--registry-url", "http://127.0.0.1:1", "--registry-listen", "127.0.0.1:0"}, "contradict"},
      {{"--registry-url", "https://127.0.0.1:1"}, "must start with http://"},
      {{"--registry-url", "http://127.0.0.1:1/registry"}, "has a path"},
      {{"--registry-url", ""}, "--registry-url"},
  };
  for (const auto& [flags, says] : cases) {
    std::vector<std::string> args = {"--data-dir", dir.path(), "--listen", "127.0.0.1:0"};
    args.insert(args.end(), flags.begin(), flags.end());
    DaemonProcess broker(kBroker, args);
    auto status = broker.wait_exit(30s);
    ASSERT_TRUE(status) << says;
    EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 2) << broker.output();
    EXPECT_THAT(broker.output(), HasSubstr(says));
  }
  // With "off" the two agree: no embedded registry, the remote one is used.
  DaemonProcess remote(kBroker, {"--data-dir", dir.path(), "--listen", "127.0.0.1:0", "--registry-listen", "off",
                                 "--registry-url", "http://127.0.0.1:1"});
  ASSERT_TRUE(remote.wait_for_output("ready", 30s)) << remote.output();
  EXPECT_EQ(registry_url(remote.output()), "");
  EXPECT_THAT(remote.output(), HasSubstr("checked against the registry at http://127.0.0.1:1"));
  remote.signal(SIGTERM);
  auto status = remote.wait_exit(30s);
  ASSERT_TRUE(status);
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << remote.output();
}

// Under a low hard limit on open files (as a container or a careless unit file sets): the
// broker takes what it may, refuses a topic whose partitions would not fit naming the limit
// and the value to raise it to, creates what fits, and starts again on its data directory.
TEST(BrokerDaemon, TopicsBeyondTheOpenFilesLimitAreRefusedNamingItAndTheBrokerRestarts) {
  storage::testing::TempDir dir;
  const uint16_t port = testing::pick_free_port();
  const std::string start = "ulimit -Sn 256 && ulimit -Hn 512 && exec " + kBroker + " --data-dir " + dir.path() +
                            " --listen 127.0.0.1:" + std::to_string(port) +
                            " --registry-listen off --admin-listen off --max-connections 32";
  client::ClientOptions options;
  options.broker = "127.0.0.1:" + std::to_string(port);
  for (int round = 0; round < 2; ++round) {
    DaemonProcess broker("/bin/sh", {"-c", start});
    ASSERT_TRUE(broker.wait_for_output("ready", 30s)) << broker.output();
    EXPECT_THAT(broker.output(), HasSubstr("open files limit: 512 (raised from 256)"));
    auto admin = client::Admin::connect(options);
    ASSERT_TRUE(admin.ok()) << admin.status().to_string();
    if (round == 0) {
      client::TopicSpec wide;
      wide.name = "wide";
      wide.partitions = 400;  // 400 + (32 + 256) kept free > 512
      auto refused = (*admin)->create_topic(wide);
      ASSERT_FALSE(refused.ok());
      EXPECT_EQ(refused.status().code(), Code::kResourceExhausted) << refused.status().to_string();
      EXPECT_THAT(std::string(refused.status().message()), HasSubstr("limit of 512 open files"));
      EXPECT_THAT(std::string(refused.status().message()), HasSubstr("ulimit -n"));
      client::TopicSpec fits;
      fits.name = "fits";
      fits.partitions = 150;
      ASSERT_TRUE((*admin)->create_topic(fits).ok());
    }
    auto topics = (*admin)->list_topics();
    ASSERT_TRUE(topics.ok());
    ASSERT_EQ(topics->size(), 1u) << "the refused topic left nothing behind";
    EXPECT_EQ(topics->front().spec.name, "fits");
    admin->reset();
    broker.signal(SIGTERM);
    auto status = broker.wait_exit(30s);
    ASSERT_TRUE(status);
    EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << broker.output();
  }
}

// Several services that each ensure their topic at start create it at once: every create
// answers with the topic, one set of files is made (none moved aside as stale), and the
// events published to it are there after a restart.
TEST(BrokerDaemon, ClientsCreatingOneTopicAtOnceAllGetItAndItsEventsSurviveARestart) {
  storage::testing::TempDir dir;
  const uint16_t port = testing::pick_free_port();
  const std::vector<std::string> args = {"--data-dir", dir.path(), "--listen", "127.0.0.1:" + std::to_string(port),
                                         "--registry-listen", "off", "--admin-listen", "off"};
  client::ClientOptions options;
  options.broker = "127.0.0.1:" + std::to_string(port);
  constexpr int kClients = 4;
  constexpr uint32_t kPartitions = 16;
  const std::vector<std::string> names = {"orders", "payments", "refunds"};
  {
    DaemonProcess broker(kBroker, args);
    ASSERT_TRUE(broker.wait_for_output("ready", 30s)) << broker.output();
    std::vector<std::unique_ptr<client::Admin>> admins;
    for (int i = 0; i < kClients; ++i) {
      auto admin = client::Admin::connect(options);
      ASSERT_TRUE(admin.ok()) << admin.status().to_string();
      admins.push_back(std::move(*admin));
    }
    for (const std::string& name : names) {
      std::atomic<int> ready{0};
      std::vector<std::string> errors(kClients);
      std::vector<std::thread> threads;
      for (int i = 0; i < kClients; ++i)
        threads.emplace_back([&, i] {
          ready.fetch_add(1);
          while (ready.load() < kClients) std::this_thread::yield();
          client::TopicSpec spec;
          spec.name = name;
          spec.partitions = kPartitions;
          auto created = admins[i]->create_topic(spec);
          if (!created.ok()) errors[i] = created.status().to_string();
        });
      for (auto& t : threads) t.join();
      for (int i = 0; i < kClients; ++i) EXPECT_EQ(errors[i], "") << name << ", client " << i;
    }
    auto publisher = client::Publisher::connect(options);
    ASSERT_TRUE(publisher.ok()) << publisher.status().to_string();
    for (const std::string& name : names)
      for (uint32_t p = 0; p < kPartitions; ++p) {
        client::Event e;
        e.partition = static_cast<int32_t>(p);
        e.payload = name + "/" + std::to_string(p);
        auto ack = (*publisher)->publish(name, std::move(e)).get();
        ASSERT_TRUE(ack.ok()) << name << "/" << p << ": " << ack.status().to_string();
      }
    publisher->reset();
    admins.clear();
    broker.signal(SIGTERM);
    auto status = broker.wait_exit(30s);
    ASSERT_TRUE(status);
    EXPECT_THAT(broker.output(), ::testing::Not(HasSubstr("moving stale directory")));
  }
  for (const auto& e : std::filesystem::directory_iterator(dir.path() + "/topics"))
    EXPECT_EQ(e.path().filename().string().find(".orphaned-"), std::string::npos) << e.path();
  DaemonProcess broker(kBroker, args);
  ASSERT_TRUE(broker.wait_for_output("ready", 30s)) << broker.output();
  auto admin = client::Admin::connect(options);
  ASSERT_TRUE(admin.ok()) << admin.status().to_string();
  for (const std::string& name : names) {
    auto info = (*admin)->describe_topic(name);
    ASSERT_TRUE(info.ok()) << name << ": " << info.status().to_string();
    ASSERT_EQ(info->partitions.size(), kPartitions) << name;
    for (const client::PartitionInfo& p : info->partitions)
      EXPECT_EQ(p.high_watermark, 1u) << name << " partition " << p.partition;
  }
}

// The `.log` files under `dir` process `pid` holds open.
size_t open_segment_files(pid_t pid, const std::string& dir) {
  size_t n = 0;
  for (const std::string& target : testing::open_files_under(pid, dir)) n += target.find(".log") != std::string::npos;
  return n;
}

// docs/broker.md, "File descriptors": each partition's active segment holds a descriptor and
// sealed segments share --max-open-segment-files of them, at open and while clients read
// every segment, however many segments the partitions retain.
TEST(BrokerDaemon, SealedSegmentsShareABoundedNumberOfDescriptorsAndStayReadable) {
  storage::testing::TempDir dir;
  constexpr uint32_t kPartitions = 2;
  constexpr int kBatches = 120;
  constexpr int kPerBatch = 10;
  const auto payload = [](uint32_t p, uint64_t offset) {
    std::string s = "p" + std::to_string(p) + "-o" + std::to_string(offset) + "-";
    s.resize(1000, static_cast<char>('a' + offset % 26));
    return s;
  };
  {
    core::EventStoreOptions options;
    options.data_dir = dir.path();
    auto store = core::EventStore::open(storage::FileSystem::posix(), options, nullptr);
    ASSERT_TRUE(store.ok()) << store.error().to_string();
    meta::TopicConfig cfg;
    cfg.name = "orders";
    cfg.partitions = kPartitions;
    cfg.durability = storage::Durability::kOs;
    cfg.segment_bytes = 64 << 10;  // about 60 events of 1 KB per segment
    auto topic = (*store)->create_topic(cfg);
    ASSERT_TRUE(topic.ok()) << topic.error().to_string();
    for (uint32_t p = 0; p < kPartitions; ++p) {
      for (int b = 0; b < kBatches; ++b) {
        std::vector<std::string> payloads;
        std::vector<batch::RecordInput> records;
        for (int i = 0; i < kPerBatch; ++i) payloads.push_back(payload(p, static_cast<uint64_t>(b * kPerBatch + i)));
        for (const std::string& body : payloads) records.push_back(batch::RecordInput{"k", "", "src", "type", {}, 0, body});
        ASSERT_TRUE((*store)->append(*topic, p, records, 0, storage::now_ms()).ok());
      }
      ASSERT_GE((*store)->partition("orders", p)->segment_count(), 15u);
    }
  }
  const uint16_t port = testing::pick_free_port();
  DaemonProcess broker(kBroker, {"--data-dir", dir.path(), "--listen", "127.0.0.1:" + std::to_string(port),
                                 "--registry-listen", "off", "--admin-listen", "off", "--max-open-segment-files", "3"});
  ASSERT_TRUE(broker.wait_for_output("ready", 30s)) << broker.output();
  EXPECT_LE(open_segment_files(broker.pid(), dir.path()), kPartitions + 3);

  client::ClientOptions options;
  options.broker = "127.0.0.1:" + std::to_string(port);
  auto admin = client::Admin::connect(options);
  ASSERT_TRUE(admin.ok()) << admin.status().to_string();
  for (int round = 0; round < 2; ++round) {  // the second round reopens what the first evicted
    for (uint32_t p = 0; p < kPartitions; ++p) {
      uint64_t next = 0;
      while (next < kBatches * kPerBatch) {
        auto got = (*admin)->fetch("orders", p, next, 100);
        ASSERT_TRUE(got.ok()) << got.status().to_string();
        ASSERT_FALSE(got->events.empty()) << "partition " << p << " at " << next;
        for (const client::FetchedEvent& e : got->events) {
          ASSERT_EQ(e.offset, next);
          ASSERT_EQ(e.payload, payload(p, next));
          ++next;
        }
        EXPECT_LE(open_segment_files(broker.pid(), dir.path()), kPartitions + 3);
      }
    }
  }
  admin->reset();
  broker.signal(SIGTERM);
  auto status = broker.wait_exit(30s);
  ASSERT_TRUE(status);
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << broker.output();
}

}  // namespace
}  // namespace causeway
