// File: server/server.h
//
// The broker's network front: a TCP listener, a small fixed pool of network threads (one
// io_context each; a connection lives on one of them for its whole life, so its state
// needs no locks), and a pool of storage threads where everything that may block on disk
// runs (appends waiting for group commit, LMDB write commits). Protocol: docs/wire-protocol.md.
//
// Thread-safety: start() and stop() are called from one controlling thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "causeway/common/status.h"
#include "core/event_store.h"
#include "core/publish_pipeline.h"

namespace causeway::server {

struct ServerOptions {
  std::string listen_host = "127.0.0.1";
  uint16_t listen_port = 7450;  // 0 picks a free port
  uint32_t max_frame_bytes = 16u << 20;
  uint32_t max_connections = 1024;
  uint32_t network_threads = 2;
  uint32_t storage_threads = 4;  // topic changes and fetches, which may block on disk
  // Requests a connection may have outstanding before the broker stops reading from it.
  uint32_t max_in_flight_per_connection = 256;
  std::chrono::milliseconds handshake_timeout{10000};
  std::string broker_version = "0.1.0";
  // Subscriptions (docs/subscriptions.md): member session timeout and the sweeper's tick.
  std::chrono::milliseconds group_session_timeout{10000};
  std::chrono::milliseconds subscribe_sweep_interval{100};
  // Checks events of schema-bound topics (the embedded registry, or a remote one with
  // --registry-url); null: such publishes are refused. Must outlive the server; stop()
  // stops it.
  core::SchemaChecker* schema_checker = nullptr;
};

class Server {
 public:
  Server(core::EventStore& store, ServerOptions options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds and starts serving. kIOError naming the address if it cannot bind.
  Status start();
  // The bound port (useful with port 0). Valid after start().
  uint16_t port() const noexcept { return bound_port_; }
  // Stops accepting, stops reading requests, lets in-flight storage work finish, and joins
  // every thread. Idempotent.
  void stop();

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
  uint16_t bound_port_ = 0;
};

}  // namespace causeway::server
