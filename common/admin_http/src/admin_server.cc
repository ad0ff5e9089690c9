// See causeway/admin/admin_server.h and docs/operations.md.
#include "causeway/admin/admin_server.h"

#include <httplib.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <thread>

#include "causeway/common/listen_address.h"

namespace causeway::admin {

AdminServer::AdminServer(std::string host, Scrape scrape, std::string daemon)
    : host_(std::move(host)),
      scrape_(std::move(scrape)),
      daemon_(std::move(daemon)),
      http_(std::make_unique<httplib::Server>()) {}

Result<std::unique_ptr<AdminServer>> AdminServer::start(const std::string& host, uint16_t port, Scrape scrape,
                                                        std::string daemon) {
  std::unique_ptr<AdminServer> s(new AdminServer(host, std::move(scrape), std::move(daemon)));
  httplib::Server& http = *s->http_;
  // Scrapes and probes are small and quick: bound what a client can make the port hold.
  http.set_payload_max_length(4096);
  http.set_socket_options(causeway::set_listen_socket_options);  // a taken port fails to bind
  http.set_read_timeout(5, 0);
  http.set_write_timeout(5, 0);
  http.set_keep_alive_timeout(5);
  http.new_task_queue = [] { return new httplib::ThreadPool(2); };
  AdminServer* self = s.get();
  http.Get("/metrics", [self](const httplib::Request&, httplib::Response& res) {
    res.set_content(self->scrape_(), "text/plain; version=0.0.4; charset=utf-8");
  });
  http.Get("/healthz", [](const httplib::Request&, httplib::Response& res) { res.set_content("ok\n", "text/plain"); });
  http.Get("/readyz", [self](const httplib::Request&, httplib::Response& res) {
    if (self->ready_.load()) {
      res.set_content("ready\n", "text/plain");
    } else {
      res.status = 503;
      res.set_content("not ready: " + self->daemon_ + " is starting or stopping\n", "text/plain");
    }
  });
  const int bound = port == 0 ? http.bind_to_any_port(host) : (http.bind_to_port(host, port) ? port : -1);
  if (bound <= 0) {
    return io_error("cannot listen on " + host + ":" + std::to_string(port) +
                    " for the admin port (in use, or not an address of this machine)");
  }
  s->port_ = static_cast<uint16_t>(bound);
  s->thread_ = std::thread([self] {
    self->http_->listen_after_bind();
    self->listen_returned_.store(true);
  });
  return s;
}

Result<std::unique_ptr<AdminServer>> AdminServer::start_for_daemon(const std::string& host, uint16_t port, bool given,
                                                                   Scrape scrape, std::string daemon) {
  auto started = start(host, port, std::move(scrape), std::move(daemon));
  if (started) {
    (*started)->set_ready(true);
    return started;
  }
  if (given) {
    return Status(started.error().code(), started.error().reason(),
                  std::string(started.error().message()) + " (choose another --admin-listen, or --admin-listen off)");
  }
  spdlog::warn("{}: running without metrics and health checks; pass --admin-listen HOST:PORT (port 0 picks a free "
               "one) to serve them",
               started.error().message());
  return std::unique_ptr<AdminServer>();
}

AdminServer::~AdminServer() { stop(); }

void AdminServer::stop() {
  ready_.store(false);
  if (!thread_.joinable()) return;
  // httplib's stop() does nothing until the listening thread has marked itself running, so
  // a stop right after start (SIGTERM as soon as the daemon said "ready") left that thread
  // in accept() for ever and the daemon hung on this join. Stop it once it runs (it marks
  // itself running before its first accept), or not at all if it already returned.
  while (!listen_returned_.load()) {
    if (http_->is_running()) {
      http_->stop();
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  thread_.join();
}

std::string AdminServer::url() const {
  const bool v6 = host_.find(':') != std::string::npos;
  return "http://" + (v6 ? "[" + host_ + "]" : host_) + ":" + std::to_string(port_);
}

}  // namespace causeway::admin
