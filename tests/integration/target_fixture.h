// File: tests/integration/target_fixture.h
//
// What the rule-target tests (targets_test.cc, http_targets_test.cc) share: a real
// causeway-broker on a loopback port chosen at run time, with short group session and
// sweep intervals so that retries and redeliveries happen within a test; an Admin; and
// reading a whole topic back. The test target defines CAUSEWAY_BROKER_BINARY.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "causeway/client/admin.h"
#include "tests/integration/daemon_process.h"
#include "tests/support/temp_dir.h"
#include "tests/support/waiting.h"

namespace causeway::client::testing_targets {

inline std::string header(const FetchedEvent& e, const std::string& name) {
  for (const auto& h : e.headers)
    if (h.name == name) return h.value;
  return "";
}

class TargetBrokerTest : public ::testing::Test {
 protected:
  explicit TargetBrokerTest(std::string client_name) : client_name_(std::move(client_name)) {}

  void SetUp() override {
    port_ = causeway::testing::pick_free_port();
    start_broker();
  }
  void TearDown() override {
    if (broker_) {
      EXPECT_TRUE(causeway::testing::stops_cleanly(*broker_));
    }
    broker_.reset();
  }

  void start_broker() {
    using namespace std::chrono_literals;
    std::vector<std::string> flags{"--listen",       "127.0.0.1:" + std::to_string(port_),
                                   "--registry-listen", "off",
                                   "--data-dir",     dir_.sub("data"),
                                   "--group-session-timeout", "1s",
                                   "--subscribe-sweep-interval", "20ms"};
    broker_ = std::make_unique<causeway::testing::DaemonProcess>(CAUSEWAY_BROKER_BINARY, flags);
    ASSERT_TRUE(broker_->wait_for_output("listening on ", 30s)) << broker_->output();
    options_.broker = "127.0.0.1:" + std::to_string(port_);
    options_.client_name = client_name_;
    options_.connect_timeout = 2s;
    options_.request_timeout = 10s;
  }

  std::unique_ptr<Admin> admin() {
    auto a = Admin::connect(options_);
    EXPECT_TRUE(a.ok()) << a.status().to_string() << "\n" << broker_->output();
    return a ? std::move(*a) : nullptr;
  }

  void create_topic(const std::string& name, uint32_t partitions) {
    TopicSpec spec;
    spec.name = name;
    spec.partitions = partitions;
    auto r = admin()->create_topic(spec);
    ASSERT_TRUE(r.ok()) << r.status().to_string();
  }

  // Every event of every partition of `topic`; any failure fails the test.
  std::vector<FetchedEvent> read_all(const std::string& topic) { return read(topic, false); }
  // The same, for a topic the broker creates when it first needs it (a default dead-letter
  // topic): until then it is empty.
  std::vector<FetchedEvent> read_all_once_created(const std::string& topic) { return read(topic, true); }

  causeway::testing::TempDir dir_;
  uint16_t port_ = 0;
  std::unique_ptr<causeway::testing::DaemonProcess> broker_;
  ClientOptions options_;

 private:
  std::vector<FetchedEvent> read(const std::string& topic, bool may_be_absent) {
    std::vector<FetchedEvent> out;
    auto a = admin();
    auto t = a->describe_topic(topic);
    if (!t && may_be_absent && t.status().code() == Code::kNotFound) return out;
    EXPECT_TRUE(t.ok()) << t.status().to_string();
    if (!t) return out;
    for (uint32_t p = 0; p < t->partitions.size(); ++p) {
      uint64_t offset = 0;
      for (;;) {
        auto r = a->fetch(topic, p, offset);
        EXPECT_TRUE(r.ok()) << r.status().to_string();
        if (!r || r->events.empty()) break;
        for (auto& e : r->events) out.push_back(std::move(e));
        offset = r->next_offset;
      }
    }
    return out;
  }

  const std::string client_name_;
};

}  // namespace causeway::client::testing_targets
