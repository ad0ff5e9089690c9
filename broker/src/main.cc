// causeway-broker: the daemon. parse_flags() turns the command line (and --config file)
// into a checked BrokerConfig; run() opens (and recovers) the data directory, builds the
// services the server serves with, serves the wire protocol (docs/wire-protocol.md) until
// SIGINT/SIGTERM, and stops cleanly: no new requests, in-flight appends finish and are
// answered, logs are synced, LMDB is closed, exit 0. Periodic work belongs to its owners:
// log syncs and retention to the LogManager, dedup expiry to the EventStore, delivery
// timers to the subscription Coordinator; only returning free heap to the OS is done here.
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>
#include <memory>
#include <optional>
#include <spdlog/spdlog.h>
#include <string>
#include <variant>

#include "admin/metrics.h"
#include "auth/registry_access.h"
#include "causeway/admin/admin_server.h"
#include "causeway/common/data_dir_lock.h"
#include "causeway/common/heap_trim.h"
#include "causeway/common/listen_address.h"
#include "causeway/common/units.h"
#include "causeway/daemon_log/daemon_log.h"
#include "causeway/registry/server.h"
#include "causeway/tls/tls_flags.h"
#include "core/event_store.h"
#include "core/publish_pipeline.h"
#include "core/registry_schema_checker.h"
#include "core/remote_schema_checker.h"
#include "server/server.h"
#include "server/storage_pool.h"
#include "subscribe/coordinator.h"

