// File: client/src/connection.cc
//
// See connection.h; the protocol is docs/wire-protocol.md.
#include "client/src/connection.h"

#include <algorithm>
#include <array>
#include <exception>
#include <variant>

#include <asio/co_spawn.hpp>
#include <asio/connect.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/read.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>

#include <asio/post.hpp>

namespace causeway::client::internal {
namespace {

using asio::experimental::as_tuple;
using asio::use_awaitable;
constexpr auto kTuple = as_tuple(use_awaitable);

asio::awaitable<void> sleep_for(std::chrono::milliseconds d) {
  asio::steady_timer timer(co_await asio::this_coro::executor, d);
  co_await timer.async_wait(kTuple);
}

std::string describe(std::exception_ptr e) {
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    return ex.what();
  } catch (...) {
    return "unknown exception";
  }
}

// An OpenSSL error queue entry as its reason text ("certificate verify failed").
std::string take_ssl_errors() {
  std::string out;
  while (const unsigned long e = ERR_get_error()) {
    const char* reason = ERR_reason_error_string(e);
    if (!out.empty()) out += "; ";
    out += reason != nullptr ? reason : "unknown error";
  }
  return out.empty() ? std::string("unknown error") : out;
}

// A key file is never decrypted here: a passphrase prompt would block on the terminal.
int no_passphrase(char*, int, int, void*) { return 0; }

bool contains(std::string_view text, std::string_view part) { return text.find(part) != std::string_view::npos; }

}  // namespace

Status split_host_port(const std::string& address, std::string& host, std::string& port) {
  const auto bad = [&address] {
    return invalid_argument("broker address '" + address + "' is not HOST:PORT (e.g. 127.0.0.1:7450)");
  };
  const auto colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == address.size()) return bad();
  host = address.substr(0, colon);
  port = address.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (host.empty() || port.size() > 5 || !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return bad();
  }
  if (std::stoul(port) > 65535) return bad();
  return Status();
}

Connection::Connection(asio::any_io_executor executor, ClientOptions options)
    : options_(std::move(options)), socket_(executor), write_signal_(executor), watchdog_timer_(executor) {}

Connection::~Connection() = default;

asio::awaitable<Opened> Connection::open(ClientOptions options, CloseHandler on_close, std::recursive_mutex* guard) {
  using namespace asio::experimental::awaitable_operators;
  auto executor = co_await asio::this_coro::executor;
  const std::chrono::milliseconds timeout = options.connect_timeout;
  const std::string broker = options.broker;
  auto conn = std::make_shared<Connection>(executor, std::move(options));
  std::variant<Status, std::monostate> outcome = co_await (conn->establish() || sleep_for(timeout));
  if (outcome.index() == 1) {
    co_return Opened{Status(Code::kDeadlineExceeded, Reason::kBrokerUnreachable,
                            "connecting to " + broker + " took longer than connect_timeout " +
                                std::to_string(timeout.count()) + "ms"),
                     nullptr};
  }
  Status status = std::get<0>(std::move(outcome));
  if (!status.ok()) co_return Opened{status, nullptr};
  conn->on_close_ = std::move(on_close);
  conn->guard_ = guard;
  conn->io_thread_ = std::this_thread::get_id();  // open() runs on the IoThread
  conn->open_ = true;
  conn->start_tasks();
  co_return Opened{Status(), conn};
}

Status Connection::io_failure(const char* what, const std::error_code& ec) const {
  if (ec == asio::error::eof) return unavailable("connection to " + options_.broker + " closed by the broker");
  if (tls_ && ec.category() == asio::error::get_ssl_category()) {
    // Name the side at fault and what to change; the TLS library's reason is kept.
    const std::string reason = ec.message();
    const std::string base = "TLS with " + options_.broker + " failed: " + reason;
    const long verify = SSL_get_verify_result(tls_->native_handle());
    if (verify != X509_V_OK) {
      return failed_precondition(base + ": the broker's certificate did not verify (" +
                                 X509_verify_cert_error_string(verify) +
                                 "); --tls-ca names the CA that signed it, --tls-server-name the name it carries");
    }
    if (contains(reason, "wrong version number") || contains(reason, "packet length too long") ||
        contains(reason, "alert protocol version")) {
      return failed_precondition(base + ": the broker does not serve TLS on this port (connect without --tls-*, or "
                                        "start the broker with --tls-cert and --tls-key)");
    }
    if (contains(reason, "certificate required") || contains(reason, "bad certificate") ||
        contains(reason, "unknown ca") || contains(reason, "certificate expired") ||
        contains(reason, "certificate unknown") || contains(reason, "certificate revoked") ||
        contains(reason, "handshake failure") || contains(reason, "decrypt error")) {
      return failed_precondition(base + ": the broker refused this client's certificate (give --tls-cert and --tls-key "
                                        "of a valid certificate signed by a CA the broker trusts, its --tls-ca)");
    }
    return unavailable(base);
  }
  if (tls_ && ec == asio::ssl::error::stream_truncated) {
    return unavailable("connection to " + options_.broker + " closed by the broker (TLS stream ended without close_notify)");
  }
  return unavailable(std::string(what) + " " + options_.broker + ": " + ec.message());
}

