// The client API's guard rails against the real causeway-broker (docs/client.md): the
// Publisher's bound on pending events (fail fast, or block until acks make room, or until
// max_block), waiting calls refused with kFailedPrecondition from a callback on the
// client's network thread, and the on_error / on_connection_state callbacks across a
// broker that is killed (by its PID) and restarted on the same port.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>

#include <atomic>
#include <future>
#include <mutex>
#include <thread>
#include <vector>

#include "causeway/client/admin.h"
#include "causeway/client/publisher.h"
#include "causeway/client/subscriber.h"
#include "tests/integration/daemon_process.h"
#include "tests/support/temp_dir.h"
#include "tests/support/waiting.h"

namespace causeway::client {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using namespace std::chrono_literals;
using causeway::testing::eventually;
using causeway::testing::pick_free_port;

bool is_ready(const std::future<Result<PublishAck>>& f) { return f.wait_for(0s) == std::future_status::ready; }

Event event_with(std::string payload) {
  Event e;
  e.payload = std::move(payload);
  return e;
}

// What a client's callbacks saw, for assertions from the test's thread.
struct Recorder {
  std::mutex mu;
  std::vector<ConnectionState> states;
  std::vector<Status> errors;

  ConnectionStateCallback state_callback() {
    return [this](ConnectionState s) {
      std::lock_guard lock(mu);
      states.push_back(s);
    };
  }
  ErrorCallback error_callback() {
    return [this](const Status& s) {
      std::lock_guard lock(mu);
      errors.push_back(s);
    };
  }
  std::vector<ConnectionState> seen_states() {
    std::lock_guard lock(mu);
    return states;
  }
  std::vector<Status> seen_errors() {
    std::lock_guard lock(mu);
    return errors;
  }
};

class ClientApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    port_ = pick_free_port();
    start_broker();
    options_.broker = "127.0.0.1:" + std::to_string(port_);
    options_.client_name = "client_api_test";
    options_.connect_timeout = 2s;
    options_.request_timeout = 5s;
    auto admin = Admin::connect(options_);
    ASSERT_TRUE(admin.ok()) << admin.status().to_string();
    TopicSpec spec;
    spec.name = "t";
    ASSERT_TRUE((*admin)->create_topic(spec).ok());
  }
  void TearDown() override { broker_.reset(); }

  void start_broker() {
    broker_ = std::make_unique<testing::DaemonProcess>(
        CAUSEWAY_BROKER_BINARY,
        std::vector<std::string>{"--listen", "127.0.0.1:" + std::to_string(port_), "--registry-listen", "off",
                                 "--data-dir", dir_.sub("data"), "--group-session-timeout", "1s",
                                 "--subscribe-sweep-interval", "20ms"});
    ASSERT_TRUE(broker_->wait_for_output("listening on ", 30s)) << broker_->output();
  }

  // SIGKILL by the PID this test started; waits until it is gone.
  void kill_broker() {
    broker_->signal(SIGKILL);
    ASSERT_TRUE(broker_->wait_exit(10s).has_value());
  }

  // Reconnects quickly and never gives up within a test.
  PublisherOptions patient_publisher() {
    PublisherOptions po;
    po.max_retries = 100000;
    po.retry_backoff_initial = 20ms;
    po.retry_backoff_max = 200ms;
    return po;
  }

  testing::TempDir dir_;
  uint16_t port_ = 0;
  std::unique_ptr<testing::DaemonProcess> broker_;
  ClientOptions options_;
};

// ---------------------------------------------------------------- pending limits (item 1)

TEST_F(ClientApiTest, FailModeRefusesPublishesBeyondMaxPendingEventsWhileTheBrokerIsDown) {
  PublisherOptions po = patient_publisher();
  po.max_pending_events = 3;
  po.when_full = WhenFull::kFail;
  auto p = Publisher::connect(options_, po);
  ASSERT_TRUE(p.ok()) << p.status().to_string();
  kill_broker();

  std::vector<std::future<Result<PublishAck>>> pending;
  for (int i = 0; i < 3; ++i) pending.push_back((*p)->publish("t", event_with("e" + std::to_string(i))));
  auto refused = (*p)->publish("t", event_with("one too many"));
  ASSERT_TRUE(is_ready(refused)) << "a full publisher in fail mode must answer at once";
  Result<PublishAck> r = refused.get();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), Code::kResourceExhausted);
  EXPECT_THAT(r.error().message(), HasSubstr("max_pending_events 3"));
  for (auto& f : pending) EXPECT_FALSE(is_ready(f)) << "nothing can be acked while the broker is down";

  // The broker comes back: the three are acked, and that makes room again.
  start_broker();
  for (auto& f : pending) {
    ASSERT_EQ(f.wait_for(30s), std::future_status::ready);
    Result<PublishAck> ack = f.get();
    EXPECT_TRUE(ack.ok()) << ack.status().to_string();
  }
  auto after = (*p)->publish("t", event_with("room again"));
  ASSERT_EQ(after.wait_for(30s), std::future_status::ready);
  EXPECT_TRUE(after.get().ok());
  EXPECT_TRUE((*p)->close().ok());
}