namespace {

namespace admin = causeway::admin;
namespace core = causeway::core;
namespace protocol = causeway::protocol;
namespace registry = causeway::registry;
namespace server = causeway::server;
namespace subscribe = causeway::subscribe;
using causeway::Result;
using causeway::Status;
using std::chrono::milliseconds;

// Bad usage: an unknown flag, a value that does not parse or is out of range, flags that
// contradict each other. Each is reported naming the flag.
constexpr int kUsageExitCode = 2;

// Everything the flags decide, checked: run() needs nothing else.
struct BrokerConfig {
  std::string log_level = "info";
  causeway::daemon_log::Format log_format = causeway::daemon_log::Format::kText;  // --log-format
  // --data-dir; the logs' --flush-interval, --retention-check-interval, --sync-threads.
  core::EventStoreOptions store;
  // --listen, --max-frame-bytes, --handshake-timeout, --max-connections, --network-threads.
  server::ServerOptions server;
  uint32_t storage_threads = 4;  // --storage-threads
  // --group-session-timeout, --subscribe-sweep-interval.
  subscribe::CoordinatorOptions subscribe;
  // The embedded registry (--registry-listen); nullopt when it is off.
  std::optional<registry::RegistryServerOptions> registry;
  std::string registry_listen;  // as given, for messages
  // The remote registry (--registry-url); empty: none.
  std::string registry_url;
  // --admin-listen: metrics, /healthz, /readyz (docs/operations.md). Unset: off.
  std::optional<std::pair<std::string, uint16_t>> admin;
  std::string admin_listen = "127.0.0.1:9450";  // as given, for messages
  bool admin_explicit = false;  // given on the command line: failing to bind is fatal
  // --tls-*: TLS on the wire port and the embedded registry's port; nullopt: plaintext.
  std::optional<causeway::tls::ServerTlsFiles> tls;
  // --superuser: principals that pass every ACL and manage tokens and ACLs.
  std::vector<std::string> superusers;
};

// What a duration flag accepts beyond parsing: kPositive (a positive duration below 1ms
// counts as 1ms), or kAtLeastOneMs.
enum class DurationRule { kPositive, kAtLeastOneMs };

Result<milliseconds> parse_duration_flag(const std::string& text, DurationRule rule) {
  auto d = causeway::units::parse_duration(text);
  if (!d) return d.error();
  const auto ms = std::chrono::duration_cast<milliseconds>(*d);
  if (rule == DurationRule::kAtLeastOneMs && ms.count() <= 0) return causeway::invalid_argument("must be at least 1ms");
  if (d->count() <= 0) return causeway::invalid_argument("must be positive");
  return std::max(ms, milliseconds(1));
}

// --NAME D: a duration as causeway/common/units.h reads it ("500ms", "1m", "1h30m") into
// `out`, whose value on entry is the default --help shows. A value that does not parse or
// breaks `rule` is a usage error naming the flag and the reason.
CLI::Option* add_duration_flag(CLI::App& app, const std::string& name, milliseconds& out, DurationRule rule,
                               const std::string& help) {
  const std::string default_text = causeway::units::format_duration(out);
  return app
      .add_option_function<std::string>(
          name, [&out, rule](const std::string& text) { out = *parse_duration_flag(text, rule); }, help)
      ->check(CLI::Validator(
          [rule](std::string& text) {
            auto d = parse_duration_flag(text, rule);
            return d ? std::string() : std::string(d.error().message());
          },
          ""))
      ->default_str(default_text);
}

// A size as causeway/common/units.h reads it ("64KiB", "16MiB"), within [min, max].
Result<uint64_t> parse_size_flag(const std::string& text, uint64_t min, uint64_t max) {
  auto bytes = causeway::units::parse_size(text);
  if (!bytes) return bytes.error();
  if (*bytes < min || *bytes > max) {
    return causeway::invalid_argument(min == 0 ? "must be at most " + causeway::units::format_size(max)
                                               : "must be between " + causeway::units::format_size(min) + " and " +
                                                     causeway::units::format_size(max));
  }
  return *bytes;
}

// --NAME SIZE into `out` (an unsigned integer wide enough for `max`), whose value on entry
// is the default --help shows. A value that does not parse or is out of [min, max] is a
// usage error naming the flag and the reason.
template <typename T>
CLI::Option* add_size_flag(CLI::App& app, const std::string& name, T& out, uint64_t min, uint64_t max,
                           const std::string& help) {
  const std::string default_text = causeway::units::format_size(out);
  return app
      .add_option_function<std::string>(
          name, [&out, min, max](const std::string& text) { out = static_cast<T>(*parse_size_flag(text, min, max)); },
          help)
      ->check(CLI::Validator(
          [min, max](std::string& text) {
            auto bytes = parse_size_flag(text, min, max);
            return bytes ? std::string() : std::string(bytes.error().message());
          },
          ""))
      ->default_str(default_text);
}

// The config to run with, or the exit code to return at once (0 after --help; otherwise
// kUsageExitCode, the reason printed to stderr). Long by nature: one CLI11 declaration per
// flag, in --help order, and the conversions of the few that need one.
std::variant<BrokerConfig, int> parse_flags(int argc, char** argv) {
  BrokerConfig config;
  std::string listen = "127.0.0.1:7450";
  config.registry_listen = "127.0.0.1:8081";

  CLI::App app{"causeway-broker: the Causeway event bus daemon.\n"
               "Stores partitioned, durable event logs under --data-dir and stops cleanly on SIGINT/SIGTERM."};
  app.set_config("--config", "", "Read flags from a TOML/INI file (flag names without dashes, e.g. data-dir = \"/x\")");
  app.add_option("--data-dir", config.store.data_dir, "Directory for logs and metadata (created if missing)")
      ->capture_default_str();
  app.add_option("--log-level", config.log_level, "trace, debug, info, warn, error or off")
      ->capture_default_str()
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}));
  app.add_option_function<std::string>(
         "--log-format",
         [&config](const std::string& text) {
           auto f = causeway::daemon_log::parse_format(text);
           if (!f) throw CLI::ValidationError("--log-format", std::string(f.error().message()));
           config.log_format = *f;
         },
         "text (lines for people, the default) or json (one object per line: time in UTC, level, msg; "
         "docs/operations.md)")
      ->check(CLI::IsMember({"text", "json"}));
  add_duration_flag(app, "--flush-interval", config.store.logs.flush_interval, DurationRule::kPositive,
                    "How often topics with durability=os are synced to disk (e.g. 500ms, 1s)");
  add_duration_flag(app, "--retention-check-interval", config.store.logs.retention_check_interval,
                    DurationRule::kPositive, "How often retention deletes expired segments (e.g. 30s, 5m)");
  app.add_option("--listen", listen, "Address to serve the wire protocol on, HOST:PORT (port 0 picks a free port)")
      ->capture_default_str();
  add_size_flag(app, "--max-frame-bytes", config.server.max_frame_bytes, 1024, 1ull << 30,
                "Largest frame a client may send or receive (e.g. 16MiB)");
  add_duration_flag(app, "--handshake-timeout", config.server.handshake_timeout, DurationRule::kPositive,
                    "Connections that have not said Hello by then are closed");
  app.add_option("--max-connections", config.server.max_connections, "Connections beyond this are closed at once")
      ->capture_default_str()
      ->check(CLI::Range(1u, 1u << 20));
  app.add_option("--network-threads", config.server.network_threads, "Threads serving sockets (one event loop each)")
      ->capture_default_str()
      ->check(CLI::Range(1u, 256u));
  app.add_option("--storage-threads", config.storage_threads,
                 "Threads for requests that may block on disk (topic changes, fetches); publishes do not use them")
      ->capture_default_str()
      ->check(CLI::Range(1u, 4096u));
  add_duration_flag(app, "--group-session-timeout", config.subscribe.session_timeout, DurationRule::kAtLeastOneMs,
                    "A subscriber that sends nothing for this long leaves its group; its unacked events go to the others");
  add_duration_flag(app, "--subscribe-sweep-interval", config.subscribe.sweep_interval, DurationRule::kAtLeastOneMs,
                    "How often subscriptions check ack deadlines, retry delays and session timeouts, and commit acked offsets");
  add_size_flag(app, "--subscribe-read-cache", config.subscribe.read_cache_bytes, 0, 64ull << 30,
                "Recent log reads kept for the other subscriptions of a topic, so that groups at one position read and "
                "match an event once (e.g. 64MiB; 0 turns sharing off)");
  app.add_option("--sync-threads", config.store.logs.sync_threads,
                 "Threads that run fdatasync group commits for all partitions and complete the acks")
      ->capture_default_str()
      ->check(CLI::Range(1, 64));
  app.add_option("--share-syncs", config.store.logs.share_syncs,
                 "fsync topics: partitions that need a sync at the same time share one syncfs of the data "
                 "directory's file system instead of one fdatasync each (docs/broker.md, \"Syncs shared across "
                 "partitions\"); false when the data directory shares its file system with heavy unrelated writes")
      ->check(CLI::IsMember({"true", "false", "on", "off", "1", "0"}, CLI::ignore_case))
      ->default_str("true");
  app.add_option("--sync-journal", config.store.logs.sync_journal,
                 "fsync topics, with --share-syncs: a shared sync of many partitions that each have a few new bytes "
                 "writes them once to <data-dir>/journal and syncs that file alone, instead of a syncfs that writes a block "
                 "per partition (docs/broker.md, \"The sync journal\"); the partitions' files are synced every few "
                 "seconds. A start replays the journal whatever this says")
      ->check(CLI::IsMember({"true", "false", "on", "off", "1", "0"}, CLI::ignore_case))
      ->default_str("true");
  app.add_option("--max-open-segment-files", config.store.logs.max_open_sealed_segments,
                 "Descriptors kept open for reading sealed segments, shared by all partitions; reads of other "
                 "sealed segments reopen them (each partition's active segment holds one more). 0 keeps every "
                 "segment open")
      ->capture_default_str()
      ->check(CLI::Range(size_t{0}, size_t{1} << 20));
  auto* registry_listen_opt =
      app.add_option("--registry-listen", config.registry_listen,
                     "Address of the embedded schema registry's REST API, HOST:PORT (port 0 picks a free port), "
                     "or \"off\" to run without it (docs/registry.md)")
          ->capture_default_str();
  auto* registry_url_opt =
      app.add_option("--registry-url", config.registry_url,
                     "Check schema-bound topics against this remote registry, http://HOST:PORT (a causeway-registry "
                     "or any Confluent-compatible one serving FLATBUFFERS schemas), instead of an embedded one; "
                     "implies no embedded registry (docs/registry.md)");
  auto* admin_listen_opt =
      app.add_option("--admin-listen", config.admin_listen,
                     "Address of the admin HTTP port: Prometheus /metrics, /healthz and /readyz, HOST:PORT (port 0 "
                     "picks a free port), or \"off\" (docs/operations.md). When the default address is taken the "
                     "broker runs without it and says so; an address given here must be free")
          ->capture_default_str();
  causeway::tls::TlsFlags tls_flags;
  tls_flags.add_to(app, "the wire port and the embedded registry's port");
  app.add_option("--superuser", config.superusers,
                 "A principal (a token's principal name, or a TLS client certificate's subject such as CN=admin) that "
                 "may do everything, including managing tokens and ACLs; repeatable (docs/security.md)")
      ->check([](const std::string& name) {
        Status s = causeway::meta::validate_principal(name);
        return s.ok() ? std::string() : std::string(s.message());
      });
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);  // prints the help (exit 0) or the error naming the flag
    return code == 0 ? 0 : kUsageExitCode;
  }

  const auto usage_error = [](const std::string& message) {
    std::fprintf(stderr, "error: %s\n", message.c_str());
    return kUsageExitCode;
  };
  // --registry-url replaces the embedded registry: with it, --registry-listen may only be
  // left out or be "off"; anything else asks for both and is refused.
  if (registry_url_opt->count() > 0) {
    if (registry_listen_opt->count() > 0 && config.registry_listen != "off") {
      return usage_error("--registry-url " + config.registry_url + " and --registry-listen " +
                         config.registry_listen +
                         " contradict: a broker checks schemas against either its embedded registry or a remote "
                         "one. Drop --registry-listen (or say --registry-listen off) to use the remote registry");
    }
    config.registry_listen = "off";
    if (config.registry_url.empty()) return usage_error("--registry-url: empty; give http://HOST:PORT");
    // The URL is checked now; run() builds the fetcher again from it.
    if (auto fetcher = core::make_http_schema_fetcher({.url = config.registry_url}); !fetcher)
      return usage_error("--registry-url: " + std::string(fetcher.error().message()));
  }
  if (config.registry_listen != "off") {
    registry::RegistryServerOptions o;
    if (Status s = causeway::parse_listen_address(config.registry_listen, o.listen_host, o.listen_port); !s.ok())
      return usage_error("--registry-listen: " + std::string(s.message()) + " (or \"off\")");
    o.data_dir = config.store.data_dir + "/registry";
    config.registry = std::move(o);
  }
  auto tls_files = tls_flags.files();
  if (!tls_files) return usage_error(std::string(tls_files.error().message()));
  config.tls = std::move(*tls_files);
  config.admin_explicit = admin_listen_opt->count() > 0;
  if (config.admin_listen != "off") {
    std::pair<std::string, uint16_t> admin;
    if (Status s = causeway::parse_listen_address(config.admin_listen, admin.first, admin.second); !s.ok())
      return usage_error("--admin-listen: " + std::string(s.message()) + " (or \"off\")");
    config.admin = std::move(admin);
  }
  if (Status s = causeway::parse_listen_address(listen, config.server.listen_host, config.server.listen_port);
      !s.ok()) {
    return usage_error("--listen: " + std::string(s.message()));
  }
  config.subscribe = server::fit_to_frames(config.subscribe, config.server);
  return config;
}

