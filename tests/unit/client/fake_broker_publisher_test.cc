// Publisher against a fake broker on loopback: pipelined acks, the Lamport clock, and
// resends after a dropped connection that keep their dedup keys (so nothing is stored
// twice). The fake speaks just enough of docs/wire-protocol.md: Hello and Publish.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <map>
#include <mutex>
#include <thread>

#include <asio/ip/tcp.hpp>
#include <asio/read.hpp>
#include <asio/write.hpp>

#include "causeway/client/admin.h"
#include "causeway/client/publisher.h"
#include "client/src/frame.h"

namespace causeway::client {
namespace {

namespace pr = causeway::protocol;
using asio::ip::tcp;

// One connection at a time, served on its own thread with blocking I/O.
class FakeBroker {
 public:
  FakeBroker() : acceptor_(io_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
    port_ = acceptor_.local_endpoint().port();
    thread_ = std::thread([this] { serve(); });
  }
  ~FakeBroker() {
    stop_ = true;
    std::error_code ec;
    tcp::socket poke(io_);
    poke.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port_), ec);
    thread_.join();
  }

  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  // The next n PublishRequests are stored but the connection is dropped before the ack.
  void drop_after_storing(int n) { drops_ = n; }
  // The next PublishRequest is answered with bytes that are not a Message.
  void send_garbage_once() { garbage_ = true; }
  // The max_frame_bytes the Hello answer announces.
  void announce_max_frame_bytes(uint32_t n) { announced_max_frame_ = n; }
  // PublishRequests received, and the most events one of them held.
  int requests() const { return requests_; }
  std::size_t stored() {
    std::lock_guard lock(mu_);
    return log_.size();
  }
  int connections() const { return connections_; }
  // Events whose dedup key was stored already (answered duplicate).
  int duplicates() const { return duplicates_; }
  // Frames that did not parse (each also ended its connection).
  int bad_frames() const { return bad_frames_; }
  // Every stored event's payload, in the order stored.
  std::vector<std::string> payloads() {
    std::lock_guard lock(mu_);
    return payloads_;
  }
  // Sleep this long before reading each frame, so the client's socket buffer fills.
  void read_slowly(std::chrono::milliseconds delay) { read_delay_ms_ = static_cast<int>(delay.count()); }
  uint64_t clock() {
    std::lock_guard lock(mu_);
    return clock_;
  }

 private:
  struct Stored {
    uint64_t offset;
    uint64_t lamport;
  };

  void serve() {
    while (!stop_) {
      tcp::socket socket(io_);
      std::error_code ec;
      acceptor_.accept(socket, ec);
      if (ec || stop_) return;
      ++connections_;
      serve_connection(socket);
    }
  }

  static bool write_frame(tcp::socket& socket, flatbuffers::FlatBufferBuilder& fbb,
                          flatbuffers::Offset<pr::Message> message) {
    std::vector<uint8_t> frame = internal::finish_frame(fbb, message);
    std::error_code ec;
    asio::write(socket, asio::buffer(frame), ec);
    return !ec;
  }

