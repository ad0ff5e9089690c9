// Coordinator (broker/src/subscribe/coordinator.h) over a real EventStore, with fake
// delivery sinks and an executor the test drains by hand, so that every step is
// deterministic: push backpressure, members whose connection is gone, delete/re-create
// races, dead-letter failures, frame-size bounds, start clamping and shutdown.
#include "subscribe/coordinator.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <flatbuffers/idl.h>

#include <atomic>
#include <deque>
#include <thread>

#include "causeway/schemas/protocol_generated.h"
#include "core/event_store.h"
#include "core/publish_pipeline.h"
#include "server/handlers.h"
#include "storage/file_system.h"
#include "tests/support/temp_dir.h"
#include "tests/unit/storage/fault_injection_fs.h"

namespace causeway::subscribe {
namespace {

using ::testing::HasSubstr;
using namespace std::chrono_literals;

// A connection that queues frames until the test drains it, with a byte cap like SessionSink's.
class FakeSink final : public DeliverySink {
 public:
  explicit FakeSink(uint64_t id, size_t cap = SIZE_MAX) : id_(id), cap_(cap) {}
  uint64_t connection_id() const override { return id_; }
  PushResult push(const DeliveryBatch& batch) override {
    std::vector<uint8_t> frame = server::encode_delivery(batch);  // as the broker's connection does
    std::lock_guard lk(mu_);
    if (closed_) return PushResult::kClosed;
    queued_bytes_ += frame.size();
    max_queued_bytes_ = std::max(max_queued_bytes_, queued_bytes_);
    frames_.push_back(std::move(frame));
    if (queued_bytes_ >= cap_) return PushResult::kFull;
    return PushResult::kQueued;
  }
  bool has_room() override {
    std::lock_guard lk(mu_);
    return queued_bytes_ < cap_;
  }
  bool is_closed() const override {
    std::lock_guard lk(mu_);
    return closed_;
  }
  void close() {
    std::lock_guard lk(mu_);
    closed_ = true;
  }
  // The client read everything queued: returns the Delivery frames.
  std::vector<std::vector<uint8_t>> drain() {
    std::lock_guard lk(mu_);
    queued_bytes_ = 0;
    return std::exchange(frames_, {});
  }
  size_t max_queued_bytes() const {
    std::lock_guard lk(mu_);
    return max_queued_bytes_;
  }

 private:
  const uint64_t id_;
  const size_t cap_;
  mutable std::mutex mu_;
  bool closed_ = false;
  size_t queued_bytes_ = 0;
  size_t max_queued_bytes_ = 0;
  std::vector<std::vector<uint8_t>> frames_;
};

const protocol::Delivery& delivery_of(const std::vector<uint8_t>& frame) {
  return *protocol::GetMessage(frame.data() + 4)->body_as_Delivery();
}

struct Delivered {
  uint32_t partition;
  uint64_t offset;
  uint32_t attempt;
};

std::vector<Delivered> events_of(const std::vector<std::vector<uint8_t>>& frames) {
  std::vector<Delivered> out;
  for (const auto& f : frames) {
    const auto& d = delivery_of(f);
    for (const auto* e : *d.events()) out.push_back(Delivered{d.partition(), e->offset(), e->attempt()});
  }
  return out;
}

class CoordinatorTest : public ::testing::Test {
 protected:
  void open(CoordinatorOptions options = {}) {
    core::EventStoreOptions o;
    o.data_dir = dir_.path();
    o.logs.background = false;
    // Strictly increasing, so that a subscription re-created within a millisecond still
    // gets another created_ms.
    o.meta.now_ms = [this] { return clock_ms_.fetch_add(1) + 1; };
    o.logs.max_open_sealed_segments = max_open_sealed_segments_;
    auto s = core::EventStore::open(fs_ ? fs_ : storage::FileSystem::posix(), o, nullptr);
    ASSERT_TRUE(s.ok()) << s.error().to_string();
    store_ = std::move(*s);
    publish_ = std::make_unique<core::PublishPipeline>(*store_);
    co_ = std::make_unique<Coordinator>(
        *store_, *publish_,
        [this](std::function<void()> fn) {
          std::lock_guard lk(tasks_mu_);
          tasks_.push_back(std::move(fn));
        },
        options);
    store_->append_notifier().set(
        [c = co_.get()](std::string_view topic, uint32_t partition, uint64_t end) { c->on_append(topic, partition, end); });
  }
  void SetUp() override { open(); }
  void TearDown() override { close(); }
  void close() {
    if (!store_) return;
    store_->append_notifier().set(nullptr);
    co_->stop();
    run();
    co_.reset();
    publish_.reset();
    store_.reset();
  }

  // Runs the coordinator's scheduled work (pumps, dead letters) until none is left.
  void run() {
    for (;;) {
      std::function<void()> fn;
      {
        std::lock_guard lk(tasks_mu_);
        if (tasks_.empty()) return;
        fn = std::move(tasks_.front());
        tasks_.pop_front();
      }
      fn();
    }
  }

  meta::TopicConfig create_topic(const std::string& name, uint32_t partitions = 1) {
    meta::TopicConfig t;
    t.name = name;
    t.partitions = partitions;
    auto r = store_->create_topic(t);
    EXPECT_TRUE(r.ok()) << r.error().to_string();
    return r ? *r : t;
  }

  void publish(const std::string& topic, int n, size_t payload_bytes = 16, int32_t partition = -1) {
    const std::string payload(payload_bytes, 'x');
    for (int i = 0; i < n; ++i) {
      core::PublishEvent e;
      e.record.payload = payload;
      e.partition = partition;
      auto acks = publish_->publish(topic, std::span<const core::PublishEvent>(&e, 1), 0, static_cast<uint32_t>(i));
      ASSERT_TRUE(acks.ok()) << acks.error().to_string();
      ASSERT_TRUE((*acks)[0].status.ok()) << (*acks)[0].status.to_string();
    }
  }

  meta::SubscriptionConfig sub(const std::string& name, const std::string& topic) {
    meta::SubscriptionConfig c;
    c.name = name;
    c.topic = topic;
    c.start = meta::StartKind::kEarliest;
    return c;
  }

  std::string join(const std::shared_ptr<FakeSink>& sink, const std::string& name, const std::string& topic,
                   uint32_t credit_events = 0, uint32_t credit_bytes = 0) {
    auto r = co_->join(sink, name, topic, credit_events, credit_bytes, true, sub(name, topic), "test");
    EXPECT_TRUE(r.ok()) << r.status().to_string();
    return r ? r->member_id : "";
  }

  // Groups s0 .. s<n-1> on `topic`, one member each, on connections 1 .. n.
  std::vector<std::shared_ptr<FakeSink>> join_groups(uint64_t n, const std::string& topic) {
    std::vector<std::shared_ptr<FakeSink>> sinks;
    for (uint64_t i = 0; i < n; ++i) {
      sinks.push_back(std::make_shared<FakeSink>(i + 1));
      join(sinks.back(), "s" + std::to_string(i), topic);
    }
    return sinks;
  }

  Status ack(const std::shared_ptr<FakeSink>& sink, const std::string& name, const std::string& member,
             const std::vector<Delivered>& events) {
    for (const auto& e : events) {
      uint32_t accepted = 0;
      CAUSEWAY_RETURN_IF_ERROR(co_->ack(sink->connection_id(), name, member, e.partition, {e.offset}, accepted));
    }
    return Status();
  }