TEST_F(ClientApiTest, FailModeCountsPendingBytesToo) {
  PublisherOptions po = patient_publisher();
  po.max_pending_bytes = 4096;
  po.when_full = WhenFull::kFail;
  auto p = Publisher::connect(options_, po);
  ASSERT_TRUE(p.ok()) << p.status().to_string();
  kill_broker();

  auto too_big = (*p)->publish("t", event_with(std::string(5000, 'x')));
  ASSERT_TRUE(is_ready(too_big));
  Result<PublishAck> big = too_big.get();
  ASSERT_FALSE(big.ok());
  EXPECT_EQ(big.error().code(), Code::kResourceExhausted);
  EXPECT_THAT(big.error().message(), HasSubstr("exceeds max_pending_bytes 4096 on its own"));

  // 1000-byte events: the fifth cannot fit in 4096 bytes, whatever the per-event overhead.
  std::vector<std::future<Result<PublishAck>>> pending;
  std::optional<Result<PublishAck>> refusal;
  for (int i = 0; i < 5 && !refusal; ++i) {
    auto f = (*p)->publish("t", event_with(std::string(1000, 'a')));
    if (is_ready(f)) {
      refusal = f.get();
    } else {
      pending.push_back(std::move(f));
    }
  }
  ASSERT_TRUE(refusal.has_value()) << "5000 bytes were accepted with max_pending_bytes 4096";
  EXPECT_GE(pending.size(), 3u);
  ASSERT_FALSE(refusal->ok());
  EXPECT_EQ(refusal->error().code(), Code::kResourceExhausted);
  EXPECT_THAT(refusal->error().message(), HasSubstr("max_pending_bytes 4096"));
}

TEST_F(ClientApiTest, BlockModeWaitsUntilAnAckMakesRoom) {
  PublisherOptions po = patient_publisher();
  po.max_pending_events = 1;
  po.when_full = WhenFull::kBlock;
  po.max_block = 60s;
  auto p = Publisher::connect(options_, po);
  ASSERT_TRUE(p.ok()) << p.status().to_string();
  kill_broker();

  auto first = (*p)->publish("t", event_with("first"));
  std::atomic<bool> started{false};
  bool first_done_when_second_returned = false;
  std::future<Result<PublishAck>> second;
  std::thread blocked([&] {
    started = true;
    second = (*p)->publish("t", event_with("second"));  // blocks: one event is pending
    first_done_when_second_returned = is_ready(first);
  });
  ASSERT_TRUE(eventually([&] { return started.load(); }, 10s));
  EXPECT_FALSE(is_ready(first));
  // Only the first event's ack (once the broker is back) can let the second in.
  start_broker();
  blocked.join();
  EXPECT_TRUE(first_done_when_second_returned) << "publish() returned before an ack made room";
  Result<PublishAck> a = first.get();
  EXPECT_TRUE(a.ok()) << a.status().to_string();
  ASSERT_EQ(second.wait_for(30s), std::future_status::ready);
  Result<PublishAck> b = second.get();
  EXPECT_TRUE(b.ok()) << b.status().to_string();
}

TEST_F(ClientApiTest, BlockModeGivesUpAfterMaxBlockWithResourceExhausted) {
  PublisherOptions po = patient_publisher();
  po.max_pending_events = 1;
  po.when_full = WhenFull::kBlock;
  po.max_block = 300ms;
  auto p = Publisher::connect(options_, po);
  ASSERT_TRUE(p.ok()) << p.status().to_string();
  kill_broker();

  auto first = (*p)->publish("t", event_with("first"));
  const auto before = std::chrono::steady_clock::now();
  auto second = (*p)->publish("t", event_with("second"));
  const auto waited = std::chrono::steady_clock::now() - before;
  ASSERT_TRUE(is_ready(second));
  Result<PublishAck> r = second.get();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), Code::kResourceExhausted);
  EXPECT_THAT(r.error().message(), HasSubstr("after max_block 300ms"));
  EXPECT_GE(waited, 300ms);
  EXPECT_FALSE(is_ready(first));
}