  void serve_connection(tcp::socket& socket) {
    for (;;) {
      if (read_delay_ms_ > 0) std::this_thread::sleep_for(std::chrono::milliseconds(read_delay_ms_.load()));
      std::array<uint8_t, 4> prefix{};
      std::error_code ec;
      asio::read(socket, asio::buffer(prefix), ec);
      if (ec) return;
      auto length = internal::decode_frame_length(prefix, internal::kDefaultMaxFrameBytes);
      if (!length) {
        ++bad_frames_;
        return;
      }
      std::vector<uint8_t> bytes(*length);
      asio::read(socket, asio::buffer(bytes), ec);
      if (ec) return;
      auto frame = internal::verify_frame(std::move(bytes), internal::kDefaultMaxFrameBytes);
      if (!frame) {
        ++bad_frames_;
        return;
      }
      const pr::Message& msg = frame->message();
      flatbuffers::FlatBufferBuilder fbb;
      if (msg.body_type() == pr::Body::Hello) {
        auto hello = pr::CreateHelloResponse(fbb, 0, 1, fbb.CreateString("fake"), announced_max_frame_.load(), clock());
        if (!write_frame(socket, fbb, pr::CreateMessage(fbb, msg.correlation_id(), pr::Body::HelloResponse, hello.Union())))
          return;
        continue;
      }
      if (msg.body_type() != pr::Body::PublishRequest) return;
      ++requests_;
      if (garbage_.exchange(false)) {
        const std::array<uint8_t, 12> junk{8, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8};
        asio::write(socket, asio::buffer(junk), ec);
        continue;
      }
      std::vector<pr::EventAck> acks = store(*msg.body_as_PublishRequest());
      if (drops_ > 0) {
        --drops_;
        return;  // stored, never acked: the client must resend with the same dedup keys
      }
      auto ack_vec = fbb.CreateVectorOfStructs(acks);
      auto response = pr::CreatePublishResponse(fbb, 0, ack_vec);
      if (!write_frame(socket, fbb, pr::CreateMessage(fbb, msg.correlation_id(), pr::Body::PublishResponse, response.Union())))
        return;
    }
  }

  std::vector<pr::EventAck> store(const pr::PublishRequest& request) {
    std::lock_guard lock(mu_);
    std::vector<pr::EventAck> acks;
    for (const pr::Event* e : *request.events()) {
      std::string key = e->dedup_key() ? std::string(e->dedup_key()->begin(), e->dedup_key()->end()) : std::string();
      if (!key.empty()) {
        auto it = dedup_.find(key);
        if (it != dedup_.end()) {
          ++duplicates_;
          acks.emplace_back(0, pr::ErrorCode::Ok, true, it->second.offset, it->second.lamport);
          continue;
        }
      }
      clock_ = std::max(clock_, request.lamport()) + 1;
      const Stored s{log_.size(), clock_};
      log_.push_back(key);
      payloads_.emplace_back(e->payload() ? std::string(e->payload()->begin(), e->payload()->end()) : std::string());
      if (!key.empty()) dedup_[key] = s;
      acks.emplace_back(0, pr::ErrorCode::Ok, false, s.offset, s.lamport);
    }
    return acks;
  }

  asio::io_context io_;
  tcp::acceptor acceptor_;
  uint16_t port_ = 0;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<int> drops_{0};
  std::atomic<bool> garbage_{false};
  std::atomic<uint32_t> announced_max_frame_{internal::kDefaultMaxFrameBytes};
  std::atomic<int> requests_{0};
  std::atomic<int> connections_{0};
  std::atomic<int> bad_frames_{0};
  std::atomic<int> duplicates_{0};
  std::atomic<int> read_delay_ms_{0};
  std::mutex mu_;
  uint64_t clock_ = 1000;  // starts high so that the client must adopt it
  std::vector<std::string> log_;
  std::vector<std::string> payloads_;
  std::map<std::string, Stored> dedup_;
};

Event event_with(std::string payload) {
  Event e;
  e.payload = std::move(payload);
  return e;
}

std::future<Result<PublishAck>> pub_publish(Publisher& publisher, std::string payload) {
  return publisher.publish("t", event_with(std::move(payload)));
}

ClientOptions options_for(const FakeBroker& broker) {
  ClientOptions options;
  options.broker = broker.address();
  options.client_name = "fake-broker-test";
  options.connect_timeout = std::chrono::seconds(5);
  options.request_timeout = std::chrono::seconds(10);
  return options;
}

PublisherOptions fast_retries() {
  PublisherOptions p;
  p.auto_dedup_keys = true;
  p.retry_backoff_initial = std::chrono::milliseconds(5);
  p.retry_backoff_max = std::chrono::milliseconds(20);
  return p;
}

