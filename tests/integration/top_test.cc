// `causeway top` (docs/client.md, "causeway top") in a real terminal: run under tmux (its
// own server on a socket in the test's directory), against the real broker while a
// publisher keeps writing. The screen shows the topics and groups with moving numbers, and
// the view quits cleanly on `q` and on Ctrl-C; `--once` prints one view for scripts.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <atomic>
#include <chrono>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "causeway/client/admin.h"
#include "causeway/client/publisher.h"
#include "tests/integration/cli_run.h"
#include "tests/integration/daemon_process.h"
#include "tests/integration/target_fixture.h"
#include "tests/support/waiting.h"

namespace causeway::client {
namespace {

using namespace std::chrono_literals;
using causeway::testing::DaemonProcess;
using causeway::testing::eventually;

// The END OFFSET column of `topic`'s row on a screen of `causeway top`, or -1.
long long end_offset_on(const std::string& screen, const std::string& topic) {
  std::istringstream in(screen);
  for (std::string line; std::getline(in, line);) {
    std::istringstream row(line);
    std::string name;
    long long parts = 0, end = 0;
    if (row >> name >> parts >> end && name == topic) return end;
  }
  return -1;
}

class TopTest : public testing_targets::TargetBrokerTest {
 protected:
  TopTest() : TargetBrokerTest("top_test") {}

  void SetUp() override {
    TargetBrokerTest::SetUp();
    socket_ = dir_.sub("tmux.sock");
    create_topic("orders", 2);
    SubscriptionSpec sub;
    sub.name = "billing";
    sub.topic = "orders";
    sub.start = StartPosition::earliest();
    ASSERT_TRUE(admin()->create_subscription(sub).ok());
    publisher_ = std::thread([this] {
      auto p = Publisher::connect(options_);
      if (!p) return;
      for (int i = 0; !stop_.load() && i < 100000; ++i) {
        Event e;
        e.key = "k" + std::to_string(i);
        e.payload = "x";
        (void)(*p)->publish("orders", e).get();
        std::this_thread::sleep_for(5ms);
      }
    });
  }
  void TearDown() override {
    stop_.store(true);
    if (publisher_.joinable()) publisher_.join();
    (void)tmux({"kill-server"});  // our own server, on our own socket
    TargetBrokerTest::TearDown();
  }

  // Runs tmux against this test's server; its exit code (-1 when it did not end).
  int tmux(std::vector<std::string> args, std::string* output = nullptr) {
    args.insert(args.begin(), {"-S", socket_});
    DaemonProcess p("/usr/bin/tmux", args);
    const auto status = p.wait_exit(20s);
    if (output != nullptr) *output = p.output();
    return status && WIFEXITED(*status) ? WEXITSTATUS(*status) : -1;
  }
  std::string screen() {
    std::string out;
    (void)tmux({"capture-pane", "-p", "-t", "top"}, &out);
    return out;
  }
  void start_top() {
    const std::string command = std::string(CAUSEWAY_CLI_BINARY) + " --broker " + options_.broker + " top --interval 300ms";
    ASSERT_EQ(tmux({"new-session", "-d", "-s", "top", "-x", "160", "-y", "40", command}), 0);
  }
  bool session_ended() {
    return eventually([&] { return tmux({"has-session", "-t", "top"}) != 0; }, 10s);
  }

  std::string socket_;
  std::atomic<bool> stop_{false};
  std::thread publisher_;
};

TEST_F(TopTest, ShowsTopicsAndGroupsWithMovingNumbersAndQuitsOnQ) {
  ASSERT_NO_FATAL_FAILURE(start_top());
  std::string first;
  ASSERT_TRUE(eventually(
      [&] {
        first = screen();
        return end_offset_on(first, "orders") > 0 && first.find("billing") != std::string::npos;
      },
      20s))
      << first;
  EXPECT_NE(first.find("causeway top  broker " + options_.broker), std::string::npos) << first;
  EXPECT_NE(first.find("EVENTS/S"), std::string::npos) << first;
  EXPECT_NE(first.find("LAG"), std::string::npos) << first;
  std::string later;
  ASSERT_TRUE(eventually(
      [&] {
        later = screen();
        return end_offset_on(later, "orders") > end_offset_on(first, "orders");
      },
      20s))
      << first << "\n---\n" << later;
  EXPECT_EQ(tmux({"send-keys", "-t", "top", "q"}), 0);
  EXPECT_TRUE(session_ended()) << screen();
}

TEST_F(TopTest, CtrlCQuitsToo) {
  ASSERT_NO_FATAL_FAILURE(start_top());
  ASSERT_TRUE(eventually([&] { return screen().find("orders") != std::string::npos; }, 20s)) << screen();
  EXPECT_EQ(tmux({"send-keys", "-t", "top", "C-c"}), 0);
  EXPECT_TRUE(session_ended()) << screen();
}

TEST_F(TopTest, OncePrintsOneViewForScripts) {
  ASSERT_TRUE(eventually([&] { return !read_all("orders").empty(); }, 10s));
  auto r = testing::run_cli({"--broker", options_.broker, "top", "--once", "--interval", "200ms"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_GT(end_offset_on(r.output, "orders"), 0) << r.output;
  EXPECT_NE(r.output.find("billing"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("\x1b["), std::string::npos) << "no screen control in --once output";
  auto bad = testing::run_cli({"--broker", options_.broker, "top", "--interval", "soon"});
  EXPECT_EQ(bad.exit_code, 2) << bad.output;
}

}  // namespace
}  // namespace causeway::client
