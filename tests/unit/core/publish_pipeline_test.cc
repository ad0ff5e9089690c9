// PublishPipeline: partitioning, deduplication and asynchronous completion, on a real
// EventStore over a file system that can slow its fdatasync down.
#include "core/publish_pipeline.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>

#include "storage/log_manager.h"
#include "storage/partition_log.h"
#include "tests/support/temp_dir.h"
#include "tests/unit/storage/fault_injection_fs.h"

namespace causeway::core {
namespace {

using causeway::testing::TempDir;

struct Fixture {
  TempDir dir;
  storage::testing::FaultInjectionFs fs;
  std::unique_ptr<EventStore> store;

  explicit Fixture(uint32_t partitions = 1, uint64_t segment_bytes = 1ull << 30) {
    EventStoreOptions o;
    o.data_dir = dir.path();
    o.logs.background = false;
    auto s = EventStore::open(&fs, o, nullptr);
    EXPECT_TRUE(s.ok()) << s.error().to_string();
    store = std::move(*s);
    meta::TopicConfig t;
    t.name = "orders";
    t.partitions = partitions;
    t.durability = storage::Durability::kFsync;
    t.segment_bytes = segment_bytes;
    EXPECT_TRUE(store->create_topic(t).ok());
  }
};

PublishEvent event(std::string_view dedup_key, std::string_view payload, int32_t partition = -1) {
  PublishEvent e;
  e.record.dedup_key = dedup_key;
  e.record.payload = payload;
  e.partition = partition;
  return e;
}

// Collects one publish_async completion and the thread it ran on.
struct Outcome {
  std::mutex mu;
  std::condition_variable cv;
  std::optional<Result<std::vector<EventAck>>> acks;
  std::thread::id thread;

