// HTTP rule targets against the real causeway-broker with the real client, and a real HTTP
// endpoint in the test (cpp-httplib) that answers by script (docs/targets.md, "HTTP
// targets"): 2xx acks, 5xx and 429 are retried (honouring Retry-After) with the same
// Idempotency-Key, other 4xx go to the dead-letter topic at once, a dead endpoint
// dead-letters after max attempts, --rate holds, a stuck endpoint does not hold another
// subscription, the key survives a kill -9 of the broker, and input transformation
// shapes the body as EventBridge's InputTransformer does.
#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>

#include <atomic>
#include <condition_variable>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "causeway/client/admin.h"
#include "causeway/client/publisher.h"
#include "tests/integration/cli_run.h"
#include "tests/integration/daemon_process.h"
#include "tests/integration/http_endpoint.h"
#include "tests/integration/target_fixture.h"
#include "tests/support/temp_dir.h"
#include "tests/support/waiting.h"

namespace causeway::client {
namespace {

using namespace std::chrono_literals;
using causeway::testing::eventually;
using causeway::testing::pick_free_port;
using testing_targets::header;
using testing_targets::Answer;
using testing_targets::Endpoint;
using testing_targets::Received;


class HttpTargetsTest : public testing_targets::TargetBrokerTest {
 protected:
  HttpTargetsTest() : TargetBrokerTest("http_targets_test") {}

  static SubscriptionSpec hook(const std::string& name, const std::string& topic, const std::string& url) {
    SubscriptionSpec s;
    s.name = name;
    s.topic = topic;
    s.start = StartPosition::earliest();
    s.target_http.url = url;
    s.backoff = 10ms;
    s.max_backoff = 50ms;
    return s;
  }

  // The target's counters once `done` holds for them: the endpoint's answer reaches the
  // counters a moment after the endpoint counted it.
  std::optional<TargetInfo> target_when(const std::string& name, const std::function<bool(const TargetInfo&)>& done) {
    std::optional<TargetInfo> last;
    (void)eventually(
        [&] {
          auto d = admin()->describe_subscription(name);
          if (!d.ok() || !d->target) return false;
          last = d->target;
          return done(*last);
        },
        10s);
    return last;
  }

