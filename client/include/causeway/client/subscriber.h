// File: causeway/client/subscriber.h
//
// Subscriber: a member of the consumer group of one durable subscription
// (docs/subscriptions.md; exchange in docs/wire-protocol.md, "Subscribe"). The broker pushes
// events of the partitions assigned to this member, at most max_unacked_events /
// max_unacked_bytes unacked at a time; each must be acked (done) or nacked (redeliver,
// optionally after a delay). Unacked events are redelivered, to this or another member,
// after the ack deadline, after this member's session times out, or when it leaves.
//
// Two forms:
//  - pull: connect(), then receive(max, timeout) and ack()/nack() each event;
//  - handler: start() with a Handler run on the Subscriber's own thread, one event at a
//    time; the library acks when it returns OK and nacks when it returns an error or
//    throws (configurable in SubscriberOptions).
//
// The Subscriber heartbeats, reconnects after connection losses and broker restarts with
// exponential backoff and joins again (events received on the old connection can then no
// longer be acked: ack() says so, and they are redelivered). close() leaves the group, so
// the partitions move to the other members at once. Every received event advances the
// Subscriber's Lamport clock.
//
// Threads: every method is thread-safe. Nothing throws; errors are Status values. The
// on_error and on_connection_state callbacks run on the subscriber's network thread: the
// calls that wait for it (close(), sync_acks(), ack_sync(), receive() with a timeout)
// return kFailedPrecondition there instead of deadlocking. Do not destroy the Subscriber
// in a callback. The handler of start() runs on a thread of its own, where every call but
// close() is fine.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "causeway/client/options.h"
#include "causeway/client/types.h"
#include "causeway/common/status.h"

namespace causeway::client {

struct SubscriberOptions {
  std::string subscription;  // also the group's name
  std::string topic;
  // Create the subscription with `settings` if it does not exist yet.
  bool create_if_missing = true;
  // settings.name and settings.topic are taken from `subscription` and `topic`: leave them
  // empty or repeat those; a different value makes connect() fail with kInvalidArgument.
  SubscriptionSpec settings;
  // Credit window: unacked events (and their bytes) the broker may push to this member.
  uint32_t max_unacked_events = 1000;
  uint32_t max_unacked_bytes = 8u << 20;
  // 0: a third of the broker's session timeout.
  std::chrono::milliseconds heartbeat_interval{0};
  // Reconnect backoff: exponential from initial to max, with jitter.
  std::chrono::milliseconds retry_backoff_initial{100};
  std::chrono::milliseconds retry_backoff_max{2000};
  // Handler form: ack when the handler returns OK; nack (after nack_delay) on an error or
  // an exception. With ack_on_success=false the handler acks itself.
  bool ack_on_success = true;
  bool nack_on_error = true;
  std::chrono::milliseconds nack_delay{0};
  // Handler form: events taken per receive() round.
  size_t handler_batch = 64;

  // Asynchronous outcomes, on the subscriber's network thread (rules in options.h, at
  // ConnectionStateCallback: no waiting call of this Subscriber there).
  // on_error receives: every lost connection (the reason), a rejoin the broker refused
  // (e.g. the subscription was deleted), acks, nacks and deadline extensions the broker
  // refused or that could not be sent (their events come again; ack_errors() counts
  // them), and a Delivery that failed to decode.
  ErrorCallback on_error;
  // kDisconnected when the connection drops, kReconnecting when the reconnect starts,
  // kReconnected once the subscriber has joined its group again, kClosed at the end of close().
  ConnectionStateCallback on_connection_state;
};

class Subscriber {
 public:
  // Returns an error status to nack the event; OK to ack it.
  using Handler = std::function<Status(const DeliveredEvent&)>;

  // Connects and joins the group before returning (pull form). Errors: as
  // Admin::connect, plus kNotFound (topic, or subscription with create_if_missing=false),
  // kInvalidArgument (the subscription is on another topic; bad settings; settings.name
  // or settings.topic contradicting subscription or topic).
  static Result<std::unique_ptr<Subscriber>> connect(ClientOptions client, SubscriberOptions options);
  // As connect(), then runs `handler` for every event on a thread of its own until close().
  static Result<std::unique_ptr<Subscriber>> start(ClientOptions client, SubscriberOptions options, Handler handler);

