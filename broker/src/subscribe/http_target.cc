// Subscription coordinator, HTTP targets: URL and header checks, answer verdicts, the
// request pacer. See http_target.h.
#include "subscribe/http_target.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <ctime>

namespace causeway::subscribe {
namespace {

bool is_token_char(char c) {
  // RFC 9110 tchar.
  return std::isalnum(static_cast<unsigned char>(c)) != 0 || std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

bool is_host_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-' || c == '.' || c == '_';
}

std::string printable_prefix(std::string_view body) {
  std::string out;
  for (char c : body.substr(0, kHttpReasonBodyBytes)) {
    const auto u = static_cast<unsigned char>(c);
    out.push_back(u < 0x20 || u == 0x7f ? ' ' : c);
  }
  if (body.size() > kHttpReasonBodyBytes) out += "...";
  return out;
}

}  // namespace

std::string HttpEndpoint::origin() const {
  return std::string(tls ? "https://" : "http://") + host + ":" + std::to_string(port);
}

std::string HttpEndpoint::display() const {
  const bool default_port = port == (tls ? 443 : 80);
  std::string out = std::string(tls ? "https://" : "http://") + host + (default_port ? "" : ":" + std::to_string(port));
  const size_t q = target.find('?');
  out += q == std::string::npos ? target : target.substr(0, q) + "?...";
  return out;
}

Result<HttpEndpoint> HttpEndpoint::parse(std::string_view url) {
  const auto bad = [&](const std::string& why) {
    return invalid_argument("HTTP target URL is not valid: " + why +
                            " (expected http://HOST[:PORT][/PATH] or https://..., e.g. http://127.0.0.1:8080/events)");
  };
  if (url.size() > kMaxHttpUrlBytes) return bad("it is longer than " + std::to_string(kMaxHttpUrlBytes) + " bytes");
  for (size_t i = 0; i < url.size(); ++i) {
    const auto u = static_cast<unsigned char>(url[i]);
    if (u <= 0x20 || u >= 0x7f) return bad("character " + std::to_string(i) + " is a space, control or non-ASCII byte (percent-encode it)");
  }
  HttpEndpoint e;
  std::string_view rest;
  if (url.starts_with("http://")) {
    rest = url.substr(7);
  } else if (url.starts_with("https://")) {
    e.tls = true;
    rest = url.substr(8);
  } else {
    return bad("it must start with http:// or https://");
  }
  const size_t authority_end = std::min(rest.find_first_of("/?#"), rest.size());
  std::string_view authority = rest.substr(0, authority_end);
  std::string_view target = rest.substr(authority_end);
  if (target.find('#') != std::string_view::npos) return bad("it has a fragment (#...), which is never sent");
  if (authority.find('@') != std::string_view::npos)
    return bad("it has user information (user:password@); put credentials in a header (--header-file)");
  std::string_view port_text;
  if (authority.starts_with("[")) {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) return bad("an IPv6 host has no closing ]");
    e.host = std::string(authority.substr(0, close + 1));
    for (char c : e.host.substr(1, e.host.size() - 2))
      if (std::isxdigit(static_cast<unsigned char>(c)) == 0 && c != ':' && c != '.') return bad("the IPv6 host is malformed");
    std::string_view after = authority.substr(close + 1);
    if (!after.empty() && !after.starts_with(":")) return bad("unexpected text after the IPv6 host");
    if (!after.empty()) port_text = after.substr(1);
    if (!after.empty() && port_text.empty()) return bad("the port is empty");
  } else {
    const size_t colon = authority.find(':');
    e.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) {
      port_text = authority.substr(colon + 1);
      if (port_text.empty()) return bad("the port is empty");
    }
    for (char c : e.host)
      if (!is_host_char(c)) return bad("the host has an invalid character '" + std::string(1, c) + "'");
  }
  if (e.host.empty() || e.host == "[]") return bad("it has no host");
  if (!port_text.empty()) {
    unsigned port = 0;
    const auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (ec != std::errc() || end != port_text.data() + port_text.size() || port < 1 || port > 65535)
      return bad("port \"" + std::string(port_text) + "\" is not a number from 1 to 65535");
    e.port = static_cast<uint16_t>(port);
  } else {
    e.port = e.tls ? 443 : 80;
  }
  e.target = target.empty() ? "/" : target.starts_with("?") ? "/" + std::string(target) : std::string(target);
  return e;
}

