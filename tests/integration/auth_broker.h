// A real causeway-broker for the token and ACL tests (acl_test.cc, registry_acl_test.cc): on a
// port picked at run time (kept across restarts), with its admin port and, when asked, its
// embedded registry on ports 0 (their URLs read from the log), a superuser "root" by default,
// and the helpers every such test needs: client options carrying a token, tokens made by the
// superuser, ACLs added by the superuser.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "causeway/client/admin.h"
#include "tests/integration/daemon_process.h"
#include "tests/support/temp_dir.h"
#include "tests/support/waiting.h"

namespace causeway::testing {

class AuthBrokerTest : public ::testing::Test {
 protected:
  void TearDown() override {
    if (broker_) {
      EXPECT_TRUE(stops_cleanly(*broker_));
    }
  }

  // `registry_listen`: "off", or an address for the embedded registry (127.0.0.1:0).
  void start_broker(std::vector<std::string> extra = {"--superuser", "root"},
                    const std::string& registry_listen = "off") {
    if (port_ == 0) port_ = pick_free_port();
    std::vector<std::string> args{"--listen",       "127.0.0.1:" + std::to_string(port_),
                                  "--registry-listen", registry_listen,
                                  "--admin-listen", "127.0.0.1:0",
                                  "--data-dir",     dir_.sub("data")};
    args.insert(args.end(), extra.begin(), extra.end());
    broker_ = std::make_unique<DaemonProcess>(CAUSEWAY_BROKER_BINARY, args);
    ASSERT_TRUE(broker_->wait_for_output("causeway-broker ready", std::chrono::seconds(30))) << broker_->output();
    registry_url_ = logged_url("registry listening on ");
    admin_url_ = logged_url("admin listening on ");
  }
  void restart_broker(std::vector<std::string> extra = {"--superuser", "root"},
                      const std::string& registry_listen = "off") {
    ASSERT_TRUE(stops_cleanly(*broker_));
    broker_.reset();
    start_broker(std::move(extra), registry_listen);
  }

  std::string broker_address() const { return "127.0.0.1:" + std::to_string(port_); }
  client::ClientOptions as(const std::string& token) const {
    client::ClientOptions o;
    o.broker = broker_address();
    o.client_name = ::testing::UnitTest::GetInstance()->current_test_suite()->name();
    o.token = token;
    return o;
  }
  // Before the first ACL anyone may create tokens: makes root's token and root_ with it.
  void bootstrap_root(client::ClientOptions base) {
    base.token.clear();
    auto bootstrap = client::Admin::connect(base);
    ASSERT_TRUE(bootstrap.ok()) << bootstrap.status().to_string();
    auto root = (*bootstrap)->create_token("root", "the superuser");
    ASSERT_TRUE(root.ok()) << root.status().to_string();
    root_token_ = root->token;
    base.token = root_token_;
    auto admin = client::Admin::connect(base);
    ASSERT_TRUE(admin.ok()) << admin.status().to_string();
    root_ = std::move(*admin);
  }
  // A token for `principal`, made by root.
  std::string token_for(const std::string& principal) {
    auto t = root_->create_token(principal, "test");
    EXPECT_TRUE(t.ok()) << t.status().to_string();
    return t.ok() ? t->token : "";
  }
  // `name` is a topic, or a subject for the registry operations.
  void allow(const std::string& principal, client::AclOperation op, const std::string& name, bool prefix = false) {
    auto added = root_->add_acl(client::AclEntry{principal, op, name, prefix});
    ASSERT_TRUE(added.ok()) << added.status().to_string();
  }

  TempDir dir_;
  uint16_t port_ = 0;
  std::unique_ptr<DaemonProcess> broker_;
  std::string registry_url_;  // "http(s)://127.0.0.1:PORT"; empty without the registry
  std::string admin_url_;     // "http://127.0.0.1:PORT"
  std::string root_token_;
  std::unique_ptr<client::Admin> root_;

 private:
  // The URL a "<marker>URL ..." log line gives; empty when there is none.
  std::string logged_url(const std::string& marker) const {
    const std::string out = broker_->output();
    const size_t at = out.find(marker);
    if (at == std::string::npos) return "";
    const size_t start = at + marker.size();
    return out.substr(start, out.find_first_of(" \n", start) - start);
  }
};

}  // namespace causeway::testing
