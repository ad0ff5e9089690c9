// Publisher and Admin against the real causeway-broker (docs/wire-protocol.md): topics,
// pipelined publishes, dedup on re-publish, Lamport order, fetch of what was stored, and
// topics bound to a schema subject of the broker's embedded registry.
// The broker runs on a port chosen at run time with a fresh data directory.
#include <flatbuffers/idl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <functional>
#include <thread>

#include "causeway/client/admin.h"
#include "causeway/client/publisher.h"
#include "causeway/client/registry_client.h"
#include "tests/integration/daemon_process.h"
#include "tests/support/temp_dir.h"

namespace causeway::client {
namespace {

class PublishTest : public ::testing::Test {
 protected:
  void SetUp() override {
    data_dir_ = dir_.path();
    broker_ = std::make_unique<testing::DaemonProcess>(
        CAUSEWAY_BROKER_BINARY, std::vector<std::string>{"--listen", "127.0.0.1:0", "--registry-listen", "127.0.0.1:0", "--data-dir", data_dir_});
    ASSERT_TRUE(broker_->wait_for_output("listening on ", std::chrono::seconds(20))) << broker_->output();
    // std::regex is avoided: GCC 12 reports bogus -Wmaybe-uninitialized inside it at -O2.
    const std::string out = broker_->output();
    const std::string marker = "listening on ";
    const auto at = out.find(marker);
    ASSERT_NE(at, std::string::npos) << out;
    const auto end = out.find_first_not_of("0123456789.:", at + marker.size());
    options_.broker = out.substr(at + marker.size(), end - at - marker.size());
    options_.client_name = "publish_test";
    const std::string reg = "registry listening on ";
    ASSERT_TRUE(broker_->wait_for_output(reg, std::chrono::seconds(20))) << broker_->output();
    const std::string all = broker_->output();
    const auto r = all.find(reg);
    registry_url_ = all.substr(r + reg.size(), all.find('\n', r) - r - reg.size());
  }
  void TearDown() override { broker_.reset(); }  // before dir_ is removed

