// The real `causeway` binary's subscribe, group and subscription commands against a real
// causeway-broker (docs/subscriptions.md, "CLI"): one JSON line per event with its attempt,
// acks after printing unless --no-ack, --max and --timeout end the run with exit 0, the
// group's committed offsets and lag are visible through `group describe`, and mistakes get
// an error that names them and says what to do next.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "causeway/client/admin.h"
#include "causeway/client/publisher.h"
#include "tests/integration/cli_run.h"
#include "tests/integration/daemon_process.h"
#include "tests/support/temp_dir.h"
#include "tests/support/waiting.h"

namespace causeway::client {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using namespace std::chrono_literals;

using testing::CliRun;
using testing::run_cli;
using causeway::testing::eventually;

class SubscribeCli : public ::testing::Test {
 protected:
  void SetUp() override { start_broker("20ms"); }
  // Starts the broker on the fixture's data directory; `sweep` is how often it commits the
  // acked offsets on its own (--subscribe-sweep-interval).
  void start_broker(const std::string& sweep) {
    broker_ = std::make_unique<testing::DaemonProcess>(
        CAUSEWAY_BROKER_BINARY,
        std::vector<std::string>{"--listen", "127.0.0.1:0", "--registry-listen", "off", "--data-dir", dir_.sub("data"),
                                 "--group-session-timeout", "1s", "--subscribe-sweep-interval", sweep});
    // "ready" is logged after the address line, so that line is complete by then.
    ASSERT_TRUE(broker_->wait_for_output("causeway-broker ready", 30s)) << broker_->output();
    const std::string& out = broker_->output();
    const size_t at = out.find("listening on ") + std::string("listening on ").size();
    address_ = out.substr(at, out.find_first_of(" \n", at) - at);
    options_.broker = address_;
    options_.connect_timeout = 2s;
    options_.request_timeout = 10s;
  }
  // kill -9: nothing of the broker's in-memory state survives, only what reached the disk.
  void kill_broker() {
    broker_->signal(SIGKILL);
    auto status = broker_->wait_exit(30s);
    ASSERT_TRUE(status && WIFSIGNALED(*status)) << broker_->output();
  }
  uint64_t end_offset(const std::string& topic) {
    auto admin = Admin::connect(options_);
    EXPECT_TRUE(admin.ok());
    if (!admin.ok()) return 0;
    auto t = (*admin)->describe_topic(topic);
    EXPECT_TRUE(t.ok()) << t.status().to_string();
    uint64_t n = 0;
    if (t.ok())
      for (const auto& p : t->partitions) n += p.high_watermark;
    return n;
  }
  void TearDown() override { EXPECT_TRUE(testing::stops_cleanly(*broker_)); }

  void create_topic(const std::string& name, uint32_t partitions) {
    auto admin = Admin::connect(options_);
    ASSERT_TRUE(admin.ok()) << admin.status().to_string();
    TopicSpec spec;
    spec.name = name;
    spec.partitions = partitions;
    auto r = (*admin)->create_topic(spec);
    ASSERT_TRUE(r.ok()) << r.status().to_string();
  }

  // Publishes payloads "p0".."p<n-1>" with keys "k<i>"; returns when all are acked.
  void publish(const std::string& topic, int n) {
    auto p = Publisher::connect(options_);
    ASSERT_TRUE(p.ok()) << p.status().to_string();
    std::vector<std::future<Result<PublishAck>>> acks;
    for (int i = 0; i < n; ++i) {
      Event e;
      e.key = "k" + std::to_string(i);
      e.payload = "p" + std::to_string(i);
      acks.push_back((*p)->publish(topic, std::move(e)));
    }
    for (auto& f : acks) {
      auto ack = f.get();
      ASSERT_TRUE(ack.ok()) << ack.status().to_string();
    }
  }

  CliRun cli(std::vector<std::string> args) {
    args.insert(args.begin(), {"--broker", address_});
    return run_cli(args);
  }

