// File: client/cli/subscribe_commands.cc
//
// `causeway subscribe`, `causeway group describe` and `causeway subscription ...`; see
// subscribe_commands.h. Output formats are in docs/subscriptions.md ("CLI").
#include "client/cli/subscribe_commands.h"

#include <charconv>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <iostream>

#include "causeway/client/admin.h"
#include "causeway/client/subscriber.h"
#include "causeway/common/units.h"
#include "client/cli/cli_args.h"
#include "client/cli/event_json.h"
#include "client/cli/pattern_commands.h"
#include "client/cli/payload_codec.h"

namespace causeway::cli {
namespace {

using client::StartPosition;

int fail(const std::string& what, const Status& status) {
  std::string hint;
  const std::string_view msg = status.message();
  if (status.code() == Code::kUnavailable &&
      (msg.find("cannot connect") != std::string_view::npos || msg.find("cannot resolve") != std::string_view::npos)) {
    hint = " — is causeway-broker running? (--broker HOST:PORT picks another)";
  } else if (status.code() == Code::kNotFound && msg.find("topic \"") != std::string_view::npos) {
    // Before the subscription case: "create subscription 's': topic "t" not found" is about the topic.
    hint = " — `causeway topic list` shows the topics; `causeway topic create NAME` makes one";
  } else if (status.code() == Code::kNotFound && msg.find("subscription") != std::string_view::npos) {
    hint = " — `causeway subscription list` shows subscriptions; `causeway subscription create NAME --topic T` makes one";
  }
  std::cerr << "causeway: " << what << ": " << msg << hint << "\n";
  return 1;
}

Result<std::chrono::milliseconds> parse_ms(const std::string& flag, const std::string& text) {
  auto d = units::parse_duration(text);
  if (!d) return d.error().with_context(flag);
  return std::chrono::duration_cast<std::chrono::milliseconds>(*d);
}

const char* kind_name(StartPosition::Kind k) {
  switch (k) {
    case StartPosition::Kind::kEarliest: return "earliest";
    case StartPosition::Kind::kLatest: return "latest";
    case StartPosition::Kind::kOffset: return "offset";
    case StartPosition::Kind::kTime: return "time";
    case StartPosition::Kind::kLamport: return "lamport";
  }
  return "?";
}

std::string start_text(const StartPosition& s) {
  switch (s.kind) {
    case StartPosition::Kind::kOffset: return "offset:" + std::to_string(s.value);
    case StartPosition::Kind::kTime: return "time:" + format_time_ms(static_cast<int64_t>(s.value));
    case StartPosition::Kind::kLamport: return "lamport:" + std::to_string(s.value);
    default: return kind_name(s.kind);
  }
}

// A subscription's pattern in JSON output: the pattern object itself (the broker stored
// validated JSON), or null without one.
nlohmann::json pattern_json(const std::string& pattern) {
  if (pattern.empty()) return nullptr;
  nlohmann::json parsed = nlohmann::json::parse(pattern, nullptr, /*allow_exceptions=*/false);
  return parsed.is_discarded() ? nlohmann::json(pattern) : parsed;
}

std::string target_text(const client::SubscriptionSpec& s) {
  if (!s.target_http.url.empty()) return "http:" + s.target_http.url;
  return s.target_topic.empty() ? std::string("group") : "topic:" + s.target_topic;
}

std::string header_names(const client::HttpTargetSpec& http) {
  std::string out;
  for (const auto& [name, value] : http.headers) out += (out.empty() ? "" : ", ") + name;
  return out.empty() ? std::string("none") : out;
}

std::string rate_text(uint32_t rate) { return rate == 0 ? std::string("none") : std::to_string(rate) + "/s"; }

std::string input_paths_text(const std::map<std::string, std::string>& paths) {
  return paths.empty() ? std::string("none") : nlohmann::json(paths).dump();
}

nlohmann::json subscription_to_json(const client::SubscriptionInfo& info) {
  const auto& s = info.spec;
  nlohmann::json out{{"name", s.name},
                        {"topic", s.topic},
                        {"from", start_text(s.start)},
                        {"ack_deadline_ms", s.ack_deadline.count()},
                        {"max_attempts", s.max_attempts},
                        {"backoff_ms", s.backoff.count()},
                        {"max_backoff_ms", s.max_backoff.count()},
                        {"max_age_ms", s.max_age.count()},
                        {"dead_letter_topic", s.dead_letter_topic},
                        {"pattern", pattern_json(s.pattern)},
                        {"target", target_text(s)},
                        {"created", format_time_ms(info.created_ms)}};
  if (!s.target_http.url.empty()) {
    nlohmann::json names = nlohmann::json::array();
    for (const auto& [name, value] : s.target_http.headers) names.push_back(name);
    out["http"] = {{"url", s.target_http.url},
                   {"rate_per_second", s.target_http.rate_per_second},
                   {"concurrency", s.target_http.concurrency},
                   {"request_timeout_ms", s.target_http.timeout.count()},
                   {"header_names", names}};
  }
  if (!s.input_path.empty()) out["input_path"] = s.input_path;
  if (!s.input_template.empty()) out["input_template"] = s.input_template;
  if (!s.input_paths.empty()) out["input_paths"] = s.input_paths;
  if (info.target) {
    const client::TargetInfo& t = *info.target;
    out["target_status"] = {{"delivered", t.delivered},
                            {"retried", t.retried},
                            {"dead_lettered", t.dead_lettered},
                            {"in_flight", t.in_flight},
                            {"last_error", t.last_error},
                            {"last_error_time", t.last_error_ms == 0 ? nlohmann::json(nullptr)
                                                                     : nlohmann::json(format_time_ms(t.last_error_ms))}};
  }
  return out;
}

std::string max_age_text(std::chrono::milliseconds max_age) {
  return max_age.count() == 0 ? std::string("none") : units::format_duration(max_age);
}

void print_subscription(const client::SubscriptionInfo& info) {
  const auto& s = info.spec;
  std::cout << "subscription " << s.name << "  topic " << s.topic << "  from " << start_text(s.start)
            << "  ack-deadline " << units::format_duration(s.ack_deadline) << "  max-attempts " << s.max_attempts
            << "  backoff " << units::format_duration(s.backoff) << "  max-backoff "
            << units::format_duration(s.max_backoff) << "  max-age " << max_age_text(s.max_age) << "  dead-letter "
            << s.dead_letter_topic << "\n";
  if (!s.pattern.empty()) std::cout << "  pattern " << s.pattern << "\n";
  if (!s.target_topic.empty() || !s.target_http.url.empty()) {
    std::cout << "  target " << target_text(s);
    if (!s.target_http.url.empty()) {
      std::cout << "  rate " << rate_text(s.target_http.rate_per_second) << "  concurrency "
                << s.target_http.concurrency << "  request-timeout " << units::format_duration(s.target_http.timeout)
                << "  headers " << header_names(s.target_http);
    }
    if (info.target) {
      const client::TargetInfo& t = *info.target;
      std::cout << "  delivered " << t.delivered << "  retried " << t.retried << "  dead-lettered " << t.dead_lettered
                << "  in-flight " << t.in_flight;
    }
    std::cout << "\n";
    if (!s.input_path.empty()) std::cout << "  input-path " << s.input_path << "\n";
    if (!s.input_paths.empty()) std::cout << "  input-paths " << input_paths_text(s.input_paths) << "\n";
    if (!s.input_template.empty()) std::cout << "  input-template " << s.input_template << "\n";
    if (info.target && !info.target->last_error.empty()) {
      std::cout << "  last error (" << format_time_ms(info.target->last_error_ms) << "): " << info.target->last_error
                << "\n";
    }
  }
}

// Digits only (no sign or space), the whole text, no overflow.
bool parse_u64(std::string_view text, uint64_t& out) {
  if (text.empty() || text.front() < '0' || text.front() > '9') return false;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && end == text.data() + text.size();
}

// "YYYY-MM-DDTHH:MM:SS[.mmm](Z|+00:00)" → ms since the epoch (UTC only).
bool parse_iso8601_ms(const std::string& text, int64_t& out) {
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0, consumed = 0;
  if (std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &s, &consumed) != 6) return false;
  std::string_view rest = std::string_view(text).substr(static_cast<size_t>(consumed));
  int ms = 0;
  if (!rest.empty() && rest.front() == '.') {
    rest.remove_prefix(1);
    int digits = 0;
    while (!rest.empty() && rest.front() >= '0' && rest.front() <= '9') {
      if (digits < 3) ms = ms * 10 + (rest.front() - '0');
      ++digits;
      rest.remove_prefix(1);
    }
    if (digits == 0) return false;
    for (int i = digits; i < 3; ++i) ms *= 10;
  }
  if (rest != "Z" && rest != "+00:00" && !rest.empty()) return false;
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60) return false;
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = s;
  const time_t t = timegm(&tm);
  out = static_cast<int64_t>(t) * 1000 + ms;
  return true;
}

