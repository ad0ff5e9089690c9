// The listener, the network and storage thread pools, and per-connection sessions with
// one reader and one writer coroutine each (Asio's cpp20 chat_server shape). Framing and
// limits: docs/wire-protocol.md.
#include "server/server.h"

#include <spdlog/spdlog.h>

#include <asio.hpp>
#include <asio/ssl.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <array>
#include <atomic>
#include <cstring>
#include <deque>
#include <memory>
#include <mutex>
#include <typeinfo>
#include <unordered_map>

#include <sys/socket.h>

#include "causeway/common/coding.h"
#include "causeway/wire/frame.h"
#include "causeway/wire/response.h"
#include "server/handlers.h"
#include "server/log_throttle.h"

namespace causeway::server {
namespace {

using asio::awaitable;
using asio::use_awaitable;
using asio::ip::tcp;
constexpr auto use_nothrow = asio::experimental::as_tuple(asio::use_awaitable);

std::string describe(std::exception_ptr e) {
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    return ex.what();
  } catch (...) {
    return "an exception not derived from std::exception";
  }
}

// The status of a response frame (length prefix included); null if it has none.
const protocol::Status* status_of_response(const Frame& response) {
  if (response.size() < 8) return nullptr;
  return wire::response_status_of(*protocol::GetMessage(response.data() + 4));
}

}  // namespace

class Session;

struct Server::Impl {
  Impl(Services s, ServerOptions o)
      : store(s.store),
        options(std::move(o)),
        publish(s.publish),
        coordinator(&s.coordinator),
        schema_checker(s.schema_checker),
        authorizer(s.authorizer),
        storage_pool(s.storage_pool.asio_pool()) {}

  core::EventStore& store;
  ServerOptions options;
  core::PublishPipeline& publish;
  subscribe::Coordinator* const coordinator;
  core::SchemaChecker* const schema_checker;
  auth::Authorizer* const authorizer;
  asio::thread_pool& storage_pool;
  HandlerContext handler_context{store, publish, options.max_frame_bytes, coordinator, authorizer};

  std::mutex sessions_mu;  // guards sessions (declared before the contexts: sessions die with them)
  std::unordered_map<uint64_t, std::weak_ptr<Session>> sessions;
  std::atomic<uint64_t> next_session_id{1};
  std::atomic<uint32_t> connections{0};
  std::atomic<bool> stopping{false};
  // Bad frames are logged once per peer address per 10 s, with a count.
  LogThrottle bad_frame_log{std::chrono::seconds(10)};
  LogThrottle refused_log{std::chrono::seconds(10)};  // connections over --max-connections
  LogThrottle request_error_log{std::chrono::seconds(10)};  // by request kind and code
  LogThrottle tls_log{std::chrono::seconds(10)};  // failed TLS handshakes, by peer address
  // Built from options.tls at start(); every session's TLS stream is made from it. The
  // certificate itself is chosen per handshake (tls::ServerTls), so it reloads under it.
  std::unique_ptr<asio::ssl::context> ssl_context;

  // A request answered with an error is logged with its correlation id (which the client
  // also has), once per request kind and code per 10 s with a count of the ones left out:
  // never once per event, however fast a client repeats it. Errors of the broker's own
  // (Internal, IoError, Corruption) are warnings; a client's mistakes are info.
  void log_refusal(uint64_t connection, protocol::Body kind, uint64_t cid, const Frame& response) {
    const protocol::Status* st = status_of_response(response);
    if (st == nullptr || st->code() == protocol::ErrorCode::Ok) return;
    const std::string kind_name = protocol::EnumNameBody(kind);
    const std::string code_name = protocol::EnumNameErrorCode(st->code());
    const auto left_out = request_error_log.admit(kind_name + "/" + code_name);
    if (!left_out) return;
    const bool ours = st->code() == protocol::ErrorCode::Internal || st->code() == protocol::ErrorCode::IoError ||
                      st->code() == protocol::ErrorCode::Corruption;
    spdlog::log(ours ? spdlog::level::warn : spdlog::level::info,
                "connection {}: {} (correlation id {}) answered {}: {}{}", connection, kind_name, cid, code_name,
                st->message() != nullptr ? st->message()->string_view() : std::string_view(),
                *left_out == 0 ? std::string()
                               : "; " + std::to_string(*left_out) + " more " + kind_name + " " + code_name +
                                     " answer(s) since the last such line, not logged");
  }

  std::vector<std::unique_ptr<asio::io_context>> contexts;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards;
  std::vector<std::thread> threads;
  std::unique_ptr<tcp::acceptor> acceptor;
  size_t next_context = 0;

  // Spawns accept_loop; if it ever ends with an exception, logs it and spawns it again, so
  // that one failure never stops the broker accepting.
  void spawn_accept_loop();
  awaitable<void> accept_loop();
  // Serves an accepted connection. An exception here ends only this connection.
  void start_session(tcp::socket socket, uint64_t id);
};

// Delivery frames from the subscription coordinator to one connection: written by the
// storage thread that encoded them when the connection has nothing else to write, else
// queued like responses (Session::enqueue). Whatever credit the connection's members
// granted, the bytes of pushed frames not yet written are bounded: at kMaxQueuedPushBytes
// push() says kFull and the coordinator parks the partitions; once the writer has written
// them down to kResumePushBytes the coordinator is told (sink_drained) and pumps again. So a
// client that does not read its socket costs the broker about kMaxQueuedPushBytes plus one
// Delivery frame per storage thread (docs/subscriptions.md, "Flow control and memory").
class SessionSink final : public subscribe::DeliverySink {
 public:
  static constexpr size_t kMaxQueuedPushBytes = 4u << 20;
  static constexpr size_t kResumePushBytes = 1u << 20;

