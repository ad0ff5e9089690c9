// RemoteSchemaChecker under the publish pipeline, with a fake fetcher in place of HTTP: a
// cache miss never blocks the thread that publishes, one fetch serves every waiter of an
// id, a registry that cannot answer refuses events with Unavailable naming its URL and
// stores nothing, and a cached id is answered without a fetch.
#include "core/remote_schema_checker.h"

#include <flatbuffers/idl.h>
#include <nlohmann/json.hpp>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <future>
#include <mutex>
#include <optional>
#include <thread>

#include "core/publish_pipeline.h"
#include "tests/support/temp_dir.h"
#include "tests/unit/storage/fault_injection_fs.h"

namespace causeway::core {
namespace {

using causeway::testing::TempDir;
using ::testing::HasSubstr;

constexpr const char* kOrderSchema = "table Order { id: long; note: string; }\nroot_type Order;";
constexpr uint32_t kOrderId = 7;
constexpr const char* kUrl = "http://registry.test:8081";

std::string order_payload() {
  flatbuffers::Parser parser;
  EXPECT_TRUE(parser.Parse(kOrderSchema)) << parser.error_;
  EXPECT_TRUE(parser.Parse(R"({id: 1, note: "n"})")) << parser.error_;
  return std::string(reinterpret_cast<const char*>(parser.builder_.GetBufferPointer()), parser.builder_.GetSize());
}

// Answers id kOrderId as a version of "orders-value" and every other id as unknown, or
// fails every fetch while `down`; a fetch can be held until release().
class FakeFetcher final : public SchemaFetcher {
 public:
  Result<RemoteSchema> fetch(uint32_t schema_id) override {
    std::unique_lock lk(mu_);
    ++started_;
    cv_.notify_all();
    cv_.wait(lk, [&] { return !hold_; });
    if (down_) return unavailable("connection refused or timed out");
    if (schema_id != kOrderId) return not_found("schema id " + std::to_string(schema_id) + " does not exist");
    return RemoteSchema{{"orders-value"}, "FLATBUFFERS", kOrderSchema, "Order", {}, {}, {}};
  }
  const std::string& url() const override { return url_; }

  void hold() {
    std::lock_guard lk(mu_);
    hold_ = true;
  }
  void release() {
    std::lock_guard lk(mu_);
    hold_ = false;
    cv_.notify_all();
  }
  void set_down(bool down) {
    std::lock_guard lk(mu_);
    down_ = down;
  }
  void wait_started(int n) {
    std::unique_lock lk(mu_);
    cv_.wait(lk, [&] { return started_ >= n; });
  }

 private:
  const std::string url_ = kUrl;
  std::mutex mu_;  // guards everything below
  std::condition_variable cv_;
  bool hold_ = false;
  bool down_ = false;
  int started_ = 0;
};

struct Fixture {
  TempDir dir;
  storage::testing::FaultInjectionFs fs;
  std::unique_ptr<EventStore> store;
  FakeFetcher* fetcher = nullptr;
  std::unique_ptr<RemoteSchemaChecker> checker;

  explicit Fixture(RemoteSchemaCheckerOptions options = {}) {
    EventStoreOptions o;
    o.data_dir = dir.path();
    o.logs.background = false;
    auto s = EventStore::open(&fs, o, nullptr);
    EXPECT_TRUE(s.ok()) << s.error().to_string();
    store = std::move(*s);
    for (const char* name : {"orders", "plain"}) {
      meta::TopicConfig t;
      t.name = name;
      t.partitions = 1;
      t.durability = storage::Durability::kOs;
      if (std::string_view(name) == "orders") {
        t.schema_subject = "orders-value";
        t.validate_payloads = true;
      }
      EXPECT_TRUE(store->create_topic(t).ok());
    }
    auto f = std::make_unique<FakeFetcher>();
    fetcher = f.get();
    checker = std::make_unique<RemoteSchemaChecker>(std::move(f), options);
  }
  uint64_t stored(const char* topic) { return store->partition(topic, 0)->next_offset(); }
};

PublishEvent event(uint32_t schema_id, std::string_view payload) {
  PublishEvent e;
  e.record.schema_id = schema_id;
  e.record.payload = payload;
  return e;
}

struct Outcome {
  std::mutex mu;
  std::condition_variable cv;
  std::optional<Result<std::vector<EventAck>>> acks;

