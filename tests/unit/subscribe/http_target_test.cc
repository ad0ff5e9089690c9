// HTTP targets' pure parts (subscribe/http_target.h): the endpoint URL, static headers,
// what an answer means for the event, Retry-After, and the request pacer.
#include "subscribe/http_target.h"

#include <gtest/gtest.h>

#include <ctime>
#include <thread>

namespace causeway::subscribe {
namespace {

using namespace std::chrono_literals;

TEST(HttpEndpoint, ParsesSchemeHostPortAndTarget) {
  auto e = HttpEndpoint::parse("http://127.0.0.1:8080/events?key=abc");
  ASSERT_TRUE(e.ok()) << e.status().to_string();
  EXPECT_FALSE(e->tls);
  EXPECT_EQ(e->host, "127.0.0.1");
  EXPECT_EQ(e->port, 8080);
  EXPECT_EQ(e->target, "/events?key=abc");
  EXPECT_EQ(e->origin(), "http://127.0.0.1:8080");
  EXPECT_EQ(e->display(), "http://127.0.0.1:8080/events?...");  // the query may hold a key

  auto tls = HttpEndpoint::parse("https://hooks.example.com");
  ASSERT_TRUE(tls.ok());
  EXPECT_TRUE(tls->tls);
  EXPECT_EQ(tls->port, 443);
  EXPECT_EQ(tls->target, "/");
  EXPECT_EQ(tls->display(), "https://hooks.example.com/");

  auto v6 = HttpEndpoint::parse("http://[::1]:9000/x");
  ASSERT_TRUE(v6.ok()) << v6.status().to_string();
  EXPECT_EQ(v6->host, "[::1]");
  EXPECT_EQ(v6->port, 9000);

  auto query_only = HttpEndpoint::parse("http://h?x=1");
  ASSERT_TRUE(query_only.ok());
  EXPECT_EQ(query_only->target, "/?x=1");
}

TEST(HttpEndpoint, RefusesWhatItCannotSendToNamingTheProblem) {
  const std::pair<const char*, const char*> cases[] = {
      {"", "must start with http://"},
      {"ftp://h/x", "must start with http://"},
      {"http://", "no host"},
      {"http:///x", "no host"},
      {"http://u:p@h/x", "user information"},
      {"http://h:0/x", "port"},
      {"http://h:65536/x", "port"},
      {"http://h:/x", "port is empty"},
      {"http://h:8a/x", "port"},
      {"http://h/x#frag", "fragment"},
      {"http://h/a b", "space"},
      {"http://h\x01/x", "control"},
      {"http://[::1/x", "closing ]"},
      {"http://h!/x", "invalid character"},
  };
  for (const auto& [url, needle] : cases) {
    auto e = HttpEndpoint::parse(url);
    ASSERT_FALSE(e.ok()) << url;
    EXPECT_EQ(e.status().code(), Code::kInvalidArgument);
    EXPECT_NE(e.status().message().find(needle), std::string_view::npos) << url << ": " << e.status().to_string();
  }
  EXPECT_FALSE(HttpEndpoint::parse("http://h/" + std::string(kMaxHttpUrlBytes, 'a')).ok());
}

TEST(HttpHeaders, RefusesReservedNamesBadNamesAndControlCharactersWithoutShowingValues) {
  EXPECT_TRUE(validate_http_headers({{"Authorization", "Bearer abc"}, {"X-Team", "pay\tments"}}).ok());
  const auto message = [](std::vector<std::pair<std::string, std::string>> h) {
    Status s = validate_http_headers(h);
    EXPECT_FALSE(s.ok());
    return std::string(s.message());
  };
  EXPECT_NE(message({{"Content-Type", "x"}}).find("set by the broker"), std::string::npos);
  EXPECT_NE(message({{"idempotency-key", "x"}}).find("set by the broker"), std::string::npos);
  EXPECT_NE(message({{"Causeway-Topic", "x"}}).find("Causeway-*"), std::string::npos);
  EXPECT_NE(message({{"Bad Name", "x"}}).find("Bad Name"), std::string::npos);
  EXPECT_NE(message({{"", "x"}}).find("empty name"), std::string::npos);
  const std::string smuggled = message({{"X-A", "secret\r\nX-B: c"}});
  EXPECT_NE(smuggled.find("control character"), std::string::npos);
  EXPECT_EQ(smuggled.find("secret"), std::string::npos);
  std::vector<std::pair<std::string, std::string>> many(kMaxHttpHeaders + 1, {"X-A", "b"});
  EXPECT_NE(message(many).find("at most"), std::string::npos);
}

TEST(HttpVerdict, TwoHundredsDeliverRetryablesRetryAndTheRestDeadLetter) {
  const auto now = std::chrono::system_clock::now();
  const auto judge = [&](int status, std::string_view retry_after = "") {
    return judge_http_answer(status, status == 0 ? "Connection refused" : "", "body text", retry_after, "http://h/x", now);
  };
  EXPECT_EQ(judge(200).kind, HttpVerdict::Kind::kDelivered);
  EXPECT_EQ(judge(204).kind, HttpVerdict::Kind::kDelivered);
  for (int s : {0, 408, 429, 500, 502, 503, 504}) EXPECT_EQ(judge(s).kind, HttpVerdict::Kind::kRetry) << s;
  for (int s : {301, 302, 400, 401, 403, 404, 409, 413, 422}) EXPECT_EQ(judge(s).kind, HttpVerdict::Kind::kDeadLetter) << s;
  EXPECT_EQ(judge(0).reason, "POST http://h/x got no answer: Connection refused");
  EXPECT_EQ(judge(404).reason, "POST http://h/x answered HTTP 404: body text");
  EXPECT_EQ(judge(429, "3").retry_after, std::chrono::milliseconds(3000));
  EXPECT_FALSE(judge(500).retry_after.has_value());
  EXPECT_FALSE(judge(404, "3").retry_after.has_value());  // not retried at all
}

TEST(HttpVerdict, KeepsAPrintablePrefixOfTheBody) {
  const std::string body = std::string(300, 'x') + "\n";
  const auto v = judge_http_answer(400, "", "bad\r\nthing", "", "u", std::chrono::system_clock::now());
  EXPECT_EQ(v.reason, "POST u answered HTTP 400: bad  thing");
  const auto long_one = judge_http_answer(400, "", body, "", "u", std::chrono::system_clock::now());
  EXPECT_EQ(long_one.reason, "POST u answered HTTP 400: " + std::string(kHttpReasonBodyBytes, 'x') + "...");
}

TEST(RetryAfter, ReadsSecondsAndHttpDates) {
  std::tm tm{};
  tm.tm_year = 2026 - 1900;
  tm.tm_mon = 11;
  tm.tm_mday = 5;
  tm.tm_hour = 12;
  const auto now = std::chrono::system_clock::from_time_t(timegm(&tm));
  EXPECT_EQ(parse_retry_after("120", now), std::chrono::milliseconds(120000));
  EXPECT_EQ(parse_retry_after(" 0 ", now), std::chrono::milliseconds(0));
  EXPECT_EQ(parse_retry_after("Sat, 05 Dec 2026 12:00:30 GMT", now), std::chrono::milliseconds(30000));
  EXPECT_EQ(parse_retry_after("Sat, 05 Dec 2026 11:00:00 GMT", now), std::chrono::milliseconds(0));
  EXPECT_FALSE(parse_retry_after("", now).has_value());
  EXPECT_FALSE(parse_retry_after("-1", now).has_value());
  EXPECT_FALSE(parse_retry_after("1.5", now).has_value());
  EXPECT_FALSE(parse_retry_after("soon", now).has_value());
  EXPECT_FALSE(parse_retry_after("99999999999999999999999", now).has_value());
}

TEST(RequestPacer, SpacesTurnsToTheRateAndClosingWakesWaiters) {
  RequestPacer unlimited(0);
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE(unlimited.wait_turn());

  RequestPacer pacer(50);  // one turn per 20 ms
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 6; ++i) ASSERT_TRUE(pacer.wait_turn());
  EXPECT_GE(std::chrono::steady_clock::now() - start, 100ms);  // turns 2..6 wait 20 ms each

  RequestPacer slow(1);
  ASSERT_TRUE(slow.wait_turn());
  std::thread closer([&] {
    std::this_thread::sleep_for(50ms);
    slow.close();
  });
  EXPECT_FALSE(slow.wait_turn());  // would wait a second; the close ends it
  closer.join();
  EXPECT_FALSE(slow.wait_turn());
}

}  // namespace
}  // namespace causeway::subscribe
