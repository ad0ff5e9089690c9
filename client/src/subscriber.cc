// File: client/src/subscriber.cc
//
// Subscriber (causeway/client/subscriber.h). One IoThread owns the connection, the join,
// the heartbeat timer and reconnects; the application's threads touch the received-event
// queue and the pending acks, both under mu_. The IoThread's state (the connection and the
// bookkeeping of requests in flight) is guarded by guard_, which the IoThread takes in
// every handler (the connection's coroutines take it too), so that the handler thread can
// send its acks itself: after each batch the handler ran, it takes guard_ when it is free
// and writes the acks to the socket without waking the IoThread (docs/client.md,
// "Subscriber"), as the Publisher's publish() does. Lock order: guard_, then mu_. User
// callbacks (on_error, on_connection_state) only ever run on the IoThread. The exchange is
// docs/wire-protocol.md, "Subscribe".
#include "causeway/client/subscriber.h"

#include <atomic>
#include <condition_variable>
#include <deque>
#include <future>
#include <limits>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include <asio/co_spawn.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>

#include "causeway/common/lamport_clock.h"
#include "client/src/backoff.h"
#include "client/src/connection.h"
#include "client/src/io_thread.h"
#include "client/src/protocol_codec.h"

namespace causeway::client {

using internal::Connection;
using internal::Frame;

class Subscriber::Impl {
 public:
  Impl(ClientOptions client, SubscriberOptions options)
      : client_(std::move(client)),
        options_(std::move(options)),
        backoff_(options_.retry_backoff_initial, options_.retry_backoff_max),
        rng_(std::random_device{}()),
        heartbeat_timer_(io_.context()),
        retry_timer_(io_.context()),
        close_timer_(io_.context()) {
    spec_ = options_.settings;
    spec_.name = options_.subscription;
    spec_.topic = options_.topic;
  }

  ~Impl() {
    (void)close();
    // close() skips the join when called from the handler thread (it cannot join itself);
    // if that happened, join now from here, or let the thread finish on its own when this
    // destructor itself runs on it.
    if (handler_thread_.joinable()) {
      if (handler_thread_.get_id() != std::this_thread::get_id()) {
        handler_thread_.join();
      } else {
        handler_thread_.detach();
      }
    }
    io_.stop_and_join();
  }

  // Connects and joins once; the outcome of that first attempt is the result.
  Status start() {
    auto first = std::make_shared<std::promise<Status>>();
    auto future = first->get_future();
    asio::post(io_.context(), [this, first] {
      std::lock_guard g(guard_);
      connect_and_join(first);
    });
    const auto bound = client_.connect_timeout + client_.request_timeout + std::chrono::seconds(5);
    if (future.wait_for(bound) != std::future_status::ready)
      return deadline_exceeded("joining subscription '" + spec_.name + "' took longer than " +
                               std::to_string(bound.count()) + "ms");
    return future.get();
  }

  Result<std::vector<DeliveredEvent>> receive(size_t max, std::chrono::milliseconds timeout) {
    // Events arrive on the network thread, so waiting for them there could only time out.
    if (timeout.count() > 0) CAUSEWAY_RETURN_IF_ERROR(refuse_on_network_thread("receive() with a timeout"));
    std::unique_lock lk(mu_);
    cv_.wait_for(lk, timeout, [this] { return !queue_.empty() || closed_; });
    if (closed_) return failed_precondition("the subscriber is closed");
    std::vector<DeliveredEvent> out;
    while (!queue_.empty() && out.size() < std::max<size_t>(max, 1)) {
      out.push_back(std::move(queue_.front()));
      queue_.pop_front();
      const DeliveredEvent& e = out.back();
      handed_out_[{e.member_id, e.partition}].insert(e.offset);
    }
    return out;
  }

  Status ack(const DeliveredEvent& e) { return settle(e, true, std::chrono::milliseconds(0), ""); }
  Status nack(const DeliveredEvent& e, std::chrono::milliseconds delay, std::string reason) {
    return settle(e, false, delay, std::move(reason));
  }

  Status release(const DeliveredEvent& e) {
    std::lock_guard lk(mu_);
    if (closed_) return failed_precondition("the subscriber is closed");
    if (e.member_id.empty() || e.member_id != member_id_) {
      return failed_precondition("event " + e.topic + "/" + std::to_string(e.partition) + "@" +
                                 std::to_string(e.offset) +
                                 " was delivered over an earlier connection; it will be redelivered");
    }
    unhand_locked(e);
    return Status();
  }

  Status ack_sync(const DeliveredEvent& e, std::chrono::milliseconds timeout) {
    CAUSEWAY_RETURN_IF_ERROR(refuse_on_network_thread("ack_sync()"));
    CAUSEWAY_RETURN_IF_ERROR(ack(e));
    return sync_acks(timeout);
  }

