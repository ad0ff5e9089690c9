// causeway-registry: the schema registry daemon. Serves the REST API (docs/registry.md) over
// the LMDB store in --data-dir, holds <data-dir>/LOCK so that a second daemon on the same
// directory refuses to start, logs `registry listening on http://HOST:PORT` once bound, and
// exits 0 on SIGINT/SIGTERM after in-flight requests finish. Its admin port (--admin-listen,
// default 127.0.0.1:9451) serves /metrics, /healthz and /readyz. Mirrors causeway-broker's main.
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <spdlog/spdlog.h>
#include <string>

#include "causeway/admin/admin_server.h"
#include "causeway/common/data_dir_lock.h"
#include "causeway/common/listen_address.h"
#include "causeway/daemon_log/daemon_log.h"
#include "causeway/common/units.h"
#include "causeway/registry/server.h"
#include "causeway/tls/tls_flags.h"

int main(int argc, char** argv) {
  CLI::App app{"causeway-registry: the Causeway schema registry.\n"
               "Serves Confluent-style REST (schemaType FLATBUFFERS) over the store in --data-dir;\n"
               "stops cleanly on SIGINT/SIGTERM."};
  std::string listen = "127.0.0.1:8081";
  std::string data_dir = "./causeway-registry-data";
  std::string max_body = "1MiB";
  std::string log_level = "info";
  std::string log_format = "text";
  unsigned threads = 4;
  std::string admin_listen = "127.0.0.1:9451";
  app.add_option("--listen", listen, "Address to serve HTTP on, HOST:PORT (port 0 picks a free port)")
      ->capture_default_str();
  app.add_option("--data-dir", data_dir, "Directory for the registry's LMDB store (created if missing)")
      ->capture_default_str();
  app.add_option("--max-body-bytes", max_body, "Largest request body accepted (e.g. 1MiB); larger ones get 413")
      ->capture_default_str();
  app.add_option("--threads", threads, "Requests served concurrently")->capture_default_str()->check(CLI::Range(1u, 256u));
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error or off")
      ->capture_default_str()
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}));
  app.add_option("--log-format", log_format,
                 "text (lines for people) or json (one object per line: time in UTC, level, msg)")
      ->capture_default_str()
      ->check(CLI::IsMember({"text", "json"}));
  auto* admin_listen_opt =
      app.add_option("--admin-listen", admin_listen,
                     "Address of the admin HTTP port: Prometheus /metrics, /healthz and /readyz, HOST:PORT (port 0 "
                     "picks a free port), or \"off\" (docs/operations.md)")
          ->capture_default_str();
  causeway::tls::TlsFlags tls_flags;
  tls_flags.add_to(app, "the REST port (HTTPS)");
  CLI11_PARSE(app, argc, argv);
  std::string admin_host;
  uint16_t admin_port = 0;
  if (admin_listen != "off") {
    if (causeway::Status s = causeway::parse_listen_address(admin_listen, admin_host, admin_port); !s.ok()) {
      std::fprintf(stderr, "error: --admin-listen: %s (or \"off\")\n", std::string(s.message()).c_str());
      return 2;
    }
  }
  auto tls_files = tls_flags.files();
  if (!tls_files) {
    std::fprintf(stderr, "error: %s\n", std::string(tls_files.error().message()).c_str());
    return 2;
  }

  causeway::registry::RegistryServerOptions options;
  options.threads = threads;
  options.data_dir = data_dir;
  if (causeway::Status s = causeway::parse_listen_address(listen, options.listen_host, options.listen_port); !s.ok()) {
    std::fprintf(stderr, "error: --listen: %s\n", std::string(s.message()).c_str());
    return 2;
  }
  {
    auto bytes = causeway::units::parse_size(max_body);
    if (!bytes || *bytes < 1024 || *bytes > (1ull << 30)) {
      std::fprintf(stderr, "error: --max-body-bytes: %s\n",
                   bytes ? "must be between 1KiB and 1GiB" : std::string(bytes.error().message()).c_str());
      return 2;
    }
    options.max_body_bytes = static_cast<std::size_t>(*bytes);
  }

  causeway::daemon_log::configure(*causeway::daemon_log::parse_format(log_format), log_level);

  // Block the stop signals in every thread (threads inherit the mask) and wait for them here.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGHUP);  // reloads the TLS certificates
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  // A client that closes its end mid-answer fails that write (EPIPE), never the registry
  // (OpenSSL writes with write(), without MSG_NOSIGNAL).
  ::signal(SIGPIPE, SIG_IGN);

  std::error_code ec;
  std::filesystem::create_directories(data_dir, ec);
  if (ec) {
    spdlog::error("cannot create {}: {}", data_dir, ec.message());
    return 1;
  }
  auto lock = causeway::DataDirLock::acquire(data_dir, "causeway-registry");
  if (!lock) {
    spdlog::error("{}", lock.error().message());
    return 1;
  }
  if (*tls_files) {
    auto tls = causeway::tls::ServerTls::load(**tls_files);
    if (!tls) {
      spdlog::error("cannot serve TLS: {}", tls.error().message());
      return 1;
    }
    options.tls = std::move(*tls);
  }
  auto server = causeway::registry::RegistryServer::start(options);
  if (!server) {
    spdlog::error("{}", server.error().message());
    return 1;
  }
  std::unique_ptr<causeway::admin::AdminServer> admin;
  if (admin_listen != "off") {
    causeway::registry::RegistryServer* registry = server->get();
    auto started = causeway::admin::AdminServer::start_for_daemon(
        admin_host, admin_port, admin_listen_opt->count() > 0, [registry] { return registry->metrics_text(); },
        "the registry");
    if (!started) {
      spdlog::error("{}", started.error().message());
      return 1;
    }
    admin = std::move(*started);
  }
  spdlog::info("registry listening on {}", (*server)->url());
  if (options.tls) {
    spdlog::info("TLS certificate: {}; client certificates: {}", options.tls->describe(),
                 causeway::tls::client_auth_name(options.tls->client_auth()));
  }
  if (admin) spdlog::info("admin listening on {} (metrics, health and readiness probes)", admin->url());
  spdlog::info("causeway-registry ready (pid {}, data in {}); stop with SIGINT or SIGTERM", ::getpid(), data_dir);

  int sig = 0;
  for (;;) {
    if (sigwait(&stop_signals, &sig) != 0) continue;
    if (sig != SIGHUP) break;
    if (!options.tls) {
      spdlog::info("received SIGHUP: no TLS certificates to reload (the registry serves plain HTTP)");
    } else if (causeway::Status s = options.tls->reload(); !s.ok()) {
      spdlog::error("received SIGHUP: TLS reload failed, still serving the previous certificate: {}", s.message());
    } else {
      spdlog::info("received SIGHUP: reloaded the TLS certificate ({}); open connections keep theirs",
                   options.tls->describe());
    }
  }
  spdlog::info("received {}, shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
  if (admin) admin->set_ready(false);
  (*server)->stop();
  if (admin) admin->stop();  // a scrape reads the store: done before it closes
  server->reset();
  spdlog::info("stopped cleanly");
  return 0;
}
