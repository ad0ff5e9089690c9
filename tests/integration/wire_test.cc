// The broker's wire protocol end to end, over real loopback sockets against the real
// daemon: publish/fetch semantics (partitioning, dedup, Lamport, durability across kill -9)
// and hostile input. Sockets here are raw on purpose, to send exactly the bytes a test
// needs; the client library has its own integration tests.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <fstream>
#include <random>
#include <set>
#include <thread>

#include "causeway/common/batch_format.h"
#include "tests/integration/daemon_process.h"
#include "tests/integration/raw_connection.h"
#include "tests/unit/storage/test_util.h"

namespace causeway {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using testing::DaemonProcess;
using testing::RawConnection;
namespace proto = causeway::protocol;

const std::string kBroker = CAUSEWAY_BROKER_BINARY;

struct Ev {
  std::string key, dedup, payload;
  uint64_t lamport_hint = 0;
};

struct Ack {
  proto::ErrorCode code;
  uint32_t partition;
  uint64_t offset;
  uint64_t lamport;
  bool duplicate;
};

struct Stored {
  uint64_t offset;
  uint64_t lamport;
  std::string key, dedup, payload, source, type;
};

class WireTest : public ::testing::Test {
 protected:
  void SetUp() override { start(); }

  void start(std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"--listen", "127.0.0.1:0", "--registry-listen", "127.0.0.1:0", "--data-dir", dir_.path()};
    args.insert(args.end(), extra.begin(), extra.end());
    broker_ = std::make_unique<DaemonProcess>(kBroker, args);
    ASSERT_TRUE(broker_->wait_for_output("ready", 30s)) << broker_->output();
    const std::string& out = broker_->output();
    const auto at = out.find("listening on 127.0.0.1:");
    ASSERT_NE(at, std::string::npos) << out;
    port_ = static_cast<uint16_t>(std::stoi(out.substr(at + std::strlen("listening on 127.0.0.1:"))));
  }
  void stop_cleanly() {
    broker_->signal(SIGTERM);
    auto st = broker_->wait_exit(30s);
    ASSERT_TRUE(st && WIFEXITED(*st) && WEXITSTATUS(*st) == 0) << broker_->output();
  }
  void kill9() {
    broker_->signal(SIGKILL);
    ASSERT_TRUE(broker_->wait_exit(30s));
  }

  std::unique_ptr<RawConnection> connect() {
    auto c = std::make_unique<RawConnection>(port_);
    EXPECT_TRUE(c->connected());
    EXPECT_TRUE(c->hello());
    return c;
  }

  proto::ErrorCode create_topic(RawConnection& c, const std::string& name, uint32_t partitions,
                                proto::Durability d = proto::Durability::Fsync, uint64_t dedup_window_ms = 120000) {
    flatbuffers::FlatBufferBuilder b;
    auto settings = proto::CreateTopicSettings(b, partitions, d, dedup_window_ms);
    EXPECT_TRUE(c.send(7, b, proto::CreateCreateTopicRequest(b, b.CreateString(name), settings)));
    auto r = c.read_frame();
    EXPECT_TRUE(r);
    if (!r) return proto::ErrorCode::Internal;
    const auto* resp = proto::GetMessage(r->data())->body_as_CreateTopicResponse();
    EXPECT_NE(resp, nullptr);
    return resp ? resp->status()->code() : proto::ErrorCode::Internal;
  }

  void send_publish(RawConnection& c, uint64_t cid, const std::string& topic, const std::vector<Ev>& evs,
                    uint64_t lamport = 0) {
    flatbuffers::FlatBufferBuilder b;
    std::vector<flatbuffers::Offset<proto::Event>> events;
    for (const Ev& e : evs) {
      auto key = b.CreateVector(reinterpret_cast<const uint8_t*>(e.key.data()), e.key.size());
      auto dedup = b.CreateVector(reinterpret_cast<const uint8_t*>(e.dedup.data()), e.dedup.size());
      auto payload = b.CreateVector(reinterpret_cast<const uint8_t*>(e.payload.data()), e.payload.size());
      events.push_back(proto::CreateEvent(b, key, dedup, b.CreateString("wire-test"), b.CreateString("Tested"), 0, 0, payload));
    }
    auto vec = b.CreateVector(events);
    ASSERT_TRUE(c.send(cid, b, proto::CreatePublishRequest(b, b.CreateString(topic), lamport, vec)));
  }

