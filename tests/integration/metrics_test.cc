// The admin port of the real causeway-broker (docs/operations.md): /metrics moves as a
// scripted workload runs (requests by kind and code, dedup hits, fsync latency, partition
// end offsets, group lag), passes Debian's `promtool check metrics`, and a real Prometheus
// scrapes it and finds the series; /healthz and /readyz answer; an admin address that is
// taken is refused at start naming it.
#include <gtest/gtest.h>
#include <httplib.h>
#include <sys/wait.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "causeway/client/admin.h"
#include "causeway/client/publisher.h"
#include "causeway/client/subscriber.h"
#include "tests/integration/daemon_process.h"
#include "tests/support/temp_dir.h"
#include "tests/support/waiting.h"

namespace causeway::client {
namespace {

using namespace std::chrono_literals;
using causeway::testing::DaemonProcess;
using causeway::testing::eventually;
using causeway::testing::pick_free_port;

// The value of the one series `name{labels}` in a text exposition (labels as written by
// the broker, in its order), or -1 when absent.
double value_of(const std::string& text, const std::string& series) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(series + " ", 0) == 0) return std::stod(line.substr(series.size() + 1));
  }
  return -1;
}

class MetricsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    port_ = pick_free_port();
    broker_ = std::make_unique<DaemonProcess>(
        CAUSEWAY_BROKER_BINARY, std::vector<std::string>{"--listen", "127.0.0.1:" + std::to_string(port_),
                                                         "--registry-listen", "off", "--admin-listen", "127.0.0.1:0",
                                                         "--data-dir", dir_.sub("data")});
    ASSERT_TRUE(broker_->wait_for_output("causeway-broker ready", 30s)) << broker_->output();
    const std::string out = broker_->output();
    const std::string said = "admin listening on http://127.0.0.1:";
    const size_t at = out.find(said);
    ASSERT_NE(at, std::string::npos) << out;
    admin_port_ = std::atoi(out.c_str() + at + said.size());
    ASSERT_GT(admin_port_, 0) << out;
    options_.broker = "127.0.0.1:" + std::to_string(port_);
    options_.client_name = "metrics_test";
  }
  void TearDown() override {
    if (broker_) {
      EXPECT_TRUE(causeway::testing::stops_cleanly(*broker_));
    }
  }

  httplib::Result get(const std::string& path) {
    httplib::Client c("127.0.0.1", admin_port_);
    c.set_read_timeout(10, 0);
    return c.Get(path);
  }
  std::string scrape() {
    auto r = get("/metrics");
    EXPECT_TRUE(r) << httplib::to_string(r.error());
    if (!r) return "";
    EXPECT_EQ(r->status, 200);
    EXPECT_NE(r->get_header_value("Content-Type").find("version=0.0.4"), std::string::npos);
    return r->body;
  }

  causeway::testing::TempDir dir_;
  uint16_t port_ = 0;
  int admin_port_ = 0;
  std::unique_ptr<DaemonProcess> broker_;
  ClientOptions options_;
};