  SessionSink(Server::Impl& server, std::weak_ptr<Session> session, uint64_t id)
      : server_(server), session_(std::move(session)), id_(id) {}
  uint64_t connection_id() const override { return id_; }
  subscribe::PushResult push(const subscribe::DeliveryBatch& batch) override;
  bool has_room() override {
    std::lock_guard lk(mu_);
    if (queued_bytes_ < kMaxQueuedPushBytes) return true;
    owes_drained_ = true;
    return false;
  }
  bool is_closed() const override { return closed_.load(); }

  // The session closed: every later push is refused.
  void mark_closed() { closed_.store(true); }
  // On any thread: `bytes` of pushed frames were written (by the writer, or by push()
  // itself) or dropped.
  void written(size_t bytes);

 private:
  Server::Impl& server_;
  std::weak_ptr<Session> session_;
  const uint64_t id_;
  std::atomic<bool> closed_{false};
  std::mutex mu_;              // guards the two below
  size_t queued_bytes_ = 0;    // pushed, not yet written
  bool owes_drained_ = false;  // reported full; sink_drained is due below kResumePushBytes
};

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(Server::Impl& server, tcp::socket socket, uint64_t id)
      : server_(server),
        socket_(std::move(socket)),
        id_(id),
        write_timer_(socket_.get_executor()),
        read_gate_(socket_.get_executor()),
        handshake_timer_(socket_.get_executor()),
        member_requests_(asio::make_strand(server_.storage_pool)),
        fd_(socket_.native_handle()),
        write_inline_(!server_.ssl_context && !server_.options.before_write_for_test) {
    server_.connections.fetch_add(1);  // the destructor gives it back
    std::error_code ec;
    const auto remote = socket_.remote_endpoint(ec);
    peer_ = ec ? std::string("unknown") : remote.address().to_string();
    write_timer_.expires_at(std::chrono::steady_clock::time_point::max());
    read_gate_.expires_at(std::chrono::steady_clock::time_point::max());
  }
  ~Session() {
    server_.connections.fetch_sub(1);
    std::lock_guard lk(server_.sessions_mu);
    server_.sessions.erase(id_);
  }

  void start() {
    auto self = shared_from_this();
    sink_ = std::make_shared<SessionSink>(server_, self, id_);
    // A coroutine that ends with an exception (STYLE.md section 3: never silently) is
    // logged and closes this connection only; the handler runs on the session's executor.
    const auto on_exit = [self](const char* which) {
      return [self, which](std::exception_ptr e) {
        if (!e) return;
        spdlog::error("connection {} from {}: {} failed: {}; closing the connection", self->id_, self->peer_, which,
                      describe(e));
        self->close();
      };
    };
    asio::co_spawn(socket_.get_executor(), reader(self), on_exit("reader"));
    asio::co_spawn(socket_.get_executor(), writer(self), on_exit("writer"));
    handshake_timer_.expires_after(server_.options.handshake_timeout);
    handshake_timer_.async_wait([self](const std::error_code& ec) {
      if (!ec && !self->hello_done_) {
        spdlog::debug("connection {}: no Hello within the handshake timeout; closing", self->id_);
        self->close();
      }
    });
  }

  // Stops reading new requests; in-flight ones still complete and are answered.
  void stop_reading() {
    asio::post(socket_.get_executor(), [self = shared_from_this()] {
      std::error_code ec;
      self->socket_.shutdown(tcp::socket::shutdown_receive, ec);
      self->reading_stopped_ = true;
      self->read_gate_.cancel();
    });
  }
  // Stops reading; what is queued is written, then the connection closes.
  void close_after_flush_from_outside() {
    asio::post(socket_.get_executor(), [self = shared_from_this()] {
      self->close_after_flush_ = true;
      self->reading_stopped_ = true;
      self->read_gate_.cancel();
      self->write_timer_.cancel();
    });
  }
  void close_from_outside() {
    asio::post(socket_.get_executor(), [self = shared_from_this()] { self->close(); });
  }

  struct QueuedFrame {
    bool completes_request = false;  // writing it answers a request counted in in_flight_
    size_t push_bytes = 0;           // a pushed Delivery: its size, for the sink's bound
    // A publish's response: the read that completed its request, its handling and the
    // response being ready (for ServerOptions::on_publish_written); a push: `answered`,
    // when it was encoded (for on_push_written); zero otherwise.
    std::chrono::steady_clock::time_point received{};
    std::chrono::steady_clock::time_point handled{};
    std::chrono::steady_clock::time_point answered{};

    bool answers_publish() const { return handled.time_since_epoch().count() != 0; }
  };

  enum class Sent { kWritten, kQueued, kDropped };
  // From any thread: a frame for the client (a response, or a push with correlation id 0).
  // A storage thread writes a Delivery it encoded, or a response it has, to the socket
  // itself when nothing is queued or being written before it (plaintext only), so that it
  // reaches the client without waking the network thread (docs/broker.md, "Who writes to
  // a connection"). Otherwise, and for what such a write leaves (the socket full),
  // it joins the queue the writer coroutine drains in order. Publish responses always go
  // through the writer: an fsync publish is answered by the sync thread that completed its
  // group, and that thread's next sync waits for every send it makes (measured: the
  // write saved on the network thread came back as later syncs). kDropped once the
  // connection is closed.
  Sent enqueue(Frame frame, const QueuedFrame& queued) {
    std::unique_lock lk(out_mu_);
    if (out_closed_) return Sent::kDropped;
    if (write_inline_ && !queued.answers_publish() && !writing_ && queue_.empty() && !on_network_thread()) {
      const ssize_t n = ::send(fd_, frame.data(), frame.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
      if (n == static_cast<ssize_t>(frame.size())) {
        lk.unlock();
        written_elsewhere(queued, std::chrono::steady_clock::now());
        return Sent::kWritten;
      }
      // A partial write leaves the rest to the writer; a full socket (EAGAIN) or an error
      // leaves all of it (the writer's own write then meets the error and closes).
      if (n > 0) head_written_ = static_cast<size_t>(n);
    }
    queue_.push_back(std::move(frame));
    queued_.push_back(queued);
    if (writer_parked_) {
      writer_parked_ = false;
      if (on_network_thread()) {
        write_timer_.cancel();
      } else {
        asio::post(socket_executor_, [self = shared_from_this()] { self->write_timer_.cancel(); });
      }
    }
    return Sent::kQueued;
  }

 private:
  static awaitable<void> reader(std::shared_ptr<Session> self) {
    try {
      if (!self->server_.ssl_context || co_await self->start_tls()) co_await self->read_loop();
    } catch (const std::exception& e) {
      spdlog::warn("connection {}: {}", self->id_, e.what());
    }
    self->reading_stopped_ = true;
    self->maybe_close_when_idle();
  }

  // Makes at least `need` unparsed bytes available at rbuf_[rbeg_, rend_), reading as much
  // as the socket has (several pipelined frames per read). The buffer grows to the largest
  // frame seen (bounded by max_frame_bytes) and shrinks back once such a frame is consumed.
  // False when the connection ends first.
  awaitable<bool> fill(size_t need) {
    const size_t have = rend_ - rbeg_;
    if (have >= need) co_return true;
    const size_t size = std::max(need, kReadBufferBytes);
    if (rbuf_size_ - rbeg_ < need || rbuf_size_ > size) {
      // Not enough room after the unparsed bytes, or a buffer grown for a bigger frame:
      // move the unparsed bytes to the front of a buffer of the right size.
      if (rbuf_size_ != size) {
        auto next = std::make_unique_for_overwrite<uint8_t[]>(size);
        if (have > 0) std::memcpy(next.get(), rbuf_.get() + rbeg_, have);
        rbuf_ = std::move(next);
        rbuf_size_ = size;
      } else if (have > 0) {
        std::memmove(rbuf_.get(), rbuf_.get() + rbeg_, have);
      }
      rbeg_ = 0;
      rend_ = have;
    }
    while (rend_ - rbeg_ < need) {
      auto [ec, n] = co_await read_some(asio::buffer(rbuf_.get() + rend_, rbuf_size_ - rend_));
      if (ec) co_return false;
      rend_ += n;
      read_at_ = std::chrono::steady_clock::now();
    }
    co_return true;
  }

  // The connection's bytes go through TLS once start_tls() set it up, else straight to the
  // socket. (Both forms yield the same awaitable type; plaintext pays one branch.)
  template <typename Buffers>
  awaitable<std::tuple<std::error_code, size_t>> read_some(const Buffers& buffers) {
    if (tls_) return tls_->async_read_some(buffers, use_nothrow);
    return socket_.async_read_some(buffers, use_nothrow);
  }
  template <typename Buffers>
  awaitable<std::tuple<std::error_code, size_t>> write(const Buffers& buffers) {
    if (tls_) return asio::async_write(*tls_, buffers, use_nothrow);
    return asio::async_write(socket_, buffers, use_nothrow);
  }

  // On a TLS port, before any frame: looks at the first bytes without taking them. A TLS
  // ClientHello gets the handshake (bounded by the handshake timer, which closes the
  // socket); anything else is a plaintext client, answered with one error frame it can read
  // ("this port requires TLS") and closed. False when the connection is not to be served.
  awaitable<bool> start_tls() {
    std::error_code ec;
    socket_.non_blocking(true, ec);
    std::array<unsigned char, 2> head{};
    size_t got = 0;
    while (!closed_) {
      auto [wait_ec] = co_await socket_.async_wait(tcp::socket::wait_read, use_nothrow);
      if (wait_ec) co_return false;
      got = socket_.receive(asio::buffer(head), tcp::socket::message_peek, ec);
      if (ec == asio::error::would_block || ec == asio::error::try_again) continue;
      if (ec || got == 0) co_return false;  // closed before saying anything
      if (got == 2 || head[0] != 0x16) break;
      // One byte, and it could start a TLS record: give the second a moment to arrive.
      asio::steady_timer wait(socket_.get_executor(), std::chrono::milliseconds(5));
      co_await wait.async_wait(use_nothrow);
    }
    if (closed_) co_return false;
    if (!tls::looks_like_tls_handshake(head.data(), got)) {
      fail_connection("this broker port requires TLS: connect with TLS (causeway --tls-ca FILE, or "
                      "ClientOptions::tls in the client library)");
      co_return false;
    }
    tls_ = std::make_unique<asio::ssl::stream<tcp::socket&>>(socket_, *server_.ssl_context);
    auto [handshake_ec] = co_await tls_->async_handshake(asio::ssl::stream_base::server, use_nothrow);
    if (handshake_ec) {
      if (!closed_) {  // not the handshake timer
        if (const auto left_out = server_.tls_log.admit(peer_)) {
          spdlog::info("connection {} from {}: TLS handshake failed: {}{}", id_, peer_, handshake_ec.message(),
                       *left_out == 0 ? std::string()
                                      : " (" + std::to_string(*left_out) + " more failed handshake(s) from " + peer_ +
                                            " not logged)");
        }
      }
      close();
      co_return false;
    }
    tls_subject_ = tls::peer_subject(tls_->native_handle());
    spdlog::debug("connection {} from {}: {} {}{}", id_, peer_, SSL_get_version(tls_->native_handle()),
                  SSL_get_cipher_name(tls_->native_handle()),
                  tls_subject_.empty() ? std::string() : ", client certificate " + tls_subject_);
    co_return true;
  }

  // A TLS ClientHello on the plaintext port: a TLS alert (protocol_version) the client's TLS
  // library reports, a log line that says what happened, and close.
  void refuse_tls_client() {
    if (const auto left_out = server_.tls_log.admit(peer_)) {
      spdlog::info("connection {} from {}: a TLS handshake on the plaintext port (start the broker with --tls-cert "
                   "and --tls-key to serve TLS, or connect without TLS){}",
                   id_, peer_, *left_out == 0 ? std::string() : " (" + std::to_string(*left_out) + " more not logged)");
    }
    close_after_flush_ = true;
    reading_stopped_ = true;
    send(Frame{0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x46});  // alert record: fatal, protocol_version
  }

  awaitable<void> read_loop() {
    const uint32_t max_frame = server_.options.max_frame_bytes;
    while (!closed_ && !reading_stopped_) {
      // Backpressure: a client that does not read its responses stops being read from.
      while (in_flight_ >= server_.options.max_in_flight_per_connection && !closed_ && !reading_stopped_) {
        read_gate_.expires_at(std::chrono::steady_clock::time_point::max());
        co_await read_gate_.async_wait(use_nothrow);
      }
      if (closed_ || reading_stopped_) co_return;
      if (!co_await fill(4)) co_return;
      if (!hello_done_ && !tls_ && tls::looks_like_tls_handshake(rbuf_.get() + rbeg_, rend_ - rbeg_)) {
        refuse_tls_client();
        co_return;
      }
      const uint32_t len = coding::decode_fixed32(reinterpret_cast<const char*>(rbuf_.get() + rbeg_));
      if (Status bounded = check_frame_length(len, max_frame); !bounded.ok()) {
        fail_connection(std::string(bounded.message()));
        co_return;
      }
      if (!co_await fill(4 + size_t{len})) co_return;  // bounded above
      const uint8_t* frame = rbuf_.get() + rbeg_ + 4;
      rbeg_ += 4 + size_t{len};
      if (reinterpret_cast<uintptr_t>(frame) % wire::kFrameAlignment != 0) {
        // FlatBuffers reads scalars in place; give them their natural alignment.
        if (aligned_size_ < len) {
          aligned_size_ = std::max<size_t>(len, 64u << 10);
          aligned_ = std::make_unique_for_overwrite<uint8_t[]>(aligned_size_);
        }
        std::memcpy(aligned_.get(), frame, len);
        frame = aligned_.get();
      }
      if (Status verified = verify_request_frame(frame, len, max_frame); !verified.ok()) {
        fail_connection(std::string(verified.message()));
        co_return;
      }
      const protocol::Message* msg = protocol::GetMessage(frame);
      if (!hello_done_) {
        handle_hello(*msg);
        continue;
      }
      ++in_flight_;
      handle(shared_from_this(), frame, len, rr_++);
      if (aligned_size_ > kReadBufferBytes) {  // don't keep a big frame's copy per connection
        aligned_.reset();
        aligned_size_ = 0;
      }
    }
  }

  void handle_hello(const protocol::Message& msg) {
    Authenticate authenticate;
    if (server_.authorizer != nullptr) {
      authenticate = [this](std::string_view mechanism, std::string_view token) {
        auto who = server_.authorizer->authenticate(mechanism, token, tls_subject_);
        if (!who) return who.error();
        principal_ = std::make_shared<const auth::Principal>(std::move(*who));
        return Status();
      };
    }
    HelloOutcome outcome = server::handle_hello(msg, server_.options.broker_version, server_.options.max_frame_bytes,
                                                server_.store.clock().now(), authenticate);
    if (server_.options.on_response) server_.options.on_response(protocol::Body::Hello, outcome.response);
    send(std::move(outcome.response));
    if (!outcome.accepted) {
      close_after_flush_ = true;
      reading_stopped_ = true;
      return;
    }
    hello_done_ = true;
    handshake_timer_.cancel();
  }

  // Publishes run here, on the network thread: they only write to the page cache and to
  // LMDB's memory map, and their durability is a completion that the logs' sync threads
  // run (PartitionLog::set_sync_executor), so no thread waits for a disk flush and a
  // publish costs no thread hand-off. Everything else (topic creation and deletion, reads)
  // runs on the storage pool. Either way the response goes to this session's output queue
  // when it is ready (enqueue()).
  // `frame` is a verified Message in the read buffer, valid until the next read.
  static void handle(std::shared_ptr<Session> self, const uint8_t* frame, uint32_t len, uint32_t rr) {
    const bool publish = protocol::GetMessage(frame)->body_type() == protocol::Body::PublishRequest;
    // A publish's time in the broker is measured from the read that completed its frame.
    const auto received = self->read_at_;
    const auto handled = publish ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point();
    RequestOrigin request_origin{self->id_, self->sink_, self->principal_, {}};
    if (self->principal_) {
      request_origin.close_after_flush = [weak = std::weak_ptr<Session>(self)] {
        if (auto s = weak.lock()) s->close_after_flush_from_outside();
      };
    }
    auto run = [self, rr, origin = std::move(request_origin), received, handled](const uint8_t* bytes) {
      HandlerContext* ctx = &self->server_.handler_context;
      const protocol::Message* m = protocol::GetMessage(bytes);
      const uint64_t cid = m->correlation_id();
      auto answered = std::make_shared<std::atomic<bool>>(false);
      // A quiet ack is answered only when refused (AckRequest.quiet): applied, it completes
      // without a frame, sparing this broker a send and its client a wake-up per ack.
      const protocol::AckRequest* ack = m->body_as_AckRequest();
      const bool quiet = ack != nullptr && ack->quiet() && !ack->durable();
      Responder respond = [self, answered, kind = m->body_type(), cid, received, handled, quiet](Frame response) {
        if (answered->exchange(true)) return;
        QueuedFrame queued{.completes_request = true};
        if (handled.time_since_epoch().count() != 0) {
          queued.received = received;
          queued.handled = handled;
          queued.answered = std::chrono::steady_clock::now();
        }
        if (self->server_.options.on_response) self->server_.options.on_response(kind, response);
        self->server_.log_refusal(self->id_, kind, cid, response);
        if (quiet && answers_ok(response)) {
          self->complete_quietly(queued);
          return;
        }
        self->enqueue(std::move(response), queued);
      };
      try {
        dispatch(*ctx, *m, rr, respond, origin);
      } catch (const std::exception& e) {
        // Only resource failures (bad_alloc) can get here; the handlers report everything else.
        spdlog::error("connection {}: request failed: {}", self->id_, e.what());
        respond(error_frame(cid, protocol::ErrorCode::Internal, std::string("request failed: ") + e.what()));
      }
    };
    if (publish) {
      run(frame);  // publish_async copies what outlives the call
      return;
    }
    auto task = [run = std::move(run), copy = std::vector<uint8_t>(frame, frame + len)] { run(copy.data()); };
    if (applies_in_order(protocol::GetMessage(frame)->body_type())) {
      asio::post(self->member_requests_, std::move(task));
    } else {
      asio::post(self->server_.storage_pool, std::move(task));
    }
  }

  // A member's requests about its membership and its deliveries are applied in the order
  // the connection sent them (docs/wire-protocol.md, "Messages"): on the storage pool
  // they would race, and an ack could overtake the extend of the same event, or a leave
  // the acks before it. Other requests run on the pool in parallel.
  static bool applies_in_order(protocol::Body body) {
    switch (body) {
      case protocol::Body::SubscribeRequest:
      case protocol::Body::HeartbeatRequest:
      case protocol::Body::CreditRequest:
      case protocol::Body::AckRequest:
      case protocol::Body::NackRequest:
      case protocol::Body::ExtendDeadlineRequest:
      case protocol::Body::LeaveGroupRequest: return true;
      default: return false;
    }
  }

  static awaitable<void> writer(std::shared_ptr<Session> self) {
    std::vector<Frame> batch;
    std::vector<QueuedFrame> batch_queued;
    std::vector<asio::const_buffer> buffers;
    while (!self->closed_) {
      // Everything queued so far goes out in one gathered write (bounded).
      size_t skip = 0;  // bytes of the first frame an inline write already sent
      {
        std::unique_lock lk(self->out_mu_);
        if (self->queue_.empty()) {
          if (self->close_after_flush_ || (self->reading_stopped_ && self->in_flight_ == 0)) {
            // Closing: from here no other thread starts a write it could not finish.
            self->out_closed_ = true;
            break;
          }
          self->writer_parked_ = true;
          lk.unlock();
          self->write_timer_.expires_at(std::chrono::steady_clock::time_point::max());
          co_await self->write_timer_.async_wait(use_nothrow);
          lk.lock();
          self->writer_parked_ = false;
          continue;
        }
        size_t bytes = 0;
        while (!self->queue_.empty() && batch.size() < kMaxFramesPerWrite && bytes < kMaxBytesPerWrite) {
          bytes += self->queue_.front().size();
          batch.push_back(std::move(self->queue_.front()));
          batch_queued.push_back(self->queued_.front());
          self->queue_.pop_front();
          self->queued_.pop_front();
        }
        skip = std::exchange(self->head_written_, 0);
        self->writing_ = true;
      }
      buffers.clear();
      for (const Frame& f : batch) buffers.emplace_back(asio::buffer(f));
      buffers.front() += skip;
      if (self->server_.options.before_write_for_test) self->server_.options.before_write_for_test(self->id_);
      auto [ec, n] = co_await self->write(buffers);
      {
        std::lock_guard lk(self->out_mu_);
        self->writing_ = false;
        // A failed write may have sent part of a frame: nothing may follow it.
        if (ec) self->out_closed_ = true;
      }
      if (ec) break;
      size_t pushed_bytes = 0;
      const auto written = std::chrono::steady_clock::now();
      for (const QueuedFrame& q : batch_queued) {
        if (q.completes_request) --self->in_flight_;
        pushed_bytes += q.push_bytes;
        self->observe_written(q, written);
      }
      batch.clear();
      batch_queued.clear();
      if (pushed_bytes > 0) self->sink_->written(pushed_bytes);
      self->read_gate_.cancel();
    }
    self->close();
  }

  // On the network thread: a frame of the connection's own (Hello, errors).
  void send(Frame frame) { enqueue(std::move(frame), QueuedFrame{}); }

  // A request answered by not answering (a quiet ack that was applied): it leaves
  // in_flight_ as a written response would. Nothing once the connection's output closed,
  // as enqueue() drops responses then.
  void complete_quietly(const QueuedFrame& queued) {
    {
      std::lock_guard lk(out_mu_);
      if (out_closed_) return;
    }
    written_elsewhere(queued, std::chrono::steady_clock::now());
  }
  static bool answers_ok(const Frame& response) {
    const protocol::Status* st = status_of_response(response);
    return st != nullptr && st->code() == protocol::ErrorCode::Ok;
  }

  // True on the thread running this connection's io_context. (A socket accepted on an
  // io_context has its executor type; anything else counts as another thread, which only
  // costs the batching of writes made on the network thread.)
  bool on_network_thread() const { return network_executor_ != nullptr && network_executor_->running_in_this_thread(); }
  // A frame written by enqueue() off the network thread: what the writer does after its
  // writes, from there. The reader waits for in_flight_ to drop below the bound, and the
  // writer for it to reach zero once reading stopped: each is woken when that happens.
  void written_elsewhere(const QueuedFrame& q, std::chrono::steady_clock::time_point written) {
    if (q.completes_request) {
      const uint32_t before = in_flight_.fetch_sub(1);
      if (before == server_.options.max_in_flight_per_connection || (before == 1 && reading_stopped_)) {
        asio::post(socket_executor_, [self = shared_from_this()] {
          self->read_gate_.cancel();
          self->write_timer_.cancel();
        });
      }
    }
    observe_written(q, written);
  }
  void observe_written(const QueuedFrame& q, std::chrono::steady_clock::time_point written) const {
    if (q.answers_publish() && server_.options.on_publish_written) {
      server_.options.on_publish_written(PublishTiming{q.handled - q.received, written - q.answered, written - q.received});
    } else if (q.push_bytes > 0 && server_.options.on_push_written) {
      server_.options.on_push_written(written - q.answered);
    }
  }

  void fail_connection(const std::string& why) {
    // One line per peer address per interval, with the count of bad frames left out.
    if (const auto left_out = server_.bad_frame_log.admit(peer_)) {
      if (*left_out == 0) {
        spdlog::info("connection {} from {}: {}", id_, peer_, why);
      } else {
        spdlog::info("connection {} from {}: {} ({} more bad frame(s) from {} not logged)", id_, peer_, why,
                     *left_out, peer_);
      }
    }
    close_after_flush_ = true;
    reading_stopped_ = true;
    send(error_frame(0, protocol::ErrorCode::InvalidArgument, why));
  }

  void maybe_close_when_idle() { write_timer_.cancel(); }

  void close() {
    if (closed_) return;
    closed_ = true;
    // Before connection_closed is queued: a join that takes the coordinator's mutex after
    // it ran must see the connection closed and refuse.
    sink_->mark_closed();
    // Members on this connection leave at once (on a storage thread: it takes the
    // coordinator's mutex). After stop() the pool is joined and this is a no-op.
    if (!server_.stopping) {
      asio::post(server_.storage_pool, [c = server_.coordinator, id = id_] { c->connection_closed(id); });
    }
    {
      // Under out_mu_: no other thread is writing to the descriptor, and none will (a
      // closed descriptor's number may be reused by the next accept).
      std::lock_guard lk(out_mu_);
      out_closed_ = true;
      std::error_code ec;
      socket_.shutdown(tcp::socket::shutdown_both, ec);
      socket_.close(ec);
    }
    write_timer_.cancel();
    read_gate_.cancel();
    handshake_timer_.cancel();
  }

  Server::Impl& server_;
  tcp::socket socket_;
  std::unique_ptr<asio::ssl::stream<tcp::socket&>> tls_;  // over socket_, on a TLS port after start_tls()
  const uint64_t id_;
  std::string peer_;       // the client's address, for log lines
  std::string tls_subject_;  // the subject of a verified client certificate (mTLS), else empty
  // Who the Hello authenticated (with an authorizer); read by requests on any thread after.
  std::shared_ptr<const auth::Principal> principal_;
  std::shared_ptr<SessionSink> sink_;
  asio::steady_timer write_timer_;
  asio::steady_timer read_gate_;
  asio::steady_timer handshake_timer_;
  // Where this connection's member requests run, one at a time (applies_in_order).
  asio::strand<asio::thread_pool::executor_type> member_requests_;
  const asio::any_io_executor socket_executor_{socket_.get_executor()};
  const asio::io_context::executor_type* const network_executor_ =
      socket_executor_.target_type() == typeid(asio::io_context::executor_type)
          ? socket_executor_.target<asio::io_context::executor_type>()
          : nullptr;
  const int fd_;              // socket_'s descriptor, for enqueue() off the network thread
  const bool write_inline_;   // enqueue() may write: plaintext, and no before_write_for_test
  // The frames for the client, shared with the threads that produce them (enqueue()).
  std::mutex out_mu_;
  std::deque<Frame> queue_;          // guarded by out_mu_: not yet written, in order
  std::deque<QueuedFrame> queued_;   // guarded by out_mu_: one per frame in queue_
  size_t head_written_ = 0;          // guarded by out_mu_: bytes of queue_.front() already sent
  bool writing_ = false;             // guarded by out_mu_: the writer is writing frames it took
  bool writer_parked_ = false;       // guarded by out_mu_: the writer waits on write_timer_
  bool out_closed_ = false;          // guarded by out_mu_: the socket is closed
  // Requests read and not yet answered; answered (decremented) on any thread by enqueue().
  std::atomic<uint32_t> in_flight_{0};
  uint32_t rr_ = 0;
  std::chrono::steady_clock::time_point read_at_{};  // when the last socket read completed
  static constexpr size_t kReadBufferBytes = 256u << 10;
  static constexpr size_t kMaxFramesPerWrite = 256;
  std::unique_ptr<uint8_t[]> aligned_;          // a copy of a frame that arrived misaligned
  size_t aligned_size_ = 0;
  static constexpr size_t kMaxBytesPerWrite = 4u << 20;
  std::unique_ptr<uint8_t[]> rbuf_;  // received bytes; [rbeg_, rend_) not yet parsed
  size_t rbuf_size_ = 0;
  size_t rbeg_ = 0;
  size_t rend_ = 0;
  bool hello_done_ = false;
  bool closed_ = false;
  bool close_after_flush_ = false;
  std::atomic<bool> reading_stopped_{false};  // read by written_elsewhere() on any thread
};