  testing::TempDir dir_;
  std::unique_ptr<testing::DaemonProcess> broker_;
  std::string address_;
  ClientOptions options_;
};

TEST_F(SubscribeCli, PrintsOneJsonLinePerEventAcksItAndStopsAtMax) {
  create_topic("orders", 2);
  publish("orders", 6);

  auto first = cli({"subscribe", "orders", "--group", "billing", "--from", "earliest", "--max", "6", "--timeout", "20s"});
  ASSERT_EQ(first.exit_code, 0) << first.output;
  ASSERT_EQ(first.objects().size(), 6u) << first.output;
  std::set<std::string> payloads;
  std::map<uint32_t, uint64_t> next_offset;  // per partition: events come in offset order
  for (const auto& e : first.objects()) {
    EXPECT_EQ(e["topic"], "orders");
    EXPECT_EQ(e["attempt"], 1);
    EXPECT_EQ(e["key"].get<std::string>().substr(1), e["data"].get<std::string>().substr(1));
    const auto partition = e["partition"].get<uint32_t>();
    EXPECT_EQ(e["offset"].get<uint64_t>(), next_offset[partition]++) << first.output;
    payloads.insert(e["data"].get<std::string>());
  }
  EXPECT_EQ(payloads, (std::set<std::string>{"p0", "p1", "p2", "p3", "p4", "p5"}));

  // Everything was acked after printing: the next run of the group has nothing to say,
  // and exits 0 when --timeout passes without an event.
  auto second = cli({"subscribe", "orders", "--group", "billing", "--timeout", "1s"});
  EXPECT_EQ(second.exit_code, 0) << second.output;
  EXPECT_TRUE(second.objects().empty()) << second.output;

  auto described = cli({"group", "describe", "billing", "--topic", "orders", "--output", "json"});
  ASSERT_EQ(described.exit_code, 0) << described.output;
  ASSERT_EQ(described.objects().size(), 1u) << described.output;
  const auto g = described.objects()[0];
  EXPECT_EQ(g["group"], "billing");
  ASSERT_EQ(g["partitions"].size(), 2u);
  uint64_t committed = 0;
  for (const auto& p : g["partitions"]) {
    EXPECT_EQ(p["lag"], 0) << described.output;
    EXPECT_EQ(p["committed_offset"], p["end_offset"]) << described.output;
    committed += p["committed_offset"].get<uint64_t>();
  }
  EXPECT_EQ(committed, 6u);

  auto table = cli({"group", "describe", "billing"});
  EXPECT_EQ(table.exit_code, 0) << table.output;
  EXPECT_THAT(table.output, HasSubstr("COMMITTED-OFFSET"));
  EXPECT_THAT(table.output, HasSubstr("LAG"));
}

TEST_F(SubscribeCli, NoAckIsAPeekThatLeavesTheEventsWithTheirAttemptUnchanged) {
  create_topic("jobs", 1);
  publish("jobs", 3);

  auto unacked = cli({"subscribe", "jobs", "--group", "workers", "--from", "earliest", "--max", "3", "--no-ack",
                      "--timeout", "20s"});
  ASSERT_EQ(unacked.exit_code, 0) << unacked.output;
  ASSERT_EQ(unacked.objects().size(), 3u) << unacked.output;

  // The peek gave the three events back when it ended: the next member gets them again,
  // in offset order, and the peek did not count as a delivery attempt.
  auto again = cli({"subscribe", "jobs", "--group", "workers", "--max", "3", "--timeout", "20s"});
  ASSERT_EQ(again.exit_code, 0) << again.output;
  const auto redelivered = again.objects();
  ASSERT_EQ(redelivered.size(), 3u) << again.output;
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(redelivered[i]["offset"], i);
    EXPECT_EQ(redelivered[i]["attempt"], 1) << again.output;
  }
  auto done = cli({"subscribe", "jobs", "--group", "workers", "--timeout", "1s"});
  EXPECT_EQ(done.exit_code, 0) << done.output;
  EXPECT_TRUE(done.objects().empty()) << done.output;
}

TEST_F(SubscribeCli, WithoutMaxTheCreditWindowHoldsManyEventsAndPeeksReachEveryPartition) {
  create_topic("jobs", 2);
  publish("jobs", 12);
  // One attempt before the dead-letter topic: were a peek an attempt, the second run would
  // dead-letter everything the first one looked at.
  auto created = cli({"subscription", "create", "peek", "--topic", "jobs", "--from", "earliest", "--max-attempts", "1"});
  ASSERT_EQ(created.exit_code, 0) << created.output;
  for (int run = 0; run < 3; ++run) {
    auto peek = cli({"subscribe", "jobs", "--group", "peek", "--no-ack", "--timeout", "2s"});
    ASSERT_EQ(peek.exit_code, 0) << peek.output;
    const auto events = peek.objects();
    ASSERT_EQ(events.size(), 12u) << "run " << run << "\n" << peek.output;
    std::set<uint32_t> partitions;
    for (const auto& e : events) {
      EXPECT_EQ(e["attempt"], 1) << peek.output;
      partitions.insert(e["partition"].get<uint32_t>());
    }
    EXPECT_EQ(partitions, (std::set<uint32_t>{0, 1})) << peek.output;
  }
  EXPECT_EQ(end_offset("jobs.dlq"), 0u);
}

