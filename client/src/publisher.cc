// File: client/src/publisher.cc
//
// The Publisher (causeway/client/publisher.h). All batching and connection state lives in
// PublisherCore, guarded by its recursive mutex (guard()): the IoThread takes it in every
// handler that touches the core (the connection's coroutines take it too), and publish()
// from another thread takes it to add the event itself when it is free and nothing that
// thread posted earlier is still queued, so that an unbatched event goes from the caller's
// thread to the socket without waking the IoThread (docs/client.md, "Threads"). Otherwise,
// and always on the IoThread, publish() posts to it. User callbacks only ever run on the
// IoThread: what the core completes on a caller's thread is posted there. Flow:
// publish() → BatchAccumulator (per topic, linger/max bytes) → ready_ queue → at most
// max_in_flight_batches PublishRequests in flight on the Connection → acks matched by
// correlation id → callbacks. On connection loss every unacked batch goes back to ready_
// (in original order) and is resent, with the same dedup keys, after a reconnect with
// backoff. The exchange is docs/wire-protocol.md, "Publish".
#include "causeway/client/publisher.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include <asio/co_spawn.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>

#include "causeway/common/lamport_clock.h"
#include "client/src/backoff.h"
#include "client/src/batch_accumulator.h"
#include "client/src/connection.h"
#include "client/src/dedup_key.h"
#include "client/src/io_thread.h"
#include "client/src/protocol_codec.h"

namespace causeway::client {
namespace {

using internal::Connection;
using internal::Frame;
using Clock = std::chrono::steady_clock;

// PublisherOptions::schema_version for the latest live version (RegistryClient's
// kLatestVersion; causeway::client does not depend on causeway::registry_client).
constexpr int kLatestSchemaVersion = -1;

// User callbacks of PublisherOptions; exceptions are swallowed, as documented.
void report(const ErrorCallback& on_error, const Status& status) {
  if (!on_error) return;
  try {
    on_error(status);
  } catch (...) {
  }
}
void report(const ConnectionStateCallback& on_state, ConnectionState state) {
  if (!on_state) return;
  try {
    on_state(state);
  } catch (...) {
  }
}

struct PendingEvent {
  Event event;
  Publisher::Callback callback;
};

struct Batch {
  uint64_t seq = 0;  // creation order, kept across resends
  std::string topic;
  std::vector<PendingEvent> events;
  int attempts = 0;
};

void complete(PendingEvent& e, const Result<PublishAck>& result) {
  try {
    e.callback(result);
  } catch (...) {
    // Documented: exceptions from user callbacks are swallowed.
  }
}

void fail_batch(Batch& batch, const Status& status) {
  for (PendingEvent& e : batch.events) complete(e, status);
  batch.events.clear();
}

// Everything below runs with guard() held: on the IoThread, or on a publish()ing thread.
class PublisherCore {
 public:
  PublisherCore(asio::io_context& io, ClientOptions options, PublisherOptions publisher_options)
      : io_(io),
        options_(std::move(options)),
        publisher_options_(publisher_options),
        accumulator_(publisher_options.max_batch_bytes, publisher_options.max_batch_events, publisher_options.linger),
        backoff_(publisher_options.retry_backoff_initial, publisher_options.retry_backoff_max),
        linger_timer_(io),
        reconnect_timer_(io),
        rng_(std::random_device{}()) {}

  // LamportClock is atomic, so user threads may read and merge it directly.
  LamportClock& clock() const { return clock_; }

  // Called on the IoThread with the schema id of each event the broker refused as
  // SchemaMismatch. Set before the first publish; must not block.
  void set_schema_mismatch_handler(std::function<void(uint32_t)> handler) { on_schema_mismatch_ = std::move(handler); }

  void adopt(std::shared_ptr<Connection> conn) {
    conn_ = std::move(conn);
    clock_.observe(conn_->hello().lamport);
  }

  Connection::CloseHandler close_handler() {
    return [this](const Status& why) { on_connection_closed(why); };
  }