  testing::TempDir dir_;
  std::string data_dir_;
  std::unique_ptr<testing::DaemonProcess> broker_;
  ClientOptions options_;
  std::string registry_url_;
};

// PublisherOptions::registry for `url` (RegistryClient, from causeway::registry_client).
std::shared_ptr<SchemaIdSource> registry_for(const std::string& url) {
  auto created = RegistryClient::create({.url = url});
  EXPECT_TRUE(created.ok()) << created.error().to_string();
  if (!created.ok()) return nullptr;
  return std::shared_ptr<RegistryClient>(std::move(*created));
}

constexpr const char* kOrderSchema = "table Order { id: long; amount: int; note: string; }\nroot_type Order;";

// A payload built with the flatbuffers parser from JSON, as a producer with generated code would.
std::string order_payload(const std::string& json) {
  flatbuffers::Parser parser;
  EXPECT_TRUE(parser.Parse(kOrderSchema)) << parser.error_;
  EXPECT_TRUE(parser.Parse(json.c_str())) << parser.error_;
  return std::string(reinterpret_cast<const char*>(parser.builder_.GetBufferPointer()), parser.builder_.GetSize());
}

TEST_F(PublishTest, SchemaBoundTopicStoresOnlyEventsOfItsSubjectWithValidPayloads) {
  auto registry = RegistryClient::create({.url = registry_url_});
  ASSERT_TRUE(registry.ok());
  auto order = (*registry)->register_schema("orders-value", kOrderSchema, "Order");
  ASSERT_TRUE(order.ok()) << order.error().to_string();
  auto other = (*registry)->register_schema("users-value", "table User { name: string; }\nroot_type User;", "User");
  ASSERT_TRUE(other.ok()) << other.error().to_string();

  auto admin = Admin::connect(options_);
  ASSERT_TRUE(admin.ok());
  TopicSpec spec;
  spec.name = "orders";
  spec.schema_subject = "orders-value";
  spec.validate_payloads = true;
  auto created = (*admin)->create_topic(spec);
  ASSERT_TRUE(created.ok()) << created.error().to_string();
  EXPECT_EQ(created->spec.schema_subject, "orders-value");
  EXPECT_TRUE(created->spec.validate_payloads);

  auto publisher = Publisher::connect(options_);
  ASSERT_TRUE(publisher.ok());
  auto publish = [&](uint32_t schema_id, std::string payload) {
    Event e;
    e.schema_id = schema_id;
    e.payload = std::move(payload);
    return (*publisher)->publish("orders", std::move(e));
  };
  const auto valid = order_payload(R"({id: 7, amount: 250, note: "first"})");
  auto no_id = publish(0, valid);
  auto wrong_subject = publish(static_cast<uint32_t>(other->id), valid);
  auto unknown_id = publish(9999, valid);
  auto garbage = publish(static_cast<uint32_t>(order->id), std::string(64, '\x7f'));
  auto good = publish(static_cast<uint32_t>(order->id), valid);

  for (auto* refused : {&no_id, &wrong_subject, &unknown_id}) {
    auto ack = refused->get();
    ASSERT_FALSE(ack.ok());
    EXPECT_THAT(ack.error().message(), ::testing::HasSubstr("schema mismatch")) << ack.error().to_string();
    EXPECT_EQ(ack.error().reason(), Reason::kSchemaMismatch) << ack.error().to_string();
  }
  auto bad_payload = garbage.get();
  ASSERT_FALSE(bad_payload.ok());
  EXPECT_THAT(bad_payload.error().message(), ::testing::HasSubstr("invalid payload"));
  // Told apart without reading the text.
  EXPECT_EQ(bad_payload.error().reason(), Reason::kInvalidPayload) << bad_payload.error().to_string();
  EXPECT_EQ(bad_payload.error().code(), Code::kInvalidArgument);
  auto stored = good.get();
  ASSERT_TRUE(stored.ok()) << stored.error().to_string();
  EXPECT_EQ(stored->offset, 0u);

  // Only the valid event was stored, byte for byte.
  auto fetched = (*admin)->fetch("orders", 0, 0, 100);
  ASSERT_TRUE(fetched.ok());
  ASSERT_EQ(fetched->events.size(), 1u);
  EXPECT_EQ(fetched->events[0].payload, valid);
  EXPECT_EQ(fetched->events[0].schema_id, static_cast<uint32_t>(order->id));

  // Binding to a subject without --validate full checks only the schema id.
  TopicSpec ids_only;
  ids_only.name = "orders-ids";
  ids_only.schema_subject = "orders-value";
  ASSERT_TRUE((*admin)->create_topic(ids_only).ok());
  Event e;
  e.schema_id = static_cast<uint32_t>(order->id);
  e.payload = "not a flatbuffer, but the id is right";
  auto id_ok = (*publisher)->publish("orders-ids", std::move(e)).get();
  EXPECT_TRUE(id_ok.ok()) << id_ok.error().to_string();

  // validate=full without a subject is refused at creation.
  TopicSpec invalid;
  invalid.name = "unbound";
  invalid.validate_payloads = true;
  auto refused = (*admin)->create_topic(invalid);
  ASSERT_FALSE(refused.ok());
  EXPECT_THAT(refused.error().message(), ::testing::HasSubstr("schema subject"));
}

// Publisher with a schema subject: the id of the subject's latest (or pinned) version goes
// on every event that carries none; the broker's validate=full check accepts them.
TEST_F(PublishTest, PublisherWithSchemaSubjectStampsTheLatestOrPinnedVersionsId) {
  auto registry = RegistryClient::create({.url = registry_url_});
  ASSERT_TRUE(registry.ok());
  auto v1 = (*registry)->register_schema("orders-value", kOrderSchema, "Order");
  ASSERT_TRUE(v1.ok()) << v1.error().to_string();
  auto v2 = (*registry)->register_schema(
      "orders-value", "table Order { id: long; amount: int; note: string; channel: string; }\nroot_type Order;", "Order");
  ASSERT_TRUE(v2.ok()) << v2.error().to_string();
  ASSERT_NE(v1->id, v2->id);

  auto admin = Admin::connect(options_);
  ASSERT_TRUE(admin.ok());
  TopicSpec spec;
  spec.name = "orders";
  spec.schema_subject = "orders-value";
  spec.validate_payloads = true;
  ASSERT_TRUE((*admin)->create_topic(spec).ok());

  PublisherOptions latest;
  latest.schema_subject = "orders-value";
  latest.registry = registry_for(registry_url_);
  auto by_latest = Publisher::connect(options_, latest);
  ASSERT_TRUE(by_latest.ok()) << by_latest.error().to_string();
  EXPECT_EQ((*by_latest)->schema_id(), static_cast<uint32_t>(v2->id));

  PublisherOptions pinned;
  pinned.schema_subject = "orders-value";
  pinned.schema_version = 1;
  pinned.registry = std::shared_ptr<RegistryClient>(std::move(*registry));  // shared, not created
  auto by_pin = Publisher::connect(options_, pinned);
  ASSERT_TRUE(by_pin.ok()) << by_pin.error().to_string();
  EXPECT_EQ((*by_pin)->schema_id(), static_cast<uint32_t>(v1->id));

  const auto payload = order_payload(R"({id: 1, amount: 5})");
  Event no_id;
  no_id.payload = payload;
  Event explicit_id = no_id;
  explicit_id.schema_id = static_cast<uint32_t>(v1->id);
  auto a = (*by_latest)->publish("orders", no_id).get();
  ASSERT_TRUE(a.ok()) << a.error().to_string();
  auto b = (*by_latest)->publish("orders", explicit_id).get();
  ASSERT_TRUE(b.ok()) << b.error().to_string();
  auto c = (*by_pin)->publish("orders", no_id).get();
  ASSERT_TRUE(c.ok()) << c.error().to_string();

  auto fetched = (*admin)->fetch("orders", 0, 0, 100);
  ASSERT_TRUE(fetched.ok());
  ASSERT_EQ(fetched->events.size(), 3u);
  EXPECT_EQ(fetched->events[0].schema_id, static_cast<uint32_t>(v2->id));  // filled from the latest
  EXPECT_EQ(fetched->events[1].schema_id, static_cast<uint32_t>(v1->id));  // its own id kept
  EXPECT_EQ(fetched->events[2].schema_id, static_cast<uint32_t>(v1->id));  // filled from the pin
}

// Polls `cond` every 50 ms until it holds or `limit` passes.
bool eventually(const std::function<bool()>& cond, std::chrono::seconds limit = std::chrono::seconds(20)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!cond()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return true;
}

// A version registered after connect() is picked up on the refresh interval: the id on
// events published without one moves to it.
TEST_F(PublishTest, PublisherPicksUpAVersionRegisteredAfterConnectOnItsRefreshInterval) {
  auto registry = RegistryClient::create({.url = registry_url_});
  ASSERT_TRUE(registry.ok());
  auto v1 = (*registry)->register_schema("orders-value", kOrderSchema, "Order");
  ASSERT_TRUE(v1.ok()) << v1.error().to_string();
  auto admin = Admin::connect(options_);
  ASSERT_TRUE(admin.ok());
  TopicSpec spec;
  spec.name = "orders";
  spec.schema_subject = "orders-value";
  spec.validate_payloads = true;
  ASSERT_TRUE((*admin)->create_topic(spec).ok());

  PublisherOptions po;
  po.schema_subject = "orders-value";
  po.registry = registry_for(registry_url_);
  po.schema_refresh_interval = std::chrono::milliseconds(200);
  auto publisher = Publisher::connect(options_, po);
  ASSERT_TRUE(publisher.ok()) << publisher.error().to_string();
  EXPECT_EQ((*publisher)->schema_id(), static_cast<uint32_t>(v1->id));

  auto v2 = (*registry)->register_schema(
      "orders-value", "table Order { id: long; amount: int; note: string; channel: string; }\nroot_type Order;", "Order");
  ASSERT_TRUE(v2.ok()) << v2.error().to_string();
  ASSERT_TRUE(eventually([&] { return (*publisher)->schema_id() == static_cast<uint32_t>(v2->id); }))
      << "still " << (*publisher)->schema_id() << "; last refresh: " << (*publisher)->schema_refresh_status().to_string();
  EXPECT_TRUE((*publisher)->schema_refresh_status().ok());
  Event e;
  e.payload = order_payload(R"({id: 1, amount: 5})");
  auto stored = (*publisher)->publish("orders", e).get();
  ASSERT_TRUE(stored.ok()) << stored.error().to_string();
  auto fetched = (*admin)->fetch("orders", 0, 0, 10);
  ASSERT_TRUE(fetched.ok());
  ASSERT_EQ(fetched->events.size(), 1u);
  EXPECT_EQ(fetched->events[0].schema_id, static_cast<uint32_t>(v2->id));
}

// With no refresh interval, the id is looked up again when the broker refuses an event
// stamped with it as SchemaMismatch: here its version was deleted, and the latest is again
// the one before it.
TEST_F(PublishTest, PublisherLooksItsSchemaIdUpAgainWhenTheBrokerAnswersSchemaMismatch) {
  auto registry = RegistryClient::create({.url = registry_url_});
  ASSERT_TRUE(registry.ok());
  auto v1 = (*registry)->register_schema("orders-value", kOrderSchema, "Order");
  ASSERT_TRUE(v1.ok()) << v1.error().to_string();
  auto v2 = (*registry)->register_schema(
      "orders-value", "table Order { id: long; amount: int; note: string; channel: string; }\nroot_type Order;", "Order");
  ASSERT_TRUE(v2.ok()) << v2.error().to_string();
  auto admin = Admin::connect(options_);
  ASSERT_TRUE(admin.ok());
  TopicSpec spec;
  spec.name = "orders";
  spec.schema_subject = "orders-value";
  ASSERT_TRUE((*admin)->create_topic(spec).ok());

  PublisherOptions po;
  po.schema_subject = "orders-value";
  po.registry = registry_for(registry_url_);
  po.schema_refresh_interval = std::chrono::milliseconds(0);  // only on SchemaMismatch
  auto publisher = Publisher::connect(options_, po);
  ASSERT_TRUE(publisher.ok()) << publisher.error().to_string();
  ASSERT_EQ((*publisher)->schema_id(), static_cast<uint32_t>(v2->id));

  ASSERT_TRUE((*registry)->delete_version("orders-value", v2->version).ok());

  // The broker caches which subjects an id belongs to for 5 s: until then the deleted
  // version's id is still accepted. With no refresh interval the publisher looks nothing
  // up while its publishes succeed: its id moves only after a SchemaMismatch.
  Result<PublishAck> last = PublishAck{};
  ASSERT_TRUE(eventually([&] {
    Event e;
    e.payload = order_payload(R"({id: 2, amount: 6})");
    last = (*publisher)->publish("orders", e).get();
    if (last.ok()) {
      EXPECT_EQ((*publisher)->schema_id(), static_cast<uint32_t>(v2->id)) << "looked up with no interval set";
    }
    return !last.ok();
  })) << "the broker kept accepting the deleted version's id";
  EXPECT_THAT(last.error().message(), ::testing::HasSubstr("schema mismatch"));
  ASSERT_TRUE(eventually([&] { return (*publisher)->schema_id() == static_cast<uint32_t>(v1->id); }))
      << "still " << (*publisher)->schema_id() << "; last refresh: " << (*publisher)->schema_refresh_status().to_string();
  Event e;
  e.payload = order_payload(R"({id: 3, amount: 7})");
  auto stored = (*publisher)->publish("orders", e).get();
  ASSERT_TRUE(stored.ok()) << stored.error().to_string();
}

TEST_F(PublishTest, PublisherWithUnknownSubjectOrUnreachableRegistryFailsToConnectSayingWhich) {
  PublisherOptions missing;
  missing.schema_subject = "no-such-subject";
  missing.registry = registry_for(registry_url_);
  auto a = Publisher::connect(options_, missing);
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.error().code(), Code::kNotFound);
  EXPECT_THAT(a.error().message(), ::testing::HasSubstr("schema subject 'no-such-subject' version latest"));
  EXPECT_EQ(registry_error_code(a.error()), 40401);