TEST_F(SubscribeCli, CreditFlagBoundsTheWindowAndAPeekStopsOnceItIsFull) {
  create_topic("jobs", 1);
  publish("jobs", 10);
  auto peek = cli({"subscribe", "jobs", "--group", "g", "--from", "earliest", "--no-ack", "--credit", "4",
                   "--timeout", "60s"});
  ASSERT_EQ(peek.exit_code, 0) << peek.output;
  EXPECT_EQ(peek.objects().size(), 4u) << peek.output;
  EXPECT_THAT(peek.output, HasSubstr("the whole credit window (--credit 4)"));
  auto bad = cli({"subscribe", "jobs", "--group", "g", "--credit", "0"});
  EXPECT_EQ(bad.exit_code, 2) << bad.output;
  EXPECT_THAT(bad.output, HasSubstr("--credit"));
}

TEST_F(SubscribeCli, EventsPushedBeyondMaxGoBackWithTheirAttemptUnchanged) {
  create_topic("jobs", 1);
  publish("jobs", 40);
  // The default window (1000) lets the broker push all 40 to the first run, which prints
  // and acks 5; the other 35 were never printed and must not count as an attempt.
  auto first = cli({"subscribe", "jobs", "--group", "g", "--from", "earliest", "--max", "5", "--timeout", "20s"});
  ASSERT_EQ(first.exit_code, 0) << first.output;
  ASSERT_EQ(first.objects().size(), 5u) << first.output;
  auto rest = cli({"subscribe", "jobs", "--group", "g", "--max", "35", "--timeout", "20s"});
  ASSERT_EQ(rest.exit_code, 0) << rest.output;
  const auto events = rest.objects();
  ASSERT_EQ(events.size(), 35u) << rest.output;
  for (size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ(events[i]["offset"], i + 5) << rest.output;
    EXPECT_EQ(events[i]["attempt"], 1) << rest.output;
  }
}

TEST_F(SubscribeCli, AckedEventsDoNotComeBackWhenTheBrokerIsKilledRightAfterTheCliExits) {
  // A broker that commits acked offsets only once an hour on its own: without a durable
  // ack before the CLI exits, all 50 would come back after the kill.
  broker_->signal(SIGTERM);
  ASSERT_TRUE(broker_->wait_exit(30s));
  start_broker("1h");
  create_topic("orders", 2);
  publish("orders", 80);
  auto consumed = cli({"subscribe", "orders", "--group", "billing", "--from", "earliest", "--max", "50",
                       "--timeout", "20s"});
  ASSERT_EQ(consumed.exit_code, 0) << consumed.output;
  ASSERT_EQ(consumed.objects().size(), 50u) << consumed.output;
  std::set<std::pair<uint32_t, uint64_t>> seen;
  for (const auto& e : consumed.objects()) seen.insert({e["partition"].get<uint32_t>(), e["offset"].get<uint64_t>()});
  kill_broker();
  start_broker("1h");
  auto after = cli({"subscribe", "orders", "--group", "billing", "--timeout", "3s"});
  ASSERT_EQ(after.exit_code, 0) << after.output;
  const auto events = after.objects();
  EXPECT_EQ(events.size(), 30u) << after.output;
  for (const auto& e : events) {
    EXPECT_EQ(seen.count({e["partition"].get<uint32_t>(), e["offset"].get<uint64_t>()}), 0u)
        << "acked before the kill, delivered again: " << e.dump();
  }
}