  Status sync_acks(std::chrono::milliseconds timeout) {
    CAUSEWAY_RETURN_IF_ERROR(refuse_on_network_thread("sync_acks()"));
    if (timeout.count() <= 0) timeout = client_.request_timeout;
    {
      std::lock_guard lk(mu_);
      if (closed_) return failed_precondition("the subscriber is closed");
    }
    auto done = std::make_shared<std::promise<Status>>();
    auto future = done->get_future();
    asio::post(io_.context(), [this, done] {
      std::lock_guard g(guard_);
      sync_waiters_.push_back(done);
      flush();
      maybe_send_barrier();
    });
    if (future.wait_for(timeout) != std::future_status::ready) {
      return deadline_exceeded("acks were not confirmed durable within " + std::to_string(timeout.count()) +
                               "ms; they may still be committed, or their events redelivered");
    }
    return future.get();
  }

  Status extend_deadline(const DeliveredEvent& e, std::chrono::milliseconds extend) {
    if (extend.count() < 1 || extend.count() > 3'600'000)
      return invalid_argument("deadline extension " + std::to_string(extend.count()) + "ms out of range (1ms to 1h)");
    {
      std::lock_guard lk(mu_);
      if (closed_) return failed_precondition("the subscriber is closed");
      if (e.member_id.empty() || e.member_id != member_id_)
        return failed_precondition("event was delivered over an earlier connection; it will be redelivered");
    }
    // Counted until it is sent: the handler thread's own ack send waits for it
    // (send_settled), or an ack could overtake the extend of its event.
    posted_extends_.fetch_add(1, std::memory_order_acq_rel);
    asio::post(io_.context(), [this, member = e.member_id, partition = e.partition, offset = e.offset,
                               ms = static_cast<uint32_t>(extend.count())] {
      std::lock_guard g(guard_);
      posted_extends_.fetch_sub(1, std::memory_order_acq_rel);  // guard_ is held until it is sent
      if (!conn_ || !conn_->is_open()) return;
      const uint64_t id = conn_->next_correlation_id();
      auto frame = internal::encode_extend_deadline(id, spec_.name, member, partition,
                                                    std::span<const uint64_t>(&offset, 1), ms);
      (void)conn_->send(id, std::move(frame), [this, partition, offset](Result<Frame> r) {
        if (r) quiet_acks_applied_before(r->message().correlation_id());
        const Status s = r ? internal::response_status(*r, protocol::Body::ExtendDeadlineResponse) : r.status();
        if (!s.ok()) {
          {
            std::lock_guard lk(mu_);
            ++ack_errors_;
          }
          report_error(s.with_context("extending the ack deadline of " + spec_.topic + "/" + std::to_string(partition) +
                                      "@" + std::to_string(offset)));
        }
      });
    });
    return Status();
  }

  Status close() {
    CAUSEWAY_RETURN_IF_ERROR(refuse_on_network_thread("close()"));
    {
      std::lock_guard lk(mu_);
      if (closed_) return Status();
      closed_ = true;
    }
    cv_.notify_all();
    if (handler_thread_.joinable() && handler_thread_.get_id() != std::this_thread::get_id()) handler_thread_.join();
    auto done = std::make_shared<std::promise<void>>();
    auto future = done->get_future();
    asio::post(io_.context(), [this, done] {
      std::lock_guard g(guard_);
      closing_ = true;
      retry_timer_.cancel();
      heartbeat_timer_.cancel();
      flush();
      finish_close(done, std::chrono::steady_clock::now() + std::chrono::seconds(2));
    });
    future.wait_for(std::chrono::seconds(5) + client_.request_timeout);
    return Status();
  }

  void run_handler(Handler handler) {
    handler_thread_ = std::thread([this, handler = std::move(handler)] {
      for (;;) {
        auto events = receive(options_.handler_batch, std::chrono::milliseconds(100));
        if (!events) return;
        for (const DeliveredEvent& e : *events) {
          // Settling any event but the batch's last posts the flush to the IoThread, as
          // ack() does, so that no ack waits while the handler runs (perhaps blocks) on a
          // later event. The last one's is sent from here, after the loop: when events
          // come one at a time, that spares the IoThread's wake-up for every one.
          const bool last = &e == &events->back();
          {
            std::lock_guard lk(mu_);
            if (closed_) return;  // close() sends what is settled
          }
          Status s;
          try {
            s = handler(e);
          } catch (const std::exception& ex) {
            s = internal_error(std::string("handler threw: ") + ex.what());
          } catch (...) {
            s = internal_error("handler threw a non-standard exception");
          }
          if (s.ok() && options_.ack_on_success) {
            (void)settle(e, true, std::chrono::milliseconds(0), "", /*post_flush=*/!last);
          } else if (!s.ok() && options_.nack_on_error) {
            (void)settle(e, false, options_.nack_delay, std::string(s.message()), /*post_flush=*/!last);
          }
        }
        send_settled();
      }
    });
  }

