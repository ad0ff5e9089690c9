// File: causeway/client/publisher.h
//
// Publisher: sends events to topics with batching, pipelining, retries that keep dedup keys,
// and a Lamport clock. The exchange is PublishRequest/PublishResponse of
// docs/wire-protocol.md; docs/client.md describes the behaviour as a whole.
//
// Threads: every public method is thread-safe. A Publisher owns one internal network
// thread and one TCP connection; completion callbacks run on that thread, so they must be
// short and must not block, and must not call flush() or close() (that would deadlock).
// Exceptions thrown by a callback are swallowed. Nothing in this API throws.
//
// Errors a publish can complete with (Result<PublishAck>):
//   kInvalidArgument    the broker refused the event or request (bad topic name, explicit
//                       partition out of range, schema mismatch or invalid payload); or an
//                       empty topic name
//   kNotFound           the topic does not exist
//   kResourceExhausted  the event does not fit in one frame of the broker's max_frame_bytes
//   kUnavailable        the connection was lost and could not be restored within
//                       max_retries attempts, or (retry_without_dedup_key = false) an event
//                       without a dedup key was in flight when it dropped: it may or may not
//                       be stored
//   kFailedPrecondition the publisher was closed before the event was sent
//   kDeadlineExceeded   never for a publish itself: a response that does not come within
//                       request_timeout closes the connection and the batch is resent
//   others              as the broker reported them (kIOError: the broker's disk failed)
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <string>

#include "causeway/client/options.h"
#include "causeway/client/types.h"
#include "causeway/common/status.h"

namespace causeway::client {

class Publisher {
 public:
  using Callback = std::function<void(const Result<PublishAck>&)>;

  // Connects and completes the Hello handshake before returning. With
  // publisher_options.schema_subject set, first resolves the subject's version to its schema
  // id through the registry (kNotFound: no such subject or version; kUnavailable: registry
  // unreachable; kInvalidArgument: bad registry_url or schema_version; the message names
  // the subject and the registry). Errors: kInvalidArgument
  // (malformed options.broker), kUnavailable (cannot connect: the message names the address
  // and the OS error), kDeadlineExceeded (connect_timeout), kFailedPrecondition (the broker
  // speaks another protocol version or refused the credentials). Later connection losses
  // are handled internally (reconnect with backoff).
  static Result<std::unique_ptr<Publisher>> connect(ClientOptions options,
                                                    PublisherOptions publisher_options = {});

  // Closes (as close() does) and releases the connection and the thread.
  ~Publisher();
  Publisher(const Publisher&) = delete;
  Publisher& operator=(const Publisher&) = delete;

  // The schema id resolved from publisher_options.schema_subject, put on every event
  // published with schema_id 0; 0 when no subject was given. Resolved at connect() and again
  // every schema_refresh_interval and after a SchemaMismatch for it (PublisherOptions), so
  // it changes when the subject gets a new latest version (or the pinned one is replaced).
  // An event takes the id current when publish() is called.
  uint32_t schema_id() const;
  // How the last lookup of the schema id after connect() went (OK before any): a failure
  // says why the id may be stale (registry unreachable, subject deleted, ...).
  Status schema_refresh_status() const;

  // Queues `event` for `topic` and returns at once; the future becomes ready when the broker
  // acked (or refused) it, or when it failed for good. Takes ownership of the event.
  // Events of one topic are sent in publish() order; after a reconnect a resent batch may be
  // stored after batches that were sent later.
  std::future<Result<PublishAck>> publish(std::string topic, Event event);
  // The same, reporting through `callback`, which is called exactly once on the network
  // thread (on the caller's thread when the publisher is already closed).
  void publish(std::string topic, Event event, Callback callback);

  // Sends every batched event now and waits until all events published before the call are
  // complete. kDeadlineExceeded if that takes longer than `timeout` (the events continue).
  Status flush(std::chrono::milliseconds timeout = std::chrono::seconds(30));

  // The client's Lamport clock: the highest stamp it has seen (broker clock at connect, and
  // every ack). Sent with every publish, so events published after seeing stamp L get > L.
  uint64_t lamport() const;
  // Merges a stamp seen elsewhere (e.g. carried on an HTTP request) into the clock.
  // kInvalidArgument, with the clock unchanged, for a stamp above 2^63-1, which no broker
  // issues (docs/wire-protocol.md, "Lamport clocks").
  Status observe_lamport(uint64_t lamport);

  // Flushes (bounded by request_timeout), then fails whatever is still pending with
  // kFailedPrecondition and closes the connection. Returns the flush's status. Idempotent;
  // publish() after close() completes at once with kFailedPrecondition.
  Status close();

  // Implementation detail, public only so that the factory can build it.
  class Impl;
  explicit Publisher(std::unique_ptr<Impl> impl);

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace causeway::client