  // Events 0..n-1 with payload {"n":i}, type order.paid for odd i, order.created for even.
  void publish_orders(const std::string& topic, int n, int first = 0) {
    auto p = Publisher::connect(options_);
    ASSERT_TRUE(p.ok()) << p.status().to_string();
    std::vector<std::future<Result<PublishAck>>> acks;
    for (int i = first; i < first + n; ++i) {
      Event e;
      e.key = "k" + std::to_string(i);
      e.source = "shop";
      e.type = i % 2 == 1 ? "order.paid" : "order.created";
      e.headers = {{"traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}};
      e.payload = R"({"n":)" + std::to_string(i) + "}";
      acks.push_back((*p)->publish(topic, e));
    }
    for (auto& f : acks) ASSERT_TRUE(f.get().ok());
  }

};

TEST_F(HttpTargetsTest, PostsEachMatchingEventOnceAsJsonWithItsKeyAndStaticHeaders) {
  Endpoint ep([](const Received&, int) { return Answer{}; });
  create_topic("orders", 2);
  SubscriptionSpec s = hook("paid-hook", "orders", ep.url());
  s.pattern = R"({"type":["order.paid"]})";
  s.target_http.headers = {{"Authorization", "Bearer s3cret-value"}, {"X-Team", "payments"}};
  auto created = admin()->create_subscription(s);
  ASSERT_TRUE(created.ok()) << created.status().to_string();
  publish_orders("orders", 20);

  ASSERT_TRUE(eventually([&] { return ep.acked().size() == 10; }, 20s)) << ep.received().size();
  std::this_thread::sleep_for(300ms);  // nothing more comes
  const auto got = ep.received();
  ASSERT_EQ(got.size(), 10u);
  std::set<int> numbers;
  std::set<std::string> keys;
  for (const Received& r : got) {
    const auto body = nlohmann::json::parse(r.body);
    EXPECT_EQ(body["type"], "order.paid");
    EXPECT_EQ(body["source"], "shop");
    EXPECT_EQ(body["topic"], "orders");
    EXPECT_TRUE(body.contains("time"));
    numbers.insert(body["data"]["n"].get<int>());
    EXPECT_EQ(r.content_type, "application/json");
    EXPECT_EQ(r.headers.at("Authorization"), "Bearer s3cret-value");
    EXPECT_EQ(r.headers.at("X-Team"), "payments");
    EXPECT_EQ(r.headers.at("traceparent"), "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
    EXPECT_EQ(r.headers.at("Causeway-Attempt"), "1");
    // subscription / source topic id / partition / offset.
    EXPECT_EQ(r.key, "paid-hook/1/" + r.headers.at("Causeway-Partition") + "/" + r.headers.at("Causeway-Offset"));
    keys.insert(r.key);
  }
  EXPECT_EQ(numbers, (std::set<int>{1, 3, 5, 7, 9, 11, 13, 15, 17, 19}));
  EXPECT_EQ(keys.size(), 10u);

  ASSERT_TRUE(target_when("paid-hook", [](const TargetInfo& i) { return i.delivered == 10; }).has_value());
  auto d = admin()->describe_subscription("paid-hook");
  ASSERT_TRUE(d.ok()) << d.status().to_string();
  ASSERT_TRUE(d->target.has_value());
  EXPECT_EQ(d->target->kind, "http");
  EXPECT_EQ(d->target->destination, ep.url());
  EXPECT_EQ(d->target->delivered, 10u);
  EXPECT_EQ(d->spec.target_http.url, ep.url());
  // The header values are never shown, nor logged.
  ASSERT_EQ(d->spec.target_http.headers.size(), 2u);
  EXPECT_EQ(d->spec.target_http.headers[0].first, "Authorization");
  EXPECT_EQ(d->spec.target_http.headers[0].second, "");
  EXPECT_EQ(broker_->output().find("s3cret"), std::string::npos);
}

TEST_F(HttpTargetsTest, RetriesServerErrorsAndHonoursRetryAfterWithTheSameKey) {
  // First 500, then 429 asking for 1 s, then 200.
  Endpoint ep([](const Received&, int seen) {
    if (seen == 0) return Answer{500, "down for a moment", {}};
    if (seen == 1) return Answer{429, "slow down", {{"Retry-After", "1"}}};
    return Answer{};
  });
  create_topic("orders", 1);
  ASSERT_TRUE(admin()->create_subscription(hook("retry-hook", "orders", ep.url())).ok());
  publish_orders("orders", 5);

  ASSERT_TRUE(eventually([&] { return ep.acked().size() == 5; }, 30s)) << ep.received().size();
  std::map<std::string, std::vector<Received>> by_key;
  for (const Received& r : ep.received()) by_key[r.key].push_back(r);
  ASSERT_EQ(by_key.size(), 5u);
  for (const auto& [key, tries] : by_key) {
    ASSERT_EQ(tries.size(), 3u) << key;
    EXPECT_EQ(tries[0].headers.at("Causeway-Attempt"), "1");
    EXPECT_EQ(tries[1].headers.at("Causeway-Attempt"), "2");
    EXPECT_EQ(tries[2].headers.at("Causeway-Attempt"), "3");
    EXPECT_EQ(tries[0].body, tries[2].body);
  }
  const auto t = target_when("retry-hook", [](const TargetInfo& i) { return i.delivered == 5 && i.retried == 10; });
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->delivered, 5u);
  EXPECT_EQ(t->retried, 10u);
  EXPECT_EQ(t->dead_lettered, 0u);
  EXPECT_NE(t->last_error.find("HTTP 429"), std::string::npos) << t->last_error;
}

TEST_F(HttpTargetsTest, RetryAfterIsWaitedUpToTheMaxBackoff) {
  Endpoint ep([](const Received&, int seen) {
    if (seen == 0) return Answer{503, "busy", {{"Retry-After", "1"}}};
    return Answer{};
  });
  create_topic("orders", 1);
  SubscriptionSpec s = hook("patient-hook", "orders", ep.url());
  s.max_backoff = 10s;
  ASSERT_TRUE(admin()->create_subscription(s).ok());
  publish_orders("orders", 1);
  ASSERT_TRUE(eventually([&] { return ep.acked().size() == 1; }, 20s));
  const auto got = ep.received();
  ASSERT_EQ(got.size(), 2u);
  // The subscription's own backoff is 10 ms; the endpoint asked for a second.
  EXPECT_GE(got[1].at - got[0].at, 900ms);
}

TEST_F(HttpTargetsTest, DeadLettersAClientErrorAtOnceWithStatusAndBody) {
  Endpoint ep([](const Received& r, int) {
    const auto body = nlohmann::json::parse(r.body);
    if (body["data"]["n"].get<int>() % 3 == 0) return Answer{422, "order is not valid: no items", {}};
    return Answer{};
  });
  create_topic("orders", 2);
  ASSERT_TRUE(admin()->create_subscription(hook("strict-hook", "orders", ep.url())).ok());
  publish_orders("orders", 9);

  ASSERT_TRUE(eventually([&] { return read_all_once_created("orders.dlq").size() == 3; }, 20s)) << broker_->output();
  ASSERT_TRUE(eventually([&] { return ep.acked().size() == 6; }, 10s));
  for (const FetchedEvent& e : read_all("orders.dlq")) {
    const std::string reason = header(e, "causeway-dlq-reason");
    EXPECT_NE(reason.find("HTTP 422"), std::string::npos) << reason;
    EXPECT_NE(reason.find("order is not valid: no items"), std::string::npos) << reason;
    EXPECT_EQ(header(e, "causeway-dlq-attempts"), "1");
  }
  EXPECT_EQ(ep.received().size(), 9u);  // each refused one was sent once
  const auto t = target_when("strict-hook", [](const TargetInfo& i) { return i.dead_lettered == 3 && i.delivered == 6; });
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->dead_lettered, 3u);
  EXPECT_EQ(t->delivered, 6u);
  EXPECT_EQ(t->retried, 0u);
}

TEST_F(HttpTargetsTest, ADeadEndpointDeadLettersAfterMaxAttempts) {
  create_topic("orders", 1);
  SubscriptionSpec s = hook("dead-hook", "orders", "http://127.0.0.1:" + std::to_string(pick_free_port()) + "/x");
  s.max_attempts = 3;
  ASSERT_TRUE(admin()->create_subscription(s).ok());
  publish_orders("orders", 4);
  ASSERT_TRUE(eventually([&] { return read_all_once_created("orders.dlq").size() == 4; }, 30s)) << broker_->output();
  for (const FetchedEvent& e : read_all("orders.dlq")) {
    const std::string reason = header(e, "causeway-dlq-reason");
    EXPECT_NE(reason.find("max attempts (3)"), std::string::npos) << reason;
    EXPECT_NE(reason.find("got no answer: cannot connect"), std::string::npos) << reason;
  }
}

TEST_F(HttpTargetsTest, AnHttpsTargetOnAPlainEndpointSaysItsHandshakeFailed) {
  Endpoint ep([](const Received&, int) { return Answer{}; });
  create_topic("orders", 1);
  std::string url = ep.url();
  url.replace(0, 4, "https");  // the endpoint speaks plain HTTP
  SubscriptionSpec s = hook("tls-hook", "orders", url);
  s.max_attempts = 2;
  ASSERT_TRUE(admin()->create_subscription(s).ok());
  publish_orders("orders", 1);
  ASSERT_TRUE(eventually([&] { return read_all_once_created("orders.dlq").size() == 1; }, 20s)) << broker_->output();
  const std::string reason = header(read_all("orders.dlq")[0], "causeway-dlq-reason");
  EXPECT_NE(reason.find("TLS handshake failed"), std::string::npos) << reason;
  EXPECT_TRUE(ep.acked().empty());
}

TEST_F(HttpTargetsTest, RateBoundsRequestsPerSecond) {
  Endpoint ep([](const Received&, int) { return Answer{}; });
  create_topic("orders", 4);
  SubscriptionSpec s = hook("slow-hook", "orders", ep.url());
  s.target_http.rate_per_second = 20;
  s.target_http.concurrency = 8;
  ASSERT_TRUE(admin()->create_subscription(s).ok());
  publish_orders("orders", 41);
  ASSERT_TRUE(eventually([&] { return ep.acked().size() == 41; }, 30s));
  auto got = ep.received();
  ASSERT_EQ(got.size(), 41u);
  std::sort(got.begin(), got.end(), [](const Received& a, const Received& b) { return a.at < b.at; });
  // 41 requests at 20/s: the last starts 2 s after the first at the earliest.
  EXPECT_GE(got.back().at - got.front().at, 1900ms);
  // And no second holds more than 20 (+1 for the window's edges).
  for (size_t i = 0; i < got.size(); ++i) {
    size_t in_window = 0;
    for (size_t j = i; j < got.size() && got[j].at - got[i].at < 1s; ++j) ++in_window;
    EXPECT_LE(in_window, 21u) << "from request " << i;
  }
}

TEST_F(HttpTargetsTest, AStuckEndpointDoesNotHoldAnotherSubscription) {
  std::mutex mu;
  std::condition_variable cv;
  bool release = false;
  Endpoint stuck([&](const Received&, int) {
    std::unique_lock lk(mu);
    cv.wait_for(lk, 20s, [&] { return release; });
    return Answer{};
  });
  Endpoint fast([](const Received&, int) { return Answer{}; });
  create_topic("orders", 2);
  SubscriptionSpec a = hook("stuck-hook", "orders", stuck.url());
  a.target_http.concurrency = 2;
  a.target_http.timeout = 20s;
  a.ack_deadline = 60s;
  ASSERT_TRUE(admin()->create_subscription(a).ok());
  ASSERT_TRUE(admin()->create_subscription(hook("fast-hook", "orders", fast.url())).ok());
  publish_orders("orders", 50);
  ASSERT_TRUE(eventually([&] { return fast.acked().size() == 50; }, 20s)) << fast.received().size();
  EXPECT_LE(stuck.received().size(), 2u);  // two requests at a time, both hanging
  auto d = admin()->describe_subscription("stuck-hook");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->target->delivered, 0u);
  {
    std::lock_guard lk(mu);
    release = true;
  }
  cv.notify_all();
  ASSERT_TRUE(eventually([&] { return stuck.acked().size() == 50; }, 30s)) << stuck.received().size();
}

TEST_F(HttpTargetsTest, TheIdempotencyKeyIsTheSameAfterAKill9OfTheBroker) {
  std::atomic<bool> accept{false};
  Endpoint ep([&](const Received&, int) { return accept.load() ? Answer{} : Answer{503, "not yet", {}}; });
  create_topic("orders", 2);
  SubscriptionSpec s = hook("sure-hook", "orders", ep.url());
  s.max_attempts = 1000;
  ASSERT_TRUE(admin()->create_subscription(s).ok());
  publish_orders("orders", 10);
  ASSERT_TRUE(eventually(
      [&] {
        std::set<std::string> keys;
        for (const auto& r : ep.received()) keys.insert(r.key);
        return keys.size() == 10;
      },
      20s));
  std::set<std::string> before;
  for (const auto& r : ep.received()) before.insert(r.key);

  broker_->signal(SIGKILL);
  ASSERT_TRUE(broker_->wait_exit(10s).has_value());
  broker_.reset();
  accept.store(true);
  const size_t sent_before = ep.received().size();
  start_broker();
  ASSERT_TRUE(eventually([&] { return ep.acked().size() == 10; }, 30s)) << broker_->output();
  std::set<std::string> after;
  const auto got = ep.received();
  for (size_t i = sent_before; i < got.size(); ++i) after.insert(got[i].key);
  EXPECT_EQ(before, after);
  for (const auto& [key, n] : ep.acked()) EXPECT_EQ(n, 1) << key;
}

TEST_F(HttpTargetsTest, InputTransformationShapesTheBodyAsEventBridgeDoes) {
  Endpoint ep([](const Received&, int) { return Answer{}; });
  create_topic("orders", 1);
  // EventBridge's documented InputTransformer example, on our view of the event.
  SubscriptionSpec json = hook("json-hook", "orders", ep.url("/json"));
  json.input_paths = {{"n", "$.data.n"}, {"src", "$.source"}, {"missing", "$.data.nothing"}};
  json.input_template = R"({"order": <n>, "from": "<src>", "note": "order <n> from <src>", "none": <missing>})";
  ASSERT_TRUE(admin()->create_subscription(json).ok());
  SubscriptionSpec text = hook("text-hook", "orders", ep.url("/text"));
  text.input_paths = {{"n", "$.data.n"}, {"type", "$.type"}};
  text.input_template = "Order <n> is <type>";
  ASSERT_TRUE(admin()->create_subscription(text).ok());
  SubscriptionSpec part = hook("part-hook", "orders", ep.url("/part"));
  part.input_path = "$.data";
  ASSERT_TRUE(admin()->create_subscription(part).ok());
  publish_orders("orders", 1, 7);

  ASSERT_TRUE(eventually([&] { return ep.acked().size() == 3; }, 20s));
  std::map<std::string, Received> by_path;
  for (const Received& r : ep.received()) by_path[r.key.substr(0, r.key.find('/'))] = r;
  EXPECT_EQ(nlohmann::json::parse(by_path["json-hook"].body),
            nlohmann::json::parse(R"({"order": 7, "from": "shop", "note": "order 7 from shop", "none": null})"));
  EXPECT_EQ(by_path["json-hook"].content_type, "application/json");
  EXPECT_EQ(by_path["text-hook"].body, "Order 7 is order.paid");
  EXPECT_EQ(by_path["text-hook"].content_type, "text/plain; charset=utf-8");
  EXPECT_EQ(nlohmann::json::parse(by_path["part-hook"].body), nlohmann::json::parse(R"({"n":7})"));
}

TEST_F(HttpTargetsTest, ATopicTargetCarriesTheTransformedPayload) {
  create_topic("orders", 1);
  create_topic("amounts", 1);
  SubscriptionSpec s;
  s.name = "to-amounts";
  s.topic = "orders";
  s.start = StartPosition::earliest();
  s.target_topic = "amounts";
  s.input_path = "$.data";
  ASSERT_TRUE(admin()->create_subscription(s).ok());
  publish_orders("orders", 3);
  ASSERT_TRUE(eventually([&] { return read_all("amounts").size() == 3; }, 20s));
  std::set<std::string> payloads;
  for (const FetchedEvent& e : read_all("amounts")) {
    payloads.insert(e.payload);
    EXPECT_EQ(e.source, "shop");
    EXPECT_EQ(header(e, "causeway-source-topic"), "orders");
  }
  EXPECT_EQ(payloads, (std::set<std::string>{R"({"n":0})", R"({"n":1})", R"({"n":2})"}));
}

TEST_F(HttpTargetsTest, HostileAnswersNeitherHangNorFloodTheBroker) {
  // n % 3 == 0: 200 with a 4 MiB body (judged by its status; the body is not kept);
  // n % 3 == 1: a redirect (not followed: dead-lettered); n % 3 == 2: no answer within
  // the request timeout, twice (retried), then 200.
  Endpoint ep([](const Received& r, int seen) {
    const int n = nlohmann::json::parse(r.body)["data"]["n"].get<int>();
    if (n % 3 == 0) return Answer{200, std::string(4u << 20, 'z'), {}};
    if (n % 3 == 1) return Answer{302, "moved", {{"Location", "http://127.0.0.1:1/elsewhere"}}};
    if (seen < 2) std::this_thread::sleep_for(700ms);
    return Answer{};
  });
  create_topic("orders", 1);
  SubscriptionSpec s = hook("hostile-hook", "orders", ep.url());
  s.target_http.timeout = 300ms;
  s.target_http.concurrency = 4;
  ASSERT_TRUE(admin()->create_subscription(s).ok());
  publish_orders("orders", 6);
  ASSERT_TRUE(eventually([&] { return read_all_once_created("orders.dlq").size() == 2; }, 20s)) << broker_->output();
  ASSERT_TRUE(eventually(
      [&] {
        auto d = admin()->describe_subscription("hostile-hook");
        return d.ok() && d->target->delivered == 4;
      },
      20s))
      << [&] {
           auto d = admin()->describe_subscription("hostile-hook");
           std::string out = d.ok() ? "delivered " + std::to_string(d->target->delivered) + ", retried " +
                                          std::to_string(d->target->retried) + ", last error: " + d->target->last_error
                                    : d.status().to_string();
           for (const Received& r : ep.received()) out += "\n" + r.key;
           return out;
         }();
  for (const FetchedEvent& e : read_all("orders.dlq")) {
    EXPECT_NE(header(e, "causeway-dlq-reason").find("HTTP 302"), std::string::npos) << header(e, "causeway-dlq-reason");
  }
  const auto t = target_when("hostile-hook", [](const TargetInfo& i) { return i.retried >= 4; });
  ASSERT_TRUE(t.has_value());
  EXPECT_GE(t->retried, 4u);  // the two slow ones, twice each
  // The big answers were each taken once: delivered, not retried.
  std::map<std::string, int> tries;
  for (const Received& r : ep.received()) ++tries[r.key];
  for (const auto& [key, n] : tries) {
    const std::string offset = key.substr(key.rfind('/') + 1);
    if (std::stoi(offset) % 3 == 0) {
      EXPECT_EQ(n, 1) << key;
    }
  }
}

TEST_F(HttpTargetsTest, TheCliMakesAnHttpTargetFromAHeaderFileAndDeleteStopsIt) {
  Endpoint ep([](const Received&, int) { return Answer{}; });
  create_topic("orders", 2);
  const std::string headers = dir_.sub("hook.headers");
  {
    std::ofstream out(headers);
    out << "# the hook's credentials\nAuthorization: Bearer s3cret-value\n\nX-Team: payments\n";
  }
  const auto cli = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {"--broker", options_.broker});
    return testing::run_cli(args);
  };
  auto created = cli({"subscription", "create", "hook", "--topic", "orders", "--from", "earliest", "--target",
                      "http:" + ep.url(), "--header-file", headers, "--concurrency", "2", "--input-path", "$.data"});
  ASSERT_EQ(created.exit_code, 0) << created.output;
  EXPECT_NE(created.output.find("target http:" + ep.url()), std::string::npos) << created.output;
  EXPECT_NE(created.output.find("headers Authorization, X-Team"), std::string::npos) << created.output;
  EXPECT_EQ(created.output.find("s3cret"), std::string::npos) << created.output;