  testing::TempDir dir_;
  storage::FileSystem* fs_ = nullptr;  // posix unless a test sets another before open()
  std::unique_ptr<storage::testing::FaultInjectionFs> fault_fs_;  // outlives store_
  size_t max_open_sealed_segments_ = 1024;
  std::atomic<int64_t> clock_ms_{1'700'000'000'000};
  std::unique_ptr<core::EventStore> store_;
  std::unique_ptr<core::PublishPipeline> publish_;
  std::unique_ptr<Coordinator> co_;
  std::mutex tasks_mu_;
  std::deque<std::function<void()>> tasks_;
};

// ---------------------------------------------------------------- push backpressure

TEST_F(CoordinatorTest, SlowSessionParksDeliveryInsteadOfBufferingWithoutBound) {
  close();
  CoordinatorOptions o;
  o.max_delivery_bytes = 16u << 10;  // frames of a few events
  open(o);
  create_topic("t");
  constexpr size_t kCap = 64u << 10;
  auto slow = std::make_shared<FakeSink>(1, kCap);
  // Credit for everything: only the connection's queue bound can hold the broker back.
  const std::string m = join(slow, "s", "t", 100000, 256u << 20);
  publish("t", 200, 4096);  // about 800 KiB
  run();
  // Parked at the cap: at most one frame (max_delivery_bytes and one event) past it.
  EXPECT_LE(slow->max_queued_bytes(), kCap + o.max_delivery_bytes + 8192);
  const size_t first_events = co_->stats().in_flight;
  EXPECT_GT(first_events, 0u);
  EXPECT_LT(first_events, 200u);
  // Nothing more while the connection has not drained, however often the partition is woken.
  publish("t", 1, 4096);
  run();
  EXPECT_EQ(co_->stats().in_flight, first_events);
  auto first = slow->drain();
  EXPECT_EQ(events_of(first).size(), first_events);
  // The writer drained it: delivery resumes, in bounded steps, until all has arrived.
  std::vector<Delivered> all = events_of(first);
  for (int i = 0; i < 1000 && all.size() < 201; ++i) {
    co_->sink_drained(slow->connection_id());
    run();
    auto more = events_of(slow->drain());
    all.insert(all.end(), more.begin(), more.end());
  }
  ASSERT_EQ(all.size(), 201u);
  for (uint64_t i = 0; i < all.size(); ++i) EXPECT_EQ(all[i].offset, i);
}

TEST_F(CoordinatorTest, ConnectionLimitsOnMembershipsGroupsAndCreditAreEnforced) {
  close();
  CoordinatorOptions o;
  o.max_groups_per_connection = 2;
  o.max_members_per_connection = 4;
  o.max_connection_credit_events = 2500;
  open(o);
  create_topic("t");
  auto sink = std::make_shared<FakeSink>(1);
  const auto refused = [&](const std::string& group, uint32_t credit, std::string_view why) {
    auto r = co_->join(sink, group, "t", credit, 0, true, sub(group, "t"), "test");
    ASSERT_FALSE(r.ok()) << group << " " << credit;
    EXPECT_EQ(r.status().code(), Code::kResourceExhausted);
    EXPECT_THAT(std::string(r.status().message()), HasSubstr(std::string(why)));
  };
  join(sink, "a", "t", 1000);
  join(sink, "a", "t", 1000);  // two memberships of one group
  refused("b", 1000, "credit");  // 3000 events in all
  const std::string b = join(sink, "b", "t", 100);
  refused("c", 100, "groups");  // a third group
  join(sink, "b", "t", 100);
  refused("a", 1, "memberships");  // a fifth membership
  // Raising a member's credit past the connection's total is refused as well; lowering works.
  EXPECT_EQ(co_->set_credit(1, "b", b, 500, 0).code(), Code::kResourceExhausted);
  EXPECT_TRUE(co_->set_credit(1, "b", b, 300, 0).ok());
  // Another connection has its own budget.
  auto other = std::make_shared<FakeSink>(2);
  join(other, "c", "t", 2000);
}

// ---------------------------------------------------------------- connections that are gone

TEST_F(CoordinatorTest, PushToAClosedConnectionReleasesTheMemberAndRedeliversItsEvents) {
  create_topic("t", 2);
  auto a = std::make_shared<FakeSink>(1);
  auto b = std::make_shared<FakeSink>(2);
  join(a, "g", "t");
  join(b, "g", "t");
  publish("t", 2, 16, 0);
  publish("t", 2, 16, 1);
  run();
  auto to_a = events_of(a->drain());
  auto to_b = events_of(b->drain());
  ASSERT_EQ(to_a.size(), 2u);
  ASSERT_EQ(to_b.size(), 2u);
  const uint32_t a_partition = to_a[0].partition;
  // a's connection goes away without connection_closed having run yet; the next push to it
  // fails. Its member must leave then, not hold its partition and its events forever.
  a->close();
  publish("t", 1, 16, static_cast<int32_t>(a_partition));
  run();
  auto g = co_->describe_group("g");
  ASSERT_TRUE(g.ok());
  ASSERT_EQ(g->members.size(), 1u);
  EXPECT_EQ(g->members[0].partitions.size(), 2u);
  // b gets a's unacked events again with the next attempt: the two it had, and the one
  // whose push failed (counted as a delivery: at least once, never lost).
  auto again = events_of(b->drain());
  std::map<uint64_t, uint32_t> attempts;
  for (const auto& e : again) {
    EXPECT_EQ(e.partition, a_partition);
    attempts[e.offset] = e.attempt;
  }
  EXPECT_EQ(attempts, (std::map<uint64_t, uint32_t>{{0, 2}, {1, 2}, {2, 2}}));
}

TEST_F(CoordinatorTest, JoinOnAClosedConnectionIsRefused) {
  create_topic("t");
  auto a = std::make_shared<FakeSink>(1);
  a->close();
  auto r = co_->join(a, "g", "t", 0, 0, true, sub("g", "t"), "test");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kUnavailable);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("closing"));
  auto g = co_->describe_group("g");
  ASSERT_TRUE(g.ok());
  EXPECT_TRUE(g->members.empty());
}

// ---------------------------------------------------------------- delete / re-create races

TEST_F(CoordinatorTest, StaleGroupDoesNotCommitIntoARecreatedSubscription) {
  const auto topic = create_topic("t");
  auto a = std::make_shared<FakeSink>(1);
  const std::string m = join(a, "s", "t");
  publish("t", 5);
  run();
  auto got = events_of(a->drain());
  ASSERT_EQ(got.size(), 5u);
  ASSERT_TRUE(ack(a, "s", m, got).ok());
  // Deleted and re-created behind the loaded group's back (another handler's delete racing
  // with this group's last acks): the acks of the old subscription must not reach the new one.
  ASSERT_TRUE(store_->meta().delete_subscription("s").ok());
  ASSERT_TRUE(store_->meta().create_subscription(sub("s", "t"), std::vector<meta::PartitionOffset>{{0, 0}}).ok());
  co_->flush_commits();
  auto committed = store_->meta().committed_offset("s", topic.topic_id, 0);
  ASSERT_TRUE(committed.ok());
  EXPECT_EQ(*committed, std::optional<uint64_t>(0));
  // The stale group is gone; a new member gets the new subscription's events from its start.
  auto b = std::make_shared<FakeSink>(2);
  join(b, "s", "t");
  run();
  auto again = events_of(b->drain());
  ASSERT_EQ(again.size(), 5u);
  EXPECT_EQ(again[0].offset, 0u);
  EXPECT_EQ(again[0].attempt, 1u);
}

TEST_F(CoordinatorTest, GroupIsReloadedWhenItsTopicIsDeletedAndRecreated) {
  create_topic("t");
  auto a = std::make_shared<FakeSink>(1);
  const std::string m = join(a, "s", "t");
  publish("t", 5);
  run();
  auto got = events_of(a->drain());
  ASSERT_EQ(got.size(), 5u);
  ASSERT_TRUE(ack(a, "s", m, got).ok());
  ASSERT_TRUE(store_->delete_topic("t").ok());
  const auto recreated = create_topic("t");
  publish("t", 3);
  // The old group (next offset 5) must not decide what the new topic's members get.
  auto b = std::make_shared<FakeSink>(2);
  join(b, "s", "t");
  run();
  auto fresh = events_of(b->drain());
  ASSERT_EQ(fresh.size(), 3u);
  EXPECT_EQ(fresh[0].offset, 0u);
  // And no commit of the old state lands under the new topic id.
  co_->flush_commits();
  auto committed = store_->meta().committed_offset("s", recreated.topic_id, 0);
  ASSERT_TRUE(committed.ok());
  EXPECT_NE(*committed, std::optional<uint64_t>(5));
}

// ---------------------------------------------------------------- dead letters

