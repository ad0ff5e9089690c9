// File: admin/admin_server.h
//
// The broker's admin HTTP port (docs/operations.md): GET /metrics (Prometheus text
// exposition 0.0.4, admin/metrics.h), /healthz (the process serves HTTP) and /readyz (the
// broker takes requests: between its start and the beginning of its stop). Served by
// cpp-httplib on a few threads of its own; requests have no bodies, so anything else is
// refused before it is read.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "admin/metrics.h"
#include "causeway/common/status.h"

namespace httplib {
class Server;
}

namespace causeway::admin {

class AdminServer {
 public:
  // Binds host:port (0 picks a free port) and starts serving. kIOError naming the address
  // when it cannot bind.
  static Result<std::unique_ptr<AdminServer>> start(const std::string& host, uint16_t port, BrokerMetrics& metrics);
  ~AdminServer();  // stops
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  uint16_t port() const { return port_; }
  // http://HOST:PORT
  std::string url() const;
  void set_ready(bool ready) { ready_.store(ready); }
  void stop();

 private:
  AdminServer(std::string host, BrokerMetrics& metrics);
  const std::string host_;
  BrokerMetrics& metrics_;
  std::unique_ptr<httplib::Server> http_;
  std::thread thread_;
  uint16_t port_ = 0;
  std::atomic<bool> ready_{false};
};

}  // namespace causeway::admin
