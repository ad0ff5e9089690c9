// File: causeway/registry/server.h
//
// RegistryServer: the schema registry's REST API (Confluent Schema Registry's paths and
// bodies, schemaType "FLATBUFFERS"; docs/registry.md) served over HTTP/1.1 on a thread pool,
// over a SchemaStore in `data_dir`. Used by the causeway-registry daemon and meant to be
// embedded in causeway-broker. The HTTP library (cpp-httplib) stays behind a pimpl.
//
// Thread-safety: start/port/url/store may be called from any thread; stop() is idempotent
// and must not be called from a request handler. The destructor stops.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "causeway/common/status.h"
#include "causeway/registry/access.h"
#include "causeway/registry/store.h"
#include "causeway/tls/server_tls.h"

namespace causeway::registry {

struct RegistryServerOptions {
  std::string listen_host = "127.0.0.1";
  std::uint16_t listen_port = 8081;  // 0 picks a free port; port() says which
  std::string data_dir;              // the store's LMDB directory (created if missing)
  // Request bodies above this are answered 413 without being stored (read and discarded).
  std::size_t max_body_bytes = 1 << 20;
  unsigned threads = 4;  // requests served concurrently
  // Serve HTTPS with these credentials (docs/security.md); null: plain HTTP.
  std::shared_ptr<tls::ServerTls> tls;
  // Who may do what (causeway/registry/access.h): requests are authenticated by their
  // `Authorization: Bearer` token or TLS client certificate, refused 401/403. Null: every
  // request is allowed and Authorization headers are not looked at.
  std::shared_ptr<Authenticator> authenticator{};
};

class RegistryServer {
 public:
  // Opens the store and starts serving; returns once the socket is bound and listening.
  // Errors: kInvalidArgument for bad options, kIOError when the store cannot be opened,
  // kUnavailable when the address cannot be bound (in use, not local).
  static Result<std::unique_ptr<RegistryServer>> start(RegistryServerOptions options);
  ~RegistryServer();
  RegistryServer(const RegistryServer&) = delete;
  RegistryServer& operator=(const RegistryServer&) = delete;

  // The bound port (the real one when listen_port was 0).
  std::uint16_t port() const noexcept;
  // "http://HOST:PORT" with the bound port.
  std::string url() const;
  // The store behind the API, for an embedding process that checks schema ids directly.
  SchemaStore& store() noexcept;
  // The registry's metrics in Prometheus text exposition 0.0.4 (docs/operations.md):
  // causeway_registry_requests_total{method,code}, _request_seconds, _incompatible_schemas_total
  // {request}, _auth_refusals_total{reason}, _subjects. Any thread.
  std::string metrics_text();
  // Stops accepting, lets in-flight requests finish, joins the threads. Idempotent.
  void stop();

 private:
  struct Impl;
  explicit RegistryServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace causeway::registry
