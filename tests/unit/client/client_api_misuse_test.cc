// Misuse of the client API that is refused before any network I/O (docs/client.md): only
// the factories build clients, contradictory SubscriberOptions are refused rather than
// rewritten, and pending limits of zero are refused.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <type_traits>

#include "causeway/client/admin.h"
#include "causeway/client/publisher.h"
#include "causeway/client/subscriber.h"

namespace causeway::client {
namespace {

using ::testing::HasSubstr;

// Publisher(nullptr) and friends compiled while the constructors taking Impl were public.
static_assert(!std::is_constructible_v<Publisher, std::nullptr_t>);
static_assert(!std::is_constructible_v<Subscriber, std::nullptr_t>);
static_assert(!std::is_constructible_v<Admin, std::nullptr_t>);
static_assert(!std::is_default_constructible_v<Publisher>);
static_assert(!std::is_copy_constructible_v<Publisher> && !std::is_copy_constructible_v<Subscriber>);

ClientOptions nowhere() {
  ClientOptions o;
  o.broker = "127.0.0.1:1";  // nothing listens on port 1; validation comes before connecting
  o.connect_timeout = std::chrono::milliseconds(500);
  return o;
}

SubscriberOptions orders_billing() {
  SubscriberOptions so;
  so.subscription = "billing";
  so.topic = "orders";
  return so;
}

TEST(SubscriberOptions, SettingsNameContradictingTheSubscriptionIsRefused) {
  SubscriberOptions so = orders_billing();
  so.settings.name = "shipping";
  auto sub = Subscriber::connect(nowhere(), so);
  ASSERT_FALSE(sub.ok());
  EXPECT_EQ(sub.error().code(), Code::kInvalidArgument);
  EXPECT_THAT(std::string(sub.error().message()), HasSubstr("settings.name 'shipping' contradicts"));
  EXPECT_THAT(std::string(sub.error().message()), HasSubstr("subscription 'billing'"));
}

TEST(SubscriberOptions, SettingsTopicContradictingTheTopicIsRefused) {
  SubscriberOptions so = orders_billing();
  so.settings.topic = "payments";
  auto sub = Subscriber::start(nowhere(), so, [](const DeliveredEvent&) { return Status(); });
  ASSERT_FALSE(sub.ok());
  EXPECT_EQ(sub.error().code(), Code::kInvalidArgument);
  EXPECT_THAT(std::string(sub.error().message()), HasSubstr("settings.topic 'payments' contradicts"));
}

TEST(SubscriberOptions, SettingsRepeatingTheNamesAreAccepted) {
  SubscriberOptions so = orders_billing();
  so.settings.name = "billing";
  so.settings.topic = "orders";
  auto sub = Subscriber::connect(nowhere(), so);
  ASSERT_FALSE(sub.ok());  // no broker, but the options passed
  EXPECT_NE(sub.error().code(), Code::kInvalidArgument) << sub.error().to_string();
}

TEST(PublisherOptions, ZeroPendingLimitsAreRefused) {
  PublisherOptions po;
  po.max_pending_events = 0;
  auto p = Publisher::connect(nowhere(), po);
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.error().code(), Code::kInvalidArgument);
  EXPECT_THAT(std::string(p.error().message()), HasSubstr("max_pending_events (0)"));
  po = PublisherOptions{};
  po.max_pending_bytes = 0;
  p = Publisher::connect(nowhere(), po);
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.error().code(), Code::kInvalidArgument);
}

TEST(ConnectionState, HasStableNames) {
  EXPECT_STREQ(connection_state_name(ConnectionState::kDisconnected), "disconnected");
  EXPECT_STREQ(connection_state_name(ConnectionState::kReconnecting), "reconnecting");
  EXPECT_STREQ(connection_state_name(ConnectionState::kReconnected), "reconnected");
  EXPECT_STREQ(connection_state_name(ConnectionState::kClosed), "closed");
}

}  // namespace
}  // namespace causeway::client