  auto registry = RegistryClient::create({.url = registry_url_});
  ASSERT_TRUE(registry.ok());
  ASSERT_TRUE((*registry)->register_schema("orders-value", kOrderSchema, "Order").ok());
  PublisherOptions no_version = missing;
  no_version.schema_subject = "orders-value";
  no_version.schema_version = 7;
  auto b = Publisher::connect(options_, no_version);
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.error().code(), Code::kNotFound);
  EXPECT_EQ(registry_error_code(b.error()), 40402);

  PublisherOptions unreachable = missing;
  unreachable.schema_subject = "orders-value";
  unreachable.registry = registry_for("http://127.0.0.1:1");
  auto c = Publisher::connect(options_, unreachable);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().code(), Code::kUnavailable);
  EXPECT_THAT(c.error().message(), ::testing::HasSubstr("http://127.0.0.1:1"));
  EXPECT_THAT(c.error().message(), ::testing::HasSubstr("orders-value"));

  // causeway::client speaks no HTTP: a subject without a registry to ask is refused.
  PublisherOptions no_registry = missing;
  no_registry.registry = nullptr;
  auto e = Publisher::connect(options_, no_registry);
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.error().code(), Code::kInvalidArgument);
  EXPECT_THAT(e.error().message(), ::testing::HasSubstr("needs PublisherOptions::registry"));

  PublisherOptions bad_version = no_version;
  bad_version.schema_version = 0;
  auto d = Publisher::connect(options_, bad_version);
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.error().code(), Code::kInvalidArgument);
}