  publish_orders("orders", 5);
  ASSERT_TRUE(eventually([&] { return ep.acked().size() == 5; }, 20s));
  ASSERT_EQ(target_when("hook", [](const TargetInfo& i) { return i.delivered == 5; })->delivered, 5u);
  for (const Received& r : ep.received()) {
    EXPECT_EQ(r.headers.at("Authorization"), "Bearer s3cret-value");
    EXPECT_TRUE(nlohmann::json::parse(r.body).contains("n")) << r.body;  // --input-path $.data
  }
  auto described = cli({"subscription", "describe", "hook", "--output", "json"});
  ASSERT_EQ(described.exit_code, 0) << described.output;
  ASSERT_EQ(described.objects().size(), 1u) << described.output;
  const auto d = described.objects()[0];
  EXPECT_EQ(d["http"]["header_names"], nlohmann::json::array({"Authorization", "X-Team"}));
  EXPECT_EQ(d["http"]["concurrency"], 2);
  EXPECT_EQ(d["input_path"], "$.data");
  EXPECT_EQ(d["target_status"]["delivered"], 5);
  EXPECT_EQ(described.output.find("s3cret"), std::string::npos);
  EXPECT_EQ(broker_->output().find("s3cret"), std::string::npos);

  // Deleting the subscription stops the requests.
  auto deleted = cli({"subscription", "delete", "hook"});
  ASSERT_EQ(deleted.exit_code, 0) << deleted.output;
  publish_orders("orders", 5, 5);
  std::this_thread::sleep_for(1s);
  EXPECT_EQ(ep.received().size(), 5u);

