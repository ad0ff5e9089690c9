// Server (broker/src/server/server.h) in-process over a real EventStore: a failure inside
// the server (a coroutine or an accept that throws, injected through ServerOptions' test
// hooks) ends that one connection, logged, and the server keeps accepting and serving.
#include "server/server.h"

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <stdexcept>
#include <thread>

#include "core/event_store.h"
#include "core/publish_pipeline.h"
#include "server/storage_pool.h"
#include "subscribe/coordinator.h"
#include "tests/integration/raw_connection.h"
#include "tests/support/temp_dir.h"

namespace causeway::server {
namespace {

using causeway::testing::RawConnection;
using namespace std::chrono_literals;

class ServerTest : public ::testing::Test {
 protected:
  void start(ServerOptions options) {
    core::EventStoreOptions o;
    o.data_dir = dir_.path();
    o.logs.background = false;
    auto store = core::EventStore::open(storage::FileSystem::posix(), o, nullptr);
    ASSERT_TRUE(store.ok()) << store.error().to_string();
    store_ = std::move(*store);
    pool_ = std::make_unique<StoragePool>(2);
    publish_ = std::make_unique<core::PublishPipeline>(*store_);
    coordinator_ = std::make_unique<subscribe::Coordinator>(*store_, *publish_, pool_->executor(),
                                                            fit_to_frames({}, options));
    options.listen_host = "127.0.0.1";
    options.listen_port = 0;
    server_ = std::make_unique<Server>(Services{*store_, *publish_, *coordinator_, *pool_, nullptr}, options);
    const Status started = server_->start();
    ASSERT_TRUE(started.ok()) << started.to_string();
  }

  void TearDown() override {
    if (server_) server_->stop();
    server_.reset();
    coordinator_.reset();
    publish_.reset();
    pool_.reset();
    store_.reset();
  }

  static bool send_hello(RawConnection& c) {
    flatbuffers::FlatBufferBuilder b;
    return c.send(1, b, protocol::CreateHello(b, 1, b.CreateString("server-test")));
  }

  uint16_t port() const { return server_->port(); }

  causeway::testing::TempDir dir_;
  std::unique_ptr<core::EventStore> store_;
  std::unique_ptr<StoragePool> pool_;
  std::unique_ptr<core::PublishPipeline> publish_;
  std::unique_ptr<subscribe::Coordinator> coordinator_;
  std::unique_ptr<Server> server_;
};

// A request served while the coordinator was starting raced it: a group loaded then
// missed the appends made before the append notifier was set, and a replay started then
// was launched a second time by start()'s resume.
TEST(ServerStartTest, NoConnectionIsServedBeforeTheCoordinatorHasStarted) {
  causeway::testing::TempDir dir;
  core::EventStoreOptions o;
  o.data_dir = dir.path();
  o.logs.background = false;
  auto store = core::EventStore::open(storage::FileSystem::posix(), o, nullptr);
  ASSERT_TRUE(store.ok()) << store.error().to_string();
  for (const char* name : {"t", "fwd"}) {
    meta::TopicConfig t;
    t.name = name;
    t.partitions = 1;
    ASSERT_TRUE((*store)->create_topic(t).ok());
  }
  // A stored subscription with a target: the coordinator's start() loads its group.
  meta::SubscriptionConfig sub;
  sub.name = "s";
  sub.topic = "t";
  sub.target_topic = "fwd";
  ASSERT_TRUE((*store)->meta().create_subscription(sub, std::vector<meta::PartitionOffset>{{0, 0}}).ok());
  StoragePool pool(2);
  core::PublishPipeline publish(**store);
  std::unique_ptr<Server> server;
  std::atomic<bool> loaded{false};
  std::atomic<bool> starting{false};
  std::atomic<bool> accepted{false};
  std::atomic<bool> accepted_while_starting{false};
  ServerOptions options;
  options.listen_host = "127.0.0.1";
  options.listen_port = 0;
  options.on_accept_for_test = [&](uint64_t) {
    accepted_while_starting = accepted_while_starting || starting.load();
    accepted = true;
  };
  subscribe::CoordinatorOptions co_options = fit_to_frames({}, options);
  co_options.on_group_load_for_test = [&] {
    if (loaded.exchange(true)) return;
    // A client connects while the coordinator starts; give the server a while to take it.
    starting = true;
    RawConnection c(server->port());
    EXPECT_TRUE(c.connected());
    const auto deadline = std::chrono::steady_clock::now() + 1s;
    while (!accepted && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(5ms);
    starting = false;
  };
  subscribe::Coordinator coordinator(**store, publish, pool.executor(), co_options);
  server = std::make_unique<Server>(Services{**store, publish, coordinator, pool, nullptr}, options);
  const Status started = server->start();
  ASSERT_TRUE(started.ok()) << started.to_string();
  ASSERT_TRUE(loaded.load()) << "the coordinator's start() loaded no group";
  EXPECT_FALSE(accepted_while_starting.load());
  server->stop();
}

// Before every co_spawn had a completion handler, a writer that threw died silently: its
// connection stayed open and never answered again.
TEST_F(ServerTest, WriterThatThrowsClosesItsConnectionAndTheNextConnectionIsServed) {
  ServerOptions options;
  options.before_write_for_test = [](uint64_t connection_id) {
    if (connection_id == 1) throw std::runtime_error("injected writer failure");
  };
  start(options);

  RawConnection failing(port());
  ASSERT_TRUE(failing.connected());
  ASSERT_TRUE(send_hello(failing));
  EXPECT_TRUE(failing.closed_by_peer(10s)) << "the connection whose writer threw is still open";

  RawConnection next(port());
  ASSERT_TRUE(next.connected());
  EXPECT_TRUE(next.hello());
}

// Before, an exception while starting to serve an accepted connection ended the accept
// loop: that connection and every later one hung unanswered.
TEST_F(ServerTest, AcceptThatThrowsClosesThatConnectionAndAcceptingContinues) {
  ServerOptions options;
  options.on_accept_for_test = [](uint64_t connection_id) {
    if (connection_id == 1) throw std::runtime_error("injected accept failure");
  };
  start(options);

  RawConnection failing(port());
  ASSERT_TRUE(failing.connected());
  EXPECT_TRUE(failing.closed_by_peer(10s)) << "the connection whose accept threw is still open";

  for (int i = 0; i < 2; ++i) {
    RawConnection next(port());
    ASSERT_TRUE(next.connected());
    EXPECT_TRUE(next.hello()) << "connection " << i + 2 << " after the failed accept was not served";
  }
}

}  // namespace
}  // namespace causeway::server
