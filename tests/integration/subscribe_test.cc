// Subscriptions against the real causeway-broker with the real client
// (docs/subscriptions.md): groups sharing partitions, redelivery after a member dies or
// stalls, broker crashes under load, nack delays, ack deadlines, dead letters, flow
// control, and hostile acks. The broker runs with a short session timeout and sweep
// interval so that the suite stays fast.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "causeway/client/admin.h"
#include "causeway/client/publisher.h"
#include "causeway/client/subscriber.h"
#include "tests/integration/daemon_process.h"
#include "tests/integration/raw_connection.h"
#include "tests/support/temp_dir.h"
#include "tests/support/waiting.h"

namespace causeway::client {
namespace {

using ::testing::HasSubstr;
using namespace std::chrono_literals;
using causeway::testing::eventually;
using causeway::testing::pick_free_port;

uint64_t rss_kib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoull(line.substr(6));
  }
  return 0;
}

class SubscribeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    port_ = pick_free_port();
    start_broker();
  }
  // A clean stop must work with groups active, and sanitizers must have nothing to say.
  void TearDown() override {
    if (broker_) {
      EXPECT_TRUE(testing::stops_cleanly(*broker_));
    }
    broker_.reset();
  }

  void start_broker(const std::vector<std::string>& extra_flags = {}) {
    std::vector<std::string> flags{"--listen",       "127.0.0.1:" + std::to_string(port_),
                                   "--registry-listen", "off",
                                   "--data-dir",     dir_.sub("data"),
                                   "--group-session-timeout", "1s",
                                   "--subscribe-sweep-interval", "20ms"};
    flags.insert(flags.end(), extra_flags.begin(), extra_flags.end());
    broker_ = std::make_unique<testing::DaemonProcess>(CAUSEWAY_BROKER_BINARY, flags);
    ASSERT_TRUE(broker_->wait_for_output("listening on ", 30s)) << broker_->output();
    options_.broker = "127.0.0.1:" + std::to_string(port_);
    options_.client_name = "subscribe_test";
    options_.connect_timeout = 2s;
    options_.request_timeout = 10s;
  }

  std::unique_ptr<Admin> admin() {
    auto a = Admin::connect(options_);
    EXPECT_TRUE(a.ok()) << a.status().to_string();
    return a ? std::move(*a) : nullptr;
  }

  // True once every partition of `group` has committed everything up to its end offset,
  // with nothing in flight (polled until `timeout`).
  // Whether every partition of `group` commits its end within `timeout`; if not, says
  // where each partition stands and what the broker logged.
  ::testing::AssertionResult all_committed(const std::string& group, std::chrono::milliseconds timeout) {
    auto a = admin();
    if (a == nullptr) return ::testing::AssertionFailure() << "no admin connection";
    std::string last;
    const bool done = eventually(
        [&] {
          auto g = a->describe_group(group);
          if (!g.ok()) {
            last = g.status().to_string();
            return false;
          }
          last.clear();
          bool all = !g->partitions.empty();
          for (const auto& p : g->partitions) {
            last += " p" + std::to_string(p.partition) + ": committed " + std::to_string(p.committed_offset) + " end " +
                    std::to_string(p.end_offset) + " in flight " + std::to_string(p.in_flight) + " acked above " +
                    std::to_string(p.acked_above) + " member '" + p.member_id + "';";
            if (p.committed_offset != p.end_offset || p.in_flight != 0) all = false;
          }
          return all;
        },
        timeout);
    if (done) return ::testing::AssertionSuccess();
    const std::string out = broker_->output();
    return ::testing::AssertionFailure() << "group " << group << " did not commit everything:" << last
                                         << "\nbroker output (its end):\n"
                                         << out.substr(out.size() > 8192 ? out.size() - 8192 : 0);
  }

  void create_topic(const std::string& name, uint32_t partitions, Durability durability = Durability::kFsync) {
    TopicSpec spec;
    spec.name = name;
    spec.partitions = partitions;
    spec.durability = durability;
    auto r = admin()->create_topic(spec);
    ASSERT_TRUE(r.ok()) << r.status().to_string();
  }

  // Publishes n events with keys k<i> and dedup keys d<i>; returns when all are acked.
  void publish(const std::string& topic, int n, size_t payload_bytes = 16, int first = 0) {
    auto p = Publisher::connect(options_);
    ASSERT_TRUE(p.ok()) << p.status().to_string();
    std::vector<std::future<Result<PublishAck>>> futures;
    for (int i = first; i < first + n; ++i) {
      Event e;
      e.key = "k" + std::to_string(i);
      e.dedup_key = "d" + std::to_string(i);
      e.payload = std::string(payload_bytes, 'x');
      futures.push_back((*p)->publish(topic, std::move(e)));
    }
    for (auto& f : futures) {
      auto ack = f.get();
      ASSERT_TRUE(ack.ok()) << ack.status().to_string();
    }
  }

  SubscriberOptions sub_options(const std::string& name, const std::string& topic) {
    SubscriberOptions o;
    o.subscription = name;
    o.topic = topic;
    o.settings.start = StartPosition::earliest();
    return o;
  }

  testing::TempDir dir_;
  uint16_t port_ = 0;
  std::unique_ptr<testing::DaemonProcess> broker_;
  ClientOptions options_;
};

// Handles events and remembers every (partition, offset) it saw, with attempts.
struct Recorder {
  std::mutex mu;
  std::map<std::pair<uint32_t, uint64_t>, std::vector<uint32_t>> seen;  // -> attempts
  std::map<std::string, int> by_member;
  std::atomic<size_t> total{0};

  Subscriber::Handler handler(std::string who) {
    return [this, who](const DeliveredEvent& e) {
      std::lock_guard lk(mu);
      seen[{e.partition, e.offset}].push_back(e.attempt);
      ++by_member[who];
      ++total;
      return Status();
    };
  }
};

TEST_F(SubscribeTest, TwoMembersShareAGroupEvenlyAndHandleEachEventOnce) {
  create_topic("orders", 4);
  Recorder rec;
  std::vector<std::unique_ptr<Subscriber>> subs;
  for (int i = 0; i < 2; ++i) {
    auto s = Subscriber::start(options_, sub_options("billing", "orders"), rec.handler("m" + std::to_string(i)));
    ASSERT_TRUE(s.ok()) << s.status().to_string();
    subs.push_back(std::move(*s));
  }
  auto group = admin()->describe_group("billing");
  ASSERT_TRUE(group.ok()) << group.status().to_string();
  ASSERT_EQ(group->members.size(), 2u);
  for (const auto& m : group->members) EXPECT_EQ(m.partitions.size(), 2u) << m.member_id;

  publish("orders", 400);
  ASSERT_TRUE(eventually([&] { return rec.total.load() >= 400; }, 30s)) << rec.total.load();
  // Once every partition's committed offset reaches its end, nothing is left to redeliver:
  // a duplicate would have to be in flight, and none is.
  ASSERT_TRUE(all_committed("billing", 30s));
  std::lock_guard lk(rec.mu);
  EXPECT_EQ(rec.total.load(), 400u);
  EXPECT_EQ(rec.seen.size(), 400u);
  for (const auto& [pos, attempts] : rec.seen) EXPECT_EQ(attempts, std::vector<uint32_t>{1});
  EXPECT_EQ(rec.by_member.size(), 2u);
}

TEST_F(SubscribeTest, ThreeMembersShareAGroupEvenlyAndCommitEverything) {
  create_topic("orders", 6);
  Recorder rec;
  std::vector<std::unique_ptr<Subscriber>> subs;
  for (int i = 0; i < 3; ++i) {
    auto s = Subscriber::start(options_, sub_options("billing", "orders"), rec.handler("m" + std::to_string(i)));
    ASSERT_TRUE(s.ok()) << s.status().to_string();
    subs.push_back(std::move(*s));
  }
  auto group = admin()->describe_group("billing");
  ASSERT_TRUE(group.ok());
  ASSERT_EQ(group->members.size(), 3u);
  for (const auto& m : group->members) EXPECT_EQ(m.partitions.size(), 2u) << m.member_id;

  publish("orders", 600);
  ASSERT_TRUE(eventually([&] { return rec.total.load() >= 600; }, 30s)) << rec.total.load();
  ASSERT_TRUE(all_committed("billing", 30s));
  {
    std::lock_guard lk(rec.mu);
    EXPECT_EQ(rec.total.load(), 600u);
    EXPECT_EQ(rec.seen.size(), 600u);
    EXPECT_EQ(rec.by_member.size(), 3u);
  }
  // Every ack reaches the committed offsets: lag 0 everywhere.
  ASSERT_TRUE(eventually(
      [&] {
        auto g = admin()->describe_group("billing");
        if (!g) return false;
        for (const auto& p : g->partitions)
          if (p.lag != 0 || p.in_flight != 0) return false;
        return true;
      },
      10s));
  for (auto& s : subs) EXPECT_TRUE(s->close().ok());
  auto after = admin()->describe_group("billing");
  ASSERT_TRUE(after.ok());
  EXPECT_TRUE(after->members.empty());
}