TEST_F(CoordinatorTest, SubscriptionWithAMissingDeadLetterTopicIsRefusedNamingIt) {
  create_topic("t");
  auto c = sub("s", "t");
  c.dead_letter_topic = "no-such-dlq";
  auto r = co_->create_subscription(c);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kNotFound);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("\"no-such-dlq\""));
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("create it"));
  EXPECT_FALSE(store_->get_topic("no-such-dlq").ok());  // not created behind the user's back
  c.dead_letter_topic = "t";
  EXPECT_EQ(co_->create_subscription(c).status().code(), Code::kInvalidArgument);
  // The default "<topic>.dlq" is created with the subscription.
  ASSERT_TRUE(co_->create_subscription(sub("s", "t")).ok());
  EXPECT_TRUE(store_->get_topic("t.dlq").ok());
}

// A read that fails for another reason than retention (here: reopening a sealed segment
// while the process is out of descriptors) is tried again by the sweeper, so the group
// catches up once it can, even though no new event or ack comes to wake the partition.
TEST_F(CoordinatorTest, AFailedReadIsRetriedWithoutANewEventToWakeThePartition) {
  close();
  fault_fs_ = std::make_unique<storage::testing::FaultInjectionFs>();
  storage::testing::FaultInjectionFs& fs = *fault_fs_;
  fs_ = &fs;
  max_open_sealed_segments_ = 1;
  CoordinatorOptions o;
  o.sweep_interval = 10ms;
  open(o);
  meta::TopicConfig t;
  t.name = "t";
  t.segment_bytes = 64 << 10;
  ASSERT_TRUE(store_->create_topic(t).ok());
  publish("t", 200, 1000);  // three sealed segments and the active one
  ASSERT_GE(store_->partition("t", 0)->segment_count(), 3u);
  ASSERT_TRUE(co_->create_subscription(sub("s", "t")).ok());
  co_->start();
  fs.set_open_budget(0);  // every open fails as at EMFILE
  auto a = std::make_shared<FakeSink>(1, SIZE_MAX);
  join(a, "s", "t", 1000, 64 << 20);
  run();
  EXPECT_TRUE(events_of(a->drain()).empty()) << "the first segment cannot be opened";
  fs.set_open_budget(-1);
  std::vector<Delivered> got;
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (got.size() < 200 && std::chrono::steady_clock::now() < deadline) {
    run();
    for (const Delivered& d : events_of(a->drain())) got.push_back(d);
    std::this_thread::sleep_for(5ms);
  }
  ASSERT_EQ(got.size(), 200u);
  for (size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i].offset, i);
}

TEST_F(CoordinatorTest, FailingDeadLetterPublishIsRetriedWithBackoffUntilItSucceeds) {
  close();
  CoordinatorOptions o;
  o.sweep_interval = 10ms;
  open(o);
  create_topic("t");
  create_topic("dead");
  auto c = sub("s", "t");
  c.dead_letter_topic = "dead";
  c.max_attempts = 1;
  c.backoff = 0ms;
  ASSERT_TRUE(co_->create_subscription(c).ok());
  co_->start();
  ASSERT_TRUE(store_->delete_topic("dead").ok());  // broken after the create-time check
  auto a = std::make_shared<FakeSink>(1);
  const std::string m = join(a, "s", "t");
  publish("t", 2);
  run();
  auto got = events_of(a->drain());
  ASSERT_EQ(got.size(), 2u);
  uint32_t accepted = 0;
  ASSERT_TRUE(co_->nack(1, "s", m, 0, {0}, 1ms, "poison", accepted).ok());
  ASSERT_TRUE(co_->ack(1, "s", m, 0, {1}, accepted).ok());
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (co_->stats().dead_letter_failures == 0 && std::chrono::steady_clock::now() < deadline) {
    run();
    std::this_thread::sleep_for(5ms);
  }
  ASSERT_GE(co_->stats().dead_letter_failures, 1u);
  EXPECT_EQ(co_->stats().dead_lettered, 0u);
  EXPECT_FALSE(store_->get_topic("dead").ok());  // a named dead-letter topic is the user's to create
  // The poison event is neither redelivered nor committed past while it waits.
  EXPECT_TRUE(events_of(a->drain()).empty());
  EXPECT_EQ(co_->describe_group("s")->partitions[0].committed_offset, 0u);
  // Fixed by the operator: the retry succeeds and the partition moves on.
  create_topic("dead");
  while (co_->stats().dead_lettered == 0 && std::chrono::steady_clock::now() < deadline + 10s) {
    run();
    std::this_thread::sleep_for(5ms);
  }
  EXPECT_EQ(co_->stats().dead_lettered, 1u);
  EXPECT_EQ(co_->describe_group("s")->partitions[0].committed_offset, 2u);
  EXPECT_EQ(store_->partition("dead", 0)->high_watermark(), 1u);
}

TEST_F(CoordinatorTest, PermanentNackDeadLettersAtOnceWithItsReasonWhateverTheAttemptsLeft) {
  close();
  CoordinatorOptions o;
  o.sweep_interval = 10ms;
  open(o);
  create_topic("t");
  auto c = sub("s", "t");
  c.max_attempts = 100;
  c.backoff = 10s;  // a plain nack would wait this long
  c.max_backoff = 10s;
  ASSERT_TRUE(co_->create_subscription(c).ok());
  co_->start();
  auto a = std::make_shared<FakeSink>(1);
  const std::string m = join(a, "s", "t");
  publish("t", 2);
  run();
  ASSERT_EQ(events_of(a->drain()).size(), 2u);
  uint32_t accepted = 0;
  ASSERT_TRUE(co_->nack(1, "s", m, 0, {0}, 0ms, "HTTP 422: no items", accepted, /*permanent=*/true).ok());
  EXPECT_EQ(accepted, 1u);
  ASSERT_TRUE(co_->ack(1, "s", m, 0, {1}, accepted).ok());
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (co_->stats().dead_lettered == 0 && std::chrono::steady_clock::now() < deadline) {
    run();
    std::this_thread::sleep_for(5ms);
  }
  ASSERT_EQ(co_->stats().dead_lettered, 1u);
  EXPECT_TRUE(events_of(a->drain()).empty());  // not delivered again
  auto dlq = store_->partition("t.dlq", 0);
  ASSERT_NE(dlq, nullptr);
  ASSERT_EQ(dlq->high_watermark(), 1u);
  auto r = dlq->read(0, 1u << 20, 1);
  ASSERT_TRUE(r.ok());
  std::string reason;
  (void)storage::for_each_record_from(*r, 0, [&](const batch::RecordView& rec) {
    for (const auto& h : rec.headers)
      if (h.name == "causeway-dlq-reason") reason = std::string(h.value);
    return true;
  });
  EXPECT_EQ(reason, "HTTP 422: no items");
  EXPECT_EQ(co_->describe_group("s")->partitions[0].committed_offset, 2u);
}

// ---------------------------------------------------------------- frame size