  PublishPipeline::Completion callback() {
    return [this](Result<std::vector<EventAck>> r) {
      std::lock_guard lk(mu);
      acks.emplace(std::move(r));
      cv.notify_all();
    };
  }
  bool done() {
    std::lock_guard lk(mu);
    return acks.has_value();
  }
  const std::vector<EventAck>& wait() {
    std::unique_lock lk(mu);
    cv.wait(lk, [&] { return acks.has_value(); });
    EXPECT_TRUE(acks->ok());
    return **acks;
  }
};

// check_async, waited for: the answer whether or not the id is cached yet.
SchemaCheck check(SchemaChecker& checker, std::string_view subject, uint32_t schema_id, std::string_view payload,
                  bool verify) {
  std::promise<SchemaCheck> answer;
  checker.check_async(subject, schema_id, payload, verify, [&](SchemaCheck c) { answer.set_value(std::move(c)); });
  return answer.get_future().get();
}

// A minimal HTTP/1.1 server on 127.0.0.1, port 0, for the HTTP fetcher: `respond(path)`
// gives the whole response (status line, headers, body) for each GET; one request per
// connection.
class FakeHttpServer {
 public:
  using Respond = std::function<void(const std::string& path, int fd)>;
  explicit FakeHttpServer(Respond respond) : respond_(std::move(respond)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    EXPECT_EQ(::listen(fd_, 16), 0);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    url_ = "http://127.0.0.1:" + std::to_string(ntohs(a.sin_port));
    thread_ = std::thread([this] { serve(); });
  }
  ~FakeHttpServer() {
    stopping_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    thread_.join();
    ::close(fd_);
  }
  const std::string& url() const { return url_; }

  // A whole response with `body` as application/json.
  static std::string response(int status, const std::string& body) {
    return "HTTP/1.1 " + std::to_string(status) + " X\r\nContent-Type: application/json\r\nContent-Length: " +
           std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
  }
  static void send_all(int fd, std::string_view s) {
    while (!s.empty()) {
      const ssize_t n = ::send(fd, s.data(), s.size(), MSG_NOSIGNAL);
      if (n <= 0) return;
      s.remove_prefix(static_cast<size_t>(n));
    }
  }

 private:
  void serve() {
    while (!stopping_) {
      const int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      std::string req;
      char buf[4096];
      while (req.find("\r\n\r\n") == std::string::npos) {
        const ssize_t n = ::recv(c, buf, sizeof buf, 0);
        if (n <= 0) break;
        req.append(buf, static_cast<size_t>(n));
      }
      const size_t sp = req.find(' ');
      const size_t sp2 = sp == std::string::npos ? sp : req.find(' ', sp + 1);
      if (sp2 != std::string::npos) respond_(req.substr(sp + 1, sp2 - sp - 1), c);
      ::close(c);
    }
  }
  Respond respond_;
  int fd_ = -1;
  std::string url_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

// A checker over the real HTTP fetcher asking `server`.
std::unique_ptr<RemoteSchemaChecker> http_checker(const FakeHttpServer& server, HttpFetcherOptions o = {}) {
  o.url = server.url();
  auto fetcher = make_http_schema_fetcher(o);
  EXPECT_TRUE(fetcher.ok());
  return std::make_unique<RemoteSchemaChecker>(std::move(*fetcher));
}

TEST(RemoteSchemaChecker, RegistryAnswerOfUnexpectedJsonTypesIsUnavailableNotACrash) {
  const std::string versions = R"([{"subject": "orders-value", "version": 1}])";
  const std::string schema = std::string(R"({"schema": ")") + "table Order { id: long; }\\nroot_type Order;" + "\"";
  FakeHttpServer server([&](const std::string& path, int fd) {
    if (path == "/schemas/ids/1/versions" || path == "/schemas/ids/1")
      return FakeHttpServer::send_all(fd, FakeHttpServer::response(404, R"({"error_code": "40403"})"));
    if (path.ends_with("/versions")) return FakeHttpServer::send_all(fd, FakeHttpServer::response(200, versions));
    if (path == "/schemas/ids/2")
      return FakeHttpServer::send_all(fd, FakeHttpServer::response(200, schema + R"(, "schemaType": null})"));
    if (path == "/schemas/ids/3")
      return FakeHttpServer::send_all(
          fd, FakeHttpServer::response(200, schema + R"(, "schemaType": "FLATBUFFERS", "rootType": 5})"));
    if (path == "/schemas/ids/4")
      return FakeHttpServer::send_all(fd, FakeHttpServer::response(200, schema + R"(, "schemaType": "FLATBUFFERS"})"));
    FakeHttpServer::send_all(fd, FakeHttpServer::response(500, "{}"));
  });
  auto checker = http_checker(server);
  const SchemaCheck string_code = check(*checker, "orders-value", 1, "", false);
  EXPECT_EQ(string_code.verdict, SchemaVerdict::kUnavailable);
  EXPECT_THAT(string_code.message, HasSubstr(server.url()));
  const SchemaCheck null_type = check(*checker, "orders-value", 2, "", false);
  EXPECT_EQ(null_type.verdict, SchemaVerdict::kUnavailable);
  EXPECT_THAT(null_type.message, HasSubstr(server.url()));
  EXPECT_THAT(null_type.message, HasSubstr("schemaType"));
  const SchemaCheck number_root = check(*checker, "orders-value", 3, "", false);
  EXPECT_EQ(number_root.verdict, SchemaVerdict::kUnavailable);
  EXPECT_THAT(number_root.message, HasSubstr("rootType"));
  // A well-formed answer still works over the same server.
  EXPECT_EQ(check(*checker, "orders-value", 4, "", false).verdict, SchemaVerdict::kOk);
}

// A fetcher that throws: every waiter is answered, Unavailable, and the process lives.
class ThrowingFetcher final : public SchemaFetcher {
 public:
  Result<RemoteSchema> fetch(uint32_t) override { throw std::runtime_error("boom"); }
  const std::string& url() const override { return url_; }

