// AdminServer (causeway/admin/admin_server.h): a stop right after start returns. httplib's
// stop() does nothing until the listening thread has marked itself running, so a daemon that
// got SIGTERM as soon as it said "ready" hung for ever in the join (seen as a broker not
// exiting within 30 s of SIGTERM in BrokerDaemon tests, 2 in 600 start/stop rounds).
#include "causeway/admin/admin_server.h"

#include <gtest/gtest.h>

#include <chrono>
#include <future>

namespace causeway::admin {
namespace {

TEST(AdminServer, StopRightAfterStartReturns) {
  for (int i = 0; i < 200; ++i) {
    auto server = AdminServer::start("127.0.0.1", 0, [] { return std::string(); }, "test");
    ASSERT_TRUE(server.ok()) << server.error().to_string();
    // Stopped from another thread so that a hang fails this test instead of the whole run.
    auto stopped = std::async(std::launch::async, [s = std::move(*server)]() mutable { s->stop(); });
    ASSERT_EQ(stopped.wait_for(std::chrono::seconds(10)), std::future_status::ready) << "round " << i;
  }
}

}  // namespace
}  // namespace causeway::admin