  // Every event of both partitions, merged in Lamport order.
  auto merged = cli({"fetch", "orders", "--all-partitions", "--order", "lamport"});
  ASSERT_EQ(merged.exit_code, 0) << merged.output;
  const auto events = merged.objects();
  ASSERT_EQ(events.size(), 10u) << merged.output;
  for (size_t i = 1; i < events.size(); ++i) EXPECT_LT(events[i - 1]["lamport"], events[i]["lamport"]);
  auto half = cli({"fetch", "orders", "--all-partitions", "--max", "4"});
  ASSERT_EQ(half.exit_code, 0) << half.output;
  const size_t at = half.output.find("--position ");
  ASSERT_NE(at, std::string::npos) << half.output;
  const std::string position = half.output.substr(at + 11, half.output.find('\n', at) - at - 11);
  auto rest = cli({"fetch", "orders", "--all-partitions", "--position", position});
  ASSERT_EQ(rest.exit_code, 0) << rest.output;
  ASSERT_EQ(rest.objects().size(), 6u) << rest.output;
  EXPECT_EQ(rest.objects()[0]["lamport"], events[4]["lamport"]);
}

TEST_F(HttpTargetsTest, AnEventsTraceHeaderCannotInjectRequestHeaders) {
  Endpoint ep([](const Received&, int) { return Answer{}; });
  create_topic("orders", 1);
  ASSERT_TRUE(admin()->create_subscription(hook("trace-hook", "orders", ep.url())).ok());
  auto p = Publisher::connect(options_);
  ASSERT_TRUE(p.ok());
  Event bad;
  bad.payload = R"({"n":1})";
  bad.headers = {{"traceparent", "00-abc-def-01\r\nX-Injected: yes"}};
  Event good;
  good.payload = R"({"n":2})";
  good.headers = {{"traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}};
  ASSERT_TRUE((*p)->publish("orders", bad).get().ok());
  ASSERT_TRUE((*p)->publish("orders", good).get().ok());
  ASSERT_TRUE(eventually([&] { return ep.acked().size() == 2; }, 20s));
  for (const Received& r : ep.received()) {
    EXPECT_EQ(r.headers.count("X-Injected"), 0u);
    const int n = nlohmann::json::parse(r.body)["data"]["n"].get<int>();
    EXPECT_EQ(r.headers.count("traceparent"), n == 2 ? 1u : 0u) << r.body;
  }
}

TEST_F(HttpTargetsTest, CarelessCliInputIsRefusedNamingTheFlagAndCreatesNothing) {
  create_topic("orders", 2);
  create_topic("paid", 1);
  const auto cli = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {"--broker", options_.broker});
    return testing::run_cli(args);
  };
  const auto refused = [&](std::vector<std::string> args, int code, const std::string& needle) {
    auto r = cli(args);
    EXPECT_EQ(r.exit_code, code) << r.output;
    EXPECT_NE(r.output.find(needle), std::string::npos) << needle << "\n" << r.output;
  };
  const std::vector<std::string> create{"subscription", "create", "h", "--topic", "orders"};
  const auto with = [&](std::vector<std::string> more) {
    std::vector<std::string> args = create;
    args.insert(args.end(), more.begin(), more.end());
    return args;
  };
  refused(with({"--target", "http:localhost:8080"}), 2, "http:URL");
  refused(with({"--target", "http://127.0.0.1:9/x", "--rate", "fast"}), 2, "requests per second");
  refused(with({"--target", "topic:paid", "--rate", "5/s"}), 1, "--rate applies to an http target only");
  refused(with({"--input-path", "$.data"}), 1, "--input-path shapes what a topic or http target receives");
  refused(with({"--target", "http://127.0.0.1:9/x", "--header", "NoColon"}), 1, "is not 'Name: value'");
  refused(with({"--target", "http://127.0.0.1:9/x", "--header-file", dir_.sub("missing")}), 1, "cannot read");
  refused(with({"--target", "http://127.0.0.1:9/x", "--request-timeout", "40s"}), 1, "shorter than the ack deadline");
  refused(with({"--target", "http://127.0.0.1:9/x", "--input-paths", "[1]"}), 1, "--input-paths is not a JSON object");
  auto listed = cli({"subscription", "list", "--output", "json"});
  ASSERT_EQ(listed.exit_code, 0) << listed.output;
  EXPECT_TRUE(listed.objects().empty()) << listed.output;

  refused({"fetch", "orders", "--all-partitions", "--partition", "1"}, 2, "leave out --partition");
  refused({"fetch", "orders", "--partition", "0", "--until-lamport", "3"}, 2, "go with --all-partitions");
  refused({"fetch", "orders"}, 2, "--partition is required");
  refused({"fetch", "orders", "--all-partitions", "--position", "garbage"}, 1, "reader position \"garbage\"");
  refused({"fetch", "orders", "--all-partitions", "--until", "yesterday"}, 1, "is not an ISO 8601 time");
  refused({"fetch", "nope", "--all-partitions"}, 1, "not found");
  // Still serving.
  EXPECT_TRUE(admin()->list_topics().ok());
}

