// Tokens and ACLs on the embedded registry's REST API, through the real broker, the real
// RegistryClient, raw HTTP and the CLI (docs/security.md, "The registry"): registry-read and
// registry-write on subject names and prefixes; registry-write implies read; topic ACLs and
// registry ACLs are separate; subject lists and schemas by id show only what a principal may
// read; refusals (403, error 40301) name principal, operation and subject and read the same
// whether the subject exists; unknown, malformed and non-Bearer credentials get 401 with
// WWW-Authenticate; a TLS client certificate's subject is the principal over HTTPS; refusals
// and incompatible schemas are counted on /metrics, which promtool accepts; a broker without
// ACLs keeps an open registry. Also the standalone causeway-registry's admin port.
#include <gtest/gtest.h>
#include <httplib.h>
#include <sys/wait.h>

#include <chrono>
#include <fstream>
#include <string>
#include <vector>

#include "causeway/client/admin.h"
#include "causeway/client/registry_client.h"
#include "tests/integration/auth_broker.h"
#include "tests/integration/cli_run.h"
#include "tests/integration/daemon_process.h"
#include "tests/integration/registry_daemon.h"
#include "tests/support/temp_dir.h"
#include "tests/support/test_certs.h"

namespace causeway::client {
namespace {

using namespace std::chrono_literals;
using causeway::testing::DaemonProcess;
using causeway::testing::run_cli;

constexpr const char* kOrderV1 = "namespace shop;\ntable Order { id:ulong; }\nroot_type Order;\n";
constexpr const char* kOrderV2 = "namespace shop;\ntable Order { id:ulong; note:string; }\nroot_type Order;\n";
// Changing a field's type breaks BACKWARD compatibility.
constexpr const char* kOrderBroken = "namespace shop;\ntable Order { id:string; }\nroot_type Order;\n";
constexpr const char* kPayment = "namespace shop;\ntable Payment { cents:long; }\nroot_type Payment;\n";

class RegistryAclTest : public causeway::testing::AuthBrokerTest {
 protected:
  void start_broker(std::vector<std::string> extra = {"--superuser", "root"}) {
    AuthBrokerTest::start_broker(std::move(extra), "127.0.0.1:0");
    ASSERT_FALSE(registry_url_.empty()) << broker_->output();
  }
  std::unique_ptr<RegistryClient> registry(const std::string& token) {
    RegistryClientOptions o;
    o.url = registry_url_;
    o.token = token;
    auto c = RegistryClient::create(o);
    EXPECT_TRUE(c.ok()) << c.status().to_string();
    return c.ok() ? std::move(*c) : nullptr;
  }

  // root is the superuser; subjects orders-value and payments-value exist (registered by
  // root); alice may write orders-*, bob may read orders-value, carol may publish to the
  // topic orders-value (which says nothing about the subject).
  void standard_setup() {
    ASSERT_NO_FATAL_FAILURE(start_broker());
    ASSERT_NO_FATAL_FAILURE(bootstrap_root(as("")));
    alice_ = token_for("alice");
    bob_ = token_for("bob");
    carol_ = token_for("carol");
    allow("alice", AclOperation::kRegistryWrite, "orders-", true);
    allow("bob", AclOperation::kRegistryRead, "orders-value");
    allow("carol", AclOperation::kPublish, "orders-value");
    auto rc = registry(root_token_);
    ASSERT_TRUE(rc);
    auto orders = rc->register_schema("orders-value", kOrderV1, "");
    ASSERT_TRUE(orders.ok()) << orders.status().to_string();
    orders_id_ = orders->id;
    auto payments = rc->register_schema("payments-value", kPayment, "");
    ASSERT_TRUE(payments.ok()) << payments.status().to_string();
    payments_id_ = payments->id;
  }

  static bool forbidden(const Status& s) { return s.reason() == Reason::kRegistryForbidden; }
  static bool unauthorized(const Status& s) { return s.reason() == Reason::kRegistryUnauthorized; }

  // A raw request with these headers (what RegistryClient would never send).
  httplib::Result raw(const std::string& method, const std::string& path, const httplib::Headers& headers,
                      const std::string& body = "") {
    httplib::Client c(registry_url_);
    c.set_read_timeout(30, 0);
    if (method == "GET") return c.Get(path, headers);
    if (method == "PUT") return c.Put(path, headers, body, "application/json");
    return c.Post(path, headers, body, "application/json");
  }