  PublishPipeline::Completion callback() {
    return [this](Result<std::vector<EventAck>> r) {
      std::lock_guard lk(mu);
      acks.emplace(std::move(r));
      thread = std::this_thread::get_id();
      cv.notify_all();
    };
  }
  const std::vector<EventAck>& wait() {
    std::unique_lock lk(mu);
    cv.wait(lk, [&] { return acks.has_value(); });
    EXPECT_TRUE(acks->ok());
    return **acks;
  }
};

TEST(PublishPipeline, InFlightDuplicateIsAnsweredWhenTheFirstIsDurableWithoutBlocking) {
  Fixture f;
  PublishPipeline pipeline(*f.store);
  f.fs.set_sync_delay(std::chrono::milliseconds(100));
  const uint64_t syncs_before = f.fs.sync_count();

  Outcome first;
  std::thread first_thread([&] {
    const PublishEvent e = event("order-1", "first");
    pipeline.publish_async("orders", {&e, 1}, 0, 0, first.callback());
  });
  while (f.fs.sync_count() == syncs_before) std::this_thread::yield();  // the first is being synced

  Outcome second;
  const PublishEvent dup = event("order-1", "second copy");
  pipeline.publish_async("orders", {&dup, 1}, 0, 0, second.callback());
  const auto& a = first.wait();
  const auto& b = second.wait();
  const std::thread::id first_id = first_thread.get_id();
  first_thread.join();

  ASSERT_EQ(a.size(), 1u);
  ASSERT_EQ(b.size(), 1u);
  EXPECT_FALSE(a[0].duplicate);
  EXPECT_TRUE(b[0].duplicate);
  EXPECT_EQ(b[0].offset, a[0].offset);
  EXPECT_EQ(b[0].lamport, a[0].lamport);
  // The second publisher's thread only registered a continuation; the thread that
  // completed the first publish's sync answered it.
  EXPECT_NE(second.thread, std::this_thread::get_id());
  EXPECT_EQ(second.thread, first.thread);
  EXPECT_NE(first.thread, first_id);  // the sync ran on the logs' sync threads
  EXPECT_EQ(f.store->partition("orders", 0)->next_offset(), 1u);
}

TEST(PublishPipeline, DuplicatesWithinARequestAndOfStoredKeysGetTheOriginalPosition) {
  Fixture f;
  PublishPipeline pipeline(*f.store);
  const std::vector<PublishEvent> batch{event("a", "1"), event("b", "2"), event("a", "1 again")};
  auto first = pipeline.publish("orders", batch, 0, 0);
  ASSERT_TRUE(first.ok());
  ASSERT_EQ(first->size(), 3u);
  EXPECT_FALSE((*first)[0].duplicate);
  EXPECT_FALSE((*first)[1].duplicate);
  EXPECT_TRUE((*first)[2].duplicate);
  EXPECT_EQ((*first)[2].offset, (*first)[0].offset);

  const std::vector<PublishEvent> again{event("b", "2"), event("c", "3")};
  auto second = pipeline.publish("orders", again, 0, 0);
  ASSERT_TRUE(second.ok());
  EXPECT_TRUE((*second)[0].duplicate);
  EXPECT_EQ((*second)[0].offset, (*first)[1].offset);
  EXPECT_FALSE((*second)[1].duplicate);
  EXPECT_EQ((*second)[1].offset, 2u);
  EXPECT_EQ(f.store->partition("orders", 0)->next_offset(), 3u);
}

TEST(PublishPipeline, MultiPartitionPublishCompletesOnceEveryPartitionIsDurable) {
  Fixture f(4);
  PublishPipeline pipeline(*f.store);
  std::vector<PublishEvent> batch;
  for (int i = 0; i < 8; ++i) batch.push_back(event("", "payload", i % 4));
  batch.push_back(event("", "nowhere", 7));  // no such partition: only this event fails
  Outcome out;
  pipeline.publish_async("orders", batch, 0, 0, out.callback());
  const auto& acks = out.wait();
  ASSERT_EQ(acks.size(), 9u);
  for (int i = 0; i < 8; ++i) {
    EXPECT_TRUE(acks[i].status.ok()) << acks[i].status.to_string();
    EXPECT_EQ(acks[i].partition, static_cast<uint32_t>(i % 4));
    EXPECT_EQ(acks[i].offset, static_cast<uint64_t>(i / 4));
    EXPECT_GE(f.store->partition("orders", acks[i].partition)->durable_offset(), acks[i].offset + 1);
  }
  EXPECT_EQ(acks[8].status.code(), Code::kInvalidArgument);
}

// A log takes no batch larger than a segment: a request larger than the topic's segments
// is stored in batches that fit, every event at the offset its ack names; only an event
// too large for a segment on its own is refused, naming the setting.
TEST(PublishPipeline, ARequestLargerThanASegmentIsStoredInBatchesThatFit) {
  Fixture f(2, 64 << 10);
  PublishPipeline pipeline(*f.store);
  std::vector<std::string> payloads;
  for (int i = 0; i < 300; ++i) payloads.push_back(std::to_string(i) + std::string(1000, 'x'));
  payloads.push_back(std::string(70 << 10, 'y'));  // larger than a segment on its own
  std::vector<std::string> keys;  // every third event carries a dedup key
  for (size_t i = 0; i < payloads.size(); ++i) keys.push_back(i % 3 == 0 ? "k-" + std::to_string(i) : "");
  std::vector<PublishEvent> batch;
  for (size_t i = 0; i < payloads.size(); ++i) batch.push_back(event(keys[i], payloads[i], static_cast<int32_t>(i % 2)));
  const std::string big_key = "k-big";
  batch.back().record.dedup_key = big_key;
  auto acks = pipeline.publish("orders", batch, 0, 0);
  ASSERT_TRUE(acks.ok()) << acks.error().to_string();
  ASSERT_EQ(acks->size(), payloads.size());
  for (size_t i = 0; i + 1 < payloads.size(); ++i) {
    const EventAck& a = (*acks)[i];
    ASSERT_TRUE(a.status.ok()) << i << ": " << a.status.to_string();
    EXPECT_EQ(a.partition, i % 2);
    EXPECT_EQ(a.offset, i / 2) << "request order within the partition";
    auto read = f.store->partition("orders", a.partition)->read(a.offset, 1 << 20, 1);
    ASSERT_TRUE(read.ok());
    ASSERT_TRUE(storage::for_each_record_from(*read, a.offset, [&](const batch::RecordView& r) {
                  EXPECT_EQ(r.payload, payloads[i]);
                  EXPECT_EQ(r.lamport, a.lamport);
                  return false;
                }).ok());
  }
  EXPECT_GT(f.store->partition("orders", 0)->segment_count(), 2u) << "the request's events span segments";
  const EventAck& big = acks->back();
  EXPECT_EQ(big.status.code(), Code::kInvalidArgument);
  EXPECT_NE(big.status.message().find("--segment-bytes"), std::string::npos) << big.status.to_string();

  // Keys of the stored events were stored; the refused event's key was not.
  std::vector<PublishEvent> again{event("k-3", "again"), event(big_key, "small now")};
  auto second = pipeline.publish("orders", again, 0, 0);
  ASSERT_TRUE(second.ok());
  EXPECT_TRUE((*second)[0].duplicate);
  EXPECT_EQ((*second)[0].offset, (*acks)[3].offset);
  EXPECT_TRUE((*second)[1].status.ok());
  EXPECT_FALSE((*second)[1].duplicate);
}

// Keys enter the dedup window at the append's completion (not under the log's mutex): each
// is there, at the position its ack names, by the time the publish is answered.
TEST(PublishPipeline, EveryKeyIsInTheWindowAtItsAckedPositionWhenThePublishIsAnswered) {
  Fixture f(4);
  PublishPipeline pipeline(*f.store);
  const meta::TopicConfig topic = *f.store->get_topic("orders");
  std::vector<std::string> keys;
  for (int i = 0; i < 64; ++i) keys.push_back("order-" + std::to_string(i));
  std::vector<PublishEvent> batch;
  for (int i = 0; i < 64; ++i) batch.push_back(event(keys[i], "payload", i % 4));
  size_t found_when_answered = 0;
  Outcome out;
  pipeline.publish_async("orders", batch, 0, 0, [&](Result<std::vector<EventAck>> r) {
    for (const std::string& k : keys)
      if (f.store->find_duplicate(topic, k, storage::now_ms())) ++found_when_answered;
    out.callback()(std::move(r));
  });
  const auto& acks = out.wait();
  EXPECT_EQ(found_when_answered, keys.size());
  ASSERT_EQ(acks.size(), keys.size());
  for (size_t i = 0; i < keys.size(); ++i) {
    ASSERT_TRUE(acks[i].status.ok()) << acks[i].status.to_string();
    const std::optional<DedupEntry> d = f.store->find_duplicate(topic, keys[i], storage::now_ms());
    ASSERT_TRUE(d.has_value()) << keys[i];
    EXPECT_EQ(d->partition, acks[i].partition);
    EXPECT_EQ(d->offset, acks[i].offset);
    EXPECT_EQ(d->lamport, acks[i].lamport);
  }
  EXPECT_EQ(f.store->dedup().size(), keys.size());
  // And a later publish of each is answered as a duplicate.
  auto again = pipeline.publish("orders", batch, 0, 0);
  ASSERT_TRUE(again.ok());
  for (size_t i = 0; i < keys.size(); ++i) {
    EXPECT_TRUE((*again)[i].duplicate) << keys[i];
    EXPECT_EQ((*again)[i].offset, acks[i].offset);
  }
}

// A key whose append failed never enters the window: a retry (here to another partition,
// as a keyless event's retry may go) is stored, not answered with the position of an event
// nothing acknowledged and a crash may lose.
TEST(PublishPipeline, AKeyWhoseAppendFailedStaysOutOfTheWindowSoItsRetryIsStored) {
  Fixture f(2);
  PublishPipeline pipeline(*f.store);
  f.fs.set_fail_sync(true);
  const PublishEvent first = event("order-9", "x", 0);
  auto failed = pipeline.publish("orders", {&first, 1}, 0, 0);
  ASSERT_TRUE(failed.ok()) << failed.error().to_string();
  EXPECT_FALSE((*failed)[0].status.ok());
  f.fs.set_fail_sync(false);
  EXPECT_FALSE(f.store->find_duplicate(*f.store->get_topic("orders"), "order-9", storage::now_ms()).has_value());

  const PublishEvent retry = event("order-9", "x", 1);
  auto stored = pipeline.publish("orders", {&retry, 1}, 0, 0);
  ASSERT_TRUE(stored.ok()) << stored.error().to_string();
  ASSERT_TRUE((*stored)[0].status.ok()) << (*stored)[0].status.to_string();
  EXPECT_FALSE((*stored)[0].duplicate);
  EXPECT_EQ((*stored)[0].partition, 1u);
  EXPECT_EQ(f.store->partition("orders", 1)->next_offset(), 1u);
}

// A log's sync returns once its records are durable, while their completions, which put
// the keys into the window, may still be running on the thread that led the sync. Closing
// the store must wait for them before it writes the shutdown snapshot, or the snapshot
// names a partition's end without the keys below it, and the next start, taking that
// partition from the snapshot, stores a retry of such a key again.
TEST(PublishPipeline, TheShutdownSnapshotWaitsForCompletionsStillPuttingKeysInTheWindow) {
  Fixture f;
  auto pipeline = std::make_unique<PublishPipeline>(*f.store);
  const meta::TopicConfig topic = *f.store->get_topic("orders");
  const uint64_t syncs_before = f.fs.sync_count();

  // X's append starts a sync round, held until A and K are written behind it.
  f.fs.hold_syncs();
  batch::RecordInput x;
  x.payload = "x";
  std::thread appender([&] { ASSERT_TRUE(f.store->append(topic, 0, {&x, 1}, 0, storage::now_ms()).ok()); });
  while (f.fs.sync_count() == syncs_before) std::this_thread::yield();
  // A, whose completion blocks until released, then the keyed publish K: the next round
  // covers both and completes them in that order, on one thread.
  std::mutex mu;
  std::condition_variable cv;
  bool a_completing = false;
  bool release_a = false;
  batch::RecordInput a;
  a.payload = "a";
  f.store->append_async(topic, 0, {&a, 1}, 0, storage::now_ms(), [&](Result<storage::AppendResult> r) {
    EXPECT_TRUE(r.ok());
    std::unique_lock lk(mu);
    a_completing = true;
    cv.notify_all();
    cv.wait(lk, [&] { return release_a; });
  });
  Outcome k_outcome;
  const PublishEvent k = event("order-k", "k");
  pipeline->publish_async("orders", {&k, 1}, 0, 0, k_outcome.callback());
  ASSERT_EQ(f.store->partition("orders", 0)->next_offset(), 3u) << "X, A and K are written";
  f.fs.release_syncs();
  {
    std::unique_lock lk(mu);
    cv.wait(lk, [&] { return a_completing; });
  }
  // One round for X, one for A and K; K's completion waits behind A's.
  EXPECT_EQ(f.fs.sync_count(), syncs_before + 2);
  {
    std::lock_guard lk(k_outcome.mu);
    EXPECT_FALSE(k_outcome.acks.has_value()) << "K completed before A: the test no longer lines up the race";
  }
  // Every record is durable now and K's key is not in the window yet. Release A a while
  // after the close has begun.
  std::thread releaser([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    std::lock_guard lk(mu);
    release_a = true;
    cv.notify_all();
  });
  f.store.reset();  // syncs, then writes the snapshot
  releaser.join();
  appender.join();
  const auto& acks = k_outcome.wait();
  ASSERT_TRUE(acks[0].status.ok()) << acks[0].status.to_string();
  pipeline.reset();

  EventStoreOptions o;
  o.data_dir = f.dir.path();
  o.logs.background = false;
  auto reopened = EventStore::open(&f.fs, o, nullptr);
  ASSERT_TRUE(reopened.ok()) << reopened.error().to_string();
  const std::optional<DedupEntry> d = (*reopened)->find_duplicate(topic, "order-k", storage::now_ms());
  ASSERT_TRUE(d.has_value()) << "K's key is missing after a clean restart";
  EXPECT_EQ(d->offset, acks[0].offset);
}

TEST(PublishPipeline, UnknownTopicFailsTheWholeRequestAndStoresNothing) {
  Fixture f;
  PublishPipeline pipeline(*f.store);
  const PublishEvent e = event("k", "x");
  auto r = pipeline.publish("missing", {&e, 1}, 0, 0);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), Code::kNotFound);
  EXPECT_EQ(f.store->partition("orders", 0)->next_offset(), 0u);
}

}  // namespace
}  // namespace causeway::core
