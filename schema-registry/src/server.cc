// RegistryServer: cpp-httplib in front of rest::handle_request. Contract:
// causeway/registry/server.h; API: docs/registry.md.
//
// Every method on every path goes to one dispatcher (httplib's routes are regexes; ours are
// split by '/' in rest_api.cc). httplib reads bodies only up to max_body_bytes: a longer one
// is skipped and answered 413, and the error handler turns httplib's own error statuses
// into our JSON error bodies.
#include "causeway/registry/server.h"

#include <httplib.h>
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>
#include <spdlog/spdlog.h>

#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <exception>
#include <optional>
#include <string_view>
#include <thread>

#include "causeway/common/listen_address.h"
#include "causeway/tls/server_tls.h"

#include "rest_api.h"

namespace causeway::registry {

namespace {

const prometheus::Histogram::BucketBoundaries kRequestBuckets = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                                                 0.01,   0.025,   0.05,   0.1,   0.25,   0.5,
                                                                 1.0,    2.5,     5.0};

// The label of a method: the four the API has, or "other" (bounded label values).
const char* method_label(const std::string& m) {
  if (m == "GET") return "GET";
  if (m == "POST") return "POST";
  if (m == "PUT") return "PUT";
  if (m == "DELETE") return "DELETE";
  return "other";
}

// The registry's own metrics (docs/operations.md, "Registry metrics"), counted as requests are
// answered; the broker adds them to its /metrics, causeway-registry serves them on its admin port.
class Metrics {
 public:
  Metrics()
      : registry_(std::make_shared<prometheus::Registry>()),
        requests_(prometheus::BuildCounter()
                      .Name("causeway_registry_requests_total")
                      .Help("Registry REST requests answered, by method and HTTP status")
                      .Register(*registry_)),
        incompatible_(prometheus::BuildCounter()
                          .Name("causeway_registry_incompatible_schemas_total")
                          .Help("Schemas found incompatible with their subject: registrations refused (409) and "
                                "compatibility checks that answered false")
                          .Register(*registry_)),
        refusals_(prometheus::BuildCounter()
                      .Name("causeway_registry_auth_refusals_total")
                      .Help("Registry requests refused: 401 (credentials refused) or 403 (no ACL allows it)")
                      .Register(*registry_)),
        latency_(prometheus::BuildHistogram()
                     .Name("causeway_registry_request_seconds")
                     .Help("Time to answer a registry REST request, from its parsed headers to its response")
                     .Register(*registry_)
                     .Add({}, kRequestBuckets)),
        subjects_(prometheus::BuildGauge()
                      .Name("causeway_registry_subjects")
                      .Help("Subjects with at least one version that is not deleted")
                      .Register(*registry_)
                      .Add({})),
        register_incompatible_(incompatible_.Add({{"request", "register"}})),
        check_incompatible_(incompatible_.Add({{"request", "check"}})),
        unauthorized_(refusals_.Add({{"reason", "unauthorized"}})),
        forbidden_(refusals_.Add({{"reason", "forbidden"}})) {}

  // `incompatible`: rest::Response::incompatible. `seconds` < 0: not timed (httplib's own
  // error answers).
  void observe(const std::string& method, int status, std::string_view incompatible, double seconds) {
    requests_.Add({{"method", method_label(method)}, {"code", std::to_string(status)}}).Increment();
    if (incompatible == "register") register_incompatible_.Increment();
    if (incompatible == "check") check_incompatible_.Increment();
    if (status == 401) unauthorized_.Increment();
    if (status == 403) forbidden_.Increment();
    if (seconds >= 0) latency_.Observe(seconds);
  }

  std::string text(SchemaStore& store) {
    if (auto subjects = store.list_subjects(false)) subjects_.Set(static_cast<double>(subjects->size()));
    return prometheus::TextSerializer().Serialize(registry_->Collect());
  }

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>& requests_;
  prometheus::Family<prometheus::Counter>& incompatible_;
  prometheus::Family<prometheus::Counter>& refusals_;
  prometheus::Histogram& latency_;
  prometheus::Gauge& subjects_;
  prometheus::Counter& register_incompatible_;
  prometheus::Counter& check_incompatible_;
  prometheus::Counter& unauthorized_;
  prometheus::Counter& forbidden_;
};

// "Authorization: Bearer TOKEN" -> TOKEN; nullopt for another scheme.
std::optional<std::string> bearer_token(const std::string& header) {
  constexpr std::string_view kScheme = "bearer ";
  if (header.size() < kScheme.size()) return std::nullopt;
  for (size_t i = 0; i < kScheme.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(header[i])) != kScheme[i]) return std::nullopt;
  }
  const size_t start = header.find_first_not_of(' ', kScheme.size());
  if (start == std::string::npos) return std::string();
  const size_t end = header.find_last_not_of(' ');
  return header.substr(start, end + 1 - start);
}

}  // namespace