  // The mutex that guards the core and its connection (see the file comment).
  std::recursive_mutex& guard() { return guard_; }

  void add(std::string topic, PendingEvent pending) {
    if (closed_) {
      finish(pending, failed_precondition("publisher is closed"));
      return;
    }
    if (topic.empty()) {
      finish(pending, invalid_argument("publish: topic name is empty"));
      return;
    }
    const std::size_t bytes = internal::estimated_event_bytes(pending.event);
    for (auto& sealed : accumulator_.add(topic, std::move(pending), bytes, Clock::now())) enqueue(std::move(sealed));
    arm_linger();
    pump();
  }

  void flush_batches() {
    for (auto& sealed : accumulator_.take_all()) enqueue(std::move(sealed));
    pump();
  }

  // Fails everything not yet acked and closes the connection.
  void shutdown() {
    run_deferred();
    closed_ = true;
    linger_timer_.cancel();
    reconnect_timer_.cancel();
    const Status why = failed_precondition("publisher closed before the event was acked");
    for (auto& sealed : accumulator_.take_all()) {
      Batch b{0, sealed.topic, std::move(sealed.items), 0};
      fail_batch(b, why);
    }
    for (Batch& b : ready_) fail_batch(b, why);
    ready_.clear();
    auto in_flight = std::move(in_flight_);
    in_flight_.clear();
    for (auto& [id, b] : in_flight) fail_batch(b, why);
    if (conn_) {
      auto conn = std::move(conn_);
      conn->close(why);
    }
    report(publisher_options_.on_connection_state, ConnectionState::kClosed);
  }

 private:
  bool on_io_thread() const { return io_.get_executor().running_in_this_thread(); }

  // Completes an event: its callback runs now on the IoThread, or later there. After
  // shutdown() the IoThread may never run it, and the refusal is publish()'s own (closed),
  // which publisher.h says completes on the caller's thread.
  void finish(PendingEvent& e, const Result<PublishAck>& result) {
    if (on_io_thread() || closed_) {
      complete(e, result);
      return;
    }
    defer([e = std::move(e), result]() mutable { complete(e, result); });
  }
  // Runs `work` (a user callback) on the IoThread: queued, with one posted drain for all
  // that queue before it runs; shutdown() runs what is still queued, so close() cannot
  // drop a completion made on a caller's thread just before it.
  void defer(std::function<void()> work) {
    deferred_.push_back(std::move(work));
    if (drain_posted_) return;
    drain_posted_ = true;
    asio::post(io_, [this] {
      std::lock_guard lock(guard_);
      run_deferred();
    });
  }
  void run_deferred() {
    drain_posted_ = false;
    std::vector<std::function<void()>> work;
    work.swap(deferred_);
    for (auto& w : work) w();
  }
  void fail(Batch& batch, const Status& status) {
    for (PendingEvent& e : batch.events) finish(e, status);
    batch.events.clear();
  }

  void enqueue(internal::BatchAccumulator<PendingEvent>::Batch sealed) {
    ready_.push_back(Batch{next_seq_++, std::move(sealed.topic), std::move(sealed.items), 0});
  }

  void arm_linger() {
    const auto next = accumulator_.next_deadline();
    if (!next || (linger_armed_ && linger_deadline_ <= *next)) return;
    linger_armed_ = true;
    linger_deadline_ = *next;
    linger_timer_.expires_at(*next);
    linger_timer_.async_wait([this](const std::error_code& ec) {
      std::lock_guard lock(guard_);
      if (ec) return;  // re-armed earlier or shutting down; the new wait owns the timer
      linger_armed_ = false;
      for (auto& sealed : accumulator_.take_expired(Clock::now())) enqueue(std::move(sealed));
      arm_linger();
      pump();
    });
  }