template <typename Buffers>
asio::awaitable<std::tuple<std::error_code, std::size_t>> Connection::read_exactly(const Buffers& buffers) {
  if (tls_) return asio::async_read(*tls_, buffers, kTuple);
  return asio::async_read(socket_, buffers, kTuple);
}

template <typename Buffers>
asio::awaitable<std::tuple<std::error_code, std::size_t>> Connection::write_all(const Buffers& buffers) {
  if (tls_) return asio::async_write(*tls_, buffers, kTuple);
  return asio::async_write(socket_, buffers, kTuple);
}

Status Connection::prepare_tls(const std::string& host) {
  const TlsOptions& o = options_.tls;
  ERR_clear_error();
  tls_context_ = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_client);
  SSL_CTX* ctx = tls_context_->native_handle();
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_default_passwd_cb(ctx, no_passphrase);
  if (o.ca_file.empty()) {
    if (SSL_CTX_set_default_verify_paths(ctx) != 1)
      return invalid_argument("cannot load the system's CA certificates: " + take_ssl_errors() + " (give --tls-ca FILE)");
  } else if (SSL_CTX_load_verify_file(ctx, o.ca_file.c_str()) != 1) {
    return invalid_argument("cannot load the CA file " + o.ca_file + " (--tls-ca, PEM certificates): " +
                            take_ssl_errors());
  }
  if (!o.cert_file.empty() || !o.key_file.empty()) {
    if (o.cert_file.empty() || o.key_file.empty())
      return invalid_argument("--tls-cert and --tls-key go together: give the client certificate and its key");
    if (SSL_CTX_use_certificate_chain_file(ctx, o.cert_file.c_str()) != 1)
      return invalid_argument("cannot load the client certificate " + o.cert_file + " (--tls-cert, PEM): " +
                              take_ssl_errors());
    if (SSL_CTX_use_PrivateKey_file(ctx, o.key_file.c_str(), SSL_FILETYPE_PEM) != 1)
      return invalid_argument("cannot load the client key " + o.key_file +
                              " (--tls-key, unencrypted PEM): " + take_ssl_errors());
    if (SSL_CTX_check_private_key(ctx) != 1)
      return invalid_argument("the key in " + o.key_file + " does not belong to the certificate in " + o.cert_file);
  }
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  tls_ = std::make_unique<asio::ssl::stream<asio::ip::tcp::socket&>>(socket_, *tls_context_);
  SSL* ssl = tls_->native_handle();
  const std::string& name = o.server_name.empty() ? host : o.server_name;
  std::error_code not_ip;
  (void)asio::ip::make_address(name, not_ip);
  if (!not_ip) {
    if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name.c_str()) != 1)
      return invalid_argument("cannot check the broker's certificate for IP address " + name);
  } else {
    if (SSL_set1_host(ssl, name.c_str()) != 1 || SSL_ctrl(ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name, const_cast<char*>(name.c_str())) != 1)
      return invalid_argument("cannot check the broker's certificate for the name " + name);
  }
  return Status();
}

asio::awaitable<Status> Connection::establish() {
  std::string host;
  std::string port;
  Status parsed = split_host_port(options_.broker, host, port);
  if (!parsed.ok()) co_return parsed;
  asio::ip::tcp::resolver resolver(socket_.get_executor());
  auto [resolve_ec, endpoints] = co_await resolver.async_resolve(host, port, kTuple);
  if (resolve_ec) co_return io_failure("cannot resolve", resolve_ec).with_reason(Reason::kBrokerUnreachable);
  auto [connect_ec, endpoint] = co_await asio::async_connect(socket_, endpoints, kTuple);
  (void)endpoint;
  if (connect_ec) co_return io_failure("cannot connect to", connect_ec).with_reason(Reason::kBrokerUnreachable);
  std::error_code ignored;
  socket_.set_option(asio::ip::tcp::no_delay(true), ignored);
  if (options_.tls.active()) {
    if (Status s = prepare_tls(host); !s.ok()) co_return s;
    auto [handshake_ec] = co_await tls_->async_handshake(asio::ssl::stream_base::client, kTuple);
    if (handshake_ec) co_return io_failure("TLS handshake with", handshake_ec);
  }

  const std::vector<uint8_t> hello = encode_hello(next_correlation_id(), options_.client_name, options_.token);
  auto [write_ec, written] = co_await write_all(asio::buffer(hello));
  (void)written;
  if (write_ec) co_return io_failure("handshake with", write_ec);
  Result<Frame> frame = co_await read_frame();
  if (!frame) co_return frame.error().with_context("handshake with " + options_.broker);
  Result<HelloInfo> info = parse_hello_response(*frame);
  if (!info) co_return info.error().with_context("handshake with " + options_.broker);
  hello_ = *info;
  if (hello_.max_frame_bytes != 0) max_frame_bytes_ = std::min(hello_.max_frame_bytes, kClientMaxFrameBytes);
  co_return Status();
}