struct SubscriptionFlags {
  std::string from = "latest";
  std::string ack_deadline = "30s";
  uint32_t max_attempts = 10;
  std::string backoff = "1s";
  std::string max_backoff = "60s";
  std::string max_age = "0";
  std::string dead_letter;
  std::string pattern;  // JSON, or @FILE
  std::string target = "group";  // subscription create only, with the target's flags:
  std::string rate = "0";
  uint32_t concurrency = 8;
  std::string request_timeout = "5s";
  std::vector<std::string> headers;  // "Name: value"
  std::string header_file;
  std::string input_path;
  std::string input_template;  // text, or @FILE
  std::string input_paths;     // JSON object, or @FILE
  // The options, to tell which settings the user gave (CLI::Option::count()).
  CLI::Option* from_opt = nullptr;
  std::vector<CLI::Option*> setting_opts;

  void add(CLI::App* cmd, bool with_from) {
    if (with_from) {
      from_opt = cmd->add_option("--from", from,
                                 "Where a new subscription starts: earliest, latest, offset:N, time:ISO8601, lamport:N")
                     ->capture_default_str()
                     ->check(accepted_by(parse_start_position, "POSITION"));
    }
    setting_opts = {
        cmd->add_option("--ack-deadline", ack_deadline, "Unacked this long: redelivered (e.g. 30s)")
            ->capture_default_str()
            ->check(duration_value()),
        cmd->add_option("--max-attempts", max_attempts, "Deliveries before the dead-letter topic")
            ->capture_default_str()
            ->check(number_in_range(1, 1000)),
        cmd->add_option("--backoff", backoff, "First retry delay; doubles per attempt (e.g. 1s)")
            ->capture_default_str()
            ->check(duration_value()),
        cmd->add_option("--max-backoff", max_backoff, "Largest retry delay")
            ->capture_default_str()
            ->check(duration_value()),
        cmd->add_option("--max-age", max_age, "Older events go to the dead-letter topic (e.g. 1h); 0: no limit")
            ->capture_default_str()
            ->check(duration_value({"0", "none"})),
        cmd->add_option("--dead-letter", dead_letter, "Dead-letter topic (default <topic>.dlq)"),
        cmd->add_option("--pattern", pattern,
                        "Deliver only events matching this EventBridge event pattern (JSON, or @FILE; "
                        "docs/patterns.md; try one with `causeway pattern test`). Default: every event")};
  }