  void pump() {
    if (closed_) return;
    if (!conn_ || !conn_->is_open()) {
      if (!ready_.empty() || !in_flight_.empty()) start_reconnect();
      return;
    }
    while (!ready_.empty() && in_flight_.size() < publisher_options_.max_in_flight_batches) {
      Batch batch = std::move(ready_.front());
      ready_.pop_front();
      send(std::move(batch));
      if (!conn_ || !conn_->is_open()) return;
    }
  }

  void send(Batch batch) {
    std::vector<const Event*> events;
    events.reserve(batch.events.size());
    for (const PendingEvent& e : batch.events) events.push_back(&e.event);
    const uint64_t id = conn_->next_correlation_id();
    std::vector<uint8_t> frame = internal::encode_publish(id, batch.topic, clock_.now(), events);
    // Batches are sealed by max_batch_bytes, which may exceed the broker's max_frame_bytes
    // (known only once connected). Such a batch is split in halves rather than failed, so
    // an event too large for any frame fails alone and the events batched with it are sent.
    if (frame.size() > std::size_t{conn_->max_frame_bytes()} + internal::kFrameLengthBytes && batch.events.size() > 1) {
      const auto middle = batch.events.begin() + static_cast<std::ptrdiff_t>(batch.events.size() / 2);
      Batch second{batch.seq, batch.topic, {std::make_move_iterator(middle), std::make_move_iterator(batch.events.end())},
                   batch.attempts};
      batch.events.erase(middle, batch.events.end());
      // Both halves keep the batch's place (and seq) at the front, in order.
      ready_.push_front(std::move(second));
      ready_.push_front(std::move(batch));
      return;
    }
    Status sent = conn_->send(id, std::move(frame), [this, id](Result<Frame> response) {
      on_response(id, std::move(response));
    });
    if (!sent.ok()) {
      if (sent.code() == Code::kUnavailable) {
        requeue(std::move(batch), sent);
      } else {
        fail(batch, sent.with_context("publish to topic '" + batch.topic + "'"));
      }
      return;
    }
    ++batch.attempts;
    in_flight_.emplace(id, std::move(batch));
  }

  void on_response(uint64_t id, Result<Frame> response) {
    auto it = in_flight_.find(id);
    if (it == in_flight_.end()) return;
    Batch batch = std::move(it->second);
    in_flight_.erase(it);
    if (!response) {
      requeue(std::move(batch), response.error());
      return;
    }
    handle_publish_response(batch, *response);
    pump();
  }

  void handle_publish_response(Batch& batch, const Frame& frame) {
    const std::string what = "publish to topic '" + batch.topic + "'";
    auto outcomes = internal::decode_publish_response(frame, batch.events.size());
    if (!outcomes) {
      // The outcome of each event is unknown; resending could store twice, so report it.
      fail_batch(batch, outcomes.error().with_context(what));
      return;
    }
    for (std::size_t i = 0; i < outcomes->size(); ++i) {
      const Result<PublishAck>& outcome = (*outcomes)[i];
      if (outcome) {
        clock_.observe(outcome->lamport);
        complete(batch.events[i], *outcome);
      } else {
        if (outcome.error().reason() == Reason::kSchemaMismatch && on_schema_mismatch_) {
          on_schema_mismatch_(batch.events[i].event.schema_id);
        }
        complete(batch.events[i], outcome.error().with_context(what));
      }
    }
    batch.events.clear();
  }

  // The batch's outcome is unknown (the connection dropped before its ack): send it again
  // after reconnecting, unless it has used up its attempts.
  void requeue(Batch batch, const Status& why) {
    if (closed_) {
      fail(batch, failed_precondition("publisher closed before the event was acked"));
      return;
    }
    if (batch.attempts > publisher_options_.max_retries) {
      fail(batch, unavailable("giving up after " + std::to_string(batch.attempts) +
                                    " attempts to publish to topic '" + batch.topic + "': " + std::string(why.message())));
      return;
    }
    if (!publisher_options_.retry_without_dedup_key && batch.attempts > 0) {
      std::vector<PendingEvent> keep;
      for (PendingEvent& e : batch.events) {
        if (e.event.dedup_key.empty()) {
          finish(e, unavailable("connection lost before the ack; the event has no dedup key, so it is not resent "
                                  "and may or may not be stored: " + std::string(why.message())));
        } else {
          keep.push_back(std::move(e));
        }
      }
      batch.events = std::move(keep);
      if (batch.events.empty()) return;
    }
    const auto pos = std::lower_bound(ready_.begin(), ready_.end(), batch.seq,
                                      [](const Batch& b, uint64_t seq) { return b.seq < seq; });
    ready_.insert(pos, std::move(batch));
    pump();
  }