asio::awaitable<Result<Frame>> Connection::read_frame() {
  std::array<uint8_t, kFrameLengthBytes> prefix{};
  auto [ec, n] = co_await read_exactly(asio::buffer(prefix));
  (void)n;
  if (ec) co_return io_failure("lost connection to", ec);
  // An HTTP server (the schema registry's port, say) answers our binary Hello with
  // "HTTP/1.1 400 ...", whose first four bytes would read as a frame length of 1347703880.
  if (prefix == std::array<uint8_t, kFrameLengthBytes>{'H', 'T', 'T', 'P'}) {
    co_return failed_precondition(options_.broker +
                                  " answered in HTTP, so it is not a Causeway broker (perhaps the schema registry's "
                                  "REST port); the broker's wire port is 7450 by default (--broker HOST:PORT)");
  }
  Result<uint32_t> length = decode_frame_length(std::span<const uint8_t, kFrameLengthBytes>(prefix), max_frame_bytes_);
  if (!length) co_return length.error().with_context("bad frame from " + options_.broker);
  std::vector<uint8_t> bytes(*length);
  auto [body_ec, m] = co_await read_exactly(asio::buffer(bytes));
  (void)m;
  if (body_ec) co_return io_failure("lost connection to", body_ec);
  Result<Frame> frame = verify_frame(std::move(bytes), max_frame_bytes_);
  if (!frame) co_return frame.error().with_context("bad frame from " + options_.broker);
  co_return frame;
}

void Connection::start_tasks() {
  auto executor = socket_.get_executor();
  auto self = shared_from_this();
  // Plain lambdas holding `self` return the coroutines (STYLE.md §4: a capturing lambda is
  // never itself a coroutine). A task that throws closes only this connection.
  const auto on_exit = [self](std::exception_ptr e) {
    if (e) self->close(internal_error("connection task failed: " + describe(e)));
  };
  asio::co_spawn(executor, [self] { return self->reader(); }, on_exit);
  asio::co_spawn(executor, [self] { return self->writer(); }, on_exit);
  asio::co_spawn(executor, [self] { return self->watchdog(); }, on_exit);
}

Status Connection::send(uint64_t correlation_id, std::vector<uint8_t> frame, ResponseHandler handler) {
  CAUSEWAY_RETURN_IF_ERROR(check_sendable(frame));
  pending_.emplace(correlation_id,
                   Pending{std::chrono::steady_clock::now() + options_.request_timeout, std::move(handler)});
  write(std::move(frame));
  return Status();
}

Status Connection::send_unanswered(std::vector<uint8_t> frame) {
  CAUSEWAY_RETURN_IF_ERROR(check_sendable(frame));
  write(std::move(frame));
  return Status();
}

Status Connection::check_sendable(const std::vector<uint8_t>& frame) const {
  if (!open_) return unavailable("connection to " + options_.broker + " is closed");
  if (frame.size() > std::size_t{max_frame_bytes_} + kFrameLengthBytes) {
    return resource_exhausted("request of " + std::to_string(frame.size()) + " bytes exceeds the broker's max_frame_bytes " +
                              std::to_string(max_frame_bytes_));
  }
  if (queue_.size() >= kMaxQueuedFrames) {
    return resource_exhausted("send queue to " + options_.broker + " is full (" + std::to_string(kMaxQueuedFrames) +
                              " frames)");
  }
  return Status();
}

void Connection::write(std::vector<uint8_t> frame) {
  std::size_t sent = 0;
  if (guard_ != nullptr && !tls_ && !writing_ && queue_.empty() && std::this_thread::get_id() != io_thread_) {
    // From another thread, with nothing ahead of this frame: write it now, sparing the
    // IoThread's wake-up. A refused or partial write leaves the rest to the writer, and an
    // error too: the writer meets it and closes. (On the IoThread the writer's turn costs
    // no wake-up, and it gathers the frames one handler sends into one write.)
    const ssize_t n = ::send(socket_.native_handle(), frame.data(), frame.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n > 0) sent = static_cast<std::size_t>(n);
    if (sent == frame.size()) return;
  }
  if (queue_.empty()) front_sent_ = sent;  // only a frame with nothing ahead was written in part
  queue_.push_back(std::move(frame));
  wake_writer();
}