TEST_F(SubscribeCli, CtrlCEndsARunWithoutMaxCleanlyAndItsAcksSurviveAKill9) {
  broker_->signal(SIGTERM);
  ASSERT_TRUE(broker_->wait_exit(30s));
  start_broker("1h");  // no commit on its own: only the durable acks reach the disk
  create_topic("orders", 1);
  publish("orders", 5);
  testing::DaemonProcess run(CAUSEWAY_CLI_BINARY, {"--broker", address_, "subscribe", "orders", "--group", "tail",
                                                   "--from", "earliest", "--timeout", "60s"});
  ASSERT_TRUE(run.wait_for_output("\"data\":\"p4\"", 30s)) << run.output();
  run.signal(SIGINT);
  auto status = run.wait_exit(30s);
  ASSERT_TRUE(status && WIFEXITED(*status)) << run.output();
  EXPECT_EQ(WEXITSTATUS(*status), 0) << run.output();
  EXPECT_THAT(run.output(), HasSubstr("stopped by a signal after 5 event(s)"));
  kill_broker();
  start_broker("1h");
  auto after = cli({"subscribe", "orders", "--group", "tail", "--timeout", "2s"});
  ASSERT_EQ(after.exit_code, 0) << after.output;
  EXPECT_TRUE(after.objects().empty()) << after.output;
}

TEST_F(SubscribeCli, SettingsFlagsThatDifferFromAnExistingSubscriptionAreRefusedByBothCommands) {
  create_topic("payments", 1);
  auto created = cli({"subscription", "create", "audit", "--topic", "payments", "--ack-deadline", "10s"});
  ASSERT_EQ(created.exit_code, 0) << created.output;

  auto subscribe = cli({"subscribe", "payments", "--group", "audit", "--max-attempts", "3", "--timeout", "1s"});
  EXPECT_EQ(subscribe.exit_code, 1) << subscribe.output;
  EXPECT_THAT(subscribe.output, HasSubstr("--max-attempts: it has 10, asked 3"));
  EXPECT_THAT(subscribe.output, HasSubstr("cannot be changed"));
  // The flags not given are not compared: --ack-deadline stays 10s without a word.
  EXPECT_THAT(subscribe.output, Not(HasSubstr("--ack-deadline")));

  auto create = cli({"subscription", "create", "audit", "--topic", "payments", "--max-attempts", "3"});
  EXPECT_EQ(create.exit_code, 1) << create.output;
  EXPECT_THAT(create.output, HasSubstr("--max-attempts: it has 10, asked 3"));
  EXPECT_THAT(create.output, HasSubstr("--ack-deadline: it has 10s, asked 30s"));
  EXPECT_THAT(create.output, HasSubstr("cannot be changed"));

  // Flags that agree with the subscription are fine; --from on an existing one gets a note.
  auto same = cli({"subscribe", "payments", "--group", "audit", "--max-attempts", "10", "--from", "earliest",
                   "--timeout", "1s"});
  EXPECT_EQ(same.exit_code, 0) << same.output;
  EXPECT_THAT(same.output, HasSubstr("--from applies only when a subscription is created"));
  auto described = cli({"subscription", "describe", "audit", "--output", "json"});
  ASSERT_EQ(described.objects().size(), 1u) << described.output;
  EXPECT_EQ(described.objects()[0]["max_attempts"], 10);
}

TEST_F(SubscribeCli, SubscriptionDescribeShowsEverySetting) {
  create_topic("payments", 1);
  ASSERT_EQ(cli({"subscription", "create", "audit", "--topic", "payments", "--backoff", "2s", "--max-backoff", "90s"})
                .exit_code,
            0);
  auto table = cli({"subscription", "describe", "audit"});
  ASSERT_EQ(table.exit_code, 0) << table.output;
  for (const char* setting : {"from ", "ack-deadline ", "max-attempts ", "backoff 2s", "max-backoff 1m30s", "max-age ",
                              "dead-letter "}) {
    EXPECT_THAT(table.output, HasSubstr(setting)) << table.output;
  }
}