TEST(PublisherWithFakeBroker, AcksArriveInOrderAndAdvanceTheLamportClock) {
  FakeBroker broker;
  auto publisher = Publisher::connect(options_for(broker), fast_retries());
  ASSERT_TRUE(publisher.ok()) << publisher.status().to_string();
  EXPECT_GE((*publisher)->lamport(), 1000u);  // adopted the broker's clock at Hello
  std::vector<std::future<Result<PublishAck>>> futures;
  for (int i = 0; i < 200; ++i) futures.push_back((*publisher)->publish("t", event_with("e" + std::to_string(i))));
  uint64_t last_offset = 0;
  uint64_t last_lamport = 0;
  for (int i = 0; i < 200; ++i) {
    auto ack = futures[static_cast<std::size_t>(i)].get();
    ASSERT_TRUE(ack.ok()) << ack.status().to_string();
    if (i > 0) {
      EXPECT_GT(ack->offset, last_offset);
      EXPECT_GT(ack->lamport, last_lamport);
    }
    last_offset = ack->offset;
    last_lamport = ack->lamport;
  }
  EXPECT_GE((*publisher)->lamport(), last_lamport);
  EXPECT_EQ(broker.stored(), 200u);
  EXPECT_TRUE((*publisher)->close().ok());
}

TEST(PublisherWithFakeBroker, ResendAfterLostAckKeepsDedupKeysSoNothingIsStoredTwice) {
  FakeBroker broker;
  broker.drop_after_storing(2);
  auto publisher = Publisher::connect(options_for(broker), fast_retries());
  ASSERT_TRUE(publisher.ok()) << publisher.status().to_string();
  std::vector<std::future<Result<PublishAck>>> futures;
  for (int i = 0; i < 50; ++i) futures.push_back((*publisher)->publish("t", event_with("x")));
  int duplicates = 0;
  for (auto& f : futures) {
    auto ack = f.get();
    ASSERT_TRUE(ack.ok()) << ack.status().to_string();
    duplicates += ack->duplicate ? 1 : 0;
  }
  EXPECT_EQ(broker.stored(), 50u);  // every event exactly once
  EXPECT_GT(duplicates, 0);         // the resent ones were recognised
  EXPECT_GE(broker.connections(), 3);
}

TEST(PublisherWithFakeBroker, GarbageFromTheBrokerClosesTheConnectionAndTheBatchIsResent) {
  FakeBroker broker;
  broker.send_garbage_once();
  auto publisher = Publisher::connect(options_for(broker), fast_retries());
  ASSERT_TRUE(publisher.ok());
  auto ack = (*publisher)->publish("t", event_with("x")).get();
  ASSERT_TRUE(ack.ok()) << ack.status().to_string();
  EXPECT_EQ(broker.stored(), 1u);
  EXPECT_EQ(broker.connections(), 2);
}

TEST(PublisherWithFakeBroker, CallbackFormAndFlush) {
  FakeBroker broker;
  auto publisher = Publisher::connect(options_for(broker), fast_retries());
  ASSERT_TRUE(publisher.ok());
  std::atomic<int> acked{0};
  for (int i = 0; i < 100; ++i) {
    (*publisher)->publish("t", event_with("x"), [&acked](const Result<PublishAck>& r) {
      if (r.ok()) ++acked;
    });
  }
  ASSERT_TRUE((*publisher)->flush(std::chrono::seconds(10)).ok());
  EXPECT_EQ(acked.load(), 100);
}

TEST(PublisherWithFakeBroker, PublishAfterCloseFailsAtOnce) {
  FakeBroker broker;
  auto publisher = Publisher::connect(options_for(broker), fast_retries());
  ASSERT_TRUE(publisher.ok());
  ASSERT_TRUE((*publisher)->close().ok());
  auto r = (*publisher)->publish("t", event_with("x")).get();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), Code::kFailedPrecondition);
}

TEST(PublisherWithFakeBroker, BrokerGoneForGoodFailsWithUnavailableAfterRetries) {
  auto broker = std::make_unique<FakeBroker>();
  broker->drop_after_storing(1000);
  PublisherOptions p = fast_retries();
  p.max_retries = 2;
  auto publisher = Publisher::connect(options_for(*broker), p);
  ASSERT_TRUE(publisher.ok());
  auto r = (*publisher)->publish("t", event_with("x")).get();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), Code::kUnavailable);
  EXPECT_THAT(std::string(r.error().message()), ::testing::HasSubstr("giving up after 3 attempts"));
}