  std::string metrics() {
    httplib::Client c(admin_url_);
    auto r = c.Get("/metrics");
    return r ? r->body : "";
  }

  std::string alice_, bob_, carol_;
  int orders_id_ = 0, payments_id_ = 0;
};

TEST_F(RegistryAclTest, EachRestOperationIsAllowedOnlyWhereARegistryAclSaysSo) {
  standard_setup();
  auto alice = registry(alice_);
  auto bob = registry(bob_);
  auto carol = registry(carol_);
  auto anonymous = registry("");
  auto root = registry(root_token_);
  ASSERT_TRUE(alice && bob && carol && anonymous && root);

  // register (write): alice under orders-*, nobody else but root
  EXPECT_TRUE(alice->register_schema("orders-value", kOrderV2, "").ok());
  EXPECT_TRUE(alice->register_schema("orders-key", kOrderV1, "").ok());
  EXPECT_TRUE(forbidden(alice->register_schema("payments-value", kPayment, "").status()));
  EXPECT_TRUE(forbidden(bob->register_schema("orders-value", kOrderV2, "").status())) << "read does not include write";
  EXPECT_TRUE(forbidden(carol->register_schema("orders-value", kOrderV2, "").status())) << "a topic ACL is not a subject ACL";
  EXPECT_TRUE(forbidden(anonymous->register_schema("orders-value", kOrderV2, "").status()));
  EXPECT_TRUE(root->register_schema("payments-value", kPayment, "").ok()) << "superusers pass every ACL";

  // read: get, versions, lookup, compatibility check
  EXPECT_TRUE(alice->get_version("orders-value").ok()) << "write implies read";
  EXPECT_TRUE(bob->get_version("orders-value").ok());
  EXPECT_TRUE(bob->list_versions("orders-value").ok());
  EXPECT_TRUE(bob->lookup("orders-value", kOrderV1, "").ok());
  EXPECT_TRUE(bob->check_compatibility("orders-value", kOrderV2, "").ok());
  EXPECT_TRUE(forbidden(bob->get_version("orders-key").status())) << "bob's ACL names one subject";
  EXPECT_TRUE(forbidden(bob->get_version("payments-value").status()));
  EXPECT_TRUE(forbidden(carol->get_version("orders-value").status()));
  EXPECT_TRUE(forbidden(anonymous->check_compatibility("orders-value", kOrderV2, "").status()));

  // schemas by id: through a subject the principal may read
  EXPECT_TRUE(bob->get_schema(orders_id_).ok());
  EXPECT_TRUE(forbidden(bob->get_schema(payments_id_).status()));
  EXPECT_TRUE(forbidden(bob->get_schema(999999).status())) << "an id nobody uses reads as refused, not missing";
  EXPECT_EQ(root->get_schema(999999).status().reason(), Reason::kSchemaNotFound);

  // compatibility mode: of a subject (write), registry-wide (write on every subject)
  EXPECT_TRUE(alice->set_mode("orders-value", "FULL").ok());
  EXPECT_TRUE(forbidden(bob->set_mode("orders-value", "NONE").status()));
  EXPECT_TRUE(bob->get_mode("orders-value").ok());
  EXPECT_TRUE(forbidden(alice->set_mode("", "NONE").status()));
  EXPECT_TRUE(anonymous->get_mode("").ok()) << "the registry-wide default is no secret";
  EXPECT_TRUE(root->set_mode("", "BACKWARD").ok());

  // delete (write)
  EXPECT_TRUE(forbidden(bob->delete_subject("orders-value").status()));
  EXPECT_TRUE(alice->delete_subject("orders-key").ok());

  // A registry ACL says nothing about the topic of the same name.
  TopicSpec spec;
  spec.name = "orders-value";
  ASSERT_TRUE(root_->create_topic(spec).ok());
  auto alice_admin = Admin::connect(as(alice_));
  ASSERT_TRUE(alice_admin.ok());
  EXPECT_EQ((*alice_admin)->describe_topic("orders-value").status().reason(), Reason::kPermissionDenied);
}

TEST_F(RegistryAclTest, SubjectListsAndIdUsesShowOnlyWhatThePrincipalMayRead) {
  standard_setup();
  auto subjects = registry(bob_)->list_subjects();
  ASSERT_TRUE(subjects.ok()) << subjects.status().to_string();
  EXPECT_EQ(*subjects, std::vector<std::string>{"orders-value"});
  auto none = registry("")->list_subjects();
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
  auto all = registry(root_token_)->list_subjects();
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 2u);