TEST_F(PublishTest, PublishedEventsAreFetchedBackInOrderWithIncreasingLamport) {
  auto admin = Admin::connect(options_);
  ASSERT_TRUE(admin.ok()) << admin.status().to_string();
  TopicSpec spec;
  spec.name = "orders";
  spec.partitions = 1;
  ASSERT_TRUE((*admin)->create_topic(spec).ok());

  auto publisher = Publisher::connect(options_);
  ASSERT_TRUE(publisher.ok()) << publisher.status().to_string();
  std::vector<std::future<Result<PublishAck>>> futures;
  for (int i = 0; i < 500; ++i) {
    Event e;
    e.dedup_key = "k" + std::to_string(i);
    e.payload = "p" + std::to_string(i);
    e.headers.push_back(Header{"n", std::to_string(i)});
    futures.push_back((*publisher)->publish("orders", std::move(e)));
  }
  uint64_t last_lamport = 0;
  for (int i = 0; i < 500; ++i) {
    auto ack = futures[static_cast<std::size_t>(i)].get();
    ASSERT_TRUE(ack.ok()) << ack.status().to_string();
    EXPECT_EQ(ack->offset, static_cast<uint64_t>(i));
    EXPECT_GT(ack->lamport, last_lamport);
    EXPECT_FALSE(ack->duplicate);
    last_lamport = ack->lamport;
  }
  EXPECT_GE((*publisher)->lamport(), last_lamport);

  auto fetched = (*admin)->fetch("orders", 0, 0, 1000);
  ASSERT_TRUE(fetched.ok()) << fetched.status().to_string();
  ASSERT_EQ(fetched->events.size(), 500u);
  EXPECT_EQ(fetched->high_watermark, 500u);
  for (std::size_t i = 0; i < 500; ++i) {
    EXPECT_EQ(fetched->events[i].offset, i);
    EXPECT_EQ(fetched->events[i].payload, "p" + std::to_string(i));
    EXPECT_EQ(fetched->events[i].dedup_key, "k" + std::to_string(i));
  }
  auto described = (*admin)->describe_topic("orders");
  ASSERT_TRUE(described.ok());
  ASSERT_EQ(described->partitions.size(), 1u);
  EXPECT_EQ(described->partitions[0].high_watermark, 500u);
}