TEST_F(CoordinatorTest, EventAboveTheDeliveryBudgetIsDeliveredAloneInItsOwnFrame) {
  close();
  CoordinatorOptions o;
  o.max_delivery_bytes = 16u << 10;
  open(o);
  create_topic("t");
  auto a = std::make_shared<FakeSink>(1);
  join(a, "s", "t");
  publish("t", 1, 1000);
  publish("t", 1, 100'000);
  publish("t", 1, 1000);
  run();
  auto frames = a->drain();
  auto all = events_of(frames);
  ASSERT_EQ(all.size(), 3u);
  bool big_alone = false;
  for (const auto& f : frames) {
    const auto& d = delivery_of(f);
    for (const auto* e : *d.events()) {
      if (e->payload()->size() == 100'000) big_alone = d.events()->size() == 1;
    }
  }
  EXPECT_TRUE(big_alone);
}

TEST_F(CoordinatorTest, EventLargerThanMaxFrameBytesIsDeadLetteredInsteadOfStalling) {
  close();
  CoordinatorOptions o;
  o.max_frame_bytes = 64u << 10;
  o.max_delivery_bytes = 16u << 10;
  open(o);
  create_topic("t");
  auto a = std::make_shared<FakeSink>(1);
  const std::string m = join(a, "s", "t");
  publish("t", 1, 100'000);
  publish("t", 1, 10);
  run();
  auto frames = a->drain();
  for (const auto& f : frames) EXPECT_LE(f.size(), o.max_frame_bytes);
  auto got = events_of(frames);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].offset, 1u);
  EXPECT_EQ(co_->stats().dead_lettered, 1u);
  ASSERT_TRUE(ack(a, "s", m, got).ok());
  EXPECT_EQ(co_->describe_group("s")->partitions[0].committed_offset, 2u);
  auto dlq = store_->partition("t.dlq", 0);
  ASSERT_NE(dlq, nullptr);
  auto r = dlq->read(0, 1u << 20, 1);
  ASSERT_TRUE(r.ok());
  std::string reason;
  (void)storage::for_each_record_from(*r, 0, [&](const batch::RecordView& rec) {
    for (const auto& h : rec.headers)
      if (h.name == "causeway-dlq-reason") reason = std::string(h.value);
    return false;
  });
  EXPECT_THAT(reason, HasSubstr("does not fit in a Delivery frame"));
}

// ---------------------------------------------------------------- positions

TEST_F(CoordinatorTest, StartOffsetPastTheEndIsClampedToTheEnd) {
  const auto topic = create_topic("t");
  publish("t", 5);
  auto c = sub("s", "t");
  c.start = meta::StartKind::kOffset;
  c.start_value = 1000;
  ASSERT_TRUE(co_->create_subscription(c).ok());
  auto committed = store_->meta().committed_offset("s", topic.topic_id, 0);
  ASSERT_TRUE(committed.ok());
  EXPECT_EQ(*committed, std::optional<uint64_t>(5));
  // So the next event published is delivered, not skipped until offset 1000.
  auto a = std::make_shared<FakeSink>(1);
  join(a, "s", "t");
  publish("t", 1);
  run();
  auto got = events_of(a->drain());
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].offset, 5u);
}

TEST_F(CoordinatorTest, CommittedOffsetPastALostTailResumesAtTheLogEnd) {
  const auto topic = create_topic("t");
  ASSERT_TRUE(co_->create_subscription(sub("s", "t")).ok());
  publish("t", 3);
  // The group had acked up to 10 before the log lost its tail (an `os` topic in a power loss).
  const auto created = store_->meta().get_subscription("s");
  ASSERT_TRUE(created.ok());
  std::vector<Status> results;
  const meta::GroupAckCommit commit{"s", created->created_ms, topic.topic_id, {meta::PartitionAckState{0, 10, {12}}}};
  ASSERT_TRUE(store_->meta().commit_ack_states(std::span<const meta::GroupAckCommit>(&commit, 1), results).ok());
  ASSERT_TRUE(results[0].ok());
  auto a = std::make_shared<FakeSink>(1);
  join(a, "s", "t");
  EXPECT_EQ(co_->describe_group("s")->partitions[0].committed_offset, 3u);
  // New events reuse offsets 3.. and must all be delivered, the one at 12 included.
  publish("t", 10);
  run();
  auto got = events_of(a->drain());
  ASSERT_EQ(got.size(), 10u);
  EXPECT_EQ(got.front().offset, 3u);
  EXPECT_EQ(got.back().offset, 12u);
}

TEST_F(CoordinatorTest, AppendWhileTheGroupLoadsIsNotMissed) {
  close();
  CoordinatorOptions o;
  bool published = false;
  // An append that completes after the group read the log's end but before on_append can
  // see the group: its notification finds no group, so the load must catch up itself.
  o.on_group_load_for_test = [&] {
    if (!std::exchange(published, true)) publish("t", 1);
  };
  open(o);
  create_topic("t");
  publish("t", 2);
  auto a = std::make_shared<FakeSink>(1);
  join(a, "s", "t");
  ASSERT_TRUE(published);
  run();
  auto got = events_of(a->drain());
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got.back().offset, 2u);
}

// ---------------------------------------------------------------- shutdown

TEST_F(CoordinatorTest, AcksAfterStopAreRefusedAndChangeNothing) {
  const auto topic = create_topic("t");
  auto a = std::make_shared<FakeSink>(1);
  const std::string m = join(a, "s", "t");
  publish("t", 2);
  run();
  auto got = events_of(a->drain());
  ASSERT_EQ(got.size(), 2u);
  co_->stop();
  uint32_t accepted = 0;
  const Status s = co_->ack(1, "s", m, 0, {0, 1}, accepted);
  EXPECT_EQ(s.code(), Code::kUnavailable);
  EXPECT_EQ(accepted, 0u);
  EXPECT_EQ(co_->heartbeat(1, "s", m).code(), Code::kUnavailable);
  EXPECT_EQ(co_->nack(1, "s", m, 0, {0}, 0ms, "", accepted).code(), Code::kUnavailable);
  co_->flush_commits();
  auto committed = store_->meta().committed_offset("s", topic.topic_id, 0);
  ASSERT_TRUE(committed.ok());
  EXPECT_EQ(*committed, std::optional<uint64_t>(0));
  run();
  EXPECT_TRUE(a->drain().empty());
}

// ---------------------------------------------------------------- durable acks and clean leaves

TEST_F(CoordinatorTest, DurableAckReturnsOnlyOnceTheCommittedOffsetIsInLmdb) {
  const auto topic = create_topic("t");
  auto a = std::make_shared<FakeSink>(1);
  const std::string m = join(a, "s", "t");
  publish("t", 3);
  run();
  auto got = events_of(a->drain());
  ASSERT_EQ(got.size(), 3u);
  ASSERT_TRUE(ack(a, "s", m, got).ok());
  // No sweeper runs here (start() was not called): a plain ack is only in memory.
  auto before = store_->meta().committed_offset("s", topic.topic_id, 0);
  ASSERT_TRUE(before.ok());
  EXPECT_EQ(*before, std::optional<uint64_t>(0));
  ASSERT_TRUE(co_->commit_durably(1, "s", m).ok());
  auto after = store_->meta().committed_offset("s", topic.topic_id, 0);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(*after, std::optional<uint64_t>(3));
}

