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
      std::array<uint8_t, 4> prefix{};
      std::error_code ec;
      asio::read(socket, asio::buffer(prefix), ec);
      if (ec) return;
      auto length = internal::decode_frame_length(prefix, internal::kDefaultMaxFrameBytes);
      if (!length) return;
      std::vector<uint8_t> bytes(*length);
      asio::read(socket, asio::buffer(bytes), ec);
      if (ec) return;
      auto frame = internal::verify_frame(std::move(bytes), internal::kDefaultMaxFrameBytes);
      if (!frame) return;
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
          acks.emplace_back(0, pr::ErrorCode::Ok, true, it->second.offset, it->second.lamport);
          continue;
        }
      }
      clock_ = std::max(clock_, request.lamport()) + 1;
      const Stored s{log_.size(), clock_};
      log_.push_back(key);
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
  std::mutex mu_;
  uint64_t clock_ = 1000;  // starts high so that the client must adopt it
  std::vector<std::string> log_;
  std::map<std::string, Stored> dedup_;
};

Event event_with(std::string payload) {
  Event e;
  e.payload = std::move(payload);
  return e;
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