TEST_F(PublishTest, RepublishingTheSameDedupKeysReturnsTheOriginalAcks) {
  auto admin = Admin::connect(options_);
  ASSERT_TRUE(admin.ok());
  TopicSpec spec;
  spec.name = "dedup";
  spec.partitions = 2;
  ASSERT_TRUE((*admin)->create_topic(spec).ok());
  auto publisher = Publisher::connect(options_);
  ASSERT_TRUE(publisher.ok());
  std::vector<PublishAck> first;
  for (int round = 0; round < 2; ++round) {
    std::vector<std::future<Result<PublishAck>>> futures;
    for (int i = 0; i < 50; ++i) {
      Event e;
      e.dedup_key = "same-" + std::to_string(i);
      e.key = "key-" + std::to_string(i % 5);
      e.payload = "x";
      futures.push_back((*publisher)->publish("dedup", std::move(e)));
    }
    for (int i = 0; i < 50; ++i) {
      auto ack = futures[static_cast<std::size_t>(i)].get();
      ASSERT_TRUE(ack.ok()) << ack.status().to_string();
      if (round == 0) {
        EXPECT_FALSE(ack->duplicate);
        first.push_back(*ack);
      } else {
        EXPECT_TRUE(ack->duplicate);
        EXPECT_EQ(ack->partition, first[static_cast<std::size_t>(i)].partition);
        EXPECT_EQ(ack->offset, first[static_cast<std::size_t>(i)].offset);
        EXPECT_EQ(ack->lamport, first[static_cast<std::size_t>(i)].lamport);
      }
    }
  }
  auto described = (*admin)->describe_topic("dedup");
  ASSERT_TRUE(described.ok());
  uint64_t stored = 0;
  for (const auto& p : described->partitions) stored += p.high_watermark;
  EXPECT_EQ(stored, 50u);
}

