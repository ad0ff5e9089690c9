// File: causeway/admin/admin_server.h
//
// A daemon's admin HTTP port (docs/operations.md), shared by causeway-broker and
// causeway-registry: GET /metrics (Prometheus text exposition 0.0.4, from the daemon's
// `scrape` function), /healthz (the process serves HTTP) and /readyz (the daemon takes
// requests: between its start and the beginning of its stop). Served by cpp-httplib on a few
// threads of its own; requests have no bodies, so anything else is refused before it is read.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "causeway/common/status.h"

namespace httplib {
class Server;
}

namespace causeway::admin {

class AdminServer {
 public:
  // Everything the daemon measures, in Prometheus text exposition 0.0.4; called per scrape,
  // from the admin threads.
  using Scrape = std::function<std::string()>;
  // Binds host:port (0 picks a free port) and starts serving. `daemon` names it in /readyz's
  // answer ("the broker"). kIOError naming the address when it cannot bind.
  static Result<std::unique_ptr<AdminServer>> start(const std::string& host, uint16_t port, Scrape scrape,
                                                    std::string daemon);
  // The daemons' --admin-listen policy: starts and marks ready; an address given on the
  // command line (`given`) must bind, or the error (naming the flag) comes back for the
  // daemon to exit with; a default address that is taken (a second daemon on the machine, a
  // test run) is logged as a warning and the daemon runs without its admin port (null).
  static Result<std::unique_ptr<AdminServer>> start_for_daemon(const std::string& host, uint16_t port, bool given,
                                                               Scrape scrape, std::string daemon);
  ~AdminServer();  // stops
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  uint16_t port() const { return port_; }
  // http://HOST:PORT
  std::string url() const;
  void set_ready(bool ready) { ready_.store(ready); }
  void stop();

 private:
  AdminServer(std::string host, Scrape scrape, std::string daemon);
  const std::string host_;
  const Scrape scrape_;
  const std::string daemon_;
  std::unique_ptr<httplib::Server> http_;
  std::thread thread_;
  uint16_t port_ = 0;
  std::atomic<bool> ready_{false};
  std::atomic<bool> listen_returned_{false};  // the listening thread is done
};

}  // namespace causeway::admin
