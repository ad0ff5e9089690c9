// File: client/cli/subscribe_commands.cc
//
// `causeway subscribe`, `causeway group describe` and `causeway subscription ...`; see
// subscribe_commands.h. Output formats are in docs/subscriptions.md ("CLI").
#include "client/cli/subscribe_commands.h"

#include <charconv>
#include <cstdio>
#include <ctime>
#include <iostream>

#include "causeway/client/admin.h"
#include "causeway/client/subscriber.h"
#include "causeway/common/units.h"
#include "client/cli/event_json.h"
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
  } else if (status.code() == Code::kNotFound && msg.find("subscription") != std::string_view::npos) {
    hint = " — `causeway subscription list` shows subscriptions; `causeway subscription create NAME --topic T` makes one";
  } else if (status.code() == Code::kNotFound && msg.find("topic") != std::string_view::npos) {
    hint = " — `causeway topic list` shows the topics; `causeway topic create NAME` makes one";
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

nlohmann::json subscription_to_json(const client::SubscriptionInfo& info) {
  const auto& s = info.spec;
  return nlohmann::json{{"name", s.name},
                        {"topic", s.topic},
                        {"from", start_text(s.start)},
                        {"ack_deadline_ms", s.ack_deadline.count()},
                        {"max_attempts", s.max_attempts},
                        {"backoff_ms", s.backoff.count()},
                        {"max_backoff_ms", s.max_backoff.count()},
                        {"max_age_ms", s.max_age.count()},
                        {"dead_letter_topic", s.dead_letter_topic},
                        {"created", format_time_ms(info.created_ms)}};
}

void print_subscription(const client::SubscriptionInfo& info) {
  const auto& s = info.spec;
  std::cout << "subscription " << s.name << "  topic " << s.topic << "  from " << start_text(s.start)
            << "  ack-deadline " << units::format_duration(s.ack_deadline) << "  max-attempts " << s.max_attempts
            << "  backoff " << units::format_duration(s.backoff) << "  max-age "
            << (s.max_age.count() == 0 ? std::string("none") : units::format_duration(s.max_age)) << "  dead-letter "
            << s.dead_letter_topic << "\n";
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

  void add(CLI::App* cmd, bool with_from) {
    if (with_from) {
      cmd->add_option("--from", from, "Where a new subscription starts: earliest, latest, offset:N, time:ISO8601, lamport:N")
          ->capture_default_str();
    }
    cmd->add_option("--ack-deadline", ack_deadline, "Unacked this long: redelivered (e.g. 30s)")->capture_default_str();
    cmd->add_option("--max-attempts", max_attempts, "Deliveries before the dead-letter topic")
        ->capture_default_str()
        ->check(CLI::Range(1u, 1000u));
    cmd->add_option("--backoff", backoff, "First retry delay; doubles per attempt (e.g. 1s)")->capture_default_str();
    cmd->add_option("--max-backoff", max_backoff, "Largest retry delay")->capture_default_str();
    cmd->add_option("--max-age", max_age, "Older events go to the dead-letter topic (e.g. 1h); 0: no limit")
        ->capture_default_str();
    cmd->add_option("--dead-letter", dead_letter, "Dead-letter topic (default <topic>.dlq)");
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
    return s;
  }
};

int run_subscribe(const client::ClientOptions& options, const std::string& registry_url, bool raw,
                  const std::string& topic, const std::string& group, const SubscriptionFlags& flags,
                  uint64_t max_events, const std::string& timeout_text, bool no_ack) {
  auto timeout = parse_ms("--timeout", timeout_text);
  if (!timeout) return fail("subscribe", timeout.error());
  std::unique_ptr<client::RegistryClient> registry;
  if (!raw) {
    auto r = renderer_registry(registry_url);
    if (!r) return fail("--registry", r.error());
    registry = std::move(*r);
  }
  PayloadRenderer renderer(registry.get(), std::cerr);
  auto spec = flags.spec(group, topic);
  if (!spec) return fail("subscribe", spec.error());
  client::SubscriberOptions so;
  so.subscription = group;
  so.topic = topic;
  so.create_if_missing = true;
  so.settings = *spec;
  so.max_unacked_events = static_cast<uint32_t>(std::clamp<uint64_t>(max_events, 1, 1000));
  auto sub = client::Subscriber::connect(options, so);
  if (!sub) return fail("subscribe to " + topic + " as group " + group, sub.error());
  uint64_t printed = 0;
  while (max_events == 0 || printed < max_events) {
    const size_t want = max_events == 0 ? 256 : static_cast<size_t>(std::min<uint64_t>(256, max_events - printed));
    auto events = (*sub)->receive(want, *timeout);
    if (!events) return fail("subscribe", events.error());
    if (events->empty()) break;  // --timeout with no event
    for (const auto& e : *events) {
      nlohmann::json j = renderer.render(e);
      j["attempt"] = e.attempt;
      std::cout << to_line(j) << "\n";
      std::cout.flush();
      if (!no_ack) {
        Status s = (*sub)->ack(e);
        if (!s.ok()) std::cerr << "causeway: ack of " << e.partition << "@" << e.offset << ": " << s.message() << "\n";
      }
      ++printed;
    }
  }
  (void)(*sub)->close();
  return 0;
}

void print_group(const client::GroupInfo& g) {
  print_subscription(g.subscription);
  std::printf("%-10s %-22s %-20s %-20s %-12s %-10s %s\n", "PARTITION", "MEMBER", "COMMITTED-OFFSET", "END-OFFSET", "LAG",
              "IN-FLIGHT", "ACKED-ABOVE");
  for (const auto& p : g.partitions) {
    std::printf("%-10u %-22s %-20llu %-20llu %-12llu %-10u %u\n", p.partition,
                p.member_id.empty() ? "-" : p.member_id.c_str(), static_cast<unsigned long long>(p.committed_offset),
                static_cast<unsigned long long>(p.end_offset), static_cast<unsigned long long>(p.lag), p.in_flight,
                p.acked_above);
  }
  std::printf("%zu member(s)\n", g.members.size());
  for (const auto& m : g.members) {
    std::string parts;
    for (uint32_t p : m.partitions) parts += (parts.empty() ? "" : ",") + std::to_string(p);
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
                     {"acked_above", p.acked_above}});
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
    std::string topic, group, timeout = "5s", output = "table", name, list_topic;
    uint64_t max = 0;
    bool no_ack = false;
    bool raw = false;
    SubscriptionFlags flags, create_flags;
  };
  auto st = std::make_shared<State>();

  auto* subscribe = app.add_subcommand(
      "subscribe",
      "Consume a topic as a member of group G (subscription G, created with the defaults if missing); prints one JSON "
      "line per event and acks it after printing. Payloads with a schema id are decoded into a JSON object in "
      "\"data\" with that schema from the registry (--registry); --raw prints them as stored");
  subscribe->add_option("topic", st->topic, "Topic to consume")->required();
  subscribe->add_option("--group,-g", st->group, "Group (= subscription) name")->required();
  subscribe->add_option("--max", st->max, "Exit after this many events (0: no limit)")->capture_default_str();
  subscribe->add_option("--timeout", st->timeout, "Exit when no event arrives for this long (e.g. 5s)")
      ->capture_default_str();
  subscribe->add_flag("--no-ack", st->no_ack, "Do not ack: the events are redelivered later");
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

  auto* subscription = app.add_subcommand("subscription", "Create, list, describe and delete durable subscriptions");
  subscription->require_subcommand(1);
  auto* sub_create = subscription->add_subcommand("create", "Create a subscription (an identical re-create succeeds)");
  sub_create->add_option("name", st->name, "Subscription (and group) name: 1-249 chars of [A-Za-z0-9._-]")->required();
  sub_create->add_option("--topic", st->topic, "Topic to subscribe to")->required();
  st->create_flags.add(sub_create, true);
  auto* sub_list = subscription->add_subcommand("list", "List subscriptions");
  sub_list->add_option("--topic", st->list_topic, "Only those on this topic");
  sub_list->add_option("--output", st->output, "table or json")->capture_default_str()->check(CLI::IsMember({"table", "json"}));
  auto* sub_describe = subscription->add_subcommand("describe", "Show a subscription's settings");
  sub_describe->add_option("name", st->name, "Subscription name")->required();
  sub_describe->add_option("--output", st->output, "table or json")
      ->capture_default_str()
      ->check(CLI::IsMember({"table", "json"}));
  auto* sub_delete = subscription->add_subcommand("delete", "Delete a subscription and its group's offsets");
  sub_delete->add_option("name", st->name, "Subscription name")->required();

  return [=, &options, &registry_url]() -> std::optional<int> {
    if (subscribe->parsed()) {
      return run_subscribe(options, registry_url, st->raw, st->topic, st->group, st->flags, st->max, st->timeout,
                           st->no_ack);
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