TEST_F(ClientApiTest, CloseWakesAPublishBlockedForRoom) {
  ClientOptions quick = options_;
  quick.request_timeout = 500ms;  // close() flushes for at most this long
  PublisherOptions po = patient_publisher();
  po.max_pending_events = 1;
  po.max_block = 60s;
  auto p = Publisher::connect(quick, po);
  ASSERT_TRUE(p.ok()) << p.status().to_string();
  kill_broker();
  auto first = (*p)->publish("t", event_with("first"));
  std::promise<Status> second_status;
  std::atomic<bool> started{false};
  std::thread blocked([&] {
    started = true;
    auto f = (*p)->publish("t", event_with("second"));
    Result<PublishAck> r = f.get();
    second_status.set_value(r.status());
  });
  ASSERT_TRUE(eventually([&] { return started.load(); }, 10s));
  EXPECT_EQ((*p)->close().code(), Code::kDeadlineExceeded);  // the first could not be flushed
  blocked.join();
  EXPECT_EQ(second_status.get_future().get().code(), Code::kFailedPrecondition);
  EXPECT_EQ(first.get().status().code(), Code::kFailedPrecondition);
}

// ---------------------------------------------------------------- waiting calls in callbacks (item 2)

TEST_F(ClientApiTest, PublisherCallbackGetsFailedPreconditionForFlushAndCloseAndCannotBlockOnPublish) {
  PublisherOptions po;
  po.max_pending_events = 1;  // the event whose callback runs still counts as pending
  po.when_full = WhenFull::kBlock;
  auto p = Publisher::connect(options_, po);
  ASSERT_TRUE(p.ok()) << p.status().to_string();
  Publisher* publisher = p->get();
  std::promise<std::vector<Status>> in_callback;
  publisher->publish("t", event_with("x"), [&](const Result<PublishAck>& ack) {
    std::vector<Status> got{ack.status(), publisher->flush(1s), publisher->close()};
    publisher->publish("t", event_with("from the callback"),
                       [&](const Result<PublishAck>& nested) { got.push_back(nested.status()); });
    in_callback.set_value(got);
  });
  auto future = in_callback.get_future();
  ASSERT_EQ(future.wait_for(30s), std::future_status::ready) << "a call in the callback deadlocked";
  const std::vector<Status> got = future.get();
  ASSERT_EQ(got.size(), 4u);
  EXPECT_TRUE(got[0].ok()) << got[0].to_string();
  EXPECT_EQ(got[1].code(), Code::kFailedPrecondition);
  EXPECT_THAT(got[1].message(), HasSubstr("Publisher::flush() called from a callback"));
  EXPECT_THAT(got[1].message(), HasSubstr("deadlock"));
  EXPECT_EQ(got[2].code(), Code::kFailedPrecondition);
  EXPECT_THAT(got[2].message(), HasSubstr("Publisher::close() called from a callback"));
  // Full, and only this thread could make room: refused at once instead of waiting.
  EXPECT_EQ(got[3].code(), Code::kResourceExhausted);
  EXPECT_THAT(got[3].message(), HasSubstr("cannot wait for room"));
  // The refused close() did not close it; from this thread both work.
  EXPECT_TRUE(publisher->flush(10s).ok());
  EXPECT_TRUE(publisher->close().ok());
}

// ---------------------------------------------------------------- callbacks (item 3), and item 2 for Subscriber