TEST_F(MetricsTest, MetricsMoveWithTheWorkloadAndPassPromtool) {
  auto admin = Admin::connect(options_);
  ASSERT_TRUE(admin.ok()) << admin.status().to_string();
  TopicSpec spec;
  spec.name = "orders";
  spec.partitions = 2;
  ASSERT_TRUE((*admin)->create_topic(spec).ok());
  SubscriptionSpec sub;
  sub.name = "billing";
  sub.topic = "orders";
  sub.start = StartPosition::earliest();
  ASSERT_TRUE((*admin)->create_subscription(sub).ok());
  EXPECT_EQ((*admin)->describe_topic("nope").status().code(), Code::kNotFound);
  const std::string before = scrape();

  auto p = Publisher::connect(options_);
  ASSERT_TRUE(p.ok());
  std::vector<std::future<Result<PublishAck>>> acks;
  for (int i = 0; i < 10; ++i) {
    Event e;
    e.key = "k" + std::to_string(i);
    e.payload = "x";
    e.dedup_key = "d" + std::to_string(i % 7);  // 3 repeats: dedup hits
    acks.push_back((*p)->publish("orders", e));
  }
  for (auto& f : acks) ASSERT_TRUE(f.get().ok());

  const std::string after = scrape();
  EXPECT_EQ(value_of(before, "causeway_dedup_hits_total"), 0);
  EXPECT_EQ(value_of(after, "causeway_dedup_hits_total"), 3);
  EXPECT_EQ(value_of(before, "causeway_dedup_window_keys"), 0);
  EXPECT_EQ(value_of(after, "causeway_dedup_window_keys"), 7);  // distinct keys stored
  EXPECT_EQ(value_of(before, "causeway_dedup_window_bytes"), 0);
  EXPECT_GE(value_of(after, "causeway_dedup_window_bytes"), 7 * 36);  // at least a 36-byte slot a key
  EXPECT_EQ(value_of(after, "causeway_published_events_total"), 10);
  EXPECT_GE(value_of(after, "causeway_fsync_seconds_count"), 1);  // topics are fsync by default
  EXPECT_GT(value_of(after, "causeway_fsync_seconds_count"), value_of(before, "causeway_fsync_seconds_count"));
  // Every sync round is counted with the logs it covered (keyed events spread over the
  // topic's partitions, so rounds may share one syncfs), and covers at least one.
  EXPECT_EQ(value_of(after, "causeway_sync_round_logs_count"), value_of(after, "causeway_fsync_seconds_count"));
  EXPECT_GE(value_of(after, "causeway_sync_round_logs_sum"), value_of(after, "causeway_sync_round_logs_count"));
  EXPECT_EQ(value_of(after, R"(causeway_requests_total{code="NotFound",request="DescribeTopicRequest"})"), 1);
  EXPECT_GE(value_of(after, R"(causeway_requests_total{code="Ok",request="PublishRequest"})"), 1);
  const double end0 = value_of(after, R"(causeway_partition_end_offset{topic="orders",partition="0"})");
  const double end1 = value_of(after, R"(causeway_partition_end_offset{topic="orders",partition="1"})");
  EXPECT_EQ(end0 + end1, 7);  // 7 distinct keys stored
  const double lag0 = value_of(after, R"(causeway_group_lag{group="billing",topic="orders",partition="0"})");
  const double lag1 = value_of(after, R"(causeway_group_lag{group="billing",topic="orders",partition="1"})");
  EXPECT_EQ(lag0 + lag1, 7);
  EXPECT_GE(value_of(after, "causeway_connections"), 2);  // the admin and the publisher
  EXPECT_EQ(value_of(after, R"(causeway_build_info{version="0.1.0"})"), 1);

  // Debian's promtool checks the exposition (names, types, help, histogram shape).
  const std::string file = dir_.sub("metrics.txt");
  {
    std::ofstream out(file);
    out << after;
  }
  DaemonProcess promtool("/bin/sh", {"-c", "promtool check metrics < " + file});
  const auto code = promtool.wait_exit(30s);
  ASSERT_TRUE(code.has_value());
  EXPECT_TRUE(WIFEXITED(*code) && WEXITSTATUS(*code) == 0) << promtool.output();
}