  void on_connection_closed(const Status& why) {
    last_error_ = why;
    if (!closed_) {
      report(publisher_options_.on_error, why.with_context("connection to broker " + options_.broker + " lost"));
      report(publisher_options_.on_connection_state, ConnectionState::kDisconnected);
    }
    // Drop our reference later: we are inside the connection's close().
    asio::post(io_, [conn = std::move(conn_)] {});
    conn_.reset();
    pump();
  }

  void start_reconnect() {
    if (connecting_ || closed_) return;
    connecting_ = true;
    if (!reconnect_reported_) {
      reconnect_reported_ = true;
      if (on_io_thread()) {
        report(publisher_options_.on_connection_state, ConnectionState::kReconnecting);
      } else {
        defer([this] { report(publisher_options_.on_connection_state, ConnectionState::kReconnecting); });
      }
    }
    const auto delay = backoff_.delay(connect_failures_, rng_);
    reconnect_timer_.expires_after(delay);
    reconnect_timer_.async_wait([this](const std::error_code& ec) {
      std::lock_guard lock(guard_);
      if (ec || closed_) {
        connecting_ = false;
        return;
      }
      asio::co_spawn(io_, Connection::open(options_, close_handler(), &guard_),
                     [this](std::exception_ptr e, internal::Opened opened) {
                       std::lock_guard relock(guard_);
                       if (e) opened.status = internal_error("reconnect failed with an exception");
                       on_reconnected(std::move(opened));
                     });
    });
  }

  void on_reconnected(internal::Opened opened) {
    connecting_ = false;
    if (closed_) {
      if (opened.status.ok()) opened.connection->close(failed_precondition("publisher closed"));
      return;
    }
    if (opened.status.ok()) {
      connect_failures_ = 0;
      adopt(std::move(opened.connection));
      reconnect_reported_ = false;
      report(publisher_options_.on_connection_state, ConnectionState::kReconnected);
      pump();
      return;
    }
    last_error_ = opened.status;
    if (++connect_failures_ > publisher_options_.max_retries) {
      const Status why = unavailable("cannot reconnect after " + std::to_string(connect_failures_) +
                                     " attempts: " + std::string(opened.status.message()));
      connect_failures_ = 0;
      reconnect_reported_ = false;  // a later publish starts a new reconnect, reported again
      report(publisher_options_.on_error, why);
      for (Batch& b : ready_) fail_batch(b, why.with_context("publish to topic '" + b.topic + "'"));
      ready_.clear();
      return;
    }
    pump();
  }

  asio::io_context& io_;
  std::recursive_mutex guard_;
  ClientOptions options_;
  PublisherOptions publisher_options_;
  mutable LamportClock clock_;
  internal::BatchAccumulator<PendingEvent> accumulator_;
  internal::BackoffPolicy backoff_;
  asio::steady_timer linger_timer_;
  bool linger_armed_ = false;
  Clock::time_point linger_deadline_{};
  asio::steady_timer reconnect_timer_;
  std::mt19937_64 rng_;
  std::shared_ptr<Connection> conn_;
  bool connecting_ = false;
  bool reconnect_reported_ = false;  // kReconnecting was reported for the current outage
  int connect_failures_ = 0;
  bool closed_ = false;
  Status last_error_;
  uint64_t next_seq_ = 0;
  std::deque<Batch> ready_;               // sealed, waiting to be sent; ascending seq
  std::map<uint64_t, Batch> in_flight_;   // by correlation id
  std::function<void(uint32_t)> on_schema_mismatch_;
  std::vector<std::function<void()>> deferred_;  // defer(): callbacks for the IoThread
  bool drain_posted_ = false;                    // a run_deferred() is posted
};

}  // namespace

class Publisher::Impl {
 public:
  Impl(ClientOptions options, PublisherOptions publisher_options)
      : options_(options), publisher_options_(publisher_options), core_(io_.context(), std::move(options), publisher_options) {
    // Installed before the IoThread can see a response.
    if (!publisher_options_.schema_subject.empty()) {
      core_.set_schema_mismatch_handler([this](uint32_t id) { schema_mismatch(id); });
    }
  }

