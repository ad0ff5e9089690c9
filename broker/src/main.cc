// causeway-broker: the daemon. Opens (and recovers) its data directory, serves the wire
// protocol (docs/wire-protocol.md), keeps logs synced and retained and the dedup window
// expired, and stops cleanly on SIGINT/SIGTERM: no new requests, in-flight appends finish
// and are answered, logs are synced, LMDB is closed, exit 0.
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstring>
#include <memory>
#include <optional>
#include <spdlog/spdlog.h>
#include <string>

#include "causeway/common/data_dir_lock.h"
#include "causeway/common/heap_trim.h"
#include "causeway/common/listen_address.h"
#include "causeway/common/units.h"
#include "causeway/registry/server.h"
#include "core/event_store.h"
#include "core/registry_schema_checker.h"
#include "core/remote_schema_checker.h"
#include "server/server.h"

namespace {

using causeway::Status;

void log_open_report(const causeway::core::OpenReport& report, const std::string& data_dir) {
  for (const auto& p : report.partitions) {
    const auto& r = p.recovery;
    spdlog::info("opened {}/{}: offsets [{}, {}), {} segment(s), {} bytes, last lamport {}{}", p.topic, p.partition,
                 r.log_start_offset, r.next_offset, r.segments, r.size_bytes, r.last_lamport,
                 p.dedup_keys_loaded > 0 ? fmt::format(", {} dedup key(s) in the window", p.dedup_keys_loaded)
                                         : std::string());
    if (r.truncated) {
      const auto level = r.truncated->torn ? spdlog::level::info : spdlog::level::warn;
      spdlog::log(level, "{}/{}: cut {} byte(s) at position {} of the active segment: {}", p.topic, p.partition,
                  r.truncated_bytes, r.truncated->position, r.truncated->reason);
    }
    for (const auto& f : r.rebuilt_indexes) spdlog::warn("rebuilt damaged or missing index of {}", f);
    for (const auto& f : r.removed_files) spdlog::info("{}/{}: removed leftover file {}", p.topic, p.partition, f);
  }
  spdlog::info("storage open in {}: {} topic(s), {} partition(s)", data_dir, report.topics.size(),
               report.partitions.size());
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"causeway-broker: the Causeway event bus daemon.\n"
               "Stores partitioned, durable event logs under --data-dir and stops cleanly on SIGINT/SIGTERM."};
  app.set_config("--config", "", "Read flags from a TOML/INI file (flag names without dashes, e.g. data-dir = \"/x\")");
  std::string data_dir = "./causeway-data";
  std::string log_level = "info";
  std::string flush_interval = "1s";
  std::string retention_check = "1m";
  std::string listen = "127.0.0.1:7450";
  std::string max_frame = "16MiB";
  causeway::server::ServerOptions server_options;
  uint32_t storage_threads = 4;
  causeway::subscribe::CoordinatorOptions coordinator_options;
  app.add_option("--data-dir", data_dir, "Directory for logs and metadata (created if missing)")
      ->capture_default_str();
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error or off")
      ->capture_default_str()
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}));
  app.add_option("--flush-interval", flush_interval,
                 "How often topics with durability=os are synced to disk (e.g. 500ms, 1s)")
      ->capture_default_str();
  app.add_option("--retention-check-interval", retention_check,
                 "How often retention deletes expired segments (e.g. 30s, 5m)")
      ->capture_default_str();
  app.add_option("--listen", listen, "Address to serve the wire protocol on, HOST:PORT (port 0 picks a free port)")
      ->capture_default_str();
  app.add_option("--max-frame-bytes", max_frame, "Largest frame a client may send or receive (e.g. 16MiB)")
      ->capture_default_str();
  std::string handshake_timeout = "10s";
  app.add_option("--handshake-timeout", handshake_timeout, "Connections that have not said Hello by then are closed")
      ->capture_default_str();
  app.add_option("--max-connections", server_options.max_connections, "Connections beyond this are closed at once")
      ->capture_default_str()
      ->check(CLI::Range(1u, 1u << 20));
  app.add_option("--network-threads", server_options.network_threads, "Threads serving sockets (one event loop each)")
      ->capture_default_str()
      ->check(CLI::Range(1u, 256u));
  app.add_option("--storage-threads", storage_threads,
                 "Threads for requests that may block on disk (topic changes, fetches); publishes do not use them")
      ->capture_default_str()
      ->check(CLI::Range(1u, 4096u));
  std::string group_session_timeout = "10s";
  app.add_option("--group-session-timeout", group_session_timeout,
                 "A subscriber that sends nothing for this long leaves its group; its unacked events go to the others")
      ->capture_default_str();
  std::string subscribe_sweep = "100ms";
  app.add_option("--subscribe-sweep-interval", subscribe_sweep,
                 "How often subscriptions check ack deadlines, retry delays and session timeouts, and commit acked offsets")
      ->capture_default_str();
  size_t sync_threads = 2;
  app.add_option("--sync-threads", sync_threads,
                 "Threads that run fdatasync group commits for all partitions and complete the acks")
      ->capture_default_str()
      ->check(CLI::Range(1, 64));
  std::string registry_listen = "127.0.0.1:8081";
  auto* registry_listen_opt = app.add_option("--registry-listen", registry_listen,
                 "Address of the embedded schema registry's REST API, HOST:PORT (port 0 picks a free port), "
                 "or \"off\" to run without it (docs/registry.md)")
      ->capture_default_str();
  std::string registry_url;
  auto* registry_url_opt =
      app.add_option("--registry-url", registry_url,
                     "Check schema-bound topics against this remote registry, http://HOST:PORT (a causeway-registry "
                     "or any Confluent-compatible one serving FLATBUFFERS schemas), instead of an embedded one; "
                     "implies no embedded registry (docs/registry.md)");
  CLI11_PARSE(app, argc, argv);

  // --registry-url replaces the embedded registry: with it, --registry-listen may only be
  // left out or be "off"; anything else asks for both and is refused.
  if (registry_url_opt->count() > 0) {
    if (registry_listen_opt->count() > 0 && registry_listen != "off") {
      std::fprintf(stderr,
                   "error: --registry-url %s and --registry-listen %s contradict: a broker checks schemas against "
                   "either its embedded registry or a remote one. Drop --registry-listen (or say "
                   "--registry-listen off) to use the remote registry\n",
                   registry_url.c_str(), registry_listen.c_str());
      return 2;
    }
    registry_listen = "off";
  }
  std::unique_ptr<causeway::core::SchemaFetcher> registry_fetcher;
  if (!registry_url.empty()) {
    auto fetcher = causeway::core::make_http_schema_fetcher({.url = registry_url});
    if (!fetcher) {
      std::fprintf(stderr, "error: --registry-url: %s\n", std::string(fetcher.error().message()).c_str());
      return 2;
    }
    registry_fetcher = std::move(*fetcher);
  } else if (registry_url_opt->count() > 0) {
    std::fprintf(stderr, "error: --registry-url: empty; give http://HOST:PORT\n");
    return 2;
  }

  std::optional<causeway::registry::RegistryServerOptions> registry_options;
  if (registry_listen != "off") {
    causeway::registry::RegistryServerOptions o;
    if (Status s = causeway::parse_listen_address(registry_listen, o.listen_host, o.listen_port); !s.ok()) {
      std::fprintf(stderr, "error: --registry-listen: %s (or \"off\")\n", std::string(s.message()).c_str());
      return 2;
    }
    o.data_dir = data_dir + "/registry";
    registry_options = std::move(o);
  }

  if (Status s = causeway::parse_listen_address(listen, server_options.listen_host,
                                                        server_options.listen_port);
      !s.ok()) {
    std::fprintf(stderr, "error: --listen: %s\n", std::string(s.message()).c_str());
    return 2;
  }
  {
    auto d = causeway::units::parse_duration(handshake_timeout);
    if (!d || d->count() <= 0) {
      std::fprintf(stderr, "error: --handshake-timeout: %s\n",
                   d ? "must be positive" : std::string(d.error().message()).c_str());
      return 2;
    }
    server_options.handshake_timeout = std::chrono::duration_cast<std::chrono::milliseconds>(*d);
  }
  for (auto [flag, text, out] : {std::tuple{"--group-session-timeout", &group_session_timeout,
                                            &coordinator_options.session_timeout},
                                 std::tuple{"--subscribe-sweep-interval", &subscribe_sweep,
                                            &coordinator_options.sweep_interval}}) {
    auto d = causeway::units::parse_duration(*text);
    if (!d || std::chrono::duration_cast<std::chrono::milliseconds>(*d).count() <= 0) {
      std::fprintf(stderr, "error: %s: %s\n", flag,
                   d ? "must be at least 1ms" : std::string(d.error().message()).c_str());
      return 2;
    }
    *out = std::chrono::duration_cast<std::chrono::milliseconds>(*d);
  }
  {
    auto bytes = causeway::units::parse_size(max_frame);
    if (!bytes || *bytes < 1024 || *bytes > (1ull << 30)) {
      std::fprintf(stderr, "error: --max-frame-bytes: %s\n",
                   bytes ? "must be between 1KiB and 1GiB" : std::string(bytes.error().message()).c_str());
      return 2;
    }
    server_options.max_frame_bytes = static_cast<uint32_t>(*bytes);
  }

  spdlog::set_level(spdlog::level::from_str(log_level));
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");

  causeway::core::EventStoreOptions options;
  options.data_dir = data_dir;
  options.logs.sync_threads = sync_threads;
  for (auto [flag, text, out] : {std::tuple{"--flush-interval", &flush_interval, &options.logs.flush_interval},
                                 std::tuple{"--retention-check-interval", &retention_check,
                                            &options.logs.retention_check_interval}}) {
    auto d = causeway::units::parse_duration(*text);
    if (!d || d->count() <= 0) {
      std::fprintf(stderr, "error: %s: %s\n", flag,
                   d ? "must be positive" : std::string(d.error().message()).c_str());
      return 2;
    }
    *out = std::chrono::duration_cast<std::chrono::milliseconds>(*d);
    if (out->count() == 0) *out = std::chrono::milliseconds(1);
  }

  // Block the stop signals in every thread (threads inherit the mask) and wait for them here.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  if (Status s = causeway::storage::FileSystem::posix()->create_dirs(data_dir); !s.ok()) {
    spdlog::error("{}", s.to_string());
    return 1;
  }
  auto lock = causeway::DataDirLock::acquire(data_dir, "causeway-broker");
  if (!lock) {
    spdlog::error("{}", lock.error().message());
    return 1;
  }

  causeway::core::OpenReport report;
  auto store = causeway::core::EventStore::open(causeway::storage::FileSystem::posix(), options, &report);
  if (!store) {
    spdlog::error("cannot open storage: {}", store.error().to_string());
    return 1;
  }
  log_open_report(report, data_dir);
  // The registry's store lives under the data dir, covered by its LOCK.
  std::unique_ptr<causeway::registry::RegistryServer> registry;
  if (registry_options) {
    auto started = causeway::registry::RegistryServer::start(*registry_options);
    if (!started) {
      spdlog::error("cannot start the embedded schema registry on {}: {} (choose another --registry-listen, "
                    "or --registry-listen off)",
                    registry_listen, started.error().message());
      return 1;
    }
    registry = std::move(*started);
  }
  std::unique_ptr<causeway::core::SchemaChecker> schema_checker;
  if (registry) {
    schema_checker = std::make_unique<causeway::core::RegistrySchemaChecker>(registry->store());
  } else if (registry_fetcher) {
    schema_checker = std::make_unique<causeway::core::RemoteSchemaChecker>(std::move(registry_fetcher));
  }
  // The services the server serves with; it starts and stops the coordinator with itself.
  causeway::server::StoragePool storage_pool(storage_threads);
  causeway::core::PublishPipeline publish(**store, schema_checker.get());
  causeway::subscribe::Coordinator coordinator(**store, publish, storage_pool.executor(),
                                               causeway::server::fit_to_frames(coordinator_options, server_options));
  causeway::server::Server server(
      causeway::server::Services{**store, publish, coordinator, storage_pool, schema_checker.get()}, server_options);
  if (Status s = server.start(); !s.ok()) {
    spdlog::error("{}", s.message());
    return 1;
  }
  // The wire address first: tools that wait for "listening on " take the first match.
  spdlog::info("listening on {}:{}", server_options.listen_host, server.port());
  if (registry) spdlog::info("registry listening on {}", registry->url());
  if (!registry_url.empty()) spdlog::info("schema-bound topics are checked against the registry at {}", registry_url);
  spdlog::info("causeway-broker ready (pid {}); stop with SIGINT or SIGTERM", ::getpid());

  constexpr auto kDedupExpiryEvery = std::chrono::seconds(1);
  auto next_expiry = std::chrono::steady_clock::now() + kDedupExpiryEvery;
  // Freed memory above this is returned to the OS (causeway/common/heap_trim.h): after a
  // spike RSS goes back near what is in use instead of staying at the high-water mark.
  constexpr auto kHeapTrimEvery = std::chrono::seconds(5);
  constexpr size_t kHeapTrimAboveBytes = 8u << 20;
  auto next_trim = std::chrono::steady_clock::now() + kHeapTrimEvery;
  for (;;) {
    const timespec tick{1, 0};
    const int sig = sigtimedwait(&stop_signals, nullptr, &tick);
    if (sig == SIGINT || sig == SIGTERM) {
      spdlog::info("received {}, shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
      break;
    }
    if (std::chrono::steady_clock::now() >= next_expiry) {
      next_expiry = std::chrono::steady_clock::now() + kDedupExpiryEvery;
      const size_t expired = (*store)->expire_dedup(causeway::storage::now_ms());
      if (expired > 0) spdlog::debug("dedup window: {} key(s) expired", expired);
    }
    if (std::chrono::steady_clock::now() >= next_trim) {
      next_trim = std::chrono::steady_clock::now() + kHeapTrimEvery;
      const causeway::HeapTrim trim = causeway::trim_free_heap(kHeapTrimAboveBytes);
      if (trim.trimmed) spdlog::debug("returned free heap memory to the OS ({} MiB were free)", trim.free_bytes >> 20);
    }
  }
  if (registry) registry->stop();
  server.stop();  // no new requests; in-flight appends finish and are answered; the coordinator stops
  Status synced = (*store)->logs().sync_all();
  store->reset();  // closes logs (syncing) and LMDB
  if (!synced.ok()) {
    spdlog::error("final sync failed: {}", synced.to_string());
    return 1;
  }
  spdlog::info("stopped cleanly");
  return 0;
}