void Connection::wake_writer() {
  if (std::this_thread::get_id() == io_thread_) {
    write_signal_.cancel();
    return;
  }
  if (wake_posted_) return;  // one posted wake-up serves every frame queued before it runs
  wake_posted_ = true;
  asio::post(socket_.get_executor(), [self = shared_from_this()] {
    auto lock = self->lock_state();
    self->wake_posted_ = false;
    self->write_signal_.cancel();
  });
}

asio::awaitable<void> Connection::reader() {
  for (;;) {
    {
      auto lock = lock_state();
      if (!open_) co_return;
    }
    Result<Frame> frame = co_await read_frame();
    auto lock = lock_state();
    if (!open_) co_return;
    if (!frame) {
      close(frame.error());
      co_return;
    }
    const uint64_t id = frame->message().correlation_id();
    auto it = pending_.find(id);
    if (it == pending_.end()) {
      if (id == 0) {
        if (push_handler_) push_handler_(std::move(*frame));  // a broker push
      } else if (unanswered_handler_) {
        unanswered_handler_(std::move(*frame));  // the answer to a send_unanswered()
      }
      continue;  // else a request we stopped waiting for
    }
    ResponseHandler handler = std::move(it->second.handler);
    pending_.erase(it);
    handler(std::move(*frame));
  }
}

asio::awaitable<void> Connection::writer() {
  constexpr std::size_t kMaxGather = 64;
  std::vector<std::vector<uint8_t>> chunk;
  std::vector<asio::const_buffer> buffers;
  for (;;) {
    {
      // Checking the queue and parking happen in one step on the IoThread; another
      // thread's send() wakes the writer with a cancel posted there (wake_writer), so
      // the wake cannot fall between the check and the wait.
      auto lock = lock_state();
      if (!open_) co_return;
      writing_ = !queue_.empty();
      if (writing_) {
        chunk.clear();
        buffers.clear();
        while (!queue_.empty() && chunk.size() < kMaxGather) {
          chunk.push_back(std::move(queue_.front()));
          queue_.pop_front();
        }
        for (const auto& f : chunk) buffers.push_back(asio::buffer(f));
        buffers.front() += front_sent_;  // what send() wrote of the first frame itself
        front_sent_ = 0;
      } else {
        write_signal_.expires_at(std::chrono::steady_clock::time_point::max());
      }
    }
    if (!writing_) {
      co_await write_signal_.async_wait(kTuple);
      continue;
    }
    auto [ec, n] = co_await write_all(buffers);
    (void)n;
    auto lock = lock_state();
    writing_ = false;
    if (ec) {
      close(io_failure("lost connection to", ec));
      co_return;
    }
  }
}

asio::awaitable<void> Connection::watchdog() {
  const auto tick = std::clamp<std::chrono::milliseconds>(options_.request_timeout / 4, std::chrono::milliseconds(10),
                                                          std::chrono::milliseconds(1000));
  for (;;) {
    {
      auto lock = lock_state();
      if (!open_) co_return;
      watchdog_timer_.expires_after(tick);
    }
    co_await watchdog_timer_.async_wait(kTuple);
    auto lock = lock_state();
    if (!open_) co_return;
    if (!pending_.empty() && pending_.begin()->second.deadline <= std::chrono::steady_clock::now()) {
      close(deadline_exceeded("no response from " + options_.broker + " to request " +
                              std::to_string(pending_.begin()->first) + " within request_timeout " +
                              std::to_string(options_.request_timeout.count()) + "ms"));
      co_return;
    }
  }
}

void Connection::close(Status why) {
  auto lock = lock_state();
  if (!open_) return;
  open_ = false;
  auto keep_alive = shared_from_this();  // handlers below may drop the owner's reference
  std::error_code ignored;
  socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
  socket_.close(ignored);
  write_signal_.cancel();
  watchdog_timer_.cancel();
  queue_.clear();
  front_sent_ = 0;
  std::map<uint64_t, Pending> pending;
  pending.swap(pending_);
  for (auto& [id, p] : pending) p.handler(why);
  push_handler_ = nullptr;
  unanswered_handler_ = nullptr;
  if (on_close_) {
    CloseHandler handler = std::move(on_close_);
    on_close_ = nullptr;
    handler(why);
  }
}

}  // namespace causeway::client::internal
