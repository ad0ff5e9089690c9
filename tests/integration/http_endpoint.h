// File: tests/integration/http_endpoint.h
//
// A scripted HTTP endpoint for the rule-target tests (http_targets_test.cc,
// replay_test.cc): a real cpp-httplib server on 127.0.0.1 and a port chosen at run time,
// which records every request and answers as the test's script says.
#pragma once

#include <httplib.h>

#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace causeway::client::testing_targets {

using Clock = std::chrono::steady_clock;

// A request the endpoint got.
struct Received {
  std::string key;  // Idempotency-Key
  std::string body;
  std::string content_type;
  std::map<std::string, std::string> headers;
  Clock::time_point at;
};

// What the endpoint answers to a request: status, body, extra headers.
struct Answer {
  int status = 200;
  std::string body = "ok";
  std::map<std::string, std::string> headers;
};

// An HTTP endpoint on 127.0.0.1 and a port chosen at run time. `script` decides each
// answer from the request and how many times its Idempotency-Key came before (0 the
// first time). Thread-safe.
class Endpoint {
 public:
  using Script = std::function<Answer(const Received&, int seen_before)>;
  explicit Endpoint(Script script) : script_(std::move(script)) {
    server_.Post(".*", [this](const httplib::Request& req, httplib::Response& res) {
      Received r;
      r.key = req.get_header_value("Idempotency-Key");
      r.body = req.body;
      r.content_type = req.get_header_value("Content-Type");
      for (const auto& [name, value] : req.headers) r.headers.emplace(name, value);
      r.at = Clock::now();
      int seen = 0;
      {
        std::lock_guard lk(mu_);
        seen = seen_[r.key]++;
        received_.push_back(r);
      }
      const Answer a = script_(r, seen);
      res.status = a.status;
      for (const auto& [name, value] : a.headers) res.set_header(name, value);
      res.set_content(a.body, "text/plain");
      if (a.status >= 200 && a.status < 300) {
        std::lock_guard lk(mu_);
        ++acked_[r.key];
      }
    });
    // The broker keeps its connections open; a short keep-alive lets the destructor's
    // stop() end them within a second instead of the default five.
    server_.set_keep_alive_timeout(1);
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
  }
  ~Endpoint() {
    server_.stop();
    thread_.join();
  }
  std::string url(const std::string& path = "/events") const { return "http://127.0.0.1:" + std::to_string(port_) + path; }
  std::vector<Received> received() const {
    std::lock_guard lk(mu_);
    return received_;
  }
  // Keys answered 2xx, with how many times.
  std::map<std::string, int> acked() const {
    std::lock_guard lk(mu_);
    return acked_;
  }

 private:
  Script script_;
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  mutable std::mutex mu_;
  std::vector<Received> received_;
  std::map<std::string, int> seen_;
  std::map<std::string, int> acked_;
};

}  // namespace causeway::client::testing_targets
