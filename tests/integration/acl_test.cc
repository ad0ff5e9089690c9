// Tokens and ACLs on the real broker through the real client and CLI (docs/security.md,
// "Tokens and ACLs"): the operation matrix for allowed, denied, anonymous and unknown
// principals; refusals that name principal, operation and topic and read the same whether
// the topic exists; lists that show only what a principal may see; a revoked token refused at
// the next request; a TLS client certificate's subject as the principal; tokens stored only
// hashed and kept across a restart; the first ACL refused without a superuser; refusals
// counted on /metrics; the CLI's auth and acl commands, careless input included.
#include <gtest/gtest.h>
#include <httplib.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "causeway/client/admin.h"
#include "causeway/client/publisher.h"
#include "causeway/client/subscriber.h"
#include "tests/integration/auth_broker.h"
#include "tests/integration/cli_run.h"
#include "tests/integration/daemon_process.h"
#include "tests/support/test_certs.h"

namespace causeway::client {
namespace {

using namespace std::chrono_literals;
using causeway::testing::run_cli;

class AclTest : public causeway::testing::AuthBrokerTest {
 protected:
  std::unique_ptr<Admin> admin(const std::string& token) {
    auto a = Admin::connect(as(token));
    EXPECT_TRUE(a.ok()) << a.status().to_string();
    return a.ok() ? std::move(*a) : nullptr;
  }
  // The usual setup: a superuser "root", topics orders.created and payments, alice may
  // publish to orders.* and subscribe to orders.created, bob may administer orders.*.
  void standard_setup() {
    start_broker();
    // No ACL yet: anyone may create tokens (the migration path).
    ASSERT_NO_FATAL_FAILURE(bootstrap_root(as("")));
    for (const char* t : {"orders.created", "payments"}) {
      TopicSpec spec;
      spec.name = t;
      ASSERT_TRUE(root_->create_topic(spec).ok());
    }
    alice_ = token_for("alice");
    bob_ = token_for("bob");
    allow("alice", AclOperation::kPublish, "orders.", true);
    allow("alice", AclOperation::kSubscribe, "orders.created");
    allow("bob", AclOperation::kAdmin, "orders.", true);
  }

  static bool denied(const Status& s) { return s.reason() == Reason::kPermissionDenied; }
  Status publish_one(const std::string& token, const std::string& topic) {
    auto p = Publisher::connect(as(token), PublisherOptions{});
    if (!p.ok()) return p.status();
    Event e;
    e.payload = "x";
    auto ack = (*p)->publish(topic, std::move(e)).get();
    return ack.status();
  }

