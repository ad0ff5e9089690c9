// TLS and mTLS on the real daemons (docs/security.md), with certificates made in the test
// (tests/support/test_certs.h): events published and delivered over TLS through the real
// client; client certificates good, expired, from another CA and missing, under
// --tls-client-auth require and request; a plaintext client on the TLS port and a TLS client
// on the plaintext port get errors that say so, at once; a handshake that stalls holds
// nothing and is closed; SIGHUP reloads the certificate while open connections go on; bad
// TLS files stop the start naming the file; the registry's REST port over HTTPS, with a
// plain HTTP request answered 400, and the standalone causeway-registry with the same flags.
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <set>
#include <string>
#include <vector>

#include "causeway/client/admin.h"
#include "causeway/client/publisher.h"
#include "causeway/client/registry_client.h"
#include "causeway/client/subscriber.h"
#include "tests/integration/cli_run.h"
#include "tests/integration/daemon_process.h"
#include "tests/support/temp_dir.h"
#include "tests/support/test_certs.h"
#include "tests/support/waiting.h"

namespace causeway::client {
namespace {

using namespace std::chrono_literals;
using causeway::testing::DaemonProcess;
using causeway::testing::eventually;
using causeway::testing::pick_free_port;
using causeway::testing::PemPair;
using causeway::testing::TestCa;
using causeway::testing::write_text_file;

class TlsTest : public ::testing::Test {
 protected:
  TlsTest() : ca_("Causeway test CA"), other_ca_("Some other CA") {}

  void TearDown() override {
    if (broker_) {
      EXPECT_TRUE(causeway::testing::stops_cleanly(*broker_));
    }
  }

  // Writes `pair` as NAME.pem and NAME-key.pem under the test's directory.
  std::pair<std::string, std::string> write_pair(const std::string& name, const PemPair& pair) {
    const std::string cert = dir_.sub(name + ".pem");
    const std::string key = dir_.sub(name + "-key.pem");
    write_text_file(cert, pair.cert);
    write_text_file(key, pair.key);
    return {cert, key};
  }
  std::string write_ca(const std::string& name, const TestCa& ca) {
    const std::string path = dir_.sub(name);
    write_text_file(path, ca.cert_pem());
    return path;
  }

  // Starts the broker with the server certificate of ca_ and `extra` flags.
  void start_broker(std::vector<std::string> extra = {}, bool plaintext = false) {
    port_ = pick_free_port();
    std::vector<std::string> args{"--listen",       "127.0.0.1:" + std::to_string(port_),
                                  "--registry-listen", "off",
                                  "--admin-listen", "off",
                                  "--handshake-timeout", "1s",
                                  "--data-dir",     dir_.sub("data")};
    if (!plaintext) {
      std::tie(server_cert_, server_key_) = write_pair("server", ca_.issue_server());
      args.insert(args.end(), {"--tls-cert", server_cert_, "--tls-key", server_key_});
    }
    args.insert(args.end(), extra.begin(), extra.end());
    broker_ = std::make_unique<DaemonProcess>(CAUSEWAY_BROKER_BINARY, args);
    ASSERT_TRUE(broker_->wait_for_output("causeway-broker ready", 30s)) << broker_->output();
  }

  ClientOptions tls_options() {
    ClientOptions o;
    o.broker = "127.0.0.1:" + std::to_string(port_);
    o.client_name = "tls_test";
    o.connect_timeout = 5s;
    o.tls.ca_file = write_ca("ca.pem", ca_);
    return o;
  }
  ClientOptions with_client_cert(const std::string& name, const PemPair& pair) {
    ClientOptions o = tls_options();
    std::tie(o.tls.cert_file, o.tls.key_file) = write_pair(name, pair);
    return o;
  }