TEST_F(SubscribeCli, TargetTopicForwardsAndDescribeShowsItsCounters) {
  create_topic("orders", 2);
  create_topic("paid", 1);
  auto bad = cli({"subscription", "create", "r", "--topic", "orders", "--target", "lambda:x"});
  EXPECT_EQ(bad.exit_code, 2) << bad.output;
  EXPECT_THAT(bad.output, HasSubstr("group, topic:NAME"));
  auto loop = cli({"subscription", "create", "r", "--topic", "orders", "--target", "topic:orders"});
  EXPECT_EQ(loop.exit_code, 1) << loop.output;
  EXPECT_THAT(loop.output, HasSubstr("loop"));
  auto created = cli({"subscription", "create", "r", "--topic", "orders", "--from", "earliest", "--pattern",
                      R"({"key":[{"prefix":"k1"}]})", "--target", "topic:paid"});
  ASSERT_EQ(created.exit_code, 0) << created.output;
  EXPECT_THAT(created.output, HasSubstr("target topic:paid"));
  publish("orders", 20);  // keys k0..k19: k1 and k10..k19 match
  ASSERT_TRUE(eventually(
      [&] {
        auto d = cli({"subscription", "describe", "r", "--output", "json"});
        return d.exit_code == 0 && d.objects().size() == 1 && d.objects()[0]["target_status"]["delivered"] == 11;
      },
      20s));
  auto table = cli({"subscription", "describe", "r"});
  ASSERT_EQ(table.exit_code, 0) << table.output;
  EXPECT_THAT(table.output, HasSubstr("target topic:paid  delivered 11  retried 0  dead-lettered 0  in-flight 0"));
  auto json = cli({"subscription", "describe", "r", "--output", "json"});
  ASSERT_EQ(json.objects().size(), 1u);
  EXPECT_EQ(json.objects()[0]["target"], "topic:paid");
  // A re-create with another target names the difference.
  auto other = cli({"subscription", "create", "r", "--topic", "orders", "--from", "earliest", "--pattern",
                    R"({"key":[{"prefix":"k1"}]})", "--target", "group"});
  EXPECT_EQ(other.exit_code, 1) << other.output;
  EXPECT_THAT(other.output, HasSubstr("--target: it has topic:paid, asked group"));
  // Subscribers are told where the events go instead.
  auto joined = cli({"subscribe", "orders", "--group", "r", "--timeout", "1s"});
  EXPECT_NE(joined.exit_code, 0) << joined.output;
  EXPECT_THAT(joined.output, HasSubstr("forwards its events to topic \"paid\""));
  auto fetched = cli({"fetch", "paid", "--partition", "0"});
  ASSERT_EQ(fetched.exit_code, 0) << fetched.output;
  EXPECT_EQ(fetched.objects().size(), 11u) << fetched.output;
}

TEST_F(SubscribeCli, SubscriptionCommandsCreateListDescribeAndDelete) {
  create_topic("payments", 1);
  create_topic("payments-failed", 1);

  auto created = cli({"subscription", "create", "audit", "--topic", "payments", "--from", "earliest",
                      "--ack-deadline", "5s", "--max-attempts", "3", "--backoff", "200ms", "--max-age", "1h",
                      "--dead-letter", "payments-failed"});
  ASSERT_EQ(created.exit_code, 0) << created.output;

  auto listed = cli({"subscription", "list", "--topic", "payments", "--output", "json"});
  ASSERT_EQ(listed.exit_code, 0) << listed.output;
  EXPECT_THAT(listed.output, HasSubstr("\"audit\""));

  auto described = cli({"subscription", "describe", "audit", "--output", "json"});
  ASSERT_EQ(described.exit_code, 0) << described.output;
  ASSERT_EQ(described.objects().size(), 1u) << described.output;
  const auto s = described.objects()[0];
  EXPECT_EQ(s["topic"], "payments");
  EXPECT_EQ(s["from"], "earliest");
  EXPECT_EQ(s["ack_deadline_ms"], 5000);
  EXPECT_EQ(s["max_attempts"], 3);
  EXPECT_EQ(s["backoff_ms"], 200);
  EXPECT_EQ(s["max_age_ms"], 3600000);
  EXPECT_EQ(s["dead_letter_topic"], "payments-failed");

  // `subscribe --group audit` consumes that subscription rather than making a new one.
  publish("payments", 2);
  auto consumed = cli({"subscribe", "payments", "--group", "audit", "--max", "2", "--timeout", "20s"});
  ASSERT_EQ(consumed.exit_code, 0) << consumed.output;
  EXPECT_EQ(consumed.objects().size(), 2u) << consumed.output;

  auto deleted = cli({"subscription", "delete", "audit"});
  EXPECT_EQ(deleted.exit_code, 0) << deleted.output;
  auto gone = cli({"subscription", "describe", "audit"});
  EXPECT_EQ(gone.exit_code, 1) << gone.output;
  EXPECT_THAT(gone.output, HasSubstr("audit"));
  EXPECT_THAT(gone.output, HasSubstr("causeway subscription list"));
}