  ~Impl() {
    static_cast<void>(close());
    stop_schema_refresh();
  }

  Status start() {
    std::promise<internal::Opened> opened;
    auto future = opened.get_future();
    asio::co_spawn(io_.context(), Connection::open(options_, core_.close_handler(), &core_.guard()),
                   [&opened](std::exception_ptr e, internal::Opened result) {
                     if (e) result.status = internal_error("connect failed with an exception");
                     opened.set_value(std::move(result));
                   });
    internal::Opened conn = future.get();  // bounded by connect_timeout
    if (!conn.status.ok()) return conn.status;
    std::promise<void> adopted;
    asio::post(io_.context(), [this, &adopted, c = std::move(conn.connection)]() mutable {
      std::lock_guard lock(core_.guard());
      core_.adopt(std::move(c));
      adopted.set_value();
    });
    adopted.get_future().wait();
    return Status();
  }

  // Resolves publisher_options_.schema_subject to the schema id of its chosen version, at
  // connect (before any publish).
  Status resolve_schema_id() {
    const PublisherOptions& po = publisher_options_;
    if (po.schema_subject.empty()) return Status();
    if (po.schema_version == 0 || po.schema_version < kLatestSchemaVersion) {
      return invalid_argument("schema_version " + std::to_string(po.schema_version) +
                              " is not a version (a positive number, or -1 for the latest)");
    }
    registry_ = po.registry;
    if (!registry_) {
      return invalid_argument("schema_subject '" + po.schema_subject +
                              "' needs PublisherOptions::registry to look its schema id up: set it to a "
                              "RegistryClient (causeway/client/registry_client.h, target causeway::registry_client)");
    }
    auto id = look_up_schema_id();
    if (!id) return id.error();
    schema_id_.store(*id, std::memory_order_relaxed);
    return Status();
  }

  // With a subject: a thread that looks the id up again on the interval and on demand
  // (schema_mismatch()), so that neither the lookup nor its timeouts run in publish() or on
  // the network thread.
  void start_schema_refresh() {
    if (publisher_options_.schema_subject.empty()) return;
    refresher_ = std::thread([this] { refresh_loop(); });
  }

  uint32_t schema_id() const { return schema_id_.load(std::memory_order_relaxed); }
  Status schema_refresh_status() const {
    std::lock_guard lock(refresh_mu_);
    return refresh_status_;
  }

