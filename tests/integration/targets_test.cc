// Rule targets against the real causeway-broker with the real client (docs/targets.md):
// a subscription with a target topic forwards its matching events there itself, keeping
// the event and adding where it came from, stamped above the original; chains work and
// loops are refused; a target that cannot be written retries and dead-letters; and a
// kill -9 mid-forward stores nothing twice and loses nothing.
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <deque>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "causeway/client/admin.h"
#include "causeway/client/publisher.h"
#include "causeway/client/subscriber.h"
#include "tests/integration/daemon_process.h"
#include "tests/integration/target_fixture.h"
#include "tests/support/temp_dir.h"
#include "tests/support/waiting.h"

namespace causeway::client {
namespace {

using namespace std::chrono_literals;
using causeway::testing::eventually;
using causeway::testing::pick_free_port;
using testing_targets::header;

class TargetsTest : public testing_targets::TargetBrokerTest {
 protected:
  TargetsTest() : TargetBrokerTest("targets_test") {}

  Result<SubscriptionInfo> forward(const std::string& name, const std::string& from, const std::string& to,
                                   const std::string& pattern = "") {
    SubscriptionSpec s;
    s.name = name;
    s.topic = from;
    s.start = StartPosition::earliest();
    s.pattern = pattern;
    s.target_topic = to;
    s.backoff = 10ms;
    s.max_backoff = 50ms;
    return admin()->create_subscription(s);
  }

  // Publishes events first..first+n-1: type order.paid for odd i, order.created for even.
  void publish_orders(const std::string& topic, int first, int n) {
    auto p = Publisher::connect(options_);
    ASSERT_TRUE(p.ok()) << p.status().to_string();
    std::vector<std::future<Result<PublishAck>>> acks;
    for (int i = first; i < first + n; ++i) acks.push_back((*p)->publish(topic, order(i)));
    for (auto& f : acks) ASSERT_TRUE(f.get().ok());
  }
  static Event order(int i) {
    Event e;
    e.key = "k" + std::to_string(i);
    e.dedup_key = "d" + std::to_string(i);
    e.source = "shop";
    e.type = i % 2 == 1 ? "order.paid" : "order.created";
    e.headers = {{"trace", "t" + std::to_string(i)}};
    e.payload = R"({"n":)" + std::to_string(i) + "}";
    return e;
  }
};

TEST_F(TargetsTest, ForwardsMatchingEventsKeepingThemWithSourceHeadersAndAHigherLamport) {
  create_topic("orders", 2);
  create_topic("paid", 1);
  auto created = forward("to-paid", "orders", "paid", R"({"type":["order.paid"]})");
  ASSERT_TRUE(created.ok()) << created.status().to_string();
  EXPECT_EQ(created->spec.target_topic, "paid");
  publish_orders("orders", 0, 100);
  ASSERT_TRUE(eventually([&] { return read_all("paid").size() >= 50; }, 20s)) << broker_->output();
  std::map<std::pair<uint32_t, uint64_t>, FetchedEvent> originals;
  for (auto& e : read_all("orders")) originals[{e.partition, e.offset}] = e;
  const auto forwarded = read_all("paid");
  ASSERT_EQ(forwarded.size(), 50u);
  std::set<std::string> keys;
  for (const auto& f : forwarded) {
    EXPECT_EQ(header(f, "causeway-source-topic"), "orders");
    const uint32_t p = static_cast<uint32_t>(std::stoul(header(f, "causeway-source-partition")));
    const uint64_t o = std::stoull(header(f, "causeway-source-offset"));
    auto it = originals.find({p, o});
    ASSERT_NE(it, originals.end()) << "no source event at " << p << "@" << o;
    const FetchedEvent& src = it->second;
    EXPECT_EQ(f.key, src.key);
    EXPECT_EQ(f.source, "shop");
    EXPECT_EQ(f.type, "order.paid");
    EXPECT_EQ(f.payload, src.payload);
    EXPECT_EQ(header(f, "trace"), header(src, "trace"));
    EXPECT_GT(f.lamport, src.lamport) << "a forwarded event is a causal child of its original";
    keys.insert(f.key);
  }
  EXPECT_EQ(keys.size(), 50u);
  // Its counters, and nothing in flight once done.
  ASSERT_TRUE(eventually(
      [&] {
        auto d = admin()->describe_subscription("to-paid");
        return d.ok() && d->target && d->target->delivered == 50 && d->target->in_flight == 0;
      },
      10s));
  auto d = admin()->describe_subscription("to-paid");
  ASSERT_TRUE(d.ok());
  ASSERT_TRUE(d->target.has_value());
  EXPECT_EQ(d->target->kind, "topic");
  EXPECT_EQ(d->target->destination, "paid");
  EXPECT_EQ(d->target->retried, 0u);
  EXPECT_EQ(d->target->dead_lettered, 0u);
  EXPECT_TRUE(d->target->last_error.empty());
  // Subscribers cannot join a subscription the broker consumes itself.
  SubscriberOptions so;
  so.subscription = "to-paid";
  so.topic = "orders";
  auto joined = Subscriber::connect(options_, so);
  ASSERT_FALSE(joined.ok());
  EXPECT_NE(joined.status().message().find("forwards its events to topic \"paid\""), std::string::npos)
      << joined.status().to_string();
}

TEST_F(TargetsTest, ChainsForwardAcrossTopicsAndLoopsAreRefusedAtCreate) {
  create_topic("a", 2);
  create_topic("b", 1);
  create_topic("c", 3);
  ASSERT_TRUE(forward("a-to-b", "a", "b").ok());
  ASSERT_TRUE(forward("b-to-c", "b", "c").ok());
  // Loops, direct or through other subscriptions, are refused with the path named.
  auto self = forward("a-to-a", "a", "a");
  ASSERT_FALSE(self.ok());
  EXPECT_EQ(self.status().code(), Code::kInvalidArgument);
  auto loop = forward("c-to-a", "c", "a");
  ASSERT_FALSE(loop.ok());
  EXPECT_EQ(loop.status().code(), Code::kInvalidArgument) << loop.status().to_string();
  EXPECT_NE(loop.status().message().find("c -> a (this subscription) -> b (subscription a-to-b) -> c (subscription "
                                         "b-to-c)"),
            std::string::npos)
      << loop.status().to_string();
  auto bad_name = forward("a-to-bad", "a", "bad/name");
  ASSERT_FALSE(bad_name.ok());
  EXPECT_EQ(bad_name.status().code(), Code::kInvalidArgument);
  EXPECT_NE(bad_name.status().message().find("target topic name \"bad/name\""), std::string::npos)
      << bad_name.status().to_string();
  auto missing = forward("a-to-nowhere", "a", "nowhere");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), Code::kNotFound);
  EXPECT_NE(missing.status().message().find("causeway topic create nowhere"), std::string::npos);
  // A diamond is not a loop.
  ASSERT_TRUE(forward("a-to-c", "a", "c").ok());