  std::string alice_, bob_;
};

TEST_F(AclTest, EachOperationIsAllowedOnlyWhereAnAclSaysSo) {
  standard_setup();
  auto alice = admin(alice_);
  auto bob = admin(bob_);
  auto anonymous = admin("");
  ASSERT_TRUE(alice && bob && anonymous);

  // publish
  EXPECT_TRUE(publish_one(alice_, "orders.created").ok());
  EXPECT_TRUE(denied(publish_one(alice_, "payments")));
  EXPECT_TRUE(denied(publish_one(bob_, "orders.created"))) << "admin does not include publish";
  EXPECT_TRUE(denied(publish_one("", "orders.created")));
  EXPECT_TRUE(publish_one(root_token_, "payments").ok()) << "superusers pass every ACL";
  // fetch (subscribe)
  EXPECT_TRUE(alice->fetch("orders.created", 0, 0).ok());
  EXPECT_TRUE(denied(alice->fetch("payments", 0, 0).status()));
  EXPECT_TRUE(denied(bob->fetch("orders.created", 0, 0).status()));
  // describe: any operation on the topic
  EXPECT_TRUE(alice->describe_topic("orders.created").ok());
  EXPECT_TRUE(bob->describe_topic("orders.created").ok());
  EXPECT_TRUE(denied(anonymous->describe_topic("orders.created").status()));
  // create and delete (admin)
  TopicSpec spec;
  spec.name = "orders.shipped";
  EXPECT_TRUE(denied(alice->create_topic(spec).status()));
  EXPECT_TRUE(bob->create_topic(spec).ok());
  spec.name = "inventory";
  EXPECT_TRUE(denied(bob->create_topic(spec).status()));
  EXPECT_TRUE(denied(alice->delete_topic("orders.shipped")));
  EXPECT_TRUE(bob->delete_topic("orders.shipped").ok());
  // subscribing: the subscription's topic needs subscribe
  SubscriberOptions so;
  so.subscription = "alice-orders";
  so.topic = "orders.created";
  so.settings.start = StartPosition::earliest();
  auto sub = Subscriber::connect(as(alice_), so);
  ASSERT_TRUE(sub.ok()) << sub.status().to_string();
  auto got = (*sub)->receive(1, 10s);
  ASSERT_TRUE(got.ok() && got->size() == 1) << got.status().to_string();
  EXPECT_TRUE((*sub)->ack(got->front()).ok());
  so.subscription = "alice-payments";
  so.topic = "payments";
  auto refused = Subscriber::connect(as(alice_), so);
  ASSERT_FALSE(refused.ok());
  EXPECT_TRUE(denied(refused.status())) << refused.status().to_string();
  // token and ACL management: superusers only, once ACLs exist
  EXPECT_TRUE(denied(alice->create_token("mallory").status()));
  EXPECT_TRUE(denied(bob->add_acl(AclEntry{"bob", AclOperation::kAdmin, "", true}).status()));
  EXPECT_TRUE(denied(anonymous->list_acls().status()));
  EXPECT_TRUE(root_->list_acls().ok());
}

TEST_F(AclTest, RefusalsNameWhoWhatAndWhichTopicAndNeverRevealExistence) {
  standard_setup();
  auto alice = admin(alice_);
  ASSERT_TRUE(alice);
  const Status existing = alice->describe_topic("payments").status();
  const Status missing = alice->describe_topic("payroll").status();
  ASSERT_TRUE(denied(existing)) << existing.to_string();
  ASSERT_TRUE(denied(missing)) << missing.to_string();
  EXPECT_NE(existing.message().find("principal \"alice\""), std::string::npos) << existing.to_string();
  EXPECT_NE(existing.message().find("topic \"payments\""), std::string::npos) << existing.to_string();
  // The two differ only in the name.
  std::string a(existing.message());
  std::string b(missing.message());
  for (size_t at; (at = a.find("payments")) != std::string::npos;) a.replace(at, 8, "NAME");
  for (size_t at; (at = b.find("payroll")) != std::string::npos;) b.replace(at, 7, "NAME");
  EXPECT_EQ(a, b);
  EXPECT_EQ(existing.code(), missing.code());

  const Status pub = publish_one(alice_, "payments");
  EXPECT_NE(pub.message().find("may not publish to topic \"payments\""), std::string::npos) << pub.to_string();
  EXPECT_EQ(publish_one(alice_, "payroll").code(), pub.code());
}

TEST_F(AclTest, ListsShowOnlyTopicsThePrincipalMaySee) {
  standard_setup();
  auto alice = admin(alice_);
  auto anonymous = admin("");
  ASSERT_TRUE(alice && anonymous);
  auto seen = alice->list_topics();
  ASSERT_TRUE(seen.ok());
  ASSERT_EQ(seen->size(), 1u);
  EXPECT_EQ(seen->front().spec.name, "orders.created");
  auto none = anonymous->list_topics();
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
  auto all = root_->list_topics();
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 2u);
}

TEST_F(AclTest, ARevokedTokenIsRefusedAtTheNextRequest) {
  standard_setup();
  auto alice = admin(alice_);
  ASSERT_TRUE(alice);
  ASSERT_TRUE(alice->describe_topic("orders.created").ok());
  auto tokens = root_->list_tokens();
  ASSERT_TRUE(tokens.ok());
  std::string alice_id;
  for (const auto& t : *tokens)
    if (t.principal == "alice") alice_id = t.id;
  ASSERT_FALSE(alice_id.empty());
  EXPECT_EQ(alice_.rfind(alice_id + ".", 0), 0u) << "the token starts with its id";
  ASSERT_TRUE(root_->revoke_token(alice_id).ok());

  const Status next = alice->describe_topic("orders.created").status();
  EXPECT_EQ(next.reason(), Reason::kUnauthenticated) << next.to_string();
  EXPECT_NE(next.message().find("revoked"), std::string::npos) << next.to_string();
  auto again = Admin::connect(as(alice_));
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.status().reason(), Reason::kUnauthenticated) << again.status().to_string();
  EXPECT_EQ(root_->revoke_token(alice_id).code(), Code::kNotFound);
}