  // `report_failure`: the future form, which has no callback of its own, so a failure
  // after publish() returned also goes to on_error.
  void publish(std::string topic, Event event, Callback callback, bool report_failure) {
    if (event.schema_id == 0) event.schema_id = schema_id();
    if (publisher_options_.auto_dedup_keys && event.dedup_key.empty()) event.dedup_key = internal::make_dedup_key();
    const std::size_t bytes = internal::estimated_event_bytes(event);
    std::unique_lock lock(mu_);
    Status admitted = closed_ ? failed_precondition("publisher is closed") : wait_for_room(lock, bytes);
    if (!admitted.ok()) {
      lock.unlock();
      try {
        callback(admitted);
      } catch (...) {
      }
      return;
    }
    ++outstanding_;
    pending_bytes_ += bytes;
    lock.unlock();
    Callback wrapped = [this, cb = std::move(callback), bytes, report_failure](const Result<PublishAck>& r) {
      try {
        cb(r);
      } catch (...) {
      }
      if (report_failure && !r) report(publisher_options_.on_error, r.error());
      std::lock_guard done(mu_);
      pending_bytes_ -= bytes;
      if (--outstanding_ == 0) drained_.notify_all();
      room_.notify_all();
    };
    if (!io_.in_thread() && posted_adds_.load(std::memory_order_acquire) == 0) {
      // The fast path: add it here. Only while no earlier publish() (of any thread) waits
      // in the IoThread's queue, which it would overtake, and only if the core is free:
      // never wait here for a callback the IoThread is running.
      std::unique_lock core(core_.guard(), std::try_to_lock);
      if (core.owns_lock() && posted_adds_.load(std::memory_order_acquire) == 0) {
        try {
          core_.add(std::move(topic), PendingEvent{std::move(event), std::move(wrapped)});
        } catch (...) {
          // Out of memory: as on the IoThread (IoThread's last line of defence), the event
          // is dropped rather than an exception leaving an API that promises none.
        }
        return;
      }
    }
    posted_adds_.fetch_add(1, std::memory_order_acq_rel);
    asio::post(io_.context(), [this, t = std::move(topic), e = std::move(event), w = std::move(wrapped)]() mutable {
      std::lock_guard core(core_.guard());
      struct Done {
        std::atomic<uint64_t>& count;
        ~Done() { count.fetch_sub(1, std::memory_order_acq_rel); }
      } done{posted_adds_};  // even if add() throws, or the fast path would stay off for good
      core_.add(std::move(t), PendingEvent{std::move(e), std::move(w)});
    });
  }

  // Waits (with when_full = kBlock) until an event of `bytes` fits within the pending
  // limits. OK: it fits (the caller counts it); otherwise why not. Called with mu_ held.
  Status wait_for_room(std::unique_lock<std::mutex>& lock, std::size_t bytes) {
    const PublisherOptions& po = publisher_options_;
    if (bytes > po.max_pending_bytes) {
      return resource_exhausted("event of about " + std::to_string(bytes) + " bytes exceeds max_pending_bytes " +
                                std::to_string(po.max_pending_bytes) + " on its own");
    }
    const auto has_room = [&] {
      return closed_ || (outstanding_ < po.max_pending_events && pending_bytes_ + bytes <= po.max_pending_bytes);
    };
    const auto full = [&](const std::string& what) {
      return resource_exhausted(std::to_string(outstanding_) + " events (about " + std::to_string(pending_bytes_) +
                                " bytes) are pending, not yet acked by the broker at " + options_.broker +
                                "; the limits are max_pending_events " + std::to_string(po.max_pending_events) +
                                " and max_pending_bytes " + std::to_string(po.max_pending_bytes) + ": " + what);
    };
    if (!has_room()) {
      if (po.when_full == WhenFull::kFail) return full("when_full is kFail; retry later, or raise the limits");
      if (io_.in_thread()) {
        return full("publish() on the publisher's own network thread (in a callback) cannot wait for room, since only "
                    "that thread frees it; publish from another thread to wait");
      }
      // Clamped so that now() + max_block cannot overflow (max_block = milliseconds::max()).
      const auto max_block = std::clamp(po.max_block, std::chrono::milliseconds(0),
                                        std::chrono::milliseconds(std::chrono::hours(24 * 365)));
      if (!room_.wait_for(lock, max_block, has_room)) {
        return full("still full after max_block " + std::to_string(po.max_block.count()) +
                    "ms; the broker is slow or unreachable");
      }
    }
    if (closed_) return failed_precondition("publisher is closed");
    return Status();
  }