TEST_F(ClientApiTest, CallbacksSeeTheBrokerGoAndComeBackAndTheClose) {
  Recorder sub_seen;
  std::atomic<Subscriber*> self{nullptr};
  std::promise<std::vector<Status>> waits_in_callback;
  std::atomic<bool> tried{false};
  SubscriberOptions so;
  so.subscription = "s";
  so.topic = "t";
  so.retry_backoff_initial = 20ms;
  so.retry_backoff_max = 200ms;
  so.on_error = sub_seen.error_callback();
  so.on_connection_state = [&, record = sub_seen.state_callback()](ConnectionState state) {
    record(state);
    Subscriber* sub = self.load();
    if (state != ConnectionState::kReconnected || sub == nullptr || tried.exchange(true)) return;
    waits_in_callback.set_value({sub->close(), sub->sync_acks(1s), sub->receive(1, 100ms).status()});
  };
  auto sub = Subscriber::connect(options_, so);
  ASSERT_TRUE(sub.ok()) << sub.status().to_string();
  self = sub->get();

  Recorder pub_seen;
  PublisherOptions po = patient_publisher();
  po.on_error = pub_seen.error_callback();
  po.on_connection_state = pub_seen.state_callback();
  auto p = Publisher::connect(options_, po);
  ASSERT_TRUE(p.ok()) << p.status().to_string();

  kill_broker();
  ASSERT_TRUE(eventually([&] { return pub_seen.seen_states().size() >= 1; }, 10s));
  EXPECT_THAT(pub_seen.seen_states(), ElementsAre(ConnectionState::kDisconnected));
  // An idle publisher reconnects once it has something to send.
  auto published = (*p)->publish("t", event_with("across the restart"));
  ASSERT_TRUE(eventually([&] { return sub_seen.seen_states().size() >= 2 && pub_seen.seen_states().size() >= 2; }, 10s));
  start_broker();

  ASSERT_EQ(published.wait_for(30s), std::future_status::ready);
  Result<PublishAck> ack = published.get();
  EXPECT_TRUE(ack.ok()) << ack.status().to_string();
  ASSERT_TRUE(eventually([&] { return sub_seen.seen_states().size() >= 3; }, 30s));
  EXPECT_THAT(sub_seen.seen_states(), ElementsAre(ConnectionState::kDisconnected, ConnectionState::kReconnecting,
                                                  ConnectionState::kReconnected));
  EXPECT_THAT(pub_seen.seen_states(), ElementsAre(ConnectionState::kDisconnected, ConnectionState::kReconnecting,
                                                  ConnectionState::kReconnected));
  for (Recorder* seen : {&sub_seen, &pub_seen}) {
    const std::vector<Status> errors = seen->seen_errors();
    ASSERT_FALSE(errors.empty());
    EXPECT_THAT(std::string(errors.front().message()), HasSubstr("connection to broker " + options_.broker + " lost"));
  }

  // The waiting calls in the subscriber's callback were refused, not deadlocked.
  auto refused = waits_in_callback.get_future();
  ASSERT_EQ(refused.wait_for(10s), std::future_status::ready);
  for (const Status& s : refused.get()) {
    EXPECT_EQ(s.code(), Code::kFailedPrecondition) << s.to_string();
    EXPECT_THAT(std::string(s.message()), HasSubstr("from a callback, on the subscriber's own network thread"));
  }

  // The refused close() left the subscriber working: it receives what was published.
  std::vector<DeliveredEvent> got;
  ASSERT_TRUE(eventually(
      [&] {
        auto r = (*sub)->receive(10, 100ms);
        if (r.ok()) got.insert(got.end(), r->begin(), r->end());
        return !got.empty();
      },
      30s));
  EXPECT_EQ(got.front().payload, "across the restart");
  EXPECT_TRUE((*sub)->ack(got.front()).ok());

  EXPECT_TRUE((*sub)->close().ok());
  EXPECT_EQ(sub_seen.seen_states().back(), ConnectionState::kClosed);
  EXPECT_TRUE((*p)->close().ok());
  EXPECT_EQ(pub_seen.seen_states().back(), ConnectionState::kClosed);
  EXPECT_EQ(pub_seen.seen_states().size(), 4u);
}

TEST_F(ClientApiTest, OnErrorReportsFailuresOfFuturePublishesOnly) {
  Recorder seen;
  PublisherOptions po;
  po.on_error = seen.error_callback();
  auto p = Publisher::connect(options_, po);
  ASSERT_TRUE(p.ok()) << p.status().to_string();
  // With a callback of its own, a failure is the callback's alone.
  std::promise<Status> own;
  (*p)->publish("no-such-topic", event_with("x"), [&](const Result<PublishAck>& r) { own.set_value(r.status()); });
  EXPECT_EQ(own.get_future().get().code(), Code::kNotFound);
  // A future may never be read: its failure also goes to on_error.
  auto f = (*p)->publish("no-such-topic-either", event_with("y"));
  EXPECT_EQ(f.get().status().code(), Code::kNotFound);
  ASSERT_TRUE(eventually([&] { return !seen.seen_errors().empty(); }, 10s));
  EXPECT_TRUE((*p)->flush(10s).ok());
  const std::vector<Status> errors = seen.seen_errors();
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].code(), Code::kNotFound);
  EXPECT_THAT(std::string(errors[0].message()), HasSubstr("no-such-topic-either"));
}

}  // namespace
}  // namespace causeway::client