TEST_F(AclTest, UnknownAndMalformedTokensAreRefusedAtHello) {
  standard_setup();
  std::string forged = alice_;
  forged.back() = forged.back() == '0' ? '1' : '0';
  for (const std::string& bad : {forged, std::string("cwt_0000000000000000.") + std::string(64, 'a'), std::string("x"),
                                 std::string(5000, 'A')}) {
    auto a = Admin::connect(as(bad));
    ASSERT_FALSE(a.ok()) << bad.substr(0, 30);
    EXPECT_EQ(a.status().reason(), Reason::kUnauthenticated) << a.status().to_string();
    if (bad.size() > 21) {
      EXPECT_EQ(a.status().message().find(bad.substr(21)), std::string::npos) << "the secret is never echoed";
    }
  }
}

TEST_F(AclTest, TokensAreStoredOnlyAsHashesAndSurviveARestart) {
  standard_setup();
  root_.reset();
  restart_broker();
  auto alice = admin(alice_);
  ASSERT_TRUE(alice);
  auto me = alice->whoami();
  ASSERT_TRUE(me.ok());
  EXPECT_EQ(me->principal, "alice");
  EXPECT_TRUE(me->acls_enforced);
  EXPECT_FALSE(me->superuser);
  // No file under the data dir holds a token's secret.
  const std::string secret = alice_.substr(alice_.find('.') + 1);
  for (const auto& f : std::filesystem::recursive_directory_iterator(dir_.sub("data"))) {
    if (!f.is_regular_file()) continue;
    std::ifstream in(f.path(), std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_EQ(bytes.find(secret), std::string::npos) << f.path();
  }
}

TEST_F(AclTest, TheFirstAclNeedsASuperuserToBeConfigured) {
  start_broker({});
  auto anyone = admin("");
  ASSERT_TRUE(anyone);
  auto me = anyone->whoami();
  ASSERT_TRUE(me.ok());
  EXPECT_EQ(me->principal, "anonymous");
  EXPECT_FALSE(me->acls_enforced);
  TopicSpec spec;
  spec.name = "t";
  EXPECT_TRUE(anyone->create_topic(spec).ok()) << "without ACLs everything is allowed";
  auto refused = anyone->add_acl(AclEntry{"alice", AclOperation::kPublish, "t", false});
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("--superuser"), std::string::npos) << refused.status().to_string();
  auto acls = anyone->list_acls();
  ASSERT_TRUE(acls.ok());
  EXPECT_TRUE(acls->empty());
}

TEST_F(AclTest, ACertificateSubjectIsThePrincipal) {
  causeway::testing::TestCa ca("acl test CA");
  const auto server = ca.issue_server();
  const auto client = ca.issue_client("orders");
  causeway::testing::write_text_file(dir_.sub("server.pem"), server.cert);
  causeway::testing::write_text_file(dir_.sub("server-key.pem"), server.key);
  causeway::testing::write_text_file(dir_.sub("client.pem"), client.cert);
  causeway::testing::write_text_file(dir_.sub("client-key.pem"), client.key);
  causeway::testing::write_text_file(dir_.sub("ca.pem"), ca.cert_pem());
  start_broker({"--superuser", "root", "--tls-cert", dir_.sub("server.pem"), "--tls-key", dir_.sub("server-key.pem"),
                "--tls-ca", dir_.sub("ca.pem"), "--tls-client-auth", "request"});
  ClientOptions tls = as("");
  tls.tls.ca_file = dir_.sub("ca.pem");
  ASSERT_NO_FATAL_FAILURE(bootstrap_root(tls));
  TopicSpec spec;
  spec.name = "orders";
  ASSERT_TRUE(root_->create_topic(spec).ok());
  allow("CN=orders", AclOperation::kPublish, "orders");

  ClientOptions with_cert = tls;
  with_cert.tls.cert_file = dir_.sub("client.pem");
  with_cert.tls.key_file = dir_.sub("client-key.pem");
  auto orders = Admin::connect(with_cert);
  ASSERT_TRUE(orders.ok()) << orders.status().to_string();
  auto me = (*orders)->whoami();
  ASSERT_TRUE(me.ok());
  EXPECT_EQ(me->principal, "CN=orders");
  EXPECT_TRUE((*orders)->describe_topic("orders").ok());
  auto anonymous = Admin::connect(tls);
  ASSERT_TRUE(anonymous.ok());
  EXPECT_TRUE(denied((*anonymous)->describe_topic("orders").status()));
}