  ~Subscriber();  // close()
  Subscriber(const Subscriber&) = delete;
  Subscriber& operator=(const Subscriber&) = delete;

  // Up to `max` events, waiting up to `timeout` for the first. Empty on timeout.
  // kFailedPrecondition after close(), or with a timeout in a callback.
  Result<std::vector<DeliveredEvent>> receive(size_t max, std::chrono::milliseconds timeout);
  // Acks are batched and sent asynchronously; an error the broker reports later is
  // counted in ack_errors() and reported to on_error. kFailedPrecondition if the event came over an earlier
  // connection (it will be redelivered) or after close().
  Status ack(const DeliveredEvent& event);
  // Redeliver after `delay` (0: the subscription's backoff); `reason` is kept for the
  // dead-letter topic. Errors as ack().
  Status nack(const DeliveredEvent& event, std::chrono::milliseconds delay = std::chrono::milliseconds(0),
              std::string reason = "");

  // Durable acks (docs/subscriptions.md, "Durable acks"). ack() is answered by the broker
  // once the ack is applied in memory; the group's committed state reaches disk with the
  // next commit (every --subscribe-sweep-interval, 100 ms by default), so a broker crash
  // before then redelivers the event. sync_acks() closes that window, as Kafka's
  // commitSync() and JetStream's AckSync do: it sends the acks still queued, waits for
  // the broker's answers, then waits until the broker has written the group's committed
  // state with every ack given so far to disk. OK: none of those events comes again
  // (unless the subscription is deleted). Errors: kDeadlineExceeded after `timeout` (0:
  // request_timeout; the acks may still be committed); kUnavailable when not connected
  // (acks given over a lost connection are void: their events come again); the broker's
  // refusal of an ack (its event will be redelivered: e.g. kFailedPrecondition after its
  // ack deadline passed), naming how many were refused; the broker's commit error;
  // kFailedPrecondition after close(), from a broker too old to commit on request, or in a
  // callback. Blocks the caller; safe from any other thread, including the handler's.
  Status sync_acks(std::chrono::milliseconds timeout = std::chrono::milliseconds(0));
  // ack(event) followed by sync_acks(timeout): one durable ack. Each call costs a round
  // trip and an LMDB commit that concurrent callers share; to make many acks durable, ack()
  // them and call sync_acks() once.
  Status ack_sync(const DeliveredEvent& event, std::chrono::milliseconds timeout = std::chrono::milliseconds(0));

  // Gives an event back unprocessed: it is neither acked nor nacked, and its delivery does
  // not count as an attempt. It stays in flight to this member (ack() or nack() still
  // work) until close(), which returns it to the group with its attempt count unchanged,
  // so a peek cannot push an event towards the dead-letter topic. Events the broker pushed
  // that receive() never returned are given back the same way at close(); events
  // receive() returned and that were not acked, nacked or released count as an attempt, as
  // they do when the subscriber crashes. Errors as ack().
  Status release(const DeliveredEvent& event);

  // Asks for more time: the event's ack deadline becomes now + `extend` (1 ms to 1 h).
  // Sent at once; an error the broker reports later is counted in ack_errors(). Errors as
  // ack(), and kInvalidArgument for an extension out of range.
  Status extend_deadline(const DeliveredEvent& event, std::chrono::milliseconds extend);

  // Leaves the group (unacked events go to other members at once; see release() for which
  // of them count as a delivery attempt) and disconnects. Acks given before are sent
  // first, but not made durable: call sync_acks() before close() for that.
  // Idempotent; the handler thread, if any, is joined (do not call from the handler).
  // Reports kClosed to on_connection_state. In a callback it does nothing and returns
  // kFailedPrecondition.
  Status close();

  // The member id of the current membership ("" while reconnecting).
  std::string member_id() const;
  uint64_t lamport() const;
  // How many times the subscriber joined (1 + rejoins after connection losses).
  uint64_t joins() const;
  uint64_t ack_errors() const;

 private:
  // Only connect() and start() build a Subscriber.
  class Impl;
  explicit Subscriber(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
};

}  // namespace causeway::client
