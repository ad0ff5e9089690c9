// File: server/server.h
//
// The broker's network front: a TCP listener and a small fixed pool of network threads (one
// io_context each; a connection lives on one of them for its whole life, so its reading
// state needs no locks). Its output queue is shared: the thread that has a response or a
// pushed Delivery (a sync or storage thread) writes it to the socket itself when nothing
// is queued before it, and queues it for the connection's writer otherwise. It serves requests with services it is given (Services: the event
// store, publish pipeline, subscription coordinator, schema checker and the storage
// threads where everything that may block on disk runs); the daemon (broker/src/main.cc)
// builds and owns those. Protocol: docs/wire-protocol.md.
//
// Thread-safety: start() and stop() are called from one controlling thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "causeway/common/status.h"
#include "causeway/schemas/protocol_generated.h"
#include "core/event_store.h"
#include "core/publish_pipeline.h"
#include "causeway/tls/server_tls.h"
#include "auth/authorizer.h"
#include "core/schema_checker.h"
#include "server/storage_pool.h"
#include "subscribe/coordinator.h"

namespace causeway::server {

// One publish request's time in the broker, from the socket read that completed its frame.
struct PublishTiming {
  std::chrono::nanoseconds read{0};     // that read to the request being handled
  std::chrono::nanoseconds respond{0};  // the response ready (acks known) to it written to the socket
  std::chrono::nanoseconds total{0};    // that read to the response written
};

struct ServerOptions {
  std::string listen_host = "127.0.0.1";
  uint16_t listen_port = 7450;  // 0 picks a free port
  uint32_t max_frame_bytes = 16u << 20;
  uint32_t max_connections = 1024;
  uint32_t network_threads = 2;
  // Requests a connection may have outstanding before the broker stops reading from it.
  uint32_t max_in_flight_per_connection = 256;
  // Bound on the TLS handshake plus the Hello: a connection that has not finished both by
  // then is closed (so a slow or stalled handshake holds no thread and not for long).
  std::chrono::milliseconds handshake_timeout{10000};
  // TLS on the wire port (--tls-cert, --tls-key, --tls-ca, --tls-client-auth); null serves
  // plaintext. Shared with the daemon, which reloads it on SIGHUP.
  std::shared_ptr<tls::ServerTls> tls;
  std::string broker_version = "0.1.0";
  // For tests (tests/unit/server/server_test.cc), called with the connection's id: on the
  // accepting thread for each accepted connection before it is served, and by a
  // connection's writer before each write (with before_write_for_test set, every frame goes
  // through the writer). What they throw stands for a failure inside the server: it must
  // end that one connection, logged, and the server keep accepting.
  std::function<void(uint64_t connection_id)> on_accept_for_test;
  // Sees every response to a request (not pushed Deliveries) as it is answered: the
  // request's kind and the response frame (length prefix included). For the metrics
  // (admin/metrics.h); runs on any thread and must be cheap.
  std::function<void(protocol::Body request, const std::vector<uint8_t>& response)> on_response;
  std::function<void(uint64_t connection_id)> before_write_for_test;
  // Sees each publish request's time in the broker once its response is written, for the
  // metrics (docs/broker.md, "Where a publish's time goes"); on whichever thread wrote it
  // (the connection's network thread, or the sync thread that completed the publish), and
  // must be cheap.
  std::function<void(const PublishTiming&)> on_publish_written;
  // Sees each pushed Delivery frame once written: from its encoding (on a storage thread)
  // to its bytes written to the socket (by that thread when nothing was queued before it,
  // else the queue and the hand-off to the network thread). Same thread and cost rules.
  std::function<void(std::chrono::nanoseconds)> on_push_written;
};

// What the server serves with. The caller builds them (the publish pipeline and the
// coordinator over the store, the coordinator's Executor being storage_pool.executor())
// and keeps them alive until the server is destroyed. The server drives their life with
// its own: start() starts the coordinator and routes the store's append notifications to
// it; stop() stops the coordinator, then the schema checker, then joins the storage pool,
// in the order that lets in-flight requests finish and be answered.
struct Services {
  core::EventStore& store;
  core::PublishPipeline& publish;
  subscribe::Coordinator& coordinator;
  StoragePool& storage_pool;
  // Checks events of schema-bound topics (the embedded registry, or a remote one with
  // --registry-url); null: such publishes are refused. The publish pipeline uses the same.
  core::SchemaChecker* schema_checker = nullptr;
  // Tokens and ACLs (docs/security.md, "Tokens and ACLs"); null: no authentication beyond
  // TLS, every request allowed.
  auth::Authorizer* authorizer = nullptr;
};

// The coordinator's settings that follow from the server's: a Delivery frame must fit in
// a frame the client accepts.
subscribe::CoordinatorOptions fit_to_frames(subscribe::CoordinatorOptions coordinator, const ServerOptions& server);

class Server {
 public:
  Server(Services services, ServerOptions options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds and starts serving. kIOError naming the address if it cannot bind.
  Status start();
  // The bound port (useful with port 0). Valid after start().
  uint16_t port() const noexcept { return bound_port_; }
  // Connections open now (accepted and not yet closed). Thread-safe.
  uint32_t open_connections() const;
  // Stops accepting, stops reading requests, lets in-flight storage work finish, and joins
  // every thread. Idempotent.
  void stop();

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
  uint16_t bound_port_ = 0;
};

}  // namespace causeway::server