TEST_F(HttpTargetsTest, BadTargetsAreRefusedAtCreateNamingTheProblem) {
  create_topic("orders", 1);
  const auto refused = [&](SubscriptionSpec s, const std::string& needle) {
    auto r = admin()->create_subscription(s);
    ASSERT_FALSE(r.ok()) << needle;
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument) << r.status().to_string();
    EXPECT_NE(r.status().message().find(needle), std::string::npos) << r.status().to_string();
    auto listed = admin()->list_subscriptions("orders");
    ASSERT_TRUE(listed.ok());
    EXPECT_TRUE(listed->empty());
  };
  refused(hook("h", "orders", "ftp://127.0.0.1/x"), "must start with http:// or https://");
  refused(hook("h", "orders", "http://user:pw@127.0.0.1/x"), "user information");
  refused(hook("h", "orders", "http://127.0.0.1:99999/x"), "port");
  refused(hook("h", "orders", "http:///x"), "no host");
  SubscriptionSpec s = hook("h", "orders", "http://127.0.0.1:9/x");
  s.target_http.headers = {{"X-Bad", "one\r\nX-Injected: two"}};
  refused(s, "control character");
  s.target_http.headers = {{"Idempotency-Key", "mine"}};
  refused(s, "set by the broker");
  s.target_http.headers = {{"Bad Name", "v"}};
  refused(s, "Bad Name");
  s = hook("h", "orders", "http://127.0.0.1:9/x");
  s.target_http.timeout = 30s;
  refused(s, "shorter than the ack deadline");
  s = hook("h", "orders", "http://127.0.0.1:9/x");
  s.target_http.concurrency = 0;
  refused(s, "concurrency");
  s = hook("h", "orders", "http://127.0.0.1:9/x");
  s.input_template = "<nope>";
  refused(s, "nope");
  s = hook("h", "orders", "http://127.0.0.1:9/x");
  s.input_path = "$..x";
  refused(s, "$..x");
  s = hook("h", "orders", "http://127.0.0.1:9/x");
  s.target_topic = "orders2";
  refused(s, "one target");
  // Nothing the broker could not take crashed it.
  EXPECT_TRUE(admin()->list_topics().ok());
}

}  // namespace
}  // namespace causeway::client
