// Causal snapshots (causeway/client/reader.h, docs/client.md "Causal snapshots") against
// the real broker: publishers build causal chains across 3 topics x 4 partitions (each
// event names the events it was published after: its publisher's previous one, and events
// it read elsewhere), and every Lamport cut a Reader returns is causally closed - also
// while the chains are still being published. A Reader resumes from its position.
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <thread>

#include "causeway/client/admin.h"
#include "causeway/client/publisher.h"
#include "causeway/client/reader.h"
#include "tests/integration/daemon_process.h"
#include "tests/support/temp_dir.h"
#include "tests/support/waiting.h"

namespace causeway::client {
namespace {

using namespace std::chrono_literals;
using causeway::testing::pick_free_port;

const std::vector<std::string> kTopics{"accounts", "orders", "payments"};
constexpr uint32_t kPartitions = 4;

class CausalSnapshotTest : public ::testing::Test {
 protected:
  void SetUp() override {
    port_ = pick_free_port();
    broker_ = std::make_unique<testing::DaemonProcess>(
        CAUSEWAY_BROKER_BINARY, std::vector<std::string>{"--listen", "127.0.0.1:" + std::to_string(port_),
                                                         "--registry-listen", "off", "--data-dir", dir_.sub("data")});
    ASSERT_TRUE(broker_->wait_for_output("listening on ", 30s)) << broker_->output();
    options_.broker = "127.0.0.1:" + std::to_string(port_);
    options_.client_name = "causal_snapshot_test";
    options_.request_timeout = 10s;
    auto admin = Admin::connect(options_);
    ASSERT_TRUE(admin.ok());
    for (const std::string& t : kTopics) {
      TopicSpec spec;
      spec.name = t;
      spec.partitions = kPartitions;
      spec.durability = t == "payments" ? Durability::kFsync : Durability::kOs;
      ASSERT_TRUE((*admin)->create_topic(spec).ok());
    }
  }
  void TearDown() override {
    if (broker_) {
      EXPECT_TRUE(testing::stops_cleanly(*broker_));
    }
  }

  // One actor: publishes `n` events; each names as parents its own previous event (acked
  // before the next is published) and, half the time, the newest event of a random
  // partition of another topic, read just before (which advances its clock).
  void actor(int id, int n, uint64_t seed) {
    std::mt19937_64 rng(seed);
    auto pub = Publisher::connect(options_);
    ASSERT_TRUE(pub.ok()) << pub.status().to_string();
    auto admin = Admin::connect(options_);
    ASSERT_TRUE(admin.ok());
    std::string previous;
    for (int i = 0; i < n; ++i) {
      nlohmann::json parents = nlohmann::json::array();
      if (!previous.empty()) parents.push_back(previous);
      if (rng() % 2 == 0) {
        const std::string& topic = kTopics[rng() % kTopics.size()];
        const auto partition = static_cast<uint32_t>(rng() % kPartitions);
        auto info = (*admin)->describe_topic(topic);
        ASSERT_TRUE(info.ok());
        const uint64_t end = info->partitions[partition].high_watermark;
        if (end > 0) {
          auto got = (*admin)->fetch(topic, partition, end - 1, 1);
          ASSERT_TRUE(got.ok()) << got.status().to_string();
          for (const FetchedEvent& e : got->events) {
            parents.push_back(nlohmann::json::parse(e.payload)["id"]);
            // It was received: what this actor publishes next happened after it.
            ASSERT_TRUE((*pub)->observe_lamport(e.lamport).ok());
          }
        }
      }
      const std::string me = std::to_string(id) + "-" + std::to_string(i);
      Event e;
      e.key = "k" + std::to_string(rng() % 64);
      e.payload = nlohmann::json{{"id", me}, {"parents", parents}}.dump();
      auto ack = (*pub)->publish(kTopics[rng() % kTopics.size()], e).get();
      ASSERT_TRUE(ack.ok()) << ack.status().to_string();
      previous = me;
    }
  }

  // Reads a snapshot; checks its order and that it is causally closed. Returns the ids.
  std::set<std::string> check_snapshot(Reader::Options ro, uint64_t* cut = nullptr) {
    ro.topics = kTopics;
    auto reader = Reader::open(options_, ro);
    EXPECT_TRUE(reader.ok()) << reader.status().to_string();
    if (!reader) return {};
    if (cut != nullptr) *cut = (*reader)->cut();
    std::set<std::string> ids;
    std::map<std::string, std::vector<std::string>> parents;
    std::tuple<uint64_t, std::string, uint32_t, uint64_t> last{0, "", 0, 0};
    for (;;) {
      auto e = (*reader)->next();
      EXPECT_TRUE(e.ok()) << e.status().to_string();
      if (!e || !e->has_value()) break;
      const FetchedEvent& ev = **e;
      EXPECT_LE(ev.lamport, (*reader)->cut());
      const auto key = std::make_tuple(ev.lamport, ev.topic, ev.partition, ev.offset);
      EXPECT_LT(last, key) << "not in (lamport, topic, partition, offset) order";
      last = key;
      const auto body = nlohmann::json::parse(ev.payload);
      const std::string id = body["id"];
      EXPECT_TRUE(ids.insert(id).second) << id << " twice";
      parents[id] = body["parents"].get<std::vector<std::string>>();
    }
    for (const auto& [id, ps] : parents) {
      for (const std::string& p : ps) {
        EXPECT_TRUE(ids.count(p)) << "cut " << (*reader)->cut() << " holds " << id << " but not " << p
                                  << ", which happened before it";
      }
    }
    return ids;
  }