TEST_F(CoordinatorTest, ConcurrentDurableAcksOfManyGroupsAreAllCommitted) {
  const auto topic = create_topic("t", 4);
  constexpr int kMembers = 8;
  std::vector<std::shared_ptr<FakeSink>> sinks;
  std::vector<std::string> members;
  for (int i = 0; i < kMembers; ++i) {
    sinks.push_back(std::make_shared<FakeSink>(static_cast<uint64_t>(i + 1)));
    members.push_back(join(sinks.back(), "s" + std::to_string(i), "t"));
  }
  publish("t", 40);
  run();
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int i = 0; i < kMembers; ++i) {
    threads.emplace_back([&, i] {
      auto got = events_of(sinks[i]->drain());
      if (ack(sinks[i], "s" + std::to_string(i), members[i], got).ok() &&
          co_->commit_durably(sinks[i]->connection_id(), "s" + std::to_string(i), members[i]).ok()) {
        return;
      }
      ++failures;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  for (int i = 0; i < kMembers; ++i) {
    uint64_t committed = 0;
    for (uint32_t p = 0; p < 4; ++p) {
      auto c = store_->meta().committed_offset("s" + std::to_string(i), topic.topic_id, p);
      ASSERT_TRUE(c.ok());
      committed += c->value_or(0);
    }
    EXPECT_EQ(committed, 40u) << "group s" << i;
  }
}

TEST_F(CoordinatorTest, DurableAckOfADeletedSubscriptionSaysItsAcksAreVoid) {
  create_topic("t");
  auto a = std::make_shared<FakeSink>(1);
  const std::string m = join(a, "s", "t");
  publish("t", 1);
  run();
  auto got = events_of(a->drain());
  ASSERT_TRUE(ack(a, "s", m, got).ok());
  ASSERT_TRUE(store_->meta().delete_subscription("s").ok());
  ASSERT_TRUE(store_->meta().create_subscription(sub("s", "t"), std::vector<meta::PartitionOffset>{{0, 0}}).ok());
  const Status s = co_->commit_durably(1, "s", m);
  EXPECT_EQ(s.code(), Code::kFailedPrecondition) << s.to_string();
  EXPECT_THAT(std::string(s.message()), HasSubstr("void"));
}

TEST_F(CoordinatorTest, CleanLeaveGivesBackUnprocessedEventsWithTheirAttemptUnchanged) {
  create_topic("t");
  auto a = std::make_shared<FakeSink>(1);
  const std::string m = join(a, "s", "t");
  publish("t", 4);
  run();
  ASSERT_EQ(events_of(a->drain()).size(), 4u);
  // The application was handed offset 1 only; 0, 2 and 3 sat unread in the client.
  ASSERT_TRUE(co_->leave(1, "s", m, /*release_unprocessed=*/true, {{0, {1}}}).ok());
  auto b = std::make_shared<FakeSink>(2);
  join(b, "s", "t");
  run();
  auto again = events_of(b->drain());
  ASSERT_EQ(again.size(), 4u);
  for (const auto& e : again) EXPECT_EQ(e.attempt, e.offset == 1 ? 2u : 1u) << "offset " << e.offset;
}

TEST_F(CoordinatorTest, LeaveWithoutReleaseCountsEveryDeliveryAsAnAttempt) {
  create_topic("t");
  auto a = std::make_shared<FakeSink>(1);
  const std::string m = join(a, "s", "t");
  publish("t", 2);
  run();
  ASSERT_EQ(events_of(a->drain()).size(), 2u);
  ASSERT_TRUE(co_->leave(1, "s", m).ok());
  auto b = std::make_shared<FakeSink>(2);
  join(b, "s", "t");
  run();
  for (const auto& e : events_of(b->drain())) EXPECT_EQ(e.attempt, 2u);
}

// ---------------------------------------------------------------- filtered subscriptions

// Publishes one event per payload (partition 0), each with source "shop".
void publish_payloads(core::PublishPipeline& publish, const std::string& topic, const std::vector<std::string>& payloads,
                      uint32_t schema_id = 0) {
  for (size_t i = 0; i < payloads.size(); ++i) {
    core::PublishEvent e;
    e.record.payload = payloads[i];
    e.record.source = "shop";
    e.record.schema_id = schema_id;
    e.partition = 0;
    auto acks = publish.publish(topic, std::span<const core::PublishEvent>(&e, 1), 0, static_cast<uint32_t>(i));
    ASSERT_TRUE(acks.ok()) << acks.error().to_string();
    ASSERT_TRUE((*acks)[0].status.ok()) << (*acks)[0].status.to_string();
  }
}

std::vector<std::string> numbered_json(int n) {
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) out.push_back(R"({"n":)" + std::to_string(i) + "}");
  return out;
}

TEST_F(CoordinatorTest, FilteredSubscriptionDeliversOnlyMatchingEventsAndCommitsPastTheRest) {
  const meta::TopicConfig topic = create_topic("t");
  auto config = sub("s", "t");
  config.pattern = R"({"source":["shop"],"data":{"n":[{"numeric":[">=",10,"<",13]},95]}})";
  ASSERT_TRUE(co_->create_subscription(config).ok());
  auto a = std::make_shared<FakeSink>(1);
  const std::string m = join(a, "s", "t");
  publish_payloads(*publish_, "t", numbered_json(100));
  run();
  const auto delivered = events_of(a->drain());
  std::vector<uint64_t> offsets;
  for (const auto& e : delivered) offsets.push_back(e.offset);
  EXPECT_EQ(offsets, (std::vector<uint64_t>{10, 11, 12, 95}));
  ASSERT_TRUE(ack(a, "s", m, delivered).ok());
  co_->flush_commits();
  auto committed = store_->meta().committed_offset("s", topic.topic_id, 0);
  ASSERT_TRUE(committed.ok());
  ASSERT_TRUE(committed->has_value());
  EXPECT_EQ(**committed, 100u) << "filtered-out events count as done";
  auto d = co_->describe_group("s");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->partitions[0].matched, 4u);
  EXPECT_EQ(d->partitions[0].filtered, 96u);
  EXPECT_EQ(d->subscription.pattern, config.pattern);
}

TEST_F(CoordinatorTest, PatternMatchingNothingCommitsPastEveryEventWithoutDelivering) {
  const meta::TopicConfig topic = create_topic("t");
  auto config = sub("s", "t");
  config.pattern = R"({"source":["nobody"]})";
  ASSERT_TRUE(co_->create_subscription(config).ok());
  auto a = std::make_shared<FakeSink>(1);
  join(a, "s", "t");
  publish_payloads(*publish_, "t", numbered_json(20000));  // more than one read round
  run();
  EXPECT_TRUE(a->drain().empty());
  co_->flush_commits();
  auto committed = store_->meta().committed_offset("s", topic.topic_id, 0);
  ASSERT_TRUE(committed.ok() && committed->has_value());
  EXPECT_EQ(**committed, 20000u);
}

TEST_F(CoordinatorTest, FilteredEventsBehindAnUnackedOneWaitInAckedAboveAndCommitWithIt) {
  const meta::TopicConfig topic = create_topic("t");
  auto config = sub("s", "t");
  config.pattern = R"({"data":{"n":[0]}})";
  ASSERT_TRUE(co_->create_subscription(config).ok());
  auto a = std::make_shared<FakeSink>(1);
  const std::string m = join(a, "s", "t");
  publish_payloads(*publish_, "t", numbered_json(10));
  run();
  const auto delivered = events_of(a->drain());
  ASSERT_EQ(delivered.size(), 1u);
  auto d = co_->describe_group("s");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->partitions[0].committed_offset, 0u);
  EXPECT_EQ(d->partitions[0].acked_above, 9u);
  ASSERT_TRUE(ack(a, "s", m, delivered).ok());
  d = co_->describe_group("s");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->partitions[0].committed_offset, 10u);
  EXPECT_EQ(d->partitions[0].acked_above, 0u);
}

TEST_F(CoordinatorTest, InvalidPatternIsRefusedNamingItsBadPart) {
  create_topic("t");
  auto config = sub("s", "t");
  config.pattern = R"({"data":{"state":[{"prefx":"run"}]}})";
  auto created = co_->create_subscription(config);
  ASSERT_FALSE(created.ok());
  EXPECT_EQ(created.error().code(), Code::kInvalidArgument);
  EXPECT_THAT(std::string(created.error().message()), HasSubstr("prefx"));
  EXPECT_THAT(std::string(created.error().message()), HasSubstr("data.state"));
  // Nothing was stored.
  EXPECT_EQ(co_->get_subscription("s").status().code(), Code::kNotFound);
  // Not JSON, not an object, and larger than the 64 KiB bound: each refused.
  for (const std::string& bad : {std::string("{type: paid}"), std::string("[1]"),
                                 R"({"source":[")" + std::string(70 * 1024, 'x') + R"("]})"}) {
    config.pattern = bad;
    EXPECT_EQ(co_->create_subscription(config).status().code(), Code::kInvalidArgument) << bad.substr(0, 40);
  }
  // Joining with it (create_if_missing) is refused the same way.
  auto a = std::make_shared<FakeSink>(1);
  auto joined = co_->join(a, "s", "t", 0, 0, true, config, "test");
  ASSERT_FALSE(joined.ok());
  EXPECT_EQ(joined.status().code(), Code::kInvalidArgument);
}