  // The waiting calls (flush, close) from a callback would wait for the very thread that
  // runs the callback.
  Status refuse_on_network_thread(const char* call) const {
    if (!io_.in_thread()) return Status();
    return failed_precondition(std::string("Publisher::") + call +
                               " called from a callback, on the publisher's own network thread: it waits for that "
                               "thread, so it would deadlock; call it from another thread (e.g. one of yours the "
                               "callback hands the work to)");
  }

  Status flush(std::chrono::milliseconds timeout) {
    CAUSEWAY_RETURN_IF_ERROR(refuse_on_network_thread("flush()"));
    std::unique_lock lock(mu_);
    if (closed_) return Status();
    lock.unlock();
    asio::post(io_.context(), [this] {
      std::lock_guard core(core_.guard());
      core_.flush_batches();
    });
    lock.lock();
    if (!drained_.wait_for(lock, timeout, [this] { return outstanding_ == 0; })) {
      return deadline_exceeded(std::to_string(outstanding_) + " events still unacked after flush timeout " +
                               std::to_string(timeout.count()) + "ms");
    }
    return Status();
  }

  Status close() {
    CAUSEWAY_RETURN_IF_ERROR(refuse_on_network_thread("close()"));
    {
      std::lock_guard lock(mu_);
      if (closed_) return Status();
    }
    Status flushed = flush(options_.request_timeout);
    {
      std::lock_guard lock(mu_);
      if (closed_) return flushed;
      closed_ = true;
    }
    room_.notify_all();  // publish() calls waiting for room now fail: the publisher is closed
    std::promise<void> done;
    asio::post(io_.context(), [this, &done] {
      std::lock_guard core(core_.guard());
      core_.shutdown();
      done.set_value();
    });
    done.get_future().wait();
    io_.stop_and_join();
    stop_schema_refresh();
    return flushed;
  }

  void stop_schema_refresh() {
    {
      std::lock_guard lock(refresh_mu_);
      refresh_stopping_ = true;
    }
    refresh_cv_.notify_all();
    if (refresher_.joinable()) refresher_.join();
  }

  uint64_t lamport() const { return core_.clock().now(); }
  Status observe_lamport(uint64_t l) {
    // No broker issues a stamp above kMaxLamport; merging one would make every later
    // publish of this publisher refused.
    if (l > kMaxLamport) {
      return invalid_argument("Lamport stamp " + std::to_string(l) + " is above the largest stamp " +
                              std::to_string(kMaxLamport) + " (2^63-1) a broker issues; the clock is unchanged");
    }
    core_.clock().observe(l);
    return Status();
  }

 private:
  // A refusal as SchemaMismatch of an event stamped with the current id: look it up again.
  // Runs on the IoThread; only signals the refresher.
  void schema_mismatch(uint32_t id) {
    if (id != schema_id()) return;  // the event carried an id of its own, or a stale one
    {
      std::lock_guard lock(refresh_mu_);
      refresh_wanted_ = true;
    }
    refresh_cv_.notify_all();
  }

  Result<uint32_t> look_up_schema_id() {
    const PublisherOptions& po = publisher_options_;
    const std::string which = "schema subject '" + po.schema_subject + "' version " +
                              (po.schema_version == kLatestSchemaVersion ? std::string("latest")
                                                                         : std::to_string(po.schema_version)) +
                              " at " + registry_->source_name();
    auto id = registry_->schema_id_of(po.schema_subject, po.schema_version);
    if (!id) return id.error().with_context(which);
    if (*id == 0) return internal_error(which + ": the registry answered without a schema id");
    return *id;
  }