TEST_F(SubscribeCli, PatternsFilterWhatSubscribeAndSubscriptionsDeliverAndCanBeChanged) {
  create_topic("orders", 2);
  {
    auto p = Publisher::connect(options_);
    ASSERT_TRUE(p.ok()) << p.status().to_string();
    std::vector<std::future<Result<PublishAck>>> acks;
    for (int i = 0; i < 20; ++i) {
      Event e;
      e.key = "k" + std::to_string(i);
      e.type = i % 2 == 0 ? "order.created" : "order.paid";
      e.payload = R"({"n":)" + std::to_string(i) + "}";
      acks.push_back((*p)->publish("orders", std::move(e)));
    }
    for (auto& f : acks) ASSERT_TRUE(f.get().ok());
  }
  const std::string paid = R"({"type":["order.paid"],"data":{"n":[{"numeric":["<",10]}]}})";
  const std::string pattern_file = dir_.sub("paid.json");
  { std::ofstream(pattern_file) << paid; }

  // An ad-hoc filtered subscriber gets exactly the matching events, then nothing more.
  auto got = cli({"subscribe", "orders", "--group", "paid-cli", "--from", "earliest", "--pattern", "@" + pattern_file,
                  "--timeout", "2s"});
  ASSERT_EQ(got.exit_code, 0) << got.output;
  std::set<std::string> payloads;
  for (const auto& e : got.objects()) payloads.insert(e["data"].get<std::string>());  // JSON text, printed as stored
  EXPECT_EQ(payloads, (std::set<std::string>{R"({"n":1})", R"({"n":3})", R"({"n":5})", R"({"n":7})", R"({"n":9})"}))
      << got.output;
  auto group = cli({"group", "describe", "paid-cli", "--output", "json"});
  const auto described_group = group.objects();
  ASSERT_EQ(described_group.size(), 1u) << group.output;
  uint64_t matched = 0, filtered = 0, lag = 0;
  for (const auto& p : described_group[0]["partitions"]) {
    matched += p["matched"].get<uint64_t>();
    filtered += p["filtered"].get<uint64_t>();
    lag += p["lag"].get<uint64_t>();
  }
  EXPECT_EQ(matched, 5u);
  EXPECT_EQ(filtered, 15u);
  EXPECT_EQ(lag, 0u) << "filtered-out events are committed past";
  EXPECT_EQ(described_group[0]["subscription"]["pattern"], nlohmann::json::parse(paid));

  // Subscribing to it with another pattern is refused, pointing at `subscription update`.
  auto other = cli({"subscribe", "orders", "--group", "paid-cli", "--pattern", R"({"type":["order.created"]})",
                    "--timeout", "1s"});
  EXPECT_EQ(other.exit_code, 1) << other.output;
  EXPECT_THAT(other.output, HasSubstr("subscription update paid-cli --pattern"));

  // A durable subscription created with a pattern, shown by describe, and changed.
  auto created = cli({"subscription", "create", "big", "--topic", "orders", "--from", "earliest", "--pattern",
                      R"({"data":{"n":[{"numeric":[">=",18]}]}})"});
  ASSERT_EQ(created.exit_code, 0) << created.output;
  EXPECT_THAT(created.output, HasSubstr(R"(pattern {"data":{"n":[{"numeric":[">=",18]}]}})"));
  auto updated = cli({"subscription", "update", "big", "--pattern", R"({"data":{"n":[{"numeric":[">=",19]}]}})"});
  ASSERT_EQ(updated.exit_code, 0) << updated.output;
  auto big = cli({"subscribe", "orders", "--group", "big", "--timeout", "2s"});
  ASSERT_EQ(big.exit_code, 0) << big.output;
  ASSERT_EQ(big.objects().size(), 1u) << big.output;
  EXPECT_EQ(big.objects()[0]["data"], R"({"n":19})");
  auto removed = cli({"subscription", "update", "big", "--no-pattern", "--output", "json"});
  EXPECT_NE(removed.exit_code, 0) << "update has no --output";
  removed = cli({"subscription", "update", "big", "--no-pattern"});
  ASSERT_EQ(removed.exit_code, 0) << removed.output;
  auto described = cli({"subscription", "describe", "big", "--output", "json"});
  ASSERT_EQ(described.objects().size(), 1u) << described.output;
  EXPECT_TRUE(described.objects()[0]["pattern"].is_null());

  // Mistakes: the broker names the bad part; an empty or missing pattern is named too.
  auto bad = cli({"subscription", "create", "bad", "--topic", "orders", "--pattern", R"({"data":{"n":[{"numerc":[">",1]}]}})"});
  EXPECT_EQ(bad.exit_code, 1) << bad.output;
  EXPECT_THAT(bad.output, HasSubstr("data.n"));
  EXPECT_THAT(bad.output, HasSubstr("numerc"));
  auto not_json = cli({"subscription", "update", "big", "--pattern", "{type: paid}"});
  EXPECT_EQ(not_json.exit_code, 1) << not_json.output;
  EXPECT_THAT(not_json.output, HasSubstr("invalid pattern"));
  auto nothing = cli({"subscription", "update", "big"});
  EXPECT_EQ(nothing.exit_code, 1) << nothing.output;
  EXPECT_THAT(nothing.output, HasSubstr("--no-pattern"));
  auto no_file = cli({"subscription", "update", "big", "--pattern", "@" + dir_.sub("missing.json")});
  EXPECT_EQ(no_file.exit_code, 1) << no_file.output;
  EXPECT_THAT(no_file.output, HasSubstr("missing.json"));
  auto missing = cli({"subscription", "update", "nope", "--pattern", paid});
  EXPECT_EQ(missing.exit_code, 1) << missing.output;
  EXPECT_THAT(missing.output, HasSubstr("not found"));
}