  testing::TempDir dir_;
  uint16_t port_ = 0;
  std::unique_ptr<testing::DaemonProcess> broker_;
  ClientOptions options_;
};

TEST_F(CausalSnapshotTest, EveryLamportCutIsCausallyClosedAcrossTopicsAndPartitions) {
  std::atomic<bool> publishing{true};
  std::vector<std::thread> actors;
  for (int a = 0; a < 4; ++a) actors.emplace_back([this, a] { actor(a, 150, 1000 + static_cast<uint64_t>(a)); });
  // Snapshots at the broker's clock while the chains grow.
  int live_snapshots = 0;
  std::thread reader([&] {
    while (publishing.load()) {
      (void)check_snapshot({});
      ++live_snapshots;
    }
  });
  for (auto& t : actors) t.join();
  publishing.store(false);
  reader.join();
  EXPECT_GT(live_snapshots, 0);

  // Everything is acked now: the full snapshot holds all 600, and every cut below it is
  // exactly the events stamped at or below it.
  uint64_t top = 0;
  const std::set<std::string> all = check_snapshot({}, &top);
  ASSERT_EQ(all.size(), 600u);
  std::mt19937_64 rng(7);
  for (int i = 0; i < 20; ++i) {
    Reader::Options ro;
    ro.until_lamport = rng() % (top + 1);
    uint64_t cut = 0;
    const std::set<std::string> ids = check_snapshot(ro, &cut);
    EXPECT_EQ(cut, *ro.until_lamport);
    EXPECT_LE(ids.size(), all.size());
  }
  // A cut above the broker's clock is lowered to it.
  Reader::Options above;
  above.until_lamport = top + 1000;
  uint64_t cut = 0;
  EXPECT_EQ(check_snapshot(above, &cut).size(), 600u);
  EXPECT_EQ(cut, top);
}

TEST_F(CausalSnapshotTest, AReaderContinuesFromItsPositionWithTheSameCut) {
  actor(0, 60, 42);
  Reader::Options ro;
  ro.topics = kTopics;
  ro.fetch_events = 7;  // several fetches per partition
  auto first = Reader::open(options_, ro);
  ASSERT_TRUE(first.ok());
  std::vector<std::string> seen;
  for (int i = 0; i < 25; ++i) {
    auto e = (*first)->next();
    ASSERT_TRUE(e.ok() && e->has_value());
    seen.push_back(nlohmann::json::parse((*e)->payload)["id"]);
  }
  const ReaderPosition pos = (*first)->position();
  auto parsed = ReaderPosition::parse(pos.to_string());
  ASSERT_TRUE(parsed.ok()) << parsed.status().to_string();
  EXPECT_EQ(*parsed, pos);
  actor(1, 10, 43);  // published after the cut: not in the continued snapshot
  Reader::Options more;
  more.topics = kTopics;
  more.from = *parsed;
  auto second = Reader::open(options_, more);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ((*second)->cut(), (*first)->cut());
  for (;;) {
    auto e = (*second)->next();
    ASSERT_TRUE(e.ok());
    if (!e->has_value()) break;
    seen.push_back(nlohmann::json::parse((*e)->payload)["id"]);
  }
  ASSERT_EQ(seen.size(), 60u);
  // Actor 0's chain, in order: each event after its predecessor.
  for (int i = 0; i < 60; ++i) EXPECT_EQ(seen[static_cast<size_t>(i)], "0-" + std::to_string(i));

  EXPECT_FALSE(ReaderPosition::parse("x").ok());
  EXPECT_FALSE(ReaderPosition::parse("5:orders:1").ok());
  EXPECT_FALSE(ReaderPosition::parse("5:orders/x:1").ok());
  Reader::Options wrong;
  wrong.topics = {"orders"};
  wrong.from = ReaderPosition{5, {{{"orders", 9}, 0}}};
  auto refused = Reader::open(options_, wrong);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("orders/9"), std::string_view::npos);
  Reader::Options none;
  EXPECT_FALSE(Reader::open(options_, none).ok());
  Reader::Options unknown;
  unknown.topics = {"nope"};
  EXPECT_EQ(Reader::open(options_, unknown).status().code(), Code::kNotFound);
}

TEST_F(CausalSnapshotTest, ATimeCutEndsAtTheLastEventAppendedByThen) {
  actor(0, 20, 1);
  auto admin = Admin::connect(options_);
  ASSERT_TRUE(admin.ok());
  uint64_t last_lamport = 0;
  int64_t last_time = 0;
  for (const std::string& t : kTopics) {
    auto info = (*admin)->describe_topic(t);
    ASSERT_TRUE(info.ok());
    for (const auto& p : info->partitions) {
      if (p.high_watermark == 0) continue;
      auto e = (*admin)->fetch(t, p.partition, p.high_watermark - 1, 1);
      ASSERT_TRUE(e.ok());
      if (e->events[0].lamport > last_lamport) {
        last_lamport = e->events[0].lamport;
        last_time = e->events[0].time_ms;
      }
    }
  }
  std::this_thread::sleep_for(20ms);
  actor(1, 5, 2);  // later
  Reader::Options ro;
  ro.until_time_ms = last_time;
  uint64_t cut = 0;
  const auto ids = check_snapshot(ro, &cut);
  EXPECT_GE(cut, last_lamport);
  for (int i = 0; i < 20; ++i) EXPECT_TRUE(ids.count("0-" + std::to_string(i))) << i;
  for (int i = 0; i < 5; ++i) EXPECT_FALSE(ids.count("1-" + std::to_string(i))) << i;
}

}  // namespace
}  // namespace causeway::client