  publish_orders("a", 0, 40);
  ASSERT_TRUE(eventually([&] { return read_all("c").size() >= 80; }, 20s)) << broker_->output();
  const auto in_c = read_all("c");
  ASSERT_EQ(in_c.size(), 80u);  // 40 through b, 40 straight from a
  std::map<std::string, int> by_source;
  std::map<std::string, std::set<std::string>> keys;
  for (const auto& e : in_c) {
    by_source[header(e, "causeway-source-topic")]++;
    keys[header(e, "causeway-source-topic")].insert(e.key);
  }
  EXPECT_EQ(by_source["b"], 40);
  EXPECT_EQ(by_source["a"], 40);
  EXPECT_EQ(keys["b"].size(), 40u);
  EXPECT_EQ(keys["a"].size(), 40u);
  // Lamport grows along the chain: a -> b -> c.
  std::map<std::pair<uint32_t, uint64_t>, uint64_t> lamport_in_b;
  for (const auto& e : read_all("b")) lamport_in_b[{e.partition, e.offset}] = e.lamport;
  for (const auto& e : in_c) {
    if (header(e, "causeway-source-topic") != "b") continue;
    const auto it = lamport_in_b.find({static_cast<uint32_t>(std::stoul(header(e, "causeway-source-partition"))),
                                       std::stoull(header(e, "causeway-source-offset"))});
    ASSERT_NE(it, lamport_in_b.end());
    EXPECT_GT(e.lamport, it->second);
  }
}

TEST_F(TargetsTest, ATargetThatCannotBeWrittenRetriesThenDeadLettersWithTheReason) {
  create_topic("orders", 1);
  create_topic("gone", 1);
  SubscriptionSpec s;
  s.name = "to-gone";
  s.topic = "orders";
  s.start = StartPosition::earliest();
  s.target_topic = "gone";
  s.max_attempts = 3;
  s.backoff = 10ms;
  s.max_backoff = 20ms;
  ASSERT_TRUE(admin()->create_subscription(s).ok());
  ASSERT_TRUE(admin()->delete_topic("gone").ok());
  publish_orders("orders", 0, 5);
  ASSERT_TRUE(eventually([&] { return read_all("orders.dlq").size() >= 5; }, 20s)) << broker_->output();
  for (const auto& e : read_all("orders.dlq")) {
    EXPECT_NE(header(e, "causeway-dlq-reason").find("forwarding to topic \"gone\" failed"), std::string::npos)
        << header(e, "causeway-dlq-reason");
  }
  auto d = admin()->describe_subscription("to-gone");
  ASSERT_TRUE(d.ok());
  ASSERT_TRUE(d->target.has_value());
  EXPECT_EQ(d->target->delivered, 0u);
  EXPECT_GE(d->target->retried, 10u);  // 3 attempts each, the last one dead-letters
  EXPECT_EQ(d->target->dead_lettered, 5u);
  EXPECT_NE(d->target->last_error.find("gone"), std::string::npos) << d->target->last_error;
  EXPECT_GT(d->target->last_error_ms, 0);
}