subscribe::PushResult SessionSink::push(const subscribe::DeliveryBatch& batch) {
  if (closed_.load()) return subscribe::PushResult::kClosed;
  auto session = session_.lock();
  if (!session) return subscribe::PushResult::kClosed;
  Frame frame = encode_delivery(batch);
  const size_t bytes = frame.size();
  bool full = false;
  {
    // Counted before it can be written (the writer reports it written), taken back below
    // when it never joins the queue.
    std::lock_guard lk(mu_);
    queued_bytes_ += bytes;
    if (queued_bytes_ >= kMaxQueuedPushBytes) full = owes_drained_ = true;
  }
  const auto sent = session->enqueue(std::move(frame), Session::QueuedFrame{.push_bytes = bytes,
                                                                            .answered = std::chrono::steady_clock::now()});
  if (sent != Session::Sent::kQueued) {
    written(bytes);
    if (sent == Session::Sent::kDropped) return subscribe::PushResult::kClosed;
    return subscribe::PushResult::kQueued;
  }
  return full ? subscribe::PushResult::kFull : subscribe::PushResult::kQueued;
}

void SessionSink::written(size_t bytes) {
  bool drained = false;
  {
    std::lock_guard lk(mu_);
    queued_bytes_ -= std::min(queued_bytes_, bytes);
    if (owes_drained_ && queued_bytes_ <= kResumePushBytes) {
      owes_drained_ = false;
      drained = true;
    }
  }
  // On a storage thread: sink_drained takes the coordinator's mutex. After stop() the pool
  // is joined and nothing is delivered any more.
  if (drained && !closed_.load() && !server_.stopping) {
    asio::post(server_.storage_pool, [c = server_.coordinator, id = id_] { c->sink_drained(id); });
  }
}

