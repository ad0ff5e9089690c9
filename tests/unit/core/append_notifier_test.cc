// AppendNotifier (broker/src/core/append_notifier.h): replacing the listener waits for
// notifications still running the old one, so that a listener's owner may be destroyed
// right after set(nullptr) returns.
#include "core/append_notifier.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <thread>

namespace causeway::core {
namespace {

TEST(AppendNotifier, SetNullWaitsForNotificationsRunningTheOldListener) {
  AppendNotifier n;
  std::promise<void> entered;
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  n.set([&](std::string_view, uint32_t, uint64_t) {
    entered.set_value();
    released.wait();
  });
  std::thread notifier([&] { n.notify("t", 0, 1); });
  entered.get_future().wait();
  std::atomic<bool> set_returned{false};
  std::thread remover([&] {
    n.set(nullptr);
    set_returned = true;
  });
  // The listener is still running: set(nullptr) must not return. Without the wait it
  // returns at once; watch it for 200 ms (a negative needs a bound; a broken wait fails at
  // once rather than after the bound).
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(200);
  while (std::chrono::steady_clock::now() < until && !set_returned.load()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  EXPECT_FALSE(set_returned.load());
  release.set_value();
  remover.join();
  notifier.join();
  EXPECT_TRUE(set_returned.load());
}

}  // namespace
}  // namespace causeway::core