  // `subscription create` only: subscribers never choose a subscription's target.
  void add_target(CLI::App* cmd) {
    const std::vector<CLI::Option*> opts = {
        cmd->add_option("--target", target,
                        "Who consumes the matching events: group (subscribers join the subscription's group), "
                        "topic:NAME (the broker forwards each one to topic NAME itself) or http:URL (the broker "
                        "POSTs each one to URL, http:// or https://); docs/targets.md")
            ->capture_default_str()
            ->check(accepted_by(parse_target, "TARGET")),
        cmd->add_option("--rate", rate, "http target: requests started per second at most (e.g. 100/s); 0: no limit")
            ->capture_default_str()
            ->check(accepted_by(parse_rate, "RATE")),
        cmd->add_option("--concurrency", concurrency, "http target: requests at a time")
            ->capture_default_str()
            ->check(number_in_range(1, 256)),
        cmd->add_option("--request-timeout", request_timeout,
                        "http target: a request without an answer this long is retried (below --ack-deadline)")
            ->capture_default_str()
            ->check(duration_value()),
        cmd->add_option("--header", headers,
                        "http target: 'Name: value' sent with every request (repeatable). For secrets use "
                        "--header-file: a command line is seen by other users and kept in shell history"),
        cmd->add_option("--header-file", header_file,
                        "http target: a file of 'Name: value' lines (# starts a comment), e.g. an Authorization "
                        "header; the broker never logs or shows the values"),
        cmd->add_option("--input-path", input_path,
                        "topic/http target: send only this part of the event, a JSONPath (e.g. '$.data.order')"),
        cmd->add_option("--input-template", input_template,
                        "topic/http target: send this template (text or @FILE) with <name> placeholders filled from "
                        "--input-paths (EventBridge's InputTransformer)"),
        cmd->add_option("--input-paths", input_paths,
                        "topic/http target: the template's placeholders, a JSON object of name to JSONPath (or @FILE), "
                        "e.g. '{\"id\":\"$.data.id\"}'")};
    setting_opts.insert(setting_opts.end(), opts.begin(), opts.end());
  }

  // "group" -> none, "topic:NAME" -> a topic, "http:URL" (or the URL alone) -> an endpoint.
  struct Target {
    std::string topic;
    std::string url;
  };
  static Result<Target> parse_target(const std::string& text) {
    if (text == "group") return Target{};
    if (text.starts_with("topic:") && text.size() > 6) return Target{text.substr(6), ""};
    if (text.starts_with("http:http://") || text.starts_with("http:https://")) return Target{"", text.substr(5)};
    if (text.starts_with("http://") || text.starts_with("https://")) return Target{"", text};
    return invalid_argument("target \"" + text +
                            "\" is not one of: group, topic:NAME, http:URL (e.g. --target topic:orders.paid or "
                            "--target http:https://hooks.example.com/orders)");
  }