  causeway::testing::TempDir dir_;
  TestCa ca_;
  TestCa other_ca_;
  uint16_t port_ = 0;
  std::string server_cert_;
  std::string server_key_;
  std::unique_ptr<DaemonProcess> broker_;
};

TEST_F(TlsTest, PublishesAndDeliversEventsOverTls) {
  start_broker();
  EXPECT_NE(broker_->output().find("(TLS)"), std::string::npos) << broker_->output();
  const ClientOptions options = tls_options();
  auto admin = Admin::connect(options);
  ASSERT_TRUE(admin.ok()) << admin.status().to_string();
  TopicSpec spec;
  spec.name = "t";
  spec.partitions = 2;
  ASSERT_TRUE((*admin)->create_topic(spec).ok());

  auto publisher = Publisher::connect(options, PublisherOptions{});
  ASSERT_TRUE(publisher.ok()) << publisher.status().to_string();
  constexpr int kEvents = 500;
  std::vector<std::future<Result<PublishAck>>> acks;
  for (int i = 0; i < kEvents; ++i) {
    Event e;
    e.key = "k" + std::to_string(i % 7);
    e.payload = "event " + std::to_string(i) + std::string(static_cast<size_t>(i), 'x');  // up to ~500 B
    acks.push_back((*publisher)->publish("t", std::move(e)));
  }
  for (auto& a : acks) ASSERT_TRUE(a.get().ok());

  SubscriberOptions so;
  so.subscription = "s";
  so.topic = "t";
  so.settings.start = StartPosition::earliest();
  auto subscriber = Subscriber::connect(options, so);
  ASSERT_TRUE(subscriber.ok()) << subscriber.status().to_string();
  std::set<std::string> seen;
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (seen.size() < kEvents && std::chrono::steady_clock::now() < deadline) {
    auto got = (*subscriber)->receive(100, 500ms);
    ASSERT_TRUE(got.ok()) << got.status().to_string();
    for (const auto& ev : *got) {
      seen.insert(ev.payload.substr(0, ev.payload.find('x')));
      ASSERT_TRUE((*subscriber)->ack(ev).ok());
    }
  }
  EXPECT_EQ(seen.size(), static_cast<size_t>(kEvents));
}

TEST_F(TlsTest, PlaintextClientOnTheTlsPortIsToldToUseTls) {
  start_broker();
  ClientOptions plain = tls_options();
  plain.tls = TlsOptions{};
  auto admin = Admin::connect(plain);
  ASSERT_FALSE(admin.ok());
  EXPECT_NE(admin.status().message().find("requires TLS"), std::string::npos) << admin.status().to_string();
  EXPECT_NE(admin.status().code(), Code::kDeadlineExceeded);
  // And the broker still serves TLS clients.
  EXPECT_TRUE(Admin::connect(tls_options()).ok());
}

TEST_F(TlsTest, TlsClientOnThePlaintextPortIsToldTheBrokerDoesNotServeTls) {
  start_broker({}, /*plaintext=*/true);
  ClientOptions options = tls_options();
  options.connect_timeout = 20s;  // a hang would show as DeadlineExceeded
  auto admin = Admin::connect(options);
  ASSERT_FALSE(admin.ok());
  EXPECT_EQ(admin.status().code(), Code::kFailedPrecondition) << admin.status().to_string();
  EXPECT_NE(admin.status().message().find("does not serve TLS"), std::string::npos) << admin.status().to_string();
  EXPECT_TRUE(eventually([&] { return broker_->output().find("a TLS handshake on the plaintext port") !=
                                      std::string::npos; }, 10s))
      << broker_->output();
}

TEST_F(TlsTest, ClientRefusesABrokerCertificateItCannotVerify) {
  start_broker();
  ClientOptions wrong_ca = tls_options();
  wrong_ca.tls.ca_file = write_ca("other-ca.pem", other_ca_);
  auto admin = Admin::connect(wrong_ca);
  ASSERT_FALSE(admin.ok());
  EXPECT_NE(admin.status().message().find("did not verify"), std::string::npos) << admin.status().to_string();

  ClientOptions wrong_name = tls_options();
  wrong_name.tls.server_name = "orders.example.com";
  admin = Admin::connect(wrong_name);
  ASSERT_FALSE(admin.ok());
  EXPECT_NE(admin.status().message().find("hostname mismatch"), std::string::npos) << admin.status().to_string();

  ClientOptions by_name = tls_options();
  by_name.broker = "localhost:" + std::to_string(port_);
  EXPECT_TRUE(Admin::connect(by_name).ok());
}

TEST_F(TlsTest, RequiredClientCertificatesAdmitOnlyValidOnesFromTheCa) {
  start_broker({"--tls-ca", write_ca("client-ca.pem", ca_)});  // implies --tls-client-auth require
  EXPECT_NE(broker_->output().find("client certificates: require"), std::string::npos) << broker_->output();

  auto good = Admin::connect(with_client_cert("orders", ca_.issue_client("orders")));
  ASSERT_TRUE(good.ok()) << good.status().to_string();
  EXPECT_TRUE((*good)->list_topics().ok());

  struct Refused {
    const char* what;
    ClientOptions options;
  };
  const std::vector<Refused> refused{
      {"no certificate", tls_options()},
      {"expired", with_client_cert("expired", ca_.issue_client("expired", -2 * 86400, -86400))},
      {"not valid yet", with_client_cert("future", ca_.issue_client("future", 86400, 2 * 86400))},
      {"another CA", with_client_cert("stranger", other_ca_.issue_client("stranger"))},
  };
  for (const auto& r : refused) {
    auto admin = Admin::connect(r.options);
    ASSERT_FALSE(admin.ok()) << r.what;
    EXPECT_EQ(admin.status().code(), Code::kFailedPrecondition) << r.what << ": " << admin.status().to_string();
    EXPECT_NE(admin.status().message().find("refused this client's certificate"), std::string::npos)
        << r.what << ": " << admin.status().to_string();
  }
  EXPECT_TRUE(eventually([&] { return broker_->output().find("TLS handshake failed") != std::string::npos; }, 10s));
  EXPECT_TRUE((*good)->list_topics().ok()) << "the good connection is still served";
}

TEST_F(TlsTest, RequestedClientCertificatesAreOptionalButVerifiedWhenSent) {
  start_broker({"--tls-ca", write_ca("client-ca.pem", ca_), "--tls-client-auth", "request"});
  EXPECT_TRUE(Admin::connect(tls_options()).ok()) << "no certificate is fine";
  EXPECT_TRUE(Admin::connect(with_client_cert("orders", ca_.issue_client("orders"))).ok());
  auto stranger = Admin::connect(with_client_cert("stranger", other_ca_.issue_client("stranger")));
  ASSERT_FALSE(stranger.ok());
  EXPECT_NE(stranger.status().message().find("refused this client's certificate"), std::string::npos)
      << stranger.status().to_string();
}

// A raw socket on the TLS port: half a TLS record header, then nothing.
int connect_raw(uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  timeval tv{20, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return fd;
}

TEST_F(TlsTest, StalledHandshakesHoldNothingAndAreClosed) {
  start_broker();  // --handshake-timeout 1s
  std::vector<int> stalled;
  for (int i = 0; i < 50; ++i) {
    const int fd = connect_raw(port_);
    ASSERT_GE(fd, 0);
    if (i % 2 == 0) {
      const unsigned char half_record[] = {0x16, 0x03, 0x01};  // a TLS record header, cut short
      ASSERT_EQ(::send(fd, half_record, sizeof half_record, MSG_NOSIGNAL), 3);
    }
    stalled.push_back(fd);
  }
  // Meanwhile the broker serves: the stalled handshakes hold no thread.
  auto admin = Admin::connect(tls_options());
  ASSERT_TRUE(admin.ok()) << admin.status().to_string();
  EXPECT_TRUE((*admin)->list_topics().ok());
  // Each stalled connection is closed by the broker (read sees the end, not our timeout).
  for (const int fd : stalled) {
    char byte;
    const ssize_t n = ::recv(fd, &byte, 1, 0);
    EXPECT_LE(n, 0) << "the broker answered a stalled handshake";
    EXPECT_FALSE(n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) << "not closed within 20 s";
    ::close(fd);
  }
  EXPECT_TRUE((*admin)->list_topics().ok());
}

TEST_F(TlsTest, SighupReloadsTheCertificateAndOpenConnectionsGoOn) {
  start_broker();
  const ClientOptions old_ca = tls_options();
  auto before = Admin::connect(old_ca);
  ASSERT_TRUE(before.ok()) << before.status().to_string();

  // Renewed by another CA: the files are replaced in place and the broker told.
  write_pair("server", other_ca_.issue_server());
  broker_->signal(SIGHUP);
  ASSERT_TRUE(eventually([&] { return broker_->output().find("reloaded the TLS certificate") != std::string::npos; },
                         10s))
      << broker_->output();
  ClientOptions new_ca = tls_options();
  new_ca.tls.ca_file = write_ca("other-ca.pem", other_ca_);
  EXPECT_TRUE(Admin::connect(new_ca).ok()) << "new connections get the new certificate";
  EXPECT_FALSE(Admin::connect(old_ca).ok()) << "and no longer the old one";
  EXPECT_TRUE((*before)->list_topics().ok()) << "the connection opened before the reload goes on";

  // A broken file is refused and the certificate in use stays.
  write_text_file(server_key_, "not a key");
  broker_->signal(SIGHUP);
  ASSERT_TRUE(eventually([&] { return broker_->output().find("TLS reload failed") != std::string::npos; }, 10s))
      << broker_->output();
  EXPECT_NE(broker_->output().find(server_key_), std::string::npos) << "the failure names the file";
  EXPECT_TRUE(Admin::connect(new_ca).ok());
}

TEST_F(TlsTest, BadTlsFlagsAndFilesStopTheStartNamingThem) {
  const std::string data = dir_.sub("data");
  const auto [cert, key] = write_pair("server", ca_.issue_server());
  const auto [other_cert, other_key] = write_pair("other", ca_.issue_server());
  const auto [old_cert, old_key] = write_pair("old", ca_.issue_server(-2 * 86400, -86400));
  const std::string ca = write_ca("ca.pem", ca_);
  const std::string garbage = dir_.sub("garbage.pem");
  write_text_file(garbage, "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n");
  struct Case {
    std::vector<std::string> flags;
    int exit_code;
    std::string says;
  };
  const std::vector<Case> cases{
      {{"--tls-cert", cert}, 2, "--tls-cert and --tls-key go together"},
      {{"--tls-ca", ca}, 2, "need --tls-cert and --tls-key"},
      {{"--tls-cert", cert, "--tls-key", key, "--tls-client-auth", "require"}, 2, "needs --tls-ca"},
      {{"--tls-cert", cert, "--tls-key", key, "--tls-client-auth", "sometimes"}, 2, "--tls-client-auth"},
      {{"--tls-cert", cert, "--tls-key", dir_.sub("missing.pem")}, 2, "missing.pem"},
      {{"--tls-cert", cert, "--tls-key", other_key}, 1, "does not belong to the certificate"},
      {{"--tls-cert", old_cert, "--tls-key", old_key}, 1, "expired"},
      {{"--tls-cert", garbage, "--tls-key", key}, 1, "garbage.pem"},
      {{"--tls-cert", cert, "--tls-key", cert}, 1, "holds no unencrypted PEM private key"},
  };
  for (const auto& c : cases) {
    std::vector<std::string> args{"--listen", "127.0.0.1:0", "--registry-listen", "off", "--admin-listen", "off",
                                  "--data-dir", data};
    args.insert(args.end(), c.flags.begin(), c.flags.end());
    DaemonProcess broker(CAUSEWAY_BROKER_BINARY, args);
    const auto status = broker.wait_exit(30s);
    ASSERT_TRUE(status.has_value()) << c.says;
    EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == c.exit_code) << c.says << "\n" << broker.output();
    EXPECT_NE(broker.output().find(c.says), std::string::npos) << broker.output();
  }
}

TEST_F(TlsTest, EmbeddedRegistryServesHttpsAndAnswersPlainHttpClearly) {
  port_ = pick_free_port();
  std::tie(server_cert_, server_key_) = write_pair("server", ca_.issue_server());
  broker_ = std::make_unique<DaemonProcess>(
      CAUSEWAY_BROKER_BINARY,
      std::vector<std::string>{"--listen", "127.0.0.1:" + std::to_string(port_), "--registry-listen", "127.0.0.1:0",
                               "--admin-listen", "off", "--data-dir", dir_.sub("data"), "--tls-cert", server_cert_,
                               "--tls-key", server_key_});
  ASSERT_TRUE(broker_->wait_for_output("causeway-broker ready", 30s)) << broker_->output();
  const std::string out = broker_->output();
  const std::string said = "registry listening on https://127.0.0.1:";
  const size_t at = out.find(said);
  ASSERT_NE(at, std::string::npos) << out;
  const int registry_port = std::atoi(out.c_str() + at + said.size());
  const std::string url = "https://127.0.0.1:" + std::to_string(registry_port);
  const std::string ca = write_ca("ca.pem", ca_);

  RegistryClientOptions ro;
  ro.url = url;
  ro.ca_file = ca;
  auto registry = RegistryClient::create(ro);
  ASSERT_TRUE(registry.ok());
  auto registered = (*registry)->register_schema("orders-value", "table Order { id: ulong; }\nroot_type Order;", "Order");
  ASSERT_TRUE(registered.ok()) << registered.status().to_string();

  ro.ca_file = write_ca("other-ca.pem", other_ca_);
  auto untrusted = RegistryClient::create(ro);
  ASSERT_TRUE(untrusted.ok());
  EXPECT_FALSE((*untrusted)->list_subjects().ok()) << "a registry certificate from an unknown CA is refused";

  httplib::Client plain("127.0.0.1", registry_port);
  plain.set_read_timeout(10, 0);
  auto answer = plain.Get("/subjects");
  ASSERT_TRUE(answer) << httplib::to_string(answer.error());
  EXPECT_EQ(answer->status, 400);
  EXPECT_NE(answer->body.find("HTTPS"), std::string::npos) << answer->body;

  // The CLI takes the same CA for the broker and an https:// registry.
  const auto listed = causeway::testing::run_cli({"--broker", "127.0.0.1:" + std::to_string(port_), "--tls-ca", ca,
                                                  "schema", "list", "--registry", url});
  EXPECT_EQ(listed.exit_code, 0) << listed.output;
  EXPECT_NE(listed.output.find("orders-value"), std::string::npos) << listed.output;
}

TEST_F(TlsTest, StandaloneRegistryServesHttpsWithTheSameFlags) {
  const auto [cert, key] = write_pair("server", ca_.issue_server());
  DaemonProcess registry(CAUSEWAY_REGISTRY_BINARY,
                         {"--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--data-dir", dir_.sub("registry"),
                          "--tls-cert", cert, "--tls-key", key, "--tls-ca", write_ca("ca.pem", ca_)});
  ASSERT_TRUE(registry.wait_for_output("causeway-registry ready", 30s)) << registry.output();
  const std::string out = registry.output();
  const std::string said = "registry listening on https://127.0.0.1:";
  const size_t at = out.find(said);
  ASSERT_NE(at, std::string::npos) << out;
  RegistryClientOptions ro;
  ro.url = "https://127.0.0.1:" + std::to_string(std::atoi(out.c_str() + at + said.size()));
  ro.ca_file = dir_.sub("ca.pem");
  auto without_cert = RegistryClient::create(ro);
  ASSERT_TRUE(without_cert.ok());
  // Refused after the client's TLS 1.3 handshake is done, so its request write can meet a
  // closed socket: repeated, this ended the test process with SIGPIPE before RegistryClient
  // blocked SIGPIPE around its requests.
  for (int i = 0; i < 30; ++i) {
    auto refused = (*without_cert)->list_subjects();
    ASSERT_FALSE(refused.ok()) << "mTLS: a client without a certificate is refused";
    EXPECT_EQ(refused.status().code(), Code::kUnavailable) << refused.status().to_string();
  }
  std::tie(ro.cert_file, ro.key_file) = write_pair("client", ca_.issue_client("schema-admin"));
  auto with_cert = RegistryClient::create(ro);
  ASSERT_TRUE(with_cert.ok());
  auto subjects = (*with_cert)->list_subjects();
  EXPECT_TRUE(subjects.ok()) << subjects.status().to_string();
  EXPECT_TRUE(causeway::testing::stops_cleanly(registry));
}

}  // namespace
}  // namespace causeway::client
