// File: causeway/client/options.h
//
// Connection and publisher settings. Plain values, read once at connect time.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "causeway/common/status.h"

namespace causeway::client {

class SchemaIdSource;

// Where a Publisher's or Subscriber's connection stands, as reported to
// on_connection_state (nats.c's disconnected / reconnected / closed callbacks).
enum class ConnectionState {
  kDisconnected,  // the connection was lost (the reason went to on_error)
  kReconnecting,  // a reconnect with backoff has begun (once per outage, not per attempt)
  kReconnected,   // a new connection is up (a Subscriber has joined its group again)
  kClosed,        // close() (or the destructor) finished; the last state reported
};

// "disconnected", "reconnecting", "reconnected", "closed".
const char* connection_state_name(ConnectionState state) noexcept;

// Callbacks for what happens in the background (PublisherOptions, SubscriberOptions). They
// run on the client's network thread, one at a time: keep them short. The calls of the
// same client that wait for that thread (flush(), close(), sync_acks(), ack_sync(),
// receive() with a timeout) return kFailedPrecondition there, and a publish() that would
// wait for room fails with kResourceExhausted. Exceptions they throw are swallowed.
using ConnectionStateCallback = std::function<void(ConnectionState)>;
using ErrorCallback = std::function<void(const Status&)>;

// What Publisher::publish() does when max_pending_events or max_pending_bytes is reached.
enum class WhenFull {
  kBlock,  // wait for acks to make room, up to max_block; then kResourceExhausted
  kFail,   // complete at once with kResourceExhausted (librdkafka's QUEUE_FULL)
};

// TLS to the broker (docs/security.md). Off unless `enabled` or one of the files is set.
struct TlsOptions {
  bool enabled = false;
  // PEM CA certificates the broker's certificate must chain to; empty: the system's CA
  // store (/etc/ssl/certs).
  std::string ca_file{};
  // A client certificate and its key (PEM), for brokers that ask for one (mTLS).
  std::string cert_file{};
  std::string key_file{};
  // The name the broker's certificate must carry (DNS name or IP address); empty: the host
  // of ClientOptions::broker. Always checked: there is no switch to turn checking off.
  std::string server_name{};

  bool active() const { return enabled || !ca_file.empty() || !cert_file.empty() || !key_file.empty(); }
};

struct ClientOptions {
  // "HOST:PORT"; a literal IPv6 address is written in brackets ("[::1]:7450").
  std::string broker = "127.0.0.1:7450";
  TlsOptions tls{};
  // A bearer token ("cwt_....", from `causeway auth token create`) sent in the Hello; empty:
  // none (the TLS client certificate's subject, or "anonymous"). docs/security.md.
  std::string token{};
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

  // Bound on pending events: accepted by publish() and not yet acked or failed, counted
  // in events and in estimated bytes (the event's fields plus a small overhead). They are
  // held in memory while the broker is unreachable, so without a bound a publisher fed
  // faster than the broker acks (or while it is down) grows without limit. When either
  // bound is reached, publish() does what `when_full` says (librdkafka's
  // queue.buffering.max.messages / max.kbytes, nats.c's pending limits). An event larger
  // than max_pending_bytes on its own fails at once with kResourceExhausted.
  std::size_t max_pending_events = 100'000;
  std::size_t max_pending_bytes = std::size_t{64} << 20;
  // The default blocks, so that a producer slows down to the broker's pace instead of
  // failing (Kafka's max.block.ms, 60 s). A publish() that would block on the publisher's
  // own network thread (from a callback) fails at once instead, since only that thread
  // can free room.
  WhenFull when_full = WhenFull::kBlock;
  std::chrono::milliseconds max_block{60000};

  // Asynchronous outcomes, on the network thread (see ConnectionStateCallback above).
  // on_error receives: every lost connection (the reason: I/O error, a frame that failed
  // verification, no response within request_timeout), a reconnect that gave up after
  // max_retries, and the failure of each event published with the future form of
  // publish(), which has no callback of its own (an unread future would hide it).
  ErrorCallback on_error;
  // kDisconnected when the connection drops, kReconnecting when the reconnect starts (an
  // idle publisher reconnects only once it has something to send), kReconnected once it is
  // back, kClosed at the end of close().
  ConnectionStateCallback on_connection_state;

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
  // The registry to ask, required with schema_subject: a RegistryClient
  // (causeway/client/registry_client.h, target causeway::registry_client), shared e.g. with
  // the code that registered the schema so that its caches are reused. Without one,
  // connect() fails with kInvalidArgument. (causeway::client itself speaks no HTTP, so that
  // a publisher without schema ids needs no HTTP library.)
  std::shared_ptr<SchemaIdSource> registry;
};

// Looks up the schema id of a subject's version for a Publisher (PublisherOptions::registry).
// RegistryClient implements it; a test or an application with its own registry access may
// too. Called from a thread of the Publisher's own, never on its network thread; must be
// thread-safe.
class SchemaIdSource {
 public:
  virtual ~SchemaIdSource() = default;
  // The schema id of `version` of `subject` (-1: the latest live version). kNotFound when
  // there is none; kUnavailable when the source cannot be reached.
  virtual Result<uint32_t> schema_id_of(const std::string& subject, int version) = 0;
  // Names the source in messages, e.g. the registry's URL.
  virtual std::string source_name() const = 0;
};

}  // namespace causeway::client