  std::string member_id() const {
    std::lock_guard lk(mu_);
    return member_id_;
  }
  uint64_t lamport() const { return clock_.now(); }
  uint64_t joins() const {
    std::lock_guard lk(mu_);
    return joins_;
  }
  uint64_t ack_errors() const {
    std::lock_guard lk(mu_);
    return ack_errors_;
  }

 private:
  // The waiting calls from a callback (on_error, on_connection_state) would wait for the
  // very thread that runs the callback.
  Status refuse_on_network_thread(const char* call) const {
    if (!io_.in_thread()) return Status();
    return failed_precondition(std::string("Subscriber::") + call +
                               " called from a callback, on the subscriber's own network thread: it waits for that "
                               "thread, so it would deadlock; call it from another thread (e.g. one of yours the "
                               "callback hands the work to)");
  }

  // IoThread: the user's callbacks (exceptions swallowed, as documented).
  void report_error(const Status& status) {
    if (!options_.on_error) return;
    try {
      options_.on_error(status);
    } catch (...) {
    }
  }
  void report_state(ConnectionState state) {
    if (!options_.on_connection_state) return;
    try {
      options_.on_connection_state(state);
    } catch (...) {
    }
  }

  struct PendingNack {
    std::string member_id;
    uint32_t partition;
    uint64_t offset;
    uint32_t delay_ms;
    std::string reason;
  };

  // The event is settled (acked, nacked or released): the application is done with it.
  void unhand_locked(const DeliveredEvent& e) {
    auto it = handed_out_.find({e.member_id, e.partition});
    if (it == handed_out_.end()) return;
    it->second.erase(e.offset);
    if (it->second.empty()) handed_out_.erase(it);
  }

  // Queues an ack or nack for flush(); with `post_flush`, posts the flush to the IoThread
  // (the handler thread sends its batch's acks itself: send_settled()).
  Status settle(const DeliveredEvent& e, bool is_ack, std::chrono::milliseconds delay, std::string reason,
                bool post_flush = true) {
    std::lock_guard lk(mu_);
    if (closed_ && !is_ack) return failed_precondition("the subscriber is closed");
    if (e.member_id.empty() || e.member_id != member_id_) {
      return failed_precondition("event " + e.topic + "/" + std::to_string(e.partition) + "@" +
                                 std::to_string(e.offset) +
                                 " was delivered over an earlier connection; it will be redelivered");
    }
    unhand_locked(e);
    if (is_ack) {
      pending_acks_[{e.member_id, e.partition}].push_back(e.offset);
    } else {
      pending_nacks_.push_back(PendingNack{e.member_id, e.partition, e.offset,
                                           static_cast<uint32_t>(std::max<int64_t>(0, delay.count())),
                                           std::move(reason)});
    }
    if (post_flush) post_flush_locked();
    return Status();
  }

  void post_flush_locked() {
    if (flush_scheduled_) return;
    flush_scheduled_ = true;
    asio::post(io_.context(), [this] {
      std::lock_guard g(guard_);
      flush();
    });
  }

  // Handler thread: sends the acks and nacks settled so far, itself when the IoThread's
  // state is free and connected (one send(2) per request, no wake-up of the IoThread), else
  // through the IoThread as ack() does: always while an extend_deadline() posted earlier
  // has not been sent, which the acks must not overtake.
  void send_settled() {
    {
      std::lock_guard lk(mu_);
      if (pending_acks_.empty() && pending_nacks_.empty()) return;
    }
    if (posted_extends_.load(std::memory_order_acquire) == 0) {
      std::unique_lock g(guard_, std::try_to_lock);
      if (g.owns_lock() && posted_extends_.load(std::memory_order_acquire) == 0 && conn_ && conn_->is_open()) {
        flush(/*on_io_thread=*/false);
        return;
      }
    }
    std::lock_guard lk(mu_);
    if (!pending_acks_.empty() || !pending_nacks_.empty()) post_flush_locked();
  }

