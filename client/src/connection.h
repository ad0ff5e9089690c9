// File: client/src/connection.h
//
// One TCP connection to the broker, speaking docs/wire-protocol.md: the Hello handshake,
// then pipelined requests matched to responses by correlation id (in any order). Per
// STYLE.md §4 it runs one reader coroutine, one writer coroutine draining a bounded queue
// (the writer parks on a timer that send() cancels, as Asio's chat_server does) and a
// watchdog that closes the connection when the oldest request passes request_timeout.
//
// Threads: everything here runs on the owning IoThread, and is called from it, unless the
// connection was opened with a `guard`: then its state is guarded by that mutex, which the
// connection's own coroutines take while they touch it, and send() may also be called from
// another thread that holds the guard (the Publisher's fast path, docs/client.md
// "Threads", and a Subscriber's handler thread sending its acks, "Subscriber"). Handlers
// are always called with the guard held.
// send() from such another thread writes the frame straight to the socket when nothing is
// queued before it and the writer is not writing (one send(2) with MSG_DONTWAIT, as the
// broker's own writers do, docs/broker.md "Who writes to a connection"); the writer
// finishes whatever the socket does not take. On the IoThread, and over TLS, every frame
// goes through the writer, which gathers what is queued into one write.
// Lifetime: held by shared_ptr; its own coroutines keep it alive until it is closed.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/ssl/context.hpp>
#include <asio/ssl/stream.hpp>
#include <asio/steady_timer.hpp>

#include "causeway/client/options.h"
#include "causeway/common/status.h"
#include "client/src/frame.h"
#include "client/src/protocol_codec.h"

namespace causeway::client::internal {

// Bound on frames waiting for the writer; send() refuses beyond it (backpressure).
inline constexpr std::size_t kMaxQueuedFrames = 4096;
// Whatever a broker announces, this client does not accept frames above this.
inline constexpr uint32_t kClientMaxFrameBytes = 512u << 20;

// Splits "HOST:PORT" ("[v6]:PORT" for IPv6). kInvalidArgument naming the text otherwise.
Status split_host_port(const std::string& address, std::string& host, std::string& port);

class Connection;

// What Connection::open yields: a connection, or why there is none. (Not a Result: co_spawn
// in Asio 1.22 needs a default-constructible value type.)
struct Opened {
  Status status;
  std::shared_ptr<Connection> connection;  // set iff status is OK
};

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  // Called exactly once per accepted send(): with the verified response frame, or with the
  // status that closed the connection first.
  using ResponseHandler = std::function<void(Result<Frame>)>;
  using CloseHandler = std::function<void(const Status&)>;

  // Connects to options.broker and completes the handshake within connect_timeout, then
  // starts the reader, writer and watchdog. `on_close` runs once when the connection closes
  // after that (not when open() itself fails). Errors: kInvalidArgument (bad address),
  // kUnavailable (resolve/connect/handshake I/O failed; the message names the address and
  // the OS error), kDeadlineExceeded, kFailedPrecondition (version or credentials refused).
  // `guard` (optional, outliving the connection): see "Threads" above.
  static asio::awaitable<Opened> open(ClientOptions options, CloseHandler on_close,
                                      std::recursive_mutex* guard = nullptr);

  Connection(asio::any_io_executor executor, ClientOptions options);
  ~Connection();

  bool is_open() const { return open_; }
  const HelloInfo& hello() const { return hello_; }
  uint32_t max_frame_bytes() const { return max_frame_bytes_; }
  uint64_t next_correlation_id() { return next_correlation_id_++; }

  // Sends a frame (from the protocol_codec encoders, carrying `correlation_id`): written
  // at once when the socket takes it, else queued for the writer. On OK the handler will be
  // called exactly once (on the IoThread); on error (kUnavailable: closed;
  // kResourceExhausted: queue full or frame above max_frame_bytes) it is not called. A
  // write error is left to the writer, which closes the connection.
  Status send(uint64_t correlation_id, std::vector<uint8_t> frame, ResponseHandler handler);