awaitable<void> Server::Impl::accept_loop() {
  // Out of descriptors (EMFILE/ENFILE) or kernel memory, accept fails at once for as long
  // as the pending connection waits: retrying at once spins a core and floods the log.
  // Pause instead (Asio's examples do the same), doubling up to kMaxAcceptPause while the
  // failures last, and log the first failure and then one line per kAcceptLogInterval
  // with the count. Existing connections are served meanwhile: the pause is a timer.
  constexpr auto kFirstAcceptPause = std::chrono::milliseconds(10);
  constexpr auto kMaxAcceptPause = std::chrono::milliseconds(500);
  constexpr auto kAcceptLogInterval = std::chrono::seconds(10);
  asio::steady_timer pause(acceptor->get_executor());
  std::chrono::milliseconds next_pause = kFirstAcceptPause;
  uint64_t failures_unlogged = 0;
  std::chrono::steady_clock::time_point logged_at{};
  for (;;) {
    asio::io_context& ctx = *contexts[next_context];
    next_context = (next_context + 1) % contexts.size();
    auto [ec, socket] = co_await acceptor->async_accept(ctx, use_nothrow);
    if (ec) {
      if (stopping || ec == asio::error::operation_aborted) co_return;
      const auto now = std::chrono::steady_clock::now();
      if (failures_unlogged == 0 && now - logged_at >= kAcceptLogInterval) {
        spdlog::warn("accept failed: {}; pausing accepts for {} ms (existing connections are served)", ec.message(),
                     next_pause.count());
        logged_at = now;
      } else if (now - logged_at >= kAcceptLogInterval) {
        spdlog::warn("accept failed {} more time(s) in the last {} s, last: {}", failures_unlogged + 1,
                     std::chrono::duration_cast<std::chrono::seconds>(now - logged_at).count(), ec.message());
        logged_at = now;
        failures_unlogged = 0;
      } else {
        ++failures_unlogged;
      }
      pause.expires_after(next_pause);
      co_await pause.async_wait(use_nothrow);
      next_pause = std::min(next_pause * 2, kMaxAcceptPause);
      continue;
    }
    if (next_pause != kFirstAcceptPause) {
      if (failures_unlogged > 0) {
        spdlog::info("accepting again after {} more failed accept(s)", failures_unlogged);
        failures_unlogged = 0;
      } else {
        spdlog::info("accepting again");
      }
      next_pause = kFirstAcceptPause;
    }
    if (stopping) co_return;
    if (connections.load() >= options.max_connections) {
      if (const auto left_out = refused_log.admit("max-connections")) {
        spdlog::warn("refusing connection: {} connections open (--max-connections){}", connections.load(),
                     *left_out == 0 ? std::string() : "; " + std::to_string(*left_out) + " more refused, not logged");
      }
      std::error_code ignored;
      socket.close(ignored);
      continue;
    }
    const uint64_t id = next_session_id.fetch_add(1);
    try {
      start_session(std::move(socket), id);
    } catch (...) {
      // The socket (or the session that took it) is closed as the exception unwinds.
      spdlog::error("connection {}: could not start serving it: {}; closed it", id, describe(std::current_exception()));
    }
  }
}