TEST_F(CoordinatorTest, UpdatedPatternAppliesToEventsNotYetRead) {
  create_topic("t");
  auto config = sub("s", "t");
  config.pattern = R"({"data":{"n":[1]}})";
  ASSERT_TRUE(co_->create_subscription(config).ok());
  auto a = std::make_shared<FakeSink>(1);
  join(a, "s", "t");
  publish_payloads(*publish_, "t", numbered_json(3));  // offsets 0..2: n 0..2
  run();
  auto first = events_of(a->drain());
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0].offset, 1u);
  auto updated = co_->update_subscription_pattern("s", R"({"data":{"n":[2]}})");
  ASSERT_TRUE(updated.ok()) << updated.status().to_string();
  EXPECT_EQ(updated->pattern, R"({"data":{"n":[2]}})");
  publish_payloads(*publish_, "t", numbered_json(3));  // offsets 3..5: n 0..2
  run();
  auto second = events_of(a->drain());
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(second[0].offset, 5u);
  // Stored: a reloaded group (as after a restart) has it too.
  EXPECT_EQ(store_->meta().get_subscription("s")->pattern, R"({"data":{"n":[2]}})");
  // Removing it delivers everything from then on; a bad one changes nothing.
  EXPECT_EQ(co_->update_subscription_pattern("s", R"({"data":{"n":[{"bogus":1}]}})").status().code(),
            Code::kInvalidArgument);
  ASSERT_TRUE(co_->update_subscription_pattern("s", "").ok());
  publish_payloads(*publish_, "t", numbered_json(2));
  run();
  EXPECT_EQ(events_of(a->drain()).size(), 2u);
  EXPECT_EQ(co_->update_subscription_pattern("nope", "").status().code(), Code::kNotFound);
}

TEST_F(CoordinatorTest, JoinWithAnotherPatternThanTheSubscriptionsIsRefused) {
  create_topic("t");
  auto config = sub("s", "t");
  config.pattern = R"({"source":["shop"]})";
  ASSERT_TRUE(co_->create_subscription(config).ok());
  auto a = std::make_shared<FakeSink>(1);
  auto other = config;
  other.pattern = R"({"source":["billing"]})";
  auto refused = co_->join(a, "s", "t", 0, 0, true, other, "test");
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), Code::kFailedPrecondition);
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("subscription update"));
  // The same pattern (also spelled otherwise), or none, joins the subscription as it is.
  EXPECT_TRUE(co_->join(a, "s", "t", 0, 0, true, config, "test").ok());
  auto respelled = config;
  respelled.pattern = R"({ "source" : [ "shop" ] })";
  EXPECT_TRUE(co_->join(a, "s", "t", 0, 0, true, respelled, "test").ok());
  auto recreated = co_->create_subscription(respelled);
  ASSERT_TRUE(recreated.ok()) << recreated.status().to_string();
  EXPECT_EQ(recreated->pattern, config.pattern) << "an identical re-create returns the stored one";
  EXPECT_TRUE(co_->join(a, "s", "t", 0, 0, true, sub("s", "t"), "test").ok());
}

TEST_F(CoordinatorTest, RetriesOfAMatchedEventAreNotFilteredAgain) {
  create_topic("t");
  auto config = sub("s", "t");
  config.pattern = R"({"data":{"n":[1]}})";
  ASSERT_TRUE(co_->create_subscription(config).ok());
  auto a = std::make_shared<FakeSink>(1);
  const std::string m = join(a, "s", "t");
  publish_payloads(*publish_, "t", numbered_json(3));
  run();
  auto first = events_of(a->drain());
  ASSERT_EQ(first.size(), 1u);
  // The pattern changes while the event is in flight; a nack still brings it back.
  ASSERT_TRUE(co_->update_subscription_pattern("s", R"({"data":{"n":[2]}})").ok());
  uint32_t accepted = 0;
  ASSERT_TRUE(co_->nack(1, "s", m, 0, {first[0].offset}, 1ms, "try again", accepted).ok());
  std::this_thread::sleep_for(5ms);
  co_->sink_drained(1);  // pumps the member's partitions (the sweeper is not running here)
  run();
  auto again = events_of(a->drain());
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].offset, 1u);
  EXPECT_EQ(again[0].attempt, 2u);
}

constexpr const char* kOrderSchema = R"(
namespace shop;
enum State : byte { Created, Paid, Shipped }
table Order { id: string; state: State; total: double; }
root_type Order;
)";

TEST_F(CoordinatorTest, FlatbuffersPayloadsAreMatchedThroughTheirRegisteredSchema) {
  flatbuffers::Parser schema_parser;
  ASSERT_TRUE(schema_parser.Parse(kOrderSchema)) << schema_parser.error_;
  schema_parser.Serialize();
  const std::vector<uint8_t> reflection(schema_parser.builder_.GetBufferPointer(),
                                        schema_parser.builder_.GetBufferPointer() + schema_parser.builder_.GetSize());
  std::atomic<int> lookups{0};
  CoordinatorOptions options;
  options.payload_schema = [&](uint32_t id) -> Result<std::vector<uint8_t>> {
    ++lookups;
    if (id != 7) return not_found("schema id " + std::to_string(id) + " not found");
    return reflection;
  };
  close();
  open(options);
  create_topic("orders");
  auto config = sub("paid", "orders");
  config.pattern = R"({"data":{"state":["Paid"],"total":[{"numeric":[">",100]}]}})";
  ASSERT_TRUE(co_->create_subscription(config).ok());
  auto a = std::make_shared<FakeSink>(1);
  join(a, "paid", "orders");
  std::vector<std::string> payloads;
  for (const char* order : {R"({"id":"a","state":"Paid","total":150})", R"({"id":"b","state":"Created","total":150})",
                            R"({"id":"c","state":"Paid","total":50})", R"({"id":"d","state":"Paid","total":101})"}) {
    flatbuffers::Parser p;
    ASSERT_TRUE(p.Parse(kOrderSchema));
    ASSERT_TRUE(p.Parse(order)) << p.error_;
    payloads.emplace_back(reinterpret_cast<const char*>(p.builder_.GetBufferPointer()), p.builder_.GetSize());
  }
  publish_payloads(*publish_, "orders", payloads, 7);
  publish_payloads(*publish_, "orders", {payloads[0]}, 8);  // an id the registry does not know: no "data"
  run();
  std::vector<uint64_t> offsets;
  for (const auto& e : events_of(a->drain())) offsets.push_back(e.offset);
  EXPECT_EQ(offsets, (std::vector<uint64_t>{0, 3}));
  EXPECT_EQ(lookups.load(), 2) << "one lookup per schema id, then cached";
}

// ---------------------------------------------------------------- shared reads and matching

std::vector<uint64_t> offsets_of(const std::vector<Delivered>& events) {
  std::vector<uint64_t> out;
  for (const auto& e : events) out.push_back(e.offset);
  return out;
}

std::vector<uint64_t> range(uint64_t from, uint64_t to) {
  std::vector<uint64_t> out;
  for (uint64_t i = from; i < to; ++i) out.push_back(i);
  return out;
}

TEST_F(CoordinatorTest, GroupsAtOnePositionReadTheLogOnceBetweenThem) {
  create_topic("t");
  const std::vector<std::shared_ptr<FakeSink>> sinks = join_groups(5, "t");
  publish("t", 100);
  const CoordinatorStats before = co_->stats();
  run();
  for (const auto& sink : sinks) EXPECT_EQ(offsets_of(events_of(sink->drain())), range(0, 100));
  const CoordinatorStats after = co_->stats();
  EXPECT_EQ(after.log_reads - before.log_reads, 1u) << "one group read the batch; four took it from the cache";
  EXPECT_EQ(after.shared_reads - before.shared_reads, 4u);
}

TEST_F(CoordinatorTest, WithoutRoomForReadsEveryGroupReadsAloneAndStillGetsEverything) {
  close();
  CoordinatorOptions o;
  o.read_cache_bytes = 0;
  open(o);
  create_topic("t");
  const std::vector<std::shared_ptr<FakeSink>> sinks = join_groups(3, "t");
  publish("t", 50);
  run();
  for (const auto& sink : sinks) EXPECT_EQ(offsets_of(events_of(sink->drain())), range(0, 50));
  EXPECT_EQ(co_->stats().shared_reads, 0u);
  EXPECT_EQ(co_->stats().log_reads, 3u);
}