  // "N" or "N/s".
  static Result<uint32_t> parse_rate(const std::string& text) {
    std::string_view digits = text;
    if (digits.ends_with("/s")) digits.remove_suffix(2);
    uint32_t n = 0;
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
    if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size() || n > 1'000'000)
      return invalid_argument("rate \"" + text + "\" is not a number of requests per second from 0 to 1000000 (e.g. 50/s)");
    return n;
  }

  // "Name: value" -> (Name, value), the value without surrounding blanks. Never puts the
  // value in a message.
  static Result<std::pair<std::string, std::string>> parse_header(const std::string& where, std::string_view line) {
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0)
      return invalid_argument(where + " is not 'Name: value' (its value is not shown)");
    std::string_view name = line.substr(0, colon);
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t' || value.back() == '\r')) value.remove_suffix(1);
    while (!name.empty() && name.back() == ' ') name.remove_suffix(1);
    return std::pair<std::string, std::string>(name, value);
  }

  Result<std::vector<std::pair<std::string, std::string>>> read_headers() const {
    std::vector<std::pair<std::string, std::string>> out;
    for (const std::string& h : headers) {
      CAUSEWAY_ASSIGN_OR_RETURN(auto parsed, parse_header("--header \"" + h.substr(0, h.find(':')) + ": ...\"", h));
      out.push_back(std::move(parsed));
    }
    if (!header_file.empty()) {
      CAUSEWAY_ASSIGN_OR_RETURN(const std::string text, read_flag_value("--header-file", "@" + header_file));
      size_t line_no = 0;
      for (size_t at = 0; at < text.size();) {
        const size_t end = std::min(text.find('\n', at), text.size());
        std::string_view line = std::string_view(text).substr(at, end - at);
        at = end + 1;
        ++line_no;
        while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
        if (line.empty() || line == "\r" || line.front() == '#') continue;
        CAUSEWAY_ASSIGN_OR_RETURN(auto parsed,
                                  parse_header("--header-file " + header_file + " line " + std::to_string(line_no), line));
        out.push_back(std::move(parsed));
      }
    }
    return out;
  }

  bool any_setting_given() const {
    return std::any_of(setting_opts.begin(), setting_opts.end(), [](const CLI::Option* o) { return o->count() > 0; });
  }
  bool given(const std::string& flag) const {
    for (const CLI::Option* o : setting_opts)
      if (o->check_name(flag)) return o->count() > 0;
    return from_opt != nullptr && from_opt->check_name(flag) && from_opt->count() > 0;
  }

  Result<client::SubscriptionSpec> spec(const std::string& name, const std::string& topic) const {
    client::SubscriptionSpec s;
    s.name = name;
    s.topic = topic;
    CAUSEWAY_ASSIGN_OR_RETURN(s.start, parse_start_position(from));
    CAUSEWAY_ASSIGN_OR_RETURN(s.ack_deadline, parse_ms("--ack-deadline", ack_deadline));
    s.max_attempts = max_attempts;
    CAUSEWAY_ASSIGN_OR_RETURN(s.backoff, parse_ms("--backoff", backoff));
    CAUSEWAY_ASSIGN_OR_RETURN(s.max_backoff, parse_ms("--max-backoff", max_backoff));
    if (s.max_backoff < s.backoff) s.max_backoff = s.backoff;
    if (max_age == "0" || max_age == "none") {
      s.max_age = std::chrono::milliseconds(0);
    } else {
      CAUSEWAY_ASSIGN_OR_RETURN(s.max_age, parse_ms("--max-age", max_age));
    }
    s.dead_letter_topic = dead_letter;
    CAUSEWAY_ASSIGN_OR_RETURN(s.pattern, read_flag_value("--pattern", pattern));
    if (given("--pattern") && s.pattern.empty())
      return invalid_argument("--pattern is empty; leave it out to receive every event");
    CAUSEWAY_ASSIGN_OR_RETURN(const Target t, parse_target(target));
    s.target_topic = t.topic;
    const bool http = !t.url.empty();
    for (const char* flag : {"--rate", "--concurrency", "--request-timeout", "--header", "--header-file"}) {
      if (!http && given(flag))
        return invalid_argument(std::string(flag) + " applies to an http target only (--target http:URL)");
    }
    if (http) {
      s.target_http.url = t.url;
      CAUSEWAY_ASSIGN_OR_RETURN(s.target_http.rate_per_second, parse_rate(rate));
      s.target_http.concurrency = concurrency;
      CAUSEWAY_ASSIGN_OR_RETURN(s.target_http.timeout, parse_ms("--request-timeout", request_timeout));
      CAUSEWAY_ASSIGN_OR_RETURN(s.target_http.headers, read_headers());
    }
    if (t.topic.empty() && !http) {
      for (const char* flag : {"--input-path", "--input-template", "--input-paths"}) {
        if (given(flag))
          return invalid_argument(std::string(flag) + " shapes what a topic or http target receives; subscribers get "
                                  "whole events (add --target topic:NAME or --target http:URL)");
      }
    }
    s.input_path = input_path;
    CAUSEWAY_ASSIGN_OR_RETURN(s.input_template, read_flag_value("--input-template", input_template));
    if (given("--input-template") && s.input_template.empty()) return invalid_argument("--input-template is empty");
    CAUSEWAY_ASSIGN_OR_RETURN(const std::string paths_text, read_flag_value("--input-paths", input_paths));
    if (!paths_text.empty()) {
      const nlohmann::json paths = nlohmann::json::parse(paths_text, nullptr, /*allow_exceptions=*/false);
      if (!paths.is_object())
        return invalid_argument("--input-paths is not a JSON object of placeholder name to JSONPath (e.g. "
                                "'{\"id\":\"$.data.id\",\"src\":\"$.source\"}')");
      for (const auto& item : paths.items()) {
        if (!item.value().is_string())
          return invalid_argument("--input-paths: the path of placeholder \"" + item.key() + "\" is not a string");
        s.input_paths.emplace(item.key(), item.value().get<std::string>());
      }
    }
    return s;
  }

  // The settings in which `existing` differs from `requested`, as "--flag: existing X,
  // asked Y"; with only_given, only those of flags the user gave (subscribe applies the
  // others' defaults only to a new subscription).
  std::vector<std::string> differences(const client::SubscriptionSpec& existing,
                                       const client::SubscriptionSpec& requested, bool only_given) const {
    std::vector<std::string> out;
    const auto differ = [&](const std::string& flag, const std::string& has, const std::string& asked) {
      if (has != asked && (!only_given || given(flag))) out.push_back(flag + ": it has " + has + ", asked " + asked);
    };
    if (!only_given) differ("--from", start_text(existing.start), start_text(requested.start));
    differ("--ack-deadline", units::format_duration(existing.ack_deadline), units::format_duration(requested.ack_deadline));
    differ("--max-attempts", std::to_string(existing.max_attempts), std::to_string(requested.max_attempts));
    differ("--backoff", units::format_duration(existing.backoff), units::format_duration(requested.backoff));
    differ("--max-backoff", units::format_duration(existing.max_backoff), units::format_duration(requested.max_backoff));
    differ("--max-age", max_age_text(existing.max_age), max_age_text(requested.max_age));
    differ("--dead-letter", existing.dead_letter_topic,
           requested.dead_letter_topic.empty() ? requested.topic + ".dlq" : requested.dead_letter_topic);
    // The same JSON with other spacing or key order is the same pattern (as the broker says).
    const auto parsed = [](const std::string& p) { return nlohmann::json::parse(p, nullptr, /*allow_exceptions=*/false); };
    const bool same_pattern = existing.pattern == requested.pattern ||
                              (!existing.pattern.empty() && !requested.pattern.empty() &&
                               !parsed(existing.pattern).is_discarded() && parsed(existing.pattern) == parsed(requested.pattern));
    const auto pattern_text = [](const std::string& p) { return p.empty() ? std::string("none") : p; };
    if (!same_pattern) differ("--pattern", pattern_text(existing.pattern), pattern_text(requested.pattern));
    differ("--target", target_text(existing), target_text(requested));
    if (!requested.target_http.url.empty()) {
      const client::HttpTargetSpec& a = existing.target_http;
      const client::HttpTargetSpec& b = requested.target_http;
      differ("--rate", rate_text(a.rate_per_second), rate_text(b.rate_per_second));
      differ("--concurrency", std::to_string(a.concurrency), std::to_string(b.concurrency));
      differ("--request-timeout", units::format_duration(a.timeout), units::format_duration(b.timeout));
      // Describe returns header names only: values cannot be compared here (the broker does).
      differ("--header", header_names(a), header_names(b));
    }
    const auto or_none = [](const std::string& v) { return v.empty() ? std::string("none") : v; };
    differ("--input-path", or_none(existing.input_path), or_none(requested.input_path));
    differ("--input-template", or_none(existing.input_template), or_none(requested.input_template));
    differ("--input-paths", input_paths_text(existing.input_paths), input_paths_text(requested.input_paths));
    return out;
  }
};