// docs/broker.md, "Where a publish's time goes": every publish request is timed from the
// read that completed it to its response written, and its phases are disjoint parts of that
// time; the durability phases are counted only for `fsync` appends.
TEST_F(MetricsTest, PublishPhasesAccountForEveryPublishAndAddUpToItsTime) {
  auto admin = Admin::connect(options_);
  ASSERT_TRUE(admin.ok()) << admin.status().to_string();
  TopicSpec durable;
  durable.name = "durable";
  ASSERT_TRUE((*admin)->create_topic(durable).ok());
  TopicSpec fast;
  fast.name = "fast";
  fast.durability = Durability::kOs;
  ASSERT_TRUE((*admin)->create_topic(fast).ok());
  const std::string before = scrape();

  auto p = Publisher::connect(options_);
  ASSERT_TRUE(p.ok());
  constexpr int kDurable = 20;
  constexpr int kFast = 10;
  for (int i = 0; i < kDurable + kFast; ++i) {  // one at a time: one request, one append each
    Event e;
    e.payload = "event " + std::to_string(i);
    auto ack = (*p)->publish(i < kDurable ? "durable" : "fast", e).get();
    ASSERT_TRUE(ack.ok()) << ack.status().to_string();
  }
  // The response is counted once written, just after the client may already have read it.
  std::string after;
  ASSERT_TRUE(eventually(
      [&] {
        after = scrape();
        return value_of(after, "causeway_publish_seconds_count") -
                   value_of(before, "causeway_publish_seconds_count") >=
               kDurable + kFast;
      },
      10s));
  // A series made on first use (requests by kind and code) is absent before: count it 0.
  const auto delta = [&](const std::string& series) {
    return value_of(after, series) - std::max(0.0, value_of(before, series));
  };
  const auto phase = [&](const std::string& name, const std::string& what) {
    return delta("causeway_publish_phase_seconds_" + what + "{phase=\"" + name + "\"}");
  };
  EXPECT_EQ(delta("causeway_publish_seconds_count"), kDurable + kFast);
  EXPECT_EQ(delta(R"(causeway_requests_total{code="Ok",request="PublishRequest"})"), kDurable + kFast);
  for (const char* per_request : {"read", "write", "respond"}) EXPECT_EQ(phase(per_request, "count"), kDurable + kFast);
  for (const char* durable_only : {"sync_wait", "gather", "sync", "complete"})
    EXPECT_EQ(phase(durable_only, "count"), kDurable) << durable_only;
  // Each append waited for a real fdatasync, and the broker ran at least one per append.
  EXPECT_GT(phase("sync", "sum"), 0);
  EXPECT_GE(delta("causeway_fsync_seconds_count"), kDurable);
  double phases = 0;
  for (const char* name : {"read", "write", "sync_wait", "gather", "sync", "complete", "respond"})
    phases += phase(name, "sum");
  EXPECT_GT(phases, 0);
  EXPECT_LE(phases, delta("causeway_publish_seconds_sum") * 1.0001 + 1e-6);
}

// docs/broker.md, "Where a publish's time goes": a live subscriber's deliveries are timed
// after the append: the pump's wake-up, its reads, and each pushed frame's write.
TEST_F(MetricsTest, DeliveryPhasesAreTimedForALiveSubscriber) {
  auto admin = Admin::connect(options_);
  ASSERT_TRUE(admin.ok()) << admin.status().to_string();
  TopicSpec spec;
  spec.name = "live";
  ASSERT_TRUE((*admin)->create_topic(spec).ok());
  std::atomic<int> received{0};
  SubscriberOptions sub;
  sub.subscription = "watchers";
  sub.topic = "live";
  sub.settings.start = StartPosition::latest();
  auto s = Subscriber::start(options_, sub, [&](const DeliveredEvent&) {
    received.fetch_add(1);
    return Status();
  });
  ASSERT_TRUE(s.ok()) << s.status().to_string();
  const std::string before = scrape();
  auto p = Publisher::connect(options_);
  ASSERT_TRUE(p.ok());
  constexpr int kEvents = 5;
  for (int i = 0; i < kEvents; ++i) {  // one at a time, each delivered before the next
    Event e;
    e.payload = "event " + std::to_string(i);
    ASSERT_TRUE((*p)->publish("live", e).get().ok());
    ASSERT_TRUE(eventually([&] { return received.load() == i + 1; }, 10s));
  }
  std::string after;
  const auto delta = [&](const std::string& series) {
    return value_of(after, series) - std::max(0.0, value_of(before, series));
  };
  ASSERT_TRUE(eventually(
      [&] {
        after = scrape();
        return delta(R"(causeway_delivery_phase_seconds_count{phase="push"})") >= kEvents;
      },
      10s));
  // Each event woke the partition's pump (the first may have found the partition not yet
  // assigned, and been read when it was), was read, and went out in a frame of its own.
  EXPECT_GE(delta(R"(causeway_delivery_phase_seconds_count{phase="wake"})"), kEvents - 1);
  EXPECT_LE(delta(R"(causeway_delivery_phase_seconds_count{phase="wake"})"), kEvents);
  EXPECT_GE(delta(R"(causeway_delivery_phase_seconds_count{phase="read"})"), kEvents);
  EXPECT_EQ(delta(R"(causeway_delivery_phase_seconds_count{phase="push"})"), kEvents);
  EXPECT_GT(delta(R"(causeway_delivery_phase_seconds_sum{phase="wake"})"), 0);
  EXPECT_GT(delta(R"(causeway_delivery_phase_seconds_sum{phase="push"})"), 0);
}