Status validate_http_headers(const std::vector<std::pair<std::string, std::string>>& headers) {
  if (headers.size() > kMaxHttpHeaders)
    return invalid_argument(std::to_string(headers.size()) + " HTTP headers given; at most " +
                            std::to_string(kMaxHttpHeaders) + " are allowed");
  static constexpr std::string_view kReserved[] = {"Content-Type", "Content-Length",    "Host", "Idempotency-Key",
                                                   "Connection",   "Transfer-Encoding", "Keep-Alive", "Upgrade"};
  for (const auto& [name, value] : headers) {
    if (name.empty()) return invalid_argument("an HTTP header has an empty name");
    for (char c : name)
      if (!is_token_char(c)) return invalid_argument("HTTP header name \"" + name + "\" has a character not allowed in a header name");
    for (std::string_view r : kReserved)
      if (iequals(name, r)) return invalid_argument("HTTP header " + name + " is set by the broker itself; leave it out");
    if (name.size() >= 9 && iequals(std::string_view(name).substr(0, 9), "Causeway-"))
      return invalid_argument("HTTP header " + name + " is set by the broker itself (Causeway-*); leave it out");
    for (char c : value) {
      const auto u = static_cast<unsigned char>(c);
      if ((u < 0x20 && u != '\t') || u == 0x7f)
        return invalid_argument("the value of HTTP header " + name + " has a control character (a line break?); it is not shown");
    }
  }
  return Status();
}

std::optional<std::chrono::milliseconds> parse_retry_after(std::string_view value,
                                                           std::chrono::system_clock::time_point now) {
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
  if (value.empty()) return std::nullopt;
  if (std::isdigit(static_cast<unsigned char>(value.front())) != 0) {
    uint64_t seconds = 0;
    const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), seconds);
    if (ec != std::errc() || end != value.data() + value.size()) return std::nullopt;
    seconds = std::min<uint64_t>(seconds, 86'400ULL * 365);
    return std::chrono::milliseconds(static_cast<int64_t>(seconds) * 1000);
  }
  // IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT".
  std::tm tm{};
  const std::string text(value);
  const char* end = strptime(text.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  if (end == nullptr || *end != '\0') return std::nullopt;
  const time_t at = timegm(&tm);
  if (at == static_cast<time_t>(-1)) return std::nullopt;
  const auto delta = std::chrono::system_clock::from_time_t(at) - now;
  if (delta.count() <= 0) return std::chrono::milliseconds(0);
  return std::chrono::duration_cast<std::chrono::milliseconds>(delta);
}

HttpVerdict judge_http_answer(int status, std::string_view transport_error, std::string_view body,
                              std::string_view retry_after, std::string_view url,
                              std::chrono::system_clock::time_point now) {
  HttpVerdict v;
  if (status >= 200 && status < 300) {
    v.kind = HttpVerdict::Kind::kDelivered;
    return v;
  }
  if (status == 0) {
    v.kind = HttpVerdict::Kind::kRetry;
    v.reason = "POST " + std::string(url) + " got no answer: " + std::string(transport_error);
    return v;
  }
  v.reason = "POST " + std::string(url) + " answered HTTP " + std::to_string(status);
  if (!body.empty()) v.reason += ": " + printable_prefix(body);
  if (status == 408 || status == 429 || status >= 500) {
    v.kind = HttpVerdict::Kind::kRetry;
    if (!retry_after.empty()) v.retry_after = parse_retry_after(retry_after, now);
  } else {
    // 1xx, 3xx (redirects are not followed) and 4xx: sending it again changes nothing.
    v.kind = HttpVerdict::Kind::kDeadLetter;
  }
  return v;
}

bool RequestPacer::wait_turn() {
  std::unique_lock lk(mu_);
  if (closed_) return false;
  if (per_second_ == 0) return true;
  const auto now = Clock::now();
  const auto slot = std::max(now, next_);
  next_ = slot + std::chrono::duration_cast<Clock::duration>(std::chrono::seconds(1)) / per_second_;
  return !cv_.wait_until(lk, slot, [&] { return closed_; });
}

bool RequestPacer::wait_turn(const std::atomic<bool>& stop) {
  std::unique_lock lk(mu_);
  if (closed_ || stop.load()) return false;
  if (per_second_ == 0) return true;
  const auto now = Clock::now();
  const auto slot = std::max(now, next_);
  next_ = slot + std::chrono::duration_cast<Clock::duration>(std::chrono::seconds(1)) / per_second_;
  while (Clock::now() < slot) {
    if (cv_.wait_until(lk, std::min(slot, Clock::now() + std::chrono::milliseconds(50)), [&] { return closed_; })) return false;
    if (stop.load()) return false;
  }
  return true;
}

void RequestPacer::close() {
  {
    std::lock_guard lk(mu_);
    closed_ = true;
  }
  cv_.notify_all();
}

}  // namespace causeway::subscribe