TEST_F(PublishTest, UnknownTopicFailsTheEventWithNotFound) {
  auto publisher = Publisher::connect(options_);
  ASSERT_TRUE(publisher.ok());
  Event e;
  e.payload = "x";
  auto ack = (*publisher)->publish("missing", std::move(e)).get();
  ASSERT_FALSE(ack.ok());
  EXPECT_EQ(ack.error().code(), Code::kNotFound);
  EXPECT_EQ(ack.error().reason(), Reason::kTopicNotFound) << ack.error().to_string();
}

TEST_F(PublishTest, ABadTopicNameIsTypedAsSuchNotAsAnotherInvalidArgument) {
  auto admin = Admin::connect(options_);
  ASSERT_TRUE(admin.ok());
  TopicSpec bad;
  bad.name = "no spaces allowed";
  auto created = (*admin)->create_topic(bad);
  ASSERT_FALSE(created.ok());
  EXPECT_EQ(created.error().code(), Code::kInvalidArgument);
  EXPECT_EQ(created.error().reason(), Reason::kInvalidTopicName) << created.error().to_string();

  TopicSpec too_many;
  too_many.name = "fine-name";
  too_many.partitions = 100000;
  auto refused = (*admin)->create_topic(too_many);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code(), Code::kInvalidArgument);
  EXPECT_EQ(refused.error().reason(), Reason::kNone) << refused.error().to_string();
}

}  // namespace
}  // namespace causeway::client