  // Frames the broker pushes (correlation id 0, e.g. Delivery) go to `handler`; without
  // one they are dropped.
  void set_push_handler(std::function<void(Frame)> handler) { push_handler_ = std::move(handler); }

  // Sends a request the broker answers only sometimes (a quiet ack, answered only when
  // refused): nothing waits for its response, and request_timeout does not apply to it.
  // A response that does come goes to the unanswered handler. Errors as send().
  Status send_unanswered(std::vector<uint8_t> frame);
  // Responses with a correlation id nothing waits for (send_unanswered's, or a request
  // whose handler already ran) go to `handler`; without one they are dropped.
  void set_unanswered_handler(std::function<void(Frame)> handler) { unanswered_handler_ = std::move(handler); }

  // Closes the socket and fails every pending request with `why`. Idempotent.
  void close(Status why);

 private:
  struct Pending {
    std::chrono::steady_clock::time_point deadline;
    ResponseHandler handler;
  };

  // send()'s refusals: closed, frame too large, queue full.
  Status check_sendable(const std::vector<uint8_t>& frame) const;
  // Writes the frame at once when the socket takes it (see "Threads"), else queues it.
  void write(std::vector<uint8_t> frame);
  asio::awaitable<Status> establish();
  // Sets up tls_ over the connected socket_ for `host` (options_.tls). kInvalidArgument
  // naming the file that cannot be loaded.
  Status prepare_tls(const std::string& host);
  // The connection's bytes: through tls_ when it is set, else straight to socket_.
  template <typename Buffers>
  asio::awaitable<std::tuple<std::error_code, std::size_t>> read_exactly(const Buffers& buffers);
  template <typename Buffers>
  asio::awaitable<std::tuple<std::error_code, std::size_t>> write_all(const Buffers& buffers);
  asio::awaitable<Result<Frame>> read_frame();
  asio::awaitable<void> reader();
  asio::awaitable<void> writer();
  asio::awaitable<void> watchdog();
  void start_tasks();
  // Locks guard_ if there is one (recursively: a handler may send or close).
  std::unique_lock<std::recursive_mutex> lock_state() const {
    return guard_ != nullptr ? std::unique_lock<std::recursive_mutex>(*guard_) : std::unique_lock<std::recursive_mutex>();
  }
  // Wakes the writer parked on write_signal_; from another thread, by posting the cancel
  // to the IoThread, where the writer checks the queue and parks in one step.
  void wake_writer();
  Status io_failure(const char* what, const std::error_code& ec) const;

  ClientOptions options_;
  asio::ip::tcp::socket socket_;
  std::unique_ptr<asio::ssl::context> tls_context_;
  std::unique_ptr<asio::ssl::stream<asio::ip::tcp::socket&>> tls_;  // over socket_ when options_.tls is active
  asio::steady_timer write_signal_;   // the writer parks on it; send() cancels it
  asio::steady_timer watchdog_timer_;
  CloseHandler on_close_;
  std::function<void(Frame)> push_handler_;
  std::function<void(Frame)> unanswered_handler_;
  HelloInfo hello_;
  bool open_ = false;
  uint32_t max_frame_bytes_ = kDefaultMaxFrameBytes;
  uint64_t next_correlation_id_ = 1;  // 0 is reserved for broker pushes
  std::recursive_mutex* guard_ = nullptr;  // see "Threads"; set before the tasks start
  std::thread::id io_thread_;             // the IoThread, which runs the coroutines
  std::deque<std::vector<uint8_t>> queue_;
  std::size_t front_sent_ = 0;  // bytes of queue_.front() already written by send()
  bool writing_ = false;        // the writer has frames taken from queue_ in a write
  bool wake_posted_ = false;    // wake_writer() posted a cancel that has not run yet
  std::map<uint64_t, Pending> pending_;  // by correlation id; deadlines ascend with ids
};

}  // namespace causeway::client::internal