  // Returns the acks, or the request-level error code as a single ack with that code.
  std::vector<Ack> read_publish_response(RawConnection& c, uint64_t* cid_out = nullptr) {
    auto r = c.read_frame(30s);
    EXPECT_TRUE(r) << "no publish response";
    if (!r) return {};
    const auto* m = proto::GetMessage(r->data());
    if (cid_out) *cid_out = m->correlation_id();
    const auto* resp = m->body_as_PublishResponse();
    EXPECT_NE(resp, nullptr);
    if (!resp) return {};
    if (resp->status()->code() != proto::ErrorCode::Ok) return {Ack{resp->status()->code(), 0, 0, 0, false}};
    std::vector<Ack> out;
    for (const proto::EventAck* a : *resp->acks())
      out.push_back(Ack{a->code(), a->partition(), a->offset(), a->lamport(), a->duplicate()});
    return out;
  }

  std::vector<Ack> publish(RawConnection& c, const std::string& topic, const std::vector<Ev>& evs, uint64_t lamport = 0) {
    send_publish(c, 11, topic, evs, lamport);
    return read_publish_response(c);
  }

  std::vector<Stored> fetch(RawConnection& c, const std::string& topic, uint32_t partition, uint64_t offset = 0) {
    std::vector<Stored> out;
    for (;;) {
      flatbuffers::FlatBufferBuilder b;
      EXPECT_TRUE(c.send(13, b, proto::CreateFetchRequest(b, b.CreateString(topic), partition, offset, 1 << 20, 10000)));
      auto r = c.read_frame();
      EXPECT_TRUE(r);
      if (!r) return out;
      const auto* resp = proto::GetMessage(r->data())->body_as_FetchResponse();
      EXPECT_TRUE(resp && resp->status()->code() == proto::ErrorCode::Ok);
      if (!resp || !resp->batches() || resp->batches()->size() == 0) return out;
      std::string_view bytes(reinterpret_cast<const char*>(resp->batches()->data()), resp->batches()->size());
      while (!bytes.empty()) {
        auto h = batch::decode_header(bytes);
        EXPECT_TRUE(h.ok());
        if (!h.ok()) return out;
        EXPECT_TRUE(batch::verify_batch(*h, bytes).ok());
        EXPECT_TRUE(batch::for_each_record(*h, bytes, [&](const batch::RecordView& v) {
                      if (v.offset >= offset)
                        out.push_back(Stored{v.offset, v.lamport, std::string(v.key), std::string(v.dedup_key),
                                             std::string(v.payload), std::string(v.source), std::string(v.type)});
                      return true;
                    }).ok());
        offset = h->next_offset();
        bytes.remove_prefix(h->total_size());
      }
    }
  }

  uint64_t rss_kib() {
    std::ifstream in("/proc/" + std::to_string(broker_->pid()) + "/status");
    std::string line;
    while (std::getline(in, line))
      if (line.rfind("VmRSS:", 0) == 0) return std::stoull(line.substr(6));
    return 0;
  }

  storage::testing::TempDir dir_;
  std::unique_ptr<DaemonProcess> broker_;
  uint16_t port_ = 0;
};

TEST_F(WireTest, PublishThenFetchRoundTripsEveryField) {
  auto c = connect();
  ASSERT_EQ(create_topic(*c, "orders", 1), proto::ErrorCode::Ok);
  auto acks = publish(*c, "orders", {{"k1", "d1", "first"}, {"k2", "", "second"}});
  ASSERT_EQ(acks.size(), 2u);
  EXPECT_EQ(acks[0].code, proto::ErrorCode::Ok);
  EXPECT_EQ(acks[0].offset, 0u);
  EXPECT_EQ(acks[1].offset, 1u);
  EXPECT_FALSE(acks[0].duplicate);
  auto stored = fetch(*c, "orders", 0);
  ASSERT_EQ(stored.size(), 2u);
  EXPECT_EQ(stored[0].payload, "first");
  EXPECT_EQ(stored[0].key, "k1");
  EXPECT_EQ(stored[0].dedup, "d1");
  EXPECT_EQ(stored[0].source, "wire-test");
  EXPECT_EQ(stored[0].type, "Tested");
  EXPECT_EQ(stored[1].payload, "second");
  EXPECT_EQ(stored[0].lamport, acks[0].lamport);
}