void Server::Impl::start_session(tcp::socket socket, uint64_t id) {
  if (options.on_accept_for_test) options.on_accept_for_test(id);
  std::error_code ignored;
  socket.set_option(tcp::no_delay(true), ignored);
  auto session = std::make_shared<Session>(*this, std::move(socket), id);
  {
    std::lock_guard lk(sessions_mu);
    sessions.emplace(id, session);
  }
  session->start();
}

void Server::Impl::spawn_accept_loop() {
  asio::co_spawn(acceptor->get_executor(), accept_loop(), [this](std::exception_ptr e) {
    if (!e) return;
    spdlog::error("accepting connections failed: {}; accepting again", describe(e));
    if (!stopping) spawn_accept_loop();
  });
}

subscribe::CoordinatorOptions fit_to_frames(subscribe::CoordinatorOptions coordinator, const ServerOptions& server) {
  coordinator.max_delivery_bytes = std::min<uint32_t>(coordinator.max_delivery_bytes, server.max_frame_bytes / 4);
  coordinator.max_frame_bytes = server.max_frame_bytes;
  return coordinator;
}

Server::Server(Services services, ServerOptions options)
    : impl_(std::make_unique<Impl>(services, std::move(options))) {}

Server::~Server() { stop(); }

uint32_t Server::open_connections() const { return impl_->connections.load(); }