  void refresh_loop() {
    // A burst of refused events asks for one lookup, and a registry that keeps answering
    // the same id is asked at most this often.
    constexpr auto kMinSpacing = std::chrono::seconds(1);
    const auto interval = publisher_options_.schema_refresh_interval;
    auto last = Clock::now();
    std::unique_lock lock(refresh_mu_);
    for (;;) {
      const auto due = [&] {
        return refresh_stopping_ || (refresh_wanted_ && Clock::now() >= last + kMinSpacing) ||
               (interval.count() > 0 && Clock::now() >= last + interval);
      };
      while (!due()) {
        auto wake = Clock::time_point::max();
        if (interval.count() > 0) wake = last + interval;
        if (refresh_wanted_) wake = std::min(wake, last + kMinSpacing);
        if (wake == Clock::time_point::max()) {
          refresh_cv_.wait(lock);
        } else {
          refresh_cv_.wait_until(lock, wake);
        }
      }
      if (refresh_stopping_) return;
      refresh_wanted_ = false;
      lock.unlock();  // the lookup may take up to the registry client's timeouts
      auto id = look_up_schema_id();
      if (id) schema_id_.store(*id, std::memory_order_relaxed);
      lock.lock();
      refresh_status_ = id ? Status() : id.error();
      last = Clock::now();
    }
  }

  ClientOptions options_;
  PublisherOptions publisher_options_;
  std::shared_ptr<SchemaIdSource> registry_;  // with a schema subject; set before any publish
  std::atomic<uint32_t> schema_id_{0};        // 0 without a subject; refreshed by refresh_loop()
  mutable std::mutex refresh_mu_;             // guards the refresh_ fields below
  std::condition_variable refresh_cv_;
  bool refresh_wanted_ = false;    // a SchemaMismatch asked for a lookup
  bool refresh_stopping_ = false;
  Status refresh_status_;
  std::thread refresher_;
  internal::IoThread io_;  // declared before core_: the core's timers live on its context
  PublisherCore core_;
  std::mutex mu_;                   // guards closed_, outstanding_ and pending_bytes_
  std::condition_variable drained_;  // outstanding_ reached 0
  std::condition_variable room_;     // outstanding_ or pending_bytes_ went down, or closed_
  bool closed_ = false;
  uint64_t outstanding_ = 0;         // pending events: accepted by publish(), not completed
  std::atomic<uint64_t> posted_adds_{0};  // publish()es posted to the IoThread, not yet added
  std::size_t pending_bytes_ = 0;    // their estimated_event_bytes()
};

Result<std::unique_ptr<Publisher>> Publisher::connect(ClientOptions options, PublisherOptions publisher_options) {
  if (publisher_options.max_pending_events == 0 || publisher_options.max_pending_bytes == 0) {
    return invalid_argument("max_pending_events (" + std::to_string(publisher_options.max_pending_events) +
                            ") and max_pending_bytes (" + std::to_string(publisher_options.max_pending_bytes) +
                            ") must be at least 1");
  }
  auto impl = std::make_unique<Impl>(std::move(options), publisher_options);
  Status resolved = impl->resolve_schema_id();
  if (!resolved.ok()) return resolved;
  Status started = impl->start();
  if (!started.ok()) return started;
  impl->start_schema_refresh();
  return std::unique_ptr<Publisher>(new Publisher(std::move(impl)));
}

Publisher::Publisher(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Publisher::~Publisher() = default;

std::future<Result<PublishAck>> Publisher::publish(std::string topic, Event event) {
  auto promise = std::make_shared<std::promise<Result<PublishAck>>>();
  auto future = promise->get_future();
  impl_->publish(
      std::move(topic), std::move(event), [promise](const Result<PublishAck>& r) { promise->set_value(r); },
      /*report_failure=*/true);
  return future;
}

void Publisher::publish(std::string topic, Event event, Callback callback) {
  impl_->publish(std::move(topic), std::move(event), std::move(callback), /*report_failure=*/false);
}

Status Publisher::flush(std::chrono::milliseconds timeout) { return impl_->flush(timeout); }
uint64_t Publisher::lamport() const { return impl_->lamport(); }
uint32_t Publisher::schema_id() const { return impl_->schema_id(); }
Status Publisher::schema_refresh_status() const { return impl_->schema_refresh_status(); }
Status Publisher::observe_lamport(uint64_t lamport) { return impl_->observe_lamport(lamport); }
Status Publisher::close() { return impl_->close(); }

}  // namespace causeway::client