TEST_F(WireTest, PartitionKeyAlwaysLandsInTheSamePartition) {
  auto c = connect();
  ASSERT_EQ(create_topic(*c, "keyed", 4), proto::ErrorCode::Ok);
  std::map<std::string, uint32_t> seen;
  std::set<uint32_t> used;
  for (int round = 0; round < 3; ++round) {
    std::vector<Ev> evs;
    for (int k = 0; k < 20; ++k) evs.push_back({"customer-" + std::to_string(k), "", "x"});
    auto acks = publish(*c, "keyed", evs);
    ASSERT_EQ(acks.size(), evs.size());
    for (size_t i = 0; i < evs.size(); ++i) {
      auto [it, fresh] = seen.emplace(evs[i].key, acks[i].partition);
      EXPECT_EQ(it->second, acks[i].partition) << evs[i].key;
      used.insert(acks[i].partition);
    }
  }
  EXPECT_GT(used.size(), 1u);  // 20 keys over 4 partitions do not all hash alike
}

TEST_F(WireTest, DuplicateKeyWithinOneBatchIsStoredOnce) {
  auto c = connect();
  ASSERT_EQ(create_topic(*c, "t", 1), proto::ErrorCode::Ok);
  auto acks = publish(*c, "t", {{"", "same", "a"}, {"", "other", "b"}, {"", "same", "c"}});
  ASSERT_EQ(acks.size(), 3u);
  EXPECT_FALSE(acks[0].duplicate);
  EXPECT_TRUE(acks[2].duplicate);
  EXPECT_EQ(acks[2].offset, acks[0].offset);
  EXPECT_EQ(acks[2].lamport, acks[0].lamport);
  EXPECT_EQ(fetch(*c, "t", 0).size(), 2u);
}

TEST_F(WireTest, DuplicateKeyInALaterRequestReturnsOriginalOffset) {
  auto c = connect();
  ASSERT_EQ(create_topic(*c, "t", 2), proto::ErrorCode::Ok);
  auto first = publish(*c, "t", {{"k", "order-17", "v1"}});
  auto second = publish(*c, "t", {{"k", "order-17", "v2"}});
  ASSERT_EQ(first.size(), 1u);
  ASSERT_EQ(second.size(), 1u);
  EXPECT_TRUE(second[0].duplicate);
  EXPECT_EQ(second[0].partition, first[0].partition);
  EXPECT_EQ(second[0].offset, first[0].offset);
  EXPECT_EQ(fetch(*c, "t", first[0].partition).size(), 1u);
}

TEST_F(WireTest, ConcurrentDuplicatesFromManyConnectionsAreStoredOnce) {
  auto setup = connect();
  ASSERT_EQ(create_topic(*setup, "race", 3), proto::ErrorCode::Ok);
  constexpr int kClients = 6, kKeys = 50;
  std::vector<std::vector<Ack>> results(kClients);
  std::vector<std::thread> threads;
  for (int t = 0; t < kClients; ++t) {
    threads.emplace_back([&, t] {
      RawConnection c(port_);
      ASSERT_TRUE(c.hello());
      for (int k = 0; k < kKeys; ++k) {
        auto acks = publish(c, "race", {{"", "key-" + std::to_string(k), "from-" + std::to_string(t)}});
        ASSERT_EQ(acks.size(), 1u);
        results[t].push_back(acks[0]);
      }
    });
  }
  for (auto& th : threads) th.join();
  size_t stored = 0;
  for (uint32_t p = 0; p < 3; ++p) stored += fetch(*setup, "race", p).size();
  EXPECT_EQ(stored, static_cast<size_t>(kKeys));
  for (int k = 0; k < kKeys; ++k) {
    int originals = 0;
    for (int t = 0; t < kClients; ++t) {
      EXPECT_EQ(results[t][k].code, proto::ErrorCode::Ok);
      EXPECT_EQ(results[t][k].offset, results[0][k].offset);
      EXPECT_EQ(results[t][k].partition, results[0][k].partition);
      originals += results[t][k].duplicate ? 0 : 1;
    }
    EXPECT_EQ(originals, 1) << "key-" << k;
  }
}