TEST(PublisherWithFakeBroker, AnEventTooLargeForAFrameFailsAloneAndItsBatchMatesAreSent) {
  FakeBroker broker;
  broker.announce_max_frame_bytes(4096);  // below max_batch_bytes: batches must be split
  PublisherOptions p = fast_retries();
  p.linger = std::chrono::milliseconds(50);  // so that all of them share one batch
  auto publisher = Publisher::connect(options_for(broker), p);
  ASSERT_TRUE(publisher.ok()) << publisher.status().to_string();
  std::vector<std::future<Result<PublishAck>>> futures;
  for (int i = 0; i < 20; ++i) {
    futures.push_back((*publisher)->publish("t", event_with(i == 7 ? std::string(10000, 'x') : std::string(300, 'y'))));
  }
  for (int i = 0; i < 20; ++i) {
    auto ack = futures[static_cast<std::size_t>(i)].get();
    if (i == 7) {
      ASSERT_FALSE(ack.ok());
      EXPECT_EQ(ack.error().code(), Code::kResourceExhausted);
      EXPECT_THAT(std::string(ack.error().message()), ::testing::HasSubstr("max_frame_bytes 4096"));
    } else {
      EXPECT_TRUE(ack.ok()) << i << ": " << ack.status().to_string();
    }
  }
  EXPECT_EQ(broker.stored(), 19u);
  EXPECT_GT(broker.requests(), 1);  // 19 events of 300 bytes do not fit one 4 KiB frame
}

// publish() from the caller's thread sends the event itself when the publisher's core is
// free, and posts it to the network thread otherwise (docs/client.md, "Threads"). Neither
// may let an event overtake an earlier one of the same thread, nor lose or repeat one:
// here several threads publish at once, with and without linger, and every 50th callback
// (on the network thread) publishes one more event.
void expect_each_threads_order_kept(std::chrono::microseconds linger, int dropped_connections = 0) {
  FakeBroker broker;
  broker.drop_after_storing(dropped_connections);
  PublisherOptions p = fast_retries();
  p.linger = linger;
  p.max_pending_events = 1u << 20;
  auto publisher = Publisher::connect(options_for(broker), p);
  ASSERT_TRUE(publisher.ok()) << publisher.status().to_string();
  Publisher& pub = **publisher;
  constexpr int kThreads = 4;
  constexpr int kEach = 3000;
  std::atomic<int> acked{0};
  std::atomic<int> failed{0};
  std::atomic<int> from_callbacks{0};
  std::function<void(const Result<PublishAck>&)> on_ack;
  on_ack = [&](const Result<PublishAck>& r) {
    if (!r.ok()) {
      ++failed;
      return;
    }
    if (++acked % 50 == 0) {
      // On the network thread: this publish is posted, after any earlier one from here.
      pub.publish("t", event_with("C-" + std::to_string(from_callbacks++)), on_ack);
    }
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) pub.publish("t", event_with(std::to_string(t) + "-" + std::to_string(i)), on_ack);
    });
  }
  for (auto& th : threads) th.join();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < deadline &&
         acked.load() + failed.load() < kThreads * kEach + from_callbacks.load()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_TRUE(pub.flush(std::chrono::seconds(30)).ok());
  EXPECT_EQ(failed.load(), 0);
  const int total = kThreads * kEach + from_callbacks.load();
  EXPECT_EQ(acked.load(), total);
  const std::vector<std::string> stored = broker.payloads();
  ASSERT_EQ(stored.size(), static_cast<std::size_t>(total));  // each exactly once
  std::map<std::string, int> next;  // per origin ("0".."3", "C"), the next index expected
  for (const std::string& payload : stored) {
    const auto dash = payload.find('-');
    ASSERT_NE(dash, std::string::npos) << payload;
    const std::string origin = payload.substr(0, dash);
    const int index = std::stoi(payload.substr(dash + 1));
    ASSERT_EQ(index, next[origin]) << "event " << payload << " stored out of its thread's order";
    next[origin] = index + 1;
  }
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(next[std::to_string(t)], kEach);
  EXPECT_GT(from_callbacks.load(), 0);
  EXPECT_EQ(broker.bad_frames(), 0);
  if (dropped_connections == 0) {
    EXPECT_EQ(broker.connections(), 1);
    EXPECT_EQ(broker.duplicates(), 0);  // no frame was sent twice
  } else {
    EXPECT_EQ(broker.connections(), dropped_connections + 1);
  }
  EXPECT_TRUE(pub.close().ok());
}