TEST_F(SubscribeTest, KilledMemberProcessEventsAreRedeliveredToASurvivorWithTheNextAttempt) {
  create_topic("jobs", 2);
  // The doomed member joins first and takes both partitions' events, never acking.
  testing::DaemonProcess member(CAUSEWAY_MEMBER_BINARY, {options_.broker, "workers", "jobs"});
  ASSERT_TRUE(member.wait_for_output("joined ", 20s)) << member.output();
  publish("jobs", 20);
  ASSERT_TRUE(eventually(
      [&] {
        member.wait_for_output("\x01", 50ms);  // reads what arrived meanwhile
        size_t n = 0;
        for (size_t at = member.output().find("event "); at != std::string::npos; at = member.output().find("event ", at + 1)) ++n;
        return n >= 20;
      },
      20s))
      << member.output();

  auto survivor = Subscriber::connect(options_, sub_options("workers", "jobs"));
  ASSERT_TRUE(survivor.ok()) << survivor.status().to_string();
  // The survivor joined a group whose every partition may still belong to the member:
  // nothing arrives until the member is gone.
  member.signal(SIGKILL);
  std::map<std::pair<uint32_t, uint64_t>, uint32_t> got;
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (got.size() < 20 && std::chrono::steady_clock::now() < deadline) {
    auto events = (*survivor)->receive(100, 500ms);
    ASSERT_TRUE(events.ok());
    for (const auto& e : *events) {
      got[{e.partition, e.offset}] = e.attempt;
      EXPECT_TRUE((*survivor)->ack(e).ok());
    }
  }
  ASSERT_EQ(got.size(), 20u);
  size_t redelivered = 0;
  for (const auto& [pos, attempt] : got) redelivered += attempt >= 2 ? 1 : 0;
  // Events the member held were in flight to it: they come back as attempt 2. (The
  // survivor's join may have taken a partition before the kill; its events then came to
  // the survivor as a redelivery too.)
  EXPECT_EQ(redelivered, 20u);
}

TEST_F(SubscribeTest, RebalanceLeavesInFlightEventsWithTheirMemberInsteadOfDuplicatingThem) {
  create_topic("t", 2);
  auto a = Subscriber::connect(options_, sub_options("g", "t"));
  ASSERT_TRUE(a.ok()) << a.status().to_string();
  publish("t", 20);
  std::vector<DeliveredEvent> held;
  while (held.size() < 20) {
    auto e = (*a)->receive(20, 10s);
    ASSERT_TRUE(e.ok());
    ASSERT_FALSE(e->empty());
    for (auto& x : *e) held.push_back(std::move(x));
  }
  // b takes partition 1 over; what a holds of it stays a's to ack.
  auto b = Subscriber::connect(options_, sub_options("g", "t"));
  ASSERT_TRUE(b.ok()) << b.status().to_string();
  auto none = (*b)->receive(10, 500ms);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty()) << "b got " << none->size() << " events a still holds";
  for (const auto& e : held) ASSERT_TRUE((*a)->ack(e).ok());
  ASSERT_TRUE(eventually(
      [&] {
        auto g = admin()->describe_group("g");
        return g.ok() && g->partitions[0].committed_offset + g->partitions[1].committed_offset == 20;
      },
      5s));
  EXPECT_EQ((*a)->ack_errors(), 0u);
  // New events of partition 1 now go to b.
  publish("t", 20, 16, 20);
  std::set<uint32_t> b_partitions;
  while (true) {
    auto e = (*b)->receive(20, 1s);
    ASSERT_TRUE(e.ok());
    if (e->empty()) break;
    for (const auto& x : *e) {
      b_partitions.insert(x.partition);
      EXPECT_EQ(x.attempt, 1u);
      EXPECT_TRUE((*b)->ack(x).ok());
    }
  }
  EXPECT_EQ(b_partitions, (std::set<uint32_t>{1}));
}

TEST_F(SubscribeTest, StalledMemberLosesItsEventsAfterTheSessionTimeout) {
  create_topic("jobs", 1);
  testing::DaemonProcess member(CAUSEWAY_MEMBER_BINARY, {options_.broker, "workers", "jobs"});
  ASSERT_TRUE(member.wait_for_output("joined ", 20s)) << member.output();
  publish("jobs", 5);
  ASSERT_TRUE(member.wait_for_output("event 0 4 1", 20s)) << member.output();
  member.signal(SIGSTOP);  // alive, connected, silent: only the session timeout (1s) can help
  auto survivor = Subscriber::connect(options_, sub_options("workers", "jobs"));
  ASSERT_TRUE(survivor.ok()) << survivor.status().to_string();
  const auto start = std::chrono::steady_clock::now();
  std::set<uint64_t> offsets;
  while (offsets.size() < 5 && std::chrono::steady_clock::now() - start < 20s) {
    auto events = (*survivor)->receive(10, 200ms);
    ASSERT_TRUE(events.ok());
    for (const auto& e : *events) {
      EXPECT_EQ(e.attempt, 2u);
      offsets.insert(e.offset);
      EXPECT_TRUE((*survivor)->ack(e).ok());
    }
  }
  EXPECT_EQ(offsets.size(), 5u);
  EXPECT_GE(std::chrono::steady_clock::now() - start, 800ms);
  member.signal(SIGKILL);
}

TEST_F(SubscribeTest, NackWithDelayRedeliversAfterTheDelayWithTheNextAttempt) {
  create_topic("t", 1);
  auto sub = Subscriber::connect(options_, sub_options("s", "t"));
  ASSERT_TRUE(sub.ok()) << sub.status().to_string();
  publish("t", 1);
  auto first = (*sub)->receive(1, 10s);
  ASSERT_TRUE(first.ok());
  ASSERT_EQ(first->size(), 1u);
  EXPECT_EQ((*first)[0].attempt, 1u);
  const auto nacked_at = std::chrono::steady_clock::now();
  ASSERT_TRUE((*sub)->nack((*first)[0], 600ms, "try later").ok());
  auto again = (*sub)->receive(1, 10s);
  ASSERT_TRUE(again.ok());
  ASSERT_EQ(again->size(), 1u);
  EXPECT_GE(std::chrono::steady_clock::now() - nacked_at, 550ms);
  EXPECT_EQ((*again)[0].offset, (*first)[0].offset);
  EXPECT_EQ((*again)[0].attempt, 2u);
  ASSERT_TRUE((*sub)->ack((*again)[0]).ok());
}

TEST_F(SubscribeTest, UnackedEventIsRedeliveredAfterItsAckDeadline) {
  create_topic("t", 1);
  auto o = sub_options("s", "t");
  o.settings.ack_deadline = 300ms;
  o.settings.backoff = 0ms;
  auto sub = Subscriber::connect(options_, o);
  ASSERT_TRUE(sub.ok()) << sub.status().to_string();
  // Taken before the publish: the deadline starts when the broker delivers, which is after
  // this, however late the client's receive() returns under load.
  const auto t0 = std::chrono::steady_clock::now();
  publish("t", 1);
  auto first = (*sub)->receive(1, 10s);
  ASSERT_TRUE(first.ok());
  ASSERT_EQ(first->size(), 1u);
  auto again = (*sub)->receive(1, 10s);  // not acked
  ASSERT_TRUE(again.ok());
  ASSERT_EQ(again->size(), 1u);
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 300ms);
  EXPECT_EQ((*again)[0].attempt, 2u);
  // The first delivery's deadline passed: acking it as attempt 1 is refused by the broker,
  // but acking the redelivery works and commits.
  ASSERT_TRUE((*sub)->ack((*again)[0]).ok());
  ASSERT_TRUE(eventually([&] { return admin()->describe_group("s")->partitions[0].committed_offset == 1; }, 5s));
}

