// File: causeway/client/publisher.h
//
// Publisher: sends events to topics with batching, pipelining, retries that keep dedup keys,
// and a Lamport clock. The exchange is PublishRequest/PublishResponse of
// docs/wire-protocol.md; docs/client.md describes the behaviour as a whole.
//
// Threads: every public method is thread-safe. A Publisher owns one internal network
// thread and one TCP connection; completion callbacks (and on_error, on_connection_state)
// run on that thread, so they must be short and must not block. The calls that wait for
// that thread, flush() and close(), return kFailedPrecondition when called there (they
// would deadlock), and a publish() there that would have to wait for room fails with
// kResourceExhausted instead. Do not destroy the Publisher in a callback. Exceptions
// thrown by a callback are swallowed. Nothing in this API throws.
//
// Errors a publish can complete with (Result<PublishAck>):
//   kInvalidArgument    the broker refused the event or request (bad topic name, explicit
//                       partition out of range, schema mismatch or invalid payload); or an
//                       empty topic name
//   kNotFound           the topic does not exist
//   kResourceExhausted  the event does not fit in one frame of the broker's max_frame_bytes;
//                       or the pending limit (PublisherOptions::max_pending_events /
//                       max_pending_bytes) is reached and when_full is kFail, or max_block
//                       passed (kBlock), or publish() was called in a callback; or the event
//                       alone is larger than max_pending_bytes. Nothing was sent: retry later
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

  // Connects and completes the Hello handshake before returning. kInvalidArgument for
  // max_pending_events or max_pending_bytes of 0, or a schema_subject without a registry. With
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

  // Queues `event` for `topic`; the future becomes ready when the broker acked (or refused)
  // it, or when it failed for good. Takes ownership of the event. Returns at once, unless
  // the pending limit is reached: then, with when_full = kBlock, it waits until acks make
  // room (at most max_block); with kFail the future is ready at once with
  // kResourceExhausted. A failure that comes after publish() returned is also reported to
  // on_error, since a future may go unread.
  // Events of one topic are sent in publish() order; after a reconnect a resent batch may be
  // stored after batches that were sent later.
  std::future<Result<PublishAck>> publish(std::string topic, Event event);
  // The same, reporting through `callback`, which is called exactly once on the network
  // thread (on the caller's thread when publish() itself refuses the event: closed, or
  // full). Failures go to the callback only, not to on_error.
  void publish(std::string topic, Event event, Callback callback);

  // Sends every batched event now and waits until all events published before the call are
  // complete. kDeadlineExceeded if that takes longer than `timeout` (the events continue);
  // kFailedPrecondition in a callback (on the network thread).
  Status flush(std::chrono::milliseconds timeout = std::chrono::seconds(30));

  // The client's Lamport clock: the highest stamp it has seen (broker clock at connect, and
  // every ack). Sent with every publish, so events published after seeing stamp L get > L.
  uint64_t lamport() const;
  // Merges a stamp seen elsewhere (e.g. carried on an HTTP request) into the clock.
  // kInvalidArgument, with the clock unchanged, for a stamp above 2^63-1, which no broker
  // issues (docs/wire-protocol.md, "Lamport clocks").
  Status observe_lamport(uint64_t lamport);

  // Flushes (bounded by request_timeout), then fails whatever is still pending with
  // kFailedPrecondition (also publish() calls waiting for room), closes the connection and
  // reports kClosed to on_connection_state. Returns the flush's status. Idempotent;
  // publish() after close() completes at once with kFailedPrecondition. In a callback it
  // does nothing and returns kFailedPrecondition.
  Status close();

 private:
  // Only connect() builds a Publisher.
  class Impl;
  explicit Publisher(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace causeway::client