TEST_F(AclTest, RefusalsAreCountedOnTheMetricsPort) {
  standard_setup();
  EXPECT_TRUE(denied(publish_one(alice_, "payments")));
  EXPECT_FALSE(Admin::connect(as("cwt_0000000000000000." + std::string(64, 'b'))).ok());
  ASSERT_FALSE(admin_url_.empty()) << broker_->output();
  httplib::Client c(admin_url_);
  auto r = c.Get("/metrics");
  ASSERT_TRUE(r);
  EXPECT_NE(r->body.find("causeway_auth_refusals_total{reason=\"permission_denied\",request=\"PublishRequest\"} 1"),
            std::string::npos)
      << r->body.substr(0, 4000);
  EXPECT_NE(r->body.find("causeway_auth_refusals_total{reason=\"unauthenticated\",request=\"Hello\"} 1"),
            std::string::npos);
}

TEST_F(AclTest, CliManagesTokensAndAclsAndExplainsCarelessInput) {
  start_broker();
  const std::string broker = broker_address();
  auto created = run_cli({"--broker", broker, "auth", "token", "create", "root", "--output", "json"});
  ASSERT_EQ(created.exit_code, 0) << created.output;
  ASSERT_EQ(created.objects().size(), 1u) << created.output;
  const std::string root = created.objects().front()["token"];
  const std::string id = created.objects().front()["id"];

  auto who = run_cli({"--broker", broker, "--token", root, "auth", "whoami"});
  EXPECT_EQ(who.exit_code, 0);
  EXPECT_NE(who.output.find("root  (superuser)"), std::string::npos) << who.output;
  auto add = run_cli({"--broker", broker, "--token", root, "acl", "add", "--principal", "svc", "--operation",
                      "publish", "--topic-prefix", "orders."});
  EXPECT_EQ(add.exit_code, 0) << add.output;
  EXPECT_NE(add.output.find("added: svc  publish  topics orders.*"), std::string::npos) << add.output;
  auto list = run_cli({"--broker", broker, "--token", root, "acl", "list", "--output", "json"});
  EXPECT_EQ(list.exit_code, 0) << list.output;
  EXPECT_NE(list.output.find("\"topic_prefix\":\"orders.\""), std::string::npos) << list.output;

  // Careless input: exit 2 naming what is missing or wrong; a refused request exits 1.
  auto no_topic = run_cli({"--broker", broker, "--token", root, "acl", "add", "--principal", "svc", "--operation",
                           "publish"});
  EXPECT_EQ(no_topic.exit_code, 2) << no_topic.output;
  EXPECT_NE(no_topic.output.find("--topic NAME, --topic-prefix PREFIX or --any-topic"), std::string::npos);
  auto bad_op = run_cli({"--broker", broker, "--token", root, "acl", "add", "--principal", "svc", "--operation",
                         "write", "--topic", "t"});
  EXPECT_EQ(bad_op.exit_code, 2) << bad_op.output;
  auto anonymous = run_cli({"--broker", broker, "acl", "list"});
  EXPECT_EQ(anonymous.exit_code, 1) << anonymous.output;
  EXPECT_NE(anonymous.output.find("takes a superuser"), std::string::npos) << anonymous.output;
  auto bad_token = run_cli({"--broker", broker, "--token", "nonsense", "topic", "list"});
  EXPECT_EQ(bad_token.exit_code, 1) << bad_token.output;
  EXPECT_NE(bad_token.output.find("malformed"), std::string::npos) << bad_token.output;
  auto help = run_cli({"acl", "add", "--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.output.find("--topic-prefix"), std::string::npos);

  auto revoke = run_cli({"--broker", broker, "--token", root, "auth", "token", "revoke", id});
  EXPECT_EQ(revoke.exit_code, 0) << revoke.output;
  auto after = run_cli({"--broker", broker, "--token", root, "topic", "list"});
  EXPECT_EQ(after.exit_code, 1) << after.output;
  EXPECT_NE(after.output.find("unknown or revoked"), std::string::npos) << after.output;
}

}  // namespace
}  // namespace causeway::client