TEST_F(CoordinatorTest, FilteredGroupsOfATopicAreMatchedTogetherAndEachGetsItsOwnEvents) {
  create_topic("t");
  // n = offset. s3 has no pattern; s4 has s0's pattern.
  const std::vector<std::string> patterns = {R"({"data":{"n":[1]}})", R"({"data":{"n":[2,3]}})",
                                             R"({"data":{"n":[{"numeric":[">=",97]}]}})", "", R"({"data":{"n":[1]}})"};
  std::vector<std::shared_ptr<FakeSink>> sinks;
  for (uint64_t i = 0; i < patterns.size(); ++i) {
    auto config = sub("s" + std::to_string(i), "t");
    config.pattern = patterns[i];
    ASSERT_TRUE(co_->create_subscription(config).ok());
    sinks.push_back(std::make_shared<FakeSink>(i + 1));
    join(sinks.back(), config.name, "t");
  }
  co_->compile_topic_patterns();  // as the sweeper does: the four patterns in one matcher
  publish_payloads(*publish_, "t", numbered_json(100));
  const CoordinatorStats before = co_->stats();
  run();
  EXPECT_EQ(offsets_of(events_of(sinks[0]->drain())), (std::vector<uint64_t>{1}));
  EXPECT_EQ(offsets_of(events_of(sinks[1]->drain())), (std::vector<uint64_t>{2, 3}));
  EXPECT_EQ(offsets_of(events_of(sinks[2]->drain())), (std::vector<uint64_t>{97, 98, 99}));
  EXPECT_EQ(offsets_of(events_of(sinks[3]->drain())), range(0, 100));
  EXPECT_EQ(offsets_of(events_of(sinks[4]->drain())), (std::vector<uint64_t>{1}));
  EXPECT_EQ(co_->stats().log_reads - before.log_reads, 1u);

  // The topic's patterns change under the groups: s1 goes, s2 gets another pattern. Until
  // the sweeper compiles them again each group matches alone; after, together, with the
  // slots moved. Either way each remaining group gets exactly its own events.
  ASSERT_TRUE(co_->delete_subscription("s1").ok());
  ASSERT_TRUE(co_->update_subscription_pattern("s2", R"({"data":{"n":[50]}})").ok());
  publish_payloads(*publish_, "t", numbered_json(100));  // offsets 100..199, n 0..99
  run();
  EXPECT_EQ(offsets_of(events_of(sinks[0]->drain())), (std::vector<uint64_t>{101}));
  EXPECT_TRUE(sinks[1]->drain().empty());
  EXPECT_EQ(offsets_of(events_of(sinks[2]->drain())), (std::vector<uint64_t>{150}));
  EXPECT_EQ(offsets_of(events_of(sinks[3]->drain())), range(100, 200));
  EXPECT_EQ(offsets_of(events_of(sinks[4]->drain())), (std::vector<uint64_t>{101}));
  co_->compile_topic_patterns();
  ASSERT_TRUE(co_->update_subscription_pattern("s0", R"({"data":{"n":[{"numeric":["<",2]}]}})").ok());
  co_->compile_topic_patterns();
  publish_payloads(*publish_, "t", numbered_json(100));  // offsets 200..299, n 0..99
  run();
  EXPECT_EQ(offsets_of(events_of(sinks[0]->drain())), (std::vector<uint64_t>{200, 201}));
  EXPECT_EQ(offsets_of(events_of(sinks[2]->drain())), (std::vector<uint64_t>{250}));
  EXPECT_EQ(offsets_of(events_of(sinks[3]->drain())), range(200, 300));
  EXPECT_EQ(offsets_of(events_of(sinks[4]->drain())), (std::vector<uint64_t>{201}));
  for (const char* name : {"s0", "s2", "s4"}) {
    auto d = co_->describe_group(name);
    ASSERT_TRUE(d.ok());
    EXPECT_EQ(d->partitions[0].matched + d->partitions[0].filtered, 300u) << name;
  }
}

TEST_F(CoordinatorTest, GroupBehindTheOthersReadsItsOwnPositionNotTheirs) {
  create_topic("t");
  auto a = std::make_shared<FakeSink>(1);
  join(a, "a", "t");
  publish("t", 30);
  run();
  EXPECT_EQ(offsets_of(events_of(a->drain())), range(0, 30));
  // b starts from the earliest event while a is at the tail; then both follow new events.
  auto b = std::make_shared<FakeSink>(2);
  join(b, "b", "t");
  publish("t", 10);
  run();
  EXPECT_EQ(offsets_of(events_of(a->drain())), range(30, 40));
  EXPECT_EQ(offsets_of(events_of(b->drain())), range(0, 40));
}

// ---------------------------------------------------------------- the sweeper's timers

TEST_F(CoordinatorTest, ShortenedAckDeadlineIsHonouredNotTheOriginalOne) {
  close();
  CoordinatorOptions o;
  o.sweep_interval = 10ms;
  open(o);
  create_topic("t");
  auto c = sub("s", "t");
  c.ack_deadline = std::chrono::minutes(5);
  ASSERT_TRUE(co_->create_subscription(c).ok());
  co_->start();
  auto a = std::make_shared<FakeSink>(1);
  const std::string m = join(a, "s", "t");
  publish("t", 1);
  run();
  ASSERT_EQ(events_of(a->drain()).size(), 1u);
  // The sweeper's timer for this partition is at +5 min; the extension moves the deadline
  // to +50 ms, and the event must come back soon after that, not in five minutes.
  uint32_t accepted = 0;
  ASSERT_TRUE(co_->extend_deadline(1, "s", m, 0, {0}, 50ms, accepted).ok());
  ASSERT_EQ(accepted, 1u);
  std::vector<Delivered> again;
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (again.empty() && std::chrono::steady_clock::now() < deadline) {
    run();
    again = events_of(a->drain());
    std::this_thread::sleep_for(5ms);
  }
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].offset, 0u);
  EXPECT_EQ(again[0].attempt, 2u);
}