TEST_F(WireTest, DedupHoldsAcrossCleanRestartAndKill9) {
  {
    auto c = connect();
    ASSERT_EQ(create_topic(*c, "t", 2), proto::ErrorCode::Ok);
    ASSERT_EQ(publish(*c, "t", {{"", "a", "1"}}).size(), 1u);
  }
  stop_cleanly();
  start();
  {
    auto c = connect();
    auto acks = publish(*c, "t", {{"", "a", "again"}, {"", "b", "2"}});
    ASSERT_EQ(acks.size(), 2u);
    EXPECT_TRUE(acks[0].duplicate);
    EXPECT_FALSE(acks[1].duplicate);
  }
  kill9();
  start();
  auto c = connect();
  auto acks = publish(*c, "t", {{"", "a", "x"}, {"", "b", "y"}});
  ASSERT_EQ(acks.size(), 2u);
  EXPECT_TRUE(acks[0].duplicate);
  EXPECT_TRUE(acks[1].duplicate);
}

TEST_F(WireTest, KeyOutsideTheDedupWindowIsStoredAgain) {
  auto c = connect();
  ASSERT_EQ(create_topic(*c, "short", 1, proto::Durability::Fsync, 300), proto::ErrorCode::Ok);
  auto first = publish(*c, "short", {{"", "k", "1"}});
  ASSERT_EQ(first.size(), 1u);
  // Within the window the key is a duplicate (and stores nothing); once the window has passed
  // it is stored again, right after the first.
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  std::vector<Ack> second;
  int duplicates = 0;
  for (;;) {
    second = publish(*c, "short", {{"", "k", "2"}});
    ASSERT_EQ(second.size(), 1u);
    if (!second[0].duplicate) break;
    ++duplicates;
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "the key never left the 300 ms window";
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_GT(duplicates, 0) << "a key published at once must be a duplicate";
  EXPECT_EQ(second[0].offset, first[0].offset + 1);
}

TEST_F(WireTest, LamportStampsFollowCausalityAcrossTopicsAndIncreaseWithOffset) {
  auto c = connect();
  ASSERT_EQ(create_topic(*c, "a", 2), proto::ErrorCode::Ok);
  ASSERT_EQ(create_topic(*c, "b", 3), proto::ErrorCode::Ok);
  uint64_t clock = 1000;  // a client clock ahead of the broker's
  for (int i = 0; i < 20; ++i) {
    const std::string topic = i % 2 ? "a" : "b";
    auto acks = publish(*c, topic, {{"key" + std::to_string(i), "", "e"}}, clock);
    ASSERT_EQ(acks.size(), 1u);
    EXPECT_GT(acks[0].lamport, clock) << "event " << i << " does not follow the one it was caused by";
    clock = acks[0].lamport;  // the next publish happens after this ack
  }
  for (const std::string topic : {"a", "b"}) {
    for (uint32_t p = 0; p < (topic == "a" ? 2u : 3u); ++p) {
      auto stored = fetch(*c, topic, p);
      for (size_t i = 1; i < stored.size(); ++i) EXPECT_GT(stored[i].lamport, stored[i - 1].lamport);
    }
  }
}

TEST_F(WireTest, AckedEventsSurviveKill9WhileSeveralClientsPublish) {
  {
    auto c = connect();
    ASSERT_EQ(create_topic(*c, "load", 3), proto::ErrorCode::Ok);
  }
  std::mutex mu;
  std::map<std::pair<uint32_t, uint64_t>, std::string> acked;
  std::atomic<bool> stop{false};
  std::vector<std::thread> clients;
  for (int t = 0; t < 4; ++t) {
    clients.emplace_back([&, t] {
      RawConnection c(port_);
      if (!c.hello()) return;
      for (int i = 0; !stop; ++i) {
        const std::string payload = "c" + std::to_string(t) + "-" + std::to_string(i);
        send_publish(c, 1, "load", {{payload, "", payload}});
        auto r = c.read_frame(5s);
        if (!r) return;  // the broker died: unacknowledged, not counted
        const auto* resp = proto::GetMessage(r->data())->body_as_PublishResponse();
        if (!resp || resp->status()->code() != proto::ErrorCode::Ok) return;
        const auto* a = resp->acks()->Get(0);
        std::lock_guard lk(mu);
        acked[{a->partition(), a->offset()}] = payload;
      }
    });
  }
  // Kill it mid-load, once a few hundred publishes have been acked.
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (std::chrono::steady_clock::now() < deadline) {
    {
      std::lock_guard lk(mu);
      if (acked.size() >= 300) break;
    }
    std::this_thread::sleep_for(10ms);
  }
  kill9();
  stop = true;
  for (auto& th : clients) th.join();
  ASSERT_GT(acked.size(), 10u);
  start();
  auto c = connect();
  std::map<std::pair<uint32_t, uint64_t>, std::string> found;
  for (uint32_t p = 0; p < 3; ++p)
    for (const auto& s : fetch(*c, "load", p)) {
      EXPECT_TRUE(found.emplace(std::make_pair(p, s.offset), s.payload).second);
    }
  for (const auto& [where, payload] : acked) {
    auto it = found.find(where);
    ASSERT_NE(it, found.end()) << "acked " << where.first << "/" << where.second << " lost";
    EXPECT_EQ(it->second, payload);
  }
}

// ---------------------------------------------------------------- hostile input

TEST_F(WireTest, RandomBytesCloseOnlyThatConnection) {
  auto good = connect();
  ASSERT_EQ(create_topic(*good, "t", 1), proto::ErrorCode::Ok);
  std::mt19937 rng(::testing::UnitTest::GetInstance()->random_seed());
  for (int i = 0; i < 20; ++i) {
    RawConnection bad(port_);
    std::string junk(1 + rng() % 5000, '\0');
    for (char& ch : junk) ch = static_cast<char>(rng());
    bad.send_bytes(junk);
    // Either the length prefix is out of bounds or the frame fails verification: closed.
    // A short junk whose length prefix asks for more than was sent just waits; drop it.
  }
  auto acks = publish(*good, "t", {{"", "", "still fine"}});
  ASSERT_EQ(acks.size(), 1u);
  EXPECT_EQ(acks[0].code, proto::ErrorCode::Ok);
}

TEST_F(WireTest, FourGibLengthPrefixClosesTheConnection) {
  RawConnection c(port_);
  ASSERT_TRUE(c.hello());
  c.send_bytes(std::string("\xff\xff\xff\xff", 4));
  EXPECT_TRUE(c.closed_by_peer());
  auto good = connect();
  EXPECT_EQ(create_topic(*good, "after", 1), proto::ErrorCode::Ok);
}

TEST_F(WireTest, ValidFrameHoldingAnInvalidFlatBufferClosesTheConnection) {
  RawConnection c(port_);
  std::string frame(4, '\0');
  coding::encode_fixed32(frame.data(), 64);
  frame += std::string(64, '\x7f');
  c.send_bytes(frame);
  EXPECT_TRUE(c.closed_by_peer());
}

TEST_F(WireTest, RequestBeforeHelloIsRefusedAndClosed) {
  RawConnection c(port_);
  flatbuffers::FlatBufferBuilder b;
  ASSERT_TRUE(c.send(5, b, proto::CreateListTopicsRequest(b)));
  auto r = c.read_frame();
  ASSERT_TRUE(r);
  const auto* err = proto::GetMessage(r->data())->body_as_ErrorResponse();
  ASSERT_NE(err, nullptr);
  EXPECT_EQ(err->status()->code(), proto::ErrorCode::HandshakeRequired);
  EXPECT_TRUE(c.closed_by_peer());
}

TEST_F(WireTest, UnsupportedProtocolVersionIsRefused) {
  RawConnection c(port_);
  EXPECT_FALSE(c.hello(99));
  EXPECT_TRUE(c.closed_by_peer());
}

TEST_F(WireTest, UnknownRequestTypeGetsAnErrorAndTheConnectionStays) {
  auto c = connect();
  flatbuffers::FlatBufferBuilder b;
  auto body = proto::CreateListTopicsRequest(b);
  auto msg = proto::CreateMessage(b, 9, static_cast<proto::Body>(200), body.Union());
  proto::FinishMessageBuffer(b, msg);
  ASSERT_TRUE(c->send_message(b));
  auto r = c->read_frame();
  ASSERT_TRUE(r);
  const auto* m = proto::GetMessage(r->data());
  EXPECT_EQ(m->correlation_id(), 9u);
  ASSERT_NE(m->body_as_ErrorResponse(), nullptr);
  EXPECT_EQ(m->body_as_ErrorResponse()->status()->code(), proto::ErrorCode::UnknownRequest);
  EXPECT_EQ(create_topic(*c, "still-open", 1), proto::ErrorCode::Ok);
}

TEST_F(WireTest, UnknownTopicIsNotFoundAndNothingIsStored) {
  auto c = connect();
  auto acks = publish(*c, "nope", {{"", "", "x"}});
  ASSERT_EQ(acks.size(), 1u);
  EXPECT_EQ(acks[0].code, proto::ErrorCode::NotFound);
}

TEST_F(WireTest, OversizeBatchIsRefusedAndTheBrokerStaysUp) {
  broker_->signal(SIGTERM);
  ASSERT_TRUE(broker_->wait_exit(30s));
  start({"--max-frame-bytes", "64KiB"});
  auto c = connect();
  ASSERT_EQ(create_topic(*c, "t", 1), proto::ErrorCode::Ok);
  send_publish(*c, 3, "t", {{"", "", std::string(100 << 10, 'x')}});
  EXPECT_TRUE(c->closed_by_peer());
  auto good = connect();
  auto acks = publish(*good, "t", {{"", "", "small"}});
  ASSERT_EQ(acks.size(), 1u);
  EXPECT_EQ(acks[0].code, proto::ErrorCode::Ok);
}

TEST_F(WireTest, SilentClientIsClosedAfterTheHandshakeTimeout) {
  broker_->signal(SIGTERM);
  ASSERT_TRUE(broker_->wait_exit(30s));
  start({"--handshake-timeout", "300ms"});
  RawConnection silent(port_);
  ASSERT_TRUE(silent.connected());
  EXPECT_TRUE(silent.closed_by_peer(5s));
}

// Responses are written by the thread that has them (a sync thread for an fsync publish,
// a storage thread for a fetch) while the connection has nothing queued, and by its
// network thread otherwise. A client that stops reading with a small receive buffer makes
// those writes partial and then impossible: every response must still arrive whole, once.
TEST_F(WireTest, ResponsesWrittenWhileTheClientStopsReadingArriveWholeAndOnce) {
  auto setup = connect();
  ASSERT_EQ(create_topic(*setup, "late", 1, proto::Durability::Fsync), proto::ErrorCode::Ok);
  for (int i = 0; i < 8; ++i) {  // ~64 KiB to fetch back, so fetch responses outgrow the buffers
    auto acks = publish(*setup, "late", std::vector<Ev>(4, Ev{"", "", std::string(2000, 'a' + i)}));
    ASSERT_EQ(acks.size(), 4u);
  }
  RawConnection c(port_, 4096);
  ASSERT_TRUE(c.connected());
  ASSERT_TRUE(c.hello());
  constexpr uint64_t kRequests = 300;
  std::thread sender([&] {
    for (uint64_t cid = 100; cid < 100 + kRequests; ++cid) {
      flatbuffers::FlatBufferBuilder b;
      if (cid % 3 == 0) {
        auto payload = b.CreateVector(reinterpret_cast<const uint8_t*>("late-event"), 10);
        std::vector<flatbuffers::Offset<proto::Event>> events{
            proto::CreateEvent(b, 0, 0, b.CreateString("wire-test"), b.CreateString("Tested"), 0, 0, payload)};
        auto vec = b.CreateVector(events);
        if (!c.send(cid, b, proto::CreatePublishRequest(b, b.CreateString("late"), 0, vec))) return;
      } else {
        if (!c.send(cid, b, proto::CreateFetchRequest(b, b.CreateString("late"), 0, 0, 64 << 10, 10000))) return;
      }
    }
  });
  // A failed assertion returns early: unblock the sender and join it on the way out.
  struct JoinSender {
    RawConnection& c;
    std::thread& t;
    ~JoinSender() {
      if (!t.joinable()) return;
      c.shutdown();
      t.join();
    }
  } join_sender{c, sender};
  std::this_thread::sleep_for(1s);  // the broker's writes fill both socket buffers meanwhile
  std::set<uint64_t> answered;
  while (answered.size() < kRequests) {
    auto r = c.read_frame(30s);
    ASSERT_TRUE(r) << answered.size() << " of " << kRequests << " responses read";
    flatbuffers::Verifier v(reinterpret_cast<const uint8_t*>(r->data()), r->size());
    ASSERT_TRUE(proto::VerifyMessageBuffer(v)) << "response " << answered.size() << " is not a whole frame";
    const auto* m = proto::GetMessage(r->data());
    ASSERT_TRUE(answered.insert(m->correlation_id()).second) << "correlation id " << m->correlation_id() << " twice";
    ASSERT_GE(m->correlation_id(), 100u);
    ASSERT_LT(m->correlation_id(), 100 + kRequests);
    if (m->correlation_id() % 3 == 0) {
      const auto* resp = m->body_as_PublishResponse();
      ASSERT_NE(resp, nullptr);
      ASSERT_EQ(resp->status()->code(), proto::ErrorCode::Ok);
    } else {
      const auto* resp = m->body_as_FetchResponse();
      ASSERT_NE(resp, nullptr);
      ASSERT_EQ(resp->status()->code(), proto::ErrorCode::Ok);
      std::string_view bytes(reinterpret_cast<const char*>(resp->batches()->data()), resp->batches()->size());
      ASSERT_FALSE(bytes.empty());
      while (!bytes.empty()) {
        auto h = batch::decode_header(bytes);
        ASSERT_TRUE(h.ok()) << h.status().to_string();
        ASSERT_TRUE(batch::verify_batch(*h, bytes).ok());
        bytes.remove_prefix(h->total_size());
      }
    }
  }
  sender.join();
  // Nothing more: no response was written twice.
  EXPECT_FALSE(c.read_frame(300ms).has_value());
  // Every publish was stored once, in order after the 32 events written above.
  auto stored = fetch(*setup, "late", 0);
  ASSERT_EQ(stored.size(), 32 + kRequests / 3);
  for (size_t i = 32; i < stored.size(); ++i) EXPECT_EQ(stored[i].payload, "late-event");
}

TEST_F(WireTest, ClientThatNeverReadsIsThrottledWhileOthersKeepWorking) {
  auto c = connect();
  ASSERT_EQ(create_topic(*c, "flood", 1, proto::Durability::Os), proto::ErrorCode::Ok);
  const uint64_t rss_before = rss_kib();
  RawConnection flooder(port_);
  ASSERT_TRUE(flooder.hello());
  std::atomic<bool> done{false};
  std::thread flood([&] {
    // Each request asks for up to 1 MiB of fetch response; the flooder never reads.
    for (int i = 0; i < 20000 && !done; ++i) {
      flatbuffers::FlatBufferBuilder b;
      if (!flooder.send(1, b, proto::CreateFetchRequest(b, b.CreateString("flood"), 0, 0, 1 << 20, 10000))) break;
    }
  });
  std::vector<Ev> big(16, Ev{"", "", std::string(4096, 'p')});
  for (int i = 0; i < 50; ++i) {
    auto acks = publish(*c, "flood", big);
    ASSERT_EQ(acks.size(), big.size());
    ASSERT_EQ(acks[0].code, proto::ErrorCode::Ok);
  }
  std::this_thread::sleep_for(500ms);
  const uint64_t rss_after = rss_kib();
  done = true;
  flooder.shutdown();  // unblocks the flooding thread's send
  flood.join();
  EXPECT_LT(rss_after, rss_before + 512 * 1024) << "broker RSS grew from " << rss_before << " to " << rss_after << " KiB";
}

}  // namespace
}  // namespace causeway