TEST_F(MetricsTest, HealthAndReadinessAnswer) {
  auto health = get("/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  auto ready = get("/readyz");
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->status, 200);
  EXPECT_EQ(ready->body, "ready\n");
  auto unknown = get("/nope");
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->status, 404);
  // A request with a body larger than the port takes is refused without reading it.
  httplib::Client c("127.0.0.1", admin_port_);
  auto big = c.Post("/metrics", std::string(1 << 20, 'x'), "text/plain");
  if (big) {
    EXPECT_NE(big->status, 200);
  }
  EXPECT_EQ(get("/healthz")->status, 200);  // and the port still serves
}

TEST_F(MetricsTest, ARealPrometheusScrapesTheBroker) {
  const uint16_t prom_port = pick_free_port();
  const std::string config = dir_.sub("prometheus.yml");
  {
    std::ofstream out(config);
    out << "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        << "scrape_configs:\n  - job_name: causeway\n    static_configs:\n      - targets: ['127.0.0.1:" << admin_port_
        << "']\n";
  }
  auto admin = Admin::connect(options_);
  ASSERT_TRUE(admin.ok());
  TopicSpec spec;
  spec.name = "scraped";
  ASSERT_TRUE((*admin)->create_topic(spec).ok());
  DaemonProcess prometheus("/usr/bin/prometheus",
                           {"--config.file=" + config, "--storage.tsdb.path=" + dir_.sub("tsdb"),
                            "--web.listen-address=127.0.0.1:" + std::to_string(prom_port), "--log.level=warn"});
  httplib::Client c("127.0.0.1", prom_port);
  c.set_read_timeout(5, 0);
  std::string last;
  const bool found = eventually(
      [&] {
        auto r = c.Get("/api/v1/query?query=causeway_partition_end_offset%7Btopic%3D%22scraped%22%7D");
        if (!r || r->status != 200) return false;
        last = r->body;
        const auto j = nlohmann::json::parse(r->body, nullptr, false);
        return !j.is_discarded() && j["status"] == "success" && !j["data"]["result"].empty();
      },
      60s);
  EXPECT_TRUE(found) << last << "\n" << prometheus.output();
  auto targets = c.Get("/api/v1/targets");
  ASSERT_TRUE(targets);
  EXPECT_NE(targets->body.find("\"health\":\"up\""), std::string::npos) << targets->body;
  prometheus.signal(SIGTERM);
  EXPECT_TRUE(prometheus.wait_exit(30s).has_value());
}

TEST(DaemonLogs, WithLogFormatJsonEveryLineIsOneObject) {
  causeway::testing::TempDir dir;
  const uint16_t port = pick_free_port();
  DaemonProcess broker(CAUSEWAY_BROKER_BINARY,
                       {"--listen", "127.0.0.1:" + std::to_string(port), "--registry-listen", "off", "--admin-listen",
                        "127.0.0.1:0", "--log-format", "json", "--data-dir", dir.sub("data")});
  ASSERT_TRUE(broker.wait_for_output("causeway-broker ready", 30s)) << broker.output();
  ClientOptions options;
  options.broker = "127.0.0.1:" + std::to_string(port);
  auto admin = Admin::connect(options);
  ASSERT_TRUE(admin.ok());
  SubscriptionSpec sub;  // logs the default dead-letter topic it names, quoted
  sub.name = "quoted";
  sub.topic = "missing";
  EXPECT_FALSE((*admin)->create_subscription(sub).ok());
  TopicSpec spec;
  spec.name = "t";
  ASSERT_TRUE((*admin)->create_topic(spec).ok());
  // A refused request is logged with its correlation id, once per kind and code per 10 s:
  // 50 of the same refusal make one line.
  for (int i = 0; i < 50; ++i) EXPECT_EQ((*admin)->describe_topic("absent").status().code(), Code::kNotFound);
  ASSERT_TRUE(causeway::testing::stops_cleanly(broker));
  std::istringstream in(broker.output());
  int lines = 0;
  int describe_refusals = 0;
  int create_refusals = 0;
  for (std::string line; std::getline(in, line);) {
    ++lines;
    const auto j = nlohmann::json::parse(line, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << "not JSON: " << line;
    ASSERT_TRUE(j.contains("time") && j.contains("level") && j.contains("msg")) << line;
    const std::string msg = j["msg"];
    if (msg.find("DescribeTopicRequest (correlation id ") != std::string::npos) {
      ++describe_refusals;
      EXPECT_NE(msg.find("answered NotFound: "), std::string::npos) << msg;
      EXPECT_NE(msg.find("absent"), std::string::npos) << msg;
    }
    if (msg.find("CreateSubscriptionRequest (correlation id ") != std::string::npos) ++create_refusals;
  }
  EXPECT_GE(lines, 5) << broker.output();  // open, listening, admin, ready, stop...
  EXPECT_EQ(describe_refusals, 1) << broker.output();
  EXPECT_EQ(create_refusals, 1) << broker.output();
}

TEST(MetricsStartTest, AnAdminAddressThatIsTakenIsRefusedNamingIt) {
  causeway::testing::TempDir dir;
  httplib::Server squatter;
  const int taken = squatter.bind_to_any_port("127.0.0.1");
  ASSERT_GT(taken, 0);
  DaemonProcess broker(CAUSEWAY_BROKER_BINARY,
                       {"--listen", "127.0.0.1:0", "--registry-listen", "off", "--admin-listen",
                        "127.0.0.1:" + std::to_string(taken), "--data-dir", dir.sub("data")});
  const auto code = broker.wait_exit(30s);
  ASSERT_TRUE(code.has_value()) << broker.output();
  EXPECT_TRUE(WIFEXITED(*code) && WEXITSTATUS(*code) == 1) << *code;
  EXPECT_NE(broker.output().find("127.0.0.1:" + std::to_string(taken)), std::string::npos) << broker.output();
  EXPECT_NE(broker.output().find("--admin-listen"), std::string::npos) << broker.output();
  // The embedded registry's port the same way (cpp-httplib's default SO_REUSEPORT would
  // have let both bind and split the connections).
  DaemonProcess registry_clash(CAUSEWAY_BROKER_BINARY,
                               {"--listen", "127.0.0.1:0", "--registry-listen", "127.0.0.1:" + std::to_string(taken),
                                "--admin-listen", "off", "--data-dir", dir.sub("data3")});
  const auto clash = registry_clash.wait_exit(30s);
  ASSERT_TRUE(clash.has_value()) << registry_clash.output();
  EXPECT_TRUE(WIFEXITED(*clash) && WEXITSTATUS(*clash) == 1) << *clash;
  EXPECT_NE(registry_clash.output().find("--registry-listen"), std::string::npos) << registry_clash.output();
  DaemonProcess bad(CAUSEWAY_BROKER_BINARY, {"--admin-listen", "nowhere", "--data-dir", dir.sub("data2")});
  const auto usage = bad.wait_exit(30s);
  ASSERT_TRUE(usage.has_value());
  EXPECT_TRUE(WIFEXITED(*usage) && WEXITSTATUS(*usage) == 2) << *usage;
  EXPECT_NE(bad.output().find("--admin-listen"), std::string::npos) << bad.output();
}

}  // namespace
}  // namespace causeway::client