  // With guard_ held: sends every pending ack and nack. On the IoThread, or on the handler
  // thread (send_settled), which leaves what it would report to on_error to the IoThread.
  void flush(bool on_io_thread = true) {
    std::vector<Status> errors;
    const auto report = [&] {
      if (errors.empty()) return;
      if (on_io_thread) {
        for (const Status& s : errors) report_error(s);
        return;
      }
      asio::post(io_.context(), [this, errors = std::move(errors)] {
        std::lock_guard g(guard_);
        for (const Status& s : errors) report_error(s);
      });
    };
    std::map<std::pair<std::string, uint32_t>, std::vector<uint64_t>> acks;
    std::vector<PendingNack> nacks;
    {
      std::lock_guard lk(mu_);
      flush_scheduled_ = false;
      acks.swap(pending_acks_);
      nacks.swap(pending_nacks_);
    }
    if (!conn_ || !conn_->is_open()) {
      size_t unsent = nacks.size();
      {
        std::lock_guard lk(mu_);
        for (const auto& [k, v] : acks) unsent += v.size();
        ack_errors_ += unsent;
        if (!acks.empty() && sync_refused_++ == 0) {
          sync_first_refusal_ = unavailable("acks could not be sent: not connected to " + client_.broker);
        }
      }
      if (unsent > 0) {
        errors.push_back(unavailable(std::to_string(unsent) + " acks/nacks of subscription '" + spec_.name +
                                     "' could not be sent: not connected to " + client_.broker +
                                     "; their events will be redelivered"));
      }
      report();
      return;
    }
    const auto count_errors = [this](protocol::Body kind, size_t n) {
      return [this, kind, n](Result<Frame> r) {
        --outstanding_;
        if (r) quiet_acks_applied_before(r->message().correlation_id());
        const Status s = r ? internal::response_status(*r, kind) : r.status();
        if (!s.ok()) {
          {
            std::lock_guard lk(mu_);
            ack_errors_ += n;  // the broker names the first bad offset; the events come again
          }
          report_error(s.with_context(std::string(kind == protocol::Body::AckResponse ? "ack" : "nack") + " of " +
                                      std::to_string(n) + " event(s) of subscription '" + spec_.name +
                                      "' failed; they will be redelivered"));
        }
        if (kind == protocol::Body::AckResponse) {
          --outstanding_acks_;
          if (!s.ok() && sync_refused_++ == 0) sync_first_refusal_ = s;
          maybe_send_barrier();
        }
      };
    };
    constexpr size_t kMaxPerRequest = 4096;
    for (auto& [key, offsets] : acks) {
      for (size_t i = 0; i < offsets.size(); i += kMaxPerRequest) {
        const size_t n = std::min(kMaxPerRequest, offsets.size() - i);
        const uint64_t id = conn_->next_correlation_id();
        // Quiet (answered only if refused) when the broker applies a member's requests in
        // order, while few are unconfirmed; otherwise answered (whose response also
        // confirms every quiet ack before it).
        const bool quiet = conn_->hello().ordered_member_requests && quiet_acks_.size() < kMaxQuietAcks;
        auto frame = internal::encode_ack(id, spec_.name, key.first, key.second,
                                          std::span<const uint64_t>(offsets.data() + i, n), /*durable=*/false, quiet);
        Status sent = quiet ? conn_->send_unanswered(std::move(frame))
                            : conn_->send(id, std::move(frame), count_errors(protocol::Body::AckResponse, n));
        if (sent.ok() && quiet) {
          quiet_acks_.push_back(QuietAck{id, n});
        } else if (sent.ok()) {
          ++outstanding_;
          ++outstanding_acks_;
        } else {
          {
            std::lock_guard lk(mu_);
            ack_errors_ += n;
            if (sync_refused_++ == 0) sync_first_refusal_ = unavailable("an ack could not be sent");
          }
          errors.push_back(sent.with_context("sending an ack of " + std::to_string(n) + " event(s) of subscription '" +
                                             spec_.name + "'; they will be redelivered"));
        }
      }
    }
    for (const PendingNack& nk : nacks) {
      const uint64_t id = conn_->next_correlation_id();
      auto frame = internal::encode_nack(id, spec_.name, nk.member_id, nk.partition,
                                         std::span<const uint64_t>(&nk.offset, 1), nk.delay_ms, nk.reason);
      if (Status sent = conn_->send(id, std::move(frame), count_errors(protocol::Body::NackResponse, 1)); sent.ok()) {
        ++outstanding_;
      } else {
        {
          std::lock_guard lk(mu_);
          ++ack_errors_;
        }
        errors.push_back(sent.with_context("sending a nack of " + spec_.topic + "/" + std::to_string(nk.partition) + "@" +
                                           std::to_string(nk.offset) + " of subscription '" + spec_.name +
                                           "'; it will be redelivered after its ack deadline"));
      }
    }
    report();
  }