TEST(PublisherWithFakeBroker, EventsPublishedFromManyThreadsAtOnceKeepEachThreadsOrder) {
  expect_each_threads_order_kept(std::chrono::microseconds(0));
}

TEST(PublisherWithFakeBroker, EventsPublishedFromManyThreadsWithLingerKeepEachThreadsOrder) {
  expect_each_threads_order_kept(std::chrono::microseconds(200));
}

// The same through three connections dropped after storing a request: what was in flight
// or half written is resent after the reconnect, once, in order.
TEST(PublisherWithFakeBroker, EventsPublishedFromManyThreadsThroughDroppedConnectionsKeepOrderAndCountOnce) {
  expect_each_threads_order_kept(std::chrono::microseconds(0), 3);
}

// Callbacks run on the network thread, also for an event that fails inside a publish()
// that did the Publisher's work on the caller's thread (docs/client.md, "Threads").
TEST(PublisherWithFakeBroker, CallbacksOfEventsFailedOnTheCallersThreadStillRunOnTheNetworkThread) {
  FakeBroker broker;
  broker.announce_max_frame_bytes(4096);
  PublisherOptions p = fast_retries();
  p.linger = std::chrono::microseconds(0);
  auto publisher = Publisher::connect(options_for(broker), p);
  ASSERT_TRUE(publisher.ok()) << publisher.status().to_string();
  std::mutex mu;
  std::map<std::string, std::thread::id> ran_on;
  std::map<std::string, Code> outcome;
  const auto record = [&](std::string name) {
    return [&, name](const Result<PublishAck>& r) {
      std::lock_guard lock(mu);
      ran_on[name] = std::this_thread::get_id();
      outcome[name] = r.ok() ? Code::kOk : r.error().code();
    };
  };
  for (int round = 0; round < 20; ++round) {
    const std::string n = std::to_string(round);
    (*publisher)->publish("t", event_with("fits"), record("ok" + n));
    (*publisher)->publish("", event_with("no topic"), record("no-topic" + n));
    (*publisher)->publish("t", event_with(std::string(10000, 'x')), record("too-large" + n));
  }
  ASSERT_TRUE((*publisher)->flush(std::chrono::seconds(10)).ok());
  std::lock_guard lock(mu);
  ASSERT_EQ(ran_on.size(), 60u);
  const std::thread::id network = ran_on["ok0"];
  EXPECT_NE(network, std::this_thread::get_id());
  for (const auto& [name, id] : ran_on) EXPECT_EQ(id, network) << name << " ran on another thread";
  EXPECT_EQ(outcome["ok7"], Code::kOk);
  EXPECT_EQ(outcome["no-topic7"], Code::kInvalidArgument);
  EXPECT_EQ(outcome["too-large7"], Code::kResourceExhausted);
}