// The refusal of settings that an existing subscription does not have, the same for
// `subscribe` and `subscription create` (a subscription's settings never change: the
// broker refuses a create with other settings, and a join does not apply them).
Status settings_conflict(const client::SubscriptionInfo& existing, const std::vector<std::string>& differences) {
  std::string text = "subscription \"" + existing.spec.name + "\" already exists on topic \"" + existing.spec.topic +
                     "\" with other settings (";
  for (size_t i = 0; i < differences.size(); ++i) text += (i == 0 ? "" : "; ") + differences[i];
  if (differences.size() == 1 && differences[0].starts_with("--pattern:")) {
    return already_exists(text + "); change its pattern with causeway subscription update " + existing.spec.name +
                          " --pattern JSON (or --no-pattern), or drop --pattern to use it as it is");
  }
  text += "); a subscription's settings cannot be changed: drop those flags to use it as it is, or delete it "
          "(causeway subscription delete " + existing.spec.name +
          ", which also drops its committed offsets) and create it again";
  return already_exists(text);
}

// Set by SIGINT/SIGTERM during `subscribe`: the run ends as after --max (acks made durable,
// unprinted events given back) instead of dying with acks unsent. The handler puts the
// default action back, so a second Ctrl-C ends the process at once.
volatile std::sig_atomic_t stop_requested = 0;

extern "C" void request_stop(int sig) {
  stop_requested = 1;
  std::signal(sig, SIG_DFL);
}

struct SubscribeRun {
  std::string topic;
  std::string group;
  uint64_t max_events = 0;
  std::string timeout;
  uint32_t credit = 0;
  bool no_ack = false;
  bool raw = false;
};

// Settings flags given for a subscription that already exists are refused when they
// differ from its settings (as `subscription create` refuses them), and --from, which only
// a new subscription uses, gets a note.
Status check_existing_subscription(const client::ClientOptions& options, const SubscribeRun& run,
                                   const SubscriptionFlags& flags, const client::SubscriptionSpec& requested) {
  const bool from_given = flags.from_opt != nullptr && flags.from_opt->count() > 0;
  if (!flags.any_setting_given() && !from_given) return Status();
  auto admin = client::Admin::connect(options);
  if (!admin) return admin.error();
  auto existing = (*admin)->describe_subscription(run.group);
  if (!existing && existing.error().code() == Code::kNotFound) return Status();  // created with the flags
  if (!existing) return existing.error();
  if (existing->spec.topic != run.topic) return Status();  // the join names the mismatch
  const auto differences = flags.differences(existing->spec, requested, /*only_given=*/true);
  if (!differences.empty()) return settings_conflict(*existing, differences);
  if (from_given && start_text(existing->spec.start) != start_text(requested.start)) {
    std::cerr << "causeway: note: subscription \"" << run.group << "\" exists (from " << start_text(existing->spec.start)
              << "); --from applies only when a subscription is created, so it resumes at its committed offsets\n";
  }
  return Status();
}