  // IoThread: once every answered ack sent so far is answered, sends one durable ack naming
  // no offsets as a barrier for every sync_acks() waiting: the broker answers it when the
  // group's committed state, with all of those acks, is on disk. Quiet acks need no wait:
  // they go only to a broker that applies a member's requests in order, so the barrier
  // follows them, and their refusals come back before its answer (on_unanswered).
  void maybe_send_barrier() {
    if (sync_waiters_.empty() || outstanding_acks_ > 0 || barrier_in_flight_) return;
    auto waiters = std::make_shared<std::vector<std::shared_ptr<std::promise<Status>>>>();
    waiters->swap(sync_waiters_);
    uint32_t refused = sync_refused_;
    Status first_refusal = sync_first_refusal_;
    sync_refused_ = 0;
    sync_first_refusal_ = Status();
    const auto finish = [waiters](const Status& s) {
      for (auto& w : *waiters) w->set_value(s);
    };
    std::string member;
    {
      std::lock_guard lk(mu_);
      member = member_id_;
    }
    if (!conn_ || !conn_->is_open() || member.empty()) {
      finish(unavailable("not connected to " + client_.broker +
                         " (reconnecting); acks given over the lost connection are void and their events come again"));
      // Those waiters answered for every ack sent on the connection that is closing: the
      // quiet ones it leaves unconfirmed are not the next barrier's (reset on connect).
      last_barrier_id_ = std::numeric_limits<uint64_t>::max();
      return;
    }
    const uint64_t id = conn_->next_correlation_id();
    auto frame = internal::encode_ack(id, spec_.name, member, 0, std::span<const uint64_t>(), /*durable=*/true);
    barrier_in_flight_ = true;
    barrier_id_ = id;
    last_barrier_id_ = id;  // if it cannot be sent, its waiters fail now and answer for what came before
    barrier_refused_ = 0;
    barrier_first_refusal_ = Status();
    ++outstanding_;
    Status sent = conn_->send(id, std::move(frame), [this, finish, refused, first_refusal](Result<Frame> r) mutable {
      --outstanding_;
      barrier_in_flight_ = false;
      if (r) quiet_acks_applied_before(r->message().correlation_id());
      // Quiet acks sent before the barrier are answered before it, and only if refused:
      // those refusals came in after it was sent (on_unanswered), and count for it.
      if (barrier_refused_ > 0) {
        if (refused == 0) first_refusal = barrier_first_refusal_;
        refused += barrier_refused_;
      }
      barrier_id_ = 0;
      barrier_refused_ = 0;
      barrier_first_refusal_ = Status();
      Status s = r ? internal::response_status(*r, protocol::Body::AckResponse) : r.status();
      if (s.ok() && !internal::ack_was_durable(*r)) {
        s = failed_precondition("the broker at " + client_.broker +
                                " does not support durable acks (it answered without committing them); upgrade it");
      }
      if (s.ok() && refused > 0) {
        s = Status(first_refusal.code(), std::to_string(refused) + " ack request(s) were refused, so their events " +
                                             "will be redelivered; first: " + std::string(first_refusal.message()));
      }
      finish(s);
      maybe_send_barrier();  // waiters that came while this one was in flight
    });
    if (!sent.ok()) {
      --outstanding_;
      barrier_in_flight_ = false;
      barrier_id_ = 0;
      finish(sent);
    }
  }

  // IoThread: waits (bounded) for outstanding acks, then leaves the group and disconnects.
  void finish_close(std::shared_ptr<std::promise<void>> done, std::chrono::steady_clock::time_point deadline) {
    if (outstanding_ > 0 && conn_ && conn_->is_open() && std::chrono::steady_clock::now() < deadline) {
      close_timer_.expires_after(std::chrono::milliseconds(5));
      close_timer_.async_wait([this, done, deadline](const std::error_code&) {
        std::lock_guard g(guard_);
        finish_close(done, deadline);
      });
      return;
    }
    leave_and_disconnect([this, done] {
      report_state(ConnectionState::kClosed);
      done->set_value();
    });
  }

  // IoThread: the end of close(); `finished` runs once the connection is closed.
  void leave_and_disconnect(std::function<void()> finished) {
    std::string member;
    // What the application was handed and did not settle counts as a delivery attempt;
    // everything else in flight to this member (queued here, or still on its way) goes
    // back to the group uncounted, since nobody looked at it.
    std::map<uint32_t, std::vector<uint64_t>> processing;
    {
      std::lock_guard lk(mu_);
      member = member_id_;
      for (const auto& [key, offsets] : handed_out_) {
        if (key.first == member) processing[key.second].assign(offsets.begin(), offsets.end());
      }
    }
    for (auto& w : sync_waiters_) w->set_value(failed_precondition("the subscriber is closed"));
    sync_waiters_.clear();
    if (!conn_ || !conn_->is_open() || member.empty()) {
      if (conn_) conn_->close(failed_precondition("subscriber closed"));
      conn_.reset();
      finished();
      return;
    }
    const uint64_t id = conn_->next_correlation_id();
    auto conn = conn_;
    Status sent = conn_->send(id, internal::encode_leave(id, spec_.name, member, /*release_unprocessed=*/true, processing),
                              [this, conn, finished](Result<Frame> r) {
      // Answered after every quiet ack before it (applied in order): those are confirmed,
      // and the close below must not count them as lost.
      if (r) quiet_acks_applied_before(r->message().correlation_id());
      conn->close(failed_precondition("subscriber closed"));
      finished();
    });
    if (!sent.ok()) {
      conn_->close(failed_precondition("subscriber closed"));
      finished();
    }
    conn_.reset();
  }