 private:
  const std::string url_ = kUrl;
};

TEST(RemoteSchemaChecker, FetcherExceptionAnswersWaitersWithUnavailable) {
  RemoteSchemaChecker checker(std::make_unique<ThrowingFetcher>());
  const SchemaCheck c = check(checker, "orders-value", kOrderId, "", false);
  EXPECT_EQ(c.verdict, SchemaVerdict::kUnavailable);
  EXPECT_THAT(c.message, HasSubstr(kUrl));
  EXPECT_THAT(c.message, HasSubstr("boom"));
}

TEST(RemoteSchemaChecker, CacheMissDoesNotBlockThePublishingThreadAndOneFetchServesEveryWaiter) {
  RemoteSchemaCheckerOptions o;
  o.cache_for = std::chrono::hours(1);  // no second fetch however slow the machine is
  Fixture f(o);
  PublishPipeline pipeline(*f.store, f.checker.get());
  f.fetcher->hold();
  const std::string payload = order_payload();

  // Everything below runs on this one thread, as publishes run on one network thread.
  // The request's bytes go away when publish_async returns, as a frame's would.
  Outcome first;
  {
    std::string frame = payload;
    const PublishEvent e = event(kOrderId, frame);
    pipeline.publish_async("orders", {&e, 1}, 0, 0, first.callback());
    frame.assign(frame.size(), '\0');
  }
  f.fetcher->wait_started(1);  // the fetch is running, held, on the checker's thread
  EXPECT_FALSE(first.done());

  // Another publish on the same thread completes while that fetch is held.
  Outcome other;
  const PublishEvent plain = event(0, "unbound");
  pipeline.publish_async("plain", {&plain, 1}, 0, 0, other.callback());
  const auto& plain_acks = other.wait();
  ASSERT_EQ(plain_acks.size(), 1u);
  EXPECT_TRUE(plain_acks[0].status.ok()) << plain_acks[0].status.to_string();

  // A second request for the same id joins the fetch in flight.
  Outcome second;
  const PublishEvent e2 = event(kOrderId, payload);
  pipeline.publish_async("orders", {&e2, 1}, 0, 0, second.callback());
  EXPECT_FALSE(first.done());
  EXPECT_FALSE(second.done());
  EXPECT_EQ(f.stored("orders"), 0u);

  f.fetcher->release();
  const auto& a = first.wait();
  const auto& b = second.wait();
  ASSERT_EQ(a.size(), 1u);
  ASSERT_EQ(b.size(), 1u);
  ASSERT_TRUE(a[0].status.ok()) << a[0].status.to_string();
  ASSERT_TRUE(b[0].status.ok()) << b[0].status.to_string();
  // Stored in the order they asked, each from its own copy of the request.
  EXPECT_EQ(a[0].offset, 0u);
  EXPECT_EQ(b[0].offset, 1u);
  EXPECT_EQ(f.checker->fetches_started(), 1u);

  // A third, after the fetch: from the cache (or, if the lookup thread has not put the
  // entry there yet, joining the same fetch), with no second fetch.
  auto third = pipeline.publish("orders", std::vector{event(kOrderId, payload)}, 0, 0);
  ASSERT_TRUE(third.ok());
  EXPECT_TRUE((*third)[0].status.ok());
  EXPECT_EQ(f.checker->fetches_started(), 1u);
  EXPECT_EQ(f.stored("orders"), 3u);
}

TEST(RemoteSchemaChecker, RegistryDownRefusesWithUnavailableNamingTheUrlAndStoresNothing) {
  RemoteSchemaCheckerOptions o;
  o.negative_cache_for = std::chrono::milliseconds(0);  // every publish asks again
  Fixture f(o);
  PublishPipeline pipeline(*f.store, f.checker.get());
  const std::string payload = order_payload();
  f.fetcher->set_down(true);

  auto refused = pipeline.publish("orders", std::vector{event(kOrderId, payload)}, 0, 0);
  ASSERT_TRUE(refused.ok());
  EXPECT_EQ((*refused)[0].status.code(), Code::kUnavailable);
  EXPECT_THAT(std::string((*refused)[0].status.message()), HasSubstr(kUrl));
  EXPECT_EQ(f.stored("orders"), 0u);

  // Other topics are not affected, in the same request stream.
  auto plain = pipeline.publish("plain", std::vector{event(0, "x")}, 0, 0);
  ASSERT_TRUE(plain.ok());
  EXPECT_TRUE((*plain)[0].status.ok());

  // Back up: the next publish looks the id up again and is stored first in the log. (Wait
  // until the failed fetch has finished answering: a publish arriving before that would
  // join it and share its answer.)
  f.checker->wait_idle();
  f.fetcher->set_down(false);
  auto stored = pipeline.publish("orders", std::vector{event(kOrderId, payload)}, 0, 0);
  ASSERT_TRUE(stored.ok());
  ASSERT_TRUE((*stored)[0].status.ok()) << (*stored)[0].status.to_string();
  EXPECT_EQ((*stored)[0].offset, 0u);
}

TEST(RemoteSchemaChecker, UnknownIdWrongSubjectAndBadPayloadAreRefusedEachWithItsReason) {
  Fixture f;
  PublishPipeline pipeline(*f.store, f.checker.get());
  const std::string payload = order_payload();
  const std::vector<PublishEvent> batch{event(99, payload), event(0, payload), event(kOrderId, "garbage"),
                                        event(kOrderId, payload)};
  auto acks = pipeline.publish("orders", batch, 0, 0);
  ASSERT_TRUE(acks.ok());
  ASSERT_EQ(acks->size(), 4u);
  EXPECT_EQ((*acks)[0].status.reason(), Reason::kSchemaMismatch);
  EXPECT_THAT(std::string((*acks)[0].status.message()), HasSubstr("schema id 99 does not exist"));
  EXPECT_EQ((*acks)[1].status.reason(), Reason::kSchemaMismatch);
  EXPECT_EQ((*acks)[2].status.reason(), Reason::kInvalidPayload);
  ASSERT_TRUE((*acks)[3].status.ok()) << (*acks)[3].status.to_string();
  EXPECT_EQ((*acks)[3].offset, 0u);

  const SchemaCheck other_subject = check(*f.checker, "users-value", kOrderId, payload, false);
  EXPECT_EQ(other_subject.verdict, SchemaVerdict::kNotAVersion);
  EXPECT_THAT(other_subject.message, HasSubstr("not a version of subject \"users-value\""));
  EXPECT_EQ(f.stored("orders"), 1u);
}

// References: a schema that includes a file of shared types (docs/registry.md,
// "References") is resolved from what the fetch brought back, and payloads are verified
// against the resolved schema.
constexpr const char* kMoney = "namespace common;\ntable Money { units:long; currency:string; }\n";
constexpr const char* kPayment =
    "include \"money.fbs\";\nnamespace pay;\ntable Payment { id:ulong; amount:common.Money; }\nroot_type Payment;\n";

std::string payment_payload() {
  flatbuffers::Parser parser;  // the same wire format, from one self-contained text
  EXPECT_TRUE(parser.Parse("namespace common; table Money { units:long; currency:string; }\n"
                           "namespace pay; table Payment { id:ulong; amount:common.Money; } root_type Payment;"));
  EXPECT_TRUE(parser.Parse(R"({id: 3, amount: {units: 990, currency: "EUR"}})")) << parser.error_;
  return std::string(reinterpret_cast<const char*>(parser.builder_.GetBufferPointer()), parser.builder_.GetSize());
}

// Answers a fixed RemoteSchema for every id.
class FixedFetcher final : public SchemaFetcher {
 public:
  explicit FixedFetcher(RemoteSchema answer) : answer_(std::move(answer)) {}
  Result<RemoteSchema> fetch(uint32_t) override { return answer_; }
  const std::string& url() const override { return url_; }