Status Server::start() {
  Impl& s = *impl_;
  if (s.options.network_threads == 0) return invalid_argument("network threads must be at least 1");
  if (s.options.max_frame_bytes < 1024) return invalid_argument("max frame bytes must be at least 1KiB");
  for (uint32_t i = 0; i < s.options.network_threads; ++i) {
    s.contexts.push_back(std::make_unique<asio::io_context>(1));
    s.guards.push_back(asio::make_work_guard(*s.contexts.back()));
  }
  if (s.options.tls) {
    s.ssl_context = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_server);
    s.options.tls->configure(s.ssl_context->native_handle());
  }
  std::error_code ec;
  const auto address = asio::ip::make_address(s.options.listen_host, ec);
  if (ec) return invalid_argument("invalid listen host \"" + s.options.listen_host + "\"");
  const tcp::endpoint endpoint(address, s.options.listen_port);
  auto acceptor = std::make_unique<tcp::acceptor>(*s.contexts[0]);
  acceptor->open(endpoint.protocol(), ec);
  if (!ec) acceptor->set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor->bind(endpoint, ec);
  if (!ec) acceptor->listen(asio::socket_base::max_listen_connections, ec);
  if (ec)
    return io_error("cannot listen on " + s.options.listen_host + ":" + std::to_string(s.options.listen_port) + ": " +
                    ec.message());
  bound_port_ = acceptor->local_endpoint().port();
  s.acceptor = std::move(acceptor);
  // The coordinator is started, and told of appends, before the first request is served:
  // a group loaded earlier would miss the appends made before the notifier was set, and a
  // replay started before start() resumed the stored ones would run twice. Connections
  // made meanwhile wait in the listen backlog.
  s.store.append_notifier().set([c = s.coordinator](std::string_view topic, uint32_t partition, uint64_t end) {
    c->on_append(topic, partition, end);
  });
  s.coordinator->start();
  s.spawn_accept_loop();
  for (auto& ctx : s.contexts) s.threads.emplace_back([c = ctx.get()] { c->run(); });
  return Status();
}