TEST_F(CoordinatorTest, MemberThatKeepsHeartbeatingStaysAndOneThatStopsIsRemovedAfterItsTimeout) {
  close();
  CoordinatorOptions o;
  o.sweep_interval = 10ms;
  o.session_timeout = 300ms;
  open(o);
  create_topic("t");
  co_->start();
  auto a = std::make_shared<FakeSink>(1);
  auto b = std::make_shared<FakeSink>(2);
  const std::string ma = join(a, "s", "t");
  const std::string mb = join(b, "s", "t");
  // a heartbeats for three session timeouts; b says nothing.
  const auto start = std::chrono::steady_clock::now();
  auto last_beat = start;  // taken before the call: the broker's own time is no earlier
  while (std::chrono::steady_clock::now() - start < 900ms) {
    last_beat = std::chrono::steady_clock::now();
    ASSERT_TRUE(co_->heartbeat(1, "s", ma).ok());
    run();
    std::this_thread::sleep_for(50ms);
  }
  auto d = co_->describe_group("s");
  ASSERT_TRUE(d.ok());
  ASSERT_EQ(d->members.size(), 1u);
  EXPECT_EQ(d->members[0].member_id, ma);
  EXPECT_EQ(co_->heartbeat(2, "s", mb).code(), Code::kUnavailable);
  // Now a stops too: gone within about one timeout.
  const auto stopped = std::chrono::steady_clock::now();
  while (co_->describe_group("s")->members.size() == 1 && std::chrono::steady_clock::now() - stopped < 10s) {
    run();
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_TRUE(co_->describe_group("s")->members.empty());
  // Not before its session timeout, counted from its last heartbeat (the loop above may
  // have slept up to 50 ms more after it on a busy machine).
  EXPECT_GE(std::chrono::steady_clock::now() - last_beat, 300ms);
}


// ---------------------------------------------------------------- lifecycle races

// The target topic of forwarding(): `os` durability, so that a forward publish completes
// without the background sync these tests turn off.
void create_target_topic(core::EventStore& store) {
  meta::TopicConfig t;
  t.name = "fwd";
  t.partitions = 1;
  t.durability = storage::Durability::kOs;
  ASSERT_TRUE(store.create_topic(t).ok());
}

// A subscription that forwards topic "t" to topic "fwd".
meta::SubscriptionConfig forwarding(const std::string& name) {
  meta::SubscriptionConfig c;
  c.name = name;
  c.topic = "t";
  c.start = meta::StartKind::kEarliest;
  c.target_topic = "fwd";
  return c;
}

// A stored HTTP target whose URL does not parse (written by an older broker, which checked
// less) is retried and reported, not a deadlock: target_failed takes the coordinator's
// mutex, which starting the target held while it parsed the URL.
TEST_F(CoordinatorTest, AStoredHttpTargetWithAnUnparsableUrlIsReportedWithoutDeadlock) {
  create_topic("t");
  meta::SubscriptionConfig c;
  c.name = "old";
  c.topic = "t";
  c.start = meta::StartKind::kEarliest;
  c.http.url = "ftp://127.0.0.1/events";  // never accepted by create_subscription today
  ASSERT_TRUE(store_->meta().create_subscription(c, {}).ok());
  co_->start();  // ensures every stored target; hung here before
  const auto d = co_->describe_group("old");
  EXPECT_TRUE(!d.ok() || d->members.empty()) << "no forwarder joined for it";
  // The coordinator still serves.
  meta::SubscriptionConfig plain;
  plain.name = "s2";
  plain.topic = "t";
  EXPECT_TRUE(co_->create_subscription(plain).ok());
}

TEST_F(CoordinatorTest, IdenticalRecreateOfATargetSubscriptionKeepsItsOneForwarder) {
  create_topic("t");
  create_target_topic(*store_);
  const auto first = co_->create_subscription(forwarding("s"));
  ASSERT_TRUE(first.ok()) << first.status().to_string();
  const auto before = co_->describe_group("s");
  ASSERT_TRUE(before.ok() && before->members.size() == 1u);
  // The same create again (a retried request) returns the stored subscription; it must
  // not join a second forwarder beside the running one.
  const auto again = co_->create_subscription(forwarding("s"));
  ASSERT_TRUE(again.ok()) << again.status().to_string();
  EXPECT_EQ(again->created_ms, first->created_ms);
  auto d = co_->describe_group("s");
  ASSERT_TRUE(d.ok()) << d.status().to_string();
  ASSERT_EQ(d->members.size(), 1u);
  EXPECT_EQ(d->members[0].member_id, before->members[0].member_id) << "the running forwarder was replaced";
  // A create of the name that the store refuses is answered with its error.
  auto refused = forwarding("s");
  refused.target_topic = "t.dlq";  // the default dead-letter topic
  EXPECT_EQ(co_->create_subscription(refused).status().code(), Code::kInvalidArgument);
  // And it goes on forwarding.
  publish("t", 3);
  run();
  EXPECT_EQ(store_->partition("fwd", 0)->high_watermark(), 3u);
}

TEST_F(CoordinatorTest, StartingWithATargetAlreadyForwardingDoesNotJoinASecondForwarder) {
  create_topic("t");
  create_target_topic(*store_);
  ASSERT_TRUE(co_->create_subscription(forwarding("s")).ok());
  const auto before = co_->describe_group("s");
  ASSERT_TRUE(before.ok() && before->members.size() == 1u);
  // start() ensures the target of every stored subscription, this one included (as when
  // a create is served while the broker starts, or the sweeper looks at the same time).
  co_->start();
  auto d = co_->describe_group("s");
  ASSERT_TRUE(d.ok()) << d.status().to_string();
  ASSERT_EQ(d->members.size(), 1u);
  EXPECT_EQ(d->members[0].member_id, before->members[0].member_id) << "the running forwarder was replaced";
  publish("t", 3);
  run();
  EXPECT_EQ(store_->partition("fwd", 0)->high_watermark(), 3u);
}

TEST_F(CoordinatorTest, DeletingATopicDropsItsLiveGroupSoItsMembersJoinTheRecreatedOne) {
  create_topic("t");
  auto a = std::make_shared<FakeSink>(1);
  const std::string m = join(a, "s", "t");
  publish("t", 10);
  run();
  ASSERT_TRUE(ack(a, "s", m, events_of(a->drain())).ok());
  // Deleted through the broker's own request handler, then re-created with 3 new events:
  // the live group (next offset 10) would wait for offset 10 of the new topic for ever.
  flatbuffers::FlatBufferBuilder b;
  b.Finish(protocol::CreateDeleteTopicRequest(b, b.CreateString("t")));
  server::HandlerContext ctx{*store_, *publish_, 64u << 20, co_.get()};
  (void)server::handle_delete_topic(ctx, 1, *flatbuffers::GetRoot<protocol::DeleteTopicRequest>(b.GetBufferPointer()));
  ASSERT_FALSE(store_->get_topic("t").ok());
  create_topic("t");
  publish("t", 3);
  run();
  EXPECT_TRUE(a->drain().empty());
  // The member learns that its group is gone, and joins again.
  const Status beat = co_->heartbeat(1, "s", m);
  EXPECT_EQ(beat.code(), Code::kNotFound) << beat.to_string();
  join(a, "s", "t");
  run();
  const auto fresh = events_of(a->drain());
  ASSERT_EQ(fresh.size(), 3u);
  EXPECT_EQ(fresh[0].offset, 0u);
}

TEST_F(CoordinatorTest, PatternUpdatedWhileTheGroupLoadsIsTheOneItFiltersBy) {
  close();
  CoordinatorOptions o;
  bool updated = false;
  // The update commits after the load read the subscription and before the group is
  // visible: it finds no group to change, so the load must not keep the old pattern.
  o.on_group_load_for_test = [&] {
    if (std::exchange(updated, true)) return;
    ASSERT_TRUE(co_->update_subscription_pattern("s", R"({"data":{"n":[2]}})").ok());
  };
  open(o);
  create_topic("t");
  auto config = sub("s", "t");
  config.pattern = R"({"data":{"n":[1]}})";
  ASSERT_TRUE(co_->create_subscription(config).ok());
  auto a = std::make_shared<FakeSink>(1);
  join(a, "s", "t");
  ASSERT_TRUE(updated);
  publish_payloads(*publish_, "t", numbered_json(3));  // offsets 0..2: n 0..2
  run();
  const auto got = events_of(a->drain());
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].offset, 2u);
  EXPECT_EQ(co_->describe_group("s")->subscription.pattern, R"({"data":{"n":[2]}})");
}

TEST_F(CoordinatorTest, DeleteLeavesTheTargetAndGroupOfARecreateThatCommittedMeanwhile) {
  close();
  CoordinatorOptions o;
  bool recreated = false;
  // The re-create commits (and starts its target) after the delete's commit and before the
  // delete lets go of what it deleted.
  o.on_subscription_deleted_for_test = [&] {
    if (std::exchange(recreated, true)) return;
    const auto again = co_->create_subscription(forwarding("s"));
    ASSERT_TRUE(again.ok()) << again.status().to_string();
  };
  open(o);
  create_topic("t");
  create_target_topic(*store_);
  ASSERT_TRUE(co_->create_subscription(forwarding("s")).ok());
  ASSERT_TRUE(co_->delete_subscription("s").ok());
  ASSERT_TRUE(recreated);
  // The new incarnation keeps its forwarder and group, and forwards.
  auto d = co_->describe_group("s");
  ASSERT_TRUE(d.ok()) << d.status().to_string();
  EXPECT_EQ(d->members.size(), 1u);
  publish("t", 3);
  run();
  EXPECT_EQ(store_->partition("fwd", 0)->high_watermark(), 3u);
}

TEST_F(CoordinatorTest, AdHocSubscriberLosingTheCreateToAnotherPatternIsRefused) {
  close();
  CoordinatorOptions o;
  bool raced = false;
  // Two ad-hoc subscribers of one name with different patterns: the other one's create
  // commits after this join found no subscription and before it creates one.
  o.on_join_create_for_test = [&] {
    if (std::exchange(raced, true)) return;
    auto billing = sub("s", "t");
    billing.pattern = R"({"source":["billing"]})";
    ASSERT_TRUE(co_->create_subscription(billing).ok());
  };
  open(o);
  create_topic("t");
  auto shop = sub("s", "t");
  shop.pattern = R"({"source":["shop"]})";
  auto a = std::make_shared<FakeSink>(1);
  const auto joined = co_->join(a, "s", "t", 0, 0, true, shop, "test");
  ASSERT_TRUE(raced);
  ASSERT_FALSE(joined.ok()) << "joined a group that filters by another pattern";
  EXPECT_EQ(joined.status().code(), Code::kFailedPrecondition) << joined.status().to_string();
}

}  // namespace
}  // namespace causeway::subscribe