void log_open_report(const core::OpenReport& report, const std::string& data_dir) {
  for (const auto& p : report.partitions) {
    const auto& r = p.recovery;
    spdlog::info("opened {}/{}: offsets [{}, {}), {} segment(s), {} bytes, last lamport {}{}", p.topic, p.partition,
                 r.log_start_offset, r.next_offset, r.segments, r.size_bytes, r.last_lamport,
                 p.dedup_keys_loaded > 0 ? fmt::format(", {} dedup key(s) in the window{}", p.dedup_keys_loaded, p.dedup_from_snapshot ? " (from the shutdown snapshot)" : "")
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

// Waits for SIGINT or SIGTERM (blocked in every thread, so only this wait sees them);
// meanwhile runs `on_reload` for each SIGHUP, and returns free heap memory to the OS
// (causeway/common/heap_trim.h), so that after a spike RSS goes back near what is in use
// instead of staying at the high-water mark.
void wait_for_stop_signal(const sigset_t& stop_signals, const std::function<void()>& on_reload) {
  constexpr auto kHeapTrimEvery = std::chrono::seconds(5);
  constexpr size_t kHeapTrimAboveBytes = 8u << 20;
  auto next_trim = std::chrono::steady_clock::now() + kHeapTrimEvery;
  for (;;) {
    const timespec tick{1, 0};
    const int sig = sigtimedwait(&stop_signals, nullptr, &tick);
    if (sig == SIGINT || sig == SIGTERM) {
      spdlog::info("received {}, shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
      return;
    }
    if (sig == SIGHUP) on_reload();
    if (std::chrono::steady_clock::now() >= next_trim) {
      next_trim = std::chrono::steady_clock::now() + kHeapTrimEvery;
      const causeway::HeapTrim trim = causeway::trim_free_heap(kHeapTrimAboveBytes);
      if (trim.trimmed) spdlog::debug("returned free heap memory to the OS ({} MiB were free)", trim.free_bytes >> 20);
    }
  }
}

// Each partition holds a file descriptor, so the soft RLIMIT_NOFILE (often 1024, or what the
// shell set) would cap partitions long before memory does: take the hard limit, as NATS and
// Kafka's scripts advise operators to. Topic creates then check the room left
// (EventStoreOptions::fd_reserve).
void raise_fd_limit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return;
  const rlim_t before = limit.rlim_cur;
  if (limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &limit) != 0) limit.rlim_cur = before;
  }
  spdlog::info("open files limit: {}{}", static_cast<uint64_t>(limit.rlim_cur),
               before != limit.rlim_cur ? " (raised from " + std::to_string(static_cast<uint64_t>(before)) + ")"
                                        : std::string());
}

// Serves until SIGINT/SIGTERM. 0 after a clean stop, 1 if the broker could not start or
// its final sync failed (the reason logged). Kept as one function on purpose: the services
// are built in dependency order and torn down in reverse by scope, which splitting would
// scatter across helpers that pass half-built state around.
int run(const BrokerConfig& config) {
  causeway::daemon_log::configure(config.log_format, config.log_level);
  raise_fd_limit();

  // Block the stop signals in every thread (threads inherit the mask) and wait for them here.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGHUP);  // reloads the TLS certificates
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  // A peer that closes its end must fail that one write (EPIPE), never end the broker: OpenSSL
  // writes with write(), without MSG_NOSIGNAL (https rule targets, a TLS registry).
  ::signal(SIGPIPE, SIG_IGN);

  const std::string& data_dir = config.store.data_dir;
  if (Status s = causeway::storage::FileSystem::posix()->create_dirs(data_dir); !s.ok()) {
    spdlog::error("{}", s.to_string());
    return 1;
  }
  auto lock = causeway::DataDirLock::acquire(data_dir, "causeway-broker");
  if (!lock) {
    spdlog::error("{}", lock.error().message());
    return 1;
  }

  core::OpenReport report;
  core::EventStoreOptions store_options = config.store;
  store_options.fd_reserve = config.server.max_connections + 256;
  auto store = core::EventStore::open(causeway::storage::FileSystem::posix(), store_options, &report);
  if (!store) {
    const std::string why = store.error().to_string();
    rlimit limit{};
    const bool fds = why.find("Too many open files") != std::string::npos && ::getrlimit(RLIMIT_NOFILE, &limit) == 0;
    spdlog::error("cannot open storage: {}{}", why,
                  fds ? " (every partition holds a file descriptor and the limit is " +
                            std::to_string(static_cast<uint64_t>(limit.rlim_cur)) +
                            ": raise the hard limit, ulimit -Hn or LimitNOFILE= under systemd, and start again)"
                      : std::string());
    return 1;
  }
  log_open_report(report, data_dir);
  std::shared_ptr<causeway::tls::ServerTls> tls;
  if (config.tls) {
    auto loaded = causeway::tls::ServerTls::load(*config.tls);
    if (!loaded) {
      spdlog::error("cannot serve TLS: {}", loaded.error().message());
      return 1;
    }
    tls = std::move(*loaded);
  }
  // Tokens and ACLs, stored in the meta store (docs/security.md, "Tokens and ACLs").
  causeway::auth::Authorizer authorizer((*store)->meta(), config.superusers);
  if (Status s = authorizer.load(); !s.ok()) {
    spdlog::error("cannot read tokens and ACLs: {}", s.to_string());
    return 1;
  }
  if (authorizer.enforcing()) {
    spdlog::info("ACLs enforced: {} ACL(s), {} superuser(s)", authorizer.list_acls("").size(), config.superusers.size());
  }
  // The registry's store lives under the data dir, covered by its LOCK.
  std::unique_ptr<registry::RegistryServer> embedded_registry;
  if (config.registry) {
    registry::RegistryServerOptions registry_options = *config.registry;
    registry_options.tls = tls;
    // Its REST API takes the same tokens and ACLs (registry-read, registry-write).
    registry_options.authenticator = std::make_shared<causeway::auth::RegistryAccess>(authorizer);
    auto started = registry::RegistryServer::start(std::move(registry_options));
    if (!started) {
      spdlog::error("cannot start the embedded schema registry on {}: {} (choose another --registry-listen, "
                    "or --registry-listen off)",
                    config.registry_listen, started.error().message());
      return 1;
    }
    embedded_registry = std::move(*started);
  }
  std::unique_ptr<core::SchemaChecker> schema_checker;
  if (embedded_registry) {
    schema_checker = std::make_unique<core::RegistrySchemaChecker>(embedded_registry->store());
  } else if (!config.registry_url.empty()) {
    auto fetcher = core::make_http_schema_fetcher({.url = config.registry_url});
    if (!fetcher) {  // parse_flags checked the URL
      spdlog::error("--registry-url: {}", fetcher.error().message());
      return 1;
    }
    schema_checker = std::make_unique<core::RemoteSchemaChecker>(std::move(*fetcher));
  }

  // The services the server serves with; it starts and stops the coordinator with itself.
  server::StoragePool storage_pool(config.storage_threads);
  core::PublishPipeline publish(**store, schema_checker.get());
  subscribe::CoordinatorOptions subscribe_options = config.subscribe;
  // Filtered subscriptions read FlatBuffers payloads through their registered schemas.
  if (schema_checker) {
    subscribe_options.payload_schema = [checker = schema_checker.get()](uint32_t id) {
      return checker->reflection_schema(id);
    };
  }
  // The metrics need the coordinator to exist, and the coordinator times deliveries for
  // them: it reaches them through this once they do (before the server starts it).
  std::atomic<admin::BrokerMetrics*> delivery_metrics{nullptr};
  subscribe_options.on_delivery_timing = [&delivery_metrics](subscribe::DeliveryPhase phase,
                                                             std::chrono::nanoseconds took) {
    if (admin::BrokerMetrics* m = delivery_metrics.load(std::memory_order_acquire)) m->observe_delivery(phase, took);
  };
  subscribe::Coordinator coordinator(**store, publish, storage_pool.executor(), subscribe_options);
  // Metrics (docs/operations.md) see every response and every log sync as they happen.
  server::Server* serving = nullptr;
  admin::BrokerMetrics metrics({**store, coordinator, [&serving] { return serving ? serving->open_connections() : 0u; },
                                config.server.broker_version});
  metrics.install_sync_observer();
  delivery_metrics.store(&metrics, std::memory_order_release);
  server::ServerOptions server_options = config.server;
  server_options.tls = tls;
  server_options.on_response = [&metrics](protocol::Body request, const std::vector<uint8_t>& response) {
    metrics.observe_response(request, response);
  };
  server_options.on_publish_written = [&metrics](const server::PublishTiming& t) {
    metrics.observe_publish(t.read, t.respond, t.total);
  };
  server_options.on_push_written = [&metrics](std::chrono::nanoseconds took) { metrics.observe_push(took); };
  server::Server server(
      server::Services{**store, publish, coordinator, storage_pool, schema_checker.get(), &authorizer}, server_options);
  if (Status s = server.start(); !s.ok()) {
    spdlog::error("{}", s.message());
    return 1;
  }
  serving = &server;
  std::unique_ptr<admin::AdminServer> admin_server;
  if (config.admin) {
    // The embedded registry's metrics follow the broker's on the same page.
    auto scrape = [&metrics, registry = embedded_registry.get()] {
      std::string text = metrics.scrape();
      if (registry != nullptr) text += registry->metrics_text();
      return text;
    };
    auto started = admin::AdminServer::start_for_daemon(config.admin->first, config.admin->second,
                                                        config.admin_explicit, scrape, "the broker");
    if (!started) {
      spdlog::error("{}", started.error().message());
      return 1;
    }
    admin_server = std::move(*started);
  }
  // The wire address first: tools that wait for "listening on " take the first match.
  spdlog::info("listening on {}:{}{}", config.server.listen_host, server.port(), tls ? " (TLS)" : "");
  if (tls) {
    spdlog::info("TLS certificate: {}; client certificates: {}", tls->describe(),
                 causeway::tls::client_auth_name(tls->client_auth()));
  }
  if (embedded_registry) spdlog::info("registry listening on {}", embedded_registry->url());
  if (!config.registry_url.empty())
    spdlog::info("schema-bound topics are checked against the registry at {}", config.registry_url);
  // Not the word "ready" before the line that says the broker is: tools wait for it.
  if (admin_server) spdlog::info("admin listening on {} (metrics, health and readiness probes)", admin_server->url());
  spdlog::info("causeway-broker ready (pid {}); stop with SIGINT or SIGTERM", ::getpid());

  wait_for_stop_signal(stop_signals, [&tls] {
    if (!tls) {
      spdlog::info("received SIGHUP: no TLS certificates to reload (the broker serves plaintext)");
      return;
    }
    if (Status s = tls->reload(); !s.ok()) {
      spdlog::error("received SIGHUP: TLS reload failed, still serving the previous certificate: {}", s.message());
      return;
    }
    spdlog::info("received SIGHUP: reloaded the TLS certificate ({}); open connections keep theirs",
                 tls->describe());
  });

  if (admin_server) admin_server->set_ready(false);
  if (embedded_registry) embedded_registry->stop();
  server.stop();  // no new requests; in-flight appends finish and are answered; the coordinator stops
  serving = nullptr;
  if (admin_server) admin_server->stop();  // a scrape reads the store: done before it closes
  Status synced = (*store)->logs().sync_all();
  store->reset();  // closes logs (syncing) and LMDB
  if (!synced.ok()) {
    spdlog::error("final sync failed: {}", synced.to_string());
    return 1;
  }
  spdlog::info("stopped cleanly");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  auto parsed = parse_flags(argc, argv);
  if (const int* exit_code = std::get_if<int>(&parsed)) return *exit_code;
  return run(std::get<BrokerConfig>(parsed));
}