TEST_F(SubscribeTest, AMemberCanExtendTheAckDeadlineOfAnEventItHolds) {
  create_topic("t", 1);
  auto o = sub_options("s", "t");
  o.settings.ack_deadline = 300ms;
  o.settings.backoff = 0ms;
  auto sub = Subscriber::connect(options_, o);
  ASSERT_TRUE(sub.ok()) << sub.status().to_string();
  publish("t", 1);
  auto first = (*sub)->receive(1, 10s);
  ASSERT_TRUE(first.ok());
  ASSERT_EQ(first->size(), 1u);
  ASSERT_TRUE((*sub)->extend_deadline((*first)[0], 3s).ok());
  EXPECT_EQ((*sub)->extend_deadline((*first)[0], 0ms).code(), Code::kInvalidArgument);
  auto none = (*sub)->receive(1, 1200ms);  // four deadlines' worth: nothing comes back
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
  ASSERT_TRUE((*sub)->ack((*first)[0]).ok());
  ASSERT_TRUE(eventually([&] { return admin()->describe_group("s")->partitions[0].committed_offset == 1; }, 5s));
  EXPECT_EQ((*sub)->ack_errors(), 0u);
}

// The handler form sends the ack of a batch's last event from its own thread; every
// earlier one still goes out at once, so a handler that blocks on one event holds back no
// ack of the events it finished before it (docs/client.md, "Subscriber").
TEST_F(SubscribeTest, HandlerBlockedOnOneEventHoldsBackNoAckOfTheEventsBeforeIt) {
  create_topic("t", 1);
  publish("t", 20);  // before the subscriber starts: they arrive together, one batch or few
  std::atomic<bool> release{false};
  std::atomic<uint64_t> handled{0};
  auto sub = Subscriber::start(options_, sub_options("s", "t"), [&](const DeliveredEvent& e) {
    if (e.offset == 10) {
      // Bounded, so that a failing test still ends.
      const auto until = std::chrono::steady_clock::now() + 20s;
      while (!release.load() && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(1ms);
    }
    handled.fetch_add(1);
    return Status();
  });
  ASSERT_TRUE(sub.ok()) << sub.status().to_string();
  auto a = admin();
  ASSERT_NE(a, nullptr);
  uint64_t committed = 0;
  const bool before_release = eventually(
      [&] {
        auto g = a->describe_group("s");
        committed = g.ok() ? g->partitions[0].committed_offset : 0;
        return committed == 10;
      },
      10s);
  const uint64_t handled_then = handled.load();
  release = true;
  EXPECT_TRUE(before_release) << "committed offset " << committed << " while the handler blocked on offset 10";
  EXPECT_EQ(handled_then, 10u);
  ASSERT_TRUE(all_committed("s", 10s));
  EXPECT_EQ(handled.load(), 20u);
  EXPECT_EQ((*sub)->ack_errors(), 0u);
}

// A handler that extends its event's deadline and then returns: the extend, posted to the
// network thread, must reach the broker before the ack the handler thread may send itself
// (an extend after the ack names an event no longer in flight, and would count as an error).
// Events published one at a time, so that each is the last of its batch.
TEST_F(SubscribeTest, HandlerThatExtendsItsEventAndReturnsGetsNoAckError) {
  create_topic("t", 1, Durability::kOs);
  std::atomic<uint64_t> handled{0};
  std::atomic<uint64_t> extend_refused{0};
  Subscriber* self = nullptr;
  std::atomic<bool> ready{false};
  auto sub = Subscriber::start(options_, sub_options("s", "t"), [&](const DeliveredEvent& e) {
    while (!ready.load()) std::this_thread::sleep_for(1ms);
    if (!self->extend_deadline(e, 5s).ok()) extend_refused.fetch_add(1);
    handled.fetch_add(1);
    return Status();
  });
  ASSERT_TRUE(sub.ok()) << sub.status().to_string();
  self = sub->get();
  ready = true;
  auto p = Publisher::connect(options_);
  ASSERT_TRUE(p.ok()) << p.status().to_string();
  for (int i = 0; i < 30; ++i) {
    Event e;
    e.payload = "x";
    ASSERT_TRUE((*p)->publish("t", std::move(e)).get().ok());
    const uint64_t want = static_cast<uint64_t>(i) + 1;
    ASSERT_TRUE(eventually([&] { return handled.load() >= want; }, 10s)) << "event " << i << " not handled";
  }
  ASSERT_TRUE(all_committed("s", 10s));
  EXPECT_EQ(extend_refused.load(), 0u);
  EXPECT_EQ((*sub)->ack_errors(), 0u);
}

// An ack the broker refuses (acks go quietly, answered only when refused) is counted in
// ack_errors(), reported to on_error, and fails the sync_acks() sent after it; the next
// good ack and barrier succeed.
TEST_F(SubscribeTest, RefusedAckIsCountedReportedAndFailsTheNextSyncAcks) {
  create_topic("t", 1);
  std::atomic<int> reported{0};
  auto o = sub_options("s", "t");
  o.on_error = [&](const Status&) { reported.fetch_add(1); };
  auto sub = Subscriber::connect(options_, o);
  ASSERT_TRUE(sub.ok()) << sub.status().to_string();
  publish("t", 1);
  auto got = (*sub)->receive(1, 10s);
  ASSERT_TRUE(got.ok());
  ASSERT_EQ(got->size(), 1u);
  DeliveredEvent never_delivered = (*got)[0];
  never_delivered.offset = 1'000'000;
  ASSERT_TRUE((*sub)->ack(never_delivered).ok());  // queued here; the broker refuses it
  const Status synced = (*sub)->sync_acks(5s);
  EXPECT_FALSE(synced.ok());
  EXPECT_THAT(std::string(synced.message()), ::testing::HasSubstr("refused")) << synced.to_string();
  EXPECT_EQ((*sub)->ack_errors(), 1u);
  EXPECT_TRUE(eventually([&] { return reported.load() >= 1; }, 5s));
  ASSERT_TRUE((*sub)->ack((*got)[0]).ok());
  EXPECT_TRUE((*sub)->sync_acks(5s).ok());
  EXPECT_EQ(admin()->describe_group("s")->partitions[0].committed_offset, 1u);
  EXPECT_EQ((*sub)->ack_errors(), 1u);
}

// Acks go quietly and are confirmed by the next answer of the broker; closing right after
// the last ack (its confirmation is the answer to the leave) reports nothing lost.
TEST_F(SubscribeTest, ClosingRightAfterTheLastAckReportsNoAckError) {
  create_topic("t", 1, Durability::kOs);
  publish("t", 20);
  std::atomic<int> reported{0};
  std::atomic<uint64_t> handled{0};
  auto o = sub_options("s", "t");
  o.on_error = [&](const Status&) { reported.fetch_add(1); };
  auto sub = Subscriber::start(options_, o, [&](const DeliveredEvent&) {
    handled.fetch_add(1);
    return Status();
  });
  ASSERT_TRUE(sub.ok()) << sub.status().to_string();
  ASSERT_TRUE(eventually([&] { return handled.load() == 20; }, 10s));
  ASSERT_TRUE((*sub)->close().ok());
  EXPECT_EQ((*sub)->ack_errors(), 0u);
  EXPECT_EQ(reported.load(), 0);
  ASSERT_TRUE(all_committed("s", 10s));
}

// Quiet acks that the lost connection never confirmed were answered for by the sync_acks()
// calls that failed with it (the barrier in flight, and a waiter behind it); the first
// sync_acks() on the new connection answers for its own acks only.
TEST_F(SubscribeTest, SyncAcksAfterAReconnectIsNotBlamedForAcksLostWithTheOldConnection) {
  create_topic("t", 1);
  publish("t", 3);
  auto o = sub_options("s", "t");
  o.retry_backoff_initial = 20ms;
  auto sub = Subscriber::connect(options_, o);
  ASSERT_TRUE(sub.ok()) << sub.status().to_string();
  const auto receive_all = [&](size_t n) {
    std::vector<DeliveredEvent> got;
    EXPECT_TRUE(eventually(
        [&] {
          auto e = (*sub)->receive(n - got.size(), 200ms);
          if (e.ok()) got.insert(got.end(), e->begin(), e->end());
          return got.size() >= n;
        },
        20s))
        << got.size() << " of " << n;
    return got;
  };
  const auto first = receive_all(3);
  ASSERT_EQ(first.size(), 3u);
  broker_->signal(SIGSTOP);  // the acks and the barrier below reach a broker that never answers
  ASSERT_TRUE(eventually(
      [&] {  // kill() returns before the broker's threads have all stopped
        std::ifstream stat("/proc/" + std::to_string(broker_->pid()) + "/stat");
        std::string pid, comm, state;
        stat >> pid >> comm >> state;
        return state == "T";
      },
      5s));
  // One ack before a barrier, two more before a second sync_acks() that waits behind it:
  // when the connection goes, the first barrier fails, and so does the second waiter.
  ASSERT_TRUE((*sub)->ack(first[0]).ok());
  EXPECT_EQ((*sub)->sync_acks(300ms).code(), Code::kDeadlineExceeded);
  ASSERT_TRUE((*sub)->ack(first[1]).ok());
  ASSERT_TRUE((*sub)->ack(first[2]).ok());
  EXPECT_EQ((*sub)->sync_acks(300ms).code(), Code::kDeadlineExceeded);
  broker_->signal(SIGKILL);
  ASSERT_TRUE(broker_->wait_exit(10s).has_value());
  start_broker();  // same port and data: the subscriber reconnects and joins again
  const auto again = receive_all(3);  // the lost acks were never applied: all three come again
  ASSERT_EQ(again.size(), 3u);
  for (const auto& e : again) ASSERT_TRUE((*sub)->ack(e).ok());
  const Status synced = (*sub)->sync_acks(10s);
  EXPECT_TRUE(synced.ok()) << synced.to_string();
  EXPECT_GE((*sub)->ack_errors(), 3u);  // the three acks lost with the first connection
  EXPECT_EQ(admin()->describe_group("s")->partitions[0].committed_offset, 3u);
}

// W3C trace context (docs/operations.md): an event's traceparent and tracestate reach its
// subscriber byte for byte, as every other header does.
TEST_F(SubscribeTest, TraceContextHeadersReachTheSubscriberUnchanged) {
  create_topic("traced", 1);
  auto sub = Subscriber::connect(options_, sub_options("tracer", "traced"));
  ASSERT_TRUE(sub.ok()) << sub.status().to_string();
  const std::string parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  const std::string state = "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE";
  auto p = Publisher::connect(options_);
  ASSERT_TRUE(p.ok());
  Event e;
  e.key = "k";
  e.payload = "x";
  e.headers = {{"traceparent", parent}, {"tracestate", state}, {"x-other", "1"}};
  ASSERT_TRUE((*p)->publish("traced", e).get().ok());
  auto got = (*sub)->receive(1, 10s);
  ASSERT_TRUE(got.ok());
  ASSERT_EQ(got->size(), 1u);
  std::vector<std::pair<std::string, std::string>> headers;
  for (const auto& h : (*got)[0].headers) headers.emplace_back(h.name, h.value);
  EXPECT_EQ(headers, (std::vector<std::pair<std::string, std::string>>{
                         {"traceparent", parent}, {"tracestate", state}, {"x-other", "1"}}));
  ASSERT_TRUE((*sub)->ack((*got)[0]).ok());
}

TEST_F(SubscribeTest, EventPastMaxAttemptsGoesToTheDeadLetterTopicWithItsReason) {
  create_topic("payments", 1);
  auto o = sub_options("charger", "payments");
  o.settings.max_attempts = 2;
  o.settings.backoff = 0ms;
  auto sub = Subscriber::connect(options_, o);
  ASSERT_TRUE(sub.ok()) << sub.status().to_string();
  publish("payments", 1);
  for (uint32_t attempt = 1; attempt <= 2; ++attempt) {
    auto e = (*sub)->receive(1, 10s);
    ASSERT_TRUE(e.ok());
    ASSERT_EQ(e->size(), 1u);
    EXPECT_EQ((*e)[0].attempt, attempt);
    ASSERT_TRUE((*sub)->nack((*e)[0], 0ms, "card declined").ok());
  }
  auto a = admin();
  ASSERT_TRUE(eventually([&] {
    auto f = a->fetch("payments.dlq", 0, 0, 10);
    return f.ok() && !f->events.empty();
  }, 10s));
  auto dlq = a->fetch("payments.dlq", 0, 0, 10);
  ASSERT_TRUE(dlq.ok());
  ASSERT_EQ(dlq->events.size(), 1u);
  const auto& ev = dlq->events[0];
  EXPECT_EQ(ev.payload, std::string(16, 'x'));
  EXPECT_EQ(ev.key, "k0");
  std::map<std::string, std::string> h;
  for (const auto& x : ev.headers) h[x.name] = x.value;
  EXPECT_THAT(h["causeway-dlq-reason"], HasSubstr("max attempts (2)"));
  EXPECT_THAT(h["causeway-dlq-reason"], HasSubstr("card declined"));
  EXPECT_EQ(h["causeway-dlq-attempts"], "2");
  EXPECT_EQ(h["causeway-dlq-topic"], "payments");
  EXPECT_EQ(h["causeway-dlq-partition"], "0");
  EXPECT_EQ(h["causeway-dlq-offset"], "0");
  EXPECT_EQ(h["causeway-dlq-dedup-key"], "d0");
  // Dead-lettered counts as acked: nothing more arrives and the offset is committed.
  auto more = (*sub)->receive(1, 500ms);
  ASSERT_TRUE(more.ok());
  EXPECT_TRUE(more->empty());
  ASSERT_TRUE(eventually([&] { return a->describe_group("charger")->partitions[0].committed_offset == 1; }, 5s));
}

TEST_F(SubscribeTest, SlowMemberKeepsBrokerMemoryBoundedWhileAnotherGroupKeepsConsuming) {
  create_topic("feed", 2, Durability::kOs);
  // "slow" never takes anything off its queue nor acks: the broker must stop at its credit.
  auto o = sub_options("slow", "feed");
  o.max_unacked_events = 10;
  auto slow = Subscriber::connect(options_, o);
  ASSERT_TRUE(slow.ok()) << slow.status().to_string();
  Recorder fast_rec;
  auto fast = Subscriber::start(options_, sub_options("fast", "feed"), fast_rec.handler("fast"));
  ASSERT_TRUE(fast.ok()) << fast.status().to_string();
  const uint64_t rss_before = rss_kib(broker_->pid());
  constexpr int kEvents = 4000;
  publish("feed", kEvents, 1024);
  ASSERT_TRUE(eventually([&] { return fast_rec.total.load() >= kEvents; }, 60s)) << fast_rec.total.load();
  auto g = admin()->describe_group("slow");
  ASSERT_TRUE(g.ok());
  ASSERT_EQ(g->members.size(), 1u);
  EXPECT_LE(g->members[0].unacked_events, 10u);
  uint32_t in_flight = 0;
  uint64_t lag = 0;
  for (const auto& p : g->partitions) {
    in_flight += p.in_flight;
    lag += p.lag;
  }
  EXPECT_LE(in_flight, 10u);
  EXPECT_GE(lag, static_cast<uint64_t>(kEvents - 10));
  // 4 MiB published; what the broker holds for the slow member is bounded by its credit.
  const uint64_t rss_after = rss_kib(broker_->pid());
  EXPECT_LT(rss_after, rss_before + 200 * 1024) << "RSS grew from " << rss_before << " KiB to " << rss_after << " KiB";
}

TEST_F(SubscribeTest, SubscribingToAMissingTopicFailsWithNotFound) {
  auto sub = Subscriber::connect(options_, sub_options("s", "no-such-topic"));
  ASSERT_FALSE(sub.ok());
  EXPECT_EQ(sub.status().code(), Code::kNotFound);
  EXPECT_THAT(std::string(sub.status().message()), HasSubstr("no-such-topic"));
  auto o = sub_options("never-created", "no-such-topic");
  o.create_if_missing = false;
  auto sub2 = Subscriber::connect(options_, o);
  ASSERT_FALSE(sub2.ok());
  EXPECT_EQ(sub2.status().code(), Code::kNotFound);
}

TEST_F(SubscribeTest, CreatingASubscriptionWithAMissingDeadLetterTopicFailsNamingIt) {
  create_topic("orders", 1);
  SubscriptionSpec spec;
  spec.name = "billing";
  spec.topic = "orders";
  spec.dead_letter_topic = "orders-poison";
  auto a = admin();
  auto created = a->create_subscription(spec);
  ASSERT_FALSE(created.ok());
  EXPECT_EQ(created.status().code(), Code::kNotFound);
  EXPECT_THAT(std::string(created.status().message()), HasSubstr("\"orders-poison\""));
  EXPECT_THAT(std::string(created.status().message()), HasSubstr("--dead-letter"));
  EXPECT_EQ(a->describe_subscription("billing").status().code(), Code::kNotFound);
  // Once the operator has created it, the same request works.
  create_topic("orders-poison", 1);
  created = a->create_subscription(spec);
  ASSERT_TRUE(created.ok()) << created.status().to_string();
  EXPECT_EQ(created->spec.dead_letter_topic, "orders-poison");
}

TEST_F(SubscribeTest, CommittedOffsetAndAcksAboveAGapSurviveARestart) {
  create_topic("t", 1);
  auto sub = Subscriber::connect(options_, sub_options("s", "t"));
  ASSERT_TRUE(sub.ok()) << sub.status().to_string();
  publish("t", 4);
  std::vector<DeliveredEvent> got;
  while (got.size() < 4) {
    auto e = (*sub)->receive(4, 10s);
    ASSERT_TRUE(e.ok());
    ASSERT_FALSE(e->empty());
    for (auto& x : *e) got.push_back(std::move(x));
  }
  // Ack 0, 2 and 3: committed offset 1, with 2 and 3 acked above the gap at 1.
  for (size_t i : {0u, 2u, 3u}) ASSERT_TRUE((*sub)->ack(got[i]).ok());
  ASSERT_TRUE(eventually(
      [&] {
        auto g = admin()->describe_group("s");
        return g.ok() && g->partitions[0].committed_offset == 1 && g->partitions[0].acked_above == 2;
      },
      5s));
  // A durable ack naming nothing waits until what was acked before it is on disk.
  ASSERT_TRUE((*sub)->sync_acks().ok());
  sub->reset();
  broker_->signal(SIGKILL);
  ASSERT_TRUE(broker_->wait_exit(10s).has_value());
  start_broker();
  auto again = Subscriber::connect(options_, sub_options("s", "t"));
  ASSERT_TRUE(again.ok()) << again.status().to_string();
  std::set<uint64_t> offsets;
  for (;;) {
    auto e = (*again)->receive(10, 1s);
    ASSERT_TRUE(e.ok());
    if (e->empty()) break;
    for (const auto& x : *e) {
      offsets.insert(x.offset);
      EXPECT_TRUE((*again)->ack(x).ok());
    }
  }
  EXPECT_EQ(offsets, (std::set<uint64_t>{1}));
}

// ---------------------------------------------------------------- filtered subscriptions

TEST_F(SubscribeTest, TwoPatternsOnOneTopicEachGetExactlyTheirEventsThroughRedeliveryAndKill9) {
  create_topic("orders", 2);
  // Event i: type order.paid for odd i, order.created for even i; payload {"n":i}.
  const auto publish_orders = [&](int first, int n) {
    auto p = Publisher::connect(options_);
    ASSERT_TRUE(p.ok()) << p.status().to_string();
    std::vector<std::future<Result<PublishAck>>> acks;
    for (int i = first; i < first + n; ++i) {
      Event e;
      e.key = "k" + std::to_string(i);
      e.dedup_key = "d" + std::to_string(i);
      e.type = i % 2 == 1 ? "order.paid" : "order.created";
      e.payload = R"({"n":)" + std::to_string(i) + "}";
      acks.push_back((*p)->publish("orders", std::move(e)));
    }
    for (auto& f : acks) ASSERT_TRUE(f.get().ok());
  };
  const auto n_of = [](const DeliveredEvent& e) {
    return std::stoi(e.payload.substr(5, e.payload.size() - 6));  // {"n":123}
  };
  SubscriberOptions paid = sub_options("paid", "orders");
  paid.settings.pattern = R"({"type":["order.paid"]})";
  SubscriberOptions small = sub_options("small", "orders");
  small.settings.pattern = R"({"data":{"n":[{"numeric":["<",50]}]}})";

  std::mutex mu;
  std::map<std::string, std::set<int>> seen;        // subscription -> n delivered
  std::map<std::string, std::vector<int>> wrong;    // delivered although not matching
  std::atomic<bool> nacked_once{false};
  const auto handler = [&](const std::string& name) -> Subscriber::Handler {
    return [&, name](const DeliveredEvent& e) -> Status {
      const int n = n_of(e);
      const bool expected = name == "paid" ? n % 2 == 1 : n < 50;
      std::lock_guard lk(mu);
      if (!expected) wrong[name].push_back(n);
      // One event is refused once: it must come back, filtered or not.
      if (name == "small" && n == 7 && !nacked_once.exchange(true)) return unavailable("try again");
      seen[name].insert(n);
      return Status();
    };
  };
  paid.nack_delay = 10ms;
  small.nack_delay = 10ms;
  {
    auto a = Subscriber::start(options_, paid, handler("paid"));
    ASSERT_TRUE(a.ok()) << a.status().to_string();
    auto b = Subscriber::start(options_, small, handler("small"));
    ASSERT_TRUE(b.ok()) << b.status().to_string();
    publish_orders(0, 200);
    ASSERT_TRUE(eventually(
        [&] {
          std::lock_guard lk(mu);
          return seen["paid"].size() == 100 && seen["small"].size() == 50;
        },
        20s));
    ASSERT_TRUE((*a)->sync_acks().ok());
    ASSERT_TRUE((*b)->sync_acks().ok());
    // kill -9 with both groups active, then more events after the restart.
    broker_->signal(SIGKILL);
    ASSERT_TRUE(broker_->wait_exit(10s).has_value());
    start_broker();
    publish_orders(200, 200);
    ASSERT_TRUE(eventually(
        [&] {
          std::lock_guard lk(mu);
          return seen["paid"].size() == 200;
        },
        30s));
    // Both groups commit past everything, the filtered-out events included (while their
    // members are still there to read: "small" receives none of the new events).
    EXPECT_TRUE(all_committed("paid", 30s));
    EXPECT_TRUE(all_committed("small", 30s));
  }
  EXPECT_TRUE(nacked_once.load());
  std::set<int> want_paid, want_small;
  for (int i = 0; i < 400; ++i) {
    if (i % 2 == 1) want_paid.insert(i);
    if (i < 50) want_small.insert(i);
  }
  std::lock_guard lk(mu);
  EXPECT_EQ(seen["paid"], want_paid);
  EXPECT_EQ(seen["small"], want_small);
  EXPECT_TRUE(wrong["paid"].empty()) << wrong["paid"].size() << " non-matching events delivered to paid";
  EXPECT_TRUE(wrong["small"].empty()) << wrong["small"].size() << " non-matching events delivered to small";
  auto g = admin()->describe_group("small");
  ASSERT_TRUE(g.ok());
  uint64_t filtered = 0;
  for (const auto& p : g->partitions) filtered += p.filtered;
  EXPECT_GE(filtered, 200u) << "the 200 events after the restart were all filtered out";
}

// ---------------------------------------------------------------- hostile input (raw frames)

struct RawMember {
  explicit RawMember(uint16_t port) : conn(port) {}
  testing::RawConnection conn;
  std::vector<std::string> deliveries;
  uint64_t next_cid = 10;

  // Sends and waits for the response with this cid, keeping pushes aside.
  template <typename T>
  std::optional<std::string> call(flatbuffers::FlatBufferBuilder& b, flatbuffers::Offset<T> body) {
    const uint64_t cid = next_cid++;
    if (!conn.send(cid, b, body)) return std::nullopt;
    for (;;) {
      auto f = conn.read_frame(10s);
      if (!f) return std::nullopt;
      const auto* m = protocol::GetMessage(f->data());
      if (m->correlation_id() == 0 && m->body_type() == protocol::Body::Delivery) {
        deliveries.push_back(*f);
        continue;
      }
      if (m->correlation_id() == cid) return f;
    }
  }

  // Joins group `sub` of topic "t" from the earliest offset with `credit`: the member id,
  // or "" if the join failed.
  std::string join(const std::string& sub, uint32_t credit) {
    flatbuffers::FlatBufferBuilder fb;
    auto settings = protocol::CreateSubscriptionSettings(fb, protocol::StartKind::Earliest);
    auto body = protocol::CreateSubscribeRequest(fb, fb.CreateString(sub), fb.CreateString("t"), 0, credit, 0, true,
                                                 settings, fb.CreateString("raw"));
    auto r = call(fb, body);
    if (!r) return "";
    const auto* resp = protocol::GetMessage(r->data())->body_as_SubscribeResponse();
    if (!resp || resp->status()->code() != protocol::ErrorCode::Ok) return "";
    return resp->member_id()->str();
  }

  // Reads pushes until the Deliveries kept hold at least `n` events (bounded in time).
  bool wait_for_events(size_t n) {
    return eventually(
        [&] {
          size_t have = 0;
          for (const auto& d : deliveries) have += protocol::GetMessage(d.data())->body_as_Delivery()->events()->size();
          if (have >= n) return true;
          if (auto f = conn.read_frame(50ms)) deliveries.push_back(*f);
          return false;
        },
        10s);
  }
};

protocol::ErrorCode ack_code(const std::string& frame) {
  const auto* m = protocol::GetMessage(frame.data());
  if (m->body_as_AckResponse()) return m->body_as_AckResponse()->status()->code();
  if (m->body_as_ErrorResponse()) return m->body_as_ErrorResponse()->status()->code();
  return protocol::ErrorCode::Internal;
}

// The client can only ack events of a member id it has been told, so the answer to a
// join must come before the member's first Delivery even when events are waiting to be
// pushed the moment it joins (the stuck-commit bug of 2026-12-05: deliveries that raced
// ahead of the answer were handled but their acks were dropped as "from an earlier
// connection", and the group stopped committing until the ack deadline).
TEST_F(SubscribeTest, SubscribeResponsePrecedesTheMembersFirstDelivery) {
  create_topic("t", 8);
  publish("t", 400);
  for (int round = 0; round < 40; ++round) {
    RawMember m(port_);
    ASSERT_TRUE(m.conn.hello());
    flatbuffers::FlatBufferBuilder fb;
    auto settings = protocol::CreateSubscriptionSettings(fb, protocol::StartKind::Earliest);
    const std::string group = "g" + std::to_string(round);
    auto body = protocol::CreateSubscribeRequest(fb, fb.CreateString(group), fb.CreateString("t"), 0, 0, 0, true,
                                                 settings, fb.CreateString("raw"));
    auto r = m.call(fb, body);
    ASSERT_TRUE(r.has_value()) << "round " << round << ": no answer to the join";
    const auto* resp = protocol::GetMessage(r->data())->body_as_SubscribeResponse();
    ASSERT_NE(resp, nullptr);
    ASSERT_EQ(resp->status()->code(), protocol::ErrorCode::Ok) << resp->status()->message()->str();
    ASSERT_TRUE(m.deliveries.empty()) << "round " << round << ": " << m.deliveries.size()
                                      << " Delivery frame(s) arrived before the SubscribeResponse";
    // And the deliveries do come, for the member the answer named.
    auto f = m.conn.read_frame(10s);
    ASSERT_TRUE(f.has_value()) << "round " << round << ": no Delivery after the join";
    const auto* d = protocol::GetMessage(f->data())->body_as_Delivery();
    ASSERT_NE(d, nullptr);
    EXPECT_EQ(d->member_id()->str(), resp->member_id()->str());
  }
}

TEST_F(SubscribeTest, HostilePatternsOnTheWireAreRefusedNamingTheProblemAndChangeNothing) {
  create_topic("t", 1);
  RawMember m(port_);
  ASSERT_TRUE(m.conn.hello());
  // The status of a subscription create / update / subscribe, with its message.
  const auto status_of = [](const std::optional<std::string>& frame) -> std::pair<protocol::ErrorCode, std::string> {
    if (!frame) return {protocol::ErrorCode::Internal, "no answer"};
    const auto* msg = protocol::GetMessage(frame->data());
    const protocol::Status* st = nullptr;
    if (const auto* r = msg->body_as_CreateSubscriptionResponse()) st = r->status();
    if (const auto* r = msg->body_as_UpdateSubscriptionResponse()) st = r->status();
    if (const auto* r = msg->body_as_SubscribeResponse()) st = r->status();
    if (st == nullptr) return {protocol::ErrorCode::Internal, "unexpected answer"};
    return {st->code(), st->message() ? st->message()->str() : ""};
  };
  const auto create = [&](const std::string& name, const std::string& pattern) {
    flatbuffers::FlatBufferBuilder fb;
    auto settings = protocol::CreateSubscriptionSettings(fb, protocol::StartKind::Earliest, 0, 30000, 10, 1000, 60000,
                                                         0, 0, fb.CreateString(pattern));
    return status_of(m.call(fb, protocol::CreateCreateSubscriptionRequest(fb, fb.CreateString(name),
                                                                            fb.CreateString("t"), settings)));
  };
  const auto update = [&](const std::string& name, const std::string& pattern) {
    flatbuffers::FlatBufferBuilder fb;
    return status_of(
        m.call(fb, protocol::CreateUpdateSubscriptionRequest(fb, fb.CreateString(name), fb.CreateString(pattern))));
  };
  std::string deep = R"(["x"])";
  for (int i = 0; i < 5000; ++i) deep = R"({"a":)" + deep + "}";
  const std::string big = R"({"source":[")" + std::string(200 * 1024, 'x') + R"("]})";
  const std::string not_utf8 = std::string(R"({"source":[")") + "\xff\xfe" + R"("]})";
  const std::string many = [] {
    std::string p = R"({"source":[)";
    for (int i = 0; i < 11000; ++i) p += (i ? "," : "") + std::to_string(i % 10);
    return p + "]}";
  }();
  for (const auto& [pattern, says] : std::vector<std::pair<std::string, std::string>>{
           {"{", "not valid JSON"},
           {deep, "nests deeper"},
           {big, "65536"},
           {not_utf8, "UTF-8"},
           {many, "10000"},
           {R"({"a":[{"wildcard":"a**b"}]})", "wildcard"},
           {R"({"a":[{"numeric":[">",5,"<",1]}]})", "numeric"}}) {
    SCOPED_TRACE(pattern.substr(0, 60));
    const auto [code, message] = create("s", pattern);
    EXPECT_EQ(code, protocol::ErrorCode::InvalidArgument) << message;
    EXPECT_THAT(message, HasSubstr(says));
  }
  // None of them created anything; a good one does, and updates are checked the same way.
  auto a = admin();
  EXPECT_EQ(a->describe_subscription("s").status().code(), Code::kNotFound);
  ASSERT_EQ(create("s", R"({"source":["shop"]})").first, protocol::ErrorCode::Ok);
  EXPECT_EQ(update("s", deep).first, protocol::ErrorCode::InvalidArgument);
  EXPECT_EQ(update("s", big).first, protocol::ErrorCode::InvalidArgument);
  EXPECT_EQ(update("missing", R"({"source":["shop"]})").first, protocol::ErrorCode::NotFound);
  auto kept = a->describe_subscription("s");
  ASSERT_TRUE(kept.ok());
  EXPECT_EQ(kept->spec.pattern, R"({"source":["shop"]})");
  // The broker is still serving.
  publish("t", 1);
}

// AckRequest.quiet (docs/wire-protocol.md, "Subscribe"): an applied quiet ack gets no
// response, a refused one gets its AckResponse, and responses keep the order of the
// requests, so the heartbeat's answer confirms every quiet ack sent before it.
TEST_F(SubscribeTest, QuietAcksAreAnsweredOnlyWhenRefusedAndInOrder) {
  create_topic("t", 1);
  publish("t", 5);
  RawMember a(port_);
  ASSERT_TRUE(a.conn.hello());
  const std::string member = a.join("ga", 100);
  ASSERT_FALSE(member.empty());
  ASSERT_TRUE(a.wait_for_events(5));
  const auto quiet_ack = [&](uint64_t cid, uint64_t offset) {
    flatbuffers::FlatBufferBuilder fb;
    std::vector<uint64_t> offsets{offset};
    auto body = protocol::CreateAckRequest(fb, fb.CreateString("ga"), fb.CreateString(member), 0,
                                           fb.CreateVector(offsets), /*durable=*/false, /*quiet=*/true);
    return a.conn.send(cid, fb, body);
  };
  ASSERT_TRUE(quiet_ack(100, 0));
  ASSERT_TRUE(quiet_ack(101, 1'000'000));  // never delivered: refused
  ASSERT_TRUE(quiet_ack(102, 1));
  {
    flatbuffers::FlatBufferBuilder fb;
    ASSERT_TRUE(a.conn.send(103, fb, protocol::CreateHeartbeatRequest(fb, fb.CreateString("ga"), fb.CreateString(member))));
  }
  std::vector<std::pair<uint64_t, protocol::Body>> answers;
  while (answers.empty() || answers.back().first != 103) {
    auto f = a.conn.read_frame(10s);
    ASSERT_TRUE(f.has_value()) << "no answer to the heartbeat; answers so far: " << answers.size();
    const auto* m = protocol::GetMessage(f->data());
    if (m->correlation_id() == 0) continue;  // a Delivery
    answers.emplace_back(m->correlation_id(), m->body_type());
    if (m->correlation_id() == 101) {
      EXPECT_EQ(ack_code(*f), protocol::ErrorCode::OutOfRange);
    }
  }
  ASSERT_EQ(answers.size(), 2u) << "an applied quiet ack was answered";
  EXPECT_EQ(answers[0], std::make_pair(uint64_t{101}, protocol::Body::AckResponse));
  EXPECT_EQ(answers[1], std::make_pair(uint64_t{103}, protocol::Body::HeartbeatResponse));
  // Both applied quiet acks count: offsets 0 and 1 are committed.
  ASSERT_TRUE(eventually([&] { return admin()->describe_group("ga")->partitions[0].committed_offset == 2; }, 5s));
}

TEST_F(SubscribeTest, HostileAcksAreRefusedWithErrorsAndCorruptNothing) {
  create_topic("t", 2);
  publish("t", 10);
  RawMember a(port_), b(port_);
  ASSERT_TRUE(a.conn.hello());
  ASSERT_TRUE(b.conn.hello());
  const std::string ma = a.join("ga", 100);
  const std::string mb = b.join("gb", 100);
  ASSERT_FALSE(ma.empty());
  ASSERT_FALSE(mb.empty());
  const auto ack = [](RawMember& m, const std::string& sub, const std::string& member, uint32_t partition,
                      std::vector<uint64_t> offsets) {
    flatbuffers::FlatBufferBuilder fb;
    auto body = protocol::CreateAckRequest(fb, fb.CreateString(sub), fb.CreateString(member), partition,
                                           fb.CreateVector(offsets));
    auto r = m.call(fb, body);
    return r ? ack_code(*r) : protocol::ErrorCode::Internal;
  };
  // Wait until group ga has received all 10 events (two partitions, in flight).
  ASSERT_TRUE(a.wait_for_events(10));
  std::map<uint32_t, std::vector<uint64_t>> delivered;
  for (const auto& d : a.deliveries) {
    const auto* del = protocol::GetMessage(d.data())->body_as_Delivery();
    for (const auto* e : *del->events()) delivered[del->partition()].push_back(e->offset());
  }
  ASSERT_EQ(delivered[0].size() + delivered[1].size(), 10u);
  const uint32_t p = delivered[0].empty() ? 1 : 0;
  const uint64_t first = delivered[p].front();

  // Never delivered.
  EXPECT_EQ(ack(a, "ga", ma, p, {1'000'000}), protocol::ErrorCode::OutOfRange);
  // Another group's partitions: member a is unknown in gb, and member b may not speak for a.
  EXPECT_EQ(ack(a, "gb", ma, p, {first}), protocol::ErrorCode::UnknownGroupMember);
  EXPECT_EQ(ack(b, "ga", ma, p, {first}), protocol::ErrorCode::UnknownGroupMember);
  EXPECT_EQ(ack(a, "ga", "forged-member", p, {first}), protocol::ErrorCode::UnknownGroupMember);
  // A partition that does not exist.
  EXPECT_EQ(ack(a, "ga", ma, 99, {first}), protocol::ErrorCode::NotAssigned);
  // No offsets, and too many.
  EXPECT_EQ(ack(a, "ga", ma, p, {}), protocol::ErrorCode::InvalidArgument);
  EXPECT_EQ(ack(a, "ga", ma, p, std::vector<uint64_t>(70000, first)), protocol::ErrorCode::InvalidArgument);
  // A good ack, then the same ack again.
  EXPECT_EQ(ack(a, "ga", ma, p, {first}), protocol::ErrorCode::Ok);
  EXPECT_EQ(ack(a, "ga", ma, p, {first}), protocol::ErrorCode::AlreadyExists);
  // A flood of bad acks, pipelined.
  for (int i = 0; i < 2000; ++i) {
    flatbuffers::FlatBufferBuilder fb;
    auto body = protocol::CreateAckRequest(fb, fb.CreateString("ga"), fb.CreateString(ma), p,
                                           fb.CreateVector(std::vector<uint64_t>{500'000u + static_cast<uint64_t>(i), first}));
    ASSERT_TRUE(a.conn.send(100'000 + static_cast<uint64_t>(i), fb, body));
  }
  int answered = 0;
  while (answered < 2000) {
    auto f = a.conn.read_frame(10s);
    ASSERT_TRUE(f.has_value()) << "answered " << answered;
    const auto* m = protocol::GetMessage(f->data());
    if (m->correlation_id() >= 100'000) {
      EXPECT_NE(ack_code(*f), protocol::ErrorCode::Ok);
      ++answered;
    }
  }
  // Nothing was corrupted: the group's state is exactly one acked event, and acking the
  // rest commits everything.
  auto g = admin()->describe_group("ga");
  ASSERT_TRUE(g.ok());
  uint64_t committed = 0;
  for (const auto& part : g->partitions) committed += part.committed_offset;
  EXPECT_EQ(committed, 1u);
  for (const auto& [part, offsets] : delivered) {
    std::vector<uint64_t> rest;
    for (uint64_t o : offsets) {
      if (!(part == p && o == first)) rest.push_back(o);
    }
    if (!rest.empty()) {
      EXPECT_EQ(ack(a, "ga", ma, part, rest), protocol::ErrorCode::Ok);
    }
  }
  ASSERT_TRUE(eventually(
      [&] {
        auto gg = admin()->describe_group("ga");
        uint64_t c = 0;
        for (const auto& part : gg->partitions) c += part.committed_offset;
        return c == 10;
      },
      5s));
  // Group gb was never touched by any of this.
  auto gb = admin()->describe_group("gb");
  ASSERT_TRUE(gb.ok());
  for (const auto& part : gb->partitions) EXPECT_EQ(part.committed_offset, 0u);
}

TEST_F(SubscribeTest, MemberThatNeverReadsItsSocketKeepsBrokerMemoryBoundedWhileAnotherGroupConsumes) {
  // Keep ASan's quarantine of freed blocks small in this broker, so that its RSS shows what
  // the broker holds rather than what it freed recently.
  const char* asan = std::getenv("ASAN_OPTIONS");
  const std::string saved = asan ? asan : "";
  broker_->signal(SIGTERM);
  ASSERT_TRUE(broker_->wait_exit(30s).has_value());
  ::setenv("ASAN_OPTIONS", (saved.empty() ? std::string() : saved + ":").append("quarantine_size_mb=8").c_str(), 1);
  // Reads kept for the other group (here: for the member that never reads) are part of
  // the bound: at most the --subscribe-read-cache budget.
  start_broker({"--subscribe-read-cache", "16MiB"});
  if (saved.empty()) {
    ::unsetenv("ASAN_OPTIONS");
  } else {
    ::setenv("ASAN_OPTIONS", saved.c_str(), 1);
  }
  create_topic("firehose", 2, Durability::kOs);
  // A raw member with the largest credit the broker grants, that never reads its socket
  // after joining: only the connection's bounded push queue can hold the broker back.
  RawMember stuck(port_);
  ASSERT_TRUE(stuck.conn.hello());
  std::string stuck_member;
  {
    flatbuffers::FlatBufferBuilder fb;
    auto settings = protocol::CreateSubscriptionSettings(fb, protocol::StartKind::Earliest);
    auto body = protocol::CreateSubscribeRequest(fb, fb.CreateString("stuck"), fb.CreateString("firehose"), 0, 100000,
                                                 256u << 20, true, settings, fb.CreateString("never-reads"));
    auto r = stuck.call(fb, body);
    ASSERT_TRUE(r.has_value());
    const auto* resp = protocol::GetMessage(r->data())->body_as_SubscribeResponse();
    ASSERT_NE(resp, nullptr);
    ASSERT_EQ(resp->status()->code(), protocol::ErrorCode::Ok);
    stuck_member = resp->member_id()->str();
  }
  // It stays a member: it heartbeats (writes only; its responses pile up unread, well
  // below the broker's 256 unanswered requests per connection).
  std::atomic<bool> done{false};
  std::thread heartbeats([&] {
    for (uint64_t cid = 1'000'000; !done; ++cid) {
      flatbuffers::FlatBufferBuilder fb;
      auto body = protocol::CreateHeartbeatRequest(fb, fb.CreateString("stuck"), fb.CreateString(stuck_member));
      if (!stuck.conn.send(cid, fb, body)) return;
      for (int i = 0; i < 8 && !done; ++i) std::this_thread::sleep_for(50ms);
    }
  });
  struct Join {
    std::atomic<bool>& done;
    std::thread& t;
    ~Join() {
      done = true;
      t.join();
    }
  } join_heartbeats{done, heartbeats};
  Recorder fast_rec;
  auto fast = Subscriber::start(options_, sub_options("fast", "firehose"), fast_rec.handler("fast"));
  ASSERT_TRUE(fast.ok()) << fast.status().to_string();
  constexpr size_t kPayload = 32u << 10;
  constexpr int kWarmUp = 100;
  publish("firehose", kWarmUp, kPayload);
  ASSERT_TRUE(eventually([&] { return fast_rec.total.load() >= kWarmUp; }, 60s)) << fast_rec.total.load();
  const uint64_t rss_before = rss_kib(broker_->pid());
  // 64 MiB more, in chunks so that the publishers' own requests do not pile up.
  constexpr int kEvents = 2000;
  for (int first = kWarmUp; first < kEvents; first += 100) publish("firehose", 100, kPayload, first);
  ASSERT_TRUE(eventually([&] { return fast_rec.total.load() >= kEvents; }, 120s)) << fast_rec.total.load();
  auto g = admin()->describe_group("stuck");
  ASSERT_TRUE(g.ok()) << g.status().to_string();
  ASSERT_EQ(g->members.size(), 1u);
  // Pushed to it (queued in the broker or in the sockets' buffers): about 4 MiB of queue
  // plus the kernel's buffers, far from the 64 MiB its credit would allow; and at most
  // 16 MiB of reads the fast group made, kept in case the stuck one asks for them.
  EXPECT_LT(g->members[0].unacked_events, 1000u);
  const uint64_t rss_after = rss_kib(broker_->pid());
  EXPECT_LT(rss_after, rss_before + 48 * 1024) << "RSS grew from " << rss_before << " KiB to " << rss_after << " KiB";
}

// ---------------------------------------------------------------- crashes

TEST_F(SubscribeTest, BrokerKilledRepeatedlyDuringLoadLosesNoAckedPublishAndRepeatsOnlyRedeliveries) {
  create_topic("load", 2);
  std::mutex mu;
  std::set<std::string> acked_publishes;                         // dedup keys
  // dedup key -> (attempt, broker life). The life is read from the delivery's member id
  // (the broker's instance, then "-N"): a counter bumped by this thread after the kill
  // would mislabel events of the old life that the subscriber handles a moment later.
  std::map<std::string, std::vector<std::pair<uint32_t, std::string>>> handled;
  std::atomic<bool> stop{false};
  size_t publish_failures = 0;
  std::string last_failure;

  Subscriber::Handler handler = [&](const DeliveredEvent& e) {
    std::lock_guard lk(mu);
    handled[e.dedup_key].emplace_back(e.attempt, e.member_id.substr(0, e.member_id.rfind('-')));
    return Status();
  };
  auto so = sub_options("crash-group", "load");
  so.retry_backoff_max = 300ms;
  auto sub = Subscriber::start(options_, so, handler);
  ASSERT_TRUE(sub.ok()) << sub.status().to_string();

  // A copy: start_broker() below assigns options_ again while this thread may read it.
  const ClientOptions producer_options = options_;
  std::thread producer([&] {
    PublisherOptions po;
    po.max_retries = 1000;
    po.retry_backoff_max = 300ms;
    auto p = Publisher::connect(producer_options, po);
    if (!p) return;
    int i = 0;
    while (!stop) {
      std::vector<std::pair<std::string, std::future<Result<PublishAck>>>> batch;
      for (int j = 0; j < 20; ++j, ++i) {
        Event e;
        e.dedup_key = "e" + std::to_string(i);
        e.payload = "payload-" + std::to_string(i);
        std::string key = e.dedup_key;
        auto future = (*p)->publish("load", std::move(e));
        batch.emplace_back(std::move(key), std::move(future));
      }
      for (auto& [key, f] : batch) {
        auto r = f.get();
        std::lock_guard lk(mu);
        if (r.ok()) {
          acked_publishes.insert(key);
        } else {
          ++publish_failures;
          last_failure = r.status().to_string();
        }
      }
    }
  });

  for (int restart = 0; restart < 5; ++restart) {
    std::this_thread::sleep_for(std::chrono::milliseconds(400 + 150 * restart));
    broker_->signal(SIGKILL);
    ASSERT_TRUE(broker_->wait_exit(10s).has_value());
    start_broker();
  }
  std::this_thread::sleep_for(500ms);
  stop = true;
  producer.join();

  std::set<std::string> expected;
  {
    std::lock_guard lk(mu);
    expected = acked_publishes;
  }
  ASSERT_GT(expected.size(), 100u) << publish_failures << " failed publishes; last: " << last_failure;
  ASSERT_TRUE(eventually(
      [&] {
        std::lock_guard lk(mu);
        for (const auto& k : expected)
          if (!handled.count(k)) return false;
        return true;
      },
      60s))
      << "acked publishes: " << expected.size();
  (void)(*sub)->close();

  std::lock_guard lk(mu);
  size_t repeats = 0;
  for (const auto& [key, deliveries] : handled) {
    for (size_t i = 1; i < deliveries.size(); ++i) {
      ++repeats;
      // A repeat is a redelivery: a higher attempt, or a first attempt in a broker life
      // that had not delivered it yet.
      if (deliveries[i].first > 1) continue;
      for (size_t j = 0; j < i; ++j) {
        EXPECT_NE(deliveries[i].second, deliveries[j].second)
            << key << " delivered again with attempt 1 in the same broker life";
      }
    }
  }
  // No dedup-keyed publish was stored twice: the log holds each key once.
  auto a = admin();
  std::map<std::string, int> stored;
  for (uint32_t part = 0; part < 2; ++part) {
    uint64_t offset = 0;
    for (;;) {
      auto r = a->fetch("load", part, offset, 1000);
      ASSERT_TRUE(r.ok()) << r.status().to_string();
      if (r->events.empty()) break;
      for (const auto& e : r->events) ++stored[e.dedup_key];
      offset = r->next_offset;
    }
  }
  for (const auto& [key, n] : stored) EXPECT_EQ(n, 1) << key;
  std::cout << "acked publishes " << expected.size() << ", handled keys " << handled.size() << ", repeats " << repeats
            << "\n";
}

}  // namespace
}  // namespace causeway::client