int run_subscribe(const client::ClientOptions& options, const std::string& registry_url, const SubscribeRun& run,
                  const SubscriptionFlags& flags) {
  auto timeout = parse_ms("--timeout", run.timeout);
  if (!timeout) return fail("subscribe", timeout.error());
  std::unique_ptr<client::RegistryClient> registry;
  if (!run.raw) {
    auto r = renderer_registry(registry_url);
    if (!r) return fail("--registry", r.error());
    registry = std::move(*r);
  }
  PayloadRenderer renderer(registry.get(), std::cerr);
  auto spec = flags.spec(run.group, run.topic);
  if (!spec) return fail("subscribe", spec.error());
  const std::string what = "subscribe to " + run.topic + " as group " + run.group;
  if (Status s = check_existing_subscription(options, run, flags, *spec); !s.ok()) return fail(what, s);
  client::SubscriberOptions so;
  so.subscription = run.group;
  so.topic = run.topic;
  so.create_if_missing = true;
  so.settings = *spec;
  // The credit window is independent of --max: events pushed beyond what is printed are
  // given back at close() without counting as a delivery attempt (Subscriber::release).
  so.max_unacked_events = run.credit;
  auto sub = client::Subscriber::connect(options, so);
  if (!sub) return fail(what, sub.error());
  uint64_t printed = 0;
  bool ack_failed = false;
  stop_requested = 0;
  std::signal(SIGINT, request_stop);
  std::signal(SIGTERM, request_stop);
  // Waits in slices, so that a signal is noticed within one.
  constexpr auto kSlice = std::chrono::milliseconds(100);
  auto quiet_until = std::chrono::steady_clock::now() + *timeout;
  while ((run.max_events == 0 || printed < run.max_events) && stop_requested == 0) {
    const size_t want =
        run.max_events == 0 ? 256 : static_cast<size_t>(std::min<uint64_t>(256, run.max_events - printed));
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(quiet_until - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;  // --timeout with no event
    auto events = (*sub)->receive(want, std::min<std::chrono::milliseconds>(left, kSlice));
    if (!events) return fail("subscribe", events.error());
    if (events->empty()) continue;
    quiet_until = std::chrono::steady_clock::now() + *timeout;
    for (const auto& e : *events) {
      nlohmann::json j = renderer.render(e);
      j["attempt"] = e.attempt;
      std::cout << to_line(j) << "\n";
      std::cout.flush();
      // --no-ack is a peek: the event goes back to the group when this run ends, and the
      // look does not count as a delivery attempt (it cannot dead-letter anything).
      Status s = run.no_ack ? (*sub)->release(e) : (*sub)->ack(e);
      if (!s.ok()) {
        ack_failed = true;
        std::cerr << "causeway: " << (run.no_ack ? "release" : "ack") << " of " << e.partition << "@" << e.offset
                  << ": " << s.message() << "\n";
      }
      ++printed;
    }
    // Released events hold their credit until the run ends: with the window full nothing
    // more can come, so stop instead of waiting out --timeout.
    if (run.no_ack && printed >= run.credit && (run.max_events == 0 || printed < run.max_events)) {
      std::cerr << "causeway: note: stopped after " << printed << " unacked event(s), the whole credit window (--credit "
                << run.credit << "); with --no-ack none are acked, so no more can come: raise --credit to see more\n";
      break;
    }
  }
  int code = 0;
  if (!run.no_ack && printed > 0) {
    // Exit 0 promises that the printed events are consumed: make their acks durable first,
    // so that a broker crash right after this run cannot deliver them again.
    Status s = (*sub)->sync_acks(std::chrono::milliseconds(0));
    if (!s.ok()) {
      std::cerr << "causeway: subscribe: the acks of the printed events were not confirmed on disk: " << s.message()
                << "; some of them may be delivered again\n";
      code = 1;
    }
  }
  if (ack_failed) code = 1;
  (void)(*sub)->close();
  std::signal(SIGINT, SIG_DFL);
  std::signal(SIGTERM, SIG_DFL);
  if (stop_requested != 0) std::cerr << "causeway: subscribe: stopped by a signal after " << printed << " event(s)\n";
  return code;
}

void print_group(const client::GroupInfo& g) {
  print_subscription(g.subscription);
  std::printf("%-10s %-22s %-20s %-20s %-12s %-10s %-12s %-12s %s\n", "PARTITION", "MEMBER", "COMMITTED-OFFSET",
              "END-OFFSET", "LAG", "IN-FLIGHT", "ACKED-ABOVE", "MATCHED", "FILTERED");
  for (const auto& p : g.partitions) {
    std::printf("%-10u %-22s %-20llu %-20llu %-12llu %-10u %-12u %-12llu %llu\n", p.partition,
                p.member_id.empty() ? "-" : p.member_id.c_str(), static_cast<unsigned long long>(p.committed_offset),
                static_cast<unsigned long long>(p.end_offset), static_cast<unsigned long long>(p.lag), p.in_flight,
                p.acked_above, static_cast<unsigned long long>(p.matched),
                static_cast<unsigned long long>(p.filtered));
  }
  std::printf("%zu member(s)\n", g.members.size());
  for (const auto& m : g.members) {
    // Appended piece by piece: `const char* + std::string` here made GCC 12 warn
    // (-Wrestrict, a false positive inside libstdc++) in Release builds.
    std::string parts;
    for (uint32_t p : m.partitions) {
      if (!parts.empty()) parts += ',';
      parts += std::to_string(p);
    }
    std::printf("  %-22s %-24s partitions [%s]  unacked %u/%u events\n", m.member_id.c_str(),
                m.client_name.empty() ? "-" : m.client_name.c_str(), parts.c_str(), m.unacked_events, m.credit_events);
  }
  std::fflush(stdout);
}

nlohmann::json group_to_json(const client::GroupInfo& g) {
  nlohmann::json members = nlohmann::json::array();
  for (const auto& m : g.members) {
    members.push_back({{"member_id", m.member_id},
                       {"client_name", m.client_name},
                       {"partitions", m.partitions},
                       {"unacked_events", m.unacked_events},
                       {"unacked_bytes", m.unacked_bytes},
                       {"credit_events", m.credit_events},
                       {"credit_bytes", m.credit_bytes}});
  }
  nlohmann::json parts = nlohmann::json::array();
  for (const auto& p : g.partitions) {
    parts.push_back({{"partition", p.partition},
                     {"member_id", p.member_id},
                     {"committed_offset", p.committed_offset},
                     {"end_offset", p.end_offset},
                     {"lag", p.lag},
                     {"in_flight", p.in_flight},
                     {"acked_above", p.acked_above},
                     {"matched", p.matched},
                     {"filtered", p.filtered}});
  }
  return nlohmann::json{{"group", g.subscription.spec.name},
                        {"subscription", subscription_to_json(g.subscription)},
                        {"members", members},
                        {"partitions", parts}};
}

}  // namespace