  // IoThread.
  void connect_and_join(std::shared_ptr<std::promise<Status>> first) {
    if (closing_) {
      if (first) first->set_value(failed_precondition("the subscriber is closed"));
      return;
    }
    asio::co_spawn(
        io_.context(), Connection::open(client_, [this](const Status& why) { on_connection_closed(why); }, &guard_),
        [this, first](std::exception_ptr e, internal::Opened opened) {
          std::lock_guard g(guard_);
          if (e) opened.status = internal_error("connect failed with an exception");
          if (closing_) {
            if (opened.connection) opened.connection->close(failed_precondition("subscriber closed"));
            if (first) first->set_value(failed_precondition("the subscriber is closed"));
            return;
          }
          if (!opened.status.ok()) {
            if (first) {
              first->set_value(opened.status);
            } else {
              schedule_reconnect();
            }
            return;
          }
          conn_ = std::move(opened.connection);
          last_barrier_id_ = 0;  // correlation ids start again
          clock_.observe(conn_->hello().lamport);
          conn_->set_push_handler([this](Frame f) { on_push(std::move(f)); });
          conn_->set_unanswered_handler([this](Frame f) { on_unanswered(std::move(f)); });
          join(first);
        });
  }

  void join(std::shared_ptr<std::promise<Status>> first) {
    const uint64_t id = conn_->next_correlation_id();
    auto conn = conn_;
    auto frame = internal::encode_subscribe(id, spec_, options_.max_unacked_events, options_.max_unacked_bytes,
                                            options_.create_if_missing, client_.client_name);
    Status sent = conn_->send(id, std::move(frame), [this, conn, first](Result<Frame> r) {
      Status st = r ? internal::response_status(*r, protocol::Body::SubscribeResponse) : r.status();
      if (!st.ok()) {
        st = st.with_context("subscribe to '" + spec_.name + "' on topic '" + spec_.topic + "'");
        if (first) {
          first->set_value(st);
        } else {
          report_error(st.with_context("rejoin refused"));
        }
        conn->close(st);  // a later join retries after the backoff
        return;
      }
      const auto* body = r->message().body_as_SubscribeResponse();
      const std::string member = body->member_id() ? body->member_id()->str() : std::string();
      session_timeout_ = std::chrono::milliseconds(std::max<uint32_t>(body->session_timeout_ms(), 30));
      {
        std::lock_guard lk(mu_);
        member_id_ = member;
        ++joins_;
        joined_once_ = true;
        // Events of an earlier membership cannot be acked any more; they come again.
        std::erase_if(queue_, [&member](const DeliveredEvent& e) { return e.member_id != member; });
        std::erase_if(handed_out_, [&member](const auto& entry) { return entry.first.first != member; });
      }
      attempt_ = 0;
      connected_ = true;
      schedule_heartbeat(conn);
      if (first) {
        first->set_value(Status());
      } else {
        reconnect_reported_ = false;
        report_state(ConnectionState::kReconnected);
      }
    });
    if (!sent.ok() && first) first->set_value(sent);
  }

  void schedule_heartbeat(std::shared_ptr<Connection> conn) {
    const auto interval = options_.heartbeat_interval.count() > 0
                              ? options_.heartbeat_interval
                              : std::max(session_timeout_ / 3, std::chrono::milliseconds(10));
    heartbeat_timer_.expires_after(interval);
    heartbeat_timer_.async_wait([this, conn](const std::error_code& ec) {
      std::lock_guard g(guard_);
      if (ec || closing_ || conn != conn_ || !conn->is_open()) return;
      std::string member;
      {
        std::lock_guard lk(mu_);
        member = member_id_;
      }
      const uint64_t id = conn->next_correlation_id();
      (void)conn->send(id, internal::encode_heartbeat(id, spec_.name, member), [this, conn](Result<Frame> r) {
        if (!r) return;
        if (conn == conn_) quiet_acks_applied_before(r->message().correlation_id());
        Status s = internal::response_status(*r, protocol::Body::HeartbeatResponse);
        // The broker dropped this member (session timeout): join again on a new connection.
        if (!s.ok()) conn->close(s);
      });
      schedule_heartbeat(conn);
    });
  }

  void on_connection_closed(const Status& why) {
    heartbeat_timer_.cancel();
    unconfirmed_quiet_acks(why);
    {
      std::lock_guard lk(mu_);
      member_id_.clear();
    }
    conn_.reset();
    // Reported once per outage: a connection that failed its rejoin was never "connected".
    if (connected_ && !closing_) {
      connected_ = false;
      report_error(why.with_context("connection to broker " + client_.broker + " lost"));
      report_state(ConnectionState::kDisconnected);
    }
    connected_ = false;
    if (!closing_ && joined_once_) schedule_reconnect();
  }