TEST_F(SubscribeCli, MistakesAreNamedWithWhatToDoNext) {
  create_topic("orders", 1);

  auto bad_from = cli({"subscribe", "orders", "--group", "g", "--from", "yesterday", "--timeout", "1s"});
  EXPECT_NE(bad_from.exit_code, 0) << bad_from.output;
  EXPECT_THAT(bad_from.output, HasSubstr("yesterday"));
  EXPECT_THAT(bad_from.output, HasSubstr("earliest"));

  auto bad_timeout = cli({"subscribe", "orders", "--group", "g", "--timeout", "5"});
  EXPECT_NE(bad_timeout.exit_code, 0) << bad_timeout.output;
  EXPECT_THAT(bad_timeout.output, HasSubstr("--timeout"));

  auto missing_topic = cli({"subscribe", "nope", "--group", "g", "--timeout", "1s"});
  EXPECT_EQ(missing_topic.exit_code, 1) << missing_topic.output;
  EXPECT_THAT(missing_topic.output, HasSubstr("nope"));
  EXPECT_THAT(missing_topic.output, HasSubstr("causeway topic create"));

  auto create_on_missing_topic = cli({"subscription", "create", "s", "--topic", "nope"});
  EXPECT_EQ(create_on_missing_topic.exit_code, 1) << create_on_missing_topic.output;
  EXPECT_THAT(create_on_missing_topic.output, HasSubstr("causeway topic create"));
  EXPECT_THAT(create_on_missing_topic.output, Not(HasSubstr("causeway subscription list")));

  auto missing_group = cli({"group", "describe", "nobody"});
  EXPECT_EQ(missing_group.exit_code, 1) << missing_group.output;
  EXPECT_THAT(missing_group.output, HasSubstr("nobody"));
}

TEST(SubscribeCliWithoutBroker, SaysHowToStartOne) {
  auto r = run_cli({"--broker", "127.0.0.1:1", "subscribe", "orders", "--group", "g", "--timeout", "1s"});
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_THAT(r.output, HasSubstr("is causeway-broker running"));
}

TEST(SubscribeCliHelp, EverySubscribeCommandHasHelp) {
  for (const std::vector<std::string>& cmd :
       {std::vector<std::string>{"subscribe"}, {"group", "describe"}, {"subscription", "create"},
        {"subscription", "list"}, {"subscription", "describe"}, {"subscription", "delete"}}) {
    auto args = cmd;
    args.push_back("--help");
    auto r = run_cli(args);
    EXPECT_EQ(r.exit_code, 0) << cmd.back();
    EXPECT_THAT(r.output, HasSubstr("Usage")) << cmd.back();
  }
}

}  // namespace
}  // namespace causeway::client