 private:
  RemoteSchema answer_;
  const std::string url_ = kUrl;
};

RemoteSchema payment_schema() {
  RemoteSchema r{{"payments-value"}, "FLATBUFFERS", kPayment, "", {{"money.fbs", "common", 1}}, {}, {}};
  r.referenced[{"common", 1}] = registry::ReferencedSchema{kMoney, {}};
  return r;
}

TEST(RemoteSchemaChecker, APayloadIsVerifiedAgainstTheSchemaWithItsReferencesResolved) {
  RemoteSchemaChecker checker(std::make_unique<FixedFetcher>(payment_schema()));
  const SchemaCheck ok = check(checker, "payments-value", 5, payment_payload(), true);
  EXPECT_EQ(ok.verdict, SchemaVerdict::kOk) << ok.message;
  EXPECT_EQ(check(checker, "payments-value", 5, "garbage!", true).verdict, SchemaVerdict::kInvalidPayload);
}

TEST(RemoteSchemaChecker, AReferenceTheRegistryDoesNotHaveMakesTheSchemaUnusableForFullValidation) {
  RemoteSchema r = payment_schema();
  r.referenced.clear();
  r.missing[{"common", 1}] = "Version 1 of subject 'common' not found (error 40402)";
  RemoteSchemaChecker checker(std::make_unique<FixedFetcher>(r));
  const SchemaCheck full = check(checker, "payments-value", 5, payment_payload(), true);
  EXPECT_EQ(full.verdict, SchemaVerdict::kNotAVersion);
  EXPECT_THAT(full.message, HasSubstr("include \"money.fbs\" (line 1): subject 'common' version 1 does not exist"));
  // With validate=id only membership counts, as for any schema that does not parse.
  EXPECT_EQ(check(checker, "payments-value", 5, "", false).verdict, SchemaVerdict::kOk);
}

TEST(RemoteSchemaChecker, AnIdWhoseSchemaHasNoRootTypeTakesNoEvents) {
  RemoteSchemaChecker checker(
      std::make_unique<FixedFetcher>(RemoteSchema{{"common-money"}, "FLATBUFFERS", kMoney, "", {}, {}, {}}));
  for (const bool full : {false, true}) {
    const SchemaCheck c = check(checker, "common-money", 4, payment_payload(), full);
    EXPECT_EQ(c.verdict, SchemaVerdict::kNotAVersion);
    EXPECT_THAT(c.message, HasSubstr("schema id 4 has no root type"));
  }
}

TEST(RemoteSchemaChecker, TheHttpFetcherFetchesReferencedVersionsOnceAndSurvivesAHostileCycle) {
  std::atomic<int> money_gets{0};
  const auto body = [](const char* schema, const std::string& refs) {
    return nlohmann::json({{"schema", schema}, {"schemaType", "FLATBUFFERS"}, {"references", nlohmann::json::parse(refs)}})
        .dump();
  };
  FakeHttpServer server([&](const std::string& path, int fd) {
    const auto send = [&](int status, const std::string& b) { FakeHttpServer::send_all(fd, FakeHttpServer::response(status, b)); };
    if (path.ends_with("/versions")) return send(200, R"([{"subject": "payments-value", "version": 1}])");
    if (path == "/schemas/ids/5" || path == "/schemas/ids/6")
      return send(200, body(kPayment, R"([{"name": "money.fbs", "subject": "common", "version": 1}])"));
    if (path == "/subjects/common/versions/1?deleted=true") {
      ++money_gets;
      return send(200, R"({"subject": "common", "version": 1, "id": 1, "schema": "namespace common;\ntable Money { units:long; currency:string; }\n"})");
    }
    // A registry that answers with versions including each other.
    if (path == "/schemas/ids/7")
      return send(200, body("include \"x.fbs\";\ntable T { a:int; }\nroot_type T;", R"([{"name": "x.fbs", "subject": "x", "version": 1}])"));
    if (path == "/subjects/x/versions/1?deleted=true")
      return send(200, body("include \"y.fbs\";\nnamespace x; table X { a:int; }", R"([{"name": "y.fbs", "subject": "y", "version": 1}])"));
    if (path == "/subjects/y/versions/1?deleted=true")
      return send(200, body("include \"x.fbs\";\nnamespace y; table Y { a:int; }", R"([{"name": "x.fbs", "subject": "x", "version": 1}])"));
    if (path == "/schemas/ids/8")
      return send(200, body(kPayment, R"([{"name": "money.fbs", "subject": "common", "version": "1"}])"));
    if (path == "/schemas/ids/9")
      return send(200, body(kPayment, R"([{"name": "money.fbs", "subject": "gone", "version": 1}])"));
    if (path == "/subjects/gone/versions/1?deleted=true")
      return send(404, R"({"error_code": 40401, "message": "Subject 'gone' not found."})");
    send(500, "{}");
  });
  auto checker = http_checker(server);
  const std::string payload = payment_payload();
  EXPECT_EQ(check(*checker, "payments-value", 5, payload, true).verdict, SchemaVerdict::kOk);
  EXPECT_EQ(check(*checker, "payments-value", 6, payload, true).verdict, SchemaVerdict::kOk);
  EXPECT_EQ(money_gets.load(), 1) << "the second id's lookup must take the referenced version from the cache";

  const SchemaCheck cycle = check(*checker, "payments-value", 7, "", true);
  EXPECT_EQ(cycle.verdict, SchemaVerdict::kNotAVersion);
  EXPECT_THAT(cycle.message, HasSubstr("form a cycle"));
  const SchemaCheck malformed = check(*checker, "payments-value", 8, payload, true);
  EXPECT_EQ(malformed.verdict, SchemaVerdict::kUnavailable);
  EXPECT_THAT(malformed.message, HasSubstr("references"));
  const SchemaCheck gone = check(*checker, "payments-value", 9, payload, true);
  EXPECT_EQ(gone.verdict, SchemaVerdict::kNotAVersion);
  EXPECT_THAT(gone.message, HasSubstr("Subject 'gone' not found"));
}

TEST(RemoteSchemaChecker, StopAnswersQueuedLookupsAndLaterOnesAtOnce) {
  RemoteSchemaCheckerOptions o;
  o.fetch_threads = 1;
  Fixture f(o);
  f.fetcher->hold();
  std::atomic<int> answered{0};
  std::vector<SchemaVerdict> verdicts(3);
  f.checker->check_async("orders-value", kOrderId, "", false, [&](SchemaCheck c) {
    verdicts[0] = c.verdict;
    ++answered;
  });
  f.fetcher->wait_started(1);
  f.checker->check_async("orders-value", 99, "", false, [&](SchemaCheck c) {  // queued behind it
    verdicts[1] = c.verdict;
    ++answered;
  });
  std::thread stopper([&] { f.checker->stop(); });
  while (answered.load() < 1) std::this_thread::yield();  // the queued one, answered by stop()
  EXPECT_EQ(verdicts[1], SchemaVerdict::kUnavailable);
  f.fetcher->release();
  stopper.join();
  EXPECT_EQ(answered.load(), 2);
  EXPECT_EQ(verdicts[0], SchemaVerdict::kOk);  // the running fetch finished and answered
  f.checker->check_async("orders-value", 5, "", false, [&](SchemaCheck c) { verdicts[2] = c.verdict; });
  EXPECT_EQ(verdicts[2], SchemaVerdict::kUnavailable);
}

TEST(RemoteSchemaChecker, DeferredRequestsAreBoundedInBytesAndPastTheBudgetRefusedAtOnce) {
  RemoteSchemaCheckerOptions o;
  o.cache_for = std::chrono::hours(1);
  Fixture f(o);
  PublishPipeline pipeline(*f.store, f.checker.get(), /*max_deferred_bytes=*/4096);
  f.fetcher->hold();
  const std::string payload = order_payload();

  Outcome first;
  const PublishEvent e1 = event(kOrderId, payload);
  pipeline.publish_async("orders", {&e1, 1}, 0, 0, first.callback());
  f.fetcher->wait_started(1);
  EXPECT_FALSE(first.done());
  EXPECT_GT(pipeline.deferred_bytes(), payload.size());

  // Past the budget: answered at once, Unavailable, nothing kept.
  const size_t held = pipeline.deferred_bytes();
  Outcome big;
  const std::string big_payload(8192, 'x');
  const std::vector<PublishEvent> batch{event(kOrderId, big_payload), event(kOrderId, payload)};
  pipeline.publish_async("orders", batch, 0, 0, big.callback());
  ASSERT_TRUE(big.done());
  const auto& refused = big.wait();
  ASSERT_EQ(refused.size(), 2u);
  for (const EventAck& a : refused) {
    EXPECT_EQ(a.status.code(), Code::kUnavailable);
    EXPECT_THAT(std::string(a.status.message()), HasSubstr("backlog full"));
  }
  EXPECT_EQ(pipeline.deferred_bytes(), held);

  f.fetcher->release();
  const auto& a = first.wait();
  ASSERT_TRUE(a[0].status.ok()) << a[0].status.to_string();
  f.checker->wait_idle();
  EXPECT_EQ(pipeline.deferred_bytes(), 0u);
  EXPECT_EQ(f.stored("orders"), 1u);
}

TEST(RemoteSchemaChecker, PendingLookupsAreCappedAndPastTheCapAnsweredAtOnce) {
  RemoteSchemaCheckerOptions o;
  o.fetch_threads = 1;
  o.max_pending_lookups = 2;
  Fixture f(o);
  f.fetcher->hold();
  std::atomic<int> answered{0};
  f.checker->check_async("orders-value", kOrderId, "", false, [&](SchemaCheck) { ++answered; });
  f.fetcher->wait_started(1);
  f.checker->check_async("orders-value", 100, "", false, [&](SchemaCheck) { ++answered; });  // queued
  f.checker->check_async("orders-value", kOrderId, "", false, [&](SchemaCheck) { ++answered; });  // joins
  EXPECT_EQ(answered.load(), 0);
  std::optional<SchemaCheck> refused;
  f.checker->check_async("orders-value", 101, "", false, [&](SchemaCheck c) { refused = std::move(c); });
  ASSERT_TRUE(refused.has_value());  // at once, no third lookup
  EXPECT_EQ(refused->verdict, SchemaVerdict::kUnavailable);
  EXPECT_THAT(refused->message, HasSubstr("backlog full"));
  f.fetcher->release();
  f.checker->wait_idle();
  EXPECT_EQ(answered.load(), 3);
  EXPECT_EQ(f.checker->fetches_started(), 2u);
}

TEST(RemoteSchemaChecker, OneRequestStartsAtMostSixteenLookups) {
  Fixture f;
  PublishPipeline pipeline(*f.store, f.checker.get());
  const std::string payload = order_payload();
  std::vector<PublishEvent> batch;
  for (uint32_t id = 100; id < 120; ++id) batch.push_back(event(id, payload));
  batch.push_back(event(100, payload));  // an id already waited on: no further lookup
  auto acks = pipeline.publish("orders", batch, 0, 0);
  ASSERT_TRUE(acks.ok());
  ASSERT_EQ(acks->size(), 21u);
  for (size_t i = 0; i < 16; ++i) EXPECT_EQ((*acks)[i].status.reason(), Reason::kSchemaMismatch) << i;
  for (size_t i = 16; i < 20; ++i) {
    EXPECT_EQ((*acks)[i].status.code(), Code::kUnavailable) << i;
    EXPECT_THAT(std::string((*acks)[i].status.message()), HasSubstr("retry"));
  }
  EXPECT_EQ((*acks)[20].status.reason(), Reason::kSchemaMismatch);
  f.checker->wait_idle();
  EXPECT_EQ(f.checker->fetches_started(), 16u);
}

TEST(RemoteSchemaChecker, AFullCacheEvictsFailedEntriesBeforeGoodOnes) {
  RemoteSchemaCheckerOptions o;
  o.cache_for = std::chrono::hours(1);
  o.negative_cache_for = std::chrono::hours(1);
  o.max_cached_ids = 4;
  Fixture f(o);
  EXPECT_EQ(check(*f.checker, "orders-value", kOrderId, "", false).verdict, SchemaVerdict::kOk);
  for (uint32_t id = 100; id < 110; ++id) {
    EXPECT_EQ(check(*f.checker, "orders-value", id, "", false).verdict, SchemaVerdict::kNotAVersion);
    f.checker->wait_idle();
  }
  // The good entry survived the unknown ids: still answered from the cache.
  const auto cached = f.checker->try_check("orders-value", kOrderId, "", false);
  ASSERT_TRUE(cached.has_value());
  EXPECT_EQ(cached->verdict, SchemaVerdict::kOk);
  EXPECT_EQ(f.checker->fetches_started(), 11u);
}

TEST(RemoteSchemaChecker, AHotIdEntersTheCacheWhileRequestsKeepJoiningItsLookup) {
  RemoteSchemaCheckerOptions o;
  o.cache_for = std::chrono::hours(1);
  Fixture f(o);
  // Every answer asks again for the same id, as a steady stream of requests would: the
  // lookup must still end and the id reach the cache.
  std::atomic<int> answered{0};
  std::atomic<int> from_cache{0};
  std::function<void(SchemaCheck)> again = [&](SchemaCheck c) {
    EXPECT_EQ(c.verdict, SchemaVerdict::kOk);
    if (f.checker->try_check("orders-value", kOrderId, "", false)) ++from_cache;
    if (++answered < 50) f.checker->check_async("orders-value", kOrderId, "", false, again);
  };
  f.checker->check_async("orders-value", kOrderId, "", false, again);
  f.checker->wait_idle();
  EXPECT_EQ(answered.load(), 50);
  EXPECT_GT(from_cache.load(), 0);
  EXPECT_EQ(f.checker->fetches_started(), 1u);
}

TEST(RemoteSchemaChecker, AnOversizedOrTricklingAnswerFailsTheLookupWithinItsDeadline) {
  std::atomic<bool> stop_trickle{false};
  FakeHttpServer server([&](const std::string& path, int fd) {
    if (path == "/schemas/ids/1/versions") {  // 2 MiB of JSON
      const std::string big = "[" + std::string(2u << 20, ' ') + "]";
      return FakeHttpServer::send_all(fd, FakeHttpServer::response(200, big));
    }
    if (path == "/schemas/ids/2/versions") {  // one byte every 50 ms, for 10 s
      FakeHttpServer::send_all(fd, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n");
      for (int i = 0; i < 200 && !stop_trickle; ++i) {
        if (::send(fd, " ", 1, MSG_NOSIGNAL) != 1) return;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
      return;
    }
    FakeHttpServer::send_all(fd, FakeHttpServer::response(500, "{}"));
  });
  HttpFetcherOptions o;
  o.lookup_deadline = std::chrono::milliseconds(500);
  auto checker = http_checker(server, o);
  const SchemaCheck big = check(*checker, "orders-value", 1, "", false);
  EXPECT_EQ(big.verdict, SchemaVerdict::kUnavailable);
  EXPECT_THAT(big.message, HasSubstr("larger than 1048576 bytes"));

  const auto start = std::chrono::steady_clock::now();
  const SchemaCheck slow = check(*checker, "orders-value", 2, "", false);
  const auto took = std::chrono::steady_clock::now() - start;
  stop_trickle = true;
  EXPECT_EQ(slow.verdict, SchemaVerdict::kUnavailable);
  EXPECT_THAT(slow.message, HasSubstr("deadline"));
  EXPECT_LT(took, std::chrono::milliseconds(2500));
}

TEST(RemoteSchemaChecker, ATopicDeletedOrRecreatedDuringTheLookupGetsNoneOfTheEvents) {
  RemoteSchemaCheckerOptions o;
  o.cache_for = std::chrono::milliseconds(0);  // every publish looks the id up
  Fixture f(o);
  PublishPipeline pipeline(*f.store, f.checker.get());
  const std::string payload = order_payload();
  auto recreate = [&] {
    meta::TopicConfig t;
    t.name = "orders";
    t.partitions = 1;
    t.durability = storage::Durability::kOs;
    t.schema_subject = "orders-value";
    ASSERT_TRUE(f.store->create_topic(t).ok());
  };

  // Deleted and recreated: FailedPrecondition, nothing in the new topic.
  f.fetcher->hold();
  Outcome recreated;
  const PublishEvent e = event(kOrderId, payload);
  pipeline.publish_async("orders", {&e, 1}, 0, 0, recreated.callback());
  f.fetcher->wait_started(1);
  ASSERT_TRUE(f.store->delete_topic("orders").ok());
  recreate();
  f.fetcher->release();
  const auto& a = recreated.wait();
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].status.code(), Code::kFailedPrecondition) << a[0].status.to_string();
  EXPECT_EQ(f.stored("orders"), 0u);

  // Deleted: NotFound.
  f.checker->wait_idle();
  f.fetcher->hold();
  Outcome deleted;
  const PublishEvent e2 = event(kOrderId, payload);
  pipeline.publish_async("orders", {&e2, 1}, 0, 0, deleted.callback());
  f.fetcher->wait_started(2);
  ASSERT_TRUE(f.store->delete_topic("orders").ok());
  f.fetcher->release();
  const auto& b = deleted.wait();
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(b[0].status.code(), Code::kNotFound) << b[0].status.to_string();
}

}  // namespace
}  // namespace causeway::core