  void schedule_reconnect() {
    if (!reconnect_reported_) {
      reconnect_reported_ = true;
      report_state(ConnectionState::kReconnecting);
    }
    retry_timer_.expires_after(backoff_.delay(attempt_++, rng_));
    retry_timer_.async_wait([this](const std::error_code& ec) {
      std::lock_guard g(guard_);
      if (!ec && !closing_) connect_and_join(nullptr);
    });
  }

  // The broker answered requests up to `correlation_id` in order: every quiet ack sent
  // before it was applied.
  void quiet_acks_applied_before(uint64_t correlation_id) {
    while (!quiet_acks_.empty() && quiet_acks_.front().correlation_id < correlation_id) quiet_acks_.pop_front();
  }

  // A response nothing waits for: a refused quiet ack (or, from a broker that answers
  // every ack, an applied one), or one that came after its request's handler gave up.
  void on_unanswered(Frame frame) {
    const uint64_t id = frame.message().correlation_id();
    quiet_acks_applied_before(id);
    if (quiet_acks_.empty() || quiet_acks_.front().correlation_id != id) return;
    const size_t n = quiet_acks_.front().events;
    quiet_acks_.pop_front();
    const Status s = internal::response_status(frame, protocol::Body::AckResponse);
    if (s.ok()) return;
    {
      std::lock_guard lk(mu_);
      ack_errors_ += n;  // the broker names the first bad offset; the events come again
    }
    // A barrier in flight was sent after this ack, so the refusal is its to report;
    // otherwise the next barrier's.
    if (barrier_in_flight_ && id < barrier_id_) {
      if (barrier_refused_++ == 0) barrier_first_refusal_ = s;
    } else if (sync_refused_++ == 0) {
      sync_first_refusal_ = s;
    }
    report_error(s.with_context("ack of " + std::to_string(n) + " event(s) of subscription '" + spec_.name +
                                "' failed; they will be redelivered"));
  }

  // The connection closed with quiet acks the broker had not confirmed: whether it applied
  // them is unknown, so they count as answered acks that fail with the connection do.
  // Those sent before the last barrier were that barrier's to confirm; it failed with the
  // connection (its handler ran first), so only the later ones are the next barrier's.
  void unconfirmed_quiet_acks(const Status& why) {
    size_t n = 0;
    bool after_last_barrier = false;
    for (const QuietAck& q : quiet_acks_) {
      n += q.events;
      if (q.correlation_id > last_barrier_id_) after_last_barrier = true;
    }
    quiet_acks_.clear();
    last_barrier_id_ = 0;  // ids start again on the next connection
    if (n == 0) return;
    {
      std::lock_guard lk(mu_);
      ack_errors_ += n;
    }
    if (after_last_barrier && sync_refused_++ == 0) sync_first_refusal_ = why;
    report_error(why.with_context("ack of " + std::to_string(n) + " event(s) of subscription '" + spec_.name +
                                  "' was not confirmed before the connection closed; they may come again"));
  }

  void on_push(Frame frame) {
    auto events = internal::decode_delivery(frame);
    if (!events) {
      // Its events were not handed out, so they come again after their ack deadline.
      report_error(events.error().with_context("a Delivery from broker " + client_.broker + " failed to decode; dropped"));
      return;
    }
    for (const DeliveredEvent& e : *events) clock_.observe(e.lamport);
    {
      std::lock_guard lk(mu_);
      for (DeliveredEvent& e : *events) queue_.push_back(std::move(e));
    }
    cv_.notify_all();
  }

  const ClientOptions client_;
  const SubscriberOptions options_;
  SubscriptionSpec spec_;
  LamportClock clock_;

  // IoThread only (or with guard_ held: the fields from conn_ on).
  internal::IoThread io_;
  internal::BackoffPolicy backoff_;
  std::mt19937_64 rng_;
  asio::steady_timer heartbeat_timer_;
  asio::steady_timer retry_timer_;
  asio::steady_timer close_timer_;
  // Taken by every IoThread handler (the connection's coroutines take it too: Connection::open
  // is given it), and by the handler thread in send_settled(). Recursive, as Connection
  // requires: a handler may send or close.
  std::recursive_mutex guard_;
  std::atomic<uint64_t> posted_extends_{0};  // extend_deadline() requests posted, not yet sent
  std::shared_ptr<Connection> conn_;
  std::chrono::milliseconds session_timeout_{10000};
  int attempt_ = 0;
  bool closing_ = false;
  bool connected_ = false;           // joined on conn_ (so a loss is reported)
  bool reconnect_reported_ = false;  // kReconnecting was reported for the current outage
  uint64_t outstanding_ = 0;
  // sync_acks(): ack requests not yet answered, the waiters for the next durable barrier,
  // and the ack requests refused since the last barrier was sent.
  uint64_t outstanding_acks_ = 0;
  // Quiet acks sent on conn_ and not yet known to be applied (AckRequest.quiet), in
  // correlation id order: any later response confirms them, a refusal answers one.
  struct QuietAck {
    uint64_t correlation_id;
    size_t events;
  };
  std::deque<QuietAck> quiet_acks_;
  static constexpr size_t kMaxQuietAcks = 4096;
  // The durable barrier in flight (0: none) and the refusals of quiet acks sent before it
  // that came back while it was in flight; the last barrier sent on conn_.
  uint64_t barrier_id_ = 0;
  uint32_t barrier_refused_ = 0;
  Status barrier_first_refusal_;
  uint64_t last_barrier_id_ = 0;
  std::vector<std::shared_ptr<std::promise<Status>>> sync_waiters_;
  bool barrier_in_flight_ = false;
  uint32_t sync_refused_ = 0;
  Status sync_first_refusal_;

