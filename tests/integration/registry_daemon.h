// A running causeway-registry for integration tests: started on 127.0.0.1 port 0 with its own
// data directory (and its admin port on another port 0 unless `extra` says --admin-listen),
// its URLs read from the `registry listening on http://HOST:PORT` and `admin listening on`
// lines, and
// a raw HTTP helper (cpp-httplib) for the requests RegistryClient would never send.
#pragma once

#include <gtest/gtest.h>
#include <httplib.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "tests/integration/daemon_process.h"

namespace causeway::testing {

inline const std::string kRegistryBinary = CAUSEWAY_REGISTRY_BINARY;

class RegistryDaemon {
 public:
  // `listen` is 127.0.0.1:0 unless a test restarts a registry on the port it had.
  explicit RegistryDaemon(const std::string& data_dir, std::vector<std::string> extra = {},
                          const std::string& listen = "127.0.0.1:0") {
    std::vector<std::string> args = {"--listen", listen, "--data-dir", data_dir};
    if (std::find(extra.begin(), extra.end(), "--admin-listen") == extra.end()) {
      args.insert(args.end(), {"--admin-listen", "127.0.0.1:0"});
    }
    args.insert(args.end(), extra.begin(), extra.end());
    process_ = std::make_unique<DaemonProcess>(kRegistryBinary, args);
    const std::string marker = "registry listening on http://";
    if (!process_->wait_for_output(marker, std::chrono::seconds(30))) return;
    // Read on until the end of that line, so the port is complete.
    process_->wait_for_output("ready", std::chrono::seconds(30));
    const std::string& out = process_->output();
    const auto at = out.find(marker) + marker.size();
    const auto end = out.find_first_of(" \n", at);
    url_ = "http://" + out.substr(at, end - at);
    const std::string admin = "admin listening on ";
    if (const auto a = out.find(admin); a != std::string::npos) {
      admin_url_ = out.substr(a + admin.size(), out.find_first_of(" \n", a + admin.size()) - a - admin.size());
    }
  }
  bool started() const { return !url_.empty(); }
  const std::string& url() const { return url_; }
  // "http://127.0.0.1:PORT" of the admin port; empty when it is off.
  const std::string& admin_url() const { return admin_url_; }
  DaemonProcess& process() { return *process_; }

  // Sends SIGTERM and returns the exit code, or -1 if it did not exit normally in time.
  int stop() {
    process_->signal(SIGTERM);
    auto status = process_->wait_exit(std::chrono::seconds(30));
    if (!status || !WIFEXITED(*status)) return -1;
    return WEXITSTATUS(*status);
  }

 private:
  std::unique_ptr<DaemonProcess> process_;
  std::string url_;
  std::string admin_url_;
};

struct HttpReply {
  int status = 0;  // 0: no answer
  std::string content_type;
  std::string body;
  nlohmann::json json() const { return nlohmann::json::parse(body, nullptr, false); }
  int error_code() const {
    const auto j = json();
    return j.is_object() && j.contains("error_code") ? j["error_code"].get<int>() : 0;
  }
  std::string message() const {
    const auto j = json();
    return j.is_object() ? j.value("message", "") : "";
  }
};

inline HttpReply http(const std::string& url, const std::string& method, const std::string& path,
                      const std::string& body = {},
                      const std::string& content_type = "application/vnd.schemaregistry.v1+json") {
  httplib::Client c(url);
  c.set_read_timeout(30, 0);
  c.set_write_timeout(30, 0);
  httplib::Result r = [&] {
    if (method == "GET") return c.Get(path);
    if (method == "POST") return c.Post(path, body, content_type.c_str());
    if (method == "PUT") return c.Put(path, body, content_type.c_str());
    if (method == "PATCH") return c.Patch(path, body, content_type.c_str());
    return c.Delete(path);
  }();
  HttpReply out;
  if (!r) return out;
  out.status = r->status;
  out.content_type = r->get_header_value("Content-Type");
  out.body = r->body;
  return out;
}

inline std::string schema_body(const std::string& fbs, const std::string& root_type = "") {
  nlohmann::json j = {{"schema", fbs}, {"schemaType", "FLATBUFFERS"}};
  if (!root_type.empty()) j["rootType"] = root_type;
  return j.dump();
}

}  // namespace causeway::testing