Result<StartPosition> parse_start_position(const std::string& text) {
  const auto bad = [&text] {
    return invalid_argument("start position \"" + text +
                            "\" is not one of earliest, latest, offset:N, time:2024-05-01T12:00:00Z, lamport:N");
  };
  if (text == "earliest") return StartPosition::earliest();
  if (text == "latest") return StartPosition::latest();
  const auto colon = text.find(':');
  if (colon == std::string::npos) return bad();
  const std::string kind = text.substr(0, colon);
  const std::string value = text.substr(colon + 1);
  uint64_t n = 0;
  if (kind == "offset") {
    if (!parse_u64(value, n)) return bad();
    return StartPosition::offset(n);
  }
  if (kind == "lamport") {
    if (!parse_u64(value, n)) return bad();
    return StartPosition::lamport(n);
  }
  if (kind == "time") {
    int64_t ms = 0;
    if (parse_u64(value, n)) return StartPosition::time_ms(static_cast<int64_t>(n));
    if (!parse_iso8601_ms(value, ms)) return bad();
    return StartPosition::time_ms(ms);
  }
  return bad();
}

std::function<std::optional<int>()> add_subscribe_commands(CLI::App& app, const client::ClientOptions& options,
                                                           const std::string& registry_url) {
  struct State {
    std::string topic, group, timeout = "5s", output = "table", name, list_topic, update_pattern;
    bool update_no_pattern = false;
    uint64_t max = 0;
    uint32_t credit = 1000;  // SubscriberOptions' default
    bool no_ack = false;
    bool raw = false;
    SubscriptionFlags flags, create_flags;
  };
  auto st = std::make_shared<State>();

  auto* subscribe = app.add_subcommand(
      "subscribe",
      "Consume a topic as a member of group G (subscription G, created with the given settings if missing; the "
      "settings of an existing one cannot be changed and differing flags are refused); prints one JSON line per event "
      "and acks it after printing. Before exiting 0 it waits until the broker has the acks on disk, so the events do "
      "not come again even if the broker crashes right after; Ctrl-C (SIGINT) or SIGTERM ends the run the same way "
      "(a second one ends it at once). Payloads with a schema id are decoded into a JSON "
      "object in \"data\" with that schema from the registry (--registry); --raw prints them as stored");
  subscribe->add_option("topic", st->topic, "Topic to consume")->required();
  subscribe->add_option("--group,-g", st->group, "Group (= subscription) name")->required();
  subscribe->add_option("--max", st->max, "Exit after this many events (0: no limit)")
      ->capture_default_str()
      ->check(number_in_range(0, UINT64_MAX));
  subscribe->add_option("--timeout", st->timeout, "Exit when no event arrives for this long (e.g. 5s)")
      ->capture_default_str()
      ->check(duration_value());
  subscribe->add_option("--credit", st->credit,
                        "Credit window: events the broker may push before they are acked. Events pushed but not "
                        "printed (beyond --max) go back to the group at exit without counting as an attempt")
      ->capture_default_str()
      ->check(number_in_range(1, 100000));
  subscribe->add_flag("--no-ack", st->no_ack,
                      "Peek: print without acking. The events go back to the group when the run ends, with their "
                      "attempt count unchanged (a peek never moves an event towards the dead-letter topic); the run "
                      "stops once it holds --credit events");
  subscribe->add_flag("--raw", st->raw, "Do not decode payloads with their schema; print them as stored");
  st->flags.add(subscribe, true);

  auto* group = app.add_subcommand("group", "Inspect consumer groups");
  group->require_subcommand(1);
  auto* group_describe =
      group->add_subcommand("describe", "Members, assignments, committed offset, end offset and lag per partition");
  group_describe->add_option("group", st->name, "Group (= subscription) name")->required();
  group_describe->add_option("--topic", st->topic, "Topic of the group's subscription (checked when given)");
  group_describe->add_option("--output", st->output, "table or json")
      ->capture_default_str()
      ->check(CLI::IsMember({"table", "json"}));

  auto* subscription =
      app.add_subcommand("subscription", "Create, list, describe, update and delete durable subscriptions");
  subscription->require_subcommand(1);
  auto* sub_create = subscription->add_subcommand("create", "Create a subscription (an identical re-create succeeds)");
  sub_create->add_option("name", st->name, "Subscription (and group) name: 1-249 chars of [A-Za-z0-9._-]")->required();
  sub_create->add_option("--topic", st->topic, "Topic to subscribe to")->required();
  st->create_flags.add(sub_create, true);
  st->create_flags.add_target(sub_create);
  auto* sub_list = subscription->add_subcommand("list", "List subscriptions");
  sub_list->add_option("--topic", st->list_topic, "Only those on this topic");
  sub_list->add_option("--output", st->output, "table or json")->capture_default_str()->check(CLI::IsMember({"table", "json"}));
  auto* sub_describe = subscription->add_subcommand("describe", "Show a subscription's settings");
  sub_describe->add_option("name", st->name, "Subscription name")->required();
  sub_describe->add_option("--output", st->output, "table or json")
      ->capture_default_str()
      ->check(CLI::IsMember({"table", "json"}));
  auto* sub_update = subscription->add_subcommand(
      "update",
      "Change a subscription's event pattern. It applies to events the group has not read yet; events already "
      "delivered, or waiting for redelivery, are not filtered again");
  sub_update->add_option("name", st->name, "Subscription name")->required();
  auto* update_pattern = sub_update->add_option(
      "--pattern", st->update_pattern, "The new EventBridge event pattern (JSON, or @FILE; docs/patterns.md)");
  auto* update_no_pattern =
      sub_update->add_flag("--no-pattern", st->update_no_pattern, "Remove the pattern: deliver every event");
  update_pattern->excludes(update_no_pattern);
  auto* sub_delete = subscription->add_subcommand("delete", "Delete a subscription and its group's offsets");
  sub_delete->add_option("name", st->name, "Subscription name")->required();

  return [=, &options, &registry_url]() -> std::optional<int> {
    if (subscribe->parsed()) {
      return run_subscribe(options, registry_url,
                           SubscribeRun{st->topic, st->group, st->max, st->timeout, st->credit, st->no_ack, st->raw},
                           st->flags);
    }
    if (!group->parsed() && !subscription->parsed()) return std::nullopt;
    auto admin = client::Admin::connect(options);
    if (!admin) return fail(group->parsed() ? "group" : "subscription", admin.error());
    if (group_describe->parsed()) {
      auto g = (*admin)->describe_group(st->name);
      if (!g) return fail("group describe", g.error());
      if (!st->topic.empty() && g->subscription.spec.topic != st->topic) {
        return fail("group describe", invalid_argument("group \"" + st->name + "\" consumes topic \"" +
                                                       g->subscription.spec.topic + "\", not \"" + st->topic + "\""));
      }
      if (st->output == "json") {
        std::cout << to_line(group_to_json(*g)) << "\n";
      } else {
        print_group(*g);
      }
      return 0;
    }
    if (sub_create->parsed()) {
      auto spec = st->create_flags.spec(st->name, st->topic);
      if (!spec) return fail("subscription create", spec.error());
      auto created = (*admin)->create_subscription(*spec);
      if (!created && created.error().code() == Code::kAlreadyExists) {
        // The broker says only that the settings differ; say which.
        auto existing = (*admin)->describe_subscription(st->name);
        if (existing && existing->spec.topic == spec->topic) {
          const auto differences = st->create_flags.differences(existing->spec, *spec, /*only_given=*/false);
          if (!differences.empty()) return fail("subscription create", settings_conflict(*existing, differences));
        }
      }
      if (!created) return fail("subscription create", created.error());
      print_subscription(*created);
      return 0;
    }
    if (sub_list->parsed()) {
      auto subs = (*admin)->list_subscriptions(st->list_topic);
      if (!subs) return fail("subscription list", subs.error());
      if (st->output == "json") {
        nlohmann::json arr = nlohmann::json::array();
        for (const auto& s : *subs) arr.push_back(subscription_to_json(s));
        std::cout << to_line(arr) << "\n";
      } else {
        if (subs->empty()) std::cerr << "no subscriptions (create one with `causeway subscription create NAME --topic T`)\n";
        for (const auto& s : *subs) print_subscription(s);
      }
      return 0;
    }
    if (sub_describe->parsed()) {
      auto s = (*admin)->describe_subscription(st->name);
      if (!s) return fail("subscription describe", s.error());
      if (st->output == "json") {
        std::cout << to_line(subscription_to_json(*s)) << "\n";
      } else {
        print_subscription(*s);
      }
      return 0;
    }
    if (sub_update->parsed()) {
      if (update_pattern->count() == 0 && !st->update_no_pattern) {
        return fail("subscription update",
                    invalid_argument("nothing to change: give --pattern JSON (or @FILE), or --no-pattern"));
      }
      std::string pattern;
      if (!st->update_no_pattern) {
        auto text = read_flag_value("--pattern", st->update_pattern);
        if (!text) return fail("subscription update", text.error());
        if (text->empty()) {
          return fail("subscription update",
                      invalid_argument("--pattern is empty; give a pattern, or --no-pattern to remove it"));
        }
        pattern = std::move(*text);
      }
      auto updated = (*admin)->update_subscription_pattern(st->name, pattern);
      if (!updated) return fail("subscription update", updated.error());
      print_subscription(*updated);
      return 0;
    }
    if (sub_delete->parsed()) {
      Status s = (*admin)->delete_subscription(st->name);
      if (!s.ok()) return fail("subscription delete", s);
      std::cout << "deleted subscription " << st->name << "\n";
      return 0;
    }
    return std::nullopt;
  };
}

}  // namespace causeway::cli