struct RegistryServer::Impl {
  RegistryServerOptions options;
  Metrics metrics;
  std::unique_ptr<SchemaStore> store;
  std::unique_ptr<httplib::Server> http;  // an SSLServer with options.tls
  std::thread loop;
  std::uint16_t port = 0;
  std::mutex stop_mu;  // guards stopped
  bool stopped = false;

  void serve(const httplib::Request& req, httplib::Response& res) {
    const auto started = std::chrono::steady_clock::now();
    rest::Request in;
    in.method = req.method;
    // req.path is already decoded, which would turn a subject's %2F into a separator; take
    // the raw target and let the API split before decoding.
    in.path = req.target.substr(0, req.target.find('?'));
    for (const auto& [k, v] : req.params) in.params.emplace(k, v);
    in.content_type = req.get_header_value("Content-Type");
    in.body = req.body;
    rest::Response out;
    std::unique_ptr<Access> access;
    if (options.authenticator) {
      auto authenticated = authenticate(req);
      if (authenticated && *authenticated == nullptr) {
        authenticated = internal_error("the registry's authenticator answered without an access decision");
      }
      if (authenticated) {
        access = std::move(*authenticated);
      } else if (authenticated.error().code() == Code::kInternal) {
        out = rest::error_response(ErrorCode::kStoreError, std::string(authenticated.error().message()));
      } else {
        out = rest::error_response(ErrorCode::kUnauthorized, std::string(authenticated.error().message()));
        res.set_header("WWW-Authenticate", "Bearer realm=\"causeway\"");
      }
    }
    if (out.status == 200) out = rest::handle_request(*store, in, access.get());
    if (out.status >= 500) spdlog::error("registry: {} {}: {}", req.method, printable(req.path), out.body);
    res.status = out.status;
    res.set_content(out.body, out.content_type.c_str());
    metrics.observe(req.method, out.status, out.incompatible,
                    std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  }

  // The principal of a request: its bearer token, else its verified client certificate.
  Result<std::unique_ptr<Access>> authenticate(const httplib::Request& req) const {
    std::string token;
    if (req.has_header("Authorization")) {
      auto bearer = bearer_token(req.get_header_value("Authorization"));
      if (!bearer || bearer->empty()) {
        return invalid_argument(
            "the Authorization header is not \"Bearer TOKEN\": this registry takes Causeway bearer tokens "
            "(causeway auth token create; docs/security.md)");
      }
      token = std::move(*bearer);
    }
    std::string subject;
    if (req.ssl != nullptr) subject = tls::peer_subject(req.ssl);
    return options.authenticator->authenticate(token, subject);
  }

  // httplib calls this for its own error statuses (400 for a malformed request line, 413,
  // 404...) and for ours; it runs outside httplib's try block, so nothing may escape it.
  void answer_error(const httplib::Request& req, httplib::Response& res) noexcept {
    try {
      if (!res.body.empty()) return;  // one of ours
      metrics.observe(req.method, res.status, {}, -1.0);
      rest::Response out;
      if (res.status == 413) {
        out = rest::error_response(ErrorCode::kPayloadTooLarge, std::string("request body is larger than ") +
                                                                    std::to_string(options.max_body_bytes) +
                                                                    " bytes (causeway-registry --max-body-bytes)");
      } else {
        out = rest::error_response(ErrorCode::kBadRequest, std::string("HTTP ") + std::to_string(res.status) +
                                                               " for " + req.method + " " + req.path);
        out.status = res.status;
      }
      res.set_content(out.body, out.content_type.c_str());
    } catch (...) {
      res.body.clear();  // the status alone still answers
    }
  }

  // The request path for a log line: bytes outside printable ASCII as \xNN.
  static std::string printable(const std::string& s) {
    std::string out;
    for (const char c : s) {
      const auto u = static_cast<unsigned char>(c);
      if (u >= 0x20 && u < 0x7f) {
        out += c;
      } else {
        char hex[5];
        std::snprintf(hex, sizeof hex, "\\x%02X", static_cast<unsigned>(u));
        out += hex;
      }
    }
    return out;
  }
};

RegistryServer::RegistryServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

RegistryServer::~RegistryServer() { stop(); }

Result<std::unique_ptr<RegistryServer>> RegistryServer::start(RegistryServerOptions options) {
  if (options.data_dir.empty()) return invalid_argument("registry data directory is empty");
  if (options.threads == 0) return invalid_argument("registry needs at least one thread");
  if (options.max_body_bytes == 0) return invalid_argument("registry max body bytes must be positive");
  StoreOptions store_options;
  store_options.dir = options.data_dir;
  auto store = SchemaStore::open(store_options);
  if (!store) return store.error().with_context("cannot open the registry store");

  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->store = std::move(*store);
  Impl* self = impl.get();
  const unsigned threads = options.threads;
  if (options.tls) {
    // The certificate is chosen per handshake by options.tls, so a reload reaches new
    // connections; a plaintext request on this port is answered 400 in plain HTTP.
    impl->http = std::make_unique<httplib::SSLServer>([tls = options.tls](SSL_CTX& ctx) {
      tls->configure(&ctx, /*answer_plain_http=*/true);
      return true;
    });
    if (!impl->http->is_valid()) return invalid_argument("cannot set up TLS for the registry's port");
  } else {
    impl->http = std::make_unique<httplib::Server>();
  }
  impl->http->new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  impl->http->set_payload_max_length(options.max_body_bytes);
  impl->http->set_socket_options(causeway::set_listen_socket_options);  // a taken port fails to bind
  const auto handler = [self](const httplib::Request& req, httplib::Response& res) { self->serve(req, res); };
  impl->http->Get(".*", handler);
  impl->http->Post(".*", handler);
  impl->http->Put(".*", handler);
  impl->http->Delete(".*", handler);
  impl->http->set_error_handler(
      [self](const httplib::Request& req, httplib::Response& res) { self->answer_error(req, res); });
  // What escapes a handler anyway (serve() catches everything it knows of) is answered 500
  // here instead of by httplib's default, which would put the exception text in a header.
  impl->http->set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
    res.status = 500;
  });

  int port = 0;
  errno = 0;
  if (options.listen_port == 0) {
    port = impl->http->bind_to_any_port(options.listen_host);
  } else {
    port = impl->http->bind_to_port(options.listen_host, options.listen_port) ? options.listen_port : -1;
  }
  if (port <= 0) {
    const int err = errno;
    return unavailable(std::string("cannot listen on ") + options.listen_host + ":" +
                       std::to_string(options.listen_port) + (err != 0 ? std::string(": ") + std::strerror(err) : "") +
                       " (is another registry or broker using the port? pick another with --listen)");
  }
  impl->port = static_cast<std::uint16_t>(port);
  impl->loop = std::thread([self] { self->http->listen_after_bind(); });
  // httplib's stop() does nothing until the loop has marked itself running, so wait for
  // that here: after start() returns, stop() always ends the loop.
  for (int i = 0; i < 5000 && !impl->http->is_running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return std::unique_ptr<RegistryServer>(new RegistryServer(std::move(impl)));
}

std::uint16_t RegistryServer::port() const noexcept { return impl_->port; }

std::string RegistryServer::url() const {
  const std::string& host = impl_->options.listen_host;
  const bool v6 = host.find(':') != std::string::npos;
  return std::string(impl_->options.tls ? "https://" : "http://") + (v6 ? std::string("[") + host + "]" : host) + ":" + std::to_string(impl_->port);
}

SchemaStore& RegistryServer::store() noexcept { return *impl_->store; }

std::string RegistryServer::metrics_text() { return impl_->metrics.text(*impl_->store); }

void RegistryServer::stop() {
  std::lock_guard lk(impl_->stop_mu);
  if (impl_->stopped) return;
  impl_->stopped = true;
  impl_->http->stop();
  if (impl_->loop.joinable()) impl_->loop.join();
}

}  // namespace causeway::registry