// A target whose source topic is gone cannot start after a restart: the broker retries
// once a second and says why once, not on every sweep.
TEST_F(TargetsTest, ATargetThatCannotStartRetriesQuietly) {
  create_topic("orders", 1);
  create_topic("copy", 1);
  ASSERT_TRUE(forward("to-copy", "orders", "copy").ok());
  ASSERT_TRUE(admin()->delete_topic("orders").ok());
  broker_->signal(SIGTERM);
  ASSERT_TRUE(broker_->wait_exit(30s).has_value());
  start_broker();
  std::this_thread::sleep_for(2500ms);  // about 2 retries, 100 sweeps
  const std::string out = broker_->output();
  size_t warnings = 0;
  std::istringstream lines(out);
  for (std::string line; std::getline(lines, line);) {
    if (line.find("subscription to-copy: ") != std::string::npos &&
        line.find("retrying every second") != std::string::npos)
      ++warnings;
  }
  EXPECT_EQ(warnings, 1u) << out;
  auto d = admin()->describe_subscription("to-copy");
  ASSERT_TRUE(d.ok()) << d.status().to_string();
  EXPECT_EQ(d->spec.target_topic, "copy");
}

// kill -9 while events are being forwarded, 20 times, with a publisher running all along:
// every event of the source is in the target exactly once (the dedup keys absorb the
// forwards that were stored but not yet acked for the subscription when the broker died).
TEST_F(TargetsTest, EveryEventIsForwardedExactlyOnceThroughKill9MidForward) {
  create_topic("orders", 2);
  create_topic("copy", 2);
  ASSERT_TRUE(forward("to-copy", "orders", "copy").ok());
  std::atomic<bool> stop{false};
  std::atomic<int> published{0};
  std::thread publisher([&] {
    // Batches of 50 with dedup keys, up to 8 in flight: when the broker dies, everything
    // from the first batch without a known outcome is sent again (the source stores each
    // event once).
    int next = 0;  // every event below it is acked
    while (!stop.load()) {
      auto p = Publisher::connect(options_);
      if (!p.ok()) {
        std::this_thread::sleep_for(20ms);
        continue;
      }
      std::deque<std::vector<std::future<Result<PublishAck>>>> in_flight;
      int sent = next;
      bool failed = false;
      while (!stop.load() && !failed) {
        while (in_flight.size() < 8) {
          auto& batch = in_flight.emplace_back();
          for (int i = sent; i < sent + 50; ++i) batch.push_back((*p)->publish("orders", order(i)));
          sent += 50;
        }
        for (auto& f : in_flight.front()) failed = !f.get().ok() || failed;
        in_flight.pop_front();
        if (!failed) {
          next += 50;
          published.store(next);
        }
      }
      for (auto& batch : in_flight)
        for (auto& f : batch) (void)f.get();
    }
  });
  constexpr int kRounds = 20;
  int behind = 0;  // kills that came while the target was behind the source
  for (int round = 0; round < kRounds; ++round) {
    const int before = published.load();
    ASSERT_TRUE(eventually([&] { return published.load() >= before + 100; }, 20s)) << broker_->output();
    std::this_thread::sleep_for(std::chrono::milliseconds(round % 7));
    // Where forwarding stands right before the kill (the publisher keeps going meanwhile).
    uint64_t source = 0, copied = 0;
    {
      auto a = admin();
      for (auto [topic, n] : {std::pair<const char*, uint64_t*>{"orders", &source}, {"copy", &copied}}) {
        auto t = a->describe_topic(topic);
        ASSERT_TRUE(t.ok()) << t.status().to_string();
        for (const auto& p : t->partitions) *n += p.high_watermark;
      }
    }
    broker_->signal(SIGKILL);
    ASSERT_TRUE(broker_->wait_exit(10s).has_value());
    start_broker();
    if (copied < source) ++behind;
  }
  stop.store(true);
  publisher.join();
  RecordProperty("kills_while_forwarding", behind);
  // 14-16 of 20 here (2 cores, ASan); fewer would mean the test no longer kills mid-forward.
  EXPECT_GE(behind, kRounds / 4) << "the kills should land while forwarding is under way";
  const size_t total = read_all("orders").size();
  ASSERT_GE(total, static_cast<size_t>(published.load()));
  ASSERT_TRUE(eventually([&] { return read_all("copy").size() >= total; }, 60s))
      << read_all("copy").size() << " of " << total << " forwarded\n"
      << broker_->output();
  std::this_thread::sleep_for(300ms);  // anything forwarded twice would show up now
  std::map<std::pair<std::string, std::string>, int> copies;  // (partition, offset) -> count
  for (const auto& e : read_all("copy"))
    copies[{header(e, "causeway-source-partition"), header(e, "causeway-source-offset")}]++;
  EXPECT_EQ(copies.size(), total);
  for (const auto& [where, n] : copies) EXPECT_EQ(n, 1) << where.first << "@" << where.second << " forwarded " << n << "x";
  EXPECT_EQ(read_all("copy").size(), total);
}

}  // namespace
}  // namespace causeway::client
