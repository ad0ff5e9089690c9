// File: causeway/client/options.h
//
// Connection and publisher settings. Plain values, read once at connect time.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

namespace causeway::client {

class RegistryClient;

struct ClientOptions {
  // "HOST:PORT"; a literal IPv6 address is written in brackets ("[::1]:7450").
  std::string broker = "127.0.0.1:7450";
  // Appears in the broker's logs, e.g. "orders-service/1.4".
  std::string client_name;
  // Bound on TCP connect plus the Hello handshake.
  std::chrono::milliseconds connect_timeout{5000};
  // Bound on waiting for one response. When it passes, the connection is considered dead and
  // is closed (a Publisher then reconnects and resends; an Admin call returns
  // kDeadlineExceeded).
  std::chrono::milliseconds request_timeout{30000};
};

struct PublisherOptions {
  // How long an event may wait for more events of its topic before its batch is sent.
  std::chrono::microseconds linger{1000};
  // A topic's batch is sent as soon as its estimated size reaches this. Also bounded by the
  // broker's max_frame_bytes (HelloResponse).
  std::size_t max_batch_bytes = std::size_t{1} << 20;
  // A batch is also sent when it holds this many events.
  std::size_t max_batch_events = 10000;
  // Batches sent and not yet acked; more wait in the client until acks arrive.
  std::size_t max_in_flight_batches = 64;
  // Give every event published without a dedup key a fresh random one (32 hex characters),
  // created once at publish() so that resends after a connection loss are deduplicated.
  bool auto_dedup_keys = false;
  // An event without a dedup key whose batch was in flight when the connection dropped may
  // or may not have been stored. true: resend it anyway (it may be stored twice).
  // false: fail it with kUnavailable ("outcome unknown") instead.
  bool retry_without_dedup_key = true;
  // How often a batch is resent after connection losses, and how many consecutive
  // reconnect attempts are made, before its events fail with kUnavailable.
  int max_retries = 10;
  // Reconnect backoff: exponential from initial to max, with jitter.
  std::chrono::milliseconds retry_backoff_initial{100};
  std::chrono::milliseconds retry_backoff_max{5000};

  // Schema subject of the registry (docs/registry.md). When set, Publisher::connect looks up
  // the id of its version `schema_version` (-1: the latest live version), and every event
  // published with schema_id 0 gets that id. Events that carry an id keep it.
  // connect() fails with kNotFound (no such subject or version, "(error 40401)" /
  // "(error 40402)" in the message) or kUnavailable (registry unreachable) naming both.
  // After connect the id is looked up again every schema_refresh_interval, and at once when
  // the broker refuses an event stamped with it as SchemaMismatch (its version was deleted,
  // say), so that a version registered or deleted later is picked up; see
  // Publisher::schema_id().
  std::string schema_subject;
  int schema_version = -1;
  // 0: only on SchemaMismatch. Lookups run on a thread of the Publisher's own, never in
  // publish(); a failed one keeps the id and is retried at the next interval or mismatch.
  std::chrono::milliseconds schema_refresh_interval{30000};
  // The registry to ask: `registry` if set (shared, e.g. with the code that registered the
  // schema; its caches are reused), otherwise one created for `registry_url`.
  std::shared_ptr<RegistryClient> registry;
  std::string registry_url = "http://127.0.0.1:8081";
};

}  // namespace causeway::client