void Server::stop() {
  Impl& s = *impl_;
  if (s.stopping.exchange(true)) return;
  if (s.acceptor) {
    asio::post(s.acceptor->get_executor(), [&s] {
      std::error_code ec;
      s.acceptor->close(ec);
    });
  }
  std::vector<std::shared_ptr<Session>> live;
  {
    std::lock_guard lk(s.sessions_mu);
    for (auto& [id, weak] : s.sessions)
      if (auto p = weak.lock()) live.push_back(std::move(p));
  }
  for (auto& session : live) session->stop_reading();
  // No more deliveries or timers; what the groups acked is committed.
  s.store.append_notifier().set(nullptr);
  s.coordinator->stop();
  // Publishes waiting for a schema lookup continue (and append) before the storage work
  // drains; later ones are answered Unavailable.
  if (s.schema_checker != nullptr) s.schema_checker->stop();
  // In-flight storage work (appends waiting for their sync) finishes; its responses are
  // handed back to the still-running network threads.
  s.storage_pool.join();
  // Dead letters that were publishing while the coordinator stopped marked their offsets
  // acked after its final flush: commit those too.
  s.coordinator->flush_commits();
  for (auto& session : live) session->close_from_outside();
  live.clear();
  for (auto& g : s.guards) g.reset();
  for (auto& ctx : s.contexts) ctx->stop();
  for (auto& t : s.threads)
    if (t.joinable()) t.join();
}

}  // namespace causeway::server