  // archive-value also uses the orders schema: bob sees only the use he may read.
  auto rc = registry(root_token_);
  ASSERT_TRUE(rc->register_schema("archive-value", kOrderV1, "").ok());
  auto uses = registry(bob_)->subject_versions_of(orders_id_);
  ASSERT_TRUE(uses.ok()) << uses.status().to_string();
  ASSERT_EQ(uses->size(), 1u);
  EXPECT_EQ(uses->front().first, "orders-value");
  auto root_uses = rc->subject_versions_of(orders_id_);
  ASSERT_TRUE(root_uses.ok());
  EXPECT_EQ(root_uses->size(), 2u);
}

TEST_F(RegistryAclTest, RefusalsNamePrincipalOperationAndSubjectAndNeverRevealExistence) {
  standard_setup();
  auto bob = registry(bob_);
  const Status existing = bob->get_version("payments-value").status();
  const Status missing = bob->get_version("payroll-value").status();
  ASSERT_TRUE(forbidden(existing)) << existing.to_string();
  ASSERT_TRUE(forbidden(missing)) << missing.to_string();
  EXPECT_NE(existing.message().find("principal \"bob\" may not read registry subject \"payments-value\""),
            std::string::npos)
      << existing.to_string();
  std::string a(existing.message());
  std::string b(missing.message());
  a.replace(a.find("payments-value"), 14, "NAME");
  b.replace(b.find("payroll-value"), 13, "NAME");
  EXPECT_EQ(a, b);
  EXPECT_EQ(existing.code(), missing.code());
  const Status write = bob->register_schema("orders-value", kOrderV2, "").status();
  EXPECT_NE(write.message().find("may not write registry subject \"orders-value\""), std::string::npos)
      << write.to_string();
  // A schema that includes another subject's version reads it: alice may write orders-*,
  // but may not read payments-value.
  auto with_ref = registry(alice_)->register_schema(
      "orders-ref", "include \"pay.fbs\";\nnamespace shop;\ntable Ref { p:Payment; }\nroot_type Ref;\n", "",
      {{"pay.fbs", "payments-value", 1}});
  EXPECT_TRUE(forbidden(with_ref.status())) << with_ref.status().to_string();
  EXPECT_NE(with_ref.status().message().find("payments-value"), std::string::npos);

  // Raw HTTP: 403 with Confluent's error_code 40301.
  auto r = raw("GET", "/subjects/payments-value/versions/latest", {{"Authorization", "Bearer " + bob_}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 403);
  EXPECT_NE(r->body.find("\"error_code\":40301"), std::string::npos) << r->body;
}

TEST_F(RegistryAclTest, BadCredentialsAreRefusedWith401AndNeverEchoed) {
  standard_setup();
  const std::string secret(64, 'b');
  auto forged = registry("cwt_0000000000000000." + secret)->list_subjects();
  ASSERT_TRUE(unauthorized(forged.status())) << forged.status().to_string();
  EXPECT_NE(forged.status().message().find("unknown or revoked"), std::string::npos);
  EXPECT_EQ(forged.status().message().find(secret), std::string::npos);
  EXPECT_TRUE(unauthorized(registry("not-a-token")->list_subjects().status()));

  for (const std::string& header : {std::string("Basic YWxpY2U6c2VjcmV0"), std::string("Bearer"),
                                    std::string("Bearer ") + std::string(5000, 'x'), std::string("token abc")}) {
    auto r = raw("GET", "/subjects", {{"Authorization", header}});
    ASSERT_TRUE(r) << header.substr(0, 20);
    EXPECT_EQ(r->status, 401) << header.substr(0, 20) << ": " << r->body;
    EXPECT_NE(r->body.find("\"error_code\":40101"), std::string::npos) << r->body;
    EXPECT_EQ(r->get_header_value("WWW-Authenticate"), "Bearer realm=\"causeway\"");
  }
  auto basic = raw("GET", "/subjects", {{"Authorization", "Basic YWxpY2U6c2VjcmV0"}});
  ASSERT_TRUE(basic);
  EXPECT_NE(basic->body.find("Bearer TOKEN"), std::string::npos) << basic->body;

  // A token revoked: refused at the next request.
  auto bob = registry(bob_);
  ASSERT_TRUE(bob->get_version("orders-value").ok());
  auto tokens = root_->list_tokens();
  ASSERT_TRUE(tokens.ok());
  for (const auto& t : *tokens) {
    if (t.principal == "bob") {
      ASSERT_TRUE(root_->revoke_token(t.id).ok());
    }
  }
  EXPECT_TRUE(unauthorized(bob->get_version("orders-value").status()));
  // The broker stayed up and serves the others.
  EXPECT_TRUE(registry(alice_)->get_version("orders-value").ok());
}

TEST_F(RegistryAclTest, RefusalsAndIncompatibleSchemasAreCountedOnTheBrokersMetrics) {
  standard_setup();
  ASSERT_FALSE(admin_url_.empty()) << broker_->output();
  EXPECT_TRUE(forbidden(registry(bob_)->get_version("payments-value").status()));
  EXPECT_TRUE(forbidden(registry(carol_)->get_version("orders-value").status()));
  EXPECT_TRUE(unauthorized(registry("cwt_0000000000000000." + std::string(64, 'c'))->list_subjects().status()));
  auto rc = registry(root_token_);
  const auto broken = rc->register_schema("orders-value", kOrderBroken, "");
  EXPECT_EQ(broken.status().reason(), Reason::kIncompatibleSchema) << broken.status().to_string();
  auto check = rc->check_compatibility("orders-value", kOrderBroken, "");
  ASSERT_TRUE(check.ok()) << check.status().to_string();
  EXPECT_FALSE(check->is_compatible);

  const std::string text = metrics();
  EXPECT_NE(text.find("causeway_registry_auth_refusals_total{reason=\"forbidden\"} 2"), std::string::npos) << text;
  EXPECT_NE(text.find("causeway_registry_auth_refusals_total{reason=\"unauthorized\"} 1"), std::string::npos);
  EXPECT_NE(text.find("causeway_registry_incompatible_schemas_total{request=\"register\"} 1"), std::string::npos);
  EXPECT_NE(text.find("causeway_registry_incompatible_schemas_total{request=\"check\"} 1"), std::string::npos);
  EXPECT_NE(text.find("causeway_registry_requests_total{code=\"403\",method=\"GET\"} 2"), std::string::npos);
  EXPECT_NE(text.find("causeway_registry_subjects 2"), std::string::npos);
  EXPECT_NE(text.find("causeway_registry_request_seconds_count"), std::string::npos);
  EXPECT_NE(text.find("causeway_fsync_seconds"), std::string::npos) << "the broker's own metrics are on the same page";

  const std::string file = dir_.sub("metrics.txt");
  std::ofstream(file) << text;
  DaemonProcess promtool("/bin/sh", {"-c", "promtool check metrics < " + file});
  const auto code = promtool.wait_exit(30s);
  ASSERT_TRUE(code.has_value());
  EXPECT_TRUE(WIFEXITED(*code) && WEXITSTATUS(*code) == 0) << promtool.output();
}

TEST_F(RegistryAclTest, WithoutAclsTheRegistryIsOpenButBadTokensAreStillRefused) {
  start_broker({});
  auto anonymous = registry("");
  ASSERT_TRUE(anonymous);
  EXPECT_TRUE(anonymous->register_schema("orders-value", kOrderV1, "").ok());
  EXPECT_TRUE(anonymous->set_mode("", "FULL").ok());
  auto subjects = anonymous->list_subjects();
  ASSERT_TRUE(subjects.ok());
  EXPECT_EQ(subjects->size(), 1u);
  EXPECT_TRUE(unauthorized(registry("cwt_0000000000000000." + std::string(64, 'd'))->list_subjects().status()));
}

TEST_F(RegistryAclTest, TopicAclsAndRegistryAclsAreEnforcedApart) {
  ASSERT_NO_FATAL_FAILURE(start_broker());
  ASSERT_NO_FATAL_FAILURE(bootstrap_root(as("")));
  // Only a registry ACL: the registry denies by default, the wire port still allows all.
  allow("alice", AclOperation::kRegistryRead, "orders-value");
  EXPECT_TRUE(forbidden(registry("")->register_schema("orders-value", kOrderV1, "").status()));
  TopicSpec spec;
  spec.name = "orders";
  auto anyone = Admin::connect(as(""));
  ASSERT_TRUE(anyone.ok());
  EXPECT_TRUE((*anyone)->create_topic(spec).ok()) << "no topic ACL yet: topics stay open";
  EXPECT_TRUE((*anyone)->describe_topic("orders").ok());
  EXPECT_EQ((*anyone)->create_token("mallory").status().reason(), Reason::kPermissionDenied)
      << "but managing tokens is for superusers once any ACL exists";
  // The first topic ACL closes the wire port too.
  allow("alice", AclOperation::kPublish, "orders");
  EXPECT_EQ((*anyone)->describe_topic("orders").status().reason(), Reason::kPermissionDenied);
}

TEST_F(RegistryAclTest, ACertificateSubjectIsTheRegistryPrincipalOverHttps) {
  causeway::testing::TestCa ca("registry acl test CA");
  const auto server = ca.issue_server();
  const auto client = ca.issue_client("schemas");
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
  allow("CN=schemas", AclOperation::kRegistryWrite, "", true);

  RegistryClientOptions with_cert;
  with_cert.url = registry_url_;
  with_cert.ca_file = dir_.sub("ca.pem");
  with_cert.cert_file = dir_.sub("client.pem");
  with_cert.key_file = dir_.sub("client-key.pem");
  auto schemas = RegistryClient::create(with_cert);
  ASSERT_TRUE(schemas.ok());
  EXPECT_TRUE((*schemas)->register_schema("anything-value", kOrderV1, "").ok());
  EXPECT_TRUE((*schemas)->set_mode("", "FULL").ok()) << "write on the empty prefix covers registry-wide settings";

  RegistryClientOptions no_cert = with_cert;
  no_cert.cert_file.clear();
  no_cert.key_file.clear();
  auto anonymous = RegistryClient::create(no_cert);
  ASSERT_TRUE(anonymous.ok());
  const Status refused = (*anonymous)->get_version("anything-value").status();
  EXPECT_TRUE(forbidden(refused)) << refused.to_string();
  EXPECT_NE(refused.message().find("principal \"anonymous\""), std::string::npos) << refused.to_string();
}

TEST_F(RegistryAclTest, CliAddsRegistryAclsAndPassesItsTokenToTheRegistry) {
  standard_setup();
  const std::string broker = broker_address();
  const std::vector<std::string> as_root = {"--broker", broker, "--token", root_token_};
  auto cli = [&](std::vector<std::string> head, std::vector<std::string> args) {
    head.insert(head.end(), args.begin(), args.end());
    return run_cli(head);
  };
  auto add = cli(as_root, {"acl", "add", "--principal", "dave", "--operation", "registry-read", "--subject-prefix",
                           "payments-"});
  EXPECT_EQ(add.exit_code, 0) << add.output;
  EXPECT_NE(add.output.find("dave  registry-read  subjects payments-*"), std::string::npos) << add.output;
  auto list = cli(as_root, {"acl", "list", "--principal", "dave", "--output", "json"});
  ASSERT_EQ(list.exit_code, 0) << list.output;
  EXPECT_NE(list.output.find("\"subject_prefix\":\"payments-\""), std::string::npos) << list.output;

  // Careless input: a topic flag with a registry operation, and the other way round.
  auto wrong = cli(as_root, {"acl", "add", "--principal", "dave", "--operation", "registry-read", "--topic", "x"});
  EXPECT_EQ(wrong.exit_code, 2) << wrong.output;
  EXPECT_NE(wrong.output.find("--subject NAME"), std::string::npos) << wrong.output;
  auto wrong2 = cli(as_root, {"acl", "add", "--principal", "dave", "--operation", "publish", "--subject", "x"});
  EXPECT_EQ(wrong2.exit_code, 2) << wrong2.output;
  EXPECT_NE(wrong2.output.find("--topic NAME"), std::string::npos) << wrong2.output;
  auto neither = cli(as_root, {"acl", "add", "--principal", "dave", "--operation", "registry-write"});
  EXPECT_EQ(neither.exit_code, 2) << neither.output;
  EXPECT_NE(neither.output.find("say which subjects"), std::string::npos) << neither.output;

  // The CLI's --token reaches the registry: bob may list his subject, anonymous sees none.
  auto bob = cli({"--broker", broker, "--token", bob_, "--registry", registry_url_}, {"schema", "list"});
  EXPECT_EQ(bob.exit_code, 0) << bob.output;
  EXPECT_NE(bob.output.find("[\"orders-value\"]"), std::string::npos) << bob.output;
  auto bob_write = cli({"--broker", broker, "--token", bob_, "--registry", registry_url_},
                       {"schema", "get", "payments-value"});
  EXPECT_NE(bob_write.exit_code, 0);
  EXPECT_NE(bob_write.output.find("may not read registry subject \"payments-value\""), std::string::npos)
      << bob_write.output;
}

// The standalone registry's admin port: metrics, health and readiness, careless flags.
TEST(StandaloneRegistryAdmin, ServesMetricsHealthAndReadinessOnItsAdminPort) {
  causeway::testing::TempDir dir;
  causeway::testing::RegistryDaemon daemon(dir.sub("registry"));
  ASSERT_TRUE(daemon.started()) << daemon.process().output();
  ASSERT_FALSE(daemon.admin_url().empty()) << daemon.process().output();
  RegistryClientOptions o;
  o.url = daemon.url();
  auto rc = RegistryClient::create(o);
  ASSERT_TRUE(rc.ok());
  ASSERT_TRUE((*rc)->register_schema("orders-value", kOrderV1, "").ok());
  EXPECT_EQ((*rc)->register_schema("orders-value", kOrderBroken, "").status().reason(), Reason::kIncompatibleSchema);
  EXPECT_EQ((*rc)->get_version("nope").status().reason(), Reason::kSubjectNotFound);

  httplib::Client admin(daemon.admin_url());
  auto m = admin.Get("/metrics");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->status, 200);
  EXPECT_NE(m->body.find("causeway_registry_incompatible_schemas_total{request=\"register\"} 1"), std::string::npos)
      << m->body;
  EXPECT_NE(m->body.find("causeway_registry_requests_total{code=\"404\",method=\"GET\"} 1"), std::string::npos);
  EXPECT_NE(m->body.find("causeway_registry_requests_total{code=\"409\",method=\"POST\"} 1"), std::string::npos);
  EXPECT_NE(m->body.find("causeway_registry_subjects 1"), std::string::npos);
  const std::string file = dir.sub("metrics.txt");
  std::ofstream(file) << m->body;
  DaemonProcess promtool("/bin/sh", {"-c", "promtool check metrics < " + file});
  const auto code = promtool.wait_exit(30s);
  ASSERT_TRUE(code.has_value());
  EXPECT_TRUE(WIFEXITED(*code) && WEXITSTATUS(*code) == 0) << promtool.output();

  auto health = admin.Get("/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  auto ready = admin.Get("/readyz");
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->status, 200);
  EXPECT_EQ(daemon.stop(), 0);

  // Careless flags: an address that does not parse, an admin port that is taken.
  DaemonProcess bad(causeway::testing::kRegistryBinary,
                    {"--listen", "127.0.0.1:0", "--admin-listen", "nonsense", "--data-dir", dir.sub("bad")});
  const auto bad_exit = bad.wait_exit(30s);
  ASSERT_TRUE(bad_exit);
  EXPECT_TRUE(WIFEXITED(*bad_exit) && WEXITSTATUS(*bad_exit) == 2) << bad.output();
  EXPECT_NE(bad.output().find("--admin-listen"), std::string::npos) << bad.output();

  causeway::testing::RegistryDaemon first(dir.sub("first"));
  ASSERT_TRUE(first.started());
  const std::string taken = first.admin_url().substr(std::string("http://").size());
  DaemonProcess second(causeway::testing::kRegistryBinary,
                       {"--listen", "127.0.0.1:0", "--admin-listen", taken, "--data-dir", dir.sub("second")});
  const auto second_exit = second.wait_exit(30s);
  ASSERT_TRUE(second_exit);
  EXPECT_TRUE(WIFEXITED(*second_exit) && WEXITSTATUS(*second_exit) == 1) << second.output();
  EXPECT_NE(second.output().find("cannot listen on " + taken), std::string::npos) << second.output();
  EXPECT_EQ(first.stop(), 0);
}

}  // namespace
}  // namespace causeway::client