// Frames larger than the socket takes at once, to a broker that reads slowly: send()
// writes what the socket takes, the writer the rest, and no frame's bytes are repeated,
// lost or interleaved with another's (the broker would refuse the frame and drop the
// connection).
TEST(PublisherWithFakeBroker, FramesTheSocketTakesInPartsArriveWhole) {
  FakeBroker broker;
  broker.read_slowly(std::chrono::milliseconds(20));
  PublisherOptions p = fast_retries();
  p.linger = std::chrono::microseconds(0);
  auto publisher = Publisher::connect(options_for(broker), p);
  ASSERT_TRUE(publisher.ok()) << publisher.status().to_string();
  constexpr int kThreads = 2;
  constexpr int kEach = 6;
  std::vector<std::vector<std::future<Result<PublishAck>>>> futures(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        // 1.5 MiB of a pattern that names the event, so a misplaced byte shows.
        std::string payload = std::to_string(t) + "-" + std::to_string(i) + ":";
        payload.resize(3u << 19, static_cast<char>('a' + t * kEach + i));
        futures[static_cast<std::size_t>(t)].push_back(pub_publish(**publisher, std::move(payload)));
      }
    });
  }
  for (auto& th : threads) th.join();
  for (auto& per_thread : futures) {
    for (auto& f : per_thread) {
      auto ack = f.get();
      EXPECT_TRUE(ack.ok()) << ack.status().to_string();
    }
  }
  EXPECT_EQ(broker.bad_frames(), 0);
  EXPECT_EQ(broker.connections(), 1);
  EXPECT_EQ(broker.requests(), kThreads * kEach);  // one frame each, none sent twice
  EXPECT_EQ(broker.duplicates(), 0);
  const std::vector<std::string> stored = broker.payloads();
  ASSERT_EQ(stored.size(), static_cast<std::size_t>(kThreads * kEach));
  std::map<int, int> next;
  for (const std::string& payload : stored) {
    const int t = payload[0] - '0';
    const int i = std::stoi(payload.substr(2));
    EXPECT_EQ(i, next[t]++);
    const char fill = static_cast<char>('a' + t * kEach + i);
    EXPECT_EQ(payload.size(), 3u << 19);
    EXPECT_EQ(payload.find_first_not_of(fill, payload.find(':') + 1), std::string::npos) << payload.substr(0, 8);
  }
}

TEST(ClientConnect, AnHttpServerIsNamedAsNotABroker) {
  asio::io_context io;
  tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  const uint16_t port = acceptor.local_endpoint().port();
  // What cpp-httplib (the registry) answers to bytes that are not HTTP.
  std::thread server([&acceptor, &io] {
    tcp::socket socket(io);
    std::error_code ec;
    acceptor.accept(socket, ec);
    if (ec) return;
    std::array<uint8_t, 64> buf{};
    socket.read_some(asio::buffer(buf), ec);
    const std::string answer = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";
    asio::write(socket, asio::buffer(answer), ec);
  });
  ClientOptions options;
  options.broker = "127.0.0.1:" + std::to_string(port);
  auto admin = Admin::connect(options);
  server.join();
  ASSERT_FALSE(admin.ok());
  EXPECT_EQ(admin.error().code(), Code::kFailedPrecondition);
  EXPECT_THAT(std::string(admin.error().message()), ::testing::HasSubstr("answered in HTTP, so it is not a Causeway broker"));
  EXPECT_THAT(std::string(admin.error().message()), ::testing::Not(::testing::HasSubstr("frame length")));
}

TEST(ClientConnect, RefusedConnectionIsUnavailableNamingTheAddress) {
  uint16_t port = 0;
  {
    asio::io_context io;
    tcp::acceptor a(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    port = a.local_endpoint().port();
  }  // closed: nothing listens there now
  ClientOptions options;
  options.broker = "127.0.0.1:" + std::to_string(port);
  auto admin = Admin::connect(options);
  ASSERT_FALSE(admin.ok());
  EXPECT_EQ(admin.error().code(), Code::kUnavailable);
  EXPECT_THAT(std::string(admin.error().message()), ::testing::HasSubstr("cannot connect to " + options.broker));
  auto publisher = Publisher::connect(options);
  ASSERT_FALSE(publisher.ok());
  EXPECT_EQ(publisher.error().code(), Code::kUnavailable);
}

TEST(ClientConnect, MalformedAddressIsInvalidArgument) {
  ClientOptions options;
  options.broker = "localhost";
  auto admin = Admin::connect(options);
  ASSERT_FALSE(admin.ok());
  EXPECT_EQ(admin.error().code(), Code::kInvalidArgument);
}

}  // namespace
}  // namespace causeway::client
