// File: subscribe/http_target.h
//
// The parts of an HTTP rule target (docs/targets.md, "HTTP targets") that need no
// coordinator: checking the endpoint's URL and the static headers when the subscription
// is created, deciding what an answer means for the event (delivered, retry, dead
// letter), reading Retry-After, and spacing requests to a rate. Pure and unit-tested
// (tests/unit/subscribe/http_target_test.cc); http_forwarder.cc drives them.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "causeway/common/status.h"

namespace causeway::subscribe {

inline constexpr size_t kMaxHttpUrlBytes = 2048;
inline constexpr size_t kMaxHttpHeaders = 32;
// How much of an endpoint's refusal body a dead letter's reason keeps.
inline constexpr size_t kHttpReasonBodyBytes = 256;

// An endpoint URL: `http://` or `https://`, a host (a name, IPv4 or [IPv6]), an optional
// port, and an optional path and query. No user information (credentials go in a header,
// where they are never shown) and no fragment.
struct HttpEndpoint {
  bool tls = false;
  std::string host;     // as written, with brackets for IPv6
  uint16_t port = 0;    // 80 or 443 when not written
  std::string target;   // path and query, "/" when empty
  // scheme://host:port, what cpp-httplib's Client takes.
  std::string origin() const;
  // The URL for logs, errors and describe: the query, which may carry a key, is hidden.
  std::string display() const;

  // kInvalidArgument naming the problem.
  static Result<HttpEndpoint> parse(std::string_view url);
};

// Static request headers: at most 32; names are HTTP tokens, values printable (no control
// characters, so no header can be smuggled in); names the broker sets itself
// (Content-Type, Content-Length, Host, Idempotency-Key, Connection, Transfer-Encoding,
// and any Causeway-*) are refused. The message names the header, never its value.
Status validate_http_headers(const std::vector<std::pair<std::string, std::string>>& headers);

// What an endpoint's answer means for the event.
struct HttpVerdict {
  enum class Kind { kDelivered, kRetry, kDeadLetter } kind = Kind::kRetry;
  // kRetry: the wait the endpoint asked for (Retry-After), if any.
  std::optional<std::chrono::milliseconds> retry_after;
  std::string reason;  // kRetry and kDeadLetter: what happened, for the dead letter
};

// `status`: the HTTP status, or 0 when there was no answer (`transport_error` says why:
// refused, reset, timed out...). 2xx is delivered; 408, 429, 5xx and no answer are
// retried; any other status is dead-lettered at once (the request will never succeed).
// `body` is the answer's body (a prefix goes into the reason), `retry_after` its
// Retry-After header (empty: none), `now` the wall clock for an HTTP-date in it.
HttpVerdict judge_http_answer(int status, std::string_view transport_error, std::string_view body,
                              std::string_view retry_after, std::string_view url,
                              std::chrono::system_clock::time_point now);

// Retry-After (RFC 9110 10.2.3): delay-seconds or an HTTP-date. nullopt when it is
// neither; a date in the past is 0.
std::optional<std::chrono::milliseconds> parse_retry_after(std::string_view value,
                                                           std::chrono::system_clock::time_point now);

// Spaces out requests of one target: at most `per_second` start in any second, over all of
// its workers (0: no limit). Thread-safe.
class RequestPacer {
 public:
  using Clock = std::chrono::steady_clock;
  explicit RequestPacer(uint32_t per_second) : per_second_(per_second) {}
  // Blocks until the caller may send, or returns false at once when closed (also while
  // waiting).
  bool wait_turn();
  // The same for one of several users of a shared pacer (a target and its replays): false
  // once `stop` is set (looked at every 50 ms while waiting), whoever else still waits.
  bool wait_turn(const std::atomic<bool>& stop);
  void close();
  uint32_t per_second() const { return per_second_; }

 private:
  const uint32_t per_second_;
  std::mutex mu_;
  std::condition_variable cv_;
  Clock::time_point next_{};
  bool closed_ = false;
};

}  // namespace causeway::subscribe