  mutable std::mutex mu_;  // guards everything below
  std::condition_variable cv_;
  std::deque<DeliveredEvent> queue_;
  std::string member_id_;
  bool joined_once_ = false;
  bool closed_ = false;
  bool flush_scheduled_ = false;
  uint64_t joins_ = 0;
  uint64_t ack_errors_ = 0;
  std::map<std::pair<std::string, uint32_t>, std::vector<uint64_t>> pending_acks_;
  // Events receive() returned that were not acked, nacked or released yet, by (member id,
  // partition): what close() tells the broker the application was processing.
  std::map<std::pair<std::string, uint32_t>, std::set<uint64_t>> handed_out_;
  std::vector<PendingNack> pending_nacks_;
  std::thread handler_thread_;
};

Result<std::unique_ptr<Subscriber>> Subscriber::connect(ClientOptions client, SubscriberOptions options) {
  if (options.subscription.empty()) return invalid_argument("SubscriberOptions.subscription is empty");
  if (options.topic.empty()) return invalid_argument("SubscriberOptions.topic is empty");
  // settings.name and settings.topic may repeat the subscription and topic (or stay empty);
  // a different value is a contradiction, refused rather than silently overwritten.
  if (!options.settings.name.empty() && options.settings.name != options.subscription) {
    return invalid_argument("SubscriberOptions.settings.name '" + options.settings.name +
                            "' contradicts SubscriberOptions.subscription '" + options.subscription +
                            "'; leave settings.name empty (the subscription's name is taken from subscription)");
  }
  if (!options.settings.topic.empty() && options.settings.topic != options.topic) {
    return invalid_argument("SubscriberOptions.settings.topic '" + options.settings.topic +
                            "' contradicts SubscriberOptions.topic '" + options.topic +
                            "'; leave settings.topic empty (the subscription's topic is taken from topic)");
  }
  auto impl = std::make_shared<Impl>(std::move(client), std::move(options));
  CAUSEWAY_RETURN_IF_ERROR(impl->start());
  return std::unique_ptr<Subscriber>(new Subscriber(std::move(impl)));
}

Result<std::unique_ptr<Subscriber>> Subscriber::start(ClientOptions client, SubscriberOptions options, Handler handler) {
  if (!handler) return invalid_argument("the handler is empty");
  CAUSEWAY_ASSIGN_OR_RETURN(auto sub, connect(std::move(client), std::move(options)));
  sub->impl_->run_handler(std::move(handler));
  return sub;
}

Subscriber::Subscriber(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
Subscriber::~Subscriber() { (void)close(); }

Result<std::vector<DeliveredEvent>> Subscriber::receive(size_t max, std::chrono::milliseconds timeout) {
  return impl_->receive(max, timeout);
}
Status Subscriber::ack(const DeliveredEvent& event) { return impl_->ack(event); }
Status Subscriber::nack(const DeliveredEvent& event, std::chrono::milliseconds delay, std::string reason) {
  return impl_->nack(event, delay, std::move(reason));
}
Status Subscriber::release(const DeliveredEvent& event) { return impl_->release(event); }
Status Subscriber::ack_sync(const DeliveredEvent& event, std::chrono::milliseconds timeout) {
  return impl_->ack_sync(event, timeout);
}
Status Subscriber::sync_acks(std::chrono::milliseconds timeout) { return impl_->sync_acks(timeout); }
Status Subscriber::extend_deadline(const DeliveredEvent& event, std::chrono::milliseconds extend) {
  return impl_->extend_deadline(event, extend);
}
Status Subscriber::close() { return impl_->close(); }
std::string Subscriber::member_id() const { return impl_->member_id(); }
uint64_t Subscriber::lamport() const { return impl_->lamport(); }
uint64_t Subscriber::joins() const { return impl_->joins(); }
uint64_t Subscriber::ack_errors() const { return impl_->ack_errors(); }

}  // namespace causeway::client
